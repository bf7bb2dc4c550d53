//! Test support: a small seeded random generator, the samplers the simulations need, and interval builders.
//!
//! Owns: deterministic randomness (SplitMix64) and the scenario generators of the notes' simulation (§5): Poisson
//! traffic, binomial failures, lognormal latency with shared AR(1) load. Does not own: any assertion.

#![allow(dead_code)]

use greenlight_guard::{Counts, IntervalInput, Observation, RatioObservation, ValueObservation};
use jiff::Timestamp;

/// SplitMix64: tiny, fast, and good enough for simulations with fixed seeds.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// Poisson: exact by multiplication for small means, normal beyond (used for traffic, which the test
    /// conditions on).
    pub fn poisson(&mut self, mean: f64) -> f64 {
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

    /// Binomial(n, p), exact: geometric waiting times between successes.
    pub fn binomial(&mut self, n: f64, p: f64) -> f64 {
        if p <= 0.0 || n <= 0.0 {
            return 0.0;
        }
        if p >= 1.0 {
            return n;
        }
        if p > 0.5 {
            return n - self.binomial(n, 1.0 - p);
        }
        // ln(1 − p) without rounding 1 − p to 1 when p is tiny (that would wait forever).
        let log_q = (-p).ln_1p();
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

pub fn at(minute: usize) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + 60 * minute as i64).unwrap()
}

pub fn interval(minute: usize, observations: Vec<Observation>) -> IntervalInput {
    IntervalInput { start: at(minute), end: at(minute + 1), observations }
}

/// One group's requests in a 1-minute interval at `rate` req/s, each failing with probability `ratio`.
pub fn group(rng: &mut Rng, rate: f64, ratio: f64) -> Counts {
    let total = rng.poisson(rate * 60.0);
    Counts::new(rng.binomial(total, ratio), total)
}

pub fn ratio_obs(rng: &mut Rng, rate: f64, baseline: f64, canary: f64) -> Observation {
    Observation::Ratio(RatioObservation { baseline: group(rng, rate, baseline), canary: group(rng, rate, canary) })
}

/// Latency quantiles over time: log value = ln(base) + shared AR(1) load + per-group AR(1) noise; the canary is
/// multiplied by `factor`. Four 15-s steps per interval.
pub struct Latency {
    load: f64,
    noise: [f64; 2],
    pub base: f64,
    pub load_sd: f64,
    pub noise_sd: f64,
    pub noise_a1: f64,
}

impl Latency {
    pub fn new(base: f64, noise_sd: f64, noise_a1: f64) -> Self {
        Self { load: 0.0, noise: [0.0; 2], base, load_sd: 0.3, noise_sd, noise_a1 }
    }

    pub fn interval(&mut self, rng: &mut Rng, factor: f64) -> Observation {
        let mut obs = ValueObservation::default();
        for _ in 0..4 {
            let a = 0.95f64;
            self.load = a * self.load + self.load_sd * (1.0 - a * a).sqrt() * rng.normal();
            for g in 0..2 {
                let a1 = self.noise_a1;
                self.noise[g] = a1 * self.noise[g] + self.noise_sd * (1.0 - a1 * a1).sqrt() * rng.normal();
            }
            let level = self.base.ln() + self.load;
            obs.baseline.push((level + self.noise[0]).exp());
            obs.canary.push((level + self.noise[1]).exp() * factor);
        }
        Observation::Value(obs)
    }
}
