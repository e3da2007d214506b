//! Named volumes of an instance, and what a container mounts (volumes, project paths,
//! tmpfs) and may use (CPU, memory, processes) in the engine's terms.

use super::client::{api, is_not_found};
use super::Docker;
use crate::backend::{EngineError, Selector};
use crate::model::mounts::Mount;
use crate::model::resources::Resources;
use bollard::models::{
    HostConfig, MountTmpfsOptions, MountType, RestartPolicy, RestartPolicyNameEnum,
    VolumeCreateRequest,
};
use bollard::query_parameters::{ListVolumesOptions, RemoveVolumeOptions};
use std::collections::HashMap;

impl Docker {
    /// Creates the named volume unless it exists (whatever its labels: it holds data).
    ///
    /// # Errors
    /// Engine failures.
    pub async fn ensure_volume(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), EngineError> {
        match self.api.inspect_volume(name).await {
            Ok(_) => return Ok(()),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(api(format!("looking up volume {name}"))(e)),
        }
        let request = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels),
            ..Default::default()
        };
        let api_client = self.api.clone();
        self.creation(async move { api_client.create_volume(request).await })
            .await
            .map(drop)
            .map_err(api(format!("creating volume {name}")))
    }

    /// Volumes matching `selector`: (name, labels).
    ///
    /// # Errors
    /// Engine failures.
    pub async fn list_volumes(
        &self,
        selector: &Selector,
    ) -> Result<Vec<(String, HashMap<String, String>)>, EngineError> {
        let options = ListVolumesOptions {
            filters: Some(selector.clone()),
        };
        let listed = self
            .api
            .list_volumes(Some(options))
            .await
            .map_err(api("listing volumes"))?;
        Ok(listed
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| (v.name, v.labels))
            .collect())
    }

    /// Removes a volume and its data; one already gone is not an error.
    ///
    /// # Errors
    /// Engine failures (still in use...).
    pub async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        match self
            .api
            .remove_volume(name, None::<RemoveVolumeOptions>)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(api(format!("removing volume {name}"))(e)),
        }
    }
}

/// Puts a container's mounts (as [`crate::backend::node::NodeSpec`] holds them: full
/// volume names, absolute bind sources) and limits into its host configuration.
/// The engine's restart policy for a node's `restart` (none for `"no"`).
pub fn restart_policy(restart: crate::model::environment::Restart) -> Option<RestartPolicy> {
    use crate::model::environment::Restart;
    let (name, retries) = match restart {
        Restart::No => return None,
        Restart::Always => (RestartPolicyNameEnum::ALWAYS, None),
        Restart::UnlessStopped => (RestartPolicyNameEnum::UNLESS_STOPPED, None),
        Restart::OnFailure(n) => (RestartPolicyNameEnum::ON_FAILURE, n.map(i64::from)),
    };
    Some(RestartPolicy {
        name: Some(name),
        maximum_retry_count: retries,
    })
}

pub fn apply(host_config: &mut HostConfig, mounts: &[Mount], resources: &Resources) {
    let mounts: Vec<bollard::models::Mount> = mounts
        .iter()
        .map(|m| match m {
            Mount::Volume {
                name,
                target,
                read_only,
            } => bollard::models::Mount {
                typ: Some(MountType::VOLUME),
                source: Some(name.clone()),
                target: Some(target.clone()),
                read_only: Some(*read_only),
                ..Default::default()
            },
            Mount::Bind {
                source,
                target,
                read_only,
            } => bollard::models::Mount {
                typ: Some(MountType::BIND),
                source: Some(source.display().to_string()),
                target: Some(target.clone()),
                read_only: Some(*read_only),
                ..Default::default()
            },
            Mount::Tmpfs { target, size, mode } => bollard::models::Mount {
                typ: Some(MountType::TMPFS),
                target: Some(target.clone()),
                tmpfs_options: Some(MountTmpfsOptions {
                    size_bytes: size.and_then(|s| i64::try_from(s).ok()),
                    mode: mode.map(i64::from),
                    ..Default::default()
                }),
                ..Default::default()
            },
        })
        .collect();
    if !mounts.is_empty() {
        host_config.mounts = Some(mounts);
    }
    host_config.nano_cpus = resources.nano_cpus;
    host_config.memory = resources.memory;
    // Swap as large as memory means none on top: past the limit the process is killed.
    host_config.memory_swap = resources.memory;
    host_config.pids_limit = resources.pids;
}
