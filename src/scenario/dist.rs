//! Per-agent parameters: a constant or a distribution sampled once per
//! agent, which is how a population becomes heterogeneous.
//!
//! In TOML a parameter is a number (`p_trade = 0.1`) or a table naming a
//! distribution (`p_trade = { dist = "uniform", low = 0.05, high = 0.15 }`).

use std::fmt;

use rand::{Rng, RngExt};
use rand_distr::{Distribution, LogNormal, Normal};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// A per-agent parameter: constant or sampled from a distribution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "lowercase", deny_unknown_fields)]
pub enum Param {
    /// Always `value`.
    Constant {
        /// The value.
        value: f64,
    },
    /// Uniform on `[low, high)`.
    Uniform {
        /// Lower bound (inclusive).
        low: f64,
        /// Upper bound (exclusive).
        high: f64,
    },
    /// Normal with mean `mean` and standard deviation `std`.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation, ≥ 0.
        std: f64,
    },
    /// Log-normal: `exp(N(mu, sigma))`.
    Lognormal {
        /// Mean of the underlying normal.
        mu: f64,
        /// Standard deviation of the underlying normal, ≥ 0.
        sigma: f64,
    },
}

/// Names accepted in `dist = "…"`.
pub const DISTRIBUTIONS: &str = "constant, uniform, normal, lognormal";

impl Param {
    /// A constant parameter.
    pub const fn constant(value: f64) -> Self {
        Param::Constant { value }
    }

    /// Checks the distribution's own parameters and that every value it can
    /// produce lies in `[lo, hi]`. Returns a message naming the problem.
    pub fn check_range(&self, lo: f64, hi: f64) -> Result<(), String> {
        let finite = |x: f64, n: &str| {
            if x.is_finite() { Ok(()) } else { Err(format!("{n} must be a finite number, got {x}")) }
        };
        let inside = |x: f64, what: &str| {
            if x >= lo && x <= hi {
                Ok(())
            } else {
                Err(format!("{what} {x} is outside the allowed range [{lo}, {hi}]"))
            }
        };
        match *self {
            Param::Constant { value } => {
                finite(value, "value")?;
                inside(value, "value")
            }
            Param::Uniform { low, high } => {
                finite(low, "low")?;
                finite(high, "high")?;
                if low > high {
                    return Err(format!("uniform needs low <= high, got low = {low}, high = {high}"));
                }
                inside(low, "low")?;
                inside(high, "high")
            }
            Param::Normal { mean, std } => {
                finite(mean, "mean")?;
                finite(std, "std")?;
                if std < 0.0 {
                    return Err(format!("std must be >= 0, got {std}"));
                }
                if lo.is_finite() || hi.is_finite() {
                    return Err(format!(
                        "a normal distribution is unbounded but this parameter must lie in [{lo}, {hi}]; use uniform or constant"
                    ));
                }
                Ok(())
            }
            Param::Lognormal { mu, sigma } => {
                finite(mu, "mu")?;
                finite(sigma, "sigma")?;
                if sigma < 0.0 {
                    return Err(format!("sigma must be >= 0, got {sigma}"));
                }
                if lo > 0.0 || hi.is_finite() {
                    return Err(format!(
                        "a lognormal distribution covers (0, inf) but this parameter must lie in [{lo}, {hi}]; use uniform or constant"
                    ));
                }
                Ok(())
            }
        }
    }

    /// The largest value it gives in practice: the bound of a constant or
    /// uniform, ten standard deviations above the mean of a normal (and
    /// of the logarithm of a lognormal), beyond which no draw of a run
    /// will ever land. What a cap on amounts is checked against.
    pub fn practical_max(&self) -> f64 {
        match *self {
            Param::Constant { value } => value,
            Param::Uniform { high, .. } => high,
            Param::Normal { mean, std } => mean + 10.0 * std,
            Param::Lognormal { mu, sigma } => (mu + 10.0 * sigma).exp(),
        }
    }

    /// The smallest value it gives in practice (see
    /// [`practical_max`](Self::practical_max)).
    pub fn practical_min(&self) -> f64 {
        match *self {
            Param::Constant { value } => value,
            Param::Uniform { low, .. } => low,
            Param::Normal { mean, std } => mean - 10.0 * std,
            Param::Lognormal { mu, sigma } => (mu - 10.0 * sigma).exp(),
        }
    }

