//! The channel timeline: every message said in an incident channel, every edit and deletion
//! (the original stays), and highlights (📌 reactions and pins). Each is keyed by its Discord
//! id in the transaction that records it, so a message delivered twice (two sessions, a
//! replay after a resume, a catch-up) is recorded once.
//!
//! Catching up ([`Bot::catch_up`], after a start, a takeover or a new session) reconciles each
//! active incident channel with what Discord still has of the last [`CATCH_UP_WINDOW`]: new
//! messages, edits (the text differs from the last recorded one), deletions (recorded
//! messages history no longer has), 📌 reactions and pins. There is no cursor to move past a
//! message whose recording failed: a channel whose message could not be recorded (the
//! database down) is reconciled again until it succeeds.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde_json::json;
use serenity::all::{
    ChannelId, GetMessages, Message, MessageId, MessageType, MessageUpdateEvent, Reaction,
    ReactionType, User,
};

use super::context::Bot;
use super::principal;
use crate::domain::{Actor, Event, EventKind, IncidentId, NewEvent, Status, Timestamp};
use crate::store::IncidentFilter;

/// Keys of recorded messages: `discord-message:<message id>`.
const MESSAGE_KEY: &str = "discord-message:";
/// The emoji that highlights a message.
const HIGHLIGHT_EMOJI: &str = "📌";
/// Messages fetched per request when catching up (Discord's maximum).
const CATCH_UP_PAGE: u8 = 100;
/// Pages fetched per channel when catching up: a gap longer than this many messages is
/// logged rather than fetched forever.
const CATCH_UP_PAGES: usize = 20;
/// How far back a catch-up compares Discord's history with the timeline: edits and deletions
/// of older messages are not looked for (Discord keeps them; warroom stops asking).
pub(crate) const CATCH_UP_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// How often channels whose recording failed are reconciled again.
pub(crate) const RETRY_DIRTY_EVERY: Duration = Duration::from_secs(3);

fn message_key(message_id: u64) -> String {
    format!("{MESSAGE_KEY}{message_id}")
}

fn human_size(bytes: u32) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{:.1} KiB", f64::from(bytes) / 1024.0)
    } else {
        format!("{:.1} MiB", f64::from(bytes) / (1024.0 * 1024.0))
    }
}

fn excerpt(event: Option<&Event>) -> String {
    match event {
        Some(event) => format!("#{}: {}", event.seq, event.text),
        None => "a message from before warroom was listening".to_owned(),
    }
}

/// What the timeline holds of one message.
#[derive(Default)]
struct Recorded {
    /// The message's text as last recorded (the original, or its last edit).
    content: Option<String>,
    deleted: bool,
    highlighted: bool,
}

