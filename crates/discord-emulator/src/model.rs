//! The emulated world: the guild's roles, members, channels, messages, reactions, registered
//! commands and interactions. Public types here are snapshots handed to tests.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::permissions as perm;
use crate::ids::{
    AttachmentId, ChannelId, CommandId, ForumTagId, GuildId, InteractionId, MessageId, RoleId,
    ScheduledEventId, UserId,
};

/// Message flag: only the invoking user sees it (interaction responses).
pub const FLAG_EPHEMERAL: u64 = 1 << 6;
/// Message flag: a deferred interaction response still "thinking".
pub const FLAG_LOADING: u64 = 1 << 7;

/// A guild role.
#[derive(Clone, Debug, PartialEq)]
pub struct Role {
    pub id: RoleId,
    pub name: String,
    pub permissions: u64,
    pub position: u16,
    /// Managed roles belong to an integration (the bot's own role).
    pub managed: bool,
}

/// A user known to the emulator: the bot, guild members, DM-only users.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub bot: bool,
}

/// A user's membership in the guild.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub user: UserId,
    pub roles: Vec<RoleId>,
    pub joined_at: DateTime<Utc>,
    pub nick: Option<String>,
}

/// The kinds of channel the emulator models, with Discord's type codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    Text,
    Dm,
    Category,
    PublicThread,
    PrivateThread,
    /// A forum: it holds posts (public threads) instead of messages.
    Forum,
}

impl ChannelKind {
    pub fn code(self) -> u8 {
        match self {
            ChannelKind::Text => 0,
            ChannelKind::Dm => 1,
            ChannelKind::Category => 4,
            ChannelKind::PublicThread => 11,
            ChannelKind::PrivateThread => 12,
            ChannelKind::Forum => 15,
        }
    }

    pub(crate) fn from_code(code: u64) -> Option<Self> {
        Some(match code {
            0 => ChannelKind::Text,
            1 => ChannelKind::Dm,
            4 => ChannelKind::Category,
            11 => ChannelKind::PublicThread,
            12 => ChannelKind::PrivateThread,
            15 => ChannelKind::Forum,
            _ => return None,
        })
    }

    pub fn is_thread(self) -> bool {
        matches!(self, ChannelKind::PublicThread | ChannelKind::PrivateThread)
    }
}

/// A tag a forum's posts can carry.
#[derive(Clone, Debug, PartialEq)]
pub struct ForumTag {
    pub id: ForumTagId,
    pub name: String,
    /// Only members with MANAGE_THREADS may apply it.
    pub moderated: bool,
    pub emoji_id: Option<u64>,
    pub emoji_name: Option<String>,
}

/// Whose permissions an overwrite changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverwriteKind {
    Role,
    Member,
}

/// One permission overwrite of a channel, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PermissionOverwrite {
    /// A role id (the guild's id for `@everyone`) or a user id.
    pub id: u64,
    pub kind: OverwriteKind,
    pub allow: u64,
    pub deny: u64,
}

impl PermissionOverwrite {
    /// Parses Discord's JSON (`id`, `type` 0 role / 1 member, `allow`/`deny` as strings or
    /// numbers, absent or null meaning 0). `None` when `id` or `type` is unusable.
    pub fn from_json(v: &Value) -> Option<Self> {
        let num = |k: &str| match v.get(k) {
            None | Some(Value::Null) => Some(0),
            Some(Value::String(s)) => s.parse().ok(),
            Some(Value::Number(n)) => n.as_u64(),
            _ => None,
        };
        let id = match v.get("id")? {
            Value::String(s) => s.parse().ok()?,
            Value::Number(n) => n.as_u64()?,
            _ => return None,
        };
        let kind = match v.get("type")? {
            Value::Number(n) if n.as_u64() == Some(0) => OverwriteKind::Role,
            Value::Number(n) if n.as_u64() == Some(1) => OverwriteKind::Member,
            Value::String(s) if s == "0" || s == "role" => OverwriteKind::Role,
            Value::String(s) if s == "1" || s == "member" => OverwriteKind::Member,
            _ => return None,
        };
        Some(Self {
            id,
            kind,
            allow: num("allow")?,
            deny: num("deny")?,
        })
    }

