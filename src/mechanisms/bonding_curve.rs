//! Power bonding curve `price(S) = m·S^k` with entry and exit tributes paid
//! to a treasury.
//!
//! Reserve held for supply `S`: `reserve(S) = m/(k+1)·S^(k+1)`. A buy of
//! `d` reserve units pays `f_in·d` to the treasury, deposits the rest and
//! mints up to the supply whose reserve is the new reserve. A sell of `q`
//! tokens burns them and releases `x = reserve(S) − reserve(S−q)`, of which
//! `f_out·x` goes to the treasury.

use crate::engine::builder::ContractBuilder;
use crate::engine::contract::*;
use crate::engine::ids::{AccountId, AssetId};
use crate::engine::intent::Action;
use crate::engine::ledger::Ledger;
use crate::engine::params::{MAX_AMOUNT, Param};
use crate::engine::registry::MechanismKind;
use crate::error::ScenarioError;

/// The closed-form curve, independent of any world: use it to reason about
/// or test the mechanism.
///
/// ```
/// use tokensim::mechanisms::bonding_curve::PowerCurve;
/// let c = PowerCurve { exponent: 1.0, slope: 1e-6 };
/// assert_eq!(c.reserve_at(1_000_000.0), 500_000.0);
/// assert!((c.supply_for(500_000.0) - 1_000_000.0).abs() < 1e-6);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PowerCurve {
    /// `k`.
    pub exponent: f64,
    /// `m`.
    pub slope: f64,
}

impl PowerCurve {
    /// Spot price `m·S^k`.
    #[inline]
    pub fn price(&self, supply: f64) -> f64 {
        if self.exponent == 1.0 { self.slope * supply } else { self.slope * supply.powf(self.exponent) }
    }

    /// Reserve backing `supply`: `m/(k+1)·S^(k+1)`.
    #[inline]
    pub fn reserve_at(&self, supply: f64) -> f64 {
        let k1 = self.exponent + 1.0;
        if self.exponent == 1.0 {
            self.slope / 2.0 * supply * supply
        } else {
            self.slope / k1 * supply.powf(k1)
        }
    }

    /// Supply whose reserve is `reserve`: `((k+1)·R/m)^(1/(k+1))`.
    #[inline]
    pub fn supply_for(&self, reserve: f64) -> f64 {
        let k1 = self.exponent + 1.0;
        if self.exponent == 1.0 {
            (2.0 * reserve / self.slope).sqrt()
        } else {
            (k1 * reserve / self.slope).powf(1.0 / k1)
        }
    }

    /// Supply at which the spot price is `price`: `(p/m)^(1/k)`.
    #[inline]
    pub fn supply_at_price(&self, price: f64) -> f64 {
        if self.exponent == 1.0 { price / self.slope } else { (price / self.slope).powf(1.0 / self.exponent) }
    }

    /// The trade that brings the price, net of tributes, to `target`: a
    /// buy while `price < target·(1 − f_in)` (ending at that price; the
    /// amount in is gross of the entry tribute) or a sell while
    /// `price·(1 − f_out) > target` (ending at `target/(1 − f_out)`). `None`
    /// inside that band, and for a flat curve (`k = 0`), whose price no
    /// trade moves.
    ///
    /// ```
    /// use tokensim::mechanisms::bonding_curve::PowerCurve;
    /// use tokensim::prelude::Action;
    /// let c = PowerCurve { exponent: 1.0, slope: 1e-6 };
    /// // At S = 1e6 the price is 1; reaching 1.1 with no tribute means
    /// // minting up to S = 1.1e6 for reserve(1.1e6) − reserve(1e6).
    /// let t = c.trade_to_price(1e6, 1.1, 0.0, 0.0).unwrap();
    /// assert_eq!(t.action, Action::Buy);
    /// assert!((t.amount_out - 1e5).abs() < 1e-6);
    /// assert!((t.amount_in - (c.reserve_at(1.1e6) - c.reserve_at(1e6))).abs() < 1e-6);
    /// ```
    pub fn trade_to_price(&self, supply: f64, target: f64, f_in: f64, f_out: f64) -> Option<PriceTrade> {
        if self.exponent == 0.0 || !(target.is_finite() && target > 0.0) || supply.is_nan() || supply <= 0.0 {
            return None;
        }
        let price = self.price(supply);
        if price < target * (1.0 - f_in) {
            let to = self.supply_at_price(target * (1.0 - f_in));
            let deposit = self.reserve_at(to) - self.reserve_at(supply);
            Some(PriceTrade {
                action: Action::Buy,
                amount_in: deposit / (1.0 - f_in),
                amount_out: to - supply,
            })
        } else if price * (1.0 - f_out) > target {
            let to = self.supply_at_price(target / (1.0 - f_out));
            let released = self.reserve_at(supply) - self.reserve_at(to);
            Some(PriceTrade {
                action: Action::Sell,
                amount_in: supply - to,
                amount_out: released * (1.0 - f_out),
            })
        } else {
            None
        }
    }
}

