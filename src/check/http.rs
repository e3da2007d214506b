//! `[[http]]` and goss `http`: a request to `node:port`, sent from the host to the node's
//! published port (or its address on the instance network), or from inside a node (with
//! curl when the node has it, else bash's /dev/tcp); status, headers and body are checked.

use crate::backend::NodeAccess;
use crate::model::assertion::json_path;
use crate::model::assertion::matcher::Actual;
use crate::model::assertion::pattern;
use crate::model::assertion::HttpCheck;
use std::sync::Once;
use std::time::Duration;

/// The HTTP client used by checks and health probes: no proxies (nodes are local), and
/// a TLS provider installed once.
pub fn client() -> reqwest::Client {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(4)
        .build()
        .expect("the HTTP client has a static configuration")
}

/// A short description of a request error (connection refused, timed out...).
pub fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = e.source();
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    if let Some(l) = last {
        text.push_str(&format!(" ({l})"));
    }
    text
}

/// Redirects followed before giving up, as browsers do.
const MAX_REDIRECTS: usize = 10;

/// The client checks use: like [`client`], but redirects are followed by the check
/// itself, so each hop to a node is mapped to an address the host can reach.
pub fn check_client() -> reqwest::Client {
    let _ = client();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(4)
        .build()
        .expect("the HTTP client has a static configuration")
}

/// The shared check client, or one that accepts any certificate.
fn client_for(c: &HttpCheck, shared: &reqwest::Client) -> Result<reqwest::Client, String> {
    if !c.insecure {
        return Ok(shared.clone());
    }
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(true)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// A response, however it was obtained.
struct Response {
    status: u16,
    headers: String,
    body: String,
}

/// Runs one attempt of an http assertion.
///
/// # Errors
/// A message with what was expected and what came back.
pub async fn check(
    c: &HttpCheck,
    access: &dyn NodeAccess,
    client: &reqwest::Client,
    timeout: Duration,
) -> Result<(), String> {
    let response = match &c.from {
        Some(node) => from_node(c, node, access, timeout).await?,
        None => from_host(c, access, client, timeout).await?,
    };
    evaluate(c, &response)
}

async fn from_host(
    c: &HttpCheck,
    access: &dyn NodeAccess,
    client: &reqwest::Client,
    timeout: Duration,
) -> Result<Response, String> {
    let client = client_for(c, client)?;
    // The URL as the spec (and the nodes) see it; each hop is mapped to an address the
    // host can reach, so redirects to `node:port` work through published ports too.
    let mut logical = reqwest::Url::parse(&format!(
        "{}://{}:{}{}",
        c.scheme, c.target.node, c.target.port, c.path
    ))
    .map_err(|e| format!("bad URL: {e}"))?;
    let mut method = reqwest::Method::from_bytes(c.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut body = c.request_body.clone();
    for hop in 0..=MAX_REDIRECTS {
        let host = logical.host_str().unwrap_or_default().to_string();
        let port = logical.port_or_known_default().unwrap_or(80);
        let addr = access.address(&host, port).await.map_err(|e| {
            if hop == 0 {
                e.to_string()
            } else {
                format!("redirected to {logical}, which is not a node of the instance ({e})")
            }
        })?;
        let path = match logical.query() {
            Some(q) => format!("{}?{q}", logical.path()),
            None => logical.path().to_string(),
        };
        let url = format!("{}://{addr}{path}", logical.scheme());
        // The Host header names the node as the spec wrote it, as a browser on the
        // instance network would send it.
        // A `Host` the spec sets replaces this one: two would make servers answer 400.
        let mut request = client.request(method.clone(), &url).timeout(timeout);
        if !has_host(c) {
            request = request.header("Host", format!("{host}:{port}"));
        }
        for (k, v) in &c.headers {
            request = request.header(k, v);
        }
        if let Some(b) = &body {
            request = request.body(b.clone());
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("{method} {logical} → {addr}: {}", describe(&e)))?;
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_string);
        if status.is_redirection() && !c.no_redirect && hop < MAX_REDIRECTS {
            if let Some(next) = location.and_then(|l| logical.join(&l).ok()) {
                if matches!(status.as_u16(), 301..=303) {
                    method = reqwest::Method::GET;
                    body = None;
                }
                logical = next;
                continue;
            }
        }
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| format!("{}: {}", k.as_str(), String::from_utf8_lossy(v.as_bytes())))
            .collect::<Vec<_>>()
            .join("\n");
        let body = response.text().await.unwrap_or_default();
        return Ok(Response {
            status: status.as_u16(),
            headers,
            body,
        });
    }
    Err(format!(
        "more than {MAX_REDIRECTS} redirects from {}",
        c.target_display()
    ))
}

