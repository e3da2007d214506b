//! The seam between envctl and an engine: [`Backend`] is everything the lifecycle of an
//! instance needs (images, network, nodes, exec and upload, logs, snapshots and their
//! diff), and [`Feature`] what an engine may lack. Callers hold an `Arc<dyn Backend>`,
//! chosen once per command, and refuse a feature the engine does not declare.

use super::node::{FsChange, ImageDetails, ImageInfo, NodeInfo, NodeSpec};
use super::{EngineError, ExecOutput};
use crate::model::{EngineKind, ImageSource};
use async_trait::async_trait;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// Label (and id) filters selecting objects, in the engine's `key=value` form:
/// `{"label": ["io.envctl.instance=default", ...]}`.
pub type Selector = HashMap<String, Vec<String>>;

/// A feature some engine cannot serve. Each verb or flag that needs one asks
/// [`Backend::require`] before anything is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// Provisioned nodes kept as images and reused (the cache; `--no-cache` skips it).
    ProvisionCache,
    /// `envctl provision`: provisioned images built without starting nodes.
    ProvisionOnly,
    /// The idempotence check (`test`, `provision --check-idempotence`).
    Idempotence,
    /// `envctl promote` / `rollback`: colours behind a router.
    Promotion,
    /// `envctl gc`: objects left by dead runs.
    Gc,
    /// `envctl image`: the engine's image store.
    Images,
    /// `logs --follow`.
    FollowLogs,
    /// `logs --provision` / `--idempotence`: the kept output of provisioning.
    ProvisionLogs,
    /// `--artifacts DIR`: a failure bundle with each node's output and the engine's
    /// own description of it.
    Artifacts,
    /// `up --dry-run`, `test --dry-run`: the plan, found by looking at the engine.
    Plan,
    /// `up --watch`, `test --watch`: re-provisioning changed nodes, `sync` rules.
    Watch,
    /// `--incremental`: changed steps run on top of the node's previous provisioning.
    Incremental,
}

impl Feature {
    /// Every feature, for tables and tests.
    pub const ALL: [Feature; 12] = [
        Feature::ProvisionCache,
        Feature::ProvisionOnly,
        Feature::Idempotence,
        Feature::Promotion,
        Feature::Gc,
        Feature::Images,
        Feature::FollowLogs,
        Feature::ProvisionLogs,
        Feature::Artifacts,
        Feature::Plan,
        Feature::Watch,
        Feature::Incremental,
    ];
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Feature::ProvisionCache => "the provisioning cache (--no-cache)",
            Feature::ProvisionOnly => "`envctl provision`",
            Feature::Idempotence => "the idempotence check",
            Feature::Promotion => "promotion (`promote`, `rollback`)",
            Feature::Gc => "`envctl gc`",
            Feature::Images => "`envctl image`",
            Feature::FollowLogs => "`logs --follow`",
            Feature::ProvisionLogs => "`logs --provision` / `--idempotence`",
            Feature::Artifacts => "the failure bundle (`--artifacts`)",
            Feature::Plan => "the plan (`--dry-run`)",
            Feature::Watch => "watching (`--watch`)",
            Feature::Incremental => "incremental provisioning (`--incremental`)",
        })
    }
}

/// A feature the chosen engine does not serve: invalid input (exit 2), refused before
/// anything is created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {engine} engine does not support {feature}; run it with `--engine docker` (or `engine = \"docker\"`), or leave it out (docs/vms.md lists what each engine serves)")]
pub struct Unsupported {
    pub engine: EngineKind,
    pub feature: Feature,
}

/// What the engine of `kind` serves, known before connecting to it, so a refusal comes
/// before anything is touched. Each engine's folder declares its list.
pub fn features_of(kind: EngineKind) -> &'static [Feature] {
    match kind {
        EngineKind::Docker => super::docker::FEATURES,
        EngineKind::Vagrant => super::vagrant::FEATURES,
        EngineKind::Qemu => super::qemu::FEATURES,
        EngineKind::Swarm => super::swarm::FEATURES,
    }
}

