//! Liquidity provider: adds and removes liquidity on an `amm` at random,
//! and optionally exits when the price has moved too far from where it
//! entered (the impermanent-loss stop).
//!
//! Each tick it draws two uniforms `u_add, u_remove`, then:
//!
//! 1. if `exit_deviation` is set, it holds LP tokens and
//!    `|price / price_at_entry − 1| > exit_deviation`, it redeems all its LP
//!    tokens and does nothing else this tick;
//! 2. if `u_add < p_add`, deposits `add_fraction` of its quote balance (the
//!    pool takes base in proportion and shrinks the deposit if the base is
//!    short, so hold both assets);
//! 3. if `u_remove < p_remove`, redeems `remove_fraction` of its LP tokens.
//!
//! `price_at_entry` is the pool price (`agent.market.price(pool)`) when it
//! first deposited into an empty position; it is forgotten when the
//! position is emptied, so after an exit the agent may re-enter (with
//! `p_add`) at the new price.

use bevy_ecs::prelude::Component;
use serde::Deserialize;

use crate::engine::behaviour::{AgentView, Behaviour};
use crate::engine::build::PopulationBuilder;
use crate::engine::ids::ContractId;
use crate::engine::intent::{Action, Amount, Intent};
use crate::error::ScenarioError;
use crate::mechanisms::amm::Amm;
use crate::registry::{BehaviourKind, ParamDoc};
use crate::scenario::AgentParam;

/// Per-agent liquidity-provision parameters and the entry price.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct LiquidityProvider {
    /// The pool.
    pub pool: ContractId,
    /// Probability of adding liquidity in a tick.
    pub p_add: f64,
    /// Fraction of the quote balance added.
    pub add_fraction: f64,
    /// Probability of removing liquidity in a tick.
    pub p_remove: f64,
    /// Fraction of the LP tokens removed.
    pub remove_fraction: f64,
    /// Relative price move from entry that makes it exit (`+inf`: never).
    pub exit_deviation: f64,
    /// Pool price when the current position was opened (`NaN`: none).
    pub price_at_entry: f64,
}

impl Behaviour for LiquidityProvider {
    fn decide(&mut self, agent: &mut AgentView<'_>) {
        let (u_add, u_remove) = (agent.uniform(), agent.uniform());
        let price = agent.market.price(self.pool);
        // Whether it holds a position: its LP balance when the pool is an
        // amm, else whether it remembers an entry.
        let holding = match agent.market.downcast::<Amm>(self.pool) {
            Some(amm) => agent.wallet.get(amm.lp_token()) > 0.0,
            None => self.price_at_entry.is_finite(),
        };
        if !holding {
            self.price_at_entry = f64::NAN;
        }
        if holding && (price / self.price_at_entry - 1.0).abs() > self.exit_deviation {
            agent.send(Intent::new(self.pool, Action::Redeem, Amount::Fraction(1.0)));
            self.price_at_entry = f64::NAN;
            return;
        }
        if u_add < self.p_add {
            agent.send(Intent::new(self.pool, Action::Deposit, Amount::Fraction(self.add_fraction)));
            if self.price_at_entry.is_nan() {
                self.price_at_entry = price;
            }
        }
        if u_remove < self.p_remove {
            agent.send(Intent::new(self.pool, Action::Redeem, Amount::Fraction(self.remove_fraction)));
            if self.remove_fraction >= 1.0 {
                self.price_at_entry = f64::NAN;
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    pool: String,
    p_add: AgentParam,
    #[serde(default = "half")]
    add_fraction: AgentParam,
    p_remove: AgentParam,
    #[serde(default = "all")]
    remove_fraction: AgentParam,
    #[serde(default)]
    exit_deviation: Option<AgentParam>,
}

fn half() -> AgentParam {
    0.5.into()
}

fn all() -> AgentParam {
    1.0.into()
}

/// The `liquidity_provider` behaviour kind.
pub struct LiquidityProviderKind;

impl BehaviourKind for LiquidityProviderKind {
    fn name(&self) -> &'static str {
        "liquidity_provider"
    }

    fn summary(&self) -> &'static str {
        "Adds and removes liquidity on an AMM at random; optionally exits when the price strays from its entry."
    }

    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "pool",
                ty: "contract name",
                default: None,
                doc: "contract that accepts deposit and redeem (an amm)",
            },
            ParamDoc {
                name: "p_add",
                ty: "per-agent param in [0, 1]",
                default: None,
                doc: "probability of adding liquidity each tick",
            },
            ParamDoc {
                name: "add_fraction",
                ty: "per-agent param in [0, 1]",
                default: Some("0.5"),
                doc: "fraction of the quote balance deposited (with base in the pool's ratio)",
            },
            ParamDoc {
                name: "p_remove",
                ty: "per-agent param in [0, 1]",
                default: None,
                doc: "probability of removing liquidity each tick",
            },
            ParamDoc {
                name: "remove_fraction",
                ty: "per-agent param in [0, 1]",
                default: Some("1.0"),
                doc: "fraction of its LP tokens redeemed",
            },
            ParamDoc {
                name: "exit_deviation",
                ty: "per-agent param >= 0",
                default: Some("none"),
                doc: "redeem everything when |price / price at entry − 1| exceeds this",
            },
        ]
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p: Params = ctx.params()?;
        let pool = ctx.contract_for("pool", &p.pool, &[Action::Deposit, Action::Redeem])?;
        for (field, v) in [
            ("p_add", &p.p_add),
            ("add_fraction", &p.add_fraction),
            ("p_remove", &p.p_remove),
            ("remove_fraction", &p.remove_fraction),
        ] {
            ctx.check_param(field, v, 0.0, 1.0)?;
        }
        if let Some(e) = &p.exit_deviation {
            ctx.check_param("exit_deviation", e, 0.0, f64::INFINITY)?;
        }
        ctx.spawn(|rng| LiquidityProvider {
            pool,
            p_add: p.p_add.0.sample(rng),
            add_fraction: p.add_fraction.0.sample(rng),
            p_remove: p.p_remove.0.sample(rng),
            remove_fraction: p.remove_fraction.0.sample(rng),
            exit_deviation: p.exit_deviation.as_ref().map_or(f64::INFINITY, |e| e.0.sample(rng)),
            price_at_entry: f64::NAN,
        });
        Ok(())
    }
}
