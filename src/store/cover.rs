//! What heartbeats, maintenance windows and on-call overrides made from chat ask of the
//! database: a heartbeat's last check-in and the incident its silence opened; windows and the
//! alerts they held back; overrides beside the file's. Each write that moves a durable timer
//! (a heartbeat's deadline, a schedule's next handoff) moves it in its own transaction.

use async_trait::async_trait;
use sqlx::{Row, Transaction};

use super::StoreError;
use super::sql::{corrupt, db_id, sql, sql_store_impl};
use crate::domain::{
    Actor, AlertReport, HeartbeatState, IncidentId, MaintenanceWindow, NewMaintenance, NewOverride,
    StoredOverride, TimerOp, Timestamp,
};

#[async_trait]
pub trait CoverStore: Send + Sync {
    /// What is known of heartbeat `name` (default when it never beat).
    async fn heartbeat_state(&self, name: &str) -> Result<HeartbeatState, StoreError>;

    /// Records a beat at `now` and sets `deadline` in the same transaction; returns the state
    /// before it (its `incident_id` is the incident the silence opened, now cleared).
    async fn record_beat(
        &self,
        name: &str,
        now: Timestamp,
        deadline: TimerOp,
    ) -> Result<HeartbeatState, StoreError>;

    /// Records that the deadline `due` was missed and opened `incident`: false when the
    /// heartbeat already has an incident for a missed deadline.
    async fn record_missed(
        &self,
        name: &str,
        due: Timestamp,
        incident: IncidentId,
    ) -> Result<bool, StoreError>;

    /// Arms the timer unless it is pending already (as every process starting up asks for
    /// the same first deadlines, the first one's stands): true when this armed it.
    async fn arm_timer_unless_pending(&self, op: TimerOp) -> Result<bool, StoreError>;

    async fn create_maintenance(
        &self,
        window: NewMaintenance,
    ) -> Result<MaintenanceWindow, StoreError>;

    /// Ends window `id` at `now` if it has not ended: the window as it is now, `None` when no
    /// such window is still running or planned.
    async fn end_maintenance(
        &self,
        id: i64,
        now: Timestamp,
    ) -> Result<Option<MaintenanceWindow>, StoreError>;

    /// Windows not over at `now` (running or planned), earliest first.
    async fn maintenance_windows(
        &self,
        now: Timestamp,
    ) -> Result<Vec<MaintenanceWindow>, StoreError>;

    /// Keeps `alerts` of a group held back by window `window_id`: how many were new (a
    /// sender's repeats count once).
    async fn hold_alerts(
        &self,
        window_id: i64,
        source: &str,
        group_key: &str,
        alerts: &[AlertReport],
        now: Timestamp,
    ) -> Result<u32, StoreError>;

