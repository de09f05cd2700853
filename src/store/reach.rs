//! What paging beyond Discord asks of the database: which incident a page sent to a
//! notifier belongs to, so an acknowledgement made in PagerDuty or Opsgenie (which know only
//! the dedup key warroom sent) acts on the right incident. Acknowledgement links and
//! webhooks are made once-only by the timeline's unique event keys, so they need no table.

use async_trait::async_trait;
use sqlx::Row;

use super::StoreError;
use super::sql::sql_store_impl;
use crate::domain::IncidentId;

#[async_trait]
pub trait ReachStore: Send + Sync {
    /// The incident of the trigger sent to notifier `notifier` under `dedup_key`, if warroom
    /// sent one.
    async fn incident_for_page(
        &self,
        notifier: &str,
        dedup_key: &str,
    ) -> Result<Option<IncidentId>, StoreError>;
}

sql_store_impl! {
impl ReachStore {
    async fn incident_for_page(
        &self,
        notifier: &str,
        dedup_key: &str,
    ) -> Result<Option<IncidentId>, StoreError> {
        // `UNIQUE (dedup_key, action)` makes this an index lookup.
        let row = sqlx::query(
            "SELECT incident_id FROM pages WHERE dedup_key = $1 AND action = 'trigger' \
             AND recipient_kind = 'notifier' AND recipient = $2",
        )
        .bind(dedup_key.to_owned())
        .bind(notifier.to_owned())
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| Ok(IncidentId(row.try_get::<i64, _>("incident_id")?)))
            .transpose()
    }
}
}
