//! A treasury (funding pool): an account holding one asset, receiving
//! tributes and paying out rewards through other mechanisms, with two
//! optional policies of its own (both off unless their parameters are
//! given):
//!
//! - **Grants.** Every tick (Accrue) it pays `grant_rate · B` (a fraction
//!   of its balance `B`) or `min(grant_amount, B)` to `grant_recipient`, a
//!   contract or named account. With no other flows, a rate `r` leaves
//!   `B₀(1 − r)ᵗ` after `t` ticks and has granted `B₀(1 − (1 − r)ᵗ)`.
//! - **Buy-back and burn.** Every tick, after the agents' transactions, it
//!   sends its own `Buy` of `buyback_rate · B` quote units to
//!   `buyback_venue` (settled with its account as the wallet; the venue's
//!   quote asset must be the treasury's `asset`), then in Accrue burns every
//!   `buyback_token` it holds: its balance goes to 0 and so much leaves
//!   `Ledger::issued`. Within a tick the buy-back comes first, so with both
//!   policies and no inflows `B` shrinks by `(1 − b)(1 − r)` per tick.
//!
//! Metrics: `balance`; `granted` (this tick) when a grant is configured;
//! `bought_back` (quote units spent this tick) and `burnt` (tokens) when a
//! buy-back is configured. Columns depend on which parameters are present,
//! not on their values, so variants that set a rate to 0 keep the same
//! columns.

use serde::Deserialize;

use crate::engine::build::ContractBuilder;
use crate::engine::contract::*;
use crate::engine::ids::{AccountId, AssetId, ContractId};
use crate::engine::intent::{Action, Amount, Intent};
use crate::engine::ledger::Ledger;
use crate::error::ScenarioError;
use crate::registry::{MechanismKind, ParamDoc};

/// How much a treasury grants per tick.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GrantSize {
    /// A fraction of its balance.
    Rate(f64),
    /// Fixed units, capped by its balance.
    Amount(f64),
}

/// The grant policy: how much, to whom.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grants {
    /// Per-tick size.
    pub size: GrantSize,
    /// Account paid.
    pub recipient: AccountId,
}

/// The buy-back-and-burn policy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Buyback {
    /// Fraction of the treasury's balance spent per tick.
    pub rate: f64,
    /// Where it buys.
    pub venue: ContractId,
    /// The token bought there, burnt in Accrue.
    pub token: AssetId,
}

/// A live treasury.
#[derive(Clone, Debug)]
pub struct Treasury {
    account: AccountId,
    asset: AssetId,
    /// Grant policy, if any.
    pub grants: Option<Grants>,
    /// Buy-back policy, if any.
    pub buyback: Option<Buyback>,
    granted: f64,
    bought_back: f64,
    burnt: f64,
    /// Spend sent this tick and the token balance before it settled.
    pending: Option<(f64, f64)>,
}

const METRICS: &[MetricDef] =
    &[MetricDef { name: "balance", kind: MetricKind::Float, doc: "balance of the treasury's asset" }];
const GRANTED: MetricDef =
    MetricDef { name: "granted", kind: MetricKind::Float, doc: "grants paid this tick" };
const BOUGHT: MetricDef = MetricDef {
    name: "bought_back",
    kind: MetricKind::Float,
    doc: "quote units spent on buy-backs this tick",
};
const BURNT: MetricDef =
    MetricDef { name: "burnt", kind: MetricKind::Float, doc: "tokens bought back and burnt this tick" };
const WITH_GRANTS: &[MetricDef] = &[METRICS[0], GRANTED];
const WITH_BUYBACK: &[MetricDef] = &[METRICS[0], BOUGHT, BURNT];
const WITH_BOTH: &[MetricDef] = &[METRICS[0], GRANTED, BOUGHT, BURNT];

impl Treasury {
    /// Balance of the treasury's asset.
    pub fn balance(&self, ledger: &Ledger) -> f64 {
        ledger.balance(self.account, self.asset)
    }
}

impl Contract for Treasury {
    fn begin_tick(&mut self, _tick: u32) {
        self.granted = 0.0;
        self.bought_back = 0.0;
        self.burnt = 0.0;
        self.pending = None;
    }

    fn orders(&mut self, ctx: &OrderCtx<'_>, out: &mut Vec<Intent>) {
        let Some(b) = self.buyback else { return };
        let spend = b.rate * self.balance(ctx.ledger);
        if spend > 0.0 {
            out.push(Intent::new(b.venue, Action::Buy, Amount::Units(spend)));
            self.pending = Some((spend, ctx.ledger.balance(self.account, b.token)));
        }
    }

