//! Issue keys and the rules that find them in commit messages.
//!
//! Owns: the `IssueKey` value, the default Jira key pattern, the exclusion of advisory ids (`CVE-2024-1234`), the names that are never projects
//! (`UTF-8`, `SHA-256`), the project allow-list and GitHub `#123` references (never read from URLs). Does not own:
//! where the rules come from (config lives in `greenlight-checks`) or whether a key exists in a tracker.

use std::cmp::Ordering;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// The default pattern: a Jira key. A project key of two or more characters (a letter, then letters, digits or
/// `_`), a dash, and a number without a leading zero, standing alone as a word (ASCII word boundaries, so the
/// matcher stays on its fast path for any text). ASCII only, also with `ignore_case` (no Kelvin sign for `K`).
pub const DEFAULT_JIRA_PATTERN: &str = r"(?-u:\b[A-Z][A-Z0-9_]+-[1-9][0-9]*\b)";

/// Prefixes of well-known names that look like Jira keys but name a standard, an encoding, an algorithm, a time
/// zone or a model (`UTF-8`, `SHA-256`, `RFC-7231`, `UTC-5`, `GPT-4`). They are never keys unless the project
/// allow-list names them. `CVE` is handled apart (`CVE-12` is a key, `CVE-2024-1234` never).
///
/// The list holds only prefixes that are written upper-case with a dash and a number in ordinary prose and that are
/// unlikely project keys. Left out on purpose: one-letter names (`X-509`, `P-256`: a project key has two or more
/// characters, so they never match), and plausible project keys that rarely appear in that form (`MD`, `ES`, `GO`).
#[rustfmt::skip]
pub const NOT_PROJECTS: &[&str] = &[
    // character sets and encodings
    "UTF", "UCS",
    // hashes, checksums, ciphers
    "SHA", "SHA2", "SHA3", "CRC", "AES", "RSA", "PKCS",
    // standards bodies and document series
    "RFC", "BCP", "ISO", "IEC", "IEEE", "ECMA", "FIPS", "SQL",
    // improvement proposals and specifications
    "PEP", "JEP", "JSR", "KEP", "EIP", "ERC", "BIP",
    // protocols, formats, architectures
    "HTTP", "TLS", "SSL", "MPEG", "X86",
    // weakness ids, time zones, models, the pandemic
    "CWE", "UTC", "GMT", "GPT", "COVID",
];

/// `#123` and `owner/repo#123`. The characters around a match are checked separately (see `github_ref_allowed`).
const GITHUB_REF_PATTERN: &str = r"(?:[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9_.-]+)?#[1-9][0-9]*(?-u:\b)";

/// One issue named by a commit: a Jira key (`ABC-123`) or a GitHub reference (`#12`, `acme/shop#12`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IssueKey(String);

impl IssueKey {
    /// Wraps a key as written; no validation (keys come from `KeyRules` or from stored reports).
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The project part of a Jira key (`ABC` in `ABC-12`); `None` for GitHub references.
    pub fn project(&self) -> Option<&str> {
        self.jira_parts().map(|(project, _)| project)
    }

    fn jira_parts(&self) -> Option<(&str, u64)> {
        if self.0.contains('#') {
            return None;
        }
        let (project, number) = self.0.rsplit_once('-')?;
        Some((project, number.parse().ok()?))
    }

    /// Sorts `ABC-9` before `ABC-10`, Jira keys before GitHub references, and `#9` before `#10`.
    fn sort_key(&self) -> (u8, &str, u64) {
        if let Some((project, number)) = self.jira_parts() {
            return (0, project, number);
        }
        match self.0.rsplit_once('#') {
            Some((repo, number)) => (1, repo, number.parse().unwrap_or(u64::MAX)),
            None => (2, &self.0, 0),
        }
    }
}

/// Sorts items by their issue key in `IssueKey`'s order, computing each key's sort key once and allocating nothing
/// per item (many thousands of keys sort in a deploy report).
pub fn sort_by_issue_key<T>(items: &mut Vec<T>, key: impl Fn(&T) -> &IssueKey) {
    let mut order: Vec<usize> = (0..items.len()).collect();
    {
        let keys: Vec<((u8, &str, u64), &str)> = items
            .iter()
            .map(|item| {
                let key = key(item);
                (key.sort_key(), key.as_str())
            })
            .collect();
        order.sort_unstable_by(|&a, &b| keys[a].cmp(&keys[b]));
    }
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(order.into_iter().filter_map(|i| slots[i].take()));
}

