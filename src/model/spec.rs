//! Specs of an environment: every file of `specs/ENV/` (TOML specs and goss files), each
//! read by its own loader into [`Assertion`]s.

use super::assertion::Assertion;
use super::environment::Environment;
use super::ModelError;
use std::path::{Path, PathBuf};

/// The directory holding an environment's specs: `specs/ENV`, or the nearest ancestor's
/// when the environment has none of its own.
pub fn spec_dir(root: &Path, env: &Environment) -> Option<PathBuf> {
    std::iter::once(&env.name)
        .chain(env.ancestors.iter())
        .map(|name| root.join("specs").join(name))
        .find(|dir| dir.is_dir())
}

/// Loads every spec file of `env`.
///
/// # Errors
/// [`ModelError`] listing every problem, each with file, line and field.
pub fn load(root: &Path, env: &Environment) -> Result<Vec<Assertion>, ModelError> {
    let Some(dir) = spec_dir(root, env) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|source| ModelError::Io {
            path: dir.clone(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml") || super::goss::node_of(p).is_some())
        .collect();
    paths.sort();
    let mut assertions = Vec::new();
    let mut errors = Vec::new();
    let confined = super::confine::Root::new(root);
    for path in paths {
        let shown = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        if let Err(why) = confined.confine(&path, &shown.display().to_string()) {
            errors.push(ModelError::Diagnostics(vec![super::Diagnostic {
                file: shown,
                line: 1,
                column: 1,
                field: None,
                message: why.to_string(),
            }]));
            continue;
        }
        let loaded = if super::goss::node_of(&path).is_some() {
            super::goss::load(root, env, &path)
        } else {
            super::spec_toml::load(root, env, &path)
        };
        match loaded {
            Ok(found) => assertions.extend(found),
            Err(e) => errors.push(e),
        }
    }
    match ModelError::combine(errors) {
        Some(e) => Err(e),
        None => Ok(assertions),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_assertion_knows_the_line_it_is_written_on() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("environments")).unwrap();
        std::fs::create_dir_all(root.join("specs/e")).unwrap();
        std::fs::write(
            root.join("environments/e.toml"),
            "[nodes.web]\nimage = \"x\"\nreplicas = 2\n",
        )
        .unwrap();
        std::fs::write(
            root.join("specs/e/web.toml"),
            "# comment\npackage = [\n  { node = \"web-1\", name = \"nginx\" },\n  { node = \"web-2\", name = \"curl\" },\n]\n\n[[http]]\ntitle = \"home\"\nurl = \"http://web:80/\"\n\n[[command]]\n\nnode = \"web\"\nrun = \"true\"\n",
        )
        .unwrap();
        let env = super::super::environment::load(root, "e").unwrap();
        let lines: Vec<(String, usize)> = load(root, &env)
            .unwrap()
            .into_iter()
            .map(|a| (a.title, a.line))
            .collect();
        assert_eq!(
            lines,
            [
                ("home".to_string(), 7),
                ("command true @web-1".to_string(), 11),
                ("command true @web-2".to_string(), 11),
                ("package nginx".to_string(), 3),
                ("package curl".to_string(), 4),
            ]
        );
    }
}
