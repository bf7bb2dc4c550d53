//! Rank statistics that describe a value metric the way Kayenta's judge does: the Mann–Whitney U test and the
//! Hodges–Lehmann shift estimate.
//!
//! Owns: U with mid-ranks for ties, its normal approximation with tie and continuity corrections, the two-sample
//! Hodges–Lehmann estimate (median of all pairwise differences), and the normal tail. Does not own: halting. These
//! are fixed-sample statistics; repeating them every interval would inflate false alarms, so the value judge only
//! reports them and uses the shift as a tolerance gate, while the sign-test e-process decides.

/// Upper tail of the standard normal, P(Z > z), with relative error below 1.2e-7.
pub fn normal_upper_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function by Chebyshev fitting (Press et al., "Numerical Recipes", §6.2).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let ans = t * poly.exp();
    if x >= 0.0 { ans } else { 2.0 - ans }
}

/// The Mann–Whitney U test of `canary` against `baseline`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MannWhitney {
    /// U of the canary: the number of (canary, baseline) pairs where the canary is larger, ties counting ½.
    pub u: f64,
    /// The normal score of U (continuity-corrected toward the mean; 0 without spread).
    pub z: f64,
}

impl MannWhitney {
    /// P-value for "the canary tends to be larger".
    pub fn p_greater(&self) -> f64 {
        normal_upper_tail(self.z)
    }

    /// P-value for "the canary tends to be smaller".
    pub fn p_less(&self) -> f64 {
        normal_upper_tail(-self.z)
    }
}

/// U and its normal score; `None` when either sample is empty. NaNs must be filtered out before.
pub fn mann_whitney(baseline: &[f64], canary: &[f64]) -> Option<MannWhitney> {
    let (nb, nc) = (baseline.len(), canary.len());
    if nb == 0 || nc == 0 {
        return None;
    }
    let mut all: Vec<(f64, bool)> =
        baseline.iter().map(|&v| (v, false)).chain(canary.iter().map(|&v| (v, true))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len();
    let mut canary_rank_sum = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && all[j].0 == all[i].0 {
            j += 1;
        }
        let mid_rank = (i + j + 1) as f64 / 2.0;
        let t = (j - i) as f64;
        tie_term += t * t * t - t;
        canary_rank_sum += mid_rank * all[i..j].iter().filter(|x| x.1).count() as f64;
        i = j;
    }
    let (nb, nc, n) = (nb as f64, nc as f64, n as f64);
    let u = canary_rank_sum - nc * (nc + 1.0) / 2.0;
    let mean = nb * nc / 2.0;
    let var = nb * nc / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)).max(1.0));
    let z = if var > 0.0 {
        let d = u - mean;
        let corrected = if d.abs() <= 0.5 { 0.0 } else { d - 0.5 * d.signum() };
        corrected / var.sqrt()
    } else {
        0.0
    };
    Some(MannWhitney { u, z })
}

/// The difference of two values that treats equal values (also two infinities) as no difference.
pub fn difference(a: f64, b: f64) -> f64 {
    if a == b { 0.0 } else { a - b }
}

/// The Hodges–Lehmann shift of `canary` against `baseline`: the median of all pairwise differences. `None` when
/// either sample is empty.
pub fn hodges_lehmann(baseline: &[f64], canary: &[f64]) -> Option<f64> {
    if baseline.is_empty() || canary.is_empty() {
        return None;
    }
    let mut diffs: Vec<f64> = canary.iter().flat_map(|&c| baseline.iter().map(move |&b| difference(c, b))).collect();
    Some(median(&mut diffs))
}

/// The median of a non-empty slice (the mean of the two middle values for an even length), reordering it.
pub fn median(xs: &mut [f64]) -> f64 {
    let n = xs.len();
    let mid = n / 2;
    let (_, upper, _) = xs.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return upper;
    }
    let lower = xs[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if lower == upper { upper } else { (lower + upper) / 2.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_tail() {
        for (z, p) in [(0.0, 0.5), (1.959_963_985, 0.025), (-1.644_853_627, 0.95), (3.090_232_306, 0.001)] {
            assert!((normal_upper_tail(z) - p).abs() < 1e-7 * p.max(1e-3) * 10.0, "{z}");
        }
        let far = normal_upper_tail(6.0);
        assert!((far / 9.865_876_45e-10 - 1.0).abs() < 1e-5, "{far}");
    }

    #[test]
    fn mann_whitney_counts_pairs() {
        let mw = mann_whitney(&[1.0, 2.0, 3.0], &[4.0, 5.0]).unwrap();
        assert_eq!(mw.u, 6.0, "every canary value beats every baseline value");
        let mw = mann_whitney(&[1.0, 2.0, 3.0], &[2.0]).unwrap();
        assert_eq!(mw.u, 1.5, "a tie counts a half");
        assert_eq!(mann_whitney(&[], &[1.0]), None);
        let same = mann_whitney(&[1.0; 5], &[1.0; 5]).unwrap();
        assert_eq!((same.u, same.z), (12.5, 0.0));
    }

    #[test]
    fn mann_whitney_z_matches_the_textbook() {
        // Two samples of 10 with no ties: mean 50, variance 10·10·21/12 = 175.
        let b: Vec<f64> = (0..10).map(f64::from).collect();
        let c: Vec<f64> = (0..10).map(|i| f64::from(i) + 5.5).collect();
        let mw = mann_whitney(&b, &c).unwrap();
        assert_eq!(mw.u, 90.0, "6 + 7 + 8 + 9 + 10 + 5·10 pairs");
        assert!((mw.z - 39.5 / 175f64.sqrt()).abs() < 1e-12);
        assert!(mw.p_greater() < 0.05 && mw.p_less() > 0.95);
    }

    #[test]
    fn hodges_lehmann_finds_the_shift() {
        let b = [1.0, 2.0, 3.0, 4.0];
        let c = [1.5, 2.5, 3.5, 4.5];
        assert_eq!(hodges_lehmann(&b, &c), Some(0.5));
        assert_eq!(hodges_lehmann(&b, &[]), None);
        let zero = f64::NEG_INFINITY;
        assert_eq!(hodges_lehmann(&[zero], &[zero]), Some(0.0), "two zeros in log space are equal");
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut [f64::INFINITY, f64::INFINITY]), f64::INFINITY);
    }
}
