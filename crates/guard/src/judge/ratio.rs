//! The ratio judge: bad events over all events, canary against baseline, by the one-sided conditional-binomial
//! mixture e-process of the notes (§1).
//!
//! Owns: projecting an interval's counts onto each tested side, the margin δ (null r ≤ 1 + δ), the pass test
//! (H0': r ≥ r_pass, so passing means an anytime upper confidence bound below r_pass), what makes an interval point
//! worse (the canary's share of bad events above θ(1 + δ)), and the sentences. Does not own: the e-process
//! arithmetic (`mixture`), persistence, or the overall verdict.
//!
//! Conditioning on the bad events of both groups removes the baseline's rate, so nothing divides by it: a baseline
//! with zero errors is sound, and each canary error then multiplies the evidence by at most
//! (1 + δρ)/((1 + δ)ρ) (notes §1.4). Both groups silent is no evidence, never a halt.
//!
//! Sides per direction: `increase` tests the counted ratio rising (`higher`), as the notes set it up for errors.
//! `decrease` swaps the groups (`lower`, notes §1.7) and also tests the complement rising (`rest-higher`): a
//! success ratio of 99 % that falls to 95 % is a 5× rise in failures that a swapped test of successes (at most
//! 1.04×) could never see, while a 5 % conversion ratio that halves is seen only by the swapped test. `either`
//! tests all four. The metric's α_m is split evenly over its sides.
//!
//! Data rules: an interval counts only when both totals are present and positive, and each group has at least
//! `min_total` events; otherwise it is inconclusive and adds no evidence. Tempering c = 1/φ0 multiplies every
//! log-likelihood ratio (notes §1.6).

use crate::config::{Direction, Groups, MetricKind, MetricSpec, Settings};
use crate::input::{CleanCounts, NoData, RatioObservation, clean_counts};
use crate::report::{MetricInterval, MetricSummary, Numbers, RatioNumbers, Side, e_of, e_text, num, pct};

use super::calibrate::dispersion;
use super::mixture::{CountStep, MixtureProcess, log_sum_exp, share_of_bad, upper_bound};
use super::persistence::{Outcome, Persistence};
use super::{
    Decision, Limits, SPIKE_E, SideState, decide, deciding_sides, evidence, pending, side_evidence, trimmed_evidence,
};

#[derive(Clone, Debug)]
struct RatioSide {
    side: Side,
    worse: MixtureProcess,
    pass: MixtureProcess,
    /// The absolute pass test, for the sides that test the canary's own ratio rising.
    floor: Option<FloorProcess>,
    steps: Vec<CountStep>,
    persistence: Persistence,
}

impl RatioSide {
    /// The evidence for passing: the comparison's (`pass`) and the floor's, weighted 1 − w and w (w =
    /// `FLOOR_WEIGHT`). Under "the canary is both `pass_ratio` times worse and at or above the floor" each is an
    /// e-value, so their weighted mean is one too: a pass by either keeps the false-pass bound. The comparison pays a
    /// factor 1/(1 − w) for it, the floor 1/w: the floor is for a canary without bad events, where the comparison has
    /// nothing to go on, and where it sees many events.
    fn log_pass_e(&self) -> f64 {
        match &self.floor {
            Some(floor) => log_sum_exp(
                [(1.0 - FLOOR_WEIGHT).ln() + self.pass.log_e(), FLOOR_WEIGHT.ln() + floor.log_e()].into_iter(),
            ),
            None => self.pass.log_e(),
        }
    }

    /// Whether the floor carries more of the pass evidence than the comparison does.
    fn passes_by_floor(&self) -> bool {
        self.floor
            .as_ref()
            .is_some_and(|floor| FLOOR_WEIGHT.ln() + floor.log_e() > (1.0 - FLOOR_WEIGHT).ln() + self.pass.log_e())
    }
}

/// The floor's share of the pass evidence.
const FLOOR_WEIGHT: f64 = 0.1;

/// The floor test of the notes' absolute kind: H0'' "the canary's own ratio is at least `floor`", by a mixture of
/// binomial likelihood ratios against a few ratios below it, fixed in advance. For any ratio p ≥ floor each ratio's
/// expectation is at most 1 (it is 1 at p = floor and falls as p rises), so their mean, multiplied over intervals,
/// is an e-process; tempering by c ≤ 1 keeps it one. It passes a canary that stays far below the floor over many
/// events: with no bad event at all, e ≈ exp(c · total · floor · (1 − share)) for the best share.
#[derive(Clone, Debug)]
struct FloorProcess {
    floor: f64,
    /// One running log-likelihood ratio per alternative `floor × FLOOR_SHARES[i]`.
    logs: [f64; 3],
}

