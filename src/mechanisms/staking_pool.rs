//! A staking pool: agents lock tokens into a per-agent position; every tick
//! the pool pays `rate` of a treasury's balance to stakers pro rata, and
//! may slash them.
//!
//! The locked tokens sit in the pool's account, so `Σ staked + Σ unbonding
//! == pool balance` is its invariant and token conservation still holds.
//!
//! **Rewards.** Each tick the pool pays `rate · treasury balance` of
//! `reward_asset`, pro rata to `staked`, into stakers' liquid
//! `reward_asset`. The treasury is any contract holding the asset, e.g. a
//! `treasury` fed by tributes, or one an `emission` mints into. Contracts
//! accrue in file order: list the emission before the pool and set
//! `rate = 1` to pass each tick's whole emission to stakers in that tick.
//! The treasury may be the pool itself only when `reward_asset` is not the
//! staked token (else rewards would be paid out of the stakes' backing).
//!
//! **Unbonding.** With `unbonding_ticks = u > 0`, an unstake at tick `t`
//! moves tokens from `staked` to a second backed position (`unbonding`)
//! and queues `(t + u, amount)` for the agent. A withdraw at tick `τ`
//! moves what has matured (entries with release tick `≤ τ`) to liquid
//! tokens; an unbonding balance not covered by a pending entry (held at
//! genesis) counts as matured. The withdraw's amount is a fraction or a
//! number of the matured tokens; with nothing matured it is skipped.
//! Unbonding tokens earn no rewards but are slashed.
//!
//! **Slashing.** At each tick in `slash_ticks`, and otherwise with
//! probability `slash_probability` per tick (from the contract's own random
//! stream), every staked and unbonding balance `b` becomes
//! `b·(1 − slash_fraction)` (applied after the tick's rewards). The slashed
//! backing leaves the pool's account for `slash_to`, or is burnt when
//! `slash_to` is omitted (the token's issued supply falls by it).
//!
//! **Metrics**, with `T = ticks_per_year`:
//! `apr = rewards_paid / staked · T` (staked at the time of the payout;
//! in reward-asset units per staked token, a rate when both are the same
//! asset); `inflation = (minted_end − minted_start) / issued_start · T`,
//! the annualised issuance of the token over the tick (from Observe to
//! Measure) by any contract, burns not subtracted: every pool of the same
//! token reports the same value, whichever contract slashes, sells or
//! burns; when an `emission` mints at Accrue and nothing else changes the
//! supply in the tick, this equals its `inflation` metric. `real_yield = apr − inflation`;
//! `staking_ratio = staked / issued`. Undefined ratios (nothing staked,
//! nothing issued) are reported as 0.

use std::collections::{BTreeMap, VecDeque};

use rand::RngExt;
use rand_pcg::Pcg64Mcg;

use crate::engine::builder::ContractBuilder;
use crate::engine::contract::*;
use crate::engine::ids::{AccountId, AgentId, AssetId, SlotId};
use crate::engine::intent::Action;
use crate::engine::ledger::Ledger;
use crate::engine::params::{Need, Param, Way};
use crate::engine::registry::MechanismKind;
use crate::error::ScenarioError;

/// Unbonding state: the position tokens wait in and each agent's pending
/// `(release_tick, amount)` entries, oldest first.
#[derive(Clone, Debug)]
pub struct Unbonding {
    /// The `unbonding` position slot.
    pub slot: SlotId,
    /// Ticks between an unstake and the release of its tokens.
    pub ticks: u32,
    queue: BTreeMap<AgentId, VecDeque<(u32, f64)>>,
    total: f64,
}

impl Unbonding {
    /// Sum of `agent`'s entries not yet released at `tick`.
    fn pending(&self, agent: AgentId, tick: u32) -> f64 {
        self.queue.get(&agent).map_or(0.0, |q| q.iter().filter(|e| e.0 > tick).map(|e| e.1).sum())
    }

    /// What an agent holding `balance` unbonding tokens may withdraw at
    /// `tick`: the balance less its pending entries (0 within rounding).
    pub fn matured(&self, agent: AgentId, tick: u32, balance: f64) -> f64 {
        let pending = self.pending(agent, tick);
        if pending > 0.0 && within_tolerance(pending, balance) { 0.0 } else { (balance - pending).max(0.0) }
    }
}

/// When and how hard stakers are slashed.
#[derive(Clone, Debug)]
struct Slashing {
    ticks: Vec<u32>,
    probability: f64,
    fraction: f64,
    to: Option<AccountId>,
    rng: Pcg64Mcg,
}