fn has_host(c: &HttpCheck) -> bool {
    c.headers.keys().any(|k| k.eq_ignore_ascii_case("host"))
}

/// Sends the request from inside `node`: with curl when the node has it (https, proxies,
/// certificates, redirects), else over bash's /dev/tcp (plain http, HTTP/1.0).
async fn from_node(
    c: &HttpCheck,
    node: &str,
    access: &dyn NodeAccess,
    timeout: Duration,
) -> Result<Response, String> {
    let url = c.target_display();
    let mut args = vec![
        "sh".to_string(),
        "-c".to_string(),
        "command -v curl >/dev/null 2>&1 || exit 99; exec curl \"$@\"".to_string(),
        "envctl-http".to_string(),
        "-sS".into(),
        "-i".into(),
        "--max-time".into(),
        format!("{:.1}", timeout.mul_f64(0.9).as_secs_f64()),
        "-X".into(),
        c.method.clone(),
    ];
    for (k, v) in &c.headers {
        args.push("-H".into());
        args.push(format!("{k}: {v}"));
    }
    if let Some(body) = &c.request_body {
        args.push("--data-binary".into());
        args.push(body.clone());
    }
    if c.insecure {
        args.push("-k".into());
    }
    if !c.no_redirect {
        args.extend([
            "-L".into(),
            "--max-redirs".into(),
            MAX_REDIRECTS.to_string(),
        ]);
    }
    if let Some(p) = &c.proxy {
        args.extend(["--proxy".into(), p.clone()]);
    } else {
        args.extend(["--noproxy".into(), "*".into()]);
    }
    if let Some((user, password)) = &c.basic_auth {
        args.extend(["-u".into(), format!("{user}:{password}")]);
    }
    for (flag, file) in [
        ("--cacert", &c.tls_files.ca),
        ("--cert", &c.tls_files.cert),
        ("--key", &c.tls_files.key),
    ] {
        if let Some(f) = file {
            args.extend([flag.to_string(), f.clone()]);
        }
    }
    args.extend(["--".into(), url.clone()]);
    let out = access
        .exec(node, &args, timeout)
        .await
        .map_err(|e| e.to_string())?;
    match out.exit_code {
        0 => last_response(&out.stdout).ok_or_else(|| {
            format!(
                "{} {url} from {node}: not an HTTP response: {}",
                c.method,
                super::excerpt(&out.stdout)
            )
        }),
        99 => {
            let needs_curl =
                c.scheme == "https" || c.proxy.is_some() || c.tls_files != Default::default();
            if needs_curl {
                return Err(format!(
                    "{} {url} from {node}: {} needs curl in the node, which it does not have",
                    c.method,
                    if c.scheme == "https" {
                        "https"
                    } else {
                        "a proxy or client certificates"
                    }
                ));
            }
            over_bash(c, node, access, timeout).await
        }
        code => Err(format!(
            "{} {url} from {node}: {} (curl exit {code})",
            c.method,
            match code {
                6 => "could not resolve the host".to_string(),
                7 => "could not connect".to_string(),
                28 => "timed out".to_string(),
                47 => format!("more than {MAX_REDIRECTS} redirects"),
                _ => out.stderr.trim().to_string(),
            }
        )),
    }
}

/// The last response of curl's `-i` output (after redirects and proxy handshakes).
fn last_response(raw: &str) -> Option<Response> {
    let mut rest = raw;
    loop {
        let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
        if body.starts_with("HTTP/") && head.starts_with("HTTP/") {
            rest = body;
            continue;
        }
        return parse_response(rest);
    }
}

/// Sends the request over bash's /dev/tcp (HTTP/1.0, so the answer ends when the
/// connection closes).
async fn over_bash(
    c: &HttpCheck,
    node: &str,
    access: &dyn NodeAccess,
    timeout: Duration,
) -> Result<Response, String> {
    let mut request = format!("{} {} HTTP/1.0\r\n", c.method, c.path);
    if !has_host(c) {
        request.push_str(&format!("Host: {}:{}\r\n", c.target.node, c.target.port));
    }
    request.push_str("Connection: close\r\n");
    for (k, v) in &c.headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some((user, password)) = &c.basic_auth {
        request.push_str(&format!(
            "Authorization: Basic {}\r\n",
            crate::model::goss::template::base64_text(&format!("{user}:{password}"))
        ));
    }
    if let Some(body) = &c.request_body {
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    } else {
        request.push_str("\r\n");
    }
    let command = vec![
        "sh".to_string(),
        "-c".to_string(),
        "command -v bash >/dev/null 2>&1 || exit 98; exec bash -c 'exec 3<>\"/dev/tcp/$1/$2\" || exit 97; printf %s \"$3\" >&3; cat <&3' envctl \"$@\"".to_string(),
        "envctl-http".to_string(),
        c.target.node.clone(),
        c.target.port.to_string(),
        request,
    ];
    let out = access
        .exec(node, &command, timeout)
        .await
        .map_err(|e| e.to_string())?;
    match out.exit_code {
        98 => {
            return Err(format!(
                "{node} has neither curl nor bash, one of which requests from inside a node need"
            ))
        }
        97 => {
            return Err(format!(
                "{} {} from {node}: could not connect ({})",
                c.method,
                c.target_display(),
                out.stderr.trim()
            ))
        }
        _ => {}
    }
    parse_response(&out.stdout).ok_or_else(|| {
        format!(
            "{} {} from {node}: not an HTTP response: {}",
            c.method,
            c.target_display(),
            super::excerpt(&out.stdout)
        )
    })
}

