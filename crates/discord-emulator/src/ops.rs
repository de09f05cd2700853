//! Changes to the world that REST handlers and the driver share, each followed by the gateway
//! dispatches Discord would send for it.

use serde_json::{Value, json};

use crate::clock::iso;
use crate::config::intents;
use crate::gateway::Gate;
use crate::ids::ForumTagId;
use crate::ids::{AttachmentId, ChannelId, InteractionId, MessageId, RoleId, UserId};
use crate::json;
use crate::model::{
    Attachment, Channel, ChannelKind, FLAG_EPHEMERAL, ForumTag, Message, Reaction, Revision,
};
use crate::state::{Shared, State, UploadedFile};

/// Message type codes (docs: resources/message, "Message Types").
pub(crate) mod message_type {
    pub const DEFAULT: u8 = 0;
    pub const CHANNEL_PINNED_MESSAGE: u8 = 6;
    pub const REPLY: u8 = 19;
    pub const CHAT_INPUT_COMMAND: u8 = 20;
}

/// Everything needed to create a message.
pub(crate) struct NewMessage<'a> {
    pub channel: ChannelId,
    pub author: UserId,
    /// The create body as Discord receives it (`content`, `embeds`, `components`, `flags`,
    /// `allowed_mentions`, `message_reference`, `attachments`, `tts`).
    pub body: &'a Value,
    pub files: &'a [UploadedFile],
    pub kind: Option<u8>,
    pub interaction: Option<InteractionId>,
    pub extra_flags: u64,
    /// Use this id (a forum post's first message has the post's id).
    pub id: Option<MessageId>,
}

/// The gate for a message event in `channel` (intents by channel type; content gated unless it
/// is a DM, the bot's own message, or mentions the bot).
fn message_gate(st: &State, m: &Message, dm_intent: u64, guild_intent: u64) -> Gate {
    let guild = st.world.is_guild_channel(m.channel_id);
    Gate {
        intent: if guild { guild_intent } else { dm_intent },
        content_gated: guild && m.author != st.world.bot && !m.mentions.contains(&st.world.bot),
    }
}

fn attachments_from(
    shared: &Shared,
    st: &mut State,
    body: &Value,
    files: &[UploadedFile],
) -> Vec<Attachment> {
    let meta = body
        .get("attachments")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for f in files {
        // serenity names parts `files[N]` and lists `{"id": N, "filename", "description"}`.
        let n = f
            .field
            .trim_start_matches("files[")
            .trim_end_matches(']')
            .parse::<u64>()
            .ok();
        let m = meta
            .iter()
            .find(|a| n.is_some() && a.get("id").and_then(Value::as_u64) == n);
        out.push(Attachment {
            id: AttachmentId(st.next_id(&shared.clock)),
            filename: m
                .and_then(|m| m.get("filename"))
                .and_then(Value::as_str)
                .unwrap_or(&f.filename)
                .to_string(),
            content_type: f.content_type.clone(),
            description: m
                .and_then(|m| m.get("description"))
                .and_then(Value::as_str)
                .map(str::to_string),
            bytes: f.bytes.clone(),
        });
    }
    out
}

/// Who `content` mentions, filtered by `allowed_mentions` the way Discord parses them.
fn mentions(
    st: &State,
    content: &str,
    allowed: Option<&Value>,
) -> (Vec<UserId>, Vec<RoleId>, bool) {
    let parse: Option<Vec<&str>> = allowed.map(|a| {
        a.get("parse")
            .and_then(Value::as_array)
            .map(|p| p.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    });
    let listed = |key: &str, id: u64| {
        allowed
            .and_then(|a| a.get(key))
            .and_then(Value::as_array)
            .is_some_and(|l| {
                l.iter()
                    .any(|v| v.as_str() == Some(&id.to_string()) || v.as_u64() == Some(id))
            })
    };
    let allows = |kind: &str| parse.as_ref().is_none_or(|p| p.contains(&kind));
    let mut users = Vec::new();
    let mut roles = Vec::new();
    let mut rest = content;
    while let Some(start) = rest.find("<@") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find('>') else { break };
        let inner = &rest[..end];
        if let Some(role) = inner.strip_prefix('&') {
            if let Ok(id) = role.parse::<u64>()
                && (allows("roles") || listed("roles", id))
                && st.world.role(RoleId(id)).is_some()
                && !roles.contains(&RoleId(id))
            {
                roles.push(RoleId(id));
            }
        } else if let Ok(id) = inner.trim_start_matches('!').parse::<u64>()
            && (allows("users") || listed("users", id))
            && st.world.users.contains_key(&UserId(id))
            && !users.contains(&UserId(id))
        {
            users.push(UserId(id));
        }
    }
    let everyone =
        (content.contains("@everyone") || content.contains("@here")) && allows("everyone");
    (users, roles, everyone)
}

