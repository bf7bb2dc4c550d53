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
use crate::report::{IntervalReport, MetricInterval, MetricSummary, Report, Verdict, overall};

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
        self.check(self.intervals.len(), &input, self.intervals.last().map(|i| i.end))?;
        let metrics: Vec<_> = self
            .judges
            .iter_mut()
            .zip(&input.observations)
            .map(|(judge, observation)| judge.push(observation).expect("kinds were checked"))
            .collect();
        Ok(self.record(input, metrics))
    }

    /// Judges the next intervals, as many `push`es would, with the metrics spread over the machine's cores (each
    /// metric's judge is independent of the others). On an error nothing changes.
    pub fn push_all(&mut self, inputs: Vec<IntervalInput>) -> Result<(), InputError> {
        let mut previous_end = self.intervals.last().map(|i| i.end);
        for (k, input) in inputs.iter().enumerate() {
            self.check(self.intervals.len() + k, input, previous_end)?;
            previous_end = Some(input.end);
        }
        let inputs_ref = &inputs;
        let columns = spread(self.judges.iter_mut().enumerate().collect(), |(m, judge): (usize, &mut MetricJudge)| {
            inputs_ref
                .iter()
                .map(|input| judge.push(&input.observations[m]).expect("kinds were checked"))
                .collect::<Vec<_>>()
        });
        let mut columns: Vec<_> = columns.into_iter().map(Vec::into_iter).collect();
        for input in inputs {
            let metrics = columns.iter_mut().map(|c| c.next().expect("one per interval")).collect();
            self.record(input, metrics);
        }
        Ok(())
    }

    /// Checks interval `index` against the config and the previous interval's end.
    fn check(&self, index: usize, input: &IntervalInput, previous_end: Option<Timestamp>) -> Result<(), InputError> {
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
        if let Some(previous_end) = previous_end
            && input.start < previous_end
        {
            return Err(InputError::Overlap { index, start: input.start, previous_end });
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
        Ok(())
    }

    fn record(&mut self, input: IntervalInput, metrics: Vec<MetricInterval>) -> &IntervalReport {
        let index = self.intervals.len();
        let verdict = overall(metrics.iter().map(|m| (m.verdict, m.critical)));
        self.intervals.push(IntervalReport { index, start: input.start, end: input.end, verdict, metrics });
        self.intervals.last().expect("just pushed")
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
        spread(self.judges.iter().collect(), MetricJudge::summary)
    }

    /// The run's verdict so far, by the overall rule over the metrics' summaries.
    pub fn verdict(&self) -> Verdict {
        overall(self.summaries().iter().map(|m| (m.verdict, m.critical)))
    }

    pub fn report(&self) -> Report {
        self.clone().into_report()
    }

    /// The report, without copying the intervals' reports.
    pub fn into_report(self) -> Report {
        let metrics = self.summaries();
        Report {
            verdict: overall(metrics.iter().map(|m| (m.verdict, m.critical))),
            halted_at: metrics.iter().filter_map(|m| m.failed_at).min(),
            metrics,
            intervals: self.intervals,
            warnings: Vec::new(),
            groups: self.config.settings().groups,
        }
    }
}

/// `f` of every item, in order, the items spread over the machine's cores: item k goes to thread k % threads, so
/// items of different cost (ratio and value judges) mix.
fn spread<I: Send, T: Send>(items: Vec<I>, f: impl Fn(I) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len());
    if threads <= 1 {
        return items.into_iter().map(f).collect();
    }
    let mut shares: Vec<Vec<(usize, I)>> = (0..threads).map(|_| Vec::new()).collect();
    for (k, item) in items.into_iter().enumerate() {
        shares[k % threads].push((k, item));
    }
    let f = &f;
    let mut done: Vec<(usize, T)> = std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .into_iter()
            .map(|share| scope.spawn(move || share.into_iter().map(|(k, item)| (k, f(item))).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a judge panicked")).collect()
    });
    done.sort_by_key(|(k, _)| *k);
    done.into_iter().map(|(_, t)| t).collect()
}

/// Judges a past window interval by interval and reports on all of it.
pub fn judge_window(
    config: ValidConfig,
    intervals: impl IntoIterator<Item = IntervalInput>,
) -> Result<Report, InputError> {
    let mut analysis = Analysis::new(config);
    analysis.push_all(intervals.into_iter().collect())?;
    Ok(analysis.into_report())
}
