//! The Vagrant engine: environments run as Vagrant machines (VMs under libvirt or
//! VirtualBox, or SSH-enabled containers under Vagrant's docker provider), defined by
//! the project's top-level `Vagrantfile`, which reads [`config::VagrantConfig`] from
//! `envctl vagrant-config`. [`machines`] drives the `vagrant` CLI; checks reach the
//! machines over SSH through [`crate::backend::ssh::SshAccess`].

pub mod config;
pub mod machines;

pub use machines::Vagrant;

/// What the machines serve beyond up, verify, exec, logs, status and down (docs/vms.md
/// has the table): the idempotence check of `envctl test` and the kept logs of
/// provisioning and of that check.
pub const FEATURES: &[crate::backend::Feature] = &[
    crate::backend::Feature::Idempotence,
    crate::backend::Feature::ProvisionLogs,
    crate::backend::Feature::FollowLogs,
    crate::backend::Feature::Artifacts,
    crate::backend::Feature::Gc,
    crate::backend::Feature::ProvisionOnly,
    crate::backend::Feature::Plan,
];