/// Creates a message and dispatches MESSAGE_CREATE (not for ephemeral ones, which only the
/// invoking user sees).
pub(crate) fn create_message(shared: &Shared, st: &mut State, new: NewMessage<'_>) -> MessageId {
    let id = new
        .id
        .unwrap_or_else(|| MessageId(st.next_id(&shared.clock)));
    let body = new.body;
    let content = body
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let (mentions, mention_roles, mention_everyone) =
        mentions(st, &content, body.get("allowed_mentions"));
    let reference = body
        .get("message_reference")
        .filter(|r| !r.is_null())
        .cloned();
    let kind = new.kind.unwrap_or(if reference.is_some() {
        message_type::REPLY
    } else {
        message_type::DEFAULT
    });
    let attachments = attachments_from(shared, st, body, new.files);
    let message = Message {
        id,
        channel_id: new.channel,
        author: new.author,
        from_bot: new.author == st.world.bot,
        content,
        embeds: body
            .get("embeds")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        components: body
            .get("components")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        attachments,
        flags: body.get("flags").and_then(Value::as_u64).unwrap_or(0) | new.extra_flags,
        kind,
        pinned: false,
        tts: body.get("tts").and_then(Value::as_bool).unwrap_or(false),
        created_at: shared.clock.utc(),
        edited_at: None,
        deleted: false,
        reactions: Vec::new(),
        allowed_mentions: body.get("allowed_mentions").cloned(),
        message_reference: reference,
        interaction: new.interaction,
        mentions,
        mention_roles,
        mention_everyone,
        thread: None,
        revisions: Vec::new(),
    };
    let ephemeral = message.flags & FLAG_EPHEMERAL != 0;
    st.world.messages.insert(id, message);
    if let Some(c) = st.world.channels.get_mut(&new.channel) {
        c.last_message_id = Some(id);
    }
    if !ephemeral {
        let m = &st.world.messages[&id];
        let gate = message_gate(st, m, intents::DIRECT_MESSAGES, intents::GUILD_MESSAGES);
        let d = json::message_dispatch(&st.world, m);
        st.gateway.dispatch("MESSAGE_CREATE", d, gate);
    }
    id
}

