//! The conversation API tests use: an [`Actor`] says, edits, reacts, runs commands and clicks;
//! an [`Interaction`] tells what the bot answered.

use std::time::Duration;

use serde_json::{Value, json};

use crate::command_line;
use crate::config::permissions;
use crate::emulator::Emulator;
use crate::error::{Error, Result};
use crate::gateway::Gate;
use crate::ids::{ChannelId, InteractionId, MessageId, UserId};
use crate::json;
use crate::model::{CallbackAttempt, CallbackKind, ChannelKind, InteractionRecord, Message};
use crate::ops::{self, NewMessage};
use crate::state::{Shared, State, UploadedFile};
use crate::validate::FILE_SIZE_LIMIT;

/// What an actor is about to do in a channel (for [`Actor::allowed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    View,
    Post,
    React,
    Command,
    Interact,
}

impl Act {
    fn verb(self) -> &'static str {
        match self {
            Act::View => "see anything",
            Act::Post => "send messages",
            Act::React => "react or edit",
            Act::Command => "use commands",
            Act::Interact => "use components",
        }
    }
}

/// A user acting in the guild (or in a DM with the bot).
#[derive(Clone)]
pub struct Actor {
    emu: Emulator,
    id: UserId,
}

/// One autocomplete choice the bot offered.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub name: String,
    pub value: Value,
}

/// A modal the bot opened (callback type 9).
#[derive(Clone, Debug, PartialEq)]
pub struct Modal {
    pub custom_id: String,
    pub title: String,
    pub components: Vec<Value>,
}

impl Modal {
    /// The `custom_id` of every text input, in order.
    pub fn field_ids(&self) -> Vec<String> {
        let mut out = Vec::new();
        for_each_text_input(&self.components, &mut |c| {
            if let Some(id) = c.get("custom_id").and_then(Value::as_str) {
                out.push(id.to_string());
            }
        });
        out
    }
}

fn for_each_text_input(list: &[Value], f: &mut impl FnMut(&Value)) {
    for c in list {
        match c.get("type").and_then(Value::as_u64) {
            Some(4) => f(c),
            _ => {
                if let Some(children) = c.get("components").and_then(Value::as_array) {
                    for_each_text_input(children, f);
                }
                if let Some(child) = c.get("component") {
                    for_each_text_input(std::slice::from_ref(child), f);
                }
            }
        }
    }
}

/// What the bot answered to an interaction.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    pub kind: CallbackKind,
    /// The callback's `data` as the bot sent it.
    pub data: Value,
    /// The message the answer lives in now: the response message (types 4, 5), or the clicked
    /// message (types 6, 7), with any later `@original` edits applied.
    pub message: Option<Message>,
    /// Autocomplete choices (type 8).
    pub choices: Vec<Choice>,
    /// The modal (type 9).
    pub modal: Option<Modal>,
}

impl Response {
    pub fn content(&self) -> &str {
        self.message
            .as_ref()
            .map(|m| m.content.as_str())
            .unwrap_or("")
    }

    /// Content plus embed text (see [`Message::text`]).
    pub fn text(&self) -> String {
        self.message.as_ref().map(Message::text).unwrap_or_default()
    }

    pub fn ephemeral(&self) -> bool {
        self.message.as_ref().is_some_and(Message::ephemeral)
            || self
                .data
                .get("flags")
                .and_then(Value::as_u64)
                .is_some_and(|f| f & crate::model::FLAG_EPHEMERAL != 0)
    }

    pub fn embeds(&self) -> &[Value] {
        self.message
            .as_ref()
            .map(|m| m.embeds.as_slice())
            .unwrap_or(&[])
    }

    pub fn components(&self) -> &[Value] {
        self.message
            .as_ref()
            .map(|m| m.components.as_slice())
            .unwrap_or(&[])
    }

    pub fn attachments(&self) -> &[crate::model::Attachment] {
        self.message
            .as_ref()
            .map(|m| m.attachments.as_slice())
            .unwrap_or(&[])
    }

    pub fn allowed_mentions(&self) -> Option<&Value> {
        self.message
            .as_ref()
            .and_then(|m| m.allowed_mentions.as_ref())
    }
}

/// An interaction the emulator dispatched to the bot.
#[derive(Clone)]
pub struct Interaction {
    emu: Emulator,
    id: InteractionId,
    token: String,
}

