//! Production's topology from an Ansible inventory (INI or YAML): hosts in file order,
//! each with the groups it belongs to (through `children` too) and its inline variables.
//! `scale` keeps the first N hosts of a group, so a local copy is "production, scaled
//! down" without a second list of hosts.

use super::yaml::{self, Node, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One inventory host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// As written in the inventory (`web1.prod.example.com`).
    pub name: String,
    /// Groups holding it, directly or through `children`, in file order (never `all` or
    /// `ungrouped`).
    pub groups: Vec<String>,
    /// Host variables (group `vars` first, overridden by the host's own).
    pub vars: BTreeMap<String, String>,
}

/// A parsed inventory.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub hosts: Vec<Host>,
    /// Every group name seen, in file order.
    pub groups: Vec<String>,
}

/// Why an inventory could not be read.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct InventoryError {
    pub line: usize,
    pub message: String,
}

/// Parses an inventory; YAML when `yaml` is set (`.yml`/`.yaml`), INI otherwise.
///
/// # Errors
/// [`InventoryError`] with the line of the problem.
pub fn parse(text: &str, yaml: bool) -> Result<Inventory, InventoryError> {
    let mut b = Builder::default();
    if yaml {
        parse_yaml(text, &mut b)?;
    } else {
        parse_ini(text, &mut b)?;
    }
    Ok(b.finish())
}

/// The node name for a host: its first DNS label, lowercased, with characters node
/// names do not allow replaced by `-`.
pub fn node_name(host: &str) -> String {
    let label = host.split('.').next().unwrap_or(host).to_ascii_lowercase();
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The hosts kept when group `g` is scaled to `scale[g]`: a host stays when every scaled
/// group it belongs to still has room.
pub fn scale(inventory: &Inventory, scale: &BTreeMap<String, u32>) -> Vec<Host> {
    // Only kept hosts count against a group's limit.
    let mut kept_in: BTreeMap<&str, u32> = BTreeMap::new();
    let mut kept = Vec::new();
    for host in &inventory.hosts {
        let fits = host.groups.iter().all(|g| {
            scale
                .get(g)
                .is_none_or(|limit| kept_in.get(g.as_str()).copied().unwrap_or(0) < *limit)
        });
        if fits {
            for g in &host.groups {
                *kept_in.entry(g.as_str()).or_default() += 1;
            }
            kept.push(host.clone());
        }
    }
    kept
}

/// Most hosts an inventory may list (after expanding ranges).
pub const MAX_HOSTS: usize = 100_000;

/// Collects hosts and groups as the file is read. Every lookup is through an index, so
/// reading is linear in the number of hosts (a range of a thousand hosts on each of many
/// lines costs no more per host than one host per line).
#[derive(Default)]
struct Builder {
    hosts: Vec<String>,
    host_vars: HashMap<String, BTreeMap<String, String>>,
    /// Host -> the groups that list it directly.
    direct: HashMap<String, BTreeSet<String>>,
    /// Group -> its children, as written.
    children: BTreeMap<String, Vec<String>>,
    group_vars: BTreeMap<String, BTreeMap<String, String>>,
    group_order: Vec<String>,
    group_index: HashMap<String, usize>,
}

impl Builder {
    fn group(&mut self, g: &str) {
        if !self.group_index.contains_key(g) {
            self.group_index
                .insert(g.to_string(), self.group_order.len());
            self.group_order.push(g.to_string());
        }
    }

    fn host(
        &mut self,
        group: &str,
        host: &str,
        vars: BTreeMap<String, String>,
    ) -> Result<(), String> {
        self.group(group);
        let groups = match self.direct.get_mut(host) {
            Some(groups) => groups,
            None => {
                if self.hosts.len() >= MAX_HOSTS {
                    return Err(format!("the inventory lists more than {MAX_HOSTS} hosts"));
                }
                self.hosts.push(host.to_string());
                self.direct.entry(host.to_string()).or_default()
            }
        };
        groups.insert(group.to_string());
        self.host_vars
            .entry(host.to_string())
            .or_default()
            .extend(vars);
        Ok(())
    }

    fn finish(self) -> Inventory {
        // Each group's ancestors through `children`, computed once per group.
        let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
        for (parent, kids) in &self.children {
            for k in kids {
                parents.entry(k.as_str()).or_default().push(parent.as_str());
            }
        }
        let mut ancestors: HashMap<&str, BTreeSet<&str>> = HashMap::new();
        let mut ancestors_of = |g: &str| -> BTreeSet<String> {
            if let Some(known) = ancestors.get(g) {
                return known.iter().map(|s| s.to_string()).collect();
            }
            let mut seen: BTreeSet<&str> = BTreeSet::new();
            let mut pending: Vec<&str> = parents.get(g).cloned().unwrap_or_default();
            while let Some(p) = pending.pop() {
                if seen.insert(p) {
                    pending.extend(parents.get(p).into_iter().flatten().copied());
                }
            }
            let out = seen.iter().map(|s| s.to_string()).collect();
            if let Some((key, _)) = self.group_index.get_key_value(g) {
                ancestors.insert(key.as_str(), seen);
            }
            out
        };
        let mut hosts = Vec::with_capacity(self.hosts.len());
        for h in &self.hosts {
            let mut all: BTreeSet<String> = BTreeSet::new();
            for g in self.direct.get(h).into_iter().flatten() {
                all.insert(g.clone());
                all.extend(ancestors_of(g));
            }
            let mut groups: Vec<String> = all
                .into_iter()
                .filter(|g| g != "all" && g != "ungrouped")
                .collect();
            groups.sort_by_key(|g| self.group_index.get(g).copied().unwrap_or(usize::MAX));
            let mut vars = BTreeMap::new();
            for g in std::iter::once("all").chain(groups.iter().map(String::as_str)) {
                if let Some(v) = self.group_vars.get(g) {
                    vars.extend(v.clone());
                }
            }
            vars.extend(self.host_vars.get(h).cloned().unwrap_or_default());
            hosts.push(Host {
                name: h.clone(),
                groups,
                vars,
            });
        }
        let groups = self
            .group_order
            .into_iter()
            .filter(|g| g != "all" && g != "ungrouped")
            .collect();
        Inventory { hosts, groups }
    }
}

fn parse_ini(text: &str, b: &mut Builder) -> Result<(), InventoryError> {
    enum Section {
        Hosts(String),
        Vars(String),
        Children(String),
    }
    let mut section = Section::Hosts("ungrouped".into());
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let err = |message: String| InventoryError {
            line: line_no,
            message,
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            let header = header
                .strip_suffix(']')
                .ok_or_else(|| err(format!("unclosed section header `{line}`")))?;
            let (name, kind) = header.split_once(':').unwrap_or((header, ""));
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(err(format!("`{name}` is not a group name")));
            }
            b.group(name);
            section = match kind {
                "" => Section::Hosts(name.into()),
                "vars" => Section::Vars(name.into()),
                "children" => Section::Children(name.into()),
                other => {
                    return Err(err(format!(
                        "unknown section kind `:{other}` (use :vars or :children)"
                    )))
                }
            };
            continue;
        }
        match &section {
            Section::Hosts(group) => {
                let mut words = line.split_whitespace();
                let pattern = words.next().unwrap_or_default();
                let vars = words
                    .map(|w| key_value(w).ok_or_else(|| err(format!("`{w}` is not key=value"))))
                    .collect::<Result<BTreeMap<_, _>, _>>()?;
                for host in expand_range(pattern).map_err(err)? {
                    b.host(group, &host, vars.clone()).map_err(err)?;
                }
            }
            Section::Vars(group) => {
                let (k, v) = line
                    .split_once('=')
                    .ok_or_else(|| err(format!("`{line}` is not key=value")))?;
                b.group_vars
                    .entry(group.clone())
                    .or_default()
                    .insert(k.trim().into(), unquote(v.trim()));
            }
            Section::Children(group) => {
                b.group(line);
                b.children
                    .entry(group.clone())
                    .or_default()
                    .push(line.to_string());
            }
        }
    }
    Ok(())
}

