//! The Check phase: system-wide laws (conservation of every asset, no
//! negative balance) and each contract's own invariants.

use bevy_ecs::prelude::*;

use super::contract::{CheckCtx, Contracts, Measure, Violation, within_tolerance};
use super::ledger::{Ledger, SlotTable};
use super::phase::{Clock, TickLog};
pub use super::totals::AgentTotals;
use super::wallets::Wallets;

/// Tolerance below zero still counted as zero (rounding of a full sale).
const NEGATIVE_EPSILON: f64 = 1e-9;

/// The Check-phase system. Uses the totals of this tick's Accrue pass
/// (balances do not change after it), computing them only if missing.
pub fn check_system(
    clock: Res<Clock>,
    contracts: Res<Contracts>,
    ledger: Res<Ledger>,
    slots: Res<SlotTable>,
    accrued: Res<AgentTotals>,
    mut log: ResMut<TickLog>,
    wallets: Res<Wallets>,
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
        let defs = slot.contract.metrics();
        let start = log.metrics.len();
        log.metrics.resize(start + defs.len(), 0.0);
        slot.contract.measure(&ledger, &mut Measure::new(defs, &mut log.metrics[start..]));
    }
    log.metrics.push(log.n_tx as f64);
    log.metrics.push(log.n_rejected as f64);
}
