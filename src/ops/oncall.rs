//! On-call changes from chat (SPEC §2 `/oncall override`, `/oncall swap`): overrides stored in
//! the database beside the file's, applied after them (so the later wins), with who made
//! them; the schedules everything pages and shows by ([`Ops::schedules`]); and handoff
//! notices — a DM to whoever comes on call, once per handoff across processes (the durable
//! timer `handoff:<schedule>` at the next handoff, and the DM outbox keyed
//! `handoff:<schedule>:<start ms>`).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use super::timers::{Fired, TimerHandler};
use super::{Ops, OpsError, Principal};
use crate::config::bot_roles::INCIDENT_COMMANDER;
use crate::domain::{Actor, HANDOFF_TIMER, NewOverride, StoredOverride, Timer, TimerOp, Timestamp};
use crate::escalation::{Override, Schedule, Shift, format_in_zone, parse_instant};

/// How far back stored overrides are read: enough for "who was on call last week", while
/// the table's old rows stay out of every page's read.
const OVERRIDE_LOOKBACK: Duration = Duration::from_secs(7 * 24 * 3600);

/// The longest override accepted from chat: a quarter. Longer cover is a rotation change,
/// which belongs in the config file.
const MAX_OVERRIDE: Duration = Duration::from_secs(92 * 24 * 3600);

/// How far ahead a swap looks for the two people's shifts.
const SWAP_HORIZON: Duration = Duration::from_secs(8 * 7 * 24 * 3600);

/// Slack for "from now": an override starting this little in the past starts now.
const PAST_SLACK: Duration = Duration::from_secs(60);

/// The configured schedules with the stored overrides applied, and who made those.
#[derive(Clone, Debug, Default)]
pub struct OnCall {
    pub schedules: Vec<Schedule>,
    /// Per schedule, the stored overrides in the order applied (after the file's).
    pub made: BTreeMap<String, Vec<StoredOverride>>,
    /// Per schedule, how many of its overrides come from the file.
    from_file: BTreeMap<String, usize>,
}

impl OnCall {
    pub fn schedule(&self, name: &str) -> Option<&Schedule> {
        self.schedules.iter().find(|schedule| schedule.name == name)
    }

    /// Who made the stored override a shift comes from, if it comes from one.
    pub fn made_by(&self, schedule: &str, shift: &Shift) -> Option<&Actor> {
        let crate::escalation::Cover::Override { index } = shift.cover else {
            return None;
        };
        let first_stored = *self.from_file.get(schedule)?;
        let stored = self.made.get(schedule)?;
        stored
            .get(index.checked_sub(first_stored)?)
            .map(|made| &made.created_by)
    }
}

/// An override asked for: `user` on call in `schedule` from `from` to `to` (as typed).
#[derive(Clone, Debug)]
pub struct OverrideRequest<'a> {
    pub schedule: &'a str,
    pub user_id: u64,
    /// Whether the person is a member of the guild, when the caller can tell (Discord).
    pub in_guild: Option<bool>,
    pub from: &'a str,
    pub to: &'a str,
}

fn handoff_timer(schedule: &Schedule, now: Timestamp) -> Option<TimerOp> {
    let next = schedule.shift_at(now).until?;
    Some(TimerOp::set(
        HANDOFF_TIMER,
        schedule.name.clone(),
        next,
        json!({}),
    ))
}

/// `now`, an instant in the schedule's zone, or (for the end) a duration after the start.
fn parse_when(
    text: &str,
    zone: chrono_tz::Tz,
    now: Timestamp,
    after: Option<Timestamp>,
) -> Result<Timestamp, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let (Some(start), Ok(duration)) = (after, crate::config::parse_duration(text))
        && !duration.is_zero()
    {
        return Ok(start.plus(duration));
    }
    parse_instant(text, zone)
}

impl Ops {
    /// The configured schedules with the stored overrides applied.
    pub async fn schedules(&self) -> Result<OnCall, crate::store::StoreError> {
        self.schedules_at(self.clock.now()).await
    }

    /// [`Ops::schedules`] for questions about `at` (`warroom oncall --at`).
    pub async fn schedules_at(&self, at: Timestamp) -> Result<OnCall, crate::store::StoreError> {
        let stored = self.store.overrides(at.minus(OVERRIDE_LOOKBACK)).await?;
        let mut on_call = OnCall {
            schedules: self.config.schedules.clone(),
            ..OnCall::default()
        };
        for schedule in &on_call.schedules {
            on_call
                .from_file
                .insert(schedule.name.clone(), schedule.overrides.len());
        }
        for made in stored {
            let Some(schedule) = on_call
                .schedules
                .iter_mut()
                .find(|schedule| schedule.name == made.schedule)
            else {
                continue;
            };
            schedule.overrides.push(Override {
                start: made.starts_at,
                end: made.ends_at,
                user: made.user_id,
            });
            on_call
                .made
                .entry(made.schedule.clone())
                .or_default()
                .push(made);
        }
        Ok(on_call)
    }

