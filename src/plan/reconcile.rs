//! Reconciliation: what `up` does to make the engine match the definition, decided by a
//! pure function of the definition and what the engine was seen to hold. The executor
//! (`instance::up`) runs the [`Plan`]; `up --dry-run` prints it and does nothing.

use super::{hash, order};
use crate::model::{Environment, Node};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The provisioned image of a node with this provisioning key.
pub fn cache_tag(key: &str) -> String {
    format!("envctl-cache:{}", &key[..24.min(key.len())])
}

/// The snapshot of a node's filesystem after one provisioning step, whose key is that
/// step's link of the chain (`hash::step_keys`): a later run resumes from it.
pub fn snapshot_tag(key: &str) -> String {
    format!("envctl-step:{}", &key[..24.min(key.len())])
}

/// Where a provisioning resumes: the snapshot after the first `after` steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// Steps the snapshot holds (1..=after are not run again).
    pub after: usize,
    /// The snapshot's tag ([`snapshot_tag`]), or the previous provisioning's image id.
    pub tag: String,
    /// The label of the step it resumes at (step `after + 1`).
    pub next: String,
    /// `--incremental`: the image is the node's previous provisioning, which holds
    /// steps 1..=after as they are now and older versions of the steps after them; those
    /// run again on top of it.
    pub incremental: bool,
}

impl fmt::Display for Resume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&resumed(self.after, &self.next, self.incremental))
    }
}

/// What progress says of a provisioning that resumes after step `after` at the step
/// labelled `next`: `steps 1-4 reused from the cache, resuming at step 5 (NAME)`; with
/// `incremental`, that the steps from there run on the node's previous provisioning.
pub fn resumed(after: usize, next: &str, incremental: bool) -> String {
    let reused = match after {
        0 => String::new(),
        1 => "step 1 unchanged, ".to_string(),
        n => format!("steps 1-{n} unchanged, "),
    };
    if incremental {
        return format!(
            "{reused}running step {} ({next}) and after on top of the node's previous provisioning (--incremental; not a build from the base)",
            after + 1
        );
    }
    let reused = if after == 1 {
        "step 1".to_string()
    } else {
        format!("steps 1-{after}")
    };
    format!(
        "{reused} reused from the cache, resuming at step {} ({next})",
        after + 1
    )
}

/// The latest step of `node` whose snapshot exists (`has` tells, by tag), among every
/// step but the last (the last one's is the provisioned image itself): where its
/// provisioning resumes. `step_keys` is the node's chain (`hash::step_keys`).
pub fn resume_point(
    node: &Node,
    step_keys: &[String],
    has: impl Fn(&str) -> bool,
) -> Option<Resume> {
    let before_last = step_keys.len().min(node.provision.len()).saturating_sub(1);
    (1..=before_last).rev().find_map(|after| {
        let tag = snapshot_tag(&step_keys[after - 1]);
        has(&tag).then(|| Resume {
            after,
            tag,
            next: node.provision[after].label(),
            incremental: false,
        })
    })
}

/// One node (or provisioning node) the engine holds for the instance, as labels say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    /// The engine's id.
    pub id: String,
    /// The name users see (container or machine name).
    pub name: String,
    pub node: String,
    pub replica: Option<String>,
    /// The definition hash it was created with.
    pub hash: Option<String>,
    pub running: bool,
    /// Exited with code 0: a job (`run = "once"`) that completed.
    pub completed: bool,
    /// A provisioning node (`provision`, `idempotence`...) rather than a node.
    pub provisioning: bool,
}

/// What is known about a node's image before deciding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageState {
    /// The image provisioning starts from is present: the node's provisioning key,
    /// whether the provisioned image of that key is in the cache, and else the latest
    /// step snapshot provisioning can resume from.
    Known {
        key: String,
        cached: bool,
        resume: Option<Resume>,
    },
    /// The image must be made first (pulled, bootstrapped, built, systemd added):
    /// `action` says how. Only a dry run sees this: `up` prepares images before deciding.
    Pending { action: String },
}

