//! Expanding a scenario into its list of runs: parameter points (from
//! `[sweep]`) × variants (from `[variants.*]`) × Monte Carlo replicates
//! (`runs`).
//!
//! ```toml
//! runs = 8                       # replicates per point and variant
//! [sweep]
//! mode = "grid"                  # grid (default) | zip | sample
//! "contracts.curve.entry_tribute" = [0.01, 0.05, 0.1]
//! "populations.traders.count" = [1_000, 10_000]
//!
//! [variants.no_exit_fee]         # A/B: each variant is a set of overrides
//! "contracts.curve.exit_tribute" = 0.0
//! ```
//!
//! In `sample` mode each path takes `{ low, high }` and `samples = N`
//! points are drawn, `method = "uniform"` or `"lhs"` (Latin hypercube),
//! from the master seed.

use rand::RngExt;
use rand::seq::SliceRandom;

use crate::engine::RunSpec;
use crate::engine::rng::{Stream, run_seed, stream_rng};
use crate::error::{Error, ScenarioError};
use crate::scenario::LoadedScenario;
use crate::scenario::source::join;

/// Keys of `[sweep]` that configure it rather than name a path.
const SWEEP_KEYS: [&str; 3] = ["mode", "samples", "method"];

/// One run of the plan, with the overrides that make its scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedRun {
    /// Identity, seed and swept values.
    pub spec: RunSpec,
    /// Index into [`Plan::scenarios`].
    pub scenario: usize,
}

/// An expanded experiment.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Every run, in run-id order (point, then variant, then replicate).
    pub runs: Vec<PlannedRun>,
    /// The resolved scenario of each (point, variant), point-major.
    pub scenarios: Vec<LoadedScenario>,
    /// Swept paths, in the order of `RunSpec::params`.
    pub swept: Vec<String>,
    /// The column type of each swept path over the whole plan.
    pub swept_types: Vec<ParamType>,
    /// Number of parameter points.
    pub n_points: usize,
    /// Variant names (one empty name without variants).
    pub variants: Vec<String>,
}

/// The type of a swept value's column in `runs.parquet`, decided over every
/// run of the plan so that every shard writes the same schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    /// All values are integers.
    Int,
    /// All values are numbers, some not integers (integers are widened).
    Float,
    /// All values are booleans.
    Bool,
    /// Anything else, written as text.
    Text,
}

impl ParamType {
    fn of(values: &[&toml::Value]) -> ParamType {
        if values.iter().all(|v| v.is_integer()) {
            ParamType::Int
        } else if values.iter().all(|v| v.is_integer() || v.is_float()) {
            ParamType::Float
        } else if values.iter().all(|v| v.is_bool()) {
            ParamType::Bool
        } else {
            ParamType::Text
        }
    }
}

/// The value at a dotted path of a table, if any.
fn get_path<'a>(table: &'a toml::Table, path: &str) -> Option<&'a toml::Value> {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    match (table.get(head)?, rest) {
        (v, None) => Some(v),
        (toml::Value::Table(t), Some(rest)) => get_path(t, rest),
        _ => None,
    }
}

/// How sweep points are formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Grid,
    Zip,
    Sample { n: usize, lhs: bool },
}

