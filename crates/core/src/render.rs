//! Text renderings of contents and reports for people: `human` (a terminal, optionally in colour) and `markdown`
//! (a GitHub job summary or pull-request comment).
//!
//! Owns: layout and escaping. Does not own: deciding whether the output is a terminal (the binary does) or JSON
//! (that is serde on the values themselves).

use std::borrow::Cow;
use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

use crate::check::{CheckResult, Outcome, Severity};
use crate::contents::Contents;
use crate::report::{Report, ReportIssue, Verdict};

/// How many findings per check the Markdown lists before it says how many more there are. GitHub caps a job
/// summary at 1 MiB, and nobody reads the 500th line.
const MARKDOWN_FINDINGS_PER_CHECK: usize = 50;

/// Applies ANSI styles when colour is on, and nothing otherwise.
#[derive(Clone, Copy, Debug)]
struct Paint {
    color: bool,
}

impl Paint {
    fn paint(self, style: Style, text: &str) -> String {
        if self.color { format!("{}{text}{}", style.render(), style.render_reset()) } else { text.to_owned() }
    }

    fn fg(self, color: AnsiColor, text: &str) -> String {
        self.paint(Style::new().fg_color(Some(color.into())), text)
    }

    fn bold(self, color: AnsiColor, text: &str) -> String {
        self.paint(Style::new().bold().fg_color(Some(color.into())), text)
    }

    fn dim(self, text: &str) -> String {
        self.paint(Style::new().dimmed(), text)
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn short(sha: &str) -> &str {
    sha.get(..10).unwrap_or(sha)
}

/// A finding's subject as shown: a commit's sha shortened, anything else (an issue key, a file, a secret's name)
/// whole, since `PLATFORM-1234` cut short is another issue.
fn subject(subject: &str) -> &str {
    let sha = matches!(subject.len(), 40 | 64) && subject.bytes().all(|b| b.is_ascii_hexdigit());
    if sha { short(subject) } else { subject }
}

/// Whether a character is shown escaped rather than printed: the control characters (C0, DEL and C1: escape
/// sequences, carriage returns, bells), and the invisible marks that reorder a line (bidirectional embeddings,
/// overrides and isolates), which would let text from a repository or a tracker redraw or disguise what a terminal
/// shows.
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Writes a hidden character as Rust's `{:?}` does: `\t`, `\r`, `\n`, `\0`, or `\u{1b}`.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        '\n' => out.push_str("\\n"),
        '\0' => out.push_str("\\0"),
        _ => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
}

/// Text from a repository or a tracker (a subject, an author, an issue's summary, a finding's message) as it may be
/// printed: every control character and bidirectional mark escaped as Rust's `{:?}` escapes it (`\u{1b}`, `\r`),
/// so that an escape sequence in a commit subject is shown, not obeyed; everything else as it is, quotes and
/// backslashes included. Every text rendering passes such text through here.
pub fn escape_control(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hidden(c) { push_escaped(&mut out, c) } else { out.push(c) }
    }
    Cow::Owned(out)
}

