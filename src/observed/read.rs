//! Reading an observed data file (CSV or Parquet): its time column, parsed
//! with the scenario's format, and the value columns asked for, each cell
//! kept with its place in the file (`line 12`, `row 11`) so that a bad value
//! is reported only if the window uses it, and then where it is.

use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampSecondType};
use chrono::NaiveDateTime;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::time;

/// Which key of `[observed]` a problem is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// `file`: unreadable, wrong type, no rows.
    File,
    /// `time.column` / `time.format`: a missing column or an unparsable time.
    Time,
    /// A value column (by index into the columns asked for).
    Column(usize),
}

/// A problem reading the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Where in the scenario it points.
    pub key: Key,
    /// What is wrong, with the line or row.
    pub message: String,
}

fn problem(key: Key, message: impl Into<String>) -> Problem {
    Problem { key, message: message.into() }
}

/// The largest magnitude of an observed value: squares of differences
/// between values this size, summed over the most ticks a window holds
/// ([`time::MAX_POINTS`]), stay finite, so every loss can be computed.
pub const MAX_OBSERVED: f64 = 1e150;

/// One value cell: a number, or the text that is not one.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A finite number within ±[`MAX_OBSERVED`].
    Number(f64),
    /// Empty, not a number, not finite or too large: what was found and why
    /// it is refused (`` `abc`, not a number ``).
    Bad(String),
}

/// The cell of a number read from the file.
fn cell(v: f64) -> Cell {
    if !v.is_finite() {
        Cell::Bad(format!("`{v}`, not a finite number"))
    } else if v.abs() > MAX_OBSERVED {
        Cell::Bad(format!("{v:e}, beyond ±{MAX_OBSERVED:e}, the largest observed value"))
    } else {
        Cell::Number(v)
    }
}

/// The rows of a file, in file order.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// Where each row is (`line 2` for CSV with its header on line 1,
    /// `row 1` for Parquet).
    pub places: Vec<String>,
    /// Each row's time.
    pub times: Vec<NaiveDateTime>,
    /// Per column asked for, each row's cell.
    pub values: Vec<Vec<Cell>>,
}

/// Reads `path` (`.csv`, or `.parquet`/`.pq`): the time column `time_column`
/// parsed with `format` and the value columns `columns`.
pub fn read(path: &Path, time_column: &str, format: &str, columns: &[String]) -> Result<Rows, Problem> {
    crate::scenario::source::regular_file(path).map_err(|m| problem(Key::File, m))?;
    let rows = match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => read_csv(path, time_column, format, columns)?,
        Some("parquet" | "pq") => read_parquet(path, time_column, format, columns)?,
        _ => return Err(problem(Key::File, "the file must end in .csv or .parquet")),
    };
    if rows.times.is_empty() {
        return Err(problem(Key::File, "the file has no rows"));
    }
    Ok(rows)
}

fn number(text: &str) -> Cell {
    match text.parse::<f64>() {
        Ok(v) => cell(v),
        _ if text.is_empty() => Cell::Bad("an empty value, not a number".into()),
        _ => Cell::Bad(format!("`{text}`, not a number")),
    }
}

fn missing(what: &str, name: &str, found: &[String]) -> String {
    format!("no {what} column `{name}` in the file; its columns: {}", found.join(", "))
}

fn read_csv(path: &Path, time_column: &str, format: &str, columns: &[String]) -> Result<Rows, Problem> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| problem(Key::File, e.to_string()))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| problem(Key::File, e.to_string()))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    let find = |name: &str| headers.iter().position(|h| h == name);
    let t = find(time_column).ok_or_else(|| problem(Key::Time, missing("time", time_column, &headers)))?;
    let mut cols = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        cols.push(find(c).ok_or_else(|| problem(Key::Column(i), missing("value", c, &headers)))?);
    }
    let mut rows = Rows { values: vec![Vec::new(); columns.len()], ..Rows::default() };
    for (i, record) in reader.records().enumerate() {
        let place = format!("line {}", i + 2);
        let record = record.map_err(|e| problem(Key::File, format!("{place}: {e}")))?;
        let text = record.get(t).unwrap_or("");
        let at = time::parse(text, format)
            .map_err(|e| problem(Key::Time, format!("{place}: `{time_column}`: {e}")))?;
        rows.times.push(at);
        for (k, &c) in cols.iter().enumerate() {
            rows.values[k].push(number(record.get(c).unwrap_or("")));
        }
        rows.places.push(place);
    }
    Ok(rows)
}

