//! Scenario files: the TOML schema, loading with located errors, and
//! per-agent parameter distributions.
//!
//! A scenario names assets, contracts (each with a registered `kind`),
//! populations of agents (count, starting balances, behaviours) and
//! optionally replayed orders. Contract and behaviour parameters are kept as
//! TOML tables here and deserialised by their registered kind at build
//! time, so user-defined mechanisms get the same checks as built-in ones.

pub mod dist;
pub mod rewrite;
pub mod series;
pub mod source;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use dist::{AgentParam, Param};
pub use source::Source;

use crate::error::{Error, ScenarioError};

/// A whole scenario as written in its TOML file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name; used as the default output directory.
    #[serde(default)]
    pub name: String,
    /// Free text shown by `tokensim validate`.
    #[serde(default)]
    pub description: String,
    /// Master seed; every random stream derives from it.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Number of ticks (blocks) to simulate.
    pub ticks: u32,
    /// Order in which agents' transactions settle within a tick.
    #[serde(default)]
    pub ordering: Ordering,
    /// Write per-agent rows every this many ticks (0: never).
    #[serde(default)]
    pub snapshot_every: u32,
    /// Asset names (`["DAI", "TKN"]`); every balance is in one of these.
    pub assets: Vec<String>,
    /// Contracts by name; each table has a `kind` and that kind's parameters.
    #[serde(default)]
    pub contracts: IndexMap<String, toml::Table>,
    /// Agent populations by name, in the order their ids are assigned.
    #[serde(default)]
    pub populations: IndexMap<String, Population>,
    /// Replayed orders, applied before agents' own intents.
    #[serde(default)]
    pub orders: Option<OrdersSpec>,
    /// Output columns: `name = "contract.metric"` selects and renames
    /// contract metrics (default: every metric as `<contract>_<metric>`);
    /// `name = { population = …, of = …, stat = … }` adds a population
    /// metric (see [`crate::properties::spec::population_metrics`]).
    #[serde(default)]
    pub metrics: IndexMap<String, toml::Value>,
    /// Properties by name: a temporal form (`always`, `eventually`,
    /// `at_end`) with a condition over tick metrics (see
    /// [`crate::properties`]).
    #[serde(default)]
    pub properties: IndexMap<String, toml::Table>,
    /// Output options.
    #[serde(default)]
    pub output: OutputOptions,
    /// Monte Carlo replicates per parameter point (and variant).
    #[serde(default = "one_run")]
    pub runs: u32,
    /// Parameter sweep: `mode`, `samples`, `method`, and dotted paths with
    /// their values (see [`crate::experiment::plan`]).
    #[serde(default)]
    pub sweep: toml::Table,
    /// A/B variants: name → overrides by dotted path.
    #[serde(default)]
    pub variants: IndexMap<String, toml::Table>,
    /// Stress search space: dotted paths with `{ low, high, integer }`
    /// ranges and `replicates` (see [`crate::search::space`]).
    #[serde(default)]
    pub search: toml::Table,
    /// Observed data to backtest against and calibrate to: `file`, `time`,
    /// `columns` (metric = data column), `fill` (see [`crate::observed`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<toml::Table>,
}

/// The keys of [`Scenario`], as written at the top of a file (checked
/// against the schema by a test); a key among these written after a
/// `[table]` header gets a hint that TOML put it inside that table.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "name",
    "description",
    "seed",
    "ticks",
    "ordering",
    "snapshot_every",
    "assets",
    "contracts",
    "populations",
    "orders",
    "metrics",
    "properties",
    "output",
    "runs",
    "sweep",
    "variants",
    "search",
    "observed",
];

fn one_run() -> u32 {
    1
}

fn default_seed() -> u64 {
    1
}

/// How transactions within a tick are ordered for settlement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ordering {
    /// Ascending agent id (the default; like a fair FIFO).
    #[default]
    AgentId,
    /// A fresh seeded random order of agents every tick.
    Shuffle,
}

/// A group of agents sharing a parameter recipe.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Population {
    /// Number of agents.
    pub count: u64,
    /// Starting balance per asset: a number or a distribution.
    #[serde(default)]
    pub balances: IndexMap<String, AgentParam>,
    /// Behaviours by registered name, each with its parameters. An empty
    /// table makes passive holders.
    #[serde(default)]
    pub behaviours: IndexMap<String, toml::Table>,
}

