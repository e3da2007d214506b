//! Batching: the facts every assertion about one node needs, and the commands of its
//! `[[command]]` assertions, run in a single exec per node, started before the
//! assertions run. Every probe runs at once, in the background of one shell script, and
//! its result (stdout, stderr, exit code) is printed as soon as it finishes. Where the
//! node's output arrives while the script runs (containers), each assertion gets its
//! result as soon as its own probe is done and each fact probe is cut off at half its
//! own assertion's deadline; elsewhere (SSH) the results arrive together, so fact probes
//! are cut off at half the shortest deadline among the node's assertions and commands
//! are not batched. An assertion's first attempt reads the batch; retries (`eventually`)
//! probe again on their own, so they see fresh state.
//!
//! Commands are the user's own programs: no more of them run at once than `--jobs`
//! allows. A command holds its slot until it finishes or its deadline passes (its
//! assertion has failed by then), so one that hangs delays the others by its deadline at
//! most. Fact probes only read the node's state and all start at once.

use super::facts::{probe, quote};
use crate::backend::NodeAccess;
use crate::model::assertion::fact::Fact;
use crate::model::assertion::{Assertion, Check};
use futures_util::future::{BoxFuture, FutureExt, Shared};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What one probe printed and how it exited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeOutput {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// One thing a batch runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A fact probe (shell snippet), cut off after the duration.
    Fact(String, Duration),
    /// A command as a `[[command]]` assertion gives it, with that assertion's deadline;
    /// never cut off by the batch (the assertion gives up at its deadline).
    Command(Vec<String>, Duration),
}

impl Probe {
    /// How long the probe may take.
    fn limit(&self) -> Duration {
        match self {
            Probe::Fact(_, t) | Probe::Command(_, t) => *t,
        }
    }
}

impl Probe {
    fn script(&self) -> String {
        match self {
            Probe::Fact(snippet, timeout) => {
                format!("run {} {}", seconds(*timeout), quote(snippet))
            }
            Probe::Command(argv, _) => argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" "),
        }
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64().max(0.2))
}

/// A fact probe's output, or why it has none.
pub type ProbeResult = Result<String, String>;

type Pending = Shared<BoxFuture<'static, Result<ProbeOutput, String>>>;

/// Per-node batches in flight.
#[derive(Clone, Default)]
pub struct Batches {
    /// (replica, fact probe snippet) -> its result, and when the probe is cut off.
    facts: HashMap<(String, String), (Pending, Duration)>,
    /// Assertion name -> the result of its command.
    commands: HashMap<String, Pending>,
}

