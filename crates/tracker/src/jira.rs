//! Jira Cloud (REST API 3) and Jira Data Center / Server (REST API 2): field names to ids, bulk reads of the
//! deploy's keys and of their sub-tasks' parents, the ready search, and the mapping of issues onto
//! `greenlight_core::Issue`.
//!
//! Owns the request and response shapes of `/field`, `/issue/bulkfetch`, `/search/jql` (token pages) and `/search`
//! (`startAt` pages, up to `total` or a short page), and the rule that no key is asked for twice in one run. Does not own JQL quoting
//! (`jql`), value mapping (`value`) or transport (`api`, `greenlight-http`).

use std::collections::{BTreeMap, HashMap, HashSet};

use futures_util::{StreamExt, TryStreamExt, future, stream};
use greenlight_core::{FieldRef, Issue, IssueKey, TrackerFacts};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::api::{Api, MAX_PAGES, shown};
use crate::{JIRA_CONCURRENCY, KEYS_PER_READ, Kind, Settings, TrackerError, jql, value};

/// Fields every read asks for: what `Issue` is made of.
const BASE_FIELDS: [&str; 4] = ["summary", "status", "issuetype", "parent"];

/// Whether a Data Center bulk read validates its query: with validation (the default) Jira answers 400 for the whole
/// query when one key does not exist; without it, the issues that exist come back. Data Center's `validateQuery` is a
/// boolean (the `"strict"` / `"warn"` strings are Jira Cloud's).
const BULK_VALIDATE: bool = false;

/// One entry of `GET /rest/api/{2,3}/field`.
#[derive(Debug, Deserialize)]
struct FieldDef {
    id: String,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
struct RawIssue {
    key: String,
    #[serde(default)]
    fields: Map<String, Value>,
}

/// `POST /rest/api/3/issue/bulkfetch`. Keys that do not exist (or that the token cannot see) are absent from
/// `issues`; `issueErrors` lists the issues Jira could not return (a retriable error or a payload constraint), each
/// as `{"id", "errorMessage"}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkFetch {
    #[serde(default)]
    issues: Vec<RawIssue>,
    #[serde(default)]
    issue_errors: Vec<Value>,
}

/// `issueErrors` as one error: the issues named (by id or key, as Jira gives them) and what Jira said.
fn issue_errors(url: &str, errors: &[Value]) -> TrackerError {
    let text = |value: &Value| match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let mut issues = Vec::new();
    let mut reasons = Vec::new();
    for error in errors {
        let named: Vec<String> = match error.get("id").and_then(text) {
            Some(id) => vec![id],
            None => error
                .get("issueIdsOrKeys")
                .and_then(Value::as_array)
                .map(|ids| ids.iter().filter_map(text).collect())
                .unwrap_or_default(),
        };
        issues.extend(named);
        let said = error
            .get("errorMessage")
            .and_then(text)
            .into_iter()
            .chain(error.get("errorMessages").and_then(Value::as_array).into_iter().flatten().filter_map(text));
        for reason in said {
            if !reasons.contains(&reason) {
                reasons.push(reason);
            }
        }
    }
    let issues = match issues.len() {
        0 => format!("{} issues", errors.len()),
        _ => issues.join(", "),
    };
    let reason = if reasons.is_empty() { "no reason given".to_owned() } else { reasons.join("; ") };
    TrackerError::IssueErrors { url: url.to_owned(), issues, reason }
}

/// `POST /rest/api/3/search/jql`: `nextPageToken` is absent on the last page.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenPage {
    #[serde(default)]
    issues: Vec<RawIssue>,
    next_page_token: Option<String>,
    is_last: Option<bool>,
}

/// `POST /rest/api/2/search`. `total` and `maxResults` (the most issues a page of this server holds, which can be
/// fewer than asked for) are read when present; an answer without them is paged on all the same.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OffsetPage {
    #[serde(default)]
    issues: Vec<RawIssue>,
    total: Option<u64>,
    max_results: Option<u64>,
}

