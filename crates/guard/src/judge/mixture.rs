//! The grid-mixture e-process of the conditional-binomial count test (notes §1.2, §1.3, §1.5).
//!
//! Owns: the per-interval log-likelihood ratio ℓ_k(r; r0), the grid prior u_j = j·ln2/4 (j = 1..32) with weights
//! ∝ exp(−u_j²/2), the running sums, log-sum-exp, the "trimmed" e-value that leaves out each component's most
//! incriminating intervals, and the anytime upper confidence bound by test inversion. Does not own: which counts are
//! fed in (the ratio judge projects groups and sides), thresholds, or verdicts.

/// Number of prior components.
pub const GRID: usize = 32;

/// u_j = j·ln2/4 for j = 1..=32: ratios from 2^{1/4} to 256 times the null.
fn grid_steps() -> [f64; GRID] {
    std::array::from_fn(|i| (i + 1) as f64 * std::f64::consts::LN_2 / 4.0)
}

/// ln w_j with w_j ∝ exp(−u_j²/2), Σ w_j = 1.
fn log_weights() -> [f64; GRID] {
    let u = grid_steps();
    let raw: [f64; GRID] = std::array::from_fn(|j| -u[j] * u[j] / 2.0);
    let norm = log_sum_exp(raw.iter().copied());
    std::array::from_fn(|j| raw[j] - norm)
}

/// ln Σ exp(x), without overflow; −∞ for no terms.
pub fn log_sum_exp(xs: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = xs.clone().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY || max.is_nan() {
        return max;
    }
    if max == f64::INFINITY {
        return f64::INFINITY;
    }
    max + xs.map(|x| (x - max).exp()).sum::<f64>().ln()
}

/// θ(r) = rρ / (rρ + 1 − ρ): the chance that a bad event lands in the treated group when its rate is r times the
/// other's and its exposure share is ρ.
pub fn share_of_bad(r: f64, share: f64) -> f64 {
    r * share / (r * share + 1.0 - share)
}

/// ℓ_k(r; r0) = y·ln(r/r0) − m·ln[(1 + (r−1)ρ) / (1 + (r0−1)ρ)]: the log-likelihood ratio of one interval, with y of
/// the m bad events in the treated group and exposure share ρ. 0 when the interval carries no information.
pub fn log_lr(r: f64, r0: f64, y: f64, m: f64, share: f64) -> f64 {
    if m <= 0.0 || share <= 0.0 || share >= 1.0 {
        return 0.0;
    }
    y * (r / r0).ln() - m * ((1.0 + (r - 1.0) * share) / (1.0 + (r0 - 1.0) * share)).ln()
}

/// One interval's evidence as the judge feeds it: y of m bad events in the treated group, exposure share ρ, and the
/// interval's own tempering c_k ∈ (0, 1] (chosen before the interval is seen; 1 for none), which multiplies its
/// log-likelihood ratio on top of the process's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CountStep {
    pub y: f64,
    pub m: f64,
    pub share: f64,
    pub temper: f64,
}

impl CountStep {
    /// An untempered interval.
    pub fn new(y: f64, m: f64, share: f64) -> Self {
        Self { y, m, share, temper: 1.0 }
    }
}

/// Σ_j w_j·exp(Σ_k c·ℓ_k(r_j; r0)) with its sums kept per component.
#[derive(Clone, Debug)]
pub struct MixtureProcess {
    /// The null ratio r0 (the margin 1 + δ, or r_pass for the pass test).
    null: f64,
    /// The alternatives r_j.
    alternatives: [f64; GRID],
    log_w: [f64; GRID],
    sums: [f64; GRID],
    temper: f64,
    /// Per component, the `trim` largest positive contributions, largest first.
    top: Vec<Vec<f64>>,
    trim: usize,
    /// ln E_t and its trimmed version, kept current by `update`.
    log_e: f64,
    log_e_trimmed: f64,
}

impl MixtureProcess {
    /// Tests H0: r ≤ `null` against r > `null` (alternatives r0·e^{u_j}); the trimmed e-value leaves out each
    /// component's `trim` most incriminating intervals.
    pub fn worse_than(null: f64, temper: f64, trim: usize) -> Self {
        let u = grid_steps();
        Self::new(null, std::array::from_fn(|j| null * u[j].exp()), temper, trim)
    }

