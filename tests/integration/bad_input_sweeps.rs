//! Bad input around experiments and their results: `[sweep]`, `[variants]`
//! and `[search]` entries that would be silently dropped or give a table
//! with a repeated column are located errors (exit 2) before anything is
//! written, `validate` checks `[search]` like `stress`, and neither
//! `sensitivity` nor `report` overwrites results it was not asked to.

use std::path::Path;

use crate::common::*;

/// A small bonding-curve market with a funding pool.
const CURVE: &str = r#"name = "curve"
seed = 3
ticks = 4
assets = ["DAI", "TKN"]
output = { events = false }

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
exit_tribute = 0.05
treasury = "pool"

[populations.traders]
count = 8
balances = { DAI = 100.0 }

[populations.traders.behaviours.noise_trader]
contract = "curve"
p_trade = 0.5

[metrics]
pool = "pool.balance"
price = "curve.price"

[properties.funded]
at_end = "pool >= 0"
"#;

/// Two contracts whose parameter paths meet once dots become `_`:
/// `contracts.t.grant_rate` and `contracts.t_grant.rate` are both
/// `contracts_t_grant_rate`.
const CLASH: &str = r#"name = "clash"
seed = 1
ticks = 3
assets = ["DAI", "TKN"]
output = { events = false }

[contracts.t]
kind = "treasury"
asset = "DAI"
initial_balance = 1000.0
grant_rate = 0.1
grant_recipient = "sink"

[contracts.t_grant]
kind = "staking_pool"
token = "TKN"
reward_asset = "DAI"
treasury = "t"
rate = 0.01

[populations.p]
count = 2
balances = { DAI = 100.0 }

[metrics]
bal = "t.balance"

[properties.ok]
at_end = "bal >= 0"
"#;

/// Runs `args`, asserts exit 2 without a panic and that stderr says each
/// of `says`; returns stderr.
#[track_caller]
fn fails(args: &[&str], says: &[&str]) -> String {
    let out = run(args);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "tokensim {args:?} must exit 2\n{}", describe(&out));
    assert!(!err.contains("panicked"), "tokensim {args:?} panicked:\n{err}");
    for s in says {
        assert!(err.contains(s), "stderr of tokensim {args:?} must say {s:?}:\n{err}");
    }
    err
}

/// `file:line:col` of `needle` in the scenario `text` written at `path`.
fn at(path: &Path, text: &str, needle: &str) -> String {
    let (line, col) = line_col_of(text, needle);
    format!("{}:{line}:{col}", path_str(path))
}

