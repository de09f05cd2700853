//! Alert ingestion: a delivery's groups become incidents (through `open`, exactly as
//! `/incident open`), `alert_firing` and `alert_resolved` events, and, when a route says so,
//! a mitigation once every alert of an incident has resolved. Storm control caps the
//! incidents a route opens per minute; beyond the cap, groups join the route's overflow
//! incident.
//!
//! No alert group has two incidents at once, and no route opens more incidents within 60
//! seconds than its cap: both are decided in one transaction under the group's and the
//! route's locks. A replayed delivery writes nothing: every change is keyed by its alert
//! instance (fingerprint and start).

use std::time::Duration;

use serde_json::json;

use super::{OpenRequest, Ops, OpsError, Principal, WriterError};
use crate::alerts::{ALERT_SENDER, AlertGroup, AlertSource, Delivery, Route};
use crate::domain::{Actor, EventKind, IncidentId, NewEvent, Refusal, Source, Status};
use crate::store::{
    AlertChange, AlertReport, AlertState, Claim, GroupPlan, PlanRequest, RecordJob, Recorded,
};

/// Storm control counts opens over this sliding window.
pub const STORM_WINDOW: Duration = Duration::from_secs(60);

/// A claim on a group older than this is taken over: opening an incident takes
/// milliseconds, so a claim this old belongs to a process that died while opening.
pub const CLAIM_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a delivery waits for another delivery of the same group to finish opening its
/// incident before answering "try again" (503). Senders retry; a short wait avoids that in
/// the common case of two Alertmanagers of one cluster sending the same group at once.
const BUSY_WAIT: Duration = Duration::from_secs(5);
const BUSY_PAUSE: Duration = Duration::from_millis(20);

/// What one delivery did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    pub groups: Vec<GroupOutcome>,
}

impl IngestOutcome {
    pub fn fired(&self) -> u32 {
        self.groups.iter().map(|group| group.fired).sum()
    }
    pub fn resolved(&self) -> u32 {
        self.groups.iter().map(|group| group.resolved).sum()
    }
    pub fn duplicates(&self) -> u32 {
        self.groups.iter().map(|group| group.duplicates).sum()
    }
    pub fn unmatched(&self) -> u32 {
        self.groups.iter().map(|group| group.unmatched).sum()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupOutcome {
    pub group_key: String,
    pub route: String,
    /// The incident the group's alerts went to, if any.
    pub incident: Option<IncidentId>,
    /// This delivery opened that incident.
    pub opened: bool,
    /// The incident is the route's overflow incident (storm control).
    pub overflow: bool,
    pub fired: u32,
    pub resolved: u32,
    /// Alerts already stored in the state sent.
    pub duplicates: u32,
    /// Resolved notices for alerts never seen firing.
    pub unmatched: u32,
    /// The incident was acknowledged (PagerDuty `acknowledge`).
    pub acknowledged: bool,
    /// Alerts held back by a maintenance window (no incident opened).
    pub held: u32,
}

/// Why a delivery was not (fully) stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Ops(#[from] OpsError),
    /// Worth retrying: another delivery holds the group, or the database hiccuped.
    #[error("{0}")]
    Busy(String),
}

impl Ops {
    /// Stores the alerts of `delivery` as `who` (a token holding `alert_sender`).
    pub async fn ingest(
        &self,
        who: &Principal,
        delivery: &Delivery,
    ) -> Result<IngestOutcome, IngestError> {
        if !who.holds(ALERT_SENDER) {
            return Err(OpsError::Forbidden {
                role: ALERT_SENDER.to_owned(),
                action: "send alerts",
            }
            .into());
        }
        let mut outcome = IngestOutcome::default();
        for group in &delivery.groups {
            outcome
                .groups
                .push(self.ingest_group(delivery.source, group).await?);
        }
        Ok(outcome)
    }

