//! The REST API: the whole open → ack → note → resolve → export flow with a token, and the
//! same permission rules as Discord for tokens that lack a role.

use serde_json::json;

use super::{COMMANDER, RESPONDER, Server, VIEWER};
use crate::on_both_backends;
use crate::support::TestDb;

on_both_backends!(
    a_token_runs_an_incident_from_open_to_export,
    tokens_without_the_role_are_refused_and_change_nothing,
);

async fn a_token_runs_an_incident_from_open_to_export(db: TestDb) {
    let server = Server::start(db).await;
    let opened = server
        .post(
            "/v1/incidents",
            RESPONDER,
            &json!({"title": "Checkout is down", "severity": "sev2", "service": "api", "description": "502 for everyone"}),
        )
        .await;
    assert_eq!(opened.status, 201, "{}", opened.text);
    let body = opened.json();
    let id = body["incident"]["id"].as_i64().unwrap();
    assert_eq!(body["incident"]["severity"], "SEV2");
    assert_eq!(body["incident"]["source"], "api");
    assert_eq!(body["incident"]["opened_by"]["id"], "api:responder");
    assert_eq!(body["events"][0]["kind"], "opened");

    let acked = server
        .post(&format!("/v1/incidents/{id}/ack"), RESPONDER, &json!({}))
        .await;
    assert_eq!(acked.status, 200, "{}", acked.text);
    assert_eq!(acked.json()["incident"]["status"], "acknowledged");
    let again = server
        .post(&format!("/v1/incidents/{id}/ack"), RESPONDER, &json!({}))
        .await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert!(
        again.error().contains("already acknowledged by responder"),
        "{}",
        again.text
    );

    let note = server
        .post(
            &format!("/v1/incidents/{id}/notes"),
            RESPONDER,
            &json!({"text": "rolled back to v41"}),
        )
        .await;
    assert_eq!(note.status, 201, "{}", note.text);
    let resolved = server
        .post(
            &format!("/v1/incidents/{id}/resolve"),
            COMMANDER,
            &json!({"summary": "the rollback fixed it", "force": true}),
        )
        .await;
    assert_eq!(resolved.status, 200, "{}", resolved.text);
    assert_eq!(resolved.json()["incident"]["status"], "resolved");

    let listed = server.get("/v1/incidents?status=resolved", VIEWER).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.json()[0]["id"], id);
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
    assert_eq!(kinds, ["opened", "acknowledged", "note", "status_changed"]);

    let markdown = server
        .get(
            &format!("/v1/incidents/{id}/export?format=markdown"),
            RESPONDER,
        )
        .await;
    assert_eq!(markdown.status, 200, "{}", markdown.text);
    assert!(markdown.content_type.starts_with("text/markdown"));
    assert!(
        markdown.text.contains("Checkout is down"),
        "{}",
        markdown.text
    );
    assert!(markdown.text.contains("rolled back to v41"));
    let exported = server
        .get(&format!("/v1/incidents/{id}/export?format=json"), RESPONDER)
        .await;
    assert_eq!(exported.status, 200, "{}", exported.text);
    assert_eq!(exported.json()["schema"], "warroom.postmortem/v1");
    let page = server
        .get(&format!("/v1/incidents/{id}/export?format=html"), RESPONDER)
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.starts_with("<!DOCTYPE html>") && page.text.contains("<svg"));
    let html = server
        .get(&format!("/v1/incidents/{id}/export?format=pdf"), RESPONDER)
        .await;
    assert_eq!(html.status, 400);
    assert!(
        html.error().contains("`pdf` is not an export format"),
        "{}",
        html.text
    );
    server.stop().await;
}

async fn tokens_without_the_role_are_refused_and_change_nothing(db: TestDb) {
    let server = Server::start(db).await;
    let opened = server
        .post(
            "/v1/incidents",
            RESPONDER,
            &json!({"title": "Slow search", "severity": "SEV3"}),
        )
        .await;
    let id = opened.json()["incident"]["id"].as_i64().unwrap();
    let before = server.snapshot().await;
    let cases = [
        (
            server
                .post(
                    "/v1/incidents",
                    VIEWER,
                    &json!({"title": "x", "severity": "SEV3"}),
                )
                .await,
            403,
            "you need the `responder` role to open an incident; give the token that role in its [api_tokens] entry",
        ),
        (
            server
                .post(
                    &format!("/v1/incidents/{id}/resolve"),
                    RESPONDER,
                    &json!({}),
                )
                .await,
            403,
            "you need the `incident_commander` role to resolve an incident",
        ),
        (
            server.get("/v1/incidents", "wrong-token").await,
            401,
            "the token is not valid",
        ),
        (
            server
                .post(
                    &format!("/v1/incidents/{id}/notes"),
                    RESPONDER,
                    &json!({"txt": "typo"}),
                )
                .await,
            400,
            "unknown field `txt`",
        ),
        (
            server
                .post(
                    "/v1/incidents",
                    RESPONDER,
                    &json!({"title": "x", "severity": "P1"}),
                )
                .await,
            422,
            "`P1` is not a severity; use one of SEV1, SEV2, SEV3, SEV4",
        ),
        (
            server.get("/v1/incidents/INC-999", VIEWER).await,
            404,
            "INC-999 does not exist",
        ),
        (
            server.get("/v1/incidents/abc", VIEWER).await,
            400,
            "`abc` is not an incident id",
        ),
        (
            server.get("/v1/incidents?colour=red", VIEWER).await,
            400,
            "unknown query parameter `colour`",
        ),
        (
            server.post("/v1/runs", COMMANDER, &json!({})).await,
            400,
            "missing field `command`",
        ),
    ];
    for (reply, status, error) in cases {
        assert_eq!(reply.status, status, "{}", reply.text);
        assert!(
            reply.error().contains(error),
            "{:?} lacks {error:?}",
            reply.error()
        );
    }
    assert_eq!(server.snapshot().await, before);
    server.stop().await;
}
