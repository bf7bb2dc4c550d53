//! `issue-fields`: the fields a team requires (`[[tracker.required_fields]]`) are filled, with allowed values. A
//! sub-task is judged by its parent unless `[tracker] subtasks = "self"`.
//!
//! Findings: `issue-field-missing` and `issue-field-invalid` (deny), subject the judged issue's key. Select,
//! multi-select, text, number and user fields arrive as `FieldValue`s. Config: `[checks.issue-fields]` (a `Toggle`).
//! Documented in `docs/checks/issue-fields.md`.

use std::sync::Arc;

use greenlight_core::{Check, CheckContext, CheckResult, FieldValue, Finding, Severity};

use crate::toggle::Toggle;
use crate::tracker::{ValidTracker, describe, judged, units, with_facts};

pub const ID: &str = "issue-fields";

#[derive(Debug, Clone, Default)]
pub struct IssueFields {
    pub(crate) cfg: Toggle,
    pub(crate) tracker: Option<Arc<ValidTracker>>,
}

impl Check for IssueFields {
    fn id(&self) -> &'static str {
        ID
    }

    fn run(&self, ctx: &CheckContext<'_>) -> CheckResult {
        // Nothing to judge whatever the tracker said: skipped, even when the tracker could not be asked.
        if self.tracker.as_deref().is_some_and(|t| t.required_fields.is_empty()) {
            return CheckResult::skipped(ID, "no [[tracker.required_fields]] configured");
        }
        with_facts(ID, ctx, |facts| {
            let Some(tracker) = self.tracker.as_deref().filter(|t| !t.required_fields.is_empty()) else {
                return CheckResult::skipped(ID, "no [[tracker.required_fields]] configured");
            };
            let mut findings = Vec::new();
            let units = units(facts, tracker.subtasks);
            for rule in &tracker.required_fields {
                let Some(field) = facts.fields.iter().find(|f| f.name == rule.field) else {
                    return CheckResult::error(ID, format!("the tracker has no field {:?}", rule.field));
                };
                for (issue, via) in &units.judged {
                    let applies = rule
                        .issue_types
                        .as_ref()
                        .is_none_or(|types| types.iter().any(|t| t.eq_ignore_ascii_case(&issue.issue_type)));
                    if !applies {
                        continue;
                    }
                    let value = issue.fields.get(&field.id).unwrap_or(&FieldValue::Empty);
                    let who = describe(issue, *via);
                    if value.is_empty() {
                        findings.push(Finding::new(
                            "issue-field-missing",
                            Severity::Deny,
                            issue.key.as_str(),
                            format!("{who} has no {:?}", rule.field),
                        ));
                    } else if let Some(allowed) = &rule.allowed
                        && value.values().iter().any(|v| !allowed.iter().any(|a| a.eq_ignore_ascii_case(v)))
                    {
                        findings.push(Finding::new(
                            "issue-field-invalid",
                            Severity::Deny,
                            issue.key.as_str(),
                            format!("{who} has {:?} = {value}; allowed: {allowed:?}", rule.field),
                        ));
                    }
                }
            }
            let summary = match findings.len() {
                0 => format!("required fields are filled on all {} issues", units.judged.len()),
                1 => "1 required field is missing or invalid".to_owned(),
                n => format!("{n} required fields are missing or invalid"),
            };
            judged(ID, summary, findings, &units)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::fixtures::*;
    use crate::tracker::{RequiredField, Subtasks};
    use greenlight_core::{FieldRef, Outcome};

    fn rule(field: &str, allowed: Option<&[&str]>, types: Option<&[&str]>) -> RequiredField {
        RequiredField {
            field: field.into(),
            allowed: allowed.map(|a| a.iter().map(|s| s.to_string()).collect()),
            issue_types: types.map(|t| t.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn missing_and_invalid_values_of_every_kind() {
        let text = |s: &str| FieldValue::Text(s.into());
        let mut facts = facts(
            &["AB-1", "AB-2", "AB-3", "AB-4", "AB-5"],
            vec![
                with_field(issue("AB-1", "Done", "Story", None), "cf_1", text("Written")),
                with_field(issue("AB-2", "Done", "Story", None), "cf_1", text("Maybe")),
                with_field(issue("AB-3", "Done", "Story", None), "cf_1", FieldValue::Empty),
                with_field(issue("AB-4", "Done", "Task", None), "cf_1", FieldValue::Empty),
                with_field(
                    with_field(issue("AB-5", "Done", "Bug", None), "cf_1", text("Not needed")),
                    "cf_2",
                    FieldValue::List(vec!["web".into(), "moon".into()]),
                ),
            ],
        );
        facts.fields = vec![
            FieldRef { name: "Post-deploy checks".into(), id: "cf_1".into() },
            FieldRef { name: "Deploy type".into(), id: "cf_2".into() },
        ];
        let check = IssueFields {
            cfg: Toggle::default(),
            tracker: Some(tracker(
                Subtasks::Parent,
                vec![
                    rule("Post-deploy checks", Some(&["Written", "Not needed"]), Some(&["Story", "Bug"])),
                    rule("Deploy type", Some(&["web", "worker"]), Some(&["Bug"])),
                ],
            )),
        };
        let contents = empty_contents();
        let result = check.run(&ctx(&contents, &facts));
        let got: Vec<(&str, &str)> = result.findings.iter().map(|f| (f.code.as_str(), f.subject.as_str())).collect();
        assert_eq!(
            got,
            [("issue-field-invalid", "AB-2"), ("issue-field-missing", "AB-3"), ("issue-field-invalid", "AB-5")]
        );
        assert_eq!(
            result.findings[0].message,
            "AB-2 \"summary of AB-2\" has \"Post-deploy checks\" = \"Maybe\"; allowed: [\"Written\", \"Not needed\"]"
        );
        assert_eq!(result.outcome, Outcome::Fail);
    }

    #[test]
    fn a_field_the_tracker_lacks_is_an_error() {
        let facts = facts(&["AB-1"], vec![issue("AB-1", "Done", "Story", None)]);
        let check = IssueFields {
            cfg: Toggle::default(),
            tracker: Some(tracker(Subtasks::Parent, vec![rule("Nope", None, None)])),
        };
        let contents = empty_contents();
        let result = check.run(&ctx(&contents, &facts));
        assert_eq!(result.outcome, Outcome::Error);
        assert!(result.summary.contains("\"Nope\""), "{}", result.summary);
    }

    #[test]
    fn a_subtask_whose_parent_was_not_returned_is_an_error() {
        let mut facts = facts(
            &["AB-3"],
            vec![with_field(
                issue("AB-3", "Done", "Sub-task", Some("AB-2")),
                "cf_1",
                FieldValue::Text("Written".into()),
            )],
        );
        facts.fields = vec![FieldRef { name: "Post-deploy checks".into(), id: "cf_1".into() }];
        let check = IssueFields {
            cfg: Toggle::default(),
            tracker: Some(tracker(Subtasks::Parent, vec![rule("Post-deploy checks", None, None)])),
        };
        let contents = empty_contents();
        let result = check.run(&ctx(&contents, &facts));
        assert_eq!(result.outcome, Outcome::Error);
        assert!(result.summary.contains("AB-2 (parent of sub-task AB-3)"), "{}", result.summary);
    }

    #[test]
    fn without_required_fields_the_check_skips_even_when_the_tracker_failed() {
        let contents = empty_contents();
        let ctx = greenlight_core::CheckContext {
            contents: &contents,
            tracker: greenlight_core::Tracker::Unavailable("cannot reach https://jira.example"),
        };
        let check = IssueFields { cfg: Toggle::default(), tracker: Some(tracker(Subtasks::Parent, vec![])) };
        assert_eq!(check.run(&ctx).outcome, Outcome::Skipped);
    }
}
