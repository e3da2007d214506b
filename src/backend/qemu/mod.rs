//! The QEMU engine: each node replica is a real VM under `qemu-system-x86_64` with
//! software emulation (TCG, for hosts without KVM), booted from a copy-on-write overlay
//! of a base disk (`images/qemu-node/build.sh`), with user-mode networking that
//! forwards SSH and the node's ports to 127.0.0.1 only. Provisioning runs the steps
//! over SSH through the same step runner as on containers (`provision`, with the
//! [`SshAccess`] as the step host, by the VM verbs); checks reach the VMs through
//! [`SshAccess`] too.

use crate::backend::ssh::SshAccess;
use crate::backend::vagrant::config::{self, Machine};
use crate::backend::NodeAccess;
use crate::model::Environment;
use crate::wait::{self, Poll};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// What the machines serve beyond up, verify, exec, logs, status and down (docs/vms.md
/// has the table): the idempotence check of `envctl test` and the kept logs of
/// provisioning and of that check.
pub const FEATURES: &[crate::backend::Feature] = &[
    crate::backend::Feature::Idempotence,
    crate::backend::Feature::ProvisionLogs,
    crate::backend::Feature::FollowLogs,
    crate::backend::Feature::Artifacts,
    crate::backend::Feature::Gc,
    crate::backend::Feature::ProvisionOnly,
    crate::backend::Feature::Plan,
];