// Eight plain inputs, each a distinct part of the payload; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
fn interaction_payload(
    shared: &Shared,
    st: &State,
    id: InteractionId,
    token: &str,
    kind: u8,
    user: UserId,
    channel: ChannelId,
    data: Value,
) -> Value {
    let w = &st.world;
    let ch = w.channels.get(&channel);
    let guild = w.is_guild_channel(channel);
    let mut partial_channel =
        json!({"id": channel.to_string(), "type": ch.map(|c| c.kind.code()).unwrap_or(0)});
    if let Some(c) = ch.filter(|_| guild) {
        partial_channel["name"] = json!(c.name);
        partial_channel["guild_id"] = json!(w.guild_id.to_string());
        partial_channel["permissions"] = json!(w.member_permissions(user).to_string());
        if let Some(p) = c.parent_id {
            partial_channel["parent_id"] = json!(p.to_string());
        }
    }
    let mut d = json!({
        "id": id.to_string(),
        "application_id": shared.config.application_id.to_string(),
        "type": kind,
        "token": token,
        "version": 1,
        "locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": FILE_SIZE_LIMIT,
        "channel_id": channel.to_string(),
        "channel": partial_channel,
        "data": data,
        "app_permissions": shared.config.bot_permissions.to_string(),
        "context": if guild { 0 } else { 1 },
    });
    if guild {
        d["guild_id"] = json!(w.guild_id.to_string());
        d["guild_locale"] = json!("en-US");
        d["guild"] = json!({"id": w.guild_id.to_string(), "locale": "en-US", "features": []});
        d["member"] = json::member_with_permissions(w, user);
        d["authorizing_integration_owners"] = json!({"0": w.guild_id.to_string()});
    } else {
        d["user"] = json::user(w, user);
        d["authorizing_integration_owners"] = json!({"0": w.guild_id.to_string()});
    }
    d
}

/// An interaction needs a bot to receive it: checked before anything else.
fn require_session(st: &State) -> Result<()> {
    if !st.gateway.has_session() {
        return Err(Error::NotConnected(
            "the bot has no gateway session, so it cannot receive an interaction; await emu.wait_connected() first".into(),
        ));
    }
    Ok(())
}

/// Records and dispatches an INTERACTION_CREATE; fails if the bot has no session to get it.
fn dispatch_interaction(
    shared: &Shared,
    st: &mut State,
    kind: u8,
    user: UserId,
    channel: ChannelId,
    data: Value,
    source: Option<MessageId>,
) -> Result<(InteractionId, String)> {
    require_session(st)?;
    let id = InteractionId(st.next_id(&shared.clock));
    let token = format!("emulator-interaction-token-{id}");
    let mut d = interaction_payload(shared, st, id, &token, kind, user, channel, data);
    if let Some(m) = source.and_then(|m| st.world.messages.get(&m)) {
        d["message"] = json::message_dispatch(&st.world, m);
    }
    if let Some(other) = st.foreign_guild_next.take() {
        let other = json!(other.to_string());
        d["guild_id"] = other.clone();
        d["guild"]["id"] = other.clone();
        d["channel"]["guild_id"] = other.clone();
        d["authorizing_integration_owners"]["0"] = other;
    }
    st.world.interactions.insert(
        id,
        InteractionRecord {
            id,
            token: token.clone(),
            kind,
            user,
            channel_id: channel,
            payload: d.clone(),
            created_at: shared.clock.now(),
            callback: None,
            attempts: Vec::new(),
            original: None,
            original_edited: false,
            followups: Vec::new(),
            source_message: source,
        },
    );
    st.gateway
        .dispatch("INTERACTION_CREATE", d, Gate::default());
    Ok((id, token))
}

impl Actor {
    pub(crate) fn new(emu: Emulator, id: UserId) -> Self {
        Self { emu, id }
    }

    pub fn id(&self) -> UserId {
        self.id
    }

    pub fn name(&self) -> String {
        self.emu.user_name(self.id)
    }

    /// `<@id>`, for content that mentions this user.
    pub fn mention(&self) -> String {
        format!("<@{}>", self.id)
    }

    fn shared(&self) -> &Shared {
        &self.emu.shared
    }

    fn live_channel(st: &State, channel: ChannelId) -> Result<()> {
        match st.world.channel(channel) {
            Some(c) if c.kind != ChannelKind::Category => Ok(()),
            Some(c) => Err(Error::Invalid(format!(
                "#{} is a category; nobody can post in it",
                c.name
            ))),
            None => Err(Error::NotFound(format!("no channel {channel}"))),
        }
    }

