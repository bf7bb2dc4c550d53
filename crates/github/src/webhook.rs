//! GitHub webhook deliveries: checking `X-Hub-Signature-256` over the raw body ([`verify_signature`]) and reading
//! the payload of the events greenlight acts on ([`parse`] into [`Event`]).
//!
//! This module owns the signature scheme and the payload fields greenlight relies on. It deliberately does not
//! receive requests, enforce the body limit, deduplicate deliveries or decide which pushes matter (the server
//! does, with [`MAX_BODY_BYTES`] and [`DELIVERY_HEADER`]), and it does not trust a push's `commits[]`: what a deploy
//! contains comes from git.

use std::fmt;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use sha2::Sha256;

/// `sha256=` + hex(HMAC-SHA256(secret, raw body)).
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
/// The event name: `push`, `ping`, ...
pub const EVENT_HEADER: &str = "X-GitHub-Event";
/// A GUID per delivery; a redelivery keeps it, so it is the key for deduplication.
pub const DELIVERY_HEADER: &str = "X-GitHub-Delivery";
/// GitHub caps payloads at 25 MB.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;
/// The `before` of a created ref and the `after` of a deleted one.
pub const NULL_SHA: &str = "0000000000000000000000000000000000000000";

const PREFIX: &str = "sha256=";
const DIGEST_BYTES: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// Why a delivery's signature was refused. Each variant is a different mistake to fix: no secret on our side, no
/// signature on theirs, a header that is not a signature at all, or a signature made with another secret (or
/// over another body).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no webhook secret is configured, so no delivery can be verified")]
    NoSecret,
    #[error("missing {SIGNATURE_HEADER} header")]
    Missing,
    #[error("malformed {SIGNATURE_HEADER} header: {0}")]
    Malformed(&'static str),
    #[error("signature in {SIGNATURE_HEADER} does not match the body")]
    Mismatch,
}

/// Checks the `X-Hub-Signature-256` header value against the raw body, comparing in constant time. An empty
/// secret verifies nothing: it is [`SignatureError::NoSecret`], never a pass.
pub fn verify_signature(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    Claimed::read(header)?.verify(secret, body)
}

/// The digest a signature header claims, read before the body is: a delivery without a well-formed one is refused
/// unread, so an unsigned client never makes the server hold a body of up to [`MAX_BODY_BYTES`].
#[derive(Debug)]
pub struct Claimed([u8; DIGEST_BYTES]);

impl Claimed {
    pub fn read(header: Option<&str>) -> Result<Self, SignatureError> {
        let header = header.map(str::trim).filter(|h| !h.is_empty());
        let header = header.ok_or(SignatureError::Missing)?;
        let hex = header.strip_prefix(PREFIX).ok_or(SignatureError::Malformed("expected sha256=<hex digest>"))?;
        if hex.len() != 2 * DIGEST_BYTES {
            return Err(SignatureError::Malformed("expected 64 hex digits after sha256="));
        }
        decode_hex(hex).map(Self).ok_or(SignatureError::Malformed("the digest is not hexadecimal"))
    }

    /// Whether `body` has this digest under `secret`, compared in constant time; an empty secret verifies nothing.
    pub fn verify(&self, secret: &[u8], body: &[u8]) -> Result<(), SignatureError> {
        if secret.is_empty() {
            return Err(SignatureError::NoSecret);
        }
        // `verify_slice` compares in constant time.
        mac(secret, body).verify_slice(&self.0).map_err(|_| SignatureError::Mismatch)
    }
}

/// The header value GitHub would send for this body: `sha256=<lowercase hex>`. For tests and load generators.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let digest = mac(secret, body).finalize().into_bytes();
    let mut out = String::with_capacity(PREFIX.len() + 2 * DIGEST_BYTES);
    out.push_str(PREFIX);
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn mac(secret: &[u8], body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("hmac accepts keys of any length");
    mac.update(body);
    mac
}

fn decode_hex(hex: &str) -> Option<[u8; DIGEST_BYTES]> {
    fn nibble(digit: u8) -> Option<u8> {
        char::from(digit).to_digit(16).map(|d| d as u8)
    }
    let mut out = [0u8; DIGEST_BYTES];
    let bytes = hex.as_bytes();
    if bytes.len() != 2 * out.len() {
        return None;
    }
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *slot = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// A delivery, read as far as greenlight needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Sent once when the hook is created; answered with 2xx and otherwise ignored.
    Ping(Ping),
    Push(Push),
    /// Any other event, by its `X-GitHub-Event` name. Its body was checked to be JSON and not read further.
    Other(String),
}

/// A `ping` delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ping {
    pub hook_id: Option<u64>,
    pub zen: Option<String>,
    /// `repository.full_name`; absent when the hook belongs to an organization or an app.
    pub repository: Option<String>,
}

