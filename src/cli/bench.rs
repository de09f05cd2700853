//! `warroom bench ...`: which measurement to run, and with what; the measurements themselves
//! are `crate::bench`, one file each.

use std::path::Path;
use std::time::Duration;

use clap::Subcommand;

use crate::bench::{self, alerts, escalation};
use crate::config::{Config, Environment};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// B1: `/incident open` interactions at a fixed rate through the Discord emulator, warroom
    /// in this process; dispatch → callback percentiles
    Interactions {
        /// Interactions per second
        #[arg(long, default_value_t = 200)]
        rate: u32,
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// A fresh database to use instead of a temporary SQLite file (e.g. postgres://...)
        #[arg(long)]
        database_url: Option<String>,
    },
    /// B5: start `warroom run` on a fresh SQLite file; time until /readyz answers 200, then
    /// read the resident memory of the idle process
    Startup {
        /// How many starts to measure
        #[arg(long, default_value_t = 10)]
        runs: u32,
        /// How long the process idles before its memory is read
        #[arg(long, default_value = "5s", value_parser = parse_duration_arg)]
        idle: Duration,
    },
    /// B4: seed one incident with many timeline events, then time `warroom export` to
    /// Markdown, JSON and HTML, each in a fresh process, with its peak resident memory
    Export {
        #[arg(long, default_value_t = 100_000)]
        events: usize,
        /// A fresh database to use instead of a temporary SQLite file (e.g. postgres://...)
        #[arg(long)]
        database_url: Option<String>,
        /// How many times each format is exported
        #[arg(long, default_value_t = 3)]
        runs: u32,
    },
    /// Write incidents and notes from several writers until killed, printing each commit as
    /// it happens (`committed INC-<id> seq <n>`): the kill -9 test checks every printed commit
    /// survives
    Burst {
        #[arg(long, default_value_t = 4)]
        writers: usize,
        /// Notes written to each incident before the writer opens the next one
        #[arg(long, default_value_t = 5)]
        notes: usize,
    },
    /// B2: Alertmanager webhook deliveries (10 alerts each, 90 % duplicates) to `warroom run`,
    /// alerts per second and p99 latency per request; then the same alerts posted to a local
    /// Alertmanager's API as a reference
    Alerts {
        /// A fresh database to use instead of a temporary SQLite file (e.g. postgres://...)
        #[arg(long)]
        database_url: Option<String>,
        /// Timed deliveries (after each group's first, untimed, delivery)
        #[arg(long, default_value_t = 5_000)]
        deliveries: usize,
        #[arg(long, default_value_t = 10)]
        alerts_per_delivery: usize,
        /// The share of alerts that repeat an alert already sent
        #[arg(long, default_value_t = 0.9)]
        duplicate_ratio: f64,
        /// Alert groups (one incident each)
        #[arg(long, default_value_t = 50)]
        groups: usize,
        /// Clients sending at once
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// The Alertmanager binary for the reference run [default: /usr/bin/prometheus-alertmanager]
        #[arg(long)]
        alertmanager: Option<String>,
    },
    /// B3: incidents whose first page comes due at one instant, sent by `warroom run` to a
    /// webhook receiver in this process: lateness of each page against its due time; then
    /// overdue pages, a SIGKILL while sending, a restart: ready to the last overdue page
    Escalation {
        /// A fresh database to use instead of a temporary SQLite file (e.g. postgres://...)
        #[arg(long)]
        database_url: Option<String>,
        /// A second fresh database for the restart part (needed with --database-url)
        #[arg(long)]
        restart_database_url: Option<String>,
        #[arg(long, default_value_t = 10_000)]
        incidents: usize,
        /// When the pages come due, counted from the start of seeding; longer than seeding
        /// and start-up take
        #[arg(long, default_value = "60s", value_parser = parse_duration_arg)]
        due_in: Duration,
    },
    /// B7: two `warroom run` processes on one database; SIGKILL the gateway holder and time
    /// until a standby answers a slash command, over several kills
    Failover {
        /// A fresh database to use instead of a temporary SQLite file (e.g. postgres://...)
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long, default_value_t = 10)]
        kills: u32,
    },
    /// B8: two `warroom run` processes on one database; severity changes through the REST API
    /// of the standby, timed until the card in Discord shows each
    Propagation {
        /// A fresh database to use instead of a temporary SQLite file (e.g. postgres://...)
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long, default_value_t = 200)]
        changes: u32,
    },
    /// B5 for both roles: two idle `warroom run` processes, a guild of many members and
    /// channels; resident memory of the gateway holder and of the standby
    Roles {
        /// A fresh database to use instead of a temporary SQLite file (e.g. postgres://...)
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long, default_value_t = 1000)]
        members: usize,
        #[arg(long, default_value_t = 200)]
        channels: usize,
        /// How long both idle before their memory is read
        #[arg(long, default_value = "10s", value_parser = parse_duration_arg)]
        idle: Duration,
    },
    /// B6: new alert groups posted at a fixed rate to `warroom run`'s
    /// /v1/alerts/alertmanager, each paging a webhook receiver in this process at once: time
    /// from each POST to its page, p50, p99 and max
    AlertToPage {
        /// A fresh database to use instead of a temporary SQLite file (e.g. postgres://...)
        #[arg(long)]
        database_url: Option<String>,
        /// New alert groups per second
        #[arg(long, default_value_t = 50)]
        rate: u32,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// B9: seed many incidents as real ones end up (timelines, pages, reviews, action
    /// items), then time `warroom report --json`, each run a fresh process, with its peak
    /// resident memory
    Report {
        /// A fresh database to use instead of a temporary SQLite file (e.g. postgres://...)
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long, default_value_t = 10_000)]
        incidents: usize,
        /// Timeline events in all, spread evenly over the incidents
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// How many times the report is run
        #[arg(long, default_value_t = 5)]
        runs: u32,
    },
    /// Run a command as this process's only child; print its wall time and peak RSS
    #[command(hide = true)]
    Measure {
        /// Where the command's standard output goes (by default nowhere)
        #[arg(long)]
        stdout: Option<std::path::PathBuf>,
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
}

