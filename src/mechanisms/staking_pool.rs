//! A staking pool: agents lock tokens into a per-agent position; every tick
//! the pool pays `rate` of a treasury's balance to stakers pro rata.
//!
//! The locked tokens sit in the pool's account, so `Σ positions == pool
//! balance` is its invariant and token conservation still holds.

use serde::Deserialize;

use crate::engine::build::ContractBuilder;
use crate::engine::contract::*;
use crate::engine::ids::{AccountId, AssetId, SlotId};
use crate::engine::intent::Action;
use crate::engine::ledger::Ledger;
use crate::error::ScenarioError;
use crate::registry::{MechanismKind, ParamDoc};

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
}

const ACCEPTS: &[Action] = &[Action::Stake, Action::Unstake];

const METRICS: &[MetricDef] = &[
    MetricDef { name: "total_staked", kind: MetricKind::Float, doc: "tokens staked in the pool" },
    MetricDef { name: "rewards_paid", kind: MetricKind::Float, doc: "rewards credited to stakers this tick" },
];

impl StakingPool {
    fn total(&self, ledger: &Ledger) -> f64 {
        ledger.balance(self.account, self.token)
    }
}

impl Contract for StakingPool {
    fn accepts(&self) -> &'static [Action] {
        ACCEPTS
    }

    fn settle(&mut self, tx: &Tx, ctx: &mut SettleCtx<'_>) -> Settlement {
        let (from, to, sign) = match tx.action {
            Action::Stake => (SlotId::from(self.token), self.position, 1.0),
            Action::Unstake => (self.position, SlotId::from(self.token), -1.0),
            _ => return Settlement::Rejected("staking pools accept only stake and unstake"),
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
    }

    fn accrue(&mut self, ctx: &mut AccrueCtx<'_>) {
        let staked = self.total(ctx.ledger);
        let pay = self.rate * ctx.ledger.balance(self.treasury, self.reward_asset);
        if staked > 0.0 && pay > 0.0 {
            ctx.credits.push(ProRataCredit {
                slot: self.reward_asset.into(),
                weight: self.position,
                per_unit: pay / staked,
            });
        }
    }

    fn credited(&mut self, _credit: &ProRataCredit, amount: f64, ledger: &mut Ledger) {
        // What stakers received: `rate` of the treasury up to rounding, and
        // nothing when the pool holds only rounding dust and no positions.
        *ledger.balance_mut(self.treasury, self.reward_asset) -= amount;
        self.rewards_paid = amount;
    }

    fn check(&self, ctx: &CheckCtx<'_>, out: &mut Vec<Violation>) {
        let expected = ctx.agent_sums[self.position.0 as usize];
        let actual = self.total(ctx.ledger);
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
        METRICS
    }

    fn measure(&self, ledger: &Ledger, out: &mut Vec<f64>) {
        out.extend([self.total(ledger), self.rewards_paid]);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    token: String,
    reward_asset: String,
    treasury: String,
    rate: f64,
    #[serde(default = "staked")]
    position: String,
}

fn staked() -> String {
    "staked".into()
}

/// The `staking_pool` mechanism kind.
pub struct StakingPoolKind;

impl MechanismKind for StakingPoolKind {
    fn name(&self) -> &'static str {
        "staking_pool"
    }

    fn summary(&self) -> &'static str {
        "Locks tokens per agent and pays a rate of a treasury's balance to stakers pro rata every tick."
    }

    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc { name: "token", ty: "asset name", default: None, doc: "asset that is staked" },
            ParamDoc {
                name: "reward_asset",
                ty: "asset name",
                default: None,
                doc: "asset rewards are paid in",
            },
            ParamDoc {
                name: "treasury",
                ty: "contract name",
                default: None,
                doc: "contract whose balance funds rewards",
            },
            ParamDoc {
                name: "rate",
                ty: "float in [0, 1]",
                default: None,
                doc: "fraction of the treasury paid out per tick",
            },
            ParamDoc {
                name: "position",
                ty: "name",
                default: Some("\"staked\""),
                doc: "wallet column of each agent's staked balance",
            },
        ]
    }

    fn build(&self, ctx: &mut ContractBuilder<'_>) -> Result<Box<dyn Contract>, ScenarioError> {
        let p: Params = ctx.params()?;
        let token = ctx.asset("token", &p.token)?;
        let reward_asset = ctx.asset("reward_asset", &p.reward_asset)?;
        let treasury = ctx.contract_account("treasury", &p.treasury)?;
        ctx.check_range("rate", p.rate, 0.0, 1.0)?;
        let position = ctx.add_position("position", &p.position, Some(token))?;
        Ok(Box::new(StakingPool {
            token,
            position,
            account: ctx.account(),
            reward_asset,
            treasury,
            rate: p.rate,
            rewards_paid: 0.0,
        }))
    }
}
