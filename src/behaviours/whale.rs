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

use crate::engine::behaviour::{AgentView, Behaviour};
use crate::engine::builder::PopulationBuilder;
use crate::engine::ids::ContractId;
use crate::engine::intent::{Action, Amount, Intent};
use crate::engine::params::{Need, Param};
use crate::engine::registry::BehaviourKind;
use crate::error::ScenarioError;

/// What a whale does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// The `whale` behaviour kind.
pub struct WhaleKind;

const PARAMS: &[Param] = &[
    Param::contract("venue", Need::accepting(&[Action::Buy, Action::Sell]))
        .doc("contract that accepts buy and sell"),
    Param::choice("mode", &["dump", "pump_and_dump"])
        .doc("dump: sell at `tick`; pump_and_dump: buy at `tick`, sell all at `dump_tick`"),
    Param::ticks("tick", 1).doc("the dump tick, or the pump tick"),
    Param::ticks("dump_tick", 2)
        .optional("none; required with mode = \"pump_and_dump\"")
        .only_with("mode", &["pump_and_dump"])
        .doc("when it sells its whole token balance, after `tick`"),
    Param::per_agent("fraction", 0.0, 1.0)
        .doc("fraction of its tokens dumped (dump), or of its quote spent pumping (pump_and_dump)"),
];

impl BehaviourKind for WhaleKind {
    fn name(&self) -> &'static str {
        "whale"
    }

    fn summary(&self) -> &'static str {
        "Attacker: dumps a fraction of its tokens at one tick, or pumps with its quote and dumps everything later."
    }

    fn params(&self) -> &'static [Param] {
        PARAMS
    }

    fn rule(&self) -> &'static str {
        "mode = \"dump\": at tick `tick` it sends sell Fraction(fraction) of its token balance. mode = \"pump_and_dump\": at tick `tick` it sends buy Fraction(fraction) of its quote balance and at `dump_tick` sell Fraction(1) of its tokens. Nothing at any other tick; draws no random numbers."
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p = ctx.params();
        let venue = ctx.contract_param("venue")?;
        let tick = p.tick("tick");
        let mode = if p.choice("mode") == "dump" { WhaleMode::Dump } else { WhaleMode::PumpAndDump };
        let dump_tick = match (mode, p.opt_tick("dump_tick")) {
            (WhaleMode::Dump, _) => 0,
            (WhaleMode::PumpAndDump, None) => {
                return Err(ctx.invalid("mode", "pump_and_dump needs dump_tick: when it sells"));
            }
            (WhaleMode::PumpAndDump, Some(d)) if d <= tick => {
                return Err(ctx.invalid("dump_tick", format!("{d} must be after the pump tick {tick}")));
            }
            (WhaleMode::PumpAndDump, Some(d)) => d,
        };
        let fraction = p.agent("fraction");
        ctx.spawn_stateless(move |rng| Whale {
            venue,
            mode,
            tick,
            dump_tick,
            fraction: fraction.0.sample(rng),
        });
        Ok(())
    }
}
