//! Building a run's `World` from a scenario: assets and wallet slots,
//! contracts through their registered kinds, populations and their
//! behaviours, replayed orders, the metric columns and the tick schedule.
//! Every error found here is located in the scenario file.

use std::any::TypeId;
use std::collections::HashSet;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::ScheduleLabel;
use bevy_ecs::schedule::SingleThreadedExecutor;
use rand_pcg::Pcg64Mcg;

use super::accrue::{accrue_system, begin_tick_system};
use super::behaviour::{Behaviour, Shares, decide_system, shared_decide_system};
use super::check::{AgentTotals, check_system, measure_system};
use super::contract::{Contract, ContractSlot, Contracts, Measure, MetricDef, MetricKind, Prices};
use super::ids::{AccountId, AgentEntities, AgentId, AssetId, ContractId, SlotId};
use super::intent::{Action, IntentQueue};
use super::ledger::{Account, Ledger, MAX_SLOTS, SlotDef, SlotKind, SlotTable, column_name};
use super::metric_info::{ENGINE_METRICS, MetricInfo, usable_column};
use super::monitor::{population_metric_system, property_system};
use super::observe::observe_system;
use super::phase::{Clock, DecideOrder, Phase, TickLog};
use super::replay::{Replay, ReplayOrder, order_intent, read_orders, side_action};
use super::rng::{AgentRng, Stream, stream_rng};
use super::settle::{SettleState, settle_system};
use super::spawn::{Pending, PendingColumn, reserve_agents, spawn_agents};
use super::topology::{EdgeKind, Moves, Role, Topology, Way};
use super::wallets::Wallets;
use crate::error::{Error, ScenarioError};
use crate::params::{MAX_AMOUNT, MIN_AMOUNT, Need, Ty, Values};
use crate::registry::Registry;
use crate::scenario::source::join;
use crate::scenario::{AgentParam, LoadedScenario, Source};

/// The label of the per-tick schedule.
#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tick;

/// One output column of `ticks.parquet`.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricColumn {
    /// Column name.
    pub name: String,
    /// Float or integer column.
    pub kind: MetricKind,
    /// Index into [`TickLog::metrics`].
    pub index: usize,
    /// What it means (for `manifest.json` and `tokensim metrics`).
    pub info: MetricInfo,
}

/// Names and lookups shared by every builder.
struct Names<'a> {
    source: &'a Source,
    base_dir: &'a std::path::Path,
    assets: &'a [String],
    contracts: Vec<String>,
}

impl Names<'_> {
    fn asset(&self, path: &str, name: &str) -> Result<AssetId, ScenarioError> {
        self.assets.iter().position(|a| a == name).map(|i| AssetId(i as u8)).ok_or_else(|| {
            self.source.error(path, format!("unknown asset `{name}`; assets: {}", self.assets.join(", ")))
        })
    }

    fn contract(&self, path: &str, name: &str) -> Result<ContractId, ScenarioError> {
        self.contracts.iter().position(|c| c == name).map(|i| ContractId(i as u16)).ok_or_else(|| {
            self.source
                .error(path, format!("unknown contract `{name}`; contracts: {}", self.contracts.join(", ")))
        })
    }
}

/// The need declared for reference parameter `field`, if it is one.
fn need_of(values: &Values, field: &str) -> Need {
    match values.find(field).map(|p| p.ty) {
        Some(Ty::Contract(need) | Ty::Account(need)) => need,
        _ => Need::ANY,
    }
}

/// What the declaration of reference `field` says it moves, with the asset
/// parameter resolved to the asset's name.
fn moves_of(values: &Values, field: &str) -> Option<Moves> {
    let (way, what, asset) = values.find(field)?.moves?;
    let asset = if asset.is_empty() { "" } else { values.opt_str(asset).unwrap_or_default() };
    Some(Moves { way, what: what.to_string(), asset: asset.to_string() })
}

/// What a [`MechanismKind`](crate::registry::MechanismKind) gets to build
/// its contract: its parameters, name lookups, the ledger and the schedule.
pub struct ContractBuilder<'a> {
    names: &'a Names<'a>,
    id: ContractId,
    path: String,
    table: &'a toml::Table,
    values: Values,
    run_seed: u64,
    ledger: &'a mut Ledger,
    slots: &'a mut SlotTable,
    schedule: &'a mut Schedule,
    topology: &'a mut Topology,
    /// `(parameter path, contract, need)`: references checked once every
    /// contract is built (the named one may come later in the file).
    needs: &'a mut Vec<(String, ContractId, Need)>,
}

