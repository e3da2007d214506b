//! `[[tcp]]` and goss `addr`: whether `node:port` accepts connections (or, with
//! `reachable = false`, that it does not). Through a published port the engine's proxy
//! accepts every connection, even when nothing listens in the node; so a connection
//! there counts only when the node itself has a socket listening on that port on an
//! address the proxy can reach (not loopback).

use super::facts;
use crate::backend::NodeAccess;
use crate::model::assertion::fact::{Fact, Proto};
use crate::model::assertion::TcpCheck;
use std::net::SocketAddr;
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
        Ok(addr) => connect(c, addr, access, timeout).await,
        Err(e) => Err(Refused::Unknown(e.to_string())),
    };
    match (reached, c.reachable) {
        (Ok(_), true) | (Err(Refused::Refused(_)), false) => Ok(()),
        // Not knowing is no proof of either answer.
        (Err(Refused::Unknown(why)), _) => Err(format!(
            "whether {target} accepts connections is unknown: {why}"
        )),
        (Err(Refused::Refused(why)), true) => Err(super::mismatch(
            &format!("{target} is not reachable"),
            "a connection",
            why,
        )),
        (Ok(addr), false) => Err(super::mismatch(
            &format!("{target} is reachable"),
            "no connection",
            format!("connected to {addr}"),
        )),
    }
}

/// Why no connection counts.
enum Refused {
    /// Nothing accepted it.
    Refused(String),
    /// Whether the node accepts could not be learned (the node could not be asked).
    Unknown(String),
}

/// Connects to `addr`; through a port published on the host's loopback, the node must
/// also be listening on the port itself.
async fn connect(
    c: &TcpCheck,
    addr: SocketAddr,
    access: &dyn NodeAccess,
    timeout: Duration,
) -> Result<SocketAddr, Refused> {
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(Refused::Refused(format!("{addr}: {e}"))),
        Err(_) => return Err(Refused::Refused(format!("{addr}: no answer"))),
    }
    if !addr.ip().is_loopback() {
        return Ok(addr);
    }
    let port = c.target.port;
    let listening = listening_in(access, &c.target.node, port, timeout.mul_f64(0.8))
        .await
        .map_err(|why| {
            Refused::Unknown(format!(
                "{addr} (published) accepted, but {} could not be asked whether it listens on port {port}: {why}",
                c.target.node
            ))
        })?;
    if listening.iter().any(|ip| !is_loopback(ip)) {
        Ok(addr)
    } else if listening.is_empty() {
        Err(Refused::Refused(format!(
            "{addr} is published, but nothing in {} listens on port {port} (the engine's proxy accepted the connection for it)",
            c.target.node
        )))
    } else {
        Err(Refused::Refused(format!(
            "{addr} is published, but {} listens on port {port} only on {} (loopback), which the published port cannot reach",
            c.target.node,
            listening.join(", ")
        )))
    }
}

fn is_loopback(ip: &str) -> bool {
    ip.parse::<std::net::IpAddr>()
        .is_ok_and(|a| a.is_loopback() || a.to_string() == "::ffff:127.0.0.1")
        || ip.starts_with("::ffff:127.")
}

/// Local addresses on which something in `node` listens on tcp `port`.
///
/// # Errors
/// The node could not be asked.
pub async fn listening_in(
    access: &dyn NodeAccess,
    node: &str,
    port: u16,
    timeout: Duration,
) -> Result<Vec<String>, String> {
    let fact = Fact::Port {
        proto: Proto::Tcp,
        port,
    };
    let script = facts::probe(&fact);
    let mut results =
        super::batch::gather(access, node, std::slice::from_ref(&script), timeout).await?;
    let output = results
        .remove(&script)
        .unwrap_or_else(|| Err("the probe produced no result".into()))?;
    Ok(facts::listening(&output, Proto::Tcp, port))
}

/// Connects from inside `node` (bash's /dev/tcp, or nc for a local address), as the
/// node's own software would.
async fn from_node(
    c: &TcpCheck,
    node: &str,
    access: &dyn NodeAccess,
    timeout: Duration,
) -> Result<(), String> {
    let fact = Fact::Addr {
        host: c.target.node.clone(),
        port: c.target.port,
        local: c.local_address.clone(),
    };
    let script = facts::probe(&fact);
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
    let observed = facts::observe(&fact, &output)?;
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
