//! `guard.toml`: where the metrics live and how to ask for them, mapped onto the judging core's `ValidConfig`.
//!
//! Owns: the shape of the file (`prometheus`, `step`, `interval`, `fail_after`, `recover_after`, `[groups]`,
//! `[[metrics]]`), refusing unknown keys, durations such as `15s` (at most `MAX_DURATION`), the ranges `[R]` of
//! the queries (a value metric's `block` follows them; a ratio metric's may not outlast `interval`), and errors at
//! `file:line:column`. Does not own: sending queries (`prometheus`), cutting results into intervals (`fetch`), or
//! any statistics.

use std::ops::Range;

use greenlight_core::text::line_column;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

use crate::config::{ConfigError, Direction, Groups, MetricSpec, Settings, ValidConfig};

/// A config problem, located in the file.
#[derive(Debug, Error, PartialEq)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct FileError {
    pub origin: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// The longest duration a `guard.toml` (`step`, `interval`, `lookback`) or `--watch` may give: 366 days. Longer
/// ones mean nothing for a deploy, and a bound keeps every time computed from them within the times jiff can
/// represent (a window is cut into intervals by adding durations to its start).
pub const MAX_DURATION: SignedDuration = SignedDuration::from_secs(366 * 86_400);

/// Why a duration such as `15s` is refused.
#[derive(Debug, Error, PartialEq)]
pub enum DurationError {
    #[error("`{0}` is not a duration; write a number and a unit: 15s, 1m, 1h")]
    NotADuration(String),
    #[error("`{0}` is longer than 366 days, the longest duration greenlight accepts")]
    TooLong(String),
    #[error("`{0}` must be greater than zero")]
    Zero(String),
}

/// The queries of one metric, in the order of the metric specs.
#[derive(Clone, Debug, PartialEq)]
pub enum Queries {
    /// Bad events and all events; `$group` not yet replaced.
    Ratio { bad: String, total: String },
    /// A series of values; `$group` not yet replaced.
    Value { query: String },
}

/// `[on_fail]`: what to run when the verdict is fail. At least one of `command` and `url`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OnFail {
    /// A program and its arguments (no shell); it gets the JSON report on standard input.
    pub command: Option<Vec<String>>,
    /// A URL to POST the JSON report to.
    pub url: Option<String>,
    /// The environment variable holding the shared secret that signs the POST (`X-Hub-Signature-256`).
    pub secret_env: Option<String>,
    /// The longest one run of `command` may take; it is then stopped and counts as failed.
    pub timeout: SignedDuration,
}

/// `[on_fail] timeout` when unset: a rollback that waits for the old version to be ready takes minutes.
pub const DEFAULT_HOOK_TIMEOUT: SignedDuration = SignedDuration::from_secs(600);

/// `[before_after]`: the series after `deployed_at` against the same series in the `lookback` before it.
///
/// Each judged interval is paired with the interval one `lookback` earlier (with the window starting at the deploy,
/// judged interval k with lookback interval k), each used once: the pair is then exactly a baseline and a canary interval of
/// `[groups]`, and the per-interval guarantees of the judges hold unchanged. A window reaching past
/// `deployed_at + lookback` would need a lookback interval twice (or one after the deploy) and is refused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BeforeAfter {
    pub deployed_at: Timestamp,
    pub lookback: SignedDuration,
}

