//! Replayed orders: a CSV or Parquet table `tick, agent_id, side, amount
//! [, contract] [, about]` applied in the Settle phase before agents' own
//! intents, in file order within a tick. `side` is any action a behaviour
//! can send ([`Action::BUILTIN`]), `amount` its size in units (see
//! [`Action::amount_of`]), `about` the other agent a liquidation is about.
//! Lets recorded history or hand-written cases drive every mechanism
//! deterministically, tick by tick.

use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, UInt64Type};
use bevy_ecs::prelude::Resource;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::ids::AgentId;
use super::intent::{Action, Amount, Intent};
use crate::error::Error;

/// One order as read from the file, before names are resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct RawOrder {
    /// Where it is in the file, for error messages (`line 4`, `row 3`).
    pub place: String,
    /// Tick it applies at (≥ 1).
    pub tick: u64,
    /// Sending agent.
    pub agent_id: u64,
    /// The action's name (`buy`, `stake`, `liquidate`, …).
    pub side: String,
    /// The action's size in units ([`Action::amount_of`]).
    pub amount: f64,
    /// Target contract name, if given.
    pub contract: Option<String>,
    /// The agent the action is about (a liquidation's borrower).
    pub about: Option<u64>,
}

/// A resolved order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayOrder {
    /// Tick it applies at.
    pub tick: u32,
    /// Sender.
    pub agent: AgentId,
    /// The transaction.
    pub intent: Intent,
}

/// The replay queue of a world, sorted by tick (file order within a tick).
#[derive(Resource, Clone, Debug, Default)]
pub struct Replay {
    orders: Vec<ReplayOrder>,
    next: usize,
}

impl Replay {
    /// A queue from resolved orders (stable-sorted by tick here).
    pub fn new(mut orders: Vec<ReplayOrder>) -> Self {
        orders.sort_by_key(|o| o.tick);
        Replay { orders, next: 0 }
    }

    /// The orders of `tick`, in file order; advances the queue.
    pub fn take_tick(&mut self, tick: u32) -> Vec<ReplayOrder> {
        while self.next < self.orders.len() && self.orders[self.next].tick < tick {
            self.next += 1;
        }
        let start = self.next;
        while self.next < self.orders.len() && self.orders[self.next].tick == tick {
            self.next += 1;
        }
        self.orders[start..self.next].to_vec()
    }

    /// Total number of orders.
    pub fn len(&self) -> usize {
        self.orders.len()
    }

    /// Orders not yet applied (after the last tick: those beyond the run).
    pub fn pending(&self) -> usize {
        self.orders.len() - self.next.min(self.orders.len())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }
}

const REQUIRED: [&str; 4] = ["tick", "agent_id", "side", "amount"];
const OPTIONAL: [&str; 2] = ["contract", "about"];
const COLUMNS: &str =
    "tick, agent_id, side, amount, contract (optional), about (optional; the borrower of a liquidate)";

/// The orders file's columns and what each holds, for the reference.
pub const COLUMN_DOCS: [(&str, &str); 6] = [
    ("tick", "tick it settles at (>= 1), before the agents' own intents of that tick, in file order"),
    ("agent_id", "the sending agent (ids count from 0 over the populations in scenario order)"),
    ("side", "the action: buy, sell, stake, unstake, withdraw, deposit, redeem, borrow, repay or liquidate"),
    ("amount", "its size in units, >= 0 (what it counts: see the actions table)"),
    (
        "contract",
        "optional: the contract it is sent to; may be left out when exactly one contract accepts the action",
    ),
    ("about", "the borrower a liquidate repays for (required with liquidate, empty otherwise)"),
];

/// The valid `side` values, for error messages.
fn side_choices() -> String {
    Action::BUILTIN.map(Action::name).join(", ")
}

