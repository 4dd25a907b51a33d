//! Arbitrageur: keeps a trading venue (an `amm`) on a reference price.
//!
//! Each tick, with probability `p_act` (one uniform draw every tick), it
//! compares the venue's price `p` with the reference's price `r`:
//!
//! * **Reference is a price** (a `price_feed`, or any contract with a price
//!   that does not accept buy and sell): if `p < r·(1 − min_edge)` it buys
//!   on the venue `min(a, capital, quote balance)` quote, where `a` is the
//!   venue's [`trade_to_price`](crate::engine::contract::Contract::trade_to_price)`(r)`
//!   input — the buy that lifts the venue's marginal cost, fee included, to
//!   `r`; if `p > r·(1 + min_edge)` it sells `min(a, base balance)` base.
//!   Its profit is taken against the outside market the reference stands
//!   for, which is not modelled: its base inventory simply grows or shrinks.
//! * **Reference is a second venue** (accepts buy and sell): it buys on the
//!   cheaper venue and, in the same tick, sells on the dearer one *all* the
//!   base it then holds (`Fraction(1.0)`): this arbitrageur is meant to hold
//!   no base inventory between ticks, so give it quote only. The size is
//!   where the two venues' marginal prices meet net of fees: the price `m`
//!   at which the base the cheap venue's `trade_to_price(m)` buy yields
//!   equals the base the dear venue's `trade_to_price(m)` sell takes (found
//!   by bisection; both are monotone in `m`), capped by `capital` and the
//!   quote balance. A second venue that quotes no `trade_to_price` (a
//!   bonding curve) is never traded against.
//!
//! All arbitrageurs decide on the same start-of-tick prices, so several
//! acting in one tick each send the full correction and the pool
//! overshoots. Use few arbitrageurs (one is enough to track a feed) or
//! `p_act < 1`.
//!
//! The base and quote assets (which wallet balances cap a trade) are the
//! venue's own when it is a market with a pair (an `amm` or a curve, see
//! `Contract::market`; `base`/`quote`, if given, must then match); for
//! other venues give `base` and `quote`.

use bevy_ecs::prelude::Component;

use crate::engine::behaviour::{AgentView, Behaviour, Market};
use crate::engine::builder::PopulationBuilder;
use crate::engine::ids::{AssetId, ContractId};
use crate::engine::intent::{Action, Amount, Intent};
use crate::engine::params::{Need, Param};
use crate::engine::registry::BehaviourKind;
use crate::error::ScenarioError;

/// Per-agent arbitrage parameters.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct Arbitrageur {
    /// Where it trades.
    pub venue: ContractId,
    /// The price it trades the venue towards (a feed or another venue).
    pub reference: ContractId,
    /// Most quote units it spends on one buy.
    pub capital: f64,
    /// Relative price gap below which it does nothing.
    pub min_edge: f64,
    /// Probability of acting in a tick.
    pub p_act: f64,
    /// `(base, quote)` given in the parameters, used when the venue is not
    /// an `amm`.
    pub assets: Option<(AssetId, AssetId)>,
}

/// The `(base, quote)` of `venue` if it is a market with a pair
/// ([`Contract::market`](crate::engine::contract::Contract::market)).
fn amm_assets(market: &Market<'_>, venue: ContractId) -> Option<(AssetId, AssetId)> {
    market.contract(venue).market()
}

/// Base bought on `cheap` by its trade to price `m` (0 if none).
fn base_bought(market: &Market<'_>, cheap: ContractId, m: f64) -> f64 {
    match market.contract(cheap).trade_to_price(m, market.ledger()) {
        Some(t) if t.action == Action::Buy => t.amount_out,
        _ => 0.0,
    }
}

/// Base sold on `dear` by its trade to price `m` (0 if none).
fn base_sold(market: &Market<'_>, dear: ContractId, m: f64) -> f64 {
    match market.contract(dear).trade_to_price(m, market.ledger()) {
        Some(t) if t.action == Action::Sell => t.amount_in,
        _ => 0.0,
    }
}

