//! Reading a results directory: its manifests (one per shard), the runs,
//! the tick columns a report needs (projected, so other columns are never
//! decoded) and the violations. Only files a manifest lists are read, so a
//! stray or half-written file never enters a report.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, UInt32Type};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rayon::prelude::*;

use crate::error::Error;
use crate::output::Manifest;
use crate::output::runs::swept_column;

/// Rows per decoded batch.
const BATCH: usize = 64 * 1024;

/// A results directory, opened.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The directory.
    pub dir: PathBuf,
    /// `(file name, manifest)` of every shard present, by file name.
    pub manifests: Vec<(String, Manifest)>,
    /// Shards the experiment was split into (1 unsharded).
    pub shard_count: usize,
    /// Files of each table, sorted by name.
    pub runs_files: Vec<PathBuf>,
    /// `ticks` files.
    pub ticks_files: Vec<PathBuf>,
    /// `violations` files.
    pub violations_files: Vec<PathBuf>,
    /// Columns of `ticks` other than `run_id` and `tick`, in file order.
    pub metrics: Vec<String>,
    /// Every file the manifests list, sorted.
    pub listed: Vec<String>,
}

impl Dataset {
    /// Opens `dir`: it must exist and hold at least one complete manifest.
    pub fn open(dir: &Path) -> Result<Dataset, Error> {
        if !dir.exists() {
            return Err(Error::Run(format!("{}: no such directory", dir.display())));
        }
        if !dir.is_dir() {
            return Err(Error::Run(format!(
                "{}: not a directory; give the results directory of `tokensim run`",
                dir.display()
            )));
        }
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        names.sort();
        let manifest_names: Vec<&String> = names
            .iter()
            .filter(|n| *n == "manifest.json" || (n.starts_with("manifest-") && n.ends_with(".json")))
            .collect();
        if manifest_names.is_empty() {
            let has_tables =
                names.iter().any(|n| crate::output::dataset::is_ours(n) && n.contains(".parquet"));
            return Err(Error::Run(if has_tables {
                format!(
                    "{}: incomplete tokensim dataset: no manifest.json (the run did not finish; finish it with `tokensim run SCENARIO -o {} --resume`)",
                    dir.display(),
                    dir.display()
                )
            } else {
                format!(
                    "{}: not a tokensim dataset (no manifest.json); make one with `tokensim run SCENARIO -o {}`",
                    dir.display(),
                    dir.display()
                )
            }));
        }
        let mut manifests = Vec::new();
        for name in manifest_names {
            let path = dir.join(name);
            let m = Manifest::read(&path).ok_or_else(|| Error::Data {
                path: path.clone(),
                message: "not a tokensim manifest (unreadable or unexpected JSON)".into(),
            })?;
            if m.tool != "tokensim" {
                return Err(Error::Data { path, message: format!("written by `{}`, not tokensim", m.tool) });
            }
            if m.status != "complete" {
                return Err(Error::Data { path, message: format!("status is `{}`, not complete", m.status) });
            }
            manifests.push((name.clone(), m));
        }
        let shard_count = manifests[0]
            .1
            .shard
            .split_once('/')
            .and_then(|(_, n)| n.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let mut listed: Vec<String> = manifests.iter().flat_map(|(_, m)| m.files.keys().cloned()).collect();
        listed.sort();
        listed.dedup();
        let table = |t: &str| table_files(dir, &listed, t);
        let (runs_files, ticks_files, violations_files) =
            (table("runs"), table("ticks"), table("violations"));
        for f in runs_files.iter().chain(&ticks_files).chain(&violations_files) {
            if !f.is_file() {
                return Err(Error::Data {
                    path: f.clone(),
                    message: "listed in the manifest but missing".into(),
                });
            }
        }
        if runs_files.is_empty() || ticks_files.is_empty() {
            return Err(Error::Run(format!(
                "{}: the manifest lists no runs or ticks files; not a complete tokensim dataset",
                dir.display()
            )));
        }
        let schema = ParquetRecordBatchReaderBuilder::try_new(open(&ticks_files[0])?)
            .map_err(|e| data_err(&ticks_files[0], e))?
            .schema()
            .clone();
        let metrics = schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| n != "run_id" && n != "tick")
            .collect();
        Ok(Dataset {
            dir: dir.to_path_buf(),
            manifests,
            shard_count,
            runs_files,
            ticks_files,
            violations_files,
            metrics,
            listed,
        })
    }

    /// The files of `table` the manifests list (`properties` →
    /// `properties.parquet`, `properties-p003.parquet`, …), each checked to
    /// exist.
    pub fn table_files(&self, table: &str) -> Vec<PathBuf> {
        table_files(&self.dir, &self.listed, table)
    }

    /// The first shard's manifest (every shard records the same scenario).
    pub fn manifest(&self) -> &Manifest {
        &self.manifests[0].1
    }

