//! Exit codes, in one table for every verb (documented in README.md and docs/cli.md).
//! `cli::exit` maps failures onto them; promotion names its outcomes with them.

/// Everything passed.
pub const SUCCESS: u8 = 0;
/// Specs failed: the gate says no (a promotion refused).
pub const SPECS_FAILED: u8 = 1;
/// Invalid input (definitions, specs, arguments); nothing was created.
pub const INVALID_INPUT: u8 = 2;
/// Environment error: engine unreachable, image, start, provisioning or health failed.
pub const ENVIRONMENT: u8 = 3;
/// Provisioning is not idempotent.
pub const NOT_IDEMPOTENT: u8 = 4;
/// Interrupted (after cleanup).
pub const INTERRUPTED: u8 = 130;
