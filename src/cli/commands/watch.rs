//! `up --watch` and `test --watch`: after the first run, envctl watches the project and,
//! at each saved change, does only what the change calls for. The environment and specs
//! are read again; the plan (the same keys as the provisioning cache) says which nodes'
//! inputs changed, and `up` re-provisions and restarts exactly those; a changed file
//! under a node's `sync` rule is copied into its running containers instead (then its
//! `then` runs; a node provisioned again gets all its rules again); and only the specs about the nodes touched (and the specs in changed
//! spec files) run again. Ctrl-C stops watching.

use super::super::args::ReportArgs;
use super::super::exit::{Failure, SUCCESS};
use super::super::{interrupt, Context};
use crate::instance::up::UpOptions;
use crate::instance::Instance;
use crate::model::{Assertion, Project};
use notify::Watcher;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// How long the project must be quiet after a change before envctl acts (an editor's
/// save is several events; a `git checkout` many).
const SETTLE: Duration = Duration::from_millis(300);

/// What a round runs after `up`: the specs (and for `test`, the idempotence check).
pub struct Rounds<'a> {
    pub report: &'a ReportArgs,
    /// `test --watch`: the idempotence check of the re-provisioned nodes first.
    pub idempotence: Option<bool>,
    /// Name filters given on the command line.
    pub filters: &'a [String],
}

/// Watches until Ctrl-C; returns the exit code of the last round (0 when none ran).
///
/// # Errors
/// [`Failure::Environment`] when the project cannot be watched.
pub fn run(
    ctx: &Context,
    project: &Project,
    first: Instance,
    options: &UpOptions,
    rounds: &Rounds<'_>,
) -> Result<u8, Failure> {
    let root = project.root.canonicalize().unwrap_or(project.root.clone());
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(tx)
        .map_err(|e| Failure::Environment(format!("cannot watch the project: {e}")))?;
    watcher
        .watch(&root, notify::RecursiveMode::Recursive)
        .map_err(|e| {
            Failure::Environment(format!(
                "cannot watch {}: {e}{}",
                root.display(),
                if e.to_string().contains("limit") {
                    " (raise fs.inotify.max_user_watches)"
                } else {
                    ""
                }
            ))
        })?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctx.runtime.spawn(async move {
            interrupt::signalled().await;
            stop.store(true, SeqCst);
        });
    }
    let mut inst = first;
    let env_name = inst.env.name.clone();
    // The nodes start as the definition says; the synced files are then what the working
    // tree holds.
    let every: BTreeSet<String> = inst.env.nodes.keys().cloned().collect();
    sync(ctx, &inst, &root, &every, None);
    eprintln!(
        "{env_name}/{}: watching {} for changes; Ctrl-C stops{}",
        inst.id.instance,
        project.root.display(),
        if rounds.idempotence.is_some() {
            " (and removes the instance)"
        } else {
            " (the environment stays up)"
        }
    );
    let mut code = SUCCESS;
    while let Some(changed) = next_change(&rx, &root, &stop) {
        let shown: Vec<String> = changed
            .iter()
            .take(3)
            .map(|p| p.display().to_string())
            .collect();
        eprintln!(
            "changed: {}{}",
            shown.join(", "),
            if changed.len() > 3 {
                format!(" and {} more", changed.len() - 3)
            } else {
                String::new()
            }
        );
        let loaded = ctx
            .environment(Some(&env_name))
            .and_then(|(p, env)| Ok((p.specs(&env)?, ctx.instance(&p, env)?)));
        let (specs, mut next) = match loaded {
            Ok(found) => found,
            Err(e) => {
                eprintln!(
                    "error: {}\n  fix it and save again; still watching",
                    said(&e)
                );
                continue;
            }
        };
        next.package_cache = inst.package_cache;
        next.incremental = inst.incremental;
        next.id.ephemeral = inst.id.ephemeral;
        let plan = match ctx
            .runtime
            .block_on(crate::instance::up::plan(&next, options))
        {
            Ok(plan) => plan,
            Err(e) => {
                eprintln!("error: {e}; still watching");
                continue;
            }
        };
        let rebuilt: BTreeSet<String> = plan
            .nodes
            .iter()
            .filter(|n| !n.unchanged())
            .map(|n| n.node.clone())
            .collect();
        if !plan.is_noop() {
            eprintln!(
                "{}: inputs changed; provisioning again",
                if rebuilt.is_empty() {
                    "the environment".to_string()
                } else {
                    rebuilt.iter().cloned().collect::<Vec<_>>().join(", ")
                }
            );
            let (_, up) = super::up::bring_up_recorded(ctx, &next, options);
            if let Err(e) = up.and_then(|()| super::up::every_replica_runs(ctx, &next)) {
                if matches!(e, Failure::Interrupted) {
                    return Err(e);
                }
                eprintln!(
                    "error: {}\n  fix it and save again; still watching",
                    super::up::with_kept(ctx, &next, Err::<(), _>(e))
                        .err()
                        .map(|e| said(&e))
                        .unwrap_or_default()
                );
                inst = next;
                code = super::super::exit::ENVIRONMENT;
                continue;
            }
        }
        let others: BTreeSet<String> = next
            .env
            .nodes
            .keys()
            .filter(|n| !rebuilt.contains(*n))
            .cloned()
            .collect();
        // A node provisioned again runs in a new container: every one of its rules
        // copies its files in again.
        sync(ctx, &next, &root, &rebuilt, None);
        let synced = sync(ctx, &next, &root, &others, Some(&changed));
        let touched: BTreeSet<String> = rebuilt.union(&synced).cloned().collect();
        let spec_files: BTreeSet<PathBuf> = changed
            .iter()
            .filter(|p| specs.iter().any(|a| &a.file == *p))
            .cloned()
            .collect();
        inst = next;
        if touched.is_empty() && spec_files.is_empty() {
            eprintln!("no node's inputs, sync rules or specs changed; still watching");
            continue;
        }
        code = round(
            ctx,
            &inst,
            specs,
            &touched,
            &spec_files,
            rounds,
            !rebuilt.is_empty(),
        );
        eprintln!("still watching; Ctrl-C stops");
    }
    drop(watcher);
    Ok(code)
}

