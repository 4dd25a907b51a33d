//! The Accrue phase: end-of-block contract logic, then the pro-rata credits
//! contracts asked for, applied to every wallet in one parallel pass.

use bevy_ecs::prelude::*;
use rayon::prelude::*;

use super::check::AgentTotals;
use super::contract::{AccrueCtx, Contracts, ProRataCredit};
use super::ledger::{Ledger, Wallet};
use super::phase::Clock;

/// Wallets per rayon task in whole-population passes.
pub(crate) const CHUNK: usize = 8192;

/// Calls every contract's `begin_tick` (start of Exogenous).
pub fn begin_tick_system(mut contracts: ResMut<Contracts>) {
    for slot in contracts.0.iter_mut() {
        slot.contract.begin_tick();
    }
}

/// The Accrue-phase system: contracts accrue, then one pass over every
/// wallet applies their credits and sums the balances for the Check phase
/// (one pass instead of two over the largest table).
pub fn accrue_system(
    clock: Res<Clock>,
    mut contracts: ResMut<Contracts>,
    mut ledger: ResMut<Ledger>,
    mut totals: ResMut<AgentTotals>,
    mut credits: Local<Vec<ProRataCredit>>,
    mut wallets: Query<&mut Wallet>,
) {
    credits.clear();
    for slot in contracts.0.iter_mut() {
        let mut ctx = AccrueCtx { ledger: &mut ledger, credits: &mut credits, tick: clock.tick };
        slot.contract.accrue(&mut ctx);
    }
    let credits = &*credits;
    let apply = |chunk: &mut [Wallet]| {
        for w in chunk.iter_mut() {
            for c in credits {
                let weight = w.get(c.weight);
                if weight != 0.0 {
                    *w.get_mut(c.asset) += weight * c.per_unit;
                }
            }
        }
        AgentTotals::of(chunk)
    };
    let mut sum = AgentTotals::default();
    for mut table in wallets.contiguous_iter_mut().expect("wallets are table-stored") {
        let table = table.bypass_change_detection();
        let parts: Vec<AgentTotals> = table.par_chunks_mut(CHUNK).map(apply).collect();
        sum = parts.iter().fold(sum, AgentTotals::merge);
    }
    *totals = AgentTotals { tick: clock.tick, ..sum };
}
