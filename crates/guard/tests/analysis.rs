//! A run over plain values: interval verdicts, the overall rule, the JSON shape, and input errors.
//!
//! Owns: checks of `Analysis` and `judge_window` through the public API. Does not own: randomness (see
//! `simulate.rs`) or the statistics' internals (the unit tests beside them).

mod common;

use common::{at, interval};
use greenlight_guard::{
    Analysis, Direction, InputError, IntervalInput, MetricSpec, Observation, RatioObservation, Settings, ValidConfig,
    ValueObservation, Verdict, judge_window,
};

fn errors(baseline: (f64, f64), canary: (f64, f64)) -> Observation {
    Observation::Ratio(RatioObservation::new(baseline, canary))
}

fn latency(baseline: &[f64], canary: &[f64]) -> Observation {
    Observation::Value(ValueObservation { baseline: baseline.to_vec(), canary: canary.to_vec() })
}

fn config(metrics: Vec<MetricSpec>) -> ValidConfig {
    ValidConfig::new(Settings::default(), metrics).unwrap()
}

/// Judges the intervals and checks the interval verdicts and the run's verdict.
fn check(config: ValidConfig, intervals: Vec<Vec<Observation>>, expect: &[Verdict], overall: Verdict) {
    let inputs = intervals.into_iter().enumerate().map(|(i, o)| interval(i, o));
    let report = judge_window(config, inputs).unwrap();
    let got: Vec<Verdict> = report.intervals.iter().map(|i| i.verdict).collect();
    assert_eq!(got, expect);
    assert_eq!(report.verdict, overall);
}

const CALM: (f64, f64) = (30.0, 3000.0);
const STEADY: [f64; 4] = [0.20, 0.21, 0.19, 0.20];

#[test]
fn a_one_interval_spike_in_plain_numbers_does_not_halt() {
    use Verdict::*;
    let mut intervals: Vec<Vec<Observation>> = (0..8).map(|_| vec![errors(CALM, CALM)]).collect();
    intervals[3] = vec![errors(CALM, (900.0, 3000.0))];
    let expect = [Inconclusive, Pass, Pass, Inconclusive, Inconclusive, Inconclusive, Inconclusive, Inconclusive];
    check(config(vec![MetricSpec::ratio("errors")]), intervals.clone(), &expect, Inconclusive);
    let report = judge_window(
        config(vec![MetricSpec::ratio("errors")]),
        intervals.into_iter().enumerate().map(|(i, o)| interval(i, o)),
    )
    .unwrap();
    let spike = &report.intervals[3].metrics[0];
    assert!(spike.reason.starts_with("possible regression"), "{}", spike.reason);
    let reason = |i: usize| report.intervals[i].metrics[0].reason.clone();
    assert!(reason(4).contains("does not persist"), "{}", reason(4));
    // Two calm intervals after it (recover_after) the spike is over: the metric waits for its pass test alone.
    assert!(reason(5).starts_with("not enough data to tell"), "{}", reason(5));
    assert!(
        reason(5).contains("in earlier intervals that did not persist; the 2 since were not worse"),
        "{}",
        reason(5)
    );
    assert_eq!(report.halted_at, None);
}

#[test]
fn a_critical_inconclusive_metric_makes_the_run_inconclusive() {
    use Verdict::*;
    let both =
        |critical: bool| config(vec![MetricSpec::ratio("errors").critical(critical), MetricSpec::value("latency-p99")]);
    let intervals = || (0..3).map(|_| vec![Observation::Missing, latency(&STEADY, &STEADY)]).collect::<Vec<_>>();
    check(both(true), intervals(), &[Inconclusive; 3], Inconclusive);
    check(both(false), intervals(), &[Inconclusive, Pass, Pass], Pass);
}

#[test]
fn any_failing_metric_fails_the_run() {
    use Verdict::*;
    let config = config(vec![MetricSpec::ratio("errors").critical(true), MetricSpec::value("latency-p99")]);
    let slow: Vec<f64> = STEADY.iter().map(|v| v * 2.0).collect();
    let intervals = (0..5).map(|_| vec![errors(CALM, CALM), latency(&STEADY, &slow)]).collect();
    // Until latency fails, errors pass and latency is not critical: those intervals pass by the overall rule.
    check(config, intervals, &[Inconclusive, Pass, Pass, Fail, Fail], Fail);
}

#[test]
fn nothing_measured_is_inconclusive_never_a_pass() {
    let config = config(vec![MetricSpec::ratio("errors"), MetricSpec::value("latency-p99")]);
    let nan = vec![errors((f64::NAN, f64::NAN), (0.0, f64::NAN)), latency(&[f64::NAN; 4], &[f64::NAN; 4])];
    let empty = vec![Observation::Missing, latency(&[], &[])];
    check(config, vec![nan, empty], &[Verdict::Inconclusive; 2], Verdict::Inconclusive);
}

