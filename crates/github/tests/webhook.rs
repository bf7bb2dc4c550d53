//! Every real payload example in `shared/data/github-webhooks/`, signed here with a test secret: the signature
//! verifies only for the exact body and secret, and each payload parses as its event.

use std::fs;
use std::path::{Path, PathBuf};

use greenlight_github::{Event, NULL_SHA, Ping, Push, SignatureError, parse, sign, verify_signature};

const SECRET: &[u8] = b"greenlight test secret";

fn examples_dir() -> PathBuf {
    // At run time: a build reused from a checkout at another path must read this checkout's `../shared`.
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()))
        .join("../../../shared/data/github-webhooks")
}

/// (event, file name, raw body) for every example, sorted.
fn examples() -> Vec<(String, String, Vec<u8>)> {
    let dir = examples_dir();
    let mut found = Vec::new();
    let events = fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for event in events {
        let event = event.unwrap().path();
        if !event.is_dir() {
            continue;
        }
        let name = event.file_name().unwrap().to_str().unwrap().to_owned();
        for file in fs::read_dir(&event).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|e| e == "json") {
                let file_name = file.file_name().unwrap().to_str().unwrap().to_owned();
                found.push((name.clone(), file_name, fs::read(&file).unwrap()));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_example_is_covered() {
    let examples = examples();
    let count = |event: &str| examples.iter().filter(|(e, ..)| e == event).count();
    assert_eq!(count("push"), 6);
    assert_eq!(count("ping"), 3);
    assert!(examples.len() >= 40, "only {} examples", examples.len());
}

#[test]
fn every_example_verifies_only_with_its_own_signature() {
    for (event, file, body) in examples() {
        let signature = sign(SECRET, &body);
        assert_eq!(verify_signature(SECRET, &body, Some(&signature)), Ok(()), "{event}/{file}");

        let mut tampered = body.clone();
        let last = tampered.iter().rposition(|b| b.is_ascii_alphanumeric()).unwrap();
        tampered[last] ^= 0x01;
        assert_eq!(
            verify_signature(SECRET, &tampered, Some(&signature)),
            Err(SignatureError::Mismatch),
            "{event}/{file}"
        );
        assert_eq!(
            verify_signature(b"another secret", &body, Some(&signature)),
            Err(SignatureError::Mismatch),
            "{event}/{file}"
        );
        assert_eq!(verify_signature(SECRET, &body, None), Err(SignatureError::Missing), "{event}/{file}");
    }
}

#[test]
fn every_example_parses_as_its_event() {
    for (event, file, body) in examples() {
        let parsed = parse(&event, &body).unwrap_or_else(|e| panic!("{event}/{file}: {e}"));
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        match (event.as_str(), parsed) {
            ("push", Event::Push(push)) => {
                assert_eq!(push.repository, json["repository"]["full_name"], "{file}");
                assert_eq!(push.clone_url, json["repository"]["clone_url"], "{file}");
                assert_eq!(push.git_ref, json["ref"], "{file}");
                assert_eq!(push.before, json["before"], "{file}");
                assert_eq!(push.after, json["after"], "{file}");
                assert_eq!(push.forced, json["forced"], "{file}");
                assert_eq!(push.sender.as_deref(), json["sender"]["login"].as_str(), "{file}");
                assert_eq!(push.pusher.as_deref(), json["pusher"]["name"].as_str(), "{file}");
                assert_eq!(push.head_commit.as_deref(), json["head_commit"]["id"].as_str(), "{file}");
            }
            ("ping", Event::Ping(ping)) => {
                assert_eq!(ping.hook_id, json["hook_id"].as_u64(), "{file}");
                assert_eq!(ping.zen.as_deref(), json["zen"].as_str(), "{file}");
                assert_eq!(ping.repository.as_deref(), json["repository"]["full_name"].as_str(), "{file}");
            }
            (name, Event::Other(other)) => {
                assert!(name != "push" && name != "ping", "{name}/{file}");
                assert_eq!(other, name, "{file}");
            }
            (name, parsed) => panic!("{name}/{file} parsed as {parsed:?}"),
        }
    }
}

fn push(file: &str) -> Push {
    let body = fs::read(examples_dir().join("push").join(file)).unwrap();
    match parse("push", &body).unwrap() {
        Event::Push(push) => push,
        other => panic!("{other:?}"),
    }
}

#[test]
fn tag_deletions() {
    for file in ["payload.json", "1.payload.json", "with-installation.payload.json", "with-organization.payload.json"] {
        let push = push(file);
        assert_eq!(push.repository, "Codertocat/Hello-World", "{file}");
        assert_eq!(push.clone_url, "https://github.com/Codertocat/Hello-World.git", "{file}");
        assert_eq!(push.git_ref, "refs/tags/simple-tag", "{file}");
        assert_eq!((push.branch(), push.tag()), (None, Some("simple-tag")), "{file}");
        assert_eq!(push.before, "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "{file}");
        assert_eq!(push.after, NULL_SHA, "{file}");
        assert!(push.deleted && !push.created && !push.forced, "{file}");
        assert_eq!(push.head_commit, None, "{file}");
        assert_eq!(push.pusher.as_deref(), Some("Codertocat"), "{file}");
        assert_eq!(push.sender.as_deref(), Some("Codertocat"), "{file}");
    }
}

#[test]
fn new_branches() {
    for file in ["with-new-branch.payload.json", "with-no-username-committer.payload.json"] {
        let push = push(file);
        assert_eq!(push.branch(), Some("master"), "{file}");
        assert_eq!(push.before, NULL_SHA, "{file}");
        assert_eq!(push.after, "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "{file}");
        assert!(push.created && !push.deleted && !push.forced, "{file}");
        assert_eq!(push.head_commit.as_deref(), Some(push.after.as_str()), "{file}");
    }
}

#[test]
fn pings() {
    let body = fs::read(examples_dir().join("ping/payload.json")).unwrap();
    assert_eq!(
        parse("ping", &body).unwrap(),
        Event::Ping(Ping {
            hook_id: Some(109948940),
            zen: Some("Anything added dilutes everything else.".into()),
            repository: Some("Octocoders/Hello-World".into()),
        })
    );
    let body = fs::read(examples_dir().join("ping/with-organization.payload.json")).unwrap();
    let Event::Ping(ping) = parse("ping", &body).unwrap() else { panic!("not a ping") };
    assert_eq!(ping.repository, None);
}

#[test]
fn a_payload_read_as_the_wrong_event_says_what_is_missing() {
    let body = fs::read(examples_dir().join("ping/payload.json")).unwrap();
    let message = parse("push", &body).unwrap_err().to_string();
    assert!(message.starts_with("malformed push payload"), "{message}");
    assert!(message.contains("missing field `ref`"), "{message}");
}
