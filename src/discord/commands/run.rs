//! `/run command:… args:"key=value …" dry_run:…` (SPEC §2, §5): requests a run of an approved
//! command; what happens next (refusal, an approval card, or the run itself) is `ops`'s call.

use std::sync::Arc;

use async_trait::async_trait;
use serenity::all::{CommandOptionType, CreateCommand, CreateCommandOption};

use super::{CHOICE_LIMIT, Call, Choice, SlashCommand};
use crate::config::Config;
use crate::discord::context::Bot;
use crate::discord::render::replies;
use crate::discord::reply::{Reply, Visibility};
use crate::ops::{OpsError, Requested, RunRequest};
use crate::runner::MAX_ARGS_TEXT_BYTES;

pub(crate) struct RunCommand;

#[async_trait]
impl SlashCommand for RunCommand {
    fn name(&self) -> &'static str {
        "run"
    }

    fn definition(&self, _config: &Config) -> CreateCommand {
        CreateCommand::new("run")
            .description("Run an approved recovery command")
            .dm_permission(false)
            .add_option(
                CreateCommandOption::new(
                    CommandOptionType::String,
                    "command",
                    "The command (only those you may run are offered)",
                )
                .required(true)
                .set_autocomplete(true),
            )
            .add_option(
                CreateCommandOption::new(
                    CommandOptionType::String,
                    "args",
                    "Its arguments, as key=value key2=\"two words\"",
                )
                .max_length(MAX_ARGS_TEXT_BYTES.min(6_000) as u16),
            )
            .add_option(CreateCommandOption::new(
                CommandOptionType::Boolean,
                "dry_run",
                "Show what it would do, with its read-only dry-run arguments",
            ))
    }

    fn visibility(&self, _call: &Call<'_>) -> Visibility {
        Visibility::Everyone
    }

    async fn handle(&self, bot: &Arc<Bot>, call: Call<'_>) -> Result<Reply, OpsError> {
        request(bot, &call).await
    }

    async fn autocomplete(
        &self,
        bot: &Bot,
        call: Call<'_>,
        focused: &str,
        typed: &str,
    ) -> Vec<Choice> {
        if focused != "command" {
            return Vec::new();
        }
        let typed = typed.trim().to_lowercase();
        bot.ops()
            .commands_for(&call.who)
            .iter()
            .filter(|spec| {
                typed.is_empty()
                    || spec.name().contains(&typed)
                    || spec.description().to_lowercase().contains(&typed)
            })
            .take(CHOICE_LIMIT)
            .map(|spec| {
                Choice::new(
                    format!("{} · {} · {}", spec.name(), spec.risk(), spec.description()),
                    spec.name(),
                )
            })
            .collect()
    }
}

async fn request(bot: &Arc<Bot>, call: &Call<'_>) -> Result<Reply, OpsError> {
    let command = call.text("command").unwrap_or_default().trim().to_owned();
    let request = RunRequest {
        command,
        args: call.text("args").unwrap_or_default().to_owned(),
        dry_run: call.flag("dry_run").unwrap_or(false),
        incident: bot.incident_for_channel(call.channel_id).await?,
        channel_id: Some(call.channel_id),
    };
    Ok(match bot.ops().request_run(&call.who, request).await? {
        Requested::Denied(run) => Reply::error(replies::run_refused(run.id, run.reason.as_deref())),
        Requested::AwaitingApproval(run) => {
            if let Err(reason) = bot.post_run_card(&run).await {
                return Err(OpsError::Invalid(replies::run_card_failed(run.id, &reason)));
            }
            Reply::private(replies::run_awaiting(
                run.id,
                run.approvals_needed,
                &run.approver_roles,
                run.expires_at,
            ))
        }
        Requested::Ready(run) => {
            let reply = Reply::public(replies::run_starting(run.id, &run.command));
            bot.start_run(run);
            reply
        }
    })
}
