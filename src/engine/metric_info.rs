//! What every column of `ticks.parquet` means: the engine's own columns
//! declared once here, and [`MetricInfo`], the description of a column as
//! `manifest.json` and `tokensim metrics` give it (meaning, unit with the
//! scenario's asset names, stock or flow, when in the tick).

use serde::{Deserialize, Serialize};

use super::contract::{MetricDef, MetricKind, Nature, Timing};

/// One output column of `ticks.parquet`.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricColumn {
    /// Column name.
    pub name: String,
    /// Float or integer column.
    pub kind: MetricKind,
    /// Index into [`TickLog::metrics`](super::phase::TickLog::metrics).
    pub index: usize,
    /// What it means (for `manifest.json` and `tokensim metrics`).
    pub info: MetricInfo,
}

/// The columns every `ticks.parquet` starts with.
pub const KEY_COLUMNS: [MetricDef; 2] = [
    MetricDef::stock("run_id", "id", "the run (a row of runs.parquet: point, replicate, variant, seed)")
        .count(),
    MetricDef::stock("tick", "tick", "the tick (block number), from 1").count(),
];

/// The engine's metrics, after every contract's and before the
/// population metrics.
pub const ENGINE_METRICS: [MetricDef; 2] = [
    MetricDef::flow("n_tx", "count", "transactions settled this tick (agents', replayed and contracts' own)")
        .count()
        .at(Timing::Settle),
    MetricDef::flow(
        "n_rejected",
        "count",
        "transactions rejected this tick (their reasons are in events.parquet)",
    )
    .count()
    .at(Timing::Settle),
];

/// Names no `[metrics]` entry may take: the key columns and the engine's
/// metrics.
pub fn reserved_column(name: &str) -> bool {
    KEY_COLUMNS.iter().chain(&ENGINE_METRICS).any(|d| d.name == name)
}

/// Whether `name` may be a `[metrics]` column: lower snake case starting
/// with a letter (so property expressions can name it), and not reserved.
/// The error says what a usable name is.
///
/// ```
/// use tokensim::engine::metric_info::usable_column;
/// assert!(usable_column("pool_cash").is_ok());
/// assert!(usable_column("").is_err() && usable_column("tick").is_err() && usable_column("2x").is_err());
/// ```
pub fn usable_column(name: &str) -> Result<(), String> {
    let snake = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if snake && !reserved_column(name) {
        return Ok(());
    }
    let reserved: Vec<&str> = KEY_COLUMNS.iter().chain(&ENGINE_METRICS).map(|d| d.name).collect();
    Err(format!(
        "`{name}` is not a usable column name: lower snake case (a-z, 0-9, _) starting with a letter, and not {}",
        reserved.join(", ")
    ))
}

/// One column described for people and tools (`manifest.json`'s
/// `metrics.<column>`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricInfo {
    /// What it measures.
    pub doc: String,
    /// Its unit, with the scenario's asset names (`DAI/BOND`), `1` for a
    /// pure number, `count`, `1/year`.
    pub unit: String,
    /// `stock` (a level) or `flow` (an amount over the tick).
    pub kind: Nature,
    /// When in the tick it is taken.
    pub measured: String,
}

impl MetricInfo {
    /// The description of `def`, its unit's `{param}`s resolved by `asset`.
    pub fn of(def: &MetricDef, asset: impl Fn(&str) -> Option<String>) -> Self {
        MetricInfo {
            doc: def.doc.to_string(),
            unit: def.unit_with(asset),
            kind: def.nature,
            measured: def.measured.text().to_string(),
        }
    }

    /// A key column (`run_id`, `tick`): it identifies the row.
    pub fn key(def: &MetricDef) -> Self {
        MetricInfo { measured: "identifies the row".into(), ..MetricInfo::of(def, |_| None) }
    }

    /// A population metric: `stat` (its words, e.g. `quantile 0.1`) over
    /// population `population` of the per-agent value `of`; `unitless` for
    /// statistics that are shares or indices whatever `of` is.
    pub fn population(population: &str, of: &str, stat: &str, unitless: bool) -> Self {
        MetricInfo {
            doc: format!("{stat} over the agents of population `{population}` of `{of}`"),
            unit: if unitless { "1".into() } else { format!("unit of `{of}`") },
            kind: Nature::Stock,
            measured: "at Measure: every agent's wallet after this tick's transactions and accrual".into(),
        }
    }

    /// An observed-data column next to the simulated metric it is fitted
    /// against.
    pub fn observed(metric: &str, simulated: Option<&MetricInfo>) -> Self {
        MetricInfo {
            doc: format!(
                "the [observed] data's value of `{metric}` at this tick (empty after the data ends)"
            ),
            unit: simulated.map_or_else(|| "as the data".into(), |m| m.unit.clone()),
            kind: simulated.map_or(Nature::Stock, |m| m.kind),
            measured: "read from the data file, one row a tick".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_name_the_scenarios_assets() {
        let def = MetricDef::stock("price", "{quote}/{base}", "spot price");
        let assets = |p: &str| match p {
            "quote" => Some("USDC".to_string()),
            "base" => Some("ETH".to_string()),
            _ => None,
        };
        assert_eq!(MetricInfo::of(&def, assets).unit, "USDC/ETH");
        assert_eq!(def.unit_with(|_| None), "quote/base", "unknown parameters keep their names");
        assert_eq!(MetricDef::stock("x", "1/year", "").unit_with(assets), "1/year");
    }

    #[test]
    fn reserved_names_are_the_key_and_engine_columns() {
        for name in ["run_id", "tick", "n_tx", "n_rejected"] {
            assert!(reserved_column(name), "{name}");
        }
        assert!(!reserved_column("price"));
    }
}
