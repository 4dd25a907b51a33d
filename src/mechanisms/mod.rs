//! Built-in mechanisms (contracts), one file each. Each file holds the
//! contract, its parameters, its invariants and its tests.

pub mod amm;
pub mod augmented_bonding_curve;
pub mod bancor;
pub mod bonding_curve;
pub mod emission;
pub mod lending_market;
pub mod price_feed;
pub mod staking_pool;
pub mod treasury;
pub mod vesting;

use crate::engine::registry::Registry;

/// Registers every built-in mechanism kind.
pub fn register(registry: &mut Registry) {
    registry
        .add_mechanism(bonding_curve::BondingCurveKind)
        .add_mechanism(treasury::TreasuryKind)
        .add_mechanism(staking_pool::StakingPoolKind)
        .add_mechanism(price_feed::PriceFeedKind)
        .add_mechanism(vesting::VestingKind)
        .add_mechanism(amm::AmmKind)
        .add_mechanism(emission::EmissionKind)
        .add_mechanism(bancor::BancorKind)
        .add_mechanism(augmented_bonding_curve::AugmentedBondingCurveKind)
        .add_mechanism(lending_market::LendingMarketKind);
}
