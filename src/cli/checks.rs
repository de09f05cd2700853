//! `warroom checks list|run|next`: the scheduled checks (`[checks.NAME]`) with their next run
//! and last result, one run now (made due in the database; the `warroom run` engine runs it),
//! and when every check and drill runs in the coming days (from the config alone).

use std::io::Write;
use std::time::Duration;

use clap::Subcommand;
use serde_json::json;

use crate::config::Config;
use crate::domain::Timestamp;
use crate::ops::Ops;
use crate::ops::schedules::CheckOverview;

/// Times shown per check or drill by `checks next` (an `every = "2s"` check has 300,000 a week).
const SHOWN_PER_SCHEDULE: usize = 50;

#[derive(Debug, Subcommand)]
pub enum ChecksCommand {
    /// Every scheduled check: its schedule, next run and last result
    List {
        #[arg(long)]
        json: bool,
    },
    /// Run a check now (the warroom run engine runs it within a second, then keeps to its schedule)
    Run { name: String },
    /// When each check and drill runs in the coming days (reads the config only)
    Next {
        /// How many days ahead
        #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=366))]
        days: u32,
        /// Count from this moment instead of now, in RFC 3339
        #[arg(long, value_name = "TIME", value_parser = super::parse_at)]
        at: Option<Timestamp>,
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn list(ops: &Ops, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let checks = ops.checks_overview().await?;
    if json {
        serde_json::to_writer_pretty(&mut *out, &checks)?;
        writeln!(out)?;
        return Ok(());
    }
    if checks.is_empty() {
        writeln!(
            out,
            "No scheduled checks: add [checks.NAME] to the configuration (see `warroom config default`)"
        )?;
    }
    for check in &checks {
        writeln!(out, "{}", describe(check))?;
    }
    Ok(())
}

/// One check on one line, as the CLI and `/checks` say it.
pub fn describe(check: &CheckOverview) -> String {
    let next = check
        .next_run
        .map_or("not armed (starts with `warroom run`)".to_owned(), |at| {
            at.rfc3339().to_string()
        });
    let last = match (&check.last_result, check.last_finished_at) {
        (Some(result), Some(at)) => format!("last {result} at {}", at.rfc3339()),
        _ => "never ran".to_owned(),
    };
    let failing = if check.consecutive_failures > 0 {
        format!(", {} failure(s) in a row", check.consecutive_failures)
    } else {
        String::new()
    };
    let incident = check
        .incident
        .map(|id| format!(", incident {id}"))
        .unwrap_or_default();
    format!(
        "{}: `{}{}` {}; next {next}; {last}{failing}{incident}",
        check.name,
        check.command,
        if check.args.trim().is_empty() {
            String::new()
        } else {
            format!(" {}", check.args.trim())
        },
        check.schedule
    )
}

pub(super) async fn run(ops: &Ops, name: &str, out: &mut impl Write) -> anyhow::Result<()> {
    let at = ops.run_check_now(name).await?;
    writeln!(
        out,
        "{name}: due now ({}); a `warroom run` process runs it within a second; `warroom checks list` shows the result",
        at.rfc3339()
    )?;
    Ok(())
}

pub(super) fn next(
    config: &Config,
    from: Timestamp,
    days: u32,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let within = Duration::from_secs(u64::from(days) * 24 * 3600);
    let (rows, more) = crate::ops::schedules::upcoming(config, from, within, SHOWN_PER_SCHEDULE);
    if json {
        let more: serde_json::Map<String, serde_json::Value> = more
            .into_iter()
            .map(|(name, count)| (name, json!(count)))
            .collect();
        serde_json::to_writer_pretty(&mut *out, &json!({"runs": rows, "more": more}))?;
        writeln!(out)?;
        return Ok(());
    }
    if config.checks.is_empty() && config.drills.is_empty() {
        writeln!(out, "No scheduled checks or drills in the configuration")?;
        return Ok(());
    }
    writeln!(out, "From {} for {days} day(s):", from.rfc3339())?;
    for row in &rows {
        writeln!(
            out,
            "  {}  {:<5} {}  ({})",
            row.at.rfc3339(),
            row.kind,
            row.name,
            row.local
        )?;
    }
    if rows.is_empty() {
        writeln!(out, "  nothing runs")?;
    }
    for (name, count) in more {
        writeln!(out, "  … and {count} more run(s) of {name}")?;
    }
    Ok(())
}
