//! Runbooks on a clock (SPEC §1, §4, §5): scheduled checks and drills as durable timers.
//!
//! Each `[checks.NAME]` is a timer of kind `check` (subject NAME) and each `[drills.NAME]` one
//! of kind `drill` (plus `drill_announce` when it has `announce_ahead`), armed by `warroom
//! run` at start for the next slot. Firing is claimed once across processes; a handler re-arms
//! its timer for the first slot after *now*, so a process that was down for five slots runs the
//! check once, not five times.
//!
//! A check's handler only requests the run (as `schedule:NAME`, a normal run of the runner:
//! same sandbox, timeout, redaction and audit) and starts it in the background, so the timer's
//! claim never waits for a command; how it ended is counted where runs finish
//! (`after_scheduled_run`), once per run (`check_state.last_run_id` only grows). Failures in a
//! row open an incident for the check's service (`check_failed`), further failures add to it,
//! and the next success adds `check_recovered` and mitigates it.
//!
//! A drill's handler opens a drill incident (source `schedule`), marking its slot opened in the
//! same transaction so a firing repeated after a crash opens nothing more, then requests its
//! `commands` in dry-run (a read-only command without a dry run, as it is). An announcement
//! is a row the gateway holder turns into a Discord Scheduled Event.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::json;

use super::timers::{Fired, TimerHandler};
use super::{OpenRequest, Ops, OpsError, Principal, Requested, RunRequest};
use crate::checks::{CheckSpec, DrillSpec, Recurrence};
use crate::domain::{
    Actor, EventKind, IncidentId, NewEvent, Run, RunState, Source, Status, Timer, TimerOp,
    Timestamp,
};

/// The timer kinds this module sets.
pub const CHECK_TIMER: &str = "check";
pub const DRILL_TIMER: &str = "drill";
pub const DRILL_ANNOUNCE_TIMER: &str = "drill_announce";
/// A marker set with each drill incident, subject `NAME@<slot ms>`: that slot has opened.
pub const DRILL_OPENED_TIMER: &str = "drill_opened";

/// How long a drill slot's marker is kept (it fires, doing nothing, after that).
const MARKER_KEPT: Duration = Duration::from_secs(400 * 24 * 3600);

/// The end of a failing run's output carried by `check_failed`.
const OUTPUT_TAIL_CHARS: usize = 1_500;

/// The handlers of this module's timer kinds, for `timers::handlers()`.
pub fn handlers() -> Vec<Arc<dyn TimerHandler>> {
    vec![
        Arc::new(CheckTimer),
        Arc::new(DrillTimer),
        Arc::new(DrillAnnounceTimer),
        Arc::new(DrillOpenedMarker),
    ]
}

/// One check as `warroom checks list` and `/checks` show it.
#[derive(Clone, Debug, Serialize)]
pub struct CheckOverview {
    pub name: String,
    pub command: String,
    pub args: String,
    pub schedule: String,
    pub service: Option<String>,
    pub next_run: Option<Timestamp>,
    /// The last finished run's state, if any ran.
    pub last_result: Option<String>,
    pub last_run: Option<i64>,
    pub last_finished_at: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    pub consecutive_failures: i64,
    pub incident: Option<IncidentId>,
}

/// One coming run of a check or drill (`warroom checks next`).
#[derive(Clone, Debug, Serialize)]
pub struct Upcoming {
    pub at: Timestamp,
    /// `check` or `drill`.
    pub kind: &'static str,
    pub name: String,
    /// The time in the schedule's own zone, e.g. `2026-04-07 10:00 CEST`.
    pub local: String,
}

/// What `arm_schedules` set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Armed {
    pub set: Vec<String>,
    pub cancelled: Vec<String>,
}

