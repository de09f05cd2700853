//! Drill announcements (SPEC §8): a drill within its `announce_ahead` leaves a row in
//! `drill_announcements` (written by whichever process's timer engine fired); the gateway
//! holder creates each as a Discord Scheduled Event once, records the event's id, and gives
//! up on one Discord refuses for good. A row is claimed by being the holder's: only one
//! process holds the gateway, so a row is created once unless that process dies between
//! Discord's answer and the write (Scheduled Events take no nonce).

use serenity::all::{CreateScheduledEvent, GuildId, ScheduledEventType};

use super::context::Bot;
use super::rooms::Failed;
use crate::store::DrillAnnouncement;

/// Announcements created per round.
const BATCH: u32 = 20;

/// Attempts at an announcement that keeps failing for a reason that may pass.
const ATTEMPTS: i64 = 10;

/// How long an announced drill's event lasts (Discord wants an end for external events).
const DRILL_EVENT_LENGTH: std::time::Duration = std::time::Duration::from_secs(3600);

impl Bot {
    /// Creates the Scheduled Events owed for drills; false when something is to be retried.
    pub(crate) async fn send_drill_announcements(&self) -> bool {
        let store = self.ops().store();
        let pending = match store.pending_drill_announcements(BATCH).await {
            Ok(pending) => pending,
            Err(error) => {
                tracing::warn!(%error, "cannot read the drill announcements");
                return false;
            }
        };
        let mut done = true;
        for announcement in pending {
            let now = self.ops().clock().now();
            let (event_id, done_at, outcome) = match self.create_event(&announcement).await {
                Ok(id) => (Some(id), Some(now), "created".to_owned()),
                Err(failed) if failed.permanent || announcement.attempts + 1 >= ATTEMPTS => {
                    tracing::warn!(drill = %announcement.drill, reason = %failed, "a drill's Scheduled Event cannot be created; given up");
                    (None, Some(now), format!("not created: {failed}"))
                }
                Err(failed) => {
                    done = false;
                    (None, None, format!("failed for now: {failed}"))
                }
            };
            if let Err(error) = store
                .record_drill_announcement(announcement.id, event_id, done_at, &outcome)
                .await
            {
                tracing::warn!(%error, drill = %announcement.drill, "cannot record a drill announcement");
                done = false;
            }
        }
        done
    }

    async fn create_event(&self, announcement: &DrillAnnouncement) -> Result<u64, Failed> {
        let Some(guild) = self.config().discord.guild_id else {
            return Err(Failed {
                reason: "no [discord] guild_id is configured".to_owned(),
                permanent: true,
            });
        };
        let start = announcement.starts_at.to_datetime();
        let end = announcement
            .starts_at
            .plus(DRILL_EVENT_LENGTH)
            .to_datetime();
        let builder = CreateScheduledEvent::new(
            ScheduledEventType::External,
            cut(&announcement.title, 100),
            serenity::all::Timestamp::from(start),
        )
        .end_time(serenity::all::Timestamp::from(end))
        .location("warroom: the drill's incident channel opens at this time")
        .description(cut(&announcement.description, 1000));
        GuildId::new(guild)
            .create_scheduled_event(self.http(), builder)
            .await
            .map(|event| event.id.get())
            .map_err(|error| Failed::of(&error, "creating the drill's Scheduled Event"))
    }
}

/// At most `limit` characters (Discord's limits on an event's name and description).
fn cut(text: &str, limit: usize) -> String {
    text.chars().take(limit).collect()
}
