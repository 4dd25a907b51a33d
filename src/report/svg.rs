//! Minimal hand-written SVG plots for the stress and sensitivity pages:
//! a frame with axes and labels, and the data → pixel mapping.

use std::fmt::Write;

use super::chart::fmt_sig;
use super::markup::esc;

/// A plot area: pixel size, data ranges, and the SVG written so far.
pub struct Plot {
    /// SVG text (without the closing tag).
    pub svg: String,
    w: f64,
    h: f64,
    x: (f64, f64),
    y: (f64, f64),
}

/// Left, right, top, bottom margins in pixels.
const M: (f64, f64, f64, f64) = (64.0, 12.0, 22.0, 36.0);

impl Plot {
    /// A `w`×`h` plot of `x` × `y` (ranges widened when flat) with a caption
    /// and axis labels.
    pub fn new(w: u32, h: u32, x: (f64, f64), y: (f64, f64), caption: &str, xl: &str, yl: &str) -> Plot {
        let widen = |(lo, hi): (f64, f64)| {
            if !(lo.is_finite() && hi.is_finite()) {
                (0.0, 1.0)
            } else if hi > lo {
                (lo, hi)
            } else {
                (lo - 0.5 - lo.abs() * 0.05, hi + 0.5 + hi.abs() * 0.05)
            }
        };
        let (w, h) = (f64::from(w), f64::from(h));
        let mut p = Plot { svg: String::new(), w, h, x: widen(x), y: widen(y) };
        let _ = write!(
            p.svg,
            r##"<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11"><rect width="{w}" height="{h}" fill="#fff"/><text x="{}" y="14" text-anchor="middle" font-size="13">{}</text>"##,
            w / 2.0,
            esc(caption)
        );
        let (x0, y0, x1, y1) = (M.0, h - M.3, w - M.1, M.2);
        let _ = write!(
            p.svg,
            r##"<rect x="{x0}" y="{y1}" width="{}" height="{}" fill="none" stroke="#ccc"/>"##,
            x1 - x0,
            y0 - y1
        );
        for i in 0..=4 {
            let f = f64::from(i) / 4.0;
            let (vx, vy) = (p.x.0 + f * (p.x.1 - p.x.0), p.y.0 + f * (p.y.1 - p.y.0));
            let (px, py) = (p.px(vx), p.py(vy));
            let _ = write!(
                p.svg,
                r##"<text x="{px}" y="{}" text-anchor="middle">{}</text><text x="{}" y="{}" text-anchor="end">{}</text>"##,
                y0 + 14.0,
                fmt_sig(vx, 3),
                x0 - 4.0,
                py + 4.0,
                fmt_sig(vy, 3)
            );
        }
        let _ = write!(
            p.svg,
            r##"<text x="{}" y="{}" text-anchor="middle">{}</text><text transform="translate(12 {}) rotate(-90)" text-anchor="middle">{}</text>"##,
            (x0 + x1) / 2.0,
            h - 4.0,
            esc(xl),
            (y0 + y1) / 2.0,
            esc(yl)
        );
        p
    }

    /// Pixel x of data `v`.
    pub fn px(&self, v: f64) -> f64 {
        M.0 + (v - self.x.0) / (self.x.1 - self.x.0) * (self.w - M.0 - M.1)
    }

    /// Pixel y of data `v`.
    pub fn py(&self, v: f64) -> f64 {
        self.h - M.3 - (v - self.y.0) / (self.y.1 - self.y.0) * (self.h - M.2 - M.3)
    }

    /// Whether `v` lies in the y range.
    pub fn in_y(&self, v: f64) -> bool {
        v >= self.y.0 && v <= self.y.1
    }

    /// The finished `<svg>` element.
    pub fn finish(mut self) -> String {
        self.svg.push_str("</svg>");
        self.svg
    }
}

/// The range of finite values, `(0, 1)` if none.
pub fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) }
}

/// A diverging colour for a margin: red below zero, blue above, paler
/// towards zero; `scale` is the largest |margin|.
pub fn margin_colour(m: f64, scale: f64) -> String {
    let t = if scale > 0.0 { (m.abs() / scale).clamp(0.0, 1.0).sqrt() } else { 0.0 };
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    let (r, g, b) = if m < 0.0 { (214.0, 39.0, 40.0) } else { (31.0, 119.0, 180.0) };
    format!("#{:02x}{:02x}{:02x}", mix(220.0, r), mix(220.0, g), mix(220.0, b))
}
