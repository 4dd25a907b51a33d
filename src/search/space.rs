//! The search space of a stress search or calibration: the `[search]`
//! table of a scenario.
//!
//! ```toml
//! [search]
//! "contracts.eth_usd.shocks.0.factor" = { low = 0.2, high = 0.9 }
//! "contracts.market.liquidation_bonus" = { low = 0.01, high = 0.2 }
//! "populations.leveraged.count" = { low = 50, high = 2_000, integer = true }
//! replicates = 4          # runs per candidate, common random numbers
//! ```
//!
//! Each dimension is any value a `--set` can reach (dotted path, numeric
//! keys index arrays). [`Space::of`] checks every path and both bounds
//! against the scenario's schema, so a typo or a wrong type is a located
//! error before anything runs.

use crate::error::{Error, ScenarioError};
use crate::output::runs::swept_column;
use crate::scenario::source::join;
use crate::scenario::{LoadedScenario, get_path};

/// Keys of `[search]` that configure it rather than name a path.
const SEARCH_KEYS: [&str; 1] = ["replicates"];
/// Keys of one dimension's range table.
const RANGE_KEYS: [&str; 3] = ["low", "high", "integer"];

/// Columns `search.parquet` (stress) and `calibration.parquet` hold besides
/// one per dimension; no dimension's column may take one of their names.
pub const FIXED_COLUMNS: [&str; 10] = [
    "eval_id",
    "generation",
    "seed",
    "margin_mean",
    "margin_worst",
    "failures",
    "replicates",
    "loss",
    "holdout_loss",
    "best",
];

/// One dimension of the space.
#[derive(Clone, Debug, PartialEq)]
pub struct Dim {
    /// Dotted path of the scenario value it sets.
    pub path: String,
    /// Lowest value searched.
    pub low: f64,
    /// Highest value searched.
    pub high: f64,
    /// Whether values are rounded to integers when evaluated.
    pub integer: bool,
    /// The scenario's own value there, if it writes one.
    pub base: Option<f64>,
}

impl Dim {
    /// The real value at unit coordinate `u` in [0, 1] (clamped), rounded
    /// for integer dimensions.
    pub fn at(&self, u: f64) -> f64 {
        let x = self.low + u.clamp(0.0, 1.0) * (self.high - self.low);
        if self.integer { x.round().clamp(self.low, self.high) } else { x }
    }

    /// The unit coordinate of real value `x` (clamped to the range).
    pub fn unit(&self, x: f64) -> f64 {
        ((x - self.low) / (self.high - self.low)).clamp(0.0, 1.0)
    }

    /// `x` as the TOML value a scenario takes (an integer for integer dims).
    pub fn value(&self, x: f64) -> toml::Value {
        if self.integer {
            toml::Value::Integer(x.round().clamp(self.low, self.high) as i64)
        } else {
            toml::Value::Float(x)
        }
    }
}

/// The dimensions and the replicates per candidate.
#[derive(Clone, Debug, PartialEq)]
pub struct Space {
    /// Dimensions, in the order the table lists them.
    pub dims: Vec<Dim>,
    /// Runs per candidate (replicate `r` has `tokensim run`'s seed `r`).
    pub replicates: u32,
}

impl Space {
    /// Reads and checks the scenario's `[search]` table.
    pub fn of(loaded: &LoadedScenario) -> Result<Space, Error> {
        let search = &loaded.scenario.search;
        let source = &loaded.source;
        if search.is_empty() {
            return Err(source
                .error("search", "the scenario has no [search] table; add one naming the dimensions, e.g. \"contracts.market.liquidation_bonus\" = { low = 0.01, high = 0.2 }")
                .into());
        }
        let replicates = match search.get("replicates") {
            None => 1,
            Some(toml::Value::Integer(n)) if (1..=i64::from(u32::MAX)).contains(n) => *n as u32,
            Some(other) => {
                return Err(source
                    .error("search.replicates", format!("must be an integer >= 1, got `{other}`"))
                    .into());
            }
        };
        let mut leaves = Vec::new();
        for (key, value) in search.iter().filter(|(k, _)| !SEARCH_KEYS.contains(&k.as_str())) {
            flatten(key, value, &mut leaves);
        }
        if leaves.is_empty() {
            return Err(source.error("search", "names no dimension; add e.g. \"contracts.market.liquidation_bonus\" = { low = 0.01, high = 0.2 }").into());
        }
        let mut dims: Vec<Dim> = Vec::new();
        for (path, value) in leaves {
            let field = format!("search.{path}");
            if dims.iter().any(|d| d.path == path) {
                return Err(source.error(&field, "is searched twice; give its range once").into());
            }
            let d = dim(loaded, &path, &field, &value)?;
            check_column(loaded, &dims, &d, &field)?;
            dims.push(d);
        }
        Ok(Space { dims, replicates })
    }

