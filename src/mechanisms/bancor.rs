//! Bancor curve: a bonding curve with a constant reserve ratio (CRR), the
//! reserve always being the fraction `CRR` of the token's market cap
//! `price·S`, with entry and exit tributes paid to a treasury.
//!
//! With supply `S`, reserve `R` and reserve ratio `CRR ∈ (0, 1]`:
//!
//! - spot price: `price = R / (S·CRR)`;
//! - a buy paying `d` reserve units gives `f_in·d` to the treasury and
//!   deposits `d' = (1 − f_in)·d`, minting
//!   `minted = S·((1 + d'/R)^CRR − 1)`;
//! - a sell of `q` tokens burns them and releases
//!   `x = R·(1 − (1 − q/S)^(1/CRR))`, of which `f_out·x` goes to the
//!   treasury and the rest to the seller;
//! - identity (checked every tick): `R = R0·(S/S0)^(1/CRR)` where `S0`,
//!   `R0` are the initial supply and reserve. `CRR = 1` is a constant price
//!   `R0/S0`; `CRR = 1/2` is the linear curve `price = m·S` with
//!   `m = 2·R0/S0²` (the power curve with `k = 1`).
//!
//! The trades use the incremental forms above (computed with `ln_1p` and
//! `exp_m1`, accurate for trades much smaller than the reserve); the
//! identity holds because they compose exactly in real arithmetic.

use super::bonding_curve::{curve_metrics, curve_params};
use crate::engine::builder::ContractBuilder;
use crate::engine::contract::*;
use crate::engine::ids::{AccountId, AssetId};
use crate::engine::intent::Action;
use crate::engine::ledger::Ledger;
use crate::engine::params::Param;
use crate::engine::registry::MechanismKind;
use crate::error::ScenarioError;

/// The closed-form constant-reserve-ratio curve, independent of any world,
/// anchored at `(supply0, reserve0)`. Use it to reason about or test the
/// mechanism; the augmented bonding curve's open phase uses it with
/// `CRR = 1/κ`.
///
/// ```
/// use tokensim::mechanisms::bancor::BancorCurve;
/// let c = BancorCurve { reserve_ratio: 0.5, supply0: 1_000_000.0, reserve0: 500_000.0 };
/// assert_eq!(c.price(1_000_000.0), 1.0); // R/(S·CRR)
/// assert_eq!(c.reserve_at(2_000_000.0), 2_000_000.0); // R0·(S/S0)^2
/// // Depositing 1.5 M doubles the supply: 1e6·((1 + 1.5e6/5e5)^0.5 − 1) = 1e6.
/// let minted = c.minted(1_000_000.0, 500_000.0, 1_500_000.0);
/// assert!((minted - 1_000_000.0).abs() < 1e-6);
/// // Selling them back releases the deposit.
/// let back = c.returned(2_000_000.0, 2_000_000.0, minted);
/// assert!((back - 1_500_000.0).abs() < 1e-6);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BancorCurve {
    /// `CRR` in `(0, 1]`.
    pub reserve_ratio: f64,
    /// Anchor supply `S0` (> 0).
    pub supply0: f64,
    /// Reserve `R0` at `S0` (> 0).
    pub reserve0: f64,
}

impl BancorCurve {
    /// Reserve backing `supply` on the curve: `R0·(S/S0)^(1/CRR)`.
    #[inline]
    pub fn reserve_at(&self, supply: f64) -> f64 {
        self.reserve0 * (supply / self.supply0).powf(1.0 / self.reserve_ratio)
    }

    /// Supply whose reserve is `reserve`: `S0·(R/R0)^CRR`.
    #[inline]
    pub fn supply_for(&self, reserve: f64) -> f64 {
        self.supply0 * (reserve / self.reserve0).powf(self.reserve_ratio)
    }

    /// Spot price at `supply` on the curve: `reserve_at(S)/(S·CRR)`.
    #[inline]
    pub fn price(&self, supply: f64) -> f64 {
        self.reserve_at(supply) / (supply * self.reserve_ratio)
    }

