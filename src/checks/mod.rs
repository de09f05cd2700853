//! Runbooks on a clock (SPEC §1, §4, §5): scheduled verification checks (`[checks.NAME]`, an
//! approved read-only command run at its times) and scheduled drills (`[drills.NAME]`, a drill
//! incident opened at its times), as values, and when each comes due. No I/O: the timers that
//! fire them are in `ops::schedules`, what they decided in `store`.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;

use crate::domain::Timestamp;

/// When something recurs: every fixed duration (aligned to the Unix epoch, so every process
/// computes the same slots), or a five-field cron expression in a time zone.
#[derive(Clone, Debug)]
pub enum Recurrence {
    Every(Duration),
    Cron {
        /// As written, for people.
        text: String,
        cron: Box<croner::Cron>,
        timezone: Tz,
    },
}

impl Recurrence {
    /// Parses a five-field cron expression (minute hour day-of-month month day-of-week, with
    /// croner's extensions such as `TUE#1` for the first Tuesday, `L` for the last day).
    pub fn cron(text: &str, timezone: Tz) -> Result<Recurrence, String> {
        let fields = text.split_whitespace().count();
        if fields != 5 {
            return Err(format!(
                "`{text}` has {fields} fields; write five: minute hour day-of-month month day-of-week, e.g. \"*/30 * * * *\" or \"0 10 * * TUE#1\""
            ));
        }
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .build()
            .parse(text)
            .map_err(|error| {
                format!("`{text}` is not a cron expression ({error}); write five fields: minute hour day-of-month month day-of-week, e.g. \"*/30 * * * *\"")
            })?;
        let recurrence = Recurrence::Cron {
            text: text.to_owned(),
            cron: Box::new(cron),
            timezone,
        };
        // An expression that matches no date at all (`0 0 31 2 *`) never fires.
        if recurrence.next_after(Timestamp::from_millis(0)).is_none() {
            return Err(format!("`{text}` matches no date; it would never run"));
        }
        Ok(recurrence)
    }

    /// The first slot strictly after `at`; `None` when there is none (never for a valid one).
    pub fn next_after(&self, at: Timestamp) -> Option<Timestamp> {
        match self {
            Recurrence::Every(every) => {
                let every = every.as_millis().max(1) as i64;
                let next = (at.as_millis().div_euclid(every) + 1) * every;
                Some(Timestamp::from_millis(next))
            }
            Recurrence::Cron { cron, timezone, .. } => {
                let local = timezone.from_utc_datetime(&at.to_datetime().naive_utc());
                let next = cron.find_next_occurrence(&local, false).ok()?;
                Some(Timestamp::from_datetime(next.with_timezone(&Utc)))
            }
        }
    }

    /// The slots in `(from, until]`, earliest first, at most `limit`.
    pub fn slots(&self, from: Timestamp, until: Timestamp, limit: usize) -> Vec<Timestamp> {
        let mut slots = Vec::new();
        let mut at = from;
        while slots.len() < limit {
            match self.next_after(at) {
                Some(next) if next <= until => {
                    slots.push(next);
                    at = next;
                }
                _ => break,
            }
        }
        slots
    }

    /// For people: `every 30m`, `cron "0 10 * * TUE#1" (Europe/Berlin)`.
    pub fn describe(&self) -> String {
        match self {
            Recurrence::Every(every) => format!("every {}", crate::domain::format_duration(*every)),
            Recurrence::Cron { text, timezone, .. } => format!("cron \"{text}\" ({timezone})"),
        }
    }

    /// The time zone its slots are shown in (UTC for `every`).
    pub fn timezone(&self) -> Tz {
        match self {
            Recurrence::Every(_) => Tz::UTC,
            Recurrence::Cron { timezone, .. } => *timezone,
        }
    }
}

/// `[checks.NAME]`: an approved read-only command run at its times; failures open an incident.
#[derive(Clone, Debug)]
pub struct CheckSpec {
    pub name: String,
    /// The approved command (its `risk` must be `read_only`).
    pub command: String,
    /// `key=value …`, as `/run` takes them.
    pub args: String,
    pub recurrence: Recurrence,
    pub service: Option<String>,
    /// The severity of the incident its failures open.
    pub severity: String,
    /// Failures in a row before an incident opens (at least 1).
    pub failures_before_incident: u32,
    /// Whether the next success mitigates the incident.
    pub mitigate_on_recovery: bool,
    /// Where `command` and `args` are written (`file:line`), for problems found against the
    /// command catalog, which is read after the config.
    pub command_at: String,
    pub args_at: String,
}

/// One command a drill requests in dry-run when it opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrillCommand {
    pub command: String,
    pub args: String,
}

/// `[drills.NAME]`: a drill incident opened at its times.
#[derive(Clone, Debug)]
pub struct DrillSpec {
    pub name: String,
    pub recurrence: Recurrence,
    pub title: String,
    pub severity: String,
    pub service: Option<String>,
    /// A Discord Scheduled Event announces each drill this long before it.
    pub announce_ahead: Option<Duration>,
    pub commands: Vec<DrillCommand>,
    /// Where each of `commands` is written (`file:line`), in order.
    pub commands_at: Vec<String>,
}

impl DrillCommand {
    /// `"backup-verify backup=app.dump"`: the command's name, then its `key=value …` text.
    pub fn parse(text: &str) -> Result<DrillCommand, String> {
        let text = text.trim();
        let (command, args) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        if command.is_empty() {
            return Err(
                "is empty; write a command's name, then its key=value arguments, e.g. \"backup-verify backup=app.dump\""
                    .to_owned(),
            );
        }
        Ok(DrillCommand {
            command: command.to_owned(),
            args: args.trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn every_is_aligned_and_strictly_after() {
        let every = Recurrence::Every(Duration::from_secs(2));
        assert_eq!(
            every.next_after(Timestamp::from_millis(4_000)),
            Some(Timestamp::from_millis(6_000))
        );
        assert_eq!(
            every.next_after(Timestamp::from_millis(5_999)),
            Some(Timestamp::from_millis(6_000))
        );
    }

    #[test]
    fn a_berlin_cron_keeps_its_local_time_across_the_spring_change() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let daily = Recurrence::cron("0 10 * * *", berlin).unwrap();
        // 2026-03-29 is the spring change in Europe: 10:00 is 09:00Z before, 08:00Z after.
        assert_eq!(
            daily.next_after(at("2026-03-28T00:00:00Z")),
            Some(at("2026-03-28T09:00:00Z"))
        );
        assert_eq!(
            daily.next_after(at("2026-03-28T09:00:00Z")),
            Some(at("2026-03-29T08:00:00Z"))
        );
    }

    #[test]
    fn the_first_tuesday_of_the_month() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let drill = Recurrence::cron("0 10 * * TUE#1", berlin).unwrap();
        assert_eq!(
            drill.next_after(at("2026-03-04T00:00:00Z")),
            Some(at("2026-04-07T08:00:00Z"))
        );
    }

    #[test]
    fn bad_expressions_are_refused_with_what_to_write() {
        for bad in [
            "* * * *",
            "61 * * * *",
            "0 0 * * * *",
            "every tuesday 1 2 3",
        ] {
            let error = Recurrence::cron(bad, Tz::UTC).unwrap_err();
            assert!(error.contains("five"), "{bad}: {error}");
        }
    }
}