/// Each key's place in `IssueKey`'s order as a number, for sorting many keys at once without comparing strings: the
/// text part of its sort key (a Jira project, a GitHub repository) becomes that text's rank among the distinct ones
/// (there are few), above the issue number. Two different keys can still share a number (`AB-7` and `AB-07` under
/// a custom pattern), so a tie is broken by the key itself.
pub(crate) fn sort_numbers<'k>(keys: impl Iterator<Item = &'k IssueKey>) -> Vec<u128> {
    let mut parts: rustc_hash::FxHashMap<(u8, &str), usize> = rustc_hash::FxHashMap::default();
    let numbered: Vec<(usize, u64)> = keys
        .map(|key| {
            let (kind, part, number) = key.sort_key();
            let next = parts.len();
            (*parts.entry((kind, part)).or_insert(next), number)
        })
        .collect();
    let mut distinct: Vec<((u8, &str), usize)> = parts.into_iter().collect();
    distinct.sort_unstable();
    let mut rank = vec![0; distinct.len()];
    for (place, &(_, part)) in distinct.iter().enumerate() {
        rank[part] = place as u128;
    }
    numbered.into_iter().map(|(part, number)| (rank[part] << 64) | u128::from(number)).collect()
}

impl Ord for IssueKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key()).then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for IssueKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for IssueKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a team says about its keys, before validation. Empty `patterns` means the default Jira pattern.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySettings {
    pub patterns: Vec<String>,
    pub projects: Vec<String>,
    pub github: bool,
    pub ignore_case: bool,
}

/// `index` counts from 0; the messages count from 1, as people do.
#[derive(Debug, thiserror::Error)]
pub enum KeyRuleError {
    #[error("pattern {} is not a valid regular expression: {reason}", index + 1)]
    Pattern { index: usize, reason: String },
    #[error(
        "project {} ({value:?}) is not a project key: a letter, then letters, digits or `_`, 2 or more characters",
        index + 1
    )]
    Project { index: usize, value: String },
}

/// Validated key rules: compiled once, then applied to any number of messages.
#[derive(Clone, Debug)]
pub struct KeyRules {
    patterns: Vec<Regex>,
    /// `patterns` is the default Jira pattern, whose matches must also stand alone as Unicode words.
    default_pattern: bool,
    projects: Vec<String>,
    github: Option<Regex>,
    ignore_case: bool,
}

impl Default for KeyRules {
    fn default() -> Self {
        Self::new(&KeySettings::default()).expect("the default key rules compile")
    }
}