    /// Tokens minted by depositing `deposit` into a curve at
    /// `(supply, reserve)`: `S·((1 + d/R)^CRR − 1)`.
    #[inline]
    pub fn minted(&self, supply: f64, reserve: f64, deposit: f64) -> f64 {
        supply * (self.reserve_ratio * (deposit / reserve).ln_1p()).exp_m1()
    }

    /// Reserve released by burning `q` tokens from a curve at
    /// `(supply, reserve)`: `R·(1 − (1 − q/S)^(1/CRR))`.
    #[inline]
    pub fn returned(&self, supply: f64, reserve: f64, q: f64) -> f64 {
        if q >= supply {
            return reserve;
        }
        -reserve * ((-q / supply).ln_1p() / self.reserve_ratio).exp_m1()
    }

    /// The trade that moves the spot price of a curve at `(supply,
    /// reserve)` to `target` net of tributes: a buy while
    /// `price < target·(1 − f_in)` (the marginal token costs
    /// `price/(1 − f_in)`), bringing the price to `target·(1 − f_in)`; a
    /// sell while `price·(1 − f_out) > target`, bringing it to
    /// `target/(1 − f_out)`. `amount_in` is what the trader pays including
    /// the entry tribute (reserve for a buy, tokens for a sell), so sending
    /// it as `Amount::Units` lands exactly there; `amount_out` is what it
    /// receives after tributes. `None` within the band, for `CRR = 1`
    /// (constant price) or a target that is not a positive number.
    ///
    /// Moving from price `p` to `p'` multiplies the supply by
    /// `(p'/p)^(CRR/(1−CRR))` and the reserve by `(p'/p)^(1/(1−CRR))`.
    pub fn trade_to_price(
        &self,
        supply: f64,
        reserve: f64,
        target: f64,
        entry_tribute: f64,
        exit_tribute: f64,
    ) -> Option<PriceTrade> {
        let crr = self.reserve_ratio;
        if crr >= 1.0 || !(target.is_finite() && target > 0.0) || !(supply > 0.0 && reserve > 0.0) {
            return None;
        }
        let price = reserve / (supply * crr);
        let (action, goal) = if price < target * (1.0 - entry_tribute) {
            (Action::Buy, target * (1.0 - entry_tribute))
        } else if price * (1.0 - exit_tribute) > target {
            (Action::Sell, target / (1.0 - exit_tribute))
        } else {
            return None;
        };
        let ratio = goal / price;
        let new_supply = supply * ratio.powf(crr / (1.0 - crr));
        let new_reserve = reserve * ratio.powf(1.0 / (1.0 - crr));
        Some(match action {
            Action::Buy => PriceTrade {
                action,
                amount_in: (new_reserve - reserve) / (1.0 - entry_tribute),
                amount_out: new_supply - supply,
            },
            _ => PriceTrade {
                action,
                amount_in: supply - new_supply,
                amount_out: (reserve - new_reserve) * (1.0 - exit_tribute),
            },
        })
    }
}

/// What one curve trade moved, for the caller's bookkeeping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct CurveTrade {
    pub fill: Fill,
    /// Reserve units that went into (buy) or out of (sell) the reserve.
    pub reserve_delta: f64,
    /// Reserve units traded (buys: paid; sells: released before tribute).
    pub volume: f64,
}

