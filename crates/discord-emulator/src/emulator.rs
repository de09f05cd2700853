//! The emulator handle: start and stop the server, set up the guild, read what the bot did,
//! wait for it, move the clock, arm 429s and script gateway faults.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::{any, get};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::EmulatorConfig;
use crate::driver::{Actor, Interaction};
use crate::error::{Error, Result};
use crate::gateway::{self, DispatchRecord, GatewayStats};
use crate::ids::{ChannelId, GuildId, InteractionId, MessageId, RoleId, UserId};
use crate::model::{Channel, ChannelKind, Member, Message, RegisteredCommand, Role, User, World};
use crate::ops::{self, NewChannel};
use crate::rest;
use crate::state::{ArmedRateLimit, RecordedRequest, Shared, State as EmuState};

/// How long `shutdown` waits for in-flight HTTP requests before abandoning the server task.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How often Discord's own changes that come with time (external scheduled events starting
/// and ending) are looked for when nothing else happens.
const TIME_TICK: Duration = Duration::from_millis(500);

struct Server {
    stop: Mutex<Option<oneshot::Sender<()>>>,
    task: Mutex<Option<JoinHandle<()>>>,
    ticker: JoinHandle<()>,
}

/// A running emulator. Cheap to clone; every clone talks to the same server.
#[derive(Clone)]
pub struct Emulator {
    pub(crate) shared: Arc<Shared>,
    server: Arc<Server>,
}

async fn gateway_upgrade(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| gateway::serve_socket(shared, socket))
}

async fn not_found() -> Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"message": "404: Not Found", "code": 0})),
    )
        .into_response()
}

