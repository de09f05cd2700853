//! Deadlines and reminders of incidents (issue 14 point 1) on both backends, on a controlled
//! clock, with the real timer engine and the real handlers: `ack_deadline_missed` at
//! `ack_within` and not a millisecond early, never after an acknowledgement, once however many
//! engines look, at once after a restart; `update_every` and `commander_within` nudges fire,
//! stop when satisfied and never come more often than configured. Through the emulator, the
//! missed deadline is said in the incident channel and the announce channel.

use std::sync::Arc;
use std::time::Duration;

use warroom::domain::{Actor, Clock, Event, EventKind, IncidentId, ManualClock, Source, Timestamp};
use warroom::ops::deadlines::ACK_DEADLINE;
use warroom::ops::timers::{Timers, handlers};
use warroom::ops::{OpenRequest, Ops};

use crate::on_both_backends;
use crate::support::discord::{Converse, Options, World};
use crate::support::{TestDb, operator};

on_both_backends!(
    the_ack_deadline_is_missed_at_ack_within_once_whatever_the_number_of_engines,
    an_acknowledged_incident_never_misses_its_deadline,
    overdue_deadlines_and_reminders_fire_once_at_once_after_a_restart,
    reminders_nudge_until_satisfied_and_never_more_often_than_configured,
    a_graver_severity_brings_its_deadline_counted_from_the_opening,
    the_missed_deadline_is_said_in_the_channel_and_the_announce_channel,
);

const START: Timestamp = Timestamp::from_millis(1_800_000_000_000);

fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

/// Use cases on a store of their own, as another process would have.
async fn ops(db: &TestDb, clock: &Arc<ManualClock>) -> Ops {
    Ops::new(db.store().await, Arc::new(db.config()), clock.clone())
}

async fn engine(db: &TestDb, clock: &Arc<ManualClock>) -> Timers {
    Timers::new(ops(db, clock).await, handlers())
}

async fn open(ops: &Ops, severity: &str, drill: bool) -> IncidentId {
    ops.open(
        &operator("alice"),
        Source::Cli,
        OpenRequest {
            title: "deadlines".to_owned(),
            severity: severity.to_owned(),
            drill,
            ..OpenRequest::default()
        },
    )
    .await
    .unwrap()
    .incident
    .id
}

async fn of_kind(ops: &Ops, id: IncidentId, kind: EventKind) -> Vec<Event> {
    ops.store()
        .timeline_page(id, 0, 1_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|event| event.kind == kind)
        .collect()
}

async fn reminders(ops: &Ops, id: IncidentId, setting: &str) -> Vec<Event> {
    of_kind(ops, id, EventKind::Reminder)
        .await
        .into_iter()
        .filter(|event| event.data["reminder"] == setting)
        .collect()
}

async fn the_ack_deadline_is_missed_at_ack_within_once_whatever_the_number_of_engines(db: TestDb) {
    let clock = Arc::new(ManualClock::new(START));
    let ops = ops(&db, &clock).await;
    let id = open(&ops, "SEV1", false).await;
    let engines = [engine(&db, &clock).await, engine(&db, &clock).await];
    clock.set(START.plus(minutes(15)).minus(Duration::from_millis(1)));
    for engine in &engines {
        engine.tick(clock.now()).await.unwrap();
    }
    assert!(
        of_kind(&ops, id, EventKind::AckDeadlineMissed)
            .await
            .is_empty(),
        "not a millisecond early"
    );
    clock.set(START.plus(minutes(15)));
    let now = clock.now();
    futures::future::join_all(engines.iter().map(|engine| engine.tick(now))).await;
    let missed = of_kind(&ops, id, EventKind::AckDeadlineMissed).await;
    assert_eq!(missed.len(), 1, "once across both engines: {missed:?}");
    assert_eq!(missed[0].at, START.plus(minutes(15)));
    assert!(
        missed[0]
            .text
            .contains("SEV1 INC-1 was not acknowledged within 15m"),
        "{}",
        missed[0].text
    );
    assert!(!missed[0].text.contains("DRILL"));
    // Done for good: however late it gets, and however often the engines look.
    for hour in 1..4 {
        clock.set(START.plus(minutes(60 * hour)));
        for engine in &engines {
            engine.tick(clock.now()).await.unwrap();
        }
    }
    assert_eq!(
        of_kind(&ops, id, EventKind::AckDeadlineMissed).await.len(),
        1
    );
}

