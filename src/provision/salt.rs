//! `salt` steps: `salt-call --local state.apply` inside the node, masterless, of the
//! user's state tree and pillar, unchanged. Both trees are staged in the node and given as
//! `--file-root` and `--pillar-root`. Salt is installed when missing (Debian ships no
//! salt: PyPI's `salt` goes into a virtualenv over Debian's Python libraries, once: the
//! result is kept in the provisioned image). The JSON output names every state's result.

use super::{Target, STAGING};
use crate::backend::salt::{install_script, salt_call};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// What a `state.apply` produced.
pub struct Applied {
    pub output: String,
    /// States that reported changes (`state `nginx` (pkg.installed)`).
    pub changed: Vec<String>,
}

/// Stages the trees and applies `state` (or the highstate) in the target node.
///
/// # Errors
/// `(reason, output)`: salt missing and not installable, staging failed, a state failed
/// (named, with its comment) or the tree did not render.
pub async fn run(
    target: &Target<'_>,
    index: usize,
    states: &Path,
    pillar: Option<&Path>,
    state: Option<&str>,
    env: &[String],
    timeout: Duration,
) -> Result<Applied, (String, String)> {
    let installed = ensure_salt(target).await?;
    let staged = format!("{STAGING}/step-{index}");
    let stage_err =
        |e: crate::backend::EngineError| (format!("staging salt files: {e}"), String::new());
    super::copy(
        target.host,
        target.id,
        &target.root.join(states),
        &format!("{staged}/states"),
        None,
    )
    .await
    .map_err(stage_err)?;
    let mut args = vec![
        "--local".to_string(),
        "--out=json".to_string(),
        "--log-level=warning".to_string(),
        format!("--file-root={staged}/states"),
    ];
    if let Some(p) = pillar {
        super::copy(
            target.host,
            target.id,
            &target.root.join(p),
            &format!("{staged}/pillar"),
            None,
        )
        .await
        .map_err(stage_err)?;
        args.push(format!("--pillar-root={staged}/pillar"));
    }
    args.push("state.apply".to_string());
    if let Some(s) = state {
        args.push(s.to_string());
    }
    let mut cmd = vec![
        "sh".to_string(),
        "-c".to_string(),
        format!(r#"exec {} "$@""#, salt_call()),
        "salt-call".to_string(),
    ];
    cmd.extend(args);
    let out = match target.host.exec(target.id, &cmd, env, timeout).await {
        Ok(out) => out,
        Err(crate::backend::EngineError::ExecTimeout { timeout, .. }) => {
            return Err((
                format!("did not finish within {}", crate::wait::human(timeout)),
                installed,
            ))
        }
        Err(e) => return Err((e.to_string(), installed)),
    };
    let output = format!("{installed}{}{}", out.stdout, out.stderr);
    let what = match state {
        Some(s) => format!("salt state.apply {s} of {}", states.display()),
        None => format!("salt state.apply (highstate) of {}", states.display()),
    };
    match outcome(&out.stdout) {
        Ok(Outcome { changed, failed }) if failed.is_empty() && out.exit_code == 0 => {
            Ok(Applied { changed, output })
        }
        Ok(Outcome { failed, .. }) if !failed.is_empty() => {
            Err((format!("{what} failed: {}", failed.join("; ")), output))
        }
        Ok(_) => Err((format!("{what} exited with {}", out.exit_code), output)),
        Err(errors) => Err((format!("{what} failed: {errors}"), output)),
    }
}

async fn ensure_salt(target: &Target<'_>) -> Result<String, (String, String)> {
    // pip in the node trusts what this host trusts (a proxy that inspects TLS has its own
    // authority there); the bundle is staged for the install only.
    let bundle = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| {
            Some(std::path::PathBuf::from(
                "/etc/ssl/certs/ca-certificates.crt",
            ))
            .filter(|p| p.is_file())
        });
    let mut env = Vec::new();
    if let Some(b) = bundle.and_then(|b| std::fs::read(b).ok()) {
        if super::stage(target.host, target.id, "host-ca.crt", &b)
            .await
            .is_ok()
        {
            env.push(format!("PIP_CERT={STAGING}/host-ca.crt"));
        }
    }
    let cmd = vec!["sh".to_string(), "-c".to_string(), install_script()];
    super::exec_step(target.host, target.id, &cmd, &env, Duration::from_secs(900))
        .await
        .map_err(|(reason, out)| {
            (
                format!(
                    "preparing node `{}` for Salt: {reason}; use an image with salt-call",
                    target.node.name
                ),
                out,
            )
        })
}

