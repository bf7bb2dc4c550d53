//! The guard's accuracy benchmark (`bench/guard/`): a seeded scenario suite built from the NAB series, judged by
//! greenlight's guard and by two reference judges, side by side.
//!
//! Scenarios (each 30 one-minute intervals of four 15-s steps, two metrics: an error ratio and a latency value):
//! - healthy: one calm stretch (outside every labelled window) split into even and odd points, baseline and canary
//!   share the series' load and differ by its real noise;
//! - A/A: two disjoint calm stretches of one series, each scaled to its own mean (level-matched, different shapes);
//! - synthetic regressions on healthy pairs: error ratio ×1.5, ×2, ×3, ×5 (binomial errors on Poisson traffic
//!   shaped by the series) and latency ×1.2, ×1.5, ×2;
//! - incidents: the canary runs through a labelled anomaly window, the baseline is the calm stretch before it.
//!
//! Judges: the guard (default settings, fail_after 2); Flagger-style (an interval fails when the canary's error
//! ratio exceeds 2 % or its mean latency exceeds 1.5 × the typical latency; halt after 2 consecutive failed
//! intervals); Kayenta-style (per interval, a Mann-Whitney U test at 0.05 between the baseline's and canary's step
//! values since the deploy, per metric; an interval fails when a metric's canary is worse; halt after 2 consecutive).

use std::path::{Path, PathBuf};

use greenlight_guard::{Analysis, IntervalInput, MetricSpec, Observation, RatioObservation, Settings, ValidConfig};
use greenlight_guard::{Counts, ValueObservation};
use jiff::Timestamp;

const LOOKS: usize = 30;
const STEPS: usize = 4;
const N: usize = LOOKS * STEPS;
const BASE_RATIO: f64 = 0.01;
const BASE_LATENCY: f64 = 0.2;
const RATES: [f64; 3] = [20.0, 50.0, 100.0];
const FLAGGER_ERROR: f64 = 0.02;
const FLAGGER_LATENCY: f64 = 1.5 * BASE_LATENCY;
const KAYENTA_P: f64 = 0.05;
const CONSECUTIVE: usize = 2;
const ERROR_FACTORS: [f64; 4] = [1.5, 2.0, 3.0, 5.0];
const LATENCY_FACTORS: [f64; 3] = [1.2, 1.5, 2.0];

/// SplitMix64 with the samplers the suite needs.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    fn poisson(&mut self, mean: f64) -> f64 {
        if mean < 30.0 {
            let limit = (-mean).exp();
            let (mut k, mut p) = (0.0, self.uniform());
            while p > limit {
                k += 1.0;
                p *= self.uniform();
            }
            k
        } else {
            (mean + mean.sqrt() * self.normal()).round().max(0.0)
        }
    }

    fn binomial(&mut self, n: f64, p: f64) -> f64 {
        if p <= 0.0 || n <= 0.0 {
            return 0.0;
        }
        if p >= 1.0 {
            return n;
        }
        if p > 0.5 {
            return n - self.binomial(n, 1.0 - p);
        }
        let log_q = (1.0 - p).ln();
        let (mut count, mut position) = (0.0, 0.0);
        loop {
            position += (self.uniform().ln() / log_q).floor() + 1.0;
            if position > n {
                return count;
            }
            count += 1.0;
        }
    }
}

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
    rate: f64,
    seed: u64,
}

