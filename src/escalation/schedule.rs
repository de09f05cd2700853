//! On-call schedules: a rotation of Discord users handing off at a local time of day in an
//! IANA time zone, plus time-bounded overrides; answers "who is on call at T" and "who next".
//!
//! # The rules, precisely
//!
//! - **Turns.** A rotation's members take turns in list order. Turn 0 belongs to the first
//!   member and begins at `handoff` (local time) on the `start` date; turn `k` belongs to
//!   member `k mod n`. The rotation is periodic in both directions: `start` fixes its phase,
//!   and times before it are answered by counting back, so a rotation never leaves a hole.
//! - **Periods.** `daily`, `weekly` and any whole number of days (`"3d"`, `"14d"`) count
//!   calendar days in the schedule's zone, so the handoff keeps its local time of day across
//!   daylight-saving changes (09:00 Berlin is 08:00 UTC in winter and 07:00 UTC in summer).
//!   Any other duration (`"12h"`, `"36h"`) counts elapsed time from turn 0's handoff, so each
//!   turn lasts exactly that long and the local handoff time moves by an hour across a change.
//! - **Local times that do not exist or happen twice.** On the day clocks spring forward, a
//!   handoff inside the skipped hour (02:30 in Berlin) happens later by the length of the gap
//!   (03:30 local, the same instant as 02:30 under the old offset); on the day clocks fall
//!   back, a handoff inside the repeated hour happens at its first occurrence. This is the
//!   rule of RFC 5545 and of `java.time`, so other tools agree with warroom.
//! - **Overrides.** An override puts one user on call over `[start, end)`, replacing the
//!   rotation. When overrides overlap, the one listed later in the file wins, so a short
//!   swap can be written on top of a long cover.
//! - **Gaps.** A schedule has a gap at an instant when nobody is on call there. A schedule
//!   with rotation members never has one; a schedule without members (override-only) is
//!   covered only inside its overrides, so it always has gaps: before the first override,
//!   after the last, and wherever consecutive overrides leave a hole. [`Schedule::gaps`]
//!   lists them.

use std::time::Duration;

use chrono::offset::LocalResult;
use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::domain::Timestamp;

/// How far back [`resolve_local`] looks for the offset in force before a skipped local time.
/// Real transitions skip at most a day (Samoa, 2011), so two days always reaches before it.
const MAX_SKIPPED_LOCAL_TIME: chrono::Duration = chrono::Duration::hours(48);

/// A named schedule: an optional rotation, overrides, and the zone its local times are in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub name: String,
    /// The zone of the rotation's handoff time and of overrides written without an offset.
    pub timezone: Tz,
    /// `None` for an override-only schedule (which always has gaps, see the module docs).
    pub rotation: Option<Rotation>,
    /// In file order: a later override wins where two overlap.
    pub overrides: Vec<Override>,
}

/// Members taking turns, handing off at a local time of day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// Discord user ids, in turn order; never empty.
    pub members: Vec<u64>,
    pub period: Period,
    /// The local time of day at which a turn begins.
    pub handoff: NaiveTime,
    /// The local date on which turn 0 (the first member's) begins; it fixes the phase.
    pub start: NaiveDate,
}

/// How long one turn lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// Calendar days in the schedule's zone: `daily` is 1, `weekly` is 7. Keeps local time.
    Days(u32),
    /// Exactly this much elapsed time, whatever the clocks on the wall do.
    Elapsed(Duration),
}

impl Period {
    /// `daily`, `weekly`, or a duration; whole days become [`Period::Days`].
    pub fn parse(text: &str) -> Result<Period, String> {
        match text.trim() {
            "daily" => return Ok(Period::Days(1)),
            "weekly" => return Ok(Period::Days(7)),
            _ => {}
        }
        let duration = crate::config::parse_duration(text).map_err(|_| {
            format!("`{text}` is not a rotation period; write \"daily\", \"weekly\" or a duration such as \"3d\" or \"12h\"")
        })?;
        if duration < MIN_ROTATION_PERIOD {
            return Err(format!(
                "`{text}` is too short for a rotation; turns last at least {} so that people can hand off",
                humantime::format_duration(MIN_ROTATION_PERIOD)
            ));
        }
        const DAY: u64 = 86_400;
        if duration.as_secs() % DAY == 0 && duration.subsec_nanos() == 0 {
            let days = u32::try_from(duration.as_secs() / DAY)
                .map_err(|_| format!("`{text}` is longer than any rotation needs"))?;
            return Ok(Period::Days(days));
        }
        Ok(Period::Elapsed(duration))
    }

