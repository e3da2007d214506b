//! goss files: `specs/ENV/NODE.goss.yaml` is applied to NODE as if goss ran on it
//! (`localhost` is the node). Every goss resource type and attribute is either judged
//! as goss judges it or rejected with its file and line; see docs/specs.md for the table.
//!
//! Reading is bounded and confined: files are size-limited, `gossfile` includes (globs
//! through globset, one path component at a time) and the vars file must resolve, with
//! symlinks followed, inside the project; includes nest at most [`MAX_DEPTH`] deep and
//! resources are merged by type and name in one pass, as goss merges them (a later file
//! overrides an earlier one; a file included twice is read twice, not a cycle).

pub mod resource;
pub mod template;

use super::assertion::{slug, Assertion};
use super::confine::confine;
use super::environment::Environment;
use super::source::{Diagnostic, SourceFile};
use super::yaml::{self, Node, Value};
use super::ModelError;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The suffixes that make a spec file a goss file.
pub const SUFFIXES: &[&str] = &[".goss.yaml", ".goss.yml"];

/// The vars file of an environment's goss files.
pub const VARS_FILE: &str = "goss.vars.yaml";

/// How deep `gossfile` includes may nest (goss stops at 50 too).
pub const MAX_DEPTH: usize = 50;

/// Files one glob may match.
const MAX_GLOB_MATCHES: usize = 1000;

/// The node a goss file applies to, from its file name (`web.goss.yaml` → `web`).
pub fn node_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .map(str::to_string)
}

/// Loads one goss file (and what it includes) as assertions about its node.
///
/// # Errors
/// Every problem, with file and line: bad YAML, duplicated keys, unknown resource types
/// or attributes, unsupported features, template errors, includes outside the project.
pub fn load(root: &Path, env: &Environment, path: &Path) -> Result<Vec<Assertion>, ModelError> {
    let shown = display(root, path);
    let node = node_of(path).unwrap_or_default();
    let Some(def) = env.nodes.get(&node) else {
        let known: Vec<&str> = env.nodes.keys().map(String::as_str).collect();
        return Err(diag(
            &shown,
            1,
            1,
            None,
            format!(
                "`{node}` is not a node of environment `{}` (nodes: {}); name goss files NODE.goss.yaml",
                env.name,
                known.join(", ")
            ),
        ));
    };
    let real_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let vars_path = path.with_file_name(VARS_FILE);
    let vars = if vars_path.exists() {
        let vars_display = display(root, &vars_path);
        let real = confine(&real_root, &vars_path)
            .map_err(|why| diag(&vars_display, 1, 1, None, why.to_string()))?;
        let src = SourceFile::read(&real, vars_display.clone())?;
        let doc = parse_yaml(&src.text, &vars_display)?;
        template::from_json(&doc.to_json())
    } else {
        template::TValue::Map(BTreeMap::new())
    };
    let mut loader = Loader {
        real_root,
        vars,
        env: std::env::vars().collect(),
        stack: Vec::new(),
        resources: Vec::new(),
        index: HashMap::new(),
        errors: Vec::new(),
    };
    let start = confine(&loader.real_root, path)
        .map_err(|why| diag(&shown, 1, 1, None, why.to_string()))?;
    loader.file(&start, &shown);
    if let Some(e) = ModelError::combine(std::mem::take(&mut loader.errors)) {
        return Err(e);
    }
    let ctx = resource::Context {
        node: node.clone(),
        replicas: def.replica_names(),
        nodes: env
            .nodes
            .values()
            .flat_map(|n| n.replica_names())
            .chain(env.nodes.keys().cloned())
            .collect(),
    };
    let stem = format!("{node}.goss");
    let mut names = Names::default();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for r in &loader.resources {
        match resource::resolve(&ctx, &r.kind, &r.id, &r.key, &r.attrs, &r.file) {
            Ok(items) => {
                for item in items {
                    out.push(Assertion {
                        name: names.unique(&format!("{stem}::{}", slug(&item.title))),
                        file: r.file.clone(),
                        line: r.key.line,
                        title: item.title,
                        timeout: item.timeout,
                        eventually: None,
                        retry: item.retry,
                        skipped: item.skipped,
                        check: item.check,
                    });
                }
            }
            Err(d) => errors.extend(d),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ModelError::Diagnostics(errors))
    }
}

/// Unique assertion names: a repeated name gets `_2`, `_3`... in constant time each.
#[derive(Default)]
struct Names {
    taken: BTreeSet<String>,
    next: HashMap<String, usize>,
}

impl Names {
    fn unique(&mut self, base: &str) -> String {
        if self.taken.insert(base.to_string()) {
            return base.to_string();
        }
        let n = self.next.entry(base.to_string()).or_insert(1);
        loop {
            *n += 1;
            let name = format!("{base}_{n}");
            if self.taken.insert(name.clone()) {
                return name;
            }
        }
    }
}

/// One resource as written: type, name, attributes, and where.
struct Written {
    kind: String,
    id: String,
    /// The resource's key node, for its position.
    key: Node,
    attrs: Node,
    file: PathBuf,
}

