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
use serde::de::DeserializeOwned;

use super::accrue::{accrue_system, begin_tick_system};
use super::behaviour::{Behaviour, decide_system};
use super::check::{AgentTotals, check_system, measure_system};
use super::contract::{Contract, ContractSlot, Contracts, MetricDef, MetricKind, Prices};
use super::ids::{AccountId, AgentId, AssetId, ContractId, SlotId};
use super::intent::{Action, IntentQueue};
use super::ledger::{Account, Ledger, MAX_SLOTS, SlotDef, SlotKind, SlotTable, Wallet, column_name};
use super::observe::observe_system;
use super::phase::{Clock, DecideOrder, Phase, TickLog};
use super::replay::{Replay, ReplayOrder, order_intent, read_orders};
use super::rng::{AgentRng, Stream, stream_rng};
use super::settle::{AgentIndex, SettleState, settle_system};
use super::topology::{EdgeKind, Role, Topology};
use crate::error::{Error, ScenarioError};
use crate::registry::Registry;
use crate::scenario::source::join;
use crate::scenario::{AgentParam, LoadedScenario, Source, from_table};

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

fn params_of<T: DeserializeOwned>(
    source: &Source,
    path: &str,
    table: &toml::Table,
    skip: &str,
) -> Result<T, ScenarioError> {
    let mut table = table.clone();
    table.remove(skip);
    from_table(source, path, toml::Value::Table(table))
}

