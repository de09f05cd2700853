//! Paging without Discord: `POST /v1/page` and `warroom page` call the `/page` use case, so
//! the page is written to the outbox with the same `escalated` event and the engine sends it;
//! bad input, missing tokens and roles, and resolved incidents are refused and change nothing.

use serde_json::{Value, json};
use warroom::domain::{Clock, EventKind, IncidentId, SystemClock};

use super::Rig;
use crate::on_both_backends;
use crate::receiver::Receiver;
use crate::support::{self, TestDb};

const RESPONDER_TOKEN: &str = "responder-token-0123456789abcdef0123456789";
const VIEWER_TOKEN: &str = "viewer-token-0123456789abcdef0123456789abcd";

fn toml(hook: &Receiver) -> String {
    format!(
        r#"
[api_tokens.pager]
token_env = "PAGER_TOKEN"
roles = ["responder"]

[api_tokens.viewer]
token_env = "VIEWER_TOKEN"
roles = []

[notifiers.hook]
kind = "webhook"
url = "{}"
"#,
        hook.url()
    )
}

async fn rig(db: TestDb, hook: &Receiver) -> Rig {
    // The CLI runs on the system clock: the engine's clock starts there too, so the pages it
    // writes are due for the engine.
    Rig::start(
        db,
        &toml(hook),
        &[
            ("PAGER_TOKEN", RESPONDER_TOKEN),
            ("VIEWER_TOKEN", VIEWER_TOKEN),
        ],
        SystemClock.now(),
    )
    .await
}

impl Rig {
    async fn post_page(&self, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut request = self.client.post(self.url("/v1/page")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }
}

/// The `message` of every trigger `hook` got.
fn messages(hook: &Receiver) -> Vec<Value> {
    hook.received()
        .iter()
        .map(|request| request.json())
        .filter(|body| body["event"] == "trigger")
        .map(|body| body["message"].clone())
        .collect()
}

async fn post_v1_page_pages_through_the_engine_like_slash_page(db: TestDb) {
    let hook = Receiver::start(Vec::new()).await;
    let rig = rig(db, &hook).await;
    let id = rig.open("Checkout is down").await;
    let (status, answer) = rig
        .post_page(
            Some(RESPONDER_TOKEN),
            json!({"incident": "INC-1", "target": "notifier:hook", "message": "need a DBA"}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["incident"]["id"], 1);
    assert_eq!(
        answer["summary"],
        "pager paged notifier:hook (notifier hook (signed JSON webhook)): need a DBA"
    );
    let escalated = rig
        .ops
        .store()
        .timeline_page(id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|event| event.kind == EventKind::Escalated)
        .expect("an escalated event");
    assert_eq!(escalated.actor.id, "api:pager");
    assert_eq!(escalated.data["by_hand"], true);
    rig.engine.tick().await.unwrap();
    assert_eq!(messages(&hook), [json!("need a DBA")]);
    assert_eq!(
        rig.texts_of(id, EventKind::PageSent).await,
        ["Paged notifier:hook (notifier hook)"]
    );
}

async fn bad_pages_are_refused_and_change_nothing(db: TestDb) {
    let hook = Receiver::start(Vec::new()).await;
    let rig = rig(db, &hook).await;
    let id = rig.open("Checkout is down").await;
    let before = rig.db.snapshot().await;
    let cases: [(Option<&str>, Value, u16, &str); 9] = [
        (
            None,
            json!({"incident": 1, "target": "notifier:hook"}),
            401,
            "missing token",
        ),
        (
            Some(VIEWER_TOKEN),
            json!({"incident": 1, "target": "notifier:hook"}),
            403,
            "you need the `responder` role to page people",
        ),
        (
            Some(RESPONDER_TOKEN),
            json!({"incident": 1}),
            400,
            "missing field `target`",
        ),
        (
            Some(RESPONDER_TOKEN),
            json!({"incident": 1, "target": "notifier:hook", "urgency": "high"}),
            400,
            "unknown field `urgency`",
        ),
        (
            Some(RESPONDER_TOKEN),
            json!({"incident": 1, "target": "pager:bob"}),
            400,
            "target: `pager:bob` is not a target",
        ),
        (
            Some(RESPONDER_TOKEN),
            json!({"incident": "twelve", "target": "notifier:hook"}),
            400,
            "incident:",
        ),
        (
            Some(RESPONDER_TOKEN),
            json!({"incident": 99, "target": "notifier:hook"}),
            404,
            "INC-99 does not exist",
        ),
        (
            Some(RESPONDER_TOKEN),
            json!({"incident": 1, "target": "policy:nope"}),
            422,
            "there is no policy `nope`",
        ),
        (
            Some(RESPONDER_TOKEN),
            json!({"incident": 1, "target": "schedule:nope"}),
            422,
            "schedule:nope",
        ),
    ];
    for (token, body, expected, says) in cases {
        let (status, answer) = rig.post_page(token, body.clone()).await;
        assert_eq!(status, expected, "{body}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{body}: {says:?} in {error}");
    }
    rig.ops
        .resolve(&support::operator("alice"), id, None)
        .await
        .unwrap();
    let before_resolved = rig.db.snapshot().await;
    let (status, answer) = rig
        .post_page(
            Some(RESPONDER_TOKEN),
            json!({"incident": 1, "target": "notifier:hook"}),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("is resolved; reopen it")
    );
    assert_eq!(rig.db.snapshot().await, before_resolved);
    rig.engine.tick().await.unwrap();
    assert!(hook.received().is_empty());
    assert_ne!(before, before_resolved, "only the resolve changed anything");
}

async fn warroom_page_on_the_command_line_pages_through_the_engine(db: TestDb) {
    let hook = Receiver::start(Vec::new()).await;
    let rig = rig(db, &hook).await;
    let id: IncidentId = rig.open("Checkout is down").await;
    let config = rig.db.dir.path().join("warroom.toml");
    let out = support::succeed(
        &config,
        &[
            "page",
            "--incident",
            "INC-1",
            "--target",
            "notifier:hook",
            "--message",
            "from the shell",
            "--json",
        ],
    );
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["incident"]["id"], 1);
    assert!(
        answer["summary"]
            .as_str()
            .unwrap()
            .starts_with("alice paged notifier:hook")
    );
    // The CLI wrote the page at its own (system) time; the engine's clock catches up.
    rig.clock.set(SystemClock.now());
    rig.engine.tick().await.unwrap();
    assert_eq!(messages(&hook), [json!("from the shell")]);
    let escalated = rig.texts_of(id, EventKind::Escalated).await;
    assert!(
        escalated
            .iter()
            .any(|text| text.contains("alice paged notifier:hook"))
    );

    let before = rig.db.snapshot().await;
    for (args, says) in [
        (
            vec!["page", "--incident", "1", "--target", "bogus"],
            "`bogus` is not a target",
        ),
        (
            vec!["page", "--incident", "42", "--target", "notifier:hook"],
            "INC-42 does not exist",
        ),
    ] {
        let output = support::run(&config, &args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let err = support::stderr(&output);
        assert!(err.contains(says), "{says:?} in {err}");
    }
    assert_eq!(rig.db.snapshot().await, before);
}

on_both_backends!(
    post_v1_page_pages_through_the_engine_like_slash_page,
    bad_pages_are_refused_and_change_nothing,
    warroom_page_on_the_command_line_pages_through_the_engine,
);
