//! The Discord adapter (SPEC §2), and the only code that imports serenity. It turns what
//! Discord sends into requests, calls `ops`, and shows in Discord what the database says. No
//! SQL and no business rule lives here, and no serenity type leaves this module.
//!
//! - `duty.rs`: who talks to Discord — the REST client and pager in every process, the gateway
//!   in the one holding the lease, the others standing by; shutdown in order.
//! - `context.rs`: what every part shares (`Bot`): use cases, REST client, claims, channels.
//! - `gateway.rs`: the serenity client of the lease holder and the routing of its events.
//! - `interactions.rs`: commands and buttons, each claimed by its id and answered once;
//!   `reply.rs`: within 3 s (deferring when work is slow), errors only to the person.
//! - `commands/`: the slash-command registry, one file per command.
//! - `projector.rs`: committed events into rooms, cards, announcements and lines, from a cursor
//!   per incident; `rooms.rs`: channels (claimed), cards and messages, each safe to repeat;
//!   `places.rs`: forum posts and their tags, private channels' overwrites, archiving.
//! - `modals.rs`: the form `/incident open` without a title and the message command
//!   "Open incident from message" open, and its submission.
//! - `timeline.rs`: recording the channel, and catching up with its history.
//! - `runs.rs`: run cards and streamed output; `pager.rs`: the Discord pager (a DM and a
//!   mention with Acknowledge), the `Notifier` the escalation engine uses for Discord users
//!   and roles.
//! - `render/`: how things look, and every answer's words; `components.rs`: button actions;
//!   `principal.rs`: who asks.

mod announce;
mod commands;
mod components;
mod context;
mod during;
mod duty;
mod gateway;
mod interactions;
mod maintenance;
mod modals;
mod outbox;
mod pager;
mod places;
mod principal;
mod projector;
mod render;
mod reply;
mod review_events;
mod rooms;
mod runs;
mod timeline;

pub use duty::{DISCORD_API_BASE, DiscordHandle, INTERACTION_DRAIN, start};
