//! Exact quantiles of values held in pieces (one per chunk of agents),
//! without gathering them into one buffer first.
//!
//! A full selection over every value costs one single-threaded pass of
//! comparisons, plus a copy to make the pieces contiguous. Instead, a
//! stratified sample of the values gives two pivots that bracket the wanted
//! rank with high probability (Floyd–Rivest); one parallel pass counts the
//! values below the band and keeps those inside it; the selection then runs
//! over the band alone. When the band misses the rank (rare; an ordering
//! that fools the sample only costs time) the pieces are gathered and
//! selected in full, so the answer is always exact. It never depends on the order of the values
//! or on the number of threads: the k-th value under `f64::total_cmp` is one
//! bit pattern.

use rayon::prelude::*;

/// Below this many values, gathering and selecting is as cheap as sampling.
const DIRECT: usize = 16_384;
/// Sample size for the pivots.
pub(crate) const SAMPLE: usize = 512;

/// The `q` quantile of every value in `pieces`, linear between the closest
/// ranks (Hyndman–Fan type 7, NumPy's default); `NaN` without values.
///
/// ```
/// use tokensim::properties::order::quantile;
/// let (a, b) = (vec![5.0, 1.0, 4.0], vec![2.0, 3.0]);
/// assert_eq!(quantile(&[&a[..], &b[..]], 0.5), 3.0);
/// assert!((quantile(&[&a[..], &b[..]], 0.3) - 2.2).abs() < 1e-12);
/// ```
pub fn quantile(pieces: &[&[f64]], q: f64) -> f64 {
    let n: usize = pieces.iter().map(|p| p.len()).sum();
    interpolated(n, q, |k, last| {
        Some(
            if n >= DIRECT { banded(pieces, n, k, last) } else { None }
                .unwrap_or_else(|| gathered(pieces, k, last)),
        )
    })
    .unwrap_or(f64::NAN)
}

/// Type 7 over `n` values from `ranks(k, last)`, the values of ranks `k`
/// and `last` (`k + 1` when the quantile falls between them, else `k`);
/// `NaN` without values, `None` if `ranks` gives none.
fn interpolated(n: usize, q: f64, ranks: impl FnOnce(usize, usize) -> Option<(f64, f64)>) -> Option<f64> {
    if n == 0 {
        return Some(f64::NAN);
    }
    let h = (n - 1) as f64 * q;
    let k = (h.floor() as usize).min(n - 1);
    let frac = h - k as f64;
    let last = if frac > 0.0 && k + 1 < n { k + 1 } else { k };
    let (lo, hi) = ranks(k, last)?;
    Some(if last == k { lo } else { lo + frac * (hi - lo) })
}

/// The values of ranks `k` and `last` (`k` or `k + 1`) of a slice, reordered.
fn select(values: &mut [f64], k: usize, last: usize) -> (f64, f64) {
    let (_, x, rest) = values.select_nth_unstable_by(k, f64::total_cmp);
    let x = *x;
    if last == k {
        return (x, x);
    }
    (x, rest.iter().copied().min_by(f64::total_cmp).unwrap_or(x))
}

fn gathered(pieces: &[&[f64]], k: usize, last: usize) -> (f64, f64) {
    let mut all = pieces.concat();
    select(&mut all, k, last)
}

/// Ranks `k` and `last` from the band between two pivots sampled from the
/// pieces, or `None` if the band does not hold them.
fn banded(pieces: &[&[f64]], n: usize, k: usize, last: usize) -> Option<(f64, f64)> {
    let bracket = Bracket::around(&mut stratified_sample(pieces, n), k as f64 / n as f64);
    let bands: Vec<Band> = pieces
        .par_iter()
        .map(|piece| {
            let mut band = Band::new(bracket);
            band.add(piece.iter().copied());
            band
        })
        .collect();
    Band::select(&bands, k, last)
}

/// Two pivots that probably bracket a rank: from a sample of the values, the
/// sample ranks three standard deviations either side of the rank's share.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bracket {
    low: i64,
    high: i64,
}

impl Bracket {
    /// Pivots for the rank at share `p` (rank / count) of the values that
    /// `sample` was drawn from (reordered); unbounded on a side the sample
    /// cannot bound.
    pub(crate) fn around(sample: &mut [f64], p: f64) -> Bracket {
        let s = sample.len() as f64;
        let spread = 3.0 * (s * p * (1.0 - p)).sqrt() + 2.0;
        let mut pivot = |rank: f64| {
            (rank >= 0.0 && rank < s)
                .then(|| key(*sample.select_nth_unstable_by(rank as usize, f64::total_cmp).1))
        };
        let low = pivot((p * s - spread).floor()).unwrap_or(i64::MIN);
        let high = pivot((p * s + spread).ceil()).unwrap_or(i64::MAX);
        Bracket { low, high }
    }
}

/// What one piece keeps of its values for a [`Bracket`]: how many there
/// were, how many fell below it, and those inside it.
#[derive(Clone, Debug)]
pub(crate) struct Band {
    bracket: Bracket,
    seen: usize,
    below: usize,
    inside: Vec<f64>,
}

