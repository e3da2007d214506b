//! envctl: scaled-down copies of production from version-controlled definitions.
//!
//! Data flows one way through the modules:
//!
//! - [`model`] reads `environments/*.toml`, `specs/ENV/*.toml` and goss files, applies `extends`
//!   and validates everything (no engine involved; errors name file, line and field);
//! - [`plan`] orders nodes by dependency and computes the content hashes that decide
//!   what is rebuilt, re-provisioned or recreated;
//! - [`backend`] is the seam to engines, [`backend::Backend`], with one folder per engine:
//!   [`backend::docker`] talks to the Docker Engine (bollard) and builds base images
//!   without a registry, [`backend::vagrant`] and [`backend::qemu`] run machines;
//!   [`provision`] runs a node's steps through a backend's exec and upload;
//! - [`instance`] is the lifecycle of one running copy (`up`, `down`, the view checks use)
//!   on the backend it holds;
//! - [`check`] runs assertions concurrently with deadlines, reaching nodes only through
//!   [`backend::NodeAccess`];
//! - [`events`] carries what happens to [`report`]ers (live progress, JUnit, JSON, TAP,
//!   HTML with a timeline, evidence);
//! - [`promote`] moves a service between blue and green behind its router, gated by specs;
//! - [`doctor`] judges whether the machine can run envctl (engine, cgroups, tools);
//! - [`init`] starts a project: a first environment, or one built from a Molecule
//!   scenario, a Puppet module or a goss file;
//! - [`cli`] maps verbs and exit codes; `main.rs` only calls [`cli::main`].
//!
//! Waiting of any kind (health, `eventually`, readiness) goes through [`wait::until`].

pub mod backend;
pub mod cancel;
pub mod check;
pub mod cli;
pub mod doctor;
pub mod events;
pub mod exit_code;
pub mod hint;
pub mod init;
pub mod instance;
pub mod model;
pub mod plan;
pub mod promote;
pub mod provision;
pub mod report;
pub mod terminal;
pub mod wait;