/// What becomes of a node's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageAction {
    /// Its containers run the current definition; nothing is done.
    Unchanged,
    /// No provisioning steps: containers start from the base image.
    Base,
    /// The provisioned image `tag` is reused from the cache.
    Cached { tag: String },
    /// The steps run now and are kept as `tag` (`None` while the base is pending, so
    /// the key is not known yet), from the snapshot `resume` when there is one.
    Provision {
        steps: usize,
        tag: Option<String>,
        why: ProvisionWhy,
        resume: Option<Resume>,
    },
}

/// Why provisioning runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisionWhy {
    /// No provisioned image with this key exists.
    NotCached,
    /// `--no-cache`.
    NoCache,
    /// The base image is not there yet, so the cache cannot be consulted.
    BasePending,
}

/// What `up` does to one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlan {
    pub node: String,
    /// Its place in the start order: 1 for nodes that depend on nothing.
    pub wave: usize,
    /// The nodes it waits for (ready) before starting.
    pub after: Vec<String>,
    pub image: ImageAction,
    /// The definition hash its containers carry (`None` while its image is pending).
    pub hash: Option<String>,
    /// Replicas left running as they are.
    pub keep: Vec<String>,
    /// Replicas created and started.
    pub create: Vec<String>,
    /// Outdated or stopped containers removed before the new ones are created: (id, name).
    pub replace: Vec<(String, String)>,
}

impl NodePlan {
    /// Whether nothing is done to this node.
    pub fn unchanged(&self) -> bool {
        self.image == ImageAction::Unchanged
    }
}

/// A container removed because nothing defines it any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub id: String,
    pub name: String,
    pub why: RemovalWhy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalWhy {
    /// Its node is no longer defined, or scaled to zero.
    Undefined,
    /// A provisioning node left by an interrupted run.
    Leftover,
}

/// Everything one `up` does, in order: leftovers go, images are prepared, nodes start
/// in waves (each as soon as what it depends on is ready), undefined nodes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Base images still to be made: (image, how).
    pub images: Vec<(String, String)>,
    /// Defined nodes, in start order.
    pub nodes: Vec<NodePlan>,
    pub remove: Vec<Removal>,
}

impl Plan {
    /// Whether `up` would change nothing.
    pub fn is_noop(&self) -> bool {
        self.images.is_empty() && self.remove.is_empty() && self.nodes.iter().all(|n| n.unchanged())
    }

    /// The plan of one node.
    pub fn node(&self, name: &str) -> Option<&NodePlan> {
        self.nodes.iter().find(|n| n.node == name)
    }
}

/// Decides what `up` does. `images` holds each defined node's image state (a node
/// missing from it is treated as pending); `pending_images` the base images still to be
/// made, for the record.
pub fn reconcile(
    env: &Environment,
    existing: &[Existing],
    images: &BTreeMap<String, ImageState>,
    pending_images: Vec<(String, String)>,
    no_cache: bool,
) -> Plan {
    reconcile_part(env, existing, images, pending_images, no_cache, None)
}

/// [`reconcile`] for the nodes in `only` (`up ENV NODE...`; `None` is every node): the
/// others are neither started nor removed, whatever runs of them.
pub fn reconcile_part(
    env: &Environment,
    existing: &[Existing],
    images: &BTreeMap<String, ImageState>,
    pending_images: Vec<(String, String)>,
    no_cache: bool,
    only: Option<&BTreeSet<String>>,
) -> Plan {
    let mut remove: Vec<Removal> = existing
        .iter()
        .filter(|e| e.provisioning)
        .map(|e| Removal {
            id: e.id.clone(),
            name: e.name.clone(),
            why: RemovalWhy::Leftover,
        })
        .collect();
    let mut nodes = Vec::new();
    for (wave, names) in order::waves(&env.nodes).into_iter().enumerate() {
        for name in names {
            let Some(node) = env
                .nodes
                .get(&name)
                .filter(|n| n.replicas > 0 && only.is_none_or(|o| o.contains(&n.name)))
            else {
                continue;
            };
            let current: Vec<&Existing> = existing
                .iter()
                .filter(|e| !e.provisioning && e.node == name)
                .collect();
            let state = images.get(&name).cloned().unwrap_or(ImageState::Pending {
                action: "prepare its image".into(),
            });
            nodes.push(plan_node(node, wave + 1, &current, &state, no_cache));
        }
    }
    let defined: BTreeSet<&str> = env
        .nodes
        .values()
        .filter(|n| n.replicas > 0)
        .map(|n| n.name.as_str())
        .collect();
    remove.extend(
        existing
            .iter()
            .filter(|e| !e.provisioning && !defined.contains(e.node.as_str()))
            .map(|e| Removal {
                id: e.id.clone(),
                name: e.name.clone(),
                why: RemovalWhy::Undefined,
            }),
    );
    Plan {
        images: pending_images,
        nodes,
        remove,
    }
}

