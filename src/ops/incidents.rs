//! The incident use cases: open, acknowledge, mitigate, resolve, reopen, change severity,
//! assign a role, add a note, post a status update, and read them back.

use serde_json::json;

use super::{Ops, OpsError, Permission, Principal, authorize};
use crate::domain::{
    Action, Actor, Event, EventKind, Incident, IncidentId, NewEvent, NewIncident, Refusal, Source,
    Status, TEXT_LIMIT, TITLE_LIMIT,
};
use crate::store::{Change, EscalationEffect, IncidentFilter, PageAction, Post, Stop, Written};

/// How many events one read of a timeline returns at most.
pub const TIMELINE_PAGE: u32 = 500;

#[derive(Clone, Debug, Default)]
pub struct OpenRequest {
    pub title: String,
    pub severity: String,
    pub service: Option<String>,
    pub description: String,
    pub drill: bool,
    pub private: bool,
}

impl Ops {
    pub async fn open(
        &self,
        who: &Principal,
        source: Source,
        request: OpenRequest,
    ) -> Result<Written, OpsError> {
        self.open_linked(who, source, request, None).await
    }

    /// Opens an incident whose timeline starts with `seeds` after `opened` (the message it was
    /// opened from), all in one transaction.
    pub async fn open_seeded(
        &self,
        who: &Principal,
        source: Source,
        request: OpenRequest,
        seeds: Vec<NewEvent>,
    ) -> Result<Written, OpsError> {
        self.open_with(who, source, request, None, seeds, Vec::new())
            .await
    }

    /// Opens an incident; with `claim`, links the claimed alert group to it in the same
    /// transaction (see `AlertStore::open_for_claim`).
    pub(crate) async fn open_linked(
        &self,
        who: &Principal,
        source: Source,
        request: OpenRequest,
        claim: Option<&crate::store::Claim>,
    ) -> Result<Written, OpsError> {
        self.open_with(who, source, request, claim, Vec::new(), Vec::new())
            .await
    }

    /// Opens an incident and sets `timers` in its transaction (a scheduled drill marks its
    /// slot opened, so a firing repeated after a crash opens nothing more).
    pub(crate) async fn open_with_timers(
        &self,
        who: &Principal,
        source: Source,
        request: OpenRequest,
        timers: Vec<crate::domain::TimerOp>,
    ) -> Result<Written, OpsError> {
        self.open_with(who, source, request, None, Vec::new(), timers)
            .await
    }

    async fn open_with(
        &self,
        who: &Principal,
        source: Source,
        request: OpenRequest,
        claim: Option<&crate::store::Claim>,
        seeds: Vec<NewEvent>,
        extra_timers: Vec<crate::domain::TimerOp>,
    ) -> Result<Written, OpsError> {
        authorize(who, Permission::Open, None)?;
        if request.private {
            self.may_open_private(who)?;
        }
        let title = required_text("title", &request.title, TITLE_LIMIT)?;
        if title.contains(['\n', '\r']) {
            return Err(OpsError::Invalid(
                "the title spans several lines; keep it to one line and put details in the description".to_owned(),
            ));
        }
        let description = optional_text("description", Some(&request.description), TEXT_LIMIT)?
            .unwrap_or_default();
        let severity = self.canonical_severity(&request.severity)?;
        let service = request
            .service
            .as_deref()
            .map(str::trim)
            .filter(|service| !service.is_empty())
            .map(|service| self.canonical_service(service))
            .transpose()?;
        let now = self.clock.now();
        let mut text = format!("{severity} incident opened: {title}");
        if request.drill {
            text.insert_str(0, "DRILL: ");
        }
        let opened =
            NewEvent::new(now, EventKind::Opened, who.actor.clone(), text).with_data(json!({
                "title": title,
                "severity": severity,
                "service": service,
                "description": description,
                "source": source.as_str(),
                "drill": request.drill,
                "private": request.private,
            }));
        let escalation = self.escalation_start(&severity, service.as_deref(), now);
        let incident = NewIncident {
            title,
            description,
            severity,
            service,
            source,
            drill: request.drill,
            private: request.private,
            opened_at: now,
            opened_by: who.actor.clone(),
        };
        let config = self.config.clone();
        let timers = move |incident: &Incident| {
            let mut timers = super::deadlines::starting(&config, incident, now);
            timers.extend(extra_timers.iter().cloned());
            timers
        };
        let mut events = vec![opened];
        events.extend(seeds);
        let written = match claim {
            Some(claim) => {
                self.store
                    .open_for_claim(claim, incident, events, escalation, &timers)
                    .await?
            }
            None => {
                self.store
                    .create_incident(incident, events, escalation, &timers)
                    .await?
            }
        };
        self.announce(&written.incident, &written.events);
        Ok(written)
    }

