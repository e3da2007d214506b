//! What a container may do: the engine's defaults, narrowed for systemd nodes to what
//! systemd needs as PID 1, or widened where a node asks (`privileged`, `capabilities`).
//! docs/provisioning.md explains every flag.
//!
//! systemd needs one thing a confined container lacks: a writable cgroup tree of its own.
//! The node gets a private cgroup namespace, so its `/sys/fs/cgroup` shows only its own
//! cgroup, mounted read-only by the engine. A short-lived boot helper (SYS_ADMIN, in the
//! node's PID namespace, from the node's image before provisioning) enters the node's
//! mount namespace and remounts that one mount read-write; it runs no program from the
//! node's filesystem. The node's PID 1 waits for that, then execs systemd. The node itself
//! never holds SYS_ADMIN, so it cannot mount, remount `/proc/sys`, or reach the host's
//! cgroups.

use crate::backend::EngineError;
use crate::model::Privileges;
use bollard::models::{HostConfig, HostConfigCgroupnsModeEnum};
use std::collections::HashMap;

/// The cgroup hierarchy the engine's host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cgroup {
    /// Per-controller hierarchies; systemd tracks its units in `name=systemd`.
    V1,
    /// The unified hierarchy.
    V2,
}

impl Cgroup {
    /// The hierarchy the engine reports in its `info`; `None` when it says nothing.
    pub fn reported(info: &bollard::models::SystemInfo) -> Option<Cgroup> {
        use bollard::models::SystemInfoCgroupVersionEnum as V;
        match info.cgroup_version {
            Some(V::_1) => Some(Cgroup::V1),
            Some(V::_2) => Some(Cgroup::V2),
            _ => None,
        }
    }

    /// The version number (1 or 2).
    pub fn version(self) -> u8 {
        match self {
            Cgroup::V1 => 1,
            Cgroup::V2 => 2,
        }
    }

    /// The mount inside a node that systemd must be able to write.
    pub fn systemd_mount(self) -> &'static str {
        match self {
            Cgroup::V1 => "/sys/fs/cgroup/systemd",
            Cgroup::V2 => "/sys/fs/cgroup",
        }
    }
}

/// What envctl knows of the engine's host, from its `info`.
#[derive(Debug, Clone)]
pub struct Host {
    pub cgroup: Cgroup,
    /// The kernel's architecture as `uname -m` says it (`x86_64`, `aarch64`).
    pub arch: String,
    /// The engine confines containers with AppArmor by default.
    pub apparmor: bool,
    /// The engine runs without root (rootless), or remaps users.
    pub rootless: bool,
}

impl Host {
    /// Reads the engine's `info`.
    pub fn from_info(info: &bollard::models::SystemInfo) -> Host {
        let options = info.security_options.clone().unwrap_or_default();
        Host {
            // Engines too old to say run cgroup v1.
            cgroup: Cgroup::reported(info).unwrap_or(Cgroup::V1),
            arch: info.architecture.clone().unwrap_or_default(),
            apparmor: options.iter().any(|o| o.contains("name=apparmor")),
            rootless: options
                .iter()
                .any(|o| o.contains("name=rootless") || o.contains("name=userns")),
        }
    }

    /// Why systemd cannot boot in a container on this host, and what to change.
    ///
    /// # Errors
    /// A host whose engine cannot give a node its own writable cgroup tree.
    pub fn check_systemd(&self) -> Result<(), String> {
        if self.rootless {
            return Err("systemd nodes (init = \"systemd\") need a rootful Docker Engine without user remapping: this engine runs rootless or remaps users, so the node's boot helper cannot make its cgroup writable; run the node on a rootful engine (DOCKER_HOST), or use `init = \"none\"`".into());
        }
        if syscalls(&self.arch).is_none() {
            return Err(format!(
                "systemd nodes (init = \"systemd\") are supported on x86_64 and aarch64 engines; this engine runs on `{}`",
                self.arch
            ));
        }
        Ok(())
    }
}

