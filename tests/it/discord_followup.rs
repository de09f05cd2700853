//! The post-incident review and action items through the emulator with the real serenity
//! client: `/incident review when:` creates a Discord Scheduled Event (external, named for the
//! incident, linking its channel) at the stored meeting time, a new `when` moves it, `done`
//! completes it; `/incident action add|done|list` track follow-ups; bad input is refused.

use discord_emulator::ScheduledEventStatus;
use warroom::domain::IncidentId;

use crate::on_both_backends;
use crate::support::TestDb;
use crate::support::discord::{Converse, WAIT, World};

on_both_backends!(a_review_meeting_is_a_scheduled_event_kept_in_step,);

async fn a_review_meeting_is_a_scheduled_event_kept_in_step(db: TestDb) {
    let world = World::start(db).await;
    let emu = &world.emu;
    let alice = emu.member("alice", &[world.responders]);
    let carol = emu.member("carol", &[world.commanders]);
    alice
        .runs(
            world.general,
            r#"/incident open title:"Payments lag" severity:SEV3"#,
        )
        .await
        .says("Opened **INC-1**");
    let channel = world.channel("inc-1-payments-lag").await;
    let here = channel.id;
    let id = IncidentId(1);

    // Before resolution there is no review to schedule.
    carol
        .runs(here, "/incident review when:2d")
        .await
        .replied("has no review yet");
    carol
        .runs(here, "/incident resolve")
        .await
        .replied("resolved");
    // Only an incident commander schedules it.
    alice
        .runs(here, "/incident review when:2d")
        .await
        .replied("`incident_commander` role");
    carol
        .runs(here, "/incident review when:\"2020-01-01 10:00\"")
        .await
        .replied("is in the past");
    assert!(emu.scheduled_events().is_empty());

    carol
        .runs(here, "/incident review when:2d")
        .await
        .replied("Review of INC-1: open");
    let meeting = world
        .store
        .review(id)
        .await
        .unwrap()
        .unwrap()
        .meeting_at
        .unwrap();
    let event = emu
        .wait_for_scheduled_event(|event| event.name.contains("INC-1"), WAIT)
        .await
        .expect("a scheduled event for the review");
    assert_eq!(event.name, "Review INC-1: Payments lag");
    assert_eq!(event.entity_type, 3, "an external event");
    assert_eq!(event.start.timestamp(), meeting.as_unix_seconds());
    assert!(
        event
            .location
            .as_deref()
            .unwrap_or_default()
            .ends_with(&here.get().to_string()),
        "the location links the incident channel: {:?}",
        event.location
    );
    assert!(
        event
            .description
            .unwrap_or_default()
            .contains(&format!("<#{}>", here.get()))
    );

    // A new time moves the same event.
    carol
        .runs(here, "/incident review when:3d")
        .await
        .replied("Review of INC-1");
    let moved = world
        .store
        .review(id)
        .await
        .unwrap()
        .unwrap()
        .meeting_at
        .unwrap();
    assert!(moved > meeting);
    let event = emu
        .wait_for_scheduled_event(
            |seen| seen.id == event.id && seen.start.timestamp() == moved.as_unix_seconds(),
            WAIT,
        )
        .await
        .expect("the event moved to the new time");
    assert_eq!(emu.scheduled_events().len(), 1, "moved, not made again");

    // Action items along the way.
    let add = format!(
        "/incident action add text:\"Alert on payment latency\" owner:{} due:7d",
        alice.mention()
    );
    carol
        .runs(here, &add)
        .await
        .replied("action item added: #1");
    carol
        .runs(here, "/incident action done id:4")
        .await
        .replied("has no action item 4");
    let bad_due = format!(
        "/incident action add text:x owner:{} due:someday",
        alice.mention()
    );
    carol.runs(here, &bad_due).await.replied("is not a time");
    carol
        .runs(here, "/incident action done id:1")
        .await
        .replied("action item done: #1");
    carol
        .runs(here, "/incident action list")
        .await
        .replied_privately("Alert on payment latency");

    // Done completes the event.
    carol
        .runs(here, "/incident review done:True")
        .await
        .replied("Review of INC-1: done");
    emu.wait_for_scheduled_event(
        |seen| seen.id == event.id && seen.status == ScheduledEventStatus::Completed,
        WAIT,
    )
    .await
    .expect("the event completed");
    world.stop().await;
}
