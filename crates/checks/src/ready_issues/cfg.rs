//! `[checks.ready-issues]`.

use greenlight_core::Severity;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// The severity of `ready-issue-not-in-deploy`.
    pub severity: Severity,
    /// The tracker's search for ready issues. Jira: JQL, default
    /// `status in (<ready_statuses>) AND project in (<projects>)`. GitHub: issue labels, default the ready statuses.
    pub query: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self { enabled: true, severity: Severity::Warn, query: None }
    }
}