impl ContractBuilder<'_> {
    /// This contract's scenario name.
    pub fn name(&self) -> &str {
        &self.names.contracts[self.id.0 as usize]
    }

    /// This contract's id.
    pub fn id(&self) -> ContractId {
        self.id
    }

    /// This contract's own ledger account.
    pub fn account(&self) -> AccountId {
        AccountId(self.id.0)
    }

    /// The contract's parameters, read and checked against the kind's
    /// declaration ([`MechanismKind::params`](crate::registry::MechanismKind::params)).
    pub fn params(&self) -> Values {
        self.values.clone()
    }

    /// Deserialises `value`, the raw value of parameter `field` (declared
    /// [`Ty::Tables`]), into `T`, with errors located inside it.
    pub fn deserialize<T: serde::de::DeserializeOwned>(
        &self,
        field: &str,
        value: toml::Value,
    ) -> Result<T, ScenarioError> {
        crate::scenario::from_table(self.names.source, &join(&self.path, field), value)
    }

    /// Whether the scenario itself writes parameter `field` (a default
    /// does not count): for checks that a given key is not ignored.
    pub fn has_param(&self, field: &str) -> bool {
        self.table.contains_key(field)
    }

    /// An error about parameter `field` of this contract.
    pub fn invalid(&self, field: &str, message: impl std::fmt::Display) -> ScenarioError {
        self.names.source.error(&join(&self.path, field), message)
    }

    /// Resolves an asset name given in parameter `field`.
    pub fn asset(&mut self, field: &str, name: &str) -> Result<AssetId, ScenarioError> {
        let id = self.names.asset(&join(&self.path, field), name)?;
        let me = self.name().to_string();
        let stock = self.values.find(field).and_then(|p| p.stock).unwrap_or(field);
        self.topology.edge(&me, name, stock, EdgeKind::Asset, None);
        Ok(id)
    }

    /// The asset named by parameter `field` (declared [`Ty::Asset`]), if
    /// it has a value.
    pub fn opt_asset_param(&mut self, field: &str) -> Result<Option<AssetId>, ScenarioError> {
        match self.values.opt_str(field).map(str::to_string) {
            Some(name) => self.asset(field, &name).map(Some),
            None => Ok(None),
        }
    }

    /// The asset named by required or defaulted parameter `field`.
    pub fn asset_param(&mut self, field: &str) -> Result<AssetId, ScenarioError> {
        let name = self.values.str(field).to_string();
        self.asset(field, &name)
    }

    /// Resolves a contract name given in parameter `field` to its id
    /// (its account is `AccountId(id.0)`). A contract may name one defined
    /// later in the file; it cannot name itself. What the declaration of
    /// `field` requires of it ([`Need`]) is checked once every contract is
    /// built.
    pub fn contract(&mut self, field: &str, name: &str) -> Result<ContractId, ScenarioError> {
        if name == self.name() {
            return Err(self.invalid(field, "a contract cannot name itself here"));
        }
        let id = self.names.contract(&join(&self.path, field), name)?;
        let me = self.name().to_string();
        self.topology.edge(&me, name, field, EdgeKind::Reference, moves_of(&self.values, field));
        let need = need_of(&self.values, field);
        self.needs.push((join(&self.path, field), id, need));
        Ok(id)
    }

    /// The contract named by parameter `field` (declared [`Ty::Contract`]),
    /// if it has a value.
    pub fn opt_contract_param(&mut self, field: &str) -> Result<Option<ContractId>, ScenarioError> {
        match self.values.opt_str(field).map(str::to_string) {
            Some(name) => self.contract(field, &name).map(Some),
            None => Ok(None),
        }
    }

    /// The contract named by required or defaulted parameter `field`.
    pub fn contract_param(&mut self, field: &str) -> Result<ContractId, ScenarioError> {
        let name = self.values.str(field).to_string();
        self.contract(field, &name)
    }

    /// The account called `name` (given in parameter `field`): a contract's
    /// account, which must meet the parameter's declared [`Need`] and may
    /// not be this contract's own, or a named account, created empty if no
    /// earlier account has that name (e.g. `hatch`).
    pub fn named_account(&mut self, field: &str, name: &str) -> Result<AccountId, ScenarioError> {
        if name == self.name() {
            return Err(self.invalid(field, "a contract cannot name its own account here"));
        }
        if self.names.contracts.iter().any(|c| c == name) {
            return self.contract(field, name).map(|c| AccountId(c.0));
        }
        let me = self.name().to_string();
        self.topology.node(name, Role::Account, "account");
        self.topology.edge(&me, name, field, EdgeKind::Reference, moves_of(&self.values, field));
        Ok(self.ledger.find(name).unwrap_or_else(|| {
            self.ledger.accounts.push(Account { name: name.to_string(), balances: [0.0; MAX_SLOTS] });
            AccountId((self.ledger.accounts.len() - 1) as u16)
        }))
    }

    /// The account named by parameter `field` (declared [`Ty::Account`]),
    /// if it has a value.
    pub fn opt_account_param(&mut self, field: &str) -> Result<Option<AccountId>, ScenarioError> {
        match self.values.opt_str(field).map(str::to_string) {
            Some(name) => self.named_account(field, &name).map(Some),
            None => Ok(None),
        }
    }

    /// The account named by required or defaulted parameter `field`.
    pub fn account_param(&mut self, field: &str) -> Result<AccountId, ScenarioError> {
        let name = self.values.str(field).to_string();
        self.named_account(field, &name)
    }

    /// Adds a per-agent position slot called `name` (declared by parameter
    /// `field`), e.g. a staking pool's staked balance. With `backing`, each
    /// unit of the position is backed by one unit of that asset in this
    /// contract's account, and populations may start with the position
    /// (`balances = { staked = 100 }`).
    pub fn add_position(
        &mut self,
        field: &str,
        name: &str,
        backing: Option<AssetId>,
    ) -> Result<SlotId, ScenarioError> {
        if self.slots.slots.iter().any(|s| s.name == name || column_name(&s.name) == column_name(name)) {
            return Err(self.invalid(
                field,
                format!("a wallet slot called `{name}` already exists; choose another name"),
            ));
        }
        if self.slots.slots.len() >= MAX_SLOTS {
            return Err(self
                .invalid(field, format!("too many wallet slots: at most {MAX_SLOTS} assets and positions")));
        }
        let contract = self.name().to_string();
        let moves = moves_of(&self.values, field);
        self.topology.edge(&contract, name, field, EdgeKind::Position, moves);
        self.slots
            .slots
            .push(SlotDef { name: name.to_string(), kind: SlotKind::Position { contract, backing } });
        Ok(SlotId((self.slots.slots.len() - 1) as u8))
    }

    /// Reads a `tick,<value_column>` series from the file named by parameter
    /// `field` (relative to the scenario's directory), e.g. a recorded
    /// price history. Errors point at the parameter and name the file's
    /// line or row.
    pub fn read_series(
        &self,
        field: &str,
        file: &str,
        value_column: &str,
    ) -> Result<Vec<(u32, f64)>, ScenarioError> {
        let path = self.names.base_dir.join(file);
        if !path.exists() {
            return Err(self.invalid(field, format!("file `{}` does not exist", path.display())));
        }
        if path.is_dir() {
            return Err(self
                .invalid(field, format!("`{}` is a directory; name a CSV or Parquet file", path.display())));
        }
        crate::scenario::series::read_series(&path, value_column).map_err(|e| self.invalid(field, e))
    }

    /// Creates `amount` of `asset` in `account` at genesis.
    pub fn issue(&mut self, account: AccountId, asset: AssetId, amount: f64) {
        self.ledger.issue(account, asset, amount);
    }

    /// A random generator private to this contract in this run.
    pub fn rng(&self) -> Pcg64Mcg {
        stream_rng(self.run_seed, Stream::Contract, &[u64::from(self.id.0)])
    }

    /// Adds systems of this mechanism to a phase of the tick. Systems in
    /// [`Phase::Accrue`] run before the engine's credit pass; systems in
    /// [`Phase::Measure`] and [`Phase::Check`] must not change balances.
    pub fn add_systems<M>(
        &mut self,
        phase: Phase,
        systems: impl IntoScheduleConfigs<bevy_ecs::system::ScheduleSystem, M>,
    ) {
        let systems = systems.in_set(phase);
        if phase == Phase::Accrue {
            self.schedule.add_systems(systems.before(accrue_system));
        } else {
            self.schedule.add_systems(systems);
        }
    }
}

