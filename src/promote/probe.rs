//! The zero-downtime probe: sends requests through the router, one after another on a
//! fresh connection each (as new clients would arrive), for as long as a promotion runs,
//! and counts those sent and failed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Pause between two probe requests.
const PACE: Duration = Duration::from_millis(20);
/// Longest a probe request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Failures kept verbatim as evidence.
const KEPT_FAILURES: usize = 10;

/// What the probe saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProbeFigures {
    pub url: String,
    pub sent: u64,
    pub failed: u64,
    /// The first failures: what went wrong.
    pub failures: Vec<String>,
}

struct Shared {
    stop: AtomicBool,
    sent: AtomicU64,
    failed: AtomicU64,
    failures: Mutex<Vec<String>>,
}

/// A running probe; [`Probe::finish`] stops it and returns the figures.
pub struct Probe {
    url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Probe {
    /// Starts probing `url` (already mapped to a host address) on `runtime`.
    pub fn start(runtime: &tokio::runtime::Handle, url: String, display: String) -> Probe {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            failures: Mutex::new(Vec::new()),
        });
        // Installs the TLS provider the shared client needs before building our own.
        drop(crate::check::http::client());
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("the probe client has a static configuration");
        let task = runtime.spawn(run(client, url, shared.clone()));
        Probe {
            url: display,
            shared,
            task,
        }
    }

    /// Failures so far.
    pub fn failed(&self) -> u64 {
        self.shared.failed.load(Ordering::SeqCst)
    }

    /// Stops the probe after its request in flight and returns what it saw.
    pub async fn finish(self) -> ProbeFigures {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        ProbeFigures {
            url: self.url,
            sent: self.shared.sent.load(Ordering::SeqCst),
            failed: self.shared.failed.load(Ordering::SeqCst),
            failures: self
                .shared
                .failures
                .lock()
                .map(|f| f.clone())
                .unwrap_or_default(),
        }
    }
}

async fn run(client: reqwest::Client, url: String, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        let result = client.get(&url).send().await;
        shared.sent.fetch_add(1, Ordering::SeqCst);
        let problem = match result {
            Ok(r) if r.status().is_success() || r.status().is_redirection() => {
                match r.bytes().await {
                    Ok(_) => None,
                    Err(e) => Some(format!(
                        "reading the body: {}",
                        crate::check::http::describe(&e)
                    )),
                }
            }
            Ok(r) => Some(format!("status {}", r.status())),
            Err(e) => Some(crate::check::http::describe(&e)),
        };
        if let Some(p) = problem {
            shared.failed.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut f) = shared.failures.lock() {
                if f.len() < KEPT_FAILURES {
                    f.push(p);
                }
            }
        }
        tokio::time::sleep(PACE).await;
    }
}

/// Maps a probe URL whose host is a node name (`http://proxy:80/`) to the node's
/// host-reachable address; other URLs are used as given.
pub fn target(url: &str, address: impl Fn(&str, u16) -> Option<std::net::SocketAddr>) -> String {
    let Some(rest) = url.strip_prefix("http://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(p) => (h, p),
            Err(_) => return url.to_string(),
        },
        None => (authority, 80),
    };
    match address(host, port) {
        Some(addr) => format!("http://{addr}{}", if path.is_empty() { "/" } else { path }),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn node_urls_are_mapped_and_others_kept() {
        let map = |host: &str, port: u16| {
            (host == "proxy").then(|| SocketAddr::from(([127, 0, 0, 1], 40000 + port)))
        };
        assert_eq!(target("http://proxy:80/x", map), "http://127.0.0.1:40080/x");
        assert_eq!(target("http://proxy", map), "http://127.0.0.1:40080/");
        assert_eq!(target("http://127.0.0.1:9/", map), "http://127.0.0.1:9/");
    }
}
