//! `template` steps: render with the environment's `vars` (see `model::template`), then
//! place the file in the node with its mode and owner. A file that already has that
//! content, mode and owner is left alone, so the step is idempotent like Ansible's
//! `template` module.

use super::Target;
use crate::backend::archive;
use crate::model::template::{self, TemplateContext};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

/// What placing a template did.
pub struct Placed {
    pub changed: bool,
    pub output: String,
}

/// Renders `from` and writes it at `to` in the target node when it differs.
///
/// # Errors
/// A message saying what failed (rendering, writing, chown).
pub async fn place(
    target: &Target<'_>,
    from: &Path,
    to: &str,
    mode: Option<u32>,
    owner: Option<&str>,
) -> Result<Placed, String> {
    let ctx = TemplateContext {
        vars: &target.env.vars,
        node: &target.node.name,
        groups: target.node.ansible_groups(),
    };
    let text = template::render(target.root, from, &ctx).map_err(|e| e.to_string())?;
    let mode = mode.unwrap_or(0o644);
    let digest: String = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let (host, id) = (target.host, target.id);
    let probe = vec![
        "sh".to_string(),
        "-c".to_string(),
        r#"[ -f "$1" ] && sha256sum < "$1" | cut -d' ' -f1 && stat -c '%a %U:%G' "$1""#.to_string(),
        "envctl-template".to_string(),
        to.to_string(),
    ];
    let current = host
        .exec(id, &probe, &[], Duration::from_secs(30))
        .await
        .map_err(|e| e.to_string())?;
    let mut lines = current.stdout.lines();
    let (old_digest, old_meta) = (lines.next(), lines.next());
    let same_content = old_digest == Some(digest.as_str());
    let same_meta = old_meta.is_some_and(|m| {
        let (m_mode, m_owner) = m.split_once(' ').unwrap_or((m, ""));
        u32::from_str_radix(m_mode, 8).ok() == Some(mode)
            && owner.is_none_or(|o| owner_matches(o, m_owner))
    });
    if same_content && same_meta {
        return Ok(Placed {
            changed: false,
            output: format!("{to}: unchanged\n"),
        });
    }
    let path = Path::new(to);
    let dir = path
        .parent()
        .map_or_else(|| "/".to_string(), |p| p.display().to_string());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("`{to}` is not a file path"))?;
    let mkdir = vec!["mkdir".to_string(), "-p".to_string(), dir.clone()];
    let out = host
        .exec(id, &mkdir, &[], Duration::from_secs(30))
        .await
        .map_err(|e| e.to_string())?;
    if out.exit_code != 0 {
        return Err(format!("cannot create {dir}: {}", out.stderr.trim()));
    }
    let tar = archive::bytes(&name, text.as_bytes(), mode).map_err(|e| e.to_string())?;
    host.upload(id, &dir, tar)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(owner) = owner {
        let chown = vec!["chown".to_string(), owner.to_string(), to.to_string()];
        let out = host
            .exec(id, &chown, &[], Duration::from_secs(30))
            .await
            .map_err(|e| e.to_string())?;
        if out.exit_code != 0 {
            return Err(format!("chown {owner} {to}: {}", out.stderr.trim()));
        }
    }
    Ok(Placed {
        changed: true,
        output: format!("{to}: written ({} bytes, mode {mode:04o})\n", text.len()),
    })
}

/// `www-data` matches `www-data:www-data`; `www-data:adm` must match both parts.
fn owner_matches(wanted: &str, actual: &str) -> bool {
    match wanted.split_once(':') {
        Some(_) => wanted == actual,
        None => actual.split(':').next() == Some(wanted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_without_group_matches_any_group() {
        assert!(owner_matches("www-data", "www-data:www-data"));
        assert!(owner_matches("www-data:adm", "www-data:adm"));
        assert!(!owner_matches("www-data:adm", "www-data:www-data"));
        assert!(!owner_matches("root", "www-data:root"));
    }
}
