//! `runs.parquet`: one row per run, the join key of every other table, with
//! one column per swept value.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use crate::engine::RunSpec;
use crate::error::Error;

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

/// A run as listed in `runs.parquet`.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    /// Identity and seed.
    pub spec: RunSpec,
    /// Agents in the run.
    pub n_agents: u64,
    /// Ticks simulated.
    pub ticks: u32,
    /// Swept values in the order of the swept columns.
    pub params: Vec<(String, toml::Value)>,
}

/// Columns of `runs.parquet` that every dataset has.
pub const FIXED_COLUMNS: [&str; 7] =
    ["run_id", "point_id", "variant", "replicate", "seed", "n_agents", "ticks"];

/// The column name of a swept path: `.` → `_`, prefixed with `sweep_` if it
/// would clash with a fixed column (sweeping `ticks` gives `sweep_ticks`).
pub fn swept_column(path: &str) -> String {
    let name = crate::engine::ledger::column_name(path);
    if FIXED_COLUMNS.contains(&name.as_str()) { format!("sweep_{name}") } else { name }
}

/// Builds the `runs` batch. `swept` gives each swept column's name and type
/// (decided over the whole experiment, so every shard has the same schema,
/// even one with no runs); `rows[i].params` holds the values in that order.
pub fn runs_batch(rows: &[RunRow], swept: &[(String, ParamType)]) -> Result<RecordBatch, Error> {
    let mut fields = vec![
        Field::new("run_id", DataType::UInt32, false),
        Field::new("point_id", DataType::UInt32, false),
        Field::new("variant", DataType::Utf8, false),
        Field::new("replicate", DataType::UInt32, false),
        Field::new("seed", DataType::UInt64, false),
        Field::new("n_agents", DataType::UInt64, false),
        Field::new("ticks", DataType::UInt32, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.spec.run_id))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.spec.point_id))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.spec.variant.as_str()))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.spec.replicate))),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.spec.seed))),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.n_agents))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.ticks))),
    ];
    for (i, (name, ty)) in swept.iter().enumerate() {
        let values = rows.iter().map(|r| &r.params[i].1);
        let (t, col): (DataType, ArrayRef) = match ty {
            ParamType::Int => (
                DataType::Int64,
                Arc::new(Int64Array::from_iter_values(values.map(|v| v.as_integer().unwrap_or_default()))),
            ),
            ParamType::Float => {
                let f = |v: &toml::Value| {
                    v.as_float().or_else(|| v.as_integer().map(|i| i as f64)).unwrap_or_default()
                };
                (DataType::Float64, Arc::new(Float64Array::from_iter_values(values.map(f))))
            }
            ParamType::Bool => (
                DataType::Boolean,
                Arc::new(BooleanArray::from(values.map(|v| v.as_bool()).collect::<Vec<_>>())),
            ),
            ParamType::Text => {
                let s = |v: &toml::Value| match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (DataType::Utf8, Arc::new(StringArray::from_iter_values(values.map(s))))
            }
        };
        fields.push(Field::new(name, t, false));
        cols.push(col);
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}
