//! The command line itself: `list`, `validate`, the results directory and
//! its manifest.

use std::collections::BTreeMap;

use crate::common::*;

/// Parses `tokensim list` into kind → parameter names, per section.
fn parse_list(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut kinds: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let first = line.split_whitespace().next().unwrap_or_default().to_string();
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
    let registry = tokensim::registry::Registry::builtin();
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
        ["events.parquet", "manifest.json", "runs.parquet", "ticks.parquet"],
        "snapshot_every = 0"
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

#[test]
fn events_can_be_turned_off_and_default_dir_is_results_stem() {
    let dir = tempdir();
    let text = format!("{}\n[output]\nevents = false\n", small_market(50, 5, 5));
    write_file(dir.path(), "quiet_market.toml", &text);
    let out = tokensim()
        .current_dir(dir.path())
        .args(["run", "quiet_market.toml", "--quiet"])
        .output()
        .expect("spawn tokensim");
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let results = dir.path().join("results").join("quiet_market");
    assert_eq!(list_dir(&results), ["agents.parquet", "manifest.json", "runs.parquet", "ticks.parquet"]);
    assert_eq!(read_parquet(&results.join("agents.parquet")).num_rows(), 50, "one snapshot at tick 5");
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
fn invariant_violations_exit_3_and_are_recorded() {
    // Misconfigured on purpose: the staking pool draws its rewards from the
    // curve's reserve instead of the funding pool, which breaks the curve
    // identity reserve == m/2·S² as soon as anyone has staked.
    let dir = tempdir();
    let text = small_market(300, 8, 0);
    let staking = text.find("[contracts.staking]").expect("a staking contract");
    let (head, tail) = text.split_at(staking);
    let text = format!("{head}{}", replace_once(tail, "treasury = \"funding_pool\"", "treasury = \"curve\""));
    let scenario = write_file(dir.path(), "broken.toml", &text);
    let out_dir = dir.path().join("out");
    let out = run(&["run", path_str(&scenario), "-o", path_str(&out_dir), "--quiet"]);
    assert_eq!(code(&out), 3, "{}", describe(&out));
    assert!(stderr(&out).contains("violations.parquet"), "{}", describe(&out));
    assert!(!stderr(&out).contains("panicked"));

    let m = manifest(&out_dir);
    assert_eq!(m["status"], "complete", "the dataset is still complete");
    let violations = read_parquet(&out_dir.join("violations.parquet"));
    assert!(violations.num_rows() > 0);
    assert_eq!(m["violations"].as_u64(), Some(violations.num_rows() as u64));
    assert_eq!(m["files"]["violations.parquet"].as_u64(), Some(violations.num_rows() as u64));

    let ticks = read_parquet(&out_dir.join("ticks.parquet"));
    let (supply, reserve, staked) =
        (f64s(&ticks, "supply"), f64s(&ticks, "reserve"), f64s(&ticks, "total_staked"));
    let (v_tick, source, invariant) =
        (u64s(&violations, "tick"), strings(&violations, "source"), strings(&violations, "invariant"));
    let (expected, actual) = (f64s(&violations, "expected"), f64s(&violations, "actual"));
    let mut curve_ticks = Vec::new();
    for i in 0..violations.num_rows() {
        if (source[i].as_str(), invariant[i].as_str()) != ("curve", "curve_identity") {
            continue;
        }
        let t = v_tick[i] as usize - 1;
        curve_ticks.push(v_tick[i]);
        assert_close(expected[i], 1e-6 / 2.0 * supply[t] * supply[t], 1e-12, "violation's expected reserve");
        assert_eq!(actual[i], reserve[t], "violation's actual reserve is the reported reserve");
        assert!(actual[i] < expected[i], "rewards drain the reserve");
    }
    let first_staked = staked.iter().position(|&s| s > 0.0).expect("someone stakes") as u64 + 1;
    assert_eq!(
        curve_ticks,
        (first_staked..=8).collect::<Vec<u64>>(),
        "the curve breaks from the first stake on"
    );
}
