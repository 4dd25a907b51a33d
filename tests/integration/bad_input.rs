//! Every user mistake is exit code 2 with a message that names the file,
//! the place, the field and the valid choices, and never a panic.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::*;

/// A small valid scenario the cases below break one key at a time.
const BASE: &str = r#"name = "base"
ticks = 3
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
exit_tribute = 0.05
treasury = "funding_pool"

[contracts.staking]
kind = "staking_pool"
token = "TKN"
reward_asset = "DAI"
treasury = "funding_pool"
rate = 0.01

[populations.traders]
count = 10
balances = { DAI = 100.0 }

[populations.traders.behaviours.noise_trader]
contract = "curve"
p_trade = 0.5
"#;

/// What a failing command must say.
struct Expect<'a> {
    /// Text in the scenario whose line:col the error must point at
    /// (`None` when no key is concerned).
    at: Option<&'a str>,
    /// Substrings stderr must contain (field, value, choices).
    says: &'a [&'a str],
}

/// Runs `args`, asserts exit 2, no panic, `error:` on stderr and the
/// expected substrings, and returns stderr.
#[track_caller]
fn fails(args: &[&str], says: &[&str]) -> String {
    let out = run(args);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "tokensim {args:?} must exit 2\n{}", describe(&out));
    assert!(!err.contains("panicked"), "tokensim {args:?} panicked:\n{err}");
    assert!(err.starts_with("error: "), "stderr must start with `error: `:\n{err}");
    for s in says {
        assert!(err.contains(s), "stderr of tokensim {args:?} must mention {s:?}:\n{err}");
    }
    err
}

/// Writes `text` as a scenario, then checks both `run` and `validate`
/// reject it as `expect` says, and that `run` creates no output directory.
#[track_caller]
fn rejects(text: &str, expect: Expect<'_>) -> String {
    let dir = tempdir();
    let path = write_file(dir.path(), "bad.toml", text);
    check_rejects(dir.path(), &path, text, expect)
}

#[track_caller]
fn check_rejects(dir: &Path, path: &Path, text: &str, expect: Expect<'_>) -> String {
    let file = path_str(path);
    let mut says: Vec<String> = expect.says.iter().map(|s| s.to_string()).collect();
    match expect.at {
        Some(needle) => {
            let (line, col) = line_col_of(text, needle);
            says.push(format!("{file}:{line}:{col}"));
        }
        None => says.push(file.to_string()),
    }
    let says: Vec<&str> = says.iter().map(String::as_str).collect();
    let out = dir.join("out");
    let err = fails(&["run", file, "-o", path_str(&out), "--quiet"], &says);
    assert!(!out.exists(), "a rejected scenario must not create its output directory");
    fails(&["validate", file], &says);
    err
}

