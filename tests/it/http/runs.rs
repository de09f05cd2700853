//! Runs of approved commands through the REST API: the same rules as `/run` (roles, a second
//! person's approval, refusals recorded and running nothing), for when Discord is down.

use serde_json::json;

use super::{COMMANDER, CONFIG, RESPONDER, Server};
use crate::on_both_backends;
use crate::support::{TestDb, WAIT, eventually};

on_both_backends!(runs_through_the_api_follow_the_approval_rules);

const DBA: &str = "dba-0123456789abcdef0123456789abcdef0123";

async fn wait_for_state(server: &Server, run: u64, state: &str) -> serde_json::Value {
    eventually(format!("RUN-{run} to become {state}"), WAIT, async || {
        let shown = server.get(&format!("/v1/runs/{run}"), RESPONDER).await;
        assert_eq!(shown.status, 200, "{}", shown.text);
        let body = shown.json();
        if body["run"]["state"] == state {
            Ok(body)
        } else {
            Err(body.to_string())
        }
    })
    .await
}

async fn runs_through_the_api_follow_the_approval_rules(db: TestDb) {
    let log = db.dir.path().join("argv.log");
    let catalog = crate::runs::catalog(db.dir.path(), &log);
    let extra =
        format!("{CONFIG}\n[api_tokens.dba]\ntoken_env = \"TEST_TOKEN_DBA\"\nroles = [\"dba\"]\n");
    let env = vec![
        ("TEST_TOKEN_DBA".to_owned(), DBA.to_owned()),
        (
            "WARROOM__COMMANDS__DIR".to_owned(),
            catalog.display().to_string(),
        ),
    ];
    let server = Server::start_with_env(db, &extra, env).await;
    let ran = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let opened = server
        .post(
            "/v1/incidents",
            RESPONDER,
            &json!({"title": "Database corrupted", "severity": "SEV1"}),
        )
        .await;
    assert_eq!(opened.status, 201, "{}", opened.text);

    // A token without the command's role is refused; the refusal is recorded, nothing runs.
    let refused = server
        .post(
            "/v1/runs",
            RESPONDER,
            &json!({"command": "restore", "args": "backup=app-1.dump", "incident": 1}),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(
        refused
            .error()
            .contains("RUN-1 was refused: you need one of the roles `dba`"),
        "{}",
        refused.text
    );
    assert_eq!(refused.json()["run"]["state"], "denied");

    let requested = server
        .post(
            "/v1/runs",
            DBA,
            &json!({"command": "restore", "args": "backup=app-1.dump", "incident": 1}),
        )
        .await;
    assert_eq!(requested.status, 202, "{}", requested.text);
    assert_eq!(requested.json()["run"]["state"], "requested");
    let own = server.post("/v1/runs/RUN-2/approve", DBA, &json!({})).await;
    assert_eq!(own.status, 409, "{}", own.text);
    assert!(
        own.error()
            .contains("you requested RUN-2, so you cannot approve it"),
        "{}",
        own.text
    );
    let outsider = server
        .post("/v1/runs/2/approve", RESPONDER, &json!({}))
        .await;
    assert_eq!(outsider.status, 403, "{}", outsider.text);
    assert!(
        outsider.error().contains("`incident_commander`"),
        "{}",
        outsider.text
    );
    assert_eq!(ran(), 0, "nothing runs before approval");

    let approved = server
        .post("/v1/runs/2/approve", COMMANDER, &json!({}))
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    let done = wait_for_state(&server, 2, "succeeded").await;
    assert_eq!(done["run"]["exit_code"], 0);
    let kinds: Vec<&str> = done["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "command_requested",
            "command_approved",
            "command_started",
            "command_finished"
        ]
    );
    assert_eq!(ran(), 1);

    // A command needing no approval runs at once; a second approval changes nothing.
    let echo = server
        .post(
            "/v1/runs",
            RESPONDER,
            &json!({"command": "echo", "args": "text=hello"}),
        )
        .await;
    assert_eq!(echo.status, 202, "{}", echo.text);
    wait_for_state(&server, 3, "succeeded").await;
    let late = server
        .post("/v1/runs/2/approve", COMMANDER, &json!({}))
        .await;
    assert_eq!(late.status, 409, "{}", late.text);
    let denied = server
        .post("/v1/runs/3/deny", COMMANDER, &json!({"reason": "too late"}))
        .await;
    assert_eq!(denied.status, 409, "{}", denied.text);
    // An unknown incident is 404 (on main: 503 with the database's FOREIGN KEY error), and
    // nothing is written; an unknown command is a refusal on record, like any other.
    let nowhere = server
        .post(
            "/v1/runs",
            RESPONDER,
            &json!({"command": "echo", "args": "text=x", "incident": 99}),
        )
        .await;
    assert_eq!(nowhere.status, 404, "{}", nowhere.text);
    assert_eq!(
        nowhere.error(),
        "INC-99 does not exist; list incidents to find the right number"
    );
    let unknown = server
        .post(
            "/v1/runs",
            RESPONDER,
            &json!({"command": "ech", "args": "text=x"}),
        )
        .await;
    assert_eq!(unknown.status, 403, "{}", unknown.text);
    assert!(
        unknown
            .error()
            .contains("RUN-4 was refused: `ech` is not an approved command"),
        "{}",
        unknown.text
    );
    assert_eq!(unknown.json()["run"]["state"], "denied");
    let typo = server
        .post(
            "/v1/runs",
            RESPONDER,
            &json!({"command": "echo", "argz": "text=x"}),
        )
        .await;
    assert_eq!(typo.status, 400, "{}", typo.text);
    assert_eq!(ran(), 2);
    server.stop().await;
}
