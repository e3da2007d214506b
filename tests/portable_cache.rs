//! Portable caches, for real: `envctl cache key` follows exactly the inputs of the images,
//! and `image save` on this machine's engine then `image load` on a fresh, private engine
//! (its own dockerd, data root and network namespace) makes `envctl test` of the Ansible
//! example run warm: no provisioning step and no idempotence run.

use crate::common;
use common::{repo, Project};
use std::path::PathBuf;
use std::process::Command;

/// A copy of the repository's Ansible example, as a fresh clone has it.
fn ansible_example() -> Project {
    Project::from_repo(&[
        "environments/web-ansible.toml",
        "specs/web-ansible",
        "provision/ansible",
    ])
}

#[test]
fn cache_key_changes_when_a_template_changes_and_not_otherwise() {
    let p = ansible_example();
    let key = || {
        let run = p.run(&["cache", "key", "web-ansible"]).expect(0);
        run.stdout.trim().to_string()
    };
    let first = key();
    assert!(first.starts_with("envctl-web-ansible-"), "{first}");
    assert_eq!(key(), first, "the same definitions, the same key");
    // Specs, the node's ports and files no image holds leave it alone.
    p.file(
        "specs/web-ansible/nginx.toml",
        std::fs::read_to_string(p.path().join("specs/web-ansible/nginx.toml")).unwrap()
            + "\n# a comment\n",
    );
    p.file("README.md", "notes\n");
    let env = std::fs::read_to_string(p.path().join("environments/web-ansible.toml")).unwrap();
    p.file(
        "environments/web-ansible.toml",
        env.replace("ports = [\"80\"]", "ports = [\"80\", \"443\"]"),
    );
    assert_eq!(key(), first);
    // A template the role renders is an input of the provisioned image.
    let template = "provision/ansible/roles/nginx/templates/index.html.j2";
    let text = std::fs::read_to_string(p.path().join(template)).unwrap();
    p.file(template, text + "<!-- changed -->\n");
    let changed = key();
    assert_ne!(changed, first);
    p.file(template, std::fs::read(repo().join(template)).unwrap());
    assert_eq!(
        key(),
        first,
        "back to the same inputs, back to the same key"
    );
}

/// A second Docker Engine of the test's own: a network namespace, a dockerd in it with
/// its own data root and socket. Stopped and removed on drop.
struct PrivateEngine {
    netns: String,
    dir: PathBuf,
    dockerd: std::process::Child,
}

impl PrivateEngine {
    fn start() -> PrivateEngine {
        let netns = format!("cicache-{}", std::process::id());
        // On the same filesystem as the main engine's data root (overlay2 needs one
        // that supports it; tmpfs may not).
        let dir = tempfile::Builder::new()
            .prefix("cicache-engine-")
            .tempdir_in("/var/tmp")
            .unwrap()
            .keep();
        common::must(&["ip", "netns", "add", &netns]);
        common::must(&["ip", "-n", &netns, "link", "set", "lo", "up"]);
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        // `nsenter --net` only: `ip netns exec` remounts /sys, and dockerd then finds
        // no cgroups.
        let dockerd = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{netns}"))
            .arg("/usr/sbin/dockerd")
            .arg("--host")
            .arg(format!("unix://{}", dir.join("docker.sock").display()))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            // envctl makes its own networks; the default bridge is not needed.
            .arg("--bridge=none")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("nsenter and dockerd are installed");
        let engine = PrivateEngine {
            netns,
            dir,
            dockerd,
        };
        engine.wait_until_it_answers();
        engine
    }

    fn host(&self) -> String {
        format!("unix://{}", self.dir.join("docker.sock").display())
    }

    fn docker(&self) -> bollard::Docker {
        bollard::Docker::connect_with_unix(
            &self.dir.join("docker.sock").display().to_string(),
            120,
            bollard::API_DEFAULT_VERSION,
        )
        .unwrap()
    }

