//! Which of a deploy's keys a tracker owns: Jira keys for Jira, `#12` and `owner/repo#12` for GitHub, narrowed to
//! the configured projects, each once, in key order.
//!
//! Owns the ownership and project rules and the parsing of GitHub references. Does not own finding keys in commit
//! messages (`greenlight_core::KeyRules`) or asking the tracker.

use greenlight_core::IssueKey;
use greenlight_core::keys::is_project_key;

use crate::{Kind, Settings};

/// A GitHub issue or pull request: `owner/repo` as written, and its number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GithubRef {
    pub repo: String,
    pub number: u64,
}

impl GithubRef {
    /// The same issue, whatever the case of the owner and repository.
    pub(crate) fn identity(&self) -> (String, u64) {
        (self.repo.to_ascii_lowercase(), self.number)
    }
}

pub(crate) fn owned(settings: &Settings, keys: &[IssueKey]) -> Vec<IssueKey> {
    let mut owned: Vec<IssueKey> = keys
        .iter()
        .filter(|key| match settings.kind {
            Kind::JiraCloud | Kind::JiraDc => jira_project(key).is_some_and(|p| in_projects(settings, p)),
            Kind::Github => github_ref(settings, key).is_some_and(|r| in_projects(settings, &r.repo)),
        })
        .cloned()
        .collect();
    owned.sort();
    owned.dedup();
    owned
}

/// The project of a Jira key (`ABC` of `ABC-12`); `None` for anything else.
pub(crate) fn jira_project(key: &IssueKey) -> Option<&str> {
    let project = key.project()?;
    let number = key.as_str().rsplit_once('-')?.1;
    (is_project_key(project) && !number.starts_with('0')).then_some(project)
}

/// `#12` (in `repository`) or `owner/repo#12`; `None` for Jira keys, for `#12` without a repository, and for
/// anything that is not a reference.
pub(crate) fn github_ref(settings: &Settings, key: &IssueKey) -> Option<GithubRef> {
    let (repo, number) = key.as_str().rsplit_once('#')?;
    let number: u64 = number.parse().ok().filter(|n| *n > 0 && !number.starts_with('0'))?;
    let repo = if repo.is_empty() { settings.repository.as_deref()? } else { repo };
    let (owner, name) = repo.split_once('/')?;
    let valid = |part: &str| {
        !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    (valid(owner) && valid(name)).then(|| GithubRef { repo: repo.to_owned(), number })
}

fn in_projects(settings: &Settings, project: &str) -> bool {
    settings.projects.is_empty() || settings.projects.iter().any(|p| p.eq_ignore_ascii_case(project))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(settings: &Settings, keys: &[&str], expect: &[&str]) {
        let keys: Vec<IssueKey> = keys.iter().map(|k| IssueKey::new(*k)).collect();
        let got: Vec<String> = owned(settings, &keys).iter().map(|k| k.to_string()).collect();
        assert_eq!(got, expect, "{keys:?}");
    }

    #[test]
    fn jira_owns_jira_keys_of_its_projects() {
        let mut settings = Settings::new(Kind::JiraCloud, "https://acme.atlassian.net");
        check(
            &settings,
            &["AB-10", "#3", "AB-9", "acme/shop#4", "AB-9", "4711", "XY_1-2"],
            &["AB-9", "AB-10", "XY_1-2"],
        );
        settings.projects = vec!["ab".into()];
        check(&settings, &["AB-10", "XY-2", "ABC-1"], &["AB-10"]);
    }

    #[test]
    fn github_owns_references_it_can_place() {
        let mut settings = Settings::new(Kind::Github, "https://api.github.com");
        // Without a repository, `#3` names no issue this tracker can find.
        check(&settings, &["#3", "acme/shop#4", "AB-1"], &["acme/shop#4"]);
        settings.repository = Some("acme/shop".into());
        check(&settings, &["#3", "acme/shop#4", "#3", "other/x#1"], &["#3", "acme/shop#4", "other/x#1"]);
        settings.projects = vec!["ACME/Shop".into()];
        check(&settings, &["#3", "acme/shop#4", "other/x#1"], &["#3", "acme/shop#4"]);
    }

    #[test]
    fn github_refs_parse_strictly() {
        let settings =
            Settings { repository: Some("acme/shop".into()), ..Settings::new(Kind::Github, "https://api.github.com") };
        let parse = |key: &str| github_ref(&settings, &IssueKey::new(key)).map(|r| (r.repo, r.number));
        assert_eq!(parse("#12"), Some(("acme/shop".into(), 12)));
        assert_eq!(parse("o/r#7"), Some(("o/r".into(), 7)));
        assert_eq!(parse("#0"), None);
        assert_eq!(parse("#012"), None);
        assert_eq!(parse("norepo#1"), None);
        assert_eq!(parse("a/b/c#1"), None);
        assert_eq!(parse("AB-1"), None);
    }
}
