//! Heartbeats (SPEC §1): a job checks in every `every`; when `every + grace` passes without
//! one, the durable timer `heartbeat:<name>` fires — once across processes, even when nothing
//! else happens — and opens an incident (`heartbeat_missed`). The next check-in records
//! `heartbeat_recovered` on it and, unless configured otherwise, mitigates it.
//!
//! The first deadline counts from start-up: a job that never beats is missed too. Every
//! process arms the deadlines it finds missing as it starts; one already pending stands.

use async_trait::async_trait;
use serde_json::json;

use super::timers::{Fired, TimerHandler};
use super::{OpenRequest, Ops, OpsError, Principal};
use crate::config::bot_roles::HEARTBEAT_SENDER;
use crate::domain::{
    Actor, EventKind, HEARTBEAT_TIMER, Heartbeat, IncidentId, NewEvent, Refusal, Source, Status,
    Timer, TimerOp, Timestamp,
};

/// What a check-in did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Beat {
    pub name: String,
    /// The deadline of the next check-in.
    pub next_deadline: Timestamp,
    /// The incident the silence had opened, told that the job is back.
    pub recovered: Option<IncidentId>,
}

fn deadline(heartbeat: &Heartbeat, from: Timestamp) -> TimerOp {
    TimerOp::set(
        HEARTBEAT_TIMER,
        heartbeat.name.clone(),
        heartbeat.deadline_after(from),
        json!({}),
    )
}

fn heartbeat_actor() -> Actor {
    Actor::alert("heartbeat")
}

impl Ops {
    /// Arms the first deadline of every configured heartbeat that has none pending.
    pub async fn arm_heartbeats(&self) -> Result<(), OpsError> {
        let now = self.clock.now();
        for heartbeat in &self.config.heartbeats {
            self.store
                .arm_timer_unless_pending(deadline(heartbeat, now))
                .await?;
        }
        Ok(())
    }

    /// Arms the timers every process arms as it starts: heartbeats' first deadlines and
    /// schedules' next handoffs, where none is pending.
    pub async fn arm_start_up_timers(&self) -> Result<(), OpsError> {
        self.arm_heartbeats().await?;
        self.arm_handoffs().await
    }

    /// A check-in of heartbeat `name` by `who` (a token holding `heartbeat_sender`, or the
    /// operator at the command line).
    pub async fn heartbeat(&self, who: &Principal, name: &str) -> Result<Beat, OpsError> {
        if !who.holds(HEARTBEAT_SENDER) {
            return Err(OpsError::Forbidden {
                role: HEARTBEAT_SENDER.to_owned(),
                action: "check in heartbeats",
            });
        }
        let heartbeat = self.config.heartbeat(name.trim()).ok_or_else(|| {
            let known: Vec<&str> = self
                .config
                .heartbeats
                .iter()
                .map(|h| h.name.as_str())
                .collect();
            OpsError::Unknown(format!(
                "there is no heartbeat `{}`; {}",
                name.trim(),
                if known.is_empty() {
                    "none are configured: add [heartbeats.NAME] to the config".to_owned()
                } else {
                    format!("configured: {}", known.join(", "))
                }
            ))
        })?;
        let now = self.clock.now();
        let before = self
            .store
            .record_beat(&heartbeat.name, now, deadline(heartbeat, now))
            .await?;
        self.announce_run();
        let recovered = match (before.incident_id, before.missed_due) {
            (Some(id), Some(missed)) => {
                self.recover(heartbeat, id, missed, before.last_beat_at, now)
                    .await?;
                Some(id)
            }
            _ => None,
        };
        Ok(Beat {
            name: heartbeat.name.clone(),
            next_deadline: heartbeat.deadline_after(now),
            recovered,
        })
    }

