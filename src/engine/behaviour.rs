//! Agent behaviours: components that read their agent and emit intents.
//! The engine runs every behaviour type as one system over all agents that
//! carry it, in parallel (rayon over contiguous table slices).

use bevy_ecs::component::Mutable;
use bevy_ecs::prelude::*;
use rayon::prelude::*;

use super::contract::{Contract, Contracts, Prices};
use super::ids::{AccountId, AgentEntities, AgentId, AssetId, ContractId};
use super::intent::{Intent, IntentQueue};
use super::ledger::Ledger;
use super::phase::Clock;
use super::rng::AgentRng;
use super::wallets::{Wallet, Wallets};

/// The public state of the world at the start of the tick, read-only:
/// what every behaviour may look at besides its own agent.
#[derive(Clone, Copy)]
pub struct Market<'a> {
    contracts: &'a Contracts,
    ledger: &'a Ledger,
    prices: &'a Prices,
}

impl<'a> Market<'a> {
    /// A view of these contracts, balances and prices.
    pub fn new(contracts: &'a Contracts, ledger: &'a Ledger, prices: &'a Prices) -> Self {
        Market { contracts, ledger, prices }
    }

    /// Spot price of `contract` this tick (`NaN` if it has none).
    #[inline]
    pub fn price(&self, contract: ContractId) -> f64 {
        self.prices.get(contract)
    }

    /// Balance of `asset` in a contract's account.
    #[inline]
    pub fn balance(&self, contract: ContractId, asset: AssetId) -> f64 {
        self.ledger.balance(AccountId(contract.0), asset)
    }

    /// Contract and named accounts.
    pub fn ledger(&self) -> &'a Ledger {
        self.ledger
    }

    /// The contract itself, as a trait object.
    pub fn contract(&self, id: ContractId) -> &'a dyn Contract {
        self.contracts.0[id.0 as usize].contract.as_ref()
    }

    /// The contract as its concrete type, for behaviours written against
    /// one mechanism (a liquidator reading a lending market's loans).
    pub fn downcast<T: Contract>(&self, id: ContractId) -> Option<&'a T> {
        self.contracts.downcast::<T>(id)
    }
}

/// What a behaviour sees of its agent while deciding.
pub struct AgentView<'a> {
    id: AgentId,
    /// Its balances at the start of the tick (read-only: changes go through
    /// intents and settlement).
    pub wallet: &'a Wallet,
    /// Its private random generator.
    pub rng: &'a mut AgentRng,
    /// The current tick.
    pub tick: u32,
    /// Prices, contracts and balances at the start of the tick.
    pub market: Market<'a>,
    out: &'a mut IntentLane,
}

