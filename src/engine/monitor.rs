//! Properties and population metrics inside a tick: population metrics are
//! measured by the Accrue phase's parallel pass over the wallets (a pass of
//! the Measure phase's own when prices moved since, or a quantile's sampled
//! bracket missed) and appended after the contracts' metrics; properties
//! are evaluated (Check phase) on the tick's metric vector. Both keep
//! constant memory in ticks.

use std::ops::Range;

use bevy_ecs::prelude::*;
use rayon::prelude::*;

use super::contract::Contracts;
use super::ids::AgentId;
use super::ledger::{Ledger, MAX_SLOTS};
use super::phase::{Clock, TickLog};
use super::totals::CHUNK;
use super::wallets::{Wallet, WalletSlice, Wallets};
use crate::properties::Verdict;
use crate::properties::order::{Band, Bracket, SAMPLE, quantile};
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
    /// What the Accrue pass measured this tick, if it did.
    fused: Option<Fused>,
}

/// Population metrics measured by the Accrue phase's pass over every wallet
/// (each wallet read once a tick instead of once more per metric), with the
/// prices they were computed at: the Measure phase takes them only if it
/// sees the same tick and the same prices, and measures again otherwise.
#[derive(Clone, Debug)]
struct Fused {
    tick: u32,
    prices: Vec<f64>,
    values: Vec<f64>,
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
        PopulationMetrics { metrics, inputs, fused: None }
    }

    /// The prices the formulas read, now (NaN for a contract without one).
    pub(crate) fn prices(&self, contracts: &Contracts, ledger: &Ledger) -> Vec<f64> {
        self.inputs
            .priced
            .iter()
            .map(|&c| contracts.0[c].contract.price(ledger).unwrap_or(f64::NAN))
            .collect()
    }

    /// How each metric values one agent at `prices`; `None` without metrics.
    pub(crate) fn pass<'a>(&'a self, prices: &'a [f64]) -> Option<Pass<'a>> {
        if self.metrics.is_empty() {
            return None;
        }
        let mut point = vec![0.0; self.inputs.slots.len()];
        point.extend_from_slice(prices);
        let metrics = self
            .metrics
            .iter()
            .map(|m| {
                let value = match &m.affine {
                    Some(a) => PerAgent::Affine(
                        a.constant.eval(&point),
                        a.terms.iter().map(|(i, k)| (self.inputs.slots[*i], k.eval(&point))).collect(),
                    ),
                    None => PerAgent::Formula(&m.metric.of, &self.inputs.slots, prices),
                };
                Measuring { value, agents: m.agents.clone(), stat: m.metric.stat, bracket: None }
            })
            .collect();
        Some(Pass { metrics })
    }

    /// Each metric's value from the parts of every chunk of wallets, in
    /// chunk order; `None` if a quantile's bracket missed its rank.
    fn finish(&mut self, chunks: Vec<Vec<Part>>) -> Option<Vec<f64>> {
        let mut totals = vec![Partial::EMPTY; self.metrics.len()];
        let mut pieces: Vec<Vec<Vec<f64>>> = vec![Vec::new(); self.metrics.len()];
        let mut bands: Vec<Vec<Band>> = vec![Vec::new(); self.metrics.len()];
        for parts in chunks {
            for (((total, values), band), part) in
                totals.iter_mut().zip(&mut pieces).zip(&mut bands).zip(parts)
            {
                match part {
                    Part::Partial(p) => *total = total.then(p),
                    Part::Values(v) => values.push(v),
                    Part::Band(b) => band.push(b),
                }
            }
        }
        let mut out = Vec::with_capacity(self.metrics.len());
        for (((m, total), pieces), bands) in self.metrics.iter_mut().zip(totals).zip(pieces).zip(bands) {
            out.push(match m.metric.stat {
                Stat::Quantile(q) if !bands.is_empty() => Band::quantile(&bands, q)?,
                // Selected from the chunks' pieces as they are.
                Stat::Quantile(q) => quantile(&pieces.iter().map(Vec::as_slice).collect::<Vec<_>>(), q),
                stat if stat.needs_values() => {
                    m.values.clear();
                    pieces.iter().for_each(|v| m.values.extend_from_slice(v));
                    stat.of(&mut m.values)
                }
                stat => total.stat(stat),
            });
        }
        Some(out)
    }

    /// Keeps what the Accrue pass measured at `tick` with `prices`, unless
    /// a bracket missed (the Measure phase then measures in full).
    pub(crate) fn store_fused(&mut self, tick: u32, prices: Vec<f64>, chunks: Vec<Vec<Part>>) {
        self.fused = self.finish(chunks).map(|values| Fused { tick, prices, values });
    }
}

