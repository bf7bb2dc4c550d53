//! Calibration from data before the canary starts: tempering for overdispersed counts (notes §1.6) and the block
//! size of the sign test (notes §2.2).
//!
//! Owns: the dispersion φ0 of a baseline split into two halves, and the choice between per-step signs and 4-step
//! blocks from the autocorrelation and spread of two baseline halves' value series. Does not own: fetching the
//! pre-deploy data or splitting the baseline pods (the source does), or applying the results (they go into
//! `MetricKind::Ratio::temper` and `MetricKind::Value::block`). Estimating these during the test would come too
//! late: such false halts happen in the first minutes.

use crate::input::{Counts, clean_counts, usable_value};

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
            let (a, b) = (clean_counts(*a, "a").ok()?, clean_counts(*b, "b").ok()?);
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
