//! Calibration: fitting the `[search]` dimensions of a scenario so that its
//! simulated metrics match the `[observed]` ones.
//!
//! Every candidate runs the search's replicates (common random numbers:
//! replicate `r` of every candidate has the seed of replicate `r` of
//! `tokensim run`) up to the last observed tick; its loss is the mean over
//! the observed metrics of the chosen [`Loss`] on the fit window. The
//! optimiser is the stress search's ([`crate::search::minimise`]: a Latin
//! hypercube, then CMA-ES), seeded from the scenario's seed, so a
//! calibration is a pure function of the scenario at any thread count. With
//! a holdout fraction `f`, the first `round(n·(1 − f))` observed ticks are
//! fitted and every candidate is also scored on the rest, which the
//! optimiser never sees.
//!
//! [`write()`] then puts in a directory: `calibrated.toml` (the scenario
//! text with the fitted values), `calibration.parquet` (every evaluation)
//! and `manifest.json` (fitted values, losses, and the fitted model's
//! per-tick median and 5–95 % band beside the observed series, for the
//! report).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use super::loss::{Loss, Target, quantile_per_tick};
use super::{Observed, split, time};
use crate::engine::registry::Registry;
use crate::engine::{RunSpec, Simulation};
use crate::error::Error;
use crate::output::dataset::write_atomic;
use crate::output::sink::ParquetSink;
use crate::scenario::LoadedScenario;
use crate::scenario::rewrite::{rerooted, rewrite};
use crate::search::{Evaluation, OptimiseOptions, Space, minimise, simulate};

/// The files of a calibration directory.
pub const FILES: [&str; 3] = ["calibrated.toml", "calibration.parquet", "manifest.json"];

/// The `kind` a calibration manifest carries.
pub const KIND: &str = "calibration";

/// Default candidate evaluations.
pub const DEFAULT_BUDGET: usize = 200;

/// How to calibrate.
#[derive(Clone, Debug)]
pub struct CalibrateOptions {
    /// Candidate evaluations in total.
    pub budget: usize,
    /// The loss.
    pub loss: Loss,
    /// Fraction of the observed ticks held out (at the end), in `[0, 1)`.
    pub holdout: f64,
}

impl Default for CalibrateOptions {
    fn default() -> Self {
        CalibrateOptions { budget: DEFAULT_BUDGET, loss: Loss::Moments, holdout: 0.0 }
    }
}

/// One evaluated candidate with its out-of-sample loss.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    /// The optimiser's record (loss on the fit window).
    pub eval: Evaluation,
    /// Loss on the holdout window, if there is one and it can be computed.
    pub holdout: Option<f64>,
}

/// A fitted dimension.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fitted {
    /// Dotted path.
    pub path: String,
    /// Range searched.
    pub low: f64,
    /// Range searched.
    pub high: f64,
    /// The scenario's own value, if it writes one.
    pub base: Option<f64>,
    /// The fitted value.
    pub value: f64,
}

/// One metric of the fitted model beside its observation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitSeries {
    /// The metric.
    pub metric: String,
    /// Its data column.
    pub column: String,
    /// Observed value of tick `i + 1`.
    pub observed: Vec<f64>,
    /// Per-tick median across replicates (every tick the scenario runs).
    pub median: Vec<f64>,
    /// Per-tick 5 % quantile.
    pub p5: Vec<f64>,
    /// Per-tick 95 % quantile.
    pub p95: Vec<f64>,
    /// Loss of the fitted model on the fit window.
    pub loss: Option<f64>,
    /// Loss on the holdout window (`None` without one, or if it cannot be
    /// computed).
    pub holdout_loss: Option<f64>,
}

