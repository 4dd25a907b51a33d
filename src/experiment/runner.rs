//! Running an experiment into a results directory.
//!
//! The (sharded) run list is split into a fixed number of *parts*, run
//! number `i` going to part `i mod P`. Parts run in parallel on the rayon
//! pool; each runs its runs one after another and streams them into its own
//! files (`ticks-p003.parquet`…). Because `P` does not depend on the number
//! of threads, the bytes written never do either, and nothing waits on a
//! reorder buffer. A part is the unit of `--resume`: when its files are
//! closed a marker `.done-p003.json` records them, and a resumed experiment
//! skips marked parts and redoes the others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::plan::{ParamType, Plan, PlannedRun, expand};
use super::shard::Shard;
use crate::engine::registry::Registry;
use crate::engine::{RunSpec, Simulation};
use crate::error::Error;
use crate::output::dataset::{WriteStats, file_name, is_ours, remove_derived, remove_files, write_atomic};
use crate::output::rundir;
use crate::output::runs::{RunRow, runs_batch, swept_column};
use crate::output::sink::{ParquetSink, partial_path};
use crate::output::{DatasetWriter, Layout, Manifest, manifest_name};
use crate::properties::risk::{AdaptiveOutcome, Gates, RunOutcome, risk_table};
use crate::scenario::LoadedScenario;

/// Default number of parts an experiment's files are split into.
pub const DEFAULT_PARTS: usize = 16;

/// How to run an experiment.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Results directory.
    pub out_dir: PathBuf,
    /// Replace existing results of this shard.
    pub force: bool,
    /// Continue an interrupted experiment in `out_dir`.
    pub resume: bool,
    /// Which slice of the run list to run.
    pub shard: Shard,
    /// Most parts (files per table) to split the runs into.
    pub parts: usize,
    /// Add replicates until the properties' intervals are narrow enough
    /// (`--ci-width`), instead of running the scenario's `runs`.
    pub adaptive: Option<Adaptive>,
    /// `out_dir` is a base: run into its next numbered directory
    /// (`run-NNN`; with `resume`, its newest) and point `out_dir/latest`
    /// at it when done (see [`crate::output::rundir`]).
    pub numbered: bool,
}

impl RunOptions {
    /// Options for a fresh, unsharded experiment into `out_dir`.
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        RunOptions {
            out_dir: out_dir.into(),
            force: false,
            resume: false,
            shard: Shard::ALL,
            parts: DEFAULT_PARTS,
            adaptive: None,
            numbered: false,
        }
    }

    /// Options for a fresh run into the next numbered directory under
    /// `base` (what `tokensim run` does without `-o`).
    pub fn numbered(base: impl Into<PathBuf>) -> Self {
        RunOptions { numbered: true, ..RunOptions::new(base) }
    }
}

/// Receives progress from the worker threads.
pub trait Observer: Sync {
    /// A tick of some run finished.
    fn tick(&self) {}
    /// A run finished.
    fn run_done(&self, run: &RunSpec) {
        let _ = run;
    }
}

/// An observer that ignores everything.
pub struct Silent;

impl Observer for Silent {}

/// What a finished experiment reports.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The manifest written.
    pub manifest: Manifest,
    /// Where.
    pub out_dir: PathBuf,
    /// Runs skipped because `--resume` found them complete.
    pub resumed_runs: usize,
}

/// What a closed part recorded, kept in its `.done` marker.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct PartRecord {
    fingerprint: String,
    files: BTreeMap<String, u64>,
    ticks: u64,
    n_tx: u64,
    n_rejected: u64,
    n_violations: u64,
    agent_ticks: u64,
    #[serde(default)]
    unplayed_orders: u64,
    /// Each run's property verdicts and violations, for the risk table.
    #[serde(default)]
    outcomes: Vec<RunOutcome>,
}

