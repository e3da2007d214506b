//! What `--release` names: an image, a build context, or variable values. A release is
//! applied to a colour node's definition; variable values only reach the running
//! container, so a release that changes only them reuses the provisioned image.

use crate::model::{ImageSource, Node};
use std::collections::BTreeMap;
use std::path::Path;

/// One release of a promotable service.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Release {
    /// A new image (reference or build context) for the colour node.
    pub image: Option<ImageSource>,
    /// Environment variables set on the colour's container, over the definition's.
    pub vars: BTreeMap<String, String>,
    /// For a symlink release: the directory name under `PATH/releases`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// For a symlink release: what was copied (`dist/v2`, `git 3baeff3 (HEAD) of site`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Release {
    /// Parses `--release` values: `NAME=VALUE` sets a variable; a project directory with
    /// a Dockerfile is a build context; anything else is an image reference.
    ///
    /// # Errors
    /// A message naming the bad value.
    pub fn parse(values: &[String], root: &Path) -> Result<Release, String> {
        let mut release = Release::default();
        for value in values {
            if let Some((name, v)) = value.split_once('=') {
                let ok = !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !name.starts_with(|c: char| c.is_ascii_digit());
                if !ok {
                    return Err(format!(
                        "--release `{value}`: `{name}` is not a variable name (letters, digits and _)"
                    ));
                }
                release.vars.insert(name.to_string(), v.to_string());
                continue;
            }
            if release.image.is_some() {
                return Err(format!(
                    "--release `{value}`: a release names at most one image or build context"
                ));
            }
            if value.trim().is_empty() || value.contains(char::is_whitespace) {
                return Err(format!(
                    "--release `{value}` is neither NAME=VALUE, a build context nor an image reference"
                ));
            }
            release.image = Some(if root.join(value).join("Dockerfile").is_file() {
                ImageSource::Build(value.into())
            } else {
                ImageSource::Image(value.clone())
            });
        }
        if release.image.is_none() && release.vars.is_empty() {
            return Err("--release needs NAME=VALUE, a build context or an image reference".into());
        }
        Ok(release)
    }

    /// A short description for output and history.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        match &self.image {
            Some(ImageSource::Image(i)) => parts.push(format!("image {i}")),
            Some(ImageSource::Build(b)) => parts.push(format!("build {}", b.display())),
            None => {}
        }
        parts.extend(self.vars.iter().map(|(k, v)| format!("{k}={v}")));
        if let Some(v) = &self.version {
            parts.push(v.clone());
        }
        if let Some(s) = &self.source {
            parts.push(format!("from {s}"));
        }
        if parts.is_empty() {
            "as defined".into()
        } else {
            parts.join(" ")
        }
    }

    /// The node to provision (definition with the release's image) and the node to run
    /// (that, plus the release's variables).
    pub fn apply(&self, node: &Node) -> (Node, Node) {
        let mut image_node = node.clone();
        if let Some(image) = &self.image {
            image_node.image = image.clone();
        }
        let mut run_node = image_node.clone();
        run_node
            .env
            .extend(self.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        (image_node, run_node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn variables_and_images_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("images/app")).unwrap();
        std::fs::write(dir.path().join("images/app/Dockerfile"), "FROM x\n").unwrap();
        let r = Release::parse(&strings(&["GREETING=v2", "A=b=c"]), dir.path()).unwrap();
        assert_eq!(r.image, None);
        assert_eq!(r.vars["A"], "b=c");
        assert_eq!(r.label(), "A=b=c GREETING=v2");
        let r = Release::parse(&strings(&["images/app"]), dir.path()).unwrap();
        assert_eq!(r.image, Some(ImageSource::Build("images/app".into())));
        let r = Release::parse(&strings(&["shop:2.1"]), dir.path()).unwrap();
        assert_eq!(r.image, Some(ImageSource::Image("shop:2.1".into())));
    }

    #[test]
    fn bad_releases_are_refused() {
        let root = Path::new("/nonexistent");
        assert!(Release::parse(&[], root).is_err());
        assert!(Release::parse(&strings(&["1X=2"]), root).is_err());
        assert!(Release::parse(&strings(&["a:1", "b:2"]), root).is_err());
    }
}
