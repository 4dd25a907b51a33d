//! Stress search: find the point of a [`Space`] where a property's margin
//! is smallest, and shrink a failure to the fewest changed values.
//!
//! Each candidate runs `replicates` simulations with `tokensim run`'s seeds
//! (common random numbers); its loss is the mean or the worst margin over
//! them, and it *fails* when that loss is negative. [`stress`] runs the
//! optimiser of [`super::optimize`] on that loss, then shrinks the
//! best failure: each dimension in turn is put back to the scenario's own
//! value (its override dropped) if the property still fails without it,
//! else moved towards it by bisection as far as the failure persists.

use super::evaluate::simulate;
use super::optimize::{OptimiseOptions, minimise};
use super::space::Space;
use crate::engine::Simulation;
use crate::engine::registry::Registry;
use crate::error::Error;
use crate::scenario::LoadedScenario;

/// Which statistic of the replicates' margins is minimised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Objective {
    /// The mean margin: fails when the property fails on average.
    Mean,
    /// The smallest margin: fails when any replicate fails.
    Worst,
}

/// How to search.
#[derive(Clone, Debug)]
pub struct StressOptions {
    /// Simulation runs the search may use (candidates × replicates);
    /// shrinking comes on top.
    pub budget: usize,
    /// Seed of the optimiser.
    pub seed: u64,
    /// Mean or worst margin.
    pub objective: Objective,
    /// Stop searching at the first failure (then shrink it).
    pub stop_at_failure: bool,
}

/// Bisection steps per dimension when shrinking.
const SHRINK_STEPS: usize = 6;

/// One evaluated candidate (a row of `search.parquet`).
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Position in evaluation order.
    pub eval_id: u64,
    /// Optimiser generation (0: Latin hypercube); shrinking steps carry
    /// the generation after the last.
    pub generation: u32,
    /// Values per dimension; `None` where the scenario's own value is used.
    pub x: Vec<Option<f64>>,
    /// Mean margin over the replicates.
    pub margin_mean: f64,
    /// Smallest margin.
    pub margin_worst: f64,
    /// Replicates whose margin is negative.
    pub failures: u32,
    /// Replicates run.
    pub replicates: u32,
}

impl Record {
    /// The objective's value: mean or worst margin.
    pub fn loss(&self, objective: Objective) -> f64 {
        match objective {
            Objective::Mean => self.margin_mean,
            Objective::Worst => self.margin_worst,
        }
    }
}

/// What a stress search found.
#[derive(Clone, Debug)]
pub struct StressOutcome {
    /// Every evaluation, search then shrinking, in order.
    pub records: Vec<Record>,
    /// Index in `records` of the smallest loss the search found.
    pub best: usize,
    /// Index in `records` of the shrunk failure, if the property failed.
    pub counterexample: Option<usize>,
    /// Runs spent searching and shrinking.
    pub runs: (u64, u64),
}

/// Candidates evaluated so far and the best loss, after each generation.
#[derive(Clone, Copy, Debug)]
pub struct StressProgress {
    /// Runs done (candidates × replicates).
    pub runs: u64,
    /// Runs the budget allows.
    pub budget: u64,
    /// Smallest loss so far.
    pub best: f64,
}

/// A function giving one run's margin; it steps the simulation itself.
pub type MarginFn<'a> = dyn Fn(&mut Simulation) -> Result<f64, Error> + Sync + 'a;

/// Evaluates candidates given as `Option` values per dimension.
struct Evaluator<'a> {
    base: &'a LoadedScenario,
    registry: &'a Registry,
    space: &'a Space,
    margin: &'a MarginFn<'a>,
}

impl Evaluator<'_> {
    fn evaluate(&self, points: &[Vec<Option<f64>>]) -> Result<Vec<(f64, f64, u32)>, Error> {
        let candidates: Vec<Vec<(String, toml::Value)>> = points
            .iter()
            .map(|x| {
                self.space
                    .dims
                    .iter()
                    .zip(x)
                    .filter_map(|(d, v)| v.map(|v| (d.path.clone(), d.value(v))))
                    .collect()
            })
            .collect();
        let margins = simulate(self.base, self.registry, &candidates, self.space.replicates, self.margin)?;
        margins
            .iter()
            .enumerate()
            .map(|(c, m)| {
                if let Some(r) = m.iter().position(|v| v.is_nan()) {
                    return Err(Error::Run(format!(
                        "candidate {c} replicate {r}: the property's margin is not a number"
                    )));
                }
                // An unbounded failure outweighs any other replicate.
                let mean = if m.contains(&f64::NEG_INFINITY) {
                    f64::NEG_INFINITY
                } else {
                    m.iter().sum::<f64>() / m.len() as f64
                };
                let worst = m.iter().copied().fold(f64::INFINITY, f64::min);
                Ok((mean, worst, m.iter().filter(|&&v| v < 0.0).count() as u32))
            })
            .collect()
    }
}

