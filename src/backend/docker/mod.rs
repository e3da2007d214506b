//! The Docker Engine backend: containers through bollard (`client.rs`), images (pull,
//! build, bootstrap without a registry: `image.rs`, `bootstrap.rs`), systemd-derived
//! images and their boot wait (`systemd.rs`), what containers may do (`privileges.rs`:
//! least privilege for systemd, the boot helper, `privileged`), what the engine says about
//! itself (`engine_info.rs`), Docker contexts resolved into `DOCKER_HOST` (`context.rs`), named volumes, mounts and limits (`volume.rs`), host-side checks on a remote engine through a probe container (`relay.rs`), the ways tools reach an engine over ssh or TLS (`ssh_tunnel.rs`, `tls_forward.rs`, through a socket of envctl's: `tool_socket.rs`), what a
//! swarm's manager says about its machines and images carried between engines
//! (`swarm_nodes.rs`), and the [`Backend`](crate::backend::Backend) every verb
//! reaches it through (`engine.rs`).

pub mod bootstrap;
pub mod client;
pub mod context;
pub mod engine;
pub mod engine_info;
pub mod image;
pub mod privileges;
pub mod relay;
pub mod ssh_tunnel;
pub mod swarm_nodes;
pub mod systemd;
pub mod tls_forward;
pub mod tool_socket;
pub mod transfer;
pub mod volume;

pub use client::*;

/// Docker serves every feature.
pub const FEATURES: &[crate::backend::Feature] = &crate::backend::Feature::ALL;
