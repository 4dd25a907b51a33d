//! The `tokensim` command line: parses arguments and calls the library.
//!
//! [`main_with`] is the whole CLI for any registry, so a user's own binary
//! with its own mechanisms keeps every subcommand, flag and exit code:
//!
//! ```no_run
//! use tokensim::prelude::*;
//! fn main() -> std::process::ExitCode {
//!     let mut registry = Registry::builtin();
//!     // registry.add_mechanism(MyMechanism); registry.add_behaviour(MyBehaviour);
//!     tokensim::cli::main_with(registry)
//! }
//! ```

mod args;
pub mod calibrate;
mod list;
mod metrics;
pub mod run;
pub mod sensitivity;
pub mod stress;

use std::path::PathBuf;
use std::process::ExitCode;

mod risk;
mod text;

use crate::prelude::*;
use clap::{Parser, Subcommand};

use crate::experiment::{apply_overrides, expand};

/// Agent-based simulation for token engineering.
#[derive(Parser)]
#[command(name = "tokensim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A scenario file and the overrides applied to it.
#[derive(clap::Args)]
struct ScenarioArgs {
    /// Scenario file (TOML).
    scenario: PathBuf,
    /// Override the scenario's master seed.
    #[arg(long, allow_negative_numbers = true, value_parser = args::parse_seed)]
    seed: Option<u64>,
    /// Override the number of ticks.
    #[arg(long, allow_negative_numbers = true)]
    ticks: Option<u32>,
    /// Override the Monte Carlo replicates per point.
    #[arg(long, allow_negative_numbers = true)]
    runs: Option<u32>,
    /// Set any scenario value by dotted path, e.g.
    /// `--set contracts.curve.entry_tribute=0.1` (repeatable; the value is
    /// TOML). Paths inside `[sweep]` and `[variants.*]` work too:
    /// `--set 'sweep.contracts.curve.slope=[1e-6, 2e-6]'`.
    #[arg(long = "set", value_name = "PATH=VALUE", value_parser = crate::scenario::parse_assignment)]
    sets: Vec<(String, toml::Value)>,
}

