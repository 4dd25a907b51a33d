//! How far simulated series are from an observed one, over a window of
//! ticks. Each loss takes the replicates of one candidate (one series per
//! replicate, indexed by `tick − 1`) and the observed series:
//!
//! - `rmse`: the root mean square of `median − observed` over the window,
//!   `median` being the per-tick median across replicates. In the metric's
//!   units.
//! - `log_rmse`: the same on logarithms, `ln median − ln observed`: a
//!   relative error, for prices and other positive series spanning orders
//!   of magnitude.
//! - `moments`: the method of simulated moments on log returns
//!   `r_t = ln(x_t / x_{t−1})` (both ticks in the window). Five moments —
//!   mean, standard deviation, skewness, excess kurtosis and the lag-1
//!   autocorrelation of `|r|` (volatility clustering) — are computed per
//!   replicate and averaged across replicates (the simulated moments), and
//!   compared with the observed ones. The loss is the mean of the five
//!   squared differences, each divided by the variance of that moment's
//!   estimator under i.i.d. normal returns with the observed standard
//!   deviation `s` over `n` returns: `s²/n`, `s²/(2n)`, `6/n`, `24/n` and
//!   `1/n` (a diagonal weighting: every moment counts in units of its own
//!   sampling noise, so a loss near 1 is a fit within noise). Moments are
//!   population moments (dividing by `n`).
//!
//! Logarithms of simulated values ≤ 0 use the smallest positive double, so
//! a candidate that drives a price to zero gets a large finite loss instead
//! of a NaN. Where the squares of finite errors overflow, the root mean
//! square is taken of the errors scaled by the largest, so it is finite
//! whenever the errors are. A simulated value of
//! the window that is missing, infinite or NaN, or a loss that still is not
//! finite, gives `None`: the candidate cannot be scored, which is not a fit
//! of any quality. Observed
//! values must be > 0 for the log losses ([`super::Observed::require_positive`]).

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// A loss function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Root mean square error of the per-tick median.
    Rmse,
    /// Root mean square error of the log of the per-tick median.
    LogRmse,
    /// Method of simulated moments on log returns.
    Moments,
}

