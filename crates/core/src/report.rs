//! The report: every check's result and the verdict they add up to.
//!
//! Owns: `Report`, `Verdict` and the exit-code mapping of the CLI interface. Does not own: rendering (see `render`)
//! or delivery to sinks.

use serde::{Deserialize, Serialize};

use crate::check::{CheckResult, Outcome};

/// The gate's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    /// At least one deny-level finding.
    Fail,
    /// No deny-level finding, but some check could not decide.
    Error,
}

impl Verdict {
    /// `0` pass, `1` the gate says no, `2` could not decide.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Error => 2,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub verdict: Verdict,
    pub from: String,
    pub to: String,
    pub checks: Vec<CheckResult>,
}

impl Report {
    /// A deny-level finding is a definite "no" and wins over a check that could not decide: the person reading the
    /// report has something to fix either way, and a retry cannot turn a deny into a pass.
    pub fn new(from: String, to: String, checks: Vec<CheckResult>) -> Self {
        let verdict = if checks.iter().any(|c| c.outcome == Outcome::Fail) {
            Verdict::Fail
        } else if checks.iter().any(|c| c.outcome == Outcome::Error) {
            Verdict::Error
        } else {
            Verdict::Pass
        };
        Self {
            verdict,
            from,
            to,
            checks,
        }
    }

    pub fn findings(&self) -> impl Iterator<Item = &crate::check::Finding> {
        self.checks.iter().flat_map(|c| c.findings.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(outcomes: &[Outcome], expect: Verdict) {
        let checks = outcomes
            .iter()
            .map(|&outcome| CheckResult {
                id: "c".into(),
                outcome,
                summary: String::new(),
                findings: vec![],
            })
            .collect();
        assert_eq!(
            Report::new("f".into(), "t".into(), checks).verdict,
            expect,
            "{outcomes:?}"
        );
    }

    #[test]
    fn verdict_from_outcomes() {
        check(&[], Verdict::Pass);
        check(&[Outcome::Pass, Outcome::Warn, Outcome::Skipped], Verdict::Pass);
        check(&[Outcome::Pass, Outcome::Error], Verdict::Error);
        check(&[Outcome::Error, Outcome::Fail], Verdict::Fail);
        assert_eq!(Verdict::Fail.exit_code(), 1);
        assert_eq!(Verdict::Error.exit_code(), 2);
    }
}