/// Applies an edit body (fields present replace, absent ones stay) and dispatches
/// MESSAGE_UPDATE with the full message, as Discord does today.
pub(crate) fn edit_message(
    shared: &Shared,
    st: &mut State,
    id: MessageId,
    body: &Value,
    files: &[UploadedFile],
) {
    let new_attachments = attachments_from(shared, st, body, files);
    let now = shared.clock.utc();
    let Some(m) = st.world.messages.get_mut(&id) else {
        return;
    };
    m.revisions.push(Revision {
        content: m.content.clone(),
        embeds: m.embeds.clone(),
        components: m.components.clone(),
        replaced_at: now,
    });
    if let Some(c) = body.get("content") {
        m.content = c.as_str().unwrap_or("").to_string();
    }
    if let Some(e) = body.get("embeds") {
        m.embeds = e.as_array().cloned().unwrap_or_default();
    }
    if let Some(c) = body.get("components") {
        m.components = c.as_array().cloned().unwrap_or_default();
    }
    if let Some(f) = body.get("flags").and_then(Value::as_u64) {
        // Only SUPPRESS_EMBEDS and IS_COMPONENTS_V2 can change on edit; keep the rest.
        m.flags = (m.flags & !((1 << 2) | (1 << 15))) | (f & ((1 << 2) | (1 << 15)));
    }
    if let Some(a) = body.get("allowed_mentions") {
        m.allowed_mentions = Some(a.clone());
    }
    if let Some(keep) = body.get("attachments").and_then(Value::as_array) {
        let keep_ids: Vec<u64> = keep
            .iter()
            .filter_map(|a| {
                a.get("id")
                    .and_then(|v| v.as_str().and_then(|s| s.parse().ok()).or(v.as_u64()))
            })
            .collect();
        m.attachments.retain(|a| keep_ids.contains(&a.id.0));
    }
    m.attachments.extend(new_attachments);
    // Deferred answers: the edit is the real answer, so the "thinking" flag goes.
    m.flags &= !crate::model::FLAG_LOADING;
    m.edited_at = Some(now);
    let m = st.world.messages[&id].clone();
    let content = m.content.clone();
    let (mentions, roles, everyone) = mentions(st, &content, m.allowed_mentions.as_ref());
    if let Some(m) = st.world.messages.get_mut(&id) {
        m.mentions = mentions;
        m.mention_roles = roles;
        m.mention_everyone = everyone;
    }
    let m = &st.world.messages[&id];
    if !m.ephemeral() {
        let gate = message_gate(st, m, intents::DIRECT_MESSAGES, intents::GUILD_MESSAGES);
        let d = json::message_dispatch(&st.world, m);
        st.gateway.dispatch("MESSAGE_UPDATE", d, gate);
    }
}

/// Marks a message deleted (kept for inspection) and dispatches MESSAGE_DELETE.
pub(crate) fn delete_message(shared: &Shared, st: &mut State, id: MessageId) {
    let Some(m) = st.world.messages.get_mut(&id) else {
        return;
    };
    m.deleted = true;
    m.edited_at = m.edited_at.or(Some(shared.clock.utc()));
    let m = &st.world.messages[&id];
    if m.ephemeral() {
        return;
    }
    let gate = message_gate(st, m, intents::DIRECT_MESSAGES, intents::GUILD_MESSAGES);
    let mut d = json!({"id": id.to_string(), "channel_id": m.channel_id.to_string()});
    if st.world.is_guild_channel(m.channel_id) {
        d["guild_id"] = json!(st.world.guild_id.to_string());
    }
    st.gateway.dispatch(
        "MESSAGE_DELETE",
        d,
        Gate {
            content_gated: false,
            ..gate
        },
    );
}

fn reaction_payload(
    st: &State,
    m: &Message,
    user: UserId,
    emoji: &str,
    with_member: bool,
) -> Value {
    let mut d = json!({
        "user_id": user.to_string(),
        "channel_id": m.channel_id.to_string(),
        "message_id": m.id.to_string(),
        "emoji": json::emoji(emoji),
        "burst": false,
        "burst_colors": [],
        "type": 0,
        "message_author_id": m.author.to_string(),
    });
    if st.world.is_guild_channel(m.channel_id) {
        d["guild_id"] = json!(st.world.guild_id.to_string());
        if with_member && st.world.members.contains_key(&user) {
            let mut member = json::member(&st.world, user, true);
            member["guild_id"] = json!(st.world.guild_id.to_string());
            d["member"] = member;
        }
    }
    d
}

/// Adds a reaction (idempotent, like Discord's 204 on a repeat) and dispatches
/// MESSAGE_REACTION_ADD when it is new.
pub(crate) fn add_reaction(st: &mut State, id: MessageId, user: UserId, emoji: &str) {
    let Some(m) = st.world.messages.get_mut(&id) else {
        return;
    };
    match m.reactions.iter_mut().find(|r| r.emoji == emoji) {
        Some(r) if r.users.contains(&user) => return,
        Some(r) => r.users.push(user),
        None => m.reactions.push(Reaction {
            emoji: emoji.to_string(),
            users: vec![user],
        }),
    }
    let m = &st.world.messages[&id];
    let d = reaction_payload(st, m, user, emoji, true);
    let gate = message_gate(
        st,
        m,
        intents::DIRECT_MESSAGE_REACTIONS,
        intents::GUILD_MESSAGE_REACTIONS,
    );
    st.gateway.dispatch(
        "MESSAGE_REACTION_ADD",
        d,
        Gate {
            content_gated: false,
            ..gate
        },
    );
}

