//! How incidents look in Discord: the summary card, announcements, timelines, channel names;
//! the answers to commands and buttons are `replies.rs`. One renderer; handlers never format
//! Discord text themselves.

pub(crate) mod during;
pub(crate) mod replies;
pub(crate) mod schedules;

use serenity::all::{ButtonStyle, CreateActionRow, CreateButton, CreateEmbed, CreateEmbedFooter};

use super::components::Action;
use super::reply::CONTENT_LIMIT;
use crate::config::Config;
use crate::domain::{
    Event, EventKind, Incident, IncidentId, Run, RunState, Status, Timestamp, format_duration,
};
use crate::escalation::{Recipient, Schedule, Shift};
use crate::notify::PageMessage;

/// Discord's limit on channel names.
const CHANNEL_NAME_LIMIT: usize = 100;

/// `<t:…:f>`: each reader sees the time in their own zone; `<t:…:R>`: "5 minutes ago".
pub(crate) fn when(at: Timestamp) -> String {
    format!("<t:{0}:f> (<t:{0}:R>)", at.as_unix_seconds())
}

pub(crate) fn short_when(at: Timestamp) -> String {
    format!("<t:{}:f>", at.as_unix_seconds())
}

/// `inc-12-checkout-is-down`: lowercase ASCII letters and digits, runs of anything else made
/// one dash, within Discord's 100 characters.
pub(crate) fn channel_name(incident: &Incident) -> String {
    let mut name = format!("inc-{}-", incident.id.0);
    let mut last_dash = true;
    for c in incident.title.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
            last_dash = false;
        } else if !last_dash {
            name.push('-');
            last_dash = true;
        }
        if name.len() >= CHANNEL_NAME_LIMIT {
            break;
        }
    }
    name.truncate(CHANNEL_NAME_LIMIT);
    name.trim_end_matches('-').to_owned()
}

fn drill(incident: &Incident) -> &'static str {
    if incident.drill { "[DRILL] " } else { "" }
}

fn status_icon(status: Status) -> &'static str {
    match status {
        Status::Open => "🔴",
        Status::Acknowledged => "🟠",
        Status::Mitigated => "🟡",
        Status::Resolved => "🟢",
    }
}

/// Colours by rank in the configured severities: the most severe red, then orange, yellow,
/// blue; resolved incidents turn green.
fn colour(incident: &Incident, config: &Config) -> u32 {
    if incident.status == Status::Resolved {
        return 0x2E_CC_71;
    }
    let rank = config
        .severities
        .iter()
        .position(|severity| severity.name == incident.severity)
        .unwrap_or(usize::MAX);
    match rank {
        0 => 0xE7_4C_3C,
        1 => 0xE6_7E_22,
        2 => 0xF1_C4_0F,
        _ => 0x34_98_DB,
    }
}

/// The summary card posted in the incident's channel and kept current.
pub(crate) fn card(incident: &Incident, config: &Config) -> (CreateEmbed, Vec<CreateActionRow>) {
    let mut embed = CreateEmbed::new()
        .title(format!(
            "{}{}: {}",
            drill(incident),
            incident.id,
            incident.title
        ))
        .colour(colour(incident, config))
        .field(
            "Severity",
            match config.severity(&incident.severity) {
                Some(severity) => format!("**{}** · {}", severity.name, severity.description),
                None => incident.severity.clone(),
            },
            false,
        )
        .field(
            "Status",
            format!("{} {}", status_icon(incident.status), incident.status),
            true,
        )
        .field(
            "Commander",
            incident
                .commander()
                .map(mention_or_name)
                .unwrap_or_else(|| "nobody yet — `/incident assign`".to_owned()),
            true,
        );
    if let Some(service) = &incident.service {
        let text = match config.service(service) {
            Some(service) => format!(
                "**{}** · RTO {} · RPO {}",
                service.name,
                format_duration(service.rto),
                format_duration(service.rpo)
            ),
            None => service.clone(),
        };
        embed = embed.field("Service", text, false);
    }
    for (role, holder) in incident
        .roles
        .iter()
        .filter(|(role, _)| *role != "commander")
    {
        embed = embed.field(role, mention_or_name(holder), true);
    }
    embed = embed.field(
        "Opened",
        format!(
            "{} by {}",
            when(incident.opened_at),
            incident.opened_by.name
        ),
        false,
    );
    if let (Some(at), Some(by)) = (incident.acknowledged_at, &incident.acknowledged_by) {
        embed = embed.field(
            "Acknowledged",
            format!("{} by {}", when(at), by.name),
            false,
        );
    }
    if let Some(at) = incident.mitigated_at {
        embed = embed.field("Mitigated", when(at), true);
    }
    if let Some(at) = incident.resolved_at {
        embed = embed.field("Resolved", when(at), true);
    }
    if !incident.description.is_empty() {
        embed = embed.description(incident.description.clone());
    }
    embed = embed.footer(CreateEmbedFooter::new(
        "Everything said in this channel is recorded on the incident timeline, edits and deletions included.",
    ));
    let buttons = vec![
        CreateButton::new(Action::Acknowledge(incident.id).custom_id())
            .label("Acknowledge")
            .style(ButtonStyle::Primary)
            .disabled(incident.status != Status::Open),
        CreateButton::new(Action::Resolve(incident.id).custom_id())
            .label("Resolve")
            .style(ButtonStyle::Success)
            .disabled(incident.status == Status::Resolved),
    ];
    (embed, vec![CreateActionRow::Buttons(buttons)])
}

