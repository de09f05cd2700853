//! Delivering claimed pages and recording their outcomes: where each page goes
//! ([`Pagers`]), what the receiver is told, and what the timeline says about it.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde_json::json;

use super::{Engine, STEPS_PER_WRITE};
use crate::domain::{EventKind, Incident, NewEvent, Status, Timestamp};
use crate::escalation::{Recipient, Target};
use crate::notify::{Delivery, Notifier, NotifierKind, PageMessage, Priority};
use crate::store::{Page, PageAction, PageDone, PageRecipient, PageState, StoreError};

/// Where pages go: the configured notifiers, and the Discord pager once the bot is connected.
#[derive(Default)]
pub struct Pagers {
    notifiers: BTreeMap<String, Arc<dyn Notifier>>,
    /// Notifiers that could not be built, and what they lack.
    not_ready: BTreeMap<String, String>,
    discord: RwLock<Option<Arc<dyn Notifier>>>,
}

impl std::fmt::Debug for Pagers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pagers")
            .field("notifiers", &self.notifiers.keys().collect::<Vec<_>>())
            .field("not_ready", &self.not_ready)
            .finish_non_exhaustive()
    }
}

impl Pagers {
    pub fn new(
        notifiers: BTreeMap<String, Arc<dyn Notifier>>,
        not_ready: Vec<crate::notify::NotReady>,
    ) -> Pagers {
        Pagers {
            notifiers,
            not_ready: not_ready
                .into_iter()
                .map(|error| (error.notifier, error.missing))
                .collect(),
            discord: RwLock::new(None),
        }
    }

    /// Sets (or, with `None`, removes) the pager for Discord users and roles.
    pub fn set_discord(&self, pager: Option<Arc<dyn Notifier>>) {
        *self
            .discord
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = pager;
    }

    fn discord(&self) -> Option<Arc<dyn Notifier>> {
        self.discord
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub(super) fn for_recipient(
        &self,
        recipient: &PageRecipient,
    ) -> Result<Arc<dyn Notifier>, String> {
        match recipient {
            PageRecipient::DiscordUser { .. } | PageRecipient::DiscordRole { .. } => {
                self.discord().ok_or_else(|| {
                    "Discord is not connected (no token, or the gateway is down), so the DM and mention could not be sent".to_owned()
                })
            }
            PageRecipient::Notifier { name } => match self.notifiers.get(name) {
                Some(notifier) => Ok(notifier.clone()),
                None => Err(self.not_ready.get(name).map_or_else(
                    || format!("there is no notifier {name} in [notifiers] any more"),
                    |missing| format!("notifier {name} is not ready: {missing}"),
                )),
            },
            PageRecipient::Nobody { reason } => Err(reason.clone()),
        }
    }
}

impl Engine {
    /// Delivers one claimed page of `incident` (as read just before); the outcome is
    /// recorded by the caller, in a batch.
    pub(super) async fn send(
        &self,
        page: Page,
        incident: Incident,
    ) -> Result<PageDone, StoreError> {
        let config = self.ops.config();
        let step_page = page.level > 0;
        let threshold = (step_page && page.action == PageAction::Trigger)
            .then_some(config.escalation.failures_before_next_level);
        let done = |(state, outcome, event): (PageState, String, Option<NewEvent>)| PageDone {
            page: page.id,
            incident: page.incident_id,
            claim: page.attempts,
            state,
            outcome,
            event,
            now: self.now(),
            failures_before_next_level: threshold,
        };
        if let Some(unsent) = self.not_to_send(&page, &incident) {
            return Ok(done(unsent));
        }
        let delivery = match self.pagers.for_recipient(&page.recipient) {
            Err(reason) => Err(reason),
            Ok(notifier) => Ok(self.deliver(&*notifier, &page, &incident).await),
        };
        let (state, outcome, kind) = judge(&page, &delivery);
        let event = self.outcome_event(&page, state, &outcome, kind, &delivery);
        Ok(done((state, outcome, event)))
    }