/// Reads an orders file (`.csv` or `.parquet`), checking every value.
pub fn read_orders(path: &Path) -> Result<Vec<RawOrder>, Error> {
    let data_err = |message: String| Error::Data { path: path.to_path_buf(), message };
    crate::scenario::source::regular_file(path).map_err(data_err)?;
    let orders = match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => read_csv(path)?,
        Some("parquet") | Some("pq") => read_parquet(path)?,
        _ => return Err(data_err("orders file must end in .csv or .parquet".into())),
    };
    for o in &orders {
        if o.tick == 0 {
            return Err(data_err(format!("{}: `tick` must be >= 1 (ticks count from 1)", o.place)));
        }
        if o.tick > u64::from(u32::MAX) {
            return Err(data_err(format!("{}: `tick` {} is too large", o.place, o.tick)));
        }
        if !(o.amount.is_finite() && o.amount >= 0.0) {
            return Err(data_err(format!(
                "{}: `amount` must be a finite number >= 0, got {}",
                o.place, o.amount
            )));
        }
        let Some(action) = side_action(&o.side) else {
            return Err(data_err(format!(
                "{}: `side` is `{}`; valid choices: {}",
                o.place,
                o.side,
                side_choices()
            )));
        };
        match (action, o.about) {
            (Action::Liquidate, None) => {
                return Err(data_err(format!(
                    "{}: `about` is empty; a liquidate names the borrower it repays for (an agent id)",
                    o.place
                )));
            }
            (a, Some(_)) if a != Action::Liquidate => {
                return Err(data_err(format!(
                    "{}: `about` applies only to liquidate, not to {}; leave it empty",
                    o.place,
                    a.name()
                )));
            }
            _ => {}
        }
    }
    Ok(orders)
}

/// The action of a `side` value.
pub fn side_action(side: &str) -> Option<Action> {
    Action::from_name(side)
}

/// An [`Intent`] for a resolved raw order.
pub fn order_intent(o: &RawOrder, contract: super::ids::ContractId) -> Intent {
    let intent =
        Intent::new(contract, side_action(&o.side).expect("side checked on read"), Amount::Units(o.amount));
    match o.about {
        Some(id) => intent.about(AgentId(id)),
        None => intent,
    }
}

fn check_columns<'a>(path: &Path, names: impl Iterator<Item = &'a str> + Clone) -> Result<(), Error> {
    for required in REQUIRED {
        if !names.clone().any(|n| n == required) {
            return Err(Error::Data {
                path: path.to_path_buf(),
                message: format!("missing column `{required}`; expected columns: {COLUMNS}"),
            });
        }
    }
    if let Some(extra) = names.clone().find(|n| !REQUIRED.contains(n) && !OPTIONAL.contains(n)) {
        return Err(Error::Data {
            path: path.to_path_buf(),
            message: format!("unknown column `{extra}`; expected columns: {COLUMNS}"),
        });
    }
    Ok(())
}

fn read_csv(path: &Path) -> Result<Vec<RawOrder>, Error> {
    #[derive(serde::Deserialize)]
    struct Row {
        tick: u64,
        agent_id: u64,
        side: String,
        amount: f64,
        #[serde(default)]
        contract: Option<String>,
        #[serde(default)]
        about: Option<u64>,
    }
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| Error::Data { path: path.to_path_buf(), message: e.to_string() })?;
    let headers = reader
        .headers()
        .map_err(|e| Error::Data { path: path.to_path_buf(), message: e.to_string() })?
        .clone();
    check_columns(path, headers.iter())?;
    let mut out = Vec::new();
    for record in reader.deserialize::<Row>() {
        let row = record.map_err(|e| {
            let line = e.position().map(|p| format!("line {}: ", p.line())).unwrap_or_default();
            Error::Data { path: path.to_path_buf(), message: format!("{line}{e}") }
        })?;
        let line = out.len() + 2;
        out.push(RawOrder {
            place: format!("line {line}"),
            tick: row.tick,
            agent_id: row.agent_id,
            side: row.side,
            amount: row.amount,
            contract: row.contract.filter(|c| !c.is_empty()),
            about: row.about,
        });
    }
    Ok(out)
}

