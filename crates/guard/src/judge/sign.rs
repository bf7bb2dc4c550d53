//! The paired sign-test e-process of value metrics (notes §2.2).
//!
//! Owns: the closed-form e-value of a uniform prior on p ∈ [½, 1] against the coin p = ½,
//! E_n = 2^{n+1}·B(S+1, F+1)·[1 − I_{1/2}(S+1, F+1)] = Σ_{i≤S} C(n+1, i) / [(n+1)·C(n, S)], its running counts per
//! interval, and the trimmed e-value that leaves out the intervals with the most ones. Does not own: what makes a
//! sign a one (the value judge compares log ratios with the tolerance), thresholds, or verdicts.

/// ln E for S ones and F zeros: the evidence that P(one) > ½.
///
/// With t_i = C(n+1, i) / C(n, S), E = Σ_{i≤S} t_i / (n+1), t_S = (n+1)/(n+1−S) and t_{i−1} = t_i·i/(n+2−i): the
/// sum runs down from i = S in log space and stops once the terms, past their peak, fall below e^{−40} of it.
pub fn log_sign_e(ones: u64, zeros: u64) -> f64 {
    let n = ones + zeros;
    if n == 0 {
        return 0.0;
    }
    let n1 = (n + 1) as f64;
    let mut term = (n1 / (n1 - ones as f64)).ln();
    let (mut max, mut sum) = (term, 1.0);
    let mut i = ones;
    while i > 0 {
        term += (i as f64 / (n1 + 1.0 - i as f64)).ln();
        i -= 1;
        if term > max {
            sum = sum * (max - term).exp() + 1.0;
            max = term;
        } else {
            sum += (term - max).exp();
            if term < max - 40.0 {
                break;
            }
        }
    }
    max + sum.ln() - n1.ln()
}

/// Running sign counts, with the per-interval counts of ones kept for trimming.
#[derive(Clone, Debug, Default)]
pub struct SignProcess {
    pub ones: u64,
    pub zeros: u64,
    /// The `trim` largest per-interval counts of ones, largest first.
    top: Vec<u64>,
    trim: usize,
    /// ln E and its trimmed version, kept current by `update`.
    log_e: f64,
    log_e_trimmed: f64,
}

impl SignProcess {
    pub fn new(trim: usize) -> Self {
        Self { trim, ..Self::default() }
    }

    pub fn update(&mut self, ones: u64, zeros: u64) {
        self.ones += ones;
        self.zeros += zeros;
        if self.trim > 0 && ones > 0 {
            let at = self.top.partition_point(|&x| x >= ones);
            if at < self.trim {
                self.top.insert(at, ones);
                self.top.truncate(self.trim);
            }
        }
        self.log_e = log_sign_e(self.ones, self.zeros);
        self.log_e_trimmed =
            if self.trim == 0 { self.log_e } else { log_sign_e(self.ones - self.top.iter().sum::<u64>(), self.zeros) };
    }

    pub fn log_e(&self) -> f64 {
        self.log_e
    }

    /// ln E with the ones of the `trim` intervals richest in ones removed (their zeros kept). E grows with ones and
    /// falls with zeros, so this is never above `log_e`, and never above the e-process of the remaining intervals.
    pub fn log_e_trimmed(&self) -> f64 {
        self.log_e_trimmed
    }
}

impl super::EProcess for SignProcess {
    fn log_e(&self) -> f64 {
        SignProcess::log_e(self)
    }

    fn log_e_trimmed(&self) -> f64 {
        SignProcess::log_e_trimmed(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ln k!, exact by summation for small k and by Stirling's series beyond (error below 1e-10 there).
    fn ln_factorial(k: u64) -> f64 {
        if k < 10 {
            return (2..=k).map(|i| (i as f64).ln()).sum();
        }
        let x = k as f64 + 1.0;
        let inv = 1.0 / x;
        let inv2 = inv * inv;
        (x - 0.5) * x.ln() - x
            + 0.5 * (2.0 * std::f64::consts::PI).ln()
            + inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 / 1260.0))
    }

    /// 2^{n+1}·∫_{1/2}^{1} p^S (1−p)^F dp by the midpoint rule.
    fn numeric(ones: u64, zeros: u64) -> f64 {
        let steps = 200_000;
        let h = 0.5 / steps as f64;
        let integral: f64 = (0..steps)
            .map(|i| {
                let p = 0.5 + (i as f64 + 0.5) * h;
                p.powi(ones as i32) * (1.0 - p).powi(zeros as i32)
            })
            .sum::<f64>()
            * h;
        2f64.powi((ones + zeros + 1) as i32) * integral
    }

    #[test]
    fn recurrence_matches_the_binomial_sum() {
        let ln_choose = |n: u64, k: u64| ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k);
        for (s, f) in [(0, 5), (3, 2), (40, 200), (200, 40), (120, 120), (1000, 3)] {
            let n = s + f;
            let terms: Vec<f64> = (0..=s).map(|i| ln_choose(n + 1, i)).collect();
            let direct =
                super::super::mixture::log_sum_exp(terms.iter().copied()) - ((n + 1) as f64).ln() - ln_choose(n, s);
            assert!((log_sign_e(s, f) - direct).abs() < 1e-8 * direct.abs().max(1.0), "{s}/{f}");
        }
    }

    #[test]
    fn closed_form_matches_the_integral() {
        for (s, f) in [(0, 0), (1, 0), (0, 1), (3, 2), (10, 1), (7, 9), (20, 4)] {
            let closed = log_sign_e(s, f).exp();
            let direct = numeric(s, f);
            assert!((closed - direct).abs() < 1e-6 * direct.max(1.0), "{s}/{f}: {closed} vs {direct}");
        }
    }

    #[test]
    fn stirling_joins_the_exact_sum() {
        for k in [10u64, 11, 40, 300] {
            let exact: f64 = (2..=k).map(|i| (i as f64).ln()).sum();
            assert!((ln_factorial(k) - exact).abs() < 1e-9 * exact, "{k}");
        }
        assert_eq!(ln_factorial(0), 0.0);
        assert_eq!(ln_factorial(1), 0.0);
    }

    #[test]
    fn two_hundred_needs_at_least_eleven_steps() {
        // Notes §2.2: E ≥ 200 needs ≥ 11 steps, all ones.
        assert!(log_sign_e(10, 0) < 200f64.ln());
        assert!(log_sign_e(11, 0) >= 200f64.ln());
    }

    #[test]
    fn evidence_moves_with_the_signs() {
        assert!(log_sign_e(6, 4) < log_sign_e(7, 4));
        assert!(log_sign_e(7, 5) < log_sign_e(7, 4));
        assert!(log_sign_e(50, 50) < 0.0, "a fair coin gathers no evidence");
    }

    #[test]
    fn trimming_removes_the_richest_interval() {
        let mut p = SignProcess::new(1);
        p.update(4, 0);
        p.update(1, 3);
        p.update(2, 2);
        assert_eq!((p.ones, p.zeros), (7, 5));
        assert_eq!(p.log_e_trimmed(), log_sign_e(3, 5));
        assert!(p.log_e_trimmed() <= p.log_e());
    }
}