impl Ops {
    /// Arms the timer of every configured check and drill for its next slot, unless it is
    /// armed already for this schedule (an overdue one stays due: it runs once, at once);
    /// cancels those of schedules no longer configured. Every `warroom run` calls it at start;
    /// processes arming together set the same times.
    pub async fn arm_schedules(&self) -> Result<Armed, OpsError> {
        let now = self.clock.now();
        let config = self.config.clone();
        let mut wanted: Vec<(&'static str, String, Option<Timestamp>, String)> = Vec::new();
        for check in &config.checks {
            let schedule = check.recurrence.describe();
            wanted.push((
                CHECK_TIMER,
                check.name.clone(),
                check.recurrence.next_after(now),
                schedule,
            ));
        }
        for drill in &config.drills {
            let schedule = drill.recurrence.describe();
            wanted.push((
                DRILL_TIMER,
                drill.name.clone(),
                drill.recurrence.next_after(now),
                schedule.clone(),
            ));
            let announce = drill.announce_ahead.and_then(|ahead| {
                let slot = drill.recurrence.next_after(now)?;
                Some(later(slot.minus(ahead), now))
            });
            let what = format!("{schedule}, announced {:?} ahead", drill.announce_ahead);
            wanted.push((DRILL_ANNOUNCE_TIMER, drill.name.clone(), announce, what));
        }
        let mut armed = Armed::default();
        let mut ops = Vec::new();
        for (kind, name, due, schedule) in &wanted {
            let current = self.store.pending_timer(kind, name).await?;
            let Some(due) = due else {
                if current.is_some() {
                    ops.push(TimerOp::cancel(kind, name.clone()));
                    armed.cancelled.push(format!("{kind}:{name}"));
                }
                continue;
            };
            let keep = current.as_ref().is_some_and(|timer| {
                timer.due_at <= now || timer.data["schedule"].as_str() == Some(schedule.as_str())
            });
            if !keep {
                ops.push(TimerOp::set(
                    kind,
                    name.clone(),
                    *due,
                    json!({"schedule": schedule}),
                ));
                armed.set.push(format!("{kind}:{name}"));
            }
        }
        for kind in [CHECK_TIMER, DRILL_TIMER, DRILL_ANNOUNCE_TIMER] {
            for timer in self.store.pending_timers(kind).await? {
                if !wanted
                    .iter()
                    .any(|(k, name, _, _)| *k == kind && *name == timer.subject)
                {
                    ops.push(TimerOp::cancel(kind, timer.subject.clone()));
                    armed.cancelled.push(format!("{kind}:{}", timer.subject));
                }
            }
        }
        self.store.apply_timers(ops).await?;
        self.announce_run();
        Ok(armed)
    }

    /// Makes check `name` due now: the engine of a `warroom run` process runs it within a
    /// second (the CLI has no runner; the database is the bus), then keeps to its schedule.
    pub async fn run_check_now(&self, name: &str) -> Result<Timestamp, OpsError> {
        let check = self
            .config
            .check(name)
            .ok_or_else(|| unknown_check(&self.config, name))?;
        let now = self.clock.now();
        let data = json!({"schedule": check.recurrence.describe()});
        self.store
            .apply_timers(vec![TimerOp::set(CHECK_TIMER, name, now, data)])
            .await?;
        self.announce_run();
        Ok(now)
    }

    /// Every configured check with its next run and last result.
    pub async fn checks_overview(&self) -> Result<Vec<CheckOverview>, OpsError> {
        let states = self.store.check_states().await?;
        let mut overview = Vec::new();
        for check in &self.config.checks {
            let next_run = self
                .store
                .pending_timer(CHECK_TIMER, &check.name)
                .await?
                .map(|timer| timer.due_at);
            let state = states.iter().find(|state| state.name == check.name);
            overview.push(CheckOverview {
                name: check.name.clone(),
                command: check.command.clone(),
                args: check.args.clone(),
                schedule: check.recurrence.describe(),
                service: check.service.clone(),
                next_run,
                last_result: state.map(|state| state.last_state.clone()),
                last_run: state.map(|state| state.last_run_id),
                last_finished_at: state.map(|state| state.last_finished_at),
                last_success_at: state.and_then(|state| state.last_success_at),
                consecutive_failures: state.map_or(0, |state| state.consecutive_failures),
                incident: state.and_then(|state| state.incident),
            });
        }
        Ok(overview)
    }

    /// Counts a finished run requested by a check (called where runs finish, in any process):
    /// failures in a row open or add to the check's incident, a success recovers it. Runs of
    /// other requesters, and drills' runs (which belong to their incident), are left alone.
    pub(crate) async fn after_scheduled_run(&self, run: &Run) {
        let Some(name) = run.requested_by.schedule_name() else {
            return;
        };
        if run.incident_id.is_some() || !run.state.is_final() {
            return;
        }
        // Stopped by a shutdown or withdrawn: says nothing about what the check checks.
        if matches!(run.state, RunState::Interrupted | RunState::Cancelled) {
            return;
        }
        let Some(check) = self.config.check(name).cloned() else {
            return;
        };
        if let Err(error) = self.count_check_run(&check, run).await {
            tracing::warn!(%error, check = %check.name, run = %run.id, "counting a scheduled check's run failed");
        }
    }

    async fn count_check_run(&self, check: &CheckSpec, run: &Run) -> Result<(), OpsError> {
        let now = self.clock.now();
        let succeeded = run.state == RunState::Succeeded;
        let Some(state) = self
            .store
            .record_check_run(&check.name, run.id.0, run.state.as_str(), succeeded, now)
            .await?
        else {
            return Ok(());
        };
        if succeeded {
            if let Some(incident) = state.incident {
                self.recover_check(check, incident, run).await?;
            }
        } else if state.consecutive_failures >= i64::from(check.failures_before_incident) {
            self.record_check_failure(check, state.incident, state.consecutive_failures, run)
                .await?;
        }
        Ok(())
    }

    /// Adds `check_failed` to the check's unresolved incident, or opens one.
    async fn record_check_failure(
        &self,
        check: &CheckSpec,
        linked: Option<IncidentId>,
        failures: i64,
        run: &Run,
    ) -> Result<(), OpsError> {
        let who = self.schedule_principal(&check.name);
        let open = match linked {
            Some(id) => self
                .store
                .get_incident(id)
                .await?
                .filter(|incident| incident.status != Status::Resolved)
                .map(|incident| incident.id),
            None => None,
        };
        let id = match open {
            Some(id) => id,
            None => {
                let request = OpenRequest {
                    title: format!("Scheduled check {} is failing", check.name),
                    severity: check.severity.clone(),
                    service: check.service.clone(),
                    description: format!(
                        "`{}` ({}) failed {failures} time(s) in a row.",
                        check_command_line(check),
                        check.recurrence.describe()
                    ),
                    ..OpenRequest::default()
                };
                let id = self
                    .open(&who, Source::Schedule, request)
                    .await?
                    .incident
                    .id;
                self.store.set_check_incident(&check.name, Some(id)).await?;
                id
            }
        };
        let text = format!(
            "Check {} failed ({}{}), {failures} time(s) in a row",
            check.name,
            outcome_words(run),
            run.reason
                .as_deref()
                .map(|reason| format!(": {reason}"))
                .unwrap_or_default()
        );
        let event = NewEvent::new(
            self.clock.now(),
            EventKind::CheckFailed,
            who.actor.clone(),
            text,
        )
        .with_data(json!({
            "check": check.name,
            "run": run.id,
            "command": run.command,
            "state": run.state,
            "exit_code": run.exit_code,
            "signal": run.signal,
            "timed_out": run.timed_out,
            "reason": run.reason,
            "consecutive_failures": failures,
            "output_tail": output_tail(run),
        }))
        .with_key(format!("check:{}:run:{}", check.name, run.id.0));
        self.append(id, vec![event]).await?;
        Ok(())
    }

    /// Adds `check_recovered` to the check's incident and, as configured, mitigates it.
    async fn recover_check(
        &self,
        check: &CheckSpec,
        incident: IncidentId,
        run: &Run,
    ) -> Result<(), OpsError> {
        let who = self.schedule_principal(&check.name);
        if let Some(current) = self.store.get_incident(incident).await?
            && current.status != Status::Resolved
        {
            let text = format!("Check {} passed again ({})", check.name, run.id);
            let event = NewEvent::new(
                self.clock.now(),
                EventKind::CheckRecovered,
                who.actor.clone(),
                text,
            )
            .with_data(json!({"check": check.name, "run": run.id, "exit_code": run.exit_code}))
            .with_key(format!("check:{}:recovered:{}", check.name, run.id.0));
            self.append(incident, vec![event]).await?;
            if check.mitigate_on_recovery
                && matches!(current.status, Status::Open | Status::Acknowledged)
            {
                let note = format!("check {} passed again", check.name);
                self.mitigate(&who, incident, Some(&note)).await?;
            }
        }
        self.store.set_check_incident(&check.name, None).await?;
        Ok(())
    }

    /// A schedule acting on its own: it may run whatever its command allows (the config,
    /// checked against the catalog, decided what it runs), and open and mitigate incidents.
    fn schedule_principal(&self, name: &str) -> Principal {
        Principal::new(Actor::schedule(name), self.config.bot_role_names())
    }

    /// Requests check `check`'s run and starts it in the background.
    async fn start_check(&self, check: &CheckSpec) -> Result<(), OpsError> {
        let who = self.schedule_principal(&check.name);
        let request = RunRequest {
            command: check.command.clone(),
            args: check.args.clone(),
            dry_run: false,
            incident: None,
            channel_id: None,
        };
        match self.request_run(&who, request).await? {
            Requested::Ready(run) => self.start_in_background(run),
            Requested::Denied(run) => self.after_scheduled_run(&run).await,
            Requested::AwaitingApproval(run) => {
                // The catalog changed since it was checked: nobody approves a run on a clock.
                let reason = "a scheduled check runs only commands that need no approval";
                let run = self
                    .deny_run(&Principal::system(Actor::system()), run.id, Some(reason))
                    .await?;
                self.after_scheduled_run(&run).await;
            }
        }
        Ok(())
    }

    fn start_in_background(&self, run: Run) {
        let ops = self.clone();
        tokio::spawn(async move {
            if let Err(error) = ops.execute_run(run.id, &mut |_| {}).await {
                tracing::warn!(run = %run.id, %error, "a scheduled run did not run");
            }
        });
    }

    /// Opens drill `drill`'s incident for `slot`, once: the slot's marker is set in the same
    /// transaction, and a slot already marked opens nothing.
    async fn open_drill(&self, drill: &DrillSpec, slot: Timestamp) -> Result<(), OpsError> {
        let marker = format!("{}@{}", drill.name, slot.as_millis());
        if self
            .store
            .pending_timer(DRILL_OPENED_TIMER, &marker)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let who = self.schedule_principal(&drill.name);
        let request = OpenRequest {
            title: drill.title.clone(),
            severity: drill.severity.clone(),
            service: drill.service.clone(),
            description: format!(
                "Scheduled drill {} ({}), due {}. This is a DRILL: nothing is broken.",
                drill.name,
                drill.recurrence.describe(),
                slot.rfc3339()
            ),
            drill: true,
            private: false,
        };
        let mark = TimerOp::set(
            DRILL_OPENED_TIMER,
            marker,
            slot.plus(MARKER_KEPT),
            json!({"drill": drill.name, "slot": slot}),
        );
        let written = self
            .open_with_timers(&who, Source::Schedule, request, vec![mark])
            .await?;
        let incident = written.incident;
        let catalog = self.catalog();
        for command in &drill.commands {
            // A dry run where the command has one; a read-only command without one only reads.
            let dry_run = catalog
                .as_ref()
                .and_then(|catalog| catalog.get(&command.command).cloned())
                .is_none_or(|spec| spec.dry_run_args().is_some());
            let request = RunRequest {
                command: command.command.clone(),
                args: command.args.clone(),
                dry_run,
                incident: Some(incident.id),
                channel_id: incident.channel_id,
            };
            // A refusal is on the drill's timeline; the drill goes on.
            if let Requested::Ready(run) = self.request_run(&who, request).await? {
                self.start_in_background(run);
            }
        }
        Ok(())
    }

    /// Owes a Scheduled Event for drill `drill`'s `slot`.
    async fn announce_drill(&self, drill: &DrillSpec, slot: Timestamp) -> Result<(), OpsError> {
        let description = format!(
            "DRILL {}: {} ({}, {}). warroom opens the drill incident at this time.",
            drill.name,
            drill.title,
            drill.severity,
            local_time(&drill.recurrence, slot)
        );
        let title = format!("DRILL: {}", drill.title);
        self.store
            .queue_drill_announcement(&drill.name, slot, &title, &description, self.clock.now())
            .await?;
        self.announce_run();
        Ok(())
    }
}

struct CheckTimer;

#[async_trait]
impl TimerHandler for CheckTimer {
    fn kind(&self) -> &'static str {
        CHECK_TIMER
    }

