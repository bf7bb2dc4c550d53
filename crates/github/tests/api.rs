//! The GitHub calls against a fake GitHub on loopback: what a status call sends, how retries, refused tokens and
//! rate limits come out through the one client layer (waits recorded, never slept), and what branch heads return.

mod fake;

use std::sync::Arc;
use std::time::Duration;

use fake::{FakeGitHub, NOW_EPOCH_SECONDS, RecordingSleeper, Reply, StillClock, reply};
use greenlight_core::{CheckResult, Finding, Report, Severity};
use greenlight_github::{GitHub, GitHubError, MAX_DESCRIPTION_CHARS, StatusState, describe, state_for};
use greenlight_http::{Auth, Client, DEFAULT_USER_AGENT, HttpError, Policy};

const SHA: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const TOKEN: &str = "ghp_fake_token";
const CONTEXT: &str = "greenlight/pre-deploy";

struct Setup {
    github: GitHub,
    fake: FakeGitHub,
    sleeper: Arc<RecordingSleeper>,
}

/// A GitHub client for the fake with the production retry policy, a recording sleeper and a clock that stands
/// still; `prefix` is the API root's path on the fake.
async fn setup(prefix: &str, script: Vec<Reply>) -> Setup {
    let fake = FakeGitHub::start(script).await;
    let sleeper = Arc::new(RecordingSleeper::default());
    let client = Client::builder()
        .policy(Policy::default())
        .sleeper(sleeper.clone())
        .clock(Arc::new(StillClock::new()))
        .credential_name("GITHUB_TOKEN")
        .build()
        .unwrap();
    let github = GitHub::new(client, fake.url(prefix), Auth::Bearer(TOKEN.into())).unwrap();
    Setup { github, fake, sleeper }
}

