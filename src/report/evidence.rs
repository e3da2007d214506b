//! Evidence (`--evidence FILE`): what was verified, against which definitions, spec
//! files and images, at which commit, with which result. A pipeline can require it (and
//! check `passed`) before promoting. Schema in docs/reports.md.

use super::RunSummary;
use crate::model::Environment;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What evidence records besides the run itself.
pub struct Context<'a> {
    pub root: &'a Path,
    pub env: &'a Environment,
    /// Image id of each running replica.
    pub images: BTreeMap<String, String>,
}

/// Renders the evidence document.
pub fn render(summary: &RunSummary, ctx: &Context) -> Value {
    let definitions: Vec<Value> = ctx
        .env
        .files
        .iter()
        .map(|f| file_entry(ctx.root, &ctx.root.join(f)))
        .collect();
    let mut spec_files = Vec::new();
    if let Some(dir) = crate::model::spec::spec_dir(ctx.root, ctx.env) {
        collect(&dir, &mut spec_files);
    }
    spec_files.sort();
    let specs: Vec<Value> = spec_files.iter().map(|f| file_entry(ctx.root, f)).collect();
    let report = super::json::render(summary);
    json!({
        "version": 1,
        "kind": "envctl-evidence",
        "created_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "started_at": summary.started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "environment": summary.environment,
        "instance": summary.instance,
        "platform": summary.platform,
        "envctl_version": env!("CARGO_PKG_VERSION"),
        "git": git(ctx.root),
        "definitions": definitions,
        "specs": specs,
        "images": ctx.images,
        "passed": summary.failed() == 0 && !summary.outcomes.is_empty(),
        "duration_ms": summary.duration.as_millis() as u64,
        "summary": report["summary"],
        "results": report["results"],
        "timeline": summary.timeline,
    })
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn file_entry(root: &Path, path: &Path) -> Value {
    let shown = path
        .strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string();
    let sha = std::fs::read(path)
        .map(|bytes| format!("{:x}", Sha256::digest(bytes)))
        .ok();
    json!({ "path": shown, "sha256": sha })
}

/// The commit the project is at, and whether its tree has uncommitted changes.
fn git(root: &Path) -> Value {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(commit) => {
            let dirty = run(&["status", "--porcelain"]).map(|s| !s.is_empty());
            json!({ "commit": commit, "dirty": dirty })
        }
        None => Value::Null,
    }
}
