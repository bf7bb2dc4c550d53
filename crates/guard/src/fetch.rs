//! From a `guard.toml` and a past window to the per-interval inputs of the judges.
//!
//! Owns: cutting a window into intervals, the bound of a `[before_after]` window (`check_lookback`), the queries each
//! metric needs (one per group, `$group` replaced), and turning their series into `IntervalInput`s. A ratio query
//! counts the events of one interval before each evaluation (`increase(…[1m])` with `interval = "1m"`), so it is
//! evaluated once per interval, at the interval's end, and an interval's count is the sum of its points, each event
//! counted once. A value query is evaluated every `step`; an interval takes the steps in (start, end], aligned by time
//! across groups, NaN where a group has none. An empty result is "no data", never zero. Also owns `Notes`: what the
//! judges' sentences cannot know (a query without series for a group, a `bad` beyond its `total`, an interval whose
//! queries failed), said in the report's reasons and warnings, and the error of a `total` without any series.
//! Does not own: HTTP (`prometheus`) or judging (`analysis`).

use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use jiff::{SignedDuration, Timestamp};
use thiserror::Error;

use crate::config::Groups;
use crate::file::{GuardFile, Queries};
use crate::input::{Counts, IntervalInput, Observation, RatioObservation, ValueObservation};
use crate::prometheus::{MetricSource, Series, SourceError, with_group};
use crate::report::{Report, num};

#[derive(Debug, Error)]
pub enum FetchError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("the window from {start} to {end} is shorter than one interval ({interval})")]
    TooShort { start: Timestamp, end: Timestamp, interval: String },
    #[error(
        "the window from {start} to {end} holds {count} intervals of {interval}, more than the {MAX_INTERVALS} \
         greenlight judges in one run: shorten the window or lengthen `interval`"
    )]
    TooLong { start: Timestamp, end: Timestamp, interval: String, count: u64 },
    #[error(
        "metric `{metric}`: the query `{query}` returned {count} series; aggregate it to one per group, with sum(…) \
         or by (le)"
    )]
    TooManySeries { metric: String, query: String, count: usize },
    #[error(
        "[before_after]: the window from {start} to {end} must lie between the deploy at {deployed_at} and {last}, \
         the deploy plus its lookback of {lookback:#}: each judged interval is compared with its own lookback \
         interval, used once"
    )]
    OutsideLookback {
        start: Timestamp,
        end: Timestamp,
        deployed_at: Timestamp,
        last: Timestamp,
        lookback: SignedDuration,
    },
}

impl FetchError {
    /// Whether fetching the same window again a little later may succeed (see [`SourceError::is_transient`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, FetchError::Source(e) if e.is_transient())
    }
}

/// The most intervals one window holds: 69 days of one-minute intervals, a day of one-second ones.
pub const MAX_INTERVALS: usize = 100_000;

/// Whole intervals from `start`; a partial interval at the end is left out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    pub start: Timestamp,
    pub interval: SignedDuration,
    pub count: usize,
}

impl Window {
    pub fn new(start: Timestamp, end: Timestamp, interval: SignedDuration) -> Result<Self, FetchError> {
        let span = end.duration_since(start);
        let count = if span.is_negative() { 0 } else { span.as_millis() / interval.as_millis() };
        let shown = || format!("{}s", interval.as_secs_f64());
        if count == 0 {
            return Err(FetchError::TooShort { start, end, interval: shown() });
        }
        if count > MAX_INTERVALS as i128 {
            return Err(FetchError::TooLong { start, end, interval: shown(), count: count as u64 });
        }
        Ok(Self { start, interval, count: count as usize })
    }

    /// The start and end of interval `index`.
    pub fn bounds(&self, index: usize) -> (Timestamp, Timestamp) {
        let start = self.start + self.interval * index as i32;
        (start, start + self.interval)
    }

    pub fn end(&self) -> Timestamp {
        self.bounds(self.count - 1).1
    }
}

fn secs(t: Timestamp) -> f64 {
    t.as_millisecond() as f64 / 1000.0
}

/// Points of `series` at times in (start, end], found by bisection: the points are in time order, and a scan per
/// interval would make a long window quadratic.
fn points_in(series: &Series, start: Timestamp, end: Timestamp) -> impl Iterator<Item = (f64, f64)> + '_ {
    let (s, e) = (secs(start) + 1e-6, secs(end) + 1e-6);
    let from = series.points.partition_point(|(t, _)| *t <= s);
    let to = series.points.partition_point(|(t, _)| *t <= e);
    series.points[from..to.max(from)].iter().copied()
}

/// The value of `series` at `t` (within a millisecond), NaN when it has none there.
fn value_at(series: &Series, t: Timestamp) -> f64 {
    let t = secs(t);
    let from = series.points.partition_point(|(pt, _)| *pt <= t - 1e-3);
    series.points.get(from).filter(|(pt, _)| (pt - t).abs() < 1e-3).map_or(f64::NAN, |(_, v)| *v)
}

