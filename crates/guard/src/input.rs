//! What a metric source hands the judges for one interval: counts per group for ratio metrics, a series of values
//! per group for value metrics, or nothing.
//!
//! Owns: `IntervalInput`, `Observation`, `Counts`, `RatioObservation`, `ValueObservation`, and the data rules that
//! turn raw query results into usable numbers (rounding and clamping counts, NaN and missing values). Does not own:
//! fetching (a later `MetricSource`), time alignment of series, or judging.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::config::{Group, Groups};

/// One interval of observations, one per metric in the order of the metric specs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntervalInput {
    pub start: Timestamp,
    pub end: Timestamp,
    pub observations: Vec<Observation>,
}

/// What the source found for one metric in one interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Observation {
    Ratio(RatioObservation),
    Value(ValueObservation),
    /// The source returned nothing for this metric (an empty Prometheus result): no data, never zero.
    Missing,
}

/// Bad events and all events of one group in one interval, as a source returns them (`increase()` extrapolates, so
/// they may be fractional).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// `None` when the bad-events series is absent while the totals are present: that means 0 bad events.
    pub bad: Option<f64>,
    /// `None` when the totals series is absent: no data.
    pub total: Option<f64>,
}

impl Counts {
    pub fn new(bad: f64, total: f64) -> Self {
        Self { bad: Some(bad), total: Some(total) }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatioObservation {
    pub baseline: Counts,
    pub canary: Counts,
}

impl RatioObservation {
    /// Counts given as (bad, total) for the baseline and the canary.
    pub fn new(baseline: (f64, f64), canary: (f64, f64)) -> Self {
        Self { baseline: Counts::new(baseline.0, baseline.1), canary: Counts::new(canary.0, canary.1) }
    }
}

/// The values of one interval, one per query step. The two series are aligned by step: `baseline[i]` and
/// `canary[i]` belong to the same instant. NaN marks a missing step; negative values are treated as missing too
/// (value metrics are non-negative quantities such as latency); a step missing on one side drops the pair.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ValueObservation {
    pub baseline: Vec<f64>,
    pub canary: Vec<f64>,
}

/// Counts as the ratio judge uses them: whole numbers with 0 ≤ bad ≤ total.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CleanCounts {
    pub bad: f64,
    pub total: f64,
}

/// Why an interval of a metric carries no usable data.
#[derive(Clone, Debug, PartialEq)]
pub enum NoData {
    Missing,
    NoTotal(Group),
    NaN(Group),
    BelowMinimum {
        group: Group,
        total: f64,
        min_total: f64,
    },
    NoValues(Groups),
    /// Values in both groups, but none new in both since the last step counted (a gauge not scraped again yet).
    NoNewValues(Groups),
}

impl NoData {
    /// Whether the data is absent or unusable (no series, not numbers, no values), not merely too little: its
    /// sentence then says "no data" without knowing why.
    pub fn is_absent(&self) -> bool {
        !matches!(self, NoData::BelowMinimum { .. })
    }

    pub fn sentence(&self) -> String {
        match self {
            NoData::Missing => "no data: the source returned no series for this metric".to_owned(),
            NoData::NoTotal(group) => format!("no data: no events {}", group.at()),
            NoData::NaN(group) => format!("no data: {} are not finite numbers", group.of("counts")),
            NoData::BelowMinimum { group, total, min_total } => {
                format!("too little traffic: {total} events {}, fewer than min_total {min_total}", group.at())
            }
            NoData::NoValues(groups) => format!("no data: no step has a value {}", groups.both()),
            NoData::NoNewValues(groups) => format!(
                "no data: no step has a new value {} since the last step counted (a gauge repeats its last sample \
                 until the next scrape)",
                groups.both()
            ),
        }
    }
}

/// The data rules of the notes (§1.7): absent or non-positive totals mean no data; NaN or infinite counts (bad or
/// total) mean no data; an absent bad series with a total means 0 bad events; counts are rounded and clamped to
/// 0 ≤ bad ≤ total.
pub fn clean_counts(counts: Counts, group: Group) -> Result<CleanCounts, NoData> {
    let total = match counts.total {
        None => return Err(NoData::NoTotal(group)),
        Some(t) if t.is_nan() || t.is_infinite() => return Err(NoData::NaN(group)),
        Some(t) => t.round(),
    };
    if total <= 0.0 {
        return Err(NoData::NoTotal(group));
    }
    let bad = match counts.bad {
        None => 0.0,
        Some(b) if !b.is_finite() => return Err(NoData::NaN(group)),
        Some(b) => b.round().clamp(0.0, total),
    };
    Ok(CleanCounts { bad, total })
}

/// A step value the value judge can use: finite or +∞, and not negative.
pub fn usable_value(v: f64) -> bool {
    !v.is_nan() && v >= 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bad: Option<f64>, total: Option<f64>, expect: Result<(f64, f64), NoData>) {
        let got = clean_counts(Counts { bad, total }, Group::Canary).map(|c| (c.bad, c.total));
        assert_eq!(got, expect);
    }

    #[test]
    fn count_rules() {
        check(Some(2.4), Some(100.6), Ok((2.0, 101.0)));
        check(None, Some(50.0), Ok((0.0, 50.0)));
        check(Some(-0.3), Some(50.0), Ok((0.0, 50.0)));
        check(Some(70.0), Some(50.0), Ok((50.0, 50.0)));
        check(Some(1.0), None, Err(NoData::NoTotal(Group::Canary)));
        check(Some(0.0), Some(0.2), Err(NoData::NoTotal(Group::Canary)));
        check(Some(f64::NAN), Some(10.0), Err(NoData::NaN(Group::Canary)));
        check(Some(1.0), Some(f64::NAN), Err(NoData::NaN(Group::Canary)));
        check(Some(1.0), Some(f64::INFINITY), Err(NoData::NaN(Group::Canary)));
    }

    #[test]
    fn infinite_bad_counts_are_no_data() {
        check(Some(f64::INFINITY), Some(10.0), Err(NoData::NaN(Group::Canary)));
        check(Some(f64::NEG_INFINITY), Some(10.0), Err(NoData::NaN(Group::Canary)));
    }

    #[test]
    fn values() {
        assert!(usable_value(0.0));
        assert!(usable_value(f64::INFINITY));
        assert!(!usable_value(f64::NAN));
        assert!(!usable_value(-1.0));
    }
}
