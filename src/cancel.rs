//! The process's cancellation token: set once, when envctl is interrupted (SIGINT,
//! SIGTERM, SIGHUP). Work that can stop early (every assertion of a verify run) waits on
//! it alongside its own work, so an interrupt ends a run at once and its reports say
//! "interrupted" instead of failures made up by nodes going away under them.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use tokio::sync::Notify;

/// A flag set once, with a wake-up for whoever waits on it. The process has one
/// ([`process`]); a test that cancels uses its own, so the rest of its binary runs on.
#[derive(Debug)]
pub struct Token {
    cancelled: AtomicBool,
    wake: Notify,
}

impl Token {
    pub const fn new() -> Token {
        Token {
            cancelled: AtomicBool::new(false),
            wake: Notify::const_new(),
        }
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, SeqCst);
        self.wake.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(SeqCst)
    }

    /// Resolves once cancelled (at once if it already is).
    pub async fn cancelled(&self) {
        loop {
            // Registered before the check, so a `cancel` between the two still wakes it.
            let woken = self.wake.notified();
            if self.is_cancelled() {
                return;
            }
            woken.await;
        }
    }
}

impl Default for Token {
    fn default() -> Token {
        Token::new()
    }
}

static PROCESS: Token = Token::new();

/// The process's token, which a signal cancels.
pub fn process() -> &'static Token {
    &PROCESS
}

/// Cancels everything that waits on [`cancelled`].
pub fn cancel() {
    PROCESS.cancel();
}

/// Whether the process has been cancelled.
pub fn is_cancelled() -> bool {
    PROCESS.is_cancelled()
}

/// Resolves once the process is cancelled (at once if it already is).
pub async fn cancelled() {
    PROCESS.cancelled().await;
}

#[cfg(test)]
mod tests {
    use super::Token;

    // A token of its own: cancelling the process's would cut short every other test
    // of this binary that runs assertions.
    static TOKEN: Token = Token::new();

    #[tokio::test]
    async fn cancelling_wakes_waiters_and_later_waits_end_at_once() {
        assert!(!TOKEN.is_cancelled());
        let waiter = tokio::spawn(TOKEN.cancelled());
        tokio::task::yield_now().await;
        TOKEN.cancel();
        waiter.await.unwrap();
        TOKEN.cancelled().await;
        assert!(TOKEN.is_cancelled());
        assert!(!super::is_cancelled(), "the process's token is untouched");
    }
}
