//! Reporters: turn verification outcomes into the formats people and CI systems read.
//! The human form is printed while checks run (see `check::runner`); these write files.

pub mod codequality;
pub mod evidence;
pub mod github;
pub mod html;
pub mod json;
pub mod junit;
pub mod plot;
pub mod progress;
pub mod tap;
pub mod timeline;

use crate::check::Outcome;
use crate::model::assertion::Assertion;

/// Everything a report needs about one verification run.
pub struct RunSummary<'a> {
    pub environment: &'a str,
    pub instance: &'a str,
    /// The base image of a platform-matrix run (`test --platform`), named in every result.
    pub platform: Option<&'a str>,
    pub assertions: &'a [Assertion],
    pub outcomes: &'a [Outcome],
    pub duration: std::time::Duration,
    /// Wall-clock time the run began.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// What each node went through, from the start of the run.
    pub timeline: Vec<timeline::Span>,
    /// The failure bundle's files about each node (its output, its provisioning log),
    /// by node and replica name: JUnit cases on a node attach them.
    pub attachments: Option<&'a Attachments>,
}

/// Files of the failure bundle by the node or replica name assertions give.
pub type Attachments = std::collections::BTreeMap<String, Vec<std::path::PathBuf>>;

impl RunSummary<'_> {
    /// Calls `render` with a copy of this summary whose text (spec names and titles,
    /// failure messages, timeline labels) has secrets redacted raw, before any report
    /// escapes or quotes it. Writers redact their output once more as it leaves.
    pub fn with_secrets_redacted<R>(&self, render: impl FnOnce(&RunSummary) -> R) -> R {
        let redact = crate::model::secrets::redact;
        let assertions: Vec<Assertion> = self
            .assertions
            .iter()
            .map(|a| {
                let mut a = a.clone();
                a.name = redact(&a.name);
                a.title = redact(&a.title);
                a
            })
            .collect();
        let outcomes: Vec<Outcome> = self
            .outcomes
            .iter()
            .map(|o| {
                let mut o = o.clone();
                o.name = redact(&o.name);
                o.message = o.message.as_deref().map(redact);
                o
            })
            .collect();
        let timeline = self
            .timeline
            .iter()
            .map(|s| {
                let mut s = s.clone();
                s.node = redact(&s.node);
                s
            })
            .collect();
        render(&RunSummary {
            environment: self.environment,
            instance: self.instance,
            platform: self.platform,
            assertions: &assertions,
            outcomes: &outcomes,
            duration: self.duration,
            started_at: self.started_at,
            timeline,
            attachments: self.attachments,
        })
    }

    pub fn passed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.passed).count()
    }

    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| !o.passed).count()
    }

    /// The assertion an outcome belongs to.
    pub fn assertion(&self, outcome: &Outcome) -> Option<&Assertion> {
        self.assertions.iter().find(|a| a.name == outcome.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::secrets::{redact, register, REDACTED};

    const SECRETS: &[&str] = &[
        "q\"uo'te\\back&<amp>",
        "multi-line-one\nmulti-line-two\nmulti-line-3",
        "ünïcødé-ключ-🔑",
    ];

    /// A run whose spec titles and failure messages hold every secret raw, as a path that
    /// forgot to redact would pass them on.
    fn run_with_secrets(dir: &std::path::Path) -> (Vec<Assertion>, Vec<Outcome>) {
        std::fs::create_dir_all(dir.join("environments")).unwrap();
        std::fs::create_dir_all(dir.join("specs/e")).unwrap();
        std::fs::write(
            dir.join("environments/e.toml"),
            "[nodes.n]\nimage = \"x\"\n",
        )
        .unwrap();
        let mut specs = String::new();
        for (i, s) in SECRETS.iter().enumerate() {
            let title = serde_json::to_string(s).unwrap();
            specs.push_str(&format!(
                "[[command]]\ntitle = {title}\nnode = \"n\"\nrun = \"true {i}\"\n"
            ));
        }
        std::fs::write(dir.join("specs/e/s.toml"), specs).unwrap();
        let env = crate::model::environment::load(dir, "e").unwrap();
        let assertions = crate::model::spec::load(dir, &env).unwrap();
        let outcomes = assertions
            .iter()
            .zip(SECRETS)
            .map(|(a, s)| Outcome {
                name: a.name.clone(),
                passed: false,
                skipped: false,
                message: Some(format!("stdout was {s} and {s:?}")),
                duration: std::time::Duration::from_millis(3),
                attempts: 1,
                start: std::time::Instant::now(),
                load: None,
            })
            .collect();
        (assertions, outcomes)
    }

    fn leaks(text: &str) -> Vec<&'static str> {
        SECRETS
            .iter()
            .copied()
            .filter(|s| {
                text.contains(s)
                    || s.lines().any(|l| text.contains(l))
                    || text.contains(&html::escape(s))
                    || text.contains(debug(s).as_str())
            })
            .collect()
    }

    fn debug(s: &str) -> String {
        let d = format!("{s:?}");
        d[1..d.len() - 1].to_string()
    }

    /// Every string a JSON document holds, decoded.
    fn json_strings(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::String(s) => {
                out.push_str(s);
                out.push('\n');
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| json_strings(v, out)),
            serde_json::Value::Object(o) => o.iter().for_each(|(k, v)| {
                out.push_str(k);
                json_strings(v, out);
            }),
            _ => {}
        }
    }

    #[test]
    fn reports_hide_secrets_with_quotes_backslashes_newlines_and_unicode_once_decoded() {
        register(SECRETS.iter().map(|s| s.to_string()));
        let dir = tempfile::tempdir().unwrap();
        let (assertions, outcomes) = run_with_secrets(dir.path());
        let summary = RunSummary {
            environment: "e",
            instance: "i",
            platform: None,
            assertions: &assertions,
            outcomes: &outcomes,
            duration: std::time::Duration::from_secs(1),
            started_at: chrono::Utc::now(),
            timeline: Vec::new(),
            attachments: None,
        };

        let xml = summary.with_secrets_redacted(|s| redact(&junit::render(s).unwrap()));
        let doc = roxmltree::Document::parse(&xml).expect("still valid XML");
        let mut decoded = String::new();
        for node in doc.descendants() {
            decoded.extend(node.text());
            for a in node.attributes() {
                decoded.push_str(a.value());
                decoded.push('\n');
            }
        }
        assert!(decoded.contains(REDACTED), "{decoded}");
        assert_eq!(leaks(&decoded), Vec::<&str>::new(), "JUnit: {decoded}");

        let json = summary.with_secrets_redacted(|s| {
            redact(&serde_json::to_string_pretty(&json::render(s)).unwrap())
        });
        let mut decoded = String::new();
        json_strings(
            &serde_json::from_str(&json).expect("still valid JSON"),
            &mut decoded,
        );
        assert!(decoded.contains(REDACTED));
        assert_eq!(leaks(&decoded), Vec::<&str>::new(), "JSON: {decoded}");

        let tap = summary.with_secrets_redacted(|s| redact(&tap::render(s)));
        assert_eq!(leaks(&tap), Vec::<&str>::new(), "TAP: {tap}");
        let html = summary.with_secrets_redacted(|s| redact(&html::render(s)));
        assert_eq!(leaks(&html), Vec::<&str>::new(), "HTML");
        // And the check itself sees through: without redaction each report leaks.
        assert!(!leaks(&junit::render(&summary).unwrap()).is_empty());
        assert!(!leaks(&html::render(&summary)).is_empty());
    }
}
