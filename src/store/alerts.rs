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

use super::alert_record::is_new_firing;
use super::sql::{corrupt, param, sql, sql_store_impl};
use super::{StoreError, Written};
use crate::domain::{
    AlertReport, AlertState, IncidentId, NewEvent, NewIncident, Status, Timestamp,
};

/// The `source` of the groups that collect a route's overflow (see `OVERFLOW_PREFIX`).
pub const OVERFLOW_SOURCE: &str = "warroom";

/// The group key of a route's overflow group is this prefix and the route's name.
pub const OVERFLOW_PREFIX: &str = "overflow:";

impl GroupPlan {
    /// `Nothing`, before its counts are known (`plan_group` fills them in).
    const NOTHING: GroupPlan = GroupPlan::Nothing {
        duplicates: 0,
        unmatched: 0,
    };
}

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
    /// Nothing to store: no new firing alert and no incident to record on. Of the alerts,
    /// `duplicates` are stored in the state sent; `unmatched` are resolved notices for alerts
    /// never seen firing (those with a start are remembered, see `EARLY_RESOLVE_MEMORY`).
    Nothing { duplicates: u32, unmatched: u32 },
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
    /// A keyed note to append too, unless its key is already on the timeline (the sender's
    /// truncation of the group).
    pub note: Option<NewEvent>,
}

/// A [`RenderAlert`] that owns what it refers to.
pub type OwnedRenderAlert = Box<dyn Fn(&AlertReport, AlertChange) -> NewEvent + Send + Sync>;

/// A [`RecordRequest`] that owns what it refers to, so it can wait in the alert writer's
/// queue (`ops::AlertWriter`) and be recorded with other deliveries' in one transaction. It
/// carries no claim: linking a just-opened incident stays on its own path.
pub struct RecordJob {
    pub incident: IncidentId,
    pub source: String,
    pub group_key: String,
    pub alerts: Vec<AlertReport>,
    pub now: Timestamp,
    pub render: OwnedRenderAlert,
    pub require_active: bool,
    pub note: Option<NewEvent>,
}

impl RecordJob {
    /// The request this job stands for.
    pub fn request(&self) -> RecordRequest<'_> {
        RecordRequest {
            incident: self.incident,
            claim: None,
            source: &self.source,
            group_key: &self.group_key,
            alerts: &self.alerts,
            now: self.now,
            render: &*self.render,
            require_active: self.require_active,
            note: self.note.clone(),
        }
    }
}

impl std::fmt::Debug for RecordJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordJob")
            .field("incident", &self.incident)
            .field("source", &self.source)
            .field("group_key", &self.group_key)
            .field("alerts", &self.alerts.len())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
pub struct Recorded {
    /// The incident and the events appended (none when nothing changed).
    pub written: Written,
    pub fired: u32,
    pub resolved: u32,
    pub unchanged: u32,
    /// Resolved notices for alerts never seen firing.
    pub unmatched: u32,
    /// This delivery resolved the incident's last firing alert.
    pub all_resolved: bool,
    /// `require_active` was asked and the incident is resolved: nothing was written; plan
    /// the group (it may need a new incident).
    pub replan: bool,
}

/// The outcome of `AlertStore::record_alerts_batch`.
#[derive(Debug)]
pub struct BatchRecorded {
    /// One result per job, in the jobs' order; each `Ok` is committed.
    pub results: Vec<Result<Recorded, StoreError>>,
    /// The shared transaction failed and every job was recorded again alone.
    pub retried: bool,
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

    /// `record_alerts` for several deliveries in ONE transaction and one commit (group
    /// commit). The jobs run one after the other (those of one incident in the order given),
    /// each seeing what the ones before it wrote, so the outcome of each is what it would be
    /// alone. If any of them fails, or the commit does, the transaction is rolled back and
    /// each job runs again alone, in its own transaction: one job's failure costs the others
    /// only time. Recording is idempotent (every write is keyed by its alert instance), so
    /// running a job again is safe even if a failed commit did commit. One result per job,
    /// in the jobs' order; each `Ok` is committed.
    async fn record_alerts_batch(&self, jobs: &[RecordJob]) -> BatchRecorded;

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

    /// How many alert writer tasks (`ops::AlertWriter`) suit this backend.
    fn alert_writers(&self) -> usize;
}

/// The stored instance of an alert, as found for a report.
pub(super) struct Instance {
    pub(super) instance: String,
    pub(super) status: String,
    /// The number after the greatest `seq:N` instance of the fingerprint, for a firing report
    /// without a start that begins a new occurrence.
    pub(super) next_seq: u64,
}

/// A row as read by `find_instances`: of `alerts`, or a remembered early resolve.
pub(super) struct StoredInstance {
    instance: String,
    status: String,
    received_at: i64,
    early: bool,
}