/// Text inside a Markdown code span, which shows everything literally but a backtick (which would end the span) and
/// a line break, and with its other hidden characters escaped as [`escape_control`] does.
fn code_span(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().filter(|c| *c != '`') {
        match c {
            '\n' | '\r' => out.push(' '),
            c if is_hidden(c) => push_escaped(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// One line that sums up a deploy's contents.
pub fn contents_summary(contents: &Contents) -> String {
    let mut line = plural(contents.commits.len(), "commit", "commits");
    let merges = contents.merge_count();
    if merges > 0 {
        let _ = write!(line, " ({})", plural(merges, "merge", "merges"));
    }
    let _ = write!(line, ", {}", plural(contents.issues.len(), "issue", "issues"));
    let without = contents.commits_without_key.len();
    if without > 0 {
        let _ = write!(line, ", {} without a key", plural(without, "commit", "commits"));
    }
    let rolled_back = contents.rolled_back.len();
    if rolled_back > 0 {
        let _ = write!(line, "; rolls back {}", plural(rolled_back, "commit", "commits"));
    }
    line
}

/// One line per commit: sha, date, author, subject, and its keys (a merge is marked so, after its keys).
fn commit_lines(out: &mut String, commits: &[crate::contents::Commit], p: Paint) {
    for commit in commits {
        let keys: Vec<Cow<'_, str>> = commit.keys.iter().map(|k| escape_control(k.as_str())).collect();
        let tag = match (commit.merge, keys.is_empty()) {
            (true, true) => p.dim("merge"),
            (true, false) => format!("{} {}", p.fg(AnsiColor::Cyan, &keys.join(" ")), p.dim("merge")),
            (false, true) => p.bold(AnsiColor::Red, "no key"),
            (false, false) => p.fg(AnsiColor::Cyan, &keys.join(" ")),
        };
        let date = commit.time.get(..10).unwrap_or(&commit.time);
        let subject = escape_control(&commit.subject);
        let subject = if commit.merge { p.dim(&subject) } else { subject.into_owned() };
        let _ = writeln!(
            out,
            "  {} {} {}  {}  {}",
            p.fg(AnsiColor::Yellow, commit.short_sha()),
            date,
            escape_control(&commit.author),
            subject,
            tag
        );
    }
}

/// The contents of a deploy for a terminal: a summary line, the commits, then the issues.
pub fn contents_human(contents: &Contents, color: bool) -> String {
    let p = Paint { color };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}..{}: {}",
        p.bold(AnsiColor::White, "deploy"),
        short(&contents.from),
        short(&contents.to),
        contents_summary(contents)
    );
    let (from, to) = (short(&contents.from), short(&contents.to));
    if contents.commits.is_empty() && contents.rolled_back.is_empty() {
        let _ = writeln!(out, "\n  nothing to deploy: {from} already contains {to}");
        return out;
    }
    if !contents.commits.is_empty() {
        out.push('\n');
        commit_lines(&mut out, &contents.commits, p);
    }
    if !contents.rolled_back.is_empty() {
        let n = plural(contents.rolled_back.len(), "commit", "commits");
        let heading = format!("rolls back {n} that production ({from}) has and {to} lacks");
        let _ = writeln!(out, "\n{}", p.bold(AnsiColor::Red, &heading));
        commit_lines(&mut out, &contents.rolled_back, p);
    }
    if !contents.issues.is_empty() {
        let _ = writeln!(out, "\n{}", p.bold(AnsiColor::White, "issues"));
        for issue in &contents.issues {
            let _ = writeln!(
                out,
                "  {}  {}",
                p.fg(AnsiColor::Cyan, &escape_control(issue.key.as_str())),
                plural(issue.commits.len(), "commit", "commits")
            );
        }
    }
    out
}

fn outcome_mark(outcome: Outcome) -> (&'static str, AnsiColor) {
    match outcome {
        Outcome::Pass => ("✔", AnsiColor::Green),
        Outcome::Warn => ("!", AnsiColor::Yellow),
        Outcome::Fail => ("✖", AnsiColor::Red),
        Outcome::Error => ("?", AnsiColor::Magenta),
        Outcome::Skipped => ("-", AnsiColor::BrightBlack),
    }
}

fn severity_color(severity: Severity) -> AnsiColor {
    match severity {
        Severity::Deny => AnsiColor::Red,
        Severity::Warn => AnsiColor::Yellow,
        Severity::Info => AnsiColor::Blue,
    }
}

fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Error => "error",
    }
}

fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "pass",
        Outcome::Warn => "warn",
        Outcome::Fail => "fail",
        Outcome::Error => "error",
        Outcome::Skipped => "skipped",
    }
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Deny => "deny",
        Severity::Warn => "warn",
        Severity::Info => "info",
    }
}