/// Where replayed orders come from.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrdersSpec {
    /// CSV or Parquet file with columns `tick, agent_id, side, amount` and
    /// optionally `contract` and `about` (see [`crate::engine::replay`]);
    /// relative paths are from the scenario file.
    pub file: PathBuf,
}

/// What to write besides the per-tick metrics.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutputOptions {
    /// Write every settled and rejected transaction to `events.parquet`
    /// (`tokensim run --events`). Off by default: it is one row per
    /// transaction, most of a run's output and a third of its time.
    #[serde(default)]
    pub events: bool,
}

/// A scenario with the file it came from, ready to validate and run.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    /// The parsed scenario.
    pub scenario: Scenario,
    /// The value tree it was parsed from (after overrides).
    pub table: toml::Table,
    /// Its source, to locate errors.
    pub source: Source,
    /// Directory relative paths in the scenario resolve against.
    pub base_dir: PathBuf,
}

impl LoadedScenario {
    /// Reads and parses a scenario file (without building it).
    pub fn load(path: &Path) -> Result<Self, Error> {
        let (source, table) = Source::load(path)?;
        Self::from_parts(path, source, table)
    }

    /// Parses scenario text as if read from `path` (for tests and tools).
    pub fn from_str(path: &Path, text: &str) -> Result<Self, Error> {
        let (source, table) = Source::parse(path, text.to_string())?;
        Self::from_parts(path, source, table)
    }

    fn from_parts(path: &Path, source: Source, table: toml::Table) -> Result<Self, Error> {
        let scenario = from_table(&source, "", toml::Value::Table(table.clone()))?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(LoadedScenario { scenario, table, source, base_dir })
    }

    /// The same scenario with `overrides` applied (`(dotted path, value)`),
    /// each reported as coming from `origin` (e.g. `--set`) in errors.
    pub fn with_overrides(&self, overrides: &[(String, toml::Value)], origin: &str) -> Result<Self, Error> {
        let mut table = self.table.clone();
        let mut source = self.source.clone();
        for (path, value) in overrides {
            source.note_override(path, origin);
            set_path(&mut table, path, value.clone()).map_err(|m| source.error(path, m))?;
        }
        let scenario = from_table(&source, "", toml::Value::Table(table.clone()))?;
        Ok(LoadedScenario { scenario, table, source, base_dir: self.base_dir.clone() })
    }
}

/// Parses a command-line `path=value`. The value is read as TOML (`0.05`,
/// `true`, `[1, 2]`, `"text"`); anything that is not valid TOML is taken as
/// a string.
pub fn parse_assignment(text: &str) -> Result<(String, toml::Value), String> {
    let (path, value) = text.split_once('=').ok_or_else(|| {
        format!("`{text}` is not of the form path=value (e.g. contracts.curve.entry_tribute=0.1)")
    })?;
    let path = path.trim();
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(format!("`{path}` is not a dotted path such as contracts.curve.slope"));
    }
    let value = value.trim();
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    Ok((path.to_string(), parsed))
}

/// Sets the value at a dotted path. Every table on the way must exist (so a
/// typo in a contract or population name is an error); the last key may be
/// new, and is then checked by the schema like any other key. A numeric
/// key indexes an array (`contracts.feed.shocks.0.factor`); the element must
/// exist.
pub fn set_path(table: &mut toml::Table, path: &str, value: toml::Value) -> Result<(), String> {
    let keys: Vec<&str> = path.split('.').collect();
    let (last, parents) = keys.split_last().expect("non-empty path");
    let mut current = table;
    let mut walked = String::new();
    let mut parents = parents.iter();
    while let Some(key) = parents.next() {
        let choices = current.keys().cloned().collect::<Vec<_>>().join(", ");
        walked = source::join(&walked, key);
        // A missing top-level section (`output`, `sweep`) may be created, and
        // so may tables inside `sweep`, `variants` and `search`, whose keys
        // are paths; a missing contract or population name is a typo.
        let free = !walked.contains('.') || matches!(keys[0], "sweep" | "variants" | "search");
        if !current.contains_key(*key) && free {
            current.insert(key.to_string(), toml::Value::Table(toml::Table::new()));
        }
        let mut node = match current.get_mut(*key) {
            Some(v) => v,
            None => return Err(format!("no `{walked}` in the scenario; choices here: {choices}")),
        };
        // Descend through arrays by index until the next table.
        loop {
            match node {
                toml::Value::Table(t) => {
                    current = t;
                    break;
                }
                toml::Value::Array(items) => {
                    let Some(key) = parents.next() else {
                        return set_in_array(items, &walked, last, value);
                    };
                    let i = array_index(key, items.len()).map_err(|m| format!("`{walked}`: {m}"))?;
                    walked = source::join(&walked, key);
                    node = &mut items[i];
                }
                _ => return Err(format!("`{walked}` is a value, not a table")),
            }
        }
    }
    if let Some(old) = current.get(*last) {
        check_compatible(old, &value)?;
    }
    current.insert(last.to_string(), value);
    Ok(())
}

