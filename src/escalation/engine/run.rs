//! [`Engine::run`]: the engine inside `warroom run`, turn after turn. Each turn hands the
//! pages already claimed to the senders freed since the last turn, claims the outbox's ready
//! pages, fires up to one write's worth of the steps now due (one write, which also claims
//! their pages), hands those to senders and, once a second, audits; then it sleeps until the
//! next deadline, a commit (of this process, or of another through the store's change feed)
//! or a freed sender. Due steps are read several writes' worth at a time. Outcomes are not
//! written by the turn: each sender hands its outcome to a writer task, which records
//! whatever has gathered meanwhile in one transaction, so deliveries, steps and outcome
//! writes overlap; outcomes that queue up while the writer is busy go into the transaction
//! of the next steps the turn fires instead (one commit for both).
//!
//! A page stays *in flight*, holding one of `[escalation] max_in_flight` slots, from the
//! moment it is handed to a sender until its outcome is committed: a kill -9 can cut off at
//! most that many pages, and the writer's queue is bounded by the same slots (a full queue
//! makes senders wait; nothing is dropped).
//!
//! In a burst two things would otherwise cost a transaction each for nearly nothing: the
//! writer, woken by the first outcome of many pages handed out together, would record that
//! one alone (it waits up to [`GATHER`] for the others while deliveries are under way: the
//! page has already reached its receiver, so only the slot waits); and each turn would look
//! at the outbox for other ready pages (pages by hand, forwarded acknowledgements: while
//! steps wait to be fired it looks every [`CLAIM_EVERY_BUSY`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};

use super::{BACKSTOP, Claimed, Engine, Ready, STEPS_PER_WRITE};
use crate::domain::Timestamp;
use crate::ops::OnCall;
use crate::store::{Escalation, PageDone};

/// A delivered page's outcome on its way to the writer, with the slot it holds until the
/// outcome is committed.
type Outcome = (PageDone, OwnedSemaphorePermit);

/// The receiving end of the outcomes' queue, shared by the writer and the turn.
type Received = Arc<Mutex<mpsc::Receiver<Outcome>>>;

/// How often the stopped processes' claims are looked for and the audit runs.
const AUDIT_EVERY_MS: i64 = 1_000;

/// How long the audit waits at most while a turn has steps or pages waiting.
const AUDIT_DEFER_MS: i64 = 5_000;

/// How long the writer waits for more outcomes while pages are still being delivered.
const GATHER: Duration = Duration::from_millis(2);

/// While steps wait to be fired, how often the turn looks at the outbox for other ready
/// pages (each look is a write).
const CLAIM_EVERY_BUSY: Duration = Duration::from_millis(100);

/// What [`Engine::run`] keeps between turns.
struct Turn {
    engine: Arc<Engine>,
    /// One permit per page in flight (see the module's documentation).
    slots: Arc<Semaphore>,
    senders: JoinSet<()>,
    /// Deliveries under way (handed to a sender, outcome not yet queued for the writer).
    sending: Arc<AtomicUsize>,
    outcomes: mpsc::Sender<Outcome>,
    /// The writer's end of `outcomes`; the turn takes what waits there while the writer is
    /// busy, to record it with the steps it fires (see [`Turn::queued_outcomes`]).
    received: Received,
    writer: JoinHandle<()>,
    /// Pages claimed and not yet handed to a sender: about one write's worth at most, and
    /// not many more than the senders take at once.
    ready: Ready,
    /// Steps read as due and not yet fired: read [`super::BATCH`] at a time (one read, one
    /// look at who is on call, for several writes), fired [`STEPS_PER_WRITE`] per turn so
    /// that the first pages go out while later steps are still being written. A step fired
    /// or stopped meanwhile by someone else is left alone by the conditional write.
    due: VecDeque<Escalation>,
    on_call: OnCall,
    queue: usize,
    lease: Duration,
    last_audit: Option<Timestamp>,
    last_release: Option<Timestamp>,
    /// When the outbox was last looked at, in real time (unlike the two above, which follow
    /// the engine's clock): [`CLAIM_EVERY_BUSY`] paces the work, not the timeline.
    last_claim: Option<tokio::time::Instant>,
}

