//! What a swarm's manager says about its machines, and images carried from one engine to
//! another without a registry (the export of one streamed into the load of the other).

use super::{api, Docker};
use crate::backend::EngineError;
use crate::model::placement::Machine;
use futures_util::StreamExt;

/// The node label that names a machine's engine for envctl: `tcp://ADDR:2375`,
/// `ssh://USER@HOST`... (`docker node update --label-add io.envctl.engine=... NODE`).
pub const ENGINE_LABEL: &str = "io.envctl.engine";

/// One machine of a swarm, as its manager lists it.
#[derive(Debug, Clone)]
pub struct SwarmMachine {
    pub facts: Machine,
    /// The machine's [`ENGINE_LABEL`].
    pub endpoint: Option<String>,
    /// It is the manager envctl talks to.
    pub this: bool,
    /// Ready and active: the swarm would place tasks on it.
    pub usable: bool,
    /// Its state and availability, when not usable (`down`, `drain`...).
    pub state: String,
}

impl Docker {
    /// This engine, made the manager of a swarm envctl places nodes on: instance networks
    /// become attachable overlays and host-side checks always go through the probe.
    pub fn as_swarm_manager(mut self) -> Docker {
        self.overlay = true;
        self
    }

    /// Whether this engine manages a swarm (`docker swarm init` ran here).
    ///
    /// # Errors
    /// Engine failures.
    pub async fn manages_a_swarm(&self) -> Result<bool, EngineError> {
        let info = self
            .api
            .info()
            .await
            .map_err(api("reading the engine's info"))?;
        Ok(info
            .swarm
            .is_some_and(|s| s.control_available == Some(true)))
    }

    /// The machines of the swarm this engine manages.
    ///
    /// # Errors
    /// [`EngineError::Other`] when it manages none, and engine failures.
    pub async fn swarm_machines(&self) -> Result<Vec<SwarmMachine>, EngineError> {
        let info = self
            .api
            .info()
            .await
            .map_err(api("reading the engine's info"))?;
        let swarm = info.swarm.unwrap_or_default();
        if swarm.control_available != Some(true) {
            return Err(EngineError::Other(format!(
                "the engine at {} is not a swarm manager (its swarm state: {}); the swarm engine needs DOCKER_HOST to name a manager: run `docker swarm init` there and `docker swarm join` on the other machines, or use engine = \"docker\" (docs/engines.md)",
                super::engine_info::endpoint(),
                swarm
                    .local_node_state
                    .map_or_else(|| "unknown".to_string(), |s| s.to_string())
            )));
        }
        let own = swarm.node_id.unwrap_or_default();
        let nodes = self
            .api
            .list_nodes(None::<bollard::query_parameters::ListNodesOptions>)
            .await
            .map_err(api("listing the swarm's machines"))?;
        let mut machines: Vec<SwarmMachine> = nodes
            .into_iter()
            .map(|n| {
                let spec = n.spec.unwrap_or_default();
                let description = n.description.unwrap_or_default();
                let platform = description.platform.unwrap_or_default();
                let state = n
                    .status
                    .and_then(|s| s.state)
                    .map_or_else(|| "unknown".to_string(), |s| s.to_string());
                let availability = spec
                    .availability
                    .map_or_else(|| "active".to_string(), |a| a.to_string());
                let labels = spec.labels.unwrap_or_default();
                let id = n.id.unwrap_or_default();
                SwarmMachine {
                    endpoint: labels.get(ENGINE_LABEL).cloned(),
                    this: id == own,
                    usable: state == "ready" && availability == "active",
                    state: format!("{state}, {availability}"),
                    facts: Machine {
                        hostname: description.hostname.unwrap_or_default(),
                        role: spec
                            .role
                            .map_or_else(|| "worker".to_string(), |r| r.to_string()),
                        labels,
                        engine_labels: description
                            .engine
                            .and_then(|e| e.labels)
                            .unwrap_or_default(),
                        os: platform.os.unwrap_or_default(),
                        arch: platform.architecture.unwrap_or_default(),
                        id,
                    },
                }
            })
            .collect();
        // The manager first, then by hostname: spreading is deterministic.
        machines.sort_by(|a, b| {
            b.this
                .cmp(&a.this)
                .then_with(|| a.facts.hostname.cmp(&b.facts.hostname))
        });
        Ok(machines)
    }

    /// Copies images `references` (tags or ids) from this engine to `to`: this engine's
    /// export streamed into `to`'s load, ids and tags kept.
    ///
    /// # Errors
    /// Either engine failing.
    pub async fn carry_images(
        &self,
        to: &Docker,
        references: &[String],
    ) -> Result<(), EngineError> {
        let from = self.long();
        let names = references.to_vec();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(8);
        let export = tokio::spawn(async move {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let mut stream = from.export_images(&refs);
            while let Some(chunk) = stream.next().await {
                let failed = chunk.is_err();
                let chunk = chunk.map_err(|e| std::io::Error::other(e.to_string()));
                if tx.send(chunk).await.is_err() || failed {
                    break;
                }
            }
        });
        let body = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let options = bollard::query_parameters::ImportImageOptionsBuilder::new()
            .quiet(true)
            .build();
        let what = references.join(", ");
        let mut progress = to.long().import_image_stream(options, body, None);
        let mut loaded = Ok(());
        while let Some(step) = progress.next().await {
            if let Err(e) = step {
                loaded = Err(api(format!(
                    "carrying {what} to another machine of the swarm"
                ))(e));
                break;
            }
        }
        drop(progress);
        let _ = export.await;
        loaded
    }
}
