//! `tokensim run SCENARIO`: runs an experiment into a results directory,
//! shows its progress, and says what it did, where, and what to try next.
//!
//! Without `-o`, every run goes into a new numbered directory under
//! `results/<stem>` with `latest` pointing at the newest
//! ([`crate::output::rundir`]), so editing and re-running never needs
//! `--force` and never loses a result; an explicit `-o DIR` keeps the rule
//! that existing results are only replaced with `--force`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{HumanCount, ProgressBar, ProgressStyle};

use super::args::thread_pool;
use super::text::{count, of_which, shell_path};
use super::{ScenarioArgs, risk};
use crate::engine::RunSpec;
use crate::engine::registry::Registry;
use crate::error::Error;
use crate::experiment::runner::Adaptive;
use crate::experiment::{Observer, RunOptions, Shard, Summary, default_out_dir, expand, run_experiment};
use crate::output::rundir::{self, LATEST};
use crate::output::tables::first_violation;

/// Arguments of `tokensim run`.
#[derive(clap::Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct RunArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Results directory [default: a new `results/<scenario file stem>/run-NNN`,
    /// with `results/<stem>/latest` pointing at the newest finished run].
    #[arg(short, long)]
    out: Option<PathBuf>,
    /// Replace existing results in the -o directory.
    #[arg(long, conflicts_with = "resume")]
    force: bool,
    /// Continue an interrupted experiment in the output directory (without
    /// -o: the newest run-NNN), skipping the parts whose results are complete.
    #[arg(long)]
    resume: bool,
    /// Also write every transaction to events.parquet (same as
    /// `[output] events = true`): one row per transaction, the largest
    /// table by far.
    #[arg(long)]
    events: bool,
    /// Run only shard K of N of the run list (e.g. 3/8) into the -o
    /// directory all shards share; files carry the shard in their names.
    /// For Slurm arrays: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT.
    #[arg(long, value_name = "K/N", requires = "out")]
    shard: Option<Shard>,
    /// Split the runs into at most this many files per table.
    #[arg(long, default_value_t = crate::experiment::runner::DEFAULT_PARTS as u16, value_parser = clap::value_parser!(u16).range(1..))]
    parts: u16,
    /// Worker threads [default: all cores].
    #[arg(short, long, allow_negative_numbers = true, value_parser = super::args::parse_jobs)]
    jobs: Option<usize>,
    /// No progress bar and no summary.
    #[arg(short, long)]
    quiet: bool,
    /// Add replicates in batches (the scenario's `runs`, then doubling)
    /// until every property's 95 % interval of P(fail), in every group,
    /// is at most W either side (e.g. 0.05).
    #[arg(long, value_name = "W", conflicts_with = "shard")]
    ci_width: Option<f64>,
    /// With --ci-width: replicates per group at most.
    #[arg(long, value_name = "N", default_value_t = 1000, requires = "ci_width", value_parser = clap::value_parser!(u32).range(1..))]
    max_runs: u32,
}

/// The end of `tokensim run --help`: where results go, and sweeps by `--set`.
const AFTER_HELP: &str = "\
Results directories:
  Without -o, each run writes a new directory results/<stem>/run-001, run-002, ...
  and, when it finishes, points results/<stem>/latest at the newest: rerun after
  every edit and nothing is overwritten (delete old runs yourself). With -o DIR,
  existing results in DIR are refused unless --force.

Sweeps, variants and replicates from the command line (--set takes any dotted
path, including those inside [sweep] and [variants.*]; values are TOML):
  --set 'sweep.contracts.curve.entry_tribute=[0.01, 0.05, 0.1]'
  --set variants.no_exit_fee.contracts.curve.exit_tribute=0.0
  --runs 8

Exit codes: 0 success, 2 error, 3 a mechanism invariant broke (see
violations.parquet), 4 a property's gate failed.";