/// How long a VM has to boot and answer on SSH (software emulation is slow).
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// Faults running VMs. All are environment errors (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error("no VM base image in {dir}: {reason}\n  build one with `images/qemu-node/build.sh {dir}` (or set ENVCTL_QEMU_IMAGE)")]
    NoImage { dir: String, reason: String },
    #[error("`{command}` failed: {message}")]
    Command { command: String, message: String },
    #[error("VM `{machine}` did not answer on SSH: {reason}\n  its console: {console}")]
    Boot {
        machine: String,
        reason: String,
        console: String,
    },
    #[error("provisioning VM `{machine}` failed at {step}: {output}")]
    Step {
        machine: String,
        step: String,
        output: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> QemuError + '_ {
    move |source| QemuError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One instance's VMs.
#[derive(Debug, Clone)]
pub struct Qemu {
    pub root: PathBuf,
    pub instance: String,
    /// `.envctl/qemu/ENV/INSTANCE`: overlays, pid files, consoles, `ssh_config`.
    pub state: PathBuf,
    /// Holds `disk.qcow2`, `vmlinuz`, `initrd.img` and `key` (`ENVCTL_QEMU_IMAGE`,
    /// default `.envctl/qemu/image` under the project).
    pub image: PathBuf,
}

impl Qemu {
    pub fn new(root: &Path, environment: &str, instance: &str) -> Qemu {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let image = std::env::var_os("ENVCTL_QEMU_IMAGE")
            .map_or_else(|| root.join(".envctl/qemu/image"), PathBuf::from);
        Qemu {
            state: root.join(".envctl/qemu").join(environment).join(instance),
            root,
            instance: instance.to_string(),
            image,
        }
    }

    /// Whether this instance has VMs (or their remains).
    pub fn exists(&self) -> bool {
        self.state.is_dir()
    }

    fn check_image(&self) -> Result<(), QemuError> {
        for f in ["disk.qcow2", "vmlinuz", "initrd.img", "key"] {
            if !self.image.join(f).is_file() {
                return Err(QemuError::NoImage {
                    dir: self.image.display().to_string(),
                    reason: format!("{f} is missing"),
                });
            }
        }
        Ok(())
    }

    /// Boots every machine of `env` and waits until each answers on SSH; the caller
    /// then provisions them ([`SshAccess`] is their step host) and starts their
    /// commands (`SshAccess::start_command`). `false` when the instance was up already.
    ///
    /// # Errors
    /// [`QemuError`]; the caller destroys what was made.
    pub async fn up(&self, env: &Environment) -> Result<bool, QemuError> {
        self.check_image()?;
        if self.exists() {
            // Already up: VMs are not changed in place (`down` first to re-create them).
            let status = self.status();
            if !status.is_empty() && status.values().all(|s| s == "running") {
                return Ok(false);
            }
            return Err(QemuError::Command {
                command: "up".into(),
                message: format!(
                    "the instance has stopped VMs ({}); remove them with `envctl down`",
                    self.state.display()
                ),
            });
        }
        std::fs::create_dir_all(&self.state).map_err(io(&self.state))?;
        let cfg = config::build(env, &self.root, &self.instance, None);
        let mut ssh_config = String::new();
        let mut forwarded = BTreeMap::new();
        for m in &cfg.machines {
            let (ssh_port, ports) = self.boot(m).await?;
            ssh_config.push_str(&format!(
                "Host {}\n  HostName 127.0.0.1\n  Port {ssh_port}\n  User vagrant\n  IdentityFile {}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n\n",
                m.name,
                self.image.join("key").display()
            ));
            forwarded.insert(m.name.clone(), ports);
        }
        let path = self.state.join("ssh_config");
        std::fs::write(&path, &ssh_config).map_err(io(&path))?;
        let ports_path = self.state.join("ports.json");
        std::fs::write(
            &ports_path,
            serde_json::to_string(&forwarded).unwrap_or_default(),
        )
        .map_err(io(&ports_path))?;
        let access = self.access(env)?;
        for m in &cfg.machines {
            self.wait_for_ssh(&access, &m.name).await?;
            // The base disk does not know the machine's name; sudo wants to resolve it.
            let hosts = format!(
                "grep -q ' {0}$' /etc/hosts || echo '127.0.1.1 {0}' >> /etc/hosts",
                m.hostname
            );
            self.shell(&access, m, &hosts)
                .await
                .map_err(|output| QemuError::Step {
                    machine: m.name.clone(),
                    step: "hostname".into(),
                    output,
                })?;
        }
        Ok(true)
    }

    /// Starts one VM; returns its SSH port and guest -> host port forwards.
    async fn boot(&self, m: &Machine) -> Result<(u16, BTreeMap<u16, u16>), QemuError> {
        let dir = self.state.join(&m.name);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let overlay = dir.join("disk.qcow2");
        run(
            "qemu-img",
            &[
                "create".as_ref(),
                "-q".as_ref(),
                "-f".as_ref(),
                "qcow2".as_ref(),
                "-F".as_ref(),
                "qcow2".as_ref(),
                "-b".as_ref(),
                self.image.join("disk.qcow2").as_os_str(),
                overlay.as_os_str(),
            ],
        )
        .await?;
        let ssh_port = free_port()?;
        let mut ports = BTreeMap::new();
        let mut netdev = format!("user,id=n0,hostfwd=tcp:127.0.0.1:{ssh_port}-:22");
        for p in &m.ports {
            let host = match p.host {
                Some(h) => h,
                None => free_port()?,
            };
            netdev.push_str(&format!(
                ",hostfwd={}:127.0.0.1:{host}-:{}",
                p.protocol, p.guest
            ));
            ports.insert(p.guest, host);
        }
        let arg = |p: &Path| p.display().to_string();
        let args = vec![
            "-accel".to_string(),
            std::env::var("ENVCTL_QEMU_ACCEL").unwrap_or_else(|_| "tcg".into()),
            "-m".into(),
            "1024".into(),
            "-display".into(),
            "none".into(),
            "-daemonize".into(),
            "-pidfile".into(),
            arg(&dir.join("pid")),
            "-serial".into(),
            format!("file:{}", arg(&dir.join("console.log"))),
            "-kernel".into(),
            arg(&self.image.join("vmlinuz")),
            "-initrd".into(),
            arg(&self.image.join("initrd.img")),
            "-append".into(),
            format!(
                "root=/dev/vda rw console=ttyS0 systemd.hostname={} quiet",
                m.hostname
            ),
            "-drive".into(),
            format!("file={},if=virtio,format=qcow2", arg(&overlay)),
            "-netdev".into(),
            netdev,
            "-device".into(),
            "virtio-net-pci,netdev=n0".into(),
        ];
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        run("qemu-system-x86_64", &args).await?;
        Ok((ssh_port, ports))
    }

    async fn wait_for_ssh(&self, access: &SshAccess, machine: &str) -> Result<(), QemuError> {
        let probe = vec!["true".to_string()];
        wait::until(BOOT_TIMEOUT, Duration::from_secs(2), || async {
            match access.exec(machine, &probe, Duration::from_secs(20)).await {
                Ok(out) if out.exit_code == 0 => Poll::Ready(()),
                Ok(out) => Poll::Pending(format!("exit {}", out.exit_code)),
                Err(e) => Poll::Pending(e.to_string()),
            }
        })
        .await
        .map_err(|e| QemuError::Boot {
            machine: machine.to_string(),
            reason: e.to_string(),
            console: self
                .state
                .join(machine)
                .join("console.log")
                .display()
                .to_string(),
        })
    }

    async fn shell(&self, access: &SshAccess, m: &Machine, script: &str) -> Result<String, String> {
        let cmd = vec!["sh".to_string(), "-c".to_string(), script.to_string()];
        match access
            .exec(
                &m.name,
                &cmd,
                crate::model::environment::DEFAULT_STEP_TIMEOUT,
            )
            .await
        {
            Ok(out) if out.exit_code == 0 => Ok(format!("{}{}", out.stdout, out.stderr)),
            Ok(out) => Err(format!(
                "exit {}\n{}{}",
                out.exit_code, out.stdout, out.stderr
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Reaches the instance's VMs over SSH.
    ///
    /// # Errors
    /// [`QemuError::Io`] when the instance has no VMs.
    pub fn access(&self, env: &Environment) -> Result<SshAccess, QemuError> {
        let ports_path = self.state.join("ports.json");
        let text = std::fs::read_to_string(&ports_path).map_err(io(&ports_path))?;
        let forwarded: BTreeMap<String, BTreeMap<u16, u16>> =
            serde_json::from_str(&text).unwrap_or_default();
        let cfg = config::build(env, &self.root, &self.instance, None);
        Ok(SshAccess {
            ssh_config: self.state.join("ssh_config"),
            hosts: forwarded
                .keys()
                .map(|k| (k.clone(), "127.0.0.1".to_string()))
                .collect(),
            nodes: cfg
                .machines
                .iter()
                .map(|m| (m.name.clone(), m.node.clone()))
                .collect(),
            forwarded,
        })
    }

    /// Machine name -> `running` or `stopped`, from the pid files.
    pub fn status(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for entry in std::fs::read_dir(&self.state)
            .into_iter()
            .flatten()
            .flatten()
        {
            if !entry.path().is_dir() {
                continue;
            }
            let running =
                pid(&entry.path()).is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
            out.insert(
                entry.file_name().to_string_lossy().into_owned(),
                if running { "running" } else { "stopped" }.to_string(),
            );
        }
        out
    }

    /// Stops every VM and removes the instance's overlays and state.
    ///
    /// # Errors
    /// [`QemuError`] when a VM cannot be stopped or the state removed.
    pub async fn destroy(&self) -> Result<(), QemuError> {
        if !self.state.exists() {
            return Ok(());
        }
        for entry in std::fs::read_dir(&self.state)
            .map_err(io(&self.state))?
            .flatten()
        {
            if let Some(p) = pid(&entry.path()) {
                let proc_dir = PathBuf::from(format!("/proc/{p}"));
                let _ = run("kill", &["-KILL".as_ref(), p.to_string().as_ref()]).await;
                let _ = wait::until(
                    Duration::from_secs(10),
                    Duration::from_millis(50),
                    || async {
                        if proc_dir.exists() {
                            Poll::Pending("still running".into())
                        } else {
                            Poll::Ready(())
                        }
                    },
                )
                .await;
            }
        }
        std::fs::remove_dir_all(&self.state).map_err(io(&self.state))?;
        // The environment's directory goes too once its last instance has.
        if let Some(parent) = self.state.parent() {
            let _ = std::fs::remove_dir(parent);
        }
        Ok(())
    }
}

fn pid(dir: &Path) -> Option<u32> {
    std::fs::read_to_string(dir.join("pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn free_port() -> Result<u16, QemuError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io(Path::new("127.0.0.1:0")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(io(Path::new("127.0.0.1:0")))
}

async fn run(program: &str, args: &[&std::ffi::OsStr]) -> Result<String, QemuError> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| QemuError::Command {
            command: program.to_string(),
            message: format!("cannot run it: {e}"),
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(QemuError::Command {
            command: format!(
                "{program} {}",
                args.iter()
                    .map(|a| a.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}
