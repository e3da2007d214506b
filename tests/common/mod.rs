//! Integration-test support: runs the real `envctl` binary in a temporary copy of a
//! fixture project, against the real Docker Engine, with a unique instance name.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique instance name for one test, so tests never see each other's objects.
pub fn unique_instance(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A project to run envctl in: a temporary directory, optionally seeded from
/// `tests/fixtures/NAME`.
pub struct Project {
    dir: tempfile::TempDir,
    pub instance: String,
}

/// What one envctl run produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// What a finished envctl printed and how it ended.
    pub fn of(out: std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, printing the run's output when it differs.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl Project {
    /// An empty project (with an `environments/` directory).
    pub fn empty() -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("environments")).unwrap();
        Project {
            dir,
            instance: unique_instance("t"),
        }
    }

    /// The name prefix of this project's instance `instance` of `env`:
    /// `envctl-ENV.INSTANCE.PROJECT` (the network's name; a replica adds `.REPLICA`).
    pub fn object_prefix(&self, env: &str, instance: &str) -> String {
        let root = self.path().canonicalize().expect("project root");
        let project = envctl::instance::project_id(&root);
        format!("envctl-{env}.{instance}.{}", &project[..8])
    }

    /// A copy of `tests/fixtures/NAME`.
    pub fn fixture(name: &str) -> Project {
        let p = Project::empty();
        copy_dir(&fixtures().join(name), p.path());
        p
    }

    /// A copy of the repository's `vm` example environment (docs/vms.md), modes kept.
    pub fn vm_example() -> Project {
        let p = Project::empty();
        for file in [
            "environments/vm.toml",
            "specs/vm/web.toml",
            "provision/vm/server.pl",
            "provision/vm/site.sh",
            "images/vagrant-node/Dockerfile",
            "images/vagrant-node/start-sshd.sh",
        ] {
            p.file(file, std::fs::read(repo().join(file)).unwrap());
            let mode = std::fs::metadata(repo().join(file)).unwrap().permissions();
            std::fs::set_permissions(p.path().join(file), mode).unwrap();
        }
        p
    }

    /// Adds a fourth step to the `vm` example's node (step 04 `count runs`), which
    /// appends to `/srv/www/runs.txt` on every run; `marks` goes into its table
    /// (`", idempotent = false"`).
    pub fn vm_counting_step(&self, marks: &str) {
        let kernel =
            "{ name = \"record the kernel\", shell = \"uname -r > /srv/www/kernel.txt\" },";
        let env = std::fs::read_to_string(self.path().join("environments/vm.toml"))
            .unwrap()
            .replace(
                kernel,
                &format!(
                    "{kernel}\n  {{ name = \"count runs\", shell = \"date +%N >> /srv/www/runs.txt\"{marks} }},"
                ),
            );
        assert!(env.contains("count runs"), "{env}");
        self.file("environments/vm.toml", env);
    }

    /// A copy of these files and directories of the repository (modes kept): the
    /// repository as a fresh clone would have them.
    pub fn from_repo(paths: &[&str]) -> Project {
        let p = Project::empty();
        for path in paths {
            let from = repo().join(path);
            if from.is_dir() {
                copy_dir(&from, &p.path().join(path));
            } else {
                p.file(path, std::fs::read(&from).unwrap());
                let mode = std::fs::metadata(&from).unwrap().permissions();
                std::fs::set_permissions(p.path().join(path), mode).unwrap();
            }
        }
        p
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file in the project.
    pub fn file(&self, relative: &str, contents: impl AsRef<[u8]>) -> &Project {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    /// Runs envctl with `--root` and `--instance` set.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// Runs envctl with extra environment variables.
    pub fn run_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        self.run_as(&self.instance, args, vars)
    }

    /// Runs envctl on another instance of this project.
    pub fn run_as(&self, instance: &str, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_envctl"));
        cmd.arg("--root")
            .arg(self.path())
            .arg("--instance")
            .arg(instance)
            .args(args);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        Run::of(cmd.output().expect("envctl runs"))
    }

    /// Names of the engine objects (containers, networks) labelled with this instance.
    pub fn leftovers(&self) -> Vec<String> {
        leftovers(&self.instance)
    }

    /// After `up ENV` failed in a provisioning step of `node`: only that node's kept
    /// container and the instance network are left, the failure said how to enter it,
    /// and `down` removes them.
    #[allow(dead_code)]
    pub fn assert_only_the_failed_node_is_kept(&self, up: &Run, env: &str, node: &str) {
        assert!(
            up.stderr.contains(&format!(
                "kept node `{node}` running as its failed step left it"
            )),
            "{}",
            up.stderr
        );
        let left = self.leftovers();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(
            left.iter()
                .any(|o| o.starts_with("container") && o.contains(&format!(".{node}-failed"))),
            "{left:?}"
        );
        assert!(left.iter().any(|o| o.starts_with("network")), "{left:?}");
        self.run(&["down", env]).expect(0);
        assert!(self.leftovers().is_empty(), "{:?}", self.leftovers());
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // Never leave objects behind, even when a test fails half-way.
        for env in std::fs::read_dir(self.path().join("environments"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Some(name) = env.path().file_stem() {
                let _ = self.run(&["down", &name.to_string_lossy()]);
            }
        }
    }
}

/// What a systemd node tries that would change its host (tests/provision_privileges.rs
/// on this cgroup v1 host, tests/vm_cgroup_v2.rs on a v2 one). Each probe prints `NAME=RESULT`; RESULT is `ok` when the operation succeeded,
/// otherwise the error the kernel gave.
pub const PRIVILEGE_PROBES: &str = r#"
try() { name="$1"; shift; if out=$("$@" 2>&1); then echo "$name=ok"; else echo "$name=$(echo "$out" | tr '\n' ' ')"; fi; }
# The clock, set to its current value: harmless if it ever succeeded.
try clock date -s "@$(date +%s)"
try mknod mknod /tmp/envctl-probe-dev b 8 0
# finit_module(2) on stdin: EPERM without CAP_SYS_MODULE, another error with it.
echo "modprobe=$(perl -e 'my $p = ""; syscall(313, 0, $p, 0) == 0 ? print "ok" : print "$!"' </dev/null)"
try mount_proc mount -t proc proc /mnt
try remount_proc_sys mount -o remount,rw /proc/sys
try mount_tmpfs mount -t tmpfs none /mnt
try new_hierarchy mount -t cgroup -o none,name=envctlprobe cgroup /mnt
try cgroup_mkdir mkdir /sys/fs/cgroup/pids/$PROBE
try cgroup_root_mkdir mkdir /sys/fs/cgroup/$PROBE
try release_agent sh -c 'echo /tmp/x > /sys/fs/cgroup/systemd/release_agent'
echo "devices=$(ls /dev | tr '\n' ' ')"
echo "systemd=$(systemctl is-system-running)"
"#;

/// The results of [`PRIVILEGE_PROBES`], by probe name.
pub fn probe_results(stdout: &str) -> std::collections::BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// Asserts what every systemd node without extra capabilities is refused, on any
/// cgroup version: a running systemd, and no clock, device, module or mount.
pub fn assert_cannot_change_its_host(r: &std::collections::BTreeMap<String, String>) {
    assert_eq!(r["systemd"], "running", "{r:?}");
    assert!(r["clock"].contains("Operation not permitted"), "{r:?}");
    assert!(r["mknod"].contains("Operation not permitted"), "{r:?}");
    assert_eq!(r["modprobe"], "Operation not permitted", "{r:?}");
    for mount in [
        "mount_proc",
        "remount_proc_sys",
        "mount_tmpfs",
        "new_hierarchy",
    ] {
        assert!(r[mount].contains("permission denied"), "{mount}: {r:?}");
    }
}

/// The repository's fixture directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The repository root (the demo project).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Jenkins JUnit schema with the two `testcase` attributes envctl adds, `file` and
/// `line` (as pytest writes them and GitLab reads them), written into `dir`. Only those
/// two are added: anything else the published schema refuses is still refused.
#[allow(dead_code)]
pub fn junit_schema_with_file_line(dir: &Path) -> PathBuf {
    let published = std::fs::read_to_string(fixtures().join("junit-10.xsd")).unwrap();
    let anchor = r#"<xs:attribute name="group" type="xs:string"/>"#;
    assert_eq!(published.matches(anchor).count(), 1);
    let extended = published.replace(
        anchor,
        &format!(
            r#"{anchor}<xs:attribute name="file" type="xs:string"/><xs:attribute name="line" type="xs:positiveInteger"/>"#
        ),
    );
    let path = dir.join("junit-file-line.xsd");
    std::fs::write(&path, extended).unwrap();
    path
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Containers, networks and volumes on the engine that carry `instance`'s label.
pub fn leftovers(instance: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let docker = bollard::Docker::connect_with_defaults()
            .unwrap()
            .negotiate_version()
            .await
            .unwrap();
        let filter = std::collections::HashMap::from([(
            "label".to_string(),
            vec![format!("io.envctl.instance={instance}")],
        )]);
        let mut found = Vec::new();
        let containers = docker
            .list_containers(Some(
                bollard::query_parameters::ListContainersOptionsBuilder::new()
                    .all(true)
                    .filters(&filter)
                    .build(),
            ))
            .await
            .unwrap();
        found.extend(
            containers
                .into_iter()
                .map(|c| format!("container {:?}", c.names.unwrap_or_default())),
        );
        let networks = docker
            .list_networks(Some(
                bollard::query_parameters::ListNetworksOptionsBuilder::new()
                    .filters(&filter)
                    .build(),
            ))
            .await
            .unwrap();
        found.extend(
            networks
                .into_iter()
                .map(|n| format!("network {}", n.name.unwrap_or_default())),
        );
        let volumes = docker
            .list_volumes(Some(
                bollard::query_parameters::ListVolumesOptionsBuilder::new()
                    .filters(&filter)
                    .build(),
            ))
            .await
            .unwrap();
        found.extend(
            volumes
                .volumes
                .unwrap_or_default()
                .into_iter()
                .map(|v| format!("volume {}", v.name)),
        );
        found
    })
}

