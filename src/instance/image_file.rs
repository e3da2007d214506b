//! Portable caches (`envctl image save` / `envctl image load`): exactly the images an
//! environment needs (each node's base or built image, the systemd image derived from
//! it, its provisioned image) in one file, with the records that say a provisioned image
//! already passed its idempotence check, so that a fresh engine that loads the file runs
//! warm.
//!
//! The file is a `docker save` archive whose first member, `envctl-cache.json`, says what
//! it holds (and carries the records); `docker load -i FILE` ignores that member.

use super::{up, Instance};
use crate::backend::docker::{image, systemd, Docker};
use crate::backend::EngineError;
use crate::model::{ImageSource, Init, Node};
use std::io::{Read, Write};
use std::path::Path;

/// Version of the file's layout; `load` refuses layouts it does not know.
pub const FORMAT: u32 = 1;
/// The member that describes the file.
const MANIFEST: &str = "envctl-cache.json";
/// Records kept about a provisioned image that travel with it (`KEY.SUFFIX` under
/// `.envctl/logs/cache`).
const RECORD_SUFFIXES: &[&str] = &["idempotent", "provision.log"];

/// What a saved file holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub environment: String,
    /// `envctl cache key` of the environment when it was saved.
    pub key: String,
    pub images: Vec<SavedImage>,
    pub records: Vec<Record>,
}

/// One image in the file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedImage {
    pub reference: String,
    pub id: String,
    /// `base`, `build`, `systemd` or `provisioned`.
    pub role: String,
}

/// One record about a provisioned image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// `KEY.SUFFIX`.
    pub name: String,
    pub text: String,
}

/// Why saving or loading failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageFileError {
    /// The file is missing or not one `image save` wrote (invalid input).
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Up(#[from] up::UpError),
}

/// The images `inst`'s environment needs, in the order they build on each other.
///
/// # Errors
/// [`EngineError`] when one is not on the engine (with what to run first).
pub async fn needed(inst: &Instance) -> Result<Vec<SavedImage>, ImageFileError> {
    let mut images: Vec<SavedImage> = Vec::new();
    let add = |images: &mut Vec<SavedImage>, reference: String, id: String, role: &str| {
        if !images.iter().any(|i| i.reference == reference) {
            images.push(SavedImage {
                reference,
                id,
                role: role.to_string(),
            });
        }
    };
    let missing = |node: &Node, what: &str| {
        EngineError::Other(format!(
            "node `{}`: {what} is not on the engine; run `{}` first",
            node.name,
            crate::hint::command(&format!("provision {}", inst.env.name))
        ))
    };
    for node in inst.env.nodes.values().filter(|n| n.replicas > 0) {
        let (reference, role) = match &node.image {
            ImageSource::Image(reference) => (reference.clone(), "base"),
            ImageSource::Build(dir) => (
                image::build_tag(&inst.root.join(dir)).map_err(|e| {
                    EngineError::Other(format!("node `{}`: build context: {e}", node.name))
                })?,
                "build",
            ),
        };
        let Some(base) = inst.backend.image(&reference).await? else {
            return Err(missing(node, &format!("image {reference}")).into());
        };
        add(&mut images, reference, base.id.clone(), role);
        if node.init == Init::Systemd {
            let tag = systemd::derived_tag(&base.id);
            let Some(derived) = inst.backend.image(&tag).await? else {
                return Err(missing(node, &format!("its systemd image {tag}")).into());
            };
            add(&mut images, tag, derived.id, "systemd");
        }
        if node.provision.is_empty() {
            continue;
        }
        // The systemd image is present, so this derives nothing: it computes the key.
        let (_, key) = up::node_key(inst, node, base, &|_| {}).await?;
        let tag = up::cache_tag(&key);
        let Some(provisioned) = inst.backend.image(&tag).await? else {
            return Err(missing(node, &format!("its provisioned image {tag}")).into());
        };
        add(&mut images, tag, provisioned.id, "provisioned");
    }
    Ok(images)
}

