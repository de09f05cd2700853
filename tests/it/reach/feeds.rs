//! Calendar feeds: a daily rotation handing off at 09:00 Berlin across the spring-forward
//! change, with an override, read back by Python's `icalendar` parser — each shift at the
//! right instant (08:00 UTC before the change, 07:00 UTC after), the override in place,
//! UIDs stable between fetches; the per-person feed; `warroom feed` prints working URLs;
//! wrong tokens and bad input are refused.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use warroom::domain::Timestamp;
use warroom::notify::links::{Feed, Links};

use super::{ACK_SECRET, Rig, python, python_has};
use crate::support::{self, TestDb};

const ALICE: u64 = 300_000_000_000_000_001;
const BOB: u64 = 300_000_000_000_000_002;
const CAROL: u64 = 300_000_000_000_000_003;

fn toml() -> String {
    format!(
        r#"
[people."{ALICE}"]
name = "Alice"

[people."{BOB}"]
name = "Bob"

[schedules.rota]
timezone = "Europe/Berlin"
members = ["{ALICE}", "{BOB}"]
period = "daily"
handoff = "09:00"
start = "2026-03-25"

[[schedules.rota.overrides]]
user = "{CAROL}"
start = "2026-03-30T09:00"
end = "2026-03-31T09:00"
"#
    )
}

async fn rig() -> Rig {
    Rig::start(
        TestDb::sqlite(),
        &toml(),
        &[],
        Timestamp::parse_rfc3339("2026-03-27T12:00:00Z").unwrap(),
    )
    .await
}

fn links(rig: &Rig) -> Links {
    Links::new(
        &rig.base,
        SecretString::from(ACK_SECRET.to_owned()),
        Duration::from_secs(86_400),
    )
}

/// Every event of an iCalendar text as `{uid, summary, start, end}` (UTC, ISO 8601), in
/// order, by Python's `icalendar`.
const PARSE: &str = r#"
import json, sys
from datetime import timezone
from icalendar import Calendar
calendar = Calendar.from_ical(open(sys.argv[1], 'rb').read())
events = [
    {
        "uid": str(event.get("uid")),
        "summary": str(event.get("summary")),
        "start": event.get("dtstart").dt.astimezone(timezone.utc).isoformat(),
        "end": event.get("dtend").dt.astimezone(timezone.utc).isoformat(),
    }
    for event in calendar.walk("VEVENT")
]
print(json.dumps({"timezone": str(calendar.get("x-wr-timezone")), "events": events}))
"#;

fn parse(calendar: &str) -> Value {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), calendar).unwrap();
    serde_json::from_str(&python(PARSE, &[file.path()])).unwrap()
}

