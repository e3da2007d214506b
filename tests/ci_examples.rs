//! The CI examples in examples/ci/ work: the commands each one runs (its `run:` steps,
//! `script:` lines or `sh` steps, with its variables) run here in a copy of the demo
//! project, one after the other with one cache directory between them, as three CI jobs
//! would: the first provisions and saves the cache, the next ones load it, and a failing
//! one leaves its failure bundle. Only installing envctl is left out: the suite has
//! built it, and it is put on PATH.

use crate::common;
use common::Project;
use saphyr::{LoadableYamlNode, Yaml};
use std::path::Path;
use std::process::Command;

/// A CI job as an example describes it: its variables and its commands, in order.
struct Job {
    name: &'static str,
    vars: Vec<(String, String)>,
    commands: Vec<String>,
}

fn example(name: &str) -> String {
    std::fs::read_to_string(common::repo().join("examples/ci").join(name)).unwrap()
}

fn yaml(name: &str) -> Yaml<'static> {
    let text: &'static str = Box::leak(example(name).into_boxed_str());
    Yaml::load_from_str(text)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .remove(0)
}

fn text(node: &Yaml) -> String {
    node.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| node.as_integer().map(|i| i.to_string()).unwrap_or_default())
}

fn pairs(node: &Yaml) -> Vec<(String, String)> {
    node.as_mapping()
        .map(|m| m.iter().map(|(k, v)| (text(k), text(v))).collect())
        .unwrap_or_default()
}

fn github() -> Job {
    let doc = yaml("github-actions.yml");
    let job = &doc["jobs"]["test"];
    let commands = job["steps"]
        .as_sequence()
        .expect("steps")
        .iter()
        .filter_map(|step| step.as_mapping_get("run")?.as_str().map(str::to_string))
        .collect();
    Job {
        name: "github-actions.yml",
        vars: pairs(&job["env"]),
        commands,
    }
}

fn gitlab() -> Job {
    let doc = yaml("gitlab-ci.yml");
    let job = &doc["envctl"];
    Job {
        name: "gitlab-ci.yml",
        vars: pairs(&job["variables"]),
        commands: job["script"]
            .as_sequence()
            .expect("script")
            .iter()
            .map(text)
            .collect(),
    }
}

/// The Jenkinsfile's `environment { KEY = 'value' }` entries and `sh '...'` steps.
fn jenkins() -> Job {
    let text = example("Jenkinsfile");
    let quoted = |line: &str| -> Option<String> {
        let (start, end) = (line.find(['\'', '"'])?, line.rfind(['\'', '"'])?);
        (end > start).then(|| line[start + 1..end].to_string())
    };
    let mut vars = Vec::new();
    let mut commands = Vec::new();
    let mut in_environment = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with("//") {
            continue;
        }
        if line.starts_with("environment {") {
            in_environment = true;
        } else if in_environment && line == "}" {
            in_environment = false;
        } else if in_environment {
            if let Some((key, _)) = line.split_once('=') {
                vars.push((key.trim().to_string(), quoted(line).unwrap_or_default()));
            }
        } else if line.starts_with("sh ") {
            commands.push(quoted(line).expect("sh 'COMMAND'"));
        }
    }
    Job {
        name: "Jenkinsfile",
        vars,
        commands,
    }
}

/// What one job printed and how it ended.
struct Ended {
    code: i32,
    output: String,
}

