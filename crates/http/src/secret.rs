//! Credentials as values that do not leak: [`Secret`] and the [`Auth`] schemes greenlight's adapters use.
//!
//! This module owns how a credential is held and how it is put on a request. It deliberately does not read
//! credentials from the environment or from config files (the binary does that) and does not know which
//! service a credential belongs to.

use std::fmt;

use reqwest::RequestBuilder;

/// A string that must not show up in logs: `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that has to send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How a request proves who sends it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Auth {
    #[default]
    None,
    /// `Authorization: Basic base64(user:token)` (Jira Cloud: e-mail and API token).
    Basic { user: String, token: Secret },
    /// `Authorization: Bearer <token>` (GitHub, Jira Data Center personal access tokens, Slack).
    Bearer(Secret),
}

impl Auth {
    /// Puts the credential on a request being built. The header is marked sensitive, so reqwest neither
    /// prints it nor forwards it on a redirect to another host.
    pub fn apply(&self, builder: RequestBuilder) -> RequestBuilder {
        match self {
            Auth::None => builder,
            Auth::Basic { user, token } => builder.basic_auth(user, Some(token.expose())),
            Auth::Bearer(token) => builder.bearer_auth(token.expose()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_its_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn auth_debug_hides_tokens() {
        let basic = Auth::Basic { user: "me@example.com".into(), token: "t0ken".into() };
        let bearer = Auth::Bearer("b3arer".into());
        let printed = format!("{basic:?} {bearer:?}");
        assert!(!printed.contains("t0ken") && !printed.contains("b3arer"), "{printed}");
        assert!(printed.contains("me@example.com"), "{printed}");
    }

    #[test]
    fn auth_sets_the_authorization_header() {
        let client = reqwest::Client::new();
        let check = |auth: Auth, expect: Option<&str>| {
            let request = auth.apply(client.get("http://127.0.0.1/")).build().unwrap();
            let header = request.headers().get(reqwest::header::AUTHORIZATION);
            assert_eq!(header.map(|v| v.to_str().unwrap()), expect);
            if let Some(header) = header {
                assert!(header.is_sensitive());
            }
        };
        check(Auth::None, None);
        check(Auth::Bearer("abc".into()), Some("Bearer abc"));
        // base64("user:pw") = dXNlcjpwdw==
        check(Auth::Basic { user: "user".into(), token: "pw".into() }, Some("Basic dXNlcjpwdw=="));
    }
}
