//! Promotable services (`[promote.SERVICE]` in an environment file): two colour nodes
//! behind a router node, how the router is switched between them, and which spec files
//! gate a promotion. `promote`, `rollback` and `verify` consume the resolved form.

use super::duration::NonZeroDuration;
use super::source::Location;
use super::source::{Diagnostic, SourceFile};
use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// `[promote.SERVICE]` as users write it.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawPromotion {
    /// Colour name → node, exactly two: `{ blue = "app-blue", green = "app-green" }`.
    pub colours: Spanned<BTreeMap<String, String>>,
    /// The node that routes traffic to the live colour (the reverse proxy).
    pub router: Spanned<String>,
    /// Node that runs `etcdctl` for the key-value writes.
    pub kv: Option<Spanned<String>>,
    /// Key → value template written on every switch.
    #[serde(default)]
    pub keys: BTreeMap<String, Spanned<String>>,
    /// A project file rendered by envctl and copied into the router at `to`.
    pub template: Option<Spanned<String>>,
    pub to: Option<Spanned<String>>,
    /// Command run in the router after the writes (e.g. re-render and `nginx -s reload`).
    pub reload: Option<Spanned<super::scalar::CommandLine>>,
    /// Proof that the router reaches a colour: a request through the router whose body
    /// contains the rendered text.
    pub serves: Spanned<RawServes>,
    /// Spec files (stems under specs/ENV/) verified against the new colour directly.
    pub specs: Option<Vec<Spanned<String>>>,
    /// Spec files verified through the router after the switch.
    pub router_specs: Option<Vec<Spanned<String>>>,
    /// A way to reach the new colour through the router before live traffic moves.
    pub preview: Option<Spanned<RawPreview>>,
    /// How the old colour is taken out of service before the switch, and put back.
    pub drain: Option<Spanned<super::drain::RawDrain>>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawServes {
    /// `http://ROUTER:PORT/PATH`.
    pub url: String,
    /// Text the body must contain, e.g. `({{node}}:8000)`.
    pub body: String,
    /// How long the router has to serve a colour after a switch (or preview).
    pub timeout: Option<NonZeroDuration>,
}

/// `[promote.SERVICE.preview]`: the router serves the colour being promoted on a second
/// listener (`url`) or to requests carrying `headers`, set up by its own key writes or
/// template, so `serves` can be proven before any real client reaches that colour.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawPreview {
    /// `http://ROUTER:PORT/PATH`; the `serves` URL when left out.
    pub url: Option<String>,
    /// Headers sent with the preview request (a header-selected upstream).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Key → value template written (in the `kv` node) to point the preview at a colour.
    #[serde(default)]
    pub keys: BTreeMap<String, Spanned<String>>,
    /// A project file rendered and copied into the router at `to` for the preview.
    pub template: Option<Spanned<String>>,
    pub to: Option<Spanned<String>>,
}

/// A promotable service, validated.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Promotion {
    pub service: String,
    /// `(colour, node)` pairs, in colour-name order; the first is the initial colour.
    pub colours: Vec<(String, String)>,
    pub router: String,
    pub kv: Option<String>,
    pub keys: BTreeMap<String, String>,
    pub template: Option<(PathBuf, String)>,
    pub reload: Option<Vec<String>>,
    /// Router node, port and path of the `serves` request.
    pub serves_node: String,
    pub serves_port: u16,
    pub serves_path: String,
    pub serves_body: String,
    /// How long the router has to serve a colour after a switch or preview.
    pub serves_timeout: Duration,
    /// Spec file stems gating the colour directly and through the router.
    pub specs: Vec<String>,
    pub router_specs: Vec<String>,
    /// Verification of the new colour through the router before the switch.
    pub preview: Option<Preview>,
    /// Taking the old colour out of service before the switch.
    pub drain: Option<super::drain::Drain>,
}

/// How the router serves a colour to envctl alone, before the switch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Preview {
    /// Router node, port and path of the preview request.
    pub node: String,
    pub port: u16,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    /// Key-value writes (in the promotion's `kv` node) pointing the preview at a colour.
    pub keys: BTreeMap<String, String>,
    /// A file rendered into the router for the preview.
    pub template: Option<(PathBuf, String)>,
}

/// How long the router has to serve a colour when `serves.timeout` is not given.
pub const DEFAULT_SERVES_TIMEOUT: Duration = Duration::from_secs(10);

impl Promotion {
    /// The node of `colour`.
    pub fn node_of(&self, colour: &str) -> Option<&str> {
        self.colours
            .iter()
            .find(|(c, _)| c == colour)
            .map(|(_, n)| n.as_str())
    }

    /// The colour that is not `colour`.
    pub fn other(&self, colour: &str) -> &str {
        self.colours
            .iter()
            .find(|(c, _)| c != colour)
            .map_or("", |(c, _)| c.as_str())
    }

    /// The placeholder values for `colour`.
    pub fn values(&self, colour: &str) -> Vec<(&'static str, String)> {
        vec![
            ("service", self.service.clone()),
            ("colour", colour.to_string()),
            ("node", self.node_of(colour).unwrap_or_default().to_string()),
        ]
    }
}

