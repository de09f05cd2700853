//! Alert ingestion: replays change nothing, storms open no more incidents than the cap, and
//! bad input is refused with a 4xx that names the problem while nothing is stored.

use std::time::Duration;

use serde_json::{Value, json};
use warroom::domain::Timestamp;

use super::{ALERTS, COMMANDER, Reply, START, Server, VIEWER};
use crate::on_both_backends;
use crate::support::TestDb;

on_both_backends!(
    replayed_deliveries_change_nothing,
    a_storm_opens_no_more_incidents_than_the_cap,
    bad_input_is_refused_and_stores_nothing,
    alerts_open_follow_and_mitigate_an_incident,
);

fn at(offset_seconds: i64) -> String {
    Timestamp::from_millis(START.as_millis() + offset_seconds * 1000).to_rfc3339()
}

fn am_alert(status: &str, instance: &str, fingerprint: &str, ends: Option<i64>) -> Value {
    json!({
        "status": status,
        "labels": {"alertname": "DiskFull", "service": "postgres", "instance": instance, "severity": "critical"},
        "annotations": {"summary": "Disk almost full on the database", "description": "over 95% used"},
        "startsAt": at(-600),
        "endsAt": ends.map(at).unwrap_or_else(|| "0001-01-01T00:00:00Z".to_owned()),
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": fingerprint,
    })
}

fn alertmanager(status: &str, alerts: Vec<Value>) -> Value {
    json!({
        "version": "4",
        "groupKey": "{}/{service=\"postgres\"}:{alertname=\"DiskFull\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "warroom",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull", "service": "postgres", "severity": "critical"},
        "commonAnnotations": {"summary": "Disk almost full on the database"},
        "externalURL": "http://alertmanager.example",
        "alerts": alerts,
    })
}

fn grafana(status: &str) -> Value {
    json!({
        "receiver": "warroom",
        "status": status,
        "orgId": 1,
        "groupKey": "{}:{alertname=\"HighLatency\"}",
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency", "team": "web"},
        "commonAnnotations": {},
        "externalURL": "http://grafana.example/",
        "version": "1",
        "title": "[FIRING:1] HighLatency",
        "state": "alerting",
        "message": "latency is high",
        "truncatedAlerts": 0,
        "alerts": [{
            "status": status,
            "labels": {"alertname": "HighLatency", "team": "web"},
            "annotations": {"summary": "p99 latency over 2s on checkout"},
            "startsAt": at(-300),
            "endsAt": if status == "resolved" { at(-10) } else { "0001-01-01T00:00:00Z".to_owned() },
            "generatorURL": "http://grafana.example/alerting/grafana/abc/view",
            "fingerprint": "d4e5f6a7b8c9",
            "silenceURL": "http://grafana.example/alerting/silence/new",
            "dashboardURL": "",
            "panelURL": "",
            "values": {"B": 2.3},
            "valueString": "[ var='B' value=2.3 ]",
        }],
    })
}

fn pagerduty(action: &str) -> Value {
    let mut event = json!({
        "routing_key": ALERTS,
        "event_action": action,
        "dedup_key": "queue-backlog-eu",
    });
    if action == "trigger" {
        event["payload"] = json!({
            "summary": "Job queue backlog over 10,000",
            "source": "worker-eu-1",
            "severity": "error",
            "component": "jobs",
            "custom_details": {"backlog": 10432},
        });
    }
    event
}

fn generic(status: &str) -> Value {
    json!({"alerts": [{
        "id": "cert-expiry-www",
        "status": status,
        "title": "TLS certificate of www expires in 3 days",
        "labels": {"team": "web"},
        "starts_at": at(-60),
    }]})
}