/// What a [`BehaviourKind`](crate::registry::BehaviourKind) gets to attach
/// itself to a population.
pub struct PopulationBuilder<'a> {
    names: &'a Names<'a>,
    path: String,
    values: Values,
    world: &'a mut World,
    schedule: &'a mut Schedule,
    count: usize,
    first_id: u64,
    pending: &'a mut Vec<Box<dyn PendingColumn>>,
    rng: Pcg64Mcg,
    order: usize,
    registered: &'a mut HashSet<TypeId>,
    population: &'a str,
    behaviour: &'a str,
    topology: &'a mut Topology,
    ledger: &'a Ledger,
}

impl PopulationBuilder<'_> {
    /// Resolves an asset name given in parameter `field`.
    pub fn asset(&self, field: &str, name: &str) -> Result<AssetId, ScenarioError> {
        self.names.asset(&join(&self.path, field), name)
    }

    /// Resolves a wallet slot (an asset or a contract's position) named in
    /// parameter `field`.
    pub fn slot(&self, field: &str, name: &str) -> Result<SlotId, ScenarioError> {
        let slots = self.world.resource::<SlotTable>();
        slots.slots.iter().position(|s| s.name == name).map(|i| SlotId(i as u8)).ok_or_else(|| {
            let names: Vec<&str> = slots.slots.iter().map(|s| s.name.as_str()).collect();
            self.invalid(field, format!("unknown wallet slot `{name}`; slots: {}", names.join(", ")))
        })
    }

    /// The asset backing position `slot` one for one (a staked or locked
    /// token), or `None` for an asset or an unbacked position: lets a
    /// behaviour given a position find the token it turns into.
    pub fn backing(&self, slot: SlotId) -> Option<AssetId> {
        match self.world.resource::<SlotTable>().slots.get(slot.0 as usize)?.kind {
            SlotKind::Position { backing, .. } => backing,
            SlotKind::Asset => None,
        }
    }

    /// The behaviour's parameters, read and checked against the kind's
    /// declaration ([`BehaviourKind::params`](crate::registry::BehaviourKind::params)).
    pub fn params(&self) -> Values {
        self.values.clone()
    }

    /// An error about parameter `field` of this behaviour.
    pub fn invalid(&self, field: &str, message: impl std::fmt::Display) -> ScenarioError {
        self.names.source.error(&join(&self.path, field), message)
    }

    /// The contract named by parameter `field` (declared [`Ty::Contract`]),
    /// if it has a value, checked against the declared [`Need`]: the
    /// actions it must accept, a price, a market, a kind.
    pub fn opt_contract_param(&mut self, field: &str) -> Result<Option<ContractId>, ScenarioError> {
        let Some(name) = self.values.opt_str(field).map(str::to_string) else { return Ok(None) };
        let need = need_of(&self.values, field);
        let id = self.contract_for(field, &name, need.actions)?;
        if let Some(message) = unmet(&self.world.resource::<Contracts>().0, id, &need, self.ledger) {
            return Err(self.invalid(field, message));
        }
        Ok(Some(id))
    }

    /// The contract named by required or defaulted parameter `field`.
    pub fn contract_param(&mut self, field: &str) -> Result<ContractId, ScenarioError> {
        let id = self.opt_contract_param(field)?;
        Ok(id.unwrap_or_else(|| panic!("parameter `{field}` has no value")))
    }

    /// The wallet slot named by parameter `field` (declared [`Ty::Slot`]).
    pub fn slot_param(&self, field: &str) -> Result<SlotId, ScenarioError> {
        self.slot(field, self.values.str(field))
    }

    /// The asset named by parameter `field`, if it has a value.
    pub fn opt_asset_param(&self, field: &str) -> Result<Option<AssetId>, ScenarioError> {
        self.values.opt_str(field).map(|name| self.asset(field, name)).transpose()
    }

    /// Resolves contract `name` (parameter `field`), which must accept every
    /// action in `actions`.
    pub fn contract_for(
        &mut self,
        field: &str,
        name: &str,
        actions: &[Action],
    ) -> Result<ContractId, ScenarioError> {
        let id = self.names.contract(&join(&self.path, field), name)?;
        let contracts = self.world.resource::<Contracts>();
        let accepts = contracts.0[id.0 as usize].contract.accepts();
        if let Some(missing) = actions.iter().find(|a| !accepts.contains(a)) {
            let able = contracts
                .0
                .iter()
                .filter(|s| actions.iter().all(|a| s.contract.accepts().contains(a)))
                .map(|s| s.name.as_str());
            return Err(self.invalid(
                field,
                format!(
                    "contract `{name}` ({}) does not accept `{}`; contracts that do: {}",
                    contracts.0[id.0 as usize].kind,
                    missing.name(),
                    listing(able)
                ),
            ));
        }
        // One edge per way the principal moves (reading only: no value).
        let ways =
            if actions.is_empty() { vec![Way::Reads] } else { vec![Way::Forward, Way::Backward, Way::Both] };
        for way in ways {
            let names: Vec<&str> = actions.iter().filter(|a| a.way() == way).map(|a| a.name()).collect();
            if names.is_empty() && way != Way::Reads {
                continue;
            }
            let what = if way == Way::Reads { "reads".to_string() } else { names.join(", ") };
            let label = format!("{}: {what}", self.behaviour);
            let moves = Moves { way, what, asset: String::new() };
            self.topology.edge(self.population, name, &label, EdgeKind::Acts, Some(moves));
        }
        Ok(id)
    }

    /// Like [`contract_for`](Self::contract_for), and the contract must
    /// publish a price (a feed, a curve, a pool): for behaviours that read
    /// one, so naming a contract without a price is an error rather than an
    /// agent that never acts.
    pub fn priced_contract(
        &mut self,
        field: &str,
        name: &str,
        actions: &[Action],
    ) -> Result<ContractId, ScenarioError> {
        let id = self.contract_for(field, name, actions)?;
        self.check_priced(field, id)?;
        Ok(id)
    }

    /// Checks that contract `id` (named by parameter `field`) publishes a
    /// price.
    pub fn check_priced(&self, field: &str, id: ContractId) -> Result<(), ScenarioError> {
        match unmet(&self.world.resource::<Contracts>().0, id, &Need::PRICED, self.ledger) {
            Some(message) => Err(self.invalid(field, message)),
            None => Ok(()),
        }
    }

    /// Contract `id` as a `T`, if it is one: lets a behaviour read a
    /// mechanism's configuration once at build time instead of every tick.
    pub fn contract_as<T: Contract>(&self, id: ContractId) -> Option<&T> {
        self.world.resource::<Contracts>().downcast::<T>(id)
    }

    /// The `(token, quote)` pair contract `id` makes a market in
    /// ([`Contract::market`]), if any.
    pub fn contract_market(&self, id: ContractId) -> Option<(AssetId, AssetId)> {
        self.world.resource::<Contracts>().0[id.0 as usize].contract.market()
    }

    /// Whether contract `id` is a `T`.
    pub fn contract_is<T: Contract>(&self, id: ContractId) -> bool {
        self.contract_as::<T>(id).is_some()
    }

    /// Like [`contract_for`](Self::contract_for), and the contract must
    /// be a `T` (registered as kind `kind`): for behaviours that read a
    /// mechanism's own state (a liquidator reading a lending market's
    /// loans), so naming the wrong contract is an error, not an agent that
    /// silently does nothing.
    pub fn contract_of<T: Contract>(
        &mut self,
        field: &str,
        name: &str,
        actions: &[Action],
        kind: &str,
    ) -> Result<ContractId, ScenarioError> {
        let id = self.contract_for(field, name, actions)?;
        let contracts = self.world.resource::<Contracts>();
        if contracts.downcast::<T>(id).is_none() {
            let able = (0..contracts.0.len())
                .filter(|&i| contracts.downcast::<T>(ContractId(i as u16)).is_some())
                .map(|i| contracts.0[i].name.as_str());
            return Err(self.invalid(
                field,
                format!(
                    "contract `{name}` is of kind `{}`, but this needs kind `{kind}`; contracts of that kind: {}",
                    contracts.0[id.0 as usize].kind,
                    listing(able)
                ),
            ));
        }
        Ok(id)
    }

    /// Number of agents in the population.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Gives each agent of the population the behaviour `make` returns
    /// (called once per agent in id order with a generator for sampling
    /// per-agent parameters) and schedules `B`'s Decide system. The
    /// components are made as the population is spawned, after every
    /// behaviour is attached, a step of agents at a time, so `make` owns
    /// what it reads (a `move` closure) and is the last use of this
    /// behaviour's generator.
    pub fn spawn<B: Behaviour>(&mut self, make: impl FnMut(&mut Pcg64Mcg) -> B + 'static) {
        let rng = std::mem::replace(&mut self.rng, Pcg64Mcg::new(0));
        self.pending.push(Box::new(Pending::new(rng, make)));
        if self.registered.insert(TypeId::of::<B>()) {
            self.schedule.add_systems(
                decide_system::<B>(self.order).in_set(Phase::Decide).in_set(DecideOrder(self.order)),
            );
        }
    }
}

