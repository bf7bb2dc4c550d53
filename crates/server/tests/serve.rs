//! `greenlight serve` in process, end to end: real payloads signed here, real git repositories as remotes, a fake
//! GitHub that records statuses, and each scenario on SQLite and on PostgreSQL.

use greenlight_github::webhook::sign;
use greenlight_http::Secret;
use greenlight_server::{Running, Secrets, ServerConfig};
use greenlight_testkit::TestRepo;
use greenlight_testkit::browser::Browser;
use greenlight_testkit::github::{FakeGitHub, Mode, push_payload, shared_data};
use serde_json::Value;

const SECRET: &str = "It's a Secret to Everybody";
const JIRA_SECRET: &str = "jira secret";
const API_TOKEN: &str = "api token";

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Setup::sqlite()).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let dir = tempfile::tempdir().unwrap();
                super::$name(super::Setup { url: greenlight_testkit::postgres_database(), dir }).await;
            })*
        }
    };
}

on_both!(
    a_push_gets_pending_then_a_final_status_and_a_page,
    a_redelivery_is_answered_but_not_processed_again,
    what_is_not_a_deploy_push_is_acknowledged_and_ignored,
    signatures_and_bodies_are_checked_before_anything_else,
    a_github_outage_is_ridden_out_without_a_storm,
    fetches_refused_during_a_remote_outage_cost_no_attempts,
    shutdowns_that_stop_a_fetch_cost_no_attempts,
    an_issue_update_rechecks_the_open_deploys_that_name_it,
    the_api_rechecks_with_a_bearer_token,
    a_push_whose_webhook_never_came_is_found_by_reconciling,
    health_readiness_and_metrics,
);

/// PostgreSQL only (a SQLite file cannot be taken away from a process that holds it open): `/readyz` answers 503
/// once the database is gone, promptly, while `/healthz` still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_store() {
    let url = greenlight_testkit::postgres_database();
    let h = Setup { url: url.clone(), dir: tempfile::tempdir().unwrap() }.start().await;
    assert_eq!(h.get("/readyz").await, (200, "ready\n".to_owned()));
    greenlight_testkit::drop_postgres_database(&url);
    assert_eq!(h.get("/readyz").await, (503, "the store is unreachable\n".to_owned()));
    assert_eq!(h.get("/healthz").await, (200, "ok\n".to_owned()));
    h.shutdown().await;
}

/// PostgreSQL only: a push while the database is unreachable is answered 503 ("retry it") before GitHub gives up
/// on the delivery (10 s), so that GitHub shows the answer rather than a timeout. The database is reached through a
/// proxy of the test's own, cut after the start: the connections it carried are closed, and every new one is taken
/// and never answered, as by a host that went away behind a load balancer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_during_a_database_outage_is_answered_before_github_gives_up() {
    let url = greenlight_testkit::postgres_database();
    let (server, name) = url.rsplit_once('/').unwrap();
    let upstream: std::net::SocketAddr = server.rsplit_once('@').unwrap().1.parse().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxied = format!("postgres://postgres@{}/{name}", listener.local_addr().unwrap());
    let (cut, on_cut) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut unanswered = Vec::new();
        while let Ok((mut client, _)) = listener.accept().await {
            if *on_cut.borrow() {
                unanswered.push(client);
                continue;
            }
            let mut on_cut = on_cut.clone();
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else { return };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    _ = on_cut.wait_for(|cut| *cut) => {}
                }
            });
        }
    });
    let h = Setup { url: proxied, dir: tempfile::tempdir().unwrap() }.start().await;
    let sha = h.push_commits(&["ABC-2 a feature"]);
    cut.send(true).unwrap();
    let body = h.payload("deploy", &sha);
    // GitHub's own limit: what has no answer by then is a timeout in its list of deliveries.
    let answered = h
        .webhook("application/json", "push", "during-the-outage", &body, &sign(SECRET.as_bytes(), &body))
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .expect("an answer before GitHub gives up");
    assert_eq!(answered.status().as_u16(), 503);
    let json: Value = answered.json().await.unwrap();
    assert_eq!(json["message"], "the delivery could not be stored; retry it", "{json}");
    h.shutdown().await;
}

/// SQLite only: after a failed sync of the WAL, the kernel may have dropped what the sync was to write, so the store
/// refuses every later write instead of acknowledging pushes that a crash could lose. The push whose sync failed and
/// every one after it get 503, and `/healthz` and `/readyz` say why, until a restart; the restarted server has the
/// pushes acknowledged before and accepts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_refuses_every_later_write_until_a_restart() {
    let setup = Setup::sqlite();
    // The fail point is named after the database, so that the scenarios running beside this one are not touched.
    let fail_point = format!("store-sync:{}", setup.dir.path().join("gl.db").display());
    let mut h = setup.start().await;
    let first = h.push_commits(&["ABC-2 before the failure"]);
    let deploy = h.push("d1", &first).await["deploy"].as_i64().unwrap();

    fail::cfg(&fail_point, "return").unwrap();
    let second = h.push_commits(&["ABC-3 during the failure"]);
    let (status, body) = h.deliver("push", "d2", &h.payload("deploy", &second)).await;
    assert_eq!(status, 503, "{body}");
    fail::remove(&fail_point);

    let (status, body) = h.deliver("push", "d3", &h.payload("deploy", &second)).await;
    assert_eq!((status, &body["status"]), (503, &Value::from("error")), "still refused: {body}");
    let recheck =
        h.http.post(format!("{}/api/deploys/{deploy}/recheck", h.base)).bearer_auth(API_TOKEN).send().await.unwrap();
    assert_eq!(recheck.status().as_u16(), 503, "every write is refused, not only pushes");
    for probe in ["/healthz", "/readyz"] {
        let (code, text) = h.get(probe).await;
        assert_eq!(code, 503, "{probe}: {text}");
        assert!(text.contains("injected by a test") && text.contains("restart greenlight"), "{probe}: {text}");
    }

    h.restart().await;
    assert_eq!(h.get("/readyz").await, (200, "ready\n".to_owned()));
    assert_eq!(h.get("/healthz").await, (200, "ok\n".to_owned()));
    let (code, json) = h.get(&format!("/api/deploys/{deploy}")).await;
    assert_eq!(code, 200, "the push acknowledged before the failure is kept: {json}");
    let again = h.push("d3", &second).await;
    h.finals(&second, 1).await;
    assert!(again["deploy"].as_i64().is_some(), "{again}");
    h.shutdown().await;
}

/// A client that gives up while its push waits for the store still gets the push processed, counted and logged.
/// SQLite only: the test holds the database's write lock to keep the commit waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_client_gave_up_waiting_is_still_accepted_and_counted() {
    let setup = Setup::sqlite();
    let path = setup.dir.path().join("gl.db");
    let h = setup.start().await;
    let sha = h.push_commits(&["ABC-2 a feature"]);
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let body = h.payload("deploy", &sha);
    let gave_up = h
        .webhook("application/json", "push", "impatient", &body, &sign(SECRET.as_bytes(), &body))
        .timeout(std::time::Duration::from_millis(300))
        .send()
        .await;
    assert!(gave_up.unwrap_err().is_timeout());
    blocker.execute_batch("COMMIT").unwrap();
    assert_eq!(h.finals(&sha, 1).await, ["success"]);
    h.assert_metrics(&["greenlight_webhook_deliveries_total{event=\"push\",outcome=\"accepted\"} 1"]).await;
    h.shutdown().await;
}

