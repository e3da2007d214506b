//! The Vagrant engine: environments run as Vagrant machines (VMs under libvirt or
//! VirtualBox, or SSH-enabled containers under Vagrant's docker provider), defined by
//! the project's top-level `Vagrantfile`, which reads [`config::VagrantConfig`] from
//! `envctl vagrant-config`. [`machines`] drives the `vagrant` CLI; checks reach the
//! machines over SSH through [`crate::backend::ssh::SshAccess`].

pub mod config;
pub mod machines;

pub use machines::Vagrant;

/// What Vagrant machines serve beyond up, verify, exec, logs, status and down (none
/// yet: docs/vms.md has the table).
pub const FEATURES: &[crate::backend::Feature] = &[];
