//! Recording a delivery's alerts on an incident, in named phases inside one transaction:
//! classify each report against what is stored, write the alert rows (one multi-row insert),
//! tell whether the incident's last firing alert resolved, and append the events. Also the
//! memory of resolved notices for alerts never seen firing (`alert_early_resolves`). A batch
//! of deliveries (`record_together`) runs the same phases once for all the deliveries that
//! share nothing with another, and these phases in turn for the rest.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{Row, Transaction};

use super::StoreError;
use super::Written;
use super::alerts::{
    AlertChange, EARLY_RESOLVE_MEMORY, Instance, PlanRequest, RecordJob, RecordRequest, Recorded,
    StoredInstance, pick_instance,
};
use super::sql::{INCIDENT_COLUMNS, corrupt, sql, sql_store_impl, value_rows};
use crate::domain::{AlertReport, AlertState, Event, Incident, IncidentId, NewEvent, Timestamp};

/// What one report does to the stored alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Write {
    /// A new firing instance.
    Fire,
    /// A stored firing instance resolves.
    Resolve,
    /// Resolved before warroom saw it fire (it was down, or the firing notice was lost):
    /// stored resolved, so the timeline says it happened.
    StoreResolved,
}

/// One report's write: which report, on which instance.
struct Planned {
    index: usize,
    instance: String,
    write: Write,
}

/// The reports of a delivery sorted by what they do.
#[derive(Default)]
struct Classified {
    writes: Vec<Planned>,
    /// Already stored in the state sent (or twice in the delivery).
    unchanged: u32,
    /// Resolved notices without a start for alerts never seen: nothing to resolve.
    unmatched: u32,
}

