//! The durable escalation engine inside `warroom run`.
//!
//! State lives in the store, never only in memory: each incident's escalation row says which
//! step fires next and when, and the `pages` outbox holds every page. One pass
//! ([`Engine::tick`]) fires the steps that are due (each with a conditional update, so two
//! engines never fire one step; a step's pages enter the outbox claimed by the engine that
//! fired it), claims the other pages that are ready (each claim conditional too), sends them
//! and records the outcome, and audits that every open, unacknowledged incident still has
//! something due. [`Engine::run`] repeats passes, sleeping until the next deadline the store
//! reports or until a change wakes it.
//!
//! A page is claimed for `[escalation] page_lease`; if the process dies before recording the
//! outcome, the page goes out again when the claim runs out (at once when the dead process
//! ran on this host), under the same dedup key (so a receiver that deduplicates, as
//! PagerDuty and Opsgenie do, sees one page). That resend is the only way a page can reach a
//! receiver twice, so a kill repeats at most `max_in_flight` pages. A trigger whose incident
//! was acknowledged after it was written is not sent at all.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::json;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::{Policy, Recipient, Target, dedup_key};
use crate::domain::{Actor, EventKind, Incident, NewEvent, Status, Timestamp};
use crate::notify::{Delivery, Notifier, NotifierKind, PageMessage, Priority};
use crate::ops::Ops;
use crate::store::{
    Escalation, FireStep, Fired, NewPage, Page, PageAction, PageClaim, PageDone, PageRecipient,
    PageState, StoreError,
};

/// How many due steps or ready pages one query takes.
const BATCH: u32 = 500;

/// Steps fired, or page outcomes recorded, per transaction: one commit (one fsync on
/// SQLite) for many, while keeping each transaction short.
const STEPS_PER_WRITE: usize = 100;

/// Pages this engine claimed and has not yet handed to a sender, each with the moment its
/// claim runs out.
type Ready = VecDeque<(Page, Timestamp)>;

/// The longest the engine sleeps without looking at the store. Commits of this process wake
/// it at once, those of other processes (a second engine, the CLI) through the store's change
/// feed; this bounds the wait should a wake-up be missed.
pub const BACKSTOP: Duration = Duration::from_secs(1);

/// Where pages go: the configured notifiers, and the Discord pager once the bot is connected.
#[derive(Default)]
pub struct Pagers {
    notifiers: BTreeMap<String, Arc<dyn Notifier>>,
    /// Notifiers that could not be built, and what they lack.
    not_ready: BTreeMap<String, String>,
    discord: RwLock<Option<Arc<dyn Notifier>>>,
}

impl std::fmt::Debug for Pagers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pagers")
            .field("notifiers", &self.notifiers.keys().collect::<Vec<_>>())
            .field("not_ready", &self.not_ready)
            .finish_non_exhaustive()
    }
}

impl Pagers {
    pub fn new(
        notifiers: BTreeMap<String, Arc<dyn Notifier>>,
        not_ready: Vec<crate::notify::NotReady>,
    ) -> Pagers {
        Pagers {
            notifiers,
            not_ready: not_ready
                .into_iter()
                .map(|error| (error.notifier, error.missing))
                .collect(),
            discord: RwLock::new(None),
        }
    }

    /// Sets (or, with `None`, removes) the pager for Discord users and roles.
    pub fn set_discord(&self, pager: Option<Arc<dyn Notifier>>) {
        *self
            .discord
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = pager;
    }

    fn discord(&self) -> Option<Arc<dyn Notifier>> {
        self.discord
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn for_recipient(&self, recipient: &PageRecipient) -> Result<Arc<dyn Notifier>, String> {
        match recipient {
            PageRecipient::DiscordUser { .. } | PageRecipient::DiscordRole { .. } => {
                self.discord().ok_or_else(|| {
                    "Discord is not connected (no token, or the gateway is down), so the DM and mention could not be sent".to_owned()
                })
            }
            PageRecipient::Notifier { name } => match self.notifiers.get(name) {
                Some(notifier) => Ok(notifier.clone()),
                None => Err(self.not_ready.get(name).map_or_else(
                    || format!("there is no notifier {name} in [notifiers] any more"),
                    |missing| format!("notifier {name} is not ready: {missing}"),
                )),
            },
            PageRecipient::Nobody { reason } => Err(reason.clone()),
        }
    }
}

/// What one pass did; tests and the benchmark read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub steps_fired: usize,
    pub pages_sent: usize,
    pub pages_failed: usize,
    pub audited: usize,
}

