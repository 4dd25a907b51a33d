//! A Uniswap-v2-style constant-product pool (AMM) between a `base` asset
//! (ETH, TKN) and a `quote` asset (the numeraire, USDC), with liquidity
//! tokens (`lp_token`) minted and burnt by the pool.
//!
//! Reserves `x` (base) and `y` (quote) are the pool account's balances;
//! `price = y / x` quote per base. With fee `f` and `γ = 1 − f`:
//!
//! * **Swap** of `a` in for `out = r_out·γa / (r_in + γa)`: buy pays quote
//!   (`r_in = y, r_out = x`), sell pays base (`r_in = x, r_out = y`). The
//!   whole input, fee included, goes into the pool, so `k = x·y` grows by
//!   the fee and never falls: that growth is the liquidity providers' fee
//!   income.
//! * **Trade to a price** `T` (what an arbitrageur asks,
//!   [`ConstantProduct::input_to_ratio`]): a buy moves the pool until its
//!   marginal cost *including the fee* equals `T`, i.e. the post-trade price
//!   is `y'/x' = γT`; a sell until its marginal proceeds net of the fee
//!   equal `T`, i.e. `y'/x' = T/γ`. Inside the fee band `γT ≤ y/x ≤ T/γ`
//!   there is no profitable trade. The input `a` solves
//!   `(r_in + a)(r_in + γa) = γ·t·r_in·r_out` (`t = T` for a buy, `1/T` for
//!   a sell), a quadratic with the stable root
//!   `a = 2·r_in·(γ·t·r_out − r_in) / (r_in(1+γ) + √(r_in²(1−γ)² + 4γ²·t·r_in·r_out))`.
//! * **Deposit** of `dq` quote takes `db = dq·x/y` base (the current ratio,
//!   so the price does not move) and mints `L·dq/y` LP tokens, `L` the LP
//!   supply. If the wallet holds less base than `db`, the deposit shrinks to
//!   what its base allows: `db = base balance`, `dq = db·y/x`.
//! * **Redeem** of `l` LP tokens burns them and pays `x·l/L` base and
//!   `y·l/L` quote.
//!
//! At genesis the pool holds `initial_base` and `initial_quote`, and
//! `√(x₀·y₀)` LP tokens go to `initial_holder`.
//!
//! With a `valuation` contract (a price feed `P`), it also reports the value
//! of one LP token `(x·P + y)/L`, the value of what one LP token held at
//! genesis `(x₀·P + y₀)/L₀` (holding instead of providing), their ratio
//! minus one (`impermanent_loss`, fees included: above 0 the fees beat the
//! loss) and `tracking_error = (y/x)/P − 1`. `P` is the valuation's price
//! published at the start of the tick. The pool is the only issuer
//! of `lp_token`: populations must not start with it (the `lp_supply`
//! invariant would report it).
//!
//! Invariants checked every tick: the reserves equal the pool account's
//! balances; no swap decreased `x·y` (beyond 1e-12 relative, `k_decrease`);
//! the value backing one LP token, `√(x·y)/L`, did not fall since the start
//! of the tick (`lp_share_decrease`); the LP supply equals the ledger's
//! issuance of `lp_token` (`lp_supply`).

use crate::engine::builder::ContractBuilder;
use crate::engine::contract::*;
use crate::engine::ids::{AccountId, AssetId, ContractId};
use crate::engine::intent::Action;
use crate::engine::ledger::Ledger;
use crate::engine::params::{Need, Param, Way};
use crate::engine::registry::MechanismKind;
use crate::error::ScenarioError;

/// Constant-product swap math with the fee kept in the pool, independent of
/// any world: use it to reason about or test the mechanism.
///
/// ```
/// use tokensim::mechanisms::amm::ConstantProduct;
/// let cp = ConstantProduct { fee: 0.003 };
/// // 1,000 ETH and 2,000,000 USDC: price 2,000 USDC/ETH.
/// let (x, y) = (1_000.0, 2_000_000.0);
/// // Buying with 20,000 USDC yields a bit less than 10 ETH (slippage, fee).
/// let out = cp.amount_out(y, x, 20_000.0);
/// assert!((out - 1_000.0 * 0.997 * 20_000.0 / (2_000_000.0 + 0.997 * 20_000.0)).abs() < 1e-12);
/// // The buy that lifts the marginal cost (price / γ) to 2,100 USDC/ETH:
/// let a = cp.input_to_ratio(y, x, 2_100.0).unwrap();
/// let (x2, y2) = (x - cp.amount_out(y, x, a), y + a);
/// assert!(((y2 / x2) / 0.997 - 2_100.0).abs() < 1e-6);
/// // A target inside the fee band asks for no trade.
/// assert_eq!(cp.input_to_ratio(y, x, 2_001.0), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConstantProduct {
    /// Fee `f` in `[0, 1)`, taken from the input and left in the pool.
    pub fee: f64,
}

impl ConstantProduct {
    /// `γ = 1 − f`, the part of an input that trades.
    #[inline]
    pub fn gamma(&self) -> f64 {
        1.0 - self.fee
    }

