//! goss's templating: Go's text/template language (actions, pipelines, variables, `if`,
//! `range`, `with`, `else`, `break`, `continue`, trim markers, comments) with Go's
//! built-in functions, goss's own (`mkSlice`, `getEnv`, `readFile`, `regexMatch`,
//! `toUpper`, `toLower`, `findStringSubmatch`) and the common Sprig functions listed in
//! [`FUNCTIONS`]. A missing map key is an error, as goss sets `missingkey=error`.
//! `define`, `template`, `block` and functions not listed are rejected with their line.
//! Rendering is bounded: a step budget and an output limit stop templates built to
//! blow up.

use regex::Regex;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// A template value (goss's vars, `.Env`, what functions return). Maps are ordered by
/// key, so `range` visits them as Go does.
#[derive(Debug, Clone, PartialEq)]
pub enum TValue {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<TValue>),
    Map(BTreeMap<String, TValue>),
}

/// What a template can see.
pub struct Context<'a> {
    /// `.Vars`
    pub vars: TValue,
    /// `.Env`, and what `getEnv` and `env` read.
    pub env: BTreeMap<String, String>,
    /// Directory `readFile` paths are relative to.
    pub dir: &'a Path,
    /// `readFile` may not read outside this directory (symlinks followed).
    pub root: &'a Path,
}

/// A template error at a line of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub line: usize,
    pub message: String,
}

/// Evaluation steps one file may take (actions, iterations, function calls).
const STEP_BUDGET: u64 = 5_000_000;
/// Largest rendered file.
const OUTPUT_LIMIT: usize = 16 << 20;

/// Every function a template may call.
pub const FUNCTIONS: &[&str] = &[
    // Go's built-ins
    "and",
    "or",
    "not",
    "len",
    "index",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "urlquery",
    // goss's own
    "mkSlice",
    "getEnv",
    "readFile",
    "regexMatch",
    "toUpper",
    "toLower",
    "findStringSubmatch",
    // Sprig: strings
    "upper",
    "lower",
    "title",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "repeat",
    "replace",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "quote",
    "squote",
    "cat",
    "indent",
    "nindent",
    "substr",
    "trunc",
    "nospace",
    "split",
    "splitList",
    "join",
    "toString",
    "toStrings",
    "regexFind",
    "regexFindAll",
    "regexReplaceAll",
    // Sprig: defaults, conversions, encodings
    "default",
    "empty",
    "coalesce",
    "ternary",
    "toJson",
    "toPrettyJson",
    "fromJson",
    "int",
    "int64",
    "float64",
    "atoi",
    "b64enc",
    "b64dec",
    "sha256sum",
    // Sprig: lists and dicts
    "list",
    "first",
    "last",
    "rest",
    "initial",
    "append",
    "prepend",
    "concat",
    "has",
    "uniq",
    "without",
    "sortAlpha",
    "reverse",
    "compact",
    "dict",
    "get",
    "set",
    "hasKey",
    "keys",
    "values",
    "pick",
    "omit",
    // Sprig: arithmetic and sequences
    "add",
    "add1",
    "sub",
    "mul",
    "div",
    "mod",
    "max",
    "min",
    "until",
    "untilStep",
    // Sprig: environment
    "env",
    "expandenv",
];

/// Renders `text`.
///
/// # Errors
/// Syntax errors, unknown functions, missing keys, failing functions, exhausted budgets;
/// each with the line of the action.
pub fn render(text: &str, ctx: &Context) -> Result<String, TemplateError> {
    if !text.contains("{{") {
        return Ok(text.to_string());
    }
    let items = lex(text)?;
    let mut parser = Parser { items, pos: 0 };
    let nodes = parser.list(&[])?.0;
    let mut dot = BTreeMap::new();
    dot.insert("Vars".to_string(), ctx.vars.clone());
    dot.insert(
        "Env".to_string(),
        TValue::Map(
            ctx.env
                .iter()
                .map(|(k, v)| (k.clone(), TValue::Str(v.clone())))
                .collect(),
        ),
    );
    let mut ex = Exec {
        ctx,
        out: String::new(),
        steps: 0,
        vars: vec![("$".to_string(), TValue::Map(dot.clone()))],
    };
    match ex.walk(&nodes, &TValue::Map(dot))? {
        Flow::Normal => Ok(ex.out),
        Flow::Break | Flow::Continue => Err(TemplateError {
            line: 1,
            message: "`break` or `continue` outside `range`".into(),
        }),
    }
}

// ---------------------------------------------------------------- lexing

#[derive(Debug, Clone)]
enum Item {
    Text(String),
    Action { tokens: Vec<Tok>, line: usize },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// `.a.b` (empty for `.`)
    Field(Vec<String>),
    /// `$x.a.b`
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Num(TValue),
    Open,
    /// `)` with the fields that follow it (`(x).a`)
    Close(Vec<String>),
    Pipe,
    Declare,
    Assign,
    Comma,
}

fn lex(text: &str) -> Result<Vec<Item>, TemplateError> {
    let mut items = Vec::new();
    let mut rest = text;
    let mut line = 1;
    let mut trim_next = false;
    while !rest.is_empty() {
        let Some(start) = rest.find("{{") else {
            let mut t = rest.to_string();
            if trim_next {
                t = t.trim_start().to_string();
            }
            items.push(Item::Text(t));
            break;
        };
        let mut before = rest[..start].to_string();
        if trim_next {
            before = before.trim_start().to_string();
        }
        let after = &rest[start + 2..];
        let left_trim =
            after.starts_with("- ") || after.starts_with("-\n") || after.starts_with("-\t");
        if left_trim {
            before = before.trim_end().to_string();
        }
        line += rest[..start].matches('\n').count();
        items.push(Item::Text(before));
        let body_start = if left_trim { 2 } else { 0 };
        let body_text = &after[body_start..];
        let end = find_close(body_text).ok_or_else(|| TemplateError {
            line,
            message: "unclosed action: `{{` without `}}`".into(),
        })?;
        let mut body = &body_text[..end];
        trim_next = false;
        if body.ends_with(" -") || body.ends_with("\n-") || body.ends_with("\t-") {
            body = &body[..body.len() - 1];
            trim_next = true;
        }
        let trimmed = body.trim();
        if !(trimmed.starts_with("/*") && trimmed.ends_with("*/")) {
            items.push(Item::Action {
                tokens: tokens(body, line)?,
                line,
            });
        }
        line += after[..body_start + end].matches('\n').count();
        rest = &body_text[end + 2..];
    }
    Ok(items)
}

