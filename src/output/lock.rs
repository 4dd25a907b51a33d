//! One writer per results directory (per shard): an exclusive OS file lock
//! (`flock`/`LockFileEx` through [`std::fs::File::try_lock`]) on
//! `.lock{shard}` inside the directory, held for the whole run. The OS
//! releases it when the process ends, however it ends, so a run killed
//! with `kill -9` leaves nothing that blocks `--resume`: the file it
//! leaves means nothing without the lock. A run that ends removes the file
//! while it still holds the lock; a run that opened the file just before
//! and then locks the removed file sees that the path no longer names what
//! it locked and starts over. A second run into the same directory (and
//! shard) at the same time fails at once instead of interleaving its files
//! with the first one's.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The name of the lock file of shard `shard_suffix` (`""` unsharded).
pub fn lock_name(shard_suffix: &str) -> String {
    format!(".lock{shard_suffix}")
}

/// A held lock on a results directory; released when dropped.
#[derive(Debug)]
pub struct DirLock {
    path: PathBuf,
    file: Option<File>,
}

impl Drop for DirLock {
    /// Removes the lock file while still holding the lock, then releases it.
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            if same_file(&file, &self.path) {
                let _ = std::fs::remove_file(&self.path);
            }
            drop(file);
        }
    }
}

/// Whether `path` still names the file `file` has open.
#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Whether `path` still names the file `file` has open (elsewhere, open
/// files cannot be removed, so it always does).
#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}

impl DirLock {
    /// Creates `dir` if needed and takes its lock for `shard_suffix`, or
    /// fails at once if another process holds it.
    pub fn acquire(dir: &Path, shard_suffix: &str) -> Result<DirLock, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(lock_name(shard_suffix));
        // A few attempts: the holder may remove the file between our open
        // and our lock (it is done then), and we must lock the file the
        // path names.
        for _ in 0..8 {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            match file.try_lock() {
                Ok(()) if same_file(&file, &path) => return Ok(DirLock { path, file: Some(file) }),
                Ok(()) => continue,
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::Run(format!(
                        "{}: another tokensim run is writing into this directory (it holds the lock {}); wait for it to finish or choose another output directory",
                        dir.display(),
                        path.display()
                    )));
                }
                Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
            }
        }
        Err(Error::Run(format!("{}: could not take the lock {}", dir.display(), path.display())))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_fails_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let first = DirLock::acquire(&out, "").unwrap();
        let err = DirLock::acquire(&out, "").unwrap_err().to_string();
        assert!(err.contains("another tokensim run") && err.contains(".lock"), "{err}");
        // Another shard of the same directory has its own lock.
        let shard = DirLock::acquire(&out, "-s1of2").unwrap();
        drop(first);
        assert!(!out.join(".lock").exists(), "a released lock removes its file");
        let again = DirLock::acquire(&out, "").unwrap();
        assert_eq!(again.path(), out.join(".lock"));
        drop((shard, again));
        assert!(std::fs::read_dir(&out).unwrap().next().is_none(), "nothing is left behind");
    }
}
