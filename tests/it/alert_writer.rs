//! The alert writer (group commit): concurrent deliveries recorded in shared transactions are
//! all stored with gap-free, unrepeated event numbers; a job that fails in a batch costs the
//! others nothing; a full queue makes senders wait and drops none.

use std::sync::Arc;

use serde_json::json;
use warroom::alerts::{self, AlertSource};
use warroom::domain::{
    Actor, AlertReport, AlertState, EventKind, IncidentId, NewEvent, Source, Timestamp,
};
use warroom::ops::{AlertWriter, Ops, Principal};
use warroom::store::{AlertChange, RecordJob, StoreError};

use crate::on_both_backends;
use crate::support::{TestDb, operator};

on_both_backends!(
    concurrent_jobs_are_all_stored_with_gap_free_events,
    a_failing_job_in_a_batch_costs_the_others_nothing,
    a_full_queue_makes_senders_wait_and_drops_none,
    concurrent_deliveries_through_a_queue_of_one_are_all_stored,
    a_batch_records_each_job_as_it_would_be_recorded_alone,
);

const START: i64 = 1_800_000_000_000;

async fn open(ops: &Ops, title: &str) -> IncidentId {
    let request = warroom::ops::OpenRequest {
        title: title.to_owned(),
        severity: "SEV2".to_owned(),
        ..Default::default()
    };
    ops.open(&operator("alice"), Source::Cli, request)
        .await
        .expect("open")
        .incident
        .id
}

fn firing(fingerprint: &str) -> AlertReport {
    AlertReport {
        fingerprint: fingerprint.to_owned(),
        starts_at: Some(Timestamp::from_millis(START)),
        ends_at: None,
        state: AlertState::Firing,
        summary: format!("alert {fingerprint}"),
        labels: [("alertname".to_owned(), fingerprint.to_owned())].into(),
        details: json!({}),
    }
}

fn job(incident: IncidentId, fingerprints: &[&str]) -> RecordJob {
    job_from("test", incident, fingerprints)
}

fn job_from(source: &str, incident: IncidentId, fingerprints: &[&str]) -> RecordJob {
    let now = Timestamp::from_millis(START + 1_000);
    RecordJob {
        incident,
        source: source.to_owned(),
        group_key: format!("group-of-{}", incident.0),
        alerts: fingerprints.iter().map(|f| firing(f)).collect(),
        now,
        render: Box::new(move |alert: &AlertReport, change: AlertChange| {
            let kind = match change {
                AlertChange::Fired => EventKind::AlertFiring,
                AlertChange::Resolved { .. } => EventKind::AlertResolved,
            };
            NewEvent::new(
                now,
                kind,
                Actor::alert("test"),
                format!("fired {}", alert.fingerprint),
            )
        }),
        require_active: true,
        note: None,
    }
}

/// Every (incident, seq) of the timeline of `incident`, checked to be 1..=n without gaps or
/// repeats; returns the texts of its alert events.
async fn alert_events(db: &TestDb, ops: &Ops, incident: IncidentId) -> Vec<String> {
    let events = ops
        .store()
        .timeline_page(incident, 0, 10_000)
        .await
        .expect("timeline");
    let seqs: Vec<i64> = events.iter().map(|event| event.seq).collect();
    let expected: Vec<i64> = (1..=i64::try_from(seqs.len()).unwrap()).collect();
    assert_eq!(seqs, expected, "{incident}'s events are numbered 1..n");
    let _ = db;
    let mut texts: Vec<String> = events
        .iter()
        .filter(|event| event.kind == EventKind::AlertFiring)
        .map(|event| event.text.clone())
        .collect();
    texts.sort();
    texts
}

async fn concurrent_jobs_are_all_stored_with_gap_free_events(db: TestDb) {
    let ops = db.ops().await;
    let incidents = [open(&ops, "first").await, open(&ops, "second").await];
    let writer = AlertWriter::spawn(ops.store().clone(), 8, 16);
    // 60 deliveries at once over two incidents; every alert is sent by two of them (n and
    // n + 2), so a batch often holds both and the second must see the first's write.
    let mut tasks = Vec::new();
    for n in 0..60 {
        let writer = writer.clone();
        let incident = incidents[n % 2];
        let fingerprint = format!("{}-a{:02}", n % 2, n / 2 % 15);
        tasks.push(tokio::spawn(async move {
            writer.record(job(incident, &[&fingerprint])).await
        }));
    }
    let mut fired = 0;
    for task in tasks {
        let recorded = task.await.unwrap().expect("every delivery is recorded");
        assert!(!recorded.replan);
        fired += recorded.fired;
    }
    assert_eq!(fired, 30, "each of 15 alerts fired once on each incident");
    for (k, incident) in incidents.into_iter().enumerate() {
        let texts = alert_events(&db, &ops, incident).await;
        let expected: Vec<String> = (0..15).map(|n| format!("fired {k}-a{n:02}")).collect();
        assert_eq!(texts, expected, "one event per alert on {incident}");
    }
}

