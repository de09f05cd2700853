//! `/incident …` (SPEC §2): parsed into a closed `Request`, then one `ops` call, then rendered.

use std::sync::Arc;

use async_trait::async_trait;
use serenity::all::{CommandOptionType, CreateCommand, CreateCommandOption};

use super::{
    CHOICE_LIMIT, Call, Choice, SlashCommand, incident_choices, incident_option, matching,
};
use crate::config::Config;
use crate::discord::context::Bot;
use crate::discord::principal;
use crate::discord::render::{self, replies};
use crate::discord::reply::{Reply, Visibility};
use crate::domain::{Actor, IncidentId, Source};
use crate::export::Format;
use crate::ops::{OpenRequest, OpsError, RpoRequest, TEXT_LIMIT, TITLE_LIMIT};

/// Events `/incident timeline` shows when `last` is not given.
const TIMELINE_DEFAULT: i64 = 10;
/// The most `/incident timeline` shows in one answer; the export has everything.
const TIMELINE_MAX: i64 = 100;
/// Discord's default upload limit; bigger exports are taken with `warroom export` on the host.
const ATTACHMENT_LIMIT: usize = 10 * 1024 * 1024;

pub(crate) struct IncidentCommand;

/// Everything `/incident` can be asked, with its options parsed.
enum Request {
    Open {
        title: String,
        severity: String,
        service: Option<String>,
        description: String,
        drill: bool,
        private: bool,
    },
    Ack {
        incident: Option<String>,
    },
    Status {
        incident: Option<String>,
    },
    Update {
        message: String,
    },
    Severity {
        level: String,
    },
    Assign {
        role: String,
        assignee: Actor,
    },
    Mitigate {
        note: Option<String>,
    },
    Resolve {
        summary: Option<String>,
    },
    Reopen {
        reason: Option<String>,
        incident: Option<String>,
    },
    Note {
        text: String,
    },
    Timeline {
        incident: Option<String>,
        last: i64,
    },
    Export {
        incident: Option<String>,
        format: Format,
    },
    Check {
        item: String,
        undo: bool,
    },
    Rpo(RpoRequest),
}

fn parse(call: &Call<'_>) -> Result<Request, String> {
    let required = |name: &str| {
        call.text(name)
            .map(str::to_owned)
            .ok_or_else(|| format!("the option `{name}` is required"))
    };
    let optional = |name: &str| call.text(name).map(str::to_owned);
    Ok(match call.subcommand {
        Some("open") => Request::Open {
            title: required("title")?,
            severity: required("severity")?,
            service: optional("service"),
            description: optional("description").unwrap_or_default(),
            drill: call.flag("drill").unwrap_or(false),
            private: call.flag("private").unwrap_or(false),
        },
        Some("ack") => Request::Ack {
            incident: optional("incident"),
        },
        Some("status") => Request::Status {
            incident: optional("incident"),
        },
        Some("update") => Request::Update {
            message: required("message")?,
        },
        Some("severity") => Request::Severity {
            level: required("level")?,
        },
        Some("assign") => {
            let (user, member) = call.user("user").ok_or("the option `user` is required")?;
            Request::Assign {
                role: required("role")?,
                assignee: principal::message_author(user, member),
            }
        }
        Some("mitigate") => Request::Mitigate {
            note: optional("note"),
        },
        Some("resolve") => Request::Resolve {
            summary: optional("summary"),
        },
        Some("reopen") => Request::Reopen {
            reason: optional("reason"),
            incident: optional("incident"),
        },
        Some("note") => Request::Note {
            text: required("text")?,
        },
        Some("timeline") => Request::Timeline {
            incident: optional("incident"),
            last: call.integer("last").unwrap_or(TIMELINE_DEFAULT),
        },
        Some("export") => Request::Export {
            incident: optional("incident"),
            format: optional("format")
                .as_deref()
                .unwrap_or("markdown")
                .parse()
                .map_err(|error: String| error)?,
        },
        Some("check") => Request::Check {
            item: required("item")?,
            undo: call.flag("undo").unwrap_or(false),
        },
        Some("rpo") => Request::Rpo(RpoRequest {
            restored_from: optional("restored_from"),
            no_data_lost: call.flag("no_data_lost").unwrap_or(false),
            note: optional("note"),
        }),
        other => {
            return Err(format!(
                "`/incident {}` is not a command warroom knows",
                other.unwrap_or("")
            ));
        }
    })
}

fn sub(name: &str, description: &str) -> CreateCommandOption {
    CreateCommandOption::new(CommandOptionType::SubCommand, name, description)
}

