//! The on-disk shape of `environments/NAME.toml`, exactly as users write it. Every table
//! rejects unknown keys; fields that later checks point at keep their position (`Spanned`).

use super::duration::NonZeroDuration;
use super::port::PortMapping;
use super::scalar::{CommandLine, EnvName, Scalar};
use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawEnvironment {
    pub description: Option<String>,
    pub extends: Option<Spanned<String>>,
    /// `"docker"` (default) or `"vagrant"`; see `engine_kind.rs`.
    pub engine: Option<Spanned<String>>,
    #[serde(default)]
    pub vars: BTreeMap<String, Scalar>,
    #[serde(default)]
    pub nodes: BTreeMap<Spanned<String>, Spanned<RawNode>>,
    /// Promotable services (blue-green behind a router); see `promotion.rs`.
    #[serde(default)]
    pub promote: BTreeMap<Spanned<String>, super::promotion::RawPromotion>,
    /// Services released by copying into a directory and repointing a symlink; see
    /// `symlink_release.rs`.
    #[serde(default)]
    pub releases: BTreeMap<Spanned<String>, super::symlink_release::RawSymlinkRelease>,
    /// Nodes taken from an Ansible inventory, one per host.
    pub inventory: Option<Spanned<RawInventory>>,
    /// Nodes taken from a compose file, one per service (see `model::compose`).
    pub compose: Option<Spanned<RawCompose>>,
    /// Values never shown in output (see `model::secrets`).
    #[serde(default)]
    pub secrets: BTreeMap<Spanned<String>, Spanned<super::secrets::RawSecret>>,
}

/// `compose = "docker-compose.yml"`, or a table with the file and the profiles to run.
#[derive(Debug, Clone)]
pub struct RawCompose {
    pub file: String,
    /// Services with `profiles` run only when one of theirs is listed here.
    pub profiles: Vec<String>,
}

