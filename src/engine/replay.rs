//! Replayed orders: a CSV or Parquet table `tick, agent_id, side, amount
//! [, contract]` applied in the Settle phase before agents' own intents, in
//! file order within a tick. Lets recorded history or hand-written cases
//! drive the mechanisms with no randomness.

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
    /// `buy` or `sell`.
    pub side: String,
    /// Reserve units for buys, token units for sells.
    pub amount: f64,
    /// Target contract name, if given.
    pub contract: Option<String>,
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
const COLUMNS: &str = "tick, agent_id, side, amount, contract (optional)";

/// Reads an orders file (`.csv` or `.parquet`), checking every value.
pub fn read_orders(path: &Path) -> Result<Vec<RawOrder>, Error> {
    let data_err = |message: String| Error::Data { path: path.to_path_buf(), message };
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
        if side_action(&o.side).is_none() {
            return Err(data_err(format!("{}: `side` is `{}`; valid choices: buy, sell", o.place, o.side)));
        }
    }
    Ok(orders)
}

/// The action of a `side` value.
pub fn side_action(side: &str) -> Option<Action> {
    match side {
        "buy" => Some(Action::Buy),
        "sell" => Some(Action::Sell),
        _ => None,
    }
}

/// An [`Intent`] for a resolved raw order.
pub fn order_intent(o: &RawOrder, contract: super::ids::ContractId) -> Intent {
    Intent::new(contract, side_action(&o.side).expect("side checked on read"), Amount::Units(o.amount))
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
    if let Some(extra) = names.clone().find(|n| !REQUIRED.contains(n) && *n != "contract") {
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
            if col.null_count() > 0 && name != "contract" {
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