/// Searches `space` for the smallest margin (as `margin` computes it per
/// run), within `opts.budget` runs, then shrinks the best failure.
/// `progress` is called after every generation.
pub fn stress(
    base: &LoadedScenario,
    registry: &Registry,
    space: &Space,
    opts: &StressOptions,
    margin: &MarginFn<'_>,
    progress: &mut dyn FnMut(StressProgress),
) -> Result<StressOutcome, Error> {
    let reps = space.replicates as usize;
    let candidates = opts.budget / reps;
    if candidates == 0 {
        return Err(Error::Run(format!(
            "--budget {} is below one candidate ({reps} replicates per candidate in [search])",
            opts.budget
        )));
    }
    let d = space.dims.len();
    let ev = Evaluator { base, registry, space, margin };
    let mut records: Vec<Record> = Vec::new();
    let objective = opts.objective;
    let mut evaluate = |generation: u32, xs: &[Vec<f64>]| -> Result<Vec<f64>, Error> {
        let points: Vec<Vec<Option<f64>>> = xs.iter().map(|x| x.iter().map(|&v| Some(v)).collect()).collect();
        let results = ev.evaluate(&points)?;
        let mut losses = Vec::new();
        for (x, (mean, worst, failures)) in points.into_iter().zip(results) {
            let r = Record {
                eval_id: records.len() as u64,
                generation,
                x,
                margin_mean: mean,
                margin_worst: worst,
                failures,
                replicates: space.replicates,
            };
            losses.push(r.loss(objective));
            records.push(r);
        }
        let best = records.iter().map(|r| r.loss(objective)).fold(f64::INFINITY, f64::min);
        progress(StressProgress {
            runs: (records.len() * reps) as u64,
            budget: (candidates * reps) as u64,
            best,
        });
        Ok(losses)
    };
    let initial = (4 * d).clamp(8, 64).min(candidates.div_ceil(3).max(1));
    let mut stop =
        |evals: &[super::optimize::Evaluation]| opts.stop_at_failure && evals.iter().any(|e| e.loss < 0.0);
    minimise(
        space,
        &OptimiseOptions { budget: candidates, seed: opts.seed, initial },
        &mut evaluate,
        &mut stop,
    )?;
    let searched = records.len();
    let best = (0..searched)
        .fold(0, |b, i| if records[i].loss(objective) < records[b].loss(objective) { i } else { b });
    let mut counterexample = None;
    if records[best].loss(objective) < 0.0 {
        let generation = records.iter().map(|r| r.generation).max().unwrap_or(0) + 1;
        counterexample = Some(shrink(&ev, objective, &mut records, best, generation)?);
    }
    let runs = ((searched * reps) as u64, ((records.len() - searched) * reps) as u64);
    Ok(StressOutcome { records, best, counterexample, runs })
}