fn text(name: &str, description: &str) -> CreateCommandOption {
    CreateCommandOption::new(CommandOptionType::String, name, description)
}

fn severity_option(name: &str, description: &str, config: &Config) -> CreateCommandOption {
    // Discord allows 25 choices; config validation keeps severities within that.
    config.severities.iter().take(CHOICE_LIMIT).fold(
        text(name, description).required(true),
        |option, severity| {
            option.add_string_choice(
                format!("{} · {}", severity.name, severity.description),
                &severity.name,
            )
        },
    )
}

#[async_trait]
impl SlashCommand for IncidentCommand {
    fn name(&self) -> &'static str {
        "incident"
    }

    fn definition(&self, config: &Config) -> CreateCommand {
        let long_text =
            |name: &str, description: &str| text(name, description).max_length(TEXT_LIMIT as u16);
        CreateCommand::new("incident")
            .description("Declare and run incidents")
            .dm_permission(false)
            .add_option(
                sub(
                    "open",
                    "Declare an incident: opens its channel and pages the on-call",
                )
                // Both optional: without them a form asks (see `modals.rs`).
                .add_sub_option(
                    text(
                        "title",
                        "What is wrong, in a few words (leave out for a form)",
                    )
                    .max_length(TITLE_LIMIT as u16),
                )
                .add_sub_option(
                    severity_option("severity", "How bad it is", config).required(false),
                )
                .add_sub_option(text("service", "The affected service").set_autocomplete(true))
                .add_sub_option(long_text("description", "What is known so far"))
                .add_sub_option(CreateCommandOption::new(
                    CommandOptionType::Boolean,
                    "drill",
                    "A practice incident: pages stay in Discord and say DRILL",
                ))
                .add_sub_option(CreateCommandOption::new(
                    CommandOptionType::Boolean,
                    "private",
                    "Only those allowed to see private incidents (and people added) see it",
                )),
            )
            .add_option(
                sub("ack", "Acknowledge: you are on it (stops escalation)")
                    .add_sub_option(incident_option()),
            )
            .add_option(
                sub("status", "Show an incident's status").add_sub_option(incident_option()),
            )
            .add_option(
                sub(
                    "update",
                    "Post a status update, also to the announce channel",
                )
                .add_sub_option(long_text("message", "The update").required(true)),
            )
            .add_option(
                sub("severity", "Change this incident's severity").add_sub_option(severity_option(
                    "level",
                    "The new severity",
                    config,
                )),
            )
            .add_option(
                sub("assign", "Give someone an incident role")
                    .add_sub_option(
                        text("role", "The incident role")
                            .required(true)
                            .set_autocomplete(true),
                    )
                    .add_sub_option(
                        CreateCommandOption::new(CommandOptionType::User, "user", "Who takes it")
                            .required(true),
                    ),
            )
            .add_option(
                sub("mitigate", "Mark this incident mitigated")
                    .add_sub_option(long_text("note", "What was done")),
            )
            .add_option(
                sub("resolve", "Resolve this incident")
                    .add_sub_option(long_text("summary", "What fixed it")),
            )
            .add_option(
                sub("reopen", "Reopen this resolved incident")
                    .add_sub_option(long_text("reason", "Why it is back"))
                    // From anywhere: an archived incident's room may be locked.
                    .add_sub_option(incident_option()),
            )
            .add_option(
                sub("note", "Add a note to the timeline")
                    .add_sub_option(long_text("text", "The note").required(true)),
            )
            .add_option(
                sub("timeline", "Show the latest timeline events")
                    .add_sub_option(incident_option())
                    .add_sub_option(
                        CreateCommandOption::new(
                            CommandOptionType::Integer,
                            "last",
                            "How many events (default 10)",
                        )
                        .min_int_value(1)
                        .max_int_value(TIMELINE_MAX as u64),
                    ),
            )
            .add_option(
                sub("export", "Export the post-mortem as a file")
                    .add_sub_option(incident_option())
                    .add_sub_option(
                        text("format", "The file format (default markdown)")
                            .add_string_choice("Markdown", "markdown")
                            .add_string_choice("JSON", "json")
                            .add_string_choice("HTML page with a timeline chart", "html"),
                    ),
            )
            .add_option(
                sub(
                    "check",
                    "Tick an item of the service's validation checklist",
                )
                .add_sub_option(
                    text("item", "The checklist item")
                        .required(true)
                        .set_autocomplete(true),
                )
                .add_sub_option(CreateCommandOption::new(
                    CommandOptionType::Boolean,
                    "undo",
                    "Untick it instead",
                )),
            )
            .add_option(
                sub(
                    "rpo",
                    "Record the recovery point: what the data was restored from",
                )
                .add_sub_option(text(
                    "restored_from",
                    "Time of the backup restored, e.g. 2026-12-06 14:05 (UTC)",
                ))
                .add_sub_option(CreateCommandOption::new(
                    CommandOptionType::Boolean,
                    "no_data_lost",
                    "Nothing was lost (no restore from a backup)",
                ))
                .add_sub_option(long_text("note", "What was restored, from where")),
            )
            .add_option(super::followup::review_definition())
            .add_option(super::followup::action_definition())
    }

    fn visibility(&self, call: &Call<'_>) -> Visibility {
        match call.subcommand {
            Some("status" | "timeline") => Visibility::OnlyYou,
            Some("open") if call.flag("private") == Some(true) => Visibility::OnlyYou,
            Some("list") if call.group == Some("action") => Visibility::OnlyYou,
            _ => Visibility::Everyone,
        }
    }

    fn modal(
        &self,
        bot: &Bot,
        _command: &serenity::all::CommandInteraction,
        call: &Call<'_>,
    ) -> Option<serenity::all::CreateModal> {
        if call.subcommand != Some("open")
            || (call.text("title").is_some() && call.text("severity").is_some())
        {
            return None;
        }
        let given = |name: &str| call.text(name).unwrap_or_default().to_owned();
        let seed = crate::discord::modals::Seed {
            title: given("title"),
            description: given("description"),
            severity: given("severity"),
            service: given("service"),
            drill: call.flag("drill").unwrap_or(false),
            private: call.flag("private").unwrap_or(false),
            message: None,
        };
        Some(seed.modal(bot.config()))
    }

    async fn handle(&self, bot: &Arc<Bot>, call: Call<'_>) -> Result<Reply, OpsError> {
        if super::followup::handles(&call) {
            return super::followup::handle(bot, &call).await;
        }
        let request = parse(&call).map_err(OpsError::Invalid)?;
        handle(bot, &call, request).await
    }

    async fn autocomplete(
        &self,
        bot: &Bot,
        call: Call<'_>,
        focused: &str,
        typed: &str,
    ) -> Vec<Choice> {
        let typed = typed.trim();
        match focused {
            "incident" => incident_choices(bot, &call, typed).await,
            "service" => matching(
                bot.config()
                    .services
                    .iter()
                    .map(|service| (service.name.as_str(), service.description.as_str())),
                typed,
            ),
            "role" => matching(
                bot.config()
                    .incident_roles
                    .iter()
                    .map(|role| (role.as_str(), "")),
                typed,
            ),
            "item" => checklist_choices(bot, &call, typed).await,
            _ => Vec::new(),
        }
    }
}

