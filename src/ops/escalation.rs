//! Escalation use cases: which policy an incident starts with, paging by hand (`/page`), and
//! who may acknowledge because they were paged. The engine that fires steps and sends pages
//! is `crate::escalation::engine`.

use serde_json::json;

use super::{Ops, OpsError, Permission, Principal, authorize};
use crate::domain::{EventKind, Incident, IncidentId, NewEvent, Refusal, Status, Timestamp};
use crate::escalation::{Reach, Recipient, Target, dedup_key};
use crate::store::{
    Change, EscalationEffect, EscalationStart, NewPage, Page, PageAction, PageRecipient, StoreError,
};

/// Whom `/page` pages: a target as policies name them, or a whole policy (restarted from its
/// first level for the incident).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageRequest {
    Target(Target),
    Policy(String),
}

impl PageRequest {
    /// `user:<id>`, `role:<bot role>`, `schedule:<name>`, `notifier:<name>` or
    /// `policy:<name>`.
    pub fn parse(text: &str) -> Result<PageRequest, OpsError> {
        let text = text.trim();
        if let Some(policy) = text.strip_prefix("policy:") {
            return Ok(PageRequest::Policy(policy.trim().to_owned()));
        }
        text.parse::<Target>()
            .map(PageRequest::Target)
            .map_err(|error| {
                OpsError::Invalid(format!(
                    "{error}; or page a whole policy with policy:<name>"
                ))
            })
    }
}

/// What `/page` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paged {
    pub incident: Incident,
    /// One line for the person who paged.
    pub summary: String,
}

impl From<&Recipient> for PageRecipient {
    fn from(recipient: &Recipient) -> PageRecipient {
        match recipient {
            Recipient::DiscordUser {
                user_id,
                schedule,
                via_override,
            } => PageRecipient::DiscordUser {
                user_id: *user_id,
                schedule: schedule.clone(),
                via_override: *via_override,
            },
            Recipient::DiscordRole { role, .. } => {
                PageRecipient::DiscordRole { role: role.clone() }
            }
            Recipient::Notifier { name, .. } => PageRecipient::Notifier { name: name.clone() },
        }
    }
}

impl From<&Reach> for PageRecipient {
    fn from(reach: &Reach) -> PageRecipient {
        match reach {
            Reach::Reached { recipient } | Reach::Fallback { recipient, .. } => recipient.into(),
            Reach::Nobody { reason } => PageRecipient::Nobody {
                reason: reason.clone(),
            },
        }
    }
}

impl Ops {
    /// How an incident of `severity` and `service` starts escalating at `now`: with its
    /// policy's first level due, or unpaged when no policy applies.
    pub(crate) fn escalation_start(
        &self,
        severity: &str,
        service: Option<&str>,
        now: Timestamp,
    ) -> EscalationEffect {
        let policy = self.config.policy_for(severity, service);
        EscalationEffect::Start(EscalationStart {
            policy: policy.map(|policy| policy.name.clone()).unwrap_or_default(),
            started_at: now,
            first_due: policy
                .and_then(|policy| policy.step_after(1, 0))
                .map(|after| now.plus(after)),
        })
    }

    /// Whether `who` is a Discord user who was paged for the incident.
    pub(crate) async fn was_paged(
        &self,
        who: &Principal,
        id: IncidentId,
    ) -> Result<bool, OpsError> {
        match who.actor.discord_user_id() {
            Some(user_id) => Ok(self.store.was_paged(id, user_id).await?),
            None => Ok(false),
        }
    }

    /// The round of the incident's next page outside its policy's levels (level 0: `/page`
    /// or the auditor's fallback), so each such page has its own dedup key.
    pub(crate) async fn next_hand_round(&self, id: IncidentId) -> Result<u32, StoreError> {
        let earlier = self
            .store
            .pages(id)
            .await?
            .iter()
            .filter(|page| page.level == 0 && page.action == PageAction::Trigger)
            .count();
        Ok(u32::try_from(earlier).unwrap_or(u32::MAX))
    }

    /// Every page of the incident, oldest first.
    pub async fn pages(&self, who: &Principal, id: IncidentId) -> Result<Vec<Page>, OpsError> {
        let incident = self.incident_for(who, id).await?;
        authorize(who, Permission::View, Some(&incident))?;
        Ok(self.store.pages(id).await?)
    }