impl Loss {
    /// The names `--loss` takes.
    pub const NAMES: [&'static str; 3] = ["rmse", "log_rmse", "moments"];

    /// The loss of a name in [`Loss::NAMES`].
    pub fn parse(name: &str) -> Option<Loss> {
        match name {
            "rmse" => Some(Loss::Rmse),
            "log_rmse" => Some(Loss::LogRmse),
            "moments" => Some(Loss::Moments),
            _ => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Rmse => "rmse",
            Loss::LogRmse => "log_rmse",
            Loss::Moments => "moments",
        }
    }

    /// Whether it takes logarithms of the values.
    pub fn takes_logs(self) -> bool {
        !matches!(self, Loss::Rmse)
    }
}

fn ln(x: f64) -> f64 {
    x.max(f64::MIN_POSITIVE).ln()
}

/// `sqrt(mean(e²))`. Where the squares overflow although every error is
/// finite, it is computed as `m · sqrt(mean((e/m)²))`, `m` the largest
/// `|e|` (only then, so results that fit keep their bits).
fn root_mean_square(errors: &[f64]) -> f64 {
    let n = errors.len() as f64;
    let plain = (errors.iter().map(|e| e * e).sum::<f64>() / n).sqrt();
    if plain.is_finite() || !errors.iter().all(|e| e.is_finite()) {
        return plain;
    }
    let m = errors.iter().fold(0.0f64, |a, e| a.max(e.abs()));
    m * (errors.iter().map(|e| (e / m).powi(2)).sum::<f64>() / n).sqrt()
}

/// The `p`-quantile (linear interpolation between order statistics) of
/// each tick of `window` across `replicates`.
///
/// ```
/// use tokensim::observed::loss::quantile_per_tick;
/// let (a, b, c) = ([1.0, 10.0], [2.0, 30.0], [3.0, 20.0]);
/// assert_eq!(quantile_per_tick(&[&a[..], &b[..], &c[..]], 0..2, 0.5), vec![2.0, 20.0]);
/// ```
pub fn quantile_per_tick(replicates: &[&[f64]], window: Range<usize>, p: f64) -> Vec<f64> {
    let mut column = Vec::with_capacity(replicates.len());
    window
        .map(|t| {
            column.clear();
            column.extend(replicates.iter().filter_map(|r| r.get(t).copied()));
            column.sort_by(f64::total_cmp);
            quantile(&column, p)
        })
        .collect()
}

/// The `p`-quantile of sorted values (NaN if empty).
fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = p.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The five moments of the log returns of a series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moments {
    /// Mean log return.
    pub mean: f64,
    /// Standard deviation (population).
    pub sd: f64,
    /// Skewness `m3 / m2^{3/2}`.
    pub skewness: f64,
    /// Excess kurtosis `m4 / m2² − 3`.
    pub kurtosis: f64,
    /// Lag-1 autocorrelation of `|r|`.
    pub acf_abs: f64,
}

impl Moments {
    /// Names, in the order of [`Moments::to_array`].
    pub const NAMES: [&'static str; 5] = ["mean", "sd", "skewness", "kurtosis", "acf_abs"];

    /// The moments of the log returns of `levels` (at least two values).
    /// A constant series has zero moments.
    ///
    /// ```
    /// use tokensim::observed::loss::Moments;
    /// let m = Moments::of_levels(&[1.0, 2.0, 4.0, 8.0]);
    /// assert!((m.mean - 2f64.ln()).abs() < 1e-12 && m.sd.abs() < 1e-12);
    /// ```
    pub fn of_levels(levels: &[f64]) -> Moments {
        let r: Vec<f64> = levels.windows(2).map(|w| ln(w[1]) - ln(w[0])).collect();
        Moments::of_returns(&r)
    }

    /// The moments of returns `r`.
    pub fn of_returns(r: &[f64]) -> Moments {
        let n = r.len().max(1) as f64;
        let mean = r.iter().sum::<f64>() / n;
        let central = |k: i32| r.iter().map(|x| (x - mean).powi(k)).sum::<f64>() / n;
        let m2 = central(2);
        // Spreads below rounding noise of the returns' size are zero.
        let scale = r.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        let negligible = |var: f64| var.sqrt() <= 1e-9 * scale;
        let flat = negligible(m2);
        let sd = m2.sqrt();
        let (skewness, kurtosis) =
            if flat { (0.0, 0.0) } else { (central(3) / m2.powf(1.5), central(4) / (m2 * m2) - 3.0) };
        let a: Vec<f64> = r.iter().map(|x| x.abs()).collect();
        let am = a.iter().sum::<f64>() / n;
        let var_a: f64 = a.iter().map(|x| (x - am).powi(2)).sum();
        let cov: f64 = a.windows(2).map(|w| (w[1] - am) * (w[0] - am)).sum();
        let acf_abs = if negligible(var_a / n) { 0.0 } else { cov / var_a };
        Moments { mean, sd: if flat { 0.0 } else { sd }, skewness, kurtosis, acf_abs }
    }

    /// `[mean, sd, skewness, kurtosis, acf_abs]`.
    pub fn to_array(self) -> [f64; 5] {
        [self.mean, self.sd, self.skewness, self.kurtosis, self.acf_abs]
    }
}

/// An observed series over a window, ready to score candidates against.
#[derive(Clone, Debug)]
pub struct Target {
    kind: Loss,
    window: Range<usize>,
    observed: Vec<f64>,
    /// Observed moments and the weight of each (moments loss only).
    moments: Option<([f64; 5], [f64; 5])>,
}

impl Target {
    /// The target of `observed` (indexed by `tick − 1`) over `window`.
    /// Errors (as text) if the window is too short for the loss, or, for
    /// `moments`, if the observed returns do not vary. Log losses expect
    /// observed values > 0 (checked by the caller, with the data's place).
    pub fn new(kind: Loss, observed: &[f64], window: Range<usize>) -> Result<Target, String> {
        let window = window.start.min(observed.len())..window.end.min(observed.len());
        let slice = observed[window.clone()].to_vec();
        let min = if kind == Loss::Moments { 5 } else { 1 };
        if slice.len() < min {
            return Err(format!(
                "the window has {} ticks; `{}` needs at least {min}",
                slice.len(),
                kind.name()
            ));
        }
        let moments = if kind == Loss::Moments {
            let m = Moments::of_levels(&slice);
            if m.sd == 0.0 {
                return Err("the observed log returns do not vary, so `moments` cannot weight them".into());
            }
            let n = (slice.len() - 1) as f64;
            let s2 = m.sd * m.sd;
            Some((m.to_array(), [n / s2, 2.0 * n / s2, n / 6.0, n / 24.0, n]))
        } else {
            None
        };
        Ok(Target { kind, window, observed: slice, moments })
    }

