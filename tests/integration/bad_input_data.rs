//! Bad data where tokensim used to go on: observed values and replayed
//! prices far outside any amount, losses that cannot be computed (once
//! ranked as fits at `f64::MAX`), price feeds leaving (0, ∞) with every
//! parameter in range, paths that are not regular files (`/dev/zero`, a
//! FIFO) and scenarios that are not UTF-8. Each case checks the exit code,
//! that stderr names the file, its line and the field, and that no
//! complete-looking result is left.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::common::*;

const FORMAT: &str = "%Y-%m-%d %H:%M:%S UTC";

/// A CSV `date,value` of `values`, one day a row from 2021-01-01.
fn daily_csv(dir: &Path, values: &[String]) -> PathBuf {
    let start = chrono::NaiveDate::from_ymd_opt(2021, 1, 1).unwrap();
    let mut text = String::from("date,value\n");
    for (i, v) in values.iter().enumerate() {
        let day = start + chrono::Days::new(i as u64);
        text.push_str(&format!("{} 00:00:00 UTC,{v}\n", day.format("%Y-%m-%d")));
    }
    write_file(dir, "data.csv", &text)
}

/// A constant feed, with `extra` appended to `[metrics]`, whose `metric`
/// is observed as column `value` of `data`.
fn feed_scenario(dir: &Path, data: &Path, ticks: usize, extra: &str, metric: &str) -> PathBuf {
    let text = format!(
        "name = \"obs\"\nseed = 1\nticks = {ticks}\nassets = [\"USD\"]\n\n[contracts.feed]\nkind = \"price_feed\"\nprocess = \"constant\"\ninitial = 10.0\n\n[metrics]\nfeed_price = \"feed.price\"\n{extra}\n[observed]\nfile = {:?}\ntime = {{ column = \"date\", format = \"{FORMAT}\" }}\ncolumns = {{ {metric} = \"value\" }}\n",
        path_str(data),
    );
    write_file(dir, "obs.toml", &text)
}

/// `tokensim ARGS` with a time limit, so a hang fails the test instead of
/// blocking it.
fn run_within(args: &[&str], seconds: u64) -> Output {
    tokensim().args(args).timeout(Duration::from_secs(seconds)).output().expect("tokensim can be spawned")
}

#[track_caller]
fn assert_refused(out: &Output, code_: i32, needles: &[&str]) {
    assert_eq!(code(out), code_, "{}", describe(out));
    let err = stderr(out);
    for n in needles {
        assert!(err.contains(n), "stderr lacks `{n}`:\n{err}");
    }
}

#[test]
fn an_observed_value_beyond_the_limit_is_refused_at_its_line() {
    let dir = tempdir();
    let mut values: Vec<String> = (0..6).map(|i| format!("{}", 10.0 + f64::from(i))).collect();
    values[3] = "1e200".into();
    let data = daily_csv(dir.path(), &values);
    let scenario = feed_scenario(dir.path(), &data, 6, "", "feed_price");
    let out_dir = dir.path().join("out");
    let out = run(&["run", path_str(&scenario), "-o", path_str(&out_dir), "--quiet"]);
    // The value is row 4 of the data, line 5 of the file (the header is line 1).
    assert_refused(
        &out,
        2,
        &[
            "obs.toml:",
            "`observed.columns.feed_price`",
            "data.csv: line 5",
            "`value` is 1e200",
            "beyond ±1e150",
        ],
    );
    assert!(!out_dir.join("manifest.json").exists(), "a refused run writes no manifest");
    let cal = dir.path().join("cal");
    let out = run(&["calibrate", path_str(&scenario), "-o", path_str(&cal), "--quiet", "--loss", "rmse"]);
    assert_refused(&out, 2, &["`observed.columns.feed_price`", "data.csv: line 5", "1e200"]);
    assert!(!cal.join("calibrated.toml").exists() && !cal.join("manifest.json").exists());
}