/// A calibration's `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationManifest {
    /// Always [`KIND`].
    pub kind: String,
    /// `complete`.
    pub status: String,
    /// `tokensim`.
    pub tool: String,
    /// Crate version.
    pub version: String,
    /// Scenario file as given.
    pub scenario_file: String,
    /// Scenario name.
    pub scenario_name: String,
    /// Master seed (of the replicates and of the optimiser).
    pub seed: u64,
    /// The loss name.
    pub loss: String,
    /// Evaluations asked for.
    pub budget: usize,
    /// Evaluations made.
    pub evaluations: usize,
    /// Replicates per candidate.
    pub replicates: u32,
    /// Holdout fraction.
    pub holdout: f64,
    /// The data file.
    pub observed_file: String,
    /// Time of each observed tick (`YYYY-MM-DD HH:MM:SS`).
    pub times: Vec<String>,
    /// Fitted ticks `1..=fit_ticks`.
    pub fit_ticks: usize,
    /// Held-out ticks `fit_ticks + 1..=fit_ticks + holdout_ticks`.
    pub holdout_ticks: usize,
    /// Ticks of the fitted runs (≥ observed ticks; more is a forecast).
    pub ticks: u32,
    /// Fitted values.
    pub fitted: Vec<Fitted>,
    /// The best evaluation's id.
    pub best_eval: u64,
    /// Its loss on the fit window.
    pub loss_in_sample: f64,
    /// Its loss on the holdout window (`None` without one, or if it cannot
    /// be computed).
    pub loss_out_of_sample: Option<f64>,
    /// The fitted model per metric.
    pub series: Vec<FitSeries>,
    /// Rows per file.
    pub files: std::collections::BTreeMap<String, u64>,
    /// Rayon threads used.
    pub threads: usize,
    /// Wall-clock seconds.
    pub wall_seconds: f64,
}

/// A finished calibration, before it is written.
#[derive(Clone, Debug)]
pub struct Calibration {
    /// The search space.
    pub space: Space,
    /// Every evaluation, in order.
    pub evals: Vec<Scored>,
    /// Index of the best (lowest fit loss, first on ties).
    pub best: usize,
    /// The manifest (without `files`, `wall_seconds`, filled by [`write()`]).
    pub manifest: CalibrationManifest,
    /// The scenario with the fitted values, as overrides.
    pub overrides: Vec<(String, toml::Value)>,
}

/// Per replicate, per observed metric, the values of ticks `1..=ticks`.
type Runs = Vec<Vec<Vec<f64>>>;

fn collect(sim: &mut Simulation, indices: &[usize], ticks: usize) -> Vec<Vec<f64>> {
    let mut out = vec![Vec::with_capacity(ticks); indices.len()];
    while (sim.tick() as usize) < ticks {
        let log = sim.step();
        for (k, &i) in indices.iter().enumerate() {
            out[k].push(log.metrics[i]);
        }
    }
    out
}

/// The loss of one candidate's replicates: the mean over metrics; `None`
/// if a metric's loss cannot be computed (the candidate is infeasible).
fn loss_of(targets: &[Target], runs: &Runs) -> Option<f64> {
    let mut total = 0.0;
    for (k, t) in targets.iter().enumerate() {
        let reps: Vec<&[f64]> = runs.iter().map(|r| r[k].as_slice()).collect();
        total += t.loss(&reps)?;
    }
    let mean = total / targets.len() as f64;
    mean.is_finite().then_some(mean)
}

/// Why a candidate's replicates `runs` have no loss on `targets`: the first
/// simulated value the loss cannot use, or an overflow.
fn why_infeasible(targets: &[Target], runs: &Runs, metrics: &[String]) -> String {
    for (k, t) in targets.iter().enumerate() {
        let reps: Vec<&[f64]> = runs.iter().map(|r| r[k].as_slice()).collect();
        if let Some((r, tick)) = t.unusable(&reps) {
            let value = reps[r].get(tick).map_or("missing".to_string(), |v| v.to_string());
            return format!("replicate {r}: `{}` at tick {} is {value}", metrics[k], tick + 1);
        }
    }
    "the loss overflows".into()
}

