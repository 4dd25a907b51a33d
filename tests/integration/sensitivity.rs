//! `[sweep] mode = "morris" | "sobol"` and `tokensim sensitivity`: an inert
//! parameter has indices exactly 0, an active one a positive index, and bad
//! directories or arguments are errors with exit code 2.

use crate::common::*;

/// The market model, small: the stakers never unstake (`p_unstake = 0`),
/// so `unstake_fraction` cannot change anything, while the entry tribute
/// feeds the funding pool.
fn scenario(sweep: &str) -> String {
    format!(
        r#"name = "sens"
seed = 5
ticks = 30
assets = ["DAI", "TKN"]
output = {{ events = false }}
runs = 2
[contracts.funding_pool]
kind = "treasury"
asset = "DAI"
[contracts.curve]
kind = "bonding_curve"
reserve_asset = "DAI"
token = "TKN"
slope = 1e-6
initial_supply = 1_000_000.0
initial_holder = "hatch"
entry_tribute = 0.05
exit_tribute = 0.05
treasury = "funding_pool"
[contracts.staking]
kind = "staking_pool"
token = "TKN"
reward_asset = "DAI"
treasury = "funding_pool"
rate = 0.01
position = "staked"
[populations.traders]
count = 200
balances = {{ DAI = 1000.0 }}
[populations.traders.behaviours.noise_trader]
contract = "curve"
p_trade = 0.3
[populations.traders.behaviours.staker]
pool = "staking"
p_stake = 0.1
stake_fraction = 0.5
p_unstake = 0.0
unstake_fraction = 1.0
[metrics]
funding_pool = "funding_pool.balance"
price = "curve.price"
[properties.pool_above_1k]
at_end = "funding_pool >= 1000"
[sweep]
{sweep}
"contracts.curve.entry_tribute" = {{ low = 0.0, high = 0.2 }}
"populations.traders.behaviours.staker.unstake_fraction" = {{ low = 0.1, high = 1.0 }}
"#
    )
}

const TRIBUTE: &str = "contracts.curve.entry_tribute";
const UNSTAKE: &str = "populations.traders.behaviours.staker.unstake_fraction";

fn value_of(batch: &arrow::array::RecordBatch, column: &str, metric: &str, parameter: &str) -> f64 {
    let (metrics, params) = (strings(batch, "metric"), strings(batch, "parameter"));
    let i = (0..batch.num_rows())
        .find(|&i| metrics[i] == metric && params[i] == parameter)
        .unwrap_or_else(|| panic!("no row for {metric}/{parameter}"));
    f64s(batch, column)[i]
}

