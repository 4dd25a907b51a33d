//! Properties end to end: margins against values computed here from
//! `ticks.parquet` (not by the property evaluator), population metrics
//! against the agent snapshots, the Wilson gate's exit code at its
//! boundary, `--ci-width`, and bad property input.

use std::path::Path;

use crate::common::*;

/// The market, small, with properties and population metrics appended to
/// its `[metrics]` table.
fn market_with(count: u64, ticks: u32, snapshot_every: u32, runs: u32, extra: &str) -> String {
    let text = without_properties(&small_market(count, ticks, snapshot_every));
    // Lines before the first table of `extra` are `[metrics]` entries.
    let (metrics, tables) = match extra.find("\n[") {
        Some(i) if !extra.starts_with('[') => extra.split_at(i + 1),
        _ if extra.starts_with('[') => ("", extra),
        _ => (extra, ""),
    };
    let anchor = "volume_dai = \"curve.volume\"\n";
    let text = replace_once(&text, anchor, &format!("{anchor}{metrics}"));
    format!("runs = {runs}\n{text}\n{tables}")
}

const PROPERTIES: &str = r#"
median_wealth = { population = "traders", of = "DAI + TKN * curve.price + staked * curve.price", stat = "quantile", q = 0.5 }
p90_dai = { population = "traders", of = "DAI", stat = "quantile", q = 0.9 }
gini_dai = { population = "traders", of = "dai", stat = "gini" }
mean_tkn = { population = "traders", of = "sqrt(TKN * TKN)", stat = "mean" }
poor = { population = "traders", of = "DAI", stat = "share_below", below = 950 }

[properties.price_floor]
always = "price >= 1.02 * start(price)"
[properties.recovers]
eventually = "price >= start(price) * 1.05"
ticks = [20, 40]
[properties.pool_target]
at_end = "funding_pool >= 2_500"
[properties.calm]
always = "drawdown(price) <= 0.01 and n_tx >= 5"
[properties.smooth]
always = "mean(price, 5) >= 0.99 * lag(price, 10) or change(supply, 3) >= 0.002"
ticks = [3, 40]
"#;

/// Independent margins of the PROPERTIES above, from one run's columns.
fn expected_margins(
    price: &[f64],
    pool: &[f64],
    n_tx: &[f64],
    supply: &[f64],
) -> Vec<(String, f64, Option<u32>)> {
    let n = price.len();
    let p0 = price[0];
    let mut out = Vec::new();
    // always: min over ticks; first failing tick.
    let always = |m: Vec<f64>, first: usize| -> (f64, Option<u32>) {
        let least = m.iter().copied().fold(f64::INFINITY, f64::min);
        let fail = m.iter().position(|x| *x < 0.0).map(|i| (i + first) as u32);
        (least, if least < 0.0 { fail } else { None })
    };
    let (m, f) = always(price.iter().map(|p| p - 1.02 * p0).collect(), 1);
    out.push(("price_floor".to_string(), m, f));
    let best = price[19..40].iter().map(|p| p - p0 * 1.05).fold(f64::NEG_INFINITY, f64::max);
    out.push(("recovers".to_string(), best, (best < 0.0).then_some(40)));
    let end = pool[n - 1] - 2_500.0;
    out.push(("pool_target".to_string(), end, (end < 0.0).then_some(n as u32)));
    let mut peak = f64::NEG_INFINITY;
    let calm: Vec<f64> = (0..n)
        .map(|t| {
            peak = peak.max(price[t]);
            (0.01 - (1.0 - price[t] / peak)).min(n_tx[t] - 5.0)
        })
        .collect();
    let (m, f) = always(calm, 1);
    out.push(("calm".to_string(), m, f));
    let smooth: Vec<f64> = (2..40usize)
        .map(|t| {
            let lo = t.saturating_sub(4);
            let mean = price[lo..=t].iter().sum::<f64>() / (t - lo + 1) as f64;
            let lag = price[t.saturating_sub(10)];
            let change = supply[t] / supply[t.saturating_sub(3)] - 1.0;
            (mean - 0.99 * lag).max(change - 0.002)
        })
        .collect();
    let (m, f) = always(smooth, 3);
    out.push(("smooth".to_string(), m, f));
    out
}

