//! `[[file]]`: existence, type, mode, owner, group and content patterns of a path inside
//! a node, read with a single exec.

use crate::engine::NodeAccess;
use crate::model::pattern;
use crate::model::spec::{FileCheck, FileType};
use std::time::Duration;

/// Separates `stat` output from file contents in the one exec a check makes.
const SEPARATOR: &str = "\n--envctl-contents--\n";

/// Runs one attempt of a file assertion.
///
/// # Errors
/// A message with what was expected and what the node has.
pub async fn check(
    c: &FileCheck,
    access: &dyn NodeAccess,
    timeout: Duration,
) -> Result<(), String> {
    let script = format!(
        r#"if [ -e "$1" ] || [ -L "$1" ]; then stat -c '%F|%a|%U|%G' -- "$1"; else echo missing; exit 0; fi; if [ "$2" = cat ] && [ -f "$1" ]; then printf '{}'; cat -- "$1"; fi"#,
        SEPARATOR.replace('\n', "\\n")
    );
    let want_contents = if c.contains.is_empty() { "no" } else { "cat" };
    let command = vec![
        "sh".to_string(),
        "-c".to_string(),
        script,
        "envctl-file".to_string(),
        c.path.clone(),
        want_contents.to_string(),
    ];
    let out = access
        .exec(&c.node, &command, timeout)
        .await
        .map_err(|e| e.to_string())?;
    if out.exit_code != 0 {
        return Err(format!(
            "cannot inspect {} on {}: {}",
            c.path,
            c.node,
            out.stderr.trim()
        ));
    }
    let (meta, contents) = match out.stdout.split_once(SEPARATOR) {
        Some((m, body)) => (m.trim(), Some(body)),
        None => (out.stdout.trim(), None),
    };
    let where_ = format!("{} on {}", c.path, c.node);
    if meta == "missing" {
        return if c.exists {
            Err(super::mismatch(
                &format!("{where_} does not exist"),
                "exists",
                "missing",
            ))
        } else {
            Ok(())
        };
    }
    if !c.exists {
        return Err(super::mismatch(
            &format!("{where_} exists"),
            "missing",
            "exists",
        ));
    }
    let parts: Vec<&str> = meta.split('|').collect();
    let [kind, mode, owner, group] = parts.as_slice() else {
        return Err(format!("cannot read the attributes of {where_}: {meta}"));
    };
    if let Some(t) = c.filetype {
        let actual = match *kind {
            k if k.starts_with("regular") => "file",
            "directory" => "directory",
            "symbolic link" => "symlink",
            other => other,
        };
        if actual != t.as_str() {
            return Err(super::mismatch(
                &format!("{where_} has the wrong type"),
                t.as_str(),
                actual,
            ));
        }
    }
    if let Some(m) = c.mode {
        let actual = u32::from_str_radix(mode, 8).unwrap_or(u32::MAX);
        if actual != m {
            return Err(super::mismatch(
                &format!("{where_} has the wrong mode"),
                format!("{m:04o}"),
                format!("{actual:04o}"),
            ));
        }
    }
    if let Some(o) = &c.owner {
        if o != owner {
            return Err(super::mismatch(
                &format!("{where_} has the wrong owner"),
                o,
                owner,
            ));
        }
    }
    if let Some(g) = &c.group {
        if g != group {
            return Err(super::mismatch(
                &format!("{where_} has the wrong group"),
                g,
                group,
            ));
        }
    }
    if !c.contains.is_empty() {
        if c.filetype == Some(FileType::Directory) || contents.is_none() {
            return Err(format!(
                "{where_} is not a regular file, so `contains` cannot be checked"
            ));
        }
        let text = contents.unwrap_or_default();
        if let Some(p) = pattern::failing(&c.contains, text).first() {
            return Err(super::mismatch(
                &format!("contents of {where_} do not match"),
                format!("contents {}", p.expectation()),
                super::excerpt(text),
            ));
        }
    }
    Ok(())
}