    /// Discord's JSON for it: string id and bit sets, integer type.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "id": self.id.to_string(),
            "type": match self.kind { OverwriteKind::Role => 0, OverwriteKind::Member => 1 },
            "allow": self.allow.to_string(),
            "deny": self.deny.to_string(),
        })
    }

    /// An overwrite for a role (`@everyone` is the role with the guild's id).
    pub fn role(role: RoleId, allow: u64, deny: u64) -> Self {
        Self {
            id: role.0,
            kind: OverwriteKind::Role,
            allow,
            deny,
        }
    }

    pub fn member(user: UserId, allow: u64, deny: u64) -> Self {
        Self {
            id: user.0,
            kind: OverwriteKind::Member,
            allow,
            deny,
        }
    }
}

/// A channel (deleted ones are kept, flagged, for inspection).
#[derive(Clone, Debug, PartialEq)]
pub struct Channel {
    pub id: ChannelId,
    pub kind: ChannelKind,
    pub name: String,
    /// The category of a text channel, or the channel a thread lives in.
    pub parent_id: Option<ChannelId>,
    pub position: u16,
    pub topic: Option<String>,
    /// The other side of a DM channel.
    pub recipient: Option<UserId>,
    /// Who created a thread.
    pub owner_id: Option<UserId>,
    pub archived: bool,
    pub locked: bool,
    pub auto_archive_minutes: u32,
    /// Discord's JSON (`[{id, type, allow, deny}]`, ids and bit sets as strings); see
    /// [`Channel::overwrites`] for them parsed.
    pub permission_overwrites: Vec<Value>,
    /// Whether the channel's overwrites follow its category's (Discord's permission syncing:
    /// made under a category without overwrites of its own, or moved with `lock_permissions`).
    pub permissions_synced: bool,
    pub last_message_id: Option<MessageId>,
    pub last_pin_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    /// Channel flags (1 << 1 PINNED post, 1 << 4 REQUIRE_TAG forum).
    pub flags: u64,
    /// A forum's tags.
    pub available_tags: Vec<ForumTag>,
    /// The tags of a forum post.
    pub applied_tags: Vec<ForumTagId>,
    /// Members of a thread (who can see a private thread without MANAGE_THREADS).
    pub thread_members: Vec<UserId>,
    /// Whether non-moderators may add people to a private thread.
    pub invitable: bool,
    pub created_at: DateTime<Utc>,
    /// When `archived` last changed (a thread's `archive_timestamp`).
    pub archive_changed_at: DateTime<Utc>,
}

impl Channel {
    /// The permission overwrites, parsed (unparseable entries are skipped).
    pub fn overwrites(&self) -> Vec<PermissionOverwrite> {
        self.permission_overwrites
            .iter()
            .filter_map(PermissionOverwrite::from_json)
            .collect()
    }

    /// A forum tag by name.
    pub fn tag(&self, name: &str) -> Option<&ForumTag> {
        self.available_tags.iter().find(|t| t.name == name)
    }
}

/// Status of a scheduled event (docs: resources/guild-scheduled-event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduledEventStatus {
    Scheduled,
    Active,
    Completed,
    Canceled,
}

impl ScheduledEventStatus {
    pub fn code(self) -> u8 {
        match self {
            Self::Scheduled => 1,
            Self::Active => 2,
            Self::Completed => 3,
            Self::Canceled => 4,
        }
    }

    pub(crate) fn from_code(code: u64) -> Option<Self> {
        Some(match code {
            1 => Self::Scheduled,
            2 => Self::Active,
            3 => Self::Completed,
            4 => Self::Canceled,
            _ => return None,
        })
    }

    /// Completed and canceled events can no longer change.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Canceled)
    }
}

