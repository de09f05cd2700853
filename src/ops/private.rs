//! Private incidents (SPEC §2, issue 14): seen only by principals holding one of
//! `[incidents] private_roles`, and by the people added to it (given one of its incident
//! roles). To everyone else a private incident does not exist — reads and writes answer as
//! for an unknown id, lists leave it out — so its existence does not leak either.

use super::{Ops, OpsError, Principal};
use crate::domain::{Incident, IncidentId};
use crate::store::IncidentFilter;

impl Ops {
    /// Whether `who` may see private incidents.
    pub fn sees_private(&self, who: &Principal) -> bool {
        self.config.private_roles.iter().any(|role| who.holds(role))
    }

    /// Incident `id` as `who` may see it: a private one is `NotFound` to those without access.
    /// Every use case acting for a principal reads its incident through this.
    pub(crate) async fn incident_for(
        &self,
        who: &Principal,
        id: IncidentId,
    ) -> Result<Incident, OpsError> {
        let incident = self.incident(id).await?;
        if incident.private && !self.sees_private(who) && !is_added(&incident, who) {
            return Err(OpsError::NotFound(id));
        }
        Ok(incident)
    }

    /// Refuses to open a private incident for someone who could not see it.
    pub(super) fn may_open_private(&self, who: &Principal) -> Result<(), OpsError> {
        if self.sees_private(who) {
            return Ok(());
        }
        Err(OpsError::Invalid(format!(
            "you may not open a private incident: it is for the bot roles {} ([incidents] private_roles), and you hold none of them; open it without `private`, or ask someone who holds one",
            self.config
                .private_roles
                .iter()
                .map(|role| format!("`{role}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    /// `filter` as `who` may list: private incidents left out for those without access.
    pub(super) fn filter_for(&self, who: &Principal, filter: &IncidentFilter) -> IncidentFilter {
        let mut filter = filter.clone();
        filter.without_private |= !self.sees_private(who);
        filter
    }
}

/// Whether `who` was added to the incident: given one of its incident roles (so let into its
/// channel), which lets them act on it like anyone in its channel.
fn is_added(incident: &Incident, who: &Principal) -> bool {
    incident
        .roles
        .values()
        .any(|holder| holder.id == who.actor.id)
}
