//! SVG charts: plotters (SVG backend) draws the frame — axes, grid, tick
//! labels in one format per axis ([`super::format`]), caption — and gives
//! the exact data → pixel mapping; the series are then written with that
//! mapping as one `<g class="series" data-key="…">` each (a translucent
//! 5–95 % band and the median line), so a page, its hover script or a test
//! can find and count them.

use std::fmt::Write;

use plotters::prelude::*;

use super::aggregate::Series;
use super::format::AxisFormat;
pub use super::format::fmt_sig;
use super::markup::esc;
use crate::error::Error;

/// One group's line on a chart.
pub struct Line<'a> {
    /// Group id (`data-key`).
    pub group: &'a str,
    /// Legend label (`<title>`, `data-label`).
    pub label: &'a str,
    /// `#rrggbb`.
    pub colour: &'a str,
    /// The numbers.
    pub series: &'a Series,
}

/// A chart to draw.
pub struct Chart<'a> {
    /// Caption above the plot (empty: none).
    pub caption: &'a str,
    /// X axis title: what the series' `ticks` count (`tick`, `evaluation`).
    pub x_desc: &'a str,
    /// Y axis description.
    pub y_desc: &'a str,
    /// Size in pixels.
    pub size: (u32, u32),
    /// X range.
    pub x: (f64, f64),
    /// Y range.
    pub y: (f64, f64),
    /// Lines, drawn in order.
    pub lines: Vec<Line<'a>>,
    /// Draw every `stride`-th point (and the last): 1 draws all.
    pub stride: usize,
}

/// A y range covering `lo..hi` with a margin; a flat range is widened.
pub fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if hi <= lo {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.05 };
        return (lo - d, hi + d);
    }
    let m = (hi - lo) * 0.05;
    (lo - m, hi + m)
}

fn err(e: impl std::fmt::Debug) -> Error {
    Error::Run(format!("chart: {e:?}"))
}

/// The frame of a chart: caption, axes and their titles, grid, tick labels.
pub struct Frame<'a> {
    /// Caption above the plot (empty: none).
    pub caption: &'a str,
    /// X axis title.
    pub x_desc: &'a str,
    /// Y axis title.
    pub y_desc: &'a str,
    /// Size in pixels.
    pub size: (u32, u32),
    /// X range.
    pub x: (f64, f64),
    /// Y range.
    pub y: (f64, f64),
    /// Categorical x: the label at each integer position.
    pub x_labels: Option<&'a [String]>,
    /// A seed for the clip-path id (unique per chart on a page).
    pub id: &'a str,
}

/// Data → SVG pixel coordinates of a chart's plot area.
pub type Px<'a> = &'a dyn Fn(f64, f64) -> (i32, i32);

/// One number format for the labels plotters will put on an axis of
/// `range` with about `n` labels.
fn axis_format((lo, hi): (f64, f64), n: usize) -> AxisFormat {
    use plotters::coord::ranged1d::{BoldPoints, Ranged};
    let keys = plotters::coord::types::RangedCoordf64::from(lo..hi).key_points(BoldPoints(n));
    let step = keys.windows(2).map(|w| w[1] - w[0]).fold(f64::INFINITY, f64::min);
    let step = if step.is_finite() { step } else { (hi - lo).abs() };
    let (a, b) = (keys.first().copied().unwrap_or(lo), keys.last().copied().unwrap_or(hi));
    AxisFormat::new(a, b, step)
}

