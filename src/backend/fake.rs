//! An engine held in memory, for fast unit tests of orchestration (`up`, `down`, `gc`,
//! promotion's flow, faults). It keeps images, networks and nodes as the labels and
//! states a real engine would report, records every request that changes something, and
//! can be told to fail a request or to answer an exec. It proves logic only: the engine
//! suites under `tests/` prove that real engines work.

use super::engine::{Backend, Selector};
use super::node::{FsChange, ImageDetails, ImageInfo, NodeInfo, NodeSpec};
use super::{EngineError, ExecOutput};
use crate::model::{EngineKind, ImageSource};
use async_trait::async_trait;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct FakeNode {
    pub spec: NodeSpec,
    pub running: bool,
    pub exit_code: Option<i64>,
    /// Files uploaded into it: (dir, archive size).
    pub uploads: Vec<(String, usize)>,
}

#[derive(Debug, Clone)]
struct FakeImage {
    details: ImageDetails,
    tags: Vec<String>,
    labels: HashMap<String, String>,
}

/// An exec answer: commands whose text contains `matches` (on nodes whose name
/// contains `node`) get `exit_code` and `stdout`.
#[derive(Debug, Clone)]
pub struct ExecRule {
    pub node: String,
    pub matches: String,
    pub exit_code: i64,
    pub stdout: String,
}

#[derive(Default)]
struct State {
    images: BTreeMap<String, FakeImage>,
    networks: BTreeMap<String, (String, HashMap<String, String>)>,
    volumes: BTreeMap<String, HashMap<String, String>>,
    nodes: BTreeMap<String, FakeNode>,
    next: usize,
    calls: Vec<String>,
    /// (request, name fragment, message): that request fails for names containing it.
    failures: Vec<(String, String, String)>,
    /// Nodes whose name contains one of these exit as soon as they start.
    exits: Vec<String>,
    rules: Vec<ExecRule>,
    changes: Vec<(String, FsChange)>,
    logs: String,
}

/// The engine in memory. Every image reference is "pullable": preparing one that is
/// absent adds it (and records `pull REF`).
#[derive(Default)]
pub struct Fake {
    state: Mutex<State>,
}

impl Fake {
    pub fn new() -> Fake {
        Fake::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().expect("not poisoned"))
    }

    /// The requests that changed something, in order (`create NAME`, `start NAME`,
    /// `remove NAME`, `pull REF`, `snapshot REF`, `network NAME`, `network- NAME`,
    /// `exec NAME: COMMAND`).
    pub fn calls(&self) -> Vec<String> {
        self.with(|s| s.calls.clone())
    }

    /// Forgets the recorded requests.
    pub fn clear_calls(&self) {
        self.with(|s| s.calls.clear());
    }

    /// The nodes it holds, by name.
    pub fn nodes(&self) -> BTreeMap<String, FakeNode> {
        self.with(|s| {
            s.nodes
                .values()
                .map(|n| (n.spec.name.clone(), n.clone()))
                .collect()
        })
    }

    /// The names of its networks.
    pub fn networks(&self) -> Vec<String> {
        self.with(|s| s.networks.values().map(|(n, _)| n.clone()).collect())
    }

    /// The names of its volumes.
    pub fn volumes(&self) -> Vec<String> {
        self.with(|s| s.volumes.keys().cloned().collect())
    }

    /// Whether an image with this reference (tag or id) exists.
    pub fn has_image(&self, reference: &str) -> bool {
        self.with(|s| find_image(s, reference).is_some())
    }

    /// Adds an image under `reference`.
    pub fn add_image(&self, reference: &str) -> String {
        self.with(|s| add_image(s, reference, HashMap::new(), None, None))
    }

    /// Makes `request` (`create`, `start`, `remove`, `exec`, `snapshot`, `network`,
    /// `list`, `pull`) fail for names containing `fragment`.
    pub fn fail(&self, request: &str, fragment: &str, message: &str) {
        self.with(|s| {
            s.failures
                .push((request.into(), fragment.into(), message.into()));
        });
    }

    /// Nodes whose name contains `fragment` exit with code 1 right after starting.
    pub fn exit_on_start(&self, fragment: &str) {
        self.with(|s| s.exits.push(fragment.into()));
    }

    /// Stops a running node as if its process ended with `code`.
    pub fn kill(&self, name: &str, code: i64) {
        self.with(|s| {
            for n in s.nodes.values_mut().filter(|n| n.spec.name == name) {
                n.running = false;
                n.exit_code = Some(code);
            }
        });
    }

    /// Sets label `key` of every node and network whose name contains `fragment` (to
    /// age a run, or hand it to an owner that is gone).
    pub fn relabel(&self, fragment: &str, key: &str, value: &str) {
        self.with(|s| {
            for n in s
                .nodes
                .values_mut()
                .filter(|n| n.spec.name.contains(fragment))
            {
                n.spec.labels.insert(key.into(), value.into());
            }
            for (name, labels) in s.networks.values_mut() {
                if name.contains(fragment) {
                    labels.insert(key.into(), value.into());
                }
            }
            for (name, labels) in s.volumes.iter_mut() {
                if name.contains(fragment) {
                    labels.insert(key.into(), value.into());
                }
            }
        });
    }

    /// Answers execs whose command contains `matches` on nodes named with `node`.
    pub fn answer(&self, node: &str, matches: &str, exit_code: i64, stdout: &str) {
        self.with(|s| {
            s.rules.push(ExecRule {
                node: node.into(),
                matches: matches.into(),
                exit_code,
                stdout: stdout.into(),
            });
        });
    }

    /// What [`Backend::changes`] reports for every node.
    pub fn set_changes(&self, changes: Vec<(String, FsChange)>) {
        self.with(|s| s.changes = changes);
    }

    /// What every node's output reads.
    pub fn set_logs(&self, text: &str) {
        self.with(|s| s.logs = text.into());
    }
}

