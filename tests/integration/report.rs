//! `tokensim report` and `tokensim graph`: the report's numbers against a
//! computation written here from the Parquet files, its charts (one series
//! per group), its refusal to overwrite, its errors, and the diagram of the
//! market scenario in both text formats.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Float64Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use serde_json::Value;

use crate::common::*;

/// The tribute sweep made small: 4 points × 2 variants × `runs` replicates
/// of 60 agents for 25 ticks, no events.
fn small_sweep(dir: &Path, runs: u32, extra: &[&str]) -> PathBuf {
    let out = dir.join("sweep");
    let scenario = shipped_scenario("tribute_sweep.toml");
    let runs = runs.to_string();
    let mut args = vec![
        "--runs",
        &runs,
        "--ticks",
        "25",
        "--set",
        "populations.traders.count=60",
        "--set",
        "output.events=false",
    ];
    args.extend_from_slice(extra);
    run_ok(&scenario, &out, &args);
    out
}

fn report(args: &[&str]) -> std::process::Output {
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    run(&all)
}

fn report_ok(args: &[&str]) {
    let out = report(args);
    assert_eq!(code(&out), 0, "tokensim report {args:?}\n{}", describe(&out));
}

/// The JSON a report embeds.
fn report_data(html: &str) -> Value {
    let open = r#"<script type="application/json" id="report-data">"#;
    let start = html.find(open).expect("report-data script") + open.len();
    let end = start + html[start..].find("</script>").expect("script closes");
    serde_json::from_str(&html[start..end]).expect("report-data is JSON")
}

/// The HTML of one metric's section.
/// The chart containers of one kind (`trajectory`, `by-parameter`,
/// `delta`) in a metric's section.
fn charts<'a>(section: &'a str, kind: &str) -> Vec<&'a str> {
    let tag = format!(r#"data-chart="{kind}""#);
    section.split(r#"<div class="panel"#).skip(1).filter(|c| c.contains(&tag)).collect()
}

fn metric_section<'a>(html: &'a str, metric: &str) -> &'a str {
    let open = format!(r#"<section class="metric" data-metric="{metric}">"#);
    let start = html.find(&open).unwrap_or_else(|| panic!("no section for `{metric}`"));
    let end = start + html[start..].find("</section>").expect("section closes");
    &html[start..end]
}

/// Every file of `table` in a dataset (all parts and shards).
fn table(dir: &Path, table: &str) -> Vec<RecordBatch> {
    list_dir(dir)
        .into_iter()
        .filter(|n| {
            n.ends_with(".parquet")
                && (n == &format!("{table}.parquet") || n.starts_with(&format!("{table}-")))
        })
        .map(|n| read_parquet(&dir.join(n)))
        .collect()
}

/// Linear-interpolation quantile, written independently of the crate: the
/// 1-based rank `1 + (n-1)p` split into whole and fractional parts.
fn expected_quantile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let rank = 1.0 + (values.len() as f64 - 1.0) * p;
    let below = rank.floor() as usize;
    let frac = rank - below as f64;
    let a = values[below - 1];
    let b = if below < values.len() { values[below] } else { a };
    a * (1.0 - frac) + b * frac
}

/// `(point, variant) -> group id` as the report names groups.
fn group_id(point: u64, variant: &str) -> String {
    if variant.is_empty() { format!("p{point}") } else { format!("p{point}/{variant}") }
}