const FLOOR_SHARES: [f64; 3] = [0.5, 0.25, 0.0625];

impl FloorProcess {
    fn new(floor: f64) -> Option<Self> {
        (floor > 0.0).then_some(Self { floor, logs: [0.0; 3] })
    }

    /// Adds an interval in which the canary had `bad` of `total` events of the tested kind.
    fn update(&mut self, bad: f64, total: f64, temper: f64) {
        let f = self.floor;
        for (log, share) in self.logs.iter_mut().zip(FLOOR_SHARES) {
            let q = f * share;
            *log += temper * (bad * share.ln() + (total - bad) * ((1.0 - q) / (1.0 - f)).ln());
        }
    }

    fn log_e(&self) -> f64 {
        log_sum_exp(self.logs.iter().copied()) - (self.logs.len() as f64).ln()
    }
}

/// One side's view of an interval: y of m bad events in the group whose being worse is tested.
fn project(side: Side, baseline: CleanCounts, canary: CleanCounts) -> CountStep {
    let canary_share = canary.total / (canary.total + baseline.total);
    let (treated, other, share) = match side {
        Side::Higher => (canary.bad, baseline.bad, canary_share),
        Side::Lower => (baseline.bad, canary.bad, 1.0 - canary_share),
        Side::RestHigher => (canary.total - canary.bad, baseline.total - baseline.bad, canary_share),
        Side::RestLower => (baseline.total - baseline.bad, canary.total - canary.bad, 1.0 - canary_share),
    };
    CountStep::new(treated, treated + other, share)
}

fn sides_for(direction: Direction) -> Vec<Side> {
    match direction {
        Direction::Increase => vec![Side::Higher],
        Direction::Decrease => vec![Side::Lower, Side::RestHigher],
        Direction::Either => vec![Side::Higher, Side::Lower, Side::RestHigher, Side::RestLower],
    }
}

/// Bad events the pooled ratio must expect in an interval before one without any counts as "not worse" for
/// persistence (P(0) ≤ e^-3 ≈ 5 % at that rate); below it, a clean interval is silent.
const EXPECTED_TO_TELL: f64 = 3.0;

/// Judges one ratio metric, one interval at a time.
#[derive(Clone, Debug)]
pub struct RatioJudge {
    name: String,
    critical: bool,
    groups: Groups,
    min_total: f64,
    margin: f64,
    temper: f64,
    pass_ratio: f64,
    alpha_pass: f64,
    limits: Limits,
    sides: Vec<RatioSide>,
    index: usize,
    with_data: u32,
    /// Cumulative (baseline, canary) counts over intervals with data.
    totals: (CleanCounts, CleanCounts),
}

