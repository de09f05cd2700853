//! The command line (SPEC §4): parse with clap, run the use case as `cli:<login>`, print
//! for people or, with `--json`, in the documented stable shapes. One room per command group,
//! as in `discord/commands/`: `incident`, `oncall` (and `policy simulate`), `commands`,
//! `export`, `check`, `bench`, `page` (paging without Discord) and `feed` (calendar feed URLs);
//! this file holds the parser and the dispatch.

pub mod bench;
mod check;
pub mod checks;
pub mod commands;
pub mod cover;
pub mod export;
pub mod feed;
pub mod followup;
pub mod incident;
pub mod oncall;
pub mod page;
mod report;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{self, Config, Environment};
use crate::domain::{Actor, Clock, IncidentId, SystemClock, Timestamp};
use crate::ops::{Ops, Principal};
use crate::runner::Catalog;
use crate::store;

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
        command: incident::IncidentCommand,
    },
    /// The approved recovery commands (the catalog in [commands] dir)
    Commands {
        #[command(subcommand)]
        command: commands::CommandsCommand,
    },
    /// Scheduled checks and drills ([checks.NAME], [drills.NAME])
    Checks {
        #[command(subcommand)]
        command: checks::ChecksCommand,
    },
    /// Export an incident's post-mortem
    Export {
        /// The incident, as 12 or INC-12
        id: IncidentId,
        #[arg(long, value_enum)]
        format: export::ExportFormat,
        /// Write to this file instead of standard output
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Who is on call now and next, per schedule (the config and overrides made from chat)
    Oncall {
        /// One schedule; all of them when left out
        schedule: Option<String>,
        /// Ask about this moment instead of now, in RFC 3339 (2026-03-29T09:00:00+02:00)
        #[arg(long, value_name = "TIME", value_parser = parse_at)]
        at: Option<Timestamp>,
        #[arg(long)]
        json: bool,
    },
    /// Page someone for an incident without Discord (the warroom run engine sends it)
    Page(page::PageArgs),
    /// Calendar feed URLs of on-call shifts, for calendar apps to subscribe to
    Feed {
        #[command(subcommand)]
        command: feed::FeedCommand,
    },
    /// Check in a heartbeat (as a job does with POST /v1/heartbeats/NAME)
    Heartbeat {
        /// The heartbeat, from [heartbeats]
        name: String,
    },
    /// Maintenance windows: a service's alerts open nothing while one runs
    Maintenance {
        #[command(subcommand)]
        command: cover::MaintenanceCommand,
    },
    /// Escalation policies
    Policy {
        #[command(subcommand)]
        command: oncall::PolicyCommand,
    },
    /// MTTA, MTTM and MTTR by severity and service, deadline and RTO rates, on-call load,
    /// reviews and open action items (drills counted apart); --json for the JSON, --html for
    /// one self-contained page with SVG charts
    Report(report::ReportArgs),
    /// Measure warroom (see BENCHMARKS.md)
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

/// `--at`: RFC 3339, with an offset or `Z`.
pub(crate) fn parse_at(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(text.trim()).map_err(|_| {
        format!("`{text}` is not an RFC 3339 time; write it like 2026-03-29T09:00:00+02:00 or 2026-03-29T07:00:00Z")
    })
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the default configuration, every key commented
    Default,
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
        Command::Check => check::check(&config, &mut stdout),
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
            incident::execute(&ops, &who, command, &mut stdout).await
        }
        Command::Commands { command } => {
            let catalog = Catalog::load(&config.commands.dir, &config.bot_role_names())?;
            commands::execute(&catalog, command, &mut stdout)
        }
        Command::Export { id, format, output } => {
            let ops = open_ops(config).await?;
            let who = Principal::operator(Actor::cli(&login_name(env)));
            export::execute(&ops, &who, id, format.into(), output.as_deref()).await
        }
        Command::Page(args) => {
            let ops = open_ops(config).await?;
            let who = Principal::operator(Actor::cli(&login_name(env)));
            page::page(&ops, &who, args, &mut stdout).await
        }
        Command::Checks { command } => match command {
            checks::ChecksCommand::List { json } => {
                checks::list(&open_ops(config).await?, json, &mut stdout).await
            }
            checks::ChecksCommand::Run { name } => {
                checks::run(&open_ops(config).await?, &name, &mut stdout).await
            }
            checks::ChecksCommand::Next { days, at, json } => checks::next(
                &config,
                at.unwrap_or_else(|| SystemClock.now()),
                days,
                json,
                &mut stdout,
            ),
        },
        Command::Heartbeat { name } => {
            let ops = open_ops(config).await?;
            let who = Principal::operator(Actor::cli(&login_name(env)));
            cover::heartbeat(&ops, &who, &name, &mut stdout).await
        }
        Command::Maintenance { command } => {
            let ops = open_ops(config).await?;
            let who = Principal::operator(Actor::cli(&login_name(env)));
            cover::maintenance(&ops, &who, command, &mut stdout).await
        }
        Command::Feed { command } => feed::feed(&config, command, &mut stdout),
        Command::Report(args) => {
            let ops = open_ops(config).await?;
            let who = Principal::operator(Actor::cli(&login_name(env)));
            report::report(&ops, &who, args, &mut stdout).await
        }
        Command::Oncall { schedule, at, json } => {
            let ops = open_ops(config).await?;
            let at = at.unwrap_or_else(|| SystemClock.now());
            let on_call = ops.schedules_at(at).await?;
            oncall::oncall(&on_call, schedule.as_deref(), at, json, &mut stdout)
        }
        Command::Policy {
            command: oncall::PolicyCommand::Simulate { policy, at, json },
        } => oncall::simulate(
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
