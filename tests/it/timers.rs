//! The durable timer engine on both backends, on a controlled clock: a timer fires at its time
//! and not a millisecond early, once however many engines (processes) look, at once when it is
//! overdue after a restart, again and again when its handler re-arms it, never once cancelled;
//! a claim of a process that died is taken over when it runs out.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use warroom::domain::{
    Clock, EventKind, IncidentId, ManualClock, NewEvent, Source, Timer, TimerOp, Timestamp,
};
use warroom::ops::timers::{Fired, TIMER_CLAIM, TimerHandler, Timers};
use warroom::ops::{OpenRequest, Ops, OpsError};

use crate::on_both_backends;
use crate::support::{TestDb, operator};

on_both_backends!(
    a_timer_fires_once_at_its_time_whatever_the_number_of_engines,
    an_overdue_timer_fires_at_once_after_a_restart_and_a_cancelled_one_never,
    a_rearmed_timer_fires_at_each_of_its_times_and_not_between,
    the_claim_of_a_dead_process_is_taken_over_when_it_runs_out,
);

const START: Timestamp = Timestamp::from_millis(1_800_000_000_000);

/// Notes "timer fired" on the incident named by the subject, keyed by the timer's round (so a
/// firing repeated after a crash writes nothing more); re-arms `every` when the data says so.
struct NoteOnFire;

#[async_trait]
impl TimerHandler for NoteOnFire {
    fn kind(&self) -> &'static str {
        "test_note"
    }

    async fn fire(&self, ops: &Ops, timer: &Timer, now: Timestamp) -> Result<Fired, OpsError> {
        let id: IncidentId = timer
            .subject
            .parse()
            .map_err(|_| OpsError::Invalid("subject".into()))?;
        let event = NewEvent::new(
            now,
            EventKind::Note,
            warroom::domain::Actor::system(),
            "timer fired",
        )
        .with_data(json!({"due_at": timer.due_at, "round": timer.fires}))
        .with_key(format!("test-timer:{}:{}", timer.id, timer.fires));
        ops.append(id, vec![event]).await?;
        Ok(match timer.data["every_ms"].as_i64() {
            Some(every) if timer.fires < 2 => {
                Fired::Again(timer.due_at.plus(Duration::from_millis(every as u64)))
            }
            _ => Fired::Done,
        })
    }
}

struct Setup {
    db: TestDb,
    clock: Arc<ManualClock>,
    incident: IncidentId,
}

async fn setup(db: TestDb) -> Setup {
    let clock = Arc::new(ManualClock::new(START));
    let ops = engine_ops(&db, &clock).await;
    let incident = ops
        .open(
            &operator("alice"),
            Source::Cli,
            OpenRequest {
                title: "timers".to_owned(),
                severity: "SEV3".to_owned(),
                ..OpenRequest::default()
            },
        )
        .await
        .unwrap()
        .incident
        .id;
    Setup {
        db,
        clock,
        incident,
    }
}

/// Use cases on a store of their own, as another process would have.
async fn engine_ops(db: &TestDb, clock: &Arc<ManualClock>) -> Ops {
    Ops::new(db.store().await, Arc::new(db.config()), clock.clone())
}

async fn engine(db: &TestDb, clock: &Arc<ManualClock>) -> Timers {
    Timers::new(engine_ops(db, clock).await, vec![Arc::new(NoteOnFire)])
}

async fn fired(setup: &Setup) -> Vec<serde_json::Value> {
    let store = setup.db.store().await;
    let mut notes = Vec::new();
    for event in store.timeline_page(setup.incident, 0, 1_000).await.unwrap() {
        if event.kind == EventKind::Note && event.text == "timer fired" {
            notes.push(event.data);
        }
    }
    notes
}

fn set(setup: &Setup, due_in: Duration, data: serde_json::Value) -> TimerOp {
    TimerOp::set(
        "test_note",
        setup.incident.to_string(),
        START.plus(due_in),
        data,
    )
}