fn sum_in(series: Option<&Series>, start: Timestamp, end: Timestamp) -> Option<f64> {
    let mut points = points_in(series?, start, end).peekable();
    points.peek()?;
    Some(points.map(|(_, v)| v).sum())
}

/// How far an interval's `bad` may exceed its `total` (bad ≤ total × `.0` + `.1`) and still be counts of the same
/// requests. `increase()` extrapolates each series to the ends of its range on its own, so two counters of the same
/// requests can disagree by a few events and a few percent (a counter reset in one of them by more, once); beyond
/// this they count different things, most likely `bad` and `total` swapped.
pub const BAD_OVER_TOTAL: (f64, f64) = (1.1, 5.0);

/// Ratio observations per interval from the bad and total series of each group (`None`: empty result), with the
/// intervals whose counts were refused: a `bad` beyond `BAD_OVER_TOTAL` of its `total` in either group makes the
/// interval no data (clamped, it would read as a 100 % error ratio in both groups, and pass), with the sentence why.
pub fn ratio_observations(
    window: &Window,
    groups: Groups,
    baseline: [Option<&Series>; 2],
    canary: [Option<&Series>; 2],
) -> (Vec<Observation>, Vec<(usize, String)>) {
    let mut refused = Vec::new();
    let observations = (0..window.count)
        .map(|i| {
            let (start, end) = window.bounds(i);
            let counts = |[bad, total]: [Option<&Series>; 2]| Counts {
                bad: sum_in(bad, start, end),
                total: sum_in(total, start, end),
            };
            let (baseline, canary) = (counts(baseline), counts(canary));
            let both = [(groups.baseline(), baseline), (groups.canary(), canary)];
            let beyond = both.into_iter().find_map(|(group, c)| {
                let (bad, total) = (c.bad?, c.total?);
                (bad > total * BAD_OVER_TOTAL.0 + BAD_OVER_TOTAL.1).then(|| {
                    format!(
                        "`bad` exceeds `total` {} ({} > {}), by more than increase() extrapolates ({} × total + {}): \
                         are `bad` and `total` swapped?",
                        group.at(),
                        num(bad),
                        num(total),
                        num(BAD_OVER_TOTAL.0),
                        num(BAD_OVER_TOTAL.1)
                    )
                })
            });
            if let Some(sentence) = beyond {
                refused.push((i, sentence));
                Observation::Missing
            } else if baseline.total.is_none()
                && canary.total.is_none()
                && baseline.bad.is_none()
                && canary.bad.is_none()
            {
                Observation::Missing
            } else {
                Observation::Ratio(RatioObservation { baseline, canary })
            }
        })
        .collect();
    (observations, refused)
}

/// What a fetch saw that the judges' sentences cannot say, gathered over a run (one window, or a watch's windows
/// appended in order): intervals whose data was refused, and why.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Notes {
    /// The intervals noted so far, so that a later window's intervals follow them.
    intervals: usize,
    /// (interval of the run, metric, sentence): said in that metric's reason in that interval.
    said: Vec<(usize, usize, String)>,
    /// (metric, interval of the run): an interval whose `bad` exceeded its `total`.
    bad_over_total: Vec<(usize, usize)>,
    /// Per metric, whether its queries returned a series in any window answered; empty before the first answer.
    seen: Vec<Seen>,
    /// How the sentences name the groups.
    groups: Groups,
}

/// Which queries of a metric returned a series: `groups[g][q]` for the baseline (g = 0) and the canary (1), `bad` or
/// `query` (q = 0) and `total` (1).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Seen {
    ratio: bool,
    groups: [[bool; 2]; 2],
}

/// Where a query returned no series, as a sentence says it after "returned no series" ("for the canary", "before
/// the deploy"); `None` when it returned one for both groups.
fn groups_without(groups: Groups, missing: [bool; 2]) -> Option<&'static str> {
    match missing {
        [true, true] => Some(groups.either()),
        [true, false] => Some(groups.baseline().at()),
        [false, true] => Some(groups.canary().at()),
        [false, false] => None,
    }
}

impl Notes {
    /// Adds the notes of the window judged next.
    pub fn append(&mut self, later: Notes) {
        let offset = self.intervals;
        self.said.extend(later.said.into_iter().map(|(i, m, s)| (i + offset, m, s)));
        self.bad_over_total.extend(later.bad_over_total.into_iter().map(|(m, i)| (m, i + offset)));
        self.intervals += later.intervals;
        self.groups = later.groups;
        if self.seen.is_empty() {
            self.seen = later.seen;
        } else {
            for (seen, later) in self.seen.iter_mut().zip(later.seen) {
                for (g, queries) in later.groups.iter().enumerate() {
                    for (q, got) in queries.iter().enumerate() {
                        seen.groups[g][q] |= got;
                    }
                }
            }
        }
    }

