//! Storage of command runs: the run, its audit trail, the incident timeline events that
//! record it, and the lock rows that keep runs on one target apart. Every decision about a
//! run is one transaction, taken under a lock, so two warroom processes never both start it.

use async_trait::async_trait;
use sqlx::{Row, Transaction};

use super::StoreError;
use super::sql::{corrupt, sql, sql_store_impl};
use crate::domain::{Event, Incident, NewEvent, Run, RunId, RunRefusal, RunState, Timestamp};

/// Decides a run's next state from its current one (read inside the write transaction), with
/// the events that record the decision. Pure, like `Decide`.
pub type RunDecide<'a> = &'a (dyn Fn(&Run) -> Result<RunChange, RunRefusal> + Send + Sync);

/// Makes the events that record a new run, from the run as stored (with its id).
pub type RunRecord<'a> = &'a (dyn Fn(&Run) -> Vec<NewEvent> + Send + Sync);

#[derive(Clone, Debug)]
pub struct RunChange {
    pub run: Run,
    /// Written to the run's audit and, when the run belongs to an incident, its timeline.
    pub events: Vec<NewEvent>,
}

/// A run after a write, with the incident and events the write appended (when it has one).
#[derive(Clone, Debug)]
pub struct RunWritten {
    pub run: Run,
    pub incident: Option<Incident>,
    pub events: Vec<Event>,
}

/// What a claim to start a run found.
#[derive(Clone, Debug)]
pub enum RunClaim {
    /// This process now runs it; nobody else will. (Boxed: a run is large, the other answers
    /// small.)
    Claimed(Box<RunWritten>),
    /// Another run holds the same lock key and is running under a live claim.
    LockBusy { held_by: RunId },
    /// It is not (or no longer) waiting to run.
    NotClaimable(Box<Run>),
}

/// One entry of a run's audit trail.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub at: Timestamp,
    pub kind: String,
    pub actor: crate::domain::Actor,
    pub text: String,
    pub data: serde_json::Value,
}