impl AgentView<'_> {
    /// The agent's id.
    #[inline]
    pub fn id(&self) -> AgentId {
        self.id
    }

    /// A uniform draw from `[0, 1)`.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        use rand::RngExt;
        self.rng.0.random::<f64>()
    }

    /// Queues a transaction for this tick's block.
    #[inline]
    pub fn send(&mut self, intent: Intent) {
        self.out.push((self.id, intent));
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
///         agent.send(Intent::new(self.curve, Action::Buy, Amount::Units(self.amount)));
///     }
/// }
/// ```
pub trait Behaviour: Component<Mutability = Mutable> + Send + Sync + Sized {
    /// Looks at the agent and sends its intents for this tick.
    fn decide(&mut self, agent: &mut AgentView<'_>);
}

/// Agents per Decide task. Fixed (not derived from the thread count) so the
/// order intents come out in never depends on how many threads ran.
const CHUNK: usize = 4096;

/// Intents sent by agents, with their sender, in visit order.
pub type IntentLane = Vec<(AgentId, Intent)>;

/// The data a Decide pass reads and writes: each agent's entity, the
/// component that holds its behaviour (or marks it as sharing one), its
/// generator.
type DecideQuery<'w, 's, T> = Query<'w, 's, (Entity, &'static mut T, &'static mut AgentRng)>;

/// The Decide-phase system of behaviour `B`, writing into intent lane
/// `lane`: every agent carrying a `B` decides with its own.
#[allow(clippy::type_complexity)] // the signature a bevy system closure needs
pub fn decide_system<B: Behaviour>(
    lane: usize,
) -> impl FnMut(
    DecideQuery<B>,
    Res<Clock>,
    (Res<Contracts>, Res<Ledger>, Res<Prices>, Res<Wallets>, Res<AgentEntities>),
    ResMut<IntentQueue>,
    Local<Vec<IntentLane>>,
) {
    decide_pass(lane, 0..u64::MAX, |b: &mut B, agent| b.decide(agent))
}

/// Marks an agent that decides with a population's shared `B` instead of
/// carrying one (see `PopulationBuilder::spawn_stateless`): a marker of no
/// size, so its agents' table holds nothing per agent for `B`.
#[derive(Component)]
pub struct Shares<B: Send + Sync + 'static>(std::marker::PhantomData<fn() -> B>);

impl<B: Send + Sync + 'static> Default for Shares<B> {
    fn default() -> Self {
        Shares(std::marker::PhantomData)
    }
}

/// The Decide-phase system of the agents `agents` (ids) sharing `value`,
/// a behaviour whose `decide` never changes it: each agent decides with a
/// copy, so the result is that of giving every agent its own.
#[allow(clippy::type_complexity)] // the signature a bevy system closure needs
pub fn shared_decide_system<B: Behaviour + Clone>(
    lane: usize,
    value: B,
    agents: std::ops::Range<u64>,
) -> impl FnMut(
    DecideQuery<Shares<B>>,
    Res<Clock>,
    (Res<Contracts>, Res<Ledger>, Res<Prices>, Res<Wallets>, Res<AgentEntities>),
    ResMut<IntentQueue>,
    Local<Vec<IntentLane>>,
) {
    decide_pass(lane, agents, move |_: &mut Shares<B>, agent| value.clone().decide(agent))
}

/// A Decide pass over every agent with a `T` whose id is in `only`
/// (several populations sharing values of one type share a table),
/// calling `decide` with its `T` and view, into intent lane `lane`.
///
/// Agents are split into fixed chunks of each table; chunks run in
/// parallel, each into its own buffer, and the buffers are appended in
/// chunk order.
#[allow(clippy::type_complexity)] // the signature a bevy system closure needs
fn decide_pass<T: Component<Mutability = Mutable>>(
    lane: usize,
    only: std::ops::Range<u64>,
    decide: impl Fn(&mut T, &mut AgentView<'_>) + Send + Sync + 'static,
) -> impl FnMut(
    DecideQuery<T>,
    Res<Clock>,
    (Res<Contracts>, Res<Ledger>, Res<Prices>, Res<Wallets>, Res<AgentEntities>),
    ResMut<IntentQueue>,
    Local<Vec<IntentLane>>,
) {
    move |mut agents, clock, (contracts, ledger, prices, wallets, agent_ids), mut queue, mut buffers| {
        let tick = clock.tick;
        let market = Market::new(&contracts, &ledger, &prices);
        let out = queue.lane(lane);
        let tables = agents.contiguous_iter_mut().expect("agent components are table-stored");
        let (wallets, agent_ids) = (&*wallets, *agent_ids);
        for (entities, mut items, mut rngs) in tables {
            let items = items.bypass_change_detection();
            let rngs = rngs.bypass_change_detection();
            let n_chunks = entities.len().div_ceil(CHUNK);
            if buffers.len() < n_chunks {
                buffers.resize_with(n_chunks, Vec::new);
            }
            let ctx = ChunkCtx { wallets, agent_ids, tick, market, only: only.clone() };
            let run =
                |(((entities, items), rngs), buf)| decide_chunk(entities, items, rngs, buf, &ctx, &decide);
            let chunks = entities
                .par_chunks(CHUNK)
                .zip(items.par_chunks_mut(CHUNK))
                .zip(rngs.par_chunks_mut(CHUNK))
                .zip(buffers[..n_chunks].par_iter_mut());
            if n_chunks == 1 || rayon::current_num_threads() == 1 {
                chunks.with_min_len(usize::MAX).for_each(run);
            } else {
                chunks.for_each(run);
            }
            for buf in &buffers[..n_chunks] {
                out.extend_from_slice(buf);
            }
        }
    }
}

/// What every chunk of a Decide pass reads.
struct ChunkCtx<'a> {
    wallets: &'a Wallets,
    agent_ids: AgentEntities,
    tick: u32,
    market: Market<'a>,
    /// The agents to decide for (the population of a shared value).
    only: std::ops::Range<u64>,
}

/// Runs `decide` for one chunk of agents into `buf`: those of `ctx.only`
/// among them. A chunk of consecutive agents (the usual case: a table
/// holds agents in id order) is walked as slices, its wallets a row after
/// another.
fn decide_chunk<T>(
    entities: &[Entity],
    items: &mut [T],
    rngs: &mut [AgentRng],
    buf: &mut IntentLane,
    ctx: &ChunkCtx<'_>,
    decide: &impl Fn(&mut T, &mut AgentView<'_>),
) {
    buf.clear();
    let (Some(&head), Some(&tail)) = (entities.first(), entities.last()) else { return };
    let first = ctx.agent_ids.id(head).0;
    if ctx.agent_ids.id(tail).0.wrapping_sub(first) == entities.len() as u64 - 1 {
        let lo = ctx.only.start.max(first);
        let hi = ctx.only.end.min(first + entities.len() as u64);
        if lo >= hi {
            return;
        }
        let wallets = ctx.wallets.range(AgentId(lo), (hi - lo) as usize);
        let (a, b) = ((lo - first) as usize, (hi - first) as usize);
        let rows = items[a..b].iter_mut().zip(&mut rngs[a..b]).zip(wallets.iter());
        for (k, ((item, rng), wallet)) in rows.enumerate() {
            let id = AgentId(lo + k as u64);
            decide(item, &mut AgentView { id, wallet, rng, tick: ctx.tick, market: ctx.market, out: buf });
        }
        return;
    }
    for ((&e, item), rng) in entities.iter().zip(items).zip(rngs) {
        let id = ctx.agent_ids.id(e);
        if !ctx.only.contains(&id.0) {
            continue;
        }
        let Some(wallet) = ctx.wallets.get(id) else { continue };
        decide(item, &mut AgentView { id, wallet, rng, tick: ctx.tick, market: ctx.market, out: buf });
    }
}
