//! Simulations with fixed seeds, after the notes' §5: the false-halt rate on A/A canaries stays within α, real
//! regressions are caught, and what must not halt does not.
//!
//! Owns: the statistical claims checked by simulation. Does not own: single-interval arithmetic (the unit tests) or
//! the accuracy benchmark on real series (`bench/guard`, later). Loops are bounded; nothing is timed.

mod common;

use common::{Latency, Rng, interval, ratio_obs};
use greenlight_guard::judge::rank::normal_upper_tail;
use greenlight_guard::{
    Analysis, Counts, MetricSpec, Observation, RatioObservation, Report, Settings, ValidConfig, ValueObservation,
    Verdict,
};

fn config(metrics: Vec<MetricSpec>) -> ValidConfig {
    ValidConfig::new(Settings::default(), metrics).unwrap()
}

/// The notes' setting: one error ratio and one latency metric, α = 0.01 split in two.
fn two_metrics() -> ValidConfig {
    config(vec![MetricSpec::ratio("errors").critical(true), MetricSpec::value("latency-p99")])
}

/// Runs `runs` simulated deploys of `looks` intervals; `observe(rng, interval)` gives each interval's observations.
/// Returns each run's first failing interval.
fn simulate(
    config: &ValidConfig,
    seed: u64,
    runs: usize,
    looks: usize,
    mut observe: impl FnMut(&mut Rng, usize, usize) -> Vec<Observation>,
) -> Vec<Option<usize>> {
    let mut rng = Rng::new(seed);
    (0..runs)
        .map(|run| {
            let mut analysis = Analysis::new(config.clone());
            for i in 0..looks {
                analysis.push(interval(i, observe(&mut rng, run, i))).unwrap();
            }
            analysis.halted_at()
        })
        .collect()
}

fn halts(results: &[Option<usize>]) -> usize {
    results.iter().filter(|r| r.is_some()).count()
}

/// Runs within `within` intervals of the start.
fn caught_within(results: &[Option<usize>], within: usize) -> usize {
    results.iter().filter(|r| r.is_some_and(|i| i < within)).count()
}

#[test]
fn healthy_canaries_halt_less_often_than_alpha() {
    let runs = 300;
    let allowed = (0.01 * runs as f64) as usize;
    let config = two_metrics();
    for (seed, rate, ratio) in [(1, 50.0, 0.01), (2, 10.0, 0.01), (3, 50.0, 0.0005), (4, 10.0, 0.0005)] {
        let mut latency = Latency::new(0.25, 0.1, 0.0);
        let results = simulate(&config, seed, runs, 60, |rng, _, _| {
            vec![ratio_obs(rng, rate, ratio, ratio), latency.interval(rng, 1.0)]
        });
        assert!(halts(&results) <= allowed, "{rate} req/s at {ratio}: {} halts", halts(&results));
    }
}

#[test]
fn healthy_canaries_with_plenty_of_traffic_pass() {
    let config = two_metrics();
    let mut rng = Rng::new(5);
    let mut passed = 0;
    for _ in 0..50 {
        let mut latency = Latency::new(0.25, 0.1, 0.0);
        let mut analysis = Analysis::new(config.clone());
        for i in 0..30 {
            let obs = vec![ratio_obs(&mut rng, 50.0, 0.01, 0.01), latency.interval(&mut rng, 1.0)];
            analysis.push(interval(i, obs)).unwrap();
        }
        passed += usize::from(analysis.verdict() == Verdict::Pass);
    }
    assert!(passed >= 48, "{passed} of 50 passed");
}

#[test]
fn a_tripled_error_ratio_is_caught_within_a_few_intervals() {
    let runs = 200;
    let results =
        simulate(&two_metrics(), 6, runs, 20, |rng, _, _| vec![ratio_obs(rng, 50.0, 0.01, 0.03), Observation::Missing]);
    assert_eq!(halts(&results), runs, "every run halts");
    assert!(caught_within(&results, 3) >= runs * 95 / 100, "{} within 3", caught_within(&results, 3));
}

/// The median of the runs' first failing intervals; every run must have failed.
fn median_halt(results: &[Option<usize>]) -> usize {
    let mut first: Vec<usize> = results.iter().map(|r| r.expect("every run halts")).collect();
    first.sort_unstable();
    first[first.len() / 2]
}

