//! `/commands list` (what the caller may run) and `/commands reload` (admins).

use std::sync::Arc;

use async_trait::async_trait;
use serenity::all::{CommandOptionType, CreateCommand, CreateCommandOption};

use super::{Call, Choice, SlashCommand};
use crate::config::Config;
use crate::discord::bot::Bot;
use crate::discord::reply::{Reply, Visibility};

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

    async fn run(&self, bot: &Arc<Bot>, call: Call<'_>) -> Reply {
        if call.subcommand == Some("reload") {
            return match bot.ops().reload_catalog(&call.who).await {
                Ok(report) => Reply::private(format!("🔄 {report}")),
                Err(error) => bot.error_reply(error),
            };
        }
        let commands = bot.ops().commands_for(&call.who);
        if commands.is_empty() {
            return Reply::private(
                "You may run no approved commands: none of your Discord roles is allowed one (see the catalog's `allowed_roles`).",
            );
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
        Reply::private(text)
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
