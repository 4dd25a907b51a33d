//! Staker: each tick, with probability `p_stake` stakes `stake_fraction` of
//! its liquid tokens, then with probability `p_unstake` unstakes
//! `unstake_fraction` of its position. Always draws two numbers.
//!
//! When the pool is a `staking_pool` with unbonding, the staker also sends
//! a withdraw of everything matured every tick it holds an unbonding
//! balance (the pool skips it while nothing has matured). This reads the
//! wallet only, so the random draws are the same as without unbonding.

use bevy_ecs::prelude::Component;

use crate::engine::behaviour::{AgentView, Behaviour};
use crate::engine::builder::PopulationBuilder;
use crate::engine::ids::{ContractId, SlotId};
use crate::engine::intent::{Action, Amount, Intent};
use crate::engine::params::{Need, Param};
use crate::engine::registry::BehaviourKind;
use crate::error::ScenarioError;
use crate::mechanisms::staking_pool::StakingPool;

/// Per-agent staking parameters.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct Staker {
    /// The staking pool.
    pub pool: ContractId,
    /// Probability of staking in a tick.
    pub p_stake: f64,
    /// Fraction of liquid tokens staked.
    pub stake_fraction: f64,
    /// Probability of unstaking in a tick.
    pub p_unstake: f64,
    /// Fraction of the position unstaked.
    pub unstake_fraction: f64,
    /// The pool's unbonding position, if it has one (read once at build).
    pub unbonding: Option<SlotId>,
}

impl Behaviour for Staker {
    #[inline]
    fn decide(&mut self, agent: &mut AgentView<'_>) {
        let (u_stake, u_unstake) = (agent.uniform(), agent.uniform());
        if u_stake < self.p_stake {
            agent.send(Intent::new(self.pool, Action::Stake, Amount::Fraction(self.stake_fraction)));
        }
        if u_unstake < self.p_unstake {
            agent.send(Intent::new(self.pool, Action::Unstake, Amount::Fraction(self.unstake_fraction)));
        }
        if let Some(slot) = self.unbonding
            && agent.wallet.get(slot) > 0.0
        {
            agent.send(Intent::new(self.pool, Action::Withdraw, Amount::Fraction(1.0)));
        }
    }
}

/// The `staker` behaviour kind.
pub struct StakerKind;

const PARAMS: &[Param] = &[
    Param::contract("pool", Need::accepting(&[Action::Stake, Action::Unstake]))
        .doc("contract that accepts stake and unstake"),
    Param::per_agent("p_stake", 0.0, 1.0).doc("probability of staking each tick"),
    Param::per_agent("stake_fraction", 0.0, 1.0).default_float(0.5).doc("fraction of liquid tokens staked"),
    Param::per_agent("p_unstake", 0.0, 1.0).doc("probability of unstaking each tick"),
    Param::per_agent("unstake_fraction", 0.0, 1.0)
        .default_float(1.0)
        .doc("fraction of the position unstaked"),
];

impl BehaviourKind for StakerKind {
    fn name(&self) -> &'static str {
        "staker"
    }

    fn summary(&self) -> &'static str {
        "Stakes part of its liquid tokens and unstakes its position at random; withdraws unbonded tokens as they mature."
    }

    fn params(&self) -> &'static [Param] {
        PARAMS
    }

    fn rule(&self) -> &'static str {
        "Every tick it draws u_stake then u_unstake (always two draws) and sends, in this order: stake Fraction(stake_fraction) of its liquid tokens if u_stake < p_stake; unstake Fraction(unstake_fraction) of its staked position if u_unstake < p_unstake; and, when the pool is a staking_pool with unbonding and its unbonding balance at the start of the tick is > 0, withdraw Fraction(1) of what has matured (skipped by the pool while nothing has)."
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p = ctx.params();
        let pool = ctx.contract_param("pool")?;
        let unbonding = ctx.contract_as::<StakingPool>(pool).and_then(StakingPool::unbonding_slot);
        let [p_stake, stake_fraction, p_unstake, unstake_fraction] =
            ["p_stake", "stake_fraction", "p_unstake", "unstake_fraction"].map(|f| p.agent(f));
        ctx.spawn_stateless(move |rng| Staker {
            pool,
            unbonding,
            p_stake: p_stake.0.sample(rng),
            stake_fraction: stake_fraction.0.sample(rng),
            p_unstake: p_unstake.0.sample(rng),
            unstake_fraction: unstake_fraction.0.sample(rng),
        });
        Ok(())
    }
}
