//! Reading an incident's timeline by kind: the checklist ticks and recovery points recorded
//! during it (SPEC §1 "Checklist tick", "Recovery point"), which the card, the resolve check
//! and the export fold into their current state.

use async_trait::async_trait;

use super::StoreError;
use super::sql::{EVENT_COLUMNS, param, param_list, sql, sql_store_impl};
use crate::domain::{Event, EventKind, IncidentId};

#[async_trait]
pub trait DuringStore: Send + Sync {
    /// Every event of `kinds` on the incident's timeline, in order.
    async fn events_of_kinds(
        &self,
        id: IncidentId,
        kinds: &[EventKind],
    ) -> Result<Vec<Event>, StoreError>;
}

sql_store_impl! {
impl DuringStore {
    async fn events_of_kinds(
        &self,
        id: IncidentId,
        kinds: &[EventKind],
    ) -> Result<Vec<Event>, StoreError> {
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        let text = format!(
            "SELECT {EVENT_COLUMNS} FROM incident_events \
             WHERE incident_id = {} AND kind IN ({}) ORDER BY seq",
            param::<DB>(1),
            param_list::<DB>(2, kinds.len())
        );
        let mut query = sqlx::query(sql(text)).bind(id.0);
        for kind in kinds {
            query = query.bind(kind.as_str().to_owned());
        }
        let rows = query.fetch_all(&self.reader).await?;
        rows.iter().map(Self::event_from_row).collect()
    }
}
}
