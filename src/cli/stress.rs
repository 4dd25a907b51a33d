//! `tokensim stress SCENARIO --property NAME [--budget N] [--objective
//! mean|worst] [-o DIR] [--jobs N] [--quiet] [--stop-at-failure]`: search
//! the scenario's `[search]` space for the smallest margin of a property,
//! shrink a failure, and write `DIR/search.parquet`, `DIR/stress.json`
//! and, when the property fails, `DIR/counterexample.toml`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};

use super::ScenarioArgs;
use super::args::thread_pool;
use crate::engine::registry::Registry;
use crate::engine::{RunSpec, Simulation};
use crate::error::Error;
use crate::experiment::{RunOptions, Silent, run_experiment};
use crate::search::evaluate::run_to_end;
use crate::search::space::Space;
use crate::search::stress::{Objective, StressOptions, StressOutcome, StressProgress, stress};
use crate::search::stress_dir;

/// Arguments of `tokensim stress`.
#[derive(clap::Args)]
pub struct StressArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// The declared property (`[properties.NAME]`) whose margin to minimise.
    #[arg(long)]
    property: String,
    /// Simulation runs the search may use (candidates × replicates).
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u64).range(1..))]
    budget: u64,
    /// Minimise the mean margin over the replicates, or the worst.
    #[arg(long, value_enum, default_value_t = Objective::Mean)]
    objective: Objective,
    /// Stop at the first failure found (then shrink it).
    #[arg(long)]
    stop_at_failure: bool,
    /// Output directory [default: `results/<scenario file stem>-stress`].
    #[arg(short, long)]
    out: Option<PathBuf>,
    /// Replace an earlier search's files in the output directory.
    #[arg(long)]
    force: bool,
    /// Worker threads [default: all cores]; results are the same at any.
    #[arg(short, long, allow_negative_numbers = true, value_parser = super::args::parse_jobs)]
    jobs: Option<usize>,
    /// No progress bar and no summary.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `tokensim stress`: exit 0 when the property held everywhere the
