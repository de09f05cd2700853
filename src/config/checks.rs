//! `[checks.NAME]` and `[drills.NAME]` (SPEC §1, §4, §5), read into `checks::{CheckSpec,
//! DrillSpec}`: their times (`every` or `cron` + `timezone`), the incident's severity and
//! service; and, once the command catalog is read, the check of what they run against it
//! (`schedule_problems`): a known command, read-only for checks, arguments its parameters take.

use chrono_tz::Tz;
use serde::Deserialize;

use super::Config;
use super::load::{Loader, join_path};
use crate::checks::{CheckSpec, DrillCommand, DrillSpec, Recurrence};
use crate::domain::{SeverityConfig, TITLE_LIMIT};
use crate::runner::{Catalog, Risk, parse_args};

#[derive(Deserialize)]
struct RawCheck {
    command: String,
    #[serde(default)]
    args: String,
    #[serde(default)]
    every: Option<String>,
    #[serde(default)]
    cron: Option<String>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    failures_before_incident: Option<i64>,
    #[serde(default)]
    mitigate_on_recovery: Option<bool>,
}

#[derive(Deserialize)]
struct RawDrill {
    cron: String,
    #[serde(default)]
    timezone: Option<String>,
    title: String,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    announce_ahead: Option<String>,
    #[serde(default)]
    commands: Vec<String>,
}

/// What a check or drill shares with the rest of the file.
pub(super) struct Known<'a> {
    pub severities: &'a [SeverityConfig],
    pub services: &'a [crate::domain::ServiceConfig],
}

impl Loader {
    pub(super) fn build_checks(
        &mut self,
        raw: Option<toml::Value>,
        known: &Known,
    ) -> Vec<CheckSpec> {
        let mut checks = Vec::new();
        for (name, value) in self.entries("checks", raw) {
            let path = vec!["checks".to_owned(), name.clone()];
            self.check_entry_name(&path, &name, "a check");
            let Some(raw) = self.decode::<RawCheck>(&path, value) else {
                continue;
            };
            let recurrence = match (&raw.every, &raw.cron) {
                (Some(every), None) => {
                    if raw.timezone.is_some() {
                        self.problem(
                            &join_path(&path, "timezone"),
                            "goes with `cron`; `every` counts elapsed time, whatever the zone",
                        );
                    }
                    let every = self.duration(&join_path(&path, "every"), every, false);
                    (!every.is_zero()).then_some(Recurrence::Every(every))
                }
                (None, Some(cron)) => self.recurrence(&path, cron, raw.timezone.as_deref()),
                (Some(_), Some(_)) => {
                    self.problem(&path, "has both `every` and `cron`; keep one");
                    None
                }
                (None, None) => {
                    self.problem(
                        &path,
                        "says neither when to run; add `every = \"30m\"` or `cron = \"*/30 * * * *\"`",
                    );
                    None
                }
            };
            let failures = raw.failures_before_incident.unwrap_or(1);
            if !(1..=1000).contains(&failures) {
                self.problem(
                    &join_path(&path, "failures_before_incident"),
                    "is a number of failures in a row, from 1 to 1000",
                );
            }
            let severity = self.schedule_severity(&path, raw.severity.as_deref(), known);
            let service = self.schedule_service(&path, raw.service.as_deref(), known);
            let Some(recurrence) = recurrence else {
                continue;
            };
            checks.push(CheckSpec {
                command_at: self.location(&join_path(&path, "command")).to_string(),
                args_at: self.location(&join_path(&path, "args")).to_string(),
                name,
                command: raw.command.trim().to_owned(),
                args: raw.args,
                recurrence,
                service,
                severity,
                failures_before_incident: failures.clamp(1, 1000) as u32,
                mitigate_on_recovery: raw.mitigate_on_recovery.unwrap_or(true),
            });
        }
        checks
    }

    pub(super) fn build_drills(
        &mut self,
        raw: Option<toml::Value>,
        known: &Known,
    ) -> Vec<DrillSpec> {
        let mut drills = Vec::new();
        for (name, value) in self.entries("drills", raw) {
            let path = vec!["drills".to_owned(), name.clone()];
            self.check_entry_name(&path, &name, "a drill");
            let Some(raw) = self.decode::<RawDrill>(&path, value) else {
                continue;
            };
            let recurrence = self.recurrence(&path, &raw.cron, raw.timezone.as_deref());
            let title = raw.title.trim().to_owned();
            if title.is_empty()
                || title.chars().count() > TITLE_LIMIT
                || title.contains(['\n', '\r'])
            {
                self.problem(
                    &join_path(&path, "title"),
                    format!(
                        "is the drill incident's title: one line of 1 to {TITLE_LIMIT} characters"
                    ),
                );
            }
            let severity = self.schedule_severity(&path, raw.severity.as_deref(), known);
            let service = self.schedule_service(&path, raw.service.as_deref(), known);
            let announce_ahead = raw
                .announce_ahead
                .as_deref()
                .map(|text| self.duration(&join_path(&path, "announce_ahead"), text, false));
            let mut commands = Vec::new();
            let mut commands_at = Vec::new();
            for (index, text) in raw.commands.iter().enumerate() {
                match DrillCommand::parse(text) {
                    Ok(command) => {
                        commands.push(command);
                        commands_at.push(
                            self.location(&join_path(&path, &format!("commands.{}", index + 1)))
                                .to_string(),
                        );
                    }
                    Err(message) => {
                        self.problem_at_item(&join_path(&path, "commands"), index, message);
                    }
                }
            }
            let Some(recurrence) = recurrence else {
                continue;
            };
            drills.push(DrillSpec {
                name,
                recurrence,
                title,
                severity,
                service,
                announce_ahead,
                commands,
                commands_at,
            });
        }
        drills
    }

