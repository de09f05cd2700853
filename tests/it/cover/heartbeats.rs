//! Heartbeats: the first deadline counts from start-up, a missed one opens one incident even
//! with two processes ticking at once, the next check-in records `heartbeat_recovered` and
//! mitigates it; `POST /v1/heartbeats/NAME` refuses unknown names (404), tokens without
//! `heartbeat_sender` (403) and no token (401), changing nothing; `warroom heartbeat` checks
//! in from the command line.

use std::time::Duration;

use serde_json::Value;
use warroom::domain::{Clock, EventKind, Status, Timestamp};
use warroom::ops::timers::{Timers, handlers};
use warroom::store::IncidentFilter;

use super::another_process;
use crate::on_both_backends;
use crate::reach::{MINUTE, Rig};
use crate::support::{self, TestDb};

on_both_backends!(
    a_silent_job_opens_one_incident_and_its_return_mitigates_it,
    check_ins_are_refused_for_unknown_names_and_tokens_without_the_role,
);

const START: Timestamp = Timestamp::from_millis(1_800_000_000_000);
const CRON_TOKEN: &str = "cron-token-0123456789abcdef0123456789abcdef";
const VIEWER_TOKEN: &str = "viewer-token-0123456789abcdef0123456789abcd";

const TOML: &str = r#"
[api_tokens.cron]
token_env = "CRON_TOKEN"
roles = ["heartbeat_sender"]

[api_tokens.viewer]
token_env = "VIEWER_TOKEN"
roles = ["responder"]

[heartbeats.nightly-backup]
every = "1h"
grace = "10m"
service = "postgres"
severity = "SEV2"
"#;

async fn rig(db: TestDb) -> Rig {
    Rig::start(
        db,
        TOML,
        &[("CRON_TOKEN", CRON_TOKEN), ("VIEWER_TOKEN", VIEWER_TOKEN)],
        START,
    )
    .await
}

impl Rig {
    async fn beat(&self, name: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self
            .client
            .post(self.url(&format!("/v1/heartbeats/{name}")));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn incidents(&self) -> Vec<warroom::domain::Incident> {
        self.ops
            .store()
            .list_incidents(&IncidentFilter::default())
            .await
            .unwrap()
    }
}

async fn a_silent_job_opens_one_incident_and_its_return_mitigates_it(db: TestDb) {
    let rig = rig(db).await;
    // Two processes start: each arms the first deadline it finds missing; the first stands.
    let (other, other_timers) = another_process(&rig).await;
    rig.ops.arm_start_up_timers().await.unwrap();
    rig.clock.advance(5 * MINUTE);
    other.arm_start_up_timers().await.unwrap();
    let timers = Timers::new(rig.ops.clone(), handlers());

    // The job never beats. A millisecond before every + grace, nothing.
    rig.clock
        .set(START.plus(70 * MINUTE - Duration::from_millis(1)));
    let now = rig.clock.now();
    let (a, b) = tokio::join!(timers.tick(now), other_timers.tick(now));
    assert_eq!(a.unwrap() + b.unwrap(), 0);
    assert!(rig.incidents().await.is_empty());

    // At the deadline both processes look at once: one incident.
    rig.clock.set(START.plus(70 * MINUTE));
    let now = rig.clock.now();
    let (a, b) = tokio::join!(timers.tick(now), other_timers.tick(now));
    assert_eq!(a.unwrap() + b.unwrap(), 1, "the deadline fired once");
    let incidents = rig.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let incident = &incidents[0];
    assert_eq!(incident.title, "Heartbeat nightly-backup missed");
    assert_eq!(incident.severity, "SEV2");
    assert_eq!(incident.service.as_deref(), Some("postgres"));
    let missed = rig.texts_of(incident.id, EventKind::HeartbeatMissed).await;
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert!(
        missed[0].contains("not checked in since warroom started"),
        "{missed:?}"
    );

    // Later looks, and a restart arming its deadlines again, open nothing more.
    rig.clock.advance(3 * 60 * MINUTE);
    rig.ops.arm_start_up_timers().await.unwrap();
    rig.clock.advance(2 * 60 * MINUTE);
    let now = rig.clock.now();
    let (a, b) = tokio::join!(timers.tick(now), other_timers.tick(now));
    a.unwrap();
    b.unwrap();
    assert_eq!(rig.incidents().await.len(), 1);

    // The job is back: recovered, and mitigated.
    let (status, answer) = rig.beat("nightly-backup", Some(CRON_TOKEN)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["recovered"], incident.id.0);
    let recovered = rig
        .texts_of(incident.id, EventKind::HeartbeatRecovered)
        .await;
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert!(recovered[0].contains("checked in again"), "{recovered:?}");
    let after = rig
        .ops
        .store()
        .get_incident(incident.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.status, Status::Mitigated);

    // A beat on time keeps it quiet; a second silence opens a new incident.
    rig.clock.advance(50 * MINUTE);
    assert_eq!(rig.beat("nightly-backup", Some(CRON_TOKEN)).await.0, 200);
    rig.clock.advance(69 * MINUTE);
    timers.tick(rig.clock.now()).await.unwrap();
    assert_eq!(
        rig.incidents().await.len(),
        1,
        "a beat on time moves the deadline"
    );
    rig.clock.advance(MINUTE);
    timers.tick(rig.clock.now()).await.unwrap();
    let incidents = rig.incidents().await;
    assert_eq!(incidents.len(), 2, "{incidents:?}");
    let second = incidents
        .iter()
        .find(|found| found.id != incident.id)
        .unwrap();
    let missed = rig.texts_of(second.id, EventKind::HeartbeatMissed).await;
    assert!(missed[0].contains("its last check-in was at"), "{missed:?}");
}

async fn check_ins_are_refused_for_unknown_names_and_tokens_without_the_role(db: TestDb) {
    let rig = rig(db).await;
    let (status, answer) = rig.beat("nightly-bakup", Some(CRON_TOKEN)).await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("there is no heartbeat `nightly-bakup`; configured: nightly-backup"),
        "{answer}"
    );
    let (status, answer) = rig.beat("nightly-backup", Some(VIEWER_TOKEN)).await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("heartbeat_sender"),
        "{answer}"
    );
    assert_eq!(rig.beat("nightly-backup", None).await.0, 401);
    let state = rig
        .ops
        .store()
        .heartbeat_state("nightly-backup")
        .await
        .unwrap();
    assert_eq!(state.beats, 0, "refused check-ins change nothing");

    // From the command line, as the operator.
    let config = rig.db.write_config(TOML);
    let out = support::succeed(&config, &["heartbeat", "nightly-backup"]);
    assert!(out.contains("heartbeat nightly-backup checked in"), "{out}");
    let state = rig
        .ops
        .store()
        .heartbeat_state("nightly-backup")
        .await
        .unwrap();
    assert_eq!(state.beats, 1);
    let output = support::run(&config, &["heartbeat", "nope"]);
    assert!(!output.status.success());
    assert!(
        support::stderr(&output).contains("there is no heartbeat `nope`"),
        "{}",
        support::stderr(&output)
    );
}
