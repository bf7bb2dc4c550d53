//! Fake trackers on 127.0.0.1 for the tests and the benchmark: Jira Cloud (REST 3), Jira Data Center (REST 2) and
//! GitHub (REST), each speaking the documented request and response shapes, recording every request, and able to
//! answer the next matching requests with canned replies (errors, rate limits, hangs, broken JSON).
//!
//! Owns only what the tests need of those APIs: a JQL subset (`key in (…)`, `status in (…)`, `project in (…)`, or
//! an exact query registered with `answer_jql`), field filtering, paging as each API pages, and Data Center's strict
//! validation of keys. Owns nothing of the adapter; a test that passes here should pass against the real services.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use greenlight_core::IssueKey;
use greenlight_http::{Auth, Client, Policy, Sleeper};
use serde_json::{Map, Value, json};

/// Which API the fake speaks; requests for the others' paths answer 404.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    JiraCloud,
    JiraDc,
    Github,
}

/// A canned answer, used once by the first request whose path starts with its prefix.
pub use greenlight_testkit::scripted::Reply as Canned;

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    pub body: Value,
}

impl Seen {
    /// The keys of a bulk read: `issueIdsOrKeys` (Cloud) or the `key in (…)` of a search (Data Center).
    pub fn read_keys(&self) -> Vec<String> {
        if let Some(keys) = self.body.get("issueIdsOrKeys").and_then(Value::as_array) {
            return keys.iter().filter_map(Value::as_str).map(str::to_owned).collect();
        }
        self.body.get("jql").and_then(Value::as_str).and_then(keys_in).unwrap_or_default()
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        url_pairs(query).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

#[derive(Default)]
struct Data {
    /// Jira: canonical key → `{"id", "key", "fields"}`. GitHub: `owner/repo#n` lower-cased → the issue.
    issues: BTreeMap<String, Value>,
    fields: Vec<Value>,
    jql_answers: HashMap<String, Vec<String>>,
    /// Jira: an old key → the key of the issue it was moved to. GitHub: an old `owner/repo#n` (lower-cased) → the
    /// `owner/repo#n` it was transferred to.
    moved: HashMap<String, String>,
    /// GitHub: repositories by id (`/repositories/{id}/…`), lower-cased `owner/repo`, in the order they got one.
    repo_ids: Vec<String>,
    canned: VecDeque<(String, Canned)>,
    seen: Vec<Seen>,
    /// Data Center: search answers leave out `total`.
    omit_total: bool,
    /// Data Center: searches answer every `startAt` with the first page (a broken server or proxy).
    ignore_start_at: bool,
}

struct Shared {
    flavor: Flavor,
    addr: SocketAddr,
    data: Mutex<Data>,
    /// Most issues one page holds, whatever the client asks for.
    page_cap: Mutex<usize>,
    /// Every answer waits this long (the benchmark's network latency); zero in tests.
    delay: Duration,
}

/// A running fake. Dropping it leaves the server running until the test's runtime ends.
#[derive(Clone)]
pub struct Fake {
    shared: Arc<Shared>,
}

impl Fake {
    pub async fn start(flavor: Flavor) -> Self {
        Self::start_with_delay(flavor, Duration::ZERO).await
    }

    pub async fn start_with_delay(flavor: Flavor, delay: Duration) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared =
            Arc::new(Shared { flavor, addr, data: Mutex::new(Data::default()), page_cap: Mutex::new(100), delay });
        let app = axum::Router::new().fallback(handle).with_state(shared.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { shared }
    }

    /// The tracker URL to configure: the site (Jira) or the API base (GitHub).
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    pub fn set_page_cap(&self, cap: usize) {
        *self.shared.page_cap.lock().unwrap() = cap;
    }

    /// Data Center: search answers leave out `total` (the page's `startAt`, `maxResults` and issues stay).
    pub fn omit_total(&self) {
        self.data().omit_total = true;
    }

    /// Data Center: every search page is the first, whatever `startAt` asks for.
    pub fn ignore_start_at(&self) {
        self.data().ignore_start_at = true;
    }

    pub fn add_field(&self, id: &str, name: &str) {
        let custom = id.starts_with("customfield_");
        self.data().fields.push(json!({"id": id, "key": id, "name": name, "custom": custom, "navigable": true}));
    }

    pub fn add(&self, issue: Value) {
        let key = match self.shared.flavor {
            Flavor::Github => issue["_key"].as_str().unwrap().to_ascii_lowercase(),
            _ => issue["key"].as_str().unwrap().to_owned(),
        };
        self.data().issues.insert(key, issue);
    }

    /// Jira: the issue `to` (already added) was moved from `from`, so Jira finds it by either key and answers
    /// with `to`.
    pub fn move_issue(&self, from: &str, to: &str) {
        self.data().moved.insert(from.to_ascii_uppercase(), to.to_owned());
    }

    /// GitHub: the issue `to` (already added, `owner/repo#n`) was transferred from `from`; reading `from` answers
    /// `301 Moved Permanently` to the issue's new place under `/repositories/{id}/issues/{n}`, as GitHub does.
    pub fn transfer_issue(&self, from: &str, to: &str) {
        let mut data = self.data();
        let (repo, _) = to.split_once('#').unwrap();
        let repo = repo.to_ascii_lowercase();
        if !data.repo_ids.contains(&repo) {
            data.repo_ids.push(repo);
        }
        data.moved.insert(from.to_ascii_lowercase(), to.to_ascii_lowercase());
    }

    /// Answers this exact JQL with these keys (for a `ready_query`).
    pub fn answer_jql(&self, jql: &str, keys: &[&str]) {
        self.data().jql_answers.insert(jql.to_owned(), keys.iter().map(|k| (*k).to_owned()).collect());
    }

    /// The next request whose path starts with `prefix` gets `reply` instead of its answer.
    pub fn then_reply(&self, prefix: &str, reply: Canned) {
        self.data().canned.push_back((prefix.to_owned(), reply));
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.data().seen.clone()
    }

    pub fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.shared.data.lock().unwrap()
    }
}

/// A Jira issue for `Fake::add`: a Story unless told otherwise.
pub fn jira(key: &str, status: &str) -> JiraIssue {
    JiraIssue(json!({
        "id": format!("{}", 10_000 + key.len()),
        "key": key,
        "fields": {
            "summary": format!("summary of {key}"),
            "status": {"name": status, "id": "1", "statusCategory": {"key": "done"}},
            "issuetype": {"name": "Story", "subtask": false, "id": "10001"},
        }
    }))
}

pub struct JiraIssue(Value);

impl JiraIssue {
    pub fn subtask_of(mut self, parent: &str) -> Self {
        self.0["fields"]["issuetype"] = json!({"name": "Sub-task", "subtask": true, "id": "10003"});
        self.0["fields"]["parent"] = json!({"id": "1", "key": parent, "fields": {"summary": "the parent"}});
        self
    }

