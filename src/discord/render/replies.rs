//! What warroom answers to commands and buttons, worded once. Handlers pick the answer; the
//! words are here.

use crate::domain::{IncidentId, RunId, RunState, Timestamp};

pub(crate) const NOT_AN_INCIDENT_CHANNEL: &str = "this channel is not an incident channel; run the command in the incident's channel (or pass `incident:` where the command has it)";

pub(crate) const DATABASE_UNREACHABLE: &str = "warroom could not reach its database, so nothing was changed; try again in a moment (the details are in warroom's log)";

pub(crate) const RESTARTING: &str =
    "warroom is restarting, so nothing was done; run the command again in a few seconds";

pub(crate) const SHUTDOWN_UNFINISHED: &str = "warroom shut down before it could finish this; check with `/incident status` whether it happened, and run it again if not";

pub(crate) const UNKNOWN_BUTTON: &str = "this button is not one warroom knows (maybe from an older version); use the slash command instead";

pub(crate) fn unknown_command(name: &str) -> String {
    format!("`/{name}` is not a warroom command (anymore); Discord may still list it for a minute")
}

/// `by`: who acknowledged, or `None` when it is the person reading (a button's answer).
pub(crate) fn acknowledged(id: IncidentId, by: Option<&str>) -> String {
    match by {
        Some(name) => format!("🟠 **{id}** acknowledged by {name}"),
        None => format!("🟠 You acknowledged **{id}**"),
    }
}

pub(crate) fn resolved_by_you(id: IncidentId) -> String {
    format!("🟢 You resolved **{id}**")
}

pub(crate) fn opened(id: IncidentId, severity: &str) -> String {
    format!("🚨 Opened **{id}** ({severity}); opening its channel…")
}

pub(crate) fn opened_in(id: IncidentId, severity: &str, channel_id: u64) -> String {
    format!("🚨 Opened **{id}** ({severity}) in <#{channel_id}>")
}

pub(crate) fn opened_without_channel(id: IncidentId, severity: &str) -> String {
    format!(
        "🚨 Opened **{id}** ({severity}); its channel is not there yet. The incident is recorded; if no channel appears, ask an admin to check that warroom may manage channels in the incident category."
    )
}

pub(crate) fn update(id: IncidentId, message: &str) -> String {
    format!("📣 **{id}** update: {message}")
}

/// The answer to a change whose event says what happened (severity, assignment, mitigation).
pub(crate) fn changed(icon: &str, id: IncidentId, what: &str) -> String {
    format!("{icon} **{id}**: {what}")
}

pub(crate) fn resolved(id: IncidentId, what: &str) -> String {
    format!("🟢 **{id}** resolved: {what}")
}

pub(crate) fn reopened(id: IncidentId, what: &str) -> String {
    format!("🔴 **{id}** reopened: {what}")
}

pub(crate) fn noted(id: IncidentId, seq: i64, text: &str) -> String {
    format!("📝 Note `#{seq}` on **{id}**: {text}")
}

pub(crate) fn exported(id: IncidentId, events: u64) -> String {
    format!("📄 Post-mortem of **{id}** ({events} timeline events)")
}

pub(crate) fn export_too_big(id: IncidentId, bytes: usize, format: &str) -> String {
    format!(
        "the post-mortem of {id} is {:.1} MiB, more than Discord accepts as a file; run `warroom export {} --format {format}` on the warroom host",
        bytes as f64 / (1024.0 * 1024.0),
        id.0
    )
}

pub(crate) fn paged(id: IncidentId, summary: &str, channel: Option<u64>) -> String {
    let place = channel
        .map(|channel_id| format!(" (see <#{channel_id}>)"))
        .unwrap_or_default();
    format!("📟 **{id}**: {summary}{place}")
}

pub(crate) fn no_such_schedule(name: &str, known: &[&str]) -> String {
    format!(
        "there is no schedule `{name}`; the schedules are: {}",
        if known.is_empty() {
            "none (an admin adds them as [schedules.NAME])".to_owned()
        } else {
            known.join(", ")
        }
    )
}

pub(crate) fn approved_starting(id: RunId) -> String {
    format!("✅ You approved **{id}**; it is starting")
}

pub(crate) fn approved_waiting(id: RunId, missing: u32) -> String {
    format!("✅ You approved **{id}**; it needs {missing} more approval(s)")
}

pub(crate) fn run_is(id: RunId, state: RunState) -> String {
    format!("🚫 **{id}** is {state}")
}

pub(crate) fn run_refused(id: RunId, reason: Option<&str>) -> String {
    format!(
        "{id} was refused: {}. Nothing ran; the refusal is recorded.",
        reason.unwrap_or("not allowed")
    )
}

pub(crate) fn run_card_failed(id: RunId, reason: &str) -> String {
    format!("{id} is requested, but its card could not be posted: {reason}")
}

pub(crate) fn run_awaiting(
    id: RunId,
    approvals: u32,
    roles: &[String],
    expires_at: Option<Timestamp>,
) -> String {
    format!(
        "🔐 {id} needs {approvals} approval(s) from `{}` (not you); its card is in this channel. It expires <t:{}:R>.",
        roles.join("` or `"),
        expires_at
            .map(|at| at.as_unix_seconds())
            .unwrap_or_default()
    )
}

pub(crate) fn run_starting(id: RunId, command: &str) -> String {
    format!("▶️ {id} `{command}` is starting; its output follows in this channel")
}

pub(crate) const NO_COMMANDS_FOR_YOU: &str = "You may run no approved commands: none of your Discord roles is allowed one (see the catalog's `allowed_roles`).";

pub(crate) fn catalog_reloaded(report: &str) -> String {
    format!("🔄 {report}")
}
