//! Helpers shared by the integration tests: running the binary, writing
//! scenarios, and reading Parquet results back as plain vectors.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Output;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Float64Type, UInt32Type, UInt64Type};
use assert_cmd::Command;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tempfile::TempDir;

/// The `tokensim` binary built by cargo for this test run.
pub fn tokensim() -> Command {
    Command::cargo_bin("tokensim").expect("the tokensim binary is built for integration tests")
}

/// Runs `tokensim` with `args` and returns its output, whatever the exit.
pub fn run(args: &[&str]) -> Output {
    tokensim().args(args).output().expect("tokensim can be spawned")
}

/// The exit code of a finished process (panics if it was killed by a signal).
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or_else(|| panic!("tokensim died by a signal: {}", describe(out)))
}

/// Stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Exit status, stdout and stderr, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!("status: {}\n--- stdout\n{}--- stderr\n{}", out.status, stdout(out), stderr(out))
}

/// Runs `tokensim run SCENARIO -o OUT --quiet EXTRA...` and asserts exit 0.
pub fn run_ok(scenario: &Path, out_dir: &Path, extra: &[&str]) -> Output {
    let (s, o) = (path_str(scenario), path_str(out_dir));
    let mut args = vec!["run", s, "-o", o, "--quiet"];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert_eq!(code(&out), 0, "tokensim {args:?} failed\n{}", describe(&out));
    out
}

/// A path as `&str` (temporary paths are always UTF-8 here).
pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The repository's copy of a shipped scenario.
pub fn shipped_scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name)
}

/// The text of a shipped scenario.
pub fn shipped_scenario_text(name: &str) -> String {
    std::fs::read_to_string(shipped_scenario(name)).expect("shipped scenario is readable")
}

/// A fresh temporary directory.
pub fn tempdir() -> TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

/// Replaces `from` by `to` in `text`, insisting `from` occurs exactly once
/// (so a scenario edit elsewhere cannot make a test silently test nothing).
pub fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "expected `{from}` exactly once in:\n{text}");
    text.replacen(from, to, 1)
}

/// 1-based line and column where `needle` first occurs in `text`.
pub fn line_col_of(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).unwrap_or_else(|| panic!("`{needle}` not in scenario text"));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = offset - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// Reads a whole Parquet file into one record batch.
pub fn read_parquet(path: &Path) -> RecordBatch {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap_or_else(|e| panic!("{}: not a Parquet file: {e}", path.display()));
    let schema = builder.schema().clone();
    let batches: Vec<RecordBatch> =
        builder.build().expect("reader").collect::<Result<_, _>>().expect("readable batches");
    concat_batches(&schema, &batches).expect("batches share the schema")
}

/// Column names of a batch, in order.
pub fn column_names(batch: &RecordBatch) -> Vec<String> {
    batch.schema().fields().iter().map(|f| f.name().clone()).collect()
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a dyn Array {
    batch.column_by_name(name).unwrap_or_else(|| panic!("no column `{name}`; have {:?}", column_names(batch)))
}

/// A Float64 column.
pub fn f64s(batch: &RecordBatch, name: &str) -> Vec<f64> {
    let col = column(batch, name);
    assert_eq!(col.data_type(), &DataType::Float64, "column `{name}`");
    col.as_primitive::<Float64Type>().values().to_vec()
}

/// A UInt64 column (or UInt32, widened).
pub fn u64s(batch: &RecordBatch, name: &str) -> Vec<u64> {
    let col = column(batch, name);
    match col.data_type() {
        DataType::UInt64 => col.as_primitive::<UInt64Type>().values().to_vec(),
        DataType::UInt32 => col.as_primitive::<UInt32Type>().values().iter().map(|&v| u64::from(v)).collect(),
        other => panic!("column `{name}` is {other}, not an unsigned integer"),
    }
}

/// A nullable unsigned 64-bit column (nulls as `None`).
pub fn opt_u64s(batch: &RecordBatch, name: &str) -> Vec<Option<u64>> {
    let col = column(batch, name).as_primitive::<UInt64Type>();
    (0..col.len()).map(|i| col.is_valid(i).then(|| col.value(i))).collect()
}

/// A text column, plain Utf8 or dictionary-encoded (nulls as `None`).
pub fn opt_strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let col = column(batch, name);
    let plain = match col.data_type() {
        DataType::Utf8 | DataType::Dictionary(..) => {
            arrow::compute::cast(col, &DataType::Utf8).expect("text column casts to Utf8")
        }
        other => panic!("column `{name}` is {other}, not text"),
    };
    plain.as_string::<i32>().iter().map(|s| s.map(str::to_string)).collect()
}

/// A Utf8 column without nulls.
pub fn strings(batch: &RecordBatch, name: &str) -> Vec<String> {
    opt_strings(batch, name)
        .into_iter()
        .map(|s| s.unwrap_or_else(|| panic!("null in column `{name}`")))
        .collect()
}

/// A Boolean column without nulls.
pub fn bools(batch: &RecordBatch, name: &str) -> Vec<bool> {
    let col = column(batch, name);
    assert_eq!(col.data_type(), &DataType::Boolean, "column `{name}`");
    col.as_boolean().iter().map(|b| b.expect("no nulls")).collect()
}

/// Whether `a` and `b` agree to a relative tolerance (absolute below 1).
pub fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}

/// Asserts [`close`] with a message naming what is compared.
#[track_caller]
pub fn assert_close(actual: f64, expected: f64, rel: f64, what: &str) {
    assert!(
        close(actual, expected, rel),
        "{what}: got {actual:.17e}, expected {expected:.17e} (rel diff {:.3e}, tolerance {rel:.0e})",
        (actual - expected).abs() / actual.abs().max(expected.abs()).max(1.0)
    );
}

/// Parses `manifest.json` of a results directory.
pub fn manifest(dir: &Path) -> serde_json::Value {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}\n{text}", path.display()))
}

/// File names in a directory, sorted.
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The `market` scenario shrunk for debug builds: `count` agents, `ticks`
/// ticks, agent snapshots every `snapshot_every` ticks, other keys as
/// shipped.
pub fn small_market(count: u64, ticks: u32, snapshot_every: u32) -> String {
    let text = shipped_scenario_text("market.toml");
    let text = replace_once(&text, "count = 10_000", &format!("count = {count}"));
    let text = replace_once(&text, "ticks = 365", &format!("ticks = {ticks}"));
    replace_once(&text, "snapshot_every = 0", &format!("snapshot_every = {snapshot_every}"))
}