fn mention_or_name(actor: &crate::domain::Actor) -> String {
    match actor.discord_user_id() {
        // Mentions render as the person's name; allowed_mentions keeps them from pinging.
        Some(id) => format!("<@{id}>"),
        None => actor.name.clone(),
    }
}

pub(crate) fn opened_announcement(incident: &Incident, channel_id: Option<u64>) -> String {
    let place = channel_id
        .map(|id| format!(" · <#{id}>"))
        .unwrap_or_default();
    format!(
        "🚨 {}**{}** opened · **{}** · {}{place} · by {}",
        drill(incident),
        incident.id,
        incident.severity,
        incident.title,
        incident.opened_by.name
    )
}

/// Said in the room as it is archived.
pub(crate) fn archived_line(incident: &Incident) -> String {
    format!(
        "📦 {} was resolved a while ago: this room is archived and locked. `/incident reopen incident:{}` (from any channel, or the CLI, or the API) brings it back.",
        incident.id, incident.id.0
    )
}

/// The announcement for a change, or `None` when the change is not announced.
pub(crate) fn change_announcement(incident: &Incident, event: &Event) -> Option<String> {
    let lead = format!(
        "{}**{}** ({})",
        drill(incident),
        incident.id,
        incident.title
    );
    let text = match event.kind {
        EventKind::Acknowledged => format!(
            "{} {lead} acknowledged by {}",
            status_icon(Status::Acknowledged),
            event.actor.name
        ),
        EventKind::StatusChanged => format!(
            "{} {lead} is now **{}** · {}",
            status_icon(incident.status),
            incident.status,
            event.text
        ),
        EventKind::SeverityChanged => format!("⚠️ {lead}: {}", event.text),
        EventKind::StatusUpdate => format!(
            "📣 {lead} update from {}:\n{}",
            event.actor.name, event.text
        ),
        _ => return None,
    };
    Some(text)
}

/// Why someone is paged, for the page's text: `level 1 of policy critical`, `on call in
/// primary`, `paged by hand`; empty when there is nothing to say.
pub(crate) fn page_reason(page: &PageMessage, policy: Option<&str>) -> String {
    let mut parts = Vec::new();
    if let Recipient::DiscordUser {
        schedule: Some(schedule),
        via_override,
        ..
    } = &page.recipient
    {
        parts.push(format!(
            "on call in {schedule}{}",
            if *via_override { " by override" } else { "" }
        ));
    }
    if page.level > 0 {
        let round = if page.round > 0 {
            format!(", round {}", page.round + 1)
        } else {
            String::new()
        };
        parts.push(match policy {
            Some(policy) => format!("level {}{round} of policy {policy}", page.level),
            None => format!("level {}{round} of the escalation policy", page.level),
        });
    } else if page.message.is_some() {
        parts.push("paged by hand".to_owned());
    }
    parts.join(", ")
}

