//! Seeing the results: `tokensim report` (a self-contained HTML page from a
//! results directory) and `tokensim graph` (a scenario's stock-and-flow
//! diagram).
//!
//! - [`read`] finds a dataset's files through its manifests and reads the
//!   runs, the tick columns asked for (projected) and the violations;
//! - [`aggregate`] groups runs by (point, variant) and computes, per tick,
//!   the median and the 5–95 % band across replicates (exact quantiles from
//!   one counting sort);
//! - [`sweep`] lays a sweep out (x parameter, facets, variants in scenario
//!   order) and computes each run's value at the compared tick, the
//!   by-parameter series and the paired A/B deltas;
//! - [`chart`] draws SVG charts (plotters' SVG backend) with axes in one
//!   [`format`](mod@format) each; [`metric_section`] and [`sweep_chart`] lay out one
//!   metric's trajectory, by-parameter and delta charts;
//! - [`diagram`], [`diagram_svg`] and [`graph`] derive the stock-and-flow
//!   diagram from the scenario's topology and write it as SVG, Mermaid or DOT;
//! - [`html`] assembles the page (its small script, `report.js`, shows
//!   values on hover and hides a series on a legend click);
//! - [`calibration`] is the page of a calibration directory.

pub mod aggregate;
pub mod calibration;
pub mod chart;
pub mod diagram;
pub mod diagram_svg;
pub mod format;
pub mod graph;
pub mod html;
pub mod markup;
pub mod metric_section;
pub mod properties;
pub mod read;
pub mod sensitivity;
pub mod sensitivity_chart;
pub mod stress_page;
pub mod svg;
pub mod sweep;
pub mod sweep_chart;

use std::path::{Path, PathBuf};
use std::time::Instant;

pub use diagram::Diagram;
pub use graph::{GraphFormat, render};

use crate::error::Error;

/// Lines per chart before a metric is split into panels.
pub const DEFAULT_MAX_LINES: usize = 10;

/// What `tokensim report` is asked to do.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// The results directory.
    pub dir: PathBuf,
    /// The HTML file [default: `DIR/report.html`].
    pub out: Option<PathBuf>,
    /// Metrics to draw [default: every column of `ticks`].
    pub metrics: Option<Vec<String>>,
    /// Lines per chart at most (more: split by swept value).
    pub max_lines: usize,
    /// The tick the by-parameter, delta and final-value views compare
    /// [default: each run's last].
    pub tick: Option<u32>,
    /// Replace an existing report.
    pub force: bool,
}

impl ReportOptions {
    /// Defaults for `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ReportOptions {
            dir: dir.into(),
            out: None,
            metrics: None,
            max_lines: DEFAULT_MAX_LINES,
            tick: None,
            force: false,
        }
    }

    /// Where the report goes.
    pub fn out_path(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| self.dir.join(crate::output::dataset::REPORT_FILE))
    }
}

/// What a written report holds.
#[derive(Clone, Debug)]
pub struct ReportSummary {
    /// The HTML file.
    pub path: PathBuf,
    /// Groups (lines per metric).
    pub groups: usize,
    /// Metrics drawn.
    pub metrics: usize,
    /// Runs read.
    pub runs: usize,
    /// Tick rows read.
    pub rows: usize,
    /// Violations listed.
    pub violations: usize,
    /// Seconds taken.
    pub seconds: f64,
}

