//! An over-collateralised lending market (Compound/Aave style, simplified):
//! borrowers deposit a collateral asset and borrow a debt asset against it;
//! interest compounds every tick; loans whose health falls below 1 can be
//! liquidated by anyone for a bonus.
//!
//! **Prices.** The market reads `p`, debt units per collateral unit, from
//! its `oracle` contract's spot price once per tick (Observe phase), so
//! every check within a block uses the same price.
//!
//! **Loans.** Agent `i` has collateral `c_i` and a scaled debt `s_i`; its
//! debt is `d_i = s_i · I` where `I` is the global borrow index (1 at
//! genesis). Every tick `I ← I · (1 + r_tick)`, so every loan compounds at
//! the same rate: after `n` ticks at a constant rate, `d = d_0 (1 + r)^n`.
//!
//! **Rates.** Utilisation `U = D / (cash + D)` with `D = Σ d_i` (0 if both
//! are 0). The annual borrow rate is kinked (Aave's model):
//!
//! ```text
//! U ≤ kink:  R(U) = base + slope1 · U / kink
//! U > kink:  R(U) = base + slope1 + slope2 · (U − kink) / (1 − kink)
//! ```
//!
//! and the per-tick rate is `r_tick = R(U) / ticks_per_year`.
//!
//! **Limits.** The loan-to-value `LTV = d / (c · p)`. Borrowing and
//! redeeming collateral are allowed only if afterwards `d ≤ max_ltv · c · p`
//! (and a borrow only up to the market's cash). The health factor is
//! `HF = c · p · liquidation_threshold / d` (`+∞` without debt).
//!
//! **Liquidation.** If `HF < 1`, any agent may repay up to
//! `close_factor · d` of the loan and receives collateral
//! `seized = repaid · (1 + bonus) / p`. If the loan's collateral cannot
//! cover that, the liquidator takes all of it, `c`, for the proportionally
//! smaller repayment `c · p / (1 + bonus)`; debt left on a loan with no
//! collateral is written off as bad debt.
//!
//! **Accounting.** The market's account holds the deposited collateral and
//! its cash (debt asset not lent out). Debt is a claim, not an asset: no
//! asset moves when interest accrues. The market's books balance:
//! `cash + D + bad_debt = initial_liquidity + interest_accrued`.

use std::collections::BTreeMap;

use crate::engine::builder::ContractBuilder;
use crate::engine::contract::*;
use crate::engine::ids::{AccountId, AgentId, AssetId, ContractId};
use crate::engine::intent::Action;
use crate::engine::ledger::Ledger;
use crate::engine::params::{Need, Param, Way};
use crate::engine::registry::MechanismKind;
use crate::error::ScenarioError;

/// The kinked (jump) interest-rate model, independent of any world.
///
/// ```
/// use tokensim::mechanisms::lending_market::RateModel;
/// let m = RateModel { base_rate: 0.02, slope1: 0.04, kink: 0.8, slope2: 0.75 };
/// assert_eq!(m.annual_rate(0.0), 0.02);
/// assert!((m.annual_rate(0.4) - 0.04).abs() < 1e-15); // 0.02 + 0.04 · 0.4/0.8
/// assert!((m.annual_rate(0.8) - 0.06).abs() < 1e-15); // at the kink
/// assert!((m.annual_rate(0.9) - 0.435).abs() < 1e-12); // 0.06 + 0.75 · 0.1/0.2
/// assert!((m.per_tick(0.8, 365.0) - 0.06 / 365.0).abs() < 1e-18);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateModel {
    /// Annual rate at zero utilisation.
    pub base_rate: f64,
    /// Rate added from `U = 0` to `U = kink`.
    pub slope1: f64,
    /// Utilisation where the slope changes, in `(0, 1)`.
    pub kink: f64,
    /// Rate added from `U = kink` to `U = 1`.
    pub slope2: f64,
}

impl RateModel {
    /// Annual borrow rate at utilisation `u` (see the module doc).
    #[inline]
    pub fn annual_rate(&self, u: f64) -> f64 {
        if u <= self.kink {
            self.base_rate + self.slope1 * u / self.kink
        } else {
            self.base_rate + self.slope1 + self.slope2 * (u - self.kink) / (1.0 - self.kink)
        }
    }

    /// Rate per tick, `annual_rate(u) / ticks_per_year`.
    #[inline]
    pub fn per_tick(&self, u: f64, ticks_per_year: f64) -> f64 {
        self.annual_rate(u) / ticks_per_year
    }
}

/// Utilisation `debt / (cash + debt)`, 0 when both are 0.
#[inline]
pub fn utilisation(cash: f64, debt: f64) -> f64 {
    let total = cash + debt;
    if total > 0.0 { debt / total } else { 0.0 }
}

/// Health factor `c · p · threshold / d`; `+∞` without debt.
///
/// ```
/// use tokensim::mechanisms::lending_market::health_factor;
/// assert_eq!(health_factor(10.0, 100.0, 0.8, 400.0), 2.0);
/// assert_eq!(health_factor(10.0, 100.0, 0.8, 0.0), f64::INFINITY);
/// ```
#[inline]
pub fn health_factor(collateral: f64, price: f64, threshold: f64, debt: f64) -> f64 {
    if debt > 0.0 { collateral * price * threshold / debt } else { f64::INFINITY }
}

/// What one liquidation moves: debt repaid by the liquidator, collateral it
/// receives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Liquidation {
    /// Debt-asset units the liquidator pays.
    pub repaid: f64,
    /// Collateral units it receives.
    pub seized: f64,
}

