//! The Discord gateway of the process that holds the lease: building the serenity client
//! (with the `[discord] api_base` seam), routing its events, and closing it cleanly.
//!
//! Discord sends every event to every live session of the bot, so a takeover, a resume that
//! replays, or a second process briefly connected delivers events twice: every handler acts
//! only on what it claimed in the database (an interaction id, a message's event key).

use std::sync::Arc;

use anyhow::Context as _;
use async_trait::async_trait;
use serenity::all::{
    ChannelId, Client, ClientBuilder, ConnectionStage, Context, EventHandler, GatewayIntents,
    GuildId, Interaction, Message, MessageId, MessageUpdateEvent, Reaction, Ready, ResumedEvent,
    ShardManager, ShardStageUpdateEvent,
};
use tokio::task::JoinHandle;

use super::context::Bot;
use crate::domain::GatewayState;

/// What the gateway asks Discord for: guilds, messages (with their content: the MESSAGE
/// CONTENT intent is privileged), and reactions for 📌 highlights.
fn intents() -> GatewayIntents {
    GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
        | GatewayIntents::GUILD_MESSAGE_REACTIONS
}

/// A connected (or connecting) gateway.
pub(crate) struct Gateway {
    shard_manager: Arc<ShardManager>,
    client: JoinHandle<()>,
}

impl Gateway {
    /// Connects with a fresh IDENTIFY and starts routing events to `bot`.
    pub async fn connect(bot: Arc<Bot>, http: serenity::all::Http) -> anyhow::Result<Gateway> {
        bot.gateway.send_replace(GatewayState::Connecting);
        let mut client: Client = ClientBuilder::new_with_http(http, intents())
            .event_handler(Handler(bot))
            .await
            .context("connecting to Discord")?;
        let shard_manager = client.shard_manager.clone();
        let client = tokio::spawn(async move {
            if let Err(error) = client.start().await {
                tracing::error!(%error, "the Discord connection stopped");
            }
        });
        Ok(Gateway {
            shard_manager,
            client,
        })
    }

    /// Closes the connection (a normal close: the session ends at Discord at once).
    pub async fn close(self) {
        self.shard_manager.shutdown_all().await;
        let _ = self.client.await;
    }
}

/// Routes serenity's events to the bot.
struct Handler(Arc<Bot>);

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _: Context, ready: Ready) {
        let bot = &self.0;
        bot.set_me(ready.user.id.get());
        bot.gateway.send_replace(GatewayState::Connected);
        tracing::info!(user = %ready.user.name, "connected to Discord");
        register_commands(bot).await;
        // A new session (a start, a takeover, a reconnect that could not resume) has missed
        // whatever happened meanwhile; Discord still has it.
        let bot = bot.clone();
        tokio::spawn(async move { bot.catch_up().await });
    }

    async fn resume(&self, _: Context, _: ResumedEvent) {
        self.0.gateway.send_replace(GatewayState::Connected);
        tracing::info!("Discord session resumed");
    }

    async fn shard_stage_update(&self, _: Context, event: ShardStageUpdateEvent) {
        let state = if event.new == ConnectionStage::Connected {
            GatewayState::Connected
        } else {
            GatewayState::Connecting
        };
        self.0.gateway.send_replace(state);
    }

    async fn interaction_create(&self, _: Context, interaction: Interaction) {
        self.0.on_interaction(interaction).await;
    }

    async fn message(&self, _: Context, message: Message) {
        self.0.record_message(&message).await;
    }

    async fn message_update(
        &self,
        _: Context,
        _: Option<Message>,
        _: Option<Message>,
        event: MessageUpdateEvent,
    ) {
        self.0.record_edit(&event).await;
    }

    async fn message_delete(
        &self,
        _: Context,
        channel_id: ChannelId,
        message_id: MessageId,
        _: Option<GuildId>,
    ) {
        self.0
            .record_delete(channel_id.get(), message_id.get())
            .await;
    }

    async fn reaction_add(&self, _: Context, reaction: Reaction) {
        self.0.record_reaction(&reaction).await;
    }
}

/// Registers the slash commands in the configured guild (a bulk overwrite: the same set each
/// time, so repeating it after a takeover changes nothing).
async fn register_commands(bot: &Bot) {
    let Some(guild) = bot.config().discord.guild_id else {
        tracing::error!(
            "[discord] guild_id is not set, so no slash commands were registered; `warroom check` lists what is missing"
        );
        return;
    };
    let definitions = bot.registry.definitions(bot.config());
    match GuildId::new(guild)
        .set_commands(bot.http(), definitions)
        .await
    {
        Ok(commands) => tracing::info!(count = commands.len(), "slash commands registered"),
        Err(error) => tracing::error!(
            %error,
            "registering the slash commands failed; check the bot was invited with the applications.commands scope"
        ),
    }
}
