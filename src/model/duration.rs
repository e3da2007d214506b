//! Human durations in definitions: `"500ms"`, `"30s"`, `"2m"`, `"1h"`, or a combination
//! such as `"1m30s"`.

use serde::{de, Deserialize, Deserializer};
use std::fmt;
use std::time::Duration;

/// A duration written as text in a definition file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct HumanDuration(#[serde(serialize_with = "as_millis")] pub Duration);

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u128(d.as_millis())
}

/// The longest duration a definition may ask for; anything longer is a typo.
const MAX: Duration = Duration::from_secs(24 * 3600);

impl HumanDuration {
    /// Parses `"1m30s"`-style text.
    ///
    /// # Errors
    /// A message saying what is wrong with the text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty duration; write e.g. \"30s\", \"500ms\" or \"2m\"".into());
        }
        let mut total = Duration::ZERO;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit() && c != '.')
                .ok_or_else(|| {
                    format!("`{text}` is not a duration: it has no unit; write e.g. \"{text}s\"")
                })?;
            if digits == 0 {
                return Err(format!(
                    "`{text}` is not a duration; write e.g. \"30s\", \"500ms\" or \"2m\""
                ));
            }
            let value: f64 = rest[..digits]
                .parse()
                .map_err(|_| format!("`{text}` is not a duration"))?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = rest[..unit_len].trim();
            rest = &rest[unit_len..];
            let seconds = match unit {
                "ms" => value / 1000.0,
                "s" => value,
                "m" => value * 60.0,
                "h" => value * 3600.0,
                other => {
                    return Err(format!(
                        "`{text}` is not a duration: unknown unit `{other}`; use ms, s, m or h"
                    ))
                }
            };
            // Checked before converting: `from_secs_f64` panics on values it cannot hold.
            if !seconds.is_finite() || seconds > MAX.as_secs_f64() {
                return Err(format!("`{text}` is longer than 24h"));
            }
            total += Duration::from_secs_f64(seconds);
            if total > MAX {
                return Err(format!("`{text}` is longer than 24h"));
            }
        }
        Ok(HumanDuration(total))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"500ms\" or \"2m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                HumanDuration::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// A duration that must not be zero: a timeout or a polling interval, where zero would
/// mean "fail at once" or "poll without pause".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct NonZeroDuration(pub HumanDuration);

impl NonZeroDuration {
    /// Parses like [`HumanDuration::parse`] and refuses zero.
    ///
    /// # Errors
    /// A message saying what is wrong with the text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let d = HumanDuration::parse(text)?;
        if d.0.is_zero() {
            return Err(format!(
                "`{}` is zero; a timeout or interval must be longer, e.g. \"500ms\" or \"5s\"",
                text.trim()
            ));
        }
        Ok(NonZeroDuration(d))
    }

    /// The duration.
    pub fn get(self) -> Duration {
        self.0 .0
    }
}

impl<'de> Deserialize<'de> for NonZeroDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        NonZeroDuration::parse(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_timeouts_and_intervals_are_refused() {
        assert!(NonZeroDuration::parse("0s")
            .unwrap_err()
            .contains("is zero"));
        assert!(NonZeroDuration::parse("0ms0s")
            .unwrap_err()
            .contains("is zero"));
        assert_eq!(
            NonZeroDuration::parse("1ms").unwrap().get(),
            Duration::from_millis(1)
        );
        assert!(NonZeroDuration::parse("5 parsecs").is_err());
    }

    #[test]
    fn numbers_too_big_for_a_float_are_refused_not_a_panic() {
        // Found by fuzz_parsers: 400 digits parse as an infinite f64.
        let huge = format!("{}s", "9".repeat(400));
        assert!(HumanDuration::parse(&huge)
            .unwrap_err()
            .contains("longer than 24h"));
        assert!(HumanDuration::parse("1e400s").is_err());
    }

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(
            HumanDuration::parse("500ms").unwrap().0,
            Duration::from_millis(500)
        );
        assert_eq!(
            HumanDuration::parse("30s").unwrap().0,
            Duration::from_secs(30)
        );
        assert_eq!(
            HumanDuration::parse("1m30s").unwrap().0,
            Duration::from_secs(90)
        );
        assert_eq!(
            HumanDuration::parse("1.5s").unwrap().0,
            Duration::from_millis(1500)
        );
    }

    #[test]
    fn rejects_missing_units_unknown_units_and_absurd_values() {
        assert!(HumanDuration::parse("30").unwrap_err().contains("no unit"));
        assert!(HumanDuration::parse("5 parsecs").is_err());
        assert!(HumanDuration::parse("3d")
            .unwrap_err()
            .contains("unknown unit"));
        assert_eq!(
            HumanDuration::parse("5 s").unwrap().0,
            Duration::from_secs(5)
        );
        assert!(HumanDuration::parse("100h").unwrap_err().contains("24h"));
        assert!(HumanDuration::parse("").is_err());
    }
}
