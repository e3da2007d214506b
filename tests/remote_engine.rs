//! A Docker Engine on another machine, for real: a dockerd of the test's own in its own
//! network namespace, reached from this host over TCP (`DOCKER_HOST=tcp://ADDR:2375`)
//! through a veth pair. Its published ports are on its own loopback and its networks are
//! not routed here, as with GitLab's `docker:dind` service. envctl runs on this host; its
//! host-side checks (health, `http`, `tcp`, load, the promotion probe) must still reach
//! the nodes, with the specs unchanged, over plain TCP, over TLS and over ssh, and `down` must
//! leave nothing on the remote. The demo runs there too, its images carried over.

use crate::common;
use common::Project;
use std::path::PathBuf;
use std::process::Command;

/// The remote stand-in: a network namespace joined to this host by a veth pair, and a
/// dockerd in it listening on the namespace's address. Stopped and removed on drop.
struct RemoteEngine {
    netns: String,
    host_link: String,
    dir: PathBuf,
    dockerd: std::process::Child,
    address: String,
    /// How envctl reaches it.
    transport: Transport,
    /// The ssh server in front of it, when reached over ssh.
    sshd: Option<std::process::Child>,
}

/// How envctl reaches the remote engine.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// `tcp://ADDR:2375`.
    Tcp,
    /// `tcp://ADDR:2376` with client certificates required.
    Tls,
    /// `ssh://root@ADDR`: the engine listens on its own socket only, an sshd of the test
    /// in the namespace lets envctl in with a key of the test's.
    Ssh,
}

