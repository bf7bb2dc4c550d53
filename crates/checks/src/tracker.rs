//! `[tracker]`: which issue tracker the repository uses, how to reach it, and what "ready to ship" means there.
//! Shared by the tracker checks (`issue-exists`, `issue-status`, `issue-fields`, `ready-issues`).
//!
//! Owns: the section's shape and validation, and the rules all tracker checks share (which issue is judged for a
//! sub-task). Does not own: talking to the tracker (`greenlight-tracker`; the binary hands it these settings).

use greenlight_core::{CheckContext, CheckResult, Finding, Issue, IssueKey, Outcome, Tracker, TrackerFacts};
use serde::Deserialize;
use toml::Spanned;

use crate::config::Invalid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrackerKind {
    JiraCloud,
    JiraDc,
    Github,
}

/// How a sub-task is judged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subtasks {
    /// By its parent: the parent's status and fields must be ready.
    #[default]
    Parent,
    /// By itself.
    #[serde(rename = "self")]
    Itself,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub kind: Spanned<TrackerKind>,
    pub url: Spanned<String>,
    /// Jira Cloud: the variable holding the account's email. Not used by Data Center or GitHub.
    pub user_env: Option<String>,
    /// The variable holding the API token (Cloud), personal access token (Data Center) or GitHub token.
    pub token_env: Option<String>,
    /// GitHub: the `owner/repo` whose issues `#123` refers to. Required with `kind = "github"`.
    pub repository: Option<Spanned<String>>,
    /// Required while `issue-status` runs, or `ready-issues` runs without a `query` (both read it).
    #[serde(default)]
    pub ready_statuses: Option<Spanned<Vec<String>>>,
    /// Jira project keys (or `owner/repo` for GitHub) the tracker checks consider; others are ignored.
    #[serde(default)]
    pub projects: Vec<Spanned<String>>,
    #[serde(default)]
    pub subtasks: Subtasks,
    #[serde(default)]
    pub required_fields: Vec<RequiredField>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequiredField {
    /// Display name (`Post-deploy checks`) or id (`customfield_10042`).
    pub field: String,
    /// Allowed values; absent: any non-empty value.
    pub allowed: Option<Vec<String>>,
    /// Issue types the rule applies to; absent: all.
    pub issue_types: Option<Vec<String>>,
}

/// The validated section.
#[derive(Debug, Clone)]
pub struct ValidTracker {
    pub kind: TrackerKind,
    pub url: String,
    pub user_env: Option<String>,
    pub token_env: Option<String>,
    pub repository: Option<String>,
    pub ready_statuses: Vec<String>,
    pub projects: Vec<String>,
    pub subtasks: Subtasks,
    pub required_fields: Vec<RequiredField>,
}