impl Engine {
    /// Runs turns until `shutdown` (see the module's documentation). At shutdown, deliveries
    /// in flight finish and their outcomes are written (their claims would otherwise resend
    /// them later); pages claimed but not started are handed back at once, for the next
    /// engine to send.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut commits = self.ops.commits();
        let mut feed = self.ops.store().change_feed();
        let mut turn = Turn::start(self.clone());
        'turns: loop {
            let failed = turn.work().await;
            let sleep = turn.pause(failed).await;
            if sleep.is_zero() {
                tokio::task::yield_now().await;
                continue;
            }
            // The next turn is at this instant at the latest, however many commits wake
            // the engine before it: the audit and the release of dead claims run in turns.
            let mut until = tokio::time::Instant::now() + sleep;
            loop {
                tokio::select! {
                    () = &mut shutdown => break 'turns,
                    () = tokio::time::sleep_until(until) => continue 'turns,
                    // The writer freed slots, or the Discord pager connected.
                    () = self.wake.notified() => continue 'turns,
                    // One look covers every commit meanwhile (many are this engine's own).
                    _ = commits.changed() => {}
                    _ = feed.changed() => {}
                }
                // Most commits (alerts recorded on an open incident, a timeline note) make
                // nothing due: one read of the next deadline tells, where a turn costs three.
                match turn.idle_for().await {
                    Some(idle) => until = until.min(tokio::time::Instant::now() + idle),
                    None => continue 'turns,
                }
            }
        }
        turn.finish().await;
    }
}

impl Turn {
    fn start(engine: Arc<Engine>) -> Turn {
        let config = engine.ops.config();
        let max_in_flight = usize::try_from(config.escalation.max_in_flight)
            .unwrap_or(64)
            .max(1);
        let lease = config.escalation.page_lease;
        let (outcomes, received) = mpsc::channel(max_in_flight);
        let received = Arc::new(Mutex::new(received));
        let sending = Arc::new(AtomicUsize::new(0));
        let writer = tokio::spawn(write_outcomes(
            engine.clone(),
            received.clone(),
            sending.clone(),
        ));
        Turn {
            engine,
            slots: Arc::new(Semaphore::new(max_in_flight)),
            senders: JoinSet::new(),
            sending,
            outcomes,
            received,
            writer,
            ready: Ready::new(),
            due: VecDeque::new(),
            on_call: OnCall::default(),
            queue: STEPS_PER_WRITE.min(2 * max_in_flight).max(1),
            lease,
            last_audit: None,
            last_release: None,
            last_claim: None,
        }
    }

    /// One turn's work; true when part of it failed (the database, most likely), so the
    /// loop waits before the next rather than spin.
    async fn work(&mut self) -> bool {
        let now = self.engine.now();
        self.reap_senders();
        self.release_dead_now_and_then(now).await;
        // Pages already claimed go to the slots freed since the last turn before anything is
        // written. Then few pages wait for a sender: first the outbox's ready pages (pages by
        // hand, acknowledgements to forward, pages of a stopped process), then new steps'
        // pages, so neither starves the other; and those go out as soon as they are written.
        let mut failed = !self.start_sending().await;
        failed |= !self.claim_ready(now).await;
        failed |= !self.fire_due(now).await;
        failed |= !self.start_sending().await;
        self.audit_now_and_then(now).await;
        failed
    }

    fn reap_senders(&mut self) {
        while let Some(done) = self.senders.try_join_next() {
            if let Err(panic) = done {
                tracing::error!(%panic, "a page sender panicked");
            }
        }
    }

    /// Tops `ready` up with pages of the outbox that are ready to send; while steps wait to
    /// be fired, at most every [`CLAIM_EVERY_BUSY`].
    async fn claim_ready(&mut self, now: Timestamp) -> bool {
        let wanted = self.queue.saturating_sub(self.ready.len());
        if wanted == 0 {
            return true;
        }
        let looked = tokio::time::Instant::now();
        if !self.due.is_empty()
            && self
                .last_claim
                .is_some_and(|last| looked.duration_since(last) < CLAIM_EVERY_BUSY)
        {
            return true;
        }
        self.last_claim = Some(looked);
        match self.engine.claim_up_to(now, wanted).await {
            Ok(pages) => {
                let lease_until = now.plus(self.lease);
                self.ready.extend(
                    pages
                        .into_iter()
                        .map(|page| Claimed::later(page, lease_until)),
                );
                true
            }
            Err(error) => {
                tracing::warn!(%error, "claiming pages failed; retrying");
                false
            }
        }
    }

