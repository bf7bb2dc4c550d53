//! The guard's accuracy benchmark (`bench/guard/`): a seeded scenario suite built from the NAB series, judged by
//! greenlight's guard and by two reference judges, side by side.
//!
//! Each scenario has 30 one-minute intervals of four 15-s steps after the deploy and up to 60 calm intervals before
//! it. Each step of each group holds what a service's Prometheus counter and histogram would give: Poisson requests
//! shaped by the series, binomial errors, and a histogram (the client libraries' default buckets) of log-normal
//! request latencies whose median follows the series.
//! - healthy: one calm stretch (outside every labelled window) split into even and odd points, baseline and canary
//!   share the series' load and differ by its real noise;
//! - A/A: two disjoint calm stretches of one series, each scaled to its own mean (level-matched, different shapes);
//! - synthetic regressions on healthy pairs: error ratio ×1.5, ×2, ×3, ×5 and every request's latency ×1.2, ×1.5, ×2;
//! - incidents: the canary runs through a labelled anomaly window, the baseline is the calm stretch before it.
//!
//! Judges: the guard (default settings, fail_after 2), calibrated on the data before the deploy only, with latency
//! as slow-request counts (a ratio metric) and, in a second column, as per-step p99 values (a value metric);
//! Flagger-style (an interval fails when the canary's error ratio exceeds 2 % or its interval p99 exceeds 1.5 × the
//! typical p99; halt after 2 consecutive failed intervals); Kayenta-style (per interval, a Mann-Whitney U test at
//! 0.05 between the baseline's and canary's per-step values since the deploy, per metric; an interval fails when a
//! metric's canary is worse; halt after 2 consecutive). An oracle bounds what any valid test could catch within 2
//! intervals.

use std::path::{Path, PathBuf};

use greenlight_guard::config::DEFAULT_TOLERANCE;
use greenlight_guard::judge::calibrate::{overdispersion, sign_block};
use greenlight_guard::{Analysis, IntervalInput, MetricSpec, Observation, RatioObservation, Settings, ValidConfig};
use greenlight_guard::{Counts, ValueObservation};
use jiff::Timestamp;

/// The suite's randomness: the guard tests' seeded generator and samplers.
#[path = "../tests/common/mod.rs"]
mod common;
use common::Rng;

const LOOKS: usize = 30;
const STEPS: usize = 4;
const N: usize = LOOKS * STEPS;
const BASE_RATIO: f64 = 0.01;
/// Median latency of a request at the series' mean load; each request's latency is lognormal around the step's
/// median with log-sd `SIGMA` (notes §5, table 5).
const BASE_LATENCY: f64 = 0.2;
const SIGMA: f64 = 0.5;
/// Bucket bounds (`le`) of the latency histogram: the Prometheus client libraries' defaults, then +Inf.
const BOUNDS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const BUCKETS: usize = BOUNDS.len() + 1;
/// Pre-deploy intervals the calibration looks at (notes §1.6: the preceding 60).
const PRE_LOOKS: usize = 60;
const PRE: usize = PRE_LOOKS * STEPS;
const RATES: [f64; 3] = [20.0, 50.0, 100.0];
const FLAGGER_ERROR: f64 = 0.02;
/// Flagger's static p99 line: 1.5 × the typical p99 of a request (median 0.2 s, log-sd 0.5: 0.64 s).
fn flagger_latency() -> f64 {
    1.5 * BASE_LATENCY * (2.326 * SIGMA).exp()
}
const KAYENTA_P: f64 = 0.05;
const CONSECUTIVE: usize = 2;
const ERROR_FACTORS: [f64; 4] = [1.5, 2.0, 3.0, 5.0];
const LATENCY_FACTORS: [f64; 3] = [1.2, 1.5, 2.0];

struct Series {
    values: Vec<f64>,
    calm: Vec<bool>,
    /// Index of each labelled window's first and last point.
    windows: Vec<(usize, usize)>,
}