impl PopulationBuilder<'_> {
    /// Like [`spawn`](Self::spawn), for a behaviour whose `decide` never
    /// changes `self`: when `make` gives every agent an equal value (every
    /// per-agent parameter a constant), the agents share that one value
    /// instead of carrying a component each, which is less memory and less
    /// to read every tick. The run is the same either way.
    pub fn spawn_stateless<B: Behaviour + Clone + PartialEq>(
        &mut self,
        mut make: impl FnMut(&mut Pcg64Mcg) -> B + 'static,
    ) {
        let mut probe = self.rng.clone();
        let Some(first) = (self.count > 0).then(|| make(&mut probe)) else { return self.spawn(make) };
        if !(1..self.count).all(|_| make(&mut probe) == first) {
            return self.spawn(make);
        }
        self.rng = Pcg64Mcg::new(0);
        self.pending.push(Box::new(Pending::new(probe, |_: &mut Pcg64Mcg| Shares::<B>::default())));
        let agents = self.first_id..self.first_id + self.count as u64;
        self.schedule.add_systems(
            shared_decide_system(self.order, first, agents)
                .in_set(Phase::Decide)
                .in_set(DecideOrder(self.order)),
        );
    }
}

/// The API of [`PopulationBehaviour`](super::population::PopulationBehaviour)s:
/// one decision per tick for the whole population.
impl PopulationBuilder<'_> {
    /// Samples per-agent parameter `p` once per agent, in id order.
    pub fn sample_all(&mut self, p: &AgentParam) -> Vec<f64> {
        (0..self.count).map(|_| p.0.sample(&mut self.rng)).collect()
    }

    /// Every contract's name and the actions it accepts, in file order.
    pub fn contracts(&self) -> Vec<(String, &'static [Action])> {
        self.world.resource::<Contracts>().0.iter().map(|s| (s.name.clone(), s.contract.accepts())).collect()
    }

    /// The wallet slots (assets, then positions).
    pub fn slots(&self) -> &SlotTable {
        self.world.resource::<SlotTable>()
    }

    /// Gives the population `behaviour`, which decides for all its agents
    /// at once every tick with `params` (per-agent values in id order, e.g.
    /// from [`sample_all`](Self::sample_all)).
    pub fn spawn_population(
        &mut self,
        behaviour: impl super::population::PopulationBehaviour,
        params: Vec<(String, Vec<f64>)>,
    ) {
        let system = super::population::PopulationSystem {
            behaviour: Box::new(behaviour),
            names: (self.behaviour.to_string(), self.population.to_string()),
            ids: (self.first_id..self.first_id + self.count as u64).map(AgentId).collect(),
            params,
            seed: rand::RngExt::random(&mut self.rng),
            lane: self.order,
        };
        self.schedule.add_systems(system.into_system().in_set(Phase::Decide).in_set(DecideOrder(self.order)));
    }
}

/// Identity of a run inside an experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSpec {
    /// Index of the run in the experiment's run list.
    pub run_id: u32,
    /// Parameter point.
    pub point_id: u32,
    /// Monte Carlo replicate within the point.
    pub replicate: u32,
    /// Variant name (empty without variants).
    pub variant: String,
    /// The run's seed, from which every stream derives.
    pub seed: u64,
    /// The swept values of its point, `(dotted path, value)`.
    pub params: Vec<(String, toml::Value)>,
}

