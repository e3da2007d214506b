//! The process's cancellation token: set once, when envctl is interrupted (SIGINT,
//! SIGTERM, SIGHUP). Work that can stop early (every assertion of a verify run) waits on
//! it alongside its own work, so an interrupt ends a run at once and its reports say
//! "interrupted" instead of failures made up by nodes going away under them.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use tokio::sync::Notify;

static CANCELLED: AtomicBool = AtomicBool::new(false);
static WAKE: Notify = Notify::const_new();

/// Cancels everything that waits on [`cancelled`].
pub fn cancel() {
    CANCELLED.store(true, SeqCst);
    WAKE.notify_waiters();
}

/// Whether the process has been cancelled.
pub fn is_cancelled() -> bool {
    CANCELLED.load(SeqCst)
}

/// Resolves once the process is cancelled (at once if it already is).
pub async fn cancelled() {
    loop {
        // Registered before the check, so a `cancel` between the two still wakes it.
        let woken = WAKE.notified();
        if is_cancelled() {
            return;
        }
        woken.await;
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn cancelling_wakes_waiters_and_later_waits_end_at_once() {
        assert!(!super::is_cancelled());
        let waiter = tokio::spawn(super::cancelled());
        tokio::task::yield_now().await;
        super::cancel();
        waiter.await.unwrap();
        super::cancelled().await;
        assert!(super::is_cancelled());
    }
}