impl Emulator {
    /// Binds `127.0.0.1:0` and serves REST under `/api/v10` and the gateway at `/gateway`.
    ///
    /// # Panics
    /// If the loopback listener cannot be bound; nothing else can work then.
    pub async fn start(config: EmulatorConfig) -> Emulator {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0 for the Discord emulator");
        let addr = listener
            .local_addr()
            .expect("local address of the emulator listener");
        let http_base = format!("http://{addr}");
        let ws_url = format!("ws://{addr}/gateway");
        let shared = Arc::new(Shared::new(
            config.clone(),
            http_base.clone(),
            ws_url,
            initial_state(&config, http_base),
        ));
        let app = Router::new()
            .route("/gateway", get(gateway_upgrade))
            .route("/", get(gateway_upgrade))
            .route("/api/v10/{*rest}", any(rest::handle))
            .route("/attachments/{*rest}", get(rest::attachment))
            .fallback(not_found)
            .with_state(shared.clone());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // Small gateway frames and REST answers go out at once: with Nagle's algorithm a
            // frame can wait for the peer's delayed ACK (40 ms on Linux), which would show as
            // latency of the bot under test.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "discord emulator server stopped with an error");
            }
        });
        let weak = Arc::downgrade(&shared);
        let ticker = tokio::spawn(async move {
            let mut every = tokio::time::interval(TIME_TICK);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(shared) = weak.upgrade() else { break };
                if shared.read(|st| ops::event_clock_due(&shared, st)) {
                    shared.with(|st| ops::run_event_clock(&shared, st));
                }
            }
        });
        Emulator {
            shared,
            server: Arc::new(Server {
                stop: Mutex::new(Some(stop_tx)),
                task: Mutex::new(Some(task)),
                ticker,
            }),
        }
    }

    /// Drops every gateway connection and stops the server.
    pub async fn shutdown(&self) {
        self.server.ticker.abort();
        self.shared.with(|st| st.gateway.drop_all());
        if let Some(stop) = self.server.stop.lock().expect("server lock").take() {
            let _ = stop.send(());
        }
        let task = self.server.task.lock().expect("server lock").take();
        if let Some(mut task) = task
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }

    // ----- identity -----

    /// `http://127.0.0.1:PORT`: what the bot passes to `HttpBuilder::proxy`.
    pub fn api_base(&self) -> String {
        self.shared.http_base.clone()
    }

    /// `ws://127.0.0.1:PORT/gateway`: what `GET /gateway` returns.
    pub fn gateway_url(&self) -> String {
        self.shared.ws_url.clone()
    }

    pub fn config(&self) -> &EmulatorConfig {
        &self.shared.config
    }

    pub fn guild_id(&self) -> GuildId {
        GuildId(self.shared.config.guild_id)
    }

    pub fn bot_user_id(&self) -> UserId {
        UserId(self.shared.config.bot_user_id)
    }

    /// The guild owner the emulator creates (it has every permission).
    pub fn owner_id(&self) -> UserId {
        self.shared.read(|st| st.world.owner_id)
    }

    /// The `@everyone` role (its id is the guild's).
    pub fn everyone_role(&self) -> RoleId {
        RoleId(self.shared.config.guild_id)
    }

    // ----- setup -----

    /// Adds a role with `@everyone`'s default permissions; dispatches GUILD_ROLE_CREATE if the
    /// bot is connected.
    pub fn add_role(&self, name: &str) -> RoleId {
        self.add_role_with_permissions(name, self.shared.config.everyone_permissions)
    }

    pub fn add_role_with_permissions(&self, name: &str, permissions: u64) -> RoleId {
        self.shared.with(|st| {
            let id = RoleId(st.next_id(&self.shared.clock));
            let role = Role {
                id,
                name: name.to_string(),
                permissions,
                position: st.world.roles.len() as u16,
                managed: false,
            };
            st.world.roles.push(role.clone());
            let v = crate::json::role(&st.world, &role);
            let d = serde_json::json!({"guild_id": st.world.guild_id.to_string(), "role": v});
            st.gateway.dispatch(
                "GUILD_ROLE_CREATE",
                d,
                crate::gateway::Gate {
                    intent: crate::config::intents::GUILDS,
                    content_gated: false,
                },
            );
            id
        })
    }

    /// Adds a guild member; dispatches GUILD_MEMBER_ADD (GUILD_MEMBERS intent) if connected.
    pub fn add_member(&self, name: &str, roles: &[RoleId]) -> UserId {
        self.shared.with(|st| {
            let id = UserId(st.next_id(&self.shared.clock));
            st.world.users.insert(
                id,
                User {
                    id,
                    name: name.to_string(),
                    bot: false,
                },
            );
            st.world.members.insert(
                id,
                Member {
                    user: id,
                    roles: roles.to_vec(),
                    joined_at: self.shared.clock.utc(),
                    nick: None,
                },
            );
            let mut d = crate::json::member(&st.world, id, true);
            d["guild_id"] = serde_json::json!(st.world.guild_id.to_string());
            st.gateway.dispatch(
                "GUILD_MEMBER_ADD",
                d,
                crate::gateway::Gate {
                    intent: crate::config::intents::GUILD_MEMBERS,
                    content_gated: false,
                },
            );
            id
        })
    }

    /// Adds a member and returns a handle to act as them.
    pub fn member(&self, name: &str, roles: &[RoleId]) -> Actor {
        let id = self.add_member(name, roles);
        self.actor(id)
    }

    /// A handle to act as an existing user.
    pub fn actor(&self, user: UserId) -> Actor {
        Actor::new(self.clone(), user)
    }

    /// Changes a member's roles (GUILD_MEMBER_UPDATE).
    pub fn set_member_roles(&self, user: UserId, roles: &[RoleId]) -> Result<()> {
        self.shared.with(|st| {
            let m = st
                .world
                .members
                .get_mut(&user)
                .ok_or_else(|| Error::NotFound(format!("user {user} is not a guild member")))?;
            m.roles = roles.to_vec();
            ops::member_changed(st, user);
            Ok(())
        })
    }

    pub fn add_category(&self, name: &str) -> ChannelId {
        self.shared.with(|st| {
            ops::create_channel(
                &self.shared,
                st,
                NewChannel::new(ChannelKind::Category, name),
            )
        })
    }

    /// Adds a text channel, optionally under a category (CHANNEL_CREATE if connected).
    pub fn add_text_channel(&self, name: &str, parent: Option<ChannelId>) -> ChannelId {
        self.shared.with(|st| {
            let mut new = NewChannel::new(ChannelKind::Text, name);
            new.parent_id = parent;
            ops::create_channel(&self.shared, st, new)
        })
    }

    // ----- reading -----

    pub fn channel(&self, id: ChannelId) -> Option<Channel> {
        self.shared.read(|st| st.world.channels.get(&id).cloned())
    }

    /// The newest live channel (or thread) with this exact name.
    pub fn channel_by_name(&self, name: &str) -> Option<Channel> {
        self.shared.read(|st| find_channel(&st.world, name))
    }

    /// Waits until a live channel named `name` exists.
    pub async fn wait_for_channel(&self, name: &str, timeout: Duration) -> Result<Channel> {
        self.shared
            .wait_until(
                || format!("a channel named {name:?}"),
                timeout,
                |st| find_channel(&st.world, name),
            )
            .await
    }

    /// Every channel, including deleted ones and DM channels.
    pub fn channels(&self) -> Vec<Channel> {
        self.shared
            .read(|st| st.world.channels.values().cloned().collect())
    }

    pub fn roles(&self) -> Vec<Role> {
        self.shared.read(|st| st.world.roles.clone())
    }

    pub fn member_roles(&self, user: UserId) -> Vec<RoleId> {
        self.shared.read(|st| {
            st.world
                .members
                .get(&user)
                .map(|m| m.roles.clone())
                .unwrap_or_default()
        })
    }

    pub fn user_name(&self, user: UserId) -> String {
        self.shared.read(|st| st.world.user_name(user))
    }

    /// Every message of a channel in creation order, deleted ones included (flagged), each
    /// with its edit history.
    pub fn messages(&self, channel: ChannelId) -> Vec<Message> {
        self.shared.read(|st| {
            st.world
                .channel_messages(channel)
                .into_iter()
                .cloned()
                .collect()
        })
    }

    /// What the bot posted in a channel (live messages, creation order).
    pub fn bot_messages(&self, channel: ChannelId) -> Vec<Message> {
        self.messages(channel)
            .into_iter()
            .filter(|m| m.from_bot && !m.deleted)
            .collect()
    }

    pub fn message(&self, id: MessageId) -> Option<Message> {
        self.shared.read(|st| st.world.messages.get(&id).cloned())
    }

    /// Messages in the bot's DM channel with `user` (empty if there is none).
    pub fn dm_messages(&self, user: UserId) -> Vec<Message> {
        match self
            .shared
            .read(|st| st.world.dm_channels.get(&user).copied())
        {
            Some(c) => self.messages(c),
            None => Vec::new(),
        }
    }

    /// Makes `user` refuse DMs from the bot (their privacy settings): the bot's messages to
    /// their DM channel get 403 with code 50007, as Discord answers.
    pub fn close_dms(&self, user: UserId) {
        self.shared.with(|st| {
            st.world.dms_closed.insert(user);
        });
    }

    /// The highest id handed out so far: `m.id > mark` selects what came after.
    pub fn watermark(&self) -> MessageId {
        self.shared
            .with(|st| MessageId(st.next_id(&self.shared.clock)))
    }

    /// Waits for the first message (in creation order) of `channel` that satisfies `pred`.
    pub async fn wait_for_message(
        &self,
        channel: ChannelId,
        pred: impl Fn(&Message) -> bool,
        timeout: Duration,
    ) -> Result<Message> {
        let name = self
            .channel(channel)
            .map(|c| c.name)
            .unwrap_or_else(|| channel.to_string());
        self.shared
            .wait_until(
                || format!("a message matching the predicate in #{name}"),
                timeout,
                |st| {
                    st.world
                        .channel_messages(channel)
                        .into_iter()
                        .find(|m| pred(m))
                        .cloned()
                },
            )
            .await
    }

    /// Waits for a DM from the bot to `user` that satisfies `pred`.
    pub async fn wait_for_dm(
        &self,
        user: UserId,
        pred: impl Fn(&Message) -> bool,
        timeout: Duration,
    ) -> Result<Message> {
        self.shared
            .wait_until(
                || format!("a DM to user {user} matching the predicate"),
                timeout,
                |st| {
                    let c = st.world.dm_channels.get(&user)?;
                    st.world
                        .channel_messages(*c)
                        .into_iter()
                        .find(|m| pred(m))
                        .cloned()
                },
            )
            .await
    }

    /// Every REST request so far, in handling order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.read(|st| st.requests.iter().cloned().collect())
    }

    /// Requests matching a route pattern such as `"POST /channels/{id}/messages"`.
    pub fn requests_matching(&self, pattern: &str) -> Vec<RecordedRequest> {
        self.shared.read(|st| {
            st.requests
                .iter()
                .filter(|r| r.matches(pattern))
                .cloned()
                .collect()
        })
    }

    /// Waits until `n` requests match `pattern`.
    pub async fn wait_for_requests(
        &self,
        pattern: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<RecordedRequest>> {
        self.shared
            .wait_until(
                || format!("{n} request(s) matching {pattern:?}"),
                timeout,
                |st| {
                    let found: Vec<_> = st
                        .requests
                        .iter()
                        .filter(|r| r.matches(pattern))
                        .cloned()
                        .collect();
                    (found.len() >= n).then_some(found)
                },
            )
            .await
    }

    /// Commands the bot registered (global and guild).
    pub fn registered_commands(&self) -> Vec<RegisteredCommand> {
        self.shared.read(|st| st.world.commands.clone())
    }

    /// Waits until a command named `name` is registered (in any scope).
    pub async fn wait_for_command(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Result<RegisteredCommand> {
        self.shared
            .wait_until(
                || format!("the bot to register a command named {name:?}"),
                timeout,
                |st| st.world.commands.iter().find(|c| c.name == name).cloned(),
            )
            .await
    }

    /// A handle on an interaction the emulator dispatched.
    pub fn interaction(&self, id: InteractionId) -> Option<Interaction> {
        let token = self
            .shared
            .read(|st| st.world.interactions.get(&id).map(|r| r.token.clone()))?;
        Some(Interaction::new(self.clone(), id, token))
    }

    // ----- time and rate limits -----

    /// Moves the emulator's clock forward: interaction deadlines and timestamps see it.
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
        self.run_event_clock();
    }

    /// The next interaction a user sends says it comes from `guild` instead of this guild, as
    /// one from another server the bot is in would (a bot's sessions get every guild's).
    pub fn next_interaction_from_guild(&self, guild: GuildId) {
        self.shared.with(|st| st.foreign_guild_next = Some(guild));
    }

    /// The next request matching `pattern` (e.g. `"POST /channels/{id}/messages"`) gets a 429
    /// with this `retry_after`.
    pub fn rate_limit_next(&self, pattern: &str, retry_after: Duration) {
        self.rate_limit(pattern, retry_after, 1, false);
    }

    /// The next `count` requests matching `pattern` get a 429; `global` sets Discord's global flag.
    pub fn rate_limit(&self, pattern: &str, retry_after: Duration, count: u32, global: bool) {
        self.shared.with(|st| {
            st.rate_limits.push(ArmedRateLimit {
                pattern: pattern.to_string(),
                remaining: count.max(1),
                retry_after,
                global,
            })
        });
    }

    // ----- gateway -----

    pub fn gateway_stats(&self) -> GatewayStats {
        self.shared.read(|st| st.gateway.stats())
    }

    /// Whether some session of the bot has a live, identified or resumed gateway connection.
    pub fn is_connected(&self) -> bool {
        self.gateway_stats().connected
    }

    /// Waits until the bot is connected: some session got READY or RESUMED on a live
    /// connection (with one bot process, its session; see [`Emulator::wait_live_sessions`]
    /// for several).
    pub async fn wait_connected(&self, timeout: Duration) -> Result<GatewayStats> {
        self.wait_gateway("the bot to be connected to the gateway", timeout, |s| {
            s.connected
        })
        .await
    }

    /// Waits until the gateway stats satisfy `pred`.
    pub async fn wait_gateway(
        &self,
        awaited: &str,
        timeout: Duration,
        pred: impl Fn(&GatewayStats) -> bool,
    ) -> Result<GatewayStats> {
        self.shared
            .wait_until(
                || awaited.to_string(),
                timeout,
                |st| {
                    let s = st.gateway.stats();
                    pred(&s).then_some(s)
                },
            )
            .await
    }

    /// Every dispatch produced, one record per session it went to (with that session's
    /// sequence number and what happened to it), or one `NoSession` record.
    pub fn dispatches(&self) -> Vec<DispatchRecord> {
        self.shared
            .read(|st| st.gateway.log.iter().cloned().collect())
    }

    /// Control frames sent (Hello, heartbeat ACKs, op 7, op 9).
    pub fn control_frames(&self) -> Vec<String> {
        self.shared
            .read(|st| st.gateway.control_frames.iter().cloned().collect())
    }

    /// The last Identify payload the bot sent.
    pub fn last_identify(&self) -> Option<serde_json::Value> {
        self.shared.read(|st| st.gateway.last_identify.clone())
    }

    /// Sends op 7 Reconnect to the current session (see [`Emulator::current_session`]);
    /// dispatches until the client resumes are buffered and replayed. To aim at another
    /// session use [`crate::GatewaySession::reconnect`]; the same goes for the faults below.
    pub fn reconnect(&self) -> Result<()> {
        self.shared
            .with(|st| st.gateway.fault_reconnect(None))
            .map_err(Error::NotConnected)
    }

    /// Sends op 9 Invalid Session. Not resumable: the session ends, the client re-identifies,
    /// and what happens before that is not delivered (as with Discord).
    pub fn invalid_session(&self, resumable: bool) -> Result<()> {
        self.shared
            .with(|st| st.gateway.fault_invalid_session(None, resumable))
            .map_err(Error::NotConnected)
    }

    /// Closes the live connection with `code`. 4004 and 4007/4009-4014 also end the session.
    pub fn close(&self, code: u16) -> Result<()> {
        self.shared
            .with(|st| st.gateway.fault_close(None, code, "closed by the emulator"))
            .map_err(Error::NotConnected)
    }

    /// Drops the live connection's TCP stream without a Close frame.
    pub fn drop_connection(&self) -> Result<()> {
        self.shared
            .with(|st| st.gateway.fault_drop_connection(None))
            .map_err(Error::NotConnected)
    }

    /// Leaves the next `n` heartbeats un-ACKed (0 turns dropping off).
    pub fn drop_heartbeat_acks(&self, n: u32) {
        self.shared
            .with(|st| st.gateway.drop_heartbeat_acks(Some(n)));
    }

    /// Leaves every heartbeat un-ACKed until [`Emulator::ack_heartbeats`].
    pub fn drop_all_heartbeat_acks(&self) {
        self.shared.with(|st| st.gateway.drop_heartbeat_acks(None));
    }

    pub fn ack_heartbeats(&self) {
        self.shared
            .with(|st| st.gateway.drop_heartbeat_acks(Some(0)));
    }
}

