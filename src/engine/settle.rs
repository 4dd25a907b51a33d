//! The Settle phase: the block. Replayed orders first (file order), then
//! every agent's intents, agents ordered by the scenario's policy, each
//! transaction validated and applied by its contract.

use bevy_ecs::prelude::*;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64Mcg;

use super::contract::{Contracts, SettleCtx, Settlement, Tx};
use super::ids::AgentId;
use super::intent::{Amount, Intent, Intents};
use super::ledger::{Ledger, Wallet};
use super::phase::{Clock, EventRow, TickLog};
use super::replay::Replay;
use crate::scenario::Ordering;

/// Entity of each agent, indexed by [`AgentId`].
#[derive(Resource, Clone, Debug, Default)]
pub struct AgentIndex(pub Vec<Entity>);

/// Settlement policy and scratch space.
#[derive(Resource, Debug)]
pub struct SettleState {
    /// How agents are ordered within a tick.
    pub ordering: Ordering,
    /// Generator for [`Ordering::Shuffle`].
    pub rng: Pcg64Mcg,
    queue: Vec<(AgentId, Entity)>,
}

impl SettleState {
    /// A policy with its shuffle generator.
    pub fn new(ordering: Ordering, rng: Pcg64Mcg) -> Self {
        SettleState { ordering, rng, queue: Vec::new() }
    }
}

/// Settles one transaction and records the outcome in `log`.
pub fn settle_one(
    contracts: &mut Contracts,
    ledger: &mut Ledger,
    log: &mut TickLog,
    wallet: &mut Wallet,
    agent: AgentId,
    intent: Intent,
    tick: u32,
    replayed: bool,
) {
    let tx = Tx { agent, action: intent.action, amount: intent.amount };
    let mut ctx = SettleCtx { wallet, ledger, tick };
    let outcome = contracts.get_mut(intent.contract).contract.settle(&tx, &mut ctx);
    let (rejected, fill) = match outcome {
        Settlement::Skipped => return,
        Settlement::Filled(fill) => {
            log.n_tx += 1;
            (None, fill)
        }
        Settlement::Rejected(reason) => {
            log.n_rejected += 1;
            let requested = match intent.amount {
                Amount::Units(u) => u,
                Amount::Fraction(_) => f64::NAN,
            };
            (Some(reason), super::contract::Fill { amount_in: requested, ..Default::default() })
        }
    };
    if log.record_events {
        log.events.push(EventRow {
            agent,
            contract: intent.contract,
            action: intent.action,
            rejected,
            amount_in: fill.amount_in,
            amount_out: fill.amount_out,
            fee: fill.fee,
            replayed,
        });
    }
}

/// The Settle-phase system.
#[allow(clippy::too_many_arguments)]
pub fn settle_system(
    clock: Res<Clock>,
    mut state: ResMut<SettleState>,
    index: Res<AgentIndex>,
    mut contracts: ResMut<Contracts>,
    mut ledger: ResMut<Ledger>,
    mut log: ResMut<TickLog>,
    replay: Option<ResMut<Replay>>,
    mut agents: Query<(&AgentId, &mut Wallet, &mut Intents)>,
) {
    let tick = clock.tick;
    let (contracts, ledger, log) = (&mut *contracts, &mut *ledger, &mut *log);

    if let Some(mut replay) = replay {
        for order in replay.take_tick(tick) {
            let Ok((_, mut wallet, _)) = agents.get_mut(index.0[order.agent.0 as usize]) else {
                continue;
            };
            settle_one(
                contracts,
                ledger,
                log,
                wallet.bypass_change_detection(),
                order.agent,
                order.intent,
                tick,
                true,
            );
        }
    }

    let SettleState { ordering, rng, queue } = &mut *state;
    queue.clear();
    for (id, _, intents) in agents.iter() {
        if !intents.is_empty() {
            queue.push((*id, index.0[id.0 as usize]));
        }
    }
    queue.sort_unstable_by_key(|(id, _)| *id);
    if *ordering == Ordering::Shuffle {
        queue.shuffle(rng);
    }
    for &(agent, entity) in queue.iter() {
        let (_, mut wallet, mut intents) = agents.get_mut(entity).expect("queued agent exists");
        let intents = intents.bypass_change_detection();
        let wallet = wallet.bypass_change_detection();
        for i in 0..intents.len() {
            settle_one(contracts, ledger, log, wallet, agent, intents.get(i), tick, false);
        }
        intents.clear();
    }
}