impl Slashing {
    /// Whether a slash happens at `tick`. Draws one number per tick when
    /// `probability > 0`, whatever the tick list says, so adding a listed
    /// tick does not shift later draws.
    fn due(&mut self, tick: u32) -> bool {
        let drawn = self.probability > 0.0 && self.rng.random::<f64>() < self.probability;
        self.fraction > 0.0 && (drawn || self.ticks.binary_search(&tick).is_ok())
    }
}

/// A live staking pool.
#[derive(Clone, Debug)]
pub struct StakingPool {
    token: AssetId,
    position: SlotId,
    account: AccountId,
    reward_asset: AssetId,
    treasury: AccountId,
    /// Fraction of the treasury paid out per tick.
    pub rate: f64,
    rewards_paid: f64,
    ticks_per_year: f64,
    unbonding: Option<Unbonding>,
    slashing: Slashing,
    staked_at_payout: f64,
    slashed: f64,
    issued_at_start: f64,
    minted_at_start: f64,
}

const ACCEPTS: &[Action] = &[Action::Stake, Action::Unstake];
const ACCEPTS_UNBONDING: &[Action] = &[Action::Stake, Action::Unstake, Action::Withdraw];

const TOTAL_STAKED: MetricDef = MetricDef::stock("total_staked", "{token}", "tokens staked in the pool");
const REWARDS_PAID: MetricDef =
    MetricDef::flow("rewards_paid", "{reward_asset}", "rewards credited to stakers this tick")
        .at(Timing::Accrue);
const TOTAL_UNBONDING: MetricDef =
    MetricDef::stock("total_unbonding", "{token}", "tokens unbonding (not yet withdrawn)");
const SLASHED: MetricDef =
    MetricDef::flow("slashed", "{token}", "tokens slashed this tick (staked and unbonding)")
        .at(Timing::Accrue);
const APR: MetricDef = MetricDef::flow(
    "apr",
    "{reward_asset}/{token}/year",
    "rewards this tick / tokens staked at the payout · ticks_per_year (nominal, not compounded)",
)
.at(Timing::Accrue);
const INFLATION: MetricDef = MetricDef::flow(
    "inflation",
    "1/year",
    "annualised issuance of the token this tick, by any contract: tokens minted / issued supply at Observe · ticks_per_year; burns (slashes, sales, buy-backs) are not subtracted",
);
const REAL_YIELD: MetricDef = MetricDef::flow("real_yield", "1/year", "apr − inflation");
const STAKING_RATIO: MetricDef =
    MetricDef::stock("staking_ratio", "1", "tokens staked / the token's issued supply");

const METRICS: &[MetricDef] =
    &[TOTAL_STAKED, REWARDS_PAID, SLASHED, APR, INFLATION, REAL_YIELD, STAKING_RATIO];
const METRICS_UNBONDING: &[MetricDef] =
    &[TOTAL_STAKED, REWARDS_PAID, TOTAL_UNBONDING, SLASHED, APR, INFLATION, REAL_YIELD, STAKING_RATIO];

impl StakingPool {
    /// Tokens staked (not unbonding).
    fn staked(&self, ledger: &Ledger) -> f64 {
        ledger.balance(self.account, self.token) - self.unbonding_total()
    }

    /// Tokens unbonding, 0 without unbonding.
    pub fn unbonding_total(&self) -> f64 {
        self.unbonding.as_ref().map_or(0.0, |u| u.total)
    }

    /// The staked position slot.
    pub fn position(&self) -> SlotId {
        self.position
    }

    /// The unbonding state, if `unbonding_ticks > 0`.
    pub fn unbonding(&self) -> Option<&Unbonding> {
        self.unbonding.as_ref()
    }

    /// The unbonding position slot, if `unbonding_ticks > 0`: a staker
    /// holding a balance there sends withdraws.
    pub fn unbonding_slot(&self) -> Option<SlotId> {
        self.unbonding.as_ref().map(|u| u.slot)
    }

    fn unstake_into_unbonding(&mut self, tx: &Tx, ctx: &mut SettleCtx<'_>) -> Settlement {
        let u = self.unbonding.as_mut().expect("called with unbonding");
        let balance = ctx.wallet.get(self.position);
        let q = tx.amount.resolve(balance);
        if !(q.is_finite() && q >= 0.0) || q > balance {
            return Settlement::Rejected("insufficient balance");
        }
        if q == 0.0 {
            return Settlement::Skipped;
        }
        *ctx.wallet.get_mut(self.position) = balance - q;
        *ctx.wallet.get_mut(u.slot) += q;
        u.queue.entry(tx.agent).or_default().push_back((ctx.tick.saturating_add(u.ticks), q));
        u.total += q;
        Settlement::Filled(Fill { amount_in: q, amount_out: q, fee: 0.0 })
    }

