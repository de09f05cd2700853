//! Storage of durable timers and of the direct messages warroom owes people.
//!
//! A timer is one row per `(kind, subject)`: setting it again re-arms it (a new due time, the
//! claim cleared), cancelling it ends it. The timer engine of every process claims due timers
//! with one conditional update (a lease, so a process that dies mid-fire hands the timer on
//! when its claim runs out) and finishes them only while its claim holds. Incident writes set
//! and cancel their timers in their own transaction (`Change::timers`).

use async_trait::async_trait;
use sqlx::{Row, Transaction};

use super::StoreError;
use super::sql::{corrupt, sql, sql_store_impl};
use crate::domain::{Timer, TimerOp, Timestamp};

/// A direct message waiting to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxDm {
    pub id: i64,
    pub key: String,
    pub user_id: u64,
    pub content: String,
    pub attempts: i64,
}

#[async_trait]
pub trait TimerStore: Send + Sync {
    /// Sets and cancels timers, in one transaction.
    async fn apply_timers(&self, ops: Vec<TimerOp>) -> Result<(), StoreError>;

    /// The timer `(kind, subject)` if it is pending.
    async fn pending_timer(&self, kind: &str, subject: &str) -> Result<Option<Timer>, StoreError>;

    /// Every pending timer of `kind`, earliest first.
    async fn pending_timers(&self, kind: &str) -> Result<Vec<Timer>, StoreError>;

    /// Claims up to `limit` pending timers due at `now` that nobody holds (or whose claim ran
    /// out), for `holder` until `claim_until`; earliest first.
    async fn claim_due_timers(
        &self,
        now: Timestamp,
        claim_until: Timestamp,
        holder: &str,
        limit: u32,
    ) -> Result<Vec<Timer>, StoreError>;

    /// Finishes a claimed timer: fired for good (`next` none), or re-armed for `next`. False
    /// when `holder` no longer holds the claim (it ran out and another process took it).
    async fn finish_timer(
        &self,
        id: i64,
        holder: &str,
        now: Timestamp,
        next: Option<Timestamp>,
    ) -> Result<bool, StoreError>;

    /// Gives a claimed timer back, to be tried again at `at` (its handler failed).
    async fn retry_timer(&self, id: i64, holder: &str, at: Timestamp) -> Result<(), StoreError>;

    /// When the next pending timer can be claimed: its due time, or the end of the claim that
    /// holds it.
    async fn next_timer_due(&self) -> Result<Option<Timestamp>, StoreError>;