/// Applies `--set`, `--seed`, `--ticks` and `--runs` overrides, each
/// reported under its own flag in errors.
pub fn apply_overrides(
    loaded: &LoadedScenario,
    sets: &[(String, toml::Value)],
    seed: Option<u64>,
    ticks: Option<u32>,
    runs: Option<u32>,
) -> Result<LoadedScenario, Error> {
    let mut out = loaded.with_overrides(sets, "--set")?;
    if let Some(seed) = seed {
        let seed =
            i64::try_from(seed).map_err(|_| Error::Run(format!("--seed {seed} is above {}", i64::MAX)))?;
        out = out.with_overrides(&[("seed".into(), toml::Value::Integer(seed))], "--seed")?;
    }
    if let Some(ticks) = ticks {
        out = out.with_overrides(&[("ticks".into(), toml::Value::Integer(i64::from(ticks)))], "--ticks")?;
    }
    if let Some(runs) = runs {
        out = out.with_overrides(&[("runs".into(), toml::Value::Integer(i64::from(runs)))], "--runs")?;
    }
    Ok(out)
}

/// The default base directory of a scenario file's runs: `results/<stem>`
/// (each run in a numbered directory under it).
pub fn default_out_dir(scenario: &Path) -> PathBuf {
    let stem = scenario.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "run".into());
    PathBuf::from("results").join(stem)
}

/// Checks every (point, variant) scenario by building it (with one agent
/// per population) and returns the common output layout, with the
/// `[observed]` columns if the scenario has observed data (read and checked).
pub fn validate(plan: &Plan, registry: &Registry) -> Result<Layout, Error> {
    let mut layout: Option<Layout> = None;
    for (i, sc) in plan.scenarios.iter().enumerate() {
        let run = plan
            .runs
            .iter()
            .find(|r| r.scenario == i)
            .map(|r| r.spec.clone())
            .unwrap_or_else(|| RunSpec::single(0));
        let this = Layout::of(&Simulation::validate(sc, registry, &run)?);
        match &layout {
            None => layout = Some(this),
            Some(first) if *first != this => {
                return Err(Error::Run(format!(
                    "point {} variant `{}` writes different columns than point 0: every run of an experiment must have the same contracts, metrics, wallet slots and output options",
                    run.point_id, run.variant
                )));
            }
            Some(_) => {}
        }
    }
    let mut layout = layout.ok_or_else(|| Error::Run("the experiment has no runs".into()))?;
    // `[observed]` data: read and checked against every scenario's runs.
    if let Some(o) = crate::observed::Observed::load(&plan.scenarios[0])? {
        for sc in &plan.scenarios {
            layout.observed = crate::observed::backtest::columns(&o, sc, &layout.metric_columns)?;
        }
    }
    Ok(layout)
}

/// Runs the experiment of `loaded` (after overrides) into `opts.out_dir`
/// (or, with `opts.numbered`, a numbered directory under it). On any error
/// no manifest is written and no file is left under its final name by the
/// failed part.
pub fn run_experiment(
    loaded: &LoadedScenario,
    registry: &Registry,
    opts: &RunOptions,
    observer: &dyn Observer,
) -> Result<Summary, Error> {
    if !opts.numbered {
        return run_into(loaded, registry, opts, observer, &|| Ok(opts.out_dir.clone()));
    }
    if opts.shard != Shard::ALL {
        return Err(Error::Run(format!(
            "--shard {} needs an explicit output directory (-o DIR) shared by every shard",
            opts.shard
        )));
    }
    let base = &opts.out_dir;
    let dir = || match opts.resume {
        false => rundir::create_next(base),
        true => rundir::newest(base)?.ok_or_else(|| {
            Error::Run(format!("{}: no earlier run to resume (no run-NNN directory)", base.display()))
        }),
    };
    let summary = run_into(loaded, registry, opts, observer, &dir)?;
    rundir::mark_latest(base, &summary.out_dir)?;
    Ok(summary)
}