    /// Pages a target now, or restarts the incident's escalation with a policy; the engine
    /// sends it like any page (drills stay inside Discord).
    pub async fn page(
        &self,
        who: &Principal,
        id: IncidentId,
        request: PageRequest,
        message: Option<&str>,
    ) -> Result<Paged, OpsError> {
        let incident = self.incident_for(who, id).await?;
        authorize(who, Permission::Page, Some(&incident))?;
        if incident.status == Status::Resolved {
            return Err(OpsError::Invalid(format!(
                "{id} is resolved; reopen it before paging anyone for it"
            )));
        }
        let message = super::incidents::optional_text("message", message, 1000)?;
        let now = self.clock.now();
        match request {
            PageRequest::Policy(name) => {
                self.page_policy(who, &incident, &name, message, now).await
            }
            PageRequest::Target(target) => {
                self.page_target(who, &incident, &target, message, now)
                    .await
            }
        }
    }

    async fn page_target(
        &self,
        who: &Principal,
        incident: &Incident,
        target: &Target,
        message: Option<String>,
        now: Timestamp,
    ) -> Result<Paged, OpsError> {
        let on_call = self.schedules().await?;
        let directory = self.config.directory_with(&on_call.schedules);
        let recipient = directory.resolve(target, now).map_err(|unreachable| {
            OpsError::Invalid(format!("{target}: {}", unreachable.reason))
        })?;
        let round = self.next_hand_round(incident.id).await?;
        let key = dedup_key(incident.id, 0, round, target);
        let description = recipient.describe();
        let mut text = format!("{} paged {target} ({description})", who.actor.name);
        if let Some(message) = &message {
            text.push_str(": ");
            text.push_str(message);
        }
        let event = NewEvent::new(now, EventKind::Escalated, who.actor.clone(), text.clone())
            .with_data(json!({
                "by_hand": true,
                "target": target.to_string(),
                "dedup_keys": [key],
                "message": message,
            }));
        let page = NewPage {
            dedup_key: key,
            action: PageAction::Trigger,
            level: 0,
            round,
            target: target.to_string(),
            recipient: (&recipient).into(),
            message,
            send_after: now,
        };
        let (new, appended) = self
            .store
            .enqueue_pages(incident.id, vec![page], vec![event])
            .await?;
        if new == 0 {
            return Err(OpsError::Invalid(format!(
                "someone paged {target} for {} at the same moment; that page is on its way",
                incident.id
            )));
        }
        if let Some((incident, events)) = &appended {
            self.announce(incident, events);
        }
        let incident = appended.map_or_else(|| incident.clone(), |(incident, _)| incident);
        Ok(Paged {
            incident,
            summary: text,
        })
    }

    async fn page_policy(
        &self,
        who: &Principal,
        incident: &Incident,
        name: &str,
        message: Option<String>,
        now: Timestamp,
    ) -> Result<Paged, OpsError> {
        let policy = self.config.policy(name).ok_or_else(|| {
            let known: Vec<&str> = self
                .config
                .policies
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            OpsError::Invalid(format!(
                "there is no policy `{name}`; the policies are: {}",
                if known.is_empty() {
                    "none (add them under [policies])".to_owned()
                } else {
                    known.join(", ")
                }
            ))
        })?;
        let start = EscalationEffect::Start(EscalationStart {
            policy: policy.name.clone(),
            started_at: now,
            first_due: policy.step_after(1, 0).map(|after| now.plus(after)),
        });
        let mut text = format!(
            "{} paged policy {} from its first level",
            who.actor.name, policy.name
        );
        if let Some(message) = &message {
            text.push_str(": ");
            text.push_str(message);
        }
        let actor = who.actor.clone();
        let line = text.clone();
        let policy_name = policy.name.clone();
        let decide = move |current: &Incident| -> Result<Change, Refusal> {
            if current.status == Status::Resolved {
                return Err(Refusal::Unchanged {
                    id: current.id,
                    what: "status resolved (reopen it before paging anyone)".to_owned(),
                });
            }
            let event = NewEvent::new(now, EventKind::Escalated, actor.clone(), line.clone())
                .with_data(json!({
                    "by_hand": true,
                    "policy": policy_name,
                    "message": message,
                }));
            Ok(Change {
                incident: current.clone(),
                events: vec![event],
                escalation: start.clone(),
                timers: Vec::new(),
            })
        };
        let written = self.store.update_incident(incident.id, &decide).await?;
        self.announce(&written.incident, &written.events);
        Ok(Paged {
            incident: written.incident,
            summary: text,
        })
    }
}
