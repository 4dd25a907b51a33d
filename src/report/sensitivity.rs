//! `tokensim sensitivity`: Morris or Sobol indices of a results directory
//! run with `[sweep] mode = "morris"` or `"sobol"`.
//!
//! The design is recomputed from the manifest (the sweep's mode, sizes and
//! the seed), and [`crate::search::design`] fixes which `point_id` plays
//! which role, so nothing beyond the dataset is needed. Each point's output
//! is the mean over its replicates of a metric at one tick (default: each
//! run's last), per variant.

use std::path::{Path, PathBuf};

use super::read::Dataset;
use crate::error::Error;
use crate::output::columns::{Column, write_columns};
use crate::search::design::{MorrisDesign, morris};
use crate::search::sensitivity::{MorrisIndex, RESAMPLES, SobolIndex, morris_indices, sobol_indices};

pub use crate::output::dataset::SENSITIVITY_FILE as FILE;

/// Which indices a dataset's design gives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// Morris elementary effects.
    Morris,
    /// Sobol first and total order.
    Sobol,
}

/// The indices of one parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Indices {
    /// Morris μ*, μ, σ.
    Morris(MorrisIndex),
    /// Sobol S1, ST with intervals.
    Sobol(SobolIndex),
}

impl Indices {
    /// The ranking key: μ* or ST.
    pub fn importance(&self) -> f64 {
        match self {
            Indices::Morris(m) => m.mu_star,
            Indices::Sobol(s) => s.st,
        }
    }
}

/// One row of `sensitivity.parquet`.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The output analysed (a tick column).
    pub metric: String,
    /// The variant (empty without variants).
    pub variant: String,
    /// The swept path.
    pub parameter: String,
    /// Its indices.
    pub indices: Indices,
}

/// The indices of every (metric, variant, parameter), ranked within each
/// (metric, variant) by importance.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// Morris or Sobol.
    pub method: Method,
    /// Rows in (metric, variant, rank) order.
    pub rows: Vec<Row>,
    /// Metrics left out, with why (non-finite values).
    pub skipped: Vec<String>,
    /// The tick analysed (`None`: each run's last).
    pub tick: Option<u32>,
    /// Whether the output is a property's margin (a whole-run value).
    pub property: bool,
}

/// The sweep design a manifest records.
enum Design {
    Morris(MorrisDesign),
    Sobol { n: usize },
}

/// What to analyse.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// One tick column, or every one (`None`), at a tick.
    Metric(Option<String>),
    /// A declared property's margin (from `properties.parquet`).
    Property(String),
}