    /// What a Discord client lets this user do in `channel`: nothing in a forum itself but
    /// create posts; in an archived thread only post (which unarchives it) unless it is also
    /// locked; in a locked thread nothing without MANAGE_THREADS; and, with
    /// [`crate::EmulatorConfig::enforce_member_permissions`], only what their permissions
    /// there allow.
    fn allowed(&self, st: &State, channel: ChannelId, act: Act) -> Result<()> {
        Self::live_channel(st, channel)?;
        let c = &st.world.channels[&channel];
        let who = st.world.user_name(self.id);
        let perms = st.world.channel_permissions(self.id, channel);
        if c.kind == ChannelKind::Forum && act != Act::View {
            return Err(Error::Invalid(format!(
                "#{} is a forum: people talk in its posts, not in the forum itself",
                c.name
            )));
        }
        if c.kind.is_thread() {
            let moderator = perms & permissions::MANAGE_THREADS != 0;
            if c.archived && (act != Act::Post || c.locked) {
                return Err(Error::Invalid(format!(
                    "thread #{} is archived{}: Discord's client does not let {who} {} there",
                    c.name,
                    if c.locked { " and locked" } else { "" },
                    act.verb()
                )));
            }
            if c.locked && !moderator && act != Act::View {
                return Err(Error::Invalid(format!(
                    "thread #{} is locked: only members with Manage Threads can {} there",
                    c.name,
                    act.verb()
                )));
            }
        }
        if self.emu.shared.config.enforce_member_permissions {
            let need = match act {
                Act::Post => permissions::SEND_MESSAGES,
                Act::React => permissions::ADD_REACTIONS,
                Act::Command => permissions::USE_APPLICATION_COMMANDS,
                Act::View | Act::Interact => permissions::VIEW_CHANNEL,
            } | permissions::VIEW_CHANNEL;
            if perms & need != need {
                return Err(Error::Invalid(format!(
                    "{who} cannot {} in #{}: their permissions there are {perms:#x}",
                    act.verb(),
                    c.name
                )));
            }
        }
        Ok(())
    }

    /// This user's permissions in `channel` (see [`Emulator::permissions_in`]).
    pub fn permissions_in(&self, channel: ChannelId) -> u64 {
        self.emu.permissions_in(self.id, channel)
    }

    /// Whether this user can see `channel`.
    pub fn can_view(&self, channel: ChannelId) -> bool {
        self.emu.can_view(self.id, channel)
    }

    /// Whether this user can post in `channel`.
    pub fn can_send(&self, channel: ChannelId) -> bool {
        self.emu.can_send(self.id, channel)
    }

    /// Joins a public thread (THREAD_MEMBERS_UPDATE); private threads need an invitation
    /// ([`Emulator::add_thread_member`] or the bot's `PUT .../thread-members/{user}`).
    pub fn join_thread(&self, thread: ChannelId) -> Result<()> {
        self.shared().with(|st| {
            self.allowed(st, thread, Act::View)?;
            let t = &st.world.channels[&thread];
            match t.kind {
                ChannelKind::PublicThread if !t.archived => {
                    ops::set_thread_member(st, thread, self.id, true);
                    Ok(())
                }
                ChannelKind::PublicThread => Err(Error::Invalid(format!(
                    "thread #{} is archived; nobody can join it",
                    t.name
                ))),
                _ => Err(Error::Invalid(format!(
                    "#{} is not a public thread; {} needs to be added",
                    t.name,
                    st.world.user_name(self.id)
                ))),
            }
        })
    }

    /// Runs a slash command in `channel`, e.g. `/incident open title:"Checkout is down" severity:SEV2`.
    /// The line is checked against what the bot registered (subcommands, option names and
    /// types, choices, required options); a line a Discord client would refuse is an error.
    pub fn run(&self, channel: ChannelId, line: &str) -> Result<Interaction> {
        self.run_at(Some(channel), line)
    }

    /// Runs a global slash command in this user's DM with the bot.
    pub fn run_in_dm(&self, line: &str) -> Result<Interaction> {
        self.run_at(None, line)
    }

    fn run_at(&self, channel: Option<ChannelId>, line: &str) -> Result<Interaction> {
        let shared = self.shared();
        let (id, token) = shared.with(|st| {
            require_session(st)?;
            let channel = match channel {
                Some(c) => {
                    self.allowed(st, c, Act::Command)?;
                    c
                }
                None => ops::dm_channel(shared, st, self.id),
            };
            let in_dm = !st.world.is_guild_channel(channel);
            let (cmd, args) =
                command_line::find_command(&st.world, line, in_dm).map_err(Error::Invalid)?;
            let built = command_line::build(&st.world, cmd, &args, None).map_err(Error::Invalid)?;
            let data = command_data(cmd, built);
            dispatch_interaction(shared, st, 2, self.id, channel, data, None)
        })?;
        Ok(Interaction::new(self.emu.clone(), id, token))
    }

    /// Types a command line in `channel` with one option left as `name:` and `partial` typed
    /// into it; returns the choices the bot answered (callback type 8).
    pub async fn autocomplete(
        &self,
        channel: ChannelId,
        line: &str,
        partial: &str,
    ) -> Result<Vec<Choice>> {
        let shared = self.shared();
        let (id, token) = shared.with(|st| {
            require_session(st)?;
            self.allowed(st, channel, Act::Command)?;
            let (cmd, args) =
                command_line::find_command(&st.world, line, false).map_err(Error::Invalid)?;
            let built = command_line::build(&st.world, cmd, &args, Some(partial))
                .map_err(Error::Invalid)?;
            let data = command_data(cmd, built);
            dispatch_interaction(shared, st, 4, self.id, channel, data, None)
        })?;
        let interaction = Interaction::new(self.emu.clone(), id, token);
        let response = interaction.response().await?;
        if response.kind != CallbackKind::Autocomplete {
            return Err(Error::Invalid(format!(
                "the bot answered an autocomplete with callback {:?}",
                response.kind
            )));
        }
        Ok(response.choices)
    }

