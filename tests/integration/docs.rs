//! The documentation's examples work: every complete scenario shown in
//! README.md validates, and every shipped scenario validates.

use crate::common::*;

/// The ```toml blocks of README.md.
fn readme_toml_blocks() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```toml") => current = Some(String::new()),
            (Some(block), l) if l.starts_with("```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn readme_scenario_example_validates() {
    let blocks = readme_toml_blocks();
    let complete: Vec<&String> =
        blocks.iter().filter(|b| b.contains("ticks =") && b.contains("assets =")).collect();
    assert!(!complete.is_empty(), "README shows a complete scenario");
    let dir = tempdir();
    for (i, block) in complete.iter().enumerate() {
        let path = write_file(dir.path(), &format!("readme{i}.toml"), block);
        let out = run(&["validate", path_str(&path)]);
        assert_eq!(code(&out), 0, "README scenario #{i} does not validate:\n{block}\n{}", describe(&out));
    }
}

#[test]
fn every_shipped_scenario_validates() {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"));
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("scenarios/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = run(&["validate", path_str(&path)]);
            assert_eq!(code(&out), 0, "{}: {}", path.display(), describe(&out));
            n += 1;
        }
    }
    assert!(n >= 2, "found {n} scenarios");
}

#[test]
fn the_parameter_reference_is_current() {
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reference.md"));
    let checked_in = std::fs::read_to_string(path).expect("docs/reference.md");
    let generated = tokensim::engine::registry::Registry::builtin().reference_markdown();
    assert!(
        checked_in == generated,
        "docs/reference.md is stale: regenerate it with `cargo run -- list --markdown > docs/reference.md`"
    );
    // Every registered kind has a section, and every parameter a row.
    let registry = tokensim::engine::registry::Registry::builtin();
    for (name, params) in registry
        .mechanisms()
        .map(|k| (k.name(), k.params()))
        .chain(registry.behaviours().map(|k| (k.name(), k.params())))
    {
        assert!(generated.contains(&format!("### `{name}`")), "{name}");
        for p in params {
            assert!(!p.doc.is_empty() && !p.type_text().is_empty(), "{name}.{} is documented", p.name);
            assert!(generated.contains(&format!("| `{}` |", p.name)), "{name}.{}", p.name);
        }
    }
}

#[test]
fn every_kind_documents_its_metrics_and_rule_and_every_action_its_amounts() {
    let registry = tokensim::engine::registry::Registry::builtin();
    let reference = registry.reference_markdown();
    for m in registry.mechanisms() {
        assert!(!m.metrics().is_empty(), "{} declares its metrics", m.name());
        for d in m.metrics() {
            assert!(!d.doc.is_empty() && !d.unit.is_empty(), "{}.{}", m.name(), d.name);
            assert!(
                reference.contains(&format!("| `{}` |", d.name)),
                "{}.{} in the reference",
                m.name(),
                d.name
            );
        }
    }
    for b in registry.behaviours() {
        assert!(b.rule().len() > 80, "{} states its rule", b.name());
        assert!(reference.contains(b.rule()), "{}'s rule in the reference", b.name());
    }
    for a in tokensim::prelude::Action::BUILTIN {
        let (amount_in, amount_out) = a.amounts();
        assert!(reference.contains(&format!("| `{}` |", a.name())) && reference.contains(amount_in), "{a:?}");
        assert!(!amount_out.is_empty());
    }
    let list = stdout(&run(&["list"]));
    for needle in ["metrics (column", "rule: ", "amount_in: ", "shortfall", "observe"] {
        assert!(list.contains(needle), "`tokensim list` shows {needle}");
    }
}

/// Every contract of every shipped scenario reports only metrics its kind
/// declares, and `tokensim metrics` and `manifest.json` describe every
/// column of `ticks.parquet` the same way.
#[test]
fn shipped_scenarios_columns_are_all_described() {
    use tokensim::prelude::*;
    let registry = tokensim::engine::registry::Registry::builtin();
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"));
    for entry in std::fs::read_dir(dir).expect("scenarios/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let loaded = tokensim::scenario::LoadedScenario::load(&path).expect("loads");
        let plan = tokensim::experiment::expand(&loaded).expect("expands");
        let sim = Simulation::validate(&plan.scenarios[0], &registry, &RunSpec::single(0)).expect("builds");
        for slot in &sim.world.resource::<tokensim::engine::contract::Contracts>().0 {
            let declared = registry.mechanism(slot.kind).expect("kind").metrics();
            for d in slot.contract.metrics() {
                assert!(
                    declared.contains(d),
                    "{}: {}.{} is declared by its kind",
                    path.display(),
                    slot.name,
                    d.name
                );
            }
        }
        let out = run(&["metrics", path_str(&path)]);
        assert_eq!(code(&out), 0, "{}", describe(&out));
        let text = stdout(&out);
        for c in sim.metric_columns.iter().map(|c| c.name.as_str()).chain(["run_id", "tick"]) {
            assert!(text.lines().any(|l| l.starts_with(&format!("{c} "))), "{}: {c} listed", path.display());
        }
        assert!(!text.contains('{'), "{}: every unit names the scenario's assets:\n{text}", path.display());
    }
}

#[test]
fn the_manifest_describes_every_ticks_column_with_the_scenarios_assets() {
    let dir = tempdir();
    let text = format!(
        "{}p90_dai = {{ population = \"traders\", of = \"DAI\", stat = \"quantile\", q = 0.9 }}\n\
         gini_dai = {{ population = \"traders\", of = \"DAI\", stat = \"gini\" }}\n",
        small_market(10, 3, 0)
    );
    let scenario = write_file(dir.path(), "market.toml", &text);
    let out = dir.path().join("out");
    run_ok(&scenario, &out, &[]);
    let m = manifest(&out);
    let metrics = m["metrics"].as_object().expect("manifest.json has metrics");
    let ticks = read_parquet(&out.join("ticks.parquet"));
    let mut columns = column_names(&ticks);
    columns.sort();
    assert_eq!(metrics.keys().cloned().collect::<Vec<_>>(), columns, "every column");
    for (name, info) in metrics {
        for key in ["doc", "unit", "measured"] {
            assert!(info[key].as_str().is_some_and(|s| !s.is_empty()), "{name}.{key}");
        }
        assert!(matches!(info["kind"].as_str(), Some("stock" | "flow")), "{name}.kind");
    }
    // market.toml renames its columns: `price = "curve.price"`, …
    assert_eq!(metrics["price"]["unit"], "DAI/TKN");
    assert_eq!(metrics["supply"]["kind"], "stock");
    assert_eq!(metrics["volume_dai"]["kind"], "flow");
    assert_eq!(metrics["volume_dai"]["unit"], "DAI");
    assert_eq!(metrics["n_tx"]["unit"], "count");
    // Population metrics: a quantile keeps the unit of `of`, a Gini
    // coefficient is a pure number.
    let p90 = metrics["p90_dai"]["doc"].as_str().unwrap();
    assert!(p90.contains("quantile 0.9") && p90.contains("`traders`") && p90.contains("`DAI`"), "{p90}");
    assert_eq!(metrics["p90_dai"]["unit"], "unit of `DAI`");
    assert_eq!(metrics["gini_dai"]["unit"], "1");
    assert_eq!(metrics["gini_dai"]["kind"], "stock");
}
