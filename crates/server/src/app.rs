//! The HTTP side: routes, webhook verification and routing, the recheck API, health, metrics, and the deploy page.
//!
//! A webhook's signature is checked over the raw body before anything reads it. A push to a deploy branch is
//! answered only once it is committed to the inbox; everything else is answered at once and forgotten.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use greenlight_github::GitHub;
use greenlight_github::webhook::{
    self, Claimed, DELIVERY_HEADER, EVENT_HEADER, Event, MAX_BODY_BYTES, SIGNATURE_HEADER,
};
use greenlight_http::{Policy, Secret};
use greenlight_store::{Accepted, NewPush, Store};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::config::ServerConfig;
use crate::inbox::Inbox;
use crate::metrics::Metrics;
use crate::mirrors::Mirrors;
use crate::{Secrets, page};

/// Jira Cloud signs webhooks like GitHub, under the legacy header name.
const JIRA_SIGNATURE_HEADER: &str = "X-Hub-Signature";
/// Jira's id for one webhook delivery, kept across its retries.
const JIRA_DELIVERY_HEADER: &str = "X-Atlassian-Webhook-Identifier";

pub struct App {
    pub config: ServerConfig,
    secrets: Secrets,
    pub store: Store,
    pub github: GitHub,
    pub inbox: Inbox,
    pub metrics: Metrics,
    pub mirrors: Mirrors,
    /// The KiB of webhook bodies that may be held at once ([`read_body`]).
    bodies: Semaphore,
}

impl App {
    pub fn new(
        config: ServerConfig,
        secrets: Secrets,
        store: Store,
        github: GitHub,
        inbox: Inbox,
        metrics: Metrics,
    ) -> Self {
        let threshold = Policy::default().breaker_threshold;
        let mirrors = Mirrors::new(&config.data_dir, threshold, config.github.breaker_cooldown);
        Self { config, secrets, store, github, inbox, metrics, mirrors, bodies: Semaphore::new(BODY_BUDGET_KIB) }
    }

    pub fn deploy_url(&self, id: i64) -> String {
        format!("{}/deploys/{id}", self.config.public_url)
    }
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/webhooks/github", post(github_webhook))
        .route("/webhooks/jira", post(jira_webhook))
        .route("/api/deploys/{id}/recheck", post(recheck))
        .route("/api/deploys/{id}", get(deploy_json))
        .route("/", get(index_page))
        .route("/deploys/{id}", get(deploy_page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(app)
}

/// An answer with a small JSON body: `{"status": ..., "message": ...}`.
fn answer(code: StatusCode, status: &str, message: impl Into<String>) -> Response {
    (code, axum::Json(json!({"status": status, "message": message.into()}))).into_response()
}

/// How many KiB of webhook bodies may be held at once (ten of the largest GitHub sends, thousands of usual ones).
const BODY_BUDGET_KIB: usize = 256 * 1024;

/// Reads a webhook's body, at most [`MAX_BODY_BYTES`] of it, within `read_timeout` of its headers: `413` over the
/// limit, `408` for a client that stops sending (a `Content-Length` it never fills keeps no handler waiting).
///
/// The body's size (its `Content-Length`, else the limit) is first taken from a budget shared by every webhook
/// ([`BODY_BUDGET_KIB`]), and given back when the returned permit is dropped: when slow or huge bodies hold it all,
/// a delivery gets `503` at once instead of the server's memory growing with every connection.
async fn read_body<'a>(
    app: &'a App,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Bytes, SemaphorePermit<'a>), (&'static str, Response)> {
    use http_body_util::BodyExt as _;
    let declared = header_str(headers, header::CONTENT_LENGTH.as_str()).and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        let message = format!("the body is larger than {MAX_BODY_BYTES} bytes");
        return Err(("unreadable", answer(StatusCode::PAYLOAD_TOO_LARGE, "rejected", message)));
    }
    let kib = declared.unwrap_or(MAX_BODY_BYTES).div_ceil(1024).max(1);
    let Ok(permit) = app.bodies.try_acquire_many(u32::try_from(kib).unwrap_or(u32::MAX)) else {
        tracing::warn!(bytes = kib * 1024, "webhook refused: the bodies being read fill the budget");
        let message = "too many large deliveries are being read; retry it";
        return Err(("busy", answer(StatusCode::SERVICE_UNAVAILABLE, "busy", message)));
    };
    let limited = http_body_util::Limited::new(body, MAX_BODY_BYTES);
    let (code, message) = match tokio::time::timeout(app.config.read_timeout, limited.collect()).await {
        Ok(Ok(collected)) => return Ok((collected.to_bytes(), permit)),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            (StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than {MAX_BODY_BYTES} bytes"))
        }
        Ok(Err(error)) => (StatusCode::BAD_REQUEST, format!("cannot read the body: {error}")),
        Err(_) => {
            let within = app.config.read_timeout;
            (StatusCode::REQUEST_TIMEOUT, format!("the body did not arrive within {within:?}"))
        }
    };
    Err(("unreadable", answer(code, "rejected", message)))
}

