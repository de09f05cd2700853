//! `/maintenance start service for reason [start_at]`, `/maintenance end id`, `/maintenance
//! list` (SPEC §2): windows during which a service's alerts open nothing and page nobody.
//! Incident commanders start and end them; anyone may list. The rules are in `ops`.

use std::sync::Arc;

use async_trait::async_trait;
use serenity::all::{CommandOptionType, CreateCommand, CreateCommandOption};

use super::{Call, Choice, SlashCommand, matching};
use crate::config::Config;
use crate::discord::context::Bot;
use crate::discord::render;
use crate::discord::reply::{Reply, Visibility};
use crate::ops::{MaintenanceRequest, OpsError};

pub(crate) struct MaintenanceCommand;

fn text(name: &str, description: &str) -> CreateCommandOption {
    CreateCommandOption::new(CommandOptionType::String, name, description)
}

#[async_trait]
impl SlashCommand for MaintenanceCommand {
    fn name(&self) -> &'static str {
        "maintenance"
    }

    fn definition(&self, _config: &Config) -> CreateCommand {
        let sub = |name: &str, description: &str| {
            CreateCommandOption::new(CommandOptionType::SubCommand, name, description)
        };
        CreateCommand::new("maintenance")
            .description("Maintenance windows: a service's alerts open nothing while one runs")
            .dm_permission(false)
            .add_option(
                sub("start", "Start (or plan) a maintenance window")
                    .add_sub_option(
                        text(
                            "service",
                            "The service (or route:<name> for an alert route)",
                        )
                        .required(true)
                        .set_autocomplete(true),
                    )
                    .add_sub_option(text("for", "How long, like 2h or 90m").required(true))
                    .add_sub_option(text("reason", "Why").required(true).max_length(300))
                    .add_sub_option(text(
                        "start_at",
                        "When it starts, RFC 3339 like 2026-03-29T22:00:00+02:00 (default: now)",
                    )),
            )
            .add_option(
                sub("end", "End a window early").add_sub_option(
                    CreateCommandOption::new(
                        CommandOptionType::Integer,
                        "id",
                        "The window's number",
                    )
                    .required(true),
                ),
            )
            .add_option(sub("list", "The windows running or planned"))
    }

    fn visibility(&self, call: &Call<'_>) -> Visibility {
        match call.subcommand {
            Some("list") => Visibility::OnlyYou,
            _ => Visibility::Everyone,
        }
    }

    async fn handle(&self, bot: &Arc<Bot>, call: Call<'_>) -> Result<Reply, OpsError> {
        let ops = bot.ops();
        match call.subcommand {
            Some("start") => {
                let window = ops
                    .start_maintenance(
                        &call.who,
                        MaintenanceRequest {
                            target: call.text("service").unwrap_or_default().to_owned(),
                            duration: call.text("for").unwrap_or_default().to_owned(),
                            reason: call.text("reason").unwrap_or_default().to_owned(),
                            start_at: call.text("start_at").map(str::to_owned),
                        },
                    )
                    .await?;
                Ok(Reply::public(render::maintenance_started(&window)))
            }
            Some("end") => {
                let id = call.integer("id").unwrap_or_default();
                let window = ops.end_maintenance(&call.who, id).await?;
                Ok(Reply::public(render::maintenance_ended(&window)))
            }
            _ => Ok(Reply::private(render::maintenance_list(
                &ops.maintenance_windows().await?,
                ops.clock().now(),
            ))),
        }
    }

    async fn autocomplete(
        &self,
        bot: &Bot,
        _call: Call<'_>,
        focused: &str,
        typed: &str,
    ) -> Vec<Choice> {
        if focused != "service" {
            return Vec::new();
        }
        matching(
            bot.config()
                .services
                .iter()
                .map(|service| (service.name.as_str(), service.description.as_str())),
            typed,
        )
    }
}
