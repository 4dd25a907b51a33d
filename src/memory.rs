//! How much memory a scenario may ask for: what is free on this machine,
//! and the check that refuses a size (agents, runs, sweep points) that
//! cannot fit, naming the figure, before anything large is allocated.

/// Memory the process may still use, in bytes: `MemAvailable` of
/// `/proc/meminfo` where there is one, else 64 GiB (a machine this tool
/// runs on without that file is assumed to be a workstation).
pub fn available() -> u64 {
    const FALLBACK: u64 = 64 << 30;
    let Ok(text) = std::fs::read_to_string("/proc/meminfo") else { return FALLBACK };
    text.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(FALLBACK, |kib| kib.saturating_mul(1024))
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

/// Checks that `count` items of `each` bytes fit in `available` bytes;
/// the message names the count, the total and what is available.
///
/// ```
/// use tokensim::memory::fits;
/// assert!(fits("agents", 1000, 512, 1 << 30).is_ok());
/// let err = fits("agents", 10_000_000_000, 512, 1 << 30).unwrap_err();
/// assert!(err.contains("10000000000 agents need about 4.7 TiB"), "{err}");
/// ```
pub fn fits(what: &str, count: u128, each: u128, available: u64) -> Result<(), String> {
    let needed = count.saturating_mul(each);
    if needed <= u128::from(available) {
        Ok(())
    } else {
        Err(format!(
            "{count} {what} need about {} of memory ({each} bytes each), but this machine has {} available",
            human(needed),
            human(u128::from(available))
        ))
    }
}
