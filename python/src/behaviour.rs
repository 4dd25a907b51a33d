//! Behaviours written in Python: a registered function decides for a whole
//! population each tick, through the engine's
//! [`PopulationBehaviour`](tokensim::engine::population::PopulationBehaviour)
//! hook.
//!
//! Each tick the population's agents go to Python as one Polars frame
//! (`agent_id`, one column per wallet slot as in `agents.parquet`, one per
//! per-agent parameter) through the Arrow C stream interface, with a
//! [`Market`] and a NumPy generator seeded from the run seed, the behaviour
//! and the tick. The frame it returns (`agent_id, contract, action,
//! amount[, target_id]`) is checked column by column and becomes intents.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, UInt64Type};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokensim::engine::params::Param;
use tokensim::engine::population::{PopulationBehaviour, PopulationFrame};
use tokensim::engine::registry::{BehaviourKind, Registry};
use tokensim::prelude::*;

use crate::tables::{ArrowStream, import_stream};

/// The columns a returned frame may have, required ones first.
const COLUMNS: [&str; 5] = ["agent_id", "contract", "action", "amount", "target_id"];

/// A Python behaviour as registered (`@tokensim.behaviour`).
struct PyBehaviourKind {
    name: &'static str,
    summary: &'static str,
    params: &'static [Param],
    defaults: Vec<(String, f64)>,
    func: Arc<Py<PyAny>>,
}

/// A string that lives as long as the program (registry kinds name
/// themselves with `&'static str`); interned so that registering the same
/// behaviour in many runs does not grow memory.
fn leak(s: String) -> &'static str {
    use std::sync::{Mutex, OnceLock};
    static INTERNED: OnceLock<Mutex<std::collections::HashSet<&'static str>>> = OnceLock::new();
    let mut set = INTERNED.get_or_init(Default::default).lock().expect("intern lock");
    if let Some(s) = set.get(s.as_str()) {
        return s;
    }
    let s: &'static str = Box::leak(s.into_boxed_str());
    set.insert(s);
    s
}

/// The built-in registry plus the Python behaviours `behaviours` (objects
/// with `name`, `params` (dict of float defaults), `summary` and `func`).
pub fn registry_with(behaviours: &[Bound<'_, PyAny>]) -> PyResult<Registry> {
    let mut registry = Registry::builtin();
    for b in behaviours {
        let name: String = b.getattr("name")?.extract()?;
        if registry.behaviour(&name).is_some() {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "Python behaviour `{name}` has the name of a built-in behaviour; registered behaviours: {}",
                registry.behaviour_names()
            )));
        }
        let summary: String = b.getattr("summary")?.extract()?;
        let params = b.getattr("params")?;
        let params = params.cast::<PyDict>().map_err(|_| PyTypeError::new_err("params must be a dict"))?;
        let mut defaults = Vec::new();
        for (k, v) in params.iter() {
            let key: String = k.extract()?;
            let value: f64 = v.extract().map_err(|_| {
                PyTypeError::new_err(format!(
                    "behaviour `{name}`: parameter `{key}` must default to a number"
                ))
            })?;
            defaults.push((key, value));
        }
        // Python parameters are per-agent numbers, each with its default;
        // declared like a built-in's so reading, checking and `tokensim
        // list` come from the same table.
        let docs: Vec<Param> = defaults
            .iter()
            .map(|(k, v)| {
                Param::per_agent(leak(k.clone()), -f64::MAX, f64::MAX)
                    .default_float(*v)
                    .doc("Python behaviour parameter")
            })
            .collect();
        registry.add_behaviour(PyBehaviourKind {
            name: leak(name),
            summary: leak(format!("(Python) {summary}")),
            params: Box::leak(docs.into_boxed_slice()),
            defaults,
            func: Arc::new(b.getattr("func")?.unbind()),
        });
    }
    Ok(registry)
}

impl BehaviourKind for PyBehaviourKind {
    fn name(&self) -> &'static str {
        self.name
    }

    fn summary(&self) -> &'static str {
        self.summary
    }

    fn params(&self) -> &'static [Param] {
        self.params
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let given = ctx.params();
        let mut params = Vec::new();
        for (key, _) in &self.defaults {
            params.push((key.clone(), ctx.sample_all(&given.agent(key))));
        }
        let contracts = ctx.contracts();
        let slots = ctx.slots();
        let slot_columns: Vec<String> =
            (0..slots.slots.len()).map(|i| slots.column(SlotId(i as u8))).collect();
        let assets = (0..slots.n_assets).map(|i| slots.name(SlotId(i as u8)).to_string()).collect();
        if let Some((clash, _)) = self.defaults.iter().find(|(k, _)| slot_columns.contains(k)) {
            return Err(ctx.invalid(
                clash,
                format!(
                    "parameter `{clash}` of Python behaviour `{}` has the name of a wallet column ({}); rename the parameter",
                    self.name,
                    slot_columns.join(", ")
                ),
            ));
        }
        let population = PyPopulation {
            func: self.func.clone(),
            contracts: contracts
                .iter()
                .enumerate()
                .map(|(i, (n, a))| (n.clone(), (ContractId(i as u16), *a)))
                .collect(),
            contract_names: contracts.into_iter().map(|(n, _)| n).collect(),
            slot_columns,
            assets,
        };
        ctx.spawn_population(population, params);
        Ok(())
    }
}

