//! The stock-and-flow diagram of every shipped scenario, laid out: label
//! boxes clear of each other and of the parts' boxes, paths around the boxes
//! they do not connect, arrows from payer to payee for the flows each
//! scenario's mechanisms make (a closed list per scenario, written from the
//! mechanisms' semantics), and stocks named for what they are.

use std::path::Path;

use tokensim::engine::registry::Registry;
use tokensim::report::Diagram;
use tokensim::report::diagram::FlowKind::{self, Acts, Reads, Reference};
use tokensim::report::diagram_svg::{Layout, Rect, layout};
use tokensim::scenario::LoadedScenario;

use crate::common::shipped_scenario;

#[path = "../../examples/user_crate/src/faucet.rs"]
#[allow(dead_code)]
mod faucet;

/// Every shipped scenario with the registry that runs it.
fn shipped() -> Vec<(String, Diagram)> {
    let mut registry = Registry::builtin();
    faucet::register(&mut registry);
    let mut files: Vec<_> = std::fs::read_dir(shipped_scenario(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/user_crate/faucet_dips.toml"));
    assert!(files.len() >= 10, "{files:?}");
    files
        .iter()
        .map(|f| {
            let loaded = LoadedScenario::load(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            let d =
                Diagram::of_scenario(&loaded, &registry).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            (f.file_stem().unwrap().to_string_lossy().into_owned(), d)
        })
        .collect()
}

/// Distance from `p` to the box `r` (0 inside).
fn distance(r: &Rect, p: (f64, f64)) -> f64 {
    let dx = (r.x - p.0).max(p.0 - (r.x + r.w)).max(0.0);
    let dy = (r.y - p.1).max(p.1 - (r.y + r.h)).max(0.0);
    dx.hypot(dy)
}

/// What is wrong with the geometry of `l`, the layout of `d`.
fn problems(d: &Diagram, l: &Layout) -> Vec<String> {
    let mut out = Vec::new();
    let part = |name: &str| d.parts.iter().position(|p| p.name == name).unwrap();
    for (i, a) in l.parts.iter().enumerate() {
        for (j, b) in l.parts.iter().enumerate().skip(i + 1) {
            if a.overlaps(b) {
                out.push(format!("parts {} and {} overlap", d.parts[i].name, d.parts[j].name));
            }
        }
    }
    for (i, (f, drawn)) in d.flows.iter().zip(&l.flows).enumerate() {
        let Some(drawn) = drawn else {
            out.push(format!("flow {} -> {} not drawn", f.from, f.to));
            continue;
        };
        let name = format!("flow {} -> {} ({})", f.from, f.to, f.text());
        for (j, p) in l.parts.iter().enumerate() {
            if drawn.label.overlaps(p) {
                out.push(format!("{name}: label overlaps part {}", d.parts[j].name));
            }
        }
        for (g, other) in d.flows.iter().zip(&l.flows).skip(i + 1) {
            if other.as_ref().is_some_and(|o| o.label.overlaps(&drawn.label)) {
                out.push(format!("{name}: label overlaps the label of {} -> {}", g.from, g.to));
            }
        }
        // The path leaves the payer's box and ends at the payee's, with the
        // arrowhead there (and one at the start only for a two-way flow).
        let (a, b) = (part(&f.from), part(&f.to));
        let (start, end) = drawn.route.ends().unwrap();
        if distance(&l.parts[a], start) > 2.0 || distance(&l.parts[b], end) > 2.0 {
            out.push(format!(
                "{name}: runs from {start:?} to {end:?}, not from its payer's box to its payee's"
            ));
        }
        if !drawn.route.head_end || drawn.route.head_start != f.two_way {
            out.push(format!("{name}: arrowheads {:?}", (drawn.route.head_start, drawn.route.head_end)));
        }
        // Around the boxes it does not connect.
        for (j, p) in l.parts.iter().enumerate() {
            if j != a && j != b && drawn.route.sample(16).iter().any(|&q| p.contains(q, 2.0)) {
                out.push(format!("{name}: crosses part {}", d.parts[j].name));
            }
        }
    }
    out
}

#[test]
fn every_shipped_diagram_keeps_labels_apart_and_routes_around_boxes() {
    let mut all = Vec::new();
    for (name, d) in shipped() {
        let l = layout(&d);
        assert_eq!(l.parts.len(), d.parts.len());
        assert_eq!(l.flows.len(), d.flows.len());
        all.extend(problems(&d, &l).into_iter().map(|p| format!("{name}: {p}")));
    }
    assert!(all.is_empty(), "\n{}", all.join("\n"));
}

/// `(from, to, label, kind, two-way, assets)`: `from` pays `to`.
type Known = (&'static str, &'static str, &'static str, FlowKind, bool, &'static [&'static str]);

/// Every flow of each scenario, written from what its mechanisms do: a
/// curve pays tributes in its reserve to its treasury and mints its initial
/// supply to `initial_holder`; a staking pool's treasury pays rewards into
/// the stakers' wallets; an emission mints into its recipient; a vesting
/// contract unlocks into its holders; a stake or a deposit goes in, an
/// unstake, a loan or a withdrawal comes out, a trade or a liquidation goes
/// both ways; oracles and reference prices are read. Assets are listed for
/// payments only (a behaviour's flows list what the contract holds).
fn known(scenario: &str) -> Vec<Known> {
    const DAI: &[&str] = &["DAI"];
    const TKN: &[&str] = &["TKN"];
    const LP: &[&str] = &["LP"];
    const NONE: &[&str] = &[];
    let curve_market = vec![
        ("curve", "funding_pool", "tributes", Reference, false, DAI),
        ("curve", "hatch", "initial supply", Reference, false, TKN),
        ("funding_pool", "traders", "rewards (staking)", Reference, false, DAI),
        ("traders", "curve", "noise_trader: buy, sell", Acts, true, NONE),
        ("traders", "staking", "staker: stake", Acts, false, NONE),
        ("staking", "traders", "staker: unstake", Acts, false, NONE),
    ];
    let lending = |savers: bool| {
        let mut v = vec![
            ("pool", "genesis_lp", "initial LP tokens", Reference, false, LP),
            ("pool", "market", "price", Reads, false, NONE),
            ("arbitrageurs", "pool", "arbitrageur: buy, sell", Acts, true, NONE),
            ("eth_usd", "arbitrageurs", "arbitrageur: reads", Reads, false, NONE),
            ("leveraged", "market", "borrower: deposit, repay", Acts, false, NONE),
            ("market", "leveraged", "borrower: redeem, borrow", Acts, false, NONE),
            ("leveraged", "pool", "borrower: buy", Acts, true, NONE),
            ("liquidators", "market", "liquidator: liquidate", Acts, true, NONE),
            ("liquidators", "pool", "liquidator: sell", Acts, true, NONE),
        ];
        if savers {
            v.push(("savers", "market", "borrower: deposit, repay", Acts, false, NONE));
            v.push(("market", "savers", "borrower: redeem, borrow", Acts, false, NONE));
        }
        v
    };
    match scenario {
        "amm_arbitrage" => vec![
            ("pool", "genesis_lp", "initial LP tokens", Reference, false, LP),
            ("feed", "pool", "price", Reads, false, NONE),
            ("arbitrageurs", "pool", "arbitrageur: buy, sell", Acts, true, NONE),
            ("feed", "arbitrageurs", "arbitrageur: reads", Reads, false, NONE),
            ("traders", "pool", "noise_trader: buy, sell", Acts, true, NONE),
            ("lps", "pool", "liquidity_provider: deposit", Acts, false, NONE),
            ("pool", "lps", "liquidity_provider: redeem", Acts, false, NONE),
        ],
        "commons_abc" => vec![
            ("abc", "funding_pool", "tributes", Reference, false, DAI),
            ("hatchers", "abc", "noise_trader: buy, sell", Acts, true, NONE),
            ("hatchers", "abc", "hatcher: buy", Acts, true, NONE),
            ("abc", "hatchers", "hatcher: redeem", Acts, false, NONE),
            ("noise", "abc", "noise_trader: buy, sell", Acts, true, NONE),
            ("trend", "abc", "trend_follower: buy, sell", Acts, true, NONE),
            ("reverters", "abc", "mean_reverter: buy, sell", Acts, true, NONE),
        ],
        "eth_calibration" => vec![],
        "lending_cascade" => lending(true),
        "lending_stress" => lending(false),
        "market" | "tribute_sweep" => curve_market,
        "staking_emission" => vec![
            ("emission", "rewards", "emissions", Reference, false, TKN),
            ("rewards", "stakers", "rewards (staking)", Reference, false, TKN),
            ("stakers", "staking", "staker: stake", Acts, false, NONE),
            ("staking", "stakers", "staker: unstake", Acts, false, NONE),
        ],
        "vesting_unlock" => vec![
            ("treasury", "curve", "buybacks", Reference, true, DAI),
            ("curve", "treasury", "tributes", Reference, false, DAI),
            ("curve", "hatch", "initial supply", Reference, false, TKN),
            ("team_vesting", "team", "unlocks", Reference, false, TKN),
            ("investor_vesting", "investors", "unlocks", Reference, false, TKN),
            ("team", "curve", "vested_holder: sell", Acts, true, NONE),
            ("investors", "curve", "vested_holder: sell", Acts, true, NONE),
            ("traders", "curve", "noise_trader: buy, sell", Acts, true, NONE),
        ],
        "faucet_dips" => vec![
            ("curve", "pool", "tributes", Reference, false, DAI),
            ("curve", "hatch", "initial supply", Reference, false, TKN),
            ("faucet", "buyers", "dip_buyer: withdraw", Acts, false, NONE),
            ("buyers", "curve", "dip_buyer: buy", Acts, true, NONE),
        ],
        other => panic!("no known flows written for scenario {other}: add them"),
    }
}

#[test]
fn known_flows_point_from_payer_to_payee() {
    for (name, d) in shipped() {
        let mut drawn: Vec<String> = d
            .flows
            .iter()
            .map(|f| {
                let assets = if f.kind == Reference { f.assets.join(",") } else { String::new() };
                format!("{} -> {} {:?} {:?} two_way={} [{assets}]", f.from, f.to, f.label, f.kind, f.two_way)
            })
            .collect();
        let mut want: Vec<String> = known(&name)
            .iter()
            .map(|(from, to, label, kind, two_way, assets)| {
                format!("{from} -> {to} {label:?} {kind:?} two_way={two_way} [{}]", assets.join(","))
            })
            .collect();
        drawn.sort();
        want.sort();
        assert_eq!(drawn, want, "{name}");
    }
}

#[test]
fn a_lending_markets_cash_is_cash() {
    for (name, d) in shipped() {
        for part in d.parts.iter().filter(|p| p.detail == "lending_market") {
            let lines: Vec<String> = part.stocks.iter().map(|s| s.line()).collect();
            assert!(
                part.stocks.iter().any(|s| s.via == "cash" && s.name == "USDC" && !s.position),
                "{name}: {lines:?}"
            );
            assert!(part.stocks.iter().all(|s| s.via != "debt"), "{name}: {lines:?}");
        }
    }
}
