//! `warroom heartbeat NAME` (a check-in, as `POST /v1/heartbeats/NAME`) and `warroom
//! maintenance start|end|list` (as `/maintenance` in Discord): the same use cases.

use std::io::Write;

use clap::Subcommand;
use serde_json::json;

use crate::domain::MaintenanceWindow;
use crate::ops::{MaintenanceRequest, Ops, Principal};

#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// Start (or plan, with --start-at) a window: the service's alerts open nothing
    Start {
        /// A service from [services], or route:<name> for an alert route
        target: String,
        /// How long, like 2h or 90m
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
        /// Why (shown in the list)
        #[arg(long)]
        reason: String,
        /// When it starts, in RFC 3339 (default: now)
        #[arg(long, value_name = "TIME")]
        start_at: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// End a window early (or cancel a planned one)
    End {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// The windows running or planned
    List {
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn heartbeat(
    ops: &Ops,
    who: &Principal,
    name: &str,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let beat = ops.heartbeat(who, name).await?;
    write!(
        out,
        "heartbeat {} checked in; the next is due by {}",
        beat.name, beat.next_deadline
    )?;
    match beat.recovered {
        Some(id) => writeln!(out, " ({id} is told it is back)")?,
        None => writeln!(out)?,
    }
    Ok(())
}

pub(super) async fn maintenance(
    ops: &Ops,
    who: &Principal,
    command: MaintenanceCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (windows, json, verb) = match command {
        MaintenanceCommand::Start {
            target,
            duration,
            reason,
            start_at,
            json,
        } => {
            let window = ops
                .start_maintenance(
                    who,
                    MaintenanceRequest {
                        target,
                        duration,
                        reason,
                        start_at,
                    },
                )
                .await?;
            (vec![window], json, "started")
        }
        MaintenanceCommand::End { id, json } => {
            (vec![ops.end_maintenance(who, id).await?], json, "ended")
        }
        MaintenanceCommand::List { json } => (ops.maintenance_windows().await?, json, ""),
    };
    if json {
        serde_json::to_writer_pretty(&mut *out, &json!({"windows": windows}))?;
        writeln!(out)?;
        return Ok(());
    }
    if windows.is_empty() {
        writeln!(out, "no maintenance window is running or planned")?;
    }
    for window in &windows {
        if !verb.is_empty() {
            write!(out, "{verb}: ")?;
        }
        writeln!(out, "{}", describe(window))?;
    }
    Ok(())
}

/// `#3 service api from … until … (by alice): reason · 2 alerts held`.
pub fn describe(window: &MaintenanceWindow) -> String {
    format!(
        "#{} {} from {} until {} (by {}): {} · {} alert{} held",
        window.id,
        window.describe_target(),
        window.starts_at,
        window.until(),
        window.created_by.name,
        window.reason,
        window.alerts,
        if window.alerts == 1 { "" } else { "s" }
    )
}
