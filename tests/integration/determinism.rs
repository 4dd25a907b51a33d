//! Same scenario and seed give byte-identical output at any thread count;
//! a different seed gives a different history.

use std::path::Path;

use crate::common::*;

/// Above the engine's 4096-agents-per-table threshold, so Decide runs in
/// parallel when there are several threads.
const AGENTS: u64 = 20_000;
const TICKS: u32 = 30;

fn bytes(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()))
}

/// Runs `scenario` with `--jobs 1` and `--jobs 2` and asserts identical
/// `ticks`, `events` and `agents` files. Returns the `--jobs 2` directory.
fn assert_thread_count_invariant(dir: &Path, scenario: &Path, tag: &str) -> std::path::PathBuf {
    let one = dir.join(format!("{tag}-jobs1"));
    let two = dir.join(format!("{tag}-jobs2"));
    run_ok(scenario, &one, &["--jobs", "1", "--events"]);
    run_ok(scenario, &two, &["--jobs", "2", "--events"]);
    assert_eq!(manifest(&one)["threads"], 1, "--jobs 1 uses one thread");
    assert_eq!(manifest(&two)["threads"], 2, "--jobs 2 uses two threads");
    for file in ["ticks.parquet", "events.parquet", "agents.parquet", "runs.parquet"] {
        assert!(
            bytes(&one, file) == bytes(&two, file),
            "{tag}: {file} differs between --jobs 1 and --jobs 2"
        );
    }
    let ticks = read_parquet(&two.join("ticks.parquet"));
    assert!(u64s(&ticks, "n_trades").iter().sum::<u64>() > 1000, "{tag}: the population trades");
    two
}

/// Whether the non-replayed events of every tick come in ascending agent id.
fn events_in_agent_order(dir: &Path) -> bool {
    let events = read_parquet(&dir.join("events.parquet"));
    let (tick, agent) = (u64s(&events, "tick"), u64s(&events, "agent_id"));
    (1..events.num_rows()).all(|i| tick[i] != tick[i - 1] || agent[i] >= agent[i - 1])
}

#[test]
fn output_does_not_depend_on_thread_count() {
    let dir = tempdir();
    let text = small_market(AGENTS, TICKS, TICKS);
    let scenario = write_file(dir.path(), "market.toml", &text);
    let ordered = assert_thread_count_invariant(dir.path(), &scenario, "agent_id");
    assert!(events_in_agent_order(&ordered), "ordering = agent_id settles agents in id order");

    let shuffled_text = replace_once(&text, "ordering = \"agent_id\"", "ordering = \"shuffle\"");
    let shuffled = write_file(dir.path(), "shuffled.toml", &shuffled_text);
    let shuffled = assert_thread_count_invariant(dir.path(), &shuffled, "shuffle");
    assert!(!events_in_agent_order(&shuffled), "ordering = shuffle must not settle in id order");
}

#[test]
fn a_different_seed_gives_a_different_price_path() {
    let dir = tempdir();
    let scenario = write_file(dir.path(), "market.toml", &small_market(500, 20, 0));
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    run_ok(&scenario, &a, &[]);
    run_ok(&scenario, &b, &["--seed", "7"]);
    run_ok(&scenario, &c, &["--seed", "7"]);
    let price = |d: &Path| f64s(&read_parquet(&d.join("ticks.parquet")), "price");
    let (pa, pb) = (price(&a), price(&b));
    assert_eq!(pa.len(), 20);
    assert_ne!(pa, pb, "seeds 42 and 7 gave the same price trajectory");
    assert!(pa.iter().zip(&pb).filter(|(x, y)| x != y).count() >= 15, "most ticks differ across seeds");
    assert_eq!(pb, price(&c), "the same seed repeats exactly");
    assert_eq!(manifest(&a)["seed"], 42);
    assert_eq!(manifest(&b)["seed"], 7);
}
