//! GitHub Issues: one read per issue with GitHub's headers, GitHub's own 404 as "not found" (any other 404 is an
//! error), labels as statuses, and the ready search by label following `Link` pages.

use greenlight_core::{FieldValue, IssueKey};
use greenlight_http::Auth;
use greenlight_tracker::{Kind, Settings, gather};

use crate::support::*;

fn settings(fake: &Fake) -> Settings {
    Settings { repository: Some("acme/shop".into()), ..Settings::new(Kind::Github, fake.url()) }
}

fn token() -> Auth {
    Auth::Bearer("ghp_token".into())
}

fn strings(items: &[&str]) -> FieldValue {
    FieldValue::List(items.iter().map(|s| s.to_string()).collect())
}

#[tokio::test]
async fn reads_issues_and_pull_requests_once_each() {
    let fake = Fake::start(Flavor::Github).await;
    fake.add(
        github("acme/shop", 1, "open").labels(&["bug", "Ready"]).assignees(&["ada", "bob"]).milestone("v1.4").build(),
    );
    fake.add(github("acme/shop", 2, "closed").pull_request().build());
    fake.add(github("acme/web", 3, "open").labels(&["wontfix"]).build());
    let settings = Settings {
        ready_statuses: vec!["ready".into()],
        fields: ["Labels", "assignee", "assignees", "milestone", "Story points"].map(String::from).into(),
        ..settings(&fake)
    };
    let (client, _) = client("GITHUB_TOKEN");
    let facts = gather(&settings, &client, &token(), &keys(&["#1", "acme/shop#1", "#2", "acme/web#3", "#404", "AB-1"]))
        .await
        .unwrap();

    let strs = |keys: Vec<&IssueKey>| keys.into_iter().map(|k| k.to_string()).collect::<Vec<_>>();
    assert_eq!(strs(facts.asked.iter().collect()), ["#1", "#2", "#404", "acme/shop#1", "acme/web#3"]);
    // #404 does not exist: absent. `#1` and `acme/shop#1` are one issue, filed under both names.
    assert_eq!(strs(facts.issues.keys().collect()), ["#1", "#2", "acme/shop#1", "acme/web#3"]);
    assert_eq!(
        facts.fields.iter().map(|f| (f.name.as_str(), f.id.as_str())).collect::<Vec<_>>(),
        [("Labels", "labels"), ("assignee", "assignee"), ("assignees", "assignees"), ("milestone", "milestone")]
    );

    let one = &facts.issues[&IssueKey::new("#1")];
    assert_eq!(one.status, "Ready", "the first label that is a ready status");
    assert_eq!(one.issue_type, "Issue");
    assert_eq!(one.summary, "title of acme/shop#1");
    assert_eq!(one.url, "https://github.com/acme/shop/issues/1");
    assert_eq!((one.subtask, &one.parent), (false, &None));
    assert_eq!(one.fields["labels"], strings(&["bug", "Ready"]));
    assert_eq!(one.fields["assignee"], FieldValue::Text("ada".into()));
    assert_eq!(one.fields["assignees"], strings(&["ada", "bob"]));
    assert_eq!(one.fields["milestone"], FieldValue::Text("v1.4".into()));
    assert_eq!(facts.issues[&IssueKey::new("acme/shop#1")].key.as_str(), "acme/shop#1");

    let two = &facts.issues[&IssueKey::new("#2")];
    assert_eq!((two.status.as_str(), two.issue_type.as_str()), ("closed", "Pull request"));
    assert!(two.fields.values().all(|v| *v == FieldValue::Empty));
    assert_eq!(facts.issues[&IssueKey::new("acme/web#3")].status, "open");

    let mut reads: Vec<String> = fake.seen().iter().filter(|s| s.query.is_none()).map(|s| s.path.clone()).collect();
    reads.sort();
    assert_eq!(
        reads,
        [
            "/repos/acme/shop/issues/1",
            "/repos/acme/shop/issues/2",
            "/repos/acme/shop/issues/404",
            "/repos/acme/web/issues/3"
        ]
    );
    for seen in fake.seen() {
        assert_eq!(seen.headers["accept"], "application/vnd.github+json");
        assert_eq!(seen.headers["x-github-api-version"], "2022-11-28");
        assert_eq!(seen.headers["authorization"], "Bearer ghp_token");
    }
    // The ready search: filed under the name the deploy used first.
    assert_eq!(strs(facts.ready.iter().map(|i| &i.key).collect()), ["#1"]);
}