/// Computes the indices of `target` of the dataset in `dir` at `tick`
/// (default: each run's last; metrics only).
pub fn analyse(dir: &Path, target: &Target, tick: Option<u32>) -> Result<Analysis, Error> {
    let data = Dataset::open(dir)?;
    let manifest = data.manifest();
    let d = manifest.swept.len();
    let sweep = manifest.scenario.get("sweep").cloned().unwrap_or_default();
    let mode = sweep.get("mode").and_then(|m| m.as_str()).unwrap_or("grid").to_string();
    let size = |key: &str| sweep.get(key).and_then(serde_json::Value::as_u64).map(|n| n as usize);
    let design = match (mode.as_str(), d) {
        (_, 0) => None,
        ("morris", _) => size("trajectories")
            .map(|r| Design::Morris(morris(d, r, size("levels").unwrap_or(4), manifest.seed))),
        ("sobol", _) => size("samples").map(|n| Design::Sobol { n }),
        _ => None,
    };
    let Some(design) = design else {
        return Err(Error::Run(format!(
            "{}: was run with [sweep] mode = \"{mode}\"; sensitivity needs mode = \"morris\" (trajectories = r) or \"sobol\" (samples = N) over ranges",
            dir.display()
        )));
    };
    let n_points = match &design {
        Design::Morris(m) => m.points.len(),
        Design::Sobol { n } => n * (d + 2),
    };
    if manifest.points as usize != n_points {
        return Err(Error::Run(format!(
            "{}: the manifest lists {} points but the {mode} design has {n_points}",
            dir.display(),
            manifest.points
        )));
    }
    let metrics: Vec<String> = match target {
        Target::Property(p) => {
            if tick.is_some() {
                return Err(Error::Run(
                    "--tick: a property's margin covers the whole run; use --tick with --metric".into(),
                ));
            }
            vec![p.clone()]
        }
        Target::Metric(Some(m)) if data.metrics.iter().any(|c| c == m) => vec![m.to_string()],
        Target::Metric(Some(m)) => {
            return Err(Error::Run(format!(
                "--metric {m}: no such tick column in {}; choices: {}",
                dir.display(),
                data.metrics.join(", ")
            )));
        }
        Target::Metric(None) => data.metrics.clone(),
    };
    let runs = data.runs()?;
    // Without variants the manifest lists none and runs have an empty name.
    let variants = if manifest.variants.is_empty() { vec![String::new()] } else { manifest.variants.clone() };
    let last = runs.iter().map(|r| r.ticks).min().unwrap_or(0);
    if let Some(t) = tick
        && (t == 0 || t > last)
    {
        return Err(Error::Run(format!("--tick {t}: ticks run from 1 to {last} in {}", dir.display())));
    }
    // Group of every run: variant × n_points + point.
    let max_run = runs.iter().map(|r| r.run_id).max().unwrap_or(0) as usize;
    let mut group: Vec<Option<(usize, u32)>> = vec![None; max_run + 1];
    for r in &runs {
        let v = variants.iter().position(|v| *v == r.variant).ok_or_else(|| {
            Error::Run(format!("run {} has variant `{}`, not in the manifest", r.run_id, r.variant))
        })?;
        if r.point_id as usize >= n_points {
            return Err(Error::Run(format!("run {} has point {} beyond the design", r.run_id, r.point_id)));
        }
        group[r.run_id as usize] = Some((v * n_points + r.point_id as usize, tick.unwrap_or(r.ticks)));
    }
    let key = |run: u32, t: u32| match group.get(run as usize).copied().flatten() {
        Some((g, at)) if at == t => Some(g as u32),
        _ => None,
    };
    let groups = variants.len() * n_points;
    let mut sums = vec![vec![0.0; groups]; metrics.len()];
    let mut counts = vec![0u32; groups];
    if let Target::Property(name) = target {
        for (run, margin) in property_margins(&data, name)? {
            let Some((g, _)) = group.get(run as usize).copied().flatten() else { continue };
            counts[g] += 1;
            sums[0][g] += margin.unwrap_or(f64::NAN);
        }
    } else {
        let chunks = data.ticks(&metrics, &key)?;
        // Files in name order, rows in file order: a fixed order of additions.
        for chunk in &chunks {
            for (row, &g) in chunk.keys.iter().enumerate() {
                counts[g as usize] += 1;
                for (m, values) in chunk.values.iter().enumerate() {
                    sums[m][g as usize] += values[row];
                }
            }
        }
    }
    if let Some(g) = counts.iter().position(|&c| c == 0) {
        return Err(Error::Run(format!(
            "{}: point {} of variant `{}` has no row at the analysed tick (is a shard missing?)",
            dir.display(),
            g % n_points,
            variants[g / n_points]
        )));
    }
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    let method = if matches!(design, Design::Morris(_)) { Method::Morris } else { Method::Sobol };
    for (m, name) in metrics.iter().enumerate() {
        let means: Vec<f64> = sums[m].iter().zip(&counts).map(|(s, &c)| s / f64::from(c)).collect();
        if let Some(g) = means.iter().position(|v| !v.is_finite()) {
            skipped.push(format!(
                "{name}: not finite (an unbounded margin or a NaN metric) at point {} of variant `{}`",
                g % n_points,
                variants[g / n_points]
            ));
            continue;
        }
        for (v, variant) in variants.iter().enumerate() {
            let y = &means[v * n_points..(v + 1) * n_points];
            let indices: Vec<Indices> = match &design {
                Design::Morris(design) => {
                    morris_indices(design, d, y).into_iter().map(Indices::Morris).collect()
                }
                Design::Sobol { .. } => {
                    sobol_indices(d, y, RESAMPLES, manifest.seed).into_iter().map(Indices::Sobol).collect()
                }
            };
            let mut ranked: Vec<Row> = manifest
                .swept
                .iter()
                .zip(indices)
                .map(|(p, indices)| Row {
                    metric: name.clone(),
                    variant: variant.clone(),
                    parameter: p.clone(),
                    indices,
                })
                .collect();
            ranked.sort_by(|a, b| b.indices.importance().total_cmp(&a.indices.importance()));
            rows.extend(ranked);
        }
    }
    if rows.is_empty() {
        return Err(Error::Run(format!("no metric to analyse: {}", skipped.join("; "))));
    }
    Ok(Analysis { method, rows, skipped, tick, property: matches!(target, Target::Property(_)) })
}

