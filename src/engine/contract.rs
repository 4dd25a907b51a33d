//! The contract interface: what a mechanism implements so the engine can
//! settle transactions against it, run its end-of-block logic, check its
//! invariants and measure it.

use std::any::Any;

use bevy_ecs::prelude::Resource;

use super::ids::{AccountId, AgentId, AssetId, ContractId, SlotId};
use super::intent::{Action, Amount, Intent};
use super::ledger::{Ledger, MAX_SLOTS};
use super::wallets::Wallet;

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

/// Like [`within_tolerance`], with the tolerance also relative to
/// `scale`, the largest amount the two values were computed alongside
/// (e.g. the asset's total issuance): sums of amounts many orders of
/// magnitude apart round at the scale of the largest, so a position of
/// `1e-4` next to flows of `1e14` is only known to within `1e14·ε`.
#[inline]
pub fn within_tolerance_of(expected: f64, actual: f64, scale: f64) -> bool {
    let scale = expected.abs().max(actual.abs()).max(scale.abs()).max(1.0);
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

/// Whether a metric is a level or an amount over the tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Nature {
    /// A level at one moment (a balance, a price, a count so far): the
    /// last value of a window is its value; do not sum over ticks.
    Stock,
    /// An amount over this tick only (volume, rewards paid, a rate derived
    /// from them): sum over ticks for a total.
    Flow,
}

impl Nature {
    /// `stock` or `flow`, as in `manifest.json`.
    pub fn name(self) -> &'static str {
        match self {
            Nature::Stock => "stock",
            Nature::Flow => "flow",
        }
    }
}

/// When in the tick a metric's value is taken (see the phases in
/// ARCHITECTURE.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    /// At Observe, after exogenous prices moved and before this tick's
    /// transactions (so before this tick's liquidations).
    Observe,
    /// Summed over this tick's Settle phase (the agents' and contracts'
    /// transactions).
    Settle,
    /// Summed over this tick's Accrue phase (rewards, interest, emissions,
    /// unlocks, slashes).
    Accrue,
    /// From Observe to Measure: the change over the whole tick.
    Tick,
    /// At Measure, after this tick's transactions and accrual.
    End,
}

impl Timing {
    /// Every timing, in tick order.
    pub const ALL: [Timing; 5] = [Timing::Observe, Timing::Settle, Timing::Accrue, Timing::Tick, Timing::End];

    /// One word for tables (`observe`, `settle`, `accrue`, `tick`, `end`).
    pub fn name(self) -> &'static str {
        match self {
            Timing::Observe => "observe",
            Timing::Settle => "settle",
            Timing::Accrue => "accrue",
            Timing::Tick => "tick",
            Timing::End => "end",
        }
    }

    /// One phrase for listings and `manifest.json`.
    pub fn text(self) -> &'static str {
        match self {
            Timing::Observe => "at Observe: after prices moved, before this tick's transactions",
            Timing::Settle => "over this tick's Settle phase (its transactions)",
            Timing::Accrue => "over this tick's Accrue phase (after its transactions)",
            Timing::Tick => "over the whole tick, from Observe to Measure",
            Timing::End => "at Measure: after this tick's transactions and accrual",
        }
    }
}

/// A metric a contract reports every tick, declared once: its column type,
/// meaning, unit, nature and timing are what `tokensim list`,
/// `tokensim metrics`, `docs/reference.md` and `manifest.json` show.
///
/// ```
/// use tokensim::prelude::*;
/// const SUPPLY: MetricDef = MetricDef::stock("supply", "{token}", "token supply S");
/// const TRADES: MetricDef = MetricDef::flow("n_trades", "count", "trades settled").count().at(Timing::Settle);
/// assert_eq!((SUPPLY.nature, SUPPLY.measured), (Nature::Stock, Timing::End));
/// assert_eq!(TRADES.kind, MetricKind::Count);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricDef {
    /// Name within the contract (`price`); the column is
    /// `<contract>_<name>` unless the scenario's `[metrics]` renames it.
    pub name: &'static str,
    /// Float or count.
    pub kind: MetricKind,
    /// One line on what it measures.
    pub doc: &'static str,
    /// Its unit; `{param}` stands for the asset the contract's parameter
    /// `param` names (`{quote}/{base}`), `1` for a pure number, `count`,
    /// `1/year` for annualised rates.
    pub unit: &'static str,
    /// Stock or per-tick flow.
    pub nature: Nature,
    /// When in the tick it is taken.
    pub measured: Timing,
}

impl MetricDef {
    /// A float stock taken at the end of the tick.
    pub const fn stock(name: &'static str, unit: &'static str, doc: &'static str) -> Self {
        MetricDef { name, kind: MetricKind::Float, doc, unit, nature: Nature::Stock, measured: Timing::End }
    }