/// A guild scheduled event as the bot made it (deleted ones are kept, flagged).
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledEvent {
    pub id: ScheduledEventId,
    pub name: String,
    pub description: Option<String>,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub status: ScheduledEventStatus,
    /// 1 stage instance, 2 voice, 3 external.
    pub entity_type: u8,
    /// `entity_metadata.location` of an external event.
    pub location: Option<String>,
    pub channel_id: Option<ChannelId>,
    pub privacy_level: u8,
    pub creator: UserId,
    pub image: Option<String>,
    pub created_at: DateTime<Utc>,
    pub deleted: bool,
    /// Every accepted PATCH body, in order (status changes made by Discord itself at the
    /// start and end time appear as `{"status": 2}` / `{"status": 3}`).
    pub changes: Vec<Value>,
}

/// An uploaded file.
#[derive(Clone, Debug, PartialEq)]
pub struct Attachment {
    pub id: AttachmentId,
    pub filename: String,
    pub content_type: Option<String>,
    pub description: Option<String>,
    pub bytes: Vec<u8>,
}

/// One emoji on a message and who reacted with it.
#[derive(Clone, Debug, PartialEq)]
pub struct Reaction {
    pub emoji: String,
    pub users: Vec<UserId>,
}

/// A message's state before an edit.
#[derive(Clone, Debug, PartialEq)]
pub struct Revision {
    pub content: String,
    pub embeds: Vec<Value>,
    pub components: Vec<Value>,
    /// When this state was replaced.
    pub replaced_at: DateTime<Utc>,
}

/// A message with its history: edits keep the previous states in `revisions`, deletes set
/// `deleted` instead of removing it.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub id: MessageId,
    pub channel_id: ChannelId,
    pub author: UserId,
    /// Whether the author is the bot (messages posted through REST or as interaction responses).
    pub from_bot: bool,
    pub content: String,
    pub embeds: Vec<Value>,
    pub components: Vec<Value>,
    pub attachments: Vec<Attachment>,
    pub flags: u64,
    /// Discord's message type: 0 default, 19 reply, 20 chat-input command response, 6 pin notice.
    pub kind: u8,
    pub pinned: bool,
    pub tts: bool,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    pub reactions: Vec<Reaction>,
    pub allowed_mentions: Option<Value>,
    pub message_reference: Option<Value>,
    /// The interaction this message answers (original response or follow-up).
    pub interaction: Option<InteractionId>,
    pub mentions: Vec<UserId>,
    pub mention_roles: Vec<RoleId>,
    pub mention_everyone: bool,
    /// A thread started from this message.
    pub thread: Option<ChannelId>,
    pub revisions: Vec<Revision>,
}

impl Message {
    /// Whether only the invoking user can see it.
    pub fn ephemeral(&self) -> bool {
        self.flags & FLAG_EPHEMERAL != 0
    }

    /// Content plus every embed's title, description, field names and values and footer, one
    /// per line: convenient for "the bot said something about X" assertions.
    pub fn text(&self) -> String {
        let mut out = vec![self.content.clone()];
        for embed in &self.embeds {
            for key in ["title", "description"] {
                if let Some(s) = embed.get(key).and_then(Value::as_str) {
                    out.push(s.to_string());
                }
            }
            for field in embed
                .get("fields")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for key in ["name", "value"] {
                    if let Some(s) = field.get(key).and_then(Value::as_str) {
                        out.push(s.to_string());
                    }
                }
            }
            if let Some(s) = embed.pointer("/footer/text").and_then(Value::as_str) {
                out.push(s.to_string());
            }
        }
        out.retain(|s| !s.is_empty());
        out.join("\n")
    }

    /// The `custom_id` of every component (buttons, selects), in order.
    pub fn custom_ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        collect_custom_ids(&self.components, &mut ids);
        ids
    }

    /// The component with this `custom_id`, if any.
    pub fn component(&self, custom_id: &str) -> Option<Value> {
        find_component(&self.components, custom_id)
    }

    /// The users who reacted with `emoji`.
    pub fn reactors(&self, emoji: &str) -> Vec<UserId> {
        self.reactions
            .iter()
            .find(|r| r.emoji == emoji)
            .map(|r| r.users.clone())
            .unwrap_or_default()
    }
}