    pub async fn acknowledge(&self, who: &Principal, id: IncidentId) -> Result<Written, OpsError> {
        self.transition(who, id, Action::Acknowledge, None).await
    }

    pub async fn mitigate(
        &self,
        who: &Principal,
        id: IncidentId,
        note: Option<&str>,
    ) -> Result<Written, OpsError> {
        self.transition(who, id, Action::Mitigate, note).await
    }

    pub async fn resolve(
        &self,
        who: &Principal,
        id: IncidentId,
        summary: Option<&str>,
    ) -> Result<Written, OpsError> {
        self.transition(who, id, Action::Resolve, summary).await
    }

    pub async fn reopen(
        &self,
        who: &Principal,
        id: IncidentId,
        reason: Option<&str>,
    ) -> Result<Written, OpsError> {
        self.transition(who, id, Action::Reopen, reason).await
    }

    async fn transition(
        &self,
        who: &Principal,
        id: IncidentId,
        action: Action,
        text: Option<&str>,
    ) -> Result<Written, OpsError> {
        self.transition_once(who, id, action, text, None).await
    }

    /// [`Self::transition`] whose event carries `key` when given: the database keeps event
    /// keys unique, so a second request with the same key (a replayed webhook, a reused
    /// link) changes nothing and comes back `duplicate`.
    pub(crate) async fn transition_once(
        &self,
        who: &Principal,
        id: IncidentId,
        action: Action,
        text: Option<&str>,
        key: Option<String>,
    ) -> Result<Written, OpsError> {
        let permission = match action {
            Action::Acknowledge => Permission::Acknowledge,
            Action::Mitigate => Permission::Mitigate,
            Action::Resolve => Permission::Resolve,
            Action::Reopen => Permission::Reopen,
        };
        let incident = self.incident_for(who, id).await?;
        if let Err(refused) = authorize(who, permission, Some(&incident)) {
            // Whoever was paged for the incident may acknowledge it, roles or not: the page
            // (and its button in their DMs) asked them to.
            if !(action == Action::Acknowledge && self.was_paged(who, id).await?) {
                return Err(refused);
            }
        }
        let text = optional_text("text", text, TEXT_LIMIT)?;
        let now = self.clock.now();
        let actor = who.actor.clone();
        let restart = self.escalation_start(&incident.severity, incident.service.as_deref(), now);
        let archive = self.archive_timers(action, id, now);
        let config = self.config.clone();
        let review_within = self.review_within(&incident.severity);
        let decide = move |current: &Incident| -> Result<Change, Refusal> {
            if action == Action::Acknowledge
                && current.status != Status::Resolved
                && let (Some(by), Some(at)) = (&current.acknowledged_by, current.acknowledged_at)
            {
                return Err(Refusal::AlreadyAcknowledged {
                    id: current.id,
                    by: by.clone(),
                    at,
                });
            }
            let status = current.status.after(current.id, action)?;
            let mut next = current.clone();
            next.status = status;
            match action {
                Action::Acknowledge => {
                    next.acknowledged_at = Some(now);
                    next.acknowledged_by = Some(actor.clone());
                }
                Action::Mitigate => next.mitigated_at = Some(now),
                Action::Resolve => next.resolved_at = Some(now),
                Action::Reopen => {
                    next.acknowledged_at = None;
                    next.acknowledged_by = None;
                    next.mitigated_at = None;
                    next.resolved_at = None;
                }
            }
            let (kind, mut line) = if action == Action::Acknowledge {
                (
                    EventKind::Acknowledged,
                    format!("Acknowledged by {}", actor.name),
                )
            } else {
                (
                    EventKind::StatusChanged,
                    format!("Status {} → {}", current.status, status),
                )
            };
            if let Some(text) = &text {
                line.push_str(": ");
                line.push_str(text);
            }
            let mut data = json!({
                "from": current.status.as_str(),
                "to": status.as_str(),
                "text": text,
            });
            let review_timers = super::followup::review_on_transition(
                current,
                action,
                &actor,
                now.plus(review_within),
                &mut data,
            );
            let mut event = NewEvent::new(now, kind, actor.clone(), line).with_data(data);
            if let Some(key) = &key {
                event = event.with_key(key.clone());
            }
            let escalation = match action {
                Action::Acknowledge | Action::Mitigate => EscalationEffect::Stop(Stop {
                    at: now,
                    forward: PageAction::Acknowledge,
                }),
                Action::Resolve => EscalationEffect::Stop(Stop {
                    at: now,
                    forward: PageAction::Resolve,
                }),
                Action::Reopen => restart.clone(),
            };
            let timers = match action {
                Action::Acknowledge | Action::Mitigate => super::deadlines::taken(current.id),
                Action::Resolve => super::deadlines::ended(current.id),
                Action::Reopen => super::deadlines::starting(&config, &next, now),
            };
            Ok(Change {
                incident: next,
                events: vec![event],
                escalation,
                timers: timers
                    .into_iter()
                    .chain(archive.iter().cloned())
                    .chain(review_timers)
                    .collect(),
            })
        };
        let written = self.store.update_incident(id, &decide).await?;
        self.announce(&written.incident, &written.events);
        if !written.duplicate {
            super::report::observe_transition(&written.incident, action);
        }
        Ok(written)
    }

