//! The connection to Discord: building the serenity client (with the `api_base` seam),
//! routing gateway events, and answering each interaction exactly once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;
use secrecy::ExposeSecret;
use serenity::all::{
    ApplicationId, AutocompleteChoice, Builder, ChannelId, Client, ClientBuilder,
    CommandInteraction, ComponentInteraction, ConnectionStage, Context, CreateAutocompleteResponse,
    CreateInteractionResponse, EventHandler, GatewayIntents, GuildId, Http, HttpBuilder,
    Interaction, Message, MessageId, MessageUpdateEvent, Reaction, Ready, ResumedEvent,
    ShardManager, ShardStageUpdateEvent,
};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use super::commands::{Call, Registry};
use super::components::Action;
use super::pager::DiscordPager;
use super::principal;
use super::reply::{Reply, Visibility, answer};
use super::rooms::{ChannelLine, LINE_QUEUE, Rooms};
use crate::config::{Config, DiscordConfig};
use crate::domain::{Actor, IncidentId};
use crate::escalation::Pagers;
use crate::http::GatewayState;
use crate::ops::{Ops, OpsError, Principal};

/// Discord's own API; any other `api_base` is a proxy or an emulator (see `build_http`).
pub const DISCORD_API_BASE: &str = "https://discord.com";

/// A REST call to Discord that takes longer than this has failed; the default client would
/// wait forever.
const REST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an interaction id is remembered. Discord may redeliver an interaction after a
/// resume; its token lives 15 minutes, so after that a redelivery could not be answered anyway.
const INTERACTION_MEMORY: Duration = Duration::from_secs(15 * 60);

/// The state shared by every event handler.
pub(crate) struct Bot {
    ops: Ops,
    http: Arc<Http>,
    registry: Registry,
    pub(super) rooms: Rooms,
    /// The bot's own user id, from READY: its messages are never recorded as someone's words.
    me: OnceLock<u64>,
    /// Interactions already taken, with when they arrived, so a redelivery is not answered twice.
    seen: Mutex<HashMap<u64, Instant>>,
    /// Channels known to belong to an incident; saves a database lookup per message there.
    channels: Mutex<HashMap<u64, IncidentId>>,
    gateway: watch::Sender<GatewayState>,
    /// Lines for incident channels, posted in order by `rooms::post_lines`.
    pub(super) lines: mpsc::Sender<ChannelLine>,
}

impl Bot {
    pub fn ops(&self) -> &Ops {
        &self.ops
    }

    pub fn config(&self) -> &Config {
        self.ops.config()
    }

    pub fn http(&self) -> &Http {
        &self.http
    }

    /// warroom itself, for changes no person asked for (creating rooms, catching up).
    pub fn system(&self) -> Principal {
        Principal::system(Actor::system())
    }

    pub fn is_me(&self, user_id: u64) -> bool {
        self.me.get() == Some(&user_id)
    }

    /// True the first time an interaction id is seen (within `INTERACTION_MEMORY`).
    fn first_delivery(&self, interaction_id: u64) -> bool {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        if seen.len() > 1_024 {
            seen.retain(|_, at| now.duration_since(*at) < INTERACTION_MEMORY);
        }
        seen.insert(interaction_id, now).is_none()
    }

    pub fn remember_channel(&self, channel_id: u64, id: IncidentId) {
        self.channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(channel_id, id);
    }

