//! The storage contract: the same scenarios, through `ops`, on SQLite and on PostgreSQL.

use std::sync::Arc;

use warroom::domain::{Action, Actor, EventKind, IncidentId, NewEvent, Refusal, Source, Status};
use warroom::export::{Format, JSON_SCHEMA};
use warroom::ops::{OpenRequest, Ops, OpsError, Principal};
use warroom::store::IncidentFilter;

use crate::on_both_backends;
use crate::support::{TestDb, operator};

on_both_backends!(
    a_whole_incident_follows_the_status_rules,
    refusals_change_nothing,
    fifty_concurrent_acknowledgements_make_one_event,
    twenty_concurrent_writers_get_gap_free_seq,
    keyed_events_are_written_once,
    timeline_rows_cannot_be_rewritten,
    severity_roles_and_the_incident_commander,
    listing_filters_and_puts_active_incidents_first,
    exports_list_every_event_in_order_and_round_trip,
    drill_and_private_flags_are_stored,
    an_alert_group_is_opened_and_linked_in_one_transaction,
);

fn request(title: &str) -> OpenRequest {
    OpenRequest {
        title: title.to_owned(),
        severity: "SEV2".to_owned(),
        service: Some("api".to_owned()),
        description: "customers see 500s at checkout".to_owned(),
        ..OpenRequest::default()
    }
}

async fn open(ops: &Ops, title: &str) -> IncidentId {
    ops.open(&operator("alice"), Source::Cli, request(title))
        .await
        .expect("open")
        .incident
        .id
}

async fn a_whole_incident_follows_the_status_rules(db: TestDb) {
    let ops = db.ops().await;
    let alice = operator("alice");
    let opened = ops
        .open(&alice, Source::Cli, request("Checkout is down"))
        .await
        .unwrap();
    let id = opened.incident.id;
    assert_eq!(opened.incident.status, Status::Open);
    assert_eq!(opened.events[0].seq, 1);
    assert_eq!(opened.events[0].kind, EventKind::Opened);

    ops.add_note(&alice, id, "error rate at 40%").await.unwrap();
    let acked = ops.acknowledge(&alice, id).await.unwrap();
    assert_eq!(acked.incident.status, Status::Acknowledged);
    assert_eq!(acked.incident.acknowledged_by, Some(Actor::cli("alice")));
    ops.mitigate(&alice, id, Some("rolled back")).await.unwrap();
    let resolved = ops.resolve(&alice, id, Some("fixed")).await.unwrap();
    assert_eq!(resolved.incident.status, Status::Resolved);
    assert!(resolved.incident.resolved_at.is_some());
    let reopened = ops
        .reopen(&alice, id, Some("errors are back"))
        .await
        .unwrap();
    assert_eq!(reopened.incident.status, Status::Open);
    assert_eq!(
        reopened.incident.acknowledged_at, None,
        "a reopened incident needs a new ack"
    );
    ops.resolve(&alice, id, None).await.unwrap();

    let stored = ops.show(&alice, id).await.unwrap();
    let timeline = ops.timeline_page(&alice, id, 0).await.unwrap();
    let kinds: Vec<EventKind> = timeline.iter().map(|event| event.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Opened,
            EventKind::Note,
            EventKind::Acknowledged,
            EventKind::StatusChanged,
            EventKind::StatusChanged,
            EventKind::StatusChanged,
            EventKind::StatusChanged,
        ]
    );
    let seqs: Vec<i64> = timeline.iter().map(|event| event.seq).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
    assert_eq!(stored.last_seq, 7);
    assert!(timeline.windows(2).all(|pair| pair[0].at <= pair[1].at));
    assert_eq!(
        timeline[3].text,
        "Status acknowledged → mitigated: rolled back"
    );
}

