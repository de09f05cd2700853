//! On-call calendar feeds: a schedule's shifts, or one person's across every schedule, as
//! iCalendar (RFC 5545) for a calendar app to subscribe to. Read-only, opened by a feed
//! token (`notify::links`), built from the config's rotations and overrides.
//!
//! Times are written in UTC (`DTSTART:20260329T070000Z`): an instant means the same in every
//! calendar, so a handoff at 09:00 Berlin is right on both sides of a daylight-saving change
//! without shipping time zone rules; `X-WR-TIMEZONE` names the schedule's zone for display.
//! Each shift's `UID` is made of its schedule, person and start, so refreshing the feed
//! updates the same events instead of adding new ones, and a changed shift replaces its own.

use std::time::Duration;

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike};
use sha2::{Digest, Sha256};

use super::Ops;
use crate::domain::Timestamp;
use crate::escalation::{Cover, Schedule, Shift};
use crate::notify::links::Feed;

/// Weeks ahead a feed covers unless `weeks` asks otherwise: two months of shifts is what a
/// person plans around.
pub const FEED_WEEKS: u32 = 8;
/// The most weeks a feed covers: half a year, beyond which a rotation is guesswork.
pub const MAX_FEED_WEEKS: u32 = 26;
/// How far back a feed starts: the shift in progress and the past week stay visible.
pub const FEED_HISTORY: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// The most shifts one schedule contributes: an hourly rotation over 26 weeks is 4,368.
const MAX_SHIFTS_PER_SCHEDULE: usize = 5_000;

/// Why a feed was not served.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    #[error(
        "calendar feeds are not set up here: [http] public_url and the secret in [http] ack_secret_env are needed"
    )]
    NotConfigured,
    #[error(
        "the feed token is missing or wrong; `warroom feed` prints this feed's URL with its token"
    )]
    BadToken,
    #[error("there is no schedule `{0}`; `warroom oncall` lists the schedules")]
    NoSuchSchedule(String),
    #[error("weeks must be between 1 and {MAX_FEED_WEEKS}")]
    BadWeeks,
    /// The overrides made from chat could not be read.
    #[error("the database failed: {0}; try again in a moment")]
    Store(String),
}

impl Ops {
    /// The feed of schedule `name`, if `token` opens it.
    pub async fn schedule_feed(
        &self,
        name: &str,
        token: &str,
        weeks: Option<u32>,
    ) -> Result<String, FeedError> {
        self.open_feed(&Feed::Schedule(name.to_owned()), token)?;
        let on_call = self.feed_schedules().await?;
        let schedule = on_call
            .schedule(name)
            .ok_or_else(|| FeedError::NoSuchSchedule(name.to_owned()))?;
        let (from, until) = self.feed_window(weeks)?;
        let mut calendar = calendar(
            &format!("On call: {name}"),
            schedule.timezone.name(),
            &format!("Who is on call in warroom schedule {name}"),
        );
        for shift in shifts(schedule, from, until) {
            if let Some(user) = shift.user {
                let who = self.config.people.display_name(user);
                calendar.push(event(
                    schedule,
                    &shift,
                    user,
                    &format!("On call: {who}"),
                    from,
                ));
            }
        }
        Ok(calendar.to_string())
    }

    /// The feed of Discord user `user_id`'s shifts in every schedule, if `token` opens it.
    pub async fn person_feed(
        &self,
        user_id: u64,
        token: &str,
        weeks: Option<u32>,
    ) -> Result<String, FeedError> {
        self.open_feed(&Feed::Person(user_id), token)?;
        let (from, until) = self.feed_window(weeks)?;
        let who = self.config.people.display_name(user_id);
        let mut calendar = calendar(
            &format!("On call: {who}"),
            "UTC",
            &format!("When {who} is on call in warroom"),
        );
        let on_call = self.feed_schedules().await?;
        for schedule in &on_call.schedules {
            for shift in shifts(schedule, from, until) {
                if shift.user == Some(user_id) {
                    calendar.push(event(
                        schedule,
                        &shift,
                        user_id,
                        &format!("On call: {}", schedule.name),
                        from,
                    ));
                }
            }
        }
        Ok(calendar.to_string())
    }