/// Values of `metric` by group id and tick, from the Parquet files.
fn values_by_group(dir: &Path, metric: &str) -> BTreeMap<(String, u32), Vec<f64>> {
    let mut group_of: BTreeMap<u64, String> = BTreeMap::new();
    for b in table(dir, "runs") {
        for ((run, point), variant) in
            u64s(&b, "run_id").iter().zip(u64s(&b, "point_id")).zip(strings(&b, "variant"))
        {
            group_of.insert(*run, group_id(point, &variant));
        }
    }
    let mut out: BTreeMap<(String, u32), Vec<f64>> = BTreeMap::new();
    for b in table(dir, "ticks") {
        let values: Vec<f64> = match b.column_by_name(metric).expect("metric column").data_type() {
            DataType::Float64 => f64s(&b, metric),
            _ => u64s(&b, metric).into_iter().map(|v| v as f64).collect(),
        };
        for ((run, tick), v) in u64s(&b, "run_id").iter().zip(u64s(&b, "tick")).zip(values) {
            out.entry((group_of[run].clone(), tick as u32)).or_default().push(v);
        }
    }
    out
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn report_numbers_match_an_independent_computation() {
    let tmp = tempdir();
    let dir = small_sweep(tmp.path(), 5, &[]);
    report_ok(&[path_str(&dir), "--quiet"]);
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report.html written");
    let data = report_data(&html);

    // Groups: 4 points × 2 variants, 5 runs each.
    let groups = data["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 8);
    assert!(groups.iter().all(|g| g["runs"] == 5), "{groups:?}");
    let ids: Vec<&str> = groups.iter().map(|g| g["id"].as_str().expect("id")).collect();
    assert_eq!(ids[..2], ["p0/rewards", "p0/no_rewards"]);

    let manifest = manifest(&dir);
    let metrics = data["metrics"].as_array().expect("metrics");
    let names: Vec<&str> = metrics.iter().map(|m| m["name"].as_str().expect("name")).collect();
    assert_eq!(
        names,
        [
            "supply",
            "price",
            "funding_pool",
            "total_staked",
            "rewards_paid",
            "volume_dai",
            "n_tx",
            "n_rejected"
        ]
    );
    assert_eq!(manifest["ticks"], 25);

    let mut compared = 0;
    for m in metrics {
        let name = m["name"].as_str().expect("name");
        if !m["constant"].is_null() {
            // Listed in one line, not drawn, not in the table.
            assert_eq!(name, "n_rejected");
            assert!(
                html.contains(r#"Constant in every run and tick (not drawn): <code>n_rejected</code> = 0"#)
            );
            assert!(!html.contains(r#"data-metric="n_rejected""#));
            continue;
        }
        // Trajectories: one panel per variant (scenario order), one series
        // element per group, each with a band and a median.
        let section = metric_section(&html, name);
        let trajectories = charts(section, "trajectory");
        assert_eq!(trajectories.len(), 2, "{name}: one panel per variant");
        let drawn = trajectories.concat();
        assert_eq!(drawn.matches(r#"<g class="series""#).count(), 8, "{name}: series drawn");
        assert_eq!(drawn.matches(r#"class="median""#).count(), 8, "{name}: medians drawn");
        assert_eq!(drawn.matches(r#"<li data-key="#).count(), 8, "{name}: legend entries");
        for id in &ids {
            assert!(drawn.contains(&format!(r#"data-key="{id}""#)), "{name}: no series for {id}");
        }
        assert!(trajectories[0].contains(r#"data-key="p0/rewards""#), "the first variant first");
        // Against the swept parameter: one series per variant, a point per
        // swept value; the delta: the second variant against the first.
        let by = charts(section, "by-parameter");
        assert_eq!(by.len(), 1);
        assert_eq!(by[0].matches(r#"<g class="series""#).count(), 2);
        assert_eq!(by[0].matches(r#"<circle class="dot""#).count(), 8);
        let delta = charts(section, "delta");
        assert_eq!(delta.len(), 1);
        assert!(delta[0].contains(r#"data-key="no_rewards""#) && !delta[0].contains(r#"data-key="rewards""#));

        let mut expected = values_by_group(&dir, name);
        for s in m["series"].as_array().expect("series") {
            let g = s["group"].as_str().expect("group");
            let ticks = s["ticks"].as_array().expect("ticks");
            assert_eq!(ticks.len(), 25, "{name} {g}: every tick drawn");
            for (i, t) in ticks.iter().enumerate() {
                let values = expected
                    .get_mut(&(g.to_string(), t.as_u64().expect("tick") as u32))
                    .expect("group and tick exist");
                assert_eq!(values.len(), 5);
                assert_eq!(s["n"][i], 5);
                assert_close(
                    f(&s["median"][i]),
                    expected_quantile(values, 0.5),
                    1e-12,
                    &format!("{name} {g} t{t} median"),
                );
                assert_close(
                    f(&s["p5"][i]),
                    expected_quantile(values, 0.05),
                    1e-12,
                    &format!("{name} {g} t{t} p5"),
                );
                assert_close(
                    f(&s["p95"][i]),
                    expected_quantile(values, 0.95),
                    1e-12,
                    &format!("{name} {g} t{t} p95"),
                );
                compared += 3;
            }
        }
        // Final values: every replicate at tick 25.
        let finals = m["finals"].as_array().expect("finals");
        assert_eq!(finals.len(), 8);
        for fin in finals {
            let g = fin["group"].as_str().expect("group");
            assert_eq!(fin["tick"], 25);
            let values = expected.get_mut(&(g.to_string(), 25)).expect("final tick");
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            assert_close(f(&fin["mean"]), mean, 1e-12, &format!("{name} {g} final mean"));
            assert_close(
                f(&fin["p5"]),
                expected_quantile(values, 0.05),
                1e-12,
                &format!("{name} {g} final p5"),
            );
            assert_close(
                f(&fin["p95"]),
                expected_quantile(values, 0.95),
                1e-12,
                &format!("{name} {g} final p95"),
            );
        }
        assert_eq!(html.matches(&format!(r#"<td class="num" data-metric="{name}""#)).count(), 8);
    }
    assert_eq!(html.matches(r#"<table class="finals""#).count(), 1, "one wide table");
    assert_eq!(compared, 7 * 8 * 25 * 3);
    // The band is a band: the funding pool grows with the tribute, so
    // replicates differ and p5 < p95 somewhere.
    let fp = &metrics[2]["series"][6];
    assert!(fp["p5"].as_array().unwrap().iter().zip(fp["p95"].as_array().unwrap()).any(|(a, b)| f(a) < f(b)));

    // The scenario, its swept values and its diagram are in the page.
    assert!(html.contains("contracts.curve.entry_tribute"));
    assert!(html.contains(r#"<svg class="diagram""#));
    for part in ["traders", "curve", "funding_pool", "staking"] {
        assert!(html.contains(&format!(r#"data-part="{part}""#)), "diagram part {part}");
    }
    assert!(html.contains("None: every invariant held"));
    assert_eq!(data["violations"]["total"], 0);
    // Self-contained: nothing fetched from elsewhere.
    for remote in ["http://", "https://", "src=\"//"] {
        let hits: Vec<_> =
            html.match_indices(remote).map(|(i, _)| &html[i..(i + 40).min(html.len())]).collect();
        assert!(
            hits.iter().all(|h| h.starts_with("http://www.w3.org/2000/svg")),
            "remote reference: {hits:?}"
        );
    }
}

#[test]
fn many_groups_become_small_multiples_and_metrics_can_be_picked() {
    let tmp = tempdir();
    let dir = small_sweep(tmp.path(), 2, &[]);
    let out = tmp.path().join("facets.html");
    report_ok(&[
        path_str(&dir),
        "-o",
        path_str(&out),
        "--max-lines",
        "3",
        "--metrics",
        "price,funding_pool",
        "-q",
    ]);
    let html = std::fs::read_to_string(&out).expect("report written");
    let data = report_data(&html);
    let names: Vec<&str> =
        data["metrics"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["price", "funding_pool"]);
    assert!(!html.contains(r#"data-metric="supply""#));
    for name in names {
        let section = metric_section(&html, name);
        // 4 points per variant in panels of at most 3, split by swept value.
        let panels: Vec<usize> =
            charts(section, "trajectory").iter().map(|p| p.matches(r#"<g class="series""#).count()).collect();
        assert_eq!(panels, [3, 1, 3, 1]);
        assert!(section.contains("rewards · entry_tribute 0–0.05"), "captions name the swept range");
    }
    assert!(
        html.contains("more (parameter point) lines than --max-lines 3"),
        "the page says it split the lines"
    );
}

#[test]
fn tick_t_compares_runs_at_that_tick() {
    let tmp = tempdir();
    let dir = small_sweep(tmp.path(), 3, &[]);
    let out = tmp.path().join("t10.html");
    report_ok(&[path_str(&dir), "-o", path_str(&out), "--tick", "10", "-q"]);
    let html = std::fs::read_to_string(&out).expect("report written");
    // The unit each metric declares in the manifest titles its section.
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    for name in ["funding_pool", "price"] {
        let unit = manifest["metrics"][name]["unit"].as_str().expect("a declared unit");
        assert!(
            !unit.is_empty() && html.contains(&format!("<h3>{name} ({unit})</h3>")),
            "{name} titled with {unit}"
        );
    }
    let data = report_data(&html);
    assert_eq!(data["tick"], 10);
    assert!(html.contains("at tick 10"));
    let m = &data["metrics"][2];
    assert_eq!(m["name"], "funding_pool");
    let mut expected = values_by_group(&dir, "funding_pool");
    for fin in m["finals"].as_array().expect("finals") {
        let g = fin["group"].as_str().expect("group");
        assert_eq!(fin["tick"], 10);
        let values = expected.get_mut(&(g.to_string(), 10)).expect("tick 10");
        assert_close(f(&fin["median"]), expected_quantile(values, 0.5), 1e-12, &format!("{g} median at 10"));
        assert_close(f(&fin["p95"]), expected_quantile(values, 0.95), 1e-12, &format!("{g} p95 at 10"));
    }
    // The by-parameter points are the same numbers, per variant, by x.
    let by = m["by_parameter"].as_array().expect("by_parameter");
    assert_eq!(by.iter().map(|s| s["key"].as_str().unwrap()).collect::<Vec<_>>(), ["rewards", "no_rewards"]);
    for s in by {
        let points = s["points"].as_array().unwrap();
        assert_eq!(points.len(), 4);
        for (i, p) in points.iter().enumerate() {
            let g = format!("p{}/{}", p, s["key"].as_str().unwrap());
            let values = expected.get_mut(&(g.clone(), 10)).unwrap();
            assert_close(
                f(&s["median"][i]),
                expected_quantile(values, 0.5),
                1e-12,
                &format!("{g} by-parameter"),
            );
        }
    }
}

#[test]
fn report_refuses_to_overwrite_without_force() {
    let tmp = tempdir();
    let dir = small_sweep(tmp.path(), 1, &[]);
    let target = dir.join("report.html");
    std::fs::write(&target, "kept").unwrap();
    let out = report(&[path_str(&dir)]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    assert!(stderr(&out).contains("already exists") && stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "kept", "existing report untouched");

    report_ok(&[path_str(&dir), "--force", "-q"]);
    assert!(std::fs::read_to_string(&target).unwrap().starts_with("<!DOCTYPE html>"));
    // No temporary file left behind.
    let left: Vec<String> =
        list_dir(&dir).into_iter().filter(|n| n.contains("tmp") || n.contains("partial")).collect();
    assert!(left.is_empty(), "{left:?}");
    // -o writes anywhere, creating the directory.
    let other = tmp.path().join("out/r.html");
    report_ok(&[path_str(&dir), "-o", path_str(&other), "-q"]);
    assert!(other.is_file());
}

#[test]
fn replacing_results_removes_their_stale_report_but_not_a_users_file() {
    let tmp = tempdir();
    let dir = small_sweep(tmp.path(), 1, &[]);
    report_ok(&[path_str(&dir), "-q"]);
    let report_file = dir.join("report.html");
    assert!(report_file.is_file());
    // Re-running with --force replaces the data, so its report goes too.
    small_sweep(tmp.path(), 1, &["--force", "--seed", "5"]);
    assert!(!report_file.exists(), "a report of replaced results is removed: {:?}", list_dir(&dir));
    // A file of that name tokensim did not write stays.
    std::fs::write(&report_file, "<html>my notes</html>").unwrap();
    small_sweep(tmp.path(), 1, &["--force"]);
    assert_eq!(std::fs::read_to_string(&report_file).unwrap(), "<html>my notes</html>");
}

#[test]
fn report_errors_exit_2_with_a_clear_message() {
    let tmp = tempdir();
    let check = |args: &[&str], says: &[&str]| {
        let out = report(args);
        assert_eq!(code(&out), 2, "{args:?}: {}", describe(&out));
        let err = stderr(&out);
        for s in says {
            assert!(err.contains(s), "{args:?}: stderr lacks `{s}`:\n{err}");
        }
    };
    let missing = tmp.path().join("nothing-here");
    check(&[path_str(&missing)], &["nothing-here", "no such directory"]);
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    check(&[path_str(&empty)], &["not a tokensim dataset", "tokensim run"]);
    let file = write_file(tmp.path(), "notes.txt", "hello");
    check(&[path_str(&file)], &["not a directory"]);

    let dir = small_sweep(tmp.path(), 1, &[]);
    check(
        &[path_str(&dir), "--metrics", "price,prise"],
        &["unknown metric `prise`", "supply, price, funding_pool"],
    );
    check(&[path_str(&dir), "--max-lines", "0"], &["--max-lines"]);
    check(&[path_str(&dir), "--tick", "26"], &["--tick 26", "end at tick 25", "0..=25"]);
    // A dataset whose run did not finish: tables but no manifest.
    let partial = tmp.path().join("partial");
    std::fs::create_dir(&partial).unwrap();
    std::fs::copy(dir.join("runs.parquet"), partial.join("runs.parquet")).unwrap();
    check(&[path_str(&partial)], &["incomplete", "--resume"]);
    assert!(!partial.join("report.html").exists() && !empty.join("report.html").exists());
}

#[test]
fn report_lists_every_violation_and_reads_old_manifests() {
    let tmp = tempdir();
    let dir = small_sweep(tmp.path(), 1, &[]);
    // Plant two violations the way the engine writes them, and list the
    // file in the manifest; drop the diagram as an older tokensim would.
    let schema = Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::UInt32, false),
        Field::new("tick", DataType::UInt32, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("invariant", DataType::Utf8, false),
        Field::new("expected", DataType::Float64, false),
        Field::new("actual", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(UInt32Array::from(vec![3, 1])),
            Arc::new(UInt32Array::from(vec![7, 12])),
            Arc::new(StringArray::from(vec!["curve", "engine"])),
            Arc::new(StringArray::from(vec!["reserve identity", "DAI conserved"])),
            Arc::new(Float64Array::from(vec![500.25, 1e6])),
            Arc::new(Float64Array::from(vec![499.75, 1000001.5])),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(dir.join("violations.parquet")).unwrap();
    let mut w = ArrowWriter::try_new(file, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let mut m = manifest(&dir);
    m["files"]["violations.parquet"] = 2.into();
    m.as_object_mut().unwrap().remove("diagram");
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();

    report_ok(&[path_str(&dir), "-q"]);
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let data = report_data(&html);
    assert_eq!(data["violations"]["total"], 2);
    let rows = data["violations"]["rows"].as_array().unwrap();
    // Sorted by run, then tick.
    assert_eq!((rows[0]["run_id"].clone(), rows[0]["tick"].clone()), (1.into(), 12.into()));
    assert_eq!(rows[1]["source"], "curve");
    assert_eq!(rows[1]["invariant"], "reserve identity");
    assert_eq!(f(&rows[1]["expected"]), 500.25);
    assert_eq!(f(&rows[1]["actual"]), 499.75);
    let table = &html[html.find(r#"<table class="violations">"#).expect("violations table")..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(table.matches("<tr>").count(), 3, "header and two rows");
    for cell in ["reserve identity", "DAI conserved", "500.25", "499.75", "1000001.5"] {
        assert!(table.contains(cell), "violations table lacks {cell}");
    }
    assert!(html.contains("2 violations"));
    assert!(html.contains("records no diagram"), "an old manifest still gives a report");
}

#[test]
fn sharded_dataset_reports_like_the_whole() {
    let tmp = tempdir();
    let whole = small_sweep(tmp.path(), 2, &[]);
    let shards = tmp.path().join("shards");
    let scenario = shipped_scenario("tribute_sweep.toml");
    for k in ["0/2", "1/2"] {
        let args = [
            "--runs",
            "2",
            "--ticks",
            "25",
            "--set",
            "populations.traders.count=60",
            "--set",
            "output.events=false",
            "--shard",
            k,
        ];
        run_ok(&scenario, &shards, &args);
    }
    report_ok(&[path_str(&whole), "-q"]);
    report_ok(&[path_str(&shards), "-q"]);
    let a = report_data(&std::fs::read_to_string(whole.join("report.html")).unwrap());
    let b = report_data(&std::fs::read_to_string(shards.join("report.html")).unwrap());
    assert_eq!(a["metrics"], b["metrics"]);
    assert_eq!(a["groups"], b["groups"]);
    assert_eq!(b["runs"], 16);
}

#[test]
fn graph_of_market_has_its_parts_and_flows() {
    let market = shipped_scenario("market.toml");
    let out = run(&["graph", path_str(&market)]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let mermaid = stdout(&out);
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    for node in [
        r#"n_traders(["traders<br/>10000 agents<br/>DAI 1000 each"])"#,
        r#"n_curve["curve<br/>bonding_curve<br/>reserve_asset: DAI 500000<br/>token: TKN 0"]"#,
        r#"n_funding_pool["funding_pool<br/>treasury<br/>asset: DAI 0"]"#,
        r#"n_staking["staking<br/>staking_pool<br/>token: TKN 0<br/>reward_asset: DAI 0<br/>position: staked (per agent)"]"#,
        r#"n_hatch[("hatch<br/>account<br/>TKN 1000000")]"#,
    ] {
        assert!(mermaid.contains(node), "mermaid lacks {node}:\n{mermaid}");
    }
    // Arrows point the way value moves (tests/integration/graph.rs checks
    // every shipped scenario's flows; here, each format's notation).
    for edge in [
        r#"n_traders <-->|"noise_trader: buy, sell · DAI, TKN"| n_curve"#,
        r#"n_traders -->|"staker: stake · TKN, DAI"| n_staking"#,
        r#"n_staking -->|"staker: unstake · TKN, DAI"| n_traders"#,
        r#"n_curve ==>|"tributes · DAI"| n_funding_pool"#,
        r#"n_curve ==>|"initial supply · TKN"| n_hatch"#,
        r#"n_funding_pool ==>|"rewards (staking) · DAI"| n_traders"#,
    ] {
        assert!(mermaid.contains(edge), "mermaid lacks {edge}:\n{mermaid}");
    }
    assert_eq!(mermaid.matches("|\"").count(), 6, "{mermaid}");

    let out = run(&["graph", path_str(&market), "--format", "dot", "--set", "populations.traders.count=7"]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let dot = stdout(&out);
    assert!(dot.starts_with("digraph \"market\" {"), "{dot}");
    assert!(dot.trim_end().ends_with('}'));
    for line in [
        r##""traders" [shape=box, style="rounded,filled", fillcolor="#e8f1fb", label="traders\l7 agents\lDAI 1000 each\l"];"##,
        r#""hatch" [shape=cylinder"#,
        r##""traders" -> "curve" [label="noise_trader: buy, sell · DAI, TKN", style=solid, color="#555555", dir=both];"##,
        r##""traders" -> "staking" [label="staker: stake · TKN, DAI", style=solid, color="#555555"];"##,
        r##""staking" -> "traders" [label="staker: unstake · TKN, DAI", style=solid, color="#555555"];"##,
        r##""curve" -> "funding_pool" [label="tributes · DAI", style=bold, color="#2f855a"];"##,
        r##""curve" -> "hatch" [label="initial supply · TKN", style=bold, color="#2f855a"];"##,
        r##""funding_pool" -> "traders" [label="rewards (staking) · DAI", style=bold, color="#2f855a"];"##,
    ] {
        assert!(dot.contains(line), "dot lacks {line}:\n{dot}");
    }
    assert_eq!(dot.matches(" -> ").count(), 6);

    let out = run(&["graph", path_str(&market), "--format", "svg"]);
    let svg = stdout(&out);
    assert_eq!(svg.matches(r#"<g class="part""#).count(), 5);
    assert_eq!(svg.matches(r#"<g class="flow""#).count(), 6);
    assert_eq!(svg.matches(r#"<g class="flow-label""#).count(), 6);

    let out = run(&["graph", path_str(&market), "--format", "png"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("mermaid"), "{}", stderr(&out));
}