async fn refusals_change_nothing(db: TestDb) {
    let ops = db.ops().await;
    let alice = operator("alice");
    let id = open(&ops, "Refusals").await;
    ops.resolve(&alice, id, None).await.unwrap();
    let before = db.snapshot().await;

    let illegal = ops.acknowledge(&alice, id).await.unwrap_err();
    assert!(
        matches!(
            illegal,
            OpsError::Refused(Refusal::IllegalTransition {
                current: Status::Resolved,
                action: Action::Acknowledge,
                ..
            })
        ),
        "{illegal:?}"
    );
    assert!(illegal.to_string().contains("is resolved"), "{illegal}");
    assert!(matches!(
        ops.mitigate(&alice, id, None).await,
        Err(OpsError::Refused(_))
    ));
    assert!(matches!(
        ops.resolve(&alice, id, None).await,
        Err(OpsError::Refused(_))
    ));

    let missing = ops
        .acknowledge(&alice, IncidentId(9_999))
        .await
        .unwrap_err();
    assert!(
        matches!(missing, OpsError::NotFound(IncidentId(9_999))),
        "{missing:?}"
    );

    let mut bad_severity = request("x");
    bad_severity.severity = "SEV9".into();
    let error = ops
        .open(&alice, Source::Cli, bad_severity)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("`SEV9` is not a severity; use one of SEV1, SEV2, SEV3, SEV4"),
        "{error}"
    );
    let mut bad_service = request("x");
    bad_service.service = Some("mainframe".into());
    let error = ops
        .open(&alice, Source::Cli, bad_service)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("`mainframe` is not a service"),
        "{error}"
    );
    let error = ops
        .open(&alice, Source::Cli, request("   "))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("title is empty"), "{error}");
    let error = ops
        .add_note(&alice, id, &"x".repeat(4_001))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("4001 characters"), "{error}");

    let nobody = Principal::new(Actor::discord(7, "responder"), []);
    let error = ops
        .open(&nobody, Source::Discord, request("x"))
        .await
        .unwrap_err();
    assert!(matches!(error, OpsError::Forbidden { .. }), "{error:?}");
    let error = ops.reopen(&nobody, id, None).await.unwrap_err();
    assert!(
        error.to_string().contains("`incident_commander` role"),
        "{error}"
    );

    assert_eq!(
        db.snapshot().await,
        before,
        "a refused change wrote something"
    );
}