/// One engine per test, each on a subnet and links of its own.
static ENGINES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl RemoteEngine {
    fn start(transport: Transport) -> RemoteEngine {
        let n = ENGINES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id = std::process::id() * 4 + n;
        let netns = format!("envrem-{id}");
        let host_link = format!("vrh{}", id % 100_000);
        let peer = format!("vrr{}", id % 100_000);
        let subnet = format!("10.231.{}", id % 250);
        let address = format!("{subnet}.2");
        let dir = tempfile::Builder::new()
            .prefix("envctl-remote-engine-")
            .tempdir_in("/var/tmp")
            .unwrap()
            .keep();
        common::must(&["ip", "netns", "add", &netns]);
        common::must(&["ip", "-n", &netns, "link", "set", "lo", "up"]);
        common::must(&[
            "ip", "link", "add", &host_link, "type", "veth", "peer", "name", &peer,
        ]);
        common::must(&["ip", "link", "set", &peer, "netns", &netns]);
        common::must(&[
            "ip",
            "addr",
            "add",
            &format!("{subnet}.1/30"),
            "dev",
            &host_link,
        ]);
        common::must(&["ip", "link", "set", &host_link, "up"]);
        common::must(&[
            "ip",
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{address}/30"),
            "dev",
            &peer,
        ]);
        common::must(&["ip", "-n", &netns, "link", "set", &peer, "up"]);
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let mut listen = vec![format!("--host=tcp://{address}:2375")];
        if transport == Transport::Ssh {
            listen.clear();
        }
        if transport == Transport::Tls {
            certificates(&dir, &address);
            let certs = dir.join("certs");
            listen = vec![
                format!("--host=tcp://{address}:2376"),
                "--tlsverify".into(),
                format!("--tlscacert={}", certs.join("ca.pem").display()),
                format!("--tlscert={}", certs.join("server-cert.pem").display()),
                format!("--tlskey={}", certs.join("server-key.pem").display()),
            ];
        }
        // `nsenter --net` only: `ip netns exec` remounts /sys, and dockerd then finds
        // no cgroups.
        let dockerd = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{netns}"))
            .arg("/usr/sbin/dockerd")
            .arg("--host")
            .arg(format!("unix://{}", dir.join("docker.sock").display()))
            .args(&listen)
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("--bridge=none")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("nsenter and dockerd are installed");
        let mut engine = RemoteEngine {
            netns,
            host_link,
            dir,
            dockerd,
            address,
            transport,
            sshd: None,
        };
        engine.wait_until_it_answers();
        if transport == Transport::Ssh {
            engine.sshd = Some(engine.start_sshd());
        }
        // The base image, as `envctl image load` or a pull would bring it there.
        engine.carry("debian:bookworm");
        engine
    }

    /// Copies a local image to the remote engine.
    fn carry(&self, image: &str) {
        common::carry_image(&self.socket(), image);
    }

    /// An sshd in the namespace, with a host key and a client key of its own: the
    /// client's key and the host's in `DIR/home/.ssh`, which [`RemoteEngine::envctl`]
    /// makes envctl's `~` (ssh reads the user's home from the password database, not
    /// `HOME`). Its sessions get the engine's socket as `DOCKER_HOST`, as a machine
    /// whose docker CLI talks to its own engine. The sshd has a `/run` of its own (a
    /// tmpfs in a mount namespace) for its privilege separation directory.
    fn start_sshd(&self) -> std::process::Child {
        let ssh = self.dir.join("home/.ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        let keygen = |path: &std::path::Path| {
            common::must(&[
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-f",
                path.to_str().unwrap(),
            ])
        };
        let host_key = self.dir.join("ssh_host_ed25519_key");
        keygen(&host_key);
        keygen(&ssh.join("id_ed25519"));
        std::fs::copy(ssh.join("id_ed25519.pub"), self.dir.join("authorized_keys")).unwrap();
        let host_pub = std::fs::read_to_string(self.dir.join("ssh_host_ed25519_key.pub")).unwrap();
        let mut known = host_pub
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        known.insert_str(0, &format!("{} ", self.address));
        std::fs::write(ssh.join("known_hosts"), known + "\n").unwrap();
        let config = self.dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress {address}\nHostKey {key}\nAuthorizedKeysFile {dir}/authorized_keys\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                 PermitRootLogin prohibit-password\nStrictModes no\nPidFile {dir}/sshd.pid\n\
                 SetEnv DOCKER_HOST={socket}\n",
                address = self.address,
                key = host_key.display(),
                dir = self.dir.display(),
                socket = self.socket(),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(self.dir.join("sshd.log")).unwrap();
        let mut sshd = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .args(["unshare", "--mount", "--propagation", "private", "sh", "-c"])
            .arg(
                "mount -t tmpfs -o mode=755 tmpfs /run && mkdir -m 755 /run/sshd && exec /usr/sbin/sshd -D -e -f \"$0\"",
            )
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("sshd is installed (openssh-server)");
        for _ in 0..100 {
            if std::net::TcpStream::connect((self.address.as_str(), 22)).is_ok() {
                return sshd;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = sshd.kill();
        let _ = sshd.wait();
        panic!(
            "the remote's sshd did not listen:\n{}",
            std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
        );
    }

    /// `DOCKER_HOST` for envctl on this host.
    fn host(&self) -> String {
        match self.transport {
            Transport::Tcp => format!("tcp://{}:2375", self.address),
            Transport::Tls => format!("tcp://{}:2376", self.address),
            Transport::Ssh => format!("ssh://root@{}", self.address),
        }
    }

    /// What envctl is given: `DOCKER_HOST`, and with TLS the docker CLI's variables.
    fn vars(&self) -> Vec<(String, String)> {
        let mut vars = vec![("DOCKER_HOST".to_string(), self.host())];
        if self.transport == Transport::Tls {
            vars.push(("DOCKER_TLS_VERIFY".into(), "1".into()));
            vars.push((
                "DOCKER_CERT_PATH".into(),
                self.dir.join("certs/client").display().to_string(),
            ));
        }
        vars
    }

    /// envctl in `p`, pointed at this engine; over ssh with the test's keys as its
    /// user's (`DIR/home` bound over the home directory, in a mount namespace of its own).
    fn envctl(&self, p: &Project, args: &[&str]) -> common::Run {
        let owned = self.vars();
        let vars: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if self.transport != Transport::Ssh {
            return p.run_env(args, &vars);
        }
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(r#"mount --bind "$0" "$1" && shift && exec "$@""#)
            .arg(self.dir.join("home"))
            .arg(home)
            .arg(env!("CARGO_BIN_EXE_envctl"))
            .arg("--root")
            .arg(p.path())
            .arg("--instance")
            .arg(&p.instance)
            .args(args)
            .envs(vars);
        common::Run::of(cmd.output().expect("unshare runs"))
    }

    /// The web node and its specs, `envctl test` passing on this engine and leaving
    /// nothing on it.
    fn web_passes(&self) -> Project {
        let p = Project::empty();
        p.file("environments/web.toml", WEB);
        p.file("specs/web/web.toml", SPECS);
        p.file("specs/web/web.goss.yaml", GOSS);
        let passed = self.envctl(&p, &["test", "web"]);
        assert_eq!(passed.code, 0, "{}", passed.output());
        assert!(passed.stdout.contains(ASSERTIONS), "{}", passed.output());
        assert!(self.objects().is_empty(), "{:?}", self.objects());
        p
    }

    /// A systemd node with a service its provisioning installs and starts: `envctl test`
    /// passes on this engine (provisioning, idempotence check, specs run there) and
    /// leaves nothing. The systemd image is derived here (the remote has no package
    /// mirror) and carried over, as a pull would bring it.
    fn systemd_passes(&self) {
        let p = Project::empty();
        p.file("environments/sysd.toml", common::SYSTEMD_ENV);
        p.file("specs/sysd/sysd.toml", common::SYSTEMD_SPECS);
        // Here, to derive the image: the shared base's systemd image, built once.
        p.run(&["provision", "sysd"]).expect(0);
        self.carry(&common::systemd_image());
        let passed = self.envctl(&p, &["test", "sysd"]);
        assert_eq!(passed.code, 0, "{}", passed.output());
        assert!(passed.stdout.contains("2 passed"), "{}", passed.output());
        assert!(self.objects().is_empty(), "{:?}", self.objects());
    }

    /// An Ansible playbook against a node of this engine (Ansible on this host, its
    /// Docker connection pointed at this engine by envctl): `envctl test` passes with the
    /// idempotence check, and a spec the node does not meet fails.
    fn ansible_passes(&self) {
        self.carry(python_image());
        let p = Project::empty();
        p.file(
            "environments/conf.toml",
            format!(
                "[vars]\ngreeting = \"hello from afar\"\n\n[nodes.conf]\nimage = \"{}\"\nprovision = [{{ ansible = \"site.yml\" }}]\n",
                python_image()
            ),
        );
        p.file("site.yml", PLAYBOOK);
        p.file(
            "specs/conf/conf.toml",
            "[[file]]\nnode = \"conf\"\npath = \"/etc/greeting\"\ncontains = [\"hello from afar\"]\n",
        );
        let tested = self.envctl(&p, &["test", "conf"]);
        assert_eq!(tested.code, 0, "{}", tested.output());
        assert!(tested.stdout.contains("1 passed"), "{}", tested.output());
        assert!(
            tested.output().contains("idempoten"),
            "the idempotence check ran: {}",
            tested.output()
        );
        p.file(
            "specs/conf/conf.toml",
            "[[file]]\nnode = \"conf\"\npath = \"/etc/greeting\"\ncontains = [\"hello from here\"]\n",
        );
        let failed = self.envctl(&p, &["test", "conf"]);
        assert_eq!(failed.code, 1, "{}", failed.output());
        assert!(self.objects().is_empty(), "{:?}", self.objects());
    }

    /// The demo on this engine: `envctl test` passes every spec of it (http through the
    /// proxy, tcp, in-node kinds) and every health check, unchanged, and leaves nothing.
    /// The remote has no package mirror: the demo's images are provisioned here and
    /// carried over, as `image save` / `image load` carry them between CI jobs.
    fn demo_passes(&self) -> Project {
        let p = demo();
        p.run(&["provision", "demo"]).expect(0);
        let file = p.path().join("demo.images");
        p.run(&["image", "save", "demo", file.to_str().unwrap()])
            .expect(0);
        self.envctl(&p, &["image", "load", file.to_str().unwrap()])
            .expect(0);
        let tested = self.envctl(&p, &["test", "demo"]);
        assert_eq!(tested.code, 0, "{}", tested.output());
        assert!(tested.stdout.contains("10 passed"), "{}", tested.output());
        assert!(self.objects().is_empty(), "{:?}", self.objects());
        p
    }

    /// The engine's own socket, for the test's docker CLI.
    fn socket(&self) -> String {
        format!("unix://{}", self.dir.join("docker.sock").display())
    }

    fn wait_until_it_answers(&self) {
        for _ in 0..600 {
            let ok = Command::new("docker")
                .args(["-H", &self.socket(), "version", "-f", "{{.Server.Version}}"])
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "the remote dockerd did not answer:\n{}",
            std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
        );
    }

    /// A run this engine never let in: a fault (exit 3) naming the engine, nothing made.
    fn refused(&self, run: &common::Run) {
        assert_eq!(run.code, 3, "{}", run.output());
        assert!(
            run.stderr.contains(&self.host()),
            "the error names the engine: {}",
            run.output()
        );
        assert!(self.objects().is_empty(), "{:?}", self.objects());
    }

    /// envctl's objects left on the remote.
    fn objects(&self) -> Vec<String> {
        common::engine_objects(&self.socket())
    }
}

impl Drop for RemoteEngine {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.dir.join("docker.pid")).unwrap_or_default();
        if let Ok(pid) = pid.trim().parse::<i32>() {
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let _ = self.dockerd.wait();
        if let Some(mut sshd) = self.sshd.take() {
            let _ = sshd.kill();
            let _ = sshd.wait();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_link])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
        common::unmount_under(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A CA, a server certificate for `address` and a client certificate, as
/// `DIR/certs/{ca,server-cert,server-key}.pem` and `DIR/certs/client/{ca,cert,key}.pem`
/// (the names the docker CLI looks for in `DOCKER_CERT_PATH`).
fn certificates(dir: &std::path::Path, address: &str) {
    let certs = dir.join("certs");
    std::fs::create_dir_all(certs.join("client")).unwrap();
    let at = |name: &str| certs.join(name).display().to_string();
    let ssl = |args: &[&str]| common::must(&[&["openssl"][..], args].concat());
    ssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=envctl test CA",
        "-keyout",
        &at("ca-key.pem"),
        "-out",
        &at("ca.pem"),
    ]);
    let sign = |name: &str, subject: &str, ext: &str| {
        ssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            &at(&format!("{name}-key.pem")),
            "-out",
            &at(&format!("{name}.csr")),
        ]);
        std::fs::write(certs.join(format!("{name}.ext")), ext).unwrap();
        ssl(&[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            &at(&format!("{name}.csr")),
            "-CA",
            &at("ca.pem"),
            "-CAkey",
            &at("ca-key.pem"),
            "-CAcreateserial",
            "-extfile",
            &at(&format!("{name}.ext")),
            "-out",
            &at(&format!("{name}-cert.pem")),
        ]);
    };
    sign(
        "server",
        "/CN=remote engine",
        &format!("subjectAltName = IP:{address}\nextendedKeyUsage = serverAuth\n"),
    );
    sign("client", "/CN=envctl", "extendedKeyUsage = clientAuth\n");
    for (from, to) in [
        ("ca.pem", "client/ca.pem"),
        ("client-cert.pem", "client/cert.pem"),
        ("client-key.pem", "client/key.pem"),
    ] {
        std::fs::copy(certs.join(from), certs.join(to)).unwrap();
    }
}