fn load(root: &Path) -> Vec<Series> {
    let labels: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("labels/combined_windows.json")).unwrap()).unwrap();
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in std::fs::read_dir(root.join("data")).unwrap() {
        for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            files.push(file.unwrap().path());
        }
    }
    files.sort();
    files
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "csv"))
        .map(|file| {
            let folder = file.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
            let name = format!("{folder}/{}", file.file_name().unwrap().to_string_lossy());
            let text = std::fs::read_to_string(&file).unwrap();
            let (stamps, values): (Vec<String>, Vec<f64>) = text
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let (t, v) = line.split_once(',')?;
                    Some((t.get(..19)?.to_owned(), v.trim().parse::<f64>().ok()?))
                })
                .unzip();
            let spans: Vec<(String, String)> = labels[&name]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|w| (w[0].as_str().unwrap()[..19].to_owned(), w[1].as_str().unwrap()[..19].to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            let calm = stamps.iter().map(|t| !spans.iter().any(|(s, e)| t >= s && t <= e)).collect();
            let windows = spans
                .iter()
                .filter_map(|(s, e)| {
                    let first = stamps.iter().position(|t| t >= s)?;
                    let last = stamps.iter().rposition(|t| t <= e)?;
                    Some((first, last))
                })
                .collect();
            Series { values, calm, windows }
        })
        .collect()
}

/// Starts of calm runs of `len` points.
fn calm_starts(series: &Series, len: usize) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut run = 0;
    for (i, &calm) in series.calm.iter().enumerate() {
        run = if calm { run + 1 } else { 0 };
        if run >= len {
            starts.push(i + 1 - len);
        }
    }
    starts
}

/// Positive shape with mean about 1 relative to `reference`'s mean (an offset keeps zero readings positive).
fn shape(values: &[f64], reference: &[f64]) -> Vec<f64> {
    let mean = reference.iter().map(|v| v.abs()).sum::<f64>() / reference.len() as f64;
    let mean = if mean > 0.0 { mean } else { 1.0 };
    values.iter().map(|v| ((v.abs() + 0.05 * mean) / (1.05 * mean)).clamp(0.05, 20.0)).collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Healthy,
    AA,
    Errors(f64),
    Latency(f64),
    Incident,
}

struct Scenario {
    kind: Kind,
    base: Vec<f64>,
    canary: Vec<f64>,
    /// The two groups before the deploy, both still healthy: what a calibration may look at (notes §1.6).
    pre_base: Vec<f64>,
    pre_canary: Vec<f64>,
    rate: f64,
    seed: u64,
}

/// Up to `len` calm points just before `at`: the healthy stretch a calibration before the deploy would look at
/// (it stops at a labelled anomaly or the start of the series).
fn before(s: &Series, at: usize, len: usize) -> &[f64] {
    let calm = s.calm[..at].iter().rev().take(len).take_while(|&&c| c).count();
    &s.values[at - calm..at]
}

fn suite(series: &[Series], rng: &mut Rng) -> Vec<Scenario> {
    let mut out = Vec::new();
    let mut push = |kind, (base, canary): (Vec<f64>, Vec<f64>), (pre_base, pre_canary), rng: &mut Rng| {
        let rate = RATES[rng.below(RATES.len())];
        out.push(Scenario { kind, base, canary, pre_base, pre_canary, rate, seed: rng.next_u64() });
    };
    let split = |sh: Vec<f64>| -> (Vec<f64>, Vec<f64>) {
        (sh.iter().step_by(2).copied().collect(), sh.iter().skip(1).step_by(2).copied().collect())
    };
    for s in series {
        let starts = calm_starts(s, 2 * N);
        let mut kinds = vec![Kind::Healthy, Kind::Healthy];
        kinds.extend(ERROR_FACTORS.map(Kind::Errors));
        kinds.extend(LATENCY_FACTORS.map(Kind::Latency));
        if !starts.is_empty() {
            for kind in kinds {
                let start = starts[rng.below(starts.len())];
                let stretch = &s.values[start..start + 2 * N];
                // An even number of points before the stretch, so its even points stay the baseline's.
                let pre = before(s, start, 2 * PRE);
                let pre = &pre[pre.len() % 2..];
                push(kind, split(shape(stretch, stretch)), split(shape(pre, stretch)), rng);
            }
        }
        let single = calm_starts(s, N);
        for _ in 0..2 {
            if single.is_empty() {
                break;
            }
            let a = single[rng.below(single.len())];
            let far: Vec<usize> = single.iter().copied().filter(|&b| b + N <= a || b >= a + N).collect();
            if far.is_empty() {
                break;
            }
            let b = far[rng.below(far.len())];
            let (sa, sb) = (&s.values[a..a + N], &s.values[b..b + N]);
            let (pa, pb) = (before(s, a, PRE), before(s, b, PRE));
            let len = pa.len().min(pb.len());
            let pre = (shape(&pa[pa.len() - len..], sa), shape(&pb[pb.len() - len..], sb));
            push(Kind::AA, (shape(sa, sa), shape(sb, sb)), pre, rng);
        }
        for &(first, last) in &s.windows {
            // The anomaly sits near the middle of its window; the deploy lands 2 intervals before it.
            let start = ((first + last) / 2).saturating_sub(2 * STEPS);
            if first < N || start + N > s.values.len() || !s.calm[first - N..first].iter().all(|&c| c) {
                continue;
            }
            let base = &s.values[first - N..first];
            let (pa, pb) = (before(s, first - N, PRE), before(s, start, PRE));
            let len = pa.len().min(pb.len());
            let pre = (shape(&pa[pa.len() - len..], base), shape(&pb[pb.len() - len..], base));
            push(Kind::Incident, (shape(base, base), shape(&s.values[start..start + N], base)), pre, rng);
        }
    }
    out
}

