//! `warroom bench`: reproducible measurements of SPEC §9's targets (figures go in
//! BENCHMARKS.md). Each measurement runs the real binary as a child process.

mod alerts;
mod escalation;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::json;

use crate::config::{Config, Environment};
use crate::domain::{Actor, EventKind, NewEvent, Source, SystemClock};
use crate::ops::{OpenRequest, Ops, Principal};
use crate::store;

/// Events appended per transaction while seeding; only seeding speed depends on it.
const SEED_BATCH: usize = 1_000;

/// How often readiness is polled while timing start-up: fine enough not to add visible delay.
const READY_POLL: Duration = Duration::from_millis(2);

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
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
    /// Run a command as this process's only child; print its wall time and peak RSS
    #[command(hide = true)]
    Measure {
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
}

/// The value at `share` (0.5 for the median, 1.0 for the maximum) of sorted values: the
/// smallest with at least that share of the values at or below it. `None` when empty.
fn percentile<T: Copy>(sorted: &[T], share: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let index = ((sorted.len() as f64 * share).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some(sorted[index])
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
        BenchCommand::Startup { runs, idle } => startup(runs, idle).await,
        BenchCommand::Export {
            events,
            database_url,
            runs,
        } => export(events, database_url, runs).await,
        BenchCommand::Burst { writers, notes } => {
            burst(Config::load(config_path, env)?, writers, notes).await
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
        BenchCommand::Measure { command } => measure(&command),
    }
}

fn write_config(dir: &Path, database_url: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join("warroom.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = {}\n",
            toml::Value::String(database_url.to_owned())
        ),
    )?;
    Ok(path)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn proc_status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

async fn startup(runs: u32, idle: Duration) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let client = reqwest::Client::builder().no_proxy().build()?;
    let mut ready_ms = Vec::new();
    let mut rss_kib = Vec::new();
    for run in 1..=runs {
        let dir = tempfile::tempdir()?;
        let config = write_config(dir.path(), "sqlite://warroom.db")?;
        let port = free_port()?;
        let started = Instant::now();
        let mut child = Command::new(&exe)
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env("WARROOM__HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .env("WARROOM_LOG", "warn")
            .env_remove("WARROOM_DISCORD_TOKEN")
            .stdout(Stdio::null())
            .spawn()?;
        let url = format!("http://127.0.0.1:{port}/readyz");
        loop {
            if let Some(status) = child.try_wait()? {
                bail!("warroom run exited early with {status}");
            }
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                bail!("warroom run was not ready after 30 s");
            }
            tokio::time::sleep(READY_POLL).await;
        }
        let ready = started.elapsed();
        tokio::time::sleep(idle).await;
        let rss = proc_status_kib(child.id(), "VmRSS:")?;
        let peak = proc_status_kib(child.id(), "VmHWM:")?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(child.id())?),
            nix::sys::signal::Signal::SIGTERM,
        )?;
        let status = child.wait()?;
        println!(
            "run {run}: ready after {:.1} ms; idle RSS {:.1} MiB (peak {:.1} MiB); exit on SIGTERM: {status}",
            ready.as_secs_f64() * 1000.0,
            rss as f64 / 1024.0,
            peak as f64 / 1024.0
        );
        ready_ms.push(ready.as_secs_f64() * 1000.0);
        rss_kib.push(rss);
    }
    ready_ms.sort_by(f64::total_cmp);
    rss_kib.sort_unstable();
    println!(
        "B5 over {runs} runs: start→ready median {:.1} ms, max {:.1} ms; idle RSS median {:.1} MiB, max {:.1} MiB",
        ready_ms[ready_ms.len() / 2],
        ready_ms[ready_ms.len() - 1],
        rss_kib[rss_kib.len() / 2] as f64 / 1024.0,
        rss_kib[rss_kib.len() - 1] as f64 / 1024.0
    );
    Ok(())
}