impl Bot {
    async fn incident_of(&self, channel_id: u64) -> Option<IncidentId> {
        match self.incident_for_channel(channel_id).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(%error, channel_id, "cannot tell whether a channel belongs to an incident");
                // It may be one: look again once the database answers.
                self.mark_dirty_channel(channel_id);
                None
            }
        }
    }

    async fn recorded(&self, id: IncidentId, message_id: u64) -> Option<Event> {
        self.ops()
            .event_by_key(id, &message_key(message_id))
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "cannot read the timeline");
                None
            })
    }

    /// Records `event`; when that fails the channel is reconciled later, so nothing said in
    /// it is lost.
    async fn append(&self, id: IncidentId, channel_id: u64, event: NewEvent) -> bool {
        match self.ops().append(id, vec![event]).await {
            Ok(_) => true,
            Err(error) => {
                tracing::error!(%error, incident = %id, "recording a channel event failed; the channel is read again once the database answers");
                self.mark_dirty_channel(channel_id);
                false
            }
        }
    }

    pub(crate) async fn record_message(&self, message: &Message) -> bool {
        if self.is_me(message.author.id.get()) {
            return true;
        }
        let highlight = match message.kind {
            MessageType::Regular | MessageType::InlineReply => false,
            // "X pinned a message": the system message Discord posts for each pin says who.
            MessageType::PinsAdd => true,
            _ => return true,
        };
        let channel_id = message.channel_id.get();
        let Some(id) = self.incident_of(channel_id).await else {
            return true;
        };
        let author = principal::message_author(&message.author, message.member.as_deref());
        if highlight {
            if let Some(pinned) = message
                .message_reference
                .as_ref()
                .and_then(|reference| reference.message_id)
            {
                return self
                    .highlight(id, channel_id, pinned.get(), author, "pin")
                    .await;
            }
            return true;
        }
        let mut text = message.content.clone();
        let attachments: Vec<serde_json::Value> = message
            .attachments
            .iter()
            .map(|attachment| {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&format!(
                    "📎 {} ({}): {}",
                    attachment.filename,
                    human_size(attachment.size),
                    attachment.url
                ));
                json!({"filename": attachment.filename, "size": attachment.size, "url": attachment.url})
            })
            .collect();
        let at = Timestamp::from_millis(message.timestamp.timestamp_millis());
        let event = NewEvent::new(self.ops().clock().now(), EventKind::Message, author, text)
            .with_data(json!({
                "message_id": message.id.get().to_string(),
                "channel_id": channel_id.to_string(),
                "sent_at": at,
                "content": message.content,
                "attachments": attachments,
                "reply_to": message.message_reference.as_ref().and_then(|r| r.message_id).map(|m| m.get().to_string()),
            }))
            .with_key(message_key(message.id.get()));
        self.append(id, channel_id, event).await
    }

    pub(crate) async fn record_edit(&self, update: &MessageUpdateEvent) {
        // Embed-only updates (link previews) carry no new text and no edit time.
        let (Some(content), Some(edited_at)) = (&update.content, update.edited_timestamp) else {
            return;
        };
        if update
            .author
            .as_ref()
            .is_some_and(|author| self.is_me(author.id.get()))
        {
            return;
        }
        let author = update.author.as_ref().map(|user| {
            principal::message_author(user, update.member.as_ref().and_then(|m| m.as_deref()))
        });
        self.record_edit_of(
            update.channel_id.get(),
            update.id.get(),
            author,
            content,
            edited_at.timestamp_millis(),
        )
        .await;
    }

    async fn record_edit_of(
        &self,
        channel_id: u64,
        message_id: u64,
        author: Option<Actor>,
        content: &str,
        edited_ms: i64,
    ) -> bool {
        let Some(id) = self.incident_of(channel_id).await else {
            return true;
        };
        let original = self.recorded(id, message_id).await;
        let author = match (author, &original) {
            (Some(author), _) => author,
            (None, Some(original)) => original.actor.clone(),
            // Neither who wrote it nor what it said is known: nothing worth recording.
            (None, None) => return true,
        };
        let event = NewEvent::new(
            self.ops().clock().now(),
            EventKind::MessageEdited,
            author,
            content.to_owned(),
        )
        .with_data(json!({
            "message_id": message_id.to_string(),
            "original_seq": original.as_ref().map(|event| event.seq),
            "original_text": original.as_ref().map(|event| event.text.clone()),
            "edited_at": Timestamp::from_millis(edited_ms),
        }))
        .with_key(format!("discord-edit:{message_id}:{edited_ms}"));
        self.append(id, channel_id, event).await
    }

    pub(crate) async fn record_delete(&self, channel_id: u64, message_id: u64) -> bool {
        let Some(id) = self.incident_of(channel_id).await else {
            return true;
        };
        // Only messages the timeline holds; the bot's own and unknown ones say nothing useful.
        let Some(original) = self.recorded(id, message_id).await else {
            return true;
        };
        // Discord does not say who deleted it (the author or a moderator), so warroom records
        // the fact, not a guess.
        let event = NewEvent::new(
            self.ops().clock().now(),
            EventKind::MessageDeleted,
            Actor::system(),
            format!(
                "A message by {} was deleted (it is kept as #{}): {}",
                original.actor.name, original.seq, original.text
            ),
        )
        .with_data(json!({
            "message_id": message_id.to_string(),
            "original_seq": original.seq,
            "author": original.actor,
        }))
        .with_key(format!("discord-delete:{message_id}"));
        self.append(id, channel_id, event).await
    }

    pub(crate) async fn record_reaction(&self, reaction: &Reaction) {
        if !is_highlight(&reaction.emoji) {
            return;
        }
        let Some(user_id) = reaction.user_id else {
            return;
        };
        if self.is_me(user_id.get()) {
            return;
        }
        let channel_id = reaction.channel_id.get();
        let Some(id) = self.incident_of(channel_id).await else {
            return;
        };
        let who = match &reaction.member {
            Some(member) => principal::actor(&member.user, member.nick.as_deref()),
            None => Actor::discord(user_id.get(), user_id.get().to_string()),
        };
        self.highlight(id, channel_id, reaction.message_id.get(), who, "reaction")
            .await;
    }

    /// One `highlighted` event per message, however many people pin or react to it.
    async fn highlight(
        &self,
        id: IncidentId,
        channel_id: u64,
        message_id: u64,
        who: Actor,
        via: &str,
    ) -> bool {
        let original = self.recorded(id, message_id).await;
        let event = NewEvent::new(
            self.ops().clock().now(),
            EventKind::Highlighted,
            who.clone(),
            format!(
                "{HIGHLIGHT_EMOJI} {} highlighted {}",
                who.name,
                excerpt(original.as_ref())
            ),
        )
        .with_data(json!({
            "message_id": message_id.to_string(),
            "original_seq": original.as_ref().map(|event| event.seq),
            "via": via,
        }))
        .with_key(format!("discord-highlight:{message_id}"));
        self.append(id, channel_id, event).await
    }

    /// After (re)connecting: every active incident channel reconciled with its history.
    pub(crate) async fn catch_up(&self) {
        let active = IncidentFilter {
            statuses: vec![Status::Open, Status::Acknowledged, Status::Mitigated],
            ..Default::default()
        };
        let incidents = match self.ops().list(&self.system(), &active).await {
            Ok(incidents) => incidents,
            Err(error) => {
                tracing::warn!(%error, "cannot list incidents to catch up; trying again shortly");
                self.mark_all_dirty();
                return;
            }
        };
        for incident in incidents {
            if let Some(channel_id) = incident.channel_id {
                self.remember_channel(channel_id, incident.id);
                if !self.reconcile(incident.id, channel_id).await {
                    self.mark_dirty_channel(channel_id);
                }
            }
        }
    }

    /// Reconciles the channels whose recording failed; those that succeed are done.
    pub(crate) async fn retry_dirty(&self) {
        let dirty = self.take_dirty();
        if dirty.all {
            self.catch_up().await;
        }
        for channel_id in dirty.channels {
            match self.incident_for_channel(channel_id).await {
                Ok(Some(id)) => {
                    if !self.reconcile(id, channel_id).await {
                        self.mark_dirty_channel(channel_id);
                    }
                }
                Ok(None) => {}
                Err(_) => self.mark_dirty_channel(channel_id),
            }
        }
    }

    /// Brings the timeline of incident `id` in line with what Discord has of `channel_id`;
    /// false when something could not be read or recorded (to be tried again).
    async fn reconcile(&self, id: IncidentId, channel_id: u64) -> bool {
        let Some(history) = self.history(id, channel_id).await else {
            return false;
        };
        let Some(recorded) = self.recorded_messages(id).await else {
            return false;
        };
        let mut complete = true;
        // New messages and edits, in the order Discord says they happened (to the microsecond;
        // at the same instant a message comes before an edit).
        let mut steps: BTreeMap<(i64, u8, u64), &Message> = BTreeMap::new();
        for message in &history {
            let known = recorded.get(&message.id.get());
            let changed = known.is_some_and(|known| {
                !known.deleted
                    && message.edited_timestamp.is_some()
                    && known.content.as_deref() != Some(message.content.as_str())
            });
            if known.is_none() {
                let at = message.timestamp.timestamp_micros();
                steps.insert((at, 0, message.id.get()), message);
            } else if changed && let Some(edited) = message.edited_timestamp {
                steps.insert((edited.timestamp_micros(), 1, message.id.get()), message);
            }
        }
        for message in steps.into_values() {
            complete &= if recorded.contains_key(&message.id.get()) {
                let edited = message
                    .edited_timestamp
                    .map_or(0, |at| at.timestamp_millis());
                let author = principal::message_author(&message.author, message.member.as_deref());
                self.record_edit_of(
                    channel_id,
                    message.id.get(),
                    Some(author),
                    &message.content,
                    edited,
                )
                .await
            } else {
                self.record_message(message).await
            };
        }
        // Deletions: recorded messages inside the span history covers that it no longer has.
        let present: HashSet<u64> = history.iter().map(|message| message.id.get()).collect();
        let oldest = history.first().map(|message| message.id.get());
        for (message_id, known) in &recorded {
            if !known.deleted
                && oldest.is_some_and(|oldest| *message_id >= oldest)
                && !present.contains(message_id)
            {
                complete &= self.record_delete(channel_id, *message_id).await;
            }
        }
        // Highlights made while nobody listened: 📌 reactions, and pins.
        for message in &history {
            let known = recorded.get(&message.id.get());
            if known.is_some_and(|known| known.highlighted) {
                continue;
            }
            if message.pinned {
                complete &= self
                    .highlight(id, channel_id, message.id.get(), Actor::system(), "pin")
                    .await;
            } else if message
                .reactions
                .iter()
                .any(|reaction| is_highlight(&reaction.reaction_type))
            {
                let who = self
                    .first_highlighter(channel_id, message.id.get())
                    .await
                    .map_or_else(Actor::system, |user| principal::actor(&user, None));
                complete &= self
                    .highlight(id, channel_id, message.id.get(), who, "reaction")
                    .await;
            }
        }
        complete
    }

    /// The channel's messages of the last `CATCH_UP_WINDOW`, oldest first; `None` when Discord
    /// could not be read.
    async fn history(&self, id: IncidentId, channel_id: u64) -> Option<Vec<Message>> {
        let since = self.ops().clock().now().minus(CATCH_UP_WINDOW);
        let mut history = Vec::new();
        let mut before: Option<MessageId> = None;
        for _ in 0..CATCH_UP_PAGES {
            let mut request = GetMessages::new().limit(CATCH_UP_PAGE);
            if let Some(before) = before {
                request = request.before(before);
            }
            let page = match ChannelId::new(channel_id)
                .messages(self.http(), request)
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, incident = %id, "fetching the channel's history failed");
                    return None;
                }
            };
            let full = page.len() == usize::from(CATCH_UP_PAGE);
            let mut older = false;
            for message in page {
                if message.timestamp.timestamp_millis() < since.as_millis() {
                    older = true;
                    continue;
                }
                before = Some(before.map_or(message.id, |before| before.min(message.id)));
                history.push(message);
            }
            if !full || older {
                history.sort_by_key(|message| message.id);
                return Some(history);
            }
        }
        tracing::warn!(incident = %id, "more messages than one catch-up reads; the oldest stay in Discord's history");
        history.sort_by_key(|message| message.id);
        Some(history)
    }

    /// What the timeline holds of each message, by Discord id; `None` when it cannot be read.
    async fn recorded_messages(&self, id: IncidentId) -> Option<BTreeMap<u64, Recorded>> {
        let mut recorded: BTreeMap<u64, Recorded> = BTreeMap::new();
        let mut after = 0;
        loop {
            let page = match self.ops().store().timeline_page(id, after, 1_000).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, incident = %id, "cannot read the timeline to catch up");
                    return None;
                }
            };
            let Some(last) = page.last() else {
                return Some(recorded);
            };
            after = last.seq;
            for event in &page {
                let Some(message_id) = event.data["message_id"]
                    .as_str()
                    .and_then(|id| id.parse::<u64>().ok())
                else {
                    continue;
                };
                let entry = recorded.entry(message_id);
                match event.kind {
                    EventKind::Message => {
                        let content = event.data["content"]
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| event.text.clone());
                        entry.or_default().content = Some(content);
                    }
                    EventKind::MessageEdited => {
                        entry.or_default().content = Some(event.text.clone());
                    }
                    EventKind::MessageDeleted => entry.or_default().deleted = true,
                    EventKind::Highlighted => entry.or_default().highlighted = true,
                    _ => {}
                }
            }
        }
    }

    /// The first person who reacted 📌 to a message, when Discord says.
    async fn first_highlighter(&self, channel_id: u64, message_id: u64) -> Option<User> {
        ChannelId::new(channel_id)
            .reaction_users(
                self.http(),
                MessageId::new(message_id),
                ReactionType::Unicode(HIGHLIGHT_EMOJI.to_owned()),
                Some(1),
                None,
            )
            .await
            .ok()?
            .into_iter()
            .find(|user| !self.is_me(user.id.get()))
    }
}

fn is_highlight(emoji: &ReactionType) -> bool {
    matches!(emoji, ReactionType::Unicode(emoji) if emoji == HIGHLIGHT_EMOJI)
}
