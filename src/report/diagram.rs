//! The stock-and-flow diagram of a scenario, derived from the
//! [`Topology`] its world records while
//! it is built, never drawn by hand.
//!
//! - **Stocks** are what a part holds: a contract's assets under the
//!   parameter that names them (`reserve_asset: DAI`, with its balance at
//!   genesis), the per-agent positions it keeps (`position: staked`), a
//!   named account's genesis holdings, a population's starting balances.
//! - **Flows** go the way value moves, as declared: a reference
//!   parameter's [`Moves`](crate::engine::topology::Moves) (a curve's
//!   `treasury` receives `tributes` in its reserve asset; a staking pool's
//!   `treasury` pays `rewards` into the stakers' wallets), a behaviour's
//!   actions by [`Action::way`](crate::engine::intent::Action::way) (a stake
//!   goes in, a loan comes out, a trade goes both ways). Price reads are
//!   flows of no value, from the part read to the reader.
//!
//! [`Diagram`] is serialisable: `manifest.json` records it so a report can
//! draw the system without the scenario file.

use crate::engine::Simulation;
use crate::engine::ids::AssetId;
use crate::engine::ledger::{Ledger, SlotKind};
use crate::engine::registry::Registry;
use crate::engine::topology::{EdgeKind, Role, Topology, Way};
use crate::error::Error;
use crate::scenario::LoadedScenario;

pub use crate::output::diagram::{Diagram, Flow, FlowKind, Part, PartKind, Stock};

impl Diagram {
    /// Builds the scenario's world (one agent per population, as
    /// `validate` does) and derives its diagram.
    pub fn of_scenario(loaded: &LoadedScenario, registry: &Registry) -> Result<Diagram, Error> {
        let run = crate::engine::RunSpec::single(loaded.scenario.seed);
        let mut sim = Simulation::validate(loaded, registry, &run)?;
        Ok(Diagram::of(loaded, &mut sim))
    }