#[tokio::test]
async fn ready_search_follows_link_pages() {
    let fake = Fake::start(Flavor::Github).await;
    for n in 1..=250 {
        let labels: &[&str] = if n % 2 == 0 { &["ready to ship"] } else { &["ready to ship", "ui"] };
        fake.add(github("acme/shop", n, if n > 200 { "closed" } else { "open" }).labels(labels).build());
    }
    fake.add(github("acme/shop", 999, "open").labels(&["ui"]).build());
    let settings = Settings { ready_statuses: vec!["Ready to ship".into()], ..settings(&fake) };
    let (client, _) = client("GITHUB_TOKEN");
    let facts = gather(&settings, &client, &token(), &[]).await.unwrap();

    assert_eq!(facts.ready.len(), 250);
    assert_eq!(facts.ready[0].key.as_str(), "#1");
    assert_eq!(facts.ready[249].key.as_str(), "#250");
    assert!(facts.ready.iter().all(|i| i.status == "ready to ship"));
    let seen = fake.seen();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(s.path, "/repos/acme/shop/issues");
        assert_eq!(s.query_param("labels").as_deref(), Some("Ready to ship"));
        assert_eq!(s.query_param("state").as_deref(), Some("all"));
        assert_eq!(s.query_param("per_page").as_deref(), Some("100"));
    }
    let pages: Vec<Option<String>> = seen.iter().map(|s| s.query_param("page")).collect();
    assert_eq!(pages, [None, Some("2".into()), Some("3".into())]);
}

#[tokio::test]
async fn ready_query_replaces_the_ready_labels() {
    let fake = Fake::start(Flavor::Github).await;
    fake.add(github("acme/shop", 5, "open").labels(&["shipit"]).build());
    let settings = Settings {
        ready_statuses: vec!["ready".into(), "done".into()],
        ready_query: Some("shipit".into()),
        ..settings(&fake)
    };
    let (client, _) = client("GITHUB_TOKEN");
    let facts = gather(&settings, &client, &token(), &[]).await.unwrap();

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].query_param("labels").as_deref(), Some("shipit"));
    assert_eq!(facts.ready.len(), 1);
    assert_eq!(facts.ready[0].status, "open");
}

