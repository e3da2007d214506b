//! `envctl gc --engine vagrant|qemu`: the machines of a project's killed `test` runs,
//! found by the owner record beside each instance's state.

use super::machines_of;
use crate::cli::exit::{Failure, SUCCESS};
use crate::cli::Context;
use crate::model::EngineKind;
use std::time::Duration;

/// `envctl gc --engine vagrant|qemu`: destroys the machines of this project's `test`
/// runs whose envctl is gone (killed before its cleanup), or older than `lease`.
/// Machines of `up` stay until `down`, as containers do.
///
/// # Errors
/// [`Failure::Invalid`] outside a project; [`Failure::Environment`] when machines
/// cannot be destroyed.
pub fn run(ctx: &Context, kind: EngineKind, dry_run: bool, lease: Duration) -> Result<u8, Failure> {
    let project = ctx.project().map_err(|_| {
        Failure::Invalid(format!(
            "`envctl gc --engine {kind}` sweeps the machines of one project (kept in its .envctl/{kind}); run it in the project's directory or name it with --root"
        ))
    })?;
    let now = crate::backend::labels::now_secs();
    let alive =
        |owner: &str, start: Option<&str>| crate::backend::labels::owner_alive(owner, start);
    let mut garbage = Vec::new();
    let dir = project.root.join(".envctl").join(kind.to_string());
    for env_dir in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(env_dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = file.file_name().to_string_lossy().into_owned();
            let Some(instance) = name.strip_suffix(".owner.json") else {
                continue;
            };
            let record: std::collections::HashMap<String, String> =
                std::fs::read_to_string(file.path())
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or_default();
            if let Some(reason) = crate::instance::gc::verdict(&record, now, lease, &alive) {
                let env = env_dir.file_name().to_string_lossy().into_owned();
                garbage.push((env, instance.to_string(), reason));
            }
        }
    }
    garbage.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let verb = if dry_run { "would remove" } else { "removing" };
    let mut failed = Vec::new();
    for (env, instance, reason) in &garbage {
        outln!("{verb} {kind} machines ({env}/{instance}): {reason}");
        if !dry_run {
            let m = machines_of(kind, &project.root, env, instance);
            if let Err(e) = ctx.runtime.block_on(m.destroy()) {
                failed.push(format!("{env}/{instance}: {e}"));
            }
        }
    }
    if !failed.is_empty() {
        return Err(Failure::Environment(format!(
            "gc could not destroy some machines:\n{}",
            failed.join("\n")
        )));
    }
    if !ctx.quiet {
        let n = garbage.len();
        let what = if n == 1 { "instance" } else { "instances" };
        if dry_run {
            eprintln!("gc: {n} {kind} {what} left by dead runs (dry run: nothing removed)");
        } else {
            eprintln!("gc: removed the machines of {n} {kind} {what} left by dead runs");
        }
    }
    Ok(SUCCESS)
}
