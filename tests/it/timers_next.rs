//! When the next timer is due, which the timer engine asks after every commit: the earliest
//! pending timer that nobody holds, or the earliest claim on a held one running out,
//! whichever comes first; on both backends.

use serde_json::json;
use warroom::domain::{TimerOp, Timestamp};
use warroom::ops::timers::TIMER_CLAIM;

use crate::on_both_backends;
use crate::support::TestDb;

on_both_backends!(the_next_timer_due_is_the_earliest_free_timer_or_claim_running_out);

const START: Timestamp = Timestamp::from_millis(1_800_000_000_000);

async fn the_next_timer_due_is_the_earliest_free_timer_or_claim_running_out(db: TestDb) {
    let store = db.store().await;
    assert_eq!(store.next_timer_due().await.unwrap(), None);
    let half = TIMER_CLAIM / 2;
    store
        .apply_timers(vec![
            TimerOp::set("test_next", "a", START, json!({})),
            TimerOp::set("test_next", "b", START.plus(half), json!({})),
            TimerOp::set("test_next", "c", START.plus(10 * TIMER_CLAIM), json!({})),
        ])
        .await
        .unwrap();
    assert_eq!(store.next_timer_due().await.unwrap(), Some(START));
    // Held: `a` is next claimable when its claim runs out, after `b` is due.
    let claimed = store
        .claim_due_timers(START, START.plus(TIMER_CLAIM), "host/1/0/0", 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        store.next_timer_due().await.unwrap(),
        Some(START.plus(half))
    );
    // Both held: the first claim to run out (a's) comes before `c`.
    let at = START.plus(half);
    let claimed = store
        .claim_due_timers(at, at.plus(TIMER_CLAIM), "host/1/0/0", 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        store.next_timer_due().await.unwrap(),
        Some(START.plus(TIMER_CLAIM))
    );
}