#[test]
fn margins_equal_an_independent_computation_and_held_is_margin_non_negative() {
    let dir = tempdir();
    let path = write_file(dir.path(), "p.toml", &market_with(80, 40, 0, 3, PROPERTIES));
    let out = dir.path().join("out");
    run_in_expect(&path, &out, &["--parts", "1"], None);
    let ticks = read_parquet(&out.join("ticks.parquet"));
    let props = read_parquet(&out.join("properties.parquet"));
    let run_ids = u64s(&ticks, "run_id");
    let (price, pool, n_tx, supply) =
        (f64s(&ticks, "price"), f64s(&ticks, "funding_pool"), u64s(&ticks, "n_tx"), f64s(&ticks, "supply"));
    let names = strings(&props, "property");
    let (held, margin) = (bools(&props, "held"), f64s(&props, "margin"));
    let first = opt_u32s(&props, "first_failure_tick");
    let prop_runs = u64s(&props, "run_id");
    assert_eq!(names.len(), 3 * 5, "one row per run and property");
    let mut failures = 0;
    for run in 0..3u64 {
        let rows: Vec<usize> = (0..run_ids.len()).filter(|&i| run_ids[i] == run).collect();
        let col = |v: &[f64]| rows.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        let tx: Vec<f64> = rows.iter().map(|&i| n_tx[i] as f64).collect();
        let expected = expected_margins(&col(&price), &col(&pool), &tx, &col(&supply));
        for (name, m, f) in expected {
            let i = (0..names.len())
                .find(|&i| prop_runs[i] == run && names[i] == name)
                .expect("a row per property");
            assert_close(margin[i], m, 1e-9, &format!("run {run} {name} margin"));
            assert_eq!(held[i], margin[i] >= 0.0, "run {run} {name}: held == (margin >= 0)");
            assert_eq!(first[i], f, "run {run} {name}: first failing tick");
            failures += usize::from(!held[i]);
        }
    }
    // The thresholds are chosen so that both outcomes occur.
    assert!(failures > 0 && failures < 15, "{failures} failures: the test would not tell held from failed");
}

#[test]
fn population_metrics_equal_a_direct_computation_on_agent_snapshots() {
    let dir = tempdir();
    let path = write_file(dir.path(), "p.toml", &market_with(300, 40, 10, 2, PROPERTIES));
    let out = dir.path().join("out");
    run_in_expect(&path, &out, &["--parts", "1"], None);
    let ticks = read_parquet(&out.join("ticks.parquet"));
    let agents = read_parquet(&out.join("agents.parquet"));
    let (a_run, a_tick) = (u64s(&agents, "run_id"), u64s(&agents, "tick"));
    let (dai, tkn, staked) = (f64s(&agents, "dai"), f64s(&agents, "tkn"), f64s(&agents, "staked"));
    let (t_run, t_tick, price) = (u64s(&ticks, "run_id"), u64s(&ticks, "tick"), f64s(&ticks, "price"));
    let mut checked = 0;
    for i in 0..t_run.len() {
        let (run, tick) = (t_run[i], t_tick[i]);
        let rows: Vec<usize> = (0..a_run.len()).filter(|&k| a_run[k] == run && a_tick[k] == tick).collect();
        if rows.is_empty() {
            continue;
        }
        checked += 1;
        let mut wealth: Vec<f64> =
            rows.iter().map(|&k| dai[k] + tkn[k] * price[i] + staked[k] * price[i]).collect();
        let mut cash: Vec<f64> = rows.iter().map(|&k| dai[k]).collect();
        wealth.sort_by(f64::total_cmp);
        cash.sort_by(f64::total_cmp);
        let quantile = |v: &[f64], q: f64| {
            let h = (v.len() - 1) as f64 * q;
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(v.len() - 1);
            v[lo] + (h - lo as f64) * (v[hi] - v[lo])
        };
        let n = cash.len() as f64;
        let mad: f64 = cash.iter().flat_map(|a| cash.iter().map(move |b| (a - b).abs())).sum();
        let gini = mad / (2.0 * n * cash.iter().sum::<f64>());
        let mean_tkn = rows.iter().map(|&k| tkn[k]).sum::<f64>() / n;
        let poor = cash.iter().filter(|c| **c < 950.0).count() as f64 / n;
        let what = |m: &str| format!("run {run} tick {tick} {m}");
        assert_close(f64s(&ticks, "median_wealth")[i], quantile(&wealth, 0.5), 1e-12, &what("median wealth"));
        assert_close(f64s(&ticks, "p90_dai")[i], quantile(&cash, 0.9), 1e-12, &what("p90 DAI"));
        assert_close(f64s(&ticks, "gini_dai")[i], gini, 1e-9, &what("gini"));
        assert_close(f64s(&ticks, "mean_tkn")[i], mean_tkn, 1e-12, &what("mean TKN"));
        assert_close(f64s(&ticks, "poor")[i], poor, 0.0, &what("share below 950"));
        assert!(gini > 0.0, "{}: gini of a traded population is positive", what("gini"));
    }
    assert_eq!(checked, 2 * 4, "every snapshot tick of both runs is checked");
}