impl ScenarioArgs {
    fn load(&self) -> Result<LoadedScenario, Error> {
        apply_overrides(&LoadedScenario::load(&self.scenario)?, &self.sets, self.seed, self.ticks, self.runs)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and write its results as a Parquet dataset.
    Run(run::RunArgs),
    /// Check a scenario without running it.
    Validate {
        #[command(flatten)]
        scenario: ScenarioArgs,
    },
    /// List registered mechanisms (parameters, metrics), behaviours
    /// (parameters, decision rule) and actions.
    List {
        /// Print a Markdown reference (as in docs/reference.md) instead.
        #[arg(long)]
        markdown: bool,
    },
    /// List the columns a scenario's ticks.parquet will have, with their
    /// meaning, unit, stock or flow, and when in the tick each is taken.
    Metrics {
        #[command(flatten)]
        scenario: ScenarioArgs,
    },
    /// Write an HTML report of a results directory: trajectories with their
    /// 5–95 % band per point and variant, final values, the scenario, its
    /// diagram and every invariant violation.
    Report {
        /// Results directory (written by `tokensim run`).
        dir: PathBuf,
        /// HTML file to write [default: DIR/report.html].
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Metrics (tick columns) to draw, comma-separated [default: all].
        #[arg(long, value_delimiter = ',')]
        metrics: Option<Vec<String>>,
        /// Lines per chart at most; more groups are drawn as small
        /// multiples of this many lines each.
        #[arg(long, default_value_t = crate::report::DEFAULT_MAX_LINES)]
        max_lines: usize,
        /// Compare runs at this tick in the by-parameter, delta and
        /// final-value views [default: each run's last tick].
        #[arg(long)]
        tick: Option<u32>,
        /// Replace an existing report.
        #[arg(long)]
        force: bool,
        /// No summary line.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Fit a scenario's `[search]` dimensions to its `[observed]` data.
    Calibrate(calibrate::CalibrateArgs),
    /// Morris or Sobol sensitivity indices of a `[sweep] mode = "morris"`
    /// or `"sobol"` results directory: a ranked table and
    /// DIR/sensitivity.parquet.
    Sensitivity(sensitivity::SensitivityArgs),
    /// Search the scenario's `[search]` space for the point that minimises
    /// a property's margin; shrink a failure into DIR/counterexample.toml
    /// (exit code 4), with every evaluation in DIR/search.parquet.
    Stress(stress::StressArgs),
    /// Print a scenario's stock-and-flow diagram (Mermaid, DOT or SVG),
    /// derived from what its contracts and populations declare (for a
    /// sweep: its first point and variant).
    Graph {
        #[command(flatten)]
        scenario: ScenarioArgs,
        /// Output format.
        #[arg(long, default_value = "mermaid", value_parser = ["mermaid", "dot", "svg"])]
        format: String,
    },
}

/// Parses the process's arguments and runs the command against `registry`;
/// returns the exit code: 0 ok, 2 error (bad scenario, file, arguments),
/// 3 a mechanism invariant broke, 4 a property's gate failed (its
/// `max_failure_rate` is not shown at 95 % confidence).
pub fn main_with(registry: Registry) -> ExitCode {
    main_from(registry, std::env::args_os())
}

/// [`main_with`] with explicit arguments, the first being the program name:
/// for a CLI started from another entry point (the Python package's
/// `tokensim` command). Usage errors print clap's message and return its
/// exit code (2) instead of exiting the process.
pub fn main_from<I, T>(registry: Registry, args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match crate::engine::population::catch_failure(|| execute(cli.command, &registry)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn execute(command: Command, registry: &Registry) -> Result<ExitCode, Error> {
    match command {
        Command::Run(args) => run::run(args, registry),
        Command::Validate { scenario: args } => {
            let loaded = args.load()?;
            let scenario = &args.scenario;
            let plan = expand(&loaded)?;
            let layout = crate::experiment::runner::validate(&plan, registry)?;
            // `[search]` is read only by stress and calibrate; check it as they would.
            let space = if loaded.scenario.search.is_empty() {
                None
            } else {
                Some(crate::search::space::Space::of(&loaded)?)
            };
            let sc = &loaded.scenario;
            emit(&format!(
                "{}: ok — {} runs ({} points × {} variants × {} replicates), {} agents, {} contracts, {} ticks; tick columns: {}",
                scenario.display(),
                plan.runs.len(),
                plan.n_points,
                plan.variants.len(),
                sc.runs,
                sc.populations.values().map(|p| p.count).sum::<u64>(),
                sc.contracts.len(),
                sc.ticks,
                layout.metric_columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            ));
            if !layout.properties.is_empty() {
                let names: Vec<String> = layout
                    .properties
                    .iter()
                    .map(|(name, rate)| match rate {
                        Some(r) => format!("{name} (gate {r})"),
                        None => name.clone(),
                    })
                    .collect();
                emit(&format!("properties: {}", names.join(", ")));
            }
            if let Some(space) = space {
                let paths: Vec<&str> = space.dims.iter().map(|d| d.path.as_str()).collect();
                emit(&format!(
                    "search: {} ({} per candidate)",
                    paths.join(", "),
                    text::count(u64::from(space.replicates), "replicate", "replicates")
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::List { markdown } => {
            emit(if markdown { registry.reference_markdown() } else { list::text(registry) }.trim_end());
            Ok(ExitCode::SUCCESS)
        }
        Command::Metrics { scenario } => {
            emit(metrics::text(&scenario.load()?, registry)?.trim_end());
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { dir, out, metrics, max_lines, tick, force, quiet } => {
            if let Some(e) = crate::output::rundir::base_error(&dir) {
                return Err(e);
            }
            let opts = crate::report::ReportOptions { dir, out, metrics, max_lines, tick, force };
            let s = crate::report::write_report(&opts)?;
            if !quiet {
                eprintln!(
                    "report: {} groups × {} metrics from {} runs ({} tick rows), {} violations, in {:.2}s -> {}",
                    s.groups,
                    s.metrics,
                    s.runs,
                    s.rows,
                    s.violations,
                    s.seconds,
                    s.path.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Calibrate(args) => calibrate::run(args, registry),
        Command::Sensitivity(args) => sensitivity::run(args, registry),
        Command::Stress(args) => stress::run(args, registry),
        Command::Graph { scenario, format } => {
            let loaded = scenario.load()?;
            let plan = expand(&loaded)?;
            let first = plan.scenarios.first().unwrap_or(&loaded);
            let diagram = crate::report::Diagram::of_scenario(first, registry)?;
            let format: crate::report::GraphFormat = format.parse().map_err(Error::Run)?;
            emit(crate::report::render(&diagram, format).trim_end());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes `text` and a newline to stdout. A closed pipe (`tokensim list |
/// head`) ends the output quietly instead of panicking like `println!`.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}
