//! An external price feed: an exogenous price that moves every tick in the
//! Exogenous phase, before anyone looks at it. Venues are arbitraged
//! towards it, lending markets may use it as their oracle, and behaviours
//! read it as a signal (`agent.market.price(feed)`).
//!
//! Processes (`dt = 1 / ticks_per_year`, `Z ~ N(0, 1)`):
//! - `constant`: `S_t = S_0`.
//! - `gbm` (geometric Brownian motion):
//!   `S_t = S_{t−1} · exp((μ − σ²/2)·dt + σ·√dt·Z)`, so
//!   `E[S_t] = S_0·e^{μ·t·dt}`.
//! - `merton` (jump diffusion): GBM plus `N ~ Poisson(λ·dt)` jumps per tick,
//!   each multiplying the price by `e^J`, `J ~ N(m, s²)`; the drift is
//!   compensated by `−λ·κ`, `κ = e^{m + s²/2} − 1`, so `E[S_t]` is the same
//!   as GBM's.
//! - `replay`: the value of a `tick,price` file at the last row at or
//!   before the tick; before the first row, the row at tick 0 if there is
//!   one, else `initial`, else the first row's value.
//!
//! `shocks = [{ tick = 100, factor = 0.5 }]` multiplies the price at given
//! ticks, on top of any process: a scheduled crash or pump for stress tests.
//!
//! The price lives in `[f64::MIN_POSITIVE, f64::MAX]` (a positive normal
//! double). A process that leaves it (a GBM whose `σ²·dt` is huge rounds
//! to 0, shocks multiply to infinity) breaks the feed's `price_in_domain`
//! invariant at that tick: the price keeps its last value in the domain
//! (`expected` in `violations.parquet`) and `actual` is what the process
//! gave. Shocks whose running product alone leaves the domain, or, for a
//! constant process, take the price out of it, are refused at build time.

use rand_distr::{Distribution, Poisson, StandardNormal};
use rand_pcg::Pcg64Mcg;

use crate::engine::builder::ContractBuilder;
use crate::engine::contract::{CheckCtx, Contract, Measure, MetricDef, Timing, Violation};
use crate::engine::ledger::Ledger;
use crate::engine::params::Param;
use crate::engine::registry::MechanismKind;
use crate::error::ScenarioError;

/// The random process a feed follows.
#[derive(Clone, Debug, PartialEq)]
pub enum Process {
    /// Never moves (except by shocks).
    Constant,
    /// Geometric Brownian motion.
    Gbm {
        /// Annual drift μ.
        drift: f64,
        /// Annual volatility σ.
        volatility: f64,
    },
    /// Merton jump diffusion.
    Merton {
        /// Annual drift μ (of the expected price).
        drift: f64,
        /// Annual diffusion volatility σ.
        volatility: f64,
        /// Expected jumps per year λ.
        intensity: f64,
        /// Mean `m` of the log jump size.
        jump_mean: f64,
        /// Standard deviation `s` of the log jump size.
        jump_stdev: f64,
    },
    /// A recorded series of `(tick, price)`, ascending ticks.
    Replay(Vec<(u32, f64)>),
}

/// A price path generator, independent of any world: use it to test or
/// reason about a feed.
///
/// ```
/// use tokensim::mechanisms::price_feed::{Feed, Process};
/// // With no volatility, GBM grows at exactly e^{μ·t/ticks_per_year}.
/// let mut feed = Feed::new(Process::Gbm { drift: 0.365, volatility: 0.0 }, 100.0, 365.0, vec![]);
/// let mut rng = rand_pcg::Pcg64Mcg::new(1);
/// for t in 1..=10 {
///     feed.step(t, &mut rng);
/// }
/// assert!((feed.price() - 100.0 * (0.001f64 * 10.0).exp()).abs() < 1e-9);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Feed {
    process: Process,
    dt: f64,
    /// Price before shocks.
    base: f64,
    /// Product of the shocks so far.
    shocked: f64,
    /// Shocks `(tick, factor)`, ascending ticks.
    shocks: Vec<(u32, f64)>,
    /// The price the process gave at the last step, if it left the domain
    /// (the price then kept its value before the step).
    outside: Option<f64>,
}

