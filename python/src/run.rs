//! Running experiments, the CLI and reports from Python.
//!
//! A run goes on a worker thread while the calling thread, without the
//! interpreter lock, wakes every tenth of a second to report progress to a
//! Python callback; Python behaviours take the lock only while they decide.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use pyo3::prelude::*;
use tokensim::engine::RunSpec;
use tokensim::engine::population::{BehaviourFailure, failure_of};
use tokensim::engine::registry::Registry;
use tokensim::experiment::{Observer, RunOptions, apply_overrides, expand, run_experiment};

use crate::behaviour::registry_with;
use crate::errors::{behaviour_error, to_py};
use crate::scenario::Scenario;

/// Ticks and runs done, counted from the worker threads; `cancel` stops
/// the run at the next tick (Ctrl-C in Python).
#[derive(Default)]
struct Counter {
    ticks: AtomicU64,
    runs: AtomicU64,
    cancel: AtomicBool,
}

/// The payload a cancelled run unwinds with.
struct Cancelled;

impl Observer for Counter {
    fn tick(&self) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
        if self.cancel.load(Ordering::Relaxed) {
            std::panic::panic_any(Cancelled);
        }
    }

    fn run_done(&self, _run: &RunSpec) {
        self.runs.fetch_add(1, Ordering::Relaxed);
    }
}

/// How a worker ended: its value, or the failure of a population behaviour.
enum Outcome<T> {
    Done(T),
    Failed(BehaviourFailure),
}

/// Runs `work` on a thread while this one, detached from the interpreter,
/// calls `progress(ticks, runs)` every 100 ms and once at the end. A
/// population behaviour's failure comes back as [`Outcome::Failed`].
fn with_progress<T: Send>(
    py: Python<'_>,
    counter: &Counter,
    progress: Option<&Bound<'_, PyAny>>,
    work: impl FnOnce() -> T + Send,
) -> PyResult<Outcome<T>> {
    let report = || -> PyResult<()> {
        if let Some(cb) = progress {
            cb.call1((counter.ticks.load(Ordering::Relaxed), counter.runs.load(Ordering::Relaxed)))?;
        }
        Ok(())
    };
    std::thread::scope(|s| {
        let worker = s.spawn(move || std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)));
        let mut callback_error = None;
        while !worker.is_finished() {
            py.detach(|| {
                for _ in 0..10 {
                    if worker.is_finished() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
            if callback_error.is_none()
                && let Err(e) = py.check_signals().and_then(|()| report())
            {
                // Ctrl-C, or a failing callback: stop the run at its next tick.
                counter.cancel.store(true, Ordering::Relaxed);
                callback_error = Some(e);
            }
        }
        let result = worker.join().expect("the worker catches its panics");
        if callback_error.is_none()
            && let Err(e) = report()
        {
            callback_error = Some(e);
        }
        let outcome = match result {
            Ok(v) => Outcome::Done(v),
            Err(payload) => match failure_of(payload.as_ref()) {
                Some(f) => Outcome::Failed(f.clone()),
                None if payload.is::<Cancelled>() && callback_error.is_some() => {
                    return Err(callback_error.expect("checked"));
                }
                None => std::panic::resume_unwind(payload),
            },
        };
        match callback_error {
            Some(e) => Err(e),
            None => Ok(outcome),
        }
    })
}

/// Prints nothing for a cancelled run's unwinding (it is reported as
/// Python's `KeyboardInterrupt`), and defers to the previous hook otherwise.
pub fn quiet_cancellation() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<Cancelled>() {
                previous(info);
            }
        }));
    });
}

fn thread_pool(jobs: Option<usize>) -> PyResult<rayon::ThreadPool> {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = jobs {
        if n == 0 {
            return Err(pyo3::exceptions::PyValueError::new_err("jobs must be at least 1"));
        }
        builder = builder.num_threads(n);
    }
    builder.build().map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("thread pool: {e}")))
}

