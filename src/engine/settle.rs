//! The Settle phase: the block. Replayed orders first (file order), then
//! every agent's intents, agents ordered by the scenario's policy, each
//! transaction validated and applied by its contract.

use bevy_ecs::prelude::*;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64Mcg;

use super::contract::{Contracts, Fill, OrderCtx, Prices, SettleCtx, Settlement, Tx};
use super::ids::{AgentId, ContractId};
use super::intent::{Amount, Intent, IntentQueue};
use super::ledger::Ledger;
use super::phase::{Clock, EventRow, TickLog};
use super::replay::Replay;
use super::wallets::{Wallet, WalletBuf, Wallets};
use crate::scenario::Ordering;

/// Settlement policy and scratch space.
#[derive(Resource, Debug)]
pub struct SettleState {
    /// How agents are ordered within a tick.
    pub ordering: Ordering,
    /// Generator for [`Ordering::Shuffle`].
    pub rng: Pcg64Mcg,
    queue: Vec<(AgentId, Intent)>,
    groups: Vec<(usize, usize)>,
}

impl SettleState {
    /// A policy with its shuffle generator.
    pub fn new(ordering: Ordering, rng: Pcg64Mcg) -> Self {
        SettleState { ordering, rng, queue: Vec::new(), groups: Vec::new() }
    }
}

/// The state a block settles against: contracts, ledger and the tick log.
pub struct Block<'a> {
    /// All contracts.
    pub contracts: &'a mut Contracts,
    /// Contract and named accounts.
    pub ledger: &'a mut Ledger,
    /// Where outcomes are recorded.
    pub log: &'a mut TickLog,
    /// The tick being settled.
    pub tick: u32,
}

impl Block<'_> {
    /// Settles one transaction of `agent` and records the outcome.
    pub fn settle(&mut self, wallet: &mut Wallet, agent: AgentId, intent: Intent, replayed: bool) {
        let tx = Tx { agent, action: intent.action, amount: intent.amount, target: intent.target() };
        let mut ctx = SettleCtx { wallet, ledger: self.ledger, tick: self.tick };
        let outcome = self.contracts.get_mut(intent.contract).contract.settle(&tx, &mut ctx);
        let log = &mut *self.log;
        let (rejected, fill) = match outcome {
            Settlement::Skipped => return,
            Settlement::Filled(fill) => {
                log.n_tx += 1;
                (None, fill)
            }
            Settlement::Rejected(reason) => {
                log.n_rejected += 1;
                // Units asked for; a fraction's size depends on which balance
                // the contract would have read, so nothing (0) is recorded.
                let requested = match intent.amount {
                    Amount::Units(u) => u,
                    Amount::Fraction(_) => 0.0,
                };
                (Some(reason), Fill { amount_in: requested, ..Default::default() })
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
                target: intent.target(),
            });
        }
    }

    /// Settles a transaction contract `sender` sends itself, its account
    /// standing in for the sender's wallet; recorded with sender id
    /// [`AgentId::of_contract`].
    pub fn settle_from_contract(&mut self, sender: ContractId, intent: Intent) {
        let account = sender.0 as usize;
        if intent.contract == sender {
            self.log.n_rejected += 1;
            return;
        }
        let before = WalletBuf(self.ledger.accounts[account].balances);
        let mut wallet = before;
        self.settle(&mut wallet, AgentId::of_contract(sender), intent, false);
        // The target may have paid this account too (a tribute to the
        // treasury that is buying): apply the wallet's change, not its copy.
        let balances = &mut self.ledger.accounts[account].balances;
        for ((b, after), before) in balances.iter_mut().zip(wallet.0).zip(before.0) {
            *b += after - before;
        }
    }

    /// Asks every contract, in scenario order, for its own transactions
    /// and settles them.
    pub fn settle_contract_orders(&mut self, prices: &Prices, scratch: &mut Vec<Intent>) {
        for i in 0..self.contracts.0.len() {
            scratch.clear();
            let ctx = OrderCtx { ledger: self.ledger, prices, tick: self.tick };
            self.contracts.0[i].contract.orders(&ctx, scratch);
            for intent in scratch.iter() {
                self.settle_from_contract(ContractId(i as u16), *intent);
            }
        }
    }
}

/// The Settle-phase system.
#[allow(clippy::too_many_arguments)]
pub fn settle_system(
    clock: Res<Clock>,
    prices: Res<Prices>,
    mut contract_orders: Local<Vec<Intent>>,
    mut state: ResMut<SettleState>,
    mut contracts: ResMut<Contracts>,
    mut ledger: ResMut<Ledger>,
    mut log: ResMut<TickLog>,
    mut queue: ResMut<IntentQueue>,
    replay: Option<ResMut<Replay>>,
    mut wallets: ResMut<Wallets>,
) {
    let mut block = Block { contracts: &mut contracts, ledger: &mut ledger, log: &mut log, tick: clock.tick };
    // `ahead`: a sender a few transactions later, whose wallet is fetched
    // into cache now so its miss overlaps with this settlement.
    let mut apply = |agent: AgentId, intent: Intent, replayed: bool, ahead: Option<AgentId>| {
        if let Some(next) = ahead {
            wallets.prefetch(next);
        }
        if let Some(wallet) = wallets.get_mut(agent) {
            block.settle(wallet, agent, intent, replayed);
        }
    };

    if let Some(mut replay) = replay {
        for order in replay.take_tick(clock.tick) {
            apply(order.agent, order.intent, true, None);
        }
    }

    // Ascending sender, a sender's intents in behaviour order.
    let SettleState { ordering, rng, queue: merged, groups } = &mut *state;
    if *ordering == Ordering::AgentId {
        queue.drain_in_order(PREFETCH_AHEAD, |agent, intent, later| apply(agent, intent, false, later));
    } else {
        merged.clear();
        queue.drain_in_order(0, |agent, intent, _| merged.push((agent, intent)));
        groups.clear();
        let mut start = 0;
        for i in 1..=merged.len() {
            if i == merged.len() || merged[i].0 != merged[start].0 {
                groups.push((start, i));
                start = i;
            }
        }
        groups.shuffle(rng);
        *merged = groups.iter().flat_map(|&(a, b)| merged[a..b].iter().copied()).collect();
        for (i, &(agent, intent)) in merged.iter().enumerate() {
            apply(agent, intent, false, merged.get(i + PREFETCH_AHEAD).map(|(a, _)| *a));
        }
    }
    block.settle_contract_orders(&prices, &mut contract_orders);
}

/// How many transactions ahead settlement prefetches a sender's wallet.
const PREFETCH_AHEAD: usize = 8;