#[derive(Debug)]
pub struct Engine {
    ops: Ops,
    pagers: Arc<Pagers>,
    wake: Arc<Notify>,
    actor: Actor,
    /// This process, as its claims name it: `host/pid/start`.
    instance: Arc<str>,
}

impl Engine {
    pub fn new(ops: Ops, pagers: Arc<Pagers>) -> Engine {
        let instance = crate::ops::instance::new_instance(ops.clock().now()).into();
        Engine {
            ops,
            pagers,
            wake: Arc::new(Notify::new()),
            actor: Actor::system(),
            instance,
        }
    }

    pub fn pagers(&self) -> &Arc<Pagers> {
        &self.pagers
    }

    /// One pass at the clock's `now`: fire due steps, send every ready page (waiting for the
    /// deliveries), audit. Tests with a controlled clock call this after moving the clock.
    pub async fn tick(&self) -> Result<Pass, StoreError> {
        let mut pass = Pass::default();
        let now = self.now();
        let mut ready = Ready::new();
        pass.steps_fired = self
            .fire_due_up_to(now, usize::MAX, BATCH, &mut ready)
            .await?;
        loop {
            if ready.is_empty() {
                let now = self.now();
                let lease_until = now.plus(self.ops.config().escalation.page_lease);
                let claimed = self.claim(now).await?;
                ready.extend(claimed.into_iter().map(|page| (page, lease_until)));
            }
            if ready.is_empty() {
                break;
            }
            let mut sending = JoinSet::new();
            let pages = ready.drain(..).map(|(page, _)| page).collect();
            for (page, incident) in self.with_incidents(pages).await? {
                let engine = self.clone_parts();
                sending.spawn(async move { engine.send(page, incident).await });
            }
            let mut done = Vec::new();
            while let Some(result) = sending.join_next().await {
                match result {
                    Ok(Ok(outcome)) => {
                        if outcome.state == PageState::Failed {
                            pass.pages_failed += 1;
                        } else {
                            pass.pages_sent += 1;
                        }
                        done.push(outcome);
                    }
                    Ok(Err(error)) => return Err(error),
                    Err(panic) => tracing::error!(%panic, "a page sender panicked"),
                }
            }
            self.record(done).await?;
        }
        pass.audited = self.audit(self.now()).await?;
        Ok(pass)
    }