/// The `}}` closing an action, skipping quoted strings.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn tokens(body: &str, line: usize) -> Result<Vec<Tok>, TemplateError> {
    let err = |m: String| TemplateError { line, message: m };
    let chars: Vec<char> = body.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let word = |i: &mut usize| {
        let s = *i;
        while *i < chars.len() && (chars[*i].is_alphanumeric() || chars[*i] == '_') {
            *i += 1;
        }
        chars[s..*i].iter().collect::<String>()
    };
    let fields = |i: &mut usize| -> Vec<String> {
        let mut f = Vec::new();
        while *i < chars.len()
            && chars[*i] == '.'
            && chars
                .get(*i + 1)
                .is_some_and(|c| c.is_alphanumeric() || *c == '_')
        {
            *i += 1;
            f.push(word(i));
        }
        f
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '.' if chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()) => {
                let s = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                out.push(Tok::Num(
                    number(&chars[s..i].iter().collect::<String>()).map_err(err)?,
                ));
            }
            '.' => {
                let f = fields(&mut i);
                if f.is_empty() {
                    i += 1;
                }
                out.push(Tok::Field(f));
            }
            '$' => {
                i += 1;
                let name = format!("${}", word(&mut i));
                out.push(Tok::Var(name, fields(&mut i)));
            }
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                i += 1;
                out.push(Tok::Close(fields(&mut i)));
            }
            '|' => {
                out.push(Tok::Pipe);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                out.push(Tok::Declare);
                i += 2;
            }
            '=' => {
                out.push(Tok::Assign);
                i += 1;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err(err("unterminated quoted string".into()));
                    };
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let e = chars
                                .get(i)
                                .copied()
                                .ok_or_else(|| err("unterminated quoted string".into()))?;
                            i += 1;
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '\\' => '\\',
                                '"' => '"',
                                '\'' => '\'',
                                '0' => '\0',
                                other => {
                                    return Err(err(format!(
                                        "unknown escape `\\{other}` in a string"
                                    )))
                                }
                            });
                        }
                        c => s.push(c),
                    }
                }
                out.push(Tok::Str(s));
            }
            '`' => {
                let s = i + 1;
                i = s;
                while i < chars.len() && chars[i] != '`' {
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(err("unterminated raw string".into()));
                }
                out.push(Tok::Str(chars[s..i].iter().collect()));
                i += 1;
            }
            '\'' => {
                let c = chars
                    .get(i + 1)
                    .copied()
                    .ok_or_else(|| err("bad character constant".into()))?;
                if chars.get(i + 2) != Some(&'\'') {
                    return Err(err("bad character constant".into()));
                }
                out.push(Tok::Num(TValue::Int(c as i64)));
                i += 3;
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+')
                    && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let s = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || chars[i] == '.'
                        || chars[i] == '_'
                        || ((chars[i] == '-' || chars[i] == '+')
                            && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                out.push(Tok::Num(
                    number(&chars[s..i].iter().collect::<String>()).map_err(err)?,
                ));
            }
            c if c.is_alphabetic() || c == '_' => {
                let w = word(&mut i);
                out.push(Tok::Ident(w));
            }
            other => return Err(err(format!("unexpected `{other}` in an action"))),
        }
    }
    Ok(out)
}

fn number(text: &str) -> Result<TValue, String> {
    let clean = text.replace('_', "");
    let (neg, digits) = match clean.strip_prefix('-') {
        Some(d) => (true, d.to_string()),
        None => (false, clean.trim_start_matches('+').to_string()),
    };
    let int = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = digits.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if digits.len() > 1
        && digits.starts_with('0')
        && digits.chars().all(|c| c.is_ascii_digit())
    {
        i64::from_str_radix(&digits[1..], 8).ok()
    } else {
        digits.parse::<i64>().ok()
    };
    if let Some(i) = int {
        return Ok(TValue::Int(if neg { -i } else { i }));
    }
    clean
        .parse::<f64>()
        .map(TValue::Float)
        .map_err(|_| format!("bad number syntax: `{text}`"))
}