#[test]
fn a_doubled_error_ratio_is_caught() {
    // Notes table 2 (50 req/s, 1 %, δ = 0.2): median 3 intervals without persistence. Persistence also asks the
    // evidence without the most incriminating interval to reach the spike threshold, which costs little more.
    let runs = 200;
    let results =
        simulate(&two_metrics(), 7, runs, 30, |rng, _, _| vec![ratio_obs(rng, 50.0, 0.01, 0.02), Observation::Missing]);
    assert!(median_halt(&results) <= 4, "median {}", median_halt(&results));
    assert!(caught_within(&results, 8) >= runs * 95 / 100, "{} within 8", caught_within(&results, 8));
}

#[test]
fn canary_errors_against_a_silent_baseline_are_caught() {
    let runs = 200;
    let results =
        simulate(&two_metrics(), 8, runs, 60, |rng, _, _| vec![ratio_obs(rng, 50.0, 0.0, 0.001), Observation::Missing]);
    // Notes table 3: median 5 intervals without persistence.
    assert!(median_halt(&results) <= 7, "median {}", median_halt(&results));
}

#[test]
fn low_traffic_is_inconclusive_even_when_the_canary_looks_terrible() {
    let config = config(vec![MetricSpec::ratio("errors").min_total(200.0).critical(true)]);
    let mut rng = Rng::new(9);
    for _ in 0..20 {
        let mut analysis = Analysis::new(config.clone());
        for i in 0..30 {
            // About 120 requests per minute: under min_total in every interval.
            let report = analysis.push(interval(i, vec![ratio_obs(&mut rng, 2.0, 0.01, 0.2)])).unwrap();
            assert_eq!(report.verdict, Verdict::Inconclusive);
        }
        let report = analysis.report();
        assert_eq!((report.verdict, report.halted_at), (Verdict::Inconclusive, None));
        assert!(report.metrics[0].reason.starts_with("no data"), "{}", report.metrics[0].reason);
    }
}

#[test]
fn sparse_errors_at_low_traffic_are_mostly_inconclusive() {
    // Notes table 1 (10 req/s at 0.05 %, about 0.3 errors per minute per group): after 60 intervals 37.8 % pass and
    // 62.2 % cannot exclude a doubling. Never a fail; an early pass only on a lopsided count (0 canary errors
    // against 6 baseline errors excludes a doubling), which is rare.
    let config = config(vec![MetricSpec::ratio("errors").critical(true)]);
    let mut rng = Rng::new(10);
    let (mut passed, mut inconclusive, mut early) = (0, 0, 0);
    for _ in 0..200 {
        let mut analysis = Analysis::new(config.clone());
        for i in 0..60 {
            let report = analysis.push(interval(i, vec![ratio_obs(&mut rng, 10.0, 0.0005, 0.0005)])).unwrap();
            assert_ne!(report.verdict, Verdict::Fail);
            early += usize::from(i == 4 && report.verdict == Verdict::Pass);
        }
        match analysis.verdict() {
            Verdict::Pass => passed += 1,
            Verdict::Inconclusive => inconclusive += 1,
            Verdict::Fail => unreachable!(),
        }
    }
    assert!((40..=120).contains(&passed), "{passed} passed, {inconclusive} inconclusive");
    assert!(inconclusive >= 80, "{passed} passed, {inconclusive} inconclusive");
    assert!(early <= 10, "{early} passed within 5 intervals");
}

#[test]
fn a_one_interval_spike_does_not_halt() {
    let runs = 200;
    let allowed = (0.01 * runs as f64) as usize;
    let mut latency = Latency::new(0.25, 0.1, 0.0);
    let results = simulate(&two_metrics(), 11, runs, 30, |rng, _, i| {
        let canary = if i == 10 { 0.3 } else { 0.01 };
        let factor = if i == 20 { 10.0 } else { 1.0 };
        vec![ratio_obs(rng, 50.0, 0.01, canary), latency.interval(rng, factor)]
    });
    assert!(halts(&results) <= allowed, "{} halts", halts(&results));
}

#[test]
fn a_spike_on_a_canary_at_the_margin_halts_at_most_once_in_twenty() {
    // The worst case for the spike threshold: a 30× spike in the first interval, then a canary exactly at the
    // margin (1.2×), at low traffic. The evidence without the spike is the e-process of the other intervals, at
    // most 1/SPIKE_E likely ever to reach SPIKE_E (measured: about 1.5 %, 2000 runs).
    let runs = 400;
    let allowed = (runs as f64 / greenlight_guard::judge::SPIKE_E) as usize;
    let results = simulate(&two_metrics(), 18, runs, 30, |rng, _, i| {
        let canary = if i == 0 { 0.3 } else { 0.012 };
        vec![ratio_obs(rng, 10.0, 0.01, canary), Observation::Missing]
    });
    assert!(halts(&results) <= allowed, "{} halts", halts(&results));
}