    /// A float flow over the tick.
    pub const fn flow(name: &'static str, unit: &'static str, doc: &'static str) -> Self {
        MetricDef { name, kind: MetricKind::Float, doc, unit, nature: Nature::Flow, measured: Timing::Tick }
    }

    /// The same metric written as an integer column.
    pub const fn count(self) -> Self {
        MetricDef { kind: MetricKind::Count, ..self }
    }

    /// The same metric taken at `measured`.
    pub const fn at(self, measured: Timing) -> Self {
        MetricDef { measured, ..self }
    }

    /// Its unit with every `{param}` replaced by `asset(param)` (the asset
    /// name a contract's parameter holds), or the parameter's name when
    /// `asset` does not know it.
    pub fn unit_with(&self, asset: impl Fn(&str) -> Option<String>) -> String {
        let mut out = String::new();
        let mut rest = self.unit;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else { break };
            let param = &rest[open + 1..open + close];
            out.push_str(&rest[..open]);
            out.push_str(&asset(param).unwrap_or_else(|| param.to_string()));
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// Where a contract's [`measure`](Contract::measure) writes its metrics:
/// by name, into the column its [`metrics`](Contract::metrics) declares,
/// so a value can never land in another metric's column whatever the
/// order or number of calls. The builder measures every contract once
/// and refuses one that leaves a declared metric unset or sets an
/// undeclared one (which metrics a contract sets may depend on its
/// parameters, not on its state).
pub struct Measure<'a> {
    defs: &'static [MetricDef],
    values: &'a mut [f64],
    set: u128,
    unknown: Option<&'static str>,
}

impl<'a> Measure<'a> {
    /// Most metrics one contract may declare.
    pub const MAX_METRICS: usize = 128;

    /// A measure of `defs` into `values` (one per def).
    pub fn new(defs: &'static [MetricDef], values: &'a mut [f64]) -> Self {
        debug_assert_eq!(defs.len(), values.len());
        Measure { defs, values, set: 0, unknown: None }
    }

    /// Sets metric `name` to `value`.
    #[inline]
    pub fn set(&mut self, name: &'static str, value: f64) {
        match self.defs.iter().position(|d| d.name == name) {
            Some(i) if i < Self::MAX_METRICS => {
                self.values[i] = value;
                self.set |= 1 << i;
            }
            _ => self.unknown = Some(name),
        }
    }

    /// The first declared metric left unset, or the first name set that
    /// is not declared, as an error message.
    pub fn problem(&self) -> Option<String> {
        if let Some(name) = self.unknown {
            return Some(format!("sets metric `{name}`, which it does not declare"));
        }
        let missing = (0..self.defs.len()).find(|&i| i >= Self::MAX_METRICS || self.set & (1 << i) == 0)?;
        Some(format!("declares metric `{}` but does not measure it", self.defs[missing].name))
    }
}

/// Every metric `contract` measures now, in [`Contract::metrics`] order
/// (what a tick's row holds for it); for tests and tools.
pub fn measured(contract: &dyn Contract, ledger: &Ledger) -> Vec<f64> {
    let defs = contract.metrics();
    let mut values = vec![0.0; defs.len()];
    contract.measure(ledger, &mut Measure::new(defs, &mut values));
    values
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
/// treasury. Built by its [`MechanismKind`](crate::engine::registry::MechanismKind).
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

    /// Whether this contract's account is a plain holder of funds that
    /// others may pay into and name as a source (a treasury): what a
    /// parameter declared with [`Need::holder`](crate::engine::params::Need::holder)
    /// requires. A curve's or a pool's account backs its own invariant, so
    /// the default is `false`.
    fn holds_funds(&self) -> bool {
        false
    }

    /// The market this contract makes, if it is one: `(token, quote)`, the
    /// asset its [`price`](Self::price) is quoted for and the asset it is
    /// quoted in; it then accepts buy (pay quote, get token) and sell. What
    /// a behaviour that needs a venue asks for, whatever the mechanism.
    fn market(&self) -> Option<(AssetId, AssetId)> {
        None
    }

    /// The token this contract issues for deposits (an AMM's LP token), if
    /// any: what a liquidity provider holds as its position.
    fn share_token(&self) -> Option<AssetId> {
        None
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

    /// The metrics [`measure`](Self::measure) reports: the columns, in
    /// column order.
    fn metrics(&self) -> &'static [MetricDef] {
        &[]
    }

    /// Sets every [`metrics`](Self::metrics) entry by name
    /// ([`Measure::set`]).
    fn measure(&self, ledger: &Ledger, out: &mut Measure<'_>) {
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
