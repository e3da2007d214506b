//! The Docker Engine backend: containers through bollard (`client.rs`), images (pull,
//! build, bootstrap without a registry: `image.rs`, `bootstrap.rs`), systemd-derived
//! images and their boot wait (`systemd.rs`), and the way checks and steps reach running
//! containers (`view.rs`).

pub mod bootstrap;
pub mod client;
pub mod image;
pub mod systemd;
pub mod view;

pub use client::*;
pub use view::InstanceView;
