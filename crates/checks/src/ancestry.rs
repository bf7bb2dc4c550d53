//! `ancestry`: the deploy must contain production's tip, or it would roll commits back.
//!
//! Reads `Contents::rolled_back` (the commits in `to..from`). Finding: `rollback` (deny), one per run, whose
//! subject is production's tip. Documented in `docs/checks/ancestry.md`.

pub mod cfg;

use std::fmt::Write as _;

use greenlight_core::{Check, CheckContext, CheckResult, Finding, Severity};

use crate::config::Invalid;

pub const ID: &str = "ancestry";

#[derive(Debug, Clone)]
pub struct Ancestry {
    cfg: cfg::ValidConfig,
}

impl Ancestry {
    pub(crate) fn new(cfg: cfg::Config) -> Result<Self, Invalid> {
        Ok(Self { cfg: cfg.validate()? })
    }

    pub fn enabled(&self) -> bool {
        self.cfg.enabled
    }
}

impl Check for Ancestry {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &CheckContext<'_>) -> CheckResult {
        let production = short(&ctx.contents.from);
        let rolled_back = &ctx.contents.rolled_back;
        if rolled_back.is_empty() {
            return CheckResult::from_findings(
                ID,
                format!("the deploy contains production's tip {production}"),
                vec![],
            );
        }
        let n = rolled_back.len();
        let commits = if n == 1 { "1 commit".to_owned() } else { format!("{n} commits") };
        let mut message =
            format!("the deploy does not contain production's tip {production}: it would roll back {commits}: ");
        for (i, commit) in rolled_back.iter().take(self.cfg.list).enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(message, "{sep}{} {:?}", commit.short_sha(), commit.subject);
        }
        if n > self.cfg.list {
            let _ = write!(message, " and {} more", n - self.cfg.list);
        }
        let finding = Finding::new("rollback", Severity::Deny, ctx.contents.from.clone(), message);
        CheckResult::from_findings(
            ID,
            format!("the deploy would roll back {commits} that production runs"),
            vec![finding],
        )
    }
}

fn short(sha: &str) -> &str {
    sha.get(..10).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenlight_core::{Commit, Contents, Outcome};

    fn commit(i: usize) -> Commit {
        Commit {
            sha: format!("{i:0<40}"),
            author: "Ada".into(),
            email: "ada@example.com".into(),
            time: "2024-01-01T00:00:00+00:00".into(),
            subject: format!("AB-{i} hotfix"),
            message: format!("AB-{i} hotfix"),
            keys: vec![],
            merge: false,
        }
    }

    fn check(rolled_back: usize, list: usize, expect: Option<&str>) {
        let rolled_back: Vec<Commit> = (1..=rolled_back).map(commit).collect();
        let contents = Contents::assemble("f".repeat(40), "t".repeat(40), vec![]).rolling_back(rolled_back);
        let cfg = cfg::Config { list: toml::Spanned::new(0..0, list), ..Default::default() };
        let result =
            Ancestry::new(cfg).unwrap().run(&CheckContext { contents: &contents, tracker: Default::default() });
        match expect {
            None => {
                assert_eq!(result.outcome, Outcome::Pass);
                assert!(result.findings.is_empty());
            }
            Some(message) => {
                assert_eq!(result.outcome, Outcome::Fail);
                assert_eq!(result.findings.len(), 1);
                assert_eq!(result.findings[0].code, "rollback");
                assert_eq!(result.findings[0].subject, "f".repeat(40));
                assert_eq!(result.findings[0].message, message);
            }
        }
    }

    #[test]
    fn contains_production() {
        check(0, 5, None);
    }

    #[test]
    fn names_the_first_few_rolled_back_commits() {
        check(
            1,
            5,
            Some(
                "the deploy does not contain production's tip ffffffffff: it would roll back 1 commit: 1000000000 \"AB-1 hotfix\"",
            ),
        );
        check(
            4,
            2,
            Some(
                "the deploy does not contain production's tip ffffffffff: it would roll back 4 commits: 1000000000 \"AB-1 hotfix\", 2000000000 \"AB-2 hotfix\" and 2 more",
            ),
        );
    }
}
