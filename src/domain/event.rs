//! Timeline events: the append-only record of everything that happened in an incident.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Actor, IncidentId, Timestamp};

macro_rules! event_kinds {
    ($($variant:ident => $name:literal,)*) => {
        /// The kinds of timeline events (SPEC §1). Stored and exported by their snake_case name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum EventKind { $($variant,)* }

        impl EventKind {
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(EventKind::$variant => $name,)* }
            }
        }
    };
}

event_kinds! {
    Opened => "opened",
    StatusChanged => "status_changed",
    Acknowledged => "acknowledged",
    SeverityChanged => "severity_changed",
    RoleAssigned => "role_assigned",
    Note => "note",
    StatusUpdate => "status_update",
    Message => "message",
    MessageEdited => "message_edited",
    MessageDeleted => "message_deleted",
    Highlighted => "highlighted",
    PageSent => "page_sent",
    PageFailed => "page_failed",
    Escalated => "escalated",
    CommandRequested => "command_requested",
    CommandApproved => "command_approved",
    CommandDenied => "command_denied",
    CommandExpired => "command_expired",
    CommandStarted => "command_started",
    CommandFinished => "command_finished",
    AlertFiring => "alert_firing",
    AlertResolved => "alert_resolved",
    ChecklistChecked => "checklist_checked",
    Exported => "exported",
    Archived => "archived",
    AckDeadlineMissed => "ack_deadline_missed",
    Reminder => "reminder",
    ChecklistUnchecked => "checklist_unchecked",
    RpoRecorded => "rpo_recorded",
    CheckFailed => "check_failed",
    CheckRecovered => "check_recovered",
    HeartbeatMissed => "heartbeat_missed",
    HeartbeatRecovered => "heartbeat_recovered",
    ReviewScheduled => "review_scheduled",
    ReviewDone => "review_done",
    ActionItemAdded => "action_item_added",
    ActionItemDone => "action_item_done",
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown timeline event kind `{0}` (written by a newer warroom?)")]
pub struct UnknownEventKind(pub String);

impl FromStr for EventKind {
    type Err = UnknownEventKind;

    fn from_str(text: &str) -> Result<EventKind, UnknownEventKind> {
        EventKind::ALL
            .iter()
            .copied()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| UnknownEventKind(text.to_owned()))
    }
}

/// One entry of an incident's timeline, as stored. Never updated, never deleted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub incident_id: IncidentId,
    /// Per incident, gap-free, starting at 1 with `opened`.
    pub seq: i64,
    pub at: Timestamp,
    pub kind: EventKind,
    pub actor: Actor,
    pub text: String,
    /// Structured detail (message ids, old and new values, argv...). An object, possibly empty.
    pub data: serde_json::Value,
}

/// An event about to be appended; the store gives it its `seq`.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub at: Timestamp,
    pub kind: EventKind,
    pub actor: Actor,
    pub text: String,
    pub data: serde_json::Value,
    /// An idempotency key, unique per incident: appending an event whose key already exists
    /// changes nothing. Redelivered Discord messages and alert deliveries rely on it.
    pub key: Option<String>,
}

impl NewEvent {
    pub fn new(at: Timestamp, kind: EventKind, actor: Actor, text: impl Into<String>) -> NewEvent {
        NewEvent {
            at,
            kind,
            actor,
            text: text.into(),
            data: serde_json::Value::Object(serde_json::Map::new()),
            key: None,
        }
    }

    pub fn with_data(mut self, data: serde_json::Value) -> NewEvent {
        self.data = data;
        self
    }

    pub fn with_key(mut self, key: impl Into<String>) -> NewEvent {
        self.key = Some(key.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>().unwrap(), *kind);
            assert_eq!(
                serde_json::to_string(kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
    }
}
