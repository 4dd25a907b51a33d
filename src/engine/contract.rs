//! The contract interface: what a mechanism implements so the engine can
//! settle transactions against it, run its end-of-block logic, check its
//! invariants and measure it.

use bevy_ecs::prelude::Resource;

use super::ids::{AccountId, AgentId, AssetId, ContractId, SlotId};
use super::intent::{Action, Amount};
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

/// "Credit every agent `wallet[asset] += wallet[weight] * per_unit`": how a
/// contract pays many agents at once (staking rewards, airdrops) without
/// touching the ECS itself. The engine applies it in its pass over all
/// wallets, then calls the contract's [`Contract::credited`] with the amount
/// actually credited, which the contract pays from its source: so nothing
/// is created or destroyed even when no agent holds any weight.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProRataCredit {
    /// The asset credited.
    pub asset: AssetId,
    /// The slot whose balance is the weight (e.g. a staked position).
    pub weight: SlotId,
    /// Amount credited per unit of weight.
    pub per_unit: f64,
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

/// A mechanism instance living in a world: a bonding curve, a pool, a
/// treasury. Built by its [`MechanismKind`](crate::registry::MechanismKind).
///
/// Contracts never do I/O and never touch agents except through the
/// [`SettleCtx`] wallet of the current sender and [`ProRataCredit`]s.
pub trait Contract: Send + Sync + 'static {
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

    /// Resets per-tick counters; called at the start of every tick.
    fn begin_tick(&mut self) {}

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
}
