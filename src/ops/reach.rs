//! Paging beyond Discord, as use cases: the one-click acknowledgement link a page by email,
//! webhook or Slack carries (what it shows, and acknowledging as the person paged), and
//! acknowledgements and resolutions made in PagerDuty or Opsgenie acting here (two-way sync),
//! which stop warroom's own escalation through the same transition as any acknowledgement.
//!
//! Both are once-only by the timeline's unique event keys: a link's acknowledgement carries
//! the link's key, a webhook's change carries `<source>:<webhook id>`, so a reused link or a
//! replayed webhook finds its key taken and changes nothing.

use crate::domain::{Action, Actor, Incident, IncidentId, Refusal, Status, Timestamp};
use crate::notify::links::{AckClaims, LinkError, Links, once_key};
use crate::store::{StoreError, Written};

use super::{Ops, OpsError, Principal};
use crate::config::bot_roles::{INCIDENT_COMMANDER, RESPONDER};

/// The longest webhook id taken as a key: PagerDuty's are UUIDs, Opsgenie's body digests are
/// 64 hex; anything longer is not what they send.
pub const MAX_WEBHOOK_ID_CHARS: usize = 128;

/// Why a link does not (or no longer) acknowledge.
#[derive(Debug, thiserror::Error)]
pub enum LinkRefusal {
    #[error(
        "one-click acknowledgement is not set up here: [http] public_url and the secret in [http] ack_secret_env are needed"
    )]
    NotConfigured,
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("this link was already used: {by} acknowledged {id} with it at {at}; nothing changed")]
    Used {
        id: IncidentId,
        by: Actor,
        at: Timestamp,
    },
    #[error("{0} no longer exists; nothing was acknowledged")]
    Gone(IncidentId),
    #[error("{0}")]
    Refused(Refusal),
    #[error("the database failed: {0}; try the link again in a moment")]
    Store(StoreError),
}

impl From<OpsError> for LinkRefusal {
    fn from(error: OpsError) -> LinkRefusal {
        match error {
            OpsError::NotFound(id) => LinkRefusal::Gone(id),
            OpsError::Refused(refusal) => LinkRefusal::Refused(refusal),
            OpsError::Store(error) => LinkRefusal::Store(error),
            // The link's principal holds `responder`; nothing else can refuse it.
            other => LinkRefusal::Store(StoreError::Corrupt(other.to_string())),
        }
    }
}

impl From<StoreError> for LinkRefusal {
    fn from(error: StoreError) -> LinkRefusal {
        OpsError::from(error).into()
    }
}

/// What the acknowledgement page shows about a valid link.
#[derive(Clone, Debug)]
pub struct AckView {
    pub claims: AckClaims,
    pub incident: Incident,
    /// Who the acknowledgement would be made as.
    pub actor: Actor,
    /// Whom the page reached, for people: `Alice`, `ops@example.com`.
    pub paged: String,
}

/// Where an acknowledgement or resolution came from outside warroom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncSource {
    PagerDuty,
    Opsgenie,
}

impl SyncSource {
    /// As actor ids and event keys begin: `pagerduty`, `opsgenie`.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncSource::PagerDuty => "pagerduty",
            SyncSource::Opsgenie => "opsgenie",
        }
    }

    pub fn display(self) -> &'static str {
        match self {
            SyncSource::PagerDuty => "PagerDuty",
            SyncSource::Opsgenie => "Opsgenie",
        }
    }
}

/// What an inbound webhook asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncAction {
    Acknowledge,
    Resolve,
}

/// An acknowledgement or resolution made in PagerDuty or Opsgenie.
#[derive(Clone, Debug)]
pub struct SyncRequest<'a> {
    pub source: SyncSource,
    /// The notifier that sent the page (its `[notifiers]` name).
    pub notifier: &'a str,
    /// The dedup key warroom sent (PagerDuty's `incident_key`, Opsgenie's `alias`).
    pub dedup_key: &'a str,
    pub action: SyncAction,
    /// Who did it there, by name, if the webhook says.
    pub by: Option<&'a str>,
    /// The webhook's own id (or a digest of its body): the change's once-only key.
    pub webhook_id: &'a str,
}

/// What a webhook did.
#[derive(Clone, Debug)]
pub enum SyncOutcome {
    /// The incident was acknowledged or resolved.
    Applied(Box<Written>),
    /// This webhook was applied before; nothing changed.
    Replayed(IncidentId),
    /// Nothing to do, and why (an incident warroom does not know, one already acknowledged).
    Ignored(String),
}

impl Ops {
    fn links(&self) -> Result<&Links, LinkRefusal> {
        self.config
            .links
            .links
            .as_ref()
            .ok_or(LinkRefusal::NotConfigured)
    }

