//! The [`Client`] every outbound call of greenlight goes through, its [`ClientBuilder`], and the [`Response`]
//! it hands back.
//!
//! This module owns the attempt loop: which answers are retried (connect errors, timeouts, 429, 500, 502, 503,
//! 504, and 403 when it is a rate limit), how long to wait (server hint, else full jitter), when to stop (attempts,
//! budget, a hint that is too long), and what the breaker hears. It deliberately knows no service: URLs,
//! headers, bodies and credentials come from the adapters (`tracker`, `github`, ...), which build the requests.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, Request, RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::backoff;
use crate::breaker::{BreakerState, Breakers, host_key};
use crate::budget::RetryBudget;
use crate::error::{ErrorKind, HttpError, redact};
use crate::policy::{Clock, Policy, PolicyError, Sleeper, SystemClock, TokioSleeper};
use crate::stats::{Recorder, Stats};

/// Sent when the builder is not told otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!("greenlight/", env!("CARGO_PKG_VERSION"));

/// How many bytes of an error body are read for [`HttpError::Status`]'s excerpt.
const EXCERPT_BYTES: usize = 1024;
/// How many characters of it the message shows.
const EXCERPT_CHARS: usize = 300;

/// An HTTP client with timeouts, retries, a retry budget and a breaker per host. Cloning is cheap and clones
/// share everything: connection pool, budget, breakers and counters.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    policy: Policy,
    sleeper: Arc<dyn Sleeper>,
    clock: Arc<dyn Clock>,
    budget: RetryBudget,
    breakers: Breakers,
    stats: Recorder,
    credential: Option<String>,
}

/// The client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("invalid http policy: {0}")]
    Policy(#[from] PolicyError),
    #[error("invalid user agent {0:?}")]
    UserAgent(String),
    #[error("cannot set up the http client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Configures a [`Client`]. Everything has a default; see [`Policy::default`].
#[derive(Debug)]
pub struct ClientBuilder {
    policy: Policy,
    user_agent: String,
    default_headers: HeaderMap,
    sleeper: Arc<dyn Sleeper>,
    clock: Arc<dyn Clock>,
    credential: Option<String>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            default_headers: HeaderMap::new(),
            sleeper: Arc::new(TokioSleeper),
            clock: Arc::new(SystemClock),
            credential: None,
        }
    }
}

impl ClientBuilder {
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Headers sent with every request unless the request sets them (e.g. GitHub's `Accept`).
    pub fn default_headers(mut self, headers: HeaderMap) -> Self {
        self.default_headers = headers;
        self
    }

    /// What waits between attempts; tests pass one that records and returns at once.
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Where breakers and rate-limit resets read the time; tests pass one they move by hand.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The name of the credential this client sends (e.g. `"JIRA_TOKEN"`), named by every
    /// [`HttpError::Unauthorized`] it returns.
    pub fn credential_name(mut self, name: impl Into<String>) -> Self {
        self.credential = Some(name.into());
        self
    }

    pub fn build(self) -> Result<Client, BuildError> {
        self.policy.validate()?;
        let user_agent =
            HeaderValue::from_str(&self.user_agent).map_err(|_| BuildError::UserAgent(self.user_agent.clone()))?;
        let http = reqwest::Client::builder()
            .user_agent(user_agent)
            .default_headers(self.default_headers)
            .timeout(self.policy.attempt_timeout)
            .connect_timeout(self.policy.connect_timeout)
            .build()?;
        let inner = Inner {
            http,
            budget: RetryBudget::new(self.policy.budget_per_mille(), self.policy.retry_budget_reserve),
            breakers: Breakers::new(self.policy.breaker_threshold, self.policy.breaker_cooldown),
            policy: self.policy,
            sleeper: self.sleeper,
            clock: self.clock,
            stats: Recorder::default(),
            credential: self.credential,
        };
        Ok(Client { inner: Arc::new(inner) })
    }
}

/// A request, or a builder that still has to be built (building can fail: that is [`HttpError::Request`]).
pub trait IntoRequest {
    fn into_request(self) -> Result<Request, HttpError>;
}

impl IntoRequest for Request {
    fn into_request(self) -> Result<Request, HttpError> {
        Ok(self)
    }
}

impl IntoRequest for RequestBuilder {
    fn into_request(self) -> Result<Request, HttpError> {
        self.build().map_err(|error| HttpError::Request {
            url: error.url().map(redact).unwrap_or_else(|| "<no url>".to_owned()),
            cause: error.without_url(),
        })
    }
}

/// What to do with an answer.
enum Answer {
    Done,
    Retry,
    Unauthorized,
    Unexpected,
}

fn judge(status: StatusCode, headers: &HeaderMap) -> Answer {
    match status.as_u16() {
        0..=399 => Answer::Done,
        401 => Answer::Unauthorized,
        403 if backoff::is_rate_limited(headers) => Answer::Retry,
        403 => Answer::Unauthorized,
        429 | 500 | 502 | 503 | 504 => Answer::Retry,
        _ => Answer::Unexpected,
    }
}

/// Whether the error, returned after retries, counts against the host's breaker. `None`: it says nothing
/// about the host (the request was never sent).
fn host_failed(error: &HttpError) -> Option<bool> {
    match error {
        HttpError::Timeout { .. }
        | HttpError::Connect { .. }
        | HttpError::Transport { .. }
        | HttpError::RetryAfterTooLong { .. } => Some(true),
        HttpError::Status { status, .. } => Some(status.is_server_error() || matches!(status.as_u16(), 403 | 429)),
        HttpError::Unauthorized { .. } => Some(false),
        HttpError::CircuitOpen { .. }
        | HttpError::Decode { .. }
        | HttpError::Body { .. }
        | HttpError::Request { .. } => None,
    }
}

impl Client {
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client with the default policy.
    pub fn new() -> Result<Self, BuildError> {
        Self::builder().build()
    }

    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// Starts a request on this client's connection pool; pass it (built or not) to [`Client::send`].
    pub fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.inner.http.request(method, url)
    }

