//! What can go wrong with an outbound call: [`HttpError`], its coarse [`ErrorKind`], and [`redact`], which
//! turns a URL into the form every message shows.
//!
//! This module owns the wording and the classification of failures. It deliberately does not decide what is
//! retried or what opens a circuit breaker (the client does), and it never prints a query string, a user name
//! or a password of a URL, because that is where some services put their keys.

use std::time::Duration;

use reqwest::{StatusCode, Url};

/// A failed outbound call. Every message names the URL, without its query string, and what went wrong once: the
/// root cause of a reqwest error (`connection refused (os error 111)`), not the layers above it. The message is
/// the whole story, so no variant has an error `source()`: a caller that prints the chain (anyhow's `{:#}`) would
/// print the cause twice.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// One attempt took longer than the per-attempt timeout (the last attempt, when there were retries).
    #[error("request to {url} timed out after {}", seconds(*.after))]
    Timeout { url: String, after: Duration },

    /// The host could not be reached: DNS, refused connection, TLS handshake.
    #[error("cannot reach {url}: {}", root_cause(.cause))]
    Connect { url: String, cause: reqwest::Error },

    /// The connection broke after it was made (reset, closed before the response was complete).
    #[error("connection to {url} failed: {}", root_cause(.cause))]
    Transport { url: String, cause: reqwest::Error },

    /// The server answered with a status the caller did not ask for. `body` is a short excerpt.
    #[error("{url} answered {status}{}", excerpt_suffix(.body))]
    Status { url: String, status: StatusCode, body: String },

    /// 401, or 403 that is not a rate limit: the credential is missing, wrong, or lacks a permission.
    /// `credential` names what the user should check (an environment variable, a config key).
    #[error("{url} refused the credentials ({status}); check {}", .credential.as_deref().unwrap_or("the configured token"))]
    Unauthorized { url: String, status: StatusCode, credential: Option<String> },

    /// Recent calls to this host kept failing; this one was not sent.
    #[error("not calling {url}: its host failed {failures} times in a row, waiting before trying again")]
    CircuitOpen { url: String, failures: u32 },

    /// The server asked to wait longer than the policy allows; failing now beats hanging.
    #[error("{url} asked to retry after {}, longer than the {} this client waits", seconds(*.wait), seconds(*.max))]
    RetryAfterTooLong { url: String, wait: Duration, max: Duration },

    /// The body was not the JSON the caller expected.
    #[error("malformed json from {url}: {}", root_cause(.cause))]
    Decode { url: String, cause: serde_json::Error },

    /// Reading the response body failed.
    #[error("cannot read the response body from {url}: {}", root_cause(.cause))]
    Body { url: String, cause: reqwest::Error },

    /// The request could not be built (bad URL, bad header value) or could not be sent as built.
    #[error("cannot build the request to {url}: {}", root_cause(.cause))]
    Request { url: String, cause: reqwest::Error },
}

