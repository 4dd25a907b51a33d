//! Charts against the swept parameter: for one facet, each variant's
//! median and 5–95 % band at the compared tick (by-parameter), or each
//! variant's paired difference to the first (delta, with a zero line).

use std::fmt::Write;

use super::chart::{self, Frame, Style, padded};
use super::sweep::{Layout, PointSeries};
use crate::error::Error;

/// One line of a sweep chart and how it looks.
pub struct Drawn<'a> {
    /// The numbers.
    pub series: &'a PointSeries,
    /// Legend label (`data-label`).
    pub label: &'a str,
    /// `#rrggbb`.
    pub colour: &'a str,
}

/// A chart of one facet of a sweep.
pub struct SweepChart<'a> {
    /// Caption above the plot.
    pub caption: &'a str,
    /// Y axis title.
    pub y_desc: &'a str,
    /// Size in pixels.
    pub size: (u32, u32),
    /// The sweep's x axis and facets.
    pub layout: &'a Layout,
    /// Lines, drawn in order.
    pub lines: Vec<Drawn<'a>>,
    /// Draw a dashed line at y = 0 and keep it in range (deltas).
    pub zero: bool,
    /// Identifies the chart on its page (clip-path id).
    pub id: &'a str,
}

/// Draws `c` as an `<svg class="chart">`.
pub fn draw(c: &SweepChart<'_>) -> Result<String, Error> {
    let l = c.layout;
    // Without a sweep (deltas only): one x position per line, named by it.
    let by_line: Option<Vec<String>> =
        l.x_param.is_none().then(|| c.lines.iter().map(|d| d.label.to_string()).collect());
    let x_labels = by_line.as_ref().or(l.x_labels.as_ref());
    let xs = || l.x.values().copied();
    let (x_lo, x_hi) = (xs().fold(f64::INFINITY, f64::min), xs().fold(f64::NEG_INFINITY, f64::max));
    let x = match x_labels {
        Some(labels) => (-0.5, labels.len() as f64 - 0.5),
        None if x_hi > x_lo => {
            let m = (x_hi - x_lo) * 0.04;
            (x_lo - m, x_hi + m)
        }
        None => padded(x_lo, x_hi),
    };
    let values = || {
        c.lines
            .iter()
            .flat_map(|d| d.series.p5.iter().chain(&d.series.p95))
            .copied()
            .filter(|v| v.is_finite())
    };
    let zero = if c.zero { Some(0.0) } else { None };
    let lo = values().chain(zero).fold(f64::INFINITY, f64::min);
    let hi = values().chain(zero).fold(f64::NEG_INFINITY, f64::max);
    let x_desc = l.x_param.as_ref().map_or("", |(_, short)| short.as_str());
    let frame = Frame {
        caption: c.caption,
        x_desc,
        y_desc: c.y_desc,
        size: c.size,
        x,
        y: padded(lo, hi),
        x_labels: x_labels.map(Vec::as_slice),
        id: c.id,
    };
    let style = if l.connect { Style::BandDots } else { Style::Dots };
    chart::framed(&frame, |px, out| {
        if c.zero {
            let ((a, b), (d, _)) = (px(x.0, 0.0), px(x.1, 0.0));
            let _ = write!(
                out,
                r##"<line class="zero" x1="{a}" y1="{b}" x2="{d}" y2="{b}" stroke="#444" stroke-width="1" stroke-dasharray="5 4"/>"##
            );
        }
        for d in &c.lines {
            let s = d.series;
            let keep: Vec<usize> = (0..s.x.len()).collect();
            let stats = [s.median.as_slice(), &s.p5, &s.p95];
            chart::series(out, px, &s.key, d.label, d.colour, &keep, &s.x, stats, style);
        }
    })
}
