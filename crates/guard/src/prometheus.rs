//! Prometheus as a `MetricSource`: `query_range` through greenlight's one HTTP client, and the matrix answer.
//!
//! Owns: the request (`GET /api/v1/query_range`), decoding `{"status":"success","data":{"resultType":"matrix",…}}`
//! with values as strings (so NaN and ±Inf survive), turning error answers (`{"status":"error",…}`, 400, 422, 503)
//! and unreachable servers into one-line errors that name the URL (redacted: never a user name or password of it),
//! and replacing `$group`. Does not own: retries and timeouts (`greenlight_http::Client`), cutting series into
//! intervals (`fetch`), or judging.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::future::Either;
use greenlight_http::{Client, HttpError, Method, StatusCode, Url, redact};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use thiserror::Error;

/// One series of a range query: its labels and its (unix seconds, value) points in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, Error)]
pub enum SourceError {
    /// Unreachable, timed out, or a broken answer; `detail` is the HTTP error, which names the URL and the root cause.
    #[error("cannot query Prometheus: {detail}")]
    Http { url: String, detail: String },
    /// `status`: the HTTP status when it was an error status (a `"status":"error"` answer has none).
    #[error("Prometheus at {url} refused the query `{query}`: {message}")]
    Refused { url: String, query: String, message: String, status: Option<u16> },
    #[error("Prometheus at {url} answered something that is not a range-query result: {message}")]
    Malformed { url: String, message: String },
    #[error("`{0}` is not a valid Prometheus URL")]
    BadUrl(String),
    /// No answer by the deadline of the queries ([`Prometheus::until`]): the request was given up there.
    #[error(
        "cannot query Prometheus: request to {url} timed out at the deadline of this interval's queries, {} after it \
         was sent",
        shown_secs(*.waited)
    )]
    Late { url: String, waited: Duration },
}

/// A duration for a message: `1.5 s`.
fn shown_secs(d: Duration) -> String {
    format!("{} s", (d.as_secs_f64() * 10.0).round() / 10.0)
}

impl SourceError {
    /// Whether the same query may well succeed a little later: Prometheus unreachable or timing out, restarting
    /// (503 while it loads its data), behind a proxy answering 5xx or something that is not Prometheus' answer. A
    /// refused query (400, 422, `"status":"error"`) and a bad URL stay what they are.
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Http { .. } | SourceError::Malformed { .. } | SourceError::Late { .. } => true,
            SourceError::Refused { status, .. } => status.is_some_and(|s| s >= 500),
            SourceError::BadUrl(_) => false,
        }
    }
}

/// Where the guard reads metrics from. An empty result is "no data", never zero.
#[allow(async_fn_in_trait)]
pub trait MetricSource {
    /// Evaluates `query` at `start`, `start + step`, … up to `end`.
    async fn query_range(
        &self,
        query: &str,
        start: Timestamp,
        end: Timestamp,
        step: SignedDuration,
    ) -> Result<Vec<Series>, SourceError>;
}

/// A Prometheus server's HTTP API.
#[derive(Clone, Debug)]
pub struct Prometheus {
    client: Client,
    /// The `query_range` endpoint, credentials included: only for requests.
    endpoint: Url,
    /// The endpoint as every message shows it (`greenlight_http::redact`).
    shown: String,
    counters: Arc<Counters>,
    /// What Prometheus warned of so far, each once, with its query: a partial answer (a federated store that did not
    /// answer, a remote read that failed) is still `"status":"success"`.
    warnings: Arc<Mutex<BTreeSet<String>>>,
    /// When every query gives up: a `--watch` interval's deadline. `None`: the HTTP client's timeouts alone.
    deadline: Option<Instant>,
}

/// What the queries so far cost on greenlight's side, for `--timings`.
#[derive(Debug, Default)]
struct Counters {
    queries: AtomicU64,
    decoding_nanos: AtomicU64,
}

/// Queries answered so far and the time spent decoding their answers (CPU work of greenlight, not of Prometheus).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QueryStats {
    pub queries: u64,
    pub decoding: Duration,
}