    pub fn field(mut self, id: &str, value: Value) -> Self {
        self.0["fields"][id] = value;
        self
    }

    pub fn build(self) -> Value {
        self.0
    }
}

/// A GitHub issue for `Fake::add`.
pub fn github(repo: &str, number: u64, state: &str) -> GithubIssue {
    GithubIssue(json!({
        "_key": format!("{repo}#{number}"),
        "id": 1_000_000 + number,
        "number": number,
        "title": format!("title of {repo}#{number}"),
        "state": state,
        "html_url": format!("https://github.com/{repo}/issues/{number}"),
        "repository_url": format!("https://api.github.com/repos/{repo}"),
        "labels": [],
        "assignee": null,
        "assignees": [],
        "milestone": null,
    }))
}

pub struct GithubIssue(Value);

impl GithubIssue {
    pub fn labels(mut self, labels: &[&str]) -> Self {
        self.0["labels"] = labels.iter().map(|l| json!({"id": 1, "name": l, "color": "ededed"})).collect();
        self
    }

    pub fn assignees(mut self, logins: &[&str]) -> Self {
        self.0["assignee"] = logins.first().map_or(Value::Null, |l| json!({"login": l, "id": 1}));
        self.0["assignees"] = logins.iter().map(|l| json!({"login": l, "id": 1})).collect();
        self
    }

    pub fn milestone(mut self, title: &str) -> Self {
        self.0["milestone"] = json!({"title": title, "number": 1, "state": "open"});
        self
    }

    /// Where GitHub says people read the issue; any string, as a hostile or broken server may send.
    pub fn html_url(mut self, url: &str) -> Self {
        self.0["html_url"] = url.into();
        self
    }

    pub fn pull_request(mut self) -> Self {
        let url = self.0["html_url"].as_str().unwrap().replace("/issues/", "/pull/");
        self.0["pull_request"] = json!({"url": "…", "html_url": url});
        self
    }

