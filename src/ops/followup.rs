//! After the incident (SPEC §1 "Review and action item"): the review a resolution creates,
//! its meeting, and follow-up action items; and the timers that remind their owners once
//! they are overdue. Every change is a timeline event (the store derives the review and
//! action-item rows from it in the same transaction) plus the timers it sets or cancels.

use std::time::Duration;

use async_trait::async_trait;
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::timers::{Fired, TimerHandler};
use super::{Ops, OpsError, Permission, Principal, authorize};
use crate::domain::{
    ACTION_DUE_TIMER, Action, ActionItem, Actor, EventKind, Incident, IncidentId, NewEvent,
    REVIEW_DUE_TIMER, Review, Status, TEXT_LIMIT, Timer, TimerOp, Timestamp, action_label,
};
use crate::store::{Change, EscalationEffect};

/// How long a review meeting's Scheduled Event lasts (Discord needs an end for external
/// events).
pub const REVIEW_MEETING_LENGTH: Duration = Duration::from_secs(60 * 60);

/// When a review meeting starting at `start` ends.
pub fn meeting_end(start: Timestamp) -> Timestamp {
    start.plus(REVIEW_MEETING_LENGTH)
}

/// What `/incident review` asks for; nothing at all shows the review.
#[derive(Clone, Debug, Default)]
pub struct ReviewRequest {
    /// When the review meeting is (a time, see [`parse_when`]).
    pub when: Option<String>,
    /// Who owns the review: a Discord user id or mention.
    pub owner: Option<String>,
    pub done: bool,
}

/// What `/incident action add` asks for.
#[derive(Clone, Debug, Default)]
pub struct ActionRequest {
    pub text: String,
    /// A Discord user id or mention.
    pub owner: String,
    /// A date or time, see [`parse_when`].
    pub due: String,
}

/// The timers and event data of a status transition for the incident's review: resolving
/// creates the review (owner: the commander, else whoever resolved; due `due`) and arms its
/// reminder; reopening disarms the reminder.
pub(super) fn review_on_transition(
    current: &Incident,
    action: Action,
    actor: &Actor,
    due: Timestamp,
    data: &mut Value,
) -> Vec<TimerOp> {
    let subject = current.id.to_string();
    match action {
        Action::Resolve => {
            let owner = current.commander().unwrap_or(actor).clone();
            data["review"] = json!({"owner": owner, "due_at": due.as_millis()});
            vec![TimerOp::set(REVIEW_DUE_TIMER, subject, due, json!({}))]
        }
        Action::Reopen => vec![TimerOp::cancel(REVIEW_DUE_TIMER, subject)],
        Action::Acknowledge | Action::Mitigate => Vec::new(),
    }
}

/// A Discord user id as people give it: `123456789012345678`, `<@123…>`, `<@!123…>` or
/// `discord:123…`.
pub fn parse_discord_user(text: &str) -> Result<u64, OpsError> {
    let trimmed = text.trim();
    let digits = trimmed
        .strip_prefix("<@!")
        .or_else(|| trimmed.strip_prefix("<@"))
        .and_then(|rest| rest.strip_suffix('>'))
        .or_else(|| trimmed.strip_prefix("discord:"))
        .unwrap_or(trimmed);
    match digits.parse::<u64>() {
        Ok(id) if id > 0 && digits.len() >= 15 => Ok(id),
        _ => Err(OpsError::Invalid(format!(
            "`{trimmed}` is not a Discord user id; give the person's numeric id (Discord: Developer Mode, right-click → Copy User ID) or mention them"
        ))),
    }
}