    /// The incident whose channel this is, if any.
    pub async fn incident_for_channel(
        &self,
        channel_id: u64,
    ) -> Result<Option<IncidentId>, OpsError> {
        let known = self
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&channel_id)
            .copied();
        if known.is_some() {
            return Ok(known);
        }
        let found = self
            .ops
            .incident_by_channel(channel_id)
            .await?
            .map(|incident| incident.id);
        if let Some(id) = found {
            self.remember_channel(channel_id, id);
        }
        Ok(found)
    }

    /// The incident of the channel the command was used in.
    pub async fn incident_here(&self, call: &Call<'_>) -> Result<IncidentId, OpsError> {
        self.incident_for_channel(call.channel_id).await?.ok_or_else(|| {
            OpsError::Invalid(
                "this channel is not an incident channel; run the command in the incident's channel (or pass `incident:` where the command has it)".to_owned(),
            )
        })
    }

    /// The incident named in an option, else the one of this channel.
    pub async fn incident_ref(
        &self,
        call: &Call<'_>,
        given: Option<&str>,
    ) -> Result<IncidentId, OpsError> {
        match given {
            Some(text) => super::commands::parse_incident(text),
            None => self.incident_here(call).await,
        }
    }

    /// What the user sees when a use case fails. Storage failures are logged in full and
    /// summarised for the user, who can only retry.
    pub fn error_reply(&self, error: OpsError) -> Reply {
        match error {
            OpsError::Store(_) | OpsError::Output(_) => {
                tracing::error!(%error, "a Discord command failed");
                Reply::error(
                    "warroom could not reach its database, so nothing was changed; try again in a moment (the details are in warroom's log)",
                )
            }
            other => Reply::error(other),
        }
    }

    async fn on_ready(self: &Arc<Self>, ready: Ready) {
        let _ = self.me.set(ready.user.id.get());
        self.gateway.send_replace(GatewayState::Connected);
        tracing::info!(user = %ready.user.name, "connected to Discord");
        match self.config().discord.guild_id {
            Some(guild) => {
                let definitions = self.registry.definitions(self.config());
                match GuildId::new(guild)
                    .set_commands(&self.http, definitions)
                    .await
                {
                    Ok(commands) => {
                        tracing::info!(count = commands.len(), "slash commands registered")
                    }
                    Err(error) => {
                        tracing::error!(%error, "registering the slash commands failed; check the bot was invited with the applications.commands scope")
                    }
                }
            }
            None => tracing::error!(
                "[discord] guild_id is not set, so no slash commands were registered; `warroom check` lists what is missing"
            ),
        }
        let bot = self.clone();
        tokio::spawn(async move { bot.catch_up().await });
    }

    async fn on_interaction(self: &Arc<Self>, interaction: Interaction) {
        match interaction {
            Interaction::Command(command) => self.on_command(&command).await,
            Interaction::Autocomplete(command) => self.on_autocomplete(&command).await,
            Interaction::Component(component) => self.on_component(&component).await,
            _ => {}
        }
    }

    async fn on_command(self: &Arc<Self>, command: &CommandInteraction) {
        if !self.first_delivery(command.id.get()) {
            tracing::info!(interaction = %command.id, "ignoring a redelivered interaction");
            return;
        }
        let call = Call::from_interaction(self.config(), command);
        let result = match self.registry.find(&command.data.name) {
            Some(handler) => {
                let visibility = handler.visibility(&call);
                answer(
                    &self.http,
                    command.id,
                    &command.token,
                    visibility,
                    handler.run(self, call),
                )
                .await
            }
            None => {
                let reply = Reply::error(format!(
                    "`/{}` is not a warroom command (anymore); Discord may still list it for a minute",
                    command.data.name
                ));
                answer(
                    &self.http,
                    command.id,
                    &command.token,
                    Visibility::OnlyYou,
                    async { reply },
                )
                .await
            }
        };
        if let Err(error) = result {
            tracing::warn!(%error, command = %command.data.name, "answering a command failed");
        }
    }

    async fn on_autocomplete(&self, command: &CommandInteraction) {
        let Some(handler) = self.registry.find(&command.data.name) else {
            return;
        };
        let Some(focused) = command.data.autocomplete() else {
            return;
        };
        let call = Call::from_interaction(self.config(), command);
        let choices = handler
            .autocomplete(self, call, focused.name, focused.value)
            .await
            .into_iter()
            .take(super::commands::CHOICE_LIMIT)
            .map(|choice| AutocompleteChoice::new(choice.name, choice.value))
            .collect();
        let response = CreateInteractionResponse::Autocomplete(
            CreateAutocompleteResponse::new().set_choices(choices),
        );
        if let Err(error) = response
            .execute(&self.http, (command.id, &command.token))
            .await
        {
            tracing::warn!(%error, "answering an autocomplete failed");
        }
    }

    async fn on_component(self: &Arc<Self>, component: &ComponentInteraction) {
        if !self.first_delivery(component.id.get()) {
            return;
        }
        let who = principal::from_member(self.config(), &component.user, component.member.as_ref());
        let work = async {
            let Some(action) = Action::parse(&component.data.custom_id) else {
                return Reply::error(
                    "this button is not one warroom knows (maybe from an older version); use the slash command instead",
                );
            };
            let outcome = match action {
                Action::Acknowledge(id) => self
                    .ops
                    .acknowledge(&who, id)
                    .await
                    .map(|_| format!("🟠 You acknowledged **{id}**")),
                Action::Resolve(id) => self
                    .ops
                    .resolve(&who, id, None)
                    .await
                    .map(|_| format!("🟢 You resolved **{id}**")),
                Action::ApproveRun(id) => match self.ops.approve_run(&who, id).await {
                    Ok(run) if run.state == crate::domain::RunState::Approved => {
                        self.start_run(run);
                        Ok(format!("✅ You approved **{id}**; it is starting"))
                    }
                    Ok(run) => Ok(format!(
                        "✅ You approved **{id}**; it needs {} more approval(s)",
                        run.approvals_missing()
                    )),
                    Err(error) => Err(error),
                },
                Action::DenyRun(id) => self
                    .ops
                    .deny_run(&who, id, None)
                    .await
                    .map(|run| format!("🚫 **{id}** is {}", run.state)),
            };
            match outcome {
                Ok(text) => Reply::private(text),
                Err(error) => self.error_reply(error),
            }
        };
        if let Err(error) = answer(
            &self.http,
            component.id,
            &component.token,
            Visibility::OnlyYou,
            work,
        )
        .await
        {
            tracing::warn!(%error, "answering a button failed");
        }
    }
}