/// One step of one group: requests, failed requests, and the requests per latency bucket (`BOUNDS`, then +Inf),
/// as a Prometheus counter and histogram would give them for 15 s.
#[derive(Clone, Copy)]
struct Group {
    bad: f64,
    total: f64,
    buckets: [f64; BUCKETS],
}

/// One interval's data, step by step, per group (0 baseline, 1 canary).
struct Steps {
    groups: [[Group; STEPS]; 2],
}

/// Requests per bucket for `total` requests whose latencies are lognormal with median `level` and log-sd `SIGMA`:
/// a multinomial drawn bucket by bucket as conditional binomials.
fn buckets(rng: &mut Rng, total: f64, level: f64) -> [f64; BUCKETS] {
    let mut out = [0.0; BUCKETS];
    let (mut left, mut below) = (total, 0.0);
    for (i, &bound) in BOUNDS.iter().enumerate() {
        let cdf = phi((bound / level).ln() / SIGMA);
        let p = if below >= 1.0 { 1.0 } else { ((cdf - below) / (1.0 - below)).clamp(0.0, 1.0) };
        out[i] = rng.binomial(left, p);
        left -= out[i];
        below = cdf;
    }
    out[BUCKETS - 1] = left;
    out
}

/// `looks` intervals of two groups with load shapes `shapes`; the canary's error ratio is `ratio` and its latency
/// `slow` times the baseline's.
fn generate(shapes: [&[f64]; 2], rate: f64, ratio: f64, slow: f64, rng: &mut Rng) -> Vec<Steps> {
    let looks = shapes[0].len().min(shapes[1].len()) / STEPS;
    let empty = Group { bad: 0.0, total: 0.0, buckets: [0.0; BUCKETS] };
    (0..looks)
        .map(|i| {
            let mut steps = Steps { groups: [[empty; STEPS]; 2] };
            for j in 0..STEPS {
                let k = i * STEPS + j;
                for (g, (p, f)) in [(BASE_RATIO, 1.0), (ratio, slow)].into_iter().enumerate() {
                    let sh = shapes[g][k];
                    let total = rng.poisson(rate * 15.0 * sh);
                    let bad = rng.binomial(total, p);
                    steps.groups[g][j] = Group { bad, total, buckets: buckets(rng, total, BASE_LATENCY * sh * f) };
                }
            }
            steps
        })
        .collect()
}

/// A scenario's data before and after the deploy.
struct Data {
    pre: Vec<Steps>,
    post: Vec<Steps>,
}

fn data(sc: &Scenario) -> Data {
    let (ratio, slow) = match sc.kind {
        Kind::Errors(f) => (BASE_RATIO * f, 1.0),
        Kind::Latency(f) => (BASE_RATIO, f),
        _ => (BASE_RATIO, 1.0),
    };
    let post = generate([&sc.base, &sc.canary], sc.rate, ratio, slow, &mut Rng::new(sc.seed));
    let pre = generate([&sc.pre_base, &sc.pre_canary], sc.rate, BASE_RATIO, 1.0, &mut Rng::new(sc.seed ^ 0x5EED));
    Data { pre, post }
}

/// Cumulative counts per bound, as `le` buckets are.
fn cumulative(buckets: &[f64; BUCKETS]) -> [f64; BUCKETS] {
    let mut out = *buckets;
    for i in 1..BUCKETS {
        out[i] += out[i - 1];
    }
    out
}