/// Removes a reaction and dispatches MESSAGE_REACTION_REMOVE when there was one.
pub(crate) fn remove_reaction(st: &mut State, id: MessageId, user: UserId, emoji: &str) {
    let Some(m) = st.world.messages.get_mut(&id) else {
        return;
    };
    let Some(r) = m
        .reactions
        .iter_mut()
        .find(|r| r.emoji == emoji && r.users.contains(&user))
    else {
        return;
    };
    r.users.retain(|u| *u != user);
    m.reactions.retain(|r| !r.users.is_empty());
    let m = &st.world.messages[&id];
    let mut d = reaction_payload(st, m, user, emoji, false);
    if let Some(obj) = d.as_object_mut() {
        obj.remove("message_author_id");
    }
    let gate = message_gate(
        st,
        m,
        intents::DIRECT_MESSAGE_REACTIONS,
        intents::GUILD_MESSAGE_REACTIONS,
    );
    st.gateway.dispatch(
        "MESSAGE_REACTION_REMOVE",
        d,
        Gate {
            content_gated: false,
            ..gate
        },
    );
}

/// Pins or unpins. Pinning posts Discord's "pinned a message" system message (type 6) and both
/// dispatch CHANNEL_PINS_UPDATE.
pub(crate) fn set_pinned(shared: &Shared, st: &mut State, id: MessageId, by: UserId, pinned: bool) {
    let now = shared.clock.utc();
    let Some(m) = st.world.messages.get_mut(&id) else {
        return;
    };
    if m.pinned == pinned {
        return;
    }
    m.pinned = pinned;
    let channel = m.channel_id;
    if pinned {
        if let Some(c) = st.world.channels.get_mut(&channel) {
            c.last_pin_at = Some(now);
        }
        let guild = st.world.is_guild_channel(channel);
        let mut reference =
            json!({"message_id": id.to_string(), "channel_id": channel.to_string()});
        if guild {
            reference["guild_id"] = json!(st.world.guild_id.to_string());
        }
        let body = json!({"content": "", "message_reference": reference});
        let new = NewMessage {
            channel,
            author: by,
            body: &body,
            files: &[],
            kind: Some(message_type::CHANNEL_PINNED_MESSAGE),
            interaction: None,
            extra_flags: 0,
            id: None,
        };
        create_message(shared, st, new);
    }
    let last = st.world.channels.get(&channel).and_then(|c| c.last_pin_at);
    let guild = st.world.is_guild_channel(channel);
    let mut d = json!({"channel_id": channel.to_string(), "last_pin_timestamp": last.map(iso)});
    if guild {
        d["guild_id"] = json!(st.world.guild_id.to_string());
    }
    let intent = if guild {
        intents::GUILDS
    } else {
        intents::DIRECT_MESSAGES
    };
    st.gateway.dispatch(
        "CHANNEL_PINS_UPDATE",
        d,
        Gate {
            intent,
            content_gated: false,
        },
    );
}

/// What a new channel needs.
pub(crate) struct NewChannel {
    pub kind: ChannelKind,
    pub name: String,
    pub parent_id: Option<ChannelId>,
    pub topic: Option<String>,
    pub owner_id: Option<UserId>,
    pub recipient: Option<UserId>,
    pub auto_archive_minutes: u32,
    /// `None`: none given, so a channel under a category takes (is synced to) the category's.
    pub permission_overwrites: Option<Vec<Value>>,
    /// Use this id (a thread started from a message has the message's id).
    pub id: Option<ChannelId>,
    pub flags: u64,
    pub available_tags: Vec<ForumTag>,
    pub applied_tags: Vec<ForumTagId>,
    /// Thread members from the start (the creator of a thread is one).
    pub thread_members: Vec<UserId>,
    pub invitable: bool,
}

