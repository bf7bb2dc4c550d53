//! How patient a [`Client`](crate::Client) is: the [`Policy`] numbers, and the two seams through which it meets
//! time, [`Sleeper`] (waiting between attempts) and [`Clock`] (now, for breakers and rate-limit resets).
//!
//! This module owns the defaults and their validation. It deliberately does not implement retrying or breaking
//! (see `client`, `backoff`, `budget`, `breaker`); tests swap the sleeper and the clock so that no test sleeps.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

/// The knobs of retrying, budgeting and breaking. `Policy::default()` is what production uses.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Limit on one attempt, from connecting to the end of the response body.
    pub attempt_timeout: Duration,
    /// Limit on establishing a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Attempts per call, the first included. 1 disables retries.
    pub max_attempts: u32,
    /// The first retry waits up to this much; each further one doubles the ceiling.
    pub base_backoff: Duration,
    /// The ceiling of the computed (jittered) wait.
    pub max_backoff: Duration,
    /// The longest wait a server may ask for with `Retry-After` or `X-RateLimit-Reset`; longer hints fail
    /// the call with [`HttpError::RetryAfterTooLong`](crate::HttpError::RetryAfterTooLong) at once.
    pub max_hinted_wait: Duration,
    /// Retries allowed per call, over any 10 s (`budget::WINDOW`): retries ≤ reserve + ceil(ratio × calls).
    pub retry_budget_ratio: f64,
    /// Retries a client may spend in a window beyond what its calls earned; a short-lived CLI client with few calls
    /// may want a few. 0 by default.
    pub retry_budget_reserve: u64,
    /// Consecutive failed calls to one host that open its breaker. 0 disables the breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker refuses calls before it lets one trial call through.
    pub breaker_cooldown: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            attempt_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_attempts: 4,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_hinted_wait: Duration::from_secs(60),
            retry_budget_ratio: 0.2,
            retry_budget_reserve: 0,
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
        }
    }
}

/// A policy that cannot work as written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    #[error("max_attempts must be at least 1")]
    NoAttempts,
    #[error("retry_budget_ratio must be a number between 0 and 1, not {0}")]
    BudgetRatio(f64),
    #[error("{0} must be greater than zero")]
    ZeroDuration(&'static str),
}

impl Policy {
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.max_attempts == 0 {
            return Err(PolicyError::NoAttempts);
        }
        if !(0.0..=1.0).contains(&self.retry_budget_ratio) {
            return Err(PolicyError::BudgetRatio(self.retry_budget_ratio));
        }
        for (name, value) in [("attempt_timeout", self.attempt_timeout), ("connect_timeout", self.connect_timeout)] {
            if value.is_zero() {
                return Err(PolicyError::ZeroDuration(name));
            }
        }
        Ok(())
    }

    /// The budget ratio in thousandths, so the budget is integer arithmetic (0.2 × 35 is not 7 in `f64`).
    pub(crate) fn budget_per_mille(&self) -> u64 {
        (self.retry_budget_ratio * 1000.0).round() as u64
    }
}

/// Waits between attempts. Production uses [`TokioSleeper`]; tests record the durations and return at once.
pub trait Sleeper: Send + Sync + fmt::Debug {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Sleeps on the tokio timer.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Tells the time: monotonic for breaker cooldowns, wall-clock for `X-RateLimit-Reset` and HTTP dates.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Instant;
    fn wall(&self) -> SystemTime;
}

/// The operating system's clocks.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let policy = Policy::default();
        assert_eq!(policy.validate(), Ok(()));
        assert_eq!(policy.max_attempts, 4);
        assert_eq!(policy.attempt_timeout, Duration::from_secs(10));
        assert_eq!(policy.budget_per_mille(), 200);
    }

    #[test]
    fn invalid_policies_are_refused() {
        let check = |change: fn(&mut Policy), expect: PolicyError| {
            let mut policy = Policy::default();
            change(&mut policy);
            assert_eq!(policy.validate(), Err(expect));
        };
        check(|p| p.max_attempts = 0, PolicyError::NoAttempts);
        check(|p| p.retry_budget_ratio = 1.5, PolicyError::BudgetRatio(1.5));
        check(|p| p.attempt_timeout = Duration::ZERO, PolicyError::ZeroDuration("attempt_timeout"));
        let nan = Policy { retry_budget_ratio: f64::NAN, ..Policy::default() };
        assert!(matches!(nan.validate(), Err(PolicyError::BudgetRatio(_))));
    }
}
