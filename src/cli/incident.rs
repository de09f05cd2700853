//! `warroom incident ...`: the incident lifecycle without Discord, printed for people or as
//! the stable JSON of README's "JSON output".

use std::io::Write;

use clap::Subcommand;
use serde_json::json;

use crate::domain::{Actor, Event, Incident, IncidentId, Source, Status};
use crate::ops::{OpenRequest, Ops, Principal, RpoRequest};
use crate::store::{IncidentFilter, Written};

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// List incidents, newest first
    List {
        /// Only incidents with this status (open, acknowledged, mitigated, resolved)
        #[arg(long)]
        status: Option<Status>,
        #[arg(long)]
        json: bool,
    },
    /// Show an incident and its whole timeline
    Show {
        id: IncidentId,
        #[arg(long)]
        json: bool,
    },
    /// Open an incident
    Open {
        #[arg(long)]
        title: String,
        /// One of the configured severities, e.g. SEV2
        #[arg(long)]
        severity: String,
        #[arg(long)]
        service: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        /// A practice incident: pages stay inside Discord and say DRILL
        #[arg(long)]
        drill: bool,
        /// A private incident: its channel and records are seen only by [incidents]
        /// private_roles and the people added to it
        #[arg(long)]
        private: bool,
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge an incident (stops escalation)
    Ack {
        id: IncidentId,
        #[arg(long)]
        json: bool,
    },
    /// Mark an incident mitigated
    Mitigate {
        id: IncidentId,
        #[arg(long)]
        note: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Resolve an incident
    Resolve {
        id: IncidentId,
        #[arg(long)]
        summary: Option<String>,
        /// Resolve even though items of the service's checklist are unticked
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Reopen a resolved incident
    Reopen {
        id: IncidentId,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Add a note to the timeline
    Note {
        id: IncidentId,
        text: String,
        #[arg(long)]
        json: bool,
    },
    /// Post a status update
    Update {
        id: IncidentId,
        text: String,
        #[arg(long)]
        json: bool,
    },
    /// Change the severity
    Severity {
        id: IncidentId,
        level: String,
        #[arg(long)]
        json: bool,
    },
    /// Assign an incident role (e.g. commander) to a Discord user
    Assign {
        id: IncidentId,
        role: String,
        /// The Discord user id of the person
        user_id: u64,
        /// Their display name, for the timeline
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Tick an item of the service's validation checklist
    Check {
        id: IncidentId,
        /// The item, as written in the service's checklist (case does not matter)
        item: String,
        /// Untick it instead
        #[arg(long)]
        undo: bool,
        #[arg(long)]
        json: bool,
    },
    /// Record the recovery point: the time of the backup restored, or that no data was lost
    Rpo {
        id: IncidentId,
        /// When the restored backup was taken: RFC 3339 or "2026-12-06 14:05" (UTC)
        #[arg(
            long,
            required_unless_present = "no_data_lost",
            conflicts_with = "no_data_lost"
        )]
        restored_from: Option<String>,
        /// Nothing was lost (no restore from a backup)
        #[arg(long)]
        no_data_lost: bool,
        #[arg(long)]
        note: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show, schedule or complete the post-incident review of a resolved incident
    Review(super::followup::ReviewArgs),
    /// Follow-up action items
    Action {
        #[command(subcommand)]
        command: super::followup::ActionCommand,
    },
}

pub(super) async fn execute(
    ops: &Ops,
    who: &Principal,
    command: IncidentCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match command {
        IncidentCommand::List { status, json } => list(ops, who, status, json, out).await,
        IncidentCommand::Show { id, json } => show(ops, who, id, json, out).await,
        IncidentCommand::Review(args) => super::followup::review(ops, who, args, out).await,
        IncidentCommand::Action { command } => {
            super::followup::action(ops, who, command, out).await
        }
        change => {
            let (written, json, verb) = apply(ops, who, change).await?;
            report(out, &written, json, verb)
        }
    }
}

async fn list(
    ops: &Ops,
    who: &Principal,
    status: Option<Status>,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let filter = IncidentFilter {
        statuses: status.into_iter().collect(),
        ..IncidentFilter::default()
    };
    let incidents = ops.list(who, &filter).await?;
    if json {
        serde_json::to_writer_pretty(&mut *out, &incidents)?;
        writeln!(out)?;
    } else {
        print_incident_table(out, &incidents)?;
    }
    Ok(())
}

async fn show(
    ops: &Ops,
    who: &Principal,
    id: IncidentId,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let incident = ops.show(who, id).await?;
    let mut timeline = Vec::new();
    let mut after = 0;
    loop {
        let page = ops.timeline_page(who, id, after).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        timeline.extend(page);
    }
    if json {
        serde_json::to_writer_pretty(
            &mut *out,
            &json!({"incident": incident, "timeline": timeline}),
        )?;
        writeln!(out)?;
    } else {
        print_incident(out, &incident)?;
        writeln!(out, "\nTimeline:")?;
        for event in &timeline {
            print_event(out, event)?;
        }
    }
    Ok(())
}

/// Runs a change command: what it wrote, whether to print JSON, and the verb to print.
async fn apply(
    ops: &Ops,
    who: &Principal,
    command: IncidentCommand,
) -> anyhow::Result<(Written, bool, &'static str)> {
    Ok(match command {
        IncidentCommand::List { .. }
        | IncidentCommand::Show { .. }
        | IncidentCommand::Review(_)
        | IncidentCommand::Action { .. } => {
            unreachable!("reads are handled by execute")
        }
        IncidentCommand::Open {
            title,
            severity,
            service,
            description,
            drill,
            private,
            json,
        } => {
            let request = OpenRequest {
                title,
                severity,
                service,
                description,
                drill,
                private,
            };
            (ops.open(who, Source::Cli, request).await?, json, "opened")
        }
        IncidentCommand::Ack { id, json } => {
            (ops.acknowledge(who, id).await?, json, "acknowledged")
        }
        IncidentCommand::Mitigate { id, note, json } => (
            ops.mitigate(who, id, note.as_deref()).await?,
            json,
            "mitigated",
        ),
        IncidentCommand::Resolve {
            id,
            summary,
            force,
            json,
        } => (
            ops.resolve_checked(who, id, summary.as_deref(), force)
                .await?,
            json,
            "resolved",
        ),
        IncidentCommand::Check {
            id,
            item,
            undo,
            json,
        } => (
            ops.check_item(who, id, &item, undo).await?,
            json,
            if undo { "unticked" } else { "ticked" },
        ),
        IncidentCommand::Rpo {
            id,
            restored_from,
            no_data_lost,
            note,
            json,
        } => {
            let request = RpoRequest {
                restored_from,
                no_data_lost,
                note,
            };
            (ops.record_rpo(who, id, request).await?, json, "recorded")
        }
        IncidentCommand::Reopen { id, reason, json } => (
            ops.reopen(who, id, reason.as_deref()).await?,
            json,
            "reopened",
        ),
        IncidentCommand::Note { id, text, json } => {
            (ops.add_note(who, id, &text).await?, json, "noted")
        }
        IncidentCommand::Update { id, text, json } => (
            ops.post_status_update(who, id, &text).await?,
            json,
            "updated",
        ),
        IncidentCommand::Severity { id, level, json } => {
            (ops.change_severity(who, id, &level).await?, json, "changed")
        }
        IncidentCommand::Assign {
            id,
            role,
            user_id,
            name,
            json,
        } => {
            let assignee = Actor::discord(user_id, name.unwrap_or_else(|| user_id.to_string()));
            (
                ops.assign_role(who, id, &role, assignee).await?,
                json,
                "assigned",
            )
        }
    })
}

/// What a change command prints: a line per event, or `{"incident": ..., "events": [...]}`.
fn report(out: &mut impl Write, written: &Written, json: bool, verb: &str) -> anyhow::Result<()> {
    if json {
        serde_json::to_writer_pretty(
            &mut *out,
            &json!({"incident": written.incident, "events": written.events}),
        )?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{} {verb}: {}",
        written.incident.id, written.incident.title
    )?;
    for event in &written.events {
        print_event(out, event)?;
    }
    Ok(())
}

fn print_incident_table(out: &mut impl Write, incidents: &[Incident]) -> std::io::Result<()> {
    if incidents.is_empty() {
        return writeln!(out, "no incidents");
    }
    writeln!(
        out,
        "{:<9} {:<13} {:<9} {:<12} {:<24} TITLE",
        "ID", "STATUS", "SEVERITY", "SERVICE", "OPENED (UTC)"
    )?;
    for incident in incidents {
        writeln!(
            out,
            "{:<9} {:<13} {:<9} {:<12} {:<24} {}{}",
            incident.id.to_string(),
            incident.status.as_str(),
            incident.severity,
            incident.service.as_deref().unwrap_or("-"),
            incident.opened_at.to_human().trim_end_matches(" UTC"),
            if incident.drill { "[DRILL] " } else { "" },
            incident.title
        )?;
    }
    Ok(())
}

fn print_incident(out: &mut impl Write, incident: &Incident) -> std::io::Result<()> {
    writeln!(out, "{}: {}", incident.id, incident.title)?;
    writeln!(out, "  status        {}", incident.status)?;
    writeln!(out, "  severity      {}", incident.severity)?;
    writeln!(
        out,
        "  service       {}",
        incident.service.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "  drill         {}",
        if incident.drill { "yes" } else { "no" }
    )?;
    writeln!(
        out,
        "  opened        {} by {} via {}",
        incident.opened_at.to_human(),
        incident.opened_by,
        incident.source.as_str()
    )?;
    if let (Some(at), Some(by)) = (incident.acknowledged_at, &incident.acknowledged_by) {
        writeln!(out, "  acknowledged  {} by {by}", at.to_human())?;
    }
    if let Some(at) = incident.mitigated_at {
        writeln!(out, "  mitigated     {}", at.to_human())?;
    }
    if let Some(at) = incident.resolved_at {
        writeln!(out, "  resolved      {}", at.to_human())?;
    }
    for (role, holder) in &incident.roles {
        writeln!(out, "  {role:<13} {holder}")?;
    }
    if !incident.description.is_empty() {
        writeln!(out, "  description   {}", incident.description)?;
    }
    Ok(())
}

fn print_event(out: &mut impl Write, event: &Event) -> std::io::Result<()> {
    writeln!(
        out,
        "  #{:<4} {}  {:<16} {}  {}",
        event.seq,
        event.at.to_human(),
        event.kind.as_str(),
        event.actor,
        event.text
    )
}