    fn schedule_named<'a>(
        &self,
        on_call: &'a OnCall,
        name: &str,
    ) -> Result<&'a Schedule, OpsError> {
        on_call.schedule(name.trim()).ok_or_else(|| {
            let known: Vec<&str> = on_call.schedules.iter().map(|s| s.name.as_str()).collect();
            OpsError::Invalid(format!(
                "there is no schedule `{}`; {}",
                name.trim(),
                if known.is_empty() {
                    "none are configured: add [schedules.NAME] to the config".to_owned()
                } else {
                    format!("configured: {}", known.join(", "))
                }
            ))
        })
    }

    /// Puts someone on call over a span: incident commanders and admins may, and so may the
    /// person on call at its start, handing over.
    pub async fn override_oncall(
        &self,
        who: &Principal,
        request: OverrideRequest<'_>,
    ) -> Result<StoredOverride, OpsError> {
        let now = self.clock.now();
        let on_call = self.schedules().await?;
        let schedule = self.schedule_named(&on_call, request.schedule)?;
        if request.in_guild == Some(false) {
            return Err(OpsError::Invalid(format!(
                "<@{}> is not a member of this server, so they could not be paged; pick someone who is",
                request.user_id
            )));
        }
        let zone = schedule.timezone;
        let from = parse_when(request.from, zone, now, None)
            .map_err(|error| OpsError::Invalid(format!("from: {error}")))?;
        let to = parse_when(request.to, zone, now, Some(from)).map_err(|error| {
            OpsError::Invalid(format!("to: {error}; or a duration after from, like 8h"))
        })?;
        let from = check_span(schedule, from, to, now)?;
        let handing_over = who
            .actor
            .discord_user_id()
            .is_some_and(|me| schedule.on_call_at(from) == Some(me));
        if !who.holds(INCIDENT_COMMANDER) && !handing_over {
            return Err(OpsError::Forbidden {
                role: INCIDENT_COMMANDER.to_owned(),
                action: "change who is on call (or be the one on call then, handing over)",
            });
        }
        let new = NewOverride {
            schedule: schedule.name.clone(),
            user_id: request.user_id,
            starts_at: from,
            ends_at: to,
            created_by: who.actor.clone(),
            created_at: now,
        };
        let mut stored = self.store_overrides(schedule, vec![new], now).await?;
        Ok(stored.remove(0))
    }

    /// Swaps shifts: `who`'s next shift (or the one in progress) goes to `with`, and
    /// `with`'s next one to `who`.
    pub async fn swap_oncall(
        &self,
        who: &Principal,
        schedule: &str,
        with: u64,
        with_in_guild: Option<bool>,
    ) -> Result<Vec<StoredOverride>, OpsError> {
        let now = self.clock.now();
        let on_call = self.schedules().await?;
        let schedule = self.schedule_named(&on_call, schedule)?;
        let Some(me) = who.actor.discord_user_id() else {
            return Err(OpsError::Invalid(
                "only a person on call can swap their shift; use /oncall override to put someone on call".to_owned(),
            ));
        };
        if with_in_guild == Some(false) {
            return Err(OpsError::Invalid(format!(
                "<@{with}> is not a member of this server, so they could not be paged; pick someone who is"
            )));
        }
        if with == me {
            return Err(OpsError::Invalid(
                "you cannot swap with yourself; pick someone else".to_owned(),
            ));
        }
        let mine = next_shift_of(schedule, me, now).ok_or_else(|| {
            OpsError::Invalid(format!(
                "you have no shift in {} within the next 8 weeks, so there is nothing to swap",
                schedule.name
            ))
        })?;
        let theirs = next_shift_of(schedule, with, now).ok_or_else(|| {
            OpsError::Invalid(format!(
                "<@{with}> has no shift in {} within the next 8 weeks to take in exchange; use /oncall override to hand yours over",
                schedule.name
            ))
        })?;
        let span = |shift: (Timestamp, Timestamp), user: u64| NewOverride {
            schedule: schedule.name.clone(),
            user_id: user,
            starts_at: shift.0.max(now),
            ends_at: shift.1,
            created_by: who.actor.clone(),
            created_at: now,
        };
        self.store_overrides(schedule, vec![span(mine, with), span(theirs, me)], now)
            .await
    }

    async fn store_overrides(
        &self,
        schedule: &Schedule,
        overrides: Vec<NewOverride>,
        now: Timestamp,
    ) -> Result<Vec<StoredOverride>, OpsError> {
        // The next handoff moves with the new cover, in the same transaction; when the cover
        // changes at once, the handoff is now (whoever comes on call is told at once).
        let mut after = schedule.clone();
        after.overrides.extend(overrides.iter().map(|new| Override {
            start: new.starts_at,
            end: new.ends_at,
            user: new.user_id,
        }));
        let timers = if after.on_call_at(now) == schedule.on_call_at(now) {
            handoff_timer(&after, now).into_iter().collect()
        } else {
            vec![TimerOp::set(
                HANDOFF_TIMER,
                after.name.clone(),
                now,
                json!({}),
            )]
        };
        let stored = self.store.add_overrides(overrides, timers).await?;
        self.announce_run();
        Ok(stored)
    }

    /// Arms every schedule's next handoff that has no timer pending (start-up).
    pub async fn arm_handoffs(&self) -> Result<(), OpsError> {
        let now = self.clock.now();
        let on_call = self.schedules().await?;
        for schedule in &on_call.schedules {
            if let Some(op) = handoff_timer(schedule, now) {
                self.store.arm_timer_unless_pending(op).await?;
            }
        }
        Ok(())
    }

    /// A handoff came: a DM to whoever comes on call, once (the outbox key names the
    /// schedule and the shift's start).
    async fn hand_off(&self, name: &str, at: Timestamp) -> Result<Fired, OpsError> {
        let on_call = self.schedules().await?;
        let Some(schedule) = on_call.schedule(name) else {
            return Ok(Fired::Done);
        };
        let shift = schedule.shift_at(at);
        let before = schedule.on_call_at(at.minus(Duration::from_millis(1)));
        if let (Some(user), Some(since)) = (shift.user, shift.since)
            && since == at
            && before != Some(user)
        {
            let content = handoff_text(schedule, &shift);
            let key = format!("handoff:{name}:{}", since.as_millis());
            self.store
                .queue_dm(&key, user, &content, self.clock.now())
                .await?;
            self.announce_run();
        }
        Ok(match shift.until {
            Some(until) => Fired::Again(until),
            None => Fired::Done,
        })
    }
}