/// A page: `🚨 INC-12 SEV1: Checkout is down — you are paged (level 1 of policy critical)`,
/// with what the person who paged said and, in a DM, the link to the incident. `whom` is the
/// mention in the incident channel (`None` in a DM). A drill's page starts with DRILL.
pub(crate) fn page_text(page: &PageMessage, whom: Option<&str>, why: &str, dm: bool) -> String {
    let mut text = String::new();
    if page.drill {
        text.push_str("🧪 DRILL — ");
    }
    text.push_str(&format!(
        "🚨 **{} {}: {}**",
        page.incident_id, page.severity, page.title
    ));
    if let Some(service) = &page.service {
        text.push_str(&format!(" (service {service})"));
    }
    match whom {
        Some(whom) => text.push_str(&format!(" — {whom}, you are paged")),
        None => text.push_str(" — you are paged"),
    }
    if !why.is_empty() {
        text.push_str(&format!(" ({why})"));
    }
    if let Some(message) = &page.message {
        for line in message.lines() {
            text.push_str("\n> ");
            text.push_str(line);
        }
    }
    if dm && let Some(link) = &page.link {
        text.push_str(&format!("\n🔗 {link}"));
    }
    if page.drill {
        text.push_str("\n-# This is a drill: a practice incident, nothing is really down.");
    }
    text.push_str("\nPress **Acknowledge** when you are on it: that stops the escalation.");
    fit(text)
}

/// The Acknowledge button of a page.
pub(crate) fn page_buttons(id: IncidentId) -> Vec<CreateActionRow> {
    vec![CreateActionRow::Buttons(vec![
        CreateButton::new(Action::Acknowledge(id).custom_id())
            .label("Acknowledge")
            .style(ButtonStyle::Danger),
    ])]
}

/// `text` within one message; what does not fit is said to be on the timeline (pages and
/// their messages are recorded there whole).
pub(crate) fn fit(text: String) -> String {
    if text.chars().count() <= CONTENT_LIMIT {
        return text;
    }
    let note = "… (the rest is on the incident timeline)";
    let head: String = text
        .chars()
        .take(CONTENT_LIMIT - note.chars().count())
        .collect();
    head + note
}

/// What the incident channel is told about paging: every escalation (a level fired, a page by
/// hand, the auditor's notices), every failed page, and pages to notifiers outside Discord
/// (Discord pages show as their own mention). `None` for other events.
pub(crate) fn escalation_line(event: &Event) -> Option<String> {
    match event.kind {
        EventKind::Escalated => Some(format!("📟 {}", event.text)),
        EventKind::PageFailed => Some(format!("⚠️ {}", event.text)),
        EventKind::PageSent if event.data["recipient"]["kind"] == "notifier" => {
            Some(format!("📨 {}", event.text))
        }
        _ => None,
    }
}

/// Said in the room when a heartbeat is missed or comes back.
pub(crate) fn heartbeat_line(event: &Event) -> String {
    let icon = if event.kind == EventKind::HeartbeatMissed {
        "💔"
    } else {
        "💓"
    };
    format!("{icon} {}", event.text)
}

/// Said in the room when monitoring says everything is back to normal.
pub(crate) fn all_alerts_resolved(id: IncidentId, text: &str) -> String {
    format!("✅ Every alert of **{id}** has resolved. {text}")
}

/// `text` as messages within Discord's limit, cut at line ends where possible: nothing is
/// dropped.
pub(crate) fn split_message(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest: &str = text;
    while rest.chars().count() > CONTENT_LIMIT {
        let limit = rest
            .char_indices()
            .nth(CONTENT_LIMIT)
            .map_or(rest.len(), |(at, _)| at);
        let cut = rest[..limit]
            .rfind('\n')
            .filter(|at| *at > 0)
            .unwrap_or(limit);
        parts.push(rest[..cut].to_owned());
        // The line end the cut falls on becomes the message break; nothing else is dropped.
        rest = rest[cut..].strip_prefix('\n').unwrap_or(&rest[cut..]);
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(rest.to_owned());
    }
    parts
}