/// Settles a buy of `d` reserve units on a curve at `(supply, reserve)`:
/// debits the wallet, credits the tokens and the tribute. The caller moves
/// `reserve_delta` into its account and adds `fill.amount_out` to supply.
#[allow(clippy::too_many_arguments)] // the curve's state is the caller's
pub(crate) fn curve_buy(
    curve: &BancorCurve,
    supply: f64,
    reserve: f64,
    d: f64,
    entry_tribute: f64,
    (reserve_asset, token, treasury): (AssetId, AssetId, AccountId),
    ctx: &mut SettleCtx<'_>,
) -> Result<Option<CurveTrade>, &'static str> {
    let balance = ctx.wallet.get(reserve_asset);
    if !(d.is_finite() && d >= 0.0) || d > balance {
        return Err("insufficient reserve-asset balance");
    }
    if d == 0.0 {
        return Ok(None);
    }
    let tribute = entry_tribute * d;
    let deposit = d - tribute;
    let minted = curve.minted(supply, reserve, deposit).max(0.0);
    *ctx.wallet.get_mut(reserve_asset) = balance - d;
    *ctx.wallet.get_mut(token) += minted;
    *ctx.ledger.balance_mut(treasury, reserve_asset) += tribute;
    ctx.ledger.record_mint(token, minted);
    Ok(Some(CurveTrade {
        fill: Fill { amount_in: d, amount_out: minted, fee: tribute },
        reserve_delta: deposit,
        volume: d,
    }))
}

/// Settles a sell of `q` tokens on a curve at `(supply, reserve)`: burns
/// them from the wallet, pays the seller and the tribute. The caller takes
/// `reserve_delta` out of its account and `q` off its supply.
pub(crate) fn curve_sell(
    curve: &BancorCurve,
    supply: f64,
    reserve: f64,
    q: f64,
    exit_tribute: f64,
    (reserve_asset, token, treasury): (AssetId, AssetId, AccountId),
    ctx: &mut SettleCtx<'_>,
) -> Result<Option<CurveTrade>, &'static str> {
    let balance = ctx.wallet.get(token);
    if !(q.is_finite() && q >= 0.0) || q > balance {
        return Err("insufficient token balance");
    }
    if q >= supply {
        return Err("sell must leave some supply on the curve");
    }
    if q == 0.0 {
        return Ok(None);
    }
    let released = curve.returned(supply, reserve, q).clamp(0.0, reserve);
    let tribute = exit_tribute * released;
    *ctx.wallet.get_mut(token) = balance - q;
    *ctx.wallet.get_mut(reserve_asset) += released - tribute;
    *ctx.ledger.balance_mut(treasury, reserve_asset) += tribute;
    ctx.ledger.record_burn(token, q);
    Ok(Some(CurveTrade {
        fill: Fill { amount_in: q, amount_out: released - tribute, fee: tribute },
        reserve_delta: released,
        volume: released,
    }))
}

/// A live Bancor (constant reserve ratio) curve contract.
#[derive(Clone, Debug)]
pub struct Bancor {
    /// The curve shape and its anchor `(S0, R0)`.
    pub curve: BancorCurve,
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
    MetricDef::stock("price", "{reserve_asset}/{token}", "spot price R/(S·CRR)"),
    curve_metrics::N_TRADES,
    curve_metrics::VOLUME,
    curve_metrics::TRIBUTES,
];

impl Bancor {
    /// The reserve `R` (the contract's balance of the reserve asset).
    pub fn reserve(&self, ledger: &Ledger) -> f64 {
        ledger.balance(self.account, self.reserve_asset)
    }

    fn assets(&self) -> (AssetId, AssetId, AccountId) {
        (self.reserve_asset, self.token, self.treasury)
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
}

impl Contract for Bancor {
    fn accepts(&self) -> &'static [Action] {
        ACCEPTS
    }

    fn market(&self) -> Option<(AssetId, AssetId)> {
        Some((self.token, self.reserve_asset))
    }

    fn settle(&mut self, tx: &Tx, ctx: &mut SettleCtx<'_>) -> Settlement {
        let reserve = self.reserve(ctx.ledger);
        let trade = match tx.action {
            Action::Buy => {
                let d = tx.amount.resolve(ctx.wallet.get(self.reserve_asset));
                let t =
                    curve_buy(&self.curve, self.supply, reserve, d, self.entry_tribute, self.assets(), ctx);
                if let Ok(Some(t)) = &t {
                    *ctx.ledger.balance_mut(self.account, self.reserve_asset) += t.reserve_delta;
                    self.supply += t.fill.amount_out;
                }
                t
            }
            Action::Sell => {
                let q = tx.amount.resolve(ctx.wallet.get(self.token));
                let t =
                    curve_sell(&self.curve, self.supply, reserve, q, self.exit_tribute, self.assets(), ctx);
                if let Ok(Some(t)) = &t {
                    *ctx.ledger.balance_mut(self.account, self.reserve_asset) -= t.reserve_delta;
                    self.supply -= q;
                }
                t
            }
            _ => Err("bancor curves accept only buy and sell"),
        };
        self.record(trade)
    }

