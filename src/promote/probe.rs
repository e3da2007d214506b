//! The zero-downtime probe: sends requests through the router, one after another on a
//! fresh connection each (as new clients would arrive), for as long as a promotion runs.
//! It judges content, not only status: an answer must match the `--probe-body` patterns
//! and, when the probe goes to the `serves` URL, come from a colour that may answer at
//! that moment (the old one before the switch, either during it, the new one after).
//! Answers are counted per colour, with latency percentiles.

use crate::check::latency::{self, Percentiles, Sample};
use crate::model::assertion::pattern::{self, Pattern};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Pause between two probe requests.
const PACE: Duration = Duration::from_millis(20);
/// Longest a probe request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Failures kept verbatim as evidence.
const KEPT_FAILURES: usize = 10;
/// The series of answers that came from no known colour.
pub const UNIDENTIFIED: &str = "unidentified";

/// What the probe saw.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProbeFigures {
    pub url: String,
    pub sent: u64,
    pub failed: u64,
    /// The first failures: what went wrong.
    pub failures: Vec<String>,
    /// Answers per colour (and `unidentified`), with their latencies.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub colours: BTreeMap<String, Percentiles>,
    /// Moments of the run (switches), in milliseconds from the probe's start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<(f64, String)>,
    /// Every request, for the latency plot; not kept in the history.
    #[serde(skip)]
    pub samples: Vec<Sample>,
}

/// How answers are judged.
#[derive(Debug, Clone, Default)]
pub struct Judge {
    /// `(colour, text its answers contain)`; empty when the probe URL is not the
    /// `serves` URL, so answers cannot be told apart by colour.
    pub colours: Vec<(String, String)>,
    /// Patterns every answer's body must match.
    pub patterns: Vec<Pattern>,
}

impl Judge {
    /// The colour an answer came from, if any.
    fn colour_of(&self, body: &str) -> Option<&str> {
        self.colours
            .iter()
            .find(|(_, text)| body.contains(text.as_str()))
            .map(|(c, _)| c.as_str())
    }

    /// What is wrong with an answer, given the colours that may answer; and its series.
    fn judge(&self, body: &str, allowed: &[String]) -> (Option<String>, String) {
        let failing = pattern::failing(&self.patterns, body);
        let colour = self.colour_of(body);
        let series = match (colour, self.colours.is_empty()) {
            (Some(c), _) => c.to_string(),
            (None, true) => String::new(),
            (None, false) => UNIDENTIFIED.to_string(),
        };
        if let Some(p) = failing.first() {
            return (
                Some(format!(
                    "expected the answer {}: {}",
                    p.expectation(),
                    crate::check::excerpt(body)
                )),
                series,
            );
        }
        if self.colours.is_empty() {
            return (None, series);
        }
        let problem = match colour {
            None => Some(format!(
                "the answer came from no colour (expected one of {}): {}",
                self.colours
                    .iter()
                    .map(|(_, t)| format!("{t:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                crate::check::excerpt(body)
            )),
            Some(c) if !allowed.iter().any(|a| a == c) => Some(format!(
                "the answer came from {c} while only {} may answer: {}",
                allowed.join(" or "),
                crate::check::excerpt(body)
            )),
            Some(_) => None,
        };
        (problem, series)
    }
}

struct Shared {
    stop: AtomicBool,
    sent: AtomicU64,
    failed: AtomicU64,
    failures: Mutex<Vec<String>>,
    allowed: Mutex<Vec<String>>,
    samples: Mutex<Vec<Sample>>,
    marks: Mutex<Vec<(f64, String)>>,
    started: Instant,
}

impl Shared {
    fn allowed(&self) -> Vec<String> {
        self.allowed.lock().map(|a| a.clone()).unwrap_or_default()
    }

    fn fail(&self, problem: String) {
        self.failed.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut f) = self.failures.lock() {
            if f.len() < KEPT_FAILURES {
                f.push(problem);
            }
        }
    }
}

/// A running probe; [`Probe::finish`] stops it and returns the figures.
pub struct Probe {
    url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Probe {
    /// Starts probing `url` (already mapped to a host address) on `runtime`; answers
    /// may come from the colours in `allowed` until [`Probe::allow`] says otherwise.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        url: String,
        display: String,
        judge: Judge,
        allowed: &[&str],
    ) -> Probe {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            failures: Mutex::new(Vec::new()),
            allowed: Mutex::new(allowed.iter().map(|c| c.to_string()).collect()),
            samples: Mutex::new(Vec::new()),
            marks: Mutex::new(Vec::new()),
            started: Instant::now(),
        });
        // Installs the TLS provider the shared client needs before building our own.
        drop(crate::check::http::client());
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("the probe client has a static configuration");
        let task = runtime.spawn(run(client, url, judge, shared.clone()));
        Probe {
            url: display,
            shared,
            task,
        }
    }

    /// From now on, answers may come from these colours only.
    pub fn allow(&self, colours: &[&str]) {
        if let Ok(mut a) = self.shared.allowed.lock() {
            *a = colours.iter().map(|c| c.to_string()).collect();
        }
    }

    /// Notes a moment of the run (e.g. `switch to green`) for the plot.
    pub fn mark(&self, label: impl Into<String>) {
        let at = self.shared.started.elapsed().as_secs_f64() * 1000.0;
        if let Ok(mut m) = self.shared.marks.lock() {
            m.push((at, label.into()));
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
        let samples = self
            .shared
            .samples
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        let mut per_series: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
        for s in samples.iter().filter(|s| !s.series.is_empty()) {
            per_series
                .entry(s.series.clone())
                .or_default()
                .push(Duration::from_secs_f64(s.latency_ms / 1000.0));
        }
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
            colours: per_series
                .into_iter()
                .map(|(k, v)| (k, Percentiles::of(&v)))
                .collect(),
            marks: self
                .shared
                .marks
                .lock()
                .map(|m| m.clone())
                .unwrap_or_default(),
            samples: latency::thin(samples),
        }
    }
}

