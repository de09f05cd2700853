//! The shared-duty storage on both backends: leases taken once and handed over only when they
//! lapse or are released, claims made once however many ask at once, the projection cursor,
//! and the change feed that wakes another process's store when this one commits.

use std::sync::Arc;
use std::time::Duration;

use warroom::domain::{Source, Timestamp};
use warroom::ops::OpenRequest;
use warroom::store::Store;

use crate::on_both_backends;
use crate::support::{TestDb, operator};

on_both_backends!(
    a_lease_has_one_holder_until_it_lapses_or_is_released,
    twenty_processes_claiming_at_once_make_one_claim,
    the_projection_cursor_finds_what_was_not_shown_and_only_moves_forward,
    a_commit_through_one_store_moves_the_feed_of_another,
);

const GATEWAY: &str = "discord-gateway";

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_millis(1_800_000_000_000 + seconds * 1_000)
}

async fn a_lease_has_one_holder_until_it_lapses_or_is_released(db: TestDb) {
    let store = db.store().await;
    assert_eq!(store.lease(GATEWAY).await.unwrap(), None);
    assert!(store.hold_lease(GATEWAY, "a", at(0), at(10)).await.unwrap());
    // Held: another process is refused, the holder renews.
    assert!(!store.hold_lease(GATEWAY, "b", at(5), at(15)).await.unwrap());
    assert!(store.hold_lease(GATEWAY, "a", at(5), at(15)).await.unwrap());
    // Not a millisecond early: at 14.999 s the renewed lease still holds.
    assert!(
        !store
            .hold_lease(
                GATEWAY,
                "b",
                Timestamp::from_millis(at(15).as_millis() - 1),
                at(25)
            )
            .await
            .unwrap()
    );
    let held = store.lease(GATEWAY).await.unwrap().unwrap();
    assert_eq!((held.holder.as_str(), held.until), ("a", at(15)));
    // Lapsed: the next one takes it, and the old holder can no longer renew.
    assert!(
        store
            .hold_lease(GATEWAY, "b", at(15), at(25))
            .await
            .unwrap()
    );
    assert!(
        !store
            .hold_lease(GATEWAY, "a", at(16), at(26))
            .await
            .unwrap()
    );
    // Released by someone else: nothing happens; by its holder: free at once.
    store.release_lease(GATEWAY, "a").await.unwrap();
    assert!(
        !store
            .hold_lease(GATEWAY, "c", at(17), at(27))
            .await
            .unwrap()
    );
    store.release_lease(GATEWAY, "b").await.unwrap();
    assert!(
        store
            .hold_lease(GATEWAY, "c", at(17), at(27))
            .await
            .unwrap()
    );
    // Leases are per name.
    assert!(
        store
            .hold_lease("other", "a", at(17), at(27))
            .await
            .unwrap()
    );
}

async fn twenty_processes_claiming_at_once_make_one_claim(db: TestDb) {
    // Separate stores (separate pools), as separate processes would have.
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(db.store().await);
    }
    let attempts: Vec<_> = (0..20)
        .map(|n| {
            let store = stores[n % stores.len()].clone();
            tokio::spawn(async move {
                store
                    .claim("interaction:42", &format!("process-{n}"), at(0))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for attempt in attempts {
        if attempt.await.unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    assert!(stores[0].claim("interaction:43", "a", at(1)).await.unwrap());
    // Old claims are forgotten, newer ones kept.
    assert_eq!(stores[0].forget_claims(at(1)).await.unwrap(), 1);
    assert!(!stores[1].claim("interaction:43", "b", at(2)).await.unwrap());
    assert!(stores[1].claim("interaction:42", "b", at(2)).await.unwrap());
}

async fn the_projection_cursor_finds_what_was_not_shown_and_only_moves_forward(db: TestDb) {
    let ops = db.ops().await;
    let store = ops.store().clone();
    let alice = operator("alice");
    let request = |title: &str| OpenRequest {
        title: title.to_owned(),
        severity: "SEV3".to_owned(),
        ..OpenRequest::default()
    };
    let first = ops
        .open(&alice, Source::Cli, request("first"))
        .await
        .unwrap()
        .incident
        .id;
    let second = ops
        .open(&alice, Source::Cli, request("second"))
        .await
        .unwrap()
        .incident
        .id;
    let unshown = store.unshown(10).await.unwrap();
    assert_eq!(
        unshown
            .iter()
            .map(|u| (u.incident, u.shown_seq))
            .collect::<Vec<_>>(),
        vec![(first, 0), (second, 0)]
    );
    let opened_seq = unshown[0].last_seq;
    store.mark_shown(first, opened_seq).await.unwrap();
    assert_eq!(
        store
            .unshown(10)
            .await
            .unwrap()
            .iter()
            .map(|u| u.incident)
            .collect::<Vec<_>>(),
        vec![second]
    );
    // A new event makes it unshown again, from where it was shown.
    ops.add_note(&alice, first, "still down").await.unwrap();
    let again = store.unshown(1).await.unwrap();
    assert_eq!(again.len(), 1, "the limit holds");
    assert_eq!((again[0].incident, again[0].shown_seq), (first, opened_seq));
    assert_eq!(again[0].last_seq, opened_seq + 1);
    // Never backwards.
    store.mark_shown(first, opened_seq + 1).await.unwrap();
    store.mark_shown(first, 1).await.unwrap();
    assert!(
        store
            .unshown(10)
            .await
            .unwrap()
            .iter()
            .all(|u| u.incident != first)
    );
}

async fn a_commit_through_one_store_moves_the_feed_of_another(db: TestDb) {
    let writer = db.ops().await;
    let watcher: Arc<dyn Store> = db.store().await;
    let mut feed = watcher.change_feed();
    // The feed moves once when its watch starts (its first poll, or LISTEN in place): after
    // that, every commit is seen.
    tokio::time::timeout(Duration::from_secs(30), feed.changed())
        .await
        .expect("the feed started")
        .unwrap();
    feed.borrow_and_update();
    writer
        .open(
            &operator("alice"),
            Source::Cli,
            OpenRequest {
                title: "wake the other process".to_owned(),
                severity: "SEV3".to_owned(),
                ..OpenRequest::default()
            },
        )
        .await
        .unwrap();
    // A bound only so a broken feed fails instead of hanging; the figure is in BENCHMARKS.md.
    tokio::time::timeout(Duration::from_secs(30), feed.changed())
        .await
        .expect("the other store's feed moved after the commit")
        .unwrap();
}
