//! Incidents, statuses, timeline events, actors and the clock: plain types and rules, no I/O.

mod actor;
mod event;
mod ids;
mod incident;
mod run;
mod time;

pub use actor::Actor;
pub use event::{Event, EventKind, NewEvent, UnknownEventKind};
pub use incident::{
    Action, COMMANDER_ROLE, Incident, IncidentId, NewIncident, ParseIncidentIdError, Refusal,
    Source, Status, UnknownStatus,
};
pub use run::{Run, RunApproval, RunId, RunRefusal, RunState};
pub use time::{Clock, ManualClock, SystemClock, Timestamp, format_duration};
