//! `manifest.json`: the scenario as resolved, versions, seeds, files and
//! timings. Written last, so a directory without it is visibly incomplete.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::dataset::write_atomic;
use crate::error::Error;

/// Everything needed to know what a results directory holds and how it was
/// made.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// Runs written by this invocation (this shard).
    pub runs: u64,
    /// Runs in the whole experiment (all shards).
    pub total_runs: u64,
    /// Parameter points of the sweep.
    pub points: u64,
    /// Variant names.
    pub variants: Vec<String>,
    /// Swept paths (their columns in `runs.parquet` use `_` for `.`).
    pub swept: Vec<String>,
    /// `K/N` of this shard (`0/1` unsharded).
    pub shard: String,
    /// Rows per file.
    pub files: BTreeMap<String, u64>,
    /// Transactions settled, all runs.
    pub transactions: u64,
    /// Transactions rejected, all runs.
    pub rejected: u64,
    /// Invariant violations, all runs (see `violations.parquet`).
    pub violations: u64,
    /// Replayed orders scheduled after the last tick, never applied.
    #[serde(default)]
    pub unplayed_orders: u64,
    /// Rayon threads used.
    pub threads: usize,
    /// Wall-clock seconds.
    pub wall_seconds: f64,
    /// Agents × ticks ÷ wall seconds.
    pub agent_ticks_per_second: f64,
    /// The scenario's stock-and-flow diagram (first point and variant), for
    /// `tokensim report`; absent in manifests of older versions.
    #[serde(default)]
    pub diagram: Option<super::diagram::Diagram>,
    /// Every column of `ticks.parquet` with its meaning, unit, `stock` or
    /// `flow`, and when in the tick it is taken (`metrics.<column>.unit`
    /// titles a chart's axis); absent in manifests of older versions.
    #[serde(default)]
    pub metrics: indexmap::IndexMap<String, crate::engine::metric_info::MetricInfo>,
    /// The backtest against the scenario's `[observed]` data, if it has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Backtest>,
    /// Risk per property and (point, variant): runs, failures, P(fail) with
    /// its 95 % Wilson interval, worst margin and run, gate; last, runs
    /// with a mechanism invariant violation.
    #[serde(default)]
    pub properties: Vec<crate::properties::RiskRow>,
    /// With `--ci-width`: how many replicates were run and why it stopped.
    #[serde(default)]
    pub adaptive: Option<crate::properties::risk::AdaptiveOutcome>,
    /// The experiment as resolved (scenario, shard, parts, version): what
    /// `--resume` compares to decide the results are the same experiment.
    pub fingerprint: String,
}

impl Manifest {
    /// Reads a manifest, if `path` holds one.
    pub fn read(path: &Path) -> Option<Manifest> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// Writes the manifest to `path` (atomically).
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::Run(e.to_string()))?;
        write_atomic(path, &json)
    }
}

/// One group's score against one observed metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Parameter point.
    pub point_id: u32,
    /// Variant (empty without variants).
    pub variant: String,
    /// The metric.
    pub metric: String,
    /// Replicates in the group.
    pub replicates: u32,
    /// Root-mean-square error over the observed ticks (`observed::loss`);
    /// `None` when the runs cannot be scored (`unscored` says why).
    pub rmse: Option<f64>,
    /// The same of the logarithms, if every value observed is > 0.
    pub log_rmse: Option<f64>,
    /// The moments loss, if every value observed is > 0 and varies.
    pub moments: Option<f64>,
    /// Why the losses are `None` although defined for the observation: a
    /// simulated value of the window is missing or not finite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unscored: Option<String>,
}

/// What the manifest records of a backtest (`observed::backtest::score`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Backtest {
    /// The data file.
    pub file: String,
    /// Metric → data column.
    pub columns: BTreeMap<String, String>,
    /// Observed ticks (`1..=ticks`).
    pub ticks: usize,
    /// Time of tick 1.
    pub start: String,
    /// Time of the last observed tick.
    pub end: String,
    /// Ticks filled from the row before.
    pub filled: usize,
    /// Every group's score, by point, variant, metric.
    pub scores: Vec<Score>,
}
