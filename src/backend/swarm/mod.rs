//! A Docker Swarm as one engine (`engine = "swarm"`): the nodes of an instance are
//! containers spread over the swarm's machines, each created on its machine's own engine
//! and joined to one attachable overlay network per instance, where node names resolve
//! as on one machine. No swarm services: a service's tasks cannot be committed, diffed or
//! kept for a look inside, and their virtual IPs need IPVS; a container on an attachable
//! overlay is what `docker run --network` on any machine of a swarm gives.
//!
//! `DOCKER_HOST` names a manager; each other machine is reached at the endpoint its
//! swarm node's `io.envctl.engine` label names. Images go where a node needs them
//! without a registry: streamed from an engine that has them into the one that lacks
//! them (base images, built images, provisioned cache images alike). Host-side checks go
//! through the manager's probe container on the overlay.

use super::docker::relay::PROBE_IMAGE;
use super::docker::swarm_nodes::{SwarmMachine, ENGINE_LABEL};
use super::docker::Docker;
use super::engine::{Backend, Feature, Selector};
use super::labels;
use super::node::{FsChange, ImageDetails, ImageInfo, NodeInfo, NodeSpec};
use super::{EngineError, ExecOutput};
use crate::model::placement::{self, Machine};
use crate::model::{EngineKind, ImageSource};
use async_trait::async_trait;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// The swarm serves what one Docker Engine does.
pub const FEATURES: &[Feature] = &Feature::ALL;

/// One machine envctl places nodes on.
struct Member {
    facts: Machine,
    /// How tools reach its engine (`io.envctl.engine`); `None` for the manager, which
    /// is `DOCKER_HOST`.
    endpoint: Option<String>,
    docker: Docker,
    /// Held while an image is carried here, so two nodes needing it wait for one copy.
    carrying: tokio::sync::Mutex<()>,
}

/// The machines of a swarm, the manager first.
pub struct Swarm {
    members: Vec<Member>,
    /// Container id -> the member it runs on.
    placed: Mutex<HashMap<String, usize>>,
    /// (network, replica or node) -> the member chosen for it, so a node's provisioning
    /// and the node itself run on the same machine.
    chosen: Mutex<HashMap<(String, String), usize>>,
    /// Instance network -> the swarm's name of its overlay.
    overlays: Mutex<HashMap<String, String>>,
    /// (instance network, member) that have their anchor.
    anchored: tokio::sync::Mutex<std::collections::HashSet<(String, usize)>>,
}

/// The role label of an anchor: a container that keeps a machine attached to an instance
/// network for as long as the instance lives. A machine detaches from an attachable
/// overlay when its last container on it leaves (a provisioning container, removed once
/// committed); a container started while it does fails, and the engine then keeps the
/// failed attachment, so the network can never be removed.
pub const ROLE_ANCHOR: &str = "anchor";

/// Which machine takes a node: of those that meet `place`, one holding the fewest of the
/// instance's nodes; among equals a worker before a manager (managers keep the swarm
/// running), then in order. `None` when no machine meets `place`.
pub fn choose(
    place: &[placement::Constraint],
    machines: &[Machine],
    load: &[usize],
) -> Option<usize> {
    machines
        .iter()
        .enumerate()
        .filter(|(_, m)| placement::fits(place, m))
        .min_by_key(|(i, m)| (load.get(*i).copied().unwrap_or(0), m.role == "manager", *i))
        .map(|(i, _)| i)
}

/// The label on an overlay network naming the instance network it stands for.
const NETWORK_LABEL: &str = "io.envctl.network";

/// A swarm name for instance network `name`, new at each creation: a swarm object's name
/// must be one DNS name component (at most 63 of a-z, A-Z, 0-9, `-`, `_`), and instance
/// network names hold dots. A name is never used twice, because a swarm goes on resolving
/// a removed network's name for a while (a container then cannot attach to the new one);
/// envctl finds the network by its `io.envctl.network` label instead.
pub fn overlay_name(name: &str, nonce: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{name}\n{nonce}").as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let readable: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(50)
        .collect();
    format!("{readable}-{hex}")
}

