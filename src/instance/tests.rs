//! `up`, `down`, `gc` and the plan against the in-memory engine: the decisions and the
//! cleanup of every fault path, with no engine at all (the suites under `tests/` run the
//! same verbs against a real one).

use super::up::{self, NodeOutcome, UpError, UpOptions};
use super::{down, gc, Instance};
use crate::backend::fake::Fake;
use crate::backend::labels;
use crate::backend::Backend;
use crate::events::Silent;
use std::sync::Arc;

const STACK: &str = r#"
[nodes.db]
image = "debian:bookworm"
provision = [{ shell = "echo provisioned > /etc/db" }]

[nodes.web]
image = "debian:bookworm"
replicas = 2
depends_on = ["db"]
env = { GREETING = "hello" }
"#;

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(toml: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("environments")).unwrap();
        std::fs::write(dir.path().join("environments/e.toml"), toml).unwrap();
        Project { dir }
    }

    fn edit(&self, toml: &str) {
        std::fs::write(self.dir.path().join("environments/e.toml"), toml).unwrap();
    }

    fn instance(&self, fake: &Arc<Fake>) -> Instance {
        let env = crate::model::environment::load(self.dir.path(), "e").unwrap();
        let backend: Arc<dyn Backend> = fake.clone();
        Instance::new(backend, self.dir.path(), env, "default")
    }
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn up(inst: &Instance) -> Result<std::collections::BTreeMap<String, NodeOutcome>, UpError> {
    block(up::up(inst, &Silent, &UpOptions::default()))
}

fn position(calls: &[String], call: &str) -> usize {
    calls
        .iter()
        .position(|c| c == call)
        .unwrap_or_else(|| panic!("no `{call}` in {calls:#?}"))
}

fn names(fake: &Fake) -> Vec<String> {
    fake.nodes().into_keys().collect()
}

#[test]
fn up_provisions_once_then_starts_each_node_after_what_it_depends_on() {
    let project = Project::new(STACK);
    let fake = Arc::new(Fake::new());
    let inst = project.instance(&fake);
    let outcomes = up(&inst).unwrap();
    assert_eq!(outcomes["db"], NodeOutcome::Started { provisioned: true });
    assert_eq!(outcomes["web"], NodeOutcome::Started { provisioned: false });
    let calls = fake.calls();
    let p = inst.id.prefix();
    // The base is made once for both nodes, the step runs in a provisioning node that
    // is snapshotted into the cache and removed, and web starts after db.
    assert_eq!(calls.iter().filter(|c| c.starts_with("pull ")).count(), 1);
    assert!(calls
        .iter()
        .any(|c| c.contains("-provision-") && c.contains("echo provisioned")));
    let snapshot = calls
        .iter()
        .position(|c| c.starts_with("snapshot envctl-cache:"))
        .unwrap();
    assert!(snapshot < position(&calls, &format!("start {p}.db")));
    assert!(
        position(&calls, &format!("start {p}.db")) < position(&calls, &format!("start {p}.web-1"))
    );
    assert_eq!(
        names(&fake),
        [
            format!("{p}.db"),
            format!("{p}.web-1"),
            format!("{p}.web-2")
        ]
    );
    assert_eq!(fake.networks(), [inst.id.network()]);
}

#[test]
fn a_second_up_of_an_unchanged_instance_touches_nothing_and_its_plan_says_so() {
    let project = Project::new(STACK);
    let fake = Arc::new(Fake::new());
    let inst = project.instance(&fake);
    up(&inst).unwrap();
    fake.clear_calls();
    let plan = block(up::plan(&inst, &UpOptions::default())).unwrap();
    assert!(plan.is_noop(), "{plan}");
    let outcomes = up(&inst).unwrap();
    assert!(
        outcomes.values().all(|o| *o == NodeOutcome::Unchanged),
        "{outcomes:?}"
    );
    let changed: Vec<String> = fake
        .calls()
        .into_iter()
        .filter(|c| !c.starts_with("exec "))
        .collect();
    assert!(changed.is_empty(), "{changed:#?}");
}

#[test]
fn the_dry_run_plan_creates_nothing_and_names_what_up_will_do() {
    let project = Project::new(STACK);
    let fake = Arc::new(Fake::new());
    let inst = project.instance(&fake);
    let plan = block(up::plan(&inst, &UpOptions::default())).unwrap();
    assert!(fake.calls().is_empty(), "{:#?}", fake.calls());
    assert!(names(&fake).is_empty());
    let text = plan.to_string();
    assert!(text.contains("debian:bookworm: absent: pulled"), "{text}");
    assert!(text.contains("1. db"), "{text}");
    assert!(
        text.contains("provision (1 step; its base image is made first)"),
        "{text}"
    );
    assert!(text.contains("2. web"), "{text}");
    // With the base present, the cache decides: not cached, then cached after an up.
    fake.add_image("debian:bookworm");
    let text = block(up::plan(&inst, &UpOptions::default()))
        .unwrap()
        .to_string();
    assert!(
        text.contains("not in the cache, kept as envctl-cache:"),
        "{text}"
    );
    up(&inst).unwrap();
    block(down::down(&inst, down::Volumes::Remove)).unwrap();
    let text = block(up::plan(&inst, &UpOptions::default()))
        .unwrap()
        .to_string();
    assert!(
        text.contains("reuse provisioned image envctl-cache:"),
        "{text}"
    );
}

