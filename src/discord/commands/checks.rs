//! `/checks`: every scheduled check with its next run and last result, as `warroom checks
//! list` says it, only to the person who asked.

use std::sync::Arc;

use async_trait::async_trait;
use serenity::all::CreateCommand;

use super::{Call, Choice, SlashCommand};
use crate::config::Config;
use crate::discord::context::Bot;
use crate::discord::render::schedules;
use crate::discord::reply::{Reply, Visibility};
use crate::ops::OpsError;

pub(crate) struct ChecksCommand;

#[async_trait]
impl SlashCommand for ChecksCommand {
    fn name(&self) -> &'static str {
        "checks"
    }

    fn definition(&self, _config: &Config) -> CreateCommand {
        CreateCommand::new("checks")
            .description("The scheduled checks: when each runs next and how it last ended")
            .dm_permission(false)
    }

    fn visibility(&self, _call: &Call<'_>) -> Visibility {
        Visibility::OnlyYou
    }

    async fn handle(&self, bot: &Arc<Bot>, _call: Call<'_>) -> Result<Reply, OpsError> {
        let checks = bot.ops().checks_overview().await?;
        Ok(Reply::private(schedules::checks_reply(&checks)))
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