/// Refuses a span that ends before it starts, has ended, or is too long; a start just
/// passed becomes now.
fn check_span(
    schedule: &Schedule,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
) -> Result<Timestamp, OpsError> {
    let local = |at| format_in_zone(schedule.timezone, at);
    if to <= from {
        return Err(OpsError::Invalid(format!(
            "the override ends ({}) before it starts ({}); give a `to` after `from`",
            local(to),
            local(from)
        )));
    }
    if to <= now {
        return Err(OpsError::Invalid(format!(
            "the override ends in the past ({}); overrides are for now or later",
            local(to)
        )));
    }
    if from < now.minus(PAST_SLACK) {
        return Err(OpsError::Invalid(format!(
            "the override starts in the past ({}); start it `now` or later",
            local(from)
        )));
    }
    if to.since(from) > MAX_OVERRIDE {
        return Err(OpsError::Invalid(
            "an override from chat covers at most 92 days; change the rotation in the config for longer".to_owned(),
        ));
    }
    Ok(from.max(now))
}

/// The first shift of `user` in progress at or starting after `now`, within the horizon.
fn next_shift_of(schedule: &Schedule, user: u64, now: Timestamp) -> Option<(Timestamp, Timestamp)> {
    let horizon = now.plus(SWAP_HORIZON);
    let mut at = now;
    while at < horizon {
        let shift = schedule.shift_at(at);
        let until = shift.until?;
        if shift.user == Some(user) {
            return Some((shift.since.unwrap_or(at).max(now), until));
        }
        at = until;
    }
    None
}

/// "You are on call for primary until …; next: …".
fn handoff_text(schedule: &Schedule, shift: &Shift) -> String {
    let mut text = format!("📟 You are on call for **{}**", schedule.name);
    match shift.until {
        Some(until) => {
            text.push_str(&format!(
                " until {} (<t:{}:f>)",
                format_in_zone(schedule.timezone, until),
                until.as_unix_seconds()
            ));
            match schedule.shift_at(until).user {
                Some(next) => text.push_str(&format!(", when <@{next}> takes over.")),
                None => text.push_str(", when nobody takes over (a gap in the schedule)."),
            }
        }
        None => text.push_str(" with no end in sight."),
    }
    text.push_str(" `/oncall show` says who else is on call.");
    text
}

/// Fires `handoff:<schedule>` at each handoff.
pub struct HandoffTimer;

#[async_trait]
impl TimerHandler for HandoffTimer {
    fn kind(&self) -> &'static str {
        HANDOFF_TIMER
    }

    async fn fire(&self, ops: &Ops, timer: &Timer, _now: Timestamp) -> Result<Fired, OpsError> {
        ops.hand_off(&timer.subject, timer.due_at).await
    }
}
