//! Python bindings of tokensim: the extension module `tokensim._tokensim`
//! behind the `tokensim` Python package (`python/tokensim/`).
//!
//! The Rust crate stays free of Python: everything here depends on it.
//! `scenario` wraps scenarios and their overrides, `tables` moves Arrow
//! tables across the C stream interface, `run` runs experiments and the CLI
//! with a progress callback, `behaviour` lets Python functions decide for a
//! whole population each tick, and `errors` raises the package's
//! exceptions.

use pyo3::prelude::*;

mod behaviour;
mod errors;
mod run;
mod scenario;
mod tables;

/// The extension module.
#[pymodule]
fn _tokensim(m: &Bound<'_, PyModule>) -> PyResult<()> {
    tokensim::engine::population::quiet_failures();
    run::quiet_cancellation();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<scenario::Scenario>()?;
    m.add_class::<tables::ArrowStream>()?;
    m.add_class::<behaviour::Market>()?;
    m.add_function(wrap_pyfunction!(run::run, m)?)?;
    m.add_function(wrap_pyfunction!(run::cli, m)?)?;
    m.add_function(wrap_pyfunction!(run::report, m)?)?;
    m.add_function(wrap_pyfunction!(tables::read_table, m)?)?;
    m.add_function(wrap_pyfunction!(tables::table_files, m)?)?;
    Ok(())
}
