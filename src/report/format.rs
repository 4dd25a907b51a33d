//! Numbers for people: significant digits ([`fmt_sig`]), one SI-suffixed
//! format (`1.8 M`, `45 k`) shared by tables, tooltips and properties, one
//! format per chart axis, and "nice" axis ticks (steps of 1, 2 or
//! 5 × 10ⁿ) labelled with one format per axis.

/// The SI suffix and divisor for a magnitude: `k` from 10⁴, `M` from 10⁶,
/// `G` from 10⁹ (below 10⁴ numbers read well as they are).
fn si(a: f64) -> (f64, &'static str) {
    if a >= 1e9 {
        (1e9, " G")
    } else if a >= 1e6 {
        (1e6, " M")
    } else if a >= 1e4 {
        (1e3, " k")
    } else {
        (1.0, "")
    }
}

/// A number for people: 4 significant digits, an SI suffix from 10,000 on
/// (`-49.12 k`, `1.157 M`, `970.2`).
pub fn short_number(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let (div, suffix) = si(v.abs());
    format!("{}{suffix}", fmt_sig(v / div, 4))
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

/// One number format for every label of an axis: the same SI suffix and
/// the same decimals, chosen from the largest label and the step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AxisFormat {
    div: f64,
    suffix: &'static str,
    decimals: usize,
}

impl AxisFormat {
    /// The format for labels from `lo` to `hi`, `step` apart.
    pub fn new(lo: f64, hi: f64, step: f64) -> AxisFormat {
        let (div, suffix) = si(lo.abs().max(hi.abs()));
        let scaled = (step / div).abs();
        let decimals = if scaled > 0.0 && scaled.is_finite() {
            (-scaled.log10().floor()).clamp(0.0, 8.0) as usize
        } else {
            0
        };
        // A step like 0.25 needs one more decimal than its leading digit says.
        let decimals =
            if ((scaled * 10f64.powi(decimals as i32)).round() - scaled * 10f64.powi(decimals as i32)).abs()
                > 1e-6
            {
                decimals + 1
            } else {
                decimals
            };
        AxisFormat { div, suffix, decimals }
    }

    /// `v` as an axis label.
    pub fn label(&self, v: f64) -> String {
        let s = format!("{:.*}", self.decimals, v / self.div);
        // No "-0".
        let s = if s.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
            s.trim_start_matches('-').to_string()
        } else {
            s
        };
        format!("{s}{}", self.suffix)
    }
}

/// About `n` evenly spaced round values covering `lo..=hi` (inside it), and
/// their step.
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> (Vec<f64>, f64) {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return (vec![lo], 1.0);
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    let ticks = (first..=last).map(|k| k as f64 * step).collect();
    (ticks, step)
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
    fn short_numbers_use_si_suffixes() {
        assert_eq!(short_number(1_800_000.0), "1.8 M");
        assert_eq!(short_number(45_000.0), "45 k");
        assert_eq!(short_number(-49_120.0), "-49.12 k");
        assert_eq!(short_number(0.125), "0.125");
        assert_eq!(short_number(2.5e9), "2.5 G");
        assert_eq!(short_number(970.1717), "970.2");
        assert_eq!(short_number(1_053_212.0), "1.053 M");
    }

    #[test]
    fn an_axis_has_one_format() {
        let (ticks, step) = nice_ticks(0.0, 2_000_000.0, 5);
        assert_eq!(step, 500_000.0);
        let f = AxisFormat::new(ticks[0], *ticks.last().unwrap(), step);
        let labels: Vec<String> = ticks.iter().map(|&v| f.label(v)).collect();
        assert_eq!(labels, ["0.0 M", "0.5 M", "1.0 M", "1.5 M", "2.0 M"]);
        let (ticks, step) = nice_ticks(0.0, 0.1, 4);
        assert_eq!(step, 0.025);
        let f = AxisFormat::new(0.0, 0.1, step);
        assert_eq!(
            ticks.iter().map(|&v| f.label(v)).collect::<Vec<_>>(),
            ["0.000", "0.025", "0.050", "0.075", "0.100"]
        );
        let f = AxisFormat::new(10_000.0, 60_000.0, 10_000.0);
        assert_eq!(f.label(45_000.0), "45 k");
        assert_eq!(AxisFormat::new(-1.0, 1.0, 0.5).label(-0.0001), "0.0");
    }

    #[test]
    fn ticks_lie_inside_the_range() {
        for (lo, hi) in [(0.3, 9.7), (-5.0, 5.0), (1e6, 1.9e6), (0.001, 0.0021)] {
            let (t, step) = nice_ticks(lo, hi, 6);
            assert!(t.len() >= 2, "{lo}..{hi}: {t:?}");
            assert!(t.iter().all(|v| *v >= lo - 1e-12 && *v <= hi + 1e-12));
            assert!(t.windows(2).all(|w| (w[1] - w[0] - step).abs() < step * 1e-9));
        }
    }
}