    /// Runs passes until `shutdown`: sleeps until the next deadline the store reports, a
    /// committed change, a finished delivery, or [`BACKSTOP`], whichever comes first. Pages
    /// are sent concurrently (up to `[escalation] max_in_flight`) while steps keep firing:
    /// each turn records the deliveries that finished (one write), fires the next due steps
    /// (one write, which also claims their pages), and starts sending.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut commits = self.ops.commits();
        let mut feed = self.ops.store().change_feed();
        let max_in_flight =
            usize::try_from(self.ops.config().escalation.max_in_flight).unwrap_or(64);
        let mut sending: JoinSet<Result<PageDone, StoreError>> = JoinSet::new();
        // Pages claimed by this engine and not yet handed to a sender.
        let mut ready = Ready::new();
        let lease = self.ops.config().escalation.page_lease;
        // Pages wait for a sender in `ready` only briefly: about one write's worth, and not
        // many more than the senders take at once.
        let queue = STEPS_PER_WRITE.min(2 * max_in_flight).max(1);
        let mut finished: Vec<PageDone> = Vec::new();
        let mut last_audit: Option<Timestamp> = None;
        loop {
            let now = self.now();
            // A failing database must not make the loop spin: after an error it waits.
            let mut failed = false;
            while let Some(done) = sending.try_join_next() {
                collect(done, &mut finished);
            }
            if !finished.is_empty()
                && let Err(error) = self.record(std::mem::take(&mut finished)).await
            {
                tracing::warn!(%error, "recording pages' outcomes failed; they are sent again when their claims run out");
                failed = true;
            }
            // Few pages wait for a sender: first the outbox's ready pages (pages by hand,
            // acknowledgements to forward, pages of a stopped process), then new steps' pages,
            // so neither starves the other and pages go out as their steps are written.
            let wanted = queue.saturating_sub(ready.len());
            if wanted > 0 {
                match self.claim_up_to(now, wanted).await {
                    Ok(pages) => {
                        ready.extend(pages.into_iter().map(|page| (page, now.plus(lease))))
                    }
                    Err(error) => {
                        tracing::warn!(%error, "claiming pages failed; retrying");
                        failed = true;
                    }
                }
            }
            if ready.len() < queue
                && let Err(error) = self
                    .fire_due_up_to(now, 1, u32::try_from(queue).unwrap_or(BATCH), &mut ready)
                    .await
            {
                tracing::warn!(%error, "firing due escalation steps failed; retrying");
                failed = true;
            }
            let mut batch = Vec::new();
            while sending.len() + batch.len() < max_in_flight
                && let Some((page, lease_until)) = ready.pop_front()
            {
                // A claim with less than half its lease left may run out while the page is
                // in flight, and another sender take it: leave it to whoever claims it next.
                let left = lease_until.as_millis() - self.now().as_millis();
                if left < i64::try_from(lease.as_millis() / 2).unwrap_or(i64::MAX) {
                    tracing::debug!(
                        page = page.id,
                        "claim too old to send; left to the next claim"
                    );
                    continue;
                }
                batch.push((page, lease_until));
            }
            if !batch.is_empty() {
                let pages = batch.iter().map(|(page, _)| page.clone()).collect();
                match self.with_incidents(pages).await {
                    Ok(pages) => {
                        for (page, incident) in pages {
                            let engine = self.clone_parts();
                            sending.spawn(async move { engine.send(page, incident).await });
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "reading the incidents of pages to send failed; retrying");
                        failed = true;
                        for claimed in batch.into_iter().rev() {
                            ready.push_front(claimed);
                        }
                    }
                }
            }
            if last_audit.is_none_or(|last| now.as_millis() - last.as_millis() >= 1_000) {
                last_audit = Some(now);
                if let Err(error) = self.release_dead_claims(now).await {
                    tracing::warn!(%error, "reading the claims of stopped processes failed");
                }
                if let Err(error) = self.audit(now).await {
                    tracing::warn!(%error, "the escalation audit failed; retrying");
                }
            }
            let busy = sending.len() >= max_in_flight;
            let sleep = if busy || failed {
                // While every sender is busy, more pages wait for a delivery to finish.
                BACKSTOP
            } else {
                match self.ops.store().next_deadline().await {
                    Ok(Some(due)) => Duration::from_millis(
                        u64::try_from(due.as_millis() - self.now().as_millis()).unwrap_or(0),
                    )
                    .min(BACKSTOP),
                    Ok(None) => BACKSTOP,
                    Err(error) => {
                        tracing::warn!(%error, "reading the next escalation deadline failed");
                        BACKSTOP
                    }
                }
            };
            if sleep.is_zero() {
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(sleep) => {}
                () = self.wake.notified() => {}
                // One turn covers every commit meanwhile (many are this engine's own pages).
                _ = commits.changed() => {}
                _ = feed.changed() => {}
                Some(done) = sending.join_next(), if !sending.is_empty() => {
                    collect(done, &mut finished);
                }
            }
        }
        // Deliveries in flight finish (their claims would otherwise resend them later); pages
        // claimed but not started are handed back at once, for the next engine to send.
        while let Some(done) = sending.join_next().await {
            collect(done, &mut finished);
        }
        if let Err(error) = self.record(finished).await {
            tracing::warn!(%error, "recording pages' outcomes failed at shutdown");
        }
        if !ready.is_empty()
            && let Err(error) = self
                .ops
                .store()
                .release_claims(&self.instance, self.now())
                .await
        {
            tracing::warn!(%error, "handing back claimed pages at shutdown failed; they are sent when their claims run out");
        }
    }

    /// Ends at once the claims of warroom processes on this host that died (kill -9, a
    /// crash) while sending, so their pages go out again now rather than when the claims run
    /// out. Runs first thing and then every second.
    async fn release_dead_claims(&self, now: Timestamp) -> Result<(), StoreError> {
        let store = self.ops.store();
        for claimant in store.claimants().await? {
            if crate::ops::instance::is_dead_here(&claimant, &self.instance) {
                let released = store.release_claims(&claimant, now).await?;
                if released > 0 {
                    tracing::warn!(
                        claimant,
                        released,
                        "pages claimed by a stopped warroom process are sent again now, under the same dedup keys"
                    );
                }
            }
        }
        Ok(())
    }

    /// Wakes a sleeping [`Engine::run`] (the Discord pager connected, say).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn now(&self) -> Timestamp {
        self.ops.clock().now()
    }

    fn clone_parts(&self) -> Engine {
        Engine {
            ops: self.ops.clone(),
            pagers: self.pagers.clone(),
            wake: self.wake.clone(),
            actor: self.actor.clone(),
            instance: self.instance.clone(),
        }
    }

    /// Fires the steps due at `now`, reading `batch` due steps at a time, at most `looks`
    /// times (a step that became due because an earlier one was late, after a restart say,
    /// fires in a later look). Steps are written [`STEPS_PER_WRITE`] per transaction; their
    /// pages, claimed by this engine in the same transaction, join `ready`.
    async fn fire_due_up_to(
        &self,
        now: Timestamp,
        looks: usize,
        batch: u32,
        ready: &mut Ready,
    ) -> Result<usize, StoreError> {
        let claim = PageClaim {
            by: self.instance.to_string(),
            lease_until: now.plus(self.ops.config().escalation.page_lease),
        };
        let mut fired = 0;
        for _ in 0..looks {
            let due = self.ops.store().due_escalations(now, batch).await?;
            let mut progress = false;
            // Who is on call, overrides made from chat included: read once per look.
            let on_call = if due.is_empty() {
                crate::ops::OnCall::default()
            } else {
                self.ops.schedules().await?
            };
            let planned: Vec<(FireStep, i64)> = due
                .iter()
                .map(|escalation| self.plan_step(escalation, now, &on_call.schedules))
                .collect();
            for chunk in planned.chunks(STEPS_PER_WRITE) {
                let steps = chunk.iter().map(|(step, _)| step.clone()).collect();
                let results = self.ops.store().fire_steps(steps, &claim).await?;
                for ((_, late_ms), result) in chunk.iter().zip(results) {
                    let Some(Fired { appended, pages }) = result else {
                        continue;
                    };
                    fired += 1;
                    progress = true;
                    crate::metrics::escalation_lateness(Duration::from_millis(
                        u64::try_from(*late_ms).unwrap_or(0),
                    ));
                    if let Some((incident, events)) = appended {
                        self.ops.announce(&incident, &events);
                    }
                    ready.extend(pages.into_iter().map(|page| (page, claim.lease_until)));
                }
            }
            // Steps fired may have made their next steps due too (a late pass); look again
            // until a look fires nothing.
            if !progress {
                return Ok(fired);
            }
        }
        Ok(fired)
    }

    /// The step `escalation` owes at `now`, with its pages resolved, and how late it is (ms).
    fn plan_step(
        &self,
        escalation: &Escalation,
        now: Timestamp,
        schedules: &[crate::escalation::Schedule],
    ) -> (FireStep, i64) {
        let config = self.ops.config();
        let id = escalation.incident_id;
        let (level, round) = (escalation.next_level, escalation.next_round);
        let due_at = escalation.due_at.unwrap_or(now);
        let late_ms = (now.as_millis() - due_at.as_millis()).max(0);
        let stop = |text: String, data: serde_json::Value| FireStep {
            incident: id,
            level,
            round,
            next: None,
            pages: Vec::new(),
            events: vec![
                NewEvent::new(now, EventKind::Escalated, self.actor.clone(), text).with_data(data),
            ],
            now,
        };
        let Some(policy) = config.policy(&escalation.policy) else {
            let text = format!(
                "Escalation stopped: the policy {} is no longer in the configuration",
                escalation.policy
            );
            return (
                stop(
                    text,
                    json!({"policy": escalation.policy, "missing_policy": true}),
                ),
                late_ms,
            );
        };
        let Some(step) = policy.levels.get(level.saturating_sub(1) as usize) else {
            let text = format!(
                "Escalation stopped: policy {} has no level {level} any more",
                policy.name
            );
            return (
                stop(text, json!({"policy": policy.name, "missing_level": level})),
                late_ms,
            );
        };
        let absolute_round = escalation.round_base + round;
        let directory = config.directory_with(schedules);
        let mut pages = Vec::new();
        let mut described = Vec::new();
        for target in &step.targets {
            let planned = directory.resolve_page(policy, target, now);
            let paged = planned.paged_target().clone();
            described.push(describe_reach(&planned.target, &planned.reach));
            pages.push(NewPage {
                dedup_key: dedup_key(id, level, absolute_round, &paged),
                action: PageAction::Trigger,
                level,
                round: absolute_round,
                target: paged.to_string(),
                recipient: (&planned.reach).into(),
                message: None,
                send_after: now,
            });
        }
        let next = next_step(policy, escalation, level, round);
        let round_text = if policy.repeat > 0 {
            format!(", round {} of {}", round + 1, policy.repeat + 1)
        } else {
            String::new()
        };
        let text = format!(
            "Escalation level {level}{round_text} of policy {}: paging {}",
            policy.name,
            described.join("; ")
        );
        let event =
            NewEvent::new(now, EventKind::Escalated, self.actor.clone(), text).with_data(json!({
                "policy": policy.name,
                "level": level,
                "round": absolute_round,
                "due_at": due_at,
                "late_ms": late_ms,
                "dedup_keys": pages.iter().map(|page| page.dedup_key.clone()).collect::<Vec<_>>(),
                "next_due_at": next.map(|(_, _, due)| due),
            }));
        (
            FireStep {
                incident: id,
                level,
                round,
                next,
                pages,
                events: vec![event],
                now,
            },
            late_ms,
        )
    }

    async fn claim(&self, now: Timestamp) -> Result<Vec<Page>, StoreError> {
        let room = usize::try_from(self.ops.config().escalation.max_in_flight).unwrap_or(64);
        self.claim_up_to(now, room).await
    }

    async fn claim_up_to(&self, now: Timestamp, room: usize) -> Result<Vec<Page>, StoreError> {
        let lease = self.ops.config().escalation.page_lease;
        let limit = u32::try_from(room).unwrap_or(BATCH).min(BATCH);
        self.ops
            .store()
            .claim_pages(now, now.plus(lease), limit, &self.instance)
            .await
    }

    /// Pairs pages with their incidents as they are now, read in one query.
    async fn with_incidents(&self, pages: Vec<Page>) -> Result<Vec<(Page, Incident)>, StoreError> {
        let mut ids: Vec<_> = pages.iter().map(|page| page.incident_id).collect();
        ids.sort();
        ids.dedup();
        let incidents: BTreeMap<_, Incident> = self
            .ops
            .store()
            .incidents_by_id(&ids)
            .await?
            .into_iter()
            .map(|incident| (incident.id, incident))
            .collect();
        pages
            .into_iter()
            .map(|page| match incidents.get(&page.incident_id) {
                Some(incident) => Ok((page, incident.clone())),
                None => Err(StoreError::NotFound(page.incident_id)),
            })
            .collect()
    }

    /// Delivers one claimed page of `incident` (as read just before); the outcome is
    /// recorded by the caller, in a batch.
    async fn send(&self, page: Page, incident: Incident) -> Result<PageDone, StoreError> {
        let config = self.ops.config();
        let step_page = page.level > 0;
        let threshold = (step_page && page.action == PageAction::Trigger)
            .then_some(config.escalation.failures_before_next_level);
        let done = |state: PageState, outcome: String, event: Option<NewEvent>| PageDone {
            page: page.id,
            incident: page.incident_id,
            claim: page.attempts,
            state,
            outcome,
            event,
            now: self.now(),
            failures_before_next_level: threshold,
        };
        if page.action == PageAction::Trigger
            && let Some(stopped_at) = stopped_since(&incident)
            && stopped_at > page.created_at
        {
            // Acknowledged (or mitigated, resolved) after the page was written and before it
            // went out: nobody needs waking any more.
            let again = if page.attempts > 1 {
                " (an earlier attempt, cut off, may have reached the receiver)"
            } else {
                ""
            };
            return Ok(done(
                PageState::Cancelled,
                format!(
                    "not sent: the incident was {} first{again}",
                    incident.status.as_str()
                ),
                None,
            ));
        }
        if incident.drill && !page.recipient.is_discord() {
            let text = format!(
                "DRILL: {} not paged through {}: drills page only inside Discord",
                page.target,
                recipient_name(&page.recipient)
            );
            let event = (page.action == PageAction::Trigger).then(|| {
                NewEvent::new(
                    self.now(),
                    EventKind::PageSent,
                    self.actor.clone(),
                    text.clone(),
                )
                .with_data(page_data(&page, "skipped"))
            });
            return Ok(done(PageState::Skipped, text, event));
        }
        let delivery = match self.pagers.for_recipient(&page.recipient) {
            Err(reason) => Err(reason),
            Ok(notifier) => Ok(self.deliver(&*notifier, &page, &incident).await),
        };
        let channel = recipient_name(&page.recipient);
        let (state, outcome, kind) = match &delivery {
            Ok(delivery) if delivery.is_delivered() => {
                crate::metrics::page_sent(&channel);
                (PageState::Sent, delivery.describe(), EventKind::PageSent)
            }
            Ok(delivery) if !delivery.is_failure() => {
                // Unsupported (a Slack webhook cannot acknowledge): nothing to send.
                (PageState::Skipped, delivery.describe(), EventKind::PageSent)
            }
            Ok(delivery) => {
                crate::metrics::page_failed(&channel);
                (
                    PageState::Failed,
                    delivery.describe(),
                    EventKind::PageFailed,
                )
            }
            Err(reason) => {
                crate::metrics::page_failed(&channel);
                (
                    PageState::Failed,
                    format!("{} could not be paged: {reason}", page.target),
                    EventKind::PageFailed,
                )
            }
        };
        // A trigger is recorded on the timeline whatever happened; an acknowledge or resolve
        // sent to a notifier only when it failed (its success is the incident's own event).
        let event = (page.action == PageAction::Trigger || state == PageState::Failed).then(|| {
            let text = match (page.action, state) {
                (PageAction::Trigger, PageState::Sent) => {
                    format!(
                        "Paged {} ({})",
                        page.target,
                        describe_recipient(&page.recipient)
                    )
                }
                (PageAction::Trigger, PageState::Skipped) => {
                    format!("Page to {}: {outcome}", page.target)
                }
                (PageAction::Trigger, _) => format!("Page to {} failed: {outcome}", page.target),
                (action, _) => format!(
                    "Telling {} that the incident was {}d failed: {outcome}",
                    page.target,
                    action.as_str()
                ),
            };
            let mut data = page_data(&page, state.as_str());
            if let Ok(delivery) = &delivery {
                data["delivery"] = serde_json::to_value(delivery).unwrap_or_default();
            }
            NewEvent::new(self.now(), kind, self.actor.clone(), text).with_data(data)
        });
        Ok(done(state, outcome, event))
    }

    async fn deliver(&self, notifier: &dyn Notifier, page: &Page, incident: &Incident) -> Delivery {
        match page.action {
            PageAction::Trigger => {
                let message = self.message(page, incident);
                notifier.trigger(&message).await
            }
            PageAction::Acknowledge => notifier.acknowledge(&page.dedup_key).await,
            PageAction::Resolve => notifier.resolve(&page.dedup_key).await,
        }
    }

    /// Records outcomes, [`STEPS_PER_WRITE`] per transaction.
    async fn record(&self, done: Vec<PageDone>) -> Result<(), StoreError> {
        for chunk in done.chunks(STEPS_PER_WRITE) {
            for (incident, events) in self.ops.store().finish_pages(chunk.to_vec()).await? {
                self.ops.announce(&incident, &events);
            }
        }
        Ok(())
    }

    fn message(&self, page: &Page, incident: &Incident) -> PageMessage {
        let config = self.ops.config();
        let recipient = match &page.recipient {
            PageRecipient::DiscordUser {
                user_id,
                schedule,
                via_override,
            } => Recipient::DiscordUser {
                user_id: *user_id,
                schedule: schedule.clone(),
                via_override: *via_override,
            },
            PageRecipient::DiscordRole { role } => Recipient::DiscordRole {
                role: role.clone(),
                role_ids: config.roles.get(role).cloned().unwrap_or_default(),
            },
            PageRecipient::Notifier { name } => Recipient::Notifier {
                name: name.clone(),
                kind: config
                    .notifiers
                    .iter()
                    .find(|notifier| &notifier.name == name)
                    .map_or(NotifierKind::Webhook, |notifier| notifier.kind),
            },
            PageRecipient::Nobody { .. } => unreachable!("pages to nobody fail before delivery"),
        };
        let link = match (config.discord.guild_id, incident.channel_id) {
            (Some(guild), Some(channel)) => {
                Some(format!("https://discord.com/channels/{guild}/{channel}"))
            }
            _ => None,
        };
        PageMessage {
            dedup_key: page.dedup_key.clone(),
            incident_id: incident.id,
            title: incident.title.clone(),
            severity: incident.severity.clone(),
            priority: Priority::of_severity(&config.severities, &incident.severity),
            service: incident.service.clone(),
            level: page.level,
            round: page.round,
            target: page
                .target
                .parse::<Target>()
                .unwrap_or_else(|_| Target::Role(page.target.clone())),
            recipient,
            channel_id: incident.channel_id,
            link,
            drill: incident.drill,
            opened_at: incident.opened_at,
            message: page.message.clone(),
        }
    }

    /// Pages the fallback of every open, unacknowledged incident that has nothing left due,
    /// once, and says so on its timeline (and so in its channel).
    async fn audit(&self, now: Timestamp) -> Result<usize, StoreError> {
        let store = self.ops.store();
        let config = self.ops.config();
        let mut audited = 0;
        for incident in store.unguarded_incidents(BATCH).await? {
            let escalation = store.escalation(incident.id).await?;
            let policy: Option<&Policy> = match &escalation {
                Some(escalation) => config.policy(&escalation.policy),
                None => config.policy_for(&incident.severity, incident.service.as_deref()),
            };
            let policy_name = policy.map(|policy| policy.name.clone()).unwrap_or_default();
            let fallback =
                policy.and_then(|policy| policy.fallback.clone().map(|target| (policy, target)));
            let (page, text) = match fallback {
                Some((policy, target)) => {
                    let round = self.ops.next_hand_round(incident.id).await?;
                    let on_call = self.ops.schedules().await?;
                    let reach = config
                        .directory_with(&on_call.schedules)
                        .resolve_page(policy, &target, now);
                    let page = NewPage {
                        dedup_key: dedup_key(incident.id, 0, round, &target),
                        action: PageAction::Trigger,
                        level: 0,
                        round,
                        target: target.to_string(),
                        recipient: (&reach.reach).into(),
                        message: None,
                        send_after: now,
                    };
                    let text = format!(
                        "{} is still unacknowledged and its policy {} has nothing more to page: paging the fallback {}",
                        incident.id,
                        policy.name,
                        describe_reach(&target, &reach.reach)
                    );
                    (Some(page), text)
                }
                None if policy.is_some() => (
                    None,
                    format!(
                        "{} is still unacknowledged and its policy {policy_name} has nothing more to page, and no fallback: nobody else will be paged automatically. Use /page.",
                        incident.id
                    ),
                ),
                None => (
                    None,
                    format!(
                        "{} is unacknowledged and no escalation policy applies to it: nobody will be paged automatically. Use /page.",
                        incident.id
                    ),
                ),
            };
            let event = NewEvent::new(now, EventKind::Escalated, self.actor.clone(), text)
                .with_data(json!({"audit": true, "policy": policy_name}));
            if let Some(appended) = store
                .record_audit(incident.id, &policy_name, page, event, now)
                .await?
            {
                audited += 1;
                if let Some((incident, events)) = appended {
                    self.ops.announce(&incident, &events);
                }
            }
        }
        Ok(audited)
    }
}

