//! Maintenance windows: an Alertmanager-shaped delivery for a service under maintenance is
//! kept and counted but opens no incident and pages nobody; incidents opened by hand still
//! page; once the window ends on its own, the next delivery opens an incident and pages.
//! Windows come from REST, the CLI, and (in `oncall.rs`'s world) Discord; bad input and
//! missing roles are refused with nothing stored.

use std::time::Duration;

use serde_json::{Value, json};
use warroom::domain::{Clock, SystemClock, Timestamp};
use warroom::store::IncidentFilter;

use crate::on_both_backends;
use crate::reach::{MINUTE, Rig};
use crate::receiver::Receiver;
use crate::support::{self, TestDb};

on_both_backends!(
    alerts_under_maintenance_open_nothing_and_page_nobody_until_it_ends,
    bad_windows_are_refused_and_nothing_is_stored,
);

const ALERTS_TOKEN: &str = "alerts-token-0123456789abcdef0123456789abcd";
const COMMANDER_TOKEN: &str = "commander-token-0123456789abcdef0123456789";
const RESPONDER_TOKEN: &str = "responder-token-0123456789abcdef0123456789";

fn toml(pager: &Receiver) -> String {
    format!(
        r#"
[api_tokens.alertmanager]
token_env = "ALERTS_TOKEN"
roles = ["alert_sender"]

[api_tokens.oncall]
token_env = "COMMANDER_TOKEN"
roles = ["incident_commander"]

[api_tokens.responder]
token_env = "RESPONDER_TOKEN"
roles = ["responder"]

[alerts.default_route]
severity = "SEV3"

[[alerts.routes]]
name = "database"
matchers = ['service="postgres"']
service = "postgres"
severity = "SEV1"

[notifiers.pager]
kind = "webhook"
url = "{}"

[policies.everything]
[[policies.everything.levels]]
after = "0s"
targets = ["notifier:pager"]
"#,
        pager.url()
    )
}

async fn rig(db: TestDb, pager: &Receiver) -> Rig {
    Rig::start(
        db,
        &toml(pager),
        &[
            ("ALERTS_TOKEN", ALERTS_TOKEN),
            ("COMMANDER_TOKEN", COMMANDER_TOKEN),
            ("RESPONDER_TOKEN", RESPONDER_TOKEN),
            ("WARROOM__ESCALATION__DEFAULT_POLICY", "everything"),
        ],
        // The CLI in these tests runs on the system clock.
        SystemClock.now(),
    )
    .await
}

/// An Alertmanager webhook body (version 4) for one firing alert of the postgres service.
fn delivery(fingerprint: &str, started: Timestamp) -> Value {
    json!({
        "version": "4",
        "groupKey": format!("{{}}/{{service=\"postgres\"}}:{{alertname=\"DiskFull\",fp=\"{fingerprint}\"}}"),
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "warroom",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull", "service": "postgres", "severity": "critical"},
        "commonAnnotations": {"summary": "Disk almost full on the database"},
        "externalURL": "http://alertmanager.example",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "DiskFull", "service": "postgres", "instance": "db-1", "severity": "critical"},
            "annotations": {"summary": "Disk almost full on the database"},
            "startsAt": started.to_rfc3339(),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph",
            "fingerprint": fingerprint,
        }],
    })
}

impl Rig {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn incident_count(&self) -> usize {
        self.ops
            .store()
            .list_incidents(&IncidentFilter::default())
            .await
            .unwrap()
            .len()
    }
}

fn triggers(pager: &Receiver) -> usize {
    pager
        .received()
        .iter()
        .filter(|request| request.json()["event"] == "trigger")
        .count()
}

