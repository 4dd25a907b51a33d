//! Trend follower: a moving-average crossover trader. Each tick it reads
//! the price of its `signal` contract (by default the venue it trades on),
//! keeps a simple moving average (SMA) of the last `short_window` and of the
//! last `long_window` prices (one ring buffer of the last `long_window`
//! prices per agent), and
//!
//! - buys with `trade_fraction` of its quote balance when the short SMA
//!   crosses above the long SMA,
//! - sells `trade_fraction` of its tokens when it crosses below.
//!
//! A cross is a change of regime: the regime is `above` when
//! `short > long·(1 + 1e-12)`, `below` when `short < long·(1 − 1e-12)`, and
//! otherwise unchanged (the band keeps rounding noise of a flat price from
//! counting as crosses). The first tick with a full long window (the end
//! of the warm-up) sets the regime without trading; from a flat start, the
//! first move either way is a cross. Ticks without a price (`NaN`) are
//! skipped. Draws no random numbers.

use bevy_ecs::prelude::Component;

use crate::engine::behaviour::{AgentView, Behaviour};
use crate::engine::builder::PopulationBuilder;
use crate::engine::ids::ContractId;
use crate::engine::intent::{Action, Amount, Intent};
use crate::engine::params::{Need, Param};
use crate::engine::registry::BehaviourKind;
use crate::error::ScenarioError;
use crate::scenario::Param as Dist;

/// Relative band within which two averages count as equal.
const BAND: f64 = 1e-12;

/// The last `capacity` values of a series, for simple moving averages.
#[derive(Clone, Debug, PartialEq)]
pub struct PriceWindow {
    values: Vec<f64>,
    next: usize,
    seen: usize,
}

impl PriceWindow {
    /// An empty window keeping the last `capacity` (≥ 1) values.
    pub fn new(capacity: usize) -> Self {
        PriceWindow { values: vec![0.0; capacity.max(1)], next: 0, seen: 0 }
    }

    /// Appends a value, dropping the oldest once full.
    pub fn push(&mut self, x: f64) {
        self.values[self.next] = x;
        self.next = (self.next + 1) % self.values.len();
        self.seen = self.seen.saturating_add(1);
    }

    /// Whether `n` values have been seen.
    pub fn has(&self, n: usize) -> bool {
        self.seen >= n
    }

    /// Mean of the last `n` values (`n` ≤ capacity and ≤ values seen),
    /// summed from the oldest to the newest.
    pub fn mean(&self, n: usize) -> f64 {
        let cap = self.values.len();
        let sum: f64 = (0..n).map(|i| self.values[(self.next + cap - n + i) % cap]).sum();
        sum / n as f64
    }
}

/// Per-agent trend-following state and parameters.
#[derive(Component, Clone, Debug, PartialEq)]
pub struct TrendFollower {
    /// Where it trades.
    pub venue: ContractId,
    /// Whose price it follows.
    pub signal: ContractId,
    /// Ticks in the short average.
    pub short_window: usize,
    /// Ticks in the long average (> short).
    pub long_window: usize,
    /// Fraction of the quote (buy) or token (sell) balance traded.
    pub trade_fraction: f64,
    prices: PriceWindow,
    /// +1 short above long, −1 below, 0 neither yet; `None` in warm-up.
    regime: Option<i8>,
}

impl TrendFollower {
    /// A trend follower that has seen no price yet.
    pub fn new(
        venue: ContractId,
        signal: ContractId,
        short_window: usize,
        long_window: usize,
        trade_fraction: f64,
    ) -> Self {
        let short_window = short_window.max(1);
        let long_window = long_window.max(short_window + 1);
        TrendFollower {
            venue,
            signal,
            short_window,
            long_window,
            trade_fraction,
            prices: PriceWindow::new(long_window),
            regime: None,
        }
    }
}

impl Behaviour for TrendFollower {
    fn decide(&mut self, agent: &mut AgentView<'_>) {
        let p = agent.market.price(self.signal);
        if !p.is_finite() {
            return;
        }
        self.prices.push(p);
        if !self.prices.has(self.long_window) {
            return;
        }
        let (short, long) = (self.prices.mean(self.short_window), self.prices.mean(self.long_window));
        let sign = if short > long * (1.0 + BAND) {
            1
        } else if short < long * (1.0 - BAND) {
            -1
        } else {
            0
        };
        let Some(regime) = self.regime else {
            self.regime = Some(sign);
            return;
        };
        if sign == 0 || sign == regime {
            return;
        }
        self.regime = Some(sign);
        let action = if sign > 0 { Action::Buy } else { Action::Sell };
        agent.send(Intent::new(self.venue, action, Amount::Fraction(self.trade_fraction)));
    }
}

