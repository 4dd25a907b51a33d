//! Experiments: sweeps (grid, zip, sample), variants, Monte Carlo
//! replicates, parts, `--shard` and `--resume`, checked end to end through
//! the CLI against expectations computed here from the scenario text.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::{cast, concat_batches, filter_record_batch, take_record_batch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};

use crate::common::*;

/// A small scenario: 12 traders who trade and stake, 3 passive holders, and
/// a snapshot every 3 of its 6 ticks. Top-level keys (`runs = …`) go before
/// it, `[sweep]` and `[variants.*]` tables after it (see [`scenario`]).
const BASE: &str = r#"name = "exp"
seed = 42
ticks = 6
snapshot_every = 3
output = { events = true }   # these tests check every table
assets = ["DAI", "TKN"]

[contracts.funding_pool]
kind = "treasury"
asset = "DAI"

[contracts.curve]
kind = "bonding_curve"
reserve_asset = "DAI"
token = "TKN"
slope = 1e-6
initial_supply = 1_000_000.0
entry_tribute = 0.05
exit_tribute = 0.05
treasury = "funding_pool"

[contracts.staking]
kind = "staking_pool"
token = "TKN"
reward_asset = "DAI"
treasury = "funding_pool"
rate = 0.01

[populations.traders]
count = 12
balances = { DAI = 1000.0 }

[populations.traders.behaviours.noise_trader]
contract = "curve"
p_trade = 0.4

[populations.traders.behaviours.staker]
pool = "staking"
p_stake = 0.3
p_unstake = 0.1

[populations.holders]
count = 3
balances = { DAI = 50.0 }
"#;

/// Agents besides the traders (the `holders` population).
const HOLDERS: u64 = 3;
/// Ticks per run in [`BASE`].
const TICKS: u64 = 6;
/// Ticks with an agent snapshot in [`BASE`] (`snapshot_every = 3`).
const SNAPSHOTS: u64 = 2;

/// Manifest fields that legitimately differ between two runs of the same
/// experiment (timing and thread count).
const VOLATILE: [&str; 3] = ["threads", "wall_seconds", "agent_ticks_per_second"];

/// The scenario text: `top` (top-level keys), [`BASE`], then `tables`.
fn scenario(top: &str, tables: &str) -> String {
    format!("{top}\n{BASE}\n{tables}")
}

/// Writes [`scenario`]`(top, tables)` as `dir/name` and returns its path.
fn write_scenario(dir: &Path, name: &str, top: &str, tables: &str) -> PathBuf {
    write_file(dir, name, &scenario(top, tables))
}

/// `tokensim run SCENARIO -o OUT --quiet EXTRA…` without checking the exit.
fn run_in(scenario: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run", path_str(scenario), "-o", path_str(out), "--quiet"];
    args.extend_from_slice(extra);
    run(&args)
}

/// Asserts `out` is a clean usage error: exit 2, `error:` first, no panic,
/// and every string of `says` in stderr. Returns stderr.
#[track_caller]
fn assert_rejected(out: &std::process::Output, says: &[&str], what: &str) -> String {
    let err = stderr(out);
    assert_eq!(code(out), 2, "{what}: must exit 2\n{}", describe(out));
    assert!(!err.contains("panicked"), "{what}: panicked\n{err}");
    assert!(err.starts_with("error: "), "{what}: stderr must start with `error: `\n{err}");
    for s in says {
        assert!(err.contains(s), "{what}: stderr must mention {s:?}\n{err}");
    }
    err
}

// ---------------------------------------------------------------------------
// Reading datasets
// ---------------------------------------------------------------------------

/// The files of `table` in `dir` (`ticks.parquet`, `ticks-p003.parquet`,
/// `ticks-s1of3-p000.parquet`…), sorted by name.
fn table_files(dir: &Path, table: &str) -> Vec<String> {
    let whole = format!("{table}.parquet");
    let prefix = format!("{table}-");
    list_dir(dir)
        .into_iter()
        .filter(|f| f.ends_with(".parquet") && (*f == whole || f.starts_with(&prefix)))
        .collect()
}

/// `batch` without the `drop` columns and schema metadata, with
/// dictionary-encoded text as plain Utf8 (dictionaries are per file, so
/// only the decoded values are comparable across files).
fn plain(batch: &RecordBatch, drop: &[&str]) -> RecordBatch {
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if drop.contains(&field.name().as_str()) {
            continue;
        }
        let (t, column) = match field.data_type() {
            DataType::Dictionary(_, values) => {
                (values.as_ref().clone(), cast(column, values).expect("dictionary decodes"))
            }
            t => (t.clone(), column.clone()),
        };
        fields.push(Field::new(field.name(), t, field.is_nullable()));
        columns.push(column);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns match")
}

/// Rows stably sorted by `run_id` (and `tick` if present): a run is written
/// whole into one file, so rows within a (run, tick) keep their order.
fn sort_by_run(batch: &RecordBatch) -> RecordBatch {
    let run = u64s(batch, "run_id");
    let tick = match batch.column_by_name("tick") {
        Some(_) => u64s(batch, "tick"),
        None => vec![0; batch.num_rows()],
    };
    let mut order: Vec<u32> = (0..batch.num_rows() as u32).collect();
    order.sort_by_key(|&i| (run[i as usize], tick[i as usize]));
    take_record_batch(batch, &UInt32Array::from(order)).expect("take rows")
}

/// Every row of `table` in `dir`, across all its files, [`plain`] and
/// [`sort_by_run`].
fn read_all(dir: &Path, table: &str) -> RecordBatch {
    let files = table_files(dir, table);
    assert!(!files.is_empty(), "no `{table}` files in {}: {:?}", dir.display(), list_dir(dir));
    let batches: Vec<RecordBatch> = files.iter().map(|f| plain(&read_parquet(&dir.join(f)), &[])).collect();
    let all = concat_batches(&batches[0].schema(), &batches)
        .unwrap_or_else(|e| panic!("`{table}` files in {} differ in schema: {e}", dir.display()));
    sort_by_run(&all)
}

/// The rows of run `run_id`, without the `run_id` column.
fn run_rows(batch: &RecordBatch, run_id: u64) -> RecordBatch {
    let mask: BooleanArray = u64s(batch, "run_id").iter().map(|&r| Some(r == run_id)).collect();
    plain(&filter_record_batch(batch, &mask).expect("filter rows"), &["run_id"])
}

/// An Int64 column.
fn i64s(batch: &RecordBatch, name: &str) -> Vec<i64> {
    let col = batch.column_by_name(name).unwrap_or_else(|| panic!("no column `{name}`"));
    assert_eq!(col.data_type(), &DataType::Int64, "column `{name}`");
    col.as_primitive::<Int64Type>().values().to_vec()
}

/// The data type of a column.
fn type_of(batch: &RecordBatch, name: &str) -> DataType {
    batch.column_by_name(name).unwrap_or_else(|| panic!("no column `{name}`")).data_type().clone()
}

