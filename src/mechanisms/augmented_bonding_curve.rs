//! The Commons Stack augmented bonding curve (ABC): a hatch that raises a
//! goal at a fixed price into vesting, locked tokens, then an open bonding
//! curve whose tributes fund a commons pool.
//!
//! **Hatch phase** (`phase = 0`). A buy of `d` reserve units fills
//! `d* = min(d, goal − raised)` at the fixed `hatch_price` `p_h`, minting
//! `d*/p_h` tokens into the buyer's locked position (slot `hatch_locked`,
//! backed one for one by tokens in the contract's account); the reserve
//! asset is held in escrow and each contributor's amount is booked. Sells
//! are rejected. The buy that reaches the goal closes the hatch at once:
//! `θ·goal` (`hatch_tribute`) goes to the funding pool, the rest is the
//! initial reserve `R0 = (1 − θ)·goal`, and the initial supply `S0` is every
//! locked token (`goal/p_h`, plus any position held at genesis). If a
//! `hatch_deadline` tick passes first, the hatch **fails** (`phase = 2`):
//! buys are rejected and contributors `redeem` their contribution (a
//! fraction of it with `Amount::Fraction`), burning the matching locked
//! tokens.
//!
//! **Vesting.** Locked tokens vest linearly over `vesting_ticks` (`T`)
//! after the close tick `c`: at the end of tick `c + k`, `1 ≤ k ≤ T`, each
//! holder unlocks the fraction `g_k = 1/(T − k + 1)` of what is still locked,
//! so after `t` ticks a holder of `L` has unlocked exactly `L·min(1, t/T)`
//! (with `T = 0` everything unlocks at the end of the close tick). Unlocking
//! is a pair of pro-rata credits: `token += locked·g`, `locked −= locked·g`;
//! the tokens come out of the contract's account.
//!
//! **Open phase** (`phase = 1`). A bonding curve with invariant
//! `V = S^κ / R` fixed at `V0 = S0^κ / R0`: `R = R0·(S/S0)^κ`, spot price
//! `κ·R/S` (so the curve opens at `κ·(1 − θ)·p_h`). This is the Bancor
//! curve with reserve ratio `CRR = 1/κ`: a buy of `d` pays `f_in·d` to the
//! funding pool and mints `S·((1 + d'/R)^(1/κ) − 1)` for `d' = (1 − f_in)·d`;
//! a sell of `q` releases `R·(1 − (1 − q/S)^κ)`, of which `f_out` goes to
//! the funding pool.

use std::collections::BTreeMap;

use super::bancor::{BancorCurve, CurveTrade, curve_buy, curve_sell};
use super::bonding_curve::{curve_metrics, curve_params};
use crate::engine::builder::ContractBuilder;
use crate::engine::contract::*;
use crate::engine::ids::{AccountId, AgentId, AssetId, SlotId};
use crate::engine::intent::Action;
use crate::engine::ledger::Ledger;
use crate::engine::params::{Need, Param, Way};
use crate::engine::registry::MechanismKind;
use crate::error::ScenarioError;

/// Where an augmented bonding curve is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbcPhase {
    /// Raising the hatch goal at the fixed hatch price.
    Hatch,
    /// The goal was met: the bonding curve trades.
    Open,
    /// The deadline passed before the goal: contributors redeem.
    Failed,
}

impl AbcPhase {
    /// The value of the `phase` metric: 0 hatch, 1 open, 2 failed.
    pub fn code(self) -> f64 {
        match self {
            AbcPhase::Hatch => 0.0,
            AbcPhase::Open => 1.0,
            AbcPhase::Failed => 2.0,
        }
    }
}

/// One hatcher's book entry: what it paid and the locked tokens it got.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Contribution {
    /// Reserve units contributed (and not redeemed).
    pub reserve: f64,
    /// Locked tokens minted for them.
    pub tokens: f64,
}

