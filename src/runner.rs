//! Running a scenario into a results directory: overrides, the output
//! directory policy, building the world, streaming every tick and writing
//! the manifest last.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::engine::{RunSpec, Simulation};
use crate::error::Error;
use crate::output::runs::{RunRow, runs_batch};
use crate::output::sink::ParquetSink;
use crate::output::{DatasetWriter, Layout, Manifest, prepare_dir};
use crate::registry::Registry;
use crate::scenario::LoadedScenario;

/// How to run a scenario.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Results directory.
    pub out_dir: PathBuf,
    /// Replace existing results.
    pub force: bool,
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The manifest written.
    pub manifest: Manifest,
    /// Where.
    pub out_dir: PathBuf,
}

/// Applies `--set`, `--seed` and `--ticks` overrides to a loaded scenario.
pub fn apply_overrides(
    loaded: &LoadedScenario,
    sets: &[(String, toml::Value)],
    seed: Option<u64>,
    ticks: Option<u32>,
) -> Result<LoadedScenario, Error> {
    let mut all = sets.to_vec();
    if let Some(seed) = seed {
        let seed =
            i64::try_from(seed).map_err(|_| Error::Run(format!("--seed {seed} is above {}", i64::MAX)))?;
        all.push(("seed".into(), toml::Value::Integer(seed)));
    }
    if let Some(ticks) = ticks {
        all.push(("ticks".into(), toml::Value::Integer(i64::from(ticks))));
    }
    if all.is_empty() {
        return Ok(loaded.clone());
    }
    loaded.with_overrides(&all, "--set")
}

/// Runs a scenario into `opts.out_dir`, calling `progress(ticks_done)`
/// after every tick. On any error no manifest is written and no file is
/// left under its final name.
pub fn run_scenario(
    loaded: &LoadedScenario,
    registry: &Registry,
    opts: &RunOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Summary, Error> {
    let started = Instant::now();
    let spec = RunSpec::single(loaded.scenario.seed);
    // Build first: a scenario error must not touch the output directory.
    let mut sim = Simulation::new(loaded, registry, &spec)?;
    prepare_dir(&opts.out_dir, opts.force)?;
    let metadata = vec![
        ("tokensim.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("tokensim.scenario".to_string(), loaded.scenario.name.clone()),
        ("tokensim.seed".to_string(), loaded.scenario.seed.to_string()),
    ];
    let row = RunRow { spec: spec.clone(), n_agents: sim.n_agents, ticks: sim.ticks, params: Vec::new() };
    let batch = runs_batch(std::slice::from_ref(&row))?;
    let mut runs = ParquetSink::create(&opts.out_dir.join("runs.parquet"), batch.schema(), metadata.clone())?;
    runs.write(batch)?;
    let mut writer = DatasetWriter::create(&opts.out_dir, "", &Layout::of(&sim), metadata)?;
    for _ in 0..sim.ticks {
        sim.step();
        writer.record_tick(&mut sim)?;
        progress(u64::from(sim.tick()));
    }
    let stats = writer.stats;
    let mut files: std::collections::BTreeMap<String, u64> = writer.finish()?.into_iter().collect();
    files.insert("runs.parquet".into(), runs.finish()?);
    let wall = started.elapsed().as_secs_f64();
    let manifest = Manifest {
        status: "complete".into(),
        tool: "tokensim".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        scenario_file: loaded.source.path.display().to_string(),
        scenario_name: loaded.scenario.name.clone(),
        scenario: serde_json::to_value(&loaded.scenario).map_err(|e| Error::Run(e.to_string()))?,
        seed: loaded.scenario.seed,
        ticks: sim.ticks,
        runs: 1,
        files,
        transactions: stats.n_tx,
        rejected: stats.n_rejected,
        violations: stats.n_violations,
        threads: rayon::current_num_threads(),
        wall_seconds: wall,
        agent_ticks_per_second: (sim.n_agents as f64 * f64::from(sim.ticks)) / wall.max(1e-9),
    };
    manifest.write(&opts.out_dir)?;
    Ok(Summary { manifest, out_dir: opts.out_dir.clone() })
}

/// The default results directory of a scenario file: `results/<stem>`.
pub fn default_out_dir(scenario: &Path) -> PathBuf {
    let stem = scenario.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "run".into());
    PathBuf::from("results").join(stem)
}