async fn fifty_concurrent_acknowledgements_make_one_event(db: TestDb) {
    let ops = db.ops().await;
    let id = open(&ops, "Everyone acks at once").await;
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|n| {
            let ops = ops.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let who = Principal::operator(Actor::cli(&format!("responder{n}")));
                barrier.wait().await;
                ops.acknowledge(&who, id).await
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut told = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(written) => winners.push(written.incident.acknowledged_by.unwrap()),
            Err(OpsError::Refused(Refusal::AlreadyAcknowledged { by, .. })) => told.push(by),
            Err(other) => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one acknowledgement wins");
    assert_eq!(told.len(), 49);
    assert!(
        told.iter().all(|by| *by == winners[0]),
        "the others are told who was first"
    );
    let timeline = ops.timeline_page(&operator("x"), id, 0).await.unwrap();
    let acks = timeline
        .iter()
        .filter(|event| event.kind == EventKind::Acknowledged)
        .count();
    assert_eq!(acks, 1);
    assert_eq!(timeline.len(), 2);
}

async fn twenty_concurrent_writers_get_gap_free_seq(db: TestDb) {
    let ops = db.ops().await;
    let id = open(&ops, "Busy channel").await;
    let tasks: Vec<_> = (0..20)
        .map(|writer| {
            let ops = ops.clone();
            tokio::spawn(async move {
                let who = operator(&format!("writer{writer}"));
                for note in 0..10 {
                    ops.add_note(&who, id, &format!("writer {writer} note {note}"))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut seqs = Vec::new();
    let mut after = 0;
    loop {
        let page = ops.timeline_page(&operator("x"), id, after).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        seqs.extend(page.iter().map(|event| event.seq));
    }
    assert_eq!(
        seqs,
        (1..=201).collect::<Vec<_>>(),
        "seq must be 1..=201 with no gap"
    );
    assert_eq!(ops.show(&operator("x"), id).await.unwrap().last_seq, 201);
}

async fn keyed_events_are_written_once(db: TestDb) {
    let ops = db.ops().await;
    let id = open(&ops, "Redelivered messages").await;
    let message = |text: &str| {
        NewEvent::new(
            ops.clock().now(),
            EventKind::Message,
            Actor::discord(5, "bob"),
            text,
        )
        .with_key("discord-message:501")
    };
    let first = ops.append(id, vec![message("hello")]).await.unwrap();
    assert!(!first.duplicate);
    let again = ops.append(id, vec![message("hello")]).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.events[0].seq, first.events[0].seq);
    let stored = ops
        .store()
        .event_by_key(id, "discord-message:501")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.text, "hello");
    let timeline = ops.timeline_page(&operator("x"), id, 0).await.unwrap();
    assert_eq!(timeline.len(), 2);
}

async fn timeline_rows_cannot_be_rewritten(db: TestDb) {
    let ops = db.ops().await;
    let id = open(&ops, "History stays").await;
    ops.add_note(&operator("alice"), id, "original words")
        .await
        .unwrap();
    let before = db.snapshot().await;
    let update = db
        .execute_raw("UPDATE incident_events SET text = 'rewritten'")
        .await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = db.execute_raw("DELETE FROM incident_events").await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert_eq!(db.snapshot().await, before);
}

async fn severity_roles_and_the_incident_commander(db: TestDb) {
    let ops = db.ops().await;
    let alice = operator("alice");
    let id = open(&ops, "Roles").await;
    let changed = ops.change_severity(&alice, id, "sev1").await.unwrap();
    assert_eq!(changed.incident.severity, "SEV1");
    assert_eq!(changed.events[0].text, "Severity SEV2 → SEV1");
    let same = ops.change_severity(&alice, id, "SEV1").await.unwrap_err();
    assert!(
        same.to_string().contains("already has severity SEV1"),
        "{same}"
    );

    let carol = Actor::discord(303, "carol");
    let assigned = ops
        .assign_role(&alice, id, "Commander", carol.clone())
        .await
        .unwrap();
    assert_eq!(assigned.incident.commander(), Some(&carol));
    let error = ops
        .assign_role(&alice, id, "janitor", carol.clone())
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("use one of commander, communications, dba, scribe"),
        "{error}"
    );

    // Carol holds no Discord role, but commands this incident: she may resolve it, and only it.
    let carol_as_member = Principal::new(carol, []);
    let other = open(&ops, "Someone else's").await;
    assert!(matches!(
        ops.resolve(&carol_as_member, other, None).await,
        Err(OpsError::Forbidden { .. })
    ));
    let resolved = ops
        .resolve(&carol_as_member, id, Some("done"))
        .await
        .unwrap();
    assert_eq!(resolved.incident.status, Status::Resolved);
}

async fn listing_filters_and_puts_active_incidents_first(db: TestDb) {
    let ops = db.ops().await;
    let alice = operator("alice");
    let first = open(&ops, "Old and resolved").await;
    ops.resolve(&alice, first, None).await.unwrap();
    let second = open(&ops, "Database is slow").await;
    let third = open(&ops, "Checkout errors").await;
    ops.resolve(&alice, third, None).await.unwrap();

    let all = ops.list(&alice, &IncidentFilter::default()).await.unwrap();
    let ids: Vec<IncidentId> = all.iter().map(|incident| incident.id).collect();
    assert_eq!(ids, [third, second, first], "newest first");

    let active_first = IncidentFilter {
        active_first: true,
        ..IncidentFilter::default()
    };
    let ids: Vec<IncidentId> = ops
        .list(&alice, &active_first)
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, [second, third, first]);

    let open_only = IncidentFilter {
        statuses: vec![Status::Open],
        ..IncidentFilter::default()
    };
    let ids: Vec<IncidentId> = ops
        .list(&alice, &open_only)
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, [second]);

    let search = IncidentFilter {
        search: Some("DATABASE".into()),
        ..IncidentFilter::default()
    };
    let ids: Vec<IncidentId> = ops
        .list(&alice, &search)
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, [second]);
    let by_number = IncidentFilter {
        search: Some(third.to_string()),
        ..IncidentFilter::default()
    };
    let ids: Vec<IncidentId> = ops
        .list(&alice, &by_number)
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, [third]);
}