/// A checked `guard.toml`.
#[derive(Clone, Debug)]
pub struct GuardFile {
    /// The Prometheus base URL, for example `http://127.0.0.1:9090`.
    pub prometheus: String,
    /// Query resolution.
    pub step: SignedDuration,
    /// One decision per interval; a whole number of steps.
    pub interval: SignedDuration,
    /// Label matchers of the baseline, replacing `$group`.
    pub baseline: String,
    /// Label matchers of the canary, replacing `$group`.
    pub canary: String,
    /// `[before_after]`: the "baseline" is the same series (`baseline` = `canary` = its `matchers`) before the
    /// deploy, one lookback interval per judged interval.
    pub before_after: Option<BeforeAfter>,
    /// One entry per metric of `config`, same order.
    pub queries: Vec<Queries>,
    pub config: ValidConfig,
    pub on_fail: Option<OnFail>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    prometheus: Spanned<String>,
    step: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    fail_after: Option<Spanned<i64>>,
    recover_after: Option<Spanned<i64>>,
    alpha: Option<Spanned<f64>>,
    groups: Option<Spanned<RawGroups>>,
    before_after: Option<Spanned<RawBeforeAfter>>,
    #[serde(default)]
    metrics: Vec<Spanned<RawMetric>>,
    on_fail: Option<Spanned<RawOnFail>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOnFail {
    command: Option<Spanned<Vec<String>>>,
    url: Option<Spanned<String>>,
    secret_env: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroups {
    baseline: Spanned<String>,
    canary: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBeforeAfter {
    deployed_at: Spanned<String>,
    lookback: Spanned<String>,
    #[serde(default)]
    matchers: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    name: Spanned<String>,
    kind: Spanned<String>,
    bad: Option<Spanned<String>>,
    total: Option<Spanned<String>>,
    min_total: Option<Spanned<f64>>,
    query: Option<Spanned<String>>,
    tolerance: Option<Spanned<f64>>,
    margin: Option<Spanned<f64>>,
    negligible: Option<Spanned<f64>>,
    overdispersion: Option<Spanned<f64>>,
    block: Option<Spanned<i64>>,
    direction: Option<Spanned<Direction>>,
    #[serde(default)]
    critical: bool,
}

struct Invalid {
    at: usize,
    /// A byte offset inside the string value at `at`, when the error is about a part of it.
    within: Option<usize>,
    message: String,
}

fn at<T>(value: &Spanned<T>, message: impl Into<String>) -> Invalid {
    Invalid { at: value.span().start, within: None, message: message.into() }
}

/// Where byte `offset` of the string value whose opening quote is at `start` is in `text`. Exact for a one-line
/// literal string, and for a basic one without an escape before that byte; otherwise the value's start.
fn inside_string(text: &str, start: usize, offset: usize) -> usize {
    let Some(rest) = text.get(start..) else { return start };
    let quote = match rest.chars().next() {
        Some(quote @ ('\'' | '"')) if !rest.starts_with("'''") && !rest.starts_with("\"\"\"") => quote,
        _ => return start,
    };
    match rest.get(1..=offset) {
        Some(raw) if !(raw.contains('\n') || quote == '"' && raw.contains('\\')) => start + 1 + offset,
        _ => start,
    }
}

impl GuardFile {
    /// Parses and checks the text of a `guard.toml`; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, FileError> {
        let locate = |offset: usize, message: String| {
            let (line, column) = line_column(text, offset);
            FileError { origin: origin.to_owned(), line, column, message }
        };
        let raw: Raw = toml::from_str(text)
            .map_err(|e| locate(e.span().map_or(0, |s| s.start), e.message().trim_end().to_owned()))?;
        Self::check(raw).map_err(|invalid| {
            let at = invalid.within.map_or(invalid.at, |offset| inside_string(text, invalid.at, offset));
            locate(at, invalid.message)
        })
    }

    fn check(raw: Raw) -> Result<Self, Invalid> {
        let prometheus = raw.prometheus.get_ref().trim().trim_end_matches('/').to_owned();
        if !(prometheus.starts_with("http://") || prometheus.starts_with("https://")) {
            return Err(at(&raw.prometheus, "`prometheus` must be an http:// or https:// URL"));
        }
        // `/api/v1/query_range` is appended to it: after a `?` it would become part of a query string.
        if prometheus.contains(['?', '#']) {
            return Err(at(
                &raw.prometheus,
                "`prometheus` must have no query (?) or fragment (#): API paths are added to it",
            ));
        }
        let duration = |value: &Option<Spanned<String>>, default: SignedDuration| match value {
            None => Ok(default),
            Some(v) => parse_duration(v.get_ref()).map_err(|e| at(v, e.to_string())),
        };
        let step = duration(&raw.step, SignedDuration::from_secs(15))?;
        let interval = duration(&raw.interval, SignedDuration::from_secs(60))?;
        let whole = interval.as_millis() % step.as_millis() == 0 && interval >= step;
        if !whole {
            let span = raw.interval.as_ref().or(raw.step.as_ref()).expect("defaults divide");
            let shown = match &raw.step {
                Some(step) => format!("step = {}", step.get_ref().trim()),
                None => "step = 15s, the default".to_owned(),
            };
            return Err(at(span, format!("`interval` must be a whole number of steps ({shown})")));
        }
        let (baseline, canary, before_after) = match (&raw.groups, &raw.before_after) {
            (Some(_), Some(before_after)) => {
                return Err(at(before_after, "give [groups] or [before_after], not both"));
            }
            (None, None) => {
                return Err(Invalid {
                    at: 0,
                    within: None,
                    message: "missing [groups] with `baseline` and `canary` label matchers (or [before_after] with \
                              `deployed_at` and `lookback`)"
                        .to_owned(),
                });
            }
            (Some(groups), None) => {
                let groups = groups.get_ref();
                for group in [&groups.baseline, &groups.canary] {
                    if group.get_ref().trim().is_empty() {
                        return Err(at(group, "a group needs label matchers, for example 'version=\"v1\"'"));
                    }
                }
                if groups.baseline.get_ref().trim() == groups.canary.get_ref().trim() {
                    return Err(at(&groups.canary, "the canary's matchers are the baseline's"));
                }
                (groups.baseline.get_ref().trim().to_owned(), groups.canary.get_ref().trim().to_owned(), None)
            }
            (None, Some(before_after)) => {
                let b = before_after.get_ref();
                let deployed_at = parse_time(b.deployed_at.get_ref()).ok_or_else(|| {
                    at(
                        &b.deployed_at,
                        "`deployed_at` is not a time: write RFC 3339 (2026-11-22T05:00:00Z) or unix seconds",
                    )
                })?;
                let lookback = duration(&Some(b.lookback.clone()), interval)?;
                if lookback < interval || lookback.as_millis() % interval.as_millis() != 0 {
                    return Err(at(&b.lookback, "`lookback` must be a whole number of intervals"));
                }
                // The lookback is queried before the deploy and the window judged after it: both ends must be times.
                if deployed_at.checked_sub(lookback).is_err() || deployed_at.checked_add(lookback).is_err() {
                    return Err(at(
                        &b.deployed_at,
                        "`deployed_at` is too close to the first or last representable time for its `lookback`",
                    ));
                }
                let matchers = b.matchers.as_ref().map_or(String::new(), |m| m.get_ref().trim().to_owned());
                (matchers.clone(), matchers, Some(BeforeAfter { deployed_at, lookback }))
            }
        };
        let mut settings = Settings::default();
        if before_after.is_some() {
            settings.groups = Groups::BeforeAfter;
        }
        let count = |v: &Spanned<i64>, name: &str| {
            u32::try_from(*v.get_ref())
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| at(v, format!("`{name}` must be a whole number at least 1")))
        };
        if let Some(v) = &raw.fail_after {
            settings.fail_after = count(v, "fail_after")?;
        }
        if let Some(v) = &raw.recover_after {
            settings.recover_after = count(v, "recover_after")?;
        }
        if let Some(v) = &raw.alpha {
            settings.alpha = *v.get_ref();
        }
        if raw.metrics.is_empty() {
            return Err(Invalid { at: 0, within: None, message: "no [[metrics]] to judge".to_owned() });
        }
        let mut specs = Vec::new();
        let mut queries = Vec::new();
        let mut spans = Vec::new();
        let interval_text = raw.interval.as_ref().map_or("1m", |v| v.get_ref().trim());
        // Why a query must carry `$group`, if it must: in [groups] both groups would read the same series; in
        // [before_after] with `matchers`, these would not apply to it. [before_after] without matchers needs none.
        let group_needed = match &raw.before_after {
            None => Some("both groups would read the same series and the canary would be compared with itself"),
            Some(b) if b.get_ref().matchers.as_ref().is_some_and(|m| !m.get_ref().trim().is_empty()) => {
                Some("[before_after] `matchers` would not apply to it")
            }
            Some(_) => None,
        };
        for metric in &raw.metrics {
            let (spec, query) = check_metric(metric, step, (interval, interval_text), group_needed)?;
            let m = metric.get_ref();
            let field_at = |field: &str| match field {
                "tolerance" => m.tolerance.as_ref().map(|v| v.span().start),
                "min_total" => m.min_total.as_ref().map(|v| v.span().start),
                "margin" => m.margin.as_ref().map(|v| v.span().start),
                "negligible" => m.negligible.as_ref().map(|v| v.span().start),
                _ => None,
            };
            spans.push((m.name.span().start, ["tolerance", "min_total", "margin", "negligible"].map(field_at)));
            specs.push(spec);
            queries.push(query);
        }
        let config = ValidConfig::new(settings, specs.clone()).map_err(|e| {
            let metric_at = |name: &String| specs.iter().rposition(|s| &s.name == name).map(|i| spans[i]);
            let offset = match &e {
                ConfigError::Metric { name, field, .. } => {
                    metric_at(name).map_or(0, |(at, [tolerance, min_total, margin, negligible])| match *field {
                        "tolerance" => tolerance.unwrap_or(at),
                        "min_total" => min_total.unwrap_or(at),
                        "margin" => margin.unwrap_or(at),
                        "negligible" => negligible.unwrap_or(at),
                        _ => at,
                    })
                }
                ConfigError::DuplicateName(name) => metric_at(name).map_or(0, |(at, _)| at),
                ConfigError::Setting { field: "alpha", .. } => raw.alpha.as_ref().map_or(0, |v| v.span().start),
                _ => 0,
            };
            Invalid { at: offset, within: None, message: e.to_string() }
        })?;
        let on_fail = raw.on_fail.as_ref().map(check_on_fail).transpose()?;
        Ok(Self { on_fail, prometheus, step, interval, baseline, canary, before_after, queries, config })
    }
}

fn check_on_fail(raw: &Spanned<RawOnFail>) -> Result<OnFail, Invalid> {
    let r = raw.get_ref();
    if r.command.is_none() && r.url.is_none() {
        return Err(at(raw, "[on_fail] needs a `command`, a `url`, or both"));
    }
    if let Some(command) = &r.command
        && command.get_ref().first().is_none_or(|program| program.trim().is_empty())
    {
        return Err(at(command, "`command` needs a program: [\"program\", \"argument\", …]"));
    }
    if let Some(url) = &r.url
        && !(url.get_ref().starts_with("http://") || url.get_ref().starts_with("https://"))
    {
        return Err(at(url, "`url` must be an http:// or https:// URL"));
    }
    if let Some(secret) = &r.secret_env {
        if r.url.is_none() {
            return Err(at(secret, "`secret_env` signs the POST to `url`; there is no `url`"));
        }
        if secret.get_ref().trim().is_empty() || secret.get_ref().contains('=') {
            return Err(at(secret, "`secret_env` names an environment variable (the secret stays out of the file)"));
        }
    }
    let timeout = match &r.timeout {
        None => DEFAULT_HOOK_TIMEOUT,
        Some(text) if r.command.is_none() => {
            return Err(at(text, "`timeout` bounds each run of `command`; there is no `command`"));
        }
        // Never 0: a duration has a positive number.
        Some(text) => parse_duration(text.get_ref()).map_err(|e| at(text, e.to_string()))?,
    };
    Ok(OnFail {
        command: r.command.as_ref().map(|c| c.get_ref().clone()),
        url: r.url.as_ref().map(|u| u.get_ref().clone()),
        secret_env: r.secret_env.as_ref().map(|s| s.get_ref().clone()),
        timeout,
    })
}

/// `interval` comes with its text as written, for messages; `group_needed` says why every query must carry
/// `$group`, when it must.
fn check_metric(
    metric: &Spanned<RawMetric>,
    step: SignedDuration,
    interval: (SignedDuration, &str),
    group_needed: Option<&str>,
) -> Result<(MetricSpec, Queries), Invalid> {
    let m = metric.get_ref();
    let name = m.name.get_ref().clone();
    let needs = |field: &Option<Spanned<String>>, key: &str, kind: &str| -> Result<String, Invalid> {
        match field {
            Some(q) if !q.get_ref().trim().is_empty() => match group_needed {
                Some(why) if !q.get_ref().contains("$group") => Err(at(
                    q,
                    format!(
                        "metric `{name}`: `{key}` has no `$group`: {why}; put `$group` among its label matchers, as \
                         in `{{$group}}`"
                    ),
                )),
                _ => Ok(q.get_ref().clone()),
            },
            Some(q) => Err(at(q, format!("metric `{name}`: `{key}` is empty"))),
            None => Err(at(&m.name, format!("metric `{name}`: a {kind} metric needs `{key}`"))),
        }
    };
    let refuse = |span: Option<Range<usize>>, key: &str, kind: &str| match span {
        Some(span) => Err(Invalid {
            at: span.start,
            within: None,
            message: format!("metric `{name}`: `{key}` does not apply to a {kind} metric"),
        }),
        None => Ok(()),
    };
    let (mut spec, queries) = match m.kind.get_ref().as_str() {
        "ratio" => {
            refuse(m.query.as_ref().map(Spanned::span), "query", "ratio")?;
            refuse(m.tolerance.as_ref().map(Spanned::span), "tolerance", "ratio")?;
            refuse(m.block.as_ref().map(Spanned::span), "block", "ratio")?;
            let mut spec = MetricSpec::ratio(&name);
            if let Some(margin) = &m.margin {
                spec = spec.margin(*margin.get_ref());
            }
            if let Some(min_total) = &m.min_total {
                spec = spec.min_total(*min_total.get_ref());
            }
            if let Some(negligible) = &m.negligible {
                spec = spec.negligible(*negligible.get_ref());
            }
            if let Some(phi) = &m.overdispersion {
                let phi0 = *phi.get_ref();
                if !(phi0.is_finite() && phi0 >= 1.0) {
                    return Err(at(phi, format!("metric `{name}`: `overdispersion` must be a number at least 1")));
                }
                spec = spec.temper(1.0 / phi0);
            }
            let queries =
                Queries::Ratio { bad: needs(&m.bad, "bad", "ratio")?, total: needs(&m.total, "total", "ratio")? };
            // A ratio query is evaluated once per interval: a range longer than the interval counts each event in
            // several intervals, and the evidence of those intervals is no longer independent (false halts).
            for (query, key) in [(&m.bad, "bad"), (&m.total, "total")] {
                let Some(query) = query else { continue };
                if let Some((range, text, offset)) = longest_range(query.get_ref())
                    && range > interval.0
                {
                    let times = (range.as_millis() + interval.0.as_millis() - 1) / interval.0.as_millis();
                    let message = format!(
                        "metric `{name}`: `{key}` has the range [{text}], longer than `interval` ({}): each event \
                         would be counted in {times} overlapping intervals, which voids the false-halt guarantee; use \
                         a range of at most the interval",
                        interval.1
                    );
                    return Err(Invalid { within: Some(offset), ..at(query, message) });
                }
            }
            (spec, queries)
        }
        "value" => {
            refuse(m.bad.as_ref().map(Spanned::span), "bad", "value")?;
            refuse(m.total.as_ref().map(Spanned::span), "total", "value")?;
            refuse(m.min_total.as_ref().map(Spanned::span), "min_total", "value")?;
            refuse(m.margin.as_ref().map(Spanned::span), "margin", "value")?;
            refuse(m.negligible.as_ref().map(Spanned::span), "negligible", "value")?;
            refuse(m.overdispersion.as_ref().map(Spanned::span), "overdispersion", "value")?;
            let mut spec = MetricSpec::value(&name);
            if let Some(block) = &m.block {
                let steps = u32::try_from(*block.get_ref())
                    .ok()
                    .filter(|b| *b >= 1)
                    .ok_or_else(|| at(block, format!("metric `{name}`: `block` must be a whole number at least 1")))?;
                spec = spec.block(steps);
            }
            if let Some(tolerance) = &m.tolerance {
                spec = spec.tolerance(*tolerance.get_ref());
            }
            let query = needs(&m.query, "query", "value")?;
            if m.block.is_none() {
                spec = spec.block(steps_per_range(&query, step));
            }
            // A query without a range reads a gauge's samples as they are, and Prometheus repeats each one at every
            // step until the next scrape: only new values count. A ranged query's values are computed anew at each
            // step, and a value it repeats (a quantile pinned at a bucket bound) is evidence.
            spec = spec.new_values_only(longest_range(&query).is_none());
            (spec, Queries::Value { query })
        }
        other => {
            return Err(at(&m.kind, format!("metric `{name}`: unknown kind `{other}`, expected `ratio` or `value`")));
        }
    };
    if let Some(direction) = &m.direction {
        spec = spec.direction(*direction.get_ref());
    }
    Ok((spec.critical(m.critical), queries))
}

/// The `block` of a value metric left unset: the steps covered by the longest range `[R]` (or subquery `[R:r]`) in
/// its query, at least 1. Values of `rate(…[1m])` taken every 15 s share three quarters of their data with the next
/// one, so their signs are not independent coin flips; one sign per 4 steps (the mean of the block) keeps the sign
/// test's guarantee (notes §2.2). A query without a range (a gauge) gets 1. Brackets inside quoted strings (label
/// regexes) are not ranges.
pub fn steps_per_range(query: &str, step: SignedDuration) -> u32 {
    let longest = longest_range(query).map_or(SignedDuration::ZERO, |(range, ..)| range);
    let (range, step) = (longest.as_millis(), step.as_millis().max(1));
    u32::try_from(((range + step - 1) / step).max(1)).unwrap_or(u32::MAX)
}

/// The longest range `[R]` (or subquery range `[R:r]`, which counts with R) in a PromQL query, with its text as
/// written and the byte offset of its `[`; `None` without one. Brackets inside quoted strings (label regexes) are not
/// ranges, and a range that is not a duration (`[$__interval]`) is skipped.
pub fn longest_range(query: &str) -> Option<(SignedDuration, &str, usize)> {
    let mut longest: Option<(SignedDuration, &str, usize)> = None;
    let mut chars = query.char_indices();
    let mut quote: Option<char> = None;
    while let Some((at, c)) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'' | '`') => quote = Some(c),
            (None, '[') => {
                let end = chars.by_ref().find(|&(_, c)| c == ']').map_or(query.len(), |(close, _)| close);
                let text = query[at + 1..end].split(':').next().unwrap_or_default().trim();
                if let Some(millis) = duration_millis(text) {
                    let range = SignedDuration::from_millis(i64::try_from(millis).unwrap_or(i64::MAX));
                    if longest.is_none_or(|(max, ..)| range > max) {
                        longest = Some((range, text, at));
                    }
                }
            }
            (None, _) => {}
        }
    }
    longest
}

