//! How incidents look in Discord: the summary card, announcements, timelines, channel names.
//! One renderer; handlers never format Discord text themselves.

use serenity::all::{ButtonStyle, CreateActionRow, CreateButton, CreateEmbed, CreateEmbedFooter};

use super::components::Action;
use crate::config::Config;
use crate::domain::{
    Event, EventKind, Incident, Run, RunState, Status, Timestamp, format_duration,
};

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
        RunState::Failed | RunState::TimedOut => "❌",
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
}
