//! `GET /v1/reports` and `warroom report --json` over a seeded set of incidents with known
//! times (a drill among them): exact percentiles, means and rates; bad input refused.

use std::time::Duration;

use serde_json::{Value, json};
use warroom::domain::Timestamp;

use super::{COMMANDER, CONFIG, RESPONDER, START, Server};
use crate::on_both_backends;
use crate::support::{TestDb, run};

on_both_backends!(a_report_over_seeded_incidents_has_the_exact_figures,);

const MINUTE: Duration = Duration::from_secs(60);

pub(super) fn at(minutes: u64) -> Timestamp {
    START.plus(MINUTE * minutes as u32)
}

/// Opens an incident at `opened` (minutes after START) and walks it through `steps`
/// (`ack`, `mitigate`, `resolve` at minutes after its opening).
pub(super) async fn seed(server: &Server, body: Value, opened: u64, steps: &[(&str, u64)]) -> i64 {
    server.clock.set(at(opened));
    let created = server.post("/v1/incidents", RESPONDER, &body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json()["incident"]["id"].as_i64().unwrap();
    for (step, after) in steps {
        server.clock.set(at(opened + after));
        let done = server
            // Resolved as they were before checklists asked (the seed ticks nothing).
            .post(
                &format!("/v1/incidents/{id}/{step}"),
                COMMANDER,
                &if *step == "resolve" {
                    json!({"force": true})
                } else {
                    json!({})
                },
            )
            .await;
        assert_eq!(done.status, 200, "{step}: {}", done.text);
    }
    id
}

fn spread(p50: f64, p90: f64, mean: f64, n: usize) -> Value {
    json!({"n": n, "p50_seconds": p50, "p90_seconds": p90, "mean_seconds": mean})
}

async fn a_report_over_seeded_incidents_has_the_exact_figures(db: TestDb) {
    let server = Server::start(db).await;
    let sev2_api = json!({"title": "api slow", "severity": "SEV2", "service": "api"});
    // INC-1: acknowledged at 10m, mitigated at 20m, resolved at 30m (RTO 15m missed).
    let first = seed(
        &server,
        sev2_api.clone(),
        0,
        &[("ack", 10), ("mitigate", 20), ("resolve", 30)],
    )
    .await;
    // INC-2: no service; acknowledged at 30m, resolved at 50m.
    let second = seed(
        &server,
        json!({"title": "queue stuck", "severity": "SEV2"}),
        60,
        &[("ack", 30), ("resolve", 50)],
    )
    .await;
    // INC-3: SEV1 acknowledged at 20m (its 15m missed), resolved at 25m.
    seed(
        &server,
        json!({"title": "api down", "severity": "SEV1", "service": "api"}),
        120,
        &[("ack", 20), ("resolve", 25)],
    )
    .await;
    // INC-4: SEV1 resolved at 10m, never acknowledged (missed), RTO met.
    seed(
        &server,
        json!({"title": "api blip", "severity": "SEV1", "service": "api"}),
        180,
        &[("resolve", 10)],
    )
    .await;
    // A drill: counted apart, in nothing else.
    let mut drill = sev2_api.clone();
    drill["drill"] = json!(true);
    seed(&server, drill, 200, &[("ack", 1), ("resolve", 2)]).await;
    server.clock.set(at(300));
    let done = server
        .post(
            &format!("/v1/incidents/{first}/review"),
            COMMANDER,
            &json!({"done": true}),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    let item = server
        .post(
            &format!("/v1/incidents/{second}/actions"),
            RESPONDER,
            &json!({"text": "alert on queue age", "owner": "222333444555666777", "due": "7d"}),
        )
        .await;
    assert_eq!(item.status, 201, "{}", item.text);

    let reply = server.get("/v1/reports?since=30d", RESPONDER).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let report = reply.json();
    assert_eq!(report["schema"], "warroom.report/v1");
    assert_eq!(report["incidents"], 4);
    assert_eq!(report["drills"], 1);
    let overall = &report["overall"];
    assert_eq!(overall["count"], 4);
    assert_eq!(
        overall["time_to_acknowledge"],
        spread(1200.0, 1800.0, 1200.0, 3)
    );
    assert_eq!(
        overall["time_to_mitigate"],
        spread(1200.0, 1200.0, 1200.0, 1)
    );
    assert_eq!(
        overall["time_to_resolve"],
        spread(1500.0, 3000.0, 1725.0, 4)
    );
    assert_eq!(
        overall["ack_deadline"],
        json!({"met": 2, "missed": 2, "rate": 0.5})
    );
    assert_eq!(
        overall["rto"],
        json!({"met": 1, "missed": 2, "rate": 1.0 / 3.0})
    );
    let sev1 = &report["by_severity"]["SEV1"];
    assert_eq!(sev1["count"], 2);
    assert_eq!(sev1["time_to_resolve"], spread(600.0, 1500.0, 1050.0, 2));
    assert_eq!(
        sev1["ack_deadline"],
        json!({"met": 0, "missed": 2, "rate": 0.0})
    );
    let sev2 = &report["by_severity"]["SEV2"];
    assert_eq!(
        sev2["time_to_acknowledge"],
        spread(600.0, 1800.0, 1200.0, 2)
    );
    assert_eq!(sev2["time_to_resolve"], spread(1800.0, 3000.0, 2400.0, 2));
    assert_eq!(report["by_service"]["api"]["count"], 3);
    assert_eq!(report["by_service"]["(none)"]["count"], 1);
    assert_eq!(
        report["reviews"],
        json!({"total": 4, "done": 1, "done_on_time": 1, "open": 3, "overdue": 0, "on_time_rate": 0.25})
    );
    let items = report["open_action_items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["item"], format!("INC-{second}#1"));
    assert_eq!(
        report["pages"]["per_hour_utc"].as_array().unwrap().len(),
        24
    );

    // Filters, and bad input.
    let sev1_only = server
        .get("/v1/reports?severity=sev1", RESPONDER)
        .await
        .json();
    assert_eq!(sev1_only["incidents"], 2);
    assert_eq!(sev1_only["overall"], *sev1);
    for (query, says) in [
        ("since=a%20fortnight", "is not a span of time"),
        ("since=0s", "is not a span of time"),
        ("severity=P1", "is not a severity"),
        ("colour=red", "colour"),
    ] {
        let bad = server.get(&format!("/v1/reports?{query}"), RESPONDER).await;
        assert!(
            (400..500).contains(&bad.status),
            "{query}: {} {}",
            bad.status,
            bad.text
        );
        assert!(bad.text.contains(says), "{query}: {}", bad.text);
    }

    metrics_count_the_seeded_incidents(&server).await;

    // The CLI says the same (its clock is the real one: the seeded incidents are long past,
    // so it looks back far enough, and the open reviews are overdue by now).
    let config = server.db.write_config(CONFIG);
    let output = run(&config, &["report", "--since", "36500d", "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let cli: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        cli["overall"]["time_to_resolve"],
        overall["time_to_resolve"]
    );
    assert_eq!(cli["by_severity"], report["by_severity"]);
    assert_eq!(cli["drills"], 1);
    assert_eq!(cli["reviews"]["overdue"], 3);
    let bad = run(&config, &["report", "--since", "soon"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a span of time"));
}

/// `/metrics` passes `promtool check metrics` and its histograms count the seeded incidents
/// (not the drill): acknowledged SEV2 ×2, SEV1 ×1; resolved SEV2 ×2, SEV1 ×2.
async fn metrics_count_the_seeded_incidents(server: &Server) {
    let text = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"warroom_incident_time_to_acknowledge_seconds_count{severity="SEV2"} 2"#,
        r#"warroom_incident_time_to_acknowledge_seconds_count{severity="SEV1"} 1"#,
        r#"warroom_incident_time_to_acknowledge_seconds_sum{severity="SEV2"} 2400"#,
        r#"warroom_incident_time_to_resolve_seconds_count{severity="SEV2"} 2"#,
        r#"warroom_incident_time_to_resolve_seconds_count{severity="SEV1"} 2"#,
        r#"warroom_incident_time_to_resolve_seconds_bucket{severity="SEV1",le="900"} 1"#,
        r#"warroom_incident_time_to_resolve_seconds_bucket{severity="SEV1",le="1800"} 2"#,
    ] {
        assert!(
            text.lines().any(|seen| seen == line),
            "missing {line}:\n{text}"
        );
    }
    let Some(promtool) = super::program("/usr/bin/promtool", "prometheus") else {
        return;
    };
    let mut check = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut check.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool refuses the exposition: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}