/// Whether `price` is in a feed's domain: a positive normal double.
pub fn in_domain(price: f64) -> bool {
    price.is_normal() && price > 0.0
}

impl Feed {
    /// A feed at `initial` following `process` with `ticks_per_year` ticks
    /// a year and the given shocks.
    pub fn new(process: Process, initial: f64, ticks_per_year: f64, mut shocks: Vec<(u32, f64)>) -> Self {
        shocks.sort_by_key(|s| s.0);
        Feed { process, dt: 1.0 / ticks_per_year, base: initial, shocked: 1.0, shocks, outside: None }
    }

    /// What the process gave at the last step if that left the domain
    /// ([`in_domain`]); the price is then the one before the step.
    pub fn outside(&self) -> Option<f64> {
        self.outside
    }

    /// The current price.
    pub fn price(&self) -> f64 {
        self.base * self.shocked
    }

    /// Moves the price to tick `tick`. Draws a fixed number of random
    /// numbers per tick for GBM (one) and a number depending only on the
    /// drawn jump count for Merton. A move out of the domain is not made:
    /// the price stays and [`Feed::outside`] holds what it would have been.
    pub fn step(&mut self, tick: u32, rng: &mut Pcg64Mcg) {
        let before = (self.base, self.shocked);
        self.advance(tick, rng);
        let price = self.price();
        self.outside = (!in_domain(price)).then_some(price);
        if self.outside.is_some() {
            (self.base, self.shocked) = before;
        }
    }

    fn advance(&mut self, tick: u32, rng: &mut Pcg64Mcg) {
        let dt = self.dt;
        match &self.process {
            Process::Constant => {}
            Process::Gbm { drift, volatility } => {
                let z: f64 = StandardNormal.sample(rng);
                self.base *=
                    ((drift - volatility * volatility / 2.0) * dt + volatility * dt.sqrt() * z).exp();
            }
            Process::Merton { drift, volatility, intensity, jump_mean, jump_stdev } => {
                let z: f64 = StandardNormal.sample(rng);
                let kappa = (jump_mean + jump_stdev * jump_stdev / 2.0).exp() - 1.0;
                let mut log_move = (drift - volatility * volatility / 2.0 - intensity * kappa) * dt
                    + volatility * dt.sqrt() * z;
                let lambda = intensity * dt;
                let jumps = if lambda > 0.0 {
                    Poisson::new(lambda).map(|p| p.sample(rng) as u64).unwrap_or(0)
                } else {
                    0
                };
                for _ in 0..jumps {
                    let j: f64 = StandardNormal.sample(rng);
                    log_move += jump_mean + jump_stdev * j;
                }
                self.base *= log_move.exp();
            }
            Process::Replay(series) => {
                let at = series.partition_point(|&(t, _)| t <= tick);
                if at > 0 {
                    self.base = series[at - 1].1;
                }
            }
        }
        for &(t, factor) in &self.shocks {
            if t == tick {
                self.shocked *= factor;
            }
        }
    }
}

/// A live price feed contract.
#[derive(Clone, Debug)]
pub struct PriceFeed {
    feed: Feed,
    rng: Pcg64Mcg,
}

impl PriceFeed {
    /// The current price.
    pub fn value(&self) -> f64 {
        self.feed.price()
    }
}

const METRICS: &[MetricDef] =
    &[MetricDef::stock("price", "price", "the feed's price, moved at the start of the tick")
        .at(Timing::Observe)];

impl Contract for PriceFeed {
    fn begin_tick(&mut self, tick: u32) {
        self.feed.step(tick, &mut self.rng);
    }

    fn price(&self, _ledger: &Ledger) -> Option<f64> {
        Some(self.feed.price())
    }