/// Asserts two batches hold the same columns, types and values, naming the
/// first differing column and row.
#[track_caller]
fn assert_same_rows(actual: &RecordBatch, expected: &RecordBatch, what: &str) {
    assert_eq!(column_names(actual), column_names(expected), "{what}: columns");
    assert_eq!(actual.num_rows(), expected.num_rows(), "{what}: number of rows");
    for (i, name) in column_names(actual).iter().enumerate() {
        let (a, e) = (actual.column(i), expected.column(i));
        assert_eq!(a.data_type(), e.data_type(), "{what}: type of `{name}`");
        if a.to_data() != e.to_data() {
            let row = (0..a.len()).find(|&r| a.slice(r, 1).to_data() != e.slice(r, 1).to_data()).unwrap_or(0);
            panic!(
                "{what}: `{name}` differs first at row {row}: {:?} vs {:?}",
                a.slice(row, 1),
                e.slice(row, 1)
            );
        }
    }
}

/// Distinct run ids of a file, in order of first appearance.
fn runs_in_file(path: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> = u64s(&read_parquet(path), "run_id");
    ids.dedup();
    ids
}

/// A manifest without its [`VOLATILE`] fields.
fn stable_manifest(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut value: serde_json::Value = serde_json::from_str(&text).expect("manifest is JSON");
    for key in VOLATILE {
        value.as_object_mut().expect("manifest is an object").remove(key);
    }
    value
}

/// Asserts two results directories hold the same files, Parquet files
/// byte-identical and manifests equal but for [`VOLATILE`] fields.
#[track_caller]
fn assert_same_dataset(actual: &Path, expected: &Path, what: &str) {
    let names = list_dir(expected);
    assert_eq!(list_dir(actual), names, "{what}: file names");
    for name in &names {
        let (a, e) = (actual.join(name), expected.join(name));
        if name.ends_with(".json") {
            assert_eq!(stable_manifest(&a), stable_manifest(&e), "{what}: {name}");
        } else {
            let same = std::fs::read(&a).expect("read") == std::fs::read(&e).expect("read");
            assert!(same, "{what}: {name} is not byte-identical");
        }
    }
}

/// Every file of a directory (not sub-directories) with its bytes and
/// modification time.
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, SystemTime)> {
    list_dir(dir)
        .into_iter()
        .filter(|f| dir.join(f).is_file())
        .map(|f| {
            let path = dir.join(&f);
            let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).expect("mtime");
            (f, (std::fs::read(&path).expect("read"), mtime))
        })
        .collect()
}

/// Names of the part markers (`.done-p003.json`) in `dir`.
fn done_markers(dir: &Path) -> Vec<String> {
    if !dir.exists() {
        return Vec::new();
    }
    list_dir(dir).into_iter().filter(|f| f.starts_with(".done-p") && f.ends_with(".json")).collect()
}

/// The part number of a marker name `.done-p003.json`.
fn marker_part(name: &str) -> usize {
    let digits = name.trim_start_matches(".done-p").trim_end_matches(".json");
    digits.parse().unwrap_or_else(|_| panic!("marker name {name}"))
}

/// Runs `0..n` that part `p` of `parts` holds (run `i` goes to part `i mod P`).
fn runs_of_part(n: usize, parts: usize, p: usize) -> Vec<u64> {
    (0..n).filter(|i| i % parts == p).map(|i| i as u64).collect()
}

/// Files left over from an incomplete experiment: markers and partial files.
fn leftovers(dir: &Path) -> Vec<String> {
    list_dir(dir).into_iter().filter(|f| f.starts_with('.') || f.ends_with(".partial")).collect()
}

// ---------------------------------------------------------------------------
// 1. Sweep shape
// ---------------------------------------------------------------------------