    pub async fn change_severity(
        &self,
        who: &Principal,
        id: IncidentId,
        severity: &str,
    ) -> Result<Written, OpsError> {
        let incident = self.incident_for(who, id).await?;
        authorize(who, Permission::ChangeSeverity, Some(&incident))?;
        let severity = self.canonical_severity(severity)?;
        let now = self.clock.now();
        let actor = who.actor.clone();
        let decide = |current: &Incident| -> Result<Change, Refusal> {
            if current.severity == severity {
                return Err(Refusal::Unchanged {
                    id: current.id,
                    what: format!("severity {severity}"),
                });
            }
            let mut next = current.clone();
            next.severity = severity.clone();
            let next_for_timers = next.clone();
            let mut text = format!("Severity {} → {}", current.severity, severity);
            // An unacknowledged incident escalates by its new severity's policy, from level 1
            // now; once someone has acknowledged it nothing pages, and a reopening starts the
            // policy of the severity it has then.
            let policy_of = |severity: &str| {
                self.config
                    .policy_for(severity, current.service.as_deref())
                    .map(|policy| policy.name.clone())
            };
            let new_policy = policy_of(&severity);
            let switch =
                current.status == Status::Open && policy_of(&current.severity) != new_policy;
            if switch {
                match &new_policy {
                    Some(policy) => text.push_str(&format!(
                        "; escalation restarts with policy {policy} from level 1"
                    )),
                    None => text.push_str(&format!(
                        "; no escalation policy applies to {severity}: nobody more will be paged automatically. Use /page."
                    )),
                }
            }
            let event = NewEvent::new(now, EventKind::SeverityChanged, actor.clone(), text)
                .with_data(json!({
                    "from": current.severity,
                    "to": severity,
                    "policy": switch.then(|| new_policy.clone().unwrap_or_default()),
                }));
            Ok(Change {
                incident: next,
                events: vec![event],
                escalation: if switch {
                    self.escalation_start(&severity, current.service.as_deref(), now)
                } else {
                    EscalationEffect::None
                },
                timers: super::deadlines::reseveritied(&self.config, &next_for_timers, now),
            })
        };
        let written = self.store.update_incident(id, &decide).await?;
        self.announce(&written.incident, &written.events);
        Ok(written)
    }

