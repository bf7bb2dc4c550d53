//! The read-only deploy page at a status's `target_url`, and the same facts as JSON for the API.
//!
//! Every piece of commit and issue text reaches the page through askama's HTML escaping; nothing is marked safe.

use std::borrow::Cow;

use askama::Template;
use greenlight_core::{Commit, Contents, Report};
use greenlight_store::DeployRecord;
use serde::Serialize;

#[derive(Template)]
#[template(path = "deploy.html")]
struct DeployPage<'a> {
    record: &'a DeployRecord,
    context: &'a str,
    short_sha: &'a str,
    /// `pass`, `fail`, `error`; before the first report `checking`, or `superseded` once a newer push took its place.
    verdict: &'a str,
    /// The latest job was superseded by a newer push on the branch: no check is coming.
    superseded: bool,
    checked_at: String,
    checks: Vec<CheckView<'a>>,
    /// The first [`PAGE_ROWS`] of them.
    issues: Vec<IssueView<'a>>,
    issues_total: usize,
    /// The first [`PAGE_ROWS`] of them.
    commits: Vec<CommitView<'a>>,
    commits_total: usize,
    without_key: usize,
    /// What production runs that this deploy lacks: the first [`PAGE_ROWS`] of them.
    rolled_back: Vec<CommitView<'a>>,
    rolled_back_total: usize,
}

struct CheckView<'a> {
    id: &'a str,
    outcome: String,
    summary: &'a str,
    /// The first [`PAGE_ROWS`] of them.
    findings: Vec<FindingView<'a>>,
    findings_total: usize,
}

struct FindingView<'a> {
    code: &'a str,
    severity: String,
    message: Cow<'a, str>,
    subject: &'a str,
}

struct IssueView<'a> {
    key: String,
    summary: Cow<'a, str>,
    status: &'a str,
    url: Option<&'a str>,
    commits: usize,
}

struct CommitView<'a> {
    short: &'a str,
    subject: Cow<'a, str>,
    author: &'a str,
    time: &'a str,
    keys: String,
    merge: bool,
}

fn commit_view(commit: &Commit) -> CommitView<'_> {
    CommitView {
        short: short(&commit.sha),
        subject: cut(&commit.subject),
        author: &commit.author,
        time: &commit.time,
        keys: commit.keys.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        merge: commit.merge,
    }
}

/// The most commits, issues, and findings of one check, a page lists: a first deploy can hold a repository's whole history,
/// and a page of every one of its commits would take the server a second to render at each view. The API has all.
const PAGE_ROWS: usize = 1000;
/// The most characters of one subject or message a page shows.
const PAGE_TEXT_CHARS: usize = 500;

/// `text`, or its first [`PAGE_TEXT_CHARS`] characters and "…".
fn cut(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(PAGE_TEXT_CHARS) {
        Some((at, _)) => Cow::Owned(format!("{}…", &text[..at])),
        None => Cow::Borrowed(text),
    }
}

/// A serialized enum's name (`"pass"`, `"deny"`).
fn name(value: &impl Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn short(sha: &str) -> &str {
    sha.get(..10).unwrap_or(sha)
}

fn time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.to_string()).unwrap_or_default()
}

/// A stored report or contents that no longer parses is shown as missing rather than failing the page.
fn parsed<T: serde::de::DeserializeOwned>(json: Option<&str>) -> Option<T> {
    json.and_then(|json| serde_json::from_str(json).ok())
}

pub fn render(record: &DeployRecord, context: &str) -> Result<String, askama::Error> {
    let report: Option<Report> = parsed(record.report.as_deref());
    let contents: Option<Contents> = parsed(record.contents.as_deref());
    let checks = report.iter().flat_map(|r| &r.checks).map(|check| CheckView {
        id: &check.id,
        outcome: name(&check.outcome),
        summary: &check.summary,
        findings: check
            .findings
            .iter()
            .take(PAGE_ROWS)
            .map(|f| FindingView {
                code: &f.code,
                severity: name(&f.severity),
                message: cut(&f.message),
                subject: &f.subject,
            })
            .collect(),
        findings_total: check.findings.len(),
    });
    let issues = report.iter().flat_map(|r| &r.issues).take(PAGE_ROWS).map(|issue| IssueView {
        key: issue.key.to_string(),
        summary: cut(issue.summary.as_deref().unwrap_or_default()),
        status: issue.status.as_deref().unwrap_or_default(),
        url: issue.url.as_deref(),
        commits: issue.commits.len(),
    });
    let superseded = is_superseded(record);
    DeployPage {
        record,
        context,
        short_sha: short(&record.deploy.sha),
        verdict: verdict(record),
        superseded,
        checked_at: record.checked_at.map(time).unwrap_or_default(),
        checks: checks.collect(),
        issues: issues.collect(),
        issues_total: report.as_ref().map_or(0, |r| r.issues.len()),
        commits: contents.iter().flat_map(|c| &c.commits).take(PAGE_ROWS).map(commit_view).collect(),
        commits_total: contents.as_ref().map_or(0, |c| c.commits.len()),
        without_key: contents.as_ref().map_or(0, |c| c.commits_without_key.len()),
        rolled_back: contents.iter().flat_map(|c| &c.rolled_back).take(PAGE_ROWS).map(commit_view).collect(),
        rolled_back_total: contents.as_ref().map_or(0, |c| c.rolled_back.len()),
    }
    .render()
}

