//! goss files.