    /// The overrides that set the scenario to point `x` (real units, one
    /// value per dimension); integer dimensions are rounded.
    pub fn overrides(&self, x: &[f64]) -> Vec<(String, toml::Value)> {
        self.dims.iter().zip(x).map(|(d, &v)| (d.path.clone(), d.value(v))).collect()
    }

    /// Real values of unit-cube point `u`.
    pub fn from_unit(&self, u: &[f64]) -> Vec<f64> {
        self.dims.iter().zip(u).map(|(d, &u)| d.at(u)).collect()
    }

    /// Unit-cube coordinates of real point `x`.
    pub fn to_unit(&self, x: &[f64]) -> Vec<f64> {
        self.dims.iter().zip(x).map(|(d, &x)| d.unit(x)).collect()
    }
}

/// Refuses a dimension whose column in `search.parquet` and
/// `calibration.parquet` would repeat an earlier dimension's or a fixed
/// one's: names lose their dots and punctuation (`t.grant_rate` and
/// `t_grant.rate` meet), and a table with a repeated column cannot be read.
fn check_column(loaded: &LoadedScenario, dims: &[Dim], d: &Dim, field: &str) -> Result<(), ScenarioError> {
    let column = swept_column(&d.path);
    let tables = "search.parquet and calibration.parquet";
    let clash = match dims.iter().find(|e| swept_column(&e.path) == column) {
        Some(first) => format!(
            "this path and `{}` would both be column `{column}` of {tables} (dots and punctuation \
             become `_`, letters lower case)",
            first.path
        ),
        None if FIXED_COLUMNS.contains(&column.as_str()) => {
            format!("this path would be column `{column}`, which {tables} always have")
        }
        None => return Ok(()),
    };
    Err(loaded.source.error(
        field,
        format!("{clash}; a table cannot hold two columns of one name, so search only one of them"),
    ))
}

/// A range table: only `low`, `high` and `integer` keys.
fn is_range(t: &toml::Table) -> bool {
    t.contains_key("low") || t.contains_key("high")
}

/// `(dotted path, leaf)` pairs under `key`; range tables are leaves.
fn flatten(key: &str, value: &toml::Value, out: &mut Vec<(String, toml::Value)>) {
    match value {
        toml::Value::Table(t) if !is_range(t) && !t.is_empty() => {
            for (k, v) in t {
                flatten(&join(key, k), v, out);
            }
        }
        other => out.push((key.to_string(), other.clone())),
    }
}

