//! Vesting: token allocations locked in a per-agent position that unlock
//! after a cliff, then linearly, into the holder's liquid balance.
//!
//! Every holder's allocation sits in a backed position (`position`, e.g.
//! `team_locked`) whose tokens are held by this contract's account; a
//! population starts with it through `balances = { team_locked = 1e6 }`.
//!
//! **Schedule.** With start `s`, cliff `c` and duration `d` (ticks), the
//! fraction of an allocation unlocked by the end of tick `t` is
//!
//! ```text
//! f(t) = 0                          if t < s + c
//!      = min(1, max(0, (t − s)/d))  otherwise
//! ```
//!
//! so nothing unlocks before the cliff, the cliff's share `c/d` unlocks at
//! once at tick `s + c`, and the rest unlocks linearly until `s + d`.
//!
//! **Unlock.** At the end of tick `t` (Accrue) the contract asks for two
//! [`ProRataCredit`]s weighted by the locked position, applied in order to
//! every wallet: `token += locked·g`, then `locked −= locked·g`, where
//!
//! ```text
//! g(t) = (f(t) − f(t−1)) / (1 − f(t−1))
//! ```
//!
//! is the share of what is still locked that unlocks now. The locked
//! balance after tick `t` is `alloc·Π(1 − g) = alloc·(1 − f(t))`
//! (the product telescopes), whatever the allocation, so one pair of
//! credits serves every holder; at the end `g = 1` and positions reach
//! exactly 0. The token credit is paid from this contract's account, which
//! holds the backing, so `Σ locked positions == account balance` (checked
//! every tick as `vesting_backing`).

use crate::engine::builder::ContractBuilder;
use crate::engine::contract::*;
use crate::engine::ids::{AccountId, AssetId, SlotId};
use crate::engine::ledger::Ledger;
use crate::engine::params::{Param, Way};
use crate::engine::registry::MechanismKind;
use crate::error::ScenarioError;

/// A vesting schedule in closed form: start, cliff and duration in ticks.
///
/// ```
/// use tokensim::mechanisms::vesting::Schedule;
/// let s = Schedule { start: 0, cliff: 30, duration: 120 };
/// assert_eq!(s.unlocked_fraction(29), 0.0);
/// assert_eq!(s.unlocked_fraction(30), 0.25); // the cliff's share at once
/// assert_eq!(s.unlocked_fraction(60), 0.5);
/// assert_eq!(s.unlocked_fraction(120), 1.0);
/// assert_eq!(s.unlocked_fraction(500), 1.0);
/// // Share of what is still locked after tick 59 that unlocks at tick 60.
/// let g = s.step_share(60);
/// assert!((g - (0.5 - 59.0 / 120.0) / (1.0 - 59.0 / 120.0)).abs() < 1e-15);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Tick the linear schedule counts from (`s`).
    pub start: u32,
    /// Ticks after `start` before anything unlocks (`c`).
    pub cliff: u32,
    /// Ticks after `start` until everything is unlocked (`d > 0`, `d ≥ c`).
    pub duration: u32,
}

impl Schedule {
    /// `f(t)`: fraction of an allocation unlocked by the end of tick `t`.
    pub fn unlocked_fraction(&self, t: u32) -> f64 {
        let t = u64::from(t);
        let (s, c, d) = (u64::from(self.start), u64::from(self.cliff), u64::from(self.duration));
        if t < s + c || t <= s {
            0.0
        } else if t >= s + d {
            1.0
        } else {
            (t - s) as f64 / d as f64
        }
    }

    /// `g(t) = (f(t) − f(t−1)) / (1 − f(t−1))`: the share of the balance
    /// still locked after tick `t − 1` that unlocks at tick `t` (0 when
    /// nothing is left or nothing unlocks).
    pub fn step_share(&self, t: u32) -> f64 {
        let prev = if t == 0 { 0.0 } else { self.unlocked_fraction(t - 1) };
        let now = self.unlocked_fraction(t);
        if prev >= 1.0 || now <= prev {
            0.0
        } else if now >= 1.0 {
            1.0
        } else {
            (now - prev) / (1.0 - prev)
        }
    }
}

/// A live vesting contract.
#[derive(Clone, Debug)]
pub struct Vesting {
    /// The unlock schedule.
    pub schedule: Schedule,
    token: AssetId,
    position: SlotId,
    account: AccountId,
    unlocked: f64,
    total_unlocked: f64,
}

impl Vesting {
    /// The asset that vests.
    pub fn token(&self) -> AssetId {
        self.token
    }

    /// The wallet slot of each holder's locked balance.
    pub fn position(&self) -> SlotId {
        self.position
    }

    /// Tokens still locked (the contract's backing balance).
    pub fn locked(&self, ledger: &Ledger) -> f64 {
        ledger.balance(self.account, self.token)
    }
}

