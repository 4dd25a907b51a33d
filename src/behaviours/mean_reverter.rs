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
use serde::Deserialize;

use super::trend_follower::{MAX_WINDOW, PriceWindow, venue_and_signal};
use crate::engine::behaviour::{AgentView, Behaviour};
use crate::engine::build::PopulationBuilder;
use crate::engine::ids::ContractId;
use crate::engine::intent::{Action, Amount, Intent};
use crate::error::ScenarioError;
use crate::registry::{BehaviourKind, ParamDoc};
use crate::scenario::AgentParam;

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    venue: String,
    #[serde(default)]
    signal: Option<String>,
    #[serde(default = "twenty")]
    window: AgentParam,
    #[serde(default = "five_percent")]
    threshold: AgentParam,
    #[serde(default = "fifth")]
    trade_fraction: AgentParam,
}

fn twenty() -> AgentParam {
    20.0.into()
}

fn five_percent() -> AgentParam {
    0.05.into()
}

fn fifth() -> AgentParam {
    0.2.into()
}

/// The `mean_reverter` behaviour kind.
pub struct MeanReverterKind;

impl BehaviourKind for MeanReverterKind {
    fn name(&self) -> &'static str {
        "mean_reverter"
    }

    fn summary(&self) -> &'static str {
        "Buys when a price is a threshold below its moving average, sells when it is a threshold above."
    }

    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "venue",
                ty: "contract name",
                default: None,
                doc: "contract it buys and sells on",
            },
            ParamDoc {
                name: "signal",
                ty: "contract name",
                default: Some("the venue"),
                doc: "contract whose price it watches (e.g. a price feed)",
            },
            ParamDoc {
                name: "window",
                ty: "per-agent param in [1, 10000] (rounded)",
                default: Some("20"),
                doc: "ticks in the simple moving average (current price included); trades only once it is full",
            },
            ParamDoc {
                name: "threshold",
                ty: "per-agent param in [0, 1]",
                default: Some("0.05"),
                doc: "buys below MA·(1 − threshold), sells above MA·(1 + threshold)",
            },
            ParamDoc {
                name: "trade_fraction",
                ty: "per-agent param in [0, 1]",
                default: Some("0.2"),
                doc: "fraction of the quote balance bought with, or of the tokens sold, per signal",
            },
        ]
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p: Params = ctx.params()?;
        let (venue, signal) = venue_and_signal(ctx, &p.venue, p.signal.as_deref())?;
        ctx.check_param("window", &p.window, 1.0, MAX_WINDOW)?;
        ctx.check_param("threshold", &p.threshold, 0.0, 1.0)?;
        ctx.check_param("trade_fraction", &p.trade_fraction, 0.0, 1.0)?;
        ctx.spawn(|rng| {
            let window = p.window.0.sample(rng).round() as usize;
            MeanReverter::new(
                venue,
                signal,
                window,
                p.threshold.0.sample(rng),
                p.trade_fraction.0.sample(rng),
            )
        });
        Ok(())
    }
}