/// What a [`MechanismKind`](crate::registry::MechanismKind) gets to build
/// its contract: its parameters, name lookups, the ledger and the schedule.
pub struct ContractBuilder<'a> {
    names: &'a Names<'a>,
    id: ContractId,
    path: String,
    table: &'a toml::Table,
    run_seed: u64,
    ledger: &'a mut Ledger,
    slots: &'a mut SlotTable,
    schedule: &'a mut Schedule,
    topology: &'a mut Topology,
    /// `(parameter path, contract)` pairs that must publish a price, checked
    /// once every contract is built (the named one may come later).
    priced: &'a mut Vec<(String, ContractId)>,
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

    /// Deserialises the contract's table (without `kind`) into `T`. Use
    /// `#[serde(deny_unknown_fields)]` so typos are errors that list the
    /// valid keys.
    pub fn params<T: DeserializeOwned>(&self) -> Result<T, ScenarioError> {
        params_of(self.names.source, &self.path, self.table, "kind")
    }

    /// An error about parameter `field` of this contract.
    pub fn invalid(&self, field: &str, message: impl std::fmt::Display) -> ScenarioError {
        self.names.source.error(&join(&self.path, field), message)
    }

    /// Checks `lo <= value <= hi` (and finite) for parameter `field`.
    pub fn check_range(&self, field: &str, value: f64, lo: f64, hi: f64) -> Result<(), ScenarioError> {
        if value.is_finite() && value >= lo && value <= hi {
            Ok(())
        } else {
            Err(self.invalid(field, format!("{value} is out of range: must be in [{lo}, {hi}]")))
        }
    }

    /// Resolves an asset name given in parameter `field`.
    pub fn asset(&mut self, field: &str, name: &str) -> Result<AssetId, ScenarioError> {
        let id = self.names.asset(&join(&self.path, field), name)?;
        let me = self.name().to_string();
        self.topology.edge(&me, name, field, EdgeKind::Asset);
        Ok(id)
    }

    /// Resolves a contract name given in parameter `field` to its id
    /// (its account is `AccountId(id.0)`). A contract may name one defined
    /// later in the file; it cannot name itself.
    pub fn contract(&mut self, field: &str, name: &str) -> Result<ContractId, ScenarioError> {
        if name == self.name() {
            return Err(self.invalid(field, "a contract cannot name itself here"));
        }
        let id = self.names.contract(&join(&self.path, field), name)?;
        let me = self.name().to_string();
        self.topology.edge(&me, name, field, EdgeKind::Reference);
        Ok(id)
    }

    /// Like [`contract`](Self::contract), and the contract must publish a
    /// price (an oracle, a valuation feed); checked once all contracts are
    /// built, so it may be defined later in the file.
    pub fn priced_contract(&mut self, field: &str, name: &str) -> Result<ContractId, ScenarioError> {
        let id = self.contract(field, name)?;
        self.priced.push((join(&self.path, field), id));
        Ok(id)
    }

    /// Resolves a contract name given in parameter `field` to its account.
    pub fn contract_account(&mut self, field: &str, name: &str) -> Result<AccountId, ScenarioError> {
        self.contract(field, name).map(|c| AccountId(c.0))
    }

    /// The account called `name` (given in parameter `field`), created
    /// empty if no contract or earlier account has that name (e.g.
    /// `hatch`).
    pub fn named_account(&mut self, field: &str, name: &str) -> AccountId {
        let me = self.name().to_string();
        if !self.names.contracts.iter().any(|c| c == name) {
            self.topology.node(name, Role::Account, "account");
        }
        self.topology.edge(&me, name, field, EdgeKind::Reference);
        self.ledger.find(name).unwrap_or_else(|| {
            self.ledger.accounts.push(Account { name: name.to_string(), balances: [0.0; MAX_SLOTS] });
            AccountId((self.ledger.accounts.len() - 1) as u16)
        })
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
        self.topology.edge(&contract, name, field, EdgeKind::Position);
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
    table: &'a toml::Table,
    world: &'a mut World,
    schedule: &'a mut Schedule,
    entities: &'a [Entity],
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

    /// Deserialises the behaviour's table into `T` (use
    /// `#[serde(deny_unknown_fields)]` and [`AgentParam`] fields).
    pub fn params<T: DeserializeOwned>(&self) -> Result<T, ScenarioError> {
        params_of(self.names.source, &self.path, self.table, "")
    }

    /// An error about parameter `field` of this behaviour.
    pub fn invalid(&self, field: &str, message: impl std::fmt::Display) -> ScenarioError {
        self.names.source.error(&join(&self.path, field), message)
    }

    /// Checks that every value parameter `field` can take lies in `[lo, hi]`.
    pub fn check_param(&self, field: &str, p: &AgentParam, lo: f64, hi: f64) -> Result<(), ScenarioError> {
        p.0.check_range(lo, hi).map_err(|m| self.invalid(field, m))
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
        let label = if actions.is_empty() {
            format!("{}: reads", self.behaviour)
        } else {
            let names: Vec<&str> = actions.iter().map(|a| a.name()).collect();
            format!("{}: {}", self.behaviour, names.join(", "))
        };
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
        self.topology.edge(self.population, name, &label, EdgeKind::Acts);
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
        match without_price(&self.world.resource::<Contracts>().0, id, self.ledger) {
            Some(message) => Err(self.invalid(field, message)),
            None => Ok(()),
        }
    }

    /// Contract `id` as a `T`, if it is one: lets a behaviour read a
    /// mechanism's configuration once at build time instead of every tick.
    pub fn contract_as<T: Contract>(&self, id: ContractId) -> Option<&T> {
        self.world.resource::<Contracts>().downcast::<T>(id)
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
        self.entities.len()
    }

    /// Gives each agent of the population the behaviour `make` returns
    /// (called once per agent in id order with a generator for sampling
    /// per-agent parameters) and schedules `B`'s Decide system.
    pub fn spawn<B: Behaviour>(&mut self, mut make: impl FnMut(&mut Pcg64Mcg) -> B) {
        let rng = &mut self.rng;
        let batch: Vec<(Entity, B)> = self.entities.iter().map(|&e| (e, make(rng))).collect();
        self.world.insert_batch(batch);
        if self.registered.insert(TypeId::of::<B>()) {
            self.schedule.add_systems(
                decide_system::<B>(self.order).in_set(Phase::Decide).in_set(DecideOrder(self.order)),
            );
        }
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
    let metric_columns = metric_columns(source, &sc.metrics, &contracts)?;
    world.insert_resource(Contracts(contracts));
    world.insert_resource(slots);

    let (index, n_agents) =
        spawn_populations(&names, registry, sc, run, validate_only, &mut world, &mut parts)?;
    let replay = match &sc.orders {
        Some(spec) => Some(load_replay(&names, loaded, spec, n_agents, &world)?),
        None => None,
    };

    world.insert_resource(ledger);
    world.insert_resource(topology);
    world.insert_resource(Prices::default());
    world.insert_resource(Clock::default());
    world.insert_resource(TickLog { record_events: sc.output.events, ..Default::default() });
    world.insert_resource(SettleState::new(sc.ordering, stream_rng(run.seed, Stream::Settle, &[])));
    world.insert_resource(AgentIndex(index));
    world.insert_resource(IntentQueue::default());
    world.insert_resource(AgentTotals::default());
    if let Some(replay) = replay {
        world.insert_resource(replay);
    }
    schedule.add_systems((
        begin_tick_system.in_set(Phase::Exogenous),
        observe_system.in_set(Phase::Observe),
        settle_system.in_set(Phase::Settle),
        accrue_system.in_set(Phase::Accrue),
        measure_system.in_set(Phase::Measure),
        check_system.in_set(Phase::Check),
    ));
    let orders: Vec<usize> = (0..registry.behaviours().count()).collect();
    for pair in orders.windows(2) {
        schedule.configure_sets(DecideOrder(pair[0]).before(DecideOrder(pair[1])));
    }
    schedule.initialize(&mut world).map_err(|e| Error::Run(format!("schedule: {e}")))?;
    Ok(Built { world, schedule, metric_columns, n_agents })
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
    let mut priced = Vec::new();
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
        let mut ctx = ContractBuilder {
            names,
            id: ContractId(i as u16),
            path,
            table,
            run_seed: run.seed,
            ledger: parts.ledger,
            slots,
            schedule: parts.schedule,
            topology: parts.topology,
            priced: &mut priced,
        };
        let contract: Box<dyn Contract> = kind.build(&mut ctx)?;
        built.push(ContractSlot {
            name: name.clone(),
            kind: kind.name(),
            account: AccountId(i as u16),
            contract,
        });
    }
    for (path, id) in priced {
        if let Some(message) = without_price(&built, id, parts.ledger) {
            return Err(names.source.error(&path, message));
        }
    }
    Ok(built)
}

