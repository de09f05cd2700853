//! `/commands list` (what the caller may run) and `/commands reload` (admins).

use std::sync::Arc;

use async_trait::async_trait;
use serenity::all::{CommandOptionType, CreateCommand, CreateCommandOption};

use super::{Call, Choice, SlashCommand};
use crate::config::Config;
use crate::discord::context::Bot;
use crate::discord::render::replies;
use crate::discord::reply::{Reply, Visibility};
use crate::ops::OpsError;

pub(crate) struct CommandsCommand;

#[async_trait]
impl SlashCommand for CommandsCommand {
    fn name(&self) -> &'static str {
        "commands"
    }

    fn definition(&self, _config: &Config) -> CreateCommand {
        CreateCommand::new("commands")
            .description("The approved recovery commands")
            .dm_permission(false)
            .add_option(CreateCommandOption::new(
                CommandOptionType::SubCommand,
                "list",
                "The commands you may run",
            ))
            .add_option(CreateCommandOption::new(
                CommandOptionType::SubCommand,
                "reload",
                "Re-read the command catalog (admins); an invalid one leaves the current in place",
            ))
    }

    fn visibility(&self, _call: &Call<'_>) -> Visibility {
        Visibility::OnlyYou
    }

    async fn handle(&self, bot: &Arc<Bot>, call: Call<'_>) -> Result<Reply, OpsError> {
        if call.subcommand == Some("reload") {
            let report = bot.ops().reload_catalog(&call.who).await?;
            return Ok(Reply::private(replies::catalog_reloaded(
                &report.to_string(),
            )));
        }
        let commands = bot.ops().commands_for(&call.who);
        if commands.is_empty() {
            return Ok(Reply::private(replies::NO_COMMANDS_FOR_YOU));
        }
        let mut text = format!("**Commands you may run** ({})\n", commands.len());
        for spec in &commands {
            let approval = match spec.approval() {
                Some(approval) => format!(
                    " · needs {} approval(s) from `{}`",
                    approval.approvers,
                    approval.roles.join("` or `")
                ),
                None => String::new(),
            };
            text.push_str(&format!(
                "• `{}` · {}{approval} — {}\n  `{}`\n",
                spec.name(),
                spec.risk(),
                spec.description(),
                spec.usage()
            ));
        }
        Ok(Reply::private(text))
    }

    async fn autocomplete(
        &self,
        _bot: &Bot,
        _call: Call<'_>,
        _focused: &str,
        _typed: &str,
    ) -> Vec<Choice> {
        Vec::new()
    }
}
