//! `manifest.json`: the scenario as resolved, versions, seeds, files and
//! timings. Written last, so a directory without it is visibly incomplete.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::dataset::{MANIFEST, write_atomic};
use crate::error::Error;

/// Everything needed to know what a results directory holds and how it was
/// made.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    /// `complete`: every run finished and every file is closed.
    pub status: String,
    /// `tokensim`.
    pub tool: String,
    /// Crate version.
    pub version: String,
    /// Scenario file as given.
    pub scenario_file: String,
    /// Scenario name.
    pub scenario_name: String,
    /// The scenario after command-line overrides, as JSON.
    pub scenario: serde_json::Value,
    /// Master seed.
    pub seed: u64,
    /// Ticks per run.
    pub ticks: u32,
    /// Number of runs in this directory.
    pub runs: u64,
    /// Rows per file.
    pub files: BTreeMap<String, u64>,
    /// Transactions settled, all runs.
    pub transactions: u64,
    /// Transactions rejected, all runs.
    pub rejected: u64,
    /// Invariant violations, all runs (see `violations.parquet`).
    pub violations: u64,
    /// Rayon threads used.
    pub threads: usize,
    /// Wall-clock seconds.
    pub wall_seconds: f64,
    /// Agents × ticks ÷ wall seconds.
    pub agent_ticks_per_second: f64,
}

impl Manifest {
    /// Writes `manifest.json` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::Run(e.to_string()))?;
        write_atomic(&dir.join(MANIFEST), &json)
    }
}
