//! Storage of escalation: where each incident's policy stands, and the outbox of pages.
//!
//! Every decision is one transaction: a step fires (the escalation moves on, its pages enter
//! the outbox, its timeline event is appended) or it does not; a page is claimed, then its
//! outcome recorded with its event. Claims are conditional updates, so two engines on one
//! database never fire the same step or send the same claimed page.
//!
//! Starting and stopping an escalation belong to the incident's own writes (opening,
//! acknowledging, resolving, reopening), in their transactions: see [`EscalationEffect`].

mod types;

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use sqlx::{Row, Transaction};

use super::StoreError;
use super::sql::{
    APPEND_CHUNK, Column, ColumnType, corrupt, db_id, param, sql, sql_store_impl, value_rows,
};
use crate::domain::{Event, Incident, IncidentId, NewEvent, Status, Timestamp};

pub use types::*;

#[async_trait]
pub trait EscalationStore: Send + Sync {
    async fn escalation(&self, id: IncidentId) -> Result<Option<Escalation>, StoreError>;

    /// Active escalations whose next step is due at `now`, earliest first.
    async fn due_escalations(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Escalation>, StoreError>;

    /// Fires each step if its escalation still expects it, in one transaction, its pages
    /// entering the outbox already claimed under `claim`; `None` for a step another engine
    /// (or an acknowledgement) got to first. Results are in the order of `steps`.
    async fn fire_steps(
        &self,
        steps: Vec<FireStep>,
        claim: &PageClaim,
    ) -> Result<Vec<Option<Fired>>, StoreError>;

    /// [`Self::finish_pages`] then [`Self::fire_steps`], in one transaction: one commit,
    /// one update of the incidents and one insert of events for both. What is appended for
    /// an incident with a step taken is in that step's [`Fired`]; the rest in `appended`.
    async fn finish_and_fire(
        &self,
        done: Vec<PageDone>,
        steps: Vec<FireStep>,
        claim: &PageClaim,
    ) -> Result<FinishedAndFired, StoreError>;

    /// Puts pages in the outbox with their events (`/page`); pages whose (dedup key, action)
    /// exists already are left alone. Returns how many were new.
    async fn enqueue_pages(
        &self,
        id: IncidentId,
        pages: Vec<NewPage>,
        events: Vec<NewEvent>,
    ) -> Result<(usize, Appended), StoreError>;

    /// Claims up to `limit` pages ready at `now` (pending, or sending with a claim that ran
    /// out) until `lease_until`. Each is claimed by one conditional update.
    async fn claim_pages(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        by: &str,
    ) -> Result<Vec<Page>, StoreError>;

    /// The processes holding claims on pages being sent.
    async fn claimants(&self) -> Result<Vec<String>, StoreError>;

    /// Ends a process's claims at once, instead of when they run out: of a process known to
    /// be dead, or of this one handing back, at shutdown, pages it will not send.
    async fn release_claims(&self, by: &str, now: Timestamp) -> Result<u64, StoreError>;

    /// Records claimed pages' outcomes with their events, in one transaction (a page whose
    /// claim was stale records nothing); returns what was appended, per incident.
    async fn finish_pages(
        &self,
        done: Vec<PageDone>,
    ) -> Result<Vec<(Incident, Vec<Event>)>, StoreError>;

    /// The earliest moment something is due: a step, a pending page, a claim running out.
    async fn next_deadline(&self) -> Result<Option<Timestamp>, StoreError>;

    /// Open (unacknowledged) incidents with nothing left to page them: the policy finished,
    /// or no escalation row exists at all. No pending or claimed pages.
    async fn unguarded_incidents(&self, limit: u32) -> Result<Vec<Incident>, StoreError>;

    /// Marks the escalation audited (creating the row if there was none) and writes the
    /// fallback page and the event, if it is still unguarded; false when someone else did.
    async fn record_audit(
        &self,
        id: IncidentId,
        policy: &str,
        page: Option<NewPage>,
        event: NewEvent,
        now: Timestamp,
    ) -> Result<Option<Appended>, StoreError>;

    /// Every page of the incident, oldest first.
    async fn pages(&self, id: IncidentId) -> Result<Vec<Page>, StoreError>;

    /// The incidents with these ids (those that exist), in one read: what a batch of pages
    /// about to be sent is about.
    async fn incidents_by_id(&self, ids: &[IncidentId]) -> Result<Vec<Incident>, StoreError>;

    /// Whether the Discord user was paged for the incident (they may acknowledge it).
    async fn was_paged(&self, id: IncidentId, user_id: u64) -> Result<bool, StoreError>;
}

const PAGE_COLUMNS: &str = "id, dedup_key, action, incident_id, level, round, target, \
     recipient_kind, recipient, schedule, via_override, message, state, attempts, send_after, \
     created_at, finished_at, outcome";

const ESCALATION_COLUMNS: &str =
    "incident_id, policy, state, started_at, round_base, next_level, next_round, due_at, failures";

fn small(value: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| corrupt(format!("{what} {value} is out of range")))
}