/// Routes serenity's events to the bot. Holds the bot through a cell because serenity builds
/// its `Http` (which the bot needs) only when the client is built with this handler.
struct Handler(Arc<OnceLock<Arc<Bot>>>);

impl Handler {
    fn bot(&self) -> Option<&Arc<Bot>> {
        self.0.get()
    }
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _: Context, ready: Ready) {
        if let Some(bot) = self.bot() {
            bot.on_ready(ready).await;
        }
    }

    async fn resume(&self, _: Context, _: ResumedEvent) {
        if let Some(bot) = self.bot() {
            bot.gateway.send_replace(GatewayState::Connected);
            tracing::info!("Discord session resumed");
        }
    }

    async fn shard_stage_update(&self, _: Context, event: ShardStageUpdateEvent) {
        if let Some(bot) = self.bot() {
            let state = if event.new == ConnectionStage::Connected {
                GatewayState::Connected
            } else {
                GatewayState::Connecting
            };
            bot.gateway.send_replace(state);
        }
    }

    async fn interaction_create(&self, _: Context, interaction: Interaction) {
        if let Some(bot) = self.bot() {
            bot.on_interaction(interaction).await;
        }
    }

    async fn message(&self, _: Context, message: Message) {
        if let Some(bot) = self.bot() {
            bot.record_message(&message).await;
        }
    }

    async fn message_update(
        &self,
        _: Context,
        _: Option<Message>,
        _: Option<Message>,
        event: MessageUpdateEvent,
    ) {
        if let Some(bot) = self.bot() {
            bot.record_edit(&event).await;
        }
    }

    async fn message_delete(
        &self,
        _: Context,
        channel_id: ChannelId,
        message_id: MessageId,
        _: Option<GuildId>,
    ) {
        if let Some(bot) = self.bot() {
            bot.record_delete(channel_id.get(), message_id.get()).await;
        }
    }

    async fn reaction_add(&self, _: Context, reaction: Reaction) {
        if let Some(bot) = self.bot() {
            bot.record_reaction(&reaction).await;
        }
    }
}

