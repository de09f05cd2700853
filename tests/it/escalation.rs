//! Schedules and policies through the config: exact handoff instants (across spring-forward
//! and fall-back in Berlin and New York), overrides, weekly and custom-length rotations,
//! gaps, the planner's levels, repeats and fallback on a controlled clock, and dedup keys.

use std::path::Path;
use std::time::Duration;

use warroom::config::{Config, Environment};
use warroom::domain::{Clock, IncidentId, ManualClock, Timestamp};
use warroom::escalation::{Cover, Reach, Recipient, Schedule, Target, dedup_key, simulate};

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

fn load(text: &str) -> Config {
    Config::from_toml(Path::new("escalation.toml"), text, &Environment::default())
        .unwrap_or_else(|error| panic!("{error}"))
}

fn schedule(text: &str) -> Schedule {
    load(text)
        .schedules
        .into_iter()
        .next()
        .expect("one schedule")
}

/// The instant the shift in progress at `when` began and ends, and who has it.
fn shift(schedule: &Schedule, when: &str) -> (Option<u64>, Timestamp, Timestamp) {
    let shift = schedule.shift_at(at(when));
    (shift.user, shift.since.unwrap(), shift.until.unwrap())
}

const BERLIN_DAILY_0900: &str = r#"
[schedules.primary]
timezone = "Europe/Berlin"
members = ["1", "2", "3"]
period = "daily"
handoff = "09:00"
start = "2026-03-01"
"#;

#[test]
fn a_0900_berlin_handoff_stays_at_0900_local_across_spring_forward() {
    let primary = schedule(BERLIN_DAILY_0900);
    // 2026-03-29 02:00 CET → 03:00 CEST. 09:00 is 08:00 UTC before, 07:00 UTC after.
    assert_eq!(
        shift(&primary, "2026-03-28T12:00:00Z"),
        (
            Some(1),
            at("2026-03-28T08:00:00Z"),
            at("2026-03-29T07:00:00Z")
        ),
        "day 27 of the rotation is member 1's; that turn lasts 23 hours"
    );
    assert_eq!(primary.on_call_at(at("2026-03-29T06:59:59.999Z")), Some(1));
    assert_eq!(primary.on_call_at(at("2026-03-29T07:00:00Z")), Some(2));
    assert_eq!(
        shift(&primary, "2026-03-29T07:00:00Z"),
        (
            Some(2),
            at("2026-03-29T07:00:00Z"),
            at("2026-03-30T07:00:00Z")
        )
    );
}

#[test]
fn a_0900_berlin_handoff_stays_at_0900_local_across_fall_back() {
    let primary = schedule(BERLIN_DAILY_0900);
    // 2026-10-25 03:00 CEST → 02:00 CET. 09:00 is 07:00 UTC before, 08:00 UTC after.
    let (_, since, until) = shift(&primary, "2026-10-24T12:00:00Z");
    assert_eq!(
        (since, until),
        (at("2026-10-24T07:00:00Z"), at("2026-10-25T08:00:00Z")),
        "that turn lasts 25 hours"
    );
    let before = primary.on_call_at(at("2026-10-25T07:59:59.999Z"));
    let after = primary.on_call_at(at("2026-10-25T08:00:00Z"));
    assert_ne!(before, after, "the handoff happens at 08:00 UTC, 09:00 CET");
    assert_eq!(
        shift(&primary, "2026-10-25T08:00:00Z").2,
        at("2026-10-26T08:00:00Z")
    );
}

#[test]
fn a_handoff_in_the_skipped_hour_comes_later_by_the_gap_and_one_in_the_repeated_hour_comes_first() {
    let primary = schedule(&BERLIN_DAILY_0900.replace("09:00", "02:30"));
    // 2026-03-29 02:30 does not exist in Berlin: the handoff is at 03:30 CEST = 01:30 UTC,
    // which is 02:30 read with the offset before the change.
    assert_eq!(
        shift(&primary, "2026-03-29T03:00:00Z"),
        (
            Some(2),
            at("2026-03-29T01:30:00Z"),
            at("2026-03-30T00:30:00Z")
        )
    );
    assert_eq!(
        primary.local(at("2026-03-29T01:30:00Z")),
        "2026-03-29 03:30 CEST"
    );
    // 2026-10-25 02:30 happens twice (00:30 UTC in CEST, 01:30 UTC in CET): the first counts.
    let (_, since, until) = shift(&primary, "2026-10-25T01:00:00Z");
    assert_eq!(since, at("2026-10-25T00:30:00Z"));
    assert_eq!(until, at("2026-10-26T01:30:00Z"));
    assert_eq!(primary.local(since), "2026-10-25 02:30 CEST");
}