    /// What a link says and whether it would still acknowledge: a forged, expired or used
    /// link, or an incident already past acknowledgement, is refused with what happened.
    pub async fn ack_link(&self, token: &str) -> Result<AckView, LinkRefusal> {
        let claims = self.links()?.verify_ack(token, self.clock.now())?;
        let incident = self.incident(claims.incident).await?;
        let people = &self.config.people;
        let view = AckView {
            actor: claims.paged.actor(people),
            paged: claims.paged.describe(people),
            claims,
            incident,
        };
        if let Some(used) = self
            .store
            .event_by_key(view.incident.id, &once_key(token))
            .await?
        {
            return Err(LinkRefusal::Used {
                id: view.incident.id,
                by: used.actor,
                at: used.at,
            });
        }
        if view.incident.status != Status::Open {
            // The same refusal acknowledging would give, said before anyone presses.
            let refusal = match (
                &view.incident.acknowledged_by,
                view.incident.acknowledged_at,
            ) {
                (Some(by), Some(at)) if view.incident.status != Status::Resolved => {
                    Refusal::AlreadyAcknowledged {
                        id: view.incident.id,
                        by: by.clone(),
                        at,
                    }
                }
                _ => Refusal::IllegalTransition {
                    id: view.incident.id,
                    current: view.incident.status,
                    action: Action::Acknowledge,
                },
            };
            return Err(LinkRefusal::Refused(refusal));
        }
        Ok(view)
    }

    /// Acknowledges the link's incident as the person it was sent to, once.
    pub async fn acknowledge_by_link(
        &self,
        token: &str,
    ) -> Result<(AckView, Written), LinkRefusal> {
        let view = self.ack_link(token).await?;
        // The signed link is the permission: the page asked this person to acknowledge,
        // as the Acknowledge button in a Discord DM does without a role.
        let who = Principal::new(view.actor.clone(), [RESPONDER.to_owned()]);
        let how = if view.claims.level == 0 {
            "with the one-click link of a page by hand".to_owned()
        } else {
            format!(
                "with the one-click link of the level {} page",
                view.claims.level
            )
        };
        let written = self
            .transition_once(
                &who,
                view.incident.id,
                Action::Acknowledge,
                Some(&how),
                Some(once_key(token)),
            )
            .await?;
        if written.duplicate {
            // Used at the same moment by another click: that one acknowledged.
            let first = written.events.first();
            return Err(LinkRefusal::Used {
                id: view.incident.id,
                by: first.map_or_else(|| view.actor.clone(), |event| event.actor.clone()),
                at: first.map_or_else(|| self.clock.now(), |event| event.at),
            });
        }
        Ok((view, written))
    }

    /// Applies an acknowledgement or resolution made in PagerDuty or Opsgenie to the incident
    /// whose page it answers, as `<source>:<notifier>`.
    pub async fn sync_from(&self, request: SyncRequest<'_>) -> Result<SyncOutcome, OpsError> {
        let source = request.source;
        let Some(id) = self
            .store
            .incident_for_page(request.notifier, request.dedup_key)
            .await?
        else {
            return Ok(SyncOutcome::Ignored(format!(
                "no page warroom sent through notifier {} has the key {}; nothing to do",
                request.notifier, request.dedup_key
            )));
        };
        let by = request
            .by
            .map(str::trim)
            .filter(|by| !by.is_empty())
            .unwrap_or(request.notifier);
        let actor = Actor {
            id: format!("{}:{}", source.as_str(), request.notifier),
            name: format!("{by} ({})", source.display()),
        };
        // What PagerDuty or Opsgenie did is done there; warroom records it rather than
        // second-guessing who may (resolving needs incident_commander).
        let who = Principal::new(actor, [INCIDENT_COMMANDER.to_owned()]);
        // "Acknowledged by Jane (PagerDuty)" says it all; a status change names the source.
        let (action, text) = match request.action {
            SyncAction::Acknowledge => (Action::Acknowledge, None),
            SyncAction::Resolve => (
                Action::Resolve,
                Some(format!("resolved in {} by {by}", source.display())),
            ),
        };
        let key = format!("{}:{}", source.as_str(), request.webhook_id);
        match self
            .transition_once(&who, id, action, text.as_deref(), Some(key))
            .await
        {
            Ok(written) if written.duplicate => Ok(SyncOutcome::Replayed(id)),
            Ok(written) => Ok(SyncOutcome::Applied(Box::new(written))),
            Err(OpsError::Refused(refusal)) => Ok(SyncOutcome::Ignored(refusal.to_string())),
            Err(error) => Err(error),
        }
    }
}
