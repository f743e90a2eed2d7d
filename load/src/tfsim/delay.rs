//! Simulated apply / destroy durations.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::StdRng};

/// How long a simulated terraform run takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delay {
    /// Always the same duration.
    Fixed(Duration),
    /// Uniformly distributed between the two bounds (inclusive, order-insensitive).
    Uniform(Duration, Duration),
    /// Log-normal with the given median and shape `sigma` (standard deviation of the underlying normal).
    LogNormal {
        /// Median duration.
        median: Duration,
        /// Shape parameter; 0 makes the delay constant.
        sigma: f64,
    },
}

impl Default for Delay {
    fn default() -> Self {
        Delay::Uniform(Duration::from_millis(200), Duration::from_secs(1))
    }
}

/// Error parsing a [`Delay`] or a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DelayParseError {
    /// The duration text is not a number followed by a unit (ms, s, m, h).
    #[error("invalid duration {0:?}: expected e.g. 500ms, 2s, 1.5m, 1h")]
    Duration(String),
    /// The delay text does not match any supported form.
    #[error("invalid delay {0:?}: expected DURATION, uniform:MIN-MAX or lognormal:MEDIAN,SIGMA")]
    Delay(String),
}

impl Delay {
    /// Multiplies every duration of this delay by `factor` (negative or non-finite factors give zero).
    pub fn scale(&self, factor: f64) -> Delay {
        let f = |d: Duration| scale_duration(d, factor);
        match *self {
            Delay::Fixed(d) => Delay::Fixed(f(d)),
            Delay::Uniform(a, b) => Delay::Uniform(f(a), f(b)),
            Delay::LogNormal { median, sigma } => Delay::LogNormal {
                median: f(median),
                sigma,
            },
        }
    }

    /// Draws one duration using a generator seeded by `seed`; the same seed gives the same duration.
    pub fn sample(&self, seed: u64) -> Duration {
        let mut rng = StdRng::seed_from_u64(seed);
        match *self {
            Delay::Fixed(d) => d,
            Delay::Uniform(a, b) => {
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                let span = hi.saturating_sub(lo).as_nanos();
                if span == 0 {
                    return lo;
                }
                let span = u64::try_from(span).unwrap_or(u64::MAX);
                lo.saturating_add(Duration::from_nanos(rng.random_range(0..=span)))
            }
            Delay::LogNormal { median, sigma } => {
                if !sigma.is_finite() || sigma <= 0.0 {
                    return median;
                }
                // Box-Muller transform for one standard normal sample.
                let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
                let u2: f64 = rng.random::<f64>();
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                scale_duration(median, (sigma * z).exp())
            }
        }
    }

    /// The median duration, used for display and for sizing.
    pub fn median(&self) -> Duration {
        match *self {
            Delay::Fixed(d) => d,
            Delay::Uniform(a, b) => (a + b) / 2,
            Delay::LogNormal { median, .. } => median,
        }
    }
}

fn scale_duration(d: Duration, factor: f64) -> Duration {
    if !factor.is_finite() || factor <= 0.0 {
        return Duration::ZERO;
    }
    let secs = d.as_secs_f64() * factor;
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}

/// Parses `500ms`, `2s`, `1.5m`, `1h` (a bare number means seconds).
pub fn parse_duration(text: &str) -> Result<Duration, DelayParseError> {
    let t = text.trim();
    let err = || DelayParseError::Duration(text.to_string());
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| err())?;
    let secs = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(err()),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| err())
}

impl FromStr for Delay {
    type Err = DelayParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let bad = || DelayParseError::Delay(s.to_string());
        if let Some(rest) = t.strip_prefix("uniform:") {
            let (a, b) = rest.split_once('-').ok_or_else(bad)?;
            return Ok(Delay::Uniform(parse_duration(a)?, parse_duration(b)?));
        }
        if let Some(rest) = t.strip_prefix("lognormal:") {
            let (m, sigma) = rest.split_once(',').ok_or_else(bad)?;
            let sigma: f64 = sigma.trim().parse().map_err(|_| bad())?;
            if !sigma.is_finite() || sigma < 0.0 {
                return Err(bad());
            }
            return Ok(Delay::LogNormal {
                median: parse_duration(m)?,
                sigma,
            });
        }
        if let Some(rest) = t.strip_prefix("fixed:") {
            return Ok(Delay::Fixed(parse_duration(rest)?));
        }
        parse_duration(t).map(Delay::Fixed).map_err(|_| bad())
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delay::Fixed(d) => write!(f, "{}ms", d.as_millis()),
            Delay::Uniform(a, b) => write!(f, "uniform:{}ms-{}ms", a.as_millis(), b.as_millis()),
            Delay::LogNormal { median, sigma } => {
                write!(f, "lognormal:{}ms,{sigma}", median.as_millis())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        assert_eq!(
            "2s".parse::<Delay>(),
            Ok(Delay::Fixed(Duration::from_secs(2)))
        );
        assert_eq!(
            "uniform:1s-3s".parse::<Delay>(),
            Ok(Delay::Uniform(
                Duration::from_secs(1),
                Duration::from_secs(3)
            ))
        );
        assert_eq!(
            "lognormal:2s,0.5".parse::<Delay>(),
            Ok(Delay::LogNormal {
                median: Duration::from_secs(2),
                sigma: 0.5
            })
        );
        assert_eq!(
            "250ms".parse::<Delay>(),
            Ok(Delay::Fixed(Duration::from_millis(250)))
        );
        assert!("uniform:1s".parse::<Delay>().is_err());
        assert!("soon".parse::<Delay>().is_err());
        assert!("lognormal:1s,-1".parse::<Delay>().is_err());
    }

    #[test]
    fn sample_is_deterministic_and_bounded() {
        let d = Delay::Uniform(Duration::from_millis(100), Duration::from_millis(200));
        for seed in 0..100 {
            let s = d.sample(seed);
            assert_eq!(s, d.sample(seed));
            assert!(s >= Duration::from_millis(100) && s <= Duration::from_millis(200));
        }
        let l = Delay::LogNormal {
            median: Duration::from_secs(1),
            sigma: 0.5,
        };
        assert_eq!(l.sample(7), l.sample(7));
    }

    #[test]
    fn scales() {
        assert_eq!(
            Delay::Fixed(Duration::from_secs(2)).scale(0.5),
            Delay::Fixed(Duration::from_secs(1))
        );
        assert_eq!(
            Delay::Fixed(Duration::from_secs(2)).scale(-1.0),
            Delay::Fixed(Duration::ZERO)
        );
    }
}