    pub fn build(self) -> Value {
        self.0
    }
}

/// Records every wait and returns at once, so retries cost no time.
#[derive(Debug, Default)]
pub struct RecordingSleeper {
    slept: Mutex<Vec<Duration>>,
}

impl RecordingSleeper {
    pub fn slept(&self) -> Vec<Duration> {
        self.slept.lock().unwrap().clone()
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.slept.lock().unwrap().push(duration);
        Box::pin(async {})
    }
}

/// A client as the binary builds it (credential named), that never really sleeps between attempts.
pub fn client(credential: &str) -> (Client, Arc<RecordingSleeper>) {
    client_with(credential, Policy::default())
}

pub fn client_with(credential: &str, policy: Policy) -> (Client, Arc<RecordingSleeper>) {
    let sleeper = Arc::new(RecordingSleeper::default());
    let client = Client::builder().policy(policy).sleeper(sleeper.clone()).credential_name(credential).build().unwrap();
    (client, sleeper)
}

pub fn basic() -> Auth {
    Auth::Basic { user: "ada@example.com".into(), token: "api-token".into() }
}

pub fn keys(keys: &[&str]) -> Vec<IssueKey> {
    keys.iter().map(|k| IssueKey::new(*k)).collect()
}

// ---- the server ----

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
            .collect(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    let canned = {
        let mut data = shared.data.lock().unwrap();
        data.seen.push(seen.clone());
        let at = data.canned.iter().position(|(prefix, _)| seen.path.starts_with(prefix.as_str()));
        at.and_then(|i| data.canned.remove(i)).map(|(_, c)| c)
    };
    if let Some(canned) = canned {
        if canned.hang {
            std::future::pending::<()>().await;
        }
        return reply(canned.status, &canned.headers, canned.body);
    }
    let answer = match shared.flavor {
        Flavor::JiraCloud | Flavor::JiraDc => jira_route(&shared, &seen),
        Flavor::Github => github_route(&shared, &seen),
    };
    answer.unwrap_or_else(|| json_reply(404, json!({"errorMessages": ["not found"], "message": "Not Found"})))
}

fn reply(status: u16, headers: &[(String, String)], body: String) -> Response {
    let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
    for (name, value) in headers {
        response
            .headers_mut()
            .append(axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    }
    response
}

fn json_reply(status: u16, body: Value) -> Response {
    reply(status, &[("content-type".into(), "application/json".into())], body.to_string())
}

fn jira_route(shared: &Shared, seen: &Seen) -> Option<Response> {
    let version = if shared.flavor == Flavor::JiraCloud { "3" } else { "2" };
    let data = shared.data.lock().unwrap();
    let cap = *shared.page_cap.lock().unwrap();
    let path = seen.path.as_str();
    if seen.method == "GET" && path == format!("/rest/api/{version}/field") {
        return Some(json_reply(200, Value::Array(data.fields.clone())));
    }
    if seen.method == "GET"
        && let Some(key) = path.strip_prefix(&format!("/rest/api/{version}/issue/"))
    {
        let wanted: Vec<String> =
            seen.query_param("fields").map(|f| f.split(',').map(str::to_owned).collect()).unwrap_or_default();
        let (found, _) = data.lookup(&[key.to_owned()]);
        return Some(match found.first() {
            Some(issue) => json_reply(200, project(&data, issue, &wanted)),
            None => json_reply(
                404,
                json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}),
            ),
        });
    }
    if seen.method != "POST" {
        return None;
    }
    let wanted: Vec<String> = seen.body["fields"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    match (shared.flavor, path) {
        (Flavor::JiraCloud, "/rest/api/3/issue/bulkfetch") => {
            let keys: Vec<String> = seen.read_keys();
            if keys.len() > 100 {
                return Some(json_reply(
                    400,
                    json!({"errorMessages": ["issueIdsOrKeys must not contain more than 100 items"]}),
                ));
            }
            // Keys that do not exist are simply absent; `issueErrors` is for issues Jira failed to read, which a
            // test scripts with `then_reply`.
            let (found, _missing) = data.lookup(&keys);
            let issues: Vec<Value> = found.iter().map(|i| project(&data, i, &wanted)).collect();
            Some(json_reply(200, json!({"expand": "schema,names", "issues": issues, "issueErrors": []})))
        }
        (Flavor::JiraCloud, "/rest/api/3/search/jql") => {
            let jql = seen.body["jql"].as_str().unwrap_or_default();
            let (keys, _) = data.eval(jql);
            let start: usize = match seen.body.get("nextPageToken").and_then(Value::as_str) {
                Some(token) => token.strip_prefix("page-at-")?.parse().ok()?,
                None => 0,
            };
            let size = seen.body["maxResults"].as_u64().unwrap_or(50).min(cap as u64) as usize;
            let page: Vec<Value> =
                keys.iter().skip(start).take(size).map(|k| project(&data, &data.issues[k], &wanted)).collect();
            let mut body = json!({"issues": page, "isLast": start + size >= keys.len()});
            if start + size < keys.len() {
                body["nextPageToken"] = json!(format!("page-at-{}", start + size));
            }
            Some(json_reply(200, body))
        }
        (Flavor::JiraDc, "/rest/api/2/search") => {
            let jql = seen.body["jql"].as_str().unwrap_or_default();
            let (keys, missing) = data.eval(jql);
            // Jira Data Center validates unless told otherwise: a missing key fails the whole query. Its
            // `validateQuery` is a boolean; anything else is a body it cannot read. `false` keeps the issues that
            // exist and lists the rest in `warningMessages`.
            let validation = match &seen.body["validateQuery"] {
                Value::Null | Value::Bool(true) => "strict",
                Value::Bool(false) => "warn",
                other => {
                    return Some(json_reply(
                        400,
                        json!({"errorMessages": [format!("validateQuery must be true or false, not {other}")], "errors": {}}),
                    ));
                }
            };
            let messages: Vec<String> =
                missing.iter().map(|k| format!("An issue with key '{k}' does not exist for field 'key'.")).collect();
            if validation == "strict" && !messages.is_empty() {
                return Some(json_reply(400, json!({"errorMessages": messages, "errors": {}})));
            }
            let start = seen.body["startAt"].as_u64().unwrap_or(0) as usize;
            let start = if data.ignore_start_at { 0 } else { start };
            let size = seen.body["maxResults"].as_u64().unwrap_or(50).min(cap as u64) as usize;
            let page: Vec<Value> =
                keys.iter().skip(start).take(size).map(|k| project(&data, &data.issues[k], &wanted)).collect();
            let mut body = json!({"expand": "schema,names", "startAt": start, "maxResults": size, "total": keys.len(), "issues": page});
            if data.omit_total {
                body.as_object_mut().unwrap().remove("total");
            }
            if validation == "warn" && !messages.is_empty() {
                body["warningMessages"] = json!(messages);
            }
            Some(json_reply(200, body))
        }
        _ => None,
    }
}

impl Data {
    /// Issues for keys, case-insensitively, and the keys that have none.
    fn lookup(&self, keys: &[String]) -> (Vec<&Value>, Vec<String>) {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for key in keys {
            let upper = key.to_ascii_uppercase();
            match self.issues.get(&upper).or_else(|| self.issues.get(self.moved.get(&upper)?)) {
                Some(issue) => found.push(issue),
                None => missing.push(key.clone()),
            }
        }
        (found, missing)
    }

