//! Two-way sync: warroom pages PagerDuty (Events API v2) and Opsgenie (Alert API) on local
//! receivers; the test then sends what their webhooks send when someone acknowledges or
//! resolves there — bodies shaped as in PagerDuty's V3 webhook docs and Opsgenie's outgoing
//! webhook docs, signed or carrying the token as configured — and warroom acknowledges or
//! resolves the incident, which stops level 2. Replays, bad signatures, other event types and
//! incidents warroom never paged change nothing.

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use warroom::domain::{EventKind, IncidentId, Status, Timestamp};

use super::{MINUTE, Rig};
use crate::on_both_backends;
use crate::receiver::Receiver;
use crate::support::TestDb;

const START: &str = "2026-03-02T10:00:00Z";
const PD_SECRET: &str = "pd-webhook-signing-secret";
const OG_TOKEN: &str = "opsgenie-webhook-token-0123456789";

fn toml(pagerduty: &Receiver, opsgenie: &Receiver, second: &Receiver) -> String {
    format!(
        r#"
[notifiers.pd]
kind = "pagerduty"
url = "{}"
routing_key_env = "PD_ROUTING_KEY"
webhook_secret_env = "PD_WEBHOOK_SECRET"
rate_per_second = 1000
rate_burst = 1000

[notifiers.og]
kind = "opsgenie"
url = "{}"
api_key_env = "OG_API_KEY"
webhook_secret_env = "OG_WEBHOOK_TOKEN"
rate_per_second = 1000
rate_burst = 1000

[notifiers.second]
kind = "webhook"
url = "{}"

[policies.synced]
[[policies.synced.levels]]
after = "0s"
targets = ["notifier:pd", "notifier:og"]

[[policies.synced.levels]]
after = "5m"
targets = ["notifier:second"]
"#,
        pagerduty.url(),
        opsgenie.url(),
        second.url()
    )
}

struct Sync {
    rig: Rig,
    pagerduty: Receiver,
    opsgenie: Receiver,
    second: Receiver,
}

async fn sync(db: TestDb) -> Sync {
    let pagerduty = Receiver::start(Vec::new()).await;
    let opsgenie = Receiver::start(Vec::new()).await;
    let second = Receiver::start(Vec::new()).await;
    let rig = Rig::start(
        db,
        &toml(&pagerduty, &opsgenie, &second),
        &[
            ("WARROOM__ESCALATION__DEFAULT_POLICY", "synced"),
            ("PD_ROUTING_KEY", "R0UT1NGKEY0123456789abcdef012345"),
            ("PD_WEBHOOK_SECRET", PD_SECRET),
            ("OG_API_KEY", "og-api-key"),
            ("OG_WEBHOOK_TOKEN", OG_TOKEN),
        ],
        Timestamp::parse_rfc3339(START).unwrap(),
    )
    .await;
    Sync {
        rig,
        pagerduty,
        opsgenie,
        second,
    }
}

impl Sync {
    /// Opens an incident and lets level 1 page; the dedup keys PagerDuty and Opsgenie got.
    async fn paged(&self, title: &str) -> (IncidentId, String, String) {
        let id = self.rig.open(title).await;
        self.rig.engine.tick().await.unwrap();
        let pd_key = self
            .pagerduty
            .received()
            .iter()
            .map(|request| request.json())
            .filter(|body| body["event_action"] == "trigger")
            .map(|body| body["dedup_key"].as_str().unwrap().to_owned())
            .next_back()
            .expect("PagerDuty got a trigger");
        let og_alias = self
            .opsgenie
            .received()
            .iter()
            .filter(|request| request.uri == "/v2/alerts")
            .map(|request| request.json()["alias"].as_str().unwrap().to_owned())
            .next_back()
            .expect("Opsgenie got an alert");
        (id, pd_key, og_alias)
    }

    fn level_two_triggers(&self) -> usize {
        self.second
            .received()
            .iter()
            .filter(|request| request.json()["event"] == "trigger")
            .count()
    }

    async fn status(&self, id: IncidentId) -> Status {
        self.rig
            .ops
            .store()
            .get_incident(id)
            .await
            .unwrap()
            .unwrap()
            .status
    }
}

