//! `[[tcp]]`: whether `node:port` accepts connections (or, with `reachable = false`,
//! that it does not).

use crate::backend::NodeAccess;
use crate::model::assertion::fact::Fact;
use crate::model::assertion::TcpCheck;
use std::time::Duration;

/// Runs one attempt of a tcp assertion.
///
/// # Errors
/// A message with what was expected and what happened.
pub async fn check(c: &TcpCheck, access: &dyn NodeAccess, timeout: Duration) -> Result<(), String> {
    let target = format!("{}:{}", c.target.node, c.target.port);
    if let Some(node) = &c.from {
        return from_node(c, node, access, timeout).await;
    }
    let reached = match access.address(&c.target.node, c.target.port).await {
        Ok(addr) => match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer".to_string()),
        },
        Err(e) => Err(e.to_string()),
    };
    match (reached, c.reachable) {
        (Ok(()), true) | (Err(_), false) => Ok(()),
        (Err(why), true) => Err(super::mismatch(
            &format!("{target} is not reachable"),
            "a connection",
            why,
        )),
        (Ok(()), false) => Err(super::mismatch(
            &format!("{target} is reachable"),
            "no connection",
            "connected",
        )),
    }
}

/// Connects from inside `node` (bash's /dev/tcp), as the node's own software would.
async fn from_node(
    c: &TcpCheck,
    node: &str,
    access: &dyn NodeAccess,
    timeout: Duration,
) -> Result<(), String> {
    let fact = Fact::Addr {
        host: c.target.node.clone(),
        port: c.target.port,
    };
    let script = super::facts::probe(&fact);
    let mut results = super::batch::gather(
        access,
        node,
        std::slice::from_ref(&script),
        timeout.mul_f64(0.8),
    )
    .await?;
    let output = results
        .remove(&script)
        .unwrap_or_else(|| Err("the probe produced no result".into()))?;
    let observed = super::facts::observe(&fact, &output)?;
    let target = format!("{}:{} from {node}", c.target.node, c.target.port);
    match (observed.present, c.reachable) {
        (true, true) | (false, false) => Ok(()),
        (false, true) => Err(super::mismatch(
            &format!("{target} is not reachable"),
            "a connection",
            "refused or unreachable",
        )),
        (true, false) => Err(super::mismatch(
            &format!("{target} is reachable"),
            "no connection",
            "connected",
        )),
    }
}
