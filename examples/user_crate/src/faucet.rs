//! A user's own mechanism and behaviour: a `faucet` contract that pays a
//! fixed drip of an asset to whoever claims, until it runs dry, and a
//! `dip_buyer` behaviour that claims every tick and buys on a venue while
//! its price is below a limit. [`register`] adds both to a registry.

use bevy_ecs::prelude::Component;
use tokensim::prelude::*;

/// Adds the `faucet` mechanism and the `dip_buyer` behaviour to `registry`.
pub fn register(registry: &mut Registry) -> &mut Registry {
    registry.add_mechanism(FaucetKind).add_behaviour(DipBuyerKind)
}

/// Pays `drip` of `asset` from its own account to each claimant.
struct Faucet {
    account: AccountId,
    asset: AssetId,
    drip: f64,
    claims: u64,
}

const FAUCET_METRICS: &[MetricDef] = &[
    MetricDef::stock("balance", "{asset}", "what is left to pay out"),
    MetricDef::flow("claims", "count", "claims paid this tick").count().at(Timing::Settle),
];

impl Contract for Faucet {
    fn accepts(&self) -> &'static [Action] {
        &[Action::Withdraw]
    }

    fn settle(&mut self, _tx: &Tx, ctx: &mut SettleCtx<'_>) -> Settlement {
        let left = ctx.ledger.balance(self.account, self.asset);
        if left < self.drip {
            return Settlement::Rejected("faucet empty");
        }
        // The drip moves from the faucet's account to the sender's wallet.
        *ctx.ledger.balance_mut(self.account, self.asset) = left - self.drip;
        *ctx.wallet.get_mut(self.asset) += self.drip;
        self.claims += 1;
        Settlement::Filled(Fill { amount_in: 0.0, amount_out: self.drip, fee: 0.0 })
    }

    fn begin_tick(&mut self, _tick: u32) {
        self.claims = 0;
    }

    fn metrics(&self) -> &'static [MetricDef] {
        FAUCET_METRICS
    }

    fn measure(&self, ledger: &Ledger, out: &mut Measure<'_>) {
        out.set("balance", ledger.balance(self.account, self.asset));
        out.set("claims", self.claims as f64);
    }
}

/// The `faucet` kind: parameters → a `Faucet`.
pub struct FaucetKind;

impl MechanismKind for FaucetKind {
    fn name(&self) -> &'static str {
        "faucet"
    }

    fn summary(&self) -> &'static str {
        "Pays a fixed drip to each claimant until it runs dry."
    }

    fn params(&self) -> &'static [ParamDecl] {
        // One declaration per parameter: reading, range checks, `tokensim
        // list` and the reference all come from it.
        const PARAMS: &[ParamDecl] = &[
            ParamDecl::asset("asset").doc("what it pays"),
            ParamDecl::amount("supply").doc("created in its account at genesis"),
            ParamDecl::positive_amount("drip").doc("paid per claim"),
        ];
        PARAMS
    }

    fn metrics(&self) -> &'static [MetricDef] {
        FAUCET_METRICS
    }

    fn build(&self, ctx: &mut ContractBuilder<'_>) -> Result<Box<dyn Contract>, ScenarioError> {
        let p = ctx.params();
        let asset = ctx.asset_param("asset")?;
        let account = ctx.account();
        ctx.issue(account, asset, p.float("supply"));
        Ok(Box::new(Faucet { account, asset, drip: p.float("drip"), claims: 0 }))
    }
}

/// Claims from the faucet every tick, and buys on the venue with a
/// fraction of its quote while the price is below its limit.
#[derive(Component)]
struct DipBuyer {
    faucet: ContractId,
    venue: ContractId,
    limit: f64,
    fraction: f64,
}

impl Behaviour for DipBuyer {
    fn decide(&mut self, agent: &mut AgentView<'_>) {
        agent.send(Intent::new(self.faucet, Action::Withdraw, Amount::Units(0.0)));
        if agent.market.price(self.venue) < self.limit {
            agent.send(Intent::new(self.venue, Action::Buy, Amount::Fraction(self.fraction)));
        }
    }
}

/// The `dip_buyer` kind: parameters → one `DipBuyer` per agent.
pub struct DipBuyerKind;

impl BehaviourKind for DipBuyerKind {
    fn name(&self) -> &'static str {
        "dip_buyer"
    }

    fn summary(&self) -> &'static str {
        "Claims from a faucet and buys while the venue's price is below a limit."
    }

    fn rule(&self) -> &'static str {
        "Every tick it sends a withdraw to the faucet (a claim of one drip), then, if the venue's start-of-tick price is below limit, a buy of Fraction(fraction) of its quote balance."
    }

    fn params(&self) -> &'static [ParamDecl] {
        const PARAMS: &[ParamDecl] = &[
            ParamDecl::contract("faucet", Need::accepting(&[Action::Withdraw])).doc("where it claims"),
            ParamDecl::contract("venue", Need::accepting(&[Action::Buy]).and_priced()).doc("where it buys"),
            ParamDecl::per_agent("limit", 1e-12, 1e12).doc("highest price it pays"),
            ParamDecl::per_agent("fraction", 0.0, 1.0).doc("of its quote per buy"),
        ];
        PARAMS
    }

    fn attach(&self, ctx: &mut PopulationBuilder<'_>) -> Result<(), ScenarioError> {
        let p = ctx.params();
        let faucet = ctx.contract_param("faucet")?;
        let venue = ctx.contract_param("venue")?;
        let (limit, fraction) = (p.agent("limit"), p.agent("fraction"));
        ctx.spawn(move |rng| DipBuyer {
            faucet,
            venue,
            limit: limit.0.sample(rng),
            fraction: fraction.0.sample(rng),
        });
        Ok(())
    }
}
