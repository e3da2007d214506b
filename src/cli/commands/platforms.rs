//! `envctl test ENV --platform IMAGE --platform IMAGE...`: one environment tested on
//! several base images in one command, like a Molecule `platforms:` list.
//!
//! Each platform is its own `envctl test` run (a child process with the same arguments),
//! on its own instance `INSTANCE-SLUG` (`default-debian-trixie`), so platforms run side
//! by side and one platform's interrupt, fault or cleanup never reaches another's. In a
//! platform run, every node whose image is a Debian base envctl can bootstrap runs on
//! the platform's image instead; reports go to `FILE` with the platform before the
//! extension (`junit.debian-trixie.xml`) and name the platform of every result.

use super::super::args::TestArgs;
use super::super::exit::{Failure, INTERRUPTED, SUCCESS};
use super::super::{interrupt, Context};
use crate::model::{Environment, ImageSource};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

/// Set in a platform run's environment to the platform it runs on.
pub const RUN_VAR: &str = "ENVCTL_PLATFORM_RUN";

/// The platform this process runs on, when it is one run of a matrix.
pub fn current() -> Option<String> {
    std::env::var(RUN_VAR).ok().filter(|p| !p.is_empty())
}

/// `debian:trixie` as a name part: `debian-trixie`.
pub fn slug(platform: &str) -> String {
    platform
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .to_string()
}

/// The instance a platform run uses.
pub fn instance(instance: &str, platform: &str) -> String {
    format!("{instance}-{}", slug(platform))
}

/// Where a platform run writes the report asked for at `path`: the platform goes before
/// the extension (`reports/junit.xml` becomes `reports/junit.debian-trixie.xml`).
pub fn report_path(path: &Path, platform: &str) -> PathBuf {
    let slug = slug(platform);
    match (path.file_stem(), path.extension()) {
        (Some(stem), Some(ext)) => path.with_file_name(format!(
            "{}.{slug}.{}",
            stem.to_string_lossy(),
            ext.to_string_lossy()
        )),
        _ => PathBuf::from(format!("{}.{slug}", path.display())),
    }
}

/// Whether a node's image is one a platform replaces: a Debian base envctl bootstraps.
fn replaced(image: &ImageSource) -> bool {
    matches!(image, ImageSource::Image(r) if crate::backend::docker::bootstrap::suite_for(r).is_some())
}

/// Runs `env`'s Debian-based nodes on `platform`; returns how many nodes it changed.
pub fn apply(env: &mut Environment, platform: &str) -> usize {
    let mut changed = 0;
    for node in env.nodes.values_mut() {
        if replaced(&node.image) {
            node.image = ImageSource::Image(platform.to_string());
            changed += 1;
        }
    }
    changed
}

/// Checks a `--platform` list against the environment before anything runs.
///
/// # Errors
/// [`Failure::Invalid`] for an empty or malformed image reference, two platforms with
/// the same name part, an instance name a platform would make too long, or an
/// environment with no node on a Debian base (nothing a platform could change).
pub fn check(platforms: &[String], env: &Environment, instance: &str) -> Result<(), Failure> {
    let mut seen = std::collections::BTreeMap::new();
    for p in platforms {
        let valid = !p.is_empty()
            && p.len() <= 128
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c))
            && !slug(p).is_empty();
        if !valid {
            return Err(Failure::Invalid(format!(
                "--platform `{p}` is not an image reference (such as debian:trixie)"
            )));
        }
        if let Some(first) = seen.insert(slug(p), p.clone()) {
            return Err(Failure::Invalid(format!(
                "--platform `{p}` and `{first}` would share the instance `{}`; name each platform once",
                self::instance(instance, p)
            )));
        }
    }
    if !env.nodes.values().any(|n| replaced(&n.image)) {
        return Err(Failure::Invalid(format!(
            "--platform: no node of environment `{}` runs on a Debian base image (debian:bookworm, debian:bullseye, debian:trixie), so no platform would change anything",
            env.name
        )));
    }
    Ok(())
}

/// How one platform's run ended.
struct Ended {
    platform: String,
    code: u8,
}

/// The exit code of the whole matrix: the most serious of its runs (interrupted, then a
/// fault, then not idempotent, then invalid input, then failed specs).
fn combined(codes: &[u8]) -> u8 {
    const ORDER: [u8; 5] = [INTERRUPTED, 3, 4, 2, 1];
    ORDER
        .iter()
        .copied()
        .find(|c| codes.contains(c))
        .or_else(|| codes.iter().copied().find(|&c| c != SUCCESS))
        .unwrap_or(SUCCESS)
}

