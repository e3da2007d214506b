//! `gc`: finds what dead runs left on the engine and removes it. An object is garbage
//! when it must not outlive its owner process (the instance of `envctl test`, and every
//! provisioning container) and that owner is gone, or when it is older than the lease.
//! Instances made by `envctl up` are meant to stay and are only removed by `down`.

use crate::backend::labels::{self, CREATED, EPHEMERAL, OWNER, OWNER_START, ROLE, ROLE_PROVISION};
use crate::backend::Backend;
use crate::backend::EngineError;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// Why an object is garbage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Its owner process no longer runs on this host.
    OwnerGone(String),
    /// It has lived longer than the lease.
    LeaseExpired { age: Duration, lease: Duration },
    /// A provisioned image that a newer one replaced in the cache, used by no container.
    Superseded,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::OwnerGone(owner) => write!(f, "owner {owner} is gone"),
            Reason::LeaseExpired { age, lease } => write!(
                f,
                "older than the lease ({} > {})",
                crate::wait::human(*age),
                crate::wait::human(*lease)
            ),
            Reason::Superseded => write!(
                f,
                "replaced in the provisioning cache by a newer image, used by no container"
            ),
        }
    }
}

/// Whether an object with these labels is garbage. `alive` tells whether an owner
/// (`pid@host`, start time) runs; `None` when it cannot be told (another host).
pub fn verdict(
    labels: &HashMap<String, String>,
    now: u64,
    lease: Duration,
    alive: &dyn Fn(&str, Option<&str>) -> Option<bool>,
) -> Option<Reason> {
    let ephemeral = labels.get(EPHEMERAL).is_some_and(|v| v == "true")
        || labels.get(ROLE).is_some_and(|v| v == ROLE_PROVISION);
    if !ephemeral {
        return None;
    }
    if let Some(owner) = labels.get(OWNER) {
        if alive(owner, labels.get(OWNER_START).map(String::as_str)) == Some(false) {
            return Some(Reason::OwnerGone(owner.clone()));
        }
    }
    let created: u64 = labels.get(CREATED)?.parse().ok()?;
    let age = Duration::from_secs(now.saturating_sub(created));
    (age > lease).then_some(Reason::LeaseExpired { age, lease })
}

/// One object `gc` removes (or would remove).
#[derive(Debug, Clone)]
pub struct Garbage {
    /// `container`, `network`, `volume` or `image`.
    pub kind: &'static str,
    pub id: String,
    pub name: String,
    /// `ENV/INSTANCE`.
    pub instance: String,
    pub reason: Reason,
}

fn instance_key(labels: &HashMap<String, String>) -> String {
    let get = |k: &str| labels.get(k).map(String::as_str).unwrap_or("?");
    format!("{}/{}", get(labels::ENVIRONMENT), get(labels::INSTANCE))
}

fn owner_key(labels: &HashMap<String, String>) -> (String, String, String) {
    let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
    (
        get(labels::PROJECT),
        get(labels::ENVIRONMENT),
        get(labels::INSTANCE),
    )
}

/// Lists every envctl object on the engine that is garbage. A network is garbage only
/// when no container of its instance is kept.
///
/// # Errors
/// Engine failures.
pub async fn find(backend: &dyn Backend, lease: Duration) -> Result<Vec<Garbage>, EngineError> {
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("{}=true", labels::MANAGED)],
    )]);
    let mut found = find_matching(backend, &filters, lease).await?;
    found.extend(superseded_images(backend).await?);
    Ok(found)
}

/// Provisioned images that lost their cache tag to a newer provisioning of the same key
/// and that no container uses.
async fn superseded_images(backend: &dyn Backend) -> Result<Vec<Garbage>, EngineError> {
    let mut found = Vec::new();
    for image in backend
        .list_images(vec![labels::CACHE_KEY.to_string()])
        .await?
    {
        if image.tags.iter().any(|t| t != "<none>:<none>") {
            continue;
        }
        let users = HashMap::from([("ancestor".to_string(), vec![image.id.clone()])]);
        if !backend.list_nodes(&users).await?.is_empty() {
            continue;
        }
        let short = image.id.trim_start_matches("sha256:");
        found.push(Garbage {
            kind: "image",
            id: image.id.clone(),
            name: short.get(..12).unwrap_or(short).to_string(),
            instance: format!(
                "{}/{}",
                image
                    .labels
                    .get(labels::ENVIRONMENT)
                    .map_or("?", String::as_str),
                image.labels.get(labels::NODE).map_or("?", String::as_str)
            ),
            reason: Reason::Superseded,
        });
    }
    Ok(found)
}

