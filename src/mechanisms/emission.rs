//! Token emission: mints `token` into a `recipient` account (a contract such
//! as a rewards treasury, or a named account) every tick from `start_tick`
//! on, following a schedule.
//!
//! With `n = t − start_tick + 1` the emission's index at tick `t` (`n ≥ 1`)
//! and `a` the first emission (`amount`):
//!
//! - constant: `a_n = a`, total through `n`: `n·a`;
//! - exponential (`decay = d`): `a_n = a·(1−d)^(n−1)`, total
//!   `a·(1 − (1−d)^n)/d` (`n·a` when `d = 0`);
//! - halving (`halving_ticks = h`): `a_n = a / 2^⌊(n−1)/h⌋`; with
//!   `k = ⌊n/h⌋` full eras and `r = n − k·h`, total
//!   `2·a·h·(1 − 2^−k) + r·a·2^−k`.
//!
//! With `max_supply = M` the total emitted never exceeds `M`: the emission
//! that would cross it is truncated to `M − total` and later ones are 0, so
//! the total through `n` is `min(total_n, M)`.
//!
//! `inflation` is the simple annualised supply growth the emission causes:
//! `emitted / issued · ticks_per_year`, where `issued` is the token's total
//! supply just before this tick's mint.
//!
//! Composition: an emission mints in Accrue, and contracts accrue in the
//! order they appear in the scenario file. Listed before a staking pool
//! whose treasury is the emission's recipient, with the pool's `rate = 1`,
//! the pool pays out each tick's whole emission in the same tick.

use crate::engine::builder::ContractBuilder;
use crate::engine::contract::*;
use crate::engine::ids::{AccountId, AssetId};
use crate::engine::ledger::Ledger;
use crate::engine::params::{Need, Param, Way};
use crate::engine::registry::MechanismKind;
use crate::error::ScenarioError;

/// The shape of an emission schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Curve {
    /// The same amount every tick.
    Constant,
    /// Each emission is `1 − decay` times the previous one.
    Exponential {
        /// Per-tick decay factor `d` in `[0, 1]`.
        decay: f64,
    },
    /// The amount halves every `halving_ticks` emissions (Bitcoin-style).
    Halving {
        /// Emissions per era, `h ≥ 1`.
        halving_ticks: u32,
    },
}

/// An emission schedule in closed form, independent of any world: what the
/// `emission` mechanism mints each tick and in total.
///
/// ```
/// use tokensim::mechanisms::emission::{Curve, Schedule};
/// let halving = Schedule {
///     amount: 100.0,
///     curve: Curve::Halving { halving_ticks: 10 },
///     start_tick: 1,
///     max_supply: f64::INFINITY,
/// };
/// assert_eq!(halving.amount_at(10), 100.0);
/// assert_eq!(halving.amount_at(11), 50.0);
/// // Two full eras and 5 ticks of the third: 10·100 + 10·50 + 5·25.
/// assert_eq!(halving.total_through(25), 1625.0);
///
/// let decaying = Schedule { curve: Curve::Exponential { decay: 0.5 }, ..halving };
/// assert_eq!(decaying.amount_at(3), 25.0);
/// assert!((decaying.total_through(3) - 175.0).abs() < 1e-12);
///
/// let capped = Schedule { curve: Curve::Constant, max_supply: 250.0, ..halving };
/// assert_eq!(capped.total_through(2), 200.0);
/// assert_eq!(capped.total_through(3), 250.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// Tokens in the first emission, `a`.
    pub amount: f64,
    /// The schedule's shape.
    pub curve: Curve,
    /// Tick of the first emission (≥ 1); nothing is minted before it.
    pub start_tick: u32,
    /// Cap on the total emitted (`f64::INFINITY` for none).
    pub max_supply: f64,
}

impl Schedule {
    /// Index `n` (from 1) of the emission at `tick`; 0 before `start_tick`.
    #[inline]
    pub fn index(&self, tick: u32) -> u64 {
        if tick < self.start_tick { 0 } else { u64::from(tick - self.start_tick) + 1 }
    }

    /// The scheduled emission at `tick` before the `max_supply` cap:
    /// `a_n` of the module formulas (0 before `start_tick`).
    pub fn amount_at(&self, tick: u32) -> f64 {
        let n = self.index(tick);
        if n == 0 {
            return 0.0;
        }
        match self.curve {
            Curve::Constant => self.amount,
            Curve::Exponential { decay } => self.amount * (1.0 - decay).powf((n - 1) as f64),
            Curve::Halving { halving_ticks } => self.amount * halve((n - 1) / u64::from(halving_ticks)),
        }
    }

