//! `[[load]]`: sends requests to a node's http port at a fixed rate (open loop) or from
//! a fixed number of clients, then judges the error rate and latency percentiles.
//!
//! In rate mode request `i` is due at `start + i / rate`, and its latency is counted
//! from that moment, not from when it was actually sent: when the service (or this
//! client) falls behind, the wait shows up in the figures instead of being silently
//! left out (coordinated omission). In-flight requests are bounded; a request that
//! waits for a free slot still counts its wait.

use super::latency::{self, Percentiles, Sample};
use crate::backend::NodeAccess;
use crate::model::assertion::load::{LoadCheck, Pace};
use crate::model::assertion::pattern;
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Requests in flight at once, at most, in rate mode.
const MAX_IN_FLIGHT: usize = 1024;
/// Failures kept verbatim as evidence.
const KEPT_FAILURES: usize = 5;

/// What a load run measured; reports show it beside the verdict.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadFigures {
    /// `rate` or `concurrency`.
    pub mode: String,
    /// Requests per second asked for (rate mode) or clients (concurrency mode).
    pub target: f64,
    pub duration_ms: u64,
    pub sent: u64,
    pub failed: u64,
    pub error_rate: f64,
    /// Answers per second actually completed.
    pub throughput: f64,
    pub latency: Percentiles,
    /// Each threshold, the measured figure and whether it held.
    pub thresholds: Vec<Threshold>,
    /// The first failures: what went wrong.
    pub failures: Vec<String>,
    /// Every request, for the latency plot.
    pub samples: Vec<Sample>,
}

/// One threshold and what was measured against it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Threshold {
    /// `p99`, `max`, ... or `error_rate`.
    pub figure: String,
    pub limit: f64,
    pub measured: f64,
    pub held: bool,
}

struct Answer {
    due: Instant,
    latency: Duration,
    problem: Option<String>,
}

/// Runs the load and returns the verdict (a message listing every threshold that did
/// not hold) with the figures.
pub async fn run(c: &LoadCheck, access: &dyn NodeAccess) -> (Result<(), String>, LoadFigures) {
    let addr = match access.address(&c.node, c.port).await {
        Ok(a) => a,
        Err(e) => return (Err(e.to_string()), LoadFigures::default()),
    };
    let _ = super::http::client();
    let slots = match c.pace {
        Pace::Rate(_) => MAX_IN_FLIGHT,
        Pace::Concurrency(n) => n as usize,
    };
    let client = match reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(slots)
        .timeout(c.request_timeout)
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            return (
                Err(format!("cannot build the HTTP client: {e}")),
                LoadFigures::default(),
            )
        }
    };
    let url = format!("http://{addr}{}", c.path);
    let request = Arc::new(Request {
        client,
        url,
        check: c.clone(),
    });
    let started = Instant::now();
    let answers = match c.pace {
        Pace::Rate(rate) => open_loop(&request, rate, started).await,
        Pace::Concurrency(n) => closed_loop(&request, n, started).await,
    };
    let figures = figures(c, &answers, started);
    let broken: Vec<String> = figures
        .thresholds
        .iter()
        .filter(|t| !t.held)
        .map(|t| {
            if t.figure == "error_rate" {
                format!(
                    "error rate {:.2}% > {:.2}% ({} of {} failed)",
                    t.measured * 100.0,
                    t.limit * 100.0,
                    figures.failed,
                    figures.sent
                )
            } else {
                format!("{} {} ms > {} ms", t.figure, t.measured, t.limit)
            }
        })
        .collect();
    let verdict = if figures.sent == 0 {
        Err("no request was sent".to_string())
    } else if broken.is_empty() {
        Ok(())
    } else {
        let mut message = format!(
            "{} under {}:\n  {}\n  latency: {}\n  throughput: {:.1} answers/s",
            broken.join("; "),
            c.describe(),
            broken.join("\n  "),
            figures.latency.describe(),
            figures.throughput
        );
        if let Some(first) = figures.failures.first() {
            message.push_str(&format!("\n  first failure: {first}"));
        }
        Err(message)
    };
    (verdict, figures)
}

