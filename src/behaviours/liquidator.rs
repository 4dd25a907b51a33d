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
use serde::Deserialize;

use crate::engine::behaviour::{AgentView, Behaviour};
use crate::engine::build::PopulationBuilder;
use crate::engine::ids::ContractId;
use crate::engine::intent::{Action, Amount, Intent};
use crate::error::ScenarioError;
use crate::mechanisms::lending_market::{LendingMarket, Liquidation};
use crate::registry::{BehaviourKind, ParamDoc};
use crate::scenario::AgentParam;

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    market: String,
    #[serde(default)]
    venue: Option<String>,
    #[serde(default = "zero")]
    min_bonus_value: AgentParam,
    #[serde(default = "one_loan")]
    max_per_tick: u32,
    #[serde(default = "one")]
    p_act: AgentParam,
}

fn one_loan() -> u32 {
    1
}

fn zero() -> AgentParam {
    0.0.into()
}

fn one() -> AgentParam {
    1.0.into()
}

/// The `liquidator` behaviour kind.
pub struct LiquidatorKind;

impl BehaviourKind for LiquidatorKind {
    fn name(&self) -> &'static str {
        "liquidator"
    }

    fn summary(&self) -> &'static str {
        "Liquidates unhealthy loans of a lending market when the bonus is worth it, and sells the seized collateral on a venue."
    }

    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "market",
                ty: "contract name",
                default: None,
                doc: "a lending_market (accepts liquidate)",
            },
            ParamDoc {
                name: "venue",
                ty: "contract name",
                default: Some("none"),
                doc: "where it sells all seized collateral the tick after (accepts sell); none: it keeps it",
            },
            ParamDoc {
                name: "min_bonus_value",
                ty: "per-agent param >= 0",
                default: Some("0"),
                doc: "liquidates only if seized·price − repaid (debt units) is above this",
            },
            ParamDoc {
                name: "max_per_tick",
                ty: "integer >= 1",
                default: Some("1"),
                doc: "most loans it liquidates per tick",
            },
            ParamDoc {
                name: "p_act",
                ty: "per-agent param in [0, 1]",
                default: Some("1.0"),
                doc: "probability of looking for liquidations each tick",
            },
        ]
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p: Params = ctx.params()?;
        let market = ctx.contract_for("market", &p.market, &[Action::Liquidate])?;
        let venue = match &p.venue {
            Some(name) => Some(ctx.contract_for("venue", name, &[Action::Sell])?),
            None => None,
        };
        ctx.check_param("min_bonus_value", &p.min_bonus_value, 0.0, f64::INFINITY)?;
        ctx.check_param("p_act", &p.p_act, 0.0, 1.0)?;
        if p.max_per_tick == 0 {
            return Err(ctx.invalid("max_per_tick", "must be at least 1"));
        }
        ctx.spawn(|rng| Liquidator {
            market,
            venue,
            min_bonus_value: p.min_bonus_value.0.sample(rng),
            max_per_tick: p.max_per_tick,
            p_act: p.p_act.0.sample(rng),
        });
        Ok(())
    }
}
