//! Docker contexts, as the docker CLI keeps them: `DOCKER_CONTEXT`, else the
//! `currentContext` of `config.json` in `DOCKER_CONFIG` (else `~/.docker`), names a
//! context whose `contexts/meta/SHA256(NAME)/meta.json` holds the engine's endpoint and
//! whose `contexts/tls/SHA256(NAME)/docker/` its client certificates. envctl resolves the
//! context once, before anything connects, into the `DOCKER_HOST` (and TLS variables)
//! everything else reads. `DOCKER_HOST` wins over a context, as with the docker CLI.

use std::path::{Path, PathBuf};

/// The engine a context names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub context: String,
    pub host: String,
    /// Where its client certificates are, when it has them.
    pub tls: Option<PathBuf>,
}

/// The context in effect, `None` when `DOCKER_HOST` is set or the context is `default`.
/// `var` reads the environment.
///
/// # Errors
/// A named context that does not exist or cannot be read, with what to do.
pub fn resolve(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<Resolved>, String> {
    let set = |k: &str| var(k).filter(|v| !v.is_empty());
    if set("DOCKER_HOST").is_some() {
        return Ok(None);
    }
    let config = set("DOCKER_CONFIG").map_or_else(
        || PathBuf::from(set("HOME").unwrap_or_default()).join(".docker"),
        PathBuf::from,
    );
    let (name, from) = match set("DOCKER_CONTEXT") {
        Some(name) => (name, "DOCKER_CONTEXT".to_string()),
        None => match current_context(&config.join("config.json"))? {
            Some(name) => (name, config.join("config.json").display().to_string()),
            None => return Ok(None),
        },
    };
    if name == "default" {
        return Ok(None);
    }
    let key = digest(&name);
    let meta = config.join("contexts/meta").join(&key).join("meta.json");
    let text = std::fs::read_to_string(&meta).map_err(|e| {
        format!(
            "docker context `{name}` (named by {from}) cannot be read at {}: {e}; create it (`docker context create {name} --docker host=...`), choose another (`docker context use`), or set DOCKER_HOST",
            meta.display()
        )
    })?;
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("docker context `{name}`: {}: {e}", meta.display()))?;
    let host = doc["Endpoints"]["docker"]["Host"]
        .as_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            format!(
                "docker context `{name}` names no Docker endpoint ({} has no Endpoints.docker.Host)",
                meta.display()
            )
        })?
        .to_string();
    let tls = config.join("contexts/tls").join(&key).join("docker");
    let tls = tls.join("ca.pem").exists().then_some(tls);
    Ok(Some(Resolved {
        context: name,
        host,
        tls,
    }))
}

/// The `currentContext` of the docker CLI's `config.json`, `None` without one.
fn current_context(path: &Path) -> Result<Option<String>, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(doc["currentContext"]
        .as_str()
        .filter(|c| !c.is_empty())
        .map(str::to_string))
}

fn digest(name: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Puts the context in effect into this process's environment (`DOCKER_HOST`, and
/// `DOCKER_TLS_VERIFY` with `DOCKER_CERT_PATH` when it has certificates). Called once at
/// start, before any thread.
///
/// # Errors
/// As [`resolve`].
pub fn apply() -> Result<(), String> {
    let Some(resolved) = resolve(&|k| std::env::var(k).ok())? else {
        return Ok(());
    };
    std::env::set_var("DOCKER_HOST", &resolved.host);
    if let Some(dir) = &resolved.tls {
        std::env::set_var("DOCKER_TLS_VERIFY", "1");
        std::env::set_var("DOCKER_CERT_PATH", dir);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn context(config: &Path, name: &str, host: &str, tls: bool) {
        let key = digest(name);
        let meta = config.join("contexts/meta").join(&key);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            format!(r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#),
        )
        .unwrap();
        if tls {
            let dir = config.join("contexts/tls").join(&key).join("docker");
            std::fs::create_dir_all(&dir).unwrap();
            for f in ["ca.pem", "cert.pem", "key.pem"] {
                std::fs::write(dir.join(f), "x").unwrap();
            }
        }
    }

    fn with(vars: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_named_or_current_context_gives_the_endpoint_and_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join(".docker");
        context(&config, "remote", "tcp://10.0.0.2:2375", false);
        context(&config, "secure", "tcp://10.0.0.3:2376", true);
        std::fs::write(config.join("config.json"), r#"{"currentContext":"secure"}"#).unwrap();
        let home = dir.path().display().to_string();
        let named = resolve(&with(&[
            ("HOME", home.clone()),
            ("DOCKER_CONTEXT", "remote".into()),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(named.host, "tcp://10.0.0.2:2375");
        assert_eq!(named.tls, None);
        let current = resolve(&with(&[("HOME", home.clone())])).unwrap().unwrap();
        assert_eq!(current.context, "secure");
        assert_eq!(current.host, "tcp://10.0.0.3:2376");
        assert!(current.tls.unwrap().ends_with("docker"));
        let elsewhere = resolve(&with(&[("DOCKER_CONFIG", config.display().to_string())]))
            .unwrap()
            .unwrap();
        assert_eq!(elsewhere.context, "secure");
    }

    #[test]
    fn docker_host_or_the_default_context_means_no_context() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().display().to_string();
        assert_eq!(resolve(&with(&[("HOME", home.clone())])).unwrap(), None);
        let default = with(&[("HOME", home.clone()), ("DOCKER_CONTEXT", "default".into())]);
        assert_eq!(resolve(&default).unwrap(), None);
        let both = with(&[
            ("HOME", home),
            ("DOCKER_CONTEXT", "remote".into()),
            ("DOCKER_HOST", "unix:///x.sock".into()),
        ]);
        assert_eq!(resolve(&both).unwrap(), None);
    }

    #[test]
    fn a_context_that_does_not_exist_says_how_to_make_one() {
        let dir = tempfile::tempdir().unwrap();
        let e = resolve(&with(&[
            ("HOME", dir.path().display().to_string()),
            ("DOCKER_CONTEXT", "nowhere".into()),
        ]))
        .unwrap_err();
        assert!(
            e.contains("`nowhere`") && e.contains("DOCKER_CONTEXT"),
            "{e}"
        );
        assert!(e.contains("docker context create"), "{e}");
    }
}
