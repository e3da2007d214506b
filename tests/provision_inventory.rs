//! Production's topology from an Ansible inventory, scaled down per group.

use crate::common;
use common::Project;

const INVENTORY: &str = "\
[web]
web1.prod.example.com
web2.prod.example.com
web3.prod.example.com

[db]
db1.prod.example.com
db2.prod.example.com
";

fn inventory_project(scale: &str) -> Project {
    let p = Project::empty();
    p.file("inventory/production.ini", INVENTORY);
    p.file(
        "environments/local.toml",
        format!(
            r#"
[inventory]
file = "inventory/production.ini"
scale = {scale}

[inventory.node]
image = "debian:bookworm"
command = "sleep infinity"

[inventory.groups.web]
env = {{ ROLE = "web" }}
"#
        ),
    );
    p
}

#[test]
fn scaled_inventory_groups_become_nodes_named_after_their_hosts() {
    let p = inventory_project("{ web = 1 }");
    p.run(&["up", "local"]).expect(0);
    let status = p.run(&["status", "local"]).expect(0);
    let nodes: Vec<&str> = status
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| ["web1", "web2", "web3", "db1", "db2"].contains(w))
        .collect();
    assert_eq!(nodes, ["db1", "db2", "web1"], "{}", status.stdout);
    // Group settings apply to the group's hosts only.
    let role = p
        .run(&["exec", "local", "web1", "--", "printenv", "ROLE"])
        .expect(0);
    assert_eq!(role.stdout.trim(), "web");
    p.run(&["exec", "local", "db1", "--", "printenv", "ROLE"])
        .expect(1);
    p.run(&["down", "local"]).expect(0);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_child_environment_scales_its_parent_inventory_further() {
    let p = inventory_project("{ web = 2 }");
    p.file(
        "environments/tiny.toml",
        "extends = \"local\"\n[inventory]\nscale = { web = 1, db = 0 }\n",
    );
    let run = p.run(&["validate", "local"]).expect(0);
    assert!(run.stdout.contains("4 nodes"), "{}", run.stdout);
    let run = p.run(&["validate", "tiny"]).expect(0);
    assert!(run.stdout.contains("1 node"), "{}", run.stdout);
}

#[test]
fn yaml_inventories_are_read_too() {
    let p = Project::empty();
    p.file(
        "inventory.yml",
        "all:\n  children:\n    web:\n      hosts:\n        web[1:4].example.com:\n    cache:\n      hosts:\n        redis1.example.com:\n",
    );
    p.file(
        "environments/local.toml",
        "[inventory]\nfile = \"inventory.yml\"\nscale = { web = 2 }\n[inventory.node]\nimage = \"debian:bookworm\"\n",
    );
    let run = p.run(&["validate", "local"]).expect(0);
    assert!(run.stdout.contains("3 nodes"), "{}", run.stdout);
}

#[test]
fn scaling_a_group_the_inventory_lacks_is_invalid_input() {
    let p = inventory_project("{ wbe = 1 }");
    let run = p.run(&["up", "local"]).expect(2);
    let err = run.stderr;
    assert!(err.contains("environments/local.toml:4:"), "{err}");
    assert!(err.contains("`inventory.scale`"), "{err}");
    assert!(err.contains("`wbe` is not a group"), "{err}");
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}

#[test]
fn a_broken_inventory_line_is_reported_with_its_file_and_line() {
    let p = inventory_project("{ web = 1 }");
    p.file("inventory/production.ini", "[web]\nweb1 port\n");
    let run = p.run(&["validate", "local"]).expect(2);
    assert!(
        run.stderr.contains("inventory/production.ini:2:"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_template_with_an_undefined_variable_is_invalid_input_naming_its_line() {
    let p = Project::empty();
    p.file(
        "environments/t.toml",
        "[vars]\ngreeting = \"hi\"\n[nodes.web]\nimage = \"debian:bookworm\"\nprovision = [\n  { template = \"site.j2\", to = \"/etc/site\" },\n]\n",
    );
    p.file("site.j2", "{{ greeting }}\n{{ gretting }}\n");
    let run = p.run(&["up", "t"]).expect(2);
    assert!(
        run.stderr.contains("environments/t.toml:6:"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("site.j2:2:"), "{}", run.stderr);
    assert!(run.stderr.contains("undefined"), "{}", run.stderr);
    assert!(p.leftovers().is_empty(), "{:?}", p.leftovers());
}