impl Liquidation {
    /// The liquidation of a loan (`collateral`, `debt`) at `price` when the
    /// liquidator offers to repay `offered`: it repays
    /// `min(offered, close_factor · debt)` and receives
    /// `repaid · (1 + bonus) / price`, or, when that exceeds the loan's
    /// collateral, all of the collateral for `collateral · price / (1 + bonus)`.
    ///
    /// ```
    /// use tokensim::mechanisms::lending_market::Liquidation;
    /// let l = Liquidation::quote(10.0, 800.0, 90.0, 0.05, 0.5, 1e9);
    /// assert_eq!(l.repaid, 400.0);
    /// assert!((l.seized - 400.0 * 1.05 / 90.0).abs() < 1e-12);
    /// ```
    pub fn quote(
        collateral: f64,
        debt: f64,
        price: f64,
        bonus: f64,
        close_factor: f64,
        offered: f64,
    ) -> Self {
        let repaid = offered.min(close_factor * debt).max(0.0);
        let seized = repaid * (1.0 + bonus) / price;
        if seized > collateral {
            Liquidation { repaid: collateral * price / (1.0 + bonus), seized: collateral }
        } else {
            Liquidation { repaid, seized }
        }
    }

    /// What the liquidator gains, in debt units at `price`: the value of
    /// the collateral received less what it paid (`repaid · bonus`).
    #[inline]
    pub fn bonus_value(&self, price: f64) -> f64 {
        self.seized * price - self.repaid
    }
}

/// One borrower's position as behaviours see it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Loan {
    /// Collateral deposited.
    pub collateral: f64,
    /// Debt including accrued interest.
    pub debt: f64,
}

/// A loan as the book stores it: debt scaled by the borrow index.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Entry {
    collateral: f64,
    scaled: f64,
}

/// The risk and rate parameters of a market.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LendingParams {
    /// Largest LTV a borrow or redeem may leave.
    pub max_ltv: f64,
    /// LTV at which a loan becomes liquidatable (`HF < 1`).
    pub liquidation_threshold: f64,
    /// Extra collateral a liquidator receives, as a fraction of the value
    /// it repays.
    pub liquidation_bonus: f64,
    /// Largest fraction of a loan's debt one liquidation may repay.
    pub close_factor: f64,
    /// Interest-rate model.
    pub rates: RateModel,
    /// Ticks per year (annual rates are divided by this).
    pub ticks_per_year: f64,
}

/// Relative slack on the LTV limit, so a borrow computed to sit exactly at
/// `max_ltv` is not refused over rounding.
const LTV_SLACK: f64 = 1e-12;

/// A live lending market.
#[derive(Clone, Debug)]
pub struct LendingMarket {
    collateral: AssetId,
    debt: AssetId,
    oracle: ContractId,
    account: AccountId,
    /// Risk and rate parameters.
    pub params: LendingParams,
    initial_liquidity: f64,
    book: BTreeMap<AgentId, Entry>,
    index: f64,
    total_scaled: f64,
    cash: f64,
    price: f64,
    unhealthy: Vec<AgentId>,
    shortfall: f64,
    interest_total: f64,
    bad_debt_total: f64,
    // Per tick.
    interest: f64,
    n_liquidations: u64,
    liquidated_collateral: f64,
}

const ACCEPTS: &[Action] =
    &[Action::Deposit, Action::Redeem, Action::Borrow, Action::Repay, Action::Liquidate];

const METRICS: &[MetricDef] = &[
    MetricDef::stock("oracle_price", "{debt}/{collateral}", "oracle price this tick (debt per collateral)")
        .at(Timing::Observe),
    MetricDef::stock("utilisation", "1", "total debt / (cash + total debt)"),
    MetricDef::stock("borrow_rate", "1/year", "annual borrow rate at the current utilisation"),
    MetricDef::stock("total_debt", "{debt}", "debt outstanding, interest included"),
    MetricDef::stock("total_collateral", "{collateral}", "collateral deposited"),
    MetricDef::stock("cash", "{debt}", "debt asset available to borrow"),
    MetricDef::stock("n_unhealthy", "count", "loans with health factor < 1 at the oracle price of the tick")
        .count()
        .at(Timing::Observe),
    MetricDef::stock(
        "shortfall",
        "{debt}",
        "debt its collateral no longer covers at the oracle price, Σ max(0, d − c·p)",
    )
    .at(Timing::Observe),
    MetricDef::flow("n_liquidations", "count", "liquidations settled this tick").count().at(Timing::Settle),
    MetricDef::flow("liquidated_collateral", "{collateral}", "collateral seized this tick")
        .at(Timing::Settle),
    MetricDef::stock("bad_debt", "{debt}", "debt written off so far (cumulative)"),
    MetricDef::flow("interest", "{debt}", "interest accrued this tick").at(Timing::Accrue),
];

impl LendingMarket {
    /// The asset deposited as collateral.
    pub fn collateral_asset(&self) -> AssetId {
        self.collateral
    }

    /// The asset lent and repaid.
    pub fn debt_asset(&self) -> AssetId {
        self.debt
    }

    /// The contract whose price is the oracle.
    pub fn oracle(&self) -> ContractId {
        self.oracle
    }

    /// The oracle price cached for this tick (`NaN` before the first tick
    /// or when the oracle has no price).
    pub fn price(&self) -> f64 {
        self.price
    }

    /// Borrowers whose health factor was below 1 at the start of this tick,
    /// in ascending id order.
    pub fn unhealthy(&self) -> &[AgentId] {
        &self.unhealthy
    }