struct Loader {
    real_root: PathBuf,
    vars: template::TValue,
    env: BTreeMap<String, String>,
    /// Files being read, outermost first (a file on it may not be included again).
    stack: Vec<PathBuf>,
    resources: Vec<Written>,
    /// (type, name) → position in `resources`.
    index: HashMap<(String, String), usize>,
    errors: Vec<ModelError>,
}

impl Loader {
    /// Reads one (confined, real) file, its resources and then its includes.
    fn file(&mut self, real: &Path, display: &Path) {
        let src = match SourceFile::read(real, display.to_path_buf()) {
            Ok(s) => s,
            Err(e) => return self.errors.push(e.into()),
        };
        let dir = real.parent().unwrap_or(&self.real_root).to_path_buf();
        let ctx = template::Context {
            vars: self.vars.clone(),
            env: self.env.clone(),
            dir: &dir,
            root: &self.real_root,
        };
        let text = match template::render(&src.text, &ctx) {
            Ok(t) => t,
            Err(e) => {
                return self.errors.push(diag(
                    display,
                    e.line.max(1),
                    1,
                    None,
                    format!("template: {}", e.message),
                ))
            }
        };
        let doc = match parse_yaml(&text, display) {
            Ok(d) => d,
            Err(e) => return self.errors.push(e),
        };
        let entries = match &doc.value {
            Value::Null => return,
            Value::Map(m) => m,
            _ => {
                return self.errors.push(diag(
                    display,
                    doc.line,
                    doc.column,
                    None,
                    "a goss file is a mapping of resource types (package:, file:, ...)".into(),
                ))
            }
        };
        let mut includes = Vec::new();
        for (kind_node, resources) in entries {
            let kind = kind_node.as_key().unwrap_or_default();
            if !resource::TYPES.contains(&kind.as_str()) && kind != "gossfile" {
                let message = if kind == "registry" {
                    "`registry` (goss's Windows registry resource) is not supported: envctl's nodes are Linux".to_string()
                } else {
                    format!(
                        "`{kind}` is not a goss resource type; goss's types: gossfile, {}",
                        resource::TYPES.join(", ")
                    )
                };
                self.errors.push(diag(
                    display,
                    kind_node.line,
                    kind_node.column,
                    Some(kind.clone()),
                    message,
                ));
                continue;
            }
            match &resources.value {
                Value::Null => continue,
                Value::Map(_) => {}
                _ => {
                    self.errors.push(diag(
                        display,
                        resources.line,
                        resources.column,
                        Some(kind.clone()),
                        format!("`{kind}` must map resource names to their attributes"),
                    ));
                    continue;
                }
            }
            for (id_node, attrs) in resources.entries() {
                let id = id_node.as_key().unwrap_or_default();
                if !matches!(attrs.value, Value::Map(_) | Value::Null) {
                    self.errors.push(diag(
                        display,
                        attrs.line,
                        attrs.column,
                        Some(format!("{kind}.{id}")),
                        "attributes must be a mapping".into(),
                    ));
                    continue;
                }
                if kind == "gossfile" {
                    includes.push((id, id_node.clone(), attrs.clone()));
                    continue;
                }
                let written = Written {
                    kind: kind.clone(),
                    id: id.clone(),
                    key: id_node.clone(),
                    attrs: attrs.clone(),
                    file: display.to_path_buf(),
                };
                // As goss merges files: a later definition of the same resource wins.
                match self.index.get(&(kind.clone(), id.clone())) {
                    Some(&i) => self.resources[i] = written,
                    None => {
                        self.index.insert((kind.clone(), id), self.resources.len());
                        self.resources.push(written);
                    }
                }
            }
        }
        // goss reads includes in the order of their names.
        includes.sort_by(|a, b| a.0.cmp(&b.0));
        self.stack.push(real.to_path_buf());
        for (id, key, attrs) in includes {
            self.include(real, display, &id, &key, &attrs);
        }
        self.stack.pop();
    }

