//! Intents: what agents ask the contracts to do. Behaviours write them in
//! Decide; the Settle phase applies them in a deterministic order.

use bevy_ecs::prelude::Resource;

use super::ids::{AgentId, ContractId};

/// How much an intent moves: a fraction of the agent's balance at
/// settlement time, or an absolute amount.
///
/// Fractions let a decision made in parallel before the block stay valid
/// after the agent's earlier transactions in the same block settle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Amount {
    /// Fraction in `[0, 1]` of the relevant balance when the intent settles.
    Fraction(f64),
    /// Absolute amount in the relevant unit (reserve asset for buys, tokens
    /// for sells and stakes).
    Units(f64),
}

impl Amount {
    /// The absolute amount given the balance it refers to.
    #[inline]
    pub fn resolve(self, balance: f64) -> f64 {
        match self {
            Amount::Fraction(f) => f * balance,
            Amount::Units(u) => u,
        }
    }
}

/// The kinds of action a contract may accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Pay reserve asset, receive tokens (bonding curve, AMM).
    Buy,
    /// Pay tokens, receive reserve asset.
    Sell,
    /// Lock liquid tokens into a position.
    Stake,
    /// Release a position back to liquid tokens.
    Unstake,
    /// A user-defined action; the code is the contract's business.
    Custom(u16),
}

impl Action {
    /// Lower-case name used in output and error messages.
    pub fn name(self) -> &'static str {
        match self {
            Action::Buy => "buy",
            Action::Sell => "sell",
            Action::Stake => "stake",
            Action::Unstake => "unstake",
            Action::Custom(_) => "custom",
        }
    }
}

/// One transaction an agent wants to send.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Intent {
    /// The contract it is addressed to.
    pub contract: ContractId,
    /// What to do.
    pub action: Action,
    /// How much.
    pub amount: Amount,
}

/// Intents emitted in the Decide phase: one lane per behaviour kind (in
/// registry order), each in the order agents were visited. Settlement
/// merges the lanes by agent id and drains them.
#[derive(Resource, Clone, Debug, Default)]
pub struct IntentQueue {
    /// `(sender, intent)` per behaviour lane.
    pub lanes: Vec<Vec<(AgentId, Intent)>>,
}

impl IntentQueue {
    /// The lane of behaviour `index`, created on first use.
    pub fn lane(&mut self, index: usize) -> &mut Vec<(AgentId, Intent)> {
        if self.lanes.len() <= index {
            self.lanes.resize_with(index + 1, Vec::new);
        }
        &mut self.lanes[index]
    }
}