impl NewChannel {
    pub(crate) fn new(kind: ChannelKind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
            parent_id: None,
            topic: None,
            owner_id: None,
            recipient: None,
            auto_archive_minutes: 1440,
            permission_overwrites: None,
            id: None,
            flags: 0,
            available_tags: Vec::new(),
            applied_tags: Vec::new(),
            thread_members: Vec::new(),
            invitable: true,
        }
    }
}

/// Creates a channel and dispatches CHANNEL_CREATE, or THREAD_CREATE for threads. DM channels
/// produce no dispatch (Discord sends none to bots).
pub(crate) fn create_channel(shared: &Shared, st: &mut State, new: NewChannel) -> ChannelId {
    let id = new
        .id
        .unwrap_or_else(|| ChannelId(st.next_id(&shared.clock)));
    let position = st
        .world
        .channels
        .values()
        .filter(|c| c.kind == new.kind && c.parent_id == new.parent_id && !c.deleted)
        .count() as u16;
    let category_overwrites = new
        .parent_id
        .filter(|_| !new.kind.is_thread())
        .and_then(|p| st.world.channels.get(&p))
        .filter(|p| p.kind == ChannelKind::Category)
        .map(|p| p.permission_overwrites.clone());
    let (overwrites, synced) = match (new.permission_overwrites, category_overwrites) {
        (None, Some(parent)) => (parent, true),
        (Some(own), Some(parent)) => {
            let own = normalize_overwrites(&own);
            let synced = same_overwrites(&own, &parent);
            (own, synced)
        }
        (own, None) => (normalize_overwrites(&own.unwrap_or_default()), false),
    };
    let now = shared.clock.utc();
    let channel = Channel {
        id,
        kind: new.kind,
        name: new.name,
        parent_id: new.parent_id,
        position,
        topic: new.topic,
        recipient: new.recipient,
        owner_id: new.owner_id,
        archived: false,
        locked: false,
        auto_archive_minutes: new.auto_archive_minutes,
        permission_overwrites: overwrites,
        permissions_synced: synced,
        last_message_id: None,
        last_pin_at: None,
        deleted: false,
        flags: new.flags,
        available_tags: new.available_tags,
        applied_tags: new.applied_tags,
        thread_members: new.thread_members,
        invitable: new.invitable,
        created_at: now,
        archive_changed_at: now,
    };
    st.world.channels.insert(id, channel);
    let c = &st.world.channels[&id];
    match c.kind {
        ChannelKind::Dm => {}
        ChannelKind::PublicThread | ChannelKind::PrivateThread => {
            let mut d = json::channel(&st.world, c);
            d["newly_created"] = json!(true);
            st.gateway.dispatch(
                "THREAD_CREATE",
                d,
                Gate {
                    intent: intents::GUILDS,
                    content_gated: false,
                },
            );
        }
        _ => {
            let d = json::channel(&st.world, c);
            st.gateway.dispatch(
                "CHANNEL_CREATE",
                d,
                Gate {
                    intent: intents::GUILDS,
                    content_gated: false,
                },
            );
        }
    }
    id
}

/// Overwrites in Discord's JSON shape (string ids and bit sets, integer type); entries that do
/// not parse are kept as sent (validation refuses them before they get here).
pub(crate) fn normalize_overwrites(list: &[Value]) -> Vec<Value> {
    list.iter()
        .map(|v| {
            crate::model::PermissionOverwrite::from_json(v)
                .map(|o| o.to_json())
                .unwrap_or_else(|| v.clone())
        })
        .collect()
}

