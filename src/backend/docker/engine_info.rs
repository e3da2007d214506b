//! What the engine says about itself (`docker version`, `docker info`): its kind,
//! version, cgroup version and data root, for `envctl doctor`.

use super::Docker;
use crate::backend::EngineError;

/// Where the engine runs, as far as envctl can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// A Docker Engine on this host's socket.
    Local,
    /// A Docker Engine reached over the network (`DOCKER_HOST=tcp://...`, `ssh://...`).
    Remote,
    /// Podman's Docker-compatible API.
    Podman,
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EngineKind::Local => "local",
            EngineKind::Remote => "remote",
            EngineKind::Podman => "Podman",
        })
    }
}

/// The engine's own account of itself.
#[derive(Debug, Clone)]
pub struct EngineFacts {
    /// `DOCKER_HOST`, or the local socket.
    pub endpoint: String,
    pub kind: EngineKind,
    pub version: String,
    /// The engine host's operating system.
    pub os: String,
    /// 1 or 2; `None` when the engine does not say.
    pub cgroup_version: Option<u8>,
    /// Where the engine keeps images and containers (on the engine's host).
    pub root_dir: Option<String>,
}

/// The endpoint envctl talks to: `DOCKER_HOST`, else the local socket.
pub fn endpoint() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".into())
}

/// Where the client certificates of a TLS engine are, as the docker CLI looks:
/// `DOCKER_CERT_PATH`, else `~/.docker` (`ca.pem`, `cert.pem`, `key.pem`).
pub fn cert_dir() -> std::path::PathBuf {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    var("DOCKER_CERT_PATH").map_or_else(
        || std::path::PathBuf::from(var("HOME").unwrap_or_default()).join(".docker"),
        std::path::PathBuf::from,
    )
}

impl Docker {
    /// Asks the engine for its version and system information.
    ///
    /// # Errors
    /// [`EngineError::Api`] when the engine refuses either request.
    pub async fn facts(&self) -> Result<EngineFacts, EngineError> {
        let api = |what: &str| {
            let what = what.to_string();
            move |source| EngineError::Api {
                context: what,
                source,
            }
        };
        let version = self
            .api
            .version()
            .await
            .map_err(api("asking the engine's version"))?;
        let info = self
            .api
            .info()
            .await
            .map_err(api("asking the engine's system information"))?;
        let endpoint = endpoint();
        let podman = version
            .components
            .iter()
            .flatten()
            .any(|c| c.name.to_ascii_lowercase().contains("podman"));
        let kind = if podman {
            EngineKind::Podman
        } else if endpoint.starts_with("unix://") || endpoint.starts_with('/') {
            EngineKind::Local
        } else {
            EngineKind::Remote
        };
        let cgroup_version = super::privileges::Cgroup::reported(&info).map(|c| c.version());
        Ok(EngineFacts {
            endpoint,
            kind,
            version: version.version.unwrap_or_else(|| "unknown".into()),
            os: info.operating_system.unwrap_or_default(),
            cgroup_version,
            root_dir: info.docker_root_dir,
        })
    }
}
