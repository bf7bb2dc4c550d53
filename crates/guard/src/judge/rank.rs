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

/// The Hodges–Lehmann shift of `canary` against `baseline`: the median of all pairwise differences (as
/// [`difference`] takes them). `None` when either sample is empty.
///
/// The n·m differences are never listed: a run's summary takes the shift over every step of the run, and a week of
/// 15-s steps would need 13 GB for them. The k-th smallest difference is found by bisecting over the floats
/// themselves (at most 64 halvings of their ordered bit patterns), counting the differences at or below a candidate
/// in one merge-like pass over both sorted samples: O((n + m) log(n + m)) time and O(n + m) memory.
pub fn hodges_lehmann(baseline: &[f64], canary: &[f64]) -> Option<f64> {
    if baseline.is_empty() || canary.is_empty() {
        return None;
    }
    let pairs = Differences::new(baseline, canary);
    let count = pairs.b.len() as u64 * pairs.c.len() as u64;
    let upper = pairs.nth(count / 2);
    if count % 2 == 1 {
        return Some(upper);
    }
    let lower = pairs.nth(count / 2 - 1);
    Some(if lower == upper { upper } else { (lower + upper) / 2.0 })
}

/// Stands in for ±∞ while counting: IEEE subtraction would make ∞ − ∞ a NaN where [`difference`] makes it 0, and
/// ±`INFINITE` − ±`INFINITE` is 0 too. Any finite log value is within ±745 of 0, so a difference beyond `INFINITE / 2`
/// involves a stand-in and means ±∞.
const INFINITE: f64 = 1e300;

/// All differences c − b of two samples, implicitly: both sorted, infinities replaced by [`INFINITE`].
struct Differences {
    b: Vec<f64>,
    c: Vec<f64>,
}

impl Differences {
    fn new(baseline: &[f64], canary: &[f64]) -> Self {
        let sorted = |xs: &[f64]| {
            let mut xs: Vec<f64> = xs.iter().map(|x| x.clamp(-INFINITE, INFINITE)).collect();
            xs.sort_by(f64::total_cmp);
            xs
        };
        Self { b: sorted(baseline), c: sorted(canary) }
    }

    /// How many differences are at most `t`. For each c (ascending), the differences c − b at most `t` are those
    /// with b at or above a bound that only rises with c (rounding is monotone), so one pointer walks b once.
    fn at_most(&self, t: f64) -> u64 {
        let (mut from, mut count) = (0, 0);
        for &c in &self.c {
            while from < self.b.len() && c - self.b[from] > t {
                from += 1;
            }
            count += (self.b.len() - from) as u64;
        }
        count
    }

    /// The k-th smallest difference, from 0: the smallest float t with more than k differences at or below it,
    /// which is a difference itself.
    fn nth(&self, k: u64) -> f64 {
        let (mut low, mut high) =
            (order(self.c[0] - self.b[self.b.len() - 1]), order(self.c[self.c.len() - 1] - self.b[0]));
        // Invariant: more than k differences at or below `high`; at most k strictly below `low`.
        while low < high {
            let mid = low + (high - low) / 2;
            if self.at_most(unorder(mid)) > k { high = mid } else { low = mid + 1 }
        }
        let t = unorder(high) + 0.0; // −0 and +0 count alike; report +0
        if t.abs() > INFINITE / 2.0 { t.signum() * f64::INFINITY } else { t }
    }
}

/// A float's place in the order of all floats, as an integer: −∞ < … < −0 < +0 < … < +∞. NaNs fall outside the
/// range between two differences, so bisection never meets one.
fn order(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 { !bits } else { bits | 1 << 63 }
}

fn unorder(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 { key & !(1 << 63) } else { !key })
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

    /// The median of all n·m differences, listed.
    fn listed_hodges_lehmann(baseline: &[f64], canary: &[f64]) -> f64 {
        let mut diffs: Vec<f64> =
            canary.iter().flat_map(|&c| baseline.iter().map(move |&b| difference(c, b))).collect();
        median(&mut diffs)
    }

    #[test]
    fn hodges_lehmann_without_listing_matches_the_listed_median() {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Log values with ties, zeros (−∞) and +∞, samples of odd and even sizes.
        let special = [f64::NEG_INFINITY, f64::INFINITY, 0.0, -0.0, 1.5];
        for trial in 0..400 {
            let mut sample = || -> Vec<f64> {
                let n = 1 + (next() % 9) as usize;
                (0..n)
                    .map(|_| match next() % 10 {
                        0 if trial % 3 == 0 => special[(next() % 5) as usize],
                        1..=3 => ((next() % 7) as f64 - 3.0) / 4.0,
                        _ => (next() % 1_000_000) as f64 / 1e5 - 5.0,
                    })
                    .collect()
            };
            let (b, c) = (sample(), sample());
            let (fast, listed) = (hodges_lehmann(&b, &c).unwrap(), listed_hodges_lehmann(&b, &c));
            assert!(fast == listed || (fast.is_nan() && listed.is_nan()), "{b:?} {c:?}: {fast} against {listed}");
        }
    }

    #[test]
    fn hodges_lehmann_of_a_week_of_steps_fits_in_memory() {
        // 40,320 values a group (7 days of 15-s steps): 1.6e9 differences, 13 GB listed.
        let b: Vec<f64> = (0..40_320).map(|i| f64::from(i % 1000) / 1000.0).collect();
        let c: Vec<f64> = b.iter().map(|x| x + 0.25).collect();
        assert_eq!(hodges_lehmann(&b, &c), Some(0.25));
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut [f64::INFINITY, f64::INFINITY]), f64::INFINITY);
    }
}