/// The value at a dotted path of a table, if any; numeric keys index arrays.
pub fn get_path<'a>(table: &'a toml::Table, path: &str) -> Option<&'a toml::Value> {
    let mut keys = path.split('.');
    let mut value = table.get(keys.next()?)?;
    for key in keys {
        value = match value {
            toml::Value::Table(t) => t.get(key)?,
            toml::Value::Array(items) => items.get(key.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

/// Replaces element `last` of an array reached at `walked`.
fn set_in_array(
    items: &mut [toml::Value],
    walked: &str,
    last: &str,
    value: toml::Value,
) -> Result<(), String> {
    let i = array_index(last, items.len()).map_err(|m| format!("`{walked}`: {m}"))?;
    check_compatible(&items[i], &value)?;
    items[i] = value;
    Ok(())
}

/// `key` as an index into an array of `n` elements.
fn array_index(key: &str, n: usize) -> Result<usize, String> {
    match key.parse::<usize>() {
        Ok(i) if i < n => Ok(i),
        Ok(i) => Err(format!("index {i} is past the end; the list has {n} elements (0..{n})")),
        Err(_) => Err(format!("is a list: index it by number (0..{n}), not `{key}`")),
    }
}

/// A new value may replace an old one of the same type (any two numbers).
fn check_compatible(old: &toml::Value, value: &toml::Value) -> Result<(), String> {
    let numeric = |v: &toml::Value| matches!(v, toml::Value::Integer(_) | toml::Value::Float(_));
    let compatible =
        (numeric(old) && numeric(value)) || std::mem::discriminant(old) == std::mem::discriminant(value);
    if compatible {
        Ok(())
    } else {
        Err(format!("expects a {} like the scenario's `{old}`, got `{value}`", old.type_str()))
    }
}

/// Deserialises a `T` from the value found at dotted path `base`, turning
/// serde's error into one located in `source`.
pub fn from_table<T: DeserializeOwned>(
    source: &Source,
    base: &str,
    value: toml::Value,
) -> Result<T, ScenarioError> {
    use serde_path_to_error::Segment;
    serde_path_to_error::deserialize(value).map_err(|e| {
        // Dotted, array elements by index (`shocks.0.tick`), as `--set`
        // and the key index write them.
        let segments = e.path().iter().filter_map(|s| match s {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        });
        let inner = segments.collect::<Vec<_>>().join(".");
        source.serde_error(base, &inner, &e.inner().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<LoadedScenario, Error> {
        LoadedScenario::from_str(Path::new("t.toml"), text)
    }

    #[test]
    fn unknown_top_level_field_is_located_and_lists_choices() {
        let err = load("ticks = 1\nassets = []\ntickz = 3\n").unwrap_err().to_string();
        assert!(err.starts_with("t.toml:3:1: `tickz`: unknown field `tickz`"), "{err}");
        assert!(err.contains("`ticks`"), "{err}");
    }

    #[test]
    fn negative_count_is_an_error_at_its_line() {
        let text = "ticks = 1\nassets = []\n[populations.a]\ncount = -5\n";
        let err = load(text).unwrap_err().to_string();
        assert!(err.starts_with("t.toml:4:1: `populations.a.count`"), "{err}");
    }

    #[test]
    fn overrides_set_values_and_reject_unknown_paths() {
        let base =
            load("ticks = 1\nassets = [\"A\"]\n[contracts.c]\nkind = \"treasury\"\nasset = \"A\"\n").unwrap();
        let set = |s: &str| parse_assignment(s).unwrap();
        let s = base.with_overrides(&[set("ticks=5"), set("snapshot_every=2")], "--set").unwrap();
        assert_eq!((s.scenario.ticks, s.scenario.snapshot_every), (5, 2));
        let e = base.with_overrides(&[set("contracts.d.asset=A")], "--set").unwrap_err().to_string();
        assert!(e.contains("contracts.d") && e.contains("choices here: c"), "{e}");
        let e = base.with_overrides(&[set("ticks=\"many\"")], "--set").unwrap_err().to_string();
        assert!(e.starts_with("--set: `ticks`") && e.contains("integer"), "{e}");
        let s = base.with_overrides(&[set("sweep.contracts.c.asset=[\"A\"]")], "--set").unwrap();
        assert!(s.scenario.sweep.contains_key("contracts"));
        let e = base.with_overrides(&[set("tickz=3")], "--set").unwrap_err().to_string();
        assert!(e.contains("unknown field `tickz`"), "{e}");
        assert!(parse_assignment("novalue").is_err());
        assert_eq!(set("a.b=hello").1, toml::Value::String("hello".into()));
    }

    #[test]
    fn dotted_paths_index_arrays() {
        let mut t: toml::Table =
            toml::from_str("[c.feed]\nshocks = [{ tick = 1, factor = 0.5 }]\nw = [1, 2]\n").unwrap();
        set_path(&mut t, "c.feed.shocks.0.factor", toml::Value::Float(0.2)).unwrap();
        set_path(&mut t, "c.feed.w.1", toml::Value::Integer(7)).unwrap();
        assert_eq!(get_path(&t, "c.feed.shocks.0.factor"), Some(&toml::Value::Float(0.2)));
        assert_eq!(get_path(&t, "c.feed.w.1"), Some(&toml::Value::Integer(7)));
        let e = set_path(&mut t, "c.feed.shocks.1.factor", toml::Value::Float(0.2)).unwrap_err();
        assert!(e.contains("index 1 is past the end; the list has 1 elements"), "{e}");
        let e = set_path(&mut t, "c.feed.shocks.x.factor", toml::Value::Float(0.2)).unwrap_err();
        assert!(e.contains("index it by number"), "{e}");
        let e = set_path(&mut t, "c.feed.w.0", toml::Value::String("a".into())).unwrap_err();
        assert!(e.contains("expects a integer"), "{e}");
    }

    #[test]
    fn top_level_keys_are_the_schema_s() {
        let every = "ticks = 1\nassets = []\norders = { file = \"o.csv\" }\nobserved = {}\n";
        let s = load(every).unwrap();
        let value = serde_json::to_value(&s.scenario).unwrap();
        let mut written: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        let mut declared = TOP_LEVEL_KEYS.to_vec();
        written.sort_unstable();
        declared.sort_unstable();
        assert_eq!(written, declared);
    }

    #[test]
    fn a_top_level_key_after_a_table_gets_a_hint() {
        let text = "ticks = 1\nassets = []\n[output]\nevents = true\nruns = 8\n";
        let err = load(text).unwrap_err().to_string();
        assert!(err.starts_with("t.toml:5:1: `output.runs`: unknown field `runs`"), "{err}");
        assert!(
            err.contains("`runs` is a top-level key") && err.contains("after the [output] header"),
            "{err}"
        );
        // Inside an inline table, or a key that is not a top-level one: no hint.
        let err = load("ticks = 1\nassets = []\noutput = { runs = 8 }\n").unwrap_err().to_string();
        assert!(!err.contains("top-level"), "{err}");
        let err = load("ticks = 1\nassets = []\n[output]\nevent = true\n").unwrap_err().to_string();
        assert!(!err.contains("top-level"), "{err}");
    }

    #[test]
    fn bad_ordering_lists_choices() {
        let err = load("ticks = 1\nassets = []\nordering = \"random\"\n").unwrap_err().to_string();
        assert!(err.contains("agent_id") && err.contains("shuffle"), "{err}");
    }
}
