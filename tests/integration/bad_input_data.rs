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

/// A scenario whose metric `held` is the mean `USD` of population
/// `holders` (`count` agents of 100 USD each, a search dimension when
/// `count` is a range): NaN, written as null, when there are none.
fn holders_scenario(dir: &Path, observed: &[f64], count: &str, search: &str) -> PathBuf {
    let data = daily_csv(dir, &observed.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>());
    let extra = format!(
        "held = {{ population = \"holders\", of = \"USD\", stat = \"mean\" }}\n\n[populations.holders]\ncount = {count}\nbalances = {{ USD = 100.0 }}\n\n[search]\nreplicates = 1\n{search}\n"
    );
    feed_scenario(dir, &data, observed.len(), &extra, "held")
}

#[test]
fn a_backtest_that_cannot_be_scored_records_no_score_and_says_why() {
    let dir = tempdir();
    let scenario = holders_scenario(dir.path(), &[90.0, 100.0, 130.0], "0", "");
    let out_dir = dir.path().join("out");
    run_ok(&scenario, &out_dir, &[]);
    let m = manifest(&out_dir);
    let score = &m["observed"]["scores"][0];
    assert_eq!(score["metric"], "held", "{score}");
    // Was 1.7976931348623157e308 (f64::MAX) for a mean over no agents.
    assert!(score["rmse"].is_null(), "{score}");
    assert!(score["log_rmse"].is_null() && score["moments"].is_null(), "{score}");
    let why = score["unscored"].as_str().unwrap_or_else(|| panic!("no reason: {score}"));
    assert!(why.contains("run 0") && why.contains("`held` at tick 1"), "{why}");

    // With holders, the score is the rmse of 100 against the observation.
    let scenario = holders_scenario(dir.path(), &[90.0, 100.0, 130.0], "2", "");
    let out_dir = dir.path().join("out2");
    run_ok(&scenario, &out_dir, &[]);
    let score = &manifest(&out_dir)["observed"]["scores"][0];
    let expected = ((100.0f64 + 0.0 + 900.0) / 3.0).sqrt();
    assert_close(score["rmse"].as_f64().unwrap(), expected, 1e-12, "rmse");
    assert!(score.get("unscored").is_none(), "{score}");
}