/// The running Discord connection.
pub struct DiscordHandle {
    shard_manager: Arc<ShardManager>,
    client: JoinHandle<()>,
    listeners: Vec<JoinHandle<()>>,
    /// Where the Discord pager is registered; it is taken out again on stop.
    pagers: Arc<Pagers>,
}

impl DiscordHandle {
    /// Stops paging through Discord, closes the gateway connection cleanly and stops reacting
    /// to changes.
    pub async fn stop(self) {
        self.pagers.set_discord(None);
        self.shard_manager.shutdown_all().await;
        let _ = self.client.await;
        for listener in self.listeners {
            listener.abort();
        }
    }
}

/// The one place serenity's `Http` is built. With Discord's own base URL it is serenity's
/// default; with any other (`[discord] api_base`, used by tests and proxies) every request
/// goes there, which requires serenity's rate limiter to be off (it ignores the proxy).
fn build_http(discord: &DiscordConfig, token: &str) -> anyhow::Result<Http> {
    let mut builder = HttpBuilder::new(token);
    if discord.api_base != DISCORD_API_BASE {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(REST_TIMEOUT)
            .build()
            .context("building the HTTP client for Discord")?;
        builder = builder
            .proxy(&discord.api_base)
            .ratelimiter_disabled(true)
            .client(client);
    }
    if let Some(application_id) = discord.application_id {
        builder = builder.application_id(ApplicationId::new(application_id));
    }
    Ok(builder.build())
}

/// Connects to Discord and starts answering; returns once the client is built (the gateway
/// connects in the background and reports through `gateway`). The Discord pager is registered
/// in `pagers` at once: pages go out through REST, which works before the gateway is up.
pub async fn start(
    ops: Ops,
    gateway: watch::Sender<GatewayState>,
    pagers: Arc<Pagers>,
) -> anyhow::Result<DiscordHandle> {
    let config = ops.config().clone();
    let token = config
        .discord
        .token
        .as_ref()
        .context("Discord has no token")?
        .expose_secret()
        .to_owned();
    let http = build_http(&config.discord, &token)?;
    let intents = GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
        | GatewayIntents::GUILD_MESSAGE_REACTIONS;
    let cell = Arc::new(OnceLock::new());
    let (lines, queued_lines) = mpsc::channel(LINE_QUEUE);
    let mut client: Client = ClientBuilder::new_with_http(http, intents)
        .event_handler(Handler(cell.clone()))
        .await
        .context("connecting to Discord")?;
    let bot = Arc::new(Bot {
        http: client.http.clone(),
        registry: Registry::new(),
        rooms: Rooms::default(),
        me: OnceLock::new(),
        seen: Mutex::new(HashMap::new()),
        channels: Mutex::new(HashMap::new()),
        gateway,
        lines,
        ops: ops.clone(),
    });
    let _ = cell.set(bot.clone());
    pagers.set_discord(Some(Arc::new(DiscordPager::new(bot.clone()))));
    let line_poster = tokio::spawn(super::rooms::post_lines(bot.clone(), queued_lines));
    // Subscribe before the gateway starts, so no change made after start-up is missed.
    let listener = tokio::spawn(listen(bot.clone(), ops.subscribe()));
    let run_listener = tokio::spawn(super::runs::listen(bot.clone(), ops.subscribe_runs()));
    let shard_manager = client.shard_manager.clone();
    let client = tokio::spawn(async move {
        if let Err(error) = client.start().await {
            tracing::error!(%error, "the Discord connection stopped");
        }
    });
    Ok(DiscordHandle {
        shard_manager,
        client,
        listeners: vec![listener, run_listener, line_poster],
        pagers,
    })
}

/// Reacts to every committed change (from Discord, the CLI in this process, HTTP, alerts).
async fn listen(bot: Arc<Bot>, mut changes: broadcast::Receiver<crate::ops::Changed>) {
    loop {
        match changes.recv().await {
            Ok(changed) => bot.on_change(changed).await,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "the Discord adapter fell behind on incident changes; cards will catch up with the next change"
                );
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}
