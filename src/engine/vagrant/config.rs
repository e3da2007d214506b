//! What the top-level `Vagrantfile` consumes: an environment turned into one machine per
//! node replica, with its provisioning steps mapped to Vagrant provisioners and its ports
//! to forwarded ports. `envctl vagrant-config ENV` prints it as JSON. Pure: no I/O.
//!
//! Step mapping (one Vagrant provisioner per envctl step, in order, so a failing step is
//! named the same way by both engines):
//! - `shell` -> `shell` with `inline`; `script` -> `shell` with `path` and `args`;
//! - `copy` -> `file` to a staging path, then `shell` moving it to `to` as root with
//!   `mode` (Vagrant uploads as the SSH user, who cannot write `/etc`).
//!
//! Later step kinds map to Vagrant's own provisioners of the same name (`ansible`
//! with `playbook`, `puppet` with `manifest_file`/`module_path`): add a [`Provisioner`]
//! variant and one `when` branch in the Vagrantfile.

use crate::model::{Environment, ImageSource, Node, StepKind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Version of the JSON shape; the Vagrantfile refuses shapes it does not know.
pub const FORMAT: u32 = 1;

/// Where copied files wait inside the machine before moving to their destination.
const STAGING: &str = "/tmp/envctl-provision";

/// Everything the Vagrantfile needs for one environment instance.
#[derive(Debug, Serialize)]
pub struct VagrantConfig {
    pub format: u32,
    pub environment: String,
    pub instance: String,
    pub machines: Vec<Machine>,
}

/// One Vagrant machine: a replica of a node.
#[derive(Debug, Serialize)]
pub struct Machine {
    /// Vagrant's machine name: the replica name (`web`, `web-2`).
    pub name: String,
    /// The node the replica belongs to (specs name nodes).
    pub node: String,
    pub hostname: String,
    /// Box for VM providers (libvirt, VirtualBox); see [`box_for`].
    #[serde(rename = "box")]
    pub vm_box: String,
    /// For the docker provider: an image reference, or an absolute build directory.
    pub image: Option<String>,
    pub build_dir: Option<String>,
    /// Docker provider: container name and labels, so the instance owns what it makes.
    pub container_name: String,
    pub labels: BTreeMap<String, String>,
    /// The node's command, started in the background after provisioning.
    pub command: Option<String>,
    pub env: BTreeMap<String, String>,
    pub ports: Vec<Port>,
    pub provision: Vec<Provisioner>,
}

/// A forwarded port on 127.0.0.1; `host` is `None` for "any free port".
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Port {
    pub guest: u16,
    pub host: Option<u16>,
    pub protocol: &'static str,
}

/// One Vagrant provisioner.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Provisioner {
    Shell {
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        inline: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        args: Vec<String>,
    },
    File {
        name: String,
        source: String,
        destination: String,
    },
}

/// The box a VM provider boots for an image reference: `ENVCTL_BOX` overrides it;
/// `debian:NAME` maps to the usual `debian/NAME64` boxes; anything else is taken as a
/// box name.
pub fn box_for(image: &ImageSource, overridden: Option<&str>) -> String {
    if let Some(b) = overridden.filter(|b| !b.is_empty()) {
        return b.to_string();
    }
    match image {
        ImageSource::Image(reference) => match reference.split_once(':') {
            Some(("debian", release)) => format!("debian/{release}64"),
            _ => reference.clone(),
        },
        ImageSource::Build(_) => "debian/bookworm64".to_string(),
    }
}

/// Builds the configuration of `env`'s instance `instance` (project at `root`).
pub fn build(
    env: &Environment,
    root: &Path,
    instance: &str,
    box_override: Option<&str>,
) -> VagrantConfig {
    let machines = env
        .nodes
        .values()
        .flat_map(|node| {
            node.replica_names()
                .into_iter()
                .map(|replica| machine(env, node, &replica, root, instance, box_override))
                .collect::<Vec<_>>()
        })
        .collect();
    VagrantConfig {
        format: FORMAT,
        environment: env.name.clone(),
        instance: instance.to_string(),
        machines,
    }
}

fn machine(
    env: &Environment,
    node: &Node,
    replica: &str,
    root: &Path,
    instance: &str,
    box_override: Option<&str>,
) -> Machine {
    let (image, build_dir) = match &node.image {
        ImageSource::Image(r) => (Some(r.clone()), None),
        ImageSource::Build(dir) => (None, Some(root.join(dir).display().to_string())),
    };
    let labels = BTreeMap::from([
        (
            crate::engine::labels::MANAGED.to_string(),
            "true".to_string(),
        ),
        (
            crate::engine::labels::ENVIRONMENT.to_string(),
            env.name.clone(),
        ),
        (
            crate::engine::labels::INSTANCE.to_string(),
            instance.to_string(),
        ),
        (crate::engine::labels::NODE.to_string(), node.name.clone()),
        (
            crate::engine::labels::REPLICA.to_string(),
            replica.to_string(),
        ),
        (
            crate::engine::labels::ROLE.to_string(),
            "vagrant".to_string(),
        ),
    ]);
    Machine {
        name: replica.to_string(),
        node: node.name.clone(),
        hostname: replica.to_string(),
        vm_box: box_for(&node.image, box_override),
        image,
        build_dir,
        container_name: format!("envctl-vagrant-{}-{instance}-{replica}", env.name),
        labels,
        command: node.command.as_ref().map(|c| shell_line(&c.0)),
        env: node.env.clone(),
        ports: node
            .ports
            .iter()
            .map(|p| Port {
                guest: p.container,
                host: p.host,
                protocol: match p.protocol {
                    crate::model::port::Protocol::Tcp => "tcp",
                    crate::model::port::Protocol::Udp => "udp",
                },
            })
            .collect(),
        provision: provisioners(node, root),
    }
}