    fn accrue(&mut self, ctx: &mut AccrueCtx<'_>) {
        if let Some(b) = self.buyback {
            let tokens = ctx.ledger.balance(self.account, b.token);
            if let Some((spend, before)) = self.pending
                && tokens > before
            {
                self.bought_back = spend;
            }
            if tokens > 0.0 {
                *ctx.ledger.balance_mut(self.account, b.token) = 0.0;
                ctx.ledger.record_burn(b.token, tokens);
                self.burnt = tokens;
            }
        }
        if let Some(g) = self.grants {
            let balance = self.balance(ctx.ledger);
            let pay = match g.size {
                GrantSize::Rate(r) => r * balance,
                GrantSize::Amount(a) => a.min(balance),
            };
            if pay > 0.0 {
                ctx.ledger.transfer(self.account, g.recipient, self.asset, pay);
                self.granted = pay;
            }
        }
    }

    fn metrics(&self) -> &'static [MetricDef] {
        match (self.grants.is_some(), self.buyback.is_some()) {
            (false, false) => METRICS,
            (true, false) => WITH_GRANTS,
            (false, true) => WITH_BUYBACK,
            (true, true) => WITH_BOTH,
        }
    }

    fn measure(&self, ledger: &Ledger, out: &mut Vec<f64>) {
        out.push(self.balance(ledger));
        if self.grants.is_some() {
            out.push(self.granted);
        }
        if self.buyback.is_some() {
            out.extend([self.bought_back, self.burnt]);
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    asset: String,
    #[serde(default)]
    initial_balance: f64,
    #[serde(default)]
    grant_rate: Option<f64>,
    #[serde(default)]
    grant_amount: Option<f64>,
    #[serde(default)]
    grant_recipient: Option<String>,
    #[serde(default)]
    buyback_rate: Option<f64>,
    #[serde(default)]
    buyback_venue: Option<String>,
    #[serde(default)]
    buyback_token: Option<String>,
}

/// The `treasury` mechanism kind.
pub struct TreasuryKind;

impl MechanismKind for TreasuryKind {
    fn name(&self) -> &'static str {
        "treasury"
    }

    fn summary(&self) -> &'static str {
        "A funding pool holding one asset; receives tributes, funds rewards, optionally pays grants and buys back and burns a token."
    }

    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "asset",
                ty: "asset name",
                default: None,
                doc: "the asset it holds and reports",
            },
            ParamDoc {
                name: "initial_balance",
                ty: "float >= 0",
                default: Some("0"),
                doc: "balance created at genesis",
            },
            ParamDoc {
                name: "grant_rate",
                ty: "float in [0, 1]",
                default: Some("none"),
                doc: "fraction of the balance granted per tick (not with grant_amount)",
            },
            ParamDoc {
                name: "grant_amount",
                ty: "float >= 0",
                default: Some("none"),
                doc: "units granted per tick, capped by the balance (not with grant_rate)",
            },
            ParamDoc {
                name: "grant_recipient",
                ty: "contract or account name",
                default: Some("none"),
                doc: "who receives grants (required with a grant)",
            },
            ParamDoc {
                name: "buyback_rate",
                ty: "float in [0, 1]",
                default: Some("none"),
                doc: "fraction of the balance spent per tick buying buyback_token, which is then burnt",
            },
            ParamDoc {
                name: "buyback_venue",
                ty: "contract name",
                default: Some("none"),
                doc: "contract accepting buy, quoted in `asset` (required with buyback_rate)",
            },
            ParamDoc {
                name: "buyback_token",
                ty: "asset name",
                default: Some("none"),
                doc: "the token the venue sells, burnt after each buy-back (required with buyback_rate)",
            },
        ]
    }

    fn build(&self, ctx: &mut ContractBuilder<'_>) -> Result<Box<dyn Contract>, ScenarioError> {
        let p: Params = ctx.params()?;
        let asset = ctx.asset("asset", &p.asset)?;
        ctx.check_range("initial_balance", p.initial_balance, 0.0, f64::MAX)?;
        let account = ctx.account();
        ctx.issue(account, asset, p.initial_balance);
        let grants = grants(ctx, &p, account)?;
        let buyback = match (p.buyback_rate, &p.buyback_venue, &p.buyback_token) {
            (None, None, None) => None,
            (Some(rate), Some(venue), Some(token)) => {
                ctx.check_range("buyback_rate", rate, 0.0, 1.0)?;
                let venue = ctx.contract("buyback_venue", venue)?;
                let token = ctx.asset("buyback_token", token)?;
                if token == asset {
                    return Err(ctx.invalid("buyback_token", "must differ from the treasury's asset"));
                }
                Some(Buyback { rate, venue, token })
            }
            (None, _, _) => {
                let field = if p.buyback_venue.is_some() { "buyback_venue" } else { "buyback_token" };
                return Err(ctx.invalid(field, "only meaningful with buyback_rate; set buyback_rate too"));
            }
            (Some(_), None, _) => {
                return Err(ctx.invalid("buyback_rate", "needs buyback_venue: the contract it buys on"));
            }
            (Some(_), _, None) => {
                return Err(ctx.invalid("buyback_rate", "needs buyback_token: the token it buys and burns"));
            }
        };
        Ok(Box::new(Treasury {
            account,
            asset,
            grants,
            buyback,
            granted: 0.0,
            bought_back: 0.0,
            burnt: 0.0,
            pending: None,
        }))
    }
}

