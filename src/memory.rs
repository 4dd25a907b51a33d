//! How much memory a scenario may ask for: what is free on this machine,
//! and the check that refuses a size (agents, runs, sweep points) that
//! cannot fit, naming the figure, before anything large is allocated.

use std::path::Path;

/// Memory the process may still use: the least of what the machine has
/// free and what every memory limit on its control group (cgroup v1 or
/// v2) and that group's ancestors leaves, so a Slurm job's `--mem` or a
/// Kubernetes pod's limit, which `MemAvailable` does not see, is what a
/// run is sized against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Available {
    /// Bytes.
    pub bytes: u64,
    /// Whether a control group's limit, not the machine, set `bytes`.
    pub limited: bool,
}

impl Available {
    /// `bytes` free on the machine, with no limit on the process.
    pub fn machine(bytes: u64) -> Self {
        Available { bytes, limited: false }
    }
}

/// What this process may still allocate now: `MemAvailable` of
/// `/proc/meminfo` (64 GiB where there is no such file: a workstation is
/// assumed), or less where its control group's limit leaves less.
pub fn available() -> Available {
    const FALLBACK: u64 = 64 << 30;
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let rest = text.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?;
            rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
        })
        .map_or(FALLBACK, |kib| kib.saturating_mul(1024));
    let group = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|text| cgroup_headroom(Path::new("/sys/fs/cgroup"), &text));
    match group {
        Some(bytes) if bytes < machine => Available { bytes, limited: true },
        _ => Available::machine(machine),
    }
}

/// The least headroom (limit less usage, page cache that can be dropped
/// not counted as used) over the memory limits of the control groups
/// `proc_self_cgroup` (the text of `/proc/self/cgroup`) names and their
/// ancestors, under the hierarchy mounted at `root`; `None` if none has a
/// limit that can be read. cgroup v2 (`0::/path`: `memory.max`,
/// `memory.current`) and v1 (`N:memory:/path` under `root/memory`:
/// `memory.limit_in_bytes`, `memory.usage_in_bytes`); a limit of `max` is
/// no limit.
fn cgroup_headroom(root: &Path, proc_self_cgroup: &str) -> Option<u64> {
    let read = |path: &Path| std::fs::read_to_string(path).ok();
    let number = |path: &Path| read(path)?.trim().parse::<u64>().ok();
    let mut least: Option<u64> = None;
    for line in proc_self_cgroup.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let (dir, files) = if controllers.is_empty() {
            (root.to_path_buf(), ["memory.max", "memory.current", "inactive_file"])
        } else if controllers.split(',').any(|c| c == "memory") {
            (root.join("memory"), ["memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"])
        } else {
            continue;
        };
        let [limit, usage, inactive] = files;
        let mut group = Some(Path::new(path.trim_start_matches('/')));
        while let Some(rel) = group {
            let at = dir.join(rel);
            if let (Some(limit), Some(usage)) = (number(&at.join(limit)), number(&at.join(usage))) {
                let cache = read(&at.join("memory.stat"))
                    .and_then(|stat| {
                        let line = stat.lines().find(|l| l.split_whitespace().next() == Some(inactive))?;
                        line.split_whitespace().nth(1)?.parse::<u64>().ok()
                    })
                    .unwrap_or(0);
                let headroom = limit.saturating_sub(usage.saturating_sub(cache));
                least = Some(least.map_or(headroom, |l| l.min(headroom)));
            }
            group = rel.parent();
        }
    }
    least
}

/// `bytes` as a user reads it: `1.5 GiB`, `300 MiB`.
pub fn human(bytes: u128) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut x = bytes as f64;
    let mut unit = 0;
    while x >= 1024.0 && unit < UNITS.len() - 1 {
        x /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} bytes") } else { format!("{x:.1} {}", UNITS[unit]) }
}

