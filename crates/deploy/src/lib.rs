//! One deploy, from a repository to a report: load the rules, resolve the range, read it, ask the tracker about the
//! keys it names, run the checks.
//!
//! Owns: the order of those steps, shared by `greenlight check` and `greenlight serve`, and finding the rules (a
//! file, or `greenlight.toml` in a commit's tree). Does not own: what any step does (git, tracker, checks), printing,
//! or posting anything.

pub mod tracker;

use std::path::{Path, PathBuf};

use greenlight_checks::{ConfigError, ValidConfig};
use greenlight_core::{CheckContext, Contents, IssueKey, Report, ReportIssue, Tracker};
use greenlight_git::{GitError, ObjectId, Range, Repo};

/// The rules' file name, at the repository's root.
pub const CONFIG_FILE: &str = "greenlight.toml";

/// Why a deploy could not be read. Each is a "could not run" (exit 2, status `error`).
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "no production revision to compare with: pass --from REV, or set `production` under [deploy] in {CONFIG_FILE} (for example production = \"origin/production\")"
    )]
    NoProduction,
    #[error(
        "{source} (it is `production` under [deploy] in the config: fetch it, or pass --from REV to compare with another revision)"
    )]
    UnknownProduction { source: GitError },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{CONFIG_FILE} at {sha} is not UTF-8")]
    NotUtf8 { sha: String },
    /// Rules the service will not follow (see [`tracker::vet`]).
    #[error("{0}")]
    Refused(String),
}

/// A repository's rules and the range they apply to.
pub struct Deploy {
    config: ValidConfig,
    range: Range,
}

/// A deploy's contents and the report on them.
pub struct Checked {
    pub contents: Contents,
    pub report: Report,
}

impl Deploy {
    /// Resolves `from` (default: the rules' `production`) and `to` in `repo`, and reads the range.
    pub fn new(repo: &Repo, config: ValidConfig, from: Option<&str>, to: &str) -> Result<Self, DeployError> {
        let from = match (from, config.production.as_deref()) {
            (Some(from), _) => repo.resolve(from)?,
            (None, Some(production)) => repo.resolve(production).map_err(|source| match source {
                GitError::UnknownRevision { .. } => DeployError::UnknownProduction { source },
                other => other.into(),
            })?,
            (None, None) => return Err(DeployError::NoProduction),
        };
        let to = repo.resolve(to)?;
        let range = repo.range(from, to, &config.keys)?;
        Ok(Self { config, range })
    }

    pub fn contents(self) -> Contents {
        contents(self.range)
    }

    /// What `contents` assembles: the range, its ends resolved, both sides newest first.
    pub fn range(self) -> Range {
        self.range
    }

    /// Gathers the facts (the tracker's, unless `offline`), runs every check, and sums them up.
    pub async fn check(self, offline: bool) -> Checked {
        let Self { config, range } = self;
        let contents = contents(range);
        let asked = match &config.tracker {
            Some(tracker) if !offline => {
                let keys: Vec<IssueKey> = contents.issues.iter().map(|i| i.key.clone()).collect();
                let ready = &config.ready_issues;
                Some(tracker::gather(tracker, ready.enabled(), ready.query(), &keys).await)
            }
            _ => None,
        };
        let tracker = match (&config.tracker, &asked) {
            (None, _) => Tracker::NotConfigured,
            (Some(_), None) => Tracker::Offline,
            (Some(_), Some(Ok(facts))) => Tracker::Facts(facts),
            (Some(_), Some(Err(message))) => Tracker::Unavailable(message),
        };
        let ctx = CheckContext { contents: &contents, tracker };
        let checks = config.run_checks(&ctx);
        let issues = ReportIssue::list(&contents, &tracker);
        let report = Report::new(contents.from.clone(), contents.to.clone(), checks, issues);
        Checked { contents, report }
    }
}

/// Both sides of a range as a deploy's contents.
fn contents(range: Range) -> Contents {
    let Range { from, to, added, rolled_back } = range;
    Contents::assemble(from.to_string(), to.to_string(), added).rolling_back(rolled_back)
}

/// The rules from a file: `explicit` if given (it must exist), else greenlight.toml at the working tree's root if
/// there is one, else the defaults.
pub fn load_config(repo: &Repo, explicit: Option<&Path>) -> Result<ValidConfig, DeployError> {
    let path = match explicit {
        Some(path) => path.to_owned(),
        // In the repository's root, `./greenlight.toml` reads better as `greenlight.toml`.
        None => match repo.workdir().map(|dir| dir.strip_prefix(".").unwrap_or(dir).join(CONFIG_FILE)) {
            Some(path) if path.exists() => path,
            _ => return Ok(ValidConfig::default()),
        },
    };
    let text = std::fs::read_to_string(&path).map_err(|source| DeployError::Read { path: path.clone(), source })?;
    Ok(ValidConfig::parse(&text, &path.display().to_string())?)
}

/// The rules versioned with the code: greenlight.toml in commit `sha`'s tree, or the defaults when it has none.
pub fn config_at(repo: &Repo, sha: ObjectId) -> Result<ValidConfig, DeployError> {
    match repo.file_at(sha, CONFIG_FILE)? {
        None => Ok(ValidConfig::default()),
        Some(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| DeployError::NotUtf8 { sha: sha.to_string() })?;
            Ok(ValidConfig::parse(&text, &format!("{CONFIG_FILE} at {}", &sha.to_string()[..12]))?)
        }
    }
}