/// A live bonding curve contract.
#[derive(Clone, Debug)]
pub struct BondingCurve {
    /// The curve shape.
    pub curve: PowerCurve,
    /// Tokens outstanding from this curve (`S`).
    pub supply: f64,
    /// Entry tribute `f_in`.
    pub entry_tribute: f64,
    /// Exit tribute `f_out`.
    pub exit_tribute: f64,
    reserve_asset: AssetId,
    token: AssetId,
    account: AccountId,
    treasury: AccountId,
    n_trades: u64,
    volume: f64,
    /// Largest reserve amount one trade moved: the scale the reserve's
    /// rounding is relative to.
    largest_flow: f64,
    tributes: f64,
}

const ACCEPTS: &[Action] = &[Action::Buy, Action::Sell];

const METRICS: &[MetricDef] = &[
    curve_metrics::SUPPLY,
    curve_metrics::RESERVE,
    MetricDef::stock("price", "{reserve_asset}/{token}", "spot price m·S^k"),
    curve_metrics::N_TRADES,
    curve_metrics::VOLUME,
    curve_metrics::TRIBUTES,
];

/// Metrics every curve kind (`bonding_curve`, `bancor`,
/// `augmented_bonding_curve`) reports the same way, defined once.
pub(crate) mod curve_metrics {
    use crate::engine::contract::{MetricDef, Timing};

    /// Tokens outstanding.
    pub const SUPPLY: MetricDef = MetricDef::stock("supply", "{token}", "token supply S");
    /// The reserve held.
    pub const RESERVE: MetricDef = MetricDef::stock("reserve", "{reserve_asset}", "reserve balance R");
    /// Trades of the tick.
    pub const N_TRADES: MetricDef =
        MetricDef::flow("n_trades", "count", "buys and sells settled this tick").count().at(Timing::Settle);
    /// Reserve traded in the tick.
    pub const VOLUME: MetricDef = MetricDef::flow(
        "volume",
        "{reserve_asset}",
        "reserve units traded this tick (buys: paid; sells: released)",
    )
    .at(Timing::Settle);
    /// Tributes of the tick.
    pub const TRIBUTES: MetricDef =
        MetricDef::flow("tributes", "{reserve_asset}", "tributes paid to the treasury this tick")
            .at(Timing::Settle);
}

impl BondingCurve {
    fn reserve(&self, ledger: &Ledger) -> f64 {
        ledger.balance(self.account, self.reserve_asset)
    }

