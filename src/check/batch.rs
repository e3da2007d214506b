//! Batching: the facts every assertion about one node needs are learned with a single
//! exec per node, started before the assertions run. The script runs every probe at
//! once, each cut off at half the shortest deadline among the node's assertions, so a
//! probe that hangs (an init script that never answers) fails alone and the others
//! still arrive within their deadlines. An assertion's first attempt reads the batch;
//! retries (`eventually`) probe again on their own, so they see fresh state.

use super::facts::probe;
use crate::engine::NodeAccess;
use crate::model::fact::Fact;
use crate::model::spec::{Assertion, Check};
use futures_util::future::{BoxFuture, FutureExt, Shared};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// What one probe printed, or why it has no output.
pub type ProbeResult = Result<String, String>;

type Gathered = Result<Arc<HashMap<String, ProbeResult>>, String>;

/// Per-node batches in flight, keyed by replica name.
#[derive(Clone, Default)]
pub struct Batches {
    nodes: HashMap<String, Shared<BoxFuture<'static, Gathered>>>,
}

impl Batches {
    /// Starts one gathering exec per node on `runtime` for the node checks among
    /// `assertions`.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        assertions: &[Assertion],
        access: Arc<dyn NodeAccess>,
    ) -> Batches {
        let mut per_node: BTreeMap<String, (Vec<String>, Duration)> = BTreeMap::new();
        for a in assertions {
            if let Check::Node(c) = &a.check {
                let entry = per_node
                    .entry(c.node.clone())
                    .or_insert_with(|| (Vec::new(), Duration::MAX));
                let script = probe(&c.fact);
                if !entry.0.contains(&script) {
                    entry.0.push(script);
                }
                entry.1 = entry.1.min(a.timeout / 2);
            }
        }
        let mut nodes = HashMap::new();
        for (node, (probes, timeout)) in per_node {
            let access = access.clone();
            let name = node.clone();
            let task = runtime
                .spawn(async move { gather(access.as_ref(), &name, &probes, timeout).await });
            let shared = async move {
                match task.await {
                    Ok(r) => r.map(Arc::new),
                    Err(e) => Err(format!("gathering facts failed: {e}")),
                }
            }
            .boxed()
            .shared();
            nodes.insert(node, shared);
        }
        Batches { nodes }
    }

    /// The output of `fact`'s probe from the node's batch, if the node has one.
    pub async fn result(&self, node: &str, fact: &Fact) -> Option<ProbeResult> {
        let batch = self.nodes.get(node)?.clone().await;
        Some(match batch {
            Ok(map) => map.get(&probe(fact)).cloned()?,
            Err(e) => Err(e),
        })
    }
}

/// Runs `probes` in `node` with one exec, all at once; each is cut off at `timeout`.
///
/// # Errors
/// The exec failed (node gone, engine error, overall deadline).
pub async fn gather(
    access: &dyn NodeAccess,
    node: &str,
    probes: &[String],
    timeout: Duration,
) -> Result<HashMap<String, ProbeResult>, String> {
    let nonce = format!(
        "envctl{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let script = script(&nonce, probes, timeout);
    // Probes run side by side, each within `timeout` (and a second to be killed).
    let overall = timeout + Duration::from_secs(3);
    let out = access
        .exec(node, &["sh".into(), "-c".into(), script], overall)
        .await
        .map_err(|e| e.to_string())?;
    let sections = parse(&nonce, &out.stdout);
    Ok(probes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let result = match sections.get(&i) {
                Some((text, 124)) => Err(format!(
                    "probing {node} did not finish within {}{}",
                    crate::wait::human(timeout),
                    if text.is_empty() {
                        String::new()
                    } else {
                        format!(" (output so far: {})", super::excerpt(text))
                    }
                )),
                Some((text, _)) => Ok(text.clone()),
                None => Err(format!(
                    "probing {node} produced no result (exit {}): {}",
                    out.exit_code,
                    super::excerpt(&out.stderr)
                )),
            };
            (p.clone(), result)
        })
        .collect())
}

/// The batch script: every probe in the background into a file of its own, then their
/// outputs between markers, in order.
pub fn script(nonce: &str, probes: &[String], timeout: Duration) -> String {
    let secs = format!("{:.1}", timeout.as_secs_f64().max(0.2));
    let mut s = format!(
        "d=$(mktemp -d 2>/dev/null) || {{ d=/tmp/{nonce}; mkdir -p \"$d\"; }}\n\
         run() {{ if command -v timeout >/dev/null 2>&1; then timeout -k 1 {secs} sh -c \"$1\"; else sh -c \"$1\"; fi; }}\n"
    );
    for (i, p) in probes.iter().enumerate() {
        s.push_str(&format!(
            "( run {} </dev/null >\"$d/{i}\" 2>/dev/null; echo $? >\"$d/{i}.rc\" ) &\n",
            super::facts::quote(p)
        ));
    }
    s.push_str("wait\n");
    for i in 0..probes.len() {
        s.push_str(&format!(
            "echo '@@{nonce} {i}'; cat \"$d/{i}\"; printf '\\n@@{nonce} end %s\\n' \"$(cat \"$d/{i}.rc\")\"\n"
        ));
    }
    s.push_str("rm -rf \"$d\"\n");
    s
}

/// Splits batch output into (probe index → (output, exit code)).
pub fn parse(nonce: &str, stdout: &str) -> HashMap<usize, (String, i32)> {
    let start = format!("@@{nonce} ");
    let mut out = HashMap::new();
    let mut current: Option<(usize, String)> = None;
    for line in stdout.split_inclusive('\n') {
        if let Some(rest) = line.trim_end_matches('\n').strip_prefix(&start) {
            if let Some(code) = rest.strip_prefix("end ") {
                if let Some((i, mut text)) = current.take() {
                    // The end marker starts with a newline of its own.
                    if text.ends_with('\n') {
                        text.pop();
                    }
                    out.insert(i, (text, code.trim().parse().unwrap_or(-1)));
                }
            } else if let Ok(i) = rest.trim().parse() {
                current = Some((i, String::new()));
            }
            continue;
        }
        if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_output_splits_per_probe() {
        let out = "@@n 0\nline one\nno newline at end\n@@n end 0\n@@n 1\n\n@@n end 124\n@@n 2\n";
        let sections = parse("n", out);
        assert_eq!(sections[&0], ("line one\nno newline at end".to_string(), 0));
        assert_eq!(sections[&1], (String::new(), 124));
        assert!(!sections.contains_key(&2));
    }

    #[test]
    fn script_quotes_each_probe() {
        let s = script("n", &["echo 'a'".into()], Duration::from_secs(3));
        assert!(s.contains("timeout -k 1 3.0"), "{s}");
        assert!(s.contains(r"( run 'echo '\''a'\''' </dev/null"), "{s}");
    }
}
