//! A simulation: one run's world and schedule, stepped tick by tick.

use bevy_ecs::prelude::*;

use super::build::{Built, RunSpec, build};
use super::ids::AgentId;
use super::ledger::SlotTable;
use super::metric_info::MetricColumn;
use super::phase::{Clock, TickLog};
use super::wallets::{Wallet, Wallets};
use crate::engine::registry::Registry;
use crate::error::Error;
use crate::scenario::LoadedScenario;

/// One run of a scenario: a bevy `World` plus its tick schedule.
///
/// ```
/// # use std::path::Path;
/// use tokensim::prelude::*;
/// let text = r#"
/// ticks = 3
/// assets = ["DAI", "TKN"]
/// [contracts.pool]
/// kind = "treasury"
/// asset = "DAI"
/// [contracts.curve]
/// kind = "bonding_curve"
/// reserve_asset = "DAI"
/// token = "TKN"
/// slope = 1e-6
/// initial_supply = 1000.0
/// entry_tribute = 0.01
/// treasury = "pool"
/// [populations.traders]
/// count = 100
/// balances = { DAI = 100.0 }
/// behaviours.noise_trader = { contract = "curve", p_trade = 0.5 }
/// "#;
/// let scenario = LoadedScenario::from_str(Path::new("inline.toml"), text)?;
/// let mut sim = Simulation::new(&scenario, &Registry::builtin(), &RunSpec::single(7))?;
/// while sim.tick() < sim.ticks {
///     let log = sim.step();
///     assert!(log.violations.is_empty());
/// }
/// # Ok::<(), tokensim::Error>(())
/// ```
pub struct Simulation {
    /// The ECS world: agents, contracts (as resources) and engine state.
    pub world: World,
    schedule: Schedule,
    /// Which run of the experiment this is.
    pub run: RunSpec,
    /// Number of ticks the scenario asks for.
    pub ticks: u32,
    /// Number of agents.
    pub n_agents: u64,
    /// Bytes per agent the memory check counted, the size the run was
    /// planned at (ARCHITECTURE.md, "Memory per agent").
    pub bytes_per_agent: u128,
    /// Columns of `ticks.parquet` after `run_id, tick`.
    pub metric_columns: Vec<MetricColumn>,
    /// Snapshot agents every this many ticks (0: never).
    pub snapshot_every: u32,
}

impl Simulation {
    /// Builds the world of `run` from a loaded scenario.
    pub fn new(scenario: &LoadedScenario, registry: &Registry, run: &RunSpec) -> Result<Self, Error> {
        Self::build(scenario, registry, run, false)
    }

    /// Builds the world of `run` with one agent per population: checks
    /// every parameter and reference at a fraction of the cost, and has the
    /// same output layout as the full world.
    pub fn validate(scenario: &LoadedScenario, registry: &Registry, run: &RunSpec) -> Result<Self, Error> {
        Self::build(scenario, registry, run, true)
    }

    fn build(
        scenario: &LoadedScenario,
        registry: &Registry,
        run: &RunSpec,
        validate_only: bool,
    ) -> Result<Self, Error> {
        let Built { world, schedule, metric_columns, n_agents, bytes_per_agent } =
            build(scenario, registry, run, validate_only)?;
        Ok(Simulation {
            world,
            schedule,
            run: run.clone(),
            ticks: scenario.scenario.ticks,
            n_agents,
            bytes_per_agent,
            metric_columns,
            snapshot_every: scenario.scenario.snapshot_every,
        })
    }

    /// The last tick simulated (0 before the first step).
    pub fn tick(&self) -> u32 {
        self.world.resource::<Clock>().tick
    }

    /// Simulates one tick and returns what it produced.
    pub fn step(&mut self) -> &TickLog {
        self.world.resource_mut::<Clock>().tick += 1;
        self.world.resource_mut::<TickLog>().reset();
        self.schedule.run(&mut self.world);
        self.world.resource::<TickLog>()
    }

    /// Replayed orders not applied yet; after the last tick, the orders
    /// scheduled beyond the run's end.
    pub fn pending_orders(&self) -> usize {
        self.world.get_resource::<super::replay::Replay>().map_or(0, |r| r.pending())
    }

    /// What the last tick produced.
    pub fn log(&self) -> &TickLog {
        self.world.resource::<TickLog>()
    }

    /// Every declared property's verdict over the ticks simulated so far
    /// (after the last tick: the run's verdicts), in scenario order.
    pub fn verdicts(&self) -> Vec<crate::properties::Verdict> {
        self.world.get_resource::<super::monitor::PropertyMonitor>().map_or_else(Vec::new, |m| m.verdicts())
    }

    /// Every declared property's name and `max_failure_rate`, in scenario
    /// order.
    pub fn property_gates(&self) -> Vec<(String, Option<f64>)> {
        self.world.get_resource::<super::monitor::PropertyMonitor>().map_or_else(Vec::new, |m| {
            m.properties.iter().map(|p| (p.name.clone(), p.max_failure_rate)).collect()
        })
    }

    /// Whether this tick is a snapshot tick.
    pub fn snapshot_due(&self) -> bool {
        self.snapshot_every > 0 && self.tick().is_multiple_of(self.snapshot_every)
    }

    /// The wallet layout (column names of agent snapshots).
    pub fn slots(&self) -> &SlotTable {
        self.world.resource::<SlotTable>()
    }

    /// The structure the scenario declares (for diagrams).
    pub fn topology(&self) -> &super::topology::Topology {
        self.world.resource::<super::topology::Topology>()
    }

    /// Calls `f` with every agent's id and wallet, in id order.
    pub fn for_each_agent(&self, mut f: impl FnMut(AgentId, &Wallet)) {
        for (id, wallet) in self.wallets().iter().enumerate() {
            f(AgentId(id as u64), wallet);
        }
    }

    /// Every agent's wallet, in id order.
    pub fn wallets(&self) -> super::wallets::WalletSlice<'_> {
        self.world.resource::<Wallets>().all()
    }
}
