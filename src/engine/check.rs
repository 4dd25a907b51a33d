//! The Check phase: system-wide laws (conservation of every asset, no
//! negative balance) and each contract's own invariants.

use bevy_ecs::prelude::*;
use rayon::prelude::*;

use super::accrue::CHUNK;
use super::contract::{CheckCtx, Contracts, Violation, within_tolerance};
use super::ledger::{Ledger, MAX_SLOTS, SlotTable, Wallet};
use super::phase::{Clock, TickLog};

/// Tolerance below zero still counted as zero (rounding of a full sale).
const NEGATIVE_EPSILON: f64 = 1e-9;

/// Per-slot sum and minimum over all agents, computed by the Accrue
/// phase's pass over every wallet for the tick in `tick`.
#[derive(Resource, Clone, Copy, Debug)]
pub struct AgentTotals {
    /// Sum of each slot.
    pub sum: [f64; MAX_SLOTS],
    /// Smallest value of each slot (`+inf` with no agents).
    pub min: [f64; MAX_SLOTS],
    /// The tick these totals describe (0: none yet).
    pub tick: u32,
}

impl Default for AgentTotals {
    fn default() -> Self {
        AgentTotals::EMPTY
    }
}

impl AgentTotals {
    const EMPTY: AgentTotals =
        AgentTotals { sum: [0.0; MAX_SLOTS], min: [f64::INFINITY; MAX_SLOTS], tick: 0 };

    /// Combines the totals of two disjoint sets of wallets.
    pub fn merge(mut self, other: &AgentTotals) -> AgentTotals {
        for i in 0..MAX_SLOTS {
            self.sum[i] += other.sum[i];
            self.min[i] = self.min[i].min(other.min[i]);
        }
        self
    }

    /// Totals of one chunk of wallets.
    pub fn of(chunk: &[Wallet]) -> AgentTotals {
        let mut t = AgentTotals::EMPTY;
        for w in chunk {
            for i in 0..MAX_SLOTS {
                t.sum[i] += w.0[i];
                t.min[i] = t.min[i].min(w.0[i]);
            }
        }
        t
    }

    /// Totals over every wallet. Sums fixed-size chunks in parallel and
    /// adds the partial sums in order, so the result does not depend on
    /// the number of threads.
    pub fn compute(wallets: &Query<&Wallet>) -> AgentTotals {
        let mut total = AgentTotals::EMPTY;
        for table in wallets.contiguous_iter().expect("wallets are table-stored") {
            let parts: Vec<AgentTotals> = table.par_chunks(CHUNK).map(AgentTotals::of).collect();
            total = parts.iter().fold(total, AgentTotals::merge);
        }
        total
    }
}

/// The Check-phase system. Uses the totals of this tick's Accrue pass
/// (balances do not change after it), computing them only if missing.
pub fn check_system(
    clock: Res<Clock>,
    contracts: Res<Contracts>,
    ledger: Res<Ledger>,
    slots: Res<SlotTable>,
    accrued: Res<AgentTotals>,
    mut log: ResMut<TickLog>,
    wallets: Query<&Wallet>,
) {
    let totals = if accrued.tick == clock.tick { *accrued } else { AgentTotals::compute(&wallets) };
    let out = &mut log.violations;
    for asset in slots.assets() {
        let a = asset.0 as usize;
        let held: f64 = totals.sum[a] + ledger.accounts.iter().map(|acc| acc.balances[a]).sum::<f64>();
        if !within_tolerance(ledger.issued[a], held) {
            out.push(Violation {
                source: "engine".into(),
                invariant: format!("conservation_{}", slots.name(asset)),
                expected: ledger.issued[a],
                actual: held,
            });
        }
        for acc in &ledger.accounts {
            if acc.balances[a] < -NEGATIVE_EPSILON {
                out.push(Violation {
                    source: acc.name.clone(),
                    invariant: format!("non_negative_{}", slots.name(asset)),
                    expected: 0.0,
                    actual: acc.balances[a],
                });
            }
        }
    }
    for (i, slot) in slots.slots.iter().enumerate() {
        if totals.min[i] < -NEGATIVE_EPSILON {
            out.push(Violation {
                source: "agents".into(),
                invariant: format!("non_negative_{}", slot.name),
                expected: 0.0,
                actual: totals.min[i],
            });
        }
    }
    let ctx = CheckCtx { ledger: &ledger, agent_sums: &totals.sum, tick: clock.tick };
    for slot in &contracts.0 {
        let before = out.len();
        slot.contract.check(&ctx, out);
        for v in &mut out[before..] {
            if v.source.is_empty() {
                v.source = slot.name.clone();
            }
        }
    }
}

/// The Measure-phase system: every contract's metrics, then engine counters.
pub fn measure_system(contracts: Res<Contracts>, ledger: Res<Ledger>, mut log: ResMut<TickLog>) {
    let log = &mut *log;
    for slot in &contracts.0 {
        slot.contract.measure(&ledger, &mut log.metrics);
    }
    log.metrics.push(log.n_tx as f64);
    log.metrics.push(log.n_rejected as f64);
}