/// Saves the images `inst`'s environment needs, and their records, to `file` (written
/// whole or not at all, readable by its owner only: provisioned images hold what
/// provisioning wrote).
///
/// # Errors
/// [`ImageFileError`]: an image missing, the engine failing, the file not writable.
pub async fn save(inst: &Instance, key: &str, file: &Path) -> Result<Manifest, ImageFileError> {
    let images = needed(inst).await?;
    let mut records = Vec::new();
    for i in images.iter().filter(|i| i.role == "provisioned") {
        for suffix in RECORD_SUFFIXES {
            let path = up::cache_record(inst, &i.reference, suffix);
            if let Ok(text) = std::fs::read_to_string(&path) {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                records.push(Record {
                    name: name.into_owned(),
                    text: crate::model::secrets::redact(&text),
                });
            }
        }
    }
    let manifest = Manifest {
        format: FORMAT,
        environment: inst.env.name.clone(),
        key: key.to_string(),
        images,
        records,
    };
    let io = |e: std::io::Error| EngineError::Other(format!("{}: {e}", file.display()));
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // Created 0600; removed when anything below fails.
    let partial = tempfile::Builder::new()
        .prefix(".envctl-save-")
        .tempfile_in(dir)
        .map_err(io)?;
    let json = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other);
    let mut head = Vec::new();
    json.and_then(|json| manifest_member(&mut head, &json))
        .map_err(io)?;
    let mut out = tokio::fs::File::from_std(partial.reopen().map_err(io)?);
    tokio::io::AsyncWriteExt::write_all(&mut out, &head)
        .await
        .map_err(io)?;
    let references: Vec<String> = manifest
        .images
        .iter()
        .map(|i| i.reference.clone())
        .collect();
    inst.backend.export_images(&references, &mut out).await?;
    out.sync_all().await.map_err(io)?;
    drop(out);
    partial.persist(file).map_err(|e| io(e.error))?;
    Ok(manifest)
}

/// The manifest as a tar member (header and padded data, no end-of-archive marker: the
/// `docker save` archive follows).
fn manifest_member(out: &mut Vec<u8>, json: &[u8]) -> std::io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_path(MANIFEST)?;
    header.set_size(json.len() as u64);
    header.set_mode(0o600);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    out.write_all(header.as_bytes())?;
    out.write_all(json)?;
    out.resize(out.len().next_multiple_of(512), 0);
    Ok(())
}

/// Loads a file `save` wrote: its images onto `docker`, its records into the project
/// at `root`. Checks the whole file before the engine sees it, and that every image it
/// lists arrived with the id it was saved with; on failure, the images it added are
/// removed again.
///
/// # Errors
/// [`ImageFileError::Invalid`] for a missing file or one that is not such a file
/// (nothing is loaded); engine failures otherwise.
pub async fn load(docker: &Docker, root: &Path, file: &Path) -> Result<Manifest, ImageFileError> {
    let invalid = |reason: String| ImageFileError::Invalid {
        path: file.display().to_string(),
        reason,
    };
    let manifest = {
        let file = file.to_path_buf();
        tokio::task::spawn_blocking(move || scan(&file))
            .await
            .map_err(|e| EngineError::Other(e.to_string()))?
            .map_err(invalid)?
    };
    let mut before = Vec::new();
    for i in &manifest.images {
        before.push(docker.image(&i.reference).await?.map(|d| d.id));
    }
    let result = async {
        let opened = tokio::fs::File::open(file)
            .await
            .map_err(|e| invalid(e.to_string()))?;
        docker.load_images(opened).await?;
        for image in &manifest.images {
            match docker.image(&image.reference).await? {
                Some(found) if found.id == image.id => {}
                Some(found) => {
                    return Err(invalid(format!(
                        "{} loaded as {}, not {} as saved",
                        image.reference, found.id, image.id
                    )))
                }
                None => {
                    return Err(invalid(format!(
                        "{} is listed but was not in the file",
                        image.reference
                    )))
                }
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        // Provisioned images first: they are children of the others.
        for (image, was) in manifest.images.iter().zip(&before).rev() {
            if was.is_none() {
                let _ = docker.remove_image(&image.reference).await;
            }
        }
        return Err(e);
    }
    let cache = root.join(".envctl").join("logs").join("cache");
    let write = |e: std::io::Error| EngineError::Other(format!("{}: {e}", cache.display()));
    crate::model::secrets::create_private_dir(&cache).map_err(write)?;
    for record in &manifest.records {
        crate::model::secrets::write_private(&cache.join(&record.name), &record.text)
            .map_err(write)?;
    }
    Ok(manifest)
}

/// Reads the whole file: its manifest (checked), then every member of the `docker save`
/// archive, so that a truncated or damaged file is refused before anything is loaded.
fn scan(file: &Path) -> Result<Manifest, String> {
    let not_ours = "not a file written by `envctl image save`";
    let f = std::fs::File::open(file).map_err(|e| format!("cannot read it: {e}"))?;
    let mut tar = tar::Archive::new(std::io::BufReader::new(f));
    let mut entries = tar.entries().map_err(|e| format!("{not_ours}: {e}"))?;
    let mut first = entries
        .next()
        .ok_or_else(|| format!("{not_ours}: it is empty"))?
        .map_err(|e| format!("{not_ours}: {e}"))?;
    if first.path().ok().as_deref() != Some(Path::new(MANIFEST)) {
        return Err(format!("{not_ours}: its first member is not {MANIFEST}"));
    }
    let mut text = String::new();
    first
        .read_to_string(&mut text)
        .map_err(|e| format!("{MANIFEST}: {e}"))?;
    drop(first);
    let version: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{MANIFEST}: {e}"))?;
    if version.get("format").and_then(serde_json::Value::as_u64) != Some(u64::from(FORMAT)) {
        return Err(format!(
            "{MANIFEST}: format {} is not {FORMAT}; save it again with this envctl",
            version.get("format").unwrap_or(&serde_json::Value::Null)
        ));
    }
    let manifest: Manifest =
        serde_json::from_value(version).map_err(|e| format!("{MANIFEST}: {e}"))?;
    if let Some(bad) = manifest
        .records
        .iter()
        .find(|r| !valid_record_name(&r.name))
    {
        return Err(format!("{MANIFEST}: unexpected record `{}`", bad.name));
    }
    let mut has_images = false;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("damaged: {e}"))?;
        if entry.path().ok().as_deref() == Some(Path::new("manifest.json")) {
            has_images = true;
        }
        let size = entry.size();
        let read =
            std::io::copy(&mut entry, &mut std::io::sink()).map_err(|e| format!("damaged: {e}"))?;
        if read != size {
            return Err("truncated: a member ends early".to_string());
        }
    }
    if !has_images {
        return Err(format!("{not_ours}: it holds no images (no manifest.json)"));
    }
    Ok(manifest)
}

