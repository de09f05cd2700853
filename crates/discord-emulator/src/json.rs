//! Discord-shaped JSON for the world's objects: what REST returns and what dispatches carry.
//! Every shape here is decoded through serenity 0.12.5's model types by `tests/it/conformance.rs`.

use serde_json::{Value, json};

use crate::clock::iso;
use crate::ids::{ChannelId, UserId};
use crate::model::{Attachment, Channel, ChannelKind, Message, Role, World};

pub(crate) fn user(w: &World, id: UserId) -> Value {
    let (name, bot) = w
        .users
        .get(&id)
        .map(|u| (u.name.clone(), u.bot))
        .unwrap_or((format!("user-{id}"), false));
    json!({
        "id": id.to_string(),
        "username": name,
        "global_name": name,
        "discriminator": "0",
        "avatar": null,
        "bot": bot,
        "public_flags": 0,
    })
}

/// A guild member; `with_user` adds the `user` object (omitted in MESSAGE_CREATE's partial member).
pub(crate) fn member(w: &World, id: UserId, with_user: bool) -> Value {
    let m = w.members.get(&id);
    let roles: Vec<String> = m
        .map(|m| m.roles.iter().map(|r| r.to_string()).collect())
        .unwrap_or_default();
    let joined = m.map(|m| m.joined_at).or(w.guild_created_at).map(iso);
    let mut v = json!({
        "roles": roles,
        "joined_at": joined,
        "deaf": false,
        "mute": false,
        "flags": 0,
        "pending": false,
        "nick": m.and_then(|m| m.nick.clone()),
        "avatar": null,
        "premium_since": null,
        "communication_disabled_until": null,
    });
    if with_user {
        v["user"] = user(w, id);
    }
    v
}

/// A member as interactions carry it: with `user` and the computed guild `permissions`.
pub(crate) fn member_with_permissions(w: &World, id: UserId) -> Value {
    let mut v = member(w, id, true);
    v["permissions"] = json!(w.member_permissions(id).to_string());
    v
}

pub(crate) fn role(w: &World, r: &Role) -> Value {
    let mut v = json!({
        "id": r.id.to_string(),
        "name": r.name,
        "permissions": r.permissions.to_string(),
        "position": r.position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
        "hoist": false,
        "managed": r.managed,
        "mentionable": false,
        "icon": null,
        "unicode_emoji": null,
        "flags": 0,
    });
    if r.managed {
        v["tags"] = json!({"bot_id": w.bot.to_string()});
    }
    v
}

pub(crate) fn channel(w: &World, c: &Channel) -> Value {
    if c.kind == ChannelKind::Dm {
        let recipients: Vec<Value> = c.recipient.iter().map(|u| user(w, *u)).collect();
        return json!({
            "id": c.id.to_string(),
            "type": 1,
            "recipients": recipients,
            "last_message_id": c.last_message_id.map(|m| m.to_string()),
            "flags": 0,
        });
    }
    let mut v = json!({
        "id": c.id.to_string(),
        "type": c.kind.code(),
        "guild_id": w.guild_id.to_string(),
        "name": c.name,
        "position": c.position,
        "permission_overwrites": c.permission_overwrites,
        "parent_id": c.parent_id.map(|p| p.to_string()),
        "nsfw": false,
        "flags": 0,
    });
    match c.kind {
        ChannelKind::Text => {
            v["topic"] = json!(c.topic);
            v["rate_limit_per_user"] = json!(0);
            v["last_message_id"] = json!(c.last_message_id.map(|m| m.to_string()));
            v["last_pin_timestamp"] = json!(c.last_pin_at.map(iso));
        }
        ChannelKind::PublicThread | ChannelKind::PrivateThread => {
            let count = w
                .channel_messages(c.id)
                .iter()
                .filter(|m| !m.deleted)
                .count();
            v["owner_id"] = json!(c.owner_id.map(|o| o.to_string()));
            v["rate_limit_per_user"] = json!(0);
            v["last_message_id"] = json!(c.last_message_id.map(|m| m.to_string()));
            v["message_count"] = json!(count);
            v["member_count"] = json!(1);
            v["total_message_sent"] = json!(count);
            v["thread_metadata"] = json!({
                "archived": c.archived,
                "auto_archive_duration": c.auto_archive_minutes,
                "archive_timestamp": iso(w.guild_created_at.unwrap_or_default()),
                "locked": c.locked,
            });
        }
        ChannelKind::Category | ChannelKind::Dm => {}
    }
    v
}

pub(crate) fn attachment(w: &World, channel: ChannelId, a: &Attachment) -> Value {
    let url = format!(
        "{}/attachments/{}/{}/{}",
        w.http_base, channel, a.id, a.filename
    );
    let mut v = json!({
        "id": a.id.to_string(),
        "filename": a.filename,
        "size": a.bytes.len(),
        "url": url,
        "proxy_url": url,
    });
    if let Some(ct) = &a.content_type {
        v["content_type"] = json!(ct);
    }
    if let Some(d) = &a.description {
        v["description"] = json!(d);
    }
    v
}