async fn a_timer_fires_once_at_its_time_whatever_the_number_of_engines(db: TestDb) {
    let setup = setup(db).await;
    let engines = [
        engine(&setup.db, &setup.clock).await,
        engine(&setup.db, &setup.clock).await,
        engine(&setup.db, &setup.clock).await,
    ];
    let store = setup.db.store().await;
    store
        .apply_timers(vec![set(&setup, Duration::from_secs(60), json!({}))])
        .await
        .unwrap();
    setup.clock.set(START.plus(Duration::from_millis(59_999)));
    for engine in &engines {
        assert_eq!(
            engine.tick(setup.clock.now()).await.unwrap(),
            0,
            "not a millisecond early"
        );
    }
    setup.clock.set(START.plus(Duration::from_secs(60)));
    let now = setup.clock.now();
    let ticks = futures::future::join_all(engines.iter().map(|engine| engine.tick(now))).await;
    let total: usize = ticks.into_iter().map(Result::unwrap).sum();
    assert_eq!(total, 1, "one engine fired it");
    assert_eq!(fired(&setup).await.len(), 1);
    // Fired for good: nothing more, however late it gets.
    setup.clock.advance(Duration::from_secs(3_600));
    for engine in &engines {
        assert_eq!(engine.tick(setup.clock.now()).await.unwrap(), 0);
    }
    assert_eq!(fired(&setup).await.len(), 1);
}

async fn an_overdue_timer_fires_at_once_after_a_restart_and_a_cancelled_one_never(db: TestDb) {
    let setup = setup(db).await;
    let store = setup.db.store().await;
    let other = TimerOp::set(
        "test_note",
        "INC-999",
        START.plus(Duration::from_secs(5)),
        json!({}),
    );
    store
        .apply_timers(vec![set(&setup, Duration::from_secs(10), json!({})), other])
        .await
        .unwrap();
    store
        .apply_timers(vec![TimerOp::cancel("test_note", "INC-999")])
        .await
        .unwrap();
    // Nobody ran while it came due; the next engine to start fires it at once.
    setup.clock.set(START.plus(Duration::from_secs(3_600)));
    let restarted = engine(&setup.db, &setup.clock).await;
    assert_eq!(restarted.tick(setup.clock.now()).await.unwrap(), 1);
    assert_eq!(fired(&setup).await.len(), 1);
    assert!(
        store
            .pending_timer("test_note", "INC-999")
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_rearmed_timer_fires_at_each_of_its_times_and_not_between(db: TestDb) {
    let setup = setup(db).await;
    let store = setup.db.store().await;
    store
        .apply_timers(vec![set(
            &setup,
            Duration::from_secs(10),
            json!({"every_ms": 10_000}),
        )])
        .await
        .unwrap();
    let engine = engine(&setup.db, &setup.clock).await;
    let mut seen = Vec::new();
    for second in 0..=40 {
        setup.clock.set(START.plus(Duration::from_secs(second)));
        if engine.tick(setup.clock.now()).await.unwrap() > 0 {
            seen.push(second);
        }
    }
    // Fired at 10, 20 and 30 s (the handler stops re-arming after its third round).
    assert_eq!(seen, [10, 20, 30]);
    let rounds: Vec<i64> = fired(&setup)
        .await
        .iter()
        .map(|data| data["round"].as_i64().unwrap())
        .collect();
    assert_eq!(rounds, [0, 1, 2]);
}

async fn the_claim_of_a_dead_process_is_taken_over_when_it_runs_out(db: TestDb) {
    let setup = setup(db).await;
    let store = setup.db.store().await;
    store
        .apply_timers(vec![set(&setup, Duration::ZERO, json!({}))])
        .await
        .unwrap();
    // A process claims it and dies before firing it.
    let claimed = store
        .claim_due_timers(START, START.plus(TIMER_CLAIM), "host/1/0/0", 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        store.next_timer_due().await.unwrap(),
        Some(START.plus(TIMER_CLAIM)),
        "a held timer is next claimable when its claim runs out (an engine waking for it \
         sooner would find it held, and look again at once)"
    );
    let engine = engine(&setup.db, &setup.clock).await;
    setup.clock.set(Timestamp::from_millis(
        START.plus(TIMER_CLAIM).as_millis() - 1,
    ));
    assert_eq!(
        engine.tick(setup.clock.now()).await.unwrap(),
        0,
        "held while the claim runs"
    );
    setup.clock.set(START.plus(TIMER_CLAIM));
    assert_eq!(
        engine.tick(setup.clock.now()).await.unwrap(),
        1,
        "taken over when it ran out"
    );
    assert_eq!(fired(&setup).await.len(), 1);
}
