//! The shape every check shares: an id, an outcome, and findings with stable codes.
//!
//! Owns: `Severity`, `Outcome`, `Finding`, `CheckResult`, the `Check` trait and the facts a check may read
//! (`CheckContext`). Does not own: any particular check (see `greenlight-checks`) or where facts come from. A check
//! is a pure function of the context and its own validated config: it never does IO and never posts anything.

use serde::{Deserialize, Serialize};

use crate::contents::Contents;
use crate::issues::Tracker;

/// How much a finding matters. Only `deny` makes the gate say no.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Deny,
    Warn,
    Info,
}

/// What a check concluded as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Warn,
    Fail,
    /// The check could not decide (a service it needs did not answer). Never a silent pass.
    Error,
    /// Disabled, or not applicable in this run (`--offline`).
    Skipped,
}

/// One thing a check found, about one subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable kebab-case name, documented in `docs/checks/<check>.md`. Approvals name findings by code and subject.
    pub code: String,
    pub severity: Severity,
    pub message: String,
    /// What the finding is about: a commit sha, an issue key, or `path:line`.
    pub subject: String,
}

impl Finding {
    pub fn new(code: &str, severity: Severity, subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code: code.to_owned(), severity, message: message.into(), subject: subject.into() }
    }
}

/// One check's result in a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub id: String,
    pub outcome: Outcome,
    /// One line a person reads first.
    pub summary: String,
    pub findings: Vec<Finding>,
}

impl CheckResult {
    /// The outcome follows from the findings: any `deny` fails, any `warn` warns, otherwise it passes.
    pub fn from_findings(id: &str, summary: impl Into<String>, findings: Vec<Finding>) -> Self {
        let outcome = if findings.iter().any(|f| f.severity == Severity::Deny) {
            Outcome::Fail
        } else if findings.iter().any(|f| f.severity == Severity::Warn) {
            Outcome::Warn
        } else {
            Outcome::Pass
        };
        Self { id: id.to_owned(), outcome, summary: summary.into(), findings }
    }

    pub fn error(id: &str, message: impl Into<String>) -> Self {
        Self { id: id.to_owned(), outcome: Outcome::Error, summary: message.into(), findings: Vec::new() }
    }

    pub fn skipped(id: &str, reason: impl Into<String>) -> Self {
        Self { id: id.to_owned(), outcome: Outcome::Skipped, summary: reason.into(), findings: Vec::new() }
    }
}

/// The facts checks read. Gathered before any check runs; each adapter adds its own field as issues bring them.
#[derive(Clone, Copy, Debug)]
pub struct CheckContext<'a> {
    /// What the deploy ships, and what it would roll back (`Contents::rolled_back`).
    pub contents: &'a Contents,
    /// What the issue tracker said, if it was asked.
    pub tracker: Tracker<'a>,
}

/// A check: an id and a pure function from the context to a result. Its config is validated when it is built.
pub trait Check {
    /// Stable kebab-case id; also the name of its config section `[checks.<id>]` and of `docs/checks/<id>.md`.
    fn id(&self) -> &'static str;
    fn run(&self, ctx: &CheckContext<'_>) -> CheckResult;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(severities: &[Severity], expect: Outcome) {
        let findings = severities.iter().map(|&s| Finding::new("x", s, "s", "m")).collect();
        assert_eq!(CheckResult::from_findings("c", "", findings).outcome, expect, "{severities:?}");
    }

    #[test]
    fn outcome_follows_the_worst_finding() {
        check(&[], Outcome::Pass);
        check(&[Severity::Info], Outcome::Pass);
        check(&[Severity::Info, Severity::Warn], Outcome::Warn);
        check(&[Severity::Warn, Severity::Deny, Severity::Info], Outcome::Fail);
    }

    #[test]
    fn json_names_are_lowercase() {
        let f = Finding::new("commit-without-key", Severity::Deny, "abc", "m");
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["severity"], "deny");
        assert_eq!(serde_json::to_value(Outcome::Skipped).unwrap(), "skipped");
    }
}