    /// The unit of each metric that declares one: `metrics.<column>.unit`
    /// of the first manifest, read as plain JSON so manifests without it
    /// (older versions) simply have no units.
    pub fn units(&self) -> std::collections::BTreeMap<String, String> {
        let path = self.dir.join(&self.manifests[0].0);
        let json: serde_json::Value =
            std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        json.get("metrics")
            .and_then(|m| m.as_object())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        let unit = v.get("unit")?.as_str().filter(|u| !u.is_empty())?;
                        Some((k.clone(), unit.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Reads every run of every shard present.
    pub fn runs(&self) -> Result<Vec<RunInfo>, Error> {
        let swept: Vec<(String, String)> =
            self.manifest().swept.iter().map(|p| (p.clone(), swept_column(p))).collect();
        let mut out = Vec::new();
        for path in &self.runs_files {
            for batch in read_batches(path, None)? {
                let u32s = |name: &str| -> Result<Vec<u32>, Error> {
                    let col = column(&batch, name, path)?;
                    let col = arrow::compute::cast(col, &DataType::UInt32)?;
                    Ok(col.as_primitive::<UInt32Type>().values().to_vec())
                };
                let (run_id, point_id, replicate) = (u32s("run_id")?, u32s("point_id")?, u32s("replicate")?);
                let ticks = u32s("ticks")?;
                let variant = arrow::compute::cast(column(&batch, "variant", path)?, &DataType::Utf8)?;
                let variant = variant.as_string::<i32>();
                let params: Vec<Vec<serde_json::Value>> = swept
                    .iter()
                    .map(|(_, c)| column(&batch, c, path).map(json_values))
                    .collect::<Result<_, _>>()?;
                for i in 0..batch.num_rows() {
                    out.push(RunInfo {
                        run_id: run_id[i],
                        point_id: point_id[i],
                        replicate: replicate[i],
                        ticks: ticks[i],
                        variant: variant.value(i).to_string(),
                        params: swept
                            .iter()
                            .zip(&params)
                            .map(|((p, _), v)| (p.clone(), v[i].clone()))
                            .collect(),
                    });
                }
            }
        }
        out.sort_by_key(|r| r.run_id);
        Ok(out)
    }

    /// Reads `metrics` from every ticks file in parallel: for each file,
    /// each row's key from `key(run_id, tick)` (`None` skips the row) and
    /// each metric as `f64`.
    pub fn ticks(
        &self,
        metrics: &[String],
        key: &(dyn Fn(u32, u32) -> Option<u32> + Sync),
    ) -> Result<Vec<TickChunk>, Error> {
        let mut wanted = vec!["run_id".to_string(), "tick".to_string()];
        wanted.extend(metrics.iter().cloned());
        self.ticks_files
            .par_iter()
            .map(|path| {
                let mut chunk =
                    TickChunk { keys: Vec::new(), runs: Vec::new(), values: vec![Vec::new(); metrics.len()] };
                for batch in read_batches(path, Some(&wanted))? {
                    let run_id = arrow::compute::cast(column(&batch, "run_id", path)?, &DataType::UInt32)?;
                    let tick = arrow::compute::cast(column(&batch, "tick", path)?, &DataType::UInt32)?;
                    let (run_id, tick) = (
                        run_id.as_primitive::<UInt32Type>().values(),
                        tick.as_primitive::<UInt32Type>().values(),
                    );
                    let keep: Vec<Option<u32>> =
                        run_id.iter().zip(tick.iter()).map(|(&r, &t)| key(r, t)).collect();
                    chunk.keys.extend(keep.iter().flatten().copied());
                    chunk.runs.extend(run_id.iter().zip(&keep).filter(|(_, k)| k.is_some()).map(|(&r, _)| r));
                    for (m, out) in metrics.iter().zip(chunk.values.iter_mut()) {
                        let col = arrow::compute::cast(column(&batch, m, path)?, &DataType::Float64)?;
                        let col = col.as_primitive::<Float64Type>();
                        let nulls = col.nulls().cloned();
                        out.extend(col.values().iter().enumerate().filter(|(i, _)| keep[*i].is_some()).map(
                            |(i, &v)| if nulls.as_ref().is_some_and(|n| n.is_null(i)) { f64::NAN } else { v },
                        ));
                    }
                }
                Ok(chunk)
            })
            .collect()
    }

    /// Every invariant violation, by run and tick.
    pub fn violations(&self) -> Result<Vec<ViolationRow>, Error> {
        let mut out = Vec::new();
        for path in &self.violations_files {
            for batch in read_batches(path, None)? {
                let u32s = |name: &str| -> Result<Vec<u32>, Error> {
                    let col = arrow::compute::cast(column(&batch, name, path)?, &DataType::UInt32)?;
                    Ok(col.as_primitive::<UInt32Type>().values().to_vec())
                };
                let f64s = |name: &str| -> Result<Vec<f64>, Error> {
                    let col = arrow::compute::cast(column(&batch, name, path)?, &DataType::Float64)?;
                    Ok(col.as_primitive::<Float64Type>().values().to_vec())
                };
                let strs = |name: &str| -> Result<Vec<String>, Error> {
                    let col = arrow::compute::cast(column(&batch, name, path)?, &DataType::Utf8)?;
                    Ok(col.as_string::<i32>().iter().map(|s| s.unwrap_or_default().to_string()).collect())
                };
                let (run_id, tick, source, invariant, expected, actual) = (
                    u32s("run_id")?,
                    u32s("tick")?,
                    strs("source")?,
                    strs("invariant")?,
                    f64s("expected")?,
                    f64s("actual")?,
                );
                for i in 0..batch.num_rows() {
                    out.push(ViolationRow {
                        run_id: run_id[i],
                        tick: tick[i],
                        source: source[i].clone(),
                        invariant: invariant[i].clone(),
                        expected: expected[i],
                        actual: actual[i],
                    });
                }
            }
        }
        out.sort_by_key(|a| (a.run_id, a.tick));
        Ok(out)
    }
}

/// One row of `runs.parquet`.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    /// Run id (join key).
    pub run_id: u32,
    /// Parameter point.
    pub point_id: u32,
    /// Replicate within the point.
    pub replicate: u32,
    /// Ticks simulated.
    pub ticks: u32,
    /// Variant (empty without variants).
    pub variant: String,
    /// Swept values `(dotted path, value)`, in the manifest's order.
    pub params: Vec<(String, serde_json::Value)>,
}

/// What one ticks file holds of the columns asked for, rows in file order.
#[derive(Clone, Debug, Default)]
pub struct TickChunk {
    /// Each kept row's key.
    pub keys: Vec<u32>,
    /// Each kept row's run id.
    pub runs: Vec<u32>,
    /// Per metric, each kept row's value (null as NaN).
    pub values: Vec<Vec<f64>>,
}

/// One row of `violations.parquet`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ViolationRow {
    /// Run.
    pub run_id: u32,
    /// Tick.
    pub tick: u32,
    /// Contract or `engine`.
    pub source: String,
    /// Which invariant.
    pub invariant: String,
    /// Expected value.
    pub expected: f64,
    /// Actual value.
    pub actual: f64,
}

fn table_files(dir: &Path, listed: &[String], t: &str) -> Vec<PathBuf> {
    listed
        .iter()
        .filter(|n| {
            n.strip_suffix(".parquet")
                .is_some_and(|s| s == t || s.strip_prefix(t).is_some_and(|r| r.starts_with('-')))
        })
        .map(|n| dir.join(n))
        .collect()
}

/// Every batch of a Parquet file, all columns.
pub fn read_table(path: &Path) -> Result<Vec<RecordBatch>, Error> {
    read_batches(path, None)
}

fn open(path: &Path) -> Result<File, Error> {
    File::open(path).map_err(|e| Error::io(path, e))
}

fn data_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Data { path: path.to_path_buf(), message: format!("not a readable Parquet file: {e}") }
}

