//! The judges: from one metric's observations, interval by interval, to a verdict with its numbers and a sentence.
//!
//! Owns: dispatch over metric kinds (`MetricJudge`), the decision rule every judge shares (fail while a side's
//! regression persists; inconclusive without data, or while evidence at the threshold waits for persistence; pass
//! once every side's pass test rejects after the soak; otherwise inconclusive), and the statistics in the submodules: `mixture` (count
//! e-process), `sign` (sign-test e-process), `rank` (Mann–Whitney, Hodges–Lehmann), `persistence`, `calibrate`
//! (tempering and block size from pre-deploy data). Does not own: IO, clocks, the overall verdict across metrics, or
//! configuration parsing.
//!
//! Error control: each metric gets α_m = α/M of the false-halt budget and splits it evenly over its sides (the
//! directions it tests). Each side's e-process obeys Ville's inequality for all time, so by the union bound the
//! chance of any false halt in a run is at most α whatever the looking schedule and the dependence between metrics.
//! Persistence and the tolerance gate only ever remove halts, so they keep that bound.
//!
//! Spikes: a halt also needs the evidence to persist, that is, the e-value still at a *spike threshold* with the
//! `fail_after − 1` most incriminating intervals left out (`persistence`). For a ratio metric that threshold is
//! [`SPIKE_E`], far below the halt threshold; for a value metric it is the halt threshold itself (why: `SPIKE_E`).

pub mod calibrate;
pub mod mixture;
pub mod persistence;
pub mod rank;
pub mod ratio;
pub mod sign;
pub mod value;

use crate::config::{MetricKind, MetricSpec, Settings};
use crate::input::Observation;
use crate::report::{MetricInterval, MetricSummary, Side, SideNumbers, Verdict, e_of, e_text, num};

pub use ratio::RatioJudge;
pub use value::ValueJudge;

/// The spike threshold of a ratio metric: the e-value its evidence must still reach without its `fail_after − 1`
/// most incriminating intervals (capped at the halt threshold).
///
/// It carries no part of the false-halt bound, which rests on the untrimmed e-value reaching 1/α; it only decides
/// whether a regression that reached it is more than one extreme interval. Leaving out a component's largest
/// contribution leaves at most the mixture e-process of the other intervals, so after a one-interval spike (any
/// size) followed by data no worse than the margin, the trimmed e-value ever reaches k with probability at most 1/k
/// (Ville's inequality): with k = 20, such a spike halts in at most 5 % of runs, the conventional 0.05 level (and
/// the default α_pass). The halt threshold in its place would make the bound 1/200 or less, but then with
/// `fail_after` = 2 a regression could halt at its second interval only if each of the two reached the halt
/// threshold on its own, nearly a fixed-sample test per interval (bench/README.md, "Guard accuracy").
///
/// Value metrics keep the halt threshold here: the sign test cannot halt within 2 intervals anyway (8 signs give
/// e ≤ 57), so a lower spike threshold would only speed later halts, and its coin assumption is the one slow level
/// drifts break (notes §2.2, table 5), where the bound on the remainder above is weakest.
pub const SPIKE_E: f64 = 20.0;

/// Shared per-judge settings derived from the run settings.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// 1/α_side, the halt threshold, and its log.
    pub threshold: f64,
    pub log_threshold: f64,
    /// 1/α_pass and its log.
    pub pass_threshold: f64,
    pub log_pass_threshold: f64,
    /// The spike threshold: what the trimmed e-value must reach for the evidence to persist, and its log.
    pub spike_threshold: f64,
    pub log_spike_threshold: f64,
    pub fail_after: u32,
    pub recover_after: u32,
    pub soak: u32,
}

impl Limits {
    /// Limits whose spike threshold is the halt threshold (see `with_spike_threshold`).
    pub fn new(settings: &Settings, alpha_metric: f64, sides: usize) -> Self {
        let threshold = sides as f64 / alpha_metric;
        let pass_threshold = 1.0 / settings.alpha_pass;
        Self {
            threshold,
            log_threshold: threshold.ln(),
            pass_threshold,
            log_pass_threshold: pass_threshold.ln(),
            spike_threshold: threshold,
            log_spike_threshold: threshold.ln(),
            fail_after: settings.fail_after,
            recover_after: settings.recover_after,
            soak: settings.soak(),
        }
    }

    /// The same limits with a lower spike threshold; never above the halt threshold, so the rule is never stricter
    /// than requiring the trimmed e-value at the halt threshold.
    pub fn with_spike_threshold(self, spike: f64) -> Self {
        let spike_threshold = spike.min(self.threshold);
        Self { spike_threshold, log_spike_threshold: spike_threshold.ln(), ..self }
    }

    /// Whether a side's evidence persists: the e-value at the halt threshold, and the trimmed e-value at the spike
    /// threshold.
    pub fn persists(&self, process: &impl EProcess) -> bool {
        process.log_e() >= self.log_threshold && process.log_e_trimmed() >= self.log_spike_threshold
    }

