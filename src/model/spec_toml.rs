//! TOML specs: the assertions of one `specs/ENV/*.toml`, checked against the environment
//! they run on (nodes exist, patterns compile) and expanded per replica.

use super::assertion::fact::{self, Expectation, Fact, NodeCheck};
use super::assertion::matcher::Matcher;
use super::assertion::pattern::Pattern;
use super::assertion::{
    describe_fact, slug, Assertion, Check, CommandCheck, Endpoint, HttpCheck, TcpCheck,
    DEFAULT_EXEC_TIMEOUT, DEFAULT_NETWORK_TIMEOUT,
};
use super::duration::NonZeroDuration;
use super::environment::Environment;
use super::source::{Diagnostic, SourceFile};
use super::spec_file::{RawCommand, RawFact, RawFile, RawHttp, RawSpecFile, RawTcp};
use super::ModelError;
use serde_spanned::Spanned;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Loads one TOML spec file as assertions.
///
/// # Errors
/// [`ModelError`] listing every problem of the file, each with line and field.
pub fn load(root: &Path, env: &Environment, path: &Path) -> Result<Vec<Assertion>, ModelError> {
    let display = path.strip_prefix(root).unwrap_or(path).to_path_buf();
    let src = SourceFile::read(path, display)?;
    let raw = toml::from_str::<RawSpecFile>(&src.text).map_err(|e| {
        ModelError::Diagnostics(vec![super::environment::toml_diagnostic(&src, &e)])
    })?;
    let mut assertions = Vec::new();
    let mut ctx = Resolver {
        env,
        src: &src,
        errors: Vec::new(),
        names: BTreeSet::new(),
        out: &mut assertions,
        line: 0,
    };
    ctx.file(raw);
    if ctx.errors.is_empty() {
        Ok(assertions)
    } else {
        Err(ModelError::Diagnostics(ctx.errors))
    }
}

struct Resolver<'a> {
    env: &'a Environment,
    src: &'a Arc<SourceFile>,
    errors: Vec<Diagnostic>,
    names: BTreeSet<String>,
    out: &'a mut Vec<Assertion>,
    /// Line of the table being resolved; every assertion it yields carries it.
    line: usize,
}