/// The idempotence check (for `test`) and the specs about `touched` nodes or in
/// `spec_files`.
fn round(
    ctx: &Context,
    inst: &Instance,
    specs: Vec<Assertion>,
    touched: &BTreeSet<String>,
    spec_files: &BTreeSet<PathBuf>,
    rounds: &Rounds<'_>,
    provisioned: bool,
) -> u8 {
    if let (Some(use_cache), true) = (rounds.idempotence, provisioned) {
        if let Err(e) = super::provision::check_idempotence(ctx, inst, use_cache) {
            eprintln!("error: {}", said(&e));
            return e.code();
        }
    }
    let about = |a: &Assertion| {
        spec_files.contains(&a.file)
            || a.nodes()
                .iter()
                .any(|n| touched.contains(&node_of(inst, n)))
    };
    let selected: Vec<Assertion> = match super::verify::select(specs, rounds.filters, rounds.report)
    {
        Ok(s) => s.into_iter().filter(about).collect(),
        Err(e) => {
            eprintln!("error: {}", said(&e));
            return e.code();
        }
    };
    if selected.is_empty() {
        eprintln!(
            "no spec is about {}",
            touched.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        return SUCCESS;
    }
    let result = super::verify::verify_after(
        ctx,
        inst,
        selected,
        rounds.report,
        &super::verify::Recorded::default(),
        None,
    );
    match result {
        Ok(code) => code,
        Err(e @ Failure::Specs) => e.code(),
        Err(e) => {
            eprintln!("error: {}", said(&e));
            e.code()
        }
    }
}

/// A failure as shown while watching (redacted: it may quote node output).
fn said(e: &Failure) -> String {
    crate::model::secrets::redact(&e.detail())
}

/// The node a name in an assertion stands for (a replica `web-2` for `web`).
fn node_of(inst: &Instance, name: &str) -> String {
    if inst.env.nodes.contains_key(name) {
        return name.to_string();
    }
    name.rsplit_once('-')
        .filter(|(node, n)| inst.env.nodes.contains_key(*node) && n.parse::<u32>().is_ok())
        .map_or_else(|| name.to_string(), |(node, _)| node.to_string())
}

/// Copies the `sync` rules of `nodes` (all of them when `changed` is `None`, else those
/// whose source holds a changed file) into every running replica, then runs their
/// `then`; returns the nodes synced.
fn sync(
    ctx: &Context,
    inst: &Instance,
    root: &Path,
    nodes: &BTreeSet<String>,
    changed: Option<&BTreeSet<PathBuf>>,
) -> BTreeSet<String> {
    let mut synced = BTreeSet::new();
    let view = match ctx.runtime.block_on(inst.view()) {
        Ok(view) => view,
        Err(e) => {
            eprintln!("error: sync: {e}");
            return synced;
        }
    };
    for node in inst.env.nodes.values().filter(|n| nodes.contains(&n.name)) {
        for rule in &node.sync {
            let due = changed.is_none_or(|paths| paths.iter().any(|p| p.starts_with(&rule.from)));
            if !due {
                continue;
            }
            let replicas: Vec<(String, String)> = view
                .replicas()
                .iter()
                .filter(|(_, c)| {
                    c.running && c.label(crate::backend::labels::NODE) == Some(node.name.as_str())
                })
                .map(|(r, c)| (r.clone(), c.id.clone()))
                .collect();
            for (replica, container) in replicas {
                let done = ctx.runtime.block_on(async {
                    crate::provision::copy(
                        &crate::provision::OnEngine(inst.backend.as_ref()),
                        &container,
                        &root.join(&rule.from),
                        &rule.to,
                        None,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                    if let Some(then) = &rule.then {
                        let cmd = vec!["sh".to_string(), "-c".to_string(), then.clone()];
                        let out = inst
                            .backend
                            .exec(&container, &cmd, &[], Duration::from_secs(300))
                            .await
                            .map_err(|e| e.to_string())?;
                        if out.exit_code != 0 {
                            return Err(format!(
                                "`{then}` exited with {}: {}",
                                out.exit_code,
                                crate::model::secrets::redact(
                                    format!("{}{}", out.stdout, out.stderr).trim()
                                )
                            ));
                        }
                    }
                    Ok::<(), String>(())
                });
                match done {
                    Ok(()) => eprintln!(
                        "{replica}: synced {} -> {}{}",
                        rule.from.display(),
                        rule.to,
                        rule.then
                            .as_ref()
                            .map(|t| format!(", then `{t}`"))
                            .unwrap_or_default()
                    ),
                    Err(e) => eprintln!("error: {replica}: sync {}: {e}", rule.from.display()),
                }
                synced.insert(node.name.clone());
            }
        }
    }
    synced
}

/// The next batch of changed project paths (relative to `root`), once the project has
/// been quiet for [`SETTLE`]; `None` when watching stops.
fn next_change(
    rx: &mpsc::Receiver<notify::Result<notify::Event>>,
    root: &Path,
    stop: &AtomicBool,
) -> Option<BTreeSet<PathBuf>> {
    let mut changed = BTreeSet::new();
    loop {
        if stop.load(SeqCst) {
            return None;
        }
        let wait = if changed.is_empty() {
            Duration::from_millis(200)
        } else {
            SETTLE
        };
        match rx.recv_timeout(wait) {
            Ok(Ok(event)) => {
                if matches!(event.kind, notify::EventKind::Access(_)) {
                    continue;
                }
                changed.extend(event.paths.iter().filter_map(|p| relevant(root, p)));
            }
            Ok(Err(e)) => eprintln!("error: watching: {e}"),
            Err(mpsc::RecvTimeoutError::Timeout) if !changed.is_empty() => return Some(changed),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// `path` relative to the project, unless it is envctl's own state, version control's,
/// or an editor's scratch file.
fn relevant(root: &Path, path: &Path) -> Option<PathBuf> {
    let relative = path.strip_prefix(root).ok()?.to_path_buf();
    let first = relative.components().next()?.as_os_str().to_string_lossy();
    if matches!(first.as_ref(), ".envctl" | ".git" | ".hg" | ".svn") {
        return None;
    }
    let name = relative.file_name()?.to_string_lossy();
    let scratch = name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.starts_with(".#")
        || name == "4913";
    (!scratch).then_some(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envctls_state_version_control_and_editor_scratch_files_are_not_changes() {
        let root = Path::new("/p");
        assert_eq!(
            relevant(root, Path::new("/p/templates/page.j2")),
            Some(PathBuf::from("templates/page.j2"))
        );
        for ignored in [
            "/p/.envctl/logs/x",
            "/p/.git/index",
            "/p/templates/.page.j2.swp",
            "/p/templates/page.j2~",
            "/p/templates/4913",
            "/elsewhere/x",
        ] {
            assert_eq!(relevant(root, Path::new(ignored)), None, "{ignored}");
        }
    }
}
