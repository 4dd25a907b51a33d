//! The command line itself: `list`, `validate`, the results directory and
//! its manifest.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::*;

/// Parses `tokensim list` into kind → parameter names, per section.
fn parse_list(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut kinds: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    // Kinds and their parameters; a mechanism's metrics are indented
    // further under a `metrics` line, a behaviour's rule is a `rule:` line,
    // and the actions follow the kinds.
    let kinds_part = text.split("\nActions").next().unwrap_or_default();
    for line in kinds_part.lines() {
        let indent = line.len() - line.trim_start().len();
        let first = line.split_whitespace().next().unwrap_or_default().to_string();
        if indent == 4 && (first == "metrics" || first == "rule:") {
            continue;
        }
        match indent {
            2 if line.contains(" — ") => {
                assert!(kinds.insert(first.clone(), Vec::new()).is_none(), "{first} listed twice");
                current = Some(first);
            }
            4 => kinds.get_mut(current.as_ref().expect("a param under a kind")).expect("kind").push(first),
            _ => {}
        }
    }
    kinds
}

#[test]
fn list_shows_every_kind_with_its_params() {
    let out = run(&["list"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let text = stdout(&out);
    let kinds = parse_list(&text);
    // Every registered kind, with every documented parameter in order.
    let registry = tokensim::engine::registry::Registry::builtin();
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, params) in registry
        .mechanisms()
        .map(|k| (k.name(), k.params()))
        .chain(registry.behaviours().map(|k| (k.name(), k.params())))
    {
        expected.insert(name.to_string(), params.iter().map(|p| p.name.to_string()).collect());
    }
    // The kinds the shipped scenarios use are among them.
    for kind in ["bonding_curve", "treasury", "staking_pool", "price_feed", "noise_trader", "staker"] {
        assert!(expected.contains_key(kind), "{kind} is registered");
    }
    assert_eq!(expected["staking_pool"][..4], ["token", "reward_asset", "treasury", "rate"]);
    assert_eq!(kinds, expected, "tokensim list:\n{text}");
    let mech = text.find("Mechanisms").expect("a mechanisms section");
    let beh = text.find("Behaviours").expect("a behaviours section");
    assert!(mech < text.find("  bonding_curve").unwrap() && text.find("  staking_pool").unwrap() < beh);
    assert!(beh < text.find("  noise_trader").unwrap());
    assert!(text.contains("(required)"), "required params are marked");
}

#[test]
fn validate_accepts_the_shipped_market_scenario() {
    let path = shipped_scenario("market.toml");
    let out = run(&["validate", path_str(&path)]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.contains("10000 agents") && text.contains("365 ticks"), "{text}");
    for column in [
        "supply",
        "reserve",
        "price",
        "funding_pool",
        "total_staked",
        "n_trades",
        "volume_dai",
        "n_tx",
        "n_rejected",
    ] {
        assert!(text.contains(column), "validate lists column {column}: {text}");
    }
}

#[test]
fn manifest_describes_the_run() {
    let dir = tempdir();
    let scenario = write_file(dir.path(), "market.toml", &small_market(200, 40, 0));
    let out = dir.path().join("out");
    run_ok(&scenario, &out, &["--ticks", "12", "--seed", "5"]);
    let m = manifest(&out);
    assert_eq!(m["runs"], 1);
    assert_eq!(m["status"], "complete");
    assert_eq!(m["tool"], "tokensim");
    assert_eq!(m["scenario_name"], "market");
    assert_eq!(m["seed"], 5, "--seed overrides");
    assert_eq!(m["ticks"], 12, "--ticks overrides");
    assert_eq!(m["violations"], 0);

    let files = list_dir(&out);
    assert_eq!(
        files,
        ["manifest.json", "properties.parquet", "runs.parquet", "ticks.parquet"],
        "snapshot_every = 0 and no events table unless asked for"
    );
    let listed = m["files"].as_object().expect("files is an object");
    for (name, rows) in listed {
        let batch = read_parquet(&out.join(name));
        assert_eq!(rows.as_u64(), Some(batch.num_rows() as u64), "manifest row count of {name}");
    }
    assert_eq!(listed.len(), 3, "{listed:?}");
    let ticks = read_parquet(&out.join("ticks.parquet"));
    assert_eq!(u64s(&ticks, "tick"), (1..=12).collect::<Vec<u64>>());
    assert_eq!(m["transactions"].as_u64(), Some(u64s(&ticks, "n_tx").iter().sum()));
    assert_eq!(m["rejected"].as_u64(), Some(u64s(&ticks, "n_rejected").iter().sum()));

    let runs = read_parquet(&out.join("runs.parquet"));
    assert_eq!(runs.num_rows(), 1);
    assert_eq!(u64s(&runs, "n_agents"), [200]);
    assert_eq!(u64s(&runs, "ticks"), [12]);
}

/// `tokensim run SCENARIO ARGS` from `cwd`, without `-o`.
fn run_here(cwd: &Path, args: &[&str]) -> std::process::Output {
    tokensim().current_dir(cwd).arg("run").args(args).output().expect("spawn tokensim")
}

#[test]
fn events_are_written_only_when_asked_for() {
    let dir = tempdir();
    let text = small_market(50, 5, 5);
    let plain = write_file(dir.path(), "plain.toml", &text);
    let (off, on, set) = (dir.path().join("off"), dir.path().join("on"), dir.path().join("set"));
    run_ok(&plain, &off, &[]);
    assert_eq!(
        list_dir(&off),
        ["agents.parquet", "manifest.json", "properties.parquet", "runs.parquet", "ticks.parquet"]
    );
    assert_eq!(read_parquet(&off.join("agents.parquet")).num_rows(), 50, "one snapshot at tick 5");
    run_ok(&plain, &on, &["--events"]);
    let with_table = write_file(dir.path(), "table.toml", &format!("{text}\n[output]\nevents = true\n"));
    run_ok(&with_table, &set, &[]);
    // Either way, one row per transaction the ticks table counts.
    for out in [&on, &set] {
        let n_tx: u64 = u64s(&read_parquet(&out.join("ticks.parquet")), "n_tx").iter().sum();
        assert!(n_tx > 0, "the market trades");
        assert_eq!(read_parquet(&out.join("events.parquet")).num_rows() as u64, n_tx, "{}", out.display());
    }
}

#[test]
fn reruns_without_o_keep_every_result_and_latest_names_the_newest() {
    let dir = tempdir();
    write_file(dir.path(), "rerun.toml", &small_market(20, 3, 0));
    let base = dir.path().join("results").join("rerun");
    for (n, ticks) in [(1, "3"), (2, "4")] {
        let out = run_here(dir.path(), &["rerun.toml", "--ticks", ticks]);
        assert_eq!(code(&out), 0, "{}", describe(&out));
        let run_dir = format!("results/rerun/run-{n:03}");
        let err = stderr(&out);
        assert!(err.contains(&format!("→ {run_dir}")), "the summary names the directory: {err}");
        assert!(err.contains(&format!("next: tokensim report {run_dir}")), "{err}");
    }
    assert_eq!(list_dir(&base.join("run-001")), list_dir(&base.join("run-002")));
    assert_eq!(manifest(&base.join("run-001"))["ticks"], 3, "the first run is kept as it was");
    assert_eq!(std::fs::read_link(base.join("latest")).unwrap(), Path::new("run-002"));
    assert_eq!(manifest(&base.join("latest"))["ticks"], 4, "latest is the newest run");
    let report = tokensim().current_dir(dir.path()).args(["report", "results/rerun"]).output().unwrap();
    assert_eq!(code(&report), 2, "{}", describe(&report));
    assert!(
        stderr(&report).contains("results/rerun/latest"),
        "names the run to report: {}",
        describe(&report)
    );
    // --resume without -o continues the newest run: here complete, so nothing to do.
    let out = run_here(dir.path(), &["rerun.toml", "--ticks", "4", "--resume"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert!(!base.join("run-003").exists(), "--resume takes no new number");
    // A bad scenario fails before taking a number.
    let out = run_here(dir.path(), &["rerun.toml", "--set", "ticks=\"x\""]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    assert!(!base.join("run-003").exists(), "a rejected run creates no directory");
    // Shards must share an explicit directory.
    let out = run_here(dir.path(), &["rerun.toml", "--shard", "0/2"]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    assert!(stderr(&out).contains("--out"), "{}", describe(&out));
}

#[test]
fn an_explicit_out_dir_is_refused_twice_without_force() {
    let dir = tempdir();
    let scenario = write_file(dir.path(), "m.toml", &small_market(20, 3, 0));
    let out = dir.path().join("o");
    run_ok(&scenario, &out, &[]);
    let before = std::fs::read(out.join("ticks.parquet")).unwrap();
    let again = run(&["run", path_str(&scenario), "-o", path_str(&out), "--ticks", "2"]);
    assert_eq!(code(&again), 2, "{}", describe(&again));
    assert!(stderr(&again).contains("--force"), "{}", describe(&again));
    assert_eq!(std::fs::read(out.join("ticks.parquet")).unwrap(), before, "the refused run touched nothing");
    run_ok(&scenario, &out, &["--ticks", "2", "--force"]);
    assert_eq!(manifest(&out)["ticks"], 2, "--force replaces");
}

#[test]
fn the_summary_speaks_plainly() {
    let dir = tempdir();
    let scenario = write_file(dir.path(), "m.toml", &small_market(30_000, 2, 0));
    let out = dir.path().join("o");
    let done = run(&["run", path_str(&scenario), "-o", path_str(&out)]);
    assert_eq!(code(&done), 0, "{}", describe(&done));
    let err = stderr(&done);
    let m = manifest(&out);
    let (tx, rejected) = (m["transactions"].as_u64().unwrap(), m["rejected"].as_u64().unwrap());
    assert!(tx >= 1_000, "30,000 agents × 2 ticks trade more than 1,000 times (about 5 % a tick buy): {tx}");
    // Thousands separators, computed here, not copied from the output.
    let grouped = |n: u64| {
        let digits = n.to_string();
        let mut s = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                s.push(',');
            }
            s.push(c);
        }
        s
    };
    let rejected_text = if rejected == 0 {
        "none rejected".to_string()
    } else {
        format!("of which {} rejected", grouped(rejected))
    };
    assert!(
        err.contains(&format!("market: 1 run × 2 ticks, {} transactions, {rejected_text}", grouped(tx))),
        "{err}"
    );
    assert!(err.contains(&format!("→ {}", out.display())), "{err}");
    assert!(err.contains(&format!("next: tokensim report {}", out.display())), "{err}");
}

#[test]
fn zero_jobs_is_an_error() {
    let dir = tempdir();
    let scenario = write_file(dir.path(), "market.toml", &small_market(10, 2, 0));
    let out = run(&["run", path_str(&scenario), "-o", path_str(&dir.path().join("o")), "--jobs", "0"]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    assert!(stderr(&out).contains("--jobs"), "{}", describe(&out));
    assert!(!stderr(&out).contains("panicked"));
}

#[test]
fn a_treasury_that_backs_a_curve_is_refused_before_running() {
    // The staking pool would draw its rewards from the curve's reserve and
    // break the curve identity reserve == m/2·S²: refused at the line.
    let dir = tempdir();
    let text = small_market(300, 8, 0);
    let staking = text.find("[contracts.staking]").expect("a staking contract");
    let (head, tail) = text.split_at(staking);
    let text = format!("{head}{}", replace_once(tail, "treasury = \"funding_pool\"", "treasury = \"curve\""));
    let scenario = write_file(dir.path(), "broken.toml", &text);
    let out_dir = dir.path().join("out");
    let out = run(&["run", path_str(&scenario), "-o", path_str(&out_dir), "--quiet"]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    let (line, _) = line_col_of(&text, "treasury = \"curve\"");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("broken.toml:{line}:")) && err.contains("contracts.staking.treasury"),
        "{err}"
    );
    assert!(err.contains("funding_pool") && !out_dir.exists(), "{err}");
}
