//! A Parquet file written on its own thread from a bounded channel of
//! record batches (or of rows an [`Encode`] turns into batches there), so
//! encoding overlaps simulation and memory stays bounded by the channel and
//! the open row group.
//!
//! The file is written as `NAME.partial` and renamed to `NAME` only by
//! [`ParquetSink::finish`]: an interrupted run never leaves a file that
//! looks complete.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use arrow::datatypes::DataType;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use crossbeam_channel::{Sender, bounded};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::error::Error;

/// Batches in flight between the simulation and the writer thread.
const CHANNEL_DEPTH: usize = 4;
/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 1 << 20;

/// Turns each message a sink is sent into a record batch, on its writer
/// thread.
pub trait Encode: Send + 'static {
    /// What the simulation sends.
    type Message: Send + 'static;
    /// The batch of `message` (`None`: nothing to write).
    fn encode(&mut self, message: Self::Message) -> Option<RecordBatch>;
}

/// Record batches, written as they come.
pub struct Batches;

impl Encode for Batches {
    type Message = RecordBatch;
    fn encode(&mut self, batch: RecordBatch) -> Option<RecordBatch> {
        Some(batch)
    }
}

/// A Parquet file being written in the background.
pub struct ParquetSink<E: Encode = Batches> {
    path: PathBuf,
    partial: PathBuf,
    sender: Option<Sender<E::Message>>,
    worker: Option<JoinHandle<Result<u64, Error>>>,
}

/// The `.partial` name a file is written under until it is complete.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

impl ParquetSink {
    /// Starts writing `path` (as `path.partial`) with `schema` and
    /// key-value metadata.
    pub fn create(path: &Path, schema: SchemaRef, metadata: Vec<(String, String)>) -> Result<Self, Error> {
        ParquetSink::encoding(path, schema, metadata, Batches)
    }

    /// Queues a batch; blocks while the writer is `CHANNEL_DEPTH` batches behind.
    pub fn write(&mut self, batch: RecordBatch) -> Result<(), Error> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.send(batch)
    }
}

