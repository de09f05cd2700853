//! The post-mortem's recovery log, the record the runbooks ask for at the end of a recovery:
//! what the data was restored from and the window lost against the service's RPO, the
//! commands run with their parameters and results, the checklist with who verified each item
//! and when, and how long it all took. Each fact comes from what the timeline recorded
//! (`rpo_recorded`, `command_finished`, `checklist_checked`, the incident's times); where
//! nothing was recorded the log says so in a prompt telling people what to write instead,
//! so a gap reads as a question, never as "nothing happened".
//!
//! One model ([`RecoveryLog`]), three renderings. Parameters are shown as the run recorded
//! them: values that look like secrets were redacted when the request was bound.

use std::io::{self, Write};
use std::time::Duration;

use serde_json::{Value, json};

use super::html::Escaped;
use super::markdown::{cell, inline};
use super::{CommandRun, Gathered, Report, Verdict};
use crate::domain::{Actor, RecoveryPoint, Timestamp, format_duration};

/// Where no backup restore was recorded.
pub const PROMPT_RESTORE: &str = "No backup restore recorded. If data was restored, note from where and the window lost (`/incident rpo restored_from:<time of the backup> note:<which backup>`); if none was lost, record `/incident rpo no_data_lost:true`.";
/// Where the data lost is unknown (no recovery point recorded).
pub const PROMPT_DATA_LOST: &str = "Data lost not recorded. Say how much data was lost (written between which times), or that none was.";
/// Where no approved command ran.
pub const PROMPT_COMMANDS: &str = "No approved command ran for this incident. If recovery steps were taken by hand, list each here: what was run, by whom, when, and its result.";
/// Where the service has no validation checklist.
pub const PROMPT_CHECKLIST: &str = "No validation checklist is configured for this incident's service. Note here how recovery was verified, by whom and when.";
/// Beside a checklist item nobody ticked.
pub const PROMPT_UNVERIFIED: &str = "not verified: note who checked it and when, or why not";
/// Where the incident is not resolved yet.
pub const PROMPT_UNRESOLVED: &str =
    "Not resolved yet: the total duration is known once it is resolved.";
/// Where no mitigation was recorded.
pub const PROMPT_UNMITIGATED: &str = "No mitigation recorded: note when the impact stopped.";

/// The recovery log of one export: a view of the report and what the timeline gave.
pub(super) struct RecoveryLog<'r, 'a> {
    report: &'r Report<'a>,
    gathered: &'r Gathered,
}

/// The data lost, as recorded.
enum DataLost<'r> {
    /// `rpo_recorded` with `no_data_lost`.
    Nothing(&'r RecoveryPoint),
    /// What was written between the backup restored and the incident's start.
    Window {
        from: Timestamp,
        to: Timestamp,
        lost: Duration,
    },
}

impl<'r, 'a> RecoveryLog<'r, 'a> {
    pub(super) fn new(report: &'r Report<'a>, gathered: &'r Gathered) -> RecoveryLog<'r, 'a> {
        RecoveryLog { report, gathered }
    }