    fn post(&self, channel: ChannelId, body: Value, files: Vec<UploadedFile>) -> Result<MessageId> {
        let shared = self.shared();
        shared.with(|st| {
            self.allowed(st, channel, Act::Post)?;
            ops::unarchive_on_message(shared, st, channel);
            let new = NewMessage {
                channel,
                author: self.id,
                body: &body,
                files: &files,
                kind: None,
                interaction: None,
                extra_flags: 0,
                id: None,
            };
            Ok(ops::create_message(shared, st, new))
        })
    }

    /// Posts a message (MESSAGE_CREATE with `guild_id` and the partial `member`).
    pub fn say(&self, channel: ChannelId, text: &str) -> Result<MessageId> {
        self.post(channel, json!({"content": text}), Vec::new())
    }

    /// Posts a message with one file.
    pub fn say_with_attachment(
        &self,
        channel: ChannelId,
        text: &str,
        filename: &str,
        bytes: &[u8],
    ) -> Result<MessageId> {
        let file = UploadedFile {
            field: "files[0]".into(),
            filename: filename.into(),
            content_type: None,
            bytes: bytes.to_vec(),
        };
        self.post(
            channel,
            json!({"content": text, "attachments": [{"id": 0, "filename": filename}]}),
            vec![file],
        )
    }

    /// Replies to a message (type 19 with `message_reference`).
    pub fn reply(&self, to: MessageId, text: &str) -> Result<MessageId> {
        let channel = self
            .emu
            .message(to)
            .filter(|m| !m.deleted)
            .ok_or_else(|| Error::NotFound(format!("no message {to}")))?
            .channel_id;
        self.post(channel, json!({"content": text, "message_reference": {"message_id": to.to_string(), "channel_id": channel.to_string()}}), Vec::new())
    }

    /// The DM channel between this user and the bot.
    pub fn dm_channel(&self) -> ChannelId {
        let shared = self.shared();
        shared.with(|st| ops::dm_channel(shared, st, self.id))
    }

    /// Sends the bot a DM.
    pub fn say_in_dm(&self, text: &str) -> Result<MessageId> {
        let c = self.dm_channel();
        self.say(c, text)
    }

    fn own_live_message(&self, st: &State, msg: MessageId, what: &str) -> Result<()> {
        let m = st
            .world
            .messages
            .get(&msg)
            .filter(|m| !m.deleted)
            .ok_or_else(|| Error::NotFound(format!("no message {msg}")))?;
        let may = m.author == self.id
            || (what == "delete"
                && st.world.member_permissions(self.id) & permissions::MANAGE_MESSAGES != 0);
        if !may {
            return Err(Error::Invalid(format!(
                "{} cannot {what} message {msg}: it is not theirs",
                st.world.user_name(self.id)
            )));
        }
        Ok(())
    }

    /// Edits one of this user's messages (MESSAGE_UPDATE).
    pub fn edit(&self, msg: MessageId, text: &str) -> Result<()> {
        let shared = self.shared();
        shared.with(|st| {
            self.own_live_message(st, msg, "edit")?;
            self.allowed(st, st.world.messages[&msg].channel_id, Act::React)?;
            ops::edit_message(shared, st, msg, &json!({"content": text}), &[]);
            Ok(())
        })
    }

    /// Deletes a message: their own, or anyone's with Manage Messages (MESSAGE_DELETE).
    pub fn delete(&self, msg: MessageId) -> Result<()> {
        let shared = self.shared();
        shared.with(|st| {
            self.own_live_message(st, msg, "delete")?;
            ops::delete_message(shared, st, msg);
            Ok(())
        })
    }

    fn with_live_message<R>(
        &self,
        msg: MessageId,
        f: impl FnOnce(&Shared, &mut State) -> R,
    ) -> Result<R> {
        let shared = self.shared();
        shared.with(|st| {
            let Some(m) = st.world.messages.get(&msg).filter(|m| !m.deleted) else {
                return Err(Error::NotFound(format!("no message {msg}")));
            };
            self.allowed(st, m.channel_id, Act::React)?;
            Ok(f(shared, st))
        })
    }

    /// Reacts (MESSAGE_REACTION_ADD). Custom emoji are written `name:id`.
    pub fn react(&self, msg: MessageId, emoji: &str) -> Result<()> {
        self.with_live_message(msg, |_, st| ops::add_reaction(st, msg, self.id, emoji))
    }

