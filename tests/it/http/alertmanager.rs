//! A real Prometheus Alertmanager delivers to warroom, which runs against the Discord
//! emulator: one incident per alert group, each with its channel; resolving the alerts in
//! Alertmanager records `alert_resolved`, tells the channel, and mitigates where the route
//! says so. Each incident starts paging at once (a webhook notifier on 127.0.0.1), and the
//! mitigation tells the paged receiver, under the same dedup key.

use std::process::{Child, Command, Stdio};

use serde_json::json;
use warroom::domain::{EventKind, Incident, Status, Timestamp};
use warroom::store::IncidentFilter;

use super::{ALERTS, CONFIG, program, token_env};
use crate::receiver::Receiver;
use crate::support::discord::{Options, World};
use crate::support::{TestDb, WAIT, eventually, free_port};

/// Stops the Alertmanager when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alertmanager_groups_become_incidents_with_channels_and_resolve() {
    let Some(alertmanager) = program(
        "/usr/bin/prometheus-alertmanager",
        "prometheus-alertmanager",
    ) else {
        return;
    };
    let pager = Receiver::start(Vec::new()).await;
    let config = format!(
        "{CONFIG}\n[notifiers.oncall]\nkind = \"webhook\"\nurl = \"{}\"\n\n[policies.alerts]\n[[policies.alerts.levels]]\nafter = \"0s\"\ntargets = [\"notifier:oncall\"]\n",
        pager.url()
    );
    let mut env = token_env();
    env.push((
        "WARROOM__ESCALATION__DEFAULT_POLICY".to_owned(),
        "alerts".to_owned(),
    ));
    let options = Options {
        extra_toml: config,
        extra_env: env,
        ..Options::default()
    };
    let world = World::start_with(TestDb::sqlite(), options).await;
    let pages = |event: &str| -> Vec<String> {
        pager
            .received()
            .iter()
            .map(|request| request.json())
            .filter(|body| body["event"] == event)
            .map(|body| body["dedup_key"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            r#"route:
  receiver: warroom
  group_by: ['alertname', 'service']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: warroom
    webhook_configs:
      - url: '{}/v1/alerts/alertmanager'
        send_resolved: true
        max_alerts: 1000
        http_config:
          authorization:
            type: Bearer
            credentials: '{ALERTS}'
"#,
            world.base
        ),
    )
    .unwrap();
    let port = free_port();
    let _alertmanager = Running(
        Command::new(alertmanager)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start prometheus-alertmanager"),
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let api = format!("http://127.0.0.1:{port}");
    eventually("Alertmanager to be ready", WAIT, async || {
        client
            .get(format!("{api}/-/ready"))
            .send()
            .await
            .is_ok_and(|response| response.status().is_success())
    })
    .await;

    let alert = |name: &str, service: &str, instance: &str, summary: &str, ends: Option<&str>| {
        let mut alert = json!({
            "labels": {"alertname": name, "service": service, "instance": instance, "severity": "critical"},
            "annotations": {"summary": summary},
            "generatorURL": "http://prometheus.example/graph",
        });
        if let Some(ends) = ends {
            alert["endsAt"] = json!(ends);
        }
        alert
    };
    let firing = json!([
        alert(
            "DiskFull",
            "postgres",
            "db1",
            "Disk almost full on the database",
            None
        ),
        alert(
            "DiskFull",
            "postgres",
            "db2",
            "Disk almost full on the database",
            None
        ),
        alert("HighLatency", "api", "web1", "API latency over 2s", None),
    ]);
    let posted = client
        .post(format!("{api}/api/v2/alerts"))
        .json(&firing)
        .send()
        .await
        .unwrap();
    assert!(
        posted.status().is_success(),
        "{}",
        posted.text().await.unwrap()
    );

    // Two groups, two incidents, each with its channel in Discord.
    let incidents = wait_for(&world, "two incidents with channels", |incidents| {
        incidents.len() == 2 && incidents.iter().all(|i| i.channel_id.is_some())
    })
    .await;
    let disk = incidents
        .iter()
        .find(|i| i.title == "Disk almost full on the database")
        .expect("the DiskFull group's incident");
    let latency = incidents
        .iter()
        .find(|i| i.title == "API latency over 2s")
        .expect("the HighLatency group's incident");
    assert_eq!(disk.severity, "SEV1", "the database route");
    assert_eq!(disk.service.as_deref(), Some("postgres"));
    assert_eq!(latency.severity, "SEV3", "the default route");
    assert_eq!(disk.opened_by.id, "alert:alertmanager");
    let channels = world.emu.channels();
    for incident in [disk, latency] {
        let channel = channels
            .iter()
            .find(|channel| Some(channel.id.get()) == incident.channel_id)
            .expect("the incident's channel exists in Discord");
        assert!(
            channel.name.starts_with(&format!("inc-{}-", incident.id.0)),
            "{}",
            channel.name
        );
        assert_eq!(channel.parent_id, Some(world.category));
    }
    // Paging started for both incidents, once each.
    let disk_key = format!("warroom-{}-L1-R0-notifier:oncall", disk.id);
    let mut expected = vec![
        disk_key.clone(),
        format!("warroom-{}-L1-R0-notifier:oncall", latency.id),
    ];
    expected.sort();
    eventually(format!("the pages {expected:?}"), WAIT, async || {
        let mut got = pages("trigger");
        got.sort();
        if got == expected {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
    // The outcome is recorded once the receiver has answered.
    world
        .wait_for_event(disk.id, "the page_sent event", |event| {
            event.kind == EventKind::PageSent
        })
        .await;
    let disk_firing = world.timeline(disk.id).await;
    assert_eq!(
        disk_firing
            .iter()
            .filter(|event| event.kind == EventKind::AlertFiring)
            .count(),
        2,
        "{disk_firing:#?}"
    );

    // Resolving in Alertmanager: the alerts end a second ago.
    let ended =
        Timestamp::from_millis(Timestamp::from_datetime(chrono::Utc::now()).as_millis() - 1_000)
            .to_rfc3339();
    let resolved = json!([
        alert(
            "DiskFull",
            "postgres",
            "db1",
            "Disk almost full on the database",
            Some(&ended)
        ),
        alert(
            "DiskFull",
            "postgres",
            "db2",
            "Disk almost full on the database",
            Some(&ended)
        ),
    ]);
    let posted = client
        .post(format!("{api}/api/v2/alerts"))
        .json(&resolved)
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success());
    let all_resolved = world
        .wait_for_event(disk.id, "every alert resolved", |event| {
            event.kind == EventKind::AlertResolved && event.data["all_resolved"] == true
        })
        .await;
    assert_eq!(all_resolved.actor.id, "alert:alertmanager");
    let timeline = world.timeline(disk.id).await;
    assert_eq!(
        timeline
            .iter()
            .filter(|event| event.kind == EventKind::AlertResolved)
            .count(),
        2
    );
    world
        .wait_for_event(disk.id, "the mitigation", |event| {
            event.kind == EventKind::StatusChanged && event.data["to"] == "mitigated"
        })
        .await;
    // The mitigation stops paging and tells the receiver, under the same key.
    eventually("the acknowledge forwarded", WAIT, async || {
        let forwarded = pages("acknowledge");
        if forwarded == [disk_key.clone()] {
            Ok(())
        } else {
            Err(format!("{forwarded:?}"))
        }
    })
    .await;
    let channel_id = world.incident(disk.id).await.channel_id.unwrap();
    // The channel is told that every alert resolved.
    world
        .bot_message(channel_id.into(), |message| {
            message.content.contains("Every alert of")
        })
        .await;
    let latency_now = world.incident(latency.id).await;
    assert_eq!(latency_now.status, Status::Open, "its alert still fires");
    world.stop().await;
}

async fn wait_for(world: &World, what: &str, done: impl Fn(&[Incident]) -> bool) -> Vec<Incident> {
    eventually(what, WAIT, async || {
        let incidents = world
            .store
            .list_incidents(&IncidentFilter::default())
            .await
            .unwrap();
        if done(&incidents) {
            Ok(incidents)
        } else {
            Err(format!("{incidents:#?}"))
        }
    })
    .await
}
