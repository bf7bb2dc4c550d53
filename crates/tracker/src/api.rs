//! The one place requests to the tracker are built and sent: base URL joining, the tracker's headers, the
//! credential, and JSON in and out, all through `greenlight_http::Client`.
//!
//! Owns: turning a path into a URL on the tracker and a request into decoded JSON. Does not own: which requests to
//! make (`jira`, `github`) or transport behaviour (the client retries, times out and breaks circuits).

use greenlight_http::header::{ACCEPT, CONTENT_TYPE};
use greenlight_http::{Auth, Client, Method, RequestBuilder, Response, Url, redact};
use serde::de::DeserializeOwned;

use crate::{Kind, Settings, TrackerError};

/// GitHub's media type and the API version greenlight was written against.
const GITHUB_ACCEPT: &str = "application/vnd.github+json";
const GITHUB_API_VERSION: &str = "2022-11-28";

pub(crate) struct Api<'a> {
    client: &'a Client,
    auth: &'a Auth,
    /// The tracker URL without a trailing slash.
    base: String,
    github: bool,
}

impl<'a> Api<'a> {
    pub(crate) fn new(settings: &Settings, client: &'a Client, auth: &'a Auth) -> Result<Self, TrackerError> {
        let base = settings.url.trim_end_matches('/').to_owned();
        let parsed =
            Url::parse(&base).map_err(|e| TrackerError::Url { url: settings.url.clone(), reason: e.to_string() })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(TrackerError::Url {
                url: settings.url.clone(),
                reason: "it must be an http:// or https:// url with a host".to_owned(),
            });
        }
        Ok(Self { client, auth, base, github: settings.kind == Kind::Github })
    }

    /// The tracker's base URL, for links people read (`{site}/browse/KEY`).
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// `path` (starting with `/`) on the tracker.
    pub(crate) fn url(&self, path: &str) -> Result<Url, TrackerError> {
        let joined = format!("{}{path}", self.base);
        Url::parse(&joined).map_err(|e| TrackerError::Url { url: joined, reason: e.to_string() })
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let builder = self.client.request(method, url);
        let builder = if self.github {
            builder.header(ACCEPT, GITHUB_ACCEPT).header("X-GitHub-Api-Version", GITHUB_API_VERSION)
        } else {
            builder.header(ACCEPT, "application/json")
        };
        self.auth.apply(builder)
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T, TrackerError> {
        Ok(self.client.json(self.request(Method::GET, url)).await?)
    }

    /// A GET whose headers matter too (GitHub's `Link`).
    pub(crate) async fn get_response(&self, url: Url) -> Result<Response, TrackerError> {
        Ok(self.client.send(self.request(Method::GET, url)).await?)
    }

    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        url: Url,
        body: &serde_json::Value,
    ) -> Result<T, TrackerError> {
        let request = self.request(Method::POST, url).header(CONTENT_TYPE, "application/json").body(body.to_string());
        Ok(self.client.json(request).await?)
    }
}

/// The URL as messages show it (no query string, no credentials).
pub(crate) fn shown(url: &Url) -> String {
    redact(url)
}

/// Pages read before a paginated answer is taken for a loop: 1,000 pages of 100 issues.
pub(crate) const MAX_PAGES: usize = 1000;
