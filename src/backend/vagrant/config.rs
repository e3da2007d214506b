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
//! - `template` -> rendered here with the environment's `vars`, then a `shell` step
//!   writing it with its mode and owner;
//! - `ansible` -> Vagrant's `ansible` provisioner (playbook, the node's groups, `vars`
//!   as extra vars); `puppet` -> Vagrant's `puppet` provisioner (manifest, modules).

use crate::model::{Environment, ImageSource, Node, StepKind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Version of the JSON shape; the Vagrantfile refuses shapes it does not know.
pub const FORMAT: u32 = 1;

/// Set (to `1`) when envctl itself drives Vagrant: `envctl vagrant-config` then
/// describes the machines only ([`Machine::machine_only`]), and envctl's step runner
/// runs the steps and starts the command over SSH, as on every engine. Unset (a plain
/// `vagrant up`), the Vagrantfile maps the steps to Vagrant's provisioners.
pub const MACHINES_ONLY_VAR: &str = "ENVCTL_MACHINES_ONLY";

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
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
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
    /// Vagrant's `ansible` provisioner: ansible-playbook on the host against the machine.
    Ansible {
        name: String,
        playbook: String,
        groups: Vec<String>,
        extra_vars: BTreeMap<String, String>,
    },
    /// Vagrant's `puppet` provisioner: `puppet apply` in the machine.
    Puppet {
        name: String,
        manifests_path: String,
        manifest_file: String,
        module_path: Option<String>,
    },
}

impl Machine {
    /// The machine without its provisioners and command: what Vagrant makes when envctl
    /// runs the steps itself.
    pub fn machine_only(&mut self) {
        self.provision.clear();
        self.command = None;
    }
}

impl Provisioner {
    /// The tool that runs it, for reading its report of what it changed.
    pub fn tool(&self) -> crate::backend::node::StepTool {
        use crate::backend::node::StepTool;
        match self {
            Provisioner::Ansible { .. } => StepTool::Ansible,
            Provisioner::Puppet { .. } => StepTool::Puppet,
            Provisioner::Shell { .. } | Provisioner::File { .. } => StepTool::Other,
        }
    }

    /// The step's name (number and label).
    pub fn name(&self) -> &str {
        match self {
            Provisioner::Shell { name, .. }
            | Provisioner::File { name, .. }
            | Provisioner::Ansible { name, .. }
            | Provisioner::Puppet { name, .. } => name,
        }
    }
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
            crate::backend::labels::MANAGED.to_string(),
            "true".to_string(),
        ),
        (
            crate::backend::labels::ENVIRONMENT.to_string(),
            env.name.clone(),
        ),
        (
            crate::backend::labels::INSTANCE.to_string(),
            instance.to_string(),
        ),
        (crate::backend::labels::NODE.to_string(), node.name.clone()),
        (
            crate::backend::labels::REPLICA.to_string(),
            replica.to_string(),
        ),
        (
            crate::backend::labels::ROLE.to_string(),
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
        container_name: format!("envctl-vagrant-{}.{instance}.{replica}", env.name),
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
        provision: provisioners(env, node, root),
    }
}

