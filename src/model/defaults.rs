//! Project defaults: an optional `envctl.toml` at the project root, read by every verb
//! (and so by the Vagrantfile, through `envctl vagrant-config`).
//!
//! ```toml
//! environment = "web"      # the environment a verb means when none is named
//! engine = "docker"        # for environments whose files name no `engine`
//! jobs = 8                 # assertions checked at once (verify, test, promote)
//!
//! [reports]                # written by verify and test, relative to the project root
//! junit = "reports/junit.xml"
//! json = "reports/report.json"
//! tap = "reports/report.tap"
//! html = "reports/report.html"
//! evidence = "reports/evidence.json"
//! artifacts = "reports/bundle"   # --artifacts, on every verb that takes it
//! ```
//!
//! The command line always wins (`--engine` and `ENVCTL_ENGINE` too). Every path stays
//! inside the project: an untrusted project may not make envctl write elsewhere.

use super::source::{Diagnostic, SourceFile};
use super::ModelError;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The file's name, at the project root.
pub const FILE: &str = "envctl.toml";

/// Most assertions checked at once (`jobs`, `--jobs`).
pub const MAX_JOBS: usize = 256;

/// What `envctl.toml` sets; everything is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defaults {
    pub environment: Option<String>,
    pub engine: Option<super::EngineKind>,
    pub jobs: Option<usize>,
    pub reports: Reports,
}

/// Report paths, absolute (the project root joined).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reports {
    pub junit: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub tap: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub evidence: Option<PathBuf>,
    pub artifacts: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    environment: Option<Spanned<String>>,
    engine: Option<Spanned<String>>,
    jobs: Option<Spanned<i64>>,
    reports: Option<RawReports>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReports {
    junit: Option<Spanned<String>>,
    json: Option<Spanned<String>>,
    tap: Option<Spanned<String>>,
    html: Option<Spanned<String>>,
    evidence: Option<Spanned<String>>,
    artifacts: Option<Spanned<String>>,
}

/// Reads `envctl.toml` at `root` (the defaults are empty without one).
///
/// # Errors
/// [`ModelError::Diagnostics`] naming file, line and field of every problem.
pub fn load(root: &Path, environments: &[String]) -> Result<Defaults, ModelError> {
    let path = root.join(FILE);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(Defaults::default());
    }
    let boundary = super::confine::Root::new(root);
    boundary
        .resolve(FILE)
        .map_err(|why| diagnostics(vec![at_top(why.to_string())]))?;
    let src = SourceFile::read(&path, PathBuf::from(FILE))?;
    parse(&src, &boundary, environments)
}

fn at_top(message: String) -> Diagnostic {
    Diagnostic {
        file: PathBuf::from(FILE),
        line: 1,
        column: 1,
        field: None,
        message,
    }
}

fn diagnostics(list: Vec<Diagnostic>) -> ModelError {
    ModelError::Diagnostics(list)
}

fn parse(
    src: &SourceFile,
    boundary: &super::confine::Root,
    environments: &[String],
) -> Result<Defaults, ModelError> {
    let raw: RawDefaults = toml::from_str(&src.text)
        .map_err(|e| diagnostics(vec![super::environment::toml_diagnostic(src, &e)]))?;
    let mut errors = Vec::new();
    let mut defaults = Defaults::default();
    if let Some(name) = raw.environment {
        if environments.contains(name.get_ref()) {
            defaults.environment = Some(name.get_ref().clone());
        } else {
            errors.push(src.diagnostic_for(
                name.span(),
                "environment",
                format!(
                    "no environment `{}` (environments/{}.toml); the project has: {}",
                    name.get_ref(),
                    name.get_ref(),
                    environments.join(", ")
                ),
            ));
        }
    }
    if let Some(engine) = raw.engine {
        match engine.get_ref().parse() {
            Ok(kind) => defaults.engine = Some(kind),
            Err(message) => errors.push(src.diagnostic_for(engine.span(), "engine", message)),
        }
    }
    if let Some(jobs) = raw.jobs {
        let max = MAX_JOBS;
        match usize::try_from(*jobs.get_ref()) {
            Ok(n) if (1..=max).contains(&n) => defaults.jobs = Some(n),
            _ => errors.push(src.diagnostic_for(
                jobs.span(),
                "jobs",
                format!("jobs must be 1 to {max}"),
            )),
        }
    }
    if let Some(r) = raw.reports {
        let mut path = |value: Option<Spanned<String>>, field: &str| -> Option<PathBuf> {
            let value = value?;
            match inside(boundary, value.get_ref()) {
                Ok(p) => Some(p),
                Err(message) => {
                    errors.push(src.diagnostic_for(
                        value.span(),
                        format!("reports.{field}"),
                        message,
                    ));
                    None
                }
            }
        };
        defaults.reports = Reports {
            junit: path(r.junit, "junit"),
            json: path(r.json, "json"),
            tap: path(r.tap, "tap"),
            html: path(r.html, "html"),
            evidence: path(r.evidence, "evidence"),
            artifacts: path(r.artifacts, "artifacts"),
        };
    }
    if errors.is_empty() {
        Ok(defaults)
    } else {
        Err(diagnostics(errors))
    }
}