    /// Total emitted from `start_tick` through `tick` inclusive, in closed
    /// form, capped at `max_supply`.
    pub fn total_through(&self, tick: u32) -> f64 {
        let n = self.index(tick);
        if n == 0 {
            return 0.0;
        }
        let a = self.amount;
        let total = match self.curve {
            Curve::Constant => n as f64 * a,
            Curve::Exponential { decay: 0.0 } => n as f64 * a,
            // 1 − (1−d)^n computed as −expm1(n·ln(1−d)), accurate for small d.
            Curve::Exponential { decay } => a * -((n as f64) * (-decay).ln_1p()).exp_m1() / decay,
            Curve::Halving { halving_ticks } => {
                let h = u64::from(halving_ticks);
                let (eras, rest) = (n / h, n % h);
                2.0 * a * h as f64 * (1.0 - halve(eras)) + rest as f64 * a * halve(eras)
            }
        };
        total.min(self.max_supply)
    }
}

/// `2^−k`, exactly (0 once it underflows).
#[inline]
fn halve(k: u64) -> f64 {
    0.5f64.powi(k.min(1100) as i32)
}

/// A live emission.
#[derive(Clone, Debug)]
pub struct Emission {
    /// What is minted when.
    pub schedule: Schedule,
    token: AssetId,
    recipient: AccountId,
    ticks_per_year: f64,
    emitted: f64,
    total_emitted: f64,
    inflation: f64,
}

const METRICS: &[MetricDef] = &[
    MetricDef::flow("emitted", "{token}", "tokens minted this tick").at(Timing::Accrue),
    MetricDef::stock("total_emitted", "{token}", "tokens minted since the start"),
    MetricDef::flow(
        "inflation",
        "1/year",
        "annualised supply growth from this tick's mint: emitted / supply just before it · ticks_per_year",
    )
    .at(Timing::Accrue),
];

impl Emission {
    /// Tokens minted since the start.
    pub fn total_emitted(&self) -> f64 {
        self.total_emitted
    }

    /// Annualised supply growth caused by this tick's emission (0 when
    /// nothing existed before it).
    pub fn inflation(&self) -> f64 {
        self.inflation
    }
}

impl Contract for Emission {
    fn begin_tick(&mut self, _tick: u32) {
        self.emitted = 0.0;
        self.inflation = 0.0;
    }

    fn accrue(&mut self, ctx: &mut AccrueCtx<'_>) {
        let room = self.schedule.max_supply - self.total_emitted;
        let x = self.schedule.amount_at(ctx.tick).min(room).max(0.0);
        if x > 0.0 {
            let before = ctx.ledger.issued[self.token.0 as usize];
            ctx.ledger.issue(self.recipient, self.token, x);
            self.emitted = x;
            self.total_emitted += x;
            self.inflation = if before > 0.0 { x / before * self.ticks_per_year } else { 0.0 };
        }
    }

    fn check(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Violation>) {
        let expected = self.schedule.total_through(ctx.tick);
        if !within_tolerance(expected, self.total_emitted) {
            out.push(Violation {
                source: String::new(),
                invariant: "emission_schedule".into(),
                expected,
                actual: self.total_emitted,
            });
        }
    }

    fn metrics(&self) -> &'static [MetricDef] {
        METRICS
    }

    fn measure(&self, _ledger: &Ledger, out: &mut Measure<'_>) {
        out.set("emitted", self.emitted);
        out.set("total_emitted", self.total_emitted);
        out.set("inflation", self.inflation);
    }
}

/// The `emission` mechanism kind.
pub struct EmissionKind;

const PARAMS: &[Param] = &[
    Param::asset("token").doc("asset minted"),
    Param::account("recipient", Need::HOLDER).moves(Way::Forward, "emissions", "token").doc(
        "account that receives the emission, e.g. a rewards treasury (a name that is no contract is a named account)",
    ),
    Param::choice("schedule", &["constant", "exponential", "halving"])
        .default_str("constant")
        .doc("shape of the per-tick amount"),
    Param::amount("amount").doc("tokens minted in the first tick"),
    Param::float("decay", 0.0, 1.0)
        .optional("none; required with schedule = \"exponential\"")
        .only_with("schedule", &["exponential"])
        .doc("amount_n = amount·(1−decay)^(n−1)"),
    Param::ticks("halving_ticks", 1)
        .optional("none; required with schedule = \"halving\"")
        .only_with("schedule", &["halving"])
        .doc("amount_n = amount / 2^floor((n−1)/halving_ticks)"),
    Param::ticks("start_tick", 1).default_int(1).doc("tick of the first emission"),
    Param::amount("max_supply")
        .optional("none")
        .doc("cap on the total emitted; the emission that crosses it is truncated"),
    Param::float("ticks_per_year", 0.0, 1e9).open_low().default_float(365.0).doc("ticks in a year, to annualise `inflation`"),
];

