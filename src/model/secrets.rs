//! Secrets: values an environment needs (passwords, tokens) that must never be shown.
//! `[secrets]` in a definition names each one and where its value comes from:
//!
//! ```toml
//! [secrets]
//! DB_PASSWORD = { env = "CI_DB_PASSWORD" }  # the caller's environment variable
//! API_TOKEN = { file = "secrets/api-token" } # a file in the project (trailing newline dropped)
//! ADMIN_PASSWORD = { value = "change-me" }   # written inline, still never shown
//! ```
//!
//! Every node gets each secret as an environment variable of that name (containers and
//! provisioning steps). Every value is registered with the process-wide redactor, and
//! whatever envctl prints or writes (errors, spec results, reports, logs) goes through
//! [`redact`] first.

use super::source::{Diagnostic, SourceFile};
use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::RwLock;

/// What replaces a secret value in output.
pub const REDACTED: &str = "[redacted]";

/// Values shorter than this are not redacted: replacing every `1` or `a` in the output
/// would make it unreadable and says more about the value than it hides.
const MIN_REDACTED_LEN: usize = 4;

/// Where one secret's value comes from, as written.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawSecret {
    pub env: Option<Spanned<String>>,
    pub file: Option<Spanned<String>>,
    pub value: Option<Spanned<String>>,
}

/// Reads the values of `[secrets]`; problems are diagnostics naming the secret.
pub fn resolve(
    root: &Path,
    src: &SourceFile,
    raw: BTreeMap<Spanned<String>, Spanned<RawSecret>>,
    lookup_env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<Diagnostic>,
) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for (name, secret) in raw {
        let field = format!("secrets.{}", name.get_ref());
        let valid_name = !name.get_ref().is_empty()
            && !name.get_ref().starts_with(|c: char| c.is_ascii_digit())
            && name
                .get_ref()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            errors.push(src.diagnostic_for(
                name.span(),
                &field,
                format!(
                    "secret name `{}` must be an environment variable name (A-Z, a-z, 0-9, _; not starting with a digit)",
                    name.get_ref()
                ),
            ));
            continue;
        }
        let span = secret.span();
        let secret = secret.into_inner();
        let sources = [&secret.env, &secret.file, &secret.value]
            .iter()
            .filter(|s| s.is_some())
            .count();
        if sources != 1 {
            errors.push(src.diagnostic_for(
                span,
                &field,
                "a secret needs exactly one of `env`, `file` or `value`",
            ));
            continue;
        }
        let value = if let Some(var) = secret.env {
            match lookup_env(var.get_ref()) {
                Some(v) => v,
                None => {
                    errors.push(src.diagnostic_for(
                        var.span(),
                        format!("{field}.env"),
                        format!(
                            "environment variable `{}` is not set; export it before running envctl",
                            var.get_ref()
                        ),
                    ));
                    continue;
                }
            }
        } else if let Some(file) = secret.file {
            let rel = Path::new(file.get_ref());
            let outside = rel.is_absolute()
                || rel
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir));
            let read = if outside {
                Err("it is outside the project".to_string())
            } else {
                std::fs::read_to_string(root.join(rel)).map_err(|e| e.to_string())
            };
            match read {
                Ok(text) => text.trim_end_matches(['\n', '\r']).to_string(),
                Err(why) => {
                    errors.push(src.diagnostic_for(
                        file.span(),
                        format!("{field}.file"),
                        format!("cannot read secret file `{}`: {why}", file.get_ref()),
                    ));
                    continue;
                }
            }
        } else {
            secret.value.expect("one source").into_inner()
        };
        if value.contains('\0') {
            errors.push(src.diagnostic_for(span, &field, "the secret's value contains a NUL byte"));
            continue;
        }
        values.insert(name.into_inner(), value);
    }
    register(values.values().cloned());
    values
}

static REGISTERED: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Adds values to the process-wide redactor.
pub fn register(values: impl IntoIterator<Item = String>) {
    let mut list = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    for v in values {
        if v.len() >= MIN_REDACTED_LEN && !list.contains(&v) {
            list.push(v);
        }
    }
    // Longest first, so a secret that contains another is replaced whole.
    list.sort_by_key(|v| std::cmp::Reverse(v.len()));
}

/// `text` with every registered secret value replaced by [`REDACTED`].
pub fn redact(text: &str) -> String {
    let list = REGISTERED.read().unwrap_or_else(|e| e.into_inner());
    redact_with(text, &list)
}

fn redact_with(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), REDACTED);
        }
    }
    out
}

/// `KEY=value` entries without those whose key is a secret.
pub fn without(env: Vec<String>, secrets: &BTreeMap<String, String>) -> Vec<String> {
    env.into_iter()
        .filter(|entry| {
            let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
            !secrets.contains_key(key)
        })
        .collect()
}

/// Writes a file that may have held secrets: redacted, and readable by its owner only
/// (0600), whether it is new or already there.
///
/// # Errors
/// I/O errors.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(redact(text).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> SourceFile {
        SourceFile {
            display: "environments/e.toml".into(),
            text: text.into(),
        }
    }

    fn parse(text: &str) -> BTreeMap<Spanned<String>, Spanned<RawSecret>> {
        #[derive(Deserialize)]
        struct File {
            secrets: BTreeMap<Spanned<String>, Spanned<RawSecret>>,
        }
        toml::from_str::<File>(text).unwrap().secrets
    }

    #[test]
    fn values_come_from_env_file_or_inline() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "from-a-file\n").unwrap();
        let text = "[secrets]\nA = { env = \"X_VAR\" }\nB = { file = \"token\" }\nC = { value = \"inline-one\" }\n";
        let mut errors = Vec::new();
        let env = |k: &str| (k == "X_VAR").then(|| "from-env".to_string());
        let values = resolve(dir.path(), &src(text), parse(text), &env, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(values["A"], "from-env");
        assert_eq!(values["B"], "from-a-file");
        assert_eq!(values["C"], "inline-one");
    }

    /// The errors of resolving `text` in `root` with no variable set.
    fn errors_of(root: &Path, text: &str) -> Vec<Diagnostic> {
        let mut errors = Vec::new();
        resolve(root, &src(text), parse(text), &|_| None, &mut errors);
        errors
    }

    #[test]
    fn a_missing_variable_names_line_and_field() {
        let text = "[secrets]\nDB = { env = \"NOT_SET_ANYWHERE\" }\n";
        let errors = errors_of(Path::new("/"), text);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 2);
        assert_eq!(errors[0].field.as_deref(), Some("secrets.DB.env"));
    }

    #[test]
    fn a_secret_file_outside_the_project_is_refused() {
        let text = "[secrets]\nK = { file = \"../../etc/shadow\" }\n";
        let errors = errors_of(Path::new("/tmp"), text);
        assert!(
            errors[0].message.contains("outside the project"),
            "{errors:?}"
        );
    }

    #[test]
    fn two_sources_or_none_are_refused() {
        let text = "[secrets]\nK = { env = \"A\", value = \"b\" }\nL = {}\n";
        let errors = errors_of(Path::new("/"), text);
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn redaction_replaces_longest_values_first() {
        let secrets = vec!["hunter2-extended".to_string(), "hunter2".to_string()];
        assert_eq!(
            redact_with("a hunter2-extended b hunter2 c", &secrets),
            "a [redacted] b [redacted] c"
        );
    }

    #[test]
    fn private_files_are_0600_and_redacted() {
        use std::os::unix::fs::PermissionsExt;
        register(["private-file-secret".to_string()]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "old").unwrap();
        write_private(&path, "value=private-file-secret\n").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "value=[redacted]\n"
        );
    }
}