/// Placeholders a promotion template may use.
const PLACEHOLDERS: [&str; 3] = ["service", "colour", "node"];

/// Replaces `{{name}}` placeholders. Unknown names are left alone (validation reports them).
pub fn render(text: &str, values: &[(&str, String)]) -> String {
    let mut out = text.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// The first `{{name}}` placeholder in `text` that envctl does not know.
fn unknown_placeholder(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        let name = &after[..end];
        if !PLACEHOLDERS.contains(&name) {
            return Some(name.to_string());
        }
        rest = &after[end + 2..];
    }
    None
}

/// Resolves `[promote.SERVICE]` against the environment's nodes (name to replicas).
pub fn resolve(
    root: &Path,
    src: &Arc<SourceFile>,
    service: &Spanned<String>,
    raw: RawPromotion,
    nodes: &BTreeMap<String, u32>,
    errors: &mut Vec<Diagnostic>,
) -> Option<Promotion> {
    let before = errors.len();
    let at = |span: std::ops::Range<usize>| Location {
        src: src.clone(),
        span,
    };
    let name = service.get_ref().clone();
    if nodes.contains_key(&name) {
        errors.push(at(service.span()).diagnostic(
            None,
            format!("promotable service `{name}` has the name of a node; specs use it to mean the live colour, so pick another name"),
        ));
    }
    let mut node_known = |value: &str, span: std::ops::Range<usize>, field: &str| {
        if !nodes.contains_key(value) {
            let known: Vec<&str> = nodes.keys().map(String::as_str).collect();
            errors.push(at(span).diagnostic(
                Some(field),
                format!(
                    "`{value}` is not a node of this environment (nodes: {})",
                    known.join(", ")
                ),
            ));
        }
    };
    let colours: Vec<(String, String)> = raw.colours.get_ref().clone().into_iter().collect();
    for (_, node) in &colours {
        node_known(node, raw.colours.span(), "colours");
    }
    node_known(raw.router.get_ref(), raw.router.span(), "router");
    if let Some(kv) = &raw.kv {
        node_known(kv.get_ref(), kv.span(), "kv");
    }
    if colours.len() != 2 || colours[0].1 == colours[1].1 {
        errors.push(at(raw.colours.span()).diagnostic(
            Some("colours"),
            "a promotable service needs exactly two colours on two different nodes, e.g. { blue = \"app-blue\", green = \"app-green\" }",
        ));
    }
    for (_, node) in &colours {
        if nodes.get(node).is_some_and(|replicas| *replicas != 1) {
            errors.push(at(raw.colours.span()).diagnostic(
                Some("colours"),
                format!("colour node `{node}` must have exactly one replica"),
            ));
        }
    }
    if raw.keys.is_empty() != raw.kv.is_none() {
        let span = raw.kv.as_ref().map_or(raw.router.span(), |k| k.span());
        errors.push(at(span).diagnostic(
            Some("keys"),
            "`kv` (the node running etcdctl) and `keys` go together",
        ));
    }
    let mut templates: Vec<(&str, String, std::ops::Range<usize>)> = raw
        .keys
        .iter()
        .map(|(k, v)| ("keys", format!("{k}{}", v.get_ref()), v.span()))
        .collect();
    templates.push((
        "serves.body",
        raw.serves.get_ref().body.clone(),
        raw.serves.span(),
    ));
    let template = file_template(
        root,
        &at,
        (raw.template.as_ref(), raw.to.as_ref()),
        "",
        &mut templates,
        errors,
    );
    if raw.keys.is_empty() && raw.template.is_none() {
        errors.push(at(raw.router.span()).diagnostic(
            Some("keys"),
            "say how the router is switched: `kv` + `keys` (key-value writes), `template` + `to`, or both",
        ));
    }
    let router = raw.router.get_ref().clone();
    let serves = raw.serves.get_ref();
    let endpoint = router_url(&serves.url, &router);
    if endpoint.is_none() {
        errors.push(at(raw.serves.span()).diagnostic(
            Some("serves.url"),
            format!(
                "`{}` must be http://{router}:PORT/PATH (a request through the router node)",
                serves.url,
            ),
        ));
    }
    let preview = raw.preview.as_ref().and_then(|spanned| {
        let pv = spanned.get_ref();
        let url = pv.url.as_deref().unwrap_or(&serves.url);
        let Some((node, port, path)) = router_url(url, &router) else {
            errors.push(at(spanned.span()).diagnostic(
                Some("preview.url"),
                format!("`{url}` must be http://{router}:PORT/PATH (a request through the router node)"),
            ));
            return None;
        };
        if url == serves.url && pv.headers.is_empty() {
            errors.push(at(spanned.span()).diagnostic(
                Some("preview"),
                "a preview needs its own listener (`url`) or `headers` that select the new colour; otherwise it is the live route",
            ));
        }
        if !pv.keys.is_empty() && raw.kv.is_none() {
            errors.push(at(spanned.span()).diagnostic(
                Some("preview.keys"),
                "preview `keys` are written with etcdctl in the promotion's `kv` node; set `kv`",
            ));
        }
        templates.extend(
            pv.keys
                .iter()
                .map(|(k, v)| ("preview.keys", format!("{k}{}", v.get_ref()), v.span())),
        );
        templates.extend(
            pv.headers
                .values()
                .map(|v| ("preview.headers", v.clone(), spanned.span())),
        );
        let template = file_template(
            root,
            &at,
            (pv.template.as_ref(), pv.to.as_ref()),
            "preview.",
            &mut templates,
            errors,
        );
        Some(Preview {
            node,
            port,
            path,
            headers: pv.headers.clone(),
            keys: pv
                .keys
                .iter()
                .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                .collect(),
            template,
        })
    });
    let drain = raw
        .drain
        .as_ref()
        .and_then(|d| super::drain::resolve(d, nodes, &at, errors).map(|r| (r, d.span())));
    if let Some((d, span)) = &drain {
        templates.extend(
            d.templates()
                .into_iter()
                .map(|(field, text)| (field, text, span.clone())),
        );
    }
    for (field, text, span) in &templates {
        if let Some(p) = unknown_placeholder(text) {
            errors.push(at(span.clone()).diagnostic(
                Some(field),
                format!(
                    "unknown placeholder `{{{{{p}}}}}`; known: {}",
                    PLACEHOLDERS.join(", ")
                ),
            ));
        }
    }
    let stems = |list: Option<Vec<Spanned<String>>>, default: &str| -> Vec<String> {
        list.map_or_else(
            || vec![default.to_string()],
            |l| l.into_iter().map(Spanned::into_inner).collect(),
        )
    };
    if errors.len() > before {
        return None;
    }
    let (serves_node, serves_port, serves_path) = endpoint?;
    Some(Promotion {
        service: name.clone(),
        colours,
        router: router.clone(),
        kv: raw.kv.map(Spanned::into_inner),
        keys: raw
            .keys
            .into_iter()
            .map(|(k, v)| (k, v.into_inner()))
            .collect(),
        template,
        reload: raw.reload.map(|r| r.into_inner().0),
        serves_node,
        serves_port,
        serves_path,
        serves_body: serves.body.clone(),
        serves_timeout: serves
            .timeout
            .map_or(DEFAULT_SERVES_TIMEOUT, NonZeroDuration::get),
        specs: stems(raw.specs, &name),
        router_specs: stems(raw.router_specs, &router),
        preview,
        drain: drain.map(|(d, _)| d),
    })
}