/// Expands `loaded` (after command-line overrides) into its runs, resolving
/// and checking every (point, variant) scenario.
pub fn expand(loaded: &LoadedScenario) -> Result<Plan, Error> {
    let sc = &loaded.scenario;
    let source = &loaded.source;
    if sc.runs == 0 {
        return Err(source.error("runs", "must be at least 1").into());
    }
    let (mode, axes) = sweep_axes(loaded)?;
    let points = points(loaded, mode, &axes)?;
    let swept: Vec<String> = axes.iter().map(|(p, _)| p.clone()).collect();

    let mut variants: Vec<(String, Vec<(String, toml::Value)>)> = Vec::new();
    for (name, table) in &sc.variants {
        if name.is_empty() {
            return Err(source.error("variants", "a variant needs a name").into());
        }
        let mut leaves = Vec::new();
        flatten(table, "", &mut leaves, &|_| false);
        variants.push((name.clone(), leaves));
    }
    if variants.is_empty() {
        variants.push((String::new(), Vec::new()));
    }

    let mut scenarios = Vec::new();
    let mut runs = Vec::new();
    for (p, point) in points.iter().enumerate() {
        let at_point = loaded.with_overrides(point, "sweep")?;
        for (name, overrides) in &variants {
            let origin = if name.is_empty() { "variants".to_string() } else { format!("variants.{name}") };
            let resolved = at_point.with_overrides(overrides, &origin)?;
            let (replicates, seed) = (resolved.scenario.runs, resolved.scenario.seed);
            // Record the values the run really uses: a variant may override a swept path.
            let params: Vec<(String, toml::Value)> = point
                .iter()
                .map(|(path, v)| {
                    (path.clone(), get_path(&resolved.table, path).cloned().unwrap_or_else(|| v.clone()))
                })
                .collect();
            scenarios.push(resolved);
            for r in 0..replicates {
                runs.push(PlannedRun {
                    spec: RunSpec {
                        run_id: u32::try_from(runs.len())
                            .map_err(|_| Error::Run("more than 2^32 runs".into()))?,
                        point_id: p as u32,
                        replicate: r,
                        variant: name.clone(),
                        seed: run_seed(seed, u64::from(r)),
                        params: params.clone(),
                    },
                    scenario: scenarios.len() - 1,
                });
            }
        }
    }
    let swept_types = (0..swept.len())
        .map(|i| ParamType::of(&runs.iter().map(|r| &r.spec.params[i].1).collect::<Vec<_>>()))
        .collect();
    Ok(Plan {
        runs,
        scenarios,
        swept,
        swept_types,
        n_points: points.len(),
        variants: variants.into_iter().map(|(n, _)| n).collect(),
    })
}

/// What a swept path ranges over.
#[derive(Clone, Debug, PartialEq)]
enum Axis {
    Values(Vec<toml::Value>),
    Range { low: f64, high: f64, integer: bool },
}

fn is_range(t: &toml::Table) -> bool {
    !t.is_empty() && t.keys().all(|k| k == "low" || k == "high")
}

/// Collects `(dotted path, leaf)` pairs of a table, descending into
/// sub-tables unless `leaf_table` says a table is itself a leaf.
fn flatten(
    table: &toml::Table,
    prefix: &str,
    out: &mut Vec<(String, toml::Value)>,
    leaf_table: &dyn Fn(&toml::Table) -> bool,
) {
    for (key, value) in table {
        let path = join(prefix, key);
        match value {
            toml::Value::Table(t) if !leaf_table(t) => flatten(t, &path, out, leaf_table),
            other => out.push((path, other.clone())),
        }
    }
}

