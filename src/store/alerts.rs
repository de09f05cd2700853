//! Alert groups and alert instances: which incident each group feeds, every alert instance
//! seen (so a replayed delivery changes nothing), and the opens that storm control counts.
//!
//! Two transactions per group and delivery, with `Ops::open` between them: `plan_group`
//! decides (under the group's and the route's locks) whether the group attaches to an
//! incident or must open one, claiming the group if so; `record_alerts` links the opened
//! incident and writes the alerts' new states and their timeline events together.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::{Row, Transaction};

use super::sql::{INCIDENT_COLUMNS, corrupt, param, param_list, sql, sql_store_impl};
use super::{StoreError, Written};
use crate::domain::{
    AlertReport, AlertState, IncidentId, NewEvent, NewIncident, Status, Timestamp,
};

/// The `source` of the groups that collect a route's overflow (see `OVERFLOW_PREFIX`).
pub const OVERFLOW_SOURCE: &str = "warroom";

/// The group key of a route's overflow group is this prefix and the route's name.
pub const OVERFLOW_PREFIX: &str = "overflow:";

/// A group that a delivery claimed: it opens the incident, then records with this claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub source: String,
    pub group_key: String,
    pub token: String,
    /// The group that overflowed into this (overflow) group, linked to the same incident.
    pub overflowed: Option<(String, String)>,
}

impl Claim {
    pub fn is_overflow(&self) -> bool {
        self.overflowed.is_some()
    }
}

/// What a group needs, decided under its lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupPlan {
    /// Nothing to store: no new firing alert and no incident to record on.
    Nothing,
    /// Record on this incident (the group's own, or its route's overflow incident).
    Attach {
        incident: IncidentId,
        overflow: bool,
    },
    /// Open an incident for the claimed group, then `record_alerts` with the claim.
    Open(Claim),
    /// Another delivery is opening this group's incident right now; try again shortly.
    Busy,
}

#[derive(Clone, Debug)]
pub struct PlanRequest<'a> {
    pub source: &'a str,
    pub group_key: &'a str,
    pub route: &'a str,
    pub alerts: &'a [AlertReport],
    pub now: Timestamp,
    /// At most this many incidents may be opened for `route` within `window` before `now`.
    pub cap: u32,
    pub window: Duration,
    /// A claim older than this is taken to be abandoned (its process died) and is taken over.
    pub claim_timeout: Duration,
    /// A fresh random token, used if this delivery claims a group.
    pub token: &'a str,
}

/// One alert instance whose state this delivery changed, handed to the caller's renderer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertChange {
    Fired,
    Resolved {
        /// No alert of the incident is firing any more.
        all_resolved: bool,
    },
}

/// Turns one change into the timeline event that records it (the store adds the key).
pub type RenderAlert<'a> = &'a (dyn Fn(&AlertReport, AlertChange) -> NewEvent + Send + Sync);

#[derive(Clone)]
pub struct RecordRequest<'a> {
    pub incident: IncidentId,
    pub claim: Option<&'a Claim>,
    pub source: &'a str,
    pub group_key: &'a str,
    pub alerts: &'a [AlertReport],
    pub now: Timestamp,
    pub render: RenderAlert<'a>,
    /// Record only if the incident is still active (it was read as active without a lock);
    /// otherwise write nothing and answer `replan`.
    pub require_active: bool,
}

#[derive(Clone, Debug)]
pub struct Recorded {
    /// The incident and the events appended (none when nothing changed).
    pub written: Written,
    pub fired: u32,
    pub resolved: u32,
    pub unchanged: u32,
    /// This delivery resolved the incident's last firing alert.
    pub all_resolved: bool,
    /// `require_active` was asked and the incident is resolved: nothing was written; plan
    /// the group (it may need a new incident).
    pub replan: bool,
}

/// What a read (without locks) says about a group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupState {
    /// The group's incident, when it has one that is not resolved.
    pub active_incident: Option<IncidentId>,
    /// Every alert of the delivery is already stored in its state on that incident.
    pub unchanged: bool,
}