/// Why a webhook's body was not taken: its signature, or the body itself ([`read_body`]'s answer).
enum Unsigned {
    Refused(webhook::SignatureError),
    Unreadable((&'static str, Response)),
}

/// A webhook's body once its signature, under the header `signature`, verifies with `secret`. The header is read
/// first: without a well-formed one the body is never read, so an unsigned client holds no memory.
async fn signed_body<'a>(
    app: &'a App,
    headers: &HeaderMap,
    signature: &str,
    secret: &[u8],
    body: Body,
) -> Result<(Bytes, SemaphorePermit<'a>), Unsigned> {
    let claimed = Claimed::read(header_str(headers, signature)).map_err(Unsigned::Refused)?;
    let (body, budget) = read_body(app, headers, body).await.map_err(Unsigned::Unreadable)?;
    claimed.verify(secret, &body).map_err(Unsigned::Refused)?;
    Ok((body, budget))
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn github_webhook(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    // A task of its own, so that it runs to the end even when the client goes away while its push is being
    // committed: the push is accepted all the same, and its outcome is counted and logged.
    let delivery = tokio::spawn(async move {
        let event = header_str(&headers, EVENT_HEADER).unwrap_or_default().to_owned();
        let (outcome, response) = github_delivery(&app, &headers, &event, body).await;
        app.metrics.delivery(event_label(&event), outcome);
        response
    });
    delivery.await.unwrap_or_else(|error| {
        tracing::error!(%error, "the webhook handler failed");
        answer(StatusCode::INTERNAL_SERVER_ERROR, "error", "the delivery could not be handled; retry it")
    })
}

/// The `event` label of a delivery in the metrics: the events greenlight acts on by name, `other` for the rest and
/// `none` without the header. The signature does not cover the header, so its text never becomes a label: it could
/// break the exposition's syntax, or add a series per request.
fn event_label(event: &str) -> &'static str {
    // Trimmed as the payload's parser reads it, so that a push counts as `push` however the header is spaced.
    match event.trim() {
        "push" => "push",
        "ping" => "ping",
        "" => "none",
        _ => "other",
    }
}

async fn github_delivery(app: &App, headers: &HeaderMap, event: &str, body: Body) -> (&'static str, Response) {
    let refused = |error: webhook::SignatureError| {
        // The delivery id as the request says it (not signed), to find the delivery in GitHub's list.
        let delivery = header_str(headers, DELIVERY_HEADER).unwrap_or_default();
        tracing::warn!(%error, delivery, "webhook refused");
        ("unauthorized", answer(StatusCode::UNAUTHORIZED, "unauthorized", error.to_string()))
    };
    let secret = app.secrets.webhook.expose().as_bytes();
    let (body, _budget) = match signed_body(app, headers, SIGNATURE_HEADER, secret, body).await {
        Ok(read) => read,
        Err(Unsigned::Refused(error)) => return refused(error),
        Err(Unsigned::Unreadable(unreadable)) => return unreadable,
    };
    let Some(delivery) = header_str(headers, DELIVERY_HEADER).filter(|d| !d.is_empty()) else {
        return (
            "malformed",
            answer(StatusCode::BAD_REQUEST, "malformed", format!("missing {DELIVERY_HEADER} header")),
        );
    };
    // The header is not signed, and greenlight's own delivery ids (`jira:…`, `reconcile:…`) have a colon: a GitHub
    // id with one could pass for them, and make a Jira delivery a duplicate or a push skip de-duplication.
    if delivery.contains(':') {
        let message = format!("{DELIVERY_HEADER} {delivery:?} has a ':', which GitHub's ids never have");
        return ("malformed", answer(StatusCode::BAD_REQUEST, "malformed", message));
    }
    let span = tracing::info_span!("delivery", delivery = %delivery, event = %event);
    let _entered = span.enter();
    let json = match json_of(headers, &body) {
        Ok(json) => json,
        Err(message) => {
            tracing::warn!(error = %message, "malformed delivery");
            return ("malformed", answer(StatusCode::BAD_REQUEST, "malformed", message));
        }
    };
    let push = match webhook::parse(event, &json) {
        Ok(Event::Push(push)) => push,
        Ok(Event::Ping(_)) => return ("pong", answer(StatusCode::OK, "pong", "greenlight is listening")),
        Ok(Event::Other(name)) => {
            return ("ignored", answer(StatusCode::OK, "ignored", format!("{name} events are not used")));
        }
        Err(error) => {
            tracing::warn!(%error, "malformed delivery");
            return ("malformed", answer(StatusCode::BAD_REQUEST, "malformed", error.to_string()));
        }
    };
    let Some(repo) = app.config.repository(&push.repository) else {
        return (
            "ignored",
            answer(StatusCode::OK, "ignored", format!("repository {} is not configured", push.repository)),
        );
    };
    let Some(branch) = push.branch().filter(|b| repo.is_deploy_branch(b)) else {
        return ("ignored", answer(StatusCode::OK, "ignored", format!("{} is not a deploy branch", push.git_ref)));
    };
    if push.deleted {
        return ("ignored", answer(StatusCode::OK, "ignored", format!("branch {branch} was deleted")));
    }
    let new = NewPush {
        delivery: delivery.to_owned(),
        // As the config spells it, as reconciling and the worker do.
        repo: repo.name.clone(),
        branch: branch.to_owned(),
        sha: push.after.clone(),
        clone_url: repo.clone_url.clone().unwrap_or_else(|| push.clone_url.clone()),
        read_at: None,
        before: (push.before != greenlight_github::webhook::NULL_SHA).then(|| push.before.clone()),
    };
    drop(_entered);
    match app.inbox.accept(new).await {
        Ok(Accepted::Queued { deploy, superseded, .. }) => {
            acknowledge(app, &span, deploy, &superseded, &repo.name, branch, &push.after)
        }
        Ok(Accepted::Known { deploy }) => acknowledge(app, &span, deploy, &[], &repo.name, branch, &push.after),
        // `Stale` answers a reconciled head only; a webhook's push has no `read_at`.
        Ok(Accepted::Duplicate | Accepted::Stale) => {
            ("duplicate", answer(StatusCode::OK, "duplicate", format!("delivery {delivery} was accepted before")))
        }
        Err(error) => {
            tracing::error!(parent: &span, %error, "push not accepted");
            ("error", answer(StatusCode::SERVICE_UNAVAILABLE, "error", "the delivery could not be stored; retry it"))
        }
    }
}

/// Answers an accepted push, and logs it, and the deploys whose queued work it superseded, on the delivery's span.
fn acknowledge(
    app: &App,
    span: &tracing::Span,
    deploy: i64,
    superseded: &[greenlight_store::Superseded],
    repo: &str,
    branch: &str,
    sha: &str,
) -> (&'static str, Response) {
    tracing::info!(parent: span, deploy, repo, branch, sha, "push accepted");
    if !superseded.is_empty() {
        let superseded = superseded_deploys(superseded);
        tracing::info!(parent: span, deploy, ?superseded, "superseded the queued work of older pushes");
    }
    let body = Acknowledged { status: "accepted", deploy, url: app.deploy_url(deploy) };
    ("accepted", (StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// The deploys whose queued jobs a push superseded, each once, in order.
pub fn superseded_deploys(superseded: &[greenlight_store::Superseded]) -> Vec<i64> {
    let mut deploys: Vec<i64> = superseded.iter().map(|s| s.deploy).collect();
    deploys.sort_unstable();
    deploys.dedup();
    deploys
}

/// The JSON of a delivery whose signature was verified. GitHub sends it as the body (`application/json`) or, with
/// the content type its webhook form offers first, as the url-encoded `payload` field of a form; any other content
/// type is read as JSON.
fn json_of<'b>(headers: &HeaderMap, body: &'b Bytes) -> Result<std::borrow::Cow<'b, [u8]>, String> {
    let media_type = header_str(headers, header::CONTENT_TYPE.as_str()).and_then(|v| v.split(';').next());
    if !media_type.is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")) {
        return Ok(std::borrow::Cow::Borrowed(body));
    }
    let payload = form_urlencoded::parse(body).find_map(|(name, value)| (name == "payload").then_some(value));
    match payload {
        Some(json) => Ok(std::borrow::Cow::Owned(json.into_owned().into_bytes())),
        None => Err("a form-encoded delivery without a payload field".to_owned()),
    }
}

/// The answer to an accepted push.
#[derive(serde::Serialize)]
struct Acknowledged {
    status: &'static str,
    deploy: i64,
    url: String,
}

#[derive(Deserialize)]
struct JiraEvent {
    #[serde(rename = "webhookEvent")]
    event: Option<String>,
    issue: Option<JiraIssue>,
}

#[derive(Deserialize)]
struct JiraIssue {
    key: String,
}

async fn jira_webhook(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let (outcome, response) = jira_delivery(&app, &headers, body).await;
    app.metrics.delivery("jira", outcome);
    response
}

async fn jira_delivery(app: &App, headers: &HeaderMap, body: Body) -> (&'static str, Response) {
    let Some(secret) = &app.secrets.jira else {
        return ("ignored", answer(StatusCode::NOT_FOUND, "disabled", "no [jira] webhook secret is configured"));
    };
    let unauthorized = |error: webhook::SignatureError| {
        // Jira sends the signature under the legacy header name.
        let message = error.to_string().replace(SIGNATURE_HEADER, JIRA_SIGNATURE_HEADER);
        ("unauthorized", answer(StatusCode::UNAUTHORIZED, "unauthorized", message))
    };
    let (body, _budget) = match signed_body(app, headers, JIRA_SIGNATURE_HEADER, secret.expose().as_bytes(), body).await
    {
        Ok(read) => read,
        Err(Unsigned::Refused(error)) => return unauthorized(error),
        Err(Unsigned::Unreadable(unreadable)) => return unreadable,
    };
    let event: JiraEvent = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(error) => {
            return (
                "malformed",
                answer(StatusCode::BAD_REQUEST, "malformed", format!("malformed jira payload: {error}")),
            );
        }
    };
    let Some(issue) = event.issue else {
        let name = event.event.unwrap_or_default();
        return ("ignored", answer(StatusCode::OK, "ignored", format!("{name} names no issue")));
    };
    // Jira keeps the identifier across retries of one delivery; without it, each delivery stands alone.
    let delivery = match header_str(headers, JIRA_DELIVERY_HEADER) {
        Some(id) if !id.is_empty() => format!("jira:{id}"),
        _ => format!("jira:{}:{}", issue.key, crate::worker::now_ms()),
    };
    match app.store.recheck_issue(&issue.key, &delivery, crate::worker::now_ms()).await {
        Ok(Some(deploys)) => {
            app.inbox.committed.notify_waiters();
            tracing::info!(delivery = %delivery, key = %issue.key, ?deploys, "issue changed: rechecking");
            let body = json!({"status": "accepted", "key": issue.key, "deploys": deploys});
            ("accepted", (StatusCode::ACCEPTED, axum::Json(body)).into_response())
        }
        Ok(None) => {
            ("duplicate", answer(StatusCode::OK, "duplicate", format!("delivery {delivery} was accepted before")))
        }
        Err(error) => {
            tracing::error!(%error, "jira delivery not stored");
            ("error", answer(StatusCode::SERVICE_UNAVAILABLE, "error", "the delivery could not be stored; retry it"))
        }
    }
}

