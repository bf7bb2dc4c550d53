//! `greenlight serve` as a process: nothing acknowledged is lost to a kill -9, and two replicas on one PostgreSQL
//! share the work without doing any of it twice. GitHub is a fake that records statuses; remotes are real git
//! repositories.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use greenlight_github::webhook::sign;
use greenlight_testkit::TestRepo;
use greenlight_testkit::github::{FakeGitHub, Mode, push_payload};

const SECRET: &str = "kill -9 secret";
const API_TOKEN: &str = "api token";

/// A remote whose `production` has one commit, and `branches` heads of one commit more each, not yet pushed to
/// their branches (see [`publish`]).
fn remote(branches: usize) -> (TestRepo, Vec<(String, String)>) {
    let remote = TestRepo::new();
    let production = remote.commit_file("README", "shop\n", "ABC-1 start the shop");
    remote.branch("production", &production);
    let heads = (0..branches)
        .map(|n| {
            let tip = remote.chain(&production, &[&format!("ABC-{} change number {n}", n + 2)]);
            (format!("deploy-{n}"), tip)
        })
        .collect();
    (remote, heads)
}

/// Pushes the heads to their branches. Done once the servers have reconciled on start, so that each head is
/// checked for its webhook, as the scenarios count, and not also found by reconciling first.
fn publish(remote: &TestRepo, heads: &[(String, String)]) {
    for (branch, sha) in heads {
        remote.branch(branch, sha);
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts `greenlight serve` and waits until it answers `/healthz`.
    async fn start(
        dir: &std::path::Path,
        name: &str,
        database_url: &str,
        github: &FakeGitHub,
        workers: usize,
        branches: usize,
        remote: &TestRepo,
    ) -> Self {
        let port = free_port();
        let branches: Vec<String> = (0..branches).map(|n| format!("\"deploy-{n}\"")).collect();
        let config = format!(
            r#"
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
database_url = "{database_url}"
data_dir = "{data}"
workers = {workers}
lease = "1s"
retry_first = "50ms"
retry_max = "300ms"
reconcile_every = "1h"
api_token_env = "GL_TEST_API_TOKEN"

[github]
api_url = "{api}"
attempt_timeout = "30s"
breaker_cooldown = "200ms"

[[repositories]]
name = "acme/shop"
production = "production"
deploy_branches = [{branches}]
clone_url = "{remote}"
"#,
            remote = remote.path().display(),
            data = dir.join(format!("{name}-data")).display(),
            api = github.url(),
            branches = branches.join(", "),
        );
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, config).unwrap();
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_greenlight"))
            .args(["serve", "--config"])
            .arg(&path)
            .env("GITHUB_TOKEN", "ghp_test")
            .env("GITHUB_WEBHOOK_SECRET", SECRET)
            .env("GL_TEST_API_TOKEN", API_TOKEN)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let server = Self { child, base: format!("http://127.0.0.1:{port}") };
        let http = reqwest::Client::new();
        let mut ticks = tokio::time::interval(Duration::from_millis(20));
        for _ in 0..1500 {
            ticks.tick().await;
            // Up, and done with the start-up reconcile's fetch of the remote.
            let metrics = match http.get(format!("{}/metrics", server.base)).send().await {
                Ok(response) if response.status().is_success() => response.text().await.unwrap_or_default(),
                _ => continue,
            };
            // (Listed at 0 from start-up: the fetch is done once it is counted.)
            let fetched = metrics.lines().find_map(|l| l.strip_prefix("greenlight_git_fetches_total{outcome=\"ok\"} "));
            if fetched.is_some_and(|count| count.trim() != "0") {
                return server;
            }
        }
        panic!("greenlight serve did not come up; see {}", dir.join(format!("{name}.log")).display());
    }

    /// Sends a signed push of `sha` to `branch` as delivery `delivery` (fetched from the config's `clone_url`).
    async fn deliver(&self, delivery: &str, branch: &str, sha: &str) -> reqwest::Response {
        let body = push_payload("acme/shop", branch, sha, "https://github.com/acme/shop.git");
        reqwest::Client::new()
            .post(format!("{}/webhooks/github", self.base))
            .header("X-GitHub-Event", "push")
            .header("X-GitHub-Delivery", delivery)
            .header("X-Hub-Signature-256", sign(SECRET.as_bytes(), &body))
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Sends a signed push and returns the deploy's id.
    async fn push(&self, delivery: &str, branch: &str, sha: &str) -> i64 {
        let response = self.deliver(delivery, branch, sha).await;
        assert_eq!(response.status().as_u16(), 202);
        let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        body["deploy"].as_i64().unwrap()
    }

    fn kill_9(mut self) {
        // std's kill is SIGKILL on unix: no shutdown code runs.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// A failing test must not leave servers running behind it.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn without_a_webhook_secret_the_server_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    let text = "listen = \"127.0.0.1:0\"\npublic_url = \"http://127.0.0.1\"\n[github]\nwebhook_secret_env = \"GL_NO_SUCH_SECRET\"\n\
                [[repositories]]\nname = \"acme/shop\"\nproduction = \"production\"\ndeploy_branches = [\"deploy\"]\n";
    std::fs::write(&config, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("GL_NO_SUCH_SECRET")
        .env("GITHUB_TOKEN", "ghp_test")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let refused = "GL_NO_SUCH_SECRET is not set (or only blank): the server refuses to start without it";
    assert!(stderr.contains(refused), "{stderr}");
    assert!(!dir.path().join("greenlight.db").exists(), "nothing was opened");
    // A secret of blanks is no secret either.
    let out = Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("GL_NO_SUCH_SECRET", " \t\n")
        .env("GITHUB_TOKEN", "ghp_test")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(refused), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A `data_dir` that cannot be created (here under a regular file) stops the server at start, naming the key, rather
/// than failing every push later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_that_cannot_be_created_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-file"), "").unwrap();
    let config = dir.path().join("server.toml");
    let text = "listen = \"127.0.0.1:0\"\npublic_url = \"http://127.0.0.1\"\ndata_dir = \"a-file/data\"\n[github]\n\
                [[repositories]]\nname = \"acme/shop\"\nproduction = \"production\"\ndeploy_branches = [\"deploy\"]\n";
    std::fs::write(&config, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("GITHUB_TOKEN", "ghp_test")
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A server that starts anyway is stopped rather than waited for.
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    let mut exited = None;
    for _ in 0..1500 {
        ticks.tick().await;
        exited = child.try_wait().unwrap();
        if exited.is_some() {
            break;
        }
    }
    if exited.is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "the server started");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("data_dir = \"a-file/data\" cannot be created"), "{stderr}");
    assert!(!dir.path().join("greenlight.db").exists(), "nothing was opened");
}

/// A server that cannot be reached is said in one line with the URL and the root cause, once.
#[test]
fn recheck_of_an_unreachable_server_says_why_once() {
    // A port of the test's own that refuses connections: bound, so that no other test can take it, but not
    // listening, so that Linux answers a connection with a reset. (A port merely left free could be taken meanwhile.)
    let refusing = tokio::net::TcpSocket::new_v4().unwrap();
    refusing.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let server = format!("http://{}", refusing.local_addr().unwrap());
    let out = Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .args(["recheck", "42", "--server", &server])
        .env("GREENLIGHT_API_TOKEN", API_TOKEN)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!("greenlight: error: cannot reach {server}/api/deploys/42/recheck: connection refused (os error 111)")
    );
}

/// A server that answers 2xx with something else than greenlight's answer is not taken for a queued recheck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recheck_of_something_that_is_not_greenlight_is_an_error() {
    use greenlight_testkit::scripted::{Reply, Scripted};
    let other = Scripted::start([], Reply::json(r#"{"ok": true}"#)).await;
    let server = other.url("").to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_greenlight"))
            .args(["recheck", "42", "--server", &server])
            .env("GREENLIGHT_API_TOKEN", API_TOKEN)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(r#"answered {"ok":true}, not a greenlight server's recheck"#), "{stderr}");
    assert_eq!(other.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_delivery_is_processed_after_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("gl.db").display());
    let (remote, heads) = remote(5);
    let github = FakeGitHub::start().await;
    // GitHub hangs: the first server claims a job, marks it pending, and is stuck posting; the rest stay queued.
    github.set_mode(Mode::Hang);
    let first = Server::start(dir.path(), "first", &database, &github, 1, heads.len(), &remote).await;
    publish(&remote, &heads);
    let mut deploys = Vec::new();
    for (n, (branch, sha)) in heads.iter().enumerate() {
        deploys.push(first.push(&format!("delivery-{n}"), branch, sha).await);
    }
    first.kill_9();
    // Logs are JSON lines, and those about a delivery carry its id.
    let log = std::fs::read_to_string(dir.path().join("first.log")).unwrap();
    let accepted: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}")))
        .filter(|entry: &serde_json::Value| entry["fields"]["message"] == "push accepted")
        .collect();
    assert_eq!(accepted.len(), heads.len(), "{log}");
    assert_eq!(accepted[0]["span"]["delivery"], "delivery-0", "{log}");

    github.set_mode(Mode::Up);
    let second = Server::start(dir.path(), "second", &database, &github, 2, heads.len(), &remote).await;
    for (_, sha) in &heads {
        let finals: Vec<String> =
            github.final_status(sha).await.into_iter().filter(|s| s.state != "pending").map(|s| s.state).collect();
        assert_eq!(finals, ["success"], "{sha}");
    }

    // `greenlight recheck` asks the running server to check a deploy again.
    let recheck = |token: &str| {
        Command::new(env!("CARGO_BIN_EXE_greenlight"))
            .args(["recheck", &deploys[0].to_string(), "--server", &second.base])
            .env("GREENLIGHT_API_TOKEN", token)
            .output()
            .unwrap()
    };
    let refused = recheck("wrong");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("GREENLIGHT_API_TOKEN"), "names the credential");
    let out = recheck(API_TOKEN);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with(&format!("recheck of deploy {} queued as job ", deploys[0])), "{stdout}");
    assert!(stdout.contains(&format!("/deploys/{}", deploys[0])), "{stdout}");
    let sha = &heads[0].1;
    github
        .wait_for("a second final status", |all| {
            all.iter().filter(|s| &s.sha == sha && s.state == "success").count() == 2
        })
        .await;
    drop(second);
}

