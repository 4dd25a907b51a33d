//! The Accrue phase: end-of-block contract logic, then the pro-rata credits
//! contracts asked for, applied to every wallet in one parallel pass.

use bevy_ecs::prelude::*;
use rayon::prelude::*;

use super::contract::{AccrueCtx, Contracts, ProRataCredit};
use super::ledger::Ledger;
use super::monitor::{Part, PopulationMetrics};
use super::phase::Clock;
use super::totals::{AgentTotals, CHUNK};
use super::wallets::{WalletSliceMut, Wallets, with_width};

/// Wallets per piece of a chunk (32 KiB of wallets: they stay in L1).
const PIECE: usize = 512;

/// Calls every contract's `begin_tick` (start of Exogenous).
pub fn begin_tick_system(clock: Res<Clock>, mut contracts: ResMut<Contracts>) {
    for slot in contracts.0.iter_mut() {
        slot.contract.begin_tick(clock.tick);
    }
}

/// The Accrue-phase system: contracts accrue, then one pass over every
/// wallet applies their credits, sums the balances for the Check phase and
/// measures the population metrics at this moment's prices (one pass
/// instead of one per purpose over the largest table), then each contract
/// pays for what was credited.
#[allow(clippy::too_many_arguments)]
pub fn accrue_system(
    clock: Res<Clock>,
    mut contracts: ResMut<Contracts>,
    mut ledger: ResMut<Ledger>,
    mut totals: ResMut<AgentTotals>,
    mut pops: ResMut<PopulationMetrics>,
    mut credits: Local<Vec<(usize, ProRataCredit)>>,
    mut wallets: ResMut<Wallets>,
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
    // Prices only when there are population metrics to value agents at.
    let prices = if pops.metrics.is_empty() { Vec::new() } else { pops.prices(&contracts, &ledger) };
    let mut pass = pops.pass(&prices);
    if let Some(pass) = &mut pass {
        pass.bracket(wallets.all());
    }
    // Each chunk in L1-sized pieces: a piece's wallets are credited,
    // summed and measured while they are in cache.
    let apply = |mut chunk: WalletSliceMut| {
        let mut credited = vec![0.0; credits.len()];
        let mut totals = AgentTotals::default();
        let mut measured = pass.as_ref().map(|p| p.start(chunk.as_slice().len())).unwrap_or_default();
        let width = chunk.as_slice().width();
        for mut piece in chunk.chunks_mut(PIECE) {
            with_width!(width, W => credit_rows(piece.rows_mut::<W>(), credits, &mut credited));
            let piece = piece.as_slice();
            totals.add(piece);
            if let Some(p) = &pass {
                p.feed(&mut measured, piece);
            }
        }
        (totals, credited, measured)
    };
    let mut sum = AgentTotals::default();
    let mut credited = vec![0.0; credits.len()];
    let mut measured = Vec::new();
    let parts: Vec<(AgentTotals, Vec<f64>, Vec<Part>)> = wallets.par_chunks_mut(CHUNK).map(apply).collect();
    for (t, c, m) in parts {
        sum = sum.merge(&t);
        credited.iter_mut().zip(&c).for_each(|(a, b)| *a += b);
        measured.push(m);
    }
    let fused = pass.is_some();
    drop(pass);
    if fused {
        pops.store_fused(clock.tick, prices, measured);
    }
    for ((owner, credit), amount) in credits.iter().zip(credited) {
        contracts.0[*owner].contract.credited(credit, amount, &mut ledger);
    }
    *totals = AgentTotals { tick: clock.tick, ..sum };
}

/// Pays every credit to each row, in row order, adding what it paid to
/// `credited`: `weight · per_unit` into the credit's slot wherever the
/// weight is not zero. Branch-free selects, so a population where some hold
/// the weight and some do not costs no mispredictions; the sums are the
/// same as adding only where the weight is not zero.
fn credit_rows<const W: usize>(
    rows: &mut [[f64; W]],
    credits: &[(usize, ProRataCredit)],
    credited: &mut [f64],
) {
    let pay = |row: &mut [f64; W], c: &ProRataCredit, total: &mut f64| {
        let weight = row[c.weight.0 as usize];
        let amount = weight * c.per_unit;
        let slot = &mut row[c.slot.0 as usize];
        let paid = weight != 0.0;
        *slot = if paid { *slot + amount } else { *slot };
        *total = if paid { *total + amount } else { *total };
    };
    match (credits, credited) {
        ([], _) => {}
        // One credit (a staking pool's reward), the usual case, with the
        // credit held in registers: without this arm `market` at 100k
        // agents runs ≈ 10 % slower on one thread.
        ([(_, c)], [total]) => rows.iter_mut().for_each(|row| pay(row, c, total)),
        (credits, credited) => {
            for row in rows {
                for ((_, c), total) in credits.iter().zip(credited.iter_mut()) {
                    pay(row, c, total);
                }
            }
        }
    }
}