/// How one agent's value of a metric is computed this tick.
enum PerAgent<'a> {
    /// `constant + Σ coefficient · wallet[slot]`, coefficients of this tick,
    /// over the slots the formula reads (most read one to three).
    Affine(f64, Vec<(usize, f64)>),
    /// The formula itself over `[slots…, prices…]`.
    Formula(&'a crate::properties::program::Formula, &'a [usize], &'a [f64]),
}

/// `c + Σ k · w[slot]` over `terms`, in order.
#[inline(always)]
fn affine_value(c: f64, terms: &[(usize, f64)], w: &Wallet) -> f64 {
    terms.iter().fold(c, |acc, (slot, k)| acc + k * w.balances()[*slot])
}

/// One agent's value of a formula over `[slots…, prices…]`.
fn formula_value(
    f: &crate::properties::program::Formula,
    slots: &[usize],
    prices: &[f64],
    w: &Wallet,
) -> f64 {
    let mut v = [0.0; 2 * MAX_SLOTS + 64];
    let n = slots.len();
    if n + prices.len() > v.len() {
        let mut big: Vec<f64> = slots.iter().map(|s| w.balances()[*s]).collect();
        big.extend_from_slice(prices);
        return f.eval(&big);
    }
    for (dst, s) in v.iter_mut().zip(slots.iter()) {
        *dst = w.balances()[*s];
    }
    v[n..n + prices.len()].copy_from_slice(prices);
    f.eval(&v[..n + prices.len()])
}

/// This tick's per-agent evaluation of every population metric.
pub(crate) struct Pass<'a> {
    metrics: Vec<Measuring<'a>>,
}

/// How one metric is measured this tick.
struct Measuring<'a> {
    value: PerAgent<'a>,
    agents: Range<u64>,
    stat: Stat,
    /// For a quantile: pivots sampled before the pass, so that a chunk keeps
    /// only the values near the wanted rank rather than all of them.
    bracket: Option<Bracket>,
}

impl Measuring<'_> {
    fn value(&self, w: &Wallet) -> f64 {
        match &self.value {
            PerAgent::Affine(c, k) => affine_value(*c, k, w),
            PerAgent::Formula(f, slots, prices) => formula_value(f, slots, prices, w),
        }
    }
}

/// One chunk's share of one metric: running sums and extremes, every
/// member's value in table order (for an order statistic), or the values
/// inside a quantile's bracket.
pub(crate) enum Part {
    Partial(Partial),
    Values(Vec<f64>),
    Band(Band),
}

impl Part {
    fn add(&mut self, stat: Stat, values: impl Iterator<Item = f64>) {
        match self {
            Part::Partial(p) => p.extend(stat, values),
            Part::Values(v) => v.extend(values),
            Part::Band(b) => b.add(values),
        }
    }
}

impl Pass<'_> {
    /// Each metric's share of one chunk of wallets. Chunks are [`CHUNK`]
    /// agents from agent 0, so a sum is added in the same order however
    /// many threads there are and whichever pass measured it.
    pub(crate) fn chunk(&self, wallets: WalletSlice<'_>) -> Vec<Part> {
        let mut parts = self.start(wallets.len());
        self.feed(&mut parts, wallets);
        parts
    }

    /// Brackets each quantile from a stratified sample of its members (as
    /// their wallets are now); a quantile without a bracket keeps every
    /// value.
    pub(crate) fn bracket(&mut self, wallets: WalletSlice<'_>) {
        for m in &mut self.metrics {
            let Stat::Quantile(q) = m.stat else { continue };
            let n = (m.agents.end - m.agents.start) as usize;
            let stride = n.div_ceil(SAMPLE).max(1);
            let members = wallets.range(AgentId(m.agents.start), n);
            let mut sample: Vec<f64> = members.iter().step_by(stride).map(|w| m.value(w)).collect();
            if sample.len() >= SAMPLE / 4 {
                m.bracket = Some(Bracket::around(&mut sample, q));
            }
        }
    }

    /// Empty shares, for a chunk of up to `n` agents fed in pieces.
    pub(crate) fn start(&self, n: usize) -> Vec<Part> {
        let part = |m: &Measuring| match m.bracket {
            Some(b) => Part::Band(Band::new(b)),
            None if m.stat.needs_values() => Part::Values(Vec::with_capacity(n)),
            None => Part::Partial(Partial::EMPTY),
        };
        self.metrics.iter().map(part).collect()
    }

    /// Adds the next agents of a chunk to its shares: feeding a chunk in
    /// pieces gives exactly what feeding it whole does.
    pub(crate) fn feed(&self, parts: &mut [Part], wallets: WalletSlice<'_>) {
        for (m, part) in self.metrics.iter().zip(parts) {
            let wallets = wallets.range(AgentId(m.agents.start), (m.agents.end - m.agents.start) as usize);
            // Each kind of value gets its own tight loop.
            match &m.value {
                // The usual term counts unrolled (the same sums, in order).
                &PerAgent::Affine(c, ref k) => match k[..] {
                    [] => add(part, wallets, m, |_| c),
                    [(a, x)] => add(part, wallets, m, |w| c + x * w.balances()[a]),
                    [(a, x), (b, y)] => {
                        add(part, wallets, m, |w| c + x * w.balances()[a] + y * w.balances()[b])
                    }
                    [(a, x), (b, y), (d, z)] => add(part, wallets, m, |w| {
                        c + x * w.balances()[a] + y * w.balances()[b] + z * w.balances()[d]
                    }),
                    _ => add(part, wallets, m, |w| affine_value(c, k, w)),
                },
                PerAgent::Formula(f, slots, prices) => {
                    add(part, wallets, m, |w| formula_value(f, slots, prices, w))
                }
            }
        }
    }
}