struct Jira<'a> {
    api: &'a Api<'a>,
    cloud: bool,
    fields: Vec<FieldRef>,
    /// What every read and search asks for: the base fields and the resolved ids.
    wanted: Vec<String>,
}

pub(crate) async fn gather(
    api: &Api<'_>,
    settings: &Settings,
    asked: Vec<IssueKey>,
) -> Result<TrackerFacts, TrackerError> {
    let cloud = settings.kind == Kind::JiraCloud;
    let fields = resolve_fields(api, cloud, &settings.fields).await?;
    let mut wanted: Vec<String> = BASE_FIELDS.map(String::from).into();
    for field in &fields {
        if !wanted.contains(&field.id) {
            wanted.push(field.id.clone());
        }
    }
    let jira = Jira { api, cloud, fields, wanted };
    let ready_jql = match settings.ready_query.as_deref().map(str::trim) {
        _ if !settings.ready_search => None,
        Some(query) if !query.is_empty() => Some(query.to_owned()),
        _ => jql::ready(&settings.ready_statuses, &settings.projects),
    };
    let (issues, ready) = future::join(jira.read_with_parents(&asked), jira.ready(ready_jql.as_deref())).await;
    let (ready, ready_error) = match ready {
        Ok(ready) => (ready, None),
        Err(error) => (Vec::new(), Some(error.to_string())),
    };
    Ok(TrackerFacts { asked, issues: issues?, ready, ready_error, fields: jira.fields })
}

/// Resolves configured fields to ids with the tracker's field list, read once when any field is configured. A field
/// the tracker lacks, by display name or by id (a mistyped `customfield_NNNNN` included), is left out: the checks
/// report it.
async fn resolve_fields(api: &Api<'_>, cloud: bool, configured: &[String]) -> Result<Vec<FieldRef>, TrackerError> {
    if configured.is_empty() {
        return Ok(Vec::new());
    }
    let path = if cloud { "/rest/api/3/field" } else { "/rest/api/2/field" };
    let defs: Vec<FieldDef> = api.get(api.url(path)?).await?;
    Ok(match_fields(configured, &defs))
}

/// Each configured field by id, else by display name (case-insensitive, the first of equal names).
fn match_fields(configured: &[String], defs: &[FieldDef]) -> Vec<FieldRef> {
    configured
        .iter()
        .filter_map(|wanted| {
            let wanted_trimmed = wanted.trim();
            let def = defs
                .iter()
                .find(|d| d.id.eq_ignore_ascii_case(wanted_trimmed))
                .or_else(|| defs.iter().find(|d| d.name.trim().eq_ignore_ascii_case(wanted_trimmed)))?;
            Some(FieldRef { name: wanted.clone(), id: def.id.clone() })
        })
        .collect()
}

