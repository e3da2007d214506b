//! Getting a node's base image onto the engine: already present, pulled, bootstrapped
//! (Debian, no registry needed) or built from a project directory with a Dockerfile.

use super::{bootstrap, Docker};
use crate::backend::node::ImageDetails;
use crate::backend::{archive, labels, EngineError};
use crate::model::ImageSource;
use crate::plan::hash::Hasher;
use std::collections::HashMap;
use std::path::Path;

/// Makes sure the image a node starts from exists; returns its details.
///
/// # Errors
/// [`EngineError::ImageMissing`] with what to do, or build/bootstrap failures.
pub async fn ensure(
    docker: &Docker,
    root: &Path,
    source: &ImageSource,
    note: &(dyn Fn(&str) + Sync),
) -> Result<ImageDetails, EngineError> {
    match source {
        ImageSource::Image(reference) => ensure_reference(docker, reference, note).await,
        ImageSource::Build(dir) => build(docker, root, dir, note).await,
    }
}

/// What [`ensure`] would return, without pulling, bootstrapping or building: the image
/// when present, else how it would be made.
///
/// # Errors
/// Engine failures; a build context that cannot be read.
pub async fn find(
    docker: &Docker,
    root: &Path,
    source: &ImageSource,
) -> Result<Result<ImageDetails, String>, EngineError> {
    match source {
        ImageSource::Image(reference) => Ok(match docker.image(reference).await? {
            Some(image) => Ok(image),
            None if bootstrap::suite_for(reference).is_some() => Err(format!(
                "absent: pulled, else bootstrapped with debootstrap (`envctl image bootstrap {reference}`)"
            )),
            None => Err("absent: pulled".to_string()),
        }),
        ImageSource::Build(dir) => {
            let tag = build_tag(&root.join(dir)).map_err(|e| EngineError::Build {
                context: dir.display().to_string(),
                message: e.to_string(),
            })?;
            Ok(docker
                .image(&tag)
                .await?
                .ok_or_else(|| format!("built from {} (as {tag})", dir.display())))
        }
    }
}

/// Makes sure an image reference is present: inspect, else pull, else bootstrap.
///
/// # Errors
/// [`EngineError::ImageMissing`] when nothing worked.
pub async fn ensure_reference(
    docker: &Docker,
    reference: &str,
    note: &(dyn Fn(&str) + Sync),
) -> Result<ImageDetails, EngineError> {
    if let Some(image) = docker.image(reference).await? {
        return Ok(image);
    }
    let pulled = docker.pull(reference).await;
    if pulled.is_ok() {
        if let Some(image) = docker.image(reference).await? {
            return Ok(image);
        }
    }
    let reason = pulled
        .err()
        .map(|e| first_line(&e.to_string()))
        .unwrap_or_else(|| "pull reported success but the image is absent".into());
    if bootstrap::suite_for(reference).is_some() {
        note(&format!(
            "{reference} is not present and cannot be pulled ({reason})"
        ));
        bootstrap::bootstrap(docker, reference, note).await?;
        return docker
            .image(reference)
            .await?
            .ok_or_else(|| EngineError::Bootstrap {
                image: reference.into(),
                message: "image missing after bootstrap".into(),
            });
    }
    Err(EngineError::ImageMissing {
        image: reference.to_string(),
        reason,
        hint: "load it (`docker load -i image.tar`), build it (`build = \"DIR\"` with a Dockerfile), or use a Debian base envctl can build itself (`envctl image bootstrap debian:bookworm`)".into(),
    })
}

async fn build(
    docker: &Docker,
    root: &Path,
    dir: &Path,
    note: &(dyn Fn(&str) + Sync),
) -> Result<ImageDetails, EngineError> {
    let context = root.join(dir);
    let fail = |message: String| EngineError::Build {
        context: dir.display().to_string(),
        message,
    };
    let tag = build_tag(&context).map_err(|e| fail(e.to_string()))?;
    if let Some(image) = docker.image(&tag).await? {
        return Ok(image);
    }
    // The engine would try to pull a missing FROM image; resolve bases ourselves so
    // that Debian bases are bootstrapped on machines without a registry.
    let dockerfile =
        std::fs::read_to_string(context.join("Dockerfile")).map_err(|e| fail(e.to_string()))?;
    for base in from_images(&dockerfile) {
        ensure_reference(docker, &base, note).await?;
    }
    note(&format!("building {}", dir.display()));
    let tar = archive::directory(&context).map_err(|e| fail(e.to_string()))?;
    let labels = HashMap::from([
        (labels::MANAGED.to_string(), "true".to_string()),
        (
            "io.envctl.build-context".to_string(),
            dir.display().to_string(),
        ),
    ]);
    docker
        .build(&dir.display().to_string(), tar, &tag, labels)
        .await?;
    docker
        .image(&tag)
        .await?
        .ok_or_else(|| fail("the build finished but the image is not there".into()))
}

/// The tag of the image built from `context`: the same files, the same tag.
///
/// # Errors
/// I/O errors reading the build context.
pub fn build_tag(context: &Path) -> std::io::Result<String> {
    let key = Hasher::default()
        .field(crate::plan::hash::BUILD_KEY)
        .tree(context)?
        .hex();
    Ok(format!("envctl-build:{}", &key[..24]))
}

/// External images named by `FROM` lines (build stages referring to earlier stages and
/// `scratch` are skipped).
fn from_images(dockerfile: &str) -> Vec<String> {
    let mut stages = Vec::new();
    let mut images = Vec::new();
    for line in dockerfile.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("FROM"))
        {
            let args: Vec<&str> = words[1..]
                .iter()
                .copied()
                .filter(|w| !w.starts_with("--"))
                .collect();
            if let Some(image) = args.first() {
                let image = image.to_string();
                if image != "scratch" && !stages.contains(&image) && !image.contains('$') {
                    images.push(image);
                }
            }
            if let (Some(as_kw), Some(name)) = (args.get(1), args.get(2)) {
                if as_kw.eq_ignore_ascii_case("AS") {
                    stages.push(name.to_string());
                }
            }
        }
    }
    images
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_external_from_images() {
        let df =
            "FROM debian:bookworm AS base\nRUN x\nFROM base\nFROM --platform=linux/amd64 scratch\n";
        assert_eq!(from_images(df), vec!["debian:bookworm"]);
    }
}
