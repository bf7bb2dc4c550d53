//! The report: every check's result and the verdict they add up to.
//!
//! Owns: `Report`, `Verdict` and the exit-code mapping of the CLI interface. Does not own: rendering (see `render`)
//! or delivery to sinks.

use serde::{Deserialize, Serialize};

use crate::check::{CheckResult, Outcome};
use crate::contents::Contents;
use crate::issues::Tracker;
use crate::keys::IssueKey;

/// The gate's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    /// At least one deny-level finding.
    Fail,
    /// No deny-level finding, but some check could not decide.
    Error,
}

impl Verdict {
    /// The name JSON uses: `pass`, `fail`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        }
    }

    /// `0` pass, `1` the gate says no, `2` could not decide.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Error => 2,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub verdict: Verdict,
    pub from: String,
    pub to: String,
    pub checks: Vec<CheckResult>,
    /// Every issue the deploy names, and the parents of its sub-tasks, sorted by key.
    pub issues: Vec<ReportIssue>,
}

/// One issue in a report: what the tracker said about it (nothing when it was not asked) and its commits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportIssue {
    pub key: IssueKey,
    pub summary: Option<String>,
    pub status: Option<String>,
    #[serde(rename = "type")]
    pub issue_type: Option<String>,
    pub parent: Option<IssueKey>,
    pub url: Option<String>,
    /// Newest first; empty for a parent that only its sub-tasks bring in.
    pub commits: Vec<String>,
}

impl ReportIssue {
    /// The deploy's issues with the tracker's facts, plus the parents of sub-tasks, sorted by key.
    pub fn list(contents: &Contents, tracker: &Tracker<'_>) -> Vec<ReportIssue> {
        let facts = match tracker {
            Tracker::Facts(facts) => Some(*facts),
            _ => None,
        };
        let describe = |key: &IssueKey, commits: Vec<String>| {
            let issue = facts.and_then(|f| f.issues.get(key));
            ReportIssue {
                key: key.clone(),
                summary: issue.map(|i| i.summary.clone()),
                status: issue.map(|i| i.status.clone()),
                issue_type: issue.map(|i| i.issue_type.clone()),
                // A sub-task's parent; an ordinary issue's `parent` (its epic, on Jira Cloud) is not shown or brought in.
                parent: issue.filter(|i| i.subtask).and_then(|i| i.parent.clone()),
                // The tracker adapter leaves an address it would not link to empty: no link then.
                url: issue.map(|i| i.url.clone()).filter(|url| !url.is_empty()),
                commits,
            }
        };
        let mut list: Vec<ReportIssue> = contents.issues.iter().map(|i| describe(&i.key, i.commits.clone())).collect();
        let parents: Vec<IssueKey> = list
            .iter()
            .filter_map(|i| i.parent.clone())
            .filter(|p| !contents.issues.iter().any(|i| i.key == *p))
            .collect();
        for parent in parents {
            if !list.iter().any(|i| i.key == parent) {
                list.push(describe(&parent, Vec::new()));
            }
        }
        crate::keys::sort_by_issue_key(&mut list, |i| &i.key);
        list
    }
}

impl Report {
    /// A deny-level finding is a definite "no" and wins over a check that could not decide: the person reading the
    /// report has something to fix either way, and a retry cannot turn a deny into a pass.
    pub fn new(from: String, to: String, checks: Vec<CheckResult>, issues: Vec<ReportIssue>) -> Self {
        let verdict = if checks.iter().any(|c| c.outcome == Outcome::Fail) {
            Verdict::Fail
        } else if checks.iter().any(|c| c.outcome == Outcome::Error) {
            Verdict::Error
        } else {
            Verdict::Pass
        };
        Self { verdict, from, to, checks, issues }
    }

    pub fn findings(&self) -> impl Iterator<Item = &crate::check::Finding> {
        self.checks.iter().flat_map(|c| c.findings.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(outcomes: &[Outcome], expect: Verdict) {
        let checks = outcomes
            .iter()
            .map(|&outcome| CheckResult { id: "c".into(), outcome, summary: String::new(), findings: vec![] })
            .collect();
        assert_eq!(Report::new("f".into(), "t".into(), checks, vec![]).verdict, expect, "{outcomes:?}");
    }

    #[test]
    fn verdict_from_outcomes() {
        check(&[], Verdict::Pass);
        check(&[Outcome::Pass, Outcome::Warn, Outcome::Skipped], Verdict::Pass);
        check(&[Outcome::Pass, Outcome::Error], Verdict::Error);
        check(&[Outcome::Error, Outcome::Fail], Verdict::Fail);
        assert_eq!(Verdict::Fail.exit_code(), 1);
        assert_eq!(Verdict::Error.exit_code(), 2);
    }

    #[test]
    fn issues_carry_tracker_facts_and_bring_in_parents() {
        use crate::issues::{Issue, TrackerFacts};
        use crate::{Commit, KeyRules};
        let commit = |sha: &str, message: &str| Commit {
            sha: sha.into(),
            author: "A".into(),
            email: "a@example.com".into(),
            time: "2024-01-01T00:00:00+00:00".into(),
            subject: message.into(),
            message: message.into(),
            keys: KeyRules::default().extract(message),
            merge: false,
        };
        let contents =
            Contents::assemble("f".into(), "t".into(), vec![commit("c2", "AB-3 sub"), commit("c1", "AB-1 x")]);
        let issue = |key: &str, parent: Option<&str>| Issue {
            key: IssueKey::new(key),
            summary: format!("about {key}"),
            status: "Open".into(),
            issue_type: if parent.is_some() { "Sub-task" } else { "Story" }.into(),
            subtask: parent.is_some(),
            parent: parent.map(IssueKey::new),
            moved_to: None,
            url: format!("https://x/browse/{key}"),
            fields: Default::default(),
        };
        let facts = TrackerFacts {
            asked: vec![IssueKey::new("AB-1"), IssueKey::new("AB-3")],
            issues: [issue("AB-1", None), issue("AB-2", None), issue("AB-3", Some("AB-2"))]
                .into_iter()
                .map(|i| (i.key.clone(), i))
                .collect(),
            ..Default::default()
        };
        let mut facts = facts;
        // AB-1 is a story in the epic AB-100: Jira Cloud gives it as the story's parent. Not a sub-task's parent,
        // so neither nested under nor brought in.
        facts.issues.get_mut(&IssueKey::new("AB-1")).unwrap().parent = Some(IssueKey::new("AB-100"));
        let list = ReportIssue::list(&contents, &Tracker::Facts(&facts));
        let got: Vec<(&str, Option<&str>, usize)> =
            list.iter().map(|i| (i.key.as_str(), i.parent.as_ref().map(|p| p.as_str()), i.commits.len())).collect();
        assert_eq!(got, [("AB-1", None, 1), ("AB-2", None, 0), ("AB-3", Some("AB-2"), 1)]);
        assert_eq!(list[0].summary.as_deref(), Some("about AB-1"));
        let bare = ReportIssue::list(&contents, &Tracker::NotConfigured);
        assert_eq!(bare.len(), 2);
        assert!(bare.iter().all(|i| i.summary.is_none() && i.status.is_none()));
    }
}
