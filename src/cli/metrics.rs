//! `tokensim metrics SCENARIO`: the columns the scenario's
//! `ticks.parquet` will have, each with its meaning, unit (in the
//! scenario's asset names), stock or flow, and when in the tick it is
//! taken — the same descriptions `manifest.json` records.

use std::fmt::Write;

use crate::engine::registry::Registry;
use crate::error::Error;
use crate::experiment::expand;
use crate::experiment::runner::validate;
use crate::scenario::LoadedScenario;

/// What `tokensim metrics` prints.
pub(super) fn text(loaded: &LoadedScenario, registry: &Registry) -> Result<String, Error> {
    let layout = validate(&expand(loaded)?, registry)?;
    let infos = layout.column_infos();
    let width = infos.keys().map(String::len).max().unwrap_or(0);
    let mut s = format!("{}: ticks.parquet columns\n", loaded.source.path.display());
    for (name, info) in &infos {
        let _ = writeln!(
            s,
            "{name:<width$}  {:<5}  [{}]  {}\n{:width$}  when: {}",
            info.kind.name(),
            info.unit,
            info.doc,
            "",
            info.measured
        );
    }
    Ok(s)
}