#[test]
fn calibrate_ranks_unscorable_candidates_last_and_never_fits_with_none() {
    let dir = tempdir();
    let observed = [90.0, 100.0, 130.0, 100.0];
    // count 0 gives no holders: the candidate cannot be scored.
    let scenario = holders_scenario(
        dir.path(),
        &observed,
        "1",
        "\"populations.holders.count\" = { low = 0, high = 3, integer = true }",
    );
    let cal = dir.path().join("cal");
    let out = run(&[
        "calibrate",
        path_str(&scenario),
        "-o",
        path_str(&cal),
        "--quiet",
        "--loss",
        "rmse",
        "--budget",
        "8",
    ]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let batch = read_parquet(&cal.join("calibration.parquet"));
    let counts = f64s(&batch, "populations_holders_count");
    let loss = batch.column_by_name("loss").unwrap();
    let loss = arrow::array::AsArray::as_primitive::<arrow::datatypes::Float64Type>(loss);
    let best = bools(&batch, "best");
    // Every holder has 100 USD, whatever their number: an independent rmse.
    let expected = (observed.iter().map(|o| (100.0 - o) * (100.0 - o)).sum::<f64>() / 4.0).sqrt();
    let mut seen = (false, false);
    for (i, &count) in counts.iter().enumerate() {
        if count.round() == 0.0 {
            assert!(arrow::array::Array::is_null(loss, i), "row {i}: count 0 has loss {}", loss.value(i));
            assert!(!best[i], "row {i}: an unscorable candidate is best");
            seen.0 = true;
        } else {
            assert_close(loss.value(i), expected, 1e-12, &format!("row {i} loss"));
            seen.1 = true;
        }
    }
    assert!(seen.0 && seen.1, "the budget tried both kinds: {counts:?}");
    let m = manifest(&cal);
    assert_close(m["loss_in_sample"].as_f64().unwrap(), expected, 1e-12, "loss_in_sample");
    assert!(m["fitted"][0]["value"].as_f64().unwrap().round() >= 1.0, "{}", m["fitted"]);
}

#[test]
fn calibrate_fails_when_no_candidate_can_be_scored() {
    let dir = tempdir();
    let scenario = holders_scenario(
        dir.path(),
        &[90.0, 100.0, 130.0],
        "0",
        "\"contracts.feed.initial\" = { low = 1.0, high = 2.0 }",
    );
    let cal = dir.path().join("cal");
    let out = run(&[
        "calibrate",
        path_str(&scenario),
        "-o",
        path_str(&cal),
        "--quiet",
        "--loss",
        "rmse",
        "--budget",
        "4",
    ]);
    assert_refused(&out, 2, &["no candidate could be scored", "4 evaluations", "`held` at tick 1 is NaN"]);
    assert!(stdout(&out).is_empty(), "nothing printed as fitted:\n{}", stdout(&out));
    for f in ["calibrated.toml", "calibration.parquet", "manifest.json"] {
        assert!(!cal.join(f).exists(), "{f} was written");
    }
}

/// A feed like `lending_stress.toml`'s, alone: GBM at 2,000 over 20 ticks.
const GBM: &str = "process = \"gbm\"\ninitial = 2000.0\nticks_per_year = 365\nvolatility = 0.8\n";

/// Runs feed `eth_usd` of parameters `feed` with `sets` applied.
fn feed_run(dir: &Path, name: &str, feed: &str, sets: &[&str]) -> (Output, PathBuf) {
    let text = format!(
        "name = \"feed\"\nseed = 3\nticks = 20\nassets = [\"USD\"]\n\n[contracts.eth_usd]\nkind = \"price_feed\"\n{feed}"
    );
    let scenario = write_file(dir, &format!("{name}.toml"), &text);
    let out_dir = dir.join(name);
    let mut args = vec!["run", path_str(&scenario), "-o", path_str(&out_dir), "--quiet"];
    for s in sets {
        args.extend(["--set", s]);
    }
    (run(&args), out_dir)
}

#[test]
fn a_feed_leaving_its_domain_breaks_an_invariant_and_keeps_a_finite_price() {
    let dir = tempdir();
    let cases: [(&str, &[&str], f64); 3] = [
        // σ²·dt/2 = 5e6: the price rounds to exactly 0.
        ("gbm_zero", &["contracts.eth_usd.volatility=100", "contracts.eth_usd.ticks_per_year=0.001"], 0.0),
        // μ·dt = 1e5: the price overflows.
        (
            "gbm_inf",
            &[
                "contracts.eth_usd.drift=100",
                "contracts.eth_usd.volatility=0",
                "contracts.eth_usd.ticks_per_year=0.001",
            ],
            f64::INFINITY,
        ),
        // Jumps of mean 20 compensated by −λκ·dt ≈ −e^220: exactly 0.
        (
            "merton_zero",
            &[
                "contracts.eth_usd.process=\"merton\"",
                "contracts.eth_usd.jump_intensity=1e6",
                "contracts.eth_usd.jump_mean=20",
                "contracts.eth_usd.jump_stdev=20",
            ],
            0.0,
        ),
    ];
    for (name, sets, actual) in cases {
        let (out, out_dir) = feed_run(dir.path(), name, GBM, sets);
        let first =
            format!("first: run 0, tick 1: `eth_usd` price_in_domain: expected 2000, actual {actual}");
        assert_refused(&out, 3, &["invariant violation", "violations.parquet", &first]);
        let v = read_parquet(&out_dir.join("violations.parquet"));
        assert_eq!(strings(&v, "source")[0], "eth_usd", "{name}");
        assert_eq!(strings(&v, "invariant")[0], "price_in_domain", "{name}");
        assert_eq!(u64s(&v, "tick")[0], 1, "{name}: from the first tick");
        assert_eq!(f64s(&v, "actual")[0], actual, "{name}");
        assert_eq!(f64s(&v, "expected")[0], 2000.0, "{name}: the price held");
        // Every stored price is finite and positive (null would be a non-finite one).
        let ticks = read_parquet(&out_dir.join("ticks.parquet"));
        let price = ticks.column_by_name("eth_usd_price").unwrap();
        assert_eq!(arrow::array::Array::null_count(price), 0, "{name}");
        assert!(f64s(&ticks, "eth_usd_price").iter().all(|p| p.is_finite() && *p > 0.0), "{name}");
    }
}

#[test]
fn shocks_whose_product_overflows_are_refused_at_the_shock() {
    let dir = tempdir();
    let shocks: Vec<String> = (1..30).map(|t| format!("{{ tick = {t}, factor = 1e12 }}")).collect();
    let set = format!("contracts.eth_usd.shocks=[{}]", shocks.join(", "));
    let (out, out_dir) = feed_run(dir.path(), "shocks", GBM, &[&set]);
    // 1e12^26 = 1e312 overflows at the 26th shock, index 25.
    assert_refused(&out, 2, &["`contracts.eth_usd.shocks.25.factor`", "up to tick 26", "1e312"]);
    assert!(!out_dir.join("manifest.json").exists());
    // 1e12^25 = 1e300 still fits a double, but a constant 1e12 × 1e300 does not.
    let shocks: Vec<String> = (1..26).map(|t| format!("{{ tick = {t}, factor = 1e12 }}")).collect();
    let set = format!("contracts.eth_usd.shocks=[{}]", shocks.join(", "));
    let constant = "process = \"constant\"\ninitial = 1e12\n";
    let (out, _) = feed_run(dir.path(), "constant", constant, &[&set]);
    assert_refused(&out, 2, &["`contracts.eth_usd.shocks.24.factor`", "constant price 1e12", "to 1e312"]);
}

#[test]
fn shipped_feed_scenarios_still_run_clean() {
    let dir = tempdir();
    for name in ["amm_arbitrage.toml", "lending_cascade.toml", "lending_stress.toml", "eth_calibration.toml"]
    {
        let out = run(&["validate", path_str(&shipped_scenario(name))]);
        assert_eq!(code(&out), 0, "{name}\n{}", describe(&out));
    }
    // The feed over the real data's window, with its shipped parameters.
    let out_dir = dir.path().join("eth");
    run_ok(&shipped_scenario("eth_calibration.toml"), &out_dir, &["--runs", "1"]);
    assert_eq!(manifest(&out_dir)["violations"], 0);
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