#[test]
fn a_spike_of_two_intervals_is_a_regression_that_persisted() {
    let results = simulate(&two_metrics(), 12, 50, 30, |rng, _, i| {
        let canary = if i == 10 || i == 11 { 0.3 } else { 0.01 };
        vec![ratio_obs(rng, 50.0, 0.01, canary), Observation::Missing]
    });
    assert!(results.iter().all(|r| *r == Some(11)), "{results:?}");
}

#[test]
fn latency_one_and_a_half_times_higher_is_caught() {
    let runs = 200;
    let mut latency = Latency::new(0.25, 0.1, 0.0);
    let results = simulate(&two_metrics(), 13, runs, 30, |rng, _, _| {
        vec![ratio_obs(rng, 50.0, 0.01, 0.01), latency.interval(rng, 1.5)]
    });
    // 4 steps per interval; E ≥ 200 needs at least 11 signs beyond the worst interval's 4: the fourth interval at
    // the earliest.
    assert!(median_halt(&results) <= 4, "median {}", median_halt(&results));
    assert!(caught_within(&results, 8) >= runs * 95 / 100, "{} within 8", caught_within(&results, 8));
}

#[test]
fn latency_changes_under_the_tolerance_never_fail() {
    let config = config(vec![MetricSpec::value("latency-p99").tolerance(0.2)]);
    let mut latency = Latency::new(0.25, 0.1, 0.0);
    let results = simulate(&config, 14, 200, 60, |rng, _, _| vec![latency.interval(rng, 1.1)]);
    assert_eq!(halts(&results), 0);
}

#[test]
fn autocorrelated_latency_noise_with_blocks_stays_within_alpha() {
    // Notes table 5: noise sd 0.25 with lag-1 autocorrelation 0.8 breaks per-step signs; 4-step blocks hold.
    let runs = 200;
    let allowed = (0.01 * runs as f64) as usize;
    let config = config(vec![MetricSpec::value("latency-p99").block(4)]);
    let mut latency = Latency::new(0.25, 0.25, 0.8);
    let results = simulate(&config, 15, runs, 60, |rng, _, _| vec![latency.interval(rng, 1.0)]);
    assert!(halts(&results) <= allowed, "{} halts", halts(&results));
}

#[test]
fn a_gauge_scraped_less_often_than_queried_stays_within_alpha() {
    // One sample a minute per group, the canary's half a minute after the baseline's, queried every 15 s: Prometheus
    // answers each sample at four steps. The canary sits exactly at the tolerance (its log ratio to the baseline is
    // above ln 1.2 with probability ½ for two new samples), the edge of the null hypothesis.
    let runs = 300;
    let allowed = (0.01 * runs as f64) as usize;
    let gauge = |new_values_only: bool, seed: u64| {
        let config = config(vec![MetricSpec::value("latency").tolerance(0.2).new_values_only(new_values_only)]);
        let mut samples = [0.0; 2];
        simulate(&config, seed, runs, 60, move |rng, _, _| {
            let mut obs = ValueObservation::default();
            for step in 0..4 {
                if step == 0 {
                    samples[0] = 0.25 * (0.1 * rng.normal()).exp();
                }
                if step == 2 {
                    samples[1] = 0.25 * 1.2 * (0.1 * rng.normal()).exp();
                }
                obs.baseline.push(samples[0]);
                obs.canary.push(samples[1]);
            }
            vec![Observation::Value(obs)]
        })
    };
    let counted_once = gauge(true, 16);
    assert!(halts(&counted_once) <= allowed, "{} halts", halts(&counted_once));
    let counted_at_every_step = gauge(false, 16);
    assert!(halts(&counted_at_every_step) > 10 * allowed, "{} halts", halts(&counted_at_every_step));
}

#[test]
fn a_recovered_regression_still_halted_the_run() {
    let config = config(vec![MetricSpec::ratio("errors")]);
    let mut analysis = Analysis::new(config);
    let calm = RatioObservation::new((30.0, 3000.0), (30.0, 3000.0));
    let bad = RatioObservation::new((30.0, 3000.0), (150.0, 3000.0));
    let mut verdicts = Vec::new();
    for (i, o) in [calm, calm, bad, bad, bad, calm, calm, calm].into_iter().enumerate() {
        verdicts.push(analysis.push(interval(i, vec![Observation::Ratio(o)])).unwrap().verdict);
    }
    use Verdict::*;
    assert_eq!(&verdicts[..6], &[Inconclusive, Pass, Inconclusive, Fail, Fail, Fail]);
    assert_ne!(verdicts[7], Fail, "two good intervals clear the regression");
    let report: Report = analysis.report();
    assert_eq!((report.verdict, report.halted_at), (Fail, Some(3)));
    assert_eq!(report.metrics[0].recovered_at, Some(6));
    assert!(report.metrics[0].reason.contains("it recovered at interval 6"), "{}", report.metrics[0].reason);
}

