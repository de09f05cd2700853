//! `/metrics` is valid Prometheus exposition text, as judged by the real `promtool`, and
//! counts what happened.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

use super::{ALERTS, RESPONDER, Server, program};
use crate::support::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_pass_promtool_and_count_incidents_and_alerts() {
    let Some(promtool) = program("/usr/bin/promtool", "prometheus") else {
        return;
    };
    let server = Server::start(TestDb::sqlite()).await;
    server
        .post(
            "/v1/incidents",
            RESPONDER,
            &json!({"title": "Checkout is down", "severity": "SEV2"}),
        )
        .await;
    let alerts = json!({"alerts": [{"id": "a", "status": "firing", "title": "A"}]});
    server.post("/v1/alerts/generic", ALERTS, &alerts).await;
    server.post("/v1/alerts/generic", ALERTS, &alerts).await;
    server
        .post("/v1/alerts/generic", "bad-token", &alerts)
        .await;
    warroom::metrics::page_sent("pagerduty");
    warroom::metrics::page_failed("slack");
    warroom::metrics::escalation_lateness(std::time::Duration::from_millis(120));
    warroom::metrics::interaction_latency(std::time::Duration::from_millis(8));
    warroom::metrics::command_run("succeeded");

    let reply = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert!(
        reply.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = reply.text().await.unwrap();
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool refuses the exposition: {}{}\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    for line in [
        r#"warroom_incidents{severity="SEV2",status="open"} 1"#,
        r#"warroom_incidents{severity="SEV3",status="open"} 1"#,
        r#"warroom_incidents{severity="SEV1",status="resolved"} 0"#,
        r#"warroom_alerts_received_total{endpoint="generic",result="fired"} 1"#,
        r#"warroom_alerts_received_total{endpoint="generic",result="duplicate"} 1"#,
        r#"warroom_alerts_received_total{endpoint="generic",result="rejected"} 1"#,
        r#"warroom_alert_requests_total{code="401",endpoint="generic"} 1"#,
        r#"warroom_pages_sent_total{notifier="pagerduty"} 1"#,
        r#"warroom_pages_failed_total{notifier="slack"} 1"#,
        r#"warroom_pages_sent_total{notifier="ops-webhook"} 0"#,
        r#"warroom_command_runs_total{result="succeeded"} 1"#,
        "warroom_escalation_lateness_seconds_count 1",
        "warroom_interaction_latency_seconds_count 1",
        r#"warroom_http_request_duration_seconds_count{route="/v1/alerts/generic",status="200"} 2"#,
    ] {
        assert!(text.contains(line), "no `{line}` in:\n{text}");
    }
    server.stop().await;
}
