//! The allocator the CLI runs on: the system allocator, asking Linux to
//! back large blocks with transparent huge pages.
//!
//! Agent tables, wallets and output buffers are large, freshly mapped blocks
//! that are written once through: with 4 KiB pages, building 1,000,000
//! agents spends about half its time in the kernel faulting pages in
//! (≈ 120,000 of them), and every pass over the wallets walks as many TLB
//! entries. Advising 2 MiB pages for blocks of at least that size (what
//! glibc's `glibc.malloc.hugetlb=1` tunable does, without needing the
//! environment variable) cuts both. Where transparent huge pages are off,
//! or off-Linux, the advice is ignored and nothing changes.
//!
//! ```
//! // In a binary built on tokensim:
//! #[global_allocator]
//! static ALLOCATOR: tokensim::huge_pages::HugePages = tokensim::huge_pages::HugePages;
//! let v = vec![0u8; 4 << 20];
//! assert_eq!(v.len(), 4 << 20);
//! ```

use std::alloc::{GlobalAlloc, Layout, System};

/// [`System`], with `madvise(MADV_HUGEPAGE)` on blocks of 2 MiB or more.
#[derive(Clone, Copy, Debug, Default)]
pub struct HugePages;

/// A transparent huge page on x86-64 and aarch64 (4 KiB base pages).
const HUGE: usize = 2 << 20;

// SAFETY: every method forwards to `System` with the same arguments; the
// advice only changes how the kernel backs pages of a block we own.
unsafe impl GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc`, passed on.
        advise(unsafe { System.alloc(layout) }, layout.size())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        advise(unsafe { System.alloc_zeroed(layout) }, layout.size())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as `dealloc`, and `new_size` is the caller's.
        advise(unsafe { System.realloc(ptr, layout, new_size) }, new_size)
    }
}

/// Advises huge pages for the whole 2 MiB pages inside `[ptr, ptr + len)`;
/// returns `ptr`.
fn advise(ptr: *mut u8, len: usize) -> *mut u8 {
    #[cfg(target_os = "linux")]
    if len >= HUGE && !ptr.is_null() {
        let start = (ptr as usize).next_multiple_of(HUGE);
        let end = (ptr as usize).saturating_add(len) / HUGE * HUGE;
        if end > start {
            // SAFETY: the range lies inside a block just allocated to us;
            // MADV_HUGEPAGE changes no contents and its failure is harmless.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        }
    }
    ptr
}
