//! Liquidity provider: adds and removes liquidity on a pool (any contract
//! that accepts deposit and redeem and has a price, e.g. an `amm`) at random,
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

use crate::engine::behaviour::{AgentView, Behaviour};
use crate::engine::builder::PopulationBuilder;
use crate::engine::ids::ContractId;
use crate::engine::intent::{Action, Amount, Intent};
use crate::engine::params::{Need, Param};
use crate::engine::registry::BehaviourKind;
use crate::error::ScenarioError;

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
        // Whether it holds a position: its balance of the pool's share
        // token (an amm's LP token), else whether it remembers an entry.
        let holding = match agent.market.contract(self.pool).share_token() {
            Some(lp) => agent.wallet.get(lp) > 0.0,
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

/// The `liquidity_provider` behaviour kind.
pub struct LiquidityProviderKind;

const PARAMS: &[Param] = &[
    Param::contract("pool", Need::accepting(&[Action::Deposit, Action::Redeem]).and_priced())
        .doc("contract that accepts deposit and redeem and has a price (an amm)"),
    Param::per_agent("p_add", 0.0, 1.0).doc("probability of adding liquidity each tick"),
    Param::per_agent("add_fraction", 0.0, 1.0)
        .default_float(0.5)
        .doc("fraction of the quote balance deposited (with base in the pool's ratio)"),
    Param::per_agent("p_remove", 0.0, 1.0).doc("probability of removing liquidity each tick"),
    Param::per_agent("remove_fraction", 0.0, 1.0)
        .default_float(1.0)
        .doc("fraction of its LP tokens redeemed"),
    Param::per_agent("exit_deviation", 0.0, f64::INFINITY)
        .optional("none")
        .doc("redeem everything when |price / price at entry − 1| exceeds this"),
];

impl BehaviourKind for LiquidityProviderKind {
    fn name(&self) -> &'static str {
        "liquidity_provider"
    }

    fn summary(&self) -> &'static str {
        "Adds and removes liquidity on an AMM at random; optionally exits when the price strays from its entry."
    }

    fn params(&self) -> &'static [Param] {
        PARAMS
    }

    fn rule(&self) -> &'static str {
        "Every tick it draws u_add then u_remove (always two draws) and reads the pool price p. It holds a position when its balance of the pool's share token is > 0 (for a pool without one: when it remembers an entry price); if it holds none it forgets its entry price. Then, in order: (1) if it holds a position and |p / entry − 1| > exit_deviation (never when unset), it sends redeem Fraction(1), forgets the entry and stops for the tick; (2) if u_add < p_add it sends deposit Fraction(add_fraction) of its quote balance (the pool takes base in proportion) and, with no entry price, records p as the entry; (3) if u_remove < p_remove it sends redeem Fraction(remove_fraction) of its LP tokens, forgetting the entry when remove_fraction ≥ 1."
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p = ctx.params();
        let pool = ctx.contract_param("pool")?;
        let [p_add, add_fraction, p_remove, remove_fraction] =
            ["p_add", "add_fraction", "p_remove", "remove_fraction"].map(|f| p.agent(f));
        let exit = p.opt_agent("exit_deviation").cloned();
        ctx.spawn(move |rng| LiquidityProvider {
            pool,
            p_add: p_add.0.sample(rng),
            add_fraction: add_fraction.0.sample(rng),
            p_remove: p_remove.0.sample(rng),
            remove_fraction: remove_fraction.0.sample(rng),
            exit_deviation: exit.as_ref().map_or(f64::INFINITY, |e| e.0.sample(rng)),
            price_at_entry: f64::NAN,
        });
        Ok(())
    }
}
