//! Watches a running instance while specs run: a node container that stops, or an
//! engine that goes away, is a fault (exit 3), not a list of failing specs.

use super::Instance;
use crate::backend::labels::{self, ROLE_NODE};
use crate::backend::EngineError;
use crate::wait::{self, Poll};
use std::time::Duration;

/// Why the instance cannot be verified any more.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    #[error("node `{replica}` stopped while it was being verified ({state}){}", tail(.log_tail))]
    NodeStopped {
        replica: String,
        state: String,
        log_tail: String,
    },
    #[error(transparent)]
    Engine(EngineError),
}

impl Fault {
    /// Whether the engine is gone (so cleanup cannot reach it).
    pub fn engine_lost(&self) -> bool {
        matches!(self, Fault::Engine(e) if e.is_lost())
    }
}

fn tail(text: &str) -> String {
    if text.trim().is_empty() {
        "\n  (the container printed nothing)".into()
    } else {
        format!(
            "\n  last lines of its output:\n{}",
            text.lines()
                .map(|l| format!("    | {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    }
}

/// How often the instance is looked at.
const INTERVAL: Duration = Duration::from_millis(500);

/// How long the engine may take to list the instance's containers before the run is
/// ended as an engine fault (a frozen engine answers nothing, ever).
pub const ENGINE_SILENCE: Duration = Duration::from_secs(30);

/// Resolves with the first fault seen; runs until dropped otherwise. Only nodes running
/// when watching starts count: a node stopped on purpose (the idle colour of a promoted
/// service) is not a fault.
pub async fn first_fault(inst: &Instance) -> Fault {
    let watched: std::sync::Mutex<Option<Vec<String>>> = std::sync::Mutex::new(None);
    let result = wait::until(Duration::from_secs(365 * 24 * 3600), INTERVAL, || async {
        let listed = tokio::time::timeout(ENGINE_SILENCE, inst.containers()).await;
        let Ok(listed) = listed else {
            return Poll::Ready(Fault::Engine(EngineError::Lost {
                context: "watching the instance".into(),
                reason: format!(
                    "it accepts connections but has not answered for {}s",
                    ENGINE_SILENCE.as_secs()
                ),
            }));
        };
        let containers = match listed {
            Ok(c) => c,
            Err(e) if e.is_lost() => return Poll::Ready(Fault::Engine(e)),
            // A refused request is not a fault of the instance; look again.
            Err(e) => return Poll::Pending(e.to_string()),
        };
        let running: Vec<String> = containers
            .iter()
            .filter(|c| c.label(labels::ROLE) == Some(ROLE_NODE) && c.running)
            .map(|c| c.id.clone())
            .collect();
        let watched = watched
            .lock()
            .expect("not poisoned")
            .get_or_insert(running)
            .clone();
        let stopped = containers
            .iter()
            .find(|c| watched.contains(&c.id) && !c.running);
        match stopped {
            None => Poll::Pending("every node runs".into()),
            Some(c) => Poll::Ready(Fault::NodeStopped {
                replica: c.label(labels::REPLICA).unwrap_or(&c.name).to_string(),
                state: c.status.clone(),
                log_tail: inst.backend.log_tail(&c.id, 15).await,
            }),
        }
    })
    .await;
    match result {
        Ok(fault) => fault,
        Err(e) => Fault::Engine(EngineError::Other(e.to_string())),
    }
}
