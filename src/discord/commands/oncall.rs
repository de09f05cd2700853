//! `/oncall schedule:…` (SPEC §2): who is on call now and who is next, for one schedule or
//! all of them, from the configured schedules at warroom's clock. Anyone may ask.

use std::sync::Arc;

use async_trait::async_trait;
use serenity::all::CreateCommand;

use super::{Call, Choice, SlashCommand, matching, names_option};
use crate::config::Config;
use crate::discord::context::Bot;
use crate::discord::render::{self, replies};
use crate::discord::reply::{Reply, Visibility};
use crate::escalation::Schedule;
use crate::ops::OpsError;

pub(crate) struct OncallCommand;

#[async_trait]
impl SlashCommand for OncallCommand {
    fn name(&self) -> &'static str {
        "oncall"
    }

    fn definition(&self, config: &Config) -> CreateCommand {
        CreateCommand::new("oncall")
            .description("Who is on call now, and who is next")
            .dm_permission(false)
            .add_option(names_option(
                "schedule",
                "The schedule (default: all of them)",
                config
                    .schedules
                    .iter()
                    .map(|schedule| schedule.name.as_str()),
            ))
    }

    fn visibility(&self, _call: &Call<'_>) -> Visibility {
        Visibility::OnlyYou
    }

    async fn handle(&self, bot: &Arc<Bot>, call: Call<'_>) -> Result<Reply, OpsError> {
        let config = bot.config();
        let schedules: Vec<&Schedule> = match call.text("schedule").map(str::trim) {
            Some(name) => match config.schedule(name) {
                Some(schedule) => vec![schedule],
                None => {
                    let known: Vec<&str> = config
                        .schedules
                        .iter()
                        .map(|schedule| schedule.name.as_str())
                        .collect();
                    return Err(OpsError::Invalid(replies::no_such_schedule(name, &known)));
                }
            },
            None => config.schedules.iter().collect(),
        };
        // Mentions show names without pinging: every answer goes out with no allowed mentions.
        Ok(Reply::private(render::oncall(
            &schedules,
            bot.ops().clock().now(),
        )))
    }

    async fn autocomplete(
        &self,
        bot: &Bot,
        _call: Call<'_>,
        focused: &str,
        typed: &str,
    ) -> Vec<Choice> {
        if focused != "schedule" {
            return Vec::new();
        }
        matching(
            bot.config()
                .schedules
                .iter()
                .map(|schedule| (schedule.name.as_str(), "")),
            typed,
        )
    }
}