impl Batches {
    /// Starts one exec per node on `runtime` for the node checks (and, where output
    /// streams, the commands) among `assertions`.
    pub fn start(
        runtime: &tokio::runtime::Handle,
        assertions: &[Assertion],
        access: Arc<dyn NodeAccess>,
        jobs: usize,
    ) -> Batches {
        let streams = access.streams();
        // Per node: the probes, and who reads each one's result.
        let mut per_node: BTreeMap<String, Vec<(Probe, Reader)>> = BTreeMap::new();
        let mut shortest: HashMap<String, Duration> = HashMap::new();
        for a in assertions {
            let node = match &a.check {
                Check::Node(c) => &c.node,
                Check::Command(c) if streams => &c.node,
                _ => continue,
            };
            let limit = shortest.entry(node.clone()).or_insert(Duration::MAX);
            *limit = (*limit).min(a.timeout / 2);
        }
        for a in assertions {
            match &a.check {
                Check::Node(c) => {
                    let snippet = probe(&c.fact);
                    let own = if streams {
                        a.timeout / 2
                    } else {
                        shortest[&c.node]
                    };
                    let probes = per_node.entry(c.node.clone()).or_default();
                    let reader = Reader::Fact(snippet.clone());
                    match probes.iter_mut().find(|(_, r)| *r == reader) {
                        // The same fact for several assertions: probed once, within the
                        // shortest of their deadlines.
                        Some((Probe::Fact(_, t), _)) => *t = (*t).min(own),
                        _ => probes.push((Probe::Fact(snippet, own), reader)),
                    }
                }
                Check::Command(c) if streams => {
                    per_node.entry(c.node.clone()).or_default().push((
                        Probe::Command(c.run.0.clone(), a.timeout),
                        Reader::Command(a.name.clone()),
                    ));
                }
                _ => {}
            }
        }
        let mut batches = Batches::default();
        let jobs = jobs.max(1);
        for (node, probes) in per_node {
            let longest = probes
                .iter()
                .map(|(p, _)| p.limit())
                .max()
                .unwrap_or(Duration::from_secs(10));
            // Commands waiting for a slot: each slot frees within a command's deadline.
            let commands = probes
                .iter()
                .filter(|(p, _)| matches!(p, Probe::Command(..)))
                .count();
            let rounds = u32::try_from(commands.div_ceil(jobs).max(1)).unwrap_or(u32::MAX);
            let longest = longest.saturating_mul(rounds);
            let mut senders = HashMap::new();
            for (i, (probe, reader)) in probes.iter().enumerate() {
                let (tx, rx) = tokio::sync::oneshot::channel::<Result<ProbeOutput, String>>();
                let pending = async move {
                    rx.await
                        .unwrap_or_else(|_| Err("the batch ended without a result".into()))
                }
                .boxed()
                .shared();
                senders.insert(i, tx);
                match reader {
                    Reader::Fact(snippet) => {
                        batches
                            .facts
                            .insert((node.clone(), snippet.clone()), (pending, probe.limit()));
                    }
                    Reader::Command(name) => {
                        batches.commands.insert(name.clone(), pending);
                    }
                }
            }
            let access = access.clone();
            let probes: Vec<Probe> = probes.into_iter().map(|(p, _)| p).collect();
            runtime.spawn(async move {
                let senders = Mutex::new(senders);
                let deliver = |i: usize, out: Result<ProbeOutput, String>| {
                    if let Some(tx) = senders.lock().expect("not poisoned").remove(&i) {
                        let _ = tx.send(out);
                    }
                };
                let ended = run(access.as_ref(), &node, &probes, jobs, longest, &deliver).await;
                let why = match ended {
                    Ok(why) => why,
                    Err(e) => e,
                };
                for (_, tx) in senders.lock().expect("not poisoned").drain() {
                    let _ = tx.send(Err(why.clone()));
                }
            });
        }
        batches
    }

    /// The output of `fact`'s probe from the node's batch, if the node has one.
    pub async fn result(&self, node: &str, fact: &Fact) -> Option<ProbeResult> {
        let (pending, limit) = self.facts.get(&(node.to_string(), probe(fact)))?.clone();
        Some(pending.await.and_then(|out| fact_output(node, limit, &out)))
    }

    /// What the command of assertion `name` did, if it ran in its node's batch.
    pub async fn command(&self, name: &str) -> Option<Result<ProbeOutput, String>> {
        Some(self.commands.get(name)?.clone().await)
    }
}

/// Who reads a probe's result.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reader {
    Fact(String),
    Command(String),
}

/// A fact probe's stdout, or why it has none (cut off at `limit`: exit 124 from
/// `timeout`).
fn fact_output(node: &str, limit: Duration, out: &ProbeOutput) -> ProbeResult {
    if out.code == 124 {
        return Err(format!(
            "probing {node} did not finish within {}{}",
            crate::wait::human(limit),
            if out.stdout.is_empty() {
                String::new()
            } else {
                format!(" (output so far: {})", super::excerpt(&out.stdout))
            }
        ));
    }
    Ok(out.stdout.clone())
}

