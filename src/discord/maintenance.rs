//! Maintenance windows shown in Discord by the gateway holder, from the database: each window
//! is announced once (a message nonce made from its id keeps a retry from posting twice), and
//! one planned ahead (`start_at` later than now) becomes a Discord Scheduled Event
//! (external, with the window's end), so the server's events list shows the planned work;
//! ended early, its event is taken down.

use serenity::all::{CreateScheduledEvent, GuildId, Nonce, ScheduledEventId, ScheduledEventType};

use super::context::Bot;
use super::render;
use crate::domain::MaintenanceWindow;

/// Windows shown per round.
const BATCH: u32 = 20;

/// Discord's limit on a scheduled event's name and location.
const EVENT_TEXT_LIMIT: usize = 100;

impl Bot {
    /// Shows the windows not shown yet; false when something is to be retried.
    pub(crate) async fn show_maintenance(&self) -> bool {
        let store = self.ops().store();
        let now = self.ops().clock().now();
        let windows = match store.unannounced_maintenance(now, BATCH).await {
            Ok(windows) => windows,
            Err(error) => {
                tracing::warn!(%error, "cannot read the maintenance windows to show");
                return false;
            }
        };
        let mut done = self.close_ended_events().await;
        for window in windows {
            let text = render::maintenance_started(&window);
            if let Err(failed) = self
                .announce(text, None, Nonce::String(format!("mw{}", window.id)))
                .await
                && !failed.permanent
            {
                tracing::info!(window = window.id, reason = %failed, "announcing a maintenance window failed; retrying shortly");
                done = false;
                continue;
            }
            let event = if window.starts_at > now {
                self.scheduled_event(&window).await
            } else {
                None
            };
            if let Err(error) = store
                .record_maintenance_announced(window.id, event, now)
                .await
            {
                tracing::warn!(%error, window = window.id, "cannot record a maintenance window as shown");
                done = false;
            }
        }
        done
    }

    /// Takes down the scheduled events of windows ended early; false when one is to be retried.
    async fn close_ended_events(&self) -> bool {
        let store = self.ops().store();
        let (Some(guild), Ok(ended)) = (
            self.config().discord.guild_id,
            store.ended_maintenance_events(BATCH).await,
        ) else {
            return true;
        };
        let mut done = true;
        for (window, event) in ended {
            let gone = match GuildId::new(guild)
                .delete_scheduled_event(self.http(), ScheduledEventId::new(event))
                .await
            {
                Ok(()) => true,
                Err(error) => {
                    let failed = super::rooms::Failed::of(&error, "deleting the scheduled event");
                    // Gone already (deleted by hand, say) is as good as deleted.
                    failed.permanent
                }
            };
            if !gone {
                done = false;
                continue;
            }
            let now = self.ops().clock().now();
            if store
                .record_maintenance_event_closed(window, now)
                .await
                .is_err()
            {
                done = false;
            }
        }
        done
    }

    /// The Discord Scheduled Event of a planned window, if the guild is known and Discord
    /// takes it (a refusal is logged: the announcement already says it all).
    async fn scheduled_event(&self, window: &MaintenanceWindow) -> Option<u64> {
        let guild = GuildId::new(self.config().discord.guild_id?);
        let cut = |text: String| text.chars().take(EVENT_TEXT_LIMIT).collect::<String>();
        let start = serenity::all::Timestamp::from_millis(window.starts_at.as_millis()).ok()?;
        let end = serenity::all::Timestamp::from_millis(window.ends_at.as_millis()).ok()?;
        let builder = CreateScheduledEvent::new(
            ScheduledEventType::External,
            cut(format!("Maintenance: {}", window.describe_target())),
            start,
        )
        .end_time(end)
        .location(cut(format!("warroom maintenance #{}", window.id)))
        .description(render::fit(window.reason.clone()));
        match guild.create_scheduled_event(self.http(), builder).await {
            Ok(event) => Some(event.id.get()),
            Err(error) => {
                tracing::warn!(%error, window = window.id, "Discord refused the maintenance window's scheduled event");
                None
            }
        }
    }
}
