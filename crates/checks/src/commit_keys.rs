//! `commit-keys`: every commit names an issue key, unless it is exempt (merges, fixups, reverts, or a configured
//! pattern).
//!
//! Finding: `commit-without-key` (deny), one per commit, whose subject is the commit's sha. The same rules judge a
//! message being written, for the commit-msg hook. Documented in `docs/checks/commit-keys.md`.

pub mod cfg;

use greenlight_core::{Check, CheckContext, CheckResult, Finding, KeyRules, Severity};

use crate::config::Invalid;

pub const ID: &str = "commit-keys";

/// The merge messages git and the forges write.
const MERGE_PREFIXES: &[&str] = &[
    "Merge branch ",
    "Merge branches ",
    "Merge remote-tracking branch ",
    "Merge remote-tracking branches ",
    "Merge pull request ",
    "Merge tag ",
    "Merge tags ",
    "Merge commit ",
    "Merge commits ",
];
const FIXUP_PREFIXES: &[&str] = &["fixup! ", "squash! ", "amend! "];
const REVERT_PREFIX: &str = "Revert \"";

#[derive(Debug, Clone)]
pub struct CommitKeys {
    cfg: cfg::ValidConfig,
}

/// Why a commit needs no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exemption {
    Merge,
    Fixup,
    Revert,
    Ignored,
}

/// What the commit-msg hook tells an author whose message names no key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// A subject the rules accept, if a usual spelling of a key passes them.
    example: Option<String>,
    /// The key patterns, shown when there is no example.
    patterns: Vec<String>,
    /// Where git keeps the message (the file it gave the hook), to start again from.
    kept_in: Option<String>,
}

impl Rejection {
    fn new(keys: &KeyRules) -> Self {
        Self { example: keys.example(), patterns: keys.patterns().map(str::to_owned).collect(), kept_in: None }
    }

    /// Names the file git gave the hook, which still holds the message.
    pub fn kept_in(self, path: &str) -> Self {
        Self { kept_in: Some(path.to_owned()), ..self }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "this commit message names no issue key.\n")?;
        match &self.example {
            Some(example) => writeln!(f, "Name the issue in the subject or the body, for example:\n\n    {example}\n")?,
            None => writeln!(
                f,
                "Name the issue in the subject or the body, as [keys] patterns in greenlight.toml find it: {}\n",
                self.patterns.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
            )?,
        }
        if let Some(path) = &self.kept_in {
            let quoted = shell_quoted(path);
            writeln!(f, "Your message was kept in {path}: `git commit -e -F {quoted}` edits it again.")?;
        }
        write!(
            f,
            "Merge, fixup!, squash! and Revert messages are exempt (see [checks.commit-keys] in greenlight.toml).\n\
             To commit without a key anyway: git commit --no-verify"
        )
    }
}

/// A path as a POSIX shell reads it back: as is when it is plain, else in single quotes.
fn shell_quoted(path: &str) -> String {
    if !path.is_empty() && path.bytes().all(|b| b.is_ascii_alphanumeric() || b"_./-+,:@".contains(&b)) {
        path.to_owned()
    } else {
        format!("'{}'", path.replace('\'', r"'\''"))
    }
}

impl CommitKeys {
    pub(crate) fn new(cfg: cfg::Config) -> Result<Self, Invalid> {
        Ok(Self { cfg: cfg.validate()? })
    }

    pub fn enabled(&self) -> bool {
        self.cfg.enabled
    }

    /// Why a commit with this message needs no key, if it does not. `merge`: it has more than one parent. Blank lines
    /// before the message are not part of it, as for git's subject: a recorded message and one being written (the
    /// hook) are judged alike.
    pub fn exemption(&self, message: &str, merge: bool) -> Option<Exemption> {
        let message = message.trim_start();
        let cfg = &self.cfg;
        if cfg.allow_merge && (merge || MERGE_PREFIXES.iter().any(|p| message.starts_with(p))) {
            Some(Exemption::Merge)
        } else if cfg.allow_fixup && FIXUP_PREFIXES.iter().any(|p| message.starts_with(p)) {
            Some(Exemption::Fixup)
        } else if cfg.allow_revert && message.starts_with(REVERT_PREFIX) {
            Some(Exemption::Revert)
        } else if cfg.ignore.iter().any(|re| re.is_match(message)) {
            Some(Exemption::Ignored)
        } else {
            None
        }
    }

