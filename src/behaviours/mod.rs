//! Built-in agent behaviours, one file each. Registration order is the
//! order in which an agent's behaviours decide within a tick.

pub mod arbitrageur;
pub mod borrower;
pub mod hatcher;
pub mod liquidator;
pub mod liquidity_provider;
pub mod mean_reverter;
pub mod noise_trader;
pub mod staker;
pub mod trend_follower;
pub mod vested_holder;
pub mod whale;

use crate::engine::registry::Registry;

/// Registers every built-in behaviour kind (noise trader before staker, so
/// an agent trades before it stakes, as the `market` benchmark specifies).
pub fn register(registry: &mut Registry) {
    registry
        .add_behaviour(noise_trader::NoiseTraderKind)
        .add_behaviour(staker::StakerKind)
        .add_behaviour(vested_holder::VestedHolderKind)
        .add_behaviour(whale::WhaleKind)
        .add_behaviour(arbitrageur::ArbitrageurKind)
        .add_behaviour(liquidity_provider::LiquidityProviderKind)
        .add_behaviour(hatcher::HatcherKind)
        .add_behaviour(trend_follower::TrendFollowerKind)
        .add_behaviour(mean_reverter::MeanReverterKind)
        .add_behaviour(borrower::BorrowerKind)
        .add_behaviour(liquidator::LiquidatorKind);
}
