//! Images that boot systemd as PID 1, for nodes with `init = "systemd"`. A base image
//! without systemd gets it from apt (Debian and Ubuntu); the result is cached as
//! `envctl-systemd:KEY`, keyed by the base image id. Package scripts may start services
//! in these images (no `policy-rc.d`), as on a production host.

use super::Docker;
use crate::backend::node::{ImageDetails, NodeSpec};
use crate::backend::{labels, EngineError};
use crate::plan::hash::Hasher;
use crate::wait::{self, Poll};
use std::collections::HashMap;
use std::time::Duration;

/// PID 1 of a systemd node.
pub const INIT: &str = crate::backend::node::SYSTEMD_INIT;

/// Label naming the base image a systemd image was derived from.
pub const DERIVED_FROM: &str = "io.envctl.systemd-base";

const PREPARE: &str = r#"set -e
if [ ! -x /lib/systemd/systemd ] && [ ! -x /usr/lib/systemd/systemd ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "the image has no systemd and no apt-get: envctl adds systemd to Debian and Ubuntu images; use an image with systemd" >&2
    exit 90
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd systemd-sysv dbus >/dev/null
  apt-get clean
  rm -rf /var/lib/apt/lists/*
fi
# Package scripts start services under systemd, as in production.
rm -f /usr/sbin/policy-rc.d
# Units that need real hardware or a console.
systemctl mask getty.target console-getty.service systemd-udevd.service \
  systemd-udevd-control.socket systemd-udevd-kernel.socket systemd-modules-load.service \
  systemd-remount-fs.service dev-hugepages.mount sys-fs-fuse-connections.mount >/dev/null 2>&1 || true
# Each container gets its own machine id at boot.
: > /etc/machine-id
"#;

/// The tag of the systemd image derived from the image `base_id`.
pub fn derived_tag(base_id: &str) -> String {
    let key = Hasher::default()
        .field(crate::plan::hash::SYSTEMD_KEY)
        .field(base_id)
        .hex();
    format!("envctl-systemd:{}", &key[..24])
}

/// The systemd image for `base`, derived and cached when missing.
///
/// # Errors
/// Engine failures, or an image systemd cannot be added to (with what to do).
pub async fn ensure(
    docker: &Docker,
    base: &ImageDetails,
    network: &str,
    labels: HashMap<String, String>,
    note: &(dyn Fn(&str) + Sync),
) -> Result<ImageDetails, EngineError> {
    let tag = derived_tag(&base.id);
    let key = tag.trim_start_matches("envctl-systemd:").to_string();
    if let Some(image) = docker.image(&tag).await? {
        return Ok(image);
    }
    // Parallel runs (CI jobs, tests) derive each image once: the others wait, then find it.
    let lock = lock(&key[..24]).await?;
    if let Some(image) = docker.image(&tag).await? {
        drop(lock);
        return Ok(image);
    }
    note(&format!(
        "adding systemd to image {} (once; cached as {tag})",
        short(&base.id)
    ));
    let spec = NodeSpec {
        name: format!("envctl-systemd-{}-{}", &key[..12], std::process::id()),
        image: base.id.clone(),
        entrypoint: Some(vec!["sleep".into()]),
        cmd: Some(vec!["infinity".into()]),
        labels,
        network: network.to_string(),
        ..Default::default()
    };
    let id = docker.create_container(&spec).await?;
    let result = async {
        docker.start(&id, &spec.name).await?;
        let cmd = vec!["sh".to_string(), "-c".to_string(), PREPARE.to_string()];
        let out = docker
            .exec(&id, &cmd, &[], Duration::from_secs(900))
            .await?;
        if out.exit_code != 0 {
            return Err(EngineError::Other(format!(
                "adding systemd to image {}: exit code {}\n{}",
                short(&base.id),
                out.exit_code,
                super::tail(&format!("{}{}", out.stdout, out.stderr), 15)
            )));
        }
        let labels = HashMap::from([
            (labels::MANAGED.to_string(), "true".to_string()),
            (DERIVED_FROM.to_string(), base.id.clone()),
        ]);
        docker
            .commit(&id, &tag, labels, Some(vec![INIT.into()]), None)
            .await?;
        Ok(())
    }
    .await;
    docker.remove_container(&id).await?;
    drop(lock);
    result?;
    docker
        .image(&tag)
        .await?
        .ok_or_else(|| EngineError::Other(format!("{tag} missing after commit")))
}

/// Waits until systemd in `container` has finished booting (`running` or `degraded`).
///
/// # Errors
/// systemd did not come up within `timeout`, with its last state.
pub async fn wait_booted(
    docker: &Docker,
    container: &str,
    timeout: Duration,
) -> Result<(), EngineError> {
    let cmd = vec!["systemctl".to_string(), "is-system-running".to_string()];
    wait::until(timeout, Duration::from_millis(200), || async {
        match docker
            .exec(container, &cmd, &[], Duration::from_secs(10))
            .await
        {
            Ok(out) => {
                let state = out.stdout.trim().to_string();
                match state.as_str() {
                    "running" | "degraded" => Poll::Ready(()),
                    _ => Poll::Pending(format!("systemd is `{state}`")),
                }
            }
            Err(e) => Poll::Pending(e.to_string()),
        }
    })
    .await
    .map_err(|e| EngineError::Other(format!("systemd did not boot in {container}: {e}")))
}

async fn lock(key: &str) -> Result<std::fs::File, EngineError> {
    let dir = std::env::var_os("ENVCTL_BOOTSTRAP_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("/var/tmp"));
    let path = dir.join(format!("envctl-systemd-{key}.lock"));
    let fail =
        |e: std::io::Error| EngineError::Other(format!("cannot lock {}: {e}", path.display()));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(fail)?;
    tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(|e| EngineError::Other(e.to_string()))?
        .map_err(fail)
}

fn short(id: &str) -> &str {
    let id = id.trim_start_matches("sha256:");
    &id[..id.len().min(12)]
}
