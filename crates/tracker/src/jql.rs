//! JQL that greenlight writes: quoted values, `key in (…)` for bulk reads, and the default ready search.
//!
//! Owns quoting and the shape of these queries. Does not own a user's `ready_query`, which is sent as written.

/// A JQL string literal: double quotes, with `\` and `"` escaped (and line breaks, which cannot stand in a literal).
pub(crate) fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn list<S: AsRef<str>>(values: &[S]) -> String {
    values.iter().map(|v| quote(v.as_ref())).collect::<Vec<_>>().join(", ")
}

/// `key in ("A-1", "B-2")`.
pub(crate) fn keys_in<S: AsRef<str>>(keys: &[S]) -> String {
    format!("key in ({})", list(keys))
}

/// `status in ("A", "B") AND project in ("X", "Y") ORDER BY key ASC`, without the project clause when no project is
/// listed; `None` when there is no ready status. The order keeps `startAt` paging stable while issues change.
pub(crate) fn ready(statuses: &[String], projects: &[String]) -> Option<String> {
    if statuses.is_empty() {
        return None;
    }
    let mut jql = format!("status in ({})", list(statuses));
    if !projects.is_empty() {
        jql.push_str(&format!(" AND project in ({})", list(projects)));
    }
    jql.push_str(" ORDER BY key ASC");
    Some(jql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted() {
        let check = |value: &str, expect: &str| assert_eq!(quote(value), expect);
        check("Done", r#""Done""#);
        check("Ready for \"prod\"", r#""Ready for \"prod\"""#);
        check(r"a\b", r#""a\\b""#);
        check("two\nlines", r#""two\nlines""#);
    }

    #[test]
    fn queries() {
        assert_eq!(keys_in(&["AB-1", "CD-22"]), r#"key in ("AB-1", "CD-22")"#);
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            ready(&strings(&["Ready", "In QA"]), &strings(&["AB", "CD"])).as_deref(),
            Some(r#"status in ("Ready", "In QA") AND project in ("AB", "CD") ORDER BY key ASC"#)
        );
        assert_eq!(ready(&strings(&["Done"]), &[]).as_deref(), Some(r#"status in ("Done") ORDER BY key ASC"#));
        assert_eq!(ready(&[], &strings(&["AB"])), None);
    }
}
