//! `server.toml`: where the service listens, its store, GitHub, and the repositories it gates.
//!
//! Owns: parsing (unknown keys are refused, errors point at `file:line:column`), defaults, and validation into a
//! [`ServerConfig`]. Reading secrets from the variables it names happens at start-up ([`crate::Secrets`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use greenlight_core::text::line_column;
use greenlight_deploy::tracker::{Connection, TrackerKind};
use serde::Deserialize;

/// The status context greenlight posts under unless the config names another.
pub const DEFAULT_CONTEXT: &str = "greenlight/pre-deploy";
/// How long a request's headers, and then its body, may take to arrive unless the config says otherwise: a client
/// that sends slower than that (a slowloris) is not waited for.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct ServerConfigError {
    pub origin: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    listen: toml::Spanned<String>,
    public_url: toml::Spanned<String>,
    #[serde(default = "default_database_url")]
    database_url: String,
    #[serde(default = "default_data_dir")]
    data_dir: PathBuf,
    /// Jobs processed at once by this process; 0 accepts webhooks and leaves the work to other replicas.
    workers: Option<usize>,
    status_context: Option<String>,
    /// How often to compare the deploy branches' heads with the stored deploys.
    reconcile_every: Option<toml::Spanned<String>>,
    /// How long a claimed job stays claimed without a renewal; a dead worker's job is taken over after this.
    lease: Option<toml::Spanned<String>>,
    /// The first wait before a failed job (GitHub or the remote unreachable) runs again; it doubles up to `retry_max`.
    retry_first: Option<toml::Spanned<String>>,
    retry_max: Option<toml::Spanned<String>>,
    /// The variable that holds the bearer token of `POST /api/deploys/{id}/recheck`; without it the API is off.
    api_token_env: Option<String>,
    /// The longest a request's headers may take to arrive, and then its body.
    read_timeout: Option<toml::Spanned<String>>,
    github: RawGithub,
    jira: Option<RawJira>,
    /// The one tracker a repository's own greenlight.toml may name (see `greenlight_deploy::tracker::vet`).
    tracker: Option<RawTracker>,
    #[serde(default)]
    repositories: Vec<RawRepository>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTracker {
    kind: TrackerKind,
    url: toml::Spanned<String>,
    user_env: Option<String>,
    token_env: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGithub {
    #[serde(default = "default_api_url")]
    api_url: String,
    #[serde(default = "default_token_env")]
    token_env: String,
    #[serde(default = "default_secret_env")]
    webhook_secret_env: String,
    /// The longest one call to GitHub may take.
    attempt_timeout: Option<toml::Spanned<String>>,
    /// How long calls stop after GitHub failed several times in a row.
    breaker_cooldown: Option<toml::Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJira {
    webhook_secret_env: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepository {
    name: toml::Spanned<String>,
    clone_url: Option<String>,
    production: String,
    deploy_branches: Vec<String>,
    /// A greenlight.toml on the server that replaces the repository's own.
    rules: Option<toml::Spanned<PathBuf>>,
}

fn default_database_url() -> String {
    "sqlite://greenlight.db".into()
}
fn default_data_dir() -> PathBuf {
    "greenlight-data".into()
}
fn default_api_url() -> String {
    greenlight_github::DEFAULT_API_URL.into()
}
fn default_token_env() -> String {
    "GITHUB_TOKEN".into()
}
fn default_secret_env() -> String {
    "GITHUB_WEBHOOK_SECRET".into()
}

/// A validated `server.toml`.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Without a trailing slash.
    pub public_url: String,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub workers: usize,
    pub status_context: String,
    pub reconcile_every: Duration,
    pub lease: Duration,
    pub retry_first: Duration,
    pub retry_max: Duration,
    pub api_token_env: Option<String>,
    /// The longest a request's headers may take to arrive; and then, for a route that reads it, its body.
    pub read_timeout: Duration,
    pub github: GithubConfig,
    pub jira_secret_env: Option<String>,
    /// The tracker a repository's own rules may name; without it, they may name none.
    pub tracker: Option<Connection>,
    /// By `owner/name` in lower case: GitHub's names are not case-sensitive. Look one up with [`Self::repository`].
    pub repositories: BTreeMap<String, RepositoryConfig>,
}

impl ServerConfig {
    /// The repository `owner/name`, however its letters are cased: GitHub's names are not case-sensitive, and a
    /// payload spells them as the repository was created (`Codertocat/Hello-World`).
    pub fn repository(&self, name: &str) -> Option<&RepositoryConfig> {
        self.repositories.get(&name.to_ascii_lowercase())
    }
}

#[derive(Clone, Debug)]
pub struct GithubConfig {
    pub api_url: String,
    pub token_env: String,
    pub webhook_secret_env: String,
    pub attempt_timeout: Duration,
    pub breaker_cooldown: Duration,
}

#[derive(Clone, Debug)]
pub struct RepositoryConfig {
    pub name: String,
    pub clone_url: Option<String>,
    pub production: String,
    pub deploy_branches: Vec<String>,
    pub rules: Option<PathBuf>,
}

impl RepositoryConfig {
    pub fn is_deploy_branch(&self, branch: &str) -> bool {
        self.deploy_branches.iter().any(|b| b == branch)
    }
}

impl ServerConfig {
    /// Parses and validates `text`; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ServerConfigError> {
        let located = |span: Option<std::ops::Range<usize>>, message: String| {
            let (line, column) = line_column(text, span.map_or(0, |s| s.start));
            ServerConfigError { origin: origin.to_owned(), line, column, message }
        };
        let raw: Raw = toml::from_str(text).map_err(|e| located(e.span(), e.message().to_owned()))?;
        let listen = raw.listen.get_ref().parse().map_err(|_| {
            let message = format!("listen = {:?} is not an address like \"127.0.0.1:8080\"", raw.listen.get_ref());
            located(Some(raw.listen.span()), message)
        })?;
        // Commit statuses link to `{public_url}/deploys/{id}`, so it must be a URL a browser opens as it is.
        let public_url = raw.public_url.get_ref().trim_end_matches('/').to_owned();
        let opens = greenlight_http::Url::parse(&public_url)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty()));
        if !opens {
            let message = format!(
                "public_url = {:?} is not an http:// or https:// URL like \"https://greenlight.example.com\": \
                 statuses link to {{public_url}}/deploys/{{id}}",
                raw.public_url.get_ref()
            );
            return Err(located(Some(raw.public_url.span()), message));
        }
        if raw.repositories.is_empty() {
            let message = "no [[repositories]]: the server would check no push; list each repository it gates \
                           (name, production, deploy_branches)";
            return Err(located(None, message.to_owned()));
        }
        let duration = |value: &Option<toml::Spanned<String>>, default: Duration| match value {
            None => Ok(default),
            Some(value) => parse_duration(value.get_ref()).ok_or_else(|| {
                located(Some(value.span()), format!("{:?} is not a duration like \"30s\" or \"5m\"", value.get_ref()))
            }),
        };
        let tracker = match raw.tracker {
            None => None,
            Some(tracker) => {
                let url = tracker.url.get_ref().trim_end_matches('/').to_owned();
                if !(url.starts_with("http://") || url.starts_with("https://")) || url.contains(['?', '#']) {
                    let message = "[tracker] `url` must start with http:// or https://, with no query or fragment";
                    return Err(located(Some(tracker.url.span()), message.to_owned()));
                }
                Some(Connection { kind: tracker.kind, url, user_env: tracker.user_env, token_env: tracker.token_env })
            }
        };
        let mut repositories = BTreeMap::new();
        for repo in raw.repositories {
            let name = repo.name.get_ref().clone();
            // GitHub's own characters only: the name is also the mirror's path under data_dir.
            let part = |p: &str| {
                !p.is_empty()
                    && !p.starts_with('.')
                    && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            };
            if name.split('/').count() != 2 || !name.split('/').all(part) {
                return Err(located(Some(repo.name.span()), format!("repository name {name:?} is not owner/name")));
            }
            if repo.deploy_branches.is_empty() {
                return Err(located(Some(repo.name.span()), format!("repository {name} has no deploy_branches")));
            }
            // Read by every check of the repository: one that is not there would fail each of them.
            let rules = match repo.rules {
                None => None,
                Some(rules) => {
                    let span = rules.span();
                    let path = rules.into_inner();
                    let opened = std::fs::File::open(&path).and_then(|file| file.metadata());
                    let shown = path.display().to_string();
                    match opened {
                        Ok(metadata) if metadata.is_file() => Some(path),
                        Ok(_) => return Err(located(Some(span), format!("rules = {shown:?} is not a file"))),
                        Err(error) => {
                            return Err(located(Some(span), format!("rules = {shown:?} cannot be read: {error}")));
                        }
                    }
                }
            };
            let config = RepositoryConfig {
                name: name.clone(),
                clone_url: repo.clone_url,
                production: repo.production,
                deploy_branches: repo.deploy_branches,
                rules,
            };
            if repositories.insert(name.to_ascii_lowercase(), config).is_some() {
                return Err(located(Some(repo.name.span()), format!("repository {name} is listed twice")));
            }
        }
        Ok(Self {
            listen,
            public_url,
            database_url: raw.database_url,
            data_dir: raw.data_dir,
            workers: raw.workers.unwrap_or(4),
            status_context: raw.status_context.unwrap_or_else(|| DEFAULT_CONTEXT.to_owned()),
            reconcile_every: duration(&raw.reconcile_every, Duration::from_secs(300))?,
            lease: duration(&raw.lease, Duration::from_secs(60))?,
            retry_first: duration(&raw.retry_first, Duration::from_secs(5))?,
            retry_max: duration(&raw.retry_max, Duration::from_secs(300))?,
            api_token_env: raw.api_token_env,
            read_timeout: duration(&raw.read_timeout, DEFAULT_READ_TIMEOUT)?,
            github: GithubConfig {
                api_url: raw.github.api_url,
                token_env: raw.github.token_env,
                webhook_secret_env: raw.github.webhook_secret_env,
                attempt_timeout: duration(&raw.github.attempt_timeout, Duration::from_secs(10))?,
                breaker_cooldown: duration(&raw.github.breaker_cooldown, Duration::from_secs(30))?,
            },
            jira_secret_env: raw.jira.map(|j| j.webhook_secret_env),
            tracker,
            repositories,
        })
    }
}