impl RunSpec {
    /// The only run of a plain scenario.
    pub fn single(master_seed: u64) -> Self {
        RunSpec {
            run_id: 0,
            point_id: 0,
            replicate: 0,
            variant: String::new(),
            seed: super::rng::run_seed(master_seed, 0),
            params: Vec::new(),
        }
    }
}

/// A built world and its schedule, ready to tick.
pub struct Built {
    /// The world.
    pub world: World,
    /// The per-tick schedule.
    pub schedule: Schedule,
    /// Columns of `ticks.parquet` beyond `run_id, tick`.
    pub metric_columns: Vec<MetricColumn>,
    /// Number of agents.
    pub n_agents: u64,
}

/// Builds the world of one run; with `validate_only`, every population gets
/// at most one agent (all checks run, nothing large is allocated).
pub fn build(
    loaded: &LoadedScenario,
    registry: &Registry,
    run: &RunSpec,
    validate_only: bool,
) -> Result<Built, Error> {
    let sc = &loaded.scenario;
    let source = &loaded.source;
    if sc.ticks == 0 {
        return Err(source.error("ticks", "must be at least 1").into());
    }
    let slots = asset_slots(source, &sc.assets)?;
    let names = Names {
        source,
        base_dir: &loaded.base_dir,
        assets: &sc.assets,
        contracts: sc.contracts.keys().cloned().collect(),
    };
    if names.contracts.len() > usize::from(u16::MAX) {
        return Err(source.error("contracts", "too many contracts").into());
    }

    let mut world = World::new();
    reserve_resources(&mut world);
    let mut schedule = Schedule::new(Tick);
    schedule.set_executor(SingleThreadedExecutor::new());
    for pair in Phase::ALL.windows(2) {
        schedule.configure_sets(pair[0].before(pair[1]));
    }

    let mut ledger = Ledger::default();
    for name in &names.contracts {
        ledger.accounts.push(Account { name: name.clone(), balances: [0.0; MAX_SLOTS] });
    }
    let mut slots = slots;
    let mut topology = Topology { assets: sc.assets.clone(), ..Default::default() };
    let mut parts = Parts { ledger: &mut ledger, schedule: &mut schedule, topology: &mut topology };
    let contracts = build_contracts(&names, registry, sc, run, &mut slots, &mut parts)?;
    let mut metric_columns =
        metric_columns(source, &contract_metric_names(source, &sc.metrics)?, &contracts, &|c, p| {
            contract_asset(sc, registry, c, p)
        })?;
    world.insert_resource(Contracts(contracts));
    world.insert_resource(slots);

    let n_agents = spawn_populations(&names, registry, sc, run, validate_only, &mut world, &mut parts)?;
    let replay = match &sc.orders {
        Some(spec) => Some(load_replay(&names, loaded, spec, n_agents, &world)?),
        None => None,
    };

    let (population_metrics, properties) =
        super::monitor::build_monitors(source, sc, &world, &ledger, &mut metric_columns)?;
    world.insert_resource(population_metrics);
    world.insert_resource(properties);
    world.insert_resource(ledger);
    world.insert_resource(topology);
    world.insert_resource(Prices::default());
    world.insert_resource(Clock::default());
    world.insert_resource(TickLog { record_events: sc.output.events, ..Default::default() });
    world.insert_resource(SettleState::new(sc.ordering, stream_rng(run.seed, Stream::Settle, &[])));
    world.insert_resource(IntentQueue::default());
    world.insert_resource(AgentTotals::default());
    world.insert_resource(replay.unwrap_or_default());
    schedule.add_systems((
        begin_tick_system.in_set(Phase::Exogenous),
        observe_system.in_set(Phase::Observe),
        settle_system.in_set(Phase::Settle),
        accrue_system.in_set(Phase::Accrue),
        measure_system.in_set(Phase::Measure),
        population_metric_system.in_set(Phase::Measure).after(measure_system),
        check_system.in_set(Phase::Check),
        property_system.in_set(Phase::Check).after(check_system),
    ));
    let orders: Vec<usize> = (0..registry.behaviours().count()).collect();
    for pair in orders.windows(2) {
        schedule.configure_sets(DecideOrder(pair[0]).before(DecideOrder(pair[1])));
    }
    schedule.initialize(&mut world).map_err(|e| Error::Run(format!("schedule: {e}")))?;
    Ok(Built { world, schedule, metric_columns, n_agents })
}

/// Creates every resource of a world before its agents, with placeholder
/// values that `build` then replaces. In bevy 0.20 a resource is an entity,
/// and a component's sparse set is as long as the highest entity index that
/// holds it: a resource created after ten million agents costs 40 MB.
fn reserve_resources(world: &mut World) {
    world.init_resource::<bevy_ecs::schedule::Schedules>();
    world.init_resource::<Contracts>();
    world.init_resource::<SlotTable>();
    world.init_resource::<Wallets>();
    world.init_resource::<AgentEntities>();
    world.init_resource::<super::monitor::PopulationMetrics>();
    world.init_resource::<super::monitor::PropertyMonitor>();
    world.init_resource::<Ledger>();
    world.init_resource::<Topology>();
    world.init_resource::<Prices>();
    world.init_resource::<Clock>();
    world.init_resource::<TickLog>();
    world.insert_resource(SettleState::new(crate::scenario::Ordering::AgentId, Pcg64Mcg::new(0)));
    world.init_resource::<IntentQueue>();
    world.init_resource::<AgentTotals>();
    world.init_resource::<Replay>();
}

fn asset_slots(source: &Source, assets: &[String]) -> Result<SlotTable, ScenarioError> {
    if assets.len() > MAX_SLOTS {
        return Err(source.error("assets", format!("at most {MAX_SLOTS} assets are supported")));
    }
    let mut slots = SlotTable { slots: Vec::new(), n_assets: assets.len() };
    for (i, a) in assets.iter().enumerate() {
        let field = format!("assets.{i}");
        if a.is_empty() || !a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(source.error(&field, format!("asset name `{a}` must be letters, digits or _")));
        }
        if assets[..i].iter().any(|b| column_name(b) == column_name(a)) {
            return Err(source.error(&field, format!("asset `{a}` is listed twice")));
        }
        slots.slots.push(SlotDef { name: a.clone(), kind: SlotKind::Asset });
    }
    Ok(slots)
}

