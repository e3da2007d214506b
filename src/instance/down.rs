//! `down`: removes every container, network and (unless kept) volume carrying the
//! instance's labels. It trusts nothing but the labels, so it works after crashes and is
//! safe to repeat.

use super::Instance;
use crate::backend::{Backend, EngineError};
use futures_util::future::join_all;

/// What `down` removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
}

/// What `down` does with the instance's named volumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volumes {
    /// Removed with their data (the default).
    Remove,
    /// Kept for the next `up` of the instance (`down --keep-volumes`).
    Keep,
}

/// Removes the instance, and its volumes unless told to keep them.
///
/// # Errors
/// Engine failures; removal continues past individual failures and reports the first.
pub async fn down(inst: &Instance, volumes: Volumes) -> Result<Removed, EngineError> {
    let containers = inst.containers().await?;
    let results = join_all(containers.iter().map(|c| inst.backend.remove_node(&c.id))).await;
    let mut first_error = None;
    let mut removed = Removed::default();
    for r in results {
        match r {
            Ok(()) => removed.containers += 1,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match remove_networks(inst).await {
        Ok(n) => removed.networks = n,
        Err(e) => {
            first_error.get_or_insert(e);
        }
    }
    if volumes == Volumes::Remove {
        match remove_volumes(inst).await {
            Ok(n) => removed.volumes = n,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

/// Removes the instance again and again until a pass finds nothing: after an interrupt,
/// an engine request made just before it (a container being created) may still complete
/// after the first pass listed the instance.
///
/// # Errors
/// Engine failures of the last pass.
pub async fn down_until_gone(inst: &Instance) -> Result<Removed, EngineError> {
    inst.backend.settled().await;
    let mut total = Removed::default();
    for _ in 0..5 {
        let removed = down(inst, Volumes::Remove).await?;
        total.containers += removed.containers;
        total.networks += removed.networks;
        total.volumes += removed.volumes;
        if removed == Removed::default() {
            break;
        }
    }
    Ok(total)
}

/// Removes the instance's named volumes and their data.
///
/// # Errors
/// Engine failures (a volume still in use).
pub async fn remove_volumes(inst: &Instance) -> Result<usize, EngineError> {
    let volumes = inst.backend.list_volumes(&inst.id.filters()).await?;
    for (name, _) in &volumes {
        inst.backend.remove_volume(name).await?;
    }
    Ok(volumes.len())
}

/// Removes the instance's networks.
///
/// # Errors
/// Engine failures.
pub async fn remove_networks(inst: &Instance) -> Result<usize, EngineError> {
    let networks = inst.backend.list_networks(&inst.id.filters()).await?;
    for (id, _, _) in &networks {
        remove_network_when_free(inst.backend.as_ref(), id).await?;
    }
    Ok(networks.len())
}

/// Removes a network, waiting a little while containers that another process (a second
/// `down`, a `gc`) is still removing detach from it.
///
/// # Errors
/// The engine's last refusal when the network stays in use.
pub async fn remove_network_when_free(backend: &dyn Backend, id: &str) -> Result<(), EngineError> {
    use crate::wait::{until, Poll};
    use std::time::Duration;
    let last = std::sync::Mutex::new(None);
    let result = until(
        Duration::from_secs(15),
        Duration::from_millis(200),
        || async {
            match backend.remove_network(id).await {
                Ok(()) => Poll::Ready(()),
                Err(e) => {
                    let text = e.to_string();
                    let lost = e.is_lost();
                    *last.lock().expect("not poisoned") = Some(e);
                    if lost {
                        Poll::Failed(text)
                    } else {
                        Poll::Pending(text)
                    }
                }
            }
        },
    )
    .await;
    match result {
        Ok(()) => Ok(()),
        Err(why) => Err(stuck(
            last.lock()
                .expect("not poisoned")
                .take()
                .unwrap_or(EngineError::Other(why.to_string())),
        )),
    }
}

/// A network that keeps "active endpoints" once its containers are gone holds an endpoint
/// the engine failed to release; only restarting the engine clears it.
fn stuck(e: EngineError) -> EngineError {
    let text = e.to_string();
    if !text.contains("active endpoints") {
        return e;
    }
    EngineError::Other(format!(
        "{text}\n  if `docker network inspect` shows no container on it, the engine kept a stale endpoint: restart the Docker Engine, then run `envctl down` again"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_stuck_with_endpoints_says_what_clears_it() {
        let e = stuck(EngineError::Other(
            "removing network n: error while removing network: network n id 1 has active endpoints"
                .into(),
        ));
        assert!(e.to_string().contains("restart the Docker Engine"), "{e}");
        let other = stuck(EngineError::Other("permission denied".into()));
        assert_eq!(other.to_string(), "permission denied");
    }
}
