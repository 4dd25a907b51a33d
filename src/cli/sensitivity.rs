//! `tokensim sensitivity DIR [--metric M | --property P] [--tick T]
//! [--force]`: Morris or Sobol indices of a results directory, printed as a
//! ranked table and written to `DIR/sensitivity.parquet` (an earlier
//! analysis there is replaced only with `--force`).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::engine::registry::Registry;
use crate::error::Error;
use crate::report::sensitivity::{FILE, Target, analyse, table, write};

/// Arguments of `tokensim sensitivity`.
#[derive(clap::Args)]
pub struct SensitivityArgs {
    /// Results directory of a `[sweep] mode = "morris"` or `"sobol"` run.
    pub dir: PathBuf,
    /// The tick column to analyse [default: every one].
    #[arg(long, conflicts_with = "property")]
    pub metric: Option<String>,
    /// A declared property whose margin to analyse.
    #[arg(long)]
    pub property: Option<String>,
    /// The tick to analyse [default: each run's last].
    #[arg(long)]
    pub tick: Option<u32>,
    /// Replace an earlier analysis's DIR/sensitivity.parquet.
    #[arg(long)]
    pub force: bool,
    /// No table on stdout (the file is still written).
    #[arg(short, long)]
    pub quiet: bool,
}

/// Runs `tokensim sensitivity`.
pub fn run(args: SensitivityArgs, _registry: &Registry) -> Result<ExitCode, Error> {
    let path = args.dir.join(FILE);
    if path.exists() && !args.force {
        return Err(Error::Run(format!("{}: already exists; pass --force to replace it", path.display())));
    }
    let target = match args.property {
        Some(p) => Target::Property(p),
        None => Target::Metric(args.metric),
    };
    let analysis = analyse(&args.dir, &target, args.tick)?;
    for s in &analysis.skipped {
        eprintln!("warning: skipped {s}");
    }
    let path = write(&args.dir, &analysis)?;
    if !args.quiet {
        super::emit(table(&analysis).trim_start());
        eprintln!("sensitivity: {} rows -> {}", analysis.rows.len(), path.display());
    }
    Ok(ExitCode::SUCCESS)
}
