//! Node facts (`file`, `package`, `service`, `user`, `port`...): one attempt reads the
//! node's batch when there is one, and probes on its own otherwise.

use super::batch::{self, Batches};
use super::facts;
use crate::backend::NodeAccess;
use crate::model::assertion::fact::NodeCheck;
use std::time::Duration;

/// Runs one attempt of a node-fact assertion.
///
/// # Errors
/// A message with what was expected and what the node has.
pub async fn check(
    c: &NodeCheck,
    access: &dyn NodeAccess,
    timeout: Duration,
    batches: Option<&Batches>,
) -> Result<(), String> {
    let from_batch = match batches {
        Some(b) => b.result(&c.node, &c.fact).await,
        None => None,
    };
    let output = match from_batch {
        Some(r) => r,
        None => {
            let script = facts::probe(&c.fact);
            let mut results = batch::gather(
                access,
                &c.node,
                std::slice::from_ref(&script),
                timeout.mul_f64(0.8),
            )
            .await?;
            results
                .remove(&script)
                .unwrap_or_else(|| Err("the probe produced no result".into()))
        }
    }?;
    let observed = facts::observe(&c.fact, &output)?;
    facts::evaluate(c, &observed)
}
