//! The contract interface: what a mechanism implements so the engine can
//! settle transactions against it, run its end-of-block logic, check its
//! invariants and measure it.

use std::any::Any;

use bevy_ecs::prelude::Resource;

use super::ids::{AccountId, AgentId, ContractId, SlotId};
use super::intent::{Action, Amount, Intent};
use super::ledger::{Ledger, MAX_SLOTS, Wallet};

/// A transaction being settled: who sent it and what it asks.
#[derive(Clone, Copy, Debug)]
pub struct Tx {
    /// The sending agent.
    pub agent: AgentId,
    /// The action.
    pub action: Action,
    /// The amount, still possibly a fraction of a balance.
    pub amount: Amount,
    /// The agent the action is about, if not the sender (a liquidation's
    /// borrower).
    pub target: Option<AgentId>,
}

/// What settlement gives a contract: the sender's wallet and the ledger.
pub struct SettleCtx<'a> {
    /// The sender's balances.
    pub wallet: &'a mut Wallet,
    /// Contract and named accounts.
    pub ledger: &'a mut Ledger,
    /// The current tick (block number), from 1.
    pub tick: u32,
}

/// A settled transaction, as recorded in `events.parquet`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Fill {
    /// What the agent gave (reserve asset for a buy, tokens for a sell).
    pub amount_in: f64,
    /// What the agent received.
    pub amount_out: f64,
    /// Fees or tributes taken, in the unit of whichever side pays them.
    pub fee: f64,
}

/// Outcome of settling one transaction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Settlement {
    /// Applied.
    Filled(Fill),
    /// Nothing to do (zero size); not recorded.
    Skipped,
    /// Refused; balances untouched. The reason goes to `events.parquet`.
    Rejected(&'static str),
}

/// End-of-block context: the ledger and a queue of pro-rata credits to agent
/// wallets, applied by the engine in one parallel pass.
pub struct AccrueCtx<'a> {
    /// Contract and named accounts.
    pub ledger: &'a mut Ledger,
    /// Credits to apply to every agent's wallet after all contracts accrued.
    pub credits: &'a mut Vec<ProRataCredit>,
    /// The current tick.
    pub tick: u32,
}

/// "Credit every agent `wallet[slot] += wallet[weight] * per_unit`": how a
/// contract pays (or debits) many agents at once — staking rewards,
/// vesting unlocks, slashing — without touching the ECS itself. The engine
/// applies it in its pass over all wallets, credits in the order contracts
/// asked for them, then calls the contract's [`Contract::credited`] with
/// the amount actually credited (negative for a debit), which the contract
/// books against its source: so nothing is created or destroyed even when
/// no agent holds any weight.
///
/// `per_unit` may be negative (a debit) but not below `-1` when `slot` is
/// `weight`, so no balance turns negative.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProRataCredit {
    /// The wallet slot credited: an asset or a position.
    pub slot: SlotId,
    /// The slot whose balance is the weight (e.g. a staked position).
    pub weight: SlotId,
    /// Amount credited per unit of weight.
    pub per_unit: f64,
}

/// Every contract's spot price at the start of the tick's Observe phase
/// (after exogenous feeds moved), indexed by [`ContractId`]; `NaN` for
/// contracts without a price. What behaviours and oracles read.
#[derive(Resource, Clone, Debug, Default)]
pub struct Prices(pub Vec<f64>);

impl Prices {
    /// The price of `contract` (`NaN` if it has none).
    #[inline]
    pub fn get(&self, contract: ContractId) -> f64 {
        self.0.get(contract.0 as usize).copied().unwrap_or(f64::NAN)
    }
}

/// What a contract sees in the Observe phase: balances and every
/// contract's price, so it can cache an oracle value or precompute lists
/// (unhealthy loans) that behaviours then read.
pub struct ObserveCtx<'a> {
    /// Contract and named accounts.
    pub ledger: &'a Ledger,
    /// Spot prices of all contracts.
    pub prices: &'a Prices,
    /// The current tick.
    pub tick: u32,
}

/// What a contract sees when it places its own transactions
/// ([`Contract::orders`]): its balances after the agents' transactions,
/// and the prices of the tick.
pub struct OrderCtx<'a> {
    /// Contract and named accounts.
    pub ledger: &'a Ledger,
    /// Spot prices at the start of the tick.
    pub prices: &'a Prices,
    /// The current tick.
    pub tick: u32,
}

/// What invariant checks may read: the ledger, and per slot the sum and
/// minimum over all agents.
pub struct CheckCtx<'a> {
    /// Contract and named accounts.
    pub ledger: &'a Ledger,
    /// Sum over agents of each wallet slot.
    pub agent_sums: &'a [f64; MAX_SLOTS],
    /// The current tick.
    pub tick: u32,
}

/// A broken invariant, as recorded in `violations.parquet`.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// Contract name, or `engine` for system-wide laws.
    pub source: String,
    /// Invariant name, e.g. `curve_identity`, `conservation_DAI`.
    pub invariant: String,
    /// The value the invariant requires.
    pub expected: f64,
    /// The value found.
    pub actual: f64,
}

/// Relative tolerance of every built-in invariant (from the benchmark spec).
pub const TOLERANCE: f64 = 1e-9;

/// Whether `actual` equals `expected` within [`TOLERANCE`], relative to the
/// larger magnitude (or absolute below 1).
#[inline]
pub fn within_tolerance(expected: f64, actual: f64) -> bool {
    let scale = expected.abs().max(actual.abs()).max(1.0);
    (expected - actual).abs() <= TOLERANCE * scale
}