/// The parts of `group_state`'s one read: the group's row, its alerts' stored instances,
/// and remembered early resolves.
const GROUP_PART: i64 = 0;
const ALERT_PART: i64 = 1;
const EARLY_PART: i64 = 2;

/// How long a resolved notice for an alert never seen firing is remembered: longer than any
/// sender delays or reorders notices (Alertmanager resends every few minutes).
pub const EARLY_RESOLVE_MEMORY: Duration = Duration::from_secs(24 * 60 * 60);

fn millis_key(at: Timestamp) -> String {
    at.as_millis().to_string()
}

/// The instance of `stored` (all of the report's fingerprint) the report refers to.
pub(super) fn pick_instance(alert: &AlertReport, stored: &[StoredInstance]) -> Option<Instance> {
    let next_seq = stored
        .iter()
        .filter_map(|found| found.instance.strip_prefix("seq:")?.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    let found = match alert.starts_at {
        Some(start) => {
            let key = millis_key(start);
            stored
                .iter()
                .filter(|found| found.instance == key)
                // A stored alert wins over a remembered early resolve of it.
                .min_by_key(|found| found.early)
        }
        None => stored.iter().filter(|found| !found.early).max_by(|a, b| {
            let rank = |found: &StoredInstance| {
                (
                    found.status == AlertState::Firing.as_str(),
                    found.received_at,
                    found.instance.len(),
                    found.instance.clone(),
                )
            };
            rank(a).cmp(&rank(b))
        }),
    }?;
    Some(Instance {
        instance: found.instance.clone(),
        status: found.status.clone(),
        next_seq,
    })
}

sql_store_impl! {
impl {
    /// The stored instance each report refers to, read in one query for the whole delivery:
    /// with a start, exactly that one (or a remembered early resolve of it, as resolved);
    /// without, the firing one if there is one, else the latest, whatever its key (a
    /// PagerDuty `resolve` has no start but its trigger may have had one).
    pub(super) async fn find_instances<'e, E>(
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
        let stored = Self::stored_instances(executor, source, &fingerprints).await?;
        Ok(alerts
            .iter()
            .map(|alert| pick_instance(alert, stored.get(&alert.fingerprint)?))
            .collect())
    }

    /// Every stored instance (and remembered early resolve) of `fingerprints` from `source`,
    /// by fingerprint: one statement, for one delivery or for a batch of them.
    pub(super) async fn stored_instances<'e, E>(
        executor: E,
        source: &str,
        fingerprints: &BTreeSet<&str>,
    ) -> Result<BTreeMap<String, Vec<StoredInstance>>, StoreError>
    where
        E: sqlx::Executor<'e, Database = DB>,
    {
        let count = fingerprints.len();
        let values: Vec<&str> = fingerprints.iter().copied().collect();
        let query = sqlx::query(sql(format!(
            "SELECT fingerprint, instance, status, received_at, FALSE AS early FROM alerts \
             WHERE source = {} AND {} \
             UNION ALL SELECT fingerprint, instance, 'resolved', received_at, TRUE \
             FROM alert_early_resolves WHERE source = {} AND {}",
            param::<DB>(1),
            DB::id_in("fingerprint", 2, count),
            param::<DB>(2 + DB::list_slots(count)),
            DB::id_in("fingerprint", 3 + DB::list_slots(count), count)
        )));
        let query = DB::bind_texts(query.bind(source.to_owned()), &values);
        let query = DB::bind_texts(query.bind(source.to_owned()), &values);
        let rows = DB::planned_each_time(query).fetch_all(executor).await?;
        let mut stored: BTreeMap<String, Vec<StoredInstance>> = BTreeMap::new();
        for row in rows {
            let fingerprint: String = row.try_get("fingerprint")?;
            stored.entry(fingerprint).or_default().push(StoredInstance {
                instance: row.try_get("instance")?,
                status: row.try_get("status")?,
                received_at: row.try_get("received_at")?,
                early: row.try_get("early")?,
            });
        }
        Ok(stored)
    }

    /// `group_state`'s one statement: the group's incident and its status (part
    /// `GROUP_PART`) and, when `match_alerts`, the stored instances of the alerts' fingerprints
    /// (parts `ALERT_PART` and `EARLY_PART`, as `find_instances` reads them). One statement is
    /// one round trip (one hand-off to SQLite's worker thread) and one snapshot.
    async fn read_group_state(
        reader: &sqlx::Pool<DB>,
        source: &str,
        group_key: &str,
        alerts: &[AlertReport],
        match_alerts: bool,
    ) -> Result<Vec<<DB as sqlx::Database>::Row>, StoreError> {
        let mut text = format!(
            "SELECT CAST({GROUP_PART} AS BIGINT) AS part, g.incident_id AS incident_id, \
             i.status AS status, '' AS fingerprint, '' AS instance, \
             CAST(0 AS BIGINT) AS received_at \
             FROM alert_groups g JOIN incidents i ON i.id = g.incident_id \
             WHERE g.source = {} AND g.group_key = {}",
            param::<DB>(1),
            param::<DB>(2)
        );
        let fingerprints: Vec<&str> = if match_alerts {
            let unique: BTreeSet<&str> =
                alerts.iter().map(|alert| alert.fingerprint.as_str()).collect();
            unique.into_iter().collect()
        } else {
            Vec::new()
        };
        let count = fingerprints.len();
        if count > 0 {
            text.push_str(&format!(
                " UNION ALL SELECT {ALERT_PART}, NULL, status, fingerprint, instance, received_at \
                 FROM alerts WHERE source = {} AND {} \
                 UNION ALL SELECT {EARLY_PART}, NULL, 'resolved', fingerprint, instance, received_at \
                 FROM alert_early_resolves WHERE source = {} AND {}",
                param::<DB>(3),
                DB::id_in("fingerprint", 4, count),
                param::<DB>(4 + DB::list_slots(count)),
                DB::id_in("fingerprint", 5 + DB::list_slots(count), count)
            ));
        }
        let mut query = sqlx::query(sql(text))
            .bind(source.to_owned())
            .bind(group_key.to_owned());
        if count > 0 {
            for _ in 0..2 {
                query = DB::bind_texts(query.bind(source.to_owned()), &fingerprints);
            }
        }
        let query = DB::planned_each_time(query);
        Ok(query.fetch_all(reader).await?)
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
    pub(super) async fn link_claim(
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
            .any(|(alert, found)| is_new_firing(alert, found.as_ref()));
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
                Ok(GroupPlan::NOTHING)
            };
        }
        if !any_new {
            return Ok(GroupPlan::NOTHING);
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
        let mut plan = Self::plan_locked(&mut tx, &request).await?;
        if let GroupPlan::Nothing { .. } = plan {
            let (duplicates, unmatched, remembered) =
                Self::remember_early_resolves(&mut tx, &request).await?;
            plan = GroupPlan::Nothing {
                duplicates,
                unmatched,
            };
            if remembered {
                tx.commit().await?;
                return Ok(plan);
            }
        }
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
        let recorded = Self::record_in_tx(&mut tx, &request).await?;
        if recorded.written.duplicate {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(recorded)
    }

    async fn record_alerts_batch(&self, jobs: &[RecordJob]) -> BatchRecorded {
        let together = jobs.len() > 1;
        if together {
            match self.record_together(jobs).await {
                Ok(recorded) => {
                    return BatchRecorded {
                        results: recorded.into_iter().map(Ok).collect(),
                        retried: false,
                    };
                }
                Err(error) => tracing::debug!(
                    %error,
                    jobs = jobs.len(),
                    "a group commit of alert deliveries failed; recording each alone"
                ),
            }
        }
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs {
            results.push(self.record_alerts(job.request()).await);
        }
        // Run alone after the shared transaction failed, unless there was only one job.
        BatchRecorded {
            results,
            retried: together,
        }
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
        // Only alerts with a start can be matched without the write lock: an alert without
        // one may start a new instance, so then only the group is read.
        let match_alerts = !alerts.is_empty() && alerts.iter().all(|alert| alert.starts_at.is_some());
        let rows = Self::read_group_state(&self.reader, source, group_key, alerts, match_alerts)
            .await?;
        let mut group = None;
        let mut stored: BTreeMap<String, Vec<StoredInstance>> = BTreeMap::new();
        for row in rows {
            let part: i64 = row.try_get("part")?;
            if part == GROUP_PART {
                let id: Option<i64> = row.try_get("incident_id")?;
                let status: String = row.try_get("status")?;
                group = id.map(|id| (id, status));
                continue;
            }
            let fingerprint: String = row.try_get("fingerprint")?;
            stored.entry(fingerprint).or_default().push(StoredInstance {
                instance: row.try_get("instance")?,
                status: row.try_get("status")?,
                received_at: row.try_get("received_at")?,
                early: part == EARLY_PART,
            });
        }
        let Some((id, status)) = group else {
            return Ok(GroupState::default());
        };
        if status == Status::Resolved.as_str() {
            return Ok(GroupState::default());
        }
        let active = GroupState {
            active_incident: Some(IncidentId(id)),
            unchanged: false,
        };
        if !match_alerts {
            return Ok(active);
        }
        for alert in alerts {
            let found = stored
                .get(&alert.fingerprint)
                .and_then(|stored| pick_instance(alert, stored));
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

    fn alert_writers(&self) -> usize {
        DB::CONCURRENT_WRITERS
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