/// Sets what a container may do. `systemd` is the engine's host, for nodes that boot
/// systemd as PID 1.
pub fn apply(host_config: &mut HostConfig, systemd: Option<&Host>, privileges: &Privileges) {
    if privileges.privileged {
        host_config.privileged = Some(true);
    }
    let mut add: Vec<String> = privileges.capabilities.clone();
    let mut drop = Vec::new();
    if let Some(host) = systemd {
        // Its own cgroup namespace: /sys/fs/cgroup shows the node's cgroup only.
        host_config.cgroupns_mode = Some(HostConfigCgroupnsModeEnum::PRIVATE);
        // systemd mounts nothing there itself when they exist; services expect them.
        host_config.tmpfs = Some(HashMap::from([
            ("/run".to_string(), String::new()),
            ("/run/lock".to_string(), String::new()),
        ]));
        if !privileges.capabilities.iter().any(|c| c == "MKNOD") {
            // The engine's default set includes MKNOD; systemd does not need it
            // (PrivateDevices= bind-mounts device nodes when it cannot create them).
            drop.push("MKNOD".to_string());
        }
        // AppArmor's docker-default profile forbids every mount, which systemd's
        // sandboxing of units (PrivateTmp=, ProtectSystem=) relies on. The node holds no
        // SYS_ADMIN, so seccomp and the missing capability still stop its mounts.
        if host.apparmor && !privileges.privileged {
            host_config.security_opt = Some(vec!["apparmor=unconfined".into()]);
        }
    }
    add.sort();
    add.dedup();
    if !add.is_empty() {
        host_config.cap_add = Some(add);
    }
    if !drop.is_empty() {
        host_config.cap_drop = Some(drop);
    }
}

/// Label of a systemd container naming the image its boot helper runs from.
pub const BOOT_IMAGE: &str = "io.envctl.boot-image";

/// PID 1 of a systemd node until its cgroup is writable: waits for the boot helper (up to
/// 60 s), turns off `PrivateUsers=` for services when the node cannot create user
/// namespaces (a runtime drop-in under /run, gone when the node stops), then execs
/// systemd. Arguments: the mount to wait for, `private-users` or `no-private-users`,
/// then systemd's command line.
const BOOT: &str = r#"mount="$1"; users="$2"; shift 2
i=0
until [ -w "$mount" ]; do
  i=$((i+1))
  if [ "$i" -gt 600 ]; then echo "envctl: $mount of this node was not made writable; systemd cannot start" >&2; exit 1; fi
  sleep 0.1
done
if [ "$users" = no-private-users ]; then
  mkdir -p /run/systemd/system/service.d
  printf '[Service]\n# envctl: this node cannot create user namespaces (no SYS_ADMIN)\nPrivateUsers=no\n' \
    > /run/systemd/system/service.d/10-envctl-container.conf
fi
exec "$@""#;

/// The entrypoint of a systemd container whose command is systemd's.
pub fn boot_entrypoint(host: &Host, privileges: &Privileges) -> Vec<String> {
    // Docker's default seccomp profile lets a container create user namespaces only
    // with SYS_ADMIN.
    let users = if privileges.privileged || privileges.capabilities.iter().any(|c| c == "SYS_ADMIN")
    {
        "private-users"
    } else {
        "no-private-users"
    };
    vec![
        "/bin/sh".into(),
        "-c".into(),
        BOOT.into(),
        "envctl-boot".into(),
        host.cgroup.systemd_mount().into(),
        users.into(),
    ]
}

/// setns(2) and mount(2) numbers by architecture.
fn syscalls(arch: &str) -> Option<(u32, u32)> {
    match arch {
        "x86_64" | "amd64" => Some((308, 165)),
        "aarch64" | "arm64" => Some((268, 40)),
        _ => None,
    }
}

/// The boot helper's program: perl (in every Debian and Ubuntu image: perl-base is
/// essential) opens the node's mount namespace through PID 1, enters it, and remounts
/// the cgroup mount read-write, keeping nosuid, nodev and noexec. It makes the two system
/// calls itself: a program run after entering would come from the node's filesystem.
const HELPER: &str = r#"my ($setns, $mount, $path) = @ARGV;
open(my $ns, '<', '/proc/1/ns/mnt') or die "envctl boot helper: cannot open the node's mount namespace: $!\n";
syscall($setns + 0, fileno($ns), 0x00020000) == 0 or die "envctl boot helper: cannot enter the node's mount namespace: $!\n";
# MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC
syscall($mount + 0, 0, $path, 0, 32 | 4096 | 2 | 4 | 8, 0) == 0 or die "envctl boot helper: cannot make $path writable: $!\n";
"#;

