//! Colour nodes: started with a release (provisioned image from the cache when only
//! variables change), started again as they were, or stopped (kept for rollback).

use super::release::Release;
use super::PromoteError;

use crate::backend::node::NodeInfo;
use crate::backend::{labels, EngineError};
use crate::events::{Event, Observer};
use crate::instance::up::{self, UpOptions};
use crate::instance::{health, Instance};
use crate::model::Node;

/// Seconds a colour gets to finish its requests when stopped.
const STOP_GRACE_SECS: i32 = 10;

/// The node's containers (a colour node has one).
///
/// # Errors
/// Engine failures.
pub async fn containers(inst: &Instance, node: &str) -> Result<Vec<NodeInfo>, EngineError> {
    Ok(inst
        .containers()
        .await?
        .into_iter()
        .filter(|c| {
            c.label(labels::ROLE) == Some(labels::ROLE_NODE) && c.label(labels::NODE) == Some(node)
        })
        .collect())
}

/// Replaces the colour's container with one running `release`, and waits until healthy.
/// Returns the container and its image.
///
/// # Errors
/// [`PromoteError`] when the image, provisioning, start or health check fails.
pub async fn start_release(
    inst: &Instance,
    node: &Node,
    release: &Release,
    observer: &dyn Observer,
) -> Result<(NodeInfo, String), PromoteError> {
    let (image_node, run_node) = release.apply(node);
    let note = |m: &str| observer.event(&Event::Note(m.to_string()));
    let base = inst
        .backend
        .prepare_image(&inst.root, &image_node.image, &note)
        .await?;
    for c in containers(inst, &node.name).await? {
        inst.backend.remove_node(&c.id).await?;
    }
    let prepared = up::prepare(inst, &image_node, base, observer, &UpOptions::default())
        .await?
        .ok_or_else(|| PromoteError::Other(format!("node `{}`: nothing to start", node.name)))?;
    let client = crate::check::http::client();
    up::start_node(inst, &run_node, Some(&prepared), observer, &client).await?;
    let image = prepared.image.clone();
    let c = running(inst, &node.name).await?;
    Ok((c, image))
}

/// Starts the colour's stopped container again (the release it ran before) and waits
/// until healthy; a running one is left as it is. `None` when it has no container.
///
/// # Errors
/// [`PromoteError`] when the start or health check fails.
pub async fn start_again(inst: &Instance, node: &Node) -> Result<Option<NodeInfo>, PromoteError> {
    let Some(c) = containers(inst, &node.name).await?.into_iter().next() else {
        return Ok(None);
    };
    if c.running {
        return Ok(Some(c));
    }
    inst.backend.start_node(&c.id, &c.name).await?;
    let c = running(inst, &node.name).await?;
    let client = crate::check::http::client();
    health::wait_ready(
        inst.backend.as_ref(),
        &inst.id.network(),
        &node.name,
        &c,
        node.health.as_ref(),
        &client,
    )
    .await
    .map_err(|e| PromoteError::Up(up::UpError::Health(e)))?;
    Ok(Some(c))
}

/// Stops the colour's containers; they stay for a rollback.
///
/// # Errors
/// Engine failures.
pub async fn stop(inst: &Instance, node: &str) -> Result<(), EngineError> {
    for c in containers(inst, node).await? {
        inst.backend.stop_node(&c.id, STOP_GRACE_SECS).await?;
    }
    Ok(())
}

async fn running(inst: &Instance, node: &str) -> Result<NodeInfo, EngineError> {
    containers(inst, node)
        .await?
        .into_iter()
        .find(|c| c.running)
        .ok_or_else(|| EngineError::NodeMissing {
            node: node.to_string(),
            hint: " (its container stopped right after it started)".into(),
        })
}
