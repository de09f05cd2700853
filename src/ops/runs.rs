//! Running approved commands: request (authorized and validated, or refused and recorded),
//! approval by a second person, denial, expiry, and execution claimed in the store so a run
//! starts at most once, whichever warroom process tries.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{Ops, OpsError, Permission, Principal};
use crate::config::bot_roles::ADMIN;
use crate::domain::{
    Actor, EventKind, IncidentId, NewEvent, Run, RunId, RunState, Timestamp, format_duration,
};
use crate::runner::{
    Catalog, CatalogHandle, CommandSpec, Exit, Invocation, Progress, Redactor, ReloadReport,
    RunError, RunOptions, RunOutcome, Runner, command_line, parse_args,
};
use crate::store::{AuditEntry, RunChange, RunClaim, RunWritten};

/// Added to a run's timeout (and kill grace) for its claim: a claim that outlives this is
/// a process that died mid-run, and its lock is freed.
const LEASE_MARGIN: Duration = Duration::from_secs(60);

/// How often a run waiting for its lock key asks again.
const LOCK_RETRY: Duration = Duration::from_secs(1);

/// At shutdown, how long to wait for runs whose processes have ended to be recorded: a few
/// writes each, so seconds are plenty unless the database is gone.
const RECORD_WAIT: Duration = Duration::from_secs(5);

/// How often the shutdown looks whether they are recorded.
const RECORD_POLL: Duration = Duration::from_millis(50);

/// A command name repeated in the refusal of an unknown command: longer than any
/// command's name ([`crate::runner::MAX_NAME_CHARS`]), short enough for one line.
const SHOWN_NAME_CHARS: usize = 80;

/// What [`Ops::shutdown_runs`] found, by the runs that were running in this process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunsShutdown {
    /// Ended by themselves within the grace (succeeded, failed or timed out).
    pub finished: Vec<RunId>,
    /// Stopped once the grace ran out, and recorded `interrupted`.
    pub interrupted: Vec<RunId>,
    /// Still `running` in the database when the shutdown gave up waiting.
    pub unrecorded: Vec<RunId>,
}

impl RunsShutdown {
    /// No run was running.
    pub fn is_empty(&self) -> bool {
        self.finished.is_empty() && self.interrupted.is_empty() && self.unrecorded.is_empty()
    }
}

/// What execution needs, set up by `warroom run` (the CLI has none).
#[derive(Debug)]
pub struct Commands {
    pub catalog: Arc<CatalogHandle>,
    pub runner: Arc<Runner>,
    /// Where each run's full output is written (`run-<id>.log`).
    pub output_dir: PathBuf,
    /// Names this process in claims, so a stuck run says who held it.
    pub instance: String,
}

#[derive(Clone, Debug)]
pub struct RunRequest {
    pub command: String,
    /// `key=value …` as typed.
    pub args: String,
    pub dry_run: bool,
    /// The incident it is for (the channel's), if any.
    pub incident: Option<IncidentId>,
    pub channel_id: Option<u64>,
}

/// What became of a request. A refused request is recorded too, with its reason.
#[derive(Clone, Debug)]
pub enum Requested {
    Denied(Run),
    AwaitingApproval(Run),
    /// Allowed to run now (no approval needed); call `execute_run`.
    Ready(Run),
}

impl Ops {
    fn commands(&self) -> Result<&Arc<Commands>, OpsError> {
        self.commands.as_ref().ok_or_else(|| {
            OpsError::Invalid(
                "approved commands run only inside `warroom run`; this process has none loaded"
                    .to_owned(),
            )
        })
    }

    /// The catalog as loaded now.
    pub fn catalog(&self) -> Option<Arc<Catalog>> {
        self.commands
            .as_ref()
            .map(|commands| commands.catalog.current())
    }

