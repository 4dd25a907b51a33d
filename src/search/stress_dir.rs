//! The files of a stress directory: `search.parquet` (every evaluation),
//! `stress.json` (what was searched and found, for people and the report)
//! and `counterexample.toml` (a scenario replaying the failure).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::counterexample::scenario_text;
use super::space::Space;
use super::stress::{Objective, Record, StressOutcome};
use crate::error::Error;
use crate::output::columns::{Column, write_columns};
use crate::output::dataset::write_atomic;
use crate::output::runs::swept_column;
use crate::scenario::LoadedScenario;
use crate::scenario::rewrite::rerooted;

/// Every evaluation of the search.
pub const SEARCH_FILE: &str = "search.parquet";
/// The summary.
pub const SUMMARY_FILE: &str = "stress.json";
/// The replayable failure.
pub const COUNTEREXAMPLE_FILE: &str = "counterexample.toml";

const FILES: [&str; 3] = [SEARCH_FILE, SUMMARY_FILE, COUNTEREXAMPLE_FILE];

/// One dimension as `stress.json` records it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DimSummary {
    /// Dotted path.
    pub path: String,
    /// Its column in `search.parquet`.
    pub column: String,
    /// Range searched.
    pub low: f64,
    /// Range searched.
    pub high: f64,
    /// Rounded to integers.
    pub integer: bool,
    /// The scenario's own value.
    pub base: Option<f64>,
}

/// A changed value of the counterexample.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Change {
    /// Dotted path.
    pub path: String,
    /// The failing value.
    pub value: f64,
    /// The scenario's own value.
    pub base: Option<f64>,
}

/// `stress.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Always `tokensim`.
    pub tool: String,
    /// The scenario file searched.
    pub scenario_file: String,
    /// The property whose margin was minimised.
    pub property: String,
    /// `mean` or `worst`.
    pub objective: String,
    /// The scenario's master seed (of the optimiser and the replicates).
    pub seed: u64,
    /// Runs per candidate.
    pub replicates: u32,
    /// Runs spent searching.
    pub search_runs: u64,
    /// Runs spent shrinking.
    pub shrink_runs: u64,
    /// The dimensions.
    pub dims: Vec<DimSummary>,
    /// `eval_id` of the smallest margin the search found.
    pub best_eval_id: u64,
    /// Its margin (objective), if finite.
    pub best_margin: Option<f64>,
    /// `eval_id` of the shrunk failure.
    pub counterexample_eval_id: Option<u64>,
    /// Its margin (objective), if finite.
    pub counterexample_margin: Option<f64>,
    /// The values it changes from the scenario.
    pub changes: Vec<Change>,
}

/// Subdirectories holding the runs of the base scenario and of the
/// counterexample (the report draws their trajectories side by side).
pub const TRAJECTORY_DIRS: [&str; 2] = ["base", "counterexample"];

/// What [`write()`] wrote.
#[derive(Clone, Debug)]
pub struct Written {
    /// Every file.
    pub written: Vec<PathBuf>,
    /// `counterexample.toml`, if the property failed.
    pub counterexample: Option<PathBuf>,
    /// The base scenario and the counterexample as scenarios (resolving
    /// relative paths like the base file), to run into
    /// [`TRAJECTORY_DIRS`].
    pub replays: Option<[LoadedScenario; 2]>,
}