/// Largest moving-average window, in ticks.
pub const MAX_WINDOW: f64 = 10_000.0;

/// The venue both signal-trading behaviours buy and sell on.
pub(crate) const VENUE: Param = Param::contract("venue", Need::accepting(&[Action::Buy, Action::Sell]))
    .doc("contract it buys and sells on (needs a price when there is no signal)");

/// The contract whose price they watch.
pub(crate) const SIGNAL: Param = Param::contract("signal", Need::PRICED)
    .optional("the venue")
    .doc("contract whose price it watches (e.g. a price feed)");

/// Resolves the venue (buy and sell) and the signal (read only; default
/// the venue, which must then have a price).
pub(crate) fn venue_and_signal(
    ctx: &mut PopulationBuilder<'_>,
) -> Result<(ContractId, ContractId), ScenarioError> {
    let venue_id = ctx.contract_param("venue")?;
    let signal_id = match ctx.opt_contract_param("signal")? {
        Some(id) => id,
        None => {
            ctx.check_priced("venue", venue_id)?;
            venue_id
        }
    };
    Ok((venue_id, signal_id))
}

/// Smallest and largest value a range-checked parameter can take.
fn bounds(p: &Dist) -> (f64, f64) {
    match *p {
        Dist::Constant { value } => (value, value),
        Dist::Uniform { low, high } => (low, high),
        _ => (f64::NEG_INFINITY, f64::INFINITY),
    }
}

/// The `trend_follower` behaviour kind.
pub struct TrendFollowerKind;

const PARAMS: &[Param] = &[
    VENUE,
    SIGNAL,
    Param::per_agent("short_window", 1.0, MAX_WINDOW)
        .default_float(5.0)
        .doc("ticks in the short simple moving average (rounded)"),
    Param::per_agent("long_window", 2.0, MAX_WINDOW).default_float(20.0).doc(
        "ticks in the long SMA (rounded); raised to short_window + 1 if not longer; trades only once it is full",
    ),
    Param::per_agent("trade_fraction", 0.0, 1.0)
        .default_float(0.5)
        .doc("fraction of the quote balance bought with, or of the tokens sold, at a cross"),
];

impl BehaviourKind for TrendFollowerKind {
    fn name(&self) -> &'static str {
        "trend_follower"
    }

    fn summary(&self) -> &'static str {
        "Moving-average crossover: buys when the short SMA of a price crosses above the long SMA, sells on the cross below."
    }

    fn params(&self) -> &'static [Param] {
        PARAMS
    }

    fn rule(&self) -> &'static str {
        "Every tick with a finite signal price p (other ticks are skipped, no state change) it appends p to its window of the last long_window prices. Until long_window prices are seen it does nothing. Then with short = SMA(short_window), long = SMA(long_window): sign = +1 if short > long·(1 + 1e-12), −1 if short < long·(1 − 1e-12), else 0. The first full tick records the sign as the regime and does not trade. Later, when sign ≠ 0 and sign ≠ regime, it sets regime = sign and sends buy Fraction(trade_fraction) of its quote balance (sign +1) or sell Fraction(trade_fraction) of its tokens (sign −1). Draws no random numbers."
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p = ctx.params();
        let (venue, signal) = venue_and_signal(ctx)?;
        let [short_window, long_window, trade_fraction] =
            ["short_window", "long_window", "trade_fraction"].map(|f| p.agent(f));
        // Windows are bounded (range-checked), so their extremes are known;
        // overlapping ranges are resolved per agent (see long_window).
        let (short_min, _) = bounds(&short_window.0);
        let (_, long_max) = bounds(&long_window.0);
        if long_max.round() <= short_min.round() {
            return Err(ctx.invalid(
                "long_window",
                format!("at most {long_max}: must be longer than short_window (at least {short_min})"),
            ));
        }
        ctx.spawn(move |rng| {
            let short = short_window.0.sample(rng).round() as usize;
            let long = long_window.0.sample(rng).round() as usize;
            TrendFollower::new(venue, signal, short, long, trade_fraction.0.sample(rng))
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_means_are_the_last_n_values() {
        let mut w = PriceWindow::new(4);
        for x in [1.0, 2.0, 3.0] {
            w.push(x);
        }
        assert!(w.has(3) && !w.has(4));
        assert_eq!(w.mean(2), 2.5);
        for x in [4.0, 5.0, 6.0] {
            w.push(x);
        }
        assert_eq!(w.mean(4), 4.5); // 3, 4, 5, 6
        assert_eq!(w.mean(1), 6.0);
    }
}