/// A `push` delivery: one ref moved from `before` to `after`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Push {
    /// `repository.full_name`, `owner/name`.
    pub repository: String,
    pub clone_url: String,
    /// The full ref, `refs/heads/main` or `refs/tags/v1`.
    pub git_ref: String,
    /// [`NULL_SHA`] when the ref was created.
    pub before: String,
    /// [`NULL_SHA`] when the ref was deleted.
    pub after: String,
    pub created: bool,
    /// The payload's `deleted`, or `after` is [`NULL_SHA`].
    pub deleted: bool,
    pub forced: bool,
    /// `pusher.name`: the git user who pushed.
    pub pusher: Option<String>,
    /// `sender.login`: the GitHub account behind the push.
    pub sender: Option<String>,
    /// `head_commit.id`; `None` for a deletion.
    pub head_commit: Option<String>,
}

impl Push {
    /// The branch name for a push to `refs/heads/<branch>`, `None` for tags and other refs.
    pub fn branch(&self) -> Option<&str> {
        self.git_ref.strip_prefix("refs/heads/").filter(|b| !b.is_empty())
    }

    /// The tag name for a push to `refs/tags/<tag>`.
    pub fn tag(&self) -> Option<&str> {
        self.git_ref.strip_prefix("refs/tags/").filter(|t| !t.is_empty())
    }
}

/// The payload was not the JSON its event promises.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("missing {EVENT_HEADER} header")]
    MissingEvent,
    /// `path` is where in the document it went wrong, e.g. `repository.full_name` (`.` for the top level).
    #[error("malformed {event} payload{}: {source}", at(.path))]
    Json {
        event: String,
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("malformed {event} payload: {field} is {}, not a commit id", Shown(.value))]
    Sha { event: String, field: &'static str, value: String },
    /// The server fetches from it when its config names no `clone_url`: a path, another transport (`file://`,
    /// `ext::`) or something git would read as an option must never get there.
    #[error("malformed push payload: repository.clone_url is {}, not an http(s) url", Shown(.value))]
    CloneUrl { value: String },
}

fn at(path: &str) -> String {
    if path == "." { String::new() } else { format!(" at {path}") }
}

/// A value from a payload in a message: quoted, and cut short if it is long.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 80;
        match self.0.char_indices().nth(MAX) {
            Some((cut, _)) => write!(f, "{:?}…", &self.0[..cut]),
            None => write!(f, "{:?}", self.0),
        }
    }
}

/// Reads a delivery whose signature was verified. `event_header` is the `X-GitHub-Event` value.
pub fn parse(event_header: &str, body: &[u8]) -> Result<Event, ParseError> {
    let event = event_header.trim();
    match event {
        "" => Err(ParseError::MissingEvent),
        "ping" => {
            let raw: RawPing = decode(event, body)?;
            Ok(Event::Ping(Ping {
                hook_id: raw.hook_id,
                zen: raw.zen,
                repository: raw.repository.map(|r| r.full_name),
            }))
        }
        "push" => decode::<RawPush>(event, body)?.into_push().map(Event::Push),
        other => {
            decode::<IgnoredAny>(other, body)?;
            Ok(Event::Other(other.to_owned()))
        }
    }
}

fn decode<T: DeserializeOwned>(event: &str, body: &[u8]) -> Result<T, ParseError> {
    // The common case, a well-formed payload, goes without tracking the path; only a failure is decoded again to
    // say where it went wrong.
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let json_error = |path: String, source| ParseError::Json { event: event.to_owned(), path, source };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| json_error(error.path().to_string(), error.into_inner()))?;
    deserializer.end().map_err(|source| json_error(".".to_owned(), source))?;
    Ok(value)
}

#[derive(Deserialize)]
struct RawPing {
    hook_id: Option<u64>,
    zen: Option<String>,
    repository: Option<RawPingRepository>,
}

#[derive(Deserialize)]
struct RawPingRepository {
    full_name: String,
}

#[derive(Deserialize)]
struct RawPush {
    #[serde(rename = "ref")]
    git_ref: String,
    before: String,
    after: String,
    #[serde(default)]
    created: bool,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    forced: bool,
    repository: RawRepository,
    pusher: Option<RawPusher>,
    sender: Option<RawSender>,
    head_commit: Option<RawCommit>,
}

#[derive(Deserialize)]
struct RawRepository {
    full_name: String,
    clone_url: String,
}