/// A deploy's id from a path. Ids are numbers; any other text names no deploy, and is answered as a missing one
/// (404), not with the router's parse error (400).
fn deploy_id(text: &str) -> Option<i64> {
    text.parse().ok()
}

/// The API's answer for an id that names no deploy.
fn no_such_deploy() -> Response {
    answer(StatusCode::NOT_FOUND, "not_found", "no such deploy")
}

async fn recheck(State(app): State<Arc<App>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let Some(token) = &app.secrets.api_token else {
        return answer(StatusCode::NOT_FOUND, "disabled", "the API is off: set api_token_env in the server config");
    };
    // The scheme's name is not case-sensitive (RFC 9110, 11.1).
    let given = header_str(&headers, header::AUTHORIZATION.as_str())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim_start());
    if !given.is_some_and(|given| same_secret(given, token)) {
        return answer(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required");
    }
    let Some(id) = deploy_id(&id) else { return no_such_deploy() };
    match app.store.recheck(id, "recheck", None, crate::worker::now_ms()).await {
        Ok(Some(Accepted::Queued { job, .. })) => {
            app.inbox.committed.notify_waiters();
            let body = json!({"status": "accepted", "deploy": id, "job": job, "url": app.deploy_url(id)});
            (StatusCode::ACCEPTED, axum::Json(body)).into_response()
        }
        Ok(Some(Accepted::Duplicate | Accepted::Known { .. } | Accepted::Stale)) => {
            answer(StatusCode::OK, "duplicate", "already queued")
        }
        Ok(None) => no_such_deploy(),
        Err(error) => store_failed(error),
    }
}

