//! Readiness of machines (Vagrant, QEMU): each replica's health check polled through
//! [`NodeAccess`] with the one wait mechanism, as for containers.

use crate::backend::NodeAccess;
use crate::instance::health::split_local_url;
use crate::model::environment::HealthCheck;
use crate::model::Environment;
use crate::wait::{self, Poll};
use std::time::Duration;

/// Waits until every replica of `env` with a health check passes it.
///
/// # Errors
/// A message naming the replica and the last observation.
pub async fn wait_healthy(env: &Environment, access: &dyn NodeAccess) -> Result<(), String> {
    let client = crate::check::http::client();
    for node in env.nodes.values() {
        let Some(health) = &node.health else { continue };
        for replica in node.replica_names() {
            let attempt = health.interval.max(Duration::from_secs(5));
            wait::until(health.timeout, health.interval, || {
                probe(access, &replica, &health.check, &client, attempt)
            })
            .await
            .map_err(|e| format!("node `{replica}` did not become healthy: {e}"))?;
        }
    }
    Ok(())
}

async fn probe(
    access: &dyn NodeAccess,
    replica: &str,
    check: &HealthCheck,
    client: &reqwest::Client,
    attempt: Duration,
) -> Poll<()> {
    match check {
        HealthCheck::Command { command } => match access.exec(replica, &command.0, attempt).await {
            Ok(out) if out.exit_code == 0 => Poll::Ready(()),
            Ok(out) => Poll::Pending(format!("`{}` exited {}", command.display(), out.exit_code)),
            Err(e) => Poll::Pending(e.to_string()),
        },
        HealthCheck::Tcp { port } => match access.address(replica, *port).await {
            Ok(addr) => match tokio::net::TcpStream::connect(addr).await {
                Ok(_) => Poll::Ready(()),
                Err(e) => Poll::Pending(format!("tcp {port}: {e}")),
            },
            Err(e) => Poll::Failed(e.to_string()),
        },
        HealthCheck::Http { url, status } => {
            let Some((scheme, port, path)) = split_local_url(url) else {
                return Poll::Failed(format!("cannot use health URL {url}"));
            };
            let addr = match access.address(replica, port).await {
                Ok(a) => a,
                Err(e) => return Poll::Failed(e.to_string()),
            };
            match client
                .get(format!("{scheme}://{addr}{path}"))
                .timeout(attempt)
                .send()
                .await
            {
                Ok(r)
                    if status.map_or((200..400).contains(&r.status().as_u16()), |s| {
                        r.status().as_u16() == s
                    }) =>
                {
                    Poll::Ready(())
                }
                Ok(r) => Poll::Pending(format!("GET {path} answered {}", r.status().as_u16())),
                Err(e) => Poll::Pending(format!("GET {path}: {e}")),
            }
        }
    }
}