/// Adds `m`'s members among `wallets` to its share, with `value` each
/// agent's.
#[inline]
fn add(part: &mut Part, wallets: WalletSlice<'_>, m: &Measuring, value: impl Fn(&Wallet) -> f64) {
    part.add(m.stat, wallets.iter().map(value));
}

/// The Measure-phase system that appends each population metric to the
/// tick's metrics (after the contracts' metrics and engine counters): what
/// the Accrue pass measured if the prices are still the ones it used, else
/// a pass of its own.
pub fn population_metric_system(
    clock: Res<Clock>,
    contracts: Res<Contracts>,
    ledger: Res<Ledger>,
    mut log: ResMut<TickLog>,
    mut pops: ResMut<PopulationMetrics>,
    wallets: Res<Wallets>,
) {
    let pops = &mut *pops;
    if pops.metrics.is_empty() {
        return;
    }
    let prices = pops.prices(&contracts, &ledger);
    let same = |f: &Fused| {
        f.tick == clock.tick && f.prices.iter().map(|p| p.to_bits()).eq(prices.iter().map(|p| p.to_bits()))
    };
    let values = match pops.fused.take() {
        Some(f) if same(&f) => f.values,
        _ => {
            let pass = pops.pass(&prices).expect("metrics exist");
            let chunks: Vec<Vec<Part>> = wallets.all().par_chunks(CHUNK).map(|w| pass.chunk(w)).collect();
            pops.finish(chunks).expect("a pass without brackets keeps every value it needs")
        }
    };
    log.metrics.extend(values);
}

/// Independent running sums a [`Partial`] keeps: value `n` of a chunk goes
/// to lane `n % LANES`, so consecutive additions do not wait on each other
/// (and the result still depends only on the values and their order).
const LANES: usize = 4;

/// What a statistic that needs no ordering keeps of a run of values (only
/// the fields its statistic reads are kept up to date).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Partial {
    n: u64,
    sum: [f64; LANES],
    min: f64,
    max: f64,
    below: u64,
}

impl Partial {
    const EMPTY: Partial =
        Partial { n: 0, sum: [0.0; LANES], min: f64::INFINITY, max: f64::NEG_INFINITY, below: 0 };

    /// `self` with `values` added, one after the other, for `stat`.
    #[inline]
    fn extend(&mut self, stat: Stat, values: impl Iterator<Item = f64>) {
        // On a copy, so that the loops keep it in registers.
        let mut p = *self;
        match stat {
            Stat::Sum | Stat::Mean => {
                let mut values = values;
                // Up to lane 0, then a lane each with constant indices.
                while !p.n.is_multiple_of(LANES as u64) {
                    let Some(v) = values.next() else { break };
                    p.sum[p.n as usize % LANES] += v;
                    p.n += 1;
                }
                let mut sum = p.sum;
                'lanes: loop {
                    for lane in sum.iter_mut() {
                        let Some(v) = values.next() else { break 'lanes };
                        *lane += v;
                        p.n += 1;
                    }
                }
                p.sum = sum;
            }
            Stat::Min => {
                for v in values {
                    p.min = p.min.min(v);
                    p.n += 1;
                }
            }
            Stat::Max => {
                for v in values {
                    p.max = p.max.max(v);
                    p.n += 1;
                }
            }
            Stat::ShareBelow(t) => {
                for v in values {
                    p.below += u64::from(v < t);
                    p.n += 1;
                }
            }
            Stat::Quantile(_) | Stat::Gini => unreachable!("{stat:?} needs the values"),
        }
        *self = p;
    }