/// A time as people give it: RFC 3339 (`2026-12-24T18:00:00+01:00`), a UTC date and time
/// (`2026-12-24 18:00`), a UTC date (`2026-12-24`, its end: 23:59:59) or a span from `now`
/// (`2d`, `in 3h`).
pub fn parse_when(what: &str, text: &str, now: Timestamp) -> Result<Timestamp, OpsError> {
    let trimmed = text.trim();
    let span = trimmed.strip_prefix("in ").unwrap_or(trimmed);
    if let Ok(span) = crate::config::parse_duration(span)
        && !span.is_zero()
        && trimmed.chars().any(char::is_alphabetic)
    {
        return Ok(now.plus(span));
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(trimmed, "%Y-%m-%d") {
        let end = date.and_hms_opt(23, 59, 59).expect("a valid time of day");
        return Ok(Timestamp::from_datetime(end.and_utc()));
    }
    crate::escalation::parse_instant(trimmed, Tz::UTC).map_err(|_| {
        OpsError::Invalid(format!(
            "the {what} `{trimmed}` is not a time; write 2026-12-24T18:00:00Z, 2026-12-24 18:00 (UTC), 2026-12-24 or a span like 2d"
        ))
    })
}

impl Ops {
    /// How long after resolution an incident of `severity` is to be reviewed.
    pub(super) fn review_within(&self, severity: &str) -> Duration {
        self.config
            .severity(severity)
            .map_or(Duration::from_secs(7 * 24 * 3600), |severity| {
                severity.review_within
            })
    }

    /// The Discord user `user_id` as an actor, named from `[people]` when known.
    fn discord_actor(&self, user_id: u64) -> Actor {
        Actor::discord(user_id, self.config.people.display_name(user_id))
    }

    /// The incident's review (none before its first resolution).
    pub async fn show_review(
        &self,
        who: &Principal,
        id: IncidentId,
    ) -> Result<Option<Review>, OpsError> {
        let incident = self.incident(id).await?;
        authorize(who, Permission::View, Some(&incident))?;
        Ok(self.store.review(id).await?)
    }

    /// Schedules (or moves) the review meeting, hands the review to another owner, or marks it
    /// done; with nothing asked, shows it.
    pub async fn review(
        &self,
        who: &Principal,
        id: IncidentId,
        request: ReviewRequest,
    ) -> Result<Review, OpsError> {
        let incident = self.incident(id).await?;
        let asked = request.when.is_some() || request.owner.is_some() || request.done;
        if !asked {
            authorize(who, Permission::View, Some(&incident))?;
        } else {
            authorize(who, Permission::Review, Some(&incident))?;
        }
        let review = self.store.review(id).await?.ok_or_else(|| {
            OpsError::Invalid(format!(
                "{id} has no review yet: it is {}; its review is created when it is resolved",
                incident.status
            ))
        })?;
        if !asked {
            return Ok(review);
        }
        let now = self.clock.now();
        let when = request
            .when
            .as_deref()
            .map(|text| parse_when("meeting time", text, now))
            .transpose()?;
        if let Some(when) = when
            && when <= now
        {
            return Err(OpsError::Invalid(format!(
                "the review meeting time {} is in the past (it is {} now); pick a time ahead",
                when.human(),
                now.human()
            )));
        }
        let owner = request
            .owner
            .as_deref()
            .map(parse_discord_user)
            .transpose()?
            .map(|user| self.discord_actor(user));
        if let (Some(done_at), true) = (review.done_at, asked) {
            return Err(OpsError::Invalid(format!(
                "the review of {id} was done at {}; nothing more to change",
                done_at.human()
            )));
        }
        let mut events = Vec::new();
        if when.is_some() || owner.is_some() {
            let mut text = format!("Review of {id}");
            if let Some(when) = when {
                text.push_str(&format!(" scheduled for {}", when.human()));
            }
            if let Some(owner) = &owner {
                text.push_str(&format!(
                    "{} owned by {}",
                    if when.is_some() { ";" } else { "" },
                    owner.name
                ));
            }
            events.push(
                NewEvent::new(now, EventKind::ReviewScheduled, who.actor.clone(), text).with_data(
                    json!({
                        "when": when.map(Timestamp::as_millis),
                        "end": when.map(|when| when.plus(REVIEW_MEETING_LENGTH).as_millis()),
                        "owner": owner,
                    }),
                ),
            );
        }
        let mut timers = Vec::new();
        if request.done {
            events.push(NewEvent::new(
                now,
                EventKind::ReviewDone,
                who.actor.clone(),
                format!("Review of {id} done"),
            ));
            timers.push(TimerOp::cancel(REVIEW_DUE_TIMER, id.to_string()));
        }
        self.write_followup(id, events, timers).await?;
        self.store
            .review(id)
            .await?
            .ok_or_else(|| OpsError::Invalid(format!("{id} lost its review")))
    }

    /// Adds an action item to an incident (resolved or not).
    pub async fn add_action_item(
        &self,
        who: &Principal,
        id: IncidentId,
        request: ActionRequest,
    ) -> Result<ActionItem, OpsError> {
        let incident = self.incident(id).await?;
        authorize(who, Permission::TrackActions, Some(&incident))?;
        let text = super::incidents::optional_text("action item", Some(&request.text), TEXT_LIMIT)?
            .ok_or_else(|| {
                OpsError::Invalid("the action item is empty; say what is to be done".to_owned())
            })?;
        let owner = self.discord_actor(parse_discord_user(&request.owner)?);
        let now = self.clock.now();
        let due = parse_when("due date", &request.due, now)?;
        if due <= now {
            return Err(OpsError::Invalid(format!(
                "the due date {} is in the past (it is {} now); give a date ahead",
                due.human(),
                now.human()
            )));
        }
        // Numbers are taken under the incident's lock: two adds at once collide on the event
        // key, and the second takes the next number.
        for _ in 0..5 {
            let number = self.store.action_items(id).await?.len() as i64 + 1;
            let label = action_label(id, number);
            let event = NewEvent::new(
                now,
                EventKind::ActionItemAdded,
                who.actor.clone(),
                format!(
                    "Action item {label} for {} due {}: {text}",
                    owner.name,
                    due.human()
                ),
            )
            .with_data(json!({
                "number": number,
                "text": text,
                "owner": owner,
                "due_at": due.as_millis(),
            }))
            .with_key(format!("action-item:{number}"));
            let timer = TimerOp::set(ACTION_DUE_TIMER, label, due, json!({}));
            if !self.write_followup(id, vec![event], vec![timer]).await? {
                return self.action_item(id, number).await;
            }
        }
        Err(OpsError::Unavailable(
            "too many action items were added at once; try again".to_owned(),
        ))
    }

    /// Marks action item `number` of the incident done.
    pub async fn finish_action_item(
        &self,
        who: &Principal,
        id: IncidentId,
        number: i64,
    ) -> Result<ActionItem, OpsError> {
        let incident = self.incident(id).await?;
        authorize(who, Permission::TrackActions, Some(&incident))?;
        let item = self.action_item(id, number).await?;
        if let Some(done_at) = item.done_at {
            return Err(OpsError::Invalid(format!(
                "action item {} was already done at {}; nothing to change",
                item.label(),
                done_at.human()
            )));
        }
        let label = item.label();
        let event = NewEvent::new(
            self.clock.now(),
            EventKind::ActionItemDone,
            who.actor.clone(),
            format!("Action item {label} done: {}", item.text),
        )
        .with_data(json!({"number": number}))
        .with_key(format!("action-item-done:{number}"));
        let timer = TimerOp::cancel(ACTION_DUE_TIMER, label);
        self.write_followup(id, vec![event], vec![timer]).await?;
        self.action_item(id, number).await
    }

    /// The incident's action items.
    pub async fn action_items(
        &self,
        who: &Principal,
        id: IncidentId,
    ) -> Result<Vec<ActionItem>, OpsError> {
        let incident = self.incident(id).await?;
        authorize(who, Permission::View, Some(&incident))?;
        Ok(self.store.action_items(id).await?)
    }

    async fn action_item(&self, id: IncidentId, number: i64) -> Result<ActionItem, OpsError> {
        self.store
            .action_items(id)
            .await?
            .into_iter()
            .find(|item| item.number == number)
            .ok_or_else(|| {
                OpsError::Invalid(format!(
                    "{id} has no action item {number}; `incident action list {id}` shows its items"
                ))
            })
    }

    /// Writes follow-up events with their timers in one transaction; true when an event's key
    /// already existed (nothing written).
    async fn write_followup(
        &self,
        id: IncidentId,
        events: Vec<NewEvent>,
        timers: Vec<TimerOp>,
    ) -> Result<bool, OpsError> {
        let decide = |current: &Incident| {
            Ok(Change {
                incident: current.clone(),
                events: events.clone(),
                escalation: EscalationEffect::None,
                timers: timers.clone(),
            })
        };
        let written = self.store.update_incident(id, &decide).await?;
        if !written.duplicate {
            self.announce(&written.incident, &written.events);
        }
        Ok(written.duplicate)
    }

    /// Records a reminder on the incident's timeline (once per timer firing) and queues a DM
    /// to `owner` under `dm_key` (once per decision).
    async fn remind(
        &self,
        id: IncidentId,
        timer: &Timer,
        owner: &Actor,
        dm_key: String,
        text: String,
        about: &str,
    ) -> Result<(), OpsError> {
        let now = self.clock.now();
        if let Some(user) = owner.discord_user_id() {
            self.store.queue_dm(&dm_key, user, &text, now).await?;
        }
        let event = NewEvent::new(
            now,
            EventKind::Reminder,
            crate::domain::Actor::system(),
            text,
        )
        .with_data(json!({"about": about, "owner": owner, "timer": timer.kind}))
        .with_key(format!(
            "reminder:{}:{}:{}",
            timer.kind, timer.subject, timer.fires
        ));
        self.append(id, vec![event]).await?;
        Ok(())
    }
}

/// Reminds a review's owner once its due date passed and it is not done.
#[derive(Debug)]
pub struct ReviewDue;

#[async_trait]
impl TimerHandler for ReviewDue {
    fn kind(&self) -> &'static str {
        REVIEW_DUE_TIMER
    }

    async fn fire(&self, ops: &Ops, timer: &Timer, _now: Timestamp) -> Result<Fired, OpsError> {
        let Ok(id) = timer.subject.parse::<IncidentId>() else {
            return Ok(Fired::Done);
        };
        let (Some(review), Some(incident)) = (
            ops.store.review(id).await?,
            ops.store.get_incident(id).await?,
        ) else {
            return Ok(Fired::Done);
        };
        if review.is_done() || incident.status != Status::Resolved {
            return Ok(Fired::Done);
        }
        let text = format!(
            "The post-incident review of {id} ({}) was due {} and is not done yet. Hold it, then mark it with `/incident review done:True`.",
            incident.title,
            review.due_at.human()
        );
        ops.remind(
            id,
            timer,
            &review.owner,
            format!("review-overdue:{id}"),
            text,
            "review",
        )
        .await?;
        Ok(Fired::Done)
    }
}

/// Reminds an action item's owner by DM once it is overdue and not done.
#[derive(Debug)]
pub struct ActionItemDue;

#[async_trait]
impl TimerHandler for ActionItemDue {
    fn kind(&self) -> &'static str {
        ACTION_DUE_TIMER
    }

    async fn fire(&self, ops: &Ops, timer: &Timer, _now: Timestamp) -> Result<Fired, OpsError> {
        let Some((incident, number)) = timer.subject.split_once('#') else {
            return Ok(Fired::Done);
        };
        let (Ok(id), Ok(number)) = (incident.parse::<IncidentId>(), number.parse::<i64>()) else {
            return Ok(Fired::Done);
        };
        let Ok(item) = ops.action_item(id, number).await else {
            return Ok(Fired::Done);
        };
        if item.is_done() {
            return Ok(Fired::Done);
        }
        let text = format!(
            "Action item {} from {id} was due {} and is not done: {}. When it is, mark it with `/incident action done id:{number}`.",
            item.label(),
            item.due_at.human(),
            item.text
        );
        let key = format!("action-overdue:{}", item.label());
        ops.remind(id, timer, &item.owner, key, text, "action_item")
            .await?;
        Ok(Fired::Done)
    }
}
