//! Readiness: waits until a started replica passes its health check, failing fast when
//! its container exits. Uses the one wait mechanism (`wait::until`).

use crate::backend::node::NodeInfo;
use crate::backend::view::InstanceView;
use crate::backend::Backend;
use crate::model::environment::{Health, HealthCheck};
use crate::wait::{self, Poll};
use std::net::SocketAddr;
use std::time::Duration;

/// Why a replica did not become healthy.
#[derive(Debug, thiserror::Error)]
#[error("node `{replica}` did not become healthy: {reason}{}", logs(.log_tail))]
pub struct HealthError {
    pub replica: String,
    pub reason: String,
    pub log_tail: String,
}

fn logs(tail: &str) -> String {
    if tail.trim().is_empty() {
        "\n  (the container printed nothing)".into()
    } else {
        format!(
            "\n  last lines of its output:\n{}",
            tail.lines()
                .map(|l| format!("    | {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    }
}

/// Why a job (a node with `run = "once"`) did not complete.
#[derive(Debug, thiserror::Error)]
#[error("job `{replica}` failed: {reason}{}", logs(.log_tail))]
pub struct JobError {
    pub replica: String,
    pub reason: String,
    pub log_tail: String,
}

/// Longest a job may run.
pub const JOB_TIMEOUT: Duration = crate::model::environment::DEFAULT_STEP_TIMEOUT;

/// Waits until the job's `container` has run to completion, successfully.
///
/// # Errors
/// [`JobError`] when it exits with another code than 0 or runs past `timeout`, with the
/// tail of its output.
pub async fn wait_completed(
    backend: &dyn Backend,
    replica: &str,
    container: &NodeInfo,
    timeout: Duration,
) -> Result<(), JobError> {
    let result = wait::until(timeout, Duration::from_millis(250), || async {
        match backend.node_state(&container.id).await {
            Ok((true, _)) => Poll::Pending("still running".into()),
            Ok((false, Some(0))) => Poll::Ready(()),
            Ok((false, code)) => Poll::Failed(format!("exit code {}", code.unwrap_or(-1))),
            Err(e) => Poll::Failed(e.to_string()),
        }
    })
    .await;
    match result {
        Ok(()) => Ok(()),
        Err(e) => Err(JobError {
            replica: replica.to_string(),
            reason: e.to_string(),
            log_tail: backend.log_tail(&container.id, 15).await,
        }),
    }
}

/// Waits for `container` to be running and, when `health` is set, healthy.
///
/// # Errors
/// [`HealthError`] with the reason and the tail of the container's output.
pub async fn wait_ready(
    backend: &dyn Backend,
    network: &str,
    replica: &str,
    container: &NodeInfo,
    health: Option<&Health>,
    client: &reqwest::Client,
) -> Result<(), HealthError> {
    let (timeout, interval) = health
        .map_or((Duration::from_secs(10), Duration::from_millis(100)), |h| {
            (h.timeout, h.interval)
        });
    let result = wait::until(timeout, interval, || async {
        match backend.node_state(&container.id).await {
            Ok((true, _)) => {}
            Ok((false, code)) => {
                return Poll::Failed(format!(
                    "its container exited (exit code {})",
                    code.unwrap_or(-1)
                ))
            }
            Err(e) => return Poll::Failed(e.to_string()),
        }
        match health {
            None => Poll::Ready(()),
            Some(h) => {
                probe(
                    backend,
                    network,
                    container,
                    &h.check,
                    client,
                    interval.max(Duration::from_secs(2)),
                )
                .await
            }
        }
    })
    .await;
    match result {
        Ok(()) => Ok(()),
        Err(e) => Err(HealthError {
            replica: replica.to_string(),
            reason: e.to_string(),
            log_tail: backend.log_tail(&container.id, 15).await,
        }),
    }
}

/// One health probe.
pub async fn probe(
    backend: &dyn Backend,
    network: &str,
    container: &NodeInfo,
    check: &HealthCheck,
    client: &reqwest::Client,
    attempt_timeout: Duration,
) -> Poll<()> {
    match check {
        HealthCheck::Tcp { port } => {
            // The node's own address first: a published port is the engine's proxy, which
            // accepts connections before anything listens in the container.
            // On a remote engine every way there is the engine's relay, which accepts
            // first, as a published port does.
            let direct = InstanceView::network_address(container, network, *port)
                .filter(|_| !backend.remote());
            let addr = match direct {
                Some(addr) => addr,
                None => match InstanceView::reachable(backend, container, network, *port).await {
                    Ok(Some(addr)) => addr,
                    Ok(None) => {
                        return Poll::Failed(format!("port {port} is not reachable from the host"))
                    }
                    Err(e) => return Poll::Pending(e.to_string()),
                },
            };
            let outside =
                match tokio::time::timeout(attempt_timeout, tokio::net::TcpStream::connect(addr))
                    .await
                {
                    Ok(Ok(_)) if direct.is_some() => return Poll::Ready(()),
                    Ok(Ok(_)) => "accepted by the published port only".to_string(),
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => "no answer".to_string(),
                };
            // A service listening on the node's loopback only (memcached's default, many
            // databases) is seen from inside the node.
            match in_node_listening(backend, container, *port, attempt_timeout).await {
                Ok(addrs) if !addrs.is_empty() => Poll::Ready(()),
                Ok(_) => Poll::Pending(format!(
                    "tcp {port}: {addr}: {outside}; inside the node nothing listens on port {port}"
                )),
                Err(why) => Poll::Pending(format!(
                    "tcp {port}: {addr}: {outside}; inside the node: {why}"
                )),
            }
        }
        HealthCheck::Command { command } => {
            match backend
                .exec(&container.id, &command.0, &[], attempt_timeout)
                .await
            {
                Ok(out) if out.exit_code == 0 => Poll::Ready(()),
                Ok(out) => Poll::Pending(format!(
                    "`{}` exited {}: {}",
                    command.display(),
                    out.exit_code,
                    crate::backend::docker::tail(&format!("{}{}", out.stdout, out.stderr), 3)
                )),
                Err(e) => Poll::Pending(e.to_string()),
            }
        }
        HealthCheck::Http { url, status } => {
            let Some((scheme, port, path)) = split_local_url(url) else {
                return Poll::Failed(format!("cannot use health URL {url}"));
            };
            let addr = match InstanceView::reachable(backend, container, network, port).await {
                Ok(Some(addr)) => addr,
                Ok(None) => {
                    return Poll::Failed(format!("port {port} is not reachable from the host"))
                }
                Err(e) => return Poll::Pending(e.to_string()),
            };
            match http_status(client, &scheme, addr, &path, attempt_timeout, *status).await {
                Poll::Pending(why)
                    if scheme == "http"
                        && (why.contains("could not connect") || why_closed(&why)) =>
                {
                    // Not reachable from the host: ask from inside the node, at its loopback.
                    in_node_http(backend, container, port, &path, attempt_timeout, *status)
                        .await
                        .map_or_else(
                            |inside| {
                                Poll::Pending(format!(
                                    "{why} (at {addr}); inside the node: {inside}"
                                ))
                            },
                            |()| Poll::Ready(()),
                        )
                }
                other => other,
            }
        }
    }
}

fn why_closed(why: &str) -> bool {
    why.contains("connection closed") || why.contains("reset")
}

/// Addresses on which something inside the container listens on tcp `port`.
async fn in_node_listening(
    backend: &dyn Backend,
    container: &NodeInfo,
    port: u16,
    timeout: Duration,
) -> Result<Vec<String>, String> {
    use crate::model::assertion::fact::{Fact, Proto};
    let script = crate::check::facts::probe(&Fact::Port {
        proto: Proto::Tcp,
        port,
    });
    let out = backend
        .exec(
            &container.id,
            &["sh".into(), "-c".into(), script],
            &[],
            timeout,
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(crate::check::facts::listening(
        &out.stdout,
        Proto::Tcp,
        port,
    ))
}

/// A GET to the node's own loopback, sent from inside it (bash's /dev/tcp).
async fn in_node_http(
    backend: &dyn Backend,
    container: &NodeInfo,
    port: u16,
    path: &str,
    timeout: Duration,
    expected: Option<u16>,
) -> Result<(), String> {
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n");
    let command = vec![
        "sh".to_string(),
        "-c".to_string(),
        "command -v bash >/dev/null 2>&1 || exit 98; exec bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1 || exit 97; printf %s \"$2\" >&3; head -c 200 <&3' envctl \"$@\"".to_string(),
        "envctl-health".to_string(),
        port.to_string(),
        request,
    ];
    let out = backend
        .exec(&container.id, &command, &[], timeout)
        .await
        .map_err(|e| e.to_string())?;
    match out.exit_code {
        98 => return Err("no bash to ask with".into()),
        97 => return Err(format!("127.0.0.1:{port}: could not connect")),
        _ => {}
    }
    let code: Option<u16> = out
        .stdout
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok());
    match code {
        Some(c) if expected.map_or((200..400).contains(&c), |e| c == e) => Ok(()),
        Some(c) => Err(format!("127.0.0.1:{port}: GET {path} answered {c}")),
        None => Err(format!("127.0.0.1:{port}: not an HTTP answer")),
    }
}

async fn http_status(
    client: &reqwest::Client,
    scheme: &str,
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
    expected: Option<u16>,
) -> Poll<()> {
    let url = format!("{scheme}://{addr}{path}");
    match client.get(&url).timeout(timeout).send().await {
        Ok(resp) => {
            let code = resp.status().as_u16();
            let ok = match expected {
                Some(e) => code == e,
                None => (200..400).contains(&code),
            };
            if ok {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("GET {path} answered {code}"))
            }
        }
        Err(e) => Poll::Pending(format!("GET {path}: {}", crate::check::http::describe(&e))),
    }
}

/// Splits a health URL (`http://localhost:8080/x`) into scheme, port and path. The host
/// is the node itself, whatever name the URL uses.
pub fn split_local_url(url: &str) -> Option<(String, u16, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let port = match authority.rsplit_once(':') {
        Some((_, p)) => p.parse().ok()?,
        None if scheme == "https" => 443,
        None => 80,
    };
    Some((scheme.to_string(), port, path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_health_urls() {
        assert_eq!(
            split_local_url("http://localhost:8080/healthz?x=1"),
            Some(("http".into(), 8080, "/healthz?x=1".into()))
        );
        assert_eq!(
            split_local_url("http://localhost"),
            Some(("http".into(), 80, "/".into()))
        );
    }
}