#[test]
fn a_replayed_price_outside_the_range_of_initial_is_refused_at_its_line() {
    let dir = tempdir();
    for bad in ["1e308", "1e-300"] {
        let prices =
            write_file(dir.path(), "prices.csv", &format!("tick,price\n0,10\n1,11\n2,{bad}\n3,12\n"));
        let text = format!(
            "name = \"replay\"\nticks = 3\nassets = [\"USD\"]\n\n[contracts.feed]\nkind = \"price_feed\"\nprocess = \"replay\"\nfile = {:?}\n",
            path_str(&prices)
        );
        let scenario = write_file(dir.path(), "replay.toml", &text);
        let (line, col) = line_col_of(&text, "file =");
        let out = run(&["validate", path_str(&scenario)]);
        assert_refused(
            &out,
            2,
            &[
                &format!("replay.toml:{line}:{col}: `contracts.feed.file`"),
                "prices.csv: line 4",
                &format!(
                    "`price` must be a finite number in [1e-12, 1e12], got {}",
                    bad.parse::<f64>().unwrap()
                ),
            ],
        );
    }
}

/// Makes a FIFO at `path` (`mkfifo`): opening it for reading blocks until
/// a writer comes, so reading it is a hang unless refused first.
fn fifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo runs").success();
    assert!(ok, "mkfifo {}", path.display());
}

#[test]
fn paths_that_are_not_regular_files_are_refused_without_reading() {
    let out = run_within(&["validate", "/dev/zero"], 30);
    assert_refused(&out, 2, &["/dev/zero", "not a regular file"]);
    let dir = tempdir();
    let pipe = dir.path().join("pipe.csv");
    fifo(&pipe);
    let pipe_s = path_str(&pipe);
    let base = "name = \"pipes\"\nticks = 3\nassets = [\"USD\"]\n\n[contracts.feed]\nkind = \"price_feed\"\n";
    let observed = format!(
        "process = \"constant\"\ninitial = 1.0\n\n[metrics]\np = \"feed.price\"\n\n[observed]\nfile = {pipe_s:?}\ntime = {{ column = \"date\", format = \"%Y\" }}\ncolumns = {{ p = \"v\" }}\n"
    );
    let replay = format!("process = \"replay\"\nfile = {pipe_s:?}\n");
    let orders = format!(
        "process = \"constant\"\ninitial = 1.0\n\n[populations.p]\ncount = 1\n\n[orders]\nfile = {pipe_s:?}\n"
    );
    for (what, rest, field) in [
        ("observed", observed, "observed.file"),
        ("replay", replay, "contracts.feed.file"),
        ("orders", orders, "orders.file"),
    ] {
        let text = format!("{base}{rest}");
        let scenario = write_file(dir.path(), &format!("{what}.toml"), &text);
        let out = run_within(&["validate", path_str(&scenario)], 30);
        let (line, _) = line_col_of(&text, &format!("file = {pipe_s:?}"));
        assert_refused(
            &out,
            2,
            &[&format!("{what}.toml:{line}:"), &format!("`{field}`"), "pipe.csv", "not a regular file"],
        );
    }
}

#[test]
fn invalid_utf8_is_located_at_its_first_bad_byte() {
    let dir = tempdir();
    let mut bytes =
        b"name = \"utf8\"\nseed = 1\nticks = 3\nassets = [\"DAI\"]\ndescription = \"caf\xc3\xa9 ".to_vec();
    let at = bytes.len();
    bytes.extend_from_slice(b"\xff byte\"\n");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, &bytes).unwrap();
    // Independently: line 5, and the column counts characters (é is one).
    let before = std::str::from_utf8(&bytes[..at]).unwrap();
    let line = before.lines().count();
    let col = before.rsplit('\n').next().unwrap().chars().count() + 1;
    assert_eq!((line, col), (5, 21));
    let out = run(&["validate", path_str(&path)]);
    assert_refused(&out, 2, &[&format!("bad.toml:{line}:{col}:"), "0xff", "not valid UTF-8"]);
    let out_dir = dir.path().join("out");
    let out = run(&["run", path_str(&path), "-o", path_str(&out_dir)]);
    assert_refused(&out, 2, &[&format!("bad.toml:{line}:{col}:")]);
    assert!(!out_dir.exists(), "nothing written for a file that does not parse");
}