/// `KEY.SUFFIX` with a hex key and a known suffix: nothing that could name another path.
fn valid_record_name(name: &str) -> bool {
    name.split_once('.').is_some_and(|(key, suffix)| {
        !key.is_empty()
            && key.chars().all(|c| c.is_ascii_hexdigit())
            && RECORD_SUFFIXES.contains(&suffix)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_names_cannot_escape_the_cache_directory() {
        assert!(valid_record_name("0123abcd.idempotent"));
        assert!(valid_record_name("0123abcd.provision.log"));
        assert!(!valid_record_name("../../etc/passwd"));
        assert!(!valid_record_name("abcd.idempotent/../x"));
        assert!(!valid_record_name("abcd.other"));
        assert!(!valid_record_name(".idempotent"));
    }

    fn manifest(records: &[&str], format: u32) -> Vec<u8> {
        let mut m = serde_json::to_value(Manifest {
            format: FORMAT,
            environment: "e".into(),
            key: "k".into(),
            images: vec![],
            records: records
                .iter()
                .map(|r| Record {
                    name: r.to_string(),
                    text: "x".into(),
                })
                .collect(),
        })
        .unwrap();
        m["format"] = format.into();
        serde_json::to_vec(&m).unwrap()
    }

    /// A file as `save` writes it: the manifest member, then a tar with `members`.
    fn file(dir: &Path, manifest: &[u8], members: &[(&str, &[u8])]) -> std::path::PathBuf {
        let mut bytes = Vec::new();
        manifest_member(&mut bytes, manifest).unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, *data).unwrap();
        }
        bytes.extend(tar.into_inner().unwrap());
        let path = dir.join("saved.tar");
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn reads_what_save_writes() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest(&["ab.idempotent"], FORMAT);
        let path = file(dir.path(), &m, &[("manifest.json", b"[]")]);
        let got = scan(&path).unwrap();
        assert_eq!(got.environment, "e");
        assert_eq!(got.records[0].name, "ab.idempotent");
    }

    #[test]
    fn refuses_files_that_are_not_saved_caches() {
        let dir = tempfile::tempdir().unwrap();
        let ok = manifest(&[], FORMAT);
        let images = [("manifest.json", b"[]" as &[u8])];
        let stray = manifest(&["../x.idempotent"], FORMAT);
        let path = file(dir.path(), &stray, &images);
        assert!(scan(&path).unwrap_err().contains("unexpected record"));
        let path = file(dir.path(), &manifest(&[], 2), &images);
        assert!(scan(&path).unwrap_err().contains("format 2"));
        let path = file(dir.path(), &ok, &[]);
        assert!(scan(&path).unwrap_err().contains("no images"));
        let path = file(dir.path(), b"{not json", &images);
        assert!(scan(&path).unwrap_err().contains(MANIFEST));
        // Truncated in the middle of the images.
        let path = file(dir.path(), &ok, &[("manifest.json", &[b'x'; 4000])]);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3000]).unwrap();
        assert!(scan(&path).unwrap_err().contains("truncated"));
        std::fs::write(&path, "not a tar at all").unwrap();
        assert!(scan(&path).is_err());
        assert!(scan(&dir.path().join("absent"))
            .unwrap_err()
            .contains("cannot read"));
        // A plain `docker save` archive, without the manifest member.
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(2);
        header.set_cksum();
        tar.append_data(&mut header, "manifest.json", &b"[]"[..])
            .unwrap();
        std::fs::write(&path, tar.into_inner().unwrap()).unwrap();
        assert!(scan(&path).unwrap_err().contains("first member"));
    }
}
