//! Persistence: a regression counts only after `fail_after` consecutive bad intervals, and a failed metric counts as
//! recovered after `recover_after` consecutive good ones.
//!
//! Owns: the per-side state machine over interval outcomes and the first interval at which it failed. Does not own:
//! deciding whether an interval is bad (the judges do, from their evidence) or the run's verdict.
//!
//! An interval is *silent* when it carries no evidence (no data, or no bad events in either group where too few
//! were expected to tell): it neither extends nor breaks a streak. A *bad* interval's own data points worse than the
//! margin or tolerance; any other interval with evidence is *good* and breaks the bad streak. The judge says whether
//! the cumulative evidence is *persistent*: the e-value at the halt threshold, and the e-value with the
//! `fail_after − 1` most incriminating intervals left out (the trimmed e-value) at the judge's spike threshold (and
//! past any gate, such as the tolerance). The state fails when both the streak and that hold.
//!
//! The two thresholds do different jobs. The untrimmed e-value at 1/α is what carries the false-halt bound, and
//! persistence only ever removes halts, so the bound holds whatever the spike threshold. The trimmed one separates a
//! regression from a spike: with the worst interval left out, what remains is at most the e-process of the other
//! intervals, so after a single extreme interval followed by data no worse than the margin it reaches a spike
//! threshold k with probability at most 1/k (Ville). A ratio metric uses k = `SPIKE_E` = 20 (a spike halts in at
//! most 5 % of runs, whatever its size): with `fail_after` = 2 a regression halts at its second interval once both
//! together reach the halt threshold and the weaker one roughly reaches 20 alone, not each the halt threshold
//! alone. A value metric keeps the halt threshold as its spike threshold (see `SPIKE_E` for why).

use serde::Serialize;

/// What one interval showed for one side of a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No evidence either way.
    Silent,
    /// The interval's own data points worse than the margin or tolerance.
    Worse {
        /// The e-value is at the halt threshold, the trimmed e-value at the spike threshold, and any gate, such as
        /// the tolerance, is passed.
        persistent: bool,
    },
    /// The interval's own data does not point worse.
    NotWorse,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Persistence {
    /// Consecutive bad intervals (silent ones skipped).
    pub streak: u32,
    /// Consecutive good intervals since the side failed.
    pub good_run: u32,
    /// Consecutive good intervals since the last bad one (silent ones skipped), failing or not: how long ago the
    /// evidence last pointed worse.
    pub calm: u32,
    /// The side is failing now.
    pub failing: bool,
    /// Index of the interval at which the side first failed.
    pub failed_at: Option<usize>,
    /// Index of the interval at which the side last recovered; `None` while it fails again.
    pub recovered_at: Option<usize>,
}

impl Persistence {
    /// Applies interval `index`'s outcome.
    pub fn step(&mut self, index: usize, outcome: Outcome, fail_after: u32, recover_after: u32) {
        let mut persistent = false;
        match outcome {
            Outcome::Silent => return,
            Outcome::Worse { persistent: p } => {
                self.good_run = 0;
                self.calm = 0;
                self.streak += 1;
                persistent = p;
            }
            Outcome::NotWorse => {
                self.streak = 0;
                self.calm += 1;
                if self.failing {
                    self.good_run += 1;
                    if self.good_run >= recover_after {
                        self.failing = false;
                        self.good_run = 0;
                        self.recovered_at = Some(index);
                    }
                }
            }
        }
        if !self.failing && self.streak >= fail_after && persistent {
            self.failing = true;
            self.good_run = 0;
            self.failed_at.get_or_insert(index);
            // Failing again: the side has not recovered, whatever it did in between.
            self.recovered_at = None;
        }
    }

    /// Where a failing side's reason says when: `" at interval N"`, and either when it recovered (in a `summary` of
    /// the run) or how far it is toward recovery; each part empty when there is nothing to say.
    pub fn when(&self, summary: bool, recover_after: u32) -> (String, String) {
        let at = self.failed_at.map_or_else(String::new, |f| format!(" at interval {f}"));
        let recovery = if summary {
            self.recovered_at.map_or_else(String::new, |r| format!("; it recovered at interval {r}"))
        } else if self.good_run > 0 {
            format!("; {} of {recover_after} good intervals toward recovery", self.good_run)
        } else {
            String::new()
        };
        (at, recovery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAD: Outcome = Outcome::Worse { persistent: true };
    const SPIKE: Outcome = Outcome::Worse { persistent: false };
    const GOOD: Outcome = Outcome::NotWorse;

    /// Runs the outcomes with fail_after = 2, recover_after = 2 and returns `failing` after each.
    fn check(outcomes: &[Outcome], expect: &[bool]) {
        let mut p = Persistence::default();
        let got: Vec<bool> = outcomes
            .iter()
            .enumerate()
            .map(|(i, &o)| {
                p.step(i, o, 2, 2);
                p.failing
            })
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn two_bad_in_a_row_fail() {
        check(&[BAD, BAD], &[false, true]);
        check(&[BAD, GOOD, BAD], &[false, false, false]);
        check(&[BAD, Outcome::Silent, BAD], &[false, false, true]);
    }

    #[test]
    fn a_spike_without_persistent_evidence_never_fails() {
        check(&[SPIKE, SPIKE, SPIKE], &[false, false, false]);
        check(&[SPIKE, BAD], &[false, true]);
    }

    #[test]
    fn recovery_needs_consecutive_good_intervals() {
        check(&[BAD, BAD, GOOD, BAD, GOOD, GOOD], &[false, true, true, true, true, false]);
        let mut p = Persistence::default();
        for (i, o) in [BAD, BAD, GOOD, GOOD].into_iter().enumerate() {
            p.step(i, o, 2, 2);
        }
        assert_eq!((p.failed_at, p.recovered_at), (Some(1), Some(3)));
        for (i, o) in [BAD, BAD].into_iter().enumerate() {
            p.step(4 + i, o, 2, 2);
        }
        assert!(p.failing);
        assert_eq!((p.failed_at, p.recovered_at), (Some(1), None), "failing again is not recovered");
    }

    #[test]
    fn silence_neither_extends_nor_breaks() {
        let silent = Outcome::Silent;
        check(&[BAD, silent, silent, BAD], &[false, false, false, true]);
        check(&[BAD, BAD, silent, silent, GOOD, silent, GOOD], &[false, true, true, true, true, true, false]);
    }
}