    fn include(&mut self, from: &Path, display: &Path, id: &str, key: &Node, attrs: &Node) {
        let field = Some(format!("gossfile.{id}"));
        let mut pattern = id.to_string();
        for (name, value) in attrs.entries() {
            match name.as_key().unwrap_or_default().as_str() {
                "file" => match value.as_str() {
                    Some(f) => pattern = f.to_string(),
                    None => {
                        return self.errors.push(diag(
                            display,
                            value.line,
                            value.column,
                            field,
                            "`file` must be a path".into(),
                        ))
                    }
                },
                "skip" => match value.value {
                    Value::Bool(true) => return,
                    Value::Bool(false) => {}
                    _ => {
                        return self.errors.push(diag(
                            display,
                            value.line,
                            value.column,
                            field,
                            "`skip` must be true or false".into(),
                        ))
                    }
                },
                "title" | "meta" => {}
                other => {
                    return self.errors.push(diag(
                        display,
                        name.line,
                        name.column,
                        field,
                        format!(
                            "unknown gossfile attribute `{other}`; goss's: file, skip, title, meta"
                        ),
                    ))
                }
            }
        }
        let at = |message: String| diag(display, key.line, key.column, field.clone(), message);
        if self.stack.len() >= MAX_DEPTH {
            return self.errors.push(at(format!(
                "gossfile includes nest more than {MAX_DEPTH} deep (do they include each other?)"
            )));
        }
        let dir = from.parent().unwrap_or(&self.real_root).to_path_buf();
        let matches = match glob(&dir, &pattern) {
            Ok(m) => m,
            Err(why) => return self.errors.push(at(why)),
        };
        if matches.is_empty() {
            return self
                .errors
                .push(at(format!("included gossfile `{pattern}` matches no file")));
        }
        for m in matches {
            let real = match confine(&self.real_root, &m) {
                Ok(r) => r,
                Err(_) => {
                    return self.errors.push(at(format!(
                        "included gossfile `{pattern}` is outside the project; goss files may include only the project's files"
                    )))
                }
            };
            if self.stack.contains(&real) {
                let chain: Vec<String> = self
                    .stack
                    .iter()
                    .chain(std::iter::once(&real))
                    .map(|p| display_real(&self.real_root, p))
                    .collect();
                return self.errors.push(at(format!(
                    "gossfile includes form a cycle: {}",
                    chain.join(" → ")
                )));
            }
            let shown = PathBuf::from(display_real(&self.real_root, &real));
            self.file(&real, &shown);
        }
    }
}

fn display(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

fn display_real(real_root: &Path, path: &Path) -> String {
    path.strip_prefix(real_root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Files matching `pattern` (goss's glob syntax: `*`, `?`, `[...]` in any component),
/// relative to `dir` unless absolute; sorted.
///
/// # Errors
/// A pattern that is not a valid glob.
fn glob(dir: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let (mut found, rest) = match pattern.strip_prefix('/') {
        Some(rest) => (vec![PathBuf::from("/")], rest),
        None => (vec![dir.to_path_buf()], pattern),
    };
    let parts: Vec<&str> = rest
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if !part.contains(['*', '?', '[']) {
            let unescaped = part.replace('\\', "");
            found = found
                .into_iter()
                .map(|d| d.join(&unescaped))
                .filter(|p| if last { p.is_file() } else { p.is_dir() })
                .collect();
            continue;
        }
        // Go's globs know no braces: keep them literal.
        let literal_braces = part.replace('{', "[{]").replace('}', "[}]");
        let matcher = globset::GlobBuilder::new(&literal_braces)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| format!("`{pattern}` is not a valid glob: {e}"))?
            .compile_matcher();
        let mut next = Vec::new();
        for d in &found {
            let Ok(entries) = std::fs::read_dir(d) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                if matcher.is_match(Path::new(&name)) {
                    let p = entry.path();
                    if (last && p.is_file()) || (!last && p.is_dir()) {
                        next.push(p);
                        if next.len() > MAX_GLOB_MATCHES {
                            return Err(format!(
                                "`{pattern}` matches more than {MAX_GLOB_MATCHES} files"
                            ));
                        }
                    }
                }
            }
        }
        found = next;
    }
    found.sort();
    Ok(found)
}

/// Parses YAML with positions; errors at the line and column of the problem.
fn parse_yaml(text: &str, file: &Path) -> Result<Node, ModelError> {
    yaml::parse(text).map_err(|e| diag(file, e.line, e.column, None, format!("invalid YAML: {e}")))
}

fn diag(
    file: &Path,
    line: usize,
    column: usize,
    field: Option<String>,
    message: String,
) -> ModelError {
    ModelError::Diagnostics(vec![Diagnostic {
        file: file.to_path_buf(),
        line,
        column,
        field,
        message,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_per_component_and_are_linear() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a.yaml", "b.yaml", "c.yml", "sub/x.yaml", "{b}.yaml"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let names = |pat: &str| -> Vec<String> {
            glob(dir.path(), pat)
                .unwrap()
                .iter()
                .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(names("*.yaml"), ["a.yaml", "b.yaml", "{b}.yaml"]);
        assert_eq!(names("s*/*.yaml"), ["sub/x.yaml"]);
        assert_eq!(names("[ab].yaml"), ["a.yaml", "b.yaml"]);
        assert_eq!(names("{b}.yaml"), ["{b}.yaml"]);
        assert!(names("none-*.yaml").is_empty());
        // A pattern that makes backtracking matchers explode (a regex-compiled glob does not).
        let evil = format!("{}b", "*a".repeat(30));
        assert!(names(&evil).is_empty());
    }

    #[test]
    fn repeated_names_get_numbers() {
        let mut n = Names::default();
        assert_eq!(n.unique("a"), "a");
        assert_eq!(n.unique("a"), "a_2");
        assert_eq!(n.unique("a"), "a_3");
        assert_eq!(n.unique("a_2"), "a_2_2");
        assert_eq!(
            node_of(Path::new("specs/e/web.goss.yaml")),
            Some("web".into())
        );
    }
}
