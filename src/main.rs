//! The `tokensim` binary: the CLI ([`tokensim::cli`]) with the built-in
//! mechanisms and behaviours.

use std::process::ExitCode;

/// Large blocks on transparent huge pages (see [`tokensim::huge_pages`]).
#[global_allocator]
static ALLOCATOR: tokensim::huge_pages::HugePages = tokensim::huge_pages::HugePages;

fn main() -> ExitCode {
    tokensim::cli::main_with(tokensim::engine::registry::Registry::builtin())
}
