//! `runs.parquet`: one row per run, the join key of every other table, with
//! one column per swept value.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use crate::engine::RunSpec;
use crate::error::Error;

/// A run as listed in `runs.parquet`.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    /// Identity and seed.
    pub spec: RunSpec,
    /// Agents in the run.
    pub n_agents: u64,
    /// Ticks simulated.
    pub ticks: u32,
    /// Swept values `(column, value)`, the same columns for every run.
    pub params: Vec<(String, toml::Value)>,
}

/// Builds the `runs` batch. Swept values become typed columns: integers,
/// floats (integers mixed with floats become floats), strings or booleans.
pub fn runs_batch(rows: &[RunRow]) -> Result<RecordBatch, Error> {
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
    let names: Vec<String> =
        rows.first().map(|r| r.params.iter().map(|p| p.0.clone()).collect()).unwrap_or_default();
    for (i, name) in names.iter().enumerate() {
        let values: Vec<&toml::Value> = rows.iter().map(|r| &r.params[i].1).collect();
        let (t, col): (DataType, ArrayRef) = if values.iter().all(|v| v.is_integer()) {
            (
                DataType::Int64,
                Arc::new(Int64Array::from_iter_values(
                    values.iter().map(|v| v.as_integer().unwrap_or_default()),
                )),
            )
        } else if values.iter().all(|v| v.is_integer() || v.is_float()) {
            let f = |v: &&toml::Value| {
                v.as_float().or_else(|| v.as_integer().map(|i| i as f64)).unwrap_or_default()
            };
            (DataType::Float64, Arc::new(Float64Array::from_iter_values(values.iter().map(f))))
        } else if values.iter().all(|v| v.is_bool()) {
            (
                DataType::Boolean,
                Arc::new(BooleanArray::from(values.iter().map(|v| v.as_bool()).collect::<Vec<_>>())),
            )
        } else {
            let s = |v: &&toml::Value| match v {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (DataType::Utf8, Arc::new(StringArray::from_iter_values(values.iter().map(s))))
        };
        fields.push(Field::new(name, t, false));
        cols.push(col);
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}
