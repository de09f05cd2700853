//! What is recorded while an incident is worked on, folded from its timeline: which items of
//! the service's validation checklist are ticked, by whom and when (SPEC §1 "Checklist
//! tick"), and the recovery point — what the data was restored from (SPEC §1 "Recovery
//! point"). The timeline is the truth; these are views of it.

use std::time::Duration;

use chrono::{NaiveDateTime, TimeZone, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{Actor, Event, EventKind, Timestamp};

/// Who ticked an item, and when.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tick {
    pub by: Actor,
    pub at: Timestamp,
}

/// One checklist item and its tick, if it is ticked now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChecklistItem {
    pub item: String,
    pub ticked: Option<Tick>,
}

/// The kinds [`checklist`] folds.
pub const CHECKLIST_KINDS: [EventKind; 2] =
    [EventKind::ChecklistChecked, EventKind::ChecklistUnchecked];

/// The service's `items`, each with its latest tick from `events` (in timeline order); an
/// untick clears it. Ticks of items no longer on the checklist are left out.
pub fn checklist(items: &[String], events: &[Event]) -> Vec<ChecklistItem> {
    let mut state: Vec<ChecklistItem> = items
        .iter()
        .map(|item| ChecklistItem {
            item: item.clone(),
            ticked: None,
        })
        .collect();
    for event in events {
        let Some(name) = event.data["item"].as_str() else {
            continue;
        };
        let Some(entry) = state.iter_mut().find(|entry| entry.item == name) else {
            continue;
        };
        entry.ticked = match event.kind {
            EventKind::ChecklistChecked => Some(Tick {
                by: event.actor.clone(),
                at: event.at,
            }),
            EventKind::ChecklistUnchecked => None,
            _ => entry.ticked.take(),
        };
    }
    state
}

/// "3/4 checked".
pub fn checklist_progress(items: &[ChecklistItem]) -> String {
    let ticked = items.iter().filter(|item| item.ticked.is_some()).count();
    format!("{ticked}/{} checked", items.len())
}

/// What the data was restored to, as recorded (the latest `rpo_recorded` counts).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecoveryPoint {
    /// The time of the backup or snapshot restored; `None` when no data was lost.
    pub restored_from: Option<Timestamp>,
    pub note: Option<String>,
    pub by: Actor,
    pub at: Timestamp,
}

impl RecoveryPoint {
    /// The latest recovery point on a timeline.
    pub fn latest(events: &[Event]) -> Option<RecoveryPoint> {
        let event = events
            .iter()
            .rev()
            .find(|event| event.kind == EventKind::RpoRecorded)?;
        Some(RecoveryPoint {
            restored_from: event.data["restored_from"]
                .as_i64()
                .map(Timestamp::from_millis),
            note: event.data["note"].as_str().map(str::to_owned),
            by: event.actor.clone(),
            at: event.at,
        })
    }

    /// The data lost: from the restored point to the incident's start (zero when nothing was
    /// lost, or the restore point is after the start).
    pub fn data_loss(&self, started: Timestamp) -> Duration {
        self.restored_from
            .map_or(Duration::ZERO, |from| started.since(from))
    }

    pub fn data(restored_from: Option<Timestamp>, note: Option<&str>) -> Value {
        serde_json::json!({
            "restored_from": restored_from.map(Timestamp::as_millis),
            "no_data_lost": restored_from.is_none(),
            "note": note,
        })
    }
}

/// Reads a time as people write it: RFC 3339 (`2026-12-06T14:05:00Z`, any offset) or
/// `2026-12-06 14:05[:00]`, taken as UTC.
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Ok(at) = Timestamp::parse_rfc3339(text) {
        return Ok(at);
    }
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Timestamp::from_millis(
                Utc.from_utc_datetime(&naive).timestamp_millis(),
            ));
        }
    }
    Err(format!(
        "`{text}` is not a time; write it as 2026-12-06T14:05:00Z or 2026-12-06 14:05 (UTC)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_in_the_written_forms_and_others_refused() {
        let at = parse_time("2026-12-06T14:05:00Z").unwrap();
        assert_eq!(parse_time("2026-12-06 14:05").unwrap(), at);
        assert_eq!(parse_time("2026-12-06T15:05:00+01:00").unwrap(), at);
        assert!(
            parse_time("yesterday")
                .unwrap_err()
                .contains("is not a time")
        );
        assert!(parse_time("").is_err());
    }

    #[test]
    fn data_loss_counts_back_from_the_start_and_never_below_zero() {
        let point = |from: Option<i64>| RecoveryPoint {
            restored_from: from.map(Timestamp::from_millis),
            note: None,
            by: Actor::system(),
            at: Timestamp::from_millis(0),
        };
        let start = Timestamp::from_millis(3_600_000);
        assert_eq!(point(Some(0)).data_loss(start), Duration::from_secs(3_600));
        assert_eq!(point(Some(4_000_000)).data_loss(start), Duration::ZERO);
        assert_eq!(point(None).data_loss(start), Duration::ZERO);
    }
}
