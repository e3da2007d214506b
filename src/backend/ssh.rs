//! How checks reach machines over SSH, Vagrant's (with the configuration `vagrant
//! ssh-config` wrote; faster than a `vagrant ssh -c` per command) and QEMU's alike.
//! Commands run as root through sudo, as in a container; ports are reached at the
//! machine's address, or at a fixed forwarded port when the machine is only reachable
//! through 127.0.0.1 (VirtualBox's NAT, QEMU's user-mode networking).

use super::vagrant::config::{quote, Machine};
use crate::backend::{EngineError, ExecOutput, NodeAccess};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// The running machines of one instance.
pub struct SshAccess {
    /// The `ssh -F` file from `vagrant ssh-config`.
    pub ssh_config: PathBuf,
    /// Machine (replica) name -> address Vagrant connects to.
    pub hosts: BTreeMap<String, String>,
    /// Replica name -> node name.
    pub nodes: BTreeMap<String, String>,
    /// Replica name -> (guest port -> fixed host port).
    pub forwarded: BTreeMap<String, BTreeMap<u16, u16>>,
}

impl SshAccess {
    /// The machine for a replica or node name (a node's first replica).
    fn machine(&self, node: &str) -> Result<&str, EngineError> {
        if let Some((name, _)) = self.hosts.get_key_value(node) {
            return Ok(name);
        }
        self.nodes
            .iter()
            .find(|(replica, n)| *n == node && self.hosts.contains_key(*replica))
            .map(|(replica, _)| replica.as_str())
            .ok_or_else(|| EngineError::NodeMissing {
                node: node.to_string(),
                hint: format!(
                    "; no running machine has that name (run `{}` first)",
                    crate::hint::command("up")
                ),
            })
    }
}

impl SshAccess {
    /// Runs `command` on a machine attached to envctl's standard input and output, in a
    /// TTY when stdin is a terminal (`envctl shell`); its exit code.
    ///
    /// # Errors
    /// The machine is unknown or ssh cannot reach it.
    pub async fn interactive(&self, node: &str, command: &[String]) -> Result<i64, EngineError> {
        let machine = self.machine(node)?;
        let status = tokio::process::Command::new("ssh")
            .arg("-F")
            .arg(&self.ssh_config)
            .args(["-o", "LogLevel=ERROR"])
            .arg(if crate::terminal::stdin_is_tty() {
                "-t"
            } else {
                "-T"
            })
            .arg(machine)
            .arg("--")
            .arg(remote_command(command))
            .status()
            .await
            .map_err(|e| EngineError::Other(format!("cannot run ssh: {e}")))?;
        match status.code() {
            Some(255) => Err(EngineError::Other(format!(
                "ssh to machine `{machine}` failed (see above)"
            ))),
            code => Ok(i64::from(code.unwrap_or(-1))),
        }
    }
}

impl SshAccess {
    /// The machines of a node (each replica), or the one machine a replica name names.
    pub fn machines_of(&self, node: &str) -> Vec<String> {
        if self.hosts.contains_key(node) {
            return vec![node.to_string()];
        }
        self.nodes
            .iter()
            .filter(|(replica, n)| *n == node && self.hosts.contains_key(*replica))
            .map(|(replica, _)| replica.clone())
            .collect()
    }

