//! Host-side checks on an engine of another machine (`DOCKER_HOST=tcp://...`,
//! `ssh://...`): its published ports are on that machine's loopback and its networks are
//! not routed here, so envctl reaches a node through a probe container it runs on the
//! instance network. Each address a check asks for gets a listener on this host's
//! 127.0.0.1; every connection to it is carried by an exec in the probe container that
//! connects to the node and copies bytes both ways. Checks keep their own protocol
//! (HTTP, TLS, plain TCP) end to end; only the path changes.
//!
//! A connection to the listener is accepted here before the node is asked, as a published
//! port's proxy accepts before anything listens: checks that care (tcp, health) already
//! ask the node whether it listens when they connect to a loopback address.

use super::{api, Docker};
use crate::backend::labels;
use crate::backend::node::NodeSpec;
use crate::backend::EngineError;
use crate::model::ImageSource;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The image the probe runs: the local base, which has `bash` (its `/dev/tcp` makes the
/// connection) and nothing else the probe needs.
pub const PROBE_IMAGE: &str = "debian:bookworm";

/// The probe container's role label.
pub const ROLE_PROBE: &str = "probe";

/// What the exec in the probe runs: connect to `$0:$1`, copy the socket to stdout and
/// stdin to the socket, and end as soon as either direction ends.
/// (A background command's stdin is /dev/null unless redirected: stdin is kept as fd 4.)
const PIPE: &str = r#"exec 2>/dev/null 4<&0 3<>"/dev/tcp/$0/$1" || exit 1
cat <&3 & r=$!
cat <&4 >&3 & w=$!
wait -n
kill $r $w"#;

/// The probes and forwards of one connection to the engine.
#[derive(Default)]
pub struct Relay {
    /// Network name -> probe container id.
    probes: tokio::sync::Mutex<HashMap<String, String>>,
    /// (network, node address) -> the local listener's address.
    forwards: std::sync::Mutex<HashMap<(String, SocketAddr), SocketAddr>>,
}

/// Whether `endpoint` (`DOCKER_HOST`) names an engine on another machine.
pub fn is_remote(endpoint: &str) -> bool {
    !(endpoint.is_empty() || endpoint.starts_with("unix://") || endpoint.starts_with("npipe://"))
}

impl Docker {
    /// A local address that leads to `target` on `network`: `target` itself on an engine
    /// of this host, else a forward through the network's probe container.
    ///
    /// # Errors
    /// Engine failures starting the probe, or no local port to listen on.
    pub async fn reach(
        &self,
        network: &str,
        target: SocketAddr,
    ) -> Result<SocketAddr, EngineError> {
        if !self.remote {
            return Ok(target);
        }
        let key = (network.to_string(), target);
        if let Some(local) = self.relay.forwards.lock().expect("not poisoned").get(&key) {
            return Ok(*local);
        }
        let probe = self.probe(network).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| EngineError::Other(format!("listening on 127.0.0.1 for {target}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| EngineError::Other(format!("listening on 127.0.0.1 for {target}: {e}")))?;
        let docker = self.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (docker, probe) = (docker.clone(), probe.clone());
                tokio::spawn(async move { docker.carry(&probe, target, socket).await });
            }
        });
        self.relay
            .forwards
            .lock()
            .expect("not poisoned")
            .insert(key, local);
        Ok(local)
    }

    /// The running probe container of `network`, started when there is none. It carries
    /// the network's labels (the instance's), so `down` and `gc` remove it with the rest.
    async fn probe(&self, network: &str) -> Result<String, EngineError> {
        let mut probes = self.relay.probes.lock().await;
        if let Some(id) = probes.get(network) {
            return Ok(id.clone());
        }
        let name = format!("{network}-probe");
        let labels = self
            .list_networks(&HashMap::from([(
                "name".to_string(),
                vec![network.to_string()],
            )]))
            .await?
            .into_iter()
            .find(|(_, n, _)| n == network)
            .map(|(_, _, labels)| labels)
            .ok_or_else(|| EngineError::Other(format!("no network {network} to probe from")))?;
        let existing = self
            .list_containers(&HashMap::from([(
                "name".to_string(),
                vec![format!("^/{name}$")],
            )]))
            .await?;
        let id = match existing.into_iter().next() {
            Some(c) if c.running => c.id,
            Some(c) => {
                self.start(&c.id, &name).await?;
                c.id
            }
            None => {
                let image = super::image::ensure(
                    self,
                    std::path::Path::new("."),
                    &ImageSource::Image(PROBE_IMAGE.into()),
                    &|_| {},
                )
                .await?;
                let mut labels = labels;
                labels.insert(labels::ROLE.into(), ROLE_PROBE.into());
                let spec = NodeSpec {
                    name: name.clone(),
                    image: image.id,
                    entrypoint: Some(vec!["sleep".into()]),
                    cmd: Some(vec!["infinity".into()]),
                    env: vec![],
                    labels,
                    network: network.to_string(),
                    aliases: vec![],
                    hostname: "envctl-probe".into(),
                    ports: vec![],
                    systemd: false,
                    boot_image: None,
                    privileges: Default::default(),
                    mounts: vec![],
                    resources: Default::default(),
                    restart: Default::default(),
                };
                let id = self.create_container(&spec).await?;
                if let Err(e) = self.start(&id, &name).await {
                    let _ = self.remove_container(&id).await;
                    return Err(e);
                }
                id
            }
        };
        probes.insert(network.to_string(), id.clone());
        Ok(id)
    }

    /// Carries one connection to `target` through the probe; ends when either side does.
    async fn carry(&self, probe: &str, target: SocketAddr, socket: tokio::net::TcpStream) {
        let command = vec![
            "bash".to_string(),
            "-c".into(),
            PIPE.into(),
            target.ip().to_string(),
            target.port().to_string(),
        ];
        let exec = match self
            .api
            .create_exec(
                probe,
                CreateExecOptions {
                    cmd: Some(command),
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(false),
                    ..Default::default()
                },
            )
            .await
            .map_err(api(format!("connecting to {target} through {probe}")))
        {
            Ok(exec) => exec,
            Err(_) => return,
        };
        let Ok(StartExecResults::Attached {
            mut output,
            mut input,
        }) = self.api.start_exec(&exec.id, None).await
        else {
            return;
        };
        let (mut from_check, mut to_check) = socket.into_split();
        let upstream = async {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match from_check.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if input.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        let _ = input.flush().await;
                    }
                }
            }
            let _ = input.shutdown().await;
        };
        let downstream = async {
            while let Some(Ok(chunk)) = output.next().await {
                if to_check.write_all(&chunk.into_bytes()).await.is_err() {
                    break;
                }
            }
            let _ = to_check.shutdown().await;
        };
        // The node closing (or the connect failing) ends the connection; the check
        // closing ends the exec.
        tokio::select! {
            () = downstream => {}
            () = async { upstream.await; std::future::pending::<()>().await } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_remote;

    #[test]
    fn only_a_socket_of_this_host_is_local() {
        assert!(!is_remote("unix:///var/run/docker.sock"));
        assert!(!is_remote(""));
        assert!(is_remote("tcp://10.0.0.2:2375"));
        assert!(is_remote("ssh://ci@build-host"));
        assert!(is_remote("https://docker:2376"));
    }
}