/// Fits `loaded`'s `[search]` dimensions to its `[observed]` data.
/// `progress` hears after every generation `(evaluations so far, budget,
/// best fit loss so far)`.
pub fn calibrate(
    loaded: &LoadedScenario,
    registry: &Registry,
    opts: &CalibrateOptions,
    progress: &mut dyn FnMut(usize, usize, f64),
) -> Result<Calibration, Error> {
    let source = &loaded.source;
    let observed = Observed::load(loaded)?.ok_or_else(|| {
        Error::from(source.error(
            "observed",
            "the scenario has no [observed] table; calibration needs one naming the data to fit, e.g. [observed] file = \"prices.csv\", time = { column = \"date\", format = \"%Y-%m-%d\" }, columns = { feed_price = \"close\" }",
        ))
    })?;
    let space = Space::of(loaded)?;
    if !(opts.holdout.is_finite() && (0.0..1.0).contains(&opts.holdout)) {
        return Err(Error::Run(format!(
            "--holdout {} must be in [0, 1): the fraction of observed ticks held out",
            opts.holdout
        )));
    }
    if opts.budget == 0 {
        return Err(Error::Run("--budget must be at least 1".into()));
    }
    let validate = Simulation::validate(loaded, registry, &RunSpec::single(loaded.scenario.seed))?;
    let indices = observed.check(loaded, &validate.metric_columns)?;
    drop(validate);
    if opts.loss.takes_logs() {
        observed.require_positive(loaded, &format!("the `{}` loss", opts.loss.name()))?;
    }
    let n = observed.ticks();
    let (fit, hold) = split(n, opts.holdout);
    let targets = |window: std::ops::Range<usize>, what: &str| -> Result<Vec<Target>, Error> {
        observed
            .values
            .iter()
            .zip(&observed.metrics)
            .map(|(values, metric)| {
                Target::new(opts.loss, values, window.clone()).map_err(|m| {
                    Error::from(source.error(
                        &format!("observed.columns.{metric}"),
                        format!(
                            "{what}: {m} (the observed window has {n} ticks; --holdout {})",
                            opts.holdout
                        ),
                    ))
                })
            })
            .collect()
    };
    let fit_targets = targets(fit.clone(), "fit window")?;
    let hold_targets = if hold.is_empty() { None } else { Some(targets(hold.clone(), "holdout window")?) };

    let replicates = space.replicates;
    let evaluate_runs = |xs: &[Vec<f64>]| -> Result<Vec<Runs>, Error> {
        let candidates: Vec<_> = xs.iter().map(|x| space.overrides(x)).collect();
        simulate(loaded, registry, &candidates, replicates, &|sim| Ok(collect(sim, &indices, n)))
    };
    let mut holdout_losses: Vec<Option<f64>> = Vec::new();
    let mut infeasible: Option<String> = None;
    let mut best_so_far = f64::INFINITY;
    let budget = opts.budget;
    let mut evaluate = |_generation: u32, xs: &[Vec<f64>]| -> Result<Vec<f64>, Error> {
        let runs = evaluate_runs(xs)?;
        // An infeasible candidate's loss is NaN, which the optimiser ranks last.
        let losses: Vec<f64> = runs.iter().map(|r| loss_of(&fit_targets, r).unwrap_or(f64::NAN)).collect();
        if infeasible.is_none()
            && let Some(i) = losses.iter().position(|l| l.is_nan())
        {
            let why = why_infeasible(&fit_targets, &runs[i], &observed.metrics);
            infeasible = Some(format!("evaluation {}: {why}", holdout_losses.len() + i));
        }
        holdout_losses.extend(runs.iter().map(|r| hold_targets.as_ref().and_then(|t| loss_of(t, r))));
        best_so_far = losses.iter().copied().fold(best_so_far, f64::min);
        progress(holdout_losses.len(), budget, best_so_far);
        Ok(losses)
    };
    let d = space.dims.len();
    let options = OptimiseOptions { budget, seed: loaded.scenario.seed, initial: (4 * d + 4).min(budget) };
    let evals = minimise(&space, &options, &mut evaluate, &mut |_| false)?;
    let evals: Vec<Scored> =
        evals.into_iter().zip(holdout_losses).map(|(eval, holdout)| Scored { eval, holdout }).collect();
    let best = best_of(&evals).ok_or_else(|| {
        Error::Run(format!(
            "no candidate could be scored: the `{}` loss of every one of the {} evaluations is not finite, so nothing was fitted (first: {})",
            opts.loss.name(),
            evals.len(),
            infeasible.as_deref().unwrap_or("no evaluation")
        ))
    })?;
    let x = evals[best].eval.x.clone();
    let overrides = space.overrides(&x);

    // The fitted model over every tick the scenario runs (a forecast past
    // the data), with the same replicates the search scored it with.
    let all = loaded.scenario.ticks as usize;
    let fitted_runs = simulate(loaded, registry, std::slice::from_ref(&overrides), replicates, &|sim| {
        Ok(collect(sim, &indices, all))
    })?
    .remove(0);
    let series = observed
        .metrics
        .iter()
        .enumerate()
        .map(|(k, metric)| {
            let reps: Vec<&[f64]> = fitted_runs.iter().map(|r| r[k].as_slice()).collect();
            FitSeries {
                metric: metric.clone(),
                column: observed.columns[k].clone(),
                observed: observed.values[k].clone(),
                median: quantile_per_tick(&reps, 0..all, 0.5),
                p5: quantile_per_tick(&reps, 0..all, 0.05),
                p95: quantile_per_tick(&reps, 0..all, 0.95),
                loss: fit_targets[k].loss(&reps),
                holdout_loss: hold_targets.as_ref().and_then(|t| t[k].loss(&reps)),
            }
        })
        .collect();
    let manifest = CalibrationManifest {
        kind: KIND.into(),
        status: "complete".into(),
        tool: "tokensim".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        scenario_file: source.path.display().to_string(),
        scenario_name: loaded.scenario.name.clone(),
        seed: loaded.scenario.seed,
        loss: opts.loss.name().into(),
        budget,
        evaluations: evals.len(),
        replicates,
        holdout: opts.holdout,
        observed_file: observed.file.display().to_string(),
        times: observed.times.iter().map(|t| time::show(*t)).collect(),
        fit_ticks: fit.len(),
        holdout_ticks: hold.len(),
        ticks: loaded.scenario.ticks,
        fitted: space
            .dims
            .iter()
            .zip(&x)
            .map(|(d, &value)| Fitted { path: d.path.clone(), low: d.low, high: d.high, base: d.base, value })
            .collect(),
        best_eval: evals[best].eval.eval_id,
        loss_in_sample: evals[best].eval.loss,
        loss_out_of_sample: evals[best].holdout,
        series,
        files: Default::default(),
        threads: rayon::current_num_threads(),
        wall_seconds: 0.0,
    };
    Ok(Calibration { space, evals, best, manifest, overrides })
}