/// [`run_experiment`] into the directory `dir` gives, asked once the
/// experiment is known to be valid (so a bad scenario creates nothing).
fn run_into(
    loaded: &LoadedScenario,
    registry: &Registry,
    opts: &RunOptions,
    observer: &dyn Observer,
    dir: &dyn Fn() -> Result<PathBuf, Error>,
) -> Result<Summary, Error> {
    let started = Instant::now();
    let plan = match &opts.adaptive {
        None => expand(loaded)?,
        Some(a) => adaptive_plan(loaded, a, &opts.shard)?,
    };
    let layout = validate(&plan, registry)?;
    if opts.adaptive.is_some() && layout.properties.is_empty() {
        return Err(Error::Run(
            "--ci-width sizes the runs by the properties' intervals, and the scenario declares no [properties.*]".into(),
        ));
    }
    let observed =
        if layout.observed.is_empty() { None } else { crate::observed::Observed::load(&plan.scenarios[0])? };
    let diagram = match plan.scenarios.first() {
        Some(first) => Some(crate::report::Diagram::of_scenario(first, registry)?),
        None => None,
    };
    let selected: Vec<&PlannedRun> =
        plan.runs.iter().enumerate().filter(|(i, _)| opts.shard.contains(*i)).map(|(_, r)| r).collect();
    let shard_suffix = opts.shard.suffix();
    // What makes two directories (or shards) the same experiment.
    let experiment = serde_json::json!({
        "scenario": serde_json::to_value(&loaded.scenario).map_err(|e| Error::Run(e.to_string()))?,
        "parts": opts.parts,
        "runs": plan.runs.len(),
        "adaptive": opts.adaptive.as_ref().map(|a| (a.half_width, a.max_runs)),
        "version": env!("CARGO_PKG_VERSION"),
    })
    .to_string();
    let fingerprint = format!("{experiment}{SHARD_SEPARATOR}{}", opts.shard);
    let opts = &RunOptions { out_dir: dir()?, numbered: false, ..opts.clone() };

    // One writer per directory and shard until the manifest is written.
    let _lock = crate::output::lock::DirLock::acquire(&opts.out_dir, &shard_suffix)?;
    let manifest_path = opts.out_dir.join(manifest_name(&shard_suffix));
    if opts.resume
        && let Some(done) = Manifest::read(&manifest_path)
        && done.fingerprint == fingerprint
        && done.files.keys().all(|f| opts.out_dir.join(f).is_file())
    {
        let runs = done.runs as usize;
        return Ok(Summary { manifest: done, out_dir: opts.out_dir.clone(), resumed_runs: runs });
    }
    prepare(&opts.out_dir, opts, &shard_suffix, &fingerprint)?;
    let metadata = vec![
        ("tokensim.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("tokensim.scenario".to_string(), loaded.scenario.name.clone()),
        ("tokensim.seed".to_string(), loaded.scenario.seed.to_string()),
    ];

    // Batches of replicates: one holding every run, or with --ci-width
    // replicates [0, R), [R, 2R), [2R, 4R)… until the intervals are narrow
    // enough. Each batch has its own files, so a batch once written is
    // never redone.
    let bounds = match &opts.adaptive {
        None => vec![u32::MAX],
        Some(a) => a.batches(loaded.scenario.runs),
    };
    let ctx = PartContext { plan: &plan, registry, layout: &layout, opts, metadata: &metadata, observer };
    let gates = Gates { properties: layout.properties.clone() };
    let (mut records, mut executed, mut markers) = (Vec::new(), Vec::new(), Vec::new());
    let mut resumed = 0;
    let mut stopped = None;
    let mut low = 0;
    for (b, &high) in bounds.iter().enumerate() {
        let batch: Vec<&PlannedRun> =
            selected.iter().filter(|r| (low..high).contains(&r.spec.replicate)).copied().collect();
        low = high;
        let prefix =
            if opts.adaptive.is_some() { format!("{shard_suffix}-b{b:03}") } else { shard_suffix.clone() };
        let done = run_parts(&ctx, &batch, &prefix, &fingerprint)?;
        resumed += done.resumed;
        records.extend(done.records);
        markers.extend(done.markers);
        executed.extend(batch);
        if let Some(a) = &opts.adaptive {
            let rows = risk_table(&gates, &sorted_outcomes(&records));
            let widest = rows
                .iter()
                .filter(|r| r.property != crate::properties::risk::INVARIANTS)
                .map(|r| crate::properties::risk::half_width(r.failures, r.runs))
                .fold(0.0, f64::max);
            let outcome = |reason: String| AdaptiveOutcome {
                half_width: a.half_width,
                max_runs: a.max_runs,
                replicates: high,
                widest_half_width: widest,
                reason,
            };
            if widest <= a.half_width {
                stopped = Some(outcome(format!(
                    "every property's 95% interval is within ±{} in every group after {high} replicates (widest ±{widest:.4})",
                    a.half_width
                )));
                break;
            }
            if high >= a.max_runs {
                stopped = Some(outcome(format!(
                    "reached --max-runs {} replicates per group; the widest 95% interval is ±{widest:.4}, more than ±{}",
                    a.max_runs, a.half_width
                )));
                break;
            }
        }
    }

    let rows: Vec<RunRow> = executed
        .iter()
        .map(|r| {
            let sc = &plan.scenarios[r.scenario].scenario;
            let mut spec = r.spec.clone();
            spec.params = Vec::new();
            RunRow {
                spec,
                n_agents: sc.populations.values().map(|p| p.count).sum(),
                ticks: sc.ticks,
                params: r
                    .spec
                    .params
                    .iter()
                    .map(|(p, v)| (crate::engine::ledger::column_name(p), v.clone()))
                    .collect(),
            }
        })
        .collect();
    let runs_path = opts.out_dir.join(file_name("runs", &shard_suffix));
    let swept: Vec<(String, ParamType)> =
        plan.swept.iter().zip(&plan.swept_types).map(|(p, t)| (swept_column(p), *t)).collect();
    let batch = runs_batch(&rows, &swept)?;
    let mut runs_sink = ParquetSink::create(&runs_path, batch.schema(), metadata.clone())?;
    runs_sink.write(batch)?;
    let runs_rows = runs_sink.finish()?;

    let mut files: BTreeMap<String, u64> = BTreeMap::new();
    files.insert(file_name("runs", &shard_suffix), runs_rows);
    let mut total = PartRecord::default();
    let properties = risk_table(&gates, &sorted_outcomes(&records));
    for r in &records {
        files.extend(r.files.clone());
        total.ticks += r.ticks;
        total.n_tx += r.n_tx;
        total.n_rejected += r.n_rejected;
        total.n_violations += r.n_violations;
        total.agent_ticks += r.agent_ticks;
        total.unplayed_orders += r.unplayed_orders;
    }
    let backtest = match &observed {
        Some(o) => {
            let specs: Vec<&RunSpec> = selected.iter().map(|r| &r.spec).collect();
            Some(crate::observed::backtest::score(
                o,
                &opts.out_dir,
                &files.keys().cloned().collect::<Vec<_>>(),
                &specs,
            )?)
        }
        None => None,
    };
    let wall = started.elapsed().as_secs_f64();
    let manifest = Manifest {
        status: "complete".into(),
        tool: "tokensim".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        scenario_file: loaded.source.path.display().to_string(),
        scenario_name: loaded.scenario.name.clone(),
        scenario: serde_json::to_value(&loaded.scenario).map_err(|e| Error::Run(e.to_string()))?,
        seed: loaded.scenario.seed,
        ticks: loaded.scenario.ticks,
        runs: executed.len() as u64,
        total_runs: if opts.adaptive.is_some() { executed.len() as u64 } else { plan.runs.len() as u64 },
        points: plan.n_points as u64,
        variants: plan.variants.iter().filter(|v| !v.is_empty()).cloned().collect(),
        swept: plan.swept.clone(),
        shard: opts.shard.to_string(),
        files,
        transactions: total.n_tx,
        rejected: total.n_rejected,
        violations: total.n_violations,
        unplayed_orders: total.unplayed_orders,
        threads: rayon::current_num_threads(),
        wall_seconds: wall,
        agent_ticks_per_second: total.agent_ticks as f64 / wall.max(1e-9),
        diagram,
        metrics: layout.column_infos(),
        observed: backtest,
        properties,
        adaptive: stopped,
        fingerprint,
    };
    manifest.write(&manifest_path)?;
    // Complete: the resume markers have served their purpose.
    markers.push(opts.out_dir.join(format!(".plan{shard_suffix}.json")));
    remove_files(&markers)?;
    Ok(Summary { manifest, out_dir: opts.out_dir.clone(), resumed_runs: resumed })
}

/// Every run's outcome, in run-id order.
fn sorted_outcomes(records: &[PartRecord]) -> Vec<RunOutcome> {
    let mut outcomes: Vec<RunOutcome> = records.iter().flat_map(|r| r.outcomes.iter().cloned()).collect();
    outcomes.sort_by_key(|o| o.run_id);
    outcomes
}

/// What every part of an experiment shares.
struct PartContext<'a> {
    plan: &'a Plan,
    registry: &'a Registry,
    layout: &'a Layout,
    opts: &'a RunOptions,
    metadata: &'a [(String, String)],
    observer: &'a dyn Observer,
}