impl MechanismKind for EmissionKind {
    fn name(&self) -> &'static str {
        "emission"
    }

    fn summary(&self) -> &'static str {
        "Mints a token every tick into a recipient account on a constant, exponential-decay or halving schedule, optionally capped."
    }

    fn params(&self) -> &'static [Param] {
        PARAMS
    }

    fn metrics(&self) -> &'static [MetricDef] {
        METRICS
    }

    fn build(&self, ctx: &mut ContractBuilder<'_>) -> Result<Box<dyn Contract>, ScenarioError> {
        let p = ctx.params();
        let token = ctx.asset_param("token")?;
        let recipient = ctx.account_param("recipient")?;
        let required = |field: &str, value: Option<u64>| {
            value.ok_or_else(|| {
                ctx.invalid(field, format!("required with schedule = \"{}\"", p.choice("schedule")))
            })
        };
        let curve = match p.choice("schedule") {
            "exponential" => {
                let decay = p
                    .opt_float("decay")
                    .ok_or_else(|| ctx.invalid("decay", "required with schedule = \"exponential\""))?;
                Curve::Exponential { decay }
            }
            "halving" => Curve::Halving {
                halving_ticks: required("halving_ticks", p.opt_int("halving_ticks"))? as u32,
            },
            _ => Curve::Constant,
        };
        let schedule = Schedule {
            amount: p.float("amount"),
            curve,
            start_tick: p.tick("start_tick"),
            max_supply: p.opt_float("max_supply").unwrap_or(f64::INFINITY),
        };
        Ok(Box::new(Emission {
            schedule,
            token,
            recipient,
            ticks_per_year: p.float("ticks_per_year"),
            emitted: 0.0,
            total_emitted: 0.0,
            inflation: 0.0,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ledger::{Account, MAX_SLOTS};

    const TKN: AssetId = AssetId(0);

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
    }

    /// An emission (account 0) minting into account 1, over a ledger that
    /// already holds `genesis` tokens in account 2.
    fn world(schedule: Schedule, genesis: f64) -> (Emission, Ledger) {
        let mut ledger = Ledger::default();
        for name in ["emission", "rewards", "hatch"] {
            ledger.accounts.push(Account { name: name.into(), balances: [0.0; MAX_SLOTS] });
        }
        ledger.issue(AccountId(2), TKN, genesis);
        let e = Emission {
            schedule,
            token: TKN,
            recipient: AccountId(1),
            ticks_per_year: 365.0,
            emitted: 0.0,
            total_emitted: 0.0,
            inflation: 0.0,
        };
        (e, ledger)
    }

    /// Runs ticks `1..=ticks` and returns the per-tick amounts minted, as
    /// seen in the ledger, checking the contract's invariant every tick.
    fn run(e: &mut Emission, ledger: &mut Ledger, ticks: u32) -> Vec<f64> {
        let mut minted = Vec::new();
        for tick in 1..=ticks {
            e.begin_tick(tick);
            let before = ledger.balance(AccountId(1), TKN);
            let issued_before = ledger.issued[0];
            let mut credits = Vec::new();
            e.accrue(&mut AccrueCtx { ledger, credits: &mut credits, tick });
            assert!(credits.is_empty());
            // Differences of large balances: compare at the ledger's scale.
            let near = |a: f64, b: f64| (a - b).abs() <= 1e-12 * ledger.issued[0].max(1.0);
            let x = ledger.balance(AccountId(1), TKN) - before;
            assert!(near(ledger.issued[0] - issued_before, e.emitted), "tick {tick}: the mint is issuance");
            assert!(near(x, e.emitted), "tick {tick}: `emitted` is what reached the recipient");
            minted.push(e.emitted);
            let sums = [0.0; MAX_SLOTS];
            let mut violations = Vec::new();
            e.check(&CheckCtx { ledger, agent_sums: &sums, tick }, &mut violations);
            assert!(violations.is_empty(), "tick {tick}: {violations:?}");
        }
        minted
    }

    fn schedule(curve: Curve) -> Schedule {
        Schedule { amount: 1000.0, curve, start_tick: 1, max_supply: f64::INFINITY }
    }

    #[test]
    fn constant_emits_n_times_a() {
        let (mut e, mut ledger) = world(schedule(Curve::Constant), 1e6);
        let minted = run(&mut e, &mut ledger, 50);
        assert!(minted.iter().all(|&x| x == 1000.0));
        assert_eq!(e.total_emitted, 50.0 * 1000.0);
        assert_eq!(ledger.balance(AccountId(1), TKN), 50_000.0);
        assert_eq!(ledger.issued[0], 1e6 + 50_000.0);
    }

    #[test]
    fn exponential_total_is_a_geometric_series() {
        for d in [0.0, 0.001, 0.01, 0.3, 1.0] {
            let (mut e, mut ledger) = world(schedule(Curve::Exponential { decay: d }), 1e6);
            let n = 200;
            let minted = run(&mut e, &mut ledger, n);
            for (i, &x) in minted.iter().enumerate() {
                let expected = if i == 0 { 1000.0 } else { 1000.0 * (1.0 - d).powi(i as i32) };
                assert!(close(x, expected), "d = {d}, tick {}: {x} vs {expected}", i + 1);
            }
            let expected =
                if d == 0.0 { n as f64 * 1000.0 } else { 1000.0 * (1.0 - (1.0 - d).powi(n as i32)) / d };
            assert!(close(e.total_emitted, expected), "d = {d}: {} vs {expected}", e.total_emitted);
            assert!(close(e.schedule.total_through(n), expected), "closed form, d = {d}");
        }
    }

    #[test]
    fn halving_totals_sum_the_eras() {
        let h = 7;
        let (mut e, mut ledger) = world(schedule(Curve::Halving { halving_ticks: h }), 1e6);
        let minted = run(&mut e, &mut ledger, 30);
        // Eras of 7 ticks: 1000, 500, 250, 125, then 62.5 for ticks 29..30.
        let mut expected_total = 0.0;
        for (i, &x) in minted.iter().enumerate() {
            let era = i as u32 / h;
            let expected = 1000.0 / f64::from(2u32.pow(era));
            assert_eq!(x, expected, "tick {}", i + 1);
            expected_total += expected;
        }
        assert_eq!(expected_total, 7.0 * (1000.0 + 500.0 + 250.0 + 125.0) + 2.0 * 62.5);
        assert_eq!(e.total_emitted, expected_total);
        assert_eq!(e.schedule.total_through(30), expected_total);
        // Infinite horizon: 2·a·h.
        assert!(close(e.schedule.total_through(u32::MAX), 2.0 * 1000.0 * 7.0));
    }

    #[test]
    fn max_supply_truncates_the_crossing_emission() {
        let capped = Schedule { max_supply: 4500.0, ..schedule(Curve::Constant) };
        let (mut e, mut ledger) = world(capped, 0.0);
        let minted = run(&mut e, &mut ledger, 8);
        assert_eq!(minted, [1000.0, 1000.0, 1000.0, 1000.0, 500.0, 0.0, 0.0, 0.0]);
        assert_eq!(e.total_emitted, 4500.0);
        assert_eq!(ledger.issued[0], 4500.0);

        let halving = Schedule { max_supply: 1800.0, ..schedule(Curve::Halving { halving_ticks: 1 }) };
        let (mut e, mut ledger) = world(halving, 0.0);
        let minted = run(&mut e, &mut ledger, 5);
        assert_eq!(minted, [1000.0, 500.0, 250.0, 50.0, 0.0]);
    }

    #[test]
    fn nothing_before_start_tick_and_inflation_is_annualised() {
        let late = Schedule { start_tick: 4, ..schedule(Curve::Exponential { decay: 0.5 }) };
        let (mut e, mut ledger) = world(late, 1e6);
        let minted = run(&mut e, &mut ledger, 6);
        assert_eq!(minted, [0.0, 0.0, 0.0, 1000.0, 500.0, 250.0]);
        // Tick 6: 250 minted over a supply of 1e6 + 1500 before it.
        assert!(close(e.inflation, 250.0 / 1_001_500.0 * 365.0));
        assert_eq!(late.total_through(3), 0.0);
        assert_eq!(late.total_through(6), 1750.0);
    }
}
