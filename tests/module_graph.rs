//! The data flow of docs/architecture.md holds in the code: no import circle between
//! the top-level modules of src/ (what `crate::X` each module mentions outside its
//! `#[cfg(test)]` modules).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

fn top_level(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let head = rel
        .components()
        .next()
        .expect("a component")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    head.strip_suffix(".rs").map(str::to_string).unwrap_or(head)
}

/// The `crate::NAME` mentions of a file's non-test code.
fn mentions(text: &str) -> BTreeSet<String> {
    let code = match text.find("#[cfg(test)]\nmod ") {
        Some(cut) => &text[..cut],
        None => text,
    };
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        // `envctl_crate::x` or `$crate::` are not ours.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

fn graph_of(src: &Path) -> Graph {
    let mut graph = Graph::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let module = top_level(src, &path);
            if module == "main" || module == "lib" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable file");
            let edges = graph.entry(module.clone()).or_default();
            edges.extend(mentions(&text).into_iter().filter(|m| *m != module));
        }
    }
    graph
}

/// Groups of modules that import each other, directly or through others (Tarjan).
fn circles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a Graph,
        next: usize,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.stack.contains(&w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                group.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.found.push(group);
            }
        }
    }
    let mut s = State {
        graph,
        next: 0,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn top_level_modules_import_each_other_in_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph_of(&src);
    assert!(
        graph.contains_key("model") && graph.contains_key("backend"),
        "read the modules of {}: {graph:?}",
        src.display()
    );
    let found = circles(&graph);
    assert!(
        found.is_empty(),
        "import circles between top-level modules: {}",
        found
            .iter()
            .map(|c| c.join(" <-> "))
            .collect::<Vec<_>>()
            .join("; ")
    );
}

#[test]
fn a_circle_through_several_modules_is_found() {
    let graph: Graph = [
        ("model", vec![]),
        ("backend", vec!["model", "check"]),
        ("check", vec!["instance"]),
        ("instance", vec!["backend", "model"]),
    ]
    .into_iter()
    .map(|(m, to)| (m.to_string(), to.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(circles(&graph), vec![vec!["backend", "check", "instance"]]);
    let mut fixed = graph.clone();
    fixed.get_mut("check").unwrap().clear();
    assert!(circles(&fixed).is_empty());
}

#[test]
fn mentions_skip_test_modules_and_other_crates() {
    let text = "use crate::model::Node;\nfn f() { crate::wait::until(); }\nmacro_rules! m { () => { $crate::x } }\n#[cfg(test)]\nmod tests {\n    use crate::report;\n}\n";
    let found: Vec<String> = mentions(text).into_iter().collect();
    assert_eq!(found, vec!["model", "wait"]);
}