/// The variant of an [`HttpError`] without its data, for metrics and branching.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    Timeout,
    Connect,
    Transport,
    Status,
    Unauthorized,
    CircuitOpen,
    RetryAfterTooLong,
    Decode,
    Body,
    Request,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::Timeout,
        ErrorKind::Connect,
        ErrorKind::Transport,
        ErrorKind::Status,
        ErrorKind::Unauthorized,
        ErrorKind::CircuitOpen,
        ErrorKind::RetryAfterTooLong,
        ErrorKind::Decode,
        ErrorKind::Body,
        ErrorKind::Request,
    ];

    /// A stable snake_case name, fit for a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Transport => "transport",
            ErrorKind::Status => "status",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::CircuitOpen => "circuit_open",
            ErrorKind::RetryAfterTooLong => "retry_after_too_long",
            ErrorKind::Decode => "decode",
            ErrorKind::Body => "body",
            ErrorKind::Request => "request",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl HttpError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            HttpError::Timeout { .. } => ErrorKind::Timeout,
            HttpError::Connect { .. } => ErrorKind::Connect,
            HttpError::Transport { .. } => ErrorKind::Transport,
            HttpError::Status { .. } => ErrorKind::Status,
            HttpError::Unauthorized { .. } => ErrorKind::Unauthorized,
            HttpError::CircuitOpen { .. } => ErrorKind::CircuitOpen,
            HttpError::RetryAfterTooLong { .. } => ErrorKind::RetryAfterTooLong,
            HttpError::Decode { .. } => ErrorKind::Decode,
            HttpError::Body { .. } => ErrorKind::Body,
            HttpError::Request { .. } => ErrorKind::Request,
        }
    }

    /// The redacted URL the message names.
    pub fn url(&self) -> &str {
        match self {
            HttpError::Timeout { url, .. }
            | HttpError::Connect { url, .. }
            | HttpError::Transport { url, .. }
            | HttpError::Status { url, .. }
            | HttpError::Unauthorized { url, .. }
            | HttpError::CircuitOpen { url, .. }
            | HttpError::RetryAfterTooLong { url, .. }
            | HttpError::Decode { url, .. }
            | HttpError::Body { url, .. }
            | HttpError::Request { url, .. } => url,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            HttpError::Status { status, .. } | HttpError::Unauthorized { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Names the credential to check in an [`HttpError::Unauthorized`] message, e.g. `"JIRA_TOKEN"`.
    /// Other errors pass through unchanged, so callers can apply it to any result:
    /// `client.send(req).await.map_err(|e| e.with_credential("JIRA_TOKEN"))`.
    pub fn with_credential(self, name: impl Into<String>) -> Self {
        match self {
            HttpError::Unauthorized { url, status, .. } => {
                HttpError::Unauthorized { url, status, credential: Some(name.into()) }
            }
            other => other,
        }
    }

    /// Maps a reqwest error of one attempt (or of reading a body) to the variant that says what happened.
    pub(crate) fn from_reqwest(url: &str, error: reqwest::Error, timeout: Duration) -> Self {
        // reqwest's own message repeats the full URL, query string included; the message names it redacted.
        let cause = error.without_url();
        let url = url.to_owned();
        if cause.is_timeout() {
            HttpError::Timeout { url, after: timeout }
        } else if cause.is_builder() || cause.is_redirect() {
            HttpError::Request { url, cause }
        } else if cause.is_connect() {
            HttpError::Connect { url, cause }
        } else if cause.is_body() || cause.is_decode() {
            HttpError::Body { url, cause }
        } else {
            HttpError::Transport { url, cause }
        }
    }
}

/// The URL as messages show it: no user name, no password, no query string, no fragment, and no path where the path
/// is the credential (Slack's and Discord's incoming webhooks).
pub fn redact(url: &Url) -> String {
    let mut url = url.clone();
    // Both fail only for URLs that cannot have credentials (e.g. `data:`), which then have none to hide.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    let secret_path = match url.host_str() {
        Some("hooks.slack.com") => Some("/services/***"),
        Some("discord.com" | "discordapp.com") if url.path().starts_with("/api/webhooks/") => Some("/api/webhooks/***"),
        _ => None,
    };
    if let Some(path) = secret_path {
        url.set_path(path);
    }
    url.into()
}

/// The most specific message of an error's source chain, said once: the last error of the chain (reqwest's
/// "error sending request" wraps hyper's "client error (Connect)", which wraps "tcp connect error", which wraps the
/// operating system's "Connection refused (os error 111)"), with a leading capital lowered as the rest of the message
/// is. A root whose message is empty leaves the nearest error above it that says something.
fn root_cause(error: &dyn std::error::Error) -> String {
    let mut said = error.to_string();
    let mut next = error.source();
    while let Some(source) = next {
        let text = source.to_string();
        if !text.trim().is_empty() {
            said = text;
        }
        next = source.source();
    }
    lowercase_first(said)
}

/// `Connection refused` reads `connection refused`; an initialism (`TLS handshake`, `EOF while parsing`) stays.
fn lowercase_first(text: String) -> String {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && !second.is_uppercase() => {
            first.to_lowercase().chain(text[first.len_utf8()..].chars()).collect()
        }
        _ => text,
    }
}

fn seconds(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis.is_multiple_of(1000) {
        format!("{} s", millis / 1000)
    } else {
        format!("{:.3} s", duration.as_secs_f64())
    }
}