/// Whether a container is what its node wants it to be: a service's runs, a job's has
/// completed successfully (and is not run again while its definition is the same).
fn done(node: &Node, c: &Existing) -> bool {
    match node.run {
        crate::model::environment::Run::Always => c.running,
        crate::model::environment::Run::Once => c.completed,
    }
}

/// Decides what `up` does to one node, given its containers (provisioning nodes left
/// out) and its image's state.
pub fn plan_node(
    node: &Node,
    wave: usize,
    current: &[&Existing],
    state: &ImageState,
    no_cache: bool,
) -> NodePlan {
    let wanted = node.replica_names();
    let steps = node.provision.len();
    let (image, hash) = match state {
        ImageState::Pending { .. } => (
            if steps == 0 {
                ImageAction::Base
            } else {
                ImageAction::Provision {
                    steps,
                    tag: None,
                    why: ProvisionWhy::BasePending,
                    resume: None,
                }
            },
            None,
        ),
        ImageState::Known {
            key,
            cached,
            resume,
        } => {
            let def_hash = hash::definition_hash(key, node);
            let unchanged = current.len() == wanted.len()
                && wanted.iter().all(|replica| {
                    current.iter().any(|c| {
                        c.replica.as_deref() == Some(replica)
                            && c.hash.as_deref() == Some(&def_hash)
                            && done(node, c)
                    })
                });
            let image = if unchanged && !no_cache {
                ImageAction::Unchanged
            } else if steps == 0 {
                ImageAction::Base
            } else if *cached && !no_cache {
                ImageAction::Cached {
                    tag: cache_tag(key),
                }
            } else {
                ImageAction::Provision {
                    steps,
                    tag: Some(cache_tag(key)),
                    why: if no_cache {
                        ProvisionWhy::NoCache
                    } else {
                        ProvisionWhy::NotCached
                    },
                    // `--no-cache` starts from nothing.
                    resume: resume.clone().filter(|_| !no_cache),
                }
            };
            (image, Some(def_hash))
        }
    };
    // A running replica of the same definition stays, unless provisioning runs now:
    // then it runs from an image that is no longer the node's.
    let provisioned = matches!(image, ImageAction::Provision { .. });
    let kept = |c: &Existing| {
        done(node, c)
            && hash.is_some()
            && c.hash == hash
            && !provisioned
            && c.replica.as_ref().is_some_and(|r| wanted.contains(r))
    };
    let mut keep: Vec<String> = Vec::new();
    let mut replace = Vec::new();
    for c in current {
        let replica = c.replica.clone().unwrap_or_default();
        if kept(c) && !keep.contains(&replica) {
            keep.push(replica);
        } else {
            replace.push((c.id.clone(), c.name.clone()));
        }
    }
    let create = wanted
        .iter()
        .filter(|r| !keep.contains(r))
        .cloned()
        .collect();
    NodePlan {
        node: node.name.clone(),
        wave,
        after: node.depends_on.clone(),
        image,
        hash,
        keep,
        create,
        replace,
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_noop() {
            return writeln!(f, "nothing to do: every node runs its current definition");
        }
        if !self.images.is_empty() {
            writeln!(f, "images:")?;
            for (image, how) in &self.images {
                writeln!(f, "  {image}: {how}")?;
            }
        }
        let leftovers: Vec<&Removal> = self
            .remove
            .iter()
            .filter(|r| r.why == RemovalWhy::Leftover)
            .collect();
        if !leftovers.is_empty() {
            writeln!(f, "first, remove what an interrupted run left:")?;
            for r in leftovers {
                writeln!(f, "  {}", r.name)?;
            }
        }
        writeln!(f, "nodes, in start order:")?;
        let width = self.nodes.iter().map(|n| n.node.len()).max().unwrap_or(0);
        for n in &self.nodes {
            let mut what = vec![match &n.image {
                ImageAction::Unchanged => {
                    format!("unchanged ({} running)", replicas(&n.keep))
                }
                ImageAction::Base => "from its base image (no provisioning)".to_string(),
                ImageAction::Cached { tag } => format!("reuse provisioned image {tag}"),
                ImageAction::Provision {
                    steps,
                    tag,
                    why,
                    resume,
                } => format!(
                    "provision ({steps} step{}; {})",
                    if *steps == 1 { "" } else { "s" },
                    match (why, tag, resume) {
                        (ProvisionWhy::NoCache, _, _) => "--no-cache".to_string(),
                        (ProvisionWhy::NotCached, Some(t), Some(r)) =>
                            format!("not in the cache, {r}, kept as {t}"),
                        (ProvisionWhy::NotCached, Some(t), None) =>
                            format!("not in the cache, kept as {t}"),
                        _ => "its base image is made first".to_string(),
                    }
                ),
            }];
            if !n.unchanged() {
                if !n.replace.is_empty() {
                    let names: Vec<&str> =
                        n.replace.iter().map(|(_, name)| name.as_str()).collect();
                    what.push(format!("recreate (remove {})", names.join(", ")));
                }
                if !n.keep.is_empty() {
                    what.push(format!("keep {}", n.keep.join(", ")));
                }
                if !n.create.is_empty() {
                    what.push(format!("start {}", n.create.join(", ")));
                }
            }
            let after = if n.after.is_empty() {
                String::new()
            } else {
                format!(
                    ", after {} {} ready",
                    n.after.join(", "),
                    if n.after.len() == 1 { "is" } else { "are" }
                )
            };
            writeln!(
                f,
                "  {}. {:width$}  {}{after}",
                n.wave,
                n.node,
                what.join("; ")
            )?;
        }
        let undefined: Vec<&Removal> = self
            .remove
            .iter()
            .filter(|r| r.why == RemovalWhy::Undefined)
            .collect();
        if !undefined.is_empty() {
            writeln!(f, "then remove what is no longer defined:")?;
            for r in undefined {
                writeln!(f, "  {}", r.name)?;
            }
        }
        Ok(())
    }
}

