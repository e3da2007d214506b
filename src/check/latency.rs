//! Latency figures: percentiles of a set of request latencies (nearest-rank, as load
//! tools report them) and the per-request samples that reports plot over time.

use std::time::Duration;

/// Percentiles of one set of latencies, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Percentiles {
    /// The figures of `latencies`; all zero when there are none.
    pub fn of(latencies: &[Duration]) -> Percentiles {
        if latencies.is_empty() {
            return Percentiles::default();
        }
        let mut sorted: Vec<Duration> = latencies.to_vec();
        sorted.sort_unstable();
        let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
        let rank = |p: f64| {
            // Nearest rank: the smallest value with at least p% of the set at or below it.
            let n = sorted.len();
            let i = ((p / 100.0) * n as f64).ceil() as usize;
            ms(sorted[i.clamp(1, n) - 1])
        };
        let total: Duration = sorted.iter().sum();
        Percentiles {
            count: sorted.len() as u64,
            p50_ms: rank(50.0),
            p90_ms: rank(90.0),
            p95_ms: rank(95.0),
            p99_ms: rank(99.0),
            max_ms: ms(*sorted.last().expect("not empty")),
            mean_ms: ms(total / sorted.len() as u32),
        }
    }

    /// The figure named `p50`, `p90`, `p95`, `p99`, `max` or `mean`.
    pub fn get(&self, name: &str) -> Option<f64> {
        Some(match name {
            "p50" => self.p50_ms,
            "p90" => self.p90_ms,
            "p95" => self.p95_ms,
            "p99" => self.p99_ms,
            "max" => self.max_ms,
            "mean" => self.mean_ms,
            _ => return None,
        })
    }

    /// `p50 1.2 ms, p90 ..., max ...` for messages and text reports.
    pub fn describe(&self) -> String {
        format!(
            "p50 {} ms, p90 {} ms, p95 {} ms, p99 {} ms, max {} ms",
            self.p50_ms, self.p90_ms, self.p95_ms, self.p99_ms, self.max_ms
        )
    }
}

/// One request, for plots: when it was due (from the start of the run), how long its
/// answer took, whether it counted as a success, and which series it belongs to (a
/// colour, or empty).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    pub at_ms: f64,
    pub latency_ms: f64,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub series: String,
}

/// Samples kept for a plot; beyond this, every other one is dropped so long runs stay
/// drawable and reports small.
pub const MAX_SAMPLES: usize = 4000;

/// Keeps `samples` under [`MAX_SAMPLES`] by thinning evenly (failures are always kept).
pub fn thin(samples: Vec<Sample>) -> Vec<Sample> {
    if samples.len() <= MAX_SAMPLES {
        return samples;
    }
    let step = samples.len().div_ceil(MAX_SAMPLES);
    samples
        .into_iter()
        .enumerate()
        .filter(|(i, s)| i % step == 0 || !s.ok)
        .map(|(_, s)| s)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|m| Duration::from_millis(*m)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of(&ms(&(1..=100).collect::<Vec<_>>()));
        assert_eq!(p.count, 100);
        assert_eq!(
            (p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms),
            (50.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(p.mean_ms, 50.5);
        // One slow request in ten shows in p90 and above, not in the median.
        let p = Percentiles::of(&ms(&[1, 1, 1, 1, 1, 1, 1, 1, 1, 500]));
        assert_eq!((p.p50_ms, p.p90_ms, p.p95_ms), (1.0, 1.0, 500.0));
        assert_eq!(Percentiles::of(&[]), Percentiles::default());
        assert_eq!(p.get("p95"), Some(500.0));
        assert_eq!(p.get("p42"), None);
    }

    #[test]
    fn thinning_keeps_failures_and_bounds_the_count() {
        let samples: Vec<Sample> = (0..10_000)
            .map(|i| Sample {
                at_ms: i as f64,
                latency_ms: 1.0,
                ok: i != 7777,
                series: String::new(),
            })
            .collect();
        let kept = thin(samples);
        assert!(kept.len() <= MAX_SAMPLES + 1, "{}", kept.len());
        assert!(kept.iter().any(|s| !s.ok));
    }
}