#[test]
fn grid_sweep_runs_every_point_replicate_in_order() {
    let dir = tempdir();
    let tributes = [0.01, 0.05, 0.1];
    let counts = [4u64, 9];
    let replicates = 2u64;
    let sweep = "[sweep]\n\"contracts.curve.entry_tribute\" = [0.01, 0.05, 0.1]\npopulations.traders.count = [4, 9]\n";
    let path = write_scenario(dir.path(), "grid.toml", "runs = 2", sweep);

    let out = run(&["validate", path_str(&path)]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert!(
        stdout(&out).contains("12 runs (6 points × 1 variants × 2 replicates)"),
        "validate must report the experiment's shape:\n{}",
        stdout(&out)
    );

    let res = dir.path().join("out");
    run_ok(&path, &res, &["--parts", "5"]);

    // Expected run list: the first swept path varies slowest, then the
    // next, then the replicate.
    let mut expected = Vec::new(); // (point, replicate, tribute, count)
    for (i, &t) in tributes.iter().enumerate() {
        for (j, &c) in counts.iter().enumerate() {
            for r in 0..replicates {
                expected.push(((i * counts.len() + j) as u64, r, t, c));
            }
        }
    }
    let n = expected.len();
    assert_eq!(n, 12);

    let runs = read_all(&res, "runs");
    assert_eq!(
        column_names(&runs),
        [
            "run_id",
            "point_id",
            "variant",
            "replicate",
            "seed",
            "n_agents",
            "ticks",
            "contracts_curve_entry_tribute",
            "populations_traders_count"
        ]
    );
    assert_eq!(type_of(&runs, "contracts_curve_entry_tribute"), DataType::Float64);
    assert_eq!(type_of(&runs, "populations_traders_count"), DataType::Int64);
    assert_eq!(u64s(&runs, "run_id"), (0..n as u64).collect::<Vec<_>>());
    assert_eq!(u64s(&runs, "point_id"), expected.iter().map(|e| e.0).collect::<Vec<_>>());
    assert_eq!(u64s(&runs, "replicate"), expected.iter().map(|e| e.1).collect::<Vec<_>>());
    assert_eq!(
        f64s(&runs, "contracts_curve_entry_tribute"),
        expected.iter().map(|e| e.2).collect::<Vec<_>>()
    );
    assert_eq!(
        i64s(&runs, "populations_traders_count"),
        expected.iter().map(|e| e.3 as i64).collect::<Vec<_>>()
    );
    assert_eq!(u64s(&runs, "n_agents"), expected.iter().map(|e| e.3 + HOLDERS).collect::<Vec<_>>());
    assert_eq!(u64s(&runs, "ticks"), vec![TICKS; n]);
    assert_eq!(strings(&runs, "variant"), vec![String::new(); n]);
    // Common random numbers: the seed is a function of the replicate only.
    let seeds = u64s(&runs, "seed");
    for (k, e) in expected.iter().enumerate() {
        assert_eq!(seeds[k], seeds[e.1 as usize], "run {k}: replicate {} seed differs from point 0's", e.1);
    }
    assert_ne!(seeds[0], seeds[1], "replicates 0 and 1 must have different seeds");

    // Every run has ticks 1..=T, once each, in order.
    let ticks = read_all(&res, "ticks");
    assert_eq!(ticks.num_rows() as u64, n as u64 * TICKS);
    for run in 0..n as u64 {
        assert_eq!(
            u64s(&run_rows(&ticks, run), "tick"),
            (1..=TICKS).collect::<Vec<_>>(),
            "ticks of run {run}"
        );
    }

    // Five parts: run i is in part i mod 5, in run order, in every table.
    for table in ["ticks", "events", "agents"] {
        let files = table_files(&res, table);
        let names: Vec<String> = (0..5).map(|p| format!("{table}-p{p:03}.parquet")).collect();
        assert_eq!(files, names, "{table} files");
        for (p, f) in files.iter().enumerate() {
            let ids = runs_in_file(&res.join(f));
            let expected_ids = runs_of_part(n, 5, p);
            if table == "events" {
                // A run may have no events; the ones present are in order.
                assert!(ids.iter().all(|i| expected_ids.contains(i)) && ids.is_sorted(), "{f}: {ids:?}");
            } else {
                assert_eq!(ids, expected_ids, "{f}");
            }
        }
    }

    // The swept values took effect: one agent row per agent and snapshot,
    // and every settled buy pays the point's entry tribute.
    let agents = read_all(&res, "agents");
    let events = read_all(&res, "events");
    let mut buys_per_tribute = [0usize; 3];
    for (run, e) in expected.iter().enumerate() {
        let a = run_rows(&agents, run as u64);
        let distinct: BTreeSet<u64> = u64s(&a, "agent_id").into_iter().collect();
        assert_eq!(distinct.len() as u64, e.3 + HOLDERS, "agents of run {run}");
        assert_eq!(a.num_rows() as u64, (e.3 + HOLDERS) * SNAPSHOTS, "agent rows of run {run}");
        let ev = run_rows(&events, run as u64);
        let (action, status) = (strings(&ev, "action"), strings(&ev, "status"));
        let (amount_in, fee) = (f64s(&ev, "amount_in"), f64s(&ev, "fee"));
        for k in 0..ev.num_rows() {
            if action[k] == "buy" && status[k] == "ok" {
                assert_close(fee[k], amount_in[k] * e.2, 1e-12, &format!("fee of a buy in run {run}"));
                buys_per_tribute[run / 4] += 1;
            }
        }
    }
    assert!(buys_per_tribute.iter().all(|&b| b > 0), "every tribute saw buys: {buys_per_tribute:?}");

    let m = manifest(&res);
    assert_eq!(
        (m["runs"].as_u64(), m["total_runs"].as_u64(), m["points"].as_u64()),
        (Some(12), Some(12), Some(6))
    );
    assert_eq!(m["swept"], serde_json::json!(["contracts.curve.entry_tribute", "populations.traders.count"]));
    assert_eq!(m["variants"], serde_json::json!([]));
    assert!(leftovers(&res).is_empty(), "markers left in a complete directory: {:?}", leftovers(&res));
}

#[test]
fn zip_sweep_walks_its_lists_together() {
    let dir = tempdir();
    let sweep = "[sweep]\nmode = \"zip\"\n\"contracts.curve.entry_tribute\" = [0.01, 0.02, 0.03]\n\
                 populations.traders.count = [4, 5, 6]\n";
    let path = write_scenario(dir.path(), "zip.toml", "", sweep);
    let out = run(&["validate", path_str(&path)]);
    assert!(stdout(&out).contains("3 runs (3 points × 1 variants × 1 replicates)"), "{}", describe(&out));
    let res = dir.path().join("out");
    run_ok(&path, &res, &[]);
    let runs = read_all(&res, "runs");
    assert_eq!(u64s(&runs, "point_id"), [0, 1, 2]);
    assert_eq!(u64s(&runs, "replicate"), [0, 0, 0]);
    assert_eq!(f64s(&runs, "contracts_curve_entry_tribute"), [0.01, 0.02, 0.03]);
    assert_eq!(i64s(&runs, "populations_traders_count"), [4, 5, 6]);
    assert_eq!(u64s(&runs, "n_agents"), [4 + HOLDERS, 5 + HOLDERS, 6 + HOLDERS]);
    assert_eq!(manifest(&res)["points"], 3);
}

/// Runs a sample-mode sweep of `samples` points and returns `runs.parquet`.
fn sample_sweep(dir: &Path, name: &str, method: &str, samples: usize, extra: &[&str]) -> RecordBatch {
    let sweep = format!(
        "[sweep]\nmode = \"sample\"\nmethod = \"{method}\"\nsamples = {samples}\n\
         \"contracts.curve.entry_tribute\" = {{ low = 0.0, high = 0.4 }}\n\
         populations.traders.count = {{ low = 1, high = {samples} }}\n"
    );
    let path = write_scenario(dir, &format!("{name}.toml"), "runs = 2", &sweep);
    let out = run(&["validate", path_str(&path)]);
    let shape = format!("{} runs ({samples} points × 1 variants × 2 replicates)", 2 * samples);
    assert!(stdout(&out).contains(&shape), "validate must say {shape:?}\n{}", describe(&out));
    let res = dir.join(name);
    run_ok(&path, &res, extra);
    let runs = read_all(&res, "runs");
    assert_eq!(runs.num_rows(), 2 * samples);
    assert_eq!(type_of(&runs, "contracts_curve_entry_tribute"), DataType::Float64);
    assert_eq!(type_of(&runs, "populations_traders_count"), DataType::Int64);
    // Each point appears for replicates 0 and 1 with the same values.
    let (t, c) = (f64s(&runs, "contracts_curve_entry_tribute"), i64s(&runs, "populations_traders_count"));
    for p in 0..samples {
        assert_eq!(u64s(&runs, "point_id")[2 * p..2 * p + 2], [p as u64, p as u64]);
        assert_eq!((t[2 * p], c[2 * p]), (t[2 * p + 1], c[2 * p + 1]), "point {p}");
        assert_eq!(u64s(&runs, "n_agents")[2 * p], c[2 * p] as u64 + HOLDERS, "point {p}");
    }
    runs
}

/// The values of a sampled column at replicate 0 of each point.
fn per_point<T: Copy>(values: &[T]) -> Vec<T> {
    values.iter().step_by(2).copied().collect()
}

#[test]
fn latin_hypercube_sample_puts_one_point_in_each_stratum() {
    let dir = tempdir();
    let n = 8;
    let runs = sample_sweep(dir.path(), "lhs", "lhs", n, &[]);
    let tributes = per_point(&f64s(&runs, "contracts_curve_entry_tribute"));
    let mut strata: Vec<usize> = tributes
        .iter()
        .map(|&t| {
            assert!((0.0..0.4).contains(&t), "tribute {t} outside [0, 0.4)");
            (t / (0.4 / n as f64)).floor() as usize
        })
        .collect();
    strata.sort();
    assert_eq!(strata, (0..n).collect::<Vec<_>>(), "one tribute per stratum of width 0.05: {tributes:?}");
    // Integer range 1..=8 in 8 strata: every integer exactly once.
    let mut counts = per_point(&i64s(&runs, "populations_traders_count"));
    counts.sort();
    assert_eq!(counts, (1..=n as i64).collect::<Vec<_>>());

    // The design is a function of the master seed.
    let again = sample_sweep(dir.path(), "lhs-again", "lhs", n, &[]);
    assert_same_rows(&again, &runs, "LHS with the same seed");
    let other = sample_sweep(dir.path(), "lhs-seed7", "lhs", n, &["--seed", "7"]);
    assert_ne!(
        per_point(&f64s(&other, "contracts_curve_entry_tribute")),
        tributes,
        "another master seed must draw another design"
    );
}

#[test]
fn uniform_sample_stays_in_its_ranges() {
    let dir = tempdir();
    let runs = sample_sweep(dir.path(), "uniform", "uniform", 6, &[]);
    let tributes = per_point(&f64s(&runs, "contracts_curve_entry_tribute"));
    assert!(tributes.iter().all(|t| (0.0..0.4).contains(t)), "{tributes:?}");
    assert!(tributes.windows(2).any(|w| w[0] != w[1]), "sampled tributes are all equal: {tributes:?}");
    let counts = per_point(&i64s(&runs, "populations_traders_count"));
    assert!(counts.iter().all(|c| (1..=6).contains(c)), "{counts:?}");
}

// ---------------------------------------------------------------------------
// 2. Determinism across thread counts
// ---------------------------------------------------------------------------

#[test]
fn sweep_output_does_not_depend_on_thread_count() {
    let dir = tempdir();
    let tables = "[sweep]\n\"contracts.curve.entry_tribute\" = [0.01, 0.05, 0.1]\npopulations.traders.count = [4, 9]\n\
                  [variants.slow]\n\"populations.traders.behaviours.noise_trader.p_trade\" = 0.1\n\
                  [variants.fast]\n\"populations.traders.behaviours.noise_trader.p_trade\" = 0.9\n";
    let path = write_scenario(dir.path(), "det.toml", "runs = 2", tables);
    let (one, two) = (dir.path().join("jobs1"), dir.path().join("jobs2"));
    run_ok(&path, &one, &["--jobs", "1", "--parts", "5"]);
    run_ok(&path, &two, &["--jobs", "2", "--parts", "5"]);
    assert_eq!(manifest(&one)["threads"], 1);
    assert_eq!(manifest(&two)["threads"], 2);
    assert_eq!(table_files(&one, "ticks").len(), 5, "24 runs in 5 parts");
    assert_eq!(manifest(&one)["runs"], 24);
    assert_same_dataset(&two, &one, "--jobs 2 vs --jobs 1");
}

// ---------------------------------------------------------------------------
// 3. A run alone equals the same run inside its sweep
// ---------------------------------------------------------------------------

#[test]
fn a_run_alone_gives_the_same_rows_as_inside_its_sweep() {
    let dir = tempdir();
    let tributes = ["0.02", "0.08"];
    let counts = ["5", "9"];
    let replicates = 3usize;
    // Variant overrides as (path, value), applied on top of the point.
    let variants: [(&str, &[(&str, &str)]); 2] = [
        ("control", &[]),
        (
            "busy",
            &[
                ("populations.traders.behaviours.noise_trader.p_trade", "0.9"),
                ("contracts.curve.exit_tribute", "0.0"),
            ],
        ),
    ];
    let mut tables = format!(
        "[sweep]\n\"contracts.curve.entry_tribute\" = [{}]\n\"populations.traders.count\" = [{}]\n",
        tributes.join(", "),
        counts.join(", ")
    );
    for (name, overrides) in &variants {
        tables.push_str(&format!("[variants.{name}]\n"));
        for (p, v) in *overrides {
            tables.push_str(&format!("\"{p}\" = {v}\n"));
        }
    }
    let sweep_path = write_scenario(dir.path(), "sweep.toml", &format!("runs = {replicates}"), &tables);
    let alone_path = write_scenario(dir.path(), "alone.toml", "", "");
    let sweep = dir.path().join("sweep");
    run_ok(&sweep_path, &sweep, &["--parts", "4"]);
    let sweep_runs = read_all(&sweep, "runs");
    let (s_ticks, s_events, s_agents) =
        (read_all(&sweep, "ticks"), read_all(&sweep, "events"), read_all(&sweep, "agents"));

    // (tribute index, count index, variant index, replicate)
    for (ti, ci, vi, r) in [(1, 0, 1, 2), (0, 1, 0, 0), (1, 1, 1, 1)] {
        let point = ti * counts.len() + ci;
        let run_id = ((point * variants.len() + vi) * replicates + r) as u64;
        let what = format!("point {point} variant {} replicate {r} (run {run_id})", variants[vi].0);
        // runs.parquet agrees with the run order point, variant, replicate.
        let k = run_id as usize;
        assert_eq!(
            (
                u64s(&sweep_runs, "point_id")[k],
                strings(&sweep_runs, "variant")[k].as_str(),
                u64s(&sweep_runs, "replicate")[k]
            ),
            (point as u64, variants[vi].0, r as u64),
            "{what}: runs.parquet row"
        );

        let mut sets = vec![
            format!("contracts.curve.entry_tribute={}", tributes[ti]),
            format!("populations.traders.count={}", counts[ci]),
        ];
        sets.extend(variants[vi].1.iter().map(|(p, v)| format!("{p}={v}")));
        let mut args: Vec<&str> = vec!["--runs"];
        let n_runs = (r + 1).to_string();
        args.push(&n_runs);
        for s in &sets {
            args.extend(["--set", s.as_str()]);
        }
        let alone = dir.path().join(format!("alone-{run_id}"));
        run_ok(&alone_path, &alone, &args);

        let alone_runs = read_all(&alone, "runs");
        assert_eq!(u64s(&alone_runs, "seed")[r], u64s(&sweep_runs, "seed")[k], "{what}: seed");
        assert_eq!(u64s(&alone_runs, "n_agents")[r], u64s(&sweep_runs, "n_agents")[k], "{what}: n_agents");
        let s_events_run = run_rows(&s_events, run_id);
        assert!(s_events_run.num_rows() > 0, "{what}: the run has events to compare");
        for (table, sweep_table) in [("ticks", &s_ticks), ("events", &s_events), ("agents", &s_agents)] {
            let a = run_rows(&read_all(&alone, table), r as u64);
            let s = run_rows(sweep_table, run_id);
            assert!(s.num_rows() > 0, "{what}: no {table} rows");
            assert_same_rows(&a, &s, &format!("{what}: {table} alone vs in the sweep"));
        }
    }
    // The comparison is not vacuous: the same replicate at another point
    // (different tribute) has another history.
    let a = run_rows(&s_ticks, 2);
    let b = run_rows(&s_ticks, ((2 * variants.len()) * replicates + 2) as u64);
    assert_ne!(f64s(&a, "funding_pool_balance"), f64s(&b, "funding_pool_balance"));
}

// ---------------------------------------------------------------------------
// 4. Variants and common random numbers
// ---------------------------------------------------------------------------

#[test]
fn variants_share_random_numbers() {
    let dir = tempdir();
    let tables = "[variants.a]\n\"contracts.curve.exit_tribute\" = 0.02\n\
                  [variants.b]\ncontracts.curve.exit_tribute = 0.02\n\
                  [variants.c]\n\"contracts.curve.entry_tribute\" = 0.2\n";
    let path = write_scenario(dir.path(), "var.toml", "runs = 2", tables);
    let out = run(&["validate", path_str(&path)]);
    assert!(stdout(&out).contains("6 runs (1 points × 3 variants × 2 replicates)"), "{}", describe(&out));
    let res = dir.path().join("out");
    run_ok(&path, &res, &[]);

    let runs = read_all(&res, "runs");
    assert_eq!(strings(&runs, "variant"), ["a", "a", "b", "b", "c", "c"]);
    assert_eq!(u64s(&runs, "replicate"), [0, 1, 0, 1, 0, 1]);
    assert_eq!(u64s(&runs, "point_id"), [0; 6]);
    let seeds = u64s(&runs, "seed");
    assert!(seeds[0] == seeds[2] && seeds[2] == seeds[4], "replicate 0 seeds: {seeds:?}");
    assert!(seeds[1] == seeds[3] && seeds[3] == seeds[5], "replicate 1 seeds: {seeds:?}");
    assert_ne!(seeds[0], seeds[1]);
    assert_eq!(manifest(&res)["variants"], serde_json::json!(["a", "b", "c"]));

    let (ticks, events) = (read_all(&res, "ticks"), read_all(&res, "events"));
    for r in 0..2u64 {
        // Identical variants: identical trajectories.
        for table in [&ticks, &events] {
            assert_same_rows(
                &run_rows(table, 2 + r),
                &run_rows(table, r),
                &format!("variant b vs a, replicate {r}"),
            );
        }
        // Variant c (5x the entry tribute) differs...
        let (a, c) = (run_rows(&ticks, r), run_rows(&ticks, 4 + r));
        assert_ne!(f64s(&a, "funding_pool_balance"), f64s(&c, "funding_pool_balance"), "replicate {r}");
        // ...but draws the same random numbers: the first trade (before any
        // tribute could change a balance) is the same decision.
        let first = |run: u64| {
            let e = run_rows(&events, run);
            (
                u64s(&e, "tick")[0],
                u64s(&e, "agent_id")[0],
                strings(&e, "action")[0].clone(),
                f64s(&e, "amount_in")[0],
            )
        };
        assert_eq!(first(4 + r), first(r), "variant c vs a, replicate {r}: first event");
    }
    // Whereas different replicates of one variant draw different numbers.
    assert_ne!(f64s(&run_rows(&ticks, 0), "curve_price"), f64s(&run_rows(&ticks, 1), "curve_price"));
}

// ---------------------------------------------------------------------------
// 5. Shards
// ---------------------------------------------------------------------------

#[test]
fn shards_partition_the_experiment() {
    let dir = tempdir();
    let sweep = "[sweep]\n\"contracts.curve.entry_tribute\" = [0.01, 0.03, 0.05, 0.07, 0.09]\n";
    let path = write_scenario(dir.path(), "shard.toml", "runs = 2", sweep);
    let n = 10usize;
    let whole = dir.path().join("whole");
    run_ok(&path, &whole, &[]);

    let together = dir.path().join("together");
    let mut expected_files = BTreeSet::new();
    for k in 0..3usize {
        let shard = format!("{k}/3");
        run_ok(&path, &together, &["--shard", &shard, "--parts", "2"]);
        let separate = dir.path().join(format!("s{k}"));
        run_ok(&path, &separate, &["--shard", &shard, "--parts", "2"]);

        let selected: Vec<u64> = (0..n).filter(|i| i % 3 == k).map(|i| i as u64).collect();
        let suffix = format!("-s{k}of3");
        let mut mine = vec![format!("runs{suffix}.parquet"), format!("manifest{suffix}.json")];
        for table in ["ticks", "events", "agents"] {
            for p in 0..2 {
                let name = format!("{table}{suffix}-p{p:03}.parquet");
                if table != "events" {
                    let held: Vec<u64> = selected.iter().copied().skip(p).step_by(2).collect();
                    assert_eq!(
                        runs_in_file(&separate.join(&name)),
                        held,
                        "{name}: run i of the shard in part i mod 2"
                    );
                }
                mine.push(name);
            }
        }
        mine.sort();
        assert_eq!(list_dir(&separate), mine, "files of shard {shard}");
        expected_files.extend(mine);
        let m = stable_manifest(&separate.join(format!("manifest{suffix}.json")));
        assert_eq!(m["shard"], shard);
        assert_eq!(m["runs"].as_u64(), Some(selected.len() as u64), "shard {shard} runs");
        assert_eq!(m["total_runs"].as_u64(), Some(n as u64));
        assert_eq!(u64s(&read_all(&separate, "runs"), "run_id"), selected, "shard {shard} runs.parquet");
    }
    // Three shards in one directory: each wrote its own files only, and they
    // are the files the shard writes alone.
    assert_eq!(list_dir(&together), expected_files.iter().cloned().collect::<Vec<_>>());
    for k in 0..3 {
        let separate = dir.path().join(format!("s{k}"));
        for name in list_dir(&separate) {
            let (a, b) = (together.join(&name), separate.join(&name));
            if name.ends_with(".json") {
                assert_eq!(stable_manifest(&a), stable_manifest(&b), "{name}");
            } else {
                assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "{name} differs");
            }
        }
    }
    // The union of the shards is the unsharded experiment, row for row.
    for table in ["runs", "ticks", "events", "agents"] {
        assert_same_rows(
            &read_all(&together, table),
            &read_all(&whole, table),
            &format!("union of shards: {table}"),
        );
    }
}

