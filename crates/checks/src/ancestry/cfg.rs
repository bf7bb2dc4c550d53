//! `[checks.ancestry]`.

use serde::Deserialize;

use crate::config::Invalid;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// How many of the commits that would roll back the finding names.
    pub list: toml::Spanned<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Self { enabled: true, list: toml::Spanned::new(0..0, 5) }
    }
}

/// The validated section.
#[derive(Debug, Clone)]
pub struct ValidConfig {
    pub enabled: bool,
    pub list: usize,
}

impl Config {
    pub(crate) fn validate(self) -> Result<ValidConfig, Invalid> {
        let list = *self.list.get_ref();
        if !(1..=100).contains(&list) {
            return Err(Invalid::at(&self.list, "`list` must be between 1 and 100"));
        }
        Ok(ValidConfig { enabled: self.enabled, list })
    }
}
