//! tokensim errors as the package's Python exceptions (defined in
//! `tokensim/errors.py`), with the same text the CLI prints.

use pyo3::prelude::*;
use tokensim::Error;
use tokensim::engine::population::BehaviourFailure;

/// Raises exception class `name` of `tokensim.errors` with `args`.
fn raise<'py, A: pyo3::call::PyCallArgs<'py>>(py: Python<'py>, name: &str, args: A) -> PyErr {
    let class = match py.import("tokensim.errors").and_then(|m| m.getattr(name)) {
        Ok(c) => c,
        Err(e) => return e,
    };
    match class.call1(args) {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// A tokensim error as a `tokensim.ScenarioError` (located) or a
/// `tokensim.TokensimError`.
pub fn to_py(py: Python<'_>, e: &Error) -> PyErr {
    match e {
        Error::Scenario(s) => raise(
            py,
            "ScenarioError",
            (e.to_string(), s.file.display().to_string(), s.line, s.col, s.field.clone(), s.message.clone()),
        ),
        _ => raise(py, "TokensimError", (e.to_string(),)),
    }
}

/// A failed population behaviour as a `tokensim.BehaviourError`.
pub fn behaviour_error(py: Python<'_>, f: &BehaviourFailure) -> PyErr {
    raise(
        py,
        "BehaviourError",
        (f.to_string(), f.behaviour.clone(), f.population.clone(), f.tick, f.message.clone()),
    )
}