    /// The keys a JQL selects, in key order, and (for `key in`) the named keys that do not exist.
    fn eval(&self, jql: &str) -> (Vec<String>, Vec<String>) {
        let mut keys: Vec<String> = if let Some(named) = keys_in(jql) {
            let (found, missing) = self.lookup(&named);
            let found = found.iter().map(|i| i["key"].as_str().unwrap().to_owned()).collect();
            return (sorted(found), missing);
        } else if let Some(keys) = self.jql_answers.get(jql) {
            keys.clone()
        } else {
            let statuses = clause(jql, "status in (").unwrap_or_default();
            let projects = clause(jql, "project in (");
            self.issues
                .values()
                .filter(|i| statuses.iter().any(|s| i["fields"]["status"]["name"] == s.as_str()))
                .filter(|i| {
                    let key = IssueKey::new(i["key"].as_str().unwrap());
                    projects.as_ref().is_none_or(|p| p.iter().any(|p| Some(p.as_str()) == key.project()))
                })
                .map(|i| i["key"].as_str().unwrap().to_owned())
                .collect()
        };
        keys = sorted(keys);
        (keys, Vec::new())
    }
}

fn sorted(keys: Vec<String>) -> Vec<String> {
    let mut keys: Vec<IssueKey> = keys.into_iter().map(IssueKey::new).collect();
    keys.sort();
    keys.into_iter().map(|k| k.to_string()).collect()
}

/// The issue with only the requested fields, as Jira answers: a requested field it knows but the issue lacks is
/// `null`; one it does not know is left out.
fn project(data: &Data, issue: &Value, wanted: &[String]) -> Value {
    let all = issue["fields"].as_object().cloned().unwrap_or_default();
    let mut fields = Map::new();
    for id in wanted {
        if let Some(value) = all.get(id) {
            fields.insert(id.clone(), value.clone());
        } else if data.fields.iter().any(|f| f["id"] == id.as_str()) {
            fields.insert(id.clone(), Value::Null);
        }
    }
    json!({"id": issue["id"], "key": issue["key"], "self": "…", "fields": fields})
}

/// The values of `key in (…)` at the start of a JQL.
fn keys_in(jql: &str) -> Option<Vec<String>> {
    jql.trim().strip_prefix("key in (")?;
    clause(jql, "key in (")
}

/// The quoted or bare values of `name in (…)`.
fn clause(jql: &str, opening: &str) -> Option<Vec<String>> {
    let start = jql.find(opening)? + opening.len();
    let mut values = Vec::new();
    let mut chars = jql[start..].chars();
    let mut current = String::new();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => current.extend(chars.next()),
            '"' => quoted = !quoted,
            ',' | ')' if !quoted => {
                let value = current.trim().to_owned();
                if !value.is_empty() {
                    values.push(value);
                }
                current.clear();
                if c == ')' {
                    return Some(values);
                }
            }
            c => current.push(c),
        }
    }
    None
}

