//! envctl.toml: project defaults read by every verb (and the Vagrantfile through
//! `vagrant-config`); the command line wins; a bad file is invalid input naming its
//! line and field, before anything is created.

use crate::common;
use common::Project;

/// The web fixture with a second environment, so that a verb needs to be told which.
fn two_environments() -> Project {
    let p = Project::fixture("web");
    p.file(
        "environments/other.toml",
        "extends = \"web\"\ndescription = \"a second environment\"\n",
    );
    p
}

#[test]
fn the_default_environment_and_report_paths_are_used_when_the_command_line_names_none() {
    let p = two_environments();
    // Without envctl.toml the project's two environments need a name.
    let run = p.run(&["test"]).expect(2);
    assert!(run.stderr.contains("envctl.toml"), "{}", run.stderr);
    p.file(
        "envctl.toml",
        "environment = \"web\"\njobs = 2\n\n[reports]\njunit = \"reports/junit.xml\"\njson = \"reports/report.json\"\n",
    );
    // A filter alone: the environment comes from envctl.toml.
    let run = p.run(&["test", "marker"]).expect(0);
    assert!(run.stdout.contains("test web::"), "{}", run.stdout);
    let junit = std::fs::read_to_string(p.path().join("reports/junit.xml")).unwrap();
    assert!(junit.contains("<testcase"), "{junit}");
    assert!(p.path().join("reports/report.json").is_file());
    // The command line wins over the file.
    std::fs::remove_dir_all(p.path().join("reports")).unwrap();
    p.run(&["up"]).expect(0);
    let mine = p.path().join("mine.xml");
    p.run(&["verify", "marker", "--junit", mine.to_str().unwrap()])
        .expect(0);
    assert!(std::fs::read_to_string(&mine)
        .unwrap()
        .contains("<testcase"));
    assert!(!p.path().join("reports/junit.xml").exists());
    assert!(p.path().join("reports/report.json").is_file());
    p.run(&["down"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn vagrant_config_without_an_environment_takes_the_default_one() {
    let p = two_environments();
    p.file("envctl.toml", "environment = \"other\"\n");
    let run = p.run(&["vagrant-config"]).expect(0);
    let config: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(config["environment"], "other", "{}", run.stdout);
    p.file("envctl.toml", "environment = \"web\"\n");
    let run = p.run(&["vagrant-config"]).expect(0);
    let config: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(config["environment"], "web", "{}", run.stdout);
}

#[test]
fn the_default_engine_applies_to_environments_that_name_none_and_the_flag_wins() {
    let p = Project::fixture("web");
    p.file("envctl.toml", "engine = \"qemu\"\n");
    let run = p.run(&["up", "--no-cache"]).expect(2);
    assert!(
        run.stderr.contains("the qemu engine does not support"),
        "{}",
        run.stderr
    );
    // An environment that names its engine keeps it.
    p.file(
        "environments/web.toml",
        format!(
            "engine = \"docker\"\n{}",
            std::fs::read_to_string(common::fixtures().join("web/environments/web.toml")).unwrap()
        ),
    );
    let run = p
        .run(&["--engine", "vagrant", "up", "--no-cache"])
        .expect(2);
    assert!(run.stderr.contains("the vagrant engine"), "{}", run.stderr);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_bad_envctl_toml_exits_2_naming_line_and_field_and_creates_nothing() {
    let p = two_environments();
    for (text, line, field) in [
        ("environment = \"nope\"\n", 1, "environment"),
        ("jobs = 2\nengine = \"podman\"\n", 2, "engine"),
        ("jobs = 999\n", 1, "jobs"),
        (
            "[reports]\njunit = \"/etc/junit.xml\"\n",
            2,
            "reports.junit",
        ),
        ("[reports]\n\nhtml = \"../out.html\"\n", 3, "reports.html"),
        ("environmnet = \"web\"\n", 1, "environmnet"),
    ] {
        p.file("envctl.toml", text);
        for verb in [&["status", "web"][..], &["test", "web"], &["validate"]] {
            let run = p.run(verb).expect(2);
            assert!(
                run.stderr.contains(&format!("envctl.toml:{line}:")) && run.stderr.contains(field),
                "`envctl {}` with {text:?}:\n{}",
                verb.join(" "),
                run.stderr
            );
        }
    }
    assert!(!p.path().join("reports").exists());
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_report_path_through_a_symlink_that_leaves_the_project_is_refused() {
    let p = Project::fixture("web");
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), p.path().join("reports")).unwrap();
    p.file("envctl.toml", "[reports]\njunit = \"reports/junit.xml\"\n");
    let run = p.run(&["test"]).expect(2);
    assert!(run.stderr.contains("reports.junit"), "{}", run.stderr);
    assert!(
        !run.stderr.contains(&outside.path().display().to_string()),
        "{}",
        run.stderr
    );
    assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