/// What running (or resuming) one batch of runs produced.
struct BatchDone {
    records: Vec<PartRecord>,
    markers: Vec<PathBuf>,
    resumed: usize,
}

/// Runs `runs` split into parts in parallel, files named with `prefix`
/// (and `-pNNN` when there are several parts); a part whose `.done`
/// marker matches is taken as it is when resuming.
fn run_parts(
    ctx: &PartContext<'_>,
    runs: &[&PlannedRun],
    prefix: &str,
    fingerprint: &str,
) -> Result<BatchDone, Error> {
    let n_parts = runs.len().min(ctx.opts.parts.max(1)).max(1);
    let part_suffix = |p: usize| if n_parts > 1 { format!("{prefix}-p{p:03}") } else { prefix.to_string() };
    let parts: Vec<(usize, Vec<&PlannedRun>)> = (0..n_parts)
        .map(|p| (p, runs.iter().enumerate().filter(|(i, _)| i % n_parts == p).map(|(_, r)| *r).collect()))
        .collect();
    let dir = &ctx.opts.out_dir;
    let resumed = std::sync::atomic::AtomicUsize::new(0);
    let records: Vec<PartRecord> = parts
        .par_iter()
        .map(|(p, runs)| {
            let suffix = part_suffix(*p);
            let marker = dir.join(format!(".done{suffix}.json"));
            let part_fingerprint = format!("{fingerprint}{prefix}#{p}");
            if ctx.opts.resume {
                if let Some(record) = read_marker(&marker, &part_fingerprint) {
                    resumed.fetch_add(runs.len(), std::sync::atomic::Ordering::Relaxed);
                    return Ok(record);
                }
                remove_part_files(dir, &suffix)?;
            }
            let record =
                run_part(ctx.plan, runs, ctx.registry, ctx.layout, dir, &suffix, ctx.metadata, ctx.observer)?;
            let record = PartRecord { fingerprint: part_fingerprint, ..record };
            let json = serde_json::to_vec_pretty(&record).map_err(|e| Error::Run(e.to_string()))?;
            write_atomic(&marker, &json)?;
            Ok(record)
        })
        .collect::<Result<_, Error>>()?;
    let markers = (0..n_parts).map(|p| dir.join(format!(".done{}.json", part_suffix(p)))).collect();
    Ok(BatchDone { records, markers, resumed: resumed.into_inner() })
}