#[test]
fn bad_shards_are_rejected() {
    let dir = tempdir();
    let path = write_scenario(dir.path(), "s.toml", "runs = 2", "");
    for bad in ["3/3", "0/0", "1/0", "-1/3", "1", "a/3"] {
        let out = dir.path().join("out");
        let flag = format!("--shard={bad}");
        let o = run_in(&path, &out, &[&flag]);
        assert_rejected(&o, &["--shard", bad], &format!("--shard {bad}"));
        assert!(!out.exists(), "--shard {bad} created the output directory");
    }
}

// ---------------------------------------------------------------------------
// 6. Resume
// ---------------------------------------------------------------------------

/// 12 runs: 3 tributes × 4 replicates.
const RESUME_SWEEP: &str = "[sweep]\n\"contracts.curve.entry_tribute\" = [0.01, 0.05, 0.1]\n";

#[test]
fn resume_of_a_complete_directory_changes_nothing() {
    let dir = tempdir();
    let path = write_scenario(dir.path(), "r.toml", "runs = 4", RESUME_SWEEP);
    let res = dir.path().join("out");
    run_ok(&path, &res, &["--parts", "4"]);
    let before = snapshot(&res);
    std::thread::sleep(Duration::from_millis(20));
    let args = ["run", path_str(&path), "-o", path_str(&res), "--parts", "4", "--resume"];
    let out = run(&args);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert!(
        stderr(&out).contains("12 resumed"),
        "a no-op resume reports the runs as resumed:\n{}",
        stderr(&out)
    );
    assert!(before == snapshot(&res), "--resume of a complete directory touched its files");

    // Resuming into a directory that does not exist yet is a fresh run.
    let fresh = dir.path().join("fresh");
    run_ok(&path, &fresh, &["--parts", "4", "--resume"]);
    assert_same_dataset(&fresh, &res, "--resume into a new directory");
}