/// `always n_tx >= 0` never fails; over 20 runs the Wilson interval of P(fail)
/// is [0, 0.16113]: a gate above passes, one below fails with exit code 4.
#[test]
fn the_gate_exits_4_exactly_when_the_upper_bound_exceeds_the_rate() {
    let dir = tempdir();
    for (rate, code) in [("0.17", 0), ("0.16", 4), ("1.0", 0)] {
        let extra = format!("[properties.busy]\nalways = \"n_tx >= 0\"\nmax_failure_rate = {rate}\n");
        let path = write_file(dir.path(), &format!("g{rate}.toml"), &market_with(10, 5, 0, 20, &extra));
        let out = dir.path().join(format!("out{rate}"));
        let o = run_in_expect(&path, &out, &[], Some(code));
        let m = manifest(&out);
        let row = &m["properties"][0];
        assert_eq!((row["runs"].as_u64(), row["failures"].as_u64()), (Some(20), Some(0)));
        assert_close(row["ci_high"].as_f64().unwrap(), 0.161_13, 1e-4, "Wilson upper bound of 0/20");
        if code == 4 {
            assert!(stderr(&o).contains("property `busy` is not shown safe"), "{}", describe(&o));
        }
    }
    // Always failing: P(fail) = 1, the gate at 1.0 still passes, at 0.99 fails.
    let extra = "[properties.never]\nalways = \"price >= 1e12\"\nmax_failure_rate = 0.99\n";
    let path = write_file(dir.path(), "never.toml", &market_with(10, 5, 0, 4, extra));
    run_in_expect(&path, &dir.path().join("never"), &[], Some(4));
}

/// The risk table and the gate's messages name a group by its swept
/// values, not by a point number the user never wrote.
#[test]
fn groups_are_named_by_their_swept_values() {
    let dir = tempdir();
    let extra = "[properties.never]\nalways = \"price >= 1e12\"\nmax_failure_rate = 0.5\n[sweep]\n\"contracts.curve.entry_tribute\" = [0.01, 0.03]\n";
    let path = write_file(dir.path(), "swept.toml", &market_with(10, 5, 0, 4, extra));
    let out = dir.path().join("out");
    let o = run(&["run", path_str(&path), "-o", path_str(&out)]);
    assert_eq!(code(&o), 4, "{}", describe(&o));
    let err = stderr(&o);
    for value in ["0.01", "0.03"] {
        let group = format!("entry_tribute={value}");
        let table =
            err.lines().filter(|l| l.trim_start().starts_with("never ") && l.contains(&group)).count();
        assert_eq!(table, 1, "one risk-table row for {group}:\n{err}");
        assert!(err.contains(&format!("property `never` is not shown safe in `{group}`")), "{err}");
    }
    assert!(!err.contains("point 0") && !err.contains("point 1"), "{err}");
}