/// `--ci-width W [--max-runs N]`: add replicates in batches until every
/// property's 95 % interval, in every group, is at most `W` either side.
#[derive(Clone, Debug, PartialEq)]
pub struct Adaptive {
    /// The largest half-width accepted.
    pub half_width: f64,
    /// Replicates per group at most.
    pub max_runs: u32,
}

impl Adaptive {
    /// The replicate counts after each batch: the scenario's `runs`, then
    /// doubling, up to `max_runs`.
    fn batches(&self, first: u32) -> Vec<u32> {
        let mut out = vec![first.clamp(1, self.max_runs)];
        while let Some(&last) = out.last()
            && last < self.max_runs
        {
            out.push(last.saturating_mul(2).min(self.max_runs));
        }
        out
    }
}

/// The plan of an adaptive experiment: `max_runs` replicates per group,
/// numbered replicate-major (every group's replicate 0, then 1, …), so that
/// the runs of the first `R` replicates keep their ids whatever `R` the
/// intervals stop at. Seeds are the usual ones: replicate `r` has the same
/// seed as in `tokensim run --runs N`.
fn adaptive_plan(loaded: &LoadedScenario, a: &Adaptive, shard: &Shard) -> Result<Plan, Error> {
    if *shard != Shard::ALL {
        return Err(Error::Run(
            "--ci-width decides the runs as it goes and cannot be sharded; drop --shard".into(),
        ));
    }
    if !(a.half_width > 0.0 && a.half_width < 0.5) {
        return Err(Error::Run(format!(
            "--ci-width {} must be in (0, 0.5): a half-width of a probability's interval",
            a.half_width
        )));
    }
    if a.max_runs < loaded.scenario.runs.max(1) {
        return Err(Error::Run(format!(
            "--max-runs {} is below the scenario's runs = {}",
            a.max_runs, loaded.scenario.runs
        )));
    }
    let all = loaded
        .with_overrides(&[("runs".into(), toml::Value::Integer(i64::from(a.max_runs)))], "--max-runs")?;
    let mut plan = expand(&all)?;
    plan.runs.sort_by_key(|r| (r.spec.replicate, r.spec.run_id));
    for (i, r) in plan.runs.iter_mut().enumerate() {
        r.spec.run_id = i as u32;
    }
    Ok(plan)
}

