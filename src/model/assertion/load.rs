//! `[[load]]`: a capacity assertion. Requests go to an http target of the instance at
//! a fixed rate (open loop: each request is due at its time whatever the earlier ones
//! do, and its latency counts from then, so a slow service cannot hide its queue) or
//! from a fixed number of clients, for a duration; thresholds apply to the error rate
//! and latency percentiles. Bounded by count and time; targets are nodes only.

use super::pattern::Pattern;
use crate::model::duration::{HumanDuration, NonZeroDuration};
use crate::model::source::{Diagnostic, SourceFile};
use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::BTreeMap;
use std::time::Duration;

/// `[[load]]` as users write it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    pub title: Option<String>,
    /// `http://NODE:PORT/PATH`.
    pub url: Spanned<String>,
    pub method: Option<Spanned<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub request_body: Option<String>,
    /// Requests per second, sent on schedule (open loop).
    pub rate: Option<Spanned<f64>>,
    /// Clients, each sending its next request when its last one is answered.
    pub concurrency: Option<Spanned<u32>>,
    /// How long requests are sent.
    pub duration: Spanned<NonZeroDuration>,
    /// At most this many requests (default: rate × duration).
    pub requests: Option<Spanned<u64>>,
    /// The status every answer must have (default 200).
    pub status: Option<Spanned<u16>>,
    /// Patterns every answer's body must match.
    #[serde(default)]
    pub body: Vec<Spanned<String>>,
    /// Largest share of failed requests, `"1%"` or `0.01` (default 0).
    pub max_error_rate: Option<Spanned<toml::Value>>,
    /// Latency thresholds: `{ p50 = "20ms", p99 = "200ms", max = "1s" }`.
    #[serde(default)]
    pub latency: BTreeMap<String, Spanned<NonZeroDuration>>,
    /// Longest one request may take before it counts as failed (default 5s).
    pub timeout: Option<NonZeroDuration>,
}

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Requests per second, each due at `start + i / rate`.
    Rate(f64),
    /// Clients in a closed loop.
    Concurrency(u32),
}

/// A resolved `[[load]]`.
#[derive(Debug, Clone)]
pub struct LoadCheck {
    pub method: String,
    pub node: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub request_body: Option<String>,
    pub pace: Pace,
    pub duration: Duration,
    pub requests: u64,
    pub status: u16,
    pub body: Vec<Pattern>,
    /// A fraction, 0 to 1.
    pub max_error_rate: f64,
    /// `(p50|p90|p95|p99|max|mean, threshold)`, in that order.
    pub latency: Vec<(String, Duration)>,
    pub request_timeout: Duration,
}