const METRICS: &[MetricDef] = &[
    MetricDef::stock("locked", "{token}", "tokens still locked (Σ positions)"),
    MetricDef::flow("unlocked", "{token}", "tokens unlocked this tick").at(Timing::Accrue),
    MetricDef::stock("total_unlocked", "{token}", "tokens unlocked since the start"),
];

impl Contract for Vesting {
    fn begin_tick(&mut self, _tick: u32) {
        self.unlocked = 0.0;
    }

    fn accrue(&mut self, ctx: &mut AccrueCtx<'_>) {
        let g = self.schedule.step_share(ctx.tick);
        if g > 0.0 && self.locked(ctx.ledger) > 0.0 {
            // Credit the tokens first: the engine applies credits in order
            // per wallet, so the debit below sees the same locked weight.
            ctx.credits.push(ProRataCredit { slot: self.token.into(), weight: self.position, per_unit: g });
            ctx.credits.push(ProRataCredit { slot: self.position, weight: self.position, per_unit: -g });
        }
    }

    fn credited(&mut self, credit: &ProRataCredit, amount: f64, ledger: &mut Ledger) {
        // The position debit is bookkeeping of the positions themselves;
        // the tokens holders received come out of the backing.
        if credit.slot == SlotId::from(self.token) {
            *ledger.balance_mut(self.account, self.token) -= amount;
            self.unlocked += amount;
            self.total_unlocked += amount;
        }
    }

    fn check(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Violation>) {
        let expected = ctx.agent_sums[self.position.0 as usize];
        let actual = self.locked(ctx.ledger);
        if !within_tolerance(expected, actual) {
            out.push(Violation {
                source: String::new(),
                invariant: "vesting_backing".into(),
                expected,
                actual,
            });
        }
    }

    fn metrics(&self) -> &'static [MetricDef] {
        METRICS
    }

    fn measure(&self, ledger: &Ledger, out: &mut Measure<'_>) {
        out.set("locked", self.locked(ledger));
        out.set("unlocked", self.unlocked);
        out.set("total_unlocked", self.total_unlocked);
    }
}

/// The `vesting` mechanism kind.
pub struct VestingKind;

const PARAMS: &[Param] = &[
    Param::asset("token").doc("asset that vests"),
    Param::name("position")
        .moves(Way::ToUsers, "unlocks", "token")
        .doc("wallet column of each holder's locked balance (start it with `balances`)"),
    Param::ticks("start_tick", 0).default_int(0).doc("tick the schedule counts from"),
    Param::ticks("cliff_ticks", 0).doc(
        "ticks after start before anything unlocks; then cliff/duration unlocks at once (<= duration_ticks)",
    ),
    Param::ticks("duration_ticks", 1).doc("ticks after start until everything is unlocked (linear)"),
];