/// A start that failed because the machine had not (yet, or any more) the instance
/// network: a network just made reaches the swarm's machines moments later.
fn gone_network(e: &EngineError) -> bool {
    let text = e.to_string();
    text.contains("network") && text.contains("not found")
}

/// Starts container `id` on `docker`, asking again while the network has not reached the
/// machine (for up to 10 s).
async fn start(docker: &Docker, id: &str, name: &str) -> Result<(), EngineError> {
    let mut tries = 0;
    loop {
        match docker.start(id, name).await {
            Err(e) if tries < 40 && gone_network(&e) => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => return other,
        }
    }
}

/// What a machine is, for a message: `m2 (worker, zone=a)`.
fn describe(m: &Machine) -> String {
    let mut labels: Vec<String> = m
        .labels
        .iter()
        .filter(|(k, _)| k.as_str() != ENGINE_LABEL)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    labels.sort();
    labels.insert(0, m.role.clone());
    format!("{} ({})", m.hostname, labels.join(", "))
}

impl Swarm {
    /// Connects to the manager `DOCKER_HOST` names and to every ready, active machine of
    /// its swarm that has an `io.envctl.engine` label. Machines without one are left
    /// out (said on stderr when `tell` is set).
    ///
    /// # Errors
    /// The manager cannot be reached or manages no swarm; a labelled machine's engine
    /// cannot be reached.
    pub async fn connect(tell: bool) -> Result<Swarm, EngineError> {
        let manager = Docker::connect().await?;
        Swarm::of(manager, tell).await
    }

    /// The swarm managed by the engine `manager` is connected to.
    ///
    /// # Errors
    /// As [`Swarm::connect`].
    pub async fn of(manager: Docker, tell: bool) -> Result<Swarm, EngineError> {
        let machines = manager.swarm_machines().await?;
        let manager = manager.as_swarm_manager();
        let mut members = Vec::new();
        for SwarmMachine {
            facts,
            endpoint,
            this,
            usable,
            state,
        } in machines
        {
            if !usable {
                if tell {
                    eprintln!(
                        "note: swarm machine `{}` is {state}: envctl places no node there",
                        facts.hostname
                    );
                }
                continue;
            }
            let (docker, endpoint) = if this {
                (manager.clone(), None)
            } else if let Some(endpoint) = endpoint {
                let docker = Docker::connect_to(&endpoint).await.map_err(|e| {
                    EngineError::Other(format!(
                        "swarm machine `{}` ({ENGINE_LABEL}={endpoint}): {e}",
                        facts.hostname
                    ))
                })?;
                (docker, Some(endpoint))
            } else {
                if tell {
                    eprintln!(
                        "note: swarm machine `{}` has no {ENGINE_LABEL} label naming its engine, so envctl places no node there (`docker node update --label-add {ENGINE_LABEL}=tcp://ADDR:2375 {}`)",
                        facts.hostname, facts.hostname
                    );
                }
                continue;
            };
            members.push(Member {
                facts,
                endpoint,
                docker,
                carrying: tokio::sync::Mutex::default(),
            });
        }
        Ok(Swarm {
            members,
            placed: Mutex::default(),
            chosen: Mutex::default(),
            overlays: Mutex::default(),
            anchored: tokio::sync::Mutex::default(),
        })
    }

    fn manager(&self) -> &Docker {
        &self.members[0].docker
    }

    fn facts(&self) -> Vec<Machine> {
        self.members.iter().map(|m| m.facts.clone()).collect()
    }

    /// The member that takes `spec`: the one chosen for its replica (or node) before,
    /// else a new choice.
    fn place(&self, spec: &NodeSpec) -> Result<usize, EngineError> {
        let who = spec
            .labels
            .get(labels::REPLICA)
            .or_else(|| spec.labels.get(labels::NODE))
            .cloned()
            .unwrap_or_else(|| spec.name.clone());
        let key = (spec.network.clone(), who.clone());
        let facts = self.facts();
        let mut chosen = self.chosen.lock().expect("not poisoned");
        if let Some(&i) = chosen.get(&key) {
            if placement::fits(&spec.place, &facts[i]) {
                return Ok(i);
            }
        }
        let mut load = vec![0; facts.len()];
        for ((network, _), &i) in chosen.iter() {
            if network == &spec.network {
                load[i] += 1;
            }
        }
        let Some(i) = choose(&spec.place, &facts, &load) else {
            let wanted: Vec<String> = spec.place.iter().map(ToString::to_string).collect();
            let machines: Vec<String> = facts.iter().map(describe).collect();
            return Err(EngineError::Other(format!(
                "no machine of the swarm meets `place` of node `{who}` ({}); the machines envctl places on: {}",
                wanted.join(", "),
                machines.join("; ")
            )));
        };
        chosen.insert(key, i);
        Ok(i)
    }