    fn withdraw(&mut self, tx: &Tx, ctx: &mut SettleCtx<'_>) -> Settlement {
        let Some(u) = self.unbonding.as_mut() else {
            return Settlement::Rejected("this pool has no unbonding: unstaking pays out at once");
        };
        let balance = ctx.wallet.get(u.slot);
        let matured = u.matured(tx.agent, ctx.tick, balance);
        let q = tx.amount.resolve(matured);
        if !(q.is_finite() && q >= 0.0) || q > matured {
            return Settlement::Rejected("more than has finished unbonding");
        }
        if q == 0.0 {
            return Settlement::Skipped;
        }
        // Released entries are now part of the matured balance, which is
        // whatever the wallet holds beyond the pending entries.
        if let Some(queue) = u.queue.get_mut(&tx.agent) {
            while queue.front().is_some_and(|e| e.0 <= ctx.tick) {
                queue.pop_front();
            }
            if queue.is_empty() {
                u.queue.remove(&tx.agent);
            }
        }
        *ctx.wallet.get_mut(u.slot) = balance - q;
        *ctx.wallet.get_mut(self.token) += q;
        *ctx.ledger.balance_mut(self.account, self.token) -= q;
        u.total -= q;
        Settlement::Filled(Fill { amount_in: q, amount_out: q, fee: 0.0 })
    }

    /// Moves `amount` slashed tokens' backing out of the pool.
    fn pay_slash(&mut self, amount: f64, ledger: &mut Ledger) {
        *ledger.balance_mut(self.account, self.token) -= amount;
        match self.slashing.to {
            Some(to) => *ledger.balance_mut(to, self.token) += amount,
            None => ledger.record_burn(self.token, amount),
        }
        self.slashed += amount;
    }
}

