//! The durable timer engine (SPEC §1 "Deadline and reminder"): every process runs one; each
//! claims the timers that are due (a claim with a lease, so one fires each timer once even
//! when several run, and a process that dies mid-fire hands it on when its claim runs out),
//! hands each to the handler of its kind, and records it fired or re-armed. Overdue timers
//! fire at once after a restart.
//!
//! Handlers do database work through `ops` and must be idempotent for one timer firing (key
//! the events they append by the timer's subject and due time): the one way a timer fires
//! twice is a process dying after its handler's write and before the timer is recorded.
//! Whatever must then happen outside the database (a line in Discord, a DM) is found there
//! by whoever holds that duty — the projector, the DM outbox.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Ops, OpsError};
use crate::domain::{Timer, Timestamp};

/// How long a claimed timer is held: far longer than any handler's database work, short
/// enough that a timer whose process died fires within it.
pub const TIMER_CLAIM: Duration = Duration::from_secs(30);

/// After a handler failed (the database, say), when the timer is tried again.
pub const TIMER_RETRY: Duration = Duration::from_secs(5);

/// The longest the engine sleeps without looking: commits of this process and the store's
/// change feed wake it sooner; this bounds the wait should a wake-up be missed.
pub const TIMER_BACKSTOP: Duration = Duration::from_secs(1);

/// Timers claimed per look.
const BATCH: u32 = 100;

/// The handlers of every timer kind warroom sets, for `warroom run`'s engine. Each feature
/// that sets timers (deadlines, reminders, heartbeats, schedules) adds its handler here.
pub fn handlers() -> Vec<Arc<dyn TimerHandler>> {
    let mut handlers: Vec<Arc<dyn TimerHandler>> = vec![
        Arc::new(super::archive::ArchiveHandler),
        Arc::new(super::heartbeats::HeartbeatTimer),
        Arc::new(super::oncall::HandoffTimer),
    ];
    handlers.extend(super::deadlines::handlers());
    handlers.extend(super::schedules::handlers());
    handlers.extend([
        Arc::new(super::followup::ReviewDue) as Arc<dyn TimerHandler>,
        Arc::new(super::followup::ActionItemDue),
        Arc::new(super::status::StatusUpdateSender),
    ]);
    handlers
}

/// What a fired timer asks for next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fired {
    /// Done for good.
    Done,
    /// Fire again at this time (a recurring reminder, the next slot of a schedule).
    Again(Timestamp),
}

/// What happens when timers of one kind come due.
#[async_trait]
pub trait TimerHandler: Send + Sync {
    /// The timer kind it handles, e.g. `ack_deadline`.
    fn kind(&self) -> &'static str;

    /// Does what the timer is for; `now` is the engine's clock.
    async fn fire(&self, ops: &Ops, timer: &Timer, now: Timestamp) -> Result<Fired, OpsError>;
}

/// The engine of one process.
#[derive(Clone)]
pub struct Timers {
    ops: Ops,
    handlers: Arc<BTreeMap<&'static str, Arc<dyn TimerHandler>>>,
    /// This process, as its claims name it.
    instance: Arc<str>,
}

impl std::fmt::Debug for Timers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timers")
            .field("kinds", &self.handlers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Timers {
    pub fn new(ops: Ops, handlers: Vec<Arc<dyn TimerHandler>>) -> Timers {
        let instance = super::instance::new_instance(ops.clock().now()).into();
        let handlers = handlers
            .into_iter()
            .map(|handler| (handler.kind(), handler))
            .collect();
        Timers {
            ops,
            handlers: Arc::new(handlers),
            instance,
        }
    }

    /// Fires every timer due at `now` (one batch after another): how many fired.
    pub async fn tick(&self, now: Timestamp) -> Result<usize, OpsError> {
        let mut fired = 0;
        loop {
            let due = self
                .ops
                .store()
                .claim_due_timers(now, now.plus(TIMER_CLAIM), &self.instance, BATCH)
                .await?;
            let full = due.len() == BATCH as usize;
            for timer in due {
                if self.fire(&timer, now).await {
                    fired += 1;
                }
            }
            if !full {
                return Ok(fired);
            }
        }
    }

    /// Fires one claimed timer; true when it was recorded fired or re-armed.
    async fn fire(&self, timer: &Timer, now: Timestamp) -> bool {
        let store = self.ops.store();
        let Some(handler) = self.handlers.get(timer.kind.as_str()) else {
            tracing::warn!(kind = %timer.kind, subject = %timer.subject, "a timer of a kind nothing handles (any more); it is dropped");
            return store
                .finish_timer(timer.id, &self.instance, now, None)
                .await
                .unwrap_or(false);
        };
        match handler.fire(&self.ops, timer, now).await {
            Ok(fired) => {
                let next = match fired {
                    Fired::Done => None,
                    // Never in the past: a handler asking for a time already gone gets now.
                    Fired::Again(at) => Some(if at < now { now } else { at }),
                };
                match store
                    .finish_timer(timer.id, &self.instance, now, next)
                    .await
                {
                    Ok(true) => {
                        self.ops.announce_run();
                        true
                    }
                    Ok(false) => {
                        tracing::warn!(kind = %timer.kind, subject = %timer.subject, "a timer's claim ran out while it fired; whoever holds it now records it");
                        false
                    }
                    Err(error) => {
                        tracing::warn!(%error, kind = %timer.kind, subject = %timer.subject, "recording a fired timer failed; it fires again when its claim runs out");
                        false
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, kind = %timer.kind, subject = %timer.subject, "a timer's handler failed; trying again shortly");
                let _ = store
                    .retry_timer(timer.id, &self.instance, now.plus(TIMER_RETRY))
                    .await;
                false
            }
        }
    }

    /// Fires timers as they come due until `shutdown` completes. Between them it only reads
    /// when the next one is due (a write, the claim, only once one is), so the commits that
    /// wake it cost one read each.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let mut commits = self.ops.commits();
        let mut feed = self.ops.store().change_feed();
        loop {
            let now = self.ops.clock().now();
            let sleep = match self.ops.store().next_timer_due().await {
                Ok(Some(due)) if due <= now => {
                    if let Err(error) = self.tick(now).await {
                        tracing::warn!(%error, "firing due timers failed; trying again shortly");
                        TIMER_BACKSTOP
                    } else {
                        continue;
                    }
                }
                Ok(Some(due)) => Duration::from_millis(
                    u64::try_from(due.as_millis() - now.as_millis()).unwrap_or(0),
                )
                .min(TIMER_BACKSTOP),
                Ok(None) => TIMER_BACKSTOP,
                Err(error) => {
                    tracing::debug!(%error, "cannot read when the next timer is due; looking again shortly");
                    TIMER_BACKSTOP
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(sleep) => {}
                _ = commits.changed() => {}
                _ = feed.changed() => {}
            }
        }
    }
}