    /// A cron expression in its time zone (UTC when none is given).
    fn recurrence(
        &mut self,
        path: &[String],
        cron: &str,
        timezone: Option<&str>,
    ) -> Option<Recurrence> {
        let zone = match timezone.map(str::trim) {
            None => Some(Tz::UTC),
            Some(text) => match text.parse::<Tz>() {
                Ok(zone) => Some(zone),
                Err(_) => {
                    self.problem(
                        &join_path(path, "timezone"),
                        format!("`{text}` is not an IANA time zone; write it like Europe/Berlin, America/New_York or UTC"),
                    );
                    None
                }
            },
        };
        match Recurrence::cron(cron.trim(), zone.unwrap_or(Tz::UTC)) {
            Ok(recurrence) => zone.map(|_| recurrence),
            Err(message) => {
                self.problem(&join_path(path, "cron"), message);
                None
            }
        }
    }

    /// The severity named (or the least severe), which must be configured.
    fn schedule_severity(
        &mut self,
        path: &[String],
        severity: Option<&str>,
        known: &Known,
    ) -> String {
        let least = known
            .severities
            .last()
            .map(|severity| severity.name.clone())
            .unwrap_or_default();
        let Some(severity) = severity.map(str::trim) else {
            return least;
        };
        match known
            .severities
            .iter()
            .find(|known| known.name.eq_ignore_ascii_case(severity))
        {
            Some(found) => found.name.clone(),
            None => {
                let names: Vec<&str> = known.severities.iter().map(|s| s.name.as_str()).collect();
                self.problem(
                    &join_path(path, "severity"),
                    format!(
                        "`{severity}` is not a configured severity; use one of {}",
                        names.join(", ")
                    ),
                );
                least
            }
        }
    }

    fn schedule_service(
        &mut self,
        path: &[String],
        service: Option<&str>,
        known: &Known,
    ) -> Option<String> {
        let service = service
            .map(str::trim)
            .filter(|service| !service.is_empty())?;
        match known
            .services
            .iter()
            .find(|known| known.name.eq_ignore_ascii_case(service))
        {
            Some(found) => Some(found.name.clone()),
            None => {
                let names: Vec<&str> = known.services.iter().map(|s| s.name.as_str()).collect();
                self.problem(
                    &join_path(path, "service"),
                    format!(
                        "`{service}` is not a configured service; use one of {} (or add [services.{service}])",
                        if names.is_empty() { "none yet".to_owned() } else { names.join(", ") }
                    ),
                );
                None
            }
        }
    }
}

/// What the schedules run, checked against the command catalog: each command must exist,
/// a check's must be `read_only`, and the arguments must be what its parameters accept (a
/// drill's in dry-run, as it requests them). Each problem at the line that names it.
pub fn schedule_problems(config: &Config, catalog: &Catalog) -> Vec<String> {
    let mut problems = Vec::new();
    let mut refuse = |at: &str, key: String, message: String| {
        problems.push(format!("{at}: {key}: {message}"));
    };
    for check in &config.checks {
        let key = format!("checks.{}.command", check.name);
        let Some(spec) = catalog.get(&check.command) else {
            refuse(
                &check.command_at,
                key,
                unknown_command(&check.command, catalog),
            );
            continue;
        };
        if spec.risk() != Risk::ReadOnly {
            refuse(
                &check.command_at,
                key,
                format!(
                    "`{}` is {}; a scheduled check runs only read_only commands (nobody approves a run on a clock)",
                    check.command,
                    spec.risk().as_str()
                ),
            );
            continue;
        }
        if spec.approval().is_some() {
            refuse(
                &check.command_at,
                key,
                format!(
                    "`{}` needs approval; a scheduled check runs only commands nobody has to approve",
                    check.command
                ),
            );
            continue;
        }
        if let Err(error) = parse_args(&check.args).and_then(|values| spec.bind(&values, false)) {
            refuse(
                &check.args_at,
                format!("checks.{}.args", check.name),
                one_line(&error.to_string()),
            );
        }
    }
    for drill in &config.drills {
        for (index, (command, at)) in drill.commands.iter().zip(&drill.commands_at).enumerate() {
            let key = format!("drills.{}.commands.{}", drill.name, index + 1);
            let Some(spec) = catalog.get(&command.command) else {
                refuse(at, key, unknown_command(&command.command, catalog));
                continue;
            };
            let dry_run = spec.dry_run_args().is_some();
            if !dry_run && spec.risk() != Risk::ReadOnly {
                refuse(
                    at,
                    key,
                    format!(
                        "`{}` has no dry run and is {}; a drill runs only dry runs and read-only commands",
                        command.command,
                        spec.risk().as_str()
                    ),
                );
                continue;
            }
            if let Err(error) =
                parse_args(&command.args).and_then(|values| spec.bind(&values, dry_run))
            {
                refuse(
                    at,
                    key,
                    one_line(&format!("`{}`: {error}", command.command)),
                );
            }
        }
    }
    problems
}

fn unknown_command(name: &str, catalog: &Catalog) -> String {
    format!(
        "`{name}` is not an approved command in {}; `warroom commands list` shows them",
        catalog.dir().display()
    )
}

/// A problem of several lines (each refused parameter on its own) on the line of its key.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
