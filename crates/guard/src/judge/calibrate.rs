//! Calibration from data before the canary starts: tempering for overdispersed counts (notes §1.6) and the block
//! size of the sign test (notes §2.2).
//!
//! Owns: the dispersion φ0 of a baseline split into two halves, and the choice between per-step signs and 4-step
//! blocks from the autocorrelation and spread of two baseline halves' value series. Does not own: fetching the
//! pre-deploy data or splitting the baseline pods (the source does), or applying the results (they go into
//! `MetricKind::Ratio::temper` and `MetricKind::Value::block`). Estimating these during the test would come too
//! late: such false halts happen in the first minutes.

use crate::config::Group;
use crate::input::{Counts, clean_counts, usable_value};

use super::mixture::CountStep;

/// Intervals with fewer bad events than this in both halves together are skipped.
const MIN_EVENTS: f64 = 5.0;
/// Lag-1 autocorrelation above which per-step signs are not trusted.
const MAX_AUTOCORRELATION: f64 = 0.3;
/// Steps per block when per-step signs are not trusted.
pub const BLOCK: u32 = 4;

/// φ0 = max(1, mean X²_k) over intervals where the two halves together have at least 5 bad events, with
/// X²_k = (y_Ak − m_k·ρ_k)² / (m_k·ρ_k·(1 − ρ_k)). Intervals missing in either half are skipped; 1 without data.
/// Temper a ratio metric with c = 1/φ0.
pub fn overdispersion(half_a: &[Counts], half_b: &[Counts]) -> f64 {
    let stats: Vec<f64> = half_a
        .iter()
        .zip(half_b)
        .filter_map(|(a, b)| {
            let (a, b) = (clean_counts(*a, Group::Baseline).ok()?, clean_counts(*b, Group::Canary).ok()?);
            let m = a.bad + b.bad;
            let rho = a.total / (a.total + b.total);
            (m >= MIN_EVENTS).then(|| (a.bad - m * rho).powi(2) / (m * rho * (1.0 - rho)))
        })
        .collect();
    if stats.is_empty() {
        return 1.0;
    }
    (stats.iter().sum::<f64>() / stats.len() as f64).max(1.0)
}

/// The median of a χ² variable with one degree of freedom.
const CHI2_1_MEDIAN: f64 = 0.454_936_423_119_572_7;
/// Pseudo-pairs at φ = 1 that the in-test dispersion estimate starts from: with one or two real pairs the median is
/// still 1, so the first intervals of a run are never tempered by chance scatter.
const PRIOR_PAIRS: usize = 2;

/// The dispersion of the intervals judged so far, from how much each interval's rate ratio differs from the previous
/// one's: a robust, short-range estimate. For consecutive intervals a, b with at least 5 bad events each, with
/// ln r̂ = logit((y + ½)/(m − y + 1)) − logit ρ (the interval's own log rate ratio, continuity-corrected),
/// X²_ab = (ln r̂_a − ln r̂_b)² / (v_a + v_b), v = 1/(y + ½) + 1/(m − y + ½), which is χ²₁ under one steady ratio and
/// Poisson counts, and about φ·χ²₁ under dispersion φ. φ = max(1, median of the X²_ab and of 2 pseudo-pairs at the χ²₁
/// median / that median). 1 without pairs.
///
/// The ratio judge tempers each interval by c_k = 1/φ computed from the intervals *before* it. c_k is known before
/// the interval's counts are, so E[LR_k^{c_k} | past] ≤ E[LR_k | past]^{c_k} ≤ 1 and the e-process stays valid
/// (notes §1.6). Why differences of neighbours and a median: a regression that starts in the middle of a run changes
/// the ratio once, which moves one pair and not the median, so it keeps its full weight; bursts that land in one
/// group in one interval and elsewhere in the next move most pairs, and weigh every later interval less. This
/// complements the pre-deploy φ0 (`temper`), which cannot see bursts that only start during the canary.
pub fn dispersion(steps: &[CountStep]) -> f64 {
    let log_ratios: Vec<(f64, f64)> = steps
        .iter()
        .filter(|s| s.m >= MIN_EVENTS && s.share > 0.0 && s.share < 1.0)
        .map(|s| {
            let (yes, no) = (s.y + 0.5, s.m - s.y + 0.5);
            ((yes / no).ln() - (s.share / (1.0 - s.share)).ln(), 1.0 / yes + 1.0 / no)
        })
        .collect();
    let mut x2: Vec<f64> = log_ratios.windows(2).map(|w| (w[0].0 - w[1].0).powi(2) / (w[0].1 + w[1].1)).collect();
    if x2.is_empty() {
        return 1.0;
    }
    x2.extend([CHI2_1_MEDIAN; PRIOR_PAIRS]);
    x2.sort_by(f64::total_cmp);
    let n = x2.len();
    let median = if n % 2 == 1 { x2[n / 2] } else { (x2[n / 2 - 1] + x2[n / 2]) / 2.0 };
    (median / CHI2_1_MEDIAN).max(1.0)
}

