//! `tokensim stress`: finds the known failure of a constructed scenario,
//! shrinks it to the one value that matters, writes a counterexample that
//! `tokensim run` replays to the same failure, the same `search.parquet`
//! bytes at any `--jobs`, and located errors for bad input.

use crate::common::*;

/// A constant price of 2,000 crashed at tick 3 by `factor`: the property
/// `floor` (price ≥ 1,000 every tick) fails exactly when factor < 0.5, so
/// its margin is 2000·factor − 1000 in every run. The tribute and the
/// traders' count are searched too but cannot change the price.
fn scenario(factor_range: &str) -> String {
    format!(
        r#"# The constructed stress scenario.
name = "crash"
seed = 9
ticks = 6
assets = ["DAI", "TKN"]
output = {{ events = false }}

[contracts.feed]
kind = "price_feed"
process = "constant"
initial = 2000.0
shocks = [{{ tick = 3, factor = 0.9 }}]   # the crash

[contracts.pool]
kind = "treasury"
asset = "DAI"

[contracts.curve]
kind = "bonding_curve"
reserve_asset = "DAI"
token = "TKN"
slope = 1e-6
initial_supply = 1000.0
entry_tribute = 0.05
treasury = "pool"

[populations.traders]
count = 10
balances = {{ DAI = 100.0 }}
behaviours.noise_trader = {{ contract = "curve", p_trade = 0.5 }}

[metrics]
price = "feed.price"

[properties.floor]
always = "price >= 1000"

[search]
replicates = 2
"contracts.feed.shocks.0.factor" = {factor_range}
"contracts.curve.entry_tribute" = {{ low = 0.0, high = 0.3 }}
"populations.traders.count" = {{ low = 5, high = 40 }}
"#
    )
}

const FACTOR: &str = "contracts_feed_shocks_0_factor";