    pub async fn assign_role(
        &self,
        who: &Principal,
        id: IncidentId,
        role: &str,
        assignee: Actor,
    ) -> Result<Written, OpsError> {
        let incident = self.incident_for(who, id).await?;
        authorize(who, Permission::AssignRole, Some(&incident))?;
        let role = self
            .config
            .incident_roles
            .iter()
            .find(|known| known.eq_ignore_ascii_case(role.trim()))
            .cloned()
            .ok_or_else(|| {
                OpsError::Invalid(format!(
                    "`{role}` is not an incident role; use one of {}",
                    self.config.incident_roles.join(", ")
                ))
            })?;
        let now = self.clock.now();
        let actor = who.actor.clone();
        let decide = move |current: &Incident| -> Result<Change, Refusal> {
            if current.roles.get(&role) == Some(&assignee) {
                return Err(Refusal::Unchanged {
                    id: current.id,
                    what: format!("{} as {role}", assignee.name),
                });
            }
            let mut next = current.clone();
            let previous = next.roles.insert(role.clone(), assignee.clone());
            let event = NewEvent::new(
                now,
                EventKind::RoleAssigned,
                actor.clone(),
                format!("{} is now {role}", assignee.name),
            )
            .with_data(json!({"role": role, "assignee": assignee, "previous": previous}));
            let timers = if role == crate::domain::COMMANDER_ROLE {
                super::deadlines::commanded(current.id)
            } else {
                Vec::new()
            };
            Ok(Change {
                incident: next,
                events: vec![event],
                escalation: EscalationEffect::None,
                timers,
            })
        };
        let written = self.store.update_incident(id, &decide).await?;
        self.announce(&written.incident, &written.events);
        Ok(written)
    }

    pub async fn add_note(
        &self,
        who: &Principal,
        id: IncidentId,
        text: &str,
    ) -> Result<Written, OpsError> {
        self.append_text(who, id, Permission::AddNote, EventKind::Note, text)
            .await
    }

    /// A status update for stakeholders; the Discord adapter also posts it to the announce
    /// channel when it sees the event. The next one is due `update_every` later (re-armed in
    /// the same write).
    pub async fn post_status_update(
        &self,
        who: &Principal,
        id: IncidentId,
        text: &str,
    ) -> Result<Written, OpsError> {
        self.post_update_everywhere(who, id, text).await
    }

    async fn append_text(
        &self,
        who: &Principal,
        id: IncidentId,
        permission: Permission,
        kind: EventKind,
        text: &str,
    ) -> Result<Written, OpsError> {
        let incident = self.incident_for(who, id).await?;
        authorize(who, permission, Some(&incident))?;
        let text = required_text("text", text, TEXT_LIMIT)?;
        let event = NewEvent::new(self.clock.now(), kind, who.actor.clone(), text);
        self.append(id, vec![event]).await
    }

    /// Appends events that change no state (messages, highlights, exports). Keyed events that
    /// already exist are not appended again.
    pub async fn append(&self, id: IncidentId, events: Vec<NewEvent>) -> Result<Written, OpsError> {
        let written = self.store.append_events(id, events).await?;
        if !written.duplicate {
            self.announce(&written.incident, &written.events);
        }
        Ok(written)
    }

    /// Records where the incident lives in Discord: its channel and, if posted, its card.
    /// No event: the channel is where the timeline is read, not something that happened.
    pub async fn attach_room(
        &self,
        id: IncidentId,
        channel_id: u64,
        card: Option<Post>,
    ) -> Result<Incident, OpsError> {
        Ok(self.store.attach_room(id, channel_id, card).await?)
    }

    pub async fn show(&self, who: &Principal, id: IncidentId) -> Result<Incident, OpsError> {
        let incident = self.incident_for(who, id).await?;
        authorize(who, Permission::View, Some(&incident))?;
        Ok(incident)
    }

    pub async fn list(
        &self,
        who: &Principal,
        filter: &IncidentFilter,
    ) -> Result<Vec<Incident>, OpsError> {
        authorize(who, Permission::View, None)?;
        let filter = self.filter_for(who, filter);
        Ok(self.store.list_incidents(&filter).await?)
    }

