//! What a deploy contains: the commits in `from..to`, the issue keys they name, and the commits that name none.
//!
//! Owns: the `Commit` and `Contents` values and the JSON shape documented in `docs/contents-json.md`. Does not own:
//! reading git (that is `greenlight-git`, which hands over commits newest first) or judging the contents (checks).

use serde::{Deserialize, Serialize};

use crate::keys::IssueKey;

/// One commit as a deploy sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// Full hex object id.
    pub sha: String,
    pub author: String,
    pub email: String,
    /// Committer time in RFC 3339 with the committer's UTC offset.
    pub time: String,
    /// The first paragraph of the message, folded onto one line (git's `%s`).
    pub subject: String,
    /// The whole message. Kept for checks and not part of the JSON interface.
    #[serde(skip)]
    pub message: String,
    /// The keys the whole message names (`KeyRules::extract`), in order of appearance.
    pub keys: Vec<IssueKey>,
    pub merge: bool,
}

impl Commit {
    /// The abbreviated id people read.
    pub fn short_sha(&self) -> &str {
        self.sha.get(..10).unwrap_or(&self.sha)
    }
}

/// One issue and the commits (newest first) that name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueCommits {
    pub key: IssueKey,
    pub commits: Vec<String>,
}

/// The commits reachable from `to` and not from `from`, newest first, with their keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contents {
    pub from: String,
    pub to: String,
    pub commits: Vec<Commit>,
    /// Issues sorted by key (project, then number).
    pub issues: Vec<IssueCommits>,
    /// Every non-merge commit that names no key, newest first.
    pub commits_without_key: Vec<String>,
}

impl Contents {
    /// Indexes commits (newest first, each with its keys) by issue.
    pub fn assemble(from: String, to: String, commits: Vec<Commit>) -> Self {
        // Most commits name one key and most keys one commit: size for that once instead of growing.
        let mut issues: Vec<IssueCommits> = Vec::with_capacity(commits.len());
        let mut index: rustc_hash::FxHashMap<&IssueKey, usize> =
            rustc_hash::FxHashMap::with_capacity_and_hasher(commits.len(), Default::default());
        let mut commits_without_key = Vec::new();
        for commit in &commits {
            if commit.keys.is_empty() && !commit.merge {
                commits_without_key.push(commit.sha.clone());
            }
            for key in &commit.keys {
                let i = *index.entry(key).or_insert_with(|| {
                    issues.push(IssueCommits { key: key.clone(), commits: Vec::new() });
                    issues.len() - 1
                });
                issues[i].commits.push(commit.sha.clone());
            }
        }
        drop(index);
        crate::keys::sort_by_issue_key(&mut issues, |issue| &issue.key);
        Self { from, to, commits, issues, commits_without_key }
    }

    pub fn merge_count(&self) -> usize {
        self.commits.iter().filter(|c| c.merge).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::keys::KeyRules;

    pub(crate) fn commit(sha: &str, message: &str, merge: bool) -> Commit {
        Commit {
            sha: sha.to_owned(),
            author: "Ada".to_owned(),
            email: "ada@example.com".to_owned(),
            time: "2024-01-02T03:04:05+00:00".to_owned(),
            subject: message.lines().next().unwrap_or_default().to_owned(),
            message: message.to_owned(),
            keys: KeyRules::default().extract(message),
            merge,
        }
    }

    #[test]
    fn assemble_indexes_issues_and_commits_without_keys() {
        let commits = vec![
            commit("c3", "AB-10 and AB-9", false),
            commit("c2", "Merge branch 'x'", true),
            commit("c1", "no key here", false),
            commit("c0", "AB-9 first", false),
        ];
        let contents = Contents::assemble("f".into(), "t".into(), commits);
        let issues: Vec<(&str, Vec<&str>)> =
            contents.issues.iter().map(|i| (i.key.as_str(), i.commits.iter().map(String::as_str).collect())).collect();
        assert_eq!(issues, vec![("AB-9", vec!["c3", "c0"]), ("AB-10", vec!["c3"])]);
        assert_eq!(contents.commits_without_key, vec!["c1"]);
        assert_eq!(contents.merge_count(), 1);
        assert_eq!(contents.commits[0].keys, vec![IssueKey::new("AB-10"), IssueKey::new("AB-9")]);
    }
}