    /// Queues a direct message under `key`; false when one was queued under it already.
    async fn queue_dm(
        &self,
        key: &str,
        user_id: u64,
        content: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Up to `limit` direct messages not sent yet, oldest first.
    async fn unsent_dms(&self, limit: u32) -> Result<Vec<OutboxDm>, StoreError>;

    /// Records an attempt at a direct message: sent (at `sent_at`), or failed for good (both
    /// with `outcome` saying how), or failed for now (`sent_at` none, tried again later).
    async fn record_dm(
        &self,
        id: i64,
        sent_at: Option<Timestamp>,
        outcome: &str,
    ) -> Result<(), StoreError>;
}

const TIMER_COLUMNS: &str = "id, kind, subject, due_at, data, fires";

sql_store_impl! {
impl {
    fn timer_from_row(row: &DB::Row) -> Result<Timer, StoreError> {
        let data: String = row.try_get("data")?;
        Ok(Timer {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            subject: row.try_get("subject")?,
            due_at: Timestamp::from_millis(row.try_get("due_at")?),
            data: serde_json::from_str(&data).map_err(corrupt)?,
            fires: row.try_get("fires")?,
        })
    }

    /// Applies `ops` inside `tx` (an incident's write, or a transaction of their own).
    pub(super) async fn apply_timers_in_tx(
        tx: &mut Transaction<'static, DB>,
        ops: &[TimerOp],
    ) -> Result<(), StoreError> {
        for op in ops {
            match op {
                TimerOp::Set { kind, subject, due_at, data } => {
                    sqlx::query(
                        "INSERT INTO timers (kind, subject, due_at, state, data) \
                         VALUES ($1, $2, $3, 'pending', $4) \
                         ON CONFLICT (kind, subject) DO UPDATE SET due_at = excluded.due_at, \
                         state = 'pending', data = excluded.data, claimed_by = NULL, \
                         claim_until = NULL",
                    )
                    .bind(kind.clone())
                    .bind(subject.clone())
                    .bind(due_at.as_millis())
                    .bind(data.to_string())
                    .execute(&mut **tx)
                    .await?;
                }
                TimerOp::Cancel { kind, subject } => {
                    sqlx::query(
                        "UPDATE timers SET state = 'cancelled', claimed_by = NULL, \
                         claim_until = NULL WHERE kind = $1 AND subject = $2 AND state = 'pending'",
                    )
                    .bind(kind.clone())
                    .bind(subject.clone())
                    .execute(&mut **tx)
                    .await?;
                }
            }
        }
        Ok(())
    }
}
}

sql_store_impl! {
impl TimerStore {
    async fn apply_timers(&self, ops: Vec<TimerOp>) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        Self::apply_timers_in_tx(&mut tx, &ops).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn pending_timer(&self, kind: &str, subject: &str) -> Result<Option<Timer>, StoreError> {
        let row = sqlx::query(sql(format!(
            "SELECT {TIMER_COLUMNS} FROM timers WHERE kind = $1 AND subject = $2 AND state = 'pending'"
        )))
        .bind(kind.to_owned())
        .bind(subject.to_owned())
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(Self::timer_from_row).transpose()
    }

    async fn pending_timers(&self, kind: &str) -> Result<Vec<Timer>, StoreError> {
        let rows = sqlx::query(sql(format!(
            "SELECT {TIMER_COLUMNS} FROM timers WHERE kind = $1 AND state = 'pending' ORDER BY due_at, id"
        )))
        .bind(kind.to_owned())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(Self::timer_from_row).collect()
    }

    async fn claim_due_timers(
        &self,
        now: Timestamp,
        claim_until: Timestamp,
        holder: &str,
        limit: u32,
    ) -> Result<Vec<Timer>, StoreError> {
        // Every condition is repeated outside the subquery: PostgreSQL re-checks only those
        // on a row another engine changed meanwhile, and a timer just fired and re-armed for
        // later must not be claimed again now.
        let rows = sqlx::query(sql(format!(
            "UPDATE timers SET claimed_by = $1, claim_until = $2 WHERE id IN ( \
             SELECT id FROM timers WHERE state = 'pending' AND due_at <= $3 \
             AND (claimed_by IS NULL OR claim_until <= $3) ORDER BY due_at, id LIMIT $4) \
             AND state = 'pending' AND due_at <= $3 \
             AND (claimed_by IS NULL OR claim_until <= $3) \
             RETURNING {TIMER_COLUMNS}"
        )))
        .bind(holder.to_owned())
        .bind(claim_until.as_millis())
        .bind(now.as_millis())
        .bind(i64::from(limit))
        .fetch_all(&self.writer)
        .await?;
        let mut timers: Vec<Timer> = rows.iter().map(Self::timer_from_row).collect::<Result<_, _>>()?;
        timers.sort_by_key(|timer| (timer.due_at, timer.id));
        Ok(timers)
    }

    async fn finish_timer(
        &self,
        id: i64,
        holder: &str,
        now: Timestamp,
        next: Option<Timestamp>,
    ) -> Result<bool, StoreError> {
        let query = match next {
            None => "UPDATE timers SET state = 'fired', fired_at = $3, fires = fires + 1, \
                     claimed_by = NULL, claim_until = NULL \
                     WHERE id = $1 AND claimed_by = $2 AND state = 'pending' RETURNING id",
            Some(_) => "UPDATE timers SET due_at = $4, fired_at = $3, fires = fires + 1, \
                        claimed_by = NULL, claim_until = NULL \
                        WHERE id = $1 AND claimed_by = $2 AND state = 'pending' RETURNING id",
        };
        let done = sqlx::query(query)
            .bind(id)
            .bind(holder.to_owned())
            .bind(now.as_millis())
            .bind(next.map_or(0, Timestamp::as_millis))
            .fetch_optional(&self.writer)
            .await?;
        Ok(done.is_some())
    }

    async fn retry_timer(&self, id: i64, holder: &str, at: Timestamp) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE timers SET due_at = $3, claimed_by = NULL, claim_until = NULL \
             WHERE id = $1 AND claimed_by = $2 AND state = 'pending'",
        )
        .bind(id)
        .bind(holder.to_owned())
        .bind(at.as_millis())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn next_timer_due(&self) -> Result<Option<Timestamp>, StoreError> {
        // A timer another process holds becomes claimable when its claim runs out, not before:
        // waking for it at its due time would only find it held. This runs after every
        // commit, so it is two index lookups (timers_due, timers_held), not a scan of every
        // pending timer: the earliest timer not held past its due time, and the earliest
        // claim running out on one that is.
        let row = sqlx::query(
            "SELECT (SELECT due_at FROM timers WHERE state = 'pending' \
                 AND NOT (claimed_by IS NOT NULL AND COALESCE(claim_until > due_at, FALSE)) \
                 ORDER BY due_at LIMIT 1) AS due, \
             (SELECT MIN(claim_until) FROM timers WHERE state = 'pending' \
                 AND claimed_by IS NOT NULL AND claim_until > due_at) AS held",
        )
        .fetch_one(&self.reader)
        .await?;
        let due: Option<i64> = row.try_get("due")?;
        let held: Option<i64> = row.try_get("held")?;
        Ok(due.into_iter().chain(held).min().map(Timestamp::from_millis))
    }

    async fn queue_dm(
        &self,
        key: &str,
        user_id: u64,
        content: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let queued = sqlx::query(
            "INSERT INTO discord_outbox (message_key, user_id, content, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (message_key) DO NOTHING RETURNING id",
        )
        .bind(key.to_owned())
        .bind(super::sql::db_id(user_id)?)
        .bind(content.to_owned())
        .bind(now.as_millis())
        .fetch_optional(&self.writer)
        .await?;
        Ok(queued.is_some())
    }

    async fn unsent_dms(&self, limit: u32) -> Result<Vec<OutboxDm>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, message_key, user_id, content, attempts FROM discord_outbox \
             WHERE sent_at IS NULL ORDER BY id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OutboxDm {
                    id: row.try_get("id")?,
                    key: row.try_get("message_key")?,
                    user_id: u64::try_from(row.try_get::<i64, _>("user_id")?).map_err(corrupt)?,
                    content: row.try_get("content")?,
                    attempts: row.try_get("attempts")?,
                })
            })
            .collect()
    }

    async fn record_dm(
        &self,
        id: i64,
        sent_at: Option<Timestamp>,
        outcome: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE discord_outbox SET sent_at = $2, outcome = $3, attempts = attempts + 1 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(sent_at.map(Timestamp::as_millis))
        .bind(outcome.to_owned())
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}
}
