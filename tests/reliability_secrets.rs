//! Secrets never appear in output, logs or reports, and files that held them are 0600.

mod common;

use common::Project;
use std::os::unix::fs::PermissionsExt;

const DB_PASSWORD: &str = "db-pw-5f3a9c21e7";
const API_TOKEN: &str = "tok-81b2d4c6aa";

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

[nodes.client]
provision = [{ shell = "echo provisioning with $DB_PASSWORD and $API_TOKEN" }]
"#,
    );
    p.file(
        "specs/sec/s.toml",
        r#"
[[command]]
title = "the node has both secrets"
node = "client"
run = "test ${#DB_PASSWORD} -eq 16 && test ${#API_TOKEN} -eq 14"

[[command]]
title = "a failure that prints them"
node = "client"
run = "echo password is $DB_PASSWORD; echo token $API_TOKEN >&2; exit 1"
stdout = ["nothing like this"]
"#,
    );
    p
}

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(DB_PASSWORD) && !text.contains(API_TOKEN),
        "{what} shows a secret:\n{text}"
    );
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

    // The provisioned image kept in the cache does not carry them either.
    let env_of_images = cached_image_env("sec");
    assert!(!env_of_images.is_empty());
    assert_clean("the cached image's environment", &env_of_images.join("\n"));
    p.run_env(&["down", "sec"], VARS).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_failing_step_that_prints_a_secret_shows_it_redacted() {
    let p = project();
    p.file(
        "environments/leak.toml",
        "extends = \"sec\"\n[nodes.client]\nprovision = [{ shell = \"echo token=$API_TOKEN; exit 7\" }]\n",
    );
    let run = p.run_env(&["test", "leak"], VARS).expect(3);
    assert!(run.stderr.contains("token=[redacted]"), "{}", run.stderr);
    assert_clean("a provisioning failure", &run.output());
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
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
