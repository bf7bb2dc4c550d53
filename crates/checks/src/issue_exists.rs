//! `issue-exists`: every key the deploy names resolves to an issue in the tracker.
//!
//! Finding: `issue-not-found` (deny), subject the key. Config: `[checks.issue-exists]` (a `Toggle`). Documented in
//! `docs/checks/issue-exists.md`.

use greenlight_core::{Check, CheckContext, CheckResult, Finding, Severity};

use crate::toggle::Toggle;
use crate::tracker::with_facts;

pub const ID: &str = "issue-exists";

#[derive(Debug, Clone, Default)]
pub struct IssueExists {
    pub(crate) cfg: Toggle,
}

impl Check for IssueExists {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &CheckContext<'_>) -> CheckResult {
        with_facts(ID, ctx, |facts| {
            let findings: Vec<Finding> = facts
                .asked
                .iter()
                .filter(|key| !facts.issues.contains_key(*key))
                .map(|key| {
                    Finding::new(
                        "issue-not-found",
                        Severity::Deny,
                        key.as_str(),
                        format!("{key} does not exist in the tracker (or the token cannot see it)"),
                    )
                })
                .collect();
            let summary = match findings.len() {
                0 => format!("all {} issues exist", facts.asked.len()),
                n => format!("{n} of {} issues do not exist", facts.asked.len()),
            };
            CheckResult::from_findings(ID, summary, findings)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::fixtures::*;
    use greenlight_core::{Outcome, Tracker};

    #[test]
    fn unknown_keys_are_denied() {
        let facts = facts(&["AB-1", "AB-2", "AB-3"], vec![issue("AB-2", "Done", "Story", None)]);
        let contents = empty_contents();
        let result = IssueExists::default().run(&ctx(&contents, &facts));
        let subjects: Vec<&str> = result.findings.iter().map(|f| f.subject.as_str()).collect();
        assert_eq!(subjects, ["AB-1", "AB-3"]);
        assert!(result.findings.iter().all(|f| f.code == "issue-not-found" && f.severity == Severity::Deny));
        assert_eq!(result.summary, "2 of 3 issues do not exist");
    }

    #[test]
    fn without_facts_the_check_skips_or_errors() {
        let contents = empty_contents();
        let mut ctx = CheckContext { contents: &contents, tracker: Tracker::NotConfigured };
        assert_eq!(IssueExists::default().run(&ctx).outcome, Outcome::Skipped);
        ctx.tracker = Tracker::Offline;
        assert_eq!(IssueExists::default().run(&ctx).outcome, Outcome::Skipped);
        ctx.tracker = Tracker::Unavailable("cannot reach https://jira.example: connection refused");
        let result = IssueExists::default().run(&ctx);
        assert_eq!(result.outcome, Outcome::Error);
        assert!(result.summary.contains("https://jira.example"));
    }
}