/// Prometheus' `histogram_quantile`: linear interpolation within the bucket holding rank q·total; the highest
/// finite bound when the rank falls in +Inf; NaN without requests.
fn histogram_quantile(q: f64, buckets: &[f64; BUCKETS]) -> f64 {
    let c = cumulative(buckets);
    let total = c[BUCKETS - 1];
    if total <= 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let i = c.iter().position(|&x| x >= rank).unwrap_or(BUCKETS - 1);
    if i == BUCKETS - 1 {
        return BOUNDS[BUCKETS - 2];
    }
    let (lower, below) = if i == 0 { (0.0, 0.0) } else { (BOUNDS[i - 1], c[i - 1]) };
    if c[i] == below {
        return BOUNDS[i];
    }
    lower + (BOUNDS[i] - lower) * (rank - below) / (c[i] - below)
}

fn add(a: [f64; BUCKETS], b: &[f64; BUCKETS]) -> [f64; BUCKETS] {
    std::array::from_fn(|i| a[i] + b[i])
}

/// A group's buckets summed over an interval.
fn interval_buckets(st: &Steps, g: usize) -> [f64; BUCKETS] {
    st.groups[g].iter().fold([0.0; BUCKETS], |a, s| add(a, &s.buckets))
}

/// A group's (bad, total) requests over an interval.
fn errors(st: &Steps, g: usize) -> (f64, f64) {
    st.groups[g].iter().fold((0.0, 0.0), |a, s| (a.0 + s.bad, a.1 + s.total))
}

/// A group's (slow, total) requests over an interval: slow ones are above bound `slow_at` (`le` = BOUNDS[slow_at]).
fn slow_requests(st: &Steps, g: usize, slow_at: usize) -> (f64, f64) {
    let b = interval_buckets(st, g);
    (b[slow_at + 1..].iter().sum(), b.iter().sum())
}

/// A group's p99 per step, as `histogram_quantile(0.99, …)` over 15-s increases would give it.
fn p99_steps(st: &Steps, g: usize) -> [f64; STEPS] {
    std::array::from_fn(|j| histogram_quantile(0.99, &st.groups[g][j].buckets))
}

/// What the guard is told before the deploy, from the pre-deploy data only (notes §1.6, §2.1, §2.2): the slow
/// threshold (the bound nearest the baseline's p99), and the tempering of both count metrics and the sign test's
/// block size from the two groups' agreement while both ran the old version.
struct Calibration {
    slow_at: usize,
    temper_errors: f64,
    temper_latency: f64,
    block: u32,
}

fn calibrate(pre: &[Steps]) -> Calibration {
    let pooled = pre.iter().fold([0.0; BUCKETS], |a, st| add(a, &interval_buckets(st, 0)));
    let p99 = histogram_quantile(0.99, &pooled);
    let typical = BASE_LATENCY * (2.326 * SIGMA).exp();
    let p99 = if p99.is_finite() && p99 > 0.0 { p99 } else { typical };
    let slow_at = (0..BUCKETS - 1)
        .min_by(|&a, &b| (BOUNDS[a] / p99).ln().abs().total_cmp(&(BOUNDS[b] / p99).ln().abs()))
        .unwrap();
    let counts = |f: &dyn Fn(&Steps, usize) -> (f64, f64), g: usize| -> Vec<Counts> {
        pre.iter().map(|st| f(st, g)).map(|(bad, total)| Counts::new(bad, total)).collect()
    };
    let slow = |st: &Steps, g: usize| slow_requests(st, g, slow_at);
    let phi_errors = overdispersion(&counts(&errors, 0), &counts(&errors, 1));
    let phi_latency = overdispersion(&counts(&slow, 0), &counts(&slow, 1));
    let p99s = |g: usize| -> Vec<f64> { pre.iter().flat_map(|st| p99_steps(st, g)).collect() };
    let block = sign_block(&p99s(0), &p99s(1), DEFAULT_TOLERANCE);
    Calibration { slow_at, temper_errors: 1.0 / phi_errors, temper_latency: 1.0 / phi_latency, block }
}

/// How the guard judges latency: slow-request counts (a ratio metric) or per-step p99 values (a value metric).
#[derive(Clone, Copy, PartialEq)]
enum LatencyAs {
    SlowCounts,
    P99Values,
}

fn config(cal: &Calibration, latency: LatencyAs) -> ValidConfig {
    let errors = MetricSpec::ratio("errors").critical(true).temper(cal.temper_errors);
    let latency = match latency {
        LatencyAs::SlowCounts => MetricSpec::ratio("latency").temper(cal.temper_latency),
        LatencyAs::P99Values => MetricSpec::value("latency").block(cal.block),
    };
    ValidConfig::new(Settings::default(), vec![errors, latency]).unwrap()
}

