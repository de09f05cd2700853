//! Storage of what scheduled checks and drills decided: each check's last outcome, failures in
//! a row and the incident they opened (`check_state`), and the Discord Scheduled Events owed
//! for drills coming up (`drill_announcements`, created once by the gateway holder).

use async_trait::async_trait;
use sqlx::Row;

use super::StoreError;
use super::sql::{corrupt, sql, sql_store_impl};
use crate::domain::{IncidentId, Timestamp};

/// A check's record, as its finished runs left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckState {
    pub name: String,
    pub last_run_id: i64,
    /// The run's final state (`succeeded`, `failed`, `timed_out`, `denied`, ...).
    pub last_state: String,
    pub last_finished_at: Timestamp,
    pub last_success_at: Option<Timestamp>,
    pub consecutive_failures: i64,
    /// The incident its failures opened, until a success recovers it.
    pub incident: Option<IncidentId>,
}

/// A Discord Scheduled Event owed for a drill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrillAnnouncement {
    pub id: i64,
    pub drill: String,
    pub starts_at: Timestamp,
    pub title: String,
    pub description: String,
    pub discord_event_id: Option<u64>,
    pub attempts: i64,
}

#[async_trait]
pub trait CheckStore: Send + Sync {
    /// Counts run `run_id` of check `name`, finished at `at`: a success resets the failures in
    /// a row, anything else adds one. `None` when this run (or a later one) was counted
    /// already, so each outcome is acted on once.
    async fn record_check_run(
        &self,
        name: &str,
        run_id: i64,
        state: &str,
        succeeded: bool,
        at: Timestamp,
    ) -> Result<Option<CheckState>, StoreError>;

    /// Links (or unlinks) the incident a check's failures opened.
    async fn set_check_incident(
        &self,
        name: &str,
        incident: Option<IncidentId>,
    ) -> Result<(), StoreError>;

    /// Every check's record, by name.
    async fn check_states(&self) -> Result<Vec<CheckState>, StoreError>;

