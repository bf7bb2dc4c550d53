//! What can stop the tracker from being asked: [`TrackerError`].
//!
//! Owns the wording of the adapter's own failures. Does not own HTTP failures: those are `greenlight_http::HttpError`
//! passed through unchanged, because they already name the URL on the tracker and, for 401/403, the credential the
//! client was built with. A key the tracker does not know is never an error here.

use greenlight_http::HttpError;

/// The tracker could not be asked. Every message names a URL on the tracker.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    /// A call failed: unreachable, timed out, refused the credentials, answered with an error or with malformed JSON.
    #[error(transparent)]
    Http(#[from] HttpError),

    /// The configured tracker URL cannot be used.
    #[error("tracker url {url:?} is not usable: {reason}")]
    Url { url: String, reason: String },

    /// A paginated answer kept going (or repeated itself); reading stopped instead of looping.
    #[error("{url} kept sending more pages ({pages} read); stopped reading")]
    TooManyPages { url: String, pages: usize },

    /// Jira answered a bulk read but listed some of the issues in `issueErrors`: it could not return them (a
    /// retriable error or a payload constraint; issues that do not exist are simply absent, never listed there).
    /// Judging without them could pass what must not pass.
    #[error("{url} could not return {issues}: {reason}")]
    IssueErrors { url: String, issues: String, reason: String },

    /// A GitHub issue read answered 404 or 410 without GitHub's JSON error (an object with a `message`): the
    /// configured URL is not the API (a GitHub Enterprise host without `/api/v3`, a proxy, a web page), and every
    /// issue would otherwise read as missing.
    #[error(
        "tracker url {base} does not look like the GitHub API: {url} answered {status} without GitHub's json error \
         (GitHub Enterprise serves its API under https://HOST/api/v3)"
    )]
    NotGithubApi { base: String, url: String, status: String },

    /// A GitHub `Link` header pointed the next page at another host, which would receive the credentials.
    #[error("{url} linked its next page to another host ({next}); not following it")]
    ForeignLink { url: String, next: String },
}

impl TrackerError {
    /// The underlying HTTP failure, for callers that branch on it (e.g. `kind()` for a metric).
    pub fn http(&self) -> Option<&HttpError> {
        match self {
            TrackerError::Http(error) => Some(error),
            _ => None,
        }
    }
}