impl RatioJudge {
    /// A judge for a ratio `spec`; a value spec gets the ratio defaults.
    pub fn new(spec: &MetricSpec, settings: &Settings, alpha_metric: f64) -> Self {
        let (min_total, margin, temper, negligible) = match spec.kind {
            MetricKind::Ratio { min_total, margin, temper, negligible } => (min_total, margin, temper, negligible),
            MetricKind::Value { .. } => (0.0, crate::config::DEFAULT_MARGIN, 1.0, 0.0),
        };
        let sides = sides_for(spec.direction);
        let limits = Limits::new(settings, alpha_metric, sides.len()).with_spike_threshold(SPIKE_E);
        let zero = CleanCounts { bad: 0.0, total: 0.0 };
        Self {
            name: spec.name.clone(),
            critical: spec.critical,
            groups: settings.groups,
            min_total,
            margin,
            temper,
            pass_ratio: settings.pass_ratio,
            alpha_pass: settings.alpha_pass,
            sides: sides
                .into_iter()
                .map(|side| RatioSide {
                    side,
                    worse: MixtureProcess::worse_than(1.0 + margin, temper, limits.trim()),
                    pass: MixtureProcess::better_than(settings.pass_ratio, temper),
                    // The floor is about the canary's own ratio rising: the sides that swap the groups have none.
                    floor: match side {
                        Side::Higher | Side::RestHigher => FloorProcess::new(negligible),
                        Side::Lower | Side::RestLower => None,
                    },
                    steps: Vec::new(),
                    persistence: Persistence::default(),
                })
                .collect(),
            limits,
            index: 0,
            with_data: 0,
            totals: (zero, zero),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interval at which a side's regression first counted.
    pub fn failed_at(&self) -> Option<usize> {
        self.sides.iter().filter_map(|s| s.persistence.failed_at).min()
    }

    fn clean(&self, o: &RatioObservation) -> Result<(CleanCounts, CleanCounts), NoData> {
        let (baseline_group, canary_group) = (self.groups.baseline(), self.groups.canary());
        let baseline = clean_counts(o.baseline, baseline_group)?;
        let canary = clean_counts(o.canary, canary_group)?;
        for (group, c) in [(canary_group, canary), (baseline_group, baseline)] {
            if c.total < self.min_total {
                return Err(NoData::BelowMinimum { group, total: c.total, min_total: self.min_total });
            }
        }
        Ok((baseline, canary))
    }

    /// Judges the next interval; `None` is a missing observation.
    pub fn push(&mut self, observation: Option<&RatioObservation>) -> MetricInterval {
        let index = self.index;
        self.index += 1;
        let data = match observation {
            None => Err(NoData::Missing),
            Some(o) => self.clean(o),
        };
        let null = 1.0 + self.margin;
        match data {
            Ok((baseline, canary)) => {
                self.with_data += 1;
                self.totals.0.bad += baseline.bad;
                self.totals.0.total += baseline.total;
                self.totals.1.bad += canary.bad;
                self.totals.1.total += canary.total;
                // Bad events the run's pooled ratio expects in this interval: with none seen where several were
                // expected, the interval says the regression did not go on (persistence only; the e-processes
                // learn nothing from it).
                let pooled = (self.totals.0.bad + self.totals.1.bad) / (self.totals.0.total + self.totals.1.total);
                let expected = pooled * (baseline.total + canary.total);
                for s in &mut self.sides {
                    // Tempered by the dispersion of the intervals before this one (predictable, so still valid).
                    let step = CountStep { temper: 1.0 / dispersion(&s.steps), ..project(s.side, baseline, canary) };
                    s.worse.update(step);
                    s.pass.update(step);
                    if let Some(floor) = &mut s.floor {
                        let bad = if s.side == Side::Higher { canary.bad } else { canary.total - canary.bad };
                        floor.update(bad, canary.total, self.temper * step.temper);
                    }
                    s.steps.push(step);
                    // Counts that scatter more than Poisson (φ0, and the in-test dispersion) expect less.
                    let telling = expected * self.temper * step.temper >= EXPECTED_TO_TELL;
                    let outcome = if step.m <= 0.0 && !telling {
                        Outcome::Silent
                    } else if step.m <= 0.0 {
                        Outcome::NotWorse
                    } else if step.y > step.m * share_of_bad(null, step.share) {
                        Outcome::Worse { persistent: self.limits.persists(&s.worse) }
                    } else {
                        Outcome::NotWorse
                    };
                    s.persistence.step(index, outcome, self.limits.fail_after, self.limits.recover_after);
                }
            }
            Err(_) => {
                for s in &mut self.sides {
                    s.persistence.step(index, Outcome::Silent, self.limits.fail_after, self.limits.recover_after);
                }
            }
        }
        let states = self.states();
        let decision = decide(&states, data.is_ok(), self.with_data, &self.limits);
        let counts = data.as_ref().ok().copied();
        let no_data = matches!(&data, Err(no_data) if decision == Decision::NoData && no_data.is_absent());
        let reason = match &data {
            Err(no_data) if decision == Decision::NoData => no_data.sentence(),
            _ => self.reason(decision, &states, counts, false),
        };
        MetricInterval {
            name: self.name.clone(),
            verdict: decision.verdict(),
            reason,
            critical: self.critical,
            no_data,
            numbers: Numbers::Ratio(self.numbers(counts, &states, false)),
        }
    }

    /// The metric over the run so far: fail if its regression ever counted (the halt is final), otherwise the
    /// shared decision on all evidence.
    pub fn summary(&self) -> MetricSummary {
        let states = self.states();
        let failed = (0..self.sides.len())
            .filter(|&i| self.sides[i].persistence.failed_at.is_some())
            .min_by_key(|&i| self.sides[i].persistence.failed_at);
        let decision = match failed {
            Some(i) => Decision::Failing(i),
            None => decide(&states, self.with_data > 0, self.with_data, &self.limits),
        };
        let totals = (self.with_data > 0).then_some(self.totals);
        let reason = if decision == Decision::NoData {
            format!("no data: none of the {} intervals had usable counts", self.index)
        } else {
            self.reason(decision, &states, totals, true)
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
            numbers: Numbers::Ratio(self.numbers(totals, &states, true)),
        }
    }

    fn states(&self) -> Vec<SideState> {
        self.sides
            .iter()
            .map(|s| SideState {
                log_pass_e: s.log_pass_e(),
                ..SideState::of(s.side, &s.worse, &s.pass, &s.persistence)
            })
            .collect()
    }

    fn numbers(&self, counts: Option<(CleanCounts, CleanCounts)>, states: &[SideState], summary: bool) -> RatioNumbers {
        let (closest, furthest) = deciding_sides(states);
        let ratio = |c: CleanCounts| c.bad / c.total;
        let (baseline_ratio, canary_ratio) = match counts {
            Some((b, c)) => (Some(ratio(b)), Some(ratio(c))),
            None => (None, None),
        };
        let rate_ratio = match (baseline_ratio, canary_ratio) {
            (Some(b), Some(c)) if b > 0.0 => Some(c / b),
            _ => None,
        };
        RatioNumbers {
            baseline: counts.map(|c| c.0),
            canary: counts.map(|c| c.1),
            baseline_ratio,
            canary_ratio,
            canary_share: counts.map(|(b, c)| c.total / (b.total + c.total)),
            rate_ratio,
            margin: self.margin,
            temper: self.weight(closest),
            e_value: e_of(states[closest].log_e),
            threshold: self.limits.threshold,
            pass_e_value: e_of(states[furthest].log_pass_e),
            pass_threshold: self.limits.pass_threshold,
            upper_bound: if summary {
                upper_bound(&self.sides[furthest].steps, self.temper, self.alpha_pass)
            } else {
                None
            },
            sides: states.iter().map(|st| st.numbers(&self.limits, None)).collect(),
        }
    }

    /// The weight of `side`'s latest interval: the configured tempering times the in-test one.
    fn weight(&self, side: usize) -> f64 {
        self.temper * self.sides[side].steps.last().map_or(1.0, |s| s.temper)
    }

    /// What being worse means for a side, for sentences, with its verb (`is`, `being`).
    fn worse_phrase(&self, side: Side, by: f64, verb: &str) -> String {
        let (canary, baseline) = (self.groups.canary(), self.groups.baseline());
        let (of, how) = match side {
            Side::Higher => ("ratio", format!("above {}×", num(by))),
            Side::Lower => ("ratio", format!("below 1/{} of", num(by))),
            Side::RestHigher => ("complement (1 − ratio)", format!("above {}×", num(by))),
            Side::RestLower => ("complement (1 − ratio)", format!("below 1/{} of", num(by))),
        };
        format!("{} {verb} {how} {}", canary.of(of), baseline.again())
    }

    fn reason(
        &self,
        decision: Decision,
        states: &[SideState],
        counts: Option<(CleanCounts, CleanCounts)>,
        summary: bool,
    ) -> String {
        let null = 1.0 + self.margin;
        let counts = match counts {
            Some((b, c)) => format!(
                "{} {}/{} ({}) vs {} {}/{} ({})",
                self.groups.canary().label(),
                c.bad,
                c.total,
                pct(c.bad / c.total),
                self.groups.baseline().label(),
                b.bad,
                b.total,
                pct(b.bad / b.total)
            ),
            None => "no usable counts".to_owned(),
        };
        let (closest, furthest) = deciding_sides(states);
        let weight = self.weight(closest);
        let counts = if weight < 1.0 && decision != Decision::NoData {
            format!(
                "{counts}; evidence weighted ×{} for scatter beyond Poisson counts (1/φ0 = {}, 1/φ = {})",
                num(weight),
                num(self.temper),
                num(weight / self.temper)
            )
        } else {
            counts
        };
        match decision {
            Decision::Failing(i) => {
                let s = &self.sides[i];
                let (at, recovery) = s.persistence.when(summary, self.limits.recover_after);
                format!(
                    "regression counted{at}: {} for {} consecutive intervals ({}, {}); {counts}{recovery}",
                    self.worse_phrase(s.side, null, "is"),
                    self.limits.fail_after,
                    evidence(states[i].log_e, &self.limits),
                    trimmed_evidence(states[i].log_e_trimmed, &self.limits),
                )
            }
            Decision::NoData => format!("no data; {counts}"),
            Decision::Pending(i) => format!(
                "possible regression: {} {}; {counts}",
                self.worse_phrase(states[i].side, null, "is"),
                pending(&states[i], &self.limits, ""),
            ),
            Decision::Pass => format!(
                "no regression: {} is excluded (pass e = {} ≥ {}) and there is no evidence of worse than {}× ({}); \
                 {counts}",
                if self.sides[furthest].passes_by_floor() {
                    let floor = self.sides[furthest].floor.as_ref().map_or(0.0, |f| f.floor);
                    let of = if states[furthest].side == Side::Higher { "ratio" } else { "complement (1 − ratio)" };
                    format!("{} being at or above the negligible {}", self.groups.canary().of(of), pct(floor))
                } else {
                    self.worse_phrase(states[furthest].side, self.pass_ratio, "being")
                },
                e_text(states[furthest].log_pass_e),
                num(self.limits.pass_threshold),
                num(null),
                side_evidence(&states[closest], &self.limits),
            ),
            Decision::Soaking => format!(
                "soaking: {} of {} intervals with data before a pass ({}); {counts}",
                self.with_data,
                self.limits.soak,
                side_evidence(&states[closest], &self.limits),
            ),
            Decision::Undecided => format!(
                "not enough data to tell: no regression shown ({}) and {} not yet excluded (pass e = {} < {}); \
                 {counts}",
                side_evidence(&states[closest], &self.limits),
                self.worse_phrase(states[furthest].side, self.pass_ratio, "being"),
                e_text(states[furthest].log_pass_e),
                num(self.limits.pass_threshold),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Verdict;

    fn judge(spec: MetricSpec) -> RatioJudge {
        RatioJudge::new(&spec, &Settings::default(), 0.005)
    }

    fn obs(baseline: (f64, f64), canary: (f64, f64)) -> RatioObservation {
        RatioObservation::new(baseline, canary)
    }

    /// Pushes each interval and returns the verdicts.
    fn check(j: &mut RatioJudge, intervals: &[Option<RatioObservation>], expect: &[Verdict]) {
        let got: Vec<Verdict> = intervals.iter().map(|o| j.push(o.as_ref()).verdict).collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn sides_project_counts() {
        let b = CleanCounts { bad: 10.0, total: 1000.0 };
        let c = CleanCounts { bad: 30.0, total: 3000.0 };
        assert_eq!(project(Side::Higher, b, c), CountStep::new(30.0, 40.0, 0.75));
        assert_eq!(project(Side::Lower, b, c), CountStep::new(10.0, 40.0, 0.25));
        assert_eq!(project(Side::RestHigher, b, c), CountStep::new(2970.0, 3960.0, 0.75));
    }

    #[test]
    fn a_tripled_error_ratio_fails_on_its_second_interval() {
        use Verdict::*;
        let mut j = judge(MetricSpec::ratio("errors"));
        let bad = Some(obs((30.0, 3000.0), (90.0, 3000.0)));
        check(&mut j, &[bad, bad, bad], &[Inconclusive, Fail, Fail]);
        let s = j.summary();
        assert_eq!((s.verdict, s.failed_at), (Fail, Some(1)));
        assert!(s.reason.starts_with("regression counted at interval 1"), "{}", s.reason);
    }

    #[test]
    fn two_intervals_below_the_threshold_each_fail_at_the_second() {
        use Verdict::*;
        // 70 against 30 of 3000: one interval gives e ≈ 55, under the halt threshold 200; two give e ≈ 5800, and
        // the weaker interval alone is over the spike threshold 20, so the regression counts at the second.
        let mut j = judge(MetricSpec::ratio("errors"));
        let bad = obs((30.0, 3000.0), (70.0, 3000.0));
        let first = j.push(Some(&bad));
        let Numbers::Ratio(n) = first.numbers else { panic!() };
        assert!(n.sides[0].e_value > SPIKE_E && n.sides[0].e_value < n.threshold, "{}", n.sides[0].e_value);
        assert_eq!(n.sides[0].spike_threshold, SPIKE_E);
        let second = j.push(Some(&bad));
        assert_eq!(second.verdict, Fail, "{}", second.reason);
        assert!(second.reason.contains("≥ 20 without the worst 1"), "{}", second.reason);
        // 65 against 30: two intervals reach the halt threshold (e ≈ 560), but without the worse one e ≈ 17 < 20.
        let mut j = judge(MetricSpec::ratio("errors"));
        let weaker = obs((30.0, 3000.0), (65.0, 3000.0));
        assert_eq!(j.push(Some(&weaker)).verdict, Inconclusive);
        let second = j.push(Some(&weaker));
        assert_eq!(second.verdict, Inconclusive);
        assert!(second.reason.contains("does not persist: e = 17.4 < 20 without the worst 1"), "{}", second.reason);
        assert_eq!(j.push(Some(&weaker)).verdict, Fail, "a third interval makes it count");
    }

    #[test]
    fn a_spike_that_is_over_no_longer_holds_back_a_pass() {
        use Verdict::*;
        let mut j = judge(MetricSpec::ratio("errors"));
        let calm = obs((30.0, 3000.0), (30.0, 3000.0));
        let spike = obs((30.0, 3000.0), (900.0, 3000.0));
        let mut verdicts = Vec::new();
        for o in [calm, calm, calm, calm, spike].into_iter().chain(std::iter::repeat_n(calm, 40)) {
            verdicts.push(j.push(Some(&o)).verdict);
        }
        // The spike raises the evidence past the halt threshold for good; it never persists, so it never halts. Two
        // calm intervals after it (recover_after), it no longer holds back the pass test, which the hour of calm
        // data reaches.
        assert!(!verdicts.contains(&Fail), "{verdicts:?}");
        assert_eq!(verdicts[5..7], [Inconclusive, Inconclusive], "{verdicts:?}");
        assert_eq!(verdicts.last(), Some(&Pass), "{verdicts:?}");
        let s = j.summary();
        assert_eq!(s.verdict, Pass, "{}", s.reason);
        assert!(s.reason.contains("rose past the threshold in earlier intervals that did not persist"), "{}", s.reason);
        let Numbers::Ratio(n) = s.numbers else { panic!() };
        assert!(n.e_value >= n.threshold, "the spike's evidence stays: {}", n.e_value);
    }

    #[test]
    fn no_bad_events_anywhere_pass_once_the_canary_is_shown_below_the_negligible_ratio() {
        use Verdict::*;
        // 5,500 requests a minute per group and no error in either: the groups cannot be compared, but the canary's
        // ratio is soon shown to be far below 0.01 %.
        let clean = Some(obs((0.0, 5500.0), (0.0, 5500.0)));
        let mut j = judge(MetricSpec::ratio("errors"));
        let verdicts: Vec<Verdict> = (0..30).map(|_| j.push(clean.as_ref()).verdict).collect();
        assert!(!verdicts.contains(&Fail), "{verdicts:?}");
        assert_eq!(verdicts.last(), Some(&Pass), "{verdicts:?}");
        let s = j.summary();
        assert_eq!(s.verdict, Pass, "{}", s.reason);
        assert!(s.reason.contains("the canary's ratio being at or above the negligible 0.01%"), "{}", s.reason);
        // Without the floor, or with little traffic, there is nothing to tell: inconclusive, never pass.
        let mut off = judge(MetricSpec::ratio("errors").negligible(0.0));
        assert!((0..30).all(|_| off.push(clean.as_ref()).verdict == Inconclusive));
        let mut low = judge(MetricSpec::ratio("errors"));
        let few = Some(obs((0.0, 300.0), (0.0, 300.0)));
        assert!((0..30).all(|_| low.push(few.as_ref()).verdict == Inconclusive));
    }

    #[test]
    fn a_canary_above_the_negligible_ratio_never_passes_by_it() {
        // A new error the baseline never has, at 0.1 %: ten times the floor. It fails, and never passes first.
        let mut j = judge(MetricSpec::ratio("errors"));
        let verdicts: Vec<Verdict> =
            (0..30).map(|_| j.push(Some(&obs((0.0, 5500.0), (5.5, 5500.0)))).verdict).collect();
        let failed = verdicts.iter().position(|v| *v == Verdict::Fail).expect("never failed");
        assert!(!verdicts[..failed].contains(&Verdict::Pass), "{verdicts:?}");
    }

    /// The floor's e-process keeps its level: a canary exactly at the floor, 2,000 runs of 60 intervals of 50,000
    /// requests, passes by it in at most α_pass of the runs.
    #[test]
    fn the_floor_holds_its_level_at_the_floor() {
        let mut rng = fastrand::Rng::with_seed(7);
        let (floor, n, runs) = (1e-4, 50_000u32, 2_000);
        let mut passed = 0;
        for _ in 0..runs {
            let mut process = FloorProcess::new(floor).unwrap();
            for _ in 0..60 {
                // Binomial(n, floor) as a sum of Bernoulli draws would be slow; Poisson(n · floor) is close enough.
                let bad = poisson(&mut rng, f64::from(n) * floor);
                process.update(bad, f64::from(n), 1.0);
                if process.log_e() >= 20f64.ln() {
                    passed += 1;
                    break;
                }
            }
        }
        assert!(f64::from(passed) <= 0.05 * f64::from(runs), "{passed} of {runs}");
    }

    fn poisson(rng: &mut fastrand::Rng, mean: f64) -> f64 {
        let (limit, mut product, mut k) = ((-mean).exp(), rng.f64(), 0.0);
        while product > limit {
            product *= rng.f64();
            k += 1.0;
        }
        k
    }

    #[test]
    fn equal_ratios_pass_after_the_soak() {
        use Verdict::*;
        let mut j = judge(MetricSpec::ratio("errors"));
        let same = Some(obs((30.0, 3000.0), (30.0, 3000.0)));
        check(&mut j, &[same, same, same], &[Inconclusive, Pass, Pass]);
        let s = j.summary();
        assert_eq!(s.verdict, Pass);
        let Numbers::Ratio(n) = s.numbers else { panic!() };
        let bound = n.upper_bound.unwrap();
        assert!(bound > 1.0 && bound < 2.0, "{bound}");
        assert_eq!(n.rate_ratio, Some(1.0));
    }

    #[test]
    fn missing_nan_and_low_traffic_are_inconclusive_and_add_nothing() {
        let mut j = judge(MetricSpec::ratio("errors").min_total(200.0));
        let nan = Some(RatioObservation::new((f64::NAN, 100.0), (1.0, 100.0)));
        let low = Some(obs((0.0, 150.0), (60.0, 150.0)));
        for o in [None, nan, low, low, low] {
            let m = j.push(o.as_ref());
            assert_eq!(m.verdict, Verdict::Inconclusive);
            assert!(m.reason.starts_with("no data") || m.reason.starts_with("too little traffic"), "{}", m.reason);
        }
        let s = j.summary();
        assert_eq!((s.verdict, s.intervals_with_data), (Verdict::Inconclusive, 0));
        let Numbers::Ratio(n) = s.numbers else { panic!() };
        assert!((n.e_value - 1.0).abs() < 1e-12, "no evidence was gathered");
    }

    #[test]
    fn a_silent_baseline_with_canary_errors_fails() {
        let mut j = judge(MetricSpec::ratio("errors"));
        let verdicts: Vec<Verdict> =
            (0..10).map(|_| j.push(Some(&obs((0.0, 3000.0), (5.0, 3000.0)))).verdict).collect();
        let first = verdicts.iter().position(|v| *v == Verdict::Fail).expect("never failed");
        // ≈15 errors (3 intervals) reach the threshold; persistence asks the 10 without the worst interval to reach
        // the spike threshold, which they do.
        assert!((2..=4).contains(&first), "{verdicts:?}");
    }

    #[test]
    fn clean_intervals_between_two_bursts_break_the_streak() {
        let mut j = judge(MetricSpec::ratio("errors"));
        let burst = obs((0.0, 3000.0), (25.0, 3000.0));
        assert_eq!(j.push(Some(&burst)).verdict, Verdict::Inconclusive);
        for _ in 0..20 {
            assert_ne!(j.push(Some(&obs((0.0, 3000.0), (0.0, 3000.0)))).verdict, Verdict::Fail);
        }
        // Twenty clean intervals with ~25 errors expected in each are not "consecutive" bad ones.
        assert_ne!(j.push(Some(&burst)).verdict, Verdict::Fail);
    }

    #[test]
    fn both_silent_is_never_a_halt_and_passes_only_by_the_floor() {
        let mut j = judge(MetricSpec::ratio("errors").negligible(0.0));
        for _ in 0..50 {
            let m = j.push(Some(&obs((0.0, 3000.0), (0.0, 3000.0))));
            assert_eq!(m.verdict, Verdict::Inconclusive);
        }
        let mut j = judge(MetricSpec::ratio("errors"));
        let verdicts: Vec<Verdict> =
            (0..50).map(|_| j.push(Some(&obs((0.0, 3000.0), (0.0, 3000.0)))).verdict).collect();
        assert!(!verdicts.contains(&Verdict::Fail), "{verdicts:?}");
        assert_eq!(verdicts.last(), Some(&Verdict::Pass), "{verdicts:?}");
    }

    #[test]
    fn a_falling_success_ratio_fails_through_its_complement() {
        // Successes 99 % → 95 %: at most 1.04× in the successes, 5× in the failures.
        let mut j = judge(MetricSpec::ratio("success").direction(Direction::Decrease));
        let v: Vec<Verdict> = (0..3).map(|_| j.push(Some(&obs((2970.0, 3000.0), (2850.0, 3000.0)))).verdict).collect();
        assert_eq!(v[1], Verdict::Fail);
        let s = j.summary();
        let Numbers::Ratio(n) = s.numbers else { panic!() };
        assert!(n.sides[1].failing && n.sides[1].side == Side::RestHigher);
    }

    #[test]
    fn a_halved_conversion_ratio_fails_through_the_swapped_groups() {
        let mut j = judge(MetricSpec::ratio("conversions").direction(Direction::Decrease));
        let v: Vec<Verdict> = (0..4).map(|_| j.push(Some(&obs((150.0, 3000.0), (60.0, 3000.0)))).verdict).collect();
        assert!(v.contains(&Verdict::Fail), "{v:?}");
        let Numbers::Ratio(n) = j.summary().numbers else { panic!() };
        assert!(n.sides[0].failing && n.sides[0].side == Side::Lower);
    }

    #[test]
    fn either_direction_catches_both_ways() {
        for canary in [(90.0, 3000.0), (2.0, 3000.0)] {
            let mut j = judge(MetricSpec::ratio("cache-hits").direction(Direction::Either));
            let failed = (0..5).any(|_| j.push(Some(&obs((30.0, 3000.0), canary))).verdict == Verdict::Fail);
            assert!(failed, "{canary:?}");
        }
        let mut j = judge(MetricSpec::ratio("cache-hits").direction(Direction::Increase));
        assert!((0..5).all(|_| j.push(Some(&obs((30.0, 3000.0), (2.0, 3000.0)))).verdict != Verdict::Fail));
    }

    #[test]
    fn a_better_canary_never_fails_an_increase_metric() {
        let mut j = judge(MetricSpec::ratio("errors"));
        for _ in 0..20 {
            assert_ne!(j.push(Some(&obs((90.0, 3000.0), (10.0, 3000.0)))).verdict, Verdict::Fail);
        }
        assert_eq!(j.summary().verdict, Verdict::Pass);
    }

    #[test]
    fn reasons_carry_the_numbers() {
        let mut j = judge(MetricSpec::ratio("errors"));
        let bad = obs((30.0, 3000.0), (90.0, 3000.0));
        let first = j.push(Some(&bad));
        assert!(first.reason.starts_with("possible regression"), "{}", first.reason);
        let second = j.push(Some(&bad));
        assert!(second.reason.contains("canary 90/3000 (3%) vs baseline 30/3000 (1%)"), "{}", second.reason);
        assert!(second.reason.contains("≥ 200"), "{}", second.reason);
        let Numbers::Ratio(n) = second.numbers else { panic!() };
        assert_eq!((n.rate_ratio, n.canary_share, n.threshold), (Some(3.0), Some(0.5), 200.0));
        assert_eq!(n.temper, 1.0, "a steady ratio is not tempered");
        assert!(!second.reason.contains("weighted"), "{}", second.reason);
    }

    #[test]
    fn bursts_alternating_between_groups_weigh_less_and_say_so() {
        // 60 bad events in the canary, then 60 in the baseline, and so on: no single ratio explains the intervals.
        let mut j = judge(MetricSpec::ratio("errors").temper(0.5));
        let mut last = None;
        for i in 0..8 {
            let o = if i % 2 == 0 { obs((0.0, 3000.0), (60.0, 3000.0)) } else { obs((60.0, 3000.0), (0.0, 3000.0)) };
            last = Some(j.push(Some(&o)));
        }
        let last = last.unwrap();
        let Numbers::Ratio(n) = last.numbers else { panic!() };
        assert!(n.temper < 0.5 * 0.1, "temper {}", n.temper);
        assert!(last.reason.contains("evidence weighted ×"), "{}", last.reason);
        assert!(last.reason.contains("1/φ0 = 0.5"), "{}", last.reason);
    }
}
