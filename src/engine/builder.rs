//! The API a registered kind builds with: [`ContractBuilder`] (a
//! mechanism's parameters resolved to assets, accounts and contracts, its
//! flows declared for the diagram) and [`PopulationBuilder`] (a
//! behaviour's parameters, its components spawned or shared, its Decide
//! system scheduled). `build` drives them; the kinds of the registry only
//! see them, so neither depends on the other.

use std::any::TypeId;
use std::collections::HashSet;

use bevy_ecs::prelude::*;
use rand_pcg::Pcg64Mcg;

use super::accrue::accrue_system;
use super::behaviour::{Behaviour, Shares, decide_system, shared_decide_system};
use super::contract::{Contract, ContractSlot, Contracts};
use super::ids::{AccountId, AgentId, AssetId, ContractId, SlotId};
use super::intent::Action;
use super::ledger::{Account, Ledger, MAX_SLOTS, SlotDef, SlotKind, SlotTable, slot_name_clash};
use super::phase::{DecideOrder, Phase};
use super::rng::{Stream, stream_rng};
use super::spawn::{Pending, PendingColumn};
use super::topology::{EdgeKind, Moves, Role, Topology, Way};
use crate::engine::params::{Need, Ty, Values};
use crate::error::ScenarioError;
use crate::scenario::source::join;
use crate::scenario::{AgentParam, Source};

/// Names and lookups shared by every builder.
pub(super) struct Names<'a> {
    pub(super) source: &'a Source,
    pub(super) base_dir: &'a std::path::Path,
    pub(super) assets: &'a [String],
    pub(super) contracts: Vec<String>,
    pub(super) populations: Vec<String>,
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

/// What a [`MechanismKind`](crate::engine::registry::MechanismKind) gets to build
/// its contract: its parameters, name lookups, the ledger and the schedule.
pub struct ContractBuilder<'a> {
    pub(super) names: &'a Names<'a>,
    pub(super) id: ContractId,
    pub(super) path: String,
    pub(super) table: &'a toml::Table,
    pub(super) values: Values,
    pub(super) run_seed: u64,
    pub(super) ledger: &'a mut Ledger,
    pub(super) slots: &'a mut SlotTable,
    pub(super) schedule: &'a mut Schedule,
    pub(super) topology: &'a mut Topology,
    /// `(parameter path, contract, need)`: references checked once every
    /// contract is built (the named one may come later in the file).
    pub(super) needs: &'a mut Vec<(String, ContractId, Need)>,
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
    /// declaration ([`MechanismKind::params`](crate::engine::registry::MechanismKind::params)).
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
        // A name that is something else would silently be a new, empty
        // account of that name.
        let other = if self.names.assets.iter().any(|a| a == name) {
            Some("an asset")
        } else if self.names.populations.iter().any(|p| p == name) {
            Some("a population (its agents hold wallets, not an account)")
        } else {
            None
        };
        if let Some(what) = other {
            return Err(self.invalid(
                field,
                format!(
                    "`{name}` is {what}; name a contract ({}) or a holder account of its own name, such as `hatch`",
                    self.names.contracts.join(", ")
                ),
            ));
        }
        let me = self.name().to_string();
        self.topology.node(name, Role::Account, "account");
        self.topology.edge(&me, name, field, EdgeKind::Reference, moves_of(&self.values, field));
        if let Some(id) = self.ledger.find(name) {
            return Ok(id);
        }
        let Ok(id) = u16::try_from(self.ledger.accounts.len()) else {
            let most = usize::from(u16::MAX) + 1;
            return Err(
                self.invalid(field, format!("too many accounts: at most {most}, contracts and holders"))
            );
        };
        self.ledger.accounts.push(Account { name: name.to_string(), balances: [0.0; MAX_SLOTS] });
        Ok(AccountId(id))
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
        if let Some(clash) = slot_name_clash(&self.slots.slots, name) {
            return Err(self.invalid(field, clash));
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

    /// Reads a `tick,<value_column>` series of values in `range` from the
    /// file named by parameter `field` (relative to the scenario's
    /// directory), e.g. a recorded price history. Errors point at the
    /// parameter and name the file's line or row.
    pub fn read_series(
        &self,
        field: &str,
        file: &str,
        value_column: &str,
        range: std::ops::RangeInclusive<f64>,
    ) -> Result<Vec<(u32, f64)>, ScenarioError> {
        let path = self.names.base_dir.join(file);
        if !path.exists() {
            return Err(self.invalid(field, format!("file `{}` does not exist", path.display())));
        }
        // It refuses what is not a regular file, naming the path.
        crate::scenario::series::read_series(&path, value_column, range).map_err(|e| self.invalid(field, e))
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

/// What bevy keeps per agent for each of its components besides the value:
/// the added and changed ticks, a `u32` each.
pub(super) const TICK_BYTES: usize = 8;

/// What a [`BehaviourKind`](crate::engine::registry::BehaviourKind) gets to attach
/// itself to a population.
pub struct PopulationBuilder<'a> {
    pub(super) names: &'a Names<'a>,
    pub(super) path: String,
    pub(super) values: Values,
    pub(super) world: &'a mut World,
    pub(super) schedule: &'a mut Schedule,
    pub(super) count: usize,
    pub(super) first_id: u64,
    pub(super) pending: &'a mut Vec<Box<dyn PendingColumn>>,
    /// What the population's behaviours add to each agent, in bytes (the
    /// memory check's count, summed over the population's behaviours).
    pub(super) agent_bytes: &'a mut usize,
    pub(super) rng: Pcg64Mcg,
    pub(super) order: usize,
    pub(super) registered: &'a mut HashSet<TypeId>,
    pub(super) population: &'a str,
    pub(super) behaviour: &'a str,
    pub(super) topology: &'a mut Topology,
    pub(super) ledger: &'a Ledger,
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
    /// declaration ([`BehaviourKind::params`](crate::engine::registry::BehaviourKind::params)).
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
        *self.agent_bytes += std::mem::size_of::<B>() + TICK_BYTES;
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
        *self.agent_bytes += TICK_BYTES;
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
        // Its ids and per-agent parameters, one word each per agent.
        *self.agent_bytes += 8 * (1 + params.len());
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

/// Why contract `id` does not meet `need` (the first requirement it
/// fails, with the contracts that meet them all), or `None` if it does.
pub(super) fn unmet(
    contracts: &[ContractSlot],
    id: ContractId,
    need: &Need,
    ledger: &Ledger,
) -> Option<String> {
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
pub(super) fn listing<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() { "none".to_string() } else { names.join(", ") }
}
