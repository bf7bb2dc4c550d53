//! One circuit breaker per host (scheme, host and port): after `threshold` consecutive failed calls the host is
//! left alone for `cooldown`, then a single trial call decides whether it is back. The client sends a trial once,
//! without retries ([`Permit::is_trial`]).
//!
//! This module owns the state machine and takes the time as an argument, so tests drive it with plain
//! `Instant`s. It deliberately does not decide what a failure is (the client does: connect errors, timeouts,
//! 429 and 5xx after retries) and never touches the network.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::Url;

/// What a breaker currently does with calls to its host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; `failures` consecutive calls failed so far.
    Closed { failures: u32 },
    /// Calls fail fast until `until`; the first call after it is the trial.
    Open { until: Instant },
    /// The trial call is in flight; other calls fail fast until it ends.
    HalfOpen,
}

/// A call was refused because the host's breaker is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub failures: u32,
}

#[derive(Debug, Default)]
struct Host {
    failures: u32,
    open_until: Option<Instant>,
    /// The id of the trial call in flight, if any.
    trial: Option<u64>,
}

/// The breakers of all hosts one client talks to.
#[derive(Debug)]
pub struct Breakers {
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    hosts: HashMap<String, Host>,
    next_trial: u64,
}

/// Leave to make one call; report how it went with [`Permit::success`] or [`Permit::failure`]. Dropping it
/// unreported (a cancelled call, a request that was never sent) counts as neither.
#[derive(Debug)]
#[must_use = "report the outcome of the call"]
pub struct Permit<'a> {
    breakers: &'a Breakers,
    host: Option<String>,
    trial: Option<u64>,
}

/// The breaker key of a URL: `scheme://host:port`, with the scheme's default port filled in.
pub fn host_key(url: &Url) -> String {
    format!("{}://{}:{}", url.scheme(), url.host_str().unwrap_or(""), url.port_or_known_default().unwrap_or(0))
}