#[test]
fn the_report_serializes_to_the_json_interface() {
    let config = config(vec![
        MetricSpec::ratio("http-errors").min_total(200.0).critical(true),
        MetricSpec::value("latency-p99").direction(Direction::Increase).tolerance(0.1),
    ]);
    let report =
        judge_window(config, (0..3).map(|i| interval(i, vec![errors(CALM, CALM), latency(&STEADY, &STEADY)]))).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["verdict"], "pass");
    assert_eq!(json["halted_at"], serde_json::Value::Null);
    let metric = &json["metrics"][0];
    assert_eq!((metric["name"].as_str(), metric["verdict"].as_str()), (Some("http-errors"), Some("pass")));
    assert_eq!(metric["kind"], "ratio");
    assert!(metric["reason"].as_str().unwrap().starts_with("no regression"));
    assert_eq!(metric["baseline"]["bad"], 90.0);
    assert!(metric["upper_bound"].as_f64().unwrap() < 2.0);
    assert_eq!(json["metrics"][1]["kind"], "value");
    assert_eq!(json["metrics"][1]["tolerance"], 0.1);
    let first = &json["intervals"][0];
    assert_eq!(first["start"], "2023-11-14T22:13:20Z");
    assert_eq!(first["end"], "2023-11-14T22:14:20Z");
    assert_eq!(first["verdict"], "inconclusive");
    assert_eq!(first["metrics"][0]["name"], "http-errors");
    assert_eq!(first["metrics"][0]["sides"][0]["side"], "higher");
    assert_eq!(first["metrics"][0]["threshold"], 200.0);
    assert!(first["metrics"][1]["reason"].as_str().unwrap().starts_with("soaking"));
}

#[test]
fn bad_input_is_an_error_and_changes_nothing() {
    let mut analysis = Analysis::new(config(vec![MetricSpec::ratio("errors")]));
    let wrong_count = interval(0, vec![]);
    assert_eq!(analysis.push(wrong_count).unwrap_err().to_string(), "interval 0 has 0 observations for 1 metrics");
    let wrong_kind = interval(0, vec![latency(&STEADY, &STEADY)]);
    assert_eq!(
        analysis.push(wrong_kind).unwrap_err(),
        InputError::WrongKind { index: 0, metric: "errors".to_owned(), kind: "ratio", got: "value" }
    );
    let backwards = IntervalInput { start: at(1), end: at(0), observations: vec![Observation::Missing] };
    assert!(matches!(analysis.push(backwards), Err(InputError::EmptyInterval { .. })));
    analysis.push(interval(5, vec![Observation::Missing])).unwrap();
    assert!(matches!(
        analysis.push(interval(4, vec![Observation::Missing])),
        Err(InputError::Overlap { index: 1, .. })
    ));
    assert_eq!(analysis.intervals().len(), 1);
}

#[test]
fn judging_many_intervals_at_once_matches_one_at_a_time() {
    // push_all spreads the metrics over threads; the reports must be exactly those of interval-by-interval pushes.
    let mut rng = common::Rng::new(5);
    let mut lat = common::Latency::new(0.2, 0.1, 0.0);
    let specs = || {
        vec![
            MetricSpec::ratio("errors"),
            MetricSpec::value("p99"),
            MetricSpec::ratio("timeouts").direction(Direction::Either),
            MetricSpec::value("p50").block(4),
            MetricSpec::ratio("quiet"),
        ]
    };
    // 16 intervals: the tripled error ratio starts at interval 6, after six calm ones whose chance scatter may
    // temper the evidence a little (judge::calibrate::dispersion), so it needs a few intervals more to halt.
    let inputs: Vec<IntervalInput> = (0..16)
        .map(|i| {
            let worse = if i >= 6 { 3.0 } else { 1.0 };
            interval(
                i,
                vec![
                    common::ratio_obs(&mut rng, 50.0, 0.01, 0.01 * worse),
                    lat.interval(&mut rng, if i >= 4 { 1.5 } else { 1.0 }),
                    common::ratio_obs(&mut rng, 50.0, 0.02, 0.02),
                    lat.interval(&mut rng, 1.0),
                    if i % 3 == 0 { Observation::Missing } else { common::ratio_obs(&mut rng, 5.0, 0.0, 0.0) },
                ],
            )
        })
        .collect();
    let mut one_by_one = Analysis::new(config(specs()));
    for input in inputs.clone() {
        one_by_one.push(input).unwrap();
    }
    let at_once = judge_window(config(specs()), inputs).unwrap();
    let json = |r: &greenlight_guard::Report| serde_json::to_value(r).unwrap();
    assert_eq!(json(&at_once), json(&one_by_one.report()));
    assert_eq!(at_once.verdict, Verdict::Fail, "the tripled error ratio and the slower p99 halt");
}