impl<'de> Deserialize<'de> for RawCompose {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            file: String,
            #[serde(default)]
            profiles: Vec<String>,
        }
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawCompose;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a compose file (\"docker-compose.yml\") or a table with `file` and `profiles`",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawCompose, E> {
                Ok(RawCompose {
                    file: v.to_string(),
                    profiles: Vec::new(),
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawCompose, A::Error> {
                let t = Table::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(RawCompose {
                    file: t.file,
                    profiles: t.profiles,
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `[inventory]`: production's topology from an Ansible inventory file.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawInventory {
    /// INI or YAML inventory, relative to the project root (may be inherited).
    pub file: Option<Spanned<String>>,
    /// Hosts kept per group (the first N in the file); other groups keep all hosts.
    #[serde(default)]
    pub scale: BTreeMap<Spanned<String>, Spanned<u32>>,
    /// Settings every host's node starts from.
    pub node: Option<Spanned<RawNode>>,
    /// Settings added to the nodes of each group's hosts, in the inventory's group order.
    #[serde(default)]
    pub groups: BTreeMap<Spanned<String>, Spanned<RawNode>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub image: Option<Spanned<String>>,
    pub build: Option<Spanned<String>>,
    pub command: Option<CommandLine>,
    /// Replaces the image's entrypoint (`command` becomes its arguments).
    pub entrypoint: Option<CommandLine>,
    pub env: Option<BTreeMap<EnvName, Scalar>>,
    pub ports: Option<Vec<Spanned<PortMapping>>>,
    pub depends_on: Option<Vec<Spanned<String>>>,
    pub replicas: Option<Spanned<u32>>,
    pub health: Option<Spanned<RawHealth>>,
    pub provision: Option<Vec<Spanned<RawStep>>>,
    /// `"systemd"` boots systemd as PID 1; `"none"` (default) runs `command`.
    pub init: Option<Spanned<String>>,
    /// Ansible groups the node's hosts belong to, besides the group named after the node.
    pub groups: Option<Vec<Spanned<String>>>,
    /// Paths (prefixes) the idempotence check ignores on this node, besides the defaults.
    pub idempotence_ignore: Option<Vec<String>>,
    /// `true` runs the node's containers privileged (see `model::privileges`).
    pub privileged: Option<bool>,
    /// Linux capabilities added to the node's containers (`["NET_ADMIN"]`).
    pub capabilities: Option<Vec<Spanned<String>>>,
    /// Named volumes and project paths mounted in the node (see `model::mounts`).
    pub volumes: Option<Vec<Spanned<String>>>,
    /// Memory-backed directories (`"/run/cache:size=64m"`).
    pub tmpfs: Option<Vec<Spanned<String>>>,
    /// CPUs the node's containers may use (`0.5`).
    pub cpus: Option<Spanned<f64>>,
    /// Memory limit (`"64m"`); a process that exceeds it is killed.
    pub memory: Option<Spanned<String>>,
    /// Most processes at once.
    pub pids: Option<Spanned<u32>>,
    /// `"once"`: a job that runs to completion; `"always"` (default): a service.
    pub run: Option<Spanned<String>>,
    /// The engine restarts the node's containers when they exit: `"no"` (default),
    /// `"always"`, `"unless-stopped"`, `"on-failure"` or `"on-failure:N"`.
    pub restart: Option<Spanned<String>>,
    /// Files `up --watch` copies into the running node when they change, instead of
    /// provisioning again (application source).
    pub sync: Option<Vec<Spanned<RawSync>>>,
    /// Where on a swarm the node may run (`engine = "swarm"` only):
    /// `["node.hostname == m2"]`, every constraint holding (see `model::placement`).
    pub place: Option<Spanned<Vec<Spanned<String>>>>,
}

/// `sync = [{ from = "app", to = "/srv/app", then = "systemctl restart app" }]`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawSync {
    /// A file or directory of the project.
    pub from: Spanned<String>,
    /// Where it goes in the node (an absolute path).
    pub to: Spanned<String>,
    /// A command run in the node after each copy (`sh -c`).
    pub then: Option<String>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    pub http: Option<String>,
    pub tcp: Option<Spanned<u32>>,
    pub command: Option<CommandLine>,
    /// Expected HTTP status (default: any 2xx or 3xx).
    pub status: Option<u16>,
    pub interval: Option<NonZeroDuration>,
    pub timeout: Option<NonZeroDuration>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// Inline shell, or a script file when the value is a single path ending in `.sh`.
    pub shell: Option<Spanned<String>>,
    /// A script file from the project, copied into the node and run.
    pub script: Option<Spanned<String>>,
    /// Arguments passed to `script`.
    pub args: Option<Vec<String>>,
    /// A file or directory from the project, copied into the node at `to`.
    pub copy: Option<Spanned<String>>,
    /// A minijinja template rendered with the environment's `vars`, placed at `to`.
    pub template: Option<Spanned<String>>,
    /// An Ansible playbook run against the node.
    pub ansible: Option<Spanned<String>>,
    /// A Puppet manifest applied inside the node.
    pub puppet: Option<Spanned<String>>,
    /// Puppet module path for `puppet` (a project directory).
    pub modules: Option<Spanned<String>>,
    /// Vendored third-party Puppet modules for `puppet` (a project directory), second on
    /// the module path.
    pub vendor: Option<Spanned<String>>,
    /// The requirements file of an `ansible` step's roles and collections (a project
    /// path); by default those beside the playbook.
    pub requirements: Option<Spanned<String>>,
    /// A Salt state tree (a project directory) applied inside the node.
    pub salt: Option<Spanned<String>>,
    /// Salt pillar tree for `salt` (a project directory).
    pub pillar: Option<Spanned<String>>,
    /// States `salt` applies (`nginx`, `nginx,php`); the top file's highstate when absent.
    pub state: Option<Spanned<String>>,
    pub to: Option<String>,
    /// Octal file mode for `copy` and `template`, e.g. `"0644"`.
    pub mode: Option<Spanned<String>>,
    /// `user` or `user:group` for `template`.
    pub owner: Option<Spanned<String>>,
    /// `false` marks a step as deliberately not idempotent: the idempotence check skips it.
    pub idempotent: Option<bool>,
    /// A label shown in progress output and errors.
    pub name: Option<String>,
    pub timeout: Option<NonZeroDuration>,
}