    /// The outcome of a page that is not sent at all: a trigger of an incident stopped since
    /// it was written, or a drill's page outside Discord.
    fn not_to_send(
        &self,
        page: &Page,
        incident: &Incident,
    ) -> Option<(PageState, String, Option<NewEvent>)> {
        if page.action == PageAction::Trigger
            && let Some(stopped_at) = stopped_since(incident)
            && stopped_at > page.created_at
        {
            // Acknowledged (or mitigated, resolved) after the page was written and before it
            // went out: nobody needs waking any more.
            let again = if page.attempts > 1 {
                " (an earlier attempt, cut off, may have reached the receiver)"
            } else {
                ""
            };
            let outcome = format!(
                "not sent: the incident was {} first{again}",
                incident.status.as_str()
            );
            return Some((PageState::Cancelled, outcome, None));
        }
        if incident.drill && !page.recipient.is_discord() {
            let text = format!(
                "DRILL: {} not paged through {}: drills page only inside Discord",
                page.target,
                recipient_name(&page.recipient)
            );
            let event = (page.action == PageAction::Trigger).then(|| {
                NewEvent::new(
                    self.now(),
                    EventKind::PageSent,
                    self.actor.clone(),
                    text.clone(),
                )
                .with_data(page_data(page, "skipped"))
            });
            return Some((PageState::Skipped, text, event));
        }
        None
    }

    /// The timeline event of a delivery: every trigger's, whatever happened; an acknowledge
    /// or resolve sent to a notifier only when it failed (its success is the incident's own
    /// event).
    fn outcome_event(
        &self,
        page: &Page,
        state: PageState,
        outcome: &str,
        kind: EventKind,
        delivery: &Result<Delivery, String>,
    ) -> Option<NewEvent> {
        if page.action != PageAction::Trigger && state != PageState::Failed {
            return None;
        }
        let text = match (page.action, state) {
            (PageAction::Trigger, PageState::Sent) => {
                format!(
                    "Paged {} ({})",
                    page.target,
                    describe_recipient(&page.recipient)
                )
            }
            (PageAction::Trigger, PageState::Skipped) => {
                format!("Page to {}: {outcome}", page.target)
            }
            (PageAction::Trigger, _) => format!("Page to {} failed: {outcome}", page.target),
            (action, _) => format!(
                "Telling {} that the incident was {}d failed: {outcome}",
                page.target,
                action.as_str()
            ),
        };
        let mut data = page_data(page, state.as_str());
        if let Ok(delivery) = delivery {
            data["delivery"] = serde_json::to_value(delivery).unwrap_or_default();
        }
        Some(NewEvent::new(self.now(), kind, self.actor.clone(), text).with_data(data))
    }

    async fn deliver(&self, notifier: &dyn Notifier, page: &Page, incident: &Incident) -> Delivery {
        match page.action {
            PageAction::Trigger => {
                let message = self.message(page, incident);
                notifier.trigger(&message).await
            }
            PageAction::Acknowledge => notifier.acknowledge(&page.dedup_key).await,
            PageAction::Resolve => notifier.resolve(&page.dedup_key).await,
        }
    }

    /// Records outcomes, [`STEPS_PER_WRITE`] per transaction.
    pub(super) async fn record(&self, mut done: Vec<PageDone>) -> Result<(), StoreError> {
        while !done.is_empty() {
            let rest = done.split_off(done.len().min(STEPS_PER_WRITE));
            for (incident, events) in self.ops.store().finish_pages(done).await? {
                self.ops.announce(&incident, &events);
            }
            done = rest;
        }
        Ok(())
    }