fn same_secret(given: &str, expected: &Secret) -> bool {
    use subtle::ConstantTimeEq as _;
    given.as_bytes().ct_eq(expected.expose().as_bytes()).into()
}

fn store_failed(error: greenlight_store::StoreError) -> Response {
    tracing::error!(%error, "store query failed");
    answer(StatusCode::SERVICE_UNAVAILABLE, "error", "the store is unavailable")
}

async fn deploy_json(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let Some(id) = deploy_id(&id) else { return no_such_deploy() };
    match app.store.deploy(id).await {
        Ok(Some(record)) => axum::Json(page::summary(&record)).into_response(),
        Ok(None) => no_such_deploy(),
        Err(error) => store_failed(error),
    }
}

/// What a browser may do with a page: load nothing, run nothing, and apply only the page's own `<style>` (the
/// favicon is an empty `data:` image, so that the browser asks for none); nor frame the page, or take it for another
/// type than the one it is sent as.
const PAGE_HEADERS: [(header::HeaderName, &str); 2] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
];

async fn index_page(State(app): State<Arc<App>>) -> Response {
    match app.store.heads().await {
        Ok(heads) => match page::index(&heads, &app.config.status_context) {
            Ok(html) => (PAGE_HEADERS, Html(html)).into_response(),
            Err(error) => {
                tracing::error!(%error, "cannot render the index page");
                (StatusCode::INTERNAL_SERVER_ERROR, PAGE_HEADERS, "cannot render the deploy branches").into_response()
            }
        },
        Err(error) => store_failed(error),
    }
}