    /// Tests H0': r ≥ `bound` against r < `bound` (alternatives r_pass·e^{−u_j}): rejecting it puts an anytime upper
    /// confidence bound of r below `bound`.
    pub fn better_than(bound: f64, temper: f64) -> Self {
        let u = grid_steps();
        Self::new(bound, std::array::from_fn(|j| bound * (-u[j]).exp()), temper, 0)
    }

    fn new(null: f64, alternatives: [f64; GRID], temper: f64, trim: usize) -> Self {
        Self {
            null,
            alternatives,
            log_w: log_weights(),
            sums: [0.0; GRID],
            temper,
            top: vec![Vec::with_capacity(trim + 1); if trim > 0 { GRID } else { 0 }],
            trim,
            log_e: 0.0,
            log_e_trimmed: 0.0,
        }
    }

    pub fn update(&mut self, step: CountStep) {
        for j in 0..GRID {
            let l = self.temper * step.temper * log_lr(self.alternatives[j], self.null, step.y, step.m, step.share);
            self.sums[j] += l;
            if self.trim > 0 && l > 0.0 {
                let top = &mut self.top[j];
                let at = top.partition_point(|&x| x >= l);
                if at < self.trim {
                    top.insert(at, l);
                    top.truncate(self.trim);
                }
            }
        }
        self.log_e = log_sum_exp((0..GRID).map(|j| self.log_w[j] + self.sums[j]));
        self.log_e_trimmed = if self.trim == 0 {
            self.log_e
        } else {
            log_sum_exp((0..GRID).map(|j| self.log_w[j] + self.sums[j] - self.top[j].iter().sum::<f64>()))
        };
    }

    /// ln E_t.
    pub fn log_e(&self) -> f64 {
        self.log_e
    }

    /// ln of the e-value with each component's `trim` largest positive contributions removed. Never above
    /// `log_e`, so crossing a threshold with it is at least as rare under the null.
    pub fn log_e_trimmed(&self) -> f64 {
        self.log_e_trimmed
    }
}

/// The anytime-valid upper confidence bound of the rate ratio after `steps`: the smallest R whose pass test
/// (H0': r ≥ R) is rejected at level `alpha`, found by bisection on ln R within [1/64, 1024]. `None` when even
/// 1024 is not excluded.
pub fn upper_bound(steps: &[CountStep], temper: f64, alpha: f64) -> Option<f64> {
    let target = (1.0 / alpha).ln();
    let u = grid_steps();
    let log_w = log_weights();
    let steps: Vec<CountStep> = steps.iter().copied().filter(|s| s.m > 0.0 && s.share > 0.0 && s.share < 1.0).collect();
    let treated: f64 = steps.iter().map(|s| s.temper * s.y).sum();
    // ln E'(R) = lse_j [ln w_j + c·Σ_k c_k·(y_k·ln(r_j/R) − m_k·ln((1 + (r_j − 1)ρ_k) / (1 + (R − 1)ρ_k)))],
    // r_j = R·e^{−u_j}.
    let rejected = |bound: f64| {
        let terms = (0..GRID).map(|j| {
            let r = bound * (-u[j]).exp();
            let spread: f64 = steps
                .iter()
                .map(|s| s.temper * s.m * ((1.0 + (r - 1.0) * s.share) / (1.0 + (bound - 1.0) * s.share)).ln())
                .sum();
            log_w[j] + temper * (-treated * u[j] - spread)
        });
        log_sum_exp(terms.collect::<Vec<_>>().into_iter()) >= target
    };
    let (mut lo, mut hi) = ((1.0f64 / 64.0).ln(), 1024f64.ln());
    if !rejected(hi.exp()) {
        return None;
    }
    if rejected(lo.exp()) {
        return Some(lo.exp());
    }
    // 16 halvings of a range of ln 65536 ≈ 11.1 leave the bound within a relative 2e-4, finer than the report
    // prints it, and the bound returned is the upper end (rejected), so it stays valid.
    for _ in 0..16 {
        let mid = (lo + hi) / 2.0;
        if rejected(mid.exp()) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi.exp())
}

impl super::EProcess for MixtureProcess {
    fn log_e(&self) -> f64 {
        MixtureProcess::log_e(self)
    }

