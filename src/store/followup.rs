//! Storage of reviews and action items (SPEC §1 "Review and action item").
//!
//! Both tables are read models of the timeline: `follow_in_tx` derives them from the events
//! being appended, inside the transaction that appends them, so a review or an action item
//! exists exactly when its event does — whichever path wrote it (Discord, CLI, REST, replay).

use async_trait::async_trait;
use serde_json::Value;
use sqlx::{Row, Transaction};

use super::StoreError;
use super::sql::sql_store_impl;
use crate::domain::{ActionItem, Actor, Event, EventKind, Incident, IncidentId, Review, Timestamp};

#[async_trait]
pub trait FollowupStore: Send + Sync {
    /// The incident's review, once it was resolved.
    async fn review(&self, id: IncidentId) -> Result<Option<Review>, StoreError>;

    /// The incident's action items, by number.
    async fn action_items(&self, id: IncidentId) -> Result<Vec<ActionItem>, StoreError>;

    /// Every action item not done yet, earliest due first (reports).
    async fn open_action_items(&self, limit: u32) -> Result<Vec<ActionItem>, StoreError>;

    /// Reviews of incidents resolved at or after `since` (reports).
    async fn reviews_since(&self, since: Timestamp) -> Result<Vec<Review>, StoreError>;

    /// Up to `limit` incidents that may be shown in public (neither private nor drills):
    /// unresolved ones and those resolved at or after `resolved_since`, newest first.
    async fn public_incidents(
        &self,
        resolved_since: Timestamp,
        limit: u32,
    ) -> Result<Vec<Incident>, StoreError>;

    /// Every incident opened at or after `since`, oldest first (reports).
    async fn incidents_opened_since(&self, since: Timestamp) -> Result<Vec<Incident>, StoreError>;

    /// Pages sent to Discord users at or after `since`: (incident, user id, when) (reports).
    async fn user_pages_since(
        &self,
        since: Timestamp,
    ) -> Result<Vec<(IncidentId, String, Timestamp)>, StoreError>;

    /// What a report needs of each incident of `scope` (drills too, to count them apart),
    /// oldest first: only the columns it reads.
    async fn report_incidents(
        &self,
        scope: &ReportScope,
    ) -> Result<Vec<ReportIncident>, StoreError>;

    /// Pages sent to Discord users at or after `scope.since` for the incidents of `scope`
    /// other than drills, counted in the database: (user id, hour of day UTC, count).
    async fn report_page_load(
        &self,
        scope: &ReportScope,
    ) -> Result<Vec<(String, u32, u64)>, StoreError>;

    /// The reviews created at or after `scope.since` of the incidents of `scope` other than
    /// drills, counted in the database.
    async fn report_review_counts(
        &self,
        scope: &ReportScope,
        now: Timestamp,
    ) -> Result<ReviewCounts, StoreError>;

    /// The newest `limit` events of `kind` of incident `id`, newest first.
    async fn events_of_kind(
        &self,
        id: IncidentId,
        kind: EventKind,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError>;
}

/// The incidents a report covers: opened at or after `since`, of `severity` and `service`
/// when given.
#[derive(Clone, Debug)]
pub struct ReportScope {
    pub since: Timestamp,
    pub severity: Option<String>,
    pub service: Option<String>,
}

/// What a report reads of an incident.
#[derive(Clone, Debug)]
pub struct ReportIncident {
    pub id: IncidentId,
    /// Shown beside the incident's open action items.
    pub title: String,
    pub severity: String,
    pub service: Option<String>,
    pub drill: bool,
    pub opened_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub mitigated_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
}

/// Reviews counted for a report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReviewCounts {
    pub total: u64,
    pub done: u64,
    /// Done by their due date.
    pub done_on_time: u64,
    /// Not done and past their due date.
    pub overdue: u64,
}

/// The incidents of a report's scope (alias `i`): `$1` since, `$2` severity, `$3` service.
const SCOPE: &str = "i.opened_at >= $1 AND ($2 IS NULL OR i.severity = $2) \
                     AND ($3 IS NULL OR i.service = $3)";

const REVIEW_COLUMNS: &str =
    "incident_id, owner, owner_name, due_at, created_at, meeting_at, done_at, done_by";