async fn a_failing_job_in_a_batch_costs_the_others_nothing(db: TestDb) {
    let ops = db.ops().await;
    let incident = open(&ops, "real").await;
    let missing = IncidentId(incident.0 + 1_000);
    let jobs = [
        job(incident, &["x1"]),
        job(missing, &["y1"]),
        job(incident, &["x2", "x1"]),
    ];
    let batch = ops.store().record_alerts_batch(&jobs).await;
    assert!(
        batch.retried,
        "the missing incident fails the shared transaction"
    );
    let results = batch.results;
    assert_eq!(results.len(), 3);
    let first = results[0].as_ref().expect("the first job is stored");
    assert_eq!(first.fired, 1);
    assert!(
        matches!(results[1], Err(StoreError::NotFound(id)) if id == missing),
        "the job on a missing incident fails alone: {:?}",
        results[1].as_ref().map(|recorded| recorded.fired)
    );
    let third = results[2].as_ref().expect("the third job is stored");
    assert_eq!((third.fired, third.unchanged), (1, 1));
    assert_eq!(
        alert_events(&db, &ops, incident).await,
        ["fired x1", "fired x2"]
    );
    // The same batch again changes nothing: recording is keyed by alert instance.
    let again = ops.store().record_alerts_batch(&jobs).await.results;
    assert!(again[0].as_ref().is_ok_and(|recorded| recorded.fired == 0));
    assert!(again[2].as_ref().is_ok_and(|recorded| recorded.fired == 0));
    assert_eq!(
        alert_events(&db, &ops, incident).await,
        ["fired x1", "fired x2"]
    );
}

async fn a_full_queue_makes_senders_wait_and_drops_none(db: TestDb) {
    let ops = db.ops().await;
    let incident = open(&ops, "busy").await;
    // One place in the queue and one job per transaction: almost every sender finds the
    // queue full and must wait.
    let writer = AlertWriter::spawn(ops.store().clone(), 1, 1);
    let tasks: Vec<_> = (0..40)
        .map(|n| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.record(job(incident, &[&format!("q{n:02}")])).await })
        })
        .collect();
    for task in tasks {
        let recorded = task.await.unwrap().expect("a waiting sender is answered");
        assert_eq!(recorded.fired, 1);
    }
    let expected: Vec<String> = (0..40).map(|n| format!("fired q{n:02}")).collect();
    assert_eq!(alert_events(&db, &ops, incident).await, expected);
}

