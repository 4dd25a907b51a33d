//! Experiments: expanding a scenario into runs (sweeps, variants,
//! replicates), sharding the run list, and running it in parallel into one
//! Parquet dataset.

pub mod plan;
pub mod runner;
pub mod shard;

pub use plan::{Plan, PlannedRun, expand};
pub use runner::{Observer, RunOptions, Silent, Summary, apply_overrides, default_out_dir, run_experiment};
pub use shard::Shard;
