//! Storage of what several warroom processes share as duties (SPEC §8, "the database is the
//! bus"): leases on singleton duties (the Discord gateway), claims of Discord events and
//! effects (an interaction, an incident's room), how far each incident's timeline has been
//! shown in Discord, and the feed that wakes a process when another one committed.
//!
//! Every decision is one conditional statement, so two processes asking at once get one yes.

use async_trait::async_trait;
use sqlx::Row;
use tokio::sync::watch;

use super::StoreError;
use super::sql::sql_store_impl;
use crate::domain::{IncidentId, RunId, Timestamp};

/// Who holds a lease, and until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseHolder {
    pub holder: String,
    pub until: Timestamp,
}

/// An incident whose timeline has events Discord has not been shown yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unshown {
    pub incident: IncidentId,
    /// The last event shown (0: none).
    pub shown_seq: i64,
    /// The incident's last event.
    pub last_seq: i64,
}

#[async_trait]
pub trait DutyStore: Send + Sync {
    /// Takes or renews the lease `name` for `holder` until `until`, when it is free, has
    /// lapsed (its `until` is at or before `now`) or is already `holder`'s. True when `holder`
    /// holds it after the call.
    async fn hold_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Gives the lease up at once, if `holder` holds it, so another process need not wait for
    /// it to lapse.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;

    /// Who holds `name` (lapsed or not), if anyone ever did.
    async fn lease(&self, name: &str) -> Result<Option<LeaseHolder>, StoreError>;

    /// Claims `key` for `holder`; true when this call made the claim, false when it was
    /// already claimed (by anyone).
    async fn claim(&self, key: &str, holder: &str, at: Timestamp) -> Result<bool, StoreError>;

    /// Forgets claims made before `before` (Discord redelivers nothing that old); how many.
    async fn forget_claims(&self, before: Timestamp) -> Result<u64, StoreError>;

    /// Up to `limit` incidents with events not yet shown in Discord, oldest incident first.
    async fn unshown(&self, limit: u32) -> Result<Vec<Unshown>, StoreError>;

    /// Records that Discord has been shown incident `id`'s events up to `seq` (never moves
    /// back).
    async fn mark_shown(&self, id: IncidentId, seq: i64) -> Result<(), StoreError>;

    /// Up to `limit` runs whose Discord card shows less than their audit trail holds: the run
    /// and its last audit entry's id.
    async fn run_cards_behind(&self, limit: u32) -> Result<Vec<(RunId, i64)>, StoreError>;

    /// Records that run `id`'s card shows its audit up to entry `audit` (never moves back);
    /// `finished` ends the watch (the card shows the run's end, nothing more will change).
    async fn mark_run_card_shown(
        &self,
        id: RunId,
        audit: i64,
        finished: bool,
    ) -> Result<(), StoreError>;

    /// A counter that moves when timeline events may have been committed by any process:
    /// PostgreSQL `LISTEN/NOTIFY`, SQLite `PRAGMA data_version`. A wake-up, never the only way
    /// work is found: readers still look at the database.
    fn change_feed(&self) -> watch::Receiver<u64>;
}

