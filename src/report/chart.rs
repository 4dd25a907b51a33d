//! SVG line charts: plotters (SVG backend) draws the frame — axes, grid,
//! tick labels, caption — and gives the exact data → pixel mapping; the
//! series are then written with that mapping as one
//! `<g class="series" data-group="…">` per group (a translucent 5–95 % band
//! and the median line), so a page or a test can find and count them.

use std::fmt::Write;

use plotters::prelude::*;

use super::aggregate::Series;
use super::html::esc;
use crate::error::Error;

/// One group's line on a chart.
pub struct Line<'a> {
    /// Group id (`data-group`).
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
    /// Y axis description.
    pub y_desc: &'a str,
    /// Size in pixels.
    pub size: (u32, u32),
    /// X range (ticks).
    pub x: (f64, f64),
    /// Y range.
    pub y: (f64, f64),
    /// Lines, drawn in order.
    pub lines: Vec<Line<'a>>,
    /// Draw every `stride`-th point (and the last): 1 draws all.
    pub stride: usize,
}

/// Up to `digits` significant digits, scientific when very large or small.
pub fn fmt_sig(v: f64, digits: usize) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e7).contains(&a) {
        return format!("{:.*e}", digits.saturating_sub(1).min(3), v);
    }
    let decimals = (digits as i32 - 1 - a.log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
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

/// Draws `chart` and returns an `<svg class="chart">` element.
pub fn draw(chart: &Chart<'_>) -> Result<String, Error> {
    let mut svg = String::new();
    let mut series_svg = String::new();
    let x_fmt = |v: &f64| fmt_sig(*v, 6);
    let y_fmt = |v: &f64| fmt_sig(*v, 4);
    {
        let root = SVGBackend::with_string(&mut svg, chart.size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let small = chart.size.0 < 500;
        let mut builder = ChartBuilder::on(&root);
        builder
            .margin(8)
            .margin_right(16)
            .x_label_area_size(if small { 30 } else { 36 })
            .y_label_area_size(if small { 56 } else { 70 });
        if !chart.caption.is_empty() {
            builder.caption(chart.caption, ("sans-serif", if small { 13 } else { 15 }));
        }
        let mut ctx = builder.build_cartesian_2d(chart.x.0..chart.x.1, chart.y.0..chart.y.1).map_err(err)?;
        ctx.configure_mesh()
            .x_desc("tick")
            .y_desc(chart.y_desc)
            .x_labels(if small { 5 } else { 8 })
            .y_labels(if small { 5 } else { 7 })
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .label_style(("sans-serif", 11))
            .axis_desc_style(("sans-serif", 12))
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(err)?;
        let (xr, yr) = ctx.plotting_area().get_pixel_range();
        let clip = format!("clip{}", clip_id(chart));
        let _ = write!(
            series_svg,
            r#"<defs><clipPath id="{clip}"><rect x="{}" y="{}" width="{}" height="{}"/></clipPath></defs><g class="plot" clip-path="url(#{clip})">"#,
            xr.start,
            yr.start,
            xr.end - xr.start,
            yr.end - yr.start
        );
        for line in &chart.lines {
            let s = line.series;
            let keep: Vec<usize> = (0..s.ticks.len())
                .filter(|&i| i % chart.stride.max(1) == 0 || i + 1 == s.ticks.len())
                .collect();
            let px = |i: usize, v: f64| ctx.backend_coord(&(f64::from(s.ticks[i]), v));
            let mut band = String::new();
            let mut median = String::new();
            // Contiguous runs of finite points; a NaN breaks the line.
            let mut run: Vec<usize> = Vec::new();
            let mut flush = |run: &mut Vec<usize>| {
                if run.is_empty() {
                    return;
                }
                for (j, &i) in run.iter().enumerate() {
                    let (x, y) = px(i, s.p95[i]);
                    let _ = write!(band, "{}{x},{y}", if j == 0 { "M" } else { " L" });
                }
                for &i in run.iter().rev() {
                    let (x, y) = px(i, s.p5[i]);
                    let _ = write!(band, " L{x},{y}");
                }
                band.push_str(" Z ");
                for (j, &i) in run.iter().enumerate() {
                    let (x, y) = px(i, s.median[i]);
                    let _ = write!(median, "{}{x},{y}", if j == 0 { "M" } else { " L" });
                }
                median.push(' ');
                run.clear();
            };
            for &i in &keep {
                if s.median[i].is_finite() && s.p5[i].is_finite() && s.p95[i].is_finite() {
                    run.push(i);
                } else {
                    flush(&mut run);
                }
            }
            flush(&mut run);
            let _ = write!(
                series_svg,
                r#"<g class="series" data-group="{g}" data-label="{l}"><title>{l}</title><path class="band" d="{}" fill="{c}" fill-opacity="0.16" stroke="none"/><path class="median" d="{}" fill="none" stroke="{c}" stroke-width="1.6" stroke-linejoin="round"/></g>"#,
                band.trim_end(),
                median.trim_end(),
                g = esc(line.group),
                l = esc(line.label),
                c = line.colour,
            );
        }
        series_svg.push_str("</g>");
        root.present().map_err(err)?;
    }
    let end = svg.rfind("</svg>").ok_or_else(|| Error::Run("chart: SVG backend wrote no </svg>".into()))?;
    svg.insert_str(end, &series_svg);
    Ok(svg.replacen("<svg ", r#"<svg class="chart" "#, 1))
}

/// A clip-path id unique to the chart's content.
fn clip_id(chart: &Chart<'_>) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    chart.caption.hash(&mut h);
    chart.y_desc.hash(&mut h);
    for l in &chart.lines {
        l.group.hash(&mut h);
    }
    format!("{:x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_compactly() {
        assert_eq!(fmt_sig(0.0, 4), "0");
        assert_eq!(fmt_sig(1.25, 4), "1.25");
        assert_eq!(fmt_sig(1234.5678, 4), "1235");
        assert_eq!(fmt_sig(0.012345, 3), "0.0123");
        assert_eq!(fmt_sig(2.5e8, 3), "2.50e8");
    }

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
        assert!(svg.contains(r#"data-label="a=&lt;2&gt;""#));
        assert!(svg.starts_with(r#"<svg class="chart" "#));
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