/// A web node served by Perl (the base image has it; the remote has no package mirror;
/// a client that hangs up early must not end it),
/// published on a fixed port, with an http health check, and a second one with a tcp
/// health check; specs of every host-side kind and in-node ones, and a goss file.
const WEB: &str = r#"
[nodes.web]
image = "debian:bookworm"
ports = ["18431:8000"]
provision = [{ shell = "echo provisioned > /etc/provisioned" }]
command = ["perl", "-MIO::Socket::INET", "-e", "$SIG{PIPE} = q(IGNORE); $s = IO::Socket::INET->new(LocalPort => 8000, Listen => 16, ReuseAddr => 1) or die $!; while ($c = $s->accept) { while (<$c>) { last if /^\\r?$/ } print $c qq(HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nhello from web\\n); close $c }"]
health = { http = "http://localhost:8000/" }

[nodes.echo]
image = "debian:bookworm"
command = ["perl", "-MIO::Socket::INET", "-e", "$s = IO::Socket::INET->new(LocalPort => 7000, Listen => 16, ReuseAddr => 1) or die $!; while ($c = $s->accept) { close $c }"]
health = { tcp = 7000 }
"#;

/// How many assertions [`SPECS`] and [`GOSS`] make together.
const ASSERTIONS: &str = "9 passed";

