//! Backtesting without fitting: `tokensim run` on a scenario with
//! `[observed]` writes the observed value of each tick beside the simulated
//! one (`observed_<metric>` in `ticks.parquet`, empty after the window) and
//! scores every (point, variant) group against it in the manifest, so a user
//! sees how far a model is from what happened.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, UInt32Type};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::Observed;
use super::loss::{Loss, Target};
use crate::engine::{MetricColumn, RunSpec};
use crate::error::Error;
use crate::output::dataset::ObservedColumn;
pub use crate::output::manifest::{Backtest, Score};
use crate::scenario::LoadedScenario;

/// The name of the column holding a metric's observed values.
pub fn column_name(metric: &str) -> String {
    format!("observed_{metric}")
}

/// The observed columns `ticks.parquet` appends: `(observed_<metric>,
/// value of tick i + 1)`, after checking they fit the runs' `columns`.
pub fn columns(
    observed: &Observed,
    loaded: &LoadedScenario,
    columns: &[MetricColumn],
) -> Result<Vec<ObservedColumn>, Error> {
    observed.check(loaded, columns)?;
    let mut out = Vec::new();
    for (metric, values) in observed.metrics.iter().zip(&observed.values) {
        let name = column_name(metric);
        if columns.iter().any(|c| c.name == name) {
            return Err(loaded
                .source
                .error(
                    &format!("observed.columns.{metric}"),
                    format!("its observed values would be written as `{name}`, which is already a tick column; rename that metric in `[metrics]`"),
                )
                .into());
        }
        out.push((name, Arc::from(values.as_slice())));
    }
    Ok(out)
}

/// Scores the runs `runs` written to the `ticks` files among `files` (names
/// in `dir`) against `observed`: per (point, variant) group and metric, the
/// loss of its replicates' per-tick median.
pub fn score(
    observed: &Observed,
    dir: &Path,
    files: &[String],
    runs: &[&RunSpec],
) -> Result<Backtest, Error> {
    let n = observed.ticks();
    let series = read_series(dir, files, &observed.metrics, n)?;
    let mut groups: BTreeMap<(u32, String), Vec<u32>> = BTreeMap::new();
    for r in runs {
        groups.entry((r.point_id, r.variant.clone())).or_default().push(r.run_id);
    }
    let positive = observed.positive();
    let mut scores = Vec::new();
    for ((point_id, variant), ids) in &groups {
        for (k, metric) in observed.metrics.iter().enumerate() {
            let (found, reps): (Vec<u32>, Vec<&[f64]>) =
                ids.iter().filter_map(|id| series.get(id).map(|s| (*id, s[k].as_slice()))).unzip();
            let obs = &observed.values[k];
            let target = |kind: Loss| Target::new(kind, obs, 0..n).ok();
            let loss = |kind: Loss| target(kind).and_then(|t| t.loss(&reps));
            let rmse = target(Loss::Rmse);
            scores.push(Score {
                point_id: *point_id,
                variant: variant.clone(),
                metric: metric.clone(),
                replicates: reps.len() as u32,
                rmse: rmse.as_ref().and_then(|t| t.loss(&reps)),
                log_rmse: positive.then(|| loss(Loss::LogRmse)).flatten(),
                moments: positive.then(|| loss(Loss::Moments)).flatten(),
                unscored: rmse.as_ref().and_then(|t| unscored(t, &reps, &found, metric)),
            });
        }
    }
    Ok(Backtest {
        file: observed.file.display().to_string(),
        columns: observed.metrics.iter().cloned().zip(observed.columns.iter().cloned()).collect(),
        ticks: n,
        start: observed.times.first().map(|t| super::time::show(*t)).unwrap_or_default(),
        end: observed.times.last().map(|t| super::time::show(*t)).unwrap_or_default(),
        filled: observed.filled,
        scores,
    })
}

/// Why runs `ids` (whose series of `metric` are `reps`) cannot be scored
/// against `target`, if they cannot.
fn unscored(target: &Target, reps: &[&[f64]], ids: &[u32], metric: &str) -> Option<String> {
    if reps.is_empty() {
        return Some("no run of the group wrote the observed ticks".into());
    }
    if let Some((r, t)) = target.unusable(reps) {
        let value = match reps[r].get(t) {
            Some(v) if !v.is_nan() => v.to_string(),
            _ => "empty (not finite, or not written)".into(),
        };
        return Some(format!("run {}: `{metric}` at tick {} is {value}", ids[r], t + 1));
    }
    target.loss(reps).is_none().then(|| "the loss overflows".into())
}

/// Per run id, per metric, the values of ticks `1..=n` read from the
/// `ticks*.parquet` files among `files`.
fn read_series(
    dir: &Path,
    files: &[String],
    metrics: &[String],
    n: usize,
) -> Result<BTreeMap<u32, Vec<Vec<f64>>>, Error> {
    let mut out: BTreeMap<u32, Vec<Vec<f64>>> = BTreeMap::new();
    for name in files.iter().filter(|f| f.starts_with("ticks")) {
        let path = dir.join(name);
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
        let wanted: Vec<&str> =
            ["run_id", "tick"].into_iter().chain(metrics.iter().map(String::as_str)).collect();
        let mask = ProjectionMask::columns(builder.parquet_schema(), wanted.iter().copied());
        for batch in builder.with_projection(mask).build()? {
            let batch = batch?;
            let col = |name: &str| {
                batch
                    .column_by_name(name)
                    .ok_or_else(|| Error::Data { path: path.clone(), message: format!("no column `{name}`") })
            };
            let runs = col("run_id")?.as_primitive::<UInt32Type>().clone();
            let ticks = col("tick")?.as_primitive::<UInt32Type>().clone();
            let values: Vec<_> = metrics
                .iter()
                .map(|m| Ok(cast(col(m)?, &DataType::Float64)?.as_primitive::<Float64Type>().clone()))
                .collect::<Result<_, Error>>()?;
            for i in 0..batch.num_rows() {
                let tick = ticks.value(i) as usize;
                if tick == 0 || tick > n {
                    continue;
                }
                let run = out.entry(runs.value(i)).or_insert_with(|| vec![vec![f64::NAN; n]; metrics.len()]);
                for (k, v) in values.iter().enumerate() {
                    // A value that was not finite is written as null.
                    run[k][tick - 1] = if v.is_null(i) { f64::NAN } else { v.value(i) };
                }
            }
        }
    }
    Ok(out)
}