    fn restore(&self) -> Option<&'r RecoveryPoint> {
        self.report.recovery_point.as_ref()
    }

    fn data_lost(&self) -> Option<DataLost<'r>> {
        let point = self.restore()?;
        let opened = self.report.incident.opened_at;
        Some(match point.restored_from {
            None => DataLost::Nothing(point),
            Some(from) => DataLost::Window {
                from,
                to: opened,
                lost: point.data_loss(opened),
            },
        })
    }

    /// The service's RPO and, once a recovery point is recorded, whether it was met.
    fn rpo(&self) -> Option<(Duration, Option<Verdict>)> {
        let objective = self.report.rpo()?;
        Some((
            objective.target,
            (objective.verdict != Verdict::Open).then_some(objective.verdict),
        ))
    }

    /// "against the RPO of 1h 00m 00s: met" (or why there is nothing to judge against).
    fn rpo_judgement(&self) -> String {
        match (self.rpo(), self.report.service) {
            (Some((target, Some(verdict))), _) => format!(
                "against the RPO of {}: {}",
                format_duration(target),
                verdict.as_str()
            ),
            (Some((target, None)), _) => format!("the RPO is {}", format_duration(target)),
            (None, _) => "no RPO to judge it against: the incident has no service".to_owned(),
        }
    }

    fn total(&self) -> Option<Duration> {
        self.report.key_times().to_resolve
    }

    fn to_mitigate(&self) -> Option<Duration> {
        self.report.key_times().to_mitigate
    }

    fn checklist_configured(&self) -> bool {
        !self.gathered.checklist.is_empty()
    }

    /// The prompts left for people, by the part of the log they stand in for.
    fn prompts(&self) -> Vec<(&'static str, &'static str)> {
        let mut prompts = Vec::new();
        if self.restore().is_none() {
            prompts.push(("restore", PROMPT_RESTORE));
            prompts.push(("data_lost", PROMPT_DATA_LOST));
        }
        if self.gathered.commands.is_empty() {
            prompts.push(("commands", PROMPT_COMMANDS));
        }
        if !self.checklist_configured() {
            prompts.push(("checklist", PROMPT_CHECKLIST));
        } else if self
            .gathered
            .checklist
            .iter()
            .any(|entry| entry.checked.is_none())
        {
            prompts.push(("checklist", PROMPT_UNVERIFIED));
        }
        if self.report.incident.mitigated_at.is_none() {
            prompts.push(("time_to_mitigate", PROMPT_UNMITIGATED));
        }
        if self.report.incident.resolved_at.is_none() {
            prompts.push(("total_duration", PROMPT_UNRESOLVED));
        }
        prompts
    }
}

