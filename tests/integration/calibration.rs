//! Observed data, backtests and `tokensim calibrate`: recovery of known
//! parameters from tokensim's own output, the GBM volatility of the real
//! ETH series against its closed form, holdout isolation, reproducibility
//! at any `--jobs`, and located errors for bad observed data.

use std::path::{Path, PathBuf};

use crate::common::*;

/// The real ETH/USD series shipped with the project.
fn eth_csv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join("eth_usd_daily.csv")
}

/// Daily closes of the real series from `from` to `to` (inclusive dates).
fn eth_closes(from: &str, to: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(eth_csv()).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| {
            let day = &l[..10];
            day >= from && day <= to
        })
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect()
}

/// Standard deviation (population) of the log returns of `levels`.
fn sd_log_returns(levels: &[f64]) -> f64 {
    let r: Vec<f64> = levels.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
    let mean = r.iter().sum::<f64>() / r.len() as f64;
    (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / r.len() as f64).sqrt()
}

/// Writes `values` as a CSV `date,value` with one day a row from
/// 2021-01-01 (date format of the real series).
fn write_daily_csv(dir: &Path, name: &str, values: &[f64]) -> PathBuf {
    let start = chrono::NaiveDate::from_ymd_opt(2021, 1, 1).unwrap();
    let mut text = String::from("date,value\n");
    for (i, v) in values.iter().enumerate() {
        let day = start + chrono::Days::new(i as u64);
        text.push_str(&format!("{} 00:00:00 UTC,{v}\n", day.format("%Y-%m-%d")));
    }
    write_file(dir, name, &text)
}

const FORMAT: &str = "%Y-%m-%d %H:%M:%S UTC";

fn gbm_scenario(seed: u64, ticks: u32, drift: f64, vol: f64, initial: f64) -> String {
    format!(
        "name = \"gbm\"\nseed = {seed}\nticks = {ticks}\nassets = [\"USD\"]\n[contracts.feed]\nkind = \"price_feed\"\nprocess = \"gbm\"\ninitial = {initial:?}\ndrift = {drift:?}\nvolatility = {vol:?}\n"
    )
}

fn observed_table(file: &Path, column: &str, window: &str, metric: &str) -> String {
    format!(
        "[observed]\nfile = {:?}\ntime = {{ column = \"date\", format = \"{FORMAT}\"{window} }}\ncolumns = {{ {metric} = \"{column}\" }}\n",
        path_str(file)
    )
}

const GBM_SEARCH: &str = "[search]\nreplicates = 8\n\"contracts.feed.volatility\" = { low = 0.1, high = 2.0 }\n\"contracts.feed.drift\" = { low = -3.0, high = 3.0 }\n";

fn calibrate(scenario: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["calibrate", path_str(scenario), "-o", path_str(out), "--quiet"];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert_eq!(code(&o), 0, "calibrate failed\n{}", describe(&o));
    o
}