    fn begin_tick(&mut self, _tick: u32) {
        self.n_trades = 0;
        self.volume = 0.0;
        self.tributes = 0.0;
    }

    fn price(&self, ledger: &Ledger) -> Option<f64> {
        Some(self.reserve(ledger) / (self.supply * self.curve.reserve_ratio))
    }

    fn trade_to_price(&self, target: f64, ledger: &Ledger) -> Option<PriceTrade> {
        self.curve.trade_to_price(
            self.supply,
            self.reserve(ledger),
            target,
            self.entry_tribute,
            self.exit_tribute,
        )
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
        let reserve = self.reserve(ledger);
        out.set("supply", self.supply);
        out.set("reserve", reserve);
        out.set("price", reserve / (self.supply * self.curve.reserve_ratio));
        out.set("n_trades", self.n_trades as f64);
        out.set("volume", self.volume);
        out.set("tributes", self.tributes);
    }
}

/// Parameters of `kind = "bancor"`.
/// The `bancor` mechanism kind.
pub struct BancorKind;

const PARAMS: &[Param] = &[
    curve_params::RESERVE_ASSET,
    curve_params::TOKEN,
    Param::float("reserve_ratio", 1e-6, 1.0)
        .doc("CRR: reserve / (price·supply); 1 = constant price, 0.5 = linear price"),
    Param::positive_amount("initial_supply").doc("supply S0 issued at genesis to initial_holder"),
    Param::positive_amount("initial_reserve").doc("reserve R0 issued at genesis into the contract's account"),
    curve_params::INITIAL_HOLDER,
    curve_params::ENTRY_TRIBUTE,
    curve_params::EXIT_TRIBUTE,
    curve_params::TREASURY,
];

