//! Discord-shaped JSON for the world's objects: what REST returns and what dispatches carry.
//! Every shape here is decoded through serenity 0.12.5's model types by `tests/it/conformance.rs`.

use serde_json::{Value, json};

use crate::clock::iso;
use crate::config::{GuildCreateMembers, intents};
use crate::ids::{ChannelId, UserId};
use crate::model::{
    Attachment, Channel, ChannelKind, ForumTag, Message, Role, ScheduledEvent, World,
};

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
        "flags": c.flags,
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
            v["member_count"] = json!(c.thread_members.len().min(THREAD_MEMBER_COUNT_CAP));
            v["total_message_sent"] = json!(count);
            v["applied_tags"] = json!(
                c.applied_tags
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
            );
            let mut meta = json!({
                "archived": c.archived,
                "auto_archive_duration": c.auto_archive_minutes,
                "archive_timestamp": iso(c.archive_changed_at),
                "locked": c.locked,
                "create_timestamp": iso(c.created_at),
            });
            if c.kind == ChannelKind::PrivateThread {
                meta["invitable"] = json!(c.invitable);
            }
            v["thread_metadata"] = meta;
        }
        ChannelKind::Forum => {
            v["topic"] = json!(c.topic);
            v["rate_limit_per_user"] = json!(0);
            v["last_message_id"] = json!(c.last_message_id.map(|m| m.to_string()));
            v["available_tags"] = json!(c.available_tags.iter().map(forum_tag).collect::<Vec<_>>());
            v["default_reaction_emoji"] = Value::Null;
            v["default_thread_rate_limit_per_user"] = json!(0);
            v["default_sort_order"] = Value::Null;
            v["default_forum_layout"] = json!(0);
        }
        ChannelKind::Category | ChannelKind::Dm => {}
    }
    v
}

/// Discord caps a thread's `member_count` at 50 (and serenity reads it into a `u8`).
pub(crate) const THREAD_MEMBER_COUNT_CAP: usize = 50;

pub(crate) fn forum_tag(t: &ForumTag) -> Value {
    json!({
        "id": t.id.to_string(),
        "name": t.name,
        "moderated": t.moderated,
        "emoji_id": t.emoji_id.map(|e| e.to_string()),
        "emoji_name": t.emoji_name,
    })
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

/// GUILD_CREATE for a session: the members it carries follow `policy` (see
/// [`GuildCreateMembers`]); `large` is whether the guild has more members than the session's
/// `large_threshold`.
pub(crate) fn guild_create_for(
    w: &World,
    session_intents: u64,
    large_threshold: u64,
    policy: GuildCreateMembers,
) -> Value {
    let mut v = guild_create(w);
    let large = w.members.len() as u64 > large_threshold;
    v["large"] = json!(large);
    if policy == GuildCreateMembers::AsDiscord {
        let keep: Vec<Value> = w
            .members
            .values()
            .filter(|m| {
                m.user == w.bot
                    || (session_intents & intents::GUILD_PRESENCES != 0
                        && (!large || !m.roles.is_empty() || m.nick.is_some()))
            })
            .map(|m| member(w, m.user, true))
            .collect();
        v["members"] = Value::Array(keep);
    }
    v
}

/// A scheduled event (docs: resources/guild-scheduled-event).
pub(crate) fn scheduled_event(w: &World, e: &ScheduledEvent) -> Value {
    json!({
        "id": e.id.to_string(),
        "guild_id": w.guild_id.to_string(),
        "channel_id": e.channel_id.map(|c| c.to_string()),
        "creator_id": e.creator.to_string(),
        "creator": user(w, e.creator),
        "name": e.name,
        "description": e.description,
        "scheduled_start_time": iso(e.start),
        "scheduled_end_time": e.end.map(iso),
        "privacy_level": e.privacy_level,
        "status": e.status.code(),
        "entity_type": e.entity_type,
        "entity_id": null,
        "entity_metadata": e.location.as_ref().map(|l| json!({"location": l})),
        "image": e.image,
        "recurrence_rule": null,
    })
}

pub(crate) fn guild_create(w: &World) -> Value {
    let live = w
        .channels
        .values()
        .filter(|c| !c.deleted && c.kind != ChannelKind::Dm);
    let (threads, channels): (Vec<&Channel>, Vec<&Channel>) =
        live.partition(|c| c.kind.is_thread());
    // Only active threads (docs: topics/threads).
    let threads: Vec<&Channel> = threads.into_iter().filter(|t| !t.archived).collect();
    let events: Vec<Value> = w
        .scheduled_events
        .values()
        .filter(|e| !e.deleted && !e.status.is_finished())
        .map(|e| scheduled_event(w, e))
        .collect();
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
        "guild_scheduled_events": events,
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
