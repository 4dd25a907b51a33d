//! Wording of what the CLI prints: counts with thousands separators and
//! the right plural, and paths as a shell would take them.

use std::path::Path;

use indicatif::HumanCount;

/// `n` with thousands separators and `one` or `many` after it: `1 run`,
/// `2,304,909 transactions`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", HumanCount(n), if n == 1 { one } else { many })
}

/// `n` of `many` things, of which `m` are `what`: `no transactions`,
/// `5 transactions, none rejected`, `5 transactions, of which 2 rejected`.
pub fn of_which(n: u64, one: &str, many: &str, m: u64, what: &str) -> String {
    match (n, m) {
        (0, _) => format!("no {many}"),
        (_, 0) => format!("{}, none {what}", count(n, one, many)),
        _ if m == n && n > 1 => format!("{}, all {what}", count(n, one, many)),
        _ => format!("{}, of which {} {what}", count(n, one, many), HumanCount(m)),
    }
}

/// A path as an argument to paste into a shell: quoted only if it needs to be.
pub fn shell_path(path: &Path) -> String {
    let s = path.display().to_string();
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c));
    if plain { s } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_take_the_plural_and_separators() {
        assert_eq!(count(1, "run", "runs"), "1 run");
        assert_eq!(count(0, "run", "runs"), "0 runs");
        assert_eq!(count(2_304_909, "transaction", "transactions"), "2,304,909 transactions");
        assert_eq!(of_which(0, "transaction", "transactions", 0, "rejected"), "no transactions");
        assert_eq!(of_which(1, "transaction", "transactions", 0, "rejected"), "1 transaction, none rejected");
        assert_eq!(
            of_which(12_000, "transaction", "transactions", 1_500, "rejected"),
            "12,000 transactions, of which 1,500 rejected"
        );
        assert_eq!(of_which(3, "transaction", "transactions", 3, "rejected"), "3 transactions, all rejected");
        assert_eq!(
            of_which(1, "transaction", "transactions", 1, "rejected"),
            "1 transaction, of which 1 rejected"
        );
    }

    #[test]
    fn paths_are_quoted_only_when_a_shell_needs_it() {
        assert_eq!(shell_path(Path::new("results/market/run-001")), "results/market/run-001");
        assert_eq!(shell_path(Path::new("/tmp/my results")), "'/tmp/my results'");
        assert_eq!(shell_path(Path::new("it's")), r"'it'\''s'");
    }
}