    /// Fires up to [`STEPS_PER_WRITE`] of the steps due now, while `ready` has room; their
    /// pages join it. Reads the due steps when none are left from the last read.
    async fn fire_due(&mut self, now: Timestamp) -> bool {
        if self.ready.len() >= self.queue {
            return true;
        }
        if self.due.is_empty() && !self.read_due(now).await {
            return false;
        }
        let take = self.due.len().min(STEPS_PER_WRITE);
        if take == 0 {
            return true;
        }
        let chunk: Vec<Escalation> = self.due.drain(..take).collect();
        let (done, slots) = self.queued_outcomes();
        let fired = self
            .engine
            .fire_chunk(now, &chunk, done, &self.on_call, &mut self.ready)
            .await;
        // The outcomes are committed (or, on an error, left to their claims): their slots
        // are free for the pages just fired.
        drop(slots);
        match fired {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(%error, "firing due escalation steps failed; retrying");
                // Read again next time: the store, not this copy, says what is still due.
                self.due.clear();
                false
            }
        }
    }

    /// Outcomes queued for the writer while it writes another batch: recorded in the
    /// transaction of the steps about to fire rather than in one more of the writer's. None
    /// while the writer is waiting for outcomes (it takes them at once itself).
    fn queued_outcomes(&self) -> (Vec<PageDone>, Vec<OwnedSemaphorePermit>) {
        let mut queued = Vec::new();
        if let Ok(mut received) = self.received.try_lock() {
            while queued.len() < STEPS_PER_WRITE {
                let Ok(outcome) = received.try_recv() else {
                    break;
                };
                queued.push(outcome);
            }
        }
        queued.into_iter().unzip()
    }

    async fn read_due(&mut self, now: Timestamp) -> bool {
        match self.engine.read_due(now, super::BATCH).await {
            Ok(super::Due { steps, on_call }) => {
                self.due = steps.into();
                self.on_call = on_call;
                true
            }
            Err(error) => {
                tracing::warn!(%error, "reading due escalation steps failed; retrying");
                false
            }
        }
    }

    /// Hands ready pages to senders, one per free slot. Pages left waiting forget the
    /// incident their claim returned: when their turn comes it is read again, so an
    /// acknowledgement meanwhile is seen.
    async fn start_sending(&mut self) -> bool {
        let mut batch = Vec::new();
        let mut slots = Vec::new();
        while let Some(slot) = self.free_slot() {
            let Some(claimed) = self.ready.pop_front() else {
                break;
            };
            // A claim with less than half its lease left may run out while the page is in
            // flight, and another sender take it: leave it to whoever claims it next.
            let left = claimed.lease_until.as_millis() - self.engine.now().as_millis();
            if left < i64::try_from(self.lease.as_millis() / 2).unwrap_or(i64::MAX) {
                tracing::debug!(
                    page = claimed.page.id,
                    "claim too old to send; left to the next claim"
                );
                continue;
            }
            batch.push(claimed);
            slots.push(slot);
        }
        for claimed in &mut self.ready {
            claimed.incident = None;
        }
        if batch.is_empty() {
            return true;
        }
        let read = match self.engine.read_incidents(&batch).await {
            Ok(read) => read,
            Err(error) => {
                tracing::warn!(%error, "reading the incidents of pages to send failed; retrying");
                for mut claimed in batch.into_iter().rev() {
                    claimed.incident = None;
                    self.ready.push_front(claimed);
                }
                return false;
            }
        };
        let pages = match super::pair(batch, &read) {
            Ok(pages) => pages,
            Err(error) => {
                tracing::warn!(%error, "a page to send has no incident; it is left to its claim");
                return false;
            }
        };
        for ((page, incident), slot) in pages.into_iter().zip(slots) {
            let engine = self.engine.clone();
            let outcomes = self.outcomes.clone();
            let sending = Sending::start(&self.sending);
            self.senders
                .spawn(send_one(engine, page, incident, (slot, sending), outcomes));
        }
        true
    }

    fn free_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// First thing, then once a second: ends the claims of stopped processes on this host,
    /// so their pages are claimed again in this very turn.
    async fn release_dead_now_and_then(&mut self, now: Timestamp) {
        if self
            .last_release
            .is_some_and(|last| now.as_millis() - last.as_millis() < AUDIT_EVERY_MS)
        {
            return;
        }
        self.last_release = Some(now);
        if let Err(error) = self.engine.release_dead_claims(now).await {
            tracing::warn!(%error, "reading the claims of stopped processes failed");
        }
    }

    /// Once a second: audits; while steps or claimed pages wait, not before
    /// [`AUDIT_DEFER_MS`] (the audit reads; a burst's turns have better things to do).
    async fn audit_now_and_then(&mut self, now: Timestamp) {
        let busy = !self.due.is_empty() || !self.ready.is_empty();
        let every = if busy { AUDIT_DEFER_MS } else { AUDIT_EVERY_MS };
        if self
            .last_audit
            .is_some_and(|last| now.as_millis() - last.as_millis() < every)
        {
            return;
        }
        self.last_audit = Some(now);
        if let Err(error) = self.engine.audit(now).await {
            tracing::warn!(%error, "the escalation audit failed; retrying");
        }
    }

    /// After a commit woke the engine between turns: how long it may stay idle, or `None`
    /// when a turn is due now (something is due, or waiting, or the read failed).
    async fn idle_for(&self) -> Option<Duration> {
        if !self.ready.is_empty() || !self.due.is_empty() {
            return None;
        }
        let now = self.engine.now();
        match self.engine.ops.store().next_deadline().await {
            Ok(Some(due)) if due > now => Some(sleep_until(due, now)),
            Ok(Some(_)) | Err(_) => None,
            Ok(None) => Some(BACKSTOP),
        }
    }

    /// How long to sleep before the next turn (a commit or a freed slot wakes it sooner).
    async fn pause(&self, failed: bool) -> Duration {
        if failed || self.slots.available_permits() == 0 {
            // While every slot is taken, more pages wait for the writer to free one.
            return BACKSTOP;
        }
        if !self.due.is_empty() && self.ready.len() < self.queue {
            // Steps read as due wait to be fired: no need to ask the store.
            return Duration::ZERO;
        }
        let now = self.engine.now();
        match self.engine.ops.store().next_deadline().await {
            Ok(Some(due)) => sleep_until(due, now),
            Ok(None) => BACKSTOP,
            Err(error) => {
                tracing::warn!(%error, "reading the next escalation deadline failed");
                BACKSTOP
            }
        }
    }

    async fn finish(mut self) {
        while let Some(done) = self.senders.join_next().await {
            if let Err(panic) = done {
                tracing::error!(%panic, "a page sender panicked");
            }
        }
        // The senders are done: closing the queue lets the writer record the rest and stop.
        drop(self.outcomes);
        if let Err(panic) = self.writer.await {
            tracing::error!(%panic, "the writer of page outcomes panicked");
        }
        if !self.ready.is_empty()
            && let Err(error) = self
                .engine
                .ops
                .store()
                .release_claims(&self.engine.instance, self.engine.now())
                .await
        {
            tracing::warn!(%error, "handing back claimed pages at shutdown failed; they are sent when their claims run out");
        }
    }
}