/// The parts of a world every builder adds to.
struct Parts<'a> {
    ledger: &'a mut Ledger,
    schedule: &'a mut Schedule,
    topology: &'a mut Topology,
}

fn build_contracts(
    names: &Names<'_>,
    registry: &Registry,
    sc: &crate::scenario::Scenario,
    run: &RunSpec,
    slots: &mut SlotTable,
    parts: &mut Parts<'_>,
) -> Result<Vec<ContractSlot>, ScenarioError> {
    let mut built = Vec::new();
    let mut needs = Vec::new();
    for (i, (name, table)) in sc.contracts.iter().enumerate() {
        let path = format!("contracts.{name}");
        let kind_name = match table.get("kind") {
            Some(toml::Value::String(k)) => k.as_str(),
            Some(_) => return Err(names.source.error(&join(&path, "kind"), "must be a string")),
            None => {
                return Err(names.source.error(
                    &join(&path, "kind"),
                    format!("missing field `kind`; registered mechanisms: {}", registry.mechanism_names()),
                ));
            }
        };
        let kind = registry.mechanism(kind_name).ok_or_else(|| {
            names.source.error(
                &join(&path, "kind"),
                format!(
                    "unknown mechanism `{kind_name}`; registered mechanisms: {}",
                    registry.mechanism_names()
                ),
            )
        })?;
        parts.topology.node(name, Role::Contract, kind.name());
        if name.trim().is_empty() || name.contains('.') {
            return Err(names
                .source
                .error(&path, format!("contract name `{name}` must be non-empty and contain no `.`")));
        }
        let mut own = table.clone();
        own.remove("kind");
        let values = Values::read(kind.params(), names.source, &path, &own)?;
        let mut ctx = ContractBuilder {
            names,
            id: ContractId(i as u16),
            path,
            table,
            values,
            run_seed: run.seed,
            ledger: parts.ledger,
            slots,
            schedule: parts.schedule,
            topology: parts.topology,
            needs: &mut needs,
        };
        let contract: Box<dyn Contract> = kind.build(&mut ctx)?;
        built.push(ContractSlot {
            name: name.clone(),
            kind: kind.name(),
            account: AccountId(i as u16),
            contract,
        });
    }
    for slot in &built {
        let defs = slot.contract.metrics();
        let problem = if defs.len() > Measure::MAX_METRICS {
            Some(format!("declares {} metrics; at most {} are supported", defs.len(), Measure::MAX_METRICS))
        } else {
            let mut values = vec![0.0; defs.len()];
            let mut probe = Measure::new(defs, &mut values);
            slot.contract.measure(parts.ledger, &mut probe);
            probe.problem()
        };
        if let Some(problem) = problem {
            let path = format!("contracts.{}.kind", slot.name);
            return Err(names.source.error(&path, format!("mechanism `{}` {problem}", slot.kind)));
        }
    }
    for (path, id, need) in needs {
        if let Some(message) = unmet(&built, id, &need, parts.ledger) {
            return Err(names.source.error(&path, message));
        }
    }
    Ok(built)
}

/// Why contract `id` does not meet `need` (the first requirement it
/// fails, with the contracts that meet them all), or `None` if it does.
fn unmet(contracts: &[ContractSlot], id: ContractId, need: &Need, ledger: &Ledger) -> Option<String> {
    type Test<'t> = Box<dyn Fn(&ContractSlot) -> bool + 't>;
    let slot = &contracts[id.0 as usize];
    // (why it fails, how the contracts that fit are introduced, the test)
    let mut tests: Vec<(String, &str, Test<'_>)> = Vec::new();
    for &a in need.actions {
        tests.push((
            format!("does not accept `{}`", a.name()),
            "contracts that do",
            Box::new(move |s: &ContractSlot| s.contract.accepts().contains(&a)),
        ));
    }
    if need.priced {
        tests.push((
            "has no price".into(),
            "contracts with one",
            Box::new(|s: &ContractSlot| s.contract.price(ledger).is_some()),
        ));
    }
    if need.market {
        tests.push((
            "is not a market with a pair of assets".into(),
            "contracts that are",
            Box::new(|s: &ContractSlot| s.contract.market().is_some()),
        ));
    }
    if let Some(kind) = need.kind {
        tests.push((
            format!("is of kind `{}`, but this needs kind `{kind}`", slot.kind),
            "contracts of that kind",
            Box::new(move |s: &ContractSlot| s.kind == kind),
        ));
    }
    if need.holder {
        tests.push((
            "has an account that backs its own state, so it cannot be named here".into(),
            "contracts that hold funds (or write a new account name)",
            Box::new(|s: &ContractSlot| s.contract.holds_funds()),
        ));
    }
    let (why, fit, _) = tests.iter().find(|(_, _, ok)| !ok(slot))?;
    let able = contracts.iter().filter(|s| tests.iter().all(|(_, _, ok)| ok(s))).map(|s| s.name.as_str());
    Some(format!("contract `{}` ({}) {why}; {fit}: {}", slot.name, slot.kind, listing(able)))
}

/// Names joined by commas, or `none`: the valid choices in an error.
fn listing<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() { "none".to_string() } else { names.join(", ") }
}

/// The `[metrics]` entries that select contract metrics (`name =
/// "contract.metric"`); inline tables are population metrics, read by
/// [`super::monitor`].
fn contract_metric_names(
    source: &Source,
    metrics: &indexmap::IndexMap<String, toml::Value>,
) -> Result<indexmap::IndexMap<String, String>, ScenarioError> {
    let mut out = indexmap::IndexMap::new();
    for (column, value) in metrics {
        match value {
            toml::Value::String(path) => {
                out.insert(column.clone(), path.clone());
            }
            toml::Value::Table(_) => {}
            other => {
                return Err(source.error(
                    &format!("metrics.{column}"),
                    format!("expects \"contract.metric\" or a population metric {{ population = …, of = …, stat = … }}, got {}", other.type_str()),
                ));
            }
        }
    }
    Ok(out)
}

/// The asset name contract `contract`'s parameter `param` holds (its
/// scenario value, else its default), for metric units.
fn contract_asset(
    sc: &crate::scenario::Scenario,
    registry: &Registry,
    contract: &str,
    param: &str,
) -> Option<String> {
    let table = sc.contracts.get(contract)?;
    if let Some(toml::Value::String(v)) = table.get(param) {
        return Some(v.clone());
    }
    let kind = registry.mechanism(table.get("kind")?.as_str()?)?;
    kind.params().iter().find(|p| p.name == param)?.default_text()
}