impl Prometheus {
    /// `base` is the server's URL, for example `http://127.0.0.1:9090` (a path prefix is kept).
    pub fn new(client: Client, base: &str) -> Result<Self, SourceError> {
        let base = base.trim_end_matches('/');
        let endpoint = Url::parse(&format!("{base}/api/v1/query_range"))
            .map_err(|_| SourceError::BadUrl(without_credentials(base)))?;
        let shown = redact(&endpoint);
        Ok(Self { client, endpoint, shown, counters: Arc::default(), warnings: Arc::default(), deadline: None })
    }

    /// The same Prometheus (client, counters and warnings shared) whose queries give up at `deadline`: each
    /// attempt's timeout is at most what is left until then, and a query still unanswered at the deadline (the HTTP
    /// client retrying, or waiting to) fails with [`SourceError::Late`]. A Prometheus that accepts and never answers
    /// costs a `--watch` interval at most the time to its deadline, not the client's attempts in full.
    pub fn until(&self, deadline: Instant) -> Self {
        Self { deadline: Some(deadline), ..self.clone() }
    }

    /// The `query_range` endpoint as messages name it: no user name, password or query string.
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// The warnings of the answers so far, each as "`query`: warning".
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect()
    }

    pub fn stats(&self) -> QueryStats {
        QueryStats {
            queries: self.counters.queries.load(Ordering::Relaxed),
            decoding: Duration::from_nanos(self.counters.decoding_nanos.load(Ordering::Relaxed)),
        }
    }

    /// Asks Prometheus a range query that needs no data (`1` over the step before `now`), through the same
    /// endpoint, credentials and retries as the metrics' queries: a watch calls it when it starts, so that an
    /// unreachable or refusing Prometheus is an error at once, not after the first interval. Not counted in
    /// [`Prometheus::stats`]; its warnings are not kept.
    pub async fn check(&self, now: Timestamp, step: SignedDuration) -> Result<(), SourceError> {
        let start = now.checked_sub(step).unwrap_or(now);
        self.ask(CHECK_QUERY, start, now, step).await.map(drop)
    }

    /// One `query_range` call and its decoded answer, with the time decoding took.
    async fn ask(
        &self,
        query: &str,
        start: Timestamp,
        end: Timestamp,
        step: SignedDuration,
    ) -> Result<(Matrix, Duration), SourceError> {
        let endpoint = &self.shown;
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("query", query)
            .append_pair("start", &seconds(start))
            .append_pair("end", &seconds(end))
            .append_pair("step", &format!("{}", step.as_secs_f64()));
        let mut request = self.client.request(Method::GET, url);
        let sent = Instant::now();
        let late = || SourceError::Late { url: endpoint.clone(), waited: sent.elapsed() };
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(sent);
            if left.is_zero() {
                return Err(late());
            }
            request = request.timeout(left.min(self.client.policy().attempt_timeout));
        }
        let answer = async {
            match self.client.send(request).await {
                Ok(response) => response.text().await.map_err(|e| http(endpoint, &e)),
                Err(HttpError::Status { status, body, .. }) => {
                    let message = refusal(status, &body);
                    let (query, status) = (query.to_owned(), Some(status.as_u16()));
                    Err(SourceError::Refused { url: endpoint.clone(), query, message, status })
                }
                Err(e) => Err(http(endpoint, &e)),
            }
        };
        let body = match self.deadline {
            None => answer.await?,
            Some(deadline) => {
                // The deadline is looked at first: an attempt cut short by its own timeout (at the deadline too)
                // is not retried.
                let expired = std::pin::pin!(tokio::time::sleep_until(deadline.into()));
                match futures_util::future::select(expired, std::pin::pin!(answer)).await {
                    Either::Left(_) => return Err(late()),
                    Either::Right((answered, _)) => answered?,
                }
            }
        };
        let decoding = Instant::now();
        let parsed = parse_matrix(&body);
        let decoded = decoding.elapsed();
        let matrix = parsed.map_err(|e| match e {
            Answer::Error(message) => {
                SourceError::Refused { url: endpoint.clone(), query: query.to_owned(), message, status: None }
            }
            Answer::Malformed(message) => SourceError::Malformed { url: endpoint.clone(), message },
        })?;
        Ok((matrix, decoded))
    }
}