    /// Intervals left out of the trimmed e-value.
    pub fn trim(&self) -> usize {
        self.fail_after.saturating_sub(1) as usize
    }
}

/// What a side's state says, for the shared decision.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SideState {
    pub side: Side,
    pub log_e: f64,
    pub log_e_trimmed: f64,
    pub log_pass_e: f64,
    pub streak: u32,
    /// Good intervals in a row since the last bad one.
    pub calm: u32,
    pub failing: bool,
}

/// What the shared decision reads of a side's e-processes (the count mixture and the sign test alike).
pub(crate) trait EProcess {
    fn log_e(&self) -> f64;
    fn log_e_trimmed(&self) -> f64;
}

impl SideState {
    /// The evidence reached the halt threshold in intervals that are past: the last bad one was followed by
    /// `recover_after` good ones. A pass still needs the pass test; the false-pass bound rests on it alone.
    pub fn spike_over(&self, limits: &Limits) -> bool {
        self.streak == 0 && self.calm >= limits.recover_after
    }

    /// The side's numbers for a report; `signs` only for value metrics.
    pub fn numbers(&self, limits: &Limits, signs: Option<(u64, u64)>) -> SideNumbers {
        SideNumbers {
            side: self.side,
            e_value: e_of(self.log_e),
            trimmed_e_value: e_of(self.log_e_trimmed),
            threshold: limits.threshold,
            spike_threshold: limits.spike_threshold,
            pass_e_value: e_of(self.log_pass_e),
            streak: self.streak,
            failing: self.failing,
            signs,
        }
    }

    pub fn of(side: Side, worse: &impl EProcess, pass: &impl EProcess, persistence: &persistence::Persistence) -> Self {
        Self {
            side,
            log_e: worse.log_e(),
            log_e_trimmed: worse.log_e_trimmed(),
            log_pass_e: pass.log_e(),
            streak: persistence.streak,
            calm: persistence.calm,
            failing: persistence.failing,
        }
    }
}

/// The shared decision for one interval or the end of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Decision {
    /// This side's regression persists.
    Failing(usize),
    NoData,
    /// This side's evidence is at the threshold, but the regression has not persisted (yet): it needs `fail_after`
    /// bad intervals in a row and evidence at the spike threshold without the worst of them. Once `recover_after`
    /// good intervals have followed the last bad one, what raised the evidence was a spike that is over, and the
    /// side no longer holds the metric back from a pass.
    Pending(usize),
    Pass,
    Soaking,
    Undecided,
}

impl Decision {
    pub fn verdict(self) -> Verdict {
        match self {
            Decision::Failing(_) => Verdict::Fail,
            Decision::Pass => Verdict::Pass,
            _ => Verdict::Inconclusive,
        }
    }
}

pub(crate) fn decide(sides: &[SideState], has_data: bool, with_data: u32, limits: &Limits) -> Decision {
    if let Some(i) = sides.iter().position(|s| s.failing) {
        return Decision::Failing(i);
    }
    if !has_data {
        return Decision::NoData;
    }
    if let Some(i) = sides.iter().position(|s| s.log_e >= limits.log_threshold && !s.spike_over(limits)) {
        return Decision::Pending(i);
    }
    if with_data < limits.soak {
        return Decision::Soaking;
    }
    if sides.iter().all(|s| s.log_pass_e >= limits.log_pass_threshold) {
        return Decision::Pass;
    }
    Decision::Undecided
}

/// The side closest to halting and the side furthest from passing.
pub(crate) fn deciding_sides(sides: &[SideState]) -> (usize, usize) {
    let closest = (0..sides.len()).max_by(|&a, &b| sides[a].log_e.total_cmp(&sides[b].log_e)).unwrap_or(0);
    let furthest = (0..sides.len()).min_by(|&a, &b| sides[a].log_pass_e.total_cmp(&sides[b].log_pass_e)).unwrap_or(0);
    (closest, furthest)
}

/// The common tail of a sentence about evidence: "e = 3.1 < 400".
pub(crate) fn evidence(log_e: f64, limits: &Limits) -> String {
    let cmp = if log_e >= limits.log_threshold { "≥" } else { "<" };
    format!("e = {} {cmp} {}", e_text(log_e), num(limits.threshold))
}

/// A side's evidence against the halt threshold, as [`evidence`] says it, and for a side whose evidence reached it in
/// a spike that is over, that it did: the sentence it ends otherwise reads as if there were no such evidence.
pub(crate) fn side_evidence(state: &SideState, limits: &Limits) -> String {
    let said = evidence(state.log_e, limits);
    if state.log_e >= limits.log_threshold && state.spike_over(limits) {
        format!(
            "{said} (it rose past the threshold in earlier intervals that did not persist; the {} since were not \
             worse)",
            state.calm
        )
    } else {
        said
    }
}