impl MechanismKind for VestingKind {
    fn name(&self) -> &'static str {
        "vesting"
    }

    fn summary(&self) -> &'static str {
        "Locked allocations (a backed position) unlocking into liquid tokens after a cliff, then linearly."
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
        let (start, cliff, duration) =
            (p.tick("start_tick"), p.tick("cliff_ticks"), p.tick("duration_ticks"));
        if cliff > duration {
            return Err(ctx.invalid(
                "cliff_ticks",
                format!("{cliff} is out of range: must be <= duration_ticks ({duration})"),
            ));
        }
        if u64::from(start) + u64::from(duration) > u64::from(u32::MAX) {
            return Err(ctx.invalid("duration_ticks", "start_tick + duration_ticks is too large"));
        }
        let position = ctx.add_position("position", p.str("position"), Some(token))?;
        Ok(Box::new(Vesting {
            schedule: Schedule { start, cliff, duration },
            token,
            position,
            account: ctx.account(),
            unlocked: 0.0,
            total_unlocked: 0.0,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::engine::build::RunSpec;
    use crate::engine::registry::Registry;
    use crate::engine::sim::Simulation;
    use crate::scenario::LoadedScenario;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn fraction_is_zero_before_the_cliff_then_linear() {
        let s = Schedule { start: 10, cliff: 20, duration: 100 };
        for t in 0..30 {
            assert_eq!(s.unlocked_fraction(t), 0.0, "t={t}");
        }
        assert_eq!(s.unlocked_fraction(30), 0.2);
        assert_eq!(s.unlocked_fraction(60), 0.5);
        assert_eq!(s.unlocked_fraction(110), 1.0);
        assert_eq!(s.unlocked_fraction(u32::MAX), 1.0);
        // No cliff: the first tick after start unlocks 1/d.
        let s = Schedule { start: 0, cliff: 0, duration: 4 };
        let f: Vec<f64> = (0..6).map(|t| s.unlocked_fraction(t)).collect();
        assert_eq!(f, [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]);
        // Cliff == duration: everything at once.
        let s = Schedule { start: 5, cliff: 3, duration: 3 };
        assert_eq!(s.unlocked_fraction(7), 0.0);
        assert_eq!(s.unlocked_fraction(8), 1.0);
    }

    #[test]
    fn step_shares_compound_to_the_schedule() {
        for s in [
            Schedule { start: 0, cliff: 0, duration: 1 },
            Schedule { start: 0, cliff: 30, duration: 120 },
            Schedule { start: 7, cliff: 13, duration: 13 },
            Schedule { start: 3, cliff: 0, duration: 50 },
        ] {
            let mut locked = 1.0;
            for t in 1..=200 {
                locked *= 1.0 - s.step_share(t);
                assert!(close(locked, 1.0 - s.unlocked_fraction(t)), "{s:?} t={t}: {locked}");
            }
            assert_eq!(locked, 0.0, "{s:?}");
        }
    }

    /// A world with two holders (allocations 1000 and 250) who do nothing
    /// and the given schedule.
    fn world(start: u32, cliff: u32, duration: u32, ticks: u32) -> Simulation {
        let text = format!(
            r#"
ticks = {ticks}
assets = ["TKN"]
[contracts.team]
kind = "vesting"
token = "TKN"
position = "team_locked"
start_tick = {start}
cliff_ticks = {cliff}
duration_ticks = {duration}
[populations.big]
count = 1
balances = {{ team_locked = 1000.0 }}
[populations.small]
count = 1
balances = {{ team_locked = 250.0 }}
"#
        );
        let sc = LoadedScenario::from_str(Path::new("vesting.toml"), &text).unwrap();
        Simulation::new(&sc, &Registry::builtin(), &RunSpec::single(1)).unwrap()
    }

    fn balances(sim: &mut Simulation) -> Vec<(f64, f64)> {
        let mut out = Vec::new();
        sim.for_each_agent(|_, w| out.push((w.get(SlotId(0)), w.get(SlotId(1)))));
        out
    }

    #[test]
    fn liquid_balances_follow_the_closed_form() {
        let (start, cliff, duration) = (5, 20, 80);
        let s = Schedule { start, cliff, duration };
        let mut sim = world(start, cliff, duration, 100);
        let allocs = [1000.0, 250.0];
        let mut total = 0.0;
        for t in 1..=100 {
            let log = sim.step();
            assert!(log.violations.is_empty(), "t={t}: {:?}", log.violations);
            let m = log.metrics.clone();
            total += m[1];
            let f = s.unlocked_fraction(t);
            for ((liquid, locked), alloc) in balances(&mut sim).into_iter().zip(allocs) {
                assert!(close(liquid, alloc * f), "t={t}: liquid {liquid} vs {}", alloc * f);
                assert!(close(locked, alloc * (1.0 - f)), "t={t}: locked {locked}");
                if t < start + cliff {
                    assert_eq!(liquid, 0.0, "t={t}: nothing before the cliff");
                }
                if t == start + cliff {
                    // The cliff's share (20/80) in one credit: one rounding.
                    assert_eq!(liquid, alloc * 0.25, "t={t}");
                }
                if t >= start + duration {
                    assert_eq!(locked, 0.0, "t={t}: fully unlocked");
                    assert!(close(liquid, alloc), "t={t}");
                }
            }
            assert!(close(m[0], 1250.0 * (1.0 - f)), "locked metric at t={t}");
            assert!(close(m[2], 1250.0 * f), "total_unlocked metric at t={t}");
            let prev = if t == 0 { 0.0 } else { s.unlocked_fraction(t - 1) };
            assert!(close(m[1], 1250.0 * (f - prev)), "unlocked metric at t={t}");
        }
        assert!(close(total, 1250.0), "whole schedule unlocks the allocation: {total}");
        let issued = sim.world.resource::<Ledger>().issued[0];
        assert_eq!(issued, 1250.0, "vesting mints nothing");
    }

    #[test]
    fn bad_schedules_are_errors_naming_the_field() {
        for (cliff, duration, field) in [(10, 5, "cliff_ticks"), (0, 0, "duration_ticks")] {
            let text = format!(
                "ticks = 1\nassets = [\"TKN\"]\n[contracts.v]\nkind = \"vesting\"\ntoken = \"TKN\"\n\
                 position = \"locked\"\ncliff_ticks = {cliff}\nduration_ticks = {duration}\n"
            );
            let sc = LoadedScenario::from_str(Path::new("bad.toml"), &text).unwrap();
            let err = Simulation::new(&sc, &Registry::builtin(), &RunSpec::single(1)).err().unwrap();
            let msg = err.to_string();
            assert!(msg.contains(field) && msg.contains("bad.toml:"), "{msg}");
        }
    }
}