/// The node's steps as Vagrant provisioners, in order.
pub fn provisioners(env: &Environment, node: &Node, root: &Path) -> Vec<Provisioner> {
    let mut out = Vec::new();
    for (i, step) in node.provision.iter().enumerate() {
        let name = step.numbered_label(i + 1);
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
            StepKind::Template {
                from,
                to,
                mode,
                owner,
            } => {
                let ctx = crate::model::template::TemplateContext {
                    vars: &env.vars,
                    node: &node.name,
                    groups: node.ansible_groups(),
                };
                let inline = match crate::model::template::render(root, from, &ctx) {
                    Ok(text) => write_file(&text, to, mode.unwrap_or(0o644), owner.as_deref()),
                    // Definitions are validated before this; a template that still
                    // fails to render fails its step, named like every other.
                    Err(e) => format!("echo {} >&2; exit 1", quote(&e.to_string())),
                };
                out.push(Provisioner::Shell {
                    name,
                    inline: Some(inline),
                    path: None,
                    args: Vec::new(),
                });
            }
            StepKind::Ansible { playbook, .. } => out.push(Provisioner::Ansible {
                name,
                playbook: root.join(playbook).display().to_string(),
                groups: node.ansible_groups(),
                extra_vars: env.vars.clone(),
            }),
            StepKind::Puppet {
                manifest, modules, ..
            } => {
                let manifest = root.join(manifest);
                out.push(Provisioner::Puppet {
                    name,
                    manifests_path: manifest.parent().unwrap_or(root).display().to_string(),
                    manifest_file: manifest
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    module_path: modules.as_ref().map(|m| root.join(m).display().to_string()),
                });
            }
            StepKind::Salt {
                states,
                pillar,
                state,
            } => {
                let staged = format!("{STAGING}/{:02}", i + 1);
                let mut call = format!(
                    "{} --local --retcode-passthrough --file-root={staged}/states",
                    crate::backend::salt::salt_call()
                );
                out.push(Provisioner::File {
                    name: format!("{name} (upload states)"),
                    source: root.join(states).display().to_string(),
                    destination: format!("{staged}/states"),
                });
                if let Some(p) = pillar {
                    out.push(Provisioner::File {
                        name: format!("{name} (upload pillar)"),
                        source: root.join(p).display().to_string(),
                        destination: format!("{staged}/pillar"),
                    });
                    call.push_str(&format!(" --pillar-root={staged}/pillar"));
                }
                call.push_str(" state.apply");
                if let Some(s) = state {
                    call.push_str(&format!(" {s}"));
                }
                out.push(Provisioner::Shell {
                    name,
                    inline: Some(format!(
                        "set -e\nsh -c {}\n{call}",
                        quote(&crate::backend::salt::install_script())
                    )),
                    path: None,
                    args: Vec::new(),
                });
            }
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

/// Shell that writes `text` at `to` with `mode` (and `owner`).
fn write_file(text: &str, to: &str, mode: u32, owner: Option<&str>) -> String {
    let dest = quote(to);
    let mut s = format!(
        "set -e; mkdir -p \"$(dirname {dest})\"; printf '%s' {} > {dest}; chmod {mode:o} {dest}",
        quote(text)
    );
    if let Some(o) = owner {
        s.push_str(&format!("; chown {} {dest}", quote(o)));
    }
    s
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
            entrypoint: None,
            env: BTreeMap::new(),
            ports: Vec::new(),
            depends_on: Vec::new(),
            replicas: 1,
            health: None,
            init: Default::default(),
            groups: Vec::new(),
            host_vars: BTreeMap::new(),
            idempotence_ignore: Vec::new(),
            privileges: Default::default(),
            mounts: Vec::new(),
            conditions: BTreeMap::new(),
            resources: Default::default(),
            restart: Default::default(),
            run: Default::default(),
            container_keys: Vec::new(),
            sync: Vec::new(),
            place: Vec::new(),
            place_at: None,
            provision: steps
                .into_iter()
                .map(|kind| Step {
                    kind,
                    name: None,
                    timeout: None,
                    idempotent: true,
                    at: None,
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
        let p = provisioners(&env(), &n, Path::new("/proj"));
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

    fn env() -> Environment {
        Environment {
            name: "e".into(),
            description: None,
            vars: BTreeMap::from([("greeting".to_string(), "hi".to_string())]),
            nodes: BTreeMap::new(),
            files: Vec::new(),
            ancestors: Vec::new(),
            promotions: BTreeMap::new(),
            ..Default::default()
        }
    }

    #[test]
    fn ansible_and_puppet_steps_map_to_vagrants_provisioners() {
        let n = node(vec![
            StepKind::Ansible {
                playbook: PathBuf::from("ansible/site.yml"),
                requirements: None,
                dependencies: Default::default(),
            },
            StepKind::Puppet {
                manifest: PathBuf::from("puppet/manifests/site.pp"),
                modules: Some(PathBuf::from("puppet/modules")),
                vendor: None,
            },
        ]);
        let p = provisioners(&env(), &n, Path::new("/proj"));
        assert!(matches!(&p[0],
            Provisioner::Ansible { playbook, groups, extra_vars, .. }
                if playbook == "/proj/ansible/site.yml" && groups[0] == "web"
                    && extra_vars["greeting"] == "hi"));
        assert!(matches!(&p[1],
            Provisioner::Puppet { manifests_path, manifest_file, module_path: Some(m), .. }
                if manifests_path == "/proj/puppet/manifests" && manifest_file == "site.pp"
                    && m == "/proj/puppet/modules"));
    }

    #[test]
    fn templates_are_rendered_with_the_vars_and_written_by_shell() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("t.j2"),
            "say {{ greeting }} it's {{ node }}\n",
        )
        .unwrap();
        let n = node(vec![StepKind::Template {
            from: PathBuf::from("t.j2"),
            to: "/etc/t.conf".into(),
            mode: Some(0o600),
            owner: Some("www-data".into()),
        }]);
        let p = provisioners(&env(), &n, dir.path());
        let Provisioner::Shell {
            inline: Some(script),
            ..
        } = &p[0]
        else {
            panic!("{p:?}")
        };
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(
                script
                    .replace("/etc/t.conf", &dir.path().join("out").display().to_string())
                    .replace("; chown www-data", "; true"),
            )
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out")).unwrap(),
            "say hi it's web\n"
        );
        assert!(
            script.contains("chmod 600 /etc/t.conf")
                && script.contains("chown www-data /etc/t.conf")
        );
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

    #[test]
    fn a_machine_envctl_provisions_has_no_provisioners_and_no_command() {
        let mut n = node(vec![StepKind::Shell {
            command: "echo hi".into(),
        }]);
        n.command = Some(crate::model::scalar::CommandLine(vec![
            "sleep".into(),
            "infinity".into(),
        ]));
        let mut env = env();
        env.nodes.insert("web".into(), n);
        let mut m = build(&env, Path::new("/proj"), "default", None)
            .machines
            .remove(0);
        assert!(!m.provision.is_empty() && m.command.is_some());
        m.machine_only();
        assert!(m.provision.is_empty() && m.command.is_none());
        assert_eq!(m.name, "web");
    }
}
