//! Alerts as values: one alert as a sender reports it (normalized from any format) and its
//! state. Shared by the wire formats, ingestion and the store.

use std::collections::BTreeMap;

use super::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertState {
    Firing,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

/// One alert as a delivery reports it, normalized from any sender's format.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertReport {
    /// The alert's identity at its sender (Alertmanager fingerprint, PagerDuty dedup_key).
    pub fingerprint: String,
    /// When it started, as the sender says. With the fingerprint it identifies one instance
    /// of the alert; `None` when the sender gives no start (then a firing after a resolution
    /// is a new instance).
    pub starts_at: Option<Timestamp>,
    pub ends_at: Option<Timestamp>,
    pub state: AlertState,
    pub summary: String,
    pub labels: BTreeMap<String, String>,
    /// What else the sender said (annotations, links), kept in the timeline event.
    pub details: serde_json::Value,
}
