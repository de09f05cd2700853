//! Status updates that reach people: `POST /v1/incidents/{id}/updates` reaches a signed
//! webhook (`warroom.status/v1`) and a Slack-shaped receiver through durable timers; the
//! public status page and its Atom feed (judged by Python's `feedparser`) show it, escape
//! every text people wrote, and never show a private incident or a drill.

use std::sync::Arc;

use serde_json::json;
use warroom::config::{Config, Environment};
use warroom::domain::Clock;
use warroom::ops::{OpenRequest, Ops};

use super::{CONFIG, RESPONDER, Server, token_env};
use crate::on_both_backends;
use crate::reach::{python, python_has};
use crate::receiver::Receiver;
use crate::support::{TestDb, WAIT, eventually, operator};

on_both_backends!(a_status_update_reaches_receivers_and_the_public_page,);

const SECRET: &str = "status-hook-secret-0123456789";

const FEED: &str = r#"
import json, sys, feedparser
feed = feedparser.parse(open(sys.argv[1], 'rb').read())
print(json.dumps({
    "bozo": bool(feed.bozo),
    "error": str(feed.get("bozo_exception", "")),
    "title": feed.feed.get("title"),
    "entries": [{"id": e.id, "title": e.title, "summary": e.summary, "updated": e.updated} for e in feed.entries],
}))
"#;

async fn a_status_update_reaches_receivers_and_the_public_page(db: TestDb) {
    let hook = Receiver::start(Vec::new()).await;
    let slack = Receiver::start(Vec::new()).await;
    let extra = format!(
        "{CONFIG}\n[notifiers.status-hook]\nkind = \"webhook\"\nurl = \"{}/status\"\nsecret_env = \"HOOK_SECRET\"\nstatus_updates = true\n\n\
         [notifiers.status-slack]\nkind = \"slack_webhook\"\nurl_env = \"SLACK_URL\"\nstatus_updates = true\n\n\
         [notifiers.status-quiet]\nkind = \"webhook\"\nurl = \"{}/quiet\"\n\n\
         [status_page]\nenabled = true\ntitle = \"Acme <b>status</b>\"\n",
        hook.url(),
        hook.url()
    );
    let env = vec![
        ("HOOK_SECRET".to_owned(), SECRET.to_owned()),
        ("SLACK_URL".to_owned(), format!("{}/slack", slack.url())),
    ];
    let server = Server::start_with_env(db, &extra, env.clone()).await;
    let config = Config::load(
        &server.db.write_config(&extra),
        &Environment::from_pairs(token_env()).extended(env),
    )
    .unwrap();
    let ops = Ops::new(server.store.clone(), Arc::new(config), server.clock.clone());
    let who = operator("alice");

    // A private incident and a drill get updates too; nobody outside hears of them.
    let private = ops
        .open(
            &who,
            warroom::domain::Source::Cli,
            OpenRequest {
                title: "Secret vendor outage".to_owned(),
                severity: "SEV2".to_owned(),
                private: true,
                ..OpenRequest::default()
            },
        )
        .await
        .unwrap()
        .incident
        .id;
    ops.post_status_update(&who, private, "vendor says soon")
        .await
        .unwrap();
    let drill = server
        .post(
            "/v1/incidents",
            RESPONDER,
            &json!({"title": "Practice fire", "severity": "SEV3", "drill": true}),
        )
        .await
        .json()["incident"]["id"]
        .as_i64()
        .unwrap();
    let posted = server
        .post(
            &format!("/v1/incidents/{drill}/updates"),
            RESPONDER,
            &json!({"text": "drill update"}),
        )
        .await;
    assert!(posted.status < 300, "{}", posted.text);

    let opened = server
        .post(
            "/v1/incidents",
            RESPONDER,
            &json!({"title": "Checkout <script>alert(1)</script> down", "severity": "SEV2", "service": "api"}),
        )
        .await;
    let id = opened.json()["incident"]["id"].as_i64().unwrap();
    let posted = server
        .post(
            &format!("/v1/incidents/{id}/updates"),
            RESPONDER,
            &json!({"text": "Investigating <img src=x onerror=alert(2)> errors"}),
        )
        .await;
    assert!(posted.status < 300, "{}", posted.text);

    eventually(
        "the webhook and Slack to receive the update",
        WAIT,
        async || (!hook.received().is_empty() && !slack.received().is_empty()).then_some(()),
    )
    .await;
    let store = server.store.clone();
    eventually("every status update timer to be done", WAIT, async || {
        store
            .pending_timers("status_update")
            .await
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
    let received = hook.received();
    assert_eq!(
        received.len(),
        1,
        "only the public incident's update, only to `status-hook`: {received:?}"
    );
    let request = &received[0];
    assert_eq!(request.uri, "/status");
    warroom::notify::webhook::verify(
        SECRET.as_bytes(),
        request.header("x-warroom-timestamp"),
        request.header("x-warroom-signature"),
        &request.body,
        server.clock.now(),
        std::time::Duration::from_secs(300),
    )
    .expect("the status update is signed");
    let body = request.json();
    assert_eq!(body["schema"], "warroom.status/v1");
    assert_eq!(body["incident"]["ref"], format!("INC-{id}"));
    assert_eq!(body["incident"]["status"], "open");
    assert_eq!(
        body["text"],
        "Investigating <img src=x onerror=alert(2)> errors"
    );
    let slack_got = slack.received();
    assert_eq!(slack_got.len(), 1);
    let text = slack_got[0].json()["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains(&format!("INC-{id}")) && text.contains("&lt;img"),
        "{text}"
    );

    // The page escapes what people wrote and shows neither the private incident nor the drill.
    let page = server
        .client
        .get(server.url("/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("Acme &lt;b&gt;status&lt;/b&gt;"), "{html}");
    assert!(
        html.contains("Checkout &lt;script&gt;alert(1)&lt;/script&gt; down"),
        "{html}"
    );
    assert!(
        html.contains("Investigating &lt;img src=x onerror=alert(2)&gt; errors"),
        "{html}"
    );
    assert!(
        !html.contains("<script") && !html.contains("<img"),
        "{html}"
    );
    assert!(
        !html.contains("Secret vendor") && !html.contains("Practice fire"),
        "{html}"
    );
    assert!(!html.contains("vendor says soon") && !html.contains("drill update"));

    // Resolved (its checklist unticked: forced), it stays listed among the last 30 days'.
    let resolved = server
        .post(
            &format!("/v1/incidents/{id}/resolve"),
            super::COMMANDER,
            &json!({"force": true}),
        )
        .await;
    assert_eq!(resolved.status, 200, "{}", resolved.text);
    let html = server
        .client
        .get(server.url("/status"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("All systems operational"), "{html}");
    assert!(html.contains(&format!("INC-{id}")), "{html}");

    if !python_has("feedparser") {
        return;
    }
    let feed = server
        .client
        .get(server.url("/status/feed.atom"))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);
    assert!(
        feed.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/atom+xml")
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), feed.text().await.unwrap()).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&python(FEED, &[file.path()])).unwrap();
    assert_eq!(
        parsed["bozo"], false,
        "feedparser finds the feed well-formed: {parsed}"
    );
    assert_eq!(parsed["title"], "Acme <b>status</b>");
    let entries = parsed["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{parsed}");
    assert_eq!(
        entries[0]["summary"],
        "Investigating <img src=x onerror=alert(2)> errors"
    );
    assert!(
        entries[0]["title"]
            .as_str()
            .unwrap()
            .contains(&format!("INC-{id}"))
    );
    let all = parsed.to_string();
    assert!(!all.contains("Secret vendor") && !all.contains("Practice fire"));
}