/// `(run_id, margin)` of property `name` in every `properties` file the
/// manifests list (`None`: an unbounded margin).
fn property_margins(data: &Dataset, name: &str) -> Result<Vec<(u32, Option<f64>)>, Error> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Float64Type, UInt32Type};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let mut files: Vec<String> = data
        .manifests
        .iter()
        .flat_map(|(_, m)| m.files.keys().cloned())
        .filter(|f| f == "properties.parquet" || (f.starts_with("properties-") && f.ends_with(".parquet")))
        .collect();
    files.sort();
    files.dedup();
    if files.is_empty() {
        return Err(Error::Run(format!(
            "--property {name}: {} has no properties.parquet (the scenario declares no [properties])",
            data.dir.display()
        )));
    }
    let mut out = Vec::new();
    let mut names = Vec::new();
    for f in files {
        let path = data.dir.join(&f);
        let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
        for batch in reader {
            let batch = batch?;
            let col = |c: &str| {
                batch
                    .column_by_name(c)
                    .cloned()
                    .ok_or_else(|| Error::Data { path: path.clone(), message: format!("no column `{c}`") })
            };
            let run = arrow::compute::cast(&col("run_id")?, &DataType::UInt32)?;
            let prop = arrow::compute::cast(&col("property")?, &DataType::Utf8)?;
            let margin = arrow::compute::cast(&col("margin")?, &DataType::Float64)?;
            let (run, prop, margin) = (
                run.as_primitive::<UInt32Type>(),
                prop.as_string::<i32>(),
                margin.as_primitive::<Float64Type>(),
            );
            for i in 0..batch.num_rows() {
                let p = prop.value(i);
                if p == name {
                    out.push((run.value(i), (!margin.is_null(i)).then(|| margin.value(i))));
                } else if !names.iter().any(|n: &String| n == p) {
                    names.push(p.to_string());
                }
            }
        }
    }
    if out.is_empty() {
        return Err(Error::Run(format!(
            "--property {name}: no such property in {}; declared: {}",
            data.dir.display(),
            names.join(", ")
        )));
    }
    Ok(out)
}

/// Writes `DIR/sensitivity.parquet`: `metric, variant, parameter`, then
/// `mu_star, mu, sigma` (Morris) or `s1, s1_low, s1_high, st, st_low,
/// st_high` (Sobol).
pub fn write(dir: &Path, analysis: &Analysis) -> Result<PathBuf, Error> {
    let rows = &analysis.rows;
    let text = |f: &dyn Fn(&Row) -> &String| Column::Text(rows.iter().map(|r| f(r).clone()).collect());
    let mut columns = vec![
        ("metric".to_string(), text(&|r| &r.metric)),
        ("variant".to_string(), text(&|r| &r.variant)),
        ("parameter".to_string(), text(&|r| &r.parameter)),
    ];
    let float = |f: &dyn Fn(&Indices) -> f64| Column::Float(rows.iter().map(|r| f(&r.indices)).collect());
    let morris = |r: &Indices| match r {
        Indices::Morris(m) => *m,
        Indices::Sobol(_) => unreachable!("one method per analysis"),
    };
    let sobol = |r: &Indices| match r {
        Indices::Sobol(s) => *s,
        Indices::Morris(_) => unreachable!("one method per analysis"),
    };
    match analysis.method {
        Method::Morris => {
            columns.push(("mu_star".into(), float(&|r| morris(r).mu_star)));
            columns.push(("mu".into(), float(&|r| morris(r).mu)));
            columns.push(("sigma".into(), float(&|r| morris(r).sigma)));
        }
        Method::Sobol => {
            columns.push(("s1".into(), float(&|r| sobol(r).s1)));
            columns.push(("s1_low".into(), float(&|r| sobol(r).s1_low)));
            columns.push(("s1_high".into(), float(&|r| sobol(r).s1_high)));
            columns.push(("st".into(), float(&|r| sobol(r).st)));
            columns.push(("st_low".into(), float(&|r| sobol(r).st_low)));
            columns.push(("st_high".into(), float(&|r| sobol(r).st_high)));
        }
    }
    let path = dir.join(FILE);
    write_columns(&path, &columns)?;
    Ok(path)
}

/// The ranked table as text, one block per (metric, variant).
pub fn table(analysis: &Analysis) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let mut current: Option<(&str, &str)> = None;
    let width = analysis.rows.iter().map(|r| r.parameter.len()).max().unwrap_or(9).max(9);
    for r in &analysis.rows {
        if current != Some((&r.metric, &r.variant)) {
            current = Some((&r.metric, &r.variant));
            let variant =
                if r.variant.is_empty() { String::new() } else { format!(", variant {}", r.variant) };
            let at = match analysis.tick {
                _ if analysis.property => "margin over the run".to_string(),
                Some(t) => format!("tick {t}"),
                None => "last tick".to_string(),
            };
            let _ = writeln!(s, "\n{}{variant} ({at}):", r.metric);
            let _ = match analysis.method {
                Method::Morris => {
                    writeln!(s, "  {:<width$}  {:>12} {:>12} {:>12}", "parameter", "mu_star", "mu", "sigma")
                }
                Method::Sobol => writeln!(
                    s,
                    "  {:<width$}  {:>8} {:>17}  {:>8} {:>17}",
                    "parameter", "S1", "95% CI", "ST", "95% CI"
                ),
            };
        }
        let _ = match r.indices {
            Indices::Morris(m) => writeln!(
                s,
                "  {:<width$}  {:>12.4e} {:>12.4e} {:>12.4e}",
                r.parameter, m.mu_star, m.mu, m.sigma
            ),
            Indices::Sobol(x) => writeln!(
                s,
                "  {:<width$}  {:>8.3} [{:>7.3}, {:>7.3}]  {:>8.3} [{:>7.3}, {:>7.3}]",
                r.parameter, x.s1, x.s1_low, x.s1_high, x.st, x.st_low, x.st_high
            ),
        };
    }
    s
}
