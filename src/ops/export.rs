//! Exporting a post-mortem, and recording on the timeline that it was exported.

use std::io::Write;

use super::{Ops, OpsError, Permission, Principal, authorize};
use crate::domain::{EventKind, IncidentId, NewEvent};
use crate::export::{self, ExportError, Format, Gathered, Report};

impl Ops {
    /// Writes the post-mortem of `id` to `out`, then appends an `exported` event (after, so
    /// the export never lists its own creation).
    pub async fn export(
        &self,
        who: &Principal,
        id: IncidentId,
        format: Format,
        out: &mut (dyn Write + Send),
    ) -> Result<Gathered, OpsError> {
        let incident = self.incident_for(who, id).await?;
        authorize(who, Permission::Export, Some(&incident))?;
        let now = self.clock.now();
        let report = Report::new(&self.config, &incident, now)
            .with_recovery_point(self.recovery_point(id).await?);
        let gathered = export::write(self.store.as_ref(), &report, format, out)
            .await
            .map_err(|error| match error {
                ExportError::Store(error) => OpsError::from(error),
                ExportError::Io(error) => OpsError::Output(error),
            })?;
        let event = NewEvent::new(
            now,
            EventKind::Exported,
            who.actor.clone(),
            format!("Post-mortem exported as {}", format.as_str()),
        )
        .with_data(serde_json::json!({"format": format.as_str(), "events": gathered.events}));
        self.append(id, vec![event]).await?;
        Ok(gathered)
    }
}
