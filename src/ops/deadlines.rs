//! Deadlines and reminders of an incident (SPEC §1 "Deadline and reminder"), on the durable
//! timers: `ack_deadline` (the severity's `ack_within`, enforced with `ack_deadline_missed`),
//! `update_reminder` (a status update every `update_every`) and `commander_reminder` (a
//! commander within `commander_within`). Each is one timer per incident, set in the write that
//! opens (or reopens) the incident and cancelled or re-armed in the write that satisfies it:
//! the acknowledgement, a status update, a commander assigned, the resolution.
//!
//! Handlers decide inside the incident's write lock (`update_incident`), so a deadline
//! whose acknowledgement committed first writes nothing; their events are keyed by the due
//! time, so a firing repeated after a crash writes nothing more.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use super::timers::{Fired, TimerHandler};
use super::{Ops, OpsError};
use crate::config::Config;
use crate::domain::{
    Actor, EventKind, Incident, IncidentId, NewEvent, Refusal, SeverityConfig, Status, Timer,
    TimerOp, Timestamp, format_duration,
};
use crate::store::{Change, EscalationEffect};

pub const ACK_DEADLINE: &str = "ack_deadline";
pub const UPDATE_REMINDER: &str = "update_reminder";
pub const COMMANDER_REMINDER: &str = "commander_reminder";

/// The handlers of this module's timers, for `timers::handlers()`.
pub fn handlers() -> Vec<Arc<dyn TimerHandler>> {
    vec![
        Arc::new(AckDeadline),
        Arc::new(Reminder(ReminderKind::Update)),
        Arc::new(Reminder(ReminderKind::Commander)),
    ]
}

fn subject(id: IncidentId) -> String {
    id.0.to_string()
}

/// The timers an incident starts (or restarts, reopened) with at `now`.
pub(crate) fn starting(config: &Config, incident: &Incident, now: Timestamp) -> Vec<TimerOp> {
    let Some(severity) = config.severity(&incident.severity) else {
        return Vec::new();
    };
    let id = subject(incident.id);
    let mut timers = Vec::new();
    if !severity.ack_within.is_zero() && incident.acknowledged_at.is_none() {
        timers.push(TimerOp::set(
            ACK_DEADLINE,
            id.clone(),
            now.plus(severity.ack_within),
            json!({}),
        ));
    }
    if !severity.update_every.is_zero() {
        timers.push(TimerOp::set(
            UPDATE_REMINDER,
            id.clone(),
            now.plus(severity.update_every),
            json!({}),
        ));
    }
    if !severity.commander_within.is_zero() && incident.commander().is_none() {
        timers.push(TimerOp::set(
            COMMANDER_REMINDER,
            id,
            now.plus(severity.commander_within),
            json!({}),
        ));
    }
    timers
}

/// The severity changed at `now`: the deadlines and reminders of the new one apply — the ack
/// deadline counted from the opening (so one already passed fires at once), reminders from
/// now; those the new severity does not have end.
pub(crate) fn reseveritied(config: &Config, incident: &Incident, now: Timestamp) -> Vec<TimerOp> {
    let Some(severity) = config.severity(&incident.severity) else {
        return Vec::new();
    };
    if !incident.status.is_active() {
        return Vec::new();
    }
    let id = subject(incident.id);
    let set_or_end = |kind: &str, every: Duration, due_at: Timestamp, wanted: bool| {
        if wanted && !every.is_zero() {
            TimerOp::set(kind, id.clone(), due_at, json!({}))
        } else {
            TimerOp::cancel(kind, id.clone())
        }
    };
    let mut timers = vec![
        set_or_end(
            UPDATE_REMINDER,
            severity.update_every,
            now.plus(severity.update_every),
            true,
        ),
        set_or_end(
            COMMANDER_REMINDER,
            severity.commander_within,
            now.plus(severity.commander_within),
            incident.commander().is_none(),
        ),
    ];
    if incident.status == Status::Open && incident.acknowledged_at.is_none() {
        timers.push(set_or_end(
            ACK_DEADLINE,
            severity.ack_within,
            incident.opened_at.plus(severity.ack_within),
            true,
        ));
    }
    timers
}

