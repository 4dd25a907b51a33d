//! Borrower: keeps its loan on a `lending_market` near a target
//! loan-to-value.
//!
//! Each tick (with probability `p_act`) it reads its loan and the market's
//! oracle price `p` (collateral `c`, debt `d`, `LTV = d / (c·p)`) and:
//! - holds collateral but has none deposited → deposits `deposit_fraction`
//!   of it (and, in the same block, borrows as below);
//! - `LTV < target − band` → borrows `target·c·p − d` (at most the
//!   market's cash);
//! - `LTV > target + band` → repays `d − target·c·p` from its debt-asset
//!   balance, and if that is not enough deposits the collateral it still
//!   holds, up to what brings the LTV back to the target.
//!
//! **Leverage loop** (`leverage = true`, needs `venue`): every borrow is
//! followed by a buy of collateral with the borrowed amount on `venue`, and
//! every tick the collateral it holds is deposited. Repeated, the position
//! converges to `1 / (1 − target)` times its own collateral, and the
//! borrower holds no debt asset to defend its loan with when the price
//! falls: it is the population that gets liquidated.
//!
//! The target is capped at the market's `max_ltv`. Intents are in units
//! computed from the start of the tick; a later transaction of the same
//! block that changes the loan can make one fail (rejected, nothing moves).

use bevy_ecs::prelude::Component;
use serde::Deserialize;

use crate::engine::behaviour::{AgentView, Behaviour};
use crate::engine::build::PopulationBuilder;
use crate::engine::ids::ContractId;
use crate::engine::intent::{Action, Amount, Intent};
use crate::error::ScenarioError;
use crate::mechanisms::lending_market::LendingMarket;
use crate::registry::{BehaviourKind, ParamDoc};
use crate::scenario::AgentParam;

/// Per-agent borrowing parameters (sampled at spawn).
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct Borrower {
    /// The lending market.
    pub market: ContractId,
    /// LTV it aims for.
    pub target_ltv: f64,
    /// It rebalances when its LTV leaves `target ± band`.
    pub band: f64,
    /// Fraction of its collateral-asset balance it deposits.
    pub deposit_fraction: f64,
    /// Probability of looking at its loan in a tick.
    pub p_act: f64,
    /// Where it buys collateral with borrowed funds (leverage loop), if it
    /// loops.
    pub venue: Option<ContractId>,
}