#[test]
fn base_scenario_is_valid() {
    let dir = tempdir();
    let path = write_file(dir.path(), "base.toml", BASE);
    let out = run(&["validate", path_str(&path)]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
}

#[test]
fn unknown_mechanism_kind_lists_registered_kinds() {
    let text = replace_once(BASE, "kind = \"bonding_curve\"", "kind = \"bonding_curv\"");
    rejects(
        &text,
        Expect {
            at: Some("kind = \"bonding_curv\""),
            says: &["`contracts.curve.kind`", "bonding_curv", "bonding_curve", "treasury", "staking_pool"],
        },
    );
}

#[test]
fn unknown_contract_field_lists_valid_fields() {
    let text = replace_once(BASE, "slope = 1e-6\n", "slope = 1e-6\nslop = 2.0\n");
    let err =
        rejects(&text, Expect { at: Some("slop = 2.0"), says: &["`contracts.curve.slop`", "unknown field"] });
    // Every parameter the curve documents in `tokensim list` is offered.
    for field in [
        "reserve_asset",
        "token",
        "exponent",
        "slope",
        "initial_supply",
        "initial_holder",
        "entry_tribute",
        "exit_tribute",
        "treasury",
    ] {
        assert!(err.contains(&format!("`{field}`")), "valid field `{field}` not listed:\n{err}");
    }
}

#[test]
fn tribute_of_one_is_out_of_range() {
    let text = replace_once(BASE, "entry_tribute = 0.05", "entry_tribute = 1.0");
    rejects(
        &text,
        Expect {
            at: Some("entry_tribute = 1.0"),
            says: &["`contracts.curve.entry_tribute`", "out of range", "[0, 1)"],
        },
    );
}

#[test]
fn negative_population_count() {
    let text = replace_once(BASE, "count = 10", "count = -5");
    rejects(&text, Expect { at: Some("count = -5"), says: &["`populations.traders.count`", "-5"] });
}

#[test]
fn missing_orders_file() {
    let text = format!("{BASE}\n[orders]\nfile = \"no_such_orders.csv\"\n");
    rejects(
        &text,
        Expect { at: Some("file = "), says: &["`orders.file`", "no_such_orders.csv", "does not exist"] },
    );
}

/// A bad row of the orders file is located twice: at the scenario's
/// `orders.file` (file, line, column) and at the row in the orders file.
#[test]
fn a_bad_orders_row_is_located_in_both_files() {
    let dir = tempdir();
    write_file(dir.path(), "orders.csv", "tick,agent_id,side,amount\n1,0,buy,NaN\n");
    let text = format!("{BASE}\n[orders]\nfile = \"orders.csv\"\n");
    let path = write_file(dir.path(), "bad.toml", &text);
    let expect = Expect { at: Some("file = "), says: &["`orders.file`", "orders.csv: line 2", "`amount`"] };
    check_rejects(dir.path(), &path, &text, expect);
    // An agent the scenario does not have, likewise.
    write_file(dir.path(), "orders.csv", "tick,agent_id,side,amount\n1,99,buy,1\n");
    let expect = Expect { at: Some("file = "), says: &["`orders.file`", "`agent_id` 99 does not exist"] };
    check_rejects(dir.path(), &path, &text, expect);
}

/// An error inside a value given by `--set` is the flag's, not the file's,
/// with the field written as `--set` writes it (`shocks.0.tick`).
#[test]
fn an_error_inside_a_set_value_names_the_flag() {
    let dir = tempdir();
    let path = write_file(dir.path(), "base.toml", BASE);
    let pm = r#"metrics.pm={ population = "traders", of = "DAI", stat = "quantile", q = 2 }"#;
    let err = fails(&["validate", path_str(&path), "--set", pm], &["`metrics.pm.q`", "[0, 1]"]);
    assert!(err.starts_with("error: --set: "), "{err}");
    let feed =
        r#"contracts.feed={ kind = "price_feed", initial = 1.0, shocks = [{ tick = -1, factor = 0.5 }] }"#;
    let err = fails(&["validate", path_str(&path), "--set", feed], &["`contracts.feed.shocks.0.tick`", "-1"]);
    assert!(err.starts_with("error: --set: "), "{err}");
}

#[test]
fn nonexistent_scenario_file() {
    let dir = tempdir();
    let path = dir.path().join("nowhere.toml");
    let out = dir.path().join("out");
    fails(&["run", path_str(&path), "-o", path_str(&out)], &[path_str(&path)]);
    assert!(!out.exists());
    fails(&["validate", path_str(&path)], &[path_str(&path)]);
}

#[test]
fn toml_syntax_error_is_located() {
    let text = replace_once(BASE, "[contracts.staking]", "[contracts.staking");
    let dir = tempdir();
    let path = write_file(dir.path(), "bad.toml", &text);
    let (line, _) = line_col_of(&text, "[contracts.staking");
    let err = check_rejects(dir.path(), &path, &text, Expect { at: None, says: &[] });
    assert!(err.contains(&format!("{}:{line}:", path_str(&path))), "syntax error not at line {line}:\n{err}");
}

/// TOML's own errors say what they are about: the key set twice, the
/// integer too large for TOML (which holds i64 only).
#[test]
fn toml_errors_name_the_key_or_the_number() {
    let text = replace_once(BASE, "ticks = 3", "ticks = 3\nticks = 4");
    rejects(&text, Expect { at: Some("ticks = 4"), says: &["duplicate key `ticks`"] });
    for big in ["9223372036854775808", "18446744073709551616"] {
        let text = replace_once(BASE, "ticks = 3", &format!("ticks = {big}"));
        let says = [format!("`{big}` is outside the integers TOML can hold"), i64::MAX.to_string()];
        rejects(&text, Expect { at: Some(big), says: &[&says[0], &says[1]] });
    }
}

#[test]
fn unknown_behaviour_lists_registered_behaviours() {
    let text = replace_once(BASE, "behaviours.noise_trader]", "behaviours.noise_trder]");
    rejects(
        &text,
        Expect {
            at: Some("noise_trder]"),
            says: &["`populations.traders.behaviours.noise_trder`", "noise_trader", "staker"],
        },
    );
}

#[test]
fn behaviour_on_a_contract_that_cannot_trade() {
    let text = replace_once(BASE, "contract = \"curve\"", "contract = \"funding_pool\"");
    rejects(
        &text,
        Expect {
            at: Some("contract = \"funding_pool\""),
            says: &["`populations.traders.behaviours.noise_trader.contract`", "funding_pool", "buy", "curve"],
        },
    );
}

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    list_dir(dir)
        .into_iter()
        .map(|f| (f.clone(), std::fs::read(dir.join(&f)).expect("read result")))
        .collect()
}

