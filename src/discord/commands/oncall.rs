//! `/oncall show schedule:…` (SPEC §2): who is on call now and who is next, for one schedule
//! or all of them, overrides made from chat included (anyone may ask); `/oncall override
//! schedule user from to` puts someone on call over a span (incident commanders, admins, or
//! the person on call then, handing over); `/oncall swap schedule with` exchanges the
//! caller's next shift with someone else's. The rules are in `ops`.

use std::sync::Arc;

use async_trait::async_trait;
use serenity::all::{CommandOptionType, CreateCommand, CreateCommandOption};

use super::{Call, Choice, SlashCommand, matching, names_option};
use crate::config::Config;
use crate::discord::context::Bot;
use crate::discord::render::{self, replies};
use crate::discord::reply::{Reply, Visibility};
use crate::escalation::Schedule;
use crate::ops::{OpsError, OverrideRequest};

pub(crate) struct OncallCommand;

fn schedule_option(config: &Config, description: &str) -> CreateCommandOption {
    names_option(
        "schedule",
        description,
        config
            .schedules
            .iter()
            .map(|schedule| schedule.name.as_str()),
    )
}

fn sub(name: &str, description: &str) -> CreateCommandOption {
    CreateCommandOption::new(CommandOptionType::SubCommand, name, description)
}

fn when(name: &str, description: &str) -> CreateCommandOption {
    CreateCommandOption::new(CommandOptionType::String, name, description).required(true)
}

#[async_trait]
impl SlashCommand for OncallCommand {
    fn name(&self) -> &'static str {
        "oncall"
    }

    fn definition(&self, config: &Config) -> CreateCommand {
        let user = |name: &str, description: &str| {
            CreateCommandOption::new(CommandOptionType::User, name, description).required(true)
        };
        CreateCommand::new("oncall")
            .description("Who is on call, and changes to it")
            .dm_permission(false)
            .add_option(
                sub("show", "Who is on call now, and who is next").add_sub_option(schedule_option(
                    config,
                    "The schedule (default: all of them)",
                )),
            )
            .add_option(
                sub("override", "Put someone on call over a span of time")
                    .add_sub_option(schedule_option(config, "The schedule").required(true))
                    .add_sub_option(user("user", "Who is on call instead"))
                    .add_sub_option(when(
                        "from",
                        "`now`, or 2026-03-29 18:00 (the schedule's time zone) or RFC 3339",
                    ))
                    .add_sub_option(when(
                        "to",
                        "An end like `from`, or how long after it, like 8h",
                    )),
            )
            .add_option(
                sub("swap", "Swap your next shift with someone's next shift")
                    .add_sub_option(schedule_option(config, "The schedule").required(true))
                    .add_sub_option(user("with", "Who takes your shift and gives you theirs")),
            )
    }

    fn visibility(&self, call: &Call<'_>) -> Visibility {
        match call.subcommand {
            // A change to who is paged is everyone's business in the channel.
            Some("override" | "swap") => Visibility::Everyone,
            _ => Visibility::OnlyYou,
        }
    }

    async fn handle(&self, bot: &Arc<Bot>, call: Call<'_>) -> Result<Reply, OpsError> {
        match call.subcommand {
            Some("override") => override_oncall(bot, &call).await,
            Some("swap") => swap(bot, &call).await,
            _ => show(bot, &call).await,
        }
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

async fn show(bot: &Arc<Bot>, call: &Call<'_>) -> Result<Reply, OpsError> {
    let on_call = bot.ops().schedules().await?;
    let schedules: Vec<&Schedule> = match call.text("schedule").map(str::trim) {
        Some(name) => match on_call.schedule(name) {
            Some(schedule) => vec![schedule],
            None => {
                let known: Vec<&str> = on_call
                    .schedules
                    .iter()
                    .map(|schedule| schedule.name.as_str())
                    .collect();
                return Err(OpsError::Invalid(replies::no_such_schedule(name, &known)));
            }
        },
        None => on_call.schedules.iter().collect(),
    };
    let now = bot.ops().clock().now();
    let mut text = render::oncall(&schedules, now);
    for schedule in &schedules {
        if let Some(made) = on_call.made.get(&schedule.name) {
            text.push_str(&render::overrides_made(&schedule.name, made, now));
        }
    }
    // Mentions show names without pinging: every answer goes out with no allowed mentions.
    Ok(Reply::private(text))
}

async fn override_oncall(bot: &Arc<Bot>, call: &Call<'_>) -> Result<Reply, OpsError> {
    let (user, member) = call
        .user("user")
        .ok_or_else(|| OpsError::Invalid("say who is on call instead: give `user`".to_owned()))?;
    let request = OverrideRequest {
        schedule: call.text("schedule").unwrap_or_default(),
        user_id: user.id.get(),
        in_guild: Some(member.is_some()),
        from: call.text("from").unwrap_or("now"),
        to: call.text("to").unwrap_or_default(),
    };
    let stored = bot.ops().override_oncall(&call.who, request).await?;
    Ok(Reply::public(render::override_made(&stored)))
}

async fn swap(bot: &Arc<Bot>, call: &Call<'_>) -> Result<Reply, OpsError> {
    let (with, member) = call
        .user("with")
        .ok_or_else(|| OpsError::Invalid("say whom to swap with: give `with`".to_owned()))?;
    let stored = bot
        .ops()
        .swap_oncall(
            &call.who,
            call.text("schedule").unwrap_or_default(),
            with.id.get(),
            Some(member.is_some()),
        )
        .await?;
    let lines: Vec<String> = stored.iter().map(render::override_made).collect();
    Ok(Reply::public(lines.join("\n")))
}
