//! An instance: one running copy of an environment on the engine. `up` creates or updates
//! it, `down` removes it, `view` gives checks a way into its nodes. What exists is read
//! from the engine's labels every time, never from a state file.

pub mod artifacts;
pub mod down;
pub mod gc;
pub mod health;
pub mod idempotence;
pub mod image_file;
pub mod lock;
pub mod machine_idempotence;
pub mod package_cache;
pub mod ready;
pub mod subset;
pub mod up;

pub mod watch;

#[cfg(test)]
mod tests;

use crate::backend::labels::{self, InstanceId};
use crate::backend::node::NodeInfo;
use crate::backend::{Backend, EngineError};
use crate::model::Environment;
use crate::plan::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::backend::view::InstanceView;

/// A container being removed in the background.
type Removal = tokio::task::JoinHandle<Result<(), EngineError>>;

/// One instance of one environment, and the engine it lives on.
#[derive(Clone)]
pub struct Instance {
    pub backend: Arc<dyn Backend>,
    pub root: PathBuf,
    pub env: Environment,
    pub id: InstanceId,
    /// Provisioning runs share apt's and pip's downloads ([`package_cache`]); on unless
    /// `--no-package-cache`.
    pub package_cache: bool,
    /// `--incremental`: a node whose steps changed runs the changed ones on top of its
    /// previous provisioning instead of from their base (the edit loop); the image is
    /// kept under a key of its own ([`crate::plan::hash::incremental_key`]).
    pub incremental: bool,
    /// Removals started by [`Instance::remove_later`], awaited by [`Instance::settle`].
    removals: Arc<std::sync::Mutex<Vec<Removal>>>,
}

impl Instance {
    /// Names the instance `instance` of `env` in the project at `root`.
    pub fn new(
        backend: Arc<dyn Backend>,
        root: &Path,
        env: Environment,
        instance: &str,
    ) -> Instance {
        let id = InstanceId {
            project: project_id(root),
            project_dir: root.display().to_string(),
            environment: env.name.clone(),
            instance: instance.to_string(),
            run: run_id(),
            ephemeral: false,
        };
        Instance {
            backend,
            root: root.to_path_buf(),
            env,
            id,
            package_cache: true,
            incremental: false,
            removals: Arc::default(),
        }
    }

    /// Starts removing container `id` and goes on: a provisioning container is removed
    /// while the nodes start from what it made. [`Instance::settle`] waits for it.
    pub fn remove_later(&self, id: String) {
        let backend = self.backend.clone();
        let handle = tokio::spawn(async move { backend.remove_node(&id).await });
        self.removals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(handle);
    }

    /// Waits for every removal [`Instance::remove_later`] started.
    ///
    /// # Errors
    /// The first removal that failed.
    pub async fn settle(&self) -> Result<(), EngineError> {
        let handles = std::mem::take(
            &mut *self
                .removals
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let mut first = None;
        for handle in handles {
            match handle.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first.get_or_insert(e);
                }
                Err(e) => {
                    first.get_or_insert(EngineError::Other(format!("removing a container: {e}")));
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Every node of this instance (nodes and provisioning nodes).
    ///
    /// # Errors
    /// Engine failures.
    pub async fn containers(&self) -> Result<Vec<NodeInfo>, EngineError> {
        self.backend.list_nodes(&self.id.filters()).await
    }

    /// The node containers of this instance, keyed by replica name.
    ///
    /// # Errors
    /// Engine failures.
    pub async fn view(&self) -> Result<InstanceView, EngineError> {
        let containers = self.containers().await?;
        Ok(InstanceView::new(
            self.backend.clone(),
            &self.env.name,
            self.id.network(),
            containers
                .into_iter()
                .filter(|c| c.label(labels::ROLE) == Some(labels::ROLE_NODE))
                .collect(),
        ))
    }

    /// Where this instance keeps provisioning logs.
    pub fn log_dir(&self) -> PathBuf {
        log_dir(&self.root, &self.env.name, &self.id.instance)
    }
}

/// A short, stable id for a project directory, stored in labels so that two projects
/// using the same environment and instance names are told apart.
pub fn project_id(root: &Path) -> String {
    Hasher::default()
        .field(root.as_os_str().as_encoded_bytes())
        .hex()[..12]
        .to_string()
}

/// A unique id for this envctl invocation.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{:x}{:04x}",
        nanos & 0xffff_ffff_ffff,
        std::process::id() & 0xffff
    )
}

/// Where the provisioning and idempotence logs of instance `instance` of `env` are kept:
/// `.envctl/logs/ENV/INSTANCE` under the project.
pub fn log_dir(root: &Path, env: &str, instance: &str) -> PathBuf {
    root.join(".envctl").join("logs").join(env).join(instance)
}

/// Writes a log `name` into `dir` (a [`log_dir`]), private, creating `dir`. A log that
/// cannot be written is left out: the run itself is what matters.
pub fn keep_log(dir: &Path, name: &str, text: &str) {
    if crate::model::secrets::create_private_dir(dir).is_ok() {
        let _ = crate::model::secrets::write_private(&dir.join(name), text);
    }
}
