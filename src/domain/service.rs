//! What a team declares about its incidents: severities (the runbooks' P1..P4, with their
//! deadlines and policies) and services (their recovery objectives and checklists), and the
//! bot roles the code itself refers to. Read from the config; plain data.

use std::time::Duration;

/// One `[severities.NAME]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeverityConfig {
    pub name: String,
    pub description: String,
    /// How long an incident of this severity may stay unacknowledged (the runbooks' P1..P4).
    pub ack_within: Duration,
    /// How long after resolution its post-incident review is due (`review_within`).
    pub review_within: Duration,
    /// The escalation policy incidents of this severity use, unless their service names one.
    pub policy: Option<String>,
    /// How often a status update is due while the incident is unresolved; the commander (or
    /// the channel) is nudged when none was posted for this long. Zero: no reminder.
    pub update_every: Duration,
    /// How long the incident may go without a commander before the channel is nudged. Zero:
    /// no reminder.
    pub commander_within: Duration,
}

/// One `[services.NAME]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    pub name: String,
    pub description: String,
    /// Recovery time objective: how long the service may be down.
    pub rto: Duration,
    /// Recovery point objective: how much data (as time) may be lost.
    pub rpo: Duration,
    /// What to verify before calling the service recovered.
    pub checklist: Vec<String>,
    /// The severity alerts for this service open with unless a route says otherwise.
    pub default_severity: Option<String>,
    /// The escalation policy for this service's incidents; it wins over the severity's.
    pub policy: Option<String>,
}

/// The bot roles the code itself refers to (SPEC §2 permissions); others may be added freely
/// in `[roles]`.
pub mod bot_roles {
    pub const RESPONDER: &str = "responder";
    pub const INCIDENT_COMMANDER: &str = "incident_commander";
    pub const ADMIN: &str = "admin";
    /// May post alerts (API tokens only). `admin` holds it too, as it holds every role.
    pub const ALERT_SENDER: &str = "alert_sender";
    /// May check in heartbeats (API tokens only). `admin` holds it too.
    pub const HEARTBEAT_SENDER: &str = "heartbeat_sender";
}
