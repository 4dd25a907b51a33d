//! Whale: a large holder attacking a venue at known ticks, for stress
//! tests of price impact.
//!
//! - `mode = "dump"`: at tick `tick` it sells `fraction` of its token
//!   balance (`Sell Fraction(fraction)`, resolved at settlement).
//! - `mode = "pump_and_dump"`: at tick `tick` it buys with `fraction` of its
//!   quote balance (`Buy Fraction(fraction)`); at `dump_tick` it sells its
//!   whole token balance (`Sell Fraction(1)`).
//!
//! It sends nothing at any other tick and draws no random numbers.

use bevy_ecs::prelude::Component;
use serde::Deserialize;

use crate::engine::behaviour::{AgentView, Behaviour};
use crate::engine::build::PopulationBuilder;
use crate::engine::ids::ContractId;
use crate::engine::intent::{Action, Amount, Intent};
use crate::error::ScenarioError;
use crate::registry::{BehaviourKind, ParamDoc};
use crate::scenario::AgentParam;

/// What a whale does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhaleMode {
    /// Sell a fraction of its tokens at one tick.
    Dump,
    /// Buy with a fraction of its quote at one tick, sell all its tokens at
    /// a later one.
    PumpAndDump,
}

/// Per-agent whale parameters.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct Whale {
    /// Where it trades.
    pub venue: ContractId,
    /// Dump or pump and dump.
    pub mode: WhaleMode,
    /// The dump tick (`dump`) or the pump tick (`pump_and_dump`).
    pub tick: u32,
    /// The tick it sells everything (`pump_and_dump` only).
    pub dump_tick: u32,
    /// Fraction of its tokens dumped, or of its quote pumped with.
    pub fraction: f64,
}

impl Behaviour for Whale {
    #[inline]
    fn decide(&mut self, agent: &mut AgentView<'_>) {
        let intent = match self.mode {
            WhaleMode::Dump if agent.tick == self.tick => {
                Intent::new(self.venue, Action::Sell, Amount::Fraction(self.fraction))
            }
            WhaleMode::PumpAndDump if agent.tick == self.tick => {
                Intent::new(self.venue, Action::Buy, Amount::Fraction(self.fraction))
            }
            WhaleMode::PumpAndDump if agent.tick == self.dump_tick => {
                Intent::new(self.venue, Action::Sell, Amount::Fraction(1.0))
            }
            _ => return,
        };
        agent.send(intent);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    venue: String,
    mode: WhaleMode,
    tick: u32,
    #[serde(default)]
    dump_tick: Option<u32>,
    fraction: AgentParam,
}

/// The `whale` behaviour kind.
pub struct WhaleKind;

impl BehaviourKind for WhaleKind {
    fn name(&self) -> &'static str {
        "whale"
    }

    fn summary(&self) -> &'static str {
        "Attacker: dumps a fraction of its tokens at one tick, or pumps with its quote and dumps everything later."
    }

    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "venue",
                ty: "contract name",
                default: None,
                doc: "contract that accepts buy and sell",
            },
            ParamDoc {
                name: "mode",
                ty: "\"dump\" | \"pump_and_dump\"",
                default: None,
                doc: "dump: sell at `tick`; pump_and_dump: buy at `tick`, sell all at `dump_tick`",
            },
            ParamDoc {
                name: "tick",
                ty: "integer >= 1",
                default: None,
                doc: "the dump tick, or the pump tick",
            },
            ParamDoc {
                name: "dump_tick",
                ty: "integer > tick",
                default: Some("none"),
                doc: "pump_and_dump only: when it sells its whole token balance",
            },
            ParamDoc {
                name: "fraction",
                ty: "per-agent param in [0, 1]",
                default: None,
                doc: "fraction of its tokens dumped (dump), or of its quote spent pumping (pump_and_dump)",
            },
        ]
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p: Params = ctx.params()?;
        let venue = ctx.contract_for("venue", &p.venue, &[Action::Buy, Action::Sell])?;
        if p.tick == 0 {
            return Err(ctx.invalid("tick", "must be at least 1 (ticks count from 1)"));
        }
        let dump_tick = match (p.mode, p.dump_tick) {
            (WhaleMode::Dump, None) => 0,
            (WhaleMode::Dump, Some(_)) => {
                return Err(
                    ctx.invalid("dump_tick", "only for mode = \"pump_and_dump\"; a dump happens at `tick`")
                );
            }
            (WhaleMode::PumpAndDump, None) => {
                return Err(ctx.invalid("mode", "pump_and_dump needs dump_tick: when it sells"));
            }
            (WhaleMode::PumpAndDump, Some(d)) if d <= p.tick => {
                return Err(ctx.invalid("dump_tick", format!("{d} must be after the pump tick {}", p.tick)));
            }
            (WhaleMode::PumpAndDump, Some(d)) => d,
        };
        ctx.check_param("fraction", &p.fraction, 0.0, 1.0)?;
        ctx.spawn(|rng| Whale {
            venue,
            mode: p.mode,
            tick: p.tick,
            dump_tick,
            fraction: p.fraction.0.sample(rng),
        });
        Ok(())
    }
}
