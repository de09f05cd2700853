//! The Discord adapter (SPEC §2), and the only code that imports serenity. It turns what
//! Discord sends into requests, calls `ops`, and renders outcomes. No SQL and no business rule
//! lives here, and no serenity type leaves this module.
//!
//! - `bot.rs`: the client (with the `[discord] api_base` seam), event routing, interactions
//!   answered exactly once.
//! - `reply.rs`: answering within 3 s (deferring when work is slow), errors only to the person.
//! - `commands/`: the slash-command registry, one file per command.
//! - `components.rs`: buttons; `rooms.rs`: incident channels, cards, announcements;
//!   `timeline.rs`: recording the channel; `runs.rs`: run cards and streamed output;
//!   `render.rs`: how things look; `principal.rs`: who asks.
//! - `pager.rs`: the Discord pager (a DM and a mention with Acknowledge), the `Notifier` the
//!   escalation engine uses for Discord users and roles.

mod bot;
mod commands;
mod components;
mod pager;
mod principal;
mod render;
mod reply;
mod rooms;
mod runs;
mod timeline;

pub use bot::{DISCORD_API_BASE, DiscordHandle, start};
