//! Dependency cycles between nodes (`depends_on`), found while definitions are
//! validated; the plan (`plan::order`) orders nodes assuming there is none.

use super::Node;
use std::collections::BTreeMap;

/// A dependency cycle as a path that ends where it starts (`a -> b -> a`), if any.
pub fn find_cycle(nodes: &BTreeMap<String, Node>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(
        name: &str,
        nodes: &BTreeMap<String, Node>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(name).copied().unwrap_or(Mark::New) {
            Mark::Done => return None,
            Mark::Active => {
                let start = path.iter().position(|n| n == name).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(name.to_string());
                return Some(cycle);
            }
            Mark::New => {}
        }
        marks.insert(name.to_string(), Mark::Active);
        path.push(name.to_string());
        if let Some(node) = nodes.get(name) {
            for dep in &node.depends_on {
                if let Some(c) = visit(dep, nodes, marks, path) {
                    return Some(c);
                }
            }
        }
        path.pop();
        marks.insert(name.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for name in nodes.keys() {
        if let Some(c) = visit(name, nodes, &mut marks, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}