    /// Draws one value. Call [`check_range`](Self::check_range) first:
    /// sampling assumes valid parameters.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match *self {
            Param::Constant { value } => value,
            Param::Uniform { low, high } => {
                if low == high {
                    low
                } else {
                    low + (high - low) * rng.random::<f64>()
                }
            }
            Param::Normal { mean, std } => Normal::new(mean, std).expect("checked std").sample(rng),
            Param::Lognormal { mu, sigma } => LogNormal::new(mu, sigma).expect("checked sigma").sample(rng),
        }
    }

    /// The value if constant.
    pub fn as_constant(&self) -> Option<f64> {
        match *self {
            Param::Constant { value } => Some(value),
            _ => None,
        }
    }
}

/// Deserialises a [`Param`] from a bare number or a distribution table.
pub fn deserialize_param<'de, D: Deserializer<'de>>(d: D) -> Result<Param, D::Error> {
    struct ParamVisitor;
    impl<'de> Visitor<'de> for ParamVisitor {
        type Value = Param;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a number or a table {{ dist = \"…\", … }} with dist one of {DISTRIBUTIONS}")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Param, E> {
            Ok(Param::constant(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Param, E> {
            Ok(Param::constant(v as f64))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Param, E> {
            Ok(Param::constant(v as f64))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Param, A::Error> {
            Param::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(ParamVisitor)
}

/// A [`Param`] that also accepts a bare number; use it as the field type of
/// behaviour parameters and starting balances.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct AgentParam(pub Param);

impl<'de> Deserialize<'de> for AgentParam {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_param(d).map(AgentParam)
    }
}

impl From<f64> for AgentParam {
    fn from(v: f64) -> Self {
        AgentParam(Param::constant(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn parse(s: &str) -> Result<AgentParam, toml::de::Error> {
        #[derive(Deserialize)]
        struct W {
            p: AgentParam,
        }
        toml::from_str::<W>(s).map(|w| w.p)
    }

    #[test]
    fn numbers_and_tables_parse() {
        assert_eq!(parse("p = 3").unwrap().0, Param::constant(3.0));
        assert_eq!(
            parse("p = { dist = \"uniform\", low = 1, high = 2 }").unwrap().0,
            Param::Uniform { low: 1.0, high: 2.0 }
        );
        let e = parse("p = { dist = \"gaussian\", mean = 1 }").unwrap_err().to_string();
        assert!(e.contains("normal") && e.contains("lognormal"), "{e}");
        let e = parse("p = { dist = \"uniform\", low = 1, hi = 2 }").unwrap_err().to_string();
        assert!(e.contains("hi"), "{e}");
    }

    #[test]
    fn ranges_are_enforced_on_the_support() {
        assert!(Param::constant(0.5).check_range(0.0, 1.0).is_ok());
        assert!(Param::constant(1.5).check_range(0.0, 1.0).is_err());
        assert!(Param::Uniform { low: 0.2, high: 0.1 }.check_range(0.0, 1.0).is_err());
        assert!(Param::Normal { mean: 0.5, std: 0.1 }.check_range(0.0, 1.0).is_err());
        let ln = Param::Lognormal { mu: 0.0, sigma: 1.0 };
        assert!(ln.check_range(0.0, f64::INFINITY).is_ok());
        assert!(ln.check_range(0.0, 1.0).is_err());
    }

    #[test]
    fn samples_follow_their_distribution() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
        let n = 200_000;
        let u = Param::Uniform { low: 2.0, high: 4.0 };
        let xs: Vec<f64> = (0..n).map(|_| u.sample(&mut rng)).collect();
        assert!(xs.iter().all(|&x| (2.0..4.0).contains(&x)));
        let mean = xs.iter().sum::<f64>() / n as f64;
        assert!((mean - 3.0).abs() < 0.01, "uniform mean {mean}");
        let ln = Param::Lognormal { mu: 0.0, sigma: 0.5 };
        let mean = (0..n).map(|_| ln.sample(&mut rng)).sum::<f64>() / n as f64;
        let expected = (0.5f64 * 0.5 / 2.0).exp();
        assert!((mean - expected).abs() < 0.01, "lognormal mean {mean} vs {expected}");
    }
}
