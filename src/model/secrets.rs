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
            let read = super::confine::Root::new(root).read_text(file.get_ref());
            match read {
                Ok(text) => text.trim_end_matches(['\n', '\r']).to_string(),
                Err(why) => {
                    errors.push(src.diagnostic_for(
                        file.span(),
                        format!("{field}.file"),
                        format!("secret file: {why}"),
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

pub use super::redact::{
    create_private_dir, is_secret, redact, redact_bytes, register, write_private, Stream, REDACTED,
};

/// A digest of a secret value for cache keys: HMAC-SHA256 under this machine's key, so an
/// image label or tag says nothing about the value (no guessing it from its hash), while
/// the same value still gives the same key on this machine.
pub fn fingerprint(value: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(machine_key()).expect("HMAC takes any key length");
    mac.update(value.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where this machine's key lives: `$XDG_STATE_HOME/envctl/machine.key`, else
/// `~/.local/state/envctl/machine.key`.
fn machine_key_path() -> Option<std::path::PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| Path::new(&h).join(".local/state"))
        })?;
    Some(state.join("envctl/machine.key"))
}

/// The variable that gives the key instead of this machine's file: CI runners that share
/// a cache set it (from a CI secret) so that nodes with secrets get the same provisioning
/// keys, and the environment the same `envctl cache key`, on every runner.
pub const MACHINE_KEY_VAR: &str = "ENVCTL_MACHINE_KEY";

/// Whether the key comes from [`MACHINE_KEY_VAR`] (the same on every machine that sets it).
pub fn machine_key_is_shared() -> bool {
    std::env::var_os(MACHINE_KEY_VAR).is_some_and(|v| !v.is_empty())
}

/// This machine's key: [`MACHINE_KEY_VAR`] when set, else 32 random bytes made on first
/// use (0600). When that cannot be kept, a key for this process only, so nodes with
/// secrets are provisioned again next time.
fn machine_key() -> &'static [u8] {
    static KEY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        if let Some(shared) = std::env::var_os(MACHINE_KEY_VAR).filter(|v| !v.is_empty()) {
            return shared.into_encoded_bytes();
        }
        let kept = machine_key_path().and_then(|path| load_or_make_key(&path).ok());
        kept.unwrap_or_else(|| {
            eprintln!(
                "warning: cannot keep a machine key under $XDG_STATE_HOME or ~/.local/state; nodes with secrets will not be reused from the cache"
            );
            random_key().unwrap_or_else(|_| {
                // No randomness at all: the time still keeps the key from being guessed
                // from the label alone by someone without access to this machine.
                format!("{:?}{}", std::time::SystemTime::now(), std::process::id()).into_bytes()
            })
        })
    })
}

fn random_key() -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut key = vec![0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    Ok(key)
}

/// Reads the key at `path`, or makes it: written whole to a temporary file, then linked
/// into place, so two processes starting at once agree on one key.
fn load_or_make_key(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(key) = std::fs::read(path) {
        if key.len() == 32 {
            return Ok(key);
        }
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o600))?;
    std::fs::write(tmp.path(), random_key()?)?;
    match std::fs::hard_link(tmp.path(), path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let key = std::fs::read(path)?;
    if key.len() == 32 {
        Ok(key)
    } else {
        Err(std::io::Error::other("the machine key file is damaged"))
    }
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
    fn a_machine_key_is_made_once_private_and_then_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/envctl/machine.key");
        let first = load_or_make_key(&path).unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(load_or_make_key(&path).unwrap(), first);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let other = tempfile::tempdir().unwrap();
        let second = load_or_make_key(&other.path().join("k")).unwrap();
        assert_ne!(first, second, "each machine gets its own key");
    }

    #[test]
    fn fingerprints_are_stable_and_hide_the_value() {
        let a = fingerprint("hunter2");
        assert_eq!(a, fingerprint("hunter2"));
        assert_ne!(a, fingerprint("hunter3"));
        use sha2::Digest;
        let plain: String = sha2::Sha256::digest(b"hunter2")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_ne!(a, plain, "not the unkeyed hash anyone can compute");
    }
}
