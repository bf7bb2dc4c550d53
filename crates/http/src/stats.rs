//! Counters of what a [`Client`](crate::Client) did, and [`Stats`], their snapshot: calls, attempts, retries,
//! answers by status, failures by kind.
//!
//! This module owns counting. It deliberately does not export metrics in any format; a server turns a
//! snapshot into Prometheus series (the counters only grow, so they map onto counters one to one).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::ErrorKind;

/// A snapshot of a client's counters since it was built.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Logical calls: one per `send`.
    pub requests: u64,
    /// Requests put on the wire (or tried to): the first attempts plus the retries.
    pub attempts: u64,
    /// Attempts after the first of a call.
    pub retries: u64,
    /// Retries the budget refused.
    pub budget_exhausted: u64,
    /// Calls refused at once by an open circuit breaker (also counted in `errors` as `circuit_open`).
    pub short_circuited: u64,
    /// Answers per attempt, by status code.
    pub responses: BTreeMap<u16, u64>,
    /// Attempts that got no answer, by kind (`timeout`, `connect`, `transport`, ...).
    pub attempt_errors: BTreeMap<&'static str, u64>,
    /// Calls that failed, by the kind of the error returned to the caller.
    pub errors: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Default)]
pub(crate) struct Recorder {
    requests: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    budget_exhausted: AtomicU64,
    short_circuited: AtomicU64,
    responses: Mutex<BTreeMap<u16, u64>>,
    attempt_errors: [AtomicU64; ErrorKind::ALL.len()],
    errors: [AtomicU64; ErrorKind::ALL.len()],
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Recorder {
    pub fn request(&self) {
        bump(&self.requests);
    }

    pub fn attempt(&self, is_retry: bool) {
        bump(&self.attempts);
        if is_retry {
            bump(&self.retries);
        }
    }

    pub fn budget_exhausted(&self) {
        bump(&self.budget_exhausted);
    }

    pub fn short_circuited(&self) {
        bump(&self.short_circuited);
    }

    pub fn response(&self, status: u16) {
        let mut responses = self.responses.lock().unwrap_or_else(|p| p.into_inner());
        *responses.entry(status).or_default() += 1;
    }

    pub fn attempt_error(&self, kind: ErrorKind) {
        bump(&self.attempt_errors[kind.index()]);
    }

    pub fn error(&self, kind: ErrorKind) {
        bump(&self.errors[kind.index()]);
    }

    pub fn snapshot(&self) -> Stats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let by_kind = |counters: &[AtomicU64; ErrorKind::ALL.len()]| {
            ErrorKind::ALL
                .iter()
                .map(|kind| (kind.as_str(), load(&counters[kind.index()])))
                .filter(|(_, n)| *n > 0)
                .collect()
        };
        Stats {
            requests: load(&self.requests),
            attempts: load(&self.attempts),
            retries: load(&self.retries),
            budget_exhausted: load(&self.budget_exhausted),
            short_circuited: load(&self.short_circuited),
            responses: self.responses.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            attempt_errors: by_kind(&self.attempt_errors),
            errors: by_kind(&self.errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reflects_what_was_recorded() {
        let recorder = Recorder::default();
        recorder.request();
        recorder.attempt(false);
        recorder.response(500);
        recorder.attempt(true);
        recorder.attempt_error(ErrorKind::Timeout);
        recorder.error(ErrorKind::Timeout);
        recorder.request();
        recorder.attempt(false);
        recorder.response(200);
        let stats = recorder.snapshot();
        assert_eq!((stats.requests, stats.attempts, stats.retries), (2, 3, 1));
        assert_eq!(stats.responses, BTreeMap::from([(200, 1), (500, 1)]));
        assert_eq!(stats.attempt_errors, BTreeMap::from([("timeout", 1)]));
        assert_eq!(stats.errors, BTreeMap::from([("timeout", 1)]));
        assert_eq!(Recorder::default().snapshot(), Stats::default());
    }
}