    /// Output of a swap of `amount_in` against reserves `r_in` (of the
    /// asset paid) and `r_out` (of the asset received):
    /// `r_out·γa / (r_in + γa)`.
    #[inline]
    pub fn amount_out(&self, r_in: f64, r_out: f64, amount_in: f64) -> f64 {
        let a = self.gamma() * amount_in;
        r_out * a / (r_in + a)
    }

    /// [`amount_out`](Self::amount_out), lowered by as many units in the
    /// last place as it takes for `(r_in + amount_in)·(r_out − out)` as
    /// computed to stay at or above `r_in·r_out`: rounding never lowers
    /// `x·y`, even in a swap that nearly drains a pool (where `r_out − out`
    /// is tiny next to `r_out`). Usually it is `amount_out` itself, since
    /// the fee raises `x·y` by far more than rounding.
    pub fn settled_out(&self, r_in: f64, r_out: f64, amount_in: f64) -> f64 {
        let k = r_in * r_out;
        let r_in_after = r_in + amount_in;
        let mut out = self.amount_out(r_in, r_out, amount_in);
        for _ in 0..64 {
            if out <= 0.0 || r_in_after * (r_out - out) >= k {
                return out.max(0.0);
            }
            out = out.next_down();
        }
        // Far from the exact value: fall back to the reserve left.
        let left = r_out * (r_in / (r_in + self.gamma() * amount_in));
        let mut out = r_out - left;
        while out > 0.0 && r_out - out < left {
            out = out.next_down();
        }
        out.max(0.0)
    }

    /// The input `a` after which `r_in'/r_out' = γ·t`, where `r_in' = r_in
    /// + a` and `r_out' = r_out − amount_out(a)`: the trade that brings the
    /// marginal rate, fee included, to `t` units of the input asset per unit
    /// of the output asset. `None` when no positive input does (already at
    /// or beyond it: the fee band) or `t` is not a positive number.
    ///
    /// For a buy pass `(y, x, T)`; for a sell `(x, y, 1/T)`.
    pub fn input_to_ratio(&self, r_in: f64, r_out: f64, t: f64) -> Option<f64> {
        let g = self.gamma();
        if !(t.is_finite() && t > 0.0 && r_in > 0.0 && r_out > 0.0) {
            return None;
        }
        let gap = g * t * r_out - r_in;
        if gap <= 0.0 {
            return None;
        }
        let root = (r_in * r_in * (1.0 - g) * (1.0 - g) + 4.0 * g * g * t * r_in * r_out).sqrt();
        let a = 2.0 * r_in * gap / (r_in * (1.0 + g) + root);
        (a.is_finite() && a > 0.0).then_some(a)
    }
}

/// A live constant-product pool.
#[derive(Clone, Debug)]
pub struct Amm {
    /// The swap math (fee).
    pub curve: ConstantProduct,
    base: AssetId,
    quote: AssetId,
    lp_token: AssetId,
    account: AccountId,
    reserve_base: f64,
    reserve_quote: f64,
    lp_supply: f64,
    valuation: Option<ContractId>,
    valuation_price: f64,
    /// Base and quote one LP token was backed by at genesis.
    genesis_per_lp: (f64, f64),
    /// `√(x·y)/L` at the start of the tick.
    share_at_start: f64,
    k_decreases: u64,
    volume_quote: f64,
    fees_quote: f64,
    n_swaps: u64,
}

const ACCEPTS: &[Action] = &[Action::Buy, Action::Sell, Action::Deposit, Action::Redeem];

/// Relative fall of `x·y` across one swap tolerated as rounding.
const K_TOLERANCE: f64 = 1e-12;

macro_rules! base_metrics {
    () => {
        [
            MetricDef::stock("price", "{quote}/{base}", "spot price y/x, quote per base"),
            MetricDef::stock("reserve_base", "{base}", "base reserve x"),
            MetricDef::stock("reserve_quote", "{quote}", "quote reserve y"),
            MetricDef::stock("k", "{base}·{quote}", "invariant x·y (grows by fees)"),
            MetricDef::stock("lp_supply", "{lp_token}", "LP tokens outstanding"),
            MetricDef::flow(
                "volume_quote",
                "{quote}",
                "quote side of the swaps this tick (paid in by buys, paid out to sells)",
            )
            .at(Timing::Settle),
            MetricDef::flow(
                "fees_quote",
                "{quote}",
                "fees left in the pool this tick, in quote (sell fees valued at the pre-trade price)",
            )
            .at(Timing::Settle),
            MetricDef::flow("n_swaps", "count", "buys and sells settled this tick")
                .count()
                .at(Timing::Settle),
        ]
    };
}

const METRICS: &[MetricDef] = &base_metrics!();

