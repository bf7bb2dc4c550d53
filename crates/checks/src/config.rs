//! `greenlight.toml`: the rules a repository versions with its code.
//!
//! Owns: parsing (unknown keys are refused), validation into a `ValidConfig`, and error locations as
//! `file:line:column`. Does not own: finding or reading the file (the caller passes its text), or server settings.

use std::fmt;
use std::sync::Arc;

use greenlight_core::text::line_column;
use greenlight_core::{Check, CheckContext, CheckResult, KeyRules, KeySettings};
use serde::Deserialize;
use toml::Spanned;

use crate::toggle::Toggle;
use crate::tracker::{self, ValidTracker};
use crate::{ancestry, commit_keys, issue_exists, issue_fields, issue_status, ready_issues};

/// The commented file `greenlight init` writes. Parsing it gives the defaults.
pub const TEMPLATE: &str = include_str!("template.toml");

/// A config problem, located in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub origin: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.origin, self.line, self.column, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A validation problem at a byte span of the file; turned into a located `ConfigError` by `ValidConfig::parse`.
#[derive(Debug)]
pub(crate) struct Invalid {
    pub span: std::ops::Range<usize>,
    pub message: String,
}

impl Invalid {
    pub(crate) fn at<T>(value: &Spanned<T>, message: impl Into<String>) -> Self {
        Self { span: value.span(), message: message.into() }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    deploy: RawDeploy,
    #[serde(default)]
    keys: RawKeys,
    #[serde(default)]
    checks: RawChecks,
    tracker: Option<tracker::Config>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeploy {
    production: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    #[serde(default)]
    patterns: Vec<Spanned<String>>,
    #[serde(default)]
    projects: Vec<Spanned<String>>,
    #[serde(default)]
    github: bool,
    #[serde(default)]
    ignore_case: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChecks {
    #[serde(default)]
    ancestry: ancestry::cfg::Config,
    #[serde(default, rename = "commit-keys")]
    commit_keys: commit_keys::cfg::Config,
    #[serde(default, rename = "issue-exists")]
    issue_exists: Toggle,
    #[serde(default, rename = "issue-status")]
    issue_status: Toggle,
    #[serde(default, rename = "issue-fields")]
    issue_fields: Toggle,
    #[serde(default, rename = "ready-issues")]
    ready_issues: ready_issues::cfg::Config,
}

/// A repository's rules, validated: ready to run checks and to judge commit messages.
#[derive(Debug, Clone)]
pub struct ValidConfig {
    /// `[deploy] production`: the revision production runs, the default `--from`.
    pub production: Option<String>,
    pub keys: KeyRules,
    pub ancestry: ancestry::Ancestry,
    pub commit_keys: commit_keys::CommitKeys,
    /// `[tracker]`, when the repository uses one.
    pub tracker: Option<Arc<ValidTracker>>,
    pub issue_exists: issue_exists::IssueExists,
    pub issue_status: issue_status::IssueStatus,
    pub issue_fields: issue_fields::IssueFields,
    pub ready_issues: ready_issues::ReadyIssues,
}

impl Default for ValidConfig {
    fn default() -> Self {
        Self::parse("", "greenlight.toml").expect("the empty config is valid")
    }
}

impl ValidConfig {
    /// Parses and validates the text of a `greenlight.toml`; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let locate = |offset: usize, message: String| {
            let (line, column) = line_column(text, offset);
            ConfigError { origin: origin.to_owned(), line, column, message }
        };
        let raw: RawConfig = toml::from_str(text)
            .map_err(|e| locate(e.span().map_or(0, |s| s.start), e.message().trim_end().to_owned()))?;
        Self::validate(raw).map_err(|invalid| locate(invalid.span.start, invalid.message))
    }

    fn validate(raw: RawConfig) -> Result<Self, Invalid> {
        let settings = KeySettings {
            patterns: raw.keys.patterns.iter().map(|p| p.get_ref().clone()).collect(),
            projects: raw.keys.projects.iter().map(|p| p.get_ref().clone()).collect(),
            github: raw.keys.github,
            ignore_case: raw.keys.ignore_case,
        };
        let keys = KeyRules::new(&settings).map_err(|e| match &e {
            greenlight_core::keys::KeyRuleError::Pattern { index, .. } => {
                Invalid::at(&raw.keys.patterns[*index], e.to_string())
            }
            greenlight_core::keys::KeyRuleError::Project { index, .. } => {
                Invalid::at(&raw.keys.projects[*index], e.to_string())
            }
        })?;
        let needs_ready = if raw.checks.issue_status.enabled {
            Some("issue-status")
        } else if raw.checks.ready_issues.enabled
            && raw.checks.ready_issues.query.as_deref().is_none_or(|q| q.trim().is_empty())
        {
            Some("ready-issues (without a `query`)")
        } else {
            None
        };
        let tracker = raw.tracker.map(|t| t.validate(needs_ready)).transpose()?.map(Arc::new);
        if let Some(production) = raw.deploy.production.as_ref().filter(|p| p.get_ref().trim().is_empty()) {
            return Err(Invalid::at(
                production,
                "`production` names no revision: write the branch production runs (for example \"origin/production\"), \
                 or remove the line to pass --from on each run",
            ));
        }
        Ok(Self {
            production: raw.deploy.production.map(Spanned::into_inner),
            keys,
            ancestry: ancestry::Ancestry::new(raw.checks.ancestry)?,
            commit_keys: commit_keys::CommitKeys::new(raw.checks.commit_keys)?,
            issue_exists: issue_exists::IssueExists { cfg: raw.checks.issue_exists },
            issue_status: issue_status::IssueStatus { cfg: raw.checks.issue_status, tracker: tracker.clone() },
            issue_fields: issue_fields::IssueFields { cfg: raw.checks.issue_fields, tracker: tracker.clone() },
            ready_issues: ready_issues::ReadyIssues { cfg: raw.checks.ready_issues },
            tracker,
        })
    }

    /// Runs every check, in a fixed order. A disabled check reports `skipped`.
    pub fn run_checks(&self, ctx: &CheckContext<'_>) -> Vec<CheckResult> {
        let checks: [(&dyn Check, bool); 6] = [
            (&self.ancestry, self.ancestry.enabled()),
            (&self.commit_keys, self.commit_keys.enabled()),
            (&self.issue_exists, self.issue_exists.cfg.enabled),
            (&self.issue_status, self.issue_status.cfg.enabled),
            (&self.issue_fields, self.issue_fields.cfg.enabled),
            (&self.ready_issues, self.ready_issues.cfg.enabled),
        ];
        checks
            .into_iter()
            .map(
                |(check, enabled)| {
                    if enabled {
                        check.run(ctx)
                    } else {
                        CheckResult::skipped(check.id(), "disabled (enabled = false)")
                    }
                },
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_err(text: &str, expect: &str) {
        let err = ValidConfig::parse(text, "greenlight.toml").unwrap_err();
        assert_eq!(err.to_string(), expect);
    }

    #[test]
    fn unknown_keys_are_refused_with_their_location() {
        check_err(
            "[deploy]\nproduction = \"origin/production\"\nbranch = \"x\"\n",
            "greenlight.toml:3:1: unknown field `branch`, expected `production`",
        );
        check_err(
            "[checks.commit-keys]\n  enabeld = false\n",
            "greenlight.toml:2:3: unknown field `enabeld`, expected one of `enabled`, `allow_merge`, `allow_fixup`, `allow_revert`, `ignore`",
        );
        check_err(
            "[chekcs]\n",
            "greenlight.toml:1:2: unknown field `chekcs`, expected one of `deploy`, `keys`, `checks`, `tracker`",
        );
    }

    #[test]
    fn invalid_values_point_at_the_value() {
        let err = ValidConfig::parse("[keys]\npatterns = ['ok', '(']\n", "g.toml").unwrap_err();
        assert_eq!((err.line, err.column), (2, 19), "{err}");
        assert_eq!(err.message, "pattern 2 is not a valid regular expression: unclosed group");
        let err = ValidConfig::parse("[keys]\nprojects = [\"A\"]\n", "g.toml").unwrap_err();
        assert_eq!((err.line, err.column), (2, 13), "{err}");
        let err = ValidConfig::parse("[checks.commit-keys]\nignore = [\"[\"]\n", "g.toml").unwrap_err();
        assert_eq!((err.line, err.column), (2, 11), "{err}");
        check_err("[deploy]\nproduction = 3\n", "greenlight.toml:2:14: invalid type: integer `3`, expected a string");
        check_err(
            "[deploy]\nproduction = \" \"\n",
            "greenlight.toml:2:14: `production` names no revision: write the branch production runs (for example \
             \"origin/production\"), or remove the line to pass --from on each run",
        );
        check_err("[deploy\n", "greenlight.toml:1:8: unclosed table, expected `]`");
    }

    #[test]
    fn a_github_tracker_names_the_repository_of_bare_references() {
        let github = "[tracker]\nkind = \"github\"\nurl = \"https://api.github.com\"\nready_statuses = [\"ready\"]\n";
        check_err(
            github,
            "greenlight.toml:2:8: kind = \"github\" needs `repository = \"owner/repo\"`, the repository that `#123` \
             refers to",
        );
        check_err(
            &format!("{github}repository = \"shop\"\n"),
            "greenlight.toml:5:14: `repository` must be `owner/repo`",
        );
        let config = ValidConfig::parse(&format!("{github}repository = \"acme/shop\"\n"), "g.toml").unwrap();
        assert_eq!(config.tracker.unwrap().repository.as_deref(), Some("acme/shop"));
        check_err(
            &format!("{github}repository = \"acme/shop\"\n").replace("https://api.github.com", "https://github.com/"),
            "greenlight.toml:3:7: with kind = \"github\", `url` is the API's: https://api.github.com (GitHub \
             Enterprise: https://HOST/api/v3)",
        );
        // Its projects are repositories too: `acme` would leave every `acme/shop#1` out of the checks.
        check_err(
            &format!("{github}repository = \"acme/shop\"\nprojects = [\"acme/shop\", \"acme\"]\n"),
            "greenlight.toml:6:26: with kind = \"github\", each of `projects` must be `owner/repo`",
        );
    }

    #[test]
    fn a_tracker_needs_ready_statuses_while_a_check_reads_them() {
        let jira = "[tracker]\nkind = \"jira-cloud\"\nurl = \"https://acme.atlassian.net\"\n";
        check_err(
            &jira.replace(".net", ".net/internal?x="),
            "greenlight.toml:3:7: `url` must have no query (?) or fragment (#): API paths are added to it",
        );
        check_err(
            jira,
            "greenlight.toml:3:7: [tracker] needs `ready_statuses`, the statuses an issue may ship in (for example \
             ready_statuses = [\"Ready to Deploy\"]): issue-status reads them",
        );
        check_err(
            &format!("{jira}ready_statuses = [\" \"]\n"),
            "greenlight.toml:4:18: [tracker] needs `ready_statuses`, the statuses an issue may ship in (for example \
             ready_statuses = [\"Ready to Deploy\"]): issue-status reads them",
        );
        let no_status = format!("{jira}[checks.issue-status]\nenabled = false\n");
        check_err(
            &no_status,
            "greenlight.toml:3:7: [tracker] needs `ready_statuses`, the statuses an issue may ship in (for example \
             ready_statuses = [\"Ready to Deploy\"]): ready-issues (without a `query`) reads them",
        );
        // Nothing reads them: an issue-exists-only setup needs none.
        ValidConfig::parse(&format!("{no_status}[checks.ready-issues]\nquery = \"labels = shipit\"\n"), "g.toml")
            .unwrap();
        ValidConfig::parse(&format!("{no_status}[checks.ready-issues]\nenabled = false\n"), "g.toml").unwrap();
        let ok = ValidConfig::parse(&format!("{jira}ready_statuses = [\" Done \", \"Prêt\"]\n"), "g.toml").unwrap();
        let tracker = ok.tracker.unwrap();
        assert_eq!(tracker.ready_statuses, ["Done", "Prêt"]);
        // Status names match in any case, as the tracker compares them.
        for status in ["done", "DONE", "PRÊT", "prêt "] {
            assert!(tracker.is_ready_status(status), "{status}");
        }
        assert!(!tracker.is_ready_status("Pret"));
    }

    #[test]
    fn the_template_parses_to_the_defaults() {
        let template = ValidConfig::parse(TEMPLATE, "greenlight.toml").unwrap();
        let empty = ValidConfig::default();
        assert_eq!(template.production.as_deref(), Some("origin/production"));
        assert_eq!(format!("{:?}", template.commit_keys), format!("{:?}", empty.commit_keys));
        assert_eq!(format!("{:?}", template.ancestry), format!("{:?}", empty.ancestry));
        assert_eq!(template.keys.extract("AB-1 CVE-2024-1234 #3").len(), 1);
    }
}
