//! The package cache: apt's downloaded packages and pip's cache, kept in engine volumes
//! that every provisioning run on this machine shares, so an edit loop does not download
//! the same packages again.
//!
//! The volumes are mounted over `/var/cache/apt/archives` and `/root/.cache/pip` of the
//! provisioning container and of the idempotence check's second run, never of a running
//! node, and a committed image never holds what is in a mount: the provisioned image is
//! what the steps made of the base, without the cache. apt takes a package file from the
//! cache only when its hash is the one the lists name, so the cache changes where packages
//! come from, not which ones are installed. apt's lists are not cached: they stay the
//! image's, so a freshness check (`cache_valid_time`) decides as it would without the
//! cache.
//!
//! Runs side by side must not share one set of directories (apt locks its lists and
//! archives and gives up at once when another apt holds them), so the cache has
//! [`SLOTS`] sets per base image, each taken by an OS file lock for the life of one
//! container. A node starts looking at the slot its name hashes to, so the same node
//! keeps finding its own packages; when every slot is taken, it provisions without the
//! cache, which is slower and otherwise the same.

use crate::backend::Backend;
use crate::model::mounts::Mount;
use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

/// Sets of cache directories per base image.
pub const SLOTS: usize = 8;

/// The label on every package cache volume: the base image it caches for and the slot.
pub const LABEL: &str = "io.envctl.package-cache";

/// Volume name suffixes and where each is mounted.
const DIRS: [(&str, &str); 2] = [
    ("apt-archives", "/var/cache/apt/archives"),
    ("pip", "/root/.cache/pip"),
];

/// One slot of the cache, held until dropped.
#[derive(Debug)]
pub struct Lease {
    /// What the provisioning container mounts.
    pub mounts: Vec<Mount>,
    /// The slot's name, for the provisioning log.
    pub slot: String,
    _lock: File,
}

/// Takes a free slot of the cache for a node provisioned from `base`, creating its
/// volumes when they do not exist. `None` when there is no place for the locks or every
/// slot is taken: the node is provisioned without the cache.
///
/// # Errors
/// Engine failures creating the volumes.
pub async fn lease(
    backend: &dyn Backend,
    base: &str,
    node: &str,
) -> Result<Option<Lease>, crate::backend::EngineError> {
    match lock_dir() {
        Some(dir) => lease_in(&dir, backend, base, node).await,
        None => Ok(None),
    }
}

/// [`lease`] with the slots' locks in `dir`.
async fn lease_in(
    dir: &std::path::Path,
    backend: &dyn Backend,
    base: &str,
    node: &str,
) -> Result<Option<Lease>, crate::backend::EngineError> {
    if std::fs::create_dir_all(dir).is_err() {
        return Ok(None);
    }
    let key = key(base);
    let first = start_slot(node);
    for n in 0..SLOTS {
        let slot = format!("envctl-packages-{key}-{}", (first + n) % SLOTS);
        let Ok(file) = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{slot}.lock")))
        else {
            return Ok(None);
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => continue,
            Err(TryLockError::Error(_)) => return Ok(None),
        }
        let mut mounts = Vec::with_capacity(DIRS.len());
        for (suffix, target) in DIRS {
            let name = format!("{slot}-{suffix}");
            let volume_labels = HashMap::from([(LABEL.to_string(), slot.clone())]);
            backend.ensure_volume(&name, volume_labels).await?;
            mounts.push(Mount::Volume {
                name,
                target: target.into(),
                read_only: false,
            });
        }
        return Ok(Some(Lease {
            mounts,
            slot,
            _lock: file,
        }));
    }
    Ok(None)
}

/// What selects the package cache's volumes on an engine.
pub fn selector() -> crate::backend::Selector {
    crate::backend::Selector::from([("label".to_string(), vec![LABEL.to_string()])])
}

/// The part of volume names that says which base image they cache for: the reference,
/// lower case, with anything but letters, digits and dashes as a dash.
fn key(base: &str) -> String {
    let mut key: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    key.truncate(60);
    key
}

/// The slot a node looks at first: the same one every run, spread over the slots.
fn start_slot(node: &str) -> usize {
    node.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    }) % SLOTS
}

/// Where the slots' lock files live: `$XDG_CACHE_HOME/envctl/package-cache`, else
/// `~/.cache/envctl/package-cache`.
fn lock_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("envctl").join("package-cache"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_volume_name_safe() {
        assert_eq!(key("debian:bookworm"), "debian-bookworm");
        assert_eq!(
            key("Registry.example:5000/team/img:1.2"),
            "registry-example-5000-team-img-1-2"
        );
        assert!(key(&"x".repeat(200)).len() <= 60);
    }

    #[test]
    fn a_node_always_starts_at_the_same_slot() {
        assert_eq!(start_slot("web"), start_slot("web"));
        assert!(start_slot("web") < SLOTS);
        let spread: std::collections::BTreeSet<usize> = ["a", "b", "c", "d", "web", "db", "cache"]
            .iter()
            .map(|n| start_slot(n))
            .collect();
        assert!(spread.len() > 1, "every node hashed to one slot");
    }

    #[tokio::test]
    async fn a_taken_slot_sends_the_next_run_to_another_and_a_full_cache_to_none() {
        let dir = tempfile::tempdir().unwrap();
        let fake = crate::backend::fake::Fake::new();
        let mut leases = Vec::new();
        for _ in 0..SLOTS {
            let lease = lease_in(dir.path(), &fake, "debian:bookworm", "web")
                .await
                .unwrap()
                .expect("a free slot");
            leases.push(lease);
        }
        let slots: std::collections::BTreeSet<&str> =
            leases.iter().map(|l| l.slot.as_str()).collect();
        assert_eq!(slots.len(), SLOTS, "two runs shared a slot: {slots:?}");
        assert!(lease_in(dir.path(), &fake, "debian:bookworm", "web")
            .await
            .unwrap()
            .is_none());
        // Another base has slots of its own.
        let other = lease_in(dir.path(), &fake, "debian:trixie", "web")
            .await
            .unwrap()
            .expect("a slot for trixie");
        assert!(other.slot.starts_with("envctl-packages-debian-trixie-"));
        let mounted: Vec<String> = other
            .mounts
            .iter()
            .map(|m| match m {
                Mount::Volume { name, target, .. } => format!("{name}:{target}"),
                other => panic!("not a volume: {other:?}"),
            })
            .collect();
        assert_eq!(
            mounted,
            [
                format!("{}-apt-archives:/var/cache/apt/archives", other.slot),
                format!("{}-pip:/root/.cache/pip", other.slot),
            ]
        );
        // A released slot is free again, and the node finds the one it hashes to.
        let first = leases.remove(0);
        let freed = first.slot.clone();
        drop(first);
        let again = lease_in(dir.path(), &fake, "debian:bookworm", "web")
            .await
            .unwrap()
            .expect("the freed slot");
        assert_eq!(again.slot, freed);
    }
}