fn failure(s: &State, request: &str, name: &str) -> Result<(), EngineError> {
    match s
        .failures
        .iter()
        .find(|(r, fragment, _)| r == request && name.contains(fragment.as_str()))
    {
        Some((_, _, message)) => Err(EngineError::Other(message.clone())),
        None => Ok(()),
    }
}

fn find_image<'a>(s: &'a State, reference: &str) -> Option<&'a FakeImage> {
    s.images
        .values()
        .find(|i| i.details.id == reference || i.tags.iter().any(|t| t == reference))
}

fn add_image(
    s: &mut State,
    reference: &str,
    labels: HashMap<String, String>,
    cmd: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
) -> String {
    s.next += 1;
    let id = format!("sha256:{:064x}", s.next);
    // The reference moves to the new image, as a tag does.
    for image in s.images.values_mut() {
        image.tags.retain(|t| t != reference);
    }
    s.images.insert(
        id.clone(),
        FakeImage {
            details: ImageDetails {
                id: id.clone(),
                cmd,
                entrypoint,
            },
            tags: vec![reference.to_string()],
            labels,
        },
    );
    id
}

/// Whether `labels` (or the id, or the image) satisfy every filter of `selector`.
fn selected(
    selector: &Selector,
    id: &str,
    name: &str,
    labels: &HashMap<String, String>,
    image: Option<&str>,
) -> bool {
    selector.iter().all(|(kind, values)| match kind.as_str() {
        "label" => values.iter().all(|filter| match filter.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|l| l == v),
            None => labels.contains_key(filter),
        }),
        "id" => values.iter().any(|v| v == id),
        "name" => values.iter().any(|v| name.contains(v.as_str())),
        "ancestor" => image.is_some_and(|i| values.iter().any(|v| v == i)),
        _ => false,
    })
}

fn info(n: &FakeNode, id: &str, s: &State) -> NodeInfo {
    let image_id = find_image(s, &n.spec.image)
        .map(|i| i.details.id.clone())
        .unwrap_or_else(|| n.spec.image.clone());
    NodeInfo {
        id: id.to_string(),
        name: n.spec.name.clone(),
        labels: n.spec.labels.clone(),
        running: n.running,
        state: if n.running { "running" } else { "exited" }.into(),
        status: match (n.running, n.exit_code) {
            (true, _) => "Up".into(),
            (false, Some(code)) => format!("Exited ({code})"),
            (false, None) => "Created".into(),
        },
        // Fixed host ports are "published" as the spec asks (a test may serve them).
        ports: n
            .spec
            .ports
            .iter()
            .filter_map(|p| {
                let proto = match p.protocol {
                    crate::model::port::Protocol::Tcp => "tcp",
                    crate::model::port::Protocol::Udp => "udp",
                };
                p.host.map(|host| (p.container, proto.to_string(), host))
            })
            .collect(),
        addresses: HashMap::from([(n.spec.network.clone(), "10.0.0.2".to_string())]),
        image_id,
        machine: None,
    }
}

