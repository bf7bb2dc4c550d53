//! From command-line arguments to a deploy: open the repository, load its rules, resolve the range, and read it.
//! Also `init`, which writes those rules.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use greenlight_checks::{TEMPLATE, ValidConfig};
use greenlight_core::{CheckContext, Commit, Contents, IssueKey, Report, ReportIssue, Tracker};
use greenlight_git::{Range, Repo};

use crate::cli::{InitArgs, RangeArgs};

pub const CONFIG_FILE: &str = "greenlight.toml";

/// A repository's rules and the range it was asked about.
pub struct Deploy {
    config: ValidConfig,
    range: Range,
}

impl Deploy {
    pub fn load(args: &RangeArgs) -> anyhow::Result<Self> {
        let repo = Repo::discover(&args.repo)?;
        let config = load_config(&repo, args.config.as_deref())?;
        let from = match (&args.from, &config.production) {
            (Some(from), _) | (None, Some(from)) => from.clone(),
            (None, None) => bail!(
                "no production revision to compare with: pass --from REV, or set `production` under [deploy] in {CONFIG_FILE} (for example production = \"origin/production\")"
            ),
        };
        let from = repo.resolve(&from)?;
        let to = repo.resolve(&args.to)?;
        let range = repo.range(from, to, &config.keys)?;
        Ok(Self { config, range })
    }

    pub fn contents(self) -> Contents {
        let (from, to, commits) = self.added();
        Contents::assemble(from, to, commits)
    }

    /// What `contents` assembles: the range's ends, resolved, and the commits it adds, newest first.
    pub fn added(self) -> (String, String, Vec<Commit>) {
        (self.range.from.to_string(), self.range.to.to_string(), self.range.added)
    }

    /// Gathers the facts (the tracker's, unless `offline`), runs every check, and sums them up.
    pub fn check(self, offline: bool) -> Report {
        let Self { config, range } = self;
        let contents = Contents::assemble(range.from.to_string(), range.to.to_string(), range.added);
        let asked = match &config.tracker {
            None => None,
            Some(_) if offline => None,
            Some(tracker) => {
                let keys: Vec<IssueKey> = contents.issues.iter().map(|i| i.key.clone()).collect();
                Some(crate::tracker::gather(tracker, config.ready_issues.query(), &keys))
            }
        };
        let tracker = match (&config.tracker, &asked) {
            (None, _) => Tracker::NotConfigured,
            (Some(_), None) => Tracker::Offline,
            (Some(_), Some(Ok(facts))) => Tracker::Facts(facts),
            (Some(_), Some(Err(message))) => Tracker::Unavailable(message),
        };
        let ctx = CheckContext { contents: &contents, rolled_back: &range.rolled_back, tracker };
        let checks = config.run_checks(&ctx);
        let issues = ReportIssue::list(&contents, &tracker);
        Report::new(contents.from.clone(), contents.to.clone(), checks, issues)
    }
}

/// The rules: `--config` if given (it must exist), else greenlight.toml at the working tree's root if there is one,
/// else the defaults.
pub fn load_config(repo: &Repo, explicit: Option<&Path>) -> anyhow::Result<ValidConfig> {
    let path = match explicit {
        Some(path) => path.to_owned(),
        // In the repository's root, `./greenlight.toml` reads better as `greenlight.toml`.
        None => match repo.workdir().map(|dir| dir.strip_prefix(".").unwrap_or(dir).join(CONFIG_FILE)) {
            Some(path) if path.exists() => path,
            _ => return Ok(ValidConfig::default()),
        },
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(ValidConfig::parse(&text, &path.display().to_string())?)
}

pub fn init(args: &InitArgs) -> anyhow::Result<u8> {
    let root: PathBuf = match Repo::discover(&args.repo) {
        Ok(repo) => repo.workdir().map_or_else(|| args.repo.clone(), Path::to_owned),
        Err(_) => args.repo.clone(),
    };
    let path = root.join(CONFIG_FILE);
    if path.exists() && !args.force {
        bail!("{} already exists; pass --force to replace it", path.display());
    }
    std::fs::write(&path, TEMPLATE).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("greenlight: wrote {}", path.display());
    Ok(0)
}