fn github_issue(data: &Data, key: &str) -> Response {
    match data.issues.get(key) {
        Some(issue) => json_reply(200, public(issue)),
        None => json_reply(
            404,
            json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest/issues/issues#get-an-issue", "status": "404"}),
        ),
    }
}

fn github_route(shared: &Shared, seen: &Seen) -> Option<Response> {
    if seen.method != "GET" {
        return None;
    }
    if let Some(rest) = seen.path.strip_prefix("/repositories/") {
        let data = shared.data.lock().unwrap();
        let [id, "issues", number] = rest.split('/').collect::<Vec<_>>()[..] else {
            return None;
        };
        let repo = data.repo_ids.get(id.parse::<usize>().ok()?.checked_sub(1000)?)?;
        return Some(github_issue(&data, &format!("{repo}#{number}")));
    }
    let rest = seen.path.strip_prefix("/repos/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let data = shared.data.lock().unwrap();
    match parts.as_slice() {
        [owner, repo, "issues", number] => {
            let key = format!("{owner}/{repo}#{number}").to_ascii_lowercase();
            if let Some(to) = data.moved.get(&key) {
                let (repo, number) = to.split_once('#').unwrap();
                let id = 1000 + data.repo_ids.iter().position(|r| r == repo).unwrap();
                let location = format!("http://{}/repositories/{id}/issues/{number}", shared.addr);
                let body = json!({"message": "Moved Permanently", "url": location, "documentation_url": "https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api#follow-redirects"});
                return Some(reply(
                    301,
                    &[("content-type".into(), "application/json".into()), ("location".into(), location)],
                    body.to_string(),
                ));
            }
            Some(github_issue(&data, &key))
        }
        [owner, repo, "issues"] => {
            let repo = format!("{owner}/{repo}").to_ascii_lowercase();
            let labels: Vec<String> =
                seen.query_param("labels").map(|l| l.split(',').map(str::to_owned).collect()).unwrap_or_default();
            let state = seen.query_param("state").unwrap_or_else(|| "open".into());
            let cap = *shared.page_cap.lock().unwrap();
            let per_page: usize = seen.query_param("per_page").and_then(|p| p.parse().ok()).unwrap_or(30);
            let per_page = per_page.min(cap);
            let page: usize = seen.query_param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
            let matching: Vec<&Value> = data
                .issues
                .iter()
                .filter(|(key, _)| key.starts_with(&format!("{repo}#")))
                .map(|(_, issue)| issue)
                .filter(|issue| state == "all" || issue["state"] == state.as_str())
                .filter(|issue| {
                    labels.iter().all(|wanted| {
                        issue["labels"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|l| l["name"].as_str().is_some_and(|name| name.eq_ignore_ascii_case(wanted)))
                    })
                })
                .collect();
            let body: Vec<Value> =
                matching.iter().skip((page - 1) * per_page).take(per_page).map(|i| public(i)).collect();
            let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
            if page * per_page < matching.len() {
                let base = format!("http://{}{}", shared.addr, seen.path);
                let query = |page: usize| {
                    let mut pairs: Vec<(String, String)> = url_pairs(seen.query.as_deref().unwrap_or_default())
                        .into_iter()
                        .filter(|(k, _)| k != "page")
                        .collect();
                    pairs.push(("page".into(), page.to_string()));
                    pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&")
                };
                let last = matching.len().div_ceil(per_page);
                headers.push((
                    "link".to_owned(),
                    format!("<{base}?{}>; rel=\"next\", <{base}?{}>; rel=\"last\"", query(page + 1), query(last)),
                ));
            }
            Some(reply(200, &headers, Value::Array(body).to_string()))
        }
        _ => None,
    }
}

/// The issue as GitHub shows it (without the fake's bookkeeping).
fn public(issue: &Value) -> Value {
    let mut issue = issue.clone();
    issue.as_object_mut().unwrap().remove("_key");
    issue
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}
