//! Asking the issue tracker: from `[tracker]` and the environment to `TrackerFacts`.
//!
//! Owns: reading credentials from the variables the config names, building the HTTP client, and calling the
//! tracker adapter. Does not own: the tracker's API (`greenlight-tracker`) or judging (checks).

use greenlight_checks::ValidConfig;
pub use greenlight_checks::tracker::TrackerKind;
use greenlight_checks::tracker::ValidTracker;
use greenlight_core::{IssueKey, TrackerFacts};
use greenlight_http::{Auth, Client, Secret};
use greenlight_tracker::{Kind, Settings};

use crate::CONFIG_FILE;

/// Asks the tracker about `keys`. The error is one line for the report: it names the tracker's URL, or the
/// variable to set.
/// The ready search runs only when `ready_search` (the `ready-issues` check is enabled).
pub async fn gather(
    config: &ValidTracker,
    ready_search: bool,
    ready_query: Option<&str>,
    keys: &[IssueKey],
) -> Result<TrackerFacts, String> {
    let (auth, credential) = auth(config)?;
    let mut client = Client::builder();
    if let Some(credential) = credential {
        client = client.credential_name(credential);
    }
    let client = client.build().map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let settings = Settings {
        kind: match config.kind {
            TrackerKind::JiraCloud => Kind::JiraCloud,
            TrackerKind::JiraDc => Kind::JiraDc,
            TrackerKind::Github => Kind::Github,
        },
        url: config.url.clone(),
        repository: config.repository.clone(),
        ready_statuses: config.ready_statuses.clone(),
        projects: config.projects.clone(),
        fields: config.required_fields.iter().map(|f| f.field.clone()).collect(),
        ready_query: ready_query.map(str::to_owned),
        ready_search,
    };
    greenlight_tracker::gather(&settings, &client, &auth, keys).await.map_err(|e| e.to_string())
}

/// Credentials by kind: Jira Cloud takes basic auth (email and API token), Jira Data Center a bearer token, GitHub an
/// optional bearer token. Returns the auth and the variable a 401 should name.
fn auth(config: &ValidTracker) -> Result<(Auth, Option<String>), String> {
    let read = |var: &Option<String>, what: &str| -> Result<Secret, String> {
        let var = var.as_deref().ok_or_else(|| format!("[tracker] needs `{what}`: the variable that holds it"))?;
        match std::env::var(var) {
            Ok(value) if !value.is_empty() => Ok(Secret::new(value)),
            _ => Err(format!("{var} is not set: it must hold the tracker's {what} ({})", config.url)),
        }
    };
    match config.kind {
        TrackerKind::JiraCloud => {
            let user = read(&config.user_env, "user_env")?;
            let token = read(&config.token_env, "token_env")?;
            let names = format!(
                "{} and {}",
                config.user_env.as_deref().unwrap_or_default(),
                config.token_env.as_deref().unwrap_or_default()
            );
            Ok((Auth::Basic { user: user.expose().to_owned(), token }, Some(names)))
        }
        TrackerKind::JiraDc => Ok((Auth::Bearer(read(&config.token_env, "token_env")?), config.token_env.clone())),
        TrackerKind::Github => match &config.token_env {
            Some(_) => Ok((Auth::Bearer(read(&config.token_env, "token_env")?), config.token_env.clone())),
            None => Ok((Auth::None, None)),
        },
    }
}

/// Where a tracker is and which variables hold its credentials: what a service lets its operator alone decide, since
/// the credentials are read from the service's own environment and sent to `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub kind: TrackerKind,
    /// Without a trailing slash.
    pub url: String,
    pub user_env: Option<String>,
    pub token_env: Option<String>,
}

impl Connection {
    fn of(tracker: &ValidTracker) -> Self {
        Self {
            kind: tracker.kind,
            url: tracker.url.clone(),
            user_env: tracker.user_env.clone(),
            token_env: tracker.token_env.clone(),
        }
    }
}

impl std::fmt::Display for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            TrackerKind::JiraCloud => "jira-cloud",
            TrackerKind::JiraDc => "jira-dc",
            TrackerKind::Github => "github",
        };
        write!(f, "{kind} at {}", self.url)?;
        for (key, var) in [("user_env", &self.user_env), ("token_env", &self.token_env)] {
            if let Some(var) = var {
                write!(f, ", {key} {var}")?;
            }
        }
        Ok(())
    }
}

/// Rules that came with the code (a repository's own greenlight.toml, which anyone who can push may change) may
/// name a tracker only if it is `allowed`, the one the operator configured: otherwise a pushed commit could send
/// the service's secrets, named by variable, to a server of its choosing. Every other tracker setting is theirs.
pub fn vet(config: &ValidConfig, allowed: Option<&Connection>) -> Result<(), String> {
    let Some(tracker) = &config.tracker else {
        return Ok(());
    };
    let named = Connection::of(tracker);
    match allowed {
        Some(allowed) if *allowed == named => Ok(()),
        Some(allowed) => Err(format!(
            "{CONFIG_FILE} names the tracker {named}, not the one the server's [tracker] allows ({allowed}): a \
             repository's rules may not choose where the server sends its credentials"
        )),
        None => Err(format!(
            "{CONFIG_FILE} names the tracker {named}, but the server config has no [tracker]: a repository's rules \
             may not choose where the server sends its credentials; add a [tracker] with the same kind, url, \
             user_env and token_env to the server config, or give the repository a `rules` file"
        )),
    }
}