fn grants(ctx: &mut ContractBuilder<'_>, p: &Params, me: AccountId) -> Result<Option<Grants>, ScenarioError> {
    let size = match (p.grant_rate, p.grant_amount) {
        (Some(_), Some(_)) => {
            return Err(ctx.invalid("grant_amount", "give grant_rate or grant_amount, not both"));
        }
        (Some(r), None) => {
            ctx.check_range("grant_rate", r, 0.0, 1.0)?;
            GrantSize::Rate(r)
        }
        (None, Some(a)) => {
            ctx.check_range("grant_amount", a, 0.0, f64::MAX)?;
            GrantSize::Amount(a)
        }
        (None, None) if p.grant_recipient.is_some() => {
            return Err(ctx.invalid("grant_recipient", "only meaningful with grant_rate or grant_amount"));
        }
        (None, None) => return Ok(None),
    };
    let Some(name) = &p.grant_recipient else {
        let field = if p.grant_rate.is_some() { "grant_rate" } else { "grant_amount" };
        return Err(ctx.invalid(field, "needs grant_recipient: the contract or account paid"));
    };
    let recipient = ctx.named_account("grant_recipient", name);
    if recipient == me {
        return Err(ctx.invalid("grant_recipient", "a treasury cannot grant to itself"));
    }
    Ok(Some(Grants { size, recipient }))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::engine::build::RunSpec;
    use crate::engine::sim::Simulation;
    use crate::mechanisms::bonding_curve::PowerCurve;
    use crate::registry::Registry;
    use crate::scenario::LoadedScenario;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    fn sim(text: &str) -> Simulation {
        let sc = LoadedScenario::from_str(Path::new("treasury.toml"), text).unwrap();
        Simulation::new(&sc, &Registry::builtin(), &RunSpec::single(3)).unwrap()
    }

    fn build_error(text: &str) -> String {
        let sc = LoadedScenario::from_str(Path::new("bad.toml"), text).unwrap();
        Simulation::new(&sc, &Registry::builtin(), &RunSpec::single(3)).err().unwrap().to_string()
    }

    const BASE: &str = "ticks = 40\nassets = [\"DAI\", \"TKN\"]\n[contracts.t]\nkind = \"treasury\"\n\
                        asset = \"DAI\"\ninitial_balance = 1000.0\n";

    fn account(sim: &Simulation, name: &str, asset: usize) -> f64 {
        let ledger = sim.world.resource::<Ledger>();
        ledger.accounts[ledger.find(name).unwrap().0 as usize].balances[asset]
    }

    #[test]
    fn grant_rate_pays_the_geometric_series() {
        let mut sim = sim(&format!("{BASE}grant_rate = 0.05\ngrant_recipient = \"dao\"\n"));
        let mut total = 0.0;
        for t in 1..=40 {
            let log = sim.step();
            assert!(log.violations.is_empty());
            let (balance, granted) = (log.metrics[0], log.metrics[1]);
            total += granted;
            let keep = 0.95f64.powi(t);
            assert!(close(balance, 1000.0 * keep), "t={t}: {balance}");
            assert!(close(granted, 1000.0 * 0.05 * 0.95f64.powi(t - 1)), "t={t}: {granted}");
            assert!(close(account(&sim, "dao", 0), 1000.0 * (1.0 - keep)), "t={t}");
        }
        assert!(close(total, 1000.0 * (1.0 - 0.95f64.powi(40))));
    }

    #[test]
    fn grant_amount_pays_fixed_units_until_empty() {
        let mut sim = sim(&format!("{BASE}grant_amount = 30.0\ngrant_recipient = \"dao\"\n"));
        for t in 1..=40u32 {
            let log = sim.step();
            let expected = if t <= 33 {
                30.0
            } else if t == 34 {
                10.0
            } else {
                0.0
            };
            assert!(close(log.metrics[1], expected), "t={t}: {}", log.metrics[1]);
        }
        assert!(close(account(&sim, "dao", 0), 1000.0));
        assert!(account(&sim, "t", 0).abs() < 1e-9);
    }

    #[test]
    fn buyback_spends_the_rate_and_burns_what_it_bought() {
        let (slope, s0) = (1e-6, 1e6);
        let curve = PowerCurve { exponent: 1.0, slope };
        let text = format!(
            "{BASE}buyback_rate = 0.1\nbuyback_venue = \"curve\"\nbuyback_token = \"TKN\"\n\
             [contracts.curve]\nkind = \"bonding_curve\"\nreserve_asset = \"DAI\"\ntoken = \"TKN\"\n\
             slope = {slope}\ninitial_supply = {s0}\n"
        );
        let mut sim = sim(&text);
        let (mut balance, mut supply) = (1000.0, s0);
        for t in 1..=10 {
            let log = sim.step();
            assert!(log.violations.is_empty(), "t={t}: {:?}", log.violations);
            assert_eq!(log.n_tx, 1, "one buy-back per tick");
            // Independent: spend 10% of the balance, mint along the curve.
            let spend = 0.1 * balance;
            let minted = curve.supply_for(curve.reserve_at(supply) + spend) - supply;
            balance -= spend;
            supply += minted;
            let m = &log.metrics;
            assert!(close(m[0], balance), "t={t}: balance {}", m[0]);
            assert!(close(m[1], spend), "t={t}: bought_back {}", m[1]);
            assert!(close(m[2], minted), "t={t}: burnt {} vs {minted}", m[2]);
            assert_eq!(account(&sim, "t", 1), 0.0, "bought tokens are burnt");
            let issued = sim.world.resource::<Ledger>().issued[1];
            assert!(close(issued, s0), "t={t}: burnt tokens leave issued ({issued})");
        }
        assert!(close(balance, 1000.0 * 0.9f64.powi(10)));
    }

    #[test]
    fn buyback_and_grants_both_shrink_the_balance() {
        let text = format!(
            "{BASE}grant_rate = 0.02\ngrant_recipient = \"dao\"\nbuyback_rate = 0.1\n\
             buyback_venue = \"curve\"\nbuyback_token = \"TKN\"\n\
             [contracts.curve]\nkind = \"bonding_curve\"\nreserve_asset = \"DAI\"\ntoken = \"TKN\"\n\
             slope = 1e-6\ninitial_supply = 1e6\n"
        );
        let mut sim = sim(&text);
        let names: Vec<&str> = sim.metric_columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names[..4], ["t_balance", "t_granted", "t_bought_back", "t_burnt"]);
        for t in 1..=5 {
            let log = sim.step();
            assert!(log.violations.is_empty(), "t={t}: {:?}", log.violations);
            assert!(close(log.metrics[0], 1000.0 * (0.9f64 * 0.98).powi(t)), "t={t}");
        }
    }

    #[test]
    fn without_policies_only_the_balance_is_reported() {
        let mut sim = sim(BASE);
        assert_eq!(sim.metric_columns.len(), 3, "balance, n_tx, n_rejected");
        let log = sim.step();
        assert_eq!(log.metrics[0], 1000.0);
    }

    #[test]
    fn incomplete_policies_are_errors() {
        for (extra, field) in [
            ("grant_rate = 0.1\n", "grant_rate"),
            ("grant_amount = 1.0\n", "grant_amount"),
            ("grant_rate = 0.1\ngrant_amount = 1.0\ngrant_recipient = \"x\"\n", "grant_amount"),
            ("grant_recipient = \"x\"\n", "grant_recipient"),
            ("grant_rate = 1.5\ngrant_recipient = \"x\"\n", "grant_rate"),
            ("grant_rate = 0.1\ngrant_recipient = \"t\"\n", "grant_recipient"),
            ("buyback_rate = 0.1\nbuyback_token = \"TKN\"\n", "buyback_rate"),
            ("buyback_venue = \"t\"\n", "buyback_venue"),
            ("buyback_rate = 0.1\nbuyback_venue = \"t\"\nbuyback_token = \"TKN\"\n", "buyback_venue"),
            ("buyback_rate = 0.1\nbuyback_venue = \"nope\"\nbuyback_token = \"TKN\"\n", "buyback_venue"),
        ] {
            let msg = build_error(&format!("{BASE}{extra}"));
            assert!(msg.contains(&format!("contracts.t.{field}")), "{extra}: {msg}");
        }
    }
}
