//! greenlight's domain: what a deploy contains, the issue keys its commits name, the shape every check shares,
//! and the report they add up to.
//!
//! This crate owns plain values and the pure functions over them. It deliberately does no IO: no files, no
//! network, no git, no clock, no async. Adapters (git, trackers, stores) produce these values; sinks (terminal,
//! GitHub, the web UI) consume them.

pub mod check;
pub mod contents;
pub mod issues;
pub mod keys;
pub mod render;
pub mod report;
pub mod text;

pub use check::{Check, CheckContext, CheckResult, Finding, Outcome, Severity};
pub use contents::{Commit, Contents, IssueCommits, IssueIndex};
pub use issues::{FieldRef, FieldValue, Issue, Tracker, TrackerFacts};
pub use keys::{IssueKey, KeyRules, KeySettings};
pub use report::{Report, ReportIssue, Verdict};