/// `http://ROUTER:PORT/PATH` split into router, port and path; `None` for any other URL.
fn router_url(url: &str, router: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = authority.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?;
    (host == router).then(|| {
        let path = if path.is_empty() { "/" } else { path };
        (host.to_string(), port, path.to_string())
    })
}

type Templates = Vec<(&'static str, String, std::ops::Range<usize>)>;

/// A `template` + `to` pair: the project file's text and where it goes in the router.
/// Fields are reported under `prefix` (`preview.` for the preview's pair).
fn file_template(
    root: &Path,
    at: &dyn Fn(std::ops::Range<usize>) -> Location,
    (template, to): (Option<&Spanned<String>>, Option<&Spanned<String>>),
    prefix: &str,
    templates: &mut Templates,
    errors: &mut Vec<Diagnostic>,
) -> Option<(PathBuf, String)> {
    let field = |name: &str| format!("{prefix}{name}");
    match (template, to) {
        (Some(t), Some(to)) if to.get_ref().starts_with('/') => {
            let read = super::confine::Root::new(root).read_text(t.get_ref());
            match read {
                Ok(text) => {
                    templates.push(("template", text.clone(), t.span()));
                    Some((PathBuf::from(to.get_ref()), text))
                }
                Err(why) => {
                    errors.push(at(t.span()).diagnostic(Some(&field("template")), why));
                    None
                }
            }
        }
        (None, None) => None,
        (Some(t), _) => {
            errors.push(at(t.span()).diagnostic(
                Some(&field("to")),
                "`template` needs `to`, an absolute path inside the router",
            ));
            None
        }
        (None, Some(to)) => {
            errors.push(at(to.span()).diagnostic(Some(&field("to")), "`to` goes with `template`"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_replaces_known_placeholders() {
        let values = [
            ("colour", "green".to_string()),
            ("node", "app-green".into()),
        ];
        assert_eq!(
            render("server {{node}}:8000; # {{colour}}", &values),
            "server app-green:8000; # green"
        );
    }

    #[test]
    fn unknown_placeholders_are_found() {
        assert_eq!(
            unknown_placeholder("{{node}}:{{port}}"),
            Some("port".into())
        );
        assert_eq!(unknown_placeholder("{{colour}} {{node}}"), None);
        assert_eq!(unknown_placeholder("{{ colour }}"), Some(" colour ".into()));
        assert_eq!(unknown_placeholder("no braces"), None);
    }
}
