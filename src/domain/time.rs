//! The one clock: millisecond UTC timestamps and the `Clock` that every use case reads.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time: milliseconds since the Unix epoch, UTC.
///
/// Millisecond precision is what the timeline promises (SPEC §1); storing an integer keeps
/// both backends and every export exact, with no time zone or float rounding anywhere.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Timestamp {
        Timestamp(millis)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    pub fn as_unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    pub fn from_datetime(at: DateTime<Utc>) -> Timestamp {
        Timestamp(at.timestamp_millis())
    }

    /// RFC 3339 with milliseconds and `Z`, e.g. `2026-11-22T03:48:59.123Z`: the machine form.
    pub fn to_rfc3339(self) -> String {
        self.rfc3339().to_string()
    }

    /// `2026-11-22 03:48:59.123 UTC`: the form people read in exports and the CLI.
    pub fn to_human(self) -> String {
        self.human().to_string()
    }

    /// The RFC 3339 form, written without allocating (exports write one per event).
    pub fn rfc3339(self) -> impl fmt::Display {
        Formatted {
            at: self,
            separator: 'T',
            suffix: "Z",
        }
    }

    /// The human form, written without allocating.
    pub fn human(self) -> impl fmt::Display {
        Formatted {
            at: self,
            separator: ' ',
            suffix: " UTC",
        }
    }

    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, chrono::ParseError> {
        DateTime::parse_from_rfc3339(text)
            .map(|at| Timestamp::from_datetime(at.with_timezone(&Utc)))
    }

    pub fn plus(self, duration: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    pub fn minus(self, duration: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_sub(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// The time from `earlier` to `self`, or zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }
}

/// Writes a timestamp field by field. chrono's `format` re-parses its pattern on every call,
/// which showed up as most of the time of a 100,000-event export.
struct Formatted {
    at: Timestamp,
    separator: char,
    suffix: &'static str,
}

impl fmt::Display for Formatted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.at.to_datetime();
        write!(
            f,
            "{:04}-{:02}-{:02}{}{:02}:{:02}:{:02}.{:03}{}",
            at.year(),
            at.month(),
            at.day(),
            self.separator,
            at.hour(),
            at.minute(),
            at.second(),
            at.timestamp_subsec_millis(),
            self.suffix
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.rfc3339(), f)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.rfc3339(), f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

/// Where "now" comes from. Every use case reads time through this, so tests control it.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_datetime(Utc::now())
    }
}

/// A clock that moves only when told to; for tests of time-dependent behaviour.
#[derive(Debug)]
pub struct ManualClock {
    millis: AtomicI64,
    /// Serializes `advance` so two tests threads never interleave a read-modify-write.
    advancing: Mutex<()>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            millis: AtomicI64::new(start.as_millis()),
            advancing: Mutex::new(()),
        }
    }

    pub fn advance(&self, by: Duration) {
        let _guard = self
            .advancing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Timestamp::from_millis(self.millis.load(Ordering::SeqCst));
        self.millis
            .store(now.plus(by).as_millis(), Ordering::SeqCst);
    }

    pub fn set(&self, to: Timestamp) {
        self.millis.store(to.as_millis(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.millis.load(Ordering::SeqCst))
    }
}

/// A duration as people say it in an incident: `350ms`, `42s`, `3m 05s`, `1h 02m 05s`,
/// `2d 04h 00m`.
pub fn format_duration(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".to_owned();
    }
    if duration < Duration::from_secs(1) {
        return format!("{}ms", duration.as_millis());
    }
    let total = duration.as_secs();
    let (days, hours, minutes, seconds) = (
        total / 86_400,
        (total % 86_400) / 3_600,
        (total % 3_600) / 60,
        total % 60,
    );
    if days > 0 {
        format!("{days}d {hours:02}h {minutes:02}m")
    } else if hours > 0 {
        format!("{hours}h {minutes:02}m {seconds:02}s")
    } else if minutes > 0 {
        format!("{minutes}m {seconds:02}s")
    } else {
        format!("{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_at_millisecond_precision() {
        let at = Timestamp::from_millis(1_795_319_339_123);
        assert_eq!(at.to_rfc3339(), "2026-11-22T03:48:59.123Z");
        assert_eq!(Timestamp::parse_rfc3339(&at.to_rfc3339()).unwrap(), at);
        assert_eq!(at.to_human(), "2026-11-22 03:48:59.123 UTC");
        let early = Timestamp::from_millis(5);
        assert_eq!(early.to_rfc3339(), "1970-01-01T00:00:00.005Z");
    }

    #[test]
    fn durations_read_like_people_say_them() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_millis(350)), "350ms");
        assert_eq!(format_duration(Duration::from_secs(42)), "42s");
        assert_eq!(format_duration(Duration::from_secs(185)), "3m 05s");
        assert_eq!(format_duration(Duration::from_secs(3_725)), "1h 02m 05s");
        assert_eq!(format_duration(Duration::from_secs(187_200)), "2d 04h 00m");
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(Timestamp::from_millis(1_000));
        assert_eq!(clock.now(), Timestamp::from_millis(1_000));
        clock.advance(Duration::from_millis(1_500));
        assert_eq!(clock.now(), Timestamp::from_millis(2_500));
    }
}