    pub fn describe(self) -> String {
        match self {
            Period::Days(1) => "daily".to_owned(),
            Period::Days(7) => "weekly".to_owned(),
            Period::Days(days) => format!("every {days} days"),
            Period::Elapsed(duration) => {
                format!("every {}", humantime::format_duration(duration))
            }
        }
    }
}

/// The shortest rotation turn accepted: shorter turns are a typo (`"12m"` for `"12h"`) far
/// more often than a plan, and nobody can hand off on-call duty every few minutes.
pub const MIN_ROTATION_PERIOD: Duration = Duration::from_secs(60 * 60);

/// One user on call over `[start, end)`, replacing the rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Override {
    pub start: Timestamp,
    pub end: Timestamp,
    pub user: u64,
}

impl Override {
    pub fn covers(&self, at: Timestamp) -> bool {
        self.start <= at && at < self.end
    }
}

/// Why someone (or nobody) is on call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Cover {
    /// The rotation's turn number `turn` (0 begins on the start date; negative is earlier).
    Rotation { turn: i64 },
    /// The override at this index of the schedule's list (0-based).
    Override { index: usize },
    /// A gap: nobody.
    Nobody,
}

/// A stretch of time with one person (or nobody) on call for one reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Shift {
    /// The Discord user id on call, `None` in a gap.
    #[serde(serialize_with = "crate::domain::discord_ids::optional")]
    pub user: Option<u64>,
    pub cover: Cover,
    /// When this shift began; `None` for a gap that has always been.
    pub since: Option<Timestamp>,
    /// When it ends (the next handoff); `None` for a gap that never ends.
    pub until: Option<Timestamp>,
}

impl Shift {
    pub fn via_override(&self) -> bool {
        matches!(self.cover, Cover::Override { .. })
    }
}

/// A stretch with nobody on call; open-ended on either side when `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// The instant of `local` in `zone`, by the DST rule of the module docs: a repeated local
/// time means its first occurrence; a skipped one moves later by the length of the gap.
pub fn resolve_local(zone: Tz, local: NaiveDateTime) -> Timestamp {
    let at = match zone.from_local_datetime(&local) {
        LocalResult::Single(at) => at.with_timezone(&Utc),
        LocalResult::Ambiguous(first, second) => {
            first.with_timezone(&Utc).min(second.with_timezone(&Utc))
        }
        LocalResult::None => {
            // Read the local time with the offset in force just before the gap: 02:30 under
            // CET (+01:00) is 01:30 UTC, which is 03:30 CEST, later by the skipped hour.
            let mut back = chrono::Duration::hours(1);
            loop {
                if let LocalResult::Single(before) = zone.from_local_datetime(&(local - back)) {
                    let offset = before.offset().fix();
                    break DateTime::<Utc>::from_naive_utc_and_offset(
                        local - chrono::Duration::seconds(i64::from(offset.local_minus_utc())),
                        Utc,
                    );
                }
                back += chrono::Duration::hours(1);
                if back > MAX_SKIPPED_LOCAL_TIME {
                    // No zone skips this much; fall back to reading the time as UTC.
                    break DateTime::<Utc>::from_naive_utc_and_offset(local, Utc);
                }
            }
        }
    };
    Timestamp::from_datetime(at)
}