// ---------------------------------------------------------------- parsing

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    If {
        branches: Vec<(Pipe, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    With {
        branches: Vec<(Pipe, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Break,
    Continue,
}

#[derive(Debug, Clone)]
struct Pipe {
    line: usize,
    decl: Vec<String>,
    assign: bool,
    cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone)]
enum Arg {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Sub(Box<Pipe>, Vec<String>),
    Lit(TValue),
    Func(String),
}

/// How a list of nodes ended.
#[derive(Debug, Clone, PartialEq)]
enum End {
    Close,
    Else(Vec<Tok>),
    Eof,
}

struct Parser {
    items: Vec<Item>,
    pos: usize,
}

impl Parser {
    /// Nodes until `{{end}}` or `{{else ...}}` (when `stops` allows) or the end.
    fn list(&mut self, stops: &[&str]) -> Result<(Vec<Node>, End, usize), TemplateError> {
        let mut nodes = Vec::new();
        while self.pos < self.items.len() {
            let item = self.items[self.pos].clone();
            self.pos += 1;
            match item {
                Item::Text(t) => {
                    if !t.is_empty() {
                        nodes.push(Node::Text(t));
                    }
                }
                Item::Action { tokens, line } => {
                    let err = |m: String| TemplateError { line, message: m };
                    match tokens.first() {
                        Some(Tok::Ident(k)) if k == "end" => {
                            if stops.is_empty() {
                                return Err(err("unexpected `{{end}}`".into()));
                            }
                            return Ok((nodes, End::Close, line));
                        }
                        Some(Tok::Ident(k)) if k == "else" => {
                            if !stops.contains(&"else") {
                                return Err(err("unexpected `{{else}}`".into()));
                            }
                            return Ok((nodes, End::Else(tokens[1..].to_vec()), line));
                        }
                        Some(Tok::Ident(k)) if k == "if" || k == "with" => {
                            let (branches, otherwise) = self.branches(k, &tokens[1..], line)?;
                            nodes.push(if k == "if" {
                                Node::If {
                                    branches,
                                    otherwise,
                                }
                            } else {
                                Node::With {
                                    branches,
                                    otherwise,
                                }
                            });
                        }
                        Some(Tok::Ident(k)) if k == "range" => {
                            let pipe = pipeline(&tokens[1..], line, true)?;
                            let (body, end, l) = self.list(&["else", "end"])?;
                            let otherwise = match end {
                                End::Close => Vec::new(),
                                End::Else(t) if t.is_empty() => {
                                    let (o, e, l2) = self.list(&["end"])?;
                                    if e != End::Close {
                                        return Err(TemplateError {
                                            line: l2,
                                            message: "`range` without `{{end}}`".into(),
                                        });
                                    }
                                    o
                                }
                                End::Else(_) => {
                                    return Err(TemplateError {
                                        line: l,
                                        message: "`{{else ...}}` after `range` takes nothing"
                                            .into(),
                                    })
                                }
                                End::Eof => return Err(err("`range` without `{{end}}`".into())),
                            };
                            nodes.push(Node::Range {
                                pipe,
                                body,
                                otherwise,
                            });
                        }
                        Some(Tok::Ident(k)) if k == "break" => nodes.push(Node::Break),
                        Some(Tok::Ident(k)) if k == "continue" => nodes.push(Node::Continue),
                        Some(Tok::Ident(k))
                            if matches!(k.as_str(), "define" | "template" | "block") =>
                        {
                            return Err(err(format!("`{{{{{k}}}}}` is not supported by envctl's goss templates; write the text where it is used")));
                        }
                        Some(_) => nodes.push(Node::Action(pipeline(&tokens, line, true)?)),
                        None => return Err(err("empty action `{{}}`".into())),
                    }
                }
            }
        }
        Ok((nodes, End::Eof, 0))
    }

    /// `if`/`with` branches, including `else if` / `else with` chains.
    #[allow(clippy::type_complexity)]
    fn branches(
        &mut self,
        kind: &str,
        first: &[Tok],
        line: usize,
    ) -> Result<(Vec<(Pipe, Vec<Node>)>, Vec<Node>), TemplateError> {
        let mut branches = Vec::new();
        let mut cond = pipeline(first, line, kind == "with")?;
        loop {
            let (body, end, l) = self.list(&["else", "end"])?;
            branches.push((cond, body));
            match end {
                End::Close => return Ok((branches, Vec::new())),
                End::Eof => {
                    return Err(TemplateError {
                        line,
                        message: format!("`{kind}` without `{{{{end}}}}`"),
                    })
                }
                End::Else(t) if t.is_empty() => {
                    let (o, e, l2) = self.list(&["end"])?;
                    if e != End::Close {
                        return Err(TemplateError {
                            line: l2.max(line),
                            message: format!("`{kind}` without `{{{{end}}}}`"),
                        });
                    }
                    return Ok((branches, o));
                }
                End::Else(t) => match t.first() {
                    Some(Tok::Ident(k)) if k == kind => {
                        cond = pipeline(&t[1..], l, kind == "with")?
                    }
                    _ => {
                        return Err(TemplateError {
                            line: l,
                            message: format!(
                                "after `{kind}`, write `{{{{else}}}}` or `{{{{else {kind} ...}}}}`"
                            ),
                        })
                    }
                },
            }
        }
    }
}

fn pipeline(toks: &[Tok], line: usize, declarations: bool) -> Result<Pipe, TemplateError> {
    let err = |m: String| TemplateError { line, message: m };
    let mut decl = Vec::new();
    let mut assign = false;
    let mut rest = toks;
    // `$x :=`, `$k, $v :=`, `$x =`
    let split = toks
        .iter()
        .position(|t| matches!(t, Tok::Declare | Tok::Assign));
    if let Some(at) = split {
        let names: Vec<&Tok> = toks[..at].iter().filter(|t| **t != Tok::Comma).collect();
        if names
            .iter()
            .all(|t| matches!(t, Tok::Var(_, f) if f.is_empty()))
            && !names.is_empty()
        {
            if !declarations && names.len() > 1 {
                return Err(err("only `range` declares two variables".into()));
            }
            decl = names
                .iter()
                .map(|t| match t {
                    Tok::Var(n, _) => n.clone(),
                    _ => unreachable!(),
                })
                .collect();
            assign = toks[at] == Tok::Assign;
            rest = &toks[at + 1..];
        }
    }
    let mut cmds = Vec::new();
    let mut pos = 0;
    loop {
        let (cmd, next) = command(rest, pos, line)?;
        if cmd.is_empty() {
            return Err(err("missing value in a pipeline".into()));
        }
        cmds.push(cmd);
        match rest.get(next) {
            Some(Tok::Pipe) => pos = next + 1,
            None => break,
            Some(t) => return Err(err(format!("unexpected {t:?} in a pipeline"))),
        }
    }
    Ok(Pipe {
        line,
        decl,
        assign,
        cmds,
    })
}

/// One command's operands, from `pos` until `|`, `)` or the end.
fn command(toks: &[Tok], mut pos: usize, line: usize) -> Result<(Vec<Arg>, usize), TemplateError> {
    let err = |m: String| TemplateError { line, message: m };
    let mut args = Vec::new();
    while let Some(t) = toks.get(pos) {
        match t {
            Tok::Pipe | Tok::Close(_) => break,
            Tok::Open => {
                // The matching `)`.
                let mut depth = 0;
                let mut end = None;
                for (i, t) in toks.iter().enumerate().skip(pos) {
                    match t {
                        Tok::Open => depth += 1,
                        Tok::Close(_) => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(i);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let end = end.ok_or_else(|| err("unclosed `(`".into()))?;
                let inner = pipeline(&toks[pos + 1..end], line, false)?;
                let Tok::Close(fields) = &toks[end] else {
                    unreachable!()
                };
                args.push(Arg::Sub(Box::new(inner), fields.clone()));
                pos = end + 1;
                continue;
            }
            Tok::Field(f) => args.push(Arg::Field(f.clone())),
            Tok::Var(n, f) => args.push(Arg::Var(n.clone(), f.clone())),
            Tok::Str(s) => args.push(Arg::Lit(TValue::Str(s.clone()))),
            Tok::Num(n) => args.push(Arg::Lit(n.clone())),
            Tok::Ident(w) => args.push(match w.as_str() {
                "true" => Arg::Lit(TValue::Bool(true)),
                "false" => Arg::Lit(TValue::Bool(false)),
                "nil" => Arg::Lit(TValue::Nil),
                f if FUNCTIONS.contains(&f) => Arg::Func(f.to_string()),
                f => {
                    return Err(err(format!(
                        "template function `{f}` is not supported by envctl (supported: {})",
                        FUNCTIONS.join(", ")
                    )))
                }
            }),
            other => return Err(err(format!("unexpected {other:?} in a command"))),
        }
        pos += 1;
    }
    Ok((args, pos))
}

// ---------------------------------------------------------------- execution

enum Flow {
    Normal,
    Break,
    Continue,
}

struct Exec<'a> {
    ctx: &'a Context<'a>,
    out: String,
    steps: u64,
    vars: Vec<(String, TValue)>,
}

impl Exec<'_> {
    fn step(&mut self, line: usize) -> Result<(), TemplateError> {
        self.steps += 1;
        if self.steps > STEP_BUDGET {
            return Err(TemplateError {
                line,
                message: format!("the template takes more than {STEP_BUDGET} steps to render; envctl stops there"),
            });
        }
        if self.out.len() > OUTPUT_LIMIT {
            return Err(TemplateError {
                line,
                message: format!(
                    "the template renders more than {} MiB; envctl stops there",
                    OUTPUT_LIMIT >> 20
                ),
            });
        }
        Ok(())
    }

    fn walk(&mut self, nodes: &[Node], dot: &TValue) -> Result<Flow, TemplateError> {
        for node in nodes {
            match node {
                Node::Text(t) => {
                    self.step(0)?;
                    self.out.push_str(t);
                }
                Node::Action(p) => {
                    self.step(p.line)?;
                    let v = self.pipe(p, dot)?;
                    if p.decl.is_empty() {
                        let text = print(&v);
                        self.out.push_str(&text);
                    }
                }
                Node::If {
                    branches,
                    otherwise,
                }
                | Node::With {
                    branches,
                    otherwise,
                } => {
                    let with = matches!(node, Node::With { .. });
                    let mark = self.vars.len();
                    let mut taken = false;
                    for (cond, body) in branches {
                        self.step(cond.line)?;
                        let v = self.pipe(cond, dot)?;
                        if truthy(&v) {
                            let flow = self.walk(body, if with { &v } else { dot })?;
                            self.vars.truncate(mark);
                            if !matches!(flow, Flow::Normal) {
                                return Ok(flow);
                            }
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        let flow = self.walk(otherwise, dot)?;
                        self.vars.truncate(mark);
                        if !matches!(flow, Flow::Normal) {
                            return Ok(flow);
                        }
                    }
                    self.vars.truncate(mark);
                }
                Node::Range {
                    pipe,
                    body,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    let plain = Pipe {
                        decl: Vec::new(),
                        ..pipe.clone()
                    };
                    let v = self.pipe(&plain, dot)?;
                    let pairs: Vec<(TValue, TValue)> = match v {
                        TValue::List(items) => items
                            .into_iter()
                            .enumerate()
                            .map(|(i, v)| (TValue::Int(i as i64), v))
                            .collect(),
                        TValue::Map(m) => m.into_iter().map(|(k, v)| (TValue::Str(k), v)).collect(),
                        TValue::Int(n) => (0..n.max(0))
                            .map(|i| (TValue::Int(i), TValue::Int(i)))
                            .collect(),
                        TValue::Nil => Vec::new(),
                        other => {
                            return Err(TemplateError {
                                line: pipe.line,
                                message: format!("range can't iterate over {}", print(&other)),
                            })
                        }
                    };
                    if pairs.is_empty() {
                        if let Flow::Break | Flow::Continue = self.walk(otherwise, dot)? {
                            return Err(TemplateError {
                                line: pipe.line,
                                message: "`break` or `continue` outside `range`".into(),
                            });
                        }
                    }
                    for (k, v) in pairs {
                        self.step(pipe.line)?;
                        self.vars.truncate(mark);
                        match pipe.decl.as_slice() {
                            [] => {}
                            [one] => self.vars.push((one.clone(), v.clone())),
                            [key, value, ..] => {
                                self.vars.push((key.clone(), k));
                                self.vars.push((value.clone(), v.clone()));
                            }
                        }
                        match self.walk(body, &v)? {
                            Flow::Break => break,
                            Flow::Continue | Flow::Normal => {}
                        }
                    }
                    self.vars.truncate(mark);
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn pipe(&mut self, p: &Pipe, dot: &TValue) -> Result<TValue, TemplateError> {
        let mut value: Option<TValue> = None;
        for cmd in &p.cmds {
            value = Some(self.command(cmd, dot, value, p.line)?);
        }
        let v = value.unwrap_or(TValue::Nil);
        match p.decl.as_slice() {
            [] => {}
            [name] if p.assign => {
                let slot = self
                    .vars
                    .iter_mut()
                    .rev()
                    .find(|(n, _)| n == name)
                    .ok_or_else(|| TemplateError {
                        line: p.line,
                        message: format!("undefined variable `{name}`"),
                    })?;
                slot.1 = v.clone();
            }
            names => {
                for n in names {
                    self.vars.push((n.clone(), v.clone()));
                }
            }
        }
        Ok(v)
    }

    fn command(
        &mut self,
        args: &[Arg],
        dot: &TValue,
        piped: Option<TValue>,
        line: usize,
    ) -> Result<TValue, TemplateError> {
        let err = |m: String| TemplateError { line, message: m };
        self.step(line)?;
        match &args[0] {
            Arg::Func(name) => {
                // `and` and `or` stop at the first operand that decides.
                if name == "and" || name == "or" {
                    let mut last = TValue::Nil;
                    let operands = args[1..].iter().map(Some).chain(piped.iter().map(|_| None));
                    for a in operands {
                        last = match a {
                            Some(a) => self.arg(a, dot, line)?,
                            None => piped.clone().unwrap_or(TValue::Nil),
                        };
                        if truthy(&last) != (name == "and") {
                            return Ok(last);
                        }
                    }
                    return Ok(last);
                }
                let mut vals = Vec::new();
                for a in &args[1..] {
                    vals.push(self.arg(a, dot, line)?);
                }
                vals.extend(piped);
                call(name, &vals, self.ctx).map_err(|m| err(format!("{name}: {m}")))
            }
            first => {
                if args.len() > 1 || piped.is_some() {
                    return Err(err(
                        "can't give an argument to a value that is not a function".into(),
                    ));
                }
                self.arg(first, dot, line)
            }
        }
    }

    fn arg(&mut self, a: &Arg, dot: &TValue, line: usize) -> Result<TValue, TemplateError> {
        let err = |m: String| TemplateError { line, message: m };
        match a {
            Arg::Field(f) => fields(dot, f).map_err(err),
            Arg::Var(name, f) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| err(format!("undefined variable `{name}`")))?;
                fields(&v, f).map_err(err)
            }
            Arg::Sub(p, f) => {
                let v = self.pipe(p, dot)?;
                fields(&v, f).map_err(err)
            }
            Arg::Lit(v) => Ok(v.clone()),
            Arg::Func(name) => call(name, &[], self.ctx).map_err(|m| err(format!("{name}: {m}"))),
        }
    }
}

fn fields(v: &TValue, path: &[String]) -> Result<TValue, String> {
    let mut cur = v.clone();
    for (i, f) in path.iter().enumerate() {
        cur = match cur {
            TValue::Map(mut m) => m
                .remove(f)
                .ok_or_else(|| format!("map has no entry for key `{}`", path[..=i].join(".")))?,
            TValue::Nil => return Err(format!("nil value evaluating `.{}`", path[..=i].join("."))),
            other => return Err(format!("can't evaluate field `{f}` of {}", print(&other))),
        };
    }
    Ok(cur)
}

fn truthy(v: &TValue) -> bool {
    match v {
        TValue::Nil => false,
        TValue::Bool(b) => *b,
        TValue::Int(i) => *i != 0,
        TValue::Float(f) => *f != 0.0,
        TValue::Str(s) => !s.is_empty(),
        TValue::List(l) => !l.is_empty(),
        TValue::Map(m) => !m.is_empty(),
    }
}

/// A value as Go's `fmt` prints it with `%v`.
pub fn print(v: &TValue) -> String {
    match v {
        TValue::Nil => "<no value>".into(),
        TValue::Bool(b) => b.to_string(),
        TValue::Int(i) => i.to_string(),
        TValue::Float(f) => go_float(*f),
        TValue::Str(s) => s.clone(),
        TValue::List(items) => format!(
            "[{}]",
            items.iter().map(print_inner).collect::<Vec<_>>().join(" ")
        ),
        TValue::Map(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", print_inner(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

fn print_inner(v: &TValue) -> String {
    match v {
        TValue::Nil => "<nil>".into(),
        other => print(other),
    }
}

fn go_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{}", f as i64)
    } else if f.abs() >= 1e21 || (f != 0.0 && f.abs() < 1e-4) {
        let s = format!("{f:e}");
        // Go writes the exponent with a sign and two digits: 1e+21.
        match s.split_once('e') {
            Some((m, e)) => {
                let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
                format!("{m}e{sign}{digits:0>2}")
            }
            None => s,
        }
    } else {
        f.to_string()
    }
}

fn as_str(v: &TValue) -> String {
    match v {
        TValue::Str(s) => s.clone(),
        TValue::Nil => String::new(),
        other => print(other),
    }
}

fn as_int(v: &TValue) -> Result<i64, String> {
    match v {
        TValue::Int(i) => Ok(*i),
        TValue::Float(f) => Ok(*f as i64),
        TValue::Bool(b) => Ok(i64::from(*b)),
        TValue::Str(s) => Ok(s.trim().parse::<f64>().map(|f| f as i64).unwrap_or(0)),
        TValue::Nil => Ok(0),
        other => Err(format!("{} is not a number", print(other))),
    }
}

fn as_float(v: &TValue) -> f64 {
    match v {
        TValue::Int(i) => *i as f64,
        TValue::Float(f) => *f,
        TValue::Str(s) => s.trim().parse().unwrap_or(0.0),
        TValue::Bool(b) => f64::from(u8::from(*b)),
        _ => 0.0,
    }
}

fn list_of(v: &TValue) -> Result<Vec<TValue>, String> {
    match v {
        TValue::List(l) => Ok(l.clone()),
        TValue::Nil => Ok(Vec::new()),
        other => Err(format!("{} is not a list", print(other))),
    }
}

fn compare(a: &TValue, b: &TValue) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (TValue::Str(x), TValue::Str(y)) => Ok(x.cmp(y)),
        (TValue::Int(_) | TValue::Float(_), TValue::Int(_) | TValue::Float(_)) => as_float(a)
            .partial_cmp(&as_float(b))
            .ok_or_else(|| "cannot compare NaN".to_string()),
        _ => Err(format!(
            "incompatible types for comparison: {} and {}",
            print(a),
            print(b)
        )),
    }
}

fn equal(a: &TValue, b: &TValue) -> bool {
    match (a, b) {
        (TValue::Int(_) | TValue::Float(_), TValue::Int(_) | TValue::Float(_)) => {
            as_float(a) == as_float(b)
        }
        _ => a == b,
    }
}

fn to_json(v: &TValue) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        TValue::Nil => J::Null,
        TValue::Bool(b) => J::Bool(*b),
        TValue::Int(i) => J::from(*i),
        TValue::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        TValue::Str(s) => J::String(s.clone()),
        TValue::List(l) => J::Array(l.iter().map(to_json).collect()),
        TValue::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}

/// A JSON (or YAML) value as a template value.
pub fn from_json(v: &serde_json::Value) -> TValue {
    use serde_json::Value as J;
    match v {
        J::Null => TValue::Nil,
        J::Bool(b) => TValue::Bool(*b),
        J::Number(n) => n.as_i64().map_or_else(
            || TValue::Float(n.as_f64().unwrap_or_default()),
            TValue::Int,
        ),
        J::String(s) => TValue::Str(s.clone()),
        J::Array(a) => TValue::List(a.iter().map(from_json).collect()),
        J::Object(o) => TValue::Map(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect()),
    }
}

fn regex(re: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(re)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("invalid regular expression `{re}`: {e}"))
}

fn call(name: &str, a: &[TValue], ctx: &Context) -> Result<TValue, String> {
    let need = |n: usize| {
        if a.len() < n {
            Err(format!("needs {n} argument(s), got {}", a.len()))
        } else {
            Ok(())
        }
    };
    let s = |i: usize| a.get(i).map(as_str).unwrap_or_default();
    let last = || a.last().cloned().unwrap_or(TValue::Nil);
    let str_val = |x: String| Ok(TValue::Str(x));
    match name {
        "not" => {
            need(1)?;
            Ok(TValue::Bool(!truthy(&a[0])))
        }
        "len" => {
            need(1)?;
            Ok(TValue::Int(match &a[0] {
                TValue::Str(s) => s.len(),
                TValue::List(l) => l.len(),
                TValue::Map(m) => m.len(),
                TValue::Nil => 0,
                other => return Err(format!("len of {}", print(other))),
            } as i64))
        }
        "index" => {
            need(1)?;
            let mut cur = a[0].clone();
            for k in &a[1..] {
                cur = match (cur, k) {
                    (TValue::Map(mut m), k) => {
                        let key = as_str(k);
                        m.remove(&key)
                            .ok_or_else(|| format!("map has no entry for key `{key}`"))?
                    }
                    (TValue::List(l), k) => {
                        let i = as_int(k)?;
                        l.get(usize::try_from(i).map_err(|_| format!("index {i} out of range"))?)
                            .cloned()
                            .ok_or_else(|| format!("index {i} out of range"))?
                    }
                    (TValue::Nil, _) => return Err("index of a nil value".into()),
                    (other, _) => return Err(format!("can't index {}", print(&other))),
                };
            }
            Ok(cur)
        }
        "print" => {
            let mut out = String::new();
            for (i, v) in a.iter().enumerate() {
                let both_non_str =
                    i > 0 && !matches!(v, TValue::Str(_)) && !matches!(a[i - 1], TValue::Str(_));
                if both_non_str {
                    out.push(' ');
                }
                out.push_str(&print(v));
            }
            str_val(out)
        }
        "println" => str_val(format!(
            "{}\n",
            a.iter().map(print).collect::<Vec<_>>().join(" ")
        )),
        "printf" => {
            need(1)?;
            str_val(printf(&s(0), &a[1..])?)
        }
        "eq" => {
            need(2)?;
            Ok(TValue::Bool(a[1..].iter().any(|b| equal(&a[0], b))))
        }
        "ne" => {
            need(2)?;
            Ok(TValue::Bool(!equal(&a[0], &a[1])))
        }
        "lt" | "le" | "gt" | "ge" => {
            need(2)?;
            let o = compare(&a[0], &a[1])?;
            use std::cmp::Ordering::*;
            Ok(TValue::Bool(match name {
                "lt" => o == Less,
                "le" => o != Greater,
                "gt" => o == Greater,
                _ => o != Less,
            }))
        }
        "urlquery" => str_val(
            a.iter()
                .map(print)
                .collect::<String>()
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else if b == b' ' {
                        "+".into()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect(),
        ),
        "mkSlice" | "list" => Ok(TValue::List(a.to_vec())),
        "getEnv" => {
            need(1)?;
            let v = ctx.env.get(&s(0)).cloned().unwrap_or_default();
            if v.is_empty() && a.len() > 1 {
                str_val(s(1))
            } else {
                str_val(v)
            }
        }
        "env" => str_val(ctx.env.get(&s(0)).cloned().unwrap_or_default()),
        "expandenv" => {
            let re = Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
                .expect("static regex");
            str_val(
                re.replace_all(&s(0), |c: &regex::Captures| {
                    let k = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str());
                    ctx.env.get(k).cloned().unwrap_or_default()
                })
                .into_owned(),
            )
        }
        "readFile" => {
            need(1)?;
            str_val(read_file(ctx, &s(0))?.trim().to_string())
        }
        "regexMatch" => {
            need(2)?;
            Ok(TValue::Bool(regex(&s(0))?.is_match(&s(1))))
        }
        "findStringSubmatch" => {
            need(2)?;
            let re = regex(&s(0))?;
            let mut plain = BTreeMap::new();
            let mut named = BTreeMap::new();
            if let Some(c) = re.captures(&s(1)) {
                for (i, name) in re.capture_names().enumerate() {
                    let text = c.get(i).map_or("", |m| m.as_str()).to_string();
                    plain.insert(i.to_string(), TValue::Str(text.clone()));
                    if let Some(n) = name {
                        named.insert(n.to_string(), TValue::Str(text));
                    }
                }
            }
            Ok(TValue::Map(if named.is_empty() { plain } else { named }))
        }
        "toUpper" | "upper" => str_val(s(0).to_uppercase()),
        "toLower" | "lower" => str_val(s(0).to_lowercase()),
        "title" => str_val(
            s(0).split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "trim" => str_val(s(0).trim().to_string()),
        "trimAll" => {
            need(2)?;
            let cut: Vec<char> = s(0).chars().collect();
            str_val(s(1).trim_matches(|c| cut.contains(&c)).to_string())
        }
        "trimPrefix" => {
            need(2)?;
            str_val(
                s(1).strip_prefix(&s(0))
                    .map_or_else(|| s(1), str::to_string),
            )
        }
        "trimSuffix" => {
            need(2)?;
            str_val(
                s(1).strip_suffix(&s(0))
                    .map_or_else(|| s(1), str::to_string),
            )
        }
        "repeat" => {
            need(2)?;
            let n = usize::try_from(as_int(&a[0])?).map_err(|_| "a negative count".to_string())?;
            let text = s(1);
            if n.saturating_mul(text.len()) > OUTPUT_LIMIT {
                return Err("the result would be too large".into());
            }
            str_val(text.repeat(n))
        }
        "replace" => {
            need(3)?;
            str_val(s(2).replace(&s(0), &s(1)))
        }
        "contains" => {
            need(2)?;
            Ok(TValue::Bool(s(1).contains(&s(0))))
        }
        "hasPrefix" => {
            need(2)?;
            Ok(TValue::Bool(s(1).starts_with(&s(0))))
        }
        "hasSuffix" => {
            need(2)?;
            Ok(TValue::Bool(s(1).ends_with(&s(0))))
        }
        "quote" => str_val(
            a.iter()
                .map(|v| format!("{:?}", as_str(v)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "squote" => str_val(
            a.iter()
                .map(|v| format!("'{}'", as_str(v)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "cat" => str_val(
            a.iter()
                .filter(|v| **v != TValue::Nil)
                .map(as_str)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "indent" | "nindent" => {
            need(2)?;
            let pad = " ".repeat(usize::try_from(as_int(&a[0])?).unwrap_or(0));
            let body = s(1)
                .lines()
                .map(|l| format!("{pad}{l}"))
                .collect::<Vec<_>>()
                .join("\n");
            str_val(if name == "nindent" {
                format!("\n{body}")
            } else {
                body
            })
        }
        "substr" => {
            need(3)?;
            let text: Vec<char> = s(2).chars().collect();
            let start = usize::try_from(as_int(&a[0])?).unwrap_or(0).min(text.len());
            let end = usize::try_from(as_int(&a[1])?)
                .map_or(text.len(), |e| e.min(text.len()))
                .max(start);
            str_val(text[start..end].iter().collect())
        }
        "trunc" => {
            need(2)?;
            let n = as_int(&a[0])?;
            let text: Vec<char> = s(1).chars().collect();
            let n = usize::try_from(n.unsigned_abs())
                .unwrap_or(usize::MAX)
                .min(text.len());
            str_val(if as_int(&a[0])? >= 0 {
                text[..n].iter().collect()
            } else {
                text[text.len() - n..].iter().collect()
            })
        }
        "nospace" => str_val(s(0).split_whitespace().collect()),
        "split" => {
            need(2)?;
            Ok(TValue::Map(
                s(1).split(&s(0))
                    .enumerate()
                    .map(|(i, p)| (format!("_{i}"), TValue::Str(p.into())))
                    .collect(),
            ))
        }
        "splitList" => {
            need(2)?;
            Ok(TValue::List(
                s(1).split(&s(0)).map(|p| TValue::Str(p.into())).collect(),
            ))
        }
        "join" => {
            need(2)?;
            str_val(
                list_of(&a[1])?
                    .iter()
                    .map(as_str)
                    .collect::<Vec<_>>()
                    .join(&s(0)),
            )
        }
        "toString" => str_val(a.first().map(as_str).unwrap_or_default()),
        "toStrings" => Ok(TValue::List(
            list_of(&last())?
                .iter()
                .map(|v| TValue::Str(as_str(v)))
                .collect(),
        )),
        "regexFind" => {
            need(2)?;
            str_val(
                regex(&s(0))?
                    .find(&s(1))
                    .map_or(String::new(), |m| m.as_str().to_string()),
            )
        }
        "regexFindAll" => {
            need(3)?;
            let n = as_int(&a[2])?;
            let re = regex(&s(0))?;
            let text = s(1);
            let found = re.find_iter(&text).map(|m| TValue::Str(m.as_str().into()));
            Ok(TValue::List(if n < 0 {
                found.collect()
            } else {
                found.take(n as usize).collect()
            }))
        }
        "regexReplaceAll" => {
            need(3)?;
            str_val(regex(&s(0))?.replace_all(&s(1), s(2).as_str()).into_owned())
        }
        "default" => {
            need(1)?;
            Ok(if a.len() > 1 && truthy(&a[1]) {
                a[1].clone()
            } else {
                a[0].clone()
            })
        }
        "empty" => Ok(TValue::Bool(!truthy(
            &a.first().cloned().unwrap_or(TValue::Nil),
        ))),
        "coalesce" => Ok(a.iter().find(|v| truthy(v)).cloned().unwrap_or(TValue::Nil)),
        "ternary" => {
            need(3)?;
            Ok(if truthy(&a[2]) {
                a[0].clone()
            } else {
                a[1].clone()
            })
        }
        "toJson" => str_val(serde_json::to_string(&to_json(&last())).unwrap_or_default()),
        "toPrettyJson" => {
            str_val(serde_json::to_string_pretty(&to_json(&last())).unwrap_or_default())
        }
        "fromJson" => {
            Ok(serde_json::from_str::<serde_json::Value>(&s(0))
                .map_or(TValue::Nil, |j| from_json(&j)))
        }
        "int" | "int64" | "atoi" => Ok(TValue::Int(as_int(&last())?)),
        "float64" => Ok(TValue::Float(as_float(&last()))),
        "b64enc" => str_val(base64(s(0).as_bytes())),
        "b64dec" => str_val(unbase64(&s(0)).ok_or("not base64")?),
        "sha256sum" => {
            use sha2::Digest;
            str_val(
                sha2::Sha256::digest(s(0).as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            )
        }
        "first" => Ok(list_of(&last())?.first().cloned().unwrap_or(TValue::Nil)),
        "last" => Ok(list_of(&last())?.last().cloned().unwrap_or(TValue::Nil)),
        "rest" => Ok(TValue::List(
            list_of(&last())?.into_iter().skip(1).collect(),
        )),
        "initial" => {
            let mut l = list_of(&last())?;
            l.pop();
            Ok(TValue::List(l))
        }
        "append" => {
            need(2)?;
            let mut l = list_of(&a[0])?;
            l.push(a[1].clone());
            Ok(TValue::List(l))
        }
        "prepend" => {
            need(2)?;
            let mut l = list_of(&a[0])?;
            l.insert(0, a[1].clone());
            Ok(TValue::List(l))
        }
        "concat" => {
            let mut l = Vec::new();
            for v in a {
                l.extend(list_of(v)?);
            }
            Ok(TValue::List(l))
        }
        "has" => {
            need(2)?;
            Ok(TValue::Bool(
                list_of(&a[1])?.iter().any(|v| equal(v, &a[0])),
            ))
        }
        "uniq" => {
            let mut out: Vec<TValue> = Vec::new();
            for v in list_of(&last())? {
                if !out.iter().any(|o| equal(o, &v)) {
                    out.push(v);
                }
            }
            Ok(TValue::List(out))
        }
        "without" => {
            need(1)?;
            Ok(TValue::List(
                list_of(&a[0])?
                    .into_iter()
                    .filter(|v| !a[1..].iter().any(|w| equal(v, w)))
                    .collect(),
            ))
        }
        "sortAlpha" => {
            let mut l: Vec<String> = list_of(&last())?.iter().map(as_str).collect();
            l.sort();
            Ok(TValue::List(l.into_iter().map(TValue::Str).collect()))
        }
        "reverse" => {
            let mut l = list_of(&last())?;
            l.reverse();
            Ok(TValue::List(l))
        }
        "compact" => Ok(TValue::List(
            list_of(&last())?.into_iter().filter(truthy).collect(),
        )),
        "dict" => Ok(TValue::Map(
            a.chunks(2)
                .map(|kv| (as_str(&kv[0]), kv.get(1).cloned().unwrap_or(TValue::Nil)))
                .collect(),
        )),
        "get" => {
            need(2)?;
            match &a[0] {
                TValue::Map(m) => Ok(m.get(&s(1)).cloned().unwrap_or(TValue::Str(String::new()))),
                other => Err(format!("{} is not a dict", print(other))),
            }
        }
        "set" => {
            need(3)?;
            match &a[0] {
                TValue::Map(m) => {
                    let mut m = m.clone();
                    m.insert(s(1), a[2].clone());
                    Ok(TValue::Map(m))
                }
                other => Err(format!("{} is not a dict", print(other))),
            }
        }
        "hasKey" => {
            need(2)?;
            Ok(TValue::Bool(
                matches!(&a[0], TValue::Map(m) if m.contains_key(&s(1))),
            ))
        }
        "keys" => {
            let mut keys = Vec::new();
            for v in a {
                if let TValue::Map(m) = v {
                    keys.extend(m.keys().map(|k| TValue::Str(k.clone())));
                }
            }
            Ok(TValue::List(keys))
        }
        "values" => match a.first() {
            Some(TValue::Map(m)) => Ok(TValue::List(m.values().cloned().collect())),
            _ => Err("needs a dict".into()),
        },
        "pick" | "omit" => {
            need(1)?;
            let TValue::Map(m) = &a[0] else {
                return Err("needs a dict".into());
            };
            let names: Vec<String> = a[1..].iter().map(as_str).collect();
            Ok(TValue::Map(
                m.iter()
                    .filter(|(k, _)| names.contains(k) == (name == "pick"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ))
        }
        "add" => Ok(TValue::Int(a.iter().map(as_int).sum::<Result<i64, _>>()?)),
        "add1" => Ok(TValue::Int(as_int(&last())? + 1)),
        "sub" | "mul" | "div" | "mod" => {
            need(2)?;
            let (x, y) = (as_int(&a[0])?, as_int(&a[1])?);
            Ok(TValue::Int(match name {
                "sub" => x - y,
                "mul" => x.saturating_mul(y),
                _ if y == 0 => return Err("division by zero".into()),
                "div" => x / y,
                _ => x % y,
            }))
        }
        "max" | "min" => {
            need(1)?;
            let nums = a.iter().map(as_int).collect::<Result<Vec<_>, _>>()?;
            Ok(TValue::Int(
                if name == "max" {
                    nums.into_iter().max()
                } else {
                    nums.into_iter().min()
                }
                .unwrap_or(0),
            ))
        }
        "until" | "untilStep" => {
            let (start, stop, step) = if name == "until" {
                need(1)?;
                (0, as_int(&a[0])?, 1)
            } else {
                need(3)?;
                (as_int(&a[0])?, as_int(&a[1])?, as_int(&a[2])?)
            };
            if step == 0 {
                return Ok(TValue::List(Vec::new()));
            }
            let count = ((stop - start) / step).max(0);
            if count > 1_000_000 {
                return Err("the sequence would be too long".into());
            }
            let mut out = Vec::new();
            let mut i = start;
            while (step > 0 && i < stop) || (step < 0 && i > stop) {
                out.push(TValue::Int(i));
                i += step;
            }
            Ok(TValue::List(out))
        }
        other => Err(format!(
            "template function `{other}` is not supported by envctl"
        )),
    }
}

/// `printf` with the verbs templates use: `%s %v %d %q %f %t %x %%` (widths and
/// precision for `%f`).
fn printf(format: &str, args: &[TValue]) -> Result<String, String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_digit() || n == '.' || n == '-' || n == '+' {
                spec.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let verb = chars.next().ok_or("a `%` at the end of the format")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = args.next().cloned().unwrap_or(TValue::Nil);
        let text = match verb {
            's' | 'v' => print(&arg),
            'd' => as_int(&arg)?.to_string(),
            'q' => format!("{:?}", as_str(&arg)),
            't' => truthy(&arg).to_string(),
            'x' => match &arg {
                TValue::Str(s) => s.bytes().map(|b| format!("{b:02x}")).collect(),
                other => format!("{:x}", as_int(other)?),
            },
            'f' => {
                let precision = spec
                    .split_once('.')
                    .and_then(|(_, p)| p.parse().ok())
                    .unwrap_or(6);
                format!("{:.*}", precision, as_float(&arg))
            }
            other => return Err(format!("printf verb `%{other}` is not supported")),
        };
        let width: usize = spec
            .split('.')
            .next()
            .unwrap_or("")
            .trim_start_matches(['-', '+'])
            .parse()
            .unwrap_or(0);
        if spec.starts_with('-') {
            let _ = write!(out, "{text:<width$}");
        } else {
            let _ = write!(out, "{text:>width$}");
        }
    }
    Ok(out)
}

/// Base64 of `text` (for basic authentication headers).
pub fn base64_text(text: &str) -> String {
    base64(text.as_bytes())
}

const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unbase64(text: &str) -> Option<String> {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.trim().bytes().filter(|c| *c != b'=') {
        let v = B64.iter().position(|b| *b == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `readFile`: a file of the project, relative to the goss file.
fn read_file(ctx: &Context, name: &str) -> Result<String, String> {
    crate::model::confine::Root::new(ctx.root).read(&ctx.dir.join(name), name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(text: &str, vars: serde_json::Value) -> Result<String, TemplateError> {
        let env = BTreeMap::from([("OS".to_string(), "bullseye".to_string())]);
        let ctx = Context {
            vars: from_json(&vars),
            env,
            dir: Path::new("."),
            root: Path::new("."),
        };
        render(text, &ctx)
    }

    #[test]
    fn fields_ranges_and_trim_markers() {
        let vars = json!({"pkg": {"name": "nginx"}, "port": 80, "users": ["a", "b"]});
        assert_eq!(
            run("x: {{.Vars.pkg.name}} {{ .Vars.port }}", vars.clone()).unwrap(),
            "x: nginx 80"
        );
        assert_eq!(
            run("{{range .Vars.users}}[{{.}}]{{end}}", vars.clone()).unwrap(),
            "[a][b]"
        );
        assert_eq!(run("a  {{- \"b\" -}}  c", vars.clone()).unwrap(), "abc");
        assert_eq!(
            run(
                "{{range $i, $u := .Vars.users}}{{$i}}={{$u}} {{end}}",
                vars.clone()
            )
            .unwrap(),
            "0=a 1=b "
        );
        assert_eq!(run("{{/* a comment */}}ok", vars).unwrap(), "ok");
    }

    #[test]
    fn maps_range_in_key_order_and_conditions() {
        let vars = json!({"bullseye": {"packages": {"zsh": "5", "apache2": "2.4"}}});
        assert_eq!(
            run(
                "{{range $n, $v := index .Vars .Env.OS \"packages\"}}{{$n}}:{{$v}};{{end}}",
                vars.clone()
            )
            .unwrap(),
            "apache2:2.4;zsh:5;"
        );
        assert_eq!(
            run("{{if .Env.OS | regexMatch \"[Cc]ent\"}}c{{else if eq .Env.OS \"bullseye\"}}b{{else}}o{{end}}", vars).unwrap(),
            "b"
        );
    }

    #[test]
    fn goss_and_sprig_functions() {
        let v = json!({"x": [1, 2]});
        assert_eq!(
            run("{{ \"hello!\" | upper | repeat 5 }}", v.clone()).unwrap(),
            "HELLO!HELLO!HELLO!HELLO!HELLO!"
        );
        assert_eq!(
            run(
                "{{range mkSlice \"/etc/PAsswD\" \"/b\"}}{{. | toLower}} {{end}}",
                v.clone()
            )
            .unwrap(),
            "/etc/passwd /b "
        );
        assert_eq!(run("{{toJson .Vars.x}}", v.clone()).unwrap(), "[1,2]");
        assert_eq!(
            run(
                "{{getEnv \"NOPE\" \"dflt\"}} {{default \"d\" \"\"}}",
                v.clone()
            )
            .unwrap(),
            "dflt d"
        );
        assert_eq!(
            run(
                "{{$m := findStringSubmatch \"(?P<a>[0-9]+)\" \"x42\"}}{{get $m \"a\"}}",
                v.clone()
            )
            .unwrap(),
            "42"
        );
        assert_eq!(
            run("{{printf \"%s-%d\" \"a\" 3}} {{len .Vars.x}}", v).unwrap(),
            "a-3 2"
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = run("a: 1\nb: {{.Vars.nope}}\n", json!({})).unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
        assert!(e.message.contains("no entry for key"), "{e:?}");
        let e = run("a\n\n{{ nosuchfunc 1 }}", json!({})).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("`nosuchfunc` is not supported"), "{e:?}");
        assert!(run("{{define \"x\"}}{{end}}", json!({}))
            .unwrap_err()
            .message
            .contains("not supported"));
        assert!(run("{{if true}}x", json!({}))
            .unwrap_err()
            .message
            .contains("without"));
        assert!(run("{{ .Env.MISSING }}", json!({})).is_err());
    }

    #[test]
    fn rendering_is_bounded() {
        let vars = json!({"l": (0..1000).collect::<Vec<_>>()});
        let e = run(
            "{{range .Vars.l}}{{range $.Vars.l}}{{range $.Vars.l}}x{{end}}{{end}}{{end}}",
            vars,
        )
        .unwrap_err();
        assert!(
            e.message.contains("steps") || e.message.contains("MiB"),
            "{e:?}"
        );
    }
}