/// Runs `probes` in `node` with one exec, fact probes all at once and at most `jobs`
/// commands at a time, handing each result to `deliver` as soon as it is printed.
/// Returns why probes without a result have none.
///
/// # Errors
/// The exec failed (node gone, engine error, overall deadline).
async fn run(
    access: &dyn NodeAccess,
    node: &str,
    probes: &[Probe],
    jobs: usize,
    longest: Duration,
    deliver: &(dyn Fn(usize, Result<ProbeOutput, String>) + Send + Sync),
) -> Result<String, String> {
    let nonce = format!(
        "envctl{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let script = script(&nonce, probes, jobs);
    let parser = Mutex::new(Parser::new(&nonce));
    let sink = |bytes: &[u8]| {
        for (i, out) in parser.lock().expect("not poisoned").feed(bytes) {
            deliver(i, Ok(out));
        }
    };
    // Probes run side by side; fact probes are killed a second after their limit.
    let overall = longest + Duration::from_secs(3);
    let out = access
        .exec_streaming(node, &["sh".into(), "-c".into(), script], overall, &sink)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "probing {node} produced no result (exit {}): {}",
        out.exit_code,
        super::excerpt(&out.stderr)
    ))
}

/// Runs fact `probes` (shell snippets) in `node` with one exec, each cut off at
/// `timeout`: a single assertion probing on its own.
///
/// # Errors
/// The exec failed (node gone, engine error, overall deadline).
pub async fn gather(
    access: &dyn NodeAccess,
    node: &str,
    probes: &[String],
    timeout: Duration,
) -> Result<HashMap<String, ProbeResult>, String> {
    let batch: Vec<Probe> = probes
        .iter()
        .map(|p| Probe::Fact(p.clone(), timeout))
        .collect();
    let results = Mutex::new(HashMap::new());
    let deliver = |i: usize, out: Result<ProbeOutput, String>| {
        results.lock().expect("not poisoned").insert(i, out);
    };
    let missing = run(access, node, &batch, usize::MAX, timeout, &deliver).await?;
    let mut results = results.into_inner().expect("not poisoned");
    Ok(probes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let result = match results.remove(&i) {
                Some(Ok(out)) => fact_output(node, timeout, &out),
                Some(Err(e)) => Err(e),
                None => Err(missing.clone()),
            };
            (p.clone(), result)
        })
        .collect())
}

