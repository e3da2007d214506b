//! Instance locks: commands that change an instance (`up`, `test`, `down`, `provision`,
//! `promote`, `rollback`) hold an
//! exclusive lock on `.envctl/locks/ENV.INSTANCE.lock` in the project, so two of them
//! never work on one instance at once. The lock is an OS file lock, released by the
//! kernel when the process ends, even on SIGKILL: a lock file is never stale.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("instance `{instance}` of environment `{environment}` is in use by another envctl ({holder}); wait for it to finish, or use another --instance")]
    Busy {
        environment: String,
        instance: String,
        holder: String,
    },
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// An exclusive lock on one instance, held until dropped (or the process ends).
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    pub path: PathBuf,
}

/// Where the lock of `instance` of `environment` lives under the project `root`.
pub fn lock_path(root: &Path, environment: &str, instance: &str) -> PathBuf {
    root.join(".envctl")
        .join("locks")
        .join(format!("{environment}.{instance}.lock"))
}

/// Takes the lock without waiting; `command` is recorded for the message another
/// envctl shows while this one holds it.
///
/// # Errors
/// [`LockError::Busy`] naming the holder (pid and command) when another process has it.
pub fn acquire(
    root: &Path,
    environment: &str,
    instance: &str,
    command: &str,
) -> Result<InstanceLock, LockError> {
    let path = lock_path(root, environment, instance);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(LockError::Busy {
                environment: environment.to_string(),
                instance: instance.to_string(),
                holder: if holder.is_empty() {
                    "holder unknown".to_string()
                } else {
                    holder.to_string()
                },
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    // Only the holder writes, so readers see either the old or the new holder.
    let record = format!(
        "pid {}, `envctl {command}`, since {}",
        std::process::id(),
        crate::backend::labels::now_secs()
    );
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    file.write_all(record.as_bytes()).map_err(io)?;
    Ok(InstanceLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_instance_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = acquire(dir.path(), "web", "ci-1", "test web").unwrap();
        let err = acquire(dir.path(), "web", "ci-1", "up web").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("instance `ci-1` of environment `web` is in use"),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("`envctl test web`"), "{msg}");
        drop(held);
        acquire(dir.path(), "web", "ci-1", "up web").expect("free after release");
    }

    #[test]
    fn other_instances_are_not_blocked() {
        let dir = tempfile::tempdir().unwrap();
        let _a = acquire(dir.path(), "web", "a", "test").unwrap();
        let _b = acquire(dir.path(), "web", "b", "test").unwrap();
        let _c = acquire(dir.path(), "db", "a", "test").unwrap();
    }
}