fn replicas(names: &[String]) -> String {
    if names.len() == 1 {
        "1 replica".to_string()
    } else {
        format!("{} replicas", names.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(toml: &str) -> (tempfile::TempDir, Environment) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("environments")).unwrap();
        std::fs::write(dir.path().join("environments/e.toml"), toml).unwrap();
        let env = crate::model::environment::load(dir.path(), "e").unwrap();
        (dir, env)
    }

    const STACK: &str = r#"
[nodes.db]
image = "debian:bookworm"
provision = [{ shell = "true" }, { shell = "true" }]

[nodes.web]
image = "debian:bookworm"
replicas = 2
depends_on = ["db"]
"#;

    fn known(env: &Environment, cached: bool) -> BTreeMap<String, ImageState> {
        env.nodes
            .keys()
            .map(|n| {
                (
                    n.clone(),
                    ImageState::Known {
                        key: format!("{n}-key-0123456789abcdef01234567"),
                        cached,
                        resume: None,
                    },
                )
            })
            .collect()
    }

    fn running(env: &Environment, images: &BTreeMap<String, ImageState>) -> Vec<Existing> {
        env.nodes
            .values()
            .flat_map(|n| {
                let ImageState::Known { key, .. } = &images[&n.name] else {
                    unreachable!()
                };
                let h = hash::definition_hash(key, n);
                n.replica_names().into_iter().map(move |r| Existing {
                    id: format!("id-{r}"),
                    name: format!("e.{r}"),
                    node: n.name.clone(),
                    replica: Some(r),
                    hash: Some(h.clone()),
                    running: true,
                    completed: false,
                    provisioning: false,
                })
            })
            .collect()
    }

    #[test]
    fn a_fresh_instance_provisions_what_is_not_cached_and_starts_in_dependency_order() {
        let (_d, env) = env(STACK);
        let plan = reconcile(&env, &[], &known(&env, false), vec![], false);
        let order: Vec<(&str, usize)> = plan
            .nodes
            .iter()
            .map(|n| (n.node.as_str(), n.wave))
            .collect();
        assert_eq!(order, [("db", 1), ("web", 2)]);
        let db = plan.node("db").unwrap();
        assert!(matches!(
            db.image,
            ImageAction::Provision {
                steps: 2,
                tag: Some(_),
                why: ProvisionWhy::NotCached,
                resume: None,
            }
        ));
        assert_eq!(db.create, ["db"]);
        let web = plan.node("web").unwrap();
        assert_eq!(web.image, ImageAction::Base);
        assert_eq!(web.create, ["web-1", "web-2"]);
        assert_eq!(web.after, ["db"]);
        assert!(plan.remove.is_empty());
        assert!(!plan.is_noop());
    }

    #[test]
    fn provisioning_resumes_from_the_latest_snapshot_unless_no_cache() {
        let (_d, env) = env(STACK);
        let db = &env.nodes["db"];
        let keys = vec!["a".repeat(64), "b".repeat(64)];
        // The last step's snapshot is the provisioned image: never a resume point.
        assert_eq!(resume_point(db, &keys, |_| true).map(|r| r.after), Some(1));
        assert_eq!(resume_point(db, &keys, |_| false), None);
        let resume = resume_point(db, &keys, |t| t == snapshot_tag(&keys[0])).unwrap();
        assert_eq!(resume.tag, format!("envctl-step:{}", "a".repeat(24)));
        assert_eq!(
            resume.to_string(),
            "step 1 reused from the cache, resuming at step 2 (shell `true`)"
        );
        let mut images = known(&env, false);
        images.insert(
            "db".into(),
            ImageState::Known {
                key: keys[1].clone(),
                cached: false,
                resume: Some(resume.clone()),
            },
        );
        let plan = reconcile(&env, &[], &images, vec![], false);
        assert!(
            matches!(&plan.node("db").unwrap().image, ImageAction::Provision { resume: Some(r), .. } if *r == resume)
        );
        let text = plan.to_string();
        assert!(text.contains("resuming at step 2"), "{text}");
        let plan = reconcile(&env, &[], &images, vec![], true);
        assert!(matches!(
            plan.node("db").unwrap().image,
            ImageAction::Provision {
                why: ProvisionWhy::NoCache,
                resume: None,
                ..
            }
        ));
    }

    #[test]
    fn a_cached_image_is_reused_and_no_cache_provisions_again() {
        let (_d, env) = env(STACK);
        let images = known(&env, true);
        let plan = reconcile(&env, &[], &images, vec![], false);
        assert!(matches!(
            plan.node("db").unwrap().image,
            ImageAction::Cached { .. }
        ));
        let plan = reconcile(&env, &[], &images, vec![], true);
        assert!(matches!(
            plan.node("db").unwrap().image,
            ImageAction::Provision {
                why: ProvisionWhy::NoCache,
                ..
            }
        ));
    }

    #[test]
    fn a_running_instance_of_the_same_definition_is_left_alone() {
        let (_d, env) = env(STACK);
        let images = known(&env, true);
        let existing = running(&env, &images);
        let plan = reconcile(&env, &existing, &images, vec![], false);
        assert!(plan.is_noop(), "{plan:?}");
        assert!(plan.to_string().contains("nothing to do"));
        // --no-cache provisions db again and recreates its container; web (no steps)
        // keeps its running replicas.
        let plan = reconcile(&env, &existing, &images, vec![], true);
        let db = plan.node("db").unwrap();
        assert_eq!(db.replace, [("id-db".to_string(), "e.db".to_string())]);
        assert_eq!(db.create, ["db"]);
        let web = plan.node("web").unwrap();
        assert_eq!(web.keep, ["web-1", "web-2"]);
        assert!(web.create.is_empty());
    }

    #[test]
    fn a_changed_definition_recreates_only_that_node() {
        let (_d, env) = env(STACK);
        let images = known(&env, true);
        let mut existing = running(&env, &images);
        for e in existing.iter_mut().filter(|e| e.node == "db") {
            e.hash = Some("old".into());
        }
        let plan = reconcile(&env, &existing, &images, vec![], false);
        let db = plan.node("db").unwrap();
        assert_eq!(db.replace.len(), 1);
        assert_eq!(db.create, ["db"]);
        assert!(plan.node("web").unwrap().unchanged());
    }

    #[test]
    fn a_stopped_replica_is_replaced_and_its_running_siblings_kept() {
        let (_d, env) = env(STACK);
        let images = known(&env, true);
        let mut existing = running(&env, &images);
        existing
            .iter_mut()
            .find(|e| e.name == "e.web-2")
            .unwrap()
            .running = false;
        let plan = reconcile(&env, &existing, &images, vec![], false);
        let web = plan.node("web").unwrap();
        assert!(!web.unchanged());
        assert_eq!(web.keep, ["web-1"]);
        assert_eq!(web.create, ["web-2"]);
        assert_eq!(
            web.replace,
            [("id-web-2".to_string(), "e.web-2".to_string())]
        );
    }

    #[test]
    fn scaling_down_removes_the_surplus_replicas_and_undefined_nodes_go() {
        let (_d, env2) = env(STACK);
        let images = known(&env2, true);
        let mut existing = running(&env2, &images);
        existing.push(Existing {
            id: "id-old".into(),
            name: "e.old".into(),
            node: "old".into(),
            replica: Some("old".into()),
            hash: Some("h".into()),
            running: true,
            completed: false,
            provisioning: false,
        });
        existing.push(Existing {
            id: "id-prov".into(),
            name: "e.db-provision-1".into(),
            node: "db".into(),
            replica: None,
            hash: None,
            running: true,
            completed: false,
            provisioning: true,
        });
        let (_d1, one) = env(&STACK.replace("replicas = 2", "replicas = 1"));
        let images1 = known(&one, true);
        let plan = reconcile(&one, &existing, &images1, vec![], false);
        let web = plan.node("web").unwrap();
        // With one replica the node's replica is named `web`: both old ones go.
        assert_eq!(web.create, ["web"]);
        assert_eq!(web.replace.len(), 2);
        let removed: Vec<(&str, RemovalWhy)> =
            plan.remove.iter().map(|r| (r.id.as_str(), r.why)).collect();
        assert_eq!(
            removed,
            [
                ("id-prov", RemovalWhy::Leftover),
                ("id-old", RemovalWhy::Undefined)
            ]
        );
        let text = plan.to_string();
        assert!(
            text.contains("interrupted run left:\n  e.db-provision-1"),
            "{text}"
        );
        assert!(text.contains("no longer defined:\n  e.old"), "{text}");
    }

    #[test]
    fn a_node_scaled_to_zero_is_not_started_and_its_containers_go() {
        let (_d, env2) = env(STACK);
        let images = known(&env2, true);
        let existing = running(&env2, &images);
        let (_d0, zero) = env(&STACK.replace("replicas = 2", "replicas = 0"));
        let plan = reconcile(&zero, &existing, &known(&zero, true), vec![], false);
        assert!(plan.node("web").is_none());
        assert_eq!(
            plan.remove
                .iter()
                .filter(|r| r.why == RemovalWhy::Undefined)
                .count(),
            2
        );
    }

    #[test]
    fn a_pending_base_image_is_shown_and_its_nodes_planned_from_scratch() {
        let (_d, env) = env(STACK);
        let images = BTreeMap::from([(
            "db".to_string(),
            ImageState::Pending {
                action: "bootstrap".into(),
            },
        )]);
        let plan = reconcile(
            &env,
            &[],
            &images,
            vec![(
                "debian:bookworm".into(),
                "bootstrap it with debootstrap".into(),
            )],
            false,
        );
        assert!(matches!(
            plan.node("db").unwrap().image,
            ImageAction::Provision {
                tag: None,
                why: ProvisionWhy::BasePending,
                ..
            }
        ));
        let text = plan.to_string();
        assert!(
            text.contains("images:\n  debian:bookworm: bootstrap it with debootstrap"),
            "{text}"
        );
        assert!(text.contains("1. db"), "{text}");
        assert!(text.contains("2. web"), "{text}");
        assert!(text.contains("after db is ready"), "{text}");
        assert!(text.contains("start web-1, web-2"), "{text}");
    }
}
