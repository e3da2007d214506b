//! An instance started in part (`envctl up ENV NODE...`): the nodes it was asked for, with
//! their dependencies, kept in `.envctl/subsets/ENV.INSTANCE` so that `verify` runs the
//! specs that concern them (and says which it left out) until a full `up` or `down`.

use super::Instance;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn path(root: &Path, env: &str, instance: &str) -> PathBuf {
    root.join(".envctl")
        .join("subsets")
        .join(format!("{env}.{instance}"))
}

/// Records that the instance runs `nodes` only.
pub fn record(inst: &Instance, nodes: &BTreeSet<String>) {
    let file = path(&inst.root, &inst.env.name, &inst.id.instance);
    let text: String = nodes.iter().map(|n| format!("{n}\n")).collect();
    if let Some(dir) = file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(file, text);
}

/// Forgets a subset: the instance runs every node (a full `up`), or none (`down`).
pub fn clear(inst: &Instance) {
    let _ = std::fs::remove_file(path(&inst.root, &inst.env.name, &inst.id.instance));
}

/// The nodes the instance was started with, when it was started in part.
pub fn read(inst: &Instance) -> Option<BTreeSet<String>> {
    let text = std::fs::read_to_string(path(&inst.root, &inst.env.name, &inst.id.instance)).ok()?;
    Some(
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    )
}
