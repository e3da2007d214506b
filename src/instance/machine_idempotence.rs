//! The idempotence check on machines (the Vagrant and QEMU engines). A machine has no
//! image to start a second copy from and no engine that lists the paths a run wrote, so
//! the check runs on the machine itself: the state of its whole root filesystem (type,
//! mode, owner, link target, content hash of every path outside the ignored trees) is
//! read before and after a second run of its steps, and the two are compared, as on
//! containers; what the tools said they changed (Ansible's changed tasks, Puppet's
//! changed resources) is added. Steps marked `idempotent = false` are not run again.
//! The node's own command keeps running meanwhile: what it writes belongs in the node's
//! `idempotence_ignore`.

use crate::backend::node::{MachineRun, StepTool};
use crate::backend::NodeAccess;
use crate::provision::idempotence::{self, Entry, NodeReport};
use crate::provision::{ansible, puppet};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Longest reading a machine's filesystem may take (software emulation is slow).
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(900);

/// A machine's filesystem state, path by path.
pub type Snapshot = BTreeMap<String, Entry>;

/// Reads the state of `machine`'s root filesystem, leaving out the default noise and
/// `ignore`.
///
/// # Errors
/// The machine cannot be reached, or lacks `sh`, GNU `find` or `md5sum`.
pub async fn snapshot(
    access: &dyn NodeAccess,
    machine: &str,
    ignore: &[String],
) -> Result<Snapshot, String> {
    let cmd = idempotence::tree_snapshot_command(ignore);
    let out = access
        .exec(machine, &cmd, SNAPSHOT_TIMEOUT)
        .await
        .map_err(|e| format!("machine `{machine}`: {e}"))?;
    if !out.stdout.contains("--- content") {
        return Err(format!(
            "cannot read the files of machine `{machine}` for the idempotence check (it needs `sh`, GNU `find` and `md5sum`): {}",
            out.stderr.trim()
        ));
    }
    Ok(idempotence::parse_snapshot(&out.stdout))
}

/// What the second run changed: the files that differ, then what the tools reported.
pub fn report(
    before: &Snapshot,
    after: &Snapshot,
    run: &MachineRun,
    ignore: &[String],
) -> NodeReport {
    NodeReport {
        node: run.machine.clone(),
        files: idempotence::diff(before, after, ignore),
        reported: run
            .steps
            .iter()
            .flat_map(|s| {
                let changed = match s.tool {
                    StepTool::Ansible => ansible::changed_tasks(&s.output),
                    StepTool::Puppet => puppet::changed_resources(&s.output),
                    StepTool::Other => Vec::new(),
                };
                changed
                    .into_iter()
                    .map(move |c| format!("{}: {c}", s.label))
            })
            .collect(),
        skipped: run.skipped.clone(),
        recorded: None,
    }
}

/// Writes the check's log (`NODE.idempotence.log` in `dir`, private), as on containers,
/// for `envctl logs NODE --idempotence`.
pub fn write_log(dir: &Path, report: &NodeReport, run: &MachineRun) {
    let mut text = format!("{report}\n");
    for s in &run.skipped {
        text.push_str(&format!(
            "(not run again: {s}, marked idempotent = false)\n"
        ));
    }
    for (i, s) in run.steps.iter().enumerate() {
        text.push_str(&format!(
            "=== second run, step {} ({})\n{}\n",
            i + 1,
            s.label,
            s.output
        ));
    }
    super::keep_log(dir, &format!("{}.idempotence.log", report.node), &text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::node::StepRun;

    fn snap(meta: &str, content: &str) -> Snapshot {
        idempotence::parse_snapshot(&format!("{meta}--- content\n{content}"))
    }

    fn run(steps: Vec<StepRun>) -> MachineRun {
        MachineRun {
            machine: "web".into(),
            node: "web".into(),
            steps,
            skipped: vec!["02 counter".into()],
        }
    }

    #[test]
    fn an_unchanged_machine_is_idempotent() {
        let s = snap(
            "f\t644\troot:root\t\t/etc/app.conf\n",
            "aaaa  /etc/app.conf\n",
        );
        let quiet = StepRun {
            label: "01 ansible site.yml".into(),
            tool: StepTool::Ansible,
            output: "TASK [x] ***\nok: [web]\n".into(),
        };
        let r = report(&s, &s.clone(), &run(vec![quiet]), &[]);
        assert!(r.is_idempotent(), "{r}");
        assert_eq!(r.skipped, vec!["02 counter".to_string()]);
    }

    #[test]
    fn changed_content_and_tool_reports_fail_it() {
        let before = snap(
            "f\t644\troot:root\t\t/etc/app.conf\n",
            "aaaa  /etc/app.conf\n",
        );
        let after = snap(
            "f\t644\troot:root\t\t/etc/app.conf\nf\t644\troot:root\t\t/etc/new\n",
            "bbbb  /etc/app.conf\ncccc  /etc/new\n",
        );
        let r = report(&before, &after, &run(Vec::new()), &[]);
        assert!(!r.is_idempotent());
        assert_eq!(r.files.len(), 2, "{r}");
        // The node's own ignore list hides what it names.
        let r = report(&before, &after, &run(Vec::new()), &["/etc".to_string()]);
        assert!(r.is_idempotent(), "{r}");

        let noisy = StepRun {
            label: "01 ansible site.yml".into(),
            tool: StepTool::Ansible,
            output: "TASK [write the page] ***\nchanged: [web]\n".into(),
        };
        let r = report(&before, &before.clone(), &run(vec![noisy]), &[]);
        assert_eq!(
            r.reported,
            vec!["01 ansible site.yml: task `write the page`".to_string()]
        );
        let puppet = StepRun {
            label: "01 puppet site.pp".into(),
            tool: StepTool::Puppet,
            output:
                "Notice: /Stage[main]/Main/File[/etc/motd]/content: content changed 'a' to 'b'\n"
                    .into(),
        };
        let r = report(&before, &before.clone(), &run(vec![puppet]), &[]);
        assert_eq!(r.reported.len(), 1, "{r}");
        // What a shell step prints is not a report of change.
        let shell = StepRun {
            label: "01 shell".into(),
            tool: StepTool::Other,
            output: "changed: [web]\n".into(),
        };
        assert!(report(&before, &before.clone(), &run(vec![shell]), &[]).is_idempotent());
    }

    #[test]
    fn the_tree_snapshot_prunes_noise_and_the_nodes_own_ignores() {
        let cmd = idempotence::tree_snapshot_command(&["/srv/data/".to_string()]);
        let script = &cmd[2];
        for pruned in [
            "-path /proc",
            "-path /var/log",
            "-path /home/vagrant/.ansible",
            "-path /srv/data ",
        ] {
            assert!(script.contains(pruned), "{pruned}: {script}");
        }
        assert!(script.contains("md5sum"), "{script}");
    }
}
