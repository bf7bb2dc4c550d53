//! greenlight's checks and the repository config (`greenlight.toml`) that selects and tunes them.
//!
//! Every check has the same shape: `<id>.rs` holds a type implementing `greenlight_core::Check`, `<id>/cfg.rs` its
//! config section `[checks.<id>]`, validated once, and `docs/checks/<id>.md` documents it and its finding codes.
//! Checks are pure: they read the facts in a `CheckContext` and return findings. This crate does no IO; callers read
//! the config file and gather the facts.

pub mod ancestry;
pub mod commit_keys;
pub mod config;
pub mod issue_exists;
pub mod issue_fields;
pub mod issue_status;
pub mod ready_issues;
pub mod toggle;
pub mod tracker;

pub use config::{ConfigError, TEMPLATE, ValidConfig};