impl Config {
    /// `needs_ready`: which enabled check reads `ready_statuses`, if any (it must then list a status).
    pub(crate) fn validate(self, needs_ready: Option<&str>) -> Result<ValidTracker, Invalid> {
        let url = self.url.get_ref().trim_end_matches('/').to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Invalid::at(&self.url, "`url` must start with http:// or https://"));
        }
        // API paths are appended to it: after a `?` they would become a query of another endpoint.
        if url.contains(['?', '#']) {
            return Err(Invalid::at(
                &self.url,
                "`url` must have no query (?) or fragment (#): API paths are added to it",
            ));
        }
        // Without it, every `#123` would be left out of the tracker's checks, and they would pass on nothing.
        match (self.kind.get_ref(), &self.repository) {
            (TrackerKind::Github, None) => {
                return Err(Invalid::at(
                    &self.kind,
                    "kind = \"github\" needs `repository = \"owner/repo\"`, the repository that `#123` refers to",
                ));
            }
            (_, Some(repository)) if !is_owner_repo(repository.get_ref()) => {
                return Err(Invalid::at(repository, "`repository` must be `owner/repo`"));
            }
            _ => {}
        }
        // The web address answers the API's paths with 404s, which would read as issues that do not exist.
        if *self.kind.get_ref() == TrackerKind::Github
            && matches!(url.as_str(), "https://github.com" | "http://github.com")
        {
            return Err(Invalid::at(
                &self.url,
                "with kind = \"github\", `url` is the API's: https://api.github.com (GitHub Enterprise: \
                 https://HOST/api/v3)",
            ));
        }
        // A GitHub reference names its repository, so a project that is not one would leave every issue unread.
        if *self.kind.get_ref() == TrackerKind::Github
            && let Some(project) = self.projects.iter().find(|p| !is_owner_repo(p.get_ref()))
        {
            return Err(Invalid::at(project, "with kind = \"github\", each of `projects` must be `owner/repo`"));
        }
        let ready_statuses: Vec<String> = match &self.ready_statuses {
            Some(statuses) => {
                statuses.get_ref().iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
            }
            None => Vec::new(),
        };
        // Without one, every issue would be denied as "not ready", against an empty list.
        if let Some(check) = needs_ready
            && ready_statuses.is_empty()
        {
            let what = if *self.kind.get_ref() == TrackerKind::Github { "labels" } else { "statuses" };
            let message = format!(
                "[tracker] needs `ready_statuses`, the {what} an issue may ship in (for example ready_statuses = \
                 [\"Ready to Deploy\"]): {check} reads them"
            );
            return Err(match &self.ready_statuses {
                Some(statuses) => Invalid::at(statuses, message),
                None => Invalid::at(&self.url, message),
            });
        }
        Ok(ValidTracker {
            kind: self.kind.into_inner(),
            url,
            user_env: self.user_env,
            token_env: self.token_env,
            repository: self.repository.map(Spanned::into_inner),
            ready_statuses,
            projects: self.projects.into_iter().map(Spanned::into_inner).collect(),
            subtasks: self.subtasks,
            required_fields: self.required_fields,
        })
    }
}

/// `owner/repo`, as GitHub spells a repository.
fn is_owner_repo(text: &str) -> bool {
    let valid = |part: &str| {
        !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    text.split_once('/').is_some_and(|(owner, name)| valid(owner) && valid(name))
}

impl ValidTracker {
    /// Whether `status` is one of `ready_statuses`, in any case (Unicode, as the tracker's own search compares).
    pub fn is_ready_status(&self, status: &str) -> bool {
        let status = status.trim().to_lowercase();
        self.ready_statuses.iter().any(|s| s.to_lowercase() == status)
    }
}

/// Runs `judge` when the tracker answered; otherwise `skipped` (not configured, offline) or `error` (unavailable).
pub(crate) fn with_facts(
    id: &str,
    ctx: &CheckContext<'_>,
    judge: impl FnOnce(&TrackerFacts) -> CheckResult,
) -> CheckResult {
    match ctx.tracker {
        Tracker::NotConfigured => CheckResult::skipped(id, "no [tracker] configured"),
        Tracker::Offline => CheckResult::skipped(id, "--offline: the tracker was not asked"),
        Tracker::Unavailable(message) => CheckResult::error(id, message),
        Tracker::Facts(facts) => judge(facts),
    }
}

/// What the tracker checks judge for the deploy's keys.
pub(crate) struct Units<'a> {
    /// The issues to judge, each once, in key order: an issue, or its parent when it is a sub-task judged by its
    /// parent. With the key of the sub-task that led to a parent, for messages.
    pub judged: Vec<(&'a Issue, Option<&'a IssueKey>)>,
    /// Sub-tasks judged by their parent whose parent the tracker did not return (it does not exist, or the token
    /// cannot see it): (sub-task, parent), in key order. They cannot be judged, and must never pass.
    pub unreadable: Vec<(&'a IssueKey, &'a IssueKey)>,
}

/// The units to judge for the deploy's keys; see [`Units`].
pub(crate) fn units(facts: &TrackerFacts, subtasks: Subtasks) -> Units<'_> {
    let mut units: Vec<(&Issue, Option<&IssueKey>)> = Vec::new();
    let mut unreadable = Vec::new();
    for key in &facts.asked {
        let Some(issue) = facts.issues.get(key) else { continue };
        let unit = match (subtasks, issue.subtask, &issue.parent) {
            (Subtasks::Parent, true, Some(parent)) => match facts.issues.get(parent) {
                Some(parent) => (parent, Some(&issue.key)),
                None => {
                    unreadable.push((&issue.key, parent));
                    continue;
                }
            },
            _ => (issue, None),
        };
        if !units.iter().any(|(u, _)| u.key == unit.0.key) {
            units.push(unit);
        }
    }
    units.sort_by(|a, b| a.0.key.cmp(&b.0.key));
    Units { judged: units, unreadable }
}

