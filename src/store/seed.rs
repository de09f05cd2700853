//! Bulk writes for benchmarks only (`warroom bench report`): whole incidents as they end up,
//! many to a transaction, so a database of 10,000 incidents and 1,000,000 events is ready in
//! seconds rather than the hours the one-change-at-a-time path would take.
//!
//! The rows are written by the same code as live ones: the incident is inserted with its
//! `opened` event, the rest of its timeline appended in multi-row statements (reviews and
//! action items derived from those events in the same transaction, as always), and its final
//! state written like any change's. Only the pages are put straight into the outbox as the
//! sender leaves them once it is done, since no escalation engine runs while seeding.

use async_trait::async_trait;

use super::StoreError;
use super::sql::{APPEND_CHUNK, corrupt, sql, sql_store_impl, value_rows};
use super::{PageAction, PageRecipient, PageState};
use crate::domain::{Incident, IncidentId, NewEvent, NewIncident, Timestamp};

/// The rest of an incident's timeline and its pages, made once its id is known (page dedup
/// keys and events name it).
pub type SeedRest = Box<dyn FnOnce(IncidentId) -> (Vec<NewEvent>, Vec<SeedPage>) + Send>;

/// One incident to seed.
pub struct SeedIncident {
    /// The incident as it ends up; `id` and `last_seq` are the store's to set.
    pub incident: Incident,
    /// Its first event (`opened`).
    pub opened: NewEvent,
    pub rest: SeedRest,
}

/// A page as the outbox holds it once the sender is done with it.
#[derive(Clone, Debug)]
pub struct SeedPage {
    pub dedup_key: String,
    pub action: PageAction,
    pub level: u32,
    pub round: u32,
    pub target: String,
    pub recipient: PageRecipient,
    pub state: PageState,
    pub attempts: u32,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub outcome: Option<String>,
}

#[async_trait]
pub trait SeedStore: Send + Sync {
    /// Benchmarks only: writes `incidents` whole, in one transaction; their ids, in order.
    async fn seed_incidents(
        &self,
        incidents: Vec<SeedIncident>,
    ) -> Result<Vec<IncidentId>, StoreError>;

    /// Benchmarks only: gathers the planner's statistics after seeding, as PostgreSQL's
    /// autovacuum does some time after a table grows (a database that grew to this size in
    /// use has them; one bulk-seeded a moment ago does not, and its plans are those of empty
    /// tables). SQLite keeps no statistics unless asked (`ANALYZE`), and warroom never asks,
    /// so it is left as it runs in use.
    async fn refresh_statistics(&self) -> Result<(), StoreError>;
}

/// Values in a row of `pages` as seeded.
const PAGE_VALUES: usize = 17;

sql_store_impl! {
impl SeedStore {
    async fn seed_incidents(
        &self,
        incidents: Vec<SeedIncident>,
    ) -> Result<Vec<IncidentId>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut ids = Vec::with_capacity(incidents.len());
        for seed in incidents {
            let mut incident = seed.incident;
            let new = NewIncident {
                title: incident.title.clone(),
                description: incident.description.clone(),
                severity: incident.severity.clone(),
                service: incident.service.clone(),
                source: incident.source,
                drill: incident.drill,
                private: incident.private,
                opened_at: incident.opened_at,
                opened_by: incident.opened_by.clone(),
            };
            let written = Self::insert_incident(
                &mut tx,
                new,
                vec![seed.opened],
                &super::EscalationEffect::None,
            )
            .await?;
            let id = written.incident.id;
            let (events, pages) = (seed.rest)(id);
            let appended = i64::try_from(events.len()).map_err(corrupt)?;
            Self::insert_events(&mut tx, id, 2, events).await?;
            incident.id = id;
            incident.last_seq = 1 + appended;
            Self::write_incident_state(&mut tx, &incident).await?;
            // Nothing is left for the projector to show: a `warroom run` on the seeded
            // database does not redraw 10,000 cards.
            sqlx::query("UPDATE incidents SET shown_seq = last_seq WHERE id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            for chunk in pages.chunks(APPEND_CHUNK) {
                let mut query = sqlx::query(sql(format!(
                    "INSERT INTO pages (dedup_key, action, incident_id, level, round, target, \
                     recipient_kind, recipient, schedule, via_override, message, state, attempts, \
                     send_after, created_at, finished_at, outcome) VALUES {}",
                    value_rows::<DB>(1, chunk.len(), PAGE_VALUES)
                )));
                for page in chunk {
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
                        .bind(None::<String>)
                        .bind(page.state.as_str().to_owned())
                        .bind(i64::from(page.attempts))
                        .bind(page.created_at.as_millis())
                        .bind(page.created_at.as_millis())
                        .bind(page.finished_at.map(Timestamp::as_millis))
                        .bind(page.outcome.clone());
                }
                query.execute(&mut *tx).await?;
            }
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn refresh_statistics(&self) -> Result<(), StoreError> {
        if DB::BACKEND == "postgres" {
            sqlx::query("ANALYZE").execute(&self.writer).await?;
        }
        Ok(())
    }
}
}