    /// Windows not over and not yet shown in Discord (announced, and made a scheduled event
    /// when planned ahead), oldest first.
    async fn unannounced_maintenance(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<MaintenanceWindow>, StoreError>;

    /// Records a window shown in Discord, with its scheduled event if one was made.
    async fn record_maintenance_announced(
        &self,
        id: i64,
        event_id: Option<u64>,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// `(window id, scheduled event id)` of windows ended early whose Discord event is up.
    async fn ended_maintenance_events(&self, limit: u32) -> Result<Vec<(i64, u64)>, StoreError>;

    /// Records a window's scheduled event taken down.
    async fn record_maintenance_event_closed(
        &self,
        id: i64,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Stores overrides and moves timers, in one transaction.
    async fn add_overrides(
        &self,
        overrides: Vec<NewOverride>,
        timers: Vec<TimerOp>,
    ) -> Result<Vec<StoredOverride>, StoreError>;

    /// Overrides of every schedule that end after `after`, in the order they were made.
    async fn overrides(&self, after: Timestamp) -> Result<Vec<StoredOverride>, StoreError>;
}

const WINDOW_COLUMNS: &str = "w.id, w.service, w.route, w.reason, w.starts_at, w.ends_at, \
     w.ended_at, w.created_by, w.created_by_name, \
     (SELECT COUNT(*) FROM maintenance_alerts a WHERE a.window_id = w.id) AS alerts";

const OVERRIDE_COLUMNS: &str =
    "id, schedule, user_id, starts_at, ends_at, created_by, created_by_name, created_at";

sql_store_impl! {
impl {
    fn window_from_row(row: &DB::Row) -> Result<MaintenanceWindow, StoreError> {
        Ok(MaintenanceWindow {
            id: row.try_get("id")?,
            service: row.try_get("service")?,
            route: row.try_get("route")?,
            reason: row.try_get("reason")?,
            starts_at: Timestamp::from_millis(row.try_get("starts_at")?),
            ends_at: Timestamp::from_millis(row.try_get("ends_at")?),
            ended_at: row.try_get::<Option<i64>, _>("ended_at")?.map(Timestamp::from_millis),
            created_by: Actor {
                id: row.try_get("created_by")?,
                name: row.try_get("created_by_name")?,
            },
            alerts: row.try_get("alerts")?,
        })
    }

    fn override_from_row(row: &DB::Row) -> Result<StoredOverride, StoreError> {
        Ok(StoredOverride {
            id: row.try_get("id")?,
            schedule: row.try_get("schedule")?,
            user_id: u64::try_from(row.try_get::<i64, _>("user_id")?).map_err(corrupt)?,
            starts_at: Timestamp::from_millis(row.try_get("starts_at")?),
            ends_at: Timestamp::from_millis(row.try_get("ends_at")?),
            created_by: Actor {
                id: row.try_get("created_by")?,
                name: row.try_get("created_by_name")?,
            },
            created_at: Timestamp::from_millis(row.try_get("created_at")?),
        })
    }

    async fn window_in(
        tx: &mut Transaction<'static, DB>,
        id: i64,
    ) -> Result<MaintenanceWindow, StoreError> {
        let row = sqlx::query(sql(format!(
            "SELECT {WINDOW_COLUMNS} FROM maintenance_windows w WHERE w.id = $1"
        )))
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
        Self::window_from_row(&row)
    }
}
}

sql_store_impl! {
impl CoverStore {
    async fn heartbeat_state(&self, name: &str) -> Result<HeartbeatState, StoreError> {
        let row = sqlx::query(
            "SELECT last_beat_at, beats, missed_due, incident_id FROM heartbeats WHERE name = $1",
        )
        .bind(name.to_owned())
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else {
            return Ok(HeartbeatState::default());
        };
        Ok(HeartbeatState {
            last_beat_at: row.try_get::<Option<i64>, _>("last_beat_at")?.map(Timestamp::from_millis),
            beats: row.try_get("beats")?,
            missed_due: row.try_get::<Option<i64>, _>("missed_due")?.map(Timestamp::from_millis),
            incident_id: row.try_get::<Option<i64>, _>("incident_id")?.map(IncidentId),
        })
    }

    async fn record_beat(
        &self,
        name: &str,
        now: Timestamp,
        deadline: TimerOp,
    ) -> Result<HeartbeatState, StoreError> {
        let mut tx = self.begin_write().await?;
        let before = sqlx::query(
            "SELECT last_beat_at, beats, missed_due, incident_id FROM heartbeats WHERE name = $1",
        )
        .bind(name.to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        let before = match before {
            Some(row) => HeartbeatState {
                last_beat_at: row.try_get::<Option<i64>, _>("last_beat_at")?.map(Timestamp::from_millis),
                beats: row.try_get("beats")?,
                missed_due: row.try_get::<Option<i64>, _>("missed_due")?.map(Timestamp::from_millis),
                incident_id: row.try_get::<Option<i64>, _>("incident_id")?.map(IncidentId),
            },
            None => HeartbeatState::default(),
        };
        sqlx::query(
            "INSERT INTO heartbeats (name, last_beat_at, beats) VALUES ($1, $2, 1) \
             ON CONFLICT (name) DO UPDATE SET last_beat_at = excluded.last_beat_at, \
             beats = heartbeats.beats + 1, missed_due = NULL, incident_id = NULL",
        )
        .bind(name.to_owned())
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        Self::apply_timers_in_tx(&mut tx, std::slice::from_ref(&deadline)).await?;
        tx.commit().await?;
        Ok(before)
    }

    async fn record_missed(
        &self,
        name: &str,
        due: Timestamp,
        incident: IncidentId,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO heartbeats (name, beats, missed_due, incident_id) VALUES ($1, 0, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET missed_due = excluded.missed_due, \
             incident_id = excluded.incident_id WHERE heartbeats.incident_id IS NULL \
             RETURNING name",
        )
        .bind(name.to_owned())
        .bind(due.as_millis())
        .bind(incident.0)
        .fetch_optional(&self.writer)
        .await?;
        Ok(done.is_some())
    }

    async fn arm_timer_unless_pending(&self, op: TimerOp) -> Result<bool, StoreError> {
        let TimerOp::Set { kind, subject, due_at, data } = op else {
            return Err(corrupt("only a set can be armed unless pending"));
        };
        let armed = sqlx::query(
            "INSERT INTO timers (kind, subject, due_at, state, data) \
             VALUES ($1, $2, $3, 'pending', $4) \
             ON CONFLICT (kind, subject) DO UPDATE SET due_at = excluded.due_at, \
             state = 'pending', data = excluded.data, claimed_by = NULL, claim_until = NULL \
             WHERE timers.state <> 'pending' RETURNING id",
        )
        .bind(kind)
        .bind(subject)
        .bind(due_at.as_millis())
        .bind(data.to_string())
        .fetch_optional(&self.writer)
        .await?;
        Ok(armed.is_some())
    }

    async fn create_maintenance(
        &self,
        window: NewMaintenance,
    ) -> Result<MaintenanceWindow, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO maintenance_windows (service, route, reason, starts_at, ends_at, \
             created_by, created_by_name, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             RETURNING id",
        )
        .bind(window.service)
        .bind(window.route)
        .bind(window.reason)
        .bind(window.starts_at.as_millis())
        .bind(window.ends_at.as_millis())
        .bind(window.created_by.id)
        .bind(window.created_by.name)
        .bind(window.created_at.as_millis())
        .fetch_one(&mut *tx)
        .await?;
        let created = Self::window_in(&mut tx, row.try_get("id")?).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn end_maintenance(
        &self,
        id: i64,
        now: Timestamp,
    ) -> Result<Option<MaintenanceWindow>, StoreError> {
        let mut tx = self.begin_write().await?;
        let ended = sqlx::query(
            "UPDATE maintenance_windows SET ended_at = $2 \
             WHERE id = $1 AND ended_at IS NULL AND ends_at > $2 RETURNING id",
        )
        .bind(id)
        .bind(now.as_millis())
        .fetch_optional(&mut *tx)
        .await?;
        let window = match ended {
            Some(_) => Some(Self::window_in(&mut tx, id).await?),
            None => None,
        };
        tx.commit().await?;
        Ok(window)
    }

    async fn maintenance_windows(
        &self,
        now: Timestamp,
    ) -> Result<Vec<MaintenanceWindow>, StoreError> {
        let rows = sqlx::query(sql(format!(
            "SELECT {WINDOW_COLUMNS} FROM maintenance_windows w \
             WHERE w.ended_at IS NULL AND w.ends_at > $1 ORDER BY w.starts_at, w.id"
        )))
        .bind(now.as_millis())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(Self::window_from_row).collect()
    }

    async fn hold_alerts(
        &self,
        window_id: i64,
        source: &str,
        group_key: &str,
        alerts: &[AlertReport],
        now: Timestamp,
    ) -> Result<u32, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut new = 0;
        for alert in alerts {
            let held = sqlx::query(
                "INSERT INTO maintenance_alerts (window_id, source, group_key, fingerprint, \
                 state, starts_at, summary, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(window_id)
            .bind(source.to_owned())
            .bind(group_key.to_owned())
            .bind(alert.fingerprint.clone())
            .bind(alert.state.as_str().to_owned())
            .bind(alert.starts_at.map_or_else(String::new, |at| at.as_millis().to_string()))
            .bind(alert.summary.clone())
            .bind(now.as_millis())
            .fetch_optional(&mut *tx)
            .await?;
            new += u32::from(held.is_some());
        }
        tx.commit().await?;
        Ok(new)
    }

    async fn unannounced_maintenance(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<MaintenanceWindow>, StoreError> {
        let rows = sqlx::query(sql(format!(
            "SELECT {WINDOW_COLUMNS} FROM maintenance_windows w WHERE w.announced_at IS NULL \
             AND w.ended_at IS NULL AND w.ends_at > $1 ORDER BY w.id LIMIT $2"
        )))
        .bind(now.as_millis())
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(Self::window_from_row).collect()
    }

    async fn record_maintenance_announced(
        &self,
        id: i64,
        event_id: Option<u64>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE maintenance_windows SET announced_at = $2, discord_event_id = $3 \
             WHERE id = $1 AND announced_at IS NULL",
        )
        .bind(id)
        .bind(now.as_millis())
        .bind(event_id.map(db_id).transpose()?)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn ended_maintenance_events(&self, limit: u32) -> Result<Vec<(i64, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, discord_event_id FROM maintenance_windows WHERE ended_at IS NOT NULL \
             AND discord_event_id IS NOT NULL AND event_closed_at IS NULL ORDER BY id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let event: i64 = row.try_get("discord_event_id")?;
                Ok((row.try_get("id")?, u64::try_from(event).map_err(corrupt)?))
            })
            .collect()
    }

    async fn record_maintenance_event_closed(
        &self,
        id: i64,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE maintenance_windows SET event_closed_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now.as_millis())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn add_overrides(
        &self,
        overrides: Vec<NewOverride>,
        timers: Vec<TimerOp>,
    ) -> Result<Vec<StoredOverride>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut stored = Vec::new();
        for new in overrides {
            let row = sqlx::query(sql(format!(
                "INSERT INTO oncall_overrides (schedule, user_id, starts_at, ends_at, created_by, \
                 created_by_name, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 RETURNING {OVERRIDE_COLUMNS}"
            )))
            .bind(new.schedule)
            .bind(db_id(new.user_id)?)
            .bind(new.starts_at.as_millis())
            .bind(new.ends_at.as_millis())
            .bind(new.created_by.id)
            .bind(new.created_by.name)
            .bind(new.created_at.as_millis())
            .fetch_one(&mut *tx)
            .await?;
            stored.push(Self::override_from_row(&row)?);
        }
        Self::apply_timers_in_tx(&mut tx, &timers).await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn overrides(&self, after: Timestamp) -> Result<Vec<StoredOverride>, StoreError> {
        let rows = sqlx::query(sql(format!(
            "SELECT {OVERRIDE_COLUMNS} FROM oncall_overrides WHERE ends_at > $1 ORDER BY id"
        )))
        .bind(after.as_millis())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(Self::override_from_row).collect()
    }
}
}
