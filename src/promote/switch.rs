//! The switch: points the router at a colour (key-value writes through `etcdctl` in the
//! kv node, a template rendered into the router, then the reload command), and reads
//! back which colour the router is on. The switch's own state is the truth about the
//! live colour; envctl keeps no state file for it.

use super::retry::{retry, STEP};
use super::PromoteError;
use crate::backend::view::InstanceView;
use crate::backend::{archive, NodeAccess};
use crate::model::promotion::{render, Preview, Promotion};
use std::collections::BTreeMap;
use std::time::Duration;

const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// The key-value pairs written to switch to `colour`.
pub fn keys_for(p: &Promotion, colour: &str) -> BTreeMap<String, String> {
    let values = p.values(colour);
    p.keys
        .iter()
        .map(|(k, v)| (k.clone(), render(v, &values)))
        .collect()
}

pub(super) async fn exec_ok(
    view: &dyn NodeAccess,
    node: &str,
    command: Vec<String>,
    what: &str,
) -> Result<String, PromoteError> {
    let out = view.exec(node, &command, EXEC_TIMEOUT).await?;
    if out.exit_code != 0 {
        return Err(PromoteError::Switch(format!(
            "{what}: `{}` in node `{node}` exited {}: {}",
            command.join(" "),
            out.exit_code,
            crate::check::excerpt(&format!("{}{}", out.stdout, out.stderr))
        )));
    }
    Ok(out.stdout)
}

/// Points the router at `colour`. Each write and the reload are retried with backoff;
/// retries are noted in `notes`.
///
/// # Errors
/// [`PromoteError`] when a write, the upload or the reload fails every attempt.
pub async fn switch_to(
    p: &Promotion,
    view: &InstanceView,
    colour: &str,
    notes: &mut Vec<String>,
) -> Result<BTreeMap<String, String>, PromoteError> {
    let keys = keys_for(p, colour);
    write(p, view, &keys, p.template.as_ref(), colour, notes).await?;
    Ok(keys)
}

/// Points the router's preview (its second listener or header-selected upstream) at
/// `colour`, leaving live traffic where it is.
///
/// # Errors
/// As [`switch_to`].
pub async fn preview(
    p: &Promotion,
    preview: &Preview,
    view: &InstanceView,
    colour: &str,
    notes: &mut Vec<String>,
) -> Result<BTreeMap<String, String>, PromoteError> {
    let values = p.values(colour);
    let keys: BTreeMap<String, String> = preview
        .keys
        .iter()
        .map(|(k, v)| (k.clone(), render(v, &values)))
        .collect();
    write(p, view, &keys, preview.template.as_ref(), colour, notes).await?;
    Ok(keys)
}

/// Key writes, the template upload and the reload, each with retries.
async fn write(
    p: &Promotion,
    view: &InstanceView,
    keys: &BTreeMap<String, String>,
    template: Option<&(std::path::PathBuf, String)>,
    colour: &str,
    notes: &mut Vec<String>,
) -> Result<(), PromoteError> {
    if let Some(kv) = &p.kv {
        for (k, v) in keys {
            let command = vec!["etcdctl".into(), "put".into(), k.clone(), v.clone()];
            retry(&format!("writing {k}"), STEP, notes, || {
                exec_ok(view, kv, command.clone(), "writing the switch key")
            })
            .await?;
        }
    }
    if let Some((to, text)) = template {
        let rendered = render(text, &p.values(colour));
        let dir = to.parent().map_or("/".into(), |d| d.display().to_string());
        let name = to.file_name().unwrap_or_default().to_string_lossy();
        let tar = archive::bytes(&name, rendered.as_bytes(), 0o644)
            .map_err(|e| PromoteError::Switch(format!("packing {}: {e}", to.display())))?;
        let router = view.container(&p.router)?;
        retry(&format!("uploading {}", to.display()), STEP, notes, || {
            view.backend().upload(&router.id, &dir, tar.clone())
        })
        .await?;
    }
    if let Some(reload) = &p.reload {
        retry("reloading the router", STEP, notes, || {
            exec_ok(view, &p.router, reload.clone(), "reloading the router")
        })
        .await?;
    }
    Ok(())
}

/// The colour the router is on, read from the switch (the kv keys, or the rendered
/// template in the router). `None` when it matches neither colour.
///
/// # Errors
/// [`PromoteError`] when the kv node or router cannot be read.
pub async fn live_colour(
    p: &Promotion,
    view: &InstanceView,
) -> Result<Option<String>, PromoteError> {
    if let Some(kv) = &p.kv {
        let mut current = BTreeMap::new();
        for k in p.keys.keys() {
            let out = view
                .exec(
                    kv,
                    &[
                        "etcdctl".into(),
                        "get".into(),
                        k.clone(),
                        "--print-value-only".into(),
                    ],
                    EXEC_TIMEOUT,
                )
                .await?;
            current.insert(k.clone(), out.stdout.trim_end_matches('\n').to_string());
        }
        return Ok(p
            .colours
            .iter()
            .find(|(c, _)| keys_for(p, c) == current)
            .map(|(c, _)| c.clone()));
    }
    if let Some((to, text)) = &p.template {
        let out = view
            .exec(
                &p.router,
                &["cat".into(), to.display().to_string()],
                EXEC_TIMEOUT,
            )
            .await?;
        return Ok(p
            .colours
            .iter()
            .find(|(c, _)| render(text, &p.values(c)) == out.stdout)
            .map(|(c, _)| c.clone()));
    }
    Ok(None)
}
