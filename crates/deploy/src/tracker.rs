//! Asking the issue tracker: from `[tracker]` and the environment to `TrackerFacts`.
//!
//! Owns: reading credentials from the variables the config names, building the HTTP client, and calling the
//! tracker adapter. Does not own: the tracker's API (`greenlight-tracker`) or judging (checks).

use greenlight_checks::tracker::{TrackerKind, ValidTracker};
use greenlight_core::{IssueKey, TrackerFacts};
use greenlight_http::{Auth, Client, Secret};
use greenlight_tracker::{Kind, Settings};

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
