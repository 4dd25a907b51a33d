//! Reading `[properties.<name>]` and population `[metrics]` entries from a
//! scenario, with every mistake located at its key (and, inside an
//! expression, at its character).

use indexmap::IndexMap;

use super::expr::ExprError;
use super::program::{Formula, Inputs, Program};
use super::verdict::{Form, Tracker};
use crate::error::ScenarioError;
use crate::scenario::Source;

/// A property ready to evaluate: its compiled condition and its tracker.
#[derive(Clone, Debug)]
pub struct CompiledProperty {
    /// The name (key under `[properties]`).
    pub name: String,
    /// The condition.
    pub program: Program,
    /// The temporal form over the window.
    pub tracker: Tracker,
    /// The optional gate.
    pub max_failure_rate: Option<f64>,
}

const PROPERTY_KEYS: [&str; 6] =
    ["always", "eventually", "at_end", "ticks", "max_failure_rate", "description"];

fn located(source: &Source, field: &str, text: &str, e: ExprError) -> ScenarioError {
    source.error(field, e.describe(text))
}

/// Compiles every property of a scenario against the tick metrics named
/// `metrics` (the columns of `ticks.parquet`), for runs of `ticks` ticks.
pub fn compile_properties(
    source: &Source,
    properties: &IndexMap<String, toml::Table>,
    metrics: &[&str],
    ticks: u32,
) -> Result<Vec<CompiledProperty>, ScenarioError> {
    let inputs = Inputs::new(metrics);
    let mut out = Vec::new();
    for (name, table) in properties {
        let path = format!("properties.{name}");
        if name.trim().is_empty() {
            return Err(source.error(&path, "a property needs a name"));
        }
        for key in table.keys() {
            if !PROPERTY_KEYS.contains(&key.as_str()) {
                return Err(source.error(
                    &format!("{path}.{key}"),
                    format!("unknown field `{key}`; valid fields: {}", PROPERTY_KEYS.join(", ")),
                ));
            }
        }
        let forms: Vec<(Form, &str)> = Form::ALL
            .iter()
            .zip(Form::KEYS)
            .filter(|(_, k)| table.contains_key(*k))
            .map(|(f, k)| (*f, k))
            .collect();
        let (form, key) = match forms.as_slice() {
            [one] => *one,
            [] => {
                return Err(source.error(
                    &path,
                    "needs one temporal form: `always = \"…\"`, `eventually = \"…\"` or `at_end = \"…\"`",
                ));
            }
            [_, second, ..] => {
                return Err(source.error(
                    &format!("{path}.{}", second.1),
                    format!(
                        "has {} temporal forms ({}); a property has exactly one",
                        forms.len(),
                        forms.iter().map(|f| f.1).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        };
        let field = format!("{path}.{key}");
        let text = match &table[key] {
            toml::Value::String(s) => s.as_str(),
            other => {
                return Err(source
                    .error(&field, format!("expects the condition as a string, got {}", other.type_str())));
            }
        };
        let program = Program::compile(text, &inputs, ticks).map_err(|e| located(source, &field, text, e))?;
        let (first, last) = window(source, &path, table.get("ticks"), ticks)?;
        let max_failure_rate = match table.get("max_failure_rate") {
            None => None,
            Some(v) => {
                let field = format!("{path}.max_failure_rate");
                let r = match v {
                    toml::Value::Float(f) => *f,
                    toml::Value::Integer(i) => *i as f64,
                    other => {
                        return Err(source
                            .error(&field, format!("expects a number in [0, 1], got {}", other.type_str())));
                    }
                };
                if !(0.0..=1.0).contains(&r) {
                    return Err(source.error(&field, format!("{r} is not a failure rate in [0, 1]")));
                }
                Some(r)
            }
        };
        if let Some(d) = table.get("description")
            && !d.is_str()
        {
            return Err(source.error(&format!("{path}.description"), "expects a string"));
        }
        out.push(CompiledProperty {
            name: name.clone(),
            program,
            tracker: Tracker::new(form, first, last),
            max_failure_rate,
        });
    }
    Ok(out)
}

/// The `ticks = [first, last]` window (inclusive, 1-based). A window that
/// ends after the run is cut at its last tick (so `--ticks` can shorten a
/// run); one that is empty, or starts after the run, is known to be wrong
/// before running.
fn window(
    source: &Source,
    path: &str,
    value: Option<&toml::Value>,
    ticks: u32,
) -> Result<(u32, u32), ScenarioError> {
    let Some(value) = value else { return Ok((1, ticks)) };
    let field = format!("{path}.ticks");
    let bad = || {
        source.error(
            &field,
            format!(
                "expects `[first, last]`, two ticks with 1 <= first <= last <= {ticks} (the run's ticks)"
            ),
        )
    };
    let toml::Value::Array(items) = value else { return Err(bad()) };
    let [toml::Value::Integer(a), toml::Value::Integer(b)] = items.as_slice() else { return Err(bad()) };
    if *a < 1 || a > b {
        return Err(source
            .error(&field, format!("[{a}, {b}] is an empty window; ticks count from 1 and first <= last")));
    }
    if *a > i64::from(ticks) {
        return Err(source.error(&field, format!("[{a}, {b}] starts after the run's last tick ({ticks})")));
    }
    Ok((*a as u32, (*b).min(i64::from(ticks)) as u32))
}

/// A statistic of a population metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stat {
    /// Σ value.
    Sum,
    /// Mean value.
    Mean,
    /// Least value.
    Min,
    /// Greatest value.
    Max,
    /// The `q` quantile, linear between the closest ranks (NumPy's default,
    /// Hyndman–Fan type 7).
    Quantile(f64),
    /// The share of agents whose value is below `below`.
    ShareBelow(f64),
    /// The Gini coefficient `Σ (2i − n − 1) x₍ᵢ₎ / (n Σ x)` over values sorted
    /// ascending (0 when they sum to 0); meaningful for non-negative values.
    Gini,
}

const STATS: &str = "sum, mean, min, max, quantile, share_below, gini";
const METRIC_KEYS: [&str; 5] = ["population", "of", "stat", "q", "below"];

/// A population metric: a statistic over one population of a per-agent
/// value, computed every tick.
#[derive(Clone, Debug)]
pub struct PopulationMetric {
    /// Output column.
    pub column: String,
    /// Index of the population in the scenario.
    pub population: usize,
    /// The per-agent value.
    pub of: Formula,
    /// The statistic.
    pub stat: Stat,
}

/// Reads the population-metric entries of `[metrics]` (inline tables;
/// string entries name contract metrics and are read elsewhere). `inputs`
/// are the names an `of` expression may use.
pub fn population_metrics(
    source: &Source,
    metrics: &IndexMap<String, toml::Value>,
    populations: &[&str],
    inputs: &[&str],
) -> Result<Vec<PopulationMetric>, ScenarioError> {
    let inputs = Inputs::new(inputs);
    let mut out = Vec::new();
    for (column, value) in metrics {
        let toml::Value::Table(t) = value else { continue };
        let path = format!("metrics.{column}");
        for key in t.keys() {
            if !METRIC_KEYS.contains(&key.as_str()) {
                return Err(source.error(
                    &format!("{path}.{key}"),
                    format!("unknown field `{key}`; valid fields: {}", METRIC_KEYS.join(", ")),
                ));
            }
        }
        let string = |key: &str| -> Result<&str, ScenarioError> {
            match t.get(key) {
                Some(toml::Value::String(s)) => Ok(s),
                Some(other) => Err(source
                    .error(&format!("{path}.{key}"), format!("expects a string, got {}", other.type_str()))),
                None => Err(source.error(&path, format!("missing field `{key}`"))),
            }
        };
        let number = |key: &str, what: &str| -> Result<f64, ScenarioError> {
            let field = format!("{path}.{key}");
            match t.get(key) {
                Some(toml::Value::Float(f)) if f.is_finite() => Ok(*f),
                Some(toml::Value::Integer(i)) => Ok(*i as f64),
                Some(other) => Err(source.error(&field, format!("expects {what}, got `{other}`"))),
                None => Err(source.error(&path, format!("missing field `{key}` ({what})"))),
            }
        };
        let pname = string("population")?;
        let population = populations.iter().position(|p| *p == pname).ok_or_else(|| {
            source.error(
                &format!("{path}.population"),
                format!(
                    "unknown population `{pname}`; populations: {}",
                    if populations.is_empty() { "none".into() } else { populations.join(", ") }
                ),
            )
        })?;
        let text = string("of")?;
        let of =
            Formula::compile(text, &inputs).map_err(|e| located(source, &format!("{path}.of"), text, e))?;
        let stat_name = string("stat")?;
        let unused = |key: &str| -> Result<(), ScenarioError> {
            if t.contains_key(key) {
                Err(source.error(
                    &format!("{path}.{key}"),
                    format!("`{key}` is not used by stat = \"{stat_name}\""),
                ))
            } else {
                Ok(())
            }
        };
        let stat = match stat_name {
            "sum" | "mean" | "min" | "max" | "gini" => {
                unused("q")?;
                unused("below")?;
                match stat_name {
                    "sum" => Stat::Sum,
                    "mean" => Stat::Mean,
                    "min" => Stat::Min,
                    "max" => Stat::Max,
                    _ => Stat::Gini,
                }
            }
            "quantile" => {
                unused("below")?;
                let q = number("q", "a quantile in [0, 1]")?;
                if !(0.0..=1.0).contains(&q) {
                    return Err(
                        source.error(&format!("{path}.q"), format!("{q} is not a quantile in [0, 1]"))
                    );
                }
                Stat::Quantile(q)
            }
            "share_below" => {
                unused("q")?;
                Stat::ShareBelow(number("below", "the threshold, a finite number")?)
            }
            other => {
                return Err(source.error(
                    &format!("{path}.stat"),
                    format!("unknown stat `{other}`; valid choices: {STATS}"),
                ));
            }
        };
        out.push(PopulationMetric { column: column.clone(), population, of, stat });
    }
    Ok(out)
}

impl Stat {
    /// Whether the statistic needs every value (an order statistic), or
    /// only running sums, extremes and counts.
    pub fn needs_values(self) -> bool {
        matches!(self, Stat::Quantile(_) | Stat::Gini)
    }

    /// The statistic of `values` (reordered in place for quantiles and
    /// Gini). Sums run in the slice's order, so the result depends only on
    /// the values and their order, never on threads. `NaN` for no values.
    pub fn of(self, values: &mut [f64]) -> f64 {
        let n = values.len();
        if n == 0 {
            return f64::NAN;
        }
        let cmp = |a: &f64, b: &f64| a.total_cmp(b);
        match self {
            Stat::Sum => values.iter().sum(),
            Stat::Mean => values.iter().sum::<f64>() / n as f64,
            Stat::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
            Stat::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Stat::ShareBelow(t) => values.iter().filter(|v| **v < t).count() as f64 / n as f64,
            Stat::Quantile(q) => super::order::quantile(&[values], q),
            Stat::Gini => {
                values.sort_unstable_by(cmp);
                let total: f64 = values.iter().sum();
                if total == 0.0 {
                    return 0.0;
                }
                let weighted: f64 =
                    values.iter().enumerate().map(|(i, x)| (2.0 * (i + 1) as f64 - n as f64 - 1.0) * x).sum();
                weighted / (n as f64 * total)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn stat(s: Stat, v: &[f64]) -> f64 {
        s.of(&mut v.to_vec())
    }

    #[test]
    fn stats_against_direct_computation() {
        let v = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(stat(Stat::Sum, &v), 15.0);
        assert_eq!(stat(Stat::Mean, &v), 3.0);
        assert_eq!((stat(Stat::Min, &v), stat(Stat::Max, &v)), (1.0, 5.0));
        assert_eq!(stat(Stat::Quantile(0.5), &v), 3.0);
        // Type 7: h = 4 * 0.3 = 1.2 -> 2 + 0.2 * (3 - 2).
        assert!((stat(Stat::Quantile(0.3), &v) - 2.2).abs() < 1e-12);
        assert_eq!((stat(Stat::Quantile(0.0), &v), stat(Stat::Quantile(1.0), &v)), (1.0, 5.0));
        assert_eq!(stat(Stat::ShareBelow(3.0), &v), 0.4);
        // Gini of 1..5: mean absolute difference / (2 mean) = 2/(2*3) * 4/5... direct:
        let mad: f64 = v.iter().flat_map(|a| v.iter().map(move |b| (a - b).abs())).sum::<f64>() / 25.0;
        assert!((stat(Stat::Gini, &v) - mad / (2.0 * 3.0)).abs() < 1e-12);
        assert_eq!(stat(Stat::Gini, &[0.0, 0.0, 10.0, 0.0]), 0.75);
        assert_eq!(stat(Stat::Gini, &[2.0; 4]), 0.0);
        assert!(stat(Stat::Mean, &[]).is_nan());
    }

    fn source(text: &str) -> Source {
        Source::parse(Path::new("s.toml"), text.to_string()).unwrap().0
    }

    fn props(text: &str, ticks: u32) -> Result<Vec<CompiledProperty>, String> {
        let src = source(text);
        let (_, table) = Source::parse(Path::new("s.toml"), text.to_string()).unwrap();
        let properties: IndexMap<String, toml::Table> = match table.get("properties") {
            Some(toml::Value::Table(t)) => {
                t.iter().map(|(k, v)| (k.clone(), v.as_table().cloned().unwrap_or_default())).collect()
            }
            _ => IndexMap::new(),
        };
        compile_properties(&src, &properties, &["price", "supply"], ticks).map_err(|e| e.to_string())
    }

    #[test]
    fn property_tables_are_checked_and_located() {
        assert_eq!(props("[properties.a]\nalways = \"price >= 1\"\n", 10).unwrap().len(), 1);
        let e = props("[properties.a]\nticks = [1, 2]\n", 10).unwrap_err();
        assert!(e.starts_with("s.toml:1:") && e.contains("needs one temporal form"), "{e}");
        let e = props("[properties.a]\nalways = \"price >= 1\"\nat_end = \"price >= 1\"\n", 10).unwrap_err();
        assert!(e.starts_with("s.toml:3:1: `properties.a.at_end`") && e.contains("exactly one"), "{e}");
        let e = props("[properties.a]\nalways = \"price >= strt(price)\"\n", 10).unwrap_err();
        assert!(
            e.starts_with("s.toml:2:1: `properties.a.always`: at character 10 of `price >= strt(price)`"),
            "{e}"
        );
        let e = props("[properties.a]\nalways = \"pricee >= 1\"\n", 10).unwrap_err();
        assert!(e.contains("unknown name `pricee`") && e.contains("available: price, supply"), "{e}");
        let e = props("[properties.a]\nalways = \"price >= 1\"\nticks = [5, 3]\n", 10).unwrap_err();
        assert!(e.starts_with("s.toml:3:1: `properties.a.ticks`") && e.contains("empty window"), "{e}");
        let e = props("[properties.a]\nalways = \"price >= 1\"\nticks = [11, 30]\n", 10).unwrap_err();
        assert!(e.contains("starts after the run's last tick (10)"), "{e}");
        assert!(props("[properties.a]\nalways = \"price >= 1\"\nticks = [5, 30]\n", 10).is_ok());
        let e = props("[properties.a]\nalways = \"price >= 1\"\nticks = 5\n", 10).unwrap_err();
        assert!(e.contains("[first, last]"), "{e}");
        let e = props("[properties.a]\nalways = \"price >= 1\"\nmax_failure_rate = 1.5\n", 10).unwrap_err();
        assert!(e.contains("not a failure rate"), "{e}");
        let e = props("[properties.a]\nalwas = \"price >= 1\"\n", 10).unwrap_err();
        assert!(e.contains("unknown field `alwas`") && e.contains("always, eventually, at_end"), "{e}");
        let e = props("[properties.a]\nalways = 3\n", 10).unwrap_err();
        assert!(e.contains("as a string"), "{e}");
    }
}