    fn record(&self, id: &str, member: usize) {
        self.placed
            .lock()
            .expect("not poisoned")
            .insert(id.to_string(), member);
    }

    /// The member that runs node `id`, asking each machine when this run did not place
    /// or list it.
    async fn locate(&self, id: &str) -> Result<&Member, EngineError> {
        let known = self.placed.lock().expect("not poisoned").get(id).copied();
        if let Some(i) = known {
            return Ok(&self.members[i]);
        }
        let mut last = None;
        for (i, m) in self.members.iter().enumerate() {
            match m.docker.state(id).await {
                Ok(_) => {
                    self.record(id, i);
                    return Ok(m);
                }
                Err(e) if e.is_lost() => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| EngineError::Other(format!("no container {id} on the swarm"))))
    }

    /// The overlays standing for instance networks: (id, swarm name, labels) by instance
    /// network, as the manager lists them.
    async fn overlays(
        &self,
        selector: &Selector,
    ) -> Result<Vec<(String, String, HashMap<String, String>)>, EngineError> {
        let mut all: Vec<(String, String, HashMap<String, String>)> = Vec::new();
        for (id, name, labels) in self.manager().list_networks(selector).await? {
            // A manager lists a swarm network it also has a copy of twice.
            if all.iter().any(|(seen, _, _)| seen == &id) {
                continue;
            }
            if let Some(instance) = labels.get(NETWORK_LABEL) {
                self.overlays
                    .lock()
                    .expect("not poisoned")
                    .insert(instance.clone(), name.clone());
            }
            all.push((id, name, labels));
        }
        Ok(all)
    }

    /// The swarm's name of instance network `network`'s overlay.
    ///
    /// # Errors
    /// No such network on the swarm, or engine failures.
    async fn overlay(&self, network: &str) -> Result<String, EngineError> {
        let known = self
            .overlays
            .lock()
            .expect("not poisoned")
            .get(network)
            .cloned();
        if let Some(name) = known {
            return Ok(name);
        }
        let selector = HashMap::from([(
            "label".to_string(),
            vec![format!("{NETWORK_LABEL}={network}")],
        )]);
        self.overlays(&selector)
            .await?
            .into_iter()
            .next()
            .map(|(_, name, _)| name)
            .ok_or_else(|| EngineError::Other(format!("no network {network} on the swarm")))
    }

    /// Keeps member `i` attached to instance network `network` (see [`ROLE_ANCHOR`]): a
    /// sleeping container of the local base, labelled as the network is, so `down` and
    /// `gc` remove it with the instance.
    async fn anchor(&self, i: usize, network: &str) -> Result<(), EngineError> {
        let mut anchored = self.anchored.lock().await;
        let key = (network.to_string(), i);
        if anchored.contains(&key) {
            return Ok(());
        }
        let overlay = self.overlay(network).await?;
        let mut labels = self
            .overlays(&HashMap::from([(
                "name".to_string(),
                vec![overlay.clone()],
            )]))
            .await?
            .into_iter()
            .find(|(_, n, _)| n == &overlay)
            .map(|(_, _, labels)| labels)
            .ok_or_else(|| EngineError::Other(format!("no network {overlay} on the swarm")))?;
        labels.insert(labels::ROLE.into(), ROLE_ANCHOR.into());
        let member = &self.members[i];
        let name = format!("{network}-anchor");
        let existing = member
            .docker
            .list_containers(&HashMap::from([(
                "name".to_string(),
                vec![format!("^/{name}$")],
            )]))
            .await?;
        let id = match existing.into_iter().next() {
            Some(c) if c.running => None,
            Some(c) => Some(c.id),
            None => {
                let base = Backend::prepare_image(
                    self.manager(),
                    Path::new("."),
                    &ImageSource::Image(PROBE_IMAGE.into()),
                    &|_| {},
                )
                .await?;
                self.bring(member, &base.id).await?;
                let spec = NodeSpec {
                    name: name.clone(),
                    image: base.id,
                    entrypoint: Some(vec!["sleep".into()]),
                    cmd: Some(vec!["infinity".into()]),
                    labels,
                    network: overlay,
                    hostname: "envctl-anchor".into(),
                    ..NodeSpec::default()
                };
                Some(member.docker.create_container(&spec).await?)
            }
        };
        if let Some(id) = id {
            self.record(&id, i);
            if let Err(e) = start(&member.docker, &id, &name).await {
                let _ = member.docker.remove_container(&id).await;
                return Err(e);
            }
        }
        anchored.insert(key);
        Ok(())
    }

