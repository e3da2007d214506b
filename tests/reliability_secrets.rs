//! Secrets never appear in output, logs or reports, and files that held them are 0600.

use crate::common;

use common::Project;
use std::os::unix::fs::PermissionsExt;

/// Hostile values: a quote, a backslash and unicode; several lines; entities and a quote.
const DB_PASSWORD: &str = "db-pw\"5f3a\\9c21-ünï-🔑";
const API_TOKEN: &str = "tok-line-one-81b2\ntok-line-two-d4c6\ntok-line-three-aa";
const INLINE: &str = "in'line<&>secret-42";
const ALL: &[&str] = &[DB_PASSWORD, API_TOKEN, INLINE];

fn sha256(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn project() -> Project {
    let p = Project::fixture("web");
    p.file("secrets/token", format!("{API_TOKEN}\n"));
    p.file(
        "environments/sec.toml",
        r#"
extends = "web"

[secrets]
DB_PASSWORD = { env = "ENVCTL_TEST_DB_PASSWORD" }
API_TOKEN = { file = "secrets/token" }
INLINE = { value = "in'line<&>secret-42" }

[nodes.client]
command = ["sh", "-c", "printf '%s\n' \"$API_TOKEN\" \"$DB_PASSWORD\"; exec sleep infinity"]
provision = [{ shell = "echo provisioning with $DB_PASSWORD and $INLINE; printf '%s\\n' \"$API_TOKEN\"" }]
"#,
    );
    p.file(
        "specs/sec/s.toml",
        format!(
            r#"
[[command]]
title = "the node has every secret"
node = "client"
run = "printf %s \"$DB_PASSWORD\" | sha256sum; printf %s \"$API_TOKEN\" | sha256sum; printf %s \"$INLINE\" | sha256sum"
stdout = ["{}", "{}", "{}"]

[[command]]
title = "a failure that prints them"
node = "client"
run = "echo password is $DB_PASSWORD; echo token \"$API_TOKEN\" >&2; echo \"$INLINE\"; exit 1"
stdout = ["nothing like this"]
"#,
            sha256(DB_PASSWORD),
            sha256(API_TOKEN),
            sha256(INLINE)
        ),
    );
    p
}

fn assert_clean(what: &str, text: &str) {
    let shown = common::shown_secrets(text, ALL);
    assert!(shown.is_empty(), "{what} shows {shown:?}:\n{text}");
}

const VARS: &[(&str, &str)] = &[("ENVCTL_TEST_DB_PASSWORD", DB_PASSWORD)];

#[test]
fn secrets_reach_nodes_but_never_output_reports_or_logs() {
    let p = project();
    let junit = p.path().join("r.xml");
    let json = p.path().join("r.json");
    let tap = p.path().join("r.tap");
    let html = p.path().join("r.html");
    let evidence = p.path().join("evidence.json");
    let run = p
        .run_env(
            &[
                "test",
                "sec",
                "--keep",
                // Provision now (not from an earlier run's cache), so its log is fresh.
                "--no-cache",
                "--junit",
                junit.to_str().unwrap(),
                "--json",
                json.to_str().unwrap(),
                "--tap",
                tap.to_str().unwrap(),
                "--html",
                html.to_str().unwrap(),
                "--evidence",
                evidence.to_str().unwrap(),
            ],
            VARS,
        )
        .expect(1);
    // The first spec passed: the nodes got the values.
    assert!(run.stdout.contains("1 passed; 1 failed"), "{}", run.stdout);
    assert!(run.output().contains("[redacted]"), "{}", run.output());
    assert_clean("test output", &run.output());
    for report in [&junit, &json, &tap, &html] {
        let text = std::fs::read_to_string(report).unwrap();
        assert!(text.contains("[redacted]"), "{}: {text}", report.display());
        assert_clean("a report", &text);
    }
    assert_clean("evidence", &std::fs::read_to_string(&evidence).unwrap());

    let log = p.path().join(format!(
        ".envctl/logs/sec/{}/client.provision.log",
        p.instance
    ));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("provisioning with [redacted] and [redacted]"),
        "{text}"
    );
    assert_clean("the provisioning log", &text);
    assert_eq!(
        std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let logs = p
        .run_env(&["logs", "sec", "client", "--provision"], VARS)
        .expect(0);
    assert_clean("logs --provision", &logs.output());
    let exec = p
        .run_env(
            &[
                "exec",
                "sec",
                "client",
                "--",
                "sh",
                "-c",
                "echo $DB_PASSWORD; echo $API_TOKEN >&2",
            ],
            VARS,
        )
        .expect(0);
    assert_eq!(exec.stdout.trim(), "[redacted]");
    assert_clean("exec", &exec.output());
    // The node's own output, whole and from its last lines, which cut the token.
    let logs = p.run_env(&["logs", "sec", "client"], VARS).expect(0);
    assert!(logs.stdout.contains("[redacted]"), "{}", logs.stdout);
    assert_clean("logs", &logs.output());
    let tail = p
        .run_env(&["logs", "sec", "client", "--tail", "2"], VARS)
        .expect(0);
    assert_clean("logs --tail", &tail.output());
    // What the Vagrantfile reads is for the Vagrantfile only.
    let config = p.run_env(&["vagrant-config", "sec"], VARS).expect(0);
    assert!(config.stdout.contains("[redacted]"), "{}", config.stdout);
    assert_clean("vagrant-config", &config.output());
    let piped = p
        .run_env(&["vagrant-config", "sec", "--with-secrets"], VARS)
        .expect(0);
    assert!(piped.stdout.contains("secret-42"), "{}", piped.stdout);

    // The provisioned image kept in the cache does not carry them either.
    let env_of_images = cached_image_env("sec");
    assert!(!env_of_images.is_empty());
    assert_clean("the cached image's environment", &env_of_images.join("\n"));
    p.run_env(&["down", "sec"], VARS).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    common::assert_no_secret_under_envctl(p.path(), ALL);
    for (path, _) in common::files_under(&p.path().join(".envctl")) {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        if path.to_string_lossy().contains("/logs/") {
            assert_eq!(mode & 0o077, 0, "{} is readable by others", path.display());
        }
    }
    for report in [&junit, &json, &tap, &html, &evidence] {
        let mode = std::fs::metadata(report).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", report.display());
    }
}

#[test]
fn a_failing_step_that_prints_a_secret_shows_it_redacted() {
    let p = project();
    p.file(
        "environments/leak.toml",
        "extends = \"sec\"\n[nodes.client]\nprovision = [{ shell = \"echo token=$API_TOKEN; echo pw=$DB_PASSWORD; exit 7\" }]\n",
    );
    let run = p.run_env(&["test", "leak"], VARS).expect(3);
    assert!(run.stderr.contains("token=[redacted]"), "{}", run.stderr);
    assert!(run.stderr.contains("pw=[redacted]"), "{}", run.stderr);
    assert_clean("a provisioning failure", &run.output());
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
    common::assert_no_secret_under_envctl(p.path(), ALL);
}

#[test]
fn a_secret_from_an_unset_variable_exits_2_naming_it() {
    let p = project();
    let run = p.run(&["validate", "sec"]).expect(2);
    assert!(
        run.stderr.contains("environments/sec.toml:5:")
            && run.stderr.contains("`secrets.DB_PASSWORD.env`")
            && run.stderr.contains("ENVCTL_TEST_DB_PASSWORD"),
        "{}",
        run.stderr
    );
}

fn cached_image_env(environment: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let docker = bollard::Docker::connect_with_defaults().unwrap();
        let filters = std::collections::HashMap::from([(
            "label".to_string(),
            vec![format!("io.envctl.environment={environment}")],
        )]);
        let images = docker
            .list_images(Some(
                bollard::query_parameters::ListImagesOptionsBuilder::new()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .unwrap();
        let mut env = Vec::new();
        for image in images {
            let details = docker.inspect_image(&image.id).await.unwrap();
            env.extend(details.config.and_then(|c| c.env).unwrap_or_default());
        }
        env
    })
}
