//! The `tokensim` command line: parses arguments and calls the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tokensim::prelude::*;
use tokensim::runner::{RunOptions, apply_overrides, default_out_dir, run_scenario};

/// Agent-based simulation for token engineering.
#[derive(Parser)]
#[command(name = "tokensim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and write its results as a Parquet dataset.
    Run {
        /// Scenario file (TOML).
        scenario: PathBuf,
        /// Results directory [default: results/<scenario file stem>].
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Override the scenario's master seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Override the number of ticks.
        #[arg(long)]
        ticks: Option<u32>,
        /// Set any scenario value by dotted path, e.g.
        /// `--set contracts.curve.entry_tribute=0.1` (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE", value_parser = tokensim::scenario::parse_assignment)]
        sets: Vec<(String, toml::Value)>,
        /// Replace existing results in the output directory.
        #[arg(long)]
        force: bool,
        /// Worker threads [default: all cores].
        #[arg(short, long)]
        jobs: Option<usize>,
        /// No progress bar and no summary.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Check a scenario without running it.
    Validate {
        /// Scenario file (TOML).
        scenario: PathBuf,
    },
    /// List registered mechanisms and behaviours with their parameters.
    List,
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
        Command::Run { scenario, out, seed, ticks, sets, force, jobs, quiet } => {
            let loaded = apply_overrides(&LoadedScenario::load(&scenario)?, &sets, seed, ticks)?;
            let opts = RunOptions { out_dir: out.unwrap_or_else(|| default_out_dir(&scenario)), force };
            let pool = thread_pool(jobs)?;
            let bar = progress_bar(quiet, u64::from(loaded.scenario.ticks));
            let summary =
                pool.install(|| run_scenario(&loaded, &registry, &opts, &|t| bar.set_position(t)))?;
            bar.finish_and_clear();
            let m = &summary.manifest;
            if !quiet {
                eprintln!(
                    "{}: {} ticks, {} transactions ({} rejected), {} violations in {:.2}s ({:.1}M agent-ticks/s) -> {}",
                    m.scenario_name,
                    m.ticks,
                    m.transactions,
                    m.rejected,
                    m.violations,
                    m.wall_seconds,
                    m.agent_ticks_per_second / 1e6,
                    summary.out_dir.display()
                );
            }
            if m.violations > 0 {
                eprintln!("error: {} invariant violations; see violations.parquet", m.violations);
                return Ok(ExitCode::from(3));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { scenario } => {
            let loaded = LoadedScenario::load(&scenario)?;
            let sim = Simulation::new(&loaded, &registry, &RunSpec::single(loaded.scenario.seed))?;
            let sc = &loaded.scenario;
            println!(
                "{}: ok — {} agents, {} contracts, {} ticks; columns: {}",
                scenario.display(),
                sim.n_agents,
                sc.contracts.len(),
                sc.ticks,
                sim.metric_columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::List => {
            print_list(&registry);
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

fn progress_bar(quiet: bool, len: u64) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} ticks ({per_sec}, eta {eta})",
        )
        .expect("valid template"),
    );
    bar
}

fn print_list(registry: &Registry) {
    let params = |docs: &[ParamDoc]| {
        for p in docs {
            let default = p.default.map(|d| format!(" = {d}")).unwrap_or_else(|| " (required)".into());
            println!("    {:<16} {:<28}{default}\n        {}", p.name, p.ty, p.doc);
        }
    };
    println!("Mechanisms (contracts.<name>.kind):");
    for m in registry.mechanisms() {
        println!("  {} — {}", m.name(), m.summary());
        params(m.params());
    }
    println!("\nBehaviours (populations.<name>.behaviours.<behaviour>):");
    for b in registry.behaviours() {
        println!("  {} — {}", b.name(), b.summary());
        params(b.params());
    }
    println!("\nPer-agent params take a number or {{ dist = \"constant|uniform|normal|lognormal\", ... }}.");
}
