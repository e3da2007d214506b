//! Draining: takes a colour (or a node) out of service with the drain's command or HTTP
//! call, waits until its requests in flight have ended (no established connection on
//! the drain's port inside the node) or the deadline passes, and puts it back with
//! `undo`. Every call is retried with backoff; retries and waits are noted.

use super::retry::{retry, STEP};
use crate::backend::NodeAccess;
use crate::model::drain::{Drain, Request};
use crate::model::promotion::render;
use std::time::{Duration, Instant};

const EXEC_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the connections of a draining node are counted.
const POLL: Duration = Duration::from_millis(250);

/// Placeholder values of the colour or node being drained.
pub type Values = Vec<(&'static str, String)>;

/// Takes the colour out of service: the `run` command (in `node`, or `default_node`)
/// and/or the `http` call.
///
/// # Errors
/// A message naming what failed, after every attempt.
pub async fn take_out(
    d: &Drain,
    access: &dyn NodeAccess,
    default_node: &str,
    values: &Values,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    act(
        d.run.as_ref(),
        d.http.as_ref(),
        d,
        access,
        default_node,
        values,
        "draining",
        notes,
    )
    .await
}

/// Puts the colour back into service: `undo` and/or `undo_http`; nothing when neither is
/// given.
///
/// # Errors
/// As [`take_out`].
pub async fn put_back(
    d: &Drain,
    access: &dyn NodeAccess,
    default_node: &str,
    values: &Values,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    act(
        d.undo.as_ref(),
        d.undo_http.as_ref(),
        d,
        access,
        default_node,
        values,
        "putting back",
        notes,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn act(
    command: Option<&Vec<String>>,
    http: Option<&Request>,
    d: &Drain,
    access: &dyn NodeAccess,
    default_node: &str,
    values: &Values,
    what: &str,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    if let Some(command) = command {
        let node = d.node.as_deref().unwrap_or(default_node);
        let command: Vec<String> = command.iter().map(|a| render(a, values)).collect();
        retry(
            &format!("{what} with `{}`", command.join(" ")),
            STEP,
            notes,
            || async {
                let out = access
                    .exec(node, &command, EXEC_TIMEOUT)
                    .await
                    .map_err(|e| e.to_string())?;
                if out.exit_code == 0 {
                    Ok(())
                } else {
                    Err(format!(
                        "`{}` in node `{node}` exited {}: {}",
                        command.join(" "),
                        out.exit_code,
                        crate::check::excerpt(&format!("{}{}", out.stdout, out.stderr))
                    ))
                }
            },
        )
        .await?;
    }
    if let Some(r) = http {
        let path = render(&r.path, values);
        let label = format!(
            "{what} with {} http://{}:{}{path}",
            r.method, r.node, r.port
        );
        retry(&label, STEP, notes, || call(r, &path, access, values)).await?;
    }
    Ok(())
}

async fn call(
    r: &Request,
    path: &str,
    access: &dyn NodeAccess,
    values: &Values,
) -> Result<(), String> {
    let addr = access
        .address(&r.node, r.port)
        .await
        .map_err(|e| e.to_string())?;
    let _ = crate::check::http::client();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(EXEC_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let method = reqwest::Method::from_bytes(r.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut request = client.request(method, format!("http://{addr}{path}"));
    for (k, v) in &r.headers {
        request = request.header(k, render(v, values));
    }
    if let Some(body) = &r.body {
        request = request.body(render(body, values));
    }
    let response = request
        .send()
        .await
        .map_err(|e| crate::check::http::describe(&e))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        let body = response.text().await.unwrap_or_default();
        Err(format!(
            "http://{}:{}{path} answered {status}: {}",
            r.node,
            r.port,
            crate::check::excerpt(&body)
        ))
    }
}

/// How a wait for requests in flight ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Idle {
    /// None left, after this long; `seen` is the most that were in flight meanwhile.
    After { waited: Duration, seen: usize },
    /// The deadline passed with this many still in flight.
    TimedOut { left: usize },
}

/// Waits until `node` has no established connection on the drain's port, or the
/// drain's deadline passes. Without a port there is nothing to wait for.
///
/// # Errors
/// The node cannot be asked (it is gone, or has no shell).
pub async fn wait_idle(d: &Drain, access: &dyn NodeAccess, node: &str) -> Result<Idle, String> {
    let Some(port) = d.port else {
        return Ok(Idle::After {
            waited: Duration::ZERO,
            seen: 0,
        });
    };
    let started = Instant::now();
    let mut seen = 0;
    let command: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null".into(),
    ];
    loop {
        let out = access
            .exec(node, &command, EXEC_TIMEOUT)
            .await
            .map_err(|e| format!("counting the connections of {node}: {e}"))?;
        let now = established(&out.stdout, port);
        seen = seen.max(now);
        if now == 0 {
            return Ok(Idle::After {
                waited: started.elapsed(),
                seen,
            });
        }
        if started.elapsed() >= d.timeout {
            return Ok(Idle::TimedOut { left: now });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Established connections whose local port is `port`, from `/proc/net/tcp` and
/// `/proc/net/tcp6` text (`sl local_address rem_address st ...`, hex ports, state 01).
pub fn established(proc_net_tcp: &str, port: u16) -> usize {
    proc_net_tcp
        .lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
                return false;
            };
            let local_port = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            *state == "01" && local_port == Some(port)
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_established_connections_on_the_port_count() {
        let text = "\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0200120A:1F40 0300120A:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0200120A:1F40 0300120A:9C42 06 00000000:00000000 00:00000000 00000000     0        0 0 3
   3: 0200120A:9C44 0300120A:1F40 01 00000000:00000000 00:00000000 00000000     0        0 3 1
  sl  local_address                         remote_address                        st
   0: 0000000000000000FFFF00000200120A:1F40 0000000000000000FFFF00000300120A:9C48 01 0
";
        // Listening (0A), TIME_WAIT (06) and outgoing connections to 8000 do not count.
        assert_eq!(established(text, 8000), 2);
        assert_eq!(established(text, 80), 0);
        assert_eq!(established("", 8000), 0);
    }
}