impl MechanismKind for BancorKind {
    fn name(&self) -> &'static str {
        "bancor"
    }

    fn summary(&self) -> &'static str {
        "Bancor curve with a constant reserve ratio: price = R/(S·CRR); mints on buy, burns on sell, tributes to a treasury."
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
        let account = ctx.account();
        let holder = ctx.account_param("initial_holder")?;
        let (supply0, reserve0) = (p.float("initial_supply"), p.float("initial_reserve"));
        ctx.issue(holder, token, supply0);
        ctx.issue(account, reserve_asset, reserve0);
        Ok(Box::new(Bancor {
            curve: BancorCurve { reserve_ratio: p.float("reserve_ratio"), supply0, reserve0 },
            supply: supply0,
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
    use crate::mechanisms::bonding_curve::PowerCurve;

    const DAI: AssetId = AssetId(0);
    const TKN: AssetId = AssetId(1);
    const S0: f64 = 1_000_000.0;
    const R0: f64 = 250_000.0;

    /// A curve (account 0) with treasury account 1, `S0` held by account 2.
    fn setup(crr: f64, f_in: f64, f_out: f64) -> (Bancor, Ledger) {
        let mut ledger = Ledger::default();
        for name in ["curve", "treasury", "hatch"] {
            ledger.accounts.push(Account { name: name.into(), balances: [0.0; MAX_SLOTS] });
        }
        ledger.issue(AccountId(2), TKN, S0);
        ledger.issue(AccountId(0), DAI, R0);
        let b = Bancor {
            curve: BancorCurve { reserve_ratio: crr, supply0: S0, reserve0: R0 },
            supply: S0,
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
        (b, ledger)
    }

    fn tx(action: Action, amount: f64) -> Tx {
        Tx { agent: AgentId(0), action, amount: Amount::Units(amount), target: None }
    }

    fn settle(b: &mut Bancor, ledger: &mut Ledger, wallet: &mut Wallet, t: Tx) -> Settlement {
        b.settle(&t, &mut SettleCtx { wallet, ledger, tick: 1 })
    }

    fn filled(s: Settlement) -> Fill {
        match s {
            Settlement::Filled(f) => f,
            other => panic!("expected a fill, got {other:?}"),
        }
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
    }

    fn identity_holds(b: &Bancor, ledger: &Ledger) -> bool {
        let mut v = Vec::new();
        let sums = [0.0; MAX_SLOTS];
        b.check(&CheckCtx { ledger, agent_sums: &sums, tick: 1 }, &mut v);
        v.is_empty()
    }

    #[test]
    fn buy_and_sell_match_the_bancor_formulas() {
        let (crr, f_in, f_out) = (0.3, 0.02, 0.04);
        let (mut b, mut ledger) = setup(crr, f_in, f_out);
        let mut w = WalletBuf::default();
        *w.get_mut(DAI) = 10_000.0;
        let fill = filled(settle(&mut b, &mut ledger, &mut w, tx(Action::Buy, 10_000.0)));
        // Independent: minted = S·((1 + d'/R)^CRR − 1) with plain powf.
        let d = 10_000.0 * (1.0 - f_in);
        let minted = S0 * ((1.0 + d / R0).powf(crr) - 1.0);
        assert!(close(fill.amount_out, minted, 1e-9), "{} vs {minted}", fill.amount_out);
        assert!(close(fill.fee, 200.0, 1e-12));
        assert!(close(ledger.balance(AccountId(1), DAI), 200.0, 1e-12));
        assert!(close(b.reserve(&ledger), R0 + d, 1e-12));
        assert!(identity_holds(&b, &ledger));

        let (s, r) = (b.supply, b.reserve(&ledger));
        let q = minted / 2.0;
        let fill = filled(settle(&mut b, &mut ledger, &mut w, tx(Action::Sell, q)));
        let released = r * (1.0 - (1.0 - q / s).powf(1.0 / crr));
        assert!(close(fill.amount_out, released * (1.0 - f_out), 1e-9));
        assert!(close(fill.fee, released * f_out, 1e-9));
        assert!(close(b.reserve(&ledger), r - released, 1e-12));
        assert!(close(w.get(TKN), minted - q, 1e-9));
        assert!(identity_holds(&b, &ledger));
        // Spot price R/(S·CRR).
        let p = b.price(&ledger).unwrap();
        assert!(close(p, (r - released) / ((s - q) * crr), 1e-12));
    }

    #[test]
    fn round_trip_returns_the_deposit_less_both_tributes() {
        for crr in [0.1, 0.5, 0.8, 1.0] {
            let (f_in, f_out) = (0.05, 0.03);
            let (mut b, mut ledger) = setup(crr, f_in, f_out);
            let mut w = WalletBuf::default();
            *w.get_mut(DAI) = 1000.0;
            let buy = filled(settle(&mut b, &mut ledger, &mut w, tx(Action::Buy, 1000.0)));
            filled(settle(&mut b, &mut ledger, &mut w, tx(Action::Sell, buy.amount_out)));
            let expected = 1000.0 * (1.0 - f_in) * (1.0 - f_out);
            assert!((w.get(DAI) - expected).abs() < 1e-6, "crr={crr}: got {} want {expected}", w.get(DAI));
            assert!(close(b.supply, S0, 1e-12));
            assert!(close(b.reserve(&ledger), R0, 1e-12));
        }
    }

    #[test]
    fn half_reserve_ratio_is_the_linear_power_curve() {
        // CRR = 1/2: R = R0·(S/S0)², i.e. PowerCurve k = 1, m = 2·R0/S0².
        let power = PowerCurve { exponent: 1.0, slope: 2.0 * R0 / (S0 * S0) };
        let (mut b, mut ledger) = setup(0.5, 0.0, 0.0);
        assert!(close(b.price(&ledger).unwrap(), power.price(S0), 1e-12));
        let mut w = WalletBuf::default();
        *w.get_mut(DAI) = 1e6;
        let mut reserve = R0;
        for d in [10.0, 5_000.0, 123_456.0] {
            let fill = filled(settle(&mut b, &mut ledger, &mut w, tx(Action::Buy, d)));
            let expected = power.supply_for(reserve + d) - power.supply_for(reserve);
            assert!(close(fill.amount_out, expected, 1e-9), "d={d}: {} vs {expected}", fill.amount_out);
            reserve += d;
            assert!(close(b.supply, power.supply_for(reserve), 1e-12));
            assert!(close(b.price(&ledger).unwrap(), power.price(b.supply), 1e-12));
        }
        let q = w.get(TKN) / 3.0;
        let fill = filled(settle(&mut b, &mut ledger, &mut w, tx(Action::Sell, q)));
        let expected = power.reserve_at(b.supply + q) - power.reserve_at(b.supply);
        assert!(close(fill.amount_out, expected, 1e-9));
    }

    #[test]
    fn trade_to_price_lands_on_the_target_net_of_tributes() {
        let (f_in, f_out) = (0.05, 0.1);
        let (mut b, mut ledger) = setup(0.4, f_in, f_out);
        let p0 = b.price(&ledger).unwrap(); // R0/(S0·0.4) = 0.625
        assert!(close(p0, 0.625, 1e-12));
        // Inside the band [p0/(1 − f_out)·…]: no trade.
        assert_eq!(b.trade_to_price(p0, &ledger), None);
        assert_eq!(b.trade_to_price(p0 / (1.0 - f_in) * 0.999, &ledger), None);

        let target = 1.0;
        let t = b.trade_to_price(target, &ledger).unwrap();
        assert_eq!(t.action, Action::Buy);
        let mut w = WalletBuf::default();
        *w.get_mut(DAI) = t.amount_in;
        let fill = filled(settle(&mut b, &mut ledger, &mut w, tx(Action::Buy, t.amount_in)));
        assert!(close(fill.amount_out, t.amount_out, 1e-9));
        assert!(close(b.price(&ledger).unwrap(), target * (1.0 - f_in), 1e-9));

        let target = 0.5;
        let t = b.trade_to_price(target, &ledger).unwrap();
        assert_eq!(t.action, Action::Sell);
        *w.get_mut(TKN) += t.amount_in; // it may need more than it bought
        let fill = filled(settle(&mut b, &mut ledger, &mut w, tx(Action::Sell, t.amount_in)));
        assert!(close(fill.amount_out, t.amount_out, 1e-9));
        assert!(close(b.price(&ledger).unwrap(), target / (1.0 - f_out), 1e-9));

        // A constant-price curve cannot be moved.
        let (b, ledger) = setup(1.0, 0.0, 0.0);
        assert_eq!(b.trade_to_price(2.0, &ledger), None);
    }

    #[test]
    fn bad_trades_are_rejected_without_side_effects() {
        let (mut b, mut ledger) = setup(0.5, 0.05, 0.05);
        let mut w = WalletBuf::default();
        *w.get_mut(DAI) = 10.0;
        *w.get_mut(TKN) = 2.0 * S0; // more than the supply (not possible in a world)
        let before = (b.supply, ledger.clone().accounts[0].balances, ledger.issued, w);
        for t in
            [tx(Action::Buy, 10.5), tx(Action::Sell, 3.0 * S0), tx(Action::Sell, S0), tx(Action::Stake, 1.0)]
        {
            assert!(matches!(settle(&mut b, &mut ledger, &mut w, t), Settlement::Rejected(_)), "{t:?}");
        }
        assert_eq!((b.supply, ledger.accounts[0].balances, ledger.issued, w), before);
        assert_eq!(settle(&mut b, &mut ledger, &mut w, tx(Action::Buy, 0.0)), Settlement::Skipped);
    }
}