/// Makes `dir` ready: created if missing; an earlier search's files are
/// removed with `force` and refused without.
pub fn prepare_dir(dir: &Path, force: bool) -> Result<(), Error> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Run(format!("{}: exists and is not a directory", dir.display())));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let present: Vec<PathBuf> = FILES.iter().map(|f| dir.join(f)).filter(|p| p.exists()).collect();
    for sub in TRAJECTORY_DIRS {
        let sub = dir.join(sub);
        if force && sub.is_dir() {
            crate::output::dataset::remove_files(&tokensim_files(&sub)?)?;
        }
    }
    if !present.is_empty() {
        if !force {
            return Err(Error::OutputExists(dir.to_path_buf()));
        }
        for p in present {
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    Ok(())
}

/// tokensim's own files in `dir`.
fn tokensim_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if entry.file_name().to_str().is_some_and(crate::output::dataset::is_ours) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// The value a record has at dimension `i`: its own or the scenario's.
fn value_at(space: &Space, r: &Record, i: usize) -> Option<f64> {
    r.x[i].map(|v| round(space, i, v)).or(space.dims[i].base)
}

fn round(space: &Space, i: usize, v: f64) -> f64 {
    let d = &space.dims[i];
    if d.integer { v.round().clamp(d.low, d.high) } else { v }
}

/// Writes `search.parquet`, `stress.json` and (after a failure)
/// `counterexample.toml`, the base scenario's text with `cli_overrides`
/// (the command line's `--set`, `--seed`, `--ticks`) and the failing values
/// set, its relative `file_paths` (see `Registry::file_paths`) re-rooted at
/// `dir`.
#[allow(clippy::too_many_arguments)]
pub fn write(
    dir: &Path,
    loaded: &LoadedScenario,
    file_paths: &[(String, PathBuf)],
    cli_overrides: &[(String, toml::Value)],
    space: &Space,
    property: &str,
    objective: Objective,
    outcome: &StressOutcome,
) -> Result<Written, Error> {
    let records = &outcome.records;
    let seed = loaded.scenario.seed;
    let mut columns = vec![
        ("eval_id".to_string(), Column::UInt64(records.iter().map(|r| r.eval_id).collect())),
        ("generation".to_string(), Column::UInt32(records.iter().map(|r| r.generation).collect())),
        ("seed".to_string(), Column::UInt64(vec![seed; records.len()])),
    ];
    for (i, d) in space.dims.iter().enumerate() {
        let values = records.iter().map(|r| value_at(space, r, i));
        let column = if d.integer {
            Column::OptInt64(values.map(|v| v.map(|v| v as i64)).collect())
        } else {
            Column::OptFloat(values.collect())
        };
        columns.push((swept_column(&d.path), column));
    }
    columns.push((
        "margin_mean".into(),
        Column::OptFloat(records.iter().map(|r| finite(r.margin_mean)).collect()),
    ));
    columns.push((
        "margin_worst".into(),
        Column::OptFloat(records.iter().map(|r| finite(r.margin_worst)).collect()),
    ));
    columns.push(("failures".into(), Column::UInt32(records.iter().map(|r| r.failures).collect())));
    columns.push(("replicates".into(), Column::UInt32(records.iter().map(|r| r.replicates).collect())));
    let search = dir.join(SEARCH_FILE);
    write_columns(&search, &columns)?;
    let mut written = vec![search];

    let objective_name = match objective {
        Objective::Mean => "mean",
        Objective::Worst => "worst",
    };
    let changes: Vec<Change> = outcome
        .counterexample
        .map(|c| {
            let r = &records[c];
            space
                .dims
                .iter()
                .enumerate()
                .filter_map(|(i, d)| {
                    r.x[i].map(|v| Change { path: d.path.clone(), value: round(space, i, v), base: d.base })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut counterexample = None;
    let mut replays = None;
    if let Some(c) = outcome.counterexample {
        let r = &records[c];
        let mut overrides = cli_overrides.to_vec();
        overrides.extend(changes.iter().map(|ch| {
            let i = space.dims.iter().position(|d| d.path == ch.path).expect("a dimension");
            (ch.path.clone(), space.dims[i].value(ch.value))
        }));
        overrides.extend(rerooted(file_paths, &loaded.base_dir, dir));
        let mut header = format!(
            "Counterexample: property `{property}` fails here ({objective_name} margin {} over {} replicates; {} of them fail).\nFound by `tokensim stress {} --property {property}`; this file is that scenario with\n",
            r.loss(objective),
            r.replicates,
            r.failures,
            loaded.source.path.display(),
        );
        if changes.is_empty() {
            header.push_str("nothing changed: the scenario itself fails.\n");
        } else {
            header.push_str("these values changed (the scenario's own value in brackets):\n");
            for ch in &changes {
                let base = ch.base.map_or("unset".to_string(), |b| format!("{b}"));
                header.push_str(&format!("  {} = {} (was {base})\n", ch.path, ch.value));
            }
        }
        for (p, v) in cli_overrides {
            header.push_str(&format!("  {p} = {v} (from the command line)\n"));
        }
        header.push_str("and `runs` set to the replicates. Replay: tokensim run THIS_FILE");
        let original =
            std::fs::read_to_string(&loaded.source.path).map_err(|e| Error::io(&loaded.source.path, e))?;
        let edit = |overrides: &[(String, toml::Value)], header: &str| {
            scenario_text(&original, overrides, r.replicates, header)
                .map_err(|m| Error::Run(format!("{}: {m}", loaded.source.path.display())))
        };
        let text = edit(&overrides, &header)?;
        let path = dir.join(COUNTEREXAMPLE_FILE);
        write_atomic(&path, text.as_bytes())?;
        written.push(path.clone());
        counterexample = Some(path.clone());
        replays = Some([
            LoadedScenario::from_str(&loaded.source.path, &edit(cli_overrides, "")?)?,
            LoadedScenario::from_str(&path, &text)?,
        ]);
    }
    let summary = Summary {
        tool: "tokensim".into(),
        scenario_file: loaded.source.path.display().to_string(),
        property: property.to_string(),
        objective: objective_name.into(),
        seed,
        replicates: space.replicates,
        search_runs: outcome.runs.0,
        shrink_runs: outcome.runs.1,
        dims: space
            .dims
            .iter()
            .map(|d| DimSummary {
                path: d.path.clone(),
                column: swept_column(&d.path),
                low: d.low,
                high: d.high,
                integer: d.integer,
                base: d.base,
            })
            .collect(),
        best_eval_id: records[outcome.best].eval_id,
        best_margin: finite(records[outcome.best].loss(objective)),
        counterexample_eval_id: outcome.counterexample.map(|c| records[c].eval_id),
        counterexample_margin: outcome.counterexample.and_then(|c| finite(records[c].loss(objective))),
        changes,
    };
    let path = dir.join(SUMMARY_FILE);
    let json = serde_json::to_string_pretty(&summary).map_err(|e| Error::Run(e.to_string()))?;
    write_atomic(&path, json.as_bytes())?;
    written.push(path);
    Ok(Written { written, counterexample, replays })
}
