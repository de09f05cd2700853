//! Recording a delivery's alerts on an incident, in named phases inside one transaction:
//! classify each report against what is stored, write the alert rows (one multi-row insert),
//! tell whether the incident's last firing alert resolved, and append the events. Also the
//! memory of resolved notices for alerts never seen firing (`alert_early_resolves`).

use std::collections::BTreeSet;

use sqlx::{Row, Transaction};

use super::StoreError;
use super::Written;
use super::alerts::{
    AlertChange, EARLY_RESOLVE_MEMORY, Instance, PlanRequest, RecordJob, RecordRequest, Recorded,
};
use super::sql::{corrupt, sql, sql_store_impl, value_rows};
use crate::domain::{AlertReport, AlertState, IncidentId, NewEvent, Timestamp};

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
    /// `record_alerts_batch`'s one transaction: every job in turn, then one commit (or a
    /// rollback when none wrote). Any job's error fails the whole batch, written nothing.
    pub(super) async fn record_together(
        &self,
        jobs: &[RecordJob],
    ) -> Result<Vec<Recorded>, StoreError> {
        // By incident (stable, so one incident's jobs keep their order): two writers that
        // lock incidents in the same order cannot deadlock on PostgreSQL.
        let mut order: Vec<usize> = (0..jobs.len()).collect();
        order.sort_by_key(|&index| jobs[index].incident);
        let mut tx = self.begin_write().await?;
        let mut recorded: Vec<Option<Recorded>> = vec![None; jobs.len()];
        let mut wrote = false;
        for index in order {
            let one = Self::record_in_tx(&mut tx, &jobs[index].request()).await?;
            wrote |= !one.written.duplicate;
            recorded[index] = Some(one);
        }
        if wrote {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        recorded
            .into_iter()
            .map(|one| one.ok_or_else(|| corrupt("a job of the batch was not recorded")))
            .collect()
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
        let unchanged = |classified: &Classified, replan| Recorded {
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
        };
        if request.require_active && !current.status.is_active() {
            return Ok(unchanged(&Classified::default(), true));
        }
        let instances = Self::find_instances(&mut **tx, request.source, request.alerts).await?;
        let classified = classify(request.alerts, instances);
        Self::write_alert_rows(tx, request, &classified.writes).await?;
        let resolved = classified.count(Write::Resolve) + classified.count(Write::StoreResolved);
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
                ..unchanged(&classified, false)
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

    /// Phase 2: new instances in multi-row inserts, resolutions as updates.
    async fn write_alert_rows(
        tx: &mut Transaction<'static, DB>,
        request: &RecordRequest<'_>,
        writes: &[Planned],
    ) -> Result<(), StoreError> {
        let inserts: Vec<&Planned> = writes
            .iter()
            .filter(|planned| planned.write != Write::Resolve)
            .collect();
        for chunk in inserts.chunks(ALERT_ROWS_PER_INSERT) {
            let mut query = sqlx::query(sql(format!(
                "INSERT INTO alerts (source, fingerprint, instance, group_key, incident_id, \
                 status, summary, labels, starts_at, ends_at, received_at) VALUES {}",
                value_rows::<DB>(1, chunk.len(), 11)
            )));
            for planned in chunk {
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
        for planned in writes.iter().filter(|planned| planned.write == Write::Resolve) {
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