/// `"500ms"`, `"30s"`, `"5m"`, `"1h"` (jiff's friendly format); positive only.
fn parse_duration(text: &str) -> Option<Duration> {
    let parsed: jiff::SignedDuration = text.trim().parse().ok()?;
    Duration::try_from(parsed).ok().filter(|d| !d.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
listen = "127.0.0.1:8080"
public_url = "http://127.0.0.1:8080/"

[github]

[[repositories]]
name = "acme/shop"
production = "production"
deploy_branches = ["deploy"]
"#;

    #[test]
    fn defaults_fill_what_the_file_leaves_out() {
        let config = ServerConfig::parse(MINIMAL, "server.toml").unwrap();
        assert_eq!(config.public_url, "http://127.0.0.1:8080");
        assert_eq!(config.database_url, "sqlite://greenlight.db");
        assert_eq!(config.status_context, "greenlight/pre-deploy");
        assert_eq!(config.github.webhook_secret_env, "GITHUB_WEBHOOK_SECRET");
        assert_eq!(config.reconcile_every, Duration::from_secs(300));
        let repo = config.repository("Acme/Shop").expect("names are not case-sensitive");
        assert!(repo.is_deploy_branch("deploy") && !repo.is_deploy_branch("main"));
    }

    #[test]
    fn the_allowed_tracker_is_read_without_its_trailing_slash_and_must_be_http() {
        let with =
            |url: &str| format!("{MINIMAL}\n[tracker]\nkind = \"jira-dc\"\nurl = \"{url}\"\ntoken_env = \"T\"\n");
        let config = ServerConfig::parse(&with("https://jira.example.com/"), "s.toml").unwrap();
        let tracker = config.tracker.unwrap();
        assert_eq!((tracker.url.as_str(), tracker.token_env.as_deref()), ("https://jira.example.com", Some("T")));
        let error = ServerConfig::parse(&with("file:///etc"), "s.toml").unwrap_err();
        assert!(
            error.to_string().ends_with("must start with http:// or https://, with no query or fragment"),
            "{error}"
        );
        assert!(ServerConfig::parse(&with("https://jira.example.com/x?y="), "s.toml").is_err());
        assert!(ServerConfig::parse(MINIMAL, "s.toml").unwrap().tracker.is_none());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_located() {
        let error = ServerConfig::parse(&MINIMAL.replace("[github]", "[github]\ntoken = 1"), "s.toml").unwrap_err();
        assert_eq!((error.line, error.column), (6, 1), "{error}");
        assert!(error.to_string().starts_with("s.toml:6:1: unknown field `token`"), "{error}");

        let error = ServerConfig::parse(&format!("lease = \"soon\"\n{MINIMAL}"), "s.toml").unwrap_err();
        assert_eq!(error.to_string(), "s.toml:1:9: \"soon\" is not a duration like \"30s\" or \"5m\"");

        for name in ["shop", "../escape", "acme/..", "acme/.git", "acme/sh op", "/shop"] {
            let error = ServerConfig::parse(&MINIMAL.replace("acme/shop", name), "s.toml").unwrap_err();
            assert!(error.to_string().contains(&format!("{name:?} is not owner/name")), "{error}");
        }
        assert!(ServerConfig::parse(&MINIMAL.replace("acme/shop", "Acme-1/shop_v2.js"), "s.toml").is_ok());

        let twice = format!(
            "{MINIMAL}\n[[repositories]]\nname = \"Acme/Shop\"\nproduction = \"p\"\ndeploy_branches = [\"d\"]\n"
        );
        let error = ServerConfig::parse(&twice, "s.toml").unwrap_err();
        assert!(error.to_string().contains("repository Acme/Shop is listed twice"), "{error}");
    }

    /// Commit statuses link to `{public_url}/deploys/{id}`: a public_url that is not an http(s) URL would give
    /// every status a broken link, so the file is refused at its line.
    #[test]
    fn a_public_url_without_a_scheme_is_refused_at_its_line() {
        for bad in ["greenlight.example.com", "ftp://greenlight.example.com", "http://"] {
            let text = MINIMAL.replace("http://127.0.0.1:8080/", bad);
            let error = ServerConfig::parse(&text, "s.toml").unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "s.toml:3:14: public_url = {bad:?} is not an http:// or https:// URL like \
                     \"https://greenlight.example.com\": statuses link to {{public_url}}/deploys/{{id}}"
                )
            );
        }
        let config =
            ServerConfig::parse(&MINIMAL.replace("http://127.0.0.1:8080/", "https://g.example/gl/"), "s").unwrap();
        assert_eq!(config.public_url, "https://g.example/gl", "a path prefix is kept");
    }

    /// `listen` is located at its line too.
    #[test]
    fn a_bad_listen_is_refused_at_its_line() {
        let error = ServerConfig::parse(&MINIMAL.replace("127.0.0.1:8080\"", "localhost\""), "s.toml").unwrap_err();
        assert_eq!(error.to_string(), "s.toml:2:10: listen = \"localhost\" is not an address like \"127.0.0.1:8080\"");
    }

    /// A server without repositories would accept every push and never check one.
    #[test]
    fn a_config_without_repositories_is_refused() {
        let text = MINIMAL.split("[[repositories]]").next().unwrap();
        let error = ServerConfig::parse(text, "s.toml").unwrap_err();
        assert_eq!(
            error.to_string(),
            "s.toml:1:1: no [[repositories]]: the server would check no push; list each repository it gates \
             (name, production, deploy_branches)"
        );
    }

    /// A `rules` file that is not there would fail every push of the repository later: the config is refused at its
    /// line instead. A relative path is read from the working directory.
    #[test]
    fn a_rules_file_that_is_not_there_is_refused_at_its_line() {
        let text = MINIMAL.replace("deploy_branches", "rules = \"/no/such/rules.toml\"\ndeploy_branches");
        let error = ServerConfig::parse(&text, "s.toml").unwrap_err();
        assert!(
            error.to_string().starts_with("s.toml:10:9: rules = \"/no/such/rules.toml\" cannot be read: "),
            "{error}"
        );
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules.toml");
        std::fs::write(&rules, "").unwrap();
        let text = MINIMAL.replace("deploy_branches", &format!("rules = {:?}\ndeploy_branches", rules.display()));
        let config = ServerConfig::parse(&text, "s.toml").unwrap();
        assert_eq!(config.repository("acme/shop").unwrap().rules.as_deref(), Some(rules.as_path()));
        let error = ServerConfig::parse(&text.replace("rules.toml", ""), "s.toml").unwrap_err();
        assert!(error.to_string().contains("is not a file"), "{error}");
    }

    #[test]
    fn durations_read_the_friendly_format() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("-1s"), None);
    }
}
