//! Host-side checks on an engine of another machine (`DOCKER_HOST=tcp://...`): its
//! published ports are on that machine's loopback and its networks are not routed here,
//! so envctl reaches a node through a probe container it runs on the instance network.
//! Each address a check asks for gets a listener on this host's 127.0.0.1. All
//! connections of one network travel through one long-running exec in the probe, a small
//! Perl multiplexer (the base image has Perl): frames of `type, connection id, length,
//! bytes` in both directions, `O` opening a connection to `IP PORT`, `D` carrying data,
//! `C` closing, `F` saying a connection could not be made. Checks keep their own protocol
//! (HTTP, TLS, plain TCP) end to end; only the path changes, and a connection costs no
//! exec of its own, so load checks measure the node, not the engine.
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
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// The image the probe runs: the local base, which has Perl.
pub const PROBE_IMAGE: &str = "debian:bookworm";

/// The probe container's role label.
pub const ROLE_PROBE: &str = "probe";

/// The multiplexer, run as `perl -e MUX` in the probe: reads frames on stdin, writes
/// frames on stdout, one socket per connection id.
const MUX: &str = r#"use strict; use IO::Socket::INET; use IO::Select;
binmode STDIN; binmode STDOUT;
my $sel = IO::Select->new(\*STDIN); my (%sock, %id); my $in = '';
sub put { my ($fh, $b) = @_; while (length $b) { my $n = syswrite($fh, $b); return 0 unless defined $n; substr($b, 0, $n) = ''; } 1 }
sub frame { my ($t, $i, $d) = @_; $d = '' unless defined $d; put(\*STDOUT, pack('aNN', $t, $i, length $d) . $d) or exit 0 }
sub drop { my $i = shift; my $s = delete $sock{$i} or return; $sel->remove($s); delete $id{fileno $s}; close $s }
while (1) {
  for my $fh ($sel->can_read) {
    my $f = fileno $fh; next unless defined $f;
    if ($f == 0) {
      my $n = sysread(STDIN, my $buf, 65536); exit 0 unless $n; $in .= $buf;
      while (length $in >= 9) {
        my ($t, $i, $len) = unpack('aNN', $in); last if length $in < 9 + $len;
        my $d = substr($in, 9, $len); substr($in, 0, 9 + $len) = '';
        if ($t eq 'O') {
          my ($h, $p) = split / /, $d;
          my $s = IO::Socket::INET->new(PeerAddr => $h, PeerPort => $p, Proto => 'tcp', Timeout => 5);
          if ($s) { binmode $s; $sock{$i} = $s; $id{fileno $s} = $i; $sel->add($s) } else { frame('F', $i, "$!") }
        } elsif ($t eq 'D') { my $s = $sock{$i} or next; unless (put($s, $d)) { drop($i); frame('C', $i) } }
        elsif ($t eq 'C') { drop($i) }
      }
    } else {
      my $i = $id{$f}; next unless defined $i; my $n = sysread($fh, my $buf, 65536);
      if ($n) { frame('D', $i, $buf) } else { drop($i); frame('C', $i) }
    }
  }
}"#;

/// What the multiplexer said about one connection.
enum Event {
    Data(Vec<u8>),
    Closed,
}

/// One multiplexer exec: frames to it, and where its answers go.
struct Mux {
    to: mpsc::UnboundedSender<Vec<u8>>,
    connections: Arc<Mutex<HashMap<u32, mpsc::UnboundedSender<Event>>>>,
    next: AtomicU32,
    /// Set when the exec has ended; a new one is started for the next connection.
    ended: Arc<std::sync::atomic::AtomicBool>,
}

fn frame(kind: u8, id: u32, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(9 + data.len());
    f.push(kind);
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
    f.extend_from_slice(data);
    f
}

