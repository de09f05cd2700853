//! How deadlines, reminders, checklists and recovery points look in Discord: the lines said
//! in the room and the announce channel, the card's checklist and its select menu, and the
//! answers to `/incident check`, `/incident rpo` and a resolve that has unticked items.

use serenity::all::{
    ButtonStyle, CreateActionRow, CreateButton, CreateEmbed, CreateSelectMenu,
    CreateSelectMenuKind, CreateSelectMenuOption,
};

use super::super::components::Action;
use super::{drill, short_when};
use crate::domain::{ChecklistItem, Event, Incident, IncidentId, checklist_progress};

/// Discord's limits on a select menu: options, and characters of a label or description.
const SELECT_OPTIONS: usize = 25;
const SELECT_TEXT: usize = 100;

/// Said in the room when the ack deadline passed.
pub(crate) fn deadline_missed_line(event: &Event) -> String {
    format!("⏰ {}", event.text)
}

/// Said in the announce channel when the ack deadline passed.
pub(crate) fn deadline_missed_announcement(incident: &Incident, event: &Event) -> String {
    format!(
        "⏰ {}**{}** ({}) not acknowledged within {}",
        drill(incident),
        incident.id,
        incident.title,
        crate::domain::format_duration(std::time::Duration::from_millis(
            event.data["ack_within_ms"].as_u64().unwrap_or(0)
        ))
    )
}

/// A nudge: the person it is for (the commander, by mention) or everyone here.
pub(crate) fn reminder_line(event: &Event) -> (String, Option<u64>) {
    let user = event.data["to"]["id"]
        .as_str()
        .and_then(|id| id.strip_prefix("discord:"))
        .and_then(|id| id.parse::<u64>().ok());
    let whom = match user {
        Some(id) => format!("<@{id}>"),
        None => "@here".to_owned(),
    };
    (format!("🔔 {whom} {}", event.text), user)
}

fn cut(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut kept: String = text.chars().take(limit - 1).collect();
    kept.push('…');
    kept
}

/// The card's checklist field: progress, then each item ticked or not.
pub(crate) fn checklist_field(embed: CreateEmbed, items: &[ChecklistItem]) -> CreateEmbed {
    if items.is_empty() {
        return embed;
    }
    let lines: Vec<String> = items
        .iter()
        .map(|entry| match &entry.ticked {
            Some(tick) => format!(
                "✅ {} — {} {}",
                entry.item,
                tick.by.name,
                short_when(tick.at)
            ),
            None => format!("⬜ {}", entry.item),
        })
        .collect();
    embed.field(
        format!("Checklist · {}", checklist_progress(items)),
        cut(&lines.join("\n"), 1_024),
        false,
    )
}

/// The card's select menu: one entry per item, ticked ones marked; picking one ticks it, or
/// unticks it when it was ticked.
pub(crate) fn checklist_menu(id: IncidentId, items: &[ChecklistItem]) -> Option<CreateActionRow> {
    if items.is_empty() {
        return None;
    }
    let options = items
        .iter()
        .take(SELECT_OPTIONS)
        .enumerate()
        .map(|(index, entry)| {
            let (mark, description) = match &entry.ticked {
                Some(tick) => (
                    "✅",
                    format!(
                        "ticked by {} {} · pick to untick",
                        tick.by.name,
                        short_when(tick.at)
                    ),
                ),
                None => ("⬜", "pick to tick".to_owned()),
            };
            CreateSelectMenuOption::new(
                cut(&format!("{mark} {}", entry.item), SELECT_TEXT),
                index.to_string(),
            )
            .description(cut(&description, SELECT_TEXT))
        })
        .collect();
    Some(CreateActionRow::SelectMenu(
        CreateSelectMenu::new(
            Action::Checklist(id).custom_id(),
            CreateSelectMenuKind::String { options },
        )
        .placeholder(format!("Checklist · {}", checklist_progress(items))),
    ))
}

/// The answer to a tick or an untick.
pub(crate) fn ticked(id: IncidentId, text: &str, items: &[ChecklistItem]) -> String {
    format!("☑️ **{id}** {text} · {}", checklist_progress(items))
}

/// The warning before resolving with unticked items, and its "Resolve anyway" button.
pub(crate) fn unticked_warning(message: &str, id: IncidentId) -> (String, Vec<CreateActionRow>) {
    (
        format!("⚠️ {message}"),
        vec![CreateActionRow::Buttons(vec![
            CreateButton::new(Action::ResolveAnyway(id).custom_id())
                .label("Resolve anyway")
                .style(ButtonStyle::Danger),
        ])],
    )
}