    /// `agent`'s loan, if it has collateral or debt.
    pub fn loan(&self, agent: AgentId) -> Option<Loan> {
        self.book.get(&agent).map(|e| Loan { collateral: e.collateral, debt: e.scaled * self.index })
    }

    /// `agent`'s health factor at the cached price (`+∞` without debt).
    pub fn health(&self, agent: AgentId) -> f64 {
        self.loan(agent).map_or(f64::INFINITY, |l| {
            health_factor(l.collateral, self.price, self.params.liquidation_threshold, l.debt)
        })
    }

    /// Debt asset held by the market and not lent out.
    pub fn cash(&self) -> f64 {
        self.cash
    }

    /// Total debt outstanding, interest included.
    pub fn total_debt(&self) -> f64 {
        self.total_scaled * self.index
    }

    /// The borrow index: debt per unit of scaled debt.
    pub fn index(&self) -> f64 {
        self.index
    }

    /// Debt not covered by its collateral at this tick's price,
    /// `Σ max(0, d_i − c_i·p)`: the bad debt liquidations would have to
    /// write off if nobody repaid.
    pub fn shortfall(&self) -> f64 {
        self.shortfall
    }

    /// Debt written off so far.
    pub fn bad_debt(&self) -> f64 {
        self.bad_debt_total
    }

    /// Interest accrued since genesis.
    pub fn interest_accrued(&self) -> f64 {
        self.interest_total
    }

    /// Current utilisation.
    pub fn utilisation(&self) -> f64 {
        utilisation(self.cash, self.total_debt())
    }

    /// Current annual borrow rate.
    pub fn borrow_rate(&self) -> f64 {
        self.params.rates.annual_rate(self.utilisation())
    }

    /// Most `agent` may borrow now: `max_ltv · c · p − d`, at most the
    /// cash, at least 0.
    pub fn borrow_capacity(&self, agent: AgentId) -> f64 {
        let loan = self.loan(agent).unwrap_or_default();
        if !self.price_usable() {
            return 0.0;
        }
        (self.params.max_ltv * loan.collateral * self.price - loan.debt).clamp(0.0, self.cash)
    }

    fn price_usable(&self) -> bool {
        self.price.is_finite() && self.price > 0.0
    }

    fn within_limit(&self, collateral: f64, debt: f64) -> bool {
        debt <= 0.0 || debt <= self.params.max_ltv * collateral * self.price * (1.0 + LTV_SLACK)
    }

    fn collateral_total(&self, ledger: &Ledger) -> f64 {
        ledger.balance(self.account, self.collateral)
    }

    /// Removes an entry with nothing left in it, so the book only holds
    /// live loans.
    fn tidy(&mut self, agent: AgentId) {
        if self.book.get(&agent).is_some_and(|e| e.collateral == 0.0 && e.scaled == 0.0) {
            self.book.remove(&agent);
        }
    }

    /// Lowers `agent`'s debt by `amount` (at most its debt).
    fn reduce_debt(&mut self, agent: AgentId, amount: f64) {
        let index = self.index;
        let e = self.book.get_mut(&agent).expect("a loan with debt");
        let cut = if amount >= e.scaled * index { e.scaled } else { (amount / index).min(e.scaled) };
        e.scaled -= cut;
        self.total_scaled -= cut;
    }

    fn deposit(&mut self, agent: AgentId, q: f64, ctx: &mut SettleCtx<'_>) -> Settlement {
        let balance = ctx.wallet.get(self.collateral);
        if !(q.is_finite() && q >= 0.0) || q > balance {
            return Settlement::Rejected("insufficient collateral balance");
        }
        if q == 0.0 {
            return Settlement::Skipped;
        }
        *ctx.wallet.get_mut(self.collateral) = balance - q;
        *ctx.ledger.balance_mut(self.account, self.collateral) += q;
        self.book.entry(agent).or_default().collateral += q;
        Settlement::Filled(Fill { amount_in: q, amount_out: 0.0, fee: 0.0 })
    }

    fn redeem(&mut self, agent: AgentId, q: f64, ctx: &mut SettleCtx<'_>) -> Settlement {
        let Some(loan) = self.loan(agent) else {
            return if q == 0.0 {
                Settlement::Skipped
            } else {
                Settlement::Rejected("no collateral deposited")
            };
        };
        if !(q.is_finite() && q >= 0.0) || q > loan.collateral {
            return Settlement::Rejected("redeem exceeds deposited collateral");
        }
        if q == 0.0 {
            return Settlement::Skipped;
        }
        if loan.debt > 0.0 && !self.price_usable() {
            return Settlement::Rejected("oracle has no price");
        }
        let left = if q == loan.collateral { 0.0 } else { loan.collateral - q };
        if !self.within_limit(left, loan.debt) {
            return Settlement::Rejected("redeem would exceed max_ltv");
        }
        *ctx.wallet.get_mut(self.collateral) += q;
        *ctx.ledger.balance_mut(self.account, self.collateral) -= q;
        self.book.get_mut(&agent).expect("loan").collateral = left;
        self.tidy(agent);
        Settlement::Filled(Fill { amount_in: 0.0, amount_out: q, fee: 0.0 })
    }

