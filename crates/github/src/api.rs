//! The GitHub REST calls greenlight makes: posting a commit status ([`GitHub::create_status`]) and reading a
//! branch's head to find pushes whose webhooks were missed ([`GitHub::branch_head`]).
//!
//! This module owns the paths, GitHub's headers and the JSON shapes of those calls, and what a 404 means for
//! each. It deliberately does not retry, wait out rate limits, or break circuits (the `greenlight_http::Client`
//! it is given does all of that, and names the credential when GitHub refuses it), and it does not read tokens
//! from the environment (the binary does).

use greenlight_http::header::{ACCEPT, CONTENT_TYPE};
use greenlight_http::{Auth, Client, HttpError, Method, RequestBuilder, StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::status::{StatusState, fit_description};
use crate::webhook::is_sha;

/// github.com's API; GitHub Enterprise Server's is `https://<host>/api/v3`.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// The media type GitHub asks clients to accept.
pub const MEDIA_TYPE: &str = "application/vnd.github+json";
/// The REST API version greenlight is written against, sent as `X-GitHub-Api-Version`.
pub const API_VERSION: &str = "2022-11-28";

/// A GitHub REST API: where it is, the client every call goes through, and the credential it sends.
#[derive(Clone, Debug)]
pub struct GitHub {
    client: Client,
    api_url: Url,
    auth: Auth,
}

/// A GitHub call failed, or was not made because its arguments could not name anything on GitHub.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// Transport, status, credential (naming the client's credential), rate-limit and breaker failures, each
    /// naming the URL.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// GitHub answers 404 both for a repository that does not exist and for one the token may not see.
    #[error("{url} answered 404 Not Found: repository {repo} does not exist or the token cannot see it")]
    RepoNotFound { url: String, repo: String },
    #[error("invalid repository {0:?}: expected owner/name")]
    InvalidRepo(String),
    #[error("invalid commit sha {0:?}: expected 40 or 64 lowercase hex digits")]
    InvalidSha(String),
    #[error("invalid branch name {0:?}")]
    InvalidBranch(String),
    #[error("invalid GitHub api url {0:?}: expected an http or https url")]
    InvalidApiUrl(String),
    #[error("{url} named {sha:?} as the head of branch {branch}, which is not a commit id")]
    BadHead { url: String, branch: String, sha: String },
}

#[derive(Serialize)]
struct NewStatus<'a> {
    state: StatusState,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_url: Option<&'a str>,
    description: String,
    context: &'a str,
}

#[derive(Deserialize)]
struct Branch {
    commit: BranchCommit,
}

#[derive(Deserialize)]
struct BranchCommit {
    sha: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

impl GitHub {
    /// `api_url` is the API root, e.g. [`DEFAULT_API_URL`] or `https://ghe.example.com/api/v3`. Give the client a
    /// `credential_name` (e.g. `"GITHUB_TOKEN"`) so that a refused token is named in the error.
    pub fn new(client: Client, api_url: Url, auth: Auth) -> Result<Self, GitHubError> {
        if !matches!(api_url.scheme(), "http" | "https") || api_url.cannot_be_a_base() {
            return Err(GitHubError::InvalidApiUrl(api_url.to_string()));
        }
        Ok(Self { client, api_url, auth })
    }

