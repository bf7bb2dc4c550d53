//! A run of the guard: all metrics, interval after interval, summed into interval verdicts and a report.
//!
//! Owns: `Analysis` (the judges of a validated config, the intervals judged so far, the halt), input checks
//! (`InputError`), and `judge_window` for a past window. Does not own: when intervals are taken or where their data
//! comes from (a later `MetricSource` and watch loop), the statistics (`judge`), or rendering.

use jiff::Timestamp;
use thiserror::Error;

use crate::config::ValidConfig;
use crate::input::{IntervalInput, Observation};
use crate::judge::MetricJudge;
use crate::report::{IntervalReport, MetricSummary, Report, Verdict, overall};

#[derive(Debug, Error, PartialEq)]
pub enum InputError {
    #[error("interval {index} has {got} observations for {expected} metrics")]
    ObservationCount { index: usize, expected: usize, got: usize },
    #[error("interval {index}: metric `{metric}` is a {kind} metric but got a {got} observation")]
    WrongKind { index: usize, metric: String, kind: &'static str, got: &'static str },
    #[error("interval {index} ends at {end}, not after its start {start}")]
    EmptyInterval { index: usize, start: Timestamp, end: Timestamp },
    #[error("interval {index} starts at {start}, before the previous interval ends at {previous_end}")]
    Overlap { index: usize, start: Timestamp, previous_end: Timestamp },
}

/// The guard's state over one run.
#[derive(Clone, Debug)]
pub struct Analysis {
    config: ValidConfig,
    judges: Vec<MetricJudge>,
    intervals: Vec<IntervalReport>,
}

impl Analysis {
    pub fn new(config: ValidConfig) -> Self {
        let alpha = config.alpha_per_metric();
        let judges = config.metrics().iter().map(|m| MetricJudge::new(m, config.settings(), alpha)).collect();
        Self { config, judges, intervals: Vec::new() }
    }

    pub fn config(&self) -> &ValidConfig {
        &self.config
    }

    /// Judges the next interval. On an error nothing changes.
    pub fn push(&mut self, input: IntervalInput) -> Result<&IntervalReport, InputError> {
        let index = self.intervals.len();
        if input.observations.len() != self.judges.len() {
            return Err(InputError::ObservationCount {
                index,
                expected: self.judges.len(),
                got: input.observations.len(),
            });
        }
        if input.end <= input.start {
            return Err(InputError::EmptyInterval { index, start: input.start, end: input.end });
        }
        if let Some(previous) = self.intervals.last()
            && input.start < previous.end
        {
            return Err(InputError::Overlap { index, start: input.start, previous_end: previous.end });
        }
        for (judge, observation) in self.judges.iter().zip(&input.observations) {
            let got = match observation {
                Observation::Ratio(_) => "ratio",
                Observation::Value(_) => "value",
                Observation::Missing => continue,
            };
            if got != judge.kind() {
                return Err(InputError::WrongKind { index, metric: judge.name().to_owned(), kind: judge.kind(), got });
            }
        }
        let metrics: Vec<_> = self
            .judges
            .iter_mut()
            .zip(&input.observations)
            .map(|(judge, observation)| judge.push(observation).expect("kinds were checked"))
            .collect();
        let verdict = overall(metrics.iter().map(|m| (m.verdict, m.critical)));
        self.intervals.push(IntervalReport { index, start: input.start, end: input.end, verdict, metrics });
        Ok(self.intervals.last().expect("just pushed"))
    }

    pub fn intervals(&self) -> &[IntervalReport] {
        &self.intervals
    }

    /// The first interval at which a metric's regression counted: where a live guard halts. Final.
    pub fn halted_at(&self) -> Option<usize> {
        self.judges.iter().filter_map(MetricJudge::failed_at).min()
    }

    /// Every metric passed in the last interval: where a live guard may stop early (notes §1.5 ask every metric to
    /// pass, a stricter rule than the overall verdict, which lets a non-critical metric stay inconclusive).
    pub fn all_passed(&self) -> bool {
        self.intervals.last().is_some_and(|i| i.metrics.iter().all(|m| m.verdict == Verdict::Pass))
    }

    pub fn summaries(&self) -> Vec<MetricSummary> {
        self.judges.iter().map(MetricJudge::summary).collect()
    }

    /// The run's verdict so far, by the overall rule over the metrics' summaries.
    pub fn verdict(&self) -> Verdict {
        overall(self.summaries().iter().map(|m| (m.verdict, m.critical)))
    }

    pub fn report(&self) -> Report {
        let metrics = self.summaries();
        Report {
            verdict: overall(metrics.iter().map(|m| (m.verdict, m.critical))),
            halted_at: metrics.iter().filter_map(|m| m.failed_at).min(),
            metrics,
            intervals: self.intervals.clone(),
        }
    }
}

/// Judges a past window interval by interval and reports on all of it.
pub fn judge_window(
    config: ValidConfig,
    intervals: impl IntoIterator<Item = IntervalInput>,
) -> Result<Report, InputError> {
    let mut analysis = Analysis::new(config);
    for interval in intervals {
        analysis.push(interval)?;
    }
    Ok(analysis.report())
}
