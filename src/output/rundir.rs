//! Numbered run directories: re-running a scenario into its default place
//! keeps every earlier result. Each run takes the next `run-NNN` under the
//! base directory (`results/<stem>/run-001`, `run-002`, …), and when it
//! finishes, `latest` (a relative symbolic link; a text file naming the
//! directory where links are unavailable) points at the highest-numbered
//! run that finished.
//!
//! Numbers are taken with `create_dir`, which fails when the directory
//! exists, so concurrent runs never share one; `latest` is replaced by a
//! rename under a lock, so readers see the old or the new link, never none.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The name of the link to the newest finished run.
pub const LATEST: &str = "latest";

const PREFIX: &str = "run-";

/// The number of a run directory named `run-NNN`.
fn number(name: &str) -> Option<u32> {
    let digits = name.strip_prefix(PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The directory name of run `n`: at least three digits.
fn name(n: u32) -> String {
    format!("{PREFIX}{n:03}")
}

/// The numbered run directories under `base`, highest number last.
fn numbered(base: &Path) -> Result<Vec<(u32, PathBuf)>, Error> {
    let entries = match std::fs::read_dir(base) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(base, e)),
    };
    let mut runs: Vec<(u32, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((number(e.file_name().to_str()?)?, e.path())))
        .collect();
    runs.sort();
    Ok(runs)
}

/// Creates the next numbered run directory under `base` (creating `base`)
/// and returns it; a number another process took meanwhile is skipped.
pub fn create_next(base: &Path) -> Result<PathBuf, Error> {
    std::fs::create_dir_all(base).map_err(|e| Error::io(base, e))?;
    let mut n = numbered(base)?.last().map_or(1, |(n, _)| n + 1);
    loop {
        let dir = base.join(name(n));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(Error::io(&dir, e)),
        }
    }
}

/// The highest-numbered run directory under `base`, finished or not (the
/// one `--resume` continues).
pub fn newest(base: &Path) -> Result<Option<PathBuf>, Error> {
    Ok(numbered(base)?.pop().map(|(_, dir)| dir))
}

/// The run directory `base/latest` names, if any.
pub fn latest(base: &Path) -> Option<PathBuf> {
    let link = base.join(LATEST);
    let target = std::fs::read_link(&link)
        .ok()
        .or_else(|| std::fs::read_to_string(&link).ok().map(|s| PathBuf::from(s.trim())))?;
    let name = target.file_name()?.to_str()?;
    number(name).map(|_| base.join(name))
}

/// If `dir` is a base of numbered runs rather than a results directory
/// (no manifest of its own, but `run-NNN` directories), the error to give a
/// command that wanted a results directory, naming the one to use.
pub fn base_error(dir: &Path) -> Option<Error> {
    if dir.join("manifest.json").exists() {
        return None;
    }
    let pick = match latest(dir) {
        Some(_) => dir.join(LATEST),
        None => newest(dir).ok().flatten()?,
    };
    Some(Error::Run(format!(
        "{}: holds numbered runs (run-001, …), not one results directory; name one, e.g. {}",
        dir.display(),
        pick.display()
    )))
}

/// Points `base/latest` at `dir` (a run directory under `base`) unless it
/// already names a higher-numbered run. Holds `base/.latest.lock` while it
/// compares and replaces, so concurrent runs leave the highest number.
pub fn mark_latest(base: &Path, dir: &Path) -> Result<(), Error> {
    let dir_name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let Some(n) = number(dir_name) else {
        return Err(Error::Run(format!("{}: not a numbered run directory", dir.display())));
    };
    let lock_path = base.join(".latest.lock");
    let lock: File = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io(&lock_path, e))?;
    lock.lock().map_err(|e| Error::io(&lock_path, e))?;
    let current = latest(base).and_then(|d| number(d.file_name()?.to_str()?));
    if current.is_some_and(|c| c > n) {
        return Ok(());
    }
    let tmp = base.join(format!(".{LATEST}.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    write_link(dir_name, &tmp).map_err(|e| Error::io(&tmp, e))?;
    let link = base.join(LATEST);
    std::fs::rename(&tmp, &link).map_err(|e| Error::io(&link, e))
}

#[cfg(unix)]
fn write_link(target: &str, at: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, at)
}

#[cfg(not(unix))]
fn write_link(target: &str, at: &Path) -> std::io::Result<()> {
    std::fs::write(at, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_parsed_only_from_run_directories() {
        assert_eq!(number("run-001"), Some(1));
        assert_eq!(number("run-1234"), Some(1234));
        assert_eq!(number("run-"), None);
        assert_eq!(number("run-01a"), None);
        assert_eq!(number("latest"), None);
        assert_eq!(name(7), "run-007");
        assert_eq!(name(1000), "run-1000");
    }

    #[test]
    fn each_run_takes_the_next_number_and_latest_keeps_the_highest() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("results").join("market");
        assert_eq!(newest(&base).unwrap(), None);
        let first = create_next(&base).unwrap();
        let second = create_next(&base).unwrap();
        assert_eq!(
            (first.file_name().unwrap(), second.file_name().unwrap()),
            ("run-001".as_ref(), "run-002".as_ref())
        );
        // A gap (a removed run) does not make numbers go back.
        std::fs::create_dir(base.join("run-009")).unwrap();
        assert_eq!(create_next(&base).unwrap(), base.join("run-010"));
        assert_eq!(newest(&base).unwrap(), Some(base.join("run-010")));
        assert_eq!(latest(&base), None);
        mark_latest(&base, &second).unwrap();
        assert_eq!(latest(&base), Some(second.clone()));
        // An older run finishing later does not take `latest` back.
        mark_latest(&base, &first).unwrap();
        assert_eq!(latest(&base), Some(second));
        assert!(base.join(LATEST).join(".").is_dir(), "latest resolves to a directory");
    }

    #[test]
    fn concurrent_runs_take_different_numbers() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("m");
        let dirs: Vec<PathBuf> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| create_next(&base).unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut names: Vec<String> =
            dirs.iter().map(|d| d.file_name().unwrap().to_string_lossy().into()).collect();
        names.sort();
        assert_eq!(names, (1..=8).map(name).collect::<Vec<_>>());
    }

    #[test]
    fn a_base_of_runs_is_named_as_such() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("m");
        std::fs::create_dir_all(&base).unwrap();
        assert!(base_error(&base).is_none(), "an empty directory is not a base of runs");
        let run = create_next(&base).unwrap();
        assert!(base_error(&base).unwrap().to_string().ends_with("run-001"));
        mark_latest(&base, &run).unwrap();
        assert!(base_error(&base).unwrap().to_string().ends_with("latest"));
        assert!(base_error(&run).is_none());
    }
}
