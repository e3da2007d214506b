//! A socket on this host that the tools envctl runs (ansible-playbook's Docker
//! connection) use to reach an engine envctl reaches its own way: over ssh
//! (`ssh_tunnel.rs`) or TLS (`tls_forward.rs`). It lives in a private temporary
//! directory (mode 0700: only this user reaches it) for as long as the connection to the
//! engine, served by a task that carries each connection to the engine.

use std::future::Future;
use std::path::PathBuf;

/// The served socket: `docker.sock` in its directory.
pub struct ToolSocket {
    dir: tempfile::TempDir,
    accept: tokio::task::JoinHandle<()>,
}

impl ToolSocket {
    /// Listens on `docker.sock` in `dir` and hands the listener to `serve`, run as a
    /// task until this value is dropped.
    ///
    /// # Errors
    /// The socket cannot be made (the message names it).
    pub fn serve<F, Fut>(dir: tempfile::TempDir, serve: F) -> Result<ToolSocket, String>
    where
        F: FnOnce(tokio::net::UnixListener) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let socket = dir.path().join("docker.sock");
        // Binding is synchronous in std; tokio adopts the listener (non-blocking).
        let listener = std::os::unix::net::UnixListener::bind(&socket)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(tokio::net::UnixListener::from_std)
            .map_err(|e| format!("cannot listen on {}: {e}", socket.display()))?;
        let accept = tokio::spawn(serve(listener));
        Ok(ToolSocket { dir, accept })
    }

    /// The socket's path.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// `DOCKER_HOST` for the tools.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.path().display())
    }
}

/// The URL `endpoint` (`ssh://...`, `tcp://...`) and its host, without an IPv6
/// address's brackets: what both ways to an engine connect to.
///
/// # Errors
/// Not a URL, or no host.
pub fn endpoint_host(endpoint: &str) -> Result<(reqwest::Url, String), String> {
    let url = reqwest::Url::parse(endpoint).map_err(|e| format!("not a URL: {e}"))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    Ok((url, host))
}

impl Drop for ToolSocket {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
