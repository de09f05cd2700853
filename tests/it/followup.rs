//! After the incident, on both backends and a controlled clock: resolving creates the review
//! (commander as owner, due by the severity's `review_within`), an overdue review is reminded
//! once and a done one never; action items are added, done and reminded by DM once when
//! overdue; all of it appears in the Markdown, JSON and HTML exports; bad input changes
//! nothing.

use std::sync::Arc;
use std::time::Duration;

use warroom::domain::{Actor, EventKind, IncidentId, ManualClock, Source, Timestamp};
use warroom::export::Format;
use warroom::ops::timers::{Timers, handlers};
use warroom::ops::{ActionRequest, OpenRequest, Ops, ReviewRequest};

use crate::on_both_backends;
use crate::support::{TestDb, operator};

on_both_backends!(
    resolving_creates_the_review_and_an_overdue_one_is_reminded_once,
    a_review_done_in_time_is_never_reminded,
    action_items_are_tracked_reminded_once_and_exported,
    bad_follow_up_input_is_refused_and_changes_nothing,
);

const START: Timestamp = Timestamp::from_millis(1_800_000_000_000);
const HOUR: Duration = Duration::from_secs(3600);
const CAROL: u64 = 222_333_444_555_666_777;
const DAVE: u64 = 333_444_555_666_777_888;

struct Setup {
    ops: Ops,
    clock: Arc<ManualClock>,
    timers: Timers,
    incident: IncidentId,
}

async fn setup(db: &TestDb, severity: &str) -> Setup {
    let clock = Arc::new(ManualClock::new(START));
    let ops = Ops::new(db.store().await, Arc::new(db.config()), clock.clone());
    let incident = ops
        .open(
            &operator("alice"),
            Source::Cli,
            OpenRequest {
                title: "checkout is down".to_owned(),
                severity: severity.to_owned(),
                ..OpenRequest::default()
            },
        )
        .await
        .unwrap()
        .incident
        .id;
    ops.assign_role(
        &operator("alice"),
        incident,
        "commander",
        Actor::discord(CAROL, "Carol"),
    )
    .await
    .unwrap();
    let timers = Timers::new(ops.clone(), handlers());
    Setup {
        ops,
        clock,
        timers,
        incident,
    }
}

async fn kinds(setup: &Setup, kind: EventKind) -> Vec<warroom::domain::Event> {
    setup
        .ops
        .store()
        .timeline_page(setup.incident, 0, 1_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|event| event.kind == kind)
        .collect()
}

/// The reminders of follow-ups (reviews, action items), not the deadlines' nudges of the
/// incident while it was open.
async fn followup_reminders(setup: &Setup) -> Vec<warroom::domain::Event> {
    kinds(setup, EventKind::Reminder)
        .await
        .into_iter()
        .filter(|event| event.data.get("about").is_some())
        .collect()
}

async fn outbox(setup: &Setup) -> Vec<(String, u64)> {
    setup
        .ops
        .store()
        .unsent_dms(100)
        .await
        .unwrap()
        .into_iter()
        .map(|dm| (dm.key, dm.user_id))
        .collect()
}

async fn export(setup: &Setup, format: Format) -> String {
    let mut out = Vec::new();
    setup
        .ops
        .export(&operator("alice"), setup.incident, format, &mut out)
        .await
        .unwrap();
    String::from_utf8(out).unwrap()
}

async fn resolving_creates_the_review_and_an_overdue_one_is_reminded_once(db: TestDb) {
    let setup = setup(&db, "SEV1").await;
    let who = operator("alice");
    assert!(
        setup
            .ops
            .show_review(&who, setup.incident)
            .await
            .unwrap()
            .is_none()
    );
    setup.clock.advance(HOUR);
    setup
        .ops
        .resolve(&who, setup.incident, Some("rolled back"))
        .await
        .unwrap();
    let review = setup
        .ops
        .show_review(&who, setup.incident)
        .await
        .unwrap()
        .unwrap();
    // SEV1: within two days of resolution, owned by the commander.
    assert_eq!(
        review.due_at,
        START.plus(HOUR).plus(Duration::from_secs(2 * 24 * 3600))
    );
    assert_eq!(review.owner.discord_user_id(), Some(CAROL));
    assert_eq!(review.state(), "open");

    // Not a millisecond early.
    setup
        .timers
        .tick(review.due_at.minus(Duration::from_millis(1)))
        .await
        .unwrap();
    assert!(followup_reminders(&setup).await.is_empty());
    setup.clock.set(review.due_at);
    setup.timers.tick(review.due_at).await.unwrap();
    // Another process looking later fires nothing more.
    let other = Timers::new(setup.ops.clone(), handlers());
    other.tick(review.due_at.plus(HOUR * 30)).await.unwrap();
    setup
        .timers
        .tick(review.due_at.plus(HOUR * 60))
        .await
        .unwrap();
    let reminders = followup_reminders(&setup).await;
    assert_eq!(reminders.len(), 1, "{reminders:?}");
    assert!(
        reminders[0].text.contains("review"),
        "{}",
        reminders[0].text
    );
    let key = format!("review-overdue:{}", setup.incident);
    assert_eq!(outbox(&setup).await, vec![(key, CAROL)]);

    // Reopening and resolving again re-arms it; done stops it.
    setup
        .ops
        .reopen(&who, setup.incident, Some("back"))
        .await
        .unwrap();
    setup.ops.resolve(&who, setup.incident, None).await.unwrap();
    setup
        .ops
        .review(
            &who,
            setup.incident,
            ReviewRequest {
                done: true,
                ..ReviewRequest::default()
            },
        )
        .await
        .unwrap();
    setup
        .timers
        .tick(review.due_at.plus(HOUR * 24 * 30))
        .await
        .unwrap();
    assert_eq!(followup_reminders(&setup).await.len(), 1);
    assert_eq!(kinds(&setup, EventKind::ReviewDone).await.len(), 1);
}