/// Ids of the running node containers of an instance, by container name.
pub fn container_ids(instance: &str) -> std::collections::BTreeMap<String, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let docker = bollard::Docker::connect_with_defaults()
            .unwrap()
            .negotiate_version()
            .await
            .unwrap();
        let filter = std::collections::HashMap::from([(
            "label".to_string(),
            vec![format!("io.envctl.instance={instance}")],
        )]);
        docker
            .list_containers(Some(
                bollard::query_parameters::ListContainersOptionsBuilder::new()
                    .all(true)
                    .filters(&filter)
                    .build(),
            ))
            .await
            .unwrap()
            .into_iter()
            .map(|c| {
                (
                    c.names.unwrap_or_default().join(","),
                    c.id.unwrap_or_default(),
                )
            })
            .collect()
    })
}

/// Every regular file under `dir` (recursively, symlinks not followed) with its bytes.
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            out.extend(files_under(&path));
        } else if kind.is_file() {
            if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
    out
}

/// Which of `secrets` (or any line of at least 4 bytes of one) `text` shows.
pub fn shown_secrets<'a>(text: &str, secrets: &[&'a str]) -> Vec<&'a str> {
    secrets
        .iter()
        .copied()
        .filter(|s| {
            text.contains(s)
                || s.lines()
                    .map(str::trim)
                    .filter(|l| l.len() >= 4)
                    .any(|l| text.contains(l))
        })
        .collect()
}