fn read_parquet(path: &Path, time_column: &str, format: &str, columns: &[String]) -> Result<Rows, Problem> {
    let file = File::open(path).map_err(|e| problem(Key::File, e.to_string()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| problem(Key::File, format!("not a readable Parquet file: {e}")))?;
    let names: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    if !names.iter().any(|n| n == time_column) {
        return Err(problem(Key::Time, missing("time", time_column, &names)));
    }
    for (i, c) in columns.iter().enumerate() {
        if !names.contains(c) {
            return Err(problem(Key::Column(i), missing("value", c, &names)));
        }
    }
    let mut rows = Rows { values: vec![Vec::new(); columns.len()], ..Rows::default() };
    for batch in builder.build().map_err(|e| problem(Key::File, e.to_string()))? {
        let batch = batch.map_err(|e| problem(Key::File, e.to_string()))?;
        let first = rows.times.len();
        let place = |i: usize| format!("row {}", first + i + 1);
        let col = batch.column_by_name(time_column).expect("checked above");
        let temporal =
            matches!(col.data_type(), DataType::Date32 | DataType::Date64 | DataType::Timestamp(..));
        if temporal {
            // Dates and timestamps are times already; `format` is for text.
            let secs = cast(col, &DataType::Timestamp(TimeUnit::Second, None))
                .map_err(|e| problem(Key::Time, format!("`{time_column}`: {e}")))?;
            let secs = secs.as_primitive::<TimestampSecondType>();
            for i in 0..batch.num_rows() {
                let at = (!secs.is_null(i))
                    .then(|| chrono::DateTime::from_timestamp(secs.value(i), 0))
                    .flatten()
                    .ok_or_else(|| problem(Key::Time, format!("{}: `{time_column}` is empty", place(i))))?;
                rows.times.push(at.naive_utc());
            }
        } else {
            let text = cast(col, &DataType::Utf8).map_err(|e| {
                problem(Key::Time, format!("`{time_column}` is neither text nor a date or timestamp: {e}"))
            })?;
            let text = text.as_string::<i32>();
            for i in 0..batch.num_rows() {
                let value = if text.is_null(i) { "" } else { text.value(i) };
                let at = time::parse(value, format)
                    .map_err(|e| problem(Key::Time, format!("{}: `{time_column}`: {e}", place(i))))?;
                rows.times.push(at);
            }
        }
        for (k, name) in columns.iter().enumerate() {
            let col = batch.column_by_name(name).expect("checked above");
            let cells = &mut rows.values[k];
            let text_column =
                matches!(col.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
            match cast(col, &DataType::Float64).ok().filter(|_| !text_column) {
                Some(values) => {
                    let values = values.as_primitive::<Float64Type>();
                    for i in 0..batch.num_rows() {
                        cells.push(if values.is_null(i) { number("") } else { cell(values.value(i)) });
                    }
                }
                None => {
                    // Text: parse each cell like a CSV field.
                    let text = cast(col, &DataType::Utf8)
                        .map_err(|e| problem(Key::Column(k), format!("`{name}` is not numeric: {e}")))?;
                    let text = text.as_string::<i32>();
                    for i in 0..batch.num_rows() {
                        cells.push(if text.is_null(i) { number("") } else { number(text.value(i).trim()) });
                    }
                }
            }
        }
        rows.places.extend((0..batch.num_rows()).map(place));
    }
    Ok(rows)
}