#[test]
fn weekly_rotations_in_new_york_hand_off_on_monday_morning_local_on_both_sides_of_dst() {
    let oncall = schedule(
        r#"
[schedules.ny]
timezone = "America/New_York"
members = ["11", "22"]
period = "weekly"
handoff = "09:00"
start = "2026-03-02"
"#,
    );
    // Clocks go forward on Sunday 2026-03-08 (EST -5 → EDT -4).
    assert_eq!(
        shift(&oncall, "2026-03-05T00:00:00Z"),
        (
            Some(11),
            at("2026-03-02T14:00:00Z"),
            at("2026-03-09T13:00:00Z")
        )
    );
    assert_eq!(oncall.on_call_at(at("2026-03-09T13:00:00Z")), Some(22));
    // And back on Sunday 2026-11-01 (EDT -4 → EST -5); 2026-10-26 is turn 34 (member 11).
    assert_eq!(
        shift(&oncall, "2026-10-30T00:00:00Z"),
        (
            Some(11),
            at("2026-10-26T13:00:00Z"),
            at("2026-11-02T14:00:00Z")
        )
    );
    let next = oncall.next_shift(at("2026-10-30T00:00:00Z")).unwrap();
    assert_eq!(
        (next.user, next.since, next.until),
        (
            Some(22),
            Some(at("2026-11-02T14:00:00Z")),
            Some(at("2026-11-09T14:00:00Z"))
        ),
        "who is next, and from when"
    );
}

#[test]
fn whole_day_periods_keep_local_time_and_other_durations_are_elapsed_time() {
    let three_days = schedule(&BERLIN_DAILY_0900.replace("\"daily\"", "\"3d\""));
    assert_eq!(
        shift(&three_days, "2026-03-29T12:00:00Z"),
        (
            Some(1),
            at("2026-03-28T08:00:00Z"),
            at("2026-03-31T07:00:00Z")
        ),
        "turn 9 starts 2026-03-28 09:00 CET and hands off 2026-03-31 09:00 CEST"
    );
    let twelve_hours = schedule(
        &BERLIN_DAILY_0900
            .replace("\"daily\"", "\"12h\"")
            .replace("2026-03-01", "2026-03-28"),
    );
    // Elapsed time: 08:00Z, 20:00Z, 08:00Z..., so after the change 09:00 CET became 10:00 CEST.
    assert_eq!(
        shift(&twelve_hours, "2026-03-29T09:00:00Z"),
        (
            Some(3),
            at("2026-03-29T08:00:00Z"),
            at("2026-03-29T20:00:00Z")
        )
    );
    assert_eq!(
        twelve_hours.local(at("2026-03-29T08:00:00Z")),
        "2026-03-29 10:00 CEST"
    );
}

#[test]
fn overrides_replace_the_rotation_and_the_later_one_wins_where_they_overlap() {
    let primary = schedule(&format!(
        r#"{BERLIN_DAILY_0900}
[[schedules.primary.overrides]]
user = "70"
start = "2026-12-24T18:00"
end = "2026-12-27T09:00"

[[schedules.primary.overrides]]
user = "80"
start = "2026-12-25T12:00:00+01:00"
end = "2026-12-25T20:00:00+01:00"
"#
    ));
    let before = primary.shift_at(at("2026-12-24T16:59:59Z"));
    assert_eq!(before.cover, Cover::Rotation { turn: 298 });
    assert_eq!(
        before.until,
        Some(at("2026-12-24T17:00:00Z")),
        "the rotation's turn is cut short where the override begins"
    );
    let cover = primary.shift_at(at("2026-12-25T08:00:00Z"));
    assert_eq!(cover.user, Some(70));
    assert!(cover.via_override());
    assert_eq!(
        (cover.since, cover.until),
        (
            Some(at("2026-12-24T17:00:00Z")),
            Some(at("2026-12-25T11:00:00Z"))
        ),
        "the daily handoff inside the override does not show; the later override does"
    );
    let swap = primary.shift_at(at("2026-12-25T15:00:00Z"));
    assert_eq!(swap.user, Some(80));
    assert_eq!(swap.cover, Cover::Override { index: 1 });
    assert_eq!(
        primary.next_shift(at("2026-12-25T15:00:00Z")).unwrap().user,
        Some(70)
    );
    let back = primary.shift_at(at("2026-12-27T08:00:00Z"));
    assert_eq!(back.cover, Cover::Rotation { turn: 301 });
    assert_eq!(
        (back.since, back.until),
        (
            Some(at("2026-12-27T08:00:00Z")),
            Some(at("2026-12-28T08:00:00Z"))
        )
    );
}