    fn borrow(&mut self, agent: AgentId, q: f64, ctx: &mut SettleCtx<'_>) -> Settlement {
        if !(q.is_finite() && q >= 0.0) {
            return Settlement::Rejected("invalid amount");
        }
        if q == 0.0 {
            return Settlement::Skipped;
        }
        if !self.price_usable() {
            return Settlement::Rejected("oracle has no price");
        }
        let loan = self.loan(agent).unwrap_or_default();
        if !self.within_limit(loan.collateral, loan.debt + q) {
            return Settlement::Rejected("borrow would exceed max_ltv");
        }
        if q > self.cash {
            return Settlement::Rejected("insufficient market liquidity");
        }
        *ctx.wallet.get_mut(self.debt) += q;
        *ctx.ledger.balance_mut(self.account, self.debt) -= q;
        self.cash -= q;
        let scaled = q / self.index;
        self.book.entry(agent).or_default().scaled += scaled;
        self.total_scaled += scaled;
        Settlement::Filled(Fill { amount_in: 0.0, amount_out: q, fee: 0.0 })
    }

    fn repay(&mut self, agent: AgentId, q: f64, ctx: &mut SettleCtx<'_>) -> Settlement {
        let balance = ctx.wallet.get(self.debt);
        if !(q.is_finite() && q >= 0.0) || q > balance {
            return Settlement::Rejected("insufficient debt-asset balance");
        }
        let debt = self.loan(agent).map_or(0.0, |l| l.debt);
        let paid = q.min(debt);
        if paid <= 0.0 {
            return Settlement::Skipped;
        }
        *ctx.wallet.get_mut(self.debt) = balance - paid;
        *ctx.ledger.balance_mut(self.account, self.debt) += paid;
        self.cash += paid;
        self.reduce_debt(agent, paid);
        self.tidy(agent);
        Settlement::Filled(Fill { amount_in: paid, amount_out: 0.0, fee: 0.0 })
    }

    fn liquidate(&mut self, tx: &Tx, ctx: &mut SettleCtx<'_>) -> Settlement {
        let Some(borrower) = tx.target else {
            return Settlement::Rejected("liquidate needs a target borrower");
        };
        if borrower == tx.agent {
            return Settlement::Rejected("cannot liquidate one's own loan");
        }
        let balance = ctx.wallet.get(self.debt);
        let offered = tx.amount.resolve(balance);
        if !(offered.is_finite() && offered >= 0.0) || offered > balance {
            return Settlement::Rejected("insufficient debt-asset balance");
        }
        if !self.price_usable() {
            return Settlement::Rejected("oracle has no price");
        }
        let Some(loan) = self.loan(borrower) else {
            return Settlement::Rejected("no such loan");
        };
        if health_factor(loan.collateral, self.price, self.params.liquidation_threshold, loan.debt) >= 1.0 {
            return Settlement::Rejected("loan is healthy");
        }
        let p = &self.params;
        let l = Liquidation::quote(
            loan.collateral,
            loan.debt,
            self.price,
            p.liquidation_bonus,
            p.close_factor,
            offered,
        );
        if l.repaid <= 0.0 {
            return Settlement::Skipped;
        }
        *ctx.wallet.get_mut(self.debt) = balance - l.repaid;
        *ctx.wallet.get_mut(self.collateral) += l.seized;
        *ctx.ledger.balance_mut(self.account, self.debt) += l.repaid;
        *ctx.ledger.balance_mut(self.account, self.collateral) -= l.seized;
        self.cash += l.repaid;
        self.reduce_debt(borrower, l.repaid);
        let index = self.index;
        let e = self.book.get_mut(&borrower).expect("loan");
        e.collateral = if l.seized >= loan.collateral { 0.0 } else { e.collateral - l.seized };
        if e.collateral == 0.0 && e.scaled > 0.0 {
            self.bad_debt_total += e.scaled * index;
            self.total_scaled -= e.scaled;
            e.scaled = 0.0;
        }
        self.tidy(borrower);
        self.n_liquidations += 1;
        self.liquidated_collateral += l.seized;
        let fee = l.seized - l.repaid / self.price;
        Settlement::Filled(Fill { amount_in: l.repaid, amount_out: l.seized, fee })
    }
}