/// A live augmented bonding curve.
#[derive(Clone, Debug)]
pub struct AugmentedBondingCurve {
    /// `κ`: the open curve's invariant is `S^κ / R`.
    pub kappa: f64,
    /// Reserve units per token during the hatch.
    pub hatch_price: f64,
    /// Reserve units the hatch must raise.
    pub hatch_goal: f64,
    /// Last tick buys are accepted if the goal is not met (none: no limit).
    pub hatch_deadline: Option<u32>,
    /// Fraction of the hatch funds sent to the funding pool at the close.
    pub hatch_tribute: f64,
    /// Ticks over which hatch tokens vest after the close.
    pub vesting_ticks: u32,
    /// Entry tribute of the open curve.
    pub entry_tribute: f64,
    /// Exit tribute of the open curve.
    pub exit_tribute: f64,
    phase: AbcPhase,
    raised: f64,
    reserve: f64,
    supply: f64,
    /// `(S0, R0)` once the hatch closed.
    anchor: Option<(f64, f64)>,
    closed_at: u32,
    book: BTreeMap<AgentId, Contribution>,
    reserve_asset: AssetId,
    token: AssetId,
    locked: SlotId,
    account: AccountId,
    pool: AccountId,
    n_trades: u64,
    volume: f64,
    /// Largest reserve amount one trade moved: the scale the reserve's
    /// rounding is relative to.
    largest_flow: f64,
    tributes: f64,
}

const ACCEPTS: &[Action] = &[Action::Buy, Action::Sell, Action::Redeem];

const METRICS: &[MetricDef] = &[
    MetricDef::stock("phase", "code", "0 hatch, 1 open, 2 failed").count(),
    MetricDef::stock("raised", "{reserve_asset}", "reserve raised by the hatch (less redemptions)"),
    MetricDef::stock("supply", "{token}", "tokens outstanding from this curve, locked included"),
    MetricDef::stock("reserve", "{reserve_asset}", "reserve balance (hatch escrow before the close)"),
    MetricDef::stock("price", "{reserve_asset}/{token}", "hatch price, then κ·R/S"),
    MetricDef::stock("locked", "{token}", "hatch tokens still locked (Σ hatch_locked)"),
    MetricDef::flow(
        "tributes",
        "{reserve_asset}",
        "paid to the funding pool this tick (hatch tribute, entry and exit tributes)",
    )
    .at(Timing::Settle),
    curve_metrics::N_TRADES,
    curve_metrics::VOLUME,
];

impl AugmentedBondingCurve {
    /// The current phase.
    pub fn phase(&self) -> AbcPhase {
        self.phase
    }

    /// Reserve raised by the hatch so far (less redemptions).
    pub fn raised(&self) -> f64 {
        self.raised
    }

    /// Tokens outstanding (open phase), locked tokens before.
    pub fn supply(&self, ledger: &Ledger) -> f64 {
        match self.phase {
            AbcPhase::Open => self.supply,
            _ => self.locked_backing(ledger),
        }
    }

    /// The reserve (hatch escrow before the close).
    pub fn reserve(&self) -> f64 {
        self.reserve
    }

    /// `(S0, R0)`: supply and reserve the open curve started from.
    pub fn anchor(&self) -> Option<(f64, f64)> {
        self.anchor
    }

    /// What `agent` contributed to the hatch (and has not redeemed).
    pub fn contribution(&self, agent: AgentId) -> Contribution {
        self.book.get(&agent).copied().unwrap_or_default()
    }

    /// The open curve as a Bancor curve with `CRR = 1/κ`.
    pub fn curve(&self) -> Option<BancorCurve> {
        self.anchor.map(|(s0, r0)| BancorCurve { reserve_ratio: 1.0 / self.kappa, supply0: s0, reserve0: r0 })
    }

    /// Locked tokens held as backing in the contract's account.
    pub fn locked_backing(&self, ledger: &Ledger) -> f64 {
        ledger.balance(self.account, self.token)
    }

    fn spot(&self) -> f64 {
        match self.phase {
            AbcPhase::Open => self.kappa * self.reserve / self.supply,
            _ => self.hatch_price,
        }
    }

    fn hatch_buy(&mut self, d: f64, tx: &Tx, ctx: &mut SettleCtx<'_>) -> Settlement {
        let balance = ctx.wallet.get(self.reserve_asset);
        if !(d.is_finite() && d >= 0.0) || d > balance {
            return Settlement::Rejected("insufficient reserve-asset balance");
        }
        let room = self.hatch_goal - self.raised;
        let fill = d.min(room);
        if fill <= 0.0 {
            return Settlement::Skipped;
        }
        let tokens = fill / self.hatch_price;
        *ctx.wallet.get_mut(self.reserve_asset) = balance - fill;
        *ctx.wallet.get_mut(self.locked) += tokens;
        *ctx.ledger.balance_mut(self.account, self.reserve_asset) += fill;
        ctx.ledger.issue(self.account, self.token, tokens);
        let entry = self.book.entry(tx.agent).or_default();
        entry.reserve += fill;
        entry.tokens += tokens;
        self.reserve += fill;
        self.n_trades += 1;
        self.volume += fill;
        self.largest_flow = self.largest_flow.max(fill);
        if d >= room {
            self.raised = self.hatch_goal;
            self.close(ctx.ledger, ctx.tick);
        } else {
            self.raised += fill;
        }
        Settlement::Filled(Fill { amount_in: fill, amount_out: tokens, fee: 0.0 })
    }

