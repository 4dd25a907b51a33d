//! `tokensim calibrate`: fit a scenario's `[search]` dimensions to its
//! `[observed]` data and print the fitted values with the loss in and out
//! of sample.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use crate::engine::registry::Registry;
use crate::error::Error;
use crate::observed::calibrate::{CalibrateOptions, DEFAULT_BUDGET, calibrate, write};
use crate::observed::loss::Loss;
use crate::scenario::LoadedScenario;

/// Arguments of `tokensim calibrate`.
#[derive(clap::Args)]
pub struct CalibrateArgs {
    /// Scenario file (TOML) with `[observed]` and `[search]` tables.
    pub scenario: PathBuf,
    /// Candidate evaluations (each runs the search's replicates).
    #[arg(long, default_value_t = DEFAULT_BUDGET)]
    pub budget: usize,
    /// Loss: rmse or log_rmse of the per-tick median across replicates, or
    /// moments (method of simulated moments on log returns).
    #[arg(long, default_value = "moments", value_parser = Loss::NAMES)]
    pub loss: String,
    /// Fraction of the observed ticks, at the end, held out of the fit and
    /// scored separately (e.g. 0.2).
    #[arg(long, default_value_t = 0.0)]
    pub holdout: f64,
    /// Output directory [default: results/STEM-calibration, STEM the
    /// scenario file name without extension].
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Replace an existing calibration in the output directory.
    #[arg(long)]
    pub force: bool,
    /// Set any scenario value by dotted path (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE", value_parser = crate::scenario::parse_assignment)]
    pub sets: Vec<(String, toml::Value)>,
    /// Worker threads [default: all cores].
    #[arg(short, long, allow_negative_numbers = true, value_parser = super::args::parse_jobs)]
    pub jobs: Option<usize>,
    /// No progress (shown on a terminal) and no summary line; the table is
    /// still printed.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Runs `tokensim calibrate`.
pub fn run(args: CalibrateArgs, registry: &Registry) -> Result<ExitCode, Error> {
    let started = Instant::now();
    let loaded = LoadedScenario::load(&args.scenario)?.with_overrides(&args.sets, "--set")?;
    let loss = Loss::parse(&args.loss).ok_or_else(|| Error::Run(format!("unknown loss `{}`", args.loss)))?;
    let opts = CalibrateOptions { budget: args.budget, loss, holdout: args.holdout };
    let pool = super::args::thread_pool(args.jobs)?;
    let quiet = args.quiet;
    let live = !quiet && std::io::stderr().is_terminal();
    let mut progress = |done: usize, budget: usize, best: f64| {
        if live {
            eprint!("\rcalibrate: {done}/{budget} evaluations, best loss {best:.6}   ");
        }
    };
    let mut cal = pool.install(|| calibrate(&loaded, registry, &opts, &mut progress))?;
    if live {
        eprintln!();
    }
    let dir = args.out.clone().unwrap_or_else(|| {
        let stem = args.scenario.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        PathBuf::from("results").join(format!("{stem}-calibration"))
    });
    write(&mut cal, &loaded, registry, &args.sets, &dir, args.force, started)?;
    println!("{}", table(&cal.manifest));
    if !quiet {
        let m = &cal.manifest;
        eprintln!(
            "calibrate: {} evaluations × {} replicates in {:.2}s -> {}",
            m.evaluations,
            m.replicates,
            m.wall_seconds,
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The printed table: every fitted value with its range, then the loss in
/// and out of sample.
fn table(m: &crate::observed::calibrate::CalibrationManifest) -> String {
    use std::fmt::Write;
    let fmt = |v: f64| crate::report::chart::fmt_sig(v, 6);
    let width = m.fitted.iter().map(|f| f.path.len()).max().unwrap_or(9).max(9);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<width$}  {:>12}  {:>12}  {:>12}  {:>12}",
        "dimension", "low", "high", "scenario", "fitted"
    );
    for f in &m.fitted {
        let base = f.base.map(fmt).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "{:<width$}  {:>12}  {:>12}  {:>12}  {:>12}",
            f.path,
            fmt(f.low),
            fmt(f.high),
            base,
            fmt(f.value)
        );
    }
    let time = |i: usize| m.times.get(i).cloned().unwrap_or_default();
    let _ = writeln!(
        s,
        "{} loss in sample (ticks 1-{}, {} to {}): {}",
        m.loss,
        m.fit_ticks,
        time(0),
        time(m.fit_ticks.saturating_sub(1)),
        fmt(m.loss_in_sample)
    );
    match m.loss_out_of_sample {
        None if m.holdout_ticks > 0 => {
            let _ = write!(
                s,
                "{} loss out of sample (ticks {}-{}): none, a simulated value of the holdout window is not finite",
                m.loss,
                m.fit_ticks + 1,
                m.fit_ticks + m.holdout_ticks
            );
        }
        Some(l) => {
            let _ = write!(
                s,
                "{} loss out of sample (ticks {}-{}, {} to {}): {}",
                m.loss,
                m.fit_ticks + 1,
                m.fit_ticks + m.holdout_ticks,
                time(m.fit_ticks),
                time(m.fit_ticks + m.holdout_ticks - 1),
                fmt(l)
            );
        }
        None => {
            let _ = write!(s, "{} loss out of sample: none (no --holdout)", m.loss);
        }
    }
    s
}
