//! Opening an incident through a modal (SPEC §2, issue 14): `/incident open` without a title
//! and the message command **Open incident from message** open the same form (title,
//! description, severity, service); its submission opens the incident. Seeded from a message,
//! the form starts with that message's words, and the message is linked as the incident's
//! first timeline event after `opened` (in the same transaction).
//!
//! What the form carries between opening and submission is in its `custom_id` (drill, private,
//! the seeding message), so any warroom process may take the submission. Submissions are
//! claimed by interaction id like every interaction.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use serenity::all::{
    ActionRowComponent, ChannelId, CommandInteraction, CommandType, CreateActionRow, CreateCommand,
    CreateInputText, CreateInteractionResponse, CreateModal, InputTextStyle, MessageId,
    ModalInteraction,
};

use super::commands::{Call, Choice, SlashCommand};
use super::context::Bot;
use super::principal;
use super::render::replies;
use super::reply::{Reply, Visibility, answer};
use crate::config::Config;
use crate::domain::{EventKind, NewEvent, Source, TEXT_LIMIT};
use crate::ops::{OpenRequest, OpsError};

/// The message command's name, as Discord shows it in a message's Apps menu.
pub(crate) const FROM_MESSAGE: &str = "Open incident from message";

/// The modal's `custom_id` prefix.
const MODAL_ID: &str = "incident-open";

/// Discord's limits on a modal's title and a text input's value.
const MODAL_TITLE: &str = "Open an incident";
const INPUT_VALUE_LIMIT: usize = 4_000;

/// What the form was opened with.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Seed {
    pub title: String,
    pub description: String,
    pub severity: String,
    pub service: String,
    pub drill: bool,
    pub private: bool,
    /// The message it was opened from: channel and message id.
    pub message: Option<(u64, u64)>,
}

impl Seed {
    fn custom_id(&self) -> String {
        let flags = format!(
            "{}{}",
            if self.drill { "d" } else { "" },
            if self.private { "p" } else { "" }
        );
        match self.message {
            Some((channel, message)) => format!("{MODAL_ID}:{flags}:{channel}:{message}"),
            None => format!("{MODAL_ID}:{flags}"),
        }
    }

    /// The flags and message of a submitted form, from its `custom_id`.
    fn parse(custom_id: &str) -> Option<Seed> {
        let mut parts = custom_id.strip_prefix(MODAL_ID)?.split(':').skip(1);
        let flags = parts.next().unwrap_or_default();
        let message = match (parts.next(), parts.next()) {
            (Some(channel), Some(message)) => Some((channel.parse().ok()?, message.parse().ok()?)),
            _ => None,
        };
        Some(Seed {
            drill: flags.contains('d'),
            private: flags.contains('p'),
            message,
            ..Seed::default()
        })
    }

    pub(crate) fn modal(&self, config: &Config) -> CreateModal {
        let input = |style, label: &str, id: &str, value: &str, required: bool| {
            let mut input = CreateInputText::new(style, label, id).required(required);
            let value: String = value.chars().take(INPUT_VALUE_LIMIT).collect();
            if !value.is_empty() {
                input = input.value(value);
            }
            CreateActionRow::InputText(input)
        };
        let severities: Vec<&str> = config.severities.iter().map(|s| s.name.as_str()).collect();
        let severity = if self.severity.is_empty() {
            severities.first().copied().unwrap_or_default()
        } else {
            &self.severity
        };
        let severity_label = format!("Severity ({})", severities.join(", "));
        let severity_label: String = severity_label.chars().take(45).collect();
        CreateModal::new(self.custom_id(), MODAL_TITLE).components(vec![
            // No max_length: an over-long title gets warroom's own error saying how long.
            input(InputTextStyle::Short, "Title", "title", &self.title, true),
            input(
                InputTextStyle::Paragraph,
                "Description",
                "description",
                &self.description,
                false,
            ),
            input(
                InputTextStyle::Short,
                &severity_label,
                "severity",
                severity,
                true,
            ),
            input(
                InputTextStyle::Short,
                "Service (optional)",
                "service",
                &self.service,
                false,
            ),
        ])
    }
}

/// The message command: opens the form seeded with the message it is used on.
pub(crate) struct FromMessageCommand;