    /// Owes a Scheduled Event for `drill` starting at `starts_at`; false when one is owed (or
    /// made) for that slot already.
    async fn queue_drill_announcement(
        &self,
        drill: &str,
        starts_at: Timestamp,
        title: &str,
        description: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Up to `limit` announcements not made yet, oldest first.
    async fn pending_drill_announcements(
        &self,
        limit: u32,
    ) -> Result<Vec<DrillAnnouncement>, StoreError>;

    /// Records an attempt: made (with Discord's event id) or given up (`done_at` set), or to
    /// be tried again (`done_at` none).
    async fn record_drill_announcement(
        &self,
        id: i64,
        discord_event_id: Option<u64>,
        done_at: Option<Timestamp>,
        outcome: &str,
    ) -> Result<(), StoreError>;

    /// Every announcement of `drill`, made or not, by start.
    async fn drill_announcements(&self, drill: &str) -> Result<Vec<DrillAnnouncement>, StoreError>;
}

const STATE_COLUMNS: &str = "name, last_run_id, last_state, last_finished_at, last_success_at, \
                             consecutive_failures, incident_id";
const ANNOUNCEMENT_COLUMNS: &str =
    "id, drill, starts_at, title, description, discord_event_id, attempts";

sql_store_impl! {
impl {
    fn check_state_from_row(row: &DB::Row) -> Result<CheckState, StoreError> {
        Ok(CheckState {
            name: row.try_get("name")?,
            last_run_id: row.try_get("last_run_id")?,
            last_state: row.try_get("last_state")?,
            last_finished_at: Timestamp::from_millis(row.try_get("last_finished_at")?),
            last_success_at: row
                .try_get::<Option<i64>, _>("last_success_at")?
                .map(Timestamp::from_millis),
            consecutive_failures: row.try_get("consecutive_failures")?,
            incident: row.try_get::<Option<i64>, _>("incident_id")?.map(IncidentId),
        })
    }

    fn announcement_from_row(row: &DB::Row) -> Result<DrillAnnouncement, StoreError> {
        Ok(DrillAnnouncement {
            id: row.try_get("id")?,
            drill: row.try_get("drill")?,
            starts_at: Timestamp::from_millis(row.try_get("starts_at")?),
            title: row.try_get("title")?,
            description: row.try_get("description")?,
            discord_event_id: row
                .try_get::<Option<i64>, _>("discord_event_id")?
                .map(|id| u64::try_from(id).map_err(corrupt))
                .transpose()?,
            attempts: row.try_get("attempts")?,
        })
    }
}
}

sql_store_impl! {
impl CheckStore {
    async fn record_check_run(
        &self,
        name: &str,
        run_id: i64,
        state: &str,
        succeeded: bool,
        at: Timestamp,
    ) -> Result<Option<CheckState>, StoreError> {
        let success_at = succeeded.then_some(at.as_millis());
        let row = sqlx::query(sql(format!(
            "INSERT INTO check_state (name, last_run_id, last_state, last_finished_at, \
             last_success_at, consecutive_failures) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (name) DO UPDATE SET last_run_id = excluded.last_run_id, \
             last_state = excluded.last_state, last_finished_at = excluded.last_finished_at, \
             last_success_at = COALESCE(excluded.last_success_at, check_state.last_success_at), \
             consecutive_failures = CASE WHEN excluded.consecutive_failures = 0 THEN 0 \
             ELSE check_state.consecutive_failures + 1 END \
             WHERE check_state.last_run_id < excluded.last_run_id \
             RETURNING {STATE_COLUMNS}"
        )))
        .bind(name.to_owned())
        .bind(run_id)
        .bind(state.to_owned())
        .bind(at.as_millis())
        .bind(success_at)
        .bind(if succeeded { 0_i64 } else { 1 })
        .fetch_optional(&self.writer)
        .await?;
        row.as_ref().map(Self::check_state_from_row).transpose()
    }

    async fn set_check_incident(
        &self,
        name: &str,
        incident: Option<IncidentId>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE check_state SET incident_id = $2 WHERE name = $1")
            .bind(name.to_owned())
            .bind(incident.map(|id| id.0))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn check_states(&self) -> Result<Vec<CheckState>, StoreError> {
        let rows = sqlx::query(sql(format!(
            "SELECT {STATE_COLUMNS} FROM check_state ORDER BY name"
        )))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(Self::check_state_from_row).collect()
    }

    async fn queue_drill_announcement(
        &self,
        drill: &str,
        starts_at: Timestamp,
        title: &str,
        description: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let queued = sqlx::query(
            "INSERT INTO drill_announcements (drill, starts_at, title, description, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (drill, starts_at) DO NOTHING RETURNING id",
        )
        .bind(drill.to_owned())
        .bind(starts_at.as_millis())
        .bind(title.to_owned())
        .bind(description.to_owned())
        .bind(now.as_millis())
        .fetch_optional(&self.writer)
        .await?;
        Ok(queued.is_some())
    }

    async fn pending_drill_announcements(
        &self,
        limit: u32,
    ) -> Result<Vec<DrillAnnouncement>, StoreError> {
        let rows = sqlx::query(sql(format!(
            "SELECT {ANNOUNCEMENT_COLUMNS} FROM drill_announcements WHERE done_at IS NULL \
             ORDER BY id LIMIT $1"
        )))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(Self::announcement_from_row).collect()
    }

    async fn record_drill_announcement(
        &self,
        id: i64,
        discord_event_id: Option<u64>,
        done_at: Option<Timestamp>,
        outcome: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE drill_announcements SET discord_event_id = COALESCE($2, discord_event_id), \
             done_at = $3, outcome = $4, attempts = attempts + 1 WHERE id = $1",
        )
        .bind(id)
        .bind(discord_event_id.map(super::sql::db_id).transpose()?)
        .bind(done_at.map(Timestamp::as_millis))
        .bind(outcome.to_owned())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn drill_announcements(
        &self,
        drill: &str,
    ) -> Result<Vec<DrillAnnouncement>, StoreError> {
        let rows = sqlx::query(sql(format!(
            "SELECT {ANNOUNCEMENT_COLUMNS} FROM drill_announcements WHERE drill = $1 \
             ORDER BY starts_at"
        )))
        .bind(drill.to_owned())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(Self::announcement_from_row).collect()
    }
}
}