const METRICS_VALUED: &[MetricDef] = &{
    let base = base_metrics!();
    [
        base[0],
        base[1],
        base[2],
        base[3],
        base[4],
        base[5],
        base[6],
        base[7],
        MetricDef::stock(
            "lp_share_value",
            "{quote}/{lp_token}",
            "quote value of one LP token's base and quote (end-of-tick reserves) at the valuation price taken at Observe",
        ),
        MetricDef::stock(
            "hold_share_value",
            "{quote}/{lp_token}",
            "quote value, at the valuation price taken at Observe, of the base and quote one LP token held at genesis",
        ),
        MetricDef::stock(
            "impermanent_loss",
            "1",
            "lp_share_value / hold_share_value − 1, fees included (> 0: providing beat holding)",
        ),
        MetricDef::stock(
            "tracking_error",
            "1",
            "end-of-tick price / valuation price taken at Observe − 1 (how far arbitrage left the pool)",
        ),
    ]
};

impl Amm {
    /// The asset traded (priced in quote).
    pub fn base(&self) -> AssetId {
        self.base
    }

    /// The numeraire asset.
    pub fn quote(&self) -> AssetId {
        self.quote
    }

    /// The liquidity token this pool mints and burns.
    pub fn lp_token(&self) -> AssetId {
        self.lp_token
    }

    /// Reserves `(x, y)`: base and quote held by the pool.
    pub fn reserves(&self) -> (f64, f64) {
        (self.reserve_base, self.reserve_quote)
    }

    /// LP tokens outstanding.
    pub fn lp_supply(&self) -> f64 {
        self.lp_supply
    }

    /// Spot price `y/x`.
    pub fn spot(&self) -> f64 {
        self.reserve_quote / self.reserve_base
    }

    /// Moves the reserves by `(d_base, d_quote)` in both the contract's
    /// record and its ledger account.
    fn move_reserves(&mut self, ledger: &mut Ledger, d_base: f64, d_quote: f64) {
        self.reserve_base += d_base;
        self.reserve_quote += d_quote;
        *ledger.balance_mut(self.account, self.base) += d_base;
        *ledger.balance_mut(self.account, self.quote) += d_quote;
    }

    /// A swap paying `a` of `pay` for `receive`; `buy` when paying quote.
    fn swap(&mut self, buy: bool, a: f64, ctx: &mut SettleCtx<'_>) -> Settlement {
        let (pay, receive) = if buy { (self.quote, self.base) } else { (self.base, self.quote) };
        let balance = ctx.wallet.get(pay);
        if !(a.is_finite() && a >= 0.0) || a > balance {
            return Settlement::Rejected(if buy {
                "insufficient quote balance"
            } else {
                "insufficient base balance"
            });
        }
        if a == 0.0 {
            return Settlement::Skipped;
        }
        let (x, y) = (self.reserve_base, self.reserve_quote);
        let (r_in, r_out) = if buy { (y, x) } else { (x, y) };
        let out = self.curve.settled_out(r_in, r_out, a);
        if !(out.is_finite() && out < r_out) {
            return Settlement::Rejected("trade would drain the pool");
        }
        let k_before = x * y;
        let fee = self.curve.fee * a;
        *ctx.wallet.get_mut(pay) = balance - a;
        *ctx.wallet.get_mut(receive) += out;
        if buy {
            self.move_reserves(ctx.ledger, -out, a);
            self.volume_quote += a;
            self.fees_quote += fee;
        } else {
            self.move_reserves(ctx.ledger, a, -out);
            self.volume_quote += out;
            self.fees_quote += fee * y / x;
        }
        if self.reserve_base * self.reserve_quote < k_before * (1.0 - K_TOLERANCE) {
            self.k_decreases += 1;
        }
        self.n_swaps += 1;
        Settlement::Filled(Fill { amount_in: a, amount_out: out, fee })
    }

    /// Adds liquidity: `dq` quote and base in the pool's ratio.
    fn deposit(&mut self, dq: f64, ctx: &mut SettleCtx<'_>) -> Settlement {
        let quote_balance = ctx.wallet.get(self.quote);
        if !(dq.is_finite() && dq >= 0.0) || dq > quote_balance {
            return Settlement::Rejected("insufficient quote balance");
        }
        if dq == 0.0 {
            return Settlement::Skipped;
        }
        let (x, y, l) = (self.reserve_base, self.reserve_quote, self.lp_supply);
        if !(x > 0.0 && y > 0.0 && l > 0.0) {
            return Settlement::Rejected("pool is empty");
        }
        let base_balance = ctx.wallet.get(self.base);
        let (mut dq, mut db) = (dq, dq * x / y);
        if db > base_balance {
            db = base_balance;
            dq = db * y / x;
        }
        if !(dq > 0.0 && db > 0.0) {
            return Settlement::Rejected("no base to pair with the quote");
        }
        let minted = l * dq / y;
        *ctx.wallet.get_mut(self.quote) = quote_balance - dq;
        *ctx.wallet.get_mut(self.base) = base_balance - db;
        *ctx.wallet.get_mut(self.lp_token) += minted;
        ctx.ledger.record_mint(self.lp_token, minted);
        self.lp_supply += minted;
        self.move_reserves(ctx.ledger, db, dq);
        Settlement::Filled(Fill { amount_in: dq, amount_out: minted, fee: 0.0 })
    }

