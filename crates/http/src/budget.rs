//! The retry budget one [`Client`](crate::Client) shares across all its calls: over any [`WINDOW`], retries stay at
//! or under `reserve + ceil(ratio × calls)`, so an outage cannot multiply the load on a service.
//!
//! Calls earn retries only for as long as the window: a client that made thousands of healthy calls over days has
//! no stock of retries to spend when its service goes down (every call would then be sent `max_attempts` times).
//!
//! This module owns the counts and the rule between them. It deliberately does not know about hosts, statuses or
//! backoff: when the budget says no, the client returns the error it already has.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a call's share of a retry lasts.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Calls and retries are counted per slot of this length; the window is whole slots.
const SLOT: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct RetryBudget {
    per_mille: u64,
    reserve: u64,
    slots: Mutex<Slots>,
}

#[derive(Debug)]
struct Slots {
    /// When slot 0 began.
    origin: Option<Instant>,
    /// (slot number, calls, retries), oldest first, none older than the window.
    counts: VecDeque<(u64, u64, u64)>,
}

impl RetryBudget {
    /// `per_mille` is the ratio in thousandths: 200 allows one retry per five calls. `reserve` retries are
    /// allowed on top in every window.
    pub fn new(per_mille: u64, reserve: u64) -> Self {
        Self { per_mille, reserve, slots: Mutex::new(Slots { origin: None, counts: VecDeque::new() }) }
    }

    /// Counts one logical call (a `send`) at `now`, which earns the budget its share of a retry for a window.
    pub fn record_call(&self, now: Instant) {
        self.slots().current(now).1 += 1;
    }

    /// Takes one retry from the budget at `now`, or says no when that would exceed `reserve + ceil(ratio × calls)`
    /// over the window.
    pub fn try_retry(&self, now: Instant) -> bool {
        let mut slots = self.slots();
        slots.current(now);
        let (calls, retries) = slots.counts.iter().fold((0u64, 0u64), |(c, r), slot| (c + slot.1, r + slot.2));
        let allowed = calls.saturating_mul(self.per_mille).div_ceil(1000).saturating_add(self.reserve);
        if retries >= allowed {
            return false;
        }
        // `current` left `now`'s slot last.
        slots.counts.back_mut().expect("now's slot").2 += 1;
        true
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Slots {
    /// The counts of `now`'s slot, after dropping the slots that left the window.
    fn current(&mut self, now: Instant) -> &mut (u64, u64, u64) {
        let origin = *self.origin.get_or_insert(now);
        let slot = (now.saturating_duration_since(origin).as_nanos() / SLOT.as_nanos()) as u64;
        let kept = (WINDOW.as_nanos() / SLOT.as_nanos()) as u64;
        while self.counts.front().is_some_and(|front| front.0 + kept <= slot) {
            self.counts.pop_front();
        }
        if self.counts.back().is_none_or(|back| back.0 < slot) {
            self.counts.push_back((slot, 0, 0));
        }
        self.counts.back_mut().expect("a slot was just made")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spends as many retries as allowed after each call and returns the running total after every call.
    fn greedy(per_mille: u64, reserve: u64, calls: usize) -> Vec<u64> {
        let budget = RetryBudget::new(per_mille, reserve);
        let now = Instant::now();
        let mut total = 0;
        (0..calls)
            .map(|_| {
                budget.record_call(now);
                while budget.try_retry(now) {
                    total += 1;
                }
                total
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
    fn calls_earn_retries_for_a_window_only() {
        let budget = RetryBudget::new(200, 0);
        let start = Instant::now();
        // A long healthy spell: 1,000 calls, no retry needed.
        for i in 0..1000 {
            budget.record_call(start + Duration::from_millis(100 * i));
        }
        // Then an outage: one call, and no stock of retries from the calls of long ago.
        let later = start + Duration::from_secs(100) + WINDOW;
        budget.record_call(later);
        assert!(budget.try_retry(later), "a call of its own earns one");
        assert!(!budget.try_retry(later), "the calls of more than a window ago earn nothing");
        // Within the window, recent calls still count: 10 calls in the last second earn 2 retries, 1 is spent.
        for _ in 0..9 {
            budget.record_call(later + Duration::from_millis(500));
        }
        assert!(budget.try_retry(later + Duration::from_secs(1)));
        assert!(!budget.try_retry(later + Duration::from_secs(1)));
        // Once the window has passed, spent retries are forgotten with the calls that earned them.
        let after = later + WINDOW + Duration::from_secs(1);
        assert!(!budget.try_retry(after), "no call in the window");
        budget.record_call(after);
        assert!(budget.try_retry(after));
    }

    #[test]
    fn concurrent_spending_never_overdraws() {
        let budget = std::sync::Arc::new(RetryBudget::new(200, 0));
        let now = Instant::now();
        for _ in 0..100 {
            budget.record_call(now);
        }
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let budget = budget.clone();
                std::thread::spawn(move || (0..50).filter(|_| budget.try_retry(now)).count())
            })
            .collect();
        let granted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(granted, 20);
    }
}
