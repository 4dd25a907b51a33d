//! The tick: phases as chained system sets, the clock, and the per-tick log
//! the runner drains into the output.

use bevy_ecs::prelude::*;

use super::contract::Violation;
use super::ids::{AgentId, ContractId};
use super::intent::Action;

/// The phases of a tick, run in this order (see ARCHITECTURE.md).
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Exogenous inputs: price feeds, schedules.
    Exogenous,
    /// Public signals agents may read.
    Observe,
    /// Behaviours emit intents, in parallel.
    Decide,
    /// Intents and replayed orders settle one by one, in order.
    Settle,
    /// End-of-block contract logic.
    Accrue,
    /// Metrics for the tick.
    Measure,
    /// Invariants.
    Check,
}

impl Phase {
    /// All phases in execution order.
    pub const ALL: [Phase; 7] = [
        Phase::Exogenous,
        Phase::Observe,
        Phase::Decide,
        Phase::Settle,
        Phase::Accrue,
        Phase::Measure,
        Phase::Check,
    ];
}

/// Orders behaviour systems inside [`Phase::Decide`] by registry index, so
/// an agent's intents come in a fixed order (e.g. trade before stake).
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DecideOrder(pub usize);

/// The current tick, from 1.
#[derive(Resource, Clone, Copy, Debug, Default)]
pub struct Clock {
    /// Tick number (block height) being simulated.
    pub tick: u32,
}

/// A settled or rejected transaction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EventRow {
    /// Sender.
    pub agent: AgentId,
    /// Target contract.
    pub contract: ContractId,
    /// What was asked.
    pub action: Action,
    /// `None` when filled, otherwise why it was rejected.
    pub rejected: Option<&'static str>,
    /// What the agent gave (if rejected: the units requested, or 0 for a
    /// fraction of a balance, never NaN).
    pub amount_in: f64,
    /// What the agent received.
    pub amount_out: f64,
    /// Fee or tribute.
    pub fee: f64,
    /// Whether it came from the replayed orders file.
    pub replayed: bool,
    /// The agent the action was about (a liquidation's borrower), if any.
    pub target: Option<AgentId>,
}

/// What one tick produced; the runner takes it after every tick.
#[derive(Resource, Clone, Debug, Default)]
pub struct TickLog {
    /// Every metric value of the tick (contracts in order, then engine
    /// counters).
    pub metrics: Vec<f64>,
    /// Transactions, if events are recorded.
    pub events: Vec<EventRow>,
    /// Broken invariants.
    pub violations: Vec<Violation>,
    /// Transactions settled.
    pub n_tx: u64,
    /// Transactions rejected.
    pub n_rejected: u64,
    /// Whether to record [`EventRow`]s at all.
    pub record_events: bool,
}

impl TickLog {
    /// Empties the log for the next tick.
    pub fn reset(&mut self) {
        self.metrics.clear();
        self.events.clear();
        self.violations.clear();
        self.n_tx = 0;
        self.n_rejected = 0;
    }
}