    async fn ingest_group(
        &self,
        source: AlertSource,
        group: &AlertGroup,
    ) -> Result<GroupOutcome, IngestError> {
        let actor = Actor::alert(source.as_str());
        let system = Principal::system(actor.clone());
        let route = self.route_of(source, group).await?;
        let mut outcome = GroupOutcome {
            group_key: group.key.clone(),
            route: route.name.clone(),
            incident: None,
            opened: false,
            overflow: false,
            fired: 0,
            resolved: 0,
            duplicates: 0,
            unmatched: 0,
            acknowledged: false,
            held: 0,
        };
        if group.acknowledge {
            return self
                .acknowledge_group(&system, source, group, outcome)
                .await;
        }
        // The repeats senders send every few minutes change nothing: tell that from a read.
        // New alerts of a group whose incident is active go straight to it (`record_group`
        // checks under the incident's lock that it is still active).
        let state = self
            .store
            .group_state(source.as_str(), &group.key, &group.alerts)
            .await
            .map_err(OpsError::from)?;
        if let Some(id) = state.active_incident {
            outcome.incident = Some(id);
            // A truncated delivery may still owe the timeline its note.
            if state.unchanged && group.truncated == 0 {
                outcome.duplicates = u32::try_from(group.alerts.len()).unwrap_or(u32::MAX);
                return Ok(outcome);
            }
            let recorded = self
                .record_group(&system, source, group, &route, id, true, &mut outcome)
                .await?;
            if recorded {
                return Ok(outcome);
            }
        }
        // The routing decision: a group under maintenance is kept there and opens nothing.
        if self
            .held_by_maintenance(source, group, &route)
            .await?
            .is_some()
        {
            outcome.held = u32::try_from(group.alerts.len()).unwrap_or(u32::MAX);
            return Ok(outcome);
        }
        let Some(incident) = self
            .plan_and_open(&system, source, group, &route, &mut outcome)
            .await?
        else {
            return Ok(outcome);
        };
        outcome.incident = Some(incident);
        self.record_group(
            &system,
            source,
            group,
            &route,
            incident,
            false,
            &mut outcome,
        )
        .await?;
        Ok(outcome)
    }

    /// The slow path, under the group's lock: plan the group and, when the plan says so, open
    /// its incident (waiting a little while another delivery opens it). `None` when there is
    /// nothing to record (the counts are in `outcome`); else the incident to record on (a
    /// group claimed here is already linked to the incident it opened).
    async fn plan_and_open(
        &self,
        system: &Principal,
        source: AlertSource,
        group: &AlertGroup,
        route: &Route,
        outcome: &mut GroupOutcome,
    ) -> Result<Option<IncidentId>, IngestError> {
        let waiting = std::time::Instant::now();
        loop {
            let token = format!("{:016x}", fastrand::u64(..));
            let plan = self
                .store
                .plan_group(PlanRequest {
                    source: source.as_str(),
                    group_key: &group.key,
                    route: &route.name,
                    alerts: &group.alerts,
                    now: self.clock.now(),
                    cap: route.max_new_incidents_per_minute,
                    window: STORM_WINDOW,
                    claim_timeout: CLAIM_TIMEOUT,
                    token: &token,
                })
                .await
                .map_err(OpsError::from)?;
            match plan {
                GroupPlan::Nothing {
                    duplicates,
                    unmatched,
                } => {
                    outcome.duplicates = duplicates;
                    outcome.unmatched = unmatched;
                    return Ok(None);
                }
                GroupPlan::Attach { incident, overflow } => {
                    outcome.overflow = overflow;
                    return Ok(Some(incident));
                }
                GroupPlan::Open(claim) => {
                    let incident = self.open_claimed(system, route, group, &claim).await?;
                    outcome.opened = true;
                    outcome.overflow = claim.is_overflow();
                    return Ok(Some(incident));
                }
                GroupPlan::Busy if waiting.elapsed() < BUSY_WAIT => {
                    tokio::time::sleep(BUSY_PAUSE).await;
                }
                GroupPlan::Busy => {
                    return Err(IngestError::Busy(format!(
                        "another delivery is still opening the incident of alert group `{}`; send this again in a few seconds",
                        group.key
                    )));
                }
            }
        }
    }

    /// Opens the incident of a group this delivery claimed, linked in the same transaction;
    /// if the claim was taken over meanwhile, nothing was written and the sender is asked to
    /// retry.
    async fn open_claimed(
        &self,
        system: &Principal,
        route: &Route,
        group: &AlertGroup,
        claim: &Claim,
    ) -> Result<IncidentId, IngestError> {
        let request = if claim.is_overflow() {
            overflow_request(route, self)
        } else {
            self.open_request(route, group)
        };
        let opened = self
            .open_linked(system, Source::Alert, request, Some(claim))
            .await
            .map_err(|error| match error {
                OpsError::Store(crate::store::StoreError::ClaimLost(reason)) => {
                    IngestError::Busy(format!("{reason}; send this again in a few seconds"))
                }
                other => IngestError::Ops(other),
            })?;
        Ok(opened.incident.id)
    }