    /// Removes a reaction (MESSAGE_REACTION_REMOVE).
    pub fn unreact(&self, msg: MessageId, emoji: &str) -> Result<()> {
        self.with_live_message(msg, |_, st| ops::remove_reaction(st, msg, self.id, emoji))
    }

    /// Pins a message (CHANNEL_PINS_UPDATE and the "pinned a message" system message).
    pub fn pin(&self, msg: MessageId) -> Result<()> {
        self.with_live_message(msg, |shared, st| {
            ops::set_pinned(shared, st, msg, self.id, true)
        })
    }

    pub fn unpin(&self, msg: MessageId) -> Result<()> {
        self.with_live_message(msg, |shared, st| {
            ops::set_pinned(shared, st, msg, self.id, false)
        })
    }

    fn component_interaction(
        &self,
        msg: MessageId,
        custom_id: &str,
        values: Option<&[&str]>,
    ) -> Result<Interaction> {
        let shared = self.shared();
        let (id, token) = shared.with(|st| {
            require_session(st)?;
            let m = st
                .world
                .messages
                .get(&msg)
                .filter(|m| !m.deleted)
                .ok_or_else(|| Error::NotFound(format!("no message {msg}")))?;
            let Some(component) = m.component(custom_id) else {
                return Err(Error::NotFound(format!(
                    "message {msg} has no component {custom_id:?}; it has {:?}",
                    m.custom_ids()
                )));
            };
            if component.get("disabled").and_then(Value::as_bool) == Some(true) {
                return Err(Error::Invalid(format!(
                    "component {custom_id:?} is disabled"
                )));
            }
            let ctype = component.get("type").and_then(Value::as_u64).unwrap_or(0);
            let mut data = json!({"custom_id": custom_id, "component_type": ctype});
            match (ctype, values) {
                (2, None) => {}
                (2, Some(_)) => {
                    return Err(Error::Invalid(format!(
                        "{custom_id:?} is a button; use click"
                    )));
                }
                (_, None) => {
                    return Err(Error::Invalid(format!(
                        "{custom_id:?} is a select menu; use select"
                    )));
                }
                (_, Some(v)) => {
                    let resolved = select_values(&st.world, &component, custom_id, v)?;
                    data["values"] = json!(v);
                    if !resolved.is_empty() {
                        data["resolved"] = Value::Object(resolved);
                    }
                }
            }
            let channel = m.channel_id;
            self.allowed(st, channel, Act::Interact)?;
            dispatch_interaction(shared, st, 3, self.id, channel, data, Some(msg))
        })?;
        Ok(Interaction::new(self.emu.clone(), id, token))
    }

    /// Clicks a button (INTERACTION_CREATE type 3 with the full `message`). Works in guild
    /// channels and DMs (there the interaction carries `user` instead of `member`).
    pub fn click(&self, msg: MessageId, custom_id: &str) -> Result<Interaction> {
        self.component_interaction(msg, custom_id, None)
    }

    /// Picks values in a select menu, as Discord's client lets a user: between `min_values`
    /// and `max_values` of them (1 and 1 by default), each once; in a string select (type 3)
    /// only the options' values; in user, role, mentionable and channel selects (5-8) ids of
    /// existing users, roles or channels (put in `data.resolved`).
    pub fn select(&self, msg: MessageId, custom_id: &str, values: &[&str]) -> Result<Interaction> {
        self.component_interaction(msg, custom_id, Some(values))
    }

    /// Submits the modal the bot opened in answer to `opened_by` (type 5, MODAL_SUBMIT), with
    /// `fields` as `(custom_id, value)`. Inputs not given keep their pre-filled `value` (or
    /// are empty). Checked as Discord's client checks them: a `required` input (the default)
    /// cannot be empty, and a value must fit `min_length`/`max_length` (at most 4000).
    pub async fn submit_modal(
        &self,
        opened_by: &Interaction,
        fields: &[(&str, &str)],
    ) -> Result<Interaction> {
        self.submit_modal_as(opened_by, fields, true).await
    }

    /// [`Self::submit_modal`] without the client's checks: what a bot's own validation must
    /// cope with if a client (or a change of the modal between opening and submitting) lets
    /// an empty or over-long value through.
    pub async fn submit_modal_unchecked(
        &self,
        opened_by: &Interaction,
        fields: &[(&str, &str)],
    ) -> Result<Interaction> {
        self.submit_modal_as(opened_by, fields, false).await
    }

