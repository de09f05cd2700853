//! `warroom oncall` and `warroom policy simulate`: who is on call, and who a policy would page
//! when. Both read the config only and page nobody.

use std::io::Write;

use clap::Subcommand;
use serde_json::json;

use super::parse_at;
use crate::config::Config;
use crate::domain::Timestamp;
use crate::escalation::{self, Reach, Schedule, Shift};
use crate::ops::OnCall;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show who would be paged when, and how, for an incident opened now (or at --at);
    /// pages nobody
    Simulate {
        policy: String,
        /// The incident's opening time, in RFC 3339 (2026-03-29T09:00:00+02:00)
        #[arg(long, value_name = "TIME", value_parser = parse_at)]
        at: Option<Timestamp>,
        #[arg(long)]
        json: bool,
    },
}

/// `warroom oncall`: now and next for one schedule or all, in UTC and the schedule's zone.
pub(super) fn oncall(
    on_call: &OnCall,
    name: Option<&str>,
    at: Timestamp,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let schedules: Vec<&Schedule> = match name {
        Some(name) => vec![on_call.schedule(name).ok_or_else(|| {
            anyhow::anyhow!(
                "there is no schedule `{name}`; {}",
                names_hint(
                    "schedules",
                    on_call.schedules.iter().map(|s| s.name.as_str())
                )
            )
        })?],
        None => on_call.schedules.iter().collect(),
    };
    if json {
        let report: Vec<serde_json::Value> = schedules
            .iter()
            .map(|schedule| {
                json!({
                    "schedule": schedule.name,
                    "timezone": schedule.timezone.name(),
                    "now": schedule.shift_at(at),
                    "next": schedule.next_shift(at),
                    "overrides_made": on_call.made.get(&schedule.name).cloned().unwrap_or_default(),
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut *out, &json!({"at": at, "schedules": report}))?;
        writeln!(out)?;
        return Ok(());
    }
    if schedules.is_empty() {
        writeln!(
            out,
            "no schedules are configured; add [schedules.NAME] to the config"
        )?;
        return Ok(());
    }
    writeln!(out, "On call at {}:", minute_utc(at))?;
    for schedule in schedules {
        writeln!(out, "\n{}: {}", schedule.name, schedule.describe())?;
        let now = schedule.shift_at(at);
        writeln!(out, "  now   {}", describe_made(on_call, schedule, &now))?;
        match schedule.next_shift(at) {
            Some(next) => writeln!(out, "  next  {}", describe_made(on_call, schedule, &next))?,
            None => writeln!(out, "  next  nobody: the current shift never ends")?,
        }
    }
    Ok(())
}

fn minute_utc(at: Timestamp) -> String {
    at.to_datetime().format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `2026-03-30 07:00 UTC (2026-03-30 09:00 CEST)`.
fn both_zones(schedule: &Schedule, at: Timestamp) -> String {
    if schedule.timezone == chrono_tz::UTC {
        return minute_utc(at);
    }
    format!("{} ({})", minute_utc(at), schedule.local(at))
}

/// A shift, and who made the override it comes from when that was made from chat.
fn describe_made(on_call: &OnCall, schedule: &Schedule, shift: &Shift) -> String {
    let mut text = describe_shift(schedule, shift);
    if let Some(by) = on_call.made_by(&schedule.name, shift) {
        text.push_str(&format!(" [override made by {}]", by.name));
    }
    text
}

fn describe_shift(schedule: &Schedule, shift: &Shift) -> String {
    let who = match shift.user {
        Some(user) if shift.via_override() => format!("user {user} (override)"),
        Some(user) => format!("user {user}"),
        None => "nobody (a gap in the schedule)".to_owned(),
    };
    let since = match shift.since {
        Some(since) => format!("from {}", both_zones(schedule, since)),
        None => "from the beginning".to_owned(),
    };
    let until = match shift.until {
        Some(until) => format!("until {}", both_zones(schedule, until)),
        None => "with no end".to_owned(),
    };
    format!("{who}, {since} {until}")
}

fn names_hint<'a>(section: &str, names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        format!("none are configured; add [{section}.NAME] to the config")
    } else {
        format!("configured: {}", names.join(", "))
    }
}

/// A recipient in words, saying when a notifier is not ready to send yet.
fn describe_recipient(config: &Config, recipient: &escalation::Recipient) -> String {
    let mut text = recipient.describe();
    if let escalation::Recipient::Notifier { name, .. } = recipient {
        let gaps: Vec<String> = config
            .notifiers
            .iter()
            .filter(|notifier| notifier.name == *name)
            .flat_map(|notifier| notifier.setup_gaps())
            .collect();
        if !gaps.is_empty() {
            text.push_str(&format!(" — NOT READY, would fail: {}", gaps.join("; ")));
        }
    }
    text
}

/// `warroom policy simulate`: the plan of a policy and whom each step reaches; pages nobody.
pub(super) fn simulate(
    config: &Config,
    name: &str,
    opened_at: Timestamp,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let policy = config.policy(name).ok_or_else(|| {
        anyhow::anyhow!(
            "there is no policy `{name}`; {}",
            names_hint("policies", config.policies.iter().map(|p| p.name.as_str()))
        )
    })?;
    let simulation = escalation::simulate(&config.directory(), policy, opened_at);
    if json {
        serde_json::to_writer_pretty(&mut *out, &simulation)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "Simulation of policy {name} for an incident opened at {}. Nothing is sent: nobody is paged.",
        minute_utc(opened_at)
    )?;
    writeln!(
        out,
        "Each level is paged unless the incident is acknowledged first; `after` counts from the opening."
    )?;
    for step in &simulation.steps {
        writeln!(
            out,
            "\nlevel {}, round {}: at {} (+{})",
            step.step.level,
            step.step.round,
            minute_utc(step.step.due_at),
            if step.step.after.is_zero() {
                "0s".to_owned()
            } else {
                crate::domain::format_duration(step.step.after)
            }
        )?;
        for page in &step.pages {
            let line = match &page.reach {
                Reach::Reached { recipient } => describe_recipient(config, recipient),
                Reach::Fallback {
                    reason,
                    fallback,
                    recipient,
                } => format!(
                    "reaches nobody ({reason}); fallback {fallback} instead: {}",
                    describe_recipient(config, recipient)
                ),
                Reach::Nobody { reason } => format!("NOBODY: {reason}"),
            };
            writeln!(out, "  {} → {line}", page.target)?;
        }
    }
    match &simulation.fallback {
        Some(fallback) => writeln!(
            out,
            "\nfallback: {fallback}, paged in place of a target that reaches nobody, and after the last level's pages fail"
        )?,
        None => writeln!(
            out,
            "\nno fallback: a target that reaches nobody pages nobody"
        )?,
    }
    writeln!(
        out,
        "after {} failed page{} within a level, the next level is paged at once",
        config.escalation.failures_before_next_level,
        if config.escalation.failures_before_next_level == 1 {
            ""
        } else {
            "s"
        }
    )?;
    Ok(())
}