fn fitted(out: &Path) -> Vec<(String, f64)> {
    let m = manifest(out);
    m["fitted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_string(), f["value"].as_f64().unwrap()))
        .collect()
}

/// Runs `scenario` once and returns the metric `column` per tick.
fn simulate_column(dir: &Path, scenario: &str, column: &str) -> Vec<f64> {
    let path = write_file(dir, "truth.toml", scenario);
    let out = dir.join("truth");
    run_ok(&path, &out, &[]);
    let ticks = read_parquet(&out.join("ticks.parquet"));
    match ticks.column_by_name(column).unwrap().data_type() {
        arrow::datatypes::DataType::Float64 => f64s(&ticks, column),
        _ => u64s(&ticks, column).into_iter().map(|v| v as f64).collect(),
    }
}

#[test]
fn gbm_volatility_and_drift_are_recovered_from_tokensim_data() {
    let dir = tempdir();
    let (drift, vol) = (0.3, 0.6);
    // The truth: one year of daily GBM prices from seed 7.
    let prices = simulate_column(dir.path(), &gbm_scenario(7, 365, drift, vol, 100.0), "feed_price");
    let csv = write_daily_csv(dir.path(), "prices.csv", &prices);
    // Fitted from seed 1: other random numbers than the data's.
    let text = format!(
        "{}{}{GBM_SEARCH}",
        gbm_scenario(1, 365, 0.0, 1.0, 100.0),
        observed_table(&csv, "value", "", "feed_price")
    );
    let scenario = write_file(dir.path(), "fit.toml", &text);
    let out = dir.path().join("fit");
    calibrate(&scenario, &out, &["--budget", "60", "--loss", "moments"]);
    let f = fitted(&out);
    eprintln!("GBM recovery: volatility {} (truth {vol}), drift {} (truth {drift})", f[0].1, f[1].1);
    assert_eq!(f[0].0, "contracts.feed.volatility");
    assert!((f[0].1 - vol).abs() < 0.1 * vol, "volatility {} vs {vol}", f[0].1);
    // A year of data pins the drift down to σ/√T (T = 1 year).
    let se = vol / 1.0f64.sqrt();
    assert!((f[1].1 - drift).abs() < 2.0 * se, "drift {} vs {drift} ± 2·{se}", f[1].1);
    // calibrated.toml is the scenario with the fitted values, and it runs.
    let calibrated = std::fs::read_to_string(out.join("calibrated.toml")).unwrap();
    assert!(calibrated.contains(&format!("volatility = {}", f[0].1)), "{calibrated}");
    run_ok(&out.join("calibrated.toml"), &dir.path().join("rerun"), &[]);
}

const CURVE: &str = r#"name = "traders"
seed = SEED
ticks = 60
assets = ["DAI", "TKN"]
[contracts.pool]
kind = "treasury"
asset = "DAI"
[contracts.curve]
kind = "bonding_curve"
reserve_asset = "DAI"
token = "TKN"
slope = 1e-6
initial_supply = 1000.0
entry_tribute = 0.01
treasury = "pool"
[populations.traders]
count = 300
balances = { DAI = 1000.0, TKN = 10.0 }
behaviours.noise_trader = { contract = "curve", p_trade = P_TRADE }
"#;

#[test]
fn a_behaviour_parameter_is_recovered_from_the_metric_it_drives() {
    let dir = tempdir();
    let truth = 0.3;
    let truth_text = CURVE.replace("SEED", "7").replace("P_TRADE", &truth.to_string());
    let n_tx = simulate_column(dir.path(), &truth_text, "n_tx");
    assert!(n_tx.iter().sum::<f64>() > 0.0);
    let csv = write_daily_csv(dir.path(), "tx.csv", &n_tx);
    let text = format!(
        "{}{}[search]\nreplicates = 2\n\"populations.traders.behaviours.noise_trader.p_trade\" = {{ low = 0.02, high = 0.95 }}\n",
        CURVE.replace("SEED", "1").replace("P_TRADE", "0.5"),
        observed_table(&csv, "value", "", "n_tx")
    );
    let scenario = write_file(dir.path(), "fit.toml", &text);
    let out = dir.path().join("fit");
    calibrate(&scenario, &out, &["--budget", "24", "--loss", "rmse"]);
    let f = fitted(&out);
    eprintln!("p_trade recovery: {} (truth {truth})", f[0].1);
    assert!((f[0].1 - truth).abs() < 0.1 * truth, "p_trade {} vs {truth}", f[0].1);
}

#[test]
fn moments_volatility_of_real_eth_matches_the_closed_form() {
    let dir = tempdir();
    let closes = eth_closes("2022-01-01", "2022-12-31");
    assert_eq!(closes.len(), 365);
    let before = eth_closes("2021-12-31", "2021-12-31")[0];
    let text = format!(
        "{}{}{GBM_SEARCH}",
        gbm_scenario(1, 365, 0.0, 1.0, before),
        observed_table(
            &eth_csv(),
            "close_price",
            ", start = \"2022-01-01\", end = \"2022-12-31\"",
            "feed_price"
        )
    );
    let scenario = write_file(dir.path(), "eth.toml", &text);
    let out = dir.path().join("eth");
    calibrate(&scenario, &out, &["--budget", "100", "--loss", "moments"]);
    // Daily log returns of the ticks fitted (1..=365), annualised.
    let closed_form = sd_log_returns(&closes) * 365f64.sqrt();
    let vol = fitted(&out)[0].1;
    eprintln!("ETH 2022: moments volatility {vol}, closed form {closed_form}");
    assert!((vol - closed_form).abs() < 0.05 * closed_form, "fitted {vol} vs closed form {closed_form}");
}

/// A short GBM calibration scenario on data `csv`.
fn small_fit(dir: &Path, csv: &Path) -> PathBuf {
    let text = format!(
        "{}{}[search]\nreplicates = 2\n\"contracts.feed.volatility\" = {{ low = 0.1, high = 2.0 }}\n\"contracts.feed.drift\" = {{ low = -3.0, high = 3.0 }}\n",
        gbm_scenario(1, 100, 0.0, 1.0, 100.0),
        observed_table(csv, "value", "", "feed_price")
    );
    write_file(dir, "small.toml", &text)
}

fn column_of(out: &Path, name: &str) -> Vec<Option<f64>> {
    let batch = read_parquet(&out.join("calibration.parquet"));
    let col = batch.column_by_name(name).unwrap();
    let col = arrow::array::AsArray::as_primitive::<arrow::datatypes::Float64Type>(col);
    (0..arrow::array::Array::len(col))
        .map(|i| arrow::array::Array::is_valid(col, i).then(|| col.value(i)))
        .collect()
}

#[test]
fn holdout_loss_uses_only_held_out_ticks() {
    let dir = tempdir();
    let prices: Vec<f64> =
        (0..100).map(|i| 100.0 * (0.01 * i as f64 + 0.03 * ((i * 37 % 11) as f64 - 5.0)).exp()).collect();
    // 8 evaluations with 2 dimensions are all Latin hypercube points: the
    // same candidates whatever the data, so their losses can be compared.
    for loss in ["moments", "rmse"] {
        let args = ["--budget", "8", "--loss", loss, "--holdout", "0.25"];
        let a = calibrate(
            &small_fit(dir.path(), &write_daily_csv(dir.path(), "a.csv", &prices)),
            &dir.path().join("a"),
            &args,
        );
        // Change every fitted tick (1..=75): the holdout losses must not move.
        let mut fit_changed = prices.clone();
        for p in &mut fit_changed[..75] {
            *p *= 1.7;
        }
        let b_csv = write_daily_csv(dir.path(), "b.csv", &fit_changed);
        calibrate(&small_fit(dir.path(), &b_csv), &dir.path().join("b"), &args);
        // Change a held-out tick: only the holdout losses move.
        let mut held_changed = prices.clone();
        held_changed[90] *= 1.5;
        let c_csv = write_daily_csv(dir.path(), "c.csv", &held_changed);
        calibrate(&small_fit(dir.path(), &c_csv), &dir.path().join("c"), &args);
        let (a_, b_, c_) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
        assert_eq!(column_of(&a_, "holdout_loss"), column_of(&b_, "holdout_loss"), "{loss}");
        assert_ne!(column_of(&a_, "loss"), column_of(&b_, "loss"), "{loss}");
        assert_eq!(column_of(&a_, "loss"), column_of(&c_, "loss"), "{loss}");
        assert_ne!(column_of(&a_, "holdout_loss"), column_of(&c_, "holdout_loss"), "{loss}");
        let m = manifest(&a_);
        assert_eq!((m["fit_ticks"].as_u64(), m["holdout_ticks"].as_u64()), (Some(75), Some(25)));
        assert!(stdout(&a).contains("loss out of sample (ticks 76-100"), "{}", stdout(&a));
        for d in [&a_, &b_, &c_] {
            std::fs::remove_dir_all(d).unwrap();
        }
    }
}

#[test]
fn calibration_bytes_do_not_depend_on_jobs_and_the_report_shows_the_fit() {
    let dir = tempdir();
    let prices: Vec<f64> =
        (0..100).map(|i| 50.0 + 10.0 * ((i as f64) / 7.0).sin() + i as f64 * 0.2).collect();
    let scenario = small_fit(dir.path(), &write_daily_csv(dir.path(), "p.csv", &prices));
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    calibrate(&scenario, &one, &["--budget", "20", "--holdout", "0.2", "--jobs", "1", "--loss", "log_rmse"]);
    calibrate(&scenario, &two, &["--budget", "20", "--holdout", "0.2", "--jobs", "2", "--loss", "log_rmse"]);
    for f in ["calibration.parquet", "calibrated.toml"] {
        assert_eq!(std::fs::read(one.join(f)).unwrap(), std::fs::read(two.join(f)).unwrap(), "{f}");
    }
    let strip = |mut m: serde_json::Value| {
        let o = m.as_object_mut().unwrap();
        o.remove("wall_seconds");
        o.remove("threads");
        m
    };
    assert_eq!(strip(manifest(&one)), strip(manifest(&two)));
    // The loss in the manifest is the best of the evaluations.
    let losses: Vec<f64> = column_of(&one, "loss").into_iter().map(Option::unwrap).collect();
    let best = losses.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(manifest(&one)["loss_in_sample"].as_f64().unwrap(), best);
    assert_eq!(losses.len(), 20);
    // Existing results are kept without --force.
    let again = run(&["calibrate", path_str(&scenario), "-o", path_str(&one), "--quiet", "--budget", "2"]);
    assert_eq!(code(&again), 2, "{}", describe(&again));

    let report = run(&["report", path_str(&one), "--quiet"]);
    assert_eq!(code(&report), 0, "{}", describe(&report));
    let html = std::fs::read_to_string(one.join("report.html")).unwrap();
    for group in ["holdout", "fitted", "observed", "evaluation", "best"] {
        assert!(html.contains(&format!("data-key=\"{group}\"")), "no {group} series");
    }
    assert!(html.contains("holdout window") && html.contains("id=\"loss-out\""));
    // The loss chart's x axis counts evaluations, not ticks.
    let loss = &html[html.find("data-chart=\"loss\"").expect("a loss chart")..];
    let loss = &loss[..loss.find("</svg>").expect("its svg")];
    assert!(loss.contains("\nevaluation\n</text>") && !loss.contains("\ntick\n</text>"), "{loss}");
}

#[test]
fn a_run_with_observed_data_writes_it_beside_the_simulation_and_scores_it() {
    let dir = tempdir();
    let observed: Vec<f64> = (0..40).map(|i| 100.0 + i as f64).collect();
    let csv = write_daily_csv(dir.path(), "obs.csv", &observed);
    // 50 ticks: the last 10 have no observation.
    let text = format!(
        "{}{}",
        gbm_scenario(3, 50, 0.1, 0.5, 100.0),
        observed_table(&csv, "value", "", "feed_price")
    );
    let scenario = write_file(dir.path(), "bt.toml", &text);
    let out = dir.path().join("bt");
    run_ok(&scenario, &out, &[]);
    let ticks = read_parquet(&out.join("ticks.parquet"));
    let sim = f64s(&ticks, "feed_price");
    let col = ticks.column_by_name("observed_feed_price").unwrap();
    let col = arrow::array::AsArray::as_primitive::<arrow::datatypes::Float64Type>(col);
    for (i, o) in observed.iter().enumerate() {
        assert_eq!(col.value(i), *o);
    }
    assert!((40..50).all(|i| arrow::array::Array::is_null(col, i)), "no observation past tick 40");
    // One run: its own series is the median.
    let rmse = ((0..40).map(|i| (sim[i] - observed[i]).powi(2)).sum::<f64>() / 40.0).sqrt();
    let log_rmse = ((0..40).map(|i| (sim[i] / observed[i]).ln().powi(2)).sum::<f64>() / 40.0).sqrt();
    let m = manifest(&out);
    let score = &m["observed"]["scores"][0];
    assert_close(score["rmse"].as_f64().unwrap(), rmse, 1e-12, "rmse");
    assert_close(score["log_rmse"].as_f64().unwrap(), log_rmse, 1e-12, "log_rmse");
    assert!(score["moments"].as_f64().unwrap() > 0.0);
    assert_eq!(m["observed"]["ticks"].as_u64(), Some(40));
}

#[test]
fn a_run_backtested_against_its_own_parquet_output_has_zero_loss() {
    let dir = tempdir();
    let base = gbm_scenario(3, 30, 0.2, 0.7, 10.0);
    let first = write_file(dir.path(), "first.toml", &base);
    let out = dir.path().join("first");
    run_ok(&first, &out, &[]);
    // tokensim's own ticks.parquet, its integer `tick` read as seconds (`%s`).
    let text = format!(
        "{base}[observed]\nfile = {:?}\ntime = {{ column = \"tick\", format = \"%s\" }}\ncolumns = {{ feed_price = \"feed_price\" }}\n",
        path_str(&out.join("ticks.parquet"))
    );
    let again = write_file(dir.path(), "again.toml", &text);
    let out2 = dir.path().join("again");
    run_ok(&again, &out2, &[]);
    let score = &manifest(&out2)["observed"]["scores"][0];
    assert_eq!(score["rmse"].as_f64(), Some(0.0));
    assert_eq!(score["log_rmse"].as_f64(), Some(0.0));
    assert_eq!(score["moments"].as_f64(), Some(0.0));
    let ticks = read_parquet(&out2.join("ticks.parquet"));
    assert_eq!(f64s(&ticks, "feed_price"), f64s(&ticks, "observed_feed_price"));
}

/// Writes `csv` and a scenario observing it with `observed` (the rest of
/// the `[observed]` table after `file`), runs `tokensim ARGS`, and checks
/// it fails with exit 2 at `key`'s line, saying each of `says`.
fn rejects(csv: &str, observed: &str, args: &[&str], key: &str, says: &[&str]) {
    let dir = tempdir();
    let data = write_file(dir.path(), "data.csv", csv);
    let text = format!(
        "{}[observed]\nfile = {:?}\n{observed}{GBM_SEARCH}",
        gbm_scenario(1, 5, 0.0, 0.5, 1.0),
        path_str(&data)
    );
    let scenario = write_file(dir.path(), "s.toml", &text);
    let mut full: Vec<&str> = args.to_vec();
    full.push(path_str(&scenario));
    let out_dir = dir.path().join("out");
    if args[0] != "validate" {
        full.extend(["-o", path_str(&out_dir), "--quiet"]);
    }
    if args[0] == "calibrate" {
        full.extend(["--budget", "2"]);
    }
    let out = run(&full);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    assert!(!err.contains("panicked"), "{err}");
    // The line of the key's entry (`time = …`, `columns = …`, `ticks = …`).
    let entry = key.split('.').nth(1).unwrap_or(key);
    let line = text.lines().position(|l| l.starts_with(&format!("{entry} "))).unwrap() + 1;
    let at = format!("error: {}:{line}:", path_str(&scenario));
    assert!(err.starts_with(&at), "{err}\nexpected at {at}");
    assert!(err.contains(&format!("`{key}`")), "{err} (key {key})");
    for s in says {
        assert!(err.contains(s), "{err}\nexpected: {s}");
    }
}

const GOOD_CSV: &str = "date,value\n2021-01-01 00:00:00 UTC,1.0\n2021-01-02 00:00:00 UTC,1.1\n2021-01-03 00:00:00 UTC,1.2\n2021-01-04 00:00:00 UTC,1.1\n2021-01-05 00:00:00 UTC,1.3\n";
const TIME: &str = "time = { column = \"date\", format = \"%Y-%m-%d %H:%M:%S UTC\" }\n";

#[test]
fn bad_observed_data_is_a_located_error() {
    let cols = "columns = { feed_price = \"value\" }\n";
    // The good file runs.
    let dir = tempdir();
    let data = write_file(dir.path(), "data.csv", GOOD_CSV);
    let text = format!(
        "{}[observed]\nfile = {:?}\n{TIME}{cols}",
        gbm_scenario(1, 5, 0.0, 0.5, 1.0),
        path_str(&data)
    );
    run_ok(&write_file(dir.path(), "s.toml", &text), &dir.path().join("out"), &[]);

    let run_ = &["run"][..];
    let cal = &["calibrate", "--loss", "log_rmse"][..];
    rejects(
        GOOD_CSV,
        &format!("{TIME}columns = {{ feed_price = \"close\" }}\n"),
        run_,
        "observed.columns.feed_price",
        &["data.csv", "no value column `close`", "date, value"],
    );
    rejects(
        GOOD_CSV,
        &format!("time = {{ column = \"day\", format = \"%Y\" }}\n{cols}"),
        run_,
        "observed.time.column",
        &["no time column `day`"],
    );
    let unparsable = GOOD_CSV.replace("2021-01-03 00:00:00 UTC", "3 Jan 2021");
    rejects(
        &unparsable,
        &format!("{TIME}{cols}"),
        run_,
        "observed.time.column",
        &["data.csv: line 4", "`3 Jan 2021` does not match"],
    );
    let gap = GOOD_CSV.replace("2021-01-03 00:00:00 UTC,1.2\n", "");
    rejects(
        &gap,
        &format!("{TIME}{cols}"),
        run_,
        "observed.time",
        &["no row at 2021-01-03 00:00:00", "fill = \"previous\""],
    );
    // `tokensim validate` reads and checks the observed data too.
    rejects(&gap, &format!("{TIME}{cols}"), &["validate"], "observed.time", &["no row at 2021-01-03"]);
    let word = GOOD_CSV.replace(",1.2\n", ",n/a\n");
    rejects(
        &word,
        &format!("{TIME}{cols}"),
        run_,
        "observed.columns.feed_price",
        &["line 4", "`n/a`", "not a number"],
    );
    let zero = GOOD_CSV.replace(",1.2\n", ",0\n");
    rejects(
        &zero,
        &format!("{TIME}{cols}"),
        cal,
        "observed.columns.feed_price",
        &["line 4", "is 0, not > 0", "log"],
    );
    rejects(
        GOOD_CSV,
        &format!(
            "time = {{ column = \"date\", format = \"%Y-%m-%d %H:%M:%S UTC\", start = \"2020-12-01\" }}\n{cols}"
        ),
        run_,
        "observed.time.start",
        &["outside the file", "2021-01-01 00:00:00 to 2021-01-05 00:00:00"],
    );
    rejects(
        GOOD_CSV,
        &format!(
            "time = {{ column = \"date\", format = \"%Y-%m-%d %H:%M:%S UTC\", end = \"2021-02-01\" }}\n{cols}"
        ),
        run_,
        "observed.time.end",
        &["outside the file"],
    );
    rejects(
        GOOD_CSV,
        &format!("{TIME}columns = {{ nope = \"value\" }}\n"),
        run_,
        "observed.columns.nope",
        &["not a tick column", "feed_price"],
    );
    rejects(
        GOOD_CSV,
        &format!("{TIME}{cols}fill = \"linear\"\n"),
        run_,
        "observed.fill",
        &["none", "previous"],
    );
    // Six rows for a five-tick run.
    let long = format!("{GOOD_CSV}2021-01-06 00:00:00 UTC,1.4\n");
    rejects(&long, &format!("{TIME}{cols}"), run_, "ticks", &["6 rows", "runs 5 ticks"]);
}
