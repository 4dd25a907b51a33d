//! Agents' balances: one row of `f64`s per agent, exactly as wide as the
//! scenario's wallet slots, in one array indexed by agent id.
//!
//! Outside the ECS tables on purpose: a component has a fixed size (it was
//! 8 slots, 64 bytes, for every agent of every scenario) and costs two
//! change ticks per agent, and settlement reaching a wallet through an
//! entity lookup waits on two cache misses instead of one.

use std::ops::{Deref, DerefMut};

use bevy_ecs::prelude::Resource;
use rayon::prelude::*;

use super::ids::{AgentId, SlotId};
use super::ledger::MAX_SLOTS;

/// One agent's balances, one `f64` per slot (see
/// [`SlotTable`](super::ledger::SlotTable)): a view of its row in
/// [`Wallets`], or of a [`WalletBuf`].
///
/// ```
/// use tokensim::prelude::*;
/// let mut w = WalletBuf::default();
/// *w.get_mut(SlotId(1)) += 2.5;
/// let wallet: &Wallet = &w;
/// assert_eq!((wallet.get(SlotId(0)), wallet.get(SlotId(1))), (0.0, 2.5));
/// ```
#[repr(transparent)]
pub struct Wallet([f64]);

impl Wallet {
    /// The wallet whose slot `i` is `balances[i]`.
    #[inline]
    pub fn new(balances: &[f64]) -> &Wallet {
        // SAFETY: `Wallet` is a transparent wrapper of `[f64]`, so the two
        // references have the same layout and metadata (the length).
        unsafe { &*(balances as *const [f64] as *const Wallet) }
    }

    /// The mutable wallet whose slot `i` is `balances[i]`.
    #[inline]
    pub fn new_mut(balances: &mut [f64]) -> &mut Wallet {
        // SAFETY: as in `new`; the borrow is exclusive and keeps its lifetime.
        unsafe { &mut *(balances as *mut [f64] as *mut Wallet) }
    }

    /// Balance in `slot`.
    #[inline]
    pub fn get(&self, slot: impl Into<SlotId>) -> f64 {
        self.0[slot.into().0 as usize]
    }

    /// Mutable balance in `slot`.
    #[inline]
    pub fn get_mut(&mut self, slot: impl Into<SlotId>) -> &mut f64 {
        &mut self.0[slot.into().0 as usize]
    }

    /// Every slot's balance, in slot order.
    #[inline]
    pub fn balances(&self) -> &[f64] {
        &self.0
    }

    /// Every slot's balance, mutable.
    #[inline]
    pub fn balances_mut(&mut self) -> &mut [f64] {
        &mut self.0
    }
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Wallet").field(&&self.0).finish()
    }
}

impl PartialEq for Wallet {
    fn eq(&self, other: &Wallet) -> bool {
        self.0 == other.0
    }
}

/// An owned wallet with room for every slot a scenario may declare: for a
/// contract's account settling as a sender, and for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WalletBuf(pub [f64; MAX_SLOTS]);

impl Deref for WalletBuf {
    type Target = Wallet;
    fn deref(&self) -> &Wallet {
        Wallet::new(&self.0)
    }
}

impl DerefMut for WalletBuf {
    fn deref_mut(&mut self) -> &mut Wallet {
        Wallet::new_mut(&mut self.0)
    }
}

impl From<&Wallet> for WalletBuf {
    /// A copy of `w`'s balances (a wallet has at most [`MAX_SLOTS`]).
    fn from(w: &Wallet) -> Self {
        let mut buf = WalletBuf::default();
        buf.0.iter_mut().zip(w.balances()).for_each(|(b, &x)| *b = x);
        buf
    }
}

/// Evaluates `$body` with `$W` a `const usize` equal to the wallet width
/// `$width` (1 to [`MAX_SLOTS`]): with rows as `[f64; W]` arrays
/// ([`WalletSlice::rows`]), per-row loops are unrolled for the width.
macro_rules! with_width {
    ($width:expr, $W:ident => $body:expr) => {
        with_width!(@arms $width, $W, $body, 1 2 3 4 5 6 7 8)
    };
    (@arms $width:expr, $W:ident, $body:expr, $($n:literal)*) => {
        match $width {
            $($n => {
                const $W: usize = $n;
                $body
            })*
            w => unreachable!("wallet width {w} is above MAX_SLOTS"),
        }
    };
}
// The arms above are the widths 1 to MAX_SLOTS.
const _: () = assert!(MAX_SLOTS == 8);
pub(crate) use with_width;

/// Every agent's wallet, the wallet of agent `i` in row `i`.
#[derive(Resource, Clone, Debug)]
pub struct Wallets {
    width: usize,
    balances: Vec<f64>,
}

impl Default for Wallets {
    /// No agents (rows of one slot).
    fn default() -> Self {
        Wallets::with_capacity(1, 0)
    }
}

