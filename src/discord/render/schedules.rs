//! What Discord says about scheduled checks and drills: a failing check's line (with the end
//! of its output) and its recovery in the incident's room, the `/checks` reply, and the text
//! of a drill's Scheduled Event.

use crate::domain::{Event, EventKind, IncidentId};
use crate::ops::schedules::CheckOverview;

/// The room's line for `check_failed` and `check_recovered`; none for other events.
pub(crate) fn check_line(id: IncidentId, event: &Event) -> Option<String> {
    match event.kind {
        EventKind::CheckFailed => {
            let tail = event.data["output_tail"].as_str().unwrap_or("").trim();
            let mut text = format!("🔴 **{id}**: {}", event.text);
            if !tail.is_empty() {
                text.push('\n');
                text.push_str(&super::code_block(&last_lines(tail, 15)));
            }
            Some(text)
        }
        EventKind::CheckRecovered => Some(format!("🟢 **{id}**: {}", event.text)),
        _ => None,
    }
}

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

/// The `/checks` reply: every scheduled check on one line.
pub(crate) fn checks_reply(checks: &[CheckOverview]) -> String {
    if checks.is_empty() {
        return "No scheduled checks are configured ([checks.NAME] in the configuration)."
            .to_owned();
    }
    let mut text = String::from("**Scheduled checks**");
    for check in checks {
        let next = check.next_run.map_or("not armed".to_owned(), |at| {
            format!("<t:{}:R>", at.as_unix_seconds())
        });
        let last = match (&check.last_result, check.last_finished_at) {
            (Some(result), Some(at)) => format!("{result} <t:{}:R>", at.as_unix_seconds()),
            _ => "never ran".to_owned(),
        };
        let incident = check
            .incident
            .map(|id| format!(" · failing: {id}"))
            .unwrap_or_default();
        text.push_str(&format!(
            "\n• `{}` ({}, `{}`): next {next} · last {last}{incident}",
            check.name, check.schedule, check.command
        ));
    }
    super::fit(text)
}