#[test]
fn a_changed_node_is_recreated_and_the_others_are_left_running() {
    let project = Project::new(STACK);
    let fake = Arc::new(Fake::new());
    let inst = project.instance(&fake);
    up(&inst).unwrap();
    project.edit(&STACK.replace("hello", "bonjour"));
    let inst = project.instance(&fake);
    fake.clear_calls();
    let outcomes = up(&inst).unwrap();
    assert_eq!(outcomes["db"], NodeOutcome::Unchanged);
    assert_eq!(outcomes["web"], NodeOutcome::Started { provisioned: false });
    let p = inst.id.prefix();
    let calls = fake.calls();
    assert!(calls.contains(&format!("remove {p}.web-1")), "{calls:#?}");
    assert!(
        !calls
            .iter()
            .any(|c| c.contains(&format!("{p}.db")) && !c.starts_with("exec")),
        "{calls:#?}"
    );
    let env = &fake.nodes()[&format!("{p}.web-2")].spec.env;
    assert!(env.contains(&"GREETING=bonjour".to_string()), "{env:?}");
}

#[test]
fn scaling_down_and_removing_a_node_removes_its_containers() {
    let project = Project::new(STACK);
    let fake = Arc::new(Fake::new());
    let inst = project.instance(&fake);
    up(&inst).unwrap();
    project.edit("[nodes.db]\nimage = \"debian:bookworm\"\nprovision = [{ shell = \"echo provisioned > /etc/db\" }]\n");
    let inst = project.instance(&fake);
    up(&inst).unwrap();
    assert_eq!(names(&fake), [format!("{}.db", inst.id.prefix())]);
}

#[test]
fn a_cached_image_is_reused_after_down_and_no_cache_provisions_again() {
    let project = Project::new(STACK);
    let fake = Arc::new(Fake::new());
    let inst = project.instance(&fake);
    up(&inst).unwrap();
    block(down::down(&inst, down::Volumes::Remove)).unwrap();
    fake.clear_calls();
    let outcomes = up(&inst).unwrap();
    assert_eq!(outcomes["db"], NodeOutcome::Started { provisioned: false });
    assert!(
        !fake.calls().iter().any(|c| c.starts_with("snapshot")),
        "{:#?}",
        fake.calls()
    );
    fake.clear_calls();
    let options = UpOptions {
        no_cache: true,
        ..UpOptions::default()
    };
    let outcomes = block(up::up(&inst, &Silent, &options)).unwrap();
    assert_eq!(outcomes["db"], NodeOutcome::Started { provisioned: true });
    assert!(fake.calls().iter().any(|c| c.starts_with("snapshot")));
}

#[test]
fn a_failing_step_fails_up_naming_it_and_leaves_nothing_of_the_run() {
    let project = Project::new(STACK);
    let fake = Arc::new(Fake::new());
    fake.answer("db-provision", "echo provisioned", 7, "disk full");
    let inst = project.instance(&fake);
    let err = up(&inst).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, UpError::Provision(_)), "{text}");
    assert!(text.contains("disk full") || text.contains("7"), "{text}");
    assert!(names(&fake).is_empty(), "{:?}", names(&fake));
    assert!(fake.networks().is_empty());
    assert!(!fake.calls().iter().any(|c| c.starts_with("snapshot")));
}

#[test]
fn a_node_that_exits_at_start_fails_up_and_the_run_is_removed() {
    let project = Project::new(STACK);
    let fake = Arc::new(Fake::new());
    fake.exit_on_start(".web-2");
    let inst = project.instance(&fake);
    let err = up(&inst).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, UpError::Health(_)), "{text}");
    assert!(text.contains("web-2") && text.contains("exited"), "{text}");
    assert!(names(&fake).is_empty(), "{:?}", names(&fake));
    assert!(fake.networks().is_empty());
}

#[test]
fn an_engine_refusal_names_the_node_and_what_earlier_runs_made_stays() {
    let project = Project::new(STACK);
    let fake = Arc::new(Fake::new());
    let inst = project.instance(&fake);
    up(&inst).unwrap();
    project.edit(&STACK.replace("hello", "bonjour"));
    let inst = project.instance(&fake);
    fake.fail("create", ".web-", "port is already allocated");
    let err = up(&inst).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("web") && text.contains("port is already allocated"),
        "{text}"
    );
    // db came from the earlier run and stays; nothing of this run is left.
    assert_eq!(names(&fake), [format!("{}.db", inst.id.prefix())]);
}