fn sweep_axes(loaded: &LoadedScenario) -> Result<(Mode, Vec<(String, Axis)>), ScenarioError> {
    let sweep = &loaded.scenario.sweep;
    let source = &loaded.source;
    let string = |key: &str, default: &str| -> Result<String, ScenarioError> {
        match sweep.get(key) {
            None => Ok(default.to_string()),
            Some(toml::Value::String(s)) => Ok(s.clone()),
            Some(other) => {
                Err(source.error(&format!("sweep.{key}"), format!("must be a string, got `{other}`")))
            }
        }
    };
    let mode = match string("mode", "grid")?.as_str() {
        "grid" => Mode::Grid,
        "zip" => Mode::Zip,
        "sample" => {
            let n = match sweep.get("samples") {
                Some(toml::Value::Integer(n)) if *n >= 1 => *n as usize,
                Some(other) => {
                    return Err(
                        source.error("sweep.samples", format!("must be an integer >= 1, got `{other}`"))
                    );
                }
                None => return Err(source.error("sweep.samples", "sample mode needs `samples = N`")),
            };
            let lhs = match string("method", "uniform")?.as_str() {
                "uniform" => false,
                "lhs" => true,
                other => {
                    return Err(source.error(
                        "sweep.method",
                        format!("unknown method `{other}`; valid choices: uniform, lhs"),
                    ));
                }
            };
            Mode::Sample { n, lhs }
        }
        other => {
            return Err(source
                .error("sweep.mode", format!("unknown mode `{other}`; valid choices: grid, zip, sample")));
        }
    };
    if !matches!(mode, Mode::Sample { .. }) {
        for key in ["samples", "method"] {
            if sweep.contains_key(key) {
                return Err(source.error(&format!("sweep.{key}"), "only used with mode = \"sample\""));
            }
        }
    }
    let mut leaves = Vec::new();
    let paths: toml::Table = sweep
        .iter()
        .filter(|(k, _)| !SWEEP_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    flatten(&paths, "", &mut leaves, &is_range);
    let mut axes: Vec<(String, Axis)> = Vec::new();
    for (path, value) in leaves {
        let field = format!("sweep.{path}");
        if axes.iter().any(|(p, _)| *p == path) {
            return Err(source.error(&field, "is swept twice; give its values once"));
        }
        let axis = match (&value, mode) {
            (toml::Value::Array(values), Mode::Grid | Mode::Zip) => {
                if values.is_empty() {
                    return Err(source.error(&field, "needs at least one value"));
                }
                Axis::Values(values.clone())
            }
            (toml::Value::Table(t), Mode::Sample { .. }) => {
                let bound = |k: &str| match t.get(k) {
                    Some(toml::Value::Integer(i)) => Ok((*i as f64, true)),
                    Some(toml::Value::Float(f)) if f.is_finite() => Ok((*f, false)),
                    _ => Err(source.error(&format!("{field}.{k}"), "must be a finite number")),
                };
                let ((low, li), (high, hi)) = (bound("low")?, bound("high")?);
                if low > high {
                    return Err(source.error(&field, format!("low {low} is above high {high}")));
                }
                Axis::Range { low, high, integer: li && hi }
            }
            (_, Mode::Sample { .. }) => {
                return Err(source.error(&field, "in sample mode give a range { low = …, high = … }"));
            }
            _ => return Err(source.error(&field, "give a list of values, e.g. [0.01, 0.05]")),
        };
        axes.push((path, axis));
    }
    Ok((mode, axes))
}

fn points(
    loaded: &LoadedScenario,
    mode: Mode,
    axes: &[(String, Axis)],
) -> Result<Vec<Vec<(String, toml::Value)>>, ScenarioError> {
    if axes.is_empty() {
        return Ok(vec![Vec::new()]);
    }
    let values = |a: &Axis| match a {
        Axis::Values(v) => v.clone(),
        Axis::Range { .. } => unreachable!("ranges only in sample mode"),
    };
    Ok(match mode {
        Mode::Grid => {
            let mut points: Vec<Vec<(String, toml::Value)>> = vec![Vec::new()];
            for (path, axis) in axes {
                points = points
                    .into_iter()
                    .flat_map(|p| {
                        values(axis).into_iter().map(move |v| {
                            let mut q = p.clone();
                            q.push((path.clone(), v));
                            q
                        })
                    })
                    .collect();
            }
            points
        }
        Mode::Zip => {
            let n = values(&axes[0].1).len();
            if let Some((path, axis)) = axes.iter().find(|(_, a)| values(a).len() != n) {
                return Err(loaded.source.error(
                    &format!("sweep.{path}"),
                    format!(
                        "zip mode needs lists of equal length: {} has {}, {} has {n}",
                        path,
                        values(axis).len(),
                        axes[0].0
                    ),
                ));
            }
            (0..n).map(|i| axes.iter().map(|(p, a)| (p.clone(), values(a)[i].clone())).collect()).collect()
        }
        Mode::Sample { n, lhs } => {
            let mut rng = stream_rng(loaded.scenario.seed, Stream::Sweep, &[]);
            let mut columns: Vec<Vec<toml::Value>> = Vec::new();
            for (_, axis) in axes {
                let Axis::Range { low, high, integer } = *axis else {
                    unreachable!("sample mode has ranges")
                };
                let mut strata: Vec<usize> = (0..n).collect();
                if lhs {
                    strata.shuffle(&mut rng);
                }
                let column = strata
                    .iter()
                    .map(|&s| {
                        let u: f64 = rng.random();
                        let x = if lhs { (s as f64 + u) / n as f64 } else { u };
                        if integer {
                            // Uniform over the integers low..=high.
                            toml::Value::Integer(
                                (low + (x * (high - low + 1.0)).floor().min(high - low)) as i64,
                            )
                        } else {
                            toml::Value::Float(low + x * (high - low))
                        }
                    })
                    .collect();
                columns.push(column);
            }
            (0..n)
                .map(|i| axes.iter().zip(&columns).map(|((p, _), c)| (p.clone(), c[i].clone())).collect())
                .collect()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const BASE: &str = r#"
ticks = 2
assets = ["A", "B"]
[contracts.pool]
kind = "treasury"
asset = "A"
[contracts.curve]
kind = "bonding_curve"
reserve_asset = "A"
token = "B"
slope = 1.0
entry_tribute = 0.01
treasury = "pool"
[populations.p]
count = 10
"#;

    fn plan(extra: &str) -> Result<Plan, Error> {
        // Top-level keys (before the first table header) go before BASE's tables.
        let (top, tables) = match extra.find('[') {
            Some(i) => extra.split_at(i),
            None => (extra, ""),
        };
        expand(&LoadedScenario::from_str(Path::new("s.toml"), &format!("{top}{BASE}{tables}"))?)
    }

    fn param(run: &PlannedRun, i: usize) -> f64 {
        let v = &run.spec.params[i].1;
        v.as_float().or_else(|| v.as_integer().map(|i| i as f64)).unwrap()
    }

    #[test]
    fn grid_is_the_cartesian_product_times_replicates() {
        let p = plan("runs = 3\n[sweep]\n\"contracts.curve.entry_tribute\" = [0.1, 0.2]\n\"populations.p.count\" = [5, 6, 7]\n").unwrap();
        assert_eq!((p.runs.len(), p.n_points, p.scenarios.len()), (18, 6, 6));
        assert_eq!(p.swept, vec!["contracts.curve.entry_tribute", "populations.p.count"]);
        let last = &p.runs[17];
        assert_eq!(
            (last.spec.point_id, last.spec.replicate, param(last, 0), param(last, 1)),
            (5, 2, 0.2, 7.0)
        );
        assert_eq!(p.scenarios[last.scenario].scenario.populations["p"].count, 7);
        // Replicate r has the same seed at every point (common random numbers).
        assert_eq!(p.runs[0].spec.seed, p.runs[3].spec.seed);
        assert_ne!(p.runs[0].spec.seed, p.runs[1].spec.seed);
    }

    #[test]
    fn zip_walks_lists_together_and_checks_lengths() {
        let p = plan("[sweep]\nmode = \"zip\"\ncontracts.curve.entry_tribute = [0.1, 0.2]\npopulations.p.count = [5, 6]\n").unwrap();
        assert_eq!(p.runs.len(), 2);
        assert_eq!((param(&p.runs[1], 0), param(&p.runs[1], 1)), (0.2, 6.0));
        let e = plan(
            "[sweep]\nmode = \"zip\"\ncontracts.curve.entry_tribute = [0.1]\npopulations.p.count = [5, 6]\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("equal length"), "{e}");
    }

    #[test]
    fn latin_hypercube_puts_one_sample_in_each_stratum() {
        let p = plan("[sweep]\nmode = \"sample\"\nmethod = \"lhs\"\nsamples = 10\ncontracts.curve.entry_tribute = { low = 0.0, high = 0.5 }\npopulations.p.count = { low = 1, high = 10 }\n").unwrap();
        assert_eq!(p.runs.len(), 10);
        let mut strata: Vec<usize> = p.runs.iter().map(|r| (param(r, 0) / 0.05) as usize).collect();
        strata.sort();
        assert_eq!(strata, (0..10).collect::<Vec<_>>());
        let mut counts: Vec<i64> = p.runs.iter().map(|r| param(r, 1) as i64).collect();
        counts.sort();
        assert_eq!(counts, (1..=10).collect::<Vec<_>>(), "one integer per stratum");
    }

    #[test]
    fn variants_share_seeds_and_errors_name_the_path() {
        let p = plan("runs = 2\n[variants.a]\n\"contracts.curve.entry_tribute\" = 0.0\n[variants.b]\ncontracts.curve.entry_tribute = 0.3\n").unwrap();
        assert_eq!(p.runs.len(), 4);
        assert_eq!(p.runs[0].spec.seed, p.runs[2].spec.seed);
        assert_eq!(p.variants, vec!["a", "b"]);
        let e = plan("[sweep]\n\"contracts.curvx.slope\" = [1.0]\n").unwrap_err().to_string();
        assert!(
            e.starts_with("s.toml:") && e.contains("`contracts.curvx.slope`: no `contracts.curvx`"),
            "{e}"
        );
        assert!(e.contains("choices here") && e.ends_with("(set by `sweep.contracts.curvx.slope`)"), "{e}");
        let e = plan("[sweep]\n\"ticks\" = [\"many\"]\n").unwrap_err().to_string();
        assert!(e.contains("`ticks`") && e.contains("integer"), "{e}");
        let e = plan("[sweep]\nmode = \"random\"\n").unwrap_err().to_string();
        assert!(e.contains("grid, zip, sample"), "{e}");
        let e = plan("[variants.x]\ncontracts.curve.entry_tribute = \"high\"\n").unwrap_err().to_string();
        assert!(
            e.contains("`contracts.curve.entry_tribute`")
                && e.ends_with("(set by `variants.x.contracts.curve.entry_tribute`)"),
            "{e}"
        );
    }
}