fn find_channel(w: &World, name: &str) -> Option<Channel> {
    w.channels
        .values()
        .rev()
        .find(|c| !c.deleted && c.name == name)
        .cloned()
}

/// The guild as it exists before the test adds anything: `@everyone`, an owner, and the bot
/// with its managed role.
fn initial_state(config: &EmulatorConfig, http_base: String) -> EmuState {
    let mut st = EmuState::default();
    let now = chrono::Utc::now();
    let guild = GuildId(config.guild_id);
    let bot = UserId(config.bot_user_id);
    let owner = UserId(st.ids.next(now));
    let bot_role = RoleId(st.ids.next(now));
    st.world = World {
        http_base,
        application_id: config.application_id,
        guild_id: guild,
        guild_name: config.guild_name.clone(),
        owner_id: owner,
        guild_created_at: Some(now),
        bot,
        ..World::default()
    };
    st.world.roles.push(Role {
        id: RoleId(guild.0),
        name: "@everyone".into(),
        permissions: config.everyone_permissions,
        position: 0,
        managed: false,
    });
    st.world.roles.push(Role {
        id: bot_role,
        name: config.bot_name.clone(),
        permissions: config.bot_permissions,
        position: 1,
        managed: true,
    });
    st.world.users.insert(
        owner,
        User {
            id: owner,
            name: "guild-owner".into(),
            bot: false,
        },
    );
    st.world.users.insert(
        bot,
        User {
            id: bot,
            name: config.bot_name.clone(),
            bot: true,
        },
    );
    st.world.members.insert(
        owner,
        Member {
            user: owner,
            roles: vec![],
            joined_at: now,
            nick: None,
        },
    );
    st.world.members.insert(
        bot,
        Member {
            user: bot,
            roles: vec![bot_role],
            joined_at: now,
            nick: None,
        },
    );
    st
}