sql_store_impl! {
impl DutyStore {
    async fn hold_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
             WHERE leases.until <= $4 OR leases.holder = excluded.holder \
             RETURNING holder",
        )
        .bind(name.to_owned())
        .bind(holder.to_owned())
        .bind(until.as_millis())
        .bind(now.as_millis())
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.is_some())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE leases SET until = 0 WHERE name = $1 AND holder = $2")
            .bind(name.to_owned())
            .bind(holder.to_owned())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn lease(&self, name: &str) -> Result<Option<LeaseHolder>, StoreError> {
        let row = sqlx::query("SELECT holder, until FROM leases WHERE name = $1")
            .bind(name.to_owned())
            .fetch_optional(&self.reader)
            .await?;
        row.map(|row| {
            Ok(LeaseHolder {
                holder: row.try_get("holder")?,
                until: Timestamp::from_millis(row.try_get("until")?),
            })
        })
        .transpose()
    }

    async fn claim(&self, key: &str, holder: &str, at: Timestamp) -> Result<bool, StoreError> {
        let made = sqlx::query(
            "INSERT INTO discord_claims (claim_key, holder, claimed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (claim_key) DO NOTHING RETURNING claim_key",
        )
        .bind(key.to_owned())
        .bind(holder.to_owned())
        .bind(at.as_millis())
        .fetch_optional(&self.writer)
        .await?;
        Ok(made.is_some())
    }

    async fn forget_claims(&self, before: Timestamp) -> Result<u64, StoreError> {
        let gone = sqlx::query("DELETE FROM discord_claims WHERE claimed_at < $1 RETURNING claim_key")
            .bind(before.as_millis())
            .fetch_all(&self.writer)
            .await?;
        Ok(gone.len() as u64)
    }

    async fn unshown(&self, limit: u32) -> Result<Vec<Unshown>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, shown_seq, last_seq FROM incidents WHERE shown_seq < last_seq \
             ORDER BY id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Unshown {
                    incident: IncidentId(row.try_get("id")?),
                    shown_seq: row.try_get("shown_seq")?,
                    last_seq: row.try_get("last_seq")?,
                })
            })
            .collect()
    }

    async fn mark_shown(&self, id: IncidentId, seq: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE incidents SET shown_seq = $2 WHERE id = $1 AND shown_seq < $2")
            .bind(id.0)
            .bind(seq)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn run_cards_behind(&self, limit: u32) -> Result<Vec<(RunId, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.id, (SELECT MAX(a.id) FROM run_audit a WHERE a.run_id = r.id) AS last \
             FROM runs r WHERE r.card_shown IS NOT NULL \
             AND r.card_shown < (SELECT MAX(a.id) FROM run_audit a WHERE a.run_id = r.id) \
             ORDER BY r.id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| Ok((RunId(row.try_get("id")?), row.try_get("last")?)))
            .collect()
    }

    async fn mark_run_card_shown(
        &self,
        id: RunId,
        audit: i64,
        finished: bool,
    ) -> Result<(), StoreError> {
        let query = if finished {
            "UPDATE runs SET card_shown = NULL WHERE id = $1 AND $2 >= 0"
        } else {
            "UPDATE runs SET card_shown = $2 WHERE id = $1 AND (card_shown IS NULL OR card_shown < $2)"
        };
        sqlx::query(query)
            .bind(id.0)
            .bind(audit)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    fn change_feed(&self) -> watch::Receiver<u64> {
        self.feed
            .get_or_init(|| DB::start_change_feed(self))
            .subscribe()
    }
}
}

/// The sending side of a change feed, owned by its store. The task that watches the database
/// holds it weakly and stops once the store is gone.
pub(super) type Feed = std::sync::Arc<watch::Sender<u64>>;

/// Starts the feed task of a store the first time someone asks for it.
pub(super) fn spawn_feed<F>(watch: F) -> Feed
where
    F: FnOnce(FeedHandle) -> futures::future::BoxFuture<'static, ()>,
{
    let feed = std::sync::Arc::new(watch::channel(0).0);
    tokio::spawn(watch(FeedHandle(std::sync::Arc::downgrade(&feed))));
    feed
}

/// What the watching task holds: the feed, as long as its store lives.
pub(super) struct FeedHandle(std::sync::Weak<watch::Sender<u64>>);

impl FeedHandle {
    /// Advances the feed's counter and wakes everyone watching it; false once the store is
    /// gone (the task should end).
    pub(super) fn bump(&self) -> bool {
        match self.0.upgrade() {
            Some(feed) => {
                feed.send_modify(|count| *count = count.wrapping_add(1));
                true
            }
            None => false,
        }
    }

    pub(super) fn is_gone(&self) -> bool {
        self.0.strong_count() == 0
    }
}