struct Request {
    client: reqwest::Client,
    url: String,
    check: LoadCheck,
}

impl Request {
    /// Sends one request due at `due` and judges its answer.
    async fn send(&self, due: Instant) -> Answer {
        let c = &self.check;
        let method =
            reqwest::Method::from_bytes(c.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut builder = self.client.request(method, &self.url);
        for (k, v) in &c.headers {
            builder = builder.header(k, v);
        }
        if let Some(body) = &c.request_body {
            builder = builder.body(body.clone());
        }
        let problem = match builder.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                match r.text().await {
                    Ok(_) if status != c.status => {
                        Some(format!("status {status}, expected {}", c.status))
                    }
                    Ok(body) => pattern::failing(&c.body, &body).first().map(|p| {
                        format!(
                            "expected the body {}: {}",
                            p.expectation(),
                            super::excerpt(&body)
                        )
                    }),
                    Err(e) => Some(format!("reading the body: {}", super::http::describe(&e))),
                }
            }
            Err(e) => Some(super::http::describe(&e)),
        };
        Answer {
            due,
            latency: due.elapsed(),
            problem,
        }
    }
}

async fn open_loop(request: &Arc<Request>, rate: f64, started: Instant) -> Vec<Answer> {
    let c = &request.check;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut in_flight = FuturesUnordered::new();
    let mut answers = Vec::new();
    for i in 0..c.requests {
        let offset = interval.mul_f64(i as f64);
        if offset >= c.duration {
            break;
        }
        let due = started + offset;
        // A full set of slots delays the send, not the clock: the request's latency
        // still counts from `due`.
        while in_flight.len() >= MAX_IN_FLIGHT {
            if let Some(a) = in_flight.next().await {
                answers.push(a);
            }
        }
        // Collect answers that are in while waiting for the next due time.
        let wake = tokio::time::Instant::from_std(due);
        loop {
            tokio::select! {
                biased;
                _ = tokio::time::sleep_until(wake) => break,
                Some(a) = in_flight.next(), if !in_flight.is_empty() => answers.push(a),
            }
        }
        let r = request.clone();
        in_flight.push(async move { r.send(due).await });
    }
    while let Some(a) = in_flight.next().await {
        answers.push(a);
    }
    answers
}

async fn closed_loop(request: &Arc<Request>, clients: u32, started: Instant) -> Vec<Answer> {
    let c = &request.check;
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let end = started + c.duration;
    let workers = (0..clients).map(|_| {
        let (r, sent) = (request.clone(), sent.clone());
        async move {
            let mut mine = Vec::new();
            while Instant::now() < end
                && sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < r.check.requests
            {
                mine.push(r.send(Instant::now()).await);
            }
            mine
        }
    });
    futures_util::future::join_all(workers)
        .await
        .into_iter()
        .flatten()
        .collect()
}