    /// Runs `command` on a machine as root and streams what it prints to standard
    /// output as it comes (`logs --follow`); the stream ends with the command, and
    /// dropping it ends ssh.
    ///
    /// # Errors
    /// The machine is unknown or ssh cannot start.
    pub fn stream(
        &self,
        node: &str,
        command: &[String],
    ) -> Result<futures_util::stream::BoxStream<'static, Result<String, EngineError>>, EngineError>
    {
        use futures_util::StreamExt;
        let machine = self.machine(node)?;
        let mut child = tokio::process::Command::new("ssh")
            .arg("-F")
            .arg(&self.ssh_config)
            .args(["-o", "BatchMode=yes", "-o", "LogLevel=ERROR"])
            .arg(machine)
            .arg("--")
            .arg(remote_command(command))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| EngineError::Other(format!("cannot run ssh: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| EngineError::Other("ssh gave no output pipe".into()))?;
        // The child lives as long as the stream: dropping the stream kills ssh.
        let chunks = tokio_util::io::ReaderStream::new(stdout).map(move |chunk| {
            let _alive = &child;
            chunk
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|e| EngineError::Other(format!("reading from ssh: {e}")))
        });
        Ok(chunks.boxed())
    }
}

impl SshAccess {
    /// Starts a provisioned machine's command as a daemon with the node's environment,
    /// logging to `/var/log/envctl-MACHINE.log` (what `logs` reads); a command that
    /// still runs (a second `provision`) is left as it is.
    ///
    /// # Errors
    /// What the machine said when the command could not be started.
    pub async fn start_command(&self, m: &Machine) -> Result<(), String> {
        let Some(command) = &m.command else {
            return Ok(());
        };
        let exports: String = m
            .env
            .iter()
            .map(|(k, v)| format!("export {k}={}; ", quote(v)))
            .collect();
        let start = format!(
            "pid=/run/envctl-{name}.pid; if [ -f $pid ] && kill -0 \"$(cat $pid)\" 2>/dev/null; then exit 0; fi\n{exports}cat > /run/envctl-{name}.cmd <<'ENVCTL_COMMAND'\n{command}\nENVCTL_COMMAND\nsetsid sh /run/envctl-{name}.cmd >{log} 2>&1 </dev/null &\necho $! > $pid",
            name = m.name,
            log = quote(&command_log(&m.name))
        );
        let cmd = vec!["sh".to_string(), "-c".to_string(), start];
        match self.exec(&m.name, &cmd, Duration::from_secs(120)).await {
            Ok(out) if out.exit_code == 0 => Ok(()),
            Ok(out) => Err(format!(
                "machine `{}`: its command did not start (exit {})\n{}{}",
                m.name, out.exit_code, out.stdout, out.stderr
            )),
            Err(e) => Err(format!(
                "machine `{}`: its command did not start: {e}",
                m.name
            )),
        }
    }
}

/// Where a machine's command writes its output (`logs` reads it, the bundle takes it).
pub fn command_log(machine: &str) -> String {
    format!("/var/log/envctl-{machine}.log")
}

/// The remote command line: root through `sudo`, every argument quoted.
pub fn remote_command(command: &[String]) -> String {
    let mut line = String::from("sudo -n");
    for arg in command {
        line.push(' ');
        line.push_str(&quote(arg));
    }
    line
}

impl SshAccess {
    /// Runs `command` on a machine as root (sudo) with `env` (`K=V`), `stdin` fed to it
    /// (else none), with a deadline.
    ///
    /// # Errors
    /// The machine is unknown, ssh cannot reach it, or the deadline passed.
    pub async fn run(
        &self,
        node: &str,
        command: &[String],
        env: &[String],
        stdin: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<ExecOutput, EngineError> {
        let machine = self.machine(node)?;
        let mut line = command.to_vec();
        if !env.is_empty() {
            line = [vec!["env".to_string()], env.to_vec(), line].concat();
        }
        let child = tokio::process::Command::new("ssh")
            .arg("-F")
            .arg(&self.ssh_config)
            .args(["-o", "BatchMode=yes", "-o", "LogLevel=ERROR"])
            .arg(machine)
            .arg("--")
            .arg(remote_command(&line))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| EngineError::Other(format!("cannot run ssh: {e}")))?;
        let run = async move {
            let mut child = child;
            if let (Some(data), Some(mut to)) = (stdin, child.stdin.take()) {
                use tokio::io::AsyncWriteExt;
                // Written beside the reading below: a full pipe must not stall either.
                let feed = async move {
                    let _ = to.write_all(&data).await;
                    drop(to);
                };
                let (out, ()) = tokio::join!(child.wait_with_output(), feed);
                out
            } else {
                child.wait_with_output().await
            }
        };
        let out = tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| EngineError::ExecTimeout {
                container: machine.to_string(),
                command: command.join(" "),
                timeout,
            })?
            .map_err(|e| EngineError::Other(format!("cannot run ssh: {e}")))?;
        let code = out.status.code().unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if code == 255 {
            return Err(EngineError::Other(format!(
                "ssh to machine `{machine}` failed: {}",
                stderr.trim()
            )));
        }
        Ok(ExecOutput {
            exit_code: i64::from(code),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
        })
    }
}

#[async_trait]
impl NodeAccess for SshAccess {
    async fn exec(
        &self,
        node: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, EngineError> {
        self.run(node, command, &[], None, timeout).await
    }

    async fn address(&self, node: &str, port: u16) -> Result<SocketAddr, EngineError> {
        let machine = self.machine(node)?;
        let fixed = self
            .forwarded
            .get(machine)
            .and_then(|ports| ports.get(&port));
        let ip: Option<IpAddr> = self.hosts.get(machine).and_then(|h| h.parse().ok());
        match (ip, fixed) {
            (Some(ip), _) if !ip.is_loopback() => Ok(SocketAddr::new(ip, port)),
            (_, Some(host)) => Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), *host)),
            _ => Err(EngineError::Other(format!(
                "Vagrant machine `{machine}` is reached through 127.0.0.1 and port {port} has no fixed forwarded port; write it as \"HOST:{port}\" in `ports`"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(host: &str) -> SshAccess {
        SshAccess {
            ssh_config: PathBuf::from("/nonexistent"),
            hosts: BTreeMap::from([("web-1".to_string(), host.to_string())]),
            nodes: BTreeMap::from([("web-1".to_string(), "web".to_string())]),
            forwarded: BTreeMap::from([("web-1".to_string(), BTreeMap::from([(80, 18080)]))]),
        }
    }

    #[test]
    fn remote_commands_run_as_root_with_quoted_arguments() {
        let cmd = vec![
            "sh".to_string(),
            "-c".to_string(),
            "echo 'hi' there".to_string(),
        ];
        assert_eq!(
            remote_command(&cmd),
            r"sudo -n sh -c 'echo '\''hi'\'' there'"
        );
    }

    #[tokio::test]
    async fn addresses_use_the_machine_ip_or_the_fixed_forward_on_loopback() {
        let a = access("172.17.0.5");
        assert_eq!(
            a.address("web", 80).await.unwrap().to_string(),
            "172.17.0.5:80"
        );
        let b = access("127.0.0.1");
        assert_eq!(
            b.address("web-1", 80).await.unwrap().to_string(),
            "127.0.0.1:18080"
        );
        assert!(b.address("web", 81).await.is_err());
        assert!(matches!(
            b.address("db", 80).await,
            Err(EngineError::NodeMissing { .. })
        ));
    }
}
