//! `properties.parquet`: one row per run and declared property, with its
//! verdict, margin and first failure.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanBuilder, Float64Builder, StringBuilder, UInt32Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::properties::Verdict;

/// Rows of `properties.parquet` being built.
pub struct PropertiesTable {
    schema: SchemaRef,
    run_id: UInt32Builder,
    property: StringBuilder,
    held: BooleanBuilder,
    margin: Float64Builder,
    first_failure_tick: UInt32Builder,
    value_at_failure: Float64Builder,
    rows: usize,
}

impl Default for PropertiesTable {
    fn default() -> Self {
        let f = |name: &str, t: DataType, nullable: bool| Field::new(name, t, nullable);
        PropertiesTable {
            schema: Arc::new(Schema::new(vec![
                f("run_id", DataType::UInt32, false),
                f("property", DataType::Utf8, false),
                f("held", DataType::Boolean, false),
                f("margin", DataType::Float64, true),
                f("first_failure_tick", DataType::UInt32, true),
                f("value_at_failure", DataType::Float64, true),
            ])),
            run_id: UInt32Builder::new(),
            property: StringBuilder::new(),
            held: BooleanBuilder::new(),
            margin: Float64Builder::new(),
            first_failure_tick: UInt32Builder::new(),
            value_at_failure: Float64Builder::new(),
            rows: 0,
        }
    }
}

/// A value for a nullable float column: `None` for `±inf` and NaN, which
/// no output file holds.
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl PropertiesTable {
    /// The Arrow schema.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Appends one verdict of run `run_id`. An unbounded margin (a value
    /// that was infinite or undefined) is written as null.
    pub fn push(&mut self, run_id: u32, v: &Verdict) {
        self.run_id.append_value(run_id);
        self.property.append_value(&v.property);
        self.held.append_value(v.held);
        self.margin.append_option(finite(v.margin));
        self.first_failure_tick.append_option(v.first_failure_tick);
        self.value_at_failure.append_option(v.value_at_failure.and_then(finite));
        self.rows += 1;
    }

    /// Rows buffered.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Takes the buffered rows as a batch.
    pub fn take(&mut self) -> RecordBatch {
        self.rows = 0;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.run_id.finish()),
            Arc::new(self.property.finish()),
            Arc::new(self.held.finish()),
            Arc::new(self.margin.finish()),
            Arc::new(self.first_failure_tick.finish()),
            Arc::new(self.value_at_failure.finish()),
        ];
        RecordBatch::try_new(self.schema.clone(), cols).expect("columns match schema")
    }
}
