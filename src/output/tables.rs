//! Arrow schemas and row builders for every output table. Column names are
//! snake_case, ids are unsigned integers, nothing is nested: every file
//! loads as it is in Polars, pandas, DuckDB or Spark.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, DictionaryArray, Float64Array, Float64Builder, StringArray, StringBuilder,
    UInt8Array, UInt16Array, UInt32Array, UInt32Builder, UInt64Array, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::datatypes::{UInt8Type, UInt16Type};
use arrow::record_batch::RecordBatch;

use crate::engine::MetricColumn;
use crate::engine::contract::{MetricKind, Violation};
use crate::engine::ids::AgentId;
use crate::engine::intent::Action;
use crate::engine::ledger::AGENT_ROW_KEYS;
use crate::engine::phase::EventRow;
use crate::engine::wallets::Wallet;

/// Rows buffered before a batch goes to the writer thread.
pub const BATCH_ROWS: usize = 64 * 1024;

fn field(name: &str, t: DataType) -> Field {
    Field::new(name, t, false)
}

fn finish(schema: &SchemaRef, columns: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(schema.clone(), columns).expect("columns match schema")
}

enum MetricBuilder {
    Float(Float64Builder),
    Count(UInt64Builder),
}

/// `ticks.parquet`: one row per run and tick, one column per metric.
pub struct TicksTable {
    schema: SchemaRef,
    columns: Vec<MetricColumn>,
    run_id: UInt32Builder,
    tick: UInt32Builder,
    metrics: Vec<MetricBuilder>,
    rows: usize,
    /// Observed columns `(name, value of tick i + 1)`, appended after the
    /// metrics; empty past the observed ticks.
    observed: Vec<(Arc<[f64]>, Float64Builder)>,
}

impl TicksTable {
    /// A table with `run_id, tick` and the given metric columns.
    pub fn new(columns: &[MetricColumn]) -> Self {
        let mut fields = vec![field("run_id", DataType::UInt32), field("tick", DataType::UInt32)];
        for c in columns {
            let t = match c.kind {
                MetricKind::Float => DataType::Float64,
                MetricKind::Count => DataType::UInt64,
            };
            // Float metrics are nullable: a value that is not finite (a
            // population metric of an empty population, say) is written as
            // null, never as NaN or inf.
            fields.push(Field::new(&c.name, t, c.kind == MetricKind::Float));
        }
        let metrics = columns
            .iter()
            .map(|c| match c.kind {
                MetricKind::Float => MetricBuilder::Float(Float64Builder::new()),
                MetricKind::Count => MetricBuilder::Count(UInt64Builder::new()),
            })
            .collect();
        TicksTable {
            schema: Arc::new(Schema::new(fields)),
            columns: columns.to_vec(),
            run_id: UInt32Builder::new(),
            tick: UInt32Builder::new(),
            metrics,
            rows: 0,
            observed: Vec::new(),
        }
    }

    /// The same table with nullable observed columns `(name, value of tick
    /// i + 1)` after the metrics (`observed::backtest` makes them).
    pub fn with_observed(mut self, observed: &[(String, Arc<[f64]>)]) -> Self {
        let mut fields: Vec<Field> = self.schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        for (name, values) in observed {
            fields.push(Field::new(name, DataType::Float64, true));
            self.observed.push((values.clone(), Float64Builder::new()));
        }
        self.schema = Arc::new(Schema::new(fields));
        self
    }

    /// The Arrow schema.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Appends a tick; `values` is the tick's full metric vector.
    pub fn push(&mut self, run_id: u32, tick: u32, values: &[f64]) {
        self.run_id.append_value(run_id);
        self.tick.append_value(tick);
        for (c, b) in self.columns.iter().zip(self.metrics.iter_mut()) {
            let v = values[c.index];
            match b {
                MetricBuilder::Float(b) => b.append_option(v.is_finite().then_some(v)),
                MetricBuilder::Count(b) => b.append_value(v as u64),
            }
        }
        for (values, b) in &mut self.observed {
            b.append_option((tick as usize).checked_sub(1).and_then(|i| values.get(i)).copied());
        }
        self.rows += 1;
    }

    /// Rows buffered.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Takes the buffered rows as a batch.
    pub fn take(&mut self) -> RecordBatch {
        self.rows = 0;
        let mut cols: Vec<ArrayRef> = vec![Arc::new(self.run_id.finish()), Arc::new(self.tick.finish())];
        for b in &mut self.metrics {
            cols.push(match b {
                MetricBuilder::Float(b) => Arc::new(b.finish()),
                MetricBuilder::Count(b) => Arc::new(b.finish()),
            });
        }
        cols.extend(self.observed.iter_mut().map(|(_, b)| Arc::new(b.finish()) as ArrayRef));
        finish(&self.schema, cols)
    }
}

