//! What the guard is asked to judge: the run settings and one spec per metric, with their defaults and validation.
//!
//! Owns: `Settings` (false-halt budget, persistence, pass rule), `MetricSpec` with its `MetricKind` and `Direction`,
//! the defaults taken from the statistics notes, and `ConfigError`. Does not own: reading a file (the CLI maps its
//! `guard.toml` onto these values and points errors at lines), queries or Prometheus, or any statistics.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// False-halt budget for a whole run, shared by all metrics (α).
pub const DEFAULT_ALPHA: f64 = 0.01;
/// Error level of the pass rule's upper confidence bound (α_pass).
pub const DEFAULT_ALPHA_PASS: f64 = 0.05;
/// A ratio metric passes once its anytime upper confidence bound of the rate ratio is below this (r_pass).
pub const DEFAULT_PASS_RATIO: f64 = 2.0;
/// Consecutive bad intervals before a regression counts.
pub const DEFAULT_FAIL_AFTER: u32 = 2;
/// Consecutive good intervals before a failed metric counts as recovered.
pub const DEFAULT_RECOVER_AFTER: u32 = 2;
/// The margin δ of ratio metrics: only a canary more than (1 + δ) times worse can halt.
pub const DEFAULT_MARGIN: f64 = 0.2;
/// The negligible ratio of ratio metrics (0.01 %): a canary shown to stay below it passes, even without bad events in
/// either group to compare.
pub const DEFAULT_NEGLIGIBLE: f64 = 1e-4;
/// The relative tolerance of value metrics: a smaller change never matters.
pub const DEFAULT_TOLERANCE: f64 = 0.2;

/// Which way a metric gets worse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Higher is worse (errors, latency).
    #[default]
    Increase,
    /// Lower is worse (successful requests, throughput).
    Decrease,
    /// Any change beyond the margin or tolerance is worse.
    Either,
}

/// How a metric is measured and compared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MetricKind {
    /// Bad events over all events per interval, judged by the conditional-binomial e-process.
    Ratio {
        /// Fewer events than this in either group makes that interval inconclusive; it adds no evidence.
        #[serde(default)]
        min_total: f64,
        /// δ: the null hypothesis is "the canary's rate is at most (1 + δ) times the baseline's".
        #[serde(default = "default_margin")]
        margin: f64,
        /// c = 1/φ0 ≤ 1, the tempering that keeps the test valid under overdispersion (see `judge::calibrate`).
        #[serde(default = "default_temper")]
        temper: f64,
        /// A ratio this small never matters: a canary whose own ratio (of bad events; for `decrease`, of the
        /// complement) is shown to be below it passes, even when the groups cannot be compared because neither has
        /// a bad event. 0 turns the floor off.
        #[serde(default = "default_negligible")]
        negligible: f64,
    },
    /// A series of values per interval (latency quantiles, CPU), judged by a paired sign-test e-process with the
    /// tolerance, and described by Mann–Whitney U and the Hodges–Lehmann shift.
    Value {
        /// A relative change smaller than this never matters.
        #[serde(default = "default_tolerance")]
        tolerance: f64,
        /// Steps per sign: 1 when step differences are nearly independent, 4 when they are autocorrelated (see
        /// `judge::calibrate::sign_block`).
        #[serde(default = "default_block")]
        block: u32,
        /// Count a step only when both groups have a new value since the last step counted. Prometheus answers a
        /// gauge's last sample at every step until the next scrape, so with a scrape interval longer than `step` the
        /// same sample would be counted as several signs.
        #[serde(default)]
        new_values_only: bool,
    },
}

fn default_margin() -> f64 {
    DEFAULT_MARGIN
}
fn default_temper() -> f64 {
    1.0
}
fn default_negligible() -> f64 {
    DEFAULT_NEGLIGIBLE
}
fn default_tolerance() -> f64 {
    DEFAULT_TOLERANCE
}
fn default_block() -> u32 {
    1
}

impl MetricKind {
    /// A ratio metric with the default margin, no minimum volume and no tempering.
    pub fn ratio() -> Self {
        MetricKind::Ratio { min_total: 0.0, margin: DEFAULT_MARGIN, temper: 1.0, negligible: DEFAULT_NEGLIGIBLE }
    }

    /// A value metric with the default tolerance and per-step signs.
    pub fn value() -> Self {
        MetricKind::Value { tolerance: DEFAULT_TOLERANCE, block: 1, new_values_only: false }
    }
}

/// One metric to judge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSpec {
    pub name: String,
    #[serde(flatten)]
    pub kind: MetricKind,
    #[serde(default)]
    pub direction: Direction,
    /// An inconclusive critical metric makes the whole verdict inconclusive.
    #[serde(default)]
    pub critical: bool,
}