/// A V3 webhook body as PagerDuty's docs show it, for `event_type` on the incident whose
/// `incident_key` is `key`.
fn pagerduty_event(id: &str, event_type: &str, key: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event": {
            "id": id,
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": "2026-03-02T10:01:00.000Z",
            "agent": {
                "html_url": "https://acme.pagerduty.com/users/PXPGF42",
                "id": "PXPGF42",
                "self": "https://api.pagerduty.com/users/PXPGF42",
                "summary": "Earline Greenholt",
                "type": "user_reference"
            },
            "client": {"name": "PagerDuty"},
            "data": {
                "id": "PT4KHLK",
                "type": "incident",
                "self": "https://api.pagerduty.com/incidents/PT4KHLK",
                "html_url": "https://acme.pagerduty.com/incidents/PT4KHLK",
                "number": 1234,
                "status": if event_type == "incident.resolved" { "resolved" } else { "acknowledged" },
                "incident_key": key,
                "created_at": "2026-03-02T10:00:00Z",
                "title": "INC-1 SEV2: Checkout is down",
                "service": {
                    "id": "PIJ90N7",
                    "summary": "My Mail Service",
                    "type": "service_reference"
                },
                "assignees": [{"id": "PXPGF42", "summary": "Earline Greenholt", "type": "user_reference"}],
                "urgency": "high",
                "resolve_reason": null
            }
        }
    }))
    .unwrap()
}

/// `v1=<hex HMAC-SHA256(secret, body)>`, as PagerDuty signs.
fn pagerduty_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl Sync {
    async fn pagerduty_webhook(
        &self,
        webhook_id: &str,
        body: &[u8],
        signature: Option<String>,
    ) -> (u16, Value) {
        let mut request = self
            .rig
            .client
            .post(self.rig.url("/v1/webhooks/pagerduty"))
            .header("content-type", "application/json")
            .header("x-webhook-id", webhook_id)
            .header("x-webhook-subscription", "PSUBSCR")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("x-pagerduty-signature", signature);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn opsgenie_webhook(&self, body: &Value, token: Option<&str>) -> (u16, Value) {
        let mut request = self
            .rig
            .client
            .post(self.rig.url("/v1/webhooks/opsgenie"))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }
}

/// An outgoing-webhook body as Opsgenie's docs show it.
fn opsgenie_event(action: &str, alias: &str, updated_at: i64) -> Value {
    json!({
        "action": action,
        "alert": {
            "alertId": "44f717bf-44bd-11c9-44c7-2d0cf1d07b23",
            "message": "INC-1 SEV2: Checkout is down",
            "tags": ["warroom"],
            "tinyId": "454",
            "entity": "",
            "alias": alias,
            "createdAt": 1_772_445_600_000_i64,
            "updatedAt": updated_at,
            "username": "admin@example.com",
            "userId": "4caaaa77-9222-4322-8622-d3522fbd7dda"
        },
        "source": {"name": "", "type": "mobile"},
        "integrationName": "warroom",
        "integrationId": "8418d193-2dab-4490-b331-8c02cdd196b7",
        "integrationType": "Webhook"
    })
}

async fn a_pagerduty_acknowledgement_acknowledges_here_once_and_stops_level_two(db: TestDb) {
    let sync = sync(db).await;
    let (id, key, _) = sync.paged("Checkout is down").await;

    // Not signed, or signed with another secret: 401, and nothing is stored.
    let body = pagerduty_event("01ACK", "incident.acknowledged", &key);
    let before = sync.rig.db.snapshot().await;
    for signature in [None, Some(pagerduty_signature("not-the-secret", &body))] {
        let (status, answer) = sync.pagerduty_webhook("W-ACK", &body, signature).await;
        assert_eq!(status, 401, "{answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .contains("X-PagerDuty-Signature")
        );
    }
    assert_eq!(sync.rig.db.snapshot().await, before);

    let signature = pagerduty_signature(PD_SECRET, &body);
    let (status, answer) = sync
        .pagerduty_webhook("W-ACK", &body, Some(signature.clone()))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["applied"], true);
    let incident = sync
        .rig
        .ops
        .store()
        .get_incident(id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(incident.status, Status::Acknowledged);
    let by = incident.acknowledged_by.unwrap();
    assert_eq!(by.id, "pagerduty:pd");
    assert_eq!(by.name, "Earline Greenholt (PagerDuty)");

    // A replay (PagerDuty delivers at least once) changes nothing.
    let before = sync.rig.db.snapshot().await;
    let (status, answer) = sync
        .pagerduty_webhook("W-ACK", &body, Some(signature))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["applied"], false);
    assert_eq!(sync.rig.db.snapshot().await, before);

    // Warroom's escalation stopped: level 2 never comes.
    sync.rig.advance(5 * MINUTE).await;
    sync.rig.advance(30 * MINUTE).await;
    assert_eq!(sync.level_two_triggers(), 0);

    // Reassigning there is not synced; an incident warroom never paged is answered and
    // ignored, so PagerDuty does not retry it.
    let before = sync.rig.db.snapshot().await;
    for (webhook_id, body) in [
        ("W-RE", pagerduty_event("01RE", "incident.reassigned", &key)),
        (
            "W-OTHER",
            pagerduty_event("01OT", "incident.acknowledged", "someone-elses-key"),
        ),
    ] {
        let signature = pagerduty_signature(PD_SECRET, &body);
        let (status, answer) = sync
            .pagerduty_webhook(webhook_id, &body, Some(signature))
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["applied"], false);
        assert!(answer["ignored"].is_string(), "{answer}");
    }
    assert_eq!(sync.rig.db.snapshot().await, before);

    // Resolving there resolves here.
    let body = pagerduty_event("01RES", "incident.resolved", &key);
    let signature = pagerduty_signature(PD_SECRET, &body);
    let (status, answer) = sync
        .pagerduty_webhook("W-RES", &body, Some(signature))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["applied"], true);
    assert_eq!(sync.status(id).await, Status::Resolved);
    let changes = sync.rig.texts_of(id, EventKind::StatusChanged).await;
    assert!(
        changes.iter().any(|text| text
            == "Status acknowledged → resolved: resolved in PagerDuty by Earline Greenholt"),
        "{changes:?}"
    );
}