/// RFC 3339 (`2026-11-22T05:00:00Z`) or unix seconds (`1795323600`, decimals allowed).
pub fn parse_time(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
    {
        return Timestamp::from_millisecond((seconds * 1000.0).round() as i64).ok();
    }
    text.parse::<Timestamp>().ok()
}

/// `15s`, `1m`, `2h`, `500ms`, `1m30s`, `1w`: a positive duration of at most `MAX_DURATION`.
pub fn parse_duration(text: &str) -> Result<SignedDuration, DurationError> {
    match duration_millis(text) {
        Some(millis) if millis > MAX_DURATION.as_millis() => Err(DurationError::TooLong(text.trim().to_owned())),
        Some(millis) if millis > 0 => Ok(SignedDuration::from_millis(millis as i64)),
        Some(_) => Err(DurationError::Zero(text.trim().to_owned())),
        None => Err(DurationError::NotADuration(text.trim().to_owned())),
    }
}

/// The milliseconds of a duration such as `1m30s`, in Prometheus' units (`ms`, `s`, `m`, `h`, `d`, `w`, and `y` of
/// 365 days), unbounded (a PromQL range may be as long as it likes).
fn duration_millis(text: &str) -> Option<i128> {
    let mut rest = text.trim();
    let mut millis: i128 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let number: i128 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        millis = millis.checked_add(number.checked_mul(unit)?)?;
    }
    Some(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUE: &str = r#"prometheus = "http://127.0.0.1:9090"
step = "15s"
interval = "1m"
fail_after = 2
recover_after = 2

[groups]
baseline = 'version="v1"'
canary = 'version="v2"'

[[metrics]]
name = "http-errors"
kind = "ratio"
bad = 'sum(increase(http_requests_total{status=~"5..",$group}[1m]))'
total = 'sum(increase(http_requests_total{$group}[1m]))'
direction = "increase"
min_total = 200
critical = true

[[metrics]]
name = "latency-p99"
kind = "value"
query = 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{$group}[1m])))'
direction = "increase"
tolerance = 0.10
"#;

    fn err(text: &str) -> String {
        GuardFile::parse(text, "guard.toml").unwrap_err().to_string()
    }

    #[test]
    fn block_follows_the_range_of_the_query() {
        let s15 = SignedDuration::from_secs(15);
        let p99 = "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{$group}[1m])))";
        assert_eq!(steps_per_range(p99, s15), 4);
        assert_eq!(steps_per_range("max(latency_seconds{$group})", s15), 1, "a gauge");
        assert_eq!(steps_per_range("rate(x[15s])", s15), 1, "range = step: no shared data");
        assert_eq!(steps_per_range("rate(x[20s])", s15), 2, "rounded up");
        assert_eq!(steps_per_range("max_over_time(rate(x[1m])[5m:15s])", s15), 20, "the longest, a subquery's range");
        let regex = r#"rate(x{path=~"/a[1h]", code=~'[45]..'}[2m])"#;
        assert_eq!(steps_per_range(regex, s15), 8, "brackets in strings are not ranges");
        let file = GuardFile::parse(ISSUE, "guard.toml").unwrap();
        let block = |i: usize| match file.config.metrics()[i].kind {
            crate::config::MetricKind::Value { block, .. } => block,
            _ => 0,
        };
        assert_eq!(block(1), 4, "the issue's p99 over rate(…[1m]) at 15 s");
        let explicit = ISSUE.replace("tolerance = 0.10", "tolerance = 0.10\nblock = 1");
        let file = GuardFile::parse(&explicit, "guard.toml").unwrap();
        assert!(matches!(file.config.metrics()[1].kind, crate::config::MetricKind::Value { block: 1, .. }));
    }

    #[test]
    fn only_a_gauge_counts_new_values_only() {
        let new_only = |query: &str| {
            let text = ISSUE.replace(
                "'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{$group}[1m])))'",
                &format!("'{query}'"),
            );
            match GuardFile::parse(&text, "guard.toml").unwrap().config.metrics()[1].kind {
                crate::config::MetricKind::Value { new_values_only, .. } => new_values_only,
                _ => unreachable!("the second metric is a value metric"),
            }
        };
        assert!(new_only("max(latency_seconds{$group})"), "a gauge repeats its sample until the next scrape");
        assert!(!new_only("histogram_quantile(0.99, sum by (le) (rate(x_bucket{$group}[1m])))"));
        assert!(new_only(r#"max(latency_seconds{$group, path=~"/a[1h]"})"#), "a bracket in a string is no range");
    }

    #[test]
    fn before_after_compares_one_series_with_its_past() {
        let text = ISSUE.replace(
            "[groups]\nbaseline = 'version=\"v1\"'\ncanary = 'version=\"v2\"'",
            "[before_after]\ndeployed_at = \"2026-11-22T05:00:00Z\"\nlookback = \"30m\"\nmatchers = 'app=\"shop\"'",
        );
        let file = GuardFile::parse(&text, "guard.toml").unwrap();
        let b = file.before_after.unwrap();
        assert_eq!(b.deployed_at, "2026-11-22T05:00:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(b.lookback, SignedDuration::from_mins(30));
        assert_eq!((file.baseline.as_str(), file.canary.as_str()), ("app=\"shop\"", "app=\"shop\""));
        let unix = text.replace("\"2026-11-22T05:00:00Z\"", "\"1795323600\"");
        assert_eq!(GuardFile::parse(&unix, "g").unwrap().before_after.unwrap().deployed_at.as_second(), 1795323600);
        assert_eq!(
            err(&text.replace("\"30m\"", "\"90s\"")),
            "guard.toml:9:12: `lookback` must be a whole number of intervals"
        );
        assert!(err(&text.replace("2026-11-22T05", "yesterday")).contains("`deployed_at` is not a time"));
        let both = format!("{text}\n[groups]\nbaseline = 'v=\"1\"'\ncanary = 'v=\"2\"'\n");
        assert!(err(&both).ends_with("give [groups] or [before_after], not both"), "{}", err(&both));
        assert!(file.on_fail.is_none());
    }

    #[test]
    fn every_query_of_groups_names_the_group() {
        // Without `$group` both groups read the same series: the canary is judged against itself and always passes.
        let total = ISSUE.replace(
            "total = 'sum(increase(http_requests_total{$group}[1m]))'",
            "total = 'sum(increase(http_requests_total[1m]))'",
        );
        assert_eq!(
            err(&total),
            "guard.toml:15:9: metric `http-errors`: `total` has no `$group`: both groups would read the same series \
             and the canary would be compared with itself; put `$group` among its label matchers, as in \
             `{$group}`"
        );
        let bad = ISSUE.replace("status=~\"5..\",$group", "status=~\"5..\"");
        assert!(err(&bad).starts_with("guard.toml:14:7: metric `http-errors`: `bad` has no `$group`"), "{}", err(&bad));
        let value = ISSUE.replace("_bucket{$group}", "_bucket");
        assert!(
            err(&value).starts_with("guard.toml:23:9: metric `latency-p99`: `query` has no `$group`"),
            "{}",
            err(&value)
        );
        // [before_after] reads one series at two times: `$group` only carries its optional `matchers`. Without
        // them a query needs none; with them, a query without `$group` would leave them out.
        let before_after = |matchers: &str| {
            total.replace(
                "[groups]\nbaseline = 'version=\"v1\"'\ncanary = 'version=\"v2\"'",
                &format!("[before_after]\ndeployed_at = \"2026-11-22T05:00:00Z\"\nlookback = \"30m\"{matchers}"),
            )
        };
        assert!(GuardFile::parse(&before_after(""), "guard.toml").is_ok());
        assert_eq!(
            err(&before_after("\nmatchers = 'app=\"shop\"'")),
            "guard.toml:16:9: metric `http-errors`: `total` has no `$group`: [before_after] `matchers` would not \
             apply to it; put `$group` among its label matchers, as in `{$group}`"
        );
    }

    #[test]
    fn the_issue_example_parses() {
        let file = GuardFile::parse(ISSUE, "guard.toml").unwrap();
        assert_eq!(file.prometheus, "http://127.0.0.1:9090");
        assert_eq!((file.step.as_secs(), file.interval.as_secs()), (15, 60));
        assert_eq!((file.baseline.as_str(), file.canary.as_str()), ("version=\"v1\"", "version=\"v2\""));
        let metrics = file.config.metrics();
        assert_eq!(metrics[0], MetricSpec::ratio("http-errors").min_total(200.0).critical(true));
        // `block` unset: one sign per 4 steps, the steps that `rate(…[1m])` at 15 s spans.
        assert_eq!(metrics[1], MetricSpec::value("latency-p99").tolerance(0.1).block(4));
        assert!(matches!(&file.queries[1], Queries::Value { query } if query.contains("$group")));
    }

    #[test]
    fn errors_point_at_the_line() {
        assert_eq!(
            err(&ISSUE.replace("fail_after", "fail_aftr")),
            "guard.toml:4:1: unknown field `fail_aftr`, expected one of `prometheus`, `step`, `interval`, \
             `fail_after`, `recover_after`, `alpha`, `groups`, `before_after`, `metrics`, `on_fail`"
        );
        assert!(err(&ISSUE.replace("min_total", "min_totl")).starts_with("guard.toml:17:1: unknown field `min_totl`"));
        assert_eq!(
            err(&ISSUE.replace("\"1m\"", "\"1 minute\"")),
            "guard.toml:3:12: `1 minute` is not a duration; write a number and a unit: 15s, 1m, 1h"
        );
        assert_eq!(
            err(&ISSUE.replace("\"1m\"", "\"20s\"")),
            "guard.toml:3:12: `interval` must be a whole number of steps (step = 15s)"
        );
        // The step as written, or the default when the file gives none.
        assert_eq!(
            err(&ISSUE.replace("\"1m\"", "\"50s\"").replace("step = \"15s\"\n", "")),
            "guard.toml:2:12: `interval` must be a whole number of steps (step = 15s, the default)"
        );
        assert_eq!(
            err(&ISSUE.replace("kind = \"value\"", "kind = \"values\"")),
            "guard.toml:22:8: metric `latency-p99`: unknown kind `values`, expected `ratio` or `value`"
        );
        assert_eq!(
            err(&ISSUE.replace("tolerance = 0.10", "tolerance = -1.0")),
            "guard.toml:25:13: metric `latency-p99`: `tolerance` must be between 0 and 10"
        );
        assert_eq!(
            err(&ISSUE.replace("total = 'sum", "totl = 'sum")),
            "guard.toml:15:1: unknown field `totl`, expected one of `name`, `kind`, `bad`, `total`, `min_total`, \
             `query`, `tolerance`, `margin`, `negligible`, `overdispersion`, `block`, `direction`, `critical`"
        );
        assert_eq!(
            err(&ISSUE.replace("min_total = 200\n", "").replace("tolerance = 0.10", "min_total = 3.0")),
            "guard.toml:24:13: metric `latency-p99`: `min_total` does not apply to a value metric"
        );
        assert_eq!(
            err(&ISSUE.replace("direction = \"increase\"\nmin", "direction = \"up\"\nmin")),
            "guard.toml:16:13: unknown variant `up`, expected one of `increase`, `decrease`, `either`"
        );
        assert!(err(&ISSUE.replace("http://127", "tcp://127")).starts_with("guard.toml:1:14: `prometheus` must be"));
        assert!(
            err(&ISSUE.replace("9090", "9090/?x="))
                .ends_with("`prometheus` must have no query (?) or fragment (#): API paths are added to it")
        );
    }

    #[test]
    fn on_fail() {
        let text = format!(
            "{ISSUE}\n[on_fail]\ncommand = [\"rollback\", \"v2\"]\nurl = \"https://hooks.example/halt\"\nsecret_env = \"HOOK_SECRET\"\n"
        );
        let file = GuardFile::parse(&text, "guard.toml").unwrap();
        let on_fail = file.on_fail.unwrap();
        assert_eq!(on_fail.command.unwrap(), ["rollback", "v2"]);
        assert_eq!(on_fail.secret_env.as_deref(), Some("HOOK_SECRET"));
        assert_eq!(
            err(&format!("{ISSUE}\n[on_fail]\nsecret_env = \"S\"\n")),
            "guard.toml:27:1: [on_fail] needs a `command`, a `url`, or both"
        );
        assert_eq!(
            err(&format!("{ISSUE}\n[on_fail]\ncommand = []\n")),
            "guard.toml:28:11: `command` needs a program: [\"program\", \"argument\", …]"
        );
        assert!(err(&format!("{ISSUE}\n[on_fail]\nurl = \"x\"\nsecret = \"s\"\n")).contains("unknown field `secret`"));
        assert_eq!(on_fail.timeout, DEFAULT_HOOK_TIMEOUT);
        let timed = GuardFile::parse(&format!("{ISSUE}\n[on_fail]\ncommand = [\"x\"]\ntimeout = \"90s\"\n"), "g.toml");
        assert_eq!(timed.unwrap().on_fail.unwrap().timeout, SignedDuration::from_secs(90));
        assert_eq!(
            err(&format!("{ISSUE}\n[on_fail]\nurl = \"http://h\"\ntimeout = \"1m\"\n")),
            "guard.toml:29:11: `timeout` bounds each run of `command`; there is no `command`"
        );
        assert_eq!(
            err(&format!("{ISSUE}\n[on_fail]\ncommand = [\"x\"]\ntimeout = \"0s\"\n")),
            "guard.toml:29:11: `0s` must be greater than zero"
        );
    }

    #[test]
    fn tuning() {
        let text = ISSUE
            .replace("min_total = 200", "min_total = 200\nmargin = 0.5")
            .replace("tolerance = 0.10", "tolerance = 0.10\nblock = 4");
        let file = GuardFile::parse(&text, "guard.toml").unwrap();
        assert_eq!(
            file.config.metrics()[0],
            MetricSpec::ratio("http-errors").min_total(200.0).margin(0.5).critical(true)
        );
        assert_eq!(file.config.metrics()[1], MetricSpec::value("latency-p99").tolerance(0.1).block(4));
        assert_eq!(
            err(&ISSUE.replace("min_total = 200", "min_total = 200\nmargin = 1.5")),
            "guard.toml:18:10: metric `http-errors`: `margin` must leave 1 + margin below pass_ratio"
        );
        assert!(err(&ISSUE.replace("tolerance = 0.10", "block = 0")).contains("`block` must be a whole number"));
        assert!(err(&ISSUE.replace("min_total = 200", "block = 2")).contains("`block` does not apply to a ratio"));
        let floor = GuardFile::parse(&ISSUE.replace("min_total = 200", "negligible = 0.001"), "guard.toml").unwrap();
        assert_eq!(floor.config.metrics()[0], MetricSpec::ratio("http-errors").negligible(0.001).critical(true));
        assert_eq!(
            err(&ISSUE.replace("min_total = 200", "negligible = 1.5")),
            "guard.toml:17:14: metric `http-errors`: `negligible` must be at least 0 and below 1"
        );
        assert!(
            err(&ISSUE.replace("tolerance = 0.10", "negligible = 0.1"))
                .contains("`negligible` does not apply to a value")
        );
    }

    #[test]
    fn overdispersion_tempers_a_ratio_metric() {
        let text = ISSUE.replace("min_total = 200", "min_total = 200\noverdispersion = 4.0");
        let file = GuardFile::parse(&text, "guard.toml").unwrap();
        assert_eq!(
            file.config.metrics()[0],
            MetricSpec::ratio("http-errors").min_total(200.0).temper(0.25).critical(true)
        );
        assert_eq!(
            err(&ISSUE.replace("min_total = 200", "min_total = 200\noverdispersion = 0.5")),
            "guard.toml:18:18: metric `http-errors`: `overdispersion` must be a number at least 1"
        );
        assert!(
            err(&ISSUE.replace("tolerance = 0.10", "overdispersion = 2.0"))
                .contains("`overdispersion` does not apply to a value metric")
        );
    }

    #[test]
    fn slow_requests_from_histogram_buckets_are_a_ratio_metric() {
        // docs/guard.md's recipe for latency as slow-request counts: requests above the `le="0.5"` bound.
        let text = format!(
            "{ISSUE}\n[[metrics]]\nname = \"slow-requests\"\nkind = \"ratio\"\n\
             bad = 'sum(increase(http_request_duration_seconds_count{{$group}}[1m])) - \
             sum(increase(http_request_duration_seconds_bucket{{le=\"0.5\",$group}}[1m]))'\n\
             total = 'sum(increase(http_request_duration_seconds_count{{$group}}[1m]))'\n\
             overdispersion = 1.5\n"
        );
        let file = GuardFile::parse(&text, "guard.toml").unwrap();
        assert_eq!(file.config.metrics()[2], MetricSpec::ratio("slow-requests").temper(1.0 / 1.5));
        assert!(matches!(&file.queries[2], Queries::Ratio { bad, .. } if bad.contains("le=\"0.5\",$group")));
    }

    #[test]
    fn durations_are_at_most_366_days() {
        assert_eq!(parse_duration("366d"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("366d1ms"), Err(DurationError::TooLong("366d1ms".to_owned())));
        assert_eq!(parse_duration("4000000d"), Err(DurationError::TooLong("4000000d".to_owned())));
        assert_eq!(
            err(&ISSUE.replace("interval = \"1m\"", "interval = \"4000000d\"")),
            "guard.toml:3:12: `4000000d` is longer than 366 days, the longest duration greenlight accepts"
        );
        let before_after = ISSUE.replace(
            "[groups]\nbaseline = 'version=\"v1\"'\ncanary = 'version=\"v2\"'",
            "[before_after]\ndeployed_at = \"2026-11-22T05:00:00Z\"\nlookback = \"4000000d\"",
        );
        assert_eq!(
            err(&before_after),
            "guard.toml:9:12: `4000000d` is longer than 366 days, the longest duration greenlight accepts"
        );
        let at_the_end = before_after.replace("2026-11-22T05:00:00Z", "9999-12-30T00:00:00Z").replace("4000000d", "2d");
        assert!(err(&at_the_end).starts_with("guard.toml:8:15: `deployed_at` is too close"), "{}", err(&at_the_end));
        // A PromQL range is not bounded: it only sets a value metric's block.
        assert_eq!(steps_per_range("rate(x[4000000d])", SignedDuration::from_secs(15)), u32::MAX);
    }

    #[test]
    fn ratio_ranges_may_not_outlast_the_interval() {
        let bad5 = ISSUE.replace("5..\",$group}[1m]", "5..\",$group}[5m]");
        assert_eq!(
            err(&bad5),
            "guard.toml:14:62: metric `http-errors`: `bad` has the range [5m], longer than `interval` (1m): each event \
             would be counted in 5 overlapping intervals, which voids the false-halt guarantee; use a range of at \
             most the interval"
        );
        let subquery = ISSUE.replace("{$group}[1m]))'\ndirection", "{$group}[1m])[3m:1m])'\ndirection");
        assert!(err(&subquery).starts_with("guard.toml:15:55: metric `http-errors`: `total` has the range [3m]"));
        // In a basic string, an escape before the range leaves the position at the string's start.
        let escaped = subquery.replace("total = 'sum(", "total = \"sum(\\u0020").replace("[3m:1m])'", "[3m:1m])\"");
        assert!(err(&escaped).starts_with("guard.toml:15:9: "), "{}", err(&escaped));
        let week = ISSUE.replace("5..\",$group}[1m]", "5..\",$group}[1w]");
        assert!(
            err(&week).contains("[1w], longer than `interval` (1m): each event would be counted in 10080 overlapping")
        );
        let two_minutes = ISSUE.replace("interval = \"1m\"", "interval = \"2m\"");
        let file = GuardFile::parse(&two_minutes.replace("$group}[1m]", "$group}[90s]"), "guard.toml").unwrap();
        assert!(matches!(&file.queries[0], Queries::Ratio { bad, .. } if bad.contains("[90s]")), "shorter is fine");
        let regex = ISSUE.replace("status=~\"5..\"", "status=~\"5..\",path=~\"/a[1h]\"");
        assert!(GuardFile::parse(&regex, "guard.toml").is_ok(), "brackets in strings are not ranges");
        let p99 = ISSUE.replace("[1m])))'\ndirection", "[5m])))'\ndirection");
        assert!(GuardFile::parse(&p99, "guard.toml").is_ok(), "a value query's range only sets its block");
        assert_eq!(longest_range("rate(x[1m])[2h:1m] + y[90s]"), Some((SignedDuration::from_hours(2), "2h", 11)));
        assert_eq!(longest_range("max(x{$group})"), None);
    }

    #[test]
    fn durations() {
        let secs = |t: &str| parse_duration(t).map(|d| d.as_millis()).ok();
        assert_eq!(secs("15s"), Some(15_000));
        assert_eq!(secs("1m30s"), Some(90_000));
        assert_eq!(secs("500ms"), Some(500));
        assert_eq!(secs("2h"), Some(7_200_000));
        assert_eq!(secs("1w"), Some(7 * 86_400_000));
        assert_eq!(secs("1y"), Some(365 * 86_400_000));
        assert_eq!(parse_duration("2y"), Err(DurationError::TooLong("2y".to_owned())));
        assert_eq!(secs("0s"), None);
        assert_eq!(parse_duration("0s").unwrap_err().to_string(), "`0s` must be greater than zero");
        assert_eq!(parse_duration("0m0s"), Err(DurationError::Zero("0m0s".to_owned())));
        assert_eq!(secs("15"), None);
        assert_eq!(secs(""), None);
    }
}
