//! The client against a scripted server on loopback: what is retried, how long it waits (as recorded, never
//! slept), what the budget and the breakers refuse, and what every error says.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use greenlight_http::{
    Auth, BreakerState, Client, DEFAULT_USER_AGENT, ErrorKind, HttpError, Method, Policy, StatusCode,
};
use support::{EPOCH_START, ManualClock, RecordingSleeper, Reply, Server};

/// A client whose waits are recorded and whose clock moves only with them.
struct Setup {
    client: Client,
    sleeper: Arc<RecordingSleeper>,
    clock: Arc<ManualClock>,
}

fn setup(policy: Policy) -> Setup {
    let clock = ManualClock::new();
    let sleeper = RecordingSleeper::moving(clock.clone());
    let client = Client::builder().policy(policy).sleeper(sleeper.clone()).clock(clock.clone()).build().unwrap();
    Setup { client, sleeper, clock }
}

/// Enough budget for every retry a single test call wants; the budget has its own tests.
fn generous() -> Policy {
    Policy { retry_budget_reserve: 10, ..Policy::default() }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[derive(Debug, serde::Deserialize, PartialEq)]
struct Issue {
    key: String,
}

#[tokio::test]
async fn success_sends_user_agent_and_credentials_and_decodes_json() {
    let server = Server::start([Reply::json(r#"{"key": "OPS-1"}"#)], Reply::status(500)).await;
    let Setup { client, sleeper, .. } = setup(Policy::default());
    let auth = Auth::Bearer("t0ken".into());
    let request = auth.apply(client.request(Method::GET, server.url("/rest/api/3/issue/OPS-1")));

    let issue: Issue = client.json(request).await.unwrap();

    assert_eq!(issue, Issue { key: "OPS-1".into() });
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].method.as_str(), seen[0].target.as_str()), ("GET", "/rest/api/3/issue/OPS-1"));
    assert_eq!(seen[0].header("user-agent"), Some(DEFAULT_USER_AGENT));
    assert_eq!(seen[0].header("authorization"), Some("Bearer t0ken"));
    assert!(sleeper.waits().is_empty());
    let stats = client.stats();
    assert_eq!((stats.requests, stats.attempts, stats.retries), (1, 1, 0));
    assert_eq!(stats.responses, BTreeMap::from([(200, 1)]));
    assert!(stats.errors.is_empty());
}

#[tokio::test]
async fn a_500_is_retried_once_with_a_jittered_wait() {
    let server = Server::start([Reply::status(500), Reply::json("{}")], Reply::status(500)).await;
    let Setup { client, sleeper, .. } = setup(Policy::default());

    let response = client.send(client.request(Method::GET, server.url("/"))).await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.hits(), 2);
    let waits = sleeper.waits();
    assert_eq!(waits.len(), 1);
    assert!(waits[0] <= Duration::from_millis(200), "first wait is at most the base backoff: {waits:?}");
    let stats = client.stats();
    assert_eq!((stats.requests, stats.attempts, stats.retries), (1, 2, 1));
    assert_eq!(stats.responses, BTreeMap::from([(200, 1), (500, 1)]));
}