#[allow(clippy::too_many_arguments)]
fn run_part(
    plan: &Plan,
    runs: &[&PlannedRun],
    registry: &Registry,
    layout: &Layout,
    dir: &Path,
    suffix: &str,
    metadata: &[(String, String)],
    observer: &dyn Observer,
) -> Result<PartRecord, Error> {
    let mut writer = DatasetWriter::create(dir, suffix, layout, metadata.to_vec())?;
    let (mut agent_ticks, mut unplayed_orders) = (0u64, 0u64);
    let mut outcomes = Vec::with_capacity(runs.len());
    for run in runs {
        let mut sim = Simulation::new(&plan.scenarios[run.scenario], registry, &run.spec)?;
        let violations_before = writer.stats.n_violations;
        for _ in 0..sim.ticks {
            sim.step();
            writer.record_tick(&mut sim)?;
            observer.tick();
        }
        let verdicts = sim.verdicts();
        writer.record_verdicts(run.spec.run_id, &verdicts)?;
        outcomes.push(RunOutcome {
            run_id: run.spec.run_id,
            point_id: run.spec.point_id,
            variant: run.spec.variant.clone(),
            verdicts: verdicts.iter().map(|v| (v.held, v.margin)).collect(),
            violations: writer.stats.n_violations - violations_before,
        });
        agent_ticks += sim.n_agents * u64::from(sim.ticks);
        unplayed_orders += sim.pending_orders() as u64;
        observer.run_done(&run.spec);
    }
    let WriteStats { ticks, n_tx, n_rejected, n_violations } = writer.stats;
    let files = writer.finish()?.into_iter().collect();
    Ok(PartRecord {
        fingerprint: String::new(),
        files,
        ticks,
        n_tx,
        n_rejected,
        n_violations,
        agent_ticks,
        unplayed_orders,
        outcomes,
    })
}

/// Whether file `name` carries shard marker `marker` (`-s1of3`) exactly:
/// followed by `-` or `.`, so shard 1/3 never claims shard 1/30's files.
fn has_marker(name: &str, marker: &str) -> bool {
    name.match_indices(marker).any(|(i, m)| matches!(name[i + m.len()..].chars().next(), Some('-' | '.')))
}

fn read_marker(path: &Path, fingerprint: &str) -> Option<PartRecord> {
    let record: PartRecord = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let complete =
        record.fingerprint == fingerprint && record.files.keys().all(|f| path.with_file_name(f).is_file());
    complete.then_some(record)
}

fn remove_part_files(dir: &Path, suffix: &str) -> Result<(), Error> {
    let mut paths = Vec::new();
    for table in crate::output::dataset::TABLES {
        let path = dir.join(file_name(table, suffix));
        paths.push(partial_path(&path));
        paths.push(path);
    }
    remove_files(&paths)
}

