//! A treasury (funding pool): an account holding one asset, receiving
//! tributes and paying out rewards or grants through other mechanisms.

use serde::Deserialize;

use crate::engine::build::ContractBuilder;
use crate::engine::contract::{Contract, MetricDef, MetricKind};
use crate::engine::ids::{AccountId, AssetId};
use crate::engine::ledger::Ledger;
use crate::error::ScenarioError;
use crate::registry::{MechanismKind, ParamDoc};

/// A live treasury.
#[derive(Clone, Debug)]
pub struct Treasury {
    account: AccountId,
    asset: AssetId,
}

const METRICS: &[MetricDef] =
    &[MetricDef { name: "balance", kind: MetricKind::Float, doc: "balance of the treasury's asset" }];

impl Contract for Treasury {
    fn metrics(&self) -> &'static [MetricDef] {
        METRICS
    }

    fn measure(&self, ledger: &Ledger, out: &mut Vec<f64>) {
        out.push(ledger.balance(self.account, self.asset));
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    asset: String,
    #[serde(default)]
    initial_balance: f64,
}

/// The `treasury` mechanism kind.
pub struct TreasuryKind;

impl MechanismKind for TreasuryKind {
    fn name(&self) -> &'static str {
        "treasury"
    }

    fn summary(&self) -> &'static str {
        "A funding pool holding one asset; receives tributes and funds rewards."
    }

    fn params(&self) -> &'static [ParamDoc] {
        &[
            ParamDoc {
                name: "asset",
                ty: "asset name",
                default: None,
                doc: "the asset it holds and reports",
            },
            ParamDoc {
                name: "initial_balance",
                ty: "float >= 0",
                default: Some("0"),
                doc: "balance created at genesis",
            },
        ]
    }

    fn build(&self, ctx: &mut ContractBuilder<'_>) -> Result<Box<dyn Contract>, ScenarioError> {
        let p: Params = ctx.params()?;
        let asset = ctx.asset("asset", &p.asset)?;
        ctx.check_range("initial_balance", p.initial_balance, 0.0, f64::MAX)?;
        let account = ctx.account();
        ctx.issue(account, asset, p.initial_balance);
        Ok(Box::new(Treasury { account, asset }))
    }
}
