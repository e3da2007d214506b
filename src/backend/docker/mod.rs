//! The Docker Engine backend: containers through bollard (`client.rs`), images (pull,
//! build, bootstrap without a registry: `image.rs`, `bootstrap.rs`), systemd-derived
//! images and their boot wait (`systemd.rs`), and the way checks and steps reach running
//! containers (`view.rs`); what the engine says about itself (`engine_info.rs`).

pub mod bootstrap;
pub mod client;
pub mod engine_info;
pub mod image;
pub mod systemd;
pub mod view;

pub use client::*;
pub use view::InstanceView;
