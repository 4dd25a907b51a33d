//! Agent behaviours: components that read their agent and emit intents.
//! The engine runs every behaviour type as one system over all agents that
//! carry it, in parallel (rayon over contiguous table slices).

use bevy_ecs::component::Mutable;
use bevy_ecs::prelude::*;
use rayon::prelude::*;

use super::ids::AgentId;
use super::intent::{Intent, Intents};
use super::ledger::Wallet;
use super::phase::Clock;
use super::rng::AgentRng;

/// Below this many agents in a table, Decide runs on one thread: spawning
/// rayon tasks for less work costs more than it saves.
const MIN_AGENTS_PER_TASK: usize = 4096;

/// What a behaviour sees of its agent while deciding.
pub struct AgentView<'a> {
    /// The agent's id.
    pub id: AgentId,
    /// Its balances at the start of the tick (read-only: changes go through
    /// intents and settlement).
    pub wallet: &'a Wallet,
    /// Its private random generator.
    pub rng: &'a mut AgentRng,
    /// Where its transactions go.
    pub intents: &'a mut Intents,
    /// The current tick.
    pub tick: u32,
}

impl AgentView<'_> {
    /// A uniform draw from `[0, 1)`.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        use rand::RngExt;
        self.rng.0.random::<f64>()
    }

    /// Queues a transaction.
    #[inline]
    pub fn send(&mut self, intent: Intent) {
        self.intents.push(intent);
    }
}

/// An agent behaviour: a component whose `decide` runs once per agent per
/// tick in the Decide phase.
///
/// `decide` must depend only on the agent (its view and `self`): the engine
/// calls it for many agents in parallel, in any order.
///
/// ```
/// use bevy_ecs::prelude::Component;
/// use tokensim::prelude::*;
///
/// /// Buys a fixed amount every tick.
/// #[derive(Component)]
/// struct Dca { curve: ContractId, amount: f64 }
///
/// impl Behaviour for Dca {
///     fn decide(&mut self, agent: &mut AgentView<'_>) {
///         agent.send(Intent { contract: self.curve, action: Action::Buy, amount: Amount::Units(self.amount) });
///     }
/// }
/// ```
pub trait Behaviour: Component<Mutability = Mutable> + Send + Sync + Sized {
    /// Looks at the agent and pushes its intents for this tick.
    fn decide(&mut self, agent: &mut AgentView<'_>);
}

/// The Decide-phase system of behaviour `B`.
pub fn decide_system<B: Behaviour>(
    mut agents: Query<(&AgentId, &mut B, &mut AgentRng, &Wallet, &mut Intents)>,
    clock: Res<Clock>,
) {
    let tick = clock.tick;
    let tables = agents.contiguous_iter_mut().expect("agent components are table-stored");
    for (ids, mut behaviours, mut rngs, wallets, mut intents) in tables {
        let behaviours = behaviours.bypass_change_detection();
        let rngs = rngs.bypass_change_detection();
        let intents = intents.bypass_change_detection();
        let run = |((((id, b), rng), wallet), intents): (
            (((&AgentId, &mut B), &mut AgentRng), &Wallet),
            &mut Intents,
        )| {
            b.decide(&mut AgentView { id: *id, wallet, rng, intents, tick });
        };
        if ids.len() < MIN_AGENTS_PER_TASK || rayon::current_num_threads() == 1 {
            ids.iter()
                .zip(behaviours.iter_mut())
                .zip(rngs.iter_mut())
                .zip(wallets.iter())
                .zip(intents.iter_mut())
                .for_each(run);
        } else {
            ids.par_iter()
                .zip(behaviours.par_iter_mut())
                .zip(rngs.par_iter_mut())
                .zip(wallets.par_iter())
                .zip(intents.par_iter_mut())
                .with_min_len(MIN_AGENTS_PER_TASK)
                .for_each(run);
        }
    }
}