/// One population's Python behaviour, as the engine calls it.
struct PyPopulation {
    func: Arc<Py<PyAny>>,
    contracts: HashMap<String, (ContractId, &'static [Action])>,
    contract_names: Vec<String>,
    slot_columns: Vec<String>,
    assets: Vec<String>,
}

impl PopulationBehaviour for PyPopulation {
    fn decide(
        &mut self,
        frame: &PopulationFrame<'_>,
        market: &tokensim::engine::behaviour::Market<'_>,
        out: &mut Vec<(AgentId, Intent)>,
    ) -> Result<(), String> {
        let agents = self.agents_batch(frame).map_err(|e| e.to_string())?;
        let market = self.market(frame.tick, market);
        Python::attach(|py| -> Result<(), String> {
            let returned = (|| -> PyResult<Bound<'_, PyAny>> {
                let polars = py.import("polars")?;
                let stream = Bound::new(py, ArrowStream::new(agents.schema(), vec![agents]))?;
                let df = polars.getattr("DataFrame")?.call1((stream,))?;
                let rng = py.import("numpy.random")?.getattr("default_rng")?.call1((frame.seed,))?;
                self.func.bind(py).call1((df, Bound::new(py, market)?, rng))
            })()
            .map_err(|e| format!("raised {}", describe(py, &e)))?;
            if returned.is_none() || !returned.hasattr("__arrow_c_stream__").unwrap_or(false) {
                let ty = returned.get_type().name().map(|n| n.to_string()).unwrap_or_default();
                return Err(format!(
                    "returned a {ty}, not a data frame; return a polars.DataFrame with columns {}",
                    COLUMNS.join(", ")
                ));
            }
            let (_, batches) =
                import_stream(&returned).map_err(|e| format!("returned an unreadable frame: {e}"))?;
            for b in &batches {
                self.intents(b, out)?;
            }
            Ok(())
        })
    }
}

/// `Type: message` of a Python exception, with the last traceback line.
fn describe(py: Python<'_>, e: &PyErr) -> String {
    let mut s = e.to_string();
    if let Some(tb) = e.traceback(py)
        && let Ok(text) = tb.format()
        && let Some(last) = text.lines().rev().find(|l| l.trim_start().starts_with("File "))
    {
        s.push_str(&format!(" ({})", last.trim()));
    }
    s
}

