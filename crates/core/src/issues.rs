//! Issues as a tracker describes them, and what a run learned from the tracker.
//!
//! Owns: the tracker-neutral `Issue` (Jira Cloud, Jira Data Center and GitHub Issues all map onto it), field values,
//! and `TrackerFacts`, the facts the tracker checks read. Does not own: talking to a tracker (`greenlight-tracker`)
//! or judging issues (the checks).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::keys::IssueKey;

/// One issue, with the fields the checks asked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    pub key: IssueKey,
    pub summary: String,
    pub status: String,
    /// The issue type's name (`Story`, `Bug`, `Sub-task`; GitHub issues are `Issue`).
    #[serde(rename = "type")]
    pub issue_type: String,
    pub subtask: bool,
    pub parent: Option<IssueKey>,
    /// The key the tracker files the issue under now, when it was moved (to another project) since a commit named
    /// it by `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_to: Option<IssueKey>,
    /// Where people read the issue: an `http` or `https` URL, or empty when the tracker gave no such address.
    pub url: String,
    /// Requested fields by id (`customfield_10042`, `labels`), with their values. Not part of the JSON interface.
    #[serde(skip)]
    pub fields: BTreeMap<String, FieldValue>,
}

/// A field's value, whatever its kind in the tracker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FieldValue {
    /// Absent, null, an empty string, an empty list.
    Empty,
    /// Text, or the chosen option of a select field, or a user's display name.
    Text(String),
    Number(f64),
    /// A multi-select, labels, or several users.
    List(Vec<String>),
}

impl FieldValue {
    pub fn is_empty(&self) -> bool {
        match self {
            FieldValue::Empty => true,
            FieldValue::Text(text) => text.trim().is_empty(),
            FieldValue::Number(_) => false,
            FieldValue::List(items) => items.iter().all(|i| i.trim().is_empty()),
        }
    }

    /// The values to compare with an allow-list: one for text and numbers, each item for lists.
    pub fn values(&self) -> Vec<String> {
        match self {
            FieldValue::Empty => Vec::new(),
            FieldValue::Text(text) => vec![text.clone()],
            FieldValue::Number(n) => vec![n.to_string()],
            FieldValue::List(items) => items.clone(),
        }
    }
}

impl std::fmt::Display for FieldValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldValue::Empty => f.write_str("(empty)"),
            FieldValue::Text(text) => write!(f, "{text:?}"),
            FieldValue::Number(n) => write!(f, "{n}"),
            FieldValue::List(items) => write!(f, "{items:?}"),
        }
    }
}

/// A field the checks need, resolved to the tracker's id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldRef {
    /// As the config names it: a display name or an id.
    pub name: String,
    /// The tracker's id for it (`customfield_10042`).
    pub id: String,
}

/// What the tracker said during one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrackerFacts {
    /// The keys of the deploy that the tracker was asked about (keys of other projects are not asked).
    pub asked: Vec<IssueKey>,
    /// Every issue the deploy names that the tracker knows, and their parents.
    pub issues: BTreeMap<IssueKey, Issue>,
    /// Issues the tracker lists as ready to ship (its ready search), whether or not the deploy names them. Empty
    /// when the search was not run (`ready-issues` disabled) or failed.
    pub ready: Vec<Issue>,
    /// Why the ready search failed, when it did: only `ready-issues` needs it, so only that check reports `error`.
    pub ready_error: Option<String>,
    /// Configured fields, resolved to ids; a field the tracker does not know is absent here.
    pub fields: Vec<FieldRef>,
}

/// Whether the tracker checks have facts to judge.
#[derive(Clone, Copy, Debug, Default)]
pub enum Tracker<'a> {
    /// No `[tracker]` section: the tracker checks are skipped.
    #[default]
    NotConfigured,
    /// `--offline`: the tracker checks are skipped.
    Offline,
    /// The tracker could not be asked; the checks report `error` with this message.
    Unavailable(&'a str),
    Facts(&'a TrackerFacts),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emptiness_and_values() {
        assert!(FieldValue::Empty.is_empty());
        assert!(FieldValue::Text("  ".into()).is_empty());
        assert!(FieldValue::List(vec![]).is_empty());
        assert!(!FieldValue::Number(0.0).is_empty());
        assert_eq!(FieldValue::List(vec!["a".into(), "b".into()]).values(), ["a", "b"]);
        assert_eq!(FieldValue::Number(3.0).values(), ["3"]);
    }
}
