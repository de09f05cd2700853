//! Durable timers as values: one per `(kind, subject)` (e.g. `ack_deadline` for `INC-12`,
//! `heartbeat` for `nightly-backup`), due at a time, carrying what its handler needs.

use serde_json::Value;

use super::Timestamp;

/// A pending timer, as the engine hands it to the handler of its kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Timer {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub due_at: Timestamp,
    pub data: Value,
    /// How often it fired before (a recurring reminder counts its rounds).
    pub fires: i64,
}

/// A change to a timer, made in the transaction of what causes it.
#[derive(Clone, Debug, PartialEq)]
pub enum TimerOp {
    /// Arms (or re-arms) the timer for `due_at`.
    Set {
        kind: String,
        subject: String,
        due_at: Timestamp,
        data: Value,
    },
    /// Ends it without firing (what it waited for happened).
    Cancel { kind: String, subject: String },
}

impl TimerOp {
    pub fn set(kind: &str, subject: impl Into<String>, due_at: Timestamp, data: Value) -> TimerOp {
        TimerOp::Set {
            kind: kind.to_owned(),
            subject: subject.into(),
            due_at,
            data,
        }
    }

    pub fn cancel(kind: &str, subject: impl Into<String>) -> TimerOp {
        TimerOp::Cancel {
            kind: kind.to_owned(),
            subject: subject.into(),
        }
    }
}
