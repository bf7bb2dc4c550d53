//! greenlight's issue tracker adapter: asks Jira Cloud, Jira Data Center / Server or GitHub Issues about the keys a
//! deploy names, in as few calls as the tracker allows, and hands back tracker-neutral [`TrackerFacts`].
//!
//! Owns: which keys a tracker is asked about, each tracker's REST shapes (field list, bulk reads, the ready search,
//! pagination) and the mapping of its answers onto [`greenlight_core::Issue`]. Does not own: transport behaviour
//! (timeouts, retries, budget, breaker and the wording of HTTP failures live in `greenlight-http`), credentials (the
//! binary reads them and passes an [`Auth`]), configuration files, or judging issues (the checks do).

mod api;
mod error;
mod github;
mod jira;
mod jql;
mod select;
mod value;

use greenlight_core::{IssueKey, TrackerFacts};
use greenlight_http::{Auth, Client};

pub use error::TrackerError;

/// Keys per bulk read: Jira Cloud's `bulkfetch` takes up to 100, and a Data Center `key in (…)` search is paged by
/// 100.
pub const KEYS_PER_READ: usize = 100;
/// Bulk reads in flight at once against Jira.
pub const JIRA_CONCURRENCY: usize = 4;
/// Issue reads in flight at once against GitHub, which has no bulk read over REST.
pub const GITHUB_CONCURRENCY: usize = 8;

/// Which tracker, and so which API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Jira Cloud: REST API 3 with `bulkfetch` and the token-paged `search/jql`.
    JiraCloud,
    /// Jira Data Center or Server: REST API 2, `search` paged with `startAt` up to `total` (without one, up to a short
    /// page).
    JiraDc,
    /// GitHub Issues over REST (github.com or a GitHub Enterprise API base).
    Github,
}

/// What the adapter needs to know about the tracker; the binary fills it from `[tracker]`.
#[derive(Clone, Debug)]
pub struct Settings {
    pub kind: Kind,
    /// Jira site (`https://acme.atlassian.net`) or GitHub API base (`https://api.github.com`); no trailing slash.
    pub url: String,
    /// GitHub: the `owner/repo` that `#123` refers to.
    pub repository: Option<String>,
    pub ready_statuses: Vec<String>,
    /// Jira project keys (or GitHub `owner/repo`) to consider; empty = all.
    pub projects: Vec<String>,
    /// Required fields, each a display name or an id (`customfield_10042`, `labels`).
    pub fields: Vec<String>,
    /// Jira: a JQL that replaces the default ready search; GitHub: the label that replaces the ready statuses.
    pub ready_query: Option<String>,
    /// Whether to run the ready search at all (`ready-issues` is enabled); `true` from [`Settings::new`].
    pub ready_search: bool,
}

impl Settings {
    /// Settings with nothing but the tracker: no repository, no ready statuses, no projects, no fields.
    pub fn new(kind: Kind, url: impl Into<String>) -> Self {
        Self {
            kind,
            url: url.into(),
            repository: None,
            ready_statuses: Vec::new(),
            projects: Vec::new(),
            fields: Vec::new(),
            ready_query: None,
            ready_search: true,
        }
    }
}

/// Asks the tracker about the deploy's `keys` (those it owns, see [`owned_keys`]), the parents of the sub-tasks among
/// them, the configured fields, and its ready search (unless `ready_search` is off). Keys the tracker does not know
/// are absent from `facts.issues`; that is a finding for the checks, not an error. An error means the tracker could
/// not be asked: its message names the URL and, for a refused credential, what to check. A failed ready search is
/// not such an error: it is kept in `facts.ready_error`, for the one check that needs the search.
pub async fn gather(
    settings: &Settings,
    client: &Client,
    auth: &Auth,
    keys: &[IssueKey],
) -> Result<TrackerFacts, TrackerError> {
    let api = api::Api::new(settings, client, auth)?;
    let asked = owned_keys(settings, keys);
    let mut facts = match settings.kind {
        Kind::JiraCloud | Kind::JiraDc => jira::gather(&api, settings, asked).await,
        Kind::Github => github::gather(&api, settings, asked).await,
    }?;
    for issue in facts.issues.values_mut().chain(&mut facts.ready) {
        issue.url = web_link(&issue.url);
    }
    Ok(facts)
}

/// An issue's address as the tracker gave it, if it is an `http` or `https` URL (as the url crate writes it), else
/// empty. Every rendering shows it as a link (the deploy page's `href`, Markdown), and a tracker's answer is not
/// trusted: a `javascript:` or `data:` URL would run in the reader's browser.
fn web_link(url: &str) -> String {
    match greenlight_http::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => parsed.into(),
        _ => String::new(),
    }
}

/// The keys this tracker is asked about, deduplicated and in key order: Jira keys (`ABC-12`) for Jira, `#12` (with a
/// `repository`) and `owner/repo#12` for GitHub; then only those of `projects`, when any are listed.
pub fn owned_keys(settings: &Settings, keys: &[IssueKey]) -> Vec<IssueKey> {
    select::owned(settings, keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_links_are_kept() {
        let check = |url: &str, expect: &str| assert_eq!(web_link(url), expect, "{url}");
        check("https://github.com/acme/shop/issues/1", "https://github.com/acme/shop/issues/1");
        check("http://jira.example.com:8080/browse/AB-1", "http://jira.example.com:8080/browse/AB-1");
        check("HTTPS://Acme.atlassian.net/browse/AB-1", "https://acme.atlassian.net/browse/AB-1");
        check("https://x.example/a b)", "https://x.example/a%20b)");
        check("javascript:alert(1)", "");
        check("JavaScript:alert(1)", "");
        check(" javascript:alert(1)", "");
        check("java\tscript:alert(1)", "");
        check("data:text/html,<script>alert(1)</script>", "");
        check("vbscript:msgbox(1)", "");
        check("file:///etc/passwd", "");
        check("/acme/shop/issues/1", "");
        check("//evil.example/x", "");
        check("", "");
    }
}