/// A report for a terminal: the verdict first, then each check with its findings indented below it.
pub fn report_human(report: &Report, color: bool) -> String {
    let p = Paint { color };
    let verdict_color = match report.verdict {
        Verdict::Pass => AnsiColor::Green,
        Verdict::Fail => AnsiColor::Red,
        Verdict::Error => AnsiColor::Magenta,
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "greenlight: {}  {}..{}\n",
        p.bold(verdict_color, &verdict_word(report.verdict).to_uppercase()),
        short(&report.from),
        short(&report.to)
    );
    let width = report.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for check in &report.checks {
        let (mark, mark_color) = outcome_mark(check.outcome);
        let summary = escape_control(&check.summary);
        let _ = writeln!(out, "  {} {:width$}  {summary}", p.bold(mark_color, mark), check.id);
        for finding in &check.findings {
            let _ = writeln!(
                out,
                "      {} {}  {}  {}",
                p.fg(severity_color(finding.severity), severity_word(finding.severity)),
                p.dim(&finding.code),
                p.fg(AnsiColor::Yellow, &escape_control(subject(&finding.subject))),
                escape_control(&finding.message)
            );
        }
    }
    if !report.issues.is_empty() {
        let _ = writeln!(out, "\n{}", p.bold(AnsiColor::White, "issues"));
        for (issue, depth) in issue_tree(&report.issues) {
            let indent = "  ".repeat(depth + 1);
            let mut line = format!("{indent}{}", p.fg(AnsiColor::Cyan, &escape_control(issue.key.as_str())));
            if let Some(status) = &issue.status {
                let _ = write!(line, "  [{}]", escape_control(status));
            }
            if let Some(summary) = &issue.summary {
                let _ = write!(line, "  {}", escape_control(summary));
            }
            let _ = write!(line, "  {}", p.dim(&plural(issue.commits.len(), "commit", "commits")));
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

/// Escapes inline text so that GitHub Markdown shows it as written: no emphasis, code, links, HTML or table breaks,
/// and no mentions: GitHub links (and notifies) `@name` in rendered text whatever the escaping, so a zero-width space
/// follows each `@`. A line break is a space; any other hidden character is escaped as [`escape_control`] escapes
/// it, its backslash doubled so that Markdown shows it. (Block syntax such as `#` or `-` only acts at the start of a
/// line, and rendered text never starts one.)
pub fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '@' => out.push_str("@\u{200B}"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if is_hidden(c) => {
                out.push('\\');
                push_escaped(&mut out, c);
            }
            _ => out.push(c),
        }
    }
    out
}

fn markdown_mark(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "✅",
        Outcome::Warn => "⚠️",
        Outcome::Fail => "❌",
        Outcome::Error => "❓",
        Outcome::Skipped => "⏭️",
    }
}

/// A report as GitHub Markdown: a heading with the verdict, a table of checks, and the findings of each check that
/// has any, folded under `<details>`.
pub fn report_markdown(report: &Report) -> String {
    let mark = match report.verdict {
        Verdict::Pass => "✅",
        Verdict::Fail => "❌",
        Verdict::Error => "❓",
    };
    let mut out = String::new();
    let _ = writeln!(out, "### {mark} greenlight: {}\n", verdict_word(report.verdict));
    let _ = writeln!(out, "Deploy `{}..{}`\n", short(&report.from), short(&report.to));
    out.push_str("| check | outcome | summary |\n|---|---|---|\n");
    for check in &report.checks {
        let _ = writeln!(
            out,
            "| `{}` | {} {} | {} |",
            check.id,
            markdown_mark(check.outcome),
            outcome_word(check.outcome),
            markdown_escape(&check.summary)
        );
    }
    for check in report.checks.iter().filter(|c| !c.findings.is_empty()) {
        markdown_findings(&mut out, check);
    }
    if !report.issues.is_empty() {
        let _ = writeln!(out, "\n<details><summary>{}</summary>\n", plural(report.issues.len(), "issue", "issues"));
        for (issue, depth) in issue_tree(&report.issues) {
            let key = match &issue.url {
                Some(url) => format!("[{}]({})", markdown_escape(issue.key.as_str()), url.replace(')', "%29")),
                None => markdown_escape(issue.key.as_str()),
            };
            let status = issue.status.as_deref().map(|s| format!(" · {}", markdown_escape(s))).unwrap_or_default();
            let summary = issue.summary.as_deref().map(|s| format!(" {}", markdown_escape(s))).unwrap_or_default();
            let commits = plural(issue.commits.len(), "commit", "commits");
            let _ = writeln!(out, "{}- {key}{summary}{status} · {commits}", "  ".repeat(depth));
        }
        out.push_str("\n</details>\n");
    }
    out
}