/// Percentiles a threshold may name, in report order.
pub const FIGURES: [&str; 6] = ["p50", "p90", "p95", "p99", "max", "mean"];
/// The longest load an assertion may ask for.
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// The most requests one assertion may send.
pub const MAX_REQUESTS: u64 = 1_000_000;
/// The highest rate, and the most clients, one assertion may ask for.
pub const MAX_RATE: f64 = 10_000.0;
pub const MAX_CONCURRENCY: u32 = 1_000;
/// Longest one request may take unless `timeout` says otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolves the parts of `[[load]]` that do not depend on the environment; `target` is
/// the node and port the resolver found for the URL's host. Problems go to `errors`.
pub fn resolve(
    raw: &RawLoad,
    target: (String, u16, String),
    body: Vec<Pattern>,
    src: &SourceFile,
    errors: &mut Vec<Diagnostic>,
) -> Option<LoadCheck> {
    let before = errors.len();
    let mut error = |span: std::ops::Range<usize>, message: String| {
        errors.push(src.diagnostic(Some(span), message));
    };
    let duration = raw.duration.get_ref().get();
    if duration > MAX_DURATION {
        error(
            raw.duration.span(),
            format!(
                "a load runs at most {}; split longer soaks into several assertions",
                HumanDuration(MAX_DURATION)
            ),
        );
    }
    let pace = match (&raw.rate, &raw.concurrency) {
        (Some(r), None) => {
            let rate = *r.get_ref();
            if !(rate > 0.0 && rate <= MAX_RATE) {
                error(
                    r.span(),
                    format!(
                        "rate {rate} must be above 0 and at most {MAX_RATE} requests per second"
                    ),
                );
            }
            Pace::Rate(rate)
        }
        (None, Some(c)) => {
            let n = *c.get_ref();
            if n == 0 || n > MAX_CONCURRENCY {
                error(
                    c.span(),
                    format!("concurrency {n} must be 1 to {MAX_CONCURRENCY}"),
                );
            }
            Pace::Concurrency(n)
        }
        (Some(r), Some(_)) => {
            error(
                r.span(),
                "give `rate` (requests per second, open loop) or `concurrency` (clients), not both"
                    .into(),
            );
            Pace::Rate(1.0)
        }
        (None, None) => {
            error(
                raw.url.span(),
                "say how hard to push: `rate` (requests per second) or `concurrency` (clients)"
                    .into(),
            );
            Pace::Rate(1.0)
        }
    };
    let requests = match &raw.requests {
        Some(n) if *n.get_ref() == 0 || *n.get_ref() > MAX_REQUESTS => {
            error(n.span(), format!("requests must be 1 to {MAX_REQUESTS}"));
            0
        }
        Some(n) => *n.get_ref(),
        None => match pace {
            Pace::Rate(rate) => {
                let n = (rate * duration.as_secs_f64()).ceil() as u64;
                if n > MAX_REQUESTS {
                    error(
                        raw.duration.span(),
                        format!("rate × duration is {n} requests; at most {MAX_REQUESTS} (set `requests` or shorten it)"),
                    );
                }
                n.max(1)
            }
            Pace::Concurrency(_) => MAX_REQUESTS,
        },
    };
    let status = match &raw.status {
        Some(s) if !(100..=599).contains(s.get_ref()) => {
            error(s.span(), format!("{} is not an HTTP status", s.get_ref()));
            200
        }
        Some(s) => *s.get_ref(),
        None => 200,
    };
    let max_error_rate = match &raw.max_error_rate {
        None => 0.0,
        Some(v) => match error_rate(v.get_ref()) {
            Ok(r) => r,
            Err(e) => {
                error(v.span(), e);
                0.0
            }
        },
    };
    let mut latency = Vec::new();
    for (name, threshold) in &raw.latency {
        if FIGURES.contains(&name.as_str()) {
            latency.push((name.clone(), threshold.get_ref().get()));
        } else {
            error(
                threshold.span(),
                format!(
                    "unknown latency figure `{name}`; use {}",
                    FIGURES.join(", ")
                ),
            );
        }
    }
    latency.sort_by_key(|(n, _)| FIGURES.iter().position(|f| f == n));
    let method = match &raw.method {
        Some(m) => {
            let upper = m.get_ref().to_ascii_uppercase();
            if !["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
                .contains(&upper.as_str())
            {
                error(m.span(), format!("unknown HTTP method `{}`", m.get_ref()));
            }
            upper
        }
        None => "GET".into(),
    };
    if errors.len() > before {
        return None;
    }
    let (node, port, path) = target;
    Some(LoadCheck {
        method,
        node,
        port,
        path,
        headers: raw.headers.clone(),
        request_body: raw.request_body.clone(),
        pace,
        duration,
        requests,
        status,
        body,
        max_error_rate,
        latency,
        request_timeout: raw
            .timeout
            .map_or(DEFAULT_REQUEST_TIMEOUT, NonZeroDuration::get),
    })
}

/// `"1%"`, `"0.5%"` or a fraction such as `0.01`.
fn error_rate(value: &toml::Value) -> Result<f64, String> {
    let rate = match value {
        toml::Value::String(s) => match s.trim().strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<f64>()
                .map(|p| p / 100.0)
                .map_err(|_| format!("`{s}` is not a percentage; write e.g. \"1%\""))?,
            None => {
                return Err(format!(
                    "`{s}` needs a % sign, e.g. \"1%\", or give a fraction such as 0.01"
                ))
            }
        },
        toml::Value::Float(f) => *f,
        toml::Value::Integer(i) => *i as f64,
        other => {
            return Err(format!(
                "`{other}` is not an error rate; write e.g. \"1%\" or 0.01"
            ))
        }
    };
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!(
            "an error rate is 0% to 100%, not {}%",
            rate * 100.0
        ))
    }
}

impl LoadCheck {
    /// How long the whole load may take: sending, then the last answers.
    pub fn deadline(&self) -> Duration {
        self.duration + self.request_timeout + Duration::from_secs(1)
    }

    /// A description for titles: `50 requests/s for 5s` or `10 clients for 5s`.
    pub fn describe(&self) -> String {
        let d = HumanDuration(self.duration);
        match self.pace {
            Pace::Rate(r) => format!("{r} requests/s for {d}"),
            Pace::Concurrency(c) => format!("{c} clients for {d}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rates_are_percentages_or_fractions() {
        assert_eq!(error_rate(&toml::Value::String("1%".into())), Ok(0.01));
        assert_eq!(error_rate(&toml::Value::Float(0.05)), Ok(0.05));
        assert_eq!(error_rate(&toml::Value::Integer(0)), Ok(0.0));
        assert!(error_rate(&toml::Value::String("1".into())).is_err());
        assert!(error_rate(&toml::Value::String("150%".into())).is_err());
        assert!(error_rate(&toml::Value::Boolean(true)).is_err());
    }
}