#[test]
fn resume_refuses_results_of_another_experiment() {
    let dir = tempdir();
    let path = write_scenario(dir.path(), "r.toml", "runs = 4", RESUME_SWEEP);
    let res = dir.path().join("out");
    run_ok(&path, &res, &["--parts", "4"]);
    let before = snapshot(&res);
    let other = write_scenario(dir.path(), "other.toml", "runs = 4", &RESUME_SWEEP.replace("0.1]", "0.2]"));
    for (scenario, extra, what) in [
        (&other, &["--parts", "4"][..], "another sweep"),
        (&path, &["--parts", "4", "--set", "contracts.curve.exit_tribute=0.01"][..], "another --set"),
        (&path, &["--parts", "3"][..], "another --parts"),
        (&path, &["--parts", "4", "--runs", "2"][..], "another --runs"),
    ] {
        let mut args = extra.to_vec();
        args.push("--resume");
        let out = run_in(scenario, &res, &args);
        assert_rejected(
            &out,
            &["cannot resume", path_str(&res), "--force"],
            &format!("--resume with {what}"),
        );
        assert!(before == snapshot(&res), "--resume with {what} changed the results");
    }
    // Without --resume or --force an existing directory is refused too.
    let out = run_in(&path, &res, &["--parts", "4"]);
    assert_rejected(&out, &["--force", path_str(&res)], "rerun without --resume");
    assert!(before == snapshot(&res));
}