fn collect(
    done: Result<Result<PageDone, StoreError>, tokio::task::JoinError>,
    finished: &mut Vec<PageDone>,
) {
    match done {
        Ok(Ok(outcome)) => finished.push(outcome),
        Ok(Err(error)) => {
            tracing::warn!(%error, "a page could not be sent; it is tried again when its claim runs out");
        }
        Err(panic) => tracing::error!(%panic, "a page sender panicked"),
    }
}

/// The step after `(level, round)` with its due time, from the plan's origin.
fn next_step(
    policy: &Policy,
    escalation: &Escalation,
    level: u32,
    round: u32,
) -> Option<(u32, u32, Timestamp)> {
    let (level, round) = policy.next_step(level, round)?;
    let after = policy.step_after(level, round)?;
    Some((level, round, escalation.started_at.plus(after)))
}

/// The latest acknowledgement, mitigation or resolution of an incident that pages nobody;
/// `None` while it is open (unacknowledged). A page written before it is not sent.
fn stopped_since(incident: &Incident) -> Option<Timestamp> {
    if incident.status == Status::Open {
        return None;
    }
    [
        incident.acknowledged_at,
        incident.mitigated_at,
        incident.resolved_at,
    ]
    .into_iter()
    .flatten()
    .max()
}

fn recipient_name(recipient: &PageRecipient) -> String {
    match recipient {
        PageRecipient::DiscordUser { .. } | PageRecipient::DiscordRole { .. } => {
            "discord".to_owned()
        }
        PageRecipient::Notifier { name } => name.clone(),
        PageRecipient::Nobody { .. } => "nobody".to_owned(),
    }
}

