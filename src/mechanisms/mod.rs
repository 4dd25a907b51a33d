//! Built-in mechanisms (contracts), one file each. Each file holds the
//! contract, its parameters, its invariants and its tests.

pub mod bonding_curve;
pub mod lending_market;
pub mod price_feed;
pub mod staking_pool;
pub mod treasury;

use crate::registry::Registry;

/// Registers every built-in mechanism kind.
pub fn register(registry: &mut Registry) {
    registry
        .add_mechanism(bonding_curve::BondingCurveKind)
        .add_mechanism(treasury::TreasuryKind)
        .add_mechanism(staking_pool::StakingPoolKind)
        .add_mechanism(price_feed::PriceFeedKind);
    registry.add_mechanism(lending_market::LendingMarketKind);
}