#[test]
fn an_override_only_schedule_has_gaps_where_nobody_is_on_call() {
    let config = load(
        r#"
[schedules.holiday]
timezone = "UTC"
[[schedules.holiday.overrides]]
user = "5"
start = "2026-12-24T00:00:00Z"
end = "2026-12-26T00:00:00Z"

[policies.p]
fallback = "user:9"
[[policies.p.levels]]
after = "0s"
targets = ["schedule:holiday"]
"#,
    );
    let holiday = &config.schedules[0];
    let gap = holiday.shift_at(at("2026-12-20T00:00:00Z"));
    assert_eq!((gap.user, gap.since), (None, None));
    assert_eq!(gap.until, Some(at("2026-12-24T00:00:00Z")));
    assert_eq!(
        holiday.next_shift(at("2026-12-20T00:00:00Z")).unwrap().user,
        Some(5)
    );
    assert_eq!(holiday.gaps().len(), 2, "before and after the override");
    assert!(
        config.warnings[0].to_string().starts_with(
            "escalation.toml:2: schedules.holiday: has gaps: nobody is on call before 2026-12-24 00:00 UTC, from 2026-12-26 00:00 UTC on"
        ),
        "{:?}",
        config.warnings
    );
}

const POLICIES: &str = r#"
[roles]
incident_commander = ["4000"]
admin = []

[schedules.primary]
timezone = "Europe/Berlin"
members = ["1", "2"]
period = "daily"
handoff = "09:00"
start = "2026-03-01"

[schedules.holiday]
timezone = "UTC"
[[schedules.holiday.overrides]]
user = "5"
start = "2026-12-24T00:00:00Z"
end = "2026-12-26T00:00:00Z"

[notifiers.pagerduty]
kind = "pagerduty"
routing_key_env = "PD_KEY"

[policies.critical]
repeat = 2
repeat_after = "10m"
fallback = "role:incident_commander"

[[policies.critical.levels]]
after = "0s"
targets = ["schedule:primary", "notifier:pagerduty"]

[[policies.critical.levels]]
after = "5m"
targets = ["schedule:holiday"]

[[policies.critical.levels]]
after = "15m"
targets = ["user:42", "role:admin"]
"#;

#[test]
fn the_planner_dates_every_level_of_every_round_from_the_opening() {
    let config = load(POLICIES);
    let critical = config.policy("critical").unwrap();
    let opened = at("2026-03-29T06:50:00Z");
    let plan: Vec<(u32, u32, u64, Timestamp)> = critical
        .plan(opened)
        .iter()
        .map(|step| {
            (
                step.level,
                step.round,
                step.after.as_secs() / 60,
                step.due_at,
            )
        })
        .collect();
    // A round lasts 15m + 10m = 25m; three rounds (repeat = 2).
    assert_eq!(
        plan,
        [
            (1, 0, 0, at("2026-03-29T06:50:00Z")),
            (2, 0, 5, at("2026-03-29T06:55:00Z")),
            (3, 0, 15, at("2026-03-29T07:05:00Z")),
            (1, 1, 25, at("2026-03-29T07:15:00Z")),
            (2, 1, 30, at("2026-03-29T07:20:00Z")),
            (3, 1, 40, at("2026-03-29T07:30:00Z")),
            (1, 2, 50, at("2026-03-29T07:40:00Z")),
            (2, 2, 55, at("2026-03-29T07:45:00Z")),
            (3, 2, 65, at("2026-03-29T07:55:00Z")),
        ]
    );
    assert_eq!(
        critical.step_after(3, 2),
        Some(Duration::from_secs(65 * 60))
    );
    assert_eq!(critical.step_after(1, 3), None, "no fourth round");
    assert_eq!(critical.next_step(3, 0), Some((1, 1)));
    assert_eq!(critical.next_step(3, 2), None);
}

#[test]
fn levels_fall_due_at_their_delays_as_a_controlled_clock_advances() {
    let config = load(POLICIES);
    let critical = config.policy("critical").unwrap();
    let opened = at("2026-03-29T06:50:00Z");
    let clock = ManualClock::new(opened);
    let due = |clock: &ManualClock| -> Vec<(u32, u32)> {
        critical
            .due_by(opened, clock.now())
            .iter()
            .map(|step| (step.level, step.round))
            .collect()
    };
    assert_eq!(due(&clock), [(1, 0)]);
    clock.advance(Duration::from_millis(5 * 60_000 - 1));
    assert_eq!(due(&clock), [(1, 0)], "level 2 not a millisecond early");
    clock.advance(Duration::from_millis(1));
    assert_eq!(due(&clock), [(1, 0), (2, 0)]);
    clock.advance(Duration::from_secs(20 * 60));
    assert_eq!(
        due(&clock),
        [(1, 0), (2, 0), (3, 0), (1, 1)],
        "the repeat begins 10 minutes after the last level"
    );
    clock.advance(Duration::from_secs(24 * 3600));
    assert_eq!(
        due(&clock).len(),
        9,
        "and the policy ends after its last round"
    );
}