/// `/oncall`: who is on call now in each schedule, until when, and who is next. People are
/// mentions (the answer pings nobody); times are Discord timestamps, local to each reader.
pub(crate) fn oncall(schedules: &[&Schedule], now: Timestamp) -> String {
    if schedules.is_empty() {
        return "No on-call schedules are configured; an admin adds them as [schedules.NAME] in the config.".to_owned();
    }
    let mut text = format!("**On call** at {}\n", short_when(now));
    for schedule in schedules {
        text.push_str(&format!(
            "\n**{}** · {}\n",
            schedule.name,
            schedule.describe()
        ));
        let current = schedule.shift_at(now);
        text.push_str(&format!("• now: {}\n", shift_line(&current, true)));
        match schedule.next_shift(now) {
            Some(next) => text.push_str(&format!("• next: {}\n", shift_line(&next, false))),
            None => text.push_str("• next: nobody: the current shift never ends\n"),
        }
    }
    text
}

/// The overrides made from chat that are not over, with who made them.
pub(crate) fn overrides_made(
    schedule: &str,
    made: &[crate::domain::StoredOverride],
    now: Timestamp,
) -> String {
    let lines: Vec<String> = made
        .iter()
        .filter(|made| made.ends_at > now)
        .map(|made| {
            format!(
                "• <@{}> from {} until {} (made by {})",
                made.user_id,
                short_when(made.starts_at),
                short_when(made.ends_at),
                made.created_by.name
            )
        })
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    format!(
        "
Overrides of **{schedule}** made in chat:
{}
",
        lines.join("\n")
    )
}

/// Said when a maintenance window starts or is planned.
pub(crate) fn maintenance_started(window: &crate::domain::MaintenanceWindow) -> String {
    format!(
        "🚧 Maintenance #{} of {} from {} until {} (by {}): {}. Its alerts are kept but open no incident and page nobody.",
        window.id,
        window.describe_target(),
        short_when(window.starts_at),
        short_when(window.ends_at),
        window.created_by.name,
        window.reason
    )
}

/// Said when a window is ended early.
pub(crate) fn maintenance_ended(window: &crate::domain::MaintenanceWindow) -> String {
    format!(
        "✅ Maintenance #{} of {} ended; {} alert{} were held back. Alerts open incidents again.",
        window.id,
        window.describe_target(),
        window.alerts,
        if window.alerts == 1 { "" } else { "s" }
    )
}

/// `/maintenance list`.
pub(crate) fn maintenance_list(
    windows: &[crate::domain::MaintenanceWindow],
    now: Timestamp,
) -> String {
    if windows.is_empty() {
        return "No maintenance window is running or planned.".to_owned();
    }
    let lines: Vec<String> = windows
        .iter()
        .map(|window| {
            format!(
                "• #{} {} {} {} {} until {} (by {}): {} · {} alert{} held",
                window.id,
                if window.active_at(now) {
                    "🚧"
                } else {
                    "🗓️"
                },
                window.describe_target(),
                if window.active_at(now) {
                    "since"
                } else {
                    "from"
                },
                short_when(window.starts_at),
                short_when(window.until()),
                window.created_by.name,
                window.reason,
                window.alerts,
                if window.alerts == 1 { "" } else { "s" }
            )
        })
        .collect();
    format!("**Maintenance windows**\n{}", lines.join("\n"))
}

/// Said when an override was made: who, where, when, by whom.
pub(crate) fn override_made(made: &crate::domain::StoredOverride) -> String {
    format!(
        "🔁 <@{}> is on call for **{}** from {} until {} (override by {})",
        made.user_id,
        made.schedule,
        short_when(made.starts_at),
        short_when(made.ends_at),
        made.created_by.name
    )
}

fn shift_line(shift: &Shift, current: bool) -> String {
    let who = match shift.user {
        Some(user) if shift.via_override() => format!("<@{user}> (override)"),
        Some(user) => format!("<@{user}>"),
        None => "nobody (a gap in the schedule)".to_owned(),
    };
    let since = match (shift.since, current) {
        (Some(since), true) => format!(" since {}", short_when(since)),
        (Some(since), false) => format!(" from {} ({})", short_when(since), relative(since)),
        (None, _) => String::new(),
    };
    let until = match (shift.until, current) {
        (Some(until), true) => format!(", hands off {} ({})", short_when(until), relative(until)),
        (Some(until), false) => format!(" until {}", short_when(until)),
        (None, _) => ", with no end".to_owned(),
    };
    format!("{who}{since}{until}")
}