    /// Removes liquidity: burns `l` LP tokens for their share of reserves.
    fn redeem(&mut self, l: f64, ctx: &mut SettleCtx<'_>) -> Settlement {
        let balance = ctx.wallet.get(self.lp_token);
        if !(l.is_finite() && l >= 0.0) || l > balance {
            return Settlement::Rejected("insufficient LP token balance");
        }
        if l == 0.0 {
            return Settlement::Skipped;
        }
        if l >= self.lp_supply {
            return Settlement::Rejected("redeeming every LP token would empty the pool");
        }
        let share = l / self.lp_supply;
        let (ob, oq) = (self.reserve_base * share, self.reserve_quote * share);
        *ctx.wallet.get_mut(self.lp_token) = balance - l;
        *ctx.wallet.get_mut(self.base) += ob;
        *ctx.wallet.get_mut(self.quote) += oq;
        ctx.ledger.record_burn(self.lp_token, l);
        self.lp_supply -= l;
        self.move_reserves(ctx.ledger, -ob, -oq);
        Settlement::Filled(Fill { amount_in: l, amount_out: oq, fee: 0.0 })
    }

    /// `√(x·y)/L`: reserves backing one LP token (geometric mean).
    fn share(&self) -> f64 {
        (self.reserve_base * self.reserve_quote).sqrt() / self.lp_supply
    }
}

impl Contract for Amm {
    fn accepts(&self) -> &'static [Action] {
        ACCEPTS
    }

    fn market(&self) -> Option<(AssetId, AssetId)> {
        Some((self.base, self.quote))
    }

    fn share_token(&self) -> Option<AssetId> {
        Some(self.lp_token)
    }

    /// Buy: `amount` is quote paid (units or fraction of the quote balance),
    /// `amount_out` base received. Sell: base paid, quote received.
    /// Deposit: `amount` is quote (units or fraction of the quote balance);
    /// the fill's `amount_in` is the quote actually deposited (base taken:
    /// `amount_in / price`), `amount_out` the LP tokens minted. Redeem:
    /// `amount` is LP tokens; `amount_out` is the quote received (base
    /// received: `amount_out / price`).
    fn settle(&mut self, tx: &Tx, ctx: &mut SettleCtx<'_>) -> Settlement {
        match tx.action {
            Action::Buy => self.swap(true, tx.amount.resolve(ctx.wallet.get(self.quote)), ctx),
            Action::Sell => self.swap(false, tx.amount.resolve(ctx.wallet.get(self.base)), ctx),
            Action::Deposit => self.deposit(tx.amount.resolve(ctx.wallet.get(self.quote)), ctx),
            Action::Redeem => self.redeem(tx.amount.resolve(ctx.wallet.get(self.lp_token)), ctx),
            _ => Settlement::Rejected("AMM pools accept only buy, sell, deposit and redeem"),
        }
    }

    fn begin_tick(&mut self, _tick: u32) {
        self.k_decreases = 0;
        self.volume_quote = 0.0;
        self.fees_quote = 0.0;
        self.n_swaps = 0;
    }

    fn price(&self, _ledger: &Ledger) -> Option<f64> {
        Some(self.spot())
    }

    /// A buy when `price/γ < target` (input: quote), a sell when
    /// `price·γ > target` (input: base); see the module doc.
    fn trade_to_price(&self, target: f64, _ledger: &Ledger) -> Option<PriceTrade> {
        let (x, y) = (self.reserve_base, self.reserve_quote);
        if !(target.is_finite() && target > 0.0) {
            return None;
        }
        if let Some(a) = self.curve.input_to_ratio(y, x, target) {
            return Some(PriceTrade {
                action: Action::Buy,
                amount_in: a,
                amount_out: self.curve.settled_out(y, x, a),
            });
        }
        let s = self.curve.input_to_ratio(x, y, 1.0 / target)?;
        Some(PriceTrade { action: Action::Sell, amount_in: s, amount_out: self.curve.settled_out(x, y, s) })
    }

    fn observe(&mut self, ctx: &ObserveCtx<'_>) {
        if let Some(v) = self.valuation {
            self.valuation_price = ctx.prices.get(v);
        }
        self.share_at_start = self.share();
    }

    fn check(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Violation>) {
        let mut report = |invariant: &str, expected: f64, actual: f64| {
            out.push(Violation { source: String::new(), invariant: invariant.into(), expected, actual });
        };
        for (name, asset, reserve) in [
            ("reserve_base", self.base, self.reserve_base),
            ("reserve_quote", self.quote, self.reserve_quote),
        ] {
            let held = ctx.ledger.balance(self.account, asset);
            if !within_tolerance(held, reserve) {
                report(name, held, reserve);
            }
        }
        if self.k_decreases > 0 {
            report("k_decrease", 0.0, self.k_decreases as f64);
        }
        let share = self.share();
        let floor = self.share_at_start * (1.0 - TOLERANCE);
        if self.share_at_start.is_finite() && (share.is_nan() || share < floor) {
            report("lp_share_decrease", self.share_at_start, share);
        }
        let issued = ctx.ledger.issued[self.lp_token.0 as usize];
        if !within_tolerance(issued, self.lp_supply) {
            report("lp_supply", issued, self.lp_supply);
        }
    }

    fn metrics(&self) -> &'static [MetricDef] {
        if self.valuation.is_some() { METRICS_VALUED } else { METRICS }
    }

    fn measure(&self, _ledger: &Ledger, out: &mut Measure<'_>) {
        let (x, y) = (self.reserve_base, self.reserve_quote);
        out.set("price", self.spot());
        out.set("reserve_base", x);
        out.set("reserve_quote", y);
        out.set("k", x * y);
        out.set("lp_supply", self.lp_supply);
        out.set("volume_quote", self.volume_quote);
        out.set("fees_quote", self.fees_quote);
        out.set("n_swaps", self.n_swaps as f64);
        if self.valuation.is_some() {
            let p = self.valuation_price;
            let lp = (x * p + y) / self.lp_supply;
            let hold = self.genesis_per_lp.0 * p + self.genesis_per_lp.1;
            out.set("lp_share_value", lp);
            out.set("hold_share_value", hold);
            // A valuation price of 0 (a curve with no supply yet) leaves
            // both ratios undefined: they read 0 until there is a price.
            let ratio = |a: f64, b: f64| if b > 0.0 && (a / b).is_finite() { a / b - 1.0 } else { 0.0 };
            out.set("impermanent_loss", ratio(lp, hold));
            out.set("tracking_error", ratio(y / x, p));
        }
    }
}