fn parse_duration_arg(text: &str) -> Result<Duration, String> {
    crate::config::parse_duration(text)
}

/// `config_path` is the global `--config`; only `burst` reads it.
pub async fn execute(
    command: BenchCommand,
    config_path: &Path,
    env: &Environment,
) -> anyhow::Result<()> {
    match command {
        BenchCommand::Interactions {
            rate,
            seconds,
            database_url,
        } => {
            bench::interactions::run(bench::interactions::Options {
                rate: rate.max(1),
                seconds: seconds.max(1),
                database_url,
            })
            .await
        }
        BenchCommand::Startup { runs, idle } => bench::startup(runs, idle).await,
        BenchCommand::Export {
            events,
            database_url,
            runs,
        } => bench::export(events, database_url, runs).await,
        BenchCommand::Burst { writers, notes } => {
            bench::burst(Config::load(config_path, env)?, writers, notes).await
        }
        BenchCommand::Alerts {
            database_url,
            deliveries,
            alerts_per_delivery,
            duplicate_ratio,
            groups,
            concurrency,
            alertmanager,
        } => {
            alerts::run(alerts::Options {
                database_url,
                deliveries,
                alerts_per_delivery,
                duplicate_ratio,
                groups: groups.max(1),
                concurrency: concurrency.max(1),
                alertmanager,
            })
            .await
        }
        BenchCommand::Escalation {
            database_url,
            restart_database_url,
            incidents,
            due_in,
        } => {
            escalation::run(escalation::Options {
                database_url,
                restart_database_url,
                incidents: incidents.max(1),
                due_in,
            })
            .await
        }
        BenchCommand::Failover {
            database_url,
            kills,
        } => bench::failover::run(database_url, kills.max(1)).await,
        BenchCommand::Propagation {
            database_url,
            changes,
        } => bench::propagation::run(database_url, changes.max(1)).await,
        BenchCommand::Roles {
            database_url,
            members,
            channels,
            idle,
        } => bench::roles::run(database_url, members, channels, idle).await,
        BenchCommand::AlertToPage {
            database_url,
            rate,
            seconds,
        } => {
            bench::alert_to_page::run(bench::alert_to_page::Options {
                database_url,
                rate: rate.max(1),
                seconds: seconds.max(1),
            })
            .await
        }
        BenchCommand::Report {
            database_url,
            incidents,
            events,
            runs,
        } => {
            bench::report::run(bench::report::Options {
                database_url,
                incidents: incidents.max(1),
                events,
                runs: runs.max(1),
            })
            .await
        }
        BenchCommand::Measure { stdout, command } => bench::measure(&command, stdout.as_deref()),
    }
}
