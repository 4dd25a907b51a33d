//! Building a run's `World` from a scenario: assets and wallet slots,
//! contracts through their registered kinds, populations and their
//! behaviours, replayed orders, the metric columns and the tick schedule.
//! Every error found here is located in the scenario file.

use std::collections::HashSet;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::ScheduleLabel;
use bevy_ecs::schedule::SingleThreadedExecutor;
use rand_pcg::Pcg64Mcg;

use super::accrue::{accrue_system, begin_tick_system};
use super::builder::{ContractBuilder, Names, PopulationBuilder, TICK_BYTES, unmet};
use super::check::{AgentTotals, check_system, measure_system};
use super::contract::{Contract, ContractSlot, Contracts, Measure, MetricDef, Prices};
use super::ids::{AccountId, AgentEntities, AgentId, AssetId, ContractId, SlotId};
use super::intent::IntentQueue;
use super::ledger::{Account, Ledger, MAX_SLOTS, SlotDef, SlotKind, SlotTable, column_name, slot_name_clash};
use super::metric_info::{ENGINE_METRICS, MetricColumn, MetricInfo, reserved_column, usable_column};
use super::monitor::{population_metric_system, property_system};
use super::observe::observe_system;
use super::phase::{Clock, DecideOrder, Phase, TickLog};
use super::replay::{Replay, ReplayOrder, order_intent, read_orders, side_action};
use super::rng::{AgentRng, Stream, stream_rng};
use super::settle::{SettleState, settle_system};
use super::spawn::{PendingColumn, reserve_agents, spawn_agents};
use super::topology::{Role, Topology};
use super::wallets::Wallets;
use crate::engine::params::{MAX_AMOUNT, MIN_AMOUNT, Values};
use crate::engine::registry::Registry;
use crate::error::{Error, ScenarioError};
use crate::scenario::source::join;
use crate::scenario::{AgentParam, LoadedScenario, Source};

/// The label of the per-tick schedule.
#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tick;

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
    /// Bytes per agent the memory check counted (with `validate`, the
    /// least its behaviours can take).
    pub bytes_per_agent: u128,
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
        populations: sc.populations.keys().cloned().collect(),
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

    let (n_agents, bytes_per_agent) =
        spawn_populations(&names, registry, sc, run, validate_only, &mut world, &mut parts)?;
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
    Ok(Built { world, schedule, metric_columns, n_agents, bytes_per_agent })
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
        if assets[..i].contains(a) {
            return Err(source.error(&field, format!("asset `{a}` is listed twice")));
        }
        if let Some(clash) = slot_name_clash(&slots.slots, a) {
            return Err(source.error(&field, clash));
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
    // Per contract, the assets it issued while being built.
    let mut issued_at_genesis: Vec<[bool; MAX_SLOTS]> = Vec::new();
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
        let before = parts.ledger.issued;
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
        issued_at_genesis
            .push(std::array::from_fn::<_, MAX_SLOTS, _>(|a| parts.ledger.issued[a] != before[a]));
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
    // A share token (an AMM's LP token) has one issuer: another contract
    // issuing it would break the owner's count of what it issued.
    for (slot, issued) in built.iter().zip(&issued_at_genesis) {
        for owner in &built {
            let Some(token) = owner.contract.share_token() else { continue };
            if owner.name != slot.name && issued[token.0 as usize] {
                let token = &sc.assets[token.0 as usize];
                return Err(names.source.error(
                    &format!("contracts.{}", slot.name),
                    format!("issues `{token}` at the start, but `{token}` is the share token of `{}`, which alone issues it; choose another asset", owner.name),
                ));
            }
        }
    }
    for (path, id, need) in needs {
        if let Some(message) = unmet(&built, id, &need, parts.ledger) {
            return Err(names.source.error(&path, message));
        }
    }
    Ok(built)
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
            let name = column_name(&path.replace('.', "_"));
            let (contract, _) = path.split_once('.').unwrap_or((path, ""));
            let taken = all.iter().zip(&columns).find(|(_, c)| c.name == name).map(|((p, ..), _)| p.as_str());
            if let Some(by) = taken.or(reserved_column(&name).then_some("the engine")) {
                return Err(source.error(
                    &format!("contracts.{contract}"),
                    format!(
                        "metric `{path}` would be tick column `{name}`, which `{by}` already is; rename the contract or name the columns in `[metrics]`"
                    ),
                ));
            }
            columns.push(MetricColumn { name, kind: def.kind, index: *index, info: info.clone() });
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

/// The contract whose share token `asset` is, if any.
fn share_token_owner(contracts: &Contracts, asset: AssetId) -> Option<&str> {
    contracts.0.iter().find(|c| c.contract.share_token() == Some(asset)).map(|c| c.name.as_str())
}

/// A starting balance: the slot, its distribution, and where its backing
/// goes (`None` for an asset held by the agent itself).
type StartingBalance<'p> = (SlotId, &'p AgentParam, Option<(AccountId, AssetId)>);

