//! greenlight's GitHub adapter: what GitHub sends (signed webhook deliveries, see [`webhook`]), what greenlight
//! says back (commit statuses and their 140-character descriptions, see [`status`]), and the REST calls that
//! carry it (see [`api`]).
//!
//! This crate owns GitHub's wire formats and API paths. It deliberately has no HTTP server, routes, inbox or
//! database (the server crate receives deliveries and stores them), decides no verdict (checks do), and sends
//! every request through the one outbound client, `greenlight_http::Client`, which owns retries, rate-limit
//! waits, the retry budget and the circuit breaker.

pub mod api;
pub mod status;
pub mod webhook;

pub use api::{API_VERSION, DEFAULT_API_URL, GitHub, GitHubError, MEDIA_TYPE};
pub use status::{MAX_DESCRIPTION_CHARS, StatusState, describe, fit_description, state_for};
pub use webhook::{
    DELIVERY_HEADER, EVENT_HEADER, Event, MAX_BODY_BYTES, NULL_SHA, ParseError, Ping, Push, SIGNATURE_HEADER,
    SignatureError, parse, sign, verify_signature,
};
