//! `tokensim.Scenario`: a parsed scenario with the file it came from, and
//! overrides by dotted path through the same code as `--set`.

use std::path::PathBuf;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use tokensim::scenario::LoadedScenario;

use crate::errors::to_py;

/// A scenario, parsed and checked against the schema (not yet built).
#[pyclass(module = "tokensim", frozen)]
#[derive(Clone)]
pub struct Scenario {
    /// The scenario.
    pub loaded: LoadedScenario,
    /// The file it came from (or the name it was given).
    pub path: PathBuf,
}

#[pymethods]
impl Scenario {
    /// Reads and parses a scenario file.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Scenario> {
        let loaded = LoadedScenario::load(&path).map_err(|e| to_py(py, &e))?;
        Ok(Scenario { loaded, path })
    }

    /// Parses scenario text; `path` names it in errors and is where
    /// relative file paths in it resolve from (default: the current
    /// directory).
    #[staticmethod]
    #[pyo3(signature = (text, path = None))]
    fn from_toml(py: Python<'_>, text: &str, path: Option<PathBuf>) -> PyResult<Scenario> {
        let path = path.unwrap_or_else(|| PathBuf::from("<string>.toml"));
        let loaded = LoadedScenario::from_str(&path, text).map_err(|e| to_py(py, &e))?;
        Ok(Scenario { loaded, path })
    }

    /// Builds a scenario from a dict shaped like the TOML file.
    #[staticmethod]
    #[pyo3(signature = (data, path = None))]
    fn from_dict(py: Python<'_>, data: &Bound<'_, PyDict>, path: Option<PathBuf>) -> PyResult<Scenario> {
        let toml::Value::Table(table) = to_toml(data.as_any(), "")? else {
            unreachable!("a dict is a table")
        };
        let text = toml::to_string(&table).map_err(|e| PyTypeError::new_err(e.to_string()))?;
        Scenario::from_toml(py, &text, Some(path.unwrap_or_else(|| PathBuf::from("<dict>.toml"))))
    }

    /// A copy with the value at dotted `path` replaced (as `--set`).
    fn set(&self, py: Python<'_>, path: &str, value: &Bound<'_, PyAny>) -> PyResult<Scenario> {
        let value = to_toml(value, path)?;
        self.with(py, &[(path.to_string(), value)])
    }

    /// The scenario as TOML text (after overrides).
    fn to_toml(&self) -> PyResult<String> {
        toml::to_string(&self.loaded.table).map_err(|e| PyTypeError::new_err(e.to_string()))
    }

    /// The scenario's value tree as JSON text (the package turns it into a dict).
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.loaded.table).map_err(|e| PyTypeError::new_err(e.to_string()))
    }

    /// The file it came from.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Its name.
    #[getter]
    fn name(&self) -> String {
        self.loaded.scenario.name.clone()
    }

    /// Ticks per run.
    #[getter]
    fn ticks(&self) -> u32 {
        self.loaded.scenario.ticks
    }

    /// Master seed.
    #[getter]
    fn seed(&self) -> u64 {
        self.loaded.scenario.seed
    }

    /// Monte Carlo replicates per point and variant.
    #[getter]
    fn runs(&self) -> u32 {
        self.loaded.scenario.runs
    }

    fn __repr__(&self) -> String {
        format!("Scenario({:?}, name={:?})", self.path.display().to_string(), self.loaded.scenario.name)
    }
}

impl Scenario {
    /// A copy with `overrides` applied, reported as `--set` in errors.
    pub fn with(&self, py: Python<'_>, overrides: &[(String, toml::Value)]) -> PyResult<Scenario> {
        let loaded = self.loaded.with_overrides(overrides, "--set").map_err(|e| to_py(py, &e))?;
        Ok(Scenario { loaded, path: self.path.clone() })
    }
}

/// A Python value as a TOML value: bool, int, float, str, list/tuple,
/// dict with str keys. `at` names the value in errors.
pub fn to_toml(value: &Bound<'_, PyAny>, at: &str) -> PyResult<toml::Value> {
    let bad = |what: String| PyTypeError::new_err(format!("`{at}`: {what}"));
    if value.is_instance_of::<PyBool>() {
        Ok(toml::Value::Boolean(value.extract()?))
    } else if value.is_instance_of::<PyInt>() || value.hasattr("__index__")? {
        // Python ints and integer-likes (NumPy's) are TOML integers.
        let i: i64 = value
            .call_method0("__index__")?
            .extract()
            .map_err(|_| bad(format!("integer {value} does not fit in 64 bits")))?;
        Ok(toml::Value::Integer(i))
    } else if value.is_instance_of::<PyFloat>()
        || value.hasattr("__float__")? && !value.is_instance_of::<PyString>()
    {
        let f: f64 = value.extract()?;
        Ok(toml::Value::Float(f))
    } else if value.is_instance_of::<PyString>() {
        Ok(toml::Value::String(value.extract()?))
    } else if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let items: Vec<Bound<'_, PyAny>> = value.try_iter()?.collect::<PyResult<_>>()?;
        items
            .iter()
            .enumerate()
            .map(|(i, v)| to_toml(v, &format!("{at}[{i}]")))
            .collect::<PyResult<_>>()
            .map(toml::Value::Array)
    } else if let Ok(d) = value.cast::<PyDict>() {
        let mut table = toml::Table::new();
        for (k, v) in d.iter() {
            let key: String = k.extract().map_err(|_| bad(format!("dict key {k} is not a string")))?;
            let path = if at.is_empty() { key.clone() } else { format!("{at}.{key}") };
            table.insert(key, to_toml(&v, &path)?);
        }
        Ok(toml::Value::Table(table))
    } else {
        Err(bad(format!(
            "cannot put a {} in a scenario; use a bool, int, float, str, list or dict",
            value.get_type().name()?
        )))
    }
}
