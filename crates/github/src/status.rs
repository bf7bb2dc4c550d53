//! Commit statuses as greenlight posts them: the [`StatusState`] a verdict maps to ([`state_for`]) and the one-line
//! description that sums a report up within GitHub's 140 characters ([`describe`]).
//!
//! This module owns the wording of that line and the bound on its length. It deliberately decides nothing: the
//! verdict comes from the report, and sending the status is [`crate::api`]'s job.

use std::fmt;

use greenlight_core::{CheckResult, Outcome, Report, Severity, Verdict};
use serde::{Deserialize, Serialize};

/// GitHub rejects a longer status description.
pub const MAX_DESCRIPTION_CHARS: usize = 140;

/// The `state` of a commit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusState {
    /// Checking has started.
    Pending,
    Success,
    /// The gate says no.
    Failure,
    /// The gate could not decide.
    Error,
}

impl StatusState {
    /// The name GitHub uses.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        }
    }

    /// The state named `name` ([`Self::as_str`] backwards).
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Pending, Self::Success, Self::Failure, Self::Error].into_iter().find(|state| state.as_str() == name)
    }
}

impl fmt::Display for StatusState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The final state for a verdict: pass → success, fail → failure, error → error.
pub fn state_for(verdict: Verdict) -> StatusState {
    match verdict {
        Verdict::Pass => StatusState::Success,
        Verdict::Fail => StatusState::Failure,
        Verdict::Error => StatusState::Error,
    }
}

/// A one-line summary of the report for a status description, at most [`MAX_DESCRIPTION_CHARS`] characters, e.g.
/// "2 problems: 1 commit without an issue key, 1 issue not ready", "all 6 checks pass" or
/// "could not check: tracker unreachable".
pub fn describe(report: &Report) -> String {
    let text = match report.verdict {
        Verdict::Fail => problems(report),
        Verdict::Error => could_not_check(report),
        Verdict::Pass => passed(report),
    };
    fit_description(&text)
}

/// Makes any text a valid description: whitespace (newlines included) collapsed to single spaces, and cut with
/// "…" to at most [`MAX_DESCRIPTION_CHARS`]. The bound holds whether characters are counted as code points or as
/// UTF-16 units, so it is safe however GitHub counts.
pub fn fit_description(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&line, MAX_DESCRIPTION_CHARS)
}

