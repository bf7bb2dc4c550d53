//! GitHub Issues over REST: one read per referenced issue (GitHub has no bulk read), the ready search by label
//! following `Link` pages, and the mapping of issues and pull requests onto `greenlight_core::Issue`.
//!
//! Owns the shapes of `GET /repos/{owner}/{repo}/issues/{n}` and `GET /repos/{owner}/{repo}/issues?labels=…`, the
//! fixed fields (`labels`, `assignee`, `assignees`, `milestone`), which key form an issue is filed under, and where a
//! transferred issue went (its old address redirects to the new one; the client follows it). Does not own the GitHub
//! headers and credentials (`api`) or statuses and webhooks (`greenlight-github`).

use std::collections::{BTreeMap, HashMap, HashSet};

use futures_util::{StreamExt, TryStreamExt, future, stream};
use greenlight_core::{FieldRef, FieldValue, Issue, IssueKey, TrackerFacts};
use greenlight_http::HttpError;
use greenlight_http::header::LINK;
use serde::Deserialize;
use serde_json::Value;

use crate::api::{Api, MAX_PAGES, shown};
use crate::select::{GithubRef, github_ref};
use crate::{GITHUB_CONCURRENCY, Settings, TrackerError};

/// The fields a GitHub issue has; configured names match them case-insensitively.
const FIXED_FIELDS: [&str; 4] = ["labels", "assignee", "assignees", "milestone"];

#[derive(Debug, Deserialize)]
struct GhIssue {
    number: u64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    html_url: String,
    /// The API URL of the repository the issue is in now (`https://api.github.com/repos/acme/shop`).
    #[serde(default)]
    repository_url: Option<String>,
    #[serde(default)]
    labels: Option<Vec<GhLabel>>,
    #[serde(default)]
    assignee: Option<GhUser>,
    #[serde(default)]
    assignees: Option<Vec<GhUser>>,
    #[serde(default)]
    milestone: Option<GhMilestone>,
    /// Present (an object) when the issue is a pull request.
    #[serde(default)]
    pull_request: Option<Value>,
}

/// Labels come as objects, or as plain names in older payloads.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum GhLabel {
    Name(String),
    Object {
        #[serde(default)]
        name: Option<String>,
    },
}