/// Whether two overwrite lists grant the same (order does not matter).
pub(crate) fn same_overwrites(a: &[Value], b: &[Value]) -> bool {
    let parse = |l: &[Value]| {
        let mut v: Vec<_> = l
            .iter()
            .filter_map(crate::model::PermissionOverwrite::from_json)
            .map(|o| {
                (
                    o.id,
                    o.kind == crate::model::OverwriteKind::Role,
                    o.allow,
                    o.deny,
                )
            })
            .collect();
        v.sort();
        v
    };
    parse(a) == parse(b)
}

/// Sets a channel's overwrites. For a category, children synced to it follow (each gets its
/// CHANNEL_UPDATE, as Discord sends); for a channel under a category, it stays synced only if
/// the new overwrites equal the category's.
pub(crate) fn set_overwrites(st: &mut State, id: ChannelId, overwrites: Vec<Value>) {
    let overwrites = normalize_overwrites(&overwrites);
    let Some(c) = st.world.channels.get(&id) else {
        return;
    };
    let kind = c.kind;
    let parent = c.parent_id;
    if kind == ChannelKind::Category {
        let children: Vec<ChannelId> = st
            .world
            .channels
            .values()
            .filter(|ch| ch.parent_id == Some(id) && ch.permissions_synced && !ch.deleted)
            .map(|ch| ch.id)
            .collect();
        for child in children {
            let ch = st.world.channels.get_mut(&child).expect("listed");
            if !same_overwrites(&ch.permission_overwrites, &overwrites) {
                ch.permission_overwrites = overwrites.clone();
                channel_changed(st, child, false);
            }
        }
    }
    let parent_overwrites = parent
        .and_then(|p| st.world.channels.get(&p))
        .filter(|p| p.kind == ChannelKind::Category)
        .map(|p| p.permission_overwrites.clone());
    let c = st.world.channels.get_mut(&id).expect("checked");
    c.permissions_synced = parent_overwrites
        .as_ref()
        .is_some_and(|p| same_overwrites(p, &overwrites));
    c.permission_overwrites = overwrites;
}

/// Dispatches CHANNEL_UPDATE / THREAD_UPDATE (or the DELETE variants) for a channel.
pub(crate) fn channel_changed(st: &mut State, id: ChannelId, deleted: bool) {
    let Some(c) = st.world.channels.get(&id) else {
        return;
    };
    if c.kind == ChannelKind::Dm {
        return;
    }
    let name = match (c.kind.is_thread(), deleted) {
        (true, true) => "THREAD_DELETE",
        (true, false) => "THREAD_UPDATE",
        (false, true) => "CHANNEL_DELETE",
        (false, false) => "CHANNEL_UPDATE",
    };
    let d = if deleted && c.kind.is_thread() {
        json!({
            "id": id.to_string(),
            "guild_id": st.world.guild_id.to_string(),
            "parent_id": c.parent_id.map(|p| p.to_string()),
            "type": c.kind.code(),
        })
    } else {
        json::channel(&st.world, c)
    };
    st.gateway.dispatch(
        name,
        d,
        Gate {
            intent: intents::GUILDS,
            content_gated: false,
        },
    );
}

/// The bot's DM channel with `user`, made on first use.
pub(crate) fn dm_channel(shared: &Shared, st: &mut State, user: UserId) -> ChannelId {
    if let Some(c) = st.world.dm_channels.get(&user) {
        return *c;
    }
    let name = st.world.user_name(user);
    let mut new = NewChannel::new(ChannelKind::Dm, name);
    new.recipient = Some(user);
    let id = create_channel(shared, st, new);
    st.world.dm_channels.insert(user, id);
    id
}

/// Dispatches GUILD_MEMBER_UPDATE after a member's roles or nick changed.
pub(crate) fn member_changed(st: &mut State, user: UserId) {
    let mut d = json::member(&st.world, user, true);
    d["guild_id"] = json!(st.world.guild_id.to_string());
    st.gateway.dispatch(
        "GUILD_MEMBER_UPDATE",
        d,
        Gate {
            intent: intents::GUILD_MEMBERS,
            content_gated: false,
        },
    );
}