/// Cuts `text` at a character boundary so that it is at most `max` UTF-16 units (so at most `max` characters)
/// long, ending in "…" when anything was cut.
fn truncate(text: &str, max: usize) -> String {
    if text.encode_utf16().count() <= max {
        return text.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    // Room for the ellipsis, which is one unit.
    let room = max - 1;
    let mut used = 0;
    let mut cut = 0;
    for (index, c) in text.char_indices() {
        if used + c.len_utf16() > room {
            break;
        }
        used += c.len_utf16();
        cut = index + c.len_utf8();
    }
    let mut out = text[..cut].trim_end().to_owned();
    out.push('…');
    out
}

fn problems(report: &Report) -> String {
    // Deny findings per code, most frequent first, ties in the order the report lists them.
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for finding in report.findings().filter(|f| f.severity == Severity::Deny) {
        match counts.iter_mut().find(|(code, _)| *code == finding.code) {
            Some((_, n)) => *n += 1,
            None => counts.push((&finding.code, 1)),
        }
    }
    counts.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    let total: usize = counts.iter().map(|(_, n)| n).sum();
    let mut text = if total == 0 {
        // A check failed without saying why in a finding; name it.
        let failed: Vec<&str> = ids(report, Outcome::Fail).collect();
        format!("failed: {}", failed.join(", "))
    } else {
        let parts: Vec<String> = counts.iter().map(|&(code, n)| phrase(code, n)).collect();
        format!("{total} {}: {}", plural(total, "problem", "problems"), parts.join(", "))
    };
    let undecided = ids(report, Outcome::Error).count();
    if undecided > 0 {
        text.push_str(&format!("; {undecided} {} could not run", plural(undecided, "check", "checks")));
    }
    text
}

fn could_not_check(report: &Report) -> String {
    let reasons: Vec<&str> = report.checks.iter().filter(|c| c.outcome == Outcome::Error).map(reason).collect();
    if reasons.is_empty() { "could not check".to_owned() } else { format!("could not check: {}", reasons.join("; ")) }
}

fn reason(check: &CheckResult) -> &str {
    if check.summary.trim().is_empty() { &check.id } else { &check.summary }
}

fn passed(report: &Report) -> String {
    let ran = report.checks.iter().filter(|c| c.outcome != Outcome::Skipped).count();
    let skipped = report.checks.len() - ran;
    let warnings = report.findings().filter(|f| f.severity == Severity::Warn).count();
    let mut text = match ran {
        0 => "no checks ran".to_owned(),
        1 => "1 check passes".to_owned(),
        n => format!("all {n} checks pass"),
    };
    if skipped > 0 {
        text.push_str(&format!(" ({skipped} skipped)"));
    }
    if warnings > 0 {
        text.push_str(&format!(", {warnings} {}", plural(warnings, "warning", "warnings")));
    }
    text
}

fn ids(report: &Report, outcome: Outcome) -> impl Iterator<Item = &str> {
    report.checks.iter().filter(move |c| c.outcome == outcome).map(|c| c.id.as_str())
}

/// "1 commit without an issue key", "3 issues not ready"; a code without a phrase is shown as itself.
fn phrase(code: &str, n: usize) -> String {
    let (one, many) = match code {
        "commit-without-key" => ("commit without an issue key", "commits without an issue key"),
        "rollback" => ("rollback", "rollbacks"),
        "issue-not-found" => ("unknown issue", "unknown issues"),
        "issue-wrong-status" => ("issue not ready", "issues not ready"),
        "issue-field-missing" => ("issue field missing", "issue fields missing"),
        "issue-field-invalid" => ("invalid issue field", "invalid issue fields"),
        "ready-issue-not-in-deploy" => ("ready issue not in the deploy", "ready issues not in the deploy"),
        other => return format!("{n} {other}"),
    };
    format!("{n} {}", plural(n, one, many))
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenlight_core::Finding;
    use proptest::prelude::*;

    fn deny(code: &str) -> Finding {
        Finding::new(code, Severity::Deny, "subject", "message")
    }

    fn warn(code: &str) -> Finding {
        Finding::new(code, Severity::Warn, "subject", "message")
    }

    fn found(id: &str, findings: Vec<Finding>) -> CheckResult {
        CheckResult::from_findings(id, format!("{id} summary"), findings)
    }

    fn report(checks: Vec<CheckResult>) -> Report {
        Report::new("f".repeat(40), "t".repeat(40), checks, vec![])
    }

    fn check(checks: Vec<CheckResult>, expect: &str) {
        assert_eq!(describe(&report(checks)), expect);
    }

    #[test]
    fn problems_are_counted_by_code_most_frequent_first() {
        check(
            vec![
                found("commit-keys", vec![deny("commit-without-key")]),
                found("issue-status", vec![deny("issue-wrong-status")]),
            ],
            "2 problems: 1 commit without an issue key, 1 issue not ready",
        );
        check(
            vec![
                found("ancestry", vec![deny("rollback")]),
                found("commit-keys", vec![deny("commit-without-key"), deny("commit-without-key")]),
                found("issue-exists", vec![deny("issue-not-found"), warn("issue-not-found")]),
            ],
            "4 problems: 2 commits without an issue key, 1 rollback, 1 unknown issue",
        );
        check(
            vec![found(
                "issue-fields",
                vec![
                    deny("issue-field-missing"),
                    deny("issue-field-invalid"),
                    deny("issue-field-invalid"),
                    deny("issue-field-missing"),
                    deny("custom-thing"),
                ],
            )],
            "5 problems: 2 issue fields missing, 2 invalid issue fields, 1 custom-thing",
        );
        check(
            vec![found("ready-issues", vec![deny("ready-issue-not-in-deploy")])],
            "1 problem: 1 ready issue not in the deploy",
        );
    }

    #[test]
    fn a_failure_also_mentions_checks_that_could_not_run() {
        check(
            vec![
                found("commit-keys", vec![deny("commit-without-key")]),
                CheckResult::error("issue-exists", "tracker unreachable"),
            ],
            "1 problem: 1 commit without an issue key; 1 check could not run",
        );
    }

    #[test]
    fn a_failure_without_findings_names_the_check() {
        let failed =
            CheckResult { id: "ancestry".into(), outcome: Outcome::Fail, summary: "no".into(), findings: vec![] };
        check(vec![failed], "failed: ancestry");
    }

    #[test]
    fn errors_say_why() {
        check(
            vec![found("commit-keys", vec![]), CheckResult::error("issue-exists", "tracker unreachable")],
            "could not check: tracker unreachable",
        );
        check(
            vec![CheckResult::error("issue-exists", "tracker\nunreachable"), CheckResult::error("issue-status", "  ")],
            "could not check: tracker unreachable; issue-status",
        );
    }

    #[test]
    fn passes_count_the_checks_that_ran() {
        let passing = |n: usize| (0..n).map(|i| found(&format!("c{i}"), vec![])).collect::<Vec<_>>();
        check(passing(6), "all 6 checks pass");
        check(passing(1), "1 check passes");
        check(vec![], "no checks ran");
        let mut some = passing(3);
        some.push(CheckResult::skipped("issue-exists", "offline"));
        some.push(found("ready-issues", vec![warn("ready-issue-not-in-deploy")]));
        check(some, "all 4 checks pass (1 skipped), 1 warning");
    }

    #[test]
    fn long_descriptions_are_cut_with_an_ellipsis() {
        let codes: Vec<Finding> = (0..40).map(|i| deny(&format!("code-number-{i}"))).collect();
        let text = describe(&report(vec![found("many", codes)]));
        assert_eq!(text.chars().count(), MAX_DESCRIPTION_CHARS, "{text}");
        assert!(text.starts_with("40 problems: 1 code-number-0, 1 code-number-1"), "{text}");
        assert!(text.ends_with('…'), "{text}");
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo wörld", 6), "héllo…");
        assert_eq!(truncate("ééééé", 3), "éé…");
        // An emoji is two UTF-16 units: it does not fit in the one unit left before the ellipsis.
        assert_eq!(truncate("ab😀cd", 4), "ab…");
        assert_eq!(truncate("abc", 0), "");
        assert_eq!(fit_description("a\n\tb  c"), "a b c");
    }

    #[test]
    fn states_follow_the_verdict() {
        assert_eq!(state_for(Verdict::Pass), StatusState::Success);
        assert_eq!(state_for(Verdict::Fail), StatusState::Failure);
        assert_eq!(state_for(Verdict::Error), StatusState::Error);
        assert_eq!(serde_json::to_value(StatusState::Pending).unwrap(), "pending");
        assert_eq!(StatusState::Failure.to_string(), "failure");
    }

    fn any_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z-]{0,40}",
            "\\PC{0,200}",
            Just("commit-without-key".to_owned()),
            Just("issue-wrong-status".to_owned()),
            ".{0,400}",
        ]
    }

    fn any_check() -> impl Strategy<Value = CheckResult> {
        let finding = (any_text(), prop_oneof![Just(Severity::Deny), Just(Severity::Warn)])
            .prop_map(|(code, severity)| Finding::new(&code, severity, "s", "m"));
        let outcome = prop_oneof![
            Just(Outcome::Pass),
            Just(Outcome::Warn),
            Just(Outcome::Fail),
            Just(Outcome::Error),
            Just(Outcome::Skipped),
        ];
        (any_text(), outcome, any_text(), prop::collection::vec(finding, 0..30))
            .prop_map(|(id, outcome, summary, findings)| CheckResult { id, outcome, summary, findings })
    }

    proptest! {
        #[test]
        fn descriptions_always_fit(checks in prop::collection::vec(any_check(), 0..12)) {
            let text = describe(&report(checks));
            prop_assert!(text.chars().count() <= MAX_DESCRIPTION_CHARS, "{}", text);
            prop_assert!(text.encode_utf16().count() <= MAX_DESCRIPTION_CHARS, "{}", text);
            prop_assert!(!text.contains('\n'));
        }

        #[test]
        fn fitting_keeps_short_lines_and_cuts_long_ones(text in "\\PC{0,300}") {
            let fitted = fit_description(&text);
            prop_assert!(fitted.encode_utf16().count() <= MAX_DESCRIPTION_CHARS);
            let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if line.encode_utf16().count() <= MAX_DESCRIPTION_CHARS {
                prop_assert_eq!(fitted, line);
            } else {
                let kept = fitted.strip_suffix('…').unwrap();
                prop_assert!(line.starts_with(kept));
            }
        }
    }
}
