//! Labels put on every object an instance creates. Labels, not a state file, are the
//! truth about what exists: `down`, `status` and `gc` find objects by them.

use std::collections::HashMap;

pub const MANAGED: &str = "io.envctl.managed";
pub const PROJECT: &str = "io.envctl.project";
/// The directory of the project that made the object, so `status` in another checkout
/// can say whose an instance of the same names is.
pub const PROJECT_DIR: &str = "io.envctl.project-dir";
pub const ENVIRONMENT: &str = "io.envctl.environment";
pub const INSTANCE: &str = "io.envctl.instance";
pub const RUN: &str = "io.envctl.run";
pub const NODE: &str = "io.envctl.node";
pub const REPLICA: &str = "io.envctl.replica";
pub const HASH: &str = "io.envctl.hash";
pub const ROLE: &str = "io.envctl.role";
pub const OWNER: &str = "io.envctl.owner";
pub const CACHE_KEY: &str = "io.envctl.cache-key";
/// On a step snapshot of the provisioning cache: the step it was taken after.
pub const STEP: &str = "io.envctl.step";
/// On a provisioned image or step snapshot: the chain it holds, the start key and the
/// key of each step run (`hash::chain_label`), so `--incremental` can find the node's
/// previous provisioning.
pub const CHAIN: &str = "io.envctl.chain";
/// On an image provisioned with `--incremental`: the id of the image (the node's
/// previous provisioning) its changed steps ran on.
pub const INCREMENTAL: &str = "io.envctl.incremental";
/// Start time of the owner process (clock ticks since boot, from `/proc/PID/stat`), so a
/// reused pid is not mistaken for a live owner.
pub const OWNER_START: &str = "io.envctl.owner-start";
/// When the object was created, in seconds since the Unix epoch.
pub const CREATED: &str = "io.envctl.created";
/// `true` on objects that must not outlive their owner process (the instance of an
/// `envctl test` run without `--keep`); `gc` removes them once the owner is gone.
pub const EPHEMERAL: &str = "io.envctl.ephemeral";

/// Role of a container: a node replica, or a short-lived provisioning container.
pub const ROLE_NODE: &str = "node";
pub const ROLE_PROVISION: &str = "provision";

/// Identifies one instance of one environment on an engine.
#[derive(Debug, Clone)]
pub struct InstanceId {
    pub project: String,
    /// The project's directory (shown, never used to select).
    pub project_dir: String,
    pub environment: String,
    pub instance: String,
    /// Identifies this envctl invocation.
    pub run: String,
    /// Objects must not outlive this process (see [`EPHEMERAL`]).
    pub ephemeral: bool,
}

impl InstanceId {
    /// Prefix of every object name of this instance: `envctl-ENV.INSTANCE.PROJECT`, where
    /// PROJECT is the start of the project's id, so two checkouts that both have an
    /// environment `web` never share a name. Environment, instance and node names cannot
    /// hold `.`, so no two instances share a name (`x` + `rel-y` and `x-rel` + `y` are
    /// `envctl-x.rel-y.P` and `envctl-x-rel.y.P`).
    pub fn prefix(&self) -> String {
        let project = self.project.get(..8).unwrap_or(&self.project);
        format!("envctl-{}.{}.{project}", self.environment, self.instance)
    }

    /// Name of the instance's network.
    pub fn network(&self) -> String {
        self.prefix()
    }

    /// Engine name of the instance's named volume `name`
    /// (`envctl-demo.default.1f2e3d4c.data`).
    pub fn volume(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix())
    }

    /// Container name of a replica (`envctl-demo.default.1f2e3d4c.web-2`).
    pub fn container(&self, replica: &str) -> String {
        format!("{}.{replica}", self.prefix())
    }

    /// Labels common to all objects of this instance, for this run.
    pub fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (MANAGED.to_string(), "true".to_string()),
            (PROJECT.to_string(), self.project.clone()),
            (PROJECT_DIR.to_string(), self.project_dir.clone()),
            (ENVIRONMENT.to_string(), self.environment.clone()),
            (INSTANCE.to_string(), self.instance.clone()),
            (RUN.to_string(), self.run.clone()),
            (OWNER.to_string(), owner()),
            (OWNER_START.to_string(), owner_start()),
            (CREATED.to_string(), now_secs().to_string()),
            (EPHEMERAL.to_string(), self.ephemeral.to_string()),
        ])
    }

    /// Label filters that select every object of this instance, whatever run made it,
    /// and nothing of another project's instance of the same names.
    pub fn filters(&self) -> HashMap<String, Vec<String>> {
        HashMap::from([(
            "label".to_string(),
            vec![
                format!("{PROJECT}={}", self.project),
                format!("{ENVIRONMENT}={}", self.environment),
                format!("{INSTANCE}={}", self.instance),
            ],
        )])
    }
}