/// The query of [`Prometheus::check`]: a number, which every PromQL server evaluates without any series.
const CHECK_QUERY: &str = "1";

impl MetricSource for Prometheus {
    async fn query_range(
        &self,
        query: &str,
        start: Timestamp,
        end: Timestamp,
        step: SignedDuration,
    ) -> Result<Vec<Series>, SourceError> {
        let (Matrix { series, warnings }, decoded) = self.ask(query, start, end, step).await?;
        self.counters.queries.fetch_add(1, Ordering::Relaxed);
        self.counters.decoding_nanos.fetch_add(decoded.as_nanos() as u64, Ordering::Relaxed);
        if !warnings.is_empty() {
            let mut all = self.warnings.lock().unwrap_or_else(PoisonError::into_inner);
            all.extend(warnings.into_iter().map(|warning| format!("`{query}`: {warning}")));
        }
        Ok(series)
    }
}

/// The HTTP error, which names the URL and its root cause.
fn http(endpoint: &str, error: &HttpError) -> SourceError {
    SourceError::Http { url: endpoint.to_owned(), detail: error.to_string() }
}

/// What an error status says: Prometheus' own `errorType: error` with the status code, or, for a body that is not
/// Prometheus' (a proxy's page, a wrong path's `404 page not found`), the status and that body's start.
fn refusal(status: StatusCode, body: &str) -> String {
    match error_message(body) {
        Some(message) => format!("{message} (HTTP {})", status.as_u16()),
        None if body.trim().is_empty() => format!("HTTP {status}"),
        None => format!("HTTP {status}: {}", body.trim()),
    }
}

/// A base URL that does not parse, as its error shows it: without what may be a user name and password (whatever
/// stands between `://` and an `@` before the path), and without a query string.
fn without_credentials(base: &str) -> String {
    let base = base.split(['?', '#']).next().unwrap_or_default();
    let Some((scheme, rest)) = base.split_once("://") else { return base.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => base.to_owned(),
    }
}

fn seconds(t: Timestamp) -> String {
    let ms = t.as_millisecond();
    if ms % 1000 == 0 { format!("{}", ms / 1000) } else { format!("{:.3}", ms as f64 / 1000.0) }
}

/// Why a body is not a matrix.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// Prometheus said `"status":"error"`.
    Error(String),
    Malformed(String),
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    data: Option<Data>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

/// A `query_range` answer: its series, and what Prometheus warned of with them.
#[derive(Debug, PartialEq)]
pub struct Matrix {
    pub series: Vec<Series>,
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<RawSeries>,
}

#[derive(Deserialize)]
struct RawSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// Prometheus' own error from an error answer: `errorType: error`. The HTTP client hands over only the start of an
/// error body (`…` where it was cut), so a long error is no longer valid JSON; the two strings are then read
/// leniently, each up to its closing quote or to the end of the excerpt.
fn error_message(body: &str) -> Option<String> {
    let (kind, error) = match serde_json::from_str::<Envelope>(body) {
        Ok(envelope) => (envelope.error_type, envelope.error),
        Err(_) => (string_field(body, "errorType"), string_field(body, "error")),
    };
    match (kind, error) {
        (Some(kind), Some(error)) => Some(format!("{kind}: {error}")),
        (None, Some(error)) => Some(error),
        (Some(kind), None) => Some(kind),
        (None, None) => None,
    }
}

/// The string value of the first `"key": "…"` in `body`, which may be cut short: a value without its closing quote
/// runs to the end of the text. Strings are read whole, so a key named inside another string does not count.
fn string_field(body: &str, key: &str) -> Option<String> {
    let mut chars = body.chars().peekable();
    let skip_space = |chars: &mut std::iter::Peekable<std::str::Chars>| {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
    };
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let (text, closed) = json_string(&mut chars);
        if !closed {
            return None;
        }
        skip_space(&mut chars);
        if chars.next_if_eq(&':').is_none() || text != key {
            continue;
        }
        skip_space(&mut chars);
        return chars.next_if_eq(&'"').map(|_| json_string(&mut chars).0);
    }
    None
}

