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

use crate::engine::builder::ContractBuilder;
use crate::engine::contract::*;
use crate::engine::ids::{AccountId, AssetId, ContractId};
use crate::engine::intent::{Action, Amount, Intent};
use crate::engine::ledger::Ledger;
use crate::engine::params::{Need, Param, Values, Way};
use crate::engine::registry::MechanismKind;
use crate::error::ScenarioError;

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

const METRICS: &[MetricDef] = &[MetricDef::stock("balance", "{asset}", "balance of the treasury's asset")];
const GRANTED: MetricDef = MetricDef::flow("granted", "{asset}", "grants paid this tick").at(Timing::Accrue);
const BOUGHT: MetricDef =
    MetricDef::flow("bought_back", "{asset}", "units of the treasury's asset spent on buy-backs this tick")
        .at(Timing::Settle);
const BURNT: MetricDef =
    MetricDef::flow("burnt", "{buyback_token}", "tokens bought back and burnt this tick").at(Timing::Accrue);
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
    fn holds_funds(&self) -> bool {
        true
    }

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

    fn measure(&self, ledger: &Ledger, out: &mut Measure<'_>) {
        out.set("balance", self.balance(ledger));
        if self.grants.is_some() {
            out.set("granted", self.granted);
        }
        if self.buyback.is_some() {
            out.set("bought_back", self.bought_back);
            out.set("burnt", self.burnt);
        }
    }
}

/// The `treasury` mechanism kind.
pub struct TreasuryKind;

const PARAMS: &[Param] = &[
    Param::asset("asset").doc("the asset it holds and reports"),
    Param::amount("initial_balance").default_float(0.0).doc("balance created at genesis"),
    Param::float("grant_rate", 0.0, 1.0)
        .optional("none")
        .doc("fraction of the balance granted per tick (not with grant_amount)"),
    Param::amount("grant_amount")
        .optional("none")
        .doc("units granted per tick, capped by the balance (not with grant_rate)"),
    Param::account("grant_recipient", Need::HOLDER)
        .moves(Way::Forward, "grants", "asset")
        .optional("none")
        .doc("who receives grants (required with a grant)"),
    Param::float("buyback_rate", 0.0, 1.0)
        .optional("none")
        .doc("fraction of the balance spent per tick buying buyback_token, which is then burnt"),
    Param::contract("buyback_venue", Need::accepting(&[Action::Buy]).and_priced())
        .moves(Way::Both, "buybacks", "asset")
        .optional("none")
        .doc("contract accepting buy, quoted in `asset` (required with buyback_rate)"),
    Param::asset("buyback_token")
        .optional("none")
        .doc("the token the venue sells, burnt after each buy-back (required with buyback_rate)"),
];

impl MechanismKind for TreasuryKind {
    fn name(&self) -> &'static str {
        "treasury"
    }

    fn summary(&self) -> &'static str {
        "A funding pool holding one asset; receives tributes, funds rewards, optionally pays grants and buys back and burns a token."
    }

    fn params(&self) -> &'static [Param] {
        PARAMS
    }

    fn metrics(&self) -> &'static [MetricDef] {
        WITH_BOTH
    }

    fn build(&self, ctx: &mut ContractBuilder<'_>) -> Result<Box<dyn Contract>, ScenarioError> {
        let p = ctx.params();
        let asset = ctx.asset_param("asset")?;
        let account = ctx.account();
        ctx.issue(account, asset, p.float("initial_balance"));
        let grants = grants(ctx, &p)?;
        let buyback =
            match (p.opt_float("buyback_rate"), p.is_set("buyback_venue"), p.is_set("buyback_token")) {
                (None, false, false) => None,
                (Some(rate), true, true) => {
                    let venue = ctx.opt_contract_param("buyback_venue")?.expect("set");
                    let token = ctx.opt_asset_param("buyback_token")?.expect("set");
                    if token == asset {
                        return Err(ctx.invalid("buyback_token", "must differ from the treasury's asset"));
                    }
                    Some(Buyback { rate, venue, token })
                }
                (None, venue, _) => {
                    let field = if venue { "buyback_venue" } else { "buyback_token" };
                    return Err(ctx.invalid(field, "only meaningful with buyback_rate; set buyback_rate too"));
                }
                (Some(_), false, _) => {
                    return Err(ctx.invalid("buyback_rate", "needs buyback_venue: the contract it buys on"));
                }
                (Some(_), _, false) => {
                    return Err(
                        ctx.invalid("buyback_rate", "needs buyback_token: the token it buys and burns")
                    );
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

fn grants(ctx: &mut ContractBuilder<'_>, p: &Values) -> Result<Option<Grants>, ScenarioError> {
    let size = match (p.opt_float("grant_rate"), p.opt_float("grant_amount")) {
        (Some(_), Some(_)) => {
            return Err(ctx.invalid("grant_amount", "give grant_rate or grant_amount, not both"));
        }
        (Some(r), None) => GrantSize::Rate(r),
        (None, Some(a)) => GrantSize::Amount(a),
        (None, None) if p.is_set("grant_recipient") => {
            return Err(ctx.invalid("grant_recipient", "only meaningful with grant_rate or grant_amount"));
        }
        (None, None) => return Ok(None),
    };
    let Some(recipient) = ctx.opt_account_param("grant_recipient")? else {
        let field = if p.is_set("grant_rate") { "grant_rate" } else { "grant_amount" };
        return Err(ctx.invalid(field, "needs grant_recipient: the contract or account paid"));
    };
    Ok(Some(Grants { size, recipient }))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::engine::build::RunSpec;
    use crate::engine::registry::Registry;
    use crate::engine::sim::Simulation;
    use crate::mechanisms::bonding_curve::PowerCurve;
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