/// A commit the remote does not have (a webhook for a force-pushed-away commit, say) is tried for a while, then gets
/// an `error` status that says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_that_never_reaches_the_remote_ends_with_an_error_status() {
    let h = Setup::sqlite().start().await;
    let missing = "1234567890abcdef1234567890abcdef12345678";
    h.push("gone", missing).await;
    assert_eq!(h.finals(missing, 1).await, ["error"]);
    let last = h.github.statuses_of(missing).pop().unwrap();
    assert!(last.description.starts_with("could not check: "), "{}", last.description);
    assert!(last.description.contains(missing), "{}", last.description);
    h.assert_metrics(&["greenlight_checks_total{verdict=\"error\"} 1"]).await;
    h.shutdown().await;
}

/// A remote that is really gone is left alone: after 5 failed fetches in a row its breaker opens, and the jobs that
/// need it skip the fetch until the breaker lets one through (one per 300 ms cooldown here). Only the fetches really
/// tried count as attempts: each job ends with an `error` status saying why after 10 of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_that_keeps_failing_is_left_alone_by_its_breaker() {
    let h = Setup::sqlite().start().await;
    let on_deploy = h.push_commits(&["ABC-2 a feature"]);
    let on_hotfix = h.commit_on("hotfix", &["ABC-3 a fix"]);
    let away = h.remote.path().with_extension("away");
    std::fs::rename(h.remote.path(), &away).unwrap();
    h.push("d1", &on_deploy).await;
    h.push_to("hotfix", "d2", &on_hotfix).await;
    for sha in [&on_deploy, &on_hotfix] {
        assert_eq!(h.finals(sha, 1).await, ["error"]);
        let last = h.github.statuses_of(sha).pop().unwrap();
        assert!(last.description.starts_with("could not check: git fetch failed"), "{}", last.description);
    }
    // Two jobs of 10 attempts each, every one a fetch that was tried and failed; the refused ones (any number) are
    // not attempts.
    let metrics = h.assert_metrics(&["greenlight_git_fetches_total{outcome=\"failed\"} 20"]).await;
    assert!(counter(&metrics, "greenlight_git_fetches_total{outcome=\"refused\"}") > 0, "{metrics}");
    std::fs::rename(&away, h.remote.path()).unwrap();
    h.shutdown().await;
}

/// A fetch that fails on the mirror's side is not the remote's failure: it never opens the remote's breaker, and its
/// job still ends with an `error` status that says why after its 10 tries. Here the mirror's `FETCH_HEAD` is a
/// directory, which stops git before it reaches the remote, as root too (like a full disk or a directory git may not
/// write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_that_fails_on_the_mirrors_side_does_not_open_the_remotes_breaker() {
    let h = Setup::sqlite().start().await;
    let first = h.push_commits(&["ABC-2 a feature"]);
    h.push("d1", &first).await;
    assert_eq!(h.finals(&first, 1).await, ["success"]);
    let fetch_head = h._dir.path().join("data/acme/shop.git/FETCH_HEAD");
    let _ = std::fs::remove_file(&fetch_head);
    std::fs::create_dir(&fetch_head).unwrap();
    let second = h.push_commits(&["ABC-3 another feature"]);
    h.push("d2", &second).await;
    assert_eq!(h.finals(&second, 1).await, ["error"]);
    let last = h.github.statuses_of(&second).pop().unwrap();
    assert!(last.description.starts_with("could not check: git fetch failed: "), "{}", last.description);
    assert!(last.description.contains("FETCH_HEAD"), "{}", last.description);
    let metrics = h.assert_metrics(&["greenlight_git_fetches_total{outcome=\"local\"} 10"]).await;
    for outcome in ["failed", "refused"] {
        let series = format!("greenlight_git_fetches_total{{outcome=\"{outcome}\"}}");
        assert_eq!(counter(&metrics, &series), 0, "{series}:\n{metrics}");
    }
    h.shutdown().await;
}

/// A shutdown does not wait for a fetch from a remote that hangs (git's own timeout is 10 minutes): the fetch is
/// stopped, and the job runs again after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_stops_a_hung_fetch() {
    let mut h = Setup::sqlite().start().await;
    h.fetch_from_payloads().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging = format!("http://{}/shop.git", listener.local_addr().unwrap());
    let sha = h.push_commits(&["ABC-2 a feature"]);
    let body = push_payload("acme/shop", "deploy", &sha, &hanging);
    let (status, _) = h.deliver("push", "d1", &body).await;
    assert_eq!(status, 202);
    // git has connected to the remote, which never answers.
    let (connection, _) = tokio::task::spawn_blocking(move || listener.accept().unwrap()).await.unwrap();
    // A bound, so that a shutdown that waits for git fails here instead of hanging the suite for its 10 minutes.
    let bound = std::time::Duration::from_secs(120);
    tokio::time::timeout(bound, h.shutdown()).await.expect("the shutdown waited for the hung fetch");
    drop(connection);
}

/// GitHub's repository names are not case-sensitive: a payload spelling the configured repository otherwise is
/// the same repository, stored as the config spells it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_may_spell_the_repository_in_another_case() {
    let h = Setup::sqlite().start().await;
    let sha = h.push_commits(&["ABC-2 a feature"]);
    let mut payload: Value = serde_json::from_slice(&h.payload("deploy", &sha)).unwrap();
    payload["repository"]["full_name"] = "ACME/Shop".into();
    let (status, body) = h.deliver("push", "c1", &serde_json::to_vec(&payload).unwrap()).await;
    assert_eq!(status, 202, "{body}");
    let deploy = body["deploy"].as_i64().unwrap();
    assert_eq!(h.finals(&sha, 1).await, ["success"]);
    let (_, json) = h.get(&format!("/api/deploys/{deploy}")).await;
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["repo"], "acme/shop", "{json}");
    h.shutdown().await;
}

/// A final status GitHub refuses for good (a commit with 1,000 statuses) ends the job without a retry, and the
/// metrics say it was refused rather than posted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_final_status_github_refuses_for_good_ends_the_job_and_is_counted_as_refused() {
    let h = Setup::sqlite().start().await;
    h.github.set_mode(Mode::Full);
    let sha = h.push_commits(&["ABC-2 a feature"]);
    let deploy = h.push("d1", &sha).await["deploy"].as_i64().unwrap();
    h.job_done(deploy).await;
    let calls = h.github.calls();
    assert_eq!(calls, 2, "pending and the final status, each tried once");
    h.assert_metrics(&["greenlight_jobs_finished_total{state=\"refused\"} 1"]).await;
    assert!(h.github.statuses().is_empty());
    let (_, json) = h.get(&format!("/api/deploys/{deploy}")).await;
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["status"], "refused", "not the state GitHub never got: {json}");
    h.shutdown().await;
}

/// GitHub's webhook form defaults to `application/x-www-form-urlencoded`: the JSON is the url-encoded `payload`
/// field, and the signature covers the form as sent. A signed form-encoded ping and push are taken like JSON ones;
/// a form whose signature covers other bytes, or without a `payload` field, is refused. SQLite only: the store plays
/// no part in reading a body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_encoded_delivery_is_read_from_its_payload_field() {
    let h = Setup::sqlite().start().await;
    let form = |json: &[u8]| {
        let json = std::str::from_utf8(json).unwrap();
        form_urlencoded::Serializer::new(String::new()).append_pair("payload", json).finish().into_bytes()
    };
    let ping = form(shared_data("github-webhooks/ping/payload.json").as_bytes());
    let (status, body) = h.deliver_form("ping", "p1", &ping, &sign(SECRET.as_bytes(), &ping)).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("pong")), "{body}");

    let sha = h.push_commits(&["ABC-2 a feature"]);
    let push = form(&h.payload("deploy", &sha));
    let (status, body) = h.deliver_form("push", "f1", &push, &sign(SECRET.as_bytes(), &push)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(h.finals(&sha, 1).await, ["success"]);

    // The signature is over the raw form, not over the JSON inside it.
    let json = h.payload("deploy", &sha);
    let (status, _) = h.deliver_form("push", "f2", &push, &sign(SECRET.as_bytes(), &json)).await;
    assert_eq!(status, 401);
    let empty = b"other=1".to_vec();
    let (status, body) = h.deliver_form("push", "f3", &empty, &sign(SECRET.as_bytes(), &empty)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("payload"), "{body}");
    h.shutdown().await;
}