/// `backup=app-1.dump, database=app`, or `none`.
fn params(run: &CommandRun) -> String {
    if run.params.is_empty() {
        return "none".to_owned();
    }
    run.params
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn run_duration(run: &CommandRun) -> String {
    run.duration_ms
        .map(|ms| format_duration(Duration::from_millis(ms)))
        .unwrap_or_default()
}

fn name_of(actor: Option<&Actor>) -> &str {
    actor.map_or("", |actor| actor.name.as_str())
}

// ---------------------------------------------------------------------------------------
// Markdown

pub(super) fn markdown(out: &mut dyn Write, log: &RecoveryLog<'_, '_>) -> io::Result<()> {
    let gathered = log.gathered;
    let incident = log.report.incident;
    writeln!(out, "## Recovery log")?;
    writeln!(out)?;

    writeln!(out, "### Backup restored")?;
    writeln!(out)?;
    match log.restore() {
        None => writeln!(out, "_{PROMPT_RESTORE}_")?,
        Some(point) => {
            writeln!(out, "| | |")?;
            writeln!(out, "|---|---|")?;
            match point.restored_from {
                Some(from) => {
                    writeln!(out, "| Restored from | the backup of {} |", from.to_human())?
                }
                None => writeln!(out, "| Restored from | nothing: no data lost |")?,
            }
            match &point.note {
                Some(note) => writeln!(out, "| Note | {} |", cell(note))?,
                None => writeln!(
                    out,
                    "| Note | _which backup (file, snapshot) was not noted: add it here_ |"
                )?,
            }
            writeln!(
                out,
                "| Recorded | by {} at {} |",
                cell(&point.by.name),
                point.at.to_human()
            )?;
        }
    }
    writeln!(out)?;

    writeln!(out, "### Data lost")?;
    writeln!(out)?;
    match log.data_lost() {
        None => writeln!(out, "_{PROMPT_DATA_LOST}_")?,
        Some(DataLost::Nothing(point)) => writeln!(
            out,
            "None: no data lost (recorded by {}), {}.",
            inline(&point.by.name),
            log.rpo_judgement()
        )?,
        Some(DataLost::Window { from, to, lost }) => writeln!(
            out,
            "{}: what was written between {} (the backup restored) and {} (the incident opened), {}.",
            format_duration(lost),
            from.to_human(),
            to.to_human(),
            log.rpo_judgement()
        )?,
    }
    writeln!(out)?;

    writeln!(out, "### Commands run")?;
    writeln!(out)?;
    if gathered.commands.is_empty() {
        writeln!(out, "_{PROMPT_COMMANDS}_")?;
    } else {
        writeln!(
            out,
            "| Run | Command | Parameters | Requested by | Approved by | Result | Duration | Finished (UTC) | Output SHA-256 |"
        )?;
        writeln!(out, "|---|---|---|---|---|---|---|---|---|")?;
        for run in &gathered.commands {
            let approvers: Vec<String> = run
                .approvers
                .iter()
                .map(|actor| cell(&actor.name))
                .collect();
            writeln!(
                out,
                "| RUN-{} | `{}`{} | {} | {} | {} | {} | {} | {} | {} |",
                run.run,
                cell(&run.command),
                if run.dry_run { " (dry run)" } else { "" },
                cell(&params(run)),
                cell(name_of(run.requested_by.as_ref())),
                if approvers.is_empty() {
                    "not needed".to_owned()
                } else {
                    approvers.join(", ")
                },
                cell(&run.outcome()),
                run_duration(run),
                run.finished_at.human(),
                run.output_sha256
                    .as_deref()
                    .map(|sha| format!("`{sha}`"))
                    .unwrap_or_default(),
            )?;
        }
    }
    if gathered.commands_not_run > 0 {
        writeln!(out)?;
        writeln!(
            out,
            "{} request(s) to run a command were refused or expired; the timeline says which and why.",
            gathered.commands_not_run
        )?;
    }
    writeln!(out)?;

    writeln!(out, "### Checklist")?;
    writeln!(out)?;
    match log.report.service {
        Some(service) if log.checklist_configured() => {
            writeln!(out, "What proves {} is back:", inline(&service.name))?;
            writeln!(out)?;
            for entry in &gathered.checklist {
                match &entry.checked {
                    Some((actor, at)) => writeln!(
                        out,
                        "- [x] {} (checked by {} at {})",
                        inline(&entry.item),
                        inline(&actor.name),
                        at.to_human()
                    )?,
                    None => writeln!(out, "- [ ] {} — _{PROMPT_UNVERIFIED}_", inline(&entry.item))?,
                }
            }
        }
        _ => writeln!(out, "_{PROMPT_CHECKLIST}_")?,
    }
    writeln!(out)?;

    writeln!(out, "### Duration")?;
    writeln!(out)?;
    writeln!(out, "| | |")?;
    writeln!(out, "|---|---|")?;
    match (log.total(), incident.resolved_at) {
        (Some(total), Some(resolved)) => writeln!(
            out,
            "| Total (opened → resolved) | {} (from {} to {}) |",
            format_duration(total),
            incident.opened_at.to_human(),
            resolved.to_human()
        )?,
        _ => writeln!(out, "| Total (opened → resolved) | _{PROMPT_UNRESOLVED}_ |")?,
    }
    match log.to_mitigate() {
        Some(took) => writeln!(out, "| Time to mitigate | {} |", format_duration(took))?,
        None => writeln!(out, "| Time to mitigate | _{PROMPT_UNMITIGATED}_ |")?,
    }
    writeln!(out)
}

// ---------------------------------------------------------------------------------------
// JSON

fn millis(duration: Option<Duration>) -> Value {
    duration.map_or(Value::Null, |duration| json!(duration.as_millis() as u64))
}

pub(super) fn json(log: &RecoveryLog<'_, '_>) -> Value {
    let incident = log.report.incident;
    let rpo = log.rpo();
    let data_lost = match log.data_lost() {
        None => Value::Null,
        Some(DataLost::Nothing(_)) => json!({
            "none": true,
            "from": null,
            "to": null,
            "window_ms": 0,
        }),
        Some(DataLost::Window { from, to, lost }) => json!({
            "none": false,
            "from": from,
            "to": to,
            "window_ms": lost.as_millis() as u64,
        }),
    };
    let data_lost = match data_lost {
        Value::Object(mut fields) => {
            fields.insert(
                "rpo_ms".to_owned(),
                rpo.map_or(Value::Null, |(target, _)| json!(target.as_millis() as u64)),
            );
            fields.insert(
                "result".to_owned(),
                rpo.and_then(|(_, verdict)| verdict)
                    .map_or(Value::Null, |verdict| json!(verdict.as_str())),
            );
            Value::Object(fields)
        }
        other => other,
    };
    let commands: Vec<Value> = log
        .gathered
        .commands
        .iter()
        .map(|run| {
            json!({
                "run": run.run,
                "command": run.command,
                "params": run.params,
                "dry_run": run.dry_run,
                "requested_by": run.requested_by,
                "approvers": run.approvers,
                "state": run.state,
                "result": run.outcome(),
                "exit_code": run.exit_code,
                "signal": run.signal,
                "duration_ms": run.duration_ms,
                "finished_at": run.finished_at,
                "output_sha256": run.output_sha256,
            })
        })
        .collect();
    let checklist: Vec<Value> = log
        .gathered
        .checklist
        .iter()
        .map(|entry| {
            json!({
                "item": entry.item,
                "verified": entry.checked.is_some(),
                "by": entry.checked.as_ref().map(|(actor, _)| actor),
                "at": entry.checked.as_ref().map(|(_, at)| at),
            })
        })
        .collect();
    let prompts: serde_json::Map<String, Value> = log
        .prompts()
        .into_iter()
        .map(|(part, prompt)| (part.to_owned(), json!(prompt)))
        .collect();
    json!({
        "restore": log.restore().map(|point| json!({
            "restored_from": point.restored_from,
            "no_data_lost": point.restored_from.is_none(),
            "note": point.note,
            "recorded_by": point.by,
            "recorded_at": point.at,
        })),
        "data_lost": data_lost,
        "commands": commands,
        "commands_not_run": log.gathered.commands_not_run,
        "checklist": checklist,
        "duration": {
            "opened_at": incident.opened_at,
            "mitigated_at": incident.mitigated_at,
            "resolved_at": incident.resolved_at,
            "total_ms": millis(log.total()),
            "time_to_mitigate_ms": millis(log.to_mitigate()),
        },
        "prompts": prompts,
    })
}

// ---------------------------------------------------------------------------------------
// HTML

pub(super) fn html(out: &mut dyn Write, log: &RecoveryLog<'_, '_>) -> io::Result<()> {
    let gathered = log.gathered;
    let incident = log.report.incident;
    let prompt = |out: &mut dyn Write, text: &str| -> io::Result<()> {
        writeln!(out, "<p class=todo>{}</p>", Escaped(text))
    };
    writeln!(out, "<h2>Recovery log</h2>")?;

    writeln!(out, "<h3>Backup restored</h3>")?;
    match log.restore() {
        None => prompt(out, PROMPT_RESTORE)?,
        Some(point) => {
            writeln!(out, "<table>")?;
            match point.restored_from {
                Some(from) => writeln!(
                    out,
                    "<tr><th>Restored from</th><td>the backup of {}</td></tr>",
                    from.human()
                )?,
                None => writeln!(
                    out,
                    "<tr><th>Restored from</th><td>nothing: no data lost</td></tr>"
                )?,
            }
            match &point.note {
                Some(note) => writeln!(
                    out,
                    "<tr><th>Note</th><td class=text>{}</td></tr>",
                    Escaped(note)
                )?,
                None => writeln!(
                    out,
                    "<tr><th>Note</th><td class=todo>which backup (file, snapshot) was not noted: add it here</td></tr>"
                )?,
            }
            writeln!(
                out,
                "<tr><th>Recorded</th><td>by {} at {}</td></tr></table>",
                Escaped(&point.by.name),
                point.at.human()
            )?;
        }
    }

    writeln!(out, "<h3>Data lost</h3>")?;
    match log.data_lost() {
        None => prompt(out, PROMPT_DATA_LOST)?,
        Some(DataLost::Nothing(point)) => writeln!(
            out,
            "<p>None: no data lost (recorded by {}), {}.</p>",
            Escaped(&point.by.name),
            Escaped(&log.rpo_judgement())
        )?,
        Some(DataLost::Window { from, to, lost }) => writeln!(
            out,
            "<p>{}: what was written between {} (the backup restored) and {} (the incident opened), {}.</p>",
            format_duration(lost),
            from.human(),
            to.human(),
            Escaped(&log.rpo_judgement())
        )?,
    }

    writeln!(out, "<h3>Commands run</h3>")?;
    if gathered.commands.is_empty() {
        prompt(out, PROMPT_COMMANDS)?;
    } else {
        writeln!(
            out,
            "<table><tr><th>Run</th><th>Command</th><th>Parameters</th><th>Requested by</th><th>Approved by</th><th>Result</th><th>Duration</th><th>Finished (UTC)</th><th>Output SHA-256</th></tr>"
        )?;
        for run in &gathered.commands {
            let approvers: Vec<String> = run
                .approvers
                .iter()
                .map(|actor| Escaped(&actor.name).to_string())
                .collect();
            writeln!(
                out,
                "<tr><td>RUN-{}</td><td><code>{}</code>{}</td><td class=text>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=t>{}</td><td><code>{}</code></td></tr>",
                run.run,
                Escaped(&run.command),
                if run.dry_run { " (dry run)" } else { "" },
                Escaped(&params(run)),
                Escaped(name_of(run.requested_by.as_ref())),
                if approvers.is_empty() {
                    "not needed".to_owned()
                } else {
                    approvers.join(", ")
                },
                Escaped(&run.outcome()),
                run_duration(run),
                run.finished_at.human(),
                Escaped(run.output_sha256.as_deref().unwrap_or(""))
            )?;
        }
        writeln!(out, "</table>")?;
    }
    if gathered.commands_not_run > 0 {
        writeln!(
            out,
            "<p>{} request(s) to run a command were refused or expired; the timeline says which and why.</p>",
            gathered.commands_not_run
        )?;
    }

    writeln!(out, "<h3>Checklist</h3>")?;
    match log.report.service {
        Some(service) if log.checklist_configured() => {
            writeln!(
                out,
                "<p>What proves {} is back:</p><ul>",
                Escaped(&service.name)
            )?;
            for entry in &gathered.checklist {
                match &entry.checked {
                    Some((actor, at)) => writeln!(
                        out,
                        "<li>☑ {} <span class=todo>(checked by {} at {})</span></li>",
                        Escaped(&entry.item),
                        Escaped(&actor.name),
                        at.human()
                    )?,
                    None => writeln!(
                        out,
                        "<li>☐ {} <span class=todo>— {}</span></li>",
                        Escaped(&entry.item),
                        Escaped(PROMPT_UNVERIFIED)
                    )?,
                }
            }
            writeln!(out, "</ul>")?;
        }
        _ => prompt(out, PROMPT_CHECKLIST)?,
    }

    writeln!(out, "<h3>Duration</h3><table>")?;
    match (log.total(), incident.resolved_at) {
        (Some(total), Some(resolved)) => writeln!(
            out,
            "<tr><th>Total (opened → resolved)</th><td>{} (from {} to {})</td></tr>",
            format_duration(total),
            incident.opened_at.human(),
            resolved.human()
        )?,
        _ => writeln!(
            out,
            "<tr><th>Total (opened → resolved)</th><td class=todo>{}</td></tr>",
            Escaped(PROMPT_UNRESOLVED)
        )?,
    }
    match log.to_mitigate() {
        Some(took) => writeln!(
            out,
            "<tr><th>Time to mitigate</th><td>{}</td></tr>",
            format_duration(took)
        )?,
        None => writeln!(
            out,
            "<tr><th>Time to mitigate</th><td class=todo>{}</td></tr>",
            Escaped(PROMPT_UNMITIGATED)
        )?,
    }
    writeln!(out, "</table>")
}
