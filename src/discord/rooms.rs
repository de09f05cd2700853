//! Incident rooms: the channel (or thread) of each incident, its summary card kept current,
//! and announcements. Driven by committed changes, so an incident opened by an alert or the
//! CLI gets the same room as one opened with `/incident open`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serenity::all::{
    ChannelId, ChannelType, CreateAllowedMentions, CreateChannel, CreateMessage, CreateThread,
    EditMessage, GuildId, MessageId,
};
use tokio::sync::mpsc;

use super::bot::Bot;
use super::render;
use super::reply::CONTENT_LIMIT;
use crate::domain::{EventKind, Incident, IncidentId, Status};
use crate::ops::Changed;
use crate::store::{CARD, Post};

/// Lines waiting for their incident channel (escalations, failed pages). Each is one short
/// message; a thousand is more than any burst of incidents produces, and when the queue is full
/// the change listener waits rather than dropping a line.
pub(crate) const LINE_QUEUE: usize = 1_024;

/// A line for an incident's channel, said without pinging anyone.
pub(crate) struct ChannelLine {
    incident: IncidentId,
    /// The channel as the change knew it; `None` while the room is still being made.
    channel_id: Option<u64>,
    /// A resolved incident without a room gets none made just for a line.
    resolved: bool,
    text: String,
}

/// One lock per incident, so the slash command and the change listener never both create a
/// channel for the same incident.
#[derive(Default)]
pub(crate) struct Rooms {
    locks: Mutex<HashMap<IncidentId, Arc<tokio::sync::Mutex<()>>>>,
}

impl Rooms {
    fn lock(&self, id: IncidentId) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(id)
            .or_default()
            .clone()
    }
}

impl Bot {
    /// Makes sure the incident has its channel, card and announcement; returns the incident
    /// (with its channel). Safe to call any number of times.
    pub(crate) async fn ensure_room(&self, id: IncidentId) -> Result<Incident, String> {
        let lock = self.rooms.lock(id);
        let _guard = lock.lock().await;
        let incident = self
            .ops()
            .show(&self.system(), id)
            .await
            .map_err(|error| error.to_string())?;
        if let Some(channel_id) = incident.channel_id {
            self.remember_channel(channel_id, id);
            return Ok(incident);
        }
        let channel_id = self.create_channel(&incident).await?;
        // Known at once, so messages said before the card is up are already recorded.
        self.remember_channel(channel_id, id);
        let mut shown = incident.clone();
        shown.channel_id = Some(channel_id);
        let (embed, rows) = render::card(&shown, self.config());
        let card = CreateMessage::new()
            .embed(embed)
            .components(rows)
            .allowed_mentions(CreateAllowedMentions::new());
        let card = match ChannelId::new(channel_id)
            .send_message(self.http(), card)
            .await
        {
            Ok(message) => Some(Post {
                channel_id,
                message_id: message.id.get(),
            }),
            Err(error) => {
                tracing::warn!(%error, incident = %id, "posting the summary card failed");
                None
            }
        };
        let incident = self
            .ops()
            .attach_room(id, channel_id, card)
            .await
            .map_err(|error| error.to_string())?;
        self.announce(
            render::opened_announcement(&incident, Some(channel_id)),
            Some(channel_id),
        )
        .await;
        Ok(incident)
    }

    async fn create_channel(&self, incident: &Incident) -> Result<u64, String> {
        let discord = &self.config().discord;
        let name = render::channel_name(incident);
        let created = if let Some(parent) = discord.incident_thread_channel_id {
            ChannelId::new(parent)
                .create_thread(
                    self.http(),
                    CreateThread::new(name).kind(ChannelType::PublicThread),
                )
                .await
        } else {
            let guild = discord.guild_id.ok_or("[discord] guild_id is not set")?;
            let mut channel = CreateChannel::new(name)
                .kind(ChannelType::Text)
                .topic(format!("{}: {}", incident.id, incident.title));
            if let Some(category) = discord.incident_category_id {
                channel = channel.category(ChannelId::new(category));
            }
            GuildId::new(guild)
                .create_channel(self.http(), channel)
                .await
        };
        created
            .map(|channel| channel.id.get())
            .map_err(|error| format!("Discord refused to create the channel ({error})"))
    }

    /// Redraws the incident's card from its current state (re-read, so the order in which
    /// changes arrive does not matter).
    async fn refresh_card(&self, id: IncidentId) {
        let (incident, post) = match (
            self.ops().show(&self.system(), id).await,
            self.ops().post(id, CARD).await,
        ) {
            (Ok(incident), Ok(Some(post))) => (incident, post),
            (Ok(_), Ok(None)) => return,
            (Err(error), _) | (_, Err(error)) => {
                tracing::warn!(%error, incident = %id, "cannot refresh the card");
                return;
            }
        };
        let (embed, rows) = render::card(&incident, self.config());
        let edit = EditMessage::new().embed(embed).components(rows);
        if let Err(error) = ChannelId::new(post.channel_id)
            .edit_message(self.http(), MessageId::new(post.message_id), edit)
            .await
        {
            tracing::warn!(%error, incident = %id, "updating the card failed");
        }
    }