/// Runs `scenario` (with `sets`, `seed`, `ticks` and `runs` applied as the
/// CLI's flags would) into results directory `out`, with the Python
/// behaviours `behaviours` registered. `start(total_ticks, total_runs)` is
/// called once before, `progress(ticks, runs)` while it runs. Returns
/// `(out, violations)`.
#[pyfunction]
#[pyo3(signature = (scenario, out, sets, seed, ticks, runs, jobs, force, behaviours, start = None, progress = None))]
#[allow(clippy::too_many_arguments)] // mirrors the CLI's flags
pub fn run(
    py: Python<'_>,
    scenario: &Scenario,
    out: PathBuf,
    sets: Vec<(String, Bound<'_, PyAny>)>,
    seed: Option<u64>,
    ticks: Option<u32>,
    runs: Option<u32>,
    jobs: Option<usize>,
    force: bool,
    behaviours: Vec<Bound<'_, PyAny>>,
    start: Option<Bound<'_, PyAny>>,
    progress: Option<Bound<'_, PyAny>>,
) -> PyResult<(PathBuf, u64)> {
    let sets = sets
        .iter()
        .map(|(p, v)| Ok((p.clone(), crate::scenario::to_toml(v, p)?)))
        .collect::<PyResult<Vec<_>>>()?;
    let loaded = apply_overrides(&scenario.loaded, &sets, seed, ticks, runs).map_err(|e| to_py(py, &e))?;
    let registry = registry_with(&behaviours)?;
    let plan = expand(&loaded).map_err(|e| to_py(py, &e))?;
    let total_ticks: u64 =
        plan.runs.iter().map(|r| u64::from(plan.scenarios[r.scenario].scenario.ticks)).sum();
    if let Some(start) = &start {
        start.call1((total_ticks, plan.runs.len() as u64))?;
    }
    let pool = thread_pool(jobs)?;
    let opts = RunOptions { force, ..RunOptions::new(out) };
    let counter = Counter::default();
    let outcome = with_progress(py, &counter, progress.as_ref(), || {
        pool.install(|| run_experiment(&loaded, &registry, &opts, &counter))
    })?;
    match outcome {
        Outcome::Done(Ok(summary)) => Ok((summary.out_dir, summary.manifest.violations)),
        Outcome::Done(Err(e)) => Err(to_py(py, &e)),
        Outcome::Failed(f) => Err(behaviour_error(py, &f)),
    }
}

/// The whole `tokensim` command line with `argv` (program name first) and
/// the Python behaviours `behaviours` registered; returns the exit code.
#[pyfunction]
pub fn cli(py: Python<'_>, argv: Vec<String>, behaviours: Vec<Bound<'_, PyAny>>) -> PyResult<u8> {
    let registry: Registry = registry_with(&behaviours)?;
    let counter = Counter::default();
    let outcome = with_progress(py, &counter, None, || tokensim::cli::main_from(registry, argv))?;
    Ok(match outcome {
        Outcome::Done(code) => {
            // ExitCode has no accessor; the CLI only returns these.
            [0u8, 1, 2, 3, 4].into_iter().find(|&c| code == std::process::ExitCode::from(c)).unwrap_or(2)
        }
        Outcome::Failed(f) => {
            eprintln!("error: {f}");
            2
        }
    })
}

/// Writes the HTML report of results directory `dir` to `out` (default
/// `dir/report.html`); returns its path.
#[pyfunction]
#[pyo3(signature = (dir, out = None, force = true))]
pub fn report(py: Python<'_>, dir: PathBuf, out: Option<PathBuf>, force: bool) -> PyResult<PathBuf> {
    let opts = tokensim::report::ReportOptions { out, force, ..tokensim::report::ReportOptions::new(dir) };
    let summary = py.detach(|| tokensim::report::write_report(&opts)).map_err(|e| to_py(py, &e))?;
    Ok(summary.path)
}