    /// The diagram of a built world. Contract balances are those the
    /// contracts set up at genesis: the backing of positions agents start
    /// with is left out, since `sim` may hold only one agent per population.
    pub fn of(loaded: &LoadedScenario, sim: &mut Simulation) -> Diagram {
        let topology = sim.topology().clone();
        let slots = sim.slots().clone();
        // Backing issued for the agents' starting positions, per (contract, asset).
        let mut agent_backing: Vec<(String, AssetId, f64)> = Vec::new();
        sim.for_each_agent(|_, wallet| {
            for (i, slot) in slots.slots.iter().enumerate() {
                if let SlotKind::Position { contract, backing: Some(asset) } = &slot.kind {
                    let held = wallet.balances()[i];
                    if held != 0.0 {
                        agent_backing.push((contract.clone(), *asset, held));
                    }
                }
            }
        });
        let ledger = sim.world.resource::<Ledger>();
        let asset_id = |name: &str| topology.assets.iter().position(|a| a == name).map(|i| AssetId(i as u8));
        let balance = |account: &str, asset: AssetId| -> Option<f64> {
            let id = ledger.find(account)?;
            let backing: f64 =
                agent_backing.iter().filter(|(c, a, _)| c == account && *a == asset).map(|(_, _, x)| x).sum();
            Some(ledger.balance(id, asset) - backing)
        };
        let backed_by_agents =
            |account: &str, asset: AssetId| agent_backing.iter().any(|(c, a, _)| c == account && *a == asset);

        let mut parts: Vec<Part> = Vec::new();
        // Populations first (left), then contracts and accounts as built.
        let ordered = topology
            .nodes
            .iter()
            .filter(|n| n.role == Role::Population)
            .chain(topology.nodes.iter().filter(|n| n.role != Role::Population));
        for node in ordered {
            let mut stocks = Vec::new();
            let kind = match node.role {
                Role::Population => {
                    if let Some(pop) = loaded.scenario.populations.get(&node.name) {
                        let table = loaded
                            .table
                            .get("populations")
                            .and_then(|p| p.get(&node.name))
                            .and_then(|p| p.get("balances"));
                        for name in pop.balances.keys() {
                            let value = table.and_then(|b| b.get(name)).map(genesis_text).unwrap_or_default();
                            let position = slots
                                .slots
                                .iter()
                                .any(|s| &s.name == name && matches!(s.kind, SlotKind::Position { .. }));
                            stocks.push(Stock {
                                name: name.clone(),
                                via: String::new(),
                                position,
                                genesis: if value.is_empty() { value } else { format!("{value} each") },
                            });
                        }
                    }
                    PartKind::Population
                }
                Role::Contract => {
                    for e in topology.edges.iter().filter(|e| e.from == node.name) {
                        match e.kind {
                            EdgeKind::Asset => {
                                if stocks.iter().any(|s: &Stock| s.name == e.to && !s.position) {
                                    continue;
                                }
                                let genesis = asset_id(&e.to)
                                    .and_then(|a| {
                                        let b = balance(&node.name, a)?;
                                        let plus = if backed_by_agents(&node.name, a) {
                                            " + agents' positions"
                                        } else {
                                            ""
                                        };
                                        Some(format!("{}{plus}", fmt_amount(b)))
                                    })
                                    .unwrap_or_default();
                                stocks.push(Stock {
                                    name: e.to.clone(),
                                    via: e.label.clone(),
                                    position: false,
                                    genesis,
                                });
                            }
                            EdgeKind::Position => stocks.push(Stock {
                                name: e.to.clone(),
                                via: e.label.clone(),
                                position: true,
                                genesis: String::new(),
                            }),
                            EdgeKind::Reference | EdgeKind::Acts => {}
                        }
                    }
                    PartKind::Contract
                }
                Role::Account => {
                    for (i, asset) in topology.assets.iter().enumerate() {
                        if let Some(b) = balance(&node.name, AssetId(i as u8))
                            && b != 0.0
                        {
                            stocks.push(Stock {
                                name: asset.clone(),
                                via: String::new(),
                                position: false,
                                genesis: fmt_amount(b),
                            });
                        }
                    }
                    PartKind::Account
                }
            };
            let detail = if node.detail == "1 agents" { "1 agent".to_string() } else { node.detail.clone() };
            parts.push(Part { name: node.name.clone(), kind, detail, stocks });
        }

        let flows = flows(&topology, &parts);
        Diagram { name: loaded.scenario.name.clone(), assets: topology.assets.clone(), parts, flows }
    }

    /// The part called `name`.
    pub fn part(&self, name: &str) -> Option<&Part> {
        self.parts.iter().find(|p| p.name == name)
    }
}

