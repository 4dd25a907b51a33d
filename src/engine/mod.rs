//! The simulation engine: identifiers, balances, intents, the contract and
//! behaviour interfaces, the phases of a tick and their systems, and
//! building and stepping a run's world.

pub mod accrue;
pub mod behaviour;
pub mod build;
pub mod builder;
pub mod check;
pub mod contract;
pub mod ids;
pub mod intent;
pub mod ledger;
pub mod metric_info;
pub mod monitor;
pub mod observe;
pub mod params;
pub mod phase;
pub mod population;
pub mod registry;
pub mod replay;
pub mod rng;
pub mod settle;
pub mod sim;
mod spawn;
pub mod topology;
pub mod totals;
pub mod wallets;

pub use build::RunSpec;
pub use ledger::Ledger;
pub use metric_info::MetricColumn;
pub use sim::Simulation;
pub use wallets::{Wallet, WalletBuf, Wallets};
