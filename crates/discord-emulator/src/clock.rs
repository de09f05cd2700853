//! The emulator's notion of now: the real clock shifted by whatever a test advanced it by.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};

/// Real time plus an offset. Discord's time rules (3 s to acknowledge, 15 min token life) are
/// checked against this clock, so a test proves them with `advance` instead of sleeping.
/// Clones share the offset (the gateway keeps one to expire sessions without the REST state).
#[derive(Clone, Debug, Default)]
pub(crate) struct Clock {
    offset: Arc<Mutex<Duration>>,
}

impl Clock {
    pub(crate) fn now(&self) -> Instant {
        Instant::now() + self.offset()
    }

    pub(crate) fn utc(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.offset()).unwrap_or_default()
    }

    pub(crate) fn advance(&self, by: Duration) {
        *self.offset.lock().expect("clock lock") += by;
    }

    fn offset(&self) -> Duration {
        *self.offset.lock().expect("clock lock")
    }
}

/// Discord's timestamp format (ISO 8601 with microseconds and an explicit offset).
pub(crate) fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, false)
}