impl Classified {
    fn count(&self, write: Write) -> u32 {
        let count = self
            .writes
            .iter()
            .filter(|planned| planned.write == write)
            .count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    /// Resolutions written: of stored instances, and of instances stored resolved.
    fn resolved(&self) -> u32 {
        self.count(Write::Resolve) + self.count(Write::StoreResolved)
    }
}

/// The outcome of a job that writes nothing (the caller may still roll back): `current` is
/// the incident as locked.
fn unchanged(current: &Incident, classified: &Classified, replan: bool) -> Recorded {
    Recorded {
        written: Written {
            incident: current.clone(),
            events: Vec::new(),
            duplicate: true,
        },
        fired: classified.count(Write::Fire),
        resolved: 0,
        unchanged: classified.unchanged,
        unmatched: classified.unmatched,
        all_resolved: false,
        replan,
    }
}

/// Which jobs of a batch can be recorded together (`record_independent`): a job whose
/// incident no other job of the batch records on, none of whose alerts (source and
/// fingerprint) another job carries, with only firing reports and without a note. What such
/// a job reads (its incident, its alerts' stored instances) no other job of the batch writes,
/// and what it writes no other one reads; so it may be recorded at any point of the batch
/// with the same outcome. (A resolution asks whether the incident's last alert resolved, and
/// an alert's row may belong to another group's incident: those jobs are recorded alone.)
fn independent(jobs: &[RecordJob]) -> Vec<bool> {
    let mut incidents: BTreeMap<IncidentId, usize> = BTreeMap::new();
    let mut alerts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut keys_of = Vec::with_capacity(jobs.len());
    for job in jobs {
        *incidents.entry(job.incident).or_default() += 1;
        let keys: BTreeSet<(&str, &str)> = job
            .alerts
            .iter()
            .map(|alert| (job.source.as_str(), alert.fingerprint.as_str()))
            .collect();
        for key in &keys {
            *alerts.entry(*key).or_default() += 1;
        }
        keys_of.push(keys);
    }
    jobs.iter()
        .zip(&keys_of)
        .map(|(job, keys)| {
            job.note.is_none()
                && job
                    .alerts
                    .iter()
                    .all(|alert| alert.state == AlertState::Firing)
                && incidents[&job.incident] == 1
                && keys.iter().all(|key| alerts[key] == 1)
        })
        .collect()
}

/// The instance key a report refers to.
fn instance_key(alert: &AlertReport, found: Option<&Instance>) -> String {
    match (alert.starts_at, found) {
        (Some(start), _) => start.as_millis().to_string(),
        (None, Some(found)) if !is_new_firing(alert, Some(found)) => found.instance.clone(),
        (None, found) => format!("seq:{}", found.map_or(1, |found| found.next_seq)),
    }
}

/// Whether the report is a firing alert that no stored instance covers yet.
pub(super) fn is_new_firing(alert: &AlertReport, found: Option<&Instance>) -> bool {
    if alert.state != AlertState::Firing {
        return false;
    }
    match (alert.starts_at, found) {
        (_, None) => true,
        (Some(_), Some(_)) => false,
        (None, Some(instance)) => instance.status != AlertState::Firing.as_str(),
    }
}

/// Phase 1 (pure): what each report does, given the instances stored for it.
fn classify(alerts: &[AlertReport], instances: Vec<Option<Instance>>) -> Classified {
    let mut classified = Classified::default();
    let mut seen = BTreeSet::new();
    for (index, (alert, found)) in alerts.iter().zip(instances).enumerate() {
        let instance = instance_key(alert, found.as_ref());
        // The same alert twice in one delivery counts once.
        if !seen.insert((alert.fingerprint.clone(), instance.clone())) {
            classified.unchanged += 1;
            continue;
        }
        let stored = found.as_ref().map(|found| found.status.as_str());
        let write = match (alert.state, stored) {
            (AlertState::Firing, _) if is_new_firing(alert, found.as_ref()) => Some(Write::Fire),
            (AlertState::Resolved, Some("firing")) => Some(Write::Resolve),
            (AlertState::Resolved, None) if alert.starts_at.is_some() => Some(Write::StoreResolved),
            (AlertState::Resolved, None) => {
                classified.unmatched += 1;
                None
            }
            _ => {
                classified.unchanged += 1;
                None
            }
        };
        if let Some(write) = write {
            classified.writes.push(Planned {
                index,
                instance,
                write,
            });
        }
    }
    classified
}

/// The event key of a change: one per instance and state, so a replay appends nothing.
fn event_key(source: &str, fingerprint: &str, instance: &str, state: AlertState) -> String {
    format!("alert:{source}:{fingerprint}:{instance}:{}", state.as_str())
}

/// Alert rows per multi-row insert: 11 values a row, far below both backends' limits.
const ALERT_ROWS_PER_INSERT: usize = 500;

sql_store_impl! {
impl {
    /// `record_alerts_batch`'s one transaction, then one commit (or a rollback when none
    /// wrote). Every incident of the batch is locked first, in id order, in one statement:
    /// two writers that lock in the same order cannot deadlock on PostgreSQL. The jobs that
    /// share nothing with the others (`independent`) are recorded together, a few statements
    /// for all of them; the rest one after the other, in incident order (stable, so one
    /// incident's jobs keep their order). Any job's error fails the whole batch, written
    /// nothing.
    pub(super) async fn record_together(
        &self,
        jobs: &[RecordJob],
    ) -> Result<Vec<Recorded>, StoreError> {
        let mut tx = self.begin_write().await?;
        let ids: BTreeSet<IncidentId> = jobs.iter().map(|job| job.incident).collect();
        let locked = Self::read_locked(&mut tx, &ids).await?;
        let together = independent(jobs);
        let mut recorded: Vec<Option<Recorded>> = vec![None; jobs.len()];
        let requests: Vec<(usize, RecordRequest<'_>)> = jobs
            .iter()
            .enumerate()
            .filter(|(index, _)| together[*index])
            .map(|(index, job)| (index, job.request()))
            .collect();
        for (index, one) in Self::record_independent(&mut tx, &requests, &locked).await? {
            recorded[index] = Some(one);
        }
        let mut alone: Vec<usize> = (0..jobs.len()).filter(|&index| !together[index]).collect();
        alone.sort_by_key(|&index| jobs[index].incident);
        for index in alone {
            recorded[index] = Some(Self::record_in_tx(&mut tx, &jobs[index].request()).await?);
        }
        let recorded = recorded
            .into_iter()
            .map(|one| one.ok_or_else(|| corrupt("a job of the batch was not recorded")))
            .collect::<Result<Vec<Recorded>, StoreError>>()?;
        if recorded.iter().any(|one| !one.written.duplicate) {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(recorded)
    }

    /// Locks the incidents `ids` (in id order) and reads them, in one statement.
    async fn read_locked(
        tx: &mut Transaction<'static, DB>,
        ids: &BTreeSet<IncidentId>,
    ) -> Result<BTreeMap<IncidentId, Incident>, StoreError> {
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        let query = sqlx::query(sql(format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE {} ORDER BY id{}",
            DB::id_in("id", 1, ids.len()),
            DB::LOCK_ROW
        )));
        let mut locked = BTreeMap::new();
        for row in DB::bind_ids(query, &ids).fetch_all(&mut **tx).await? {
            let incident = Self::incident_from_row(&row)?;
            locked.insert(incident.id, incident);
        }
        if let Some(missing) = ids.iter().find(|id| !locked.contains_key(&IncidentId(**id))) {
            return Err(StoreError::NotFound(IncidentId(*missing)));
        }
        Ok(locked)
    }

    /// Records independent requests (see `independent`) whose incidents `locked` holds, in
    /// the statements of one: one read of the stored instances per source, one insert of the
    /// new alert rows, one append of all the events. What each reads no other one writes, so
    /// each outcome is what it would be alone.
    async fn record_independent(
        tx: &mut Transaction<'static, DB>,
        requests: &[(usize, RecordRequest<'_>)],
        locked: &BTreeMap<IncidentId, Incident>,
    ) -> Result<Vec<(usize, Recorded)>, StoreError> {
        let mut done = Vec::with_capacity(requests.len());
        let mut live: Vec<&(usize, RecordRequest<'_>)> = Vec::with_capacity(requests.len());
        for entry in requests {
            let current = &locked[&entry.1.incident];
            if entry.1.require_active && !current.status.is_active() {
                done.push((entry.0, unchanged(current, &Classified::default(), true)));
            } else {
                live.push(entry);
            }
        }
        let stored = Self::stored_by_source(tx, live.iter().map(|(_, request)| request)).await?;
        let classified: Vec<Classified> = live
            .iter()
            .map(|(_, request)| {
                let of_source = stored.get(request.source);
                let instances = request
                    .alerts
                    .iter()
                    .map(|alert| {
                        pick_instance(alert, of_source?.get(&alert.fingerprint)?)
                    })
                    .collect();
                classify(request.alerts, instances)
            })
            .collect();
        let writes: Vec<(&RecordRequest<'_>, &[Planned])> = live
            .iter()
            .zip(&classified)
            .map(|((_, request), classified)| (request, classified.writes.as_slice()))
            .collect();
        Self::write_alert_rows(tx, &writes).await?;
        let mut appends = Vec::new();
        let mut pending = Vec::new();
        for ((index, request), classified) in live.into_iter().zip(classified) {
            // Only firing reports (see `independent`): nothing resolves.
            let events = Self::alert_events(request, &classified.writes, false);
            if events.is_empty() {
                let current = &locked[&request.incident];
                done.push((*index, unchanged(current, &classified, false)));
                continue;
            }
            appends.push((request.incident, events));
            pending.push((*index, request.incident, classified));
        }
        let mut appended: BTreeMap<IncidentId, (Incident, Vec<Event>)> =
            Self::append_many(tx, appends)
                .await?
                .into_iter()
                .map(|(incident, events)| (incident.id, (incident, events)))
                .collect();
        for (index, id, classified) in pending {
            let (incident, events) = appended
                .remove(&id)
                .ok_or_else(|| corrupt("an independent job's events were not appended"))?;
            done.push((
                index,
                Recorded {
                    written: Written {
                        incident,
                        events,
                        duplicate: false,
                    },
                    fired: classified.count(Write::Fire),
                    resolved: 0,
                    unchanged: classified.unchanged,
                    unmatched: classified.unmatched,
                    all_resolved: false,
                    replan: false,
                },
            ));
        }
        Ok(done)
    }

    /// The stored instances of the requests' alerts, one statement per source.
    async fn stored_by_source<'r>(
        tx: &mut Transaction<'static, DB>,
        requests: impl Iterator<Item = &'r RecordRequest<'r>>,
    ) -> Result<BTreeMap<&'r str, BTreeMap<String, Vec<StoredInstance>>>, StoreError> {
        let mut wanted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for request in requests {
            wanted
                .entry(request.source)
                .or_default()
                .extend(request.alerts.iter().map(|alert| alert.fingerprint.as_str()));
        }
        let mut stored = BTreeMap::new();
        for (source, fingerprints) in wanted {
            if fingerprints.is_empty() {
                continue;
            }
            stored.insert(
                source,
                Self::stored_instances(&mut **tx, source, &fingerprints).await?,
            );
        }
        Ok(stored)
    }

    /// `record_alerts` inside `tx`; `written.duplicate` when nothing was written (the caller
    /// rolls back).
    pub(super) async fn record_in_tx(
        tx: &mut Transaction<'static, DB>,
        request: &RecordRequest<'_>,
    ) -> Result<Recorded, StoreError> {
        let id = request.incident;
        if let Some(claim) = request.claim {
            Self::link_claim(tx, claim, id).await?;
        }
        let current = Self::load_for_update(tx, id).await?;
        if request.require_active && !current.status.is_active() {
            return Ok(unchanged(&current, &Classified::default(), true));
        }
        let instances = Self::find_instances(&mut **tx, request.source, request.alerts).await?;
        let classified = classify(request.alerts, instances);
        Self::write_alert_rows(tx, &[(request, classified.writes.as_slice())]).await?;
        let resolved = classified.resolved();
        let all_resolved = resolved > 0 && Self::none_firing(tx, id).await?;
        let mut events = Self::alert_events(request, &classified.writes, all_resolved);
        if let Some(note) = &request.note
            && Self::existing_keyed(tx, id, std::slice::from_ref(note)).await?.is_empty()
        {
            events.push(note.clone());
        }
        if events.is_empty() {
            return Ok(Recorded {
                resolved,
                ..unchanged(&current, &classified, false)
            });
        }
        // Every change is to an instance first stored (or resolved) in this transaction, and
        // the note's key was looked up under the incident's lock, so no key can exist yet: the
        // rows and their events are always written together.
        let (incident, events) = Self::append_in_tx(tx, id, events).await?;
        Ok(Recorded {
            written: Written {
                incident,
                events,
                duplicate: false,
            },
            fired: classified.count(Write::Fire),
            resolved,
            unchanged: classified.unchanged,
            unmatched: classified.unmatched,
            all_resolved,
            replan: false,
        })
    }

    /// Phase 2: new instances in multi-row inserts (one for many deliveries' writes),
    /// resolutions as updates.
    async fn write_alert_rows(
        tx: &mut Transaction<'static, DB>,
        writes: &[(&RecordRequest<'_>, &[Planned])],
    ) -> Result<(), StoreError> {
        let inserts: Vec<(&RecordRequest<'_>, &Planned)> = writes
            .iter()
            .flat_map(|(request, planned)| planned.iter().map(move |planned| (*request, planned)))
            .filter(|(_, planned)| planned.write != Write::Resolve)
            .collect();
        for chunk in inserts.chunks(ALERT_ROWS_PER_INSERT) {
            let mut query = sqlx::query(sql(format!(
                "INSERT INTO alerts (source, fingerprint, instance, group_key, incident_id, \
                 status, summary, labels, starts_at, ends_at, received_at) VALUES {}",
                value_rows::<DB>(1, chunk.len(), 11)
            )));
            for (request, planned) in chunk {
                let alert = &request.alerts[planned.index];
                let labels = serde_json::to_string(&alert.labels).map_err(corrupt)?;
                let (status, ends_at) = match planned.write {
                    Write::Fire => ("firing", alert.ends_at),
                    _ => ("resolved", Some(alert.ends_at.unwrap_or(request.now))),
                };
                query = query
                    .bind(request.source.to_owned())
                    .bind(alert.fingerprint.clone())
                    .bind(planned.instance.clone())
                    .bind(request.group_key.to_owned())
                    .bind(request.incident.0)
                    .bind(status.to_owned())
                    .bind(alert.summary.clone())
                    .bind(labels)
                    .bind(alert.starts_at.map(Timestamp::as_millis))
                    .bind(ends_at.map(Timestamp::as_millis))
                    .bind(request.now.as_millis());
            }
            query.execute(&mut **tx).await?;
        }
        let resolutions: Vec<(&RecordRequest<'_>, &Planned)> = writes
            .iter()
            .flat_map(|(request, planned)| planned.iter().map(move |planned| (*request, planned)))
            .filter(|(_, planned)| planned.write == Write::Resolve)
            .collect();
        for (request, planned) in resolutions {
            let alert = &request.alerts[planned.index];
            sqlx::query(
                "UPDATE alerts SET status = 'resolved', ends_at = $4 \
                 WHERE source = $1 AND fingerprint = $2 AND instance = $3",
            )
            .bind(request.source.to_owned())
            .bind(alert.fingerprint.clone())
            .bind(planned.instance.clone())
            .bind(alert.ends_at.unwrap_or(request.now).as_millis())
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Phase 3: whether no alert of the incident is firing any more.
    async fn none_firing(
        tx: &mut Transaction<'static, DB>,
        id: IncidentId,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS firing FROM alerts WHERE incident_id = $1 AND status = 'firing'",
        )
        .bind(id.0)
        .fetch_one(&mut **tx)
        .await?;
        let firing: i64 = row.try_get("firing")?;
        Ok(firing == 0)
    }

    /// Phase 4 (pure): the keyed events of the writes; the last resolution says whether it
    /// was the incident's last.
    fn alert_events(
        request: &RecordRequest<'_>,
        writes: &[Planned],
        all_resolved: bool,
    ) -> Vec<NewEvent> {
        let last_resolution = writes
            .iter()
            .rposition(|planned| planned.write != Write::Fire);
        writes
            .iter()
            .enumerate()
            .map(|(position, planned)| {
                let alert = &request.alerts[planned.index];
                let (change, state) = match planned.write {
                    Write::Fire => (AlertChange::Fired, AlertState::Firing),
                    _ => (
                        AlertChange::Resolved {
                            all_resolved: all_resolved && Some(position) == last_resolution,
                        },
                        AlertState::Resolved,
                    ),
                };
                (request.render)(alert, change).with_key(event_key(
                    request.source,
                    &alert.fingerprint,
                    &planned.instance,
                    state,
                ))
            })
            .collect()
    }

    /// For a group with nothing to record: counts its reports and remembers the resolved
    /// notices (with a start) for alerts never seen firing, pruning memories older than
    /// `EARLY_RESOLVE_MEMORY`. Returns (duplicates, unmatched, whether it wrote).
    pub(super) async fn remember_early_resolves(
        tx: &mut Transaction<'static, DB>,
        request: &PlanRequest<'_>,
    ) -> Result<(u32, u32, bool), StoreError> {
        let instances = Self::find_instances(&mut **tx, request.source, request.alerts).await?;
        let mut early: Vec<(&AlertReport, String)> = Vec::new();
        let mut duplicates = 0u32;
        for (alert, found) in request.alerts.iter().zip(&instances) {
            match (alert.state, found, alert.starts_at) {
                (AlertState::Resolved, None, Some(start)) => {
                    early.push((alert, start.as_millis().to_string()));
                }
                (AlertState::Resolved, None, None) => {}
                _ => duplicates += 1,
            }
        }
        let unmatched = u32::try_from(request.alerts.len()).unwrap_or(u32::MAX) - duplicates;
        if early.is_empty() {
            return Ok((duplicates, unmatched, false));
        }
        let memory = i64::try_from(EARLY_RESOLVE_MEMORY.as_millis()).map_err(corrupt)?;
        sqlx::query("DELETE FROM alert_early_resolves WHERE received_at < $1")
            .bind(request.now.as_millis() - memory)
            .execute(&mut **tx)
            .await?;
        for chunk in early.chunks(ALERT_ROWS_PER_INSERT) {
            let mut query = sqlx::query(sql(format!(
                "INSERT INTO alert_early_resolves \
                 (source, fingerprint, instance, group_key, ends_at, received_at) VALUES {} \
                 ON CONFLICT DO NOTHING",
                value_rows::<DB>(1, chunk.len(), 6)
            )));
            for (alert, instance) in chunk {
                query = query
                    .bind(request.source.to_owned())
                    .bind(alert.fingerprint.clone())
                    .bind(instance.clone())
                    .bind(request.group_key.to_owned())
                    .bind(alert.ends_at.map(Timestamp::as_millis))
                    .bind(request.now.as_millis());
            }
            query.execute(&mut **tx).await?;
        }
        Ok((duplicates, unmatched, true))
    }
}
}