/// Someone took the incident (acknowledged or mitigated it): no ack deadline any more.
pub(crate) fn taken(id: IncidentId) -> Vec<TimerOp> {
    vec![TimerOp::cancel(ACK_DEADLINE, subject(id))]
}

/// Resolved: nothing more is due.
pub(crate) fn ended(id: IncidentId) -> Vec<TimerOp> {
    [ACK_DEADLINE, UPDATE_REMINDER, COMMANDER_REMINDER]
        .into_iter()
        .map(|kind| TimerOp::cancel(kind, subject(id)))
        .collect()
}

/// A status update was posted at `now`: the next is due `update_every` later.
pub(crate) fn updated(config: &Config, incident: &Incident, now: Timestamp) -> Vec<TimerOp> {
    match config.severity(&incident.severity) {
        Some(severity) if !severity.update_every.is_zero() && incident.status.is_active() => {
            vec![TimerOp::set(
                UPDATE_REMINDER,
                subject(incident.id),
                now.plus(severity.update_every),
                json!({}),
            )]
        }
        _ => Vec::new(),
    }
}

/// A commander was assigned: no commander reminder any more.
pub(crate) fn commanded(id: IncidentId) -> Vec<TimerOp> {
    vec![TimerOp::cancel(COMMANDER_REMINDER, subject(id))]
}

fn incident_of(timer: &Timer) -> Result<IncidentId, OpsError> {
    timer
        .subject
        .parse()
        .map_err(|_| OpsError::Invalid(format!("timer subject `{}` is no incident", timer.subject)))
}

fn drill(incident: &Incident) -> &'static str {
    if incident.drill { "DRILL: " } else { "" }
}

/// Appends `event` to the incident if `wanted` still holds for it inside the write; false when
/// it no longer did (or the event was already there).
async fn append_if(
    ops: &Ops,
    id: IncidentId,
    wanted: &(dyn Fn(&Incident) -> Option<NewEvent> + Send + Sync),
) -> Result<bool, OpsError> {
    let decide = |current: &Incident| -> Result<Change, Refusal> {
        let Some(event) = wanted(current) else {
            return Err(Refusal::Unchanged {
                id: current.id,
                what: "what the timer waited for".to_owned(),
            });
        };
        Ok(Change {
            incident: current.clone(),
            events: vec![event],
            escalation: EscalationEffect::None,
            timers: Vec::new(),
        })
    };
    match ops.store().update_incident(id, &decide).await {
        Ok(written) => {
            ops.announce(&written.incident, &written.events);
            Ok(!written.duplicate)
        }
        Err(crate::store::StoreError::Refused(_) | crate::store::StoreError::NotFound(_)) => {
            Ok(false)
        }
        Err(error) => Err(error.into()),
    }
}

/// `ack_deadline`: the incident is still unacknowledged at `ack_within`.
struct AckDeadline;

#[async_trait]
impl TimerHandler for AckDeadline {
    fn kind(&self) -> &'static str {
        ACK_DEADLINE
    }

    async fn fire(&self, ops: &Ops, timer: &Timer, now: Timestamp) -> Result<Fired, OpsError> {
        let id = incident_of(timer)?;
        let config = ops.config().clone();
        let key = format!("ack-deadline-missed:{}", timer.due_at.as_millis());
        let severity = std::sync::Mutex::new(String::new());
        let wanted = |current: &Incident| -> Option<NewEvent> {
            if current.status != Status::Open || current.acknowledged_at.is_some() {
                return None;
            }
            let within = config
                .severity(&current.severity)
                .map_or(Duration::ZERO, |severity| severity.ack_within);
            *severity.lock().unwrap_or_else(|e| e.into_inner()) = current.severity.clone();
            let text = format!(
                "{}{} {} was not acknowledged within {}: nobody has taken it yet. Acknowledge it (/incident ack) or page someone (/page).",
                drill(current),
                current.severity,
                current.id,
                format_duration(within)
            );
            Some(
                NewEvent::new(now, EventKind::AckDeadlineMissed, Actor::system(), text)
                    .with_data(json!({
                        "ack_within_ms": within.as_millis() as u64,
                        "due_at": timer.due_at,
                        "severity": current.severity,
                        "drill": current.drill,
                    }))
                    .with_key(key.clone()),
            )
        };
        if append_if(ops, id, &wanted).await? {
            crate::metrics::ack_deadline_missed(
                &severity.lock().unwrap_or_else(|e| e.into_inner()),
            );
        }
        Ok(Fired::Done)
    }
}