    async fn submit_modal_as(
        &self,
        opened_by: &Interaction,
        fields: &[(&str, &str)],
        client_checks: bool,
    ) -> Result<Interaction> {
        let response = opened_by.response().await?;
        let modal = response.modal.ok_or_else(|| {
            Error::Invalid(format!(
                "the bot answered with {:?}, not a modal",
                response.kind
            ))
        })?;
        let ids = modal.field_ids();
        if let Some((bad, _)) = fields.iter().find(|(f, _)| !ids.iter().any(|i| i == f)) {
            return Err(Error::Invalid(format!(
                "the modal has no field {bad:?}; it has {ids:?}"
            )));
        }
        let mut problems = Vec::new();
        let mut answer = |input: &Value| {
            let id = input.get("custom_id").and_then(Value::as_str).unwrap_or("");
            let value = fields
                .iter()
                .find(|(f, _)| *f == id)
                .map(|(_, v)| v.to_string())
                .or_else(|| {
                    input
                        .get("value")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_default();
            if client_checks && let Some(problem) = text_input_problem(input, &value) {
                problems.push(format!("{id:?} {problem}"));
            }
            json!({"type": 4, "custom_id": id, "value": value})
        };
        let components: Vec<Value> = modal
            .components
            .iter()
            .map(|c| match c.get("type").and_then(Value::as_u64) {
                Some(18) => {
                    let inner = c.get("component").map(&mut answer).unwrap_or(json!(null));
                    json!({"type": 18, "component": inner})
                }
                _ => {
                    let inner: Vec<Value> = c
                        .get("components")
                        .and_then(Value::as_array)
                        .map(|l| l.iter().map(&mut answer).collect())
                        .unwrap_or_default();
                    json!({"type": 1, "components": inner})
                }
            })
            .collect();
        if !problems.is_empty() {
            return Err(Error::Invalid(format!(
                "Discord's client would not submit this modal: {}",
                problems.join("; ")
            )));
        }
        let shared = self.shared();
        let (source, channel) = shared.read(|st| {
            let r = &st.world.interactions[&opened_by.id];
            (r.source_message, r.channel_id)
        });
        let data = json!({"custom_id": modal.custom_id, "components": components});
        let (id, token) = shared
            .with(|st| dispatch_interaction(shared, st, 5, self.id, channel, data, source))?;
        Ok(Interaction::new(self.emu.clone(), id, token))
    }

    /// Uses a message context-menu command (application command type 3, e.g. "Open incident
    /// from message") on `msg`: INTERACTION_CREATE type 2 with `data.type` 3,
    /// `data.target_id` and the message in `data.resolved.messages` (content included, as
    /// Discord sends context-menu targets whatever the intents).
    pub fn use_message_command(&self, msg: MessageId, name: &str) -> Result<Interaction> {
        let shared = self.shared();
        let (id, token) = shared.with(|st| {
            require_session(st)?;
            let m = st
                .world
                .messages
                .get(&msg)
                .filter(|m| !m.deleted)
                .ok_or_else(|| Error::NotFound(format!("no message {msg}")))?;
            let channel = m.channel_id;
            self.allowed(st, channel, Act::Command)?;
            let in_dm = !st.world.is_guild_channel(channel);
            let cmd = context_command(&st.world, name, MESSAGE_COMMAND, in_dm)?;
            let mut data = json!({
                "id": cmd.id.to_string(),
                "name": cmd.name,
                "type": MESSAGE_COMMAND,
                "target_id": msg.to_string(),
                "resolved": {"messages": {msg.to_string(): json::message(&st.world, m)}},
            });
            if let Some(g) = cmd.guild_id {
                data["guild_id"] = json!(g.to_string());
            }
            dispatch_interaction(shared, st, 2, self.id, channel, data, None)
        })?;
        Ok(Interaction::new(self.emu.clone(), id, token))
    }

    /// Uses a user context-menu command (type 2) on `target`, from `channel`.
    pub fn use_user_command(
        &self,
        channel: ChannelId,
        target: UserId,
        name: &str,
    ) -> Result<Interaction> {
        let shared = self.shared();
        let (id, token) = shared.with(|st| {
            require_session(st)?;
            self.allowed(st, channel, Act::Command)?;
            if !st.world.users.contains_key(&target) {
                return Err(Error::NotFound(format!("no user {target}")));
            }
            let cmd = context_command(&st.world, name, USER_COMMAND, false)?;
            let mut resolved = serde_json::Map::new();
            command_line::resolved_user(&st.world, target, &mut resolved);
            let mut data = json!({
                "id": cmd.id.to_string(),
                "name": cmd.name,
                "type": USER_COMMAND,
                "target_id": target.to_string(),
                "resolved": resolved,
            });
            if let Some(g) = cmd.guild_id {
                data["guild_id"] = json!(g.to_string());
            }
            dispatch_interaction(shared, st, 2, self.id, channel, data, None)
        })?;
        Ok(Interaction::new(self.emu.clone(), id, token))
    }
}

/// Application command types of context-menu commands.
const USER_COMMAND: u8 = 2;
const MESSAGE_COMMAND: u8 = 3;

/// The registered context-menu command of `kind` named `name` (guild scope first).
fn context_command<'a>(
    w: &'a crate::model::World,
    name: &str,
    kind: u8,
    in_dm: bool,
) -> Result<&'a crate::model::RegisteredCommand> {
    let mut found: Vec<_> = w
        .commands
        .iter()
        .filter(|c| c.kind == kind && c.name == name && (!in_dm || c.guild_id.is_none()))
        .collect();
    found.sort_by_key(|c| c.guild_id.is_none());
    found.first().copied().ok_or_else(|| {
        let known: Vec<&str> = w
            .commands
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.name.as_str())
            .collect();
        let what = if kind == MESSAGE_COMMAND {
            "message"
        } else {
            "user"
        };
        Error::Invalid(format!(
            "no registered {what} command {name:?}; the bot registered {known:?}"
        ))
    })
}

