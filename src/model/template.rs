//! `template` steps: minijinja templates rendered with the environment's `vars` (plus the
//! node's name and groups). Rendering is pure, so `validate` and `up` catch a broken
//! template or an undefined variable before anything is created.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a template sees.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TemplateContext<'a> {
    /// The environment's `vars`, also available at the top level.
    pub vars: &'a BTreeMap<String, String>,
    /// The node the file is rendered for.
    pub node: &'a str,
    /// Its Ansible groups (the node's name first).
    pub groups: Vec<String>,
}

/// A template that cannot be rendered.
#[derive(Debug, thiserror::Error)]
#[error("{}:{}: {message}", file.display(), line.map_or_else(|| "?".to_string(), |l| l.to_string()))]
pub struct TemplateError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

/// Renders `path` (relative to `root`). Undefined variables are errors, as in Ansible's
/// strict mode; a trailing newline is kept, as Ansible's `template` module does.
///
/// # Errors
/// [`TemplateError`] with the template's file and line.
pub fn render(root: &Path, path: &Path, ctx: &TemplateContext) -> Result<String, TemplateError> {
    let fail = |line: Option<usize>, message: String| TemplateError {
        file: path.to_path_buf(),
        line,
        message,
    };
    let source = super::confine::Root::new(root)
        .read_text(&path.to_string_lossy())
        .map_err(|why| fail(None, why))?;
    render_str(&source, ctx).map_err(|(line, message)| fail(line, message))
}

/// The work one render may do, in minijinja's fuel (an instruction, or about 64 bytes
/// produced): about a second and 64 MiB at most, far beyond any config file,
/// so a template that loops for ever or builds huge strings fails fast instead.
const FUEL: u64 = 1_000_000;

fn render_str(source: &str, ctx: &TemplateContext) -> Result<String, (Option<usize>, String)> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| (None, e.to_string()))?;
    env.set_syntax(syntax);
    let describe = |e: minijinja::Error| {
        if e.kind() == minijinja::ErrorKind::OutOfFuel {
            return (
                e.line(),
                "the template does too much work (loops or output beyond envctl's limit for one render)".to_string(),
            );
        }
        let message = match e.detail() {
            Some(d) => format!("{}: {d}", e.kind()),
            None => e.kind().to_string(),
        };
        (e.line(), message)
    };
    let template = env.template_from_str(source).map_err(describe)?;
    let mut value: BTreeMap<String, minijinja::Value> = ctx
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), minijinja::Value::from(v.as_str())))
        .collect();
    value.insert(
        "vars".into(),
        minijinja::Value::from(
            ctx.vars
                .iter()
                .map(|(k, v)| (k.clone(), minijinja::Value::from(v.as_str())))
                .collect::<BTreeMap<String, minijinja::Value>>(),
        ),
    );
    value.insert("node".into(), minijinja::Value::from(ctx.node));
    value.insert(
        "groups".into(),
        minijinja::Value::from(
            ctx.groups
                .iter()
                .map(|g| minijinja::Value::from(g.as_str()))
                .collect::<Vec<_>>(),
        ),
    );
    template.render(value).map_err(describe)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(vars: &BTreeMap<String, String>) -> TemplateContext<'_> {
        TemplateContext {
            vars,
            node: "web",
            groups: vec!["web".into(), "frontend".into()],
        }
    }

    #[test]
    fn renders_vars_node_and_groups_keeping_the_last_newline() {
        let vars = BTreeMap::from([("greeting".to_string(), "hello".to_string())]);
        let out = render_str(
            "{{ greeting }} from {{ node }} ({{ groups | join(',') }}) {{ vars.greeting }}\n",
            &ctx(&vars),
        )
        .unwrap();
        assert_eq!(out, "hello from web (web,frontend) hello\n");
    }

    #[test]
    fn undefined_variables_are_errors_with_a_line() {
        let vars = BTreeMap::new();
        let (line, message) = render_str("ok\n{{ missing }}\n", &ctx(&vars)).unwrap_err();
        assert_eq!(line, Some(2));
        assert!(message.contains("undefined"), "{message}");
    }

    #[test]
    fn a_nested_loop_runs_out_of_fuel_instead_of_memory() {
        // A few bytes that ask for 10^15 iterations.
        let bomb = "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}x{% endfor %}{% endfor %}{% endfor %}";
        let vars = BTreeMap::new();
        let (_, message) = render_str(bomb, &ctx(&vars)).unwrap_err();
        assert!(message.contains("too much work"), "{message}");
        let big = "{{ 'x' * 90000000 }}";
        assert!(render_str(big, &ctx(&vars)).is_err());
        // An ordinary loop still renders.
        let fine = render_str(
            "{% for i in range(1000) %}{{ i }}\n{% endfor %}",
            &ctx(&vars),
        )
        .unwrap();
        assert_eq!(fine.lines().count(), 1000);
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let vars = BTreeMap::new();
        let (line, _) = render_str("a\nb\n{% if %}\n", &ctx(&vars)).unwrap_err();
        assert_eq!(line, Some(3));
    }
}