/// Asserts that no file under the project's `.envctl/` holds any of `secrets`.
pub fn assert_no_secret_under_envctl(project: &Path, secrets: &[&str]) {
    for (path, bytes) in files_under(&project.join(".envctl")) {
        let text = String::from_utf8_lossy(&bytes);
        let shown = shown_secrets(&text, secrets);
        assert!(
            shown.is_empty(),
            "{} holds {shown:?}:\n{text}",
            path.display()
        );
    }
}

/// One project (and its running instance) shared by every test of a test binary, for
/// suites whose fixture is slow to bring up. Tests take turns; the instance is brought
/// down when the test binary exits, whatever the tests did.
pub struct Shared(std::sync::MutexGuard<'static, Option<Project>>);

static SHARED: std::sync::Mutex<Option<Project>> = std::sync::Mutex::new(None);

extern "C" fn drop_shared() {
    let mut guard = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = guard.take() {
        let instance = p.instance.clone();
        drop(p);
        let left = leftovers(&instance);
        if !left.is_empty() {
            eprintln!("the shared instance {instance} leaked: {left:?}");
            // SAFETY: ends the process at exit with a failing status; nothing runs after.
            unsafe { libc::_exit(1) };
        }
    }
}

impl Shared {
    /// The shared project, made by `init` (which brings it up) on first use.
    pub fn get(init: impl FnOnce() -> Project) -> Shared {
        let mut guard = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            static REGISTERED: std::sync::Once = std::sync::Once::new();
            REGISTERED.call_once(|| {
                // SAFETY: registers a plain function to run at exit; it only touches
                // the static above.
                unsafe { libc::atexit(drop_shared) };
            });
            *guard = Some(init());
        }
        Shared(guard)
    }
}