async fn run(client: reqwest::Client, url: String, judge: Judge, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        let allowed_at_send = shared.allowed();
        let sent = Instant::now();
        let result = client.get(&url).send().await;
        shared.sent.fetch_add(1, Ordering::SeqCst);
        let (problem, series) = match result {
            Ok(r) if r.status().is_success() || r.status().is_redirection() => {
                match r.text().await {
                    Ok(body) => {
                        // A request in flight while the switch moved may be answered
                        // by a colour allowed when it was sent or when it came back.
                        let mut allowed = allowed_at_send;
                        allowed.extend(shared.allowed());
                        judge.judge(&body, &allowed)
                    }
                    Err(e) => (
                        Some(format!(
                            "reading the body: {}",
                            crate::check::http::describe(&e)
                        )),
                        String::new(),
                    ),
                }
            }
            Ok(r) => (Some(format!("status {}", r.status())), String::new()),
            Err(e) => (Some(crate::check::http::describe(&e)), String::new()),
        };
        let latency = sent.elapsed();
        if let Ok(mut s) = shared.samples.lock() {
            s.push(Sample {
                at_ms: sent.duration_since(shared.started).as_secs_f64() * 1000.0,
                latency_ms: latency.as_secs_f64() * 1000.0,
                ok: problem.is_none(),
                series,
            });
        }
        if let Some(p) = problem {
            shared.fail(p);
        }
        tokio::time::sleep(PACE).await;
    }
}

/// Maps a probe URL whose host is a node name (`http://proxy:80/`) to the node's
/// host-reachable address; other URLs are used as given.
pub fn target(url: &str, address: impl Fn(&str, u16) -> Option<std::net::SocketAddr>) -> String {
    let Some((host, port, path)) = split(url) else {
        return url.to_string();
    };
    match address(host, port) {
        Some(addr) => format!("http://{addr}{path}"),
        None => url.to_string(),
    }
}

/// [`target`] for the nodes of `view`: their published ports, else their addresses on
/// the instance `network`.
pub async fn on_host(
    url: &str,
    view: &crate::backend::view::InstanceView,
    network: &str,
) -> String {
    let Some((host, port, _)) = split(url) else {
        return url.to_string();
    };
    let addr = match view.container(host) {
        Ok(c) => crate::backend::view::InstanceView::reachable(view.backend(), c, network, port)
            .await
            .ok()
            .flatten(),
        Err(_) => None,
    };
    target(url, |_, _| addr)
}

/// `http://HOST:PORT/PATH` as host, port (80 when left out) and path (`/` at least).
pub fn split(url: &str) -> Option<(&str, u16, &str)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().ok()?),
        None => (authority, 80),
    };
    Some((host, port, if path.is_empty() { "/" } else { path }))
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

    fn judge(patterns: &[&str]) -> Judge {
        Judge {
            colours: vec![
                ("blue".into(), "(app-blue:8000)".into()),
                ("green".into(), "(app-green:8000)".into()),
            ],
            patterns: patterns
                .iter()
                .map(|p| Pattern::parse(p).unwrap())
                .collect(),
        }
    }

    #[test]
    fn answers_are_judged_by_colour_and_patterns() {
        let j = judge(&["!/error/i"]);
        let blue = ["blue".to_string()];
        let both = ["blue".to_string(), "green".to_string()];
        assert_eq!(j.judge("hi (app-blue:8000)", &blue), (None, "blue".into()));
        assert_eq!(j.judge("hi (app-green:8000)", &both).0, None);
        // The new colour before the switch is an unverified release reaching a client.
        let (problem, series) = j.judge("hi (app-green:8000)", &blue);
        assert!(problem.unwrap().contains("came from green while only blue"));
        assert_eq!(series, "green");
        // Neither colour: someone else answers.
        let (problem, series) = j.judge("<html>nginx</html>", &both);
        assert!(problem.unwrap().contains("came from no colour"));
        assert_eq!(series, UNIDENTIFIED);
        // A pattern given to --probe fails an answer from an allowed colour.
        let (problem, _) = j.judge("internal error (app-blue:8000)", &blue);
        assert!(problem.unwrap().contains("error"));
        // Without colours (another URL than `serves`), only the patterns count.
        let j = Judge {
            colours: vec![],
            patterns: vec![Pattern::parse("ok").unwrap()],
        };
        assert_eq!(j.judge("ok\n", &blue), (None, String::new()));
        assert!(j.judge("nope", &blue).0.is_some());
    }
}