/// Actions in the order of their dictionary keys in `events.action`.
const ACTIONS: [&str; 11] = Action::NAMES;

fn action_key(a: Action) -> u8 {
    a.index() as u8
}

fn dictionary(key: DataType) -> DataType {
    DataType::Dictionary(Box::new(key), Box::new(DataType::Utf8))
}

/// `events.parquet`: every settled or rejected transaction.
///
/// Text columns are dictionary-encoded with keys computed here (contract
/// index, action kind), so no string is built or hashed per row; Polars
/// reads them as categoricals, pandas as `category`. Each column is built in
/// one pass over a message's rows, not row by row through twelve builders.
pub struct EventsTable {
    schema: SchemaRef,
    contracts: ArrayRef,
    reasons: Vec<&'static str>,
}

impl EventsTable {
    /// A table naming contracts by index.
    pub fn new(contracts: Vec<String>) -> Self {
        let schema = Arc::new(Schema::new(vec![
            field("run_id", DataType::UInt32),
            field("tick", DataType::UInt32),
            field("agent_id", DataType::UInt64),
            field("contract", dictionary(DataType::UInt16)),
            field("action", dictionary(DataType::UInt8)),
            field("status", dictionary(DataType::UInt8)),
            Field::new("reason", dictionary(DataType::UInt8), true),
            field("amount_in", DataType::Float64),
            field("amount_out", DataType::Float64),
            field("fee", DataType::Float64),
            field("replayed", DataType::Boolean),
            Field::new("target_id", DataType::UInt64, true),
        ]));
        EventsTable {
            schema,
            contracts: Arc::new(StringArray::from_iter_values(contracts)),
            reasons: Vec::new(),
        }
    }

    /// The Arrow schema.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The key of a rejection reason in `events.reason`, added to the
    /// table's reasons the first time it is seen.
    fn reason_key(&mut self, reason: &'static str) -> u8 {
        let key = self.reasons.iter().position(|r| *r == reason).unwrap_or_else(|| {
            self.reasons.push(reason);
            self.reasons.len() - 1
        });
        u8::try_from(key).unwrap_or(u8::MAX)
    }

    /// The batch of `m`'s rows (`None` when it has none).
    pub fn batch(&mut self, m: &EventRows) -> Option<RecordBatch> {
        if m.rows.is_empty() {
            return None;
        }
        let rows = &m.rows;
        let per_span = |value: fn(&(u32, u32, usize)) -> u32| {
            UInt32Array::from_iter_values(m.spans.iter().flat_map(|s| std::iter::repeat_n(value(s), s.2)))
        };
        let f64s = |value: fn(&EventRow) -> f64| Float64Array::from_iter_values(rows.iter().map(value));
        let reason_keys: Vec<Option<u8>> =
            rows.iter().map(|e| e.rejected.map(|r| self.reason_key(r))).collect();
        let texts = |values: &[&str]| -> ArrayRef { Arc::new(StringArray::from_iter_values(values)) };
        let named = |keys: UInt8Array, names: &[&str]| -> ArrayRef {
            Arc::new(
                DictionaryArray::<UInt8Type>::try_new(keys, texts(names)).expect("keys index their names"),
            )
        };
        let u8s = |value: fn(&EventRow) -> u8| UInt8Array::from_iter_values(rows.iter().map(value));
        let contract_keys = UInt16Array::from_iter_values(rows.iter().map(|e| e.contract.0));
        let contract = DictionaryArray::<UInt16Type>::try_new(contract_keys, self.contracts.clone());
        let columns: Vec<ArrayRef> = vec![
            Arc::new(per_span(|s| s.0)),
            Arc::new(per_span(|s| s.1)),
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|e| e.agent.0))),
            Arc::new(contract.expect("contract keys index the contract list")),
            named(u8s(|e| action_key(e.action)), &ACTIONS),
            named(u8s(|e| u8::from(e.rejected.is_some())), &["ok", "rejected"]),
            named(UInt8Array::from(reason_keys), &self.reasons),
            Arc::new(f64s(|e| e.amount_in)),
            Arc::new(f64s(|e| e.amount_out)),
            Arc::new(f64s(|e| e.fee)),
            Arc::new(BooleanArray::from(rows.iter().map(|e| e.replayed).collect::<Vec<_>>())),
            Arc::new(UInt64Array::from_iter(rows.iter().map(|e| e.target.map(|t| t.0)))),
        ];
        Some(finish(&self.schema, columns))
    }
}

/// Events as the simulation recorded them, for the writer thread: one
/// batch of rows of consecutive ticks ([`BATCH_ROWS`] but for the last).
#[derive(Default)]
pub struct EventRows {
    /// `(run, tick, rows)` of each tick the rows come from, in order.
    pub spans: Vec<(u32, u32, usize)>,
    /// The rows, in settlement order.
    pub rows: Vec<EventRow>,
}