fn collect_custom_ids(components: &[Value], out: &mut Vec<String>) {
    for c in components {
        if let Some(id) = c.get("custom_id").and_then(Value::as_str) {
            out.push(id.to_string());
        }
        if let Some(children) = c.get("components").and_then(Value::as_array) {
            collect_custom_ids(children, out);
        }
        if let Some(accessory) = c.get("accessory") {
            collect_custom_ids(std::slice::from_ref(accessory), out);
        }
    }
}

pub(crate) fn find_component(components: &[Value], custom_id: &str) -> Option<Value> {
    for c in components {
        if c.get("custom_id").and_then(Value::as_str) == Some(custom_id) {
            return Some(c.clone());
        }
        if let Some(children) = c.get("components").and_then(Value::as_array)
            && let Some(found) = find_component(children, custom_id)
        {
            return Some(found);
        }
        if let Some(accessory) = c.get("accessory")
            && let Some(found) = find_component(std::slice::from_ref(accessory), custom_id)
        {
            return Some(found);
        }
    }
    None
}

/// An application command as the bot registered it.
#[derive(Clone, Debug, PartialEq)]
pub struct RegisteredCommand {
    pub id: CommandId,
    /// `None` for a global command.
    pub guild_id: Option<GuildId>,
    pub name: String,
    /// 1 chat input (slash), 2 user, 3 message.
    pub kind: u8,
    pub version: u64,
    /// The full command object as the emulator returns it (what the bot sent plus `id`,
    /// `application_id`, `version`, `type`).
    pub json: Value,
}

/// How the bot answered an interaction (the callback `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackKind {
    Pong,
    /// 4: a message.
    Message,
    /// 5: "thinking…", the real answer comes as an `@original` edit.
    DeferredMessage,
    /// 6: a component click acknowledged without changing anything yet.
    DeferredUpdate,
    /// 7: the clicked message was edited.
    UpdateMessage,
    /// 8: autocomplete choices.
    Autocomplete,
    /// 9: a modal.
    Modal,
    Other(u8),
}

impl CallbackKind {
    pub fn from_code(code: u64) -> Self {
        match code {
            1 => CallbackKind::Pong,
            4 => CallbackKind::Message,
            5 => CallbackKind::DeferredMessage,
            6 => CallbackKind::DeferredUpdate,
            7 => CallbackKind::UpdateMessage,
            8 => CallbackKind::Autocomplete,
            9 => CallbackKind::Modal,
            other => CallbackKind::Other(other as u8),
        }
    }

    /// Whether the answer is still to come as an edit of `@original`.
    pub fn is_deferred(self) -> bool {
        matches!(
            self,
            CallbackKind::DeferredMessage | CallbackKind::DeferredUpdate
        )
    }
}

/// One callback request the bot made for an interaction, accepted or not.
#[derive(Clone, Debug, PartialEq)]
pub struct CallbackAttempt {
    pub kind: CallbackKind,
    /// The HTTP status the emulator answered (204 when accepted).
    pub status: u16,
    /// Discord's JSON error code when rejected (10062, 40060, 50035, ...).
    pub error_code: Option<u64>,
}

/// The accepted callback.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Callback {
    pub kind: CallbackKind,
    pub data: Value,
}

/// What the emulator remembers about an interaction it dispatched.
#[derive(Clone, Debug)]
pub(crate) struct InteractionRecord {
    pub id: InteractionId,
    pub token: String,
    /// 2 command, 3 component, 4 autocomplete, 5 modal submit.
    pub kind: u8,
    pub user: UserId,
    pub channel_id: ChannelId,
    /// The `d` of the INTERACTION_CREATE, kept for redelivery.
    pub payload: Value,
    /// When it was dispatched, on the emulator clock: the 3 s and 15 min rules count from here.
    pub created_at: Instant,
    pub callback: Option<Callback>,
    pub attempts: Vec<CallbackAttempt>,
    /// What `@original` refers to: the response message, or for component interactions
    /// answered with 6/7 the message that holds the component.
    pub original: Option<MessageId>,
    /// Set when `@original` was edited after the callback (the end of a deferred answer).
    pub original_edited: bool,
    pub followups: Vec<MessageId>,
    /// For component interactions: the message that was clicked.
    pub source_message: Option<MessageId>,
}

