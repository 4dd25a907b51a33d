//! Properties and population metrics inside a tick: population metrics are
//! measured (Measure phase, after the contracts' metrics) by one parallel
//! pass over the population's wallets; properties are evaluated (Check
//! phase) on the tick's metric vector. Both keep constant memory in ticks.

use std::ops::Range;

use bevy_ecs::prelude::*;
use rayon::prelude::*;

use super::contract::Contracts;
use super::ids::AgentId;
use super::ledger::{Ledger, MAX_SLOTS, Wallet};
use super::phase::{Clock, TickLog};
use super::totals::CHUNK;
use crate::properties::Verdict;
use crate::properties::program::Affine;
use crate::properties::spec::{CompiledProperty, PopulationMetric, Stat};

/// The scenario's properties and where each input comes from.
#[derive(Resource, Clone, Debug, Default)]
pub struct PropertyMonitor {
    /// Compiled properties, in scenario order.
    pub properties: Vec<CompiledProperty>,
    /// Index into [`TickLog::metrics`] of each input but the last, `tick`.
    pub inputs: Vec<usize>,
    values: Vec<f64>,
}

impl PropertyMonitor {
    /// A monitor over `properties`, whose inputs are the metrics at `inputs`
    /// followed by the tick number.
    pub fn new(properties: Vec<CompiledProperty>, inputs: Vec<usize>) -> Self {
        PropertyMonitor { properties, inputs, values: Vec::new() }
    }

    /// Every property's verdict over the ticks so far.
    pub fn verdicts(&self) -> Vec<Verdict> {
        self.properties.iter().map(|p| p.tracker.verdict(&p.name)).collect()
    }
}

/// The Check-phase system that evaluates every property on this tick's
/// metrics.
pub fn property_system(clock: Res<Clock>, log: Res<TickLog>, mut monitor: ResMut<PropertyMonitor>) {
    let monitor = &mut *monitor;
    if monitor.properties.is_empty() {
        return;
    }
    monitor.values.clear();
    monitor.values.extend(monitor.inputs.iter().map(|&i| log.metrics[i]));
    monitor.values.push(f64::from(clock.tick));
    for p in &mut monitor.properties {
        let m = p.program.step(&monitor.values);
        p.tracker.observe(clock.tick, m);
    }
}

/// One population metric with its agents and its compiled value.
#[derive(Clone, Debug)]
pub struct MeasuredPopulation {
    /// The metric.
    pub metric: PopulationMetric,
    /// Agent ids of its population.
    pub agents: Range<u64>,
    /// The affine form of `of`, when it has one (one dot product per agent).
    affine: Option<Affine>,
    values: Vec<f64>,
}

/// Where the inputs of population formulas come from: every wallet slot
/// (under each of its names), then the prices of `priced` contracts.
#[derive(Clone, Debug, Default)]
pub struct FormulaInputs {
    /// The wallet slot of each slot input.
    pub slots: Vec<usize>,
    /// The contract (index) of each price input, after the slot inputs.
    pub priced: Vec<usize>,
}

/// Every population metric of the scenario.
#[derive(Resource, Clone, Debug, Default)]
pub struct PopulationMetrics {
    /// The metrics, in `[metrics]` order.
    pub metrics: Vec<MeasuredPopulation>,
    /// Their inputs.
    pub inputs: FormulaInputs,
}

impl PopulationMetrics {
    /// Metrics over the given agent ranges.
    pub fn new(metrics: Vec<(PopulationMetric, Range<u64>)>, inputs: FormulaInputs) -> Self {
        let varying: Vec<bool> =
            (0..inputs.slots.len() + inputs.priced.len()).map(|i| i < inputs.slots.len()).collect();
        let metrics = metrics
            .into_iter()
            .map(|(metric, agents)| {
                let affine = metric.of.affine(&varying);
                MeasuredPopulation { metric, agents, affine, values: Vec::new() }
            })
            .collect();
        PopulationMetrics { metrics, inputs }
    }
}

/// One agent's value of a formula over `[slots…, prices…]` (the general
/// case; affine formulas take the inlined path in
/// [`population_metric_system`]).
fn formula_value(
    f: &crate::properties::program::Formula,
    slots: &[usize],
    prices: &[f64],
    w: &Wallet,
) -> f64 {
    let mut v = [0.0; 2 * MAX_SLOTS + 64];
    let n = slots.len();
    if n + prices.len() > v.len() {
        let mut big: Vec<f64> = slots.iter().map(|s| w.0[*s]).collect();
        big.extend_from_slice(prices);
        return f.eval(&big);
    }
    for (dst, s) in v.iter_mut().zip(slots.iter()) {
        *dst = w.0[*s];
    }
    v[n..n + prices.len()].copy_from_slice(prices);
    f.eval(&v[..n + prices.len()])
}

