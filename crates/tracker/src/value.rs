//! A tracker's field value, as JSON, mapped onto `greenlight_core::FieldValue`.
//!
//! Owns the rules for every shape Jira and GitHub use: null and empty values, text, numbers, select options
//! (`{"value": …}`), users (`{"displayName": …}`), named objects, lists of any of these, and Jira Cloud rich text
//! (Atlassian Document Format) reduced to its text. Does not own which fields are asked for or what a value must be.

use greenlight_core::FieldValue;
use serde_json::Value;

/// Keys of an object that name it, most telling first: a select's option, a user, a named thing (priority,
/// component, version, sprint), a GitHub milestone, a GitHub user, an issue.
const NAMING_KEYS: [&str; 6] = ["value", "displayName", "name", "title", "login", "key"];

/// The value of one field; `None` is a field the answer does not carry.
pub(crate) fn field_value(value: Option<&Value>) -> FieldValue {
    let Some(value) = value else {
        return FieldValue::Empty;
    };
    match value {
        Value::Null => FieldValue::Empty,
        Value::Number(n) => n.as_f64().map_or_else(|| FieldValue::Text(n.to_string()), FieldValue::Number),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().filter_map(text).filter(|t| !t.is_empty()).collect();
            if items.is_empty() { FieldValue::Empty } else { FieldValue::List(items) }
        }
        Value::String(_) | Value::Bool(_) | Value::Object(_) => match text(value) {
            Some(text) if !text.is_empty() => FieldValue::Text(text),
            _ => FieldValue::Empty,
        },
    }
}

/// One value as text: what a list item or a single-valued field shows. `None` for null.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => Some(items.iter().filter_map(text).collect::<Vec<_>>().join(", ")),
        Value::Object(object) => {
            if is_adf(value) {
                return Some(adf_text(value));
            }
            for key in NAMING_KEYS {
                match object.get(key) {
                    Some(Value::String(s)) => return Some(s.clone()),
                    Some(Value::Number(n)) => return Some(n.to_string()),
                    _ => {}
                }
            }
            // An object of a kind we do not know still has a value; show it as it came.
            (!object.is_empty()).then(|| value.to_string())
        }
    }
}

/// Atlassian Document Format: `{"type": "doc", "content": [...]}`.
fn is_adf(value: &Value) -> bool {
    value.get("type").and_then(Value::as_str) == Some("doc") && value.get("content").is_some_and(Value::is_array)
}

/// The text of a rich-text document: its text nodes, and each other piece of content as the text it shows (a
/// mention, an emoji, a status lozenge, a date, a link card's URL) or as `[image]` and the like, one line per block.
/// Only empty blocks, line breaks, dividers and placeholder text (the hint shown in an empty field) leave it empty.
fn adf_text(doc: &Value) -> String {
    let mut out = String::new();
    walk_adf(doc, &mut out);
    out.lines().map(str::trim).filter(|line| !line.is_empty()).collect::<Vec<_>>().join("\n")
}

/// Nodes that are only structure: what they hold is their content, and without content they hold nothing.
const ADF_CONTAINERS: [&str; 25] = [
    "doc",
    "paragraph",
    "heading",
    "blockquote",
    "bulletList",
    "orderedList",
    "listItem",
    "codeBlock",
    "panel",
    "table",
    "tableRow",
    "tableHeader",
    "tableCell",
    "expand",
    "nestedExpand",
    "layoutSection",
    "layoutColumn",
    "mediaSingle",
    "mediaGroup",
    "taskList",
    "taskItem",
    "decisionList",
    "decisionItem",
    "multiBodiedExtension",
    "extensionFrame",
];