fn describe_recipient(recipient: &PageRecipient) -> String {
    match recipient {
        PageRecipient::DiscordUser {
            user_id, schedule, ..
        } => match schedule {
            Some(schedule) => format!("<@{user_id}>, on call in {schedule}"),
            None => format!("<@{user_id}>"),
        },
        PageRecipient::DiscordRole { role } => format!("bot role {role}"),
        PageRecipient::Notifier { name } => format!("notifier {name}"),
        PageRecipient::Nobody { reason } => format!("nobody: {reason}"),
    }
}

fn describe_reach(target: &Target, reach: &super::Reach) -> String {
    match reach {
        super::Reach::Reached { recipient } => {
            format!("{target} ({})", describe_recipient(&recipient.into()))
        }
        super::Reach::Fallback {
            reason,
            fallback,
            recipient,
        } => format!(
            "{fallback} ({}) in place of {target}: {reason}",
            describe_recipient(&recipient.into())
        ),
        super::Reach::Nobody { reason } => format!("{target}: nobody is reached: {reason}"),
    }
}

fn page_data(page: &Page, state: &str) -> serde_json::Value {
    json!({
        "dedup_key": page.dedup_key,
        "action": page.action,
        "level": page.level,
        "round": page.round,
        "target": page.target,
        "recipient": page.recipient,
        "state": state,
        "attempt": page.attempts,
    })
}