    fn check(&self, _ctx: &CheckCtx<'_>, out: &mut Vec<Violation>) {
        if let Some(actual) = self.feed.outside() {
            out.push(Violation {
                source: String::new(),
                invariant: "price_in_domain".into(),
                expected: self.feed.price(),
                actual,
            });
        }
    }

    fn metrics(&self) -> &'static [MetricDef] {
        METRICS
    }

    fn measure(&self, _ledger: &Ledger, out: &mut Measure<'_>) {
        out.set("price", self.feed.price());
    }
}

/// A scheduled multiplicative move.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Shock {
    tick: u32,
    factor: f64,
}

/// The `price_feed` mechanism kind.
pub struct PriceFeedKind;

/// The least `initial`, and of a replayed price.
pub const MIN_PRICE: f64 = 1e-12;
/// The largest `initial`, and of a replayed price.
pub const MAX_PRICE: f64 = 1e12;

const PARAMS: &[Param] = &[
    Param::choice("process", &["constant", "gbm", "merton", "replay"])
        .default_str("gbm")
        .doc("how the price moves each tick"),
    Param::float("initial", MIN_PRICE, MAX_PRICE)
        .optional("required, except with replay (the first value of the file)")
        .doc("price at tick 0"),
    Param::float("drift", -100.0, 100.0)
        .optional("0")
        .only_with("process", &["gbm", "merton"])
        .doc("annual drift μ"),
    Param::float("volatility", 0.0, 100.0)
        .optional("0")
        .only_with("process", &["gbm", "merton"])
        .doc("annual volatility σ"),
    Param::float("ticks_per_year", 0.0, 1e12)
        .open_low()
        .default_float(365.0)
        .doc("ticks in a year: dt = 1/ticks_per_year"),
    Param::float("jump_intensity", 0.0, 1e6)
        .optional("0")
        .only_with("process", &["merton"])
        .doc("expected jumps per year λ"),
    Param::float("jump_mean", -20.0, 20.0)
        .optional("0")
        .only_with("process", &["merton"])
        .doc("mean of the log jump size (−0.2 ≈ a 18% drop)"),
    Param::float("jump_stdev", 0.0, 20.0)
        .optional("0")
        .only_with("process", &["merton"])
        .doc("standard deviation of the log jump size"),
    Param::file("file")
        .optional("none; required with replay")
        .only_with("process", &["replay"])
        .doc("CSV or Parquet with columns tick, price (relative to the scenario); prices in [1e-12, 1e12], as `initial`"),
    Param::tables("shocks", "list of { tick >= 1, factor in (0, 1e12] }")
        .optional("[]")
        .doc("multiply the price by factor at tick (a crash: factor 0.5)"),
];