/// Makes the directory ready: creates it, refuses to touch this shard's
/// existing results unless `force` (which removes them) or `resume` (which
/// requires they come from the same experiment).
fn prepare(dir: &Path, opts: &RunOptions, shard_suffix: &str, fingerprint: &str) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| is_ours(n))
        .collect();
    if !shard_suffix.is_empty() {
        check_other_shards(dir, &names, shard_suffix, fingerprint)?;
    }
    let ours: Vec<PathBuf> = names
        .iter()
        .filter(|n| shard_suffix.is_empty() || has_marker(n, shard_suffix))
        .map(|n| dir.join(n))
        .collect();
    let plan_marker = dir.join(format!(".plan{shard_suffix}.json"));
    let manifest = dir.join(manifest_name(shard_suffix));
    if opts.resume {
        if !ours.is_empty() {
            let planned = std::fs::read_to_string(&plan_marker).ok();
            let finished = Manifest::read(&manifest).map(|m| m.fingerprint);
            let same = planned.as_deref() == Some(fingerprint) || finished.as_deref() == Some(fingerprint);
            if !same {
                let why = if planned.is_none() && finished.is_none() {
                    "the results there have no record of the experiment that made them (no manifest, no .plan marker)"
                } else {
                    "the results there come from a different scenario, options or tokensim version"
                };
                return Err(Error::Run(format!(
                    "{}: cannot resume: {why}; use --force to start over",
                    dir.display()
                )));
            }
        }
        // Until it is rewritten at the end, the directory is incomplete.
        remove_files(&[manifest])?;
        remove_derived(dir)?;
    } else if !ours.is_empty() {
        if !opts.force {
            return Err(Error::OutputExists(dir.into()));
        }
        remove_files(&[manifest])?;
        remove_files(&ours)?;
        remove_derived(dir)?;
    }
    write_atomic(&plan_marker, fingerprint.as_bytes())?;
    Ok(())
}

/// Separates the experiment from the shard in a fingerprint.
const SHARD_SEPARATOR: &str = "#shard=";

/// Refuses to put a shard next to files of another experiment: an
/// unsharded dataset, or shards of a different shard count, scenario or
/// options, which a glob read would silently mix.
fn check_other_shards(
    dir: &Path,
    names: &[String],
    shard_suffix: &str,
    fingerprint: &str,
) -> Result<(), Error> {
    let (experiment, shard) = fingerprint.split_once(SHARD_SEPARATOR).unwrap_or((fingerprint, ""));
    let count = shard.split_once('/').map_or("", |(_, n)| n);
    for name in names {
        if has_marker(name, shard_suffix) {
            continue;
        }
        let refuse = |what: &str| {
            Err(Error::Run(format!(
                "{}: holds {what} ({name}); shards of one experiment may share a directory, different experiments may not: choose another directory",
                dir.display()
            )))
        };
        let Some(stem) = name.strip_suffix(".json") else {
            if !name.contains("-s") {
                return refuse("an unsharded dataset");
            }
            continue;
        };
        let recorded = if stem.starts_with("manifest") {
            Manifest::read(&dir.join(name)).map(|m| m.fingerprint)
        } else if stem.starts_with(".plan") {
            std::fs::read_to_string(dir.join(name)).ok()
        } else {
            continue;
        };
        let Some(recorded) = recorded else { continue };
        let (their_experiment, their_shard) = recorded.split_once(SHARD_SEPARATOR).unwrap_or((&recorded, ""));
        let their_count = their_shard.split_once('/').map_or("", |(_, n)| n);
        if their_count != count {
            return refuse(&format!("shards of {their_count} (this is a shard of {count})"));
        }
        if their_experiment != experiment {
            return refuse("shards of a different scenario, options or tokensim version");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_markers_match_exactly() {
        assert!(has_marker("ticks-s1of3-p002.parquet", "-s1of3"));
        assert!(has_marker("manifest-s1of3.json", "-s1of3"));
        assert!(!has_marker("ticks-s1of30.parquet", "-s1of3"));
        assert!(!has_marker("manifest-s11of30.json", "-s1of3"));
    }
}