impl Breakers {
    /// `threshold` 0 disables breaking: every call is admitted and nothing is tracked.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self { threshold, cooldown, inner: Mutex::default() }
    }

    /// Admits a call to `host` at `now`, or refuses it without any IO while the breaker is open.
    pub fn admit(&self, host: &str, now: Instant) -> Result<Permit<'_>, Rejected> {
        if self.threshold == 0 {
            return Ok(Permit { breakers: self, host: None, trial: None });
        }
        let mut inner = self.lock();
        let id = inner.next_trial;
        let state = inner.hosts.entry(host.to_owned()).or_default();
        if state.trial.is_some() {
            return Err(Rejected { failures: state.failures });
        }
        let trial = match state.open_until {
            Some(until) if now < until => {
                return Err(Rejected { failures: state.failures });
            }
            Some(_) => {
                state.trial = Some(id);
                inner.next_trial += 1;
                Some(id)
            }
            None => None,
        };
        Ok(Permit { breakers: self, host: Some(host.to_owned()), trial })
    }

    pub fn state(&self, host: &str) -> BreakerState {
        let inner = self.lock();
        match inner.hosts.get(host) {
            None => BreakerState::Closed { failures: 0 },
            Some(Host { trial: Some(_), .. }) => BreakerState::HalfOpen,
            Some(Host { open_until: Some(until), .. }) => BreakerState::Open { until: *until },
            Some(Host { failures, .. }) => BreakerState::Closed { failures: *failures },
        }
    }

    /// While the host's breaker refuses calls, how long from `now` until one may go through: the rest of the
    /// cooldown, or a whole cooldown while a trial is in flight (by then it has closed the breaker or opened it
    /// again). `None` while calls go through.
    pub fn retry_in(&self, host: &str, now: Instant) -> Option<Duration> {
        match self.state(host) {
            BreakerState::Closed { .. } => None,
            BreakerState::Open { until } => Some(until.saturating_duration_since(now)),
            BreakerState::HalfOpen => Some(self.cooldown),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The state stays consistent across a panic elsewhere: every update is a few plain assignments.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Permit<'_> {
    /// This call is the trial that decides whether the host is back.
    pub fn is_trial(&self) -> bool {
        self.trial.is_some()
    }

    /// The host answered: the breaker closes and the failure count starts over.
    pub fn success(mut self) {
        if let Some(host) = self.host.take() {
            let mut inner = self.breakers.lock();
            let state = inner.hosts.entry(host).or_default();
            *state = Host::default();
        }
    }

    /// The call failed after its retries. A failed trial re-opens the breaker for another cooldown.
    pub fn failure(mut self, now: Instant) {
        let Some(host) = self.host.take() else { return };
        let (threshold, cooldown) = (self.breakers.threshold, self.breakers.cooldown);
        let mut inner = self.breakers.lock();
        let state = inner.hosts.entry(host).or_default();
        state.failures = state.failures.saturating_add(1);
        if self.trial.is_some() && state.trial == self.trial {
            state.trial = None;
            state.open_until = Some(now + cooldown);
        } else if state.open_until.is_none() && state.failures >= threshold {
            state.open_until = Some(now + cooldown);
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        // Unreported: a trial that never finished must not keep the host half-open forever.
        if let (Some(host), Some(trial)) = (self.host.take(), self.trial) {
            let mut inner = self.breakers.lock();
            if let Some(state) = inner.hosts.get_mut(&host)
                && state.trial == Some(trial)
            {
                state.trial = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "https://jira.example.com:443";
    const COOLDOWN: Duration = Duration::from_secs(30);

    #[test]
    fn host_keys_include_the_default_port() {
        let check = |url: &str, expect: &str| assert_eq!(host_key(&Url::parse(url).unwrap()), expect);
        check("https://jira.example.com/rest?x=1", HOST);
        check("http://127.0.0.1:8080/a", "http://127.0.0.1:8080");
        check("http://example.com/", "http://example.com:80");
    }

    #[test]
    fn opens_after_threshold_then_trial_closes_it() {
        let breakers = Breakers::new(3, COOLDOWN);
        let t0 = Instant::now();
        for _ in 0..2 {
            breakers.admit(HOST, t0).unwrap().failure(t0);
        }
        assert_eq!(breakers.state(HOST), BreakerState::Closed { failures: 2 });
        assert_eq!(breakers.retry_in(HOST, t0), None);
        breakers.admit(HOST, t0).unwrap().failure(t0);
        assert_eq!(breakers.state(HOST), BreakerState::Open { until: t0 + COOLDOWN });
        assert_eq!(breakers.retry_in(HOST, t0 + Duration::from_secs(10)), Some(Duration::from_secs(20)));

        assert_eq!(breakers.admit(HOST, t0 + Duration::from_secs(29)).unwrap_err(), Rejected { failures: 3 });
        // Other hosts are not affected.
        breakers.admit("https://api.github.com:443", t0).unwrap().success();

        let trial = breakers.admit(HOST, t0 + COOLDOWN).unwrap();
        assert_eq!(breakers.state(HOST), BreakerState::HalfOpen);
        assert!(breakers.admit(HOST, t0 + COOLDOWN).is_err(), "only one trial at a time");
        assert_eq!(breakers.retry_in(HOST, t0 + COOLDOWN), Some(COOLDOWN), "the trial decides within a cooldown");
        trial.success();
        assert_eq!(breakers.state(HOST), BreakerState::Closed { failures: 0 });
        assert_eq!(breakers.retry_in(HOST, t0 + COOLDOWN), None);
        breakers.admit(HOST, t0 + COOLDOWN).unwrap().success();
    }

    #[test]
    fn failed_trial_reopens_for_another_cooldown() {
        let breakers = Breakers::new(1, COOLDOWN);
        let t0 = Instant::now();
        breakers.admit(HOST, t0).unwrap().failure(t0);
        let t1 = t0 + COOLDOWN + Duration::from_secs(5);
        breakers.admit(HOST, t1).unwrap().failure(t1);
        assert_eq!(breakers.state(HOST), BreakerState::Open { until: t1 + COOLDOWN });
        assert!(breakers.admit(HOST, t1 + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn success_resets_the_count_of_consecutive_failures() {
        let breakers = Breakers::new(2, COOLDOWN);
        let t0 = Instant::now();
        breakers.admit(HOST, t0).unwrap().failure(t0);
        breakers.admit(HOST, t0).unwrap().success();
        breakers.admit(HOST, t0).unwrap().failure(t0);
        assert_eq!(breakers.state(HOST), BreakerState::Closed { failures: 1 });
    }

    #[test]
    fn abandoned_trial_lets_the_next_call_try() {
        let breakers = Breakers::new(1, COOLDOWN);
        let t0 = Instant::now();
        breakers.admit(HOST, t0).unwrap().failure(t0);
        drop(breakers.admit(HOST, t0 + COOLDOWN).unwrap());
        assert_eq!(breakers.state(HOST), BreakerState::Open { until: t0 + COOLDOWN });
        breakers.admit(HOST, t0 + COOLDOWN).unwrap().success();
        assert_eq!(breakers.state(HOST), BreakerState::Closed { failures: 0 });
    }

    #[test]
    fn late_failure_of_an_old_call_does_not_extend_an_open_breaker() {
        let breakers = Breakers::new(1, COOLDOWN);
        let t0 = Instant::now();
        let slow = breakers.admit(HOST, t0).unwrap();
        breakers.admit(HOST, t0).unwrap().failure(t0);
        slow.failure(t0 + Duration::from_secs(20));
        assert_eq!(breakers.state(HOST), BreakerState::Open { until: t0 + COOLDOWN });
    }

    #[test]
    fn threshold_zero_disables_breaking() {
        let breakers = Breakers::new(0, COOLDOWN);
        let t0 = Instant::now();
        for _ in 0..100 {
            breakers.admit(HOST, t0).unwrap().failure(t0);
        }
        assert_eq!(breakers.state(HOST), BreakerState::Closed { failures: 0 });
    }
}