/// The trimmed evidence against the spike threshold: "e = 3.1 < 20 without the worst 1".
pub(crate) fn trimmed_evidence(log_e_trimmed: f64, limits: &Limits) -> String {
    let cmp = if log_e_trimmed >= limits.log_spike_threshold { "≥" } else { "<" };
    format!("e = {} {cmp} {} without the worst {}", e_text(log_e_trimmed), num(limits.spike_threshold), limits.trim())
}

/// How far a pending regression has come: "in 1 of the 2 consecutive intervals needed (e = 300 ≥ 200)", or why it
/// does not count: the last interval was not worse, or the evidence does not hold without the worst intervals.
pub(crate) fn pending(state: &SideState, limits: &Limits, gate: &str) -> String {
    if state.streak == 0 {
        let persists = if state.log_e_trimmed >= limits.log_spike_threshold {
            String::new()
        } else {
            format!(", and the evidence does not persist: {}", trimmed_evidence(state.log_e_trimmed, limits))
        };
        format!("in earlier intervals ({}) but not in the last one{persists}{gate}", evidence(state.log_e, limits))
    } else if state.streak < limits.fail_after {
        format!(
            "in {} of the {} consecutive intervals needed ({})",
            state.streak,
            limits.fail_after,
            evidence(state.log_e, limits)
        )
    } else {
        format!(
            "for {} consecutive intervals ({}), but the evidence does not persist: {}{gate}",
            state.streak,
            evidence(state.log_e, limits),
            trimmed_evidence(state.log_e_trimmed, limits),
        )
    }
}

/// One metric's judge.
#[derive(Clone, Debug)]
pub enum MetricJudge {
    Ratio(RatioJudge),
    Value(ValueJudge),
}

impl MetricJudge {
    /// A judge for `spec`, with α_m = `alpha_metric`.
    pub fn new(spec: &MetricSpec, settings: &Settings, alpha_metric: f64) -> Self {
        match spec.kind {
            MetricKind::Ratio { .. } => MetricJudge::Ratio(RatioJudge::new(spec, settings, alpha_metric)),
            MetricKind::Value { .. } => MetricJudge::Value(ValueJudge::new(spec, settings, alpha_metric)),
        }
    }

    /// Judges the next interval. `None` when the observation is of the other kind.
    pub fn push(&mut self, observation: &Observation) -> Option<MetricInterval> {
        match (self, observation) {
            (MetricJudge::Ratio(j), Observation::Ratio(o)) => Some(j.push(Some(o))),
            (MetricJudge::Ratio(j), Observation::Missing) => Some(j.push(None)),
            (MetricJudge::Value(j), Observation::Value(o)) => Some(j.push(Some(o))),
            (MetricJudge::Value(j), Observation::Missing) => Some(j.push(None)),
            _ => None,
        }
    }

    pub fn summary(&self) -> MetricSummary {
        match self {
            MetricJudge::Ratio(j) => j.summary(),
            MetricJudge::Value(j) => j.summary(),
        }
    }

    /// The interval at which this metric's regression first counted; cheap, unlike `summary`.
    pub fn failed_at(&self) -> Option<usize> {
        match self {
            MetricJudge::Ratio(j) => j.failed_at(),
            MetricJudge::Value(j) => j.failed_at(),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            MetricJudge::Ratio(j) => j.name(),
            MetricJudge::Value(j) => j.name(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            MetricJudge::Ratio(_) => "ratio",
            MetricJudge::Value(_) => "value",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_e_value_beyond_what_a_float_holds_is_said_as_a_power_of_ten() {
        let limits = Limits::new(&Settings::default(), 0.005, 1);
        assert_eq!(evidence(200f64.ln(), &limits), "e = 200 ≥ 200");
        // e^800 ≈ 10^347.4: not the 1.01e304 at which a float of it stops.
        assert_eq!(evidence(800.0, &limits), "e = 10^347 ≥ 200");
        assert_eq!(trimmed_evidence(1000.0, &limits), "e = 10^434 ≥ 200 without the worst 1");
    }

    #[test]
    fn the_spike_threshold_is_never_above_the_halt_threshold() {
        let settings = Settings::default();
        let limits = Limits::new(&settings, 0.005, 1);
        assert_eq!(limits.spike_threshold, limits.threshold, "value metrics: the halt threshold");
        assert_eq!(limits.with_spike_threshold(SPIKE_E).spike_threshold, SPIKE_E);
        // α_m = 0.5: a halt threshold of 2, under SPIKE_E.
        let loose = Limits::new(&settings, 0.5, 1).with_spike_threshold(SPIKE_E);
        assert_eq!((loose.spike_threshold, loose.log_spike_threshold), (2.0, 2f64.ln()));
    }
}
