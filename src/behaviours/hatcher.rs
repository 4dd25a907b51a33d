//! Hatcher: a contributor to an augmented bonding curve's hatch. While the
//! hatch is open and it has not contributed yet, each tick with probability
//! `p_contribute` it buys with `contribution` of its quote balance (once);
//! if the hatch fails, it redeems its whole contribution. Otherwise it
//! holds its tokens. Reads the curve's phase through its concrete type, so
//! `abc` must be an `augmented_bonding_curve`. Draws one number per tick
//! while it may still contribute, none afterwards.

use bevy_ecs::prelude::Component;
use serde::Deserialize;

use crate::engine::behaviour::{AgentView, Behaviour};
use crate::engine::build::PopulationBuilder;
use crate::engine::ids::ContractId;
use crate::engine::intent::{Action, Amount, Intent};
use crate::error::ScenarioError;
use crate::mechanisms::augmented_bonding_curve::{AbcPhase, AugmentedBondingCurve};
use crate::registry::{BehaviourKind, ParamDoc};
use crate::scenario::AgentParam;

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    abc: String,
    #[serde(default = "one")]
    p_contribute: AgentParam,
    #[serde(default = "one")]
    contribution: AgentParam,
}

fn one() -> AgentParam {
    1.0.into()
}

/// The `hatcher` behaviour kind.
pub struct HatcherKind;

impl BehaviourKind for HatcherKind {
    fn name(&self) -> &'static str {
        "hatcher"
    }

    fn summary(&self) -> &'static str {
        "Contributes once to an augmented bonding curve's hatch; redeems if the hatch fails."
    }

    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "abc",
                ty: "contract name",
                default: None,
                doc: "the augmented_bonding_curve it hatches",
            },
            ParamDoc {
                name: "p_contribute",
                ty: "per-agent param in [0, 1]",
                default: Some("1.0"),
                doc: "probability of contributing in each hatch tick, until it has",
            },
            ParamDoc {
                name: "contribution",
                ty: "per-agent param in [0, 1]",
                default: Some("1.0"),
                doc: "fraction of the quote balance contributed",
            },
        ]
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p: Params = ctx.params()?;
        let abc = ctx.contract_for("abc", &p.abc, &[Action::Buy, Action::Redeem])?;
        ctx.check_param("p_contribute", &p.p_contribute, 0.0, 1.0)?;
        ctx.check_param("contribution", &p.contribution, 0.0, 1.0)?;
        ctx.spawn(|rng| Hatcher {
            abc,
            p_contribute: p.p_contribute.0.sample(rng),
            contribution: p.contribution.0.sample(rng),
            contributed: false,
        });
        Ok(())
    }
}