#[test]
fn targets_resolve_at_the_due_time_and_the_fallback_stands_in_for_nobody() {
    let config = load(POLICIES);
    let critical = config.policy("critical").unwrap();
    let directory = config.directory();
    // Opened a minute before the 09:00 Berlin handoff: level 1 pages turn 27's member (user
    // 2); the same schedule a minute later is turn 28's (user 1).
    let simulation = simulate(&directory, critical, at("2026-03-29T06:59:00Z"));
    let first = &simulation.steps[0].pages;
    assert_eq!(
        first[0].reach,
        Reach::Reached {
            recipient: Recipient::DiscordUser {
                user_id: 2,
                schedule: Some("primary".into()),
                via_override: false
            }
        }
    );
    let later = directory.resolve(
        &Target::Schedule("primary".into()),
        at("2026-03-29T07:00:00Z"),
    );
    assert_eq!(
        later,
        Ok(Recipient::DiscordUser {
            user_id: 1,
            schedule: Some("primary".into()),
            via_override: false
        })
    );
    assert!(matches!(
        &first[1].reach,
        Reach::Reached { recipient: Recipient::Notifier { name, .. } } if name == "pagerduty"
    ));
    // Level 2: the holiday schedule has nobody in March, so the fallback role is mentioned.
    let second = &simulation.steps[1].pages[0];
    match &second.reach {
        Reach::Fallback {
            reason,
            fallback,
            recipient,
        } => {
            assert!(
                reason.contains("nobody is on call in schedule holiday"),
                "{reason}"
            );
            assert_eq!(*fallback, Target::Role("incident_commander".into()));
            assert_eq!(
                *recipient,
                Recipient::DiscordRole {
                    role: "incident_commander".into(),
                    role_ids: vec![4000]
                }
            );
        }
        other => panic!("expected the fallback, got {other:?}"),
    }
    assert_eq!(
        second.dedup_key(IncidentId(12), 2, 0),
        "warroom-INC-12-L2-R0-role:incident_commander",
        "a fallback page carries the fallback's key"
    );
    // Level 3: a user is always reached; a bot role nobody holds falls back.
    let third = &simulation.steps[2].pages;
    assert!(matches!(third[0].reach, Reach::Reached { .. }));
    assert!(matches!(third[1].reach, Reach::Fallback { .. }));
}

#[test]
fn dedup_keys_are_unique_per_incident_level_round_and_target() {
    let config = load(POLICIES);
    let critical = config.policy("critical").unwrap();
    let mut keys = Vec::new();
    for incident in [IncidentId(12), IncidentId(13)] {
        for step in critical.plan(at("2026-03-29T06:50:00Z")) {
            for target in &step.targets {
                keys.push(dedup_key(incident, step.level, step.round, target));
            }
        }
    }
    let total = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), total, "no two pages share a key");
    assert!(keys.contains(&"warroom-INC-12-L1-R0-schedule:primary".to_owned()));
    assert!(keys.contains(&"warroom-INC-13-L3-R2-user:42".to_owned()));
}

#[test]
fn service_policy_wins_over_severity_policy_which_wins_over_the_default() {
    let config = load(&format!(
        r#"{POLICIES}
[policies.quiet]
[[policies.quiet.levels]]
after = "0s"
targets = ["user:1"]

[escalation]
default_policy = "quiet"

[severities.SEV1]
description = "Critical"
ack_within = "15m"
policy = "critical"

[severities.SEV2]
description = "Major"
ack_within = "1h"

[services.db]
rto = "30m"
rpo = "0"
policy = "quiet"
"#
    ));
    let name = |severity: &str, service: Option<&str>| {
        config.policy_for(severity, service).map(|p| p.name.clone())
    };
    assert_eq!(name("SEV1", None), Some("critical".into()));
    assert_eq!(name("SEV1", Some("db")), Some("quiet".into()));
    assert_eq!(name("SEV2", None), Some("quiet".into()));
    assert_eq!(name("SEV2", Some("unknown-service")), Some("quiet".into()));
}