/// The rest of a JSON string whose opening quote has been read, unescaped, and whether its closing quote came.
fn json_string(chars: &mut std::iter::Peekable<std::str::Chars>) -> (String, bool) {
    let mut text = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => return (text, true),
            '\\' => match chars.next() {
                Some('n') => text.push('\n'),
                Some('t') => text.push('\t'),
                Some('r') => text.push('\r'),
                Some('b') => text.push('\u{8}'),
                Some('f') => text.push('\u{c}'),
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    if hex.len() < 4 {
                        break;
                    }
                    let c = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                    text.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
                }
                Some(other) => text.push(other),
                None => break,
            },
            c => text.push(c),
        }
    }
    (text, false)
}

/// Decodes a `query_range` answer. Values are strings: `"NaN"`, `"+Inf"` and `"-Inf"` become the floats.
pub fn parse_matrix(body: &str) -> Result<Matrix, Answer> {
    let envelope: Envelope = serde_json::from_str(body).map_err(|e| Answer::Malformed(e.to_string()))?;
    if envelope.status != "success" {
        return Err(Answer::Error(error_message(body).unwrap_or_else(|| format!("status `{}`", envelope.status))));
    }
    let data = envelope.data.ok_or_else(|| Answer::Malformed("no `data`".to_owned()))?;
    if data.result_type != "matrix" {
        return Err(Answer::Malformed(format!("a `{}` result where a matrix was expected", data.result_type)));
    }
    let series = data
        .result
        .into_iter()
        .map(|raw| {
            let points = raw
                .values
                .into_iter()
                .map(|(t, v)| {
                    parse_value(&v).map(|v| (t, v)).ok_or_else(|| Answer::Malformed(format!("`{v}` is not a number")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Series { labels: raw.metric, points })
        })
        .collect::<Result<_, _>>()?;
    Ok(Matrix { series, warnings: envelope.warnings })
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

/// Replaces every `$group` in `query` with the group's label matchers.
pub fn with_group(query: &str, matchers: &str) -> String {
    query.replace("$group", matchers)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Prometheus that accepts connections and never answers (the kernel accepts them into the listener's
    /// backlog; nobody reads them): a query with a deadline gives up there, after one attempt, and says so.
    #[test]
    fn a_prometheus_that_never_answers_costs_at_most_the_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let prometheus = Prometheus::new(Client::new().unwrap(), &url).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let now = Timestamp::now();
        let bounded = prometheus.until(Instant::now() + Duration::from_secs(1));
        let asked = bounded.query_range("up", now - SignedDuration::from_mins(1), now, SignedDuration::from_secs(15));
        let error = runtime.block_on(asked).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(&format!("{url}/api/v1/query_range")), "names the URL: {message}");
        assert!(message.contains("timed out") && message.contains("deadline"), "{message}");
        assert!(error.is_transient(), "a watch counts the interval as no data");
        // What the deadline allows: one attempt, cut short there, and no retry after it.
        listener.set_nonblocking(true).unwrap();
        let connections = std::iter::from_fn(|| listener.accept().ok()).take(10).count();
        assert_eq!(connections, 1);
    }

    #[test]
    fn matrix_with_special_values() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"version":"v1"},"values":[[1700000000,"1.5"],[1700000015.5,"NaN"],[1700000030,"+Inf"],
            [1700000045,"-Inf"]]}]}}"#;
        let series = parse_matrix(body).unwrap().series;
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].labels["version"], "v1");
        let p = &series[0].points;
        assert_eq!((p[0], p[1].0), ((1700000000.0, 1.5), 1700000015.5));
        assert!(p[1].1.is_nan());
        assert_eq!((p[2].1, p[3].1), (f64::INFINITY, f64::NEG_INFINITY));
    }

    #[test]
    fn empty_result_is_no_series() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert_eq!(parse_matrix(body).unwrap(), Matrix { series: vec![], warnings: vec![] });
        let partial = r#"{"status":"success","data":{"resultType":"matrix","result":[]},
            "warnings":["partial response: store 10.0.0.7:10901 did not answer"]}"#;
        let warnings = parse_matrix(partial).unwrap().warnings;
        assert_eq!(warnings, ["partial response: store 10.0.0.7:10901 did not answer"]);
    }

    #[test]
    fn errors() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#;
        assert_eq!(parse_matrix(body), Err(Answer::Error("bad_data: parse error at char 5".to_owned())));
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(matches!(parse_matrix(vector), Err(Answer::Malformed(m)) if m.contains("vector")));
        assert!(matches!(parse_matrix("<html>"), Err(Answer::Malformed(_))));
        let text = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}"#;
        assert!(matches!(parse_matrix(text), Err(Answer::Malformed(m)) if m.contains("`x`")));
    }

    /// What a refusal says: Prometheus' own error with the status, or the status alone, once.
    #[test]
    fn a_refusal_says_its_status_once() {
        let error = r#"{"status":"error","errorType":"execution","error":"too many samples"}"#;
        assert_eq!(refusal(StatusCode::UNPROCESSABLE_ENTITY, error), "execution: too many samples (HTTP 422)");
        assert_eq!(refusal(StatusCode::NOT_FOUND, ""), "HTTP 404 Not Found");
        assert_eq!(refusal(StatusCode::NOT_FOUND, "404 page not found"), "HTTP 404 Not Found: 404 page not found");
    }

    /// The start of an error body as greenlight_http's client hands it over: whitespace collapsed, cut after 300
    /// characters, `…` where it was cut.
    fn excerpt(body: &str) -> String {
        let mut words = body.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some((cut, _)) = words.char_indices().nth(300) {
            words.truncate(cut);
            words.push('…');
        }
        words
    }

    #[test]
    fn a_long_error_cut_short_still_reads() {
        let error = format!(
            "found duplicate series for the match group {{instance=\"a\"}} on the left hand-side of the operation: {}",
            "{__name__=\"up\", job=\"node\"};".repeat(9)
        );
        assert!(error.chars().count() >= 350);
        let body = format!(
            r#"{{"status":"error","errorType":"execution","error":{}}}"#,
            serde_json::to_string(&error).unwrap()
        );
        let cut = excerpt(&body);
        assert!(cut.ends_with('…') && serde_json::from_str::<serde_json::Value>(&cut).is_err(), "{cut}");
        let message = error_message(&cut).expect("Prometheus' error");
        let shown = message.strip_prefix("execution: ").expect(&message).strip_suffix('…').expect(&message);
        assert!(shown.len() > 200 && error.starts_with(shown), "{message}");
        assert!(shown.contains(r#"{instance="a"}"#), "escaped quotes unescaped: {message}");
        // Cut inside `errorType`'s key or before `error`: what there is, or nothing.
        assert_eq!(error_message(r#"{"status":"error","errorType":"bad_data","err…"#).as_deref(), Some("bad_data"));
        assert_eq!(error_message(r#"{"status":"error","erro…"#), None);
        assert_eq!(error_message("<html><body>Service Unavailable</body></html>"), None);
        // A key named inside a string is not a key.
        let inside = r#"{"status":"error","errorType":"bad_data","error":"label \"error\": x", "more…"#;
        assert_eq!(error_message(inside).as_deref(), Some(r#"bad_data: label "error": x"#));
    }

    #[test]
    fn messages_never_show_credentials() {
        let client = Client::new().unwrap();
        let prometheus = Prometheus::new(client, "http://user:secret@prometheus.example:9090/prefix/").unwrap();
        assert_eq!(prometheus.url(), "http://prometheus.example:9090/prefix/api/v1/query_range");
        let bad = Prometheus::new(Client::new().unwrap(), "http://user:secret@exa mple:9090/p?token=t1").unwrap_err();
        let message = bad.to_string();
        assert!(!message.contains("secret") && !message.contains("user") && !message.contains("t1"), "{message}");
        assert!(message.contains("exa mple:9090/p"), "{message}");
    }

    #[test]
    fn group_matchers() {
        assert_eq!(
            with_group(r#"sum(increase(r{status=~"5..",$group}[1m]))"#, r#"version="v2""#),
            r#"sum(increase(r{status=~"5..",version="v2"}[1m]))"#
        );
    }
}
