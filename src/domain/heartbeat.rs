//! Heartbeats, maintenance windows and on-call overrides made from chat, as values: what the
//! config says a heartbeat is, and what the database holds of windows and overrides.

use std::time::Duration;

use serde::Serialize;

use super::{Actor, Timestamp};

/// The timer kind of a heartbeat's deadline; its subject is the heartbeat's name.
pub const HEARTBEAT_TIMER: &str = "heartbeat";

/// The timer kind of a schedule's next handoff; its subject is the schedule's name.
pub const HANDOFF_TIMER: &str = "handoff";

/// A configured heartbeat (`[heartbeats.NAME]`): a job that must check in every `every`,
/// given `grace` more before its silence opens an incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub name: String,
    pub every: Duration,
    pub grace: Duration,
    /// The service its incident is about, if any.
    pub service: Option<String>,
    /// The severity its incident opens with.
    pub severity: String,
    /// Mark the incident mitigated when the job beats again.
    pub mitigate_on_recovery: bool,
}

impl Heartbeat {
    /// The deadline after a beat (or the start-up) at `from`.
    pub fn deadline_after(&self, from: Timestamp) -> Timestamp {
        from.plus(self.every + self.grace)
    }
}

/// What the database knows of a heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HeartbeatState {
    pub last_beat_at: Option<Timestamp>,
    pub beats: i64,
    /// The deadline that was missed, while its incident is the heartbeat's.
    pub missed_due: Option<Timestamp>,
    pub incident_id: Option<super::IncidentId>,
}

/// A maintenance window: a service or an alert route whose alerts open nothing over
/// `[starts_at, ends_at)` (or until it was ended early).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MaintenanceWindow {
    pub id: i64,
    pub service: Option<String>,
    pub route: Option<String>,
    pub reason: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub created_by: Actor,
    /// Alerts it held back so far.
    pub alerts: i64,
}

impl MaintenanceWindow {
    /// When it stops holding alerts back: its end, or when it was ended early.
    pub fn until(&self) -> Timestamp {
        self.ended_at
            .map_or(self.ends_at, |ended| ended.min(self.ends_at))
    }

    pub fn active_at(&self, at: Timestamp) -> bool {
        self.starts_at <= at && at < self.until()
    }

    /// `service api` or `route db-alerts`.
    pub fn describe_target(&self) -> String {
        match (&self.service, &self.route) {
            (Some(service), _) => format!("service {service}"),
            (None, Some(route)) => format!("route {route}"),
            (None, None) => "nothing".to_owned(),
        }
    }
}

/// A window about to be stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMaintenance {
    pub service: Option<String>,
    pub route: Option<String>,
    pub reason: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub created_by: Actor,
    pub created_at: Timestamp,
}

/// An override made from chat (or the CLI): `user` on call in `schedule` over
/// `[starts_at, ends_at)`, applied after the file's overrides, so it wins where they overlap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoredOverride {
    pub id: i64,
    pub schedule: String,
    #[serde(serialize_with = "crate::domain::discord_ids::one")]
    pub user_id: u64,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub created_by: Actor,
    pub created_at: Timestamp,
}

/// An override about to be stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOverride {
    pub schedule: String,
    pub user_id: u64,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub created_by: Actor,
    pub created_at: Timestamp,
}
