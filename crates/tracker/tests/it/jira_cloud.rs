//! Jira Cloud: `bulkfetch` reads, the token-paged `search/jql`, field names resolved with one field-list call.

use std::collections::{BTreeMap, HashSet};

use greenlight_core::{FieldRef, FieldValue, Issue, IssueKey};
use greenlight_tracker::{Kind, Settings, gather};
use serde_json::json;

use crate::support::*;

const BULK: &str = "/rest/api/3/issue/bulkfetch";
const SEARCH: &str = "/rest/api/3/search/jql";
const FIELDS: &str = "/rest/api/3/field";

fn settings(fake: &Fake) -> Settings {
    Settings::new(Kind::JiraCloud, fake.url())
}

fn text(s: &str) -> FieldValue {
    FieldValue::Text(s.to_owned())
}

fn list(items: &[&str]) -> FieldValue {
    FieldValue::List(items.iter().map(|s| s.to_string()).collect())
}

fn key_strings<'a>(keys: impl IntoIterator<Item = &'a IssueKey>) -> Vec<String> {
    keys.into_iter().map(|k| k.to_string()).collect()
}

#[tokio::test]
async fn issues_fields_and_ready_issues() {
    let fake = Fake::start(Flavor::JiraCloud).await;
    for (id, name) in [
        ("summary", "Summary"),
        ("labels", "Labels"),
        ("customfield_10042", "Post-deploy checks"),
        ("customfield_10043", "Story points"),
        ("customfield_10044", "Risk"),
        ("customfield_10045", "Regions"),
        ("customfield_10046", "Reviewer"),
        ("customfield_10047", "Rollback plan"),
    ] {
        fake.add_field(id, name);
    }
    let adf = json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Run "}, {"type": "text", "text": "migrate"}]},
        {"type": "paragraph", "content": [{"type": "text", "text": "then smoke-test"}]}
    ]});
    fake.add(
        jira("AB-1", "Ready")
            .field("labels", json!(["backend", "db"]))
            .field("customfield_10042", adf)
            .field("customfield_10043", json!(5))
            .field("customfield_10044", json!({"self": "…", "value": "Low", "id": "10100"}))
            .field("customfield_10045", json!([{"value": "EU"}, {"value": "US"}]))
            .field("customfield_10046", json!({"accountId": "5b10", "displayName": "Ada Lovelace"}))
            .field("customfield_10047", json!("redeploy the previous tag"))
            .build(),
    );
    // Every way a field can be empty.
    fake.add(
        jira("AB-2", "In Progress")
            .field("labels", json!([]))
            .field("customfield_10042", json!({"type": "doc", "version": 1, "content": []}))
            .field("customfield_10044", json!(null))
            .field("customfield_10045", json!([]))
            .field("customfield_10047", json!(""))
            .build(),
    );
    fake.add(jira("CD-7", "Done").build());
    fake.add(jira("CD-8", "Backlog").build());
    let settings = Settings {
        ready_statuses: vec!["Ready".into(), "Done".into()],
        fields: [
            "Post-deploy checks",
            "story POINTS",
            "customfield_10044",
            "Regions",
            "Reviewer",
            "Rollback plan",
            "labels",
            "No such field",
        ]
        .map(String::from)
        .into(),
        ..settings(&fake)
    };
    let (client, _) = client("JIRA_USER and JIRA_TOKEN");
    let facts = gather(&settings, &client, &basic(), &keys(&["AB-2", "AB-1", "#5", "AB-1", "XY-404"])).await.unwrap();

    assert_eq!(key_strings(&facts.asked), ["AB-1", "AB-2", "XY-404"]);
    // XY-404 does not exist: absent, not an error.
    assert_eq!(key_strings(facts.issues.keys()), ["AB-1", "AB-2"]);
    let expect_fields: Vec<FieldRef> = [
        ("Post-deploy checks", "customfield_10042"),
        ("story POINTS", "customfield_10043"),
        ("customfield_10044", "customfield_10044"),
        ("Regions", "customfield_10045"),
        ("Reviewer", "customfield_10046"),
        ("Rollback plan", "customfield_10047"),
        ("labels", "labels"),
    ]
    .map(|(name, id)| FieldRef { name: name.into(), id: id.into() })
    .into();
    assert_eq!(facts.fields, expect_fields);

    let expect_ab1 = Issue {
        key: IssueKey::new("AB-1"),
        summary: "summary of AB-1".into(),
        status: "Ready".into(),
        issue_type: "Story".into(),
        subtask: false,
        parent: None,
        moved_to: None,
        url: format!("{}/browse/AB-1", fake.url()),
        fields: BTreeMap::from([
            ("customfield_10042".into(), text("Run migrate\nthen smoke-test")),
            ("customfield_10043".into(), FieldValue::Number(5.0)),
            ("customfield_10044".into(), text("Low")),
            ("customfield_10045".into(), list(&["EU", "US"])),
            ("customfield_10046".into(), text("Ada Lovelace")),
            ("customfield_10047".into(), text("redeploy the previous tag")),
            ("labels".into(), list(&["backend", "db"])),
        ]),
    };
    assert_eq!(facts.issues[&IssueKey::new("AB-1")], expect_ab1);
    let ab2 = &facts.issues[&IssueKey::new("AB-2")];
    assert_eq!(ab2.status, "In Progress");
    assert_eq!(ab2.fields.len(), 7);
    assert!(ab2.fields.values().all(|v| *v == FieldValue::Empty), "{:?}", ab2.fields);

    assert_eq!(key_strings(facts.ready.iter().map(|i| &i.key)), ["AB-1", "CD-7"]);
    assert_eq!(facts.ready[1].status, "Done");

    // One call of each kind, every one with the credential, and XY-404, which the bulk read did not answer, read
    // alone.
    let seen = fake.seen();
    assert_eq!(seen.len(), 4, "{seen:#?}");
    assert_eq!(fake.seen_at("/rest/api/3/issue/XY-404").len(), 1);
    assert!(seen.iter().all(|s| s.headers["authorization"].starts_with("Basic ")));
    assert_eq!(fake.seen_at(FIELDS).len(), 1);
    let wanted = json!([
        "summary",
        "status",
        "issuetype",
        "parent",
        "customfield_10042",
        "customfield_10043",
        "customfield_10044",
        "customfield_10045",
        "customfield_10046",
        "customfield_10047",
        "labels"
    ]);
    let bulk = fake.seen_at(BULK);
    assert_eq!(bulk[0].body, json!({"issueIdsOrKeys": ["AB-1", "AB-2", "XY-404"], "fields": wanted}));
    let search = fake.seen_at(SEARCH);
    assert_eq!(
        search[0].body,
        json!({"jql": r#"status in ("Ready", "Done") ORDER BY key ASC"#, "fields": wanted, "maxResults": 100})
    );
}

#[tokio::test]
async fn ready_search_follows_next_page_token() {
    let fake = Fake::start(Flavor::JiraCloud).await;
    for n in 1..=250 {
        fake.add(jira(&format!("AB-{n}"), "Ready").build());
    }
    let settings = Settings { ready_statuses: vec!["Ready".into()], ..settings(&fake) };
    let (client, _) = client("JIRA_TOKEN");
    let facts = gather(&settings, &client, &basic(), &[]).await.unwrap();

    assert_eq!(facts.ready.len(), 250);
    assert_eq!(facts.ready[0].key.as_str(), "AB-1");
    assert_eq!(facts.ready[249].key.as_str(), "AB-250");
    let tokens: Vec<Option<String>> = fake
        .seen_at(SEARCH)
        .iter()
        .map(|s| s.body.get("nextPageToken").and_then(|t| t.as_str()).map(str::to_owned))
        .collect();
    assert_eq!(tokens, [None, Some("page-at-100".into()), Some("page-at-200".into())]);
    // No keys: nothing to read, no fields to resolve.
    assert_eq!(fake.seen().len(), 3);
}

#[tokio::test]
async fn subtask_parents_are_read_once() {
    let fake = Fake::start(Flavor::JiraCloud).await;
    fake.add(jira("AB-1", "Ready").build());
    fake.add(jira("AB-2", "Done").subtask_of("AB-1").build());
    fake.add(jira("AB-3", "Done").subtask_of("AB-1").build());
    fake.add(jira("AB-4", "Ready").build());
    fake.add(jira("AB-5", "Done").subtask_of("AB-4").build());
    fake.add(jira("AB-6", "Done").subtask_of("AB-404").build());
    let (client, _) = client("JIRA_TOKEN");
    let facts =
        gather(&settings(&fake), &client, &basic(), &keys(&["AB-2", "AB-3", "AB-4", "AB-5", "AB-6"])).await.unwrap();

    assert_eq!(key_strings(&facts.asked), ["AB-2", "AB-3", "AB-4", "AB-5", "AB-6"]);
    assert_eq!(key_strings(facts.issues.keys()), ["AB-1", "AB-2", "AB-3", "AB-4", "AB-5", "AB-6"]);
    let ab2 = &facts.issues[&IssueKey::new("AB-2")];
    assert!(ab2.subtask);
    assert_eq!(ab2.issue_type, "Sub-task");
    assert_eq!(ab2.parent, Some(IssueKey::new("AB-1")));
    // The sub-tasks first; then the parents not yet read, each once; AB-4 was already read.
    let reads: Vec<Vec<String>> = fake.seen_at(BULK).iter().map(|s| s.read_keys()).collect();
    assert_eq!(reads, [vec!["AB-2", "AB-3", "AB-4", "AB-5", "AB-6"], vec!["AB-1", "AB-404"]]);
}

#[tokio::test]
async fn five_hundred_keys_take_five_reads_one_search_and_one_field_list() {
    let fake = Fake::start(Flavor::JiraCloud).await;
    fake.add_field("customfield_10044", "Risk");
    let mut named = Vec::new();
    for (project, count) in [("AB", 300), ("CD", 200)] {
        for n in 1..=count {
            let key = format!("{project}-{n}");
            let status = if n % 10 == 0 { "Done" } else { "In Progress" };
            let mut issue = jira(&key, status).field("customfield_10044", json!({"value": "Low"}));
            // Every fifth is a sub-task of an issue the deploy also names.
            if n % 5 == 0 {
                issue = issue.subtask_of(&format!("{project}-{}", n - 1));
            }
            fake.add(issue.build());
            named.push(key);
        }
    }
    // Ready, but not in the deploy.
    fake.add(jira("AB-900", "Done").build());
    let settings = Settings { ready_statuses: vec!["Done".into()], fields: vec!["risk".into()], ..settings(&fake) };
    let named: Vec<&str> = named.iter().map(String::as_str).collect();
    let (client, _) = client("JIRA_TOKEN");
    let facts = gather(&settings, &client, &basic(), &keys(&named)).await.unwrap();

    assert_eq!(facts.asked.len(), 500);
    assert_eq!(facts.issues.len(), 500);
    assert!(facts.issues.values().all(|i| i.fields["customfield_10044"] == FieldValue::Text("Low".into())));
    assert_eq!(facts.ready.len(), 51);
    let bulk = fake.seen_at(BULK);
    assert_eq!(bulk.len(), 5);
    assert_eq!(fake.seen_at(SEARCH).len(), 1);
    assert_eq!(fake.seen_at(FIELDS).len(), 1);
    assert_eq!(fake.seen().len(), 7);
    let mut asked_for = HashSet::new();
    for read in &bulk {
        let keys = read.read_keys();
        assert!(keys.len() <= 100, "{}", keys.len());
        for key in keys {
            assert!(asked_for.insert(key.clone()), "{key} was asked for twice");
        }
    }
    assert_eq!(asked_for.len(), 500);
}

#[tokio::test]
async fn fields_given_by_id_are_checked_against_the_field_list() {
    let fake = Fake::start(Flavor::JiraCloud).await;
    fake.add_field("customfield_10044", "Risk");
    fake.add_field("fixVersions", "Fix versions");
    fake.add(
        jira("AB-1", "Ready")
            .field("customfield_10044", json!({"value": "High"}))
            .field("fixVersions", json!([{"name": "1.4"}, {"name": "1.5"}]))
            .build(),
    );
    // customfield_99999 is a typo: the tracker has no such field, so it is not resolved (issue-fields reports it).
    let settings = Settings {
        fields: vec!["customfield_10044".into(), "fixVersions".into(), "customfield_99999".into()],
        ..settings(&fake)
    };
    let (client, _) = client("JIRA_TOKEN");
    let facts = gather(&settings, &client, &basic(), &keys(&["AB-1"])).await.unwrap();

    assert_eq!(fake.seen_at(FIELDS).len(), 1);
    assert_eq!(facts.fields.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), ["customfield_10044", "fixVersions"]);
    let issue = &facts.issues[&IssueKey::new("AB-1")];
    assert_eq!(issue.fields["customfield_10044"], text("High"));
    assert_eq!(issue.fields["fixVersions"], list(&["1.4", "1.5"]));
    // No ready statuses and no ready query: no search at all.
    assert!(fake.seen_at(SEARCH).is_empty());
    assert!(facts.ready.is_empty());
}