impl MechanismKind for PriceFeedKind {
    fn name(&self) -> &'static str {
        "price_feed"
    }

    fn summary(&self) -> &'static str {
        "An exogenous price (constant, GBM, Merton jump diffusion or a replayed series) with optional scheduled shocks."
    }

    fn params(&self) -> &'static [Param] {
        PARAMS
    }

    fn metrics(&self) -> &'static [MetricDef] {
        METRICS
    }

    fn build(&self, ctx: &mut ContractBuilder<'_>) -> Result<Box<dyn Contract>, ScenarioError> {
        let p = ctx.params();
        let or0 = |name: &str| p.opt_float(name).unwrap_or(0.0);
        let (drift, volatility) = (or0("drift"), or0("volatility"));
        let process = match p.choice("process") {
            "constant" => Process::Constant,
            "gbm" => Process::Gbm { drift, volatility },
            "merton" => Process::Merton {
                drift,
                volatility,
                intensity: or0("jump_intensity"),
                jump_mean: or0("jump_mean"),
                jump_stdev: or0("jump_stdev"),
            },
            _ => {
                let file = p.opt_str("file").ok_or_else(|| {
                    ctx.invalid(
                        "file",
                        "process `replay` needs `file` (CSV or Parquet with columns tick, price)",
                    )
                })?;
                Process::Replay(ctx.read_series("file", file, "price", MIN_PRICE..=MAX_PRICE)?)
            }
        };
        let initial = match (&process, p.opt_float("initial")) {
            // A row at tick 0 is the genesis price.
            (Process::Replay(series), _) if series[0].0 == 0 => series[0].1,
            (_, Some(v)) => v,
            (Process::Replay(series), None) => series[0].1,
            (_, None) => return Err(ctx.invalid("initial", "missing field `initial` (the price at tick 0)")),
        };
        if !(initial.is_finite() && initial > 0.0) {
            return Err(ctx.invalid("initial", format!("{initial} is out of range: must be > 0")));
        }
        let raw: Vec<Shock> = match p.raw("shocks") {
            Some(v) => ctx.deserialize("shocks", v.clone())?,
            None => Vec::new(),
        };
        let mut shocks = Vec::with_capacity(raw.len());
        for (i, s) in raw.iter().enumerate() {
            if !(s.factor.is_finite() && s.factor > 0.0 && s.factor <= 1e12) {
                let field = format!("shocks.{i}.factor");
                return Err(
                    ctx.invalid(&field, format!("{} is out of range: must be in (0, 1e12]", s.factor))
                );
            }
            if s.tick == 0 {
                return Err(
                    ctx.invalid(&format!("shocks.{i}.tick"), "must be at least 1 (ticks count from 1)")
                );
            }
            shocks.push((s.tick, s.factor));
        }
        check_shocks(ctx, &raw, initial, process == Process::Constant)?;
        let feed = Feed::new(process, initial, p.float("ticks_per_year"), shocks);
        Ok(Box::new(PriceFeed { feed, rng: ctx.rng() }))
    }
}