fn relative(at: Timestamp) -> String {
    format!("<t:{}:R>", at.as_unix_seconds())
}

/// Text inside a code block: a run of three backticks in it would end the block early.
pub(crate) fn code_block(text: &str) -> String {
    format!("```\n{}\n```", text.replace("```", "`\u{200b}``"))
}

fn run_icon(state: RunState) -> &'static str {
    match state {
        RunState::Requested => "🔐",
        RunState::Approved => "🟦",
        RunState::Running => "⏳",
        RunState::Succeeded => "✅",
        RunState::Failed | RunState::TimedOut | RunState::Interrupted => "❌",
        RunState::Denied | RunState::Expired | RunState::Cancelled => "🚫",
    }
}

/// The request card of a run: exactly what will run, its risk, lock and approvals, and
/// Approve / Deny while it waits.
pub(crate) fn run_card(run: &Run) -> (CreateEmbed, Vec<CreateActionRow>) {
    let mut argv = vec![run.program.clone()];
    argv.extend(run.argv.iter().cloned());
    let mut embed = CreateEmbed::new()
        .title(format!(
            "{} {} · {}{} · {}",
            run_icon(run.state),
            run.id,
            run.command,
            if run.dry_run { " (dry run)" } else { "" },
            run.risk
        ))
        .description(code_block(&crate::runner::command_line(&argv)))
        .field(
            "Requested by",
            format!(
                "{} · {}",
                mention_or_name(&run.requested_by),
                short_when(run.requested_at)
            ),
            true,
        )
        .field(
            "Lock",
            run.lock_key.clone().unwrap_or_else(|| "none".to_owned()),
            true,
        );
    let approvals = if run.approvals_needed == 0 {
        "not needed".to_owned()
    } else {
        let given: Vec<String> = run
            .approvals
            .iter()
            .map(|approval| mention_or_name(&approval.by))
            .collect();
        format!(
            "{} of {} from `{}`{}",
            run.approvals.len(),
            run.approvals_needed,
            run.approver_roles.join("` or `"),
            if given.is_empty() {
                String::new()
            } else {
                format!(": {}", given.join(", "))
            }
        )
    };
    embed = embed.field("Approvals", approvals, false);
    let state = match run.state {
        RunState::Requested => match run.expires_at {
            Some(at) => format!(
                "waiting for approval · expires <t:{}:R>",
                at.as_unix_seconds()
            ),
            None => "waiting for approval".to_owned(),
        },
        RunState::Denied | RunState::Cancelled | RunState::Expired => format!(
            "{}{}{}",
            run.state,
            run.decided_by
                .as_ref()
                .filter(|by| !by.is_system())
                .map(|by| format!(" by {}", by.name))
                .unwrap_or_default(),
            run.reason
                .as_ref()
                .map(|reason| format!(": {reason}"))
                .unwrap_or_default()
        ),
        RunState::Succeeded | RunState::Failed | RunState::TimedOut => {
            let how = match (run.exit_code, &run.signal) {
                (Some(code), _) => format!("exit {code}"),
                (None, Some(signal)) => format!("ended by {signal}"),
                (None, None) => run.reason.clone().unwrap_or_default(),
            };
            let after = run
                .duration_ms
                .map(|ms| {
                    format!(
                        " after {}",
                        format_duration(std::time::Duration::from_millis(ms.max(0) as u64))
                    )
                })
                .unwrap_or_default();
            format!("{} · {how}{after}", run.state)
        }
        state => state.to_string(),
    };
    embed = embed.field("State", state, false);
    let waiting = run.state == RunState::Requested;
    let buttons = vec![
        CreateButton::new(Action::ApproveRun(run.id).custom_id())
            .label("Approve")
            .style(ButtonStyle::Success)
            .disabled(!waiting),
        CreateButton::new(Action::DenyRun(run.id).custom_id())
            .label("Deny")
            .style(ButtonStyle::Danger)
            .disabled(!waiting),
    ];
    (embed, vec![CreateActionRow::Buttons(buttons)])
}

