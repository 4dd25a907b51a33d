//! Population behaviours: one decision per tick for a whole population at
//! once, instead of one [`Behaviour::decide`](super::behaviour::Behaviour)
//! call per agent. This is the hook vectorised code (array or data-frame
//! code, another language's interpreter) plugs into.
//!
//! The engine gathers the population's agents into a [`PopulationFrame`]
//! (ids in id order, start-of-tick wallets, per-agent parameters sampled at
//! build time) and calls [`PopulationBehaviour::decide`] once per tick in the
//! Decide phase. The intents it returns go into the behaviour's lane of the
//! [`IntentQueue`] and settle through the same ordered, checked path as
//! every other transaction.
//!
//! A failing decision ([`PopulationBehaviour::decide`] returning `Err`)
//! stops the run: the Decide system unwinds with a [`BehaviourFailure`]
//! payload, which [`catch_failure`] turns back into an [`Error`] at the
//! caller's boundary (the run never writes a manifest, so no results look
//! complete).
//!
//! ```
//! use tokensim::engine::population::{PopulationBehaviour, PopulationFrame};
//! use tokensim::prelude::*;
//!
//! /// Every agent buys 1 unit on contract `curve` every tick.
//! struct AllBuy { curve: ContractId }
//!
//! impl PopulationBehaviour for AllBuy {
//!     fn decide(&mut self, frame: &PopulationFrame<'_>, _market: &Market<'_>,
//!               out: &mut Vec<(AgentId, Intent)>) -> Result<(), String> {
//!         out.extend(frame.ids.iter().map(|&id| (id, Intent::new(self.curve, Action::Buy, Amount::Units(1.0)))));
//!         Ok(())
//!     }
//! }
//! ```

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use bevy_ecs::prelude::*;

use super::behaviour::Market;
use super::contract::{Contracts, Prices};
use super::ids::AgentId;
use super::intent::{Intent, IntentQueue};
use super::ledger::{Ledger, SlotTable};
use super::phase::Clock;
use super::rng::hash128;
use super::wallets::{WalletSlice, Wallets};
use crate::error::Error;

/// What a population behaviour sees each tick.
pub struct PopulationFrame<'a> {
    /// The current tick.
    pub tick: u32,
    /// The population's agents, in id order.
    pub ids: &'a [AgentId],
    /// Their wallets at the start of the tick, in the same order.
    pub wallets: WalletSlice<'a>,
    /// Names of the wallet slots (assets, then positions).
    pub slots: &'a SlotTable,
    /// Per-agent parameters: `(name, one value per agent in id order)`.
    pub params: &'a [(String, Vec<f64>)],
    /// A seed for this behaviour and tick, derived from the run seed, the
    /// population, the behaviour and the tick: draw randomness from it (or
    /// from a generator seeded with it) so a run stays reproducible.
    pub seed: u64,
}

/// A behaviour that decides for a whole population at once, every tick.
///
/// `decide` pushes `(sender, intent)` pairs into `out`; senders must be
/// agents of `frame.ids`. It runs on one thread, once per tick per
/// population that carries it.
pub trait PopulationBehaviour: Send + Sync + 'static {
    /// Decides this tick's intents of every agent of the population.
    fn decide(
        &mut self,
        frame: &PopulationFrame<'_>,
        market: &Market<'_>,
        out: &mut Vec<(AgentId, Intent)>,
    ) -> Result<(), String>;
}

/// Why a population behaviour stopped the run: the payload its Decide
/// system unwinds with, turned into an [`Error`] by
/// [`catch_failure`].
#[derive(Clone, Debug, PartialEq)]
pub struct BehaviourFailure {
    /// The behaviour's name in the scenario.
    pub behaviour: String,
    /// The population carrying it.
    pub population: String,
    /// The tick it failed at.
    pub tick: u32,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for BehaviourFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "behaviour `{}` of population `{}` at tick {}: {}",
            self.behaviour, self.population, self.tick, self.message
        )
    }
}

/// Runs `f`, turning a [`BehaviourFailure`] unwinding out of it into
/// `Err(Error::Run)` with the failure's text; any other panic keeps
/// unwinding. Wrap a run (`run_experiment`, `Simulation::step`) in it.
pub fn catch_failure<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    quiet_failures();
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => match payload.downcast::<BehaviourFailure>() {
            Ok(failure) => Err(Error::Run(failure.to_string())),
            Err(other) => resume_unwind(other),
        },
    }
}

/// Installs (once) a panic hook that prints nothing for a
/// [`BehaviourFailure`], which its catcher reports as an error, and defers
/// to the previous hook for every other panic.
pub fn quiet_failures() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if failure_of(info.payload()).is_none() {
                previous(info);
            }
        }));
    });
}

/// The failure carried by a panic payload, if it is one (for a panic hook
/// that keeps failures quiet).
pub fn failure_of(payload: &(dyn std::any::Any + Send)) -> Option<&BehaviourFailure> {
    payload.downcast_ref::<BehaviourFailure>()
}

/// What the Decide system of one population behaviour owns.
pub(crate) struct PopulationSystem {
    /// The behaviour.
    pub behaviour: Box<dyn PopulationBehaviour>,
    /// Behaviour and population names, for errors.
    pub names: (String, String),
    /// The population's agents, in id order (consecutive ids).
    pub ids: Vec<AgentId>,
    /// Per-agent parameters.
    pub params: Vec<(String, Vec<f64>)>,
    /// Base of the per-tick seeds.
    pub seed: u64,
    /// Its lane in the intent queue.
    pub lane: usize,
}

impl PopulationSystem {
    /// The Decide-phase system: gathers the frame, calls the behaviour,
    /// appends its intents (stably sorted by sender) to the lane.
    #[allow(clippy::type_complexity)] // the signature a bevy system closure needs
    pub fn into_system(
        mut self,
    ) -> impl FnMut(
        Res<Wallets>,
        Res<Clock>,
        (Res<Contracts>, Res<Ledger>, Res<Prices>, Res<SlotTable>),
        ResMut<IntentQueue>,
    ) {
        let mut out = Vec::new();
        move |wallets, clock, (contracts, ledger, prices, slots), mut queue| {
            let tick = clock.tick;
            let ids = &self.ids[..];
            let first = ids.first().copied().unwrap_or(AgentId(0));
            let wallets = wallets.range(first, ids.len());
            let seed = (hash128(&[self.seed, u64::from(tick)]) >> 64) as u64;
            let frame = PopulationFrame { tick, ids, wallets, slots: &slots, params: &self.params, seed };
            let market = Market::new(&contracts, &ledger, &prices);
            out.clear();
            let fail = |message: String| BehaviourFailure {
                behaviour: self.names.0.clone(),
                population: self.names.1.clone(),
                tick,
                message,
            };
            if let Err(message) = self.behaviour.decide(&frame, &market, &mut out) {
                std::panic::panic_any(fail(message));
            }
            let (first, last) = (ids.first().map_or(0, |a| a.0), ids.last().map_or(0, |a| a.0));
            if let Some((bad, _)) = out.iter().find(|(a, _)| ids.is_empty() || a.0 < first || a.0 > last) {
                std::panic::panic_any(fail(format!(
                    "agent {} is not in the population (agents {first}..={last})",
                    bad.0
                )));
            }
            out.sort_by_key(|(a, _)| *a);
            queue.lane(self.lane).extend_from_slice(&out);
        }
    }
}
