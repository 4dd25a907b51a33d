//! Noise trader: with probability `p_trade` per tick, buys (probability
//! `p_buy`) or sells a uniform fraction in `[0, max_fraction)` of its
//! balance on a bonding curve or AMM. Draws three numbers when it trades,
//! one when it does not, exactly as the `market` benchmark specifies.

use bevy_ecs::prelude::Component;

use crate::engine::behaviour::{AgentView, Behaviour};
use crate::engine::builder::PopulationBuilder;
use crate::engine::ids::ContractId;
use crate::engine::intent::{Action, Amount, Intent};
use crate::engine::params::{Need, Param};
use crate::engine::registry::BehaviourKind;
use crate::error::ScenarioError;

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

/// The `noise_trader` behaviour kind.
pub struct NoiseTraderKind;

const PARAMS: &[Param] = &[
    Param::contract("contract", Need::accepting(&[Action::Buy, Action::Sell]))
        .doc("contract that accepts buy and sell"),
    Param::per_agent("p_trade", 0.0, 1.0).doc("probability of trading each tick"),
    Param::per_agent("p_buy", 0.0, 1.0).default_float(0.5).doc("probability a trade is a buy"),
    Param::per_agent("max_fraction", 0.0, 1.0)
        .default_float(0.2)
        .doc("trades a uniform fraction in [0, max_fraction) of the balance"),
];

impl BehaviourKind for NoiseTraderKind {
    fn name(&self) -> &'static str {
        "noise_trader"
    }

    fn summary(&self) -> &'static str {
        "Trades a random fraction of its balance at random: buys or sells on a curve or AMM."
    }

    fn params(&self) -> &'static [Param] {
        PARAMS
    }

    fn rule(&self) -> &'static str {
        "Every tick it draws u1; if u1 ≥ p_trade it does nothing (one draw). Otherwise it draws u2 and u3 and sends one intent: buy if u2 < p_buy, else sell, of Fraction(u3·max_fraction) — of its quote balance for a buy, of its token balance for a sell, resolved when the intent settles."
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p = ctx.params();
        let contract = ctx.contract_param("contract")?;
        let (p_trade, p_buy, max_fraction) = (p.agent("p_trade"), p.agent("p_buy"), p.agent("max_fraction"));
        ctx.spawn_stateless(move |rng| NoiseTrader {
            contract,
            p_trade: p_trade.0.sample(rng),
            p_buy: p_buy.0.sample(rng),
            max_fraction: max_fraction.0.sample(rng),
        });
        Ok(())
    }
}
