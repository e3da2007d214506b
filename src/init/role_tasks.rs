//! A spec skeleton from a role's tasks: what `tasks/main.yml` plainly says it makes (files
//! it copies, templates or creates, packages, services, users, groups) becomes an
//! assertion about the node. Values that hold Jinja (`{{ ... }}`) are left to the person.

use crate::model::yaml::{Node, Value};

/// Most assertions a skeleton gets: it is a start, not a translation.
const MAX_ASSERTIONS: usize = 20;

/// TOML assertion tables about `node` for what `tasks` (a task list) makes.
pub fn assertions(tasks: &Node, node: &str) -> Vec<String> {
    let mut out = Vec::new();
    walk(tasks, node, &mut out);
    out.dedup();
    out.truncate(MAX_ASSERTIONS);
    out
}

fn walk(tasks: &Node, node: &str, out: &mut Vec<String>) {
    let Value::Seq(items) = &tasks.value else {
        return;
    };
    for task in items {
        for nested in ["block", "rescue", "always"] {
            if let Some(list) = task.get(nested) {
                walk(list, node, out);
            }
        }
        for (key, args) in task.entries() {
            let Some(module) = key.as_key() else {
                continue;
            };
            let module = module
                .strip_prefix("ansible.builtin.")
                .unwrap_or(&module)
                .to_string();
            let args = Args::of(args);
            out.extend(assertion(&module, &args, node));
        }
    }
}

/// One task's arguments, from a mapping or Ansible's `key=value` string.
struct Args(Vec<(String, String)>, Vec<String>);

impl Args {
    fn of(node: &Node) -> Args {
        match &node.value {
            Value::Map(entries) => {
                let mut scalars = Vec::new();
                let mut names = Vec::new();
                for (k, v) in entries {
                    let Some(k) = k.as_key() else { continue };
                    match &v.value {
                        Value::Seq(items) if k == "name" || k == "pkg" => {
                            names.extend(items.iter().filter_map(|i| i.as_str().map(String::from)))
                        }
                        Value::Bool(b) => scalars.push((k, if *b { "yes" } else { "no" }.into())),
                        _ => {
                            if let Some(s) = v.as_str() {
                                scalars.push((k, s.to_string()));
                            }
                        }
                    }
                }
                Args(scalars, names)
            }
            Value::Str(s) => Args(
                s.split_whitespace()
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                Vec::new(),
            ),
            _ => Args(Vec::new(), Vec::new()),
        }
    }

    /// A plain value (no Jinja) of the first of `keys` given.
    fn get(&self, keys: &[&str]) -> Option<&str> {
        keys.iter()
            .find_map(|k| self.0.iter().find(|(n, _)| n == k))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.contains("{{") && !v.contains("{%"))
    }

    /// The names given (`name: [a, b]`, `name: a`, `name: a,b`), without Jinja.
    fn names(&self) -> Vec<String> {
        let mut names = self.1.clone();
        if names.is_empty() {
            if let Some(n) = self.get(&["name", "pkg"]) {
                names.extend(n.split(',').map(|s| s.trim().to_string()));
            }
        }
        names.retain(|n| !n.is_empty() && !n.contains("{{") && !n.contains('/'));
        names
    }

    fn is(&self, key: &str, yes: bool) -> bool {
        self.get(&[key]).is_some_and(|v| {
            let truthy = matches!(v.to_ascii_lowercase().as_str(), "yes" | "true" | "1");
            truthy == yes
        })
    }
}