impl MetricSpec {
    /// A ratio metric named `name`, worse when it increases, not critical.
    pub fn ratio(name: &str) -> Self {
        Self { name: name.to_owned(), kind: MetricKind::ratio(), direction: Direction::Increase, critical: false }
    }

    /// A value metric named `name`, worse when it increases, not critical.
    pub fn value(name: &str) -> Self {
        Self { name: name.to_owned(), kind: MetricKind::value(), direction: Direction::Increase, critical: false }
    }

    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    pub fn critical(mut self, critical: bool) -> Self {
        self.critical = critical;
        self
    }

    /// Sets `min_total` of a ratio metric; no effect on a value metric.
    pub fn min_total(mut self, value: f64) -> Self {
        if let MetricKind::Ratio { min_total, .. } = &mut self.kind {
            *min_total = value;
        }
        self
    }

    /// Sets the margin δ of a ratio metric; no effect on a value metric.
    pub fn margin(mut self, value: f64) -> Self {
        if let MetricKind::Ratio { margin, .. } = &mut self.kind {
            *margin = value;
        }
        self
    }

    /// Sets the negligible ratio of a ratio metric (0: no floor); no effect on a value metric.
    pub fn negligible(mut self, value: f64) -> Self {
        if let MetricKind::Ratio { negligible, .. } = &mut self.kind {
            *negligible = value;
        }
        self
    }

    /// Sets the tempering c = 1/φ0 of a ratio metric; no effect on a value metric.
    pub fn temper(mut self, value: f64) -> Self {
        if let MetricKind::Ratio { temper, .. } = &mut self.kind {
            *temper = value;
        }
        self
    }

    /// Sets the tolerance of a value metric; no effect on a ratio metric.
    pub fn tolerance(mut self, value: f64) -> Self {
        if let MetricKind::Value { tolerance, .. } = &mut self.kind {
            *tolerance = value;
        }
        self
    }

    /// Makes a value metric count a step only when both groups have a new value since the last one counted; no effect
    /// on a ratio metric.
    pub fn new_values_only(mut self, value: bool) -> Self {
        if let MetricKind::Value { new_values_only, .. } = &mut self.kind {
            *new_values_only = value;
        }
        self
    }

    /// Sets the steps per sign of a value metric; no effect on a ratio metric.
    pub fn block(mut self, value: u32) -> Self {
        if let MetricKind::Value { block, .. } = &mut self.kind {
            *block = value;
        }
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad =
            |field: &'static str, reason: &'static str| ConfigError::Metric { name: self.name.clone(), field, reason };
        if self.name.trim().is_empty() {
            return Err(ConfigError::EmptyName);
        }
        match self.kind {
            MetricKind::Ratio { min_total, margin, temper, negligible } => {
                if !(negligible.is_finite() && (0.0..1.0).contains(&negligible)) {
                    return Err(bad("negligible", "must be at least 0 and below 1"));
                }
                if !(min_total.is_finite() && min_total >= 0.0) {
                    return Err(bad("min_total", "must be a number at least 0"));
                }
                if !(margin.is_finite() && (0.0..=10.0).contains(&margin)) {
                    return Err(bad("margin", "must be between 0 and 10"));
                }
                if !(temper > 0.0 && temper <= 1.0) {
                    return Err(bad("temper", "must be above 0 and at most 1"));
                }
            }
            MetricKind::Value { tolerance, block, .. } => {
                if !(tolerance.is_finite() && (0.0..=10.0).contains(&tolerance)) {
                    return Err(bad("tolerance", "must be between 0 and 10"));
                }
                if block == 0 {
                    return Err(bad("block", "must be at least 1"));
                }
            }
        }
        Ok(())
    }
}

/// Settings of one run, shared by all metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// α: the probability of any false halt in the run, split evenly over the metrics (α_m = α/M).
    pub alpha: f64,
    /// Error level of the pass rule.
    pub alpha_pass: f64,
    /// r_pass: a ratio metric passes once the canary is shown to be less than this many times worse.
    pub pass_ratio: f64,
    /// Consecutive bad intervals before a regression counts (and a halt happens).
    pub fail_after: u32,
    /// Consecutive good intervals before a failed metric counts as recovered.
    pub recover_after: u32,
    /// Intervals with data a metric needs before it may pass; `None` means `fail_after`, so a pass never comes
    /// sooner than a fail could.
    pub min_soak: Option<u32>,
    /// How the sentences name the two groups; it changes no number and no decision.
    #[serde(skip)]
    pub groups: Groups,
}

/// What the two groups are, for the sentences that name them: a canary beside its baseline (`[groups]`), or one
/// series after a deploy against itself before it (`[before_after]`). Numbers and decisions are the same either way;
/// only the words differ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Groups {
    #[default]
    CanaryBaseline,
    BeforeAfter,
}

