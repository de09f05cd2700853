//! The edge cases of alert ingestion found by the security pass of issue 12, each through
//! real requests on both backends: a PagerDuty resolve of a timestamped trigger, NUL bytes in
//! keys, a resolve that comes before its firing, truncated groups, honest counts, size caps
//! and absurd nesting. Each scenario fails on the main that issue 12 was filed against.

use serde_json::{Value, json};
use warroom::domain::{EventKind, IncidentId, Timestamp};

use super::{ALERTS, CONFIG, START, Server};
use crate::on_both_backends;
use crate::support::TestDb;

on_both_backends!(
    a_pagerduty_resolve_resolves_a_trigger_that_carried_a_timestamp,
    nul_bytes_in_keys_are_refused_alike,
    a_resolve_that_comes_before_its_firing_is_remembered,
    a_truncated_group_is_noted_on_its_incident_once,
    resolves_of_unknown_alerts_are_not_counted_as_duplicates,
    oversized_labels_and_deep_nesting_are_refused_clearly,
);

/// Routes PagerDuty events from `db-1` to a route that mitigates when its alerts resolve.
const PAGERDUTY_ROUTE: &str = r#"
[[alerts.routes]]
name = "pd-database"
matchers = ['source="db-1"']
severity = "SEV2"
mitigate_when_resolved = true
"#;

fn at(offset_seconds: i64) -> String {
    Timestamp::from_millis(START.as_millis() + offset_seconds * 1000).to_rfc3339()
}

fn am_alert(status: &str, fingerprint: &str) -> Value {
    json!({
        "status": status,
        "labels": {"alertname": "QueueStuck", "queue": fingerprint},
        "annotations": {"summary": "Queue stuck"},
        "startsAt": at(-600),
        "endsAt": if status == "resolved" { at(-5) } else { "0001-01-01T00:00:00Z".to_owned() },
        "fingerprint": fingerprint,
    })
}

fn am(group_key: &str, alerts: Vec<Value>) -> Value {
    json!({
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "warroom",
        "groupLabels": {"alertname": "QueueStuck"},
        "commonLabels": {"alertname": "QueueStuck"},
        "commonAnnotations": {},
        "alerts": alerts,
    })
}

async fn post(server: &Server, path: &str, body: &Value) -> (u16, Value) {
    let reply = server.post(path, ALERTS, body).await;
    let json = serde_json::from_str(&reply.text).unwrap_or(Value::Null);
    (reply.status, json)
}

fn incident_of(answer: &Value) -> Option<IncidentId> {
    answer["groups"][0]["incident"].as_i64().map(IncidentId)
}

// On main the resolve looked for a `seq:` instance, found none, and the alert stayed firing.
async fn a_pagerduty_resolve_resolves_a_trigger_that_carried_a_timestamp(db: TestDb) {
    let server = Server::start_with(db, &format!("{CONFIG}{PAGERDUTY_ROUTE}")).await;
    let trigger = json!({
        "routing_key": ALERTS,
        "event_action": "trigger",
        "dedup_key": "replica-lag-db-1",
        "payload": {
            "summary": "Replica lag over 30s on db-1",
            "source": "db-1",
            "severity": "critical",
            "timestamp": at(-120),
        },
    });
    let (status, answer) = post(&server, "/v1/enqueue", &trigger).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["fired"], 1, "{answer}");
    let incident = incident_of(&answer).expect("the trigger opened an incident");
    let resolve =
        json!({"routing_key": ALERTS, "event_action": "resolve", "dedup_key": "replica-lag-db-1"});
    let (status, answer) = post(&server, "/v1/enqueue", &resolve).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        answer["resolved"], 1,
        "the resolve resolved the trigger: {answer}"
    );
    let timeline = server.timeline(incident).await;
    let resolved = timeline
        .iter()
        .find(|event| event.kind == EventKind::AlertResolved)
        .expect("an alert_resolved event");
    assert_eq!(resolved.data["all_resolved"], true, "{:?}", resolved.data);
    assert_eq!(
        server.incident(incident).await.status.as_str(),
        "mitigated",
        "mitigate_when_resolved fired"
    );
    // A replay of the resolve changes nothing.
    let (_, again) = post(&server, "/v1/enqueue", &resolve).await;
    assert_eq!(again["resolved"], 0, "{again}");
    assert_eq!(server.timeline(incident).await.len(), timeline.len());
    server.stop().await;
}