impl Wallets {
    /// No wallets yet, room for `agents` of `slots` slots each (at least
    /// one, so a row always has an address of its own).
    pub fn with_capacity(slots: usize, agents: usize) -> Self {
        let width = slots.max(1);
        Wallets { width, balances: Vec::with_capacity(width * agents) }
    }

    /// Appends a wallet of zeros for the next agent and returns it.
    pub fn push(&mut self) -> &mut Wallet {
        let start = self.balances.len();
        self.balances.resize(start + self.width, 0.0);
        Wallet::new_mut(&mut self.balances[start..])
    }

    /// Number of wallets (agents).
    #[inline]
    pub fn len(&self) -> usize {
        self.all().len()
    }

    /// Whether there are no agents.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.balances.is_empty()
    }

    /// The wallet of `agent`, if it is one.
    #[inline]
    pub fn get(&self, agent: AgentId) -> Option<&Wallet> {
        self.all().get(usize::try_from(agent.0).ok()?)
    }

    /// The mutable wallet of `agent`, if it is one.
    #[inline]
    pub fn get_mut(&mut self, agent: AgentId) -> Option<&mut Wallet> {
        let row = row(usize::try_from(agent.0).ok()?, self.width)?;
        self.balances.get_mut(row).map(Wallet::new_mut)
    }

    /// Asks the CPU to load `agent`'s wallet into cache: a hint that never
    /// faults, so settlement's next misses overlap with its work.
    #[inline(always)]
    pub fn prefetch(&self, agent: AgentId) {
        #[cfg(target_arch = "x86_64")]
        if let Some(w) = self.get(agent) {
            // SAFETY: a prefetch is a hint; it reads nothing and cannot fault.
            unsafe {
                use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
                _mm_prefetch::<_MM_HINT_T0>(w.0.as_ptr().cast::<i8>());
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = agent;
    }

    /// All wallets, in id order.
    pub fn all(&self) -> WalletSlice<'_> {
        WalletSlice { first: 0, width: self.width, balances: &self.balances }
    }

    /// The wallets of agents `first..first + n` (fewer if they end sooner).
    pub fn range(&self, first: AgentId, n: usize) -> WalletSlice<'_> {
        self.all().range(first, n)
    }

    /// All wallets in consecutive pieces of `n` agents, in parallel: each
    /// piece with its first agent's id.
    pub fn par_chunks_mut(&mut self, n: usize) -> impl IndexedParallelIterator<Item = WalletSliceMut<'_>> {
        let width = self.width;
        self.balances.par_chunks_mut(n * width).enumerate().map(move |(k, balances)| WalletSliceMut {
            first: (k * n) as u64,
            width,
            balances,
        })
    }
}

/// Where row `i` of `width` balances lies, if that is addressable.
#[inline]
fn row(i: usize, width: usize) -> Option<std::ops::Range<usize>> {
    let start = i.checked_mul(width)?;
    Some(start..start.checked_add(width)?)
}

/// The wallets of consecutive agents, from agent id `first`.
#[derive(Clone, Copy, Debug)]
pub struct WalletSlice<'a> {
    first: u64,
    width: usize,
    balances: &'a [f64],
}

impl<'a> WalletSlice<'a> {
    /// Number of wallets.
    #[inline]
    pub fn len(&self) -> usize {
        self.balances.len() / self.width
    }

    /// Whether there are none.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.balances.is_empty()
    }

    /// The id of the first agent.
    #[inline]
    pub fn first(&self) -> AgentId {
        AgentId(self.first)
    }

    /// The `i`-th wallet, if there are that many.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a Wallet> {
        self.balances.get(row(i, self.width)?).map(Wallet::new)
    }

    /// The wallets among these of agents `first..first + n`.
    #[inline]
    pub fn range(&self, first: AgentId, n: usize) -> WalletSlice<'a> {
        let len = self.len() as u64;
        let start = first.0.saturating_sub(self.first).min(len);
        let end = first.0.saturating_add(n as u64).saturating_sub(self.first).min(len).max(start);
        let w = self.width;
        WalletSlice {
            first: self.first + start,
            width: w,
            balances: &self.balances[start as usize * w..end as usize * w],
        }
    }

    /// Slots per wallet.
    #[inline]
    pub fn width(&self) -> usize {
        self.width
    }

    /// The wallets as rows of `W` balances; `W` must be
    /// [`width`](Self::width) (see `with_width!`).
    #[inline]
    pub fn rows<const W: usize>(&self) -> &'a [[f64; W]] {
        debug_assert_eq!(W, self.width);
        self.balances.as_chunks::<W>().0
    }

    /// The wallets in id order.
    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a Wallet> + use<'a> {
        self.balances.chunks_exact(self.width).map(Wallet::new)
    }

    /// Consecutive pieces of `n` wallets (the last may be shorter).
    pub fn chunks(&self, n: usize) -> impl Iterator<Item = WalletSlice<'a>> + use<'a> {
        let (first, width) = (self.first, self.width);
        self.balances.chunks(n * width).enumerate().map(move |(k, balances)| WalletSlice {
            first: first + (k * n) as u64,
            width,
            balances,
        })
    }

    /// Consecutive pieces of `n` wallets, in parallel.
    pub fn par_chunks(&self, n: usize) -> impl IndexedParallelIterator<Item = WalletSlice<'a>> + use<'a> {
        let (first, width) = (self.first, self.width);
        self.balances.par_chunks(n * width).enumerate().map(move |(k, balances)| WalletSlice {
            first: first + (k * n) as u64,
            width,
            balances,
        })
    }
}