fn suite(series: &[Series], rng: &mut Rng) -> Vec<Scenario> {
    let mut out = Vec::new();
    let mut push = |kind, base: Vec<f64>, canary: Vec<f64>, rng: &mut Rng| {
        let rate = RATES[rng.below(RATES.len())];
        out.push(Scenario { kind, base, canary, rate, seed: rng.next_u64() });
    };
    for s in series {
        let split = calm_starts(s, 2 * N);
        let mut kinds = vec![Kind::Healthy, Kind::Healthy];
        kinds.extend(ERROR_FACTORS.map(Kind::Errors));
        kinds.extend(LATENCY_FACTORS.map(Kind::Latency));
        if !split.is_empty() {
            for kind in kinds {
                let start = split[rng.below(split.len())];
                let stretch = &s.values[start..start + 2 * N];
                let sh = shape(stretch, stretch);
                let base = sh.iter().step_by(2).copied().collect();
                let canary = sh.iter().skip(1).step_by(2).copied().collect();
                push(kind, base, canary, rng);
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
            push(Kind::AA, shape(sa, sa), shape(sb, sb), rng);
        }
        for &(first, last) in &s.windows {
            // The anomaly sits near the middle of its window; the deploy lands 2 intervals before it.
            let start = ((first + last) / 2).saturating_sub(2 * STEPS);
            if first < N || start + N > s.values.len() || !s.calm[first - N..first].iter().all(|&c| c) {
                continue;
            }
            let base = &s.values[first - N..first];
            push(Kind::Incident, shape(base, base), shape(&s.values[start..start + N], base), rng);
        }
    }
    out
}

/// One interval's data, step by step: (bad, total) per group and latency per group.
struct Steps {
    counts: [[(f64, f64); STEPS]; 2],
    latency: [[f64; STEPS]; 2],
}

fn generate(sc: &Scenario) -> Vec<Steps> {
    let mut rng = Rng(sc.seed);
    let (ratio, slow) = match sc.kind {
        Kind::Errors(f) => (BASE_RATIO * f, 1.0),
        Kind::Latency(f) => (BASE_RATIO, f),
        _ => (BASE_RATIO, 1.0),
    };
    (0..LOOKS)
        .map(|i| {
            let mut steps = Steps { counts: [[(0.0, 0.0); STEPS]; 2], latency: [[0.0; STEPS]; 2] };
            for j in 0..STEPS {
                let k = i * STEPS + j;
                for (g, (sh, p, f)) in [(&sc.base, BASE_RATIO, 1.0), (&sc.canary, ratio, slow)].into_iter().enumerate()
                {
                    let total = rng.poisson(sc.rate * 15.0 * sh[k]);
                    steps.counts[g][j] = (rng.binomial(total, p), total);
                    steps.latency[g][j] = BASE_LATENCY * sh[k] * f;
                }
            }
            steps
        })
        .collect()
}

/// The interval of the guard's halt, and which metrics had failed by then.
fn guard(data: &[Steps], config: &ValidConfig) -> (Option<usize>, Vec<String>) {
    let mut analysis = Analysis::new(config.clone());
    for (i, st) in data.iter().enumerate() {
        let sum = |g: usize| st.counts[g].iter().fold((0.0, 0.0), |a, c| (a.0 + c.0, a.1 + c.1));
        let at = |m: usize| Timestamp::from_second(1_700_000_000 + 60 * m as i64).unwrap();
        let observations = vec![
            Observation::Ratio(RatioObservation {
                baseline: Counts::new(sum(0).0, sum(0).1),
                canary: Counts::new(sum(1).0, sum(1).1),
            }),
            Observation::Value(ValueObservation { baseline: st.latency[0].to_vec(), canary: st.latency[1].to_vec() }),
        ];
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
        let (bad, total) = st.counts[1].iter().fold((0.0, 0.0), |a, c| (a.0 + c.0, a.1 + c.1));
        let latency = st.latency[1].iter().sum::<f64>() / STEPS as f64;
        (total > 0.0 && bad / total > FLAGGER_ERROR) || latency > FLAGGER_LATENCY
    }))
}

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
        for (g, (counts, latency)) in st.counts.iter().zip(&st.latency).enumerate() {
            ratios[g].extend(counts.iter().filter(|c| c.1 > 0.0).map(|c| c.0 / c.1));
            latencies[g].extend(latency);
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

/// An oracle for the error ratio within 2 intervals: the most powerful fixed-sample test at the guard's per-metric
/// level α_m of "the canary's error rate equals the baseline's" (no margin) against the true, known regression, on
/// the first two intervals' counts. Conditioning on the bad events of both groups, y_c | m ~ Binomial(m, ρ) under
/// the null; the likelihood ratio grows with y_c, so the test rejects when P(Binomial(m, ρ) ≥ y_c) ≤ α_m. No valid
/// test can catch more regressions within 2 intervals at that false-halt level: the guard also keeps its level
/// over every look (anytime), a margin and persistence, so it can only catch fewer.
fn oracle_within_two(data: &[Steps], alpha_metric: f64) -> bool {
    let sum = |g: usize| {
        data[..2].iter().flat_map(|st| st.counts[g]).fold((0.0, 0.0), |a: (f64, f64), c| (a.0 + c.0, a.1 + c.1))
    };
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

fn main() {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/nab"));
    let started = std::time::Instant::now();
    let series = load(&root);
    let mut rng = Rng(20261122);
    let scenarios = suite(&series, &mut rng);
    let config = ValidConfig::new(
        Settings::default(),
        vec![MetricSpec::ratio("errors").critical(true), MetricSpec::value("latency")],
    )
    .unwrap();
    assert_eq!(config.settings().fail_after, 2);

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
    let names = ["greenlight", "Flagger-style", "Kayenta-style"];
    let mut tallies: Vec<[Tally; 3]> = rows.iter().map(|_| Default::default()).collect();
    let mut calm_failed: Vec<String> = Vec::new();
    // Error-ratio regressions by (factor, rate): runs, greenlight within 2 intervals, oracle within 2 intervals.
    let mut by_rate: Vec<((f64, f64), [usize; 3])> = Vec::new();
    for sc in &scenarios {
        let data = generate(sc);
        let (halt, failed) = guard(&data, &config);
        if let Kind::Errors(f) = sc.kind {
            let key = (f, sc.rate);
            let at = match by_rate.iter().position(|(k, _)| *k == key) {
                Some(at) => at,
                None => {
                    by_rate.push((key, [0; 3]));
                    by_rate.len() - 1
                }
            };
            let cell = &mut by_rate[at].1;
            cell[0] += 1;
            cell[1] += usize::from(halt.is_some_and(|i| i < 2));
            cell[2] += usize::from(oracle_within_two(&data, config.alpha_per_metric()));
        }
        if matches!(sc.kind, Kind::Healthy | Kind::AA) {
            calm_failed.extend(failed);
        }
        let halts = [halt, flagger(&data), kayenta(&data)];
        let row = rows.iter().position(|r| r.1 == sc.kind).unwrap();
        for (t, h) in tallies[row].iter_mut().zip(halts) {
            t.add(h);
        }
    }

    println!(
        "guard accuracy: {} NAB series, {} scenarios, {LOOKS} intervals of {STEPS} steps each, seed 20261122",
        series.len(),
        scenarios.len()
    );
    println!(
        "healthy/A-A cells: halts/runs; regression cells: within 2 intervals / ever (30) / median intervals to halt"
    );
    println!();
    println!("| scenario | runs | {} | {} | {} |", names[0], names[1], names[2]);
    println!("|---|---:|---|---|---|");
    for (row, t) in rows.iter().zip(&tallies) {
        let cells: Vec<String> = t
            .iter()
            .map(|x| if matches!(row.1, Kind::Healthy | Kind::AA) { x.halt_cell() } else { x.detect_cell() })
            .collect();
        println!("| {} | {} | {} | {} | {} |", row.0, t[0].runs, cells[0], cells[1], cells[2]);
    }
    let combine = |pick: &dyn Fn(Kind) -> bool| {
        let mut out: [Tally; 3] = Default::default();
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
    println!(
        "| **false halts, healthy + A/A** | {} | {} | {} | {} |",
        calm[0].runs,
        calm[0].halt_cell(),
        calm[1].halt_cell(),
        calm[2].halt_cell()
    );
    println!(
        "| **errors >=2x, latency >=1.5x** | {} | {} | {} | {} |",
        target[0].runs,
        target[0].detect_cell(),
        target[1].detect_cell(),
        target[2].detect_cell()
    );
    println!(
        "| all synthetic regressions | {} | {} | {} | {} |",
        all[0].runs,
        all[0].detect_cell(),
        all[1].detect_cell(),
        all[2].detect_cell()
    );
    println!();
    println!(
        "error-ratio regressions caught within 2 intervals, by traffic: greenlight against an oracle (the most \
         powerful fixed-sample test at alpha_m = {} knowing the true factor, no margin, no persistence)",
        config.alpha_per_metric()
    );
    println!();
    println!("| errors | req/s per group | runs | greenlight | oracle |");
    println!("|---|---:|---:|---:|---:|");
    by_rate.sort_by(|a, b| a.0.0.total_cmp(&b.0.0).then(a.0.1.total_cmp(&b.0.1)));
    for ((f, rate), [runs, ours, best]) in &by_rate {
        println!("| x{f} | {rate} | {runs} | {ours} | {best} |");
    }
    let (runs, ours, best) = by_rate
        .iter()
        .filter(|((f, _), _)| *f >= 2.0)
        .fold((0, 0, 0), |a, (_, c)| (a.0 + c[0], a.1 + c[1], a.2 + c[2]));
    println!("errors >=2x: greenlight {ours}/{runs}, oracle {best}/{runs} ({})", Tally::pct(best, runs));
    println!();
    let rate = |t: &Tally| t.within as f64 / t.runs.max(1) as f64;
    let zero = calm[0].halts == 0;
    let caught = rate(&target[0]) >= 0.95;
    let better_halts = (1..3).all(|j| calm[0].halts <= calm[j].halts);
    let better_detect = (1..3).all(|j| rate(&target[0]) >= rate(&target[j]));
    let met = |b: bool| if b { "met" } else { "NOT met" };
    let by = |name: &str| calm_failed.iter().filter(|m| *m == name).count();
    println!("greenlight's false halts by metric: errors {}, latency {}", by("errors"), by("latency"));
    println!("targets (issue 5, item 7):");
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
