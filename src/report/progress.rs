//! Live progress of `up`/`down` on stderr: one spinner line per node on a terminal
//! (indicatif), plain timestamped lines otherwise (CI logs).

use crate::events::{Event, Observer, Phase};
use crate::wait::human;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Picks live bars on a terminal and plain lines elsewhere.
pub fn for_stderr(quiet: bool) -> Box<dyn Observer> {
    if quiet {
        Box::new(crate::events::Silent)
    } else if std::io::stderr().is_terminal() {
        Box::new(Bars::new())
    } else {
        Box::new(Lines::new())
    }
}

fn describe(phase: &Phase) -> String {
    match phase {
        Phase::Image => "preparing image".into(),
        Phase::Provisioning {
            index,
            total,
            label,
        } => format!("provisioning {index}/{total}: {label}"),
        Phase::Cached => "provisioned image found in cache".into(),
        Phase::Resumed {
            after,
            next,
            incremental,
        } => crate::plan::reconcile::resumed(*after, next, *incremental),
        Phase::Starting => "starting".into(),
        Phase::WaitingHealthy => "waiting until healthy".into(),
        Phase::Ready { elapsed } => format!("ready ({})", human(*elapsed)),
        Phase::Unchanged => "unchanged".into(),
        Phase::Removed => "removed".into(),
        Phase::Failed => "failed".into(),
    }
}

/// Plain lines: `[  1.2s] web: provisioning 1/2: shell `apt-get ...``.
pub struct Lines {
    start: Instant,
}

impl Lines {
    pub fn new() -> Lines {
        Lines {
            start: Instant::now(),
        }
    }
}

impl Default for Lines {
    fn default() -> Self {
        Self::new()
    }
}

impl Observer for Lines {
    fn event(&self, event: &Event) {
        let t = self.start.elapsed().as_secs_f64();
        match event {
            Event::Node { node, phase } => eprintln!("[{t:6.1}s] {node}: {}", describe(phase)),
            Event::Note(text) => eprintln!("[{t:6.1}s] {text}"),
        }
    }
}

/// A spinner per node.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
}

impl Bars {
    pub fn new() -> Bars {
        Bars {
            multi: MultiProgress::new(),
            bars: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Default for Bars {
    fn default() -> Self {
        Self::new()
    }
}

impl Observer for Bars {
    fn event(&self, event: &Event) {
        match event {
            Event::Note(text) => {
                let _ = self.multi.println(format!("  {text}"));
            }
            Event::Node { node, phase } => {
                let mut bars = self.bars.lock().expect("progress lock");
                let bar = bars.entry(node.clone()).or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} {wide_msg}")
                            .expect("static template"),
                    );
                    bar.set_prefix(format!("{node:<12}"));
                    bar.enable_steady_tick(Duration::from_millis(100));
                    bar
                });
                let done = matches!(
                    phase,
                    Phase::Ready { .. } | Phase::Unchanged | Phase::Removed | Phase::Failed
                );
                if done {
                    let mark = if matches!(phase, Phase::Failed) {
                        "✗"
                    } else {
                        "✓"
                    };
                    bar.set_style(
                        ProgressStyle::with_template("{prefix:.bold} {wide_msg}")
                            .expect("static template"),
                    );
                    bar.set_prefix(format!("{mark} {node:<12}"));
                    bar.finish_with_message(describe(phase));
                } else {
                    bar.set_message(describe(phase));
                }
            }
        }
    }
}