fn stress(dir: &std::path::Path, scenario: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["stress", path_str(scenario), "--property", "floor", "-o", path_str(dir), "--quiet"];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn finds_the_crash_shrinks_it_and_the_counterexample_replays() {
    let tmp = tempdir();
    let s = write_file(tmp.path(), "crash.toml", &scenario("{ low = 0.1, high = 1.0 }"));
    let out = tmp.path().join("out");
    let o = stress(&out, &s, &["--budget", "200", "--stop-at-failure", "--objective", "worst"]);
    assert_eq!(code(&o), 4, "a failure is exit code 4\n{}", describe(&o));
    let ce = out.join("counterexample.toml");
    assert_eq!(
        stdout(&o).trim(),
        format!("tokensim run {} -o {}", ce.display(), out.join("replay").display())
    );

    // Every evaluation, against the closed form.
    let b = read_parquet(&out.join("search.parquet"));
    assert_eq!(
        column_names(&b),
        [
            "eval_id",
            "generation",
            "seed",
            FACTOR,
            "contracts_curve_entry_tribute",
            "populations_traders_count",
            "margin_mean",
            "margin_worst",
            "failures",
            "replicates"
        ]
    );
    let (f, mean, worst) = (f64s(&b, FACTOR), f64s(&b, "margin_mean"), f64s(&b, "margin_worst"));
    let fails = u64s(&b, "failures");
    for i in 0..b.num_rows() {
        assert_close(mean[i], 2000.0 * f[i] - 1000.0, 1e-9, "margin = 2000·factor − 1000");
        assert_eq!(mean[i], worst[i], "a constant feed: every replicate alike");
        assert_eq!(fails[i], if mean[i] < 0.0 { 2 } else { 0 });
    }
    assert_eq!(u64s(&b, "eval_id"), (0..b.num_rows() as u64).collect::<Vec<_>>());
    assert!(u64s(&b, "replicates").iter().all(|&r| r == 2));

    // Shrunk: only the factor changed, as close to the base 0.9 as fails.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stress.json")).unwrap()).unwrap();
    let changes = summary["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "the tribute and the count do not matter: {summary}");
    assert_eq!(changes[0]["path"], "contracts.feed.shocks.0.factor");
    let factor = changes[0]["value"].as_f64().unwrap();
    assert!(factor < 0.5 && factor > 0.45, "bisected towards 0.9 up to the edge 0.5: {factor}");
    let margin = summary["counterexample_margin"].as_f64().unwrap();
    assert_close(margin, 2000.0 * factor - 1000.0, 1e-9, "its margin");

    // The counterexample is the scenario's text with the value set.
    let text = std::fs::read_to_string(&ce).unwrap();
    assert!(text.starts_with("# Counterexample: property `floor` fails"), "{text}");
    assert!(
        text.contains("# The constructed stress scenario.") && text.contains("# the crash"),
        "comments kept"
    );
    assert!(!text.contains("[search]"));
    // ... and replays to the same failure.
    let replay = out.join("replay");
    run_ok(&ce, &replay, &[]);
    let files: Vec<String> = list_dir(&replay).into_iter().filter(|f| f.starts_with("properties")).collect();
    let (mut held, mut margins) = (Vec::new(), Vec::new());
    for f in &files {
        let p = read_parquet(&replay.join(f));
        held.extend(bools(&p, "held"));
        margins.extend(f64s(&p, "margin"));
    }
    assert_eq!(held, [false, false], "both replicates fail ({files:?})");
    assert!(margins.iter().all(|&m| m == margin), "the same margin as the search found: {margins:?}");

    // The report of the stress directory.
    let o = run(&["report", path_str(&out)]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert_eq!(html.matches(r#"<circle class="eval""#).count(), b.num_rows(), "one dot per evaluation");
    assert_eq!(html.matches(r#"class="counterexample""#).count(), 3, "marked in each of the 3 pairs");
    assert!(html.contains("<h2>Trajectories: counterexample against the scenario</h2>"));
    assert_eq!(
        html.matches(r#"data-key="counterexample""#).count(),
        html.matches(r#"data-key="base""#).count()
    );
    assert!(html.matches(r#"data-key="base""#).count() >= 1);
    assert!(html.contains("contracts.feed.shocks.0.factor") && !html.contains("NaN"));
}

#[test]
fn search_parquet_is_the_same_at_any_thread_count() {
    let tmp = tempdir();
    let s = write_file(tmp.path(), "crash.toml", &scenario("{ low = 0.1, high = 1.0 }"));
    let bytes = |jobs: &str| {
        let out = tmp.path().join(format!("j{jobs}"));
        let o = stress(&out, &s, &["--budget", "60", "--jobs", jobs]);
        assert_eq!(code(&o), 4, "{}", describe(&o));
        (
            std::fs::read(out.join("search.parquet")).unwrap(),
            std::fs::read(out.join("counterexample.toml")).unwrap(),
        )
    };
    assert_eq!(bytes("1"), bytes("2"));
}

#[test]
fn says_so_when_nothing_fails() {
    let tmp = tempdir();
    let s = write_file(tmp.path(), "mild.toml", &scenario("{ low = 0.6, high = 1.0 }"));
    let out = tmp.path().join("out");
    let mut args =
        vec!["stress", path_str(&s), "--property", "floor", "-o", path_str(&out), "--budget", "80"];
    let o = run(&args);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let e = stderr(&o);
    assert!(e.contains("no failure of `floor` found: smallest mean margin"), "{e}");
    assert!(e.contains("contracts.feed.shocks.0.factor = 0.6"), "found near the deepest crash: {e}");
    assert!(!out.join("counterexample.toml").exists());
    let b = read_parquet(&out.join("search.parquet"));
    assert_eq!(b.num_rows(), 40, "80 runs of 2 replicates");
    // An existing search is kept unless --force.
    let o = run(&args);
    assert_eq!(code(&o), 2, "{}", describe(&o));
    assert!(stderr(&o).contains("--force"), "{}", describe(&o));
    args.push("--force");
    assert_eq!(code(&run(&args)), 0);
}

#[test]
fn bad_search_tables_and_arguments_are_located_errors() {
    let tmp = tempdir();
    let good = scenario("{ low = 0.1, high = 1.0 }");
    let fails = |name: &str, text: &str, extra: &[&str], needles: &[&str]| {
        let s = write_file(tmp.path(), &format!("{name}.toml"), text);
        let out = tmp.path().join(format!("{name}-out"));
        let mut args = vec!["stress", path_str(&s), "-o", path_str(&out), "--quiet"];
        if !extra.contains(&"--property") {
            args.extend(["--property", "floor"]);
        }
        args.extend_from_slice(extra);
        let o = run(&args);
        assert_eq!(code(&o), 2, "{name}: {}", describe(&o));
        let e = stderr(&o);
        assert!(!e.contains("panicked"), "{name}: {e}");
        for n in needles {
            assert!(e.contains(n), "{name}: `{n}` not in {e}");
        }
    };
    let line_of = |needle: &str| line_col_of(&good, needle).0;
    let search_line = line_of("\"contracts.feed.shocks.0.factor\"");
    fails(
        "badpath",
        &good.replace("\"contracts.feed.shocks.0.factor\"", "\"contracts.fed.shocks.0.factor\""),
        &[],
        &[
            &format!("badpath.toml:{search_line}:1: `contracts.fed.shocks.0.factor`"),
            "choices here: feed, pool, curve",
        ],
    );
    fails(
        "badindex",
        &good.replace("shocks.0.factor\"", "shocks.4.factor\""),
        &[],
        &["`contracts.feed.shocks.4.factor`", "index 4 is past the end; the list has 1 elements"],
    );
    fails(
        "badrange",
        &good.replace("{ low = 0.1, high = 1.0 }", "{ low = 1.0, high = 0.1 }"),
        &[],
        &[&format!(
            ":{search_line}:1: `search.contracts.feed.shocks.0.factor`: low 1 must be below high 0.1"
        )],
    );
    fails(
        "badkey",
        &good.replace("high = 1.0 }", "hi = 1.0 }"),
        &[],
        &["unknown key `hi`; valid keys: low, high, integer"],
    );
    fails(
        "badtype",
        &good.replace(
            "\"contracts.curve.entry_tribute\" = { low = 0.0, high = 0.3 }",
            "\"contracts.curve.kind\" = { low = 0.0, high = 0.3 }",
        ),
        &[],
        &["only numbers can be searched"],
    );
    fails(
        "outofrange",
        &good.replace(
            "\"contracts.curve.entry_tribute\" = { low = 0.0, high = 0.3 }",
            "\"contracts.curve.entry_tribute\" = { low = 0.0, high = 3.0 }",
        ),
        &[],
        &["entry_tribute", "set by `search.contracts.curve.entry_tribute`"],
    );
    fails(
        "reps",
        &good.replace("replicates = 2", "replicates = 0"),
        &[],
        &["`search.replicates`: must be an integer >= 1"],
    );
    let no_search = &good[..good.find("[search]").unwrap()];
    fails("nosearch", no_search, &[], &["no [search] table"]);
    fails("noprop", &good, &["--property", "nope"], &["--property nope: no such property; declared: floor"]);
    fails("budget0", &good, &["--budget", "0"], &["--budget"]);
    fails("budget1", &good, &["--budget", "1"], &["--budget 1 is below one candidate (2 replicates"]);
    fails("objective", &good, &["--objective", "median"], &["mean", "worst"]);
    fails("runs", &good, &["--runs", "3"], &["--runs"]);
    fails("jobs", &good, &["--jobs", "0"], &["--jobs", "1 to 1024"]);
}

/// A scenario that reads a file by a relative path (a replayed price
/// series beside it) and a results directory elsewhere: the printed replay
/// command runs `counterexample.toml` from the results directory, so its
/// paths must point at the same file from there.
#[test]
fn the_counterexample_of_a_scenario_with_a_data_file_replays_from_anywhere() {
    let tmp = tempdir();
    let scenarios = tmp.path().join("scenarios");
    std::fs::create_dir_all(scenarios.join("data")).expect("mkdir");
    let prices: String = (1..=6).map(|t| format!("{t},2000\n")).collect();
    write_file(&scenarios.join("data"), "prices.csv", &format!("tick,price\n{prices}"));
    let text = scenario("{ low = 0.1, high = 1.0 }").replace(
        "process = \"constant\"\ninitial = 2000.0\n",
        "process = \"replay\"\nfile = \"data/prices.csv\"   # beside the scenario\n",
    );
    assert!(text.contains("data/prices.csv"));
    let s = write_file(&scenarios, "crash.toml", &text);
    let out = tmp.path().join("elsewhere").join("out");
    let o = stress(&out, &s, &["--budget", "200", "--stop-at-failure"]);
    assert_eq!(code(&o), 4, "{}", describe(&o));
    let ce = out.join("counterexample.toml");
    let written = std::fs::read_to_string(&ce).expect("counterexample.toml");
    assert!(written.contains("# beside the scenario"), "the comment is kept:\n{written}");
    assert!(
        written.contains("file = \"../../scenarios/data/prices.csv\""),
        "re-rooted at the results:\n{written}"
    );
    // Replayed from another working directory, as a user would.
    let replay = out.join("replay");
    let o = tokensim()
        .current_dir(tmp.path())
        .args(["run", path_str(&ce), "-o", path_str(&replay), "--quiet"])
        .output()
        .expect("spawn");
    assert_eq!(code(&o), 0, "the counterexample replays\n{}", describe(&o));
    assert_eq!(manifest(&replay)["status"], "complete");
    let held: Vec<bool> = list_dir(&replay)
        .iter()
        .filter(|f| f.starts_with("properties"))
        .flat_map(|f| bools(&read_parquet(&replay.join(f)), "held"))
        .collect();
    assert_eq!(held, [false, false], "to the failure the search found");
}