impl Rotation {
    /// When turn `turn` begins.
    pub fn handoff_at(&self, zone: Tz, turn: i64) -> Timestamp {
        match self.period {
            Period::Days(days) => {
                let offset = turn.saturating_mul(i64::from(days));
                let date = if offset >= 0 {
                    self.start
                        .checked_add_days(Days::new(offset.unsigned_abs()))
                } else {
                    self.start
                        .checked_sub_days(Days::new(offset.unsigned_abs()))
                };
                let date = date.unwrap_or(self.start);
                resolve_local(zone, date.and_time(self.handoff))
            }
            Period::Elapsed(length) => {
                let anchor = resolve_local(zone, self.start.and_time(self.handoff));
                let length = i64::try_from(length.as_millis()).unwrap_or(i64::MAX);
                Timestamp::from_millis(
                    anchor
                        .as_millis()
                        .saturating_add(turn.saturating_mul(length)),
                )
            }
        }
    }

    /// The turn in progress at `at`: the last one whose handoff is at or before `at`.
    pub fn turn_at(&self, zone: Tz, at: Timestamp) -> i64 {
        let mut turn = match self.period {
            Period::Days(days) => {
                let local_date = at.to_datetime().with_timezone(&zone).date_naive();
                (local_date - self.start)
                    .num_days()
                    .div_euclid(i64::from(days.max(1)))
            }
            Period::Elapsed(length) => {
                let anchor = resolve_local(zone, self.start.and_time(self.handoff));
                let length = i64::try_from(length.as_millis()).unwrap_or(i64::MAX).max(1);
                (at.as_millis() - anchor.as_millis()).div_euclid(length)
            }
        };
        // The estimate is off by at most one turn near a handoff (a handoff time late in the
        // local day, a DST shift); step until `at` lies in [handoff(turn), handoff(turn + 1)).
        while at < self.handoff_at(zone, turn) {
            turn -= 1;
        }
        while self.handoff_at(zone, turn + 1) <= at {
            turn += 1;
        }
        turn
    }

    /// Whose turn `turn` is.
    pub fn member(&self, turn: i64) -> u64 {
        let index = turn.rem_euclid(i64::try_from(self.members.len()).unwrap_or(1).max(1));
        self.members[usize::try_from(index).unwrap_or(0)]
    }
}

impl Schedule {
    /// Who covers `at` and why, without the shift's bounds.
    pub fn cover_at(&self, at: Timestamp) -> Cover {
        if let Some(index) = self.overrides.iter().rposition(|window| window.covers(at)) {
            return Cover::Override { index };
        }
        match &self.rotation {
            Some(rotation) => Cover::Rotation {
                turn: rotation.turn_at(self.timezone, at),
            },
            None => Cover::Nobody,
        }
    }

    fn user_of(&self, cover: Cover) -> Option<u64> {
        match cover {
            Cover::Rotation { turn } => self.rotation.as_ref().map(|r| r.member(turn)),
            Cover::Override { index } => Some(self.overrides[index].user),
            Cover::Nobody => None,
        }
    }

    /// The Discord user on call at `at`, if anyone.
    pub fn on_call_at(&self, at: Timestamp) -> Option<u64> {
        self.user_of(self.cover_at(at))
    }

    /// The shift in progress at `at`: who, why, since when and until when (the next handoff).
    pub fn shift_at(&self, at: Timestamp) -> Shift {
        let cover = self.cover_at(at);
        // Cover is constant between consecutive boundaries: override starts and ends, and the
        // handoffs around the current turn. Walk them outwards until the cover changes.
        let mut boundaries: Vec<Timestamp> = self
            .overrides
            .iter()
            .flat_map(|window| [window.start, window.end])
            .collect();
        if let Some(rotation) = &self.rotation {
            let turn = rotation.turn_at(self.timezone, at);
            boundaries.push(rotation.handoff_at(self.timezone, turn));
            boundaries.push(rotation.handoff_at(self.timezone, turn + 1));
        }
        boundaries.sort_unstable();
        boundaries.dedup();
        let just_before = |boundary: Timestamp| Timestamp::from_millis(boundary.as_millis() - 1);
        let since = boundaries
            .iter()
            .rev()
            .filter(|boundary| **boundary <= at)
            .find(|boundary| self.cover_at(just_before(**boundary)) != cover)
            .copied();
        let until = boundaries
            .iter()
            .filter(|boundary| **boundary > at)
            .find(|boundary| self.cover_at(**boundary) != cover)
            .copied();
        Shift {
            user: self.user_of(cover),
            cover,
            since,
            until,
        }
    }