    fn buy(&mut self, d: f64, ctx: &mut SettleCtx<'_>) -> Settlement {
        let balance = ctx.wallet.get(self.reserve_asset);
        if !(d.is_finite() && d >= 0.0) || d > balance {
            return Settlement::Rejected("insufficient reserve-asset balance");
        }
        if d == 0.0 {
            return Settlement::Skipped;
        }
        let tribute = self.entry_tribute * d;
        let deposit = d - tribute;
        let new_reserve = self.reserve(ctx.ledger) + deposit;
        let new_supply = self.curve.supply_for(new_reserve);
        let minted = (new_supply - self.supply).max(0.0);
        *ctx.wallet.get_mut(self.reserve_asset) = balance - d;
        *ctx.wallet.get_mut(self.token) += minted;
        *ctx.ledger.balance_mut(self.account, self.reserve_asset) = new_reserve;
        *ctx.ledger.balance_mut(self.treasury, self.reserve_asset) += tribute;
        ctx.ledger.record_mint(self.token, minted);
        self.supply += minted;
        self.n_trades += 1;
        self.volume += d;
        self.largest_flow = self.largest_flow.max(d);
        self.tributes += tribute;
        Settlement::Filled(Fill { amount_in: d, amount_out: minted, fee: tribute })
    }

    fn sell(&mut self, q: f64, ctx: &mut SettleCtx<'_>) -> Settlement {
        let balance = ctx.wallet.get(self.token);
        if !(q.is_finite() && q >= 0.0) || q > balance {
            return Settlement::Rejected("insufficient token balance");
        }
        if q > self.supply {
            return Settlement::Rejected("sell exceeds curve supply");
        }
        if q == 0.0 {
            return Settlement::Skipped;
        }
        let new_supply = self.supply - q;
        let new_reserve = self.curve.reserve_at(new_supply);
        let released = (self.reserve(ctx.ledger) - new_reserve).max(0.0);
        let tribute = self.exit_tribute * released;
        *ctx.wallet.get_mut(self.token) = balance - q;
        *ctx.wallet.get_mut(self.reserve_asset) += released - tribute;
        *ctx.ledger.balance_mut(self.account, self.reserve_asset) -= released;
        *ctx.ledger.balance_mut(self.treasury, self.reserve_asset) += tribute;
        ctx.ledger.record_burn(self.token, q);
        self.supply = new_supply;
        self.n_trades += 1;
        self.volume += released;
        self.largest_flow = self.largest_flow.max(released);
        self.tributes += tribute;
        Settlement::Filled(Fill { amount_in: q, amount_out: released - tribute, fee: tribute })
    }
}

impl Contract for BondingCurve {
    fn accepts(&self) -> &'static [Action] {
        ACCEPTS
    }

    fn market(&self) -> Option<(AssetId, AssetId)> {
        Some((self.token, self.reserve_asset))
    }

    fn settle(&mut self, tx: &Tx, ctx: &mut SettleCtx<'_>) -> Settlement {
        match tx.action {
            Action::Buy => self.buy(tx.amount.resolve(ctx.wallet.get(self.reserve_asset)), ctx),
            Action::Sell => self.sell(tx.amount.resolve(ctx.wallet.get(self.token)), ctx),
            _ => Settlement::Rejected("bonding curves accept only buy and sell"),
        }
    }

    fn price(&self, _ledger: &Ledger) -> Option<f64> {
        Some(self.curve.price(self.supply))
    }

    fn trade_to_price(&self, target: f64, _ledger: &Ledger) -> Option<PriceTrade> {
        self.curve.trade_to_price(self.supply, target, self.entry_tribute, self.exit_tribute)
    }

    fn begin_tick(&mut self, _tick: u32) {
        self.n_trades = 0;
        self.volume = 0.0;
        self.tributes = 0.0;
    }

    fn check(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Violation>) {
        let expected = self.curve.reserve_at(self.supply);
        let actual = self.reserve(ctx.ledger);
        if !within_tolerance_of(expected, actual, self.largest_flow) {
            out.push(Violation {
                source: String::new(),
                invariant: "curve_identity".into(),
                expected,
                actual,
            });
        }
    }

    fn metrics(&self) -> &'static [MetricDef] {
        METRICS
    }

    fn measure(&self, ledger: &Ledger, out: &mut Measure<'_>) {
        out.set("supply", self.supply);
        out.set("reserve", self.reserve(ledger));
        out.set("price", self.curve.price(self.supply));
        out.set("n_trades", self.n_trades as f64);
        out.set("volume", self.volume);
        out.set("tributes", self.tributes);
    }
}