async fn deploy_page(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    // The text of the path is not shown back: the page says only that there is no such deploy.
    let no_such_page = || {
        (StatusCode::NOT_FOUND, PAGE_HEADERS, Html("<!doctype html><title>greenlight</title><p>No such deploy.</p>"))
            .into_response()
    };
    let Some(id) = deploy_id(&id) else { return no_such_page() };
    match app.store.deploy(id).await {
        Ok(Some(record)) => {
            // Parsing a large deploy's report and contents takes a while: off the threads that answer webhooks.
            let context = app.config.status_context.clone();
            let rendered = tokio::task::spawn_blocking(move || page::render(&record, &context)).await;
            match rendered.map_err(|e| e.to_string()).and_then(|page| page.map_err(|e| e.to_string())) {
                Ok(html) => (PAGE_HEADERS, Html(html)).into_response(),
                Err(error) => {
                    tracing::error!(%error, deploy = id, "cannot render the deploy page");
                    (StatusCode::INTERNAL_SERVER_ERROR, PAGE_HEADERS, "cannot render this deploy").into_response()
                }
            }
        }
        Ok(None) => no_such_page(),
        Err(error) => store_failed(error),
    }
}

/// Live unless the store refuses every write (a failed sync): only a restart brings the server back then.
async fn healthz(State(app): State<Arc<App>>) -> Response {
    match app.store.refuse_if_poisoned() {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")).into_response(),
    }
}

/// How long `/readyz` waits for the store: probes give up after a second or two, and a store that slow is not ready.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

async fn readyz(State(app): State<Arc<App>>) -> Response {
    let error = match tokio::time::timeout(READY_TIMEOUT, app.store.ping()).await {
        Ok(Ok(())) => return (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(error @ greenlight_store::StoreError::Poisoned { .. })) => {
            return (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")).into_response();
        }
        Ok(Err(error)) => error.to_string(),
        Err(_) => format!("no answer within {READY_TIMEOUT:?}"),
    };
    tracing::warn!(%error, "not ready");
    (StatusCode::SERVICE_UNAVAILABLE, "the store is unreachable\n").into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let depth = app.store.queue_depth().await.ok();
    let text = app.metrics.encode(depth, &app.github.client().stats());
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response()
}