/// Every kind of delivery, in the order a day of alerting might bring them.
fn deliveries() -> Vec<(&'static str, Value)> {
    vec![
        (
            "/v1/alerts/alertmanager",
            alertmanager(
                "firing",
                vec![
                    am_alert("firing", "db1", "aaaa000000000001", None),
                    am_alert("firing", "db2", "aaaa000000000002", None),
                ],
            ),
        ),
        ("/v1/alerts/grafana", grafana("firing")),
        ("/v1/enqueue", pagerduty("trigger")),
        ("/v1/alerts/generic", generic("firing")),
        ("/v1/enqueue", pagerduty("acknowledge")),
        (
            "/v1/alerts/alertmanager",
            alertmanager(
                "firing",
                vec![
                    am_alert("resolved", "db1", "aaaa000000000001", Some(-30)),
                    am_alert("firing", "db2", "aaaa000000000002", None),
                ],
            ),
        ),
        (
            "/v1/alerts/alertmanager",
            alertmanager(
                "resolved",
                vec![
                    am_alert("resolved", "db1", "aaaa000000000001", Some(-30)),
                    am_alert("resolved", "db2", "aaaa000000000002", Some(-20)),
                ],
            ),
        ),
        ("/v1/alerts/grafana", grafana("resolved")),
        ("/v1/enqueue", pagerduty("resolve")),
        ("/v1/alerts/generic", generic("resolved")),
    ]
}

async fn send(server: &Server, path: &str, body: &Value) -> Reply {
    let reply = server.post(path, ALERTS, body).await;
    assert!(
        reply.status == 200 || reply.status == 202,
        "{path}: {} {}",
        reply.status,
        reply.text
    );
    reply
}

async fn replayed_deliveries_change_nothing(db: TestDb) {
    let pg = db.backend == crate::support::Backend::Postgres;
    let once = Server::start(db).await;
    for (path, body) in deliveries() {
        send(&once, path, &body).await;
    }
    let expected = once.snapshot().await;
    once.stop().await;
    assert!(expected.contains("alert_firing"), "{expected}");
    assert!(
        expected.contains("mitigated"),
        "the database route mitigates: {expected}"
    );

    let twice = Server::start(if pg {
        TestDb::postgres().await.unwrap()
    } else {
        TestDb::sqlite()
    })
    .await;
    // Each delivery three times, as a sender retrying after lost answers would.
    for (path, body) in deliveries() {
        for _ in 0..3 {
            send(&twice, path, &body).await;
        }
    }
    assert_eq!(twice.snapshot().await, expected);
    // And the whole day of Alertmanager, Grafana and generic deliveries again, twice: their
    // alerts carry their start, so even a firing after its resolution is known.
    for _ in 0..2 {
        for (path, body) in deliveries() {
            if path != "/v1/enqueue" {
                let reply = send(&twice, path, &body).await;
                assert_eq!(reply.json()["fired"], 0, "{}", reply.text);
                assert_eq!(reply.json()["resolved"], 0, "{}", reply.text);
            }
        }
    }
    assert_eq!(twice.snapshot().await, expected);
    twice.stop().await;
}