impl KeyRules {
    pub fn new(settings: &KeySettings) -> Result<Self, KeyRuleError> {
        let sources: Vec<&str> = if settings.patterns.is_empty() {
            vec![DEFAULT_JIRA_PATTERN]
        } else {
            settings.patterns.iter().map(String::as_str).collect()
        };
        let patterns = sources
            .iter()
            .enumerate()
            .map(|(index, source)| {
                regex::RegexBuilder::new(source)
                    .case_insensitive(settings.ignore_case)
                    .build()
                    .map_err(|e| KeyRuleError::Pattern { index, reason: regex_reason(&e) })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let projects = settings
            .projects
            .iter()
            .enumerate()
            .map(|(index, value)| {
                if is_project_key(value) {
                    Ok(value.to_ascii_uppercase())
                } else {
                    Err(KeyRuleError::Project { index, value: value.clone() })
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let github =
            settings.github.then(|| Regex::new(GITHUB_REF_PATTERN).expect("the GitHub reference pattern compiles"));
        Ok(Self {
            patterns,
            default_pattern: settings.patterns.is_empty(),
            projects,
            github,
            ignore_case: settings.ignore_case,
        })
    }

    /// The keys a message names, each once, in the order they first appear.
    pub fn extract(&self, message: &str) -> Vec<IssueKey> {
        let mut found: Vec<(usize, IssueKey)> = Vec::new();
        let mut add = |start: usize, key: IssueKey| {
            if !found.iter().any(|(_, k)| *k == key) {
                found.push((start, key));
            }
        };
        for pattern in &self.patterns {
            if pattern.captures_len() == 1 {
                for m in pattern.find_iter(message) {
                    if self.default_pattern && !stands_alone(message, m.start(), m.end()) {
                        continue;
                    }
                    if let Some(key) = self.accept_jira(message, m.as_str(), m.end()) {
                        add(m.start(), key);
                    }
                }
            } else {
                for caps in pattern.captures_iter(message) {
                    let Some(m) = caps.name("key").or_else(|| caps.get(1)).or_else(|| caps.get(0)) else {
                        continue;
                    };
                    if let Some(key) = self.accept_jira(message, m.as_str(), m.end()) {
                        add(m.start(), key);
                    }
                }
            }
        }
        if let Some(github) = &self.github {
            for m in github.find_iter(message) {
                if github_ref_allowed(message, m.start(), m.end()) {
                    add(m.start(), IssueKey::new(m.as_str()));
                }
            }
        }
        found.sort_by_key(|(start, _)| *start);
        found.into_iter().map(|(_, key)| key).collect()
    }

    /// Applies the advisory-id exclusion, case normalisation and the project allow-list to one pattern match.
    fn accept_jira(&self, message: &str, text: &str, end: usize) -> Option<IssueKey> {
        let key = if self.ignore_case { text.to_ascii_uppercase() } else { text.to_owned() };
        let project = key.rsplit_once('-').map_or(key.as_str(), |(project, _)| project);
        if is_advisory_id(project, &message[end..]) {
            return None;
        }
        if self.projects.is_empty() {
            if NOT_PROJECTS.contains(&project) {
                return None;
            }
        } else if !self.projects.iter().any(|p| p == project) {
            return None;
        }
        Some(IssueKey(key))
    }

    /// An example subject for messages that tell people how to fix a commit: one whose key these rules find, or
    /// `None` when no usual spelling of a key matches the team's own patterns.
    pub fn example(&self) -> Option<String> {
        let project = self.projects.first().map_or("ABC", String::as_str);
        [format!("{project}-123"), "#123".to_owned(), format!("[{project}-123]"), format!("{project}123"), "123".into()]
            .into_iter()
            .map(|key| format!("{key} Fix rounding in the cart total"))
            .find(|subject| !self.extract(subject).is_empty())
    }

    /// The patterns keys are found with, as written (the default Jira pattern unless the team wrote its own).
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(Regex::as_str)
    }
}

/// A regex error on one line: the syntax error's own words without the drawing that points at it.
pub fn regex_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .rev()
        .find_map(|line| line.strip_prefix("error: "))
        .unwrap_or_else(|| text.lines().next().unwrap_or_default())
        .to_owned()
}

/// Prefixes of security advisory ids, whose first number is followed by `-` or `:` and another number:
/// `CVE-2024-12345`, `RUSTSEC-2021-0001`, `PYSEC-2021-42`, `RHSA-2021:1234`, `ALAS2-2021-1234`, `DSA-5000-1`,
/// `USN-6000-1`.
pub const ADVISORIES: &[&str] =
    &["CVE", "RUSTSEC", "PYSEC", "OSV", "RHSA", "RHBA", "RHEA", "ELSA", "ALAS", "ALAS2", "DSA", "DLA", "USN"];

/// `CVE-2024` followed by `-12345` is a vulnerability id, not issue 2024 of project CVE; likewise for every advisory
/// prefix. The prefix alone is still a project (`CVE-12`).
fn is_advisory_id(project: &str, rest: &str) -> bool {
    ADVISORIES.iter().any(|advisory| project.eq_ignore_ascii_case(advisory))
        && matches!(rest.as_bytes().first(), Some(b'-' | b':'))
        && rest.as_bytes().get(1).is_some_and(u8::is_ascii_digit)
}

/// A GitHub reference stands alone as a word: `#12` is not glued to a word (`issue#12`, `é#12`) nor an HTML entity
/// (`&#12;`). Nor is it part of a URL: `owner/repo#12` does not follow `/` or `.` (`example.com/docs/page#12`), and
/// no reference sits in a token that holds `://` before it (`https://example.com/?r=acme/shop#12`).
fn github_ref_allowed(message: &str, start: usize, end: usize) -> bool {
    let before = message[..start].chars().next_back();
    if before.is_some_and(|c| is_word_char(c) || matches!(c, '&' | '#'))
        || message[end..].chars().next().is_some_and(is_word_char)
    {
        return false;
    }
    if !message[start..].starts_with('#') && matches!(before, Some('/' | '.')) {
        return false;
    }
    let token = message[..start].rsplit(char::is_whitespace).next().unwrap_or_default();
    !token.contains("://")
}

/// Neither the character before `start` nor the one at `end` is a word character: a match stands alone as a word in
/// the Unicode sense (`éABC-12` and `ABC-12é` name no key), which the ASCII `\b` of the fast pattern cannot see.
fn stands_alone(message: &str, start: usize, end: usize) -> bool {
    !message[..start].chars().next_back().is_some_and(is_word_char)
        && !message[end..].chars().next().is_some_and(is_word_char)
}

/// A word character as `\w` means it in Unicode mode (letters, marks, digits, connectors).
fn is_word_char(c: char) -> bool {
    static WORD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\w$").expect("the word pattern compiles"));
    if c.is_ascii() { c.is_ascii_alphanumeric() || c == '_' } else { WORD.is_match(c.encode_utf8(&mut [0; 4])) }
}

/// Jira's rule for a project key: a letter, then letters, digits or underscores; at least two characters.
pub fn is_project_key(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(settings: KeySettings, message: &str, expect: &[&str]) {
        let rules = KeyRules::new(&settings).unwrap();
        let got: Vec<String> = rules.extract(message).into_iter().map(|k| k.0).collect();
        assert_eq!(got, expect, "message: {message:?}");
    }

    fn default(message: &str, expect: &[&str]) {
        check(KeySettings::default(), message, expect);
    }

    #[test]
    fn jira_keys_in_subject_and_body() {
        default("ABC-1 fix checkout", &["ABC-1"]);
        default("fix checkout\n\nRefs: XY_Z2-42, ABC-7", &["XY_Z2-42", "ABC-7"]);
        default("[ABC-12] (DEF-3): GHI-4.", &["ABC-12", "DEF-3", "GHI-4"]);
        default("ABC-1 and again ABC-1", &["ABC-1"]);
        default("feature/ABC-99-new-cart merged", &["ABC-99"]);
    }

    #[test]
    fn look_alikes_are_not_keys() {
        default("A-1 is too short a project", &[]);
        default("ABC-0 and ABC-012 have leading zeros", &[]);
        default("utf-8, sha-256, covid-19 and iso-8859 are lowercase", &[]);
        default("xABC-1 ABC-1x ABC-1_ _ABC-1 1ABC-2", &[]);
        default("2024-12-01 is a date", &[]);
    }

    #[test]
    fn cve_ids_are_never_keys() {
        default("bump openssl for CVE-2024-12345", &[]);
        default("CVE-2023-4863 and ABC-5", &["ABC-5"]);
        default("a project named CVE: CVE-12 works", &["CVE-12"]);
        default("RUSTSEC-2021-0001, RHSA-2021:1234, ALAS2-2021-1234, DSA-5000-1, USN-6000-1, PYSEC-2021-42", &[]);
        default("DSA-12 is a project's key; so is USN-3: here", &["DSA-12", "USN-3"]);
        check(KeySettings { ignore_case: true, ..Default::default() }, "fix cve-2024-1234", &[]);
    }

    #[test]
    fn ignore_case_normalises_to_upper_case() {
        let settings = KeySettings { ignore_case: true, projects: vec!["abc".into()], ..Default::default() };
        check(settings, "abc-12 fixes Abc-13, not utf-8", &["ABC-12", "ABC-13"]);
    }

    #[test]
    fn project_allow_list() {
        let settings = KeySettings { projects: vec!["ABC".into()], ..Default::default() };
        check(settings, "ABC-1 XYZ-2 ABCD-3", &["ABC-1"]);
    }

    #[test]
    fn github_references() {
        let settings = KeySettings { github: true, ..Default::default() };
        check(settings.clone(), "Fix cart (#12) and acme/shop#7, see ABC-3", &["#12", "acme/shop#7", "ABC-3"]);
        check(settings.clone(), "issue#12 &#39; #0 ##5", &[]);
        check(settings, "PR #3\n\nCloses #3", &["#3"]);
    }

    #[test]
    fn standard_and_encoding_names_are_not_keys() {
        default("Use SHA-256 for digests, force UTF-8 and ISO-8859 input", &[]);
        default("per RFC-7231 and GPT-4; AES-256, CRC-32, SHA3-512, PEP-8, CWE-79, UTC-5, X86-64", &[]);
        default("ABC-12 uses UTF-8, PLATFORM-1234 SHA-1", &["ABC-12", "PLATFORM-1234"]);
        let settings = KeySettings { projects: vec!["ABC".into(), "SHA".into()], ..Default::default() };
        check(settings, "SHA-2 and ABC-3, not UTF-8", &["SHA-2", "ABC-3"]);
    }

    #[test]
    fn ignore_case_does_not_turn_lower_case_names_into_keys() {
        let settings = KeySettings { ignore_case: true, ..Default::default() };
        check(settings, "read utf-8 and sha-256, fix abc-12", &["ABC-12"]);
    }

    #[test]
    fn keys_stand_alone_as_unicode_words() {
        default("éABC-12 ÄBC-3 ABC-12é straßeABC-4", &[]);
        default("«ABC-12» — DEF-3… 日本 GHI-4", &["ABC-12", "DEF-3", "GHI-4"]);
        let settings = KeySettings { ignore_case: true, ..Default::default() };
        check(settings, "\u{212A}EY-12 is not KEY-12 spelled with a Kelvin sign", &["KEY-12"]);
        let settings = KeySettings { github: true, ..Default::default() };
        check(settings, "é#12 éacme/shop#3 #4é (#5)", &["#5"]);
    }

    #[test]
    fn github_references_are_not_read_from_urls() {
        let settings = KeySettings { github: true, ..Default::default() };
        check(settings.clone(), "See https://example.com/docs/page#12", &[]);
        check(settings.clone(), "see example.com/docs/page#12 and www.acme/shop#3", &[]);
        check(settings.clone(), "https://github.com/acme/shop#12 https://x.org/?r=acme/shop#4 https://x.org/#5", &[]);
        check(
            settings.clone(),
            "docs at https://x.org/a, fixes acme/shop#12 and #13/#14",
            &["acme/shop#12", "#13", "#14"],
        );
        check(settings, "GH-12, issue#12, #7 and acme/shop#9", &["GH-12", "#7", "acme/shop#9"]);
    }

    #[test]
    fn custom_patterns_use_the_key_group() {
        let settings =
            KeySettings { patterns: vec![r"(?-u:\b)ticket[ :]+(?<key>[0-9]+)".into()], ..Default::default() };
        check(settings, "ticket: 4711 and ticket 12", &["4711", "12"]);
    }

    #[test]
    fn invalid_settings_are_reported() {
        let err = KeyRules::new(&KeySettings { patterns: vec!["(".into()], ..Default::default() }).unwrap_err();
        assert!(matches!(err, KeyRuleError::Pattern { index: 0, .. }), "{err}");
        let err = KeyRules::new(&KeySettings { projects: vec!["1AB".into()], ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("\"1AB\""), "{err}");
    }

    #[test]
    fn sort_by_issue_key_matches_ord() {
        let mut items: Vec<(IssueKey, usize)> = ["B-1", "AB-10", "#2", "AB-9", "acme/x#1", "#10", "AB-9"]
            .iter()
            .map(|k| IssueKey::new(*k))
            .zip(0..)
            .collect();
        let mut expect = items.clone();
        expect.sort();
        sort_by_issue_key(&mut items, |(key, _)| key);
        assert_eq!(items, expect);
    }

    #[test]
    fn sort_numbers_follow_ord() {
        let keys: Vec<IssueKey> =
            ["B-1", "AB-10", "#2", "AB-9", "acme/x#1", "#10", "AB-9", "AB-09", "ZZ", "#x"].map(IssueKey::new).into();
        let numbers = sort_numbers(keys.iter());
        for (a, na) in keys.iter().zip(&numbers) {
            for (b, nb) in keys.iter().zip(&numbers) {
                assert_eq!((na, a.as_str()).cmp(&(nb, b.as_str())), a.cmp(b), "{a} against {b}");
            }
        }
    }

    #[test]
    fn keys_sort_by_project_then_number() {
        let mut keys: Vec<IssueKey> = ["B-1", "AB-10", "#2", "AB-9", "acme/x#1", "#10"].map(IssueKey::new).into();
        keys.sort();
        let got: Vec<&str> = keys.iter().map(IssueKey::as_str).collect();
        assert_eq!(got, ["AB-9", "AB-10", "B-1", "#2", "#10", "acme/x#1"]);
    }

    fn project() -> impl Strategy<Value = String> {
        "[A-Z][A-Z0-9_]{1,9}"
            .prop_filter("advisory prefixes", |p| !ADVISORIES.contains(&p.as_str()))
            .prop_filter("well-known names are not projects", |p| !NOT_PROJECTS.contains(&p.as_str()))
    }

    proptest! {
        /// Any key that follows Jira's rules is found wherever it stands between non-word characters.
        #[test]
        fn every_valid_key_is_found(
            project in project(),
            number in 1u64..10_000_000,
            before in "[ \n(\\[:/,]{0,3}",
            after in "[ \n)\\]:.,]{0,3}",
            text in "[a-z ]{0,20}",
        ) {
            let key = format!("{project}-{number}");
            let message = format!("{text} {before}{key}{after} {text}");
            let got = KeyRules::default().extract(&message);
            prop_assert_eq!(got, vec![IssueKey::new(key)]);
        }

        /// Nothing that breaks the rules is ever reported: every extracted key obeys them.
        #[test]
        fn extracted_keys_obey_the_rules(message in "[A-Za-z0-9_ \\-\n#]{0,80}") {
            for key in KeyRules::default().extract(&message) {
                let (project, number) = key.as_str().rsplit_once('-').unwrap();
                prop_assert!(is_project_key(project), "{}", key);
                prop_assert!(project.chars().all(|c| !c.is_ascii_lowercase()), "{}", key);
                prop_assert!(!number.starts_with('0') && number.parse::<u64>().is_ok(), "{}", key);
            }
        }

        /// A number with a leading zero is never a key number.
        #[test]
        fn leading_zero_is_never_a_key(project in project(), number in 0u64..100_000) {
            let message = format!("{project}-0{number}");
            prop_assert!(KeyRules::default().extract(&message).is_empty());
        }

        /// CVE ids are never keys, in any case.
        #[test]
        fn cve_ids_never_match(year in 1999u32..2100, number in 1000u64..10_000_000, lower: bool) {
            let id = format!("CVE-{year}-{number}");
            let id = if lower { id.to_lowercase() } else { id };
            let rules = KeyRules::new(&KeySettings { ignore_case: true, ..Default::default() }).unwrap();
            let message = format!("fix {id} now");
            prop_assert!(rules.extract(&message).is_empty());
        }
    }

    #[test]
    fn the_example_is_one_the_rules_find() {
        let example = |settings: KeySettings| KeyRules::new(&settings).unwrap().example();
        assert_eq!(example(KeySettings::default()).as_deref(), Some("ABC-123 Fix rounding in the cart total"));
        let projects = KeySettings { projects: vec!["shop".into()], ..Default::default() };
        assert_eq!(example(projects).as_deref(), Some("SHOP-123 Fix rounding in the cart total"));
        let hash = KeySettings { patterns: vec![r"#(\d+)".into()], ..Default::default() };
        assert_eq!(example(hash).as_deref(), Some("#123 Fix rounding in the cart total"));
        let bracketed = KeySettings { patterns: vec![r"\[([A-Z]+-\d+)\]".into()], ..Default::default() };
        assert_eq!(example(bracketed).as_deref(), Some("[ABC-123] Fix rounding in the cart total"));
        let odd = KeySettings { patterns: vec![r"ticket:(\d{6})".into()], ..Default::default() };
        assert_eq!(example(odd), None);
    }
}