fn metric_columns(
    source: &Source,
    mapping: &indexmap::IndexMap<String, String>,
    contracts: &[ContractSlot],
    asset: &dyn Fn(&str, &str) -> Option<String>,
) -> Result<Vec<MetricColumn>, ScenarioError> {
    let mut all: Vec<(String, MetricDef, usize, MetricInfo)> = Vec::new();
    for slot in contracts {
        for def in slot.contract.metrics() {
            let info = MetricInfo::of(def, |p| asset(&slot.name, p));
            all.push((format!("{}.{}", slot.name, def.name), *def, all.len(), info));
        }
    }
    let mut columns: Vec<MetricColumn> = Vec::new();
    if mapping.is_empty() {
        for (path, def, index, info) in &all {
            columns.push(MetricColumn {
                name: column_name(&path.replace('.', "_")),
                kind: def.kind,
                index: *index,
                info: info.clone(),
            });
        }
    } else {
        for (column, path) in mapping {
            let field = format!("metrics.{column}");
            let found = all.iter().find(|(p, ..)| p == path).ok_or_else(|| {
                let choices: Vec<&str> = all.iter().map(|(p, ..)| p.as_str()).collect();
                source.error(&field, format!("unknown metric `{path}`; available: {}", choices.join(", ")))
            })?;
            usable_column(column).map_err(|message| source.error(&field, message))?;
            columns.push(MetricColumn {
                name: column.clone(),
                kind: found.1.kind,
                index: found.2,
                info: MetricInfo { doc: format!("{path}: {}", found.3.doc), ..found.3.clone() },
            });
        }
    }
    for (i, def) in ENGINE_METRICS.iter().enumerate() {
        columns.push(MetricColumn {
            name: def.name.to_string(),
            kind: def.kind,
            index: all.len() + i,
            info: MetricInfo::of(def, |_| None),
        });
    }
    Ok(columns)
}

/// A starting balance: the slot, its distribution, and where its backing
/// goes (`None` for an asset held by the agent itself).
type StartingBalance<'p> = (SlotId, &'p AgentParam, Option<(AccountId, AssetId)>);

/// Resolves a population's `balances` against the wallet slots: an asset,
/// or a contract's backed position (its backing is issued to the contract).
fn starting_balances<'p>(
    names: &Names<'_>,
    slots: &SlotTable,
    path: &str,
    balances: &'p indexmap::IndexMap<String, AgentParam>,
) -> Result<Vec<StartingBalance<'p>>, ScenarioError> {
    let mut out = Vec::new();
    for (name, param) in balances {
        let field = format!("{path}.balances.{name}");
        let i = slots.slots.iter().position(|s| &s.name == name).ok_or_else(|| {
            let choices: Vec<&str> = slots
                .slots
                .iter()
                .filter(|s| matches!(s.kind, SlotKind::Asset | SlotKind::Position { backing: Some(_), .. }))
                .map(|s| s.name.as_str())
                .collect();
            names
                .source
                .error(&field, format!("unknown asset or position `{name}`; choices: {}", choices.join(", ")))
        })?;
        let backing = match &slots.slots[i].kind {
            SlotKind::Asset => None,
            SlotKind::Position { contract, backing: Some(asset) } => {
                let c = names.contracts.iter().position(|n| n == contract).expect("position of a contract");
                Some((AccountId(c as u16), *asset))
            }
            SlotKind::Position { contract, backing: None } => {
                return Err(names.source.error(
                    &field,
                    format!("`{name}` is a position of `{contract}` that cannot be held at the start"),
                ));
            }
        };
        param.0.check_range(0.0, f64::INFINITY).map_err(|m| names.source.error(&field, m))?;
        let least = param.0.practical_min();
        if least > 0.0 && least < MIN_AMOUNT {
            return Err(names.source.error(
                &field,
                format!(
                    "reaches {least:e} per agent, below the smallest amount {MIN_AMOUNT:e} (write 0 for none)"
                ),
            ));
        }
        let most = param.0.practical_max();
        if most.is_nan() || most > MAX_AMOUNT {
            return Err(names.source.error(
                &field,
                format!("reaches {most:e} per agent, above the limit {MAX_AMOUNT:e} on any amount"),
            ));
        }
        out.push((SlotId(i as u8), param, backing));
    }
    Ok(out)
}