/// Column type of a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// A real value (price, balance, volume).
    Float,
    /// A count (trades); written as an integer column.
    Count,
}

/// A metric a contract reports every tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricDef {
    /// Name within the contract (`price`); the column is
    /// `<contract>_<name>` unless the scenario's `[metrics]` renames it.
    pub name: &'static str,
    /// Float or count.
    pub kind: MetricKind,
    /// One line on what it measures.
    pub doc: &'static str,
}

/// Lets code that knows a contract's concrete type read it (a liquidator
/// reading a lending market's loan book). Implemented for every type.
pub trait AsAny: Any {
    /// `self` as [`Any`], for downcasting.
    fn as_any(&self) -> &dyn Any;
}

impl<T: Any> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A trade that moves a market's marginal price to a target: what an
/// arbitrageur asks a venue for ([`Contract::trade_to_price`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PriceTrade {
    /// [`Action::Buy`] (price too low) or [`Action::Sell`] (too high).
    pub action: Action,
    /// What the trader pays: quote units for a buy, tokens for a sell.
    pub amount_in: f64,
    /// What the trader would receive, given the state it was computed on.
    pub amount_out: f64,
}

/// A mechanism instance living in a world: a bonding curve, a pool, a
/// treasury. Built by its [`MechanismKind`](crate::registry::MechanismKind).
///
/// Contracts never do I/O and never touch agents except through the
/// [`SettleCtx`] wallet of the current sender and [`ProRataCredit`]s.
pub trait Contract: AsAny + Send + Sync + 'static {
    /// The actions this contract accepts; others are refused at scenario
    /// build time, not at run time.
    fn accepts(&self) -> &'static [Action] {
        &[]
    }

    /// Applies one transaction. Must leave every balance untouched when it
    /// returns [`Settlement::Rejected`] or [`Settlement::Skipped`].
    fn settle(&mut self, tx: &Tx, ctx: &mut SettleCtx<'_>) -> Settlement {
        let _ = ctx;
        Settlement::Rejected(if self.accepts().contains(&tx.action) {
            "not implemented"
        } else {
            "action not accepted"
        })
    }

    /// Resets per-tick counters and moves exogenous state (a price feed's
    /// next value); called at the start of every tick, in the Exogenous
    /// phase.
    fn begin_tick(&mut self, tick: u32) {
        let _ = tick;
    }

    /// Spot price of the contract's token in its quote asset (a curve's or
    /// an AMM's marginal price, a feed's value), or `None`. Published to
    /// [`Prices`] each tick for behaviours and oracles.
    fn price(&self, ledger: &Ledger) -> Option<f64> {
        let _ = ledger;
        None
    }

    /// The trade, before fees are counted against the trader, that moves
    /// this venue's price to `target` net of fees; `None` when the price is
    /// already within the fee band or the contract is not a venue.
    fn trade_to_price(&self, target: f64, ledger: &Ledger) -> Option<PriceTrade> {
        let _ = (target, ledger);
        None
    }

    /// Reads the tick's prices after exogenous inputs moved (Observe
    /// phase), e.g. to cache an oracle price.
    fn observe(&mut self, ctx: &ObserveCtx<'_>) {
        let _ = ctx;
    }

    /// Transactions the contract itself sends this block (a treasury's
    /// buy-back), settled after the agents' with its account as the
    /// sender's wallet. A contract cannot address itself.
    fn orders(&mut self, ctx: &OrderCtx<'_>, out: &mut Vec<Intent>) {
        let _ = (ctx, out);
    }

    /// End-of-block logic (rewards, interest, emissions).
    fn accrue(&mut self, ctx: &mut AccrueCtx<'_>) {
        let _ = ctx;
    }

    /// Pays for the `credit` this contract asked for in `accrue`: `amount`
    /// is what the engine actually credited to agents (Σ weight × per_unit).
    /// A contract that asks for credits must take `amount` from somewhere
    /// here, or the conservation check will report it.
    fn credited(&mut self, credit: &ProRataCredit, amount: f64, ledger: &mut Ledger) {
        let _ = (credit, amount, ledger);
    }

    /// Checks this contract's invariants, pushing what is broken.
    fn check(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Violation>) {
        let _ = (ctx, out);
    }

    /// The metrics [`measure`](Self::measure) reports, in order.
    fn metrics(&self) -> &'static [MetricDef] {
        &[]
    }

    /// Pushes one value per [`metrics`](Self::metrics) entry.
    fn measure(&self, ledger: &Ledger, out: &mut Vec<f64>) {
        let _ = (ledger, out);
    }
}

/// One contract in a world, with its name, kind and account.
pub struct ContractSlot {
    /// Scenario name (`curve`).
    pub name: String,
    /// Registered kind (`bonding_curve`).
    pub kind: &'static str,
    /// Its account in the [`Ledger`]; equals its [`ContractId`] index.
    pub account: AccountId,
    /// The mechanism itself.
    pub contract: Box<dyn Contract>,
}

/// All contracts of a world, indexed by [`ContractId`].
#[derive(Resource, Default)]
pub struct Contracts(pub Vec<ContractSlot>);

impl Contracts {
    /// The contract with this id.
    #[inline]
    pub fn get_mut(&mut self, id: ContractId) -> &mut ContractSlot {
        &mut self.0[id.0 as usize]
    }

    /// The contract with this id as its concrete type `T`, if it is one.
    pub fn downcast<T: Contract>(&self, id: ContractId) -> Option<&T> {
        let contract: &dyn Contract = self.0.get(id.0 as usize)?.contract.as_ref();
        contract.as_any().downcast_ref::<T>()
    }
}