/// How many incidents are in each (status, severity), for `/metrics`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentCount {
    pub status: String,
    pub severity: String,
    pub count: i64,
}

/// Alert ingestion's storage.
#[async_trait]
pub trait AlertStore: Send + Sync {
    /// Decides, in one transaction under the group's lock (and the route's, when a new
    /// incident is considered), what a delivery for the group must do. Writes only when it
    /// claims a group; a plan of `Nothing`, `Attach` or `Busy` leaves the database unchanged.
    async fn plan_group(&self, request: PlanRequest<'_>) -> Result<GroupPlan, StoreError>;

    /// Links a claimed group to its new incident (when `claim` is given), then writes each
    /// alert's new state and the events `render` makes for the changes, in one transaction.
    /// Alerts whose state is already stored change nothing.
    async fn record_alerts(&self, request: RecordRequest<'_>) -> Result<Recorded, StoreError>;

    /// Opens the incident of a claimed group and links the group to it, in one transaction:
    /// a process dying in between can leave neither an unlinked incident (which would page
    /// people for nothing) nor a group pointing nowhere. Fails, writing nothing, when the
    /// claim was taken over meanwhile.
    async fn open_for_claim(
        &self,
        claim: &Claim,
        incident: NewIncident,
        events: Vec<NewEvent>,
        escalation: super::EscalationEffect,
        timers: super::TimerPlan<'_>,
    ) -> Result<Written, StoreError>;

    /// The incident a group feeds, if it has one.
    async fn group_incident(
        &self,
        source: &str,
        group_key: &str,
    ) -> Result<Option<(IncidentId, String)>, StoreError>;

    /// The group's active incident, and whether recording `alerts` on it would change
    /// nothing (every alert already stored in that state). Read-only: the fast path for the
    /// repeats senders send every few minutes, and for new alerts of an open incident.
    async fn group_state(
        &self,
        source: &str,
        group_key: &str,
        alerts: &[AlertReport],
    ) -> Result<GroupState, StoreError>;

    async fn incident_counts(&self) -> Result<Vec<IncidentCount>, StoreError>;
}

/// The stored instance of an alert, as found for a report.
struct Instance {
    instance: String,
    status: String,
}

fn millis_key(at: Timestamp) -> String {
    at.as_millis().to_string()
}

/// The event key of a change: one per instance and state, so a replay appends nothing.
fn event_key(source: &str, fingerprint: &str, instance: &str, state: AlertState) -> String {
    format!("alert:{source}:{fingerprint}:{instance}:{}", state.as_str())
}

sql_store_impl! {
impl {
    /// The stored instance each report refers to (with a start, exactly that one; without,
    /// the latest), read in one query for the whole delivery.
    async fn find_instances<'e, E>(
        executor: E,
        source: &str,
        alerts: &[AlertReport],
    ) -> Result<Vec<Option<Instance>>, StoreError>
    where
        E: sqlx::Executor<'e, Database = DB>,
    {
        if alerts.is_empty() {
            return Ok(Vec::new());
        }
        let fingerprints: BTreeSet<&str> =
            alerts.iter().map(|alert| alert.fingerprint.as_str()).collect();
        let mut query = sqlx::query(sql(format!(
            "SELECT fingerprint, instance, status FROM alerts \
             WHERE source = {} AND fingerprint IN ({})",
            param::<DB>(1),
            param_list::<DB>(2, fingerprints.len())
        )))
        .bind(source.to_owned());
        for fingerprint in &fingerprints {
            query = query.bind((*fingerprint).to_owned());
        }
        let rows = query.fetch_all(executor).await?;
        let mut stored: BTreeMap<String, Vec<Instance>> = BTreeMap::new();
        for row in rows {
            let fingerprint: String = row.try_get("fingerprint")?;
            stored.entry(fingerprint).or_default().push(Instance {
                instance: row.try_get("instance")?,
                status: row.try_get("status")?,
            });
        }
        Ok(alerts
            .iter()
            .map(|alert| {
                let instances = stored.get(&alert.fingerprint)?;
                match alert.starts_at {
                    Some(start) => {
                        let key = millis_key(start);
                        instances.iter().find(|found| found.instance == key)
                    }
                    // `seq:N`: the longest, then greatest text is the latest number.
                    None => instances
                        .iter()
                        .filter(|found| found.instance.starts_with("seq:"))
                        .max_by(|a, b| {
                            (a.instance.len(), &a.instance).cmp(&(b.instance.len(), &b.instance))
                        }),
                }
                .map(|found| Instance {
                    instance: found.instance.clone(),
                    status: found.status.clone(),
                })
            })
            .collect())
    }

    /// Whether the report is a firing alert that no stored instance covers yet.
    fn is_new_firing(alert: &AlertReport, found: Option<&Instance>) -> bool {
        if alert.state != AlertState::Firing {
            return false;
        }
        match (alert.starts_at, found) {
            (_, None) => true,
            (Some(_), Some(_)) => false,
            (None, Some(instance)) => instance.status != AlertState::Firing.as_str(),
        }
    }

    async fn incident_status(
        tx: &mut Transaction<'static, DB>,
        id: i64,
    ) -> Result<Status, StoreError> {
        let row = sqlx::query("SELECT status FROM incidents WHERE id = $1")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?;
        let status: String = row.try_get("status")?;
        status.parse::<Status>().map_err(corrupt)
    }

    /// Takes the next slot of `route`'s storm window, or says there is none left.
    async fn take_route_slot(
        tx: &mut Transaction<'static, DB>,
        request: &PlanRequest<'_>,
    ) -> Result<bool, StoreError> {
        sqlx::query("INSERT INTO alert_routes (route) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(request.route.to_owned())
            .execute(&mut **tx)
            .await?;
        sqlx::query(sql(format!(
            "SELECT route FROM alert_routes WHERE route = $1{}",
            DB::LOCK_ROW
        )))
        .bind(request.route.to_owned())
        .fetch_one(&mut **tx)
        .await?;
        let window_start = request.now.as_millis()
            - i64::try_from(request.window.as_millis()).map_err(corrupt)?;
        sqlx::query("DELETE FROM alert_route_opens WHERE route = $1 AND opened_at <= $2")
            .bind(request.route.to_owned())
            .bind(window_start)
            .execute(&mut **tx)
            .await?;
        let row = sqlx::query("SELECT COUNT(*) AS opens FROM alert_route_opens WHERE route = $1")
            .bind(request.route.to_owned())
            .fetch_one(&mut **tx)
            .await?;
        let opens: i64 = row.try_get("opens")?;
        if opens >= i64::from(request.cap) {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO alert_route_opens (route, opened_at, group_key) VALUES ($1, $2, $3)",
        )
        .bind(request.route.to_owned())
        .bind(request.now.as_millis())
        .bind(request.group_key.to_owned())
        .execute(&mut **tx)
        .await?;
        Ok(true)
    }

    /// Links a claimed group (and the group that overflowed into it) to incident `id`; fails
    /// when the claim was taken over.
    async fn link_claim(
        tx: &mut Transaction<'static, DB>,
        claim: &Claim,
        id: IncidentId,
    ) -> Result<(), StoreError> {
        let linked = sqlx::query(
            "UPDATE alert_groups SET incident_id = $4, claim = NULL, claimed_at = NULL \
             WHERE source = $1 AND group_key = $2 AND claim = $3 RETURNING source",
        )
        .bind(claim.source.clone())
        .bind(claim.group_key.clone())
        .bind(claim.token.clone())
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await?;
        if linked.is_none() {
            return Err(StoreError::ClaimLost(format!(
                "another delivery took over the claim on alert group {} before {id} was linked to it; nothing was written",
                claim.group_key
            )));
        }
        if let Some((source, group_key)) = &claim.overflowed {
            sqlx::query(
                "UPDATE alert_groups SET incident_id = $3 WHERE source = $1 AND group_key = $2",
            )
            .bind(source.clone())
            .bind(group_key.clone())
            .bind(id.0)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Locks the group's row, creating it (unclaimed, without incident) when missing.
    async fn lock_group(
        tx: &mut Transaction<'static, DB>,
        source: &str,
        group_key: &str,
        route: &str,
    ) -> Result<GroupRow, StoreError> {
        sqlx::query(
            "INSERT INTO alert_groups (source, group_key, route) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(source.to_owned())
        .bind(group_key.to_owned())
        .bind(route.to_owned())
        .execute(&mut **tx)
        .await?;
        let row = sqlx::query(sql(format!(
            "SELECT incident_id, claim, claimed_at, overflow FROM alert_groups \
             WHERE source = $1 AND group_key = $2{}",
            DB::LOCK_ROW
        )))
        .bind(source.to_owned())
        .bind(group_key.to_owned())
        .fetch_one(&mut **tx)
        .await?;
        Ok(GroupRow {
            incident_id: row.try_get("incident_id")?,
            claim: row.try_get("claim")?,
            claimed_at: row.try_get("claimed_at")?,
            overflow: row.try_get("overflow")?,
        })
    }

    async fn set_claim(
        tx: &mut Transaction<'static, DB>,
        source: &str,
        group_key: &str,
        token: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE alert_groups SET incident_id = NULL, claim = $3, claimed_at = $4, \
             overflow = FALSE WHERE source = $1 AND group_key = $2",
        )
        .bind(source.to_owned())
        .bind(group_key.to_owned())
        .bind(token.to_owned())
        .bind(now.as_millis())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Whether `row`'s claim is still being worked on.
    fn claim_is_fresh(row: &GroupRow, request: &PlanRequest<'_>) -> bool {
        let timeout = i64::try_from(request.claim_timeout.as_millis()).unwrap_or(i64::MAX);
        row.claim.is_some()
            && row
                .claimed_at
                .is_some_and(|at| request.now.as_millis().saturating_sub(at) < timeout)
    }

    /// The plan for a group that went over its route's cap: join the overflow incident,
    /// opening it when the route has none that is active.
    async fn plan_overflow(
        tx: &mut Transaction<'static, DB>,
        request: &PlanRequest<'_>,
    ) -> Result<GroupPlan, StoreError> {
        let overflow_key = format!("{OVERFLOW_PREFIX}{}", request.route);
        let overflow = Self::lock_group(tx, OVERFLOW_SOURCE, &overflow_key, request.route).await?;
        sqlx::query(
            "UPDATE alert_groups SET incident_id = NULL, claim = NULL, claimed_at = NULL, \
             overflow = TRUE WHERE source = $1 AND group_key = $2",
        )
        .bind(request.source.to_owned())
        .bind(request.group_key.to_owned())
        .execute(&mut **tx)
        .await?;
        if let Some(id) = overflow.incident_id
            && Self::incident_status(tx, id).await?.is_active()
        {
            sqlx::query(
                "UPDATE alert_groups SET incident_id = $3 WHERE source = $1 AND group_key = $2",
            )
            .bind(request.source.to_owned())
            .bind(request.group_key.to_owned())
            .bind(id)
            .execute(&mut **tx)
            .await?;
            return Ok(GroupPlan::Attach {
                incident: IncidentId(id),
                overflow: true,
            });
        }
        if overflow.incident_id.is_none() && Self::claim_is_fresh(&overflow, request) {
            return Ok(GroupPlan::Busy);
        }
        Self::set_claim(tx, OVERFLOW_SOURCE, &overflow_key, request.token, request.now).await?;
        Ok(GroupPlan::Open(Claim {
            source: OVERFLOW_SOURCE.to_owned(),
            group_key: overflow_key,
            token: request.token.to_owned(),
            overflowed: Some((request.source.to_owned(), request.group_key.to_owned())),
        }))
    }

    async fn plan_locked(
        tx: &mut Transaction<'static, DB>,
        request: &PlanRequest<'_>,
    ) -> Result<GroupPlan, StoreError> {
        let group = Self::lock_group(tx, request.source, request.group_key, request.route).await?;
        // The common case, a group whose incident is active, needs no look at the alerts.
        if let Some(id) = group.incident_id
            && Self::incident_status(tx, id).await?.is_active()
        {
            return Ok(GroupPlan::Attach {
                incident: IncidentId(id),
                overflow: group.overflow,
            });
        }
        let found = Self::find_instances(&mut **tx, request.source, request.alerts).await?;
        let any_new = request
            .alerts
            .iter()
            .zip(&found)
            .any(|(alert, found)| Self::is_new_firing(alert, found.as_ref()));
        if let Some(id) = group.incident_id {
            if !any_new {
                return Ok(GroupPlan::Attach {
                    incident: IncidentId(id),
                    overflow: group.overflow,
                });
            }
            // The group's incident was resolved and a new alert fires: a new incident.
        } else if group.claim.is_some() {
            if Self::claim_is_fresh(&group, request) {
                return Ok(GroupPlan::Busy);
            }
            // The claim was abandoned (the process that held it died): take it over. Its
            // storm slot was already counted.
            Self::set_claim(tx, request.source, request.group_key, request.token, request.now)
                .await?;
            return Ok(GroupPlan::Open(Claim {
                source: request.source.to_owned(),
                group_key: request.group_key.to_owned(),
                token: request.token.to_owned(),
                overflowed: None,
            }));
        } else if group.overflow {
            // Joined an overflow incident that is being opened or was resolved.
            return if any_new {
                Self::plan_overflow(tx, request).await
            } else {
                Ok(GroupPlan::Nothing)
            };
        }
        if !any_new {
            return Ok(GroupPlan::Nothing);
        }
        if !Self::take_route_slot(tx, request).await? {
            return Self::plan_overflow(tx, request).await;
        }
        Self::set_claim(tx, request.source, request.group_key, request.token, request.now).await?;
        Ok(GroupPlan::Open(Claim {
            source: request.source.to_owned(),
            group_key: request.group_key.to_owned(),
            token: request.token.to_owned(),
            overflowed: None,
        }))
    }
}
}

/// An `alert_groups` row as read under its lock.
struct GroupRow {
    incident_id: Option<i64>,
    claim: Option<String>,
    claimed_at: Option<i64>,
    overflow: bool,
}

sql_store_impl! {
impl AlertStore {
    async fn plan_group(&self, request: PlanRequest<'_>) -> Result<GroupPlan, StoreError> {
        let mut tx = self.begin_write().await?;
        let plan = Self::plan_locked(&mut tx, &request).await?;
        match plan {
            GroupPlan::Open(_) => tx.commit().await?,
            // Overflow attachments link the group; everything else wrote nothing worth keeping
            // (the group row `lock_group` may have inserted is dropped with the rollback).
            GroupPlan::Attach { overflow: true, .. } => tx.commit().await?,
            _ => tx.rollback().await?,
        }
        Ok(plan)
    }

    async fn open_for_claim(
        &self,
        claim: &Claim,
        incident: NewIncident,
        events: Vec<NewEvent>,
        escalation: super::EscalationEffect,
        timers: super::TimerPlan<'_>,
    ) -> Result<Written, StoreError> {
        let mut tx = self.begin_write().await?;
        let written = Self::insert_incident(&mut tx, incident, events, &escalation).await?;
        Self::apply_timers_in_tx(&mut tx, &timers(&written.incident)).await?;
        Self::link_claim(&mut tx, claim, written.incident.id).await?;
        tx.commit().await?;
        Ok(written)
    }

    async fn record_alerts(&self, request: RecordRequest<'_>) -> Result<Recorded, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = request.incident;
        if let Some(claim) = request.claim {
            Self::link_claim(&mut tx, claim, id).await?;
        }
        let current = Self::load_for_update(&mut tx, id).await?;
        if request.require_active && !current.status.is_active() {
            tx.rollback().await?;
            return Ok(Recorded {
                written: Written {
                    incident: current,
                    events: Vec::new(),
                    duplicate: true,
                },
                fired: 0,
                resolved: 0,
                unchanged: 0,
                all_resolved: false,
                replan: true,
            });
        }
        let mut changes: Vec<(usize, String, AlertChange)> = Vec::new();
        let mut seen = BTreeSet::new();
        let (mut fired, mut resolved, mut unchanged) = (0, 0, 0);
        let instances = Self::find_instances(&mut *tx, request.source, request.alerts).await?;
        for (index, (alert, found)) in request.alerts.iter().zip(instances).enumerate() {
            let instance = match (alert.starts_at, &found) {
                (Some(start), _) => millis_key(start),
                (None, Some(found)) if !Self::is_new_firing(alert, Some(found)) => {
                    found.instance.clone()
                }
                (None, found) => {
                    let next = found
                        .as_ref()
                        .and_then(|found| found.instance.strip_prefix("seq:"))
                        .and_then(|n| n.parse::<u64>().ok())
                        .unwrap_or(0)
                        + 1;
                    format!("seq:{next}")
                }
            };
            // The same alert twice in one delivery counts once.
            if !seen.insert((alert.fingerprint.clone(), instance.clone())) {
                unchanged += 1;
                continue;
            }
            let labels = serde_json::to_string(&alert.labels).map_err(corrupt)?;
            match (alert.state, found.as_ref().map(|found| found.status.as_str())) {
                (AlertState::Firing, None) | (AlertState::Firing, Some("resolved"))
                    if Self::is_new_firing(alert, found.as_ref()) =>
                {
                    sqlx::query(
                        "INSERT INTO alerts (source, fingerprint, instance, group_key, incident_id, \
                         status, summary, labels, starts_at, ends_at, received_at) \
                         VALUES ($1, $2, $3, $4, $5, 'firing', $6, $7, $8, $9, $10)",
                    )
                    .bind(request.source.to_owned())
                    .bind(alert.fingerprint.clone())
                    .bind(instance.clone())
                    .bind(request.group_key.to_owned())
                    .bind(id.0)
                    .bind(alert.summary.clone())
                    .bind(labels)
                    .bind(alert.starts_at.map(Timestamp::as_millis))
                    .bind(alert.ends_at.map(Timestamp::as_millis))
                    .bind(request.now.as_millis())
                    .execute(&mut *tx)
                    .await?;
                    fired += 1;
                    changes.push((index, instance, AlertChange::Fired));
                }
                (AlertState::Resolved, Some("firing")) => {
                    sqlx::query(
                        "UPDATE alerts SET status = 'resolved', ends_at = $4 \
                         WHERE source = $1 AND fingerprint = $2 AND instance = $3",
                    )
                    .bind(request.source.to_owned())
                    .bind(alert.fingerprint.clone())
                    .bind(instance.clone())
                    .bind(alert.ends_at.unwrap_or(request.now).as_millis())
                    .execute(&mut *tx)
                    .await?;
                    resolved += 1;
                    changes.push((index, instance, AlertChange::Resolved { all_resolved: false }));
                }
                (AlertState::Resolved, None) if alert.starts_at.is_some() => {
                    // Resolved before warroom saw it fire (it was down, or the firing
                    // notification was lost): kept, so the timeline says it happened.
                    sqlx::query(
                        "INSERT INTO alerts (source, fingerprint, instance, group_key, incident_id, \
                         status, summary, labels, starts_at, ends_at, received_at) \
                         VALUES ($1, $2, $3, $4, $5, 'resolved', $6, $7, $8, $9, $10)",
                    )
                    .bind(request.source.to_owned())
                    .bind(alert.fingerprint.clone())
                    .bind(instance.clone())
                    .bind(request.group_key.to_owned())
                    .bind(id.0)
                    .bind(alert.summary.clone())
                    .bind(labels)
                    .bind(alert.starts_at.map(Timestamp::as_millis))
                    .bind(alert.ends_at.unwrap_or(request.now).as_millis())
                    .bind(request.now.as_millis())
                    .execute(&mut *tx)
                    .await?;
                    resolved += 1;
                    changes.push((index, instance, AlertChange::Resolved { all_resolved: false }));
                }
                _ => unchanged += 1,
            }
        }
        let mut all_resolved = false;
        if resolved > 0 {
            let row = sqlx::query(
                "SELECT COUNT(*) AS firing FROM alerts WHERE incident_id = $1 AND status = 'firing'",
            )
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await?;
            let firing: i64 = row.try_get("firing")?;
            if firing == 0
                && let Some(last) = changes
                    .iter_mut()
                    .rev()
                    .find(|(_, _, change)| matches!(change, AlertChange::Resolved { .. }))
            {
                last.2 = AlertChange::Resolved { all_resolved: true };
                all_resolved = true;
            }
        }
        if changes.is_empty() {
            tx.rollback().await?;
            return Ok(Recorded {
                written: Written {
                    incident: current,
                    events: Vec::new(),
                    duplicate: true,
                },
                fired,
                resolved,
                unchanged,
                all_resolved,
                replan: false,
            });
        }
        let events: Vec<NewEvent> = changes
            .iter()
            .map(|(index, instance, change)| {
                let alert = &request.alerts[*index];
                let state = match change {
                    AlertChange::Fired => AlertState::Firing,
                    AlertChange::Resolved { .. } => AlertState::Resolved,
                };
                (request.render)(alert, *change).with_key(event_key(
                    request.source,
                    &alert.fingerprint,
                    instance,
                    state,
                ))
            })
            .collect();
        // Every change is to an instance first stored (or resolved) in this transaction, so
        // no key can exist yet: the rows and their events are always written together.
        let count = i64::try_from(events.len()).map_err(corrupt)?;
        let row = sqlx::query(sql(format!(
            "UPDATE incidents SET last_seq = last_seq + $2 WHERE id = $1 RETURNING {INCIDENT_COLUMNS}"
        )))
        .bind(id.0)
        .bind(count)
        .fetch_one(&mut *tx)
        .await?;
        let incident = Self::incident_from_row(&row)?;
        let events =
            Self::insert_events(&mut tx, id, incident.last_seq - count + 1, events).await?;
        tx.commit().await?;
        Ok(Recorded {
            written: Written {
                incident,
                events,
                duplicate: false,
            },
            fired,
            resolved,
            unchanged,
            all_resolved,
            replan: false,
        })
    }

    async fn group_incident(
        &self,
        source: &str,
        group_key: &str,
    ) -> Result<Option<(IncidentId, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT incident_id, route FROM alert_groups WHERE source = $1 AND group_key = $2",
        )
        .bind(source.to_owned())
        .bind(group_key.to_owned())
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: Option<i64> = row.try_get("incident_id")?;
        let route: String = row.try_get("route")?;
        Ok(id.map(|id| (IncidentId(id), route)))
    }

    async fn group_state(
        &self,
        source: &str,
        group_key: &str,
        alerts: &[AlertReport],
    ) -> Result<GroupState, StoreError> {
        let row = sqlx::query(
            "SELECT g.incident_id, i.status FROM alert_groups g \
             JOIN incidents i ON i.id = g.incident_id \
             WHERE g.source = $1 AND g.group_key = $2",
        )
        .bind(source.to_owned())
        .bind(group_key.to_owned())
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else {
            return Ok(GroupState::default());
        };
        let id: i64 = row.try_get("incident_id")?;
        let status: String = row.try_get("status")?;
        if status == Status::Resolved.as_str() {
            return Ok(GroupState::default());
        }
        let active = GroupState {
            active_incident: Some(IncidentId(id)),
            unchanged: false,
        };
        // Only alerts with a start can be matched without the write lock: an alert without
        // one may start a new instance.
        if alerts.iter().any(|alert| alert.starts_at.is_none()) {
            return Ok(active);
        }
        let found = Self::find_instances(&self.reader, source, alerts).await?;
        for (alert, found) in alerts.iter().zip(found) {
            let Some(found) = found else { return Ok(active) };
            let same = found.status == alert.state.as_str()
                || (alert.state == AlertState::Firing
                    && found.status == AlertState::Resolved.as_str());
            if !same {
                return Ok(active);
            }
        }
        Ok(GroupState {
            unchanged: true,
            ..active
        })
    }

    async fn incident_counts(&self) -> Result<Vec<IncidentCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT status, severity, COUNT(*) AS n FROM incidents GROUP BY status, severity \
             ORDER BY status, severity",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(IncidentCount {
                    status: row.try_get("status")?,
                    severity: row.try_get("severity")?,
                    count: row.try_get("n")?,
                })
            })
            .collect()
    }
}
}
