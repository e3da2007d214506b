//! The run's timeline: what each node went through (image, provision, start, verify),
//! as spans from the start of the run. Built from recorded events and outcomes.

use crate::check::Outcome;
use crate::events::{Event, Phase};
use crate::model::assertion::Assertion;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One stretch of a node's run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Span {
    pub node: String,
    /// `image`, `provision`, `start` or `verify`.
    pub phase: &'static str,
    #[serde(serialize_with = "millis")]
    pub start: Duration,
    #[serde(serialize_with = "millis")]
    pub end: Duration,
    pub failed: bool,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

fn phase_name(phase: &Phase) -> Option<&'static str> {
    match phase {
        Phase::Image => Some("image"),
        Phase::Provisioning { .. } | Phase::Cached | Phase::Resumed { .. } => Some("provision"),
        Phase::Starting | Phase::WaitingHealthy => Some("start"),
        _ => None,
    }
}

/// Spans of `up` from its node events: each phase lasts until the node's next event.
pub fn from_events(events: &[(Instant, Event)], origin: Instant) -> Vec<Span> {
    let mut per_node: BTreeMap<&str, Vec<(Instant, &Phase)>> = BTreeMap::new();
    for (at, e) in events {
        if let Event::Node { node, phase } = e {
            per_node.entry(node).or_default().push((*at, phase));
        }
    }
    let mut spans = Vec::new();
    for (node, list) in per_node {
        for (i, (at, phase)) in list.iter().enumerate() {
            let Some(name) = phase_name(phase) else {
                continue;
            };
            let end = list.get(i + 1).map_or(*at, |(next, _)| *next);
            let failed = matches!(list.get(i + 1), Some((_, Phase::Failed)));
            let start = at.saturating_duration_since(origin);
            let end = end.saturating_duration_since(origin);
            // Consecutive events of one phase (provisioning steps) make one span.
            match spans.last_mut() {
                Some(Span {
                    node: n,
                    phase: p,
                    end: e,
                    failed: f,
                    ..
                }) if n == node && *p == name => {
                    *e = end;
                    *f |= failed;
                }
                _ => spans.push(Span {
                    node: node.to_string(),
                    phase: name,
                    start,
                    end,
                    failed,
                }),
            }
        }
    }
    spans
}

/// One `verify` span per node: from its first assertion's start to its last one's end.
pub fn verify_spans(assertions: &[Assertion], outcomes: &[Outcome], origin: Instant) -> Vec<Span> {
    let mut per_node: BTreeMap<String, Span> = BTreeMap::new();
    for o in outcomes {
        let node = assertions
            .iter()
            .find(|a| a.name == o.name)
            .and_then(|a| a.node())
            .unwrap_or("(run)")
            .to_string();
        let start = o.start.saturating_duration_since(origin);
        let end = start + o.duration;
        let span = per_node.entry(node.clone()).or_insert(Span {
            node,
            phase: "verify",
            start,
            end,
            failed: false,
        });
        span.start = span.start.min(start);
        span.end = span.end.max(end);
        span.failed |= !o.passed;
    }
    per_node.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_spans_per_node() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let ev = |node: &str, phase| Event::Node {
            node: node.into(),
            phase,
        };
        let events = vec![
            (at(0), ev("web", Phase::Image)),
            (
                at(10),
                ev(
                    "web",
                    Phase::Provisioning {
                        index: 1,
                        total: 2,
                        label: "a".into(),
                    },
                ),
            ),
            (
                at(20),
                ev(
                    "web",
                    Phase::Provisioning {
                        index: 2,
                        total: 2,
                        label: "b".into(),
                    },
                ),
            ),
            (at(50), ev("web", Phase::Starting)),
            (at(60), ev("web", Phase::WaitingHealthy)),
            (
                at(90),
                ev(
                    "web",
                    Phase::Ready {
                        elapsed: Duration::from_millis(90),
                    },
                ),
            ),
        ];
        let spans = from_events(&events, t0);
        let phases: Vec<(&str, u128, u128)> = spans
            .iter()
            .map(|s| (s.phase, s.start.as_millis(), s.end.as_millis()))
            .collect();
        assert_eq!(
            phases,
            vec![("image", 0, 10), ("provision", 10, 50), ("start", 50, 90)]
        );
    }
}