fn walk_adf(node: &Value, out: &mut String) {
    let attr = |name: &str| {
        node.get("attrs").and_then(|a| a.get(name)).and_then(|v| match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    match node.get("type").and_then(Value::as_str) {
        Some("text") => out.push_str(node.get("text").and_then(Value::as_str).unwrap_or_default()),
        Some("hardBreak") => out.push('\n'),
        Some("placeholder" | "rule") | None => {}
        Some("mention" | "emoji") => {
            out.push_str(&attr("text").or_else(|| attr("shortName")).unwrap_or_else(|| "[mention]".to_owned()))
        }
        Some("status") => out.push_str(&attr("text").unwrap_or_else(|| "[status]".to_owned())),
        Some("date") => out.push_str(&attr("timestamp").unwrap_or_else(|| "[date]".to_owned())),
        Some("inlineCard" | "blockCard" | "embedCard") => {
            out.push_str(&attr("url").unwrap_or_else(|| "[link]".to_owned()))
        }
        Some("media" | "mediaInline") => out.push_str(&attr("alt").unwrap_or_else(|| "[image]".to_owned())),
        Some(kind) if !ADF_CONTAINERS.contains(&kind) => {
            // Content of a kind not listed here (an extension, a newer node): it is something, so it fills the field.
            out.push_str(&attr("text").unwrap_or_else(|| format!("[{kind}]")))
        }
        Some(_) => {}
    }
    if let Some(children) = node.get("content").and_then(Value::as_array) {
        for child in children {
            walk_adf(child, out);
        }
        // Only blocks have content; each ends a line.
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(value: Value, expect: FieldValue) {
        assert_eq!(field_value(Some(&value)), expect, "{value}");
    }

    fn list(items: &[&str]) -> FieldValue {
        FieldValue::List(items.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn empty_values() {
        assert_eq!(field_value(None), FieldValue::Empty);
        check(json!(null), FieldValue::Empty);
        check(json!(""), FieldValue::Empty);
        check(json!([]), FieldValue::Empty);
        check(json!({}), FieldValue::Empty);
        check(json!([null, ""]), FieldValue::Empty);
        check(
            json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": []}]}),
            FieldValue::Empty,
        );
        // Placeholder text is the hint of an empty field; breaks, dividers and bare blocks hold nothing.
        check(
            json!({"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [
                    {"type": "placeholder", "attrs": {"text": "Describe the checks"}},
                    {"type": "hardBreak"}
                ]},
                {"type": "rule"},
                {"type": "paragraph"},
                {"type": "heading", "attrs": {"level": 2}}
            ]}),
            FieldValue::Empty,
        );
    }

    #[test]
    fn rich_text_without_text_is_still_filled() {
        let doc = |content: Value| json!({"type": "doc", "version": 1, "content": content});
        check(
            doc(json!([{"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [
                {"type": "media", "attrs": {"id": "abc-123", "type": "file", "collection": "jira-10000"}}
            ]}])),
            FieldValue::Text("[image]".into()),
        );
        check(
            doc(json!([{"type": "paragraph", "content": [
                {"type": "status", "attrs": {"text": "DONE", "color": "green"}},
                {"type": "date", "attrs": {"timestamp": "1700000000000"}}
            ]}])),
            FieldValue::Text("DONE1700000000000".into()),
        );
        check(
            doc(json!([{"type": "blockCard", "attrs": {"url": "https://wiki.example/runbook"}}])),
            FieldValue::Text("https://wiki.example/runbook".into()),
        );
        check(
            doc(json!([{"type": "embedCard", "attrs": {"url": "https://dash.example/d/1", "layout": "wide"}}])),
            FieldValue::Text("https://dash.example/d/1".into()),
        );
        check(
            doc(json!([{"type": "extension", "attrs": {"extensionKey": "chart", "extensionType": "com.example"}}])),
            FieldValue::Text("[extension]".into()),
        );
    }

    #[test]
    fn scalars_and_objects() {
        check(json!("Run the migration"), FieldValue::Text("Run the migration".into()));
        check(json!(3), FieldValue::Number(3.0));
        check(json!(2.5), FieldValue::Number(2.5));
        check(json!(true), FieldValue::Text("true".into()));
        check(json!({"self": "…", "value": "Yes", "id": "10001"}), FieldValue::Text("Yes".into()));
        check(
            json!({"accountId": "5b10", "displayName": "Ada Lovelace", "active": true}),
            FieldValue::Text("Ada Lovelace".into()),
        );
        check(json!({"id": "3", "name": "High"}), FieldValue::Text("High".into()));
        check(json!({"title": "v1.2", "number": 4}), FieldValue::Text("v1.2".into()));
        check(json!({"login": "octocat"}), FieldValue::Text("octocat".into()));
        check(json!({"odd": 1}), FieldValue::Text(r#"{"odd":1}"#.into()));
    }

    #[test]
    fn lists() {
        check(json!(["backend", "db"]), list(&["backend", "db"]));
        check(json!([{"value": "EU"}, {"value": "US"}]), list(&["EU", "US"]));
        check(json!([{"name": "api"}, {"name": "web"}]), list(&["api", "web"]));
        check(json!([{"displayName": "Ada"}, null]), list(&["Ada"]));
        check(json!([1, 2]), list(&["1", "2"]));
    }

    #[test]
    fn rich_text_becomes_its_text() {
        let doc = json!({
            "type": "doc",
            "version": 1,
            "content": [
                {"type": "paragraph", "content": [
                    {"type": "text", "text": "Run "},
                    {"type": "text", "text": "the migration", "marks": [{"type": "strong"}]},
                    {"type": "hardBreak"},
                    {"type": "text", "text": "then ask "},
                    {"type": "mention", "attrs": {"id": "1", "text": "@Ada"}}
                ]},
                {"type": "bulletList", "content": [
                    {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "check"}]}]}
                ]}
            ]
        });
        check(doc, FieldValue::Text("Run the migration\nthen ask @Ada\ncheck".into()));
    }
}