#[test]
fn ci_width_adds_replicates_until_narrow_is_deterministic_and_resumes() {
    let dir = tempdir();
    // Never fails: the half-width after n runs is z²/(n+z²)/2: 0.162 at 8,
    // 0.097 at 16, so W = 0.1 stops at 16 (batches 2, 4, 8, 16).
    let extra = "[properties.busy]\nalways = \"n_tx >= 0\"\n";
    let path = write_file(dir.path(), "ci.toml", &market_with(20, 5, 0, 2, extra));
    let args = ["--ci-width", "0.1", "--max-runs", "100"];
    let one = dir.path().join("one");
    run_in_expect(&path, &one, &[&args[..], &["--jobs", "1"]].concat(), Some(0));
    let m = manifest(&one);
    assert_eq!(m["runs"].as_u64(), Some(16));
    assert_eq!(m["adaptive"]["replicates"].as_u64(), Some(16));
    assert!(m["adaptive"]["reason"].as_str().unwrap().contains("within ±0.1"));
    let runs = read_parquet(&one.join("runs.parquet"));
    let mut ids = u64s(&runs, "run_id");
    ids.sort();
    assert_eq!(ids, (0..16).collect::<Vec<u64>>(), "run ids are 0..16");
    let two = dir.path().join("two");
    run_in_expect(&path, &two, &[&args[..], &["--jobs", "2"]].concat(), Some(0));
    assert_same_parquet(&one, &two);

    // Capped: W = 0.01 would need ~200 runs; --max-runs 8 stops at 8.
    let capped = dir.path().join("capped");
    run_in_expect(&path, &capped, &["--ci-width", "0.01", "--max-runs", "8"], Some(0));
    let m = manifest(&capped);
    assert_eq!(m["runs"].as_u64(), Some(8));
    assert!(m["adaptive"]["reason"].as_str().unwrap().contains("--max-runs 8"));

    // Interrupted in the third batch (a file it must write is blocked),
    // then resumed: the same bytes as the uninterrupted run.
    let res = dir.path().join("res");
    std::fs::create_dir(&res).unwrap();
    let blocker = res.join("ticks-b002-p001.parquet.partial");
    std::fs::create_dir(&blocker).unwrap();
    let o = run_in_expect(&path, &res, &[&args[..], &["--jobs", "1"]].concat(), Some(2));
    assert!(stderr(&o).contains("ticks-b002-p001"), "{}", describe(&o));
    assert!(!list_dir(&res).contains(&"manifest.json".to_string()));
    std::fs::remove_dir(&blocker).unwrap();
    run_in_expect(&path, &res, &[&args[..], &["--resume"]].concat(), Some(0));
    assert_same_parquet(&one, &res);
}

