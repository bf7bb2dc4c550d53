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
    /// The commits reachable from `from` and not from `to` (git's `to..from`), newest first: what production runs
    /// that this deploy would take away. Empty when `to` contains `from`.
    #[serde(default)]
    pub rolled_back: Vec<Commit>,
}

/// What `Contents::assemble` derives from the commits: the issue index and the commits that name no key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IssueIndex {
    /// Issues sorted by key (project, then number), each with its commits newest first.
    pub issues: Vec<IssueCommits>,
    /// Every non-merge commit that names no key, newest first.
    pub commits_without_key: Vec<String>,
}

impl IssueIndex {
    /// Indexes commits (newest first, each with its keys) by issue.
    pub fn of(commits: &[Commit]) -> Self {
        let mut commits_without_key = Vec::new();
        let mut named: Vec<(&IssueKey, usize)> = Vec::with_capacity(commits.len());
        for (i, commit) in commits.iter().enumerate() {
            if commit.keys.is_empty() && !commit.merge {
                commits_without_key.push(commit.sha.clone());
            }
            named.extend(commit.keys.iter().map(|key| (key, i)));
        }
        // Every (key, commit) pair in the issues' order, and newest commit first within an issue: one sort that
        // compares numbers, and each issue is then a run of equal keys.
        let numbers = crate::keys::sort_numbers(named.iter().map(|&(key, _)| key));
        let mut pairs: Vec<(u128, &str, usize)> =
            numbers.into_iter().zip(&named).map(|(number, &(key, i))| (number, key.as_str(), i)).collect();
        pairs.sort_unstable();
        let issues = pairs
            .chunk_by(|a, b| a.1 == b.1)
            .map(|run| IssueCommits {
                key: IssueKey::new(run[0].1),
                commits: run.iter().map(|&(_, _, i)| commits[i].sha.clone()).collect(),
            })
            .collect();
        Self { issues, commits_without_key }
    }
}

impl Contents {
    /// Indexes commits (newest first, each with its keys) by issue.
    pub fn assemble(from: String, to: String, commits: Vec<Commit>) -> Self {
        let index = IssueIndex::of(&commits);
        Self::from_parts(from, to, commits, index)
    }

    /// The contents of `commits` (newest first) whose index was already built with `IssueIndex::of(&commits)`.
    pub fn from_parts(from: String, to: String, commits: Vec<Commit>, index: IssueIndex) -> Self {
        let IssueIndex { issues, commits_without_key } = index;
        Self { from, to, commits, issues, commits_without_key, rolled_back: Vec::new() }
    }

    /// The same contents, with the commits the deploy would roll back (newest first).
    pub fn rolling_back(self, rolled_back: Vec<Commit>) -> Self {
        Self { rolled_back, ..self }
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

    #[test]
    fn index_keeps_keys_apart_that_sort_alike() {
        // A custom pattern can find `AB-07` next to `AB-7`: one number in the sort, two issues.
        let with_keys = |sha: &str, keys: &[&str]| Commit {
            keys: keys.iter().map(|k| IssueKey::new(*k)).collect(),
            ..commit(sha, "", false)
        };
        let commits = vec![
            with_keys("c4", &["AB-7", "#3"]),
            with_keys("c3", &["AB-07"]),
            with_keys("c2", &["AB-7", "AB-07"]),
            with_keys("c1", &["B-1", "acme/x#3"]),
            with_keys("c0", &[]),
        ];
        let index = IssueIndex::of(&commits);
        let issues: Vec<(&str, Vec<&str>)> =
            index.issues.iter().map(|i| (i.key.as_str(), i.commits.iter().map(String::as_str).collect())).collect();
        assert_eq!(
            issues,
            vec![
                ("AB-07", vec!["c3", "c2"]),
                ("AB-7", vec!["c4", "c2"]),
                ("B-1", vec!["c1"]),
                ("#3", vec!["c4"]),
                ("acme/x#3", vec!["c1"]),
            ]
        );
        assert_eq!(index.commits_without_key, vec!["c0"]);
    }
}