    /// Ends the hatch: the tribute to the pool, the rest is the reserve.
    fn close(&mut self, ledger: &mut Ledger, tick: u32) {
        let tribute = self.hatch_tribute * self.reserve;
        ledger.transfer(self.account, self.pool, self.reserve_asset, tribute);
        self.reserve -= tribute;
        self.tributes += tribute;
        self.supply = self.locked_backing(ledger);
        self.anchor = Some((self.supply, self.reserve));
        self.phase = AbcPhase::Open;
        self.closed_at = tick;
    }

    fn redeem(&mut self, tx: &Tx, ctx: &mut SettleCtx<'_>) -> Settlement {
        if self.phase != AbcPhase::Failed {
            return Settlement::Rejected("redeem: only after a failed hatch");
        }
        let Some(entry) = self.book.get(&tx.agent).copied() else {
            return Settlement::Rejected("redeem: no hatch contribution");
        };
        let refund = tx.amount.resolve(entry.reserve);
        if !(refund.is_finite() && refund >= 0.0) || refund > entry.reserve {
            return Settlement::Rejected("redeem: more than the contribution");
        }
        if refund == 0.0 {
            return Settlement::Skipped;
        }
        let full = refund == entry.reserve;
        let burn = if full { entry.tokens } else { entry.tokens * (refund / entry.reserve) };
        let locked = ctx.wallet.get(self.locked);
        if burn > locked {
            return Settlement::Rejected("redeem: locked tokens missing");
        }
        *ctx.wallet.get_mut(self.locked) = locked - burn;
        *ctx.wallet.get_mut(self.reserve_asset) += refund;
        *ctx.ledger.balance_mut(self.account, self.reserve_asset) -= refund;
        *ctx.ledger.balance_mut(self.account, self.token) -= burn;
        ctx.ledger.record_burn(self.token, burn);
        if full {
            self.book.remove(&tx.agent);
        } else {
            let e = self.book.get_mut(&tx.agent).expect("present");
            e.reserve -= refund;
            e.tokens -= burn;
        }
        self.reserve -= refund;
        self.raised -= refund;
        Settlement::Filled(Fill { amount_in: burn, amount_out: refund, fee: 0.0 })
    }

    fn record(&mut self, trade: Result<Option<CurveTrade>, &'static str>) -> Settlement {
        match trade {
            Err(reason) => Settlement::Rejected(reason),
            Ok(None) => Settlement::Skipped,
            Ok(Some(t)) => {
                self.n_trades += 1;
                self.volume += t.volume;
                self.largest_flow = self.largest_flow.max(t.volume);
                self.tributes += t.fill.fee;
                Settlement::Filled(t.fill)
            }
        }
    }

    fn open_trade(&mut self, tx: &Tx, ctx: &mut SettleCtx<'_>) -> Settlement {
        let curve = self.curve().expect("open phase has an anchor");
        let assets = (self.reserve_asset, self.token, self.pool);
        let trade = if tx.action == Action::Buy {
            let d = tx.amount.resolve(ctx.wallet.get(self.reserve_asset));
            let t = curve_buy(&curve, self.supply, self.reserve, d, self.entry_tribute, assets, ctx);
            if let Ok(Some(t)) = &t {
                *ctx.ledger.balance_mut(self.account, self.reserve_asset) += t.reserve_delta;
                self.reserve += t.reserve_delta;
                self.supply += t.fill.amount_out;
            }
            t
        } else {
            let q = tx.amount.resolve(ctx.wallet.get(self.token));
            let t = curve_sell(&curve, self.supply, self.reserve, q, self.exit_tribute, assets, ctx);
            if let Ok(Some(t)) = &t {
                *ctx.ledger.balance_mut(self.account, self.reserve_asset) -= t.reserve_delta;
                self.reserve -= t.reserve_delta;
                self.supply -= q;
            }
            t
        };
        self.record(trade)
    }
}

