//! `[[http]]`: a request to `node:port`, sent from the host to the node's published port
//! (or its address on the instance network); status and body patterns are checked.

use crate::engine::NodeAccess;
use crate::model::pattern;
use crate::model::spec::HttpCheck;
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
    let addr = access
        .address(&c.target.node, c.target.port)
        .await
        .map_err(|e| e.to_string())?;
    let url = format!("{}://{addr}{}", c.scheme, c.path);
    let method = reqwest::Method::from_bytes(c.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut request = client.request(method, &url).timeout(timeout);
    // The Host header names the node as the spec wrote it, as a browser on the
    // instance network would send it.
    request = request.header("Host", format!("{}:{}", c.target.node, c.target.port));
    for (k, v) in &c.headers {
        request = request.header(k, v);
    }
    if let Some(body) = &c.request_body {
        request = request.body(body.clone());
    }
    let response = request.send().await.map_err(|e| {
        format!(
            "{} {} → {}: {}",
            c.method,
            c.target_display(),
            addr,
            describe(&e)
        )
    })?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    if status != c.status {
        return Err(format!(
            "{}\n      body: {}",
            super::mismatch("wrong status", c.status, status),
            super::excerpt(&body)
        ));
    }
    let failing = pattern::failing(&c.body, &body);
    if let Some(p) = failing.first() {
        return Err(super::mismatch(
            "body does not match",
            format!("body {}", p.expectation()),
            super::excerpt(&body),
        ));
    }
    Ok(())
}

impl HttpCheck {
    fn target_display(&self) -> String {
        format!(
            "{}://{}:{}{}",
            self.scheme, self.target.node, self.target.port, self.path
        )
    }
}
