//! Dependency order between nodes.

use crate::model::Node;
use std::collections::BTreeMap;

/// Cycles are found where definitions are validated (the model); planning assumes none.
pub use crate::model::cycle::find_cycle;

/// Nodes grouped in waves: every node comes after all of its dependencies. Nodes of one
/// wave do not depend on each other. Assumes no cycle (the model rejects cycles).
pub fn waves(nodes: &BTreeMap<String, Node>) -> Vec<Vec<String>> {
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    fn depth_of<'a>(
        name: &'a str,
        nodes: &'a BTreeMap<String, Node>,
        depth: &mut BTreeMap<&'a str, usize>,
    ) -> usize {
        if let Some(d) = depth.get(name) {
            return *d;
        }
        let d = nodes.get(name).map_or(0, |n| {
            n.depends_on
                .iter()
                .map(|dep| depth_of(dep, nodes, depth) + 1)
                .max()
                .unwrap_or(0)
        });
        depth.insert(name, d);
        d
    }
    for name in nodes.keys() {
        depth_of(name, nodes, &mut depth);
    }
    let mut waves: Vec<Vec<String>> = Vec::new();
    for (name, d) in depth {
        if waves.len() <= d {
            waves.resize(d + 1, Vec::new());
        }
        waves[d].push(name.to_string());
    }
    waves
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ImageSource;

    fn node(name: &str, deps: &[&str]) -> (String, Node) {
        (
            name.to_string(),
            Node {
                name: name.into(),
                image: ImageSource::Image("x".into()),
                command: None,
                entrypoint: None,
                env: BTreeMap::new(),
                ports: vec![],
                depends_on: deps.iter().map(|d| d.to_string()).collect(),
                replicas: 1,
                health: None,
                provision: vec![],
                init: Default::default(),
                groups: vec![],
                host_vars: BTreeMap::new(),
                idempotence_ignore: vec![],
                privileges: Default::default(),
                mounts: Vec::new(),
                conditions: BTreeMap::new(),
                resources: Default::default(),
                restart: Default::default(),
                run: Default::default(),
                container_keys: Vec::new(),
                sync: Vec::new(),
                place: Vec::new(),
                place_at: None,
            },
        )
    }

    #[test]
    fn waves_put_dependencies_first_and_independent_nodes_together() {
        let nodes: BTreeMap<_, _> = [
            node("proxy", &["app", "etcd"]),
            node("app", &["etcd"]),
            node("etcd", &[]),
            node("cache", &[]),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            waves(&nodes),
            vec![vec!["cache", "etcd"], vec!["app"], vec!["proxy"]]
        );
    }

    #[test]
    fn finds_cycles_as_a_closed_path() {
        let nodes: BTreeMap<_, _> = [node("a", &["b"]), node("b", &["c"]), node("c", &["a"])]
            .into_iter()
            .collect();
        assert_eq!(find_cycle(&nodes).unwrap(), vec!["a", "b", "c", "a"]);
        let ok: BTreeMap<_, _> = [node("a", &["b"]), node("b", &[])].into_iter().collect();
        assert!(find_cycle(&ok).is_none());
    }
}
