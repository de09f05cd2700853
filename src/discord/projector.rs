//! Discord shows what the database says (SPEC §2, §8). The projector, run by the process that
//! holds the gateway lease, finds incidents whose timeline has events Discord has not been
//! shown (a durable cursor per incident, `shown_seq`), shows them in order — the room and its
//! card for `opened`, card redraws, announcements, lines in the room — and moves the cursor.
//! It does the same for run cards (a cursor per run over its audit trail). Whoever made the
//! change (Discord, the CLI, the REST API, alerts, the engine, another process) does not
//! matter: only committed rows do.
//!
//! It wakes on this process's commits and on the store's change feed (other processes), and
//! looks anyway every [`FALLBACK_LOOK`]. A Discord call that fails for a reason that may pass
//! (Discord unreachable, 5xx, 429) stops that incident's projection at that event, to be
//! retried; one Discord refuses for good is logged and passed. Effects are idempotent (see
//! `rooms.rs`), so showing an event again after a crash or a takeover shows it once.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use tokio::sync::watch;

use super::context::Bot;
use super::render;
use super::rooms::{Failed, nonce};
use crate::domain::{Event, EventKind, Incident, RunId, Status};
use crate::store::Unshown;

/// The longest the projector waits without looking, should a wake-up be missed: SPEC §2's
/// "within 2 seconds".
const FALLBACK_LOOK: Duration = Duration::from_secs(1);

/// Incidents looked at per round.
const BATCH: u32 = 100;

/// Incidents projected at once: Discord takes parallel requests across channels, and one slow
/// incident must not hold the others up.
const PARALLEL: usize = 8;

/// Events read per incident per step.
const EVENT_PAGE: u32 = 200;

/// After a failure that may pass, the pause before the next round.
const RETRY_AFTER: Duration = Duration::from_secs(2);

