//! Arrow tables across the C stream interface: a results table read from
//! its Parquet files in Rust and handed to Python as an object with
//! `__arrow_c_stream__` (Polars, pyarrow and pandas import it without
//! copying rows through Python), and frames returned by Python imported
//! the same way.

use std::ffi::CStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use arrow::array::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use tokensim::Error;
use tokensim::output::manifest::Manifest;

use crate::errors::to_py;

/// The name the Arrow PyCapsule interface gives stream capsules.
const STREAM: &CStr = c"arrow_array_stream";

/// A stream of record batches that Python consumes once through
/// `__arrow_c_stream__` (e.g. `polars.DataFrame(stream)`).
#[pyclass(module = "tokensim")]
pub struct ArrowStream {
    reader: Mutex<Option<Box<dyn RecordBatchReader + Send>>>,
}

impl ArrowStream {
    /// A stream of `batches` with `schema`.
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        let reader = RecordBatchIterator::new(batches.into_iter().map(Ok), schema);
        ArrowStream { reader: Mutex::new(Some(Box::new(reader))) }
    }

    fn from_reader(reader: Box<dyn RecordBatchReader + Send>) -> Self {
        ArrowStream { reader: Mutex::new(Some(reader)) }
    }
}

#[pymethods]
impl ArrowStream {
    /// The Arrow PyCapsule interface: moves the stream into a capsule.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema; // the schema is the table's own
        let reader = self
            .reader
            .lock()
            .map_err(|_| PyRuntimeError::new_err("stream lock poisoned"))?
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this Arrow stream was already consumed"))?;
        PyCapsule::new_with_value(py, FFI_ArrowArrayStream::new(reader), STREAM)
    }
}

/// Imports any object with `__arrow_c_stream__` (a Polars or pyarrow
/// frame) as Arrow batches.
pub fn import_stream(obj: &Bound<'_, PyAny>) -> PyResult<(SchemaRef, Vec<RecordBatch>)> {
    let capsule = obj.call_method0("__arrow_c_stream__")?;
    let capsule = capsule
        .cast::<PyCapsule>()
        .map_err(|_| PyValueError::new_err("__arrow_c_stream__ did not return a capsule"))?;
    let ptr = capsule.pointer_checked(Some(STREAM))?.cast::<FFI_ArrowArrayStream>();
    // SAFETY: the capsule holds an `ArrowArrayStream` (checked by name); it
    // is moved out and the capsule's copy marked released.
    let stream = unsafe { FFI_ArrowArrayStream::from_raw(ptr.as_ptr()) };
    let reader =
        RecordBatchStreamReader::try_new(stream).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let schema = reader.schema();
    let batches =
        reader.collect::<Result<Vec<_>, ArrowError>>().map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok((schema, batches))
}

/// Files of `table` (`ticks`, `runs`, `events`, `agents`, `violations`,
/// `properties`, …) that the manifests of results directory `dir` list, by
/// name: every part and shard.
#[pyfunction]
pub fn table_files(py: Python<'_>, dir: PathBuf, table: &str) -> PyResult<Vec<PathBuf>> {
    files_of(&dir, table).map_err(|e| to_py(py, &e))
}

fn files_of(dir: &Path, table: &str) -> Result<Vec<PathBuf>, Error> {
    let dataset = tokensim::report::read::Dataset::open(dir)?;
    let mut names: Vec<&String> =
        dataset.manifests.iter().flat_map(|(_, m): &(String, Manifest)| m.files.keys()).collect();
    names.sort();
    names.dedup();
    Ok(names
        .into_iter()
        .filter(|n| {
            n.strip_suffix(".parquet")
                .is_some_and(|s| s == table || s.strip_prefix(table).is_some_and(|r| r.starts_with('-')))
        })
        .map(|n| dir.join(n))
        .collect())
}

/// Reads every file of `table` in results directory `dir` (in file-name
/// order) into one Arrow stream; `None` if the experiment wrote no such
/// table.
#[pyfunction]
pub fn read_table(py: Python<'_>, dir: PathBuf, table: &str) -> PyResult<Option<ArrowStream>> {
    let files = files_of(&dir, table).map_err(|e| to_py(py, &e))?;
    if files.is_empty() {
        return Ok(None);
    }
    py.detach(|| read_files(&files)).map(|r| Some(ArrowStream::from_reader(r))).map_err(|e| to_py(py, &e))
}

fn read_files(files: &[PathBuf]) -> Result<Box<dyn RecordBatchReader + Send>, Error> {
    let mut schema = None;
    let mut batches = Vec::new();
    for f in files {
        let file = File::open(f).map_err(|e| Error::io(f, e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(64 * 1024).build())
            .map_err(|e| Error::Data { path: f.clone(), message: e.to_string() })?;
        let s = reader.schema();
        if schema.get_or_insert_with(|| s.clone()).fields() != s.fields() {
            return Err(Error::Data {
                path: f.clone(),
                message: "columns differ from the table's other files".into(),
            });
        }
        for b in reader {
            batches.push(b.map_err(|e| Error::Data { path: f.clone(), message: e.to_string() })?);
        }
    }
    let schema = schema.expect("at least one file");
    Ok(Box::new(RecordBatchIterator::new(batches.into_iter().map(Ok), schema)))
}
