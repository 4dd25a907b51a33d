//! Parsers for the numeric flags shared by several subcommands, and the
//! worker pool `--jobs` asks for: a bad value is refused with the flag's
//! range instead of clap's generic message or a failure deep in a run.

use crate::error::Error;

/// The most worker threads `--jobs` accepts: far above any machine's
/// cores, far below what an operating system refuses to start.
pub const MAX_JOBS: usize = 1024;

/// `--seed`: a whole number from 0 to 2^64 - 1. Negative numbers reach this
/// parser (the flag allows them) so that `--seed -5` is refused as a seed,
/// not taken for an unknown flag.
pub fn parse_seed(text: &str) -> Result<u64, String> {
    text.replace('_', "").parse::<u64>().map_err(|_| {
        format!("`{text}` is not a seed: a seed is a whole number from 0 to {} (write `--seed=N`)", u64::MAX)
    })
}

/// `--jobs`: worker threads, from 1 to [`MAX_JOBS`].
pub fn parse_jobs(text: &str) -> Result<usize, String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_JOBS).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{text}` is not a thread count: --jobs takes 1 to {MAX_JOBS} worker threads (this machine has {cores} cores)"
        )),
    }
}

/// The pool a command runs in: `jobs` threads, or one per core. A thread
/// the operating system refuses to start is an error naming `--jobs`.
pub fn thread_pool(jobs: Option<usize>) -> Result<rayon::ThreadPool, Error> {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = jobs {
        builder = builder.num_threads(n);
    }
    builder.build().map_err(|e| {
        let asked = jobs.map_or_else(|| "one per core".to_string(), |n| n.to_string());
        Error::Run(format!(
            "--jobs {asked}: the operating system refused to start the worker threads ({e}); ask for fewer"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_whole_numbers_in_u64() {
        assert_eq!(parse_seed("0"), Ok(0));
        assert_eq!(parse_seed("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_seed("1_000"), Ok(1000));
        for bad in ["-5", "18446744073709551616", "1.5", "", "seven"] {
            let message = parse_seed(bad).unwrap_err();
            assert!(
                message.contains(&format!("`{bad}`")) && message.contains("18446744073709551615"),
                "{message}"
            );
        }
    }

    #[test]
    fn jobs_are_bounded_both_ways() {
        assert_eq!(parse_jobs("1"), Ok(1));
        assert_eq!(parse_jobs(&MAX_JOBS.to_string()), Ok(MAX_JOBS));
        for bad in ["0", "-1", "1025", "100000000", "x"] {
            assert!(parse_jobs(bad).unwrap_err().contains("1 to 1024"), "{bad}");
        }
    }
}
