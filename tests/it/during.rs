//! Checklists people tick and recovery points (issue 14 points 2 and 3), through every door:
//! the emulator with the real serenity client (command with autocomplete, the card's select
//! menu, the warning before resolving and its "Resolve anyway" button), the real binary, the
//! REST API; and the exports' objectives table judging RTO and RPO, met and missed, in
//! Markdown, JSON and HTML. Bad input changes nothing.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use warroom::domain::{Clock, EventKind, IncidentId, ManualClock, Source, Timestamp};
use warroom::export::Format;
use warroom::ops::{OpenRequest, Ops, rpo_at};

use crate::http::{COMMANDER, RESPONDER, Server};
use crate::on_both_backends;
use crate::support::discord::{Converse, World};
use crate::support::{TestDb, operator, run, stderr, succeed};

on_both_backends!(
    checklists_are_ticked_by_command_and_card_menu_and_resolving_asks_once,
    the_command_line_ticks_records_the_recovery_point_and_refuses_bad_input,
    the_api_ticks_records_the_recovery_point_and_refuses_bad_input,
    exports_judge_the_recovery_point_met,
    exports_judge_the_recovery_point_and_recovery_time_missed,
);

async fn checklists_are_ticked_by_command_and_card_menu_and_resolving_asks_once(db: TestDb) {
    let world = World::start(db).await;
    let alice = world.emu.member("alice", &[world.responders]);
    let carol = world.emu.member("carol", &[world.commanders]);
    alice
        .runs(
            world.general,
            r#"/incident open title:"Logins fail" severity:SEV2 service:api"#,
        )
        .await
        .says("Opened **INC-1**");
    let here = world.channel("inc-1-logins-fail").await.id;
    world.wait_for_room(IncidentId(1)).await;
    let card = world
        .bot_message(here, |m| m.text().contains("Checklist · 0/4 checked"))
        .await;
    assert!(
        card.custom_ids()
            .contains(&"incident:checklist:1".to_owned()),
        "the card has the checklist menu: {:?}",
        card.custom_ids()
    );

    // Autocomplete offers the service's checklist, ticked ones marked.
    let offered = alice
        .autocomplete(here, "/incident check item:", "login")
        .await
        .unwrap();
    let names: Vec<&str> = offered.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["⬜ logins work"]);

    alice
        .runs(here, r#"/incident check item:"logins work""#)
        .await
        .says("“logins work” ticked by alice")
        .says("1/4 checked");
    world
        .message(here, |m| {
            m.id == card.id && m.text().contains("1/4 checked")
        })
        .await;
    // The card's menu: option 0 is "health endpoint returns 200".
    let picked = alice
        .select(card.id, "incident:checklist:1", &["0"])
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(picked.ephemeral(), "{}", picked.text());
    assert!(picked.text().contains("2/4 checked"), "{}", picked.text());
    let card_now = world
        .message(here, |m| {
            m.id == card.id && m.text().contains("2/4 checked")
        })
        .await;
    assert!(
        card_now
            .text()
            .contains("✅ health endpoint returns 200 — alice")
    );

    // Bad input: an item not on the checklist, one already ticked; nothing changes.
    let before = world.db.snapshot().await;
    alice
        .runs(here, r#"/incident check item:"coffee machine""#)
        .await
        .says_privately("`coffee machine` is not on the checklist of api");
    alice
        .runs(here, r#"/incident check item:"logins work""#)
        .await
        .says_privately("already has “logins work” ticked");
    assert_eq!(world.db.snapshot().await, before);

    // Picking a ticked item unticks it.
    let unpicked = alice
        .select(card.id, "incident:checklist:1", &["0"])
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(unpicked.text().contains("unticked"), "{}", unpicked.text());
    world
        .message(here, |m| {
            m.id == card.id && m.text().contains("1/4 checked")
        })
        .await;

    // Resolving with unticked items warns, only to the person, once; "Resolve anyway" does.
    let warned = carol
        .runs(here, r#"/incident resolve summary:"restarted""#)
        .await
        .replied_privately("has 3 of its checklist unticked");
    assert!(warned.text().contains("orders can be placed"));
    assert_ne!(
        world.incident(IncidentId(1)).await.status.as_str(),
        "resolved"
    );
    let warning = warned.message.expect("the warning is a message");
    assert!(
        warning
            .custom_ids()
            .contains(&"incident:resolve-anyway:1".to_owned())
    );
    carol
        .clicks(warning.id, "incident:resolve-anyway:1")
        .await
        .says_privately("resolved");
    assert_eq!(
        world.incident(IncidentId(1)).await.status.as_str(),
        "resolved"
    );

    // The export lists who ticked what, when; the unticked one as unticked.
    let ops = world.db.ops().await;
    let mut markdown = Vec::new();
    ops.export(
        &operator("x"),
        IncidentId(1),
        Format::Markdown,
        &mut markdown,
    )
    .await
    .unwrap();
    let markdown = String::from_utf8(markdown).unwrap();
    assert!(
        markdown.contains("- [x] logins work (checked by alice at "),
        "{markdown}"
    );
    assert!(
        markdown.contains("- [ ] health endpoint returns 200"),
        "{markdown}"
    );
    let ticks: Vec<EventKind> = world
        .timeline(IncidentId(1))
        .await
        .iter()
        .map(|event| event.kind)
        .filter(|kind| {
            matches!(
                kind,
                EventKind::ChecklistChecked | EventKind::ChecklistUnchecked
            )
        })
        .collect();
    assert_eq!(
        ticks,
        [
            EventKind::ChecklistChecked,
            EventKind::ChecklistChecked,
            EventKind::ChecklistUnchecked
        ]
    );

    // An incident without a service has no checklist to tick.
    alice
        .runs(
            world.general,
            r#"/incident open title:"Odd noise" severity:SEV4"#,
        )
        .await
        .says("Opened **INC-2**");
    let other = world.channel("inc-2-odd-noise").await.id;
    world.wait_for_room(IncidentId(2)).await;
    let before = world.db.snapshot().await;
    alice
        .runs(other, r#"/incident check item:"logins work""#)
        .await
        .says_privately("INC-2 has no service, so it has no checklist to tick");
    alice
        .runs(other, "/incident rpo restored_from:soon")
        .await
        .says_privately("`soon` is not a time");
    assert_eq!(world.db.snapshot().await, before);
    world.stop().await;
}

async fn the_command_line_ticks_records_the_recovery_point_and_refuses_bad_input(db: TestDb) {
    let config = db.write_config("");
    let open = |args: &[&str]| {
        let mut all = vec![
            "incident",
            "open",
            "--title",
            "Checkout is down",
            "--severity",
            "SEV2",
        ];
        all.extend_from_slice(args);
        succeed(&config, &all);
    };
    open(&["--service", "postgres"]);
    open(&[]);
    let ticked = succeed(&config, &["incident", "check", "1", "pg_isready answers"]);
    assert!(
        ticked.contains("“pg_isready answers” ticked by alice"),
        "{ticked}"
    );
    let recorded = succeed(
        &config,
        &[
            "incident",
            "rpo",
            "INC-1",
            "--no-data-lost",
            "--note",
            "replica promoted",
        ],
    );
    assert!(
        recorded.contains("Recovery point: no data lost: replica promoted"),
        "{recorded}"
    );

    let before = db.snapshot().await;
    for (args, says) in [
        (
            vec!["incident", "check", "1", "coffee"],
            "`coffee` is not on the checklist of postgres",
        ),
        (
            vec!["incident", "check", "2", "pg_isready answers"],
            "INC-2 has no service",
        ),
        (
            vec![
                "incident",
                "rpo",
                "1",
                "--restored-from",
                "2999-01-01 00:00",
            ],
            "is in the future",
        ),
        (
            vec!["incident", "rpo", "1", "--restored-from", "last night"],
            "`last night` is not a time",
        ),
        (
            vec!["incident", "resolve", "1"],
            "has 3 of its checklist unticked",
        ),
    ] {
        let output = run(&config, &args);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(says),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    assert_eq!(db.snapshot().await, before, "bad input changed nothing");
    let resolved = succeed(&config, &["incident", "resolve", "1", "--force"]);
    assert!(resolved.contains("INC-1 resolved"), "{resolved}");
}

async fn the_api_ticks_records_the_recovery_point_and_refuses_bad_input(db: TestDb) {
    let server = Server::start(db).await;
    for service in [json!("api"), json!(null)] {
        let opened = server
            .post(
                "/v1/incidents",
                RESPONDER,
                &json!({"title": "Checkout is down", "severity": "SEV2", "service": service}),
            )
            .await;
        assert_eq!(opened.status, 201, "{}", opened.text);
    }
    let ticked = server
        .post(
            "/v1/incidents/1/checklist",
            RESPONDER,
            &json!({"item": "Logins Work"}),
        )
        .await;
    assert_eq!(ticked.status, 201, "{}", ticked.text);
    assert_eq!(ticked.json()["events"][0]["kind"], "checklist_checked");
    assert_eq!(ticked.json()["events"][0]["data"]["item"], "logins work");
    let state = server
        .get("/v1/incidents/1/checklist", RESPONDER)
        .await
        .json();
    assert_eq!(state["progress"], "1/4 checked");
    assert_eq!(state["items"][1]["ticked"]["by"]["id"], "api:responder");

    let now = server.clock.now();
    let before = server.snapshot().await;
    for (path, body, status, says) in [
        (
            "/v1/incidents/1/checklist",
            json!({"item": "coffee"}),
            422,
            "is not on the checklist of api",
        ),
        (
            "/v1/incidents/2/checklist",
            json!({"item": "logins work"}),
            422,
            "INC-2 has no service",
        ),
        (
            "/v1/incidents/1/rpo",
            json!({"restored_from": "tomorrow"}),
            422,
            "is not a time",
        ),
        (
            "/v1/incidents/1/rpo",
            json!({"restored_from": now.plus(Duration::from_secs(60)).to_rfc3339()}),
            422,
            "is in the future",
        ),
        (
            "/v1/incidents/1/rpo",
            json!({}),
            422,
            "say what was restored",
        ),
        (
            "/v1/incidents/1/resolve",
            json!({"summary": "x"}),
            409,
            "has 3 of its checklist unticked",
        ),
    ] {
        let token = if path.ends_with("resolve") {
            COMMANDER
        } else {
            RESPONDER
        };
        let reply = server.post(path, token, &body).await;
        assert_eq!(reply.status, status, "{path} {body}: {}", reply.text);
        assert!(reply.error().contains(says), "{path}: {}", reply.error());
    }
    assert_eq!(server.snapshot().await, before, "bad input changed nothing");

    let restored = server
        .post(
            "/v1/incidents/1/rpo",
            RESPONDER,
            &json!({"restored_from": now.minus(Duration::from_secs(600)).to_rfc3339()}),
        )
        .await;
    assert_eq!(restored.status, 201, "{}", restored.text);
    assert_eq!(restored.json()["events"][0]["kind"], "rpo_recorded");
    let resolved = server
        .post(
            "/v1/incidents/1/resolve",
            COMMANDER,
            &json!({"force": true}),
        )
        .await;
    assert_eq!(resolved.status, 200, "{}", resolved.text);
    assert_eq!(resolved.json()["incident"]["status"], "resolved");
    server.stop().await;
}

const START: Timestamp = Timestamp::from_millis(1_800_000_000_000);

/// An incident of `postgres` (RTO 30m, RPO 1h) opened at START, resolved `after`, restored
/// from `lost` before it started; its exports in the three formats.
async fn exported(
    db: &TestDb,
    lost: Duration,
    after: Duration,
) -> (String, serde_json::Value, String) {
    let clock = Arc::new(ManualClock::new(START));
    let ops = Ops::new(db.store().await, Arc::new(db.config()), clock.clone());
    let who = operator("alice");
    let id = ops
        .open(
            &who,
            Source::Cli,
            OpenRequest {
                title: "primary lost".to_owned(),
                severity: "SEV1".to_owned(),
                service: Some("postgres".to_owned()),
                ..OpenRequest::default()
            },
        )
        .await
        .unwrap()
        .incident
        .id;
    clock.set(START.plus(Duration::from_secs(300)));
    ops.record_rpo(&who, id, rpo_at(START.minus(lost)))
        .await
        .unwrap();
    clock.set(START.plus(after));
    ops.resolve(&who, id, None).await.unwrap();
    let mut out = Vec::new();
    for format in [Format::Markdown, Format::Json, Format::Html] {
        let mut bytes = Vec::new();
        ops.export(&who, id, format, &mut bytes).await.unwrap();
        out.push(String::from_utf8(bytes).unwrap());
    }
    let json = serde_json::from_str(&out[1]).unwrap();
    (out[0].clone(), json, out[2].clone())
}

async fn exports_judge_the_recovery_point_met(db: TestDb) {
    let (markdown, json, html) = exported(
        &db,
        Duration::from_secs(45 * 60),
        Duration::from_secs(20 * 60),
    )
    .await;
    assert!(
        markdown
            .contains("| Recovery point (RPO) | 1h 00m 00s | 45m 00s of data lost (restored from ")
            && markdown.contains("recorded by alice) | **met** |"),
        "{markdown}"
    );
    assert!(markdown.contains("| Recovery time (RTO) | 30m 00s | 20m 00s to resolve | **met** |"));
    let rpo = &json["objectives"]["rpo"];
    assert_eq!(rpo["result"], "met");
    assert_eq!(rpo["actual_ms"], 45 * 60 * 1000);
    assert_eq!(rpo["target_ms"], 3_600_000);
    assert_eq!(
        rpo["recovery_point"]["restored_from"],
        json!(START.minus(Duration::from_secs(2_700)))
    );
    assert_eq!(json["objectives"]["rto"]["result"], "met");
    assert!(
        html.contains("<td>Recovery point (RPO)</td><td>1h 00m 00s</td><td>45m 00s of data lost")
            && html.contains("<td class=met>met</td></tr></table>"),
        "{html}"
    );
}

async fn exports_judge_the_recovery_point_and_recovery_time_missed(db: TestDb) {
    let (markdown, json, html) = exported(
        &db,
        Duration::from_secs(2 * 3600),
        Duration::from_secs(45 * 60),
    )
    .await;
    assert!(
        markdown.contains(
            "| Recovery point (RPO) | 1h 00m 00s | 2h 00m 00s of data lost (restored from "
        ) && markdown.contains("| **missed** |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| Recovery time (RTO) | 30m 00s | 45m 00s to resolve | **missed** |"),
        "{markdown}"
    );
    assert_eq!(json["objectives"]["rpo"]["result"], "missed");
    assert_eq!(json["objectives"]["rpo"]["actual_ms"], 2 * 3600 * 1000);
    assert_eq!(json["objectives"]["rto"]["result"], "missed");
    assert!(
        html.contains("2h 00m 00s of data lost")
            && html.contains("<td class=missed>missed</td></tr></table>"),
        "{html}"
    );
    assert!(html.contains("<td>Recovery time (RTO)</td><td>30m 00s</td><td>45m 00s to resolve</td><td class=missed>missed</td>"));
}
