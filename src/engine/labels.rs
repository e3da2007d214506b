//! Labels put on every object an instance creates. Labels, not a state file, are the
//! truth about what exists: `down`, `status` and `gc` find objects by them.

use std::collections::HashMap;

pub const MANAGED: &str = "io.envctl.managed";
pub const PROJECT: &str = "io.envctl.project";
pub const ENVIRONMENT: &str = "io.envctl.environment";
pub const INSTANCE: &str = "io.envctl.instance";
pub const RUN: &str = "io.envctl.run";
pub const NODE: &str = "io.envctl.node";
pub const REPLICA: &str = "io.envctl.replica";
pub const HASH: &str = "io.envctl.hash";
pub const ROLE: &str = "io.envctl.role";
pub const OWNER: &str = "io.envctl.owner";
pub const CACHE_KEY: &str = "io.envctl.cache-key";

/// Role of a container: a node replica, or a short-lived provisioning container.
pub const ROLE_NODE: &str = "node";
pub const ROLE_PROVISION: &str = "provision";

/// Identifies one instance of one environment on an engine.
#[derive(Debug, Clone)]
pub struct InstanceId {
    pub project: String,
    pub environment: String,
    pub instance: String,
    /// Identifies this envctl invocation.
    pub run: String,
}

impl InstanceId {
    /// Prefix of every object name of this instance: `envctl-ENV-INSTANCE`.
    pub fn prefix(&self) -> String {
        format!("envctl-{}-{}", self.environment, self.instance)
    }

    /// Name of the instance's network.
    pub fn network(&self) -> String {
        self.prefix()
    }

    /// Container name of a replica (`envctl-demo-default-web-2`).
    pub fn container(&self, replica: &str) -> String {
        format!("{}-{replica}", self.prefix())
    }

    /// Labels common to all objects of this instance, for this run.
    pub fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (MANAGED.to_string(), "true".to_string()),
            (PROJECT.to_string(), self.project.clone()),
            (ENVIRONMENT.to_string(), self.environment.clone()),
            (INSTANCE.to_string(), self.instance.clone()),
            (RUN.to_string(), self.run.clone()),
            (OWNER.to_string(), owner()),
        ])
    }

    /// Label filters that select every object of this instance, whatever run made it.
    pub fn filters(&self) -> HashMap<String, Vec<String>> {
        HashMap::from([(
            "label".to_string(),
            vec![
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