const SPECS: &str = r#"
[[http]]
title = "the page, from the host"
url = "http://web:8000/"
status = 200
body = ["hello from web"]

[[tcp]]
title = "the port accepts"
address = "web:8000"

[[tcp]]
title = "nothing on port 9"
address = "web:9"
reachable = false

[[tcp]]
title = "the tcp-health node accepts"
address = "echo:7000"

[[file]]
title = "provisioned"
node = "web"
path = "/etc/provisioned"
contains = ["provisioned"]

[[command]]
title = "perl serves"
node = "web"
run = "cat /proc/1/comm"
stdout = ["perl"]

[[port]]
node = "web"
port = "tcp:8000"

[[dns]]
node = "web"
host = "echo"
"#;

/// A goss file for the web node: its `addr` and `http` run inside the node.
const GOSS: &str = "addr:\n  tcp://echo:7000:\n    reachable: true\n";

#[test]
fn host_side_checks_reach_the_nodes_of_an_engine_whose_ports_the_host_cannot_reach() {
    let remote = RemoteEngine::start(Transport::Tcp);
    // What the host cannot do: the published port is on the remote's loopback.
    assert!(
        std::net::TcpStream::connect_timeout(
            &format!("{}:18431", remote.address).parse().unwrap(),
            std::time::Duration::from_secs(2)
        )
        .is_err(),
        "the remote's published port must not be reachable from the host"
    );
    let p = remote.web_passes();
    remote.systemd_passes();
    remote.ansible_passes();

    // The other direction, through the same path: a page that says something else and
    // a port that does answer fail the run.
    p.file(
        "specs/web/web.toml",
        SPECS
            .replace("body = [\"hello from web\"]", "body = [\"goodbye\"]")
            .replace("address = \"web:9\"", "address = \"web:8000\""),
    );
    remote.envctl(&p, &["up", "web"]).expect(0);
    let status = remote.envctl(&p, &["status", "web"]).expect(0);
    assert!(
        status.stdout.contains("run from its probe container"),
        "status says where checks run from: {}",
        status.output()
    );
    let failed = remote.envctl(&p, &["verify", "web"]);
    assert_eq!(failed.code, 1, "{}", failed.output());
    assert!(failed.stdout.contains("2 failed"), "{}", failed.output());
    remote.envctl(&p, &["down", "web"]).expect(0);
    assert!(
        remote.objects().is_empty(),
        "down leaves nothing on the remote: {:?}",
        remote.objects()
    );

    // A tcp health check whose port nothing listens on (published, so the remote's
    // proxy accepts on it) never passes through the probe container: exit 3, nothing left.
    let silent = Project::empty();
    silent.file(
        "environments/silent.toml",
        "[nodes.silent]\nimage = \"debian:bookworm\"\nports = [\"18432:7000\"]\nhealth = { tcp = 7000, interval = \"100ms\", timeout = \"3s\" }\n",
    );
    let unhealthy = remote.envctl(&silent, &["up", "silent"]);
    assert_eq!(unhealthy.code, 3, "{}", unhealthy.output());
    assert!(
        unhealthy
            .stderr
            .contains("node `silent` did not become healthy"),
        "{}",
        unhealthy.output()
    );
    assert!(remote.objects().is_empty(), "{:?}", remote.objects());
}