async fn alerts_open_follow_and_mitigate_an_incident(db: TestDb) {
    let server = Server::start(db).await;
    let first = send(
        &server,
        "/v1/alerts/alertmanager",
        &alertmanager("firing", vec![am_alert("firing", "db1", "f1", None)]),
    )
    .await
    .json();
    assert_eq!(first["groups"][0]["opened"], true);
    assert_eq!(first["groups"][0]["route"], "database");
    let id = first["groups"][0]["incident"].as_i64().unwrap();
    let incident = server
        .get(&format!("/v1/incidents/{id}"), VIEWER)
        .await
        .json();
    assert_eq!(incident["incident"]["severity"], "SEV1");
    assert_eq!(incident["incident"]["service"], "postgres");
    assert_eq!(incident["incident"]["source"], "alert");
    assert_eq!(
        incident["incident"]["title"],
        "Disk almost full on the database"
    );
    assert_eq!(
        incident["incident"]["opened_by"]["id"],
        "alert:alertmanager"
    );

    // A second alert of the group joins the incident; then both resolve.
    let second = send(
        &server,
        "/v1/alerts/alertmanager",
        &alertmanager(
            "firing",
            vec![
                am_alert("firing", "db1", "f1", None),
                am_alert("firing", "db2", "f2", None),
            ],
        ),
    )
    .await
    .json();
    assert_eq!(second["groups"][0]["incident"], id);
    assert_eq!(second["groups"][0]["opened"], false);
    assert_eq!(
        (second["fired"].as_u64(), second["duplicates"].as_u64()),
        (Some(1), Some(1))
    );
    send(
        &server,
        "/v1/alerts/alertmanager",
        &alertmanager("firing", vec![am_alert("resolved", "db1", "f1", Some(-5))]),
    )
    .await;
    let still = server
        .get(&format!("/v1/incidents/{id}"), VIEWER)
        .await
        .json();
    assert_eq!(still["incident"]["status"], "open", "one alert still fires");
    send(
        &server,
        "/v1/alerts/alertmanager",
        &alertmanager(
            "resolved",
            vec![am_alert("resolved", "db2", "f2", Some(-1))],
        ),
    )
    .await;
    let timeline = server
        .get(&format!("/v1/incidents/{id}/timeline"), VIEWER)
        .await
        .json();
    let kinds: Vec<&str> = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "opened",
            "alert_firing",
            "alert_firing",
            "alert_resolved",
            "alert_resolved",
            "status_changed"
        ]
    );
    let last_resolved = &timeline["events"][4];
    assert_eq!(last_resolved["data"]["all_resolved"], true);
    assert!(
        last_resolved["text"]
            .as_str()
            .unwrap()
            .contains("every alert of this incident has now resolved")
    );
    let mitigated = server
        .get(&format!("/v1/incidents/{id}"), VIEWER)
        .await
        .json();
    assert_eq!(mitigated["incident"]["status"], "mitigated");

    // People resolve the incident; the same alert firing again later is a new incident.
    server
        .post(
            &format!("/v1/incidents/{id}/resolve"),
            COMMANDER,
            &json!({"force": true}),
        )
        .await;
    let mut again = am_alert("firing", "db1", "f1", None);
    again["startsAt"] = json!(at(600));
    let reopened = send(
        &server,
        "/v1/alerts/alertmanager",
        &alertmanager("firing", vec![again]),
    )
    .await
    .json();
    assert_eq!(reopened["groups"][0]["opened"], true);
    assert_ne!(reopened["groups"][0]["incident"], id);
    server.stop().await;
}

