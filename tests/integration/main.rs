//! End-to-end tests of the `tokensim` binary: every test runs the CLI on a
//! scenario written to a temporary directory and checks its exit code,
//! stderr and the Parquet results against values computed independently.

mod amm;
mod bad_input;
mod bad_input_data;
mod bad_input_sweeps;
mod behaviours;
mod calibration;
mod cli;
mod common;
mod conservation;
mod curves;
mod determinism;
mod docs;
mod engine_api;
mod experiments;
mod generated;
mod graph;
mod lending;
mod population;
mod properties;
mod readme;
mod replay;
mod replay_actions;
mod report;
mod sensitivity;
mod staking;
mod stress;
mod validation;
mod vesting;