/// `pass`, `fail`, `error`; before the first report `checking`, or `superseded` once a newer push took its place.
fn verdict(record: &DeployRecord) -> &str {
    record.verdict.as_deref().unwrap_or(if is_superseded(record) { "superseded" } else { "checking" })
}

/// Whether the deploy's latest job was superseded by a newer push: it will not be checked unless asked again.
fn is_superseded(record: &DeployRecord) -> bool {
    record.job_state.as_deref() == Some("superseded")
}

/// `GET /`: each deploy branch with its head's verdict, linked to the head's page.
#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage<'a> {
    context: &'a str,
    heads: Vec<HeadView<'a>>,
}

struct HeadView<'a> {
    id: i64,
    repo: &'a str,
    branch: &'a str,
    short_sha: &'a str,
    verdict: &'a str,
    summary: &'a str,
    /// The final status posted, or what the commit waits for.
    status: &'a str,
}

pub fn index(heads: &[DeployRecord], context: &str) -> Result<String, askama::Error> {
    let heads = heads
        .iter()
        .map(|record| HeadView {
            id: record.deploy.id,
            repo: &record.deploy.repo,
            branch: &record.deploy.branch,
            short_sha: short(&record.deploy.sha),
            verdict: verdict(record),
            summary: record.summary.as_deref().unwrap_or_default(),
            status: record.final_state.as_deref().unwrap_or(if is_superseded(record) { "none" } else { "pending" }),
        })
        .collect();
    IndexPage { context, heads }.render()
}

/// `GET /api/deploys/{id}`: the deploy, its state, and its report as stored.
pub fn summary(record: &DeployRecord) -> serde_json::Value {
    let report: Option<serde_json::Value> = parsed(record.report.as_deref());
    serde_json::json!({
        "id": record.deploy.id,
        "repo": record.deploy.repo,
        "branch": record.deploy.branch,
        "sha": record.deploy.sha,
        "verdict": record.verdict,
        "summary": record.summary,
        "job_state": record.job_state,
        "superseded": is_superseded(record),
        // The deploy of the branch's latest push, which took this one's place.
        "superseded_by": if is_superseded(record) { record.head } else { None },
        "status": record.final_state,
        "checked_at": record.checked_at.map(time),
        "report": report,
    })
}

#[cfg(test)]
mod tests {
    use greenlight_core::KeyRules;
    use greenlight_store::DeployRef;

    use super::*;

    fn commit(sha: &str, message: &str) -> Commit {
        Commit {
            sha: sha.repeat(40),
            author: "Ada".into(),
            email: "ada@example.com".into(),
            time: "2024-01-02T03:04:05+00:00".into(),
            subject: message.into(),
            message: message.into(),
            keys: KeyRules::default().extract(message),
            merge: false,
        }
    }

    fn page(contents: &Contents) -> String {
        render(&record(Some(serde_json::to_string(contents).unwrap())), "greenlight/pre-deploy").unwrap()
    }

    fn record(contents: Option<String>) -> DeployRecord {
        DeployRecord {
            deploy: DeployRef {
                id: 7,
                repo: "acme/shop".into(),
                branch: "deploy".into(),
                sha: "d".repeat(40),
                clone_url: String::new(),
            },
            created_at: 0,
            checked_at: None,
            verdict: None,
            summary: None,
            report: None,
            contents,
            job_state: None,
            final_state: None,
            head: None,
        }
    }

