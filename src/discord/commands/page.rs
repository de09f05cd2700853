//! `/page user:… | role:… | policy:… message:… incident:…` (SPEC §2): pages someone for an
//! incident now. Exactly one target; `ops` decides who may page and sends it through the
//! escalation engine like any page (drills stay inside Discord).

use std::sync::Arc;

use async_trait::async_trait;
use serenity::all::{CommandOptionType, CreateCommand, CreateCommandOption};

use super::{
    Call, Choice, SlashCommand, incident_choices, incident_option, matching, names_option,
};
use crate::config::Config;
use crate::discord::context::Bot;
use crate::discord::render::replies;
use crate::discord::reply::{Reply, Visibility};
use crate::ops::{OpsError, PageRequest};

/// The longest message accepted; `ops` refuses more (it travels to PagerDuty, Opsgenie and
/// webhooks too).
const MESSAGE_LIMIT: u16 = 1_000;

pub(crate) struct PageCommand;

/// Whom the command pages, from its options, as `PageRequest::parse` reads it.
fn target(call: &Call<'_>) -> Result<String, String> {
    let user = call
        .user("user")
        .map(|(user, _)| format!("user:{}", user.id.get()));
    let role = call
        .text("role")
        .map(|role| format!("role:{}", role.trim()));
    let policy = call
        .text("policy")
        .map(|policy| format!("policy:{}", policy.trim()));
    let mut given = [user, role, policy].into_iter().flatten();
    match (given.next(), given.next()) {
        (Some(target), None) => Ok(target),
        (None, _) => Err(
            "say whom to page: give one of `user` (a person), `role` (everyone holding a bot role) or `policy` (a whole escalation policy, from its first level)"
                .to_owned(),
        ),
        (Some(_), Some(_)) => Err(
            "give only one of `user`, `role` or `policy`; run /page once for each".to_owned(),
        ),
    }
}

#[async_trait]
impl SlashCommand for PageCommand {
    fn name(&self) -> &'static str {
        "page"
    }

    fn definition(&self, config: &Config) -> CreateCommand {
        CreateCommand::new("page")
            .description("Page someone for an incident now: a person, a bot role or a policy")
            .dm_permission(false)
            .add_option(CreateCommandOption::new(
                CommandOptionType::User,
                "user",
                "A person: a DM and a mention in the incident channel",
            ))
            .add_option(names_option(
                "role",
                "Everyone holding this bot role: a mention in the incident channel",
                config.roles.keys().map(String::as_str),
            ))
            .add_option(names_option(
                "policy",
                "A whole escalation policy, from its first level",
                config.policies.iter().map(|policy| policy.name.as_str()),
            ))
            .add_option(
                CreateCommandOption::new(
                    CommandOptionType::String,
                    "message",
                    "What they should know (shown in the page)",
                )
                .max_length(MESSAGE_LIMIT),
            )
            .add_option(incident_option())
    }

    fn visibility(&self, _call: &Call<'_>) -> Visibility {
        // The incident channel says who was paged; the answer only confirms it to the pager.
        Visibility::OnlyYou
    }

    async fn handle(&self, bot: &Arc<Bot>, call: Call<'_>) -> Result<Reply, OpsError> {
        let target = target(&call).map_err(OpsError::Invalid)?;
        page(bot, &call, &target).await
    }

    async fn autocomplete(
        &self,
        bot: &Bot,
        call: Call<'_>,
        focused: &str,
        typed: &str,
    ) -> Vec<Choice> {
        let config = bot.config();
        match focused {
            "incident" => incident_choices(bot, &call, typed.trim()).await,
            "role" => matching(config.roles.keys().map(|role| (role.as_str(), "")), typed),
            "policy" => matching(
                config
                    .policies
                    .iter()
                    .map(|policy| (policy.name.as_str(), "")),
                typed,
            ),
            _ => Vec::new(),
        }
    }
}

async fn page(bot: &Arc<Bot>, call: &Call<'_>, target: &str) -> Result<Reply, OpsError> {
    let request = PageRequest::parse(target)?;
    let id = bot.incident_ref(call, call.text("incident")).await?;
    let message = call.text("message");
    let paged = bot.ops().page(&call.who, id, request, message).await?;
    let elsewhere = paged
        .incident
        .channel_id
        .filter(|channel_id| *channel_id != call.channel_id);
    Ok(Reply::private(replies::paged(
        id,
        &paged.summary,
        elsewhere,
    )))
}