/// Checks that `count` items of `each` bytes fit in `available`; the
/// message names the count, the total and what is available (and where
/// the limit comes from).
///
/// ```
/// use tokensim::memory::{Available, fits};
/// assert!(fits("agents", 1000, 512, Available::machine(1 << 30)).is_ok());
/// let err = fits("agents", 10_000_000_000, 512, Available::machine(1 << 30)).unwrap_err();
/// assert!(err.contains("10000000000 agents need about 4.7 TiB"), "{err}");
/// assert!(err.ends_with("but this machine has 1.0 GiB available"), "{err}");
/// ```
pub fn fits(what: &str, count: u128, each: u128, available: Available) -> Result<(), String> {
    let needed = count.saturating_mul(each);
    let free = human(u128::from(available.bytes));
    if needed <= u128::from(available.bytes) {
        Ok(())
    } else {
        let has = if available.limited {
            format!(
                "the memory limit of this process's control group (a batch job's or container's) leaves {free}"
            )
        } else {
            format!("this machine has {free} available")
        };
        Err(format!("{count} {what} need about {} of memory ({each} bytes each), but {has}", human(needed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` (path relative to `root`, content) and returns the
    /// headroom for `proc_self_cgroup`.
    fn headroom(files: &[(&str, &str)], proc_self_cgroup: &str) -> Option<u64> {
        let root = tempfile::tempdir().expect("tempdir");
        for (path, text) in files {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("dirs");
            std::fs::write(path, text).expect("write");
        }
        cgroup_headroom(root.path(), proc_self_cgroup)
    }

    #[test]
    fn a_v2_limit_on_an_ancestor_binds_a_child_without_one() {
        // A Slurm job: the limit is on the job, its step has none ("max").
        let files = [
            ("job/memory.max", "2147483648\n"),
            ("job/memory.current", "1073741824\n"),
            ("job/memory.stat", "anon 1\ninactive_file 268435456\nactive_file 5\n"),
            ("job/step/memory.max", "max\n"),
            ("job/step/memory.current", "100\n"),
        ];
        // 2 GiB - (1 GiB - 256 MiB of droppable cache).
        assert_eq!(headroom(&files, "0::/job/step\n"), Some((2 << 30) - (1 << 30) + (256 << 20)));
        // The tighter of two limits on the path wins.
        let mut tighter = files.to_vec();
        tighter[3] = ("job/step/memory.max", "600\n");
        assert_eq!(headroom(&tighter, "0::/job/step\n"), Some(500));
    }

    #[test]
    fn a_v1_memory_controller_is_read_under_its_own_mount() {
        let files = [
            ("memory/pod/memory.limit_in_bytes", "1000\n"),
            ("memory/pod/memory.usage_in_bytes", "400\n"),
            ("memory/pod/memory.stat", "cache 9\ninactive_file 50\ntotal_inactive_file 100\n"),
            // Other controllers' files are not memory limits.
            ("cpu/pod/memory.limit_in_bytes", "1\n"),
        ];
        let text = "4:cpu,cpuacct:/pod\n3:memory:/pod\n0::/\n";
        assert_eq!(headroom(&files, text), Some(1000 - (400 - 100)));
    }

    #[test]
    fn no_readable_limit_is_no_limit() {
        assert_eq!(headroom(&[("memory.max", "max\n"), ("memory.current", "5\n")], "0::/\n"), None);
        assert_eq!(headroom(&[], "0::/gone\n"), None);
        assert_eq!(headroom(&[("memory.max", "10\n")], "garbage\n\n1:cpu:/\n"), None);
        // Usage above the limit (it happens briefly) leaves nothing, not a wrap.
        assert_eq!(headroom(&[("memory.max", "10\n"), ("memory.current", "20\n")], "0::/\n"), Some(0));
    }

    #[test]
    fn the_refusal_says_which_limit_it_met() {
        let limited = Available { bytes: 1 << 30, limited: true };
        let err = fits("agents", 1 << 30, 8, limited).unwrap_err();
        assert!(
            err.contains("8.0 GiB") && err.contains("control group") && err.contains("leaves 1.0 GiB"),
            "{err}"
        );
        assert!(fits("agents", 1 << 27, 8, limited).is_ok());
    }
}
