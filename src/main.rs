//! The `tokensim` binary: the CLI ([`tokensim::cli`]) with the built-in
//! mechanisms and behaviours.

use std::process::ExitCode;

fn main() -> ExitCode {
    tokensim::cli::main_with(tokensim::registry::Registry::builtin())
}