    fn message(&self, page: &Page, incident: &Incident) -> PageMessage {
        let config = self.ops.config();
        let recipient = match &page.recipient {
            PageRecipient::DiscordUser {
                user_id,
                schedule,
                via_override,
            } => Recipient::DiscordUser {
                user_id: *user_id,
                schedule: schedule.clone(),
                via_override: *via_override,
            },
            PageRecipient::DiscordRole { role } => Recipient::DiscordRole {
                role: role.clone(),
                role_ids: config.roles.get(role).cloned().unwrap_or_default(),
            },
            PageRecipient::Notifier { name } => Recipient::Notifier {
                name: name.clone(),
                kind: config
                    .notifiers
                    .iter()
                    .find(|notifier| &notifier.name == name)
                    .map_or(NotifierKind::Webhook, |notifier| notifier.kind),
            },
            PageRecipient::Nobody { .. } => unreachable!("pages to nobody fail before delivery"),
        };
        let link = match (config.discord.guild_id, incident.channel_id) {
            (Some(guild), Some(channel)) => {
                Some(format!("https://discord.com/channels/{guild}/{channel}"))
            }
            _ => None,
        };
        PageMessage {
            dedup_key: page.dedup_key.clone(),
            incident_id: incident.id,
            title: incident.title.clone(),
            severity: incident.severity.clone(),
            priority: Priority::of_severity(&config.severities, &incident.severity),
            service: incident.service.clone(),
            level: page.level,
            round: page.round,
            target: page
                .target
                .parse::<Target>()
                .unwrap_or_else(|_| Target::Role(page.target.clone())),
            recipient,
            channel_id: incident.channel_id,
            link,
            drill: incident.drill,
            opened_at: incident.opened_at,
            message: page.message.clone(),
        }
    }
}

/// What a delivery (or the reason there was none) means: the page's state, its outcome
/// text and the kind of its event; counted in the metrics.
fn judge(page: &Page, delivery: &Result<Delivery, String>) -> (PageState, String, EventKind) {
    let channel = recipient_name(&page.recipient);
    match delivery {
        Ok(delivery) if delivery.is_delivered() => {
            crate::metrics::page_sent(&channel);
            (PageState::Sent, delivery.describe(), EventKind::PageSent)
        }
        Ok(delivery) if !delivery.is_failure() => {
            // Unsupported (a Slack webhook cannot acknowledge): nothing to send.
            (PageState::Skipped, delivery.describe(), EventKind::PageSent)
        }
        Ok(delivery) => {
            crate::metrics::page_failed(&channel);
            (
                PageState::Failed,
                delivery.describe(),
                EventKind::PageFailed,
            )
        }
        Err(reason) => {
            crate::metrics::page_failed(&channel);
            (
                PageState::Failed,
                format!("{} could not be paged: {reason}", page.target),
                EventKind::PageFailed,
            )
        }
    }
}

/// The latest acknowledgement, mitigation or resolution of an incident that pages nobody;
/// `None` while it is open (unacknowledged). A page written before it is not sent.
fn stopped_since(incident: &Incident) -> Option<Timestamp> {
    if incident.status == Status::Open {
        return None;
    }
    [
        incident.acknowledged_at,
        incident.mitigated_at,
        incident.resolved_at,
    ]
    .into_iter()
    .flatten()
    .max()
}

fn recipient_name(recipient: &PageRecipient) -> String {
    match recipient {
        PageRecipient::DiscordUser { .. } | PageRecipient::DiscordRole { .. } => {
            "discord".to_owned()
        }
        PageRecipient::Notifier { name } => name.clone(),
        PageRecipient::Nobody { .. } => "nobody".to_owned(),
    }
}

pub(super) fn describe_recipient(recipient: &PageRecipient) -> String {
    match recipient {
        PageRecipient::DiscordUser {
            user_id, schedule, ..
        } => match schedule {
            Some(schedule) => format!("<@{user_id}>, on call in {schedule}"),
            None => format!("<@{user_id}>"),
        },
        PageRecipient::DiscordRole { role } => format!("bot role {role}"),
        PageRecipient::Notifier { name } => format!("notifier {name}"),
        PageRecipient::Nobody { reason } => format!("nobody: {reason}"),
    }
}

fn page_data(page: &Page, state: &str) -> serde_json::Value {
    json!({
        "dedup_key": page.dedup_key,
        "action": page.action,
        "level": page.level,
        "round": page.round,
        "target": page.target,
        "recipient": page.recipient,
        "state": state,
        "attempt": page.attempts,
    })
}