/// The interval of the guard's halt, and which metrics had failed by then.
fn guard(data: &[Steps], cal: &Calibration, latency: LatencyAs) -> (Option<usize>, Vec<String>) {
    let mut analysis = Analysis::new(config(cal, latency));
    for (i, st) in data.iter().enumerate() {
        let at = |m: usize| Timestamp::from_second(1_700_000_000 + 60 * m as i64).unwrap();
        let ratio = |f: &dyn Fn(usize) -> (f64, f64)| Observation::Ratio(RatioObservation::new(f(0), f(1)));
        let latency = match latency {
            LatencyAs::SlowCounts => ratio(&|g| slow_requests(st, g, cal.slow_at)),
            LatencyAs::P99Values => Observation::Value(ValueObservation {
                baseline: p99_steps(st, 0).to_vec(),
                canary: p99_steps(st, 1).to_vec(),
            }),
        };
        let observations = vec![ratio(&|g| errors(st, g)), latency];
        analysis.push(IntervalInput { start: at(i), end: at(i + 1), observations }).unwrap();
        if analysis.halted_at().is_some() {
            break;
        }
    }
    let failed = analysis.summaries().into_iter().filter(|m| m.failed_at.is_some()).map(|m| m.name).collect();
    (analysis.halted_at(), failed)
}

/// The index of the interval completing `CONSECUTIVE` failed intervals in a row.
fn consecutive(fails: impl Iterator<Item = bool>) -> Option<usize> {
    let mut run = 0;
    for (i, fail) in fails.enumerate() {
        run = if fail { run + 1 } else { 0 };
        if run >= CONSECUTIVE {
            return Some(i);
        }
    }
    None
}

fn flagger(data: &[Steps]) -> Option<usize> {
    consecutive(data.iter().map(|st| {
        let (bad, total) = errors(st, 1);
        let p99 = histogram_quantile(0.99, &interval_buckets(st, 1));
        (total > 0.0 && bad / total > FLAGGER_ERROR) || p99 > flagger_latency()
    }))
}

/// The standard normal distribution function Φ(z).
fn phi(z: f64) -> f64 {
    // Abramowitz and Stegun 7.1.26 for erf.
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 { 0.5 * (1.0 + erf) } else { 0.5 * (1.0 - erf) }
}

