//! What the guard answers: verdicts, the numbers behind them, and the rule that sums metrics into one verdict.
//!
//! Owns: `Verdict` with its exit codes, `overall` (the rule over metrics), the per-interval and per-run shapes
//! (`MetricInterval`, `IntervalReport`, `MetricSummary`, `Report`) that serialize to the JSON interface, and number
//! formatting for reasons. Does not own: deciding a metric's verdict (the judges) or rendering for people (a later
//! CLI prints and charts these values).

use jiff::Timestamp;
use serde::Serialize;

use crate::config::Groups;
use crate::input::CleanCounts;

/// The guard's answer for a metric, an interval or the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    /// A regression that persisted: halt.
    Fail,
    /// The data cannot tell yet.
    Inconclusive,
}

impl Verdict {
    /// `0` pass, `1` fail (halt), `3` inconclusive; `2` is left to errors.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Inconclusive => 3,
        }
    }
}

/// The rule over metrics, given each metric's verdict and whether it is critical: `fail` if any metric fails;
/// otherwise `inconclusive` if a critical metric is inconclusive; otherwise `pass` — except that a pass needs at
/// least one metric that passed, so a run where no metric could decide is inconclusive, never a silent pass.
pub fn overall(metrics: impl IntoIterator<Item = (Verdict, bool)>) -> Verdict {
    let mut any_pass = false;
    let mut critical_inconclusive = false;
    for (verdict, critical) in metrics {
        match verdict {
            Verdict::Fail => return Verdict::Fail,
            Verdict::Inconclusive if critical => critical_inconclusive = true,
            Verdict::Inconclusive => {}
            Verdict::Pass => any_pass = true,
        }
    }
    if critical_inconclusive || !any_pass { Verdict::Inconclusive } else { Verdict::Pass }
}

/// One tested way of being worse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// The canary's ratio (or value) is higher than the baseline's.
    Higher,
    /// The canary's ratio (or value) is lower than the baseline's.
    Lower,
    /// The complement of the canary's ratio (total − counted events) is higher: the ratio is lower.
    RestHigher,
    /// The complement of the canary's ratio is lower: the ratio is higher.
    RestLower,
}

/// The evidence of one side at the end of an interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SideNumbers {
    pub side: Side,
    /// E_t, the regression e-value.
    pub e_value: f64,
    /// E_t with the `fail_after − 1` most incriminating intervals left out.
    pub trimmed_e_value: f64,
    /// 1/α for this side: the halt threshold.
    pub threshold: f64,
    /// What the trimmed e-value must reach for a regression to count as more than a spike (at most `threshold`).
    pub spike_threshold: f64,
    /// E'_t, the e-value against "at least as bad as the pass bound".
    pub pass_e_value: f64,
    /// Consecutive bad intervals.
    pub streak: u32,
    pub failing: bool,
    /// Value metrics: signs (steps or blocks) that pointed worse beyond the tolerance, and those that did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signs: Option<(u64, u64)>,
}

/// Numbers of a ratio metric, for one interval or (in a summary) the whole run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RatioNumbers {
    pub baseline: Option<CleanCounts>,
    pub canary: Option<CleanCounts>,
    pub baseline_ratio: Option<f64>,
    pub canary_ratio: Option<f64>,
    /// The canary's share of all events, ρ.
    pub canary_share: Option<f64>,
    /// The effect: canary ratio over baseline ratio; `None` when the baseline has no bad events.
    pub rate_ratio: Option<f64>,
    /// δ: the test's null is "at most 1 + δ times worse".
    pub margin: f64,
    /// The weight of the latest interval's evidence on the side closest to halting: 1/φ0 (`overdispersion`, before
    /// the deploy) times 1/φ (the scatter of the intervals judged before it); 1 when nothing is tempered.
    pub temper: f64,
    /// The side closest to halting: its e-value and threshold.
    pub e_value: f64,
    pub threshold: f64,
    /// The side furthest from passing: its pass e-value and the pass threshold 1/α_pass.
    pub pass_e_value: f64,
    pub pass_threshold: f64,
    /// Summary only: the anytime upper confidence bound of the worse-direction rate ratio (at α_pass), for the side
    /// furthest from passing; `None` when the data excludes nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper_bound: Option<f64>,
    pub sides: Vec<SideNumbers>,
}

/// Numbers of a value metric, for one interval or (in a summary) the whole run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValueNumbers {
    /// Steps with a value in both groups.
    pub pairs: usize,
    pub baseline_median: Option<f64>,
    pub canary_median: Option<f64>,
    /// The effect: the Hodges–Lehmann shift of log values as a relative change (0.5 = canary 50 % higher), over
    /// the last `fail_after` intervals with data (the whole run in a summary).
    pub effect: Option<f64>,
    /// Mann–Whitney U of the canary over the same values, and its p-value in the worse direction. Reported as
    /// Kayenta reports it; the halt decision rests on the e-value, which stays valid over repeated looks.
    pub mann_whitney_u: Option<f64>,
    pub p_value: Option<f64>,
    pub tolerance: f64,
    pub e_value: f64,
    pub threshold: f64,
    pub pass_e_value: f64,
    pub pass_threshold: f64,
    pub sides: Vec<SideNumbers>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Numbers {
    Ratio(RatioNumbers),
    Value(ValueNumbers),
}