const ACTION_COLUMNS: &str = "incident_id, number, text, owner, owner_name, due_at, added_at, \
                              added_by, done_at, done_by";

fn actor_of(value: &Value) -> Option<Actor> {
    serde_json::from_value(value.clone()).ok()
}

fn millis(value: &Value) -> Option<i64> {
    value.as_i64()
}

sql_store_impl! {
impl {
    fn review_from_row(row: &DB::Row) -> Result<Review, StoreError> {
        Ok(Review {
            incident_id: IncidentId(row.try_get("incident_id")?),
            owner: Actor { id: row.try_get("owner")?, name: row.try_get("owner_name")? },
            due_at: Timestamp::from_millis(row.try_get("due_at")?),
            created_at: Timestamp::from_millis(row.try_get("created_at")?),
            meeting_at: row.try_get::<Option<i64>, _>("meeting_at")?.map(Timestamp::from_millis),
            done_at: row.try_get::<Option<i64>, _>("done_at")?.map(Timestamp::from_millis),
            done_by: row.try_get("done_by")?,
        })
    }

    fn action_from_row(row: &DB::Row) -> Result<ActionItem, StoreError> {
        Ok(ActionItem {
            incident_id: IncidentId(row.try_get("incident_id")?),
            number: row.try_get("number")?,
            text: row.try_get("text")?,
            owner: Actor { id: row.try_get("owner")?, name: row.try_get("owner_name")? },
            due_at: Timestamp::from_millis(row.try_get("due_at")?),
            added_at: Timestamp::from_millis(row.try_get("added_at")?),
            added_by: row.try_get("added_by")?,
            done_at: row.try_get::<Option<i64>, _>("done_at")?.map(Timestamp::from_millis),
            done_by: row.try_get("done_by")?,
        })
    }

    /// Keeps reviews and action items in step with `event`, appended in `tx`.
    pub(super) async fn follow_in_tx(
        tx: &mut Transaction<'static, DB>,
        event: &Event,
    ) -> Result<(), StoreError> {
        match event.kind {
            EventKind::StatusChanged | EventKind::ReviewScheduled | EventKind::ReviewDone => {
                Self::follow_review(tx, event).await
            }
            EventKind::ActionItemAdded | EventKind::ActionItemDone => {
                Self::follow_action(tx, event).await
            }
            _ => Ok(()),
        }
    }

    async fn follow_review(tx: &mut Transaction<'static, DB>, event: &Event) -> Result<(), StoreError> {
        let data = &event.data;
        match event.kind {
            EventKind::StatusChanged => {
                // Resolving creates the review (or, resolved again after a reopening, moves
                // the due date of one not done yet).
                let (Some(owner), Some(due)) =
                    (actor_of(&data["review"]["owner"]), millis(&data["review"]["due_at"]))
                else {
                    return Ok(());
                };
                sqlx::query(
                    "INSERT INTO reviews (incident_id, owner, owner_name, due_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (incident_id) DO UPDATE SET \
                     due_at = excluded.due_at WHERE reviews.done_at IS NULL",
                )
                .bind(event.incident_id.0)
                .bind(owner.id)
                .bind(owner.name)
                .bind(due)
                .bind(event.at.as_millis())
                .execute(&mut **tx)
                .await?;
            }
            EventKind::ReviewScheduled => {
                let owner = actor_of(&data["owner"]);
                sqlx::query(
                    "UPDATE reviews SET meeting_at = COALESCE($2, meeting_at), \
                     owner = COALESCE($3, owner), owner_name = COALESCE($4, owner_name) \
                     WHERE incident_id = $1",
                )
                .bind(event.incident_id.0)
                .bind(millis(&data["when"]))
                .bind(owner.as_ref().map(|owner| owner.id.clone()))
                .bind(owner.map(|owner| owner.name))
                .execute(&mut **tx)
                .await?;
            }
            _ => {
                sqlx::query("UPDATE reviews SET done_at = $2, done_by = $3 WHERE incident_id = $1 AND done_at IS NULL")
                    .bind(event.incident_id.0)
                    .bind(event.at.as_millis())
                    .bind(event.actor.id.clone())
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }

    async fn follow_action(tx: &mut Transaction<'static, DB>, event: &Event) -> Result<(), StoreError> {
        let data = &event.data;
        let Some(number) = millis(&data["number"]) else {
            return Ok(());
        };
        if event.kind == EventKind::ActionItemAdded {
            let (Some(owner), Some(due)) = (actor_of(&data["owner"]), millis(&data["due_at"])) else {
                return Ok(());
            };
            sqlx::query(
                "INSERT INTO action_items (incident_id, number, text, owner, owner_name, due_at, \
                 added_at, added_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(event.incident_id.0)
            .bind(number)
            .bind(data["text"].as_str().unwrap_or_default().to_owned())
            .bind(owner.id)
            .bind(owner.name)
            .bind(due)
            .bind(event.at.as_millis())
            .bind(event.actor.id.clone())
            .execute(&mut **tx)
            .await?;
        } else {
            sqlx::query(
                "UPDATE action_items SET done_at = $3, done_by = $4 \
                 WHERE incident_id = $1 AND number = $2 AND done_at IS NULL",
            )
            .bind(event.incident_id.0)
            .bind(number)
            .bind(event.at.as_millis())
            .bind(event.actor.id.clone())
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}
}

sql_store_impl! {
impl FollowupStore {
    async fn review(&self, id: IncidentId) -> Result<Option<Review>, StoreError> {
        let row = sqlx::query(super::sql::sql(format!(
            "SELECT {REVIEW_COLUMNS} FROM reviews WHERE incident_id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(Self::review_from_row).transpose()
    }

    async fn action_items(&self, id: IncidentId) -> Result<Vec<ActionItem>, StoreError> {
        let rows = sqlx::query(super::sql::sql(format!(
            "SELECT {ACTION_COLUMNS} FROM action_items WHERE incident_id = $1 ORDER BY number"
        )))
        .bind(id.0)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(Self::action_from_row).collect()
    }

    async fn open_action_items(&self, limit: u32) -> Result<Vec<ActionItem>, StoreError> {
        let rows = sqlx::query(super::sql::sql(format!(
            "SELECT {ACTION_COLUMNS} FROM action_items WHERE done_at IS NULL \
             ORDER BY due_at, incident_id, number LIMIT $1"
        )))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(Self::action_from_row).collect()
    }

    async fn reviews_since(&self, since: Timestamp) -> Result<Vec<Review>, StoreError> {
        let rows = sqlx::query(super::sql::sql(format!(
            "SELECT {REVIEW_COLUMNS} FROM reviews WHERE created_at >= $1 ORDER BY incident_id"
        )))
        .bind(since.as_millis())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(Self::review_from_row).collect()
    }

    async fn public_incidents(
        &self,
        resolved_since: Timestamp,
        limit: u32,
    ) -> Result<Vec<Incident>, StoreError> {
        let rows = sqlx::query(super::sql::sql(format!(
            "SELECT {} FROM incidents WHERE private = $1 AND drill = $1 \
             AND (status <> 'resolved' OR resolved_at >= $2) ORDER BY opened_at DESC, id DESC LIMIT $3",
            super::sql::INCIDENT_COLUMNS
        )))
        .bind(false)
        .bind(resolved_since.as_millis())
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(Self::incident_from_row).collect()
    }

    async fn events_of_kind(
        &self,
        id: IncidentId,
        kind: EventKind,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(super::sql::sql(format!(
            "SELECT {} FROM incident_events WHERE incident_id = $1 AND kind = $2 \
             ORDER BY seq DESC LIMIT $3",
            super::sql::EVENT_COLUMNS
        )))
        .bind(id.0)
        .bind(kind.as_str().to_owned())
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(Self::event_from_row).collect()
    }

    async fn report_incidents(&self, scope: &ReportScope) -> Result<Vec<ReportIncident>, StoreError> {
        let rows = sqlx::query(super::sql::sql(format!(
            "SELECT i.id, i.title, i.severity, i.service, i.drill, i.opened_at, i.acknowledged_at, \
             i.mitigated_at, i.resolved_at FROM incidents i WHERE {SCOPE} ORDER BY i.opened_at, i.id"
        )))
        .bind(scope.since.as_millis())
        .bind(scope.severity.clone())
        .bind(scope.service.clone())
        .fetch_all(&self.reader)
        .await?;
        let at = |row: &DB::Row, column: &str| -> Result<Option<Timestamp>, StoreError> {
            Ok(row.try_get::<Option<i64>, _>(column)?.map(Timestamp::from_millis))
        };
        rows.iter()
            .map(|row| {
                Ok(ReportIncident {
                    id: IncidentId(row.try_get("id")?),
                    title: row.try_get("title")?,
                    severity: row.try_get("severity")?,
                    service: row.try_get("service")?,
                    drill: row.try_get("drill")?,
                    opened_at: Timestamp::from_millis(row.try_get("opened_at")?),
                    acknowledged_at: at(row, "acknowledged_at")?,
                    mitigated_at: at(row, "mitigated_at")?,
                    resolved_at: at(row, "resolved_at")?,
                })
            })
            .collect()
    }

    async fn report_page_load(&self, scope: &ReportScope) -> Result<Vec<(String, u32, u64)>, StoreError> {
        let rows = sqlx::query(super::sql::sql(format!(
            "SELECT p.recipient, (COALESCE(p.finished_at, p.created_at) / 3600000) % 24 AS hour, \
             COUNT(*) AS pages FROM pages p JOIN incidents i ON i.id = p.incident_id \
             WHERE {SCOPE} AND i.drill = $4 AND p.action = 'trigger' AND p.state = 'sent' \
             AND p.recipient_kind = 'discord_user' AND p.created_at >= $1 \
             GROUP BY p.recipient, hour"
        )))
        .bind(scope.since.as_millis())
        .bind(scope.severity.clone())
        .bind(scope.service.clone())
        .bind(false)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let hour: i64 = row.try_get("hour")?;
                let pages: i64 = row.try_get("pages")?;
                Ok((
                    row.try_get("recipient")?,
                    u32::try_from(hour.rem_euclid(24)).map_err(super::sql::corrupt)?,
                    u64::try_from(pages).map_err(super::sql::corrupt)?,
                ))
            })
            .collect()
    }

    async fn report_review_counts(
        &self,
        scope: &ReportScope,
        now: Timestamp,
    ) -> Result<ReviewCounts, StoreError> {
        let row = sqlx::query(super::sql::sql(format!(
            "SELECT COUNT(*) AS total, COUNT(r.done_at) AS done, \
             COALESCE(SUM(CASE WHEN r.done_at <= r.due_at THEN 1 ELSE 0 END), 0) AS on_time, \
             COALESCE(SUM(CASE WHEN r.done_at IS NULL AND r.due_at < $5 THEN 1 ELSE 0 END), 0) \
             AS overdue FROM reviews r JOIN incidents i ON i.id = r.incident_id \
             WHERE {SCOPE} AND i.drill = $4 AND r.created_at >= $1"
        )))
        .bind(scope.since.as_millis())
        .bind(scope.severity.clone())
        .bind(scope.service.clone())
        .bind(false)
        .bind(now.as_millis())
        .fetch_one(&self.reader)
        .await?;
        let count = |column: &str| -> Result<u64, StoreError> {
            u64::try_from(row.try_get::<i64, _>(column)?).map_err(super::sql::corrupt)
        };
        Ok(ReviewCounts {
            total: count("total")?,
            done: count("done")?,
            done_on_time: count("on_time")?,
            overdue: count("overdue")?,
        })
    }

    async fn incidents_opened_since(&self, since: Timestamp) -> Result<Vec<Incident>, StoreError> {
        let rows = sqlx::query(super::sql::sql(format!(
            "SELECT {} FROM incidents WHERE opened_at >= $1 ORDER BY opened_at, id",
            super::sql::INCIDENT_COLUMNS
        )))
        .bind(since.as_millis())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(Self::incident_from_row).collect()
    }

    async fn user_pages_since(
        &self,
        since: Timestamp,
    ) -> Result<Vec<(IncidentId, String, Timestamp)>, StoreError> {
        let rows = sqlx::query(
            "SELECT incident_id, recipient, COALESCE(finished_at, created_at) AS at FROM pages \
             WHERE action = 'trigger' AND state = 'sent' AND recipient_kind = 'discord_user' \
             AND created_at >= $1 ORDER BY id",
        )
        .bind(since.as_millis())
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    IncidentId(row.try_get("incident_id")?),
                    row.try_get("recipient")?,
                    Timestamp::from_millis(row.try_get("at")?),
                ))
            })
            .collect()
    }
}
}