impl Contract for LendingMarket {
    fn accepts(&self) -> &'static [Action] {
        ACCEPTS
    }

    /// Amounts: Deposit and Repay a fraction of the sender's collateral or
    /// debt-asset balance; Redeem a fraction of its deposited collateral;
    /// Borrow a fraction of its borrow capacity; Liquidate a fraction of
    /// its debt-asset balance.
    fn settle(&mut self, tx: &Tx, ctx: &mut SettleCtx<'_>) -> Settlement {
        let agent = tx.agent;
        match tx.action {
            Action::Deposit => self.deposit(agent, tx.amount.resolve(ctx.wallet.get(self.collateral)), ctx),
            Action::Redeem => {
                let deposited = self.loan(agent).map_or(0.0, |l| l.collateral);
                self.redeem(agent, tx.amount.resolve(deposited), ctx)
            }
            Action::Borrow => self.borrow(agent, tx.amount.resolve(self.borrow_capacity(agent)), ctx),
            Action::Repay => self.repay(agent, tx.amount.resolve(ctx.wallet.get(self.debt)), ctx),
            Action::Liquidate => self.liquidate(tx, ctx),
            _ => Settlement::Rejected("lending markets accept deposit, redeem, borrow, repay, liquidate"),
        }
    }

    fn begin_tick(&mut self, _tick: u32) {
        self.interest = 0.0;
        self.n_liquidations = 0;
        self.liquidated_collateral = 0.0;
    }

    fn observe(&mut self, ctx: &ObserveCtx<'_>) {
        self.price = ctx.prices.get(self.oracle);
        self.unhealthy.clear();
        self.shortfall = 0.0;
        if !self.price_usable() {
            return;
        }
        let (price, threshold, index) = (self.price, self.params.liquidation_threshold, self.index);
        for (id, e) in &self.book {
            let debt = e.scaled * index;
            if health_factor(e.collateral, price, threshold, debt) < 1.0 {
                self.unhealthy.push(*id);
            }
            self.shortfall += (debt - e.collateral * price).max(0.0);
        }
    }

    fn accrue(&mut self, _ctx: &mut AccrueCtx<'_>) {
        let debt = self.total_debt();
        if debt <= 0.0 {
            return;
        }
        let r = self.params.rates.per_tick(utilisation(self.cash, debt), self.params.ticks_per_year);
        self.index *= 1.0 + r;
        self.interest = debt * r;
        self.interest_total += self.interest;
    }

    fn check(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Violation>) {
        let mut push = |name: &str, expected: f64, actual: f64| {
            if !within_tolerance(expected, actual) {
                out.push(Violation { source: String::new(), invariant: name.into(), expected, actual });
            }
        };
        let (mut collateral, mut scaled, mut unwritten) = (0.0, 0.0, 0.0);
        for e in self.book.values() {
            collateral += e.collateral;
            scaled += e.scaled;
            if e.collateral <= 0.0 && e.scaled > 0.0 {
                unwritten += 1.0;
            }
        }
        push("collateral_backing", collateral, self.collateral_total(ctx.ledger));
        push("cash_backing", self.cash, ctx.ledger.balance(self.account, self.debt));
        push("debt_book", scaled * self.index, self.total_debt());
        push(
            "accounting",
            self.initial_liquidity + self.interest_total,
            self.cash + self.total_debt() + self.bad_debt_total,
        );
        push("bad_debt_written_off", 0.0, unwritten);
    }

    fn metrics(&self) -> &'static [MetricDef] {
        METRICS
    }

    fn measure(&self, ledger: &Ledger, out: &mut Measure<'_>) {
        out.set("oracle_price", self.price);
        out.set("utilisation", self.utilisation());
        out.set("borrow_rate", self.borrow_rate());
        out.set("total_debt", self.total_debt());
        out.set("total_collateral", self.collateral_total(ledger));
        out.set("cash", self.cash);
        out.set("n_unhealthy", self.unhealthy.len() as f64);
        out.set("shortfall", self.shortfall);
        out.set("n_liquidations", self.n_liquidations as f64);
        out.set("liquidated_collateral", self.liquidated_collateral);
        out.set("bad_debt", self.bad_debt_total);
        out.set("interest", self.interest);
    }
}

/// Parameters of `kind = "lending_market"`.
/// The `lending_market` mechanism kind.
pub struct LendingMarketKind;

const PARAMS: &[Param] = &[
    Param::asset("collateral").doc("asset deposited as collateral"),
    Param::asset("debt").stock("cash").doc("asset lent, repaid and used to liquidate"),
    Param::contract("oracle", Need::PRICED).moves(Way::Reads, "price", "").doc(
        "contract whose price is the collateral's value in debt units (price_feed, curve, AMM), read once per tick",
    ),
    Param::amount("initial_liquidity")
        .default_float(0.0)
        .doc("debt asset issued into the market at genesis (its cash)"),
    Param::float("max_ltv", 0.0, 1.0)
        .open_low()
        .open_high()
        .doc("largest debt / collateral value a borrow or redeem may leave"),
    Param::float("liquidation_threshold", 0.0, 1.0)
        .open_high()
        .doc("LTV at which a loan becomes liquidatable: HF = c·p·threshold/d < 1; at least max_ltv"),
    Param::float("liquidation_bonus", 0.0, 1.0)
        .default_float(0.05)
        .doc("liquidator receives collateral worth repaid·(1 + bonus)"),
    Param::float("close_factor", 0.0, 1.0)
        .open_low()
        .default_float(0.5)
        .doc("largest fraction of a loan's debt one liquidation repays"),
    Param::float("base_rate", 0.0, 10.0).default_float(0.0).doc("annual borrow rate at zero utilisation"),
    Param::float("slope1", 0.0, 10.0).default_float(0.04).doc("annual rate added between U = 0 and U = kink"),
    Param::float("kink", 0.0, 1.0)
        .open_low()
        .open_high()
        .default_float(0.8)
        .doc("utilisation where the rate curve steepens"),
    Param::float("slope2", 0.0, 100.0).default_float(0.75).doc("annual rate added between U = kink and U = 1"),
    Param::float("ticks_per_year", 1.0, 1e9)
        .default_float(365.0)
        .doc("ticks in a year; per-tick rate = annual rate / ticks_per_year"),
];