/// The probes and forwards of one connection to the engine.
#[derive(Default)]
pub struct Relay {
    /// Network name -> the probe's multiplexer.
    muxes: tokio::sync::Mutex<HashMap<String, Arc<Mux>>>,
    /// (network, node address) -> the local listener's address.
    forwards: Mutex<HashMap<(String, SocketAddr), SocketAddr>>,
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
        // A swarm's overlay spans machines this host has no route into, even when the
        // manager is local.
        if !self.remote && !self.overlay {
            return Ok(target);
        }
        let key = (network.to_string(), target);
        if let Some(local) = self.relay.forwards.lock().expect("not poisoned").get(&key) {
            return Ok(*local);
        }
        // The probe is started now, so that a failure to start it is this call's error.
        self.mux(network).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| EngineError::Other(format!("listening on 127.0.0.1 for {target}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| EngineError::Other(format!("listening on 127.0.0.1 for {target}: {e}")))?;
        let (docker, network_name) = (self.clone(), network.to_string());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                if let Ok(mux) = docker.mux(&network_name).await {
                    tokio::spawn(carry(mux, target, socket));
                }
            }
        });
        self.relay
            .forwards
            .lock()
            .expect("not poisoned")
            .insert(key, local);
        Ok(local)
    }

    /// The running multiplexer of `network`'s probe, started when there is none.
    async fn mux(&self, network: &str) -> Result<Arc<Mux>, EngineError> {
        let mut muxes = self.relay.muxes.lock().await;
        if let Some(m) = muxes
            .get(network)
            .filter(|m| !m.ended.load(Ordering::SeqCst))
        {
            return Ok(m.clone());
        }
        let probe = self.probe(network).await?;
        let failed = || api(format!("starting the check relay in {probe}"));
        let exec = self
            .api
            .create_exec(
                &probe,
                CreateExecOptions {
                    cmd: Some(vec!["perl".to_string(), "-e".into(), MUX.into()]),
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(false),
                    ..Default::default()
                },
            )
            .await
            .map_err(failed())?;
        let StartExecResults::Attached {
            mut output,
            mut input,
        } = self
            .api
            .start_exec(&exec.id, None)
            .await
            .map_err(failed())?
        else {
            return Err(EngineError::Other(format!(
                "the engine ran the check relay in {probe} detached"
            )));
        };
        let (to, mut frames) = mpsc::unbounded_channel::<Vec<u8>>();
        let connections: Arc<Mutex<HashMap<u32, mpsc::UnboundedSender<Event>>>> = Arc::default();
        let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
        tokio::spawn(async move {
            while let Some(f) = frames.recv().await {
                if input.write_all(&f).await.is_err() || input.flush().await.is_err() {
                    break;
                }
            }
        });
        let (conns, done) = (connections.clone(), ended.clone());
        tokio::spawn(async move {
            let mut buf: Vec<u8> = Vec::new();
            while let Some(Ok(chunk)) = output.next().await {
                buf.extend_from_slice(&chunk.into_bytes());
                while buf.len() >= 9 {
                    let len = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) as usize;
                    if buf.len() < 9 + len {
                        break;
                    }
                    let kind = buf[0];
                    let id = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
                    let data = buf[9..9 + len].to_vec();
                    buf.drain(..9 + len);
                    let mut table = conns.lock().expect("not poisoned");
                    match kind {
                        b'D' => {
                            if let Some(tx) = table.get(&id) {
                                let _ = tx.send(Event::Data(data));
                            }
                        }
                        _ => {
                            if let Some(tx) = table.remove(&id) {
                                let _ = tx.send(Event::Closed);
                            }
                        }
                    }
                }
            }
            // The exec ended (the probe went away): every connection ends with it.
            done.store(true, Ordering::SeqCst);
            for (_, tx) in conns.lock().expect("not poisoned").drain() {
                let _ = tx.send(Event::Closed);
            }
        });
        let mux = Arc::new(Mux {
            to,
            connections,
            next: AtomicU32::new(1),
            ended,
        });
        muxes.insert(network.to_string(), mux.clone());
        Ok(mux)
    }

    /// The running probe container of `network`, started when there is none. It carries
    /// the network's labels (the instance's), so `down` and `gc` remove it with the rest.
    async fn probe(&self, network: &str) -> Result<String, EngineError> {
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
        match existing.into_iter().next() {
            Some(c) if c.running => return Ok(c.id),
            Some(c) => {
                self.start(&c.id, &name).await?;
                return Ok(c.id);
            }
            None => {}
        }
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
            place: vec![],
        };
        let id = self.create_container(&spec).await?;
        if let Err(e) = self.start(&id, &name).await {
            let _ = self.remove_container(&id).await;
            return Err(e);
        }
        Ok(id)
    }
}

/// Carries one connection to `target` through the multiplexer; ends when either side
/// closes.
async fn carry(mux: Arc<Mux>, target: SocketAddr, socket: tokio::net::TcpStream) {
    let id = mux.next.fetch_add(1, Ordering::SeqCst);
    let (tx, mut events) = mpsc::unbounded_channel();
    mux.connections.lock().expect("not poisoned").insert(id, tx);
    let open = format!("{} {}", target.ip(), target.port());
    if mux.to.send(frame(b'O', id, open.as_bytes())).is_err() {
        return;
    }
    let (mut from_check, mut to_check) = socket.into_split();
    let to = mux.to.clone();
    let upstream = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from_check.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.send(frame(b'D', id, &buf[..n])).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = to.send(frame(b'C', id, &[]));
    };
    let downstream = async move {
        while let Some(Event::Data(bytes)) = events.recv().await {
            if to_check.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to_check.shutdown().await;
    };
    // Either side closing ends the connection (a check does not half-close: it reads
    // its answer before it hangs up).
    tokio::select! {
        () = downstream => {}
        () = upstream => {}
    }
    mux.connections.lock().expect("not poisoned").remove(&id);
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