impl Contract for AugmentedBondingCurve {
    fn accepts(&self) -> &'static [Action] {
        ACCEPTS
    }

    fn market(&self) -> Option<(AssetId, AssetId)> {
        Some((self.token, self.reserve_asset))
    }

    fn settle(&mut self, tx: &Tx, ctx: &mut SettleCtx<'_>) -> Settlement {
        match (tx.action, self.phase) {
            (Action::Redeem, _) => self.redeem(tx, ctx),
            (Action::Buy, AbcPhase::Hatch) => {
                let d = tx.amount.resolve(ctx.wallet.get(self.reserve_asset));
                self.hatch_buy(d, tx, ctx)
            }
            (Action::Sell, AbcPhase::Hatch) => {
                Settlement::Rejected("hatch phase: sells open after the hatch")
            }
            (Action::Buy | Action::Sell, AbcPhase::Failed) => {
                Settlement::Rejected("the hatch failed: only redeem is open")
            }
            (Action::Buy | Action::Sell, AbcPhase::Open) => self.open_trade(tx, ctx),
            _ => Settlement::Rejected("augmented bonding curves accept only buy, sell and redeem"),
        }
    }

    fn begin_tick(&mut self, tick: u32) {
        self.n_trades = 0;
        self.volume = 0.0;
        self.tributes = 0.0;
        if self.phase == AbcPhase::Hatch && self.hatch_deadline.is_some_and(|d| tick > d) {
            self.phase = AbcPhase::Failed;
        }
    }

    fn price(&self, _ledger: &Ledger) -> Option<f64> {
        Some(self.spot())
    }

    fn trade_to_price(&self, target: f64, _ledger: &Ledger) -> Option<PriceTrade> {
        if self.phase != AbcPhase::Open {
            return None;
        }
        self.curve()?.trade_to_price(self.supply, self.reserve, target, self.entry_tribute, self.exit_tribute)
    }

    fn accrue(&mut self, ctx: &mut AccrueCtx<'_>) {
        if self.phase != AbcPhase::Open || self.locked_backing(ctx.ledger) <= 0.0 {
            return;
        }
        let k = ctx.tick - self.closed_at;
        let t = self.vesting_ticks;
        let g = if t == 0 || k > t {
            1.0
        } else if k == 0 {
            return;
        } else {
            1.0 / f64::from(t - k + 1)
        };
        ctx.credits.push(ProRataCredit { slot: self.token.into(), weight: self.locked, per_unit: g });
        ctx.credits.push(ProRataCredit { slot: self.locked, weight: self.locked, per_unit: -g });
    }

    fn credited(&mut self, credit: &ProRataCredit, amount: f64, ledger: &mut Ledger) {
        // The unlocked tokens leave the backing; the matching debit of the
        // locked positions moves no asset.
        if credit.slot == SlotId::from(self.token) {
            let backing = ledger.balance_mut(self.account, self.token);
            *backing -= amount;
            if credit.per_unit == 1.0 {
                // Every position is now exactly zero: what is left is the
                // rounding between the agents' sum and the booked backing,
                // written off against issuance so nothing drifts negative.
                let dust = std::mem::take(backing);
                ledger.record_burn(self.token, dust);
            }
        }
    }

    fn check(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Violation>) {
        let scale = self.largest_flow;
        let mut push = |invariant: &str, expected: f64, actual: f64| {
            if !within_tolerance_of(expected, actual, scale) {
                out.push(Violation { source: String::new(), invariant: invariant.into(), expected, actual });
            }
        };
        push("reserve_balance", self.reserve, ctx.ledger.balance(self.account, self.reserve_asset));
        push("locked_backing", ctx.agent_sums[self.locked.0 as usize], self.locked_backing(ctx.ledger));
        if let (AbcPhase::Open, Some((s0, r0))) = (self.phase, self.anchor) {
            push("invariant_V", s0.powf(self.kappa) / r0, self.supply.powf(self.kappa) / self.reserve);
        }
    }

    fn metrics(&self) -> &'static [MetricDef] {
        METRICS
    }

    fn measure(&self, ledger: &Ledger, out: &mut Measure<'_>) {
        out.set("phase", self.phase.code());
        out.set("raised", self.raised);
        out.set("supply", self.supply(ledger));
        out.set("reserve", self.reserve);
        out.set("price", self.spot());
        out.set("locked", self.locked_backing(ledger));
        out.set("tributes", self.tributes);
        out.set("n_trades", self.n_trades as f64);
        out.set("volume", self.volume);
    }
}

