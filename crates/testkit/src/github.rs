//! A fake GitHub REST API on 127.0.0.1 for the service's tests: it records every commit status posted to it, and
//! can be switched into an outage (503 to everything) or a hang (requests never answered).
//!
//! Tests wait for what they expect with [`FakeGitHub::wait_for`], which wakes on each recorded call; its deadline
//! only keeps a broken build from hanging, it is not a speed assertion.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::sync::watch;

/// How long [`FakeGitHub::wait_for`] waits before giving up.
const PATIENCE: Duration = Duration::from_secs(120);

/// One `POST /repos/{owner}/{repo}/statuses/{sha}` as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostedStatus {
    pub repo: String,
    pub sha: String,
    pub state: String,
    pub description: String,
    pub target_url: Option<String>,
    pub context: String,
    pub authorization: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Up = 0,
    /// 503 to every call.
    Down = 1,
    /// Accepts requests and never answers.
    Hang = 2,
    /// 422 to every call, as GitHub answers once a commit has 1,000 statuses in one context.
    Full = 3,
}

#[derive(Debug)]
struct Shared {
    mode: AtomicU8,
    /// Calls received, answered or not.
    calls: AtomicUsize,
    statuses: watch::Sender<Vec<PostedStatus>>,
}

#[derive(Clone, Debug)]
pub struct FakeGitHub {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeGitHub {
    /// Starts the fake on a free loopback port of the current tokio runtime.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            mode: AtomicU8::new(Mode::Up as u8),
            calls: AtomicUsize::new(0),
            statuses: watch::channel(Vec::new()).0,
        });
        let app = Router::new().route("/repos/{owner}/{repo}/statuses/{sha}", post(status)).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, shared }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Every call received so far, including refused and unanswered ones.
    pub fn calls(&self) -> usize {
        self.shared.calls.load(Ordering::SeqCst)
    }

    /// The statuses accepted so far (while up), in order.
    pub fn statuses(&self) -> Vec<PostedStatus> {
        self.shared.statuses.borrow().clone()
    }

    /// The statuses accepted for `sha`, in order.
    pub fn statuses_of(&self, sha: &str) -> Vec<PostedStatus> {
        self.statuses().into_iter().filter(|s| s.sha == sha).collect()
    }

    /// Waits until `done` holds for the accepted statuses; panics with them after a generous deadline.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[PostedStatus]) -> bool) -> Vec<PostedStatus> {
        let mut receiver = self.shared.statuses.subscribe();
        let waited = tokio::time::timeout(PATIENCE, receiver.wait_for(|statuses| done(statuses))).await;
        match waited {
            Ok(Ok(statuses)) => statuses.clone(),
            _ => panic!("gave up waiting for {what}; statuses so far: {:#?}", self.statuses()),
        }
    }

    /// Waits until `sha` has a final (not `pending`) status and returns its statuses.
    pub async fn final_status(&self, sha: &str) -> Vec<PostedStatus> {
        let what = format!("a final status on {sha}");
        let statuses = self.wait_for(&what, |all| all.iter().any(|s| s.sha == sha && s.state != "pending")).await;
        statuses.into_iter().filter(|s| s.sha == sha).collect()
    }
}

async fn status(
    State(shared): State<Arc<Shared>>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    shared.calls.fetch_add(1, Ordering::SeqCst);
    match shared.mode.load(Ordering::SeqCst) {
        1 => return (StatusCode::SERVICE_UNAVAILABLE, r#"{"message":"Service Unavailable"}"#).into_response(),
        2 => std::future::pending::<()>().await,
        3 => {
            let full = r#"{"message":"Validation Failed","errors":[{"resource":"Status","code":"custom","message":"This SHA and context has reached the maximum number of statuses."}]}"#;
            return (StatusCode::UNPROCESSABLE_ENTITY, full).into_response();
        }
        _ => {}
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, r#"{"message":"Problems parsing JSON"}"#).into_response();
    };
    let text = |field: &str| json.get(field).and_then(|v| v.as_str()).map(str::to_owned);
    let posted = PostedStatus {
        repo: format!("{owner}/{repo}"),
        sha: sha.clone(),
        state: text("state").unwrap_or_default(),
        description: text("description").unwrap_or_default(),
        target_url: text("target_url"),
        context: text("context").unwrap_or_default(),
        authorization: headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned),
    };
    let body = serde_json::json!({"state": posted.state, "context": posted.context}).to_string();
    shared.statuses.send_modify(|all| all.push(posted));
    (StatusCode::CREATED, [("content-type", "application/json")], body).into_response()
}

/// A file of `../shared/data` (beside the project), e.g. `github-webhooks/ping/payload.json`.
pub fn shared_data(path: &str) -> String {
    // The package directory at run time (cargo sets it for tests; every package is `crates/<name>`), not the one
    // compiled in: a build reused from a checkout at another path must still find this checkout's `../shared`.
    let package = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let root = std::path::Path::new(&package).join("../../../shared/data");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("cannot read shared data {path}: {e}"))
}

/// GitHub's real push payload, rewritten as a push of `repo`'s `branch` to `after`, cloned from `clone_url`.
pub fn push_payload(repo: &str, branch: &str, after: &str, clone_url: &str) -> Vec<u8> {
    let mut payload: serde_json::Value =
        serde_json::from_str(&shared_data("github-webhooks/push/payload.json")).expect("the payload is json");
    payload["ref"] = format!("refs/heads/{branch}").into();
    payload["after"] = after.into();
    payload["deleted"] = false.into();
    payload["repository"]["full_name"] = repo.into();
    payload["repository"]["clone_url"] = clone_url.into();
    serde_json::to_vec(&payload).expect("json serializes")
}
