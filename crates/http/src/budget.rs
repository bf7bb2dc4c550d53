//! The retry budget one [`Client`](crate::Client) shares across all its calls: retries stay at or under
//! `reserve + ceil(ratio × calls)` over the client's lifetime, so an outage cannot multiply the load on a service.
//!
//! This module owns the two counters and the rule between them. It deliberately does not know about hosts,
//! statuses or backoff: when the budget says no, the client returns the error it already has.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
pub struct RetryBudget {
    per_mille: u64,
    reserve: u64,
    calls: AtomicU64,
    retries: AtomicU64,
}

impl RetryBudget {
    /// `per_mille` is the ratio in thousandths: 200 allows one retry per five calls. `reserve` retries are
    /// allowed on top, from the start.
    pub fn new(per_mille: u64, reserve: u64) -> Self {
        Self { per_mille, reserve, calls: AtomicU64::new(0), retries: AtomicU64::new(0) }
    }

    /// Counts one logical call (a `send`), which earns the budget its share of a retry.
    pub fn record_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one retry from the budget, or says no when that would exceed `reserve + ceil(ratio × calls)`.
    pub fn try_retry(&self) -> bool {
        let calls = self.calls.load(Ordering::Relaxed);
        let allowed = calls.saturating_mul(self.per_mille).div_ceil(1000).saturating_add(self.reserve);
        self.retries.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| (r < allowed).then_some(r + 1)).is_ok()
    }

    #[cfg(test)]
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spends as many retries as allowed after each call and returns the running total after every call.
    fn greedy(per_mille: u64, reserve: u64, calls: usize) -> Vec<u64> {
        let budget = RetryBudget::new(per_mille, reserve);
        (0..calls)
            .map(|_| {
                budget.record_call();
                while budget.try_retry() {}
                budget.retries()
            })
            .collect()
    }

    #[test]
    fn retries_stay_at_the_ceiling_of_the_ratio() {
        assert_eq!(greedy(200, 0, 11), [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3]);
        // 0.2 × 35 = 7 exactly; floating point would say 7.000000000000001 and allow an eighth retry.
        assert_eq!(greedy(200, 0, 35).last(), Some(&7));
        assert_eq!(greedy(200, 0, 50).last(), Some(&10));
        assert_eq!(greedy(0, 0, 10).last(), Some(&0));
        assert_eq!(greedy(1000, 0, 4), [1, 2, 3, 4]);
        assert_eq!(greedy(200, 3, 6), [4, 4, 4, 4, 4, 5]);
    }

    #[test]
    fn concurrent_spending_never_overdraws() {
        let budget = std::sync::Arc::new(RetryBudget::new(200, 0));
        for _ in 0..100 {
            budget.record_call();
        }
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let budget = budget.clone();
                std::thread::spawn(move || (0..50).filter(|_| budget.try_retry()).count())
            })
            .collect();
        let granted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(granted, 20);
        assert_eq!(budget.retries(), 20);
    }
}