/// The Measure-phase system that appends each population metric to the
/// tick's metrics (after the contracts' metrics and engine counters).
pub fn population_metric_system(
    contracts: Res<Contracts>,
    ledger: Res<Ledger>,
    mut log: ResMut<TickLog>,
    mut pops: ResMut<PopulationMetrics>,
    agents: Query<(&AgentId, &Wallet)>,
) {
    let pops = &mut *pops;
    if pops.metrics.is_empty() {
        return;
    }
    let n_slots = pops.inputs.slots.len();
    let prices: Vec<f64> = pops
        .inputs
        .priced
        .iter()
        .map(|&c| contracts.0[c].contract.price(&ledger).unwrap_or(f64::NAN))
        .collect();
    let mut point = vec![0.0; n_slots];
    point.extend_from_slice(&prices);
    for m in &mut pops.metrics {
        let v = match &m.affine {
            Some(a) => {
                // `constant + Σ coefficient · wallet[slot]`, coefficients of
                // this tick: inlined into the passes below.
                let c = a.constant.eval(&point);
                let terms: Vec<(usize, f64)> =
                    a.terms.iter().map(|(i, k)| (pops.inputs.slots[*i], k.eval(&point))).collect();
                let value = |w: &Wallet| terms.iter().fold(c, |acc, (slot, k)| acc + k * w.0[*slot]);
                measure(&mut m.values, &m.agents, m.metric.stat, &agents, value)
            }
            None => {
                let (f, slots) = (&m.metric.of, &pops.inputs.slots);
                let value = |w: &Wallet| formula_value(f, slots, &prices, w);
                measure(&mut m.values, &m.agents, m.metric.stat, &agents, value)
            }
        };
        log.metrics.push(v);
    }
}

/// This tick's `stat` over the agents of `range`, with `value` each
/// agent's (`values`: the buffer order statistics reuse).
fn measure(
    values: &mut Vec<f64>,
    range: &Range<u64>,
    stat: Stat,
    agents: &Query<(&AgentId, &Wallet)>,
    value: impl Fn(&Wallet) -> f64 + Sync,
) -> f64 {
    if stat.needs_values() {
        values.clear();
        for (ids, wallets) in agents.contiguous_iter().expect("agents are table-stored") {
            collect_values(ids, wallets, range, &value, values);
        }
        stat.of(values)
    } else {
        let mut total = Partial::EMPTY;
        for (ids, wallets) in agents.contiguous_iter().expect("agents are table-stored") {
            total = total.then(reduce_values(ids, wallets, range, &value, stat));
        }
        total.stat(stat)
    }
}

/// The members of `range` in one table: their positions, when the table
/// holds them in id order (agents are spawned population by population, so
/// it does), else `None`.
fn member_span(ids: &[AgentId], range: &Range<u64>) -> Option<Range<usize>> {
    let (first, last) = (ids.first()?, ids.last()?);
    if last.0 < range.start || first.0 >= range.end {
        return Some(0..0);
    }
    if !ids.is_sorted_by_key(|id| id.0) {
        return None;
    }
    Some(ids.partition_point(|id| id.0 < range.start)..ids.partition_point(|id| id.0 < range.end))
}

/// Appends the value of every member of `range` in one table to `out`, in
/// table order, filling the buffer in parallel without intermediate copies.
fn collect_values(
    ids: &[AgentId],
    wallets: &[Wallet],
    range: &Range<u64>,
    per_agent: &(impl Fn(&Wallet) -> f64 + Sync),
    out: &mut Vec<f64>,
) {
    match member_span(ids, range) {
        Some(span) => {
            let start = out.len();
            out.resize(start + span.len(), 0.0);
            out[start..].par_chunks_mut(CHUNK).zip(wallets[span].par_chunks(CHUNK)).for_each(|(dst, ws)| {
                for (d, w) in dst.iter_mut().zip(ws) {
                    *d = per_agent(w);
                }
            });
        }
        None => out.extend(
            ids.iter().zip(wallets).filter(|(id, _)| range.contains(&id.0)).map(|(_, w)| per_agent(w)),
        ),
    }
}

/// The [`Partial`] of every member of `range` in one table: per fixed chunk
/// in parallel, combined in chunk order, so the result does not depend on
/// the thread count.
fn reduce_values(
    ids: &[AgentId],
    wallets: &[Wallet],
    range: &Range<u64>,
    per_agent: &(impl Fn(&Wallet) -> f64 + Sync),
    stat: Stat,
) -> Partial {
    let below = if let Stat::ShareBelow(t) = stat { t } else { f64::NAN };
    let of = |values: &mut dyn Iterator<Item = f64>| values.fold(Partial::EMPTY, |p, v| p.with(v, below));
    let parts: Vec<Partial> = match member_span(ids, range) {
        Some(span) => {
            wallets[span].par_chunks(CHUNK).map(|ws| of(&mut ws.iter().map(per_agent))).collect()
        }
        None => ids
            .par_chunks(CHUNK)
            .zip(wallets.par_chunks(CHUNK))
            .map(|(ids, ws)| {
                of(&mut ids.iter().zip(ws).filter(|(id, _)| range.contains(&id.0)).map(|(_, w)| per_agent(w)))
            })
            .collect(),
    };
    parts.into_iter().fold(Partial::EMPTY, Partial::then)
}