// On main PostgreSQL answered 503 (a NUL cannot be stored in text) and SQLite 200.
async fn nul_bytes_in_keys_are_refused_alike(db: TestDb) {
    let server = Server::start(db).await;
    let before = server.snapshot().await;
    let mut am_fingerprint = am("queue-group", vec![am_alert("firing", "fp\u{0}1")]);
    am_fingerprint["alerts"][0]["labels"]["queue"] = json!("q1");
    let cases = [
        (
            "groupKey",
            "/v1/alerts/alertmanager",
            am("group\u{0}key", vec![am_alert("firing", "q1")]),
        ),
        (
            "alerts[0].fingerprint",
            "/v1/alerts/alertmanager",
            am_fingerprint,
        ),
        (
            "alerts[0].id",
            "/v1/alerts/generic",
            json!({"alerts": [{"id": "disk\u{0}db1", "status": "firing", "title": "Disk full"}]}),
        ),
        (
            "alerts[0].group",
            "/v1/alerts/generic",
            json!({"alerts": [{"id": "disk-db1", "group": "disk\u{0}", "status": "firing", "title": "Disk full"}]}),
        ),
        (
            "dedup_key",
            "/v1/enqueue",
            json!({"routing_key": ALERTS, "event_action": "trigger", "dedup_key": "lag\u{0}db",
                   "payload": {"summary": "Lag", "source": "db-2", "severity": "error"}}),
        ),
    ];
    for (field, path, body) in cases {
        let (status, answer) = post(&server, path, &body).await;
        assert_eq!(status, 400, "{field}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with(field) && error.contains("NUL"),
            "{field}: {error}"
        );
    }
    assert_eq!(server.snapshot().await, before, "nothing was stored");
    server.stop().await;
}

// On main the resolve was forgotten and the later firing opened an incident that would never
// resolve.
async fn a_resolve_that_comes_before_its_firing_is_remembered(db: TestDb) {
    let server = Server::start(db).await;
    let (status, answer) = post(
        &server,
        "/v1/alerts/alertmanager",
        &am("late-group", vec![am_alert("resolved", "late1")]),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["resolved"].clone(), answer["unmatched"].clone()),
        (json!(0), json!(1)),
        "{answer}"
    );
    assert_eq!(incident_of(&answer), None);
    // The firing notice of the same instance (same startsAt) arrives after it.
    let (status, answer) = post(
        &server,
        "/v1/alerts/alertmanager",
        &am("late-group", vec![am_alert("firing", "late1")]),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["fired"], 0, "{answer}");
    assert_eq!(
        incident_of(&answer),
        None,
        "no incident that would never resolve: {answer}"
    );
    assert_eq!(answer["duplicates"], 1, "{answer}");
    // A new occurrence (another start) still opens one.
    let mut later = am_alert("firing", "late1");
    later["startsAt"] = json!(at(-1));
    let (_, answer) = post(
        &server,
        "/v1/alerts/alertmanager",
        &am("late-group", vec![later]),
    )
    .await;
    assert_eq!(answer["fired"], 1, "{answer}");
    assert!(incident_of(&answer).is_some(), "{answer}");
    server.stop().await;
}

// On main `truncatedAlerts` reached only the description of a newly opened incident.
async fn a_truncated_group_is_noted_on_its_incident_once(db: TestDb) {
    let server = Server::start(db).await;
    let (_, answer) = post(
        &server,
        "/v1/alerts/alertmanager",
        &am("big-group", vec![am_alert("firing", "b1")]),
    )
    .await;
    let incident = incident_of(&answer).expect("an incident");
    let mut truncated = am(
        "big-group",
        vec![am_alert("firing", "b1"), am_alert("firing", "b2")],
    );
    truncated["truncatedAlerts"] = json!(37);
    for _ in 0..2 {
        let (status, answer) = post(&server, "/v1/alerts/alertmanager", &truncated).await;
        assert_eq!(status, 200, "{answer}");
    }
    let notes: Vec<_> = server
        .timeline(incident)
        .await
        .into_iter()
        .filter(|event| event.kind == EventKind::Note && event.text.contains("left 37 alerts"))
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].data["truncated_alerts"], 37);
    server.stop().await;
}

