//! What people record while they work an incident: ticking (and unticking) the service's
//! validation checklist, the recovery point, and resolving with the checklist in mind
//! (SPEC §1 "Checklist tick", "Recovery point").

use serde_json::json;

use super::incidents::optional_text;
use super::{Ops, OpsError, Permission, Principal, authorize};
use crate::domain::{
    CHECKLIST_KINDS, ChecklistItem, EventKind, Incident, IncidentId, NewEvent, RecoveryPoint,
    Refusal, TEXT_LIMIT, Timestamp, checklist, parse_time,
};
use crate::store::Written;

/// How `/incident rpo` says what was restored.
#[derive(Clone, Debug, Default)]
pub struct RpoRequest {
    /// The time of the backup restored, as written (RFC 3339 or `YYYY-MM-DD HH:MM` UTC).
    pub restored_from: Option<String>,
    pub no_data_lost: bool,
    pub note: Option<String>,
}

impl Ops {
    /// The incident's checklist with who ticked each item when (empty without a service or
    /// a checklist).
    pub async fn checklist(
        &self,
        who: &Principal,
        id: IncidentId,
    ) -> Result<(Incident, Vec<ChecklistItem>), OpsError> {
        let incident = self.show(who, id).await?;
        let items = self.checklist_of(&incident).await?;
        Ok((incident, items))
    }

    pub(crate) async fn checklist_of(
        &self,
        incident: &Incident,
    ) -> Result<Vec<ChecklistItem>, OpsError> {
        let Some(service) = incident
            .service
            .as_deref()
            .and_then(|name| self.config.service(name))
        else {
            return Ok(Vec::new());
        };
        if service.checklist.is_empty() {
            return Ok(Vec::new());
        }
        let events = self
            .store
            .events_of_kinds(incident.id, &CHECKLIST_KINDS)
            .await?;
        Ok(checklist(&service.checklist, &events))
    }

    /// Ticks `item` of the incident's service checklist (or unticks it, `undo`).
    pub async fn check_item(
        &self,
        who: &Principal,
        id: IncidentId,
        item: &str,
        undo: bool,
    ) -> Result<Written, OpsError> {
        let incident = self.incident_for(who, id).await?;
        authorize(who, Permission::AddNote, Some(&incident))?;
        let Some(service) = incident
            .service
            .as_deref()
            .and_then(|name| self.config.service(name))
        else {
            return Err(OpsError::Invalid(format!(
                "{id} has no service, so it has no checklist to tick; checklists come from the service's `checklist` in [services]"
            )));
        };
        if service.checklist.is_empty() {
            return Err(OpsError::Invalid(format!(
                "service {} has no checklist; add `checklist = [...]` to [services.{}]",
                service.name, service.name
            )));
        }
        let wanted = item.trim();
        let Some(item) = service
            .checklist
            .iter()
            .find(|known| known.eq_ignore_ascii_case(wanted))
            .cloned()
        else {
            return Err(OpsError::Invalid(format!(
                "`{wanted}` is not on the checklist of {}; its items are: {}",
                service.name,
                service.checklist.join("; ")
            )));
        };
        let current = self.checklist_of(&incident).await?;
        let ticked = current
            .iter()
            .any(|entry| entry.item == item && entry.ticked.is_some());
        if ticked != undo {
            return Err(OpsError::Refused(Refusal::Unchanged {
                id,
                what: format!("“{item}” {}", if undo { "unticked" } else { "ticked" }),
            }));
        }
        let (kind, verb) = if undo {
            (EventKind::ChecklistUnchecked, "unticked")
        } else {
            (EventKind::ChecklistChecked, "ticked")
        };
        let event = NewEvent::new(
            self.clock.now(),
            kind,
            who.actor.clone(),
            format!("Checklist: “{item}” {verb} by {}", who.actor.name),
        )
        .with_data(json!({"item": item, "service": service.name}));
        self.append(id, vec![event]).await
    }

    /// Records what the data was restored from (or that none was lost).
    pub async fn record_rpo(
        &self,
        who: &Principal,
        id: IncidentId,
        request: RpoRequest,
    ) -> Result<Written, OpsError> {
        let incident = self.incident_for(who, id).await?;
        authorize(who, Permission::AddNote, Some(&incident))?;
        let note = optional_text("note", request.note.as_deref(), TEXT_LIMIT)?;
        let restored_from = request
            .restored_from
            .as_deref()
            .map(str::trim)
            .filter(|text| !text.is_empty());
        let now = self.clock.now();
        let restored_from = match (restored_from, request.no_data_lost) {
            (Some(_), true) => {
                return Err(OpsError::Invalid(
                    "give either restored_from (the time of the backup restored) or no_data_lost, not both".to_owned(),
                ));
            }
            (None, false) => {
                return Err(OpsError::Invalid(
                    "say what was restored: restored_from (the time of the backup, e.g. 2026-12-06 14:05 UTC) or no_data_lost".to_owned(),
                ));
            }
            (None, true) => None,
            (Some(text), false) => {
                let at = parse_time(text).map_err(OpsError::Invalid)?;
                if at > now {
                    return Err(OpsError::Invalid(format!(
                        "restored_from {} is in the future (it is {} now); give the time of the backup that was restored",
                        at.human(),
                        now.human()
                    )));
                }
                Some(at)
            }
        };
        let mut text = match restored_from {
            Some(at) => format!(
                "Recovery point: restored from {} (data lost: {})",
                at.human(),
                crate::domain::format_duration(incident.opened_at.since(at))
            ),
            None => "Recovery point: no data lost".to_owned(),
        };
        if let Some(note) = &note {
            text.push_str(": ");
            text.push_str(note);
        }
        let event = NewEvent::new(now, EventKind::RpoRecorded, who.actor.clone(), text)
            .with_data(RecoveryPoint::data(restored_from, note.as_deref()));
        self.append(id, vec![event]).await
    }

    /// Resolves, unless checklist items are unticked and `force` is not given: then refuses
    /// with the items, so the person is asked once before resolving anyway.
    pub async fn resolve_checked(
        &self,
        who: &Principal,
        id: IncidentId,
        summary: Option<&str>,
        force: bool,
    ) -> Result<Written, OpsError> {
        if !force {
            let incident = self.incident_for(who, id).await?;
            authorize(who, Permission::Resolve, Some(&incident))?;
            if incident.status.is_active() {
                let unticked: Vec<String> = self
                    .checklist_of(&incident)
                    .await?
                    .into_iter()
                    .filter(|entry| entry.ticked.is_none())
                    .map(|entry| entry.item)
                    .collect();
                if !unticked.is_empty() {
                    return Err(OpsError::Refused(Refusal::ChecklistUnticked {
                        id,
                        unticked,
                    }));
                }
            }
        }
        self.resolve(who, id, summary).await
    }

    /// The latest recovery point recorded on the incident.
    pub async fn recovery_point(&self, id: IncidentId) -> Result<Option<RecoveryPoint>, OpsError> {
        let events = self
            .store
            .events_of_kinds(id, &[EventKind::RpoRecorded])
            .await?;
        Ok(RecoveryPoint::latest(&events))
    }
}

/// For tests and callers that hold a time already.
pub fn rpo_at(at: Timestamp) -> RpoRequest {
    RpoRequest {
        restored_from: Some(at.to_rfc3339()),
        ..RpoRequest::default()
    }
}