impl EventRows {
    /// Adds `rows` of `tick` of run `run_id`.
    pub fn extend(&mut self, run_id: u32, tick: u32, rows: &[EventRow]) {
        match self.spans.last_mut() {
            Some((r, t, n)) if (*r, *t) == (run_id, tick) => *n += rows.len(),
            _ => self.spans.push((run_id, tick, rows.len())),
        }
        self.rows.extend_from_slice(rows);
    }
}

/// The events table is its file's encoder: it builds a batch per message
/// on the writer thread, so the simulation thread only copies rows out.
impl super::sink::Encode for EventsTable {
    type Message = EventRows;

    fn encode(&mut self, m: EventRows) -> Option<RecordBatch> {
        self.batch(&m)
    }
}

/// `agents.parquet`: per-agent balances every `snapshot_every` ticks.
pub struct AgentsTable {
    schema: SchemaRef,
    run_id: UInt32Builder,
    tick: UInt32Builder,
    agent_id: UInt64Builder,
    slots: Vec<Float64Builder>,
    rows: usize,
}

impl AgentsTable {
    /// A table with one column per wallet slot (names already snake_case).
    pub fn new(slot_columns: &[String]) -> Self {
        let [run_id, tick, agent_id] = AGENT_ROW_KEYS;
        let mut fields = vec![
            field(run_id, DataType::UInt32),
            field(tick, DataType::UInt32),
            field(agent_id, DataType::UInt64),
        ];
        fields.extend(slot_columns.iter().map(|c| field(c, DataType::Float64)));
        AgentsTable {
            schema: Arc::new(Schema::new(fields)),
            run_id: UInt32Builder::new(),
            tick: UInt32Builder::new(),
            agent_id: UInt64Builder::new(),
            slots: slot_columns.iter().map(|_| Float64Builder::new()).collect(),
            rows: 0,
        }
    }

    /// The Arrow schema.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Appends one agent's balances.
    pub fn push(&mut self, run_id: u32, tick: u32, agent: AgentId, wallet: &Wallet) {
        self.run_id.append_value(run_id);
        self.tick.append_value(tick);
        self.agent_id.append_value(agent.0);
        for (i, b) in self.slots.iter_mut().enumerate() {
            b.append_value(wallet.balances()[i]);
        }
        self.rows += 1;
    }

    /// Rows buffered.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Takes the buffered rows as a batch.
    pub fn take(&mut self) -> RecordBatch {
        self.rows = 0;
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.run_id.finish()),
            Arc::new(self.tick.finish()),
            Arc::new(self.agent_id.finish()),
        ];
        cols.extend(self.slots.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        finish(&self.schema, cols)
    }
}

/// The first row of a `violations` file, for the run's error message:
/// `(run_id, tick, violation)`.
pub fn first_violation(path: &std::path::Path) -> Result<Option<(u32, u32, Violation)>, crate::error::Error> {
    use arrow::array::AsArray;
    use arrow::datatypes::{Float64Type, UInt32Type};
    let file = std::fs::File::open(path).map_err(|e| crate::error::Error::io(path, e))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_limit(1)
        .build()?;
    for batch in reader {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        let column = |name: &str| {
            batch.column_by_name(name).cloned().ok_or_else(|| crate::error::Error::Data {
                path: path.to_path_buf(),
                message: format!("no column `{name}`"),
            })
        };
        let text = |name: &str| -> Result<String, crate::error::Error> {
            let c = arrow::compute::cast(&column(name)?, &DataType::Utf8)?;
            Ok(c.as_string::<i32>().value(0).to_string())
        };
        let number = |name: &str| -> Result<f64, crate::error::Error> {
            Ok(column(name)?.as_primitive::<Float64Type>().value(0))
        };
        let id = |name: &str| -> Result<u32, crate::error::Error> {
            Ok(column(name)?.as_primitive::<UInt32Type>().value(0))
        };
        let v = Violation {
            source: text("source")?,
            invariant: text("invariant")?,
            expected: number("expected")?,
            actual: number("actual")?,
        };
        return Ok(Some((id("run_id")?, id("tick")?, v)));
    }
    Ok(None)
}

/// `violations.parquet`: every broken invariant.
pub struct ViolationsTable {
    schema: SchemaRef,
    run_id: UInt32Builder,
    tick: UInt32Builder,
    source: StringBuilder,
    invariant: StringBuilder,
    expected: Float64Builder,
    actual: Float64Builder,
    rows: usize,
}

impl Default for ViolationsTable {
    fn default() -> Self {
        ViolationsTable {
            schema: Arc::new(Schema::new(vec![
                field("run_id", DataType::UInt32),
                field("tick", DataType::UInt32),
                field("source", DataType::Utf8),
                field("invariant", DataType::Utf8),
                field("expected", DataType::Float64),
                field("actual", DataType::Float64),
            ])),
            run_id: UInt32Builder::new(),
            tick: UInt32Builder::new(),
            source: StringBuilder::new(),
            invariant: StringBuilder::new(),
            expected: Float64Builder::new(),
            actual: Float64Builder::new(),
            rows: 0,
        }
    }
}