/// Draws `frame` and lets `plot` write the data with the pixel mapping,
/// inside `<g class="plot">` (clipped to the plot area; its `data-x0`,
/// `data-x1`, `data-px0`, `data-px1` map x for the page's hover script).
/// Returns an `<svg class="chart">` element.
pub fn framed(frame: &Frame<'_>, plot: impl FnOnce(Px<'_>, &mut String)) -> Result<String, Error> {
    let mut svg = String::new();
    let mut inner = String::new();
    let small = frame.size.0 < 700;
    let (nx, ny) = match (&frame.x_labels, small) {
        (Some(l), _) => (l.len().max(1), 6),
        (None, true) => (6, 6),
        (None, false) => (10, 7),
    };
    let (xf, yf) = (axis_format(frame.x, nx), axis_format(frame.y, ny));
    let x_fmt = |v: &f64| match frame.x_labels {
        Some(labels) => {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        }
        None => xf.label(*v),
    };
    let y_fmt = |v: &f64| yf.label(*v);
    {
        let root = SVGBackend::with_string(&mut svg, frame.size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut builder = ChartBuilder::on(&root);
        builder.margin(8).margin_right(18).x_label_area_size(42).y_label_area_size(if small {
            62
        } else {
            74
        });
        if !frame.caption.is_empty() {
            builder.caption(frame.caption, ("sans-serif", 17));
        }
        let mut ctx = builder.build_cartesian_2d(frame.x.0..frame.x.1, frame.y.0..frame.y.1).map_err(err)?;
        ctx.configure_mesh()
            .x_desc(frame.x_desc)
            .y_desc(frame.y_desc)
            .x_labels(nx)
            .y_labels(ny)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            // plotters writes SVG font sizes at 1/1.24 of these: 14 → 11.3 px.
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .light_line_style(RGBColor(240, 240, 240))
            .bold_line_style(RGBColor(218, 218, 218))
            .draw()
            .map_err(err)?;
        let (xr, yr) = ctx.plotting_area().get_pixel_range();
        let clip = format!("clip{}", clip_id(frame.id));
        let _ = write!(
            inner,
            r#"<defs><clipPath id="{clip}"><rect x="{}" y="{}" width="{}" height="{}"/></clipPath></defs><g class="plot" clip-path="url(#{clip})" data-x0="{}" data-x1="{}" data-px0="{}" data-px1="{}">"#,
            xr.start,
            yr.start - 3,
            xr.end - xr.start,
            yr.end - yr.start + 6,
            frame.x.0,
            frame.x.1,
            xr.start,
            xr.end
        );
        plot(&|x, y| ctx.backend_coord(&(x, y)), &mut inner);
        inner.push_str("</g>");
        root.present().map_err(err)?;
    }
    let end = svg.rfind("</svg>").ok_or_else(|| Error::Run("chart: SVG backend wrote no </svg>".into()))?;
    svg.insert_str(end, &inner);
    Ok(svg.replacen("<svg ", r#"<svg class="chart" "#, 1))
}

/// Draws `chart` (x: ticks): one `<g class="series" data-key="…">` per
/// line, a translucent 5–95 % band and the median.
pub fn draw(chart: &Chart<'_>) -> Result<String, Error> {
    let id: String = chart.lines.iter().map(|l| l.group).chain([chart.caption, chart.y_desc]).collect();
    let frame = Frame {
        caption: chart.caption,
        x_desc: chart.x_desc,
        y_desc: chart.y_desc,
        size: chart.size,
        x: chart.x,
        y: chart.y,
        x_labels: None,
        id: &id,
    };
    framed(&frame, |px, out| {
        for line in &chart.lines {
            let s = line.series;
            let keep: Vec<usize> = (0..s.ticks.len())
                .filter(|&i| i % chart.stride.max(1) == 0 || i + 1 == s.ticks.len())
                .collect();
            let x: Vec<f64> = s.ticks.iter().map(|&t| f64::from(t)).collect();
            let stats = [s.median.as_slice(), &s.p5, &s.p95];
            series(out, px, line.group, line.label, line.colour, &keep, &x, stats, Style::Band);
        }
    })
}

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Style {
    /// Shaded band and median line (trajectories).
    Band,
    /// Band, line, and a dot with a 5–95 % whisker at each point.
    BandDots,
    /// Dots with whiskers only (points that do not form a line).
    Dots,
}

/// Writes one series `<g class="series" data-key>`: the band `lo..hi`
/// (shaded), the median line through `keep`'s points (a NaN breaks both),
/// and dots with whiskers, as `style` says.
#[allow(clippy::too_many_arguments)]
pub fn series(
    out: &mut String,
    px: Px<'_>,
    key: &str,
    label: &str,
    colour: &str,
    keep: &[usize],
    x: &[f64],
    [median, lo, hi]: [&[f64]; 3],
    style: Style,
) {
    let mut area = String::new();
    let mut line = String::new();
    let mut run: Vec<usize> = Vec::new();
    let mut flush = |run: &mut Vec<usize>| {
        if run.is_empty() {
            return;
        }
        for (j, &i) in run.iter().enumerate() {
            let (a, b) = px(x[i], hi[i]);
            let _ = write!(area, "{}{a},{b}", if j == 0 { "M" } else { " L" });
        }
        for &i in run.iter().rev() {
            let (a, b) = px(x[i], lo[i]);
            let _ = write!(area, " L{a},{b}");
        }
        area.push_str(" Z ");
        for (j, &i) in run.iter().enumerate() {
            let (a, b) = px(x[i], median[i]);
            let _ = write!(line, "{}{a},{b}", if j == 0 { "M" } else { " L" });
        }
        line.push(' ');
        run.clear();
    };
    for &i in keep {
        if median[i].is_finite() && lo[i].is_finite() && hi[i].is_finite() {
            run.push(i);
        } else {
            flush(&mut run);
        }
    }
    flush(&mut run);
    let _ = write!(
        out,
        r#"<g class="series" data-key="{k}" data-label="{l}"><title>{l}</title>"#,
        k = esc(key),
        l = esc(label)
    );
    if style != Style::Dots {
        let _ = write!(
            out,
            r#"<path class="band" d="{}" fill="{colour}" fill-opacity="0.16" stroke="none"/>"#,
            area.trim_end()
        );
    }
    if style != Style::Dots {
        let _ = write!(
            out,
            r#"<path class="median" d="{}" fill="none" stroke="{colour}" stroke-width="1.8" stroke-linejoin="round"/>"#,
            line.trim_end()
        );
    }
    if style != Style::Band {
        for &i in keep.iter().filter(|&&i| median[i].is_finite() && lo[i].is_finite() && hi[i].is_finite()) {
            let ((a, b), (_, b0), (_, b1)) = (px(x[i], median[i]), px(x[i], lo[i]), px(x[i], hi[i]));
            let _ = write!(
                out,
                r#"<line class="whisker" x1="{a}" y1="{b0}" x2="{a}" y2="{b1}" stroke="{colour}" stroke-width="1.4"/><circle class="dot" cx="{a}" cy="{b}" r="3.5" fill="{colour}"/>"#
            );
        }
    }
    out.push_str("</g>");
}

/// A clip-path id from a chart's identifying text.
fn clip_id(seed: &str) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    seed.hash(&mut h);
    format!("{:x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_group_per_series_element() {
        let s = Series {
            ticks: vec![1, 2, 3],
            median: vec![1.0, 2.0, f64::NAN],
            p5: vec![0.5, 1.5, 1.0],
            p95: vec![1.5, 2.5, 3.0],
            n: vec![3, 3, 3],
        };
        let chart = Chart {
            caption: "price",
            x_desc: "tick",
            y_desc: "price",
            size: (600, 300),
            x: (1.0, 3.0),
            y: (0.0, 3.0),
            lines: vec![
                Line { group: "p0", label: "a=1", colour: "#1f77b4", series: &s },
                Line { group: "p1", label: "a=<2>", colour: "#ff7f0e", series: &s },
            ],
            stride: 1,
        };
        let svg = draw(&chart).unwrap();
        assert_eq!(svg.matches(r#"<g class="series""#).count(), 2);
        assert!(svg.contains(r#"data-key="p1""#));
        assert!(svg.contains(r#"data-label="a=&lt;2&gt;""#));
        assert!(svg.starts_with(r#"<svg class="chart" "#));
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