impl PyPopulation {
    /// The population as one record batch.
    fn agents_batch(&self, frame: &PopulationFrame<'_>) -> Result<RecordBatch, arrow::error::ArrowError> {
        let mut fields = vec![Field::new("agent_id", DataType::UInt64, false)];
        let mut columns: Vec<Arc<dyn Array>> =
            vec![Arc::new(UInt64Array::from_iter_values(frame.ids.iter().map(|a| a.0)))];
        for (i, name) in self.slot_columns.iter().enumerate() {
            fields.push(Field::new(name, DataType::Float64, false));
            let slot = SlotId(i as u8);
            columns.push(Arc::new(Float64Array::from_iter_values(frame.wallets.iter().map(|w| w.get(slot)))));
        }
        for (name, values) in frame.params {
            fields.push(Field::new(name, DataType::Float64, false));
            columns.push(Arc::new(Float64Array::from(values.clone())));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
    }

    /// The start-of-tick market as Python sees it.
    fn market(&self, tick: u32, market: &tokensim::engine::behaviour::Market<'_>) -> Market {
        let mut prices = Vec::new();
        let mut balances = Vec::new();
        for (i, name) in self.contract_names.iter().enumerate() {
            let id = ContractId(i as u16);
            prices.push((name.clone(), market.price(id)));
            for (a, asset) in self.assets.iter().enumerate() {
                balances.push(((name.clone(), asset.clone()), market.balance(id, AssetId(a as u8))));
            }
        }
        Market { tick, prices, balances }
    }

    /// Checks one returned batch and appends its intents.
    fn intents(&self, batch: &RecordBatch, out: &mut Vec<(AgentId, Intent)>) -> Result<(), String> {
        let schema = batch.schema();
        for f in schema.fields() {
            if !COLUMNS.contains(&f.name().as_str()) {
                return Err(format!(
                    "returned unknown column `{}`; the columns are {} (target_id optional)",
                    f.name(),
                    COLUMNS.join(", ")
                ));
            }
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let column = |name: &str, to: &DataType, what: &str| -> Result<Option<Arc<dyn Array>>, String> {
            let Some(c) = batch.column_by_name(name) else { return Ok(None) };
            let ok = match to {
                DataType::UInt64 => c.data_type().is_integer(),
                DataType::Float64 => c.data_type().is_numeric(),
                _ => matches!(
                    c.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..)
                ),
            };
            if !ok {
                return Err(format!("column `{name}` is {}, expected {what}", c.data_type()));
            }
            if c.null_count() > 0 {
                return Err(format!("column `{name}` has {} null values", c.null_count()));
            }
            let safe = arrow::compute::CastOptions { safe: false, ..Default::default() };
            arrow::compute::cast_with_options(c, to, &safe)
                .map(Some)
                .map_err(|e| format!("column `{name}` ({}): {e}", c.data_type()))
        };
        let required = |name: &str, to: &DataType, what: &str| {
            column(name, to, what)?.ok_or_else(|| {
                format!(
                    "returned no `{name}` column; the columns are {} (target_id optional), got {}",
                    COLUMNS.join(", "),
                    schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
                )
            })
        };
        let agents = required("agent_id", &DataType::UInt64, "an integer agent id")?;
        let contracts = required("contract", &DataType::Utf8, "a contract name (string)")?;
        let actions = required("action", &DataType::Utf8, "an action name (string)")?;
        let amounts = required("amount", &DataType::Float64, "a number")?;
        let targets = column("target_id", &DataType::UInt64, "an integer agent id")?;
        let agents = agents.as_primitive::<UInt64Type>();
        let (contracts, actions) = (contracts.as_string::<i32>(), actions.as_string::<i32>());
        let amounts = amounts.as_primitive::<Float64Type>();
        let targets = targets.as_ref().map(|t| t.as_primitive::<UInt64Type>());
        for row in 0..batch.num_rows() {
            let cname = contracts.value(row);
            let Some(&(id, accepts)) = self.contracts.get(cname) else {
                return Err(format!(
                    "row {row}: unknown contract `{cname}`; contracts: {}",
                    self.contract_names.join(", ")
                ));
            };
            let aname = actions.value(row);
            let action = Action::NAMES[..Action::NAMES.len() - 1]
                .iter()
                .position(|n| *n == aname)
                .map(|i| accepts.iter().copied().find(|a| a.index() == i));
            let action = match action {
                Some(Some(a)) => a,
                Some(None) | None => {
                    let able: Vec<&str> = accepts.iter().map(|a| a.name()).collect();
                    let what = if action.is_none() { "unknown action" } else { "action" };
                    return Err(format!(
                        "row {row}: {what} `{aname}` is not accepted by contract `{cname}`; it accepts: {}",
                        able.join(", ")
                    ));
                }
            };
            let amount = amounts.value(row);
            if !amount.is_finite() || amount < 0.0 {
                return Err(format!("row {row}: amount {amount} is not a finite number >= 0"));
            }
            let mut intent = Intent::new(id, action, Amount::Units(amount));
            if let Some(t) = targets {
                intent = intent.about(AgentId(t.value(row)));
            }
            out.push((AgentId(agents.value(row)), intent));
        }
        Ok(())
    }
}

/// The market at the start of the tick, as a Python behaviour sees it:
/// every contract's price and every contract's balance of every asset.
#[pyclass(module = "tokensim", frozen)]
pub struct Market {
    tick: u32,
    prices: Vec<(String, f64)>,
    balances: Vec<((String, String), f64)>,
}

#[pymethods]
impl Market {
    /// The current tick (from 1).
    #[getter]
    fn tick(&self) -> u32 {
        self.tick
    }

    /// `{contract: price}` (NaN for a contract without a price).
    #[getter]
    fn prices(&self) -> BTreeMap<String, f64> {
        self.prices.iter().cloned().collect()
    }

    /// The spot price of `contract` this tick (NaN if it has none).
    fn price(&self, contract: &str) -> PyResult<f64> {
        self.prices.iter().find(|(n, _)| n == contract).map(|(_, p)| *p).ok_or_else(|| self.unknown(contract))
    }

    /// The balance of `asset` in `contract`'s account.
    fn balance(&self, contract: &str, asset: &str) -> PyResult<f64> {
        if !self.prices.iter().any(|(n, _)| n == contract) {
            return Err(self.unknown(contract));
        }
        self.balances.iter().find(|((c, a), _)| c == contract && a == asset).map(|(_, b)| *b).ok_or_else(
            || {
                let mut assets: Vec<&str> = self.balances.iter().map(|((_, a), _)| a.as_str()).collect();
                assets.dedup();
                pyo3::exceptions::PyKeyError::new_err(format!(
                    "unknown asset `{asset}`; assets: {}",
                    assets.join(", ")
                ))
            },
        )
    }

    fn __repr__(&self) -> String {
        format!("Market(tick={}, prices={:?})", self.tick, self.prices)
    }
}

impl Market {
    fn unknown(&self, contract: &str) -> PyErr {
        let names: Vec<&str> = self.prices.iter().map(|(n, _)| n.as_str()).collect();
        pyo3::exceptions::PyKeyError::new_err(format!(
            "unknown contract `{contract}`; contracts: {}",
            names.join(", ")
        ))
    }
}