sql_store_impl! {
impl {
    fn page_from_row(row: &DB::Row) -> Result<Page, StoreError> {
        let action: String = row.try_get("action")?;
        let state: String = row.try_get("state")?;
        let kind: String = row.try_get("recipient_kind")?;
        Ok(Page {
            id: row.try_get("id")?,
            dedup_key: row.try_get("dedup_key")?,
            action: PageAction::parse(&action)?,
            incident_id: IncidentId(row.try_get("incident_id")?),
            level: small(row.try_get("level")?, "level")?,
            round: small(row.try_get("round")?, "round")?,
            target: row.try_get("target")?,
            recipient: PageRecipient::from_columns(
                &kind,
                row.try_get("recipient")?,
                row.try_get("schedule")?,
                row.try_get("via_override")?,
            )?,
            message: row.try_get("message")?,
            state: PageState::parse(&state)?,
            attempts: small(row.try_get("attempts")?, "attempts")?,
            send_after: Timestamp::from_millis(row.try_get("send_after")?),
            created_at: Timestamp::from_millis(row.try_get("created_at")?),
            finished_at: row
                .try_get::<Option<i64>, _>("finished_at")?
                .map(Timestamp::from_millis),
            outcome: row.try_get("outcome")?,
        })
    }

    fn escalation_from_row(row: &DB::Row) -> Result<Escalation, StoreError> {
        let state: String = row.try_get("state")?;
        Ok(Escalation {
            incident_id: IncidentId(row.try_get("incident_id")?),
            policy: row.try_get("policy")?,
            state: EscalationState::parse(&state)?,
            started_at: Timestamp::from_millis(row.try_get("started_at")?),
            round_base: small(row.try_get("round_base")?, "round")?,
            next_level: small(row.try_get("next_level")?, "level")?,
            next_round: small(row.try_get("next_round")?, "round")?,
            due_at: row.try_get::<Option<i64>, _>("due_at")?.map(Timestamp::from_millis),
            failures: small(row.try_get("failures")?, "failures")?,
        })
    }

    /// Inserts pages of one incident, pending or (with `claim`) already claimed, skipping any
    /// whose (dedup key, action) exists; returns the new ones.
    async fn insert_pages(
        tx: &mut Transaction<'static, DB>,
        id: IncidentId,
        pages: &[NewPage],
        now: Timestamp,
        claim: Option<&PageClaim>,
    ) -> Result<Vec<Page>, StoreError> {
        let rows: Vec<(IncidentId, &NewPage, Timestamp)> =
            pages.iter().map(|page| (id, page, now)).collect();
        Self::insert_many_pages(tx, &rows, claim).await
    }

    /// Inserts (incident, page, written at) rows with multi-row statements; see
    /// [`Self::insert_pages`].
    async fn insert_many_pages(
        tx: &mut Transaction<'static, DB>,
        pages: &[(IncidentId, &NewPage, Timestamp)],
        claim: Option<&PageClaim>,
    ) -> Result<Vec<Page>, StoreError> {
        const COLUMNS: usize = 17;
        let mut inserted = Vec::with_capacity(pages.len());
        let (state, attempts) = match claim {
            Some(_) => (PageState::Sending, 1_i64),
            None => (PageState::Pending, 0),
        };
        for chunk in pages.chunks(APPEND_CHUNK) {
            let mut query = sqlx::query(sql(format!(
                "INSERT INTO pages (dedup_key, action, incident_id, level, round, target, \
                 recipient_kind, recipient, schedule, via_override, message, state, send_after, \
                 created_at, attempts, lease_until, claimed_by) VALUES {} \
                 ON CONFLICT (dedup_key, action) DO NOTHING RETURNING {PAGE_COLUMNS}",
                value_rows::<DB>(1, chunk.len(), COLUMNS)
            )));
            for (id, page, now) in chunk {
                let (kind, recipient, schedule, via_override) = page.recipient.columns()?;
                query = query
                    .bind(page.dedup_key.clone())
                    .bind(page.action.as_str().to_owned())
                    .bind(id.0)
                    .bind(i64::from(page.level))
                    .bind(i64::from(page.round))
                    .bind(page.target.clone())
                    .bind(kind.to_owned())
                    .bind(recipient)
                    .bind(schedule)
                    .bind(via_override)
                    .bind(page.message.clone())
                    .bind(state.as_str().to_owned())
                    .bind(page.send_after.as_millis())
                    .bind(now.as_millis())
                    .bind(attempts)
                    .bind(claim.map(|claim| claim.lease_until.as_millis()))
                    .bind(claim.map(|claim| claim.by.clone()));
            }
            for row in query.fetch_all(&mut **tx).await? {
                inserted.push(Self::page_from_row(&row)?);
            }
        }
        Ok(inserted)
    }

    /// Applies an incident write's effect on its escalation, inside that write's transaction.
    pub(super) async fn apply_escalation_effect(
        tx: &mut Transaction<'static, DB>,
        id: IncidentId,
        effect: &EscalationEffect,
    ) -> Result<(), StoreError> {
        match effect {
            EscalationEffect::None => Ok(()),
            EscalationEffect::Start(start) => Self::start_escalation(tx, id, start).await,
            EscalationEffect::Stop(stop) => Self::stop_escalation(tx, id, *stop).await,
        }
    }

    async fn start_escalation(
        tx: &mut Transaction<'static, DB>,
        id: IncidentId,
        start: &EscalationStart,
    ) -> Result<(), StoreError> {
        // Rounds already paged (before a reopen) are skipped, so new dedup keys never collide.
        let row = sqlx::query("SELECT MAX(round) AS last FROM pages WHERE incident_id = $1 AND level > 0")
            .bind(id.0)
            .fetch_one(&mut **tx)
            .await?;
        let round_base = row.try_get::<Option<i64>, _>("last")?.map_or(0, |last| last + 1);
        let state = if start.first_due.is_some() {
            EscalationState::Active
        } else {
            EscalationState::Unpaged
        };
        sqlx::query(
            "INSERT INTO escalations (incident_id, policy, state, started_at, round_base, \
             next_level, next_round, due_at, failures, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 1, 0, $6, 0, $4) \
             ON CONFLICT (incident_id) DO UPDATE SET policy = excluded.policy, \
             state = excluded.state, started_at = excluded.started_at, \
             round_base = excluded.round_base, next_level = 1, next_round = 0, \
             due_at = excluded.due_at, failures = 0, updated_at = excluded.updated_at",
        )
        .bind(id.0)
        .bind(start.policy.clone())
        .bind(state.as_str().to_owned())
        .bind(start.started_at.as_millis())
        .bind(round_base)
        .bind(start.first_due.map(Timestamp::as_millis))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn stop_escalation(
        tx: &mut Transaction<'static, DB>,
        id: IncidentId,
        stop: Stop,
    ) -> Result<(), StoreError> {
        // Updating the row first takes its lock (PostgreSQL): a step being fired by another
        // engine either committed before (its pages are cancelled below) or waits and then
        // finds the escalation stopped.
        sqlx::query(
            "UPDATE escalations SET state = 'stopped', due_at = NULL, updated_at = $2 \
             WHERE incident_id = $1 AND state <> 'unpaged'",
        )
        .bind(id.0)
        .bind(stop.at.as_millis())
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "UPDATE pages SET state = 'cancelled', finished_at = $2, lease_until = NULL, \
             outcome = 'not sent: the incident was acknowledged or resolved first' \
             WHERE incident_id = $1 AND action = 'trigger' AND state = 'pending'",
        )
        .bind(id.0)
        .bind(stop.at.as_millis())
        .execute(&mut **tx)
        .await?;
        // Receivers outside Discord that were paged hear about it under the same key.
        sqlx::query(
            "INSERT INTO pages (dedup_key, action, incident_id, level, round, target, \
             recipient_kind, recipient, schedule, via_override, message, state, send_after, \
             created_at) \
             SELECT dedup_key, $2, incident_id, level, round, target, recipient_kind, recipient, \
             schedule, via_override, NULL, 'pending', $3, $3 FROM pages \
             WHERE incident_id = $1 AND action = 'trigger' AND recipient_kind = 'notifier' \
             AND state IN ('sent', 'sending') \
             ON CONFLICT (dedup_key, action) DO NOTHING",
        )
        .bind(id.0)
        .bind(stop.forward.as_str().to_owned())
        .bind(stop.at.as_millis())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn load_escalation_for_update(
        tx: &mut Transaction<'static, DB>,
        id: IncidentId,
    ) -> Result<Option<Escalation>, StoreError> {
        let row = sqlx::query(sql(format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations WHERE incident_id = $1{}",
            DB::LOCK_ROW
        )))
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await?;
        row.as_ref().map(Self::escalation_from_row).transpose()
    }

    /// Locks the incident's row (PostgreSQL): every write about an incident takes this lock
    /// first, so writers about one incident queue instead of deadlocking.
    async fn lock_incident(
        tx: &mut Transaction<'static, DB>,
        id: IncidentId,
    ) -> Result<(), StoreError> {
        if DB::LOCK_ROW.is_empty() {
            // SQLite: the write transaction already excludes every other writer.
            return Ok(());
        }
        sqlx::query(sql(format!("SELECT id FROM incidents WHERE id = $1{}", DB::LOCK_ROW)))
            .bind(id.0)
            .fetch_optional(&mut **tx)
            .await?;
        Ok(())
    }

    /// Locks the incidents' rows in id order (PostgreSQL), as [`Self::lock_incident`] does
    /// for one.
    async fn lock_incidents(
        tx: &mut Transaction<'static, DB>,
        ids: &[IncidentId],
    ) -> Result<(), StoreError> {
        if DB::LOCK_ROW.is_empty() || ids.is_empty() {
            return Ok(());
        }
        let mut ids = ids.to_vec();
        ids.sort();
        ids.dedup();
        for ids in ids.chunks(APPEND_CHUNK) {
            let mut query = sqlx::query(sql(format!(
                "SELECT id FROM incidents WHERE {} ORDER BY id{}",
                DB::id_in("id", 1, ids.len()),
                DB::LOCK_ROW
            )));
            let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
            query = DB::bind_ids(query, &ids);
            query.fetch_all(&mut **tx).await?;
        }
        Ok(())
    }

    /// Moves each escalation past its step if it still expects that step, with one
    /// conditional `UPDATE` per chunk (the caller locked the incidents); returns the
    /// incidents whose step was taken (the others another engine, or an acknowledgement, got
    /// to first).
    async fn take_steps(
        tx: &mut Transaction<'static, DB>,
        steps: &[&FireStep],
    ) -> Result<BTreeSet<IncidentId>, StoreError> {
        use ColumnType::{Int, Text};
        let mut taken = BTreeSet::new();
        for chunk in steps.chunks(APPEND_CHUNK) {
            // Columns are column1.. on both backends: incident, next level, next round, due
            // at, state, now, expected level, expected round.
            let query = sqlx::query(sql(format!(
                "UPDATE escalations SET next_level = v.column2, next_round = v.column3, \
                 due_at = v.column4, state = v.column5, failures = 0, updated_at = v.column6 \
                 FROM {} \
                 WHERE escalations.incident_id = v.column1 AND escalations.state = 'active' \
                 AND escalations.next_level = v.column7 AND escalations.next_round = v.column8 \
                 RETURNING escalations.incident_id",
                DB::rows_source(1, chunk.len(), &[Int, Int, Int, Int, Text, Int, Int, Int])
            )));
            let mut columns: [Vec<i64>; 6] = Default::default();
            let mut due_ats = Vec::with_capacity(chunk.len());
            let mut states = Vec::with_capacity(chunk.len());
            for step in chunk {
                let (next_level, next_round, due_at, state) = match step.next {
                    Some((level, round, due)) => {
                        (level, round, Some(due.as_millis()), EscalationState::Active)
                    }
                    None => (step.level, step.round, None, EscalationState::Finished),
                };
                for (column, value) in columns.iter_mut().zip([
                    step.incident.0,
                    i64::from(next_level),
                    i64::from(next_round),
                    step.now.as_millis(),
                    i64::from(step.level),
                    i64::from(step.round),
                ]) {
                    column.push(value);
                }
                due_ats.push(due_at);
                states.push(state.as_str().to_owned());
            }
            let [incident, level, round, now, expected_level, expected_round] = columns;
            let query = DB::bind_rows(
                query,
                vec![
                    Column::Int(incident),
                    Column::Int(level),
                    Column::Int(round),
                    Column::OptInt(due_ats),
                    Column::Text(states),
                    Column::Int(now),
                    Column::Int(expected_level),
                    Column::Int(expected_round),
                ],
            );
            for row in query.fetch_all(&mut **tx).await? {
                taken.insert(IncidentId(row.try_get("incident_id")?));
            }
        }
        Ok(taken)
    }

    /// Records outcomes whose claims are still current, with one conditional `UPDATE` per
    /// chunk (the caller locked the incidents), and what they change: a trigger cancelled
    /// before it was ever tried takes its acknowledge/resolve with it; failures may move the
    /// escalation on. Returns the indexes (into `done`) of the outcomes recorded; their
    /// events are appended by the caller.
    async fn finish_many(
        tx: &mut Transaction<'static, DB>,
        done: &[PageDone],
    ) -> Result<Vec<usize>, StoreError> {
        use ColumnType::{Int, Text};
        // (page, claim) → dedup key: two outcomes of one page (a stale claim's and the
        // current one's) in one batch record only the current one.
        let mut current: BTreeMap<(i64, i64), String> = BTreeMap::new();
        for chunk in done.chunks(APPEND_CHUNK) {
            // page, state, outcome, finished at, the claim's attempts
            let query = sqlx::query(sql(format!(
                "UPDATE pages SET state = v.column2, outcome = v.column3, \
                 finished_at = v.column4, lease_until = NULL, claimed_by = NULL \
                 FROM {} \
                 WHERE pages.id = v.column1 AND pages.state = 'sending' \
                 AND pages.attempts = v.column5 \
                 RETURNING pages.id, pages.attempts, pages.dedup_key",
                DB::rows_source(1, chunk.len(), &[Int, Text, Text, Int, Int])
            )));
            let query = DB::bind_rows(
                query,
                vec![
                    Column::Int(chunk.iter().map(|done| done.page).collect()),
                    Column::Text(chunk.iter().map(|done| done.state.as_str().to_owned()).collect()),
                    Column::Text(chunk.iter().map(|done| done.outcome.clone()).collect()),
                    Column::Int(chunk.iter().map(|done| done.now.as_millis()).collect()),
                    Column::Int(chunk.iter().map(|done| i64::from(done.claim)).collect()),
                ],
            );
            for row in query.fetch_all(&mut **tx).await? {
                current.insert(
                    (row.try_get("id")?, row.try_get("attempts")?),
                    row.try_get("dedup_key")?,
                );
            }
        }
        let mut recorded = Vec::with_capacity(current.len());
        for (index, done) in done.iter().enumerate() {
            let Some(dedup_key) = current.get(&(done.page, i64::from(done.claim))) else {
                continue;
            };
            recorded.push(index);
            if done.state == PageState::Cancelled && done.claim == 1 {
                // A trigger never sent at all: the acknowledge or resolve that was to follow
                // it would tell the receiver of a page it never got. (After an earlier claim
                // the trigger may have arrived, and the receiver must hear the rest.)
                sqlx::query(
                    "UPDATE pages SET state = 'cancelled', finished_at = $2, \
                     outcome = 'not sent: the page it follows was never sent' \
                     WHERE dedup_key = $1 AND action <> 'trigger' AND state = 'pending'",
                )
                .bind(dedup_key.clone())
                .bind(done.now.as_millis())
                .execute(&mut **tx)
                .await?;
            }
            if let (PageState::Failed, Some(threshold)) =
                (done.state, done.failures_before_next_level)
                && let Some(escalation) = Self::load_escalation_for_update(tx, done.incident).await?
                && escalation.state == EscalationState::Active
            {
                let failures = escalation.failures + 1;
                let due_at = match escalation.due_at {
                    Some(due) if failures >= threshold && due > done.now => Some(done.now),
                    other => other,
                };
                sqlx::query(
                    "UPDATE escalations SET failures = $2, due_at = $3, updated_at = $4 \
                     WHERE incident_id = $1",
                )
                .bind(done.incident.0)
                .bind(i64::from(failures))
                .bind(due_at.map(Timestamp::as_millis))
                .bind(done.now.as_millis())
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(recorded)
    }

    async fn append_if_any(
        tx: &mut Transaction<'static, DB>,
        id: IncidentId,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        if events.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self::append_in_tx(tx, id, events).await?))
    }
}
}