/// The evaluation of lowest fit loss (first on ties), among those with one.
fn best_of(evals: &[Scored]) -> Option<usize> {
    (0..evals.len())
        .filter(|&i| !evals[i].eval.loss.is_nan())
        .reduce(|b, i| if evals[i].eval.loss < evals[b].eval.loss { i } else { b })
}

/// Writes a calibration into `dir` (see [`FILES`]): never over existing
/// calibration files unless `force`. `sets` are the command line's
/// overrides, written into `calibrated.toml` too.
pub fn write(
    cal: &mut Calibration,
    loaded: &LoadedScenario,
    registry: &Registry,
    sets: &[(String, toml::Value)],
    dir: &Path,
    force: bool,
    started: Instant,
) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let paths: Vec<PathBuf> = FILES.iter().map(|f| dir.join(f)).collect();
    if paths.iter().any(|p| p.exists()) {
        if !force {
            return Err(Error::OutputExists(dir.into()));
        }
        crate::output::dataset::remove_files(&paths)?;
        crate::output::dataset::remove_derived(dir)?;
    }
    // calibrated.toml: the scenario's own text with the overrides and the
    // fitted values, relative paths re-rooted at `dir`.
    let text = std::fs::read_to_string(&loaded.source.path).map_err(|e| Error::io(&loaded.source.path, e))?;
    let mut values: Vec<(String, toml::Value)> = sets.to_vec();
    values.extend(cal.overrides.iter().cloned());
    values.extend(rerooted(&registry.file_paths(&loaded.table), &loaded.base_dir, dir));
    let toml = rewrite(&text, &values).map_err(|m| {
        Error::Run(format!("{}: cannot write the fitted values: {m}", loaded.source.path.display()))
    })?;
    write_atomic(&dir.join(FILES[0]), toml.as_bytes())?;

    let batch = evaluations_batch(cal)?;
    let metadata = vec![
        ("tokensim.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("tokensim.scenario".to_string(), loaded.scenario.name.clone()),
        ("tokensim.seed".to_string(), loaded.scenario.seed.to_string()),
        ("tokensim.loss".to_string(), cal.manifest.loss.clone()),
    ];
    let mut sink = ParquetSink::create(&dir.join(FILES[1]), batch.schema(), metadata)?;
    sink.write(batch)?;
    let rows = sink.finish()?;
    cal.manifest.files.insert(FILES[0].into(), 1);
    cal.manifest.files.insert(FILES[1].into(), rows);
    cal.manifest.wall_seconds = started.elapsed().as_secs_f64();
    let json = serde_json::to_vec_pretty(&cal.manifest).map_err(|e| Error::Run(e.to_string()))?;
    write_atomic(&dir.join(FILES[2]), &json)
}

