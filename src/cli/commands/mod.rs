//! One file per verb.

pub mod down;
pub mod exec;
pub mod gc;
pub mod image;
pub mod logs;
pub mod status;
pub mod test;
pub mod up;
pub mod validate;
pub mod verify;