#[test]
fn morris_gives_an_inert_behaviour_parameter_zero_and_the_tribute_a_positive_effect() {
    let tmp = tempdir();
    let s = write_file(tmp.path(), "m.toml", &scenario("mode = \"morris\"\ntrajectories = 4\nlevels = 4"));
    let out = tmp.path().join("out");
    run_ok(&s, &out, &[]);
    let o = run(&["sensitivity", path_str(&out), "--metric", "funding_pool"]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let table = stdout(&o);
    assert!(table.contains("mu_star") && table.contains(UNSTAKE), "{table}");
    // Ranked: the tribute comes first.
    assert!(table.find(TRIBUTE).unwrap() < table.find(UNSTAKE).unwrap(), "{table}");
    let b = read_parquet(&out.join("sensitivity.parquet"));
    assert_eq!(column_names(&b), ["metric", "variant", "parameter", "mu_star", "mu", "sigma"]);
    assert_eq!(b.num_rows(), 2);
    assert_eq!(value_of(&b, "mu_star", "funding_pool", UNSTAKE), 0.0);
    assert_eq!(value_of(&b, "sigma", "funding_pool", UNSTAKE), 0.0);
    assert!(value_of(&b, "mu_star", "funding_pool", TRIBUTE) > 0.0);
    assert!(value_of(&b, "mu", "funding_pool", TRIBUTE) > 0.0, "a larger tribute fills the pool");
    // Every metric by default, at a chosen tick (replacing the analysis above).
    let o = run(&["sensitivity", path_str(&out), "--tick", "10", "--quiet", "--force"]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let b = read_parquet(&out.join("sensitivity.parquet"));
    let mut metrics = strings(&b, "metric");
    metrics.dedup();
    assert!(metrics.len() >= 2 && b.num_rows() == 2 * metrics.len(), "every tick column: {metrics:?}");
    assert_eq!(value_of(&b, "mu_star", "price", UNSTAKE), 0.0);
    // A property's margin (funding_pool − 1000 at the end) has the same effects.
    let o = run(&["sensitivity", path_str(&out), "--property", "pool_above_1k", "--quiet", "--force"]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let p = read_parquet(&out.join("sensitivity.parquet"));
    assert_eq!(strings(&p, "metric"), ["pool_above_1k", "pool_above_1k"]);
    assert_eq!(value_of(&p, "mu_star", "pool_above_1k", UNSTAKE), 0.0);
    assert!(value_of(&p, "mu_star", "pool_above_1k", TRIBUTE) > 0.0);
    // Results replaced: the indices of the old ones go with them.
    run_ok(&s, &out, &["--force"]);
    assert!(!out.join("sensitivity.parquet").exists(), "indices of results no longer there");
}

#[test]
fn sobol_gives_an_inert_parameter_zero_indices_with_intervals() {
    let tmp = tempdir();
    let s = write_file(tmp.path(), "s.toml", &scenario("mode = \"sobol\"\nsamples = 16"));
    let out = tmp.path().join("out");
    run_ok(&s, &out, &[]);
    assert_eq!(manifest(&out)["points"], 16 * 4);
    let o = run(&["sensitivity", path_str(&out), "--metric", "funding_pool"]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let b = read_parquet(&out.join("sensitivity.parquet"));
    assert_eq!(
        column_names(&b),
        ["metric", "variant", "parameter", "s1", "s1_low", "s1_high", "st", "st_low", "st_high"]
    );
    for c in ["s1", "s1_low", "s1_high", "st", "st_low", "st_high"] {
        assert_eq!(value_of(&b, c, "funding_pool", UNSTAKE), 0.0, "{c}");
    }
    let (st, lo, hi) = (
        value_of(&b, "st", "funding_pool", TRIBUTE),
        value_of(&b, "st_low", "funding_pool", TRIBUTE),
        value_of(&b, "st_high", "funding_pool", TRIBUTE),
    );
    assert!(st > 0.5 && lo <= st && st <= hi, "the tribute explains the pool: {lo} ≤ {st} ≤ {hi}");
    // The report draws S1 and ST bars for both parameters.
    let o = run(&["report", path_str(&out), "--metrics", "funding_pool"]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<h2>Sensitivity</h2>"), "the section");
    assert_eq!(html.matches(r#"<rect class="bar""#).count(), 2 * 2, "S1 and ST of two parameters");
    assert!(html.contains(&format!(r#"data-parameter="{UNSTAKE}" data-index="ST""#)));
}

#[test]
fn bad_directories_and_arguments_are_errors() {
    let tmp = tempdir();
    let s = write_file(tmp.path(), "g.toml", &scenario("mode = \"sobol\"\nsamples = 2"));
    let out = tmp.path().join("out");
    run_ok(&s, &out, &["--runs", "1"]);
    let fails = |args: &[&str], needles: &[&str]| {
        let o = run(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", describe(&o));
        let e = stderr(&o);
        assert!(!e.contains("panicked"), "{e}");
        for n in needles {
            assert!(e.contains(n), "{args:?}: `{n}` not in {e}");
        }
    };
    let dir = path_str(&out);
    fails(&["sensitivity", dir, "--metric", "nope"], &["--metric nope", "choices: funding_pool, price"]);
    fails(&["sensitivity", dir, "--tick", "0"], &["--tick 0", "from 1 to 30"]);
    fails(&["sensitivity", dir, "--tick", "31"], &["--tick 31"]);
    fails(&["sensitivity", dir, "--tick", "x"], &["invalid value"]);
    fails(&["sensitivity", dir, "--metric", "price", "--property", "p"], &["cannot be used with"]);
    fails(&["sensitivity", path_str(&tmp.path().join("missing"))], &["no such directory"]);
    fails(
        &["sensitivity", dir, "--property", "nope"],
        &["--property nope: no such property", "declared: pool_above_1k"],
    );
    fails(&["sensitivity", dir, "--property", "pool_above_1k", "--tick", "3"], &["--tick", "whole run"]);
    // A grid sweep has no design to analyse.
    let g = write_file(
        tmp.path(),
        "grid.toml",
        &scenario("")
            .replace("{ low = 0.0, high = 0.2 }", "[0.0, 0.1]")
            .replace("{ low = 0.1, high = 1.0 }", "[0.5]"),
    );
    let gout = tmp.path().join("gout");
    run_ok(&g, &gout, &["--runs", "1"]);
    fails(&["sensitivity", path_str(&gout)], &["mode = \"grid\"", "morris", "sobol"]);
    // Bad designs are located errors.
    let bad = write_file(tmp.path(), "b.toml", &scenario("mode = \"morris\"\ntrajectories = 0"));
    let o = run(&["validate", path_str(&bad)]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("b.toml:") && stderr(&o).contains("`sweep.trajectories`"),
        "{}",
        describe(&o)
    );
}
