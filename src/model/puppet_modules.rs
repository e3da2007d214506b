//! A `puppet` step's module dependencies, checked before anything is created: every
//! module in `modules` and `vendor` (a directory of third-party modules, as `puppet
//! module install --target-dir` or r10k write it) declares its dependencies in
//! `metadata.json`; each must be one of those modules, at a version its
//! `version_requirement` accepts. Nothing is fetched: a dependency that is missing is
//! refused at its line, with what to vendor.

use super::confine::Root;
use super::source::Diagnostic;
use super::yaml::{self, Node, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A module found in a module directory.
struct Module {
    /// Its `metadata.json` (project path), when it has one.
    metadata: Option<PathBuf>,
    version: Option<semver::Version>,
    /// Which of the step's keys holds it (`modules`, `vendor`).
    key: &'static str,
}

/// Checks the dependencies of every module in `dirs` (`(key, project path)`).
///
/// # Errors
/// One diagnostic per unmet dependency, at the dependency in its `metadata.json`.
pub fn check(root: &Root, dirs: &[(&'static str, &Path)]) -> Result<(), Vec<Diagnostic>> {
    let mut modules: BTreeMap<String, Module> = BTreeMap::new();
    let mut errors = Vec::new();
    let mut documents = Vec::new();
    for (key, dir) in dirs {
        let Ok(entries) = std::fs::read_dir(root.real().join(dir)) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        for name in names {
            let metadata = dir.join(&name).join("metadata.json");
            let mut module = Module {
                metadata: None,
                version: None,
                key,
            };
            if root.real().join(&metadata).is_file() {
                let shown = metadata.display().to_string();
                match root.read(&root.real().join(&metadata), &shown) {
                    Ok(text) => match yaml::parse(&text) {
                        Ok(doc) => {
                            module.version = doc
                                .get("version")
                                .and_then(Node::as_str)
                                .and_then(|v| semver::Version::parse(v).ok());
                            documents.push((name.clone(), metadata.clone(), doc));
                        }
                        Err(e) => errors.push(Diagnostic {
                            file: metadata.clone(),
                            line: e.line,
                            column: e.column,
                            field: None,
                            message: format!("not valid JSON: {}", e.message),
                        }),
                    },
                    Err(why) => errors.push(Diagnostic {
                        file: metadata.clone(),
                        line: 1,
                        column: 1,
                        field: None,
                        message: why,
                    }),
                }
                module.metadata = Some(metadata);
            }
            // The first directory on the module path wins, as in Puppet.
            modules.entry(name).or_insert(module);
        }
    }
    let keys = dirs
        .iter()
        .map(|(k, d)| format!("`{k}` ({})", d.display()))
        .collect::<Vec<_>>()
        .join(" or ");
    for (name, file, doc) in &documents {
        let Some(Node {
            value: Value::Seq(deps),
            ..
        }) = doc.get("dependencies")
        else {
            continue;
        };
        for (i, dep) in deps.iter().enumerate() {
            let at = |message: String| Diagnostic {
                file: file.clone(),
                line: dep.line,
                column: dep.column,
                field: Some(format!("dependencies[{i}]")),
                message,
            };
            let Some(full) = dep.get("name").and_then(Node::as_str) else {
                errors.push(at("a dependency needs `name`".into()));
                continue;
            };
            let wanted = full.rsplit(['/', '-']).next().unwrap_or(full);
            let requirement = dep.get("version_requirement").and_then(Node::as_str);
            let vendor = format!(
                "vendor it (`puppet module install {} --target-dir DIR` where the network is reachable, then add it to the project)",
                full.replace('/', "-")
            );
            let Some(found) = modules.get(wanted) else {
                errors.push(at(format!(
                    "module `{name}` depends on `{full}`{}, which is not in {keys}; {vendor}",
                    requirement.map(|r| format!(" ({r})")).unwrap_or_default()
                )));
                continue;
            };
            let Some(requirement) = requirement else {
                continue;
            };
            let Some(accepts) = parse_requirement(requirement) else {
                errors.push(at(format!(
                    "envctl cannot read the version requirement `{requirement}` of `{full}`; write it as Puppet does, e.g. \">= 4.13.1 < 10.0.0\" or \"1.x\""
                )));
                continue;
            };
            match &found.version {
                Some(v) if accepts.iter().any(|r| r.matches(v)) => {}
                Some(v) => errors.push(at(format!(
                    "module `{name}` needs `{full}` {requirement}, and `{wanted}` in `{}` is {v}; {vendor}",
                    found.key
                ))),
                None => errors.push(at(format!(
                    "module `{name}` needs `{full}` {requirement}, and `{wanted}` in `{}` has no version in {}",
                    found.key,
                    found.metadata.as_ref().map_or_else(
                        || "a metadata.json (it has none)".to_string(),
                        |m| m.display().to_string()
                    )
                ))),
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A Puppet version requirement (`>= 1.2.0 < 2.0.0`, `1.x`, `1.2.3`, `>=1.0 || 3.x`) as
/// the requirements it accepts any of.
fn parse_requirement(text: &str) -> Option<Vec<semver::VersionReq>> {
    text.split("||")
        .map(|alternative| {
            let mut comparators = Vec::new();
            let mut pending_op = String::new();
            for token in alternative.split_whitespace() {
                if token.chars().all(|c| "<>=~^".contains(c)) {
                    pending_op.push_str(token);
                    continue;
                }
                let op = std::mem::take(&mut pending_op);
                if op.is_empty() && token.starts_with(['<', '>', '=', '~', '^']) {
                    comparators.push(token.to_string());
                    continue;
                }
                let wildcard = token.contains(['x', 'X', '*']);
                // A bare version is that exact version in Puppet (semver's would be `^`).
                let op = if op.is_empty() && !wildcard {
                    "=".to_string()
                } else {
                    op
                };
                comparators.push(format!("{op}{token}"));
            }
            if comparators.is_empty() || !pending_op.is_empty() {
                return None;
            }
            semver::VersionReq::parse(&comparators.join(", ")).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(dir: &Path, path: &str, metadata: &str) {
        let p = dir.join(path);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("metadata.json"), metadata).unwrap();
    }

    #[test]
    fn puppet_requirements_read_as_puppet_means_them() {
        let accepts = |req: &str, v: &str| {
            parse_requirement(req)
                .unwrap()
                .iter()
                .any(|r| r.matches(&semver::Version::parse(v).unwrap()))
        };
        assert!(accepts(">= 4.13.1 < 10.0.0", "9.4.1"));
        assert!(!accepts(">= 4.13.1 < 10.0.0", "10.0.0"));
        assert!(!accepts(">= 4.13.1 < 10.0.0", "4.13.0"));
        assert!(accepts("1.x", "1.9.0"));
        assert!(!accepts("1.x", "2.0.0"));
        assert!(accepts("1.2.3", "1.2.3"));
        assert!(!accepts("1.2.3", "1.2.4"));
        assert!(accepts(">=1.0.0 <2.0.0 || 3.x", "3.1.0"));
        assert!(parse_requirement(">=").is_none());
    }

    #[test]
    fn dependencies_are_met_from_modules_and_vendor_or_refused_at_their_line() {
        let dir = tempfile::tempdir().unwrap();
        module(
            dir.path(),
            "site/app",
            "{\n  \"name\": \"acme-app\",\n  \"version\": \"1.0.0\",\n  \"dependencies\": [\n    { \"name\": \"puppetlabs/stdlib\", \"version_requirement\": \">= 4.13.1 < 10.0.0\" },\n    { \"name\": \"acme/base\" }\n  ]\n}\n",
        );
        module(
            dir.path(),
            "vendor/stdlib",
            "{ \"name\": \"puppetlabs-stdlib\", \"version\": \"9.4.1\", \"dependencies\": [] }",
        );
        let root = Root::new(dir.path());
        let dirs = [
            ("modules", Path::new("site")),
            ("vendor", Path::new("vendor")),
        ];
        let errors = check(&root, &dirs).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].file, Path::new("site/app/metadata.json"));
        assert_eq!(errors[0].line, 6);
        assert!(
            errors[0].message.contains("`acme/base`") && errors[0].message.contains("vendor"),
            "{}",
            errors[0].message
        );
        module(
            dir.path(),
            "vendor/base",
            "{ \"name\": \"acme-base\", \"version\": \"0.1.0\" }",
        );
        check(&root, &dirs).unwrap();
        // Too old a version is refused with the version found.
        module(
            dir.path(),
            "vendor/stdlib",
            "{ \"name\": \"puppetlabs-stdlib\", \"version\": \"4.0.0\" }",
        );
        let errors = check(&root, &dirs).unwrap_err();
        assert_eq!(errors[0].line, 5);
        assert!(errors[0].message.contains("is 4.0.0"), "{errors:?}");
    }
}
