//! The review meeting as a Discord Scheduled Event (SPEC §1 "Review and action item"): when
//! the projector shows a `review_scheduled` or `review_done` event, it makes the guild's
//! event match the review as stored now — created (external, named for the incident, linking
//! its channel), moved, or completed. Matching the current row rather than replaying the
//! event keeps it right after a crash or a takeover; an event made by a process that died
//! before recording it is found again by the marker in its description.

use serenity::all::{
    CreateScheduledEvent, EditScheduledEvent, GuildId, ScheduledEventId, ScheduledEventStatus,
    ScheduledEventType,
};

use super::context::Bot;
use super::rooms::Failed;
use crate::domain::{Incident, Review, Timestamp};
use crate::ops::followup_meeting_end;
use crate::store::Post;

/// Where the event of an incident's review meeting is remembered (`channel_id` holds the guild).
pub(crate) const REVIEW_EVENT: &str = "review_event";

/// Discord's limits on an event's name and location.
const NAME_LIMIT: usize = 100;

fn clipped(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    text.chars().take(limit - 1).collect::<String>() + "…"
}

fn marker(incident: &Incident) -> String {
    format!("warroom:{}", incident.id)
}

fn discord_time(at: Timestamp) -> serenity::all::Timestamp {
    serenity::all::Timestamp::from_unix_timestamp(at.as_unix_seconds())
        .unwrap_or_else(|_| serenity::all::Timestamp::now())
}

impl Bot {
    /// Makes the review meeting's Scheduled Event match the incident's review as stored.
    pub(crate) async fn sync_review_meeting(&self, incident: &Incident) -> Result<(), Failed> {
        let Some(guild) = self.config().discord.guild_id.map(GuildId::new) else {
            return Ok(());
        };
        let review = self
            .ops()
            .store()
            .review(incident.id)
            .await
            .map_err(Failed::database)?;
        let Some(review) = review.filter(|review| review.meeting_at.is_some()) else {
            return Ok(());
        };
        let existing = self.find_review_event(guild, incident).await?;
        match (existing, review.is_done()) {
            (Some((id, status)), true) => self.complete_event(guild, id, status).await,
            (None, true) => Ok(()),
            (Some((id, _)), false) => {
                let (start, end) = times(&review);
                guild
                    .edit_scheduled_event(
                        self.http(),
                        id,
                        EditScheduledEvent::new().start_time(start).end_time(end),
                    )
                    .await
                    .map_err(|error| Failed::of(&error, "moving the review meeting"))?;
                Ok(())
            }
            (None, false) => self.create_review_event(guild, incident, &review).await,
        }
    }

    async fn create_review_event(
        &self,
        guild: GuildId,
        incident: &Incident,
        review: &Review,
    ) -> Result<(), Failed> {
        let (start, end) = times(review);
        let location = match incident.channel_id {
            Some(channel) => format!("https://discord.com/channels/{}/{channel}", guild.get()),
            None => format!("warroom {}", incident.id),
        };
        let mut description = format!(
            "Post-incident review of {}: {} (owner {}).",
            incident.id, incident.title, review.owner.name
        );
        if let Some(channel) = incident.channel_id {
            description.push_str(&format!(" Channel: <#{channel}>."));
        }
        let description = format!("{}\n{}", clipped(&description, 900), marker(incident));
        let name = clipped(
            &format!("Review {}: {}", incident.id, incident.title),
            NAME_LIMIT,
        );
        let event = guild
            .create_scheduled_event(
                self.http(),
                CreateScheduledEvent::new(ScheduledEventType::External, name, start)
                    .end_time(end)
                    .location(clipped(&location, NAME_LIMIT))
                    .description(description),
            )
            .await
            .map_err(|error| Failed::of(&error, "creating the review meeting event"))?;
        let post = Post {
            channel_id: guild.get(),
            message_id: event.id.get(),
        };
        self.ops()
            .set_post(incident.id, REVIEW_EVENT, post)
            .await
            .map_err(Failed::database)
    }

    /// The review's event, remembered or (made by a process that died before remembering
    /// it) found by its marker; none once it was completed or cancelled.
    async fn find_review_event(
        &self,
        guild: GuildId,
        incident: &Incident,
    ) -> Result<Option<(ScheduledEventId, ScheduledEventStatus)>, Failed> {
        let events = guild
            .scheduled_events(self.http(), false)
            .await
            .map_err(|error| Failed::of(&error, "listing the guild's scheduled events"))?;
        let remembered = self
            .ops()
            .post(incident.id, REVIEW_EVENT)
            .await
            .map_err(Failed::database)?
            .map(|post| post.message_id);
        let marker = marker(incident);
        Ok(events
            .iter()
            .find(|event| {
                Some(event.id.get()) == remembered
                    || event
                        .description
                        .as_deref()
                        .is_some_and(|text| text.ends_with(&marker))
            })
            .map(|event| (event.id, event.status)))
    }

    /// Completes a scheduled or active event (Discord goes SCHEDULED → ACTIVE → COMPLETED).
    async fn complete_event(
        &self,
        guild: GuildId,
        id: ScheduledEventId,
        status: ScheduledEventStatus,
    ) -> Result<(), Failed> {
        if status == ScheduledEventStatus::Scheduled {
            guild
                .edit_scheduled_event(
                    self.http(),
                    id,
                    EditScheduledEvent::new().status(ScheduledEventStatus::Active),
                )
                .await
                .map_err(|error| Failed::of(&error, "starting the review meeting event"))?;
        }
        guild
            .edit_scheduled_event(
                self.http(),
                id,
                EditScheduledEvent::new().status(ScheduledEventStatus::Completed),
            )
            .await
            .map_err(|error| Failed::of(&error, "completing the review meeting event"))?;
        Ok(())
    }
}

fn times(review: &Review) -> (serenity::all::Timestamp, serenity::all::Timestamp) {
    let start = review.meeting_at.unwrap_or(review.due_at);
    (
        discord_time(start),
        discord_time(followup_meeting_end(start)),
    )
}
