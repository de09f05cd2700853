//! The channel timeline: every message said in an incident channel, every edit and deletion
//! (the original stays), and highlights (📌 reactions and pins). Each is keyed by its Discord
//! id, so a redelivered or caught-up message is never recorded twice.

use serde_json::json;
use serenity::all::{
    ChannelId, GetMessages, Message, MessageId, MessageType, MessageUpdateEvent, Reaction,
    ReactionType,
};

use super::bot::Bot;
use super::principal;
use crate::domain::{Actor, Event, EventKind, IncidentId, NewEvent, Timestamp};

/// Keys of recorded messages: `discord-message:<message id>`.
const MESSAGE_KEY: &str = "discord-message:";
/// The emoji that highlights a message.
const HIGHLIGHT_EMOJI: &str = "📌";
/// Messages fetched per request when catching up (Discord's maximum).
const CATCH_UP_PAGE: u8 = 100;
/// Pages fetched per channel when catching up. A gap longer than this many messages is logged
/// rather than fetched forever.
const CATCH_UP_PAGES: usize = 20;

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

impl Bot {
    async fn incident_of(&self, channel_id: u64) -> Option<IncidentId> {
        match self.incident_for_channel(channel_id).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(%error, channel_id, "cannot tell whether a channel belongs to an incident");
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

    async fn append(&self, id: IncidentId, event: NewEvent) {
        if let Err(error) = self.ops().append(id, vec![event]).await {
            // Logged, not lost silently: the catch-up after a reconnect fetches messages again.
            tracing::error!(%error, incident = %id, "recording a channel event failed");
        }
    }

    pub(crate) async fn record_message(&self, message: &Message) {
        if self.is_me(message.author.id.get()) {
            return;
        }
        let highlight = match message.kind {
            MessageType::Regular | MessageType::InlineReply => false,
            // "X pinned a message": the system message Discord posts for each pin says who.
            MessageType::PinsAdd => true,
            _ => return,
        };
        let Some(id) = self.incident_of(message.channel_id.get()).await else {
            return;
        };
        let author = principal::message_author(&message.author, message.member.as_deref());
        if highlight {
            if let Some(pinned) = message
                .message_reference
                .as_ref()
                .and_then(|reference| reference.message_id)
            {
                self.highlight(id, pinned.get(), author, "pin").await;
            }
            return;
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
                "channel_id": message.channel_id.get().to_string(),
                "sent_at": at,
                "attachments": attachments,
                "reply_to": message.message_reference.as_ref().and_then(|r| r.message_id).map(|m| m.get().to_string()),
            }))
            .with_key(message_key(message.id.get()));
        self.append(id, event).await;
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
        let Some(id) = self.incident_of(update.channel_id.get()).await else {
            return;
        };
        let original = self.recorded(id, update.id.get()).await;
        let author = match (&update.author, &original) {
            (Some(user), _) => {
                principal::message_author(user, update.member.as_ref().and_then(|m| m.as_deref()))
            }
            (None, Some(original)) => original.actor.clone(),
            // Neither who wrote it nor what it said is known: nothing worth recording.
            (None, None) => return,
        };
        let edited_ms = edited_at.timestamp_millis();
        let text = content.clone();
        let event = NewEvent::new(
            self.ops().clock().now(),
            EventKind::MessageEdited,
            author,
            text,
        )
        .with_data(json!({
            "message_id": update.id.get().to_string(),
            "original_seq": original.as_ref().map(|event| event.seq),
            "original_text": original.as_ref().map(|event| event.text.clone()),
            "edited_at": Timestamp::from_millis(edited_ms),
        }))
        .with_key(format!("discord-edit:{}:{edited_ms}", update.id.get()));
        self.append(id, event).await;
    }

    pub(crate) async fn record_delete(&self, channel_id: u64, message_id: u64) {
        let Some(id) = self.incident_of(channel_id).await else {
            return;
        };
        // Only messages the timeline holds; the bot's own and unknown ones say nothing useful.
        let Some(original) = self.recorded(id, message_id).await else {
            return;
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
        self.append(id, event).await;
    }

    pub(crate) async fn record_reaction(&self, reaction: &Reaction) {
        if !matches!(&reaction.emoji, ReactionType::Unicode(emoji) if emoji == HIGHLIGHT_EMOJI) {
            return;
        }
        let Some(user_id) = reaction.user_id else {
            return;
        };
        if self.is_me(user_id.get()) {
            return;
        }
        let Some(id) = self.incident_of(reaction.channel_id.get()).await else {
            return;
        };
        let who = match &reaction.member {
            Some(member) => principal::actor(&member.user, member.nick.as_deref()),
            None => Actor::discord(user_id.get(), user_id.get().to_string()),
        };
        self.highlight(id, reaction.message_id.get(), who, "reaction")
            .await;
    }

    /// One `highlighted` event per message, however many people pin or react to it.
    async fn highlight(&self, id: IncidentId, message_id: u64, who: Actor, via: &str) {
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
        self.append(id, event).await;
    }

    /// Records the messages of `channel_id` newer than the newest recorded one: those said
    /// while warroom was disconnected and Discord did not replay (a new session after missed
    /// heartbeats, or a restart).
    pub(crate) async fn catch_up_messages(&self, id: IncidentId, channel_id: u64) {
        let newest = match self.ops().last_numbered_key(id, MESSAGE_KEY).await {
            Ok(key) => key.and_then(|key| key[MESSAGE_KEY.len()..].parse::<u64>().ok()),
            Err(error) => {
                tracing::warn!(%error, incident = %id, "cannot catch up");
                return;
            }
        };
        // Nothing recorded yet: everything since the channel was made (its own id is the
        // earliest possible message id in it).
        let mut after = Some(newest.unwrap_or(channel_id));
        for _ in 0..CATCH_UP_PAGES {
            let Some(cursor) = after else { return };
            let request = GetMessages::new()
                .after(MessageId::new(cursor))
                .limit(CATCH_UP_PAGE);
            let mut page = match ChannelId::new(channel_id)
                .messages(self.http(), request)
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, incident = %id, "fetching missed messages failed");
                    return;
                }
            };
            page.sort_by_key(|message| message.id);
            for message in &page {
                self.record_message(message).await;
            }
            if page.len() < usize::from(CATCH_UP_PAGE) {
                return;
            }
            after = page.last().map(|message| message.id.get());
        }
        tracing::warn!(incident = %id, "more missed messages than one catch-up fetches; the rest stay in Discord's history");
    }
}
