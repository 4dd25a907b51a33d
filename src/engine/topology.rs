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

/// Which way value moves along a relation, for the diagram: declared on
/// a reference parameter ([`Param::moves`](crate::engine::params::Param::moves))
/// or, for a behaviour, by its actions ([`Action::way`](crate::engine::intent::Action::way)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Way {
    /// From `from` to `to` (a curve's tributes into its treasury, an agent
    /// staking into a pool).
    Forward,
    /// From `to` to `from` (a pool paying out an unstake, a loan).
    Backward,
    /// Both ways: an exchange (a trade, a buyback).
    Both,
    /// From `to` to the populations acting on `from` (a treasury paying a
    /// staking pool's rewards straight into stakers' wallets); for a
    /// position, from the contract to the populations holding it (a
    /// vesting contract's unlocks).
    ToUsers,
    /// No value: `from` reads `to`'s price.
    Reads,
}

/// What a reference moves, as its parameter declares it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Moves {
    /// Which way.
    pub way: Way,
    /// What the value is (`tributes`, `rewards`, `price`).
    pub what: String,
    /// The asset moved, resolved from the declared asset parameter; empty
    /// if none.
    pub asset: String,
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
    /// For [`EdgeKind::Reference`] and [`EdgeKind::Acts`]: what moves
    /// which way (`None` when a reference parameter declares nothing).
    pub moves: Option<Moves>,
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
    pub fn edge(&mut self, from: &str, to: &str, label: &str, kind: EdgeKind, moves: Option<Moves>) {
        let edge = Edge { from: from.to_string(), to: to.to_string(), label: label.to_string(), kind, moves };
        if !self.edges.contains(&edge) {
            self.edges.push(edge);
        }
    }
}