/// How long to sleep from `now` until `due` (none if it is past), at most [`BACKSTOP`].
fn sleep_until(due: Timestamp, now: Timestamp) -> Duration {
    Duration::from_millis(u64::try_from(due.as_millis() - now.as_millis()).unwrap_or(0))
        .min(BACKSTOP)
}

/// One delivery under way, counted in [`Turn::sending`] until dropped.
struct Sending(Arc<AtomicUsize>);

impl Sending {
    fn start(count: &Arc<AtomicUsize>) -> Sending {
        count.fetch_add(1, Ordering::AcqRel);
        Sending(count.clone())
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Delivers one page and hands its outcome, with its slot, to the writer; the delivery
/// counts as under way until its outcome is queued.
async fn send_one(
    engine: Arc<Engine>,
    page: crate::store::Page,
    incident: crate::domain::Incident,
    (slot, _sending): (OwnedSemaphorePermit, Sending),
    outcomes: mpsc::Sender<Outcome>,
) {
    match engine.send(page, incident).await {
        // The queue has room for every slot, so this waits only if the writer is gone.
        Ok(done) => {
            if outcomes.send((done, slot)).await.is_err() {
                tracing::warn!(
                    "the writer of page outcomes stopped; the page is sent again when its claim runs out"
                );
            }
        }
        Err(error) => {
            tracing::warn!(%error, "a page could not be sent; it is tried again when its claim runs out");
        }
    }
}

/// The writer: records the outcomes gathered while the previous write ran (and, while
/// deliveries are under way, for up to [`GATHER`] more), up to [`STEPS_PER_WRITE`] per
/// transaction, then frees their slots and wakes the turn loop. Stops when every sender and
/// the turn loop have dropped their ends of the queue.
async fn write_outcomes(engine: Arc<Engine>, received: Received, sending: Arc<AtomicUsize>) {
    let mut batch = Vec::with_capacity(STEPS_PER_WRITE);
    loop {
        // The lock is held only while waiting: while this writes, the turn may take what
        // queues meanwhile.
        {
            let mut queue = received.lock().await;
            if queue.recv_many(&mut batch, STEPS_PER_WRITE).await == 0 {
                break;
            }
            gather(&mut queue, &mut batch, &sending).await;
        }
        let (done, slots): (Vec<PageDone>, Vec<OwnedSemaphorePermit>) = batch.drain(..).unzip();
        if let Err(error) = engine.record(done).await {
            tracing::warn!(%error, "recording pages' outcomes failed; they are sent again when their claims run out");
        }
        drop(slots);
        engine.wake();
    }
}

/// Adds to `batch` the outcomes of deliveries under way that arrive within [`GATHER`].
async fn gather(
    queue: &mut mpsc::Receiver<Outcome>,
    batch: &mut Vec<Outcome>,
    sending: &AtomicUsize,
) {
    let until = tokio::time::Instant::now() + GATHER;
    while batch.len() < STEPS_PER_WRITE && sending.load(Ordering::Acquire) > 0 {
        let room = STEPS_PER_WRITE - batch.len();
        match tokio::time::timeout_at(until, queue.recv_many(batch, room)).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