/// `pid@host` of this process, so `gc` can tell whether a run's owner is alive.
pub fn owner() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{}@{host}", std::process::id())
}

/// Start time of this process, as recorded in [`OWNER_START`].
pub fn owner_start() -> String {
    process_start(std::process::id()).unwrap_or_default()
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Start time of process `pid` in clock ticks since boot (field 22 of `/proc/PID/stat`),
/// or `None` when no such process exists.
pub fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    start_from_stat(&stat)
}

/// Field 22 of a `/proc/PID/stat` line. The command name (field 2) is in parentheses
/// and may hold spaces, so fields are counted after its closing parenthesis.
fn start_from_stat(stat: &str) -> Option<String> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19).map(str::to_string)
}

/// Whether the owner recorded on an object (`pid@host` and its start time) is a live
/// process on this host. `None` when the owner is on another host, so liveness cannot be
/// told from here.
pub fn owner_alive(owner: &str, start: Option<&str>) -> Option<bool> {
    let (pid, host) = owner.split_once('@')?;
    let this_host = self::owner();
    let (_, our_host) = this_host.split_once('@')?;
    if host != our_host {
        return None;
    }
    let pid: u32 = pid.parse().ok()?;
    Some(match process_start(pid) {
        None => false,
        Some(actual) => match start {
            Some(recorded) if !recorded.is_empty() => actual == recorded,
            _ => true,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(environment: &str, instance: &str) -> InstanceId {
        InstanceId {
            project: "0123456789ab".into(),
            project_dir: "/p".into(),
            environment: environment.into(),
            instance: instance.into(),
            run: "r".into(),
            ephemeral: false,
        }
    }

    #[test]
    fn names_of_different_instances_never_collide() {
        let (a, b) = (id("x", "rel-y"), id("x-rel", "y"));
        assert_ne!(a.network(), b.network());
        assert_ne!(a.container("web"), b.container("web"));
        assert_eq!(a.container("web-2"), "envctl-x.rel-y.01234567.web-2");
        // A replica name cannot reach into the instance part either.
        assert_ne!(id("x", "y").container("z-w"), id("x", "y-z").container("w"));
    }

    #[test]
    fn two_projects_never_share_a_name_or_a_selection() {
        let a = id("web", "default");
        let b = InstanceId {
            project: "ba9876543210".into(),
            ..a.clone()
        };
        assert_ne!(a.network(), b.network());
        assert_ne!(a.container("web"), b.container("web"));
        let selects = |i: &InstanceId| i.filters()["label"].clone();
        assert!(selects(&a).contains(&format!("{PROJECT}=0123456789ab")));
        assert_ne!(selects(&a), selects(&b));
    }

    #[test]
    fn start_time_is_read_after_a_command_name_with_spaces() {
        let stat = "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(start_from_stat(stat).as_deref(), Some("987654"));
    }

    #[test]
    fn this_process_is_a_live_owner() {
        assert_eq!(owner_alive(&owner(), Some(&owner_start())), Some(true));
    }

    #[test]
    fn a_wrong_start_time_means_the_pid_was_reused() {
        assert_eq!(owner_alive(&owner(), Some("1")), Some(false));
    }

    #[test]
    fn a_pid_that_does_not_exist_is_dead() {
        // Above the kernel's largest pid_max (2^22).
        let host = owner().split_once('@').unwrap().1.to_string();
        assert_eq!(owner_alive(&format!("4194305@{host}"), None), Some(false));
    }

    #[test]
    fn an_owner_on_another_host_is_unknown() {
        assert_eq!(owner_alive("1@some-other-host.invalid", None), None);
    }
}
