//! `--shard K/N`: a deterministic slice of the run list, so a sweep spreads
//! over a cluster scheduler's array job with no coordinator.

use std::fmt;
use std::str::FromStr;

/// Shard `index` of `count`: runs whose position in the run list is
/// `index` modulo `count` (interleaved, so cheap and expensive points spread
/// evenly).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, `0..count`.
    pub index: u32,
    /// How many shards.
    pub count: u32,
}

impl Shard {
    /// The whole run list.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether run number `position` belongs to this shard.
    pub fn contains(&self, position: usize) -> bool {
        position % self.count as usize == self.index as usize
    }

    /// The file-name marker of this shard (`-s3of8`), empty when unsharded.
    pub fn suffix(&self) -> String {
        if self.count == 1 { String::new() } else { format!("-s{}of{}", self.index, self.count) }
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{s}` is not K/N with 0 <= K < N (e.g. 0/4; Slurm: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)"
            )
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) =
            (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_run_list() {
        let shards: Vec<Shard> = (0..3).map(|k| format!("{k}/3").parse().unwrap()).collect();
        for position in 0..20 {
            assert_eq!(shards.iter().filter(|s| s.contains(position)).count(), 1);
        }
        for bad in ["3/3", "1/0", "x/2", "2", "-1/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!("2/5".parse::<Shard>().unwrap().suffix(), "-s2of5");
        assert_eq!(Shard::ALL.suffix(), "");
    }
}
