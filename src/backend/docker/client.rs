//! The Docker Engine, through bollard. Thin, typed wrappers over the API calls envctl
//! makes; every error says which object and operation failed.

use super::privileges;
use crate::backend::node::{FsChange, ImageDetails, ImageInfo, NodeInfo, NodeSpec};
use crate::backend::{EngineError, ExecOutput};
use crate::model::port::Protocol;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig,
    PortBinding,
};
use bollard::query_parameters::{
    CommitContainerOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, ListNetworksOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use futures_util::{Stream, StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A connection to a Docker Engine.
#[derive(Clone)]
pub struct Docker {
    pub(super) api: bollard::Docker,
    /// Held shared by every create request in flight; see [`Docker::settled`].
    creating: Arc<tokio::sync::RwLock<()>>,
    /// The engine's host (cgroup version...), read once when a systemd node needs it.
    host: Arc<tokio::sync::OnceCell<super::privileges::Host>>,
    /// The engine runs on another machine (`DOCKER_HOST=tcp://...`, `ssh://...`).
    pub(super) remote: bool,
    /// How host-side checks reach nodes on a remote engine.
    pub(super) relay: Arc<super::relay::Relay>,
    /// The way to an engine named by `ssh://`, while this connection lives.
    pub(super) tunnel: Option<Arc<super::ssh_tunnel::Tunnel>>,
    /// A plain socket leading to an engine over TLS, for the tools envctl runs.
    pub(super) tls_forward: Option<Arc<super::tls_forward::Forward>>,
    /// The engine is Podman's Docker-compatible service (its commit reads `changes`).
    pub(super) podman: bool,
    /// Instance networks are attachable overlays, spanning the machines of a swarm
    /// (this is a swarm's manager).
    pub(super) overlay: bool,
}

/// How long the engine may take to answer one request (to send the head of its
/// response) before the run ends as an engine fault: a frozen engine, one that accepts
/// connections and never answers, must not hang envctl. `ENVCTL_ENGINE_TIMEOUT`
/// (seconds) overrides it.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(60);

/// How often a long-running exec asks the engine whether it still answers.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// The deadline of requests that legitimately take long before the engine answers:
/// committing a container, importing or loading images, stopping with a long grace.
pub const LONG_REQUEST_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// [`REQUEST_DEADLINE`], or `ENVCTL_ENGINE_TIMEOUT` when it holds a number of seconds.
pub fn request_deadline() -> Duration {
    std::env::var("ENVCTL_ENGINE_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&secs| secs > 0)
        .map_or(REQUEST_DEADLINE, Duration::from_secs)
}

pub(super) fn api(
    context: impl Into<String>,
) -> impl FnOnce(bollard::errors::Error) -> EngineError {
    let context = context.into();
    move |source| {
        match source {
        bollard::errors::Error::RequestTimeoutError => EngineError::Lost {
            context,
            reason: "it accepts connections but has not answered in time (a frozen engine; see `ENVCTL_ENGINE_TIMEOUT` in docs/reliability.md)".into(),
        },
        bollard::errors::Error::HyperLegacyError { .. }
        | bollard::errors::Error::HyperResponseError { .. }
        | bollard::errors::Error::IOError { .. }
        | bollard::errors::Error::SocketNotFoundError(_) => EngineError::Lost {
            context,
            reason: root_cause(&source),
        },
        source => EngineError::Api { context, source },
    }
    }
}

/// The innermost error message (hyper's outer layers say only "client error").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let inner = cause.to_string();
    if inner == e.to_string() {
        inner
    } else {
        format!("{e}: {inner}")
    }
}

pub(super) fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// What a commit sets, as the `changes` (Dockerfile instructions, one per line) Podman
/// reads: its Docker-compatible commit ignores the configuration in the request's body.
/// (Podman keeps the backslashes of a quoted value; envctl's labels have no quotes.)
fn podman_changes(
    labels: &HashMap<String, String>,
    cmd: Option<&[String]>,
    entrypoint: Option<&[String]>,
) -> String {
    fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
        serde_json::to_string(value).unwrap_or_default()
    }
    let mut lines = vec![format!(
        "ENTRYPOINT {}",
        json(entrypoint.unwrap_or_default())
    )];
    if let Some(cmd) = cmd {
        lines.push(format!("CMD {}", json(cmd)));
    }
    let mut labels: Vec<_> = labels.iter().collect();
    labels.sort();
    for (k, v) in labels {
        lines.push(format!("LABEL {}={}", json(k), json(v)));
    }
    lines.join("\n")
}

/// Podman reports a container in the middle of stopping as `stopping` or `stopped`,
/// states the Docker API does not have, and bollard cannot read a response that names
/// one. They pass within moments, so such a read is asked again (for up to 5 s).
async fn past_transient_states<T, F, Fut>(mut read: F) -> Result<T, bollard::errors::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, bollard::errors::Error>>,
{
    let mut tries = 0;
    loop {
        match read().await {
            Err(bollard::errors::Error::JsonDataError { message, .. })
                if tries < 50 && message.contains("unknown variant `stopp") =>
            {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

impl Docker {
    /// Connects using `DOCKER_HOST` or the local socket, and agrees on an API version.
    ///
    /// # Errors
    /// [`EngineError::Unreachable`] with instructions when no engine answers.
    pub async fn connect() -> Result<Docker, EngineError> {
        let endpoint =
            std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        Docker::open(&endpoint, true).await
    }

    /// Connects to the engine at `endpoint` (`unix://`, `tcp://`, `ssh://`), with TLS
    /// as `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH` say for a `tcp://` one: a machine
    /// of a swarm, named by its node's `io.envctl.engine` label.
    ///
    /// # Errors
    /// [`EngineError::Unreachable`] with instructions when no engine answers.
    pub async fn connect_to(endpoint: &str) -> Result<Docker, EngineError> {
        Docker::open(endpoint, false).await
    }

    async fn open(endpoint: &str, from_env: bool) -> Result<Docker, EngineError> {
        let unreachable = |reason: String| EngineError::Unreachable {
            endpoint: endpoint.to_string(),
            reason,
        };
        let tunnel = if endpoint.starts_with("ssh://") {
            Some(Arc::new(super::ssh_tunnel::Tunnel::open(endpoint).await?))
        } else {
            None
        };
        let secs = request_deadline().as_secs();
        let version = bollard::API_DEFAULT_VERSION;
        let client = match &tunnel {
            Some(t) => {
                bollard::Docker::connect_with_unix(&t.socket().to_string_lossy(), secs, version)
            }
            None if from_env => bollard::Docker::connect_with_defaults(),
            None if endpoint.starts_with("unix://") => {
                bollard::Docker::connect_with_unix(endpoint, secs, version)
            }
            None if std::env::var_os("DOCKER_TLS_VERIFY").is_some() => {
                let dir = super::engine_info::cert_dir();
                bollard::Docker::connect_with_ssl(
                    endpoint,
                    &dir.join("key.pem"),
                    &dir.join("cert.pem"),
                    &dir.join("ca.pem"),
                    secs,
                    version,
                )
            }
            None => bollard::Docker::connect_with_http(endpoint, secs, version),
        }
        .map_err(|e| unreachable(e.to_string()))?
        .with_timeout(request_deadline());
        let client = tokio::time::timeout(Duration::from_secs(10), client.negotiate_version())
            .await
            .map_err(|_| unreachable("no answer within 10s".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        tokio::time::timeout(Duration::from_secs(10), client.ping())
            .await
            .map_err(|_| unreachable("no answer within 10s".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        let tls_forward =
            if endpoint.starts_with("tcp://") && std::env::var_os("DOCKER_TLS_VERIFY").is_some() {
                let certs = super::engine_info::cert_dir();
                Some(Arc::new(super::tls_forward::Forward::open(
                    endpoint, &certs,
                )?))
            } else {
                None
            };
        let podman = client.version().await.is_ok_and(|v| {
            v.components
                .unwrap_or_default()
                .iter()
                .any(|c| c.name.contains("Podman"))
        });
        Ok(Docker {
            api: client,
            creating: Arc::default(),
            host: Arc::default(),
            remote: super::relay::is_remote(endpoint),
            relay: Arc::default(),
            tunnel,
            tls_forward,
            podman,
            overlay: false,
        })
    }

    /// What envctl needs to know of the engine's host (read once per connection).
    ///
    /// # Errors
    /// Engine failures.
    pub async fn host(&self) -> Result<super::privileges::Host, EngineError> {
        self.host
            .get_or_try_init(|| async {
                let info = self
                    .api
                    .info()
                    .await
                    .map_err(api("reading the engine's info"))?;
                Ok(super::privileges::Host::from_info(&info))
            })
            .await
            .cloned()
    }

    /// Waits until no create request of this connection is in flight.
    ///
    /// Creations run to completion even when the caller is dropped (an interrupt), so
    /// cleanup that calls this first finds everything the run made.
    pub async fn settled(&self) {
        drop(self.creating.write().await);
    }

    /// The connection with [`LONG_REQUEST_DEADLINE`], for requests the engine answers
    /// only once their work is done.
    pub(super) fn long(&self) -> bollard::Docker {
        self.api
            .clone()
            .with_timeout(LONG_REQUEST_DEADLINE.max(request_deadline()))
    }

    /// Runs an engine request that creates an object so that dropping the caller does not
    /// abandon it half-way: the request finishes in the background while
    /// [`Docker::settled`] waits for it.
    pub(super) async fn creation<T, F>(&self, request: F) -> Result<T, bollard::errors::Error>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T, bollard::errors::Error>> + Send + 'static,
    {
        let guard = self.creating.clone().read_owned().await;
        let task = tokio::spawn(async move {
            let out = request.await;
            drop(guard);
            out
        });
        match task.await {
            Ok(out) => out,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(std::io::Error::other("the runtime shut down").into()),
        }
    }

    /// Details of a local image, or `None` when it is not present.
    ///
    /// # Errors
    /// Engine failures other than "not found".
    pub async fn image(&self, reference: &str) -> Result<Option<ImageDetails>, EngineError> {
        match self.api.inspect_image(reference).await {
            Ok(img) => {
                let config = img.config.unwrap_or_default();
                Ok(Some(ImageDetails {
                    id: img.id.unwrap_or_default(),
                    cmd: config.cmd,
                    entrypoint: config.entrypoint,
                }))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(api(format!("inspecting image {reference}"))(e)),
        }
    }

    /// Pulls an image from its registry.
    ///
    /// # Errors
    /// The registry's or engine's message.
    pub async fn pull(&self, reference: &str) -> Result<(), EngineError> {
        let (repo, tag) = split_reference(reference);
        let options = CreateImageOptionsBuilder::new()
            .from_image(repo)
            .tag(tag)
            .build();
        self.long()
            .create_image(Some(options), None, None)
            .try_collect::<Vec<_>>()
            .await
            .map_err(api(format!("pulling {reference}")))?;
        Ok(())
    }

    /// Imports a root filesystem tarball as image `reference` (like `docker import`).
    ///
    /// # Errors
    /// Engine failures.
    pub async fn import(
        &self,
        reference: &str,
        tarball: impl Stream<Item = bytes::Bytes> + Send + 'static,
    ) -> Result<(), EngineError> {
        let (repo, tag) = split_reference(reference);
        let options = CreateImageOptionsBuilder::new()
            .from_src("-")
            .repo(repo)
            .tag(tag)
            .changes(vec!["CMD [\"/bin/bash\"]".to_string()])
            .build();
        self.long()
            .create_image(Some(options), Some(bollard::body_stream(tarball)), None)
            .try_collect::<Vec<_>>()
            .await
            .map_err(api(format!("importing {reference}")))?;
        Ok(())
    }

    /// Builds an image from a tarred build context; returns the build output on failure.
    ///
    /// # Errors
    /// [`EngineError::Build`] with the failing step's output.
    pub async fn build(
        &self,
        context_name: &str,
        context_tar: Vec<u8>,
        tag: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), EngineError> {
        let options = bollard::query_parameters::BuildImageOptionsBuilder::new()
            .t(tag)
            .rm(true)
            .forcerm(true)
            .labels(&labels)
            .build();
        let client = self.long();
        let mut stream = client.build_image(
            options,
            None,
            Some(bollard::body_full(bytes::Bytes::from(context_tar))),
        );
        let mut log = String::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| EngineError::Build {
                context: context_name.to_string(),
                message: format!("{e}\n{}", tail(&log, 20)),
            })?;
            if let Some(s) = info.stream {
                log.push_str(&s);
            }
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                return Err(EngineError::Build {
                    context: context_name.to_string(),
                    message: format!("{err}\n{}", tail(&log, 20)),
                });
            }
        }
        Ok(())
    }

    /// Commits a container's filesystem as image `reference`, restoring the given
    /// command and entrypoint in the image's configuration.
    ///
    /// # Errors
    /// Engine failures.
    pub async fn commit(
        &self,
        container: &str,
        reference: &str,
        labels: HashMap<String, String>,
        cmd: Option<Vec<String>>,
        entrypoint: Option<Vec<String>>,
    ) -> Result<String, EngineError> {
        let (repo, tag) = split_reference(reference);
        let mut options = CommitContainerOptionsBuilder::new()
            .container(container)
            .repo(repo)
            .tag(tag)
            .pause(true);
        if self.podman {
            options = options.changes(&podman_changes(
                &labels,
                cmd.as_deref(),
                entrypoint.as_deref(),
            ));
        }
        let options = options.build();
        let config = bollard::models::ContainerConfig {
            labels: Some(labels),
            cmd,
            entrypoint: Some(entrypoint.unwrap_or_default()),
            ..Default::default()
        };
        let id = self
            .long()
            .commit_container(options, config)
            .await
            .map_err(api(format!("committing {container} as {reference}")))?;
        Ok(id.id)
    }

    /// Images carrying all of `labels` (`key=value` strings).
    ///
    /// # Errors
    /// Engine failures.
    pub async fn list_images(&self, labels: Vec<String>) -> Result<Vec<ImageInfo>, EngineError> {
        let filters = HashMap::from([("label".to_string(), labels)]);
        let options = ListImagesOptionsBuilder::new().filters(&filters).build();
        let images = self
            .api
            .list_images(Some(options))
            .await
            .map_err(api("listing images"))?;
        Ok(images
            .into_iter()
            .map(|i| ImageInfo {
                id: i.id,
                tags: i.repo_tags,
                labels: i.labels,
                created: i.created,
                size: i.size,
            })
            .collect())
    }

    /// Removes an image.
    ///
    /// # Errors
    /// Engine failures other than "not found".
    pub async fn remove_image(&self, reference: &str) -> Result<(), EngineError> {
        let options = RemoveImageOptionsBuilder::new().force(true).build();
        match self.api.remove_image(reference, Some(options), None).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(api(format!("removing image {reference}"))(e)),
        }
    }

    /// Removes an image unless a container (of any state) uses it; `false` when one does.
    ///
    /// # Errors
    /// Engine failures other than "in use" and "not found".
    pub async fn remove_image_unless_used(&self, id: &str) -> Result<bool, EngineError> {
        let options = RemoveImageOptionsBuilder::new().force(false).build();
        match self.api.remove_image(id, Some(options), None).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(false),
            Err(e) => Err(api(format!("removing image {id}"))(e)),
        }
    }

    /// Creates the network unless it exists.
    ///
    /// # Errors
    /// Engine failures.
    pub async fn ensure_network(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), EngineError> {
        if !self.networks_named(name).await?.is_empty() {
            return Ok(());
        }
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some(if self.overlay { "overlay" } else { "bridge" }.into()),
            attachable: self.overlay.then_some(true),
            labels: Some(labels),
            ..Default::default()
        };
        let api_client = self.api.clone();
        match self
            .creation(async move { api_client.create_network(request).await })
            .await
        {
            Ok(_) => Ok(()),
            // Created concurrently by another envctl of the same instance.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(api(format!("creating network {name}"))(e)),
        }
    }

    async fn networks_named(&self, name: &str) -> Result<Vec<String>, EngineError> {
        let filters = HashMap::from([("name".to_string(), vec![name.to_string()])]);
        let options = ListNetworksOptionsBuilder::new().filters(&filters).build();
        let networks = self
            .api
            .list_networks(Some(options))
            .await
            .map_err(api("listing networks"))?;
        Ok(networks
            .into_iter()
            .filter(|n| n.name.as_deref() == Some(name))
            .filter_map(|n| n.id)
            .collect())
    }

    /// Networks matching label filters: (id, name).
    ///
    /// # Errors
    /// Engine failures.
    pub async fn list_networks(
        &self,
        filters: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<(String, String, HashMap<String, String>)>, EngineError> {
        let options = ListNetworksOptionsBuilder::new().filters(filters).build();
        let networks = self
            .api
            .list_networks(Some(options))
            .await
            .map_err(api("listing networks"))?;
        Ok(networks
            .into_iter()
            .map(|n| {
                (
                    n.id.unwrap_or_default(),
                    n.name.unwrap_or_default(),
                    n.labels.unwrap_or_default(),
                )
            })
            .collect())
    }

    /// Removes a network; a network already gone is not an error.
    ///
    /// # Errors
    /// Engine failures.
    pub async fn remove_network(&self, id: &str) -> Result<(), EngineError> {
        match self.api.remove_network(id).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(api(format!("removing network {id}"))(e)),
        }
    }

    /// Creates a container on the instance network; returns its id.
    ///
    /// # Errors
    /// Engine failures (name taken, port in use...).
    pub async fn create_container(&self, spec: &NodeSpec) -> Result<String, EngineError> {
        let mut bindings = HashMap::new();
        let mut exposed = Vec::new();
        for p in &spec.ports {
            let proto = match p.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
            };
            let key = format!("{}/{proto}", p.container);
            exposed.push(key.clone());
            bindings.insert(
                key,
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(p.host.map(|h| h.to_string()).unwrap_or_default()),
                }]),
            );
        }
        let mut host_config = HostConfig {
            port_bindings: Some(bindings),
            network_mode: Some(spec.network.clone()),
            ..Default::default()
        };
        let mut env = spec.env.clone();
        let mut labels = spec.labels.clone();
        let mut entrypoint = spec.entrypoint.clone();
        let host = if spec.systemd {
            let host = self.host().await?;
            host.check_systemd().map_err(EngineError::Other)?;
            env.push("container=docker".into());
            entrypoint = Some(privileges::boot_entrypoint(&host, &spec.privileges));
            labels.insert(
                privileges::BOOT_IMAGE.into(),
                spec.boot_image
                    .clone()
                    .unwrap_or_else(|| spec.image.clone()),
            );
            Some(host)
        } else {
            None
        };
        privileges::apply(&mut host_config, host.as_ref(), &spec.privileges);
        super::volume::apply(&mut host_config, &spec.mounts, &spec.resources);
        host_config.restart_policy = super::volume::restart_policy(spec.restart);
        let networking = NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                spec.network.clone(),
                EndpointSettings {
                    aliases: Some(spec.aliases.clone()),
                    ..Default::default()
                },
            )])),
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: spec.cmd.clone(),
            entrypoint,
            env: Some(env),
            labels: Some(labels),
            hostname: Some(spec.hostname.clone()),
            stop_signal: spec.systemd.then(|| "SIGRTMIN+3".to_string()),
            exposed_ports: Some(exposed),
            host_config: Some(host_config),
            networking_config: Some(networking),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::new()
            .name(&spec.name)
            .build();
        let api_client = self.api.clone();
        let created = self
            .creation(async move { api_client.create_container(Some(options), body).await })
            .await
            .map_err(api(format!("creating container {}", spec.name)))?;
        Ok(created.id)
    }

    /// Starts a created container.
    ///
    /// # Errors
    /// Engine failures (e.g. a host port already in use).
    pub async fn start(&self, id: &str, name: &str) -> Result<(), EngineError> {
        let inspected = past_transient_states(|| self.api.inspect_container(id, None))
            .await
            .map_err(api(format!("inspecting container {name}")))?;
        if let Err(e) = self.api.start_container(id, None).await {
            let privileged = inspected
                .host_config
                .as_ref()
                .and_then(|h| h.privileged)
                .unwrap_or(false);
            let mut message = format!("starting container {name}: {}", root_cause(&e));
            if privileged && message.contains("apply caps") {
                message.push_str("\n  this engine cannot run privileged containers (its capability bounding set lacks capabilities that privileged mode grants); instead of `privileged = true`, give the node the capabilities it needs: `capabilities = [\"NET_ADMIN\"]`");
                return Err(EngineError::Other(message));
            }
            return Err(api(format!("starting container {name}"))(e));
        }
        let boot_image = inspected
            .config
            .and_then(|c| c.labels)
            .and_then(|l| l.get(privileges::BOOT_IMAGE).cloned());
        match boot_image {
            Some(image) => self.boot_helper(id, name, &image).await,
            None => Ok(()),
        }
    }

    /// Runs the boot helper of a systemd container (see `privileges.rs`) to completion.
    async fn boot_helper(&self, node: &str, name: &str, image: &str) -> Result<(), EngineError> {
        let host = self.host().await?;
        let (cmd, host_config) = privileges::helper(&host, node)?;
        let mut labels: HashMap<String, String> =
            past_transient_states(|| self.api.inspect_container(node, None))
                .await
                .ok()
                .and_then(|c| c.config)
                .and_then(|c| c.labels)
                .unwrap_or_default();
        labels.remove(privileges::BOOT_IMAGE);
        labels.insert(
            crate::backend::labels::ROLE.into(),
            crate::backend::labels::ROLE_PROVISION.into(),
        );
        labels.insert(
            crate::backend::labels::OWNER.into(),
            crate::backend::labels::owner(),
        );
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint: Some(vec![]),
            cmd: Some(cmd),
            labels: Some(labels),
            host_config: Some(host_config),
            ..Default::default()
        };
        let helper_name = format!("envctl-boot-{}", &node[..node.len().min(12)]);
        let options = CreateContainerOptionsBuilder::new()
            .name(&helper_name)
            .build();
        let api_client = self.api.clone();
        let created = self
            .creation(async move { api_client.create_container(Some(options), body).await })
            .await
            .map_err(api(format!("creating the boot helper of {name}")))?;
        let result = async {
            self.api
                .start_container(&created.id, None)
                .await
                .map_err(api(format!("starting the boot helper of {name}")))?;
            let code = match self
                .api
                .wait_container(&created.id, None::<bollard::query_parameters::WaitContainerOptions>)
                .try_collect::<Vec<_>>()
                .await
            {
                Ok(states) => states.last().map_or(0, |s| s.status_code),
                Err(bollard::errors::Error::DockerContainerWaitError { code, .. }) => code,
                Err(e) => return Err(api(format!("waiting for the boot helper of {name}"))(e)),
            };
            if code != 0 {
                return Err(EngineError::Other(format!(
                    "systemd cannot boot in {name}: its boot helper (which makes the node's own cgroup writable) exited with {code}: {}\n  systemd nodes need `perl` in their base image (Debian and Ubuntu have it) and an engine that grants SYS_ADMIN to a helper container",
                    self.log_tail(&created.id, 5).await.trim()
                )));
            }
            Ok(())
        }
        .await;
        let _ = self.remove_container(&created.id).await;
        result
    }

    /// Stops a running container (SIGTERM, then SIGKILL after `grace_secs`); it stays
    /// so that it can be started again. Already stopped is not an error.
    ///
    /// # Errors
    /// Engine failures.
    pub async fn stop(&self, id: &str, grace_secs: i32) -> Result<(), EngineError> {
        let options = bollard::query_parameters::StopContainerOptionsBuilder::new()
            .t(grace_secs)
            .build();
        let grace = Duration::from_secs(grace_secs.max(0).unsigned_abs().into());
        let client = if grace + Duration::from_secs(10) > request_deadline() {
            self.long()
        } else {
            self.api.clone()
        };
        match client.stop_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(api(format!("stopping container {id}"))(e)),
        }
    }

    /// Removes a container, killing it if it runs. Already gone is not an error.
    ///
    /// # Errors
    /// Engine failures.
    pub async fn remove_container(&self, id: &str) -> Result<(), EngineError> {
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self.api.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // Removal already in progress (e.g. two downs at once).
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(api(format!("removing container {id}"))(e)),
        }
    }

    /// Renames a container.
    ///
    /// # Errors
    /// Engine failures, a name another container has among them.
    pub async fn rename_container(&self, id: &str, name: &str) -> Result<(), EngineError> {
        let options = bollard::query_parameters::RenameContainerOptionsBuilder::new()
            .name(name)
            .build();
        self.api
            .rename_container(id, options)
            .await
            .map_err(api(format!("renaming container {id} to {name}")))
    }

    /// Containers (running or not) matching label filters.
    ///
    /// # Errors
    /// Engine failures.
    pub async fn list_containers(
        &self,
        filters: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<NodeInfo>, EngineError> {
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(filters)
            .build();
        let list = past_transient_states(|| self.api.list_containers(Some(options.clone())))
            .await
            .map_err(api("listing containers"))?;
        Ok(list
            .into_iter()
            .map(|c| {
                let state = c
                    .state
                    .map(|s| s.to_string())
                    .unwrap_or_default()
                    .to_lowercase();
                NodeInfo {
                    id: c.id.unwrap_or_default(),
                    name: c
                        .names
                        .and_then(|n| n.into_iter().next())
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_string(),
                    labels: c.labels.unwrap_or_default(),
                    image_id: c.image_id.unwrap_or_default(),
                    machine: None,
                    running: state == "running",
                    state,
                    status: c.status.unwrap_or_default(),
                    ports: c
                        .ports
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|p| {
                            Some((
                                p.private_port,
                                p.typ.map(|t| t.to_string()).unwrap_or_default(),
                                p.public_port?,
                            ))
                        })
                        .collect(),
                    addresses: c
                        .network_settings
                        .and_then(|n| n.networks)
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|(name, e)| Some((name, e.ip_address?)))
                        .filter(|(_, ip)| !ip.is_empty())
                        .collect(),
                }
            })
            .collect())
    }

    /// The paths a container changed relative to its image (its writable layer):
    /// added, modified (including directories something below changed in) or deleted.
    ///
    /// # Errors
    /// Engine failures.
    pub async fn changes(&self, id: &str) -> Result<Vec<(String, FsChange)>, EngineError> {
        let changes = self
            .api
            .container_changes(id)
            .await
            .map_err(api(format!("listing the changes of container {id}")))?;
        Ok(changes
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                let kind = match c.kind {
                    bollard::models::ChangeType::_1 => FsChange::Added,
                    bollard::models::ChangeType::_2 => FsChange::Deleted,
                    bollard::models::ChangeType::_0 => FsChange::Modified,
                };
                (c.path, kind)
            })
            .collect())
    }

    /// Whether a container is running, and its exit code when it is not.
    ///
    /// # Errors
    /// Engine failures, including "no such container".
    pub async fn state(&self, id: &str) -> Result<(bool, Option<i64>), EngineError> {
        let info = past_transient_states(|| self.api.inspect_container(id, None))
            .await
            .map_err(api(format!("inspecting container {id}")))?;
        let state = info.state.unwrap_or_default();
        Ok((state.running.unwrap_or(false), state.exit_code))
    }

    /// What `docker inspect` shows of a container, as JSON.
    ///
    /// # Errors
    /// Engine failures, including "no such container".
    pub async fn inspect(&self, id: &str) -> Result<serde_json::Value, EngineError> {
        let info = past_transient_states(|| self.api.inspect_container(id, None))
            .await
            .map_err(api(format!("inspecting container {id}")))?;
        serde_json::to_value(info)
            .map_err(|e| EngineError::Other(format!("describing container {id}: {e}")))
    }

    /// Runs a command in a container and collects its output, within `timeout`.
    ///
    /// # Errors
    /// Engine failures and [`EngineError::ExecTimeout`].
    pub async fn exec(
        &self,
        container: &str,
        command: &[String],
        env: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, EngineError> {
        self.exec_streaming(container, command, env, timeout, &|_| {})
            .await
    }

    /// Runs `command` in a container attached to envctl's own standard input and output
    /// (`envctl shell`): in a TTY, with the terminal in raw mode, when stdin is one.
    /// Returns the command's exit code once it ends.
    ///
    /// # Errors
    /// Engine failures.
    pub async fn interactive(
        &self,
        container: &str,
        command: &[String],
    ) -> Result<i64, EngineError> {
        use tokio::io::AsyncWriteExt;
        let tty = crate::terminal::stdin_is_tty();
        let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
        let failed = || api(format!("opening a shell in {container}"));
        let exec = self
            .api
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(command.to_vec()),
                    env: Some(vec![format!("TERM={term}")]),
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    tty: Some(tty),
                    ..Default::default()
                },
            )
            .await
            .map_err(failed())?;
        let start = bollard::exec::StartExecOptions {
            detach: false,
            tty,
            output_capacity: None,
        };
        let StartExecResults::Attached {
            mut output,
            mut input,
        } = self
            .api
            .start_exec(&exec.id, Some(start))
            .await
            .map_err(failed())?
        else {
            return Err(EngineError::Other(format!(
                "the engine ran the shell in {container} detached"
            )));
        };
        if let Some((height, width)) = crate::terminal::size().filter(|_| tty) {
            let size = bollard::query_parameters::ResizeExecOptionsBuilder::new()
                .h(i32::from(height))
                .w(i32::from(width))
                .build();
            let _ = self.api.resize_exec(&exec.id, size).await;
        }
        // Keys reach the node from a thread of their own: a read of stdin blocks, and
        // must not hold up the end of envctl once the shell exits.
        let (keys, mut typed) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
        std::thread::spawn(move || {
            use std::io::Read;
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdin.read(&mut buf) {
                if n == 0 || keys.blocking_send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let forward = tokio::spawn(async move {
            while let Some(bytes) = typed.recv().await {
                if input.write_all(&bytes).await.is_err() {
                    return;
                }
                let _ = input.flush().await;
            }
            // End of stdin (a pipe): the shell reads end of file.
            let _ = input.shutdown().await;
        });
        let raw = if tty {
            crate::terminal::RawMode::enter()
        } else {
            None
        };
        while let Some(chunk) = output.next().await {
            use std::io::Write;
            match chunk {
                Ok(bollard::container::LogOutput::StdErr { message }) => {
                    let mut stderr = std::io::stderr().lock();
                    let _ = stderr.write_all(&message);
                    let _ = stderr.flush();
                }
                Ok(out) => {
                    let mut stdout = std::io::stdout().lock();
                    let _ = stdout.write_all(&out.into_bytes());
                    let _ = stdout.flush();
                }
                Err(_) => break,
            }
        }
        drop(raw);
        forward.abort();
        let inspect = self
            .api
            .inspect_exec(&exec.id)
            .await
            .map_err(api(format!("reading the shell's exit code in {container}")))?;
        Ok(inspect.exit_code.unwrap_or(-1))
    }

    /// Like [`Docker::exec`], also handing each piece of stdout to `sink` as it arrives.
    ///
    /// # Errors
    /// Engine failures and [`EngineError::ExecTimeout`].
    pub async fn exec_streaming(
        &self,
        container: &str,
        command: &[String],
        env: &[String],
        timeout: Duration,
        sink: &(dyn for<'b> Fn(&'b [u8]) + Send + Sync),
    ) -> Result<ExecOutput, EngineError> {
        let run = async {
            let exec = self
                .api
                .create_exec(
                    container,
                    CreateExecOptions {
                        cmd: Some(command.to_vec()),
                        env: Some(env.to_vec()),
                        attach_stdout: Some(true),
                        attach_stderr: Some(true),
                        ..Default::default()
                    },
                )
                .await
                .map_err(api(format!("running a command in {container}")))?;
            let mut out = ExecOutput::default();
            if let StartExecResults::Attached { mut output, .. } = self
                .api
                .start_exec(&exec.id, None)
                .await
                .map_err(api(format!("running a command in {container}")))?
            {
                // A silent command is normal; a silent engine is not. While output may be
                // slow, the engine is asked every few seconds whether it still answers.
                let mut beat = tokio::time::interval(HEARTBEAT);
                beat.tick().await;
                loop {
                    let chunk = tokio::select! {
                        chunk = output.next() => chunk,
                        _ = beat.tick() => {
                            self.api
                                .ping()
                                .await
                                .map_err(api(format!("waiting for a command in {container}")))?;
                            continue;
                        }
                    };
                    let Some(chunk) = chunk else { break };
                    match chunk.map_err(api(format!("reading output from {container}")))? {
                        bollard::container::LogOutput::StdErr { message } => {
                            out.stderr.push_str(&String::from_utf8_lossy(&message));
                        }
                        other => {
                            let bytes = other.into_bytes();
                            sink(&bytes);
                            out.stdout.push_str(&String::from_utf8_lossy(&bytes));
                        }
                    }
                }
            }
            let inspect = self
                .api
                .inspect_exec(&exec.id)
                .await
                .map_err(api(format!("reading exit code in {container}")))?;
            out.exit_code = inspect.exit_code.unwrap_or(-1);
            Ok(out)
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(result) => result,
            Err(_) => Err(EngineError::ExecTimeout {
                container: container.to_string(),
                command: command.join(" "),
                timeout,
            }),
        }
    }

    /// Extracts a tar archive into `dir` inside a container.
    ///
    /// # Errors
    /// Engine failures (e.g. `dir` does not exist).
    pub async fn upload(
        &self,
        container: &str,
        dir: &str,
        tar: Vec<u8>,
    ) -> Result<(), EngineError> {
        let options = UploadToContainerOptionsBuilder::new().path(dir).build();
        self.api
            .upload_to_container(
                container,
                Some(options),
                bollard::body_full(bytes::Bytes::from(tar)),
            )
            .await
            .map_err(api(format!("copying files into {container}:{dir}")))
    }

    /// A container's output: stdout and stderr interleaved as text chunks.
    pub fn logs(
        &self,
        container: &str,
        follow: bool,
        tail: Option<usize>,
    ) -> impl Stream<Item = Result<String, EngineError>> + '_ {
        let options = LogsOptionsBuilder::new()
            .follow(follow)
            .stdout(true)
            .stderr(true)
            .tail(&tail.map_or_else(|| "all".to_string(), |t| t.to_string()))
            .build();
        let name = container.to_string();
        self.api.logs(container, Some(options)).map(move |item| {
            item.map(|o| String::from_utf8_lossy(&o.into_bytes()).into_owned())
                .map_err(api(format!("reading logs of {name}")))
        })
    }

    /// The last `lines` lines of a container's output, for error messages.
    pub async fn log_tail(&self, container: &str, lines: usize) -> String {
        let chunks: Vec<String> = self
            .logs(container, false, Some(lines))
            .filter_map(|c| async move { c.ok() })
            .collect()
            .await;
        chunks.concat()
    }
}