    /// Posts to the announce channel, if one is configured. Long text is cut with a pointer to
    /// the incident channel, where the whole text is.
    async fn announce(&self, text: String, channel_id: Option<u64>) {
        let Some(announce) = self.config().discord.announce_channel_id else {
            return;
        };
        let text = if text.chars().count() > CONTENT_LIMIT {
            let pointer = match channel_id {
                Some(id) => format!("… (the rest is in <#{id}>)"),
                None => "… (the rest is on the incident timeline)".to_owned(),
            };
            let head: String = text
                .chars()
                .take(CONTENT_LIMIT - pointer.chars().count())
                .collect();
            head + &pointer
        } else {
            text
        };
        let message = CreateMessage::new()
            .content(text)
            .allowed_mentions(CreateAllowedMentions::new());
        if let Err(error) = ChannelId::new(announce)
            .send_message(self.http(), message)
            .await
        {
            tracing::warn!(%error, "posting to the announce channel failed");
        }
    }

    pub(crate) async fn on_change(self: &Arc<Self>, changed: Changed) {
        let id = changed.incident.id;
        let mut card_changed = false;
        for event in &changed.events {
            match event.kind {
                EventKind::Opened => {
                    // Slow (it creates a channel); the change stream must not wait for it.
                    let bot = self.clone();
                    tokio::spawn(async move {
                        if let Err(reason) = bot.ensure_room(id).await {
                            tracing::warn!(incident = %id, %reason, "could not open the incident's room");
                        }
                    });
                }
                EventKind::Acknowledged
                | EventKind::StatusChanged
                | EventKind::SeverityChanged
                | EventKind::RoleAssigned => card_changed = true,
                // The channel is told when monitoring says everything is back to normal.
                EventKind::AlertResolved if event.data["all_resolved"] == true => {
                    if let Some(channel_id) = changed.incident.channel_id {
                        let text =
                            format!("✅ Every alert of **{}** has resolved. {}", id, event.text);
                        let message = CreateMessage::new()
                            .content(text)
                            .allowed_mentions(CreateAllowedMentions::new());
                        if let Err(error) = ChannelId::new(channel_id)
                            .send_message(self.http(), message)
                            .await
                        {
                            tracing::warn!(%error, incident = %id, "telling the channel that the alerts resolved failed");
                        }
                    }
                }
                _ => {}
            }
            if let Some(text) = render::escalation_line(event) {
                let line = ChannelLine {
                    incident: id,
                    channel_id: changed.incident.channel_id,
                    resolved: changed.incident.status == Status::Resolved,
                    text,
                };
                if self.lines.send(line).await.is_err() {
                    tracing::warn!(incident = %id, "the channel poster has stopped; an escalation line was not posted");
                }
            }
            if let Some(text) = render::change_announcement(&changed.incident, event) {
                self.announce(text, changed.incident.channel_id).await;
            }
        }
        if card_changed {
            self.refresh_card(id).await;
        }
    }

    /// After (re)connecting: rooms that could not be made while Discord was unreachable, and
    /// messages said while warroom was not listening.
    pub(crate) async fn catch_up(self: &Arc<Self>) {
        let active = crate::store::IncidentFilter {
            statuses: vec![Status::Open, Status::Acknowledged, Status::Mitigated],
            ..Default::default()
        };
        let incidents = match self.ops().list(&self.system(), &active).await {
            Ok(incidents) => incidents,
            Err(error) => {
                tracing::warn!(%error, "cannot list incidents to catch up");
                return;
            }
        };
        for incident in incidents {
            match incident.channel_id {
                None => {
                    if let Err(reason) = self.ensure_room(incident.id).await {
                        tracing::warn!(incident = %incident.id, %reason, "could not open the incident's room");
                    }
                }
                Some(channel_id) => {
                    self.remember_channel(channel_id, incident.id);
                    self.catch_up_messages(incident.id, channel_id).await;
                }
            }
        }
    }
}

/// Posts channel lines in the order their changes were committed. A line for an incident
/// whose room is still being made (level 1 fires as the incident opens) waits for the room
/// here, so the change listener never does.
pub(crate) async fn post_lines(bot: Arc<Bot>, mut lines: mpsc::Receiver<ChannelLine>) {
    while let Some(line) = lines.recv().await {
        let channel_id = match line.channel_id {
            Some(channel_id) => channel_id,
            None if line.resolved => continue,
            None => match bot.ensure_room(line.incident).await {
                Ok(incident) => match incident.channel_id {
                    Some(channel_id) => channel_id,
                    None => continue,
                },
                Err(reason) => {
                    tracing::warn!(incident = %line.incident, %reason, "no channel to post an escalation line in");
                    continue;
                }
            },
        };
        for part in render::split_message(&line.text) {
            let message = CreateMessage::new()
                .content(part)
                .allowed_mentions(CreateAllowedMentions::new());
            if let Err(error) = ChannelId::new(channel_id)
                .send_message(bot.http(), message)
                .await
            {
                tracing::warn!(%error, incident = %line.incident, "posting an escalation line failed");
            }
        }
    }
}
