//! greenlight's one outbound HTTP client: every call to Jira, GitHub, Slack or a webhook goes through
//! [`Client::send`], which bounds each attempt with a timeout, retries what is worth retrying with full-jitter
//! backoff (or the wait the server asks for), spends retries from a budget shared by the whole client so an
//! outage cannot turn into a retry storm, and stops calling a host whose calls keep failing (a circuit breaker
//! per host). Every error names the URL it was about, without its query string.
//!
//! This crate owns transport behaviour only. It deliberately knows no service's API, reads no configuration
//! or environment, and logs nothing: adapters build the requests, the binary supplies credentials, and a
//! server exports [`Client::stats`] as metrics. TLS is rustls; OpenSSL is never linked.

pub mod backoff;
pub mod breaker;
mod budget;
mod client;
mod error;
mod policy;
mod secret;
mod stats;

pub use breaker::BreakerState;
pub use client::{BuildError, Client, ClientBuilder, DEFAULT_USER_AGENT, IntoRequest, Response};
pub use error::{ErrorKind, HttpError, redact};
pub use policy::{Clock, Policy, PolicyError, Sleeper, SystemClock, TokioSleeper};
pub use reqwest::{Method, Request, RequestBuilder, StatusCode, Url, header};
pub use secret::{Auth, Secret};
pub use stats::Stats;
