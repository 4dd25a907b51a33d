//! Intents: what agents ask the contracts to do. Behaviours write them in
//! Decide; the Settle phase applies them in a deterministic order.

use std::num::NonZeroU64;

use bevy_ecs::prelude::Resource;

use super::ids::{AgentId, ContractId};
use super::topology::Way;

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

    /// Every built-in action (not [`Action::Custom`]), in [`Action::NAMES`]
    /// order.
    pub const BUILTIN: [Action; 10] = [
        Action::Buy,
        Action::Sell,
        Action::Stake,
        Action::Unstake,
        Action::Withdraw,
        Action::Deposit,
        Action::Redeem,
        Action::Borrow,
        Action::Repay,
        Action::Liquidate,
    ];

    /// The built-in action called `name` (`buy`, …).
    pub fn from_name(name: &str) -> Option<Action> {
        Action::BUILTIN.into_iter().find(|a| a.name() == name)
    }

    /// What a filled action's `amount_in` and `amount_out` are in
    /// `events.parquet`, per mechanism family, declared once here (the
    /// `fee` column is in the unit of whichever side pays it).
    pub fn amounts(self) -> (&'static str, &'static str) {
        match self {
            Action::Buy => (
                "quote paid, fees and tributes included (a curve's reserve asset, an AMM's quote, a hatch contribution)",
                "tokens received (minted by a curve, base out of an AMM)",
            ),
            Action::Sell => (
                "tokens paid (burnt by a curve, base into an AMM)",
                "quote received, net of exit tribute or fee",
            ),
            Action::Stake => {
                ("tokens moved from the liquid balance", "the same amount added to the staked position")
            }
            Action::Unstake => (
                "tokens taken from the staked position",
                "the same amount, paid out liquid (or moved to the unbonding position when the pool unbonds)",
            ),
            Action::Withdraw => {
                ("matured tokens taken from the unbonding position", "the same amount, paid out liquid")
            }
            Action::Deposit => (
                "lending market: collateral deposited; AMM: quote deposited (base goes in proportion, not recorded)",
                "lending market: 0; AMM: LP tokens minted",
            ),
            Action::Redeem => (
                "lending market: 0; AMM: LP tokens burnt; augmented curve after a failed hatch: locked hatch tokens burnt",
                "lending market: collateral returned; AMM: quote returned (base returned in proportion, not recorded); augmented curve: reserve refunded",
            ),
            Action::Borrow => ("0", "debt asset received"),
            Action::Repay => ("debt asset paid back", "0"),
            Action::Liquidate => (
                "debt repaid for the borrower named by `about`",
                "collateral seized (bonus included; `fee` is the bonus, in collateral)",
            ),
            Action::Custom(_) => ("defined by the contract", "defined by the contract"),
        }
    }

    /// What the `amount` of an intent (and of a replayed order) refers to:
    /// the balance a fraction is of, the unit of an absolute amount.
    pub fn amount_of(self) -> &'static str {
        match self {
            Action::Buy => "quote to pay",
            Action::Sell => "tokens to sell",
            Action::Stake => "liquid tokens to stake",
            Action::Unstake => "staked tokens to release",
            Action::Withdraw => "matured unbonding tokens to release",
            Action::Deposit => "collateral (lending market) or quote (AMM) to deposit",
            Action::Redeem => {
                "collateral (lending market), LP tokens (AMM) or reserve of the hatch contribution (failed hatch) to take back"
            }
            Action::Borrow => "debt asset to borrow",
            Action::Repay => "debt asset to repay",
            Action::Liquidate => "debt to repay for the borrower",
            Action::Custom(_) => "defined by the contract",
        }
    }

    /// Which way the principal moves between the agent (`from`) and the
    /// contract (`to`), for the diagram: in with a stake, deposit or
    /// repayment, out with an unstake, withdrawal, redemption or loan, both
    /// ways in a trade or a liquidation (debt repaid, collateral seized).
    pub fn way(self) -> Way {
        match self {
            Action::Stake | Action::Deposit | Action::Repay => Way::Forward,
            Action::Unstake | Action::Withdraw | Action::Redeem | Action::Borrow => Way::Backward,
            Action::Buy | Action::Sell | Action::Liquidate | Action::Custom(_) => Way::Both,
        }
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

    /// Calls `f(sender, intent, later)` for every queued intent in
    /// ascending sender order, a sender's intents in lane order (what a
    /// stable sort of the lanes joined in order gives, without that copy),
    /// then empties the lanes, keeping their memory. `later` is the sender
    /// `ahead` intents further down the same lane, if any, for prefetching.
    pub fn drain_in_order(&mut self, ahead: usize, mut f: impl FnMut(AgentId, Intent, Option<AgentId>)) {
        let mut live: Vec<(&[(AgentId, Intent)], usize)> = Vec::new();
        for lane in &mut self.lanes {
            // Each lane is in visit order: ascending ids unless its
            // behaviour spans tables that interleave in id.
            if !lane.is_sorted_by_key(|(id, _)| *id) {
                lane.sort_by_key(|(id, _)| *id);
            }
            if !lane.is_empty() {
                live.push((lane, 0));
            }
        }
        loop {
            // The lowest next sender; on a tie the earlier lane.
            let mut best: Option<(usize, AgentId)> = None;
            for (k, (lane, at)) in live.iter().enumerate() {
                if let Some(&(id, _)) = lane.get(*at)
                    && best.is_none_or(|(_, b)| id < b)
                {
                    best = Some((k, id));
                }
            }
            let Some((k, _)) = best else { break };
            let (lane, at) = &mut live[k];
            let (sender, intent) = lane[*at];
            *at += 1;
            f(sender, intent, lane.get(*at + ahead.saturating_sub(1)).map(|(id, _)| *id));
        }
        for lane in &mut self.lanes {
            lane.clear();
        }
    }
}

#[cfg(test)]
mod queue_tests {
    use super::*;

    #[test]
    fn draining_in_order_is_a_stable_sort_of_the_joined_lanes() {
        let intent =
            |k: usize, n: usize| Intent::new(ContractId(k as u16), Action::Buy, Amount::Units(n as f64));
        // Lanes with ties inside and across lanes, one out of order, one empty.
        let ids: [&[u64]; 4] = [&[0, 2, 2, 5, 9], &[], &[7, 1, 2, 2, 8, 3], &[2, 5, 5, 10]];
        let mut queue = IntentQueue::default();
        for (k, lane) in ids.iter().enumerate() {
            for (n, &id) in lane.iter().enumerate() {
                queue.lane(k).push((AgentId(id), intent(k, n)));
            }
        }
        let mut want: Vec<(AgentId, Intent)> = queue.lanes.concat();
        want.sort_by_key(|(id, _)| *id);
        let mut got = Vec::new();
        queue.drain_in_order(2, |id, i, later| got.push((id, i, later)));
        assert_eq!(got.iter().map(|(id, i, _)| (*id, *i)).collect::<Vec<_>>(), want);
        assert!(queue.lanes.iter().all(|l| l.is_empty()));
        // `later` looks two intents down the lane it came from: lane 0's
        // first intent (agent 0) sees agent 2, its last none.
        assert_eq!((got[0].0, got[0].2), (AgentId(0), Some(AgentId(2))));
        let last0 = got.iter().find(|(id, i, _)| *id == AgentId(9) && i.contract == ContractId(0)).unwrap();
        assert_eq!(last0.2, None);
    }
}