/// `SIGTERM` shuts down gracefully and says what it waits for: here a job stuck posting to a GitHub that never
/// answers. A second `SIGTERM` stops at once (exit 143) and says what was left unfinished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_at_once_and_says_what_was_left() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("gl.db").display());
    let (remote, heads) = remote(1);
    let github = FakeGitHub::start().await;
    github.set_mode(Mode::Hang);
    let mut server = Server::start(dir.path(), "stuck", &database, &github, 1, heads.len(), &remote).await;
    publish(&remote, &heads);
    let (branch, sha) = &heads[0];
    server.push("delivery-0", branch, sha).await;
    let log = dir.path().join("stuck.log");
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    for tick in 0.. {
        ticks.tick().await;
        if github.calls() > 0 {
            break;
        }
        assert!(tick < 1500, "the job never called GitHub");
    }
    let terminate = |child: &Child| {
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
    };
    terminate(&server.child);
    let waiting = log_line(&log, |entry| entry["fields"]["message"] == "waiting for the jobs in progress").await;
    assert_eq!(waiting["fields"]["jobs"], 1, "{waiting}");
    terminate(&server.child);
    let mut exited = None;
    for _ in 0..1500 {
        ticks.tick().await;
        exited = server.child.try_wait().unwrap();
        if exited.is_some() {
            break;
        }
    }
    assert_eq!(exited.expect("the second signal did not stop the server").code(), Some(143));
    let stopped = log_line(&log, |entry| entry["fields"]["message"] == "second signal: stopping at once").await;
    assert_eq!(stopped["fields"]["jobs"], 1, "{stopped}");
}

