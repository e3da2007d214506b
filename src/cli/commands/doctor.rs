//! `envctl doctor`: checks that this machine can run envctl (engine, cgroups, systemd
//! nodes, base images, Ansible, Puppet, disk space) and prints a fix for each problem.
//! Exit 0 when nothing failed, 3 otherwise.

use super::super::exit::{Failure, ENVIRONMENT, SUCCESS};
use super::super::Context;
use crate::doctor::{self, probe};

pub fn run(ctx: &Context) -> Result<u8, Failure> {
    let needs = probe::Needs::of(&ctx.root);
    let findings = ctx.runtime.block_on(probe::run(&needs));
    print!("{}", doctor::render(&findings));
    let problems = findings
        .iter()
        .filter(|f| f.outcome == doctor::Outcome::Fail)
        .count();
    if problems == 0 {
        if !ctx.quiet {
            eprintln!("doctor: this machine runs envctl");
        }
        Ok(SUCCESS)
    } else {
        eprintln!(
            "doctor: {problems} problem{} to fix (see `fix:` above)",
            if problems == 1 { "" } else { "s" }
        );
        Ok(ENVIRONMENT)
    }
}
