//! A results directory: the output-directory policy (never overwrite
//! without `--force`), and the writer that streams one or more runs' rows
//! into `ticks`, `events`, `agents` and `violations` files.

use std::path::{Path, PathBuf};

use super::properties::PropertiesTable;
use super::sink::{Closed, ParquetSink, partial_path};
use super::tables::{AgentsTable, BATCH_ROWS, EventRows, EventsTable, TicksTable, ViolationsTable};
use crate::engine::metric_info::{KEY_COLUMNS, MetricInfo};
use crate::engine::{MetricColumn, Simulation};
use crate::error::Error;
use crate::properties::Verdict;

/// The manifest of the shard with file-name marker `shard_suffix`
/// (`manifest.json`, `manifest-s0of4.json`); its presence marks that shard's
/// dataset complete.
pub fn manifest_name(shard_suffix: &str) -> String {
    format!("manifest{shard_suffix}.json")
}

/// The tables a dataset may hold.
pub const TABLES: [&str; 6] = ["runs", "ticks", "events", "agents", "violations", "properties"];

/// Whether `name` is a file tokensim writes: a manifest, a part or plan
/// marker, or a table file `TABLE.parquet` / `TABLE-SUFFIX.parquet`,
/// possibly still `.partial`.
pub fn is_ours(name: &str) -> bool {
    let name = name.strip_suffix(".partial").unwrap_or(name);
    if let Some(stem) = name.strip_suffix(".json") {
        return ["manifest", ".done", ".plan"]
            .iter()
            .any(|p| stem == *p || stem.strip_prefix(p).is_some_and(|r| r.starts_with('-')));
    }
    let Some(stem) = name.strip_suffix(".parquet") else { return false };
    TABLES.iter().any(|t| stem == *t || stem.strip_prefix(t).is_some_and(|rest| rest.starts_with('-')))
}

/// The default report file of a dataset directory (`tokensim report DIR`).
pub const REPORT_FILE: &str = "report.html";

/// The tag every report carries in its `<head>`, so tokensim can tell its
/// own report from a user's file of the same name.
pub const REPORT_MARKER: &str = "<meta name=\"generator\" content=\"tokensim report\">";

/// The sensitivity indices `tokensim sensitivity DIR` writes of a dataset.
pub const SENSITIVITY_FILE: &str = "sensitivity.parquet";

/// Removes what tokensim derived from the results in `dir`: its report
/// (`report.html`, if tokensim wrote it; another file of that name is left
/// alone) and the sensitivity indices. Called when results in `dir` are
/// replaced or resumed, so neither describes data that is no longer there.
pub fn remove_derived(dir: &Path) -> Result<(), Error> {
    let report = dir.join(REPORT_FILE);
    let mut stale = vec![dir.join(SENSITIVITY_FILE)];
    if is_report(&report) {
        stale.push(report);
    }
    remove_files(&stale)
}

/// Whether `path` is a report tokensim wrote (its head carries
/// [`REPORT_MARKER`]); false for anything unreadable, a directory included.
pub fn is_report(path: &Path) -> bool {
    use std::io::Read;
    let Ok(file) = std::fs::File::open(path) else { return false };
    let mut head = String::new();
    let _ = file.take(4096).read_to_string(&mut head);
    head.contains(REPORT_MARKER)
}

/// Removes files that exist; missing ones are fine.
pub fn remove_files(paths: &[PathBuf]) -> Result<(), Error> {
    for path in paths {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    Ok(())
}

/// What a dataset's files look like: the same for every run written to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Metric columns of `ticks`.
    pub metric_columns: Vec<MetricColumn>,
    /// Contract names by id (for `events`).
    pub contracts: Vec<String>,
    /// Wallet column names (for `agents`).
    pub slot_columns: Vec<String>,
    /// Whether `events` is written.
    pub events: bool,
    /// Whether `agents` is written.
    pub snapshots: bool,
    /// Observed columns `ticks` appends (`observed_<metric>`, value of
    /// tick i + 1); empty without `[observed]`.
    pub observed: Vec<ObservedColumn>,
    /// Declared properties with their gates (`properties` is written when
    /// there are any).
    pub properties: Vec<(String, Option<f64>)>,
}

/// An observed column of `ticks`: its name and the value of tick `i + 1`.
pub type ObservedColumn = (String, std::sync::Arc<[f64]>);