/// The whole emulated world. One instance, behind the emulator's lock.
#[derive(Debug, Default)]
pub(crate) struct World {
    /// `http://127.0.0.1:PORT`, for attachment URLs the bot may download.
    pub http_base: String,
    pub application_id: u64,
    pub guild_id: GuildId,
    pub guild_name: String,
    pub owner_id: UserId,
    pub guild_created_at: Option<DateTime<Utc>>,
    pub bot: UserId,
    pub roles: Vec<Role>,
    pub users: BTreeMap<UserId, User>,
    pub members: BTreeMap<UserId, Member>,
    pub channels: BTreeMap<ChannelId, Channel>,
    pub messages: BTreeMap<MessageId, Message>,
    pub commands: Vec<RegisteredCommand>,
    pub interactions: BTreeMap<InteractionId, InteractionRecord>,
    /// DM channel per user (the bot's DM with that user).
    pub dm_channels: BTreeMap<UserId, ChannelId>,
    /// Users whose privacy settings refuse DMs from the bot: its messages there get 50007.
    pub dms_closed: std::collections::BTreeSet<UserId>,
    pub scheduled_events: BTreeMap<ScheduledEventId, ScheduledEvent>,
    /// Messages created with `enforce_nonce`: (author, nonce) → the message and when, so the
    /// same nonce within [`crate::validate::NONCE_WINDOW`] returns that message instead of a
    /// new one, as Discord does.
    pub nonces: BTreeMap<(UserId, String), (MessageId, DateTime<Utc>)>,
}

impl World {
    pub(crate) fn channel(&self, id: ChannelId) -> Option<&Channel> {
        self.channels.get(&id).filter(|c| !c.deleted)
    }

    pub(crate) fn live_message(&self, channel: ChannelId, id: MessageId) -> Option<&Message> {
        self.messages
            .get(&id)
            .filter(|m| !m.deleted && m.channel_id == channel)
    }

    pub(crate) fn role(&self, id: RoleId) -> Option<&Role> {
        self.roles.iter().find(|r| r.id == id)
    }

    pub(crate) fn user_name(&self, id: UserId) -> String {
        self.users
            .get(&id)
            .map(|u| u.name.clone())
            .unwrap_or_else(|| format!("user-{id}"))
    }

    /// The guild-level permissions of a member: `@everyone` plus every role; administrator
    /// means everything (docs: topics/permissions, "Permission Hierarchy").
    pub(crate) fn member_permissions(&self, user: UserId) -> u64 {
        if user == self.owner_id {
            return crate::config::permissions::ALL;
        }
        let everyone = self
            .role(RoleId(self.guild_id.0))
            .map(|r| r.permissions)
            .unwrap_or(0);
        let mut perms = everyone;
        if let Some(member) = self.members.get(&user) {
            for role in &member.roles {
                perms |= self.role(*role).map(|r| r.permissions).unwrap_or(0);
            }
        }
        if perms & crate::config::permissions::ADMINISTRATOR != 0 {
            crate::config::permissions::ALL
        } else {
            perms
        }
    }