async fn exports_list_every_event_in_order_and_round_trip(db: TestDb) {
    let ops = db.ops().await;
    let alice = operator("alice");
    let id = open(&ops, "Export me | with a pipe").await;
    // More than one page of events, so the export has to page through the store.
    for n in 0..1_203 {
        ops.add_note(&alice, id, &format!("note {n}\nsecond line"))
            .await
            .unwrap();
    }
    ops.acknowledge(&alice, id).await.unwrap();
    ops.resolve(&alice, id, Some("done")).await.unwrap();
    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let page = ops.timeline_page(&alice, id, after).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        stored.extend(page);
    }
    assert_eq!(stored.len(), 1_206);

    let mut json = Vec::new();
    ops.export(&alice, id, Format::Json, &mut json)
        .await
        .unwrap();
    let document: serde_json::Value =
        serde_json::from_slice(&json).expect("the JSON export parses");
    assert_eq!(document["schema"], JSON_SCHEMA);
    assert_eq!(document["incident"]["title"], "Export me | with a pipe");
    assert_eq!(document["objectives"]["rto"]["result"], "met");
    let events: Vec<warroom::domain::Event> =
        serde_json::from_value(document["timeline"].clone()).expect("events decode");
    assert_eq!(
        events, stored,
        "the JSON timeline round-trips to the stored events"
    );
    assert_eq!(document["participants"][0]["actor"]["id"], "cli:alice");

    let mut markdown = Vec::new();
    ops.export(&alice, id, Format::Markdown, &mut markdown)
        .await
        .unwrap();
    let markdown = String::from_utf8(markdown).unwrap();
    let rows: Vec<&str> = markdown
        .lines()
        .filter(|line| line.starts_with("| ") && line.contains(" UTC | "))
        .filter(|line| {
            line.split('|')
                .nth(1)
                .is_some_and(|cell| cell.trim().parse::<i64>().is_ok())
        })
        .collect();
    assert_eq!(
        rows.len(),
        stored.len() + 1,
        "one row per event, plus the first export's own event"
    );
    for (row, event) in rows.iter().zip(&stored) {
        let expected = format!(
            "| {} | {} | {} |",
            event.seq,
            event.at.to_human(),
            event.kind
        );
        assert!(
            row.starts_with(&expected),
            "{row} does not start with {expected}"
        );
    }
    assert!(markdown.contains("Export me \\| with a pipe"));
    assert!(markdown.contains("note 0<br>second line"));
    for heading in [
        "## Summary",
        "## Impact and objectives",
        "## Key times",
        "## Timeline",
        "## Recovery log",
        "### Checklist",
        "## Participants",
        "## Root cause",
        "## Lessons learned",
        "## Action items",
    ] {
        assert!(markdown.contains(heading), "missing {heading}");
    }
    for heading in ["## Pages and escalations", "### Commands run"] {
        assert!(markdown.contains(heading), "missing {heading}");
    }

    let mut html = Vec::new();
    ops.export(&alice, id, Format::Html, &mut html)
        .await
        .unwrap();
    let html = String::from_utf8(html).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</body></html>"));
    assert!(!html.contains("<script"), "the page runs nothing");
    assert_eq!(html.matches("<svg").count(), 1, "one timeline chart");
    assert!(
        html.contains("conversation (1203)"),
        "the chart counts the notes in its lane"
    );
    let rows = html.matches("<tr><td class=n>").count();
    assert_eq!(
        rows,
        stored.len() + 2,
        "one row per event, plus the two exports' own events"
    );
    assert!(
        html.contains("Export me | with a pipe"),
        "text kept as written"
    );
    for heading in [
        "Summary",
        "Impact and objectives",
        "Key times",
        "Timeline",
        "Pages and escalations",
        "Recovery log",
        "Participants",
        "Root cause",
        "Lessons learned",
        "Action items",
    ] {
        assert!(
            html.contains(&format!("<h2>{heading}</h2>")),
            "missing {heading}"
        );
    }
    for heading in ["Commands run", "Checklist"] {
        assert!(
            html.contains(&format!("<h3>{heading}</h3>")),
            "missing {heading} in the recovery log"
        );
    }
    let exported = ops.timeline_tail(&alice, id, 3).await.unwrap();
    assert!(
        exported
            .iter()
            .all(|event| event.kind == EventKind::Exported)
    );
    assert!(
        exported
            .iter()
            .all(|event| event.kind == EventKind::Exported)
    );
}