    /// Sends one logical request: admitted by the host's breaker, retried as the policy and the budget allow.
    /// Answers below 400 are returned; everything else is an [`HttpError`] naming the URL.
    pub async fn send(&self, request: impl IntoRequest) -> Result<Response, HttpError> {
        let inner = &*self.inner;
        inner.stats.request();
        let result = self.admitted(request).await;
        result.map_err(|error| {
            inner.stats.error(error.kind());
            match &inner.credential {
                Some(name) => error.with_credential(name.clone()),
                None => error,
            }
        })
    }

    /// Sends the request and decodes the JSON body of the answer.
    pub async fn json<T: DeserializeOwned>(&self, request: impl IntoRequest) -> Result<T, HttpError> {
        let decoded = self.send(request).await?.json().await;
        if let Err(error) = &decoded {
            self.inner.stats.error(error.kind());
        }
        decoded
    }

    /// What this client has done so far.
    pub fn stats(&self) -> Stats {
        self.inner.stats.snapshot()
    }

    /// The state of the breaker for the URL's host.
    pub fn breaker_state(&self, url: &Url) -> BreakerState {
        self.inner.breakers.state(&host_key(url))
    }

    /// While the breaker for the URL's host refuses calls, how long until one may go through.
    pub fn breaker_retry_in(&self, url: &Url) -> Option<Duration> {
        self.inner.breakers.retry_in(&host_key(url), self.inner.clock.now())
    }

    async fn admitted(&self, request: impl IntoRequest) -> Result<Response, HttpError> {
        let inner = &*self.inner;
        let request = request.into_request()?;
        let url = redact(request.url());
        let permit = match inner.breakers.admit(&host_key(request.url()), inner.clock.now()) {
            Ok(permit) => permit,
            Err(rejected) => {
                inner.stats.short_circuited();
                return Err(HttpError::CircuitOpen { url, failures: rejected.failures });
            }
        };
        inner.budget.record_call(inner.clock.now());
        // A trial asks whether the host is back: sent once, since a retry would only add load to a host that is not.
        let max_attempts = if permit.is_trial() { 1 } else { inner.policy.max_attempts };
        let result = self.attempts(request, url, max_attempts).await;
        match result.as_ref().err().map(host_failed) {
            None | Some(Some(false)) => permit.success(),
            Some(Some(true)) => permit.failure(inner.clock.now()),
            Some(None) => drop(permit),
        }
        result
    }

    async fn attempts(&self, request: Request, url: String, max_attempts: u32) -> Result<Response, HttpError> {
        let inner = &*self.inner;
        let policy = &inner.policy;
        let timeout = request.timeout().copied().unwrap_or(policy.attempt_timeout);
        let mut next = Some(request);
        let mut attempt = 0u32;
        loop {
            let Some(current) = next.take() else { unreachable!("the loop only continues with a request") };
            // A body that cannot be copied (a stream) is sent once: there is nothing to send again.
            if attempt + 1 < max_attempts {
                next = current.try_clone();
            }
            inner.stats.attempt(attempt > 0);
            let (error, hint) = match inner.http.execute(current).await {
                Ok(response) => {
                    let status = response.status();
                    inner.stats.response(status.as_u16());
                    match judge(status, response.headers()) {
                        Answer::Done => {
                            return Ok(Response { inner: response, url, timeout });
                        }
                        Answer::Unauthorized => {
                            return Err(HttpError::Unauthorized { url, status, credential: None });
                        }
                        Answer::Unexpected => {
                            let body = excerpt(response).await;
                            return Err(HttpError::Status { url, status, body });
                        }
                        Answer::Retry => {
                            let hint = backoff::server_hint(response.headers(), inner.clock.wall());
                            let body = excerpt(response).await;
                            (HttpError::Status { url: url.clone(), status, body }, hint)
                        }
                    }
                }
                Err(error) => {
                    let after = if error.is_connect() { policy.connect_timeout } else { timeout };
                    let error = HttpError::from_reqwest(&url, error, after);
                    inner.stats.attempt_error(error.kind());
                    if !matches!(error.kind(), ErrorKind::Timeout | ErrorKind::Connect | ErrorKind::Transport) {
                        return Err(error);
                    }
                    (error, None)
                }
            };
            if next.is_none() {
                return Err(error);
            }
            let wait = match hint {
                Some(wait) if wait > policy.max_hinted_wait => {
                    return Err(HttpError::RetryAfterTooLong { url, wait, max: policy.max_hinted_wait });
                }
                Some(wait) => wait,
                None => backoff::full_jitter(policy.base_backoff, policy.max_backoff, attempt, fastrand::f64()),
            };
            if !inner.budget.try_retry(inner.clock.now()) {
                inner.stats.budget_exhausted();
                return Err(error);
            }
            inner.sleeper.sleep(wait).await;
            attempt += 1;
        }
    }
}