/// Whether Discord's own status changes of scheduled events are due (see
/// [`run_event_clock`]); cheap, so callers check it before taking the write path.
pub(crate) fn event_clock_due(shared: &Shared, st: &State) -> bool {
    let now = shared.clock.utc();
    st.world
        .scheduled_events
        .values()
        .any(|e| event_step(e, now).is_some())
}

/// The status Discord moves an external event to by itself at `now`: ACTIVE at its start
/// time, COMPLETED at its end time (docs: resources/guild-scheduled-event, "Guild Scheduled
/// Event Status Update Automation").
fn event_step(
    e: &crate::model::ScheduledEvent,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<crate::model::ScheduledEventStatus> {
    use crate::model::ScheduledEventStatus::*;
    if e.deleted || e.entity_type != 3 {
        return None;
    }
    match e.status {
        Scheduled if e.start <= now => Some(Active),
        Active if e.end.is_some_and(|end| end <= now) => Some(Completed),
        _ => None,
    }
}

/// Applies Discord's automatic status changes, each with GUILD_SCHEDULED_EVENT_UPDATE.
pub(crate) fn run_event_clock(shared: &Shared, st: &mut State) {
    let now = shared.clock.utc();
    loop {
        let due = st
            .world
            .scheduled_events
            .values()
            .find_map(|e| event_step(e, now).map(|to| (e.id, to)));
        let Some((id, to)) = due else { break };
        let e = st.world.scheduled_events.get_mut(&id).expect("found");
        e.status = to;
        e.changes.push(json!({"status": to.code()}));
        let v = json::scheduled_event(&st.world, &st.world.scheduled_events[&id]);
        st.gateway.dispatch(
            "GUILD_SCHEDULED_EVENT_UPDATE",
            v,
            Gate::intent(intents::GUILD_SCHEDULED_EVENTS),
        );
    }
}

/// "Sending a message will automatically unarchive the thread": THREAD_UPDATE first.
pub(crate) fn unarchive_on_message(shared: &Shared, st: &mut State, channel: ChannelId) {
    let now = shared.clock.utc();
    if let Some(c) = st.world.channels.get_mut(&channel)
        && c.kind.is_thread()
        && c.archived
        && !c.locked
    {
        c.archived = false;
        c.archive_changed_at = now;
        channel_changed(st, channel, false);
    }
}

/// The thread member object (docs: Thread Member Object).
pub(crate) fn thread_member(
    st: &State,
    thread: ChannelId,
    user: UserId,
    with_member: bool,
) -> Value {
    let joined = st
        .world
        .channels
        .get(&thread)
        .map(|c| c.created_at)
        .unwrap_or_default();
    let mut v = json!({
        "id": thread.to_string(),
        "user_id": user.to_string(),
        "join_timestamp": iso(joined),
        "flags": 0,
    });
    if with_member && st.world.members.contains_key(&user) {
        v["member"] = json::member(&st.world, user, true);
    }
    v
}

/// Adds or removes a thread member and dispatches THREAD_MEMBERS_UPDATE (sent without the
/// GUILD_MEMBERS intent only when the bot itself was added or removed).
pub(crate) fn set_thread_member(st: &mut State, thread: ChannelId, user: UserId, add: bool) {
    let Some(t) = st.world.channels.get_mut(&thread) else {
        return;
    };
    let had = t.thread_members.contains(&user);
    if had == add {
        return;
    }
    if add {
        t.thread_members.push(user);
    } else {
        t.thread_members.retain(|u| *u != user);
    }
    let count = t.thread_members.len().min(json::THREAD_MEMBER_COUNT_CAP);
    let mut d = json!({
        "id": thread.to_string(),
        "guild_id": st.world.guild_id.to_string(),
        "member_count": count,
    });
    if add {
        d["added_members"] = json!([thread_member(st, thread, user, true)]);
    } else {
        d["removed_member_ids"] = json!([user.to_string()]);
    }
    let intent = if user == st.world.bot {
        intents::GUILDS
    } else {
        intents::GUILD_MEMBERS
    };
    st.gateway
        .dispatch("THREAD_MEMBERS_UPDATE", d, Gate::intent(intent));
}