#[tokio::test]
async fn a_post_body_is_sent_again_on_retry() {
    let server = Server::start([Reply::status(503), Reply::json("{}")], Reply::status(500)).await;
    let Setup { client, .. } = setup(Policy::default());

    let request = client.request(Method::POST, server.url("/rest/api/3/search/jql")).body(r#"{"jql":"key = A-1"}"#);
    client.send(request).await.unwrap();

    let bodies: Vec<_> = server.seen().into_iter().map(|s| s.text()).collect();
    assert_eq!(bodies, [r#"{"jql":"key = A-1"}"#; 2]);
}

#[tokio::test]
async fn jittered_waits_stay_under_the_doubling_ceiling() {
    let server = Server::start([], Reply::status(502)).await;
    let Setup { client, sleeper, .. } = setup(generous());

    let error = client.send(client.request(Method::GET, server.url("/"))).await.unwrap_err();

    assert_eq!(error.status(), Some(StatusCode::BAD_GATEWAY));
    assert_eq!(server.hits(), 4, "max_attempts is 4");
    let waits = sleeper.waits();
    assert_eq!(waits.len(), 3);
    for (wait, ceiling) in waits.iter().zip([200, 400, 800]) {
        assert!(*wait <= Duration::from_millis(ceiling), "{waits:?}");
    }
}

#[tokio::test]
async fn retry_after_seconds_sets_the_wait() {
    let server =
        Server::start([Reply::status(429).header("retry-after", "7"), Reply::json("{}")], Reply::status(500)).await;
    let Setup { client, sleeper, .. } = setup(Policy::default());

    client.send(client.request(Method::GET, server.url("/"))).await.unwrap();

    assert_eq!(sleeper.waits(), [secs(7)]);
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn retry_after_http_date_counts_from_the_clock() {
    // The manual clock starts at 1_700_000_000 = Tue, 14 Nov 2023 22:13:20 GMT.
    let date = "Tue, 14 Nov 2023 22:13:32 GMT";
    let server =
        Server::start([Reply::status(503).header("retry-after", date), Reply::json("{}")], Reply::status(500)).await;
    let Setup { client, sleeper, .. } = setup(Policy::default());

    client.send(client.request(Method::GET, server.url("/"))).await.unwrap();

    assert_eq!(sleeper.waits(), [secs(12)]);
}

#[tokio::test]
async fn github_rate_limit_403_waits_until_the_reset() {
    let reset = (EPOCH_START + 5).to_string();
    let limited = Reply::status(403)
        .header("x-ratelimit-remaining", "0")
        .header("x-ratelimit-reset", &reset)
        .body(r#"{"message":"API rate limit exceeded"}"#);
    let server = Server::start([limited, Reply::json("{}")], Reply::status(500)).await;
    let Setup { client, sleeper, .. } = setup(Policy::default());

    client.send(client.request(Method::GET, server.url("/repos/o/r"))).await.unwrap();

    assert_eq!(sleeper.waits(), [secs(5)]);
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_hint_longer_than_the_maximum_fails_fast() {
    let server = Server::start([Reply::status(429).header("retry-after", "3600")], Reply::json("{}")).await;
    let Setup { client, sleeper, .. } = setup(Policy::default());

    let error = client.send(client.request(Method::GET, server.url("/hooks?key=s3cret"))).await.unwrap_err();

    let url = server.url("/hooks").to_string();
    assert!(matches!(&error, HttpError::RetryAfterTooLong { wait, .. } if *wait == secs(3600)), "{error:?}");
    assert_eq!(error.to_string(), format!("{url} asked to retry after 3600 s, longer than the 60 s this client waits"));
    assert!(sleeper.waits().is_empty());
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn unauthorized_is_not_retried_and_names_the_credential() {
    let server = Server::start([Reply::status(401)], Reply::json("{}")).await;
    let clock = ManualClock::new();
    let sleeper = RecordingSleeper::moving(clock.clone());
    let client = Client::builder().sleeper(sleeper.clone()).clock(clock).credential_name("JIRA_TOKEN").build().unwrap();

    let error = client.send(client.request(Method::GET, server.url("/rest/api/3/myself"))).await.unwrap_err();

    assert!(matches!(error, HttpError::Unauthorized { status: StatusCode::UNAUTHORIZED, .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("{} refused the credentials (401 Unauthorized); check JIRA_TOKEN", server.url("/rest/api/3/myself"))
    );
    assert_eq!(server.hits(), 1);
    assert!(sleeper.waits().is_empty());
    assert_eq!(client.stats().errors, BTreeMap::from([("unauthorized", 1)]));
}

#[tokio::test]
async fn forbidden_without_rate_limit_headers_is_unauthorized() {
    let server = Server::start([Reply::status(403)], Reply::json("{}")).await;
    let Setup { client, .. } = setup(generous());

    let error = client.send(client.request(Method::GET, server.url("/"))).await.unwrap_err();

    assert!(matches!(error, HttpError::Unauthorized { status: StatusCode::FORBIDDEN, .. }), "{error:?}");
    assert!(error.with_credential("GITHUB_TOKEN").to_string().ends_with("check GITHUB_TOKEN"));
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn other_4xx_are_not_retried_and_quote_the_body() {
    let body = "{\n  \"errorMessages\": [\"Issue does not exist\"]\n}";
    let server = Server::start([Reply::status(404).body(body)], Reply::json("{}")).await;
    let Setup { client, sleeper, .. } = setup(generous());

    let error = client.send(client.request(Method::GET, server.url("/rest/api/3/issue/NOPE-1"))).await.unwrap_err();

    assert_eq!(
        error.to_string(),
        format!(
            "{} answered 404 Not Found: {{ \"errorMessages\": [\"Issue does not exist\"] }}",
            server.url("/rest/api/3/issue/NOPE-1")
        )
    );
    assert_eq!(server.hits(), 1);
    assert!(sleeper.waits().is_empty());
}

#[tokio::test]
async fn a_timed_out_attempt_is_retried() {
    let server = Server::start([Reply::hang(), Reply::json(r#"{"key":"A-1"}"#)], Reply::status(500)).await;
    let Setup { client, .. } = setup(Policy { attempt_timeout: Duration::from_millis(200), ..Policy::default() });

    let issue: Issue = client.json(client.request(Method::GET, server.url("/"))).await.unwrap();

    assert_eq!(issue.key, "A-1");
    assert_eq!(server.hits(), 2);
    let stats = client.stats();
    assert_eq!(stats.attempt_errors, BTreeMap::from([("timeout", 1)]));
    assert_eq!((stats.attempts, stats.retries), (2, 1));
}

#[tokio::test]
async fn timeouts_end_in_a_timeout_error_naming_the_url() {
    let server = Server::start([], Reply::hang()).await;
    let policy = Policy { attempt_timeout: Duration::from_millis(200), max_attempts: 2, ..Policy::default() };
    let Setup { client, .. } = setup(policy);

    let error = client.send(client.request(Method::GET, server.url("/slow?token=s3cret"))).await.unwrap_err();

    assert_eq!(error.kind(), ErrorKind::Timeout, "{error:?}");
    assert_eq!(error.to_string(), format!("request to {} timed out after 0.200 s", server.url("/slow")));
    assert_eq!(server.hits(), 2);
}

/// Every message of an error's source chain, joined as anyhow's `{:#}` joins them.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(source) = next {
        text.push_str(&format!(": {source}"));
        next = source.source();
    }
    text
}

#[tokio::test]
async fn connection_refused_is_a_connect_error_naming_the_url_without_secrets() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let Setup { client, sleeper, .. } = setup(Policy::default());
    let url = greenlight_http::Url::parse(&format!("http://127.0.0.1:{port}/rest/api/3/field?apiKey=s3cret")).unwrap();

    let error = client.send(client.request(Method::GET, url)).await.unwrap_err();

    assert_eq!(error.kind(), ErrorKind::Connect, "{error:?}");
    let message = error.to_string();
    // The root cause, once: not reqwest's "error sending request" and the layers between.
    assert_eq!(
        message,
        format!("cannot reach http://127.0.0.1:{port}/rest/api/3/field: connection refused (os error 111)")
    );
    // A caller that prints the whole chain (anyhow's `{:#}`) sees the same line: the cause is not repeated.
    assert_eq!(chain(&error), message);
    assert!(!message.contains("s3cret"), "{message}");
    assert!(!format!("{error:?}").contains("s3cret"), "{error:?}");
    assert_eq!(sleeper.waits().len(), 1, "a fresh client's budget allows one retry");
    assert_eq!(client.stats().attempt_errors, BTreeMap::from([("connect", 2)]));
}

#[tokio::test]
async fn malformed_json_is_a_decode_error_naming_the_url() {
    let server = Server::start([Reply::json(r#"{"key": "#)], Reply::status(500)).await;
    let Setup { client, .. } = setup(Policy::default());

    let error = client.json::<Issue>(client.request(Method::GET, server.url("/issue?jwt=x"))).await.unwrap_err();

    assert_eq!(error.kind(), ErrorKind::Decode);
    let message = error.to_string();
    assert!(message.starts_with(&format!("malformed json from {}: ", server.url("/issue"))), "{message}");
    assert_eq!(chain(&error), message, "the parser's message once");
    assert_eq!(client.stats().errors, BTreeMap::from([("decode", 1)]));
    assert_eq!(server.hits(), 1, "a decode error is not retried");
}

#[tokio::test]
async fn a_request_that_cannot_be_built_is_a_request_error() {
    let server = Server::start([], Reply::json("{}")).await;
    let Setup { client, .. } = setup(Policy::default());

    let request = client.request(Method::GET, server.url("/")).header("x-bad", "line\nbreak");
    let error = client.send(request).await.unwrap_err();

    assert_eq!(error.kind(), ErrorKind::Request, "{error:?}");
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn the_retry_budget_prevents_a_storm() {
    let server = Server::start([], Reply::status(500)).await;
    // The breaker would stop the storm too; switch it off to see the budget alone.
    let Setup { client, .. } = setup(Policy { breaker_threshold: 0, ..Policy::default() });

    let calls: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            let url = server.url("/");
            tokio::spawn(async move { client.send(client.request(Method::GET, url)).await })
        })
        .collect();
    for call in calls {
        let error = call.await.unwrap().unwrap_err();
        assert_eq!(error.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    }

    let hits = server.hits();
    assert!((50..=60).contains(&hits), "50 calls with a 20% budget reach the server at most 60 times, not {hits}");
    let stats = client.stats();
    assert_eq!(stats.requests, 50);
    assert!(stats.retries <= 10, "{stats:?}");
    assert_eq!(stats.attempts, hits as u64);
    assert_eq!(stats.errors, BTreeMap::from([("status", 50)]));
}

#[tokio::test]
async fn sequential_calls_spend_exactly_the_budget() {
    let server = Server::start([], Reply::status(500)).await;
    let Setup { client, .. } = setup(Policy { breaker_threshold: 0, ..Policy::default() });

    for _ in 0..50 {
        client.send(client.request(Method::GET, server.url("/"))).await.unwrap_err();
    }

    assert_eq!(server.hits(), 60);
    assert_eq!(client.stats().retries, 10);
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_and_closes_after_a_good_trial() {
    let server = Server::start([Reply::status(500), Reply::status(502), Reply::status(503)], Reply::json("{}")).await;
    let policy = Policy { max_attempts: 1, breaker_threshold: 3, breaker_cooldown: secs(30), ..Policy::default() };
    let Setup { client, clock, .. } = setup(policy);
    let url = server.url("/rest/api/3/issue/A-1");
    let get = || client.send(client.request(Method::GET, url.clone()));

    for _ in 0..3 {
        assert_eq!(get().await.unwrap_err().kind(), ErrorKind::Status);
    }
    assert!(matches!(client.breaker_state(&url), BreakerState::Open { .. }));

    let error = get().await.unwrap_err();
    assert!(matches!(error, HttpError::CircuitOpen { failures: 3, .. }), "{error:?}");
    assert!(error.to_string().contains(url.as_str()), "{error}");
    clock.advance(secs(29));
    assert_eq!(get().await.unwrap_err().kind(), ErrorKind::CircuitOpen);
    assert_eq!(server.hits(), 3, "no request reaches the server while the breaker is open");

    // Another path on the same host shares the breaker.
    let other = client.send(client.request(Method::GET, server.url("/other"))).await.unwrap_err();
    assert_eq!(other.kind(), ErrorKind::CircuitOpen);

    clock.advance(secs(1));
    get().await.unwrap();
    assert_eq!(client.breaker_state(&url), BreakerState::Closed { failures: 0 });
    get().await.unwrap();
    assert_eq!(server.hits(), 5);
    assert_eq!(client.stats().short_circuited, 3);
}

#[tokio::test]
async fn a_failed_trial_reopens_the_breaker() {
    let server = Server::start([Reply::status(503), Reply::status(503)], Reply::json("{}")).await;
    let policy = Policy { max_attempts: 1, breaker_threshold: 1, breaker_cooldown: secs(30), ..Policy::default() };
    let Setup { client, clock, .. } = setup(policy);
    let url = server.url("/");
    let get = || client.send(client.request(Method::GET, url.clone()));

    assert_eq!(get().await.unwrap_err().kind(), ErrorKind::Status);
    clock.advance(secs(30));
    assert_eq!(get().await.unwrap_err().kind(), ErrorKind::Status, "the trial reaches the server and fails");
    assert_eq!(get().await.unwrap_err().kind(), ErrorKind::CircuitOpen);
    assert_eq!(server.hits(), 2);

    clock.advance(secs(30));
    get().await.unwrap();
    assert_eq!(client.breaker_state(&url), BreakerState::Closed { failures: 0 });
}

#[tokio::test]
async fn a_trial_is_sent_once() {
    let server = Server::start([], Reply::status(503)).await;
    let policy = Policy { breaker_threshold: 1, breaker_cooldown: secs(30), ..generous() };
    let Setup { client, clock, .. } = setup(policy);
    let url = server.url("/");
    let get = || client.send(client.request(Method::GET, url.clone()));
    // An ordinary call is retried; it fails and opens the breaker.
    assert_eq!(get().await.unwrap_err().kind(), ErrorKind::Status);
    let before = server.hits();
    assert_eq!(before, 4, "the first call was sent max_attempts times");
    clock.advance(secs(30));
    assert_eq!(get().await.unwrap_err().kind(), ErrorKind::Status, "the trial reaches the server and fails");
    assert_eq!(server.hits(), before + 1, "the trial is not retried");
}

#[tokio::test]
async fn answered_client_errors_do_not_open_the_breaker() {
    let server = Server::start([], Reply::status(404)).await;
    let policy = Policy { breaker_threshold: 2, ..Policy::default() };
    let Setup { client, .. } = setup(policy);

    for _ in 0..5 {
        let error = client.send(client.request(Method::GET, server.url("/missing"))).await.unwrap_err();
        assert_eq!(error.status(), Some(StatusCode::NOT_FOUND));
    }

    assert_eq!(server.hits(), 5);
    assert_eq!(client.breaker_state(&server.url("/")), BreakerState::Closed { failures: 0 });
}