#[test]
fn existing_results_need_force() {
    let dir = tempdir();
    let scenario = write_file(dir.path(), "base.toml", BASE);
    let out = dir.path().join("out");
    run_ok(&scenario, &out, &[]);
    let first = snapshot(&out);
    assert!(first.contains_key("manifest.json") && first.contains_key("ticks.parquet"), "{:?}", first.keys());

    // A second run, even with another seed, must not touch the results.
    let args = ["run", path_str(&scenario), "-o", path_str(&out), "--quiet", "--seed", "9"];
    fails(&args, &["--force", path_str(&out)]);
    assert!(first == snapshot(&out), "a refused run changed the existing results");

    let mut forced = args.to_vec();
    forced.push("--force");
    let done = run(&forced);
    assert_eq!(code(&done), 0, "{}", describe(&done));
    assert_eq!(manifest(&out)["seed"], 9, "--force replaced the results");
    assert_eq!(manifest(&out)["status"], "complete");
}

#[test]
fn force_leaves_files_that_are_not_tokensim_results() {
    // `prepare_dir` promises to remove only tokensim's own files and leave
    // others alone, but `is_ours` matches any name ending in `.parquet`, so
    // an orders file (or any dataset) in the output directory is deleted.
    let dir = tempdir();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("create out");
    write_file(&out, "notes.txt", "mine");
    write_file(&out, "my_prices.parquet", "not tokensim's");
    let scenario = write_file(dir.path(), "base.toml", BASE);
    run_ok(&scenario, &out, &["--force"]);
    let files = list_dir(&out);
    assert!(files.contains(&"notes.txt".to_string()), "{files:?}");
    assert!(files.contains(&"my_prices.parquet".to_string()), "--force deleted a user file: {files:?}");
}

#[test]
fn negative_or_overflowing_seed_is_a_clear_error() {
    let dir = tempdir();
    let path = write_file(dir.path(), "base.toml", BASE);
    let out = dir.path().join("out");
    for bad in ["-5", "18446744073709551616", "1.5"] {
        let args = ["run", path_str(&path), "-o", path_str(&out), "--quiet", "--seed", bad];
        let o = run(&args);
        let err = stderr(&o);
        assert_eq!(code(&o), 2, "--seed {bad} must be refused\n{}", describe(&o));
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains("--seed") && err.contains(bad) && err.contains("18446744073709551615"), "{err}");
        assert!(!out.exists(), "a refused --seed must not create the output directory");
    }
}

#[test]
fn absurd_jobs_is_refused_before_any_thread_starts() {
    let dir = tempdir();
    let path = write_file(dir.path(), "base.toml", BASE);
    let out = dir.path().join("out");
    for bad in ["100000000", "-3", "0"] {
        let o = run(&["run", path_str(&path), "-o", path_str(&out), "--quiet", "--jobs", bad]);
        let err = stderr(&o);
        assert_eq!(code(&o), 2, "--jobs {bad} must be refused\n{}", describe(&o));
        assert!(!err.contains("panicked") && err.contains("--jobs") && err.contains("1 to 1024"), "{err}");
        assert!(!out.exists());
    }
}

#[test]
fn empty_metric_names_are_located() {
    let renamed = format!("{BASE}\n[metrics]\n\"\" = \"curve.price\"\n");
    rejects(&renamed, Expect { at: Some("\"\" = \"curve.price\""), says: &["metrics."] });
    let population =
        format!("{BASE}\n[metrics]\n\"\" = {{ population = \"traders\", of = \"DAI\", stat = \"sum\" }}\n");
    rejects(&population, Expect { at: Some("\"\" = {"), says: &["metrics."] });
    let reserved =
        format!("{BASE}\n[metrics]\nn_tx = {{ population = \"traders\", of = \"DAI\", stat = \"sum\" }}\n");
    rejects(&reserved, Expect { at: Some("n_tx = {"), says: &["metrics.n_tx", "n_tx"] });
}

/// A full disk (here: a file-size limit, which the writer sees as EFBIG) is
/// a located error and leaves nothing that looks complete.
#[cfg(unix)]
#[test]
fn a_full_disk_names_the_file_and_leaves_no_complete_results() {
    let dir = tempdir();
    let text = BASE.replace("ticks = 3", "ticks = 400").replace("count = 10", "count = 400");
    let path = write_file(dir.path(), "big.toml", &text);
    let out = dir.path().join("out");
    let bin = assert_cmd::cargo::cargo_bin("tokensim");
    // 64 blocks of 512 bytes: the manifest fits, the event log does not.
    let script = format!(
        "trap '' XFSZ; ulimit -f 64; exec '{}' run '{}' -o '{}' --quiet --events",
        bin.display(),
        path.display(),
        out.display()
    );
    let o = std::process::Command::new("sh").args(["-c", &script]).output().expect("sh runs");
    let err = stderr(&o);
    assert_ne!(o.status.code(), Some(0), "a run that could not write its results must fail\n{err}");
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(".parquet"), "the error must name the file it could not write:\n{err}");
    if out.join("manifest.json").exists() {
        let m = manifest(&out);
        assert_ne!(m["status"], "complete", "a failed run left a manifest that says complete");
    }
    for name in ["ticks.parquet", "events.parquet"] {
        let file = out.join(name);
        if file.exists() {
            assert!(
                parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&file).unwrap())
                    .is_err(),
                "{name} is left behind as a readable Parquet file"
            );
        }
    }
}
