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
//!
//! The sensitivity modes take the same ranges: `mode = "morris"` with
//! `trajectories = r` and `levels = p` (even, default 4) makes `r·(d+1)`
//! points, `mode = "sobol"` with `samples = N` makes Saltelli's `N·(d+2)`
//! points. Their point ids follow [`crate::search::design`], which
//! `tokensim sensitivity` recomputes from the manifest's scenario and seed.

use rand::RngExt;
use rand::seq::SliceRandom;

use crate::engine::RunSpec;
use crate::engine::rng::{Stream, run_seed, stream_rng};
use crate::error::{Error, ScenarioError};
use crate::output::runs::swept_column;
use crate::scenario::source::join;
use crate::scenario::{LoadedScenario, get_path};

/// Keys of `[sweep]` that configure it rather than name a path.
const SWEEP_KEYS: [&str; 5] = ["mode", "samples", "method", "trajectories", "levels"];

/// Which modes use each configuration key.
const KEY_MODES: [(&str, &str); 4] = [
    ("samples", "mode = \"sample\" or \"sobol\""),
    ("method", "mode = \"sample\""),
    ("trajectories", "mode = \"morris\""),
    ("levels", "mode = \"morris\""),
];

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

pub use crate::output::runs::ParamType;

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

/// How sweep points are formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Cartesian product of value lists.
    Grid,
    /// Value lists walked together.
    Zip,
    /// `n` points from ranges, uniform or Latin hypercube.
    Sample {
        /// Number of points.
        n: usize,
        /// Latin hypercube rather than independent uniform draws.
        lhs: bool,
    },
    /// Morris trajectories over ranges.
    Morris {
        /// Number of trajectories `r`.
        trajectories: usize,
        /// Grid levels `p`.
        levels: usize,
    },
    /// Saltelli's design for Sobol indices over ranges.
    Sobol {
        /// Base samples `N`.
        n: usize,
    },
}

impl Mode {
    /// Whether the mode takes `{ low, high }` ranges rather than lists.
    fn ranges(self) -> bool {
        !matches!(self, Mode::Grid | Mode::Zip)
    }
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
    check_points(loaded, mode, &axes)?;
    let points = points(loaded, mode, &axes)?;
    let swept: Vec<String> = axes.iter().map(|(p, _)| p.clone()).collect();

    let mut variants: Vec<(String, Vec<(String, toml::Value)>)> = Vec::new();
    for (name, table) in &sc.variants {
        if name.is_empty() {
            return Err(source.error("variants", "a variant needs a name").into());
        }
        let mut leaves = Vec::new();
        flatten(table, "", &mut leaves, &|_| false).map_err(|path| {
            source.error(
                &format!("variants.{name}.{path}"),
                "an empty table sets nothing; give the value this variant sets, e.g. 0.0, or remove the line",
            )
        })?;
        variants.push((name.clone(), leaves));
    }
    if variants.is_empty() {
        variants.push((String::new(), Vec::new()));
    }
    check_size(loaded, &points, &variants)?;

