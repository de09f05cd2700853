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
    let now = Timestamp::from_millis(START + 1_000);
    RecordJob {
        incident,
        source: "test".to_owned(),
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
    let results = ops.store().record_alerts_batch(&jobs).await;
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
    let again = ops.store().record_alerts_batch(&jobs).await;
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