#[test]
fn the_same_over_tls_with_the_docker_clis_variables_and_only_with_the_right_certificates() {
    let remote = RemoteEngine::start(Transport::Tls);
    let p = remote.web_passes();
    remote.systemd_passes();
    // Ansible's Docker connection reaches the node through envctl's local socket, which
    // envctl carries over TLS with the same certificates.
    remote.ansible_passes();
    remote.demo_passes();
    // Without the client certificates nothing runs: a clear fault naming the engine.
    let elsewhere = tempfile::tempdir().unwrap();
    let refused = p.run_env(
        &["test", "web"],
        &[
            ("DOCKER_HOST", remote.host().as_str()),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", elsewhere.path().to_str().unwrap()),
        ],
    );
    remote.refused(&refused);

    // The same engine as a Docker context the docker CLI made (its certificates copied
    // into the context's store) and chose: envctl, given nothing but DOCKER_CONFIG,
    // runs there.
    let config = remote.dir.join("docker-config");
    let certs = remote.dir.join("certs/client");
    let cli = |args: &[&str]| {
        let out = Command::new("docker")
            .env("DOCKER_CONFIG", &config)
            .env_remove("DOCKER_HOST")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let endpoint = format!(
        "host={},ca={},cert={},key={}",
        remote.host(),
        certs.join("ca.pem").display(),
        certs.join("cert.pem").display(),
        certs.join("key.pem").display()
    );
    cli(&["context", "create", "remote", "--docker", &endpoint]);
    cli(&["context", "use", "remote"]);
    let config_var = config.display().to_string();
    let by_context = [("DOCKER_CONFIG", config_var.as_str())];
    p.run_env(&["up", "web"], &by_context).expect(0);
    let on_remote = remote.objects();
    assert!(
        on_remote.iter().any(|o| o.ends_with(".web")),
        "the context's engine runs the node: {on_remote:?}"
    );
    p.run_env(&["down", "web"], &by_context).expect(0);
    assert!(remote.objects().is_empty(), "{:?}", remote.objects());
    // A context that does not exist is a fault naming it; nothing runs anywhere.
    let missing = p.run_env(
        &["up", "web"],
        &[
            ("DOCKER_CONFIG", config_var.as_str()),
            ("DOCKER_CONTEXT", "nowhere"),
        ],
    );
    assert_eq!(missing.code, 3, "{}", missing.output());
    assert!(missing.stderr.contains("`nowhere`"), "{}", missing.output());
}

/// A copy of the repository's demo (nodes, provisioning, specs, promotion).
fn demo() -> Project {
    Project::from_repo(&["environments", "provision/demo", "specs/demo"])
}

#[test]
fn the_demo_passes_and_promotes_on_a_remote_engine_with_its_images_carried_there() {
    let remote = RemoteEngine::start(Transport::Tcp);
    let p = remote.demo_passes();
    remote.envctl(&p, &["up", "demo"]).expect(0);
    // A promotion: the gate, the switch and the probe through the router, from the host.
    let promoted = remote.envctl(
        &p,
        &[
            "promote",
            "demo",
            "app",
            "--release",
            "GREETING=from afar",
            "--probe",
            "http://proxy:80/",
        ],
    );
    assert_eq!(promoted.code, 0, "{}", promoted.output());
    assert!(
        promoted.stderr.contains("probe http://proxy:80/"),
        "{}",
        promoted.output()
    );
    remote.envctl(&p, &["down", "demo"]).expect(0);
    assert!(
        remote.objects().is_empty(),
        "down leaves nothing on the remote: {:?}",
        remote.objects()
    );
}

/// A local image with python3, which Ansible needs in the node (the remote has no
/// package mirror to install it from). Built once and kept, as base images are.
fn python_image() -> &'static str {
    const IMAGE: &str = "envctl-test-python3:bookworm";
    let present = Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        let builder = common::unique_instance("python3-image");
        common::must(&[
            "docker",
            "run",
            "--name",
            &builder,
            "debian:bookworm",
            "sh",
            "-c",
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null && rm -rf /var/lib/apt/lists/*",
        ]);
        common::must(&["docker", "commit", &builder, IMAGE]);
        common::must(&["docker", "rm", &builder]);
    }
    IMAGE
}

/// A playbook with a template, run by Ansible on this host against a node of the remote.
const PLAYBOOK: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: the greeting
      ansible.builtin.copy:
        dest: /etc/greeting
        content: "{{ greeting }}\n"
"#;

#[test]
fn the_same_over_ssh_with_the_users_keys_and_ansible_through_envctls_socket() {
    let remote = RemoteEngine::start(Transport::Ssh);
    // The engine listens on nothing but its own socket: envctl can only come in by ssh.
    assert!(remote.host().starts_with("ssh://root@"));
    let p = remote.web_passes();
    remote.systemd_passes();

    // Ansible's Docker connection reaches the node over the same ssh, through envctl's
    // socket: the playbook and the idempotence check's second run.
    remote.ansible_passes();
    remote.demo_passes();

    // A machine whose key is not the one known: a clear fault naming the engine.
    std::fs::write(
        remote.dir.join("home/.ssh/known_hosts"),
        format!(
            "{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJlZnVzZWQgYnkgdGhlIHRlc3Qgb2YgZW52Y3Rs\n",
            remote.address
        ),
    )
    .unwrap();
    let refused = remote.envctl(&p, &["test", "web"]);
    remote.refused(&refused);
}
