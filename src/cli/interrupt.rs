//! Ctrl-C and SIGTERM: the running operation is abandoned, cleanup runs, and envctl
//! exits 130.

use std::future::Future;

/// Resolves when the process receives SIGINT or SIGTERM.
pub async fn signalled() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Runs `work` unless a signal arrives first; `None` means interrupted (the work future
/// has been dropped at its last await point).
pub async fn unless_interrupted<F: Future>(work: F) -> Option<F::Output> {
    tokio::select! {
        out = work => Some(out),
        () = signalled() => None,
    }
}
