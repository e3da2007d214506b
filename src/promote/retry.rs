//! Retries with backoff for promotion steps that talk to something that can fail for a
//! moment (a key-value store, a router's reload, a load balancer's API). Each retry is
//! noted, so the history says what failed and how often before it worked (or not).

use std::future::Future;
use std::time::Duration;

/// How often and how patiently a step is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in all (at least one).
    pub attempts: u32,
    /// Pause after the first failure; doubled after each further one.
    pub first: Duration,
}

/// What promotion steps use: three attempts, 250 ms then 500 ms apart.
pub const STEP: Backoff = Backoff {
    attempts: 3,
    first: Duration::from_millis(250),
};

/// Runs `op` until it succeeds or `policy` is spent; every failure that is retried is
/// pushed to `notes` as `WHAT failed (attempt N of M): ERROR; retrying in D`.
///
/// # Errors
/// The last failure.
pub async fn retry<T, E, F, Fut>(
    what: &str,
    policy: Backoff,
    notes: &mut Vec<String>,
    mut op: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let attempts = policy.attempts.max(1);
    let mut pause = policy.first;
    for attempt in 1.. {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < attempts => {
                notes.push(format!(
                    "{what} failed (attempt {attempt} of {attempts}): {e}; retrying in {}",
                    crate::wait::human(pause)
                ));
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop returns on the last attempt")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_with_growing_pauses_and_noted() {
        let calls = Cell::new(0);
        let mut notes = Vec::new();
        let started = tokio::time::Instant::now();
        let out: Result<u32, String> = retry("writing the key", STEP, &mut notes, || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 3 {
                    Err(format!("etcd unavailable ({n})"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(out, Ok(3));
        assert_eq!(started.elapsed(), Duration::from_millis(750));
        assert_eq!(
            notes,
            [
                "writing the key failed (attempt 1 of 3): etcd unavailable (1); retrying in 250ms",
                "writing the key failed (attempt 2 of 3): etcd unavailable (2); retrying in 500ms",
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_failure_is_returned_once_attempts_are_spent() {
        let mut notes = Vec::new();
        let out: Result<(), String> = retry("reloading", STEP, &mut notes, || async {
            Err("no".to_string())
        })
        .await;
        assert_eq!(out, Err("no".into()));
        assert_eq!(notes.len(), 2);
    }
}
