//! # tokensim
//!
//! Agent-based simulation for token engineering, on bevy_ecs.
//!
//! Users and contracts are ECS entities; what an agent does is the set of
//! [`Behaviour`](engine::behaviour::Behaviour) components it carries; what a
//! contract is, is its [`Contract`](engine::contract::Contract). A tick is a
//! block: agents decide in parallel and emit intents, the block settles them
//! one by one in a deterministic order, contracts accrue, metrics are
//! measured, invariants checked, and rows streamed to Parquet.
//!
//! **Determinism.** Same scenario and seed give byte-identical output at any
//! thread count: every random stream derives from `(seed, run, stream, id)`
//! ([`engine::rng`]), agents settle in agent-id order (or a seeded shuffle),
//! and reductions sum in a fixed order.
//!
//! Start from [`prelude`]; see `ARCHITECTURE.md` for the layout.

#![warn(missing_docs)]

pub mod behaviours;
mod builtin;
pub mod cli;
pub mod engine;
pub mod error;
pub mod experiment;
pub mod huge_pages;
pub mod mechanisms;
pub mod memory;
pub mod observed;
pub mod output;
pub mod properties;
pub mod report;
pub mod scenario;
pub mod search;

pub use error::{Error, Result, ScenarioError};

/// Every built-in mechanism and behaviour with each parameter's type,
/// default and meaning, generated from the registry (`tokensim list
/// --markdown`), so rustdoc documents what a scenario may write.
#[doc = include_str!("../docs/reference.md")]
pub mod reference {}

/// The types most users need.
pub mod prelude {
    pub use crate::engine::behaviour::{AgentView, Behaviour, Market};
    pub use crate::engine::build::RunSpec;
    pub use crate::engine::builder::{ContractBuilder, PopulationBuilder};
    pub use crate::engine::contract::{
        AccrueCtx, CheckCtx, Contract, Fill, Measure, MetricDef, MetricKind, Nature, ObserveCtx, OrderCtx,
        PriceTrade, Prices, ProRataCredit, SettleCtx, Settlement, Timing, Tx, Violation,
    };
    pub use crate::engine::ids::{AccountId, AgentId, AssetId, ContractId, SlotId};
    pub use crate::engine::intent::{Action, Amount, Intent, IntentQueue};
    pub use crate::engine::ledger::Ledger;
    pub use crate::engine::params::{Need, Param as ParamDecl, Values};
    pub use crate::engine::phase::{Phase, TickLog};
    pub use crate::engine::registry::{BehaviourKind, MechanismKind, Registry};
    pub use crate::engine::sim::Simulation;
    pub use crate::engine::wallets::{Wallet, WalletBuf, Wallets};
    pub use crate::error::{Error, ScenarioError};
    pub use crate::scenario::{AgentParam, LoadedScenario, Param};
}