/// Refuses `feature` unless the engine of `kind` serves it.
///
/// # Errors
/// [`Unsupported`] naming the engine and the feature.
pub fn require(kind: EngineKind, feature: Feature) -> Result<(), Unsupported> {
    if features_of(kind).contains(&feature) {
        Ok(())
    } else {
        Err(Unsupported {
            engine: kind,
            feature,
        })
    }
}

/// One engine: what an instance's lifecycle asks of it. Node ids are the engine's own
/// (a container id, a machine name); names are what users see.
#[async_trait]
pub trait Backend: Send + Sync {
    /// Which engine this is.
    fn kind(&self) -> EngineKind;

    /// The features this engine serves.
    fn features(&self) -> &'static [Feature] {
        features_of(self.kind())
    }

    /// Refuses `feature` unless this engine serves it.
    ///
    /// # Errors
    /// [`Unsupported`] naming the engine and the feature.
    fn require(&self, feature: Feature) -> Result<(), Unsupported> {
        require(self.kind(), feature)
    }

    /// Waits until no creation of this connection is in flight, so that cleanup finds
    /// everything a dropped run made.
    async fn settled(&self);

    /// Whether the engine runs on another machine: its published ports and its networks
    /// cannot be reached from here, so host-side checks go through [`Backend::reach`].
    fn remote(&self) -> bool {
        false
    }

    /// The `DOCKER_HOST` that tools envctl runs against the engine (ansible-playbook's
    /// Docker connection) must use, when it is not the one envctl was given: a local
    /// socket that leads to an engine reached over ssh.
    fn tool_endpoint(&self) -> Option<String> {
        None
    }

    /// The `DOCKER_HOST` of the engine that runs node `id`, for tools (as
    /// [`Backend::tool_endpoint`]): on a swarm, the machine the node was placed on.
    fn tool_endpoint_for(&self, _id: &str) -> Option<String> {
        self.tool_endpoint()
    }

    /// A local address that leads to `target`, an address on the instance `network`:
    /// `target` itself where the engine runs on this host.
    ///
    /// # Errors
    /// Engine failures setting up the way there.
    async fn reach(
        &self,
        _network: &str,
        target: std::net::SocketAddr,
    ) -> Result<std::net::SocketAddr, EngineError> {
        Ok(target)
    }

    // --- images ---

    /// Makes sure the image a node starts from exists (present, pulled, bootstrapped
    /// or built); returns its details.
    ///
    /// # Errors
    /// [`EngineError::ImageMissing`] with what to do, or build/bootstrap failures.
    async fn prepare_image(
        &self,
        root: &Path,
        source: &ImageSource,
        note: &(dyn for<'n> Fn(&'n str) + Sync),
    ) -> Result<ImageDetails, EngineError>;

    /// What [`Backend::prepare_image`] would return, without making anything: the image
    /// when present, else how it would be made (`up --dry-run`).
    ///
    /// # Errors
    /// Engine failures, or a build context that cannot be read.
    async fn find_image(
        &self,
        root: &Path,
        source: &ImageSource,
    ) -> Result<Result<ImageDetails, String>, EngineError>;

    /// The image [`Backend::prepare_systemd_image`] would return for `base`, `None` when
    /// it would have to derive it first.
    ///
    /// # Errors
    /// Engine failures.
    async fn find_systemd_image(
        &self,
        base: &ImageDetails,
    ) -> Result<Option<ImageDetails>, EngineError>;

    /// The image `base` with systemd as its init (`init = "systemd"`), derived once.
    ///
    /// # Errors
    /// Engine failures, or an image systemd cannot be added to.
    async fn prepare_systemd_image(
        &self,
        base: &ImageDetails,
        network: &str,
        labels: HashMap<String, String>,
        note: &(dyn for<'n> Fn(&'n str) + Sync),
    ) -> Result<ImageDetails, EngineError>;

    /// Details of a local image, `None` when absent.
    ///
    /// # Errors
    /// Engine failures.
    async fn image(&self, reference: &str) -> Result<Option<ImageDetails>, EngineError>;

    /// Images carrying all of `labels` (`key` or `key=value`).
    ///
    /// # Errors
    /// Engine failures.
    async fn list_images(&self, labels: Vec<String>) -> Result<Vec<ImageInfo>, EngineError>;

    /// Removes an image; absent is not an error.
    ///
    /// # Errors
    /// Engine failures.
    async fn remove_image(&self, reference: &str) -> Result<(), EngineError>;

    /// Removes an image unless a node uses it; `false` when one does.
    ///
    /// # Errors
    /// Engine failures.
    async fn remove_image_unless_used(&self, id: &str) -> Result<bool, EngineError>;

    /// Writes the images `references` to `out` as one archive the engine can load
    /// again (`envctl image save`).
    ///
    /// # Errors
    /// Engine failures, or `out` refusing the bytes.
    async fn export_images(
        &self,
        references: &[String],
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<(), EngineError>;

    /// Keeps node `id`'s filesystem as image `reference` (the provisioning cache),
    /// restoring `cmd` and `entrypoint`; returns the image id.
    ///
    /// # Errors
    /// Engine failures.
    async fn snapshot(
        &self,
        id: &str,
        reference: &str,
        labels: HashMap<String, String>,
        cmd: Option<Vec<String>>,
        entrypoint: Option<Vec<String>>,
    ) -> Result<String, EngineError>;

    // --- network ---

    /// Creates the instance network unless it exists.
    ///
    /// # Errors
    /// Engine failures.
    async fn ensure_network(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), EngineError>;

    /// Networks matching `selector`: (id, name, labels).
    ///
    /// # Errors
    /// Engine failures.
    async fn list_networks(
        &self,
        selector: &Selector,
    ) -> Result<Vec<(String, String, HashMap<String, String>)>, EngineError>;

    /// Removes a network; absent is not an error.
    ///
    /// # Errors
    /// Engine failures (still in use...).
    async fn remove_network(&self, id: &str) -> Result<(), EngineError>;

    // --- volumes ---

    /// Creates the named volume unless it exists.
    ///
    /// # Errors
    /// Engine failures.
    async fn ensure_volume(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), EngineError>;

    /// Volumes matching `selector`: (name, labels).
    ///
    /// # Errors
    /// Engine failures.
    async fn list_volumes(
        &self,
        selector: &Selector,
    ) -> Result<Vec<(String, HashMap<String, String>)>, EngineError>;

    /// Removes a volume and its data; absent is not an error.
    ///
    /// # Errors
    /// Engine failures (still in use...).
    async fn remove_volume(&self, name: &str) -> Result<(), EngineError>;

    // --- nodes ---

    /// Creates (without starting) one node replica; returns its id.
    ///
    /// # Errors
    /// Engine failures (name taken, port in use...).
    async fn create_node(&self, spec: &NodeSpec) -> Result<String, EngineError>;

    /// Starts a created node.
    ///
    /// # Errors
    /// Engine failures.
    async fn start_node(&self, id: &str, name: &str) -> Result<(), EngineError>;

    /// Waits until the init system of a node booted with systemd has started its units.
    ///
    /// # Errors
    /// It did not within `timeout`.
    async fn wait_booted(&self, id: &str, timeout: Duration) -> Result<(), EngineError>;

    /// Stops a node, keeping it to start again; stopped already is not an error.
    ///
    /// # Errors
    /// Engine failures.
    async fn stop_node(&self, id: &str, grace_secs: i32) -> Result<(), EngineError>;

    /// Removes a node, running or not; gone already is not an error.
    ///
    /// # Errors
    /// Engine failures.
    async fn remove_node(&self, id: &str) -> Result<(), EngineError>;

    /// Runs `command` in a node attached to envctl's standard input and output (a TTY
    /// when stdin is a terminal) until it exits; its exit code. `envctl shell`.
    ///
    /// # Errors
    /// Engine failures.
    async fn interactive(&self, id: &str, command: &[String]) -> Result<i64, EngineError>;

    /// Gives a node a new name (a failed step's node kept for a look inside).
    ///
    /// # Errors
    /// Engine failures, a name already taken among them.
    async fn rename_node(&self, id: &str, name: &str) -> Result<(), EngineError>;

    /// The nodes (and provisioning nodes) matching `selector`, running or not.
    ///
    /// # Errors
    /// Engine failures.
    async fn list_nodes(&self, selector: &Selector) -> Result<Vec<NodeInfo>, EngineError>;

    /// Whether a node runs, and its exit code when it stopped.
    ///
    /// # Errors
    /// Engine failures, including "no such node".
    async fn node_state(&self, id: &str) -> Result<(bool, Option<i64>), EngineError>;

    /// The paths a node changed since the image (snapshot) it started from.
    ///
    /// # Errors
    /// Engine failures.
    async fn changes(&self, id: &str) -> Result<Vec<(String, FsChange)>, EngineError>;

    // --- into nodes ---

    /// Runs a command in a node with extra environment `env`, within `timeout`.
    ///
    /// # Errors
    /// Engine failures and [`EngineError::ExecTimeout`].
    async fn exec(
        &self,
        id: &str,
        command: &[String],
        env: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, EngineError> {
        self.exec_streaming(id, command, env, timeout, &|_| {})
            .await
    }

    /// Like [`Backend::exec`], handing stdout to `sink` as it arrives.
    ///
    /// # Errors
    /// As [`Backend::exec`].
    async fn exec_streaming(
        &self,
        id: &str,
        command: &[String],
        env: &[String],
        timeout: Duration,
        sink: &(dyn for<'b> Fn(&'b [u8]) + Send + Sync),
    ) -> Result<ExecOutput, EngineError>;

    /// Extracts a tar archive into directory `dir` of a node.
    ///
    /// # Errors
    /// Engine failures (`dir` missing...).
    async fn upload(&self, id: &str, dir: &str, tar: Vec<u8>) -> Result<(), EngineError>;

    /// A node's output (its command's stdout and stderr) as text chunks.
    fn logs(
        &self,
        id: &str,
        follow: bool,
        tail: Option<usize>,
    ) -> BoxStream<'_, Result<String, EngineError>>;

    /// The last `lines` lines of a node's output, for error messages.
    async fn log_tail(&self, id: &str, lines: usize) -> String {
        let chunks: Vec<String> = self
            .logs(id, false, Some(lines))
            .filter_map(|c| async move { c.ok() })
            .collect()
            .await;
        chunks.concat()
    }

    /// The engine's own description of a node (for a container, what `docker inspect`
    /// shows), for the failure bundle. It may hold secrets: callers redact it.
    ///
    /// # Errors
    /// Engine failures, including "no such node".
    async fn inspect(&self, id: &str) -> Result<serde_json::Value, EngineError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_serves_every_feature_and_vm_engines_refuse_what_they_lack() {
        for f in Feature::ALL {
            assert_eq!(require(EngineKind::Docker, f), Ok(()), "{f}");
        }
        assert!(require(EngineKind::Vagrant, Feature::Promotion).is_err());
        assert!(require(EngineKind::Qemu, Feature::Images).is_err());
    }

    #[test]
    fn an_unsupported_feature_names_engine_and_feature() {
        let e = Unsupported {
            engine: EngineKind::Qemu,
            feature: Feature::Promotion,
        };
        let text = e.to_string();
        assert!(text.contains("qemu engine"), "{text}");
        assert!(text.contains("promotion"), "{text}");
    }
}