/// A check's result over `units`: its findings, and `error` when some sub-task could not be judged because its
/// parent was not returned (a deny among the findings still fails the check; the summary then names both).
pub(crate) fn judged(id: &str, summary: String, findings: Vec<Finding>, units: &Units<'_>) -> CheckResult {
    let mut result = CheckResult::from_findings(id, summary, findings);
    if units.unreadable.is_empty() {
        return result;
    }
    let which = units
        .unreadable
        .iter()
        .map(|(subtask, parent)| format!("{parent} (parent of sub-task {subtask})"))
        .collect::<Vec<_>>()
        .join(", ");
    let message = format!(
        "cannot judge sub-tasks by their parents: the tracker did not return {which}; it does not exist or the \
         token cannot see it"
    );
    if result.outcome == Outcome::Fail {
        result.summary = format!("{}; {message}", result.summary);
    } else {
        result.outcome = Outcome::Error;
        result.summary = message;
    }
    result
}

/// "ABC-1", "ABC-1 (now XYZ-7)" for an issue moved since, or "ABC-1 (parent of sub-task ABC-2)", each with the
/// summary.
pub(crate) fn describe(issue: &Issue, via: Option<&IssueKey>) -> String {
    let key = match &issue.moved_to {
        Some(now) => format!("{} (now {now})", issue.key),
        None => issue.key.to_string(),
    };
    match via {
        Some(subtask) => format!("{key} {:?} (parent of sub-task {subtask})", issue.summary),
        None => format!("{key} {:?}", issue.summary),
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Facts and contexts for the tracker checks' tests.

    use std::collections::BTreeMap;

    use std::sync::Arc;

    use greenlight_core::{CheckContext, Contents, FieldValue, Issue, IssueKey, Tracker, TrackerFacts};

    use super::{RequiredField, Subtasks, TrackerKind, ValidTracker};

    /// A Jira Cloud `[tracker]` with "Ready to Deploy" as its one ready status.
    pub fn tracker(subtasks: Subtasks, required_fields: Vec<RequiredField>) -> Arc<ValidTracker> {
        Arc::new(ValidTracker {
            kind: TrackerKind::JiraCloud,
            url: "https://acme.atlassian.net".into(),
            user_env: None,
            token_env: None,
            repository: None,
            ready_statuses: vec!["Ready to Deploy".into()],
            projects: vec![],
            subtasks,
            required_fields,
        })
    }

    pub fn issue(key: &str, status: &str, issue_type: &str, parent: Option<&str>) -> Issue {
        Issue {
            key: IssueKey::new(key),
            summary: format!("summary of {key}"),
            status: status.to_owned(),
            issue_type: issue_type.to_owned(),
            subtask: parent.is_some(),
            parent: parent.map(IssueKey::new),
            moved_to: None,
            url: format!("https://acme.atlassian.net/browse/{key}"),
            fields: BTreeMap::new(),
        }
    }

    pub fn with_field(mut issue: Issue, id: &str, value: FieldValue) -> Issue {
        issue.fields.insert(id.to_owned(), value);
        issue
    }

    pub fn facts(asked: &[&str], issues: Vec<Issue>) -> TrackerFacts {
        TrackerFacts {
            asked: asked.iter().map(|k| IssueKey::new(*k)).collect(),
            issues: issues.into_iter().map(|i| (i.key.clone(), i)).collect(),
            ready: Vec::new(),
            ready_error: None,
            fields: Vec::new(),
        }
    }

    pub fn empty_contents() -> Contents {
        Contents::assemble("f".repeat(40), "t".repeat(40), vec![])
    }

    pub fn ctx<'a>(contents: &'a Contents, facts: &'a TrackerFacts) -> CheckContext<'a> {
        CheckContext { contents, tracker: Tracker::Facts(facts) }
    }
}