/// A request whose body, or whose headers, do not arrive within `read_timeout` (1 s here) is not waited for: a body
/// promised by `Content-Length` and never sent is answered `408`, and headers that never end get the connection
/// closed. The sockets' own read timeout only keeps a broken server from hanging the suite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_stalls_is_answered_or_closed_after_the_read_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = accepting_only(dir.path(), "1s").await;
    let addr = server.addr();
    let stalled = |request: &'static str| {
        tokio::task::spawn_blocking(move || {
            use std::io::{Read as _, Write as _};
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut answer = Vec::new();
            match stream.read_to_end(&mut answer) {
                Ok(_) => Ok(String::from_utf8_lossy(&answer).into_owned()),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(String::new()),
                Err(e) => Err(e),
            }
        })
    };
    let body = "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-GitHub-Event: push\r\n\
                X-Hub-Signature-256: sha256=0000000000000000000000000000000000000000000000000000000000000000\r\n\
                Content-Length: 100\r\n\r\n";
    let answer = stalled(body).await.unwrap().expect("neither an answer nor a close");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let headers = "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Ev";
    let answer = stalled(headers).await.unwrap().expect("neither an answer nor a close");
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    server.shutdown().await.unwrap();
}

/// An unsigned delivery is refused before its body is read, and the bodies being read at once are bounded: ten
/// 25 MB uploads that never arrive hold the budget, an eleventh is answered `503` at once, a usual delivery still
/// gets through, and the budget comes back when they hang up. `read_timeout` is an hour: a server that waited for
/// any of these bodies would hold the test until its sockets' own timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_and_outsized_bodies_are_refused_before_they_are_read() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    const MAX: usize = greenlight_github::webhook::MAX_BODY_BYTES;
    let dir = tempfile::tempdir().unwrap();
    let server = accepting_only(dir.path(), "1h").await;
    let addr = server.addr();
    let forged = format!("sha256={}", "0".repeat(64));
    // Headers only: a body promised and never sent.
    let promise = async |signature: Option<&str>, length: usize| {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let signature = signature.map(|s| format!("X-Hub-Signature-256: {s}\r\n")).unwrap_or_default();
        let head = format!(
            "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n{signature}Content-Length: {length}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream
    };
    let answer_of = async |mut stream: tokio::net::TcpStream| {
        let mut answer = vec![0u8; 1024];
        let read = tokio::time::timeout(std::time::Duration::from_secs(60), stream.read(&mut answer)).await;
        let read = read.expect("no answer: the server waited for the body").unwrap();
        String::from_utf8_lossy(&answer[..read]).into_owned()
    };
    let answer = answer_of(promise(None, 1_000_000).await).await;
    assert!(answer.starts_with("HTTP/1.1 401") && answer.contains("missing X-Hub-Signature-256"), "{answer}");
    let answer = answer_of(promise(Some("sha1=abc"), 1_000_000).await).await;
    assert!(answer.starts_with("HTTP/1.1 401") && answer.contains("malformed"), "{answer}");
    let answer = answer_of(promise(Some(&forged), MAX + 1).await).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // A whole body of `length` bytes with a wrong signature, chunked or with its length: 401 once read, 503 while
    // the budget is held. The answer is read while the body is still being written: a 503 comes before it, and the
    // server may hang up on the rest.
    let whole = async |length: usize, chunked: bool| {
        let stream = if chunked {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let head = format!(
                "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: {forged}\r\n\
                 Transfer-Encoding: chunked\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            stream
        } else {
            promise(Some(&forged), length).await
        };
        let (mut read, mut write) = stream.into_split();
        // Returns its half, not dropping it: that would end the request's side of the connection before the answer.
        let writer = tokio::spawn(async move {
            let mut left = length;
            while left > 0 {
                let size = left.min(1 << 20);
                let mut chunk = if chunked { format!("{size:x}\r\n").into_bytes() } else { Vec::new() };
                chunk.resize(chunk.len() + size, b' ');
                if chunked {
                    chunk.extend_from_slice(b"\r\n");
                }
                if write.write_all(&chunk).await.is_err() {
                    return write;
                }
                left -= size;
            }
            if chunked {
                let _ = write.write_all(b"0\r\n\r\n").await;
            }
            write
        });
        let mut answer = vec![0u8; 1024];
        let got = tokio::time::timeout(std::time::Duration::from_secs(60), read.read(&mut answer)).await;
        let got = got.expect("no answer to a whole body").unwrap();
        writer.abort();
        let head = String::from_utf8_lossy(&answer[..got]).into_owned();
        head.get(9..12).and_then(|code| code.parse::<u16>().ok()).unwrap_or_else(|| panic!("not an answer: {head}"))
    };
    // Without a length, a body is read up to the limit, and refused past it.
    assert_eq!(whole(MAX + 1, true).await, 413);
    assert_eq!(whole(1000, true).await, 401);
    let probe = async || whole(MAX, false).await;
    let http = reqwest::Client::new();
    assert_eq!(probe().await, 401);
    let mut holding = Vec::new();
    for _ in 0..10 {
        holding.push(promise(Some(&forged), MAX).await);
    }
    let mut seen = Vec::new();
    for _ in 0..200 {
        // The ten are taken in as the server gets to them.
        seen.push(probe().await);
        if seen.last() == Some(&503) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(seen.last(), Some(&503), "an eleventh 25 MB body was read while ten held the budget: {seen:?}");
    let ping = br#"{"zen": "Keep it logically awesome.", "hook_id": 1}"#;
    let response = http
        .post(format!("http://{addr}/webhooks/github"))
        .header("X-GitHub-Event", "ping")
        .header("X-GitHub-Delivery", "p1")
        .header("X-Hub-Signature-256", sign(SECRET.as_bytes(), ping))
        .body(ping.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "a usual delivery fits beside them");
    drop(holding);
    let mut given_back = false;
    for _ in 0..200 {
        if probe().await == 401 {
            given_back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(given_back, "the budget was not given back when the uploads hung up");
    server.shutdown().await.unwrap();
}

/// A push accepted before payloads were held to http(s) urls may have stored a path or a `file://` url: with no
/// `clone_url` in the config, the server fetches from neither (a job or reconciling), and says what to set instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_clone_url_that_is_not_http_is_never_fetched() {
    let mut h = Setup::sqlite().start().await;
    h.config.repositories.values_mut().for_each(|repo| repo.clone_url = None);
    let sha = h.push_commits(&["ABC-2 a feature"]);
    let old = greenlight_store::NewPush {
        delivery: "before-the-fix".into(),
        repo: "acme/shop".into(),
        branch: "deploy".into(),
        sha: sha.clone(),
        clone_url: format!("file://{}", h.remote.path().display()),
        read_at: None,
        before: None,
    };
    let database = h.config.database_url.clone();
    h.restart_after(async move || {
        let store = greenlight_store::Store::connect(&database).await.unwrap();
        store.accept(&[old], 0).await.unwrap();
    })
    .await;
    assert_eq!(h.finals(&sha, 1).await, ["error"]);
    let status = h.github.statuses_of(&sha).pop().unwrap();
    assert!(status.description.contains("is not an http(s) url"), "{}", status.description);
    let (_, metrics) = h.get("/metrics").await;
    assert_eq!(counter(&metrics, "greenlight_git_fetches_total{outcome=\"ok\"}"), 0, "{metrics}");
    h.shutdown().await;
}

/// An `error` keeps its whole reason: only the status description GitHub gets is cut to 140 characters; the page and
/// the API say all of it. Here the rules at the pushed commit have a misspelt key, whose error lists every key the
/// section takes. SQLite only: the store keeps the text as it is given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_keeps_its_whole_reason_and_only_the_status_is_cut() {
    let h = Setup::sqlite().start().await;
    let typo = "patern_spelt_wrong_under_a_name_long_enough_to_pass_the_limit";
    let sha = h.remote.commit_file("greenlight.toml", &format!("[keys]\n{typo} = 1\n"), "ABC-2 rules with a typo");
    h.remote.branch("deploy", &sha);
    let deploy = h.push("d1", &sha).await["deploy"].as_i64().unwrap();
    assert_eq!(h.finals(&sha, 1).await, ["error"]);
    let status = h.github.statuses_of(&sha).pop().unwrap();
    assert!(status.description.chars().count() <= 140 && status.description.ends_with('…'), "{}", status.description);
    assert!(!status.description.contains("ignore_case"), "{}", status.description);

    h.job_done(deploy).await;
    let (_, json) = h.get(&format!("/api/deploys/{deploy}")).await;
    let json: Value = serde_json::from_str(&json).unwrap();
    let summary = json["summary"].as_str().unwrap();
    assert!(summary.starts_with("could not check: greenlight.toml at "), "{json}");
    assert!(summary.contains(typo) && summary.ends_with("`ignore_case`"), "{json}");
    let (_, page) = h.get(&format!("/deploys/{deploy}")).await;
    assert!(page.contains(typo) && page.contains("ignore_case"), "{page}");
    h.shutdown().await;
}

/// A repository's own greenlight.toml may not choose where the server sends the secrets it names by variable: its
/// tracker must be the server config's `[tracker]`, kind, url and variables alike. `PATH` and `HOME` stand for the
/// server's secrets (every process has them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_may_not_send_the_servers_secrets_to_a_tracker_of_its_choosing() {
    use greenlight_deploy::tracker::{Connection, TrackerKind};
    use greenlight_testkit::scripted::{Reply, Scripted};

    let tracker = Scripted::start([], Reply::json(r#"{"issues": [], "total": 0}"#)).await;
    let url = tracker.url("/").as_str().trim_end_matches('/').to_owned();
    let rules = |token_env: &str| {
        format!(
            "[tracker]\nkind = \"jira-dc\"\nurl = \"{url}\"\ntoken_env = \"{token_env}\"\nready_statuses = [\"Done\"]\n"
        )
    };
    let mut h = Setup::sqlite().start().await;
    let summary_of = async |h: &Harness, delivery: &str, sha: &str| {
        h.remote.branch("deploy", sha);
        let deploy = h.push(delivery, sha).await["deploy"].as_i64().unwrap();
        h.job_done(deploy).await;
        let (_, json) = h.get(&format!("/api/deploys/{deploy}")).await;
        let json: Value = serde_json::from_str(&json).unwrap();
        (json["status"].as_str().unwrap().to_owned(), json["summary"].as_str().unwrap().to_owned())
    };

    // No [tracker] on the server: a repository may name none.
    let sha = h.remote.commit_file("greenlight.toml", &rules("PATH"), "ABC-2 send PATH away");
    let (status, summary) = summary_of(&h, "d1", &sha).await;
    assert_eq!(status, "error", "{summary}");
    assert!(summary.contains("the server config has no [tracker]") && summary.contains("token_env PATH"), "{summary}");
    assert_eq!(tracker.hits(), 0, "the repository's tracker was called");

    // The server allows this tracker with HOME: the same url with PATH is still refused.
    h.config.tracker = Some(Connection {
        kind: TrackerKind::JiraDc,
        url: url.clone(),
        user_env: None,
        token_env: Some("HOME".into()),
    });
    h.restart().await;
    let sha = h.remote.commit_file("greenlight.toml", &(rules("PATH") + "# again\n"), "ABC-3 send PATH again");
    let (status, summary) = summary_of(&h, "d2", &sha).await;
    assert_eq!(status, "error", "{summary}");
    assert!(
        summary.contains(&format!("not the one the server's [tracker] allows (jira-dc at {url}, token_env HOME)")),
        "{summary}"
    );
    assert_eq!(tracker.hits(), 0, "the repository's tracker was called");

    // Named as the server allows it, the tracker is asked, with the secret the operator chose.
    let sha = h.remote.commit_file("greenlight.toml", &rules("HOME"), "ABC-4 the allowed tracker");
    let (_, summary) = summary_of(&h, "d3", &sha).await;
    let seen = tracker.seen();
    assert!(!seen.is_empty(), "the allowed tracker was not asked: {summary}");
    let home = std::env::var("HOME").unwrap();
    assert!(seen.iter().all(|r| r.header("authorization") == Some(&format!("Bearer {home}"))), "{seen:?}");
    h.shutdown().await;
}

/// A server that only accepts webhooks (no workers, GitHub a dead port), with `read_timeout`, on SQLite in `dir`.
async fn accepting_only(dir: &std::path::Path, read_timeout: &str) -> Running {
    let config = format!(
        r#"
listen = "127.0.0.1:0"
public_url = "http://greenlight.test"
database_url = "sqlite://{db}"
data_dir = "{data}"
workers = 0
read_timeout = "{read_timeout}"

[github]
api_url = "http://127.0.0.1:9"

[[repositories]]
name = "acme/shop"
production = "production"
deploy_branches = ["deploy"]
"#,
        db = dir.join("gl.db").display(),
        data = dir.join("data").display(),
    );
    let config = ServerConfig::parse(&config, "server.toml").unwrap();
    greenlight_server::start_with(config, secrets()).await.unwrap()
}

fn secrets() -> Secrets {
    Secrets {
        webhook: Secret::new(SECRET),
        jira: Some(Secret::new(JIRA_SECRET)),
        api_token: Some(Secret::new(API_TOKEN)),
        github_token: Secret::new("ghp_test"),
    }
}

/// A store for one scenario and a directory for its files.
struct Setup {
    url: String,
    dir: tempfile::TempDir,
}

impl Setup {
    /// A fresh SQLite file, `gl.db` in the scenario's directory.
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("gl.db").display());
        Self { url, dir }
    }

    async fn start(self) -> Harness {
        Harness::start(self, false, Timings::Scaled).await
    }

    /// The remote's `deploy` branch already has a commit, pushed while no webhook reached the server.
    async fn start_with_a_missed_push(self) -> Harness {
        Harness::start(self, true, Timings::Scaled).await
    }
}

/// How long the server waits for things: scaled down, so that a scenario takes seconds; scaled down but with
/// breakers that stay open for 2 s once open, far longer than a job's retries; or the defaults.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Timings {
    Scaled,
    SlowBreakers,
    Default,
}