#[derive(Clone, Copy)]
enum ReminderKind {
    Update,
    Commander,
}

impl ReminderKind {
    fn setting(self) -> &'static str {
        match self {
            ReminderKind::Update => "update_every",
            ReminderKind::Commander => "commander_within",
        }
    }

    fn every(self, severity: &SeverityConfig) -> Duration {
        match self {
            ReminderKind::Update => severity.update_every,
            ReminderKind::Commander => severity.commander_within,
        }
    }

    /// The nudge for `incident`, or `None` when it is not (any more) due.
    fn nudge(self, incident: &Incident, every: Duration) -> Option<String> {
        if !incident.status.is_active() || every.is_zero() {
            return None;
        }
        let every = format_duration(every);
        Some(match self {
            ReminderKind::Update => format!(
                "{}No status update on {} for {every}: post where it stands with /incident update.",
                drill(incident),
                incident.id
            ),
            ReminderKind::Commander => {
                if incident.commander().is_some() {
                    return None;
                }
                format!(
                    "{}{} has had no commander for {every}: someone take the lead with /incident assign role:commander.",
                    drill(incident),
                    incident.id
                )
            }
        })
    }
}

/// `update_reminder` and `commander_reminder`: a `reminder` event, then again one period
/// later, until what it asks for happens (that write cancels or re-arms it).
struct Reminder(ReminderKind);

#[async_trait]
impl TimerHandler for Reminder {
    fn kind(&self) -> &'static str {
        match self.0 {
            ReminderKind::Update => UPDATE_REMINDER,
            ReminderKind::Commander => COMMANDER_REMINDER,
        }
    }

    async fn fire(&self, ops: &Ops, timer: &Timer, now: Timestamp) -> Result<Fired, OpsError> {
        let id = incident_of(timer)?;
        let kind = self.0;
        let config = ops.config().clone();
        let every_of = |incident: &Incident| {
            config
                .severity(&incident.severity)
                .map_or(Duration::ZERO, |severity| kind.every(severity))
        };
        let key = format!("reminder:{}:{}", kind.setting(), timer.due_at.as_millis());
        let wanted = |current: &Incident| -> Option<NewEvent> {
            let text = kind.nudge(current, every_of(current))?;
            let to = current.commander().cloned();
            Some(
                NewEvent::new(now, EventKind::Reminder, Actor::system(), text)
                    .with_data(json!({
                        "reminder": kind.setting(),
                        "to": to,
                        "due_at": timer.due_at,
                        "drill": current.drill,
                    }))
                    .with_key(key.clone()),
            )
        };
        let given = append_if(ops, id, &wanted).await?;
        if given {
            crate::metrics::reminder(kind.setting());
        }
        // Again one period after this round, never sooner; done once the incident no longer
        // needs it (resolved, commanded, the setting turned off).
        let Some(incident) = ops.store().get_incident(id).await? else {
            return Ok(Fired::Done);
        };
        let every = every_of(&incident);
        Ok(match kind.nudge(&incident, every) {
            Some(_) => Fired::Again(now.plus(every)),
            None => Fired::Done,
        })
    }
}
