//! `faucet-sim`: every subcommand and flag of `tokensim` (`run`, `validate`,
//! `list`, `graph`, `report`, `--set`, `--runs`, the progress bar, the exit
//! codes), with the built-in kinds plus this crate's `faucet` mechanism and
//! `dip_buyer` behaviour.
//!
//!     cargo run -p faucet-sim -- run examples/user_crate/faucet_dips.toml

mod faucet;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut registry = tokensim::engine::registry::Registry::builtin();
    faucet::register(&mut registry);
    tokensim::cli::main_with(registry)
}
