//! Jira Data Center / Server: REST API 2, bulk reads as `key in (…)` searches with relaxed validation, and
//! `startAt` paging up to `total`, or without one up to a short page.

use greenlight_core::{FieldValue, IssueKey};
use greenlight_http::{Auth, Method, Url};
use greenlight_tracker::{Kind, Settings, gather};
use serde_json::json;

use crate::support::*;

const SEARCH: &str = "/rest/api/2/search";

fn settings(fake: &Fake) -> Settings {
    Settings::new(Kind::JiraDc, fake.url())
}

fn bearer() -> Auth {
    Auth::Bearer("personal-access-token".into())
}

/// The fake answers like Jira Data Center: a `key in (…)` naming a key that does not exist fails the whole query with
/// 400 unless validation is turned off with `"validateQuery": false`, a boolean (Cloud's `"warn"` is not Data
/// Center's). This pins the fake, so the next test means something.
#[tokio::test]
async fn the_fake_rejects_unknown_keys_unless_validation_is_relaxed() {
    let fake = Fake::start(Flavor::JiraDc).await;
    fake.add(jira("AB-1", "Done").build());
    let (client, _) = client("JIRA_TOKEN");
    let url = Url::parse(&format!("{}{SEARCH}", fake.url())).unwrap();
    let search = |body: serde_json::Value| {
        client.request(Method::POST, url.clone()).header("content-type", "application/json").body(body.to_string())
    };
    let error = client.send(search(json!({"jql": r#"key in ("AB-1", "AB-404")"#}))).await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(400));
    assert!(error.to_string().contains("An issue with key 'AB-404' does not exist"), "{error}");
    let answer: serde_json::Value =
        client.json(search(json!({"jql": r#"key in ("AB-1", "AB-404")"#, "validateQuery": false}))).await.unwrap();
    assert_eq!(answer["total"], 1);
    let error = client.send(search(json!({"jql": r#"key in ("AB-1")"#, "validateQuery": "warn"}))).await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(400));
}

#[tokio::test]
async fn bulk_reads_tolerate_keys_that_do_not_exist() {
    let fake = Fake::start(Flavor::JiraDc).await;
    fake.add_field("customfield_10100", "Rollback plan");
    fake.add(jira("AB-1", "Done").field("customfield_10100", json!("redeploy 1.3")).build());
    fake.add(jira("AB-2", "In Review").subtask_of("AB-1").build());
    let settings = Settings { fields: vec!["Rollback Plan".into()], ..settings(&fake) };
    let (client, _) = client("JIRA_TOKEN");
    let facts = gather(&settings, &client, &bearer(), &keys(&["AB-2", "AB-404", "AB-1"])).await.unwrap();

    assert_eq!(facts.issues.keys().map(IssueKey::as_str).collect::<Vec<_>>(), ["AB-1", "AB-2"]);
    assert_eq!(
        facts.issues[&IssueKey::new("AB-1")].fields["customfield_10100"],
        FieldValue::Text("redeploy 1.3".into())
    );
    assert_eq!(facts.issues[&IssueKey::new("AB-2")].parent, Some(IssueKey::new("AB-1")));
    let seen = fake.seen();
    assert_eq!(seen.len(), 3, "{seen:#?}");
    assert_eq!(seen[0].path, "/rest/api/2/field");
    // AB-404, which the search did not answer, is read alone.
    assert_eq!((seen[2].method.as_str(), seen[2].path.as_str()), ("GET", "/rest/api/2/issue/AB-404"));
    assert!(seen.iter().all(|s| s.headers["authorization"] == "Bearer personal-access-token"));
    assert_eq!(
        seen[1].body,
        json!({
            "jql": r#"key in ("AB-1", "AB-2", "AB-404")"#,
            "fields": ["summary", "status", "issuetype", "parent", "customfield_10100"],
            "startAt": 0,
            "maxResults": 100,
            "validateQuery": false,
        })
    );
}

/// Reads AB-1…AB-100 (all "In Progress") with `ready` more issues in the ready status "Ready".
async fn read_100_keys_and_ready(fake: &Fake, ready: usize) -> greenlight_core::TrackerFacts {
    let named: Vec<String> = (1..=100).map(|n| format!("AB-{n}")).collect();
    for key in &named {
        fake.add(jira(key, "In Progress").build());
    }
    for n in 1..=ready {
        fake.add(jira(&format!("RD-{n}"), "Ready").build());
    }
    let settings = Settings { ready_statuses: vec!["Ready".into()], ..settings(fake) };
    let named: Vec<&str> = named.iter().map(String::as_str).collect();
    let (client, _) = client("JIRA_TOKEN");
    gather(&settings, &client, &bearer(), &keys(&named)).await.unwrap()
}

/// The `startAt` of each search whose JQL starts with `prefix`, in the order they came.
fn start_ats(fake: &Fake, prefix: &str) -> Vec<u64> {
    fake.seen_at(SEARCH)
        .iter()
        .filter(|s| s.body["jql"].as_str().unwrap().starts_with(prefix))
        .map(|s| s.body["startAt"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn searches_page_by_start_at_until_total() {
    let fake = Fake::start(Flavor::JiraDc).await;
    // This server hands out at most 40 issues a page, whatever maxResults asks for.
    fake.set_page_cap(40);
    let facts = read_100_keys_and_ready(&fake, 90).await;

    assert_eq!(facts.issues.len(), 100);
    assert_eq!(facts.ready.len(), 90);
    let starts = |prefix: &str| start_ats(&fake, prefix);
    assert_eq!(starts("key in"), [0, 40, 80]);
    assert_eq!(starts("status in"), [0, 40, 80]);
    // The ready search keeps Jira's strict validation: a wrong status is a configuration error worth seeing.
    assert!(
        fake.seen_at(SEARCH)
            .iter()
            .filter(|s| s.body["jql"].as_str().unwrap().starts_with("status"))
            .all(|s| s.body.get("validateQuery").is_none())
    );
}

/// An answer without `total` is paged on while pages come back full (as many issues as the server's `maxResults`),
/// up to a short or an empty page: none of the issues beyond the first page is left unread.
#[tokio::test]
async fn searches_without_a_total_page_until_a_short_or_empty_page() {
    let fake = Fake::start(Flavor::JiraDc).await;
    fake.omit_total();
    fake.set_page_cap(40);
    let facts = read_100_keys_and_ready(&fake, 80).await;

    assert!(fake.seen_at(SEARCH).len() > 1);
    assert_eq!(facts.issues.len(), 100);
    assert_eq!(facts.ready.len(), 80);
    let starts = |prefix: &str| start_ats(&fake, prefix);
    // 100 keys: 40, 40, then 20 (short). 80 ready issues: 40, 40, then an empty page.
    assert_eq!(starts("key in"), [0, 40, 80]);
    assert_eq!(starts("status in"), [0, 40, 80]);
}

/// Without a `total`, a server that answers every page full (here: the same first page, whatever `startAt` says) is
/// read for a bounded number of pages, then reported, instead of being read forever.
#[tokio::test]
async fn searches_without_a_total_stop_after_the_page_bound() {
    let fake = Fake::start(Flavor::JiraDc).await;
    fake.omit_total();
    fake.ignore_start_at();
    fake.set_page_cap(2);
    for n in 1..=3 {
        fake.add(jira(&format!("RD-{n}"), "Ready").build());
    }
    let settings = Settings { ready_statuses: vec!["Ready".into()], ..settings(&fake) };
    let (client, _) = client("JIRA_TOKEN");
    let facts = gather(&settings, &client, &bearer(), &[]).await.unwrap();

    let message = facts.ready_error.unwrap();
    assert_eq!(message, format!("{}{SEARCH} kept sending more pages (1000 read); stopped reading", fake.url()));
    assert_eq!(fake.seen_at(SEARCH).len(), 1000);
}

#[tokio::test]
async fn a_moved_issue_is_filed_under_the_key_asked_for() {
    let fake = Fake::start(Flavor::JiraDc).await;
    fake.add(jira("CD-7", "In Progress").build());
    fake.move_issue("AB-1", "CD-7");
    fake.add(jira("AB-2", "Ready").build());
    let (client, _) = client("JIRA_TOKEN");
    let facts = gather(&settings(&fake), &client, &bearer(), &keys(&["AB-1", "AB-2"])).await.unwrap();

    assert_eq!(facts.issues.keys().map(IssueKey::as_str).collect::<Vec<_>>(), ["AB-1", "AB-2"]);
    let ab1 = &facts.issues[&IssueKey::new("AB-1")];
    assert_eq!((ab1.status.as_str(), ab1.moved_to.as_ref().map(IssueKey::as_str)), ("In Progress", Some("CD-7")));
    let gets: Vec<String> = fake.seen().iter().filter(|s| s.method == "GET").map(|s| s.path.clone()).collect();
    assert_eq!(gets, ["/rest/api/2/issue/AB-1"]);
}

/// SHOP-1 moved and is now CORE-7, and the deploy names both: the search answers CORE-7 once, so no answer tells
/// that SHOP-1 moved. SHOP-1 is read alone all the same, and found.
#[tokio::test]
async fn a_moved_issue_named_by_its_old_and_its_new_key_is_found_under_both() {
    let fake = Fake::start(Flavor::JiraDc).await;
    fake.add(jira("CORE-7", "In Progress").build());
    fake.move_issue("SHOP-1", "CORE-7");
    let (client, _) = client("JIRA_TOKEN");
    let facts = gather(&settings(&fake), &client, &bearer(), &keys(&["SHOP-1", "CORE-7"])).await.unwrap();

    assert_eq!(facts.issues.keys().map(IssueKey::as_str).collect::<Vec<_>>(), ["CORE-7", "SHOP-1"]);
    let shop1 = &facts.issues[&IssueKey::new("SHOP-1")];
    assert_eq!((shop1.status.as_str(), shop1.moved_to.as_ref().map(IssueKey::as_str)), ("In Progress", Some("CORE-7")));
    assert_eq!(facts.issues[&IssueKey::new("CORE-7")].moved_to, None);
    let gets: Vec<String> = fake.seen().iter().filter(|s| s.method == "GET").map(|s| s.path.clone()).collect();
    assert_eq!(gets, ["/rest/api/2/issue/SHOP-1"]);
}