#[derive(Deserialize)]
struct RawPusher {
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawSender {
    login: Option<String>,
}

#[derive(Deserialize)]
struct RawCommit {
    id: String,
}

impl RawPush {
    fn into_push(self) -> Result<Push, ParseError> {
        let sha = |field: &'static str, value: &str| {
            if is_sha(value) {
                Ok(())
            } else {
                Err(ParseError::Sha { event: "push".to_owned(), field, value: value.to_owned() })
            }
        };
        sha("before", &self.before)?;
        sha("after", &self.after)?;
        if let Some(head) = &self.head_commit {
            sha("head_commit.id", &head.id)?;
        }
        if !is_http_url(&self.repository.clone_url) {
            return Err(ParseError::CloneUrl { value: self.repository.clone_url });
        }
        Ok(Push {
            deleted: self.deleted || self.after == NULL_SHA,
            repository: self.repository.full_name,
            clone_url: self.repository.clone_url,
            git_ref: self.git_ref,
            before: self.before,
            after: self.after,
            created: self.created,
            forced: self.forced,
            pusher: self.pusher.and_then(|p| p.name),
            sender: self.sender.and_then(|s| s.login),
            head_commit: self.head_commit.map(|c| c.id),
        })
    }
}

/// An `http://` or `https://` url with a host, as GitHub's `clone_url` always is: the only kind of url a server
/// fetches from when a payload, not its operator, names it.
pub fn is_http_url(value: &str) -> bool {
    let rest = ["https://", "http://"].iter().find_map(|scheme| {
        value.get(..scheme.len()).filter(|head| head.eq_ignore_ascii_case(scheme)).map(|_| &value[scheme.len()..])
    });
    rest.is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
}