    /// Judges a message being written (the commit-msg hook). `merging`: git is concluding a merge. `comment`: the
    /// repository's `core.commentString` or `core.commentChar` (`None`: git's default `#`). Comment lines and
    /// everything below git's scissors line are not part of the message; an empty message is git's to refuse.
    pub fn judge_message(
        &self,
        raw: &str,
        keys: &KeyRules,
        merging: bool,
        comment: Option<&str>,
    ) -> Result<(), Rejection> {
        let message = strip_git_comments(raw, comment);
        if message.trim().is_empty()
            || self.exemption(&message, merging).is_some()
            || !keys.extract(&message).is_empty()
        {
            return Ok(());
        }
        Err(Rejection::new(keys))
    }
}

/// The characters git picks its comment character from when `core.commentChar` is `auto`, in its order.
const AUTO_COMMENT_CHARS: &[&str] = &["#", ";", "@", "!", "$", "%", "^", "&", "|", ":"];

/// The message as git will record it. git drops comment lines and the scissors section only when it opened an editor
/// (`--cleanup=strip`), and then it wrote comments of its own, each a lone comment string or one followed by a
/// space. Without any such line git did not, and keeps every line (`--cleanup=whitespace`): `git commit -m "#12 fix
/// login"` is recorded as written.
///
/// `comment` is the configured comment string (`None`: `#`). With `auto`, git chose a character no line of the
/// message began with, so the one that begins the most lines of git's own shape is the one it chose.
pub fn strip_git_comments(raw: &str, comment: Option<&str>) -> String {
    let is_own = |line: &str, marker: &str| {
        line.strip_prefix(marker).is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
    };
    let marker = match comment {
        None | Some("") => "#",
        Some("auto") => AUTO_COMMENT_CHARS
            .iter()
            .copied()
            .map(|marker| (raw.lines().filter(|line| is_own(line, marker)).count(), marker))
            .filter(|(count, _)| *count > 0)
            // The first of the most used, as `max_by_key` keeps the last of equals.
            .rev()
            .max_by_key(|(count, _)| *count)
            .map_or("#", |(_, marker)| marker),
        Some(marker) => marker,
    };
    if !raw.lines().any(|line| is_own(line, marker)) {
        return raw.to_owned();
    }
    let scissors = format!("{marker} ------------------------ >8 ------------------------");
    let mut out = String::with_capacity(raw.len());
    for line in raw.lines() {
        if line.starts_with(&scissors) {
            break;
        }
        if !line.starts_with(marker) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

impl Check for CommitKeys {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &CheckContext<'_>) -> CheckResult {
        let commits = &ctx.contents.commits;
        let mut exempt = 0;
        let mut findings = Vec::new();
        for commit in commits.iter().filter(|c| c.keys.is_empty()) {
            if self.exemption(&commit.message, commit.merge).is_some() {
                exempt += 1;
                continue;
            }
            findings.push(Finding::new(
                "commit-without-key",
                Severity::Deny,
                commit.sha.clone(),
                // The finding's subject is the commit; every format shows it beside the message.
                format!("{:?} by {} names no issue key", commit.subject, commit.author),
            ));
        }
        let summary = match (commits.len(), findings.len()) {
            (0, _) => "no commits to check".to_owned(),
            (1, 0) if exempt > 0 => "the 1 commit is exempt".to_owned(),
            (1, 0) => "the 1 commit names an issue key".to_owned(),
            (1, _) => "the 1 commit names no issue key".to_owned(),
            (total, 0) if exempt > 0 => {
                format!("all {total} commits name an issue key or are exempt ({exempt} exempt)")
            }
            (total, 0) => format!("all {total} commits name an issue key"),
            (total, 1) => format!("1 of {total} commits names no issue key"),
            (total, n) => format!("{n} of {total} commits name no issue key"),
        };
        CheckResult::from_findings(ID, summary, findings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use greenlight_core::{Commit, Contents, Outcome};

    fn rules(cfg: cfg::Config) -> CommitKeys {
        CommitKeys::new(cfg).unwrap()
    }

    fn commit(i: usize, message: &str, merge: bool) -> Commit {
        Commit {
            sha: format!("{i:040}"),
            author: "Ada".into(),
            email: "ada@example.com".into(),
            time: "2024-01-01T00:00:00+00:00".into(),
            subject: message.lines().next().unwrap_or_default().into(),
            message: message.into(),
            keys: KeyRules::default().extract(message),
            merge,
        }
    }

    fn check(cfg: cfg::Config, commits: &[(&str, bool)], expect_subjects: &[usize], expect_summary: &str) {
        let commits = commits.iter().enumerate().map(|(i, (m, merge))| commit(i, m, *merge)).collect();
        let contents = Contents::assemble("f".into(), "t".into(), commits);
        let result = rules(cfg).run(&CheckContext { contents: &contents, tracker: Default::default() });
        let subjects: Vec<String> = result.findings.iter().map(|f| f.subject.clone()).collect();
        let expect: Vec<String> = expect_subjects.iter().map(|i| format!("{i:040}")).collect();
        assert_eq!(subjects, expect);
        assert_eq!(result.summary, expect_summary);
        assert_eq!(result.outcome, if expect.is_empty() { Outcome::Pass } else { Outcome::Fail });
        assert!(result.findings.iter().all(|f| f.code == "commit-without-key" && f.severity == Severity::Deny));
    }

    #[test]
    fn commits_without_keys_are_denied() {
        check(
            cfg::Config::default(),
            &[("AB-1 one", false), ("no key", false), ("body only\n\nRefs AB-2", false), ("also none", false)],
            &[1, 3],
            "2 of 4 commits name no issue key",
        );
        check(cfg::Config::default(), &[], &[], "no commits to check");
    }

    #[test]
    fn exemptions_follow_the_config() {
        let commits = [
            ("Merge pull request #3 from acme/x", true),
            ("Merge branch 'main' into x", false),
            ("fixup! AB-1 one", false),
            ("Revert \"thing\"\n\nThis reverts commit abc.", false),
            ("chore: release 1.2.3", false),
            ("AB-1 one", false),
            // Recorded with blank lines before it (git's subject skips them, and so does the hook).
            ("\n\nRevert \"other\"\n\nThis reverts commit def.", false),
        ];
        check(cfg::Config::default(), &commits, &[4], "1 of 7 commits names no issue key");
        let strict = cfg::Config {
            allow_merge: false,
            allow_fixup: false,
            allow_revert: false,
            ignore: vec![toml::Spanned::new(0..0, "^chore: release ".to_owned())],
            ..Default::default()
        };
        check(strict, &commits, &[0, 1, 3, 6], "4 of 7 commits name no issue key");
        let all_ok = cfg::Config { ignore: vec![toml::Spanned::new(0..0, "^chore".to_owned())], ..Default::default() };
        check(all_ok, &commits, &[], "all 7 commits name an issue key or are exempt (5 exempt)");
    }

    #[test]
    fn one_commit_is_summed_up_in_the_singular() {
        let cfg = cfg::Config::default;
        check(cfg(), &[("AB-1 fix", false)], &[], "the 1 commit names an issue key");
        check(cfg(), &[("fixup! tidy", false)], &[], "the 1 commit is exempt");
        check(cfg(), &[("tidy", false)], &[0], "the 1 commit names no issue key");
    }

    #[test]
    fn the_hook_applies_the_same_rules() {
        let keys = KeyRules::default();
        let ck = rules(cfg::Config::default());
        assert!(ck.judge_message("AB-12 fix\n", &keys, false, None).is_ok());
        assert!(ck.judge_message("fix\n\nCloses AB-12\n", &keys, false, None).is_ok());
        assert!(
            ck.judge_message("\n# Please enter the commit message\n", &keys, false, None).is_ok(),
            "empty is git's call"
        );
        assert!(ck.judge_message("Merge branch 'x'\n", &keys, false, None).is_ok());
        assert!(ck.judge_message("anything\n", &keys, true, None).is_ok(), "concluding a merge");
        let rejection = ck.judge_message("fix it\n# On branch AB-3-feature\n", &keys, false, None).unwrap_err();
        assert!(rejection.to_string().contains("ABC-123 Fix rounding"), "{rejection}");
        let scissors = "fix it\n# ------------------------ >8 ------------------------\ndiff AB-4\n";
        assert!(ck.judge_message(scissors, &keys, false, None).is_err());
        // `git commit -m "#12 fix login"` keeps the line, since git opened no editor; in an editor git drops it.
        let github = KeyRules::new(&greenlight_core::KeySettings { github: true, ..Default::default() }).unwrap();
        assert!(ck.judge_message("#12 fix login\n\nmore detail\n", &github, false, None).is_ok());
        let edited = "fix login\n#12 in a line git drops\n# Please enter the commit message for your changes.\n#\n";
        assert!(ck.judge_message(edited, &github, false, None).is_err());
    }

    #[test]
    fn the_hook_strips_the_comment_string_git_was_told_to_use() {
        let keys = KeyRules::default();
        let ck = rules(cfg::Config::default());
        // git's template names the branch in a comment; with `;` as the comment character that line is not message.
        let edited = "fix it\n; Please enter the commit message for your changes.\n;\n; On branch AB-3-feature\n";
        assert!(ck.judge_message(edited, &keys, false, Some(";")).is_err());
        assert!(ck.judge_message(edited, &keys, false, None).is_ok(), "with `#` the `;` lines are message");
        let scissors = "fix it\n; ------------------------ >8 ------------------------\ndiff AB-4\n";
        assert!(ck.judge_message(scissors, &keys, false, Some(";")).is_err());
        // A message line that begins with `#` is kept when git comments with another string.
        assert!(ck.judge_message("# AB-5 heading\n; On branch main\n", &keys, false, Some(";")).is_ok());
        assert!(ck.judge_message("fix\n// On branch AB-6\n", &keys, false, Some("//")).is_err());
    }

    #[test]
    fn with_auto_the_comment_character_is_the_one_git_chose() {
        // git chose `;` because a line of the message begins with `#`.
        let chose_semicolon = "#7 fix login\n; Please enter the commit message.\n;\n; On branch main\n";
        assert_eq!(strip_git_comments(chose_semicolon, Some("auto")), "#7 fix login\n");
        let chose_hash = "fix login\n# Please enter the commit message.\n#\n# On branch AB-3\n";
        assert_eq!(strip_git_comments(chose_hash, Some("auto")), "fix login\n");
        assert_eq!(strip_git_comments("fix login\n", Some("auto")), "fix login\n");
    }

    #[test]
    fn a_rejection_shows_what_passes_and_where_the_message_is() {
        let ck = rules(cfg::Config::default());
        let keys = KeyRules::default();
        let rejection =
            ck.judge_message("fix\n", &keys, false, None).unwrap_err().kept_in("/w/my repo/.git/COMMIT_EDITMSG");
        let text = rejection.to_string();
        assert!(text.contains("ABC-123 Fix rounding"), "{text}");
        assert!(text.contains("`git commit -e -F '/w/my repo/.git/COMMIT_EDITMSG'`"), "{text}");
        let own = greenlight_core::KeySettings { patterns: vec![r"ticket:(\d{6})".into()], ..Default::default() };
        let own = KeyRules::new(&own).unwrap();
        let text = ck.judge_message("fix\n", &own, false, None).unwrap_err().to_string();
        assert!(text.contains(r"as [keys] patterns in greenlight.toml find it: `ticket:(\d{6})`"), "{text}");
        assert!(!text.contains("ABC-123"), "{text}");
    }
}