impl<E: Encode> ParquetSink<E> {
    /// Starts writing `path` (as `path.partial`) with `schema` and
    /// key-value metadata, from the batches `encoder` makes of what it is
    /// sent.
    pub fn encoding(
        path: &Path,
        schema: SchemaRef,
        metadata: Vec<(String, String)>,
        mut encoder: E,
    ) -> Result<Self, Error> {
        // Column options are set by name, and readers refuse a file with
        // two columns of one name: the callers keep names unique, this
        // makes sure nothing is written if one does not.
        let mut seen = std::collections::HashSet::new();
        if let Some(twice) = schema.fields().iter().map(|f| f.name()).find(|n| !seen.insert(n.as_str())) {
            let message = format!("internal error: two columns named `{twice}`");
            return Err(Error::Data { path: path.to_path_buf(), message });
        }
        let partial = partial_path(path);
        let file = File::create(&partial).map_err(|e| Error::io(&partial, e))?;
        let mut props = WriterProperties::builder()
            .set_compression(Compression::LZ4_RAW)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_key_value_metadata(Some(metadata.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect()));
        for field in schema.fields() {
            let column = || ColumnPath::from(field.name().as_str());
            match field.data_type() {
                // Balances and amounts almost never repeat: trying to
                // dictionary-encode them only costs time before falling back.
                DataType::Float64 => props = props.set_column_dictionary_enabled(column(), false),
                // Ids and ticks ascend in runs: deltas are cheaper than a
                // dictionary (one hash per row) and as small.
                DataType::UInt32 | DataType::UInt64 => {
                    props = props
                        .set_column_dictionary_enabled(column(), false)
                        .set_column_encoding(column(), Encoding::DELTA_BINARY_PACKED)
                }
                // A few names in every row group: min/max would prune
                // nothing, and computing them compares each row's string.
                DataType::Dictionary(..) => {
                    props = props.set_column_statistics_enabled(column(), EnabledStatistics::None)
                }
                _ => {}
            }
        }
        let props = props.build();
        let mut writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| write_error(path, e))?;
        let target = path.to_path_buf();
        let (sender, receiver) = bounded::<E::Message>(CHANNEL_DEPTH);
        let worker = std::thread::Builder::new()
            .name(format!("parquet:{}", path.file_name().unwrap_or_default().to_string_lossy()))
            .spawn(move || {
                let mut rows = 0u64;
                for batch in receiver.into_iter().filter_map(|message| encoder.encode(message)) {
                    rows += batch.num_rows() as u64;
                    writer.write(&batch).map_err(|e| write_error(&target, e))?;
                }
                writer.close().map_err(|e| write_error(&target, e))?;
                Ok(rows)
            })
            .map_err(|e| Error::io(path, e))?;
        Ok(ParquetSink { path: path.to_path_buf(), partial, sender: Some(sender), worker: Some(worker) })
    }

    /// Queues a message; blocks while the writer is `CHANNEL_DEPTH`
    /// messages behind.
    pub fn send(&mut self, message: E::Message) -> Result<(), Error> {
        let sender = self.sender.as_ref().expect("write after finish");
        if sender.send(message).is_err() {
            // The writer stopped early: report its error.
            return Err(self.join().err().unwrap_or_else(|| Error::Run("parquet writer stopped".into())));
        }
        Ok(())
    }

    fn join(&mut self) -> Result<u64, Error> {
        self.sender.take();
        match self.worker.take() {
            Some(worker) => worker.join().map_err(|_| Error::Run("parquet writer panicked".into()))?,
            None => Err(Error::Run("parquet writer already finished".into())),
        }
    }

    /// Writes the footer and renames the file to its final name. Returns the
    /// number of rows written.
    pub fn finish(self) -> Result<u64, Error> {
        self.close()?.publish()
    }

    /// Writes the footer, leaving the file under its `.partial` name until
    /// [`Closed::publish`]: files written together are published only once
    /// all of them are complete.
    pub fn close(mut self) -> Result<Closed, Error> {
        let rows = self.join()?;
        Ok(Closed { path: self.path.clone(), partial: self.partial.clone(), rows })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A complete Parquet file still under its `.partial` name.
#[derive(Debug)]
pub struct Closed {
    path: PathBuf,
    partial: PathBuf,
    rows: u64,
}

impl Closed {
    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the file to its final name; the number of rows written.
    pub fn publish(self) -> Result<u64, Error> {
        std::fs::rename(&self.partial, &self.path).map_err(|e| Error::io(&self.path, e))?;
        Ok(self.rows)
    }
}

/// A failed Parquet write as an error naming the file: a full disk or a
/// file-size limit reads `results/…/ticks.parquet: No space left on device`.
fn write_error(path: &Path, error: parquet::errors::ParquetError) -> Error {
    use parquet::errors::ParquetError;
    match error {
        ParquetError::External(inner) => match inner.downcast::<std::io::Error>() {
            Ok(io) => Error::io(path, *io),
            Err(other) => {
                Error::Data { path: path.to_path_buf(), message: format!("writing Parquet: {other}") }
            }
        },
        other => Error::Data { path: path.to_path_buf(), message: format!("writing Parquet: {other}") },
    }
}

impl<E: Encode> Drop for ParquetSink<E> {
    fn drop(&mut self) {
        // Abandoned (error or panic): stop the writer and remove the partial
        // file so nothing half-written is left behind.
        if self.worker.is_some() {
            let _ = self.join();
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};

    #[test]
    fn a_schema_with_a_column_twice_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.parquet");
        let schema = std::sync::Arc::new(Schema::new(vec![
            Field::new("tick", DataType::UInt32, false),
            Field::new("tick", DataType::Float64, false),
        ]));
        let err = ParquetSink::create(&path, schema, Vec::new()).err().expect("refused");
        assert!(err.to_string().contains("two columns named `tick`"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0, "no file, not even a partial one");
    }
}
