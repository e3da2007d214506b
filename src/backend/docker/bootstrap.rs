//! Debian base images without a registry: `debootstrap --variant=minbase SUITE DIR`, then
//! the tree is imported into the engine as `debian:SUITE` (like `docker import`).

use super::Docker;
use crate::backend::EngineError;
use futures_util::StreamExt;
use std::path::PathBuf;
use std::process::Stdio;

/// Debian suites envctl can build, with the tags they answer to.
const SUITES: &[(&str, &[&str])] = &[
    ("bookworm", &["bookworm", "12", "bookworm-slim", "12-slim"]),
    ("bullseye", &["bullseye", "11", "bullseye-slim", "11-slim"]),
    ("trixie", &["trixie", "13", "trixie-slim", "13-slim"]),
];

/// The Debian suite an image reference stands for, if envctl can bootstrap it.
pub fn suite_for(reference: &str) -> Option<&'static str> {
    let (repo, tag) = super::split_reference(reference);
    let repo = repo
        .trim_start_matches("docker.io/")
        .trim_start_matches("library/");
    if repo != "debian" {
        return None;
    }
    SUITES
        .iter()
        .find(|(_, tags)| tags.contains(&tag))
        .map(|(suite, _)| *suite)
}

/// Builds `reference` (e.g. `debian:bookworm`) with debootstrap and imports it.
/// Concurrent bootstraps of one suite on one machine wait for each other.
///
/// # Errors
/// [`EngineError::Bootstrap`] when debootstrap is missing or fails, or the import fails.
pub async fn bootstrap(
    docker: &Docker,
    reference: &str,
    note: &(dyn Fn(&str) + Sync),
) -> Result<String, EngineError> {
    let fail = |message: String| EngineError::Bootstrap {
        image: reference.to_string(),
        message,
    };
    let suite = suite_for(reference).ok_or_else(|| {
        fail("envctl can bootstrap debian:bookworm, debian:bullseye and debian:trixie".into())
    })?;
    let work = std::env::var_os("ENVCTL_BOOTSTRAP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp"));
    let lock_path = work.join(format!("envctl-bootstrap-{suite}.lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| fail(format!("cannot open {}: {e}", lock_path.display())))?;
    let lock = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
        .await
        .map_err(|e| fail(e.to_string()))?
        .map_err(|e| fail(format!("cannot lock {}: {e}", lock_path.display())))?;
    // Another run may have built it while we waited for the lock.
    if let Some(image) = docker.image(reference).await? {
        drop(lock);
        return Ok(image.id);
    }
    let debootstrap = which("debootstrap").ok_or_else(|| {
        fail("debootstrap is not installed; install it (`sudo apt-get install debootstrap`) or load the image with `docker load`".into())
    })?;
    let dir = tempfile::Builder::new()
        .prefix("envctl-rootfs-")
        .tempdir_in(&work)
        .map_err(|e| {
            fail(format!(
                "cannot create a directory in {}: {e}",
                work.display()
            ))
        })?;
    let mirror = std::env::var("ENVCTL_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    note(&format!(
        "building {reference} with debootstrap ({suite}, minbase) from {mirror}; this happens once per machine"
    ));
    let output = tokio::process::Command::new(debootstrap)
        .args(["--variant=minbase", suite])
        .arg(dir.path())
        .arg(&mirror)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| fail(format!("cannot run debootstrap: {e}")))?;
    if !output.status.success() {
        let log = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        return Err(fail(format!(
            "debootstrap failed ({}); it needs root and network access to {mirror}:\n{}",
            output.status,
            super::tail(&log, 15)
        )));
    }
    prepare_for_containers(dir.path()).map_err(|e| fail(format!("preparing the tree: {e}")))?;
    note(&format!("importing {reference} into the engine"));
    let mut tar = tokio::process::Command::new("tar")
        .arg("-C")
        .arg(dir.path())
        .args(["--numeric-owner", "-c", "."])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| fail(format!("cannot run tar: {e}")))?;
    let stdout = tar.stdout.take().expect("stdout is piped");
    let stream = tokio_util::io::ReaderStream::with_capacity(stdout, 1 << 20)
        .filter_map(|chunk| std::future::ready(chunk.ok()));
    docker.import(reference, stream).await?;
    let status = tar.wait().await.map_err(|e| fail(e.to_string()))?;
    if !status.success() {
        return Err(fail(format!(
            "tar of the root filesystem failed ({status})"
        )));
    }
    drop(dir);
    drop(lock);
    docker
        .image(reference)
        .await?
        .map(|i| i.id)
        .ok_or_else(|| fail("the import finished but the image is not there".into()))
}

/// Container conventions for the tree: package scripts must not start services while
/// provisioning (policy-rc.d, as in Docker's own Debian images), and apt's caches are
/// dropped.
fn prepare_for_containers(root: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let policy = root.join("usr/sbin/policy-rc.d");
    std::fs::write(
        &policy,
        "#!/bin/sh\n# envctl: no service starts during package installs\nexit 101\n",
    )?;
    std::fs::set_permissions(&policy, std::fs::Permissions::from_mode(0o755))?;
    let _ = std::fs::remove_dir_all(root.join("var/cache/apt/archives/partial"));
    for entry in std::fs::read_dir(root.join("var/cache/apt/archives"))?.flatten() {
        if entry.path().extension().is_some_and(|e| e == "deb") {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Finds a program on PATH (and in sbin directories, where debootstrap lives).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_which_references_it_can_bootstrap() {
        assert_eq!(suite_for("debian:bookworm"), Some("bookworm"));
        assert_eq!(suite_for("debian:12"), Some("bookworm"));
        assert_eq!(
            suite_for("docker.io/library/debian:bullseye"),
            Some("bullseye")
        );
        assert_eq!(suite_for("ubuntu:24.04"), None);
        assert_eq!(suite_for("debian:sid"), None);
    }
}
