//! What an emulator is told when it starts: who the bot is, the one guild, timings, and the
//! Discord constants its rules are checked against.

use std::fmt;
use std::time::Duration;

/// Discord's real heartbeat interval. Tests use a short one (see [`EmulatorConfig::for_tests`])
/// so that a dropped heartbeat ACK is noticed by serenity within a couple of seconds.
pub const DISCORD_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(41_250);

/// Discord invalidates an interaction that is not acknowledged within 3 s
/// (docs: interactions/receiving-and-responding, "Responding to an Interaction").
pub const INTERACTION_ACK_DEADLINE: Duration = Duration::from_secs(3);

/// An interaction token (for `@original` edits and follow-ups) lives 15 minutes.
pub const INTERACTION_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// How long a session whose connection went away (a crash, a dropped TCP connection, a
/// close the client did not mean as goodbye) stays resumable and keeps collecting dispatches.
/// Discord does not publish the figure; resumes after a few minutes fail in practice. After it,
/// the session is over: a Resume gets op 9 `false` and nothing more is buffered for it.
pub const DISCORD_SESSION_RESUME_WINDOW: Duration = Duration::from_secs(180);

/// Which members GUILD_CREATE carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GuildCreateMembers {
    /// Every member, whatever the intents: the emulator's behaviour before this knob existed,
    /// and the worst case for a bot's memory.
    #[default]
    All,
    /// What Discord sends (docs: events/gateway-events, "Guild Create"): without
    /// GUILD_PRESENCES only the bot itself (nobody is in voice here); with it, all members of
    /// a guild of at most `large_threshold` members, else only those with a role or a nickname
    /// (nobody is online: the emulator has no presences).
    AsDiscord,
}

/// How long driver waits (`Interaction::response`, `Actor::autocomplete`, ...) wait by default.
/// Long enough for a debug build on a loaded 2-core machine; a wait that hits it is a failure.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Gateway intents, as sent in Identify (docs: events/gateway, "List of Intents").
pub mod intents {
    pub const GUILDS: u64 = 1 << 0;
    /// Privileged.
    pub const GUILD_MEMBERS: u64 = 1 << 1;
    /// Privileged.
    pub const GUILD_PRESENCES: u64 = 1 << 8;
    pub const GUILD_MESSAGES: u64 = 1 << 9;
    pub const GUILD_MESSAGE_REACTIONS: u64 = 1 << 10;
    pub const DIRECT_MESSAGES: u64 = 1 << 12;
    pub const DIRECT_MESSAGE_REACTIONS: u64 = 1 << 13;
    /// GUILD_SCHEDULED_EVENT_CREATE / UPDATE / DELETE.
    pub const GUILD_SCHEDULED_EVENTS: u64 = 1 << 16;
    /// Privileged: without it, message `content`, `embeds`, `attachments` and `components`
    /// arrive empty except in DMs, in the bot's own messages and in messages that mention it.
    pub const MESSAGE_CONTENT: u64 = 1 << 15;
    /// The three privileged intents together.
    pub const PRIVILEGED: u64 = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT;
}

/// Permission bits used by the emulator (docs: topics/permissions).
pub mod permissions {
    pub const ADMINISTRATOR: u64 = 1 << 3;
    pub const MANAGE_CHANNELS: u64 = 1 << 4;
    pub const ADD_REACTIONS: u64 = 1 << 6;
    pub const VIEW_CHANNEL: u64 = 1 << 10;
    pub const SEND_MESSAGES: u64 = 1 << 11;
    pub const SEND_TTS_MESSAGES: u64 = 1 << 12;
    pub const MANAGE_MESSAGES: u64 = 1 << 13;
    pub const EMBED_LINKS: u64 = 1 << 14;
    pub const ATTACH_FILES: u64 = 1 << 15;
    pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
    pub const MENTION_EVERYONE: u64 = 1 << 17;
    pub const MANAGE_ROLES: u64 = 1 << 28;
    pub const USE_APPLICATION_COMMANDS: u64 = 1 << 31;
    pub const MANAGE_EVENTS: u64 = 1 << 33;
    /// Lets a member see every private thread, unarchive locked threads and manage tags.
    pub const MANAGE_THREADS: u64 = 1 << 34;
    pub const CREATE_PUBLIC_THREADS: u64 = 1 << 35;
    pub const CREATE_PRIVATE_THREADS: u64 = 1 << 36;
    pub const SEND_MESSAGES_IN_THREADS: u64 = 1 << 38;
    /// Every bit Discord defines today (up to bit 50); what an administrator effectively has.
    pub const ALL: u64 = (1 << 51) - 1;
    /// What `@everyone` gets in a fresh guild, roughly: see, talk, react, use commands.
    pub const EVERYONE_DEFAULT: u64 = VIEW_CHANNEL
        | SEND_MESSAGES
        | ADD_REACTIONS
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | USE_APPLICATION_COMMANDS
        | CREATE_PUBLIC_THREADS
        | SEND_MESSAGES_IN_THREADS;
}

