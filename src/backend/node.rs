//! What an engine creates and lists, in engine-neutral terms: the node an instance asks
//! for ([`NodeSpec`]), a node as observed ([`NodeInfo`]), images and filesystem changes.

use crate::model::port::PortMapping;
use std::collections::HashMap;

/// What envctl asks the engine to create for one node replica (a container, a machine).
#[derive(Debug, Clone, Default)]
pub struct NodeSpec {
    pub name: String,
    pub image: String,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    pub network: String,
    pub aliases: Vec<String>,
    pub hostname: String,
    pub ports: Vec<PortMapping>,
    /// Boot systemd as PID 1, confined as the engine's privileges say
    /// (docs/provisioning.md).
    pub systemd: bool,
    /// For systemd nodes: the image the boot helper runs from (the node's image before
    /// provisioning); `None` is `image` itself.
    pub boot_image: Option<String>,
    /// What the node asked for beyond the defaults.
    pub privileges: crate::model::Privileges,
    /// What the container mounts, as the engine sees it: a volume by its full name
    /// (the instance's), a project path by its absolute location.
    pub mounts: Vec<crate::model::mounts::Mount>,
    /// Limits of the container.
    pub resources: crate::model::resources::Resources,
    /// When the engine restarts the container after it exits.
    pub restart: crate::model::environment::Restart,
    /// Where on a swarm it may run (every constraint holding).
    pub place: Vec<crate::model::placement::Constraint>,
}

/// A node replica as the engine lists it (a container, a machine).
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub id: String,
    pub name: String,
    pub labels: HashMap<String, String>,
    pub running: bool,
    /// Engine's state word: created, running, exited...
    pub state: String,
    /// Engine's status text: "Up 3 seconds", "Exited (1) 2 seconds ago"...
    pub status: String,
    /// Published ports: (container port, protocol, host port).
    pub ports: Vec<(u16, String, u16)>,
    /// Address on each network, by network name.
    pub addresses: HashMap<String, String>,
    /// The id of the image the container runs.
    pub image_id: String,
    /// The machine it runs on, on an engine of several (a swarm's hostname).
    pub machine: Option<String>,
}

impl NodeInfo {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// The exit code of a container that has exited, from the engine's status text
    /// (`Exited (0) 3 seconds ago`).
    pub fn exit_code(&self) -> Option<i64> {
        if self.running {
            return None;
        }
        let rest = self.status.strip_prefix("Exited (")?;
        rest.split_once(')')?.0.parse().ok()
    }
}

/// How a container changed a path relative to its image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsChange {
    Added,
    Modified,
    Deleted,
}

/// An image as listed by the engine.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub id: String,
    pub tags: Vec<String>,
    pub labels: HashMap<String, String>,
    pub created: i64,
    pub size: i64,
}

/// The parts of an image's configuration envctl needs.
#[derive(Debug, Clone)]
pub struct ImageDetails {
    pub id: String,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
}

/// The init a node with `init = "systemd"` runs as its command.
pub const SYSTEMD_INIT: &str = "/sbin/init";

/// What a machine's steps printed when the idempotence check ran them a second time
/// (VM engines, which have no filesystem diff of their own to offer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineRun {
    /// The machine (replica) name.
    pub machine: String,
    /// The node it is a replica of.
    pub node: String,
    /// Every step run again, in order.
    pub steps: Vec<StepRun>,
    /// Labels of the steps not run again (`idempotent = false`).
    pub skipped: Vec<String>,
}

/// One step's second run on a machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRun {
    pub label: String,
    pub tool: StepTool,
    pub output: String,
}

/// Which tool ran a step, for reading its own report of what it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepTool {
    Ansible,
    Puppet,
    Other,
}
