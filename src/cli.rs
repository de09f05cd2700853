//! The command line (SPEC §4): parse with clap, run the use case as `cli:<login>`, print
//! for people or, with `--json`, in the documented stable shapes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::config::{self, Config, Environment};
use crate::domain::{
    Actor, Clock, Event, Incident, IncidentId, Source, Status, SystemClock, Timestamp,
};
use crate::escalation::{self, Reach, Schedule, Shift};
use crate::export::Format;
use crate::ops::{OpenRequest, Ops, Principal};
use crate::runner::{Catalog, CatalogError, CommandSpec, EnvValue, ParamKind, Template};
use crate::store::{self, IncidentFilter, Written};

#[derive(Debug, Parser)]
#[command(
    name = "warroom",
    version,
    about = "Discord-native incident response: incidents, escalation, approved recovery commands, post-mortems"
)]
pub struct Cli {
    /// The configuration file [default: $WARROOM_CONFIG, else config/warroom.toml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the bot: HTTP endpoints, and the Discord gateway when a token is configured
    Run,
    /// Apply pending database migrations
    Migrate,
    /// Validate the configuration and the command catalog; list what the Discord setup lacks
    Check,
    /// Configuration helpers
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Work with incidents without Discord
    Incident {
        #[command(subcommand)]
        command: IncidentCommand,
    },
    /// The approved recovery commands (the catalog in [commands] dir)
    Commands {
        #[command(subcommand)]
        command: CommandsCommand,
    },
    /// Export an incident's post-mortem
    Export {
        /// The incident, as 12 or INC-12
        id: IncidentId,
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Write to this file instead of standard output
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Who is on call now and next, per schedule (reads the config only)
    Oncall {
        /// One schedule; all of them when left out
        schedule: Option<String>,
        /// Ask about this moment instead of now, in RFC 3339 (2026-03-29T09:00:00+02:00)
        #[arg(long, value_name = "TIME", value_parser = parse_at)]
        at: Option<Timestamp>,
        #[arg(long)]
        json: bool,
    },
    /// Escalation policies
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Measure warroom (see BENCHMARKS.md)
    Bench {
        #[command(subcommand)]
        command: crate::bench::BenchCommand,
    },
}

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

/// `--at`: RFC 3339, with an offset or `Z`.
fn parse_at(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(text.trim()).map_err(|_| {
        format!("`{text}` is not an RFC 3339 time; write it like 2026-03-29T09:00:00+02:00 or 2026-03-29T07:00:00Z")
    })
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the default configuration, every key commented
    Default,
}

#[derive(Debug, Subcommand)]
pub enum CommandsCommand {
    /// List every approved command
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one command: what it runs, its parameters, who may run and approve it
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

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
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    Markdown,
    Json,
    Html,
}

impl From<ExportFormat> for Format {
    fn from(format: ExportFormat) -> Format {
        match format {
            ExportFormat::Markdown => Format::Markdown,
            ExportFormat::Json => Format::Json,
            ExportFormat::Html => Format::Html,
        }
    }
}

/// The config file to use: `--config`, else `WARROOM_CONFIG`, else the default path.
pub fn config_path(cli: &Cli, env: &Environment) -> PathBuf {
    cli.config
        .clone()
        .or_else(|| env.get("WARROOM_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_CONFIG_PATH))
}

/// The login name of whoever runs the CLI, for the `cli:<login>` actor.
pub fn login_name(env: &Environment) -> String {
    env.get("USER")
        .or_else(|| env.get("LOGNAME"))
        .map(str::to_owned)
        .filter(|name| !name.is_empty())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|user| user.name)
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Runs every command except `run`, `config default` and `bench` (see main.rs).
pub async fn execute(command: Command, config: Config, env: &Environment) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match command {
        Command::Check => check(&config, &mut stdout),
        Command::Migrate => {
            let store = store::connect(&config.database).await.with_context(|| {
                format!(
                    "cannot open the database {}",
                    config.database.url.redacted()
                )
            })?;
            writeln!(
                stdout,
                "the {} database {} is up to date",
                store.backend(),
                config.database.url.redacted()
            )?;
            Ok(())
        }
        Command::Incident { command } => {
            let ops = open_ops(config).await?;
            let who = Principal::operator(Actor::cli(&login_name(env)));
            incident(&ops, &who, command, &mut stdout).await
        }
        Command::Commands { command } => {
            let catalog = Catalog::load(&config.commands.dir, &config.bot_role_names())?;
            commands(&catalog, command, &mut stdout)
        }
        Command::Export { id, format, output } => {
            let ops = open_ops(config).await?;
            let who = Principal::operator(Actor::cli(&login_name(env)));
            export(&ops, &who, id, format.into(), output.as_deref()).await
        }
        Command::Oncall { schedule, at, json } => oncall(
            &config,
            schedule.as_deref(),
            at.unwrap_or_else(|| SystemClock.now()),
            json,
            &mut stdout,
        ),
        Command::Policy {
            command: PolicyCommand::Simulate { policy, at, json },
        } => simulate(
            &config,
            &policy,
            at.unwrap_or_else(|| SystemClock.now()),
            json,
            &mut stdout,
        ),
        Command::Run | Command::Config { .. } | Command::Bench { .. } => {
            unreachable!("main.rs handles run, config and bench")
        }
    }
}

async fn open_ops(config: Config) -> anyhow::Result<Ops> {
    let store = store::connect(&config.database).await.with_context(|| {
        format!(
            "cannot open the database {}",
            config.database.url.redacted()
        )
    })?;
    Ok(Ops::new(store, Arc::new(config), Arc::new(SystemClock)))
}

fn check(config: &Config, out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "{}: the configuration is valid ({} severities, {} services, {} schedules, {} policies, {} notifiers, database {})",
        config.path.display(),
        config.severities.len(),
        config.services.len(),
        config.schedules.len(),
        config.policies.len(),
        config.notifiers.len(),
        config.database.url.redacted()
    )?;
    for warning in &config.warnings {
        writeln!(out, "warning: {warning}")?;
    }
    let notifier_gaps = config.notifier_setup_gaps();
    if !notifier_gaps.is_empty() {
        writeln!(
            out,
            "Notifiers not ready yet (pages to them fail until then):"
        )?;
        for gap in notifier_gaps {
            writeln!(out, "  - {gap}")?;
        }
    }
    let catalog = Catalog::load(&config.commands.dir, &config.bot_role_names());
    let mut catalog_error = None;
    match catalog {
        Ok(catalog) => {
            writeln!(
                out,
                "{}: the command catalog is valid ({} approved commands)",
                catalog.dir().display(),
                catalog.len()
            )?;
            let missing = catalog.missing_programs();
            if !missing.is_empty() {
                writeln!(
                    out,
                    "Programs not installed on this host (fine if warroom runs elsewhere; these commands fail here):"
                )?;
                for spec in missing {
                    writeln!(out, "  - {}: {}", spec.name(), spec.program().display())?;
                }
            }
        }
        Err(error @ CatalogError::Missing { .. }) => {
            writeln!(out, "No approved commands: {error}")?;
        }
        Err(error) => catalog_error = Some(error),
    }
    let gaps = config.discord_setup_gaps();
    if gaps.is_empty() {
        writeln!(out, "Discord: everything needed is configured")?;
    } else {
        writeln!(
            out,
            "Discord is not fully set up yet (warroom runs without it); still needed:"
        )?;
        for gap in gaps {
            writeln!(out, "  - {gap}")?;
        }
    }
    match catalog_error {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}

fn commands(
    catalog: &Catalog,
    command: CommandsCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match command {
        CommandsCommand::List { json } => {
            if json {
                let all: Vec<serde_json::Value> =
                    catalog.iter().map(|spec| spec.to_json()).collect();
                serde_json::to_writer_pretty(&mut *out, &all)?;
                writeln!(out)?;
                return Ok(());
            }
            if catalog.is_empty() {
                writeln!(out, "no approved commands in {}", catalog.dir().display())?;
                return Ok(());
            }
            writeln!(
                out,
                "{:<20} {:<12} {:<22} DESCRIPTION",
                "NAME", "RISK", "ROLES"
            )?;
            for spec in catalog.iter() {
                writeln!(
                    out,
                    "{:<20} {:<12} {:<22} {}",
                    spec.name(),
                    spec.risk().as_str(),
                    spec.allowed_roles().join(","),
                    spec.description()
                )?;
            }
        }
        CommandsCommand::Show { name, json } => {
            let Some(spec) = catalog.get(&name) else {
                anyhow::bail!(
                    "there is no approved command `{name}` in {}; `warroom commands list` shows those there are",
                    catalog.dir().display()
                );
            };
            if json {
                serde_json::to_writer_pretty(&mut *out, &spec.to_json())?;
                writeln!(out)?;
            } else {
                print_command(out, spec)?;
            }
        }
    }
    Ok(())
}

fn print_command(out: &mut impl Write, spec: &CommandSpec) -> std::io::Result<()> {
    let line = |templates: &[Template]| -> String {
        std::iter::once(spec.program().display().to_string())
            .chain(templates.iter().map(|template| {
                let text = template.source();
                if !text.is_empty() && !text.contains(char::is_whitespace) && !text.contains('"') {
                    text.to_owned()
                } else {
                    format!("{text:?}")
                }
            }))
            .collect::<Vec<_>>()
            .join(" ")
    };
    writeln!(out, "{}: {}", spec.name(), spec.description())?;
    writeln!(out, "  file           {}", spec.file().display())?;
    writeln!(out, "  risk           {}", spec.risk())?;
    writeln!(out, "  runs           {}", line(spec.args()))?;
    match spec.dry_run_args() {
        Some(args) => writeln!(out, "  dry run        {}", line(args))?,
        None => writeln!(out, "  dry run        none")?,
    }
    writeln!(out, "  usage          {}", spec.usage())?;
    writeln!(out, "  may run        {}", spec.allowed_roles().join(", "))?;
    match spec.approval() {
        Some(approval) => writeln!(
            out,
            "  approval       {} other person{} holding {}; an approval is valid for {}",
            approval.approvers,
            if approval.approvers == 1 { "" } else { "s" },
            approval.roles.join(" or "),
            crate::domain::format_duration(approval.expires)
        )?,
        None => writeln!(out, "  approval       not needed")?,
    }
    writeln!(
        out,
        "  timeout        {}",
        crate::domain::format_duration(spec.timeout())
    )?;
    if let Some(lock) = spec.lock() {
        writeln!(out, "  lock           {lock}")?;
    }
    let env: Vec<String> = spec
        .env()
        .iter()
        .map(|(name, value)| match value {
            EnvValue::Literal(text) => format!("{name}={text}"),
            EnvValue::FromEnv(var) => format!("{name} (secret, from ${var})"),
        })
        .collect();
    writeln!(
        out,
        "  environment    {}",
        if env.is_empty() {
            "PATH only".to_owned()
        } else {
            format!("{} and PATH", env.join(", "))
        }
    )?;
    writeln!(out, "  workdir        {}", spec.workdir().display())?;
    writeln!(
        out,
        "  incident       {}",
        if spec.requires_incident() {
            "runs only inside an incident channel"
        } else {
            "not required"
        }
    )?;
    if !spec.params().is_empty() {
        writeln!(out, "  parameters")?;
        for param in spec.params() {
            let mut rules = param.kind().describe();
            if let Some(default) = param.default() {
                rules.push_str(&format!("; default {default}"));
            }
            if param.allows_leading_dash() {
                rules.push_str("; may start with -");
            }
            let kind = match param.kind() {
                ParamKind::Enum { .. } => "enum",
                ParamKind::String { .. } => "string",
                ParamKind::Int { .. } => "int",
                ParamKind::Duration { .. } => "duration, in seconds",
            };
            writeln!(out, "    {:<12} {kind}: {rules}", param.name())?;
            if !param.description().is_empty() {
                writeln!(out, "    {:<12} {}", "", param.description())?;
            }
        }
    }
    Ok(())
}

async fn incident(
    ops: &Ops,
    who: &Principal,
    command: IncidentCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match command {
        IncidentCommand::List { status, json } => {
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
        }
        IncidentCommand::Show { id, json } => {
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
        }
        IncidentCommand::Open {
            title,
            severity,
            service,
            description,
            drill,
            json,
        } => {
            let request = OpenRequest {
                title,
                severity,
                service,
                description,
                drill,
                private: false,
            };
            let written = ops.open(who, Source::Cli, request).await?;
            report(out, &written, json, "opened")?;
        }
        IncidentCommand::Ack { id, json } => {
            report(out, &ops.acknowledge(who, id).await?, json, "acknowledged")?;
        }
        IncidentCommand::Mitigate { id, note, json } => {
            report(
                out,
                &ops.mitigate(who, id, note.as_deref()).await?,
                json,
                "mitigated",
            )?;
        }
        IncidentCommand::Resolve { id, summary, json } => {
            report(
                out,
                &ops.resolve(who, id, summary.as_deref()).await?,
                json,
                "resolved",
            )?;
        }
        IncidentCommand::Reopen { id, reason, json } => {
            report(
                out,
                &ops.reopen(who, id, reason.as_deref()).await?,
                json,
                "reopened",
            )?;
        }
        IncidentCommand::Note { id, text, json } => {
            report(out, &ops.add_note(who, id, &text).await?, json, "noted")?;
        }
        IncidentCommand::Update { id, text, json } => {
            report(
                out,
                &ops.post_status_update(who, id, &text).await?,
                json,
                "updated",
            )?;
        }
        IncidentCommand::Severity { id, level, json } => {
            report(
                out,
                &ops.change_severity(who, id, &level).await?,
                json,
                "changed",
            )?;
        }
        IncidentCommand::Assign {
            id,
            role,
            user_id,
            name,
            json,
        } => {
            let assignee = Actor::discord(user_id, name.unwrap_or_else(|| user_id.to_string()));
            report(
                out,
                &ops.assign_role(who, id, &role, assignee).await?,
                json,
                "assigned",
            )?;
        }
    }
    Ok(())
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

async fn export(
    ops: &Ops,
    who: &Principal,
    id: IncidentId,
    format: Format,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    match output {
        None => {
            let mut stdout = std::io::BufWriter::new(std::io::stdout());
            ops.export(who, id, format, &mut stdout).await?;
        }
        Some(path) => {
            // Write beside the target and rename, so a failed export never leaves half a file
            // where a finished one is expected.
            let partial = path.with_extension(format!("{}.partial", format.file_extension()));
            let file = std::fs::File::create(&partial)
                .with_context(|| format!("cannot create {}", partial.display()))?;
            let mut writer = std::io::BufWriter::new(file);
            let result = ops.export(who, id, format, &mut writer).await;
            drop(writer);
            if let Err(error) = result {
                let _ = std::fs::remove_file(&partial);
                return Err(error.into());
            }
            std::fs::rename(&partial, path)
                .with_context(|| format!("cannot move the export into {}", path.display()))?;
            eprintln!(
                "wrote the {} post-mortem of {id} to {}",
                format.as_str(),
                path.display()
            );
        }
    }
    Ok(())
}

/// `warroom oncall`: now and next for one schedule or all, in UTC and the schedule's zone.
fn oncall(
    config: &Config,
    name: Option<&str>,
    at: Timestamp,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let schedules: Vec<&Schedule> = match name {
        Some(name) => vec![config.schedule(name).ok_or_else(|| {
            anyhow::anyhow!(
                "there is no schedule `{name}`; {}",
                names_hint(
                    "schedules",
                    config.schedules.iter().map(|s| s.name.as_str())
                )
            )
        })?],
        None => config.schedules.iter().collect(),
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
        writeln!(out, "  now   {}", describe_shift(schedule, &now))?;
        match schedule.next_shift(at) {
            Some(next) => writeln!(out, "  next  {}", describe_shift(schedule, &next))?,
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
fn simulate(
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