impl MechanismKind for LendingMarketKind {
    fn name(&self) -> &'static str {
        "lending_market"
    }

    fn summary(&self) -> &'static str {
        "Over-collateralised lending: deposit collateral, borrow against it at a kinked utilisation rate, liquidate loans whose health factor falls below 1."
    }

    fn params(&self) -> &'static [Param] {
        PARAMS
    }

    fn metrics(&self) -> &'static [MetricDef] {
        METRICS
    }

    fn build(&self, ctx: &mut ContractBuilder<'_>) -> Result<Box<dyn Contract>, ScenarioError> {
        let p = ctx.params();
        let collateral = ctx.asset_param("collateral")?;
        let debt = ctx.asset_param("debt")?;
        if collateral == debt {
            return Err(ctx.invalid("debt", "must differ from collateral"));
        }
        let oracle = ctx.contract_param("oracle")?;
        let (max_ltv, threshold) = (p.float("max_ltv"), p.float("liquidation_threshold"));
        if threshold < max_ltv {
            return Err(ctx.invalid(
                "liquidation_threshold",
                format!("{threshold} is out of range: must be in [max_ltv, 1) = [{max_ltv}, 1)"),
            ));
        }
        let account = ctx.account();
        let initial_liquidity = p.float("initial_liquidity");
        ctx.issue(account, debt, initial_liquidity);
        Ok(Box::new(LendingMarket {
            collateral,
            debt,
            oracle,
            account,
            params: LendingParams {
                max_ltv,
                liquidation_threshold: threshold,
                liquidation_bonus: p.float("liquidation_bonus"),
                close_factor: p.float("close_factor"),
                rates: RateModel {
                    base_rate: p.float("base_rate"),
                    slope1: p.float("slope1"),
                    kink: p.float("kink"),
                    slope2: p.float("slope2"),
                },
                ticks_per_year: p.float("ticks_per_year"),
            },
            initial_liquidity,
            book: BTreeMap::new(),
            index: 1.0,
            total_scaled: 0.0,
            cash: initial_liquidity,
            price: f64::NAN,
            unhealthy: Vec::new(),
            shortfall: 0.0,
            interest_total: 0.0,
            bad_debt_total: 0.0,
            interest: 0.0,
            n_liquidations: 0,
            liquidated_collateral: 0.0,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::intent::Amount;
    use crate::engine::ledger::{Account, MAX_SLOTS};
    use crate::engine::wallets::{Wallet, WalletBuf};

    const TKN: AssetId = AssetId(0);
    const DAI: AssetId = AssetId(1);
    const MARKET: AccountId = AccountId(0);
    const BOB: AgentId = AgentId(1);
    const LIZ: AgentId = AgentId(2);

    /// A market (account 0) on TKN collateral, DAI debt, with `liquidity`
    /// DAI cash, max LTV 0.75, threshold 0.8, bonus 5 %, close factor 0.5,
    /// and the given rate model.
    fn setup(liquidity: f64, rates: RateModel) -> (LendingMarket, Ledger) {
        let mut ledger = Ledger::default();
        for name in ["market", "oracle"] {
            ledger.accounts.push(Account { name: name.into(), balances: [0.0; MAX_SLOTS] });
        }
        ledger.issue(MARKET, DAI, liquidity);
        let m = LendingMarket {
            collateral: TKN,
            debt: DAI,
            oracle: ContractId(1),
            account: MARKET,
            params: LendingParams {
                max_ltv: 0.75,
                liquidation_threshold: 0.8,
                liquidation_bonus: 0.05,
                close_factor: 0.5,
                rates,
                ticks_per_year: 365.0,
            },
            initial_liquidity: liquidity,
            book: BTreeMap::new(),
            index: 1.0,
            total_scaled: 0.0,
            cash: liquidity,
            price: f64::NAN,
            unhealthy: Vec::new(),
            shortfall: 0.0,
            interest_total: 0.0,
            bad_debt_total: 0.0,
            interest: 0.0,
            n_liquidations: 0,
            liquidated_collateral: 0.0,
        };
        (m, ledger)
    }

    const FLAT_10: RateModel = RateModel { base_rate: 0.10, slope1: 0.0, kink: 0.8, slope2: 0.0 };
    const KINKED: RateModel = RateModel { base_rate: 0.02, slope1: 0.04, kink: 0.8, slope2: 0.75 };

    fn observe(m: &mut LendingMarket, ledger: &Ledger, price: f64) {
        let prices = Prices(vec![f64::NAN, price]);
        m.observe(&ObserveCtx { ledger, prices: &prices, tick: 1 });
    }

    fn send(
        m: &mut LendingMarket,
        ledger: &mut Ledger,
        wallet: &mut Wallet,
        agent: AgentId,
        action: Action,
        amount: Amount,
        target: Option<AgentId>,
    ) -> Settlement {
        let tx = Tx { agent, action, amount, target };
        m.settle(&tx, &mut SettleCtx { wallet, ledger, tick: 1 })
    }

    fn units(
        m: &mut LendingMarket,
        ledger: &mut Ledger,
        w: &mut Wallet,
        action: Action,
        x: f64,
    ) -> Settlement {
        send(m, ledger, w, BOB, action, Amount::Units(x), None)
    }

    fn accrue(m: &mut LendingMarket, ledger: &mut Ledger) {
        let mut credits = Vec::new();
        m.accrue(&mut AccrueCtx { ledger, credits: &mut credits, tick: 1 });
        assert!(credits.is_empty(), "interest moves no asset");
    }

    fn violations(m: &LendingMarket, ledger: &Ledger) -> Vec<Violation> {
        let mut out = Vec::new();
        m.check(&CheckCtx { ledger, agent_sums: &[0.0; MAX_SLOTS], tick: 1 }, &mut out);
        out
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    fn wallet(tkn: f64, dai: f64) -> WalletBuf {
        let mut w = WalletBuf::default();
        *w.get_mut(TKN) = tkn;
        *w.get_mut(DAI) = dai;
        w
    }

    /// Bob deposits 10 TKN and borrows `debt` DAI at price 100.
    fn bob_borrows(debt: f64, rates: RateModel) -> (LendingMarket, Ledger, WalletBuf) {
        let (mut m, mut ledger) = setup(10_000.0, rates);
        observe(&mut m, &ledger, 100.0);
        let mut w = wallet(10.0, 0.0);
        assert!(matches!(units(&mut m, &mut ledger, &mut w, Action::Deposit, 10.0), Settlement::Filled(_)));
        assert!(matches!(units(&mut m, &mut ledger, &mut w, Action::Borrow, debt), Settlement::Filled(_)));
        (m, ledger, w)
    }

    #[test]
    fn kinked_rate_below_at_and_above_the_kink() {
        // Hand-computed from R(U) = base + slope1·U/kink (U ≤ kink) and
        // base + slope1 + slope2·(U − kink)/(1 − kink) above.
        let r = |u: f64| KINKED.annual_rate(u);
        assert!(close(r(0.0), 0.02));
        assert!(close(r(0.2), 0.02 + 0.04 * 0.25));
        assert!(close(r(0.8), 0.06));
        assert!(close(r(0.95), 0.06 + 0.75 * 0.75));
        assert!(close(r(1.0), 0.81));
        // Continuous at the kink.
        assert!((r(0.8 + 1e-12) - r(0.8)).abs() < 1e-9);
        assert!(close(utilisation(600.0, 400.0), 0.4));
        assert_eq!(utilisation(0.0, 0.0), 0.0);
    }

    #[test]
    fn debt_compounds_per_tick() {
        // A flat 10 % a year: d_n = d_0 (1 + 0.1/365)^n.
        let (mut m, mut ledger, _) = bob_borrows(500.0, FLAT_10);
        for _ in 0..90 {
            accrue(&mut m, &mut ledger);
        }
        let expected = 500.0 * (1.0 + 0.1 / 365.0f64).powi(90);
        assert!(close(m.loan(BOB).unwrap().debt, expected), "{} vs {expected}", m.loan(BOB).unwrap().debt);
        assert!(close(m.interest_accrued(), expected - 500.0));
        assert!(violations(&m, &ledger).is_empty());

        // Kinked: one tick at U = 500 / 10 000 = 0.05.
        let (mut m, mut ledger, _) = bob_borrows(500.0, KINKED);
        accrue(&mut m, &mut ledger);
        let rate = 0.02 + 0.04 * 0.05 / 0.8;
        assert!(close(m.loan(BOB).unwrap().debt, 500.0 * (1.0 + rate / 365.0)));
        assert!(close(m.interest, 500.0 * rate / 365.0));
    }

    #[test]
    fn health_factor_and_unhealthy_list() {
        let (mut m, ledger, _) = bob_borrows(600.0, FLAT_10);
        assert!(close(m.health(BOB), 10.0 * 100.0 * 0.8 / 600.0));
        assert!(m.unhealthy().is_empty());
        observe(&mut m, &ledger, 70.0);
        assert!(close(m.health(BOB), 10.0 * 70.0 * 0.8 / 600.0));
        assert_eq!(m.unhealthy(), &[BOB]);
        assert_eq!(m.shortfall(), 0.0);
        assert_eq!(m.health(LIZ), f64::INFINITY);
        observe(&mut m, &ledger, 45.0);
        assert!(close(m.shortfall(), 600.0 - 450.0));
    }

    #[test]
    fn liquidation_repays_close_factor_and_seizes_with_bonus() {
        let (mut m, mut ledger, _) = bob_borrows(600.0, FLAT_10);
        observe(&mut m, &ledger, 70.0);
        let mut liz = wallet(0.0, 1000.0);
        // Asks for more than the close factor allows: repays 0.5 · 600.
        let s = send(&mut m, &mut ledger, &mut liz, LIZ, Action::Liquidate, Amount::Fraction(1.0), Some(BOB));
        let repaid = 300.0;
        let seized = repaid * 1.05 / 70.0;
        let Settlement::Filled(fill) = s else { panic!("{s:?}") };
        assert!(close(fill.amount_in, repaid) && close(fill.amount_out, seized));
        assert!(close(liz.get(DAI), 700.0) && close(liz.get(TKN), seized));
        let loan = m.loan(BOB).unwrap();
        assert!(close(loan.debt, 300.0) && close(loan.collateral, 10.0 - seized));
        assert!(close(ledger.balance(MARKET, TKN), 10.0 - seized));
        assert!(close(m.cash(), 10_000.0 - 600.0 + 300.0));
        assert_eq!((m.n_liquidations, m.bad_debt()), (1, 0.0));
        assert!(violations(&m, &ledger).is_empty());

        // Now healthy at 70 (HF = 5.5·70·0.8/300 ≈ 1.03) and refused; at
        // 60 unhealthy again, and a smaller offer repays just that.
        let hf = (10.0 - seized) * 70.0 * 0.8 / 300.0;
        assert!(close(m.health(BOB), hf) && hf > 1.0);
        let s = send(&mut m, &mut ledger, &mut liz, LIZ, Action::Liquidate, Amount::Units(50.0), Some(BOB));
        assert_eq!(s, Settlement::Rejected("loan is healthy"));
        observe(&mut m, &ledger, 60.0);
        let s = send(&mut m, &mut ledger, &mut liz, LIZ, Action::Liquidate, Amount::Units(50.0), Some(BOB));
        let Settlement::Filled(fill) = s else { panic!("{s:?}") };
        assert!(close(fill.amount_in, 50.0) && close(fill.amount_out, 50.0 * 1.05 / 60.0));
    }

    #[test]
    fn short_collateral_gives_all_of_it_and_writes_off_the_rest() {
        let (mut m, mut ledger, _) = bob_borrows(600.0, FLAT_10);
        observe(&mut m, &ledger, 30.0);
        let mut liz = wallet(0.0, 1000.0);
        let s = send(&mut m, &mut ledger, &mut liz, LIZ, Action::Liquidate, Amount::Units(1000.0), Some(BOB));
        // 300 · 1.05 / 30 = 10.5 > 10: all 10 TKN for 10 · 30 / 1.05.
        let repaid = 10.0 * 30.0 / 1.05;
        let Settlement::Filled(fill) = s else { panic!("{s:?}") };
        assert!(close(fill.amount_in, repaid) && close(fill.amount_out, 10.0));
        assert!(close(liz.get(DAI), 1000.0 - repaid) && close(liz.get(TKN), 10.0));
        assert!(m.loan(BOB).is_none(), "the emptied loan is closed");
        assert!(close(m.bad_debt(), 600.0 - repaid));
        assert_eq!(m.total_debt(), 0.0);
        assert_eq!(ledger.balance(MARKET, TKN), 0.0);
        assert!(violations(&m, &ledger).is_empty());
    }

    #[test]
    fn refusals_leave_everything_untouched() {
        let (mut m, mut ledger, mut w) = bob_borrows(700.0, FLAT_10);
        let before = |m: &LendingMarket, l: &Ledger, w: &Wallet| {
            (
                m.loan(BOB),
                m.cash(),
                m.total_debt(),
                l.balance(MARKET, TKN),
                l.balance(MARKET, DAI),
                WalletBuf::from(w),
            )
        };
        let snapshot = before(&m, &ledger, &w);
        // 10 · 100 · 0.75 = 750: 51 more is too much.
        let s = units(&mut m, &mut ledger, &mut w, Action::Borrow, 51.0);
        assert_eq!(s, Settlement::Rejected("borrow would exceed max_ltv"));
        // Redeeming 1 TKN would leave 700 / 900 > 0.75.
        let s = units(&mut m, &mut ledger, &mut w, Action::Redeem, 1.0);
        assert_eq!(s, Settlement::Rejected("redeem would exceed max_ltv"));
        // Healthy loans cannot be liquidated; nobody liquidates themselves.
        let mut liz = wallet(0.0, 1000.0);
        let s = send(&mut m, &mut ledger, &mut liz, LIZ, Action::Liquidate, Amount::Units(10.0), Some(BOB));
        assert_eq!(s, Settlement::Rejected("loan is healthy"));
        let s = send(&mut m, &mut ledger, &mut w, BOB, Action::Liquidate, Amount::Units(10.0), Some(BOB));
        assert!(matches!(s, Settlement::Rejected(_)));
        // Overdrafts.
        assert!(matches!(units(&mut m, &mut ledger, &mut w, Action::Repay, 701.0), Settlement::Rejected(_)));
        assert!(matches!(units(&mut m, &mut ledger, &mut w, Action::Deposit, 0.5), Settlement::Rejected(_)));
        assert_eq!(before(&m, &ledger, &w), snapshot);
        assert_eq!(liz, wallet(0.0, 1000.0));
        // Exactly at the limit is fine; more than the cash is not.
        assert!(matches!(units(&mut m, &mut ledger, &mut w, Action::Borrow, 50.0), Settlement::Filled(_)));
        let (mut m, mut ledger) = setup(100.0, FLAT_10);
        observe(&mut m, &ledger, 100.0);
        let mut w = wallet(10.0, 0.0);
        units(&mut m, &mut ledger, &mut w, Action::Deposit, 10.0);
        let s = units(&mut m, &mut ledger, &mut w, Action::Borrow, 101.0);
        assert_eq!(s, Settlement::Rejected("insufficient market liquidity"));
        assert_eq!((w.get(DAI), m.cash()), (0.0, 100.0));
    }

    #[test]
    fn books_balance_after_a_sequence_of_operations() {
        let (mut m, mut ledger) = setup(5_000.0, KINKED);
        observe(&mut m, &ledger, 100.0);
        let mut bob = wallet(20.0, 0.0);
        let mut liz = wallet(0.0, 2_000.0);
        let mut borrowed = 0.0;
        let mut repaid = 0.0;
        units(&mut m, &mut ledger, &mut bob, Action::Deposit, 20.0);
        units(&mut m, &mut ledger, &mut bob, Action::Borrow, 1_400.0);
        borrowed += 1_400.0;
        for _ in 0..30 {
            accrue(&mut m, &mut ledger);
        }
        units(&mut m, &mut ledger, &mut bob, Action::Repay, 400.0);
        repaid += 400.0;
        send(&mut m, &mut ledger, &mut bob, BOB, Action::Redeem, Amount::Fraction(0.1), None);
        for _ in 0..30 {
            accrue(&mut m, &mut ledger);
        }
        observe(&mut m, &ledger, 50.0);
        let s = send(&mut m, &mut ledger, &mut liz, LIZ, Action::Liquidate, Amount::Fraction(1.0), Some(BOB));
        let Settlement::Filled(fill) = s else { panic!("{s:?}") };
        repaid += fill.amount_in;
        accrue(&mut m, &mut ledger);
        assert!(violations(&m, &ledger).is_empty(), "{:?}", violations(&m, &ledger));
        // Independently: cash is what was lent less what came back, and
        // the identity holds with the interest the market reports.
        assert!(close(m.cash(), 5_000.0 - borrowed + repaid));
        assert!(close(ledger.balance(MARKET, DAI), m.cash()));
        assert!(close(m.cash() + m.total_debt() + m.bad_debt(), 5_000.0 + m.interest_accrued()));
        // Every TKN is somewhere: Bob's wallet, Liz's, the market.
        assert!(close(bob.get(TKN) + liz.get(TKN) + ledger.balance(MARKET, TKN), 20.0));
        assert!(close(bob.get(DAI) + liz.get(DAI) + ledger.balance(MARKET, DAI), 7_000.0));
        // A corrupted book is reported.
        m.cash += 1.0;
        let names: Vec<String> = violations(&m, &ledger).into_iter().map(|v| v.invariant).collect();
        assert_eq!(names, ["cash_backing", "accounting"]);
    }
}
