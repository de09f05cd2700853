//! Status updates that reach people (SPEC §1 notifiers, §3 status page): a status update is
//! a timeline event plus, in the same transaction, one durable timer per notifier configured
//! with `status_updates = true`, due at once. Whichever process claims a timer sends that
//! notifier its copy, so each goes out once across processes and survives a restart.
//! Drills and private incidents tell nobody outside Discord.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use super::timers::{Fired, TimerHandler};
use super::{Ops, OpsError, Permission, Principal, authorize};
use crate::domain::{
    EventKind, Incident, IncidentId, NewEvent, TEXT_LIMIT, Timer, TimerOp, Timestamp,
};
use crate::notify::{self, StatusUpdate, TokioTimer};
use crate::store::{Change, EscalationEffect, Written};

/// The timer kind that sends one status update to one notifier.
pub const STATUS_UPDATE_TIMER: &str = "status_update";

impl Ops {
    /// Posts a status update: on the timeline (the projector shows it in the announce
    /// channel) and, durably, to every notifier that takes status updates.
    pub(super) async fn post_update_everywhere(
        &self,
        who: &Principal,
        id: IncidentId,
        text: &str,
    ) -> Result<Written, OpsError> {
        let incident = self.incident_for(who, id).await?;
        authorize(who, Permission::PostUpdate, Some(&incident))?;
        let text = super::incidents::optional_text("text", Some(text), TEXT_LIMIT)?
            .ok_or_else(|| OpsError::Invalid("the text is empty; write a few words".to_owned()))?;
        let now = self.clock.now();
        let actor = who.actor.clone();
        let receivers: Vec<String> = self
            .config
            .notifiers
            .iter()
            .filter(|notifier| notifier.status_updates)
            .map(|notifier| notifier.name.clone())
            .collect();
        let config = self.config.clone();
        let decide = move |current: &Incident| {
            let seq = current.last_seq + 1;
            // The next status update is due `update_every` later (a deadline re-armed here).
            let mut timers = super::deadlines::updated(&config, current, now);
            timers.extend(if current.drill || current.private {
                Vec::new()
            } else {
                receivers
                    .iter()
                    .map(|notifier| {
                        TimerOp::set(
                            STATUS_UPDATE_TIMER,
                            format!("{notifier}|{}|{seq}", current.id),
                            now,
                            json!({"notifier": notifier, "incident": current.id, "seq": seq}),
                        )
                    })
                    .collect()
            });
            Ok(Change {
                incident: current.clone(),
                events: vec![NewEvent::new(
                    now,
                    EventKind::StatusUpdate,
                    actor.clone(),
                    text.clone(),
                )],
                escalation: EscalationEffect::None,
                timers,
            })
        };
        let written = self.store.update_incident(id, &decide).await?;
        self.announce(&written.incident, &written.events);
        Ok(written)
    }
}

/// Sends one status update to one notifier.
#[derive(Debug)]
pub struct StatusUpdateSender;

#[async_trait]
impl TimerHandler for StatusUpdateSender {
    fn kind(&self) -> &'static str {
        STATUS_UPDATE_TIMER
    }

    async fn fire(&self, ops: &Ops, timer: &Timer, _now: Timestamp) -> Result<Fired, OpsError> {
        let data = &timer.data;
        let (Some(name), Some(id), Some(seq)) = (
            data["notifier"].as_str(),
            data["incident"].as_i64().map(IncidentId),
            data["seq"].as_i64(),
        ) else {
            return Ok(Fired::Done);
        };
        let Some(config) = ops.config.notifiers.iter().find(|n| n.name == name) else {
            tracing::warn!(
                notifier = name,
                "a status update for a notifier no longer configured; dropped"
            );
            return Ok(Fired::Done);
        };
        let (Some(incident), Some(event)) = (
            ops.store.get_incident(id).await?,
            ops.store
                .timeline_page(id, seq - 1, 1)
                .await?
                .into_iter()
                .next(),
        ) else {
            return Ok(Fired::Done);
        };
        if event.kind != EventKind::StatusUpdate {
            return Ok(Fired::Done);
        }
        let notifier = match notify::build(
            config,
            &notify::http_client(),
            Arc::new(TokioTimer::new(ops.clock.clone())),
        ) {
            Ok(notifier) => notifier,
            Err(not_ready) => {
                tracing::warn!(notifier = name, missing = %not_ready.missing, "a status update cannot be sent: the notifier is not ready");
                return Ok(Fired::Done);
            }
        };
        let update = StatusUpdate {
            incident_id: id,
            title: incident.title.clone(),
            severity: incident.severity.clone(),
            service: incident.service.clone(),
            status: incident.status.as_str().to_owned(),
            text: event.text.clone(),
            at: event.at,
            seq,
        };
        let delivery = notifier.status_update(&update).await;
        if delivery.is_failure() {
            tracing::warn!(notifier = name, incident = %id, outcome = %delivery.describe(), "a status update was not delivered");
        }
        Ok(Fired::Done)
    }
}

/// How far back the status page lists resolved incidents.
pub const STATUS_PAGE_RESOLVED_DAYS: u64 = 30;

/// Most incidents the status page lists, and status updates per incident.
const STATUS_PAGE_INCIDENTS: u32 = 200;
const STATUS_PAGE_UPDATES: u32 = 50;

/// One incident as the public sees it: no private incident and no drill ever gets here.
#[derive(Clone, Debug)]
pub struct PublicIncident {
    pub incident: Incident,
    /// Its status updates, newest first.
    pub updates: Vec<crate::domain::Event>,
}

/// What the status page shows.
#[derive(Clone, Debug)]
pub struct PublicStatus {
    pub title: String,
    pub open: Vec<PublicIncident>,
    pub resolved: Vec<PublicIncident>,
    pub generated_at: Timestamp,
}

impl Ops {
    /// The public status: open incidents and those resolved in the last 30 days, of the
    /// services `[status_page]` names, neither private nor drills. `None` when the page is off.
    pub async fn public_status(&self) -> Result<Option<PublicStatus>, OpsError> {
        let page = &self.config.status_page;
        if !page.enabled {
            return Ok(None);
        }
        let now = self.clock.now();
        let since = now.minus(std::time::Duration::from_secs(
            STATUS_PAGE_RESOLVED_DAYS * 24 * 3600,
        ));
        let mut status = PublicStatus {
            title: page.title.clone(),
            open: Vec::new(),
            resolved: Vec::new(),
            generated_at: now,
        };
        for incident in self
            .store
            .public_incidents(since, STATUS_PAGE_INCIDENTS)
            .await?
        {
            let shown = page.services.is_empty()
                || incident
                    .service
                    .as_ref()
                    .is_some_and(|service| page.services.contains(service));
            if !shown || incident.private || incident.drill {
                continue;
            }
            let updates = self
                .store
                .events_of_kind(incident.id, EventKind::StatusUpdate, STATUS_PAGE_UPDATES)
                .await?;
            let public = PublicIncident { incident, updates };
            if public.incident.status.is_active() {
                status.open.push(public);
            } else {
                status.resolved.push(public);
            }
        }
        Ok(Some(status))
    }
}
