//! `ready-issues`: issues the tracker lists as ready to ship but that no commit of the deploy names. Someone marked
//! them done; their code is not going out.
//!
//! Finding: `ready-issue-not-in-deploy` (warn by default; `[checks.ready-issues] severity`), subject the key.
//! Documented in `docs/checks/ready-issues.md`.

pub mod cfg;

use std::collections::HashSet;

use greenlight_core::{Check, CheckContext, CheckResult, Finding, IssueKey};

use crate::tracker::with_facts;

pub const ID: &str = "ready-issues";

#[derive(Debug, Clone, Default)]
pub struct ReadyIssues {
    pub(crate) cfg: cfg::Config,
}

impl ReadyIssues {
    pub fn query(&self) -> Option<&str> {
        self.cfg.query.as_deref()
    }

    /// Whether the check runs, and so whether the tracker's ready search is needed.
    pub fn enabled(&self) -> bool {
        self.cfg.enabled
    }
}

impl Check for ReadyIssues {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &CheckContext<'_>) -> CheckResult {
        with_facts(ID, ctx, |facts| {
            if let Some(error) = &facts.ready_error {
                return CheckResult::error(ID, format!("the ready search failed: {error}"));
            }
            // An issue is in the deploy when a commit names it (by the key it has, or one it had before it was
            // moved) or one of its sub-tasks. Only a sub-task's parent counts: an ordinary issue's `parent` is its
            // epic (Jira Cloud), which ships only when named.
            let mut shipped: HashSet<&IssueKey> = facts.asked.iter().collect();
            shipped.extend(facts.asked.iter().filter_map(|k| facts.issues.get(k)?.moved_to.as_ref()));
            shipped
                .extend(facts.asked.iter().filter_map(|k| facts.issues.get(k).filter(|i| i.subtask)?.parent.as_ref()));
            let findings: Vec<Finding> = facts
                .ready
                .iter()
                .filter(|issue| !shipped.contains(&issue.key))
                .map(|issue| {
                    Finding::new(
                        "ready-issue-not-in-deploy",
                        self.cfg.severity,
                        issue.key.as_str(),
                        format!(
                            "{} {:?} is {:?} but no commit in the deploy names it",
                            issue.key, issue.summary, issue.status
                        ),
                    )
                })
                .collect();
            let summary = match findings.len() {
                0 => format!("all {} ready issues are in the deploy", facts.ready.len()),
                n => format!("{n} ready issues are not in the deploy"),
            };
            CheckResult::from_findings(ID, summary, findings)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::fixtures::*;
    use greenlight_core::{Outcome, Severity};

    #[test]
    fn ready_issues_missing_from_the_deploy() {
        let mut facts = facts(
            &["AB-1", "AB-3"],
            vec![issue("AB-1", "Ready", "Story", None), issue("AB-3", "Ready", "Sub-task", Some("AB-2"))],
        );
        facts.ready = vec![
            issue("AB-1", "Ready", "Story", None),
            issue("AB-2", "Ready", "Story", None),
            issue("AB-9", "Ready", "Bug", None),
        ];
        let contents = empty_contents();
        let result = ReadyIssues::default().run(&ctx(&contents, &facts));
        let subjects: Vec<&str> = result.findings.iter().map(|f| f.subject.as_str()).collect();
        assert_eq!(subjects, ["AB-9"], "AB-2 ships through its sub-task AB-3");
        assert_eq!(result.findings[0].severity, Severity::Warn);
        assert_eq!(result.outcome, Outcome::Warn);
        let strict = ReadyIssues { cfg: cfg::Config { severity: Severity::Deny, ..Default::default() } };
        assert_eq!(strict.run(&ctx(&contents, &facts)).outcome, Outcome::Fail);
    }

    #[test]
    fn an_issue_named_by_its_old_key_is_in_the_deploy() {
        let mut moved = issue("AB-1", "Ready", "Story", None);
        moved.moved_to = Some(IssueKey::new("CD-7"));
        let mut facts = facts(&["AB-1"], vec![moved]);
        facts.ready = vec![issue("CD-7", "Ready", "Story", None)];
        let contents = empty_contents();
        let result = ReadyIssues::default().run(&ctx(&contents, &facts));
        assert!(result.findings.is_empty(), "{:?}", result.findings);
    }

    #[test]
    fn an_epic_is_not_in_the_deploy_through_its_stories() {
        let mut story = issue("AB-1", "Ready", "Story", None);
        story.parent = Some(IssueKey::new("AB-100"));
        let mut facts = facts(&["AB-1"], vec![story]);
        facts.ready = vec![issue("AB-1", "Ready", "Story", None), issue("AB-100", "Ready", "Epic", None)];
        let contents = empty_contents();
        let result = ReadyIssues::default().run(&ctx(&contents, &facts));
        let subjects: Vec<&str> = result.findings.iter().map(|f| f.subject.as_str()).collect();
        assert_eq!(subjects, ["AB-100"]);
    }

    #[test]
    fn a_failed_ready_search_is_an_error_of_this_check() {
        let mut facts = facts(&["AB-1"], vec![issue("AB-1", "Ready", "Story", None)]);
        facts.ready_error = Some("https://jira.example/rest/api/3/search/jql answered 400 Bad Request".into());
        let contents = empty_contents();
        let result = ReadyIssues::default().run(&ctx(&contents, &facts));
        assert_eq!(result.outcome, Outcome::Error);
        assert!(result.summary.contains("answered 400"), "{}", result.summary);
        // The other tracker checks judge the issues that were read.
        let status = crate::issue_status::IssueStatus {
            cfg: Default::default(),
            tracker: Some(tracker(crate::tracker::Subtasks::Parent, vec![])),
        };
        assert_eq!(status.run(&ctx(&contents, &facts)).outcome, Outcome::Fail);
    }
}
