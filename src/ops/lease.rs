//! Holding a singleton duty (SPEC §1 "Lease"): one process of those sharing a database holds
//! it (the Discord gateway), renews it while alive, and gives it up on shutdown; the others
//! stand by and take it when it lapses, or at once when its holder is a stopped process of
//! this host.
//!
//! The lease is a row in the database (`DutyStore::hold_lease`), never a belief of one
//! process. A holder that cannot reach the database keeps its duty meanwhile — the others most
//! likely cannot reach it either, and a gateway kept connected can at least tell people the
//! database is down — and stands down the moment it can see that another process took the
//! lease. Whatever two holders might do at once is claimed in the database anyway (an
//! interaction, a room, a message), so it happens once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::instance::is_dead_here;
use crate::domain::{Clock, Timestamp};
use crate::store::Store;

/// How a lease is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTimes {
    /// How long one renewal holds it: after a holder dies, the longest a standby waits.
    pub ttl: Duration,
    /// How often the holder renews and a standby looks. A quarter of the TTL lets three
    /// renewals fail (a slow database) before the lease is lost.
    pub every: Duration,
}

impl LeaseTimes {
    pub fn from_ttl(ttl: Duration) -> LeaseTimes {
        LeaseTimes {
            ttl,
            every: (ttl / 4).max(Duration::from_millis(50)),
        }
    }
}

/// Whether this process holds the lease, as the holder loop last found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Held {
    /// This process holds it.
    Here,
    /// Another process holds it (its name), or nobody does yet (`None`).
    Elsewhere(Option<String>),
}

/// Holds `name` for `holder` as long as it can until `stop` resolves, then releases it.
/// Reports every change of who holds it through the returned receiver.
pub fn hold(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    name: &'static str,
    holder: String,
    times: LeaseTimes,
    stop: watch::Receiver<bool>,
) -> (watch::Receiver<Held>, tokio::task::JoinHandle<()>) {
    let (report, held) = watch::channel(Held::Elsewhere(None));
    let task = tokio::spawn(run(store, clock, name, holder, times, stop, report));
    (held, task)
}

async fn run(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    name: &'static str,
    holder: String,
    times: LeaseTimes,
    mut stop: watch::Receiver<bool>,
    report: watch::Sender<Held>,
) {
    // Until when this process last renewed the lease.
    let mut held_until: Option<Timestamp> = None;
    let mut ticks = tokio::time::interval(times.every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
        let now = clock.now();
        match try_hold(&*store, name, &holder, now, times.ttl).await {
            Ok(true) => {
                held_until = Some(now.plus(times.ttl));
                report.send_if_modified(|held| replace(held, Held::Here));
            }
            Ok(false) => {
                held_until = None;
                let other = store
                    .lease(name)
                    .await
                    .ok()
                    .flatten()
                    .map(|lease| lease.holder);
                report.send_if_modified(|held| replace(held, Held::Elsewhere(other)));
            }
            Err(error) => {
                // Held or not, the answer waits for the database; nothing changes meanwhile.
                tracing::warn!(%error, lease = name, "cannot reach the database to renew the lease");
            }
        }
    }
    if held_until.is_some() || *report.borrow() == Held::Here {
        report.send_replace(Held::Elsewhere(None));
        if let Err(error) = store.release_lease(name, &holder).await {
            tracing::warn!(%error, lease = name, "releasing the lease failed; it lapses on its own");
        } else {
            tracing::info!(lease = name, "lease released");
        }
    }
}

/// One attempt: renew or take the lease; a holder that is a stopped process of this host is
/// not waited for.
async fn try_hold(
    store: &dyn Store,
    name: &str,
    holder: &str,
    now: Timestamp,
    ttl: Duration,
) -> Result<bool, crate::store::StoreError> {
    if store.hold_lease(name, holder, now, now.plus(ttl)).await? {
        return Ok(true);
    }
    match store.lease(name).await? {
        Some(current) if current.until > now && is_dead_here(&current.holder, holder) => {
            tracing::info!(lease = name, dead = %current.holder, "the lease holder has stopped; taking over");
            store.release_lease(name, &current.holder).await?;
            store.hold_lease(name, holder, now, now.plus(ttl)).await
        }
        _ => Ok(false),
    }
}

fn replace(held: &mut Held, new: Held) -> bool {
    if *held == new {
        false
    } else {
        *held = new;
        true
    }
}
