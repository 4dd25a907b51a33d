//! Vested holder: a team member or investor whose allocation vests (see the
//! `vesting` mechanism) and who sells part of every unlock on a venue.
//!
//! It watches its own locked `position`: each tick it compares the
//! position with the value it saw in the previous tick (kept in the
//! component); a decrease `X` is what unlocked. Unlocks happen at the end
//! of a tick (Accrue), so **an unlock of `X` at tick `T` is sold at tick
//! `T + 1`**: with probability `p_sell` it sends
//! `Sell Units(min(sell_fraction·X, liquid))`, where `liquid` is its balance
//! of the token backing the position at the start of the tick. The first
//! tick only records the position (nothing can have unlocked before it).
//! Draws one uniform number per tick in which something unlocked, none
//! otherwise.

use bevy_ecs::prelude::Component;

use crate::engine::behaviour::{AgentView, Behaviour};
use crate::engine::builder::PopulationBuilder;
use crate::engine::ids::{AssetId, ContractId, SlotId};
use crate::engine::intent::{Action, Amount, Intent};
use crate::engine::params::{Need, Param};
use crate::engine::registry::BehaviourKind;
use crate::error::ScenarioError;

/// Per-agent state and parameters of a vested holder.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct VestedHolder {
    /// Where it sells.
    pub venue: ContractId,
    /// Its locked position.
    pub position: SlotId,
    /// The token the position unlocks into (its backing).
    pub token: AssetId,
    /// Fraction of each unlock it sells.
    pub sell_fraction: f64,
    /// Probability of selling in a tick in which something unlocked.
    pub p_sell: f64,
    /// The position at the previous tick's decision (`NaN` before the
    /// first).
    pub last_locked: f64,
}

impl Behaviour for VestedHolder {
    #[inline]
    fn decide(&mut self, agent: &mut AgentView<'_>) {
        let locked = agent.wallet.get(self.position);
        let last = std::mem::replace(&mut self.last_locked, locked);
        // `last` is NaN before the first decision: nothing unlocked yet.
        let unlocked = if last.is_nan() { 0.0 } else { last - locked };
        if unlocked <= 0.0 || agent.uniform() >= self.p_sell {
            return;
        }
        let q = (self.sell_fraction * unlocked).min(agent.wallet.get(self.token));
        if q > 0.0 {
            agent.send(Intent::new(self.venue, Action::Sell, Amount::Units(q)));
        }
    }
}

/// The `vested_holder` behaviour kind.
pub struct VestedHolderKind;

const PARAMS: &[Param] = &[
    Param::slot("position").doc("its locked (vesting) position, a backed position"),
    Param::contract("venue", Need::accepting(&[Action::Sell])).doc("contract that accepts sell"),
    Param::per_agent("sell_fraction", 0.0, 1.0)
        .doc("fraction of each unlock sold, the tick after it unlocks"),
    Param::per_agent("p_sell", 0.0, 1.0)
        .default_float(1.0)
        .doc("probability of selling in a tick after an unlock"),
];

impl BehaviourKind for VestedHolderKind {
    fn name(&self) -> &'static str {
        "vested_holder"
    }

    fn summary(&self) -> &'static str {
        "Sells a fraction of what unlocked from its vesting position since the last tick on a venue."
    }

    fn params(&self) -> &'static [Param] {
        PARAMS
    }

    fn rule(&self) -> &'static str {
        "Each tick it reads its locked position L; the unlock X is the previous tick's L minus this one (0 at the first tick, which only records L). If X > 0 it draws u and, if u < p_sell, sends sell Units(min(sell_fraction·X, liquid)) with liquid its token balance at the start of the tick (nothing if that is 0). So an unlock at tick T (Accrue) is sold at T + 1. It draws only in ticks after an unlock."
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p = ctx.params();
        let position = ctx.slot_param("position")?;
        let token = ctx.backing(position).ok_or_else(|| {
            ctx.invalid(
                "position",
                format!(
                    "`{}` is not a backed position (e.g. a vesting contract's locked balance)",
                    p.str("position")
                ),
            )
        })?;
        let venue = ctx.contract_param("venue")?;
        let (sell_fraction, p_sell) = (p.agent("sell_fraction"), p.agent("p_sell"));
        ctx.spawn(move |rng| VestedHolder {
            venue,
            position,
            token,
            sell_fraction: sell_fraction.0.sample(rng),
            p_sell: p_sell.0.sample(rng),
            last_locked: f64::NAN,
        });
        Ok(())
    }
}