/// `repo:tag` split for the engine's API (`debian:bookworm` -> `debian`, `bookworm`).
pub fn split_reference(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    }
}

/// The last `n` lines of `text`, redacted before it is cut, so a cut through a secret
/// shows none of it.
pub fn tail(text: &str, n: usize) -> String {
    let text = crate::model::secrets::redact(text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_is_told_what_a_commit_sets_as_dockerfile_instructions() {
        let labels = HashMap::from([
            ("io.envctl.node".to_string(), "web".to_string()),
            ("note".to_string(), "say \"hi\" = yes".to_string()),
        ]);
        let cmd = vec![
            "nginx".to_string(),
            "-g".to_string(),
            "daemon off;".to_string(),
        ];
        assert_eq!(
            podman_changes(&labels, Some(&cmd), None),
            "ENTRYPOINT []\nCMD [\"nginx\",\"-g\",\"daemon off;\"]\nLABEL \"io.envctl.node\"=\"web\"\nLABEL \"note\"=\"say \\\"hi\\\" = yes\""
        );
    }

    #[tokio::test]
    async fn podmans_passing_states_are_read_again_and_other_errors_are_not() {
        let unknown = |state: &str| bollard::errors::Error::JsonDataError {
            message: format!("unknown variant `{state}`, expected one of `created`"),
            column: 7,
        };
        let tries = std::sync::atomic::AtomicUsize::new(0);
        let read = past_transient_states(|| {
            let n = tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let state = ["stopping", "stopped"].get(n).copied();
            async move { state.map_or(Ok("exited"), |s| Err(unknown(s))) }
        })
        .await;
        assert_eq!(read.unwrap(), "exited");
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 3);

        let tries = std::sync::atomic::AtomicUsize::new(0);
        let read: Result<(), _> = past_transient_states(|| {
            tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Err(unknown("frozen")) }
        })
        .await;
        assert!(read.is_err());
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn splits_references() {
        assert_eq!(split_reference("debian:bookworm"), ("debian", "bookworm"));
        assert_eq!(split_reference("debian"), ("debian", "latest"));
        assert_eq!(
            split_reference("localhost:5000/app"),
            ("localhost:5000/app", "latest")
        );
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
    }
}