/// Why contract `id` cannot serve as a price source, or `None` if it has a
/// price.
fn without_price(contracts: &[ContractSlot], id: ContractId, ledger: &Ledger) -> Option<String> {
    let has_price = |slot: &ContractSlot| slot.contract.price(ledger).is_some();
    let slot = &contracts[id.0 as usize];
    if has_price(slot) {
        return None;
    }
    let able = contracts.iter().filter(|s| has_price(s)).map(|s| s.name.as_str());
    Some(format!(
        "contract `{}` ({}) has no price; contracts with one: {}",
        slot.name,
        slot.kind,
        listing(able)
    ))
}

/// Names joined by commas, or `none`: the valid choices in an error.
fn listing<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() { "none".to_string() } else { names.join(", ") }
}

fn metric_columns(
    source: &Source,
    mapping: &indexmap::IndexMap<String, String>,
    contracts: &[ContractSlot],
) -> Result<Vec<MetricColumn>, ScenarioError> {
    let mut all: Vec<(String, MetricDef, usize)> = Vec::new();
    for slot in contracts {
        for def in slot.contract.metrics() {
            all.push((format!("{}.{}", slot.name, def.name), *def, all.len()));
        }
    }
    let engine = [
        MetricDef { name: "n_tx", kind: MetricKind::Count, doc: "transactions settled this tick" },
        MetricDef { name: "n_rejected", kind: MetricKind::Count, doc: "transactions rejected this tick" },
    ];
    let mut columns: Vec<MetricColumn> = Vec::new();
    if mapping.is_empty() {
        for (path, def, index) in &all {
            columns.push(MetricColumn {
                name: column_name(&path.replace('.', "_")),
                kind: def.kind,
                index: *index,
            });
        }
    } else {
        for (column, path) in mapping {
            let field = format!("metrics.{column}");
            let found = all.iter().find(|(p, _, _)| p == path).ok_or_else(|| {
                let choices: Vec<&str> = all.iter().map(|(p, _, _)| p.as_str()).collect();
                source.error(&field, format!("unknown metric `{path}`; available: {}", choices.join(", ")))
            })?;
            if column != &column_name(column)
                || matches!(column.as_str(), "run_id" | "tick" | "n_tx" | "n_rejected")
            {
                return Err(source.error(&field, format!("`{column}` is not a usable column name (lower snake case, not run_id/tick/n_tx/n_rejected)")));
            }
            columns.push(MetricColumn { name: column.clone(), kind: found.1.kind, index: found.2 });
        }
    }
    for (i, def) in engine.iter().enumerate() {
        columns.push(MetricColumn { name: def.name.to_string(), kind: def.kind, index: all.len() + i });
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
) -> Result<(Vec<Entity>, u64), ScenarioError> {
    let mut index: Vec<Entity> = Vec::new();
    let mut registered = HashSet::new();
    let mut next_id = 0u64;
    for (p, (pname, pop)) in sc.populations.iter().enumerate() {
        let path = format!("populations.{pname}");
        parts.topology.node(pname, Role::Population, format!("{} agents", pop.count));
        let balances = starting_balances(names, world.resource::<SlotTable>(), &path, &pop.balances)?;
        let (first, first_id) = (index.len(), next_id);
        next_id += pop.count;
        let mut rng = stream_rng(run.seed, Stream::Population, &[p as u64, u64::MAX]);
        let mut issued = [0.0; MAX_SLOTS];
        let spawned = if validate_only { pop.count.min(1) } else { pop.count };
        let agents: Vec<_> = (0..spawned)
            .map(|k| {
                let id = first_id + k;
                let mut wallet = Wallet::default();
                for (slot, param, _) in &balances {
                    let v = param.0.sample(&mut rng);
                    *wallet.get_mut(*slot) = v;
                    issued[slot.0 as usize] += v;
                }
                (AgentId(id), wallet, AgentRng::new(run.seed, id))
            })
            .collect();
        index.extend(world.spawn_batch(agents));
        for (slot, _, backing) in &balances {
            let amount = issued[slot.0 as usize];
            match backing {
                None => parts.ledger.record_mint(AssetId(slot.0), amount),
                Some((account, asset)) => parts.ledger.issue(*account, *asset, amount),
            }
        }
        let entities = index[first..].to_vec();
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
            let mut ctx = PopulationBuilder {
                names,
                path: bpath,
                table,
                world,
                schedule: parts.schedule,
                entities: &entities,
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
    }
    Ok((index, sc.populations.values().map(|p| p.count).sum()))
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
    let raw = read_orders(&path)?;
    let contracts = world.resource::<Contracts>();
    let curves: Vec<&ContractSlot> = contracts
        .0
        .iter()
        .filter(|s| {
            s.contract.accepts().contains(&Action::Buy) && s.contract.accepts().contains(&Action::Sell)
        })
        .collect();
    let data_err = |message: String| Error::Data { path: path.clone(), message };
    let mut orders = Vec::with_capacity(raw.len());
    for o in &raw {
        if o.agent_id >= n_agents {
            return Err(data_err(format!(
                "{}: agent_id {} does not exist; the scenario has agents 0..{}",
                o.place,
                o.agent_id,
                n_agents.saturating_sub(1)
            )));
        }
        let slot = match &o.contract {
            Some(name) => curves.iter().find(|s| &s.name == name).ok_or_else(|| {
                let names: Vec<&str> = curves.iter().map(|s| s.name.as_str()).collect();
                data_err(format!(
                    "{}: contract `{name}` does not exist or does not trade; contracts that do: {}",
                    o.place,
                    names.join(", ")
                ))
            })?,
            None => match curves.as_slice() {
                [only] => only,
                _ => {
                    return Err(data_err(format!(
                        "{}: no `contract` column, but the scenario has {} contracts that trade; add a `contract` column",
                        o.place,
                        curves.len()
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