async fn drill_and_private_flags_are_stored(db: TestDb) {
    let ops = db.ops().await;
    let mut drill = request("Game day");
    drill.drill = true;
    drill.private = true;
    let opened = ops
        .open(&operator("alice"), Source::Cli, drill)
        .await
        .unwrap();
    let stored = ops
        .show(&operator("alice"), opened.incident.id)
        .await
        .unwrap();
    assert!(stored.drill && stored.private);
    assert!(opened.events[0].text.starts_with("DRILL: "));
    let plain = open(&ops, "Real").await;
    let stored = ops.show(&operator("alice"), plain).await.unwrap();
    assert!(!stored.drill && !stored.private);
}

/// A delivery whose claim on an alert group was taken over (it stalled past the claim
/// timeout) writes nothing: no incident without its group, which would page for nothing.
async fn an_alert_group_is_opened_and_linked_in_one_transaction(db: TestDb) {
    use std::time::Duration;
    use warroom::domain::{NewIncident, Timestamp};
    use warroom::store::{
        AlertReport, AlertState, EscalationEffect, GroupPlan, PlanRequest, StoreError,
    };

    let store = db.store().await;
    let alert = AlertReport {
        fingerprint: "f1".to_owned(),
        starts_at: Some(Timestamp::from_millis(1_000)),
        ends_at: None,
        state: AlertState::Firing,
        summary: "Disk full".to_owned(),
        labels: Default::default(),
        details: serde_json::Value::Null,
    };
    let alerts = [alert];
    let plan = |token: &'static str, now: i64| PlanRequest {
        source: "generic",
        group_key: "disk",
        route: "default",
        alerts: &alerts,
        now: Timestamp::from_millis(now),
        cap: 100,
        window: Duration::from_secs(60),
        claim_timeout: Duration::from_secs(30),
        token,
    };
    let GroupPlan::Open(stalled) = store.plan_group(plan("first", 10_000)).await.unwrap() else {
        panic!("the first delivery claims the group");
    };
    // A minute later the first claim is taken to be abandoned and taken over.
    let GroupPlan::Open(second) = store.plan_group(plan("second", 70_000)).await.unwrap() else {
        panic!("the stale claim is taken over");
    };
    let new = |title: &str| NewIncident {
        title: title.to_owned(),
        description: String::new(),
        severity: "SEV2".to_owned(),
        service: None,
        source: Source::Alert,
        drill: false,
        private: false,
        opened_at: Timestamp::from_millis(70_000),
        opened_by: Actor::alert("generic"),
    };
    let opened = |title: &str| {
        vec![NewEvent::new(
            Timestamp::from_millis(70_000),
            EventKind::Opened,
            Actor::alert("generic"),
            title,
        )]
    };
    let lost = store
        .open_for_claim(
            &stalled,
            new("stalled"),
            opened("stalled"),
            EscalationEffect::None,
            &|_| Vec::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(lost, StoreError::ClaimLost(_)), "{lost}");
    let written = store
        .open_for_claim(
            &second,
            new("second"),
            opened("second"),
            EscalationEffect::None,
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    let incidents = store
        .list_incidents(&IncidentFilter::default())
        .await
        .unwrap();
    let titles: Vec<&str> = incidents
        .iter()
        .map(|incident| incident.title.as_str())
        .collect();
    assert_eq!(
        titles,
        ["second"],
        "the stalled delivery left an incident behind"
    );
    assert_eq!(
        store
            .group_incident("generic", "disk")
            .await
            .unwrap()
            .map(|(id, _)| id),
        Some(written.incident.id)
    );
}
