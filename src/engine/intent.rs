//! Intents: what agents ask the contracts to do. Behaviours write them in
//! Decide; the Settle phase applies them in a deterministic order.

use std::num::NonZeroU64;

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
    /// Withdraw what has finished unbonding or vesting.
    Withdraw,
    /// Deposit into a contract (collateral, both sides of a pool).
    Deposit,
    /// Take back a deposit.
    Redeem,
    /// Borrow against collateral.
    Borrow,
    /// Pay back a loan.
    Repay,
    /// Repay another agent's unhealthy loan for its collateral
    /// ([`Intent::target`] names the borrower).
    Liquidate,
    /// A user-defined action; the code is the contract's business.
    Custom(u16),
}

impl Action {
    /// Every action's name, indexed by [`Action::index`].
    pub const NAMES: [&'static str; 11] = [
        "buy",
        "sell",
        "stake",
        "unstake",
        "withdraw",
        "deposit",
        "redeem",
        "borrow",
        "repay",
        "liquidate",
        "custom",
    ];

    /// Position of the action's name in [`Action::NAMES`] (all custom
    /// actions share one).
    pub fn index(self) -> usize {
        match self {
            Action::Buy => 0,
            Action::Sell => 1,
            Action::Stake => 2,
            Action::Unstake => 3,
            Action::Withdraw => 4,
            Action::Deposit => 5,
            Action::Redeem => 6,
            Action::Borrow => 7,
            Action::Repay => 8,
            Action::Liquidate => 9,
            Action::Custom(_) => 10,
        }
    }

    /// Lower-case name used in output and error messages.
    pub fn name(self) -> &'static str {
        Action::NAMES[self.index()]
    }
}

/// One transaction an agent wants to send.
///
/// ```
/// use tokensim::prelude::*;
/// let buy = Intent::new(ContractId(0), Action::Buy, Amount::Units(10.0));
/// assert_eq!(buy.target(), None);
/// let liquidation = Intent::new(ContractId(1), Action::Liquidate, Amount::Fraction(0.5)).about(AgentId(7));
/// assert_eq!(liquidation.target(), Some(AgentId(7)));
/// // Small: an intent queue holds many of them.
/// assert_eq!(std::mem::size_of::<Intent>(), 32);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Intent {
    /// The contract it is addressed to.
    pub contract: ContractId,
    /// What to do.
    pub action: Action,
    /// How much.
    pub amount: Amount,
    /// Another agent the action is about (a liquidation's borrower), as
    /// id + 1 so the option costs no space; see [`Intent::target`].
    target: Option<NonZeroU64>,
}

impl Intent {
    /// An intent about the sender's own balances.
    #[inline]
    pub fn new(contract: ContractId, action: Action, amount: Amount) -> Self {
        Intent { contract, action, amount, target: None }
    }

    /// The same intent, about agent `target` (any agent; not a contract's
    /// own sender id).
    #[inline]
    pub fn about(self, target: AgentId) -> Self {
        Intent { target: NonZeroU64::new(target.0.wrapping_add(1)), ..self }
    }

    /// The agent the action is about, if not the sender.
    #[inline]
    pub fn target(&self) -> Option<AgentId> {
        self.target.map(|t| AgentId(t.get() - 1))
    }
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
