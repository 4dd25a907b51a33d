//! The Observe phase: every contract's spot price is published to
//! [`Prices`], then each contract may read the prices (an oracle caching
//! its collateral price, a lending market listing unhealthy loans).

use bevy_ecs::prelude::*;

use super::contract::{Contracts, ObserveCtx, Prices};
use super::ledger::Ledger;
use super::phase::Clock;

/// The Observe-phase system.
pub fn observe_system(
    clock: Res<Clock>,
    mut contracts: ResMut<Contracts>,
    ledger: Res<Ledger>,
    mut prices: ResMut<Prices>,
) {
    prices.0.clear();
    prices.0.extend(contracts.0.iter().map(|slot| slot.contract.price(&ledger).unwrap_or(f64::NAN)));
    let ctx = ObserveCtx { ledger: &ledger, prices: &prices, tick: clock.tick };
    for slot in contracts.0.iter_mut() {
        slot.contract.observe(&ctx);
    }
}