    /// A member's permissions in a channel, the way Discord computes them
    /// (docs: topics/permissions, "Permission Overwrites", "Implicit Permissions" and
    /// "Inherited Permissions (Threads)"): guild permissions, then the channel's `@everyone`,
    /// role and member overwrites; without VIEW_CHANNEL nothing; without SEND_MESSAGES no
    /// embeds, files, TTS or mass mentions. A thread takes its parent's permissions, needs
    /// SEND_MESSAGES_IN_THREADS to talk, and a private one is seen only by its members and
    /// those with MANAGE_THREADS. In a DM its recipient (and the bot) may view and send.
    pub(crate) fn channel_permissions(&self, user: UserId, channel: ChannelId) -> u64 {
        let Some(c) = self.channel(channel) else {
            return 0;
        };
        if c.kind == ChannelKind::Dm {
            return if c.recipient == Some(user) || user == self.bot {
                perm::VIEW_CHANNEL
                    | perm::SEND_MESSAGES
                    | perm::READ_MESSAGE_HISTORY
                    | perm::ADD_REACTIONS
                    | perm::EMBED_LINKS
                    | perm::ATTACH_FILES
                    | perm::USE_APPLICATION_COMMANDS
            } else {
                0
            };
        }
        if !self.members.contains_key(&user) && user != self.owner_id {
            return 0;
        }
        let base = self.member_permissions(user);
        if base & perm::ADMINISTRATOR != 0 || base == perm::ALL {
            return perm::ALL;
        }
        if c.kind.is_thread() {
            let Some(parent) = c.parent_id else { return 0 };
            let mut p = self.overwritten(base, user, parent);
            if p & perm::VIEW_CHANNEL == 0 {
                return 0;
            }
            if c.kind == ChannelKind::PrivateThread
                && !c.thread_members.contains(&user)
                && p & perm::MANAGE_THREADS == 0
            {
                return 0;
            }
            // SEND_MESSAGES is not inherited: SEND_MESSAGES_IN_THREADS decides.
            p &= !perm::SEND_MESSAGES;
            if p & perm::SEND_MESSAGES_IN_THREADS != 0 {
                p |= perm::SEND_MESSAGES;
            }
            return implicit(p);
        }
        implicit(self.overwritten(base, user, channel))
    }

    /// `base` with the channel's overwrites applied in Discord's order.
    fn overwritten(&self, base: u64, user: UserId, channel: ChannelId) -> u64 {
        let Some(c) = self.channels.get(&channel) else {
            return 0;
        };
        let overwrites = c.overwrites();
        let mut p = base;
        if let Some(o) = overwrites
            .iter()
            .find(|o| o.kind == OverwriteKind::Role && o.id == self.guild_id.0)
        {
            p &= !o.deny;
            p |= o.allow;
        }
        let roles = self
            .members
            .get(&user)
            .map(|m| m.roles.as_slice())
            .unwrap_or(&[]);
        let (mut allow, mut deny) = (0, 0);
        for o in overwrites
            .iter()
            .filter(|o| o.kind == OverwriteKind::Role && roles.iter().any(|r| r.0 == o.id))
        {
            allow |= o.allow;
            deny |= o.deny;
        }
        p &= !deny;
        p |= allow;
        if let Some(o) = overwrites
            .iter()
            .find(|o| o.kind == OverwriteKind::Member && o.id == user.0)
        {
            p &= !o.deny;
            p |= o.allow;
        }
        p
    }

    /// Whether the channel is a guild channel (not a DM).
    pub(crate) fn is_guild_channel(&self, id: ChannelId) -> bool {
        self.channels
            .get(&id)
            .is_some_and(|c| c.kind != ChannelKind::Dm)
    }

    pub(crate) fn channel_messages(&self, channel: ChannelId) -> Vec<&Message> {
        self.messages
            .values()
            .filter(|m| m.channel_id == channel)
            .collect()
    }
}

/// Discord's implicit denials: no VIEW_CHANNEL means nothing; no SEND_MESSAGES means no
/// mass mentions, TTS, files or embeds.
fn implicit(p: u64) -> u64 {
    if p & perm::VIEW_CHANNEL == 0 {
        return 0;
    }
    if p & perm::SEND_MESSAGES == 0 {
        return p & !(perm::MENTION_EVERYONE
            | perm::SEND_TTS_MESSAGES
            | perm::ATTACH_FILES
            | perm::EMBED_LINKS);
    }
    p
}