/// Parameters of `kind = "bonding_curve"`.
/// Parameters every curve kind (`bonding_curve`, `bancor`,
/// `augmented_bonding_curve`) declares the same way, defined once.
pub(crate) mod curve_params {
    use crate::engine::params::{Need, Param, Way};

    pub(crate) const RESERVE_ASSET: Param =
        Param::asset("reserve_asset").doc("asset paid in and held as reserve");
    pub(crate) const TOKEN: Param = Param::asset("token").doc("asset the curve mints and burns");
    pub(crate) const INITIAL_HOLDER: Param = Param::account("initial_holder", Need::HOLDER)
        .moves(Way::Forward, "initial supply", "token")
        .default_str("hatch")
        .doc("account that receives the initial supply");
    pub(crate) const ENTRY_TRIBUTE: Param = Param::float("entry_tribute", 0.0, 1.0)
        .open_high()
        .default_float(0.0)
        .doc("fraction of each buy paid to the treasury");
    pub(crate) const EXIT_TRIBUTE: Param = Param::float("exit_tribute", 0.0, 1.0)
        .open_high()
        .default_float(0.0)
        .doc("fraction of each sale's proceeds paid to the treasury");
    pub(crate) const TREASURY: Param = Param::account("treasury", Need::HOLDER)
        .moves(Way::Forward, "tributes", "reserve_asset")
        .optional("none")
        .doc("contract or account receiving tributes (required if a tribute > 0)");

    /// The tribute receiver: `treasury`, required when a tribute is above 0
    /// (else the curve's own account, which then receives nothing).
    pub(crate) fn treasury(
        ctx: &mut crate::engine::builder::ContractBuilder<'_>,
        p: &crate::engine::params::Values,
    ) -> Result<crate::engine::ids::AccountId, crate::error::ScenarioError> {
        match ctx.opt_account_param("treasury")? {
            Some(account) => Ok(account),
            None if p.float("entry_tribute") > 0.0 || p.float("exit_tribute") > 0.0 => Err(ctx.invalid(
                "treasury",
                "required when a tribute is above 0: name the contract that receives tributes",
            )),
            None => Ok(ctx.account()),
        }
    }
}

/// The `bonding_curve` mechanism kind.
pub struct BondingCurveKind;

const PARAMS: &[Param] = &[
    curve_params::RESERVE_ASSET,
    curve_params::TOKEN,
    Param::float("exponent", 0.0, 10.0).default_float(1.0).doc("k in price = m·S^k"),
    Param::float("slope", 1e-12, 1e12).doc("m in price = m·S^k"),
    Param::amount("initial_supply")
        .default_float(0.0)
        .doc("supply S0 minted at genesis to initial_holder, backed by reserve(S0)"),
    curve_params::INITIAL_HOLDER,
    curve_params::ENTRY_TRIBUTE,
    curve_params::EXIT_TRIBUTE,
    curve_params::TREASURY,
];