/// What `--out=json` said about each state.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// `state `ID` (module.function)` of states with changes.
    changed: Vec<String>,
    /// The same, with `: comment`, of states whose result is false.
    failed: Vec<String>,
}

/// Reads salt-call's JSON (`{"local": {"pkg_|-nginx_|-nginx_|-installed": {...}}}`), in
/// the order Salt ran the states. `Err` holds the errors Salt printed instead of results
/// (a tree that does not render, a state that does not exist).
fn outcome(stdout: &str) -> Result<Outcome, String> {
    let start = stdout.find('{').unwrap_or(0);
    let doc: Value = serde_json::from_str(stdout[start..].trim())
        .map_err(|_| "salt-call printed no results".to_string())?;
    let local = &doc["local"];
    let Some(states) = local.as_object() else {
        let errors: Vec<String> = match local {
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect(),
            Value::String(s) => vec![s.clone()],
            other => vec![other.to_string()],
        };
        return Err(errors.join("; "));
    };
    let mut ordered: Vec<(&String, &Value)> = states.iter().collect();
    ordered.sort_by_key(|(_, v)| v["__run_num__"].as_u64().unwrap_or(u64::MAX));
    let mut changed = Vec::new();
    let mut failed = Vec::new();
    for (key, result) in ordered {
        let mut parts = key.split("_|-");
        let module = parts.next().unwrap_or_default();
        let id = result["__id__"]
            .as_str()
            .map(str::to_string)
            .or_else(|| parts.next().map(str::to_string))
            .unwrap_or_default();
        let function = key.rsplit("_|-").next().unwrap_or_default();
        let name = format!("state `{id}` ({module}.{function})");
        if result["result"] == Value::Bool(false) {
            let comment = result["comment"]
                .as_str()
                .map_or_else(|| result["comment"].to_string(), str::to_string);
            failed.push(format!("{name}: {}", comment.trim()));
        } else if result["changes"].as_object().is_some_and(|c| !c.is_empty()) {
            changed.push(name);
        }
    }
    Ok(Outcome { changed, failed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_and_failed_states_are_named_in_run_order() {
        let out = r#"{
    "local": {
        "service_|-nginx-running_|-nginx_|-running": {"name": "nginx", "changes": {"nginx": true}, "result": true, "comment": "Service nginx has been enabled, and is running", "__id__": "nginx-running", "__run_num__": 1},
        "pkg_|-nginx_|-nginx_|-installed": {"name": "nginx", "changes": {"nginx": {"new": "1.22", "old": ""}}, "result": true, "comment": "", "__id__": "nginx", "__run_num__": 0},
        "file_|-page_|-/var/www/html/index.html_|-managed": {"changes": {}, "result": true, "comment": "File is in the correct state", "__id__": "page", "__run_num__": 2},
        "cmd_|-broken_|-false_|-run": {"changes": {"retcode": 1}, "result": false, "comment": "Command \"false\" run", "__id__": "broken", "__run_num__": 3}
    }
}"#;
        assert_eq!(
            outcome(out),
            Ok(Outcome {
                changed: vec![
                    "state `nginx` (pkg.installed)".into(),
                    "state `nginx-running` (service.running)".into()
                ],
                failed: vec!["state `broken` (cmd.run): Command \"false\" run".into()],
            })
        );
    }

    #[test]
    fn nothing_changed_means_no_states() {
        let out = r#"{"local": {"pkg_|-nginx_|-nginx_|-installed": {"changes": {}, "result": true, "comment": "All specified packages are already installed", "__id__": "nginx", "__run_num__": 0}}}"#;
        assert_eq!(
            outcome(out),
            Ok(Outcome {
                changed: vec![],
                failed: vec![]
            })
        );
    }

    #[test]
    fn render_errors_are_reported_as_such() {
        let out = r#"{"local": ["No matching sls found for 'nope' in env 'base'"]}"#;
        assert_eq!(
            outcome(out),
            Err("No matching sls found for 'nope' in env 'base'".into())
        );
        assert!(outcome("Traceback ...").is_err());
    }
}
