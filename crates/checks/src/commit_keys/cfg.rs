//! `[checks.commit-keys]`.

use greenlight_core::keys::regex_reason;
use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use crate::config::Invalid;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    pub allow_merge: bool,
    pub allow_fixup: bool,
    pub allow_revert: bool,
    /// Regular expressions matched against the whole message; a match exempts the commit.
    pub ignore: Vec<Spanned<String>>,
}

impl Default for Config {
    fn default() -> Self {
        Self { enabled: true, allow_merge: true, allow_fixup: true, allow_revert: true, ignore: Vec::new() }
    }
}

/// The validated section: patterns compiled once.
#[derive(Debug, Clone)]
pub struct ValidConfig {
    pub enabled: bool,
    pub allow_merge: bool,
    pub allow_fixup: bool,
    pub allow_revert: bool,
    pub ignore: Vec<Regex>,
}

impl Config {
    pub(crate) fn validate(self) -> Result<ValidConfig, Invalid> {
        let ignore = self
            .ignore
            .iter()
            .map(|pattern| {
                Regex::new(pattern.get_ref()).map_err(|e| {
                    Invalid::at(
                        pattern,
                        format!("`ignore` pattern is not a valid regular expression: {}", regex_reason(&e)),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(ValidConfig {
            enabled: self.enabled,
            allow_merge: self.allow_merge,
            allow_fixup: self.allow_fixup,
            allow_revert: self.allow_revert,
            ignore,
        })
    }
}