fn verdict(code: u8) -> &'static str {
    match code {
        0 => "passed",
        1 => "specs failed",
        2 => "invalid input",
        3 => "environment error",
        4 => "not idempotent",
        130 => "interrupted",
        _ => "failed",
    }
}

/// Runs `envctl test` once per platform, side by side, printing each run's output with
/// its platform in front; the exit code is the most serious of theirs.
///
/// # Errors
/// [`Failure::Environment`] when a run cannot be started.
pub fn run_all(ctx: &Context, args: &TestArgs, env: &Environment) -> Result<u8, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::Environment(format!("cannot find envctl's own binary: {e}")))?;
    let out_lock = Arc::new(Mutex::new(()));
    let mut children = Vec::new();
    for platform in &args.platform {
        let mut child = std::process::Command::new(&exe)
            .args(std::env::args_os().skip(1))
            .env(RUN_VAR, platform)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                Failure::Environment(format!("cannot start the run on {platform}: {e}"))
            })?;
        let mut pumps = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            pumps.push(pump(stdout, platform.clone(), false, out_lock.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            pumps.push(pump(stderr, platform.clone(), true, out_lock.clone()));
        }
        children.push((platform.clone(), child, pumps));
    }
    // A signal to envctl reaches every run (a terminal's Ctrl-C reaches them already);
    // each cleans up its own instance and ends with 130.
    let pids: Vec<i32> = children
        .iter()
        .filter_map(|(_, c, _)| i32::try_from(c.id()).ok())
        .collect();
    let forward = ctx.runtime.spawn(async move {
        interrupt::signalled().await;
        for pid in pids {
            // SAFETY: kill(2) with a pid this process started and a valid signal.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    });
    let mut ended = Vec::new();
    for (platform, mut child, pumps) in children {
        let status = child.wait();
        for p in pumps {
            let _ = p.join();
        }
        let code = match status {
            Ok(s) => s
                .code()
                .and_then(|c| u8::try_from(c).ok())
                .unwrap_or(INTERRUPTED),
            Err(_) => 3,
        };
        ended.push(Ended { platform, code });
    }
    forward.abort();
    if !ctx.quiet {
        println!("\nplatforms of `{}`:", env.name);
        for e in &ended {
            println!(
                "  {:<24} {} (exit {}), instance {}",
                e.platform,
                verdict(e.code),
                e.code,
                instance(&ctx.instance, &e.platform)
            );
        }
        let mut reports: Vec<&PathBuf> = [
            &args.report.junit,
            &args.report.json,
            &args.report.tap,
            &args.report.html,
            &args.report.evidence,
        ]
        .into_iter()
        .flatten()
        .collect();
        reports.dedup();
        for path in reports {
            let each: Vec<String> = ended
                .iter()
                .map(|e| report_path(path, &e.platform).display().to_string())
                .collect();
            println!("  reports: {}", each.join(", "));
        }
    }
    let codes: Vec<u8> = ended.iter().map(|e| e.code).collect();
    let code = combined(&codes);
    if code == INTERRUPTED {
        return Err(Failure::Interrupted);
    }
    Ok(code)
}

/// Copies a run's output to ours line by line, with its platform in front.
fn pump(
    from: impl std::io::Read + Send + 'static,
    platform: String,
    stderr: bool,
    lock: Arc<Mutex<()>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let reader = std::io::BufReader::new(from);
        for line in reader.split(b'\n') {
            let Ok(line) = line else { break };
            let _guard = lock.lock();
            let mut text = format!("[{platform}] ").into_bytes();
            text.extend_from_slice(&line);
            text.push(b'\n');
            // A closed stdout or stderr is no reason to stop the runs.
            let _ = if stderr {
                std::io::stderr().write_all(&text)
            } else {
                std::io::stdout().write_all(&text)
            };
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_become_name_parts_and_report_paths() {
        assert_eq!(slug("debian:trixie"), "debian-trixie");
        assert_eq!(
            instance("default", "debian:bookworm"),
            "default-debian-bookworm"
        );
        assert_eq!(
            report_path(Path::new("out/junit.xml"), "debian:trixie"),
            PathBuf::from("out/junit.debian-trixie.xml")
        );
        assert_eq!(
            report_path(Path::new("report"), "debian:trixie"),
            PathBuf::from("report.debian-trixie")
        );
    }

    #[test]
    fn the_most_serious_run_decides_the_exit_code() {
        assert_eq!(combined(&[0, 0]), 0);
        assert_eq!(combined(&[0, 1]), 1);
        assert_eq!(combined(&[1, 4]), 4);
        assert_eq!(combined(&[4, 3, 1]), 3);
        assert_eq!(combined(&[3, 130]), 130);
        assert_eq!(combined(&[0, 101]), 101);
    }
}