#[test]
fn tempering_absorbs_overdispersion() {
    // Per-interval, per-group jitter of the error ratio (CV 0.5): counts vary far beyond Poisson. Calibrated on a
    // baseline split before the deploy, the tempered test stays within α; untempered it would not.
    let jitter = |rng: &mut Rng| {
        // Gamma(4, 1/4) by the sum of four exponentials: mean 1, CV 0.5.
        (0..4).map(|_| -rng.uniform().ln()).sum::<f64>() / 4.0
    };
    let mut rng = Rng::new(16);
    let sample = |rng: &mut Rng| {
        let total = rng.poisson(3000.0);
        let ratio = (0.01 * jitter(rng)).min(1.0);
        Counts::new(rng.binomial(total, ratio), total)
    };
    let (a, b): (Vec<Counts>, Vec<Counts>) = (0..60).map(|_| (sample(&mut rng), sample(&mut rng))).unzip();
    let phi = greenlight_guard::judge::calibrate::overdispersion(&a, &b);
    assert!(phi > 3.0, "φ0 = {phi}");
    let runs = 200;
    let allowed = (0.01 * runs as f64) as usize;
    let tempered = config(vec![MetricSpec::ratio("errors").temper(1.0 / phi)]);
    let results = simulate(&tempered, 17, runs, 60, |rng, _, _| {
        vec![Observation::Ratio(RatioObservation { baseline: sample(rng), canary: sample(rng) })]
    });
    assert!(halts(&results) <= allowed, "{} halts with φ0 = {phi}", halts(&results));
}

/// One interval of slow-request counts (notes §2.1, table 5 (i)): each group's requests are log-normal with log-sd
/// 0.5 around a median that moves with a load shared by both groups (AR(1) per minute, coefficient 0.95, sd 0.3);
/// a request is slow above a bound L fixed before the deploy at the baseline's p99 at mean load. The canary is
/// `factor` times slower.
fn slow_requests(rng: &mut Rng, load: &mut f64, rate: f64, factor: f64) -> Observation {
    *load = 0.95 * *load + 0.3 * (1.0 - 0.95f64 * 0.95).sqrt() * rng.normal();
    let slow = |f: f64| normal_upper_tail(2.326 - (*load + f64::ln(f)) / 0.5);
    let (p_baseline, p_canary) = (slow(1.0), slow(factor));
    let mut group = |p: f64| {
        let total = rng.poisson(rate * 60.0);
        Counts::new(rng.binomial(total, p), total)
    };
    Observation::Ratio(RatioObservation { baseline: group(p_baseline), canary: group(p_canary) })
}

#[test]
fn slow_request_counts_catch_a_latency_regression_within_two_intervals() {
    // The sign test on a p99 value cannot halt within 2 intervals (its e-value after 8 worse signs is 2^9/9 ≈ 57,
    // under 1/α_m = 200); counted slow requests can: 1.5× turns 1 % slow requests into ≈ 6.5 %.
    let config = config(vec![MetricSpec::ratio("errors").critical(true), MetricSpec::ratio("slow-requests")]);
    let run = |seed: u64, runs: usize, rate: f64, factor: f64| {
        let mut load = 0.0;
        simulate(&config, seed, runs, 30, |rng, _, i| {
            if i == 0 {
                load = 0.0;
            }
            vec![ratio_obs(rng, rate, 0.01, 0.01), slow_requests(rng, &mut load, rate, factor)]
        })
    };
    let slower = run(40, 100, 50.0, 1.5);
    assert!(caught_within(&slower, 2) >= 95, "1.5× at 50 req/s: {} of 100 within 2", caught_within(&slower, 2));
    let same = run(41, 200, 50.0, 1.0);
    assert!(halts(&same) <= 2, "A/A with shared load: {} of 200 halted", halts(&same));
    let low = run(42, 100, 10.0, 1.5);
    assert!(caught_within(&low, 3) >= 90, "1.5× at 10 req/s: {} of 100 within 3", caught_within(&low, 3));
}