    /// The commands `who` may run, in name order.
    pub fn commands_for(&self, who: &Principal) -> Vec<Arc<CommandSpec>> {
        self.catalog()
            .map(|catalog| {
                catalog
                    .visible_to(|role| who.holds(role))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Re-reads the catalog (admins only); an invalid one leaves the current in place.
    pub async fn reload_catalog(&self, who: &Principal) -> Result<ReloadReport, OpsError> {
        if !who.holds(ADMIN) {
            return Err(OpsError::Forbidden {
                role: ADMIN.to_owned(),
                action: "reload the command catalog",
            });
        }
        let handle = self.commands()?.catalog.clone();
        tokio::task::spawn_blocking(move || handle.reload())
            .await
            .map_err(|error| OpsError::Invalid(format!("the reload stopped: {error}")))?
            .map_err(|error| {
                OpsError::Invalid(format!("{error}\nThe catalog in use is unchanged."))
            })
    }

    /// Requests a run: the command must be in the catalog, the caller must hold one of its
    /// roles, the values must pass; a command for incidents needs one. Every refusal is
    /// recorded (a denied run with its reason) and runs nothing. An unknown incident is an
    /// error (`NotFound`), found before anything is written. What is recorded is shown, so
    /// values that look like secrets (and the command's own secrets) are redacted there.
    pub async fn request_run(
        &self,
        who: &Principal,
        request: RunRequest,
    ) -> Result<Requested, OpsError> {
        let commands = self.commands()?.clone();
        if let Some(incident) = request.incident {
            self.incident(incident).await?;
        }
        let catalog = commands.catalog.current();
        let Some(spec) = catalog.get(&request.command).cloned() else {
            let shown = commands.runner.argument_redactor(&[]);
            let name: String = request.command.chars().take(SHOWN_NAME_CHARS).collect();
            let run = self.new_run(&name, String::new(), who, &request, &shown);
            let reason = format!(
                "`{}` is not an approved command; `/commands` lists the ones you may run",
                shown.redact(&name)
            );
            return self.record_denial(run, reason).await;
        };
        let shown = commands.runner.argument_redactor(spec.env());
        let mut run = self.new_run(
            spec.name(),
            spec.program().display().to_string(),
            who,
            &request,
            &shown,
        );
        run.risk = spec.risk().as_str().to_owned();
        if spec.requires_incident() && request.incident.is_none() {
            let reason = format!(
                "`{}` runs only for an incident; run it in the incident's channel",
                spec.name()
            );
            return self.record_denial(run, reason).await;
        }
        // Deny by default: only the roles the command names may run it.
        if !spec.may_run(|role| who.holds(role)) {
            let reason = format!(
                "you need one of the roles {} to run `{}`",
                spec.allowed_roles()
                    .iter()
                    .map(|role| format!("`{role}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                spec.name()
            );
            return self.record_denial(run, reason).await;
        }
        let invocation = match parse_args(&request.args)
            .and_then(|values| spec.bind(&values, request.dry_run))
        {
            Ok(invocation) => invocation,
            Err(error) => {
                let reason = shown.redact(&error.to_string()).into_owned();
                return self.record_denial(run, reason).await;
            }
        };
        bind_request(&mut run, &invocation, &shown);
        // A dry run only reads (its arguments are the command's `dry_run_args`), so it needs
        // nobody's approval.
        let approval = spec.approval().filter(|_| !request.dry_run);
        if let Some(approval) = approval {
            run.approvals_needed = approval.approvers;
            run.approver_roles = approval.roles.clone();
            run.expires_at = Some(run.requested_at.plus(approval.expires));
        } else {
            run.state = RunState::Approved;
        }
        let text = format!(
            "{} requested `{}`{}: {}",
            who.actor.name,
            spec.name(),
            if request.dry_run { " (dry run)" } else { "" },
            shown_command_line(&run)
        );
        let actor = who.actor.clone();
        let record = |run: &Run| {
            vec![self.run_event(
                EventKind::CommandRequested,
                actor.clone(),
                text.clone(),
                run,
            )]
        };
        let written = self.store.create_run(run, &record).await?;
        let run = self.after_run_write(written);
        Ok(if run.state == RunState::Approved {
            Requested::Ready(run)
        } else {
            Requested::AwaitingApproval(run)
        })
    }

    /// A request as recorded before anything is decided: what was asked, by whom, redacted.
    fn new_run(
        &self,
        command: &str,
        program: String,
        who: &Principal,
        request: &RunRequest,
        shown: &Redactor,
    ) -> Run {
        let mut run = Run::new(command, program, who.actor.clone(), self.clock.now());
        run.incident_id = request.incident;
        run.args_text = shown.redact(&request.args).into_owned();
        run.dry_run = request.dry_run;
        run.channel_id = request.channel_id;
        run
    }

    /// Records a refused request. `reason` is shown as it is: redact it first.
    async fn record_denial(&self, mut run: Run, reason: String) -> Result<Requested, OpsError> {
        run.state = RunState::Denied;
        run.reason = Some(reason.clone());
        run.decided_by = Some(Actor::system());
        let text = format!(
            "`{}` for {} was refused: {reason}",
            run.command, run.requested_by.name
        );
        let actor = run.requested_by.clone();
        let record = |run: &Run| {
            vec![self.run_event(EventKind::CommandDenied, actor.clone(), text.clone(), run)]
        };
        let written = self.store.create_run(run, &record).await?;
        Ok(Requested::Denied(self.after_run_write(written)))
    }

    /// `who` approves run `id`. The approver must hold one of the approving roles recorded
    /// with the request, must not be the requester, and must be in time.
    pub async fn approve_run(&self, who: &Principal, id: RunId) -> Result<Run, OpsError> {
        let run = self.run(id).await?;
        // The requester hears the real reason first: nobody approves their own request.
        if who.actor.id == run.requested_by.id {
            return Err(crate::domain::RunRefusal::OwnRequest { id }.into());
        }
        if !run.approver_roles.iter().any(|role| who.holds(role)) {
            return Err(OpsError::Forbidden {
                role: run.approver_roles.join("` or `"),
                action: Permission::ApproveRun.describe(),
            });
        }
        let now = self.clock.now();
        let actor = who.actor.clone();
        let ops = self.clone();
        let decide = move |current: &Run| {
            let next = current.approve(&actor, now)?;
            let text = if next.state == RunState::Approved {
                format!(
                    "{} approved {} (`{}`); it may run",
                    actor.name, current.id, current.command
                )
            } else {
                format!(
                    "{} approved {} (`{}`); {} more approval(s) needed",
                    actor.name,
                    current.id,
                    current.command,
                    next.approvals_missing()
                )
            };
            let event = ops.run_event(EventKind::CommandApproved, actor.clone(), text, &next);
            Ok(RunChange {
                run: next,
                events: vec![event],
            })
        };
        match self.store.update_run(id, &decide).await {
            Ok(written) => Ok(self.after_run_write(written)),
            Err(crate::store::StoreError::RunRefused(
                refusal @ crate::domain::RunRefusal::Expired { .. },
            )) => {
                // Record the expiry now, so the card and the timeline say so; the answer is
                // the same refusal as once the sweep has recorded it.
                self.expire_run(id).await?;
                Err(OpsError::RunRefused(refusal))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// An approver refuses run `id`, or its requester withdraws it.
    pub async fn deny_run(
        &self,
        who: &Principal,
        id: RunId,
        reason: Option<&str>,
    ) -> Result<Run, OpsError> {
        let run = self.run(id).await?;
        // A run past deciding says so before anyone is told about roles.
        if !matches!(run.state, RunState::Requested | RunState::Approved) {
            return Err(crate::domain::RunRefusal::WrongState {
                id,
                state: run.state,
                verb: "denied",
            }
            .into());
        }
        let withdrawing = who.actor.id == run.requested_by.id;
        if !withdrawing && !run.approver_roles.iter().any(|role| who.holds(role)) {
            return Err(OpsError::Forbidden {
                role: if run.approver_roles.is_empty() {
                    ADMIN.to_owned()
                } else {
                    run.approver_roles.join("` or `")
                },
                action: Permission::ApproveRun.describe(),
            });
        }
        let (state, verb) = if withdrawing {
            (RunState::Cancelled, "withdrew")
        } else {
            (RunState::Denied, "denied")
        };
        let reason = reason
            .unwrap_or(if withdrawing {
                "withdrawn by the requester"
            } else {
                "denied by an approver"
            })
            .to_owned();
        let actor = who.actor.clone();
        let ops = self.clone();
        let decide = move |current: &Run| {
            let next = current.decline(&actor, state, &reason)?;
            let text = format!(
                "{} {verb} {} (`{}`): {reason}",
                actor.name, current.id, current.command
            );
            let event = ops.run_event(EventKind::CommandDenied, actor.clone(), text, &next);
            Ok(RunChange {
                run: next,
                events: vec![event],
            })
        };
        let written = self.store.update_run(id, &decide).await?;
        Ok(self.after_run_write(written))
    }

    async fn expire_run(&self, id: RunId) -> Result<Option<Run>, OpsError> {
        let now = self.clock.now();
        let ops = self.clone();
        let decide = move |current: &Run| {
            if !current.is_expired(now) {
                return Ok(RunChange {
                    run: current.clone(),
                    events: Vec::new(),
                });
            }
            let mut next = current.clone();
            next.state = RunState::Expired;
            next.reason = Some("nobody approved it in time".to_owned());
            let text = format!(
                "{} (`{}`) expired: nobody approved it in time",
                current.id, current.command
            );
            let event = ops.run_event(EventKind::CommandExpired, Actor::system(), text, &next);
            Ok(RunChange {
                run: next,
                events: vec![event],
            })
        };
        let written = self.store.update_run(id, &decide).await?;
        let expired = !written.events.is_empty() || written.run.state == RunState::Expired;
        let run = self.after_run_write(written);
        Ok(expired.then_some(run))
    }

    /// Expires requests nobody approved in time, and fails runs whose process stopped while
    /// running them (their claim ran out). Called periodically by `warroom run`.
    pub async fn sweep_runs(&self) -> Result<Vec<Run>, OpsError> {
        let now = self.clock.now();
        let mut changed = Vec::new();
        for id in self.store.expired_runs(now).await? {
            if let Some(run) = self.expire_run(id).await? {
                changed.push(run);
            }
        }
        for id in self.store.abandoned_runs(now).await? {
            let lost = self.record_lost(id, now).await?;
            self.after_scheduled_run(&lost).await;
            changed.push(lost);
        }
        Ok(changed)
    }

    /// Fails a run whose process stopped before finishing it (its claim ran out at `now`).
    async fn record_lost(&self, id: RunId, now: Timestamp) -> Result<Run, OpsError> {
        let ops = self.clone();
        let decide = move |current: &Run| {
            let mut next = current.clone();
            if current.state != RunState::Running {
                return Ok(RunChange {
                    run: next,
                    events: Vec::new(),
                });
            }
            next.state = RunState::Failed;
            next.finished_at = Some(now);
            next.reason = Some(format!(
                "the warroom process running it ({}) stopped before it finished; whether the command completed is unknown",
                current.claimed_by.as_deref().unwrap_or("unknown")
            ));
            let text = format!(
                "{} (`{}`) was lost: {}",
                current.id,
                current.command,
                next.reason.as_deref().unwrap_or("")
            );
            let event = ops.run_event(EventKind::CommandFinished, Actor::system(), text, &next);
            Ok(RunChange {
                run: next,
                events: vec![event],
            })
        };
        let written = self.store.update_run(id, &decide).await?;
        Ok(self.after_run_write(written))
    }

    /// Runs an approved run to its end, reporting progress as it goes. The run is claimed in
    /// the store first, so it starts at most once; a run already started, finished or still
    /// awaiting approval is refused. It starts only if the catalog still resolves it to the
    /// command that was requested and approved (its fingerprint), and not while warroom
    /// shuts down; either refusal is recorded.
    pub async fn execute_run(
        &self,
        id: RunId,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Run, OpsError> {
        let finished = self.execute_approved(id, progress).await;
        // Where runs finish: a scheduled check counts its run's outcome.
        if let Ok(run) = &finished {
            self.after_scheduled_run(run).await;
        }
        finished
    }

    async fn execute_approved(
        &self,
        id: RunId,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Run, OpsError> {
        let commands = self.commands()?.clone();
        let run = self.run(id).await?;
        if run.state != RunState::Approved {
            return Err(OpsError::Invalid(format!(
                "{id} is {}, so it will not start",
                run.state
            )));
        }
        if commands.runner.is_shutting_down() {
            let reason = "warroom is shutting down, so it was not started; nothing ran: request it again once warroom is back";
            return self.fail_unstarted(id, reason.to_owned()).await;
        }
        let invocation = match approved_invocation(&commands, &run) {
            Ok(invocation) => invocation,
            Err(reason) => return self.fail_unstarted(id, reason).await,
        };
        if let Some(refused) = self
            .claim_for_start(&commands, &run, &invocation, progress)
            .await?
        {
            return refused;
        }
        let options = RunOptions {
            output_file: Some(commands.output_dir.join(format!("run-{}.log", id.0))),
            cancel: None,
        };
        let outcome = commands.runner.run(&invocation, options, progress).await;
        self.finish_run(id, outcome).await
    }

    /// Claims the run in the store (taking its lock key), retrying while another run holds
    /// the key, at most the run's timeout. `None` once claimed; otherwise what
    /// `execute_run` answers instead.
    async fn claim_for_start(
        &self,
        commands: &Commands,
        run: &Run,
        invocation: &Invocation,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Option<Result<Run, OpsError>>, OpsError> {
        let id = run.id;
        let grace = commands.runner.settings().kill_grace;
        let waiting_since = self.clock.now();
        loop {
            let now = self.clock.now();
            let lease_until = now.plus(invocation.timeout() + grace + LEASE_MARGIN);
            let text = format!(
                "{} started `{}`: {}",
                run.requested_by.name,
                run.command,
                shown_command_line(run)
            );
            let event = self.run_event(EventKind::CommandStarted, Actor::system(), text, run);
            match self
                .store
                .claim_run(id, &commands.instance, now, lease_until, event)
                .await?
            {
                RunClaim::Claimed(written) => {
                    self.after_run_write(*written);
                    return Ok(None);
                }
                RunClaim::NotClaimable(current) => {
                    return Ok(Some(Err(OpsError::Invalid(format!(
                        "{id} is {}, so it will not start again",
                        current.state
                    )))));
                }
                RunClaim::LockBusy { held_by } => {
                    if now.since(waiting_since) >= invocation.timeout() {
                        let reason = format!(
                            "waited {} for `{}`, held by {held_by}, and gave up; try again when it has finished",
                            format_duration(invocation.timeout()),
                            run.lock_key.as_deref().unwrap_or("")
                        );
                        return Ok(Some(self.fail_unstarted(id, reason).await));
                    }
                    if commands.runner.is_shutting_down() {
                        let reason = "warroom shut down while it waited for its lock; nothing ran: request it again once warroom is back";
                        return Ok(Some(self.fail_unstarted(id, reason.to_owned()).await));
                    }
                    progress(Progress::WaitingForLock {
                        key: run.lock_key.clone().unwrap_or_default(),
                    });
                    tokio::time::sleep(LOCK_RETRY).await;
                }
            }
        }
    }

    async fn fail_unstarted(&self, id: RunId, reason: String) -> Result<Run, OpsError> {
        let now = self.clock.now();
        let ops = self.clone();
        let decide = move |current: &Run| {
            let next = current.failed(now, reason.clone());
            let text = format!(
                "{} (`{}`) did not start: {reason}",
                current.id, current.command
            );
            let event = ops.run_event(EventKind::CommandFinished, Actor::system(), text, &next);
            Ok(RunChange {
                run: next,
                events: vec![event],
            })
        };
        let written = self.store.update_run(id, &decide).await?;
        Ok(self.after_run_write(written))
    }

    async fn finish_run(
        &self,
        id: RunId,
        outcome: Result<RunOutcome, RunError>,
    ) -> Result<Run, OpsError> {
        let now = self.clock.now();
        let ops = self.clone();
        let shutdown_grace = format_duration(
            self.commands()
                .map(|commands| commands.runner.settings().shutdown_grace)
                .unwrap_or_default(),
        );
        let decide = move |current: &Run| {
            let mut next = current.clone();
            next.finished_at = Some(now);
            next.lease_until = None;
            let text = match &outcome {
                Ok(outcome) => {
                    record_outcome(&mut next, outcome, now);
                    if outcome.interrupted {
                        next.reason = Some(format!(
                            "warroom shut down while it ran; it was stopped after the shutdown grace ({shutdown_grace}){}",
                            next.reason
                                .as_deref()
                                .map(|notes| format!("; {notes}"))
                                .unwrap_or_default()
                        ));
                    }
                    format!(
                        "{} (`{}`) {}: {}",
                        current.id,
                        current.command,
                        outcome.summary(),
                        shown_command_line(current)
                    )
                }
                Err(error) => {
                    next.state = RunState::Failed;
                    next.reason = Some(error.to_string());
                    format!("{} (`{}`) failed: {error}", current.id, current.command)
                }
            };
            let event = ops.run_event(EventKind::CommandFinished, Actor::system(), text, &next);
            Ok(RunChange {
                run: next,
                events: vec![event],
            })
        };
        let written = self.store.update_run(id, &decide).await?;
        crate::metrics::command_run(written.run.state.as_str());
        Ok(self.after_run_write(written))
    }

    /// Ends the runs of this process for a shutdown (call it once SIGTERM has arrived, after
    /// the HTTP server and Discord stopped taking requests, before the store is closed):
    /// nothing starts any more; running commands get `[commands] shutdown_grace` to finish;
    /// then their processes (group and every tracked descendant) are stopped and the runs
    /// recorded `interrupted`, each with its timeline event and audit row. Returns which
    /// runs ended how; a run whose end could not be recorded in time is `unrecorded` (the
    /// sweep of another process fails it once its claim runs out).
    pub async fn shutdown_runs(&self) -> Result<RunsShutdown, OpsError> {
        let commands = self.commands()?.clone();
        let running = self.running_here(&commands.instance).await?;
        commands.runner.shutdown().await;
        // The executions record how their runs ended as soon as the runner lets go of them.
        let give_up = tokio::time::Instant::now() + RECORD_WAIT;
        while !self.running_here(&commands.instance).await?.is_empty()
            && tokio::time::Instant::now() < give_up
        {
            tokio::time::sleep(RECORD_POLL).await;
        }
        let mut report = RunsShutdown::default();
        for id in running {
            let state = self.run(id).await?.state;
            match state {
                RunState::Interrupted => report.interrupted.push(id),
                RunState::Running => report.unrecorded.push(id),
                _ => report.finished.push(id),
            }
        }
        Ok(report)
    }

    /// The runs process `instance` claimed that are still running.
    async fn running_here(&self, instance: &str) -> Result<Vec<RunId>, OpsError> {
        // Every running run's claim runs out before the end of time, so this lists them all.
        let running = self
            .store
            .abandoned_runs(Timestamp::from_millis(i64::MAX))
            .await?;
        let mut here = Vec::new();
        for id in running {
            if let Some(run) = self.store.get_run(id).await?
                && run.state == RunState::Running
                && run.claimed_by.as_deref() == Some(instance)
            {
                here.push(id);
            }
        }
        Ok(here)
    }

    /// Remembers where a run's card is, to update it as the run moves on.
    pub async fn set_run_card(
        &self,
        id: RunId,
        channel_id: u64,
        message_id: u64,
    ) -> Result<Run, OpsError> {
        let decide = move |current: &Run| {
            let mut next = current.clone();
            next.channel_id = Some(channel_id);
            next.card_message_id = Some(message_id);
            Ok(RunChange {
                run: next,
                events: Vec::new(),
            })
        };
        Ok(self.store.update_run(id, &decide).await?.run)
    }

    /// A run and its audit trail; anyone who may view incidents may look.
    pub async fn show_run(&self, id: RunId) -> Result<(Run, Vec<AuditEntry>), OpsError> {
        let run = self.run(id).await?;
        let audit = self.store.run_audit(id).await?;
        Ok((run, audit))
    }

    async fn run(&self, id: RunId) -> Result<Run, OpsError> {
        self.store
            .get_run(id)
            .await?
            .ok_or_else(|| OpsError::Invalid(format!("{id} does not exist")))
    }

    /// An event about a run, carrying what the audit needs: the validated parameters, the
    /// argv, the people involved and, once finished, how it ended and the output's SHA-256.
    fn run_event(&self, kind: EventKind, actor: Actor, text: String, run: &Run) -> NewEvent {
        NewEvent::new(self.clock.now(), kind, actor, text).with_data(json!({
            "run": run.id,
            "command": run.command,
            "state": run.state,
            "values": run.values,
            "program": run.program,
            "argv": run.argv,
            "env": run.env,
            "workdir": run.workdir,
            "timeout_ms": run.timeout_ms,
            "fingerprint": run.fingerprint,
            "dry_run": run.dry_run,
            "risk": run.risk,
            "lock": run.lock_key,
            "requested_by": run.requested_by,
            "approvals": run.approvals,
            "decided_by": run.decided_by,
            "reason": run.reason,
            "exit_code": run.exit_code,
            "signal": run.signal,
            "timed_out": run.timed_out,
            "duration_ms": run.duration_ms,
            "output_bytes": run.output_bytes,
            "output_sha256": run.output_sha256,
        }))
    }

    /// After every run write: wake this process's workers (the run card is redrawn from the
    /// database by whoever shows Discord).
    fn after_run_write(&self, written: RunWritten) -> Run {
        match &written.incident {
            Some(incident) => self.announce(incident, &written.events),
            None => self.announce_run(),
        }
        written.run
    }
}

/// Fills a request with what it will run: the values (shown, and exactly for execution),
/// the argv and environment as shown, and the fingerprint of the whole resolved command.
fn bind_request(run: &mut Run, invocation: &Invocation, shown: &Redactor) {
    run.values = invocation
        .values()
        .iter()
        .map(|(name, value)| (name.clone(), shown.redact(value).into_owned()))
        .collect();
    run.exact_values = invocation.values().clone();
    run.argv = shown.redact_each(invocation.args());
    run.env = shown.redact_each(&invocation.env_lines());
    run.workdir = Some(invocation.workdir().display().to_string());
    run.timeout_ms = Some(invocation.timeout().as_millis() as i64);
    run.lock_key = invocation.lock().map(str::to_owned);
    run.risk = invocation.risk().as_str().to_owned();
    run.fingerprint = Some(invocation.fingerprint());
}

/// The run's argv on one line as shown (secrets redacted).
fn shown_command_line(run: &Run) -> String {
    let argv: Vec<String> = std::iter::once(run.program.clone())
        .chain(run.argv.iter().cloned())
        .collect();
    command_line(&argv)
}

/// What the catalog resolves an approved run to now, if that is still exactly what was
/// requested and approved; otherwise why it may not start.
fn approved_invocation(commands: &Commands, run: &Run) -> Result<Invocation, String> {
    let catalog = commands.catalog.current();
    let spec = catalog
        .get(&run.command)
        .ok_or_else(|| format!("`{}` is no longer in the catalog", run.command))?;
    let shown = commands.runner.argument_redactor(spec.env());
    let invocation = spec.bind(&run.exact_values, run.dry_run).map_err(|error| {
        format!(
            "its arguments are no longer valid: {}",
            shown.redact(&error.to_string())
        )
    })?;
    let unchanged = match &run.fingerprint {
        Some(requested) => {
            *requested == invocation.fingerprint()
                && run.approvals.iter().all(|approval| {
                    approval
                        .fingerprint
                        .as_ref()
                        .is_none_or(|approved| approved == requested)
                })
        }
        // A run requested before fingerprints: program and argv, as then.
        None => {
            invocation.program().display().to_string() == run.program
                && invocation.args() == run.argv.as_slice()
        }
    };
    if unchanged {
        return Ok(invocation);
    }
    let mut now = run.clone();
    bind_request(&mut now, &invocation, &shown);
    let changes = changes(run, &now);
    Err(format!(
        "`{}` changed in the catalog since it was requested ({}); what runs must be exactly what was approved, so request it again",
        run.command,
        if changes.is_empty() {
            "what it would run differs".to_owned()
        } else {
            changes.join("; ")
        }
    ))
}

/// How the resolved command `now` differs from the one `before` recorded, in words.
fn changes(before: &Run, now: &Run) -> Vec<String> {
    fn shown<T: std::fmt::Debug>(value: &Option<T>) -> String {
        match value {
            Some(value) => format!("{value:?}"),
            None => "none".to_owned(),
        }
    }
    let mut changes = Vec::new();
    let mut differs = |what: &str, old: String, new: String| {
        if old != new {
            changes.push(format!("{what} was {old}, is now {new}"));
        }
    };
    differs("the program", before.program.clone(), now.program.clone());
    differs(
        "the arguments",
        command_line(&before.argv),
        command_line(&now.argv),
    );
    differs(
        "the environment",
        format!("{:?}", before.env),
        format!("{:?}", now.env),
    );
    differs(
        "the working directory",
        shown(&before.workdir),
        shown(&now.workdir),
    );
    differs(
        "the timeout",
        before.timeout_ms.map_or("none".to_owned(), |ms| {
            format_duration(Duration::from_millis(ms as u64))
        }),
        now.timeout_ms.map_or("none".to_owned(), |ms| {
            format_duration(Duration::from_millis(ms as u64))
        }),
    );
    differs("the lock", shown(&before.lock_key), shown(&now.lock_key));
    differs("the risk", before.risk.clone(), now.risk.clone());
    changes
}

/// Writes how the process ended into the run.
fn record_outcome(next: &mut Run, outcome: &RunOutcome, now: Timestamp) {
    next.state = if outcome.interrupted {
        RunState::Interrupted
    } else if outcome.timed_out {
        RunState::TimedOut
    } else if outcome.succeeded() {
        RunState::Succeeded
    } else {
        RunState::Failed
    };
    match &outcome.exit {
        Exit::Code(code) => next.exit_code = Some(*code),
        Exit::Signal { name, .. } => next.signal = Some(name.clone()),
    }
    next.timed_out = outcome.timed_out;
    next.duration_ms = Some(outcome.duration.as_millis() as i64);
    // When the process really started: the claim's time was read before any wait for its
    // lock row.
    next.started_at = Some(Timestamp::from_millis(
        now.as_millis() - outcome.duration.as_millis() as i64,
    ));
    next.output = Some(outcome.output.text.clone());
    next.output_bytes = Some(outcome.output.total_bytes as i64);
    next.output_sha256 = Some(outcome.output.sha256.clone());
    next.output_file = outcome
        .output
        .file
        .as_ref()
        .map(|file| file.display().to_string());
    if !outcome.notes.is_empty() {
        next.reason = Some(outcome.notes.join("; "));
    }
}