sql_store_impl! {
impl EscalationStore {
    async fn escalation(&self, id: IncidentId) -> Result<Option<Escalation>, StoreError> {
        let row = sqlx::query(sql(format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations WHERE incident_id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(Self::escalation_from_row).transpose()
    }

    async fn due_escalations(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Escalation>, StoreError> {
        let rows = sqlx::query(sql(format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations \
             WHERE due_at IS NOT NULL AND due_at <= $1 AND state = 'active' \
             ORDER BY due_at LIMIT $2"
        )))
        .bind(now.as_millis())
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(Self::escalation_from_row).collect()
    }

    async fn fire_steps(
        &self,
        steps: Vec<FireStep>,
        claim: &PageClaim,
    ) -> Result<Vec<Option<Fired>>, StoreError> {
        Ok(self.finish_and_fire(Vec::new(), steps, claim).await?.fired)
    }

    async fn finish_pages(
        &self,
        done: Vec<PageDone>,
    ) -> Result<Vec<(Incident, Vec<Event>)>, StoreError> {
        let claim = PageClaim {
            by: String::new(),
            lease_until: Timestamp::from_millis(0),
        };
        Ok(self.finish_and_fire(done, Vec::new(), &claim).await?.appended)
    }

    async fn finish_and_fire(
        &self,
        mut done: Vec<PageDone>,
        mut steps: Vec<FireStep>,
        claim: &PageClaim,
    ) -> Result<FinishedAndFired, StoreError> {
        done.sort_by_key(|done| (done.incident, done.page));
        // Incidents are locked in id order, first and all at once, as every incident write
        // does: two engines' batches and an acknowledgement never wait on each other in a
        // cycle.
        let mut order: Vec<usize> = (0..steps.len()).collect();
        order.sort_by_key(|&index| steps[index].incident);
        let ids: Vec<IncidentId> = done
            .iter()
            .map(|done| done.incident)
            .chain(steps.iter().map(|step| step.incident))
            .collect();
        let mut tx = self.begin_write().await?;
        Self::lock_incidents(&mut tx, &ids).await?;
        let recorded = Self::finish_many(&mut tx, &done).await?;
        let ordered: Vec<&FireStep> = order.iter().map(|&index| &steps[index]).collect();
        let taken_ids = Self::take_steps(&mut tx, &ordered).await?;
        let taken: Vec<usize> = order
            .into_iter()
            .filter(|&index| taken_ids.contains(&steps[index].incident))
            .collect();
        // The pages and events of every step taken: a few multi-row statements for all.
        let pages: Vec<(IncidentId, &NewPage, Timestamp)> = taken
            .iter()
            .flat_map(|&index| {
                let step = &steps[index];
                step.pages.iter().map(move |page| (step.incident, page, step.now))
            })
            .collect();
        let inserted = Self::insert_many_pages(&mut tx, &pages, Some(claim)).await?;
        // Outcomes' events first (they happened first), then the steps': one update of the
        // incidents and one insert of events for both.
        let mut events: Vec<(IncidentId, Vec<NewEvent>)> = recorded
            .into_iter()
            .map(|index| (done[index].incident, done[index].event.take().into_iter().collect()))
            .collect();
        events.extend(
            taken
                .iter()
                .map(|&index| (steps[index].incident, std::mem::take(&mut steps[index].events))),
        );
        let appended = Self::append_many(&mut tx, events).await?;
        tx.commit().await?;
        let mut pages_of: BTreeMap<IncidentId, Vec<Page>> = BTreeMap::new();
        for page in inserted {
            pages_of.entry(page.incident_id).or_default().push(page);
        }
        let mut appended_of: BTreeMap<IncidentId, (Incident, Vec<Event>)> = appended
            .into_iter()
            .map(|(incident, events)| (incident.id, (incident, events)))
            .collect();
        let mut fired: Vec<Option<Fired>> = vec![None; steps.len()];
        for index in taken {
            let id = steps[index].incident;
            fired[index] = Some(Fired {
                appended: appended_of.remove(&id),
                pages: pages_of.remove(&id).unwrap_or_default(),
            });
        }
        Ok(FinishedAndFired {
            fired,
            appended: appended_of.into_values().collect(),
        })
    }

    async fn enqueue_pages(
        &self,
        id: IncidentId,
        pages: Vec<NewPage>,
        events: Vec<NewEvent>,
    ) -> Result<(usize, Appended), StoreError> {
        let mut tx = self.begin_write().await?;
        Self::lock_incident(&mut tx, id).await?;
        let now = pages.first().map_or_else(
            || events.first().map_or(Timestamp::from_millis(0), |event| event.at),
            |page| page.send_after,
        );
        let inserted = Self::insert_pages(&mut tx, id, &pages, now, None).await?.len();
        let appended = Self::append_if_any(&mut tx, id, events).await?;
        tx.commit().await?;
        Ok((inserted, appended))
    }

    async fn claimants(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT claimed_by FROM pages WHERE state = 'sending' AND claimed_by IS NOT NULL",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| Ok(row.try_get::<String, _>("claimed_by")?))
            .collect()
    }

    async fn release_claims(&self, by: &str, now: Timestamp) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let released = sqlx::query(
            "UPDATE pages SET lease_until = $2 WHERE state = 'sending' AND claimed_by = $1 \
             AND lease_until > $2 RETURNING id",
        )
        .bind(by.to_owned())
        .bind(now.as_millis())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(u64::try_from(released.len()).unwrap_or(u64::MAX))
    }

    async fn claim_pages(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        by: &str,
    ) -> Result<Vec<Page>, StoreError> {
        // Two index range scans (pending by send_after, claims by lease_until) rather than
        // one OR that would read the whole outbox; in one read.
        let mut candidates = sqlx::query(
            "SELECT id, attempts FROM (SELECT id, attempts FROM pages \
                 WHERE state = 'pending' AND send_after <= $1 \
                 ORDER BY send_after, id LIMIT $2) AS pending \
             UNION ALL \
             SELECT id, attempts FROM (SELECT id, attempts FROM pages \
                 WHERE state = 'sending' AND lease_until <= $1 \
                 ORDER BY lease_until, id LIMIT $2) AS expired",
        )
        .bind(now.as_millis())
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        candidates.truncate(limit as usize);
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let mut claimed = Vec::with_capacity(candidates.len());
        // One transaction and one conditional multi-row UPDATE per chunk: on SQLite one write
        // lock, on PostgreSQL one round trip, for many pages.
        let mut tx = self.begin_write().await?;
        for chunk in candidates.chunks(APPEND_CHUNK) {
            let returning: Vec<String> = PAGE_COLUMNS
                .split(", ")
                .map(|column| format!("pages.{}", column.trim()))
                .collect();
            // Columns: page, the attempts read, now.
            let query = sqlx::query(sql(format!(
                "UPDATE pages SET state = 'sending', attempts = pages.attempts + 1, \
                 lease_until = {}, claimed_by = {} FROM {} \
                 WHERE pages.id = v.column1 AND pages.attempts = v.column2 \
                 AND (pages.state = 'pending' OR (pages.state = 'sending' AND pages.lease_until <= v.column3)) \
                 RETURNING {}",
                param::<DB>(1),
                param::<DB>(2),
                DB::rows_source(3, chunk.len(), &[ColumnType::Int; 3]),
                returning.join(", ")
            )))
            .bind(lease_until.as_millis())
            .bind(by.to_owned());
            let mut ids = Vec::with_capacity(chunk.len());
            let mut attempts = Vec::with_capacity(chunk.len());
            for candidate in chunk {
                ids.push(candidate.try_get::<i64, _>("id")?);
                attempts.push(candidate.try_get::<i64, _>("attempts")?);
            }
            let query = DB::bind_rows(
                query,
                vec![
                    Column::Int(ids),
                    Column::Int(attempts),
                    Column::Int(vec![now.as_millis(); chunk.len()]),
                ],
            );
            for row in query.fetch_all(&mut *tx).await? {
                claimed.push(Self::page_from_row(&row)?);
            }
        }
        tx.commit().await?;
        claimed.sort_by_key(|page| page.id);
        Ok(claimed)
    }

    async fn next_deadline(&self) -> Result<Option<Timestamp>, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT MIN(due_at) FROM escalations WHERE due_at IS NOT NULL AND state = 'active') AS step, \
             (SELECT MIN(send_after) FROM pages WHERE state = 'pending') AS page, \
             (SELECT MIN(lease_until) FROM pages WHERE state = 'sending') AS lease",
        )
        .fetch_one(&self.reader)
        .await?;
        let times = [
            row.try_get::<Option<i64>, _>("step")?,
            row.try_get::<Option<i64>, _>("page")?,
            row.try_get::<Option<i64>, _>("lease")?,
        ];
        Ok(times.into_iter().flatten().min().map(Timestamp::from_millis))
    }

    async fn unguarded_incidents(&self, limit: u32) -> Result<Vec<Incident>, StoreError> {
        let columns: Vec<String> = super::sql::INCIDENT_COLUMNS
            .split(", ")
            .map(|column| format!("i.{}", column.trim()))
            .collect();
        let rows = sqlx::query(sql(format!(
            "SELECT {} FROM incidents i LEFT JOIN escalations e ON e.incident_id = i.id \
             WHERE i.status = $1 AND (e.incident_id IS NULL OR e.state = 'finished') \
             AND NOT EXISTS (SELECT 1 FROM pages p WHERE p.incident_id = i.id \
                 AND p.state IN ('pending', 'sending')) \
             ORDER BY i.id LIMIT $2",
            columns.join(", ")
        )))
        .bind(Status::Open.as_str().to_owned())
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(Self::incident_from_row).collect()
    }

    async fn record_audit(
        &self,
        id: IncidentId,
        policy: &str,
        page: Option<NewPage>,
        event: NewEvent,
        now: Timestamp,
    ) -> Result<Option<Appended>, StoreError> {
        let mut tx = self.begin_write().await?;
        Self::lock_incident(&mut tx, id).await?;
        let updated = sqlx::query(
            "UPDATE escalations SET state = 'audited', due_at = NULL, updated_at = $2 \
             WHERE incident_id = $1 AND state = 'finished' RETURNING incident_id",
        )
        .bind(id.0)
        .bind(now.as_millis())
        .fetch_optional(&mut *tx)
        .await?;
        let mine = if updated.is_some() {
            true
        } else {
            let inserted = sqlx::query(
                "INSERT INTO escalations (incident_id, policy, state, started_at, round_base, \
                 next_level, next_round, due_at, failures, updated_at) \
                 VALUES ($1, $2, 'audited', $3, 0, 1, 0, NULL, 0, $3) \
                 ON CONFLICT (incident_id) DO NOTHING RETURNING incident_id",
            )
            .bind(id.0)
            .bind(policy.to_owned())
            .bind(now.as_millis())
            .fetch_optional(&mut *tx)
            .await?;
            inserted.is_some()
        };
        if !mine {
            tx.rollback().await?;
            return Ok(None);
        }
        Self::insert_pages(&mut tx, id, page.as_slice(), now, None).await?;
        let appended = Self::append_if_any(&mut tx, id, vec![event]).await?;
        tx.commit().await?;
        Ok(Some(appended))
    }

    async fn pages(&self, id: IncidentId) -> Result<Vec<Page>, StoreError> {
        let rows = sqlx::query(sql(format!(
            "SELECT {PAGE_COLUMNS} FROM pages WHERE incident_id = $1 ORDER BY id"
        )))
        .bind(id.0)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(Self::page_from_row).collect()
    }

    async fn incidents_by_id(&self, ids: &[IncidentId]) -> Result<Vec<Incident>, StoreError> {
        let mut incidents = Vec::with_capacity(ids.len());
        for ids in ids.chunks(APPEND_CHUNK) {
            let mut query = sqlx::query(sql(format!(
                "SELECT {} FROM incidents WHERE {}",
                super::sql::INCIDENT_COLUMNS,
                DB::id_in("id", 1, ids.len())
            )));
            let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
            query = DB::bind_ids(query, &ids);
            for row in query.fetch_all(&self.reader).await? {
                incidents.push(Self::incident_from_row(&row)?);
            }
        }
        Ok(incidents)
    }

    async fn was_paged(&self, id: IncidentId, user_id: u64) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM pages WHERE incident_id = $1 \
             AND recipient_kind = 'discord_user' AND recipient = $2 AND action = 'trigger'",
        )
        .bind(id.0)
        .bind(db_id(user_id)?.to_string())
        .fetch_one(&self.reader)
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }
}
}
