//! Time series files (`tick,price` as CSV or Parquet) that scenarios
//! replay, e.g. a recorded price history driving a price feed.

use std::fs::File;
use std::ops::RangeInclusive;
use std::path::Path;

use arrow::array::AsArray;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, UInt64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::Error;

/// Reads a series with columns `tick` (integer ≥ 0, strictly increasing)
/// and `value_column` (in `range`, e.g. the range of the parameter the
/// values stand for) from a `.csv` or `.parquet` file. Errors name the file
/// and the line (CSV) or row (Parquet).
pub fn read_series(
    path: &Path,
    value_column: &str,
    range: RangeInclusive<f64>,
) -> Result<Vec<(u32, f64)>, Error> {
    let data_err = |message: String| Error::Data { path: path.to_path_buf(), message };
    super::source::regular_file(path).map_err(data_err)?;
    let rows = match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => read_csv(path, value_column)?,
        Some("parquet") | Some("pq") => read_parquet(path, value_column)?,
        _ => return Err(data_err("series file must end in .csv or .parquet".into())),
    };
    if rows.is_empty() {
        return Err(data_err("the series has no rows".into()));
    }
    let mut out = Vec::with_capacity(rows.len());
    for (place, tick, value) in rows {
        if tick > u64::from(u32::MAX) {
            return Err(data_err(format!("{place}: `tick` {tick} is too large")));
        }
        if !range.contains(&value) {
            return Err(data_err(format!(
                "{place}: `{value_column}` must be a finite number in [{:e}, {:e}], got {value}",
                range.start(),
                range.end()
            )));
        }
        if let Some(&(last, _)) = out.last()
            && u64::from(last) >= tick
        {
            return Err(data_err(format!(
                "{place}: ticks must be strictly increasing ({tick} after {last})"
            )));
        }
        out.push((tick as u32, value));
    }
    Ok(out)
}

fn read_csv(path: &Path, value_column: &str) -> Result<Vec<(String, u64, f64)>, Error> {
    let data_err = |message: String| Error::Data { path: path.to_path_buf(), message };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| data_err(e.to_string()))?;
    let headers = reader.headers().map_err(|e| data_err(e.to_string()))?.clone();
    let find = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            data_err(format!(
                "missing column `{name}`; expected columns: tick, {value_column}; found: {}",
                headers.iter().collect::<Vec<_>>().join(", ")
            ))
        })
    };
    let (t, v) = (find("tick")?, find(value_column)?);
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let place = format!("line {}", i + 2);
        let record = record.map_err(|e| data_err(format!("{place}: {e}")))?;
        let field = |k: usize, name: &str| {
            record.get(k).ok_or_else(|| data_err(format!("{place}: missing `{name}`")))
        };
        let tick = field(t, "tick")?
            .parse::<u64>()
            .map_err(|e| data_err(format!("{place}: `tick` is not a whole number ≥ 0: {e}")))?;
        let value = field(v, value_column)?
            .parse::<f64>()
            .map_err(|e| data_err(format!("{place}: `{value_column}` is not a number: {e}")))?;
        out.push((place, tick, value));
    }
    Ok(out)
}

fn read_parquet(path: &Path, value_column: &str) -> Result<Vec<(String, u64, f64)>, Error> {
    let data_err = |message: String| Error::Data { path: path.to_path_buf(), message };
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| data_err(format!("not a readable Parquet file: {e}")))?;
    for name in ["tick", value_column] {
        if builder.schema().field_with_name(name).is_err() {
            return Err(data_err(format!("missing column `{name}`; expected columns: tick, {value_column}")));
        }
    }
    let mut out = Vec::new();
    for batch in builder.build().map_err(|e| data_err(e.to_string()))? {
        let batch = batch.map_err(|e| data_err(e.to_string()))?;
        let column = |name: &str, to: &DataType| {
            let col = batch.column_by_name(name).expect("checked columns");
            if col.null_count() > 0 {
                return Err(data_err(format!("column `{name}` has empty values")));
            }
            cast(col, to).map_err(|e| data_err(format!("column `{name}`: {e}")))
        };
        let ticks = column("tick", &DataType::UInt64)?;
        let values = column(value_column, &DataType::Float64)?;
        let (ticks, values) = (ticks.as_primitive::<UInt64Type>(), values.as_primitive::<Float64Type>());
        for i in 0..batch.num_rows() {
            out.push((format!("row {}", out.len() + 1), ticks.value(i), values.value(i)));
        }
    }
    Ok(out)
}