impl std::ops::Deref for Shared {
    type Target = Project;
    fn deref(&self) -> &Project {
        self.0.as_ref().expect("initialised in Shared::get")
    }
}

/// One answer seen by [`HttpClient`].
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Answer {
    /// Seconds from the client's start.
    pub at: f64,
    /// 0 for a connection error.
    pub status: u16,
    pub ms: f64,
    /// First line of the body.
    pub body: String,
    #[serde(default)]
    pub error: Option<String>,
}

/// An independent client process (tests/clients/http_client.py) sending requests, each
/// on a new connection, until stopped.
pub struct HttpClient {
    child: std::process::Child,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl HttpClient {
    pub fn start(url: &str) -> HttpClient {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("answers.jsonl");
        let child = Command::new("python3")
            .arg(repo().join("tests/clients/http_client.py"))
            .arg(url)
            .arg(&out)
            .spawn()
            .expect("python3 runs the test client");
        let client = HttpClient {
            child,
            out,
            _dir: dir,
        };
        // Running before the caller goes on: at least one answer is in.
        for _ in 0..200 {
            if !client.answers().is_empty() {
                return client;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the test client got no answer from {url}");
    }

    /// Answers so far.
    pub fn answers(&self) -> Vec<Answer> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Stops the client and returns every answer it got.
    pub fn stop(mut self) -> Vec<Answer> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        self.answers()
    }
}

impl Drop for HttpClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The host port published for `port` of `node` in the instance, read from `status`.
pub fn published_port(p: &Project, env: &str, node: &str, port: u16) -> u16 {
    let status = p.run(&["status", env]).expect(0).output();
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{node} ")))
        .unwrap_or_else(|| panic!("no {node} in status:\n{status}"));
    line.split("127.0.0.1:")
        .skip(1)
        .find_map(|rest| {
            let (host, container) = rest.split_once("->")?;
            let container: u16 = container
                .trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()?;
            (container == port).then(|| host.parse().ok()).flatten()
        })
        .unwrap_or_else(|| panic!("no published port for {node}:{port} in {line:?}"))
}

/// The pixels of `page` rendered by headless Chromium (installed by ./dev test).
pub fn screenshot(page: &Path, size: &str) -> Vec<[u8; 3]> {
    let profile = tempfile::tempdir().unwrap();
    let shot = profile.path().join("shot.png");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--window-size={size}"))
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("p").display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium is installed by ./dev test");
    assert!(shot.exists(), "{}", String::from_utf8_lossy(&out.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    buf[..info.buffer_size()]
        .chunks(channels)
        .map(|c| [c[0], c[1], c[2]])
        .collect()
}

/// Pixels within a small distance of `colour` (`#rrggbb`).
pub fn pixels_near(pixels: &[[u8; 3]], colour: &str) -> usize {
    let hex = |i: usize| u8::from_str_radix(&colour[i..i + 2], 16).unwrap();
    let want = [hex(1), hex(3), hex(5)];
    pixels
        .iter()
        .filter(|p| p.iter().zip(want).all(|(a, b)| a.abs_diff(b) <= 8))
        .count()
}

/// Unmounts whatever dockerd left mounted under `dir` (deepest first).
pub fn unmount_under(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| Path::new(m).starts_with(dir))
        .collect();
    points.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in points {
        let _ = Command::new("umount").arg("-l").arg(m).status();
    }
}

/// Runs a command (`ip`, `openssl`...) that must succeed.
pub fn must(command: &[&str]) {
    let out = Command::new(command[0])
        .args(&command[1..])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// envctl's containers, networks and volumes on the engine at `socket` (`docker -H`),
/// the package cache's volumes aside: they stay, as on any engine (docs/provisioning.md).
pub fn engine_objects(socket: &str) -> Vec<String> {
    let mut names = Vec::new();
    for what in [
        &["ps", "-a", "--format", "{{.Names}}"][..],
        &["network", "ls", "--format", "{{.Name}}"][..],
        &["volume", "ls", "--format", "{{.Name}}"][..],
    ] {
        let out = Command::new("docker")
            .args(["-H", socket])
            .args(what)
            .output()
            .unwrap();
        names.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.starts_with("envctl") && !l.starts_with("envctl-packages-"))
                .map(str::to_string),
        );
    }
    names
}

/// A systemd node whose provisioning installs and starts a service (`environments/`),
/// for the suites that run it on another engine.
pub const SYSTEMD_ENV: &str = r#"
[nodes.svc]
image = "debian:bookworm"
init = "systemd"
provision = [{ shell = """
printf '[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/greeter.service
systemctl enable --now greeter.service
""" }]
"#;

/// The specs of [`SYSTEMD_ENV`]: the service is enabled and running, another is not.
pub const SYSTEMD_SPECS: &str = r#"
[[service]]
node = "svc"
name = "greeter"
enabled = true

[[service]]
title = "nothing else was started"
node = "svc"
name = "nginx"
running = false
"#;

/// Copies a local image to the engine at `socket` (`docker save` into `docker load`), as
/// a pull would bring it there.
pub fn carry_image(socket: &str, image: &str) {
    let mut save = Command::new("docker")
        .args(["save", image])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let loaded = Command::new("docker")
        .args(["-H", socket, "load", "-q"])
        .stdin(save.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(save.wait().unwrap().success(), "docker save {image}");
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
}

/// The local engine's systemd image of the shared base (`envctl-systemd:KEY`, labelled
/// with the base image it was derived from).
pub fn systemd_image() -> String {
    let base = Command::new("docker")
        .args(["image", "inspect", "debian:bookworm", "--format", "{{.Id}}"])
        .output()
        .unwrap();
    let base = String::from_utf8_lossy(&base.stdout).trim().to_string();
    let images = Command::new("docker")
        .args([
            "images",
            "envctl-systemd",
            "--filter",
            &format!("label=io.envctl.systemd-base={base}"),
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&images.stdout)
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no systemd image of {base} here"))
        .to_string()
}
