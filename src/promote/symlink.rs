//! Symlink releases, step by step: the release is copied into `PATH/releases/VERSION` on
//! every replica of the service's nodes, `PATH/current` is repointed to it (an atomic
//! rename), the restart command runs, the nodes' health checks and the specs verify it.
//! A release that fails is undone by repointing `current` at the release before and
//! restarting; old releases beyond `keep` are removed. Rollback repoints `current` at
//! the release that was live before the current one, verified the same way. The links
//! in the nodes are the truth about which release is live; envctl keeps no state file.

use super::flow::{self, Options, FAULT, INTERRUPTED, INVALID, PROMOTED, REFUSED};
use super::history::Record;
use super::probe::{self, Probe};
use super::release::Release;
use super::retry::{retry, STEP};
use super::switch::exec_ok;
use crate::backend::{labels, NodeAccess};
use crate::instance::{health, Instance, InstanceView};
use crate::model::assertion::Assertion;
use crate::model::symlink_release::SymlinkRelease;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;
use std::time::Instant;
use tokio::runtime::Handle;

/// What to do.
#[derive(Debug, Clone)]
pub enum Action {
    /// Copy this release (a tar of its files) to the nodes and make it current.
    Promote(Release, Vec<u8>),
    /// Make the release before the current one current again.
    Rollback,
}

/// Reads `--release` for a symlink service: `git:REV` (the `source` directory of the
/// project at a git revision) or a directory (relative to the project root, or
/// absolute: a build's output). Returns the release, named `YYYYMMDD-HHMMSS.mmm-ID`
/// (ID: the short commit, or a hash of the files), and a tar of its files.
///
/// # Errors
/// A message naming the bad value (invalid input).
pub fn prepare(
    values: &[String],
    root: &Path,
    s: &SymlinkRelease,
) -> Result<(Release, Vec<u8>), String> {
    let [value] = values else {
        return Err(format!(
            "`{}` takes one --release: a directory (a build's output) or git:REV",
            s.service
        ));
    };
    let stamp = stamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default(),
    );
    let (id, source, tar) = if let Some(rev) = value.strip_prefix("git:") {
        let (commit, tar, label) = git_tree(root, s, rev)?;
        (commit[..commit.len().min(7)].to_string(), label, tar)
    } else {
        let dir = root.join(value);
        if !dir.is_dir() {
            return Err(format!(
                "--release `{value}`: not a directory (give a directory to copy, or git:REV for a revision of `{}`)",
                s.source.as_deref().map_or("the source".into(), |p| p.display().to_string())
            ));
        }
        let tar = crate::backend::archive::directory(&dir)
            .map_err(|e| format!("--release `{value}`: cannot read {}: {e}", dir.display()))?;
        let hash = format!("{:x}", Sha256::digest(&tar));
        (hash[..8].to_string(), value.clone(), tar)
    };
    let release = Release {
        version: Some(format!("{stamp}-{id}")),
        source: Some(source),
        ..Release::default()
    };
    Ok((release, tar))
}

/// `YYYYMMDD-HHMMSS.mmm` (UTC): release names sort by the time they were made.
fn stamp(since_epoch: std::time::Duration) -> String {
    let digits: String = super::history::utc(since_epoch.as_secs())
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    format!(
        "{}-{}.{:03}",
        &digits[..8],
        &digits[8..],
        since_epoch.subsec_millis()
    )
}

