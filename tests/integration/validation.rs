//! What `validate` must catch before a run starts, one test per class of
//! input that used to slip through (sizes, overflowing numbers, NaN in the
//! output, references of the wrong kind, ignored or empty values, errors
//! without a place), each from a scenario file: exit 2, and the message
//! names the file with line and column, the parameter's path and the limit
//! or the valid choices. Then: one writer per results directory.

use std::path::Path;

use crate::common::*;

/// A small valid scenario: a curve with a treasury, an emission into a
/// rewards treasury, a staking pool paid from it, a vesting contract and
/// noise traders.
const BASE: &str = r#"name = "base"
ticks = 4
assets = ["DAI", "TKN"]

[contracts.funding_pool]
kind = "treasury"
asset = "DAI"

[contracts.curve]
kind = "bonding_curve"
reserve_asset = "DAI"
token = "TKN"
slope = 1e-6
initial_supply = 1000.0
entry_tribute = 0.05
treasury = "funding_pool"

[contracts.rewards]
kind = "treasury"
asset = "TKN"

[contracts.emission]
kind = "emission"
token = "TKN"
recipient = "rewards"
amount = 10.0

[contracts.staking]
kind = "staking_pool"
token = "TKN"
reward_asset = "TKN"
treasury = "rewards"
rate = 0.5

[contracts.vesting]
kind = "vesting"
token = "TKN"
position = "locked"
cliff_ticks = 1
duration_ticks = 4

[populations.traders]
count = 10
balances = { DAI = 100.0 }

[populations.traders.behaviours.noise_trader]
contract = "curve"
p_trade = 0.5
"#;

/// Writes `text`, runs `validate` and `run` on it, and asserts both exit 2
/// with `file:line:col` of `at` (the text the error must point at) and
/// every string of `says`; `run` must not create its output directory.
#[track_caller]
fn refused(text: &str, at: &str, says: &[&str]) -> String {
    let dir = tempdir();
    let path = write_file(dir.path(), "bad.toml", text);
    refused_file(dir.path(), &path, text, at, says)
}

#[track_caller]
fn refused_file(dir: &Path, path: &Path, text: &str, at: &str, says: &[&str]) -> String {
    let (line, col) = line_col_of(text, at);
    let place = format!("{}:{line}:{col}:", path_str(path));
    let out_dir = dir.join("out");
    let mut last = String::new();
    for args in
        [vec!["validate", path_str(path)], vec!["run", path_str(path), "-o", path_str(&out_dir), "--quiet"]]
    {
        let out = run(&args);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{args:?} must exit 2\n{}", describe(&out));
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains(&place), "{args:?}: the error must be at {place}\n{err}");
        for s in says {
            assert!(err.contains(s), "{args:?}: the error must mention {s:?}\n{err}");
        }
        last = err;
    }
    assert!(!out_dir.exists(), "a refused scenario must not create its output directory");
    last
}

#[test]
fn the_base_scenario_runs() {
    let dir = tempdir();
    let path = write_file(dir.path(), "base.toml", BASE);
    run_ok(&path, &dir.path().join("out"), &[]);
}

#[test]
fn sizes_that_cannot_fit_in_memory_are_refused_with_the_figure() {
    // A population far larger than any machine's memory.
    let text = replace_once(BASE, "count = 10", "count = 1_000_000_000_000_000");
    refused(
        &text,
        "count = 1_000",
        &["`populations.traders.count`", "1000000000000000 agents need about", "available"],
    );
    // Runs beyond 32-bit run ids, through a sweep.
    let text = format!(
        "{}\n[sweep]\n\"contracts.curve.slope\" = [1e-6, 2e-6]\n",
        replace_once(BASE, "\nticks = 4\n", "\nticks = 4\nruns = 4_000_000_000\n")
    );
    refused(&text, "runs = 4", &["`runs`", "8000000000 runs", "4294967295"]);
    // A grid of 10^12 points is refused before it is built.
    let axis = format!(
        "[{}]",
        (0..1000).map(|i| format!("{}", 0.001 + i as f64 * 1e-6)).collect::<Vec<_>>().join(", ")
    );
    let text = format!(
        "{BASE}\n[sweep]\n\"contracts.curve.entry_tribute\" = {axis}\n\"contracts.curve.exit_tribute\" = {axis}\n\"contracts.staking.rate\" = {axis}\n\"contracts.emission.amount\" = {axis}\n"
    );
    refused(&text, "sweep]", &["`sweep`", "1000000000000 sweep points need about"]);
    // So are 10^13 samples.
    let text = format!(
        "{BASE}\n[sweep]\nmode = \"sample\"\nsamples = 10_000_000_000_000\n\"contracts.staking.rate\" = {{ low = 0.1, high = 0.9 }}\n"
    );
    // (refused as out of range, before any memory figure is needed)
    refused(&text, "samples = ", &["`sweep.samples`", "10000000000000", "4294967295"]);
}