/// `calibration.parquet`: `eval_id, generation`, one column per dimension
/// (its path with `_` for `.`), `loss` (fit window), `holdout_loss`
/// (empty without a holdout) and `best`.
fn evaluations_batch(cal: &Calibration) -> Result<RecordBatch, Error> {
    let mut fields = vec![
        Field::new("eval_id", DataType::UInt64, false),
        Field::new("generation", DataType::UInt32, false),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(cal.evals.iter().map(|e| e.eval.eval_id))),
        Arc::new(UInt32Array::from_iter_values(cal.evals.iter().map(|e| e.eval.generation))),
    ];
    for (j, d) in cal.space.dims.iter().enumerate() {
        let name = crate::output::runs::swept_column(&d.path);
        if fields.iter().any(|f| f.name() == &name)
            || ["loss", "holdout_loss", "best"].contains(&name.as_str())
        {
            return Err(Error::Run(format!(
                "dimension `{}` would have the column name `{name}` of another",
                d.path
            )));
        }
        fields.push(Field::new(name, DataType::Float64, false));
        columns.push(Arc::new(Float64Array::from_iter_values(cal.evals.iter().map(|e| e.eval.x[j]))));
    }
    // An infeasible candidate (its loss not finite) has an empty loss.
    fields.push(Field::new("loss", DataType::Float64, true));
    let loss = |e: &Scored| (!e.eval.loss.is_nan()).then_some(e.eval.loss);
    columns.push(Arc::new(Float64Array::from(cal.evals.iter().map(loss).collect::<Vec<_>>())));
    fields.push(Field::new("holdout_loss", DataType::Float64, true));
    columns.push(Arc::new(Float64Array::from(cal.evals.iter().map(|e| e.holdout).collect::<Vec<_>>())));
    fields.push(Field::new("best", DataType::Boolean, false));
    columns
        .push(Arc::new(BooleanArray::from((0..cal.evals.len()).map(|i| i == cal.best).collect::<Vec<_>>())));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}