/// Writes `text`, then checks `validate` and `run` both refuse it at
/// `needle` saying `says`, and that `run` creates no output directory.
#[track_caller]
fn refused(text: &str, needle: &str, says: &[&str]) {
    let dir = tempdir();
    let path = write_file(dir.path(), "s.toml", text);
    let mut all = vec![at(&path, text, needle)];
    all.extend(says.iter().map(|s| s.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    fails(&["validate", path_str(&path)], &all);
    let out = dir.path().join("out");
    fails(&["run", path_str(&path), "-o", path_str(&out), "--quiet"], &all);
    assert!(!out.exists(), "a refused scenario must not create its output directory");
}

#[test]
fn an_empty_table_in_a_sweep_is_refused_at_its_path() {
    // Grid: the empty entry beside a valid axis.
    let grid = format!(
        "{CURVE}[sweep]\n\"contracts.curve.entry_tribute\" = {{}}\n\"contracts.curve.exit_tribute\" = [0.0, 0.1]\n"
    );
    refused(
        &grid,
        "\"contracts.curve.entry_tribute\" = {}",
        &["`sweep.contracts.curve.entry_tribute`", "empty table sets nothing", "list of values"],
    );
    // A range mode asks for a range; nested tables are walked the same way.
    let morris = format!(
        "{CURVE}[sweep]\nmode = \"morris\"\ntrajectories = 2\n\"contracts.curve.exit_tribute\" = {{ low = 0.0, high = 0.1 }}\n[sweep.contracts.curve]\nentry_tribute = {{}}\n"
    );
    refused(
        &morris,
        "entry_tribute = {}",
        &["`sweep.contracts.curve.entry_tribute`", "empty table sets nothing", "range"],
    );
}

#[test]
fn an_empty_table_in_a_variant_is_refused_but_an_empty_variant_is_a_control() {
    let text =
        format!("{CURVE}[variants.control]\n[variants.cheap]\n\"contracts.curve.entry_tribute\" = {{}}\n");
    refused(
        &text,
        "\"contracts.curve.entry_tribute\" = {}",
        &["`variants.cheap.contracts.curve.entry_tribute`", "empty table sets nothing"],
    );
    // A variant that sets nothing at all is the baseline of an A/B test.
    let dir = tempdir();
    let ok = write_file(
        dir.path(),
        "ok.toml",
        &format!("{CURVE}[variants.control]\n[variants.cheap]\n\"contracts.curve.entry_tribute\" = 0.0\n"),
    );
    let out = dir.path().join("out");
    run_ok(&ok, &out, &[]);
    let runs = read_parquet(&out.join("runs.parquet"));
    assert_eq!(strings(&runs, "variant"), ["control", "cheap"]);
}

#[test]
fn swept_paths_sharing_a_runs_column_are_refused_at_the_second() {
    let text = format!(
        "{CLASH}[sweep]\n\"contracts.t.grant_rate\" = [0.1, 0.2]\n\"contracts.t_grant.rate\" = [0.01, 0.02]\n"
    );
    refused(
        &text,
        "\"contracts.t_grant.rate\" = [",
        &[
            "`sweep.contracts.t_grant.rate`",
            "`contracts.t.grant_rate`",
            "`contracts_t_grant_rate`",
            "runs.parquet",
        ],
    );
}

#[test]
fn search_dimensions_sharing_a_column_are_refused_before_anything_is_written() {
    let dir = tempdir();
    let text = format!(
        "{CLASH}[search]\n\"contracts.t.grant_rate\" = {{ low = 0.0, high = 0.5 }}\n\"contracts.t_grant.rate\" = {{ low = 0.0, high = 0.5 }}\n"
    );
    let path = write_file(dir.path(), "s.toml", &text);
    let says = [
        at(&path, &text, "\"contracts.t_grant.rate\" = {"),
        "`search.contracts.t_grant.rate`".to_string(),
        "`contracts.t.grant_rate`".to_string(),
        "`contracts_t_grant_rate`".to_string(),
        "search.parquet".to_string(),
    ];
    let says: Vec<&str> = says.iter().map(String::as_str).collect();
    let out = dir.path().join("out");
    let args = ["stress", path_str(&path), "--property", "ok", "--budget", "4", "-o", path_str(&out), "-q"];
    fails(&args, &says);
    assert!(!out.exists(), "a refused search must not create its output directory");
    fails(&["validate", path_str(&path)], &says);
}

#[test]
fn validate_checks_search_as_stress_does() {
    let dir = tempdir();
    let check = |name: &str, search: &str, needle: &str, says: &[&str]| {
        let text = format!("{CURVE}[search]\n{search}");
        let path = write_file(dir.path(), name, &text);
        let mut all = vec![at(&path, &text, needle)];
        all.extend(says.iter().map(|s| s.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        fails(&["validate", path_str(&path)], &all);
        let out = dir.path().join(format!("{name}.out"));
        let stress =
            ["stress", path_str(&path), "--property", "funded", "--budget", "4", "-o", path_str(&out), "-q"];
        fails(&stress, &all);
    };
    check(
        "inverted.toml",
        "\"contracts.curve.entry_tribute\" = { low = 0.2, high = 0.01 }\n",
        "\"contracts.curve.entry_tribute\" = { low = 0.2",
        &["`search.contracts.curve.entry_tribute`", "low 0.2 must be below high 0.01"],
    );
    check(
        "key.toml",
        "\"contracts.curve.entry_tribute\" = { low = 0.0, hgh = 0.1 }\n",
        "hgh = 0.1",
        &["unknown key `hgh`", "low, high, integer"],
    );
    check(
        "path.toml",
        "\"contracts.curv.entry_tribute\" = { low = 0.0, high = 0.1 }\n",
        "\"contracts.curv.entry_tribute\"",
        &["`contracts.curv.entry_tribute`", "no `contracts.curv`"],
    );
    check(
        "stray.toml",
        "\"contracts.curve.entry_tribute\" = { low = 0.0, high = 0.1 }\nbogus = 1\n",
        "bogus = 1",
        &["`search.bogus`", "give a range"],
    );
    // A valid [search] still validates, and is described.
    let path = write_file(
        dir.path(),
        "ok.toml",
        &format!("{CURVE}[search]\n\"contracts.curve.entry_tribute\" = {{ low = 0.0, high = 0.1 }}\n"),
    );
    let out = run(&["validate", path_str(&path)]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert!(stdout(&out).contains("contracts.curve.entry_tribute"), "{}", describe(&out));
}

/// `CURVE` with a small Morris design, run into `dir/out`.
fn morris_results(dir: &Path) -> std::path::PathBuf {
    let text = format!(
        "{CURVE}[sweep]\nmode = \"morris\"\ntrajectories = 2\n\"contracts.curve.entry_tribute\" = {{ low = 0.0, high = 0.2 }}\n\"contracts.curve.exit_tribute\" = {{ low = 0.0, high = 0.2 }}\n"
    );
    let path = write_file(dir, "m.toml", &text);
    let out = dir.join("out");
    run_ok(&path, &out, &[]);
    out
}

#[test]
fn sensitivity_replaces_an_earlier_analysis_only_with_force() {
    let dir = tempdir();
    let out = morris_results(dir.path());
    let file = out.join("sensitivity.parquet");
    let first = run(&["sensitivity", path_str(&out), "--metric", "pool", "-q"]);
    assert_eq!(code(&first), 0, "{}", describe(&first));
    let before = std::fs::read(&file).expect("sensitivity.parquet written");
    assert_eq!(strings(&read_parquet(&file), "metric")[0], "pool");

    let again = ["sensitivity", path_str(&out), "--property", "funded", "-q"];
    fails(&again, &[path_str(&file), "already exists", "--force"]);
    assert_eq!(std::fs::read(&file).unwrap(), before, "the earlier analysis is untouched");

    let mut forced = again.to_vec();
    forced.push("--force");
    let o = run(&forced);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert_eq!(strings(&read_parquet(&file), "metric")[0], "funded", "replaced with --force");
}

#[test]
fn report_never_writes_over_a_file_of_the_results_it_reads() {
    let dir = tempdir();
    let out = morris_results(dir.path());
    let files = list_dir(&out);
    let has = |prefix: &str, ext: &str| files.iter().any(|f| f.starts_with(prefix) && f.ends_with(ext));
    assert!(has("ticks", ".parquet") && has("manifest", ".json"), "{files:?}");
    for name in &files {
        let target = out.join(name);
        let before = std::fs::read(&target).unwrap();
        for force in [true, false] {
            let mut args = vec!["report", path_str(&out), "-o", path_str(&target), "-q"];
            if force {
                args.push("--force");
            }
            fails(&args, &[path_str(&target), "not a report", "-o"]);
            assert_eq!(std::fs::read(&target).unwrap(), before, "{name} is untouched");
        }
    }
    // The directory itself is no report file either.
    fails(&["report", path_str(&out), "-o", path_str(&out), "--force", "-q"], &["not a report"]);
    assert!(!out.join("report.html").exists(), "nothing was written");

    // A report tokensim wrote may be replaced, at the default place or another.
    for o in [None, Some(out.join("mine.html"))] {
        let mut args = vec!["report", path_str(&out), "-q"];
        if let Some(o) = &o {
            args.extend(["-o", path_str(o)]);
        }
        for extra in [None, Some("--force")] {
            let mut a = args.clone();
            a.extend(extra);
            let r = run(&a);
            assert_eq!(code(&r), 0, "{}", describe(&r));
        }
    }
    assert_eq!(list_dir(&out).len(), files.len() + 2, "report.html and mine.html added");
}
