//! A snapshot of an instance's running nodes, through which checks reach them, on
//! whichever engine runs them.

use crate::backend::labels;
use crate::backend::node::NodeInfo;
use crate::backend::{Backend, EngineError, ExecOutput, NodeAccess};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The nodes of an instance, by replica name (`web`, `web-1`...).
pub struct InstanceView {
    backend: Arc<dyn Backend>,
    network: String,
    replicas: BTreeMap<String, NodeInfo>,
    /// Names that stand for another node (a promotable service for one of its colours).
    aliases: BTreeMap<String, String>,
    /// The environment's name, for the command that starts a missing node.
    env: String,
}

impl InstanceView {
    /// The container of a replica, which must be running to run commands in.
    pub fn running(&self, node: &str) -> Result<&NodeInfo, EngineError> {
        let c = self.container(node)?;
        if !c.running {
            return Err(EngineError::NodeMissing {
                node: node.to_string(),
                hint: format!(" (its container is {}: {})", c.state, c.status),
            });
        }
        Ok(c)
    }

    pub fn new(
        backend: Arc<dyn Backend>,
        env: &str,
        network: String,
        containers: Vec<NodeInfo>,
    ) -> InstanceView {
        let replicas = containers
            .into_iter()
            .filter_map(|c| Some((c.label(labels::REPLICA)?.to_string(), c)))
            .collect();
        InstanceView {
            backend,
            network,
            replicas,
            aliases: BTreeMap::new(),
            env: env.to_string(),
        }
    }

    /// Makes `name` (a promotable service) stand for the node `target`.
    pub fn alias(&mut self, name: &str, target: &str) {
        self.aliases.insert(name.to_string(), target.to_string());
    }

    /// The engine the nodes run on.
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// Replica names and their containers.
    pub fn replicas(&self) -> &BTreeMap<String, NodeInfo> {
        &self.replicas
    }

    /// Whether no node container exists.
    pub fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }

    /// The container for a replica name, or for a node name (its first replica).
    pub fn container(&self, node: &str) -> Result<&NodeInfo, EngineError> {
        let node = self.aliases.get(node).map_or(node, String::as_str);
        self.replicas
            .get(node)
            .or_else(|| {
                self.replicas
                    .values()
                    .find(|c| c.label(labels::NODE) == Some(node))
            })
            .ok_or_else(|| EngineError::NodeMissing {
                node: node.to_string(),
                hint: format!(
                    "; run `{}` first",
                    crate::hint::command(&format!("up {}", self.env))
                ),
            })
    }

    /// The container's own address on the instance network, reachable from the host.
    pub fn network_address(c: &NodeInfo, network: &str, port: u16) -> Option<SocketAddr> {
        let ip: IpAddr = c.addresses.get(network)?.parse().ok()?;
        Some(SocketAddr::new(ip, port))
    }

    /// A host-reachable address for a container port: published on 127.0.0.1, or the
    /// container's address on the instance network.
    pub fn address_of(c: &NodeInfo, network: &str, port: u16) -> Option<SocketAddr> {
        if let Some((_, _, host)) = c
            .ports
            .iter()
            .find(|(private, proto, _)| *private == port && (proto.is_empty() || proto == "tcp"))
        {
            return Some(SocketAddr::from(([127, 0, 0, 1], *host)));
        }
        Self::network_address(c, network, port)
    }
}

impl InstanceView {
    /// A host-reachable address for `port` of `c`: [`InstanceView::address_of`] on an
    /// engine of this host; on a remote engine, the way to the container's address on
    /// `network` that the engine opens ([`Backend::reach`]). `None` when it has neither.
    ///
    /// # Errors
    /// Engine failures opening the way.
    pub async fn reachable(
        backend: &dyn Backend,
        c: &NodeInfo,
        network: &str,
        port: u16,
    ) -> Result<Option<SocketAddr>, EngineError> {
        if !backend.remote() {
            return Ok(Self::address_of(c, network, port));
        }
        match Self::network_address(c, network, port) {
            Some(addr) => backend.reach(network, addr).await.map(Some),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl NodeAccess for InstanceView {
    async fn exec(
        &self,
        node: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, EngineError> {
        let c = self.running(node)?;
        self.backend.exec(&c.id, command, &[], timeout).await
    }

    async fn exec_streaming(
        &self,
        node: &str,
        command: &[String],
        timeout: Duration,
        sink: &(dyn for<'b> Fn(&'b [u8]) + Send + Sync),
    ) -> Result<ExecOutput, EngineError> {
        let c = self.running(node)?;
        self.backend
            .exec_streaming(&c.id, command, &[], timeout, sink)
            .await
    }

    fn streams(&self) -> bool {
        true
    }

    async fn address(&self, node: &str, port: u16) -> Result<SocketAddr, EngineError> {
        let c = self.container(node)?;
        InstanceView::reachable(self.backend.as_ref(), c, &self.network, port)
            .await?
            .ok_or_else(|| {
            EngineError::Other(format!(
                "node `{node}` has no address for port {port} (not published and not on network {})",
                self.network
            ))
        })
    }
}