#[test]
fn resume_after_a_failed_part_redoes_only_unfinished_parts() {
    let dir = tempdir();
    let path = write_scenario(dir.path(), "r.toml", "runs = 4", RESUME_SWEEP);
    let (n, parts) = (12usize, 6usize);
    let reference = dir.path().join("reference");
    run_ok(&path, &reference, &["--parts", "6"]);

    // A directory where the last part's events file cannot be created makes
    // the experiment fail after the parts before it finished (one thread
    // runs the parts in order).
    let res = dir.path().join("out");
    std::fs::create_dir(&res).unwrap();
    let blocker = res.join("events-p005.parquet.partial");
    std::fs::create_dir(&blocker).unwrap();
    let out = run_in(&path, &res, &["--parts", "6", "--jobs", "1"]);
    assert_rejected(&out, &["events-p005.parquet.partial"], "a part that cannot write");
    let files = list_dir(&res);
    assert!(!files.contains(&"manifest.json".to_string()), "a failed experiment wrote a manifest: {files:?}");
    assert!(files.contains(&".plan.json".to_string()), "an incomplete experiment keeps its plan: {files:?}");
    let done = done_markers(&res);
    assert!(!done.contains(&".done-p005.json".to_string()), "the failed part is marked done: {done:?}");
    assert!(done.len() >= 3, "parts before the failure should have finished: {files:?}");

    // An incomplete directory is refused without --resume, and by a resume
    // of another experiment; neither touches it.
    let before = snapshot(&res);
    assert_rejected(&run_in(&path, &res, &["--parts", "6"]), &["--force"], "rerun without --resume");
    let out =
        run_in(&path, &res, &["--parts", "6", "--resume", "--set", "contracts.curve.exit_tribute=0.01"]);
    assert_rejected(&out, &["cannot resume"], "resume of another experiment");
    assert!(before == snapshot(&res), "a refused run changed the incomplete results");

    // Damage two finished parts: one loses its ticks file, one its marker's
    // content. Both must be redone; the others skipped.
    let (lost, garbled) = (marker_part(&done[1]), marker_part(&done[2]));
    std::fs::remove_file(res.join(format!("ticks-p{lost:03}.parquet"))).unwrap();
    std::fs::write(res.join(&done[2]), "{ not json").unwrap();
    let resumed: usize = done
        .iter()
        .map(|m| marker_part(m))
        .filter(|&p| p != lost && p != garbled)
        .map(|p| runs_of_part(n, parts, p).len())
        .sum();

    std::fs::remove_dir(&blocker).unwrap();
    let args = ["run", path_str(&path), "-o", path_str(&res), "--parts", "6", "--jobs", "2", "--resume"];
    let out = run(&args);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let summary = format!("12 runs ({resumed} resumed from earlier results)");
    assert!(stderr(&out).contains(&summary), "stderr must say {summary:?}:\n{}", stderr(&out));
    assert!(leftovers(&res).is_empty(), "resume left {:?}", leftovers(&res));
    assert_same_dataset(&res, &reference, "resumed vs uninterrupted");
}