fn spawn_populations(
    names: &Names<'_>,
    registry: &Registry,
    sc: &crate::scenario::Scenario,
    run: &RunSpec,
    validate_only: bool,
    world: &mut World,
    parts: &mut Parts<'_>,
) -> Result<u64, ScenarioError> {
    check_population_memory(names.source, sc, world.resource::<SlotTable>().slots.len())?;
    let spawned_count =
        |pop: &crate::scenario::Population| if validate_only { pop.count.min(1) } else { pop.count };
    let mut total = 0u64;
    for (name, pop) in &sc.populations {
        total += spawned_count(pop);
        if u32::try_from(total).is_err() {
            return Err(names
                .source
                .error(&format!("populations.{name}.count"), "more than 2^32 agents in all"));
        }
    }
    let mut wallets = Wallets::with_capacity(world.resource::<SlotTable>().slots.len(), total as usize);
    let mut registered = HashSet::new();
    // Agent `i` is entity `first + i`: allocated together, before any
    // behaviour attaches.
    let reserved = if total == 0 { None } else { reserve_agents(world, total as u32) };
    if total > 0 && reserved.is_none() {
        return Err(names
            .source
            .error("populations", "internal error: agents' entities are not consecutive"));
    };
    world.insert_resource(AgentEntities { first: reserved.as_ref().map_or(0, |r| r.first) });
    for (p, (pname, pop)) in sc.populations.iter().enumerate() {
        let path = format!("populations.{pname}");
        parts.topology.node(pname, Role::Population, format!("{} agents", pop.count));
        let balances = starting_balances(names, world.resource::<SlotTable>(), &path, &pop.balances)?;
        // Ids are dense over the agents built: `validate` builds one agent
        // per population, with the ids that follow.
        let first_id = wallets.len() as u64;
        let spawned = spawned_count(pop);
        let mut rng = stream_rng(run.seed, Stream::Population, &[p as u64, u64::MAX]);
        let mut issued = [0.0; MAX_SLOTS];
        for _ in 0..spawned {
            let wallet = wallets.push();
            for (slot, param, _) in &balances {
                let amount = param.0.sample(&mut rng);
                *wallet.get_mut(*slot) = amount;
                issued[slot.0 as usize] += amount;
            }
        }
        for (slot, _, backing) in &balances {
            let amount = issued[slot.0 as usize];
            match backing {
                None => parts.ledger.record_mint(AssetId(slot.0), amount),
                Some((account, asset)) => parts.ledger.issue(*account, *asset, amount),
            }
        }
        let mut pending: Vec<Box<dyn PendingColumn>> = Vec::new();
        for (b, (bname, table)) in pop.behaviours.iter().enumerate() {
            let bpath = format!("{path}.behaviours.{bname}");
            let (order, kind) = registry.behaviour(bname).ok_or_else(|| {
                names.source.error(
                    &bpath,
                    format!(
                        "unknown behaviour `{bname}`; registered behaviours: {}",
                        registry.behaviour_names()
                    ),
                )
            })?;
            let values = Values::read(kind.params(), names.source, &bpath, table)?;
            let mut ctx = PopulationBuilder {
                names,
                path: bpath,
                values,
                world,
                schedule: parts.schedule,
                count: spawned as usize,
                first_id,
                pending: &mut pending,
                rng: stream_rng(run.seed, Stream::Population, &[p as u64, b as u64]),
                order,
                registered: &mut registered,
                population: pname,
                behaviour: bname,
                topology: parts.topology,
                ledger: parts.ledger,
            };
            kind.attach(&mut ctx)?;
        }
        let mut id = first_id;
        let base = || {
            id += 1;
            AgentRng::new(run.seed, id - 1)
        };
        if let Some(reserved) = &reserved {
            let ids = first_id as u32..(first_id + spawned) as u32;
            spawn_agents(world, reserved, ids, base, &mut pending);
        }
    }
    world.insert_resource(wallets);
    Ok(sc.populations.values().map(|p| p.count).sum())
}

/// Bytes one agent takes at peak, whole process, besides its wallet
/// (8 per slot) and its behaviours: its generator and the table's entity
/// column with their change ticks, bevy's entity record and archetype
/// entry, intents and output buffers. Each behaviour adds its component
/// (at most 40 bytes for the built-in ones) and its two change ticks; a
/// behaviour its population shares (`spawn_stateless`) costs only the
/// change ticks of its marker, so this is an upper bound. Measured:
/// `market` (3 slots, two shared behaviours: 224 by this count) peaks at
/// 132 bytes per agent at 10,000,000 agents, 150 with every transaction
/// recorded (ARCHITECTURE.md, "Memory per agent"), which adds
/// `EVENT_BYTES` (a tick's transactions, one or two per agent at most).
const AGENT_BYTES: u128 = 104;
const SLOT_BYTES: u128 = 8;
const BEHAVIOUR_BYTES: u128 = 48;
const EVENT_BYTES: u128 = 32;

/// Refuses populations whose agents cannot fit in this machine's memory,
/// at the count of the largest one, naming the figure.
fn check_population_memory(
    source: &Source,
    sc: &crate::scenario::Scenario,
    slots: usize,
) -> Result<(), ScenarioError> {
    let mut agents = 0u128;
    let mut bytes = 0u128;
    let events = if sc.output.events { EVENT_BYTES } else { 0 };
    let base = AGENT_BYTES + SLOT_BYTES * slots as u128 + events;
    for pop in sc.populations.values() {
        agents += u128::from(pop.count);
        bytes += u128::from(pop.count) * (base + BEHAVIOUR_BYTES * pop.behaviours.len() as u128);
    }
    let Some((name, _)) = sc.populations.iter().max_by_key(|(_, p)| p.count) else { return Ok(()) };
    crate::memory::fits("agents", agents, bytes.div_ceil(agents.max(1)), crate::memory::available())
        .map_err(|m| source.error(&format!("populations.{name}.count"), m))
}

fn load_replay(
    names: &Names<'_>,
    loaded: &LoadedScenario,
    spec: &crate::scenario::OrdersSpec,
    n_agents: u64,
    world: &World,
) -> Result<Replay, Error> {
    let path = loaded.base_dir.join(&spec.file);
    if !path.exists() {
        return Err(names
            .source
            .error("orders.file", format!("orders file `{}` does not exist", path.display()))
            .into());
    }
    if path.is_dir() {
        return Err(names
            .source
            .error("orders.file", format!("`{}` is a directory; name a CSV or Parquet file", path.display()))
            .into());
    }
    let raw = read_orders(&path)?;
    let contracts = world.resource::<Contracts>();
    let data_err = |message: String| Error::Data { path: path.clone(), message };
    let mut orders = Vec::with_capacity(raw.len());
    for o in &raw {
        for (column, id) in [("agent_id", Some(o.agent_id)), ("about", o.about)] {
            if let Some(id) = id.filter(|&id| id >= n_agents) {
                return Err(data_err(format!(
                    "{}: `{column}` {id} does not exist; the scenario has agents 0..{}",
                    o.place,
                    n_agents.saturating_sub(1)
                )));
            }
        }
        let action = side_action(&o.side).expect("side checked on read");
        let accepting: Vec<&ContractSlot> =
            contracts.0.iter().filter(|s| s.contract.accepts().contains(&action)).collect();
        let names = || accepting.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
        let slot = match &o.contract {
            Some(name) => accepting.iter().find(|s| &s.name == name).ok_or_else(|| {
                let what = if contracts.0.iter().any(|s| &s.name == name) {
                    format!("contract `{name}` does not accept {}", action.name())
                } else {
                    format!("contract `{name}` does not exist")
                };
                data_err(format!("{}: `contract`: {what}; contracts that accept it: {}", o.place, names()))
            })?,
            None => match accepting.as_slice() {
                [only] => only,
                _ => {
                    return Err(data_err(format!(
                        "{}: no `contract` given, and {} contracts accept {} ({}); add a `contract` column",
                        o.place,
                        accepting.len(),
                        action.name(),
                        names()
                    )));
                }
            },
        };
        let id = ContractId(slot.account.0);
        orders.push(ReplayOrder {
            tick: o.tick as u32,
            agent: AgentId(o.agent_id),
            intent: order_intent(o, id),
        });
    }
    Ok(Replay::new(orders))
}
