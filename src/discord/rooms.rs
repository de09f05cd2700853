//! Incident rooms: the channel (or thread) of each incident with its summary card, the
//! announce channel, and lines said in a room. Only the projector makes rooms and speaks in
//! them (see `projector.rs`); everything here is safe to repeat:
//!
//! - a room is claimed in the database (`room:<incident>`) before its channel is made, and a
//!   process that finds the claim taken looks for the channel a previous holder made (by its
//!   `inc-<id>-` name) before making one, so an incident never gets two channels;
//! - every message goes out with a nonce Discord enforces (`enforce_nonce`), derived from the
//!   incident and the event it shows, so an effect repeated after a crash or a takeover shows
//!   once;
//! - a card edit draws the whole card from the incident as it is now.

use std::time::Duration;

use serenity::all::{
    ChannelId, ChannelType, CreateAllowedMentions, CreateChannel, CreateMessage, CreateThread,
    EditMessage, GuildId, MessageId, Nonce,
};

use super::context::Bot;
use super::render;
use super::reply::CONTENT_LIMIT;
use crate::domain::{Incident, IncidentId};
use crate::store::{CARD, Post};

/// How long `/incident open` waits for the projector to record the new incident's room
/// before answering without its link. A room takes a second or two; ten leaves room for a
/// slow Discord.
const ROOM_WAIT: Duration = Duration::from_secs(10);

/// How often that wait looks at the database between wake-ups.
const ROOM_POLL: Duration = Duration::from_millis(200);

/// A Discord call that failed: whether trying again later can help.
#[derive(Debug)]
pub(crate) struct Failed {
    pub reason: String,
    /// Discord refused for good (a 4xx other than 429: unknown channel, missing permission,
    /// invalid body): repeating it changes nothing.
    pub permanent: bool,
}

impl Failed {
    pub fn of(error: &serenity::Error, what: &str) -> Failed {
        use serenity::all::HttpError;
        let permanent = matches!(
            error,
            serenity::Error::Http(HttpError::UnsuccessfulRequest(response))
                if response.status_code.is_client_error() && response.status_code.as_u16() != 429
        );
        Failed {
            reason: format!("{what}: {error}"),
            permanent,
        }
    }