    /// The route of a group: picked by its labels; a delivery without labels (a PagerDuty
    /// `resolve` carries only the `dedup_key`) takes the route its group was opened through,
    /// so e.g. `mitigate_when_resolved` applies to it.
    async fn route_of(
        &self,
        source: AlertSource,
        group: &AlertGroup,
    ) -> Result<Route, IngestError> {
        if group.route_labels.is_empty() {
            let stored = self
                .store
                .group_incident(source.as_str(), &group.key)
                .await
                .map_err(OpsError::from)?;
            if let Some(route) = stored.and_then(|(_, name)| self.config.alerts.route_named(&name))
            {
                return Ok(route.clone());
            }
        }
        Ok(self.config.alerts.route(&group.route_labels).clone())
    }

    /// Records the group's alerts on `incident` through the alert writer (group commit with
    /// other deliveries), then what follows from them. `false` when `require_active` found
    /// the incident resolved (plan the group instead). (A claimed group was linked when its
    /// incident was opened, so nothing here links.)
    #[allow(clippy::too_many_arguments)]
    async fn record_group(
        &self,
        system: &Principal,
        source: AlertSource,
        group: &AlertGroup,
        route: &Route,
        incident: IncidentId,
        require_active: bool,
        outcome: &mut GroupOutcome,
    ) -> Result<bool, IngestError> {
        let now = self.clock.now();
        let render = renderer(system.actor.clone(), source, group, route, now);
        let note = truncation_note(&system.actor, source, group, now);
        let job = RecordJob {
            incident,
            source: source.as_str().to_owned(),
            group_key: group.key.clone(),
            alerts: group.alerts.clone(),
            now,
            render: Box::new(render),
            require_active,
            note,
        };
        let recorded = self
            .alert_writer()
            .record(job)
            .await
            .map_err(|error| match error {
                WriterError::Store(error) => IngestError::Ops(error.into()),
                WriterError::Gone => {
                    IngestError::Busy(format!("{error}; send this again in a few seconds"))
                }
            })?;
        if recorded.replan {
            return Ok(false);
        }
        self.after_recorded(system, route, incident, recorded, outcome)
            .await?;
        Ok(true)
    }