/// Refuses shocks whose running product (in tick order) leaves the domain,
/// where the feed would compute it exactly: the product itself, and with a
/// `constant` process the price `initial × product`. The error points at
/// the shock where it leaves.
fn check_shocks(
    ctx: &ContractBuilder<'_>,
    raw: &[Shock],
    initial: f64,
    constant: bool,
) -> Result<(), ScenarioError> {
    let mut order: Vec<usize> = (0..raw.len()).collect();
    order.sort_by_key(|&i| raw[i].tick);
    let (mut product, mut log10) = (1.0f64, 0.0f64);
    for i in order {
        product *= raw[i].factor;
        // The exponent for the message: the product itself may be 0 or inf.
        log10 += raw[i].factor.log10();
        let tick = raw[i].tick;
        let message = if !in_domain(product) {
            format!(
                "the shocks up to tick {tick} multiply the price by 1e{log10:.0}, beyond a double's range (1e-308 to 1e308)"
            )
        } else if constant && !in_domain(initial * product) {
            format!(
                "the shocks up to tick {tick} take the constant price {initial:e} to 1e{:.0}, beyond a double's range (1e-308 to 1e308)",
                initial.log10() + log10
            )
        } else {
            continue;
        };
        return Err(ctx.invalid(&format!("shocks.{i}.factor"), message));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(feed: &mut Feed, ticks: u32, seed: u64) -> Vec<f64> {
        let mut rng = Pcg64Mcg::new(u128::from(seed));
        (1..=ticks)
            .map(|t| {
                feed.step(t, &mut rng);
                feed.price()
            })
            .collect()
    }

    #[test]
    fn constant_with_shocks_is_the_product_of_factors() {
        let mut f = Feed::new(Process::Constant, 50.0, 365.0, vec![(5, 0.5), (3, 2.0)]);
        let path = run(&mut f, 6, 1);
        assert_eq!(path, vec![50.0, 50.0, 100.0, 100.0, 50.0, 50.0]);
    }

    #[test]
    fn gbm_log_returns_have_the_closed_form_mean_and_variance() {
        let (mu, sigma, ty) = (0.5, 0.8, 365.0);
        let mut f = Feed::new(Process::Gbm { drift: mu, volatility: sigma }, 1.0, ty, vec![]);
        let n = 200_000;
        let path = run(&mut f, n, 7);
        let mut prev = 1.0f64;
        let r: Vec<f64> = path
            .iter()
            .map(|p| {
                let x = (p / prev).ln();
                prev = *p;
                x
            })
            .collect();
        let mean = r.iter().sum::<f64>() / n as f64;
        let var = r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
        let dt = 1.0 / ty;
        let (want_mean, want_var) = ((mu - sigma * sigma / 2.0) * dt, sigma * sigma * dt);
        let se_mean = (want_var / n as f64).sqrt();
        assert!((mean - want_mean).abs() < 4.0 * se_mean, "mean {mean} vs {want_mean}");
        // Var of the sample variance of normals: 2σ⁴/(n−1).
        let se_var = want_var * (2.0 / (n as f64 - 1.0)).sqrt();
        assert!((var - want_var).abs() < 4.0 * se_var, "var {var} vs {want_var}");
    }

    #[test]
    fn merton_jumps_have_the_given_size_and_poisson_count() {
        // No diffusion, fixed jump size: every log move is the compensated
        // drift plus a whole number of jumps of exactly `m`.
        let (lambda, m, ty) = (36.5, -0.1, 365.0);
        let process =
            Process::Merton { drift: 0.0, volatility: 0.0, intensity: lambda, jump_mean: m, jump_stdev: 0.0 };
        let mut f = Feed::new(process, 1.0, ty, vec![]);
        let n = 100_000u32;
        let path = run(&mut f, n, 3);
        let drift = -lambda * (m.exp() - 1.0) / ty;
        let mut prev = 1.0f64;
        let mut jumps = 0.0;
        for p in &path {
            let k = ((p / prev).ln() - drift) / m;
            assert!((k - k.round()).abs() < 1e-6, "a move of {k} jumps");
            jumps += k.round();
            prev = *p;
        }
        let expected = lambda / ty * f64::from(n);
        assert!((jumps - expected).abs() < 4.0 * expected.sqrt(), "{jumps} jumps vs {expected}");
    }

    #[test]
    fn replay_holds_the_last_value_at_or_before_the_tick() {
        let mut f = Feed::new(Process::Replay(vec![(2, 10.0), (4, 12.0)]), 9.0, 365.0, vec![(4, 0.5)]);
        assert_eq!(run(&mut f, 5, 1), vec![9.0, 10.0, 10.0, 6.0, 6.0]);
    }

    #[test]
    fn a_move_out_of_the_domain_keeps_the_price_and_says_what_it_was() {
        // σ²·dt/2 = 5e6: exp(−5e6 + …) is 0.
        let mut f = Feed::new(Process::Gbm { drift: 0.0, volatility: 100.0 }, 2.0, 0.001, vec![]);
        let mut rng = Pcg64Mcg::new(5);
        f.step(1, &mut rng);
        assert_eq!((f.price(), f.outside()), (2.0, Some(0.0)));
        // Shocks to infinity: the last factor is not applied.
        let mut f = Feed::new(Process::Constant, 1e300, 365.0, vec![(1, 10.0), (2, 1e12)]);
        f.step(1, &mut rng);
        assert_eq!((f.price(), f.outside()), (1e301, None));
        f.step(2, &mut rng);
        assert_eq!((f.price(), f.outside()), (1e301, Some(f64::INFINITY)));
    }

    #[test]
    fn a_seed_gives_the_same_path() {
        let p =
            Process::Merton { drift: 0.1, volatility: 0.5, intensity: 5.0, jump_mean: -0.2, jump_stdev: 0.1 };
        let a = run(&mut Feed::new(p.clone(), 3.0, 365.0, vec![]), 500, 11);
        let b = run(&mut Feed::new(p, 3.0, 365.0, vec![]), 500, 11);
        assert_eq!(a, b);
    }
}