    pub fn database(error: impl std::fmt::Display) -> Failed {
        Failed {
            reason: format!("the database: {error}"),
            permanent: false,
        }
    }
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A message nonce (at most 25 characters, Discord's limit), unique per effect.
pub(crate) fn nonce(kind: char, id: IncidentId, seq: i64, part: usize) -> Nonce {
    Nonce::String(format!("w{kind}{}-{seq}-{part}", id.0))
}

impl Bot {
    /// The incident's room, made now if it has none: its channel id.
    pub(crate) async fn ensure_room(&self, incident: &Incident) -> Result<u64, Failed> {
        if let Some(channel_id) = incident.channel_id {
            self.remember_channel(channel_id, incident.id);
            return Ok(channel_id);
        }
        let id = incident.id;
        let claimed = self
            .claim(&format!("room:{}", id.0))
            .await
            .map_err(Failed::database)?;
        // Taken before: a previous holder may have made the channel and died before recording it.
        let found = if claimed {
            None
        } else {
            self.find_room(incident).await?
        };
        let channel_id = match found {
            Some(channel_id) => {
                tracing::info!(incident = %id, channel_id, "found the room a previous holder made");
                channel_id
            }
            None => self.create_channel(incident).await?,
        };
        // Known at once, so messages said before the card is up are already recorded.
        self.remember_channel(channel_id, id);
        let mut shown = incident.clone();
        shown.channel_id = Some(channel_id);
        let card = self.post_card(&shown, channel_id).await;
        self.ops()
            .attach_room(id, channel_id, card)
            .await
            .map_err(Failed::database)?;
        // Someone may have spoken before the room was recorded (the channel shows in Discord a
        // moment earlier): its history is read once the room is known.
        self.mark_dirty_channel(channel_id);
        Ok(channel_id)
    }

    /// A channel (or thread) named for incident `id` that is already there.
    async fn find_room(&self, incident: &Incident) -> Result<Option<u64>, Failed> {
        let discord = &self.config().discord;
        let prefix = format!("inc-{}-", incident.id.0);
        let exact = format!("inc-{}", incident.id.0);
        let matches = |name: &str| name.starts_with(&prefix) || name == exact;
        let Some(guild) = discord.guild_id.map(GuildId::new) else {
            return Ok(None);
        };
        let threaded =
            discord.incident_thread_channel_id.is_some() || self.forum_of(incident).is_some();
        if threaded && !incident.private {
            let threads = guild
                .get_active_threads(self.http())
                .await
                .map_err(|error| Failed::of(&error, "listing the guild's threads"))?;
            return Ok(threads
                .threads
                .iter()
                .find(|thread| matches(&thread.name))
                .map(|thread| thread.id.get()));
        }
        let channels = guild
            .channels(self.http())
            .await
            .map_err(|error| Failed::of(&error, "listing the guild's channels"))?;
        Ok(channels
            .values()
            .find(|channel| matches(&channel.name))
            .map(|channel| channel.id.get()))
    }

    async fn create_channel(&self, incident: &Incident) -> Result<u64, Failed> {
        let discord = &self.config().discord;
        let name = render::channel_name(incident);
        if let Some(forum) = self.forum_of(incident) {
            return self.create_forum_post(forum, incident).await;
        }
        // A private incident always gets a channel (its overwrites hide it), never a thread.
        let thread_parent = discord
            .incident_thread_channel_id
            .filter(|_| !incident.private);
        let created = if let Some(parent) = thread_parent {
            ChannelId::new(parent)
                .create_thread(
                    self.http(),
                    CreateThread::new(name).kind(ChannelType::PublicThread),
                )
                .await
        } else {
            let guild = discord.guild_id.ok_or_else(|| Failed {
                reason: "[discord] guild_id is not set".to_owned(),
                permanent: true,
            })?;
            let mut channel = CreateChannel::new(name)
                .kind(ChannelType::Text)
                .topic(format!("{}: {}", incident.id, incident.title));
            if let Some(category) = discord.incident_category_id {
                channel = channel.category(ChannelId::new(category));
            }
            if incident.private {
                channel = self.private_channel(guild, incident, channel);
            }
            GuildId::new(guild)
                .create_channel(self.http(), channel)
                .await
        };
        created
            .map(|channel| channel.id.get())
            .map_err(|error| Failed::of(&error, "Discord refused to create the channel"))
    }

    /// Posts the summary card; where it is, or `None` when Discord refused it (the next card
    /// change posts it again).
    async fn post_card(&self, incident: &Incident, channel_id: u64) -> Option<Post> {
        let (embed, rows) = match self.card(incident).await {
            Ok(card) => card,
            Err(error) => {
                tracing::warn!(%error, incident = %incident.id, "cannot read the checklist for the card; posting it without");
                render::card(incident, self.config())
            }
        };
        let card = CreateMessage::new()
            .embed(embed)
            .components(rows)
            .nonce(nonce('c', incident.id, 0, 0))
            .enforce_nonce(true)
            .allowed_mentions(CreateAllowedMentions::new());
        match ChannelId::new(channel_id)
            .send_message(self.http(), card)
            .await
        {
            Ok(message) => Some(Post {
                channel_id,
                message_id: message.id.get(),
            }),
            Err(error) => {
                tracing::warn!(%error, incident = %incident.id, "posting the summary card failed");
                None
            }
        }
    }

    /// Redraws the incident's card from its current state, posting it when it has none.
    pub(crate) async fn refresh_card(&self, incident: &Incident) -> Result<(), Failed> {
        let Some(channel_id) = incident.channel_id else {
            return Ok(());
        };
        let post = self
            .ops()
            .post(incident.id, CARD)
            .await
            .map_err(Failed::database)?;
        let Some(post) = post else {
            if let Some(post) = self.post_card(incident, channel_id).await {
                self.ops()
                    .set_post(incident.id, CARD, post)
                    .await
                    .map_err(Failed::database)?;
            }
            return Ok(());
        };
        let (embed, rows) = self.card(incident).await.map_err(Failed::database)?;
        let edit = EditMessage::new().embed(embed).components(rows);
        ChannelId::new(post.channel_id)
            .edit_message(self.http(), MessageId::new(post.message_id), edit)
            .await
            .map(drop)
            .map_err(|error| Failed::of(&error, "updating the card"))
    }

    /// Posts to the announce channel, if one is configured. Long text is cut with a pointer to
    /// the incident channel, where the whole text is.
    pub(crate) async fn announce(
        &self,
        text: String,
        channel_id: Option<u64>,
        nonce: Nonce,
    ) -> Result<(), Failed> {
        let Some(announce) = self.config().discord.announce_channel_id else {
            return Ok(());
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
            .nonce(nonce)
            .enforce_nonce(true)
            .allowed_mentions(CreateAllowedMentions::new());
        ChannelId::new(announce)
            .send_message(self.http(), message)
            .await
            .map(drop)
            .map_err(|error| Failed::of(&error, "posting to the announce channel"))
    }

    /// Says `text` in an incident's room, split at Discord's limit, pinging nobody; `seq` is
    /// the event it shows.
    pub(crate) async fn say_in_room(
        &self,
        id: IncidentId,
        channel_id: u64,
        seq: i64,
        text: &str,
    ) -> Result<(), Failed> {
        for (part, content) in render::split_message(text).into_iter().enumerate() {
            let message = CreateMessage::new()
                .content(content)
                .nonce(nonce('l', id, seq, part))
                .enforce_nonce(true)
                .allowed_mentions(CreateAllowedMentions::new());
            ChannelId::new(channel_id)
                .send_message(self.http(), message)
                .await
                .map_err(|error| Failed::of(&error, "posting in the incident channel"))?;
        }
        Ok(())
    }

    /// The incident's channel once its room is recorded, waiting up to `ROOM_WAIT` for the
    /// projector (of this process or another) to make it.
    pub(crate) async fn wait_for_room(&self, id: IncidentId) -> Option<u64> {
        let deadline = tokio::time::Instant::now() + ROOM_WAIT;
        let mut feed = self.ops().store().change_feed();
        let mut commits = self.ops().commits();
        loop {
            match self.ops().store().get_incident(id).await {
                Ok(Some(incident)) if incident.channel_id.is_some() => return incident.channel_id,
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(%error, incident = %id, "cannot read the incident's room yet")
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::select! {
                _ = feed.changed() => {}
                _ = commits.changed() => {}
                _ = tokio::time::sleep(ROOM_POLL) => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }
}