/// The boot helper's container: in the node's PID namespace, no network, SYS_ADMIN only
/// for its two system calls.
///
/// # Errors
/// An architecture whose system call numbers envctl does not know.
pub fn helper(host: &Host, node: &str) -> Result<(Vec<String>, HostConfig), EngineError> {
    let (setns, mount) = syscalls(&host.arch)
        .ok_or_else(|| EngineError::Other(host.check_systemd().err().unwrap_or_default()))?;
    let cmd = vec![
        "perl".into(),
        "-e".into(),
        HELPER.into(),
        setns.to_string(),
        mount.to_string(),
        host.cgroup.systemd_mount().into(),
    ];
    let config = HostConfig {
        pid_mode: Some(format!("container:{node}")),
        network_mode: Some("none".into()),
        cap_add: Some(vec!["SYS_ADMIN".into()]),
        cgroupns_mode: Some(HostConfigCgroupnsModeEnum::PRIVATE),
        // The node runs unconfined on AppArmor engines (see `apply`), and AppArmor lets
        // a process under docker-default open the namespaces only of processes under
        // the same profile: the helper is unconfined too, like it is on engines
        // without AppArmor.
        security_opt: host
            .apparmor
            .then(|| vec!["apparmor=unconfined".to_string()]),
        ..Default::default()
    };
    Ok((cmd, config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(cgroup: Cgroup) -> Host {
        Host {
            cgroup,
            arch: "x86_64".into(),
            apparmor: false,
            rootless: false,
        }
    }

    #[test]
    fn systemd_nodes_get_a_private_cgroup_namespace_and_no_extra_capability() {
        let mut hc = HostConfig::default();
        apply(&mut hc, Some(&host(Cgroup::V1)), &Privileges::default());
        assert_eq!(hc.cgroupns_mode, Some(HostConfigCgroupnsModeEnum::PRIVATE));
        assert_eq!(hc.cap_add, None);
        assert_eq!(hc.cap_drop, Some(vec!["MKNOD".to_string()]));
        assert_eq!(hc.privileged, None);
        // The engine's default seccomp profile, no host cgroup tree.
        assert_eq!(hc.security_opt, None);
        assert_eq!(hc.binds, None);
    }

    #[test]
    fn asked_for_capabilities_are_added_and_privileged_is_the_engines_mode() {
        let mut hc = HostConfig::default();
        let p = Privileges {
            privileged: false,
            capabilities: vec!["NET_ADMIN".into(), "MKNOD".into()],
        };
        apply(&mut hc, Some(&host(Cgroup::V2)), &p);
        assert_eq!(
            hc.cap_add,
            Some(vec!["MKNOD".to_string(), "NET_ADMIN".to_string()])
        );
        assert_eq!(hc.cap_drop, None);
        let mut hc = HostConfig::default();
        let p = Privileges {
            privileged: true,
            capabilities: vec![],
        };
        apply(&mut hc, None, &p);
        assert_eq!(hc.privileged, Some(true));
        assert_eq!(hc.cgroupns_mode, None);
    }

    #[test]
    fn the_writable_mount_follows_the_cgroup_version() {
        let e = boot_entrypoint(&host(Cgroup::V1), &Privileges::default());
        assert_eq!(e[4..], ["/sys/fs/cgroup/systemd", "no-private-users"]);
        let (cmd, hc) = helper(&host(Cgroup::V2), "abc").unwrap();
        assert_eq!(cmd[3..], ["308", "165", "/sys/fs/cgroup"]);
        assert_eq!(hc.pid_mode.as_deref(), Some("container:abc"));
        assert_eq!(hc.cap_add, Some(vec!["SYS_ADMIN".to_string()]));
        assert_eq!(hc.security_opt, None);
    }

    #[test]
    fn on_apparmor_engines_the_helper_is_as_unconfined_as_the_node_it_enters() {
        let mut h = host(Cgroup::V2);
        h.apparmor = true;
        let mut node = HostConfig::default();
        apply(&mut node, Some(&h), &Privileges::default());
        let (_, helper) = helper(&h, "abc").unwrap();
        let unconfined = Some(vec!["apparmor=unconfined".to_string()]);
        assert_eq!(node.security_opt, unconfined);
        assert_eq!(helper.security_opt, unconfined);
    }

    #[test]
    fn hosts_where_systemd_cannot_boot_say_why() {
        let mut h = host(Cgroup::V2);
        assert!(h.check_systemd().is_ok());
        h.rootless = true;
        assert!(h.check_systemd().unwrap_err().contains("rootful"));
        let mut h = host(Cgroup::V1);
        h.arch = "s390x".into();
        assert!(h.check_systemd().unwrap_err().contains("s390x"));
        assert!(helper(&h, "abc").is_err());
    }
}