impl GhLabel {
    fn name(&self) -> Option<&str> {
        match self {
            GhLabel::Name(name) => Some(name),
            GhLabel::Object { name } => name.as_deref(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct GhUser {
    #[serde(default)]
    login: String,
}

#[derive(Debug, Deserialize)]
struct GhMilestone {
    #[serde(default)]
    title: String,
}

pub(crate) async fn gather(
    api: &Api<'_>,
    settings: &Settings,
    asked: Vec<IssueKey>,
) -> Result<TrackerFacts, TrackerError> {
    let fields = resolve_fields(&settings.fields);
    let refs: Vec<(IssueKey, GithubRef)> =
        asked.iter().filter_map(|key| github_ref(settings, key).map(|r| (key.clone(), r))).collect();
    // `#12` and `acme/shop#12` are one issue: read it once.
    let mut seen = HashSet::new();
    let unique: Vec<&GithubRef> = refs.iter().map(|(_, r)| r).filter(|r| seen.insert(r.identity())).collect();
    // The futures are made before the stream, so that its type holds no closure over borrowed data: a stream
    // that does is not provably `Send`, and the server runs this on a multi-threaded runtime.
    let reads: Vec<_> = unique.into_iter().map(|r| read(api, r)).collect();
    let reads = stream::iter(reads).buffer_unordered(GITHUB_CONCURRENCY).try_collect::<Vec<_>>();
    let (found, ready) = future::join(reads, ready_search(api, settings)).await;
    let found: HashMap<(String, u64), GhIssue> = found?.into_iter().flatten().collect();
    // A failed ready search concerns `ready-issues` only.
    let (ready, ready_error) = match ready {
        Ok(ready) => (ready, None),
        Err(error) => (Vec::new(), Some(error.to_string())),
    };

    let mut issues = BTreeMap::new();
    for (key, r) in &refs {
        if let Some(gh) = found.get(&r.identity()) {
            let mut issue = to_issue(gh, key.clone(), settings, &fields);
            issue.moved_to = moved_to(settings, r, gh);
            issues.insert(key.clone(), issue);
        }
    }
    // A ready issue is filed under the form the deploy names it by, so the checks can match it.
    let mut named: HashMap<(String, u64), &IssueKey> = HashMap::new();
    for (key, r) in &refs {
        named.entry(r.identity()).or_insert(key);
    }
    let mut ready: Vec<Issue> = ready
        .into_iter()
        .map(|(r, gh)| {
            let key = match named.get(&r.identity()) {
                Some(key) => (*key).clone(),
                None => short_key(settings, &r),
            };
            to_issue(&gh, key, settings, &fields)
        })
        .collect();
    ready.sort_by(|a, b| a.key.cmp(&b.key));
    ready.dedup_by(|a, b| a.key == b.key);
    Ok(TrackerFacts { asked, issues, ready, ready_error, fields })
}

fn resolve_fields(configured: &[String]) -> Vec<FieldRef> {
    configured
        .iter()
        .filter_map(|name| {
            let id = FIXED_FIELDS.iter().find(|id| id.eq_ignore_ascii_case(name.trim()))?;
            Some(FieldRef { name: name.clone(), id: (*id).to_owned() })
        })
        .collect()
}

/// `#12` for the configured repository, `owner/repo#12` for any other.
fn short_key(settings: &Settings, r: &GithubRef) -> IssueKey {
    match &settings.repository {
        Some(repository) if repository.eq_ignore_ascii_case(&r.repo) => IssueKey::new(format!("#{}", r.number)),
        _ => IssueKey::new(format!("{}#{}", r.repo, r.number)),
    }
}

/// Where a transferred issue is now, when the answer to `r` is an issue of another repository or number: GitHub
/// answers a transferred issue's old place with `301 Moved Permanently` to the new one, which the client follows.
fn moved_to(settings: &Settings, r: &GithubRef, gh: &GhIssue) -> Option<IssueKey> {
    let mut path = gh.repository_url.as_deref()?.trim_end_matches('/').rsplit('/');
    let (name, owner) = (path.next()?, path.next()?);
    let now = GithubRef { repo: format!("{owner}/{name}"), number: gh.number };
    (now.identity() != r.identity()).then(|| short_key(settings, &now))
}

/// One issue; `None` when GitHub does not have it (404), or no longer (410, e.g. issues turned off). Only GitHub's
/// own answer counts: a 404 or 410 whose body is not GitHub's JSON error comes from something that is not the API,
/// and is an error rather than a missing issue.
async fn read(api: &Api<'_>, r: &GithubRef) -> Result<Option<((String, u64), GhIssue)>, TrackerError> {
    let url = api.url(&format!("/repos/{}/issues/{}", r.repo, r.number))?;
    match api.get::<GhIssue>(url).await {
        Ok(issue) => Ok(Some((r.identity(), issue))),
        Err(TrackerError::Http(HttpError::Status { url, status, body })) if matches!(status.as_u16(), 404 | 410) => {
            if is_github_error(&body) {
                Ok(None)
            } else {
                Err(TrackerError::NotGithubApi { base: api.base().to_owned(), url, status: status.to_string() })
            }
        }
        Err(error) => Err(error),
    }
}

/// Whether an error body is GitHub's: a JSON object with a string `message` (`{"message": "Not Found",
/// "documentation_url": …}`). The body is the client's excerpt, which holds all of such a short answer.
fn is_github_error(body: &str) -> bool {
    serde_json::from_str::<Value>(body).is_ok_and(|value| value.get("message").is_some_and(Value::is_string))
}

/// Issues labelled ready in the configured repository and projects: one listing per label (GitHub's `labels=a,b`
/// means both), `ready_query` replacing the ready statuses.
async fn ready_search(api: &Api<'_>, settings: &Settings) -> Result<Vec<(GithubRef, GhIssue)>, TrackerError> {
    if !settings.ready_search {
        return Ok(Vec::new());
    }
    let labels: Vec<&str> = match settings.ready_query.as_deref().map(str::trim) {
        Some(query) if !query.is_empty() => vec![query],
        _ => settings.ready_statuses.iter().map(String::as_str).collect(),
    };
    let mut repos: Vec<&str> = Vec::new();
    for repo in settings.repository.iter().chain(&settings.projects) {
        if !repos.iter().any(|r| r.eq_ignore_ascii_case(repo)) {
            repos.push(repo);
        }
    }
    let searches: Vec<(&str, &str)> =
        repos.iter().flat_map(|repo| labels.iter().map(move |label| (*repo, *label))).collect();
    let searches: Vec<_> = searches.into_iter().map(|(repo, label)| list_labelled(api, repo, label)).collect();
    let lists: Vec<Vec<(GithubRef, GhIssue)>> =
        stream::iter(searches).buffer_unordered(GITHUB_CONCURRENCY).try_collect().await?;
    let mut seen = HashSet::new();
    Ok(lists.into_iter().flatten().filter(|(r, _)| seen.insert(r.identity())).collect())
}

async fn list_labelled(api: &Api<'_>, repo: &str, label: &str) -> Result<Vec<(GithubRef, GhIssue)>, TrackerError> {
    let mut url = api.url(&format!("/repos/{repo}/issues"))?;
    url.query_pairs_mut().append_pair("labels", label).append_pair("state", "all").append_pair("per_page", "100");
    let origin = url.origin();
    let mut found = Vec::new();
    for _ in 0..MAX_PAGES {
        let response = api.get_response(url.clone()).await?;
        let next = response
            .headers()
            .get_all(LINK)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(next_link)
            .map(str::to_owned);
        let page: Vec<GhIssue> = response.json().await?;
        found.extend(page.into_iter().map(|issue| {
            let r = GithubRef { repo: repo.to_owned(), number: issue.number };
            (r, issue)
        }));
        let Some(next) = next else {
            return Ok(found);
        };
        let next_url = url.join(&next).map_err(|e| TrackerError::Url { url: next.clone(), reason: e.to_string() })?;
        if next_url.origin() != origin {
            return Err(TrackerError::ForeignLink { url: shown(&url), next: shown(&next_url) });
        }
        url = next_url;
    }
    Err(TrackerError::TooManyPages { url: shown(&url), pages: MAX_PAGES })
}

/// The `rel="next"` target of a `Link` header: `<https://…?page=2>; rel="next", <https://…?page=5>; rel="last"`.
fn next_link(header: &str) -> Option<&str> {
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after.find('>')?;
        let target = &after[..close];
        let params = &after[close + 1..];
        let params = &params[..params.find('<').unwrap_or(params.len())];
        let is_next = params.split([';', ',']).any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value.trim().trim_matches('"').split_ascii_whitespace().any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target);
        }
        rest = &after[close + 1..];
    }
    None
}

fn to_issue(gh: &GhIssue, key: IssueKey, settings: &Settings, fields: &[FieldRef]) -> Issue {
    let labels: Vec<&str> = gh.labels.iter().flatten().filter_map(GhLabel::name).collect();
    let status = labels
        .iter()
        .find(|label| settings.ready_statuses.iter().any(|s| s.eq_ignore_ascii_case(label)))
        .map_or_else(|| gh.state.clone(), |label| (*label).to_owned());
    let list = |items: Vec<String>| {
        if items.is_empty() { FieldValue::Empty } else { FieldValue::List(items) }
    };
    let text = |text: Option<&str>| match text {
        Some(text) if !text.is_empty() => FieldValue::Text(text.to_owned()),
        _ => FieldValue::Empty,
    };
    let values = fields
        .iter()
        .map(|field| {
            let value = match field.id.as_str() {
                "labels" => list(labels.iter().map(|l| (*l).to_owned()).collect()),
                "assignee" => text(gh.assignee.as_ref().map(|u| u.login.as_str())),
                "assignees" => list(gh.assignees.iter().flatten().map(|u| u.login.clone()).collect()),
                "milestone" => text(gh.milestone.as_ref().map(|m| m.title.as_str())),
                _ => FieldValue::Empty,
            };
            (field.id.clone(), value)
        })
        .collect();
    Issue {
        key,
        summary: gh.title.clone(),
        status,
        issue_type: if gh.pull_request.is_some() { "Pull request" } else { "Issue" }.to_owned(),
        subtask: false,
        parent: None,
        moved_to: None,
        url: gh.html_url.clone(),
        fields: values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links() {
        let check = |header: &str, expect: Option<&str>| assert_eq!(next_link(header), expect, "{header}");
        check(
            r#"<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last""#,
            Some("https://api.github.com/repositories/1/issues?page=2"),
        );
        check(
            r#"<https://x/issues?page=1>; rel="prev", <https://x/issues?page=3>; rel="next""#,
            Some("https://x/issues?page=3"),
        );
        check(r#"<https://x/issues?page=1>; rel="first""#, None);
        check(r#"<https://x/a?labels=a,b&page=2>; rel="next""#, Some("https://x/a?labels=a,b&page=2"));
        check(r#"<https://x/a>; title="n"; rel="prev next""#, Some("https://x/a"));
        check("", None);
        check("<broken", None);
    }

    #[test]
    fn githubs_error_bodies() {
        let check = |body: &str, expect: bool| assert_eq!(is_github_error(body), expect, "{body}");
        check(r#"{"message":"Not Found","documentation_url":"https://docs.github.com/rest","status":"404"}"#, true);
        check(r#"{"message": "Issues are disabled for this repo", "documentation_url": "…"}"#, true);
        check("<!DOCTYPE html><html><title>Page not found</title></html>", false);
        check("", false);
        check(r#"{"error":"no route"}"#, false);
        check(r#"{"message":404}"#, false);
        check(r#"["message"]"#, false);
    }

    #[test]
    fn fixed_fields_only() {
        let configured = ["Labels", "milestone", "Story points", " assignees "].map(String::from);
        let got: Vec<(String, String)> = resolve_fields(&configured).into_iter().map(|f| (f.name, f.id)).collect();
        assert_eq!(
            got,
            [("Labels", "labels"), ("milestone", "milestone"), (" assignees ", "assignees")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }

    #[test]
    fn where_an_issue_moved() {
        let settings = Settings {
            repository: Some("acme/shop".into()),
            ..Settings::new(crate::Kind::Github, "https://api.github.com")
        };
        let check = |asked: (&str, u64), repository_url: Option<&str>, number: u64, expect: Option<&str>| {
            let gh: GhIssue = serde_json::from_value(serde_json::json!({
                "number": number,
                "repository_url": repository_url,
            }))
            .unwrap();
            let r = GithubRef { repo: asked.0.into(), number: asked.1 };
            assert_eq!(
                moved_to(&settings, &r, &gh).as_ref().map(IssueKey::as_str),
                expect,
                "{asked:?} {repository_url:?}"
            );
        };
        check(("acme/shop", 7), Some("https://api.github.com/repos/acme/shop"), 7, None);
        check(("Acme/Shop", 7), Some("https://api.github.com/repos/acme/shop"), 7, None);
        check(("acme/shop", 7), Some("https://api.github.com/repos/acme/web"), 12, Some("acme/web#12"));
        check(("acme/web", 3), Some("https://ghe.example/api/v3/repos/acme/shop"), 9, Some("#9"));
        check(("acme/shop", 7), Some("https://api.github.com/repos/acme/shop"), 8, Some("#8"));
        check(("acme/shop", 7), None, 12, None);
    }

    #[test]
    fn ready_issues_outside_the_deploy_get_the_short_key() {
        let settings = Settings {
            repository: Some("Acme/Shop".into()),
            ..Settings::new(crate::Kind::Github, "https://api.github.com")
        };
        let r = |repo: &str, number| GithubRef { repo: repo.into(), number };
        assert_eq!(short_key(&settings, &r("acme/shop", 3)).as_str(), "#3");
        assert_eq!(short_key(&settings, &r("acme/web", 3)).as_str(), "acme/web#3");
    }
}
