//! Scheduled drills and checks in Discord, against the real serenity client and the emulator
//! on both backends: a drill with `announce_ahead` gets its Scheduled Event exactly that long
//! before (created by the gateway holder from the database), and opens its drill incident at
//! its time; `/checks` lists the checks only to the asker.

use std::sync::Arc;
use std::time::Duration;

use chrono::{Timelike, Utc};
use chrono_tz::Tz;
use warroom::domain::{Clock, ManualClock, SystemClock, Timestamp};
use warroom::store::IncidentFilter;

use crate::on_both_backends;
use crate::support::discord::{Converse, Options, WAIT, World};
use crate::support::{TestDb, eventually};

on_both_backends!(a_drill_is_announced_ahead_as_a_scheduled_event_and_opens_at_its_time);

async fn a_drill_is_announced_ahead_as_a_scheduled_event_and_opens_at_its_time(db: TestDb) {
    // The Scheduled Event must start in the emulator's (real) future: a slot hours ahead, as
    // 10:00-like local time in Berlin, written as the cron the drill uses.
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    let slot_local = (Utc::now() + chrono::Duration::hours(5)).with_timezone(&berlin);
    let cron = format!("{} {} * * *", slot_local.minute(), slot_local.hour());
    let slot = Timestamp::from_datetime(
        slot_local
            .with_second(0)
            .unwrap()
            .with_nanosecond(0)
            .unwrap()
            .with_timezone(&Utc),
    );
    let clock = Arc::new(ManualClock::new(slot.minus(Duration::from_secs(2 * 3600))));
    assert!(SystemClock.now() < slot.minus(Duration::from_secs(3600)));
    let options = Options {
        clock: Some(clock.clone()),
        extra_toml: format!(
            "[drills.failover]\ncron = \"{cron}\"\ntimezone = \"Europe/Berlin\"\ntitle = \"Failover drill\"\nseverity = \"SEV2\"\nannounce_ahead = \"1h\"\n\n[checks.disk]\ncommand = \"disk-usage\"\nevery = \"10m\"\n"
        ),
        catalog: Some(crate::support::repo_root().join("commands")),
        ..Default::default()
    };
    let world = World::start_with(db, options).await;
    let store = world.app.store.clone();
    let announce = eventually("the announcement is armed", WAIT, async || {
        store
            .pending_timer("drill_announce", "failover")
            .await
            .unwrap()
    })
    .await;
    assert_eq!(announce.due_at, slot.minus(Duration::from_secs(3600)));
    assert!(
        world.emu.scheduled_events().is_empty(),
        "not before its time"
    );

    clock.set(slot.minus(Duration::from_secs(3600)));
    let event = eventually("the Scheduled Event is created", WAIT, async || {
        world.emu.scheduled_events().into_iter().next()
    })
    .await;
    assert_eq!(event.name, "DRILL: Failover drill");
    assert_eq!(Timestamp::from_datetime(event.start), slot);
    assert!(
        event
            .description
            .unwrap_or_default()
            .contains("DRILL failover")
    );

    clock.set(slot);
    let drill = eventually("the drill incident opens", WAIT, async || {
        store
            .list_incidents(&IncidentFilter::default())
            .await
            .unwrap()
            .into_iter()
            .next()
    })
    .await;
    assert!(drill.drill);
    assert_eq!(drill.title, "Failover drill");
    assert_eq!(drill.opened_at, slot);
    assert_eq!(world.emu.scheduled_events().len(), 1, "one event per slot");

    let rita = world.emu.member("rita", &[world.responders]);
    let listed = rita
        .runs(world.general, "/checks")
        .await
        .replied_privately("Scheduled checks");
    assert!(listed.text().contains("`disk`"), "{}", listed.text());
    assert!(listed.text().contains("every 10m"), "{}", listed.text());
    world.stop().await;
}