#[tokio::test]
async fn projects_narrow_the_keys_and_the_ready_search() {
    let fake = Fake::start(Flavor::JiraCloud).await;
    fake.add(jira("AB-1", "Ready").build());
    fake.add(jira("AB-2", "Ready").build());
    fake.add(jira("CD-1", "Ready").build());
    let settings = Settings {
        ready_statuses: vec!["Ready".into(), r#"Say "go""#.into()],
        projects: vec!["AB".into()],
        ..settings(&fake)
    };
    let (client, _) = client("JIRA_TOKEN");
    let facts = gather(&settings, &client, &basic(), &keys(&["CD-1", "AB-1"])).await.unwrap();

    assert_eq!(key_strings(&facts.asked), ["AB-1"]);
    assert_eq!(fake.seen_at(BULK)[0].read_keys(), ["AB-1"]);
    assert_eq!(
        fake.seen_at(SEARCH)[0].body["jql"],
        r#"status in ("Ready", "Say \"go\"") AND project in ("AB") ORDER BY key ASC"#
    );
    assert_eq!(key_strings(facts.ready.iter().map(|i| &i.key)), ["AB-1", "AB-2"]);
}

#[tokio::test]
async fn ready_query_replaces_the_default_search() {
    let fake = Fake::start(Flavor::JiraCloud).await;
    fake.add(jira("AB-9", "Staged").build());
    fake.answer_jql("labels = shipit", &["AB-9"]);
    let settings = Settings {
        ready_statuses: vec!["Ready".into()],
        ready_query: Some("labels = shipit".into()),
        ..settings(&fake)
    };
    let (client, _) = client("JIRA_TOKEN");
    let facts = gather(&settings, &client, &basic(), &[]).await.unwrap();

    assert_eq!(fake.seen_at(SEARCH)[0].body["jql"], "labels = shipit");
    assert_eq!(key_strings(facts.ready.iter().map(|i| &i.key)), ["AB-9"]);
    assert_eq!(facts.ready[0].status, "Staged");
}

#[tokio::test]
async fn a_moved_issue_is_filed_under_the_key_asked_for() {
    let fake = Fake::start(Flavor::JiraCloud).await;
    fake.add(jira("CD-7", "In Progress").build());
    fake.move_issue("AB-1", "CD-7");
    fake.add(jira("AB-2", "Ready").build());
    fake.add(jira("AB-3", "Ready").subtask_of("AB-9").build());
    fake.add(jira("EF-4", "Done").build());
    fake.move_issue("AB-9", "EF-4");
    let (client, _) = client("JIRA_TOKEN");
    let facts = gather(&settings(&fake), &client, &basic(), &keys(&["AB-1", "AB-2", "AB-3", "XY-404"])).await.unwrap();

    // Jira answers AB-1 under CD-7: judged under AB-1, its new key kept. XY-404 never existed.
    assert_eq!(key_strings(facts.issues.keys()), ["AB-1", "AB-2", "AB-3", "AB-9"]);
    let ab1 = &facts.issues[&IssueKey::new("AB-1")];
    assert_eq!(ab1.status, "In Progress");
    assert_eq!(ab1.moved_to, Some(IssueKey::new("CD-7")));
    assert_eq!(ab1.url, format!("{}/browse/CD-7", fake.url()));
    assert_eq!(facts.issues[&IssueKey::new("AB-2")].moved_to, None);
    // A parent named by a key it had is found the same way.
    assert_eq!(facts.issues[&IssueKey::new("AB-3")].parent, Some(IssueKey::new("AB-9")));
    assert_eq!(facts.issues[&IssueKey::new("AB-9")].moved_to, Some(IssueKey::new("EF-4")));
    // The keys a bulk read left unanswered are read alone.
    let mut singles: Vec<String> = fake.seen().iter().filter(|s| s.method == "GET").map(|s| s.path.clone()).collect();
    singles.sort();
    assert_eq!(singles, ["/rest/api/3/issue/AB-1", "/rest/api/3/issue/AB-9", "/rest/api/3/issue/XY-404"]);
}

/// SHOP-1 moved and is now CORE-7, and the deploy names both: the bulk read answers CORE-7 (asked for) and nothing
/// else, so no answer tells that SHOP-1 moved. SHOP-1 is read alone all the same, and found.
#[tokio::test]
async fn a_moved_issue_named_by_its_old_and_its_new_key_is_found_under_both() {
    let fake = Fake::start(Flavor::JiraCloud).await;
    fake.add(jira("CORE-7", "In Progress").build());
    fake.move_issue("SHOP-1", "CORE-7");
    let (client, _) = client("JIRA_TOKEN");
    let facts = gather(&settings(&fake), &client, &basic(), &keys(&["SHOP-1", "CORE-7"])).await.unwrap();

    assert_eq!(key_strings(facts.issues.keys()), ["CORE-7", "SHOP-1"]);
    assert_eq!(facts.issues[&IssueKey::new("SHOP-1")].moved_to, Some(IssueKey::new("CORE-7")));
    assert_eq!(facts.issues[&IssueKey::new("SHOP-1")].status, "In Progress");
    assert_eq!(facts.issues[&IssueKey::new("CORE-7")].moved_to, None);
    let singles: Vec<String> = fake.seen().iter().filter(|s| s.method == "GET").map(|s| s.path.clone()).collect();
    assert_eq!(singles, ["/rest/api/3/issue/SHOP-1"]);
}

/// A key the bulk read did not answer is read alone once: a key that really does not exist costs that one read.
#[tokio::test]
async fn a_missing_key_costs_one_read_alone() {
    let fake = Fake::start(Flavor::JiraCloud).await;
    fake.add(jira("AB-1", "Ready").build());
    let (client, _) = client("JIRA_TOKEN");
    let facts = gather(&settings(&fake), &client, &basic(), &keys(&["AB-1", "XY-404"])).await.unwrap();
    assert_eq!(key_strings(facts.issues.keys()), ["AB-1"]);
    let paths: Vec<String> = fake.seen().iter().map(|s| format!("{} {}", s.method, s.path)).collect();
    assert_eq!(paths, [format!("POST {BULK}"), "GET /rest/api/3/issue/XY-404".to_owned()]);
}

#[tokio::test]
async fn the_ready_search_runs_only_when_wanted_and_its_failure_is_its_own() {
    let fake = Fake::start(Flavor::JiraCloud).await;
    fake.add(jira("AB-1", "Ready").build());
    fake.add(jira("AB-2", "Ready").build());
    let (client, _) = client("JIRA_TOKEN");

    let off = Settings { ready_statuses: vec!["Ready".into()], ready_search: false, ..settings(&fake) };
    let facts = gather(&off, &client, &basic(), &keys(&["AB-1"])).await.unwrap();
    assert!(fake.seen_at(SEARCH).is_empty());
    assert!(facts.ready.is_empty() && facts.ready_error.is_none());

    let on = Settings { ready_search: true, ..off };
    fake.then_reply(
        SEARCH,
        Canned::status(400).body(r#"{"errorMessages":["The value 'Ready' does not exist for the field 'status'."]}"#),
    );
    let facts = gather(&on, &client, &basic(), &keys(&["AB-1"])).await.unwrap();
    // The issues were read; only the search failed.
    assert_eq!(facts.issues[&IssueKey::new("AB-1")].status, "Ready");
    assert!(facts.ready.is_empty());
    let error = facts.ready_error.unwrap();
    assert!(error.contains("does not exist for the field 'status'"), "{error}");
}