    /// What a metric's summary says of queries that returned no series over the whole run: a `total` or `query`
    /// without any for a group, or a `bad` without any in both groups.
    fn no_series(&self, metric: usize) -> Option<String> {
        let seen = self.seen.get(metric)?;
        let missing = |q: usize| [!seen.groups[0][q], !seen.groups[1][q]];
        if !seen.ratio {
            let at = groups_without(self.groups, missing(0))?;
            return Some(format!("`query` returned no series {at} over the whole window"));
        }
        if let Some(at) = groups_without(self.groups, missing(1)) {
            return Some(format!("`total` returned no series {at} over the whole window"));
        }
        (missing(0) == [true, true]).then(|| {
            format!("`bad` matched no series {}: check its selector if errors were expected", self.groups.either())
        })
    }

    /// The error a `total` without any series for a group over the whole run is (notes §1.7: persistently empty
    /// totals are a mistake in the query or the group's matchers, exit 2, not a quiet service); `None` without one.
    pub fn missing_totals(&self, file: &GuardFile) -> Option<String> {
        let problems: Vec<String> = self
            .seen
            .iter()
            .enumerate()
            .filter(|(_, seen)| seen.ratio)
            .filter_map(|(m, seen)| {
                let missing = [!seen.groups[0][1], !seen.groups[1][1]];
                let at = groups_without(self.groups, missing)?;
                let matchers = match (self.groups, missing) {
                    (Groups::CanaryBaseline, [true, false]) => {
                        format!(" and the baseline's matchers (`{}`)", file.baseline)
                    }
                    (Groups::CanaryBaseline, [false, true]) => {
                        format!(" and the canary's matchers (`{}`)", file.canary)
                    }
                    (Groups::BeforeAfter, _) if !file.canary.is_empty() => {
                        format!(" and the [before_after] `matchers` (`{}`)", file.canary)
                    }
                    _ => String::new(),
                };
                Some(format!(
                    "metric `{}`: `total` returned no series {at} over the whole window: check its selector{matchers}",
                    file.config.metrics()[m].name
                ))
            })
            .collect();
        (!problems.is_empty()).then(|| problems.join("; "))
    }

    /// One interval whose queries failed: no data for every metric, with the error in each reason.
    pub fn failed(file: &GuardFile, error: &FetchError) -> Self {
        let sentence = format!("the queries of this interval failed: {error}");
        let said = (0..file.queries.len()).map(|m| (0, m, sentence.clone())).collect();
        Notes { intervals: 1, said, groups: file.config.settings().groups, ..Notes::default() }
    }

    /// What the report's `warnings` should say, once per metric.
    pub fn warnings(&self, file: &GuardFile) -> Vec<String> {
        let mut out = Vec::new();
        for (m, spec) in file.config.metrics().iter().enumerate() {
            let refused: Vec<usize> = self.bad_over_total.iter().filter(|(n, _)| *n == m).map(|(_, i)| *i).collect();
            if let Some(first) = refused.first() {
                out.push(format!(
                    "metric `{}`: `bad` exceeded `total` by more than increase() extrapolates in {} of {} intervals \
                     (first in interval {first}), which count as no data: check that `bad` and `total` are not swapped",
                    spec.name,
                    refused.len(),
                    self.intervals
                ));
            }
        }
        out
    }

    /// Says the notes in the report's reasons: an interval's note replaces the reason of a metric that had no data
    /// there (`no_data`, whatever the words: they would guess at the cause) and heads any other; a metric with
    /// refused intervals says how many in its summary.
    pub fn annotate(&self, report: &mut Report) {
        for (i, m, sentence) in &self.said {
            if let Some(metric) = report.intervals.get_mut(*i).and_then(|interval| interval.metrics.get_mut(*m)) {
                metric.reason = match metric.no_data {
                    true => format!("no data: {sentence}"),
                    false => format!("{sentence}; {}", metric.reason),
                };
            }
        }
        for (m, metric) in report.metrics.iter_mut().enumerate() {
            if let Some(sentence) = self.no_series(m) {
                metric.reason = match metric.no_data {
                    true => format!("no data: {sentence}"),
                    false => format!("{}; {sentence}", metric.reason),
                };
            }
            let refused = self.bad_over_total.iter().filter(|(n, _)| *n == m).count();
            if refused > 0 {
                let sentence = format!(
                    "`bad` exceeded `total` in {refused} of {} intervals, counted as no data: are `bad` and `total` \
                     swapped?",
                    self.intervals
                );
                metric.reason = match metric.no_data {
                    true => format!("no data: {sentence}"),
                    false => format!("{}; {sentence}", metric.reason),
                };
            }
        }
    }
}

/// Notes the intervals of `window` in which the query `part` of `metric` has no point for a group (no series there),
/// unless the interval already carries a note for the metric.
fn note_no_series(notes: &mut Notes, window: &Window, metric: usize, part: &str, groups: [Option<&Series>; 2]) {
    for i in 0..window.count {
        let (start, end) = window.bounds(i);
        let missing = groups.map(|series| series.is_none_or(|s| points_in(s, start, end).next().is_none()));
        if let Some(at) = groups_without(notes.groups, missing)
            && !notes.said.iter().any(|(j, m, _)| (*j, *m) == (i, metric))
        {
            notes.said.push((i, metric, format!("`{part}` returned no series {at}")));
        }
    }
}