    async fn fire(&self, ops: &Ops, timer: &Timer, now: Timestamp) -> Result<Fired, OpsError> {
        let Some(check) = ops.config().check(&timer.subject).cloned() else {
            return Ok(Fired::Done);
        };
        ops.start_check(&check).await?;
        // From now, not from the slot it was due: after a downtime it runs once, not per slot.
        Ok(check
            .recurrence
            .next_after(now)
            .map_or(Fired::Done, Fired::Again))
    }
}

struct DrillTimer;

#[async_trait]
impl TimerHandler for DrillTimer {
    fn kind(&self) -> &'static str {
        DRILL_TIMER
    }

    async fn fire(&self, ops: &Ops, timer: &Timer, now: Timestamp) -> Result<Fired, OpsError> {
        let Some(drill) = ops.config().drill(&timer.subject).cloned() else {
            return Ok(Fired::Done);
        };
        ops.open_drill(&drill, timer.due_at).await?;
        Ok(drill
            .recurrence
            .next_after(later(now, timer.due_at))
            .map_or(Fired::Done, Fired::Again))
    }
}

struct DrillAnnounceTimer;

#[async_trait]
impl TimerHandler for DrillAnnounceTimer {
    fn kind(&self) -> &'static str {
        DRILL_ANNOUNCE_TIMER
    }

    async fn fire(&self, ops: &Ops, timer: &Timer, now: Timestamp) -> Result<Fired, OpsError> {
        let Some(drill) = ops.config().drill(&timer.subject).cloned() else {
            return Ok(Fired::Done);
        };
        let Some(ahead) = drill.announce_ahead else {
            return Ok(Fired::Done);
        };
        // The slot this timer announces: the first at or after its due time plus the lead.
        let Some(slot) = drill
            .recurrence
            .next_after(timer.due_at.plus(ahead).minus(Duration::from_millis(1)))
        else {
            return Ok(Fired::Done);
        };
        if slot > now {
            ops.announce_drill(&drill, slot).await?;
        }
        Ok(drill
            .recurrence
            .next_after(later(slot, now))
            .map_or(Fired::Done, |next| Fired::Again(next.minus(ahead))))
    }
}