impl Contract for StakingPool {
    fn accepts(&self) -> &'static [Action] {
        if self.unbonding.is_some() { ACCEPTS_UNBONDING } else { ACCEPTS }
    }

    fn settle(&mut self, tx: &Tx, ctx: &mut SettleCtx<'_>) -> Settlement {
        let (from, to, sign) = match tx.action {
            Action::Stake => (SlotId::from(self.token), self.position, 1.0),
            Action::Unstake if self.unbonding.is_some() => return self.unstake_into_unbonding(tx, ctx),
            Action::Unstake => (self.position, SlotId::from(self.token), -1.0),
            Action::Withdraw => return self.withdraw(tx, ctx),
            _ => return Settlement::Rejected("staking pools accept only stake, unstake and withdraw"),
        };
        let balance = ctx.wallet.get(from);
        let q = tx.amount.resolve(balance);
        if !(q.is_finite() && q >= 0.0) || q > balance {
            return Settlement::Rejected("insufficient balance");
        }
        if q == 0.0 {
            return Settlement::Skipped;
        }
        *ctx.wallet.get_mut(from) = balance - q;
        *ctx.wallet.get_mut(to) += q;
        *ctx.ledger.balance_mut(self.account, self.token) += sign * q;
        Settlement::Filled(Fill { amount_in: q, amount_out: q, fee: 0.0 })
    }

    fn begin_tick(&mut self, _tick: u32) {
        self.rewards_paid = 0.0;
        self.staked_at_payout = 0.0;
        self.slashed = 0.0;
    }

    fn observe(&mut self, ctx: &ObserveCtx<'_>) {
        self.issued_at_start = ctx.ledger.issued[self.token.0 as usize];
        self.minted_at_start = ctx.ledger.minted[self.token.0 as usize];
    }

    fn accrue(&mut self, ctx: &mut AccrueCtx<'_>) {
        let staked = self.staked(ctx.ledger);
        let pay = self.rate * ctx.ledger.balance(self.treasury, self.reward_asset);
        if staked > 0.0 && pay > 0.0 {
            self.staked_at_payout = staked;
            ctx.credits.push(ProRataCredit {
                slot: self.reward_asset.into(),
                weight: self.position,
                per_unit: pay / staked,
            });
        }
        if self.slashing.due(ctx.tick) {
            let f = self.slashing.fraction;
            ctx.credits.push(ProRataCredit { slot: self.position, weight: self.position, per_unit: -f });
            if let Some(u) = &mut self.unbonding {
                ctx.credits.push(ProRataCredit { slot: u.slot, weight: u.slot, per_unit: -f });
                for entry in u.queue.values_mut().flatten() {
                    entry.1 *= 1.0 - f;
                }
            }
        }
    }

    fn credited(&mut self, credit: &ProRataCredit, amount: f64, ledger: &mut Ledger) {
        if credit.slot == SlotId::from(self.reward_asset) {
            // What stakers received: `rate` of the treasury up to rounding,
            // and nothing when the pool holds only rounding dust and no
            // positions.
            // Agents' credits are summed in another order than the treasury's
            // balance was: never take more than it holds (the conservation
            // check still sees any real difference).
            let balance = ledger.balance_mut(self.treasury, self.reward_asset);
            *balance = (*balance - amount).max(0.0);
            self.rewards_paid = amount;
        } else {
            // A slash: `amount` is minus what left the agents' positions.
            if let Some(u) = &mut self.unbonding
                && credit.slot == u.slot
            {
                u.total += amount;
            }
            self.pay_slash(-amount, ledger);
        }
    }

    fn check(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Violation>) {
        // Stakes are sums of token amounts: known to within the supply's rounding.
        let scale = ctx.ledger.issued[self.token.0 as usize];
        let within_tolerance = |e: f64, a: f64| within_tolerance_of(e, a, scale);
        let mut expected = ctx.agent_sums[self.position.0 as usize];
        if let Some(u) = &self.unbonding {
            let held = ctx.agent_sums[u.slot.0 as usize];
            expected += held;
            if !within_tolerance(held, u.total) {
                out.push(Violation {
                    source: String::new(),
                    invariant: "unbonding_total".into(),
                    expected: held,
                    actual: u.total,
                });
            }
        }
        let actual = ctx.ledger.balance(self.account, self.token);
        if !within_tolerance(expected, actual) {
            out.push(Violation {
                source: String::new(),
                invariant: "stake_backing".into(),
                expected,
                actual,
            });
        }
    }

    fn metrics(&self) -> &'static [MetricDef] {
        if self.unbonding.is_some() { METRICS_UNBONDING } else { METRICS }
    }

    fn measure(&self, ledger: &Ledger, out: &mut Measure<'_>) {
        let staked = self.staked(ledger);
        let per_year = self.ticks_per_year;
        let apr = if self.staked_at_payout > 0.0 {
            self.rewards_paid / self.staked_at_payout * per_year
        } else {
            0.0
        };
        let issued = ledger.issued[self.token.0 as usize];
        let start = self.issued_at_start;
        let minted = ledger.minted[self.token.0 as usize] - self.minted_at_start;
        let inflation = if start > 0.0 { minted / start * per_year } else { 0.0 };
        out.set("total_staked", staked);
        out.set("rewards_paid", self.rewards_paid);
        if let Some(u) = &self.unbonding {
            out.set("total_unbonding", u.total);
        }
        out.set("slashed", self.slashed);
        out.set("apr", apr);
        out.set("inflation", inflation);
        out.set("real_yield", apr - inflation);
        out.set("staking_ratio", if issued > 0.0 { staked / issued } else { 0.0 });
    }
}

/// The `staking_pool` mechanism kind.
pub struct StakingPoolKind;

const PARAMS: &[Param] = &[
    Param::asset("token").doc("asset that is staked"),
    Param::asset("reward_asset").doc("asset rewards are paid in"),
    Param::account("treasury", Need::HOLDER).moves(Way::ToUsers, "rewards", "reward_asset").doc(
        "contract or account whose balance funds rewards (e.g. a treasury an emission mints into; list the emission first); the pool itself when reward_asset is not the staked token",
    ),
    Param::float("rate", 0.0, 1.0).doc("fraction of the treasury paid out per tick (1 pays all of it)"),
    Param::name("position").default_str("staked").doc("wallet column of each agent's staked balance"),
    Param::ticks("unbonding_ticks", 0).default_int(0).doc(
        "ticks an unstake waits in the unbonding position before a withdraw can release it (0: unstake pays out at once)",
    ),
    Param::name("unbonding_position")
        .default_str("unbonding")
        .doc("wallet column of each agent's unbonding balance (only with unbonding_ticks > 0)"),
    Param::int_list("slash_ticks", 1, u32::MAX as u64).optional("[]").doc("ticks at which stakers are slashed"),
    Param::float("slash_probability", 0.0, 1.0)
        .default_float(0.0)
        .doc("probability of a slash in any tick (the pool's own random stream)"),
    Param::float("slash_fraction", 0.0, 1.0)
        .default_float(0.0)
        .doc("fraction of every staked and unbonding balance a slash takes"),
    Param::account("slash_to", Need::HOLDER)
        .moves(Way::Forward, "slashed stake", "token")
        .optional("none (burnt)")
        .doc("account receiving slashed tokens (a contract, or else a named account); omitted: they are burnt"),
    Param::float("ticks_per_year", 0.0, 1e9)
        .open_low()
        .default_float(365.0)
        .doc("ticks in a year, to annualise apr and inflation"),
];