/// Refuses to write the report over an existing file of the results
/// directory it reads (`-o DIR/ticks.parquet`, a manifest, the directory
/// itself) other than `DIR/report.html` or a report tokensim wrote:
/// `--force` replaces a report, never the data. Symbolic links are
/// followed on both sides.
fn refuse_results_file(dir: &Path, out: &Path) -> Result<(), Error> {
    let (Ok(dir), Ok(target)) = (dir.canonicalize(), out.canonicalize()) else { return Ok(()) };
    let report =
        target == dir.join(crate::output::dataset::REPORT_FILE) || crate::output::dataset::is_report(&target);
    if target.starts_with(&dir) && !report {
        return Err(Error::Run(format!(
            "{}: is a file of the results directory {}, not a report; the report never replaces it, even with --force: choose another file with -o",
            out.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// Reads the dataset in `opts.dir` and writes its report. Never replaces
/// an existing file without `opts.force`; writes a temporary file and
/// renames it, so the report is whole or absent.
pub fn write_report(opts: &ReportOptions) -> Result<ReportSummary, Error> {
    let started = Instant::now();
    refuse_results_file(&opts.dir, &opts.out_path())?;
    if stress_page::is_stress_dir(&opts.dir) {
        return stress_page::write(opts);
    }
    let out = opts.out_path();
    if let Some(m) = calibration::manifest(&opts.dir) {
        if out.exists() && !opts.force {
            return Err(Error::Run(format!(
                "{}: already exists; pass --force to replace it or -o to choose another file",
                out.display()
            )));
        }
        write_new(&out, calibration::page(&opts.dir, &m)?.as_bytes())?;
        let seconds = started.elapsed().as_secs_f64();
        let (metrics, runs) = (m.series.len(), m.replicates as usize);
        return Ok(ReportSummary { path: out, groups: 1, metrics, runs, rows: 0, violations: 0, seconds });
    }
    let dataset = read::Dataset::open(&opts.dir)?;
    if out.exists() && !opts.force {
        return Err(Error::Run(format!(
            "{}: already exists; pass --force to replace it or -o to choose another file",
            out.display()
        )));
    }
    if opts.max_lines == 0 {
        return Err(Error::Run("--max-lines must be at least 1".into()));
    }
    let metrics = match &opts.metrics {
        None => dataset.metrics.clone(),
        Some(asked) => {
            for m in asked {
                if !dataset.metrics.contains(m) {
                    return Err(Error::Run(format!(
                        "unknown metric `{m}`; metrics in {}: {}",
                        opts.dir.display(),
                        dataset.metrics.join(", ")
                    )));
                }
            }
            asked.clone()
        }
    };
    if metrics.is_empty() {
        return Err(Error::Run("no metrics to draw: give at least one with --metrics".into()));
    }
    let manifest = dataset.manifest().clone();
    let runs = dataset.runs()?;
    let groups = aggregate::Groups::of(&runs, &manifest.variants);
    let slots = runs
        .iter()
        .map(|r| r.ticks)
        .max()
        .unwrap_or(0)
        .checked_add(1)
        .ok_or_else(|| Error::Run("too many ticks".into()))?;
    if (groups.groups.len() as u64) * u64::from(slots) >= u64::from(u32::MAX) {
        return Err(Error::Run(format!(
            "{} groups × {slots} ticks is too many to summarise; pick fewer points",
            groups.groups.len()
        )));
    }
    let key = |run: u32, tick: u32| -> Option<u32> {
        let g = groups.group(run)?;
        (tick < slots).then(|| aggregate::key(g, tick, slots))
    };
    let last = runs.iter().map(|r| r.ticks).min().unwrap_or(0);
    if let Some(t) = opts.tick.filter(|&t| t > last) {
        return Err(Error::Run(format!(
            "--tick {t}: the runs in {} end at tick {last}; choose 0..={last}",
            opts.dir.display()
        )));
    }
    let mut chunks = dataset.ticks(&metrics, &key)?;
    let rows: usize = chunks.iter().map(|c| c.keys.len()).sum();
    let layout = sweep::Layout::of(&groups, &manifest.swept);
    let mut target = vec![u32::MAX; runs.iter().map(|r| r.run_id as usize + 1).max().unwrap_or(0)];
    for r in &runs {
        target[r.run_id as usize] = opts.tick.unwrap_or(r.ticks);
    }
    let at: Vec<sweep::AtTick> = sweep::values_at(&chunks, metrics.len(), slots, &target)
        .iter()
        .map(|values| sweep::at_tick(values, &runs, &groups, &layout))
        .collect();
    let summaries = aggregate::summarise(&mut chunks, &metrics, groups.groups.len(), slots)?;
    drop(chunks);
    let violations = dataset.violations()?;
    let violation_groups = violations.iter().map(|v| groups.group(v.run_id).map(|g| g as usize)).collect();
    let risk = properties::summarise(&dataset, &runs, &groups, &violations)?;

    let mut notes = Vec::new();
    if dataset.manifests.len() < dataset.shard_count {
        notes.push(format!(
            "Only {} of {} shards are in this directory: the report covers their runs only.",
            dataset.manifests.len(),
            dataset.shard_count
        ));
    }
    if opts.metrics.is_some() {
        notes.push(format!(
            "Metrics shown (--metrics): {}; all metrics: {}.",
            metrics.join(", "),
            dataset.metrics.join(", ")
        ));
    }
    let page = html::Page {
        dataset: opts.dir.display().to_string(),
        manifest: &manifest,
        shards: (dataset.manifests.len(), dataset.shard_count),
        groups: &groups.groups,
        metrics: &summaries,
        violations: &violations,
        violation_groups,
        max_lines: opts.max_lines,
        rows,
        runs: runs.len(),
        diagram: manifest.diagram.as_ref(),
        notes,
        properties: risk.as_ref().map(|r| (r, &groups)),
        layout: &layout,
        at: &at,
        tick: opts.tick,
        units: &dataset.units(),
    };
    let mut text = html::page(&page)?;
    // The sensitivity section, when `tokensim sensitivity` has run here.
    let sensitivity = sensitivity_chart::section(&opts.dir)?;
    if let Some(at) = text.rfind("</main>") {
        text.insert_str(at, &sensitivity);
    }
    write_new(&out, text.as_bytes())?;
    Ok(ReportSummary {
        path: out,
        groups: groups.groups.len(),
        metrics: metrics.len(),
        runs: runs.len(),
        rows,
        violations: violations.len(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Writes `bytes` to a temporary file next to `path`, then renames it.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let name =
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "report.html".into());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}
