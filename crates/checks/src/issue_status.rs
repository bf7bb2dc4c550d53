//! `issue-status`: every issue in the deploy is in a status that may ship (`[tracker] ready_statuses`). A sub-task
//! is judged by its parent unless `[tracker] subtasks = "self"`.
//!
//! Finding: `issue-wrong-status` (deny), subject the judged issue's key; the message names the status. Config:
//! `[checks.issue-status]` (a `Toggle`). Documented in `docs/checks/issue-status.md`.

use std::sync::Arc;

use greenlight_core::{Check, CheckContext, CheckResult, Finding, Severity};

use crate::toggle::Toggle;
use crate::tracker::{ValidTracker, describe, units, with_facts};

pub const ID: &str = "issue-status";

#[derive(Debug, Clone, Default)]
pub struct IssueStatus {
    pub(crate) cfg: Toggle,
    pub(crate) tracker: Option<Arc<ValidTracker>>,
}

impl Check for IssueStatus {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &CheckContext<'_>) -> CheckResult {
        with_facts(ID, ctx, |facts| {
            let Some(tracker) = &self.tracker else {
                return CheckResult::skipped(ID, "no [tracker] in greenlight.toml");
            };
            let units = units(facts, tracker.subtasks);
            let ready = tracker.ready_statuses.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
            let findings: Vec<Finding> = units
                .iter()
                .filter(|(issue, _)| !tracker.is_ready_status(&issue.status))
                .map(|(issue, via)| {
                    Finding::new(
                        "issue-wrong-status",
                        Severity::Deny,
                        issue.key.as_str(),
                        format!("{} is {:?}; ready to ship: {ready}", describe(issue, *via), issue.status),
                    )
                })
                .collect();
            let summary = match findings.len() {
                0 => format!("all {} issues are ready to ship", units.len()),
                n => format!("{n} of {} issues are not ready to ship", units.len()),
            };
            CheckResult::from_findings(ID, summary, findings)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::Subtasks;
    use crate::tracker::fixtures::*;

    fn check(subtasks: Subtasks, expect: &[(&str, &str)]) {
        let facts = facts(
            &["AB-1", "AB-3", "AB-4"],
            vec![
                issue("AB-1", "ready to deploy", "Story", None),
                issue("AB-2", "In Review", "Story", None),
                issue("AB-3", "Ready to Deploy", "Sub-task", Some("AB-2")),
                issue("AB-4", "In Progress", "Bug", None),
            ],
        );
        let contents = empty_contents();
        let check = IssueStatus { cfg: Toggle::default(), tracker: Some(tracker(subtasks, vec![])) };
        let result = check.run(&ctx(&contents, &facts));
        let got: Vec<(&str, &str)> = result.findings.iter().map(|f| (f.subject.as_str(), f.message.as_str())).collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn statuses_outside_the_ready_list_are_denied() {
        check(
            Subtasks::Parent,
            &[
                (
                    "AB-2",
                    "AB-2 \"summary of AB-2\" (parent of sub-task AB-3) is \"In Review\"; ready to ship: \"Ready to Deploy\"",
                ),
                ("AB-4", "AB-4 \"summary of AB-4\" is \"In Progress\"; ready to ship: \"Ready to Deploy\""),
            ],
        );
        check(
            Subtasks::Itself,
            &[("AB-4", "AB-4 \"summary of AB-4\" is \"In Progress\"; ready to ship: \"Ready to Deploy\"")],
        );
    }
}