/// One of the two groups, as sentences name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Baseline,
    Canary,
    /// `[before_after]`: the series in the lookback before the deploy, in the place of a baseline.
    Before,
    /// `[before_after]`: the series after the deploy, in the place of a canary.
    After,
}

impl Groups {
    /// The group compared against: the baseline, or the time before the deploy.
    pub fn baseline(self) -> Group {
        match self {
            Groups::CanaryBaseline => Group::Baseline,
            Groups::BeforeAfter => Group::Before,
        }
    }

    /// The group judged: the canary, or the time after the deploy.
    pub fn canary(self) -> Group {
        match self {
            Groups::CanaryBaseline => Group::Canary,
            Groups::BeforeAfter => Group::After,
        }
    }

    /// Where a sentence finds something in both groups: "in both groups", "both before and after the deploy".
    pub fn both(self) -> &'static str {
        match self {
            Groups::CanaryBaseline => "in both groups",
            Groups::BeforeAfter => "both before and after the deploy",
        }
    }

    /// Where a sentence finds something in neither group: "for either group", "before or after the deploy".
    pub fn either(self) -> &'static str {
        match self {
            Groups::CanaryBaseline => "for either group",
            Groups::BeforeAfter => "before or after the deploy",
        }
    }
}

impl Group {
    /// The group's label before its numbers and in a chart's key: `canary`, `baseline`; `after`, `before`.
    pub fn label(self) -> &'static str {
        match self {
            Group::Baseline => "baseline",
            Group::Canary => "canary",
            Group::Before => "before",
            Group::After => "after",
        }
    }

    /// Where a sentence finds the group: "for the canary"; "after the deploy".
    pub fn at(self) -> &'static str {
        match self {
            Group::Baseline => "for the baseline",
            Group::Canary => "for the canary",
            Group::Before => "before the deploy",
            Group::After => "after the deploy",
        }
    }

    /// The group's `thing`: "the canary's ratio"; "the ratio after the deploy".
    pub fn of(self, thing: &str) -> String {
        match self {
            Group::Baseline | Group::Canary => format!("the {}'s {thing}", self.label()),
            Group::Before | Group::After => format!("the {thing} {}", self.at()),
        }
    }

    /// The group's same thing, said after the other group's: "the baseline's"; "that before it" (the deploy).
    pub fn again(self) -> &'static str {
        match self {
            Group::Baseline => "the baseline's",
            Group::Canary => "the canary's",
            Group::Before => "that before it",
            Group::After => "that after it",
        }
    }

    /// The group as a whole, for a sentence's subject: "the canary"; "the series after the deploy".
    pub fn subject(self) -> &'static str {
        match self {
            Group::Baseline => "the baseline",
            Group::Canary => "the canary",
            Group::Before => "the series before the deploy",
            Group::After => "the series after the deploy",
        }
    }

    /// The group as a whole, said after the other group: "the baseline"; "the series before it" (the deploy).
    pub fn object(self) -> &'static str {
        match self {
            Group::Baseline => "the baseline",
            Group::Canary => "the canary",
            Group::Before => "the series before it",
            Group::After => "the series after it",
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            alpha: DEFAULT_ALPHA,
            alpha_pass: DEFAULT_ALPHA_PASS,
            pass_ratio: DEFAULT_PASS_RATIO,
            fail_after: DEFAULT_FAIL_AFTER,
            recover_after: DEFAULT_RECOVER_AFTER,
            min_soak: None,
            groups: Groups::CanaryBaseline,
        }
    }
}

impl Settings {
    /// Intervals with data before a metric may pass.
    pub fn soak(&self) -> u32 {
        self.min_soak.unwrap_or(self.fail_after).max(1)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &'static str, reason: &'static str| ConfigError::Setting { field, reason };
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(bad("alpha", "must be between 0 and 1"));
        }
        if !(self.alpha_pass > 0.0 && self.alpha_pass < 1.0) {
            return Err(bad("alpha_pass", "must be between 0 and 1"));
        }
        if !(self.pass_ratio.is_finite() && self.pass_ratio > 1.0) {
            return Err(bad("pass_ratio", "must be above 1"));
        }
        if self.fail_after == 0 {
            return Err(bad("fail_after", "must be at least 1"));
        }
        if self.recover_after == 0 {
            return Err(bad("recover_after", "must be at least 1"));
        }
        Ok(())
    }
}

/// Settings and metrics checked once; the judges only ever see a `ValidConfig`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValidConfig {
    settings: Settings,
    metrics: Vec<MetricSpec>,
}

