//! Small derived tables (`search.parquet`, `sensitivity.parquet`) written
//! in one go from columns: no streaming, the same bytes for the same
//! values.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};

use super::sink::ParquetSink;
use crate::error::Error;

/// One column's values.
#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    /// Text.
    Text(Vec<String>),
    /// 64-bit floats.
    Float(Vec<f64>),
    /// Unsigned 32-bit integers.
    UInt32(Vec<u32>),
    /// Unsigned 64-bit integers.
    UInt64(Vec<u64>),
    /// Signed 64-bit integers.
    Int64(Vec<i64>),
    /// 64-bit floats, some null.
    OptFloat(Vec<Option<f64>>),
    /// Signed 64-bit integers, some null.
    OptInt64(Vec<Option<i64>>),
}

impl Column {
    fn array(&self) -> (DataType, ArrayRef) {
        match self {
            Column::Text(v) => (DataType::Utf8, Arc::new(StringArray::from(v.clone()))),
            Column::Float(v) => (DataType::Float64, Arc::new(Float64Array::from(v.clone()))),
            Column::UInt32(v) => (DataType::UInt32, Arc::new(UInt32Array::from(v.clone()))),
            Column::UInt64(v) => (DataType::UInt64, Arc::new(UInt64Array::from(v.clone()))),
            Column::Int64(v) => (DataType::Int64, Arc::new(Int64Array::from(v.clone()))),
            Column::OptFloat(v) => (DataType::Float64, Arc::new(Float64Array::from(v.clone()))),
            Column::OptInt64(v) => (DataType::Int64, Arc::new(Int64Array::from(v.clone()))),
        }
    }

    fn nullable(&self) -> bool {
        matches!(self, Column::OptFloat(_) | Column::OptInt64(_))
    }
}

/// Writes `columns` (name, values; equal lengths) to `path`, through a
/// `.partial` file renamed when complete. Returns the number of rows.
pub fn write_columns(path: &Path, columns: &[(String, Column)]) -> Result<u64, Error> {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns
        .iter()
        .map(|(name, c)| {
            let (ty, array) = c.array();
            (Field::new(name, ty, c.nullable()), array)
        })
        .unzip();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    let mut sink = ParquetSink::create(path, schema, Vec::new())?;
    sink.write(batch)?;
    sink.finish()
}