#[async_trait]
impl Backend for Fake {
    fn kind(&self) -> EngineKind {
        EngineKind::Docker
    }

    async fn settled(&self) {}

    async fn prepare_image(
        &self,
        root: &Path,
        source: &ImageSource,
        _note: &(dyn for<'n> Fn(&'n str) + Sync),
    ) -> Result<ImageDetails, EngineError> {
        let reference = reference_of(root, source);
        self.with(|s| {
            failure(s, "pull", &reference)?;
            if find_image(s, &reference).is_none() {
                s.calls.push(format!("pull {reference}"));
                add_image(s, &reference, HashMap::new(), None, None);
            }
            Ok(find_image(s, &reference)
                .expect("just added")
                .details
                .clone())
        })
    }

    async fn find_image(
        &self,
        root: &Path,
        source: &ImageSource,
    ) -> Result<Result<ImageDetails, String>, EngineError> {
        let reference = reference_of(root, source);
        Ok(self.with(|s| {
            find_image(s, &reference)
                .map(|i| i.details.clone())
                .ok_or_else(|| "absent: pulled".to_string())
        }))
    }

    async fn find_systemd_image(
        &self,
        base: &ImageDetails,
    ) -> Result<Option<ImageDetails>, EngineError> {
        let tag = format!("systemd:{}", base.id);
        Ok(self.with(|s| find_image(s, &tag).map(|i| i.details.clone())))
    }

    async fn prepare_systemd_image(
        &self,
        base: &ImageDetails,
        _network: &str,
        _labels: HashMap<String, String>,
        _note: &(dyn for<'n> Fn(&'n str) + Sync),
    ) -> Result<ImageDetails, EngineError> {
        let tag = format!("systemd:{}", base.id);
        Ok(self.with(|s| {
            if find_image(s, &tag).is_none() {
                s.calls.push(format!("derive {tag}"));
                add_image(s, &tag, HashMap::new(), None, None);
            }
            find_image(s, &tag).expect("just added").details.clone()
        }))
    }

    async fn image(&self, reference: &str) -> Result<Option<ImageDetails>, EngineError> {
        Ok(self.with(|s| find_image(s, reference).map(|i| i.details.clone())))
    }

    async fn list_images(&self, labels: Vec<String>) -> Result<Vec<ImageInfo>, EngineError> {
        let selector = HashMap::from([("label".to_string(), labels)]);
        Ok(self.with(|s| {
            s.images
                .values()
                .filter(|i| selected(&selector, &i.details.id, "", &i.labels, None))
                .map(|i| ImageInfo {
                    id: i.details.id.clone(),
                    tags: if i.tags.is_empty() {
                        vec!["<none>:<none>".into()]
                    } else {
                        i.tags.clone()
                    },
                    labels: i.labels.clone(),
                    created: 0,
                    size: 0,
                })
                .collect()
        }))
    }

    async fn remove_image(&self, reference: &str) -> Result<(), EngineError> {
        self.with(|s| {
            if let Some(id) = find_image(s, reference).map(|i| i.details.id.clone()) {
                s.calls.push(format!("remove image {reference}"));
                s.images.remove(&id);
            }
        });
        Ok(())
    }

    async fn remove_image_unless_used(&self, id: &str) -> Result<bool, EngineError> {
        let used = self.with(|s| {
            s.nodes
                .values()
                .any(|n| find_image(s, &n.spec.image).is_some_and(|i| i.details.id == id))
        });
        if used {
            return Ok(false);
        }
        self.remove_image(id).await?;
        Ok(true)
    }

    async fn export_images(
        &self,
        references: &[String],
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<(), EngineError> {
        use tokio::io::AsyncWriteExt;
        out.write_all(references.join("\n").as_bytes())
            .await
            .map_err(|e| EngineError::Other(e.to_string()))
    }

    async fn snapshot(
        &self,
        id: &str,
        reference: &str,
        labels: HashMap<String, String>,
        cmd: Option<Vec<String>>,
        entrypoint: Option<Vec<String>>,
    ) -> Result<String, EngineError> {
        self.with(|s| {
            failure(s, "snapshot", reference)?;
            if !s.nodes.contains_key(id) {
                return Err(EngineError::Other(format!("no such node {id}")));
            }
            s.calls.push(format!("snapshot {reference}"));
            Ok(add_image(s, reference, labels, cmd, entrypoint))
        })
    }

    async fn ensure_network(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), EngineError> {
        self.with(|s| {
            failure(s, "network", name)?;
            if !s.networks.values().any(|(n, _)| n == name) {
                s.next += 1;
                let id = format!("net{}", s.next);
                s.calls.push(format!("network {name}"));
                s.networks.insert(id, (name.to_string(), labels));
            }
            Ok(())
        })
    }

    async fn list_networks(
        &self,
        selector: &Selector,
    ) -> Result<Vec<(String, String, HashMap<String, String>)>, EngineError> {
        Ok(self.with(|s| {
            s.networks
                .iter()
                .filter(|(id, (name, labels))| selected(selector, id, name, labels, None))
                .map(|(id, (name, labels))| (id.clone(), name.clone(), labels.clone()))
                .collect()
        }))
    }

    async fn remove_network(&self, id: &str) -> Result<(), EngineError> {
        self.with(|s| {
            let Some((name, _)) = s.networks.get(id).cloned() else {
                return Ok(());
            };
            if s.nodes.values().any(|n| n.spec.network == name) {
                return Err(EngineError::Other(format!(
                    "network {name} has active endpoints"
                )));
            }
            s.calls.push(format!("network- {name}"));
            s.networks.remove(id);
            Ok(())
        })
    }

    async fn ensure_volume(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), EngineError> {
        self.with(|s| {
            failure(s, "volume", name)?;
            if !s.volumes.contains_key(name) {
                s.calls.push(format!("volume {name}"));
                s.volumes.insert(name.to_string(), labels);
            }
            Ok(())
        })
    }

    async fn list_volumes(
        &self,
        selector: &Selector,
    ) -> Result<Vec<(String, HashMap<String, String>)>, EngineError> {
        Ok(self.with(|s| {
            s.volumes
                .iter()
                .filter(|(name, labels)| selected(selector, name, name, labels, None))
                .map(|(name, labels)| (name.clone(), labels.clone()))
                .collect()
        }))
    }

    async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        self.with(|s| {
            let used = s.nodes.values().any(|n| {
                n.spec.mounts.iter().any(
                    |m| matches!(m, crate::model::mounts::Mount::Volume { name: v, .. } if v == name),
                )
            });
            if used {
                return Err(EngineError::Other(format!("volume {name} is in use")));
            }
            if s.volumes.remove(name).is_some() {
                s.calls.push(format!("volume- {name}"));
            }
            Ok(())
        })
    }

    async fn create_node(&self, spec: &NodeSpec) -> Result<String, EngineError> {
        self.with(|s| {
            failure(s, "create", &spec.name)?;
            if s.nodes.values().any(|n| n.spec.name == spec.name) {
                return Err(EngineError::Other(format!(
                    "the name {} is already in use",
                    spec.name
                )));
            }
            if find_image(s, &spec.image).is_none() {
                return Err(EngineError::Other(format!("no such image {}", spec.image)));
            }
            s.next += 1;
            let id = format!("node{}", s.next);
            s.calls.push(format!("create {}", spec.name));
            s.nodes.insert(
                id.clone(),
                FakeNode {
                    spec: spec.clone(),
                    running: false,
                    exit_code: None,
                    uploads: vec![],
                },
            );
            Ok(id)
        })
    }

    async fn start_node(&self, id: &str, name: &str) -> Result<(), EngineError> {
        self.with(|s| {
            failure(s, "start", name)?;
            let exits = s.exits.iter().any(|f| name.contains(f.as_str()));
            let node = s
                .nodes
                .get_mut(id)
                .ok_or_else(|| EngineError::Other(format!("no such node {name}")))?;
            node.running = !exits;
            node.exit_code = exits.then_some(1);
            s.calls.push(format!("start {name}"));
            Ok(())
        })
    }

    async fn wait_booted(&self, _id: &str, _timeout: Duration) -> Result<(), EngineError> {
        Ok(())
    }

    async fn stop_node(&self, id: &str, _grace_secs: i32) -> Result<(), EngineError> {
        self.with(|s| {
            if let Some(n) = s.nodes.get_mut(id) {
                n.running = false;
                n.exit_code = Some(0);
                let name = n.spec.name.clone();
                s.calls.push(format!("stop {name}"));
            }
        });
        Ok(())
    }

    async fn remove_node(&self, id: &str) -> Result<(), EngineError> {
        self.with(|s| {
            let Some(name) = s.nodes.get(id).map(|n| n.spec.name.clone()) else {
                return Ok(());
            };
            failure(s, "remove", &name)?;
            s.calls.push(format!("remove {name}"));
            s.nodes.remove(id);
            Ok(())
        })
    }

    async fn interactive(&self, id: &str, command: &[String]) -> Result<i64, EngineError> {
        self.with(|s| {
            s.calls.push(format!("shell {id} {}", command.join(" ")));
            Ok(0)
        })
    }

    async fn rename_node(&self, id: &str, name: &str) -> Result<(), EngineError> {
        self.with(|s| {
            if s.nodes.values().any(|n| n.spec.name == name) {
                return Err(EngineError::Other(format!("the name {name} is taken")));
            }
            let node = s
                .nodes
                .get_mut(id)
                .ok_or_else(|| EngineError::Other(format!("no node {id}")))?;
            s.calls.push(format!("rename {} {name}", node.spec.name));
            node.spec.name = name.to_string();
            Ok(())
        })
    }

    async fn list_nodes(&self, selector: &Selector) -> Result<Vec<NodeInfo>, EngineError> {
        self.with(|s| {
            failure(s, "list", "")?;
            Ok(s.nodes
                .iter()
                .filter(|(id, n)| {
                    let image = find_image(s, &n.spec.image).map(|i| i.details.id.as_str());
                    selected(selector, id, &n.spec.name, &n.spec.labels, image)
                })
                .map(|(id, n)| info(n, id, s))
                .collect())
        })
    }

    async fn node_state(&self, id: &str) -> Result<(bool, Option<i64>), EngineError> {
        self.with(|s| {
            s.nodes
                .get(id)
                .map(|n| (n.running, n.exit_code))
                .ok_or_else(|| EngineError::Other(format!("no such node {id}")))
        })
    }

    async fn changes(&self, _id: &str) -> Result<Vec<(String, FsChange)>, EngineError> {
        Ok(self.with(|s| s.changes.clone()))
    }

    async fn exec_streaming(
        &self,
        id: &str,
        command: &[String],
        _env: &[String],
        _timeout: Duration,
        sink: &(dyn for<'b> Fn(&'b [u8]) + Send + Sync),
    ) -> Result<ExecOutput, EngineError> {
        let text = command.join(" ");
        let answer = self.with(|s| {
            let name = s
                .nodes
                .get(id)
                .filter(|n| n.running)
                .map(|n| n.spec.name.clone())
                .ok_or_else(|| EngineError::Other(format!("node {id} is not running")))?;
            failure(s, "exec", &name)?;
            s.calls.push(format!("exec {name}: {text}"));
            Ok::<_, EngineError>(
                s.rules
                    .iter()
                    .rev()
                    .find(|r| name.contains(r.node.as_str()) && text.contains(r.matches.as_str()))
                    .map_or((0, String::new()), |r| (r.exit_code, r.stdout.clone())),
            )
        })?;
        sink(answer.1.as_bytes());
        Ok(ExecOutput {
            exit_code: answer.0,
            stdout: answer.1,
            stderr: String::new(),
        })
    }

    async fn upload(&self, id: &str, dir: &str, tar: Vec<u8>) -> Result<(), EngineError> {
        self.with(|s| {
            let node = s
                .nodes
                .get_mut(id)
                .ok_or_else(|| EngineError::Other(format!("no such node {id}")))?;
            node.uploads.push((dir.to_string(), tar.len()));
            Ok(())
        })
    }

    fn logs(
        &self,
        _id: &str,
        _follow: bool,
        _tail: Option<usize>,
    ) -> BoxStream<'_, Result<String, EngineError>> {
        let text = self.with(|s| s.logs.clone());
        futures_util::stream::iter([Ok(text)]).boxed()
    }

    async fn inspect(&self, id: &str) -> Result<serde_json::Value, EngineError> {
        self.with(|s| {
            s.nodes
                .get(id)
                .map(|n| serde_json::json!({ "Name": n.spec.name, "Env": n.spec.env }))
                .ok_or_else(|| EngineError::Other(format!("no such node {id}")))
        })
    }
}

fn reference_of(root: &Path, source: &ImageSource) -> String {
    match source {
        ImageSource::Image(r) => r.clone(),
        ImageSource::Build(dir) => format!("build:{}", root.join(dir).display()),
    }
}