fn key_value(word: &str) -> Option<(String, String)> {
    let (k, v) = word.split_once('=')?;
    (!k.is_empty()).then(|| (k.to_string(), unquote(v)))
}

fn unquote(v: &str) -> String {
    v.trim_matches(|c| c == '"' || c == '\'').to_string()
}

/// `web[01:03].example.com` -> web01, web02, web03 (zero padding kept); `db[a:c]` too.
fn expand_range(pattern: &str) -> Result<Vec<String>, String> {
    let Some((prefix, rest)) = pattern.split_once('[') else {
        return Ok(vec![pattern.to_string()]);
    };
    let (range, suffix) = rest
        .split_once(']')
        .ok_or_else(|| format!("unclosed range in `{pattern}`"))?;
    let (from, to) = range
        .split_once(':')
        .ok_or_else(|| format!("range `[{range}]` needs start:end"))?;
    let bad = || format!("range `[{range}]` in `{pattern}` is not numeric or alphabetic");
    let mut out = Vec::new();
    if let (Ok(a), Ok(z)) = (from.parse::<u32>(), to.parse::<u32>()) {
        if a > z || z - a > 1000 {
            return Err(bad());
        }
        let width = from.len();
        for n in a..=z {
            out.push(format!("{prefix}{n:0width$}{suffix}"));
        }
    } else if from.len() == 1 && to.len() == 1 && from <= to {
        let (a, z) = (from.as_bytes()[0], to.as_bytes()[0]);
        for c in a..=z {
            out.push(format!("{prefix}{}{suffix}", c as char));
        }
    } else {
        return Err(bad());
    }
    Ok(out)
}