    /// A deploy whose job a newer push superseded before it started gets no status and no check: its page and the
    /// API say so, instead of "checking" and "pending" for ever.
    #[test]
    fn a_superseded_deploy_says_so_instead_of_checking() {
        let record = DeployRecord { job_state: Some("superseded".into()), ..record(None) };
        let page = render(&record, "greenlight/pre-deploy").unwrap();
        assert!(page.contains(">superseded</span>") && page.contains("superseded by a newer push"), "{page}");
        assert!(!page.contains(">checking<") && !page.contains("pending"), "{page}");
        let json = summary(&record);
        assert_eq!(json["superseded"], true, "{json}");
        assert_eq!(summary(&self::record(None))["superseded"], false);
        // With the branch's newer deploy known, the page links to it.
        let record = DeployRecord { head: Some(9), ..record };
        let page = render(&record, "greenlight/pre-deploy").unwrap();
        assert!(page.contains(r#"superseded by a newer push (<a href="9">deploy 9</a>)"#), "{page}");
        assert_eq!(summary(&record)["superseded_by"], 9);
    }

    #[test]
    fn the_index_lists_each_branch_head_escaped() {
        let head = DeployRecord {
            deploy: DeployRef { repo: "acme/<shop>".into(), ..record(None).deploy },
            verdict: Some("pass".into()),
            final_state: Some("success".into()),
            ..record(None)
        };
        let page = index(&[head], "greenlight/pre-deploy").unwrap();
        assert!(page.contains("acme/&#60;shop&#62;") && !page.contains("<shop>"), "{page}");
        assert!(page.contains(r#"<a href="deploys/7"><code>dddddddddd</code></a>"#), "{page}");
        assert!(page.contains(r#"<span class="verdict pass">pass</span>"#) && page.contains("success"), "{page}");
        assert!(index(&[], "greenlight/pre-deploy").unwrap().contains("No push to a deploy branch"));
    }

    /// A first deploy can hold a repository's whole history: the page lists the first 1,000 commits and findings,
    /// says how many more the API has, and cuts a subject of any length.
    #[test]
    fn a_huge_deploy_is_listed_in_part_and_its_long_texts_cut() {
        use greenlight_core::{CheckResult, Finding, Severity};
        let long = format!("ABC-1 {}", "x".repeat(5000));
        let commits: Vec<Commit> = (0..1200)
            .map(|n| Commit { sha: format!("{n:040x}"), ..commit("a", if n == 0 { &long } else { "no key" }) })
            .collect();
        let findings = (0..1200)
            .map(|n| Finding::new("commit-without-key", Severity::Deny, format!("{n:040x}"), long.clone()))
            .collect();
        let check = CheckResult::from_findings("commit-keys", "1200 commits name no issue key", findings);
        let issues = (1..=1200)
            .map(|n| greenlight_core::ReportIssue {
                key: greenlight_core::IssueKey::new(format!("ABC-{n}")),
                summary: None,
                status: None,
                issue_type: None,
                parent: None,
                url: None,
                commits: Vec::new(),
            })
            .collect();
        let report = Report::new("p".into(), "d".into(), vec![check], issues);
        let contents = Contents::assemble("p".into(), "d".into(), commits);
        let record = DeployRecord {
            report: Some(serde_json::to_string(&report).unwrap()),
            ..record(Some(serde_json::to_string(&contents).unwrap()))
        };
        let page = render(&record, "greenlight/pre-deploy").unwrap();
        assert!(page.contains("<h2>Commits (1200, 1199 without an issue key)</h2>"), "{page}");
        assert!(
            page.contains(r#"The first 1000 are listed here; <a href="../api/deploys/7">the API</a> has all 1200."#)
        );
        assert!(page.contains("and 200 more findings"));
        assert!(page.contains("<h2>Issues (1200)</h2>") && page.contains("The first 1000 issues are listed here"));
        assert_eq!(page.matches("<tr><td><code>0000000000</code>").count(), 1000, "commit rows");
        assert_eq!(page.matches("<li><span class=\"severity-deny\">").count(), 1000, "finding rows");
        let shown = format!("ABC-1 {}…", "x".repeat(PAGE_TEXT_CHARS - 6));
        assert!(page.contains(&shown) && !page.contains(&"x".repeat(PAGE_TEXT_CHARS)), "a long subject is cut");
        assert!(page.len() < 2_000_000, "{} bytes", page.len());
    }

    #[test]
    fn the_page_lists_what_the_deploy_would_roll_back() {
        let contents = Contents::assemble("a".repeat(40), "d".repeat(40), vec![commit("c", "AB-3 new")])
            .rolling_back(vec![commit("b", "AB-2 <b>hotfix</b> in production"), commit("e", "AB-1 older")]);
        let page = page(&contents);
        assert!(page.contains("Would roll back (2: in production, not in this deploy)"), "{page}");
        assert!(page.contains("AB-2 &#60;b&#62;hotfix&#60;/b&#62; in production"), "{page}");
        assert!(page.contains("<code>bbbbbbbbbb</code>") && page.contains("<code>eeeeeeeeee</code>"), "{page}");
        let page = self::page(&Contents::assemble("a".repeat(40), "d".repeat(40), vec![commit("c", "AB-3 new")]));
        assert!(!page.contains("Would roll back"), "{page}");
    }
}
