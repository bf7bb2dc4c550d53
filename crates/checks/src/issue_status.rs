//! `issue-status`: every issue in the deploy is in a status that may ship (`[tracker] ready_statuses`). A sub-task
//! is judged by its parent unless `[tracker] subtasks = "self"`.
//!
//! Finding: `issue-wrong-status` (deny), subject the judged issue's key; the message names the status. Config:
//! `[checks.issue-status]` (a `Toggle`). Documented in `docs/checks/issue-status.md`.

use std::sync::Arc;

use greenlight_core::{Check, CheckContext, CheckResult, Finding, Severity};

use crate::toggle::Toggle;
use crate::tracker::{ValidTracker, describe, judged, units, with_facts};

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
                return CheckResult::skipped(ID, "no [tracker] configured");
            };
            let units = units(facts, tracker.subtasks);
            let ready = tracker.ready_statuses.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
            let findings: Vec<Finding> = units
                .judged
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
                0 => format!("all {} issues are ready to ship", units.judged.len()),
                n => format!("{n} of {} issues are not ready to ship", units.judged.len()),
            };
            judged(ID, summary, findings, &units)
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

    #[test]
    fn a_subtask_whose_parent_was_not_returned_never_passes() {
        let contents = empty_contents();
        let check = IssueStatus { cfg: Toggle::default(), tracker: Some(tracker(Subtasks::Parent, vec![])) };
        // AB-3 is ready, but is judged by AB-2, which the tracker did not return.
        let alone = facts(&["AB-3"], vec![issue("AB-3", "Ready to Deploy", "Sub-task", Some("AB-2"))]);
        let result = check.run(&ctx(&contents, &alone));
        assert_eq!(result.outcome, greenlight_core::Outcome::Error);
        assert!(result.summary.contains("AB-2 (parent of sub-task AB-3)"), "{}", result.summary);
        assert!(result.findings.is_empty());

        // Next to a deny, the check fails and still names the parent it could not read.
        let with_deny = facts(
            &["AB-3", "AB-4"],
            vec![issue("AB-3", "Ready to Deploy", "Sub-task", Some("AB-2")), issue("AB-4", "In Progress", "Bug", None)],
        );
        let result = check.run(&ctx(&contents, &with_deny));
        assert_eq!(result.outcome, greenlight_core::Outcome::Fail);
        assert_eq!(result.findings.len(), 1);
        assert!(result.summary.contains("AB-2 (parent of sub-task AB-3)"), "{}", result.summary);

        // Judged by itself, the sub-task needs no parent.
        let itself = IssueStatus { cfg: Toggle::default(), tracker: Some(tracker(Subtasks::Itself, vec![])) };
        assert_eq!(itself.run(&ctx(&contents, &alone)).outcome, greenlight_core::Outcome::Pass);
    }

    #[test]
    fn a_moved_issue_is_judged_and_named_with_its_new_key() {
        let mut moved = issue("AB-1", "In Progress", "Story", None);
        moved.moved_to = Some(greenlight_core::IssueKey::new("CD-7"));
        let facts = facts(&["AB-1"], vec![moved]);
        let contents = empty_contents();
        let check = IssueStatus { cfg: Toggle::default(), tracker: Some(tracker(Subtasks::Parent, vec![])) };
        let result = check.run(&ctx(&contents, &facts));
        let got: Vec<(&str, &str)> = result.findings.iter().map(|f| (f.subject.as_str(), f.message.as_str())).collect();
        assert_eq!(
            got,
            [("AB-1", "AB-1 (now CD-7) \"summary of AB-1\" is \"In Progress\"; ready to ship: \"Ready to Deploy\"")]
        );
    }
}