/// A refused webhook's log line names its delivery, and an accepted push's names the repository and the branch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_say_which_delivery_repository_and_branch() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("gl.db").display());
    let (remote, heads) = remote(1);
    let github = FakeGitHub::start().await;
    let server = Server::start(dir.path(), "logs", &database, &github, 1, heads.len(), &remote).await;
    publish(&remote, &heads);
    let refused = reqwest::Client::new()
        .post(format!("{}/webhooks/github", server.base))
        .header("X-GitHub-Event", "push")
        .header("X-GitHub-Delivery", "forged-1")
        .header("X-Hub-Signature-256", sign(b"not the secret", b"{}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let (branch, sha) = &heads[0];
    server.push("delivery-0", branch, sha).await;
    let log = dir.path().join("logs.log");
    let refused = log_line(&log, |entry| entry["fields"]["message"] == "webhook refused").await;
    assert_eq!(refused["fields"]["delivery"], "forged-1", "{refused}");
    let accepted = log_line(&log, |entry| entry["fields"]["message"] == "push accepted").await;
    assert_eq!(accepted["fields"]["repo"], "acme/shop", "{accepted}");
    assert_eq!(accepted["fields"]["branch"], branch.as_str(), "{accepted}");
}

/// Waits until the JSON log at `path` has a line that `matches`, and returns it.
async fn log_line(path: &std::path::Path, matches: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    for _ in 0..1500 {
        ticks.tick().await;
        let log = std::fs::read_to_string(path).unwrap_or_default();
        let found = log.lines().filter_map(|line| serde_json::from_str(line).ok()).find(|entry| matches(entry));
        if let Some(entry) = found {
            return entry;
        }
    }
    panic!("no such line in {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_share_the_work_without_doubles() {
    let dir = tempfile::tempdir().unwrap();
    let database = greenlight_testkit::postgres_database();
    let (remote, heads) = remote(12);
    let github = FakeGitHub::start().await;
    let a = Server::start(dir.path(), "a", &database, &github, 2, heads.len(), &remote).await;
    let b = Server::start(dir.path(), "b", &database, &github, 2, heads.len(), &remote).await;
    publish(&remote, &heads);
    for (n, (branch, sha)) in heads.iter().enumerate() {
        let replica = if n % 2 == 0 { &a } else { &b };
        replica.push(&format!("delivery-{n}"), branch, sha).await;
    }
    // A redelivery to the other replica is recognised there too.
    let (branch, sha) = &heads[0];
    let again = b.deliver("delivery-0", branch, sha).await;
    assert_eq!(again.status().as_u16(), 200);

    let all = github
        .wait_for("a final status on every head", |all| {
            heads.iter().all(|(_, sha)| all.iter().any(|s| &s.sha == sha && s.state != "pending"))
        })
        .await;
    // Wait out a lease: a job done twice would show up as a second status by now.
    let mut ticks = tokio::time::interval(Duration::from_millis(1500));
    ticks.tick().await;
    ticks.tick().await;
    let all_now = github.statuses();
    assert_eq!(all_now.len(), all.len(), "no status arrived after every head had its final one");

    for (_, sha) in &heads {
        let states: Vec<&str> = all_now.iter().filter(|s| &s.sha == sha).map(|s| s.state.as_str()).collect();
        assert_eq!(states, ["pending", "success"], "{sha} was processed exactly once");
    }
    drop((a, b));
}
