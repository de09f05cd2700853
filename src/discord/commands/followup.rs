//! `/incident review` and `/incident action add|done|list` (SPEC §2): the post-incident review
//! and follow-up action items, through the same use cases as the CLI and REST. The review
//! meeting's Scheduled Event is made by the projector from the `review_scheduled` event.

use std::sync::Arc;

use serenity::all::{CommandOptionType, CreateCommandOption};

use super::{Call, incident_option};
use crate::cli::followup::{describe_item, describe_review};
use crate::discord::context::Bot;
use crate::discord::reply::Reply;
use crate::ops::{ActionRequest, OpsError, ReviewRequest, TEXT_LIMIT};

fn option(kind: CommandOptionType, name: &str, description: &str) -> CreateCommandOption {
    CreateCommandOption::new(kind, name, description)
}

/// The `review` subcommand.
pub(super) fn review_definition() -> CreateCommandOption {
    option(
        CommandOptionType::SubCommand,
        "review",
        "The post-incident review: schedule its meeting, hand it over, mark it done",
    )
    .add_sub_option(option(
        CommandOptionType::String,
        "when",
        "Meeting time: 2026-12-24 18:00 (UTC), 2026-12-24T18:00:00+01:00 or 2d; makes a Discord event",
    ))
    .add_sub_option(option(CommandOptionType::User, "owner", "Who owns the review"))
    .add_sub_option(option(CommandOptionType::Boolean, "done", "The review was held"))
    .add_sub_option(incident_option())
}

/// The `action` subcommand group.
pub(super) fn action_definition() -> CreateCommandOption {
    let number = || {
        option(CommandOptionType::Integer, "id", "The action item's number")
            .required(true)
            .min_int_value(1)
    };
    option(
        CommandOptionType::SubCommandGroup,
        "action",
        "Follow-up action items",
    )
    .add_sub_option(
        option(CommandOptionType::SubCommand, "add", "Add an action item")
            .add_sub_option(
                option(CommandOptionType::String, "text", "What is to be done")
                    .required(true)
                    .max_length(TEXT_LIMIT as u16),
            )
            .add_sub_option(option(CommandOptionType::User, "owner", "Who does it").required(true))
            .add_sub_option(
                option(
                    CommandOptionType::String,
                    "due",
                    "Due date: 2026-12-24 (end of day UTC), a time, or 7d",
                )
                .required(true),
            )
            .add_sub_option(incident_option()),
    )
    .add_sub_option(
        option(
            CommandOptionType::SubCommand,
            "done",
            "Mark an action item done",
        )
        .add_sub_option(number())
        .add_sub_option(incident_option()),
    )
    .add_sub_option(
        option(
            CommandOptionType::SubCommand,
            "list",
            "List the action items",
        )
        .add_sub_option(incident_option()),
    )
}

/// Whether `call` is one of these commands.
pub(super) fn handles(call: &Call<'_>) -> bool {
    call.group == Some("action") || call.subcommand == Some("review")
}

pub(super) async fn handle(bot: &Arc<Bot>, call: &Call<'_>) -> Result<Reply, OpsError> {
    let ops = bot.ops();
    let who = &call.who;
    let id = bot.incident_ref(call, call.text("incident")).await?;
    let owner = call
        .user("owner")
        .map(|(user, _)| user.id.get().to_string());
    if call.subcommand == Some("review") {
        let asked = ReviewRequest {
            when: call.text("when").map(str::to_owned),
            owner,
            done: call.flag("done").unwrap_or(false),
        };
        let showing = asked.when.is_none() && asked.owner.is_none() && !asked.done;
        let review = ops.review(who, id, asked).await?;
        let line = format!("🗓️ {}", describe_review(&review));
        return Ok(if showing {
            Reply::private(line)
        } else {
            Reply::public(line)
        });
    }
    match call.subcommand {
        Some("add") => {
            let request = ActionRequest {
                text: call.text("text").unwrap_or_default().to_owned(),
                owner: owner.ok_or_else(|| {
                    OpsError::Invalid("the option `owner` is required".to_owned())
                })?,
                due: call.text("due").unwrap_or_default().to_owned(),
            };
            let item = ops.add_action_item(who, id, request).await?;
            Ok(Reply::public(format!(
                "📝 {id} action item added: {}",
                describe_item(&item)
            )))
        }
        Some("done") => {
            let number = call.integer("id").unwrap_or_default();
            let item = ops.finish_action_item(who, id, number).await?;
            Ok(Reply::public(format!(
                "✅ {id} action item done: {}",
                describe_item(&item)
            )))
        }
        _ => {
            let items = ops.action_items(who, id).await?;
            if items.is_empty() {
                return Ok(Reply::private(format!(
                    "{id} has no action items; add one with `/incident action add`"
                )));
            }
            let lines: Vec<String> = items.iter().map(describe_item).collect();
            Ok(Reply::private(format!(
                "**{id} action items**\n{}",
                lines.join("\n")
            )))
        }
    }
}