/// Like [`find`], among the objects matching label `filters` (e.g. one instance's).
///
/// # Errors
/// Engine failures.
pub async fn find_matching(
    backend: &dyn Backend,
    filters: &HashMap<String, Vec<String>>,
    lease: Duration,
) -> Result<Vec<Garbage>, EngineError> {
    let now = labels::now_secs();
    let alive = |owner: &str, start: Option<&str>| labels::owner_alive(owner, start);
    let mut found = Vec::new();
    let mut kept_instances = BTreeSet::new();
    for c in backend.list_nodes(filters).await? {
        // A failed step's node kept running is one of its instance's nodes, no longer a
        // provisioning container of the run that made it.
        let judged = if super::up::is_kept(&c) {
            let mut as_node = c.labels.clone();
            as_node.remove(ROLE);
            verdict(&as_node, now, lease, &alive)
        } else {
            verdict(&c.labels, now, lease, &alive)
        };
        match judged {
            Some(reason) => found.push(Garbage {
                kind: "container",
                id: c.id.clone(),
                name: c.name.clone(),
                instance: instance_key(&c.labels),
                reason,
            }),
            None => {
                kept_instances.insert(owner_key(&c.labels));
            }
        }
    }
    for (id, name, net_labels) in backend.list_networks(filters).await? {
        if kept_instances.contains(&owner_key(&net_labels)) {
            continue;
        }
        if let Some(reason) = verdict(&net_labels, now, lease, &alive) {
            found.push(Garbage {
                kind: "network",
                id,
                name,
                instance: instance_key(&net_labels),
                reason,
            });
        }
    }
    for (name, vol_labels) in backend.list_volumes(filters).await? {
        if kept_instances.contains(&owner_key(&vol_labels)) {
            continue;
        }
        if let Some(reason) = verdict(&vol_labels, now, lease, &alive) {
            found.push(Garbage {
                kind: "volume",
                id: name.clone(),
                name,
                instance: instance_key(&vol_labels),
                reason,
            });
        }
    }
    Ok(found)
}

/// Default lease: objects of `test` runs older than this are garbage even if their owner
/// still runs.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(24 * 3600);

/// Removes what [`find`] returned: containers first, then networks, volumes, images.
///
/// # Errors
/// The first engine failure; removal goes on past it.
pub async fn remove(backend: &dyn Backend, garbage: &[Garbage]) -> Result<(), EngineError> {
    let mut first = None;
    for g in garbage.iter().filter(|g| g.kind == "container") {
        if let Err(e) = backend.remove_node(&g.id).await {
            first.get_or_insert(e);
        }
    }
    for g in garbage.iter().filter(|g| g.kind == "network") {
        if let Err(e) = super::down::remove_network_when_free(backend, &g.id).await {
            first.get_or_insert(e);
        }
    }
    for g in garbage.iter().filter(|g| g.kind == "volume") {
        if let Err(e) = backend.remove_volume(&g.id).await {
            first.get_or_insert(e);
        }
    }
    // An image a container started from meanwhile stays.
    for g in garbage.iter().filter(|g| g.kind == "image") {
        if let Err(e) = backend.remove_image_unless_used(&g.id).await {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn dead(_: &str, _: Option<&str>) -> Option<bool> {
        Some(false)
    }
    fn live(_: &str, _: Option<&str>) -> Option<bool> {
        Some(true)
    }
    fn unknown(_: &str, _: Option<&str>) -> Option<bool> {
        None
    }

    #[test]
    fn an_ephemeral_object_of_a_dead_owner_is_garbage() {
        let l = labels(&[(EPHEMERAL, "true"), (OWNER, "7@h"), (CREATED, "1000")]);
        assert_eq!(
            verdict(&l, 1001, HOUR, &dead),
            Some(Reason::OwnerGone("7@h".into()))
        );
    }

    #[test]
    fn an_ephemeral_object_of_a_live_owner_is_kept_until_the_lease_ends() {
        let l = labels(&[(EPHEMERAL, "true"), (OWNER, "7@h"), (CREATED, "1000")]);
        assert_eq!(verdict(&l, 1000 + 3600, HOUR, &live), None);
        assert!(matches!(
            verdict(&l, 1000 + 3601, HOUR, &live),
            Some(Reason::LeaseExpired { .. })
        ));
    }

    #[test]
    fn an_owner_on_another_host_is_judged_by_the_lease_only() {
        let l = labels(&[(EPHEMERAL, "true"), (OWNER, "7@other"), (CREATED, "0")]);
        assert_eq!(verdict(&l, 10, HOUR, &unknown), None);
        assert!(verdict(&l, 7200, HOUR, &unknown).is_some());
    }

    #[test]
    fn provisioning_containers_are_always_ephemeral() {
        let l = labels(&[
            (EPHEMERAL, "false"),
            (ROLE, ROLE_PROVISION),
            (OWNER, "7@h"),
            (CREATED, "0"),
        ]);
        assert!(verdict(&l, 1, HOUR, &dead).is_some());
    }

    #[test]
    fn instances_made_by_up_are_never_garbage() {
        let l = labels(&[(EPHEMERAL, "false"), (OWNER, "7@h"), (CREATED, "0")]);
        assert_eq!(verdict(&l, 1_000_000, HOUR, &dead), None);
        let old = labels(&[(OWNER, "7@h"), (CREATED, "0")]);
        assert_eq!(verdict(&old, 1_000_000, HOUR, &dead), None);
    }
}