/// Runs `tokensim run`: exit 0, or 3 when an invariant broke, 4 when a
/// property's gate failed.
pub fn run(args: RunArgs, registry: &Registry) -> Result<ExitCode, Error> {
    let mut loaded = args.scenario.load()?;
    if args.events {
        loaded =
            loaded.with_overrides(&[("output.events".into(), toml::Value::Boolean(true))], "--events")?;
    }
    let opts = RunOptions {
        force: args.force,
        resume: args.resume,
        shard: args.shard.unwrap_or(Shard::ALL),
        parts: usize::from(args.parts),
        adaptive: args.ci_width.map(|half_width| Adaptive { half_width, max_runs: args.max_runs }),
        ..match &args.out {
            Some(dir) => RunOptions::new(dir),
            None => RunOptions::numbered(default_out_dir(&args.scenario.scenario)),
        }
    };
    let pool = thread_pool(args.jobs)?;
    let plan = expand(&loaded)?;
    let selected: Vec<_> =
        plan.runs.iter().enumerate().filter(|(i, _)| opts.shard.contains(*i)).map(|(_, r)| r).collect();
    let total_ticks = selected.iter().map(|r| u64::from(plan.scenarios[r.scenario].scenario.ticks)).sum();
    let progress = match args.ci_width {
        None => Progress::new(args.quiet, Some(total_ticks), Some(selected.len() as u64)),
        Some(_) => Progress::new(args.quiet, None, None),
    };
    let summary = pool.install(|| run_experiment(&loaded, registry, &opts, &progress))?;
    progress.bar.finish_and_clear();
    let m = &summary.manifest;
    if !args.quiet {
        eprintln!("{}", summary_line(&summary));
    }
    if m.unplayed_orders > 0 {
        eprintln!(
            "warning: {} scheduled after the last tick ({}) were not applied",
            count(m.unplayed_orders, "replayed order", "replayed orders"),
            m.ticks
        );
    }
    let labels = risk::point_labels(&plan);
    let table = risk::risk_table_text(m, &labels);
    if !args.quiet && !table.is_empty() {
        eprintln!("properties (95% Wilson intervals):\n{table}");
    }
    if !args.quiet
        && let Some(a) = &m.adaptive
    {
        eprintln!("--ci-width: stopped: {}", a.reason);
    }
    if !args.quiet {
        eprintln!("{}", next_steps(&summary, opts.numbered));
    }
    if m.violations > 0 {
        let files: Vec<&str> =
            m.files.keys().filter(|f| f.starts_with("violations")).map(String::as_str).collect();
        eprintln!(
            "error: {}; see {}",
            count(m.violations, "invariant violation", "invariant violations"),
            files.join(", ")
        );
        if let Some(first) = files.first()
            && let Ok(Some((run_id, tick, v))) = first_violation(&summary.out_dir.join(first))
        {
            eprintln!(
                "first: run {run_id}, tick {tick}: `{}` {}: expected {}, actual {}",
                v.source, v.invariant, v.expected, v.actual
            );
        }
        return Ok(ExitCode::from(3));
    }
    let gate = risk::gate_messages(m, &labels);
    if !gate.is_empty() {
        for line in gate {
            eprintln!("error: {line}");
        }
        return Ok(ExitCode::from(4));
    }
    Ok(ExitCode::SUCCESS)
}

/// `market: 1 run × 365 ticks, 576,224 transactions, none rejected, no
/// invariant violated, in 7.31 s (0.5 M agent-ticks/s) → results/market/run-002`.
fn summary_line(summary: &Summary) -> String {
    let m = &summary.manifest;
    let resumed = match summary.resumed_runs {
        0 => String::new(),
        n => format!(" ({} resumed from earlier results)", HumanCount(n as u64)),
    };
    let violations = match m.violations {
        0 => "no invariant violated".to_string(),
        n => count(n, "invariant violation", "invariant violations"),
    };
    let rate = if m.runs > 1 {
        format!("{:.1} runs/s, ", m.runs as f64 / m.wall_seconds.max(1e-9))
    } else {
        String::new()
    };
    format!(
        "{}: {}{resumed} × {}, {}, {violations}, in {:.2} s ({rate}{:.1} M agent-ticks/s) → {}",
        if m.scenario_name.is_empty() { "scenario" } else { &m.scenario_name },
        count(m.runs, "run", "runs"),
        count(u64::from(m.ticks), "tick", "ticks"),
        of_which(m.transactions, "transaction", "transactions", m.rejected, "rejected"),
        m.wall_seconds,
        m.agent_ticks_per_second / 1e6,
        summary.out_dir.display()
    )
}

/// What to try next: the report of this directory (and, for numbered
/// runs, the `latest` link if it names this run).
fn next_steps(summary: &Summary, numbered: bool) -> String {
    let dir = shell_path(&summary.out_dir);
    let mut text = format!("next: tokensim report {dir}");
    if numbered
        && let Some(base) = summary.out_dir.parent()
        && rundir::latest(base).as_deref() == Some(summary.out_dir.as_path())
    {
        text.push_str(&format!("   (the newest run is also {})", shell_path(&base.join(LATEST))));
    }
    text
}

/// A progress bar over all ticks of all runs, with runs done / total.
/// Hidden with `--quiet` or when stderr is not a terminal.
/// With `--ci-width` the number of runs is not known in advance: the bar
/// then counts runs and ticks without a total or an ETA.
struct Progress {
    bar: ProgressBar,
    runs_done: AtomicU64,
    runs: Option<u64>,
}

impl Progress {
    fn new(quiet: bool, ticks: Option<u64>, runs: Option<u64>) -> Self {
        let bar = if quiet || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let (bar, template) = match ticks {
                Some(t) => (
                    ProgressBar::new(t),
                    "{spinner} [{elapsed_precise}] {wide_bar} runs {msg} · ticks {human_pos}/{human_len} ({per_sec}) · eta {eta}",
                ),
                None => (
                    ProgressBar::no_length(),
                    "{spinner} [{elapsed_precise}] runs {msg} (adding replicates until the intervals are narrow) · ticks {human_pos} ({per_sec})",
                ),
            };
            bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
            bar.set_message(Progress::runs_text(0, runs));
            bar
        };
        Progress { bar, runs_done: AtomicU64::new(0), runs }
    }

    fn runs_text(done: u64, runs: Option<u64>) -> String {
        match runs {
            Some(n) => format!("{done}/{n}"),
            None => done.to_string(),
        }
    }
}

impl Observer for Progress {
    fn tick(&self) {
        self.bar.inc(1);
    }

    fn run_done(&self, _run: &RunSpec) {
        let done = self.runs_done.fetch_add(1, Ordering::Relaxed) + 1;
        self.bar.set_message(Progress::runs_text(done, self.runs));
    }
}