/// Decodes a file, only the root columns named in `columns` if given.
fn read_batches(path: &Path, columns: Option<&[String]>) -> Result<Vec<RecordBatch>, Error> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(open(path)?).map_err(|e| data_err(path, e))?;
    let builder = match columns {
        Some(cols) => {
            let schema = builder.schema().clone();
            let mut indices = Vec::new();
            for c in cols {
                let i = schema.index_of(c).map_err(|_| Error::Data {
                    path: path.to_path_buf(),
                    message: format!("no column `{c}`: every file of a dataset must have the same columns"),
                })?;
                indices.push(i);
            }
            let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
            builder.with_projection(mask)
        }
        None => builder,
    };
    let reader = builder.with_batch_size(BATCH).build().map_err(|e| data_err(path, e))?;
    reader.collect::<Result<Vec<_>, _>>().map_err(|e| data_err(path, e))
}

fn column<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a dyn Array, Error> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| Error::Data { path: path.to_path_buf(), message: format!("no column `{name}`") })
}

/// A swept column's values as JSON (numbers, booleans or text).
fn json_values(col: &dyn Array) -> Vec<serde_json::Value> {
    use serde_json::Value;
    let n = col.len();
    match col.data_type() {
        DataType::Int64 => col
            .as_primitive::<arrow::datatypes::Int64Type>()
            .values()
            .iter()
            .map(|&v| Value::from(v))
            .collect(),
        DataType::Float64 => {
            col.as_primitive::<Float64Type>().values().iter().map(|&v| Value::from(v)).collect()
        }
        DataType::Boolean => col.as_boolean().iter().map(|v| Value::from(v.unwrap_or(false))).collect(),
        _ => match arrow::compute::cast(col, &DataType::Utf8) {
            Ok(s) => s.as_string::<i32>().iter().map(|v| Value::from(v.unwrap_or_default())).collect(),
            Err(_) => vec![Value::Null; n],
        },
    }
}