/// Parameters of `kind = "augmented_bonding_curve"`.
/// The `augmented_bonding_curve` mechanism kind.
pub struct AugmentedBondingCurveKind;

const PARAMS: &[Param] = &[
    curve_params::RESERVE_ASSET,
    curve_params::TOKEN,
    Param::account("funding_pool", Need::HOLDER)
        .moves(Way::Forward, "tributes", "reserve_asset")
        .doc("contract receiving the hatch tribute and the entry/exit tributes (e.g. a treasury)"),
    Param::float("hatch_price", 1e-9, 1e9).doc("reserve units per token during the hatch"),
    Param::positive_amount("hatch_goal")
        .doc("reserve the hatch raises; the buy that reaches it is filled up to it and opens the curve"),
    Param::ticks("hatch_deadline", 1)
        .optional("none")
        .doc("last tick of the hatch; after it an unmet goal fails the hatch and contributors redeem"),
    Param::float("hatch_tribute", 0.0, 1.0)
        .open_high()
        .default_float(0.0)
        .doc("fraction θ of the hatch funds sent to the funding pool at the close; R0 = (1 − θ)·goal"),
    Param::ticks("vesting_ticks", 0)
        .default_int(0)
        .doc("hatch tokens unlock linearly over this many ticks after the close"),
    Param::float("kappa", 1.0, 20.0).doc("κ: invariant V = S^κ/R, price = κ·R/S"),
    Param::float("entry_tribute", 0.0, 1.0)
        .open_high()
        .default_float(0.0)
        .doc("fraction of each open-phase buy paid to the funding pool"),
    Param::float("exit_tribute", 0.0, 1.0)
        .open_high()
        .default_float(0.0)
        .doc("fraction of each sale's proceeds paid to the funding pool"),
    Param::name("position")
        .default_str("hatch_locked")
        .doc("wallet column of each agent's locked hatch tokens"),
];

