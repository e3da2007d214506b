//! `puppet` steps: `puppet apply` inside the node, of the user's manifest and modules,
//! unchanged. The manifest's directory and the module path are staged in the node;
//! the environment's `vars` are given as facts (`FACTER_name`). Puppet is installed from
//! the node's apt when missing (once: the result is kept in the provisioned image).
//! `--detailed-exitcodes`: 0 nothing changed, 2 changes applied, 4/6 failures.

use super::{Target, STAGING};
use std::path::Path;
use std::time::Duration;

/// What a `puppet apply` produced.
pub struct Applied {
    pub output: String,
    /// Resources Puppet changed (`Service[redis-server]/ensure: ...`).
    pub changed: Vec<String>,
}

/// The module directories of a `puppet` step (project paths), in module path order.
#[derive(Clone, Copy)]
pub struct ModulePath<'a> {
    pub modules: Option<&'a Path>,
    pub vendor: Option<&'a Path>,
}

/// Stages and applies `manifest` in the target node.
///
/// # Errors
/// `(reason, output)`: puppet missing and not installable, staging failed, or the
/// catalog failed.
pub async fn run(
    target: &Target<'_>,
    index: usize,
    manifest: &Path,
    paths: ModulePath<'_>,
    env: &[String],
    timeout: Duration,
) -> Result<Applied, (String, String)> {
    let installed = ensure_puppet(target).await?;
    let staged = format!("{STAGING}/step-{index}");
    let name = manifest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "site.pp".into());
    let dir = manifest.parent().filter(|d| !d.as_os_str().is_empty());
    let stage_err =
        |e: crate::backend::EngineError| (format!("staging puppet files: {e}"), String::new());
    match dir {
        // The manifest's directory may hold files it imports; stage all of it.
        Some(d) => super::copy(
            target.host,
            target.id,
            &target.root.join(d),
            &format!("{staged}/manifests"),
            None,
        )
        .await
        .map_err(stage_err)?,
        None => super::copy(
            target.host,
            target.id,
            &target.root.join(manifest),
            &format!("{staged}/manifests/{name}"),
            None,
        )
        .await
        .map_err(stage_err)?,
    }
    let mut cmd = vec![
        "puppet".to_string(),
        "apply".to_string(),
        "--detailed-exitcodes".to_string(),
        "--color=false".to_string(),
    ];
    let mut modulepath = Vec::new();
    for (dir, staged_as) in [(paths.modules, "modules"), (paths.vendor, "vendor")] {
        let Some(dir) = dir else { continue };
        let into = format!("{staged}/{staged_as}");
        super::copy(target.host, target.id, &target.root.join(dir), &into, None)
            .await
            .map_err(stage_err)?;
        modulepath.push(into);
    }
    if !modulepath.is_empty() {
        cmd.push(format!("--modulepath={}", modulepath.join(":")));
    }
    cmd.push(format!("{staged}/manifests/{name}"));
    let mut env = env.to_vec();
    env.extend(
        target
            .env
            .vars
            .iter()
            .map(|(k, v)| format!("FACTER_{k}={v}")),
    );
    let out = match target.host.exec(target.id, &cmd, &env, timeout).await {
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
    match out.exit_code {
        0 | 2 => Ok(Applied {
            changed: changed_resources(&output),
            output,
        }),
        code => Err((
            format!(
                "puppet apply {} exited with {code} (4: failures, 6: changes and failures)",
                manifest.display()
            ),
            output,
        )),
    }
}

async fn ensure_puppet(target: &Target<'_>) -> Result<String, (String, String)> {
    let script = r#"command -v puppet >/dev/null 2>&1 && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "the node's image has no puppet and no apt-get to install it" >&2; exit 90
fi
echo "envctl: installing puppet"
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends puppet >/dev/null"#;
    let cmd = vec!["sh".to_string(), "-c".to_string(), script.to_string()];
    super::exec_step(target.host, target.id, &cmd, &[], Duration::from_secs(900))
        .await
        .map_err(|(reason, out)| {
            (
                format!(
                    "preparing node `{}` for Puppet: {reason}; use an image with puppet",
                    target.node.name
                ),
                out,
            )
        })
}

/// Resources Puppet reported changing (`Notice: /Stage[main]/...` lines), without the
/// stage prefix.
pub fn changed_resources(output: &str) -> Vec<String> {
    let mut changed = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for line in output.lines() {
        let Some(rest) = line.trim().strip_prefix("Notice: /Stage[") else {
            continue;
        };
        let resource = rest.split_once("]/").map_or(rest, |(_, r)| r);
        if seen.insert(resource) {
            changed.push(resource.to_string());
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_resources_come_from_stage_notices() {
        let out = "\
Notice: Compiled catalog for redis in environment production in 0.12 seconds
Notice: /Stage[main]/Redis/Package[redis-server]/ensure: created
Notice: /Stage[main]/Redis/File[/etc/redis/redis.conf]/content: content changed '{sha256}a' to '{sha256}b'
Notice: /Stage[main]/Redis/Service[redis-server]: Triggered 'refresh' from 1 event
Notice: Applied catalog in 12.3 seconds
";
        assert_eq!(
            changed_resources(out),
            [
                "Redis/Package[redis-server]/ensure: created",
                "Redis/File[/etc/redis/redis.conf]/content: content changed '{sha256}a' to '{sha256}b'",
                "Redis/Service[redis-server]: Triggered 'refresh' from 1 event",
            ]
        );
        assert!(changed_resources("Notice: Applied catalog in 0.1 seconds\n").is_empty());
    }
}