/// The `source` directory at git revision `rev` as a tar: its commit, the tar, a label.
fn git_tree(
    root: &Path,
    s: &SymlinkRelease,
    rev: &str,
) -> Result<(String, Vec<u8>, String), String> {
    let Some(source) = &s.source else {
        return Err(format!(
            "--release git:{rev}: [releases.{}] has no `source`, the project directory whose revisions are released",
            s.service
        ));
    };
    if rev.is_empty()
        || rev.starts_with('-')
        || rev.contains(|c: char| c.is_whitespace() || c.is_control())
    {
        return Err(format!("--release git:{rev}: not a git revision"));
    }
    let git = |args: &[&str]| -> Result<Vec<u8>, String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .map_err(|e| format!("--release git:{rev}: cannot run git: {e}"))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(format!(
                "--release git:{rev}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).trim().to_string();
    let prefix = text(
        git(&["rev-parse", "--show-prefix"])
            .map_err(|e| format!("{e} (the project is not in a git repository)"))?,
    );
    let commit = text(
        git(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ])
        .map_err(|_| {
            format!("--release git:{rev}: not a revision of the project's git repository")
        })?,
    );
    let tree = format!("{commit}:{prefix}{}", source.display());
    let tar = git(&["archive", "--format=tar", &tree]).map_err(|_| {
        format!(
            "--release git:{rev}: `{}` does not exist at that revision",
            source.display()
        )
    })?;
    let label = format!(
        "git {} ({rev}) of {}",
        &commit[..commit.len().min(7)],
        source.display()
    );
    Ok((commit, tar, label))
}

/// The release that was live before `current`: what the last successful promotion to
/// `current` switched away from, when it is still on the nodes; otherwise the newest
/// release older than `current`.
fn before(records: &[Record], service: &str, current: &str, present: &[String]) -> Option<String> {
    records
        .iter()
        .rev()
        .find(|r| r.service == service && r.action == "promote" && r.exit == 0 && r.to == current)
        .and_then(|r| r.from.clone())
        .filter(|v| present.contains(v))
        .or_else(|| {
            present
                .iter()
                .filter(|v| v.as_str() < current)
                .max()
                .cloned()
        })
}

/// Releases to remove so that `keep` remain: the oldest ones, never the live one.
fn pruned(mut present: Vec<String>, live: &str, keep: usize) -> Vec<String> {
    present.sort();
    let mut kept = 0;
    let mut remove = Vec::new();
    for v in present.into_iter().rev() {
        if v == live || kept < keep.saturating_sub(1) {
            kept += usize::from(v != live);
            continue;
        }
        remove.push(v);
    }
    remove.reverse();
    remove
}

struct Run<'a> {
    handle: &'a Handle,
    inst: &'a Instance,
    s: &'a SymlinkRelease,
    specs: &'a [Assertion],
    options: &'a Options,
    records: &'a [Record],
    record: Record,
    /// `(replica, node)` of every running replica that gets releases.
    replicas: Vec<(String, String)>,
}

/// Runs a promotion or rollback of `s` and returns its record (outcome and exit code
/// included). `records` is the instance's history (for what a rollback returns to).
/// Blocks: call it outside the async runtime.
pub fn run(
    handle: &Handle,
    inst: &Instance,
    s: &SymlinkRelease,
    specs: &[Assertion],
    action: Action,
    options: &Options,
    records: &[Record],
) -> Record {
    let started = Instant::now();
    let (name, release) = match &action {
        Action::Promote(r, _) => ("promote", r.clone()),
        Action::Rollback => ("rollback", Release::default()),
    };
    let mut run = Run {
        handle,
        inst,
        s,
        specs,
        options,
        records,
        record: Record::start(name, &s.service, release),
        replicas: Vec::new(),
    };
    let (exit, outcome, message) = match run.execute(action) {
        Ok(outcome) => (PROMOTED, outcome, None),
        Err((exit, message)) => {
            let outcome = match exit {
                REFUSED => "refused",
                INTERRUPTED => "interrupted",
                INVALID => "invalid",
                _ => "failed",
            };
            (exit, outcome, Some(message))
        }
    };
    run.record.exit = exit;
    run.record.outcome = outcome.into();
    run.record.message = message;
    run.record.evidence.duration_ms = started.elapsed().as_millis() as u64;
    run.record
}

type Failed = (u8, String);

