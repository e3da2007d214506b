//! Every integration test of envctl, in one test binary (one build and one link instead
//! of one per file): each file of tests/ is a module, run on its own by
//! `tests/run_suite.py` (a process per module, two at a time), or alone with
//! `cargo test --release --test suite MODULE::`.

mod background;
mod common;

mod artifacts;
mod ci_annotations;
mod ci_examples;
mod completions;
mod compose;
mod demo;
mod doctor;
mod engine_features;
mod failures;
mod fuzz_parsers;
mod goss_conformance;
mod init;
mod invalid_input;
mod lifecycle;
mod module_graph;
mod node_runtime;
mod package_cache;
mod plan_dry_run;
mod platform_matrix;
mod podman_engine;
mod portable_cache;
mod project_defaults;
mod promote_demo;
mod promote_invalid;
mod promote_symlink;
mod promote_template;
mod provision_cache;
mod provision_deps;
mod provision_examples;
mod provision_failures;
mod provision_idempotence;
mod provision_incremental;
mod provision_inventory;
mod provision_privileges;
mod provision_resume;
mod provision_salt;
mod reliability_concurrency;
mod reliability_confinement;
mod reliability_corpus;
mod reliability_faults;
mod reliability_gc;
mod reliability_secrets;
mod reliability_signals;
mod remote_engine;
mod reports_formats;
mod specs_goss;
mod specs_http;
mod specs_kinds;
mod swarm_engine;
mod vm_cgroup_v2;
mod vm_qemu;
mod vm_vagrant;
mod watch;