async fn a_pagerduty_resolution_after_a_reopen_is_not_replayed(db: TestDb) {
    let sync = sync(db).await;
    let (id, key, _) = sync.paged("Queue stuck").await;
    let body = pagerduty_event("01RES", "incident.resolved", &key);
    let signature = pagerduty_signature(PD_SECRET, &body);
    let (status, _) = sync
        .pagerduty_webhook("W-RES", &body, Some(signature.clone()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(sync.status(id).await, Status::Resolved);
    sync.rig
        .ops
        .reopen(&crate::support::operator("alice"), id, Some("back again"))
        .await
        .unwrap();
    // The same delivery again, after the reopen: its id was used, so it does not resolve.
    let before = sync.rig.db.snapshot().await;
    let (status, answer) = sync
        .pagerduty_webhook("W-RES", &body, Some(signature))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["replayed"], true, "{answer}");
    assert_eq!(sync.status(id).await, Status::Open);
    assert_eq!(sync.rig.db.snapshot().await, before);
}

async fn an_opsgenie_acknowledgement_and_close_act_here_once(db: TestDb) {
    let sync = sync(db).await;
    let (id, _, alias) = sync.paged("Checkout is down").await;
    let ack = opsgenie_event("Acknowledge", &alias, 1_772_445_660_000);

    let before = sync.rig.db.snapshot().await;
    for token in [None, Some("wrong-token")] {
        let (status, answer) = sync.opsgenie_webhook(&ack, token).await;
        assert_eq!(status, 401, "{answer}");
    }
    assert_eq!(sync.rig.db.snapshot().await, before);

    let (status, answer) = sync.opsgenie_webhook(&ack, Some(OG_TOKEN)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["applied"], true);
    let incident = sync
        .rig
        .ops
        .store()
        .get_incident(id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(incident.status, Status::Acknowledged);
    let by = incident.acknowledged_by.unwrap();
    assert_eq!(
        (by.id.as_str(), by.name.as_str()),
        ("opsgenie:og", "admin@example.com (Opsgenie)")
    );

    let before = sync.rig.db.snapshot().await;
    let (status, answer) = sync.opsgenie_webhook(&ack, Some(OG_TOKEN)).await;
    assert_eq!(
        (status, &answer["applied"]),
        (200, &json!(false)),
        "{answer}"
    );
    let note = opsgenie_event("AddNote", &alias, 1_772_445_670_000);
    let (status, answer) = sync.opsgenie_webhook(&note, Some(OG_TOKEN)).await;
    assert_eq!(status, 200);
    assert!(answer["ignored"].as_str().unwrap().contains("AddNote"));
    assert_eq!(sync.rig.db.snapshot().await, before);

    sync.rig.advance(5 * MINUTE).await;
    assert_eq!(sync.level_two_triggers(), 0);

    let close = opsgenie_event("Close", &alias, 1_772_445_700_000);
    let (status, answer) = sync.opsgenie_webhook(&close, Some(OG_TOKEN)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["applied"], true);
    assert_eq!(sync.status(id).await, Status::Resolved);
}

on_both_backends!(
    a_pagerduty_acknowledgement_acknowledges_here_once_and_stops_level_two,
    a_pagerduty_resolution_after_a_reopen_is_not_replayed,
    an_opsgenie_acknowledgement_and_close_act_here_once,
);