/// Everything an emulator needs to know up front. `Default` gives Discord's real timings;
/// [`EmulatorConfig::for_tests`] gives a fast heartbeat for fault tests.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// The bot token the client must present, without the `Bot ` prefix. Anything else gets
    /// Discord's 401 on REST and close code 4004 on the gateway.
    pub bot_token: String,
    /// The application id (READY's `application.id`, the `{app}` in webhook routes).
    pub application_id: u64,
    /// The bot's user id (READY's `user.id`, the author of what the bot posts).
    pub bot_user_id: u64,
    pub bot_name: String,
    /// The one guild the bot is in.
    pub guild_id: u64,
    pub guild_name: String,
    /// The interval announced in Hello. Serenity restarts the shard when a heartbeat is still
    /// un-ACKed one interval later, so this also sets how fast ACK faults are noticed.
    pub heartbeat_interval: Duration,
    /// See [`INTERACTION_ACK_DEADLINE`].
    pub interaction_ack_deadline: Duration,
    /// See [`INTERACTION_TOKEN_LIFETIME`].
    pub interaction_token_lifetime: Duration,
    /// Default for driver waits that take no explicit timeout.
    pub wait_timeout: Duration,
    /// Privileged intents the application is allowed (the "Privileged Gateway Intents"
    /// switches in the developer portal); asking for others is closed with 4014.
    pub allowed_privileged_intents: u64,
    /// The bot's permissions in the guild (`app_permissions`, its managed role).
    pub bot_permissions: u64,
    /// Permissions of the `@everyone` role.
    pub everyone_permissions: u64,
    /// See [`DISCORD_SESSION_RESUME_WINDOW`].
    pub session_resume_window: Duration,
    /// See [`GuildCreateMembers`].
    pub guild_create_members: GuildCreateMembers,
    /// Whether the driver refuses what a member's channel permissions do not allow (posting
    /// without SEND_MESSAGES, acting in a channel they cannot see...), as Discord's client
    /// would. Off by default: tests that set up no overwrites should not have to grant
    /// anything. [`crate::Emulator::can_view`] answers either way.
    pub enforce_member_permissions: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            bot_token: "emulator-bot-token".to_string(),
            application_id: 1_000_000_000_000_001,
            bot_user_id: 1_000_000_000_000_001,
            bot_name: "warroom".to_string(),
            guild_id: 1_000_000_000_000_100,
            guild_name: "Emulated Guild".to_string(),
            heartbeat_interval: DISCORD_HEARTBEAT_INTERVAL,
            interaction_ack_deadline: INTERACTION_ACK_DEADLINE,
            interaction_token_lifetime: INTERACTION_TOKEN_LIFETIME,
            wait_timeout: DEFAULT_WAIT_TIMEOUT,
            allowed_privileged_intents: intents::PRIVILEGED,
            bot_permissions: permissions::ALL,
            everyone_permissions: permissions::EVERYONE_DEFAULT,
            session_resume_window: DISCORD_SESSION_RESUME_WINDOW,
            guild_create_members: GuildCreateMembers::All,
            enforce_member_permissions: false,
        }
    }
}

impl EmulatorConfig {
    /// Defaults with a 1 s heartbeat, so heartbeat faults resolve in seconds.
    pub fn for_tests() -> Self {
        Self {
            heartbeat_interval: Duration::from_millis(1000),
            ..Self::default()
        }
    }
}

impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("bot_token", &"<redacted>")
            .field("application_id", &self.application_id)
            .field("bot_user_id", &self.bot_user_id)
            .field("bot_name", &self.bot_name)
            .field("guild_id", &self.guild_id)
            .field("guild_name", &self.guild_name)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("interaction_ack_deadline", &self.interaction_ack_deadline)
            .field(
                "interaction_token_lifetime",
                &self.interaction_token_lifetime,
            )
            .field("wait_timeout", &self.wait_timeout)
            .field(
                "allowed_privileged_intents",
                &self.allowed_privileged_intents,
            )
            .field("bot_permissions", &self.bot_permissions)
            .field("everyone_permissions", &self.everyone_permissions)
            .field("session_resume_window", &self.session_resume_window)
            .field("guild_create_members", &self.guild_create_members)
            .field(
                "enforce_member_permissions",
                &self.enforce_member_permissions,
            )
            .finish()
    }
}