/// Splits a raw HTTP/1.x response.
fn parse_response(raw: &str) -> Option<Response> {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()?
        .strip_prefix("HTTP/")?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(Response {
        status,
        headers: lines.collect::<Vec<_>>().join("\n"),
        body: body.to_string(),
    })
}

fn evaluate(c: &HttpCheck, r: &Response) -> Result<(), String> {
    if c.status.check(&serde_json::Value::from(r.status)) != Ok(true) {
        return Err(format!(
            "{}\n      body: {}",
            super::mismatch("wrong status", &c.status, r.status),
            super::excerpt(&r.body)
        ));
    }
    for (what, matcher, text) in [
        ("headers", &c.headers_matcher, &r.headers),
        ("body", &c.body_matcher, &r.body),
    ] {
        if let Some(m) = matcher {
            let value = serde_json::Value::String(text.clone());
            let result = m.check(&value);
            if result != Ok(true) {
                let why = result.err().map(|e| format!(" ({e})")).unwrap_or_default();
                let m = m.failing_part(&value).unwrap_or_else(|| m.clone());
                return Err(super::mismatch(
                    &format!("{what} do not match"),
                    format!("{what} {m}"),
                    format!("{}{why}", super::excerpt(text)),
                ));
            }
        }
    }
    if let Some(p) = pattern::failing(&c.body, &r.body).first() {
        return Err(super::mismatch(
            "body does not match",
            format!("body {}", p.expectation()),
            super::excerpt(&r.body),
        ));
    }
    if let Some(p) = pattern::failing(&c.response_headers, &r.headers).first() {
        return Err(super::mismatch(
            "response headers do not match",
            format!("headers {}", p.expectation()),
            super::excerpt(&r.headers),
        ));
    }
    if !c.json.is_empty() {
        let doc: serde_json::Value = serde_json::from_str(&r.body).map_err(|e| {
            format!(
                "the body is not JSON ({e}), so json paths cannot be checked\n      body: {}",
                super::excerpt(&r.body)
            )
        })?;
        for (path, matcher) in &c.json {
            let steps = json_path::parse(path)?;
            let actual = json_path::select(&doc, &steps).map(json_actual);
            match actual {
                Some(a) if matcher.matches(&a) => {}
                Some(a) => {
                    return Err(super::mismatch(
                        &format!("json {path} does not match"),
                        matcher,
                        a,
                    ))
                }
                None => {
                    return Err(super::mismatch(
                        &format!("json {path} is missing"),
                        matcher,
                        "nothing at that path",
                    ))
                }
            }
        }
    }
    Ok(())
}

/// A JSON value as something a matcher can check.
fn json_actual(v: &serde_json::Value) -> Actual {
    use serde_json::Value;
    match v {
        Value::String(s) => Actual::Text(s.clone()),
        Value::Number(n) => n
            .as_f64()
            .map_or(Actual::Text(n.to_string()), Actual::Number),
        Value::Bool(b) => Actual::Bool(*b),
        Value::Null => Actual::Text("null".into()),
        Value::Array(items) => Actual::List(
            items
                .iter()
                .map(|i| match i {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
        ),
        Value::Object(_) => Actual::Text(v.to_string()),
    }
}

impl HttpCheck {
    fn target_display(&self) -> String {
        format!(
            "{}://{}:{}{}",
            self.scheme, self.target.node, self.target.port, self.path
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_output_gives_the_last_response() {
        let raw = "HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\nHTTP/1.1 200 OK\r\nA: b\r\n\r\nbody";
        let r = last_response(raw).unwrap();
        assert_eq!(
            (r.status, r.body.as_str(), r.headers.as_str()),
            (200, "body", "A: b")
        );
    }

    #[test]
    fn raw_responses_split_into_status_headers_and_body() {
        let r = parse_response("HTTP/1.1 404 Not Found\r\nServer: x\r\n\r\nnope").unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.headers, "Server: x");
        assert_eq!(r.body, "nope");
        assert!(parse_response("garbage").is_none());
    }
}