/// A message as REST returns it (no `guild_id`, no `member`).
pub(crate) fn message(w: &World, m: &Message) -> Value {
    let reactions: Vec<Value> = m
        .reactions
        .iter()
        .filter(|r| !r.users.is_empty())
        .map(|r| {
            json!({
                "count": r.users.len(),
                "count_details": {"burst": 0, "normal": r.users.len()},
                "me": r.users.contains(&w.bot),
                "me_burst": false,
                "burst_colors": [],
                "emoji": emoji(&r.emoji),
            })
        })
        .collect();
    let mut v = json!({
        "id": m.id.to_string(),
        "channel_id": m.channel_id.to_string(),
        "author": user(w, m.author),
        "content": m.content,
        "timestamp": iso(m.created_at),
        "edited_timestamp": m.edited_at.map(iso),
        "tts": m.tts,
        "mention_everyone": m.mention_everyone,
        "mentions": m.mentions.iter().map(|u| user(w, *u)).collect::<Vec<_>>(),
        "mention_roles": m.mention_roles.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        "attachments": m.attachments.iter().map(|a| attachment(w, m.channel_id, a)).collect::<Vec<_>>(),
        "embeds": m.embeds,
        "components": m.components,
        "reactions": reactions,
        "pinned": m.pinned,
        "type": m.kind,
        "flags": m.flags,
    });
    if let Some(r) = &m.message_reference {
        v["message_reference"] = r.clone();
    }
    if m.interaction.is_some() {
        v["webhook_id"] = json!(w.application_id.to_string());
        v["application_id"] = json!(w.application_id.to_string());
    }
    if let Some(t) = m.thread.and_then(|t| w.channels.get(&t)) {
        v["thread"] = channel(w, t);
    }
    v
}

/// A message as MESSAGE_CREATE carries it: REST shape plus `guild_id` and the author's partial
/// `member` in guild channels.
pub(crate) fn message_dispatch(w: &World, m: &Message) -> Value {
    let mut v = message(w, m);
    if w.is_guild_channel(m.channel_id) {
        v["guild_id"] = json!(w.guild_id.to_string());
        if w.members.contains_key(&m.author) {
            v["member"] = member(w, m.author, false);
        }
    }
    v
}

/// Discord's emoji object for a unicode emoji or a custom `name:id`.
pub(crate) fn emoji(e: &str) -> Value {
    match e.rsplit_once(':') {
        Some((name, id)) if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) => {
            json!({"id": id, "name": name.trim_start_matches('<').trim_start_matches("a:").trim_start_matches(':'), "animated": false})
        }
        _ => json!({"id": null, "name": e}),
    }
}

pub(crate) fn guild_create(w: &World) -> Value {
    let live = w
        .channels
        .values()
        .filter(|c| !c.deleted && c.kind != ChannelKind::Dm);
    let (threads, channels): (Vec<&Channel>, Vec<&Channel>) =
        live.partition(|c| c.kind.is_thread());
    json!({
        "id": w.guild_id.to_string(),
        "name": w.guild_name,
        "icon": null,
        "splash": null,
        "discovery_splash": null,
        "owner_id": w.owner_id.to_string(),
        "afk_channel_id": null,
        "afk_timeout": 300,
        "joined_at": iso(w.guild_created_at.unwrap_or_default()),
        "large": false,
        "unavailable": false,
        "member_count": w.members.len(),
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "system_channel_id": null,
        "system_channel_flags": 0,
        "rules_channel_id": null,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "nsfw_level": 0,
        "premium_progress_bar_enabled": false,
        "roles": w.roles.iter().map(|r| role(w, r)).collect::<Vec<_>>(),
        "channels": channels.iter().map(|c| channel(w, c)).collect::<Vec<_>>(),
        "threads": threads.iter().map(|c| channel(w, c)).collect::<Vec<_>>(),
        "members": w.members.keys().map(|u| member(w, *u, true)).collect::<Vec<_>>(),
        "emojis": [],
        "features": [],
        "stickers": [],
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    })
}

/// What `GET /guilds/{id}` returns (serenity's `PartialGuild`).
pub(crate) fn partial_guild(w: &World) -> Value {
    let mut v = guild_create(w);
    let obj = v.as_object_mut().expect("guild object");
    for key in [
        "channels",
        "threads",
        "members",
        "voice_states",
        "presences",
        "stage_instances",
        "guild_scheduled_events",
        "joined_at",
        "large",
        "member_count",
        "unavailable",
        "soundboard_sounds",
    ] {
        obj.remove(key);
    }
    v
}