impl Layout {
    /// Every column of `ticks` in file order with what it means: the key
    /// columns, the metrics, the observed columns (what `manifest.json`'s
    /// `metrics` and `tokensim metrics` show).
    pub fn column_infos(&self) -> indexmap::IndexMap<String, MetricInfo> {
        let mut out: indexmap::IndexMap<String, MetricInfo> =
            KEY_COLUMNS.iter().map(|d| (d.name.to_string(), MetricInfo::key(d))).collect();
        for c in &self.metric_columns {
            out.insert(c.name.clone(), c.info.clone());
        }
        for (name, _) in &self.observed {
            let metric = name.strip_prefix("observed_").unwrap_or(name);
            let simulated = self.metric_columns.iter().find(|c| c.name == metric).map(|c| &c.info);
            out.insert(name.clone(), MetricInfo::observed(metric, simulated));
        }
        out
    }

    /// The layout of a built simulation.
    pub fn of(sim: &Simulation) -> Layout {
        let slots = sim.slots();
        let contracts = sim.world.resource::<crate::engine::contract::Contracts>();
        Layout {
            metric_columns: sim.metric_columns.clone(),
            contracts: contracts.0.iter().map(|c| c.name.clone()).collect(),
            slot_columns: (0..slots.slots.len())
                .map(|i| slots.column(crate::engine::ids::SlotId(i as u8)))
                .collect(),
            events: sim.world.resource::<crate::engine::phase::TickLog>().record_events,
            snapshots: sim.snapshot_every > 0,
            observed: Vec::new(),
            properties: sim.property_gates(),
        }
    }
}

/// The file name of `table` for a writer with `suffix` (`ticks.parquet`,
/// `ticks-part0003.parquet`).
pub fn file_name(table: &str, suffix: &str) -> String {
    format!("{table}{suffix}.parquet")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tokensim_files_count_as_ours() {
        for ours in [
            "manifest.json",
            "ticks.parquet",
            "events-s0of4.parquet",
            "runs.parquet.partial",
            ".done-p001.json",
            ".done.json",
            "manifest-s1of2.json",
            ".plan.json",
        ] {
            assert!(is_ours(ours), "{ours}");
        }
        for theirs in [
            "orders.parquet",
            "ticker.parquet",
            "notes.txt",
            "ticks.csv",
            "agents_old.parquet",
            "config.json",
            "manifesto.json",
        ] {
            assert!(!is_ours(theirs), "{theirs}");
        }
    }
}

/// Counters a writer accumulates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Ticks written.
    pub ticks: u64,
    /// Transactions settled.
    pub n_tx: u64,
    /// Transactions rejected.
    pub n_rejected: u64,
    /// Invariant violations.
    pub n_violations: u64,
}

/// Events copied out of the simulation, not yet sent to the writer thread:
/// sent [`BATCH_ROWS`] at a time, so the thread wakes once a batch, at most
/// a few batches are in flight, and a tick of millions of transactions is
/// never held twice.
#[derive(Default)]
struct PendingEvents(EventRows);

impl PendingEvents {
    /// Adds a tick's events; sends every batch they complete.
    fn record(
        &mut self,
        sink: &mut ParquetSink<EventsTable>,
        run_id: u32,
        tick: u32,
        mut events: &[crate::engine::phase::EventRow],
    ) -> Result<(), Error> {
        while !events.is_empty() {
            let room = BATCH_ROWS - self.0.rows.len();
            let (now, later) = events.split_at(room.min(events.len()));
            self.0.extend(run_id, tick, now);
            events = later;
            if self.0.rows.len() == BATCH_ROWS {
                sink.send(std::mem::take(&mut self.0))?;
            }
        }
        Ok(())
    }
}

/// Streams runs into one set of files.
pub struct DatasetWriter {
    dir: PathBuf,
    suffix: String,
    metadata: Vec<(String, String)>,
    ticks: (TicksTable, ParquetSink),
    events: Option<(ParquetSink<EventsTable>, PendingEvents)>,
    agents: Option<(AgentsTable, ParquetSink)>,
    violations: (ViolationsTable, Option<ParquetSink>),
    properties: Option<(PropertiesTable, ParquetSink)>,
    /// What has been written so far.
    pub stats: WriteStats,
}