    /// The shift after the one in progress at `at`, or `None` when the current one never ends.
    pub fn next_shift(&self, at: Timestamp) -> Option<Shift> {
        self.shift_at(at).until.map(|until| self.shift_at(until))
    }

    /// Every stretch with nobody on call (empty when a rotation covers all time).
    pub fn gaps(&self) -> Vec<Gap> {
        if self.rotation.is_some() {
            return Vec::new();
        }
        let mut windows: Vec<(Timestamp, Timestamp)> = self
            .overrides
            .iter()
            .filter(|window| window.start < window.end)
            .map(|window| (window.start, window.end))
            .collect();
        windows.sort_unstable();
        let mut gaps = Vec::new();
        let mut covered_until: Option<Timestamp> = None;
        for (start, end) in windows {
            match covered_until {
                None => gaps.push(Gap {
                    from: None,
                    until: Some(start),
                }),
                Some(until) if until < start => gaps.push(Gap {
                    from: Some(until),
                    until: Some(start),
                }),
                Some(_) => {}
            }
            covered_until = Some(covered_until.map_or(end, |until| until.max(end)));
        }
        gaps.push(Gap {
            from: covered_until,
            until: None,
        });
        gaps
    }

    /// A short description of the rotation, e.g. `weekly, handoff 09:00 Europe/Berlin`.
    pub fn describe(&self) -> String {
        match &self.rotation {
            Some(rotation) => format!(
                "{} rotation of {} member{}, handoff {} {}",
                rotation.period.describe(),
                rotation.members.len(),
                if rotation.members.len() == 1 { "" } else { "s" },
                rotation.handoff.format("%H:%M"),
                self.timezone.name()
            ),
            None => format!(
                "no rotation, {} override{} only ({})",
                self.overrides.len(),
                if self.overrides.len() == 1 { "" } else { "s" },
                self.timezone.name()
            ),
        }
    }

    /// `at` in the schedule's zone, e.g. `2026-03-29 09:00 CEST`.
    pub fn local(&self, at: Timestamp) -> String {
        format_in_zone(self.timezone, at)
    }
}

