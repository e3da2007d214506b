//! One file per verb.

pub mod artifacts;
pub mod cache;
pub mod completions;
pub mod doctor;
pub mod down;
pub mod exec;
pub mod gc;
pub mod history;
pub mod image;
pub mod image_file;
pub mod init;
pub mod logs;
pub mod platforms;
pub mod promote;
pub mod provision;
pub mod status;
pub mod test;
pub mod up;
pub mod vagrant_config;
pub mod validate;
pub mod verify;
pub mod vm;
pub mod watch;
