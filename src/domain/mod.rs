//! Incidents, statuses, timeline events, actors, the clock, and the value types several layers
//! share (alerts, page targets and recipients, severities and services, bot roles, text
//! limits): plain types and rules, no I/O. Nothing here imports another part of the crate.

mod actor;
mod alert;
mod during;
mod event;
mod followup;
mod gateway;
mod heartbeat;
mod ids;
mod incident;
mod page;
mod run;
mod service;
mod time;
mod timer;

pub use actor::Actor;
pub use alert::{AlertReport, AlertState};
pub use during::{
    CHECKLIST_KINDS, ChecklistItem, RecoveryPoint, Tick, checklist, checklist_progress, parse_time,
};
pub use event::{Event, EventKind, NewEvent, UnknownEventKind};
pub use followup::{ACTION_DUE_TIMER, ActionItem, REVIEW_DUE_TIMER, Review, action_label};
pub use gateway::{GATEWAY_LEASE, GatewayState};
pub use heartbeat::{
    HANDOFF_TIMER, HEARTBEAT_TIMER, Heartbeat, HeartbeatState, MaintenanceWindow, NewMaintenance,
    NewOverride, StoredOverride,
};
pub(crate) use ids::discord_ids;
pub use incident::{
    Action, COMMANDER_ROLE, Incident, IncidentId, NewIncident, ParseIncidentIdError, Refusal,
    Source, Status, TEXT_LIMIT, TITLE_LIMIT, UnknownStatus,
};
pub use page::{NotifierKind, Recipient, Target, TargetParseError};
pub use run::{Run, RunApproval, RunId, RunRefusal, RunState};
pub use service::{ServiceConfig, SeverityConfig, bot_roles};
pub use time::{Clock, ManualClock, SystemClock, Timestamp, format_duration};
pub use timer::{Timer, TimerOp};