/// The flows of `topology` between `parts`, each from the part value leaves
/// to the part it reaches, as the edges'
/// [`Moves`](crate::engine::topology::Moves) say.
fn flows(topology: &Topology, parts: &[Part]) -> Vec<Flow> {
    // The assets a part holds, or the positions it starts with.
    let stocks = |part: &str, position: bool| -> Vec<String> {
        let part = parts.iter().find(|p| p.name == part);
        let held = part.map(|p| p.stocks.iter().filter(|s| s.position == position).map(|s| s.name.clone()));
        held.map(Iterator::collect).unwrap_or_default()
    };
    let holds = |part: &str| stocks(part, false);
    let mut flows = Vec::new();
    let flow = |from: &str, to: &str, label: &str, kind: FlowKind, assets: Vec<String>, two_way: bool| Flow {
        from: from.to_string(),
        to: to.to_string(),
        label: label.to_string(),
        kind,
        assets,
        two_way,
    };
    for e in &topology.edges {
        match (e.kind, &e.moves) {
            (EdgeKind::Acts, Some(m)) => {
                // A behaviour moves what its contract holds (and what agents bring).
                let assets = holds(&e.to);
                flows.push(match m.way {
                    Way::Forward => flow(&e.from, &e.to, &e.label, FlowKind::Acts, assets, false),
                    Way::Backward => flow(&e.to, &e.from, &e.label, FlowKind::Acts, assets, false),
                    Way::Reads => flow(&e.to, &e.from, &e.label, FlowKind::Reads, Vec::new(), false),
                    Way::Both | Way::ToUsers => flow(&e.from, &e.to, &e.label, FlowKind::Acts, assets, true),
                });
            }
            (EdgeKind::Reference, Some(m)) => {
                let assets = if m.asset.is_empty() { Vec::new() } else { vec![m.asset.clone()] };
                let what = m.what.as_str();
                match m.way {
                    Way::Forward => {
                        flows.push(flow(&e.from, &e.to, what, FlowKind::Reference, assets, false))
                    }
                    Way::Backward => {
                        flows.push(flow(&e.to, &e.from, what, FlowKind::Reference, assets, false))
                    }
                    Way::Both => flows.push(flow(&e.from, &e.to, what, FlowKind::Reference, assets, true)),
                    Way::Reads => flows.push(flow(&e.to, &e.from, what, FlowKind::Reads, Vec::new(), false)),
                    Way::ToUsers => {
                        // Paid into the wallets of the populations acting on `from`.
                        let label = format!("{what} ({})", e.from);
                        let mut users: Vec<&str> = Vec::new();
                        for a in topology.edges.iter().filter(|a| a.kind == EdgeKind::Acts && a.to == e.from)
                        {
                            let reads = a.moves.as_ref().is_some_and(|m| m.way == Way::Reads);
                            if !reads && !users.contains(&a.from.as_str()) {
                                users.push(&a.from);
                            }
                        }
                        for user in users {
                            flows.push(flow(&e.to, user, &label, FlowKind::Reference, assets.clone(), false));
                        }
                    }
                }
            }
            (EdgeKind::Position, Some(m)) if m.way == Way::ToUsers => {
                let assets = if m.asset.is_empty() { Vec::new() } else { vec![m.asset.clone()] };
                for p in parts.iter().filter(|p| p.kind == PartKind::Population) {
                    if stocks(&p.name, true).contains(&e.to) {
                        flows.push(flow(
                            &e.from,
                            &p.name,
                            &m.what,
                            FlowKind::Reference,
                            assets.clone(),
                            false,
                        ));
                    }
                }
            }
            (EdgeKind::Reference | EdgeKind::Acts, None) => {
                // Declared without a direction: the contract pays or reads
                // the referent, in what both ends hold.
                let (a, b) = (holds(&e.from), holds(&e.to));
                let assets =
                    topology.assets.iter().filter(|x| a.contains(x) && b.contains(x)).cloned().collect();
                flows.push(flow(&e.from, &e.to, &e.label, FlowKind::Reference, assets, false));
            }
            (EdgeKind::Asset | EdgeKind::Position, _) => {}
        }
    }
    flows
}

/// A starting balance as written in the scenario: `1000`, or the
/// distribution's inline table.
fn genesis_text(value: &toml::Value) -> String {
    match value {
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => fmt_amount(*f),
        toml::Value::Table(t) if t.get("dist").and_then(|d| d.as_str()).is_some() => {
            let dist = t.get("dist").and_then(|d| d.as_str()).unwrap_or_default();
            let args: Vec<String> = t
                .iter()
                .filter(|(k, _)| *k != "dist")
                .map(|(k, v)| format!("{k} {}", genesis_text(v)))
                .collect();
            format!("~ {dist}({})", args.join(", "))
        }
        other => other.to_string(),
    }
}

/// An amount for a diagram: integers without decimals, others with up to
/// six significant digits.
pub fn fmt_amount(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        let s = format!("{x:.6}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_print_plainly() {
        assert_eq!(fmt_amount(500000.0), "500000");
        assert_eq!(fmt_amount(0.05), "0.05");
        assert_eq!(fmt_amount(-3.0), "-3");
    }
}
