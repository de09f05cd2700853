//! The DM outbox against the real serenity client and the emulator, on both backends: a
//! direct message queued in the database (by any process) reaches its person once, however
//! often it was queued; one Discord refuses for good (DMs closed) is given up and recorded,
//! and does not hold back the next.

use warroom::domain::Timestamp;

use crate::on_both_backends;
use crate::support::discord::World;
use crate::support::{TestDb, WAIT, eventually};

on_both_backends!(
    a_queued_dm_arrives_once_however_often_it_was_queued,
    a_dm_discord_refuses_is_given_up_and_the_next_still_arrives,
);

async fn a_queued_dm_arrives_once_however_often_it_was_queued(db: TestDb) {
    let world = World::start(db).await;
    let bob = world.emu.add_member("bob", &[world.responders]);
    let store = world.app.store.clone();
    let now = Timestamp::from_millis(1_800_000_000_000);
    assert!(
        store
            .queue_dm("test:first", bob.get(), "first", now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .queue_dm("test:first", bob.get(), "first again", now)
            .await
            .unwrap(),
        "a second decision under one key is the same message"
    );
    let first = world.bot_dm(bob).await;
    assert_eq!(first.content, "first");
    assert!(
        store
            .queue_dm("test:second", bob.get(), "second", now)
            .await
            .unwrap()
    );
    eventually("the second DM arrives", WAIT, async || {
        let texts: Vec<String> = world
            .emu
            .dm_messages(bob)
            .into_iter()
            .map(|message| message.content)
            .collect();
        (texts.len() == 2).then_some(texts)
    })
    .await
    .iter()
    .zip(["first", "second"])
    .for_each(|(got, want)| assert_eq!(got, want, "each DM once, in order"));
    // Recorded sent (just after Discord took it).
    eventually("both DMs recorded sent", WAIT, async || {
        store.unsent_dms(10).await.unwrap().is_empty()
    })
    .await;
    world.stop().await;
}

async fn a_dm_discord_refuses_is_given_up_and_the_next_still_arrives(db: TestDb) {
    let world = World::start(db).await;
    let carol = world.emu.add_member("carol", &[world.responders]);
    let dave = world.emu.add_member("dave", &[world.responders]);
    world.emu.close_dms(carol);
    let store = world.app.store.clone();
    let now = Timestamp::from_millis(1_800_000_000_000);
    store
        .queue_dm("test:carol", carol.get(), "to carol", now)
        .await
        .unwrap();
    store
        .queue_dm("test:dave", dave.get(), "to dave", now)
        .await
        .unwrap();
    assert_eq!(world.bot_dm(dave).await.content, "to dave");
    eventually("carol's DM is given up", WAIT, async || {
        store.unsent_dms(10).await.unwrap().is_empty().then_some(())
    })
    .await;
    assert!(world.emu.dm_messages(carol).is_empty());
    assert_eq!(world.emu.dm_messages(dave).len(), 1);
    world.stop().await;
}
