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

use crate::engine::behaviour::{AgentView, Behaviour};
use crate::engine::builder::PopulationBuilder;
use crate::engine::ids::ContractId;
use crate::engine::intent::{Action, Amount, Intent};
use crate::engine::params::{Need, Param};
use crate::engine::registry::BehaviourKind;
use crate::error::ScenarioError;
use crate::mechanisms::lending_market::LendingMarket;

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

/// The `borrower` behaviour kind.
pub struct BorrowerKind;

const PARAMS: &[Param] = &[
    Param::contract(
        "market",
        Need::of_kind("lending_market", &[Action::Deposit, Action::Redeem, Action::Borrow, Action::Repay]),
    )
    .doc("a lending_market (accepts deposit, redeem, borrow, repay)"),
    Param::per_agent("target_ltv", 0.0, 0.999_999)
        .doc("loan-to-value it aims for (capped at the market's max_ltv)"),
    Param::per_agent("band", 0.0, 1.0)
        .default_float(0.05)
        .doc("rebalances when its LTV leaves target ± band"),
    Param::per_agent("deposit_fraction", 0.0, 1.0)
        .default_float(1.0)
        .doc("fraction of its collateral-asset balance it deposits"),
    Param::per_agent("p_act", 0.0, 1.0)
        .default_float(1.0)
        .doc("probability of looking at its loan each tick (inattentive borrowers < 1)"),
    Param::contract("venue", Need::accepting(&[Action::Buy]))
        .optional("none")
        .doc("where it buys collateral with borrowed funds (accepts buy); only with leverage = true"),
    Param::bool("leverage")
        .default_bool(false)
        .doc("loop: buy collateral with every borrow and deposit it (needs venue)"),
];

impl BehaviourKind for BorrowerKind {
    fn name(&self) -> &'static str {
        "borrower"
    }

    fn summary(&self) -> &'static str {
        "Deposits collateral in a lending market and keeps its loan near a target LTV; optionally loops borrowed funds into more collateral (leverage)."
    }

    fn params(&self) -> &'static [Param] {
        PARAMS
    }

    fn rule(&self) -> &'static str {
        "Each tick: if p_act < 1 it draws u and does nothing if u ≥ p_act. It reads the market's oracle price p (nothing if not positive), its loan (collateral c, debt d) and its collateral balance h, with target = min(target_ltv, max_ltv). (1) If h > 0 and (c = 0 or leverage), it sends deposit Units(h·deposit_fraction) and counts it in c. (2) With c > 0 and LTV = d / (c·p): if LTV < target − band it sends borrow Units(min(target·c·p − d, market cash)) and, with leverage, buy Units(the same amount) on venue; if LTV > target + band it sends repay Units(min(d − target·c·p, its debt-asset balance)) and, if that does not cover the excess and it still holds collateral, deposit Units(min((d − repaid)/(target·p) − c, h)). All in units from start-of-tick state, in this order."
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p = ctx.params();
        let market = ctx.contract_param("market")?;
        let venue = ctx.opt_contract_param("venue")?;
        let venue = match (venue, p.bool("leverage")) {
            (Some(v), true) => Some(v),
            (None, true) => {
                return Err(ctx
                    .invalid("leverage", "needs `venue`: the contract where borrowed funds buy collateral"));
            }
            (Some(_), false) => {
                return Err(ctx.invalid(
                    "venue",
                    "does not apply with leverage = false; it applies only with leverage = true (remove it or set leverage)",
                ));
            }
            (None, false) => None,
        };
        let [target_ltv, band, deposit_fraction, p_act] =
            ["target_ltv", "band", "deposit_fraction", "p_act"].map(|f| p.agent(f));
        ctx.spawn_stateless(move |rng| Borrower {
            market,
            target_ltv: target_ltv.0.sample(rng),
            band: band.0.sample(rng),
            deposit_fraction: deposit_fraction.0.sample(rng),
            p_act: p_act.0.sample(rng),
            venue,
        });
        Ok(())
    }
}