async fn an_acknowledged_incident_never_misses_its_deadline(db: TestDb) {
    let clock = Arc::new(ManualClock::new(START));
    let ops = ops(&db, &clock).await;
    let engine = engine(&db, &clock).await;
    let acked = open(&ops, "SEV1", false).await;
    let mitigated = open(&ops, "SEV1", false).await;
    clock.set(START.plus(minutes(14)));
    engine.tick(clock.now()).await.unwrap();
    ops.acknowledge(&operator("bob"), acked).await.unwrap();
    ops.mitigate(&operator("bob"), mitigated, None)
        .await
        .unwrap();
    for id in [acked, mitigated] {
        assert!(
            ops.store()
                .pending_timer(ACK_DEADLINE, &id.0.to_string())
                .await
                .unwrap()
                .is_none(),
            "the acknowledgement cancelled the deadline in its own write"
        );
    }
    for minute in 15..=90 {
        clock.set(START.plus(minutes(minute)));
        engine.tick(clock.now()).await.unwrap();
    }
    for id in [acked, mitigated] {
        assert!(
            of_kind(&ops, id, EventKind::AckDeadlineMissed)
                .await
                .is_empty()
        );
    }
}

async fn overdue_deadlines_and_reminders_fire_once_at_once_after_a_restart(db: TestDb) {
    let clock = Arc::new(ManualClock::new(START));
    let ops = ops(&db, &clock).await;
    // SEV2: ack within 1h, an update every 1h, a commander within 30m.
    let id = open(&ops, "SEV2", true).await;
    // Nobody ran for three hours; the first engine to start fires each once, at once.
    clock.set(START.plus(minutes(180)));
    let restarted = engine(&db, &clock).await;
    restarted.tick(clock.now()).await.unwrap();
    let missed = of_kind(&ops, id, EventKind::AckDeadlineMissed).await;
    assert_eq!(missed.len(), 1);
    assert!(missed[0].text.starts_with("DRILL: "), "{}", missed[0].text);
    assert_eq!(missed[0].at, START.plus(minutes(180)));
    assert_eq!(reminders(&ops, id, "update_every").await.len(), 1);
    assert_eq!(reminders(&ops, id, "commander_within").await.len(), 1);
    // Not caught up round by round: the next nudges are one period after this one.
    clock.set(START.plus(minutes(180 + 29)));
    restarted.tick(clock.now()).await.unwrap();
    assert_eq!(reminders(&ops, id, "commander_within").await.len(), 1);
    clock.set(START.plus(minutes(180 + 30)));
    restarted.tick(clock.now()).await.unwrap();
    assert_eq!(reminders(&ops, id, "commander_within").await.len(), 2);
    assert_eq!(reminders(&ops, id, "update_every").await.len(), 1);
}

async fn reminders_nudge_until_satisfied_and_never_more_often_than_configured(db: TestDb) {
    let clock = Arc::new(ManualClock::new(START));
    let ops = ops(&db, &clock).await;
    let engines = [engine(&db, &clock).await, engine(&db, &clock).await];
    // SEV1: an update every 30m, a commander within 15m.
    let id = open(&ops, "SEV1", true).await;
    ops.acknowledge(&operator("bob"), id).await.unwrap();
    let carol = Actor::discord(42, "carol");
    for minute in 0..=200 {
        clock.set(START.plus(minutes(minute)));
        match minute {
            20 => {
                ops.assign_role(&operator("bob"), id, "commander", carol.clone())
                    .await
                    .unwrap();
            }
            40 => {
                ops.post_status_update(&operator("carol"), id, "rolling back")
                    .await
                    .unwrap();
            }
            110 => {
                ops.resolve(&operator("carol"), id, None).await.unwrap();
            }
            _ => {}
        }
        for engine in &engines {
            engine.tick(clock.now()).await.unwrap();
        }
    }
    let at = |events: Vec<Event>| -> Vec<u64> {
        events
            .iter()
            .map(|event| (event.at.as_millis() - START.as_millis()) as u64 / 60_000)
            .collect()
    };
    // Nobody led it at 15m; carol took it at 20m: no more.
    let commander = reminders(&ops, id, "commander_within").await;
    assert_eq!(at(commander.clone()), [15]);
    assert!(
        commander[0]
            .text
            .contains("DRILL: INC-1 has had no commander for 15m")
    );
    assert!(commander[0].data["to"].is_null(), "the channel is nudged");
    // No update by 30m; one at 40m moves the next to 70m, then 100m; resolved at 110m.
    let updates = reminders(&ops, id, "update_every").await;
    assert_eq!(at(updates.clone()), [30, 70, 100]);
    assert_eq!(
        updates[0].data["to"]["id"], "discord:42",
        "the commander is nudged"
    );
    assert!(
        updates[1]
            .text
            .contains("No status update on INC-1 for 30m")
    );
}

