//! The stock-and-flow diagram of a scenario, derived from the
//! [`Topology`](crate::engine::topology::Topology) its world records while
//! it is built, never drawn by hand.
//!
//! - **Stocks** are what a part holds: a contract's assets under the
//!   parameter that names them (`reserve_asset: DAI`, with its balance at
//!   genesis), the per-agent positions it keeps (`position: staked`), a
//!   named account's genesis holdings, a population's starting balances.
//! - **Flows** are the mechanisms between parts: a population's behaviour
//!   sending transactions to a contract (`noise_trader: buy, sell`), a
//!   contract paying or reading another contract or account (`treasury`).
//!   A flow is labelled with the assets both ends hold, which are the only
//!   ones it can move.
//!
//! [`Diagram`] is serialisable: `manifest.json` records it so a report can
//! draw the system without the scenario file.

use serde::{Deserialize, Serialize};

use crate::engine::Simulation;
use crate::engine::ids::AssetId;
use crate::engine::ledger::{Ledger, SlotKind};
use crate::engine::topology::{EdgeKind, Role};
use crate::error::Error;
use crate::registry::Registry;
use crate::scenario::LoadedScenario;

/// What a part of the system is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartKind {
    /// A population of agents (drawn first, on the left).
    Population,
    /// A contract (a mechanism instance).
    Contract,
    /// A named account that is not a contract (`hatch`).
    Account,
}

/// A stock: something a part holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stock {
    /// Asset or position name (`DAI`, `staked`).
    pub name: String,
    /// The parameter that declared it (`reserve_asset`), empty if none.
    pub via: String,
    /// Whether it is a per-agent position rather than an asset.
    pub position: bool,
    /// Amount at genesis, as text (`500000`, `1000 each`,
    /// `{ dist = "lognormal", … }`), empty if not known before the run.
    pub genesis: String,
}

impl Stock {
    /// `via: name genesis`, as one diagram line.
    pub fn line(&self) -> String {
        let mut s = String::new();
        if !self.via.is_empty() {
            s.push_str(&self.via);
            s.push_str(": ");
        }
        s.push_str(&self.name);
        if self.position {
            s.push_str(" (per agent)");
        }
        if !self.genesis.is_empty() {
            s.push(' ');
            s.push_str(&self.genesis);
        }
        s
    }
}

/// A part of the system: a population, contract or account, with its stocks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// Scenario name.
    pub name: String,
    /// Population, contract or account.
    pub kind: PartKind,
    /// Mechanism kind, `account`, or `N agents`.
    pub detail: String,
    /// What it holds.
    pub stocks: Vec<Stock>,
}

/// What a flow is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    /// A population's behaviour sends transactions to a contract.
    Acts,
    /// A contract pays, funds or reads another contract or account.
    Reference,
}

/// A flow between two parts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// Source part.
    pub from: String,
    /// Target part.
    pub to: String,
    /// `behaviour: actions` or the parameter that declared it.
    pub label: String,
    /// Behaviour or reference.
    pub kind: FlowKind,
    /// Assets both ends hold: what the flow can move.
    pub assets: Vec<String>,
}

impl Flow {
    /// The label with the assets it moves: `treasury · DAI`.
    pub fn text(&self) -> String {
        if self.assets.is_empty() {
            self.label.clone()
        } else {
            format!("{} · {}", self.label, self.assets.join(", "))
        }
    }
}

/// The stock-and-flow diagram of a scenario.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Diagram {
    /// Scenario name.
    pub name: String,
    /// Assets in scenario order.
    pub assets: Vec<String>,
    /// Populations, contracts and accounts, in the order built.
    pub parts: Vec<Part>,
    /// Behaviours and references, in the order declared.
    pub flows: Vec<Flow>,
}

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
                    let held = wallet.0[i];
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

        let holds = |part: &str| -> Vec<String> {
            parts
                .iter()
                .find(|p| p.name == part)
                .map(|p| p.stocks.iter().filter(|s| !s.position).map(|s| s.name.clone()).collect())
                .unwrap_or_default()
        };
        let mut flows = Vec::new();
        for e in &topology.edges {
            let kind = match e.kind {
                EdgeKind::Acts => FlowKind::Acts,
                EdgeKind::Reference => FlowKind::Reference,
                EdgeKind::Asset | EdgeKind::Position => continue,
            };
            let (a, b) = (holds(&e.from), holds(&e.to));
            // A behaviour moves what its contract holds (and what agents
            // bring); a reference moves what both ends hold.
            let assets: Vec<String> = match kind {
                FlowKind::Acts => b,
                FlowKind::Reference => {
                    topology.assets.iter().filter(|x| a.contains(x) && b.contains(x)).cloned().collect()
                }
            };
            flows.push(Flow { from: e.from.clone(), to: e.to.clone(), label: e.label.clone(), kind, assets });
        }
        Diagram { name: loaded.scenario.name.clone(), assets: topology.assets.clone(), parts, flows }
    }

    /// The part called `name`.
    pub fn part(&self, name: &str) -> Option<&Part> {
        self.parts.iter().find(|p| p.name == name)
    }
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