/// What a statistic that needs no ordering keeps of a run of values.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Partial {
    n: u64,
    sum: f64,
    min: f64,
    max: f64,
    below: u64,
}

impl Partial {
    const EMPTY: Partial = Partial { n: 0, sum: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY, below: 0 };

    /// `self` with one more value (`below`: the share-below threshold).
    fn with(self, v: f64, below: f64) -> Partial {
        Partial {
            n: self.n + 1,
            sum: self.sum + v,
            min: self.min.min(v),
            max: self.max.max(v),
            below: self.below + u64::from(v < below),
        }
    }

    /// `self` followed by `next`.
    fn then(self, next: Partial) -> Partial {
        Partial {
            n: self.n + next.n,
            sum: self.sum + next.sum,
            min: self.min.min(next.min),
            max: self.max.max(next.max),
            below: self.below + next.below,
        }
    }

    /// The statistic `stat` (one that [`Stat::needs_values`] says not) of
    /// the values seen; NaN when there were none, as [`Stat::of`].
    fn stat(self, stat: Stat) -> f64 {
        if self.n == 0 {
            return f64::NAN;
        }
        match stat {
            Stat::Sum => self.sum,
            Stat::Mean => self.sum / self.n as f64,
            Stat::Min => self.min,
            Stat::Max => self.max,
            Stat::ShareBelow(_) => self.below as f64 / self.n as f64,
            Stat::Quantile(_) | Stat::Gini => unreachable!("{stat:?} needs the values"),
        }
    }
}

/// Reads the scenario's population metrics (appending their columns to
/// `columns`, after every other metric) and compiles its properties over
/// the resulting columns and `tick`.
pub(crate) fn build_monitors(
    source: &crate::scenario::Source,
    sc: &crate::scenario::Scenario,
    world: &World,
    ledger: &Ledger,
    columns: &mut Vec<super::build::MetricColumn>,
) -> Result<(PopulationMetrics, PropertyMonitor), crate::error::ScenarioError> {
    use super::ledger::SlotTable;
    let slots = world.resource::<SlotTable>();
    let contracts = world.resource::<Contracts>();
    // Formula inputs: each slot by its declared and its column name, then
    // `<contract>.price` of every contract with a price.
    let mut names: Vec<String> = Vec::new();
    let mut inputs = FormulaInputs::default();
    for (i, slot) in slots.slots.iter().enumerate() {
        for name in [slot.name.clone(), slots.column(super::ids::SlotId(i as u8))] {
            if !names.contains(&name) {
                names.push(name);
                inputs.slots.push(i);
            }
        }
    }
    for (c, slot) in contracts.0.iter().enumerate() {
        if slot.contract.price(ledger).is_some() {
            names.push(format!("{}.price", slot.name));
            inputs.priced.push(c);
        }
    }
    let populations: Vec<&str> = sc.populations.keys().map(String::as_str).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let metrics = crate::properties::spec::population_metrics(source, &sc.metrics, &populations, &name_refs)?;
    let mut first_ids = Vec::new();
    let mut next = 0u64;
    for p in sc.populations.values() {
        first_ids.push(next..next.saturating_add(p.count));
        next = next.saturating_add(p.count);
    }
    let first_index = columns.iter().map(|c| c.index + 1).max().unwrap_or(0);
    let mut measured = Vec::new();
    for (index, m) in (first_index..).zip(metrics) {
        let field = format!("metrics.{}", m.column);
        super::metric_info::usable_column(&m.column).map_err(|message| source.error(&field, message))?;
        if columns.iter().any(|c| c.name == m.column) {
            return Err(
                source.error(&field, format!("column `{}` is already written by another metric", m.column))
            );
        }
        let of = sc.metrics.get(&m.column).and_then(|v| v.get("of")).and_then(|v| v.as_str()).unwrap_or("");
        let (stat, unitless) = match m.stat {
            Stat::Sum => ("sum".to_string(), false),
            Stat::Mean => ("mean".to_string(), false),
            Stat::Min => ("least value".to_string(), false),
            Stat::Max => ("greatest value".to_string(), false),
            Stat::Quantile(q) => (format!("quantile {q}"), false),
            Stat::ShareBelow(b) => (format!("share of agents below {b}"), true),
            Stat::Gini => ("Gini coefficient".to_string(), true),
        };
        columns.push(super::build::MetricColumn {
            name: m.column.clone(),
            kind: super::contract::MetricKind::Float,
            index,
            info: super::metric_info::MetricInfo::population(populations[m.population], of, &stat, unitless),
        });
        let agents = first_ids[m.population].clone();
        measured.push((m, agents));
    }
    let pops = PopulationMetrics::new(measured, inputs);
    let metric_names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).chain(["tick"]).collect();
    let properties =
        crate::properties::spec::compile_properties(source, &sc.properties, &metric_names, sc.ticks)?;
    let monitor = PropertyMonitor::new(properties, columns.iter().map(|c| c.index).collect());
    Ok((pops, monitor))
}