/// Resolves a population's `balances` against the wallet slots: an asset,
/// or a contract's backed position (its backing is issued to the contract).
fn starting_balances<'p>(
    names: &Names<'_>,
    contracts: &Contracts,
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
            SlotKind::Asset if let Some(owner) = share_token_owner(contracts, AssetId(i as u8)) => {
                return Err(names.source.error(
                    &field,
                    format!("`{name}` is the share token of `{owner}`, which alone issues it, to what is deposited; agents cannot start with it"),
                ));
            }
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
) -> Result<(u64, u128), ScenarioError> {
    let slots = world.resource::<SlotTable>().slots.len();
    let available = crate::memory::available();
    // Before anything population-sized: every behaviour counted as shared,
    // so only sizes that cannot fit however they are spawned are refused.
    let fewest = |_: usize, pop: &crate::scenario::Population| (TICK_BYTES * pop.behaviours.len()) as u128;
    let mut bytes_per_agent = check_population_memory(names.source, sc, slots, available, fewest)?;
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
    let mut wallets = Wallets::with_capacity(slots, total as usize);
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
    // Every population's behaviours attach (and say what their agents
    // carry) before any agent is spawned.
    let mut attached = Vec::with_capacity(sc.populations.len());
    for (p, (pname, pop)) in sc.populations.iter().enumerate() {
        let path = format!("populations.{pname}");
        parts.topology.node(pname, Role::Population, format!("{} agents", pop.count));
        let balances = starting_balances(
            names,
            world.resource::<Contracts>(),
            world.resource::<SlotTable>(),
            &path,
            &pop.balances,
        )?;
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
        let mut agent_bytes = 0;
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
                agent_bytes: &mut agent_bytes,
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
        attached.push((first_id, spawned, pending, agent_bytes));
    }
    // Now what each population's behaviours take is known (shared or one
    // component each). With `validate`'s one agent a population always
    // shares, so only a run checks again.
    if !validate_only {
        let measured = |p: usize, _: &crate::scenario::Population| attached[p].3 as u128;
        bytes_per_agent = check_population_memory(names.source, sc, slots, available, measured)?;
    }
    for (first_id, spawned, mut pending, _) in attached {
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
    Ok((sc.populations.values().map(|p| p.count).sum(), bytes_per_agent))
}

/// Bytes one agent takes at peak, whole process, besides its wallet
/// (8 per slot) and its behaviours: its generator and the table's entity
/// column with their change ticks, bevy's entity record and archetype
/// entry, intents and output buffers. Each behaviour adds what
/// [`PopulationBuilder`] counts for it: its component and the component's
/// change ticks ([`TICK_BYTES`]), only the change ticks when its population
/// shares one value, or a population behaviour's per-agent lists.
/// Measured: `market` (3 slots, two shared behaviours: 144 by this count)
/// peaks at 132 bytes per agent at 10,000,000 agents, 150 with every
/// transaction recorded (ARCHITECTURE.md, "Memory per agent"), which adds
/// `EVENT_BYTES` (a tick's transactions, one or two per agent at most).
const AGENT_BYTES: u128 = 104;
const SLOT_BYTES: u128 = 8;
const EVENT_BYTES: u128 = 32;

/// Refuses populations whose agents cannot fit in `available`, at the
/// count of the largest one, naming the figure; `behaviours(p, pop)` is
/// what population `p`'s behaviours add per agent. Returns the bytes
/// counted per agent.
fn check_population_memory(
    source: &Source,
    sc: &crate::scenario::Scenario,
    slots: usize,
    available: crate::memory::Available,
    behaviours: impl Fn(usize, &crate::scenario::Population) -> u128,
) -> Result<u128, ScenarioError> {
    let mut agents = 0u128;
    let mut bytes = 0u128;
    let events = if sc.output.events { EVENT_BYTES } else { 0 };
    let base = AGENT_BYTES + SLOT_BYTES * slots as u128 + events;
    for (p, pop) in sc.populations.values().enumerate() {
        agents += u128::from(pop.count);
        bytes += u128::from(pop.count) * (base + behaviours(p, pop));
    }
    let each = bytes.div_ceil(agents.max(1));
    let Some((name, _)) = sc.populations.iter().max_by_key(|(_, p)| p.count) else { return Ok(each) };
    crate::memory::fits("agents", agents, each, available)
        .map_err(|m| source.error(&format!("populations.{name}.count"), m))?;
    Ok(each)
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
    // Every problem of the file (one that is not a regular file too) is located at the field that names it.
    let located = |e: Error| Error::from(names.source.error("orders.file", e.to_string()));
    let raw = read_orders(&path).map_err(located)?;
    let contracts = world.resource::<Contracts>();
    let data_err = |message: String| located(Error::Data { path: path.clone(), message });
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