impl MechanismKind for AugmentedBondingCurveKind {
    fn name(&self) -> &'static str {
        "augmented_bonding_curve"
    }

    fn summary(&self) -> &'static str {
        "Commons Stack ABC: a hatch at a fixed price into vesting locked tokens, then a curve with invariant S^κ/R and tributes to a funding pool."
    }

    fn params(&self) -> &'static [Param] {
        PARAMS
    }

    fn metrics(&self) -> &'static [MetricDef] {
        METRICS
    }

    fn build(&self, ctx: &mut ContractBuilder<'_>) -> Result<Box<dyn Contract>, ScenarioError> {
        let p = ctx.params();
        let reserve_asset = ctx.asset_param("reserve_asset")?;
        let token = ctx.asset_param("token")?;
        if reserve_asset == token {
            return Err(ctx.invalid("token", "must differ from reserve_asset"));
        }
        let pool = ctx.account_param("funding_pool")?;
        let locked = ctx.add_position("position", p.str("position"), Some(token))?;
        Ok(Box::new(AugmentedBondingCurve {
            kappa: p.float("kappa"),
            hatch_price: p.float("hatch_price"),
            hatch_goal: p.float("hatch_goal"),
            hatch_deadline: p.opt_tick("hatch_deadline"),
            hatch_tribute: p.float("hatch_tribute"),
            vesting_ticks: p.tick("vesting_ticks"),
            entry_tribute: p.float("entry_tribute"),
            exit_tribute: p.float("exit_tribute"),
            phase: AbcPhase::Hatch,
            raised: 0.0,
            reserve: 0.0,
            supply: 0.0,
            anchor: None,
            closed_at: 0,
            book: BTreeMap::new(),
            reserve_asset,
            token,
            locked,
            account: ctx.account(),
            pool,
            n_trades: 0,
            volume: 0.0,
            largest_flow: 0.0,
            tributes: 0.0,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::intent::Amount;
    use crate::engine::ledger::{Account, MAX_SLOTS};
    use crate::engine::wallets::WalletBuf;

    const DAI: AssetId = AssetId(0);
    const TKN: AssetId = AssetId(1);
    const LOCKED: SlotId = SlotId(2);
    const ABC: AccountId = AccountId(0);
    const POOL: AccountId = AccountId(1);

    /// An ABC (account 0) funding a pool (account 1); agents' wallets hold
    /// DAI, TKN and the locked position in slots 0, 1, 2.
    struct World {
        abc: AugmentedBondingCurve,
        ledger: Ledger,
        wallets: Vec<WalletBuf>,
        tick: u32,
    }

    impl World {
        fn new(goal: f64, price: f64, theta: f64, kappa: f64, vesting: u32, agents: usize) -> World {
            let mut ledger = Ledger::default();
            for name in ["abc", "pool"] {
                ledger.accounts.push(Account { name: name.into(), balances: [0.0; MAX_SLOTS] });
            }
            let mut wallets = vec![WalletBuf::default(); agents];
            for w in &mut wallets {
                *w.get_mut(DAI) = 10_000.0;
                ledger.record_mint(DAI, 10_000.0);
            }
            let abc = AugmentedBondingCurve {
                kappa,
                hatch_price: price,
                hatch_goal: goal,
                hatch_deadline: None,
                hatch_tribute: theta,
                vesting_ticks: vesting,
                entry_tribute: 0.0,
                exit_tribute: 0.0,
                phase: AbcPhase::Hatch,
                raised: 0.0,
                reserve: 0.0,
                supply: 0.0,
                anchor: None,
                closed_at: 0,
                book: BTreeMap::new(),
                reserve_asset: DAI,
                token: TKN,
                locked: LOCKED,
                account: ABC,
                pool: POOL,
                n_trades: 0,
                volume: 0.0,
                largest_flow: 0.0,
                tributes: 0.0,
            };
            World { abc, ledger, wallets, tick: 0 }
        }

        fn begin(&mut self) {
            self.tick += 1;
            self.abc.begin_tick(self.tick);
        }

        fn send(&mut self, agent: usize, action: Action, amount: Amount) -> Settlement {
            let tx = Tx { agent: AgentId(agent as u64), action, amount, target: None };
            let mut ctx =
                SettleCtx { wallet: &mut self.wallets[agent], ledger: &mut self.ledger, tick: self.tick };
            self.abc.settle(&tx, &mut ctx)
        }

        /// Accrue as the engine does: the contract asks, every wallet gets
        /// the credits in order, the contract pays what was credited.
        fn accrue(&mut self) {
            let mut credits = Vec::new();
            self.abc.accrue(&mut AccrueCtx {
                ledger: &mut self.ledger,
                credits: &mut credits,
                tick: self.tick,
            });
            let mut paid = vec![0.0; credits.len()];
            for w in &mut self.wallets {
                for (c, p) in credits.iter().zip(&mut paid) {
                    let amount = w.get(c.weight) * c.per_unit;
                    *w.get_mut(c.slot) += amount;
                    *p += amount;
                }
            }
            for (c, p) in credits.iter().zip(paid) {
                self.abc.credited(c, p, &mut self.ledger);
            }
        }

        fn violations(&self) -> Vec<Violation> {
            let mut sums = [0.0; MAX_SLOTS];
            for w in &self.wallets {
                for (s, v) in sums.iter_mut().zip(w.0) {
                    *s += v;
                }
            }
            // Conservation of both assets, checked here too.
            for a in [DAI, TKN] {
                let held = sums[a.0 as usize] + self.ledger.balance(ABC, a) + self.ledger.balance(POOL, a);
                assert!(close(held, self.ledger.issued[a.0 as usize]), "conservation of {a:?}");
            }
            let mut out = Vec::new();
            self.abc.check(&CheckCtx { ledger: &self.ledger, agent_sums: &sums, tick: self.tick }, &mut out);
            out
        }
    }

    fn filled(s: Settlement) -> Fill {
        match s {
            Settlement::Filled(f) => f,
            other => panic!("expected a fill, got {other:?}"),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-10 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn hatch_fills_up_to_the_goal_exactly_then_opens() {
        let (goal, price, theta, kappa) = (1000.0, 0.5, 0.2, 3.0);
        let mut w = World::new(goal, price, theta, kappa, 0, 3);
        w.begin();
        let a = filled(w.send(0, Action::Buy, Amount::Units(600.0)));
        assert_eq!((a.amount_in, a.amount_out), (600.0, 1200.0));
        assert_eq!(w.abc.phase(), AbcPhase::Hatch);
        assert_eq!(w.abc.price(&w.ledger), Some(price));
        // Agent 1 asks for 700 but only 400 fit.
        let b = filled(w.send(1, Action::Buy, Amount::Units(700.0)));
        assert_eq!((b.amount_in, b.amount_out), (400.0, 800.0));
        assert_eq!(w.wallets[1].get(DAI), 10_000.0 - 400.0);
        assert_eq!(w.abc.raised(), goal);
        assert_eq!(w.abc.phase(), AbcPhase::Open);
        // R0 = (1 − θ)·goal; θ·goal to the pool; S0 = goal/price.
        let (s0, r0) = w.abc.anchor().unwrap();
        assert_eq!(s0, 2000.0);
        assert!(close(r0, 800.0));
        assert!(close(w.ledger.balance(POOL, DAI), 200.0));
        assert!(close(w.abc.price(&w.ledger).unwrap(), kappa * 800.0 / 2000.0));
        assert_eq!(w.abc.contribution(AgentId(1)), Contribution { reserve: 400.0, tokens: 800.0 });
        assert_eq!((w.wallets[0].get(LOCKED), w.wallets[1].get(LOCKED)), (1200.0, 800.0));
        assert!(w.violations().is_empty(), "{:?}", w.violations());
        // Later buys in the same tick trade on the curve: liquid tokens.
        let c = filled(w.send(2, Action::Buy, Amount::Units(100.0)));
        let expected = s0 * ((r0 + 100.0) / r0).powf(1.0 / kappa) - s0;
        assert!(close(c.amount_out, expected), "{} vs {expected}", c.amount_out);
        assert_eq!(w.wallets[2].get(TKN), c.amount_out);
        assert!(w.violations().is_empty());
    }

    #[test]
    fn sells_and_redeems_are_rejected_during_the_hatch() {
        let mut w = World::new(1000.0, 1.0, 0.0, 2.0, 0, 1);
        w.begin();
        filled(w.send(0, Action::Buy, Amount::Units(10.0)));
        *w.wallets[0].get_mut(TKN) = 5.0;
        w.ledger.record_mint(TKN, 5.0);
        let before = (w.wallets.clone(), w.ledger.accounts[0].balances, w.abc.raised());
        assert_eq!(
            w.send(0, Action::Sell, Amount::Units(1.0)),
            Settlement::Rejected("hatch phase: sells open after the hatch")
        );
        assert!(matches!(w.send(0, Action::Redeem, Amount::Fraction(1.0)), Settlement::Rejected(_)));
        assert!(matches!(w.send(0, Action::Buy, Amount::Units(1e9)), Settlement::Rejected(_)));
        assert_eq!((w.wallets.clone(), w.ledger.accounts[0].balances, w.abc.raised()), before);
    }

    #[test]
    fn vesting_unlocks_linearly_over_vesting_ticks() {
        let t_vest = 4;
        let mut w = World::new(900.0, 1.0, 0.1, 2.0, t_vest, 3);
        w.begin();
        w.accrue();
        w.begin();
        filled(w.send(0, Action::Buy, Amount::Units(200.0)));
        filled(w.send(1, Action::Buy, Amount::Units(300.0)));
        filled(w.send(2, Action::Buy, Amount::Units(1000.0))); // fills 400, closes at tick 2
        let locked0: Vec<f64> = w.wallets.iter().map(|x| x.get(LOCKED)).collect();
        assert_eq!(locked0, [200.0, 300.0, 400.0]);
        let closed = w.tick;
        w.accrue();
        for tick in closed..=closed + 6 {
            if tick > closed {
                w.begin();
                w.accrue();
            }
            let t = f64::from(tick - closed);
            let share = (t / f64::from(t_vest)).min(1.0);
            for (i, x) in w.wallets.iter().enumerate() {
                assert!(close(x.get(TKN), locked0[i] * share), "tick {tick} agent {i}: {}", x.get(TKN));
                assert!(close(x.get(LOCKED), locked0[i] * (1.0 - share)), "tick {tick} agent {i}");
                assert!(x.get(LOCKED) >= 0.0);
            }
            assert!(w.violations().is_empty(), "tick {tick}: {:?}", w.violations());
        }
        assert_eq!(w.abc.locked_backing(&w.ledger), 0.0);
    }

    #[test]
    fn open_curve_keeps_v_and_pays_tributes_in_closed_form() {
        let (goal, price, theta, kappa, f_in, f_out) = (10_000.0, 0.1, 0.25, 4.0, 0.05, 0.08);
        let mut w = World::new(goal, price, theta, kappa, 0, 2);
        w.abc.entry_tribute = f_in;
        w.abc.exit_tribute = f_out;
        w.begin();
        filled(w.send(0, Action::Buy, Amount::Units(goal)));
        w.accrue(); // T = 0: everything unlocks at the close
        assert_eq!(w.wallets[0].get(TKN), goal / price);
        let (s0, r0) = (goal / price, (1.0 - theta) * goal);
        let v0 = s0.powf(kappa) / r0;
        let mut pool = theta * goal;

        w.begin();
        let buy = filled(w.send(1, Action::Buy, Amount::Units(2_000.0)));
        pool += f_in * 2_000.0;
        let r1 = r0 + (1.0 - f_in) * 2_000.0;
        // V fixed: S1 = (V0·R1)^(1/κ).
        let s1 = (v0 * r1).powf(1.0 / kappa);
        assert!(close(buy.amount_out, s1 - s0), "{} vs {}", buy.amount_out, s1 - s0);
        assert!(close(buy.fee, f_in * 2_000.0));

        let q = 30_000.0;
        let sell = filled(w.send(0, Action::Sell, Amount::Units(q)));
        let r2 = (s1 - q).powf(kappa) / v0;
        let released = r1 - r2;
        pool += f_out * released;
        assert!(close(sell.amount_out, (1.0 - f_out) * released), "{} vs {}", sell.amount_out, released);
        assert!(close(w.abc.reserve(), r2));
        assert!(close(w.ledger.balance(POOL, DAI), pool));
        assert!(close(w.abc.price(&w.ledger).unwrap(), kappa * r2 / (s1 - q)));
        let m = measured(&w.abc, &w.ledger);
        assert!(close(m[6], f_in * 2_000.0 + f_out * released), "tributes this tick: {}", m[6]);
        assert!(w.violations().is_empty(), "{:?}", w.violations());

        // trade_to_price lands on the target net of the entry tribute.
        let target = 2.0 * w.abc.price(&w.ledger).unwrap();
        let t = w.abc.trade_to_price(target, &w.ledger).unwrap();
        assert_eq!(t.action, Action::Buy);
        filled(w.send(1, Action::Buy, Amount::Units(t.amount_in)));
        assert!(close(w.abc.price(&w.ledger).unwrap(), target * (1.0 - f_in)));
        assert!(w.violations().is_empty());
    }

    #[test]
    fn a_failed_hatch_refunds_contributors() {
        let mut w = World::new(1000.0, 0.5, 0.1, 2.0, 10, 2);
        w.abc.hatch_deadline = Some(2);
        w.begin();
        filled(w.send(0, Action::Buy, Amount::Units(300.0)));
        w.begin();
        filled(w.send(1, Action::Buy, Amount::Units(100.0)));
        w.accrue();
        w.begin(); // tick 3 > deadline: failed
        assert_eq!(w.abc.phase(), AbcPhase::Failed);
        assert!(matches!(w.send(1, Action::Buy, Amount::Units(1.0)), Settlement::Rejected(_)));
        let half = filled(w.send(0, Action::Redeem, Amount::Fraction(0.5)));
        assert_eq!((half.amount_out, half.amount_in), (150.0, 300.0));
        assert_eq!(w.wallets[0].get(LOCKED), 300.0);
        filled(w.send(0, Action::Redeem, Amount::Fraction(1.0)));
        filled(w.send(1, Action::Redeem, Amount::Fraction(1.0)));
        assert!(matches!(w.send(1, Action::Redeem, Amount::Fraction(1.0)), Settlement::Rejected(_)));
        for x in &w.wallets {
            assert_eq!((x.get(DAI), x.get(LOCKED)), (10_000.0, 0.0));
        }
        assert_eq!(w.abc.raised(), 0.0);
        assert_eq!(w.ledger.issued[TKN.0 as usize], 0.0);
        assert_eq!(w.ledger.balance(POOL, DAI), 0.0, "no tribute from a failed hatch");
        assert!(w.violations().is_empty());
    }
}
