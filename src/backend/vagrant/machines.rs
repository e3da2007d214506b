//! Drives the `vagrant` command for one environment instance. Each instance keeps its
//! Vagrant state in `.envctl/vagrant/ENV/INSTANCE` (`VAGRANT_DOTFILE_PATH`), so several
//! instances of one environment run side by side. The Vagrantfile is the project's own
//! top-level one when it has one, otherwise the one shipped inside envctl.

use super::config;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The Vagrantfile envctl ships (the repository's top-level one), for projects without
/// their own.
pub const VAGRANTFILE: &str = include_str!("../../../Vagrantfile");

/// Faults running Vagrant. All are environment errors (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum VagrantError {
    #[error(
        "cannot run `vagrant`: {0}\n  install it (`apt-get install vagrant`, or `./dev setup-vm`)"
    )]
    NotInstalled(std::io::Error),
    #[error("`vagrant {command}` failed (exit {code}){}", tail(.output))]
    Failed {
        command: String,
        code: i32,
        output: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let start = lines.len().saturating_sub(25);
    if lines.is_empty() {
        String::new()
    } else {
        format!(
            "\n  last lines of its output:\n{}",
            lines[start..]
                .iter()
                .map(|l| format!("    | {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    }
}

/// One instance's machines.
#[derive(Debug, Clone)]
pub struct Vagrant {
    pub root: PathBuf,
    pub environment: String,
    pub instance: String,
    /// `.envctl/vagrant/ENV/INSTANCE` under the project.
    pub state: PathBuf,
    /// `--provider` for `vagrant up` (`ENVCTL_VAGRANT_PROVIDER`), Vagrant's default when
    /// unset.
    pub provider: Option<String>,
}

impl Vagrant {
    /// The instance `instance` of environment `environment` in the project at `root`.
    pub fn new(root: &Path, environment: &str, instance: &str) -> Vagrant {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        Vagrant {
            state: root
                .join(".envctl")
                .join("vagrant")
                .join(environment)
                .join(instance),
            root,
            environment: environment.to_string(),
            instance: instance.to_string(),
            provider: std::env::var("ENVCTL_VAGRANT_PROVIDER")
                .ok()
                .filter(|p| !p.is_empty()),
        }
    }

    /// Whether this instance has Vagrant state (it was brought up and not destroyed).
    pub fn exists(&self) -> bool {
        self.state.join("machines").is_dir()
    }

    /// The directory holding the Vagrantfile Vagrant reads.
    fn vagrantfile_dir(&self) -> Result<PathBuf, VagrantError> {
        if self.root.join("Vagrantfile").is_file() {
            return Ok(self.root.clone());
        }
        let dir = self.state.join("shipped");
        let io = |source| VagrantError::Io {
            path: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        std::fs::write(dir.join("Vagrantfile"), VAGRANTFILE).map_err(io)?;
        Ok(dir)
    }

    /// Runs `vagrant ARGS` with the instance's environment; returns its combined output.
    ///
    /// # Errors
    /// [`VagrantError`] when vagrant is missing or exits non-zero.
    pub async fn run(&self, args: &[&str]) -> Result<String, VagrantError> {
        std::fs::create_dir_all(&self.state).map_err(|source| VagrantError::Io {
            path: self.state.display().to_string(),
            source,
        })?;
        let cwd = self.vagrantfile_dir()?;
        let exe = std::env::current_exe().map_err(|source| VagrantError::Io {
            path: "current executable".into(),
            source,
        })?;
        let out = tokio::process::Command::new("vagrant")
            .args(args)
            .env("VAGRANT_CWD", &cwd)
            .env("VAGRANT_DOTFILE_PATH", &self.state)
            .env("VAGRANT_NO_COLOR", "1")
            .env("VAGRANT_CHECKPOINT_DISABLE", "1")
            .env("ENVCTL_ROOT", &self.root)
            .env("ENVCTL_ENV", &self.environment)
            .env("ENVCTL_INSTANCE", &self.instance)
            .env("ENVCTL_BIN", exe)
            .env(config::MACHINES_ONLY_VAR, "1")
            .current_dir(&cwd)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(VagrantError::NotInstalled)?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(text)
        } else {
            Err(VagrantError::Failed {
                command: args.join(" "),
                code: out.status.code().unwrap_or(-1),
                output: text,
            })
        }
    }

    /// Creates every machine (`vagrant up`); envctl's step runner then provisions them
    /// over SSH and starts their commands ([`config::MACHINES_ONLY_VAR`]).
    ///
    /// # Errors
    /// [`VagrantError`] with the tail of Vagrant's output.
    pub async fn up(&self) -> Result<String, VagrantError> {
        let provider = self.provider.as_ref().map(|p| format!("--provider={p}"));
        let mut args = vec!["up", "--provision"];
        args.extend(provider.as_deref());
        self.run(&args).await
    }

    /// Runs the steps of running `machine` again for the idempotence check
    /// (`vagrant provision MACHINE`): `envctl vagrant-config` then leaves out the steps
    /// marked `idempotent = false` and the node's command, which runs already. Returns
    /// each step's output.
    ///
    /// # Errors
    /// [`VagrantError`] with the tail of Vagrant's output.
    /// Machine name -> state (`running`, `not_created`, ...).
    ///
    /// # Errors
    /// [`VagrantError`] when `vagrant status` fails.
    pub async fn status(&self) -> Result<BTreeMap<String, String>, VagrantError> {
        let out = self.run(&["status", "--machine-readable"]).await?;
        Ok(parse_status(&out))
    }

    /// Writes `vagrant ssh-config` for every running machine to the state directory and
    /// returns its path and each machine's `HostName`.
    ///
    /// # Errors
    /// [`VagrantError`] when `vagrant ssh-config` fails.
    pub async fn ssh_config(&self) -> Result<(PathBuf, BTreeMap<String, String>), VagrantError> {
        let out = self.run(&["ssh-config"]).await?;
        let path = self.state.join("ssh_config");
        std::fs::write(&path, &out).map_err(|source| VagrantError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok((path, parse_hosts(&out)))
    }

    /// Destroys every machine and removes the instance's Vagrant state. Does nothing
    /// when the instance has none.
    ///
    /// # Errors
    /// [`VagrantError`] when `vagrant destroy` fails (the state is then kept, so a
    /// later `down` can try again).
    pub async fn destroy(&self) -> Result<(), VagrantError> {
        if !self.state.exists() {
            return Ok(());
        }
        self.run(&["destroy", "--force"]).await?;
        std::fs::remove_dir_all(&self.state).map_err(|source| VagrantError::Io {
            path: self.state.display().to_string(),
            source,
        })?;
        // The environment's directory goes too once its last instance has.
        if let Some(parent) = self.state.parent() {
            let _ = std::fs::remove_dir(parent);
        }
        Ok(())
    }
}

/// Parses `vagrant status --machine-readable` (`time,target,type,data` lines).
pub fn parse_status(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|line| {
            let mut f = line.splitn(4, ',');
            let (_, target, kind, data) = (f.next()?, f.next()?, f.next()?, f.next()?);
            (kind == "state" && !target.is_empty()).then(|| (target.to_string(), data.to_string()))
        })
        .collect()
}

/// Machine name -> `HostName` from `vagrant ssh-config` output.
pub fn parse_hosts(out: &str) -> BTreeMap<String, String> {
    let mut hosts = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in out.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("Host"), Some(name)) => current = Some(name.to_string()),
            (Some("HostName"), Some(addr)) => {
                if let Some(name) = &current {
                    hosts.insert(name.clone(), addr.to_string());
                }
            }
            _ => {}
        }
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_give_each_machine_its_state() {
        let out = "1700000000,web,metadata,provider,docker\n\
                   1700000000,web,provider-name,docker\n\
                   1700000000,web,state,running\n\
                   1700000000,db,state,not_created\n\
                   1700000000,,ui,info,Current machine states:\n";
        let s = parse_status(out);
        assert_eq!(s.len(), 2);
        assert_eq!(s["web"], "running");
        assert_eq!(s["db"], "not_created");
    }

    #[test]
    fn ssh_config_hosts_are_read_per_machine() {
        let out = "Host web\n  HostName 172.17.0.3\n  User vagrant\n  Port 22\n\n\
                   Host db\n  HostName 127.0.0.1\n  Port 2200\n";
        let h = parse_hosts(out);
        assert_eq!(h["web"], "172.17.0.3");
        assert_eq!(h["db"], "127.0.0.1");
    }
}