/// Issues in display order: each top-level issue followed by its sub-tasks (depth 1). A sub-task whose parent is
/// not in the list stands at the top level.
fn issue_tree(issues: &[ReportIssue]) -> Vec<(&ReportIssue, usize)> {
    let is_listed = |key: &crate::IssueKey| issues.iter().any(|i| i.key == *key);
    let mut tree = Vec::with_capacity(issues.len());
    for issue in issues.iter().filter(|i| i.parent.as_ref().is_none_or(|p| !is_listed(p))) {
        tree.push((issue, 0));
        tree.extend(issues.iter().filter(|i| i.parent.as_ref() == Some(&issue.key)).map(|i| (i, 1)));
    }
    tree
}

fn markdown_findings(out: &mut String, check: &CheckResult) {
    let open = if check.outcome == Outcome::Fail { " open" } else { "" };
    let _ = writeln!(
        out,
        "\n<details{open}><summary><code>{}</code>: {}</summary>\n",
        check.id,
        plural(check.findings.len(), "finding", "findings")
    );
    for finding in check.findings.iter().take(MARKDOWN_FINDINGS_PER_CHECK) {
        let _ = writeln!(
            out,
            "- **{}** `{}` `{}`: {}",
            severity_word(finding.severity),
            finding.code,
            code_span(subject(&finding.subject)),
            markdown_escape(&finding.message)
        );
    }
    if check.findings.len() > MARKDOWN_FINDINGS_PER_CHECK {
        let _ = writeln!(out, "- … and {} more", check.findings.len() - MARKDOWN_FINDINGS_PER_CHECK);
    }
    out.push_str("\n</details>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Finding;

    fn check(input: &str, expect: &str) {
        assert_eq!(markdown_escape(input), expect);
    }

    #[test]
    fn markdown_escape_neutralises_markup() {
        check("fix *all* the [links](x)", r"fix \*all\* the \[links\](x)");
        check("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;");
        check("a_b `c` ~d~ 1.2-3", r"a\_b \`c\` \~d\~ 1.2-3");
        check("a | b\nc", r"a \| b c");
        check("ümlaut ✓", "ümlaut ✓");
        check("thanks @alice and @acme/ops", "thanks @\u{200B}alice and @\u{200B}acme/ops");
    }

    #[test]
    fn control_characters_are_shown_escaped_everywhere() {
        let check = |input: &str, expect: &str| assert_eq!(escape_control(input), expect, "{input:?}");
        check("plain \"text\" \\ ümlaut ✓", "plain \"text\" \\ ümlaut ✓");
        check("a\x1b[2K\rb\x1b[0m", r"a\u{1b}[2K\rb\u{1b}[0m");
        check("\x1b]0;title\x07", r"\u{1b}]0;title\u{7}");
        check("tab\tnew\nline\0 del\x7f c1\u{9b}", r"tab\tnew\nline\0 del\u{7f} c1\u{9b}");
        check("abc\u{202E}fed\u{2066}", r"abc\u{202e}fed\u{2066}");
        // The same escapes as `{:?}` inside its quotes.
        let hostile = "x\x1b[31m\ry\u{202e}";
        assert_eq!(format!("\"{}\"", escape_control(hostile)), format!("{hostile:?}"));
        assert_eq!(markdown_escape("a\x1b[2Kb"), r"a\\u{1b}\[2Kb");
        assert_eq!(code_span("a\x1b`b\r"), r"a\u{1b}b ");
    }

    fn report() -> Report {
        let findings = (0..60)
            .map(|i| Finding::new("commit-without-key", Severity::Deny, format!("{i:040}"), "names *no* key"))
            .collect();
        Report::new(
            "a".repeat(40),
            "b".repeat(40),
            vec![
                CheckResult::from_findings("ancestry", "contains production", vec![]),
                CheckResult::from_findings("commit-keys", "60 commits name no key", findings),
            ],
            vec![],
        )
    }

    #[test]
    fn markdown_report_caps_findings_and_escapes() {
        let md = report_markdown(&report());
        assert!(md.starts_with("### ❌ greenlight: fail\n"), "{md}");
        assert!(md.contains("| `commit-keys` | ❌ fail | 60 commits name no key |"), "{md}");
        assert!(md.contains(r"names \*no\* key"), "{md}");
        assert_eq!(md.matches("- **deny**").count(), MARKDOWN_FINDINGS_PER_CHECK);
        assert!(md.contains("- … and 10 more"), "{md}");
    }

    #[test]
    fn issues_are_grouped_under_their_parents() {
        let issue = |key: &str, parent: Option<&str>, commits: usize| ReportIssue {
            key: crate::IssueKey::new(key),
            summary: Some(format!("about {key}")),
            status: Some("In Review".into()),
            issue_type: Some("Story".into()),
            parent: parent.map(crate::IssueKey::new),
            url: Some(format!("https://x/browse/{key}")),
            commits: vec!["c".repeat(40); commits],
        };
        let mut report = report();
        report.issues = vec![issue("AB-1", None, 1), issue("AB-2", None, 0), issue("AB-3", Some("AB-2"), 2)];
        let human = report_human(&report, false);
        assert!(
            human.ends_with(
                "issues\n  AB-1  [In Review]  about AB-1  1 commit\n  AB-2  [In Review]  about AB-2  0 commits\n    AB-3  [In Review]  about AB-3  2 commits\n"
            ),
            "{human}"
        );
        let md = report_markdown(&report);
        assert!(
            md.contains("- [AB-2](https://x/browse/AB-2) about AB-2 · In Review · 0 commits\n  - [AB-3](https://x/browse/AB-3) about AB-3 · In Review · 2 commits\n"),
            "{md}"
        );
    }

    #[test]
    fn a_finding_names_an_issue_key_whole_and_a_commit_by_its_short_sha() {
        let findings = vec![
            Finding::new("issue-not-ready", Severity::Deny, "PLATFORM-1234", "is In Progress"),
            Finding::new("commit-without-key", Severity::Deny, "0123456789abcdef0123456789abcdef01234567", "no key"),
            Finding::new("issue-not-found", Severity::Deny, "XY_Z2-42", "does not exist"),
        ];
        let report = Report::new(
            "a".repeat(40),
            "b".repeat(40),
            vec![CheckResult::from_findings("issues", "3 problems", findings)],
            vec![],
        );
        let human = report_human(&report, false);
        assert!(human.contains("issue-not-ready  PLATFORM-1234  is In Progress"), "{human}");
        assert!(human.contains("commit-without-key  0123456789  no key"), "{human}");
        let md = report_markdown(&report);
        assert!(md.contains("`issue-not-ready` `PLATFORM-1234`: is In Progress"), "{md}");
        assert!(md.contains("`issue-not-found` `XY_Z2-42`: "), "no backslash inside a code span: {md}");
        assert!(md.contains("`commit-without-key` `0123456789`: "), "{md}");
    }

    #[test]
    fn human_report_has_colour_only_when_asked() {
        let plain = report_human(&report(), false);
        assert!(!plain.contains('\x1b'));
        assert!(plain.starts_with("greenlight: FAIL  aaaaaaaaaa..bbbbbbbbbb"), "{plain}");
        assert!(report_human(&report(), true).contains("\x1b["));
    }
}
