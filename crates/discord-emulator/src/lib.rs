//! A local Discord (REST under `/api/v10` + a `ws://` gateway) that the real serenity 0.12.5
//! client talks to, with a driver API that lets tests speak as users.
//!
//! # Layout
//!
//! - `config.rs`: [`EmulatorConfig`], Discord's timing constants, intent and permission bits.
//! - `emulator.rs`: [`Emulator`]: start/shutdown, guild setup, reading, waits, clock, 429s,
//!   gateway faults.
//! - `driver.rs`: [`Actor`] (a user who says, edits, reacts, runs commands, clicks) and
//!   [`Interaction`] / [`Response`] (what the bot answered).
//! - `command_line.rs`: parses `/cmd sub name:value` against the registered commands.
//! - `model.rs`: the world (roles, members, channels, messages, commands, interactions).
//! - `ops.rs`: world changes shared by REST and the driver, each with its dispatches.
//! - `gateway.rs`: websocket connections, sessions (several at once), sequence numbers,
//!   replay, faults; `sessions.rs`: [`GatewaySession`], the per-session API.
//! - `setup.rs`: more guild setup (forums, overwrites, a large guild, users who leave) and
//!   reads (permissions, scheduled events).
//! - `rest/`: the REST routes (`threads.rs` threads, forums and thread members, `events.rs`
//!   scheduled events); `validate.rs` and `api_error.rs`: Discord's limits and error
//!   bodies; `json.rs`: Discord-shaped JSON for the world's objects.
//! - `state.rs`, `clock.rs`, `ids.rs`, `error.rs`: shared state, the shiftable clock,
//!   snowflakes, the driver's error type.
//!
//! Invariants: the library never depends on serenity (it speaks JSON; only its tests decode
//! through serenity's types); all state sits behind one lock in `state.rs`, so a dispatch's
//! sequence number and its place in the replay buffer are decided together.

mod api_error;
mod clock;
mod command_line;
mod config;
mod driver;
mod emulator;
mod error;
mod gateway;
mod ids;
mod json;
mod model;
mod ops;
mod rest;
mod sessions;
mod setup;
mod state;
mod validate;

pub use api_error::codes as error_codes;
pub use config::{
    DEFAULT_WAIT_TIMEOUT, DISCORD_HEARTBEAT_INTERVAL, DISCORD_SESSION_RESUME_WINDOW,
    EmulatorConfig, GuildCreateMembers, INTERACTION_ACK_DEADLINE, INTERACTION_TOKEN_LIFETIME,
    intents, permissions,
};
pub use driver::{Actor, Choice, Interaction, Modal, Response};
pub use emulator::Emulator;
pub use error::{Error, Result};
pub use gateway::{
    Delivery, DispatchRecord, GatewayStats, LOG_LIMIT, REPLAY_BUFFER_LIMIT, SessionInfo,
    SessionState,
};
pub use ids::{
    AttachmentId, ChannelId, CommandId, DISCORD_EPOCH_MS, ForumTagId, GuildId, InteractionId,
    MessageId, RoleId, ScheduledEventId, UserId,
};
pub use model::{
    Attachment, CallbackAttempt, CallbackKind, Channel, ChannelKind, FLAG_EPHEMERAL, FLAG_LOADING,
    ForumTag, Member, Message, OverwriteKind, PermissionOverwrite, Reaction, RegisteredCommand,
    Revision, Role, ScheduledEvent, ScheduledEventStatus, User,
};
pub use sessions::GatewaySession;
pub use setup::SeededGuild;
pub use state::{RecordedRequest, UploadedFile};
pub use validate::*;
