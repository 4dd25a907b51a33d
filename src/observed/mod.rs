//! Observed data: what really happened, to backtest a model against and to
//! calibrate it to.
//!
//! A scenario's `[observed]` table names a CSV or Parquet file, its time
//! column and how rows map to ticks, and which data column each metric (a
//! column of `ticks.parquet`) is compared with:
//!
//! ```toml
//! [observed]
//! file = "../data/eth_usd_daily.csv"        # relative to the scenario
//! time = { column = "date", format = "%Y-%m-%d %H:%M:%S UTC", start = "2022-01-01", end = "2022-12-31" }
//! columns = { feed_price = "close_price" }   # metric = observed column
//! fill = "previous"                          # optional: carry the last row over gaps
//! ```
//!
//! Rows are in time order, one a tick: the window's first row is tick 1
//! (the first tick a run writes; tick 0 is the scenario's initial state, so
//! a feed's `initial` is the value just before the window), and rows are a
//! regular step apart, the most common distance between two rows of the
//! file.
//! A time of that grid without a row is an error naming it, unless
//! `fill = "previous"`. `format` is a strftime format (chrono) for text
//! time columns; Parquet date and timestamp columns are read as they are.
//! `start`/`end` (inclusive) are in that format or `YYYY-MM-DD[ HH:MM:SS]`.
//! Every problem is an error located at the `[observed]` key concerned,
//! naming the data file and its line (CSV) or row (Parquet).
//!
//! - [`time`] parses times and lays rows on the grid;
//! - [`read`] reads the file;
//! - [`loss`] compares simulated and observed series;
//! - [`backtest`] puts the observed values beside a run's and scores it;
//! - [`calibrate`] fits `[search]` dimensions to the observed data and
//!   writes them into the scenario text ([`crate::scenario::rewrite`]).

pub mod backtest;
pub mod calibrate;
pub mod loss;
pub mod read;
pub mod time;

use std::ops::Range;
use std::path::PathBuf;

use chrono::{NaiveDateTime, TimeDelta};
use indexmap::IndexMap;
use serde::Deserialize;

use crate::engine::MetricColumn;
use crate::error::Error;
use crate::scenario::{LoadedScenario, from_table};
use read::{Cell, Key};

/// The `[observed]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservedSpec {
    /// CSV or Parquet file, relative to the scenario file.
    pub file: PathBuf,
    /// The time column and the window.
    pub time: TimeSpec,
    /// Metric (tick column) → data column.
    pub columns: IndexMap<String, String>,
    /// What a grid time without a row gets.
    #[serde(default)]
    pub fill: Fill,
}

/// `[observed].time`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSpec {
    /// Name of the time column.
    pub column: String,
    /// strftime format of its text (`%Y-%m-%d %H:%M:%S UTC`).
    pub format: String,
    /// First time of the window (inclusive) [default: the first row].
    #[serde(default)]
    pub start: Option<toml::Value>,
    /// Last time of the window (inclusive) [default: the last row].
    #[serde(default)]
    pub end: Option<toml::Value>,
}

/// How a grid time without a row is filled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fill {
    /// It is not: a gap is an error naming the first missing time.
    #[default]
    None,
    /// It takes the last row before it.
    Previous,
}

/// Observed series, one value a tick per metric, loaded and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The data file (resolved against the scenario's directory).
    pub file: PathBuf,
    /// Metric names (tick columns), in `columns` order.
    pub metrics: Vec<String>,
    /// The data column of each metric.
    pub columns: Vec<String>,
    /// Per metric, the value at tick `i + 1`.
    pub values: Vec<Vec<f64>>,
    /// Time of tick `i + 1`.
    pub times: Vec<NaiveDateTime>,
    /// Where in the file the values of tick `i + 1` come from.
    pub places: Vec<String>,
    /// Ticks filled from the row before (`fill = "previous"`).
    pub filled: usize,
    /// Time between ticks.
    pub step: TimeDelta,
}