/// A full object id: 40 hex digits (SHA-1) or 64 (SHA-256 repositories), lower case as GitHub writes them.
pub(crate) fn is_sha(value: &str) -> bool {
    matches!(value.len(), 40 | 64) && value.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_SECRET: &[u8] = b"It's a Secret to Everybody";
    const VECTOR_BODY: &[u8] = b"Hello, World!";
    const VECTOR_SIGNATURE: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn the_published_test_vector() {
        assert_eq!(sign(VECTOR_SECRET, VECTOR_BODY), VECTOR_SIGNATURE);
        assert_eq!(verify_signature(VECTOR_SECRET, VECTOR_BODY, Some(VECTOR_SIGNATURE)), Ok(()));
        let upper = format!("sha256={}", VECTOR_SIGNATURE[7..].to_uppercase());
        assert_eq!(verify_signature(VECTOR_SECRET, VECTOR_BODY, Some(&upper)), Ok(()));
    }

    #[test]
    fn each_way_of_being_wrong_has_its_own_error() {
        let check = |secret: &[u8], body: &[u8], header: Option<&str>, expect: SignatureError| {
            assert_eq!(verify_signature(secret, body, header), Err(expect), "{header:?}");
        };
        check(b"", VECTOR_BODY, Some(VECTOR_SIGNATURE), SignatureError::NoSecret);
        check(VECTOR_SECRET, VECTOR_BODY, None, SignatureError::Missing);
        check(VECTOR_SECRET, VECTOR_BODY, Some("  "), SignatureError::Missing);
        let sha1 = "sha1=0123456789abcdef0123456789abcdef01234567";
        check(VECTOR_SECRET, VECTOR_BODY, Some(sha1), SignatureError::Malformed("expected sha256=<hex digest>"));
        check(
            VECTOR_SECRET,
            VECTOR_BODY,
            Some(&VECTOR_SIGNATURE[..70]),
            SignatureError::Malformed("expected 64 hex digits after sha256="),
        );
        let not_hex = format!("sha256={}", "zz".repeat(32));
        check(VECTOR_SECRET, VECTOR_BODY, Some(&not_hex), SignatureError::Malformed("the digest is not hexadecimal"));
        check(b"another secret", VECTOR_BODY, Some(VECTOR_SIGNATURE), SignatureError::Mismatch);
        check(VECTOR_SECRET, b"Hello, World?", Some(VECTOR_SIGNATURE), SignatureError::Mismatch);
    }

    #[test]
    fn signature_messages_are_lowercase() {
        for error in [
            SignatureError::NoSecret,
            SignatureError::Missing,
            SignatureError::Malformed("x"),
            SignatureError::Mismatch,
        ] {
            let message = error.to_string();
            assert!(message.starts_with(char::is_lowercase), "{message}");
        }
        assert_eq!(SignatureError::Missing.to_string(), "missing X-Hub-Signature-256 header");
    }

    fn push_body(before: &str, after: &str, git_ref: &str) -> String {
        serde_json::json!({
            "ref": git_ref,
            "before": before,
            "after": after,
            "created": false,
            "deleted": false,
            "forced": true,
            "repository": {"full_name": "acme/shop", "clone_url": "https://example.com/acme/shop.git"},
            "head_commit": null,
        })
        .to_string()
    }

    fn parse_push(body: &str) -> Push {
        match parse("push", body.as_bytes()).unwrap() {
            Event::Push(push) => push,
            other => panic!("not a push: {other:?}"),
        }
    }

    #[test]
    fn push_fields_and_ref_names() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let push = parse_push(&push_body(&a, &b, "refs/heads/release/2.0"));
        assert_eq!(push.branch(), Some("release/2.0"));
        assert_eq!(push.tag(), None);
        assert_eq!((push.before.as_str(), push.after.as_str()), (a.as_str(), b.as_str()));
        assert!(push.forced && !push.deleted && !push.created);
        assert_eq!((push.pusher, push.sender, push.head_commit), (None, None, None));

        let tag = parse_push(&push_body(&a, &b, "refs/tags/v1"));
        assert_eq!((tag.branch(), tag.tag()), (None, Some("v1")));
        let odd = parse_push(&push_body(&a, &b, "refs/heads/"));
        assert_eq!(odd.branch(), None);
    }

    #[test]
    fn after_of_zeros_is_a_deletion_even_if_the_flag_says_otherwise() {
        let push = parse_push(&push_body(&"a".repeat(40), NULL_SHA, "refs/heads/deploy"));
        assert!(push.deleted);
        let sha256 = parse_push(&push_body(&"a".repeat(64), &"c".repeat(64), "refs/heads/deploy"));
        assert!(!sha256.deleted);
    }

    fn parse_error(event: &str, body: &str) -> String {
        parse(event, body.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn malformed_payloads_say_what_and_where() {
        let a = "a".repeat(40);
        let mut value: serde_json::Value = serde_json::from_str(&push_body(&a, &a, "refs/heads/x")).unwrap();
        value["repository"]["full_name"] = serde_json::Value::Null;
        let message = parse_error("push", &value.to_string());
        assert!(
            message
                .starts_with("malformed push payload at repository.full_name: invalid type: null, expected a string"),
            "{message}"
        );

        value["repository"] = serde_json::json!({"clone_url": "u"});
        let message = parse_error("push", &value.to_string());
        assert!(message.contains("missing field `full_name`"), "{message}");
        assert!(message.starts_with("malformed push payload at repository"), "{message}");

        let message = parse_error("push", "{\"ref\": ");
        assert!(message.starts_with("malformed push payload"), "{message}");
        assert!(message.contains("EOF"), "{message}");

        let message = parse_error("ping", "{} trailing");
        assert!(message.starts_with("malformed ping payload: trailing characters"), "{message}");

        let message = parse_error("workflow_run", "<html>");
        assert!(message.starts_with("malformed workflow_run payload: expected value"), "{message}");

        let message = parse_error("push", &push_body(&a, "HEAD", "refs/heads/x"));
        assert_eq!(message, "malformed push payload: after is \"HEAD\", not a commit id");

        // The server may fetch from it: only GitHub's own kind of url, never a path, another transport or an option.
        for hostile in ["--upload-pack=touch /tmp/x;", "file:///etc", "/srv/git/other.git", "ext::sh -c id", ""] {
            value = serde_json::from_str(&push_body(&a, &a, "refs/heads/x")).unwrap();
            value["repository"]["clone_url"] = hostile.into();
            let message = parse_error("push", &value.to_string());
            assert_eq!(
                message,
                format!("malformed push payload: repository.clone_url is {hostile:?}, not an http(s) url"),
                "{hostile}"
            );
        }
        for fine in ["https://github.com/acme/shop.git", "HTTP://ghe.internal/acme/shop.git"] {
            value = serde_json::from_str(&push_body(&a, &a, "refs/heads/x")).unwrap();
            value["repository"]["clone_url"] = fine.into();
            assert!(parse("push", value.to_string().as_bytes()).is_ok(), "{fine}");
        }

        assert_eq!(parse_error(" ", "{}"), "missing X-GitHub-Event header");
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "x".repeat(500);
        let message = parse_error("push", &push_body(&long, &"a".repeat(40), "refs/heads/x"));
        assert!(message.len() < 200, "{message}");
        assert!(message.ends_with("…, not a commit id"), "{message}");
    }

    #[test]
    fn other_events_keep_their_name() {
        let check = |event: &str, expect: Event| assert_eq!(parse(event, b"{\"a\": [1]}").unwrap(), expect);
        check("check_run", Event::Other("check_run".into()));
        check(" status ", Event::Other("status".into()));
        check("ping", Event::Ping(Ping { hook_id: None, zen: None, repository: None }));
    }

    #[test]
    fn shas() {
        assert!(is_sha(&"0".repeat(40)));
        assert!(is_sha(&"f".repeat(64)));
        assert!(!is_sha(&"F".repeat(40)));
        assert!(!is_sha(&"a".repeat(41)));
        assert!(!is_sha(""));
    }
}
