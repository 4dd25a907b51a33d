//! The Accrue phase: end-of-block contract logic, then the pro-rata credits
//! contracts asked for, applied to every wallet in one parallel pass.

use bevy_ecs::prelude::*;
use rayon::prelude::*;

use super::contract::{AccrueCtx, Contracts, ProRataCredit};
use super::ledger::{Ledger, Wallet};
use super::phase::Clock;
use super::totals::{AgentTotals, CHUNK};

/// Calls every contract's `begin_tick` (start of Exogenous).
pub fn begin_tick_system(clock: Res<Clock>, mut contracts: ResMut<Contracts>) {
    for slot in contracts.0.iter_mut() {
        slot.contract.begin_tick(clock.tick);
    }
}

/// The Accrue-phase system: contracts accrue, then one pass over every
/// wallet applies their credits and sums the balances for the Check phase
/// (one pass instead of two over the largest table), then each contract
/// pays for what was credited.
pub fn accrue_system(
    clock: Res<Clock>,
    mut contracts: ResMut<Contracts>,
    mut ledger: ResMut<Ledger>,
    mut totals: ResMut<AgentTotals>,
    mut credits: Local<Vec<(usize, ProRataCredit)>>,
    mut wallets: Query<&mut Wallet>,
) {
    credits.clear();
    let mut asked = Vec::new();
    for (i, slot) in contracts.0.iter_mut().enumerate() {
        asked.clear();
        let mut ctx = AccrueCtx { ledger: &mut ledger, credits: &mut asked, tick: clock.tick };
        slot.contract.accrue(&mut ctx);
        credits.extend(asked.iter().map(|c| (i, *c)));
    }
    let credits = &*credits;
    let apply = |chunk: &mut [Wallet]| {
        let mut credited = vec![0.0; credits.len()];
        for w in chunk.iter_mut() {
            for (k, (_, c)) in credits.iter().enumerate() {
                let weight = w.get(c.weight);
                if weight != 0.0 {
                    let amount = weight * c.per_unit;
                    *w.get_mut(c.slot) += amount;
                    credited[k] += amount;
                }
            }
        }
        (AgentTotals::of(chunk), credited)
    };
    let mut sum = AgentTotals::default();
    let mut credited = vec![0.0; credits.len()];
    for mut table in wallets.contiguous_iter_mut().expect("wallets are table-stored") {
        let table = table.bypass_change_detection();
        let parts: Vec<(AgentTotals, Vec<f64>)> = table.par_chunks_mut(CHUNK).map(apply).collect();
        for (t, c) in &parts {
            sum = sum.merge(t);
            credited.iter_mut().zip(c).for_each(|(a, b)| *a += b);
        }
    }
    for ((owner, credit), amount) in credits.iter().zip(credited) {
        contracts.0[*owner].contract.credited(credit, amount, &mut ledger);
    }
    *totals = AgentTotals { tick: clock.tick, ..sum };
}