/// Mann-Whitney U, normal approximation with tie and continuity corrections: is the canary worse (higher) at
/// two-sided level `KAYENTA_P`?
fn mann_whitney_worse(baseline: &[f64], canary: &[f64]) -> bool {
    let (n1, n2) = (canary.len() as f64, baseline.len() as f64);
    let mut all: Vec<(f64, bool)> =
        canary.iter().map(|&v| (v, true)).chain(baseline.iter().map(|&v| (v, false))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len();
    let (mut rank_sum, mut ties, mut i) = (0.0, 0.0, 0);
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        let rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += rank * all[i..=j].iter().filter(|x| x.1).count() as f64;
        i = j + 1;
    }
    let u = rank_sum - n1 * (n1 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let nf = n as f64;
    let var = n1 * n2 / 12.0 * ((nf + 1.0) - ties / (nf * (nf - 1.0)));
    if var <= 0.0 || u <= mean {
        return false;
    }
    let z = (u - mean - 0.5) / var.sqrt();
    2.0 * (1.0 - phi(z)) < KAYENTA_P
}

fn kayenta(data: &[Steps]) -> Option<usize> {
    let mut series: [[Vec<f64>; 2]; 2] = Default::default();
    consecutive(data.iter().map(|st| {
        let [ratios, latencies] = &mut series;
        for g in 0..2 {
            ratios[g].extend(st.groups[g].iter().filter(|s| s.total > 0.0).map(|s| s.bad / s.total));
            latencies[g].extend(p99_steps(st, g).into_iter().filter(|v| v.is_finite()));
        }
        series.iter().any(|m| mann_whitney_worse(&m[0], &m[1]))
    }))
}

/// ln P(X ≥ y) for X ~ Binomial(m, p), from the pmf by recurrence in log space.
fn log_upper_tail(y: f64, m: f64, p: f64) -> f64 {
    let (m, y) = (m as usize, y as usize);
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let mut log_pmf = m as f64 * lq;
    let mut terms = Vec::with_capacity(m + 1);
    for k in 0..=m {
        if k > 0 {
            log_pmf += ((m - k + 1) as f64 / k as f64).ln() + lp - lq;
        }
        if k >= y {
            terms.push(log_pmf);
        }
    }
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln()
}

/// An oracle for a count metric within 2 intervals: the most powerful fixed-sample test at the guard's per-metric
/// level α_m of "the canary's rate equals the baseline's" (no margin) against the true, known regression, on the
/// first two intervals' counts (`counts` gives a group's (bad, total) in an interval). Conditioning on the bad events
/// of both groups, y_c | m ~ Binomial(m, ρ) under the null; the likelihood ratio grows with y_c, so the test rejects
/// when P(Binomial(m, ρ) ≥ y_c) ≤ α_m. No valid test on these counts can catch more regressions within 2 intervals
/// at that false-halt level: the guard also keeps its level over every look (anytime), a margin and persistence, so
/// it can only catch fewer.
fn oracle_within_two(data: &[Steps], counts: &dyn Fn(&Steps, usize) -> (f64, f64), alpha_metric: f64) -> bool {
    let sum = |g: usize| data[..2].iter().map(|st| counts(st, g)).fold((0.0, 0.0), |a, c| (a.0 + c.0, a.1 + c.1));
    let ((yb, nb), (yc, nc)) = (sum(0), sum(1));
    let m = yb + yc;
    if m == 0.0 || nb == 0.0 || nc == 0.0 {
        return false;
    }
    log_upper_tail(yc, m, nc / (nb + nc)) <= alpha_metric.ln()
}

#[derive(Default)]
struct Tally {
    runs: usize,
    halts: usize,
    within: usize,
    times: Vec<usize>,
}

impl Tally {
    fn add(&mut self, halt: Option<usize>) {
        self.runs += 1;
        if let Some(i) = halt {
            self.halts += 1;
            self.within += usize::from(i < 2);
            self.times.push(i + 1);
        }
    }

    fn merge(&mut self, other: &Tally) {
        self.runs += other.runs;
        self.halts += other.halts;
        self.within += other.within;
        self.times.extend(&other.times);
    }

    fn pct(part: usize, whole: usize) -> String {
        if whole == 0 { "-".into() } else { format!("{:.1} %", 100.0 * part as f64 / whole as f64) }
    }

    fn median(&self) -> String {
        let mut t = self.times.clone();
        t.sort_unstable();
        if t.is_empty() {
            return "-".into();
        }
        let m = t.len() / 2;
        let med = if t.len() % 2 == 1 { t[m] as f64 } else { (t[m - 1] + t[m]) as f64 / 2.0 };
        format!("{med}")
    }

    fn halt_cell(&self) -> String {
        format!("{}/{} ({})", self.halts, self.runs, Self::pct(self.halts, self.runs))
    }

    fn detect_cell(&self) -> String {
        format!("{} / {} / {}", Self::pct(self.within, self.runs), Self::pct(self.halts, self.runs), self.median())
    }
}

/// Regressions caught within 2 intervals by (metric, factor, rate): runs, greenlight, oracle.
type ByRate = Vec<((&'static str, f64, f64), [usize; 3])>;

fn count_by_rate(by_rate: &mut ByRate, key: (&'static str, f64, f64), ours: bool, best: bool) {
    let at = match by_rate.iter().position(|(k, _)| *k == key) {
        Some(at) => at,
        None => {
            by_rate.push((key, [0; 3]));
            by_rate.len() - 1
        }
    };
    let cell = &mut by_rate[at].1;
    cell[0] += 1;
    cell[1] += usize::from(ours);
    cell[2] += usize::from(best);
}

fn main() {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/nab"));
    let started = std::time::Instant::now();
    let series = load(&root);
    let mut rng = Rng::new(20261122);
    let scenarios = suite(&series, &mut rng);
    let alpha_metric = config(&calibrate(&[]), LatencyAs::SlowCounts).alpha_per_metric();
    assert_eq!(Settings::default().fail_after, 2);

    let rows: Vec<(&str, Kind)> = vec![
        ("healthy (even/odd split)", Kind::Healthy),
        ("A/A (disjoint calm stretches)", Kind::AA),
        ("errors x1.5", Kind::Errors(1.5)),
        ("errors x2", Kind::Errors(2.0)),
        ("errors x3", Kind::Errors(3.0)),
        ("errors x5", Kind::Errors(5.0)),
        ("latency x1.2", Kind::Latency(1.2)),
        ("latency x1.5", Kind::Latency(1.5)),
        ("latency x2", Kind::Latency(2.0)),
        ("NAB incidents (labelled)", Kind::Incident),
    ];
    let names = ["greenlight", "greenlight, p99 values", "Flagger-style", "Kayenta-style"];
    let mut tallies: Vec<[Tally; 4]> = rows.iter().map(|_| Default::default()).collect();
    let mut calm_failed: Vec<String> = Vec::new();
    let mut value_calm_failed: Vec<String> = Vec::new();
    let mut by_rate: ByRate = Vec::new();
    let mut tempers: Vec<(Kind, f64, f64)> = Vec::new();
    let mut no_pre = 0;
    let mut calm_halts: Vec<String> = Vec::new();
    for sc in &scenarios {
        let Data { pre, post } = data(sc);
        no_pre += usize::from(pre.is_empty());
        let cal = calibrate(&pre);
        let (halt, failed) = guard(&post, &cal, LatencyAs::SlowCounts);
        let (value_halt, value_failed) = guard(&post, &cal, LatencyAs::P99Values);
        let within = halt.is_some_and(|i| i < 2);
        if matches!(sc.kind, Kind::Healthy | Kind::AA)
            && let Some(at) = halt
        {
            // What the guard saw in the two intervals up to a false halt, and whether the oracle for a regression
            // of that metric would have called them a regression too.
            let slow = |st: &Steps, g: usize| slow_requests(st, g, cal.slow_at);
            let counts: &dyn Fn(&Steps, usize) -> (f64, f64) =
                if failed.iter().any(|m| m == "latency") { &slow } else { &errors };
            let window = &post[at.saturating_sub(1)..=at];
            let share = |g: usize| {
                let (bad, total) =
                    window.iter().map(|st| counts(st, g)).fold((0.0, 0.0), |a, c| (a.0 + c.0, a.1 + c.1));
                format!("{bad}/{total} ({:.1} %)", 100.0 * bad / total.max(1.0))
            };
            calm_halts.push(format!(
                "{} at {} req/s, halt at interval {at} on {}: over intervals {}-{at} the canary had {} bad, the \
                 baseline {}; the oracle would call it a regression: {}",
                if sc.kind == Kind::AA { "A/A" } else { "healthy" },
                sc.rate,
                failed.join(", "),
                at.saturating_sub(1),
                share(1),
                share(0),
                if window.len() == 2 && oracle_within_two(window, counts, alpha_metric) { "yes" } else { "no" },
            ));
        }
        match sc.kind {
            Kind::Errors(f) => {
                let best = oracle_within_two(&post, &errors, alpha_metric);
                count_by_rate(&mut by_rate, ("errors", f, sc.rate), within, best);
            }
            Kind::Latency(f) => {
                let slow = |st: &Steps, g: usize| slow_requests(st, g, cal.slow_at);
                let best = oracle_within_two(&post, &slow, alpha_metric);
                count_by_rate(&mut by_rate, ("latency", f, sc.rate), within, best);
            }
            _ => {}
        }
        if matches!(sc.kind, Kind::Healthy | Kind::AA) {
            calm_failed.extend(failed);
            value_calm_failed.extend(value_failed);
            tempers.push((sc.kind, 1.0 / cal.temper_errors, 1.0 / cal.temper_latency));
        }
        let halts = [halt, value_halt, flagger(&post), kayenta(&post)];
        let row = rows.iter().position(|r| r.1 == sc.kind).unwrap();
        for (t, h) in tallies[row].iter_mut().zip(halts) {
            t.add(h);
        }
    }

    println!(
        "guard accuracy: {} NAB series, {} scenarios, {LOOKS} intervals of {STEPS} steps each after the deploy \
         ({PRE_LOOKS} before it for calibration; {no_pre} scenarios have none), seed 20261122",
        series.len(),
        scenarios.len()
    );
    println!(
        "healthy/A-A cells: halts/runs; regression cells: within 2 intervals / ever (30) / median intervals to halt"
    );
    println!();
    println!("| scenario | runs | {} | {} | {} | {} |", names[0], names[1], names[2], names[3]);
    println!("|---|---:|---|---|---|---|");
    let line = |label: &str, t: &[Tally; 4], cell: &dyn Fn(&Tally) -> String| {
        let cells: Vec<String> = t.iter().map(cell).collect();
        println!("| {label} | {} | {} |", t[0].runs, cells.join(" | "));
    };
    for (row, t) in rows.iter().zip(&tallies) {
        if matches!(row.1, Kind::Healthy | Kind::AA) {
            line(row.0, t, &Tally::halt_cell);
        } else {
            line(row.0, t, &Tally::detect_cell);
        }
    }
    let combine = |pick: &dyn Fn(Kind) -> bool| {
        let mut out: [Tally; 4] = Default::default();
        for (row, t) in rows.iter().zip(&tallies) {
            if pick(row.1) {
                for (o, x) in out.iter_mut().zip(t) {
                    o.merge(x);
                }
            }
        }
        out
    };
    let calm = combine(&|k| matches!(k, Kind::Healthy | Kind::AA));
    let target = combine(&|k| match k {
        Kind::Errors(f) => f >= 2.0,
        Kind::Latency(f) => f >= 1.5,
        _ => false,
    });
    let all = combine(&|k| matches!(k, Kind::Errors(_) | Kind::Latency(_)));
    line("**false halts, healthy + A/A**", &calm, &Tally::halt_cell);
    line("**errors >=2x, latency >=1.5x**", &target, &Tally::detect_cell);
    line("all synthetic regressions", &all, &Tally::detect_cell);
    println!();
    println!(
        "regressions caught within 2 intervals, by traffic: greenlight against an oracle (the most powerful \
         fixed-sample test at alpha_m = {alpha_metric} on the same counts, knowing the true factor, no margin, no \
         persistence; latency: slow-request counts)"
    );
    println!();
    println!("| metric | factor | req/s per group | runs | greenlight | oracle |");
    println!("|---|---|---:|---:|---:|---:|");
    by_rate.sort_by(|a, b| a.0.0.cmp(b.0.0).then(a.0.1.total_cmp(&b.0.1)).then(a.0.2.total_cmp(&b.0.2)));
    for ((metric, f, rate), [runs, ours, best]) in &by_rate {
        println!("| {metric} | x{f} | {rate} | {runs} | {ours} | {best} |");
    }
    let in_target = |metric: &str, f: f64| if metric == "errors" { f >= 2.0 } else { f >= 1.5 };
    for (label, only) in [("errors >=2x", Some("errors")), ("latency >=1.5x", Some("latency")), ("both", None)] {
        let (runs, ours, best) = by_rate
            .iter()
            .filter(|((m, f, _), _)| in_target(m, *f) && only.is_none_or(|o| o == *m))
            .fold((0, 0, 0), |a, (_, c)| (a.0 + c[0], a.1 + c[1], a.2 + c[2]));
        println!(
            "{label}: greenlight {ours}/{runs} ({}), oracle {best}/{runs} ({})",
            Tally::pct(ours, runs),
            Tally::pct(best, runs)
        );
    }
    println!();
    for kind in [Kind::Healthy, Kind::AA] {
        let mut e: Vec<f64> = tempers.iter().filter(|t| t.0 == kind).map(|t| t.1).collect();
        let mut l: Vec<f64> = tempers.iter().filter(|t| t.0 == kind).map(|t| t.2).collect();
        e.sort_by(f64::total_cmp);
        l.sort_by(f64::total_cmp);
        let q = |v: &[f64], p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        println!(
            "calibrated phi0 ({}): errors median {:.2}, max {:.2}; slow requests median {:.2}, p90 {:.2}, max {:.2}",
            if kind == Kind::AA { "A/A" } else { "healthy" },
            q(&e, 0.5),
            q(&e, 1.0),
            q(&l, 0.5),
            q(&l, 0.9),
            q(&l, 1.0)
        );
    }
    let rate = |t: &Tally| t.within as f64 / t.runs.max(1) as f64;
    let zero = calm[0].halts == 0;
    let caught = rate(&target[0]) >= 0.95;
    let better_halts = (2..4).all(|j| calm[0].halts <= calm[j].halts);
    let better_detect = (2..4).all(|j| rate(&target[0]) >= rate(&target[j]));
    let met = |b: bool| if b { "met" } else { "NOT met" };
    let by = |failed: &[String], name: &str| failed.iter().filter(|m| *m == name).count();
    println!(
        "greenlight's false halts by metric: errors {}, latency {}; with p99 values: errors {}, latency {}",
        by(&calm_failed, "errors"),
        by(&calm_failed, "latency"),
        by(&value_calm_failed, "errors"),
        by(&value_calm_failed, "latency")
    );
    for line in &calm_halts {
        println!("false halt: {line}");
    }
    println!("targets (issue 5, item 7), greenlight with latency from slow-request counts:");
    println!("- 0 false halts on healthy and A/A: {} ({} halts)", met(zero), calm[0].halts);
    println!(
        "- >= 95 % of errors >=2x and latency >=1.5x caught within 2 intervals: {} ({:.1} %)",
        met(caught),
        100.0 * rate(&target[0])
    );
    println!(
        "- better than both references: false halts {}, detection within 2 {}",
        met(better_halts),
        met(better_detect)
    );
    println!("(took {:.2} s)", started.elapsed().as_secs_f64());
}