    /// Tells the incident of a missed deadline that the job checked in again.
    async fn recover(
        &self,
        heartbeat: &Heartbeat,
        id: IncidentId,
        missed: Timestamp,
        last_beat: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), OpsError> {
        let silent = crate::domain::format_duration(std::time::Duration::from_millis(
            u64::try_from(now.as_millis() - last_beat.unwrap_or(missed).as_millis()).unwrap_or(0),
        ));
        let event = NewEvent::new(
            now,
            EventKind::HeartbeatRecovered,
            heartbeat_actor(),
            format!(
                "Heartbeat {} checked in again after {silent} of silence",
                heartbeat.name
            ),
        )
        .with_data(json!({"heartbeat": heartbeat.name, "missed_due": missed}))
        .with_key(format!(
            "heartbeat_recovered:{}:{}",
            heartbeat.name,
            missed.as_millis()
        ));
        match self.append(id, vec![event]).await {
            Ok(_) | Err(OpsError::NotFound(_)) => {}
            Err(error) => return Err(error),
        }
        if heartbeat.mitigate_on_recovery {
            let system = Principal::system(heartbeat_actor());
            match self
                .mitigate(&system, id, Some("the heartbeat checked in again"))
                .await
            {
                Ok(_)
                | Err(OpsError::NotFound(_))
                | Err(OpsError::Refused(Refusal::IllegalTransition { .. })) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// A deadline passed: opens the heartbeat's incident, unless its silence has one already.
    async fn heartbeat_missed(
        &self,
        heartbeat: &Heartbeat,
        timer: &Timer,
    ) -> Result<Fired, OpsError> {
        let state = self.store.heartbeat_state(&heartbeat.name).await?;
        if let Some(id) = state.incident_id {
            let active = self
                .store
                .get_incident(id)
                .await?
                .is_some_and(|incident| incident.status != Status::Resolved);
            if active {
                return Ok(Fired::Done);
            }
        }
        // A beat after this deadline was set moved it on; this firing is stale.
        if let Some(beat) = state.last_beat_at
            && heartbeat.deadline_after(beat) > timer.due_at
        {
            return Ok(Fired::Again(heartbeat.deadline_after(beat)));
        }
        let since = match state.last_beat_at {
            Some(beat) => format!("its last check-in was at {beat}"),
            None => "it has not checked in since warroom started".to_owned(),
        };
        let every = crate::domain::format_duration(heartbeat.every);
        let request = OpenRequest {
            title: format!("Heartbeat {} missed", heartbeat.name),
            severity: heartbeat.severity.clone(),
            service: heartbeat.service.clone(),
            description: format!(
                "The job behind heartbeat {} checks in every {every}; {since}, and the deadline {} passed.",
                heartbeat.name, timer.due_at
            ),
            drill: false,
            private: false,
        };
        let system = Principal::system(heartbeat_actor());
        let opened = self.open(&system, Source::Alert, request).await?;
        let id = opened.incident.id;
        let event = NewEvent::new(
            self.clock.now(),
            EventKind::HeartbeatMissed,
            heartbeat_actor(),
            format!(
                "Heartbeat {} missed: no check-in by {}; {since}",
                heartbeat.name, timer.due_at
            ),
        )
        .with_data(json!({
            "heartbeat": heartbeat.name,
            "due": timer.due_at,
            "last_beat_at": state.last_beat_at,
        }))
        .with_key(format!(
            "heartbeat_missed:{}:{}",
            heartbeat.name,
            timer.due_at.as_millis()
        ));
        self.append(id, vec![event]).await?;
        if !self
            .store
            .record_missed(&heartbeat.name, timer.due_at, id)
            .await?
        {
            tracing::warn!(heartbeat = %heartbeat.name, incident = %id, "a heartbeat's silence already had an incident");
        }
        Ok(Fired::Done)
    }
}

/// Fires `heartbeat:<name>` deadlines.
pub struct HeartbeatTimer;

#[async_trait]
impl TimerHandler for HeartbeatTimer {
    fn kind(&self) -> &'static str {
        HEARTBEAT_TIMER
    }

    async fn fire(&self, ops: &Ops, timer: &Timer, _now: Timestamp) -> Result<Fired, OpsError> {
        let Some(heartbeat) = ops.config().heartbeat(&timer.subject).cloned() else {
            // Removed from the config: nothing waits for it any more.
            return Ok(Fired::Done);
        };
        ops.heartbeat_missed(&heartbeat, timer).await
    }
}