    fn log_e_trimmed(&self) -> f64 {
        MixtureProcess::log_e_trimmed(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_and_grid() {
        let w = log_weights();
        let total: f64 = w.iter().map(|x| x.exp()).sum();
        assert!((total - 1.0).abs() < 1e-12);
        assert!(w.windows(2).all(|p| p[0] > p[1]), "weights fall with the ratio");
        let p = MixtureProcess::worse_than(1.2, 1.0, 0);
        assert!((p.alternatives[0] - 1.2 * 2f64.powf(0.25)).abs() < 1e-12);
        assert!((p.alternatives[GRID - 1] - 1.2 * 256.0).abs() < 1e-9);
    }

    #[test]
    fn log_sum_exp_is_stable() {
        assert!((log_sum_exp([1000.0, 1000.0].into_iter()) - (1000.0 + 2f64.ln())).abs() < 1e-12);
        assert_eq!(log_sum_exp(std::iter::empty()), f64::NEG_INFINITY);
        assert!((log_sum_exp([0.0, f64::NEG_INFINITY].into_iter())).abs() < 1e-12);
    }

    #[test]
    fn likelihood_ratio_matches_the_binomial() {
        // ℓ equals the log of Binomial(m, θ(r)) over Binomial(m, θ(r0)) at y.
        let (y, m, rho, r, r0) = (7.0, 10.0, 0.3, 2.5, 1.2);
        let (t, t0) = (share_of_bad(r, rho), share_of_bad(r0, rho));
        let direct = y * (t / t0).ln() + (m - y) * ((1.0 - t) / (1.0 - t0)).ln();
        assert!((log_lr(r, r0, y, m, rho) - direct).abs() < 1e-12);
        assert_eq!(log_lr(r, r0, 0.0, 0.0, rho), 0.0, "no bad events, no evidence");
        assert_eq!(log_lr(r, r0, 3.0, 3.0, 1.0), 0.0, "no baseline exposure, no evidence");
    }

    #[test]
    fn mixture_is_a_martingale_at_the_null() {
        // E[exp ℓ(r)] = 1 when the truth is r0: sum the binomial exactly.
        let (m, rho, r0) = (12u32, 0.4, 1.2);
        let t0 = share_of_bad(r0, rho);
        let mut mean = 0.0;
        let mut choose = 1.0;
        for y in 0..=m {
            if y > 0 {
                choose *= f64::from(m - y + 1) / f64::from(y);
            }
            let p = choose * t0.powi(y as i32) * (1.0 - t0).powi((m - y) as i32);
            let mut e = MixtureProcess::worse_than(r0, 1.0, 0);
            e.update(CountStep::new(f64::from(y), f64::from(m), rho));
            mean += p * e.log_e().exp();
        }
        assert!((mean - 1.0).abs() < 1e-9, "mean {mean}");
    }

    #[test]
    fn zero_baseline_halts_after_about_fifteen_canary_errors() {
        // Notes §1.4: against a silent, equally sized baseline, ≈15 canary errors reach 1/α_m = 200.
        let mut e = MixtureProcess::worse_than(1.2, 1.0, 0);
        let mut needed = 0;
        for errors in 1..=40 {
            e.update(CountStep::new(1.0, 1.0, 0.5));
            if e.log_e() >= 200f64.ln() {
                needed = errors;
                break;
            }
        }
        assert!((12..=18).contains(&needed), "needed {needed}");
    }

    #[test]
    fn trimming_drops_the_worst_interval() {
        let spike = CountStep::new(500.0, 520.0, 0.5);
        let calm = CountStep::new(30.0, 60.0, 0.5);
        let mut with = MixtureProcess::worse_than(1.2, 1.0, 1);
        let mut without = MixtureProcess::worse_than(1.2, 1.0, 0);
        with.update(spike);
        for _ in 0..5 {
            with.update(calm);
            without.update(calm);
        }
        assert!(with.log_e() > 100.0, "the spike alone is overwhelming");
        assert!(with.log_e_trimmed() <= without.log_e() + 1e-9);
        assert!(with.log_e_trimmed() < 0.0);
    }

    #[test]
    fn upper_bound_brackets_the_truth() {
        // 20 intervals of 40 vs 40 bad events at equal shares: the bound sits a little above 1.
        let steps = vec![CountStep::new(40.0, 80.0, 0.5); 20];
        let bound = upper_bound(&steps, 1.0, 0.05).unwrap();
        assert!(bound > 1.0 && bound < 1.5, "bound {bound}");
        // At the bound the pass test just rejects; a little below it does not.
        let e_at = |r: f64| {
            let mut p = MixtureProcess::better_than(r, 1.0);
            steps.iter().for_each(|&s| p.update(s));
            p.log_e()
        };
        assert!(e_at(bound) >= 20f64.ln() && e_at(bound * 0.999) < 20f64.ln());
        assert_eq!(upper_bound(&[], 1.0, 0.05), None, "no data excludes nothing");
    }
}