impl ViolationsTable {
    /// The Arrow schema.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Appends one violation.
    pub fn push(&mut self, run_id: u32, tick: u32, v: &Violation) {
        self.run_id.append_value(run_id);
        self.tick.append_value(tick);
        self.source.append_value(&v.source);
        self.invariant.append_value(&v.invariant);
        self.expected.append_value(v.expected);
        self.actual.append_value(v.actual);
        self.rows += 1;
    }

    /// Rows buffered.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Takes the buffered rows as a batch.
    pub fn take(&mut self) -> RecordBatch {
        self.rows = 0;
        finish(
            &self.schema,
            vec![
                Arc::new(self.run_id.finish()),
                Arc::new(self.tick.finish()),
                Arc::new(self.source.finish()),
                Arc::new(self.invariant.finish()),
                Arc::new(self.expected.finish()),
                Arc::new(self.actual.finish()),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ids::ContractId;
    use crate::output::sink::Encode;

    fn rows(n: usize, first: u64) -> Vec<EventRow> {
        (0..n as u64)
            .map(|i| EventRow {
                agent: AgentId(first + i),
                contract: ContractId(0),
                action: Action::Buy,
                rejected: None,
                amount_in: (first + i) as f64,
                amount_out: 0.0,
                fee: 0.0,
                replayed: false,
                target: None,
            })
            .collect()
    }

    #[test]
    fn each_message_is_a_batch_whose_rows_keep_their_run_and_tick() {
        let mut encoder = EventsTable::new(vec!["curve".into()]);
        let mut out = Vec::new();
        let mut first = EventRows::default();
        first.extend(0, 1, &rows(5, 0));
        first.extend(0, 2, &rows(3, 0));
        first.extend(1, 2, &rows(4, 0));
        first.extend(1, 2, &rows(1, 4));
        assert_eq!(first.spans, [(0, 1, 5), (0, 2, 3), (1, 2, 5)]);
        let second = {
            let mut r = EventRows::default();
            r.extend(1, 3, &rows(7, 0));
            r
        };
        out.extend([first, EventRows::default(), second].into_iter().filter_map(|m| encoder.encode(m)));
        assert_eq!(out.iter().map(|b| b.num_rows()).collect::<Vec<_>>(), [13, 7], "no empty batch");
        let column = |name: &str| -> Vec<u64> {
            let c = arrow::compute::cast(out[0].column_by_name(name).unwrap(), &DataType::UInt64).unwrap();
            c.as_any().downcast_ref::<arrow::array::UInt64Array>().unwrap().values().to_vec()
        };
        assert_eq!(column("agent_id"), [0, 1, 2, 3, 4, 0, 1, 2, 0, 1, 2, 3, 4]);
        assert_eq!(column("tick"), [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]);
        assert_eq!(column("run_id"), [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    }

    #[test]
    fn text_columns_name_their_rows_and_absent_values_are_null() {
        let mut encoder = EventsTable::new(vec!["curve".into(), "lending".into()]);
        let mut rows = rows(4, 10);
        rows[1].rejected = Some("insufficient balance");
        rows[2].contract = ContractId(1);
        rows[2].action = Action::Liquidate;
        rows[2].target = Some(AgentId(7));
        rows[3].rejected = Some("no liquidity");
        let mut message = EventRows::default();
        message.extend(3, 9, &rows);
        let batch = encoder.encode(message).unwrap();
        let text = |name: &str| -> Vec<Option<String>> {
            let c = arrow::compute::cast(batch.column_by_name(name).unwrap(), &DataType::Utf8).unwrap();
            let c = c.as_any().downcast_ref::<StringArray>().unwrap();
            c.iter().map(|v| v.map(str::to_string)).collect()
        };
        let some = |v: &[&str]| v.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>();
        assert_eq!(text("contract"), some(&["curve", "curve", "lending", "curve"]));
        assert_eq!(text("action"), some(&["buy", "buy", "liquidate", "buy"]));
        assert_eq!(text("status"), some(&["ok", "rejected", "ok", "rejected"]));
        let reasons = text("reason");
        assert_eq!(reasons, [None, Some("insufficient balance".into()), None, Some("no liquidity".into())]);
        let targets = batch.column_by_name("target_id").unwrap();
        let targets = targets.as_any().downcast_ref::<UInt64Array>().unwrap();
        assert_eq!(targets.iter().collect::<Vec<_>>(), [None, None, Some(7), None]);
        assert_eq!(batch.column_by_name("amount_in").unwrap().null_count(), 0);
    }
}