fn dim(loaded: &LoadedScenario, path: &str, field: &str, value: &toml::Value) -> Result<Dim, Error> {
    let source = &loaded.source;
    let toml::Value::Table(t) = value else {
        return Err(source
            .error(
                field,
                format!("give a range {{ low = …, high = … }} (optionally integer = true), got `{value}`"),
            )
            .into());
    };
    if let Some(k) = t.keys().find(|k| !RANGE_KEYS.contains(&k.as_str())) {
        return Err(source
            .error(
                &format!("{field}.{k}"),
                format!("unknown key `{k}`; valid keys: {}", RANGE_KEYS.join(", ")),
            )
            .into());
    }
    let bound = |k: &str| -> Result<f64, ScenarioError> {
        match t.get(k) {
            Some(toml::Value::Integer(i)) => Ok(*i as f64),
            Some(toml::Value::Float(f)) if f.is_finite() => Ok(*f),
            Some(other) => {
                Err(source.error(&format!("{field}.{k}"), format!("must be a finite number, got `{other}`")))
            }
            None => Err(source.error(field, format!("needs `{k}`: give {{ low = …, high = … }}"))),
        }
    };
    let (low, high) = (bound("low")?, bound("high")?);
    if low >= high {
        return Err(source.error(field, format!("low {low} must be below high {high}")).into());
    }
    let base_value = get_path(&loaded.table, path);
    if let Some(v) = base_value
        && !(v.is_integer() || v.is_float())
    {
        return Err(source
            .error(
                field,
                format!(
                    "`{path}` is a {} in the scenario (`{v}`); only numbers can be searched",
                    v.type_str()
                ),
            )
            .into());
    }
    let integer = match t.get("integer") {
        None => base_value.is_some_and(toml::Value::is_integer),
        Some(toml::Value::Boolean(b)) => *b,
        Some(other) => {
            return Err(source
                .error(&format!("{field}.integer"), format!("must be true or false, got `{other}`"))
                .into());
        }
    };
    if integer && (low.fract() != 0.0 || high.fract() != 0.0) {
        return Err(source
            .error(field, format!("an integer dimension needs integer bounds, got {low} and {high}"))
            .into());
    }
    let d = Dim {
        path: path.to_string(),
        low,
        high,
        integer,
        base: base_value
            .and_then(toml::Value::as_float)
            .or_else(|| base_value.and_then(toml::Value::as_integer).map(|i| i as f64)),
    };
    // Both bounds must make a valid scenario (path exists, type fits).
    for x in [low, high] {
        loaded.with_overrides(&[(path.to_string(), d.value(x))], "search")?;
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const BASE: &str = r#"ticks = 2
assets = ["A"]
[contracts.feed]
kind = "price_feed"
initial = 1.0
shocks = [{ tick = 1, factor = 0.5 }]
[populations.p]
count = 10
"#;

    fn space(search: &str) -> Result<Space, Error> {
        Space::of(&LoadedScenario::from_str(Path::new("s.toml"), &format!("{BASE}[search]\n{search}"))?)
    }

    #[test]
    fn reads_dimensions_into_arrays_with_their_base_values() {
        let s = space("replicates = 3\n\"contracts.feed.shocks.0.factor\" = { low = 0.1, high = 0.9 }\npopulations.p.count = { low = 5, high = 50 }\n").unwrap();
        assert_eq!(s.replicates, 3);
        assert_eq!(
            s.dims[0],
            Dim {
                path: "contracts.feed.shocks.0.factor".into(),
                low: 0.1,
                high: 0.9,
                integer: false,
                base: Some(0.5)
            }
        );
        assert_eq!((s.dims[1].integer, s.dims[1].base), (true, Some(10.0)));
        let o = s.overrides(&[0.3, 17.4]);
        assert_eq!(o[1], ("populations.p.count".to_string(), toml::Value::Integer(17)));
        assert_eq!(s.from_unit(&[0.5, 1.0]), vec![0.5, 50.0]);
    }

    #[test]
    fn bad_tables_are_located_errors() {
        let err = |t: &str| space(t).unwrap_err().to_string();
        let e = err("\"contracts.fed.initial\" = { low = 1, high = 2 }\n");
        assert!(
            e.starts_with("s.toml:10:1: `contracts.fed.initial`: no `contracts.fed`")
                && e.contains("choices here: feed"),
            "{e}"
        );
        let e = err("\"contracts.feed.shocks.3.factor\" = { low = 0.1, high = 0.2 }\n");
        assert!(e.contains("index 3 is past the end"), "{e}");
        let e = err("\"contracts.feed.initial\" = { low = 2.0, high = 1.0 }\n");
        assert!(
            e.starts_with("s.toml:10:1: `search.contracts.feed.initial`: low 2 must be below high 1"),
            "{e}"
        );
        let e = err("\"contracts.feed.initial\" = { low = 1.0, hgh = 2.0 }\n");
        assert!(e.contains("unknown key `hgh`; valid keys: low, high, integer"), "{e}");
        let e = err("\"contracts.feed.initial\" = [1.0, 2.0]\n");
        assert!(e.contains("give a range"), "{e}");
        let e = err("\"contracts.feed.kind\" = { low = 1.0, high = 2.0 }\n");
        assert!(e.contains("only numbers can be searched"), "{e}");
        let e = err("populations.p.count = { low = 1.5, high = 9 }\n");
        assert!(e.contains("integer bounds"), "{e}");
        let e = err("populations.p.count = { low = 1, high = 9, integer = false }\n");
        assert!(e.contains("populations.p.count") && e.contains("set by `search"), "{e}");
        let e = err("replicates = 0\n\"contracts.feed.initial\" = { low = 1, high = 2 }\n");
        assert!(e.starts_with("s.toml:10:1: `search.replicates`: must be an integer >= 1"), "{e}");
        let e = err("replicates = 2\n");
        assert!(e.contains("names no dimension"), "{e}");
        let e = err("\"contracts.feed.initial\" = { low = 1, high = nan }\n");
        assert!(e.contains("finite number"), "{e}");
    }

    #[test]
    fn dimensions_sharing_a_column_are_refused_at_the_second() {
        let text = format!(
            "{BASE}[contracts.Feed]\nkind = \"price_feed\"\ninitial = 2.0\n[search]\ncontracts.feed.initial = {{ low = 1, high = 2 }}\ncontracts.Feed.initial = {{ low = 1, high = 2 }}\n"
        );
        let e = Space::of(&LoadedScenario::from_str(Path::new("s.toml"), &text).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("s.toml:14:")
                && e.contains("`search.contracts.Feed.initial`: ")
                && e.contains("`contracts.feed.initial` would both be column `contracts_feed_initial`"),
            "{e}"
        );
    }
}