/// The mutable wallets of consecutive agents, from agent id `first`.
#[derive(Debug)]
pub struct WalletSliceMut<'a> {
    first: u64,
    width: usize,
    balances: &'a mut [f64],
}

impl WalletSliceMut<'_> {
    /// The same wallets, read-only.
    #[inline]
    pub fn as_slice(&self) -> WalletSlice<'_> {
        WalletSlice { first: self.first, width: self.width, balances: self.balances }
    }

    /// The wallets as mutable rows of `W` balances; `W` must be the width
    /// (see `with_width!`).
    #[inline]
    pub fn rows_mut<const W: usize>(&mut self) -> &mut [[f64; W]] {
        debug_assert_eq!(W, self.width);
        self.balances.as_chunks_mut::<W>().0
    }

    /// The wallets in id order, mutable.
    #[inline]
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Wallet> {
        self.balances.chunks_exact_mut(self.width).map(Wallet::new_mut)
    }

    /// Consecutive pieces of `n` wallets (the last may be shorter).
    pub fn chunks_mut(&mut self, n: usize) -> impl Iterator<Item = WalletSliceMut<'_>> {
        let (first, width) = (self.first, self.width);
        self.balances.chunks_mut(n * width).enumerate().map(move |(k, balances)| WalletSliceMut {
            first: first + (k * n) as u64,
            width,
            balances,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(agents: usize, slots: usize) -> Wallets {
        let mut w = Wallets::with_capacity(slots, agents);
        for a in 0..agents {
            for (s, b) in w.push().balances_mut().iter_mut().enumerate() {
                *b = (a * 10 + s) as f64;
            }
        }
        w
    }

    #[test]
    fn each_agent_has_its_own_row_of_exactly_the_slots() {
        let mut w = filled(5, 3);
        assert_eq!(w.len(), 5);
        assert_eq!(w.get(AgentId(4)).unwrap().balances(), &[40.0, 41.0, 42.0]);
        assert!(w.get(AgentId(5)).is_none() && w.get(AgentId(u64::MAX)).is_none());
        let one = filled(2, 1);
        assert!(one.get(AgentId(u64::MAX)).is_none() && one.all().get(usize::MAX).is_none(), "no overflow");
        *w.get_mut(AgentId(2)).unwrap().get_mut(SlotId(1)) = -1.0;
        assert_eq!(w.get(AgentId(2)).unwrap().balances(), &[20.0, -1.0, 22.0]);
        assert_eq!(w.get(AgentId(1)).unwrap().balances(), &[10.0, 11.0, 12.0]);
    }

    #[test]
    fn no_slots_still_gives_every_agent_a_row() {
        let mut w = Wallets::with_capacity(0, 2);
        w.push();
        w.push();
        assert_eq!((w.len(), w.all().iter().count()), (2, 2));
    }

    #[test]
    fn pieces_cover_every_wallet_once_with_their_first_id() {
        let mut w = filled(11, 2);
        let firsts: Vec<(u64, usize)> = w.all().chunks(4).map(|c| (c.first().0, c.len())).collect();
        assert_eq!(firsts, [(0, 4), (4, 4), (8, 3)]);
        let par: Vec<(u64, usize)> = w.all().par_chunks(4).map(|c| (c.first().0, c.len())).collect();
        assert_eq!(par, firsts);
        let r = w.range(AgentId(3), 5);
        assert_eq!((r.first().0, r.len(), r.get(0).unwrap().get(SlotId(0))), (3, 5, 30.0));
        assert_eq!(w.range(AgentId(9), 5).len(), 2);
        assert!(w.range(AgentId(99), 5).is_empty());
        let piece = w.all().chunks(4).nth(1).unwrap();
        let cut = |first: u64, n: usize| {
            let r = piece.range(AgentId(first), n);
            (r.first().0, r.len())
        };
        assert_eq!(
            [cut(0, 5), cut(0, 6), cut(5, 2), cut(6, 100), cut(9, 3), cut(0, 2)],
            [(4, 1), (4, 2), (5, 2), (6, 2), (8, 0), (4, 0)]
        );
        let seen: Vec<(u64, f64)> = w
            .par_chunks_mut(3)
            .flat_map_iter(|mut c| {
                let first = c.as_slice().first().0;
                c.iter_mut()
                    .enumerate()
                    .map(|(i, x)| (first + i as u64, x.get(SlotId(1))))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(seen, (0..11).map(|a| (a, (a * 10 + 1) as f64)).collect::<Vec<_>>());
    }
}