async fn alerts_under_maintenance_open_nothing_and_page_nobody_until_it_ends(db: TestDb) {
    let pager = Receiver::start(Vec::new()).await;
    let rig = rig(db, &pager).await;
    let (status, window) = rig
        .send(
            reqwest::Method::POST,
            "/v1/maintenance",
            COMMANDER_TOKEN,
            Some(json!({"target": "postgres", "for": "2h", "reason": "disk migration"})),
        )
        .await;
    assert_eq!(status, 201, "{window}");
    assert_eq!(window["service"], "postgres");

    // During the window: stored and counted, no incident, no page, even when sent twice.
    rig.clock.advance(10 * MINUTE);
    let now = rig.clock.now();
    for _ in 0..2 {
        let (status, answer) = rig
            .send(
                reqwest::Method::POST,
                "/v1/alerts/alertmanager",
                ALERTS_TOKEN,
                Some(delivery("aa11", now)),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["groups"][0]["incident"], Value::Null, "{answer}");
        assert_eq!(answer["groups"][0]["held_by_maintenance"], 1, "{answer}");
    }
    rig.advance(MINUTE).await;
    assert_eq!(rig.incident_count().await, 0);
    assert_eq!(
        triggers(&pager),
        0,
        "nobody is paged for alerts under maintenance"
    );
    let (_, list) = rig
        .send(
            reqwest::Method::GET,
            "/v1/maintenance",
            RESPONDER_TOKEN,
            None,
        )
        .await;
    assert_eq!(
        list["windows"][0]["alerts"], 1,
        "one alert held, counted once: {list}"
    );

    // An incident opened by hand still pages.
    rig.open("Replica lag while migrating").await;
    rig.advance(MINUTE).await;
    assert_eq!(triggers(&pager), 1, "incidents opened by hand still page");

    // The window ends on its own; the next delivery opens an incident and pages.
    rig.clock.advance(2 * 60 * MINUTE);
    let (status, answer) = rig
        .send(
            reqwest::Method::POST,
            "/v1/alerts/alertmanager",
            ALERTS_TOKEN,
            Some(delivery("aa11", now)),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["groups"][0]["opened"], true, "{answer}");
    assert_eq!(answer["groups"][0]["held_by_maintenance"], 0, "{answer}");
    rig.advance(Duration::from_secs(1)).await;
    assert_eq!(rig.incident_count().await, 2);
    assert_eq!(
        triggers(&pager),
        2,
        "the alert's incident pages once the window is over"
    );
    let (_, list) = rig
        .send(
            reqwest::Method::GET,
            "/v1/maintenance",
            RESPONDER_TOKEN,
            None,
        )
        .await;
    assert_eq!(list["windows"], json!([]), "an ended window is not listed");
}

async fn bad_windows_are_refused_and_nothing_is_stored(db: TestDb) {
    let pager = Receiver::start(Vec::new()).await;
    let rig = rig(db, &pager).await;
    let start = |body: Value| {
        rig.send(
            reqwest::Method::POST,
            "/v1/maintenance",
            COMMANDER_TOKEN,
            Some(body),
        )
    };
    let (status, answer) = start(json!({"target": "postgress", "for": "2h", "reason": "x"})).await;
    assert_eq!(status, 422);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("there is no service `postgress`"),
        "{answer}"
    );
    let (status, answer) =
        start(json!({"target": "postgres", "for": "a while", "reason": "x"})).await;
    assert_eq!(status, 422);
    assert!(
        answer["error"].as_str().unwrap().starts_with("for: "),
        "{answer}"
    );
    let (status, answer) = start(json!({"target": "postgres", "for": "30d", "reason": "x"})).await;
    assert_eq!(status, 422, "{answer}");
    let (status, answer) = start(json!({"target": "postgres", "for": "1h", "reason": " "})).await;
    assert_eq!(status, 422, "{answer}");
    let past = rig
        .clock
        .now()
        .minus(Duration::from_secs(3600))
        .to_rfc3339();
    let (status, answer) =
        start(json!({"target": "postgres", "for": "1h", "reason": "x", "start_at": past})).await;
    assert_eq!(status, 422);
    assert!(
        answer["error"].as_str().unwrap().contains("in the past"),
        "{answer}"
    );
    let (status, answer) = rig
        .send(
            reqwest::Method::POST,
            "/v1/maintenance",
            RESPONDER_TOKEN,
            Some(json!({"target": "postgres", "for": "1h", "reason": "x"})),
        )
        .await;
    assert_eq!(status, 403, "{answer}");
    let (status, _) = rig
        .send(
            reqwest::Method::DELETE,
            "/v1/maintenance/99",
            COMMANDER_TOKEN,
            None,
        )
        .await;
    assert_eq!(status, 404);
    assert!(rig.ops.maintenance_windows().await.unwrap().is_empty());

    // The CLI: plan a window on a route, list it, end it.
    let config = rig.db.write_config(&toml(&pager));
    let later = SystemClock
        .now()
        .plus(Duration::from_secs(3600))
        .to_rfc3339();
    let out = support::succeed(
        &config,
        &[
            "maintenance",
            "start",
            "route:database",
            "--for",
            "1h",
            "--reason",
            "failover drill",
            "--start-at",
            &later,
        ],
    );
    assert!(out.contains("started: #1 route database"), "{out}");
    let out = support::succeed(&config, &["maintenance", "list"]);
    assert!(
        out.contains("#1 route database") && out.contains("failover drill"),
        "{out}"
    );
    let out = support::succeed(&config, &["maintenance", "end", "1"]);
    assert!(out.contains("ended: #1"), "{out}");
    let out = support::succeed(&config, &["maintenance", "list"]);
    assert!(out.contains("no maintenance window"), "{out}");
}
