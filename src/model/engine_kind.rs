//! Which engine runs an environment: `engine = "docker"` (the default, containers) or
//! `engine = "vagrant"` (machines defined by the top-level Vagrantfile) or
//! `engine = "qemu"` (real VMs under QEMU) or `engine = "swarm"` (containers spread over
//! the machines of a Docker Swarm). The command line's `--engine` overrides the file.

use std::fmt;
use std::str::FromStr;

/// An engine an environment can run on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// Containers on the Docker Engine.
    #[default]
    Docker,
    /// Machines run by Vagrant (any provider: libvirt, VirtualBox, docker).
    Vagrant,
    /// Real VMs under QEMU (software emulation where KVM is missing).
    Qemu,
    /// Containers on the machines of a Docker Swarm, one overlay network per instance.
    Swarm,
}

impl EngineKind {
    /// Whether the engine's nodes are containers (what `volumes`, `memory`... need).
    pub fn runs_containers(self) -> bool {
        matches!(self, EngineKind::Docker | EngineKind::Swarm)
    }
}

impl FromStr for EngineKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "docker" => Ok(EngineKind::Docker),
            "vagrant" => Ok(EngineKind::Vagrant),
            "qemu" => Ok(EngineKind::Qemu),
            "swarm" => Ok(EngineKind::Swarm),
            other => Err(format!(
                "unknown engine `{other}`; use \"docker\", \"swarm\", \"vagrant\" or \"qemu\""
            )),
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineKind::Docker => "docker",
            EngineKind::Vagrant => "vagrant",
            EngineKind::Qemu => "qemu",
            EngineKind::Swarm => "swarm",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_engines_and_names_the_choices_otherwise() {
        assert_eq!("docker".parse::<EngineKind>(), Ok(EngineKind::Docker));
        assert_eq!("vagrant".parse::<EngineKind>(), Ok(EngineKind::Vagrant));
        let err = "lxc".parse::<EngineKind>().unwrap_err();
        assert!(err.contains("`lxc`") && err.contains("vagrant"), "{err}");
    }

    #[test]
    fn display_round_trips() {
        for kind in [
            EngineKind::Docker,
            EngineKind::Vagrant,
            EngineKind::Qemu,
            EngineKind::Swarm,
        ] {
            assert_eq!(kind.to_string().parse::<EngineKind>(), Ok(kind));
        }
    }
}