#[async_trait]
impl SlashCommand for FromMessageCommand {
    fn name(&self) -> &'static str {
        FROM_MESSAGE
    }

    fn definition(&self, _config: &Config) -> CreateCommand {
        CreateCommand::new(FROM_MESSAGE)
            .kind(CommandType::Message)
            .dm_permission(false)
    }

    fn visibility(&self, _call: &Call<'_>) -> Visibility {
        Visibility::OnlyYou
    }

    fn modal(
        &self,
        bot: &Bot,
        command: &CommandInteraction,
        _call: &Call<'_>,
    ) -> Option<CreateModal> {
        let target = command.data.target_id?.to_message_id();
        let message = command.data.resolved.messages.get(&target)?;
        let title: String = message
            .content
            .lines()
            .find(|line| !line.trim().is_empty())
            .unwrap_or_default()
            .chars()
            .take(crate::domain::TITLE_LIMIT)
            .collect();
        let seed = Seed {
            title,
            description: message.content.clone(),
            message: Some((message.channel_id.get(), message.id.get())),
            ..Seed::default()
        };
        Some(seed.modal(bot.config()))
    }

    async fn handle(&self, _bot: &Arc<Bot>, _call: Call<'_>) -> Result<Reply, OpsError> {
        Err(OpsError::Invalid(
            "use this on a message: Discord did not say which one; try again from the message's Apps menu".to_owned(),
        ))
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

impl Bot {
    /// Answers a command with its modal; the interaction was claimed by the caller.
    pub(crate) async fn show_modal(&self, command: &CommandInteraction, modal: CreateModal) {
        use serenity::all::Builder;
        if let Err(error) = CreateInteractionResponse::Modal(modal)
            .execute(self.http(), (command.id, &command.token))
            .await
        {
            tracing::warn!(%error, command = %command.data.name, "opening a modal failed");
        }
    }

    /// A submitted form: opens the incident it describes.
    pub(crate) async fn on_modal(self: &Arc<Self>, modal: &ModalInteraction) {
        let received = std::time::Instant::now();
        let private = Seed::parse(&modal.data.custom_id).is_none_or(|seed| seed.private);
        let visibility = if private {
            Visibility::OnlyYou
        } else {
            Visibility::Everyone
        };
        let inflight = self.inflight.enter(modal.id.get(), &modal.token);
        let work = async {
            match self.claim_interaction(modal.id, inflight.is_some()).await {
                Ok(true) => {}
                Ok(false) => return Reply::silence(),
                Err(reply) => return reply,
            }
            match self.submitted(modal).await {
                Ok(reply) => reply,
                Err(error) => self.error_reply(error),
            }
        };
        if let Err(error) = answer(
            self.http(),
            modal.id,
            &modal.token,
            visibility,
            received,
            work,
        )
        .await
        {
            tracing::warn!(%error, "answering a modal failed");
        }
    }

    async fn submitted(self: &Arc<Self>, modal: &ModalInteraction) -> Result<Reply, OpsError> {
        let Some(seed) = Seed::parse(&modal.data.custom_id) else {
            return Err(OpsError::Invalid(replies::UNKNOWN_BUTTON.to_owned()));
        };
        let field = |id: &str| {
            modal
                .data
                .components
                .iter()
                .flat_map(|row| &row.components)
                .find_map(|component| match component {
                    ActionRowComponent::InputText(input) if input.custom_id == id => {
                        input.value.clone()
                    }
                    _ => None,
                })
                .unwrap_or_default()
        };
        let who = principal::from_member(self.config(), &modal.user, modal.member.as_ref());
        let request = OpenRequest {
            title: field("title"),
            severity: field("severity"),
            service: Some(field("service")),
            description: field("description"),
            drill: seed.drill,
            private: seed.private,
        };
        let seeds = match seed.message {
            Some((channel, message)) => vec![self.seed_event(channel, message).await?],
            None => Vec::new(),
        };
        let written = self
            .ops()
            .open_seeded(&who, Source::Discord, request, seeds)
            .await?;
        Ok(super::commands::opened_reply(self, &written))
    }

    /// The message a form was seeded from, as the incident's first event after `opened`.
    async fn seed_event(&self, channel: u64, message: u64) -> Result<NewEvent, OpsError> {
        let found = ChannelId::new(channel)
            .message(self.http(), MessageId::new(message))
            .await
            .map_err(|error| {
                OpsError::Invalid(format!(
                    "the message this incident is opened from cannot be read any more ({error}); open it with /incident open instead"
                ))
            })?;
        let author = principal::message_author(&found.author, found.member.as_deref());
        let guild = self.config().discord.guild_id.unwrap_or_default();
        let link = format!("https://discord.com/channels/{guild}/{channel}/{message}");
        let text: String = found.content.chars().take(TEXT_LIMIT).collect();
        Ok(NewEvent::new(
            self.ops().clock().now(),
            EventKind::Message,
            author,
            format!("Opened from a message in <#{channel}>: {text}"),
        )
        .with_key(format!("seed:{message}"))
        .with_data(json!({
            "seeded_from": link,
            "channel_id": channel.to_string(),
            "message_id": message.to_string(),
            "said_at": found.timestamp.unix_timestamp() * 1000,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_carries_its_flags_and_message_to_its_submission() {
        for seed in [
            Seed::default(),
            Seed {
                drill: true,
                private: true,
                message: Some((12, 34)),
                ..Seed::default()
            },
            Seed {
                private: true,
                ..Seed::default()
            },
        ] {
            let id = seed.custom_id();
            assert!(id.len() <= 100, "{id}");
            assert_eq!(Seed::parse(&id), Some(seed));
        }
        assert_eq!(Seed::parse("incident:resolve:1"), None);
        assert_eq!(Seed::parse("incident-open:d:x:1"), None);
    }
}