/// A short status answer for `/incident status`.
pub(crate) fn status_embed(incident: &Incident, config: &Config) -> CreateEmbed {
    card(incident, config).0
}

/// One line per event, for `/incident timeline`.
pub(crate) fn timeline(incident: &Incident, events: &[Event]) -> String {
    let mut text = format!(
        "**Timeline of {}** ({} events in all)\n",
        incident.id, incident.last_seq
    );
    for event in events {
        text.push_str(&format!(
            "`#{}` {} **{}** {}: {}\n",
            event.seq,
            short_when(event.at),
            event.kind,
            event.actor.name,
            event.text
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Actor, IncidentId, Source};
    use std::collections::BTreeMap;

    fn incident(title: &str) -> Incident {
        Incident {
            id: IncidentId(12),
            title: title.to_owned(),
            description: String::new(),
            severity: "SEV2".to_owned(),
            status: Status::Open,
            service: None,
            source: Source::Discord,
            drill: false,
            private: false,
            channel_id: None,
            opened_at: Timestamp::from_millis(0),
            opened_by: Actor::system(),
            acknowledged_at: None,
            acknowledged_by: None,
            mitigated_at: None,
            resolved_at: None,
            roles: BTreeMap::new(),
            last_seq: 1,
        }
    }

    #[test]
    fn channel_names_are_slugs_discord_accepts() {
        assert_eq!(
            channel_name(&incident("Checkout is DOWN!")),
            "inc-12-checkout-is-down"
        );
        assert_eq!(
            channel_name(&incident("  ümlaut   & co ")),
            "inc-12-mlaut-co"
        );
        assert_eq!(channel_name(&incident("日本語")), "inc-12");
        assert!(channel_name(&incident(&"x".repeat(300))).len() <= CHANNEL_NAME_LIMIT);
    }

    fn page(drill: bool, level: u32, message: Option<&str>) -> PageMessage {
        PageMessage {
            dedup_key: "warroom-INC-12-L1-R0-user:7".to_owned(),
            incident_id: IncidentId(12),
            title: "Checkout is down".to_owned(),
            severity: "SEV1".to_owned(),
            priority: crate::notify::Priority::P1,
            service: None,
            level,
            round: 0,
            target: crate::escalation::Target::User(7),
            recipient: Recipient::DiscordUser {
                user_id: 7,
                schedule: None,
                via_override: false,
            },
            channel_id: Some(99),
            link: Some("https://discord.com/channels/1/99".to_owned()),
            drill,
            opened_at: Timestamp::from_millis(0),
            message: message.map(str::to_owned),
        }
    }

    #[test]
    fn pages_say_what_happens_and_drills_start_with_drill() {
        let real = page(false, 1, None);
        let why = page_reason(&real, Some("critical"));
        let dm = page_text(&real, None, &why, true);
        assert!(
            dm.starts_with(
                "🚨 **INC-12 SEV1: Checkout is down** — you are paged (level 1 of policy critical)"
            ),
            "{dm}"
        );
        assert!(dm.contains("https://discord.com/channels/1/99"), "{dm}");
        let mention = page_text(&real, Some("<@7>"), &why, false);
        assert!(mention.contains("— <@7>, you are paged"), "{mention}");
        assert!(
            !mention.contains("https://"),
            "the channel needs no link to itself"
        );

        let drill = page(true, 0, Some("need a DBA\nnow"));
        let why = page_reason(&drill, None);
        assert_eq!(why, "paged by hand");
        let text = page_text(&drill, None, &why, true);
        assert!(text.starts_with("🧪 DRILL — "), "{text}");
        assert!(text.contains("\n> need a DBA\n> now"), "{text}");
    }

    #[test]
    fn long_lines_are_split_not_cut() {
        let text: String = (0..600).map(|n| format!("line {n}\n")).collect();
        let parts = split_message(&text);
        assert!(parts.len() > 1);
        assert!(
            parts
                .iter()
                .all(|part| part.chars().count() <= CONTENT_LIMIT)
        );
        assert_eq!(parts.join("\n"), text);
        let unbroken = "x".repeat(4_500);
        let parts = split_message(&unbroken);
        assert_eq!(parts.concat(), unbroken);
        assert_eq!(split_message("short"), ["short"]);
    }
}
