//! The durable escalation engine inside `warroom run`.
//!
//! State lives in the store, never only in memory: each incident's escalation row says which
//! step fires next and when, and the `pages` outbox holds every page. One pass
//! ([`Engine::tick`]) fires the steps that are due (each with a conditional update, so two
//! engines never fire one step; a step's pages enter the outbox claimed by the engine that
//! fired it), claims the other pages that are ready (each claim conditional too), sends them
//! and records the outcome, and audits that every open, unacknowledged incident still has
//! something due. [`Engine::run`] does the same continuously (`run.rs`): it fires steps and
//! starts deliveries while a writer task records the outcomes of earlier ones, and sleeps
//! until the next deadline the store reports or until a commit wakes it. Deliveries and
//! their outcomes are `send.rs`.
//!
//! A page is claimed for `[escalation] page_lease`; if the process dies before recording the
//! outcome, the page goes out again when the claim runs out (at once when the dead process
//! ran on this host), under the same dedup key (so a receiver that deduplicates, as
//! PagerDuty and Opsgenie do, sees one page). That resend is the only way a page can reach a
//! receiver twice, so a kill repeats at most `max_in_flight` pages. A trigger whose incident
//! was acknowledged after it was written is not sent at all.

mod run;
mod send;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::{Policy, Target, dedup_key};
use crate::domain::{Actor, EventKind, Incident, IncidentId, NewEvent, Timestamp};
use crate::ops::Ops;
use crate::store::{
    Escalation, FireStep, Fired, NewPage, Page, PageAction, PageClaim, PageDone, PageState,
    StoreError,
};
pub use send::Pagers;
use send::describe_recipient;

/// How many due steps or ready pages one query takes.
const BATCH: u32 = 500;

/// Steps fired, or page outcomes recorded, per transaction: one commit (one fsync on
/// SQLite) for many, while keeping each transaction short.
const STEPS_PER_WRITE: usize = 100;

/// A page this engine claimed and has not yet handed to a sender.
#[derive(Debug)]
struct Claimed {
    page: Page,
    /// When the claim runs out.
    lease_until: Timestamp,
    /// The incident as the write that claimed the page left it (a fired step's pages), so a
    /// page sent at once needs no read; `None` when it must be read before sending.
    incident: Option<Incident>,
}

impl Claimed {
    fn later(page: Page, lease_until: Timestamp) -> Claimed {
        Claimed {
            page,
            lease_until,
            incident: None,
        }
    }
}

/// Pages this engine claimed and has not yet handed to a sender.
type Ready = VecDeque<Claimed>;

/// Steps read as due, and who was on call when they were read.
struct Due {
    steps: Vec<Escalation>,
    on_call: crate::ops::OnCall,
}

/// The longest the engine sleeps without looking at the store. Commits of this process wake
/// it at once, those of other processes (a second engine, the CLI) through the store's change
/// feed; this bounds the wait should a wake-up be missed.
pub const BACKSTOP: Duration = Duration::from_secs(1);

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
                ready.extend(
                    claimed
                        .into_iter()
                        .map(|page| Claimed::later(page, lease_until)),
                );
            }
            if ready.is_empty() {
                break;
            }
            let mut sending = JoinSet::new();
            for (page, incident) in self.with_incidents(ready.drain(..).collect()).await? {
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
        let mut fired = 0;
        for _ in 0..looks {
            let Due { steps, on_call } = self.read_due(now, batch).await?;
            let mut progress = false;
            for chunk in steps.chunks(STEPS_PER_WRITE) {
                let count = self
                    .fire_chunk(now, chunk, Vec::new(), &on_call, ready)
                    .await?;
                fired += count;
                progress |= count > 0;
            }
            // Steps fired may have made their next steps due too (a late pass); look again
            // until a look fires nothing.
            if !progress {
                return Ok(fired);
            }
        }
        Ok(fired)
    }

    /// Up to `batch` steps due at `now`, earliest first, with who is on call (overrides made
    /// from chat included), read once for all of them.
    async fn read_due(&self, now: Timestamp, batch: u32) -> Result<Due, StoreError> {
        let steps = self.ops.store().due_escalations(now, batch).await?;
        let on_call = if steps.is_empty() {
            crate::ops::OnCall::default()
        } else {
            self.ops.schedules().await?
        };
        Ok(Due { steps, on_call })
    }

    /// Fires `due` steps (read earlier; a step someone else fired or stopped meanwhile is
    /// left alone by the conditional write) in one transaction, which also records the
    /// outcomes `done`; the steps' pages, claimed by this engine, join `ready`. Returns how
    /// many fired.
    async fn fire_chunk(
        &self,
        now: Timestamp,
        due: &[Escalation],
        done: Vec<PageDone>,
        on_call: &crate::ops::OnCall,
        ready: &mut Ready,
    ) -> Result<usize, StoreError> {
        let claim = PageClaim {
            by: self.instance.to_string(),
            lease_until: now.plus(self.ops.config().escalation.page_lease),
        };
        // Planned steps go to the store whole (no copies of their pages and events).
        let (steps, late): (Vec<FireStep>, Vec<i64>) = due
            .iter()
            .map(|escalation| self.plan_step(escalation, now, &on_call.schedules))
            .unzip();
        let written = self
            .ops
            .store()
            .finish_and_fire(done, steps, &claim)
            .await?;
        for (incident, events) in &written.appended {
            self.ops.announce(incident, events);
        }
        let mut fired = 0;
        for (late_ms, result) in late.into_iter().zip(written.fired) {
            let Some(Fired { appended, pages }) = result else {
                continue;
            };
            fired += 1;
            crate::metrics::escalation_lateness(Duration::from_millis(
                u64::try_from(late_ms).unwrap_or(0),
            ));
            let incident = appended.map(|(incident, events)| {
                self.ops.announce(&incident, &events);
                incident
            });
            ready.extend(pages.into_iter().map(|page| Claimed {
                page,
                lease_until: claim.lease_until,
                incident: incident.clone(),
            }));
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

    /// Pairs claimed pages with their incidents: as the claiming write left them, or as they
    /// are now, read in one query for all the others (none when every page has its incident).
    async fn with_incidents(
        &self,
        claimed: Vec<Claimed>,
    ) -> Result<Vec<(Page, Incident)>, StoreError> {
        let read = self.read_incidents(&claimed).await?;
        pair(claimed, &read)
    }

    /// The incidents of the claimed pages that do not carry theirs, in one query.
    async fn read_incidents(
        &self,
        claimed: &[Claimed],
    ) -> Result<BTreeMap<IncidentId, Incident>, StoreError> {
        let mut ids: Vec<_> = claimed
            .iter()
            .filter(|claimed| claimed.incident.is_none())
            .map(|claimed| claimed.page.incident_id)
            .collect();
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        ids.sort();
        ids.dedup();
        Ok(self
            .ops
            .store()
            .incidents_by_id(&ids)
            .await?
            .into_iter()
            .map(|incident| (incident.id, incident))
            .collect())
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

/// Each claimed page with its incident: its own, else the one `read`.
fn pair(
    claimed: Vec<Claimed>,
    read: &BTreeMap<IncidentId, Incident>,
) -> Result<Vec<(Page, Incident)>, StoreError> {
    claimed
        .into_iter()
        .map(|Claimed { page, incident, .. }| {
            match incident.or_else(|| read.get(&page.incident_id).cloned()) {
                Some(incident) => Ok((page, incident)),
                None => Err(StoreError::NotFound(page.incident_id)),
            }
        })
        .collect()
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