/// Parameters of `kind = "amm"`.
/// The `amm` mechanism kind.
pub struct AmmKind;

const PARAMS: &[Param] = &[
    Param::asset("base").doc("asset traded (x), priced in quote"),
    Param::asset("quote").doc("numeraire asset (y)"),
    Param::asset("lp_token")
        .doc("asset minted to liquidity providers and burnt on redeem; the pool is its only issuer"),
    Param::float("fee", 0.0, 1.0)
        .open_high()
        .default_float(0.003)
        .doc("fraction of each swap's input left in the pool for liquidity providers"),
    Param::positive_amount("initial_base").doc("base reserve x0 created in the pool at genesis"),
    Param::positive_amount("initial_quote")
        .doc("quote reserve y0 created in the pool at genesis (initial price y0/x0)"),
    Param::account("initial_holder", Need::HOLDER)
        .moves(Way::Forward, "initial LP tokens", "lp_token")
        .default_str("genesis_lp")
        .doc("account that receives the initial sqrt(x0·y0) LP tokens"),
    Param::contract("valuation", Need::PRICED).moves(Way::Reads, "price", "").optional("none").doc(
        "contract whose price values LP vs holding (e.g. a price_feed); adds lp_share_value, hold_share_value, impermanent_loss, tracking_error",
    ),
];

