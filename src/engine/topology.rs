//! The structure a scenario declares, recorded while its world is built:
//! which assets each contract uses, which contracts and accounts it pays or
//! reads, which positions it keeps in agents' wallets, and which behaviours
//! act on which contracts. `tokensim graph` and the HTML report draw the
//! stock-and-flow diagram from it, so the diagram is never drawn by hand.

use bevy_ecs::prelude::Resource;
use serde::Serialize;

/// A part of the system: a contract, a named account or a population.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Node {
    /// Scenario name (`curve`, `hatch`, `traders`).
    pub name: String,
    /// What it is.
    pub role: Role,
    /// The mechanism kind, `account`, or the population size.
    pub detail: String,
}

/// What a [`Node`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A contract (a mechanism instance).
    Contract,
    /// A named account that is not a contract (`hatch`).
    Account,
    /// A population of agents.
    Population,
}

/// How two parts relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// A contract uses an asset (`to` is the asset) under parameter `label`.
    Asset,
    /// A contract pays, funds or reads another contract or account.
    Reference,
    /// A contract keeps a per-agent position slot (`to` is the slot).
    Position,
    /// A population's behaviour sends transactions to a contract.
    Acts,
}

/// One declared relation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Edge {
    /// Contract or population name.
    pub from: String,
    /// Asset, contract, account or slot name.
    pub to: String,
    /// The parameter that declared it (`treasury`), or for [`EdgeKind::Acts`]
    /// the behaviour and its actions (`noise_trader: buy, sell`).
    pub label: String,
    /// The relation.
    pub kind: EdgeKind,
}

/// Everything a scenario declares about how its parts connect.
#[derive(Resource, Clone, Debug, Default, PartialEq, Serialize)]
pub struct Topology {
    /// Assets in scenario order.
    pub assets: Vec<String>,
    /// Contracts, named accounts and populations in the order built.
    pub nodes: Vec<Node>,
    /// Relations in the order declared.
    pub edges: Vec<Edge>,
}

impl Topology {
    /// Adds a node unless one with that name exists.
    pub fn node(&mut self, name: &str, role: Role, detail: impl Into<String>) {
        if !self.nodes.iter().any(|n| n.name == name) {
            self.nodes.push(Node { name: name.to_string(), role, detail: detail.into() });
        }
    }

    /// Records a relation once.
    pub fn edge(&mut self, from: &str, to: &str, label: &str, kind: EdgeKind) {
        let edge = Edge { from: from.to_string(), to: to.to_string(), label: label.to_string(), kind };
        if !self.edges.contains(&edge) {
            self.edges.push(edge);
        }
    }
}