/// A path envctl will write, held inside the project as every path a definition names
/// is ([`super::confine::Root::resolve`]: relative, and what exists of it, symlinks
/// followed, inside); it need not exist yet.
fn inside(boundary: &super::confine::Root, written: &str) -> Result<PathBuf, String> {
    use super::confine::Refused;
    match boundary.resolve(written) {
        Ok(_) | Err(Refused::Missing(_)) if !written.is_empty() => {
            Ok(boundary.real().join(written))
        }
        _ => Err(format!(
            "`{written}` is outside the project: report paths are relative to the project root and stay inside it"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(text: &str) -> (tempfile::TempDir, Result<Defaults, ModelError>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), text).unwrap();
        let envs = vec!["web".to_string(), "db".to_string()];
        let loaded = load(dir.path(), &envs);
        (dir, loaded)
    }

    fn problems(text: &str) -> Vec<(usize, Option<String>, String)> {
        match project(text).1 {
            Err(ModelError::Diagnostics(d)) => d
                .into_iter()
                .map(|d| (d.line, d.field, d.message))
                .collect(),
            other => panic!("expected diagnostics, got {other:?}"),
        }
    }

    #[test]
    fn every_key_is_read_and_paths_are_under_the_root() {
        let (dir, loaded) = project(
            "environment = \"db\"\nengine = \"qemu\"\njobs = 3\n[reports]\njunit = \"reports/junit.xml\"\nartifacts = \"out/bundle\"\n",
        );
        let d = loaded.unwrap();
        let root = dir.path().canonicalize().unwrap();
        assert_eq!(d.environment.as_deref(), Some("db"));
        assert_eq!(d.engine, Some(crate::model::EngineKind::Qemu));
        assert_eq!(d.jobs, Some(3));
        assert_eq!(d.reports.junit, Some(root.join("reports/junit.xml")));
        assert_eq!(d.reports.artifacts, Some(root.join("out/bundle")));
        assert_eq!(d.reports.json, None);
    }

    #[test]
    fn no_file_means_no_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path(), &[]).unwrap(), Defaults::default());
    }

    #[test]
    fn bad_values_name_their_line_and_field() {
        let found = problems(
            "environment = \"nope\"\nengine = \"podman\"\njobs = 0\n[reports]\njunit = \"../x.xml\"\nhtml = \"/tmp/r.html\"\n",
        );
        let fields: Vec<(usize, Option<&str>)> =
            found.iter().map(|(l, f, _)| (*l, f.as_deref())).collect();
        assert_eq!(
            fields,
            [
                (1, Some("environment")),
                (2, Some("engine")),
                (3, Some("jobs")),
                (5, Some("reports.junit")),
                (6, Some("reports.html")),
            ],
            "{found:?}"
        );
        assert!(found[0].2.contains("db, web") || found[0].2.contains("web, db"));
    }

    #[test]
    fn an_unknown_key_is_refused_at_its_line() {
        let found = problems("jobs = 2\nenvironmnet = \"web\"\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, 2, "{found:?}");
        assert!(found[0].2.contains("unknown field"), "{found:?}");
    }

    #[test]
    fn a_report_path_through_a_symlink_out_of_the_project_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("out")).unwrap();
        std::fs::write(
            dir.path().join(FILE),
            "[reports]\njunit = \"out/junit.xml\"\njson = \"inside/report.json\"\n",
        )
        .unwrap();
        match load(dir.path(), &[]) {
            Err(ModelError::Diagnostics(d)) => {
                assert_eq!(d.len(), 1, "{d:?}");
                assert_eq!(d[0].field.as_deref(), Some("reports.junit"));
                assert!(!d[0]
                    .message
                    .contains(&elsewhere.path().display().to_string()));
            }
            other => panic!("{other:?}"),
        }
    }
}
