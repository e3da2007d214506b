//! What a node's steps run on: a node of an engine (a container, through the
//! [`Backend`]'s exec and upload) or a machine reached over SSH (a QEMU VM). Every step
//! kind runs through [`StepHost`] alone, so shell, script, copy, template, ansible,
//! puppet and salt steps are one piece of code on containers and machines.

use crate::backend::ssh::SshAccess;
use crate::backend::{Backend, EngineError, ExecOutput};
use async_trait::async_trait;
use serde_json::Value;
use std::time::Duration;

/// Host variables of an Ansible inventory entry.
pub type Mapping = serde_json::Map<String, Value>;

/// Where a node's steps run, and how the tools envctl runs on this host reach it.
#[async_trait]
pub trait StepHost: Send + Sync {
    /// Runs `command` as root in `id` (a container, or a machine's name) with `env`
    /// (`K=V`) and a deadline.
    ///
    /// # Errors
    /// `id` is gone, the engine or ssh failed, or the deadline passed
    /// ([`EngineError::ExecTimeout`]).
    async fn exec(
        &self,
        id: &str,
        command: &[String],
        env: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, EngineError>;

    /// Unpacks the tar archive `tar` into directory `dir` of `id`, as root.
    ///
    /// # Errors
    /// As [`StepHost::exec`].
    async fn upload(&self, id: &str, dir: &str, tar: Vec<u8>) -> Result<(), EngineError>;

    /// The host variables of Ansible's connection to `id`: which plugin, which host,
    /// how it becomes root.
    fn ansible_connection(&self, id: &str) -> Mapping;

    /// `DOCKER_HOST` for ansible-playbook when it reaches `id` through an engine envctl
    /// reaches its own way (a socket of envctl's for an engine over ssh or TLS; the
    /// machine of a swarm that runs the node).
    fn tool_endpoint(&self, id: &str) -> Option<String>;
}

/// Ansible's connection to containers: the engine's exec API.
pub const DOCKER_CONNECTION: &str = "community.docker.docker_api";

/// The nodes of an engine.
pub struct OnEngine<'a>(pub &'a dyn Backend);

#[async_trait]
impl StepHost for OnEngine<'_> {
    async fn exec(
        &self,
        id: &str,
        command: &[String],
        env: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, EngineError> {
        self.0.exec(id, command, env, timeout).await
    }

    async fn upload(&self, id: &str, dir: &str, tar: Vec<u8>) -> Result<(), EngineError> {
        self.0.upload(id, dir, tar).await
    }

    fn ansible_connection(&self, id: &str) -> Mapping {
        let mut vars = Mapping::new();
        vars.insert("ansible_connection".into(), DOCKER_CONNECTION.into());
        vars.insert("ansible_host".into(), id.into());
        // Nodes run as root and rarely have sudo; `become` still works through su.
        vars.insert("ansible_become_method".into(), "su".into());
        // The connection plugin does not read `DOCKER_HOST` (its own default, the local
        // socket, wins), so any other engine is named.
        let engine = self
            .tool_endpoint(id)
            .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|v| !v.is_empty()));
        if let Some(engine) = engine {
            vars.insert("ansible_docker_docker_host".into(), engine.into());
        }
        vars
    }

    fn tool_endpoint(&self, id: &str) -> Option<String> {
        self.0.tool_endpoint_for(id)
    }
}

/// The machines of an instance, over SSH: commands run as root through sudo; Ansible
/// connects with ssh and the same `ssh_config`, and becomes root with sudo.
#[async_trait]
impl StepHost for SshAccess {
    async fn exec(
        &self,
        id: &str,
        command: &[String],
        env: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, EngineError> {
        self.run(id, command, env, None, timeout).await
    }

    async fn upload(&self, id: &str, dir: &str, tar: Vec<u8>) -> Result<(), EngineError> {
        let unpack = ["tar", "-x", "-C", dir].map(String::from);
        let out = self
            .run(id, &unpack, &[], Some(tar), Duration::from_secs(300))
            .await?;
        if out.exit_code != 0 {
            return Err(EngineError::Other(format!(
                "unpacking into {dir} on machine `{id}`: {}",
                out.stderr.trim()
            )));
        }
        Ok(())
    }

    fn ansible_connection(&self, id: &str) -> Mapping {
        let mut vars = Mapping::new();
        vars.insert("ansible_connection".into(), "ssh".into());
        // The `Host` of envctl's ssh_config, which names address, port, user and key.
        vars.insert("ansible_host".into(), id.into());
        vars.insert(
            "ansible_ssh_common_args".into(),
            format!("-F {}", self.ssh_config.display()).into(),
        );
        // Steps run as root, as in a container.
        vars.insert("ansible_become".into(), true.into());
        vars.insert("ansible_become_method".into(), "sudo".into());
        vars
    }

    fn tool_endpoint(&self, _id: &str) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{OnEngine, StepHost, DOCKER_CONNECTION};
    use crate::backend::ssh::SshAccess;
    use serde_json::Value;

    #[test]
    fn containers_are_reached_through_the_engines_exec_and_machines_over_ssh() {
        let engine = crate::backend::fake::Fake::new();
        let vars = OnEngine(&engine).ansible_connection("abc123");
        assert_eq!(vars["ansible_connection"], Value::from(DOCKER_CONNECTION));
        assert_eq!(vars["ansible_host"], Value::from("abc123"));
        assert_eq!(vars["ansible_become_method"], Value::from("su"));

        let machines = SshAccess {
            ssh_config: "/p/.envctl/qemu/vm/i/ssh_config".into(),
            hosts: Default::default(),
            nodes: Default::default(),
            forwarded: Default::default(),
        };
        let vars = machines.ansible_connection("web");
        assert_eq!(vars["ansible_connection"], Value::from("ssh"));
        assert_eq!(vars["ansible_host"], Value::from("web"));
        assert_eq!(
            vars["ansible_ssh_common_args"],
            Value::from("-F /p/.envctl/qemu/vm/i/ssh_config")
        );
        assert_eq!(vars["ansible_become"], Value::from(true));
        assert_eq!(vars["ansible_become_method"], Value::from("sudo"));
        assert!(!vars.contains_key("ansible_docker_docker_host"));
        assert_eq!(machines.tool_endpoint("web"), None);
    }
}
