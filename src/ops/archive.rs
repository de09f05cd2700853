//! Archiving resolved incidents' rooms (SPEC §2 `archive_after`): resolving arms a durable
//! `archive` timer in the same transaction, reopening cancels it. When it fires, the handler
//! appends an `archived` event; the projector (the gateway holder) shows it by moving the
//! channel to the archive category and locking it, or archiving and locking the thread or
//! forum post. Reopening an archived incident unarchives its room (also the projector's).

use async_trait::async_trait;
use serde_json::json;

use super::timers::{Fired, TimerHandler};
use super::{Ops, OpsError};
use crate::domain::{
    Action, Actor, EventKind, IncidentId, NewEvent, Status, Timer, TimerOp, Timestamp,
};

/// The timer kind; its subject is the incident id.
pub const ARCHIVE_TIMER: &str = "archive";

impl Ops {
    /// The archive timer change a status transition makes: armed by a resolution, cancelled
    /// by a reopening, nothing otherwise (or when `archive_after` is off).
    pub(super) fn archive_timers(
        &self,
        action: Action,
        id: IncidentId,
        now: Timestamp,
    ) -> Vec<TimerOp> {
        let subject = id.0.to_string();
        match (action, self.config.discord.archive_after) {
            (Action::Resolve, Some(after)) => {
                vec![TimerOp::set(
                    ARCHIVE_TIMER,
                    subject,
                    now.plus(after),
                    json!({}),
                )]
            }
            (Action::Reopen, _) => vec![TimerOp::cancel(ARCHIVE_TIMER, subject)],
            _ => Vec::new(),
        }
    }
}

/// Fires `archive` timers.
pub struct ArchiveHandler;

#[async_trait]
impl TimerHandler for ArchiveHandler {
    fn kind(&self) -> &'static str {
        ARCHIVE_TIMER
    }

    async fn fire(&self, ops: &Ops, timer: &Timer, now: Timestamp) -> Result<Fired, OpsError> {
        let Ok(number) = timer.subject.parse::<i64>() else {
            tracing::warn!(subject = %timer.subject, "an archive timer for no incident; dropped");
            return Ok(Fired::Done);
        };
        let id = IncidentId(number);
        let incident = match ops.incident(id).await {
            Ok(incident) => incident,
            Err(OpsError::NotFound(_)) => return Ok(Fired::Done),
            Err(error) => return Err(error),
        };
        // Reopened since (the cancel lost a race with the claim), or never given a room.
        if incident.status != Status::Resolved || incident.channel_id.is_none() {
            return Ok(Fired::Done);
        }
        let event = NewEvent::new(
            now,
            EventKind::Archived,
            Actor::system(),
            format!(
                "Archived: {id} was resolved long enough ago; its room is locked (reopen the incident to unarchive it)"
            ),
        )
        .with_key(format!("archive:{}:{}", timer.id, timer.fires))
        .with_data(json!({"resolved_at": incident.resolved_at}));
        ops.append(id, vec![event]).await?;
        Ok(Fired::Done)
    }
}