async fn a_storm_opens_no_more_incidents_than_the_cap(db: TestDb) {
    let server = Server::start(db).await;
    // 5,000 distinct alerts in five requests sent at once, all on the default route.
    let requests: Vec<Value> = (0..5)
        .map(|request| {
            let alerts: Vec<Value> = (0..1_000)
                .map(|n| {
                    json!({
                        "id": format!("node-{request}-{n}"),
                        "status": "firing",
                        "title": format!("Node {request}-{n} is unreachable"),
                        "labels": {"team": "infra"},
                        "starts_at": at(-5),
                    })
                })
                .collect();
            json!({"alerts": alerts})
        })
        .collect();
    let replies = futures::future::join_all(
        requests
            .iter()
            .map(|body| server.post("/v1/alerts/generic", ALERTS, body)),
    )
    .await;
    for reply in &replies {
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let incidents = server.get("/v1/incidents?limit=500", VIEWER).await.json();
    let incidents = incidents.as_array().unwrap();
    let overflow: Vec<&Value> = incidents
        .iter()
        .filter(|incident| {
            incident["title"]
                .as_str()
                .unwrap()
                .starts_with("Alert storm")
        })
        .collect();
    assert_eq!(
        incidents.len(),
        10 + 1,
        "the cap of 10 a minute, plus the one overflow incident: {incidents:#?}"
    );
    assert_eq!(overflow.len(), 1);
    let alerts = server
        .db
        .rows("SELECT CAST(COUNT(*) AS TEXT) FROM alerts")
        .await;
    assert_eq!(alerts, ["5000"], "every alert is stored");
    let overflow_id = overflow[0]["id"].as_i64().unwrap();
    let overflow_events = server
        .db
        .rows("SELECT CAST(incident_id AS TEXT) FROM incident_events WHERE kind = 'alert_firing'")
        .await
        .into_iter()
        .filter(|id| *id == overflow_id.to_string())
        .count();
    assert_eq!(
        overflow_events, 4_990,
        "the other alerts are on the overflow incident"
    );

    // A minute later the route may open incidents again; the overflow incident, still
    // active, keeps taking what exceeds the cap.
    server.clock.advance(Duration::from_secs(61));
    let later: Vec<Value> = (0..15)
        .map(|n| json!({"id": format!("later-{n}"), "status": "firing", "title": format!("Later {n}"), "labels": {"team": "infra"}}))
        .collect();
    let reply = send(&server, "/v1/alerts/generic", &json!({"alerts": later}))
        .await
        .json();
    let opened = reply["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|group| group["opened"] == true)
        .count();
    assert_eq!(opened, 10, "{reply}");
    let joined = reply["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|group| group["incident"] == overflow_id)
        .count();
    assert_eq!(joined, 5, "{reply}");
    server.stop().await;
}

async fn bad_input_is_refused_and_stores_nothing(db: TestDb) {
    let server = Server::start(db).await;
    // Something stored first, so "unchanged" is about a database with content.
    send(&server, "/v1/alerts/generic", &generic("firing")).await;
    let before = server.snapshot().await;
    let client = &server.client;
    let raw = |path: &str, token: Option<&str>, content_type: Option<&str>, body: Vec<u8>| {
        let mut request = client.post(server.url(path)).body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        async move { Reply::from(request.send().await.expect("warroom answers")).await }
    };
    let json_type = Some("application/json");
    let tiny = |n: usize| {
        let alerts: Vec<Value> = (0..n)
            .map(|i| json!({"id": format!("a{i}"), "status": "firing", "title": "x"}))
            .collect();
        serde_json::to_vec(&json!({"alerts": alerts})).unwrap()
    };
    let big_alert = json!({"alerts": [{"id": "big", "status": "firing", "title": "x", "labels": {"blob": "x".repeat(1_100_000)}}]});
    let mut am_no_key = alertmanager("firing", vec![am_alert("firing", "db1", "f1", None)]);
    am_no_key.as_object_mut().unwrap().remove("groupKey");
    let mut am_v3 = alertmanager("firing", vec![am_alert("firing", "db1", "f1", None)]);
    am_v3["version"] = json!("3");
    let mut am_bad_type = alertmanager("firing", vec![am_alert("firing", "db1", "f1", None)]);
    am_bad_type["alerts"][0]["labels"]["instance"] = json!(42);
    let mut am_bad_time = alertmanager("firing", vec![am_alert("firing", "db1", "f1", None)]);
    am_bad_time["alerts"][0]["startsAt"] = json!("yesterday");
    let cases: Vec<(&str, Reply, u16, &str)> = vec![
        (
            "malformed JSON",
            raw("/v1/alerts/alertmanager", Some(ALERTS), json_type, b"{\"version\": \"4\", ".to_vec()).await,
            400,
            "the body is not valid JSON: EOF while parsing",
        ),
        (
            "a wrong type",
            server.post("/v1/alerts/alertmanager", ALERTS, &am_bad_type).await,
            400,
            "alerts[0].labels.instance: invalid type: integer `42`, expected a string",
        ),
        (
            "a time that is no time",
            server.post("/v1/alerts/alertmanager", ALERTS, &am_bad_time).await,
            400,
            "alerts[0].startsAt: `yesterday` is not an RFC 3339 time",
        ),
        (
            "a missing required field",
            server.post("/v1/alerts/alertmanager", ALERTS, &am_no_key).await,
            400,
            "missing field `groupKey`",
        ),
        (
            "an unsupported webhook version",
            server.post("/v1/alerts/alertmanager", ALERTS, &am_v3).await,
            400,
            "version: `3` is not supported",
        ),
        (
            "a misspelt field of the generic format",
            server.post("/v1/alerts/generic", ALERTS, &json!({"alerts": [{"id": "x", "stauts": "firing"}]})).await,
            400,
            "alerts[0].stauts: unknown field `stauts`",
        ),
        (
            "a firing generic alert without a title",
            server.post("/v1/alerts/generic", ALERTS, &json!({"alerts": [{"id": "x", "status": "firing"}]})).await,
            400,
            "alerts[0].title: a firing alert needs a title",
        ),
        (
            "a PagerDuty resolve without dedup_key",
            server.post("/v1/enqueue", ALERTS, &json!({"routing_key": ALERTS, "event_action": "resolve"})).await,
            400,
            "dedup_key: acknowledge and resolve need the dedup_key",
        ),
        (
            "a PagerDuty event with an unknown action",
            server.post("/v1/enqueue", ALERTS, &json!({"routing_key": ALERTS, "event_action": "explode", "dedup_key": "x"})).await,
            400,
            "event_action: unknown variant `explode`",
        ),
        (
            "an unknown endpoint",
            server.post("/v1/alerts/nagios", ALERTS, &generic("firing")).await,
            404,
            "there is no endpoint POST /v1/alerts/nagios",
        ),
        (
            "a wrong method",
            server.get("/v1/alerts/generic", ALERTS).await,
            405,
            "/v1/alerts/generic does not take GET",
        ),
        (
            "a body over 1 MiB",
            raw("/v1/alerts/generic", Some(ALERTS), json_type, serde_json::to_vec(&big_alert).unwrap()).await,
            413,
            "the body is larger than 1024 KiB (1 MiB)",
        ),
        (
            "a wrong token",
            server.post("/v1/alerts/generic", "not-a-token-of-ours", &generic("firing")).await,
            401,
            "the token is not valid",
        ),
        (
            "a missing token",
            raw("/v1/alerts/generic", None, json_type, serde_json::to_vec(&generic("firing")).unwrap()).await,
            401,
            "missing token: send `Authorization: Bearer <token>`",
        ),
        (
            "a PagerDuty event with a wrong routing_key",
            raw("/v1/enqueue", None, json_type, serde_json::to_vec(&json!({"routing_key": "nope", "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "info"}})).unwrap()).await,
            401,
            "the token is not valid",
        ),
        (
            "a token without the alert_sender role",
            server.post("/v1/alerts/generic", COMMANDER, &generic("firing")).await,
            403,
            "you need the `alert_sender` role to send alerts; give the token that role",
        ),
        (
            "a wrong content type",
            raw("/v1/alerts/generic", Some(ALERTS), Some("text/plain"), serde_json::to_vec(&generic("firing")).unwrap()).await,
            415,
            "the body must be JSON sent with `Content-Type: application/json`, not `text/plain`",
        ),
        (
            "a body with 10,000 alerts",
            raw("/v1/alerts/generic", Some(ALERTS), json_type, tiny(10_000)).await,
            413,
            "the body holds 10000 alerts, more than the 1000 one request may carry",
        ),
    ];
    for (what, reply, status, error) in cases {
        assert_eq!(reply.status, status, "{what}: {}", reply.text);
        assert!(
            reply.content_type.starts_with("application/json"),
            "{what}: {}",
            reply.content_type
        );
        assert!(
            reply.error().contains(error),
            "{what}: the error should say {error:?}, it says {:?}",
            reply.error()
        );
        assert_eq!(
            server.snapshot().await,
            before,
            "{what} changed the database"
        );
    }
    // The server keeps serving.
    let health = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let fine = send(&server, "/v1/alerts/generic", &generic("resolved")).await;
    assert_eq!(fine.json()["resolved"], 1);
    server.stop().await;
}