    let mut scenarios = Vec::new();
    let mut runs = Vec::new();
    for (p, point) in points.iter().enumerate() {
        let at_point = loaded.with_overrides(point, "sweep")?;
        for (name, overrides) in &variants {
            let origin = if name.is_empty() { "variants".to_string() } else { format!("variants.{name}") };
            let resolved = at_point.with_overrides(overrides, &origin)?;
            let (replicates, seed) = (resolved.scenario.runs, resolved.scenario.seed);
            if replicates == 0 {
                return Err(resolved
                    .source
                    .error("runs", "must be at least 1 (a variant with 0 runs produces nothing)")
                    .into());
            }
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
    // After every path resolved, so a mistyped one is reported as such.
    check_columns(loaded, &swept)?;
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

/// Refuses two swept paths that would share a `runs.parquet` column, at
/// the second: names lose their dots and punctuation (`x.initial_base`
/// and `x_initial.base` meet), and a table with a repeated column cannot
/// be read. A fixed column is never hit: [`swept_column`] prefixes it.
fn check_columns(loaded: &LoadedScenario, swept: &[String]) -> Result<(), ScenarioError> {
    for (i, path) in swept.iter().enumerate() {
        let column = swept_column(path);
        if let Some(first) = swept[..i].iter().find(|p| swept_column(p) == column) {
            return Err(loaded.source.error(
                &format!("sweep.{path}"),
                format!(
                    "this path and `{first}` would both be runs.parquet column `{column}` (dots and \
                     punctuation become `_`, letters lower case); a table cannot hold two columns \
                     of one name, so sweep only one of them"
                ),
            ));
        }
    }
    Ok(())
}

/// Bytes a planned (point, variant) scenario takes: its resolved copy of
/// the scenario (text, table, schema) is about four times its text.
fn scenario_bytes(loaded: &LoadedScenario) -> u128 {
    4 * loaded.source.text_len() as u128 + 16 * 1024
}

/// Bytes one planned run takes (its spec, seed and swept values).
const RUN_BYTES: u128 = 256;

/// Refuses a sweep whose number of points cannot be held in memory,
/// before the points are built (a grid's size is the product of its
/// axes' lengths).
fn check_points(loaded: &LoadedScenario, mode: Mode, axes: &[(String, Axis)]) -> Result<(), ScenarioError> {
    let n: u128 = match mode {
        Mode::Grid => axes.iter().fold(1u128, |n, (_, a)| match a {
            Axis::Values(v) => n.saturating_mul(v.len() as u128),
            Axis::Range { .. } => n,
        }),
        Mode::Zip => axes.first().map_or(1, |(_, a)| match a {
            Axis::Values(v) => v.len() as u128,
            Axis::Range { .. } => 1,
        }),
        Mode::Sample { n, .. } => n as u128,
        // r trajectories of d + 1 points; N·(d + 2) Saltelli points.
        Mode::Morris { trajectories, .. } => (trajectories as u128).saturating_mul(axes.len() as u128 + 1),
        Mode::Sobol { n } => (n as u128).saturating_mul(axes.len() as u128 + 2),
    };
    let field = match mode {
        Mode::Sample { .. } | Mode::Sobol { .. } => "sweep.samples",
        Mode::Morris { .. } => "sweep.trajectories",
        _ => "sweep",
    };
    crate::memory::fits("sweep points", n, scenario_bytes(loaded) + RUN_BYTES, crate::memory::available())
        .map_err(|m| loaded.source.error(field, m))
}

/// Refuses a plan (points × variants × runs) that cannot be held in
/// memory or numbered with 32-bit run ids, naming the figure.
fn check_size(
    loaded: &LoadedScenario,
    points: &[Vec<(String, toml::Value)>],
    variants: &[(String, Vec<(String, toml::Value)>)],
) -> Result<(), ScenarioError> {
    let most_runs = variants
        .iter()
        .flat_map(|(_, o)| o.iter().filter(|(p, _)| p == "runs").filter_map(|(_, v)| v.as_integer()))
        .map(|r| r.max(0) as u128)
        .chain([u128::from(loaded.scenario.runs)])
        .max()
        .unwrap_or(1);
    let scenarios = points.len() as u128 * variants.len() as u128;
    let runs = scenarios.saturating_mul(most_runs);
    let source = &loaded.source;
    if runs > u128::from(u32::MAX) {
        return Err(source.error(
            "runs",
            format!(
                "the plan has {runs} runs (points × variants × runs); at most {} are supported",
                u32::MAX
            ),
        ));
    }
    let bytes = scenarios * scenario_bytes(loaded) + runs * RUN_BYTES;
    crate::memory::fits("planned runs", runs, bytes.div_ceil(runs.max(1)), crate::memory::available())
        .map_err(|m| source.error("runs", m))
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
/// sub-tables unless `leaf_table` says a table is itself a leaf. An empty
/// sub-table sets nothing, so rather than vanish it is refused: `Err`
/// holds its path.
fn flatten(
    table: &toml::Table,
    prefix: &str,
    out: &mut Vec<(String, toml::Value)>,
    leaf_table: &dyn Fn(&toml::Table) -> bool,
) -> Result<(), String> {
    for (key, value) in table {
        let path = join(prefix, key);
        match value {
            toml::Value::Table(t) if t.is_empty() => return Err(path),
            toml::Value::Table(t) if !leaf_table(t) => flatten(t, &path, out, leaf_table)?,
            other => out.push((path, other.clone())),
        }
    }
    Ok(())
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
    let count = |key: &str, min: i64, max: i64, example: &str| -> Result<usize, ScenarioError> {
        match sweep.get(key) {
            Some(toml::Value::Integer(n)) if (min..=max).contains(n) => Ok(*n as usize),
            Some(other) => Err(source.error(
                &format!("sweep.{key}"),
                format!("must be an integer from {min} to {max}, got `{other}`"),
            )),
            None => {
                Err(source.error(&format!("sweep.{key}"), format!("this mode needs `{key} = N` ({example})")))
            }
        }
    };
    let mode_name = string("mode", "grid")?;
    let mode = match mode_name.as_str() {
        "grid" => Mode::Grid,
        "zip" => Mode::Zip,
        "sample" => {
            let n = count("samples", 1, i64::from(u32::MAX), "e.g. samples = 100")?;
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
        "morris" => {
            let trajectories = count("trajectories", 1, 1_000_000, "e.g. trajectories = 20")?;
            let levels = if sweep.contains_key("levels") {
                count("levels", 2, 1_000_000, "e.g. levels = 4")?
            } else {
                4
            };
            if levels % 2 != 0 {
                return Err(source.error(
                    "sweep.levels",
                    format!("must be even (a step of p/(2(p−1)) needs it), got {levels}"),
                ));
            }
            Mode::Morris { trajectories, levels }
        }
        "sobol" => Mode::Sobol {
            n: count("samples", 2, crate::search::design::MAX_SOBOL_SAMPLES as i64, "e.g. samples = 1024")?,
        },
        other => {
            return Err(source.error(
                "sweep.mode",
                format!("unknown mode `{other}`; valid choices: grid, zip, sample, morris, sobol"),
            ));
        }
    };
    for (key, modes) in KEY_MODES {
        let used = match key {
            "samples" => matches!(mode, Mode::Sample { .. } | Mode::Sobol { .. }),
            "method" => matches!(mode, Mode::Sample { .. }),
            _ => matches!(mode, Mode::Morris { .. }),
        };
        if sweep.contains_key(key) && !used {
            return Err(source.error(
                &format!("sweep.{key}"),
                format!("only used with {modes}, not mode = \"{mode_name}\""),
            ));
        }
    }
    let mut leaves = Vec::new();
    let paths: toml::Table = sweep
        .iter()
        .filter(|(k, _)| !SWEEP_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    flatten(&paths, "", &mut leaves, &is_range).map_err(|path| {
        let give = if mode.ranges() {
            "a range { low = …, high = … }"
        } else {
            "a list of values, e.g. [0.01, 0.05]"
        };
        source.error(&format!("sweep.{path}"), format!("an empty table sets nothing; give {give}"))
    })?;
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
            (toml::Value::Table(t), m) if m.ranges() => {
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
            (_, m) if m.ranges() => {
                return Err(
                    source.error(&field, format!("in {mode_name} mode give a range {{ low = …, high = … }}"))
                );
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
                let mut strata: Vec<usize> = (0..n).collect();
                if lhs {
                    strata.shuffle(&mut rng);
                }
                let column = strata
                    .iter()
                    .map(|&s| {
                        let u: f64 = rng.random();
                        range_value(axis, if lhs { (s as f64 + u) / n as f64 } else { u })
                    })
                    .collect();
                columns.push(column);
            }
            (0..n)
                .map(|i| axes.iter().zip(&columns).map(|((p, _), c)| (p.clone(), c[i].clone())).collect())
                .collect()
        }
        Mode::Morris { trajectories, levels } => {
            let design =
                crate::search::design::morris(axes.len(), trajectories, levels, loaded.scenario.seed);
            unit_points(axes, &design.points)
        }
        Mode::Sobol { n } => {
            let d = axes.len();
            if d > crate::search::design::MAX_SOBOL_DIMS {
                return Err(loaded.source.error(
                    "sweep",
                    format!(
                        "sobol mode takes at most {} paths, got {d}",
                        crate::search::design::MAX_SOBOL_DIMS
                    ),
                ));
            }
            unit_points(axes, &crate::search::design::saltelli(n, d, loaded.scenario.seed))
        }
    })
}

/// The sweep points of unit-cube design points.
fn unit_points(axes: &[(String, Axis)], points: &[Vec<f64>]) -> Vec<Vec<(String, toml::Value)>> {
    points
        .iter()
        .map(|u| axes.iter().zip(u).map(|((p, a), &u)| (p.clone(), range_value(a, u))).collect())
        .collect()
}

/// The value of a range axis at unit coordinate `x` in [0, 1]: uniform over
/// the integers `low..=high` for integer bounds.
fn range_value(axis: &Axis, x: f64) -> toml::Value {
    let Axis::Range { low, high, integer } = *axis else { unreachable!("range modes have ranges") };
    if integer {
        toml::Value::Integer((low + (x * (high - low + 1.0)).floor().min(high - low)) as i64)
    } else {
        toml::Value::Float(low + x * (high - low))
    }
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
        assert!(e.contains("grid, zip, sample, morris, sobol"), "{e}");
        let e = plan("[variants.x]\ncontracts.curve.entry_tribute = \"high\"\n").unwrap_err().to_string();
        assert!(
            e.contains("`contracts.curve.entry_tribute`")
                && e.ends_with("(set by `variants.x.contracts.curve.entry_tribute`)"),
            "{e}"
        );
    }

    #[test]
    fn empty_tables_are_refused_at_their_path() {
        let e = plan("[sweep]\n\"contracts.curve.entry_tribute\" = {}\npopulations.p.count = [1, 2]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`sweep.contracts.curve.entry_tribute`: an empty table sets nothing"), "{e}");
        let e = plan("[variants.a]\ncontracts.curve = {}\n").unwrap_err().to_string();
        assert!(e.contains("`variants.a.contracts.curve`: an empty table sets nothing"), "{e}");
        assert_eq!(plan("[variants.control]\n").unwrap().variants, vec!["control"]);
    }

    #[test]
    fn swept_paths_sharing_a_column_are_refused_at_the_second() {
        // Column names are lower case: `pool` and `Pool` meet.
        let two = "[contracts.Pool]\nkind = \"treasury\"\nasset = \"A\"\n";
        let e = plan(&format!(
            "{two}[sweep]\ncontracts.pool.initial_balance = [1.0]\ncontracts.Pool.initial_balance = [2.0]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`sweep.contracts.Pool.initial_balance`")
                && e.contains("`contracts.pool.initial_balance` would both be runs.parquet column `contracts_pool_initial_balance`"),
            "{e}"
        );
    }

    #[test]
    fn morris_and_sobol_designs_have_their_sizes_and_check_their_keys() {
        let ranges = "contracts.curve.entry_tribute = { low = 0.0, high = 0.5 }\npopulations.p.count = { low = 1, high = 10 }\n";
        let p = plan(&format!("[sweep]\nmode = \"morris\"\ntrajectories = 5\n{ranges}")).unwrap();
        assert_eq!(p.n_points, 5 * 3);
        // Within a trajectory, consecutive points differ in exactly one value.
        for t in 0..5 {
            for k in 1..3 {
                let (a, b) = (&p.runs[t * 3 + k - 1], &p.runs[t * 3 + k]);
                assert_eq!((0..2).filter(|&i| param(a, i) != param(b, i)).count(), 1);
            }
        }
        let p = plan(&format!("runs = 2\n[sweep]\nmode = \"sobol\"\nsamples = 8\n{ranges}")).unwrap();
        assert_eq!((p.n_points, p.runs.len()), (8 * 4, 8 * 4 * 2));
        assert_eq!(param(&p.runs[2 * 2], 0), param(&p.runs[0], 0), "AB_1 keeps A's first column");
        assert_eq!(param(&p.runs[2 * 2], 1), param(&p.runs[3 * 2], 1), "and takes B's second");
        let err = |extra: &str| plan(&format!("[sweep]\n{extra}{ranges}")).unwrap_err().to_string();
        let e = err("mode = \"morris\"\n");
        assert!(e.contains("`sweep.trajectories`: this mode needs `trajectories = N`"), "{e}");
        let e = err("mode = \"morris\"\ntrajectories = 4\nlevels = 5\n");
        assert!(e.starts_with("s.toml:") && e.contains("`sweep.levels`: must be even"), "{e}");
        let e = err("mode = \"sobol\"\nsamples = 8\ntrajectories = 3\n");
        assert!(e.contains("`sweep.trajectories`: only used with mode = \"morris\""), "{e}");
        let e = err("mode = \"sobol\"\nsamples = 100000\n");
        assert!(e.contains("from 2 to 65536"), "{e}");
        let e = plan("[sweep]\nmode = \"sobol\"\nsamples = 4\n\"populations.p.count\" = [1, 2]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("in sobol mode give a range"), "{e}");
    }
}