/// One metric in one interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricInterval {
    pub name: String,
    pub verdict: Verdict,
    /// One sentence with the numbers behind the verdict.
    pub reason: String,
    pub critical: bool,
    /// The metric had no usable data in this interval (no series, counts that are not numbers, no values in both
    /// groups; not too little traffic), and its reason only says so: what the source knows of why says it better.
    #[serde(skip)]
    pub no_data: bool,
    #[serde(flatten)]
    pub numbers: Numbers,
}

/// One interval of the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IntervalReport {
    pub index: usize,
    pub start: Timestamp,
    pub end: Timestamp,
    pub verdict: Verdict,
    pub metrics: Vec<MetricInterval>,
}

/// One metric over the whole run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricSummary {
    pub name: String,
    pub verdict: Verdict,
    pub reason: String,
    pub critical: bool,
    /// The interval at which the metric's regression first counted (the halt).
    pub failed_at: Option<usize>,
    /// The interval at which it last counted as recovered.
    pub recovered_at: Option<usize>,
    pub intervals_with_data: u32,
    /// No interval had usable data, and the reason only says so.
    #[serde(skip)]
    pub no_data: bool,
    #[serde(flatten)]
    pub numbers: Numbers,
}

/// The whole run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub verdict: Verdict,
    /// The first interval at which any metric failed: where a live guard halts.
    pub halted_at: Option<usize>,
    pub metrics: Vec<MetricSummary>,
    pub intervals: Vec<IntervalReport>,
    /// What the source warned of while answering (a partial answer of a federated Prometheus), each with its query.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// How the groups are named (a chart's key), as the reasons name them.
    #[serde(skip)]
    pub groups: Groups,
}

/// The largest log e-value whose e-value the JSON holds as it is: e^700 ≈ 1.01e304, near the largest float.
const LOG_E_SHOWN: f64 = 700.0;

/// exp of a log e-value, finite for JSON: at most e^700 ≈ 1.01e304, where larger e-values stop.
pub(crate) fn e_of(log_e: f64) -> f64 {
    log_e.min(LOG_E_SHOWN).exp()
}

/// An e-value for a sentence, from its log: as `num` says it, or beyond e^700, where the JSON's numbers stop, as a
/// power of ten (`10^347`), so that a reason never shows the cap as if it were the value.
pub(crate) fn e_text(log_e: f64) -> String {
    if log_e > LOG_E_SHOWN { format!("10^{}", num(log_e / std::f64::consts::LN_10)) } else { num(e_of(log_e)) }
}

/// A number for a sentence: three significant digits, scientific beyond 10⁴.
pub(crate) fn num(x: f64) -> String {
    if x.is_nan() {
        return "n/a".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "∞" } else { "-∞" }.to_owned();
    }
    let a = x.abs();
    let decimals = if a == 0.0 { 0 } else { (2 - a.log10().floor() as i32).max(0) as usize };
    let s = format!("{x:.decimals$}");
    // Large as shown, not only as given: 9999.7 shows as 10000.
    let shown = s.trim_start_matches('-').parse::<f64>().unwrap_or(a);
    if a != 0.0 && (a < 1e-3 || shown >= 1e4) {
        return format!("{x:.2e}");
    }
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s }
}

/// A ratio as a percentage for a sentence.
pub(crate) fn pct(x: f64) -> String {
    format!("{}%", num(100.0 * x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::*;

    fn check(metrics: &[(Verdict, bool)], expect: Verdict) {
        assert_eq!(overall(metrics.iter().copied()), expect, "{metrics:?}");
    }

    #[test]
    fn overall_rule() {
        check(&[(Pass, true), (Fail, false)], Fail);
        check(&[(Inconclusive, true), (Fail, false)], Fail);
        check(&[(Pass, false), (Inconclusive, true)], Inconclusive);
        check(&[(Pass, true), (Inconclusive, false)], Pass);
        check(&[(Pass, true), (Pass, false)], Pass);
        check(&[(Inconclusive, false), (Inconclusive, false)], Inconclusive);
        check(&[], Inconclusive);
    }

    #[test]
    fn exit_codes() {
        assert_eq!([Pass, Fail, Inconclusive].map(Verdict::exit_code), [0, 1, 3]);
    }

    #[test]
    fn numbers_for_sentences() {
        assert_eq!(num(4.56789), "4.57");
        assert_eq!(num(200.0), "200");
        assert_eq!(num(0.0123), "0.0123");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(12345.0), "1.23e4");
        assert_eq!(num(9999.7), "1.00e4");
        assert_eq!(num(9999.4), "9999");
        assert_eq!(num(f64::INFINITY), "∞");
        assert_eq!(pct(0.015), "1.5%");
    }
}