fn shifts(parsed: &Value) -> Vec<(String, String, String)> {
    parsed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            (
                event["summary"].as_str().unwrap().to_owned(),
                event["start"].as_str().unwrap().to_owned(),
                event["end"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn shift(summary: &str, start: &str, end: &str) -> (String, String, String) {
    (summary.to_owned(), start.to_owned(), end.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_feed_parses_and_keeps_its_handoffs_across_daylight_saving() {
    if !python_has("icalendar") {
        return;
    }
    let rig = rig().await;
    let url = links(&rig).feed_url(&Feed::Schedule("rota".to_owned()));
    let response = rig
        .client
        .get(format!("{url}&weeks=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    let calendar = response.text().await.unwrap();
    let parsed = parse(&calendar);
    assert_eq!(parsed["timezone"], "Europe/Berlin");
    let shifts = shifts(&parsed);
    for expected in [
        // 09:00 CET is 08:00 UTC; the shift that spans the change is 23 hours long.
        shift(
            "On call: Bob",
            "2026-03-28T08:00:00+00:00",
            "2026-03-29T07:00:00+00:00",
        ),
        // 09:00 CEST is 07:00 UTC.
        shift(
            "On call: Alice",
            "2026-03-29T07:00:00+00:00",
            "2026-03-30T07:00:00+00:00",
        ),
        // The override replaces Bob's turn, handing off at 09:00 local both ends.
        shift(
            &format!("On call: Discord user {CAROL}"),
            "2026-03-30T07:00:00+00:00",
            "2026-03-31T07:00:00+00:00",
        ),
        shift(
            "On call: Alice",
            "2026-03-31T07:00:00+00:00",
            "2026-04-01T07:00:00+00:00",
        ),
    ] {
        assert!(shifts.contains(&expected), "{expected:?} in {shifts:#?}");
    }
    // From the week before to the week ahead, one shift after the other.
    assert_eq!(
        shifts.first().unwrap().1,
        "2026-03-20T08:00:00+00:00",
        "{shifts:#?}"
    );
    assert!(shifts.last().unwrap().2.as_str() >= "2026-04-03T12:00:00+00:00");
    for pair in shifts.windows(2) {
        assert_eq!(pair[0].2, pair[1].1, "{pair:?}");
    }
    let uids: std::collections::BTreeSet<&str> = parsed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["uid"].as_str().unwrap())
        .collect();
    assert_eq!(uids.len(), shifts.len(), "every UID is its own");
    // Stable: fetched again an hour later, the same shifts are the same events.
    rig.clock.advance(Duration::from_secs(3600));
    let again = rig
        .client
        .get(format!("{url}&weeks=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(again, calendar);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_feed_lists_only_their_shifts_and_warroom_feed_prints_its_url() {
    if !python_has("icalendar") {
        return;
    }
    let rig = rig().await;
    let config = rig.db.dir.path().join("warroom.toml");
    let output = support::warroom(&config)
        .env("WARROOM__HTTP__PUBLIC_URL", &rig.base)
        .env("WARROOM_ACK_SECRET", super::ACK_SECRET)
        .args(["feed", "person", &ALICE.to_string()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", support::stderr(&output));
    let url = support::stdout(&output).trim().to_owned();
    assert!(
        url.starts_with(&rig.url(&format!("/v1/people/{ALICE}.ics?token="))),
        "{url}"
    );
    let calendar = rig
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let shifts = shifts(&parse(&calendar));
    assert!(!shifts.is_empty());
    assert!(
        shifts
            .iter()
            .all(|(summary, _, _)| summary == "On call: rota"),
        "{shifts:?}"
    );
    assert!(shifts.contains(&shift(
        "On call: rota",
        "2026-03-29T07:00:00+00:00",
        "2026-03-30T07:00:00+00:00"
    )));
    // Bob's and Carol's days are not hers.
    assert!(
        !shifts
            .iter()
            .any(|(_, start, _)| start == "2026-03-28T08:00:00+00:00")
    );
    assert!(
        !shifts
            .iter()
            .any(|(_, start, _)| start == "2026-03-30T07:00:00+00:00")
    );

    let unknown = support::warroom(&config)
        .env("WARROOM__HTTP__PUBLIC_URL", &rig.base)
        .env("WARROOM_ACK_SECRET", super::ACK_SECRET)
        .args(["feed", "schedule", "nope"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(support::stderr(&unknown).contains("there is no schedule `nope`"));
    let unset = support::run(&config, &["feed", "schedule", "rota"]);
    assert_eq!(unset.status.code(), Some(1));
    assert!(support::stderr(&unset).contains("calendar feeds need [http] public_url"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_refuse_wrong_tokens_and_bad_input() {
    let rig = rig().await;
    let links = links(&rig);
    let rota = links.feed_token(&Feed::Schedule("rota".to_owned()));
    let alice = links.feed_token(&Feed::Person(ALICE));
    let nope = links.feed_token(&Feed::Schedule("nope".to_owned()));
    for (path, status, says) in [
        (
            "/v1/schedules/rota.ics".to_owned(),
            401,
            "the feed token is missing or wrong",
        ),
        (
            format!("/v1/schedules/rota.ics?token={alice}"),
            401,
            "the feed token is missing or wrong",
        ),
        (
            format!("/v1/people/{BOB}.ics?token={alice}"),
            401,
            "the feed token is missing or wrong",
        ),
        (
            "/v1/schedules/rota.ics?token=0123".to_owned(),
            401,
            "the feed token",
        ),
        (
            format!("/v1/schedules/nope.ics?token={nope}"),
            404,
            "there is no schedule `nope`",
        ),
        (
            format!("/v1/schedules/rota.ics?token={rota}&weeks=0"),
            400,
            "weeks must be between 1 and 26",
        ),
        (
            format!("/v1/schedules/rota.ics?token={rota}&weeks=many"),
            400,
            "weeks",
        ),
        (
            format!("/v1/schedules/rota.ics?token={rota}&colour=red"),
            400,
            "unknown query parameter `colour`",
        ),
        (
            format!("/v1/schedules/rota?token={rota}"),
            404,
            "feeds end in .ics",
        ),
        (
            format!("/v1/people/bob.ics?token={alice}"),
            404,
            "is not a Discord user id",
        ),
    ] {
        let response = rig.client.get(rig.url(&path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        let body: Value = response.json().await.unwrap();
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(says), "{path}: {says:?} in {error}");
    }
}