impl Observed {
    /// Reads the `[observed]` data of `loaded`, or `None` if it has none.
    pub fn load(loaded: &LoadedScenario) -> Result<Option<Observed>, Error> {
        let Some(table) = &loaded.scenario.observed else { return Ok(None) };
        let source = &loaded.source;
        let spec: ObservedSpec = from_table(source, "observed", toml::Value::Table(table.clone()))?;
        if spec.columns.is_empty() {
            return Err(source
                .error(
                    "observed.columns",
                    "names no metric; write e.g. `columns = { feed_price = \"close\" }`",
                )
                .into());
        }
        let file = loaded.base_dir.join(&spec.file);
        let shown = file.display().to_string();
        let metrics: Vec<String> = spec.columns.keys().cloned().collect();
        let columns: Vec<String> = spec.columns.values().cloned().collect();
        let at = |key: &Key| match key {
            Key::File => "observed.file".to_string(),
            Key::Time => "observed.time.column".to_string(),
            Key::Column(i) => format!("observed.columns.{}", metrics[*i]),
        };
        let rows = read::read(&file, &spec.time.column, &spec.time.format, &columns)
            .map_err(|p| source.error(&at(&p.key), format!("{shown}: {}", p.message)))?;
        let bound = |key: &str, value: &Option<toml::Value>| -> Result<Option<NaiveDateTime>, Error> {
            let text = match value {
                None => return Ok(None),
                Some(toml::Value::String(s)) => s.clone(),
                Some(toml::Value::Datetime(d)) => d.to_string(),
                Some(other) => {
                    return Err(source.error(key, format!("expects a time as text, got `{other}`")).into());
                }
            };
            time::parse_bound(&text, &spec.time.format).map(Some).map_err(|m| source.error(key, m).into())
        };
        let start = bound("observed.time.start", &spec.time.start)?;
        let end = bound("observed.time.end", &spec.time.end)?;
        let grid = time::grid(&rows.times, start, end, spec.fill == Fill::Previous).map_err(|e| {
            use time::GridError as G;
            let (key, message) = match e {
                G::Order { row } => (
                    "observed.time.column",
                    format!(
                        "{}: time {} is not after the row before it ({}); rows must be in time order, one per time",
                        rows.places[row],
                        time::show(rows.times[row]),
                        time::show(rows.times[row - 1])
                    ),
                ),
                G::Outside { start, message } => {
                    (if start { "observed.time.start" } else { "observed.time.end" }, message)
                }
                G::Gap { time: t, fillable } => (
                    "observed.time",
                    format!(
                        "no row at {}, the first missing time of the window (rows every {}){}",
                        time::show(t),
                        time::show_step(time::step(&rows.times)),
                        if fillable { "; set `fill = \"previous\"` to carry the last row over gaps" } else { "" }
                    ),
                ),
                G::OffGrid { row, step } => (
                    "observed.time",
                    format!(
                        "{}: time {} is between two steps of the grid (rows every {} from the window's start); rows must be evenly spaced",
                        rows.places[row],
                        time::show(rows.times[row]),
                        time::show_step(step)
                    ),
                ),
                G::TooFew => ("observed.file", "needs at least two rows to know the time step".into()),
                G::TooFine { points, step } => (
                    "observed.time",
                    format!(
                        "the window holds {points} times at one every {} (at most {}); narrow it",
                        time::show_step(step),
                        time::MAX_POINTS
                    ),
                ),
            };
            source.error(key, format!("{shown}: {message}"))
        })?;
        let mut values = vec![Vec::with_capacity(grid.rows.len()); metrics.len()];
        for (k, cells) in rows.values.iter().enumerate() {
            for &row in &grid.rows {
                match &cells[row] {
                    Cell::Number(v) => values[k].push(*v),
                    Cell::Bad(what) => {
                        return Err(source
                            .error(
                                &format!("observed.columns.{}", metrics[k]),
                                format!("{shown}: {}: `{}` is {what}", rows.places[row], columns[k]),
                            )
                            .into());
                    }
                }
            }
        }
        Ok(Some(Observed {
            file,
            metrics,
            columns,
            values,
            times: grid.times,
            places: grid.rows.iter().map(|&r| rows.places[r].clone()).collect(),
            filled: grid.filled,
            step: grid.step,
        }))
    }

    /// Number of observed ticks (`1..=ticks()`).
    pub fn ticks(&self) -> usize {
        self.times.len()
    }

    /// Checks the observation fits runs of `loaded` whose tick columns are
    /// `columns`: every metric is a column, and the runs cover every
    /// observed tick. Returns each metric's index into
    /// [`TickLog::metrics`](crate::engine::phase::TickLog).
    pub fn check(&self, loaded: &LoadedScenario, columns: &[MetricColumn]) -> Result<Vec<usize>, Error> {
        let mut indices = Vec::new();
        for metric in &self.metrics {
            let Some(c) = columns.iter().find(|c| &c.name == metric) else {
                let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
                return Err(loaded
                    .source
                    .error(
                        &format!("observed.columns.{metric}"),
                        format!(
                            "`{metric}` is not a tick column of this scenario; tick columns: {}",
                            names.join(", ")
                        ),
                    )
                    .into());
            };
            indices.push(c.index);
        }
        let ticks = loaded.scenario.ticks as usize;
        if ticks < self.ticks() {
            return Err(loaded
                .source
                .error(
                    "ticks",
                    format!(
                        "the observed window has {} rows (ticks 1 to {}) but the scenario runs {ticks} ticks; set `ticks = {}` or narrow `observed.time`",
                        self.ticks(),
                        self.ticks(),
                        self.ticks()
                    ),
                )
                .into());
        }
        Ok(indices)
    }

    /// Checks every value is > 0, as a loss that takes logs (`why`) needs:
    /// the first one that is not is an error naming its line or row.
    pub fn require_positive(&self, loaded: &LoadedScenario, why: &str) -> Result<(), Error> {
        for (k, series) in self.values.iter().enumerate() {
            if let Some(i) = series.iter().position(|&v| v <= 0.0) {
                return Err(loaded
                    .source
                    .error(
                        &format!("observed.columns.{}", self.metrics[k]),
                        format!(
                            "{}: {}: `{}` is {}, not > 0, and {why} takes its log",
                            self.file.display(),
                            self.places[i],
                            self.columns[k],
                            series[i]
                        ),
                    )
                    .into());
            }
        }
        Ok(())
    }

    /// Whether every value is > 0 (so log losses are defined).
    pub fn positive(&self) -> bool {
        self.values.iter().flatten().all(|&v| v > 0.0)
    }
}

/// The fit and holdout windows of `ticks` observed ticks (as indices
/// `tick − 1`) for a holdout fraction: the first `round(ticks · (1 − f))`
/// ticks are fitted, the rest held out.
///
/// ```
/// use tokensim::observed::split;
/// assert_eq!(split(10, 0.2), (0..8, 8..10));
/// assert_eq!(split(10, 0.0), (0..10, 10..10));
/// ```
pub fn split(ticks: usize, holdout: f64) -> (Range<usize>, Range<usize>) {
    let fit = ((ticks as f64) * (1.0 - holdout)).round() as usize;
    let fit = fit.min(ticks);
    (0..fit, fit..ticks)
}