impl Bot {
    /// Projects until `stop` says so; then once more, so what was committed before the stop
    /// (a run interrupted at shutdown, say) is shown.
    pub(crate) async fn project(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut feed = self.ops().store().change_feed();
        let mut commits = self.ops().commits();
        loop {
            let outcome = self.project_round().await;
            if *stop.borrow() {
                break;
            }
            let pause = match outcome {
                Round::More => continue,
                Round::Idle => FALLBACK_LOOK,
                Round::Retry => RETRY_AFTER,
            };
            tokio::select! {
                _ = feed.changed() => {}
                _ = commits.changed() => {}
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        }
        let _ = self.project_round().await;
    }

    /// One look at everything not yet shown.
    pub(crate) async fn project_round(self: &Arc<Self>) -> Round {
        let store = self.ops().store().clone();
        let (incidents, runs) = match (
            store.unshown(BATCH).await,
            store.run_cards_behind(BATCH).await,
        ) {
            (Ok(incidents), Ok(runs)) => (incidents, runs),
            (Err(error), _) | (_, Err(error)) => {
                tracing::warn!(%error, "cannot read what Discord has not been shown yet");
                return Round::Retry;
            }
        };
        let full = incidents.len() == BATCH as usize || runs.len() == BATCH as usize;
        let results: Vec<bool> = stream::iter(incidents)
            .map(|unshown| {
                let bot = self.clone();
                async move { bot.project_incident(unshown).await }
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        let mut all_done = results.iter().all(|done| *done);
        for (run, audit) in runs {
            all_done &= self.project_run_card(run, audit).await;
        }
        all_done &= self.send_outbox().await;
        all_done &= self.send_drill_announcements().await;
        all_done &= self.show_maintenance().await;
        match (all_done, full) {
            (false, _) => Round::Retry,
            (true, true) => Round::More,
            (true, false) => Round::Idle,
        }
    }

    /// Shows one incident's unshown events in order; false when it stopped early (to retry).
    async fn project_incident(&self, unshown: Unshown) -> bool {
        let id = unshown.incident;
        let store = self.ops().store();
        let mut shown = unshown.shown_seq;
        while shown < unshown.last_seq {
            let (mut incident, events) = match (
                store.get_incident(id).await,
                store.timeline_page(id, shown, EVENT_PAGE).await,
            ) {
                (Ok(Some(incident)), Ok(events)) => (incident, events),
                (Ok(None), _) => return true,
                (Err(error), _) | (_, Err(error)) => {
                    tracing::warn!(%error, incident = %id, "cannot read the incident to show it");
                    return false;
                }
            };
            if events.is_empty() {
                break;
            }
            let mut card_from = None;
            let mut stopped = false;
            for event in &events {
                match self.show_event(&mut incident, event).await {
                    Ok(card) => {
                        if card && card_from.is_none() {
                            card_from = Some(shown);
                        }
                        shown = event.seq;
                    }
                    Err(failed) => {
                        tracing::warn!(incident = %id, seq = event.seq, reason = %failed, "showing an event in Discord failed; retrying shortly");
                        stopped = true;
                        break;
                    }
                }
            }
            // The card shows the incident as it is now, so one redraw covers the whole page;
            // if it fails, the events that changed it are shown again.
            if let Some(before) = card_from
                && let Err(failed) = self.redraw(&incident).await
            {
                if failed.permanent {
                    tracing::warn!(incident = %id, reason = %failed, "Discord refused the card; it is redrawn with the next change");
                } else {
                    tracing::warn!(incident = %id, reason = %failed, "updating the card failed; retrying shortly");
                    shown = before;
                    stopped = true;
                }
            }
            if shown > unshown.shown_seq
                && let Err(error) = store.mark_shown(id, shown).await
            {
                tracing::warn!(%error, incident = %id, "cannot record what Discord was shown");
                return false;
            }
            if stopped {
                return false;
            }
        }
        true
    }

    /// Shows one event: what it says in the room and the announce channel. True when the card
    /// changed with it (redrawn once per page of events).
    async fn show_event(&self, incident: &mut Incident, event: &Event) -> Result<bool, Failed> {
        let result = self.try_show_event(incident, event).await;
        match result {
            Err(failed) if failed.permanent => {
                tracing::warn!(incident = %incident.id, seq = event.seq, reason = %failed, "Discord refused to show an event; passing it");
                Ok(false)
            }
            other => other,
        }
    }

    async fn try_show_event(&self, incident: &mut Incident, event: &Event) -> Result<bool, Failed> {
        let id = incident.id;
        match event.kind {
            EventKind::Opened => {
                // A room is for an incident still being worked on: one opened and resolved
                // while Discord was unreachable is announced, not given a channel.
                if incident.status != Status::Resolved {
                    let channel_id = self.ensure_room(incident).await?;
                    incident.channel_id = Some(channel_id);
                }
                let text = render::opened_announcement(incident, incident.channel_id);
                if let Some(text) = self.announcement_of(incident, text, true) {
                    self.announce(text, incident.channel_id, nonce('a', id, event.seq, 0))
                        .await?;
                }
                return Ok(false);
            }
            EventKind::Archived => {
                self.say(incident, event.seq, &render::archived_line(incident))
                    .await?;
                self.archive_room(incident).await?;
            }
            EventKind::StatusChanged if event.data["from"] == "resolved" => {
                self.unarchive_room(incident).await?;
            }
            EventKind::RoleAssigned => {
                if let Ok(assignee) = serde_json::from_value(event.data["assignee"].clone()) {
                    self.admit(incident, &assignee).await?;
                }
            }
            EventKind::AlertResolved if event.data["all_resolved"] == true => {
                let text = render::all_alerts_resolved(id, &event.text);
                self.say(incident, event.seq, &text).await?;
            }
            EventKind::ReviewScheduled | EventKind::ReviewDone => {
                self.sync_review_meeting(incident).await?;
            }
            // Reminders of follow-ups (a review, an action item) are said without a ping: the
            // owner has their DM. Nudges during the incident ping whom they are for.
            EventKind::Reminder if event.data.get("about").is_some() => {
                self.say(incident, event.seq, &format!("⏰ {}", event.text))
                    .await?;
            }
            EventKind::AckDeadlineMissed => {
                self.say(
                    incident,
                    event.seq,
                    &render::during::deadline_missed_line(event),
                )
                .await?;
                let text = render::during::deadline_missed_announcement(incident, event);
                self.announce(text, incident.channel_id, nonce('a', id, event.seq, 0))
                    .await?;
            }
            EventKind::Reminder => self.nudge(incident, event).await?,
            EventKind::CheckFailed | EventKind::CheckRecovered => {
                if let Some(text) = render::schedules::check_line(id, event) {
                    self.say(incident, event.seq, &text).await?;
                }
            }
            EventKind::HeartbeatMissed | EventKind::HeartbeatRecovered => {
                let text = render::heartbeat_line(event);
                self.say(incident, event.seq, &text).await?;
            }
            EventKind::CommandRequested
            | EventKind::CommandApproved
            | EventKind::CommandDenied
            | EventKind::CommandStarted
            | EventKind::CommandFinished => {
                // The run's card follows its audit trail (project_run_card); nothing else.
            }
            _ => {}
        }
        if let Some(text) = render::escalation_line(event) {
            self.say(incident, event.seq, &text).await?;
        }
        if let Some(text) = render::change_announcement(incident, event)
            .and_then(|text| self.announcement_of(incident, text, false))
        {
            self.announce(text, incident.channel_id, nonce('a', id, event.seq, 0))
                .await?;
        }
        Ok(matches!(
            event.kind,
            EventKind::Acknowledged
                | EventKind::StatusChanged
                | EventKind::SeverityChanged
                | EventKind::RoleAssigned
                | EventKind::ChecklistChecked
                | EventKind::ChecklistUnchecked
        ))
    }

    /// Redraws the card, and the tags of the incident's forum post.
    async fn redraw(&self, incident: &Incident) -> Result<(), Failed> {
        self.refresh_card(incident).await?;
        self.sync_forum_tags(incident).await
    }

    /// A line in the incident's room; its room is made first if it is missing (level 1 pages
    /// as the incident opens), except for a resolved incident, which gets none made for it.
    async fn say(&self, incident: &mut Incident, seq: i64, text: &str) -> Result<(), Failed> {
        let channel_id = match incident.channel_id {
            Some(channel_id) => channel_id,
            None if incident.status == Status::Resolved => return Ok(()),
            None => {
                let channel_id = self.ensure_room(incident).await?;
                incident.channel_id = Some(channel_id);
                channel_id
            }
        };
        self.say_in_room(incident.id, channel_id, seq, text).await
    }

    /// Redraws a run's card from the run as stored; true when done (or nothing to do).
    async fn project_run_card(&self, id: RunId, audit: i64) -> bool {
        let run = match self.ops().show_run(id).await {
            Ok((run, _)) => run,
            Err(error) => {
                tracing::warn!(%error, run = %id, "cannot read a run to redraw its card");
                return false;
            }
        };
        if let Err(failed) = self.refresh_run_card(&run).await
            && !failed.permanent
        {
            tracing::warn!(run = %id, reason = %failed, "updating a run card failed; retrying shortly");
            return false;
        }
        let finished = run.state.is_final();
        if let Err(error) = self
            .ops()
            .store()
            .mark_run_card_shown(id, audit, finished)
            .await
        {
            tracing::warn!(%error, run = %id, "cannot record that a run card was redrawn");
            return false;
        }
        true
    }
}

/// What one round of projection found.
pub(crate) enum Round {
    /// A full batch: look again at once.
    More,
    /// Everything shown.
    Idle,
    /// Something failed and waits for another try.
    Retry,
}