impl MechanismKind for BondingCurveKind {
    fn name(&self) -> &'static str {
        "bonding_curve"
    }

    fn summary(&self) -> &'static str {
        "Power bonding curve price = slope·supply^exponent; mints on buy, burns on sell, tributes to a treasury."
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
        let treasury = curve_params::treasury(ctx, &p)?;
        let curve = PowerCurve { exponent: p.float("exponent"), slope: p.float("slope") };
        let supply = p.float("initial_supply");
        let reserve = curve.reserve_at(supply);
        if reserve.is_nan() || reserve > MAX_AMOUNT {
            return Err(ctx.invalid(
                "initial_supply",
                format!("backing {supply} tokens needs a reserve of {reserve}, above the limit {MAX_AMOUNT}"),
            ));
        }
        let account = ctx.account();
        let holder = ctx.account_param("initial_holder")?;
        ctx.issue(holder, token, supply);
        ctx.issue(account, reserve_asset, reserve);
        Ok(Box::new(BondingCurve {
            curve,
            supply,
            entry_tribute: p.float("entry_tribute"),
            exit_tribute: p.float("exit_tribute"),
            reserve_asset,
            token,
            account,
            treasury,
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
    use crate::engine::ids::AgentId;
    use crate::engine::intent::Amount;
    use crate::engine::ledger::{Account, MAX_SLOTS};
    use crate::engine::wallets::{Wallet, WalletBuf};

    const DAI: AssetId = AssetId(0);
    const TKN: AssetId = AssetId(1);

    /// A curve (account 0) with treasury account 1, k = 1, m = 1e-6,
    /// S0 = 1e6 held elsewhere, and the given tributes.
    fn setup(k: f64, f_in: f64, f_out: f64) -> (BondingCurve, Ledger) {
        let curve = PowerCurve { exponent: k, slope: 1e-6 };
        let mut ledger = Ledger::default();
        for name in ["curve", "treasury", "hatch"] {
            ledger.accounts.push(Account { name: name.into(), balances: [0.0; MAX_SLOTS] });
        }
        ledger.issue(AccountId(2), TKN, 1e6);
        ledger.issue(AccountId(0), DAI, curve.reserve_at(1e6));
        let bc = BondingCurve {
            curve,
            supply: 1e6,
            entry_tribute: f_in,
            exit_tribute: f_out,
            reserve_asset: DAI,
            token: TKN,
            account: AccountId(0),
            treasury: AccountId(1),
            n_trades: 0,
            volume: 0.0,
            largest_flow: 0.0,
            tributes: 0.0,
        };
        (bc, ledger)
    }

    fn tx(action: Action, amount: f64) -> Tx {
        Tx { agent: AgentId(0), action, amount: Amount::Units(amount), target: None }
    }

    fn settle(bc: &mut BondingCurve, ledger: &mut Ledger, wallet: &mut Wallet, t: Tx) -> Settlement {
        bc.settle(&t, &mut SettleCtx { wallet, ledger, tick: 1 })
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn trade_to_price_lands_the_price_on_the_target_net_of_tributes() {
        for k in [0.5, 1.0, 2.0] {
            for (f_in, f_out) in [(0.0, 0.0), (0.05, 0.03)] {
                let (bc0, ledger0) = setup(k, f_in, f_out);
                let p0 = bc0.curve.price(1e6);
                // Above: a buy ending at target·(1 − f_in).
                let (mut bc, mut ledger) = (bc0.clone(), ledger0.clone());
                let target = 1.3 * p0;
                let t = bc.trade_to_price(target, &ledger).expect("a buy");
                assert_eq!(t.action, Action::Buy);
                let mut w = WalletBuf::default();
                *w.get_mut(DAI) = t.amount_in;
                let Settlement::Filled(fill) =
                    settle(&mut bc, &mut ledger, &mut w, tx(Action::Buy, t.amount_in))
                else {
                    panic!()
                };
                assert!(close(bc.curve.price(bc.supply), target * (1.0 - f_in)), "k {k}");
                assert!(close(fill.amount_out, t.amount_out));
                // Below: a sell ending at target/(1 − f_out).
                let (mut bc, mut ledger) = (bc0.clone(), ledger0.clone());
                let target = 0.7 * p0;
                let t = bc.trade_to_price(target, &ledger).expect("a sell");
                assert_eq!(t.action, Action::Sell);
                let mut w = WalletBuf::default();
                *w.get_mut(TKN) = t.amount_in;
                let Settlement::Filled(fill) =
                    settle(&mut bc, &mut ledger, &mut w, tx(Action::Sell, t.amount_in))
                else {
                    panic!()
                };
                assert!(close(bc.curve.price(bc.supply), target / (1.0 - f_out)), "k {k}");
                assert!(close(fill.amount_out, t.amount_out));
                // Inside the band: nothing to do.
                assert_eq!(bc0.trade_to_price(p0, &ledger0), None);
            }
        }
        let (flat, ledger) = setup(0.0, 0.0, 0.0);
        assert_eq!(flat.trade_to_price(2.0, &ledger), None, "no trade moves a flat curve");
        assert_eq!(flat.price(&ledger), Some(1e-6));
    }

    #[test]
    fn buy_matches_closed_form_for_linear_curve() {
        let (mut bc, mut ledger) = setup(1.0, 0.05, 0.05);
        let mut w = WalletBuf::default();
        *w.get_mut(DAI) = 1000.0;
        let Settlement::Filled(fill) = settle(&mut bc, &mut ledger, &mut w, tx(Action::Buy, 100.0)) else {
            panic!()
        };
        // R' = 500_000 + 95; S' = sqrt(2 R' / m) for k = 1.
        let expected_supply = (2.0 * 500_095.0 / 1e-6f64).sqrt();
        assert!(close(bc.supply, expected_supply));
        assert!(close(fill.amount_out, expected_supply - 1e6));
        assert!(close(ledger.balance(AccountId(0), DAI), 500_095.0));
        assert!(close(ledger.balance(AccountId(1), DAI), 5.0));
        assert_eq!(w.get(DAI), 900.0);
        assert_eq!(w.get(TKN), fill.amount_out);
    }

    #[test]
    fn sell_matches_closed_form_for_quadratic_curve() {
        let (mut bc, mut ledger) = setup(2.0, 0.0, 0.1);
        let mut w = WalletBuf::default();
        *w.get_mut(TKN) = 1000.0;
        let r0 = 1e-6 / 3.0 * 1e18;
        let Settlement::Filled(fill) = settle(&mut bc, &mut ledger, &mut w, tx(Action::Sell, 1000.0)) else {
            panic!()
        };
        let x = r0 - 1e-6 / 3.0 * (1e6f64 - 1000.0).powi(3);
        assert!(close(fill.amount_out, 0.9 * x), "{} vs {}", fill.amount_out, 0.9 * x);
        assert!(close(fill.fee, 0.1 * x));
        assert!(close(ledger.balance(AccountId(0), DAI), r0 - x));
        assert_eq!(bc.supply, 1e6 - 1000.0);
        assert_eq!(w.get(TKN), 0.0);
    }

    #[test]
    fn round_trip_returns_the_deposit_less_both_tributes() {
        for k in [0.5, 1.0, 2.0] {
            let (f_in, f_out) = (0.05, 0.03);
            let (mut bc, mut ledger) = setup(k, f_in, f_out);
            let mut w = WalletBuf::default();
            *w.get_mut(DAI) = 1000.0;
            let Settlement::Filled(buy) = settle(&mut bc, &mut ledger, &mut w, tx(Action::Buy, 1000.0))
            else {
                panic!()
            };
            let Settlement::Filled(_) =
                settle(&mut bc, &mut ledger, &mut w, tx(Action::Sell, buy.amount_out))
            else {
                panic!()
            };
            let expected = 1000.0 * (1.0 - f_in) * (1.0 - f_out);
            assert!((w.get(DAI) - expected).abs() < 1e-6, "k={k}: got {} want {expected}", w.get(DAI));
            assert!(close(bc.supply, 1e6));
            assert!(close(ledger.balance(AccountId(0), DAI), bc.curve.reserve_at(1e6)));
        }
    }

    #[test]
    fn overdrafts_are_rejected_without_side_effects() {
        let (mut bc, mut ledger) = setup(1.0, 0.05, 0.05);
        let mut w = WalletBuf::default();
        *w.get_mut(DAI) = 10.0;
        let before = (bc.supply, ledger.balance(AccountId(0), DAI), w);
        assert!(matches!(
            settle(&mut bc, &mut ledger, &mut w, tx(Action::Buy, 10.5)),
            Settlement::Rejected(_)
        ));
        assert!(matches!(
            settle(&mut bc, &mut ledger, &mut w, tx(Action::Sell, 1.0)),
            Settlement::Rejected(_)
        ));
        assert_eq!((bc.supply, ledger.balance(AccountId(0), DAI), w), before);
        assert_eq!(settle(&mut bc, &mut ledger, &mut w, tx(Action::Buy, 0.0)), Settlement::Skipped);
    }
}
