//! Runs a set of assertions concurrently with cargo-test style output. libtest-mimic
//! drives the run and prints progress (`test web::home_page ... ok`); every outcome is
//! also recorded for the machine-readable reporters.

use super::Outcome;
use crate::backend::NodeAccess;
use crate::model::assertion::Assertion;
use std::sync::{Arc, Mutex};

/// Assertions in flight at once unless asked otherwise. Checks mostly wait (on the
/// network, on a node's exec), so many run side by side on few cores.
pub const DEFAULT_JOBS: usize = 50;

/// Choices for one verification run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Keep only assertions whose name contains one of these (all when empty).
    pub filters: Vec<String>,
    /// With `exact`, filters must equal the name.
    pub exact: bool,
    /// Assertions in flight at once.
    pub jobs: usize,
    /// Print nothing but failures and the summary.
    pub quiet: bool,
    /// `eventually` for every assertion that has none of its own.
    pub retry_timeout: Option<std::time::Duration>,
    /// Ends the run early: assertions not yet answered say "interrupted".
    pub cancel: &'static crate::cancel::Token,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            filters: Vec::new(),
            exact: false,
            jobs: DEFAULT_JOBS,
            quiet: false,
            retry_timeout: None,
            cancel: crate::cancel::process(),
        }
    }
}

/// Keeps the assertions selected by the filters.
pub fn select(assertions: Vec<Assertion>, options: &RunOptions) -> Vec<Assertion> {
    if options.filters.is_empty() {
        return assertions;
    }
    assertions
        .into_iter()
        .filter(|a| {
            options.filters.iter().any(|f| {
                if options.exact {
                    &a.name == f
                } else {
                    a.name.contains(f.as_str())
                }
            })
        })
        .collect()
}

/// Runs `assertions` (already selected) and returns their outcomes in input order.
/// Must be called outside the async runtime; it blocks until all are done.
pub fn run(
    runtime: &tokio::runtime::Handle,
    assertions: Vec<Assertion>,
    access: Arc<dyn NodeAccess>,
    options: &RunOptions,
) -> Vec<Outcome> {
    let client = super::http::check_client();
    let mut assertions = assertions;
    if let Some(window) = options.retry_timeout {
        for a in &mut assertions {
            a.eventually.get_or_insert(window);
        }
    }
    // One exec per node gathers the facts of every node assertion, before they run.
    let batches = super::batch::Batches::start(runtime, &assertions, access.clone(), options.jobs);
    let recorded: Arc<Mutex<Vec<Outcome>>> = Arc::new(Mutex::new(Vec::new()));
    let order: Vec<String> = assertions.iter().map(|a| a.name.clone()).collect();
    let cancel = options.cancel;
    let trials = assertions
        .into_iter()
        .map(|assertion| {
            let runtime = runtime.clone();
            let access = access.clone();
            let client = client.clone();
            let recorded = recorded.clone();
            let batches = batches.clone();
            if assertion.skipped {
                // goss's `skip`: reported as ignored, never run.
                let name = assertion.name.clone();
                recorded
                    .lock()
                    .expect("no panics while recording")
                    .push(Outcome {
                        name: name.clone(),
                        passed: true,
                        skipped: true,
                        message: None,
                        duration: std::time::Duration::ZERO,
                        attempts: 0,
                        start: std::time::Instant::now(),
                        load: None,
                    });
                return libtest_mimic::Trial::test(name, || Ok(())).with_ignored_flag(true);
            }
            libtest_mimic::Trial::test(assertion.name.clone(), move || {
                let start = std::time::Instant::now();
                let outcome = runtime.block_on(async {
                    tokio::select! {
                        outcome = super::run(&assertion, access.as_ref(), &client, Some(&batches)) => outcome,
                        // Not run to its end: neither passed nor failed.
                        () = cancel.cancelled() => Outcome {
                            name: assertion.name.clone(),
                            passed: true,
                            skipped: true,
                            message: Some("interrupted".into()),
                            duration: start.elapsed(),
                            attempts: 0,
                            start,
                            load: None,
                        },
                    }
                });
                let mut outcome = outcome;
                // What a node printed may hold secret values; redact before anyone sees it.
                outcome.message = outcome.message.map(|m| crate::model::secrets::redact(&m));
                let result = if outcome.passed {
                    Ok(())
                } else {
                    Err(outcome.message.clone().unwrap_or_default().into())
                };
                recorded
                    .lock()
                    .expect("no panics while recording")
                    .push(outcome);
                result
            })
        })
        .collect();
    let args = libtest_mimic::Arguments {
        test_threads: Some(options.jobs.max(1)),
        quiet: options.quiet,
        ..Default::default()
    };
    // A closed stdout makes the printer panic; every trial still runs to its end (the
    // workers are joined first) and its outcome is recorded, so the run goes on.
    let _conclusion = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        libtest_mimic::run(&args, trials)
    }));
    let mut outcomes = std::mem::take(&mut *recorded.lock().expect("no panics while recording"));
    outcomes.sort_by_key(|o| order.iter().position(|n| n == &o.name));
    outcomes
}