impl DatasetWriter {
    /// Opens the files of `layout` in `dir`, names ending in `suffix`.
    pub fn create(
        dir: &Path,
        suffix: &str,
        layout: &Layout,
        metadata: Vec<(String, String)>,
    ) -> Result<Self, Error> {
        let open = |table: &str, schema| {
            ParquetSink::create(&dir.join(file_name(table, suffix)), schema, metadata.clone())
        };
        let ticks_table = TicksTable::new(&layout.metric_columns).with_observed(&layout.observed);
        let ticks = open("ticks", ticks_table.schema()).map(|s| (ticks_table, s))?;
        let events = if layout.events {
            let t = EventsTable::new(layout.contracts.clone());
            let path = dir.join(file_name("events", suffix));
            let sink = ParquetSink::encoding(&path, t.schema(), metadata.clone(), t)?;
            Some((sink, PendingEvents::default()))
        } else {
            None
        };
        let agents = if layout.snapshots {
            let t = AgentsTable::new(&layout.slot_columns);
            Some(open("agents", t.schema()).map(|s| (t, s))?)
        } else {
            None
        };
        let properties = if layout.properties.is_empty() {
            None
        } else {
            let t = PropertiesTable::default();
            Some(open("properties", t.schema()).map(|s| (t, s))?)
        };
        Ok(DatasetWriter {
            properties,
            dir: dir.to_path_buf(),
            suffix: suffix.to_string(),
            metadata,
            ticks,
            events,
            agents,
            violations: (ViolationsTable::default(), None),
            stats: WriteStats::default(),
        })
    }

    /// Records the tick `sim` just simulated (and a snapshot if due).
    pub fn record_tick(&mut self, sim: &mut Simulation) -> Result<(), Error> {
        let (run_id, tick) = (sim.run.run_id, sim.tick());
        let log = sim.log();
        self.stats.ticks += 1;
        self.stats.n_tx += log.n_tx;
        self.stats.n_rejected += log.n_rejected;
        self.stats.n_violations += log.violations.len() as u64;
        self.ticks.0.push(run_id, tick, &log.metrics);
        if let Some((sink, pending)) = &mut self.events {
            pending.record(sink, run_id, tick, &log.events)?;
        }
        for v in &log.violations {
            self.violations.0.push(run_id, tick, v);
        }
        if sim.snapshot_due()
            && let Some((table, sink)) = &mut self.agents
        {
            let mut result = Ok(());
            sim.for_each_agent(|id, wallet| {
                table.push(run_id, tick, id, wallet);
                if table.rows() >= BATCH_ROWS && result.is_ok() {
                    result = sink.write(table.take());
                }
            });
            result?;
        }
        self.flush(false)
    }

    /// Records the verdicts of the run `sim` just finished.
    /// Full batches go out with the other tables, as after every tick.
    pub fn record_verdicts(&mut self, run_id: u32, verdicts: &[Verdict]) -> Result<(), Error> {
        if let Some((table, _)) = &mut self.properties {
            for v in verdicts {
                table.push(run_id, v);
            }
        }
        self.flush(false)
    }

    /// Sends full batches (all batches if `all`) to the writer threads.
    fn flush(&mut self, all: bool) -> Result<(), Error> {
        let min = if all { 1 } else { BATCH_ROWS };
        if self.ticks.0.rows() >= min {
            self.ticks.1.write(self.ticks.0.take())?;
        }
        if let Some((t, s)) = &mut self.agents
            && t.rows() >= min
        {
            s.write(t.take())?;
        }
        if let Some((t, s)) = &mut self.properties
            && t.rows() >= min
        {
            s.write(t.take())?;
        }
        if self.violations.0.rows() >= min {
            if self.violations.1.is_none() {
                let path = self.dir.join(file_name("violations", &self.suffix));
                self.violations.1 =
                    Some(ParquetSink::create(&path, self.violations.0.schema(), self.metadata.clone())?);
            }
            let batch = self.violations.0.take();
            self.violations.1.as_mut().expect("created above").write(batch)?;
        }
        Ok(())
    }

    /// Flushes everything, closes the files and gives them their final
    /// names. Returns `(file name, rows)` per file.
    pub fn finish(mut self) -> Result<Vec<(String, u64)>, Error> {
        self.flush(true)?;
        let rest = self
            .agents
            .map(|(_, s)| s)
            .into_iter()
            .chain(self.violations.1)
            .chain(self.properties.map(|(_, s)| s));
        // Every file complete before any takes its final name: a run that
        // fails to write one table leaves none that looks finished.
        let closed: Vec<Closed> = std::iter::once(self.ticks.1.close())
            .chain(self.events.map(|(mut sink, pending)| {
                sink.send(pending.0)?;
                sink.close()
            }))
            .chain(rest.map(ParquetSink::close))
            .collect::<Result<_, _>>()?;
        closed
            .into_iter()
            .map(|c| {
                let name = c.path().file_name().unwrap_or_default().to_string_lossy().into_owned();
                Ok((name, c.publish()?))
            })
            .collect()
    }
}

/// Writes a small file atomically: to `NAME.partial`, then renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let partial = partial_path(path);
    std::fs::write(&partial, bytes).map_err(|e| Error::io(&partial, e))?;
    std::fs::rename(&partial, path).map_err(|e| Error::io(path, e))
}