    /// The window (indices `tick − 1`).
    pub fn window(&self) -> Range<usize> {
        self.window.clone()
    }

    /// The first `(replicate, tick − 1)` of the window whose simulated value
    /// is missing or not finite, which no loss can use.
    pub fn unusable(&self, replicates: &[&[f64]]) -> Option<(usize, usize)> {
        replicates.iter().enumerate().find_map(|(k, r)| {
            self.window.clone().find(|&t| !r.get(t).is_some_and(|v| v.is_finite())).map(|t| (k, t))
        })
    }

    /// The loss of a candidate's replicates (each indexed by `tick − 1`),
    /// or `None` if it is not finite (no replicates, or a simulated value
    /// that is missing, infinite or NaN where the loss needs it).
    pub fn loss(&self, replicates: &[&[f64]]) -> Option<f64> {
        if replicates.is_empty() || self.unusable(replicates).is_some() {
            return None;
        }
        let pairs = |f: &dyn Fn(f64) -> f64| {
            let median = quantile_per_tick(replicates, self.window.clone(), 0.5);
            let errors: Vec<f64> = median.iter().zip(&self.observed).map(|(m, o)| f(*m) - f(*o)).collect();
            root_mean_square(&errors)
        };
        let loss = match self.kind {
            Loss::Rmse => pairs(&|x| x),
            Loss::LogRmse => pairs(&ln),
            Loss::Moments => {
                let (observed, weights) = self.moments.expect("moments target");
                let mut simulated = [0.0; 5];
                for r in replicates {
                    let end = self.window.end.min(r.len());
                    let start = self.window.start.min(end);
                    let m = Moments::of_levels(&r[start..end]).to_array();
                    for (s, v) in simulated.iter_mut().zip(m) {
                        *s += v / replicates.len() as f64;
                    }
                }
                (0..5).map(|k| weights[k] * (simulated[k] - observed[k]).powi(2)).sum::<f64>() / 5.0
            }
        };
        loss.is_finite().then_some(loss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmse_is_on_the_median_across_replicates() {
        let obs = [1.0, 2.0, 3.0];
        let (a, b, c) = ([0.0, 2.0, 3.0], [1.0, 5.0, 3.0], [9.0, 2.0, 6.0]);
        // Medians: 1, 2, 3 — a perfect fit although no replicate fits.
        let t = Target::new(Loss::Rmse, &obs, 0..3).unwrap();
        assert_eq!(t.loss(&[&a, &b, &c]), Some(0.0));
        // One replicate: errors (1, 0, 0) → sqrt(1/3).
        assert!((t.loss(&[&a]).unwrap() - (1.0f64 / 3.0).sqrt()).abs() < 1e-15);
        // Window 1..3 only sees ticks 2 and 3.
        let t = Target::new(Loss::Rmse, &obs, 1..3).unwrap();
        assert_eq!(t.loss(&[&a]), Some(0.0));
    }

    #[test]
    fn log_rmse_is_a_relative_error() {
        let obs = [100.0, 100.0];
        let sim = [100.0 * 1.1f64.exp(), 100.0 / 1.1f64.exp()];
        let t = Target::new(Loss::LogRmse, &obs, 0..2).unwrap();
        assert!((t.loss(&[&sim]).unwrap() - 1.1).abs() < 1e-12);
        // A simulated zero gives a large finite loss, not NaN or inf.
        let l = t.loss(&[&[0.0, -1.0][..]]).unwrap();
        assert!(l.is_finite() && l > 700.0, "{l}");
    }

    #[test]
    fn rmse_of_large_errors_does_not_overflow_and_unscorable_is_none() {
        // Errors 3e200 and 4e200: sqrt((9 + 16)/2)·1e200, though 9e400 overflows.
        let t = Target::new(Loss::Rmse, &[0.0, 0.0], 0..2).unwrap();
        let l = t.loss(&[&[3e200, -4e200][..]]).unwrap();
        assert!((l - 12.5f64.sqrt() * 1e200).abs() < 1e-12 * l, "{l}");
        assert_eq!(t.loss(&[&[f64::INFINITY, 0.0][..]]), None);
        assert_eq!(t.loss(&[&[f64::NAN, 0.0][..]]), None);
        assert_eq!(t.loss(&[]), None);
        let t = Target::new(Loss::LogRmse, &[1.0, 1.0], 0..2).unwrap();
        assert_eq!(t.loss(&[&[f64::INFINITY, 1.0][..]]), None);
    }

    #[test]
    fn moments_match_closed_forms() {
        // Returns alternating +a, −a: mean 0, sd a, skew 0, kurtosis 1 − 3,
        // |r| constant → acf 0.
        let a = 0.1f64;
        let mut levels = vec![1.0];
        for i in 0..100 {
            let r = if i % 2 == 0 { a } else { -a };
            levels.push(levels.last().unwrap() * r.exp());
        }
        let m = Moments::of_levels(&levels);
        assert!(m.mean.abs() < 1e-12 && (m.sd - a).abs() < 1e-12, "{m:?}");
        assert!(m.skewness.abs() < 1e-9 && (m.kurtosis + 2.0).abs() < 1e-9 && m.acf_abs == 0.0, "{m:?}");
        // Skewed: returns 0,0,0,3 (mean 3/4): m2 = 27/16, m3 = 81·... closed form.
        let r = [0.0, 0.0, 0.0, 3.0];
        let m = Moments::of_returns(&r);
        let (mean, m2, m3, m4) = (
            0.75f64,
            27.0f64 / 16.0,
            3.0 * (-0.75f64).powi(3) / 4.0 + 2.25f64.powi(3) / 4.0,
            3.0 * 0.75f64.powi(4) / 4.0 + 2.25f64.powi(4) / 4.0,
        );
        assert!((m.mean - mean).abs() < 1e-12);
        assert!((m.skewness - m3 / m2.powf(1.5)).abs() < 1e-12);
        assert!((m.kurtosis - (m4 / (m2 * m2) - 3.0)).abs() < 1e-12);
        // acf of |r| = r here: mean .75, deviations (-.75,-.75,-.75,2.25):
        // lagged products .5625 + .5625 − 1.6875 over 6.75.
        assert!((m.acf_abs - (0.5625 + 0.5625 - 1.6875) / 6.75).abs() < 1e-12);
    }

    #[test]
    fn moments_loss_is_zero_at_the_observed_moments_and_weighted_by_noise() {
        let mut levels = vec![1.0];
        for i in 0..200 {
            let r = 0.02 * ((i * 7919 % 13) as f64 - 6.0) / 6.0;
            levels.push(levels.last().unwrap() * f64::exp(r));
        }
        let t = Target::new(Loss::Moments, &levels, 0..levels.len()).unwrap();
        assert!(t.loss(&[&levels]).unwrap() < 1e-20);
        // Doubling every return doubles the mean and sd, keeps the rest:
        // loss = (mean²·n/s² + s²·2n/s²) / 5.
        let doubled: Vec<f64> = levels.iter().map(|x| x * x).collect();
        let m = Moments::of_levels(&levels);
        let n = 200.0;
        let expected = (m.mean * m.mean * n / (m.sd * m.sd) + 2.0 * n) / 5.0;
        let loss = t.loss(&[&doubled]).unwrap();
        assert!((loss - expected).abs() < 1e-6 * expected, "{loss} {expected}");
        assert!(Target::new(Loss::Moments, &[1.0; 10], 0..10).is_err());
        assert!(Target::new(Loss::Moments, &levels, 0..3).is_err());
    }
}