    /// Makes sure image `reference` is on `member`, carrying it from a machine that has it.
    async fn bring(&self, member: &Member, reference: &str) -> Result<(), EngineError> {
        if member.docker.image(reference).await?.is_some() {
            return Ok(());
        }
        let _one_at_a_time = member.carrying.lock().await;
        if member.docker.image(reference).await?.is_some() {
            return Ok(());
        }
        for other in &self.members {
            if std::ptr::eq(other, member) || other.docker.image(reference).await?.is_none() {
                continue;
            }
            return other
                .docker
                .carry_images(&member.docker, &[reference.to_string()])
                .await;
        }
        Err(EngineError::ImageMissing {
            image: reference.to_string(),
            reason: "no machine of the swarm has it".into(),
            hint: "envctl prepares images on the manager (DOCKER_HOST); load it there (`envctl image load`, `docker load`)".into(),
        })
    }
}

#[async_trait]
impl Backend for Swarm {
    fn kind(&self) -> EngineKind {
        EngineKind::Swarm
    }

    async fn settled(&self) {
        for m in &self.members {
            m.docker.settled().await;
        }
    }

    fn remote(&self) -> bool {
        // The overlay is not routed here, even from a manager on this host.
        true
    }

    fn tool_endpoint(&self) -> Option<String> {
        Backend::tool_endpoint(self.manager())
    }

    fn tool_endpoint_for(&self, id: &str) -> Option<String> {
        let known = self.placed.lock().expect("not poisoned").get(id).copied();
        let member = &self.members[known.unwrap_or(0)];
        Backend::tool_endpoint(&member.docker).or_else(|| member.endpoint.clone())
    }

    async fn reach(
        &self,
        network: &str,
        target: std::net::SocketAddr,
    ) -> Result<std::net::SocketAddr, EngineError> {
        let overlay = self.overlay(network).await?;
        self.manager().reach(&overlay, target).await
    }

