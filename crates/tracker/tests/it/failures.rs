//! What a deploy sees when the tracker misbehaves: every error names the tracker's URL, a refused credential names
//! the variable to check, and what is worth retrying is retried (on a sleeper that only records).

use std::time::Duration;

use greenlight_core::IssueKey;
use greenlight_http::{ErrorKind, Policy};
use greenlight_tracker::{Kind, Settings, TrackerError, gather};

use crate::support::*;

const BULK: &str = "/rest/api/3/issue/bulkfetch";

async fn cloud_with_one_issue() -> (Fake, Settings) {
    let fake = Fake::start(Flavor::JiraCloud).await;
    fake.add(jira("AB-1", "Done").build());
    let settings = Settings::new(Kind::JiraCloud, fake.url());
    (fake, settings)
}

fn kind(error: &TrackerError) -> Option<ErrorKind> {
    error.http().map(|e| e.kind())
}

#[tokio::test]
async fn refused_credentials_name_the_variables_to_check() {
    let (fake, settings) = cloud_with_one_issue().await;
    fake.then_reply(BULK, Canned::status(401).body(r#"{"errorMessages":["unauthorized"]}"#));
    let (client, sleeper) = client("JIRA_USER and JIRA_TOKEN");
    let error = gather(&settings, &client, &basic(), &keys(&["AB-1"])).await.unwrap_err();

    assert_eq!(kind(&error), Some(ErrorKind::Unauthorized));
    assert_eq!(
        error.to_string(),
        format!("{}{BULK} refused the credentials (401 Unauthorized); check JIRA_USER and JIRA_TOKEN", fake.url())
    );
    // Not retried: the same credential would be refused again.
    assert_eq!(fake.seen_at(BULK).len(), 1);
    assert!(sleeper.slept().is_empty());
}

#[tokio::test]
async fn forbidden_on_github_names_the_token() {
    let fake = Fake::start(Flavor::Github).await;
    fake.then_reply("/repos/", Canned::status(403).body(r#"{"message":"Resource not accessible"}"#));
    let settings = Settings { repository: Some("acme/shop".into()), ..Settings::new(Kind::Github, fake.url()) };
    let (client, _) = client("GITHUB_TOKEN");
    let error =
        gather(&settings, &client, &greenlight_http::Auth::Bearer("t".into()), &keys(&["#7"])).await.unwrap_err();

    let message = error.to_string();
    assert!(message.starts_with(&format!("{}/repos/acme/shop/issues/7", fake.url())), "{message}");
    assert!(message.ends_with("check GITHUB_TOKEN"), "{message}");
}

#[tokio::test]
async fn rate_limited_then_answered() {
    let (fake, settings) = cloud_with_one_issue().await;
    fake.then_reply(BULK, Canned::status(429).header("retry-after", "7"));
    let (client, sleeper) = client("JIRA_TOKEN");
    let facts = gather(&settings, &client, &basic(), &keys(&["AB-1"])).await.unwrap();

    assert!(facts.issues.contains_key(&IssueKey::new("AB-1")));
    assert_eq!(sleeper.slept(), [Duration::from_secs(7)], "waits as long as the tracker asks");
    assert_eq!(fake.seen_at(BULK).len(), 2);
    assert_eq!(fake.seen_at(BULK)[0].body, fake.seen_at(BULK)[1].body);
}

#[tokio::test]
async fn server_error_then_answered() {
    let (fake, settings) = cloud_with_one_issue().await;
    fake.then_reply(BULK, Canned::status(500).body("oops"));
    let (client, sleeper) = client("JIRA_TOKEN");
    let facts = gather(&settings, &client, &basic(), &keys(&["AB-1"])).await.unwrap();

    assert_eq!(facts.issues[&IssueKey::new("AB-1")].status, "Done");
    assert_eq!(sleeper.slept().len(), 1);
    assert_eq!(fake.seen_at(BULK).len(), 2);
}

#[tokio::test]
async fn a_tracker_that_never_answers_times_out_naming_the_url() {
    let (fake, settings) = cloud_with_one_issue().await;
    fake.then_reply(BULK, Canned::hang());
    let policy = Policy { attempt_timeout: Duration::from_millis(50), max_attempts: 1, ..Policy::default() };
    let (client, _) = client_with("JIRA_TOKEN", policy);
    let error = gather(&settings, &client, &basic(), &keys(&["AB-1"])).await.unwrap_err();

    assert_eq!(kind(&error), Some(ErrorKind::Timeout));
    assert_eq!(error.to_string(), format!("request to {}{BULK} timed out after 0.050 s", fake.url()));
}

#[tokio::test]
async fn malformed_json_names_the_url() {
    let (fake, settings) = cloud_with_one_issue().await;
    fake.then_reply(
        BULK,
        Canned::status(200).header("content-type", "application/json").body(r#"{"issues": [{"key": "AB-1""#),
    );
    let (client, _) = client("JIRA_TOKEN");
    let error = gather(&settings, &client, &basic(), &keys(&["AB-1"])).await.unwrap_err();

    assert_eq!(kind(&error), Some(ErrorKind::Decode));
    let message = error.to_string();
    assert!(message.starts_with(&format!("malformed json from {}{BULK}: ", fake.url())), "{message}");
}

#[tokio::test]
async fn an_unreachable_tracker_is_named() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let settings = Settings { fields: vec!["Rollback plan".into()], ..Settings::new(Kind::JiraDc, url.clone()) };
    let (client, _) = client("JIRA_TOKEN");
    let error = gather(&settings, &client, &basic(), &keys(&["AB-1"])).await.unwrap_err();

    assert_eq!(kind(&error), Some(ErrorKind::Connect));
    let message = error.to_string();
    assert!(message.starts_with(&format!("cannot reach {url}/rest/api/2/field: ")), "{message}");
}

#[tokio::test]
async fn a_bad_ready_query_shows_what_jira_said() {
    let fake = Fake::start(Flavor::JiraDc).await;
    fake.then_reply(
        "/rest/api/2/search",
        Canned::status(400).body(r#"{"errorMessages":["Field 'statsu' does not exist."],"errors":{}}"#),
    );
    let settings = Settings { ready_query: Some("statsu = Done".into()), ..Settings::new(Kind::JiraDc, fake.url()) };
    let (client, _) = client("JIRA_TOKEN");
    // Only `ready-issues` needs the search: its failure is kept for that check, not the whole gather's error.
    let facts = gather(&settings, &client, &basic(), &[]).await.unwrap();

    let message = facts.ready_error.unwrap();
    assert!(message.starts_with(&format!("{}/rest/api/2/search answered 400 Bad Request", fake.url())), "{message}");
    assert!(message.contains("Field 'statsu' does not exist."), "{message}");
}

#[tokio::test]
async fn an_unusable_tracker_url_is_refused_before_any_call() {
    let (client, _) = client("JIRA_TOKEN");
    for url in ["jira.example.com", "ftp://jira.example.com"] {
        let settings = Settings::new(Kind::JiraCloud, url);
        let error = gather(&settings, &client, &basic(), &keys(&["AB-1"])).await.unwrap_err();
        assert!(matches!(error, TrackerError::Url { .. }), "{error:?}");
        assert!(error.to_string().contains(url), "{error}");
    }
    assert_eq!(client.stats().requests, 0);
}

#[tokio::test]
async fn issues_jira_could_not_return_are_an_error_naming_them() {
    let (fake, settings) = cloud_with_one_issue().await;
    fake.add(jira("AB-2", "In Review").build());
    fake.then_reply(
        BULK,
        Canned::status(200).header("content-type", "application/json").body(
            r#"{"issues": [{"id": "10005", "key": "AB-1", "fields": {"status": {"name": "Done"}}}],
                "issueErrors": [{"id": "AB-2", "errorMessage": "Retriable error, try again"}]}"#,
        ),
    );
    let (client, _) = client("JIRA_TOKEN");
    let error = gather(&settings, &client, &basic(), &keys(&["AB-1", "AB-2"])).await.unwrap_err();

    // Not "AB-2 does not exist": Jira lists only issues it failed to read there, so the deploy cannot be judged.
    assert!(matches!(error, TrackerError::IssueErrors { .. }), "{error:?}");
    assert_eq!(error.to_string(), format!("{}{BULK} could not return AB-2: Retriable error, try again", fake.url()));
}