/// Why Discord's client would not submit `value` for this text input, if it would not.
fn text_input_problem(input: &Value, value: &str) -> Option<String> {
    let n = value.chars().count();
    let required = input
        .get("required")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    if n == 0 {
        return required.then(|| "is required".to_string());
    }
    let min = input.get("min_length").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = input
        .get("max_length")
        .and_then(Value::as_u64)
        .map(|m| m as usize)
        .unwrap_or(crate::validate::TEXT_INPUT_VALUE_LIMIT);
    if n < min {
        return Some(format!("needs at least {min} characters, got {n}"));
    }
    if n > max {
        return Some(format!("takes at most {max} characters, got {n}"));
    }
    None
}

/// Checks picked values the way Discord's client restricts them and builds `data.resolved`
/// for user, role, mentionable and channel selects.
fn select_values(
    w: &crate::model::World,
    component: &Value,
    custom_id: &str,
    values: &[&str],
) -> Result<serde_json::Map<String, Value>> {
    let ctype = component.get("type").and_then(Value::as_u64).unwrap_or(0);
    let min = component
        .get("min_values")
        .and_then(Value::as_u64)
        .unwrap_or(1) as usize;
    let max = component
        .get("max_values")
        .and_then(Value::as_u64)
        .unwrap_or(1) as usize;
    if values.len() < min || values.len() > max {
        return Err(Error::Invalid(format!(
            "select {custom_id:?} takes {min} to {max} value(s); got {}",
            values.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = values.iter().find(|v| !seen.insert(**v)) {
        return Err(Error::Invalid(format!(
            "{dup:?} is picked twice in select {custom_id:?}"
        )));
    }
    let mut resolved = serde_json::Map::new();
    let parse = |v: &str| v.parse::<u64>().ok();
    for v in values {
        match ctype {
            3 => {
                let options: Vec<&str> = component
                    .get("options")
                    .and_then(Value::as_array)
                    .map(|l| {
                        l.iter()
                            .filter_map(|o| o.get("value").and_then(Value::as_str))
                            .collect()
                    })
                    .unwrap_or_default();
                if !options.contains(v) {
                    return Err(Error::Invalid(format!(
                        "{v:?} is not an option of select {custom_id:?}; its options are {options:?}"
                    )));
                }
            }
            5 | 7 if parse(v).is_some_and(|u| w.users.contains_key(&UserId(u))) => {
                command_line::resolved_user(w, UserId(parse(v).expect("checked")), &mut resolved);
            }
            6 | 7
                if parse(v)
                    .and_then(|r| w.role(crate::ids::RoleId(r)))
                    .is_some() =>
            {
                let role = w
                    .role(crate::ids::RoleId(parse(v).expect("checked")))
                    .expect("checked");
                command_line::add_resolved(
                    &mut resolved,
                    "roles",
                    v.to_string(),
                    json::role(w, role),
                );
            }
            8 if parse(v).and_then(|c| w.channel(ChannelId(c))).is_some() => {
                let c = w
                    .channel(ChannelId(parse(v).expect("checked")))
                    .expect("checked");
                let mut pc = json!({"id": c.id.to_string(), "name": c.name, "type": c.kind.code(), "permissions": permissions::ALL.to_string()});
                if let Some(p) = c.parent_id {
                    pc["parent_id"] = json!(p.to_string());
                }
                command_line::add_resolved(&mut resolved, "channels", v.to_string(), pc);
            }
            5..=8 => {
                return Err(Error::Invalid(format!(
                    "{v:?} is not something select {custom_id:?} (type {ctype}) can pick"
                )));
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "{custom_id:?} is a component of type {ctype}, not a select menu"
                )));
            }
        }
    }
    Ok(resolved)
}

fn command_data(cmd: &crate::model::RegisteredCommand, built: command_line::Built) -> Value {
    let mut data = json!({"id": cmd.id.to_string(), "name": cmd.name, "type": cmd.kind, "options": built.options});
    if !built.resolved.is_empty() {
        data["resolved"] = Value::Object(built.resolved);
    }
    if let Some(g) = cmd.guild_id {
        data["guild_id"] = json!(g.to_string());
    }
    data
}

impl Interaction {
    pub(crate) fn new(emu: Emulator, id: InteractionId, token: String) -> Self {
        Self { emu, id, token }
    }

    pub fn id(&self) -> InteractionId {
        self.id
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Who triggered it.
    pub fn user(&self) -> UserId {
        self.emu
            .shared
            .read(|st| st.world.interactions[&self.id].user)
    }

    /// The `d` of the INTERACTION_CREATE that was dispatched.
    pub fn payload(&self) -> Value {
        self.emu
            .shared
            .read(|st| st.world.interactions[&self.id].payload.clone())
    }

    fn snapshot(st: &State, id: InteractionId) -> Option<Response> {
        let rec = &st.world.interactions[&id];
        let cb = rec.callback.as_ref()?;
        let message = rec
            .original
            .and_then(|m| st.world.messages.get(&m))
            .cloned();
        let choices = cb
            .data
            .get("choices")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .map(|c| Choice {
                        name: c
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        value: c.get("value").cloned().unwrap_or(Value::Null),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let modal = (cb.kind == CallbackKind::Modal).then(|| Modal {
            custom_id: cb
                .data
                .get("custom_id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            title: cb
                .data
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            components: cb
                .data
                .get("components")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        });
        Some(Response {
            kind: cb.kind,
            data: cb.data.clone(),
            message,
            choices,
            modal,
        })
    }

    /// The answer so far, if the bot has answered.
    pub fn current_response(&self) -> Option<Response> {
        self.emu.shared.read(|st| Self::snapshot(st, self.id))
    }

    /// Waits (the configured default timeout) for the bot's accepted callback.
    pub async fn response(&self) -> Result<Response> {
        self.response_within(self.emu.shared.config.wait_timeout)
            .await
    }

    pub async fn response_within(&self, timeout: Duration) -> Result<Response> {
        let id = self.id;
        self.emu
            .shared
            .wait_until(
                || format!("the bot to answer interaction {id}"),
                timeout,
                |st| Self::snapshot(st, id),
            )
            .await
    }

    /// Waits for the final answer: for deferred callbacks (5, 6), until `@original` was edited.
    pub async fn wait_final_response(&self) -> Result<Response> {
        self.wait_final_response_within(self.emu.shared.config.wait_timeout)
            .await
    }

    pub async fn wait_final_response_within(&self, timeout: Duration) -> Result<Response> {
        let id = self.id;
        self.emu
            .shared
            .wait_until(
                || format!("the final (edited @original) answer to interaction {id}"),
                timeout,
                |st| {
                    let r = Self::snapshot(st, id)?;
                    (!r.kind.is_deferred() || st.world.interactions[&id].original_edited)
                        .then_some(r)
                },
            )
            .await
    }

    /// Follow-up messages the bot sent, in order (current state).
    pub fn followups(&self) -> Vec<Message> {
        self.emu.shared.read(|st| {
            st.world.interactions[&self.id]
                .followups
                .iter()
                .filter_map(|m| st.world.messages.get(m).cloned())
                .collect()
        })
    }

    /// Waits until the bot sent at least `n` follow-ups.
    pub async fn wait_followups(&self, n: usize) -> Result<Vec<Message>> {
        let id = self.id;
        self.emu
            .shared
            .wait_until(
                || format!("{n} follow-up(s) to interaction {id}"),
                self.emu.shared.config.wait_timeout,
                |st| {
                    let ids = &st.world.interactions[&id].followups;
                    (ids.len() >= n).then(|| {
                        ids.iter()
                            .filter_map(|m| st.world.messages.get(m).cloned())
                            .collect()
                    })
                },
            )
            .await
    }

    /// Every callback the bot attempted, accepted or refused.
    pub fn attempts(&self) -> Vec<CallbackAttempt> {
        self.emu
            .shared
            .read(|st| st.world.interactions[&self.id].attempts.clone())
    }

    /// Waits until the bot made at least `n` callback attempts (accepted or refused).
    pub async fn wait_attempts(&self, n: usize) -> Result<Vec<CallbackAttempt>> {
        let id = self.id;
        self.emu
            .shared
            .wait_until(
                || format!("{n} callback attempt(s) for interaction {id}"),
                self.emu.shared.config.wait_timeout,
                |st| {
                    let a = &st.world.interactions[&id].attempts;
                    (a.len() >= n).then(|| a.clone())
                },
            )
            .await
    }

    /// Sends the same INTERACTION_CREATE again (same id and token) to every session, as
    /// Discord may after a resume: a correct bot answers once, so a second callback gets 40060.
    pub fn redeliver(&self) -> Result<()> {
        self.emu.shared.with(|st| {
            if !st.gateway.has_session() {
                return Err(Error::NotConnected(
                    "the bot has no gateway session to redeliver to".into(),
                ));
            }
            let d = st.world.interactions[&self.id].payload.clone();
            st.gateway
                .dispatch("INTERACTION_CREATE", d, Gate::default());
            Ok(())
        })
    }
}