#[test]
fn up_removes_provisioning_nodes_an_interrupted_run_left() {
    let project = Project::new(STACK);
    let fake = Arc::new(Fake::new());
    let inst = project.instance(&fake);
    up(&inst).unwrap();
    let base = fake.add_image("leftover-base");
    let mut spec = up::provision_spec(&inst, &inst.env.nodes["db"], &base, "provision");
    spec.name = format!("{}.db-provision-old", inst.id.prefix());
    spec.labels.insert(labels::RUN.into(), "old".into());
    block(fake.create_node(&spec)).unwrap();
    let plan = block(up::plan(&inst, &UpOptions::default())).unwrap();
    assert!(
        plan.to_string().contains("interrupted run left:\n  "),
        "{plan}"
    );
    up(&inst).unwrap();
    assert!(!names(&fake).iter().any(|n| n.contains("provision-old")));
}

#[test]
fn down_removes_every_node_and_network_and_repeats_safely() {
    let project = Project::new(STACK);
    let fake = Arc::new(Fake::new());
    let inst = project.instance(&fake);
    up(&inst).unwrap();
    let removed = block(down::down(&inst, down::Volumes::Remove)).unwrap();
    assert_eq!((removed.containers, removed.networks), (3, 1));
    assert!(names(&fake).is_empty() && fake.networks().is_empty());
    let again = block(down::down(&inst, down::Volumes::Remove)).unwrap();
    assert_eq!((again.containers, again.networks), (0, 0));
    // The provisioned image is the cache: down keeps it.
    assert!(fake.calls().iter().all(|c| !c.starts_with("remove image")));
}

#[test]
fn two_projects_with_the_same_names_never_touch_each_other() {
    let (a, b) = (Project::new(STACK), Project::new(STACK));
    let fake = Arc::new(Fake::new());
    let (ia, ib) = (a.instance(&fake), b.instance(&fake));
    assert_ne!(ia.id.project, ib.id.project);
    up(&ia).unwrap();
    up(&ib).unwrap();
    assert_eq!(names(&fake).len(), 6);
    // b's up found nothing of a's to adopt or remove, and its down removes only its own.
    block(down::down(&ib, down::Volumes::Remove)).unwrap();
    let left = names(&fake);
    assert_eq!(left.len(), 3);
    assert!(
        left.iter().all(|n| n.starts_with(&ia.id.prefix())),
        "{left:?}"
    );
    let outcomes = up(&ia).unwrap();
    assert!(outcomes.values().all(|o| *o == NodeOutcome::Unchanged));
}

#[test]
fn gc_finds_a_dead_runs_objects_and_leaves_a_live_one_and_kept_instances() {
    let project = Project::new(STACK);
    let fake = Arc::new(Fake::new());
    let mut inst = project.instance(&fake);
    inst.id.ephemeral = true;
    up(&inst).unwrap();
    let found = block(gc::find(fake.as_ref(), gc::DEFAULT_LEASE)).unwrap();
    assert!(found.is_empty(), "this process owns the run: {found:?}");
    // The same run, owned by a process that is gone (pid 1 never started it).
    fake.relabel(&inst.id.prefix(), labels::OWNER_START, "0");
    fake.relabel(
        &inst.id.prefix(),
        labels::OWNER,
        &format!("999999999@{}", gethostname()),
    );
    let found = block(gc::find(fake.as_ref(), gc::DEFAULT_LEASE)).unwrap();
    let kinds: Vec<&str> = found.iter().map(|g| g.kind).collect();
    assert_eq!(
        kinds,
        ["container", "container", "container", "network"],
        "{found:?}"
    );
    block(gc::remove(fake.as_ref(), &found)).unwrap();
    assert!(names(&fake).is_empty() && fake.networks().is_empty());

    // An instance started by `up` (not ephemeral) is never garbage.
    let kept = project.instance(&fake);
    up(&kept).unwrap();
    fake.relabel(
        &kept.id.prefix(),
        labels::OWNER,
        &format!("999999999@{}", gethostname()),
    );
    assert!(block(gc::find(fake.as_ref(), gc::DEFAULT_LEASE))
        .unwrap()
        .is_empty());
}

#[test]
fn gc_finds_an_old_run_by_its_lease_even_when_its_owner_cannot_be_told() {
    let project = Project::new(STACK);
    let fake = Arc::new(Fake::new());
    let mut inst = project.instance(&fake);
    inst.id.ephemeral = true;
    up(&inst).unwrap();
    fake.relabel(&inst.id.prefix(), labels::OWNER, "1@another-host");
    assert!(block(gc::find(fake.as_ref(), gc::DEFAULT_LEASE))
        .unwrap()
        .is_empty());
    fake.relabel(&inst.id.prefix(), labels::CREATED, "1");
    let found = block(gc::find(fake.as_ref(), gc::DEFAULT_LEASE)).unwrap();
    assert_eq!(found.len(), 4, "{found:?}");
}

fn gethostname() -> String {
    labels::owner()
        .split_once('@')
        .map(|(_, h)| h.to_string())
        .unwrap_or_default()
}