/// Steps per sign for a value metric: 1 when the step log-differences of two baseline halves have lag-1
/// autocorrelation at most 0.3 or spread at most ln(1 + tolerance), otherwise 4. The two series are aligned by
/// step; unusable steps are dropped. Fewer than 8 usable steps cannot tell, so the safe 4 is returned.
pub fn sign_block(half_a: &[f64], half_b: &[f64], tolerance: f64) -> u32 {
    let d: Vec<f64> = half_a
        .iter()
        .zip(half_b)
        .filter(|(a, b)| usable_value(**a) && usable_value(**b) && **a > 0.0 && **b > 0.0)
        .map(|(a, b)| a.ln() - b.ln())
        .filter(|x| x.is_finite())
        .collect();
    if d.len() < 8 {
        return BLOCK;
    }
    let n = d.len() as f64;
    let mean = d.iter().sum::<f64>() / n;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let sd = var.sqrt();
    if sd <= tolerance.ln_1p() {
        return 1;
    }
    let lag1 = d.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum::<f64>() / ((n - 1.0) * var);
    if lag1 <= MAX_AUTOCORRELATION { 1 } else { BLOCK }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_halves_are_not_overdispersed() {
        // Counts exactly at their expectation give X² = 0: φ0 is floored at 1.
        let a = vec![Counts::new(10.0, 1000.0); 20];
        assert_eq!(overdispersion(&a, &a), 1.0);
        assert_eq!(overdispersion(&[], &[]), 1.0);
    }

    #[test]
    fn jittery_halves_are_overdispersed() {
        // Halves alternate 5/25 and 25/5 bad events on equal traffic: X² = (5 − 15)² / 7.5 = 13.3.
        let a: Vec<Counts> = (0..20).map(|i| Counts::new(if i % 2 == 0 { 5.0 } else { 25.0 }, 1000.0)).collect();
        let b: Vec<Counts> = (0..20).map(|i| Counts::new(if i % 2 == 0 { 25.0 } else { 5.0 }, 1000.0)).collect();
        let phi = overdispersion(&a, &b);
        assert!((phi - 100.0 / 7.5).abs() < 1e-9, "{phi}");
    }

    #[test]
    fn a_steady_ratio_is_not_dispersed() {
        // Every interval at exactly 3× on equal shares: neighbours agree, X² = 0.
        let steady = vec![CountStep::new(45.0, 60.0, 0.5); 10];
        assert_eq!(dispersion(&steady), 1.0);
        assert_eq!(dispersion(&steady[..1]), 1.0, "one interval shows no spread");
        assert_eq!(dispersion(&[]), 1.0);
    }

    #[test]
    fn a_regression_that_starts_late_is_not_dispersion() {
        // Six intervals at 1×, then six at 3×: one pair of neighbours differs, the median does not move.
        let mut steps = vec![CountStep::new(30.0, 60.0, 0.5); 6];
        steps.extend(vec![CountStep::new(45.0, 60.0, 0.5); 6]);
        assert_eq!(dispersion(&steps), 1.0);
    }

    #[test]
    fn bursts_in_alternating_groups_are_dispersed() {
        // 50 of 50 bad events in the canary, then 0 of 50, and again: every pair differs by
        // 2·ln(50.5/0.5) = 9.23 in log ratio with variance 2·(1/50.5 + 1/0.5) = 4.04, X² = 21.1 each.
        let bursts: Vec<CountStep> =
            (0..6).map(|i| CountStep::new(if i % 2 == 0 { 50.0 } else { 0.0 }, 50.0, 0.5)).collect();
        let phi = dispersion(&bursts);
        let x2 = (2.0 * (50.5f64 / 0.5).ln()).powi(2) / (2.0 * (1.0 / 50.5 + 1.0 / 0.5));
        assert!((phi - x2 / CHI2_1_MEDIAN).abs() < 1e-9, "{phi} vs {}", x2 / CHI2_1_MEDIAN);
        assert_eq!(dispersion(&bursts[..2]), 1.0, "one pair against two pseudo-pairs: the median stays at 1");
        // Intervals with fewer than 5 bad events are left out.
        let sparse = vec![CountStep::new(3.0, 3.0, 0.5), CountStep::new(0.0, 4.0, 0.5)];
        assert_eq!(dispersion(&sparse), 1.0);
    }

    #[test]
    fn block_choice() {
        let flat = vec![0.2; 20];
        let noisy: Vec<f64> = (0..40).map(|i| if i % 2 == 0 { 0.1 } else { 0.4 }).collect();
        let slow: Vec<f64> = (0..40).map(|i| if (i / 10) % 2 == 0 { 0.1 } else { 0.4 }).collect();
        assert_eq!(sign_block(&flat, &flat, 0.2), 1, "no spread");
        assert_eq!(sign_block(&noisy, &flat, 0.2), 1, "spread but alternating: negative autocorrelation");
        assert_eq!(sign_block(&slow, &flat, 0.2), 4, "spread in long runs");
        assert_eq!(sign_block(&flat[..3], &flat[..3], 0.2), 4, "too little data");
    }
}