impl Resolver<'_> {
    fn file(&mut self, raw: RawSpecFile) {
        for h in raw.http {
            self.http(h);
        }
        for t in raw.tcp {
            self.tcp(t);
        }
        for c in raw.command {
            self.command(c);
        }
        for f in raw.file {
            self.file_check(f);
        }
        for l in raw.load {
            self.load(l);
        }
        for (kind, tables) in [
            ("package", raw.package),
            ("service", raw.service),
            ("process", raw.process),
            ("port", raw.port),
            ("user", raw.user),
            ("group", raw.group),
            ("dns", raw.dns),
            ("kernel-param", raw.kernel_param),
            ("mount", raw.mount),
            ("interface", raw.interface),
        ] {
            for t in tables {
                self.fact_check(kind, t);
            }
        }
    }

    fn stem(&self) -> String {
        self.src
            .display
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn push(
        &mut self,
        title: String,
        explicit: bool,
        timeout: Option<Duration>,
        eventually: Option<Duration>,
        default_timeout: Duration,
        check: Check,
    ) {
        let base = format!("{}::{}", self.stem(), slug(&title));
        let mut name = base.clone();
        let mut n = 2;
        while !self.names.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        let _ = explicit;
        self.out.push(Assertion {
            name,
            file: self.src.display.clone(),
            line: self.line,
            title,
            timeout: timeout.unwrap_or(default_timeout),
            eventually,
            retry: None,
            skipped: false,
            check,
        });
    }

    fn patterns(&mut self, raw: Vec<Spanned<String>>) -> Vec<Pattern> {
        raw.into_iter()
            .filter_map(|p| match Pattern::parse(p.get_ref()) {
                Ok(pat) => Some(pat),
                Err(msg) => {
                    self.errors.push(self.src.diagnostic(Some(p.span()), msg));
                    None
                }
            })
            .collect()
    }

    /// Replica names of `node`, or an error at its position.
    fn replicas(&mut self, node: &Spanned<String>) -> Vec<String> {
        let name = node.get_ref();
        if let Some(n) = self.env.nodes.get(name) {
            return n.replica_names();
        }
        if self
            .env
            .nodes
            .values()
            .any(|n| n.replica_names().contains(name))
        {
            return vec![name.clone()];
        }
        // A promotable service stands for its live colour (or the colour being promoted).
        if self.env.promotions.contains_key(name) {
            return vec![name.clone()];
        }
        let known: Vec<&str> = self.env.nodes.keys().map(String::as_str).collect();
        self.errors.push(self.src.diagnostic(
            Some(node.span()),
            format!(
                "`{name}` is not a node of environment `{}` (nodes: {})",
                self.env.name,
                known.join(", ")
            ),
        ));
        Vec::new()
    }

    fn endpoint(&mut self, text: &Spanned<String>, authority: &str) -> Option<Endpoint> {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().ok().filter(|p| *p > 0)),
            None => (authority, None),
        };
        let Some(port) = port else {
            self.errors.push(self.src.diagnostic(
                Some(text.span()),
                format!(
                    "`{}` needs a node and a port, e.g. `web:80`",
                    text.get_ref()
                ),
            ));
            return None;
        };
        let node = Spanned::new(text.span(), host.to_string());
        let replicas = self.replicas(&node);
        // Network checks go to the node's shared alias; the first replica answers for it.
        replicas.first().map(|_| Endpoint {
            node: host.to_string(),
            port,
        })
    }

    fn http(&mut self, raw: Spanned<RawHttp>) {
        self.line = self.src.table_line(raw.span().start);
        let raw = raw.into_inner();
        let url = raw.url.get_ref().clone();
        let Some((scheme, rest)) = url.split_once("://") else {
            self.errors.push(self.src.diagnostic(
                Some(raw.url.span()),
                format!("`{url}` is not a URL; write e.g. \"http://web:80/\""),
            ));
            return;
        };
        if scheme != "http" && scheme != "https" {
            self.errors.push(self.src.diagnostic(
                Some(raw.url.span()),
                format!("unsupported scheme `{scheme}`; use http or https"),
            ));
            return;
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let authority = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:{}", if scheme == "https" { 443 } else { 80 })
        };
        let Some(target) = self.endpoint(&raw.url, &authority) else {
            return;
        };
        let method = match raw.method {
            Some(m) => {
                let upper = m.get_ref().to_ascii_uppercase();
                if !["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
                    .contains(&upper.as_str())
                {
                    self.errors.push(self.src.diagnostic(
                        Some(m.span()),
                        format!("unknown HTTP method `{}`", m.get_ref()),
                    ));
                    return;
                }
                upper
            }
            None => "GET".into(),
        };
        let status = match raw.status {
            Some(s) if !(100..=599).contains(s.get_ref()) => {
                self.errors.push(self.src.diagnostic(
                    Some(s.span()),
                    format!("{} is not an HTTP status", s.get_ref()),
                ));
                return;
            }
            Some(s) => Matcher::Number(f64::from(s.into_inner())),
            None => Matcher::Number(200.0),
        };
        let body = self.patterns(raw.body);
        let response_headers = self.patterns(raw.response_headers);
        let mut json = Vec::new();
        for (path, value) in &raw.json {
            if let Err(e) = super::assertion::json_path::parse(path) {
                self.errors.push(self.src.diagnostic(Some(value.span()), e));
            } else if let Some(m) = self.matcher(value) {
                json.push((path.clone(), m));
            }
        }
        let from = raw
            .from
            .as_ref()
            .and_then(|f| self.replicas(f).into_iter().next());
        if from.is_some() && scheme == "https" {
            self.errors.push(self.src.diagnostic(
                Some(raw.url.span()),
                "https requests are sent from the host only; drop `from` or use http".to_string(),
            ));
        }
        let explicit = raw.title.is_some();
        let title = raw.title.unwrap_or_else(|| format!("{method} {url}"));
        self.push(
            title,
            explicit,
            raw.timeout.map(NonZeroDuration::get),
            raw.eventually.map(|d| d.0),
            DEFAULT_NETWORK_TIMEOUT,
            Check::Http(Box::new(HttpCheck {
                method,
                scheme: scheme.to_string(),
                target,
                path,
                headers: raw.headers,
                request_body: raw.request_body,
                status,
                body,
                response_headers,
                body_matcher: None,
                headers_matcher: None,
                basic_auth: None,
                proxy: None,
                tls_files: Default::default(),
                json,
                insecure: raw.insecure,
                no_redirect: raw.no_redirect,
                from,
            })),
        );
    }

    fn load(&mut self, raw: Spanned<super::assertion::load::RawLoad>) {
        let raw = raw.into_inner();
        let url = raw.url.get_ref().clone();
        let Some(rest) = url.strip_prefix("http://") else {
            self.errors.push(self.src.diagnostic(
                Some(raw.url.span()),
                format!("`{url}` must be http://NODE:PORT/PATH: loads go to nodes of the instance"),
            ));
            return;
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let authority = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let Some(target) = self.endpoint(&raw.url, &authority) else {
            return;
        };
        let body = self.patterns(raw.body.clone());
        let Some(check) = super::assertion::load::resolve(
            &raw,
            (target.node, target.port, path),
            body,
            self.src,
            &mut self.errors,
        ) else {
            return;
        };
        let explicit = raw.title.is_some();
        let title = raw
            .title
            .clone()
            .unwrap_or_else(|| format!("load {url}: {}", check.describe()));
        let deadline = check.deadline();
        self.push(
            title,
            explicit,
            Some(deadline),
            None,
            deadline,
            Check::Load(check),
        );
    }

    fn tcp(&mut self, raw: Spanned<RawTcp>) {
        self.line = self.src.table_line(raw.span().start);
        let raw = raw.into_inner();
        let address = raw.address.get_ref().clone();
        let Some(target) = self.endpoint(&raw.address, &address) else {
            return;
        };
        let from = raw
            .from
            .as_ref()
            .and_then(|f| self.replicas(f).into_iter().next());
        let explicit = raw.title.is_some();
        let title = raw.title.unwrap_or_else(|| format!("tcp {address}"));
        self.push(
            title,
            explicit,
            raw.timeout.map(NonZeroDuration::get),
            raw.eventually.map(|d| d.0),
            DEFAULT_NETWORK_TIMEOUT,
            Check::Tcp(TcpCheck {
                target,
                reachable: raw.reachable,
                from,
                local_address: None,
            }),
        );
    }

    fn command(&mut self, raw: Spanned<RawCommand>) {
        self.line = self.src.table_line(raw.span().start);
        let raw = raw.into_inner();
        let replicas = self.replicas(&raw.node);
        let stdout = self.patterns(raw.stdout);
        let stderr = self.patterns(raw.stderr);
        let exit = match &raw.exit {
            None => Some(Matcher::Number(0.0)),
            Some(v) if v.get_ref().as_str() == Some("any") => None,
            Some(v)
                if matches!(
                    v.get_ref(),
                    toml::Value::Integer(_) | toml::Value::Table(_) | toml::Value::Array(_)
                ) =>
            {
                match self.matcher(v) {
                    Some(m) => Some(m),
                    None => return,
                }
            }
            Some(v) => {
                self.errors.push(self.src.diagnostic(
                    Some(v.span()),
                    "`exit` is an exit code (`exit = 1`), a matcher (`exit = { gt = 0 }`) or \"any\" (not checked)",
                ));
                return;
            }
        };
        let explicit = raw.title.is_some();
        let title = raw
            .title
            .unwrap_or_else(|| format!("command {}", raw.run.display()));
        let many = replicas.len() > 1;
        for node in replicas {
            let title = if many {
                format!("{title} @{node}")
            } else {
                title.clone()
            };
            self.push(
                title,
                explicit,
                raw.timeout.map(NonZeroDuration::get),
                raw.eventually.map(|d| d.0),
                DEFAULT_EXEC_TIMEOUT,
                Check::Command(CommandCheck {
                    node,
                    run: raw.run.clone(),
                    exit: exit.clone(),
                    stdout: stdout.clone(),
                    stderr: stderr.clone(),
                    output_matchers: Vec::new(),
                }),
            );
        }
    }

    fn file_check(&mut self, raw: Spanned<RawFile>) {
        self.line = self.src.table_line(raw.span().start);
        let raw = raw.into_inner();
        let replicas = self.replicas(&raw.node);
        if !raw.path.get_ref().starts_with('/') {
            self.errors.push(self.src.diagnostic(
                Some(raw.path.span()),
                format!("`{}` must be an absolute path", raw.path.get_ref()),
            ));
        }
        let mut expect = vec![Expectation {
            attribute: "exists".into(),
            matcher: Matcher::Bool(raw.exists),
        }];
        if let Some(t) = &raw.filetype {
            if !FILETYPES.contains(&t.get_ref().as_str()) {
                self.errors.push(self.src.diagnostic(
                    Some(t.span()),
                    format!(
                        "unknown filetype `{}`; use {}",
                        t.get_ref(),
                        FILETYPES.join(", ")
                    ),
                ));
            }
            expect.push(equal("filetype", t.get_ref()));
        }
        if let Some(m) = &raw.mode {
            match fact::normalize_mode(m.get_ref()) {
                Ok(mode) => expect.push(equal("mode", &mode)),
                Err(e) => self.errors.push(self.src.diagnostic(Some(m.span()), e)),
            }
        }
        if let Some(o) = &raw.owner {
            expect.push(equal("owner", o));
        }
        if let Some(g) = &raw.group {
            expect.push(equal("group", g));
        }
        if let Some(size) = &raw.size {
            if let Some(m) = self.matcher(size) {
                expect.push(Expectation {
                    attribute: "size".into(),
                    matcher: m,
                });
            }
        }
        if let Some(h) = &raw.sha256 {
            expect.push(equal("sha256", &h.to_ascii_lowercase()));
        }
        let contains = self.patterns(raw.contains);
        if !contains.is_empty() {
            expect.push(Expectation {
                attribute: "contents".into(),
                matcher: Matcher::And(contains.into_iter().map(Matcher::Pattern).collect()),
            });
        }
        let path = raw.path.into_inner();
        let title = raw.title.unwrap_or_else(|| format!("file {path}"));
        let fact = Fact::File {
            path,
            contents: expect.iter().any(|e| e.attribute == "contents"),
            digests: false,
        };
        self.per_replica(
            title,
            replicas,
            raw.timeout.map(NonZeroDuration::get),
            raw.eventually.map(|d| d.0),
            fact,
            expect,
        );
    }

    /// Pushes one node check per replica.
    fn per_replica(
        &mut self,
        title: String,
        replicas: Vec<String>,
        timeout: Option<Duration>,
        eventually: Option<Duration>,
        fact: Fact,
        expect: Vec<Expectation>,
    ) {
        let many = replicas.len() > 1;
        for node in replicas {
            let title = if many {
                format!("{title} @{node}")
            } else {
                title.clone()
            };
            self.push(
                title,
                true,
                timeout,
                eventually,
                DEFAULT_EXEC_TIMEOUT,
                Check::Node(NodeCheck {
                    node,
                    fact: fact.clone(),
                    expect: expect.clone(),
                }),
            );
        }
    }

    fn matcher(&mut self, value: &Spanned<toml::Value>) -> Option<Matcher> {
        let json = serde_json::to_value(value.get_ref()).unwrap_or_default();
        match Matcher::toml(&json) {
            Ok(m) => Some(m),
            Err(e) => {
                self.errors.push(self.src.diagnostic(Some(value.span()), e));
                None
            }
        }
    }

    /// `[[package]]`, `[[user]]`... : common keys, the identifying key, attributes.
    fn fact_check(&mut self, kind: &str, raw: Spanned<RawFact>) {
        self.line = self.src.table_line(raw.span().start);
        let table_span = raw.span();
        let raw = raw.into_inner();
        let info = fact::kind_info(kind).expect("the resolver only passes known kinds");
        let mut title = None;
        let mut timeout = None;
        let mut eventually = None;
        let mut node = None;
        let mut id = None;
        let mut attributes: Vec<(String, serde_json::Value)> = Vec::new();
        let mut spans = Vec::new();
        for (key, value) in raw {
            let span = value.span();
            let text = |v: &toml::Value| v.as_str().map(str::to_string);
            match key.as_str() {
                "title" | "node" | "timeout" | "eventually" => {
                    let Some(t) = text(value.get_ref()) else {
                        self.errors.push(
                            self.src
                                .diagnostic(Some(span), format!("`{key}` must be a string")),
                        );
                        continue;
                    };
                    match key.as_str() {
                        "title" => title = Some(t),
                        "node" => node = Some(Spanned::new(span, t)),
                        "timeout" => match super::duration::NonZeroDuration::parse(&t) {
                            Ok(d) => timeout = Some(d.get()),
                            Err(e) => self.errors.push(self.src.diagnostic(Some(span), e)),
                        },
                        _ => match super::duration::HumanDuration::parse(&t) {
                            Ok(d) => eventually = Some(d.0),
                            Err(e) => self.errors.push(self.src.diagnostic(Some(span), e)),
                        },
                    }
                }
                k if k == info.id_key => {
                    let v = match value.get_ref() {
                        toml::Value::Integer(i) => Some(i.to_string()),
                        other => text(other),
                    };
                    match v.map(|v| fact::fact_for(kind, &v)) {
                        Some(Ok(f)) => id = Some(f),
                        Some(Err(e)) => self.errors.push(self.src.diagnostic(Some(span), e)),
                        None => self.errors.push(
                            self.src
                                .diagnostic(Some(span), format!("`{key}` must be a string")),
                        ),
                    }
                }
                _ => {
                    attributes.push((
                        key,
                        serde_json::to_value(value.get_ref()).unwrap_or_default(),
                    ));
                    spans.push(span);
                }
            }
        }
        let Some(node) = node else {
            self.errors.push(self.src.diagnostic(
                Some(table_span),
                format!("a {kind} assertion needs `node`, the node to check"),
            ));
            return;
        };
        let Some(fact) = id else {
            if !self.errors.iter().any(|d| d.message.contains(info.id_key)) {
                self.errors.push(self.src.diagnostic(
                    Some(table_span),
                    format!("a {kind} assertion needs `{}`", info.id_key),
                ));
            }
            return;
        };
        let expect = match fact::expectations(kind, &attributes) {
            Ok(e) => e,
            Err((i, msg)) => {
                self.errors.push(
                    self.src
                        .diagnostic(spans.get(i).cloned().or(Some(table_span)), msg),
                );
                return;
            }
        };
        let replicas = self.replicas(&node);
        let title = title.unwrap_or_else(|| describe_fact(&fact));
        self.per_replica(title, replicas, timeout, eventually, fact, expect);
    }
}

fn equal(attribute: &str, value: &str) -> Expectation {
    Expectation {
        attribute: attribute.into(),
        matcher: Matcher::Text(value.to_string()),
    }
}

/// File types, named as goss names them.
pub const FILETYPES: &[&str] = &[
    "file",
    "directory",
    "symlink",
    "socket",
    "pipe",
    "character-device",
    "block-device",
];