/// What `fetch_window` hands back: one input per interval, and what it noted on the way.
#[derive(Clone, Debug, PartialEq)]
pub struct Fetched {
    pub inputs: Vec<IntervalInput>,
    pub notes: Notes,
}

/// Value observations per interval, aligned step by step (`None`: empty result).
pub fn value_observations(
    window: &Window,
    step: SignedDuration,
    baseline: Option<&Series>,
    canary: Option<&Series>,
) -> Vec<Observation> {
    let steps = (window.interval.as_millis() / step.as_millis()) as i32;
    let at = |series: Option<&Series>, t: Timestamp| series.map_or(f64::NAN, |s| value_at(s, t));
    (0..window.count)
        .map(|i| {
            let (start, _) = window.bounds(i);
            let times: Vec<_> = (1..=steps).map(|k| start + step * k).collect();
            let baseline_values: Vec<f64> = times.iter().map(|t| at(baseline, *t)).collect();
            let canary_values: Vec<f64> = times.iter().map(|t| at(canary, *t)).collect();
            if baseline_values.iter().chain(&canary_values).all(|v| v.is_nan())
                && (baseline.is_none() || canary.is_none())
            {
                Observation::Missing
            } else {
                Observation::Value(ValueObservation { baseline: baseline_values, canary: canary_values })
            }
        })
        .collect()
}

/// Points per `query_range` call; Prometheus refuses more than 11,000 per series.
pub const MAX_POINTS: i64 = 10_000;
/// Queries in flight at once.
pub const IN_FLIGHT: usize = 8;

/// One query over one range: which result slot it fills, and the piece of the range when a long window is split.
/// The query runs `shift` earlier than the window and its points are moved forward by `shift` (the lookback of
/// `[before_after]`, zero for `[groups]`).
struct Job {
    slot: usize,
    metric: usize,
    query: String,
    start: Timestamp,
    end: Timestamp,
    step: SignedDuration,
    shift: SignedDuration,
}

/// Splits [start, end] at `step` into ranges of at most `MAX_POINTS` evaluations. A piece reaching past the last
/// representable time ends at `end`, and so does the split.
fn pieces(start: Timestamp, end: Timestamp, step: SignedDuration) -> Vec<(Timestamp, Timestamp)> {
    let mut out = Vec::new();
    let mut from = start;
    while from <= end {
        let to = from.checked_add(step * (MAX_POINTS - 1) as i32).map_or(end, |to| to.min(end));
        out.push((from, to));
        match to.checked_add(step) {
            Ok(next) => from = next,
            Err(_) => break,
        }
    }
    out
}

/// `[before_after]`: the judged window from `start` to `end` must lie between the deploy and the end of its
/// lookback, each judged interval having a lookback interval of its own. Checked by every fetch, and by `--watch`
/// for the whole watch before it waits for the first interval. Without `[before_after]`, any window will do.
pub fn check_lookback(file: &GuardFile, start: Timestamp, end: Timestamp) -> Result<(), FetchError> {
    let (Some(before_after), Some(last)) = (&file.before_after, lookback_end(file)) else { return Ok(()) };
    let deployed_at = before_after.deployed_at;
    if start < deployed_at || end > last {
        return Err(FetchError::OutsideLookback { start, end, deployed_at, last, lookback: before_after.lookback });
    }
    Ok(())
}

/// `[before_after]`: the last time a judged window may reach, the deploy plus its lookback; `None` without
/// `[before_after]`.
pub fn lookback_end(file: &GuardFile) -> Option<Timestamp> {
    let before_after = file.before_after.as_ref()?;
    Some(before_after.deployed_at.checked_add(before_after.lookback).unwrap_or(Timestamp::MAX))
}

