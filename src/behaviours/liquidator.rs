//! Liquidator: repays unhealthy loans on a `lending_market` for their
//! collateral plus the liquidation bonus, and dumps the collateral on a
//! venue.
//!
//! Each tick:
//! 1. if it has a `venue` and holds any collateral asset (seized in an
//!    earlier tick), it sells all of it there — the sell pressure that
//!    turns one price drop into a liquidation cascade when the venue is
//!    also the market's oracle;
//! 2. with probability `p_act`, it walks the market's list of unhealthy
//!    loans (health factor < 1 at the start of the tick), starting at
//!    position `id · max_per_tick mod n` so liquidators with consecutive
//!    ids take disjoint stretches of the list instead of all racing for
//!    the same loans, and for up to `max_per_tick` loans
//!    sends a liquidation of `min(close_factor · d, budget)` when the
//!    expected gain `seized · p − repaid` (see
//!    [`Liquidation`])
//!    exceeds `min_bonus_value`. Its budget is its debt-asset balance at
//!    the start of the tick.
//!
//! Another liquidator may reach the same loan first in the block; the
//! market then repays at most the close factor of what is left, or
//! rejects the liquidation if the loan has become healthy.

use bevy_ecs::prelude::Component;

use crate::engine::behaviour::{AgentView, Behaviour};
use crate::engine::builder::PopulationBuilder;
use crate::engine::ids::ContractId;
use crate::engine::intent::{Action, Amount, Intent};
use crate::engine::params::{Need, Param};
use crate::engine::registry::BehaviourKind;
use crate::error::ScenarioError;
use crate::mechanisms::lending_market::{LendingMarket, Liquidation};

/// Per-agent liquidation parameters.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct Liquidator {
    /// The lending market.
    pub market: ContractId,
    /// Where it sells seized collateral, if anywhere.
    pub venue: Option<ContractId>,
    /// Skips liquidations whose expected gain (debt units) is not above this.
    pub min_bonus_value: f64,
    /// Most liquidations it sends per tick.
    pub max_per_tick: u32,
    /// Probability of looking for liquidations in a tick.
    pub p_act: f64,
}

impl Behaviour for Liquidator {
    fn decide(&mut self, agent: &mut AgentView<'_>) {
        let Some(m) = agent.market.downcast::<LendingMarket>(self.market) else {
            return;
        };
        let (collateral_asset, debt_asset) = (m.collateral_asset(), m.debt_asset());
        if let Some(venue) = self.venue
            && agent.wallet.get(collateral_asset) > 0.0
        {
            agent.send(Intent::new(venue, Action::Sell, Amount::Fraction(1.0)));
        }
        if self.p_act < 1.0 && agent.uniform() >= self.p_act {
            return;
        }
        let list = m.unhealthy();
        let price = m.price();
        if list.is_empty() || !(price.is_finite() && price > 0.0) {
            return;
        }
        let me = agent.id();
        let start = (me.0.wrapping_mul(u64::from(self.max_per_tick)) % list.len() as u64) as usize;
        let (bonus, close_factor) = (m.params.liquidation_bonus, m.params.close_factor);
        let mut budget = agent.wallet.get(debt_asset);
        let mut sent = 0;
        for k in 0..list.len() {
            if sent >= self.max_per_tick || budget <= 0.0 {
                break;
            }
            let borrower = list[(start + k) % list.len()];
            if borrower == me {
                continue;
            }
            let Some(loan) = m.loan(borrower) else { continue };
            let q = Liquidation::quote(loan.collateral, loan.debt, price, bonus, close_factor, budget);
            if q.repaid <= 0.0 || q.bonus_value(price) <= self.min_bonus_value {
                continue;
            }
            agent.send(Intent::new(self.market, Action::Liquidate, Amount::Units(q.repaid)).about(borrower));
            budget -= q.repaid;
            sent += 1;
        }
    }
}

/// The `liquidator` behaviour kind.
pub struct LiquidatorKind;

const PARAMS: &[Param] = &[
    Param::contract("market", Need::of_kind("lending_market", &[Action::Liquidate]))
        .doc("a lending_market (accepts liquidate)"),
    Param::contract("venue", Need::accepting(&[Action::Sell]))
        .optional("none")
        .doc("where it sells all seized collateral the tick after (accepts sell); none: it keeps it"),
    Param::per_agent("min_bonus_value", 0.0, f64::INFINITY)
        .default_float(0.0)
        .doc("liquidates only if seized·price − repaid (debt units) is above this"),
    Param::int("max_per_tick", 1, 1_000_000).default_int(1).doc("most loans it liquidates per tick"),
    Param::per_agent("p_act", 0.0, 1.0)
        .default_float(1.0)
        .doc("probability of looking for liquidations each tick"),
];

impl BehaviourKind for LiquidatorKind {
    fn name(&self) -> &'static str {
        "liquidator"
    }

    fn summary(&self) -> &'static str {
        "Liquidates unhealthy loans of a lending market when the bonus is worth it, and sells the seized collateral on a venue."
    }

    fn params(&self) -> &'static [Param] {
        PARAMS
    }

    fn rule(&self) -> &'static str {
        "Each tick, in order: (1) with a venue and a collateral balance > 0, it sends sell Fraction(1) of the collateral on the venue; (2) if p_act < 1 it draws u and stops if u ≥ p_act; (3) it walks the market's unhealthy list (health factor < 1 at Observe), from position id·max_per_tick mod n, skipping itself, with a budget equal to its debt-asset balance at the start of the tick: for each loan it quotes repaid = min(close_factor·d, budget) and seized = repaid·(1 + liquidation_bonus)/p (when that exceeds the loan's collateral c: seized = c, repaid = c·p/(1 + liquidation_bonus)); if repaid > 0 and seized·p − repaid > min_bonus_value it sends liquidate Units(repaid) about that borrower and lowers the budget; it stops after max_per_tick liquidations or when the budget is spent."
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p = ctx.params();
        let market = ctx.contract_param("market")?;
        let venue = ctx.opt_contract_param("venue")?;
        let (min_bonus_value, p_act) = (p.agent("min_bonus_value"), p.agent("p_act"));
        let max_per_tick = p.int("max_per_tick") as u32;
        ctx.spawn_stateless(move |rng| Liquidator {
            market,
            venue,
            min_bonus_value: min_bonus_value.0.sample(rng),
            max_per_tick,
            p_act: p_act.0.sample(rng),
        });
        Ok(())
    }
}
