//! The Docker Engine backend: containers through bollard (`client.rs`), images (pull,
//! build, bootstrap without a registry: `image.rs`, `bootstrap.rs`), systemd-derived
//! images and their boot wait (`systemd.rs`), what containers may do (`privileges.rs`:
//! least privilege for systemd, the boot helper, `privileged`), the way checks and steps
//! reach running containers (`view.rs`), and what the engine says about itself
//! (`engine_info.rs`).

pub mod bootstrap;
pub mod client;
pub mod engine_info;
pub mod image;
pub mod privileges;
pub mod systemd;
pub mod transfer;
pub mod view;

pub use client::*;
pub use view::InstanceView;