/// The batch script: every probe in the background, its stdout and stderr into files of
/// its own. A probe that finishes says so through a FIFO, and the script prints its
/// section at once; sections are printed one at a time, so they never interleave.
/// Without `mkfifo`, the sections come after the last probe has finished.
///
/// With more commands than `jobs`, the probes are started by a launcher in the
/// background that takes a token (a line in a second FIFO) before each command; the
/// command gives it back when it finishes or when its deadline passes, whichever comes
/// first. Without `mkfifo`, the launcher waits for what runs after every `jobs` commands.
pub fn script(nonce: &str, probes: &[Probe], jobs: usize) -> String {
    const HEAD: &str = r#"d=$(mktemp -d 2>/dev/null) || { d=/tmp/NONCE.$$; mkdir -p "$d"; }
run() { if command -v timeout >/dev/null 2>&1; then timeout -k 1 "$1" sh -c "$2"; else sh -c "$2"; fi; }
q="$d/q"; if mkfifo "$q" 2>/dev/null; then exec 3<>"$q"; else q=; fi
finished() { if [ -n "$q" ]; then echo "$1 $2" >"$q"; else echo "$2" >"$d/$1.rc"; fi; }
show() { echo "@@NONCE $1"; cat "$d/$1"; printf '\n@@NONCE %s err\n' "$1"; cat "$d/$1.e"; printf '\n@@NONCE %s end %s\n' "$1" "$2"; }
"#;
    const SLOTS: &str = r#"t=; n=0
if [ -n "$q" ] && mkfifo "$d/t" 2>/dev/null; then t="$d/t"; exec 4<>"$t"; k=0; while [ "$k" -lt JOBS ]; do echo >&4; k=$((k+1)); done; fi
take() { if [ -n "$t" ]; then read -r tok <"$t"; else n=$((n+1)); if [ "$n" -gt JOBS ]; then wait; n=1; fi; fi; }
give() { if mkdir "$d/$1.g" 2>/dev/null && [ -n "$t" ]; then echo >"$t"; fi; }
{
"#;
    const TAIL: &str = r#"if [ -n "$q" ]; then n=COUNT; while [ "$n" -gt 0 ] && read i rc <&3; do show "$i" "$rc"; n=$((n-1)); done; fi
wait
if [ -z "$q" ]; then for i in ALL; do show "$i" "$(cat "$d/$i.rc")"; done; fi
rm -rf "$d"
"#;
    let commands = probes
        .iter()
        .filter(|p| matches!(p, Probe::Command(..)))
        .count();
    let limited = commands > jobs;
    let mut s = HEAD.replace("NONCE", nonce);
    if limited {
        s.push_str(&SLOTS.replace("JOBS", &jobs.to_string()));
    }
    for (i, p) in probes.iter().enumerate() {
        let line = match p {
            Probe::Command(_, deadline) if limited => format!(
                "take; ( exec 3>&- 4>&-; ( sleep {}; give {i} ) </dev/null >/dev/null 2>&1 & {} </dev/null >\"$d/{i}\" 2>\"$d/{i}.e\"; rc=$?; give {i}; finished {i} $rc ) &\n",
                seconds(*deadline),
                p.script()
            ),
            _ => format!(
                "( exec 3>&-{}; {} </dev/null >\"$d/{i}\" 2>\"$d/{i}.e\"; finished {i} $? ) &\n",
                if limited { " 4>&-" } else { "" },
                p.script()
            ),
        };
        s.push_str(&line);
    }
    if limited {
        s.push_str("wait\n} &\n");
    }
    let all: Vec<String> = (0..probes.len()).map(|i| i.to_string()).collect();
    s.push_str(
        &TAIL
            .replace("COUNT", &probes.len().to_string())
            .replace("ALL", &all.join(" ")),
    );
    s
}

/// Splits batch output, as it arrives, into finished sections.
pub struct Parser {
    marker: String,
    /// Bytes of a line not finished yet.
    partial: Vec<u8>,
    current: Option<Section>,
}

struct Section {
    index: usize,
    stdout: String,
    stderr: String,
    in_stderr: bool,
}

impl Parser {
    pub fn new(nonce: &str) -> Parser {
        Parser {
            marker: format!("@@{nonce} "),
            partial: Vec::new(),
            current: None,
        }
    }

    /// Takes more output; returns the sections it completed, as (probe index, result).
    ///
    /// Linear in the output: only the new bytes are searched for line ends (what is held
    /// back has none), and the consumed lines leave the buffer at once per call.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<(usize, ProbeOutput)> {
        let mut buffer = std::mem::take(&mut self.partial);
        let mut searched = buffer.len();
        buffer.extend_from_slice(bytes);
        let mut start = 0;
        let mut done = Vec::new();
        while let Some(offset) = buffer[searched..].iter().position(|b| *b == b'\n') {
            let end = searched + offset;
            let text = String::from_utf8_lossy(&buffer[start..=end]);
            if let Some(finished) = self.line(&text) {
                done.push(finished);
            }
            start = end + 1;
            searched = start;
        }
        buffer.drain(..start);
        self.partial = buffer;
        done
    }

    fn line(&mut self, line: &str) -> Option<(usize, ProbeOutput)> {
        let Some(rest) = line.trim_end_matches('\n').strip_prefix(&self.marker) else {
            if let Some(section) = self.current.as_mut() {
                if section.in_stderr {
                    section.stderr.push_str(line);
                } else {
                    section.stdout.push_str(line);
                }
            }
            return None;
        };
        let mut words = rest.split(' ');
        let index: usize = words.next()?.parse().ok()?;
        match (words.next(), words.next()) {
            (None, _) => {
                self.current = Some(Section {
                    index,
                    stdout: String::new(),
                    stderr: String::new(),
                    in_stderr: false,
                });
                None
            }
            (Some("err"), _) => {
                let section = self.current.as_mut().filter(|s| s.index == index)?;
                // Each marker after output starts with a newline of its own.
                if section.stdout.ends_with('\n') {
                    section.stdout.pop();
                }
                section.in_stderr = true;
                None
            }
            (Some("end"), code) => {
                let mut section = self.current.take().filter(|s| s.index == index)?;
                if section.stderr.ends_with('\n') {
                    section.stderr.pop();
                }
                Some((
                    index,
                    ProbeOutput {
                        stdout: section.stdout,
                        stderr: section.stderr,
                        code: code.and_then(|c| c.trim().parse().ok()).unwrap_or(-1),
                    },
                ))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_splits_per_probe_whatever_the_pieces() {
        let out = "@@n 1\nline one\nno newline at end\n@@n 1 err\noops\n@@n 1 end 0\n\
                   @@n 0\n\n@@n 0 err\n\n@@n 0 end 124\n@@n 2\n";
        let whole = Parser::new("n").feed(out.as_bytes());
        assert_eq!(
            whole,
            vec![
                (
                    1,
                    ProbeOutput {
                        stdout: "line one\nno newline at end".into(),
                        stderr: "oops".into(),
                        code: 0
                    }
                ),
                (
                    0,
                    ProbeOutput {
                        code: 124,
                        ..ProbeOutput::default()
                    }
                ),
            ]
        );
        // Byte by byte gives the same sections, each as soon as its end marker is in.
        let mut parser = Parser::new("n");
        let mut pieces = Vec::new();
        for b in out.as_bytes() {
            pieces.extend(parser.feed(std::slice::from_ref(b)));
        }
        assert_eq!(pieces, whole);
    }

    #[test]
    fn script_quotes_each_probe_and_runs_commands_as_given() {
        let s = script(
            "n",
            &[
                Probe::Fact("echo 'a'".into(), Duration::from_secs(3)),
                Probe::Command(vec!["nginx".into(), "-v".into()], Duration::from_secs(5)),
            ],
            16,
        );
        assert!(
            s.contains(r"( exec 3>&-; run 3.0 'echo '\''a'\''' </dev/null"),
            "{s}"
        );
        assert!(s.contains("( exec 3>&-; 'nginx' '-v' </dev/null"), "{s}");
    }

    /// Runs the batch script with this host's `sh`, optionally without `mkfifo`.
    fn run_here(prelude: &str) -> Vec<(usize, ProbeOutput)> {
        let probes = [
            Probe::Command(
                vec![
                    "sh".into(),
                    "-c".into(),
                    "sleep 1; echo out; echo err >&2; exit 3".into(),
                ],
                Duration::from_secs(5),
            ),
            Probe::Fact("echo quick".into(), Duration::from_secs(5)),
            Probe::Fact("echo started; sleep 30".into(), Duration::from_millis(300)),
        ];
        let text = format!("{prelude}{}", script("t", &probes, 16));
        let out = std::process::Command::new("sh")
            .args(["-c", &text])
            .output()
            .unwrap();
        Parser::new("t").feed(&out.stdout)
    }

    #[test]
    fn the_script_streams_each_probe_when_it_finishes() {
        let sections = run_here("");
        let order: Vec<usize> = sections.iter().map(|(i, _)| *i).collect();
        // The quick probe first, then the one cut off, then the slow command; each
        // exactly as it printed it.
        assert_eq!(order, [1, 2, 0], "{sections:?}");
        let by_index: HashMap<usize, ProbeOutput> = sections.into_iter().collect();
        assert_eq!(by_index[&1].stdout, "quick\n");
        assert_eq!(by_index[&2].code, 124);
        assert_eq!(
            by_index[&0],
            ProbeOutput {
                stdout: "out\n".into(),
                stderr: "err\n".into(),
                code: 3
            }
        );
    }

    #[test]
    fn without_mkfifo_every_section_still_arrives() {
        let sections = run_here("mkfifo() { return 1; }\n");
        let by_index: HashMap<usize, ProbeOutput> = sections.into_iter().collect();
        assert_eq!(by_index.len(), 3, "{by_index:?}");
        assert_eq!(by_index[&0].code, 3);
        assert_eq!(by_index[&1].stdout, "quick\n");
        assert_eq!(by_index[&2].code, 124);
    }

    /// Commands that each hold a lock directory for a moment; one that finds it taken
    /// exits 9. Returns the sections of running them with `jobs`.
    fn contending(jobs: usize, prelude: &str) -> Vec<(usize, ProbeOutput)> {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("lock");
        let body = format!("mkdir {0} || exit 9; sleep 0.5; rmdir {0}", lock.display());
        let probes: Vec<Probe> = (0..3)
            .map(|_| {
                Probe::Command(
                    vec!["sh".into(), "-c".into(), body.clone()],
                    Duration::from_secs(5),
                )
            })
            .chain([Probe::Fact("echo fact".into(), Duration::from_secs(5))])
            .collect();
        let text = format!("{prelude}{}", script("t", &probes, jobs));
        let out = std::process::Command::new("sh")
            .args(["-c", &text])
            .output()
            .unwrap();
        Parser::new("t").feed(&out.stdout)
    }

    fn codes(sections: &[(usize, ProbeOutput)]) -> Vec<i32> {
        let by_index: HashMap<usize, &ProbeOutput> =
            sections.iter().map(|(i, o)| (*i, o)).collect();
        assert_eq!(by_index.len(), 4, "{sections:?}");
        assert_eq!(by_index[&3].stdout, "fact\n");
        (0..3).map(|i| by_index[&i].code).collect()
    }

    #[test]
    fn commands_run_no_more_at_once_than_jobs() {
        // All at once, they collide; one at a time, none does.
        assert!(codes(&contending(16, "")).contains(&9));
        assert_eq!(codes(&contending(1, "")), [0, 0, 0]);
        assert_eq!(codes(&contending(1, "mkfifo() { return 1; }\n")), [0, 0, 0]);
    }

    #[test]
    fn a_command_past_its_deadline_frees_its_slot() {
        let probes = [
            Probe::Command(vec!["sleep".into(), "3".into()], Duration::from_millis(500)),
            Probe::Command(vec!["echo".into(), "next".into()], Duration::from_secs(5)),
        ];
        let text = script("t", &probes, 1);
        let mut child = std::process::Command::new("sh")
            .args(["-c", &text])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut parser = Parser::new("t");
        let mut buf = [0u8; 4096];
        let first = loop {
            let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
            assert!(n > 0, "the script ended without a section");
            if let Some(section) = parser.feed(&buf[..n]).into_iter().next() {
                break section;
            }
        };
        child.wait().unwrap();
        // The second command ran once the first one's deadline had passed, before the
        // first one ended: had it waited for the slot, its section would come second.
        assert_eq!(first.0, 1, "{first:?}");
        assert_eq!(first.1.stdout, "next\n");
    }

    #[test]
    fn a_probe_cut_off_by_timeout_says_so() {
        let out = ProbeOutput {
            stdout: "partial".into(),
            code: 124,
            ..ProbeOutput::default()
        };
        let e = fact_output("web", Duration::from_secs(1), &out).unwrap_err();
        assert!(e.contains("probing web did not finish within 1s"), "{e}");
        assert!(e.contains("partial"), "{e}");
    }
}
