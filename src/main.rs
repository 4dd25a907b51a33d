//! The `tokensim` command line: parses arguments and calls the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicU64, Ordering};
use tokensim::prelude::*;

use tokensim::engine::RunSpec as Run;
use tokensim::experiment::{
    Observer, RunOptions, Shard, apply_overrides, default_out_dir, expand, run_experiment,
};

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
    #[arg(long)]
    seed: Option<u64>,
    /// Override the number of ticks.
    #[arg(long)]
    ticks: Option<u32>,
    /// Override the Monte Carlo replicates per point.
    #[arg(long)]
    runs: Option<u32>,
    /// Set any scenario value by dotted path, e.g.
    /// `--set contracts.curve.entry_tribute=0.1` (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE", value_parser = tokensim::scenario::parse_assignment)]
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
    Run {
        #[command(flatten)]
        scenario: ScenarioArgs,
        /// Results directory [default: results/<scenario file stem>].
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Replace existing results in the output directory.
        #[arg(long, conflicts_with = "resume")]
        force: bool,
        /// Continue an interrupted experiment in the output directory,
        /// skipping the parts whose results are complete.
        #[arg(long)]
        resume: bool,
        /// Run only shard K of N of the run list (e.g. 3/8); files carry the
        /// shard in their names. For Slurm arrays:
        /// $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT.
        #[arg(long, value_name = "K/N")]
        shard: Option<Shard>,
        /// Split the runs into at most this many files per table.
        #[arg(long, default_value_t = tokensim::experiment::runner::DEFAULT_PARTS as u16, value_parser = clap::value_parser!(u16).range(1..))]
        parts: u16,
        /// Worker threads [default: all cores].
        #[arg(short, long)]
        jobs: Option<usize>,
        /// No progress bar and no summary.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Check a scenario without running it.
    Validate {
        #[command(flatten)]
        scenario: ScenarioArgs,
    },
    /// List registered mechanisms and behaviours with their parameters.
    List {
        /// Print a Markdown reference (as in docs/reference.md) instead.
        #[arg(long)]
        markdown: bool,
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
        #[arg(long, default_value_t = tokensim::report::DEFAULT_MAX_LINES)]
        max_lines: usize,
        /// Replace an existing report.
        #[arg(long)]
        force: bool,
        /// No summary line.
        #[arg(short, long)]
        quiet: bool,
    },
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn execute(command: Command) -> Result<ExitCode, Error> {
    let registry = Registry::builtin();
    match command {
        Command::Run { scenario, out, force, resume, shard, parts, jobs, quiet } => {
            let loaded = scenario.load()?;
            let opts = RunOptions {
                out_dir: out.unwrap_or_else(|| default_out_dir(&scenario.scenario)),
                force,
                resume,
                shard: shard.unwrap_or(Shard::ALL),
                parts: usize::from(parts),
            };
            let pool = thread_pool(jobs)?;
            let plan = expand(&loaded)?;
            let selected: Vec<_> = plan
                .runs
                .iter()
                .enumerate()
                .filter(|(i, _)| opts.shard.contains(*i))
                .map(|(_, r)| r)
                .collect();
            let total_ticks =
                selected.iter().map(|r| u64::from(plan.scenarios[r.scenario].scenario.ticks)).sum();
            let n_runs = selected.len() as u64;
            let progress = Progress::new(quiet, total_ticks, n_runs);
            let summary = pool.install(|| run_experiment(&loaded, &registry, &opts, &progress))?;
            progress.bar.finish_and_clear();
            let m = &summary.manifest;
            if !quiet {
                let resumed = if summary.resumed_runs > 0 {
                    format!(" ({} resumed from earlier results)", summary.resumed_runs)
                } else {
                    String::new()
                };
                eprintln!(
                    "{}: {} runs{resumed} × {} ticks, {} transactions ({} rejected), {} violations in {:.2}s ({:.1} runs/s, {:.1}M agent-ticks/s) -> {}",
                    if m.scenario_name.is_empty() { "scenario" } else { &m.scenario_name },
                    m.runs,
                    m.ticks,
                    m.transactions,
                    m.rejected,
                    m.violations,
                    m.wall_seconds,
                    m.runs as f64 / m.wall_seconds.max(1e-9),
                    m.agent_ticks_per_second / 1e6,
                    summary.out_dir.display()
                );
            }
            if m.unplayed_orders > 0 {
                eprintln!(
                    "warning: {} replayed orders are scheduled after the last tick ({}) and were not applied",
                    m.unplayed_orders, m.ticks
                );
            }
            if m.violations > 0 {
                let files: Vec<&str> =
                    m.files.keys().filter(|f| f.starts_with("violations")).map(String::as_str).collect();
                eprintln!("error: {} invariant violations; see {}", m.violations, files.join(", "));
                return Ok(ExitCode::from(3));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { scenario: args } => {
            let loaded = args.load()?;
            let scenario = &args.scenario;
            let plan = expand(&loaded)?;
            let layout = tokensim::experiment::runner::validate(&plan, &registry)?;
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
            Ok(ExitCode::SUCCESS)
        }
        Command::List { markdown } => {
            emit(if markdown { registry.reference_markdown() } else { list_text(&registry) }.trim_end());
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { dir, out, metrics, max_lines, force, quiet } => {
            let opts = tokensim::report::ReportOptions { dir, out, metrics, max_lines, force };
            let s = tokensim::report::write_report(&opts)?;
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
        Command::Graph { scenario, format } => {
            let loaded = scenario.load()?;
            let plan = expand(&loaded)?;
            let first = plan.scenarios.first().unwrap_or(&loaded);
            let diagram = tokensim::report::Diagram::of_scenario(first, &registry)?;
            let format: tokensim::report::GraphFormat = format.parse().map_err(Error::Run)?;
            emit(tokensim::report::render(&diagram, format).trim_end());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn thread_pool(jobs: Option<usize>) -> Result<rayon::ThreadPool, Error> {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = jobs {
        if n == 0 {
            return Err(Error::Run("--jobs must be at least 1".into()));
        }
        builder = builder.num_threads(n);
    }
    builder.build().map_err(|e| Error::Run(format!("thread pool: {e}")))
}

/// A progress bar over all ticks of all runs, with runs done / total.
/// Hidden with `--quiet` or when stderr is not a terminal.
struct Progress {
    bar: ProgressBar,
    runs_done: AtomicU64,
    runs: u64,
}

impl Progress {
    fn new(quiet: bool, ticks: u64, runs: u64) -> Self {
        let bar = if quiet || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new(ticks);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} runs {msg} · ticks {human_pos}/{human_len} ({per_sec}) · eta {eta}",
                )
                .expect("valid template"),
            );
            bar.set_message(format!("0/{runs}"));
            bar
        };
        Progress { bar, runs_done: AtomicU64::new(0), runs }
    }
}

impl Observer for Progress {
    fn tick(&self) {
        self.bar.inc(1);
    }

    fn run_done(&self, _run: &Run) {
        let done = self.runs_done.fetch_add(1, Ordering::Relaxed) + 1;
        self.bar.set_message(format!("{done}/{}", self.runs));
    }
}

/// Writes `text` and a newline to stdout. A closed pipe (`tokensim list |
/// head`) ends the output quietly instead of panicking like `println!`.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

/// What `tokensim list` prints: every registered kind with its parameters.
fn list_text(registry: &Registry) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let params = |s: &mut String, docs: &[ParamDoc]| {
        for p in docs {
            let default = p.default.map(|d| format!(" = {d}")).unwrap_or_else(|| " (required)".into());
            let _ = writeln!(s, "    {:<16} {:<28}{default}\n        {}", p.name, p.ty, p.doc);
        }
    };
    s.push_str("Mechanisms (contracts.<name>.kind):\n");
    for m in registry.mechanisms() {
        let _ = writeln!(s, "  {} — {}", m.name(), m.summary());
        params(&mut s, m.params());
    }
    s.push_str("\nBehaviours (populations.<name>.behaviours.<behaviour>):\n");
    for b in registry.behaviours() {
        let _ = writeln!(s, "  {} — {}", b.name(), b.summary());
        params(&mut s, b.params());
    }
    s.push_str("\nPer-agent params take a number or { dist = \"constant|uniform|normal|lognormal\", ... }.");
    s
}