#[test]
fn numbers_that_would_overflow_are_refused_with_the_limit() {
    let cases = [
        ("slope = 1e-6", "slope = 1e300", "slope = 1e300", "`contracts.curve.slope`", "[1e-12, 1e12]"),
        (
            "initial_supply = 1000.0",
            "initial_supply = 1.7e308",
            "initial_supply = 1.7e308",
            "`contracts.curve.initial_supply`",
            "[0, 1e15]",
        ),
        ("amount = 10.0", "amount = 1e300", "amount = 1e300", "`contracts.emission.amount`", "[0, 1e15]"),
        ("{ DAI = 100.0 }", "{ DAI = 1e300 }", "DAI = 1e300", "`populations.traders.balances.DAI`", "1e15"),
        (
            "{ DAI = 100.0 }",
            "{ DAI = { dist = \"lognormal\", mu = 700.0, sigma = 1.0 } }",
            "DAI = { dist",
            "`populations.traders.balances.DAI`",
            "above the limit 1e15",
        ),
        // The reserve that backs the initial supply would itself exceed any amount.
        (
            "initial_supply = 1000.0",
            "initial_supply = 1e15",
            "initial_supply = 1e15",
            "`contracts.curve.initial_supply`",
            "needs a reserve of",
        ),
    ];
    for (from, to, at, field, limit) in cases {
        let text = replace_once(BASE, from, to);
        refused(&text, at, &[field, limit]);
    }
}

#[test]
fn a_rejected_fractional_intent_records_no_nan() {
    // The shipped commons_abc rejects fractional sells during the hatch.
    let text = shipped_scenario_text("commons_abc.toml");
    let text = replace_once(&text, "ticks = 200", "ticks = 30");
    let dir = tempdir();
    let path = write_file(dir.path(), "abc.toml", &text);
    let out = dir.path().join("out");
    run_ok(&path, &out, &["--events"]);
    let mut rejected = 0;
    for file in list_dir(&out).into_iter().filter(|f| f.ends_with(".parquet")) {
        let table = read_parquet(&out.join(&file));
        let floats: Vec<String> = column_names(&table)
            .into_iter()
            .filter(|c| {
                table.schema().field_with_name(c).unwrap().data_type() == &arrow::datatypes::DataType::Float64
            })
            .collect();
        if file.starts_with("events") {
            rejected += strings(&table, "status").iter().filter(|s| *s != "filled").count();
            for column in ["amount_in", "amount_out", "fee"] {
                let values = f64s(&table, column);
                assert!(
                    values.iter().all(|v| v.is_finite() && *v >= 0.0),
                    "{file}: {column} has NaN, inf or < 0"
                );
            }
        }
        if file.starts_with("events") || file.starts_with("ticks") {
            for column in floats {
                assert!(f64s(&table, &column).iter().all(|v| !v.is_infinite()), "{file}: {column} has inf");
            }
        }
    }
    assert!(rejected > 0, "the hatch rejects some intents");
}

#[test]
fn references_of_the_wrong_kind_are_refused_with_the_contracts_that_fit() {
    // An emission paying into a staking pool's account would break its backing.
    let text = replace_once(BASE, "recipient = \"rewards\"", "recipient = \"staking\"");
    refused(
        &text,
        "recipient = \"staking\"",
        &["`contracts.emission.recipient`", "`staking` (staking_pool)", "funding_pool, rewards"],
    );
    // A buy-back through a vesting contract would silently do nothing.
    let text = replace_once(
        BASE,
        "[contracts.funding_pool]\nkind = \"treasury\"\nasset = \"DAI\"\n",
        "[contracts.funding_pool]\nkind = \"treasury\"\nasset = \"DAI\"\nbuyback_rate = 0.1\nbuyback_venue = \"vesting\"\nbuyback_token = \"TKN\"\n",
    );
    refused(
        &text,
        "buyback_venue = \"vesting\"",
        &["`contracts.funding_pool.buyback_venue`", "does not accept `buy`", "curve"],
    );
    // A curve naming its own account as the tribute receiver.
    let text = replace_once(BASE, "treasury = \"funding_pool\"", "treasury = \"curve\"");
    refused(&text, "treasury = \"curve\"", &["`contracts.curve.treasury`", "its own account"]);
    // A staking pool paid from a curve's reserve.
    let text = replace_once(BASE, "treasury = \"rewards\"", "treasury = \"curve\"");
    refused(
        &text,
        "treasury = \"curve\"",
        &["`contracts.staking.treasury`", "`curve` (bonding_curve)", "funding_pool, rewards"],
    );
}

