//! `DOCKER_HOST=ssh://[USER@]HOST[:PORT]`: the engine of another machine, reached the way
//! the docker CLI reaches it. The system's `ssh` (the user's keys, `~/.ssh/config`,
//! `known_hosts`) opens one master connection; every connection to the engine is a
//! session over it running `docker system dial-stdio` on that machine (so it needs the
//! docker CLI there), and envctl serves them on a socket of its own, which bollard and
//! the tools envctl runs (ansible-playbook's Docker connection) both use.
//!
//! `ssh` runs with `BatchMode=yes`: a machine whose key is unknown, or a key that needs a
//! passphrase with no agent, fails at once with ssh's own message instead of prompting.
//! The master's own session reads envctl's end of a pipe, so an envctl that dies for any
//! reason takes the master (and the sessions) with it.

use super::tool_socket::ToolSocket;
use crate::backend::EngineError;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// How long the master connection may take to come up.
const CONNECT: Duration = Duration::from_secs(15);

/// A running tunnel: the master connection, and the socket that leads to the engine.
pub struct Tunnel {
    socket: ToolSocket,
    master: std::sync::Mutex<Option<Child>>,
}

/// Where `ssh` goes: `[user@]host` and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Destination {
    user: Option<String>,
    host: String,
    port: Option<u16>,
}

impl Destination {
    /// Reads `ssh://[USER@]HOST[:PORT]`, as the docker CLI does (no path).
    fn parse(endpoint: &str) -> Result<Destination, String> {
        let (url, host) = super::tool_socket::endpoint_host(endpoint)?;
        if !matches!(url.path(), "" | "/") || url.query().is_some() {
            return Err("only ssh://[USER@]HOST[:PORT], with no path".into());
        }
        if url.password().is_some() {
            return Err("no password in the URL: ssh reads keys (an agent, ~/.ssh)".into());
        }
        Ok(Destination {
            user: Some(url.username().to_string()).filter(|u| !u.is_empty()),
            host,
            port: url.port(),
        })
    }

    /// `ssh`'s arguments naming the machine (options first, then `[user@]host`).
    fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(port) = self.port {
            args.extend(["-p".to_string(), port.to_string()]);
        }
        args.push(match &self.user {
            Some(user) => format!("{user}@{}", self.host),
            None => self.host.clone(),
        });
        args
    }
}

impl Tunnel {
    /// Opens the master connection to the machine `endpoint` names and starts serving
    /// the engine's socket.
    ///
    /// # Errors
    /// [`EngineError::Unreachable`] with ssh's own words when the machine cannot be
    /// reached or refuses the key.
    pub async fn open(endpoint: &str) -> Result<Tunnel, EngineError> {
        let unreachable = |reason: String| EngineError::Unreachable {
            endpoint: endpoint.to_string(),
            reason,
        };
        let destination = Destination::parse(endpoint).map_err(&unreachable)?;
        let dir = tempfile::Builder::new()
            .prefix("envctl-ssh-")
            .tempdir()
            .map_err(|e| unreachable(format!("cannot make a directory for the tunnel: {e}")))?;
        let control = dir.path().join("ctl");
        let mut master = Command::new("ssh");
        master
            .args(common_options(&control))
            .args(["-o", "ControlMaster=yes", "-o", "ControlPersist=no"])
            .args(destination.args())
            // The master's own session: ends when envctl's end of stdin closes.
            .arg("cat >/dev/null")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = master
            .spawn()
            .map_err(|e| unreachable(format!("cannot run ssh: {e}")))?;
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = child.try_wait().map_err(|e| unreachable(e.to_string()))? {
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ = stderr.read_to_string(&mut err).await;
                }
                return Err(unreachable(format!(
                    "ssh {} ended ({status}): {}",
                    destination.args().join(" "),
                    err.trim()
                )));
            }
            if check(&control, &destination).await {
                break;
            }
            if started.elapsed() > CONNECT {
                return Err(unreachable(format!(
                    "ssh {} did not connect within {}s",
                    destination.args().join(" "),
                    CONNECT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // What the master says from now on (a dropped connection) is not envctl's output.
        drop(child.stderr.take());
        let socket = ToolSocket::serve(dir, |listener| serve(listener, control, destination))
            .map_err(unreachable)?;
        Ok(Tunnel {
            socket,
            master: std::sync::Mutex::new(Some(child)),
        })
    }

    /// The local socket that leads to the engine.
    pub fn socket(&self) -> PathBuf {
        self.socket.path()
    }

    /// `DOCKER_HOST` for the tools envctl runs.
    pub fn endpoint(&self) -> String {
        self.socket.endpoint()
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        // Closing the master's stdin ends its session, and with it the master.
        if let Ok(mut master) = self.master.lock() {
            if let Some(mut child) = master.take() {
                drop(child.stdin.take());
                let _ = child.start_kill();
            }
        }
    }
}

/// Options every `ssh` of a tunnel shares.
fn common_options(control: &Path) -> Vec<String> {
    [
        "-T",
        "-o",
        "BatchMode=yes",
        "-o",
        "ServerAliveInterval=10",
        "-o",
        &format!("ControlPath={}", control.display()),
    ]
    .map(String::from)
    .to_vec()
}

/// Whether the master answers on `control`.
async fn check(control: &Path, destination: &Destination) -> bool {
    Command::new("ssh")
        .args(common_options(control))
        .args(["-O", "check"])
        .args(destination.args())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// Carries every connection to the socket over a session of the master.
async fn serve(listener: tokio::net::UnixListener, control: PathBuf, destination: Destination) {
    while let Ok((stream, _)) = listener.accept().await {
        let session = Command::new("ssh")
            .args(common_options(&control))
            .args(["-o", "ControlMaster=no"])
            .args(destination.args())
            .args(["docker", "system", "dial-stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let Ok(mut session) = session else {
            continue;
        };
        tokio::spawn(async move {
            let (Some(mut to), Some(mut from)) = (session.stdin.take(), session.stdout.take())
            else {
                return;
            };
            let (mut read, mut write) = stream.into_split();
            let up = async {
                let _ = tokio::io::copy(&mut read, &mut to).await;
                // The client is done sending: the engine sees the end of its request.
                drop(to);
            };
            let down = async {
                let _ = tokio::io::copy(&mut from, &mut write).await;
                use tokio::io::AsyncWriteExt;
                let _ = write.shutdown().await;
            };
            tokio::join!(up, down);
            let _ = session.wait().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::Destination;

    #[test]
    fn endpoints_read_as_the_docker_cli_reads_them() {
        assert_eq!(
            Destination::parse("ssh://ci@build-host:2222").unwrap(),
            Destination {
                user: Some("ci".into()),
                host: "build-host".into(),
                port: Some(2222)
            }
        );
        let plain = Destination::parse("ssh://10.0.0.7").unwrap();
        assert_eq!(plain.args(), ["10.0.0.7"]);
        assert_eq!(
            Destination::parse("ssh://me@[fd00::7]:22").unwrap().args(),
            ["-p", "22", "me@fd00::7"]
        );
        assert!(Destination::parse("ssh://host/var/run/docker.sock").is_err());
        assert!(Destination::parse("ssh://me:secret@host").is_err());
        assert!(Destination::parse("ssh://").is_err());
    }
}