impl Jira<'_> {
    /// Reads `asked` in bulk, then the parents of sub-tasks that were not read yet, until none is missing. Every key
    /// is asked for in bulk at most once. Keys the tracker does not know are simply absent.
    ///
    /// An issue moved to another project answers a bulk read under its new key, or not at all when the deploy also
    /// names that key (the read answers each issue once), so a bulk read cannot tell a moved issue from a missing
    /// one. Each key a bulk read left unanswered is therefore read alone (`/issue/{key}` finds an issue by a key it
    /// had, and answers 404 for one that never existed: a missing key costs that one read), and the issue is filed
    /// under the key asked for, with `moved_to` its current key.
    async fn read_with_parents(&self, asked: &[IssueKey]) -> Result<BTreeMap<IssueKey, Issue>, TrackerError> {
        // Upper-cased key → the key as requested: Jira answers with its canonical (upper-case) key.
        let mut requested: HashMap<String, IssueKey> = HashMap::new();
        let mut issues = BTreeMap::new();
        let mut pending: Vec<IssueKey> = asked.to_vec();
        while !pending.is_empty() {
            for key in &pending {
                requested.insert(key.as_str().to_ascii_uppercase(), key.clone());
            }
            let keys: Vec<&str> = pending.iter().map(IssueKey::as_str).collect();
            // Futures first, then the stream: see the note in `github::gather`.
            let reads: Vec<_> = keys.chunks(KEYS_PER_READ).map(|chunk| self.read(chunk)).collect();
            let answers: Vec<Vec<RawIssue>> =
                stream::iter(reads).buffer_unordered(JIRA_CONCURRENCY).try_collect().await?;
            // An answer under a key nobody asked for is a moved issue; the key it was asked by is read alone below.
            let mut found: Vec<Issue> = answers
                .into_iter()
                .flatten()
                .filter_map(|raw| {
                    let key = requested.get(&raw.key.to_ascii_uppercase()).cloned()?;
                    Some(self.issue(raw, key))
                })
                .collect();
            let answered: HashSet<String> = found.iter().map(|i| i.key.as_str().to_ascii_uppercase()).collect();
            let singles: Vec<_> = pending
                .iter()
                .filter(|key| !answered.contains(&key.as_str().to_ascii_uppercase()))
                .map(|key| self.read_one(key))
                .collect();
            let singles: Vec<Option<Issue>> =
                stream::iter(singles).buffer_unordered(JIRA_CONCURRENCY).try_collect().await?;
            found.extend(singles.into_iter().flatten());
            let mut parents = Vec::new();
            for issue in found {
                if issue.subtask
                    && let Some(parent) = &issue.parent
                    && !requested.contains_key(&parent.as_str().to_ascii_uppercase())
                {
                    parents.push(parent.clone());
                }
                issues.insert(issue.key.clone(), issue);
            }
            parents.sort();
            parents.dedup();
            pending = parents;
        }
        Ok(issues)
    }

    /// One issue by a key it has or had; `None` when Jira has no such issue (or the token cannot see it).
    async fn read_one(&self, key: &IssueKey) -> Result<Option<Issue>, TrackerError> {
        let version = if self.cloud { 3 } else { 2 };
        let url = self.api.url(&format!("/rest/api/{version}/issue/{key}?fields={}", self.wanted.join(",")))?;
        match self.api.get::<RawIssue>(url).await {
            Ok(raw) => Ok(Some(self.issue(raw, key.clone()))),
            Err(TrackerError::Http(error)) if error.status().is_some_and(|s| s.as_u16() == 404) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// One bulk read of at most `KEYS_PER_READ` keys.
    async fn read(&self, keys: &[&str]) -> Result<Vec<RawIssue>, TrackerError> {
        if self.cloud {
            let body = json!({"issueIdsOrKeys": keys, "fields": self.wanted});
            let url = self.api.url("/rest/api/3/issue/bulkfetch")?;
            let answer: BulkFetch = self.api.post(url.clone(), &body).await?;
            if !answer.issue_errors.is_empty() {
                return Err(issue_errors(&shown(&url), &answer.issue_errors));
            }
            Ok(answer.issues)
        } else {
            self.search_offset(&jql::keys_in(keys), Some(BULK_VALIDATE)).await
        }
    }

    /// The ready search, in key order; empty when there is nothing to search for.
    async fn ready(&self, jql: Option<&str>) -> Result<Vec<Issue>, TrackerError> {
        let Some(jql) = jql else {
            return Ok(Vec::new());
        };
        let raw = if self.cloud { self.search_token(jql).await? } else { self.search_offset(jql, None).await? };
        let mut ready: Vec<Issue> = raw
            .into_iter()
            .map(|raw| {
                let key = IssueKey::new(raw.key.clone());
                self.issue(raw, key)
            })
            .collect();
        ready.sort_by(|a, b| a.key.cmp(&b.key));
        ready.dedup_by(|a, b| a.key == b.key);
        Ok(ready)
    }

    /// Jira Cloud's search: pages chained by `nextPageToken`.
    async fn search_token(&self, jql: &str) -> Result<Vec<RawIssue>, TrackerError> {
        let url = self.api.url("/rest/api/3/search/jql")?;
        let mut issues = Vec::new();
        let mut token: Option<String> = None;
        let mut tokens = HashSet::new();
        for _ in 0..MAX_PAGES {
            let mut body = json!({"jql": jql, "fields": self.wanted, "maxResults": KEYS_PER_READ});
            if let Some(token) = &token {
                body["nextPageToken"] = json!(token);
            }
            let page: TokenPage = self.api.post(url.clone(), &body).await?;
            issues.extend(page.issues);
            match page.next_page_token {
                Some(next) if page.is_last != Some(true) => {
                    // A token seen before would loop forever.
                    if !tokens.insert(next.clone()) {
                        break;
                    }
                    token = Some(next);
                }
                _ => return Ok(issues),
            }
        }
        Err(TrackerError::TooManyPages { url: shown(&url), pages: tokens.len() + 1 })
    }

    /// Jira Data Center's search: pages by `startAt` until `total` issues have been read, or, when the answer has no
    /// `total`, until a page comes back short (fewer issues than asked for and than the server's `maxResults`) or
    /// empty.
    async fn search_offset(&self, jql: &str, validate: Option<bool>) -> Result<Vec<RawIssue>, TrackerError> {
        let url = self.api.url("/rest/api/2/search")?;
        let mut issues = Vec::new();
        for _ in 0..MAX_PAGES {
            let mut body = json!({
                "jql": jql,
                "fields": self.wanted,
                "startAt": issues.len(),
                "maxResults": KEYS_PER_READ,
            });
            if let Some(validate) = validate {
                body["validateQuery"] = json!(validate);
            }
            let page: OffsetPage = self.api.post(url.clone(), &body).await?;
            let got = page.issues.len() as u64;
            issues.extend(page.issues);
            let full = page.max_results.map_or(KEYS_PER_READ as u64, |max| max.min(KEYS_PER_READ as u64));
            let done = match page.total {
                Some(total) => issues.len() as u64 >= total,
                None => got < full,
            };
            if got == 0 || done {
                return Ok(issues);
            }
        }
        Err(TrackerError::TooManyPages { url: shown(&url), pages: MAX_PAGES })
    }

    /// The issue `raw`, filed under `key`, the key it was asked by; a different key in the answer is where it moved.
    fn issue(&self, raw: RawIssue, key: IssueKey) -> Issue {
        let moved_to = (!raw.key.eq_ignore_ascii_case(key.as_str())).then(|| IssueKey::new(raw.key.clone()));
        let fields = &raw.fields;
        let name_of = |field: &str| {
            fields.get(field).and_then(|v| v.get("name")).and_then(Value::as_str).unwrap_or_default().to_owned()
        };
        Issue {
            summary: fields.get("summary").and_then(Value::as_str).unwrap_or_default().to_owned(),
            status: name_of("status"),
            issue_type: name_of("issuetype"),
            subtask: fields.get("issuetype").and_then(|t| t.get("subtask")).and_then(Value::as_bool).unwrap_or(false),
            parent: fields.get("parent").and_then(|p| p.get("key")).and_then(Value::as_str).map(IssueKey::new),
            url: format!("{}/browse/{}", self.api.base(), moved_to.as_ref().unwrap_or(&key)),
            moved_to,
            fields: self
                .fields
                .iter()
                .map(|field| (field.id.clone(), value::field_value(fields.get(&field.id))))
                .collect(),
            key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_match_by_id_then_name() {
        let defs = [
            ("summary", "Summary"),
            ("customfield_10042", "Post-deploy checks"),
            ("customfield_10050", "Rollback plan"),
            ("customfield_10051", "rollback plan"),
        ]
        .map(|(id, name)| FieldDef { id: id.into(), name: name.into() });
        let configured =
            ["post-deploy CHECKS", "customfield_10050", "Rollback Plan", "Nope", "summary"].map(String::from);
        let got: Vec<(String, String)> = match_fields(&configured, &defs).into_iter().map(|f| (f.name, f.id)).collect();
        let expect = [
            ("post-deploy CHECKS", "customfield_10042"),
            ("customfield_10050", "customfield_10050"),
            ("Rollback Plan", "customfield_10050"),
            ("summary", "summary"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()));
        assert_eq!(got, expect);
    }
}