async fn a_graver_severity_brings_its_deadline_counted_from_the_opening(db: TestDb) {
    let clock = Arc::new(ManualClock::new(START));
    let ops = ops(&db, &clock).await;
    let engine = engine(&db, &clock).await;
    // SEV4: 24h to acknowledge, no reminders. Raised to SEV1 after 20 minutes: SEV1's 15
    // minutes have passed, so the deadline is missed at once, and SEV1's reminders start.
    let id = open(&ops, "SEV4", false).await;
    clock.set(START.plus(minutes(20)));
    engine.tick(clock.now()).await.unwrap();
    assert!(
        of_kind(&ops, id, EventKind::AckDeadlineMissed)
            .await
            .is_empty()
    );
    ops.change_severity(&operator("bob"), id, "SEV1")
        .await
        .unwrap();
    engine.tick(clock.now()).await.unwrap();
    let missed = of_kind(&ops, id, EventKind::AckDeadlineMissed).await;
    assert_eq!(missed.len(), 1);
    assert!(
        missed[0]
            .text
            .contains("SEV1 INC-1 was not acknowledged within 15m")
    );
    clock.set(START.plus(minutes(35)));
    engine.tick(clock.now()).await.unwrap();
    assert_eq!(reminders(&ops, id, "commander_within").await.len(), 1);
    assert!(reminders(&ops, id, "update_every").await.is_empty());
    clock.set(START.plus(minutes(50)));
    engine.tick(clock.now()).await.unwrap();
    assert_eq!(reminders(&ops, id, "update_every").await.len(), 1);
}

async fn the_missed_deadline_is_said_in_the_channel_and_the_announce_channel(db: TestDb) {
    let clock = Arc::new(ManualClock::new(warroom::domain::SystemClock.now()));
    let world = World::start_with(
        db,
        Options {
            clock: Some(clock.clone()),
            ..Options::default()
        },
    )
    .await;
    let alice = world.emu.member("alice", &[world.responders]);
    alice
        .runs(
            world.general,
            r#"/incident open title:"Payments down" severity:SEV1"#,
        )
        .await
        .says("Opened **INC-1** (SEV1)");
    let channel = world.channel("inc-1-payments-down").await;
    world.app.wait_for_room(IncidentId(1)).await;
    clock.advance(minutes(15));
    world
        .app
        .wait_for_event(IncidentId(1), "the missed deadline", |event| {
            event.kind == EventKind::AckDeadlineMissed
        })
        .await;
    world
        .bot_message(channel.id, |message| {
            message.text().contains("was not acknowledged within 15m")
        })
        .await;
    world
        .message(world.announce, |message| {
            message.content.contains("**INC-1**")
                && message.content.contains("not acknowledged within 15m")
        })
        .await;
    // Counted in the metrics of the process that fired it (the only one here).
    let metrics = world
        .app
        .client
        .get(world.app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("warroom_ack_deadlines_missed_total{severity=\"SEV1\"} 1"),
        "{metrics}"
    );
    world.stop().await;
}

/// Reminder settings that could never fire, and malformed ones, are refused by `warroom
/// check` with their file and line; "0" turns a reminder off.
#[test]
fn reminder_settings_that_could_never_fire_are_named_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reminders.toml");
    std::fs::write(
        &path,
        r#"[database]
url = "sqlite://warroom.db"

[severities.SEV1]
description = "Critical"
ack_within = "15m"
update_every = "400days"
commander_within = "0"

[severities.SEV2]
description = "Major"
ack_within = "1h"
commander_within = "whenever"
"#,
    )
    .unwrap();
    let output = crate::support::run(&path, &["check"]);
    assert_eq!(output.status.code(), Some(1));
    let message = crate::support::stderr(&output);
    assert!(
        message
            .contains("reminders.toml:7: severities.SEV1.update_every: `400days` could never fire"),
        "{message}"
    );
    assert!(
        message.contains(
            "reminders.toml:13: severities.SEV2.commander_within: `whenever` is not a duration"
        ),
        "{message}"
    );
    assert!(!message.contains("SEV1.commander_within"), "{message}");
}
