//! Events: what happens during a run, emitted by the instance lifecycle and consumed by
//! reporters (live progress now; timelines and evidence later). Emitters never format
//! output themselves.

use std::time::Duration;

/// Something that happened to a node, or to the run as a whole.
#[derive(Debug, Clone)]
pub enum Event {
    /// A node moved to a new phase.
    Node { node: String, phase: Phase },
    /// A free-form note for the user (e.g. "building debian:bookworm").
    Note(String),
}

/// Phases of a node during `up` and `down`.
#[derive(Debug, Clone)]
pub enum Phase {
    /// Resolving or building the base image.
    Image,
    /// Running provisioning step `index` of `total`.
    Provisioning {
        index: usize,
        total: usize,
        label: String,
    },
    /// The provisioned image was found in the cache; no provisioning ran.
    Cached,
    /// Provisioning starts from the snapshot after step `after`, at the step labelled
    /// `next`: steps 1..=after are not run again.
    Resumed {
        after: usize,
        next: String,
        incremental: bool,
    },
    /// Creating and starting containers.
    Starting,
    /// Waiting for the health check.
    WaitingHealthy,
    /// Healthy, after this long in total.
    Ready { elapsed: Duration },
    /// Already running with the same definition; nothing done.
    Unchanged,
    /// Removed.
    Removed,
    /// Failed; the run's error says why.
    Failed,
}

/// Receives events. Implementations must be cheap and never block the run.
pub trait Observer: Send + Sync {
    fn event(&self, event: &Event);
}

/// Ignores every event.
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _: &Event) {}
}

/// Records every event with the time it happened (for timelines and evidence), and
/// passes it on to another observer.
pub struct Recorder<'a> {
    inner: &'a dyn Observer,
    events: std::sync::Mutex<Vec<(std::time::Instant, Event)>>,
}

impl<'a> Recorder<'a> {
    pub fn new(inner: &'a dyn Observer) -> Recorder<'a> {
        Recorder {
            inner,
            events: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The events so far, oldest first.
    pub fn take(&self) -> Vec<(std::time::Instant, Event)> {
        std::mem::take(&mut *self.events.lock().expect("recorder lock"))
    }
}

impl Observer for Recorder<'_> {
    fn event(&self, event: &Event) {
        self.events
            .lock()
            .expect("recorder lock")
            .push((std::time::Instant::now(), event.clone()));
        self.inner.event(event);
    }
}