/// Shrinks the failing record `from` towards the scenario's own values;
/// appends every evaluation to `records` and returns the index of the
/// shrunk failure.
fn shrink(
    ev: &Evaluator<'_>,
    objective: Objective,
    records: &mut Vec<Record>,
    from: usize,
    generation: u32,
) -> Result<usize, Error> {
    let mut current = from;
    let try_point = |x: Vec<Option<f64>>, records: &mut Vec<Record>| -> Result<Option<usize>, Error> {
        let (mean, worst, failures) = ev.evaluate(std::slice::from_ref(&x))?[0];
        records.push(Record {
            eval_id: records.len() as u64,
            generation,
            x,
            margin_mean: mean,
            margin_worst: worst,
            failures,
            replicates: ev.space.replicates,
        });
        let i = records.len() - 1;
        Ok((records[i].loss(objective) < 0.0).then_some(i))
    };
    for (i, dim) in ev.space.dims.iter().enumerate() {
        let Some(v) = records[current].x[i] else { continue };
        if dim.base == Some(v) {
            continue;
        }
        // Without this value at all: the scenario's own.
        let mut x = records[current].x.clone();
        x[i] = None;
        if let Some(k) = try_point(x, records)? {
            current = k;
            continue;
        }
        let Some(base) = dim.base else { continue };
        // Bisect between the base (passes) and v (fails).
        let (mut pass, mut fail) = (base, v);
        for _ in 0..SHRINK_STEPS {
            let mid = dim.value((pass + fail) / 2.0);
            let mid = mid.as_float().unwrap_or_else(|| mid.as_integer().unwrap_or_default() as f64);
            if mid == pass || mid == fail {
                break;
            }
            let mut x = records[current].x.clone();
            x[i] = Some(mid);
            match try_point(x, records)? {
                Some(k) => {
                    current = k;
                    fail = mid;
                }
                None => pass = mid,
            }
        }
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    // A feed crashed by `shocks.0.factor` at tick 3; the property "price
    // stays above 1000" fails when factor < 0.5, whatever the tribute.
    const SCENARIO: &str = r#"ticks = 5
assets = ["DAI", "TKN"]
[contracts.feed]
kind = "price_feed"
initial = 2000.0
shocks = [{ tick = 3, factor = 0.9 }]
[contracts.pool]
kind = "treasury"
asset = "DAI"
[contracts.curve]
kind = "bonding_curve"
reserve_asset = "DAI"
token = "TKN"
slope = 1e-6
initial_supply = 1000.0
entry_tribute = 0.05
treasury = "pool"
[populations.traders]
count = 5
balances = { DAI = 100.0 }
behaviours.noise_trader = { contract = "curve", p_trade = 0.5 }
[search]
replicates = 2
"contracts.feed.shocks.0.factor" = { low = 0.1, high = 1.0 }
"contracts.curve.entry_tribute" = { low = 0.0, high = 0.3 }
"#;

    fn min_price_margin(sim: &mut Simulation) -> Result<f64, Error> {
        let col = sim.metric_columns.iter().position(|c| c.name == "feed_price").expect("feed price column");
        let mut low = f64::INFINITY;
        while sim.tick() < sim.ticks {
            low = low.min(sim.step().metrics[col]);
        }
        Ok(low - 1000.0)
    }

    #[test]
    fn finds_and_shrinks_the_crash_leaving_the_tribute_alone() {
        let base = LoadedScenario::from_str(Path::new("s.toml"), SCENARIO).unwrap();
        let space = Space::of(&base).unwrap();
        let registry = Registry::builtin();
        let opts = StressOptions { budget: 120, seed: 3, objective: Objective::Worst, stop_at_failure: true };
        let out = stress(&base, &registry, &space, &opts, &min_price_margin, &mut |_| {}).unwrap();
        let c = &out.records[out.counterexample.expect("a failure exists")];
        let factor = c.x[0].expect("the crash is what fails");
        assert!(factor < 0.5 && factor > 0.4, "shrunk towards the base 0.9 up to the edge 0.5: {factor}");
        assert_eq!(c.x[1], None, "the tribute does not matter and goes back to the scenario's");
        assert!((c.margin_worst - (2000.0 * factor - 1000.0)).abs() < 1e-6, "closed form: {c:?}");
        assert!(out.runs.0 <= 120 && out.runs.1 > 0);
        let again = stress(&base, &registry, &space, &opts, &min_price_margin, &mut |_| {}).unwrap();
        assert_eq!(out.records, again.records, "deterministic");
        // Nothing fails when the crash cannot go below half.
        let text = SCENARIO.replace("{ low = 0.1, high = 1.0 }", "{ low = 0.6, high = 1.0 }");
        let mild = LoadedScenario::from_str(Path::new("s.toml"), &text).unwrap();
        let space = Space::of(&mild).unwrap();
        let out = stress(&mild, &registry, &space, &opts, &min_price_margin, &mut |_| {}).unwrap();
        assert!(out.counterexample.is_none());
        assert!(out.records[out.best].margin_worst >= 0.0 && out.records.len() == 60);
    }
}
