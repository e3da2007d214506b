//! Checks: runs assertions against a running instance. Each attempt has a deadline;
//! `eventually` assertions are retried with the one wait mechanism until theirs. Nodes
//! are reached only through [`NodeAccess`](crate::backend::NodeAccess).

pub mod batch;
pub mod command;
pub mod facts;
pub mod http;
pub mod latency;
pub mod load;
pub mod node;
pub mod runner;
pub mod tcp;

use crate::backend::NodeAccess;
use crate::model::assertion::{Assertion, Check};
use crate::wait::{self, Poll, WaitError};
use std::time::{Duration, Instant};

/// How often `eventually` assertions are retried.
const RETRY_INTERVAL: Duration = Duration::from_millis(250);

/// The result of one assertion.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub passed: bool,
    /// Not run (goss's `skip`); `passed` is true.
    pub skipped: bool,
    /// For failures: what was expected and what was found.
    pub message: Option<String>,
    pub duration: Duration,
    pub attempts: u32,
    /// When the assertion started.
    pub start: Instant,
    /// What a `load` assertion measured.
    pub load: Option<load::LoadFigures>,
}

/// Runs one assertion to its conclusion.
pub async fn run(
    assertion: &Assertion,
    access: &dyn NodeAccess,
    client: &reqwest::Client,
    batches: Option<&batch::Batches>,
) -> Outcome {
    let started = Instant::now();
    if let Check::Load(c) = &assertion.check {
        let (result, figures) =
            match tokio::time::timeout(assertion.timeout, load::run(c, access)).await {
                Ok(done) => done,
                Err(_) => (
                    Err(format!(
                        "the load did not finish within {}",
                        wait::human(assertion.timeout)
                    )),
                    load::LoadFigures::default(),
                ),
            };
        return Outcome {
            name: assertion.name.clone(),
            passed: result.is_ok(),
            skipped: false,
            message: result.err(),
            duration: started.elapsed(),
            attempts: 1,
            start: started,
            load: Some(figures),
        };
    }
    let mut attempts = 0;
    if assertion.skipped {
        return Outcome {
            name: assertion.name.clone(),
            passed: true,
            skipped: true,
            message: None,
            duration: started.elapsed(),
            attempts: 0,
            start: started,
            load: None,
        };
    }
    let result = match (assertion.eventually, assertion.retry) {
        (None, Some(retry)) => {
            // goss's retry_count: a fixed number of further attempts, retry_delay apart.
            let mut result = Err(String::new());
            for n in 0..=retry.count {
                if n > 0 {
                    tokio::time::sleep(retry.delay).await;
                }
                attempts += 1;
                result = attempt(assertion, access, client, batches.filter(|_| n == 0)).await;
                if result.is_ok() {
                    break;
                }
            }
            result.map_err(|why| {
                if attempts > 1 {
                    format!("{why}\n(still failing after {attempts} attempts)")
                } else {
                    why
                }
            })
        }
        (None, None) => {
            attempts = 1;
            attempt(assertion, access, client, batches).await
        }
        (Some(window), _) => {
            let outcome = wait::until(window, RETRY_INTERVAL, || {
                attempts += 1;
                // Only the first attempt reads the batch; retries look again.
                let batches = batches.filter(|_| attempts == 1);
                async move {
                    match attempt(assertion, access, client, batches).await {
                        Ok(()) => Poll::Ready(()),
                        Err(why) => Poll::Pending(why),
                    }
                }
            })
            .await;
            outcome.map_err(|e| match e {
                WaitError::TimedOut { after, last } => {
                    format!(
                        "{last}\n(still failing after {} of retries)",
                        wait::human(after)
                    )
                }
                WaitError::Failed(why) => why,
            })
        }
    };
    Outcome {
        name: assertion.name.clone(),
        passed: result.is_ok(),
        skipped: false,
        message: result.err(),
        duration: started.elapsed(),
        attempts,
        start: started,
        load: None,
    }
}

/// One attempt, cut off at the assertion's timeout.
async fn attempt(
    assertion: &Assertion,
    access: &dyn NodeAccess,
    client: &reqwest::Client,
    batches: Option<&batch::Batches>,
) -> Result<(), String> {
    let timeout = assertion.timeout;
    let run = async {
        match &assertion.check {
            Check::Http(c) => http::check(c, access, client, timeout).await,
            Check::Tcp(c) => tcp::check(c, access, timeout).await,
            Check::Command(c) => command::check(c, &assertion.name, access, timeout, batches).await,
            Check::Node(c) => node::check(c, access, timeout, batches).await,
            Check::Load(c) => load::run(c, access).await.0,
            Check::Matching(c) => matching(c),
        }
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(result) => result,
        Err(_) => Err(match &assertion.check {
            Check::Command(c) => format!(
                "`{}` on {} did not finish within {}",
                c.run.display(),
                c.node,
                wait::human(timeout)
            ),
            _ => format!("no result within {}", wait::human(timeout)),
        }),
    }
}

/// goss's `matching`: the content written in the spec against its matcher.
fn matching(c: &crate::model::assertion::MatchingCheck) -> Result<(), String> {
    match c.matcher.check(&c.content) {
        Ok(true) => Ok(()),
        Ok(false) => Err(mismatch("content does not match", &c.matcher, &c.content)),
        Err(why) => Err(mismatch(
            "content does not match",
            &c.matcher,
            format!("{} ({why})", c.content),
        )),
    }
}

/// Formats an expected-vs-actual failure.
pub fn mismatch(
    what: &str,
    expected: impl std::fmt::Display,
    actual: impl std::fmt::Display,
) -> String {
    let redact = crate::model::secrets::redact;
    format!(
        "{}\n  expected: {}\n    actual: {}",
        redact(what),
        redact(&expected.to_string()),
        redact(&actual.to_string())
    )
}

/// Shortens long output for messages, keeping the start. Secrets are redacted in the raw
/// text, before it is quoted or cut.
pub fn excerpt(text: &str) -> String {
    const MAX: usize = 600;
    let text = crate::model::secrets::redact(text);
    let t = text.trim_end();
    if t.is_empty() {
        return "(empty)".into();
    }
    if t.len() <= MAX {
        return format!("{t:?}");
    }
    let mut end = MAX;
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}… ({} bytes in all)", &t[..end], t.len())
}
