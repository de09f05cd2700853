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
//! - `gateway.rs`: websocket connections, sessions, sequence numbers, replay, faults.
//! - `rest/`: the REST routes; `validate.rs` and `api_error.rs`: Discord's limits and error
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
mod state;
mod validate;

pub use api_error::codes as error_codes;
pub use config::{
    DEFAULT_WAIT_TIMEOUT, DISCORD_HEARTBEAT_INTERVAL, EmulatorConfig, INTERACTION_ACK_DEADLINE,
    INTERACTION_TOKEN_LIFETIME, intents, permissions,
};
pub use driver::{Actor, Choice, Interaction, Modal, Response};
pub use emulator::Emulator;
pub use error::{Error, Result};
pub use gateway::{Delivery, DispatchRecord, GatewayStats, LOG_LIMIT, REPLAY_BUFFER_LIMIT};
pub use ids::{
    AttachmentId, ChannelId, CommandId, DISCORD_EPOCH_MS, GuildId, InteractionId, MessageId,
    RoleId, UserId,
};
pub use model::{
    Attachment, CallbackAttempt, CallbackKind, Channel, ChannelKind, FLAG_EPHEMERAL, FLAG_LOADING,
    Member, Message, Reaction, RegisteredCommand, Revision, Role, User,
};
pub use state::{RecordedRequest, UploadedFile};
pub use validate::*;