/// The node's steps as Vagrant provisioners, in order.
pub fn provisioners(node: &Node, root: &Path) -> Vec<Provisioner> {
    let mut out = Vec::new();
    for (i, step) in node.provision.iter().enumerate() {
        let name = format!("{:02} {}", i + 1, step.label());
        match &step.kind {
            StepKind::Shell { command } => out.push(Provisioner::Shell {
                name,
                inline: Some(command.clone()),
                path: None,
                args: Vec::new(),
            }),
            StepKind::Script { path, args } => out.push(Provisioner::Shell {
                name,
                inline: None,
                path: Some(root.join(path).display().to_string()),
                args: args.clone(),
            }),
            StepKind::Copy { from, to, mode } => {
                let staged = format!("{STAGING}/{:02}", i + 1);
                out.push(Provisioner::File {
                    name: format!("{name} (upload)"),
                    source: root.join(from).display().to_string(),
                    destination: staged.clone(),
                });
                out.push(Provisioner::Shell {
                    name,
                    inline: Some(place(&staged, to, *mode)),
                    path: None,
                    args: Vec::new(),
                });
            }
        }
    }
    out
}

/// Shell that moves an uploaded file or directory to `to`, owned by root, with `mode`.
fn place(staged: &str, to: &str, mode: Option<u32>) -> String {
    let staged = quote(staged);
    let dest = quote(to);
    let mut s = format!(
        "set -e; mkdir -p \"$(dirname {dest})\"; rm -rf {dest}; mv {staged} {dest}; chown -R root:root {dest}"
    );
    if let Some(m) = mode {
        s.push_str(&format!("; chmod {m:o} {dest}"));
    }
    s
}

/// A command line as one shell string (`sh -c SCRIPT` stays SCRIPT).
pub fn shell_line(args: &[String]) -> String {
    match args {
        [sh, c, script] if sh == "sh" && c == "-c" => script.clone(),
        args => args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" "),
    }
}

/// Quotes `s` for a POSIX shell.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Step, StepKind};
    use std::path::PathBuf;

    fn node(steps: Vec<StepKind>) -> Node {
        Node {
            name: "web".into(),
            image: ImageSource::Image("debian:bookworm".into()),
            command: None,
            env: BTreeMap::new(),
            ports: Vec::new(),
            depends_on: Vec::new(),
            replicas: 1,
            health: None,
            provision: steps
                .into_iter()
                .map(|kind| Step {
                    kind,
                    name: None,
                    timeout: None,
                })
                .collect(),
        }
    }

    #[test]
    fn steps_map_in_order_and_copy_becomes_upload_then_move() {
        let n = node(vec![
            StepKind::Shell {
                command: "echo hi".into(),
            },
            StepKind::Script {
                path: PathBuf::from("provision/x.sh"),
                args: vec!["a b".into()],
            },
            StepKind::Copy {
                from: PathBuf::from("files/site.conf"),
                to: "/etc/site.conf".into(),
                mode: Some(0o644),
            },
        ]);
        let p = provisioners(&n, Path::new("/proj"));
        assert_eq!(p.len(), 4);
        assert!(matches!(&p[0], Provisioner::Shell { inline: Some(c), .. } if c == "echo hi"));
        assert!(matches!(&p[1],
            Provisioner::Shell { path: Some(path), args, .. }
                if path == "/proj/provision/x.sh" && args == &["a b".to_string()]));
        assert!(matches!(&p[2],
            Provisioner::File { source, destination, .. }
                if source == "/proj/files/site.conf" && destination == "/tmp/envctl-provision/03"));
        let Provisioner::Shell {
            inline: Some(mv), ..
        } = &p[3]
        else {
            panic!("{p:?}")
        };
        assert!(
            mv.contains("mv /tmp/envctl-provision/03 /etc/site.conf"),
            "{mv}"
        );
        assert!(mv.ends_with("chmod 644 /etc/site.conf"), "{mv}");
    }

    #[test]
    fn boxes_follow_the_image_unless_overridden() {
        let deb = ImageSource::Image("debian:bookworm".into());
        assert_eq!(box_for(&deb, None), "debian/bookworm64");
        assert_eq!(box_for(&deb, Some("local/bookworm")), "local/bookworm");
        assert_eq!(
            box_for(&ImageSource::Image("generic/alpine".into()), None),
            "generic/alpine"
        );
    }

    #[test]
    fn quote_leaves_plain_words_and_escapes_the_rest() {
        assert_eq!(quote("/etc/x.conf"), "/etc/x.conf");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
    }
}