    async fn prepare_image(
        &self,
        root: &Path,
        source: &ImageSource,
        note: &(dyn for<'n> Fn(&'n str) + Sync),
    ) -> Result<ImageDetails, EngineError> {
        Backend::prepare_image(self.manager(), root, source, note).await
    }

    async fn find_image(
        &self,
        root: &Path,
        source: &ImageSource,
    ) -> Result<Result<ImageDetails, String>, EngineError> {
        Backend::find_image(self.manager(), root, source).await
    }

    async fn find_systemd_image(
        &self,
        base: &ImageDetails,
    ) -> Result<Option<ImageDetails>, EngineError> {
        Backend::find_systemd_image(self.manager(), base).await
    }

    async fn prepare_systemd_image(
        &self,
        base: &ImageDetails,
        network: &str,
        labels: HashMap<String, String>,
        note: &(dyn for<'n> Fn(&'n str) + Sync),
    ) -> Result<ImageDetails, EngineError> {
        let overlay = self.overlay(network).await?;
        Backend::prepare_systemd_image(self.manager(), base, &overlay, labels, note).await
    }

    async fn image(&self, reference: &str) -> Result<Option<ImageDetails>, EngineError> {
        for m in &self.members {
            if let Some(found) = m.docker.image(reference).await? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    async fn list_images(&self, labels: Vec<String>) -> Result<Vec<ImageInfo>, EngineError> {
        let mut all: Vec<ImageInfo> = Vec::new();
        for m in &self.members {
            for image in m.docker.list_images(labels.clone()).await? {
                if !all.iter().any(|i| i.id == image.id) {
                    all.push(image);
                }
            }
        }
        Ok(all)
    }

    async fn remove_image(&self, reference: &str) -> Result<(), EngineError> {
        for m in &self.members {
            m.docker.remove_image(reference).await?;
        }
        Ok(())
    }

    async fn remove_image_unless_used(&self, id: &str) -> Result<bool, EngineError> {
        let mut removed = true;
        for m in &self.members {
            removed &= m.docker.remove_image_unless_used(id).await?;
        }
        Ok(removed)
    }

    async fn export_images(
        &self,
        references: &[String],
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<(), EngineError> {
        // Gathered on the manager, then written as one archive.
        for reference in references {
            self.bring(&self.members[0], reference).await?;
        }
        Backend::export_images(self.manager(), references, out).await
    }

    async fn snapshot(
        &self,
        id: &str,
        reference: &str,
        labels: HashMap<String, String>,
        cmd: Option<Vec<String>>,
        entrypoint: Option<Vec<String>>,
    ) -> Result<String, EngineError> {
        let m = self.locate(id).await?;
        m.docker
            .commit(id, reference, labels, cmd, entrypoint)
            .await
    }

    async fn ensure_network(
        &self,
        name: &str,
        mut labels: HashMap<String, String>,
    ) -> Result<(), EngineError> {
        labels.insert(NETWORK_LABEL.into(), name.into());
        // Asked afresh: another envctl may have removed (or made) it meanwhile.
        self.overlays.lock().expect("not poisoned").remove(name);
        if self.overlay(name).await.is_err() {
            let nonce = format!(
                "{}.{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos()
            );
            let overlay = overlay_name(name, &nonce);
            self.manager().ensure_network(&overlay, labels).await?;
            self.overlays
                .lock()
                .expect("not poisoned")
                .insert(name.to_string(), overlay);
        }
        // Every machine stays attached from the start: containers come and go on them
        // (provisioning, the systemd image's derivation) before any node runs there.
        let anchors =
            futures_util::future::join_all((0..self.members.len()).map(|i| self.anchor(i, name)));
        anchors.await.into_iter().collect()
    }

    async fn list_networks(
        &self,
        selector: &Selector,
    ) -> Result<Vec<(String, String, HashMap<String, String>)>, EngineError> {
        // Overlay networks are the swarm's: its manager lists them all, each by the
        // instance network it stands for.
        let mut selector = selector.clone();
        if let Some(names) = selector.remove("name") {
            let labels = selector.entry("label".to_string()).or_default();
            labels.extend(names.iter().map(|n| format!("{NETWORK_LABEL}={n}")));
        }
        Ok(self
            .overlays(&selector)
            .await?
            .into_iter()
            .map(|(id, name, labels)| {
                let name = labels.get(NETWORK_LABEL).cloned().unwrap_or(name);
                (id, name, labels)
            })
            .collect())
    }

    async fn remove_network(&self, id: &str) -> Result<(), EngineError> {
        self.manager().remove_network(id).await?;
        self.overlays.lock().expect("not poisoned").clear();
        // Every machine (the manager too) drops its own copy moments later; `down`
        // returns once they have (for up to 10 s), so that nothing is left on any machine
        // when it says so, and a next `up` does not find the network being removed.
        let selector = HashMap::from([("id".to_string(), vec![id.to_string()])]);
        for m in &self.members {
            for _ in 0..40 {
                if m.docker.list_networks(&selector).await?.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        Ok(())
    }

    async fn ensure_volume(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), EngineError> {
        // Volumes are each machine's own; made (labelled) wherever a node may land.
        for m in &self.members {
            m.docker.ensure_volume(name, labels.clone()).await?;
        }
        Ok(())
    }

    async fn list_volumes(
        &self,
        selector: &Selector,
    ) -> Result<Vec<(String, HashMap<String, String>)>, EngineError> {
        let mut all: Vec<(String, HashMap<String, String>)> = Vec::new();
        for m in &self.members {
            for v in m.docker.list_volumes(selector).await? {
                if !all.iter().any(|(name, _)| name == &v.0) {
                    all.push(v);
                }
            }
        }
        Ok(all)
    }

    async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        for m in &self.members {
            m.docker.remove_volume(name).await?;
        }
        Ok(())
    }

    async fn create_node(&self, spec: &NodeSpec) -> Result<String, EngineError> {
        let i = self.place(spec)?;
        self.anchor(i, &spec.network).await?;
        let member = &self.members[i];
        self.bring(member, &spec.image).await?;
        if let Some(boot) = &spec.boot_image {
            self.bring(member, boot).await?;
        }
        let spec = NodeSpec {
            network: self.overlay(&spec.network).await?,
            ..spec.clone()
        };
        let id = member.docker.create_container(&spec).await?;
        self.record(&id, i);
        Ok(id)
    }

    async fn start_node(&self, id: &str, name: &str) -> Result<(), EngineError> {
        start(&self.locate(id).await?.docker, id, name).await
    }

    async fn wait_booted(&self, id: &str, timeout: Duration) -> Result<(), EngineError> {
        let m = self.locate(id).await?;
        Backend::wait_booted(&m.docker, id, timeout).await
    }

    async fn stop_node(&self, id: &str, grace_secs: i32) -> Result<(), EngineError> {
        self.locate(id).await?.docker.stop(id, grace_secs).await
    }

    async fn remove_node(&self, id: &str) -> Result<(), EngineError> {
        match self.locate(id).await {
            Ok(m) => m.docker.remove_container(id).await,
            // Gone from every machine already.
            Err(e) if !e.is_lost() => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn interactive(&self, id: &str, command: &[String]) -> Result<i64, EngineError> {
        self.locate(id).await?.docker.interactive(id, command).await
    }

    async fn rename_node(&self, id: &str, name: &str) -> Result<(), EngineError> {
        self.locate(id)
            .await?
            .docker
            .rename_container(id, name)
            .await
    }

    async fn list_nodes(&self, selector: &Selector) -> Result<Vec<NodeInfo>, EngineError> {
        let managed = HashMap::from([(
            "label".to_string(),
            vec![format!("{}=true", labels::MANAGED)],
        )]);
        let instance_of: HashMap<String, String> = self
            .overlays(&managed)
            .await?
            .into_iter()
            .filter_map(|(_, name, labels)| Some((name, labels.get(NETWORK_LABEL)?.clone())))
            .collect();
        let mut all = Vec::new();
        for (i, m) in self.members.iter().enumerate() {
            for mut node in m.docker.list_containers(selector).await? {
                self.record(&node.id, i);
                // Addresses by instance network, as on one engine.
                node.addresses = std::mem::take(&mut node.addresses)
                    .into_iter()
                    .map(|(network, address)| {
                        let instance = instance_of.get(&network).cloned();
                        (instance.unwrap_or(network), address)
                    })
                    .collect();
                if let (Some(network), Some(who)) = (
                    node.addresses.keys().next().cloned(),
                    node.label(labels::REPLICA).map(str::to_string),
                ) {
                    self.chosen
                        .lock()
                        .expect("not poisoned")
                        .entry((network, who))
                        .or_insert(i);
                }
                node.machine = Some(m.facts.hostname.clone());
                all.push(node);
            }
        }
        Ok(all)
    }

    async fn node_state(&self, id: &str) -> Result<(bool, Option<i64>), EngineError> {
        self.locate(id).await?.docker.state(id).await
    }

    async fn changes(&self, id: &str) -> Result<Vec<(String, FsChange)>, EngineError> {
        self.locate(id).await?.docker.changes(id).await
    }

    async fn exec(
        &self,
        id: &str,
        command: &[String],
        env: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, EngineError> {
        self.locate(id)
            .await?
            .docker
            .exec(id, command, env, timeout)
            .await
    }

    async fn exec_streaming(
        &self,
        id: &str,
        command: &[String],
        env: &[String],
        timeout: Duration,
        sink: &(dyn for<'b> Fn(&'b [u8]) + Send + Sync),
    ) -> Result<ExecOutput, EngineError> {
        self.locate(id)
            .await?
            .docker
            .exec_streaming(id, command, env, timeout, sink)
            .await
    }

    async fn upload(&self, id: &str, dir: &str, tar: Vec<u8>) -> Result<(), EngineError> {
        self.locate(id).await?.docker.upload(id, dir, tar).await
    }

    fn logs(
        &self,
        id: &str,
        follow: bool,
        tail: Option<usize>,
    ) -> BoxStream<'_, Result<String, EngineError>> {
        let id = id.to_string();
        futures_util::stream::once(async move {
            let member = self.locate(&id).await;
            (member, id)
        })
        .flat_map(move |(member, id)| match member {
            Ok(m) => m.docker.logs(&id, follow, tail).boxed(),
            Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
        })
        .boxed()
    }

    async fn inspect(&self, id: &str) -> Result<serde_json::Value, EngineError> {
        let m = self.locate(id).await?;
        let mut value = m.docker.inspect(id).await?;
        if let Some(object) = value.as_object_mut() {
            object.insert(
                "EnvctlMachine".into(),
                serde_json::Value::from(m.facts.hostname.clone()),
            );
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(hostname: &str, role: &str, zone: &str) -> Machine {
        Machine {
            hostname: hostname.into(),
            role: role.into(),
            labels: HashMap::from([("zone".to_string(), zone.to_string())]),
            ..Machine::default()
        }
    }

    fn constraints(list: &[&str]) -> Vec<placement::Constraint> {
        list.iter().map(|c| c.parse().unwrap()).collect()
    }

    #[test]
    fn overlay_names_are_one_dns_component_and_never_the_same_twice() {
        let long = format!("envctl-{}.{}.0123abcd", "e".repeat(48), "i".repeat(32));
        for name in ["envctl-two.default.34ebd31f", long.as_str()] {
            let overlay = overlay_name(name, "1");
            assert!(overlay.len() <= 63, "{overlay}");
            assert!(overlay
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        }
        assert!(overlay_name("envctl-two.default.34ebd31f", "1")
            .starts_with("envctl-two_default_34ebd31f-"));
        assert_ne!(
            overlay_name("envctl-a.b.1", "1"),
            overlay_name("envctl-a_b.1", "1")
        );
        assert_ne!(
            overlay_name("envctl-a.b.1", "1"),
            overlay_name("envctl-a.b.1", "2")
        );
        let (x, y) = (format!("{long}x"), format!("{long}y"));
        assert_ne!(overlay_name(&x, "1"), overlay_name(&y, "1"));
    }

    #[test]
    fn nodes_spread_over_the_machines_workers_first() {
        let machines = [
            machine("m1", "manager", "a"),
            machine("m2", "worker", "b"),
            machine("m3", "worker", "b"),
        ];
        assert_eq!(choose(&[], &machines, &[0, 0, 0]), Some(1));
        assert_eq!(choose(&[], &machines, &[0, 1, 0]), Some(2));
        assert_eq!(choose(&[], &machines, &[0, 1, 1]), Some(0));
        assert_eq!(choose(&[], &machines, &[1, 1, 1]), Some(1));
        assert_eq!(choose(&[], &machines, &[3, 1, 2]), Some(1));
        assert_eq!(choose(&[], &machines[..1], &[7]), Some(0));
    }

    #[test]
    fn a_constraint_picks_the_machines_that_meet_it_and_none_when_none_does() {
        let machines = [machine("m1", "manager", "a"), machine("m2", "worker", "b")];
        let zone_a = constraints(&["node.labels.zone == a"]);
        assert_eq!(choose(&zone_a, &machines, &[5, 0]), Some(0));
        let worker = constraints(&["node.role != manager"]);
        assert_eq!(choose(&worker, &machines, &[0, 9]), Some(1));
        let nowhere = constraints(&["node.hostname == m3"]);
        assert_eq!(choose(&nowhere, &machines, &[0, 0]), None);
    }

    #[test]
    fn a_machine_is_described_by_name_role_and_labels_but_not_its_endpoint() {
        let mut m = machine("m2", "worker", "b");
        m.labels
            .insert(ENGINE_LABEL.into(), "tcp://10.0.0.2:2375".into());
        assert_eq!(describe(&m), "m2 (worker, zone=b)");
    }
}