fn read_parquet(path: &Path) -> Result<Vec<RawOrder>, Error> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let data_err = |message: String| Error::Data { path: path.to_path_buf(), message };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| data_err(format!("not a readable Parquet file: {e}")))?;
    let schema = builder.schema().clone();
    check_columns(path, schema.fields().iter().map(|f| f.name().as_str()))?;
    let reader = builder.build().map_err(|e| data_err(e.to_string()))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| data_err(e.to_string()))?;
        let column = |name: &str, to: &DataType| -> Result<arrow::array::ArrayRef, Error> {
            let col = batch.column_by_name(name).expect("checked columns");
            if col.null_count() > 0 && !OPTIONAL.contains(&name) {
                return Err(data_err(format!("column `{name}` has empty values")));
            }
            cast(col, to).map_err(|e| data_err(format!("column `{name}`: {e}")))
        };
        let tick = column("tick", &DataType::UInt64)?;
        let agent = column("agent_id", &DataType::UInt64)?;
        let side = column("side", &DataType::Utf8)?;
        let amount = column("amount", &DataType::Float64)?;
        let contract = match batch.column_by_name("contract") {
            Some(_) => Some(column("contract", &DataType::Utf8)?),
            None => None,
        };
        let about = match batch.column_by_name("about") {
            Some(_) => Some(column("about", &DataType::UInt64)?),
            None => None,
        };
        let (tick, agent) = (tick.as_primitive::<UInt64Type>(), agent.as_primitive::<UInt64Type>());
        let (side, amount) = (side.as_string::<i32>(), amount.as_primitive::<Float64Type>());
        for i in 0..batch.num_rows() {
            let contract = contract
                .as_ref()
                .map(|c| c.as_string::<i32>())
                .filter(|c| c.is_valid(i))
                .map(|c| c.value(i).to_string());
            out.push(RawOrder {
                place: format!("row {}", out.len() + 1),
                tick: tick.value(i),
                agent_id: agent.value(i),
                side: side.value(i).to_string(),
                amount: amount.value(i),
                contract,
                about: about
                    .as_ref()
                    .map(|c| c.as_primitive::<UInt64Type>())
                    .filter(|c| c.is_valid(i))
                    .map(|c| c.value(i)),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_tick_keeps_file_order_and_skips_missed_ticks() {
        let o = |tick, agent| ReplayOrder {
            tick,
            agent: AgentId(agent),
            intent: Intent::new(crate::engine::ids::ContractId(0), Action::Buy, Amount::Units(1.0)),
        };
        let mut r = Replay::new(vec![o(2, 5), o(1, 9), o(2, 3), o(4, 1)]);
        assert_eq!(r.take_tick(1), vec![o(1, 9)]);
        assert_eq!(r.take_tick(2), vec![o(2, 5), o(2, 3)]);
        assert_eq!(r.take_tick(3), vec![]);
        assert_eq!(r.take_tick(4), vec![o(4, 1)]);
    }

    #[test]
    fn parquet_orders_read_any_action_and_the_about_column() {
        use arrow::array::{Float64Array, RecordBatch, StringArray, UInt64Array};
        use arrow::datatypes::{Field, Schema};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("o.parquet");
        let write = |sides: Vec<&str>, about: Vec<Option<u64>>| {
            let n = sides.len() as u64;
            let schema = Arc::new(Schema::new(vec![
                Field::new("tick", DataType::UInt64, false),
                Field::new("agent_id", DataType::UInt64, false),
                Field::new("side", DataType::Utf8, false),
                Field::new("amount", DataType::Float64, false),
                Field::new("about", DataType::UInt64, true),
            ]));
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(UInt64Array::from_iter_values(1..=n)),
                    Arc::new(UInt64Array::from_iter_values(0..n)),
                    Arc::new(StringArray::from(sides)),
                    Arc::new(Float64Array::from_iter_values((0..n).map(|i| i as f64))),
                    Arc::new(UInt64Array::from(about)),
                ],
            )
            .unwrap();
            let mut w =
                parquet::arrow::ArrowWriter::try_new(File::create(&p).unwrap(), schema, None).unwrap();
            w.write(&batch).unwrap();
            w.close().unwrap();
        };
        write(vec!["stake", "liquidate", "withdraw"], vec![None, Some(0), None]);
        let orders = read_orders(&p).unwrap();
        assert_eq!(orders.iter().map(|o| o.about).collect::<Vec<_>>(), [None, Some(0), None]);
        let intent = order_intent(&orders[1], crate::engine::ids::ContractId(3));
        assert_eq!((intent.action, intent.target()), (Action::Liquidate, Some(AgentId(0))));
        assert_eq!(intent.amount, Amount::Units(1.0));
        write(vec!["stake", "liquidate"], vec![None, None]);
        let e = read_orders(&p).unwrap_err().to_string();
        assert!(e.contains("row 2") && e.contains("`about`"), "{e}");
    }

    #[test]
    fn csv_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("o.csv");
        std::fs::write(&p, "tick,agent_id,side,amount\n1,0,buy,5\n2,0,hold,1\n").unwrap();
        let e = read_orders(&p).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("buy, sell"), "{e}");
        std::fs::write(&p, "tick,agent_id,side,amount\n1,0,buy,-5\n").unwrap();
        assert!(read_orders(&p).unwrap_err().to_string().contains("line 2"));
        std::fs::write(&p, "tick,agent,side,amount\n").unwrap();
        assert!(read_orders(&p).unwrap_err().to_string().contains("missing column `agent_id`"));
    }
}