/// A drill slot's marker coming to the end of its keeping: nothing to do.
struct DrillOpenedMarker;

#[async_trait]
impl TimerHandler for DrillOpenedMarker {
    fn kind(&self) -> &'static str {
        DRILL_OPENED_TIMER
    }

    async fn fire(&self, _ops: &Ops, _timer: &Timer, _now: Timestamp) -> Result<Fired, OpsError> {
        Ok(Fired::Done)
    }
}

fn later(a: Timestamp, b: Timestamp) -> Timestamp {
    if a > b { a } else { b }
}

fn unknown_check(config: &crate::config::Config, name: &str) -> OpsError {
    let names: Vec<&str> = config
        .checks
        .iter()
        .map(|check| check.name.as_str())
        .collect();
    OpsError::Invalid(if names.is_empty() {
        format!("there is no check `{name}`: the configuration has no [checks.NAME]")
    } else {
        format!(
            "there is no check `{name}`; the configured checks are {}",
            names.join(", ")
        )
    })
}

/// `command key=value …` as configured.
fn check_command_line(check: &CheckSpec) -> String {
    if check.args.trim().is_empty() {
        check.command.clone()
    } else {
        format!("{} {}", check.command, check.args.trim())
    }
}

/// `exit code 3`, `timed out`, `refused`, ...
fn outcome_words(run: &Run) -> String {
    match (run.state, run.exit_code, &run.signal) {
        (RunState::TimedOut, _, _) => "timed out".to_owned(),
        (RunState::Denied, _, _) => "refused".to_owned(),
        (_, Some(code), _) => format!("exit code {code}"),
        (_, None, Some(signal)) => format!("killed by {signal}"),
        (state, None, None) => state.as_str().replace('_', " "),
    }
}