    /// The schedules with the overrides made from chat, as everything else sees them.
    async fn feed_schedules(&self) -> Result<super::OnCall, FeedError> {
        self.schedules()
            .await
            .map_err(|error| FeedError::Store(error.to_string()))
    }

    fn open_feed(&self, feed: &Feed, token: &str) -> Result<(), FeedError> {
        let links = self
            .config
            .links
            .links
            .as_ref()
            .ok_or(FeedError::NotConfigured)?;
        if links.check_feed_token(feed, token) {
            Ok(())
        } else {
            Err(FeedError::BadToken)
        }
    }

    fn feed_window(&self, weeks: Option<u32>) -> Result<(Timestamp, Timestamp), FeedError> {
        let weeks = weeks.unwrap_or(FEED_WEEKS);
        if !(1..=MAX_FEED_WEEKS).contains(&weeks) {
            return Err(FeedError::BadWeeks);
        }
        let now = self.clock.now();
        let from = Timestamp::from_millis(
            now.as_millis() - i64::try_from(FEED_HISTORY.as_millis()).unwrap_or(i64::MAX),
        );
        Ok((
            from,
            now.plus(Duration::from_secs(u64::from(weeks) * 7 * 24 * 60 * 60)),
        ))
    }
}

/// Every shift of `schedule` overlapping `[from, until)`, gaps included, in order.
fn shifts(schedule: &Schedule, from: Timestamp, until: Timestamp) -> Vec<Shift> {
    let mut shifts = Vec::new();
    let mut at = from;
    while at < until && shifts.len() < MAX_SHIFTS_PER_SCHEDULE {
        let shift = schedule.shift_at(at);
        let next = shift.until;
        shifts.push(shift);
        match next {
            Some(next) if next > at => at = next,
            _ => break,
        }
    }
    shifts
}

fn calendar(name: &str, timezone: &str, description: &str) -> Calendar {
    let mut calendar = Calendar::empty();
    calendar
        .append_property(("VERSION", "2.0"))
        .append_property(("PRODID", "-//warroom//on-call feed//EN"))
        .append_property(("CALSCALE", "GREGORIAN"))
        .append_property(("METHOD", "PUBLISH"))
        .name(name)
        .description(description)
        .timezone(timezone);
    calendar
}

fn utc(at: Timestamp) -> DateTime<Utc> {
    at.to_datetime()
}

/// One shift as an event. Its UID stays the same for the same schedule, person and start.
/// A shift that has always been (an override-only schedule never has one with a person, but
/// the rotation code allows it) starts at `window_start`.
fn event(
    schedule: &Schedule,
    shift: &Shift,
    user: u64,
    summary: &str,
    window_start: Timestamp,
) -> Event {
    let start = shift.since.unwrap_or(window_start);
    let end = shift.until.unwrap_or(start);
    let digest = Sha256::digest(format!("{}\n{user}\n{}", schedule.name, start.as_millis()));
    let uid = format!("{}@warroom", hex::encode(&digest[..16]));
    let why = match shift.cover {
        Cover::Override { .. } => "an override",
        Cover::Rotation { .. } => "the rotation",
        Cover::Nobody => "nobody",
    };
    let description = format!(
        "Schedule {} ({}), on call by {why}, from {} to {}.",
        schedule.name,
        schedule.timezone.name(),
        schedule.local(start),
        schedule.local(end)
    );
    Event::new()
        .uid(&uid)
        .summary(summary)
        .description(&description)
        .starts(utc(start))
        .ends(utc(end))
        // DTSTAMP: the shift's own start rather than the wall clock, so an unchanged shift
        // reads byte for byte the same on every refresh.
        .timestamp(utc(start))
        .add_property("TRANSP", "TRANSPARENT")
        .done()
}