#[test]
fn ignored_and_empty_values_are_refused() {
    // A parameter the chosen mode ignores.
    let text = replace_once(BASE, "amount = 10.0", "amount = 10.0\ndecay = 0.1");
    refused(&text, "decay = 0.1", &["`contracts.emission.decay`", "schedule `constant`", "exponential"]);
    // A variant with no runs would be a 0-run success.
    let text = format!("{BASE}\n[variants.none]\nruns = 0\n");
    refused(&text, "runs = 0", &["`runs`", "at least 1", "variants.none"]);
    // An empty contract name.
    let text = replace_once(BASE, "contract = \"curve\"", "contract = \"\"");
    refused(
        &text,
        "contract = \"\"",
        &["`populations.traders.behaviours.noise_trader.contract`", "must not be empty"],
    );
    let text = format!("{BASE}\n[contracts.\"\"]\nkind = \"treasury\"\nasset = \"DAI\"\n");
    let dir = tempdir();
    let path = write_file(dir.path(), "bad.toml", &text);
    let out = run(&["validate", path_str(&path)]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    assert!(
        stderr(&out).contains(path_str(&path)) && stderr(&out).contains("must be non-empty"),
        "{}",
        describe(&out)
    );
    // An unbonding position that no unbonding uses.
    let text = replace_once(BASE, "rate = 0.5", "rate = 0.5\nunbonding_position = \"cooling\"");
    refused(&text, "unbonding_position", &["`contracts.staking.unbonding_position`", "unbonding_ticks"]);
}

#[test]
fn an_orders_path_that_is_a_directory_is_located() {
    let dir = tempdir();
    std::fs::create_dir(dir.path().join("orders")).unwrap();
    let text = format!("{BASE}\n[orders]\nfile = \"orders\"\n");
    let path = write_file(dir.path(), "bad.toml", &text);
    refused_file(dir.path(), &path, &text, "file = \"orders\"", &["`orders.file`", "is a directory"]);
}

#[test]
fn a_second_run_into_a_locked_directory_fails_at_once() {
    let dir = tempdir();
    let path = write_file(dir.path(), "base.toml", BASE);
    let out = dir.path().join("out");
    let lock = tokensim::output::lock::DirLock::acquire(&out, "").expect("lock");
    let started = std::time::Instant::now();
    let refused = run(&["run", path_str(&path), "-o", path_str(&out), "--quiet", "--force"]);
    assert_eq!(code(&refused), 2, "{}", describe(&refused));
    let err = stderr(&refused);
    assert!(err.contains("another tokensim run") && err.contains(path_str(&out)), "{err}");
    assert!(started.elapsed().as_secs() < 30, "it fails at once rather than waiting");
    assert!(!out.join("manifest.json").exists());
    drop(lock);
    run_ok(&path, &out, &["--force"]);
}

#[test]
fn two_concurrent_runs_into_one_directory_exactly_one_proceeds() {
    let dir = tempdir();
    let text =
        replace_once(&replace_once(BASE, "\nticks = 4\n", "\nticks = 60\n"), "count = 10", "count = 20_000");
    let path = write_file(dir.path(), "base.toml", &text);
    let out = dir.path().join("out");
    let args = ["run", path_str(&path), "-o", path_str(&out), "--quiet"];
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_tokensim"))
                .args(args)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let outs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().expect("wait")).collect();
    let codes: Vec<i32> = outs.iter().map(|o| o.status.code().expect("exit code")).collect();
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [0, 2],
        "exactly one run proceeds: {codes:?}\n{}",
        outs.iter().map(describe).collect::<String>()
    );
    let loser = outs.iter().find(|o| o.status.code() == Some(2)).unwrap();
    let err = stderr(loser);
    // Either it met the lock, or it started after the winner finished and
    // met its complete results; never a second writer.
    assert!(err.contains("another tokensim run") || err.contains("--force"), "{err}");
    assert_eq!(manifest(&out)["status"], "complete");
}

/// A contract declaring two metrics whose `measure` sets only one (or one
/// it does not declare): the builder refuses it, so no value can shift
/// into another column.
struct Miscounted {
    undeclared: bool,
}

impl tokensim::prelude::Contract for Miscounted {
    fn metrics(&self) -> &'static [tokensim::prelude::MetricDef] {
        use tokensim::prelude::MetricDef;
        const M: &[MetricDef] = &[MetricDef::stock("a", "1", "a"), MetricDef::stock("b", "1", "b")];
        M
    }

    fn measure(&self, _ledger: &tokensim::prelude::Ledger, out: &mut tokensim::prelude::Measure<'_>) {
        // Set in the opposite order of the declaration: columns follow names.
        out.set("b", 2.0);
        if self.undeclared {
            out.set("c", 3.0);
        } else {
            out.set("a", 1.0);
        }
    }
}

struct MiscountedKind(bool);

