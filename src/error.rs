//! Error types. Every error a user can cause names the file, and for
//! scenario errors the line, column and field, with the valid choices.

use std::fmt;
use std::path::PathBuf;

/// A problem in a scenario file, located at `file:line:col` and naming the
/// dotted path of the field (`contracts.curve.entry_tribute`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioError {
    /// The scenario file (or `--set` for command-line overrides).
    pub file: PathBuf,
    /// 1-based line; 0 when the field has no place in the file.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// Dotted path of the offending field; empty for syntax errors.
    pub field: String,
    /// What is wrong, with the valid choices where there are any.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.col)?;
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": `{}`: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for ScenarioError {}

/// Everything that can go wrong in tokensim.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scenario is malformed or inconsistent.
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A data file (orders, output) has bad content.
    #[error("{path}: {message}")]
    Data {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong, with the row or line where known.
        message: String,
    },
    /// The output directory already holds results.
    #[error(
        "{0}: output directory already holds results; pass --force to replace them or -o to choose another directory"
    )]
    OutputExists(PathBuf),
    /// Parquet encoding or decoding failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Arrow array construction failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The run was interrupted or a worker failed.
    #[error("{0}")]
    Run(String),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