fn parse_yaml(text: &str, b: &mut Builder) -> Result<(), InventoryError> {
    let doc = yaml::parse(text).map_err(|e| InventoryError {
        line: e.line,
        message: format!("invalid YAML: {e} (column {})", e.column),
    })?;
    if doc.is_null() {
        return Ok(());
    }
    let Value::Map(top) = &doc.value else {
        return Err(InventoryError {
            line: doc.line,
            message: "a YAML inventory is a mapping of groups (usually `all:`)".into(),
        });
    };
    for (name, body) in top {
        yaml_group(&scalar(name), body, b)?;
    }
    Ok(())
}

fn yaml_group(name: &str, body: &Node, b: &mut Builder) -> Result<(), InventoryError> {
    b.group(name);
    let Value::Map(map) = &body.value else {
        return Ok(()); // `group:` with nothing under it
    };
    for (key, value) in map {
        match scalar(key).as_str() {
            "hosts" => {
                for (host, vars) in value.entries() {
                    for h in expand_range(&scalar(host)).map_err(|message| InventoryError {
                        line: host.line,
                        message,
                    })? {
                        b.host(name, &h, flat_vars(vars))
                            .map_err(|message| InventoryError {
                                line: host.line,
                                message,
                            })?;
                    }
                }
            }
            "vars" => {
                b.group_vars
                    .entry(name.to_string())
                    .or_default()
                    .extend(flat_vars(value));
            }
            "children" => {
                for (kid, kid_body) in value.entries() {
                    let kid = scalar(kid);
                    b.children
                        .entry(name.to_string())
                        .or_default()
                        .push(kid.clone());
                    yaml_group(&kid, kid_body, b)?;
                }
            }
            other => {
                return Err(InventoryError {
                    line: key.line,
                    message: format!(
                        "group `{name}` has unknown key `{other}` (hosts, vars, children)"
                    ),
                })
            }
        }
    }
    Ok(())
}

fn flat_vars(value: &Node) -> BTreeMap<String, String> {
    value
        .entries()
        .iter()
        .map(|(k, v)| (scalar(k), scalar(v)))
        .collect()
}

/// A scalar as text; a list or mapping as JSON (which YAML reads back the same).
fn scalar(v: &Node) -> String {
    v.as_key().unwrap_or_else(|| v.to_json().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INI: &str = "\
# production
lb.example.com

[web]
web[1:3].example.com http_port=8080

[db]
db1.example.com
db2.example.com role=replica

[backend:children]
web
db

[web:vars]
http_port=80
tier=front
";

    #[test]
    fn ini_hosts_groups_children_and_vars() {
        let inv = parse(INI, false).unwrap();
        let names: Vec<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "lb.example.com",
                "web1.example.com",
                "web2.example.com",
                "web3.example.com",
                "db1.example.com",
                "db2.example.com"
            ]
        );
        let web2 = &inv.hosts[2];
        assert_eq!(web2.groups, ["web", "backend"]);
        // The host's own value wins over its group's.
        assert_eq!(web2.vars["http_port"], "8080");
        assert_eq!(web2.vars["tier"], "front");
        assert!(inv.hosts[0].groups.is_empty());
        assert_eq!(inv.hosts[5].vars["role"], "replica");
    }

    #[test]
    fn yaml_inventory_matches_ini() {
        let yaml = "\
all:
  hosts:
    lb.example.com:
  children:
    backend:
      children:
        web:
          hosts:
            web[1:3].example.com:
              http_port: 8080
          vars:
            tier: front
        db:
          hosts:
            db1.example.com:
            db2.example.com:
              role: replica
";
        let inv = parse(yaml, true).unwrap();
        assert_eq!(inv.hosts.len(), 6);
        let web2 = inv
            .hosts
            .iter()
            .find(|h| h.name == "web2.example.com")
            .unwrap();
        assert_eq!(web2.groups, ["backend", "web"]);
        assert_eq!(web2.vars["http_port"], "8080");
        assert_eq!(web2.vars["tier"], "front");
    }

    #[test]
    fn scaling_keeps_the_first_hosts_of_a_group() {
        let inv = parse(INI, false).unwrap();
        let kept = scale(&inv, &BTreeMap::from([("web".to_string(), 1)]));
        let names: Vec<String> = kept.iter().map(|h| node_name(&h.name)).collect();
        assert_eq!(names, ["lb", "web1", "db1", "db2"]);
        let kept = scale(
            &inv,
            &BTreeMap::from([("backend".to_string(), 2), ("web".to_string(), 0)]),
        );
        let names: Vec<String> = kept.iter().map(|h| node_name(&h.name)).collect();
        // Dropped web hosts do not count against backend, so db1 and db2 fit in its 2.
        assert_eq!(names, ["lb", "db1", "db2"]);
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let err = parse("[web]\nweb1 port\n", false).unwrap_err();
        assert_eq!(err.line, 2);
        let err = parse("[web\n", false).unwrap_err();
        assert_eq!(err.line, 1);
    }

    #[test]
    fn node_names_come_from_the_first_label() {
        assert_eq!(node_name("Web1.prod.example.com"), "web1");
        assert_eq!(node_name("db_2"), "db_2");
    }
}