    /// `self` followed by `next` (lane by lane).
    fn then(self, next: Partial) -> Partial {
        Partial {
            n: self.n + next.n,
            sum: std::array::from_fn(|l| self.sum[l] + next.sum[l]),
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
        let [a, b, c, d] = self.sum;
        let sum = || (a + b) + (c + d);
        match stat {
            Stat::Sum => sum(),
            Stat::Mean => sum() / self.n as f64,
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
    columns: &mut Vec<super::metric_info::MetricColumn>,
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
        columns.push(super::metric_info::MetricColumn {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::properties::program::{Formula, Inputs};

    /// Metrics over slots `a` (0) and `b` (1) and one price `p`.
    /// `n` agents of two slots, agent `i`'s set by `fill(i, balances)`.
    fn wallets_of(n: u64, fill: impl Fn(u64, &mut [f64])) -> Wallets {
        let mut w = Wallets::with_capacity(2, n as usize);
        for i in 0..n {
            fill(i, w.push().balances_mut());
        }
        w
    }

    fn metrics(of: &str, stats: &[Stat], agents: Range<u64>) -> PopulationMetrics {
        let inputs = Inputs::new(&["a", "b", "p"]);
        let measured = stats
            .iter()
            .map(|&stat| {
                let of = Formula::compile(of, &inputs).expect("formula");
                (PopulationMetric { column: "m".into(), population: 0, of, stat }, agents.clone())
            })
            .collect();
        PopulationMetrics::new(measured, FormulaInputs { slots: vec![0, 1], priced: vec![0] })
    }

    /// What the Accrue pass relies on: a chunk fed in pieces of any size
    /// gives the bits a chunk fed whole gives, for every statistic, an
    /// affine or a general formula, and a population that starts and ends
    /// inside the chunk.
    #[test]
    fn feeding_a_chunk_in_pieces_is_feeding_it_whole() {
        let stats = [
            Stat::Sum,
            Stat::Mean,
            Stat::Min,
            Stat::Max,
            Stat::ShareBelow(300.0),
            Stat::Quantile(0.37),
            Stat::Gini,
        ];
        let n = 1000u64;
        let wallets = wallets_of(n, |i, w| {
            w[0] = ((i * 7919) % 1009) as f64 * 0.37;
            w[1] = ((i * 104_729) % 997) as f64 * 1.3;
        });
        let wallets = wallets.all();
        for of in ["a + 2.5 * b * p - 1", "sqrt(a * a + b) * p"] {
            let pops = metrics(of, &stats, 13..911);
            let prices = [1.7];
            let pass = pops.pass(&prices).expect("metrics");
            let whole = pass.chunk(wallets);
            for piece in [1, 3, 4, 64, 333, 512] {
                let mut parts = pass.start(wallets.len());
                for w in wallets.chunks(piece) {
                    pass.feed(&mut parts, w);
                }
                let (mut a, mut b) = (metrics(of, &stats, 13..911), metrics(of, &stats, 13..911));
                let (x, y) = (a.finish(vec![parts]).unwrap(), b.finish(vec![pass.chunk(wallets)]).unwrap());
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&x), bits(&y), "{of}, pieces of {piece}");
            }
            // And against a direct computation over the members.
            let values: Vec<f64> = wallets
                .range(AgentId(13), 911 - 13)
                .iter()
                .map(|w| {
                    let (a, b, p) = (w.balances()[0], w.balances()[1], prices[0]);
                    if of.starts_with("sqrt") { (a * a + b).sqrt() * p } else { a + 2.5 * b * p - 1.0 }
                })
                .collect();
            let got = metrics(of, &stats, 13..911).finish(vec![whole]).unwrap();
            for (stat, got) in stats.iter().zip(got) {
                let want = stat.of(&mut values.clone());
                assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{of} {stat:?}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn a_bracketed_quantile_is_the_quantile_or_says_it_missed() {
        let n = 20_000u64;
        let scaled =
            |scale: fn(u64) -> f64| wallets_of(n, move |i, w| w[0] = ((i * 7919) % 10_007) as f64 * scale(i));
        let wallets = scaled(|_| 1.0);
        let wallets = wallets.all();
        let stats = [Stat::Quantile(0.5), Stat::Quantile(0.9), Stat::Mean];
        let pops = metrics("a * p", &stats, 100..19_000);
        let prices = [2.0];
        let plain = pops.pass(&prices).unwrap();
        let want = pops.clone().finish(vec![plain.chunk(wallets)]).unwrap();
        let mut bracketed = pops.pass(&prices).unwrap();
        bracketed.bracket(wallets);
        assert!(bracketed.metrics[..2].iter().all(|m| m.bracket.is_some()));
        assert!(bracketed.metrics[2].bracket.is_none());
        let chunks: Vec<Vec<Part>> = wallets.chunks(CHUNK).map(|w| bracketed.chunk(w)).collect();
        let got = pops.clone().finish(chunks).unwrap();
        assert_eq!(
            got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        // Wallets that moved far from the sample: the bracket misses.
        let moved = scaled(|i| if i % 2 == 0 { 1.0 } else { 100.0 });
        assert!(pops.clone().finish(vec![bracketed.chunk(moved.all())]).is_none());
    }
}