/// search looked, 4 when it found (and wrote) a counterexample.
pub fn run(args: StressArgs, registry: &Registry) -> Result<ExitCode, Error> {
    if args.scenario.runs.is_some() {
        return Err(Error::Run(
            "--runs: a stress search runs `replicates` (in [search]) per candidate".into(),
        ));
    }
    let loaded = args.scenario.load()?;
    let space = Space::of(&loaded)?;
    let property = property_index(&loaded, registry, &space, &args.property)?;
    let out_dir = args.out.clone().unwrap_or_else(|| default_dir(&args.scenario.scenario));
    stress_dir::prepare_dir(&out_dir, args.force)?;
    let pool = thread_pool(args.jobs)?;
    let opts = StressOptions {
        budget: args.budget as usize,
        seed: loaded.scenario.seed,
        objective: args.objective,
        stop_at_failure: args.stop_at_failure,
    };
    let margin = |sim: &mut Simulation| -> Result<f64, Error> {
        run_to_end(sim);
        Ok(sim.verdicts()[property].margin)
    };
    let bar = progress_bar(args.quiet, args.budget);
    let mut on_progress = |p: StressProgress| {
        bar.set_length(p.budget);
        bar.set_position(p.runs);
        bar.set_message(format!("best margin {:.4e}", p.best));
    };
    let started = std::time::Instant::now();
    let outcome = pool.install(|| stress(&loaded, registry, &space, &opts, &margin, &mut on_progress))?;
    bar.finish_and_clear();
    let mut cli_overrides = args.scenario.sets.clone();
    if let Some(seed) = args.scenario.seed {
        cli_overrides.push(("seed".into(), toml::Value::Integer(seed as i64)));
    }
    if let Some(ticks) = args.scenario.ticks {
        cli_overrides.push(("ticks".into(), toml::Value::Integer(i64::from(ticks))));
    }
    let files = stress_dir::write(
        &out_dir,
        &loaded,
        &registry.file_paths(&loaded.table),
        &cli_overrides,
        &space,
        &args.property,
        args.objective,
        &outcome,
    )?;
    if let Some(replays) = &files.replays {
        // The trajectories the report draws: the base scenario and the
        // counterexample, each with the search's replicates.
        for (scenario, sub) in replays.iter().zip(stress_dir::TRAJECTORY_DIRS) {
            let opts = RunOptions { force: true, ..RunOptions::new(out_dir.join(sub)) };
            pool.install(|| run_experiment(scenario, registry, &opts, &Silent))?;
        }
    }
    let replay = files
        .counterexample
        .as_ref()
        .map(|c| format!("tokensim run {} -o {}", c.display(), out_dir.join("replay").display()));
    if !args.quiet {
        eprintln!(
            "{}",
            summary(&space, &args.property, args.objective, &outcome, started.elapsed().as_secs_f64())
        );
        eprintln!(
            "wrote {}",
            files.written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    match replay {
        Some(cmd) => {
            super::emit(&cmd);
            Ok(ExitCode::from(4))
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

fn default_dir(scenario: &Path) -> PathBuf {
    let stem = scenario.file_stem().and_then(|s| s.to_str()).unwrap_or("scenario");
    PathBuf::from("results").join(format!("{stem}-stress"))
}

/// Checks the property exists and that both ends of every dimension build;
/// returns the property's position among the verdicts.
fn property_index(
    loaded: &crate::scenario::LoadedScenario,
    registry: &Registry,
    space: &Space,
    name: &str,
) -> Result<usize, Error> {
    let spec = RunSpec::single(loaded.scenario.seed);
    let sim = Simulation::validate(loaded, registry, &spec)?;
    let names: Vec<String> = sim.property_gates().into_iter().map(|(n, _)| n).collect();
    let Some(i) = names.iter().position(|n| n == name) else {
        let choices = if names.is_empty() {
            "the scenario declares none; add e.g. [properties.solvent] at_end = \"bad_debt <= 300000\""
                .to_string()
        } else {
            format!("declared: {}", names.join(", "))
        };
        return Err(loaded
            .source
            .error("properties", format!("--property {name}: no such property; {choices}"))
            .into());
    };
    for d in &space.dims {
        for x in [d.low, d.high] {
            let at = loaded.with_overrides(&[(d.path.clone(), d.value(x))], "search")?;
            Simulation::validate(&at, registry, &spec)?;
        }
    }
    Ok(i)
}

fn progress_bar(quiet: bool, budget: u64) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(budget);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} runs {human_pos}/{human_len} · {msg} · eta {eta}",
        )
        .expect("valid template"),
    );
    bar
}

/// What the search found, in one paragraph.
fn summary(space: &Space, property: &str, objective: Objective, out: &StressOutcome, seconds: f64) -> String {
    let stat = match objective {
        Objective::Mean => "mean",
        Objective::Worst => "worst",
    };
    let values = |x: &[Option<f64>]| -> String {
        space
            .dims
            .iter()
            .zip(x)
            .filter_map(|(d, v)| {
                v.map(|v| {
                    let base = d.base.map_or("unset".to_string(), |b| format!("{b}"));
                    format!("{} = {} (scenario: {base})", d.path, d.value(v))
                })
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let runs = format!(
        "{} runs searching + {} shrinking in {seconds:.1}s, {} replicates per candidate",
        out.runs.0, out.runs.1, space.replicates
    );
    match out.counterexample {
        Some(c) => {
            let r = &out.records[c];
            format!(
                "property `{property}` fails: {stat} margin {:.6e} ({} of {} replicates fail) with {}; {runs}",
                r.loss(objective),
                r.failures,
                r.replicates,
                if values(&r.x).is_empty() { "the scenario's own values".to_string() } else { values(&r.x) }
            )
        }
        None => {
            let r = &out.records[out.best];
            format!(
                "no failure of `{property}` found: smallest {stat} margin {:.6e} at {}; {runs}",
                r.loss(objective),
                values(&r.x)
            )
        }
    }
}