async fn export(events: usize, database_url: Option<String>, runs: u32) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = database_url.unwrap_or_else(|| "sqlite://bench.db".to_owned());
    let config_path = write_config(dir.path(), &url)?;
    let config = Config::load(&config_path, &Environment::default())?;
    let store = store::connect(&config.database).await?;
    let ops = Ops::new(store.clone(), Arc::new(config), Arc::new(SystemClock));
    let who = Principal::operator(Actor::cli("bench"));
    let seeding = Instant::now();
    let opened = ops
        .open(
            &who,
            Source::Cli,
            OpenRequest {
                title: "Export benchmark".to_owned(),
                severity: "SEV2".to_owned(),
                service: Some("api".to_owned()).filter(|_| ops.config().service("api").is_some()),
                ..OpenRequest::default()
            },
        )
        .await?;
    let id = opened.incident.id;
    let speakers: Vec<Actor> = (0..12)
        .map(|n| Actor::discord(100_000_000_000_000_000 + n, format!("responder-{n}")))
        .collect();
    let mut appended = 1;
    while appended < events {
        let batch = SEED_BATCH.min(events - appended);
        let clock = ops.clock().now();
        let batch: Vec<NewEvent> = (0..batch)
            .map(|offset| {
                let n = appended + offset;
                NewEvent::new(
                    clock,
                    EventKind::Message,
                    speakers[n % speakers.len()].clone(),
                    format!("message {n}: checked the dashboards again, p99 latency still elevated on the checkout path | see runbook step {}", n % 17),
                )
                .with_data(json!({"message_id": (1_200_000_000_000_000_000u64 + n as u64).to_string(), "attachments": []}))
            })
            .collect();
        appended += batch.len();
        store.append_events(id, batch).await?;
    }
    println!(
        "seeded {id} with {events} events on {} in {:.1} s",
        store.backend(),
        seeding.elapsed().as_secs_f64()
    );
    let exe = std::env::current_exe()?;
    for format in ["markdown", "json", "html"] {
        for run in 1..=runs {
            let output = dir.path().join(format!("export-{run}.{format}"));
            let measured = Command::new(&exe)
                .args(["bench", "measure", "--"])
                .arg(&exe)
                .arg("--config")
                .arg(&config_path)
                .args(["export", &id.0.to_string(), "--format", format, "-o"])
                .arg(&output)
                .env("WARROOM_LOG", "warn")
                .stderr(Stdio::inherit())
                .output()?;
            if !measured.status.success() {
                bail!(
                    "the measured export failed: {}",
                    String::from_utf8_lossy(&measured.stdout)
                );
            }
            let size = std::fs::metadata(&output)?.len();
            println!(
                "{format} run {run}: {} ; file {:.1} MiB",
                String::from_utf8_lossy(&measured.stdout).trim(),
                size as f64 / (1024.0 * 1024.0)
            );
        }
    }
    Ok(())
}

async fn burst(config: Config, writers: usize, notes: usize) -> anyhow::Result<()> {
    let store = store::connect(&config.database).await?;
    let ops = Ops::new(store, Arc::new(config), Arc::new(SystemClock));
    let tasks: Vec<_> = (0..writers)
        .map(|writer| tokio::spawn(write_forever(ops.clone(), writer, notes)))
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// One burst writer: opens an incident, adds `notes` notes, and starts over, until killed.
async fn write_forever(ops: Ops, writer: usize, notes: usize) -> anyhow::Result<()> {
    let who = Principal::operator(Actor::cli(&format!("writer{writer}")));
    loop {
        let request = OpenRequest {
            title: format!("burst from writer {writer}"),
            severity: "SEV3".to_owned(),
            ..OpenRequest::default()
        };
        let id = ops.open(&who, Source::Cli, request).await?.incident.id;
        report_commit(id, 1);
        for note in 0..notes {
            let written = ops.add_note(&who, id, &format!("note {note}")).await?;
            report_commit(id, written.events[0].seq);
        }
    }
}

/// Printed only after the commit returned, and flushed at once, so a line on stdout is a
/// promise the kill -9 test holds warroom to.
fn report_commit(id: crate::domain::IncidentId, seq: i64) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "committed {id} seq {seq}");
    let _ = stdout.flush();
}

fn measure(command: &[String]) -> anyhow::Result<()> {
    let (program, args) = command.split_first().context("nothing to measure")?;
    let started = Instant::now();
    let status = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .status()?;
    let elapsed = started.elapsed();
    // This process has exactly one child, so the children's peak is that child's peak.
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
    let cpu = |time: nix::sys::time::TimeVal| {
        time.tv_sec() as f64 * 1000.0 + time.tv_usec() as f64 / 1000.0
    };
    // CPU time is reported beside wall time because it barely moves when other work shares
    // the machine, while wall time does.
    println!(
        "wall {:.1} ms, cpu {:.1} ms (user {:.1} + sys {:.1}), peak RSS {:.1} MiB, exit {}",
        elapsed.as_secs_f64() * 1000.0,
        cpu(usage.user_time()) + cpu(usage.system_time()),
        cpu(usage.user_time()),
        cpu(usage.system_time()),
        usage.max_rss() as f64 / 1024.0,
        status
    );
    if !status.success() {
        bail!("the command failed: {status}");
    }
    Ok(())
}