async fn a_review_done_in_time_is_never_reminded(db: TestDb) {
    let setup = setup(&db, "SEV3").await;
    let who = operator("alice");
    setup.ops.resolve(&who, setup.incident, None).await.unwrap();
    let review = setup
        .ops
        .show_review(&who, setup.incident)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        review.due_at,
        START.plus(Duration::from_secs(7 * 24 * 3600))
    );
    setup.clock.advance(HOUR);
    let meeting = START.plus(HOUR * 24);
    let scheduled = setup
        .ops
        .review(
            &who,
            setup.incident,
            ReviewRequest {
                when: Some(meeting.to_rfc3339()),
                owner: Some(format!("<@{DAVE}>")),
                done: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(scheduled.meeting_at, Some(meeting));
    assert_eq!(scheduled.owner.discord_user_id(), Some(DAVE));
    assert_eq!(kinds(&setup, EventKind::ReviewScheduled).await.len(), 1);
    setup.clock.advance(HOUR * 24);
    let done = setup
        .ops
        .review(
            &who,
            setup.incident,
            ReviewRequest {
                done: true,
                ..ReviewRequest::default()
            },
        )
        .await
        .unwrap();
    assert!(done.on_time());
    setup.timers.tick(review.due_at.plus(HOUR)).await.unwrap();
    assert!(followup_reminders(&setup).await.is_empty());
    assert!(outbox(&setup).await.is_empty());
    // Done twice is refused, and so is moving a done review.
    let again = setup
        .ops
        .review(
            &who,
            setup.incident,
            ReviewRequest {
                done: true,
                ..ReviewRequest::default()
            },
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(again.contains("was done at"), "{again}");
    let json = export(&setup, Format::Json).await;
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["review"]["state"], "done");
    assert_eq!(json["review"]["owner"]["id"], format!("discord:{DAVE}"));
}

fn add(text: &str, owner: u64, due: &str) -> ActionRequest {
    ActionRequest {
        text: text.to_owned(),
        owner: owner.to_string(),
        due: due.to_owned(),
    }
}

async fn action_items_are_tracked_reminded_once_and_exported(db: TestDb) {
    let setup = setup(&db, "SEV2").await;
    let who = operator("alice");
    let first = setup
        .ops
        .add_action_item(
            &who,
            setup.incident,
            add("Add a <b>canary</b> | for checkout", CAROL, "2d"),
        )
        .await
        .unwrap();
    assert_eq!(first.number, 1);
    assert_eq!(first.due_at, START.plus(HOUR * 48));
    let second = setup
        .ops
        .add_action_item(
            &who,
            setup.incident,
            add("Alert on queue depth", DAVE, "2027-01-31"),
        )
        .await
        .unwrap();
    assert_eq!(second.number, 2);
    assert_eq!(kinds(&setup, EventKind::ActionItemAdded).await.len(), 2);
    setup.clock.advance(HOUR);
    let done = setup
        .ops
        .finish_action_item(&who, setup.incident, 2)
        .await
        .unwrap();
    assert_eq!(done.done_at, Some(START.plus(HOUR)));
    assert_eq!(kinds(&setup, EventKind::ActionItemDone).await.len(), 1);

    // The first passes its due date: its owner gets one DM; the done one none.
    let late = first.due_at.plus(HOUR);
    setup.timers.tick(late).await.unwrap();
    Timers::new(setup.ops.clone(), handlers())
        .tick(late.plus(HOUR))
        .await
        .unwrap();
    setup
        .timers
        .tick(START.plus(HOUR * 24 * 400))
        .await
        .unwrap();
    let key = format!("action-overdue:{}#1", setup.incident);
    assert_eq!(outbox(&setup).await, vec![(key, CAROL)]);
    assert_eq!(followup_reminders(&setup).await.len(), 1);

    let listed = setup.ops.action_items(&who, setup.incident).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(!listed[0].is_done() && listed[1].is_done());

    let markdown = export(&setup, Format::Markdown).await;
    assert!(
        markdown.contains("| 1 | Add a &lt;b&gt;canary&lt;/b&gt; \\| for checkout |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| 2 | Alert on queue depth |"),
        "{markdown}"
    );
    assert!(
        markdown.contains(&START.plus(HOUR).to_human()),
        "{markdown}"
    );
    let html = export(&setup, Format::Html).await;
    assert!(
        html.contains("<td>Add a &lt;b&gt;canary&lt;/b&gt; | for checkout</td>"),
        "{html}"
    );
    assert!(!html.contains("<b>canary"));
    let json: serde_json::Value =
        serde_json::from_str(&export(&setup, Format::Json).await).unwrap();
    let items = json["sections"]["action_items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["owner"]["id"], format!("discord:{CAROL}"));
    assert_eq!(items[0]["done"], false);
    assert_eq!(items[1]["done"], true);
    assert_eq!(items[1]["done_at"], serde_json::json!(START.plus(HOUR)));
    assert!(json["review"].is_null());
}

fn refused<T: std::fmt::Debug>(result: Result<T, warroom::ops::OpsError>) -> String {
    result.unwrap_err().to_string()
}

async fn bad_follow_up_input_is_refused_and_changes_nothing(db: TestDb) {
    let setup = setup(&db, "SEV2").await;
    let who = operator("alice");
    let before = setup
        .ops
        .store()
        .get_incident(setup.incident)
        .await
        .unwrap()
        .unwrap()
        .last_seq;
    let unknown = refused(
        setup
            .ops
            .add_action_item(&who, IncidentId(999), add("x", CAROL, "2d"))
            .await,
    );
    assert!(unknown.contains("INC-999 does not exist"), "{unknown}");
    let not_discord = ActionRequest {
        owner: "bob".to_owned(),
        ..add("x", CAROL, "2d")
    };
    let owner = refused(
        setup
            .ops
            .add_action_item(&who, setup.incident, not_discord)
            .await,
    );
    assert!(owner.contains("`bob` is not a Discord user id"), "{owner}");
    let due = refused(
        setup
            .ops
            .add_action_item(&who, setup.incident, add("x", CAROL, "next tuesdayish"))
            .await,
    );
    assert!(due.contains("is not a time"), "{due}");
    let past = refused(
        setup
            .ops
            .add_action_item(&who, setup.incident, add("x", CAROL, "2020-01-01"))
            .await,
    );
    assert!(past.contains("in the past"), "{past}");
    let empty = refused(
        setup
            .ops
            .add_action_item(&who, setup.incident, add("  ", CAROL, "2d"))
            .await,
    );
    assert!(empty.contains("empty"), "{empty}");
    let missing = refused(setup.ops.finish_action_item(&who, setup.incident, 4).await);
    assert!(missing.contains("has no action item 4"), "{missing}");
    // A review before resolution, and a meeting in the past.
    let early = refused(
        setup
            .ops
            .review(
                &who,
                setup.incident,
                ReviewRequest {
                    done: true,
                    ..ReviewRequest::default()
                },
            )
            .await,
    );
    assert!(early.contains("has no review yet"), "{early}");
    setup.ops.resolve(&who, setup.incident, None).await.unwrap();
    let resolved = setup
        .ops
        .store()
        .get_incident(setup.incident)
        .await
        .unwrap()
        .unwrap()
        .last_seq;
    assert_eq!(resolved, before + 1, "the refusals wrote nothing");
    let when = ReviewRequest {
        when: Some("2020-05-01T10:00:00Z".to_owned()),
        ..ReviewRequest::default()
    };
    let past = refused(setup.ops.review(&who, setup.incident, when).await);
    assert!(past.contains("is in the past"), "{past}");
    let owner = ReviewRequest {
        owner: Some("12ab".to_owned()),
        ..ReviewRequest::default()
    };
    assert!(
        refused(setup.ops.review(&who, setup.incident, owner).await)
            .contains("not a Discord user id")
    );
    // Done twice.
    setup
        .ops
        .add_action_item(&who, setup.incident, add("x", CAROL, "2d"))
        .await
        .unwrap();
    setup
        .ops
        .finish_action_item(&who, setup.incident, 1)
        .await
        .unwrap();
    let twice = refused(setup.ops.finish_action_item(&who, setup.incident, 1).await);
    assert!(twice.contains("already done"), "{twice}");
    let after = setup
        .ops
        .store()
        .get_incident(setup.incident)
        .await
        .unwrap()
        .unwrap()
        .last_seq;
    assert_eq!(after, resolved + 2);
    let review = setup
        .ops
        .show_review(&who, setup.incident)
        .await
        .unwrap()
        .unwrap();
    assert!(review.meeting_at.is_none() && review.owner.discord_user_id() == Some(CAROL));
}