/// Starts `tokensim run` and kills it once at least two parts are marked
/// done. Returns the markers present after the kill, or `None` if the run
/// completed (or nearly) before it could be interrupted.
fn run_and_kill(scenario: &Path, out: &Path, args: &[&str], parts: usize) -> Option<Vec<String>> {
    let _ = std::fs::remove_dir_all(out);
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_tokensim"))
        .args(["run", path_str(scenario), "-o", path_str(out), "--quiet"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tokensim");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if child.try_wait().expect("child status").is_some() {
            return None;
        }
        if done_markers(out).len() >= 2 {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no part of the experiment finished within 20 s");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("kill tokensim");
    child.wait().expect("reap tokensim");
    let done = done_markers(out);
    (!out.join("manifest.json").exists() && done.len() < parts).then_some(done)
}

#[test]
fn resume_after_a_kill_completes_the_same_dataset() {
    let dir = tempdir();
    let path = write_scenario(dir.path(), "kill.toml", "runs = 16", "");
    let (n, parts) = (16usize, 8usize);
    let res = dir.path().join("out");
    // Long enough runs that the experiment is still going when two of its
    // parts are done; each retry makes them longer.
    let mut attempt = None;
    for ticks in [40, 80, 160] {
        let t = ticks.to_string();
        let args = ["--jobs", "1", "--parts", "8", "--ticks", &t, "--set", "populations.traders.count=150"];
        if let Some(done) = run_and_kill(&path, &res, &args, parts) {
            attempt = Some((t, done));
            break;
        }
    }
    let (ticks, done) = attempt.expect("could not interrupt the experiment before it completed");
    let files = list_dir(&res);
    assert!(files.contains(&".plan.json".to_string()), "{files:?}");
    let resumed: usize = done.iter().map(|m| runs_of_part(n, parts, marker_part(m)).len()).sum();

    let common = ["--parts", "8", "--ticks", &ticks, "--set", "populations.traders.count=150"];
    let mut args = vec!["run", path_str(&path), "-o", path_str(&res), "--resume", "--jobs", "2"];
    args.extend(common);
    let out = run(&args);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let summary = format!("16 runs ({resumed} resumed from earlier results)");
    assert!(stderr(&out).contains(&summary), "stderr must say {summary:?}:\n{}", stderr(&out));
    assert!(leftovers(&res).is_empty(), "resume left {:?}", leftovers(&res));

    let reference = dir.path().join("reference");
    run_ok(&path, &reference, &common);
    assert_same_dataset(&res, &reference, "killed and resumed vs uninterrupted");
}

// ---------------------------------------------------------------------------
// 7. Errors
// ---------------------------------------------------------------------------

#[test]
fn bad_sweeps_and_variants_are_clear_errors() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "unknown sweep path",
            "",
            "[sweep]\n\"contracts.curvx.slope\" = [1e-6, 2e-6]\n",
            &["sweep", "`contracts.curvx.slope`", "choices here: funding_pool, curve, staking"],
        ),
        (
            "unknown field in a sweep path",
            "",
            "[sweep]\n\"contracts.curve.slop\" = [1e-6]\n",
            &["sweep", "`contracts.curve.slop`", "`slope`", "`entry_tribute`"],
        ),
        (
            "wrong type in a sweep list",
            "",
            "[sweep]\n\"contracts.curve.entry_tribute\" = [0.01, \"high\"]\n",
            &["sweep", "`contracts.curve.entry_tribute`", "float", "high"],
        ),
        (
            "out-of-range value in a sweep list",
            "",
            "[sweep]\n\"contracts.curve.entry_tribute\" = [0.5, 1.0]\n",
            &["sweep", "`contracts.curve.entry_tribute`", "[0, 1)"],
        ),
        (
            "sweep value that is not a list",
            "",
            "[sweep]\n\"contracts.curve.entry_tribute\" = 0.01\n",
            &["`sweep.contracts.curve.entry_tribute`", "list"],
        ),
        (
            "empty sweep list",
            "",
            "[sweep]\n\"contracts.curve.entry_tribute\" = []\n",
            &["`sweep.contracts.curve.entry_tribute`", "at least one value"],
        ),
        (
            "zip lists of different lengths",
            "",
            "[sweep]\nmode = \"zip\"\n\"contracts.curve.entry_tribute\" = [0.01, 0.02]\npopulations.traders.count = [4, 5, 6]\n",
            &["`sweep.populations.traders.count`", "equal length", "has 3", "has 2"],
        ),
        (
            "unknown sweep mode",
            "",
            "[sweep]\nmode = \"random\"\n\"contracts.curve.entry_tribute\" = [0.01]\n",
            &["`sweep.mode`", "random", "grid, zip, sample"],
        ),
        (
            "sample mode without samples",
            "",
            "[sweep]\nmode = \"sample\"\n\"contracts.curve.entry_tribute\" = { low = 0.0, high = 0.1 }\n",
            &["`sweep.samples`", "samples = N"],
        ),
        (
            "unknown sample method",
            "",
            "[sweep]\nmode = \"sample\"\nsamples = 3\nmethod = \"sobol\"\n\"contracts.curve.entry_tribute\" = { low = 0.0, high = 0.1 }\n",
            &["`sweep.method`", "sobol", "uniform, lhs"],
        ),
        (
            "list in sample mode",
            "",
            "[sweep]\nmode = \"sample\"\nsamples = 3\n\"contracts.curve.entry_tribute\" = [0.1]\n",
            &["`sweep.contracts.curve.entry_tribute`", "low", "high"],
        ),
        (
            "samples outside sample mode",
            "",
            "[sweep]\nsamples = 3\n\"contracts.curve.entry_tribute\" = [0.1]\n",
            &["`sweep.samples`", "sample"],
        ),
        (
            "variant with an unknown contract",
            "",
            "[variants.cheap]\n\"contracts.curvx.entry_tribute\" = 0.0\n",
            &[
                "variants.cheap",
                "`contracts.curvx.entry_tribute`",
                "choices here: funding_pool, curve, staking",
            ],
        ),
        (
            "variant with a wrong type",
            "",
            "[variants.cheap]\n\"contracts.curve.entry_tribute\" = \"none\"\n",
            &["variants.cheap", "`contracts.curve.entry_tribute`", "float"],
        ),
        ("zero runs", "runs = 0", "", &["`runs`", "at least 1"]),
    ];
    let dir = tempdir();
    for (i, (what, top, tables, says)) in cases.iter().enumerate() {
        let path = write_scenario(dir.path(), &format!("bad{i}.toml"), top, tables);
        let out = dir.path().join(format!("out{i}"));
        assert_rejected(&run_in(&path, &out, &[]), says, &format!("run: {what}"));
        assert!(!out.exists(), "{what}: a rejected experiment created its output directory");
        assert_rejected(&run(&["validate", path_str(&path)]), says, &format!("validate: {what}"));
    }
}

// ---------------------------------------------------------------------------
// Bugs found while writing these tests (ignored so the suite stays green).
// ---------------------------------------------------------------------------

#[test]
fn swept_top_level_fields_do_not_duplicate_runs_columns() {
    let dir = tempdir();
    for (name, sweep) in [("ticks", "[sweep]\nticks = [3, 4]\n"), ("seed", "[sweep]\nseed = [1, 2]\n")] {
        let path = write_scenario(dir.path(), &format!("{name}.toml"), "", sweep);
        let res = dir.path().join(name);
        run_ok(&path, &res, &[]);
        let names = column_names(&read_parquet(&res.join("runs.parquet")));
        let unique: BTreeSet<&String> = names.iter().collect();
        assert_eq!(
            unique.len(),
            names.len(),
            "sweeping `{name}`: duplicate columns in runs.parquet: {names:?}"
        );
    }
}

#[test]
fn a_swept_seed_run_alone_equals_the_sweep_run() {
    let dir = tempdir();
    let sweep = write_scenario(dir.path(), "sweep.toml", "", "[sweep]\nseed = [1, 2]\n");
    let alone = write_scenario(dir.path(), "alone.toml", "", "");
    let (s, a) = (dir.path().join("sweep"), dir.path().join("alone"));
    run_ok(&sweep, &s, &[]);
    run_ok(&alone, &a, &["--set", "seed=2"]);
    let ticks = read_all(&s, "ticks");
    assert_ne!(
        f64s(&run_rows(&ticks, 0), "curve_price"),
        f64s(&run_rows(&ticks, 1), "curve_price"),
        "seeds 1 and 2 gave the same price path"
    );
    assert_same_rows(
        &run_rows(&read_all(&a, "ticks"), 0),
        &run_rows(&ticks, 1),
        "seed 2 alone vs in the sweep",
    );
}

