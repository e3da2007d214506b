//! Ctrl-C, SIGTERM and SIGHUP (a closed terminal or CI session): the running operation is
//! abandoned, cleanup runs, and envctl exits 130.

use std::future::Future;

/// The longest cleanup after a signal: an engine that stops answering must not keep an
/// interrupted envctl alive.
pub const CLEANUP: std::time::Duration = std::time::Duration::from_secs(10);

/// Resolves when the process receives SIGINT, SIGTERM or SIGHUP.
pub async fn signalled() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hangup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        crate::cancel::cancel();
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = hangup.recv() => {}
    }
    crate::cancel::cancel();
}

/// Runs `work` unless a signal arrives first; `None` means interrupted (the work future
/// has been dropped at its last await point).
pub async fn unless_interrupted<F: Future>(work: F) -> Option<F::Output> {
    tokio::select! {
        out = work => Some(out),
        () = signalled() => None,
    }
}