impl Behaviour for Borrower {
    fn decide(&mut self, agent: &mut AgentView<'_>) {
        if self.p_act < 1.0 && agent.uniform() >= self.p_act {
            return;
        }
        let Some(m) = agent.market.downcast::<LendingMarket>(self.market) else {
            return;
        };
        let price = m.price();
        if !(price.is_finite() && price > 0.0) {
            return;
        }
        let (collateral_asset, debt_asset) = (m.collateral_asset(), m.debt_asset());
        let loan = m.loan(agent.id()).unwrap_or_default();
        let mut held = agent.wallet.get(collateral_asset);
        let mut collateral = loan.collateral;
        let target = self.target_ltv.min(m.params.max_ltv);
        let market = self.market;

        if held > 0.0 && (collateral <= 0.0 || self.venue.is_some()) {
            let amount = held * self.deposit_fraction;
            if amount > 0.0 {
                agent.send(Intent::new(market, Action::Deposit, Amount::Units(amount)));
                collateral += amount;
                held -= amount;
            }
        }
        if collateral <= 0.0 {
            return;
        }
        let value = collateral * price;
        let ltv = loan.debt / value;
        if ltv < target - self.band {
            let amount = (target * value - loan.debt).min(m.cash());
            if amount > 0.0 {
                agent.send(Intent::new(market, Action::Borrow, Amount::Units(amount)));
                if let Some(venue) = self.venue {
                    agent.send(Intent::new(venue, Action::Buy, Amount::Units(amount)));
                }
            }
        } else if ltv > target + self.band {
            let excess = loan.debt - target * value;
            let repay = excess.min(agent.wallet.get(debt_asset));
            if repay > 0.0 {
                agent.send(Intent::new(market, Action::Repay, Amount::Units(repay)));
            }
            if excess > repay && held > 0.0 && target > 0.0 {
                let needed = (loan.debt - repay) / (target * price) - collateral;
                let amount = needed.min(held);
                if amount > 0.0 {
                    agent.send(Intent::new(market, Action::Deposit, Amount::Units(amount)));
                }
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    market: String,
    target_ltv: AgentParam,
    #[serde(default = "default_band")]
    band: AgentParam,
    #[serde(default = "one")]
    deposit_fraction: AgentParam,
    #[serde(default = "one")]
    p_act: AgentParam,
    #[serde(default)]
    venue: Option<String>,
    #[serde(default)]
    leverage: bool,
}

fn default_band() -> AgentParam {
    0.05.into()
}

fn one() -> AgentParam {
    1.0.into()
}

/// The `borrower` behaviour kind.
pub struct BorrowerKind;

impl BehaviourKind for BorrowerKind {
    fn name(&self) -> &'static str {
        "borrower"
    }

    fn summary(&self) -> &'static str {
        "Deposits collateral in a lending market and keeps its loan near a target LTV; optionally loops borrowed funds into more collateral (leverage)."
    }

    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "market",
                ty: "contract name",
                default: None,
                doc: "a lending_market (accepts deposit, redeem, borrow, repay)",
            },
            ParamDoc {
                name: "target_ltv",
                ty: "per-agent param in [0, 1)",
                default: None,
                doc: "loan-to-value it aims for (capped at the market's max_ltv)",
            },
            ParamDoc {
                name: "band",
                ty: "per-agent param in [0, 1]",
                default: Some("0.05"),
                doc: "rebalances when its LTV leaves target ± band",
            },
            ParamDoc {
                name: "deposit_fraction",
                ty: "per-agent param in [0, 1]",
                default: Some("1.0"),
                doc: "fraction of its collateral-asset balance it deposits",
            },
            ParamDoc {
                name: "p_act",
                ty: "per-agent param in [0, 1]",
                default: Some("1.0"),
                doc: "probability of looking at its loan each tick (inattentive borrowers < 1)",
            },
            ParamDoc {
                name: "venue",
                ty: "contract name",
                default: Some("none"),
                doc: "where it buys collateral with borrowed funds (accepts buy); used only with leverage",
            },
            ParamDoc {
                name: "leverage",
                ty: "bool",
                default: Some("false"),
                doc: "loop: buy collateral with every borrow and deposit it (needs venue)",
            },
        ]
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p: Params = ctx.params()?;
        let market = ctx.contract_for(
            "market",
            &p.market,
            &[Action::Deposit, Action::Redeem, Action::Borrow, Action::Repay],
        )?;
        ctx.check_param("target_ltv", &p.target_ltv, 0.0, 0.999_999)?;
        ctx.check_param("band", &p.band, 0.0, 1.0)?;
        ctx.check_param("deposit_fraction", &p.deposit_fraction, 0.0, 1.0)?;
        ctx.check_param("p_act", &p.p_act, 0.0, 1.0)?;
        let venue = match (&p.venue, p.leverage) {
            (Some(name), true) => Some(ctx.contract_for("venue", name, &[Action::Buy])?),
            (None, true) => {
                return Err(ctx
                    .invalid("leverage", "needs `venue`: the contract where borrowed funds buy collateral"));
            }
            (Some(name), false) => {
                ctx.contract_for("venue", name, &[Action::Buy])?;
                None
            }
            (None, false) => None,
        };
        ctx.spawn(|rng| Borrower {
            market,
            target_ltv: p.target_ltv.0.sample(rng),
            band: p.band.0.sample(rng),
            deposit_fraction: p.deposit_fraction.0.sample(rng),
            p_act: p.p_act.0.sample(rng),
            venue,
        });
        Ok(())
    }
}