impl Band {
    /// No values yet.
    pub(crate) fn new(bracket: Bracket) -> Band {
        Band { bracket, seen: 0, below: 0, inside: Vec::new() }
    }

    /// Adds values. Branch-free, since which side of a pivot a value falls
    /// on is a coin flip: each goes to a staging block, kept or not.
    pub(crate) fn add(&mut self, values: impl Iterator<Item = f64>) {
        const BLOCK: usize = 256;
        let Bracket { low, high } = self.bracket;
        let mut stage = [0.0; BLOCK];
        let (mut seen, mut below, mut kept) = (self.seen, self.below, 0);
        for x in values {
            let k = key(x);
            stage[kept] = x;
            kept += usize::from((k >= low) & (k <= high));
            below += usize::from(k < low);
            seen += 1;
            if kept == BLOCK {
                self.inside.extend_from_slice(&stage);
                kept = 0;
            }
        }
        self.inside.extend_from_slice(&stage[..kept]);
        (self.seen, self.below) = (seen, below);
    }

    /// Ranks `k` and `last` (`k` or `k + 1`) of every band's values
    /// together, if the bands hold them.
    fn select(bands: &[Band], k: usize, last: usize) -> Option<(f64, f64)> {
        let below: usize = bands.iter().map(|b| b.below).sum();
        let mut inside = Vec::with_capacity(bands.iter().map(|b| b.inside.len()).sum());
        bands.iter().for_each(|b| inside.extend_from_slice(&b.inside));
        if k < below || last >= below + inside.len() {
            return None;
        }
        Some(select(&mut inside, k - below, last - below))
    }

    /// The `q` quantile of every band's values together (as [`quantile`]),
    /// or `None` if the bands do not hold the ranks it reads.
    pub(crate) fn quantile(bands: &[Band], q: f64) -> Option<f64> {
        let n: usize = bands.iter().map(|b| b.seen).sum();
        interpolated(n, q, |k, last| Band::select(bands, k, last))
    }
}

/// An integer whose order is `f64::total_cmp`'s.
fn key(x: f64) -> i64 {
    let bits = x.to_bits() as i64;
    bits ^ ((((bits >> 63) as u64) >> 1) as i64)
}

/// About [`SAMPLE`] values at evenly spaced ranks of the pieces' order.
pub(crate) fn stratified_sample(pieces: &[&[f64]], n: usize) -> Vec<f64> {
    let s = SAMPLE.min(n);
    let mut sample = Vec::with_capacity(s);
    let (mut piece, mut start) = (0, 0);
    for j in 0..s {
        let at = j * n / s + n / (2 * s);
        while at >= start + pieces[piece].len() {
            start += pieces[piece].len();
            piece += 1;
        }
        sample.push(pieces[piece][at - start]);
    }
    sample
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Type 7 from a full sort: the definition, independently.
    fn sorted_quantile(values: &[f64], q: f64) -> f64 {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let h = (v.len() - 1) as f64 * q;
        let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
        v[lo] + (h - lo as f64) * (v[hi] - v[lo])
    }

    fn pieces(values: &[f64], size: usize) -> Vec<&[f64]> {
        values.chunks(size).collect()
    }

    #[test]
    fn matches_a_full_sort_on_large_inputs_in_any_pieces() {
        let mut x: u64 = 7;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        let random: Vec<f64> = (0..50_000).map(|_| 1000.0 * (3.0 * next()).exp()).collect();
        let ascending: Vec<f64> = (0..40_000).map(f64::from).collect();
        let descending: Vec<f64> = ascending.iter().rev().copied().collect();
        let ties: Vec<f64> = (0..30_000).map(|i| f64::from(i % 3)).collect();
        // Sawtooth: every stratified sample lands on the same phase.
        let saw: Vec<f64> = (0..60_000).map(|i| f64::from(i % 117)).collect();
        for values in [&random, &ascending, &descending, &ties, &saw] {
            for q in [0.0, 1e-6, 0.05, 0.25, 0.5, 0.7321, 0.95, 1.0 - 1e-6, 1.0] {
                let want = sorted_quantile(values, q);
                for size in [values.len(), 8192, 1000, 7] {
                    assert_eq!(quantile(&pieces(values, size), q), want, "q = {q}, pieces of {size}");
                }
            }
        }
    }

    #[test]
    fn small_and_empty_inputs() {
        assert!(quantile(&[], 0.5).is_nan());
        assert!(quantile(&[&[][..]], 0.5).is_nan());
        assert_eq!(quantile(&[&[4.0][..]], 0.9), 4.0);
        assert_eq!(quantile(&[&[1.0][..], &[][..], &[3.0][..]], 0.5), 2.0);
    }

    #[test]
    fn empty_pieces_among_many_values() {
        let values: Vec<f64> = (0..20_000).map(|i| f64::from((i * 7919) % 20_000)).collect();
        let mut parts: Vec<&[f64]> = vec![&[]];
        parts.extend(values.chunks(3000));
        parts.push(&[]);
        assert_eq!(quantile(&parts, 0.5), sorted_quantile(&values, 0.5));
    }
}
