//! The Docker Engine as a [`Backend`]: nodes are containers, snapshots are committed
//! images, the diff is the container's writable layer. Serves every feature.

use super::{image, systemd, Docker};
use crate::backend::engine::{Backend, Selector};
use crate::backend::node::{FsChange, ImageDetails, ImageInfo, NodeInfo, NodeSpec};
use crate::backend::{EngineError, ExecOutput};
use crate::model::{EngineKind, ImageSource};
use async_trait::async_trait;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

#[async_trait]
impl Backend for Docker {
    fn kind(&self) -> EngineKind {
        EngineKind::Docker
    }

    async fn settled(&self) {
        Docker::settled(self).await;
    }

    fn remote(&self) -> bool {
        self.remote
    }

    fn tool_endpoint(&self) -> Option<String> {
        // At most one of them: ssh:// has the tunnel, tcp:// with TLS the forward.
        (self.tunnel.as_ref().map(|t| t.endpoint()))
            .or_else(|| self.tls_forward.as_ref().map(|f| f.endpoint()))
    }

    async fn reach(
        &self,
        network: &str,
        target: std::net::SocketAddr,
    ) -> Result<std::net::SocketAddr, EngineError> {
        Docker::reach(self, network, target).await
    }

    async fn prepare_image(
        &self,
        root: &Path,
        source: &ImageSource,
        note: &(dyn for<'n> Fn(&'n str) + Sync),
    ) -> Result<ImageDetails, EngineError> {
        image::ensure(self, root, source, note).await
    }

    async fn find_image(
        &self,
        root: &Path,
        source: &ImageSource,
    ) -> Result<Result<ImageDetails, String>, EngineError> {
        image::find(self, root, source).await
    }

    async fn find_systemd_image(
        &self,
        base: &ImageDetails,
    ) -> Result<Option<ImageDetails>, EngineError> {
        Docker::image(self, &systemd::derived_tag(&base.id)).await
    }

    async fn prepare_systemd_image(
        &self,
        base: &ImageDetails,
        network: &str,
        labels: HashMap<String, String>,
        note: &(dyn for<'n> Fn(&'n str) + Sync),
    ) -> Result<ImageDetails, EngineError> {
        systemd::ensure(self, base, network, labels, note).await
    }

    async fn image(&self, reference: &str) -> Result<Option<ImageDetails>, EngineError> {
        Docker::image(self, reference).await
    }

    async fn list_images(&self, labels: Vec<String>) -> Result<Vec<ImageInfo>, EngineError> {
        Docker::list_images(self, labels).await
    }

    async fn remove_image(&self, reference: &str) -> Result<(), EngineError> {
        Docker::remove_image(self, reference).await
    }

    async fn remove_image_unless_used(&self, id: &str) -> Result<bool, EngineError> {
        Docker::remove_image_unless_used(self, id).await
    }

    async fn export_images(
        &self,
        references: &[String],
        mut out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<(), EngineError> {
        Docker::export_images(self, references, &mut out).await
    }

    async fn snapshot(
        &self,
        id: &str,
        reference: &str,
        labels: HashMap<String, String>,
        cmd: Option<Vec<String>>,
        entrypoint: Option<Vec<String>>,
    ) -> Result<String, EngineError> {
        self.commit(id, reference, labels, cmd, entrypoint).await
    }

    async fn ensure_network(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), EngineError> {
        Docker::ensure_network(self, name, labels).await
    }

    async fn list_networks(
        &self,
        selector: &Selector,
    ) -> Result<Vec<(String, String, HashMap<String, String>)>, EngineError> {
        Docker::list_networks(self, selector).await
    }

    async fn remove_network(&self, id: &str) -> Result<(), EngineError> {
        Docker::remove_network(self, id).await
    }

    async fn ensure_volume(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), EngineError> {
        Docker::ensure_volume(self, name, labels).await
    }

    async fn list_volumes(
        &self,
        selector: &Selector,
    ) -> Result<Vec<(String, HashMap<String, String>)>, EngineError> {
        Docker::list_volumes(self, selector).await
    }

    async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        Docker::remove_volume(self, name).await
    }

    async fn create_node(&self, spec: &NodeSpec) -> Result<String, EngineError> {
        self.create_container(spec).await
    }

    async fn start_node(&self, id: &str, name: &str) -> Result<(), EngineError> {
        self.start(id, name).await
    }

    async fn wait_booted(&self, id: &str, timeout: Duration) -> Result<(), EngineError> {
        systemd::wait_booted(self, id, timeout).await
    }

    async fn stop_node(&self, id: &str, grace_secs: i32) -> Result<(), EngineError> {
        self.stop(id, grace_secs).await
    }

    async fn remove_node(&self, id: &str) -> Result<(), EngineError> {
        self.remove_container(id).await
    }

    async fn interactive(&self, id: &str, command: &[String]) -> Result<i64, EngineError> {
        Docker::interactive(self, id, command).await
    }

    async fn rename_node(&self, id: &str, name: &str) -> Result<(), EngineError> {
        self.rename_container(id, name).await
    }

    async fn list_nodes(&self, selector: &Selector) -> Result<Vec<NodeInfo>, EngineError> {
        self.list_containers(selector).await
    }

    async fn node_state(&self, id: &str) -> Result<(bool, Option<i64>), EngineError> {
        self.state(id).await
    }

    async fn changes(&self, id: &str) -> Result<Vec<(String, FsChange)>, EngineError> {
        Docker::changes(self, id).await
    }

    async fn exec(
        &self,
        id: &str,
        command: &[String],
        env: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, EngineError> {
        Docker::exec(self, id, command, env, timeout).await
    }

    async fn exec_streaming(
        &self,
        id: &str,
        command: &[String],
        env: &[String],
        timeout: Duration,
        sink: &(dyn for<'b> Fn(&'b [u8]) + Send + Sync),
    ) -> Result<ExecOutput, EngineError> {
        Docker::exec_streaming(self, id, command, env, timeout, sink).await
    }

    async fn upload(&self, id: &str, dir: &str, tar: Vec<u8>) -> Result<(), EngineError> {
        Docker::upload(self, id, dir, tar).await
    }

    fn logs(
        &self,
        id: &str,
        follow: bool,
        tail: Option<usize>,
    ) -> BoxStream<'_, Result<String, EngineError>> {
        Docker::logs(self, id, follow, tail).boxed()
    }

    async fn log_tail(&self, id: &str, lines: usize) -> String {
        Docker::log_tail(self, id, lines).await
    }

    async fn inspect(&self, id: &str) -> Result<serde_json::Value, EngineError> {
        Docker::inspect(self, id).await
    }
}
