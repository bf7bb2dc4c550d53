//! The value judge: a series of values per group (latency quantiles, CPU), canary against baseline, with a relative
//! tolerance.
//!
//! Owns: pairing the two series step by step, the signs the paired sign-test e-process counts (notes §2.2), the
//! tolerance (a relative change smaller than it never matters), blocks of steps, the Mann–Whitney U and
//! Hodges–Lehmann numbers Kayenta reports, and the sentences. Does not own: the e-value arithmetic (`sign`, `rank`),
//! persistence, or choosing the block size (`calibrate`).
//!
//! Why the sign test decides and Mann–Whitney only describes. Kayenta's judge runs a fixed-sample Mann–Whitney test
//! on step values as if they were independent, and repeats it every interval: each look spends the whole α again,
//! and step values share load and are autocorrelated, so false alarms grow with the looks (notes §3). The notes'
//! sound choice for repeated looks is the paired sign-test e-process: for each step, x = 1 when
//! ln canary − ln baseline exceeds ln(1 + tolerance). If the canary is not worse than the tolerance, P(x = 1 | past)
//! ≤ ½, so E_n = 2^{n+1}·B(S+1, F+1)·[1 − I_{1/2}(S+1, F+1)] (uniform prior on p ∈ [½, 1]) is an e-process that may
//! be watched after every step: halting at E ≥ 1/α_m keeps the false-halt chance under α_m for all time. Pairing
//! cancels the load both groups share. The coin assumption needs nearly independent step differences; when a
//! pre-deploy calibration finds them autocorrelated, signs of `block`-step means are used instead (valid, about
//! `block` times slower). Mann–Whitney U and the Hodges–Lehmann shift are still computed, over the last
//! `fail_after` intervals, and reported as the effect; the shift also gates a fail, so a change measured under the
//! tolerance never fails.
//!
//! Passing mirrors the test: y = 1 when the log ratio is below ln(1 + tolerance); rejecting "P(y = 1) ≤ ½" at
//! α_pass shows the canary is not worse than the tolerance. Values must be non-negative; NaN and negative steps are
//! missing, and a step missing in either group drops the pair. A gauge's metric (`new_values_only`) counts a step only
//! when both its values are new since the last step counted: Prometheus repeats a sample at every step until the next
//! scrape, and one sample counted as four signs would void the coin assumption (at a 1-minute scrape and 15-s steps,
//! a canary exactly at the tolerance halted in about a fifth of the runs).

use std::collections::VecDeque;

use crate::config::{Direction, Groups, MetricKind, MetricSpec, Settings};
use crate::input::{NoData, ValueObservation, usable_value};
use crate::report::{MetricInterval, MetricSummary, Numbers, Side, ValueNumbers, e_of, e_text, num, pct};

use super::persistence::{Outcome, Persistence};
use super::rank::{difference, hodges_lehmann, mann_whitney, median};
use super::sign::SignProcess;
use super::{Decision, Limits, SideState, decide, deciding_sides, evidence, pending, side_evidence, trimmed_evidence};

#[derive(Clone, Debug)]
struct ValueSide {
    side: Side,
    /// Signs "worse than the tolerance".
    worse: SignProcess,
    /// Signs "within the tolerance".
    pass: SignProcess,
    /// Oriented log differences of a block not yet complete.
    block: Vec<f64>,
    persistence: Persistence,
}

impl ValueSide {
    fn orientation(&self) -> f64 {
        if self.side == Side::Lower { -1.0 } else { 1.0 }
    }
}

/// The values of the steps counted in one interval, pair by pair.
#[derive(Clone, Debug, Default)]
struct Values {
    baseline: Vec<f64>,
    canary: Vec<f64>,
}

/// Judges one value metric, one interval at a time.
#[derive(Clone, Debug)]
pub struct ValueJudge {
    name: String,
    critical: bool,
    groups: Groups,
    tolerance: f64,
    block: usize,
    limits: Limits,
    sides: Vec<ValueSide>,
    /// Count a step only when both its values differ from those of the last step counted (`last`).
    new_values_only: bool,
    last: Option<(f64, f64)>,
    /// The last `fail_after` intervals with data.
    window: VecDeque<Values>,
    all: Values,
    pairs: usize,
    index: usize,
    with_data: u32,
}

