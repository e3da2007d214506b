//! History: one JSON line per promotion or rollback, in
//! `.envctl/history/ENV/INSTANCE.jsonl` under the project, shown by `envctl history`.

use super::probe::ProbeFigures;
use super::release::Release;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The result of one gate assertion.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SpecResult {
    pub name: String,
    pub passed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What a record can point at afterwards.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Evidence {
    /// Container of the colour switched to (or refused).
    pub container: Option<String>,
    /// Image it runs.
    pub image: Option<String>,
    /// Key-value pairs written by the switch.
    pub keys: BTreeMap<String, String>,
    /// Steps as they happened, with their outcome.
    pub steps: Vec<String>,
    pub duration_ms: u64,
}

/// One promotion or rollback.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// Seconds since the Unix epoch.
    pub at: u64,
    /// `promote` or `rollback`.
    pub action: String,
    pub service: String,
    pub release: Release,
    /// Colour live before, and the colour switched to (or refused).
    pub from: Option<String>,
    pub to: String,
    /// Colour live afterwards.
    pub live: Option<String>,
    /// `promoted`, `rolled back`, `refused` (the gate said no) or `failed` (a fault).
    pub outcome: String,
    pub exit: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub specs: Vec<SpecResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeFigures>,
    pub evidence: Evidence,
}

impl Record {
    /// A record of `action` on `service` that has not ended yet (a fault until told
    /// otherwise).
    pub fn start(action: &str, service: &str, release: Release) -> Record {
        Record {
            at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
            action: action.into(),
            service: service.into(),
            release,
            from: None,
            to: String::new(),
            live: None,
            outcome: String::new(),
            exit: super::flow::FAULT,
            message: None,
            specs: Vec::new(),
            probe: None,
            evidence: Evidence::default(),
        }
    }
}

/// The history file of one instance.
pub fn path(root: &Path, env: &str, instance: &str) -> PathBuf {
    root.join(".envctl")
        .join("history")
        .join(env)
        .join(format!("{instance}.jsonl"))
}

/// Appends a record.
///
/// # Errors
/// I/O errors.
pub fn append(file: &Path, record: &Record) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut line = serde_json::to_string(record).map_err(std::io::Error::other)?;
    line.push('\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?
        .write_all(line.as_bytes())
}

/// Every record, oldest first; a missing file is an empty history.
///
/// # Errors
/// I/O errors, or a line that is not a record (naming the line).
pub fn read(file: &Path) -> Result<Vec<Record>, String> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| format!("{}:{}: not a history record: {e}", file.display(), i + 1))
        })
        .collect()
}

/// The release a colour of `service` last ran after a successful switch to it.
pub fn last_release_of(records: &[Record], service: &str, colour: &str) -> Option<Release> {
    records
        .iter()
        .rev()
        .find(|r| r.service == service && r.to == colour && r.exit == 0)
        .map(|r| r.release.clone())
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) for Unix seconds.
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A table of records for people.
pub fn render(records: &[Record]) -> String {
    let mut out = String::new();
    for r in records {
        let specs_passed = r.specs.iter().filter(|s| s.passed).count();
        let probe = r.probe.as_ref().map_or("-".to_string(), |p| {
            format!("{} sent, {} failed", p.sent, p.failed)
        });
        out.push_str(&format!(
            "{}  {:<8} {:<10} {} -> {}  {:<11} specs {}/{}  probe {}  release {}\n",
            utc(r.at),
            r.action,
            r.service,
            r.from.as_deref().unwrap_or("?"),
            r.to,
            r.outcome,
            specs_passed,
            r.specs.len(),
            probe,
            r.release.label()
        ));
        if let Some(m) = &r.message {
            for line in m.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(to: &str, exit: u8, greeting: &str) -> Record {
        Record {
            at: 0,
            action: "promote".into(),
            service: "app".into(),
            release: Release {
                image: None,
                vars: BTreeMap::from([("GREETING".into(), greeting.into())]),
                ..Release::default()
            },
            from: Some("blue".into()),
            to: to.into(),
            live: Some(to.into()),
            outcome: "promoted".into(),
            exit,
            message: None,
            specs: vec![],
            probe: None,
            evidence: Evidence::default(),
        }
    }

    #[test]
    fn records_round_trip_and_find_last_release() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path(), "demo", "default");
        append(&file, &record("green", 0, "v1")).unwrap();
        append(&file, &record("blue", 0, "v2")).unwrap();
        append(&file, &record("green", 1, "broken")).unwrap();
        let records = read(&file).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[2], record("green", 1, "broken"));
        let green = last_release_of(&records, "app", "green").unwrap();
        assert_eq!(green.vars["GREETING"], "v1");
        assert!(last_release_of(&records, "other", "green").is_none());
    }

    #[test]
    fn bad_lines_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("h.jsonl");
        std::fs::write(&file, "{}\n").unwrap();
        assert!(read(&file).unwrap_err().contains("h.jsonl:1"));
    }

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc(1_795_000_000), "2026-11-18 11:06:40");
    }
}