impl MechanismKind for AmmKind {
    fn name(&self) -> &'static str {
        "amm"
    }

    fn summary(&self) -> &'static str {
        "Uniswap-v2-style constant-product pool x·y = k with a swap fee kept in the pool and LP tokens."
    }

    fn params(&self) -> &'static [Param] {
        PARAMS
    }

    fn metrics(&self) -> &'static [MetricDef] {
        METRICS_VALUED
    }

    fn build(&self, ctx: &mut ContractBuilder<'_>) -> Result<Box<dyn Contract>, ScenarioError> {
        let p = ctx.params();
        let base = ctx.asset_param("base")?;
        let quote = ctx.asset_param("quote")?;
        let lp_token = ctx.asset_param("lp_token")?;
        if quote == base {
            return Err(ctx.invalid("quote", "must differ from base"));
        }
        if lp_token == base || lp_token == quote {
            return Err(ctx.invalid(
                "lp_token",
                "must be an asset of its own (the pool mints and burns it), not base or quote",
            ));
        }
        let valuation = ctx.opt_contract_param("valuation")?;
        let account = ctx.account();
        let (x0, y0) = (p.float("initial_base"), p.float("initial_quote"));
        let l0 = (x0 * y0).sqrt();
        if !(l0.is_finite() && l0 > 0.0) {
            return Err(
                ctx.invalid("initial_quote", "initial_base·initial_quote must be a finite positive number")
            );
        }
        let holder = ctx.account_param("initial_holder")?;
        ctx.issue(account, base, x0);
        ctx.issue(account, quote, y0);
        ctx.issue(holder, lp_token, l0);
        Ok(Box::new(Amm {
            curve: ConstantProduct { fee: p.float("fee") },
            base,
            quote,
            lp_token,
            account,
            reserve_base: x0,
            reserve_quote: y0,
            lp_supply: l0,
            valuation,
            valuation_price: f64::NAN,
            genesis_per_lp: (x0 / l0, y0 / l0),
            share_at_start: f64::NAN,
            k_decreases: 0,
            volume_quote: 0.0,
            fees_quote: 0.0,
            n_swaps: 0,
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

    const ETH: AssetId = AssetId(0);
    const USDC: AssetId = AssetId(1);
    const LP: AssetId = AssetId(2);
    const POOL: AccountId = AccountId(0);
    const X0: f64 = 1_000.0;
    const Y0: f64 = 2_000_000.0;

    /// A pool (account 0) of 1,000 ETH and 2,000,000 USDC whose initial
    /// LP tokens sit in account 1.
    fn setup(fee: f64) -> (Amm, Ledger) {
        let mut ledger = Ledger::default();
        for name in ["pool", "genesis_lp"] {
            ledger.accounts.push(Account { name: name.into(), balances: [0.0; MAX_SLOTS] });
        }
        ledger.issue(POOL, ETH, X0);
        ledger.issue(POOL, USDC, Y0);
        let l0 = (X0 * Y0).sqrt();
        ledger.issue(AccountId(1), LP, l0);
        let amm = Amm {
            curve: ConstantProduct { fee },
            base: ETH,
            quote: USDC,
            lp_token: LP,
            account: POOL,
            reserve_base: X0,
            reserve_quote: Y0,
            lp_supply: l0,
            valuation: None,
            valuation_price: f64::NAN,
            genesis_per_lp: (X0 / l0, Y0 / l0),
            share_at_start: f64::NAN,
            k_decreases: 0,
            volume_quote: 0.0,
            fees_quote: 0.0,
            n_swaps: 0,
        };
        (amm, ledger)
    }

    fn wallet(eth: f64, usdc: f64, lp: f64) -> WalletBuf {
        let mut w = WalletBuf::default();
        *w.get_mut(ETH) = eth;
        *w.get_mut(USDC) = usdc;
        *w.get_mut(LP) = lp;
        w
    }

    fn settle(
        amm: &mut Amm,
        ledger: &mut Ledger,
        w: &mut Wallet,
        action: Action,
        amount: Amount,
    ) -> Settlement {
        let tx = Tx { agent: AgentId(0), action, amount, target: None };
        amm.settle(&tx, &mut SettleCtx { wallet: w, ledger, tick: 1 })
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

    fn violations(amm: &Amm, ledger: &Ledger) -> Vec<Violation> {
        let mut out = Vec::new();
        amm.check(&CheckCtx { ledger, agent_sums: &[0.0; MAX_SLOTS], tick: 1 }, &mut out);
        out
    }

    /// Observe with no prices: records the start-of-tick LP share value.
    fn start_tick(amm: &mut Amm, ledger: &Ledger) {
        amm.begin_tick(1);
        amm.observe(&ObserveCtx { ledger, prices: &Prices::default(), tick: 1 });
    }

    #[test]
    fn swaps_pay_what_the_invariant_leaves() {
        for fee in [0.0, 0.003, 0.01] {
            let (mut amm, mut ledger) = setup(fee);
            let mut w = wallet(10.0, 50_000.0, 0.0);
            // Buy: the pool keeps x·y = k on the input net of the fee,
            // x' = k / (y + (1 − f)·a), and keeps the fee too.
            let a = 30_000.0;
            let fill = filled(settle(&mut amm, &mut ledger, &mut w, Action::Buy, Amount::Units(a)));
            let x1 = X0 * Y0 / (Y0 + (1.0 - fee) * a);
            assert!(close(fill.amount_out, X0 - x1, 1e-12), "fee {fee}: {} vs {}", fill.amount_out, X0 - x1);
            assert!(close(fill.fee, fee * a, 1e-15));
            assert_eq!(ledger.balance(POOL, USDC), Y0 + a);
            assert!(close(ledger.balance(POOL, ETH), x1, 1e-12));
            assert_eq!(w.get(USDC), 20_000.0);
            assert!(close(w.get(ETH), 10.0 + X0 - x1, 1e-12));
            // Sell half the base held, as a fraction.
            let (x, y) = amm.reserves();
            let s = w.get(ETH) / 2.0;
            let fill = filled(settle(&mut amm, &mut ledger, &mut w, Action::Sell, Amount::Fraction(0.5)));
            let y2 = x * y / (x + (1.0 - fee) * s);
            assert_eq!(fill.amount_in, s);
            assert!(close(fill.amount_out, y - y2, 1e-12));
            assert!(close(amm.reserves().0, x + s, 1e-15));
            assert_eq!(amm.n_swaps, 2);
            assert!(violations(&amm, &ledger).is_empty());
        }
    }

    #[test]
    fn k_never_decreases_and_grows_by_fees() {
        for fee in [0.0, 0.003, 0.05] {
            let (mut amm, mut ledger) = setup(fee);
            let mut w = wallet(500.0, 1_000_000.0, 0.0);
            start_tick(&mut amm, &ledger);
            let mut k = X0 * Y0;
            let mut state = 12345u64;
            for i in 0..400 {
                // A cheap deterministic sequence of fractions in (0, 0.5).
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let f = ((state >> 11) as f64 / (1u64 << 53) as f64) * 0.5;
                let action = if i % 2 == 0 { Action::Buy } else { Action::Sell };
                filled(settle(&mut amm, &mut ledger, &mut w, action, Amount::Fraction(f.max(1e-6))));
                let (x, y) = amm.reserves();
                assert!(x * y >= k * (1.0 - 1e-12), "fee {fee}, swap {i}: k fell from {k} to {}", x * y);
                if fee > 0.0 {
                    assert!(x * y > k, "fee {fee}, swap {i}: a fee must grow k");
                }
                k = x * y;
            }
            assert_eq!(amm.k_decreases, 0);
            assert!(violations(&amm, &ledger).is_empty(), "{:?}", violations(&amm, &ledger));
        }
    }

    #[test]
    fn deposit_and_redeem_are_pro_rata() {
        let (mut amm, mut ledger) = setup(0.003);
        let l0 = (X0 * Y0).sqrt();
        start_tick(&mut amm, &ledger);
        // Enough base: 20,000 USDC takes 10 ETH at price 2,000, mints L·1%.
        let mut w = wallet(50.0, 20_000.0, 0.0);
        let fill = filled(settle(&mut amm, &mut ledger, &mut w, Action::Deposit, Amount::Fraction(1.0)));
        assert_eq!(fill.amount_in, 20_000.0);
        assert!(close(w.get(ETH), 40.0, 1e-12));
        assert!(close(fill.amount_out, 0.01 * l0, 1e-12));
        assert!(close(w.get(LP), 0.01 * l0, 1e-12));
        assert!(close(amm.spot(), 2_000.0, 1e-12));
        assert!(close(ledger.issued[LP.0 as usize], 1.01 * l0, 1e-12));
        // Short of base: 100,000 USDC would need 50 ETH; 5 ETH allow
        // only 10,000 USDC (at the pool's 2,000 USDC/ETH), minting L·(10,000/y).
        let mut v = wallet(5.0, 100_000.0, 0.0);
        let (x, y) = amm.reserves();
        let l = amm.lp_supply();
        let fill = filled(settle(&mut amm, &mut ledger, &mut v, Action::Deposit, Amount::Units(100_000.0)));
        let dq = 5.0 * y / x;
        assert!(close(fill.amount_in, dq, 1e-12));
        assert!(close(fill.amount_out, l * dq / y, 1e-12));
        assert_eq!(v.get(ETH), 0.0);
        assert!(close(v.get(USDC), 100_000.0 - dq, 1e-12));
        // Redeem half of w's LP tokens: half of its share of each reserve.
        let (x, y) = amm.reserves();
        let l = amm.lp_supply();
        let burn = w.get(LP) / 2.0;
        let (eth0, usdc0) = (w.get(ETH), w.get(USDC));
        let fill = filled(settle(&mut amm, &mut ledger, &mut w, Action::Redeem, Amount::Fraction(0.5)));
        assert_eq!(fill.amount_in, burn);
        assert!(close(w.get(ETH) - eth0, x * burn / l, 1e-12));
        assert!(close(w.get(USDC) - usdc0, y * burn / l, 1e-12));
        assert!(close(fill.amount_out, y * burn / l, 1e-12));
        assert!(close(amm.lp_supply(), l - burn, 1e-15));
        assert!(close(amm.spot(), 2_000.0, 1e-12));
        // Each LP token is still backed by what it was at genesis (no swaps).
        assert!(close(amm.share(), 1.0, 1e-12));
        assert!(violations(&amm, &ledger).is_empty(), "{:?}", violations(&amm, &ledger));
    }

    #[test]
    fn trade_to_price_lands_on_the_target_net_of_the_fee() {
        for fee in [0.0, 0.003, 0.01] {
            let g = 1.0 - fee;
            for target in [1_500.0, 1_900.0, 1_990.0, 2_010.0, 2_100.0, 3_000.0] {
                let (mut amm, mut ledger) = setup(fee);
                let Some(t) = amm.trade_to_price(target, &ledger) else {
                    // Only a target inside the fee band asks for no trade.
                    assert!(2_000.0 * g <= target && target <= 2_000.0 / g, "fee {fee}, target {target}");
                    continue;
                };
                let mut w = wallet(1e6, 1e9, 0.0);
                let fill =
                    filled(settle(&mut amm, &mut ledger, &mut w, t.action, Amount::Units(t.amount_in)));
                assert_eq!(fill.amount_out, t.amount_out, "the quote is exact");
                // Marginal cost of a buy is price/γ; proceeds of a sell price·γ.
                let marginal = match t.action {
                    Action::Buy => {
                        assert!(target > 2_000.0 / g);
                        amm.spot() / g
                    }
                    Action::Sell => {
                        assert!(target < 2_000.0 * g);
                        amm.spot() * g
                    }
                    other => panic!("{other:?}"),
                };
                assert!(close(marginal, target, 1e-9), "fee {fee}: landed at {marginal}, target {target}");
                assert!(amm.trade_to_price(target, &ledger).is_none_or(|t| t.amount_in < 1e-9 * Y0));
            }
        }
        let (amm, ledger) = setup(0.003);
        assert_eq!(amm.trade_to_price(1_999.0, &ledger), None);
        assert_eq!(amm.trade_to_price(2_005.0, &ledger), None);
        assert_eq!(amm.trade_to_price(f64::NAN, &ledger), None);
        assert_eq!(amm.trade_to_price(-1.0, &ledger), None);
    }

    #[test]
    fn trade_to_price_without_fee_is_the_textbook_root() {
        // f = 0: a buy to price T pays √(T·k) − y.
        let (amm, ledger) = setup(0.0);
        let t = amm.trade_to_price(2_420.0, &ledger).unwrap();
        assert_eq!(t.action, Action::Buy);
        assert!(close(t.amount_in, (2_420.0 * X0 * Y0).sqrt() - Y0, 1e-12));
        let t = amm.trade_to_price(1_620.0, &ledger).unwrap();
        assert_eq!(t.action, Action::Sell);
        assert!(close(t.amount_in, (X0 * Y0 / 1_620.0).sqrt() - X0, 1e-12));
    }

    #[test]
    fn rejections_leave_balances_untouched() {
        let (mut amm, mut ledger) = setup(0.003);
        let l0 = amm.lp_supply();
        let mut w = wallet(1.0, 1_000.0, 0.0);
        let before = (amm.reserves(), amm.lp_supply(), ledger.accounts.clone(), ledger.issued, w);
        let cases = [
            (Action::Buy, Amount::Units(1_000.5)),
            (Action::Buy, Amount::Units(-1.0)),
            (Action::Buy, Amount::Units(f64::NAN)),
            (Action::Sell, Amount::Units(1.5)),
            (Action::Deposit, Amount::Units(2_000.0)),
            (Action::Redeem, Amount::Units(1.0)),
            (Action::Stake, Amount::Units(1.0)),
        ];
        for (action, amount) in cases {
            let s = settle(&mut amm, &mut ledger, &mut w, action, amount);
            assert!(matches!(s, Settlement::Rejected(_)), "{action:?} {amount:?}: {s:?}");
        }
        // No base to pair a deposit with.
        let mut no_base = wallet(0.0, 1_000.0, 0.0);
        let s = settle(&mut amm, &mut ledger, &mut no_base, Action::Deposit, Amount::Fraction(1.0));
        assert!(matches!(s, Settlement::Rejected(_)), "{s:?}");
        assert_eq!(no_base, wallet(0.0, 1_000.0, 0.0));
        // Redeeming the whole supply would empty the pool.
        let mut whale = wallet(0.0, 0.0, l0);
        let s = settle(&mut amm, &mut ledger, &mut whale, Action::Redeem, Amount::Fraction(1.0));
        assert!(matches!(s, Settlement::Rejected(_)), "{s:?}");
        assert_eq!(whale, wallet(0.0, 0.0, l0));
        assert_eq!(
            settle(&mut amm, &mut ledger, &mut w, Action::Buy, Amount::Units(0.0)),
            Settlement::Skipped
        );
        let after = (amm.reserves(), amm.lp_supply(), ledger.accounts.clone(), ledger.issued, w);
        assert_eq!(format!("{before:?}"), format!("{after:?}"));
        assert_eq!(amm.n_swaps, 0);
    }

    #[test]
    fn check_reports_broken_invariants() {
        let (mut amm, mut ledger) = setup(0.003);
        start_tick(&mut amm, &ledger);
        assert!(violations(&amm, &ledger).is_empty());
        // Someone else moved the pool's base: reserves no longer match.
        *ledger.balance_mut(POOL, ETH) += 1.0;
        let names: Vec<String> = violations(&amm, &ledger).into_iter().map(|v| v.invariant).collect();
        assert_eq!(names, ["reserve_base"]);
        *ledger.balance_mut(POOL, ETH) -= 1.0;
        // LP tokens created outside the pool.
        ledger.record_mint(LP, 5.0);
        let names: Vec<String> = violations(&amm, &ledger).into_iter().map(|v| v.invariant).collect();
        assert_eq!(names, ["lp_supply"]);
        ledger.record_burn(LP, 5.0);
        // Over-minted LP dilutes every share; a k decrease is counted.
        amm.lp_supply *= 1.001;
        amm.k_decreases = 2;
        let names: Vec<String> = violations(&amm, &ledger).into_iter().map(|v| v.invariant).collect();
        assert_eq!(names, ["k_decrease", "lp_share_decrease", "lp_supply"]);
    }

    #[test]
    fn valuation_metrics_measure_impermanent_loss() {
        // No fee and the price doubles (r = 2): the textbook impermanent
        // loss 2√r/(1 + r) − 1 = 2√2/3 − 1.
        let (mut amm, mut ledger) = setup(0.0);
        amm.valuation = Some(ContractId(9));
        let t = amm.trade_to_price(4_000.0, &ledger).unwrap();
        let mut w = wallet(0.0, 1e9, 0.0);
        filled(settle(&mut amm, &mut ledger, &mut w, Action::Buy, Amount::Units(t.amount_in)));
        let mut prices = Prices(vec![f64::NAN; 10]);
        prices.0[9] = 4_000.0;
        amm.observe(&ObserveCtx { ledger: &ledger, prices: &prices, tick: 2 });
        assert_eq!(amm.metrics().len(), 12);
        let out = measured(&amm, &ledger);
        let il = out[10];
        let expected = 2.0 * 2f64.sqrt() / 3.0 - 1.0;
        assert!(close(il, expected, 1e-9), "IL {il} vs {expected}");
        let hold = out[9];
        let l0 = (X0 * Y0).sqrt();
        assert!(close(hold, (X0 * 4_000.0 + Y0) / l0, 1e-12));
        assert!(close(out[11], 0.0, 1e-9), "the pool sits at the valuation price: {}", out[11]);
    }
}
