//! Mean reverter: bets that a price returns to its average. Each tick it
//! reads the price `p` of its `signal` contract (by default the venue it
//! trades on) and keeps the simple moving average `MA` of the last `window`
//! prices, the current one included (a ring buffer per agent). Once the
//! window is full (warm-up), every tick that
//!
//! - `p < MA·(1 − threshold)` it buys with `trade_fraction` of its quote
//!   balance;
//! - `p > MA·(1 + threshold)` it sells `trade_fraction` of its tokens.
//!
//! Ticks without a price (`NaN`) are skipped. Draws no random numbers.

use bevy_ecs::prelude::Component;

use super::trend_follower::{MAX_WINDOW, PriceWindow, SIGNAL, VENUE, venue_and_signal};
use crate::engine::behaviour::{AgentView, Behaviour};
use crate::engine::builder::PopulationBuilder;
use crate::engine::ids::ContractId;
use crate::engine::intent::{Action, Amount, Intent};
use crate::engine::params::Param;
use crate::engine::registry::BehaviourKind;
use crate::error::ScenarioError;

/// Per-agent mean-reversion state and parameters.
#[derive(Component, Clone, Debug, PartialEq)]
pub struct MeanReverter {
    /// Where it trades.
    pub venue: ContractId,
    /// Whose price it watches.
    pub signal: ContractId,
    /// Ticks in the moving average.
    pub window: usize,
    /// Relative distance from the average that triggers a trade.
    pub threshold: f64,
    /// Fraction of the quote (buy) or token (sell) balance traded.
    pub trade_fraction: f64,
    prices: PriceWindow,
}

impl MeanReverter {
    /// A mean reverter that has seen no price yet.
    pub fn new(
        venue: ContractId,
        signal: ContractId,
        window: usize,
        threshold: f64,
        trade_fraction: f64,
    ) -> Self {
        let window = window.max(1);
        MeanReverter { venue, signal, window, threshold, trade_fraction, prices: PriceWindow::new(window) }
    }
}

impl Behaviour for MeanReverter {
    fn decide(&mut self, agent: &mut AgentView<'_>) {
        let p = agent.market.price(self.signal);
        if !p.is_finite() {
            return;
        }
        self.prices.push(p);
        if !self.prices.has(self.window) {
            return;
        }
        let ma = self.prices.mean(self.window);
        let action = if p < ma * (1.0 - self.threshold) {
            Action::Buy
        } else if p > ma * (1.0 + self.threshold) {
            Action::Sell
        } else {
            return;
        };
        agent.send(Intent::new(self.venue, action, Amount::Fraction(self.trade_fraction)));
    }
}

/// The `mean_reverter` behaviour kind.
pub struct MeanReverterKind;

const PARAMS: &[Param] = &[
    VENUE,
    SIGNAL,
    Param::per_agent("window", 1.0, MAX_WINDOW).default_float(20.0).doc(
        "ticks in the simple moving average (rounded; current price included); trades only once it is full",
    ),
    Param::per_agent("threshold", 0.0, 1.0)
        .default_float(0.05)
        .doc("buys below MA·(1 − threshold), sells above MA·(1 + threshold)"),
    Param::per_agent("trade_fraction", 0.0, 1.0)
        .default_float(0.2)
        .doc("fraction of the quote balance bought with, or of the tokens sold, per signal"),
];

impl BehaviourKind for MeanReverterKind {
    fn name(&self) -> &'static str {
        "mean_reverter"
    }

    fn summary(&self) -> &'static str {
        "Buys when a price is a threshold below its moving average, sells when it is a threshold above."
    }

    fn params(&self) -> &'static [Param] {
        PARAMS
    }

    fn rule(&self) -> &'static str {
        "Every tick with a finite signal price p (other ticks are skipped) it appends p to its window of the last window prices (p included). Once window prices are seen, with MA their mean: if p < MA·(1 − threshold) it sends buy Fraction(trade_fraction) of its quote balance; if p > MA·(1 + threshold) it sends sell Fraction(trade_fraction) of its tokens; else nothing. Every such tick, not only at crossings. Draws no random numbers."
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p = ctx.params();
        let (venue, signal) = venue_and_signal(ctx)?;
        let [window, threshold, trade_fraction] =
            ["window", "threshold", "trade_fraction"].map(|f| p.agent(f));
        ctx.spawn(move |rng| {
            let window = window.0.sample(rng).round() as usize;
            MeanReverter::new(venue, signal, window, threshold.0.sample(rng), trade_fraction.0.sample(rng))
        });
        Ok(())
    }
}