fn assertion(module: &str, args: &Args, node: &str) -> Vec<String> {
    let node = super::toml_str(node);
    let table = |kind: &str, title: String, body: String| {
        format!(
            "[[{kind}]]\ntitle = {}\nnode = {node}\n{body}",
            super::toml_str(&title)
        )
    };
    let absent = args.get(&["state"]) == Some("absent");
    match module {
        "copy" | "template" => args
            .get(&["dest"])
            .filter(|d| d.starts_with('/') && !d.ends_with('/'))
            .map(|dest| {
                let mut body = format!("path = {}\nexists = true\n", super::toml_str(dest));
                if let Some(mode) = args.get(&["mode"]).filter(|m| is_octal_mode(m)) {
                    body.push_str(&format!("mode = {}\n", super::toml_str(&octal(mode))));
                }
                table("file", format!("{dest} is in place"), body)
            })
            .into_iter()
            .collect(),
        "file" => {
            let Some(path) = args
                .get(&["path", "dest", "name"])
                .filter(|p| p.starts_with('/'))
            else {
                return Vec::new();
            };
            let body = match args.get(&["state"]) {
                Some("absent") => "exists = false\n".to_string(),
                Some("directory") => "exists = true\nfiletype = \"directory\"\n".into(),
                Some("touch" | "file" | "link" | "hard") => "exists = true\n".into(),
                _ => return Vec::new(),
            };
            let what = if absent { "is absent" } else { "is in place" };
            vec![table(
                "file",
                format!("{path} {what}"),
                format!("path = {}\n{body}", super::toml_str(path)),
            )]
        }
        "apt" | "package" | "dnf" | "yum" => args
            .names()
            .into_iter()
            .map(|name| {
                let what = if absent {
                    "is not installed"
                } else {
                    "is installed"
                };
                table(
                    "package",
                    format!("package {name} {what}"),
                    format!(
                        "name = {}\ninstalled = {}\n",
                        super::toml_str(&name),
                        !absent
                    ),
                )
            })
            .collect(),
        "service" | "systemd" | "systemd_service" => {
            let Some(name) = args.get(&["name"]) else {
                return Vec::new();
            };
            let mut body = format!("name = {}\n", super::toml_str(name));
            match args.get(&["state"]) {
                Some("started" | "restarted" | "reloaded") => body.push_str("running = true\n"),
                Some("stopped") => body.push_str("running = false\n"),
                _ => {}
            }
            if args.is("enabled", true) {
                body.push_str("enabled = true\n");
            } else if args.is("enabled", false) {
                body.push_str("enabled = false\n");
            }
            if !body.contains("running") && !body.contains("enabled") {
                return Vec::new();
            }
            vec![table("service", format!("service {name}"), body)]
        }
        "user" | "group" => {
            let Some(name) = args.get(&["name"]) else {
                return Vec::new();
            };
            let what = if absent { "does not exist" } else { "exists" };
            vec![table(
                module,
                format!("{module} {name} {what}"),
                format!("name = {}\nexists = {}\n", super::toml_str(name), !absent),
            )]
        }
        _ => Vec::new(),
    }
}

fn is_octal_mode(mode: &str) -> bool {
    (3..=4).contains(&mode.len()) && mode.chars().all(|c| ('0'..='7').contains(&c))
}

/// `644` or `0644` as `0644`.
fn octal(mode: &str) -> String {
    format!("{mode:0>4}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(yaml: &str) -> Vec<String> {
        assertions(&crate::model::yaml::parse(yaml).unwrap(), "web")
    }

    #[test]
    fn plain_tasks_become_assertions() {
        let got = of("- name: page\n  ansible.builtin.copy:\n    content: hi\n    dest: /srv/page.txt\n    mode: '0644'\n- apt:\n    name: [nginx-light, curl]\n- service:\n    name: nginx\n    state: started\n    enabled: true\n- file: path=/srv/data state=directory\n- user:\n    name: app\n");
        let text = got.join("\n");
        assert!(
            text.contains("path = \"/srv/page.txt\"\nexists = true\nmode = \"0644\""),
            "{text}"
        );
        assert!(
            text.contains("name = \"nginx-light\"\ninstalled = true"),
            "{text}"
        );
        assert!(text.contains("name = \"curl\""), "{text}");
        assert!(
            text.contains("name = \"nginx\"\nrunning = true\nenabled = true"),
            "{text}"
        );
        assert!(
            text.contains("path = \"/srv/data\"\nexists = true\nfiletype = \"directory\""),
            "{text}"
        );
        assert!(text.contains("[[user]]"), "{text}");
    }

    #[test]
    fn jinja_values_and_unknown_modules_are_left_out() {
        assert!(
            of("- copy:\n    dest: \"{{ root }}/x\"\n- debug: msg=hi\n- command: ls\n").is_empty()
        );
    }

    #[test]
    fn blocks_are_read_too() {
        let got = of("- block:\n    - template:\n        src: a.j2\n        dest: /etc/a.conf\n");
        assert_eq!(got.len(), 1, "{got:?}");
    }
}