    pub async fn incident_by_channel(&self, channel_id: u64) -> Result<Option<Incident>, OpsError> {
        Ok(self.store.incident_by_channel(channel_id).await?)
    }

    /// Up to `TIMELINE_PAGE` events after `after_seq`.
    pub async fn timeline_page(
        &self,
        who: &Principal,
        id: IncidentId,
        after_seq: i64,
    ) -> Result<Vec<Event>, OpsError> {
        let incident = self.incident_for(who, id).await?;
        authorize(who, Permission::View, Some(&incident))?;
        Ok(self
            .store
            .timeline_page(id, after_seq, TIMELINE_PAGE)
            .await?)
    }

    /// The newest `last` events, oldest first.
    pub async fn timeline_tail(
        &self,
        who: &Principal,
        id: IncidentId,
        last: u32,
    ) -> Result<Vec<Event>, OpsError> {
        let incident = self.incident_for(who, id).await?;
        authorize(who, Permission::View, Some(&incident))?;
        let last = last.clamp(1, TIMELINE_PAGE);
        let after = (incident.last_seq - i64::from(last)).max(0);
        Ok(self.store.timeline_page(id, after, last).await?)
    }

    /// The event appended under `key`, if any (e.g. the recorded Discord message with an id).
    pub async fn event_by_key(&self, id: IncidentId, key: &str) -> Result<Option<Event>, OpsError> {
        Ok(self.store.event_by_key(id, key).await?)
    }

    /// The greatest numbered key with `prefix` (e.g. the newest recorded Discord message).
    pub async fn last_numbered_key(
        &self,
        id: IncidentId,
        prefix: &str,
    ) -> Result<Option<String>, OpsError> {
        Ok(self.store.last_numbered_key(id, prefix).await?)
    }

    /// Remembers a message that shows the incident (its card), to edit it when it changes.
    pub async fn set_post(&self, id: IncidentId, kind: &str, post: Post) -> Result<(), OpsError> {
        Ok(self.store.set_post(id, kind, post).await?)
    }

    pub async fn post(&self, id: IncidentId, kind: &str) -> Result<Option<Post>, OpsError> {
        Ok(self.store.post(id, kind).await?)
    }

    pub(crate) async fn incident(&self, id: IncidentId) -> Result<Incident, OpsError> {
        self.store
            .get_incident(id)
            .await?
            .ok_or(OpsError::NotFound(id))
    }

    pub(super) fn canonical_severity(&self, name: &str) -> Result<String, OpsError> {
        self.config
            .severity(name.trim())
            .map(|severity| severity.name.clone())
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .config
                    .severities
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect();
                OpsError::Invalid(format!(
                    "`{}` is not a severity; use one of {}",
                    name.trim(),
                    known.join(", ")
                ))
            })
    }

    pub(super) fn canonical_service(&self, name: &str) -> Result<String, OpsError> {
        self.config
            .service(name)
            .map(|service| service.name.clone())
            .ok_or_else(|| {
                let known: Vec<&str> = self.config.services.iter().map(|s| s.name.as_str()).collect();
                OpsError::Invalid(if known.is_empty() {
                    format!("`{name}` is not a service: no services are configured; add one under [services] or leave the service out")
                } else {
                    format!("`{name}` is not a service; use one of {}", known.join(", "))
                })
            })
    }
}

fn required_text(what: &str, text: &str, limit: usize) -> Result<String, OpsError> {
    match optional_text(what, Some(text), limit)? {
        Some(text) => Ok(text),
        None => Err(OpsError::Invalid(format!(
            "the {what} is empty; write a few words"
        ))),
    }
}

pub(super) fn optional_text(
    what: &str,
    text: Option<&str>,
    limit: usize,
) -> Result<Option<String>, OpsError> {
    let Some(text) = text.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    let length = text.chars().count();
    if length > limit {
        return Err(OpsError::Invalid(format!(
            "the {what} has {length} characters, more than the {limit} allowed; shorten it or link to a document"
        )));
    }
    if text.contains('\0') {
        return Err(OpsError::Invalid(format!(
            "the {what} contains a NUL character; remove it"
        )));
    }
    Ok(Some(text.to_owned()))
}