/// Reads the start of an error body for a message: lossy UTF-8, whitespace collapsed, cut short.
async fn excerpt(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((cut, _)) = words.char_indices().nth(EXCERPT_CHARS) {
        words.truncate(cut);
        words.push('…');
    }
    words
}

/// An answer below 400. Reading its body reports failures as [`HttpError`]s naming the URL.
#[derive(Debug)]
pub struct Response {
    inner: reqwest::Response,
    url: String,
    timeout: Duration,
}

impl Response {
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The request's URL, redacted as in error messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn bytes(self) -> Result<Vec<u8>, HttpError> {
        let Response { inner, url, timeout } = self;
        match inner.bytes().await {
            Ok(bytes) => Ok(bytes.to_vec()),
            Err(error) => Err(HttpError::from_reqwest(&url, error, timeout)),
        }
    }

    pub async fn text(self) -> Result<String, HttpError> {
        let Response { inner, url, timeout } = self;
        inner.text().await.map_err(|error| HttpError::from_reqwest(&url, error, timeout))
    }

    /// Decodes the body as JSON; a body that does not fit `T` is [`HttpError::Decode`].
    pub async fn json<T: DeserializeOwned>(self) -> Result<T, HttpError> {
        let url = self.url.clone();
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|cause| HttpError::Decode { url, cause })
    }

    /// The underlying reqwest response, for streaming a large body.
    pub fn into_inner(self) -> reqwest::Response {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, RETRY_AFTER};

    #[test]
    fn which_answers_are_retried() {
        let check = |status: u16, headers: &[(&str, &str)], expect: &str| {
            let headers: HeaderMap = headers
                .iter()
                .map(|(k, v)| (HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap()))
                .collect();
            let got = match judge(StatusCode::from_u16(status).unwrap(), &headers) {
                Answer::Done => "done",
                Answer::Retry => "retry",
                Answer::Unauthorized => "unauthorized",
                Answer::Unexpected => "unexpected",
            };
            assert_eq!(got, expect, "{status} {headers:?}");
        };
        check(200, &[], "done");
        check(204, &[], "done");
        check(304, &[], "done");
        check(400, &[], "unexpected");
        check(401, &[(RETRY_AFTER.as_str(), "5")], "unauthorized");
        check(403, &[], "unauthorized");
        check(403, &[("x-ratelimit-remaining", "0")], "retry");
        check(403, &[("retry-after", "5")], "retry");
        check(404, &[], "unexpected");
        check(409, &[], "unexpected");
        check(422, &[], "unexpected");
        for status in [429, 500, 502, 503, 504] {
            check(status, &[], "retry");
        }
        check(501, &[], "unexpected");
    }

    #[test]
    fn what_counts_against_a_host() {
        let url = || "https://x.example/".to_owned();
        let status =
            |code: u16| HttpError::Status { url: url(), status: StatusCode::from_u16(code).unwrap(), body: "".into() };
        assert_eq!(host_failed(&HttpError::Timeout { url: url(), after: Duration::from_secs(1) }), Some(true));
        assert_eq!(host_failed(&status(503)), Some(true));
        assert_eq!(host_failed(&status(429)), Some(true));
        assert_eq!(host_failed(&status(404)), Some(false));
        assert_eq!(
            host_failed(&HttpError::Unauthorized { url: url(), status: StatusCode::UNAUTHORIZED, credential: None }),
            Some(false)
        );
        assert_eq!(host_failed(&HttpError::CircuitOpen { url: url(), failures: 5 }), None);
    }

    #[test]
    fn builder_refuses_a_bad_policy() {
        let policy = Policy { max_attempts: 0, ..Policy::default() };
        let error = Client::builder().policy(policy).build().unwrap_err();
        assert_eq!(error.to_string(), "invalid http policy: max_attempts must be at least 1");
    }
}
