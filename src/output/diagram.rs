//! The stock-and-flow diagram a results directory records in its
//! manifest: plain data, so that `output/` can write it and a report can
//! draw it without the scenario file. It is derived from a built world by
//! `report::diagram` (`Diagram::of`).

use serde::{Deserialize, Serialize};

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

impl Part {
    /// The lines of its box in every drawing: name, detail, stocks.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![self.name.clone(), self.detail.clone()];
        lines.extend(self.stocks.iter().map(|s| s.line()));
        lines
    }
}

/// What a flow is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    /// A population's behaviour trading with a contract (its transactions).
    Acts,
    /// A contract paying another contract, an account or a population
    /// (tributes, rewards, emissions).
    Reference,
    /// No value: a price read (a lending market reading its oracle).
    Reads,
}

/// A flow between two parts, drawn from the part value leaves to the part
/// it reaches (both ways for an exchange).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// The part value leaves (for [`FlowKind::Reads`], the part read).
    pub from: String,
    /// The part value reaches (for [`FlowKind::Reads`], the reader).
    pub to: String,
    /// What moves: `noise_trader: buy, sell`, `tributes`, `rewards (staking)`.
    pub label: String,
    /// Behaviour, payment or price read.
    pub kind: FlowKind,
    /// The assets it moves.
    pub assets: Vec<String>,
    /// Whether value also moves back from `to` to `from` (a trade).
    #[serde(default)]
    pub two_way: bool,
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
