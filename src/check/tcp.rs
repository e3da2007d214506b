//! `[[tcp]]`: whether `node:port` accepts connections (or, with `reachable = false`,
//! that it does not).

use crate::engine::NodeAccess;
use crate::model::spec::TcpCheck;
use std::time::Duration;

/// Runs one attempt of a tcp assertion.
///
/// # Errors
/// A message with what was expected and what happened.
pub async fn check(c: &TcpCheck, access: &dyn NodeAccess, timeout: Duration) -> Result<(), String> {
    let target = format!("{}:{}", c.target.node, c.target.port);
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