// On main the resolve of an alert never seen counted as a duplicate.
async fn resolves_of_unknown_alerts_are_not_counted_as_duplicates(db: TestDb) {
    let server = Server::start(db).await;
    let unknown = json!({"alerts": [{"id": "never-seen", "status": "resolved"}]});
    let (status, answer) = post(&server, "/v1/alerts/generic", &unknown).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["duplicates"], 0, "{answer}");
    assert_eq!(answer["unmatched"], 1, "{answer}");
    let resolve =
        json!({"routing_key": ALERTS, "event_action": "resolve", "dedup_key": "never-triggered"});
    let (_, answer) = post(&server, "/v1/enqueue", &resolve).await;
    assert_eq!(
        (answer["duplicates"].clone(), answer["unmatched"].clone()),
        (json!(0), json!(1)),
        "{answer}"
    );
    // A real duplicate still counts as one.
    let firing = json!({"alerts": [{"id": "seen", "status": "firing", "title": "Seen", "starts_at": at(-60)}]});
    post(&server, "/v1/alerts/generic", &firing).await;
    let (_, answer) = post(&server, "/v1/alerts/generic", &firing).await;
    assert_eq!(
        (answer["duplicates"].clone(), answer["unmatched"].clone()),
        (json!(1), json!(0)),
        "{answer}"
    );
    server.stop().await;
}

// On main a 900 KB label was stored twice and the nested body was called invalid JSON.
async fn oversized_labels_and_deep_nesting_are_refused_clearly(db: TestDb) {
    let server = Server::start(db).await;
    let before = server.snapshot().await;
    let mut long_label = am("caps", vec![am_alert("firing", "c1")]);
    long_label["alerts"][0]["labels"]["blob"] = json!("x".repeat(900_000));
    let mut long_annotation = am("caps", vec![am_alert("firing", "c1")]);
    long_annotation["alerts"][0]["annotations"]["description"] = json!("y".repeat(20_000));
    let generic_label = json!({"alerts": [{"id": "g", "status": "firing", "title": "G", "labels": {"blob": "z".repeat(5_000)}}]});
    let cases = [
        (
            "/v1/alerts/alertmanager",
            long_label,
            "alerts[0].labels.blob: 900000 bytes",
        ),
        (
            "/v1/alerts/alertmanager",
            long_annotation,
            "alerts[0].annotations.description: 20000 bytes",
        ),
        (
            "/v1/alerts/generic",
            generic_label,
            "alerts[0].labels.blob: 5000 bytes",
        ),
    ];
    for (path, body, expected) in cases {
        let (status, answer) = post(&server, path, &body).await;
        assert_eq!(status, 413, "{answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.starts_with(expected), "{error}");
    }
    // Ten thousand levels of nesting: in a field warroom ignores, in one it keeps whole
    // (PagerDuty's custom_details), and as the whole body.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let bodies = [
        (
            "/v1/alerts/alertmanager",
            format!(r#"{{"version": "4", "groupKey": "deep", "alerts": [], "extra": {deep}}}"#),
        ),
        (
            "/v1/enqueue",
            format!(
                r#"{{"event_action": "trigger", "payload": {{"summary": "s", "source": "s", "severity": "info", "custom_details": {deep}}}}}"#
            ),
        ),
        ("/v1/alerts/generic", deep.clone()),
    ];
    for (path, body) in bodies {
        let reply = server
            .client
            .post(server.url(path))
            .bearer_auth(ALERTS)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 400, "{path}");
        let text = reply.text().await.unwrap();
        assert!(text.contains("deeper than 128 levels"), "{path}: {text}");
    }
    assert_eq!(server.snapshot().await, before, "nothing was stored");
    server.stop().await;
}
