//! The failure bundle (`--artifacts DIR`): what a person needs to understand a failed
//! run after its nodes are gone. This part takes what only the engine still holds:
//!
//! - `nodes/REPLICA.log`: each node's output (stdout and stderr, as `logs` shows it);
//! - `nodes/REPLICA.inspect.json`: the engine's description of each node;
//! - `logs/`: the instance's provisioning and idempotence logs;
//! - `nodes.txt`: one line per node: name, state, status.
//!
//! The reports and the HTML timeline are added by the verb that ran. Every file is
//! redacted and written 0600, in directories created 0700.

use super::Instance;
use crate::backend::labels;
use crate::model::secrets::{create_private_dir, redact, write_private};
use futures_util::StreamExt;
use std::path::{Path, PathBuf};

/// When a bundle is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub dir: PathBuf,
    /// Also after a run that passed (`--artifacts-always`).
    pub always: bool,
}

impl Bundle {
    /// Whether a run that ended as `failed` writes the bundle.
    pub fn wanted(&self, failed: bool) -> bool {
        failed || self.always
    }

    /// Creates the bundle's directory, 0700 when envctl creates it.
    ///
    /// # Errors
    /// A message naming the directory.
    pub fn create(&self) -> Result<(), String> {
        create_private_dir(&self.dir)
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))
    }

    /// Writes `text` (redacted, 0600) at `name` inside the bundle.
    ///
    /// # Errors
    /// A message naming the file.
    pub fn write(&self, name: &str, text: &str) -> Result<(), String> {
        let path = self.dir.join(name);
        if let Some(parent) = path.parent() {
            create_private_dir(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        write_private(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

/// Writes into `bundle` what the engine holds of `inst`: every node's output and
/// description, and the instance's provisioning logs. A node that cannot be read is
/// noted in `nodes.txt` and does not stop the others.
///
/// # Errors
/// A message when the bundle cannot be written or the engine cannot list the nodes.
pub async fn collect(inst: &Instance, bundle: &Bundle) -> Result<(), String> {
    bundle.create()?;
    copy_logs(&inst.log_dir(), bundle)?;
    let mut nodes = inst
        .containers()
        .await
        .map_err(|e| format!("listing the nodes of {}: {e}", inst.id.instance))?;
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let mut table = String::new();
    for node in &nodes {
        let name = file_name(node);
        table.push_str(&format!(
            "{name}\t{}\t{}\t{}\n",
            node.label(labels::ROLE).unwrap_or("node"),
            node.state,
            node.status
        ));
        let mut output = String::new();
        let mut chunks = inst.backend.logs(&node.id, false, None);
        while let Some(chunk) = chunks.next().await {
            match chunk {
                Ok(text) => output.push_str(&text),
                Err(e) => {
                    output.push_str(&format!("\n[envctl: the output ends here: {e}]\n"));
                    break;
                }
            }
        }
        bundle.write(&format!("nodes/{name}.log"), &output)?;
        let described = match inst.backend.inspect(&node.id).await {
            Ok(value) => serde_json::to_string_pretty(&redacted(value)).unwrap_or_default(),
            Err(e) => format!("{{\"error\": {}}}", serde_json::Value::from(e.to_string())),
        };
        bundle.write(&format!("nodes/{name}.inspect.json"), &described)?;
    }
    if nodes.is_empty() {
        table.push_str("(no node of this instance was on the engine)\n");
    }
    bundle.write("nodes.txt", &table)
}

/// A node's file name in the bundle: its replica name, or its engine name for a
/// provisioning node.
fn file_name(node: &crate::backend::node::NodeInfo) -> String {
    let name = match (node.label(labels::ROLE), node.label(labels::REPLICA)) {
        (Some(labels::ROLE_NODE), Some(replica)) => replica.to_string(),
        _ => node.name.trim_start_matches('/').to_string(),
    };
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `value` with every string redacted before it is serialised, so that no escaping
/// can hide a secret from the redactor.
fn redacted(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(redact(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(redacted).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (redact(&k), redacted(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Copies the instance's provisioning and idempotence logs into `logs/`.
///
/// # Errors
/// A message naming the file that cannot be written.
pub fn copy_logs(dir: &Path, bundle: &Bundle) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut names: Vec<_> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in names {
        let Some(name) = name.to_str() else { continue };
        let Ok(bytes) = std::fs::read(dir.join(name)) else {
            continue;
        };
        bundle.write(&format!("logs/{name}"), &String::from_utf8_lossy(&bytes))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_inside_every_string_before_serialising() {
        crate::model::secrets::register(["p\"a\\ss\nw\u{f6}rd".to_string()]);
        let value = serde_json::json!({
            "Config": {"Env": ["TOKEN=p\"a\\ss\nw\u{f6}rd", "PATH=/usr/bin"]},
            "p\"a\\ss\nw\u{f6}rd": 1
        });
        let text = serde_json::to_string(&redacted(value)).unwrap();
        assert!(!text.contains("w\u{f6}rd"), "{text}");
        assert!(!text.contains("\\\\ss"), "{text}");
        assert!(text.contains("PATH=/usr/bin"), "{text}");
    }

    #[test]
    fn a_bundle_is_written_after_a_failure_and_after_a_pass_only_when_asked() {
        let failure_only = Bundle {
            dir: PathBuf::from("b"),
            always: false,
        };
        assert!(failure_only.wanted(true));
        assert!(!failure_only.wanted(false));
        let always = Bundle {
            always: true,
            ..failure_only
        };
        assert!(always.wanted(false));
    }
}