/// Runs every query of `file` over `window`, `IN_FLIGHT` at a time, and cuts the answers into one input per
/// interval. The first error (unreachable, refused, too many series) ends the fetch.
pub async fn fetch_window(
    source: &impl MetricSource,
    file: &GuardFile,
    window: &Window,
) -> Result<Fetched, FetchError> {
    let mut shifts = [SignedDuration::ZERO; 2];
    check_lookback(file, window.start, window.end())?;
    if let Some(before_after) = &file.before_after {
        // Judged interval k, counted from the deploy, meets lookback interval k.
        shifts[0] = before_after.lookback;
    }
    let mut jobs = Vec::new();
    let mut slots = 0;
    for (metric, queries) in file.queries.iter().enumerate() {
        let (texts, first, step): (Vec<&String>, Timestamp, SignedDuration) = match queries {
            Queries::Ratio { bad, total } => (vec![bad, total], window.start + window.interval, window.interval),
            Queries::Value { query } => (vec![query], window.start + file.step, file.step),
        };
        for (group, shift) in [&file.baseline, &file.canary].into_iter().zip(shifts) {
            for text in &texts {
                let query = with_group(text, group);
                for (start, end) in pieces(first, window.end(), step) {
                    let (start, end) = (start - shift, end - shift);
                    jobs.push(Job { slot: slots, metric, query: query.clone(), start, end, step, shift });
                }
                slots += 1;
            }
        }
    }
    let answers: Vec<(Job, Vec<Series>)> = stream::iter(jobs)
        .map(|job| async move {
            let series = source.query_range(&job.query, job.start, job.end, job.step).await?;
            Ok::<_, FetchError>((job, series))
        })
        .buffered(IN_FLIGHT)
        .try_collect()
        .await?;
    let mut results: Vec<Option<Series>> = vec![None; slots];
    for (job, series) in answers {
        if series.len() > 1 {
            return Err(FetchError::TooManySeries {
                metric: file.config.metrics()[job.metric].name.clone(),
                query: job.query,
                count: series.len(),
            });
        }
        if let Some(mut piece) = series.into_iter().next() {
            let shift = job.shift.as_secs_f64();
            piece.points.iter_mut().for_each(|(t, _)| *t += shift);
            match &mut results[job.slot] {
                // Another series in a later piece of the range (a pod replaced in between): two series, not one.
                Some(whole) if whole.labels != piece.labels => {
                    return Err(FetchError::TooManySeries {
                        metric: file.config.metrics()[job.metric].name.clone(),
                        query: job.query,
                        count: 2,
                    });
                }
                Some(whole) => whole.points.extend(piece.points),
                empty => *empty = Some(piece),
            }
        }
    }
    let mut slot = 0;
    let mut per_metric = Vec::new();
    let groups = file.config.settings().groups;
    let mut notes = Notes { intervals: window.count, groups, ..Notes::default() };
    for (metric, queries) in file.queries.iter().enumerate() {
        let observations = match queries {
            Queries::Ratio { .. } => {
                let got = &results[slot..slot + 4];
                slot += 4;
                let (observations, refused) = ratio_observations(
                    window,
                    groups,
                    [got[0].as_ref(), got[1].as_ref()],
                    [got[2].as_ref(), got[3].as_ref()],
                );
                for (i, sentence) in refused {
                    notes.bad_over_total.push((metric, i));
                    notes.said.push((i, metric, sentence));
                }
                note_no_series(&mut notes, window, metric, "total", [got[1].as_ref(), got[3].as_ref()]);
                let found = |g: usize| [got[2 * g].is_some(), got[2 * g + 1].is_some()];
                notes.seen.push(Seen { ratio: true, groups: [found(0), found(1)] });
                observations
            }
            Queries::Value { .. } => {
                let got = &results[slot..slot + 2];
                slot += 2;
                note_no_series(&mut notes, window, metric, "query", [got[0].as_ref(), got[1].as_ref()]);
                let groups = [[got[0].is_some(), false], [got[1].is_some(), false]];
                notes.seen.push(Seen { ratio: false, groups });
                value_observations(window, file.step, got[0].as_ref(), got[1].as_ref())
            }
        };
        per_metric.push(observations);
    }
    let inputs = (0..window.count)
        .map(|i| {
            let (start, end) = window.bounds(i);
            IntervalInput { start, end, observations: per_metric.iter().map(|m| m[i].clone()).collect() }
        })
        .collect();
    Ok(Fetched { inputs, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(points: &[(f64, f64)]) -> Series {
        Series { labels: Default::default(), points: points.to_vec() }
    }

    fn window(count: usize) -> Window {
        let start = Timestamp::from_second(1_000).unwrap();
        Window::new(start, start + SignedDuration::from_secs(60 * count as i64 + 30), SignedDuration::from_secs(60))
            .unwrap()
    }

    #[test]
    fn long_ranges_are_split() {
        let start = Timestamp::from_second(0).unwrap();
        let step = SignedDuration::from_secs(15);
        let end = start + step * 25_000;
        let got = pieces(start, end, step);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (start, start + step * 9_999));
        assert_eq!(got[1].0, start + step * 10_000);
        assert_eq!(got[2].1, end);
        assert_eq!(pieces(start, start, step), vec![(start, start)]);
        // 9,999 steps of 366 days from 2026 pass the year 9999: the piece ends at `end`, no overflow.
        let (from, year) = ("2026-11-22T00:00:00Z".parse().unwrap(), SignedDuration::from_hours(366 * 24));
        assert_eq!(pieces(from, from + year * 2, year), vec![(from, from + year * 2)]);
        let last = Timestamp::MAX - SignedDuration::from_secs(1);
        assert_eq!(pieces(last, last, year), vec![(last, last)]);
    }

    #[test]
    fn windows_take_whole_intervals() {
        let w = window(3);
        assert_eq!(w.count, 3);
        assert_eq!(w.end().as_second(), 1_180);
        let start = Timestamp::from_second(1_000).unwrap();
        assert!(Window::new(start, start + SignedDuration::from_secs(59), SignedDuration::from_secs(60)).is_err());
        assert!(Window::new(start, start - SignedDuration::from_secs(60), SignedDuration::from_secs(60)).is_err());
        // A day of 1 ms intervals is 86.4 million intervals: refused, not judged until memory runs out.
        let error = Window::new(start, start + SignedDuration::from_hours(24), SignedDuration::from_millis(1));
        assert!(matches!(error, Err(FetchError::TooLong { count: 86_400_000, .. })), "{error:?}");
        let most = SignedDuration::from_secs(60 * MAX_INTERVALS as i64);
        assert_eq!(Window::new(start, start + most, SignedDuration::from_secs(60)).unwrap().count, MAX_INTERVALS);
    }

    #[test]
    fn ratio_counts_per_interval() {
        let w = window(3);
        let bad = series(&[(1060.0, 2.0), (1120.0, 0.0)]);
        let total = series(&[(1060.0, 100.0), (1120.0, 90.0), (1180.0, 80.0)]);
        let (obs, refused) =
            ratio_observations(&w, Groups::CanaryBaseline, [Some(&bad), Some(&total)], [None, Some(&total)]);
        assert!(refused.is_empty());
        assert_eq!(obs[0], Observation::Ratio(RatioObservation::new((2.0, 100.0), (0.0, 100.0)).canary_bad_none()));
        // The bad series has no point in the third interval while the total has: 0 bad events, not no data.
        let Observation::Ratio(third) = &obs[2] else { panic!() };
        assert_eq!((third.baseline.bad, third.baseline.total), (None, Some(80.0)));
        assert_eq!(
            ratio_observations(&w, Groups::CanaryBaseline, [None, None], [None, None]).0,
            vec![Observation::Missing; 3]
        );
    }

    #[test]
    fn bad_beyond_total_is_refused_and_said() {
        let w = window(3);
        // `bad` and `total` swapped: every request counted as bad, the 5xx as all requests.
        let all = series(&[(1060.0, 908.0), (1120.0, 900.0), (1180.0, 910.0)]);
        let errors = series(&[(1060.0, 9.0), (1120.0, 8.0), (1180.0, 10.0)]);
        let (obs, said) =
            ratio_observations(&w, Groups::CanaryBaseline, [Some(&all), Some(&errors)], [Some(&all), Some(&errors)]);
        assert_eq!(obs, vec![Observation::Missing; 3], "counts of different things are no data, never clamped");
        assert_eq!(said.len(), 3);
        assert_eq!(
            said[0].1,
            "`bad` exceeds `total` for the baseline (908 > 9), by more than increase() extrapolates (1.1 × total + 5): \
             are `bad` and `total` swapped?"
        );
        // Within the margin: two counters of the same requests, extrapolated each on its own.
        let total = series(&[(1060.0, 100.0), (1120.0, 100.0), (1180.0, 100.0)]);
        let bad = series(&[(1060.0, 115.0), (1120.0, 116.0), (1180.0, 3.0)]);
        let (obs, said) =
            ratio_observations(&w, Groups::CanaryBaseline, [Some(&total), Some(&total)], [Some(&bad), Some(&total)]);
        assert!(matches!(obs[0], Observation::Ratio(_)), "115 ≤ 1.1 × 100 + 5");
        assert_eq!((obs[1].clone(), said.len(), said[0].0), (Observation::Missing, 1, 1), "116 > 115: {said:?}");
        assert!(said[0].1.contains("for the canary (116 > 100)"), "{said:?}");
    }

    /// A guard.toml with one ratio metric, `errors`.
    const ONE_RATIO: &str = "prometheus = \"http://127.0.0.1:9\"\n[groups]\nbaseline = 'v=\"1\"'\ncanary = 'v=\"2\"'\n\
                             [[metrics]]\nname = \"errors\"\nkind = \"ratio\"\nbad = 'sum(a{$group})'\n\
                             total = 'sum(b{$group})'\n";

    #[test]
    fn refused_intervals_are_said_in_the_reasons_and_the_warnings() {
        let file = GuardFile::parse(ONE_RATIO, "guard.toml").unwrap();
        // A watch appends one window at a time: the second window's interval 0 is the run's interval 1.
        let mut notes = Notes { intervals: 1, ..Notes::default() };
        notes.append(Notes {
            intervals: 1,
            said: vec![(0, 0, "`bad` exceeds `total` for the canary (9 > 1)".to_owned())],
            bad_over_total: vec![(0, 0)],
            seen: Vec::new(),
            groups: Groups::CanaryBaseline,
        });
        let w = window(2);
        let inputs = (0..2).map(|i| {
            let (start, end) = w.bounds(i);
            IntervalInput { start, end, observations: vec![Observation::Missing] }
        });
        let mut report = crate::judge_window(file.config.clone(), inputs).unwrap();
        notes.annotate(&mut report);
        assert!(report.intervals[0].metrics[0].reason.starts_with("no data: the source"), "the first is untouched");
        assert_eq!(report.intervals[1].metrics[0].reason, "no data: `bad` exceeds `total` for the canary (9 > 1)");
        assert_eq!(
            report.metrics[0].reason,
            "no data: `bad` exceeded `total` in 1 of 2 intervals, counted as no data: are `bad` and `total` swapped?"
        );
        assert_eq!(
            notes.warnings(&file),
            [
                "metric `errors`: `bad` exceeded `total` by more than increase() extrapolates in 1 of 2 intervals (first \
              in interval 1), which count as no data: check that `bad` and `total` are not swapped"
            ]
        );
    }

    #[test]
    fn a_note_replaces_a_reason_by_whether_the_interval_had_data_not_by_its_words() {
        let file = GuardFile::parse(ONE_RATIO, "guard.toml").unwrap();
        let w = window(2);
        let inputs = (0..2).map(|i| {
            let (start, end) = w.bounds(i);
            let counts = Observation::Ratio(RatioObservation::new((10.0, 1000.0), (10.0, 1000.0)));
            IntervalInput { start, end, observations: vec![if i == 0 { Observation::Missing } else { counts }] }
        });
        let mut report = crate::judge_window(file.config.clone(), inputs).unwrap();
        // Whatever words the judges use: interval 0 had no data, interval 1 had counts.
        report.intervals[0].metrics[0].reason = "nothing to judge".to_owned();
        report.intervals[1].metrics[0].reason = "no data-driven worry: counts judged".to_owned();
        let notes = Notes {
            intervals: 2,
            said: vec![(0, 0, "the first note".to_owned()), (1, 0, "the second note".to_owned())],
            ..Notes::default()
        };
        notes.annotate(&mut report);
        assert_eq!(report.intervals[0].metrics[0].reason, "no data: the first note", "replaced: no data");
        assert_eq!(
            report.intervals[1].metrics[0].reason, "the second note; no data-driven worry: counts judged",
            "headed: the interval had data"
        );
    }

    /// Answers every query at every step with one series of `value`, except queries containing any of `empty`.
    struct Answers {
        empty: Vec<&'static str>,
        value: f64,
    }

    impl MetricSource for Answers {
        async fn query_range(
            &self,
            query: &str,
            start: Timestamp,
            end: Timestamp,
            step: SignedDuration,
        ) -> Result<Vec<Series>, crate::SourceError> {
            if self.empty.iter().any(|e| query.contains(e)) {
                return Ok(Vec::new());
            }
            let (from, to, every) = (secs(start), secs(end), step.as_secs_f64());
            let points = (0..).map(|k| from + every * k as f64).take_while(|t| *t <= to).map(|t| (t, self.value));
            Ok(vec![Series { labels: Default::default(), points: points.collect() }])
        }
    }

    /// Judges 3 intervals of a ratio metric `errors` and a value metric `p99` with `source`: the report annotated,
    /// and the notes.
    fn judged(source: Answers) -> (Report, Notes, GuardFile) {
        let text = "prometheus = \"http://127.0.0.1:9\"\n[groups]\nbaseline = 'job=\"a\"'\ncanary = 'job=\"b\"'\n\
                    [[metrics]]\nname = \"errors\"\nkind = \"ratio\"\nbad = 'sum(errors{$group})'\n\
                    total = 'sum(requests{$group})'\nmin_total = 1\n[[metrics]]\nname = \"p99\"\nkind = \"value\"\n\
                    query = 'max(latency{$group})'\n";
        let file = GuardFile::parse(text, "guard.toml").unwrap();
        let start = Timestamp::from_second(1_000_020).unwrap();
        let window = Window::new(start, start + SignedDuration::from_mins(3), file.interval).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let fetched = runtime.block_on(fetch_window(&source, &file, &window)).unwrap();
        let mut report = crate::judge_window(file.config.clone(), fetched.inputs).unwrap();
        fetched.notes.annotate(&mut report);
        (report, fetched.notes, file)
    }

    #[test]
    fn a_query_without_series_is_named_with_its_group() {
        // A typo in the canary's `total` (or in its group's matchers): not "no events", but no series at all.
        let (report, notes, file) = judged(Answers { empty: vec!["requests{job=\"b\"}"], value: 100.0 });
        assert_eq!(report.intervals[0].metrics[0].reason, "no data: `total` returned no series for the canary");
        assert_eq!(
            report.metrics[0].reason,
            "no data: `total` returned no series for the canary over the whole window"
        );
        // A `total` empty throughout is a mistake in the query or the matchers, not a quiet service (notes §1.7).
        assert_eq!(
            notes.missing_totals(&file).as_deref(),
            Some(
                "metric `errors`: `total` returned no series for the canary over the whole window: check its \
                 selector and the canary's matchers (`job=\"b\"`)"
            )
        );
        // `bad` empty in both groups is no errors, as Prometheus has it, but said in case errors were expected.
        let (report, notes, file) = judged(Answers { empty: vec!["errors{"], value: 100.0 });
        assert!(
            report.metrics[0]
                .reason
                .ends_with("; `bad` matched no series for either group: check its selector if errors were expected"),
            "{}",
            report.metrics[0].reason
        );
        assert!(
            !report.intervals[0].metrics[0].reason.contains("no series"),
            "{}",
            report.intervals[0].metrics[0].reason
        );
        assert_eq!(notes.missing_totals(&file), None);
        // In one group only, no errors there: nothing to say.
        let (report, ..) = judged(Answers { empty: vec!["errors{job=\"b\"}"], value: 100.0 });
        assert!(!report.metrics[0].reason.contains("no series"), "{}", report.metrics[0].reason);
        // A value metric's query with no series for the baseline: said, and inconclusive as any no data.
        let (report, notes, file) = judged(Answers { empty: vec!["latency{job=\"a\"}"], value: 100.0 });
        assert_eq!(report.intervals[2].metrics[1].reason, "no data: `query` returned no series for the baseline");
        assert_eq!(
            report.metrics[1].reason,
            "no data: `query` returned no series for the baseline over the whole window"
        );
        assert_eq!(notes.missing_totals(&file), None);
        // Both groups' totals missing: both said.
        let (report, notes, file) = judged(Answers { empty: vec!["requests{"], value: 100.0 });
        assert_eq!(report.intervals[1].metrics[0].reason, "no data: `total` returned no series for either group");
        assert!(notes.missing_totals(&file).unwrap().contains("for either group over the whole window"));
    }

    #[test]
    fn a_window_beyond_the_lookback_names_its_end() {
        let text = "prometheus = \"http://127.0.0.1:9\"\n[before_after]\ndeployed_at = \"2026-11-22T05:00:00Z\"\n\
                    lookback = \"30m\"\n[[metrics]]\nname = \"p99\"\nkind = \"value\"\nquery = 'max(x)'\n";
        let file = GuardFile::parse(text, "guard.toml").unwrap();
        let at = |t: &str| t.parse::<Timestamp>().unwrap();
        assert_eq!(lookback_end(&file), Some(at("2026-11-22T05:30:00Z")));
        let error = check_lookback(&file, at("2026-11-22T05:00:01Z"), at("2026-11-22T05:30:01Z")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "[before_after]: the window from 2026-11-22T05:00:01Z to 2026-11-22T05:30:01Z must lie between the deploy \
             at 2026-11-22T05:00:00Z and 2026-11-22T05:30:00Z, the deploy plus its lookback of 30m: each judged \
             interval is compared with its own lookback interval, used once"
        );
    }

    #[test]
    fn values_align_by_time() {
        let w = window(1);
        let step = SignedDuration::from_secs(15);
        let baseline = series(&[(1015.0, 1.0), (1030.0, 2.0), (1045.0, 3.0), (1060.0, 4.0)]);
        let canary = series(&[(1030.0, 5.0), (1060.0, f64::NAN)]);
        let Observation::Value(v) = &value_observations(&w, step, Some(&baseline), Some(&canary))[0] else { panic!() };
        assert_eq!(v.baseline, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(v.canary[1], 5.0);
        assert!(v.canary[0].is_nan() && v.canary[2].is_nan() && v.canary[3].is_nan());
        assert_eq!(value_observations(&w, step, Some(&baseline), None).len(), 1);
        assert_eq!(value_observations(&w, step, None, None), vec![Observation::Missing]);
    }

    /// Answers every value query with one series whose `pod` label is `a` before `switch` and `b` from it on.
    struct PodReplaced {
        switch: f64,
    }

    impl MetricSource for PodReplaced {
        async fn query_range(
            &self,
            _: &str,
            start: Timestamp,
            _: Timestamp,
            _: SignedDuration,
        ) -> Result<Vec<Series>, crate::SourceError> {
            let pod = if secs(start) < self.switch { "a" } else { "b" };
            let labels = [("pod".to_owned(), pod.to_owned())].into();
            Ok(vec![Series { labels, points: vec![(secs(start), 1.0)] }])
        }
    }

    #[test]
    fn a_series_that_changes_between_pieces_of_a_long_range_is_two_series() {
        let text = "prometheus = \"http://127.0.0.1:9\"\n[groups]\nbaseline = 'v=\"1\"'\ncanary = 'v=\"2\"'\n\
                    [[metrics]]\nname = \"p99\"\nkind = \"value\"\nquery = 'max(x{$group})'\n";
        let file = GuardFile::parse(text, "guard.toml").unwrap();
        // 3,000 one-minute intervals of four 15-s steps: two pieces of at most 10,000 steps per query.
        let start = Timestamp::from_second(1_000_000).unwrap();
        let window = Window::new(start, start + SignedDuration::from_mins(3_000), file.interval).unwrap();
        let fetch = |switch: f64| {
            tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(fetch_window(
                &PodReplaced { switch },
                &file,
                &window,
            ))
        };
        assert!(fetch(f64::INFINITY).is_ok_and(|fetched| fetched.inputs.len() == 3_000), "one series over both pieces");
        // The second piece starts 10,000 steps (2,500 minutes) after the first.
        let Err(error) = fetch(secs(start) + 60.0 * 2_000.0) else { panic!("two series are an error") };
        assert!(matches!(error, FetchError::TooManySeries { count: 2, .. }), "{error:?}");
    }

    trait CanaryBadNone {
        fn canary_bad_none(self) -> Self;
    }
    impl CanaryBadNone for RatioObservation {
        fn canary_bad_none(mut self) -> Self {
            self.canary.bad = None;
            self
        }
    }
}