#[tokio::test]
async fn a_next_page_on_another_host_is_not_followed() {
    let fake = Fake::start(Flavor::Github).await;
    fake.then_reply(
        "/repos/acme/shop/issues",
        Canned::status(200)
            .header("content-type", "application/json")
            .header("link", r#"<http://elsewhere.invalid/repos/acme/shop/issues?page=2>; rel="next""#)
            .body("[]"),
    );
    let settings = Settings { ready_statuses: vec!["ready".into()], ..settings(&fake) };
    let (client, _) = client("GITHUB_TOKEN");
    // The ready search stops there; its failure is kept for `ready-issues`.
    let facts = gather(&settings, &client, &token(), &[]).await.unwrap();

    let message = facts.ready_error.unwrap();
    assert!(message.contains("linked its next page to another host"), "{message}");
    assert!(message.contains(&fake.url()), "{message}");
    assert!(message.contains("elsewhere.invalid"), "{message}");
    assert_eq!(fake.seen().len(), 1);
}

/// A base URL that is not the API (a GitHub Enterprise host without `/api/v3`, a proxy) answers every issue with a
/// 404 that is not GitHub's JSON error: that is a tracker error naming the URL, never an issue that does not exist.
#[tokio::test]
async fn a_404_that_is_not_githubs_error_is_a_tracker_error() {
    let html = "<!DOCTYPE html>\n<html><head><title>Page not found</title></head><body>404</body></html>";
    for (content_type, body) in
        [("text/html; charset=utf-8", html), ("text/plain", ""), ("application/json", r#"{"error":"no route"}"#)]
    {
        let fake = Fake::start(Flavor::Github).await;
        fake.add(github("acme/shop", 7, "open").build());
        fake.then_reply("/repos/", Canned::status(404).header("content-type", content_type).body(body));
        let (client, _) = client("GITHUB_TOKEN");
        let error = gather(&settings(&fake), &client, &token(), &keys(&["#7"])).await.unwrap_err();

        let message = error.to_string();
        assert!(message.contains(&format!("{}/repos/acme/shop/issues/7", fake.url())), "{message}");
        assert!(message.contains("does not look like the GitHub API"), "{message}");
        assert!(message.contains("/api/v3"), "{message}");
    }
}

/// GitHub's own 404, a JSON object with a `message`, still means the issue does not exist.
#[tokio::test]
async fn githubs_own_404_is_a_missing_issue() {
    let fake = Fake::start(Flavor::Github).await;
    let (client, _) = client("GITHUB_TOKEN");
    let facts = gather(&settings(&fake), &client, &token(), &keys(&["#404"])).await.unwrap();
    assert!(facts.issues.is_empty());
    assert_eq!(fake.seen().len(), 1);
}

/// GitHub answers a transferred issue's old place with `301 Moved Permanently` to its new one: the redirect is
/// followed with the credentials (same host), and the issue is judged under the key the commit names, with
/// `moved_to` its new place.
#[tokio::test]
async fn a_transferred_issue_is_followed_and_filed_under_the_key_asked_for() {
    let fake = Fake::start(Flavor::Github).await;
    fake.add(github("acme/web", 12, "open").labels(&["Ready"]).build());
    fake.transfer_issue("acme/shop#7", "acme/web#12");
    fake.add(github("acme/shop", 8, "open").build());
    let settings = Settings { ready_statuses: vec!["ready".into()], ready_search: false, ..settings(&fake) };
    let (client, _) = client("GITHUB_TOKEN");
    let facts = gather(&settings, &client, &token(), &keys(&["#7", "#8"])).await.unwrap();

    assert_eq!(facts.issues.keys().map(IssueKey::as_str).collect::<Vec<_>>(), ["#7", "#8"]);
    let seven = &facts.issues[&IssueKey::new("#7")];
    assert_eq!(seven.key.as_str(), "#7");
    assert_eq!(seven.status, "Ready");
    assert_eq!(seven.summary, "title of acme/web#12");
    assert_eq!(seven.url, "https://github.com/acme/web/issues/12");
    assert_eq!(seven.moved_to.as_ref().map(IssueKey::as_str), Some("acme/web#12"));
    assert_eq!(facts.issues[&IssueKey::new("#8")].moved_to, None, "an issue in its place has not moved");

    let mut paths: Vec<String> = fake.seen().iter().map(|s| s.path.clone()).collect();
    paths.sort();
    assert_eq!(paths, ["/repos/acme/shop/issues/7", "/repos/acme/shop/issues/8", "/repositories/1000/issues/12"]);
    for seen in fake.seen() {
        assert_eq!(seen.headers["authorization"], "Bearer ghp_token");
        assert_eq!(seen.headers["accept"], "application/vnd.github+json");
    }
}

/// An issue's address is shown as a link on the deploy page and in Markdown, so only an `http` or `https` one is
/// kept: a `javascript:` or `data:` URL (or one that is no URL at all) from the tracker's answer is dropped, in the
/// issues read and in the ready search alike.
#[tokio::test]
async fn an_issue_url_that_is_not_http_or_https_is_dropped() {
    let fake = Fake::start(Flavor::Github).await;
    let urls = [
        "javascript:alert(1)",
        "JavaScript:alert(document.domain)",
        "data:text/html,<script>alert(2)</script>",
        "/acme/shop/issues/4",
        "https://github.com/acme/shop/issues/5",
        "http://github.example.com/acme/shop/issues/6",
    ];
    for (n, url) in (1..).zip(urls) {
        fake.add(github("acme/shop", n, "open").labels(&["Ready"]).html_url(url).build());
    }
    let settings = Settings { ready_statuses: vec!["ready".into()], ..settings(&fake) };
    let (client, _) = client("GITHUB_TOKEN");
    let facts = gather(&settings, &client, &token(), &keys(&["#1", "#2", "#3", "#4", "#5", "#6"])).await.unwrap();

    let url = |n: u64| facts.issues[&IssueKey::new(format!("#{n}"))].url.as_str();
    assert_eq!([url(1), url(2), url(3), url(4)], ["", "", "", ""]);
    assert_eq!(url(5), "https://github.com/acme/shop/issues/5");
    assert_eq!(url(6), "http://github.example.com/acme/shop/issues/6");
    let mut ready: Vec<(&str, &str)> = facts.ready.iter().map(|i| (i.key.as_str(), i.url.as_str())).collect();
    ready.sort();
    assert_eq!(
        ready,
        [
            ("#1", ""),
            ("#2", ""),
            ("#3", ""),
            ("#4", ""),
            ("#5", "https://github.com/acme/shop/issues/5"),
            ("#6", "http://github.example.com/acme/shop/issues/6")
        ]
    );
}