    /// What follows from recorded alerts: the counts, waking the workers, and mitigating the
    /// incident when its last alert resolved and the route says so.
    async fn after_recorded(
        &self,
        system: &Principal,
        route: &Route,
        incident: IncidentId,
        recorded: Recorded,
        outcome: &mut GroupOutcome,
    ) -> Result<(), IngestError> {
        outcome.fired = recorded.fired;
        outcome.resolved = recorded.resolved;
        outcome.duplicates = recorded.unchanged;
        outcome.unmatched = recorded.unmatched;
        if !recorded.written.events.is_empty() {
            self.announce(&recorded.written.incident, &recorded.written.events);
        }
        let status = recorded.written.incident.status;
        if recorded.all_resolved
            && route.mitigate_when_resolved
            && matches!(status, Status::Open | Status::Acknowledged)
        {
            match self
                .mitigate(system, incident, Some("every alert has resolved"))
                .await
            {
                Ok(_) | Err(OpsError::Refused(Refusal::IllegalTransition { .. })) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// A PagerDuty `acknowledge`: acknowledges the group's incident, once.
    async fn acknowledge_group(
        &self,
        system: &Principal,
        source: AlertSource,
        group: &AlertGroup,
        mut outcome: GroupOutcome,
    ) -> Result<GroupOutcome, IngestError> {
        let Some((incident, _)) = self
            .store
            .group_incident(source.as_str(), &group.key)
            .await
            .map_err(OpsError::from)?
        else {
            return Ok(outcome);
        };
        outcome.incident = Some(incident);
        match self.acknowledge(system, incident).await {
            Ok(_) => outcome.acknowledged = true,
            // Already acknowledged, mitigated or resolved: nothing to do, as on a replay.
            Err(OpsError::Refused(_)) => {}
            Err(error) => return Err(error.into()),
        }
        Ok(outcome)
    }

    fn open_request(&self, route: &Route, group: &AlertGroup) -> OpenRequest {
        let mut description = group.description.clone();
        let count = group.alerts.len();
        if count > 1 {
            description = format!("{count} alerts in the first notification.\n\n{description}");
        }
        description.push_str(&format!("\nRoute: {}", route.name));
        OpenRequest {
            title: group.title.clone(),
            severity: route
                .severity_in(&self.config.severities, &self.config.services)
                .to_owned(),
            service: route.service.clone(),
            description: cut_chars(description.trim(), super::TEXT_LIMIT),
            drill: route.drill,
            private: false,
        }
    }
}

fn overflow_request(route: &Route, ops: &Ops) -> OpenRequest {
    OpenRequest {
        title: format!(
            "Alert storm on route {}: over {} new alert groups a minute",
            route.name, route.max_new_incidents_per_minute
        ),
        severity: route
            .severity_in(&ops.config.severities, &ops.config.services)
            .to_owned(),
        service: route.service.clone(),
        description: format!(
            "Route {} opened {} incidents within a minute; further new alert groups are collected here instead of opening channels. Their alerts are on this timeline.",
            route.name, route.max_new_incidents_per_minute
        ),
        drill: route.drill,
        private: false,
    }
}

fn cut_chars(text: &str, limit: usize) -> String {
    text.chars().take(limit).collect()
}

/// The timeline note for alerts the sender left out of a group (`truncatedAlerts`): said
/// once per count, so the note follows the count but repeats of a delivery add nothing.
fn truncation_note(
    actor: &Actor,
    source: AlertSource,
    group: &AlertGroup,
    now: crate::domain::Timestamp,
) -> Option<NewEvent> {
    if group.truncated == 0 {
        return None;
    }
    let text = format!(
        "{} left {} alerts of this group out of its notification (its max_alerts); they are not on this timeline",
        source.as_str(),
        group.truncated
    );
    Some(
        NewEvent::new(now, EventKind::Note, actor.clone(), text)
            .with_data(json!({
                "source": source.as_str(),
                "group_key": group.key,
                "truncated_alerts": group.truncated,
            }))
            .with_key(format!(
                "alerts-truncated:{}:{}:{}",
                source.as_str(),
                group.key,
                group.truncated
            )),
    )
}

/// The renderer of a group's alert events, owning what it needs (it may wait in the alert
/// writer's queue).
fn renderer(
    actor: Actor,
    source: AlertSource,
    group: &AlertGroup,
    route: &Route,
    now: crate::domain::Timestamp,
) -> impl Fn(&AlertReport, AlertChange) -> NewEvent + Send + Sync + 'static {
    let group_key = group.key.clone();
    let route_name = route.name.clone();
    move |alert: &AlertReport, change: AlertChange| {
        render_event(&actor, source, &group_key, &route_name, alert, change, now)
    }
}

fn render_event(
    actor: &Actor,
    source: AlertSource,
    group_key: &str,
    route: &str,
    alert: &AlertReport,
    change: AlertChange,
    now: crate::domain::Timestamp,
) -> NewEvent {
    let (kind, text, all_resolved) = match change {
        AlertChange::Fired => (
            EventKind::AlertFiring,
            format!("Alert firing: {}", alert.summary),
            false,
        ),
        AlertChange::Resolved { all_resolved } => {
            let mut text = format!("Alert resolved: {}", alert.summary);
            if all_resolved {
                text.push_str(" (every alert of this incident has now resolved)");
            }
            (EventKind::AlertResolved, text, all_resolved)
        }
    };
    NewEvent::new(now, kind, actor.clone(), text).with_data(json!({
        "source": source.as_str(),
        "group_key": group_key,
        "route": route,
        "fingerprint": alert.fingerprint,
        "state": match change {
            AlertChange::Fired => AlertState::Firing.as_str(),
            AlertChange::Resolved { .. } => AlertState::Resolved.as_str(),
        },
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "labels": alert.labels,
        "details": alert.details,
        "all_resolved": all_resolved,
    }))
}