/// The end of the run's (already redacted) output.
fn output_tail(run: &Run) -> String {
    let output = run.output.as_deref().unwrap_or("");
    let count = output.chars().count();
    output
        .chars()
        .skip(count.saturating_sub(OUTPUT_TAIL_CHARS))
        .collect()
}

/// `at` in the schedule's own zone, e.g. `2026-04-07 10:00 CEST`.
pub fn local_time(recurrence: &Recurrence, at: Timestamp) -> String {
    at.to_datetime()
        .with_timezone(&recurrence.timezone())
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// When each check and drill runs in `(from, from + within]`, earliest first; at most
/// `per_schedule` times of each (and how many more each has).
pub fn upcoming(
    config: &crate::config::Config,
    from: Timestamp,
    within: Duration,
    per_schedule: usize,
) -> (Vec<Upcoming>, Vec<(String, usize)>) {
    let until = from.plus(within);
    let mut rows = Vec::new();
    let mut more = Vec::new();
    let schedules = config
        .checks
        .iter()
        .map(|check| ("check", &check.name, &check.recurrence))
        .chain(
            config
                .drills
                .iter()
                .map(|drill| ("drill", &drill.name, &drill.recurrence)),
        );
    for (kind, name, recurrence) in schedules {
        let slots = recurrence.slots(from, until, per_schedule + 10_000);
        if slots.len() > per_schedule {
            more.push((name.clone(), slots.len() - per_schedule));
        }
        for at in slots.into_iter().take(per_schedule) {
            rows.push(Upcoming {
                at,
                kind,
                name: name.clone(),
                local: local_time(recurrence, at),
            });
        }
    }
    rows.sort_by(|a, b| (a.at, &a.name).cmp(&(b.at, &b.name)));
    (rows, more)
}