impl tokensim::prelude::MechanismKind for MiscountedKind {
    fn name(&self) -> &'static str {
        "miscounted"
    }
    fn summary(&self) -> &'static str {
        "test contract"
    }
    fn params(&self) -> &'static [tokensim::prelude::ParamDecl] {
        &[]
    }
    fn build(
        &self,
        _ctx: &mut tokensim::prelude::ContractBuilder<'_>,
    ) -> Result<Box<dyn tokensim::prelude::Contract>, tokensim::ScenarioError> {
        Ok(Box::new(Miscounted { undeclared: self.0 }))
    }
}

#[test]
fn metrics_are_matched_by_name_and_checked_at_build_time() {
    use tokensim::prelude::*;
    let text = "ticks = 2\nassets = [\"DAI\"]\n[contracts.m]\nkind = \"miscounted\"\n";
    let loaded = LoadedScenario::from_str(Path::new("m.toml"), text).unwrap();
    let mut registry = Registry::builtin();
    registry.add_mechanism(MiscountedKind(false));
    let mut sim =
        Simulation::new(&loaded, &registry, &RunSpec::single(1)).expect("a well-measured contract builds");
    let log = sim.step();
    assert_eq!(&log.metrics[..2], &[1.0, 2.0], "`a` then `b`, as declared, whatever the order set");
    registry.add_mechanism(MiscountedKind(true));
    let err = Simulation::new(&loaded, &registry, &RunSpec::single(1)).err().expect("refused").to_string();
    assert!(err.starts_with("m.toml:4:") && err.contains("`contracts.m.kind`"), "{err}");
    assert!(err.contains("sets metric `c`, which it does not declare"), "{err}");
}

/// Names that would collide in an output file, or name something of
/// another kind: each refused where it is written, before any file exists.
#[test]
fn names_that_collide_or_name_the_wrong_thing_are_refused() {
    // An asset named like a key column of agents.parquet (it used to
    // crash the writer), or like another asset's column.
    let text = replace_once(BASE, "assets = [\"DAI\", \"TKN\"]", "assets = [\"DAI\", \"TKN\", \"Tick\"]");
    refused(&text, "\"Tick\"", &["`assets.2`", "column `tick`", "run_id, tick, agent_id"]);
    let text = replace_once(BASE, "assets = [\"DAI\", \"TKN\"]", "assets = [\"DAI\", \"TKN\", \"dai\"]");
    refused(&text, "\"dai\"", &["`assets.2`", "`DAI`", "column `dai`"]);
    // A position named so.
    let text = replace_once(BASE, "position = \"locked\"", "position = \"agent_id\"");
    refused(&text, "position = \"agent_id\"", &["`contracts.vesting.position`", "column `agent_id`"]);
    // Two contracts' default tick columns: `staking` + `_a.b` vs `staking_a` + `b`.
    let text = format!("{BASE}\n[contracts.Rewards]\nkind = \"treasury\"\nasset = \"TKN\"\n");
    refused(
        &text,
        "Rewards]",
        &["`contracts.Rewards`", "tick column `rewards_balance`", "`rewards.balance`", "[metrics]"],
    );
    // An account that is a population or an asset would be a new, empty one.
    for name in ["traders", "TKN"] {
        let text = replace_once(BASE, "treasury = \"rewards\"", &format!("treasury = \"{name}\""));
        refused(
            &text,
            &format!("treasury = \"{name}\""),
            &["`contracts.staking.treasury`", &format!("`{name}` is a"), "funding_pool"],
        );
    }
}

/// An AMM's LP token has one issuer, the pool: neither a population's
/// starting balance nor another contract's genesis liquidity may create
/// it (the pool's count of LP outstanding would break from tick 1).
#[test]
fn a_share_token_is_issued_by_its_pool_alone() {
    let amm = format!(
        "{}\n[contracts.pool]\nkind = \"amm\"\nbase = \"TKN\"\nquote = \"DAI\"\nlp_token = \"LP\"\ninitial_base = 100.0\ninitial_quote = 100.0\n",
        replace_once(BASE, "assets = [\"DAI\", \"TKN\"]", "assets = [\"DAI\", \"TKN\", \"LP\"]")
    );
    run_ok(&write_file(tempdir().path(), "ok.toml", &amm), &tempdir().path().join("out"), &[]);
    let text = replace_once(&amm, "balances = { DAI = 100.0 }", "balances = { DAI = 100.0, LP = 1.0 }");
    refused(&text, "LP = 1.0", &["`populations.traders.balances.LP`", "share token of `pool`"]);
    let text =
        format!("{amm}\n[contracts.lp_fund]\nkind = \"treasury\"\nasset = \"LP\"\ninitial_balance = 5.0\n");
    refused(&text, "lp_fund]", &["`contracts.lp_fund`", "issues `LP`", "share token of `pool`"]);
}