#[test]
fn bad_properties_are_located_errors() {
    let dir = tempdir();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "[properties.a]\nalways = \"pricee >= 1\"\n",
            "always",
            &["unknown name `pricee`", "available: supply, reserve, price"],
        ),
        (
            "[properties.a]\nalways = \"price >= strt(price)\"\n",
            "always",
            &["at character 10", "unknown function `strt`"],
        ),
        ("[properties.a]\nalways = \"price >=\"\n", "always", &["expected a number"]),
        ("[properties.a]\nticks = [1, 2]\n", "[properties.a]", &["needs one temporal form"]),
        (
            "[properties.a]\nalways = \"price > 0\"\neventually = \"price > 0\"\n",
            "eventually",
            &["exactly one"],
        ),
        ("[properties.a]\nalways = \"price > 0\"\nticks = [0, 3]\n", "ticks = [0", &["empty window"]),
        (
            "[properties.a]\nalways = \"price > 0\"\nticks = [6, 9]\n",
            "ticks = [6",
            &["starts after the run's last tick (5)"],
        ),
        ("[properties.a]\nalways = \"mean(price, 0) > 0\"\n", "always", &["at least 1"]),
        ("[properties.a]\nalways = \"price\"\n", "always", &["not a condition"]),
        (
            "[properties.a]\nalways = \"price > 0\"\nmax_failure_rate = -0.1\n",
            "max_failure_rate",
            &["not a failure rate"],
        ),
    ];
    let metrics: &[(&str, &str, &[&str])] = &[
        (
            "w = { population = \"nobody\", of = \"DAI\", stat = \"mean\" }\n",
            "w = {",
            &["unknown population `nobody`", "populations: traders"],
        ),
        (
            "w = { population = \"traders\", of = \"EUR\", stat = \"mean\" }\n",
            "w = {",
            &["unknown name `EUR`", "DAI", "curve.price"],
        ),
        (
            "w = { population = \"traders\", of = \"DAI\", stat = \"median\" }\n",
            "w = {",
            &["unknown stat `median`", "quantile"],
        ),
        (
            "w = { population = \"traders\", of = \"DAI\", stat = \"quantile\", q = 2 }\n",
            "w = {",
            &["not a quantile"],
        ),
        (
            "w = { population = \"traders\", of = \"DAI\", stat = \"mean\", below = 3 }\n",
            "w = {",
            &["not used by stat = \"mean\""],
        ),
        ("w = { population = \"traders\", of = \"peak(DAI)\", stat = \"mean\" }\n", "w = {", &["history"]),
        (
            "n_tx = { population = \"traders\", of = \"DAI\", stat = \"mean\" }\n",
            "n_tx = {",
            &["n_tx", "not a usable column name"],
        ),
    ];
    for (i, (extra, at, needles)) in cases.iter().chain(metrics).enumerate() {
        let text = market_with(5, 5, 0, 1, extra);
        let path = write_file(dir.path(), &format!("bad{i}.toml"), &text);
        let o = run(&["validate", path_str(&path)]);
        assert_eq!(code(&o), 2, "case {i}: {extra}\n{}", describe(&o));
        let err = stderr(&o);
        let (line, _) = line_col_of(&text, at);
        assert!(err.contains(&format!("bad{i}.toml:{line}:")), "case {i}: not located at line {line}: {err}");
        for n in *needles {
            assert!(err.contains(n), "case {i}: `{n}` missing in: {err}");
        }
        assert!(!err.contains("panicked"), "case {i}: {err}");
    }
}

