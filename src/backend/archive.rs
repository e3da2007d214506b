//! Tar archives for the engine: build contexts, files copied into nodes.

use std::path::Path;

/// Archives a directory's contents (for a build context).
///
/// # Errors
/// I/O errors reading the directory.
pub fn directory(dir: &Path) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.append_dir_all(".", dir)?;
    builder.into_inner()
}

/// Archives `source` (a file or a directory) so that extracting it in a directory
/// creates `name` there, with `mode` applied to files when given.
///
/// # Errors
/// I/O errors reading the source.
pub fn entry(source: &Path, name: &str, mode: Option<u32>) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    if source.is_dir() {
        builder.append_dir_all(name, source)?;
    } else {
        let data = std::fs::read(source)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        let file_mode = mode.unwrap_or_else(|| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(source)
                .map(|m| m.permissions().mode() & 0o7777)
                .unwrap_or(0o644)
        });
        header.set_mode(file_mode);
        header.set_mtime(0);
        header.set_cksum();
        builder.append_data(&mut header, name, data.as_slice())?;
    }
    builder.into_inner()
}

/// Archives one in-memory file.
///
/// # Errors
/// Never in practice (writes to memory).
pub fn bytes(name: &str, data: &[u8], mode: u32) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_cksum();
    builder.append_data(&mut header, name, data)?;
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_the_file_and_keeps_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.conf");
        std::fs::write(&file, "hello").unwrap();
        let tar = entry(&file, "site.conf", Some(0o600)).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let e = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(e.path().unwrap().to_str(), Some("site.conf"));
        assert_eq!(e.header().mode().unwrap(), 0o600);
    }
}
