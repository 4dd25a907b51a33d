//! Noise trader: with probability `p_trade` per tick, buys (probability
//! `p_buy`) or sells a uniform fraction in `[0, max_fraction)` of its
//! balance on a bonding curve or AMM. Draws three numbers when it trades,
//! one when it does not, exactly as the `market` benchmark specifies.

use bevy_ecs::prelude::Component;
use serde::Deserialize;

use crate::engine::behaviour::{AgentView, Behaviour};
use crate::engine::build::PopulationBuilder;
use crate::engine::ids::ContractId;
use crate::engine::intent::{Action, Amount, Intent};
use crate::error::ScenarioError;
use crate::registry::{BehaviourKind, ParamDoc};
use crate::scenario::AgentParam;

/// Per-agent noise-trading parameters (sampled at spawn).
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct NoiseTrader {
    /// Where it trades.
    pub contract: ContractId,
    /// Probability of trading in a tick.
    pub p_trade: f64,
    /// Probability a trade is a buy.
    pub p_buy: f64,
    /// Upper bound of the traded fraction of balance.
    pub max_fraction: f64,
}

impl Behaviour for NoiseTrader {
    #[inline]
    fn decide(&mut self, agent: &mut AgentView<'_>) {
        if agent.uniform() >= self.p_trade {
            return;
        }
        let action = if agent.uniform() < self.p_buy { Action::Buy } else { Action::Sell };
        let fraction = agent.uniform() * self.max_fraction;
        agent.send(Intent::new(self.contract, action, Amount::Fraction(fraction)));
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    contract: String,
    p_trade: AgentParam,
    #[serde(default = "half")]
    p_buy: AgentParam,
    #[serde(default = "fifth")]
    max_fraction: AgentParam,
}

fn half() -> AgentParam {
    0.5.into()
}

fn fifth() -> AgentParam {
    0.2.into()
}

/// The `noise_trader` behaviour kind.
pub struct NoiseTraderKind;

impl BehaviourKind for NoiseTraderKind {
    fn name(&self) -> &'static str {
        "noise_trader"
    }

    fn summary(&self) -> &'static str {
        "Trades a random fraction of its balance at random: buys or sells on a curve or AMM."
    }

    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "contract",
                ty: "contract name",
                default: None,
                doc: "contract that accepts buy and sell",
            },
            ParamDoc {
                name: "p_trade",
                ty: "per-agent param in [0, 1]",
                default: None,
                doc: "probability of trading each tick",
            },
            ParamDoc {
                name: "p_buy",
                ty: "per-agent param in [0, 1]",
                default: Some("0.5"),
                doc: "probability a trade is a buy",
            },
            ParamDoc {
                name: "max_fraction",
                ty: "per-agent param in [0, 1]",
                default: Some("0.2"),
                doc: "trades a uniform fraction in [0, max_fraction) of the balance",
            },
        ]
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p: Params = ctx.params()?;
        let contract = ctx.contract_for("contract", &p.contract, &[Action::Buy, Action::Sell])?;
        ctx.check_param("p_trade", &p.p_trade, 0.0, 1.0)?;
        ctx.check_param("p_buy", &p.p_buy, 0.0, 1.0)?;
        ctx.check_param("max_fraction", &p.max_fraction, 0.0, 1.0)?;
        ctx.spawn(|rng| NoiseTrader {
            contract,
            p_trade: p.p_trade.0.sample(rng),
            p_buy: p.p_buy.0.sample(rng),
            max_fraction: p.max_fraction.0.sample(rng),
        });
        Ok(())
    }
}