impl MechanismKind for StakingPoolKind {
    fn name(&self) -> &'static str {
        "staking_pool"
    }

    fn summary(&self) -> &'static str {
        "Locks tokens per agent and pays a rate of a treasury's balance to stakers pro rata every tick; optional unbonding delay and slashing."
    }

    fn params(&self) -> &'static [Param] {
        PARAMS
    }

    fn metrics(&self) -> &'static [MetricDef] {
        METRICS_UNBONDING
    }

    fn build(&self, ctx: &mut ContractBuilder<'_>) -> Result<Box<dyn Contract>, ScenarioError> {
        let p = ctx.params();
        let token = ctx.asset_param("token")?;
        let reward_asset = ctx.asset_param("reward_asset")?;
        let treasury = if p.str("treasury") == ctx.name() {
            if reward_asset == token {
                return Err(ctx.invalid(
                    "treasury",
                    "cannot be the pool itself when reward_asset is the staked token: rewards would be paid out of the stakes' backing; name a treasury contract",
                ));
            }
            ctx.account()
        } else {
            ctx.account_param("treasury")?
        };
        let position = ctx.add_position("position", p.str("position"), Some(token))?;
        let ticks = p.tick("unbonding_ticks");
        let unbonding = if ticks > 0 {
            let slot = ctx.add_position("unbonding_position", p.str("unbonding_position"), Some(token))?;
            Some(Unbonding { slot, ticks, queue: BTreeMap::new(), total: 0.0 })
        } else {
            if ctx.has_param("unbonding_position") {
                return Err(ctx.invalid(
                    "unbonding_position",
                    "does not apply with unbonding_ticks = 0; it applies only when unbonding_ticks > 0 (remove it or set unbonding_ticks)",
                ));
            }
            None
        };
        let mut slash_ticks: Vec<u32> = p.ints("slash_ticks").iter().map(|&t| t as u32).collect();
        slash_ticks.sort_unstable();
        slash_ticks.dedup();
        if p.opt_str("slash_to") == Some(ctx.name()) {
            return Err(ctx.invalid("slash_to", "cannot be the pool itself; omit it to burn slashed tokens"));
        }
        let slash_to = ctx.opt_account_param("slash_to")?;
        Ok(Box::new(StakingPool {
            token,
            position,
            account: ctx.account(),
            reward_asset,
            treasury,
            rate: p.float("rate"),
            rewards_paid: 0.0,
            ticks_per_year: p.float("ticks_per_year"),
            unbonding,
            slashing: Slashing {
                ticks: slash_ticks,
                probability: p.float("slash_probability"),
                fraction: p.float("slash_fraction"),
                to: slash_to,
                rng: ctx.rng(),
            },
            staked_at_payout: 0.0,
            slashed: 0.0,
            issued_at_start: 0.0,
            minted_at_start: 0.0,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::intent::Amount;
    use crate::engine::ledger::{Account, MAX_SLOTS};
    use crate::engine::rng::{Stream, stream_rng};
    use crate::engine::wallets::WalletBuf;

    const TKN: AssetId = AssetId(0);
    const DAI: AssetId = AssetId(1);
    const STAKED: SlotId = SlotId(2);
    const UNBONDING: SlotId = SlotId(3);
    const POOL: AccountId = AccountId(0);
    const TREASURY: AccountId = AccountId(1);
    const SINK: AccountId = AccountId(2);

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
    }

    /// A pool (account 0) staking TKN, paid `rate` of a DAI treasury
    /// (account 1, 1000 DAI); account 2 may receive slashes.
    fn setup(
        unbonding_ticks: u32,
        slash_ticks: Vec<u32>,
        fraction: f64,
        to: Option<AccountId>,
    ) -> (StakingPool, Ledger) {
        let mut ledger = Ledger::default();
        for name in ["pool", "treasury", "sink"] {
            ledger.accounts.push(Account { name: name.into(), balances: [0.0; MAX_SLOTS] });
        }
        ledger.issue(TREASURY, DAI, 1000.0);
        let unbonding = (unbonding_ticks > 0).then(|| Unbonding {
            slot: UNBONDING,
            ticks: unbonding_ticks,
            queue: BTreeMap::new(),
            total: 0.0,
        });
        let pool = StakingPool {
            token: TKN,
            position: STAKED,
            account: POOL,
            reward_asset: DAI,
            treasury: TREASURY,
            rate: 0.1,
            rewards_paid: 0.0,
            ticks_per_year: 365.0,
            unbonding,
            slashing: Slashing {
                ticks: slash_ticks,
                probability: 0.0,
                fraction,
                to,
                rng: stream_rng(1, Stream::Contract, &[0]),
            },
            staked_at_payout: 0.0,
            slashed: 0.0,
            issued_at_start: 0.0,
            minted_at_start: 0.0,
        };
        (pool, ledger)
    }

    /// Agents holding `tkn` liquid tokens each (minted into their wallets).
    fn agents(ledger: &mut Ledger, tkn: &[f64]) -> Vec<WalletBuf> {
        tkn.iter()
            .map(|&x| {
                let mut w = WalletBuf::default();
                *w.get_mut(TKN) = x;
                ledger.record_mint(TKN, x);
                w
            })
            .collect()
    }

    fn send(
        pool: &mut StakingPool,
        ledger: &mut Ledger,
        wallets: &mut [WalletBuf],
        agent: usize,
        action: Action,
        amount: Amount,
        tick: u32,
    ) -> Settlement {
        let tx = Tx { agent: AgentId(agent as u64), action, amount, target: None };
        pool.settle(&tx, &mut SettleCtx { wallet: &mut wallets[agent], ledger, tick })
    }

    /// One tick's end of block as the engine runs it: accrue, credits to
    /// every wallet in the order asked, `credited` with the amounts.
    fn end_block(pool: &mut StakingPool, ledger: &mut Ledger, wallets: &mut [WalletBuf], tick: u32) {
        let mut credits = Vec::new();
        pool.accrue(&mut AccrueCtx { ledger, credits: &mut credits, tick });
        let mut amounts = vec![0.0; credits.len()];
        for w in wallets.iter_mut() {
            for (c, total) in credits.iter().zip(&mut amounts) {
                let x = w.get(c.weight) * c.per_unit;
                *w.get_mut(c.slot) += x;
                *total += x;
            }
        }
        for (c, x) in credits.iter().zip(amounts) {
            pool.credited(c, x, ledger);
        }
    }

    /// The pool's invariants and conservation of both assets.
    fn assert_consistent(pool: &StakingPool, ledger: &Ledger, wallets: &[WalletBuf], tick: u32) {
        let mut sums = [0.0; MAX_SLOTS];
        for w in wallets {
            for (s, x) in sums.iter_mut().zip(w.0) {
                *s += x;
            }
        }
        let mut violations = Vec::new();
        pool.check(&CheckCtx { ledger, agent_sums: &sums, tick }, &mut violations);
        assert!(violations.is_empty(), "tick {tick}: {violations:?}");
        for asset in [TKN, DAI] {
            let held: f64 = sums[asset.0 as usize]
                + ledger.accounts.iter().map(|a| a.balances[asset.0 as usize]).sum::<f64>();
            assert!(
                close(held, ledger.issued[asset.0 as usize]),
                "tick {tick}: asset {asset:?} {held} vs {}",
                ledger.issued[asset.0 as usize]
            );
        }
        assert!(wallets.iter().all(|w| w.0.iter().all(|&x| x >= 0.0)), "tick {tick}: negative balance");
    }

    #[test]
    fn unbonded_tokens_are_released_exactly_at_the_release_tick() {
        let (mut pool, mut ledger) = setup(5, vec![], 0.0, None);
        let mut w = agents(&mut ledger, &[100.0]);
        let all = Amount::Fraction(1.0);
        assert!(matches!(
            send(&mut pool, &mut ledger, &mut w, 0, Action::Stake, all, 1),
            Settlement::Filled(_)
        ));
        // Unstake 60 at tick 2 (release 7), 40 at tick 4 (release 9).
        let unstake = |q| Amount::Units(q);
        assert!(matches!(
            send(&mut pool, &mut ledger, &mut w, 0, Action::Unstake, unstake(60.0), 2),
            Settlement::Filled(_)
        ));
        assert!(matches!(
            send(&mut pool, &mut ledger, &mut w, 0, Action::Unstake, unstake(40.0), 4),
            Settlement::Filled(_)
        ));
        assert_eq!((w[0].get(TKN), w[0].get(STAKED), w[0].get(UNBONDING)), (0.0, 0.0, 100.0));
        assert_eq!(ledger.balance(POOL, TKN), 100.0, "unbonding tokens stay in the pool");
        assert_consistent(&pool, &ledger, &w, 4);
        for tick in 2..7 {
            let before = (w[0], ledger.balance(POOL, TKN));
            assert_eq!(
                send(&mut pool, &mut ledger, &mut w, 0, Action::Withdraw, all, tick),
                Settlement::Skipped,
                "tick {tick}"
            );
            assert!(matches!(
                send(&mut pool, &mut ledger, &mut w, 0, Action::Withdraw, Amount::Units(1.0), tick),
                Settlement::Rejected(_)
            ));
            assert_eq!((w[0], ledger.balance(POOL, TKN)), before, "nothing moves before the release tick");
        }
        let Settlement::Filled(fill) = send(&mut pool, &mut ledger, &mut w, 0, Action::Withdraw, all, 7)
        else {
            panic!("the first tranche is released at tick 7")
        };
        assert_eq!(fill.amount_out, 60.0);
        assert_eq!((w[0].get(TKN), w[0].get(UNBONDING)), (60.0, 40.0));
        assert_eq!(send(&mut pool, &mut ledger, &mut w, 0, Action::Withdraw, all, 8), Settlement::Skipped);
        let Settlement::Filled(fill) = send(&mut pool, &mut ledger, &mut w, 0, Action::Withdraw, all, 9)
        else {
            panic!("the second tranche is released at tick 9")
        };
        assert_eq!(fill.amount_out, 40.0);
        assert_eq!((w[0].get(TKN), w[0].get(UNBONDING), ledger.balance(POOL, TKN)), (100.0, 0.0, 0.0));
        assert!(pool.unbonding().unwrap().queue.is_empty());
        assert_consistent(&pool, &ledger, &w, 9);
    }

    #[test]
    fn partial_withdraw_and_genesis_unbonding() {
        let (mut pool, mut ledger) = setup(3, vec![], 0.0, None);
        let mut w = agents(&mut ledger, &[0.0]);
        // 10 unbonding at genesis (no entry): withdrawable at once.
        *w[0].get_mut(UNBONDING) = 10.0;
        ledger.issue(POOL, TKN, 10.0);
        pool.unbonding.as_mut().unwrap().total = 10.0;
        let Settlement::Filled(f) =
            send(&mut pool, &mut ledger, &mut w, 0, Action::Withdraw, Amount::Units(4.0), 1)
        else {
            panic!()
        };
        assert_eq!(f.amount_out, 4.0);
        assert_eq!(
            send(&mut pool, &mut ledger, &mut w, 0, Action::Withdraw, Amount::Fraction(1.0), 1),
            Settlement::Filled(Fill { amount_in: 6.0, amount_out: 6.0, fee: 0.0 })
        );
        assert_eq!((w[0].get(TKN), w[0].get(UNBONDING)), (10.0, 0.0));
        assert_consistent(&pool, &ledger, &w, 1);
    }

    #[test]
    fn withdraw_is_refused_without_unbonding() {
        let (mut pool, mut ledger) = setup(0, vec![], 0.0, None);
        let mut w = agents(&mut ledger, &[100.0]);
        assert_eq!(pool.accepts(), ACCEPTS);
        assert!(pool.unbonding_slot().is_none());
        send(&mut pool, &mut ledger, &mut w, 0, Action::Stake, Amount::Fraction(1.0), 1);
        let Settlement::Filled(_) =
            send(&mut pool, &mut ledger, &mut w, 0, Action::Unstake, Amount::Units(30.0), 1)
        else {
            panic!()
        };
        assert_eq!(
            (w[0].get(TKN), w[0].get(STAKED)),
            (30.0, 70.0),
            "without unbonding, unstake pays out at once"
        );
        assert!(matches!(
            send(&mut pool, &mut ledger, &mut w, 0, Action::Withdraw, Amount::Fraction(1.0), 1),
            Settlement::Rejected(_)
        ));
    }

    /// Three agents stake 100, 200, 300; agent 2 unbonds 50; a slash of
    /// `f` at tick 3, after the tick's rewards.
    fn slash_world(to: Option<AccountId>) {
        let f = 0.2;
        let (mut pool, mut ledger) = setup(10, vec![3], f, to);
        let mut w = agents(&mut ledger, &[100.0, 200.0, 300.0]);
        for a in 0..3 {
            send(&mut pool, &mut ledger, &mut w, a, Action::Stake, Amount::Fraction(1.0), 1);
        }
        send(&mut pool, &mut ledger, &mut w, 2, Action::Unstake, Amount::Units(50.0), 1);
        for tick in 1..=2 {
            pool.begin_tick(tick);
            end_block(&mut pool, &mut ledger, &mut w, tick);
            assert_eq!(pool.slashed, 0.0, "no slash at tick {tick}");
            assert_consistent(&pool, &ledger, &w, tick);
        }
        let staked: Vec<f64> = w.iter().map(|w| w.get(STAKED)).collect();
        assert_eq!(staked, [100.0, 200.0, 250.0]);
        let issued = ledger.issued[0];
        let treasury = ledger.balance(TREASURY, DAI);
        let dai: Vec<f64> = w.iter().map(|w| w.get(DAI)).collect();

        pool.begin_tick(3);
        pool.issued_at_start = ledger.issued[0];
        pool.minted_at_start = ledger.minted[0];
        end_block(&mut pool, &mut ledger, &mut w, 3);
        let slashed = f * (550.0 + 50.0);
        for a in 0..3 {
            assert!(close(w[a].get(STAKED), staked[a] * (1.0 - f)), "agent {a}: staked·(1−f)");
            // Rewards of the tick are paid on the stake before the slash.
            assert!(close(w[a].get(DAI) - dai[a], 0.1 * treasury * staked[a] / 550.0), "agent {a}: reward");
        }
        assert!(close(w[2].get(UNBONDING), 50.0 * (1.0 - f)));
        assert!(close(pool.slashed, slashed));
        assert!(close(ledger.balance(POOL, TKN), 600.0 * (1.0 - f)));
        match to {
            None => {
                assert!(close(ledger.issued[0], issued - slashed), "burnt: issuance falls by the slash");
            }
            Some(sink) => {
                assert_eq!(ledger.issued[0], issued, "transferred, not burnt");
                assert!(close(ledger.balance(sink, TKN), slashed));
            }
        }
        assert_consistent(&pool, &ledger, &w, 3);
        let m = measured(&pool, &ledger);
        let names: Vec<&str> = pool.metrics().iter().map(|d| d.name).collect();
        let metric = |n: &str| m[names.iter().position(|&x| x == n).unwrap()];
        assert!(close(metric("slashed"), slashed));
        assert!(close(metric("total_staked"), 550.0 * (1.0 - f)));
        assert!(close(metric("total_unbonding"), 50.0 * (1.0 - f)));
        assert!(close(metric("apr"), 0.1 * treasury / 550.0 * 365.0));
        assert_eq!(metric("inflation"), 0.0, "a burn is not issuance");
        assert!(close(metric("staking_ratio"), 550.0 * (1.0 - f) / ledger.issued[0]));

        // The slashed tranche matures at tick 11 for its slashed amount and
        // empties the position.
        assert_eq!(
            send(&mut pool, &mut ledger, &mut w, 2, Action::Withdraw, Amount::Fraction(1.0), 10),
            Settlement::Skipped
        );
        let Settlement::Filled(fill) =
            send(&mut pool, &mut ledger, &mut w, 2, Action::Withdraw, Amount::Fraction(1.0), 11)
        else {
            panic!()
        };
        assert!(close(fill.amount_out, 40.0));
        assert_eq!(w[2].get(UNBONDING), 0.0);
        assert_consistent(&pool, &ledger, &w, 11);
    }

    #[test]
    fn slashing_burns_f_of_every_stake() {
        slash_world(None);
    }

    #[test]
    fn slashing_can_pay_an_account() {
        slash_world(Some(SINK));
    }

    #[test]
    fn random_slashes_follow_the_pools_own_stream() {
        let (mut pool, _) = setup(0, vec![], 0.5, None);
        pool.slashing.probability = 0.3;
        let mut rng = stream_rng(1, Stream::Contract, &[0]);
        let expected: Vec<bool> = (1..=200).map(|_| rng.random::<f64>() < 0.3).collect();
        let due: Vec<bool> = (1..=200).map(|t| pool.slashing.due(t)).collect();
        assert_eq!(due, expected);
        let n = due.iter().filter(|&&d| d).count();
        assert!((30..=90).contains(&n), "about 60 slashes in 200 ticks at p = 0.3, got {n}");
    }
}