/// Through `Ops::ingest`, as the HTTP endpoints call it: the first delivery opens the group's
/// incident, then concurrent deliveries with new alerts go through a writer with one place.
async fn concurrent_deliveries_through_a_queue_of_one_are_all_stored(db: TestDb) {
    let ops = Arc::new(db.ops().await.with_alert_queue(1, 2));
    let sender = Principal::new(
        Actor::alert("alertmanager"),
        [alerts::ALERT_SENDER.to_owned()],
    );
    let delivery = |fingerprints: Vec<String>| {
        let alerts: Vec<_> = fingerprints
            .iter()
            .map(|fingerprint| {
                json!({
                    "status": "firing",
                    "labels": {"alertname": "Load", "instance": fingerprint},
                    "annotations": {"summary": format!("load on {fingerprint}")},
                    "startsAt": Timestamp::from_millis(START).to_rfc3339(),
                    "endsAt": "0001-01-01T00:00:00Z",
                    "fingerprint": fingerprint,
                })
            })
            .collect();
        let body = json!({
            "version": "4",
            "groupKey": "{}:{alertname=\"Load\"}",
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "warroom",
            "groupLabels": {"alertname": "Load"},
            "commonLabels": {"alertname": "Load"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.example",
            "alerts": alerts,
        });
        alerts::parse(AlertSource::Alertmanager, body.to_string().as_bytes()).expect("valid")
    };
    let first = ops
        .ingest(&sender, &delivery(vec!["h00".to_owned()]))
        .await
        .expect("the first delivery is stored");
    let incident = first.groups[0].incident.expect("it opened an incident");
    let tasks: Vec<_> = (1..=30)
        .map(|n| {
            let (ops, sender) = (ops.clone(), sender.clone());
            // Each delivery repeats the one before it and adds one alert.
            let delivery = delivery(vec![format!("h{:02}", n - 1), format!("h{n:02}")]);
            tokio::spawn(async move { ops.ingest(&sender, &delivery).await })
        })
        .collect();
    for task in tasks {
        let outcome = task.await.unwrap().expect("every delivery is stored");
        assert_eq!(outcome.groups[0].incident, Some(incident));
    }
    let expected: Vec<String> = (0..=30)
        .map(|n| format!("Alert firing: load on h{n:02}"))
        .collect();
    assert_eq!(alert_events(&db, &ops, incident).await, expected);
}

fn resolved(fingerprint: &str) -> AlertReport {
    AlertReport {
        state: AlertState::Resolved,
        ends_at: Some(Timestamp::from_millis(START + 500)),
        ..firing(fingerprint)
    }
}

/// What a job's outcome says, to compare a batch's with one-by-one recording.
fn outcome(recorded: &warroom::store::Recorded) -> String {
    let events: Vec<String> = recorded
        .written
        .events
        .iter()
        .map(|event| format!("{}:{}:{}", event.seq, event.kind.as_str(), event.text))
        .collect();
    format!(
        "fired {} resolved {} unchanged {} unmatched {} all_resolved {} replan {} \
         duplicate {} last_seq {} events {events:?}",
        recorded.fired,
        recorded.resolved,
        recorded.unchanged,
        recorded.unmatched,
        recorded.all_resolved,
        recorded.replan,
        recorded.written.duplicate,
        recorded.written.incident.last_seq,
    )
}

/// One batch mixing jobs that share nothing (recorded together, in a few statements) with
/// jobs that share an incident or an alert, resolve, carry a note or find their incident
/// resolved (recorded one after the other): every outcome and every timeline is what
/// recording the same jobs one at a time gives, in a second, identical world of incidents.
async fn a_batch_records_each_job_as_it_would_be_recorded_alone(db: TestDb) {
    let ops = db.ops().await;
    let mut worlds = Vec::new();
    for source in ["batch", "alone"] {
        let mut incidents = Vec::new();
        for n in 0..10 {
            incidents.push(open(&ops, &format!("{source} {n}")).await);
        }
        let before = [
            job_from(source, incidents[1], &["q1"]),
            job_from(source, incidents[6], &["t1", "t2"]),
        ];
        for recorded in ops.store().record_alerts_batch(&before).await.results {
            recorded.expect("the history is stored");
        }
        ops.resolve(&operator("alice"), incidents[3], Some("done"))
            .await
            .expect("resolve");
        let mut jobs = vec![
            // Shares nothing: new alerts, an alert already stored, one alert sent twice.
            job_from(source, incidents[0], &["p1", "p2"]),
            job_from(source, incidents[1], &["q1", "q2"]),
            job_from(source, incidents[2], &["r1", "r1"]),
            // Its incident was resolved meanwhile.
            job_from(source, incidents[3], &["x1"]),
            // Two jobs on one incident, the second repeating the first's alert.
            job_from(source, incidents[4], &["s1"]),
            job_from(source, incidents[4], &["s1", "s2"]),
            // One alert on two incidents (two groups).
            job_from(source, incidents[7], &["u1"]),
            job_from(source, incidents[8], &["u1", "u2"]),
            job_from(source, incidents[9], &["v1"]),
        ];
        let mut resolving = job_from(source, incidents[6], &[]);
        resolving.alerts = vec![resolved("t1"), resolved("t2")];
        jobs.push(resolving);
        let mut noted = job_from(source, incidents[5], &["w1"]);
        noted.note = Some(
            NewEvent::new(
                Timestamp::from_millis(START + 1_000),
                EventKind::Note,
                Actor::alert("test"),
                "2 alerts were left out".to_owned(),
            )
            .with_key(format!("truncated:{source}")),
        );
        jobs.push(noted);
        worlds.push((incidents, jobs));
    }
    let (alone_incidents, alone_jobs) = worlds.pop().unwrap();
    let (batch_incidents, batch_jobs) = worlds.pop().unwrap();
    let batch = ops.store().record_alerts_batch(&batch_jobs).await;
    // Recorded in the shared transaction, not job by job after it failed (which gives the
    // same outcomes whatever the batch did wrong).
    assert!(!batch.retried, "the batch's shared transaction failed");
    let batched: Vec<String> = batch
        .results
        .iter()
        .map(|result| outcome(result.as_ref().expect("the batch is stored")))
        .collect();
    let mut one_by_one = Vec::new();
    for job in &alone_jobs {
        let result = ops
            .store()
            .record_alerts_batch(std::slice::from_ref(job))
            .await;
        one_by_one.push(outcome(
            result.results[0].as_ref().expect("the job is stored"),
        ));
    }
    assert_eq!(batched, one_by_one);
    // The outcomes are the ones expected, not just the same.
    let expected = [
        (0, "fired 2 resolved 0 unchanged 0"),
        (1, "fired 1 resolved 0 unchanged 1"),
        (2, "fired 1 resolved 0 unchanged 1"),
        (3, "replan true"),
        (5, "fired 1 resolved 0 unchanged 1"),
        (7, "fired 1 resolved 0 unchanged 1"),
        (9, "resolved 2"),
        (9, "all_resolved true"),
        (10, "2 alerts were left out"),
    ];
    for (job, says) in expected {
        assert!(batched[job].contains(says), "job {job}: {}", batched[job]);
    }
    for (batch, alone) in batch_incidents.into_iter().zip(alone_incidents) {
        let texts = |events: Vec<warroom::domain::Event>| -> Vec<String> {
            events
                .into_iter()
                .map(|event| format!("{}:{}", event.seq, event.text))
                .filter(|text| !text.contains("batch") && !text.contains("alone"))
                .collect()
        };
        let store = ops.store();
        assert_eq!(
            texts(
                store
                    .timeline_page(batch, 0, 1_000)
                    .await
                    .expect("timeline")
            ),
            texts(
                store
                    .timeline_page(alone, 0, 1_000)
                    .await
                    .expect("timeline")
            ),
            "the timelines of {batch} and {alone}"
        );
    }
}