impl Run<'_> {
    fn step(&mut self, text: impl Into<String>) {
        let text = text.into();
        if !self.options.quiet {
            eprintln!("{}: {text}", self.s.service);
        }
        self.record.evidence.steps.push(text);
    }

    fn view(&self) -> Result<InstanceView, Failed> {
        self.handle
            .block_on(self.inst.view())
            .map_err(|e| (FAULT, e.to_string()))
    }

    fn interrupted(&self) -> bool {
        self.options
            .interrupt
            .as_ref()
            .is_some_and(|rx| *rx.borrow())
    }

    fn names(&self) -> String {
        let names: Vec<&str> = self.replicas.iter().map(|(r, _)| r.as_str()).collect();
        names.join(", ")
    }

    fn execute(&mut self, action: Action) -> Result<&'static str, Failed> {
        let view = self.view()?;
        if view.is_empty() {
            let env = &self.inst.env.name;
            return Err((
                FAULT,
                format!(
                    "instance `{}` of environment `{env}` is not running; start it with `{}`",
                    self.inst.id.instance,
                    crate::hint::command(&format!("up {env}"))
                ),
            ));
        }
        for node in &self.s.nodes {
            let mut found = false;
            for (replica, c) in view.replicas() {
                if c.label(labels::NODE) == Some(node) && c.running {
                    self.replicas.push((replica.clone(), node.clone()));
                    found = true;
                }
            }
            if !found {
                return Err((
                    FAULT,
                    format!(
                        "node `{node}` is not running; start it with `{}`",
                        crate::hint::command(&format!("up {}", self.inst.env.name))
                    ),
                ));
            }
        }
        self.record.evidence.container = view
            .container(&self.replicas[0].0)
            .ok()
            .map(|c| c.name.clone());
        let live = self.live(&view)?;
        self.record.from = live.clone();
        self.record.live = live.clone();
        let probe = self.options.probe.as_ref().map(|url| {
            let mapped = self
                .handle
                .block_on(probe::on_host(url, &view, &self.inst.id.network()));
            let judge = probe::Judge {
                colours: Vec::new(),
                patterns: self.options.probe_body.clone(),
            };
            Probe::start(self.handle, mapped, url.clone(), judge, &[])
        });
        let result = match action {
            Action::Promote(release, tar) => {
                self.promote(&view, &release, tar, live.as_deref(), probe.as_ref())
            }
            Action::Rollback => self.rollback(&view, live.as_deref(), probe.as_ref()),
        };
        let Some(probe) = probe else { return result };
        let figures = self.handle.block_on(probe.finish());
        if !self.options.quiet {
            eprintln!(
                "{}: probe {}: {} requests, {} failed",
                self.s.service, figures.url, figures.sent, figures.failed
            );
        }
        let failed = figures.failed;
        self.record.probe = Some(figures);
        match result {
            Ok(_) if failed > 0 => Err((
                REFUSED,
                format!("{failed} probe requests failed while the release went live; `current` is on {}", self.record.live.as_deref().unwrap_or("?")),
            )),
            other => other,
        }
    }

    /// The release `current` points at on every replica (`None` before the first).
    fn live(&mut self, view: &InstanceView) -> Result<Option<String>, Failed> {
        let mut seen: Vec<(String, Option<String>)> = Vec::new();
        for (replica, _) in self.replicas.clone() {
            let command = vec!["readlink".into(), self.s.current_link()];
            let out = self
                .handle
                .block_on(view.exec(&replica, &command, std::time::Duration::from_secs(30)))
                .map_err(|e| (FAULT, e.to_string()))?;
            let target = out.stdout.trim();
            let version = (out.exit_code == 0).then(|| {
                target
                    .strip_prefix(&format!("{}/", self.s.releases_dir()))
                    .unwrap_or(target)
                    .to_string()
            });
            seen.push((replica, version));
        }
        let first = seen[0].1.clone();
        if seen.iter().any(|(_, v)| *v != first) {
            let all: Vec<String> = seen
                .iter()
                .map(|(r, v)| format!("{r}: {}", v.as_deref().unwrap_or("none")))
                .collect();
            self.step(format!(
                "replicas disagree on the live release ({})",
                all.join(", ")
            ));
        }
        Ok(first)
    }

    fn promote(
        &mut self,
        view: &InstanceView,
        release: &Release,
        tar: Vec<u8>,
        live: Option<&str>,
        probe: Option<&Probe>,
    ) -> Result<&'static str, Failed> {
        let version = release.version.clone().unwrap_or_default();
        self.record.to = version.clone();
        // 1. Copy, on every replica, before any of them switches.
        self.step(format!(
            "copying {version} ({}, {} KiB) to {} on {}",
            release.source.as_deref().unwrap_or("?"),
            tar.len().div_ceil(1024),
            self.s.release_dir(&version),
            self.names()
        ));
        if let Err(e) = self.copy(view, &version, tar) {
            self.remove(view, &version);
            return Err((
                FAULT,
                format!(
                    "copying {version} failed: {e}; `current` stays on {}",
                    live.unwrap_or("nothing")
                ),
            ));
        }
        if self.interrupted() {
            self.remove(view, &version);
            return Err((
                INTERRUPTED,
                format!(
                    "interrupted; `current` stays on {}",
                    live.unwrap_or("nothing")
                ),
            ));
        }
        // 2. Live: repoint, restart, healthy, verified.
        let failure = self.switch(view, &version, probe, format!("switch to {version}"));
        if let Some((exit, message)) = failure {
            let back = self.back(view, live, &version);
            // A release `current` could not be moved away from stays where it is.
            if back.is_none() {
                self.remove(view, &version);
            }
            return Err((back.unwrap_or(exit), message_back(&message, live, back)));
        }
        self.record.live = Some(version.clone());
        // 3. Old releases beyond `keep` go.
        self.prune(view, &version);
        Ok("promoted")
    }

    fn rollback(
        &mut self,
        view: &InstanceView,
        live: Option<&str>,
        probe: Option<&Probe>,
    ) -> Result<&'static str, Failed> {
        let Some(live) = live else {
            return Err((
                INVALID,
                format!(
                    "no release of `{}` is live ({} is not a link); nothing to roll back",
                    self.s.service,
                    self.s.current_link()
                ),
            ));
        };
        let present = self.present(view, &self.replicas[0].0.clone())?;
        let Some(target) = before(self.records, &self.s.service, live, &present) else {
            return Err((
                INVALID,
                format!(
                    "no release before {live} is left in {} on {}; nothing to roll back to",
                    self.s.releases_dir(),
                    self.replicas[0].0
                ),
            ));
        };
        self.record.to = target.clone();
        // What the history knows of that release.
        self.record.release = self
            .records
            .iter()
            .rev()
            .find(|r| {
                r.service == self.s.service && r.release.version.as_deref() == Some(target.as_str())
            })
            .map(|r| r.release.clone())
            .unwrap_or_else(|| Release {
                version: Some(target.clone()),
                ..Release::default()
            });
        for (replica, _) in self.replicas.clone() {
            if !self.present(view, &replica)?.contains(&target) {
                return Err((
                    FAULT,
                    format!(
                        "{target} is not in {} on {replica}; `current` stays on {live}",
                        self.s.releases_dir()
                    ),
                ));
            }
        }
        let failure = self.switch(view, &target, probe, format!("switch back to {target}"));
        if let Some((exit, message)) = failure {
            let back = self.back(view, Some(live), &target);
            return Err((
                back.unwrap_or(exit),
                message_back(&message, Some(live), back),
            ));
        }
        self.record.live = Some(target);
        Ok("rolled back")
    }

    /// The tar, extracted into `PATH/releases/VERSION` on every replica.
    fn copy(&mut self, view: &InstanceView, version: &str, tar: Vec<u8>) -> Result<(), String> {
        let dir = self.s.release_dir(version);
        for (replica, _) in self.replicas.clone() {
            let mkdir = vec!["mkdir".into(), "-p".into(), dir.clone()];
            let id = view
                .container(&replica)
                .map_err(|e| e.to_string())?
                .id
                .clone();
            let mut notes = Vec::new();
            let done = self.handle.block_on(async {
                exec_ok(view, &replica, mkdir, "creating the release directory").await?;
                retry(
                    &format!("copying {version} to {replica}"),
                    STEP,
                    &mut notes,
                    || view.backend().upload(&id, &dir, tar.clone()),
                )
                .await
                .map_err(super::PromoteError::from)
            });
            for n in notes {
                self.step(n);
            }
            done.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// `current` → `version` on every replica, the restart command, the nodes' health
    /// checks, then the specs. A failure of the switch or restart is a fault; failed
    /// health or specs are the gate saying no.
    /// Makes `version` live (marking the switch on the probe's timeline) and says what
    /// went wrong, if anything: the switch itself, an interrupt, or failed probe requests.
    fn switch(
        &mut self,
        view: &InstanceView,
        version: &str,
        probe: Option<&Probe>,
        mark: String,
    ) -> Option<Failed> {
        if let Some(probe) = probe {
            probe.mark(mark);
        }
        match self.go_live(view, version) {
            Err(failure) => Some(failure),
            Ok(()) if self.interrupted() => Some((INTERRUPTED, "interrupted".to_string())),
            Ok(()) => probe
                .map(Probe::failed)
                .filter(|f| *f > 0)
                .map(|failed| (REFUSED, format!("{failed} probe requests failed"))),
        }
    }

    fn go_live(&mut self, view: &InstanceView, version: &str) -> Result<(), Failed> {
        self.point(view, version).map_err(|e| (FAULT, e))?;
        self.restart(view)
            .map_err(|e| (FAULT, format!("{version}: {e}")))?;
        self.healthy(view)
            .map_err(|e| (REFUSED, format!("{version} is not healthy: {e}")))?;
        let selected: Vec<Assertion> = self
            .specs
            .iter()
            .filter(|a| self.s.specs.iter().any(|s| s == a.group()))
            .cloned()
            .collect();
        self.step(format!(
            "verifying {version} ({} assertions)",
            selected.len()
        ));
        let fresh = self.view()?;
        flow::verify(
            self.handle,
            fresh,
            selected,
            self.options,
            &mut self.record.specs,
        )
        .map_err(|no| no.stop(version, "", ""))?;
        self.step(format!("{version} is live and verified"));
        Ok(())
    }

    /// Repoints `current` at `version` on every replica: a new link renamed over the
    /// old one, so `current` always names a whole release.
    fn point(&mut self, view: &InstanceView, version: &str) -> Result<(), String> {
        self.step(format!(
            "pointing {} at {version} on {}",
            self.s.current_link(),
            self.names()
        ));
        let script = r#"set -e; ln -sfn "$2" "$1.envctl-new"; mv -Tf "$1.envctl-new" "$1""#;
        for (replica, _) in self.replicas.clone() {
            let command = vec![
                "sh".into(),
                "-c".into(),
                script.into(),
                "sh".into(),
                self.s.current_link(),
                self.s.release_dir(version),
            ];
            self.handle
                .block_on(exec_ok(view, &replica, command, "repointing `current`"))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn restart(&mut self, view: &InstanceView) -> Result<(), String> {
        let Some(restart) = self.s.restart.clone() else {
            return Ok(());
        };
        for (replica, _) in self.replicas.clone() {
            self.step(format!("restarting on {replica}: {}", restart.join(" ")));
            self.handle
                .block_on(exec_ok(view, &replica, restart.clone(), "restarting"))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Waits for each replica's own health check.
    fn healthy(&mut self, view: &InstanceView) -> Result<(), String> {
        let client = crate::check::http::client();
        for (replica, node) in self.replicas.clone() {
            let Some(health) = self
                .inst
                .env
                .nodes
                .get(&node)
                .and_then(|n| n.health.clone())
            else {
                continue;
            };
            let c = view.container(&replica).map_err(|e| e.to_string())?;
            self.handle
                .block_on(health::wait_ready(
                    self.inst.backend.as_ref(),
                    &self.inst.id.network(),
                    &replica,
                    c,
                    Some(&health),
                    &client,
                ))
                .map_err(|e| format!("{replica}: {e}"))?;
        }
        Ok(())
    }

    /// Puts `live` back after `failed` did not make it (or removes `current` when there
    /// was nothing before). `None` when that worked; `Some(FAULT)` when it did not.
    fn back(&mut self, view: &InstanceView, live: Option<&str>, failed: &str) -> Option<u8> {
        let done = match live {
            Some(live) => {
                self.step(format!("pointing {} back at {live}", self.s.current_link()));
                self.point(view, live).and_then(|()| self.restart(view))
            }
            None => {
                self.step(format!(
                    "removing {} (no release was live before {failed})",
                    self.s.current_link()
                ));
                let mut result = Ok(());
                for (replica, _) in self.replicas.clone() {
                    let command = vec!["rm".into(), "-f".into(), self.s.current_link()];
                    result = result.and(
                        self.handle
                            .block_on(exec_ok(view, &replica, command, "removing `current`"))
                            .map(drop)
                            .map_err(|e| e.to_string()),
                    );
                }
                result
            }
        };
        match done {
            Ok(()) => {
                self.record.live = live.map(str::to_string);
                None
            }
            Err(e) => {
                self.record.live = None;
                self.step(format!("switching back failed: {e}"));
                Some(FAULT)
            }
        }
    }

    /// Removes a release directory on every replica (a release that did not go live).
    fn remove(&mut self, view: &InstanceView, version: &str) {
        self.step(format!("removing {}", self.s.release_dir(version)));
        for (replica, _) in self.replicas.clone() {
            let command = vec![
                "rm".into(),
                "-rf".into(),
                "--".into(),
                self.s.release_dir(version),
            ];
            if let Err(e) =
                self.handle
                    .block_on(exec_ok(view, &replica, command, "removing a release"))
            {
                self.step(format!("removing {version} on {replica} failed: {e}"));
            }
        }
    }

    /// The releases in `PATH/releases` on `replica`, oldest first.
    fn present(&self, view: &InstanceView, replica: &str) -> Result<Vec<String>, Failed> {
        let command = vec!["ls".into(), "-1".into(), "--".into(), self.s.releases_dir()];
        let out = self
            .handle
            .block_on(view.exec(replica, &command, std::time::Duration::from_secs(30)))
            .map_err(|e| (FAULT, e.to_string()))?;
        let mut names: Vec<String> = out
            .stdout
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Removes the oldest releases on every replica so that `keep` remain.
    fn prune(&mut self, view: &InstanceView, live: &str) {
        for (replica, _) in self.replicas.clone() {
            let present = match self.present(view, &replica) {
                Ok(p) => p,
                Err((_, e)) => {
                    self.step(format!("cannot list the releases on {replica}: {e}"));
                    continue;
                }
            };
            let old = pruned(present, live, self.s.keep);
            if old.is_empty() {
                continue;
            }
            self.step(format!(
                "removing old releases on {replica} (keeping {}): {}",
                self.s.keep,
                old.join(", ")
            ));
            let mut command = vec!["rm".into(), "-rf".into(), "--".into()];
            command.extend(old.iter().map(|v| self.s.release_dir(v)));
            if let Err(e) =
                self.handle
                    .block_on(exec_ok(view, &replica, command, "removing old releases"))
            {
                self.step(format!("removing old releases on {replica} failed: {e}"));
            }
        }
    }
}

/// `message`, and where `current` is now.
fn message_back(message: &str, live: Option<&str>, back: Option<u8>) -> String {
    match (live, back) {
        (_, Some(_)) => format!("{message}; switching back failed too"),
        (Some(live), None) => format!("{message}; `current` is back on {live}"),
        (None, None) => format!("{message}; no release is live (there was none before)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn release_names_sort_by_time() {
        let at = |ms: u64| stamp(std::time::Duration::from_millis(ms));
        assert_eq!(at(1_795_000_000_007), "20261118-110640.007");
        assert!(at(1_795_000_000_007) < at(1_795_000_000_010));
        assert!(at(1_795_000_000_999) < at(1_795_000_001_000));
    }

    #[test]
    fn pruning_keeps_the_newest_and_the_live_release() {
        let present = versions(&["1", "2", "3", "4", "5"]);
        assert_eq!(pruned(present.clone(), "5", 3), versions(&["1", "2"]));
        // The live release is kept even when it is old (after a rollback).
        assert_eq!(pruned(present.clone(), "2", 3), versions(&["1", "3"]));
        assert_eq!(pruned(present, "5", 10), Vec::<String>::new());
    }

    fn promoted(from: Option<&str>, to: &str, exit: u8) -> Record {
        let mut r = Record::start("promote", "site", Release::default());
        r.from = from.map(str::to_string);
        r.to = to.into();
        r.exit = exit;
        r
    }

    #[test]
    fn rollback_returns_to_what_was_live_before() {
        let present = versions(&["a", "b", "c"]);
        // c was promoted over a (after a rollback from b): back to a, not b.
        let records = [promoted(Some("a"), "b", 0), promoted(Some("a"), "c", 0)];
        assert_eq!(before(&records, "site", "c", &present), Some("a".into()));
        // A refused promotion does not count; without history, the newest older one.
        let records = [promoted(Some("a"), "c", 1)];
        assert_eq!(before(&records, "site", "c", &present), Some("b".into()));
        // A release that was pruned is not gone back to.
        let records = [promoted(Some("0"), "c", 0)];
        assert_eq!(before(&records, "site", "c", &present), Some("b".into()));
        assert_eq!(before(&[], "site", "a", &present), None);
    }
}
