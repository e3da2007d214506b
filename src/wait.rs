//! The one way envctl waits: poll a condition every `interval` until it holds, fails for
//! good, or the deadline passes. Health checks, `eventually` specs and readiness all use it.
//! The first polls come sooner (25 ms, then doubling up to `interval`), so a service that
//! is ready a moment after it starts is seen at once rather than one interval later.

use std::future::Future;
use std::time::{Duration, Instant};

/// One observation of a condition.
#[derive(Debug)]
pub enum Poll<T> {
    /// The condition holds.
    Ready(T),
    /// Not yet; the text says what was observed.
    Pending(String),
    /// It never will (e.g. the container exited); stop waiting.
    Failed(String),
}

/// Why waiting ended without the condition holding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    #[error("not ready after {}: {last}", crate::wait::human(*.after))]
    TimedOut { after: Duration, last: String },
    #[error("{0}")]
    Failed(String),
}

/// The first pause between polls; each later one doubles, up to the interval.
pub const FIRST_PAUSE: Duration = Duration::from_millis(25);

/// Polls `condition` until it is ready, failed, or `timeout` has passed. Each attempt is
/// itself cut off at the deadline, so a hanging attempt cannot hold the caller. Pauses
/// start at [`FIRST_PAUSE`] and double until they reach `interval`.
///
/// # Errors
/// [`WaitError::TimedOut`] with the last observation, or [`WaitError::Failed`].
pub async fn until<T, F, Fut>(
    timeout: Duration,
    interval: Duration,
    mut condition: F,
) -> Result<T, WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Poll<T>>,
{
    let start = Instant::now();
    let deadline = start + timeout;
    let mut last = String::from("no attempt finished");
    let mut pause = FIRST_PAUSE.min(interval);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, condition()).await {
            Ok(Poll::Ready(v)) => return Ok(v),
            Ok(Poll::Failed(why)) => return Err(WaitError::Failed(why)),
            Ok(Poll::Pending(what)) => last = what,
            Err(_) => {
                return Err(WaitError::TimedOut {
                    after: timeout,
                    last: format!("{last} (last attempt still running at the deadline)"),
                })
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(WaitError::TimedOut {
                after: timeout,
                last,
            });
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(interval);
    }
}

/// `1.5s`, `250ms`, `2m3s`: durations for messages.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        let s = d.as_secs_f64();
        if (s - s.round()).abs() < 0.05 {
            format!("{}s", s.round())
        } else {
            format!("{s:.1}s")
        }
    } else {
        format!("{}m{}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn returns_when_ready() {
        let tries = AtomicU32::new(0);
        let v = until(
            Duration::from_secs(5),
            Duration::from_millis(100),
            || async {
                if tries.fetch_add(1, Ordering::SeqCst) >= 3 {
                    Poll::Ready(42)
                } else {
                    Poll::Pending("not yet".into())
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(v, 42);
        assert_eq!(tries.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn first_polls_come_sooner_then_every_interval() {
        let start = tokio::time::Instant::now();
        let seen = std::sync::Mutex::new(Vec::new());
        let _ = until(
            Duration::from_secs(1),
            Duration::from_millis(200),
            || async {
                seen.lock().unwrap().push(start.elapsed().as_millis());
                Poll::<()>::Pending("not yet".into())
            },
        )
        .await;
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen[..7], [0, 25, 75, 175, 375, 575, 775]);
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_with_last_observation() {
        let err = until(
            Duration::from_secs(1),
            Duration::from_millis(100),
            || async { Poll::<()>::Pending("connection refused".into()) },
        )
        .await
        .unwrap_err();
        match err {
            WaitError::TimedOut { last, .. } => assert_eq!(last, "connection refused"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_attempt_is_cut_at_the_deadline() {
        let err = until(
            Duration::from_secs(1),
            Duration::from_millis(100),
            || async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Poll::<()>::Ready(())
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(err, WaitError::TimedOut { .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_a_fatal_observation() {
        let err = until(
            Duration::from_secs(60),
            Duration::from_millis(100),
            || async { Poll::<()>::Failed("container exited with 1".into()) },
        )
        .await
        .unwrap_err();
        assert_eq!(err, WaitError::Failed("container exited with 1".into()));
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_secs(30)), "30s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_secs(125)), "2m5s");
    }
}
