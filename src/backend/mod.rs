//! Backends run nodes, one folder per engine: `docker` (the Docker Engine through
//! bollard), `swarm` (Docker engines of a swarm, one per machine, behind one manager),
//! `vagrant` (machines of the top-level Vagrantfile) and `qemu` (real VMs).
//! Every verb reaches its engine through [`Backend`] (`engine.rs`), chosen once per
//! command; `node.rs` holds the engine-neutral types it speaks in. Checks reach nodes
//! only through the small [`NodeAccess`] trait (exec, address lookup), which
//! [`view::InstanceView`] serves over any backend.

pub mod archive;
pub mod docker;
pub mod engine;
#[cfg(test)]
pub mod fake;
pub mod labels;
pub mod node;
pub mod qemu;
pub mod salt;
pub mod ssh;
pub mod swarm;
pub mod vagrant;
pub mod view;

pub use engine::{Backend, Feature, Selector, Unsupported};

use async_trait::async_trait;
use std::net::SocketAddr;
use std::time::Duration;

/// What a command run inside a node produced.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// What to do when no engine answers at `endpoint` (`DOCKER_HOST`).
fn unreachable_hint(endpoint: &str) -> String {
    if endpoint.starts_with("unix://") || endpoint.is_empty() {
        return "start it (`sudo systemctl start docker`, or `sudo dockerd &`), or point DOCKER_HOST at a running engine".into();
    }
    if endpoint.starts_with("ssh://") {
        return "check that `ssh -o BatchMode=yes [-p PORT] [USER@]HOST docker system dial-stdio` works from here: the machine's key in known_hosts, a key ssh finds without asking (an agent, ~/.ssh), and the docker CLI on that machine (docs/engines.md)".into();
    }
    if std::env::var_os("DOCKER_TLS_VERIFY").is_some() {
        return "check that the engine listens there with TLS and that DOCKER_CERT_PATH (else ~/.docker) holds ca.pem, cert.pem and key.pem of a client it trusts (docs/engines.md)".into();
    }
    "check that the engine listens there (`dockerd -H tcp://ADDR:PORT`) and that this machine can reach it; a TLS endpoint (2376) also needs DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (docs/engines.md)".into()
}

/// Faults talking to an engine. All of them are environment errors (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "cannot reach the Docker Engine at {endpoint}: {reason}\n  {}",
        unreachable_hint(endpoint)
    )]
    Unreachable { endpoint: String, reason: String },
    #[error("image `{image}` is not present and cannot be pulled ({reason})\n  {hint}")]
    ImageMissing {
        image: String,
        reason: String,
        hint: String,
    },
    #[error("building image from {context}: {message}")]
    Build { context: String, message: String },
    #[error("bootstrapping {image}: {message}")]
    Bootstrap { image: String, message: String },
    #[error("{context}: {source}")]
    Api {
        context: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("node `{node}` is not running in this instance{hint}")]
    NodeMissing { node: String, hint: String },
    #[error("`{command}` in {container} did not finish within {timeout:?}")]
    ExecTimeout {
        container: String,
        command: String,
        timeout: Duration,
    },
    #[error("{0}")]
    Other(String),
    /// The connection to the engine broke mid-run (engine stopped or restarted).
    #[error("lost the connection to the Docker Engine while {context}: {reason}\n  is the engine still running? once it is back, `envctl down` or `envctl gc` removes what this run left")]
    Lost { context: String, reason: String },
}

impl EngineError {
    /// Whether the engine itself went away (as opposed to refusing one request).
    pub fn is_lost(&self) -> bool {
        matches!(
            self,
            EngineError::Lost { .. } | EngineError::Unreachable { .. }
        )
    }

    /// Says which node the failed request was for.
    pub fn on_node(self, node: &str) -> EngineError {
        match self {
            EngineError::Lost { context, reason } => EngineError::Lost {
                context: format!("{context} for node `{node}`"),
                reason,
            },
            EngineError::Api { context, source } => EngineError::Api {
                context: format!("{context} for node `{node}`"),
                source,
            },
            EngineError::Other(message) if !message.contains(&format!("`{node}`")) => {
                EngineError::Other(format!("node `{node}`: {message}"))
            }
            other => other,
        }
    }
}

/// How checks and provisioning reach a running node.
#[async_trait]
pub trait NodeAccess: Send + Sync {
    /// Runs `command` inside `node` (a replica name such as `web` or `web-2`), with a
    /// deadline.
    ///
    /// # Errors
    /// The node does not exist, the engine failed, or the deadline passed.
    async fn exec(
        &self,
        node: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, EngineError>;

    /// Like [`NodeAccess::exec`], also handing stdout to `sink` as it arrives. Without
    /// [`NodeAccess::streams`], `sink` gets all of it once the command has finished.
    ///
    /// # Errors
    /// As [`NodeAccess::exec`].
    async fn exec_streaming(
        &self,
        node: &str,
        command: &[String],
        timeout: Duration,
        sink: &(dyn for<'b> Fn(&'b [u8]) + Send + Sync),
    ) -> Result<ExecOutput, EngineError> {
        let out = self.exec(node, command, timeout).await?;
        sink(out.stdout.as_bytes());
        Ok(out)
    }

    /// Whether [`NodeAccess::exec_streaming`] delivers output while the command runs.
    fn streams(&self) -> bool {
        false
    }

    /// An address reachable from this host for `port` of `node`: the published
    /// 127.0.0.1 port when there is one, otherwise the node's address on the instance
    /// network.
    ///
    /// # Errors
    /// The node does not exist or has no address.
    async fn address(&self, node: &str, port: u16) -> Result<SocketAddr, EngineError>;
}