#[async_trait]
pub trait RunStore: Send + Sync {
    /// Inserts `run` (its id is assigned here) with the events `record` makes of it once it
    /// has its id, in one transaction.
    async fn create_run(&self, run: Run, record: RunRecord<'_>) -> Result<RunWritten, StoreError>;

    /// Reads the run under a write lock, lets `decide` compute its next state, and writes it
    /// with its events in one transaction. A run reaching a final state releases its lock key.
    async fn update_run(&self, id: RunId, decide: RunDecide<'_>) -> Result<RunWritten, StoreError>;

    /// Moves an approved run to `running` for process `by` until `lease_until`, taking its
    /// lock key, with `event` (its start), in one transaction; or says why it cannot.
    async fn claim_run(
        &self,
        id: RunId,
        by: &str,
        now: Timestamp,
        lease_until: Timestamp,
        event: NewEvent,
    ) -> Result<RunClaim, StoreError>;

    async fn get_run(&self, id: RunId) -> Result<Option<Run>, StoreError>;

    /// Requested runs whose approval window has passed at `now`.
    async fn expired_runs(&self, now: Timestamp) -> Result<Vec<RunId>, StoreError>;

    /// Running runs whose claim ran out at `now`: their process stopped without finishing them.
    async fn abandoned_runs(&self, now: Timestamp) -> Result<Vec<RunId>, StoreError>;

    async fn run_audit(&self, id: RunId) -> Result<Vec<AuditEntry>, StoreError>;
}

fn encode(run: &Run) -> Result<String, StoreError> {
    serde_json::to_string(run).map_err(corrupt)
}

/// A run from its row: the body, and the exact values kept beside it (runs from before the
/// column have exact values in their body).
fn decode(row: &impl RowBody) -> Result<Run, StoreError> {
    let mut run: Run = serde_json::from_str(&row.body()?).map_err(corrupt)?;
    run.exact_values = match row.bound_values()? {
        Some(text) => serde_json::from_str(&text).map_err(corrupt)?,
        None => run.values.clone(),
    };
    Ok(run)
}

/// The two columns a run is read from, on either backend's rows.
trait RowBody {
    fn body(&self) -> Result<String, StoreError>;
    fn bound_values(&self) -> Result<Option<String>, StoreError>;
}

impl<R> RowBody for R
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn body(&self) -> Result<String, StoreError> {
        Ok(self.try_get::<String, _>("body")?)
    }

    fn bound_values(&self) -> Result<Option<String>, StoreError> {
        Ok(self.try_get::<Option<String>, _>("bound_values")?)
    }
}

sql_store_impl! {
impl {
    async fn load_run_for_update(
        tx: &mut Transaction<'static, DB>,
        id: RunId,
    ) -> Result<Run, StoreError> {
        let row = sqlx::query(sql(format!(
            "SELECT body, bound_values FROM runs WHERE id = $1{}",
            DB::LOCK_ROW
        )))
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::RunNotFound(id))?;
        decode(&row)
    }

    /// The ids a query selects with `now` as its only parameter.
    async fn runs_past(&self, query: &'static str, now: Timestamp) -> Result<Vec<RunId>, StoreError> {
        let rows = sqlx::query(query)
            .bind(now.as_millis())
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(|row| Ok(RunId(row.try_get("id")?))).collect()
    }

    async fn write_run(tx: &mut Transaction<'static, DB>, run: &Run) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE runs SET state = $2, lock_key = $3, expires_at = $4, lease_until = $5, \
             body = $6, bound_values = $7 WHERE id = $1",
        )
        .bind(run.id.0)
        .bind(run.state.as_str().to_owned())
        .bind(run.lock_key.clone())
        .bind(run.expires_at.map(Timestamp::as_millis))
        .bind(run.lease_until.map(Timestamp::as_millis))
        .bind(encode(run)?)
        .bind(serde_json::to_string(&run.exact_values).map_err(corrupt)?)
        .execute(&mut **tx)
        .await?;
        if run.state.is_final() {
            sqlx::query("DELETE FROM run_locks WHERE run_id = $1")
                .bind(run.id.0)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// The run's audit rows and, when it belongs to an incident, its timeline events.
    async fn record_run_events(
        tx: &mut Transaction<'static, DB>,
        run: &Run,
        events: Vec<NewEvent>,
    ) -> Result<(Option<Incident>, Vec<Event>), StoreError> {
        for event in &events {
            sqlx::query(
                "INSERT INTO run_audit (run_id, at, kind, actor, actor_name, text, data) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(run.id.0)
            .bind(event.at.as_millis())
            .bind(event.kind.as_str().to_owned())
            .bind(event.actor.id.clone())
            .bind(event.actor.name.clone())
            .bind(event.text.clone())
            .bind(event.data.to_string())
            .execute(&mut **tx)
            .await?;
        }
        match run.incident_id {
            Some(incident) if !events.is_empty() => {
                let (incident, events) = Self::append_in_tx(tx, incident, events).await?;
                Ok((Some(incident), events))
            }
            _ => Ok((None, Vec::new())),
        }
    }
}
}

sql_store_impl! {
impl RunStore {
    async fn create_run(&self, mut run: Run, record: RunRecord<'_>) -> Result<RunWritten, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO runs (incident_id, command, state, lock_key, expires_at, requested_at, body) \
             VALUES ($1, $2, $3, $4, $5, $6, '{}') RETURNING id",
        )
        .bind(run.incident_id.map(|id| id.0))
        .bind(run.command.clone())
        .bind(run.state.as_str().to_owned())
        .bind(run.lock_key.clone())
        .bind(run.expires_at.map(Timestamp::as_millis))
        .bind(run.requested_at.as_millis())
        .fetch_one(&mut *tx)
        .await?;
        run.id = RunId(row.try_get::<i64, _>("id")?);
        Self::write_run(&mut tx, &run).await?;
        let events = record(&run);
        let (incident, events) = Self::record_run_events(&mut tx, &run, events).await?;
        tx.commit().await?;
        Ok(RunWritten { run, incident, events })
    }

    async fn update_run(&self, id: RunId, decide: RunDecide<'_>) -> Result<RunWritten, StoreError> {
        let mut tx = self.begin_write().await?;
        let current = Self::load_run_for_update(&mut tx, id).await?;
        let RunChange { mut run, events } = decide(&current)?;
        run.id = current.id;
        Self::write_run(&mut tx, &run).await?;
        let (incident, events) = Self::record_run_events(&mut tx, &run, events).await?;
        tx.commit().await?;
        Ok(RunWritten { run, incident, events })
    }

    async fn claim_run(
        &self,
        id: RunId,
        by: &str,
        now: Timestamp,
        lease_until: Timestamp,
        event: NewEvent,
    ) -> Result<RunClaim, StoreError> {
        let mut tx = self.begin_write().await?;
        let current = Self::load_run_for_update(&mut tx, id).await?;
        if current.state != RunState::Approved {
            tx.rollback().await?;
            return Ok(RunClaim::NotClaimable(Box::new(current)));
        }
        if let Some(key) = &current.lock_key {
            // Takes the key when it is free or its holder's claim ran out. On PostgreSQL the
            // conflicting row is locked by the upsert, so two claims for one key serialize.
            let taken = sqlx::query(
                "INSERT INTO run_locks (lock_key, run_id, lease_until) VALUES ($1, $2, $3) \
                 ON CONFLICT (lock_key) DO UPDATE SET run_id = excluded.run_id, \
                 lease_until = excluded.lease_until WHERE run_locks.lease_until <= $4 \
                 RETURNING run_id",
            )
            .bind(key.clone())
            .bind(id.0)
            .bind(lease_until.as_millis())
            .bind(now.as_millis())
            .fetch_optional(&mut *tx)
            .await?;
            if taken.is_none() {
                let held_by: i64 = sqlx::query("SELECT run_id FROM run_locks WHERE lock_key = $1")
                    .bind(key.clone())
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("run_id")?;
                tx.rollback().await?;
                return Ok(RunClaim::LockBusy { held_by: RunId(held_by) });
            }
        }
        let mut run = current;
        run.state = RunState::Running;
        run.claimed_by = Some(by.to_owned());
        run.lease_until = Some(lease_until);
        run.started_at = Some(now);
        Self::write_run(&mut tx, &run).await?;
        let (incident, events) = Self::record_run_events(&mut tx, &run, vec![event]).await?;
        tx.commit().await?;
        Ok(RunClaim::Claimed(Box::new(RunWritten { run, incident, events })))
    }

    async fn get_run(&self, id: RunId) -> Result<Option<Run>, StoreError> {
        let row = sqlx::query("SELECT body, bound_values FROM runs WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.reader)
            .await?;
        row.map(|row| decode(&row)).transpose()
    }

    async fn expired_runs(&self, now: Timestamp) -> Result<Vec<RunId>, StoreError> {
        self.runs_past("SELECT id FROM runs WHERE state = 'requested' AND expires_at <= $1 ORDER BY id", now).await
    }

    async fn abandoned_runs(&self, now: Timestamp) -> Result<Vec<RunId>, StoreError> {
        self.runs_past("SELECT id FROM runs WHERE state = 'running' AND lease_until <= $1 ORDER BY id", now).await
    }

    async fn run_audit(&self, id: RunId) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, kind, actor, actor_name, text, data FROM run_audit WHERE run_id = $1 ORDER BY id",
        )
        .bind(id.0)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let data: String = row.try_get("data")?;
                Ok(AuditEntry {
                    at: Timestamp::from_millis(row.try_get("at")?),
                    kind: row.try_get("kind")?,
                    actor: crate::domain::Actor {
                        id: row.try_get("actor")?,
                        name: row.try_get("actor_name")?,
                    },
                    text: row.try_get("text")?,
                    data: serde_json::from_str(&data).map_err(corrupt)?,
                })
            })
            .collect()
    }
}
}