impl ValidConfig {
    pub fn new(settings: Settings, metrics: Vec<MetricSpec>) -> Result<Self, ConfigError> {
        settings.validate()?;
        if metrics.is_empty() {
            return Err(ConfigError::NoMetrics);
        }
        for (i, metric) in metrics.iter().enumerate() {
            metric.validate()?;
            if metrics[..i].iter().any(|m| m.name == metric.name) {
                return Err(ConfigError::DuplicateName(metric.name.clone()));
            }
            if let MetricKind::Ratio { margin, .. } = metric.kind
                && 1.0 + margin >= settings.pass_ratio
            {
                return Err(ConfigError::Metric {
                    name: metric.name.clone(),
                    field: "margin",
                    reason: "must leave 1 + margin below pass_ratio",
                });
            }
        }
        Ok(Self { settings, metrics })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn metrics(&self) -> &[MetricSpec] {
        &self.metrics
    }

    /// α_m: each metric's share of the false-halt budget.
    pub fn alpha_per_metric(&self) -> f64 {
        self.settings.alpha / self.metrics.len() as f64
    }
}

#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    #[error("no metrics to judge")]
    NoMetrics,
    #[error("a metric has an empty name")]
    EmptyName,
    #[error("two metrics are named `{0}`")]
    DuplicateName(String),
    #[error("metric `{name}`: `{field}` {reason}")]
    Metric { name: String, field: &'static str, reason: &'static str },
    #[error("`{field}` {reason}")]
    Setting { field: &'static str, reason: &'static str },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(settings: Settings, metrics: Vec<MetricSpec>, expect: Result<(), &str>) {
        let got = ValidConfig::new(settings, metrics).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(got, expect.map_err(str::to_owned));
    }

    #[test]
    fn defaults_follow_the_notes() {
        let s = Settings::default();
        assert_eq!((s.alpha, s.alpha_pass, s.pass_ratio), (0.01, 0.05, 2.0));
        assert_eq!((s.fail_after, s.recover_after, s.soak()), (2, 2, 2));
        let config = ValidConfig::new(s, vec![MetricSpec::ratio("a"), MetricSpec::value("b")]).unwrap();
        assert_eq!(config.alpha_per_metric(), 0.005);
        assert_eq!(
            MetricSpec::ratio("a").kind,
            MetricKind::Ratio { min_total: 0.0, margin: 0.2, temper: 1.0, negligible: 1e-4 }
        );
        assert_eq!(MetricSpec::value("a").kind, MetricKind::Value { tolerance: 0.2, block: 1, new_values_only: false });
    }

    #[test]
    fn specs_read_like_the_issue_config() {
        let errors: MetricSpec = serde_json::from_str(
            r#"{"name": "http-errors", "kind": "ratio", "direction": "increase", "min_total": 200, "critical": true}"#,
        )
        .unwrap();
        assert_eq!(errors, MetricSpec::ratio("http-errors").min_total(200.0).critical(true));
        let latency: MetricSpec =
            serde_json::from_str(r#"{"name": "latency-p99", "kind": "value", "tolerance": 0.1}"#).unwrap();
        assert_eq!(latency, MetricSpec::value("latency-p99").tolerance(0.1));
        let settings: Settings = serde_json::from_str(r#"{"fail_after": 3}"#).unwrap();
        assert_eq!((settings.fail_after, settings.recover_after, settings.alpha), (3, 2, 0.01));
        assert!(serde_json::from_str::<Settings>(r#"{"fail_afer": 3}"#).is_err());
    }

    #[test]
    fn validation() {
        let ok = || vec![MetricSpec::ratio("errors")];
        check(Settings::default(), ok(), Ok(()));
        check(Settings::default(), vec![], Err("no metrics to judge"));
        check(
            Settings::default(),
            vec![MetricSpec::ratio("a"), MetricSpec::value("a")],
            Err("two metrics are named `a`"),
        );
        check(Settings { alpha: 0.0, ..Settings::default() }, ok(), Err("`alpha` must be between 0 and 1"));
        check(Settings { fail_after: 0, ..Settings::default() }, ok(), Err("`fail_after` must be at least 1"));
        check(
            Settings::default(),
            vec![MetricSpec::ratio("e").min_total(f64::NAN)],
            Err("metric `e`: `min_total` must be a number at least 0"),
        );
        check(
            Settings::default(),
            vec![MetricSpec::ratio("e").temper(1.5)],
            Err("metric `e`: `temper` must be above 0 and at most 1"),
        );
        check(
            Settings::default(),
            vec![MetricSpec::ratio("e").margin(1.5)],
            Err("metric `e`: `margin` must leave 1 + margin below pass_ratio"),
        );
        check(
            Settings::default(),
            vec![MetricSpec::value("p99").tolerance(-0.1)],
            Err("metric `p99`: `tolerance` must be between 0 and 10"),
        );
        check(
            Settings::default(),
            vec![MetricSpec::value("p99").block(0)],
            Err("metric `p99`: `block` must be at least 1"),
        );
        check(Settings::default(), vec![MetricSpec::value(" ")], Err("a metric has an empty name"));
    }
}