/// The quote to spend on `cheap` so that the base bought, sold on `dear`,
/// leaves both venues' marginal prices (net of fees) at the same `m`; 0
/// when the fee bands leave no profit.
pub fn two_venue_size(market: &Market<'_>, cheap: ContractId, dear: ContractId) -> f64 {
    let (mut lo, mut hi) = (market.price(cheap), market.price(dear));
    if !(lo > 0.0 && hi > lo && hi.is_finite()) {
        return 0.0;
    }
    if base_bought(market, cheap, hi) <= 0.0 || base_sold(market, dear, lo) <= 0.0 {
        return 0.0;
    }
    // g(m) = bought(m) − sold(m) rises from < 0 at lo to > 0 at hi.
    for _ in 0..100 {
        let mid = (lo * hi).sqrt();
        if base_bought(market, cheap, mid) < base_sold(market, dear, mid) {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi / lo - 1.0 < 1e-13 {
            break;
        }
    }
    match market.contract(cheap).trade_to_price(lo, market.ledger()) {
        Some(t) if t.action == Action::Buy && base_sold(market, dear, lo) > 0.0 => t.amount_in,
        _ => 0.0,
    }
}

impl Behaviour for Arbitrageur {
    fn decide(&mut self, agent: &mut AgentView<'_>) {
        if agent.uniform() >= self.p_act {
            return;
        }
        let market = agent.market;
        let Some((base, quote)) = amm_assets(&market, self.venue).or(self.assets) else {
            return;
        };
        let (p, r) = (market.price(self.venue), market.price(self.reference));
        if !(p.is_finite() && p > 0.0 && r.is_finite() && r > 0.0) {
            return;
        }
        let cheap_venue = p < r * (1.0 - self.min_edge);
        let dear_venue = p > r * (1.0 + self.min_edge);
        if !(cheap_venue || dear_venue) {
            return;
        }
        let accepts = market.contract(self.reference).accepts();
        if accepts.contains(&Action::Buy) && accepts.contains(&Action::Sell) {
            if amm_assets(&market, self.reference).is_some_and(|a| a != (base, quote)) {
                return;
            }
            let (cheap, dear) =
                if cheap_venue { (self.venue, self.reference) } else { (self.reference, self.venue) };
            let size = two_venue_size(&market, cheap, dear).min(self.capital).min(agent.wallet.get(quote));
            if size > 0.0 {
                agent.send(Intent::new(cheap, Action::Buy, Amount::Units(size)));
                agent.send(Intent::new(dear, Action::Sell, Amount::Fraction(1.0)));
            }
            return;
        }
        let Some(t) = market.contract(self.venue).trade_to_price(r, market.ledger()) else {
            return;
        };
        let size = match t.action {
            Action::Buy if cheap_venue => t.amount_in.min(self.capital).min(agent.wallet.get(quote)),
            Action::Sell if dear_venue => t.amount_in.min(agent.wallet.get(base)),
            _ => return,
        };
        if size > 0.0 {
            agent.send(Intent::new(self.venue, t.action, Amount::Units(size)));
        }
    }
}

/// The `arbitrageur` behaviour kind.
pub struct ArbitrageurKind;

const PARAMS: &[Param] = &[
    Param::contract("venue", Need::accepting(&[Action::Buy, Action::Sell]).and_priced())
        .doc("contract that accepts buy and sell and quotes trade_to_price (an amm)"),
    Param::contract("reference", Need::PRICED).doc(
        "contract whose price the venue is traded towards: a price_feed, or a second venue (then buys on the cheaper and sells all its base on the dearer)",
    ),
    Param::per_agent("capital", 0.0, f64::INFINITY)
        .doc("most quote units spent on one buy (sells are capped by the base balance)"),
    Param::per_agent("min_edge", 0.0, 1.0)
        .default_float(0.0)
        .doc("does nothing while |venue/reference − 1| is within this relative gap"),
    Param::per_agent("p_act", 0.0, 1.0)
        .default_float(1.0)
        .doc("probability of acting each tick (all arbitrageurs see the same start-of-tick prices)"),
    Param::asset("base")
        .optional("the venue's market pair")
        .doc("asset bought and sold; needed only when the venue is not a market with a pair (Contract::market)"),
    Param::asset("quote")
        .optional("the venue's market pair")
        .doc("asset paid; needed only when the venue is not a market with a pair (Contract::market)"),
];

impl BehaviourKind for ArbitrageurKind {
    fn name(&self) -> &'static str {
        "arbitrageur"
    }

    fn summary(&self) -> &'static str {
        "Trades a venue towards a reference price (a feed, or a second venue: buy cheap, sell dear)."
    }

    fn params(&self) -> &'static [Param] {
        PARAMS
    }

    fn rule(&self) -> &'static str {
        "Every tick it draws u; if u ≥ p_act it does nothing. It reads the start-of-tick prices p (venue) and r (reference); if either is not a positive number, or r·(1 − min_edge) ≤ p ≤ r·(1 + min_edge), it does nothing. If the reference is a price (does not accept buy and sell): it asks the venue for trade_to_price(r) and sends one order in units: a buy of min(amount_in, capital, quote balance) when p is below the band, a sell of min(amount_in, base balance) when above. If the reference is a second venue with the same pair: it buys on the cheaper venue Units(min(s, capital, quote balance)), where s is the quote at which both venues' marginal prices net of fees meet (bisection on the meeting price), then sells Fraction(1) of its base on the dearer venue in the same block; nothing when s is 0 (fee bands leave no profit)."
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p = ctx.params();
        let venue = ctx.contract_param("venue")?;
        if p.str("reference") == p.str("venue") {
            return Err(ctx.invalid("reference", "must differ from venue"));
        }
        let reference = ctx.contract_param("reference")?;
        let pair = ctx.contract_market(venue);
        let assets = match (ctx.opt_asset_param("base")?, ctx.opt_asset_param("quote")?) {
            (Some(b), Some(q)) if b == q => return Err(ctx.invalid("quote", "must differ from base")),
            (Some(b), Some(q)) => match pair {
                Some(pair) if pair != (b, q) => {
                    return Err(ctx.invalid(
                        "base",
                        format!(
                            "`{}` trades its own pair, not this base and quote; remove them",
                            p.str("venue")
                        ),
                    ));
                }
                _ => Some((b, q)),
            },
            (None, None) if pair.is_some() => None,
            (None, None) => {
                return Err(ctx.invalid(
                    "venue",
                    format!(
                        "`{}` is not a market with a pair of assets, so give `base` and `quote` (the assets it trades)",
                        p.str("venue")
                    ),
                ));
            }
            (Some(_), None) => return Err(ctx.invalid("quote", "give quote together with base")),
            (None, Some(_)) => return Err(ctx.invalid("base", "give base together with quote")),
        };
        let (capital, min_edge, p_act) = (p.agent("capital"), p.agent("min_edge"), p.agent("p_act"));
        ctx.spawn_stateless(move |rng| Arbitrageur {
            venue,
            reference,
            capital: capital.0.sample(rng),
            min_edge: min_edge.0.sample(rng),
            p_act: p_act.0.sample(rng),
            assets,
        });
        Ok(())
    }
}