#[test]
fn a_path_swept_twice_is_rejected() {
    let dir = tempdir();
    let sweep =
        "[sweep]\n\"contracts.curve.entry_tribute\" = [0.01, 0.05]\ncontracts.curve.entry_tribute = [0.2]\n";
    let path = write_scenario(dir.path(), "dup.toml", "", sweep);
    let out = dir.path().join("out");
    assert_rejected(&run_in(&path, &out, &[]), &["contracts.curve.entry_tribute"], "a path swept twice");
}

#[test]
fn runs_parquet_reports_the_values_a_run_used() {
    let dir = tempdir();
    let tables = "[sweep]\n\"contracts.curve.entry_tribute\" = [0.01, 0.1]\n\
                  [variants.free]\n\"contracts.curve.entry_tribute\" = 0.0\n";
    let path = write_scenario(dir.path(), "v.toml", "", tables);
    let res = dir.path().join("out");
    let out = run_in(&path, &res, &[]);
    if code(&out) == 2 {
        // Refusing the ambiguity is a fix too.
        assert_rejected(&out, &["contracts.curve.entry_tribute"], "variant overriding a swept path");
        return;
    }
    let runs = read_all(&res, "runs");
    let events = read_all(&res, "events");
    for (run, reported) in f64s(&runs, "contracts_curve_entry_tribute").into_iter().enumerate() {
        let e = run_rows(&events, run as u64);
        let k = strings(&e, "action").iter().position(|a| a == "buy").expect("a buy");
        let used = f64s(&e, "fee")[k] / f64s(&e, "amount_in")[k];
        assert_close(reported, used, 1e-9, &format!("run {run}: entry tribute in runs.parquet vs used"));
    }
}

#[test]
fn shard_runs_files_have_the_unsharded_types() {
    let dir = tempdir();
    // `0` is a TOML integer: shard 0/3 holds only it and writes an Int64
    // column, the others Float64.
    let path = write_scenario(
        dir.path(),
        "s.toml",
        "",
        "[sweep]\n\"contracts.curve.entry_tribute\" = [0, 0.05, 0.1]\n",
    );
    let (whole, sharded) = (dir.path().join("whole"), dir.path().join("sharded"));
    run_ok(&path, &whole, &[]);
    let expected = type_of(&read_parquet(&whole.join("runs.parquet")), "contracts_curve_entry_tribute");
    assert_eq!(expected, DataType::Float64);
    for k in 0..3 {
        run_ok(&path, &sharded, &["--shard", &format!("{k}/3")]);
        let runs = read_parquet(&sharded.join(format!("runs-s{k}of3.parquet")));
        assert_eq!(type_of(&runs, "contracts_curve_entry_tribute"), expected, "shard {k}/3");
    }
}

#[test]
fn an_empty_shard_keeps_the_swept_columns() {
    let dir = tempdir();
    let path = write_scenario(
        dir.path(),
        "s.toml",
        "",
        "[sweep]\n\"contracts.curve.entry_tribute\" = [0.01, 0.05]\n",
    );
    let res = dir.path().join("out");
    run_ok(&path, &res, &["--shard", "2/3"]);
    let runs = read_parquet(&res.join("runs-s2of3.parquet"));
    assert_eq!(runs.num_rows(), 0);
    assert!(
        column_names(&runs).contains(&"contracts_curve_entry_tribute".to_string()),
        "{:?}",
        column_names(&runs)
    );
}

#[test]
fn shard_files_are_told_apart_by_exact_suffix() {
    // Shard 1/3 must not take shard 1/30's files for its own (neither as
    // "existing results" nor to delete with --force); and since shards of
    // different counts would mix in a glob read, it refuses the directory.
    let dir = tempdir();
    let path = write_scenario(dir.path(), "s.toml", "runs = 2", "");
    let res = dir.path().join("out");
    run_ok(&path, &res, &["--shard", "1/30"]);
    let thirty = list_dir(&res);
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec!["--shard", "1/3"];
        args.extend_from_slice(extra);
        let out = run_in(&path, &res, &args);
        assert_eq!(code(&out), 2, "{}", describe(&out));
        let err = stderr(&out);
        assert!(err.contains("shards of 30") && !err.contains("already holds results"), "{err}");
        assert_eq!(list_dir(&res), thirty, "shard 1/30's files are untouched");
    }
    // Shards of the same experiment share the directory.
    run_ok(&path, &res, &["--shard", "2/30"]);
}

#[test]
fn shards_of_different_experiments_do_not_share_a_directory() {
    let dir = tempdir();
    let path = write_scenario(dir.path(), "s.toml", "runs = 3", "");
    let res = dir.path().join("out");
    run_ok(&path, &res, &["--shard", "0/3"]);
    let out = run_in(&path, &res, &["--shard", "1/3", "--seed", "9"]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    assert!(stderr(&out).contains("different scenario"), "{}", describe(&out));
    let unsharded = dir.path().join("plain");
    run_ok(&path, &unsharded, &[]);
    let out = run_in(&path, &unsharded, &["--shard", "0/3"]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    assert!(stderr(&out).contains("unsharded dataset"), "{}", describe(&out));
}

#[test]
fn resume_redoes_a_complete_shard_whose_files_were_lost() {
    let dir = tempdir();
    let path = write_scenario(dir.path(), "s.toml", "runs = 4", "");
    let res = dir.path().join("out");
    run_ok(&path, &res, &["--shard", "1/2"]);
    let before: Vec<(String, Vec<u8>)> =
        list_dir(&res).into_iter().map(|f| (f.clone(), std::fs::read(res.join(&f)).unwrap())).collect();
    let lost = before.iter().find(|(f, _)| f.starts_with("ticks")).expect("a ticks file").0.clone();
    std::fs::remove_file(res.join(&lost)).unwrap();
    let out = run_in(&path, &res, &["--shard", "1/2", "--resume"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    for (f, bytes) in &before {
        if f.ends_with(".parquet") {
            assert_eq!(&std::fs::read(res.join(f)).unwrap(), bytes, "{f} is rebuilt identically");
        }
    }
}

#[test]
fn monte_carlo_replicates_conserve_assets() {
    // Replicate 7 of BASE: at tick 4 every staker has unstaked, the pool's
    // TKN balance is a residue of ~7e-15, `accrue` takes 1% of the treasury
    // and the pro-rata credit over all-zero positions pays nobody: DAI
    // conservation fails by exactly that tick's `staking_rewards_paid`.
    let dir = tempdir();
    let path = write_scenario(dir.path(), "mc.toml", "runs = 8", "");
    let res = dir.path().join("out");
    let out = run_in(&path, &res, &[]);
    assert_eq!(code(&out), 0, "invariant violations in a Monte Carlo experiment:\n{}", describe(&out));
    assert!(table_files(&res, "violations").is_empty(), "{:?}", list_dir(&res));
}