fn created() -> Reply {
    reply(201, r#"{"id": 1, "state": "success"}"#)
}

fn failing_report() -> Report {
    let findings =
        (0..30).map(|i| Finding::new(&format!("a-rather-long-finding-code-{i}"), Severity::Deny, "s", "m")).collect();
    Report::new("a".repeat(40), SHA.into(), vec![CheckResult::from_findings("many", "", findings)], vec![])
}

async fn post(github: &GitHub, description: &str) -> Result<(), GitHubError> {
    github
        .create_status(
            "acme/shop",
            SHA,
            StatusState::Failure,
            description,
            Some("http://127.0.0.1:8080/deploys/7"),
            CONTEXT,
        )
        .await
}

#[tokio::test]
async fn a_status_is_posted_with_githubs_path_headers_and_body() {
    let Setup { github, fake, sleeper } = setup("", vec![created()]).await;
    let report = failing_report();
    let description = describe(&report);

    github
        .create_status(
            "acme/shop",
            SHA,
            state_for(report.verdict),
            &description,
            Some("http://127.0.0.1:8080/deploys/7"),
            CONTEXT,
        )
        .await
        .unwrap();

    let received = fake.received();
    assert_eq!(received.len(), 1);
    let call = &received[0];
    assert_eq!(call.method, "POST");
    assert_eq!(call.target, format!("/repos/acme/shop/statuses/{SHA}"));
    assert_eq!(call.header("accept"), Some("application/vnd.github+json"));
    assert_eq!(call.header("x-github-api-version"), Some("2022-11-28"));
    assert_eq!(call.header("authorization"), Some("Bearer ghp_fake_token"));
    assert_eq!(call.header("content-type"), Some("application/json"));
    assert_eq!(call.header("user-agent"), Some(DEFAULT_USER_AGENT));
    assert_eq!(
        call.json(),
        serde_json::json!({
            "state": "failure",
            "target_url": "http://127.0.0.1:8080/deploys/7",
            "description": description,
            "context": CONTEXT,
        })
    );
    let sent = call.json()["description"].as_str().unwrap().to_owned();
    assert_eq!(sent.chars().count(), MAX_DESCRIPTION_CHARS, "{sent}");
    assert!(sent.starts_with("30 problems: 1 a-rather-long-finding-code-0, "), "{sent}");
    assert!(sleeper.waits().is_empty());
}

#[tokio::test]
async fn a_description_too_long_for_github_is_cut_before_sending() {
    let Setup { github, fake, .. } = setup("", vec![created()]).await;
    let long = "ü".repeat(300);

    post(&github, &long).await.unwrap();

    let sent = fake.received()[0].json()["description"].as_str().unwrap().to_owned();
    assert_eq!(sent.chars().count(), MAX_DESCRIPTION_CHARS);
    assert_eq!(sent, format!("{}…", "ü".repeat(MAX_DESCRIPTION_CHARS - 1)));
}

#[tokio::test]
async fn a_pending_status_without_target_url_leaves_it_out() {
    let Setup { github, fake, .. } = setup("", vec![created()]).await;

    github.create_status("acme/shop", SHA, StatusState::Pending, "checking", None, CONTEXT).await.unwrap();

    assert_eq!(
        fake.received()[0].json(),
        serde_json::json!({"state": "pending", "description": "checking", "context": CONTEXT})
    );
}

#[tokio::test]
async fn the_api_root_may_have_a_path_as_on_github_enterprise() {
    let Setup { github, fake, .. } = setup("api/v3/", vec![created()]).await;

    post(&github, "x").await.unwrap();

    assert_eq!(fake.received()[0].target, format!("/api/v3/repos/acme/shop/statuses/{SHA}"));
}

#[tokio::test]
async fn a_500_is_retried_by_the_client_layer() {
    let Setup { github, fake, sleeper } = setup("", vec![reply(500, "{}"), created()]).await;

    post(&github, "1 problem").await.unwrap();

    let received = fake.received();
    assert_eq!(received.len(), 2, "one retry");
    assert_eq!(received[0].body, received[1].body, "the retry sends the same status");
    assert_eq!(sleeper.waits().len(), 1);
    assert!(sleeper.waits()[0] <= Policy::default().base_backoff);
    let stats = github.client().stats();
    assert_eq!((stats.requests, stats.attempts, stats.retries), (1, 2, 1));
}

#[tokio::test]
async fn a_refused_token_is_named_and_not_retried() {
    let Setup { github, fake, sleeper } = setup("", vec![reply(401, r#"{"message": "Bad credentials"}"#)]).await;

    let error = post(&github, "x").await.unwrap_err();

    let url = fake.url(&format!("repos/acme/shop/statuses/{SHA}"));
    assert_eq!(error.to_string(), format!("{url} refused the credentials (401 Unauthorized); check GITHUB_TOKEN"));
    assert!(matches!(error, GitHubError::Http(HttpError::Unauthorized { .. })));
    assert_eq!(fake.received().len(), 1);
    assert!(sleeper.waits().is_empty());
}

#[tokio::test]
async fn a_403_without_rate_limit_headers_is_a_permission_problem() {
    let Setup { github, fake, .. } = setup("", vec![reply(403, r#"{"message": "Resource not accessible"}"#)]).await;

    let error = post(&github, "x").await.unwrap_err();

    assert!(error.to_string().ends_with("(403 Forbidden); check GITHUB_TOKEN"), "{error}");
    assert_eq!(fake.received().len(), 1);
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_until_its_reset() {
    let reset = (NOW_EPOCH_SECONDS + 42).to_string();
    let limited = reply(403, r#"{"message": "API rate limit exceeded"}"#)
        .header("x-ratelimit-limit", "5000")
        .header("x-ratelimit-remaining", "0")
        .header("x-ratelimit-reset", &reset);
    let Setup { github, fake, sleeper } = setup("", vec![limited, created()]).await;

    post(&github, "x").await.unwrap();

    assert_eq!(sleeper.waits(), [Duration::from_secs(42)]);
    assert_eq!(fake.received().len(), 2);
}

#[tokio::test]
async fn a_missing_repository_is_named() {
    let Setup { github, fake, .. } = setup("", vec![reply(404, r#"{"message": "Not Found"}"#)]).await;

    let error = post(&github, "x").await.unwrap_err();

    let url = fake.url(&format!("repos/acme/shop/statuses/{SHA}"));
    assert_eq!(
        error.to_string(),
        format!("{url} answered 404 Not Found: repository acme/shop does not exist or the token cannot see it")
    );
}

#[tokio::test]
async fn an_unknown_sha_reports_githubs_message() {
    let body = r#"{"message": "No commit found for SHA: 6113728f27ae82c7b1a177c8d03f9e96e0adf246"}"#;
    let Setup { github, .. } = setup("", vec![reply(422, body)]).await;

    let error = post(&github, "x").await.unwrap_err();

    let message = error.to_string();
    assert!(message.contains("answered 422 Unprocessable Entity"), "{message}");
    assert!(message.contains("No commit found for SHA"), "{message}");
}

#[tokio::test]
async fn bad_arguments_are_refused_without_a_call() {
    let Setup { github, fake, .. } = setup("", vec![]).await;

    let error = github.create_status("acme", SHA, StatusState::Success, "x", None, CONTEXT).await.unwrap_err();
    assert_eq!(error.to_string(), "invalid repository \"acme\": expected owner/name");
    let error = github.create_status("acme/shop", "HEAD", StatusState::Success, "x", None, CONTEXT).await.unwrap_err();
    assert_eq!(error.to_string(), "invalid commit sha \"HEAD\": expected 40 or 64 lowercase hex digits");
    let error = github.branch_head("acme/shop", "").await.unwrap_err();
    assert!(matches!(error, GitHubError::InvalidBranch(_)), "{error}");

    assert!(fake.received().is_empty());
}

#[tokio::test]
async fn branch_head_reads_the_commit_sha() {
    let body = format!(r#"{{"name": "release/2.0", "commit": {{"sha": "{SHA}", "url": "u"}}, "protected": false}}"#);
    let Setup { github, fake, .. } = setup("", vec![reply(200, &body)]).await;

    let head = github.branch_head("acme/shop", "release/2.0").await.unwrap();

    assert_eq!(head.as_deref(), Some(SHA));
    let call = &fake.received()[0];
    assert_eq!((call.method.as_str(), call.target.as_str()), ("GET", "/repos/acme/shop/branches/release%2F2.0"));
    assert_eq!(call.header("accept"), Some("application/vnd.github+json"));
    assert_eq!(call.header("x-github-api-version"), Some("2022-11-28"));
    assert_eq!(call.header("authorization"), Some("Bearer ghp_fake_token"));
}

#[tokio::test]
async fn a_missing_branch_is_none_but_a_missing_repository_is_an_error() {
    let branch_missing =
        reply(404, r#"{"message": "Branch not found", "documentation_url": "https://docs.github.com/rest"}"#);
    let repo_missing = reply(404, r#"{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}"#);
    let Setup { github, fake, .. } = setup("", vec![branch_missing, repo_missing]).await;

    assert_eq!(github.branch_head("acme/shop", "deploy").await.unwrap(), None);
    let error = github.branch_head("acme/gone", "deploy").await.unwrap_err();

    assert!(matches!(&error, GitHubError::RepoNotFound { repo, .. } if repo == "acme/gone"), "{error}");
    assert_eq!(fake.received().len(), 2, "404s are not retried");
}

#[tokio::test]
async fn a_head_that_is_not_a_sha_is_an_error() {
    let Setup { github, .. } = setup("", vec![reply(200, r#"{"commit": {"sha": "main"}}"#)]).await;

    let error = github.branch_head("acme/shop", "deploy").await.unwrap_err();

    assert!(
        error.to_string().ends_with("named \"main\" as the head of branch deploy, which is not a commit id"),
        "{error}"
    );
}

#[tokio::test]
async fn malformed_branch_json_names_the_url() {
    let Setup { github, fake, .. } = setup("", vec![reply(200, r#"{"commit": []}"#)]).await;

    let error = github.branch_head("acme/shop", "deploy").await.unwrap_err();

    let url = fake.url("repos/acme/shop/branches/deploy");
    assert!(error.to_string().starts_with(&format!("malformed json from {url}")), "{error}");
}
