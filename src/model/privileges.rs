//! What a node's containers may do beyond envctl's least-privilege defaults:
//! `privileged = true`, or extra Linux capabilities (`capabilities = ["NET_ADMIN"]`).
//! Names are checked here, so a misspelt capability is invalid input, not an engine error.

/// Extra powers a node asks for explicitly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Privileges {
    /// The engine's privileged mode: every capability, the host's devices, no seccomp.
    pub privileged: bool,
    /// Capabilities added to the defaults, upper case without `CAP_` (`NET_ADMIN`).
    pub capabilities: Vec<String>,
}

impl Privileges {
    /// Whether the node asks for nothing beyond the defaults.
    pub fn is_default(&self) -> bool {
        !self.privileged && self.capabilities.is_empty()
    }

    /// What envctl prints before starting such a node, or `None` for the defaults.
    pub fn warning(&self, node: &str) -> Option<String> {
        if self.privileged {
            Some(format!(
                "node `{node}` runs privileged (privileged = true): every capability, the host's devices and no seccomp filter; it can change this host (its clock, kernel modules, disks)"
            ))
        } else if !self.capabilities.is_empty() {
            Some(format!(
                "node `{node}` runs with extra capabilities: {}",
                self.capabilities.join(", ")
            ))
        } else {
            None
        }
    }
}

/// Linux capabilities by name (capabilities(7)), as the engines spell them.
const KNOWN: &[&str] = &[
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "SYSLOG",
    "WAKE_ALARM",
];

/// A capability as written (`net_admin`, `CAP_NET_ADMIN`) in the engines' spelling.
///
/// # Errors
/// An unknown name, or `ALL` (which is what `privileged = true` says), with what to write.
pub fn capability(written: &str) -> Result<String, String> {
    let upper = written.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("CAP_").unwrap_or(&upper);
    if name.is_empty() {
        return Err("a capability name is empty (e.g. \"NET_ADMIN\")".into());
    }
    if name == "ALL" {
        return Err(
            "`ALL` is not a capability; for every capability write `privileged = true`".into(),
        );
    }
    if KNOWN.contains(&name) {
        return Ok(name.to_string());
    }
    let near: Vec<&str> = KNOWN
        .iter()
        .copied()
        .filter(|k| k.contains(name) || name.contains(k))
        .collect();
    Err(if near.is_empty() {
        format!("unknown capability `{written}` (see capabilities(7); e.g. \"NET_ADMIN\")")
    } else {
        format!(
            "unknown capability `{written}`; did you mean {}?",
            near.iter()
                .map(|k| format!("\"{k}\""))
                .collect::<Vec<_>>()
                .join(" or ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_are_spelt_as_the_engines_spell_them() {
        assert_eq!(capability("NET_ADMIN").unwrap(), "NET_ADMIN");
        assert_eq!(capability("cap_net_admin").unwrap(), "NET_ADMIN");
        assert_eq!(capability("sys_time").unwrap(), "SYS_TIME");
    }

    #[test]
    fn unknown_capabilities_and_all_are_refused_with_what_to_write() {
        let e = capability("NET_ADMN").unwrap_err();
        assert!(e.contains("unknown capability `NET_ADMN`"), "{e}");
        let e = capability("ADMIN").unwrap_err();
        assert!(
            e.contains("\"NET_ADMIN\"") && e.contains("\"SYS_ADMIN\""),
            "{e}"
        );
        let e = capability("all").unwrap_err();
        assert!(e.contains("privileged = true"), "{e}");
        assert!(capability("").is_err());
    }

    #[test]
    fn only_nodes_that_ask_for_more_get_a_warning() {
        assert_eq!(Privileges::default().warning("web"), None);
        let p = Privileges {
            privileged: true,
            capabilities: vec![],
        };
        assert!(p
            .warning("web")
            .unwrap()
            .contains("node `web` runs privileged"));
        let c = Privileges {
            privileged: false,
            capabilities: vec!["NET_ADMIN".into()],
        };
        assert!(c.warning("web").unwrap().ends_with("NET_ADMIN"));
    }
}