fn excerpt_suffix(body: &str) -> String {
    if body.is_empty() { String::new() } else { format!(": {body}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_drops_query_and_credentials() {
        let check = |input: &str, expect: &str| assert_eq!(redact(&Url::parse(input).unwrap()), expect);
        check(
            "https://user:pw@jira.example.com/rest/api/3/search?token=abc#x",
            "https://jira.example.com/rest/api/3/search",
        );
        check("http://127.0.0.1:8080/a?b=c", "http://127.0.0.1:8080/a");
        check("https://api.github.com/", "https://api.github.com/");
        check("https://hooks.slack.com/services/T0001/B0001/XXXXXXXXXXXXXXXX", "https://hooks.slack.com/services/***");
        check("https://discord.com/api/webhooks/123/token-abc", "https://discord.com/api/webhooks/***");
    }

    #[test]
    fn messages_are_lowercase_and_name_the_url() {
        let url = "https://api.github.com/repos/o/r".to_owned();
        let errors = [
            HttpError::Timeout { url: url.clone(), after: Duration::from_millis(200) },
            HttpError::Status { url: url.clone(), status: StatusCode::NOT_FOUND, body: "not found".into() },
            HttpError::Unauthorized { url: url.clone(), status: StatusCode::UNAUTHORIZED, credential: None },
            HttpError::CircuitOpen { url: url.clone(), failures: 5 },
            HttpError::RetryAfterTooLong {
                url: url.clone(),
                wait: Duration::from_secs(120),
                max: Duration::from_secs(60),
            },
        ];
        for error in errors {
            let message = error.to_string();
            assert!(message.contains(&url), "{message}");
            let first = message.chars().next().unwrap();
            assert!(!first.is_uppercase(), "{message}");
        }
    }

    #[test]
    fn wording_of_each_message() {
        let url = "https://x.example/api".to_owned();
        let check = |error: HttpError, expect: &str| assert_eq!(error.to_string(), expect);
        check(
            HttpError::Timeout { url: url.clone(), after: Duration::from_millis(200) },
            "request to https://x.example/api timed out after 0.200 s",
        );
        check(
            HttpError::Status { url: url.clone(), status: StatusCode::BAD_REQUEST, body: "bad field".into() },
            "https://x.example/api answered 400 Bad Request: bad field",
        );
        check(
            HttpError::Status { url: url.clone(), status: StatusCode::NOT_FOUND, body: String::new() },
            "https://x.example/api answered 404 Not Found",
        );
        check(
            HttpError::RetryAfterTooLong {
                url: url.clone(),
                wait: Duration::from_secs(3600),
                max: Duration::from_secs(60),
            },
            "https://x.example/api asked to retry after 3600 s, longer than the 60 s this client waits",
        );
    }

    #[test]
    fn unauthorized_names_the_credential_to_check() {
        let error = HttpError::Unauthorized {
            url: "https://jira.example.com/rest/api/3/myself".into(),
            status: StatusCode::UNAUTHORIZED,
            credential: None,
        };
        assert!(error.to_string().ends_with("check the configured token"), "{error}");
        let error = error.with_credential("JIRA_TOKEN");
        assert_eq!(
            error.to_string(),
            "https://jira.example.com/rest/api/3/myself refused the credentials (401 Unauthorized); check JIRA_TOKEN"
        );
        let other = HttpError::CircuitOpen { url: "u".into(), failures: 1 }.with_credential("X");
        assert_eq!(other.kind(), ErrorKind::CircuitOpen);
    }

    /// An error with a message and what it wraps, as reqwest's, hyper's and the OS's errors nest.
    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    fn layers(messages: &[&'static str]) -> Layer {
        messages.iter().rev().fold(None, |inner, m| Some(Layer(m, inner.map(Box::new)))).unwrap()
    }

    #[test]
    fn the_root_cause_is_said_once() {
        let check = |messages: &[&'static str], expect: &str| assert_eq!(root_cause(&layers(messages)), expect);
        check(
            &[
                "error sending request",
                "client error (Connect)",
                "tcp connect error",
                "Connection refused (os error 111)",
            ],
            "connection refused (os error 111)",
        );
        check(
            &["error sending request", "client error (Connect)", "dns error", "failed to lookup address information"],
            "failed to lookup address information",
        );
        check(&["error sending request", "client error (Connect)", "TLS handshake failed"], "TLS handshake failed");
        check(&["error sending request", "connection closed", ""], "connection closed");
        check(&["EOF while parsing a value"], "EOF while parsing a value");
    }

    #[test]
    fn kinds_have_distinct_indexes_and_names() {
        for (i, kind) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
        let mut names: Vec<_> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::ALL.len());
    }
}
