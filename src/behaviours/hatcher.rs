//! Hatcher: a contributor to an augmented bonding curve's hatch. While the
//! hatch is open and it has not contributed yet, each tick with probability
//! `p_contribute` it buys with `contribution` of its quote balance (once);
//! if the hatch fails, it redeems its whole contribution. Otherwise it
//! holds its tokens. Reads the curve's phase through its concrete type, so
//! `abc` must be an `augmented_bonding_curve`. Draws one number per tick
//! while it may still contribute, none afterwards.

use bevy_ecs::prelude::Component;

use crate::engine::behaviour::{AgentView, Behaviour};
use crate::engine::builder::PopulationBuilder;
use crate::engine::ids::ContractId;
use crate::engine::intent::{Action, Amount, Intent};
use crate::engine::params::{Need, Param};
use crate::engine::registry::BehaviourKind;
use crate::error::ScenarioError;
use crate::mechanisms::augmented_bonding_curve::{AbcPhase, AugmentedBondingCurve};

/// Per-agent hatch contribution plan.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct Hatcher {
    /// The augmented bonding curve.
    pub abc: ContractId,
    /// Probability of contributing in a hatch tick.
    pub p_contribute: f64,
    /// Fraction of the quote balance contributed.
    pub contribution: f64,
    /// Whether it has sent its contribution.
    pub contributed: bool,
}

impl Behaviour for Hatcher {
    fn decide(&mut self, agent: &mut AgentView<'_>) {
        let Some(abc) = agent.market.downcast::<AugmentedBondingCurve>(self.abc) else {
            return;
        };
        match abc.phase() {
            AbcPhase::Hatch if !self.contributed && agent.uniform() < self.p_contribute => {
                self.contributed = true;
                agent.send(Intent::new(self.abc, Action::Buy, Amount::Fraction(self.contribution)));
            }
            AbcPhase::Failed if self.contributed && abc.contribution(agent.id()).reserve > 0.0 => {
                agent.send(Intent::new(self.abc, Action::Redeem, Amount::Fraction(1.0)));
            }
            _ => {}
        }
    }
}

/// The `hatcher` behaviour kind.
pub struct HatcherKind;

const PARAMS: &[Param] = &[
    Param::contract("abc", Need::of_kind("augmented_bonding_curve", &[Action::Buy, Action::Redeem]))
        .doc("the augmented_bonding_curve it hatches"),
    Param::per_agent("p_contribute", 0.0, 1.0)
        .default_float(1.0)
        .doc("probability of contributing in each hatch tick, until it has"),
    Param::per_agent("contribution", 0.0, 1.0)
        .default_float(1.0)
        .doc("fraction of the quote balance contributed"),
];

impl BehaviourKind for HatcherKind {
    fn name(&self) -> &'static str {
        "hatcher"
    }

    fn summary(&self) -> &'static str {
        "Contributes once to an augmented bonding curve's hatch; redeems if the hatch fails."
    }

    fn params(&self) -> &'static [Param] {
        PARAMS
    }

    fn rule(&self) -> &'static str {
        "Each tick it reads the curve's phase. During the hatch, while it has not contributed, it draws u and, if u < p_contribute, sends buy Fraction(contribution) of its quote balance and never contributes again. If the hatch failed and the curve still holds a contribution of its, it sends redeem Fraction(1). Otherwise nothing; it draws only while it may still contribute."
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p = ctx.params();
        let abc = ctx.contract_param("abc")?;
        debug_assert!(ctx.contract_is::<AugmentedBondingCurve>(abc));
        let (p_contribute, contribution) = (p.agent("p_contribute"), p.agent("contribution"));
        ctx.spawn(move |rng| Hatcher {
            abc,
            p_contribute: p_contribute.0.sample(rng),
            contribution: contribution.0.sample(rng),
            contributed: false,
        });
        Ok(())
    }
}