/// The scaled-down timings; the defaults are in `ServerConfig` and `greenlight_http::Policy`.
const SCALED_SERVER: &str = "lease = \"2s\"\nretry_first = \"50ms\"\nretry_max = \"400ms\"";
const SCALED_GITHUB: &str = "breaker_cooldown = \"300ms\"\nattempt_timeout = \"2s\"";

/// A remote whose `production` branch has one commit, a fake GitHub, and a server gating `deploy` and `hotfix`.
struct Harness {
    server: Option<Running>,
    config: ServerConfig,
    base: String,
    github: FakeGitHub,
    remote: TestRepo,
    production: String,
    /// The `deploy` tip pushed before the server started, when asked for.
    missed: Option<String>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn start(Setup { url: database_url, dir }: Setup, missed_push: bool, timings: Timings) -> Self {
        let remote = TestRepo::new();
        let production = remote.commit_file("README", "shop\n", "ABC-1 start the shop");
        remote.branch("production", &production);
        let missed = missed_push.then(|| {
            let tip = remote.chain(&production, &["ABC-5 shipped while greenlight was down"]);
            remote.branch("deploy", &tip);
            tip
        });
        // A payload's own clone_url is GitHub's https url, which a test cannot serve: the config names the remote.
        let extra = format!("clone_url = \"{}\"", remote.path().display());
        let github = FakeGitHub::start().await;
        let (server_timings, github_timings) = match timings {
            Timings::Scaled => (SCALED_SERVER, SCALED_GITHUB),
            Timings::SlowBreakers => (SCALED_SERVER, "breaker_cooldown = \"2s\"\nattempt_timeout = \"2s\""),
            Timings::Default => ("", ""),
        };
        let config = format!(
            r#"
listen = "127.0.0.1:0"
public_url = "http://greenlight.test"
database_url = "{database_url}"
data_dir = "{data}"
workers = 2
reconcile_every = "1h"
{server_timings}

[github]
api_url = "{api}"
{github_timings}

[[repositories]]
name = "acme/shop"
production = "production"
deploy_branches = ["deploy", "hotfix"]
{extra}
"#,
            data = dir.path().join("data").display(),
            api = github.url(),
        );
        let config = ServerConfig::parse(&config, "server.toml").unwrap();
        let server = greenlight_server::start_with(config.clone(), secrets()).await.unwrap();
        let base = format!("http://{}", server.addr());
        let h = Self {
            server: Some(server),
            config,
            base,
            github,
            remote,
            production,
            missed,
            http: reqwest::Client::new(),
            _dir: dir,
        };
        // Reconciling on start fetches the remote (the config names it); a scenario starts once that fetch is done,
        // so that what it does to the remote never races with it.
        for _ in 0..3000 {
            let (_, metrics) = h.get("/metrics").await;
            if counter(&metrics, "greenlight_git_fetches_total{outcome=\"ok\"}") > 0 {
                return h;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the start-up reconcile never fetched the remote");
    }

    /// Restarts the server without the config's `clone_url`: each push is fetched from its payload's url, the
    /// default (which a test points at a remote that hangs).
    async fn fetch_from_payloads(&mut self) {
        self.config.repositories.values_mut().for_each(|repo| repo.clone_url = None);
        self.restart().await;
    }

    /// Shuts the server down and starts it again on the same store and directory, on a new port.
    async fn restart(&mut self) {
        self.restart_after(async || {}).await;
    }

    /// Shuts the server down, runs `meanwhile` (on its store, say), and starts it again.
    async fn restart_after(&mut self, meanwhile: impl AsyncFnOnce()) {
        let server = self.server.take().expect("running");
        server.shutdown().await.expect("a clean shutdown");
        meanwhile().await;
        let server = greenlight_server::start_with(self.config.clone(), secrets()).await.unwrap();
        self.base = format!("http://{}", server.addr());
        self.server = Some(server);
    }

    /// Adds `messages` as commits on `deploy` (on top of its tip, or production) and returns the new tip.
    fn push_commits(&self, messages: &[&str]) -> String {
        self.commit_on("deploy", messages)
    }

    fn commit_on(&self, branch: &str, messages: &[&str]) -> String {
        let mut tip = self.remote.command();
        let tip = tip.args(["rev-parse", "--verify", "-q", &format!("refs/heads/{branch}")]).output().unwrap();
        let tip = String::from_utf8(tip.stdout).unwrap().trim().to_owned();
        let parent = if tip.is_empty() { self.production.clone() } else { tip };
        let tip = self.remote.chain(&parent, messages);
        self.remote.branch(branch, &tip);
        tip
    }

    /// Waits until the deploy's latest job is done (its final status posted and recorded).
    async fn job_done(&self, deploy: i64) {
        self.job_state(deploy, "done").await;
    }

    /// Waits until the deploy's latest job is in `state`.
    async fn job_state(&self, deploy: i64, state: &str) {
        let mut ticks = tokio::time::interval(std::time::Duration::from_millis(20));
        for _ in 0..3000 {
            ticks.tick().await;
            let (_, json) = self.get(&format!("/api/deploys/{deploy}")).await;
            let json: Value = serde_json::from_str(&json).unwrap();
            if json["job_state"] == state {
                return;
            }
        }
        panic!("deploy {deploy}'s job was never {state}");
    }

    async fn shutdown(mut self) {
        let server = self.server.take().expect("running");
        server.shutdown().await.expect("a clean shutdown");
    }

    /// GitHub's real push payload: this remote's `branch` moving to `after`.
    fn payload(&self, branch: &str, after: &str) -> Vec<u8> {
        push_payload("acme/shop", branch, after, "https://github.com/acme/shop.git")
    }

    async fn deliver(&self, event: &str, delivery: &str, body: &[u8]) -> (u16, Value) {
        self.deliver_signed(event, delivery, body, &sign(SECRET.as_bytes(), body)).await
    }

    async fn deliver_signed(&self, event: &str, delivery: &str, body: &[u8], signature: &str) -> (u16, Value) {
        self.deliver_as("application/json", event, delivery, body, signature).await
    }

    /// Sends `body` as a form-encoded delivery (GitHub's default content type).
    async fn deliver_form(&self, event: &str, delivery: &str, body: &[u8], signature: &str) -> (u16, Value) {
        self.deliver_as("application/x-www-form-urlencoded", event, delivery, body, signature).await
    }

    /// A GitHub webhook request to this server, not sent yet.
    fn webhook(
        &self,
        content_type: &str,
        event: &str,
        delivery: &str,
        body: &[u8],
        signature: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/webhooks/github", self.base))
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", delivery)
            .header("X-Hub-Signature-256", signature)
            .header("content-type", content_type)
            .body(body.to_vec())
    }

    async fn deliver_as(
        &self,
        content_type: &str,
        event: &str,
        delivery: &str,
        body: &[u8],
        signature: &str,
    ) -> (u16, Value) {
        let response = self.webhook(content_type, event, delivery, body, signature).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn push(&self, delivery: &str, sha: &str) -> Value {
        self.push_to("deploy", delivery, sha).await
    }

    async fn push_to(&self, branch: &str, delivery: &str, sha: &str) -> Value {
        let (status, body) = self.deliver("push", delivery, &self.payload(branch, sha)).await;
        assert_eq!(status, 202, "{body}");
        body
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Reads `/metrics` and checks that it has each of `lines`; returns the whole exposition.
    async fn assert_metrics(&self, lines: &[&str]) -> String {
        let (code, metrics) = self.get("/metrics").await;
        assert_eq!(code, 200);
        for expected in lines {
            assert!(metrics.lines().any(|l| l == *expected), "missing {expected:?} in\n{metrics}");
        }
        metrics
    }

    /// Waits until `sha` has `count` final statuses.
    async fn finals(&self, sha: &str, count: usize) -> Vec<String> {
        let statuses = self
            .github
            .wait_for(&format!("{count} final statuses on {sha}"), |all| {
                all.iter().filter(|s| s.sha == sha && s.state != "pending").count() >= count
            })
            .await;
        statuses.iter().filter(|s| s.sha == sha && s.state != "pending").map(|s| s.state.clone()).collect()
    }
}

async fn a_push_gets_pending_then_a_final_status_and_a_page(setup: Setup) {
    let h = setup.start().await;
    let sha = h.push_commits(&["ABC-2 <script>alert(1)</script> & more", "fix a typo"]);
    let accepted = h.push("delivery-1", &sha).await;
    let deploy = accepted["deploy"].as_i64().unwrap();
    assert_eq!(accepted["url"], format!("http://greenlight.test/deploys/{deploy}"));

    let statuses = h.github.final_status(&sha).await;
    let states: Vec<&str> = statuses.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(states, ["pending", "failure"]);
    let last = statuses.last().unwrap();
    assert_eq!(last.context, "greenlight/pre-deploy");
    assert_eq!(last.description, "1 problem: 1 commit without an issue key");
    assert_eq!(last.target_url.as_deref(), Some(format!("http://greenlight.test/deploys/{deploy}").as_str()));
    assert_eq!(last.authorization.as_deref(), Some("Bearer ghp_test"));

    let (code, page) = h.get(&format!("/deploys/{deploy}")).await;
    assert_eq!(code, 200);
    assert!(page.contains("ABC-2 &#60;script&#62;alert(1)&#60;/script&#62; &#38; more"), "{page}");
    assert!(!page.contains("<script>"), "commit text must be escaped");
    assert!(page.contains("commit-without-key") && page.contains("fix a typo"), "{page}");
    h.job_done(deploy).await;
    let (code, json) = h.get(&format!("/api/deploys/{deploy}")).await;
    assert_eq!(code, 200);
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!((json["verdict"].as_str(), json["status"].as_str()), (Some("fail"), Some("failure")));
    assert_eq!(json["report"]["checks"][1]["findings"][0]["code"], "commit-without-key");

    // The index lists the deploy branch with its head, linked to its page.
    let (code, index) = h.get("/").await;
    assert_eq!(code, 200);
    assert!(index.contains(&format!(r#"<a href="deploys/{deploy}"><code>{}</code></a>"#, &sha[..10])), "{index}");
    assert!(index.contains(r#"<span class="verdict fail">fail</span>"#) && index.contains("failure"), "{index}");

    let (code, _) = h.get("/deploys/999999").await;
    assert_eq!(code, 404);
    // An id that is not a number is no deploy either: a 404 page, not the router's parse error.
    let (code, page) = h.get("/deploys/abc").await;
    assert_eq!((code, page.as_str()), (404, "<!doctype html><title>greenlight</title><p>No such deploy.</p>"));
    let (code, json) = h.get("/api/deploys/abc").await;
    assert_eq!(code, 404, "{json}");
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!((json["status"].as_str(), json["message"].as_str()), (Some("not_found"), Some("no such deploy")));
}

/// The deploy page as Chromium runs it, SQLite only (the page does not depend on the store): commit text written to
/// run script in every way HTML allows is shown as text, and runs nothing; the page loads nothing from anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_runs_nothing_from_commit_text_on_the_deploy_page() {
    let h = Setup::sqlite().start().await;
    let subjects = [
        "ABC-2 <script>window.ran = 'script'</script> & more",
        "ABC-3 <img src=x onerror=\"window.ran = 'img'\">",
        "\"><svg onload=\"window.ran = 'svg'\"></svg><a href=\"javascript:window.ran='link'\">x</a>",
    ];
    let sha = h.push_commits(&subjects);
    let deploy = h.push("delivery-1", &sha).await["deploy"].as_i64().unwrap();
    h.job_done(deploy).await;

    let browser = Browser::start().await;
    browser.open(&format!("{}/deploys/{deploy}", h.base)).await;
    let page = browser
        .run(
            r#"
const commits = [...document.querySelectorAll("h2")].find(h => h.innerText.startsWith("Commits"));
const rows = [...commits.nextElementSibling.rows].slice(1);
return {
  ran: window.ran === undefined ? null : window.ran,
  elements: document.querySelectorAll("script, img, svg, a[href^='javascript']").length,
  resources: performance.getEntriesByType("resource").map(e => e.name),
  subjects: rows.map(r => r.cells[1].textContent),
  text: document.body.innerText,
};
"#,
        )
        .await;
    browser.close().await;
    assert_eq!(page["ran"], Value::Null, "commit text ran as script: {page}");
    assert_eq!(page["elements"], 0, "commit text became markup: {page}");
    assert_eq!(page["resources"], serde_json::json!([]), "the page loads nothing: {page}");
    let mut shown: Vec<&str> = page["subjects"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    shown.sort_unstable();
    let mut written = subjects.to_vec();
    written.sort_unstable();
    assert_eq!(shown, written, "each subject is shown as it was written");
    assert!(page["text"].as_str().unwrap().contains("commit-without-key"), "{page}");
    h.shutdown().await;
}

/// The deploy page, and the page saying there is no such deploy, come with `nosniff` and a policy that lets them
/// load and run nothing; the page's own inline styles still apply in Chromium. SQLite only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_page_is_served_with_a_policy_that_allows_only_its_styles() {
    let h = Setup::sqlite().start().await;
    let sha = h.push_commits(&["ABC-2 a feature"]);
    let deploy = h.push("delivery-1", &sha).await["deploy"].as_i64().unwrap();
    h.job_done(deploy).await;
    for path in [format!("/deploys/{deploy}"), "/deploys/999999".to_owned()] {
        let response = h.http.get(format!("{}{path}", h.base)).send().await.unwrap();
        let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
        let policy = header("content-security-policy").unwrap_or_default();
        assert!(policy.starts_with("default-src 'none'; style-src 'unsafe-inline'"), "{path}: {policy}");
    }
    let browser = Browser::start().await;
    browser.open(&format!("{}/deploys/{deploy}", h.base)).await;
    let badge = browser.run(r#"return getComputedStyle(document.querySelector(".verdict")).backgroundColor;"#).await;
    browser.close().await;
    assert_eq!(badge, "rgb(26, 127, 55)", "the page's styles apply under its policy");
    h.shutdown().await;
}

async fn a_redelivery_is_answered_but_not_processed_again(setup: Setup) {
    let h = setup.start().await;
    let sha = h.push_commits(&["ABC-2 a feature"]);
    h.push("delivery-1", &sha).await;
    let (status, body) = h.deliver("push", "delivery-1", &h.payload("deploy", &sha)).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));
    assert_eq!(h.finals(&sha, 1).await, ["success"]);
    // A later, different push proves the queue is empty behind the duplicate: it is processed, and the first sha
    // never got a second status.
    let next = h.push_commits(&["ABC-3 another"]);
    h.push("delivery-2", &next).await;
    h.finals(&next, 1).await;
    let first: Vec<String> = h.github.statuses_of(&sha).into_iter().map(|s| s.state).collect();
    assert_eq!(first, ["pending", "success"]);
}

async fn what_is_not_a_deploy_push_is_acknowledged_and_ignored(setup: Setup) {
    let h = setup.start().await;
    let sha = h.push_commits(&["ABC-2 a feature"]);
    let ping = shared_data("github-webhooks/ping/payload.json");
    let (status, body) = h.deliver("ping", "p1", ping.as_bytes()).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("pong")));
    let other = shared_data("github-webhooks/status/payload.json");
    let (status, body) = h.deliver("status", "s1", other.as_bytes()).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ignored")));
    let (status, body) = h.deliver("push", "b1", &h.payload("main", &sha)).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ignored")), "{body}");
    let mut deletion: Value = serde_json::from_slice(&h.payload("deploy", &"0".repeat(40))).unwrap();
    deletion["deleted"] = true.into();
    let (status, body) = h.deliver("push", "del1", &serde_json::to_vec(&deletion).unwrap()).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ignored")), "{body}");
    let mut elsewhere: Value = serde_json::from_slice(&h.payload("deploy", &sha)).unwrap();
    elsewhere["repository"]["full_name"] = "acme/other".into();
    let (status, body) = h.deliver("push", "o1", &serde_json::to_vec(&elsewhere).unwrap()).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ignored")), "{body}");
    let (_, metrics) = h.get("/metrics").await;
    assert!(metrics.contains("greenlight_webhook_deliveries_total{event=\"push\",outcome=\"ignored\"} 3"), "{metrics}");
    assert_eq!(h.github.calls(), 0, "nothing was checked");
}

async fn signatures_and_bodies_are_checked_before_anything_else(setup: Setup) {
    let h = setup.start().await;
    let sha = h.push_commits(&["ABC-2 a feature"]);
    let body = h.payload("deploy", &sha);
    let forged = sign(b"not the secret", &body);
    let (status, answer) = h.deliver_signed("push", "f1", &body, &forged).await;
    assert_eq!(status, 401, "{answer}");
    let (status, _) = h.deliver_signed("push", "f2", &body, "").await;
    assert_eq!(status, 401);
    // Signed over other bytes than those sent.
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let (status, _) = h.deliver_signed("push", "f3", &tampered, &sign(SECRET.as_bytes(), &body)).await;
    assert_eq!(status, 401);

    let (status, answer) = h.deliver("push", "m1", b"{\"ref\": ").await;
    assert_eq!(status, 400);
    assert!(answer["message"].as_str().unwrap().starts_with("malformed push payload"), "{answer}");
    // A delivery id like greenlight's own (`jira:…`, `reconcile:…`) is not GitHub's.
    let (status, answer) = h.deliver("push", "jira:777", &body).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("has a ':'"), "{answer}");
    // (Bodies over the limit: `unsigned_and_outsized_bodies_are_refused_before_they_are_read`.)
    assert_eq!(h.github.calls(), 0, "nothing was accepted");

    // The event header is not signed: whatever it says never becomes a label of the metrics.
    let (status, _) = h.deliver_signed("x0\",outcome=\"y", "f4", &body, &forged).await;
    assert_eq!(status, 401);
    let (status, _) = h.deliver("workflow_run", "w1", b"{}").await;
    assert_eq!(status, 200);
    let metrics = h
        .assert_metrics(&[
            "greenlight_webhook_deliveries_total{event=\"push\",outcome=\"unauthorized\"} 3",
            "greenlight_webhook_deliveries_total{event=\"other\",outcome=\"unauthorized\"} 1",
            "greenlight_webhook_deliveries_total{event=\"other\",outcome=\"ignored\"} 1",
        ])
        .await;
    assert!(!metrics.contains("x0"), "{metrics}");
}

async fn a_github_outage_is_ridden_out_without_a_storm(setup: Setup) {
    let h = setup.start().await;
    h.github.set_mode(Mode::Down);
    let first = h.push_commits(&["ABC-2 one"]);
    h.push("d1", &first).await;
    // On another deploy branch: nothing supersedes anything, so each commit must get its final status.
    let second = h.commit_on("hotfix", &["ABC-3 two", "no key here"]);
    h.push_to("hotfix", "d2", &second).await;
    // Let the outage last through several job retries (each retry waits 50-400 ms).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let mut ticks = tokio::time::interval(std::time::Duration::from_millis(100));
    while std::time::Instant::now() < deadline {
        ticks.tick().await;
    }
    let during = h.github.calls();
    // Without a breaker and budgets, 3 s of 4-attempt retries for 2 jobs would be dozens of calls: the breaker
    // opens after 5 failures and lets one probe through per 300 ms cool-down.
    assert!(during <= 5 + 3 * 10 + 4, "{during} calls during the outage");
    h.github.set_mode(Mode::Up);
    assert_eq!(h.finals(&first, 1).await, ["success"]);
    assert_eq!(h.finals(&second, 1).await, ["failure"]);
    // Each job retried many times, but only to post: each deploy was checked once.
    h.assert_metrics(&["greenlight_checks_total{verdict=\"pass\"} 1", "greenlight_checks_total{verdict=\"fail\"} 1"])
        .await;
}

/// An outage of the remote that outlasts every job's 10 attempts: the fetches its breaker refuses (it lets one
/// through every 2 s here, while jobs come back every 50-400 ms) cost the jobs no attempt, so once the remote is back
/// each commit gets the status of its check, not `error`, and `pending` once.
async fn fetches_refused_during_a_remote_outage_cost_no_attempts(setup: Setup) {
    let h = Harness::start(setup, false, Timings::SlowBreakers).await;
    let on_deploy = h.push_commits(&["ABC-2 a feature"]);
    let on_hotfix = h.commit_on("hotfix", &["no key here"]);
    let away = h.remote.path().with_extension("away");
    std::fs::rename(h.remote.path(), &away).unwrap();
    h.push("d1", &on_deploy).await;
    h.push_to("hotfix", "d2", &on_hotfix).await;
    // Until the breaker has refused more fetches than the two jobs have attempts (20), or a job gave up.
    let refused = "greenlight_git_fetches_total{outcome=\"refused\"}";
    let mut ticks = tokio::time::interval(std::time::Duration::from_millis(20));
    for tick in 0.. {
        ticks.tick().await;
        let (_, metrics) = h.get("/metrics").await;
        if counter(&metrics, refused) > 20 || h.github.statuses().iter().any(|s| s.state != "pending") {
            break;
        }
        assert!(tick < 3000, "the breaker never refused 20 fetches:\n{metrics}");
    }
    assert_eq!(h.github.statuses().iter().filter(|s| s.state != "pending").count(), 0, "a job gave up on the outage");
    std::fs::rename(&away, h.remote.path()).unwrap();
    assert_eq!(h.finals(&on_deploy, 1).await, ["success"]);
    assert_eq!(h.finals(&on_hotfix, 1).await, ["failure"]);
    for sha in [&on_deploy, &on_hotfix] {
        let pending = h.github.statuses_of(sha).iter().filter(|s| s.state == "pending").count();
        assert_eq!(pending, 1, "{sha}");
    }
    let metrics = h
        .assert_metrics(&["greenlight_checks_total{verdict=\"pass\"} 1", "greenlight_checks_total{verdict=\"fail\"} 1"])
        .await;
    assert_eq!(counter(&metrics, "greenlight_checks_total{verdict=\"error\"}"), 0, "{metrics}");
    h.shutdown().await;
}

/// A shutdown stops a fetch that hangs; the job runs again after the restart, and being stopped was not one of its
/// attempts. Here one job is stopped by more shutdowns than it has attempts (10), then its first real try fails (its
/// commit is not on the remote's branches yet) and the next one finds it: the commit gets the status of its check,
/// not `error`.
async fn shutdowns_that_stop_a_fetch_cost_no_attempts(setup: Setup) {
    let mut h = setup.start().await;
    h.fetch_from_payloads().await;
    // Accepts connections (into its backlog) and never answers: every fetch from it hangs until it is stopped.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging = format!("http://{}/shop.git", listener.local_addr().unwrap());
    // On no branch of the remote yet.
    let sha = h.remote.chain(&h.production, &["ABC-2 a feature"]);
    let (status, body) = h.deliver("push", "d1", &push_payload("acme/shop", "deploy", &sha, &hanging)).await;
    assert_eq!(status, 202, "{body}");
    let deploy = body["deploy"].as_i64().unwrap();
    for _ in 0..11 {
        h.job_state(deploy, "running").await;
        h.restart().await;
    }
    // `file://`, so that the clone gets only what the remote's refs reach (a local clone would copy every object).
    let remote = format!("file://{}", h.remote.path().display());
    h.config.repositories.get_mut("acme/shop").unwrap().clone_url = Some(remote);
    h.restart().await;
    // Two fetches tried: reconciling's, and the job's (which found no such commit, if it got that far).
    let mut ticks = tokio::time::interval(std::time::Duration::from_millis(20));
    for tick in 0.. {
        ticks.tick().await;
        let (_, metrics) = h.get("/metrics").await;
        let tried =
            ["ok", "failed"].map(|o| counter(&metrics, &format!("greenlight_git_fetches_total{{outcome=\"{o}\"}}")));
        if tried.iter().sum::<u64>() >= 2 {
            break;
        }
        assert!(tick < 3000, "the job never fetched:\n{metrics}");
    }
    h.remote.branch("deploy", &sha);
    assert_eq!(h.finals(&sha, 1).await, ["success"]);
    assert_eq!(h.github.statuses_of(&sha).iter().filter(|s| s.state == "pending").count(), 1);
    drop(listener);
    h.shutdown().await;
}

/// The outage of the issue with the default timings (each retry waits 5 s, doubling up to 5 minutes; the breaker
/// opens after 5 failed calls and lets a trial through every 30 s): five minutes of 503s while commits keep coming.
/// SQLite only: the store plays no part in it, and the scenario takes its five minutes in real time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_minute_github_outage_with_the_default_timings() {
    const OUTAGE: std::time::Duration = std::time::Duration::from_secs(300);
    let h = Harness::start(Setup::sqlite(), false, Timings::Default).await;
    h.github.set_mode(Mode::Down);
    let started = std::time::Instant::now();
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(1));
    // Six commits, one every 40 s, on the two deploy branches in turn: those on `hotfix` lack an issue key.
    let mut expected = Vec::new();
    for n in 0..6 {
        let (branch, message, state) =
            [("deploy", "ABC-4 a feature", "success"), ("hotfix", "no key here", "failure")][n % 2];
        let sha = h.commit_on(branch, &[&format!("{message} ({n})")]);
        h.push_to(branch, &format!("d{n}"), &sha).await;
        expected.push((sha, state));
        while started.elapsed() < std::time::Duration::from_secs(40 * (n as u64 + 1)) {
            ticks.tick().await;
        }
    }
    while started.elapsed() < OUTAGE {
        ticks.tick().await;
    }
    let during = h.github.calls();
    // Without the breaker every job would call on each of its retries (about 7 each in 5 minutes, 4 attempts per
    // call): ~170 calls. With it: the 5 failed calls that open it (plus the 2 workers' calls in flight), then one
    // trial per 30 s cooldown, never retried, plus the retries the 20 % budget allows the calls before it opened.
    let calls = 5 + 2 + OUTAGE.as_secs() as usize / 30 + 1;
    assert!(during <= calls + calls / 5 + 1, "{during} calls during the outage");
    h.github.set_mode(Mode::Up);
    // Every commit that was announced gets its final status (pending posts failed during the outage: it was marked
    // before trying, so none of them is superseded).
    for (sha, state) in &expected {
        assert_eq!(h.finals(sha, 1).await, [*state], "{sha}");
    }
    eprintln!("all statuses right {:?} after the outage; {during} calls during it", started.elapsed() - OUTAGE);
    h.assert_metrics(&["greenlight_checks_total{verdict=\"pass\"} 3", "greenlight_checks_total{verdict=\"fail\"} 3"])
        .await;
    h.shutdown().await;
}

async fn an_issue_update_rechecks_the_open_deploys_that_name_it(setup: Setup) {
    let h = setup.start().await;
    let sha = h.push_commits(&["ABC-7 a feature"]);
    let deploy = h.push("d1", &sha).await["deploy"].as_i64().unwrap();
    h.finals(&sha, 1).await;
    let body = br#"{"webhookEvent":"jira:issue_updated","issue":{"key":"ABC-7","fields":{}}}"#;
    let send = |signature: String, id: &'static str| {
        h.http
            .post(format!("{}/webhooks/jira", h.base))
            .header("X-Hub-Signature", signature)
            .header("X-Atlassian-Webhook-Identifier", id)
            .body(body.to_vec())
            .send()
    };
    let refused = send(sign(b"wrong", body), "j1").await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let accepted = send(sign(JIRA_SECRET.as_bytes(), body), "j1").await.unwrap();
    assert_eq!(accepted.status().as_u16(), 202);
    let accepted: Value = accepted.json().await.unwrap();
    assert_eq!(accepted["deploys"], serde_json::json!([deploy]));
    let again = send(sign(JIRA_SECRET.as_bytes(), body), "j1").await.unwrap();
    assert_eq!(again.status().as_u16(), 200, "a retried Jira delivery is not processed twice");
    assert_eq!(h.finals(&sha, 2).await, ["success", "success"]);
}

async fn the_api_rechecks_with_a_bearer_token(setup: Setup) {
    let h = setup.start().await;
    let sha = h.push_commits(&["ABC-2 a feature"]);
    let deploy = h.push("d1", &sha).await["deploy"].as_i64().unwrap();
    h.finals(&sha, 1).await;
    let url = format!("{}/api/deploys/{deploy}/recheck", h.base);
    let refused = h.http.post(&url).bearer_auth("guess").send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let missing = h.http.post(format!("{}/api/deploys/999999/recheck", h.base)).bearer_auth(API_TOKEN);
    assert_eq!(missing.send().await.unwrap().status().as_u16(), 404);
    let garbled = h.http.post(format!("{}/api/deploys/abc/recheck", h.base)).bearer_auth(API_TOKEN).send().await;
    let garbled = garbled.unwrap();
    assert_eq!(garbled.status().as_u16(), 404);
    let json: Value = garbled.json().await.unwrap();
    assert_eq!((json["status"].as_str(), json["message"].as_str()), (Some("not_found"), Some("no such deploy")));
    // The scheme's name in any case.
    let accepted = h.http.post(&url).header("authorization", format!("bearer {API_TOKEN}")).send().await.unwrap();
    assert_eq!(accepted.status().as_u16(), 202);
    assert_eq!(h.finals(&sha, 2).await, ["success", "success"]);
}

async fn a_push_whose_webhook_never_came_is_found_by_reconciling(setup: Setup) {
    // The server knows the remote from its config and finds the deploy branch's head on start, with no webhook.
    let h = setup.start_with_a_missed_push().await;
    let missed = h.missed.clone().unwrap();
    let statuses = h.github.final_status(&missed).await;
    let states: Vec<&str> = statuses.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(states, ["pending", "success"]);
    // A webhook arriving late for the same commit is a new delivery: it rechecks, and nothing is lost or doubled.
    h.push("late", &missed).await;
    assert_eq!(h.finals(&missed, 2).await, ["success", "success"]);
}

async fn health_readiness_and_metrics(setup: Setup) {
    let h = setup.start().await;
    assert_eq!(h.get("/healthz").await, (200, "ok\n".to_owned()));
    assert_eq!(h.get("/readyz").await, (200, "ready\n".to_owned()));
    // A fresh server shows the counters whose labels are a closed set at 0, so that rates and alerts on them work
    // before their first event.
    let fresh = h
        .assert_metrics(&[
            "greenlight_webhook_deliveries_total{event=\"push\",outcome=\"accepted\"} 0",
            "greenlight_webhook_deliveries_total{event=\"push\",outcome=\"error\"} 0",
            "greenlight_webhook_deliveries_total{event=\"ping\",outcome=\"pong\"} 0",
            "greenlight_webhook_deliveries_total{event=\"none\",outcome=\"malformed\"} 0",
            "greenlight_webhook_deliveries_total{event=\"jira\",outcome=\"unauthorized\"} 0",
            "greenlight_checks_total{verdict=\"error\"} 0",
            "greenlight_git_fetches_total{outcome=\"refused\"} 0",
            "greenlight_jobs_finished_total{state=\"error\"} 0",
        ])
        .await;
    assert!(!fresh.contains("event=\"ping\",outcome=\"accepted\""), "only the pairs that can occur:\n{fresh}");
    assert!(
        !fresh.contains("greenlight_github_responses_total{code=\"2"),
        "status codes are not a closed set:\n{fresh}"
    );
    let sha = h.push_commits(&["ABC-2 a feature"]);
    let deploy = h.push("d1", &sha).await["deploy"].as_i64().unwrap();
    h.job_done(deploy).await;
    let metrics = h
        .assert_metrics(&[
            "greenlight_webhook_deliveries_total{event=\"push\",outcome=\"accepted\"} 1",
            "greenlight_github_responses_total{code=\"201\"} 2",
            "greenlight_job_duration_seconds_count 1",
        ])
        .await;
    assert!(metrics.contains("greenlight_queue_depth{state=\"queued\"}"), "{metrics}");
    h.shutdown().await;
}

/// The value of the counter `series` (name and labels) in the exposition `metrics`; 0 before it is counted.
fn counter(metrics: &str, series: &str) -> u64 {
    let value = metrics.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' '));
    value.map_or(0, |v| v.parse().unwrap())
}