    fn wait_until_it_answers(&self) {
        let rt = runtime();
        let answered = rt.block_on(async {
            for _ in 0..600 {
                // The socket appears once dockerd listens; connecting needs it.
                if self.dir.join("docker.sock").exists() && self.docker().ping().await.is_ok() {
                    return true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            false
        });
        assert!(
            answered,
            "the private dockerd did not answer:\n{}",
            std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
        );
    }

    /// `repo:tag` -> image id of every tagged image on this engine.
    fn images(&self) -> std::collections::BTreeMap<String, String> {
        runtime().block_on(async {
            let images = self
                .docker()
                .list_images(None::<bollard::query_parameters::ListImagesOptions>)
                .await
                .unwrap();
            images
                .into_iter()
                .flat_map(|i| {
                    let id = i.id.clone();
                    i.repo_tags.into_iter().map(move |t| (t, id.clone()))
                })
                .collect()
        })
    }

    /// envctl inside the engine's network namespace (where its published ports are),
    /// pointed at it with DOCKER_HOST.
    fn envctl(&self, p: &Project, args: &[&str]) -> common::Run {
        let out = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .arg(env!("CARGO_BIN_EXE_envctl"))
            .arg("--root")
            .arg(p.path())
            .arg("--instance")
            .arg(&p.instance)
            .args(args)
            .env("DOCKER_HOST", self.host())
            .output()
            .unwrap();
        common::Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.dir.join("docker.pid")).unwrap_or_default();
        if let Ok(pid) = pid.trim().parse::<i32>() {
            // SIGTERM: dockerd stops its containers and unmounts its layers.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let _ = self.dockerd.wait();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
        common::unmount_under(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn image_load_on_a_fresh_engine_makes_the_ansible_example_run_warm() {
    // On this machine's engine: the example passes (provisioned, checked idempotent),
    // then its images are saved.
    let here = ansible_example();
    here.run(&["test", "web-ansible"]).expect(0);
    let file = here.path().join("web-ansible.images");
    let saved = here
        .run(&["image", "save", "web-ansible", file.to_str().unwrap()])
        .expect(0);
    let roles: Vec<&str> = saved.stdout.lines().collect();
    assert_eq!(
        roles.len(),
        3,
        "base, systemd and provisioned image:\n{}",
        saved.output()
    );
    assert!(
        saved.stdout.contains("saved debian:bookworm (base)"),
        "{}",
        saved.stdout
    );
    assert!(saved.stdout.contains("(systemd)") && saved.stdout.contains("(provisioned)"));

    // A fresh engine, and a fresh clone: nothing on either.
    let engine = PrivateEngine::start();
    assert!(engine.images().is_empty(), "{:?}", engine.images());
    let clone = ansible_example();
    let loaded = engine.envctl(&clone, &["image", "load", file.to_str().unwrap()]);
    let loaded = loaded.expect(0);
    let images = engine.images();
    let saved_refs: Vec<String> = saved
        .stdout
        .lines()
        .filter_map(|l| {
            l.strip_prefix("saved ")?
                .split(' ')
                .next()
                .map(String::from)
        })
        .collect();
    let on_engine: Vec<String> = images.keys().cloned().collect();
    let mut expected = saved_refs.clone();
    expected.sort();
    assert_eq!(
        on_engine,
        expected,
        "exactly the saved images: {}",
        loaded.output()
    );

    let warm = engine.envctl(&clone, &["test", "web-ansible"]).expect(0);
    let err = &warm.stderr;
    assert!(err.contains("provisioned image found in cache"), "{err}");
    assert!(!err.contains("provisioning 1/"), "a step ran:\n{err}");
    assert!(
        err.contains("idempotent (checked before on this provisioned image)"),
        "the idempotence check ran again:\n{err}"
    );
    let log = std::fs::read_to_string(
        clone
            .path()
            .join(".envctl/logs/web-ansible")
            .join(&clone.instance)
            .join("web1.provision.log"),
    )
    .unwrap_or_default();
    assert!(log.contains("reused from the cache; no step ran"), "{log}");
    // Nothing was provisioned again: the same images, under the same ids.
    assert_eq!(engine.images(), images);
}

/// A file that is missing, not a saved cache, or cut short is refused (exit 2), and the
/// engine is left as it was.
#[test]
fn image_load_refuses_missing_foreign_and_truncated_files_and_leaves_nothing() {
    let engine = PrivateEngine::start();
    let p = ansible_example();
    let missing = p.path().join("absent.images");
    let run = engine.envctl(&p, &["image", "load", missing.to_str().unwrap()]);
    let run = run.expect(2);
    assert!(
        run.stderr.contains("absent.images") && run.stderr.contains("cannot read"),
        "{}",
        run.stderr
    );
    let foreign = p.path().join("foreign.images");
    std::fs::write(&foreign, "this is not an image archive\n").unwrap();
    let run = engine
        .envctl(&p, &["image", "load", foreign.to_str().unwrap()])
        .expect(2);
    assert!(
        run.stderr
            .contains("not a file written by `envctl image save`"),
        "{}",
        run.stderr
    );
    // A real saved file (one small image of this test's own), cut in the middle.
    let tag = format!("cicache-probe:{}", std::process::id());
    let rt = runtime();
    let docker = engine.docker();
    rt.block_on(async {
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        let data = vec![b'x'; 64 * 1024];
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "probe", &data[..]).unwrap();
        let body = bytes::Bytes::from(tar.into_inner().unwrap());
        let options = bollard::query_parameters::CreateImageOptionsBuilder::new()
            .from_src("-")
            .repo("cicache-probe")
            .tag(&std::process::id().to_string())
            .build();
        use futures_util::StreamExt;
        let mut s = docker.create_image(Some(options), Some(bollard::body_full(body)), None);
        while let Some(step) = s.next().await {
            step.unwrap();
        }
    });
    let env = format!("[nodes.n]\nimage = \"{tag}\"\ncommand = [\"sleep\", \"1\"]\n");
    p.file("environments/probe.toml", env);
    let whole = p.path().join("probe.images");
    engine
        .envctl(&p, &["image", "save", "probe", whole.to_str().unwrap()])
        .expect(0);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&whole).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "saved images are the owner's only");
    rt.block_on(docker.remove_image(
        &tag,
        None::<bollard::query_parameters::RemoveImageOptions>,
        None,
    ))
    .unwrap();
    assert!(engine.images().is_empty(), "{:?}", engine.images());
    let bytes = std::fs::read(&whole).unwrap();
    let cut = p.path().join("cut.images");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let run = engine
        .envctl(&p, &["image", "load", cut.to_str().unwrap()])
        .expect(2);
    assert!(run.stderr.contains("cut.images"), "{}", run.stderr);
    assert!(engine.images().is_empty(), "{:?}", engine.images());
    // The whole file loads: the refusals above were about the files.
    let run = engine
        .envctl(&p, &["image", "load", whole.to_str().unwrap()])
        .expect(0);
    assert!(
        run.stdout.contains(&format!("loaded {tag} (base)")),
        "{}",
        run.stdout
    );
    assert_eq!(engine.images().len(), 1, "{:?}", engine.images());
}
