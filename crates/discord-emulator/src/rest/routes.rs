//! The route table: method and path segments to handler.

use super::{Req, RestResult, app, channels, events, interactions, threads};
use crate::api_error::ApiError;
use crate::state::{Shared, State};

pub(crate) fn route(shared: &Shared, st: &mut State, req: &Req<'_>) -> RestResult {
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let m = req.method;
    match (m, segs.as_slice()) {
        ("GET", ["gateway"]) => app::gateway(shared),
        ("GET", ["gateway", "bot"]) => app::gateway_bot(shared),
        ("GET", ["users", "@me"]) => app::user(st, "@me"),
        ("GET", ["users", id]) => app::user(st, id),
        ("POST", ["users", "@me", "channels"]) => channels::create_dm(shared, st, req),
        ("GET", ["oauth2", "applications", "@me"] | ["applications", "@me"]) => {
            app::application(shared, st)
        }
        (_, ["applications", a, "commands"]) => app::commands(shared, st, req, a, None, None),
        (_, ["applications", a, "commands", c]) => app::commands(shared, st, req, a, None, Some(c)),
        (_, ["applications", a, "guilds", g, "commands"]) => {
            app::commands(shared, st, req, a, Some(g), None)
        }
        ("GET", ["applications", _, "guilds", _, "commands", "permissions"]) => {
            super::ok(serde_json::json!([]))
        }
        (_, ["applications", a, "guilds", g, "commands", c]) => {
            app::commands(shared, st, req, a, Some(g), Some(c))
        }
        ("POST", ["interactions", id, token, "callback"]) => {
            interactions::callback(shared, st, req, id, token)
        }
        ("POST", ["webhooks", a, token]) => interactions::followup(shared, st, req, a, token),
        (_, ["webhooks", a, token, "messages", msg]) => {
            interactions::webhook_message(shared, st, req, a, token, msg)
        }
        ("GET", ["guilds", g]) => app::guild(st, g),
        ("GET", ["guilds", g, "channels"]) => channels::guild_channels(st, g),
        ("POST", ["guilds", g, "channels"]) => channels::create_guild_channel(shared, st, req, g),
        ("PATCH", ["guilds", g, "channels"]) => channels::positions(st, req, g),
        ("GET", ["guilds", g, "members"]) => app::members(st, req, g),
        ("GET", ["guilds", g, "members", u]) => app::member(st, g, u),
        ("PATCH", ["guilds", g, "members", u]) => app::edit_member(st, req, g, u),
        ("PUT" | "DELETE", ["guilds", g, "members", u, "roles", r]) => {
            app::member_role(st, m == "PUT", g, u, r)
        }
        ("GET", ["guilds", g, "roles"]) => app::roles(st, g),
        ("GET", ["guilds", g, "threads", "active"]) => {
            app::check_guild(st, g)?;
            threads::active_threads(st)
        }
        (_, ["guilds", g, "scheduled-events"]) => events::list_or_create(shared, st, req, g),
        (_, ["guilds", g, "scheduled-events", e]) => events::one(shared, st, req, g, e, false),
        ("GET", ["guilds", g, "scheduled-events", e, "users"]) => {
            events::one(shared, st, req, g, e, true)
        }
        ("POST", ["guilds", g, "roles"]) => app::create_role(shared, st, req, g),
        ("GET", ["channels", c]) => channels::get_channel(st, c),
        ("PATCH", ["channels", c]) => channels::edit_channel(shared, st, req, c),
        ("DELETE", ["channels", c]) => channels::delete_channel(st, c),
        ("GET", ["channels", c, "messages"]) => channels::list_messages(st, req, c),
        ("POST", ["channels", c, "messages"]) => channels::create_message(shared, st, req, c),
        (_, ["channels", c, "messages", msg]) => channels::message(shared, st, req, c, msg),
        ("POST", ["channels", c, "messages", msg, "threads"]) => {
            channels::thread_from_message(shared, st, req, c, msg)
        }
        ("POST", ["channels", c, "threads"]) => threads::create_thread(shared, st, req, c),
        ("GET", ["channels", c, "thread-members"]) => threads::thread_members(st, req, c, None),
        (_, ["channels", c, "thread-members", u]) => threads::thread_members(st, req, c, Some(u)),
        (
            "GET",
            [
                "channels",
                c,
                "threads",
                "archived",
                kind @ ("public" | "private"),
            ],
        ) => threads::archived_threads(st, c, *kind == "private"),
        ("PUT", ["channels", c, "messages", msg, "reactions", emoji, "@me"]) => {
            channels::react(st, c, msg, emoji, true, "@me")
        }
        ("DELETE", ["channels", c, "messages", msg, "reactions", emoji, user]) => {
            channels::react(st, c, msg, emoji, false, user)
        }
        ("GET", ["channels", c, "messages", msg, "reactions", emoji]) => {
            channels::reactors(st, c, msg, emoji)
        }
        ("DELETE", ["channels", c, "messages", msg, "reactions"]) => {
            channels::clear_reactions(st, c, msg)
        }
        ("GET", ["channels", c, "pins"]) => channels::pins(st, c),
        ("PUT" | "DELETE", ["channels", c, "pins", msg]) => {
            channels::pin(shared, st, c, msg, m == "PUT")
        }
        ("PUT", ["channels", c, "permissions", o]) => channels::overwrite(st, req, c, o, true),
        ("DELETE", ["channels", c, "permissions", o]) => channels::overwrite(st, req, c, o, false),
        ("POST", ["channels", c, "typing"]) => {
            channels::known_channel(st, c).map(|_| super::Reply::NoContent)
        }
        _ => Err(ApiError::new(404, 0, "404: Not Found")),
    }
}