fn figures(c: &LoadCheck, answers: &[Answer], started: Instant) -> LoadFigures {
    let elapsed = answers
        .iter()
        .map(|a| (a.due + a.latency).saturating_duration_since(started))
        .max()
        .unwrap_or_default();
    let latencies: Vec<Duration> = answers.iter().map(|a| a.latency).collect();
    let latency = Percentiles::of(&latencies);
    let sent = answers.len() as u64;
    let failed = answers.iter().filter(|a| a.problem.is_some()).count() as u64;
    let error_rate = if sent == 0 {
        0.0
    } else {
        failed as f64 / sent as f64
    };
    let mut thresholds = vec![Threshold {
        figure: "error_rate".into(),
        limit: c.max_error_rate,
        measured: error_rate,
        held: error_rate <= c.max_error_rate,
    }];
    for (name, limit) in &c.latency {
        let measured = latency.get(name).unwrap_or_default();
        let limit = limit.as_secs_f64() * 1000.0;
        thresholds.push(Threshold {
            figure: name.clone(),
            limit,
            measured,
            held: measured <= limit,
        });
    }
    let mut samples: Vec<Sample> = answers
        .iter()
        .map(|a| Sample {
            at_ms: a.due.saturating_duration_since(started).as_secs_f64() * 1000.0,
            latency_ms: a.latency.as_secs_f64() * 1000.0,
            ok: a.problem.is_none(),
            series: String::new(),
        })
        .collect();
    samples.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    let (mode, target) = match c.pace {
        Pace::Rate(r) => ("rate", r),
        Pace::Concurrency(n) => ("concurrency", f64::from(n)),
    };
    LoadFigures {
        mode: mode.into(),
        target,
        duration_ms: elapsed.as_millis() as u64,
        sent,
        failed,
        error_rate,
        throughput: if elapsed.is_zero() {
            0.0
        } else {
            (sent - failed) as f64 / elapsed.as_secs_f64()
        },
        latency,
        thresholds,
        failures: answers
            .iter()
            .filter_map(|a| a.problem.clone())
            .take(KEPT_FAILURES)
            .collect(),
        samples: latency::thin(samples),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{EngineError, ExecOutput};
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Access to one "node" that is a local listener.
    struct Local(SocketAddr);

    #[async_trait::async_trait]
    impl NodeAccess for Local {
        async fn exec(
            &self,
            _: &str,
            _: &[String],
            _: Duration,
        ) -> Result<ExecOutput, EngineError> {
            unreachable!("a load never runs commands")
        }
        async fn address(&self, _: &str, _: u16) -> Result<SocketAddr, EngineError> {
            Ok(self.0)
        }
    }

    /// A server that answers after `delay`, one request at a time when `serial`.
    async fn server(delay: Duration, serial: bool) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let lock = lock.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 2048];
                    let _ = s.read(&mut buf).await;
                    let _guard = if serial {
                        Some(lock.lock().await)
                    } else {
                        None
                    };
                    tokio::time::sleep(delay).await;
                    let _ = s
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                        )
                        .await;
                });
            }
        });
        addr
    }

    fn check(pace: Pace, p99_ms: u64) -> LoadCheck {
        LoadCheck {
            method: "GET".into(),
            node: "app".into(),
            port: 80,
            path: "/".into(),
            headers: Default::default(),
            request_body: None,
            pace,
            duration: Duration::from_millis(1000),
            requests: 1000,
            status: 200,
            body: vec![crate::model::assertion::pattern::Pattern::parse("ok").unwrap()],
            max_error_rate: 0.0,
            latency: vec![("p99".into(), Duration::from_millis(p99_ms))],
            request_timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fast_service_passes_and_a_slow_one_fails_its_percentile() {
        let fast = Local(server(Duration::ZERO, false).await);
        let (verdict, figures) = run(&check(Pace::Rate(50.0), 200), &fast).await;
        assert_eq!(verdict, Ok(()), "{figures:?}");
        assert_eq!(figures.sent, 50);
        assert_eq!(figures.failed, 0);
        assert_eq!(figures.samples.len(), 50);
        let slow = Local(server(Duration::from_millis(300), false).await);
        let (verdict, figures) = run(&check(Pace::Rate(50.0), 200), &slow).await;
        let message = verdict.unwrap_err();
        assert!(message.starts_with("p99 "), "{message}");
        assert!(figures.latency.p50_ms >= 300.0, "{figures:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_loop_counts_the_queue_a_closed_loop_would_hide() {
        // One request at a time, 50 ms each: 20 answers/s at most. Asked for 40/s, the
        // queue grows, and latencies counted from each due time show it.
        let serial = Local(server(Duration::from_millis(50), true).await);
        let (_, open) = run(&check(Pace::Rate(40.0), 10_000), &serial).await;
        let (_, closed) = run(&check(Pace::Concurrency(1), 10_000), &serial).await;
        assert!(open.latency.p99_ms > 400.0, "open loop: {:?}", open.latency);
        assert!(
            closed.latency.p99_ms < 200.0,
            "closed loop: {:?}",
            closed.latency
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn errors_count_against_the_error_rate() {
        // Nothing listens: every request fails.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let (verdict, figures) = run(&check(Pace::Rate(20.0), 1000), &Local(addr)).await;
        assert!(verdict.unwrap_err().contains("error rate 100.00% > 0.00%"));
        assert_eq!(figures.failed, figures.sent);
        assert!(!figures.failures.is_empty());
    }
}