impl ValueJudge {
    /// A judge for a value `spec`; a ratio spec gets the value defaults.
    pub fn new(spec: &MetricSpec, settings: &Settings, alpha_metric: f64) -> Self {
        let (tolerance, block, new_values_only) = match spec.kind {
            MetricKind::Value { tolerance, block, new_values_only } => {
                (tolerance, block.max(1) as usize, new_values_only)
            }
            MetricKind::Ratio { .. } => (crate::config::DEFAULT_TOLERANCE, 1, false),
        };
        let sides = match spec.direction {
            Direction::Increase => vec![Side::Higher],
            Direction::Decrease => vec![Side::Lower],
            Direction::Either => vec![Side::Higher, Side::Lower],
        };
        let limits = Limits::new(settings, alpha_metric, sides.len());
        Self {
            name: spec.name.clone(),
            critical: spec.critical,
            groups: settings.groups,
            tolerance,
            block,
            sides: sides
                .into_iter()
                .map(|side| ValueSide {
                    side,
                    worse: SignProcess::new(limits.trim()),
                    pass: SignProcess::new(0),
                    block: Vec::with_capacity(block),
                    persistence: Persistence::default(),
                })
                .collect(),
            limits,
            new_values_only,
            last: None,
            window: VecDeque::new(),
            all: Values::default(),
            pairs: 0,
            index: 0,
            with_data: 0,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interval at which a side's regression first counted.
    pub fn failed_at(&self) -> Option<usize> {
        self.sides.iter().filter_map(|s| s.persistence.failed_at).min()
    }

    fn log_tolerance(&self) -> f64 {
        self.tolerance.ln_1p()
    }

    /// Judges the next interval; `None` is a missing observation.
    pub fn push(&mut self, observation: Option<&ValueObservation>) -> MetricInterval {
        let index = self.index;
        self.index += 1;
        let data = match observation {
            None => Err(NoData::Missing),
            Some(o) => self.counted(o),
        };
        let diffs: Vec<f64> = data.as_ref().map_or_else(
            |_| Vec::new(),
            |v| v.baseline.iter().zip(&v.canary).map(|(b, c)| difference(c.ln(), b.ln())).collect(),
        );
        if let Ok(values) = &data {
            self.with_data += 1;
            self.pairs += diffs.len();
            self.all.baseline.extend_from_slice(&values.baseline);
            self.all.canary.extend_from_slice(&values.canary);
            self.window.push_back(values.clone());
            if self.window.len() > self.limits.fail_after as usize {
                self.window.pop_front();
            }
        }
        let tau = self.log_tolerance();
        let window_shift = shift(self.window.iter());
        for s in &mut self.sides {
            if data.is_err() {
                s.persistence.step(index, Outcome::Silent, self.limits.fail_after, self.limits.recover_after);
                continue;
            }
            let o = s.orientation();
            let (mut worse_ones, mut pass_ones, mut blocks) = (0, 0, 0);
            for &d in &diffs {
                s.block.push(o * d);
                if s.block.len() == self.block {
                    let mean = s.block.iter().sum::<f64>() / self.block as f64;
                    worse_ones += u64::from(mean > tau);
                    pass_ones += u64::from(mean < tau);
                    blocks += 1;
                    s.block.clear();
                }
            }
            s.worse.update(worse_ones, blocks - worse_ones);
            s.pass.update(pass_ones, blocks - pass_ones);
            let own_worse = diffs.iter().filter(|&&d| o * d > tau).count();
            let outcome = if 2 * own_worse > diffs.len() {
                let gate = window_shift.is_some_and(|h| o * h > tau);
                Outcome::Worse { persistent: gate && self.limits.persists(&s.worse) }
            } else {
                Outcome::NotWorse
            };
            s.persistence.step(index, outcome, self.limits.fail_after, self.limits.recover_after);
        }
        let states = self.states();
        let decision = decide(&states, data.is_ok(), self.with_data, &self.limits);
        let values = data.as_ref().ok();
        let numbers = self.numbers(values, diffs.len(), self.window.iter(), &states);
        let no_data = matches!(&data, Err(no_data) if decision == Decision::NoData && no_data.is_absent());
        let reason = match &data {
            Err(no_data) if decision == Decision::NoData => no_data.sentence(),
            _ => self.reason(decision, &states, &numbers, false),
        };
        MetricInterval {
            name: self.name.clone(),
            verdict: decision.verdict(),
            reason,
            critical: self.critical,
            no_data,
            numbers: Numbers::Value(numbers),
        }
    }

    /// The pairs of `observation` that count: steps with a usable value in both groups, and with `new_values_only`,
    /// only those whose two values both differ from the last pair counted.
    fn counted(&mut self, observation: &ValueObservation) -> Result<Values, NoData> {
        let mut values = Values::default();
        let mut usable = false;
        for (&b, &c) in observation.baseline.iter().zip(&observation.canary) {
            if !(usable_value(b) && usable_value(c)) {
                continue;
            }
            usable = true;
            if self.new_values_only && self.last.is_some_and(|(lb, lc)| lb == b || lc == c) {
                continue;
            }
            self.last = Some((b, c));
            values.baseline.push(b);
            values.canary.push(c);
        }
        match (usable, values.baseline.is_empty()) {
            (false, _) => Err(NoData::NoValues(self.groups)),
            (true, true) => Err(NoData::NoNewValues(self.groups)),
            (true, false) => Ok(values),
        }
    }

    /// The metric over the run so far: fail if its regression ever counted, otherwise the shared decision.
    pub fn summary(&self) -> MetricSummary {
        let states = self.states();
        let failed = (0..self.sides.len())
            .filter(|&i| self.sides[i].persistence.failed_at.is_some())
            .min_by_key(|&i| self.sides[i].persistence.failed_at);
        let decision = match failed {
            Some(i) => Decision::Failing(i),
            None => decide(&states, self.with_data > 0, self.with_data, &self.limits),
        };
        let numbers = self.numbers(Some(&self.all), self.pairs, std::iter::once(&self.all), &states);
        let reason = if decision == Decision::NoData {
            format!("no data: none of the {} intervals had a step with values {}", self.index, self.groups.both())
        } else {
            self.reason(decision, &states, &numbers, true)
        };
        MetricSummary {
            name: self.name.clone(),
            verdict: decision.verdict(),
            reason,
            critical: self.critical,
            failed_at: failed.and_then(|i| self.sides[i].persistence.failed_at),
            recovered_at: failed.and_then(|i| self.sides[i].persistence.recovered_at),
            intervals_with_data: self.with_data,
            no_data: decision == Decision::NoData,
            numbers: Numbers::Value(numbers),
        }
    }

    fn states(&self) -> Vec<SideState> {
        self.sides.iter().map(|s| SideState::of(s.side, &s.worse, &s.pass, &s.persistence)).collect()
    }

    fn numbers<'a>(
        &self,
        values: Option<&Values>,
        pairs: usize,
        effect_over: impl Iterator<Item = &'a Values> + Clone,
        states: &[SideState],
    ) -> ValueNumbers {
        let (closest, furthest) = deciding_sides(states);
        let med = |xs: &[f64]| (!xs.is_empty()).then(|| median(&mut xs.to_vec()));
        let (b, c): (Vec<f64>, Vec<f64>) = (
            effect_over.clone().flat_map(|v| v.baseline.iter().copied()).collect(),
            effect_over.flat_map(|v| v.canary.iter().copied()).collect(),
        );
        let mw = mann_whitney(&b, &c);
        let p_value = mw.map(|mw| match self.sides.as_slice() {
            [s] if s.side == Side::Lower => mw.p_less(),
            [_] => mw.p_greater(),
            _ => (2.0 * mw.p_greater().min(mw.p_less())).min(1.0),
        });
        ValueNumbers {
            pairs,
            baseline_median: values.and_then(|v| med(&v.baseline)),
            canary_median: values.and_then(|v| med(&v.canary)),
            effect: shift(std::iter::once(&Values { baseline: b, canary: c })).map(f64::exp_m1),
            mann_whitney_u: mw.map(|m| m.u),
            p_value,
            tolerance: self.tolerance,
            e_value: e_of(states[closest].log_e),
            threshold: self.limits.threshold,
            pass_e_value: e_of(states[furthest].log_pass_e),
            pass_threshold: self.limits.pass_threshold,
            sides: self
                .sides
                .iter()
                .zip(states)
                .map(|(s, st)| st.numbers(&self.limits, Some((s.worse.ones, s.worse.zeros))))
                .collect(),
        }
    }

    fn worse_phrase(&self, side: Side) -> String {
        let tol = pct(self.tolerance);
        let (higher, lower) = match side {
            Side::Lower => (self.groups.baseline(), self.groups.canary()),
            _ => (self.groups.canary(), self.groups.baseline()),
        };
        format!("{} is more than {tol} above {}", higher.subject(), lower.object())
    }

    fn reason(&self, decision: Decision, states: &[SideState], n: &ValueNumbers, summary: bool) -> String {
        let opt = |x: Option<f64>| x.map_or_else(|| "n/a".to_owned(), num);
        let shift =
            n.effect.map_or_else(|| "n/a".to_owned(), |e| format!("{}{}", if e >= 0.0 { "+" } else { "" }, pct(e)));
        let facts = format!(
            "{} median {} vs {} {} over {} paired steps, shift {shift} (Hodges–Lehmann), Mann–Whitney p = {}",
            self.groups.canary().label(),
            opt(n.canary_median),
            self.groups.baseline().label(),
            opt(n.baseline_median),
            n.pairs,
            opt(n.p_value),
        );
        let (closest, furthest) = deciding_sides(states);
        let signs = |i: usize| {
            let s = &self.sides[i].worse;
            format!("{} of {} signs", s.ones, s.ones + s.zeros)
        };
        match decision {
            Decision::Failing(i) => {
                let (at, recovery) = self.sides[i].persistence.when(summary, self.limits.recover_after);
                format!(
                    "regression counted{at}: {} in {} for {} consecutive intervals ({}, {}); {facts}{recovery}",
                    self.worse_phrase(states[i].side),
                    signs(i),
                    self.limits.fail_after,
                    evidence(states[i].log_e, &self.limits),
                    trimmed_evidence(states[i].log_e_trimmed, &self.limits),
                )
            }
            Decision::NoData => format!("no data; {facts}"),
            Decision::Pending(i) => format!(
                "possible regression: {} in most steps {}; {facts}",
                self.worse_phrase(states[i].side),
                pending(&states[i], &self.limits, ", or the shift is within the tolerance"),
            ),
            Decision::Pass => format!(
                "no regression: that {} is excluded (pass e = {} ≥ {}), and {} point that way ({}); {facts}",
                self.worse_phrase(states[furthest].side),
                e_text(states[furthest].log_pass_e),
                num(self.limits.pass_threshold),
                signs(closest),
                side_evidence(&states[closest], &self.limits),
            ),
            Decision::Soaking => format!(
                "soaking: {} of {} intervals with data before a pass ({}); {facts}",
                self.with_data,
                self.limits.soak,
                side_evidence(&states[closest], &self.limits),
            ),
            Decision::Undecided => format!(
                "not enough data to tell: no regression shown ({}) and that {} not yet excluded (pass e = {} < {}); \
                 {facts}",
                side_evidence(&states[closest], &self.limits),
                self.worse_phrase(states[furthest].side),
                e_text(states[furthest].log_pass_e),
                num(self.limits.pass_threshold),
            ),
        }
    }
}

/// The Hodges–Lehmann shift of log values (canary − baseline) over some intervals.
fn shift<'a>(intervals: impl Iterator<Item = &'a Values> + Clone) -> Option<f64> {
    let logs = |f: fn(&Values) -> &Vec<f64>| -> Vec<f64> {
        intervals.clone().flat_map(|v| f(v).iter().map(|x| x.ln())).collect()
    };
    hodges_lehmann(&logs(|v| &v.baseline), &logs(|v| &v.canary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Verdict;

    fn judge(spec: MetricSpec) -> ValueJudge {
        ValueJudge::new(&spec, &Settings::default(), 0.01)
    }

    fn obs(baseline: &[f64], canary: &[f64]) -> ValueObservation {
        ValueObservation { baseline: baseline.to_vec(), canary: canary.to_vec() }
    }

    /// Four steps of a wobbling baseline around `level`, and a canary at `factor` times it.
    fn steps(level: f64, factor: f64) -> ValueObservation {
        let b: Vec<f64> = [1.0, 1.05, 0.97, 1.02].iter().map(|w| w * level).collect();
        let c: Vec<f64> = b.iter().zip([1.01, 0.99, 1.02, 0.98]).map(|(x, w)| x * w * factor).collect();
        obs(&b, &c)
    }

    fn verdicts(j: &mut ValueJudge, intervals: &[ValueObservation]) -> Vec<Verdict> {
        intervals.iter().map(|o| j.push(Some(o)).verdict).collect()
    }

    #[test]
    fn a_one_and_a_half_times_slower_canary_fails() {
        let mut j = judge(MetricSpec::value("p99"));
        let v = verdicts(&mut j, &vec![steps(0.2, 1.5); 6]);
        let first = v.iter().position(|v| *v == Verdict::Fail).expect("never failed");
        // E ≥ 100 needs 9 ones beyond the worst interval's 4: the fourth interval.
        assert_eq!(first, 3, "{v:?}");
        let s = j.summary();
        let Numbers::Value(n) = &s.numbers else { panic!() };
        assert!((n.effect.unwrap() - 0.5).abs() < 0.05, "{:?}", n.effect);
        assert!(n.p_value.unwrap() < 1e-3);
        assert!(s.reason.contains("shift +"), "{}", s.reason);
    }

    #[test]
    fn a_change_under_the_tolerance_never_fails_and_passes() {
        let mut j = judge(MetricSpec::value("p99").tolerance(0.2));
        let v = verdicts(&mut j, &vec![steps(0.2, 1.1); 30]);
        assert!(!v.contains(&Verdict::Fail), "{v:?}");
        assert_eq!(j.summary().verdict, Verdict::Pass);
    }

    #[test]
    fn a_faster_canary_fails_a_decrease_metric_only() {
        let mut down = judge(MetricSpec::value("throughput").direction(Direction::Decrease));
        assert!(verdicts(&mut down, &vec![steps(100.0, 0.5); 6]).contains(&Verdict::Fail));
        let mut up = judge(MetricSpec::value("p99"));
        assert!(!verdicts(&mut up, &vec![steps(100.0, 0.5); 6]).contains(&Verdict::Fail));
        let mut either = judge(MetricSpec::value("p99").direction(Direction::Either));
        assert!(verdicts(&mut either, &vec![steps(100.0, 0.5); 8]).contains(&Verdict::Fail));
    }

    #[test]
    fn nan_empty_and_missing_are_inconclusive() {
        let mut j = judge(MetricSpec::value("p99"));
        let nan = obs(&[f64::NAN, 0.2], &[0.3, f64::NAN]);
        let empty = obs(&[], &[]);
        let negative = obs(&[-1.0], &[0.2]);
        for o in [Some(&nan), Some(&empty), Some(&negative), None] {
            let m = j.push(o);
            assert_eq!(m.verdict, Verdict::Inconclusive);
            assert!(m.reason.starts_with("no data"), "{}", m.reason);
        }
        assert_eq!(j.summary().verdict, Verdict::Inconclusive);
        assert_eq!(j.summary().intervals_with_data, 0);
    }

    #[test]
    fn zeros_and_infinities_compare() {
        // A baseline at 0 and a canary above it is worse by any tolerance; +∞ (all requests in the +Inf bucket) too.
        let mut j = judge(MetricSpec::value("queue"));
        let v = verdicts(&mut j, &vec![obs(&[0.0, 0.0, 1.0, 1.0], &[1.0, 2.0, f64::INFINITY, 3.0]); 5]);
        assert!(v.contains(&Verdict::Fail), "{v:?}");
        let mut j = judge(MetricSpec::value("queue"));
        let v = verdicts(&mut j, &vec![obs(&[0.0; 4], &[0.0; 4]); 5]);
        assert!(!v.contains(&Verdict::Fail), "{v:?}");
    }

    #[test]
    fn blocks_count_one_sign_per_block() {
        let mut j = judge(MetricSpec::value("p99").block(4));
        j.push(Some(&steps(0.2, 1.5)));
        j.push(Some(&obs(&[0.2, 0.2], &[0.3, 0.3])));
        let Numbers::Value(n) = j.summary().numbers else { panic!() };
        assert_eq!(n.sides[0].signs, Some((1, 0)), "two steps wait for the next block");
        assert_eq!(n.pairs, 6);
    }

    #[test]
    fn a_gauge_counts_a_step_only_once_both_values_are_new() {
        let mut j = judge(MetricSpec::value("p99").new_values_only(true));
        // Scraped every 30 s, queried every 15 s, the canary's scrapes half a step behind the baseline's.
        j.push(Some(&obs(&[0.2, 0.2, 0.21, 0.21], &[0.3, 0.3, 0.3, 0.31])));
        let Numbers::Value(n) = j.summary().numbers else { panic!() };
        assert_eq!((n.pairs, n.sides[0].signs), (2, Some((2, 0))), "steps 1 and 4: (0.2, 0.3) and (0.21, 0.31)");
        let m = j.push(Some(&obs(&[0.21, 0.21], &[0.31, 0.31])));
        assert_eq!(m.verdict, Verdict::Inconclusive);
        assert!(m.reason.starts_with("no data: no step has a new value in both groups"), "{}", m.reason);
        let Numbers::Value(n) = j.summary().numbers else { panic!() };
        assert_eq!((n.pairs, j.summary().intervals_with_data), (2, 1), "a repeat across intervals is a repeat");
        // Without the rule (a ranged query), a repeated value is a new computation and counts.
        let mut ranged = judge(MetricSpec::value("p99"));
        ranged.push(Some(&obs(&[0.2, 0.2, 0.21, 0.21], &[0.3, 0.3, 0.3, 0.31])));
        let Numbers::Value(n) = ranged.summary().numbers else { panic!() };
        assert_eq!(n.pairs, 4);
    }
}
