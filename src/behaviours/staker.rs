//! Staker: each tick, with probability `p_stake` stakes `stake_fraction` of
//! its liquid tokens, then with probability `p_unstake` unstakes
//! `unstake_fraction` of its position. Always draws two numbers.
//!
//! When the pool is a `staking_pool` with unbonding, the staker also sends
//! a withdraw of everything matured every tick it holds an unbonding
//! balance (the pool skips it while nothing has matured). This reads the
//! wallet only, so the random draws are the same as without unbonding.

use bevy_ecs::prelude::Component;
use serde::Deserialize;

use crate::engine::behaviour::{AgentView, Behaviour};
use crate::engine::build::PopulationBuilder;
use crate::engine::ids::ContractId;
use crate::engine::intent::{Action, Amount, Intent};
use crate::error::ScenarioError;
use crate::mechanisms::staking_pool::StakingPool;
use crate::registry::{BehaviourKind, ParamDoc};
use crate::scenario::AgentParam;

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
        let unbonding = agent.market.downcast::<StakingPool>(self.pool).and_then(StakingPool::unbonding_slot);
        if let Some(slot) = unbonding
            && agent.wallet.get(slot) > 0.0
        {
            agent.send(Intent::new(self.pool, Action::Withdraw, Amount::Fraction(1.0)));
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    pool: String,
    p_stake: AgentParam,
    #[serde(default = "half")]
    stake_fraction: AgentParam,
    p_unstake: AgentParam,
    #[serde(default = "all")]
    unstake_fraction: AgentParam,
}

fn half() -> AgentParam {
    0.5.into()
}

fn all() -> AgentParam {
    1.0.into()
}

/// The `staker` behaviour kind.
pub struct StakerKind;

impl BehaviourKind for StakerKind {
    fn name(&self) -> &'static str {
        "staker"
    }

    fn summary(&self) -> &'static str {
        "Stakes part of its liquid tokens and unstakes its position at random; withdraws unbonded tokens as they mature."
    }

    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "pool",
                ty: "contract name",
                default: None,
                doc: "contract that accepts stake and unstake",
            },
            ParamDoc {
                name: "p_stake",
                ty: "per-agent param in [0, 1]",
                default: None,
                doc: "probability of staking each tick",
            },
            ParamDoc {
                name: "stake_fraction",
                ty: "per-agent param in [0, 1]",
                default: Some("0.5"),
                doc: "fraction of liquid tokens staked",
            },
            ParamDoc {
                name: "p_unstake",
                ty: "per-agent param in [0, 1]",
                default: None,
                doc: "probability of unstaking each tick",
            },
            ParamDoc {
                name: "unstake_fraction",
                ty: "per-agent param in [0, 1]",
                default: Some("1.0"),
                doc: "fraction of the position unstaked",
            },
        ]
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p: Params = ctx.params()?;
        let pool = ctx.contract_for("pool", &p.pool, &[Action::Stake, Action::Unstake])?;
        for (field, v) in [
            ("p_stake", &p.p_stake),
            ("stake_fraction", &p.stake_fraction),
            ("p_unstake", &p.p_unstake),
            ("unstake_fraction", &p.unstake_fraction),
        ] {
            ctx.check_param(field, v, 0.0, 1.0)?;
        }
        ctx.spawn(|rng| Staker {
            pool,
            p_stake: p.p_stake.0.sample(rng),
            stake_fraction: p.stake_fraction.0.sample(rng),
            p_unstake: p.p_unstake.0.sample(rng),
            unstake_fraction: p.unstake_fraction.0.sample(rng),
        });
        Ok(())
    }
}