async fn handle(bot: &Arc<Bot>, call: &Call<'_>, request: Request) -> Result<Reply, OpsError> {
    let ops = bot.ops();
    let who = &call.who;
    Ok(match request {
        Request::Open {
            title,
            severity,
            service,
            description,
            drill,
            private,
        } => {
            let opened = ops
                .open(
                    who,
                    Source::Discord,
                    OpenRequest {
                        title,
                        severity,
                        service,
                        description,
                        drill,
                        private,
                    },
                )
                .await?;
            opened_reply(bot, &opened)
        }
        Request::Ack { incident } => {
            let id = bot.incident_ref(call, incident.as_deref()).await?;
            let written = ops.acknowledge(who, id).await?;
            let by = written.incident.acknowledged_by.map(|by| by.name);
            Reply::public(replies::acknowledged(
                id,
                Some(by.as_deref().unwrap_or_default()),
            ))
        }
        Request::Status { incident } => {
            let id = bot.incident_ref(call, incident.as_deref()).await?;
            let incident = ops.show(who, id).await?;
            Reply::private(String::new()).embed(render::status_embed(&incident, bot.config()))
        }
        Request::Update { message } => {
            let id = bot.incident_here(call).await?;
            ops.post_status_update(who, id, &message).await?;
            Reply::public(replies::update(id, &message))
        }
        Request::Severity { level } => {
            let id = bot.incident_here(call).await?;
            let written = ops.change_severity(who, id, &level).await?;
            Reply::public(replies::changed("⚠️", id, &written.events[0].text))
        }
        Request::Assign { role, assignee } => {
            let id = bot.incident_here(call).await?;
            let written = ops.assign_role(who, id, &role, assignee).await?;
            Reply::public(replies::changed("👤", id, &written.events[0].text))
        }
        Request::Mitigate { note } => {
            let id = bot.incident_here(call).await?;
            let written = ops.mitigate(who, id, note.as_deref()).await?;
            Reply::public(replies::changed("🟡", id, &written.events[0].text))
        }
        Request::Resolve { summary } => {
            let id = bot.incident_here(call).await?;
            let done = |text: &str| Reply::public(replies::resolved(id, text));
            return bot
                .resolve_asking(who, id, summary.as_deref(), false, done)
                .await;
        }
        Request::Check { item, undo } => {
            let id = bot.incident_here(call).await?;
            let written = ops.check_item(who, id, &item, undo).await?;
            let (_, items) = ops.checklist(who, id).await?;
            Reply::public(render::during::ticked(id, &written.events[0].text, &items))
        }
        Request::Rpo(request) => {
            let id = bot.incident_here(call).await?;
            let written = ops.record_rpo(who, id, request).await?;
            Reply::public(replies::changed("💾", id, &written.events[0].text))
        }
        Request::Reopen { reason, incident } => {
            let id = bot.incident_ref(call, incident.as_deref()).await?;
            let written = ops.reopen(who, id, reason.as_deref()).await?;
            Reply::public(replies::reopened(id, &written.events[0].text))
        }
        Request::Note { text } => {
            let id = bot.incident_here(call).await?;
            let written = ops.add_note(who, id, &text).await?;
            Reply::public(replies::noted(id, written.events[0].seq, &text))
        }
        Request::Timeline { incident, last } => {
            let id = bot.incident_ref(call, incident.as_deref()).await?;
            let shown = ops.show(who, id).await?;
            let events = ops
                .timeline_tail(who, id, last.clamp(1, TIMELINE_MAX) as u32)
                .await?;
            Reply::private(render::timeline(&shown, &events))
        }
        Request::Export { incident, format } => {
            let id = bot.incident_ref(call, incident.as_deref()).await?;
            let mut bytes = Vec::new();
            let gathered = ops.export(who, id, format, &mut bytes).await?;
            if bytes.len() > ATTACHMENT_LIMIT {
                return Err(OpsError::Invalid(replies::export_too_big(
                    id,
                    bytes.len(),
                    format.as_str(),
                )));
            }
            Reply::public(replies::exported(id, gathered.events)).file(
                format!(
                    "{}-postmortem.{}",
                    id.to_string().to_lowercase(),
                    format.file_extension()
                ),
                bytes,
            )
        }
    })
}