/// Runs the job's commands in `dir` with envctl on PATH, like its CI system would (each
/// command in `sh -e`, stopping at the first that fails). `${...}` values of the CI
/// system's own (secrets, the workspace) are given here.
fn run(job: &Job, dir: &Path, instance: &str, extra: &[(&str, String)]) -> Ended {
    let bin = Path::new(env!("CARGO_BIN_EXE_envctl")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut output = String::new();
    for command in &job.commands {
        if command.contains("cargo install") {
            assert!(
                command.contains("cargo install --locked --path ."),
                "{}: {command}",
                job.name
            );
            continue;
        }
        let mut cmd = Command::new("sh");
        cmd.arg("-ec").arg(command).current_dir(dir);
        for (k, v) in &job.vars {
            let value = if v.contains("${") {
                match k.as_str() {
                    "ENVCTL_MACHINE_KEY" => "ci-examples-shared-machine-key".to_string(),
                    "ENVCTL_CACHE_DIR" => dir.join(".envctl-cache").display().to_string(),
                    other => panic!("{}: no value for {other} = {v}", job.name),
                }
            } else {
                v.clone()
            };
            cmd.env(k, value);
        }
        // What the CI system's secret store gives every job (GitLab's masked variable,
        // Jenkins' credentials), unless the example names it itself.
        if !job.vars.iter().any(|(k, _)| k == "ENVCTL_MACHINE_KEY") {
            cmd.env("ENVCTL_MACHINE_KEY", "ci-examples-shared-machine-key");
        }
        cmd.env("PATH", &path).env("ENVCTL_INSTANCE", instance);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        output.push_str(&String::from_utf8_lossy(&out.stdout));
        output.push_str(&String::from_utf8_lossy(&out.stderr));
        let code = out.status.code().unwrap_or(-1);
        if code != 0 {
            return Ended { code, output };
        }
    }
    Ended { code: 0, output }
}

#[test]
fn each_ci_example_runs_its_commands_warm_from_the_cache_and_leaves_a_bundle_on_failure() {
    let p = Project::from_repo(&[
        "environments/demo.toml",
        "provision/demo",
        "specs/demo",
        "examples/ci",
    ]);
    let jobs = [github(), gitlab(), jenkins()];
    for job in &jobs {
        assert!(
            job.commands
                .iter()
                .any(|c| c.contains("examples/ci/envctl-ci.sh")),
            "{} does not run envctl-ci.sh: {:?}",
            job.name,
            job.commands
        );
        assert!(
            job.vars
                .iter()
                .any(|(k, v)| k == "ENVCTL_ENV" && v == "demo"),
            "{}: {:?}",
            job.name,
            job.vars
        );
    }
    let [github, gitlab, jenkins] = jobs;

    // GitHub Actions, cold: the cache directory is empty; the job saves it.
    let summary = p.path().join("step-summary.md");
    let outputs = p.path().join("github-output");
    let ended = run(
        &github,
        p.path(),
        &p.instance,
        &[
            ("GITHUB_ACTIONS", "true".to_string()),
            ("GITHUB_STEP_SUMMARY", summary.display().to_string()),
            ("GITHUB_OUTPUT", outputs.display().to_string()),
        ],
    );
    assert_eq!(ended.code, 0, "{}", ended.output);
    assert!(ended.output.contains("cache: saved"), "{}", ended.output);
    let key = std::fs::read_to_string(&outputs).unwrap();
    assert!(key.starts_with("key=envctl-demo-"), "{key}");
    assert!(std::fs::read_to_string(&summary).unwrap().contains("demo"));
    let junit = std::fs::read_to_string(p.path().join("reports/junit.xml")).unwrap();
    assert!(
        junit.contains("<testcase") && !junit.contains("<failure"),
        "{junit}"
    );
    assert!(
        !p.path().join("reports/bundle").exists(),
        "a pass wrote a bundle"
    );
    let cached: Vec<_> = std::fs::read_dir(p.path().join(".envctl-cache"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");

    // GitLab CI, the next job: the cache is restored and loaded.
    std::fs::remove_dir_all(p.path().join("reports")).unwrap();
    let ended = run(&gitlab, p.path(), &p.instance, &[]);
    assert_eq!(ended.code, 0, "{}", ended.output);
    assert!(ended.output.contains("cache: loading"), "{}", ended.output);
    assert!(!ended.output.contains("cache: saved"), "{}", ended.output);
    assert!(p.path().join("reports/junit.xml").is_file());

    // Jenkins, with a spec that fails: exit 1, the bundle is kept, the cache is not
    // written again.
    p.file(
        "specs/demo/zz_failing.toml",
        "[[command]]\ntitle = \"fails on purpose\"\nnode = \"proxy\"\nrun = \"echo ci-example-failure; exit 1\"\nexit = 0\n",
    );
    let ended = run(&jenkins, p.path(), &p.instance, &[]);
    assert_eq!(ended.code, 1, "{}", ended.output);
    assert!(ended.output.contains("cache: loading"), "{}", ended.output);
    assert!(
        p.path().join("reports/bundle/nodes/proxy.log").is_file(),
        "{}",
        ended.output
    );
    let junit = std::fs::read_to_string(p.path().join("reports/junit.xml")).unwrap();
    assert!(
        junit.contains("fails_on_purpose") && junit.contains("<failure"),
        "{junit}"
    );
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