    pub fn api_url(&self) -> &Url {
        &self.api_url
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `POST /repos/{owner}/{repo}/statuses/{sha}`. The description is made to fit GitHub's 140 characters
    /// (see [`fit_description`]); `context` tells greenlight's status apart from others on the same commit.
    pub async fn create_status(
        &self,
        repo: &str,
        sha: &str,
        state: StatusState,
        description: &str,
        target_url: Option<&str>,
        context: &str,
    ) -> Result<(), GitHubError> {
        let (owner, name) = split_repo(repo)?;
        if !is_sha(sha) {
            return Err(GitHubError::InvalidSha(sha.to_owned()));
        }
        let body = NewStatus { state, target_url, description: fit_description(description), context };
        let body = serde_json::to_vec(&body).expect("a status serializes to json");
        let url = self.url(&["repos", owner, name, "statuses", sha]);
        let request = self.request(Method::POST, url).header(CONTENT_TYPE, "application/json").body(body);
        match self.client.send(request).await {
            Ok(_) => Ok(()),
            Err(error) => Err(not_found_is_the_repo(error, repo)),
        }
    }

    /// The sha at the tip of `branch` (`GET /repos/{owner}/{repo}/branches/{branch}`), or `None` when the branch
    /// does not exist. A repository that does not exist, or that the token cannot see, is an error.
    pub async fn branch_head(&self, repo: &str, branch: &str) -> Result<Option<String>, GitHubError> {
        let (owner, name) = split_repo(repo)?;
        if branch.is_empty() || branch.starts_with("refs/") {
            return Err(GitHubError::InvalidBranch(branch.to_owned()));
        }
        let url = self.url(&["repos", owner, name, "branches", branch]);
        match self.client.json::<Branch>(self.request(Method::GET, url)).await {
            Ok(found) if is_sha(&found.commit.sha) => Ok(Some(found.commit.sha)),
            Ok(found) => Err(GitHubError::BadHead {
                url: greenlight_http::redact(&self.url(&["repos", owner, name, "branches", branch])),
                branch: branch.to_owned(),
                sha: found.commit.sha,
            }),
            Err(HttpError::Status { status, body, url }) if status == StatusCode::NOT_FOUND => {
                // GitHub says "Branch not found" for a missing branch and a bare "Not Found" for a repository it
                // will not show; anything else it may say about a 404 here is about the branch.
                let message = serde_json::from_str::<ErrorBody>(&body).map(|b| b.message);
                if message.is_ok_and(|m| m == "Not Found") {
                    Err(GitHubError::RepoNotFound { url, repo: repo.to_owned() })
                } else {
                    Ok(None)
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    /// A request with GitHub's headers and the credential.
    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let builder =
            self.client.request(method, url).header(ACCEPT, MEDIA_TYPE).header("X-GitHub-Api-Version", API_VERSION);
        self.auth.apply(builder)
    }

    /// The API root plus the segments, each percent-encoded (a `/` in a branch name becomes `%2F`).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.api_url.clone();
        url.path_segments_mut().expect("new() refuses urls that cannot be a base").pop_if_empty().extend(segments);
        url
    }
}

fn not_found_is_the_repo(error: HttpError, repo: &str) -> GitHubError {
    match error {
        HttpError::Status { status, url, .. } if status == StatusCode::NOT_FOUND => {
            GitHubError::RepoNotFound { url, repo: repo.to_owned() }
        }
        other => other.into(),
    }
}

/// `owner/name` → (`owner`, `name`).
fn split_repo(repo: &str) -> Result<(&str, &str), GitHubError> {
    let invalid = || GitHubError::InvalidRepo(repo.to_owned());
    let (owner, name) = repo.split_once('/').ok_or_else(invalid)?;
    let fine = |part: &str| {
        !part.is_empty() && part != "." && part != ".." && !part.contains(|c: char| c == '/' || c.is_whitespace())
    };
    if fine(owner) && fine(name) { Ok((owner, name)) } else { Err(invalid()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github(api_url: &str) -> GitHub {
        GitHub::new(Client::new().unwrap(), Url::parse(api_url).unwrap(), Auth::None).unwrap()
    }

    #[test]
    fn urls_keep_the_api_prefix_and_encode_segments() {
        let check = |api_url: &str, segments: &[&str], expect: &str| {
            assert_eq!(github(api_url).url(segments).as_str(), expect);
        };
        check(
            DEFAULT_API_URL,
            &["repos", "acme", "shop", "branches", "deploy"],
            "https://api.github.com/repos/acme/shop/branches/deploy",
        );
        check(
            "https://ghe.example.com/api/v3/",
            &["repos", "acme", "shop", "branches", "release/2.0"],
            "https://ghe.example.com/api/v3/repos/acme/shop/branches/release%2F2.0",
        );
        check(
            "http://127.0.0.1:9/api/v3",
            &["repos", "a", "b", "branches", "a b#c?"],
            "http://127.0.0.1:9/api/v3/repos/a/b/branches/a%20b%23c%3F",
        );
    }

    #[test]
    fn repository_names() {
        assert_eq!(split_repo("acme/shop").unwrap(), ("acme", "shop"));
        assert_eq!(split_repo("a-b/c.d_e").unwrap(), ("a-b", "c.d_e"));
        for bad in ["acme", "acme/", "/shop", "a/b/c", "a/..", "a /b", ""] {
            assert!(matches!(split_repo(bad), Err(GitHubError::InvalidRepo(r)) if r == bad), "{bad}");
        }
    }

    #[test]
    fn api_url_must_be_http() {
        let check = |url: &str| {
            let result = GitHub::new(Client::new().unwrap(), Url::parse(url).unwrap(), Auth::None);
            assert!(matches!(result, Err(GitHubError::InvalidApiUrl(_))), "{url}");
        };
        check("mailto:a@example.com");
        check("file:///tmp/api");
    }

    #[test]
    fn status_body_shape() {
        let body = NewStatus {
            state: StatusState::Pending,
            target_url: None,
            description: "checking".into(),
            context: "greenlight/pre-deploy",
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"state": "pending", "description": "checking", "context": "greenlight/pre-deploy"})
        );
    }
}