/// `at` in `zone` with the zone's abbreviation, to the minute: `2026-03-29 09:00 CEST`.
pub fn format_in_zone(zone: Tz, at: Timestamp) -> String {
    at.to_datetime()
        .with_timezone(&zone)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// Parses an instant written in config or on the command line: RFC 3339 with an offset
/// (`2026-12-24T18:00:00+01:00`, `...Z`), or a local date and time without one
/// (`2026-12-24T18:00`, `2026-12-24 18:00`, `2026-12-24`) read in `zone` by the DST rule.
pub fn parse_instant(text: &str, zone: Tz) -> Result<Timestamp, String> {
    let trimmed = text.trim();
    if let Ok(at) = Timestamp::parse_rfc3339(trimmed) {
        return Ok(at);
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(local) = NaiveDateTime::parse_from_str(trimmed, format) {
            return Ok(resolve_local(zone, local));
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(trimmed, "%Y-%m-%d") {
        return Ok(resolve_local(zone, date.and_time(NaiveTime::MIN)));
    }
    Err(format!(
        "`{text}` is not a time; write 2026-12-24T18:00 (in the schedule's zone) or 2026-12-24T18:00:00+01:00"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn berlin_daily(handoff: &str) -> Schedule {
        Schedule {
            name: "primary".into(),
            timezone: chrono_tz::Europe::Berlin,
            rotation: Some(Rotation {
                members: vec![1, 2, 3],
                period: Period::Days(1),
                handoff: NaiveTime::parse_from_str(handoff, "%H:%M").unwrap(),
                start: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            }),
            overrides: Vec::new(),
        }
    }

    #[test]
    fn periods_read_as_documented() {
        assert_eq!(Period::parse("daily"), Ok(Period::Days(1)));
        assert_eq!(Period::parse("weekly"), Ok(Period::Days(7)));
        assert_eq!(Period::parse("14d"), Ok(Period::Days(14)));
        assert_eq!(
            Period::parse("12h"),
            Ok(Period::Elapsed(Duration::from_secs(12 * 3600)))
        );
        assert!(Period::parse("12m").unwrap_err().contains("too short"));
        assert!(Period::parse("fortnightly").is_err());
    }

    #[test]
    fn a_skipped_local_time_moves_later_by_the_gap_and_a_repeated_one_takes_the_first() {
        let berlin = chrono_tz::Europe::Berlin;
        let local = |text: &str| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
        // 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist.
        assert_eq!(
            resolve_local(berlin, local("2026-03-29 02:30")),
            at("2026-03-29T01:30:00Z")
        );
        // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice (00:30Z and 01:30Z).
        assert_eq!(
            resolve_local(berlin, local("2026-10-25 02:30")),
            at("2026-10-25T00:30:00Z")
        );
        assert_eq!(
            resolve_local(berlin, local("2026-10-25 09:00")),
            at("2026-10-25T08:00:00Z")
        );
    }

    #[test]
    fn turns_step_back_and_forth_around_a_handoff() {
        let schedule = berlin_daily("09:00");
        let rotation = schedule.rotation.as_ref().unwrap();
        let zone = schedule.timezone;
        assert_eq!(rotation.handoff_at(zone, 0), at("2026-03-01T08:00:00Z"));
        assert_eq!(rotation.turn_at(zone, at("2026-03-01T08:00:00Z")), 0);
        assert_eq!(rotation.turn_at(zone, at("2026-03-01T07:59:59.999Z")), -1);
        assert_eq!(
            rotation.member(-1),
            3,
            "counting back wraps to the last member"
        );
        assert_eq!(rotation.turn_at(zone, at("2026-03-02T07:59:59.999Z")), 0);
        assert_eq!(rotation.turn_at(zone, at("2026-03-02T08:00:00Z")), 1);
    }

    #[test]
    fn override_only_schedules_list_their_holes() {
        let mut schedule = berlin_daily("09:00");
        schedule.rotation = None;
        schedule.overrides = vec![
            Override {
                start: at("2026-12-24T00:00:00Z"),
                end: at("2026-12-26T00:00:00Z"),
                user: 7,
            },
            Override {
                start: at("2026-12-25T00:00:00Z"),
                end: at("2026-12-27T00:00:00Z"),
                user: 8,
            },
            Override {
                start: at("2026-12-28T00:00:00Z"),
                end: at("2026-12-29T00:00:00Z"),
                user: 9,
            },
        ];
        assert_eq!(
            schedule.gaps(),
            [
                Gap {
                    from: None,
                    until: Some(at("2026-12-24T00:00:00Z"))
                },
                Gap {
                    from: Some(at("2026-12-27T00:00:00Z")),
                    until: Some(at("2026-12-28T00:00:00Z"))
                },
                Gap {
                    from: Some(at("2026-12-29T00:00:00Z")),
                    until: None
                },
            ]
        );
        assert!(berlin_daily("09:00").gaps().is_empty());
    }

    #[test]
    fn instants_parse_with_an_offset_or_in_the_zone() {
        let berlin = chrono_tz::Europe::Berlin;
        assert_eq!(
            parse_instant("2026-12-24T18:00", berlin),
            Ok(at("2026-12-24T17:00:00Z"))
        );
        assert_eq!(
            parse_instant("2026-07-01 18:00", berlin),
            Ok(at("2026-07-01T16:00:00Z"))
        );
        assert_eq!(
            parse_instant("2026-12-24T18:00:00+00:00", berlin),
            Ok(at("2026-12-24T18:00:00Z"))
        );
        assert_eq!(
            parse_instant("2026-12-24", berlin),
            Ok(at("2026-12-23T23:00:00Z"))
        );
        assert!(parse_instant("Christmas Eve", berlin).is_err());
    }
}
