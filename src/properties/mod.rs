//! Properties: what a designer states must hold, evaluated in every run.
//!
//! ```toml
//! [properties.price_floor]
//! always = "price >= 0.8 * start(price)"   # or eventually = …, at_end = …
//! ticks = [200, 365]                       # optional window
//! max_failure_rate = 0.05                  # optional gate (exit code 4)
//! ```
//!
//! The layers, bottom up: [`expr`] parses the expression language,
//! [`program`] compiles it against named inputs and evaluates it online
//! with margins, [`order`] selects exact quantiles of values held in
//! pieces, [`verdict`] folds a run's margins by temporal form,
//! [`spec`] reads the scenario's tables (and population metrics), and
//! [`risk`] summarises verdicts across runs with Wilson intervals. None of
//! them knows the engine; `engine::monitor` runs them inside a tick.

pub mod expr;
pub mod order;
pub mod program;
pub mod risk;
pub mod spec;
pub mod verdict;

pub use risk::{RiskRow, RunOutcome, wilson};
pub use verdict::{Form, Verdict};