/// The scenario text without its `[properties.*]` tables (the shipped ones),
/// so a test declares exactly the properties it checks.
fn without_properties(text: &str) -> String {
    let mut keep = true;
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with('[') {
            keep = !line.starts_with("[properties.");
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Runs `tokensim run SCENARIO -o OUT --quiet EXTRA…` and asserts its exit
/// code (`None`: 0).
fn run_in_expect(
    scenario: &Path,
    out: &Path,
    extra: &[&str],
    code_wanted: Option<i32>,
) -> std::process::Output {
    let mut args = vec!["run", path_str(scenario), "-o", path_str(out), "--quiet"];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert_eq!(code(&o), code_wanted.unwrap_or(0), "tokensim {args:?}\n{}", describe(&o));
    o
}

/// Every Parquet file of `a` is byte-identical to `b`'s.
fn assert_same_parquet(a: &Path, b: &Path) {
    let files: Vec<String> = list_dir(a).into_iter().filter(|f| f.ends_with(".parquet")).collect();
    assert_eq!(files, list_dir(b).into_iter().filter(|f| f.ends_with(".parquet")).collect::<Vec<_>>());
    assert!(files.iter().any(|f| f.starts_with("properties")), "{files:?}");
    for f in &files {
        assert!(std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(), "{f} differs");
    }
}

/// A nullable UInt32 column (nulls as `None`).
fn opt_u32s(batch: &arrow::array::RecordBatch, name: &str) -> Vec<Option<u32>> {
    use arrow::array::{Array, AsArray};
    let col = batch.column_by_name(name).expect("column").as_primitive::<arrow::datatypes::UInt32Type>();
    (0..col.len()).map(|i| col.is_valid(i).then(|| col.value(i))).collect()
}

/// Population metrics over more agents than one parallel chunk (8,192), and
/// properties over them: the same bytes at 1 and 2 threads.
#[test]
fn population_metrics_and_properties_are_identical_at_any_thread_count() {
    let dir = tempdir();
    let path = write_file(dir.path(), "p.toml", &market_with(20_000, 21, 0, 1, PROPERTIES));
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    run_in_expect(&path, &one, &["--jobs", "1"], None);
    run_in_expect(&path, &two, &["--jobs", "2"], None);
    assert_same_parquet(&one, &two);
}

/// Population metrics of a population large enough that quantiles are
/// measured within a band around last tick's answer (≥ 1024 agents), two
/// populations (so ranges cut the agent table), every tick for 80 ticks,
/// against a direct computation over the wallets: a type-7 quantile of the
/// sorted values, the Gini of the sorted values, a mean, a min.
#[test]
fn population_metrics_equal_a_direct_computation_every_tick() {
    use tokensim::prelude::*;
    let text = small_market(3000, 80, 0);
    let text = replace_once(
        &text,
        "[populations.traders]",
        "[populations.idle]\ncount = 500\nbalances = { DAI = 7.0 }\n\n[populations.traders]",
    );
    let metrics = r#"
median_wealth = { population = "traders", of = "DAI + TKN * curve.price", stat = "quantile", q = 0.5 }
p90_dai = { population = "traders", of = "DAI", stat = "quantile", q = 0.9 }
p03_tkn = { population = "traders", of = "sqrt(TKN + 1)", stat = "quantile", q = 0.03 }
gini_dai = { population = "traders", of = "DAI", stat = "gini" }
mean_tkn = { population = "traders", of = "TKN", stat = "mean" }
least_dai = { population = "traders", of = "DAI", stat = "min" }
"#;
    let anchor = "volume_dai = \"curve.volume\"\n";
    let text = replace_once(&text, anchor, &format!("{anchor}{metrics}"));
    let loaded = LoadedScenario::from_str(std::path::Path::new("m.toml"), &text).expect("valid");
    let mut sim = Simulation::new(&loaded, &Registry::builtin(), &RunSpec::single(5)).expect("builds");
    let col = |name: &str| sim.metric_columns.iter().find(|c| c.name == name).expect(name).index;
    let cols: Vec<usize> =
        ["price", "median_wealth", "p90_dai", "p03_tkn", "gini_dai", "mean_tkn", "least_dai"]
            .map(col)
            .to_vec();
    let quantile = |v: &mut Vec<f64>, q: f64| {
        v.sort_by(f64::total_cmp);
        let h = (v.len() - 1) as f64 * q;
        let lo = h.floor() as usize;
        let frac = h - lo as f64;
        if frac == 0.0 { v[lo] } else { v[lo] + frac * (v[lo + 1] - v[lo]) }
    };
    for tick in 1..=80 {
        let metrics = sim.step().metrics.clone();
        let m = |i: usize| metrics[cols[i]];
        let price = m(0);
        let mut wallets = Vec::new();
        // Traders are ids 500.. (the idle population is declared first).
        sim.for_each_agent(|id, w| {
            if id.0 >= 500 {
                wallets.push((w.get(AssetId(0)), w.get(AssetId(1))));
            }
        });
        assert_eq!(wallets.len(), 3000);
        let dai: Vec<f64> = wallets.iter().map(|w| w.0).collect();
        let tkn: Vec<f64> = wallets.iter().map(|w| w.1).collect();
        let mut wealth: Vec<f64> = wallets.iter().map(|(d, t)| d + t * price).collect();
        let want_median = quantile(&mut wealth, 0.5);
        let want_p90 = quantile(&mut dai.clone(), 0.9);
        let want_p03 = quantile(&mut tkn.iter().map(|t| (t + 1.0).sqrt()).collect(), 0.03);
        let mut sorted = dai.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        let total: f64 = sorted.iter().sum();
        let gini = sorted.iter().enumerate().map(|(i, x)| (2.0 * (i + 1) as f64 - n - 1.0) * x).sum::<f64>()
            / (n * total);
        let mean = tkn.iter().sum::<f64>() / n;
        let least = dai.iter().copied().fold(f64::INFINITY, f64::min);
        for (got, want, what) in [
            (m(1), want_median, "median wealth"),
            (m(2), want_p90, "p90 DAI"),
            (m(3), want_p03, "p3 sqrt(TKN + 1)"),
            (m(4), gini, "Gini of DAI"),
            (m(5), mean, "mean TKN"),
            (m(6), least, "least DAI"),
        ] {
            assert!((got - want).abs() <= 1e-9 * want.abs().max(1e-9), "tick {tick}: {what} {got} vs {want}");
        }
    }
}