/// The answer to opening an incident: as soon as it is stored, then with the link to its
/// channel once the projector (of this process or another) recorded it. Private incidents are
/// answered only to the person who opened them.
pub(crate) fn opened_reply(bot: &Arc<Bot>, opened: &crate::store::Written) -> Reply {
    let id = opened.incident.id;
    let severity = opened.incident.severity.clone();
    let private = opened.incident.private;
    let say = move |text: String| {
        if private {
            Reply::private(text)
        } else {
            Reply::public(text)
        }
    };
    let bot = bot.clone();
    say(replies::opened(id, &severity)).then(async move {
        match bot.wait_for_room(id).await {
            Some(channel_id) => say(replies::opened_in(id, &severity, channel_id)),
            None => say(replies::opened_without_channel(id, &severity)),
        }
    })
}

/// The checklist of the incident of this channel, ticked items marked.
async fn checklist_choices(bot: &Bot, call: &Call<'_>, typed: &str) -> Vec<Choice> {
    let Ok(id) = bot.incident_here(call).await else {
        return Vec::new();
    };
    let Ok((_, items)) = bot.ops().checklist(&call.who, id).await else {
        return Vec::new();
    };
    let marked: Vec<(String, &str)> = items
        .iter()
        .map(|entry| {
            let mark = if entry.ticked.is_some() { "✅" } else { "⬜" };
            (format!("{mark} {}", entry.item), entry.item.as_str())
        })
        .collect();
    let typed = typed.to_lowercase();
    marked
        .iter()
        .filter(|(_, item)| typed.is_empty() || item.to_lowercase().contains(&typed))
        .take(CHOICE_LIMIT)
        .map(|(label, item)| Choice::new(label.clone(), *item))
        .collect()
}

/// Incident ids in options come from autocomplete (`12`) or are typed (`INC-12`).
pub(crate) fn parse_incident(text: &str) -> Result<IncidentId, OpsError> {
    text.parse::<IncidentId>()
        .map_err(|error| OpsError::Invalid(error.to_string()))
}
