//! How long to wait before the next attempt: full-jitter exponential backoff, and the waits servers ask for
//! with `Retry-After` and `X-RateLimit-Reset`.
//!
//! This module owns pure arithmetic over durations and headers. It deliberately does not sleep, count retries
//! or decide whether a response is worth retrying; the client combines these answers with the budget.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, RETRY_AFTER};

const REMAINING: &str = "x-ratelimit-remaining";
const RESET: &str = "x-ratelimit-reset";

/// The ceiling of the wait after failed attempt number `attempt` (0 for the first attempt):
/// `min(max, base × 2^attempt)`.
pub fn ceiling(base: Duration, max: Duration, attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(max).min(max)
}

/// Full jitter: a wait drawn uniformly from `[0, ceiling]`, with `unit` in `[0, 1)` as the draw.
pub fn full_jitter(base: Duration, max: Duration, attempt: u32, unit: f64) -> Duration {
    ceiling(base, max, attempt).mul_f64(unit.clamp(0.0, 1.0))
}

/// Whether the headers say the client ran out of its rate limit (GitHub answers such a request with 403).
pub fn is_rate_limited(headers: &HeaderMap) -> bool {
    headers.contains_key(RETRY_AFTER) || header_str(headers, REMAINING) == Some("0")
}

/// The wait the server asks for, if it asks: `Retry-After` (seconds or an HTTP date) first, else
/// `X-RateLimit-Reset` (epoch seconds) when `X-RateLimit-Remaining` is 0. A moment already past means no wait.
pub fn server_hint(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(value) = header_str(headers, RETRY_AFTER.as_str()) {
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        if let Ok(when) = httpdate::parse_http_date(value) {
            return Some(when.duration_since(now).unwrap_or_default());
        }
    }
    if header_str(headers, REMAINING) == Some("0") {
        let reset = header_str(headers, RESET)?.parse::<u64>().ok()?;
        let when = UNIX_EPOCH.checked_add(Duration::from_secs(reset))?;
        return Some(when.duration_since(now).unwrap_or_default());
    }
    None
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    #[test]
    fn ceiling_doubles_up_to_the_maximum() {
        let check = |attempt: u32, expect: Duration| assert_eq!(ceiling(MS(200), MS(10_000), attempt), expect);
        check(0, MS(200));
        check(1, MS(400));
        check(2, MS(800));
        check(5, MS(6400));
        check(6, MS(10_000));
        check(40, MS(10_000));
        check(u32::MAX, MS(10_000));
    }

    #[test]
    fn full_jitter_spans_zero_to_the_ceiling() {
        assert_eq!(full_jitter(MS(200), MS(10_000), 2, 0.0), Duration::ZERO);
        assert_eq!(full_jitter(MS(200), MS(10_000), 2, 0.5), MS(400));
        assert!(full_jitter(MS(200), MS(10_000), 2, 0.999_999) <= MS(800));
        assert_eq!(full_jitter(MS(200), MS(10_000), 30, 1.5), MS(10_000));
    }

    #[test]
    fn server_hints() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let check = |pairs: &[(&str, &str)], expect: Option<Duration>| {
            assert_eq!(server_hint(&headers(pairs), now), expect, "{pairs:?}");
        };
        check(&[], None);
        check(&[("retry-after", "7")], Some(Duration::from_secs(7)));
        check(&[("retry-after", " 0 ")], Some(Duration::ZERO));
        // 1_700_000_000 is Tue, 14 Nov 2023 22:13:20 GMT.
        check(&[("retry-after", "Tue, 14 Nov 2023 22:13:50 GMT")], Some(Duration::from_secs(30)));
        check(&[("retry-after", "Tue, 14 Nov 2023 22:00:00 GMT")], Some(Duration::ZERO));
        check(&[("retry-after", "soon")], None);
        check(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1700000042")], Some(Duration::from_secs(42)));
        check(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1600000000")], Some(Duration::ZERO));
        check(&[("x-ratelimit-remaining", "12"), ("x-ratelimit-reset", "1700000042")], None);
        check(&[("x-ratelimit-remaining", "0")], None);
        check(
            &[("retry-after", "3"), ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1700000042")],
            Some(Duration::from_secs(3)),
        );
    }

    #[test]
    fn rate_limit_detection() {
        let check = |pairs: &[(&str, &str)], expect: bool| assert_eq!(is_rate_limited(&headers(pairs)), expect);
        check(&[], false);
        check(&[("x-ratelimit-remaining", "0")], true);
        check(&[("x-ratelimit-remaining", "4999")], false);
        check(&[("retry-after", "60")], true);
    }
}
