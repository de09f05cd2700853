//! B3: escalation precision. Seeds incidents whose first level comes due at one instant,
//! runs the real `warroom run` against a webhook receiver in this process, and measures how
//! late each page reached the receiver against its due time. Then the restart case: seeds
//! incidents whose pages are already overdue, starts `warroom run`, kills it with SIGKILL
//! while it is sending, restarts it, and times from ready to the last overdue page received.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::Value;

use super::alerts::{Running, wait_ready};
use super::free_port;
use super::{Usage, percentile};
use crate::config::{Config, Environment};
use crate::domain::{Clock, ManualClock, Source, SystemClock, Timestamp};
use crate::ops::{OpenRequest, Ops, Principal};
use crate::store;

pub struct Options {
    pub database_url: Option<String>,
    /// The (fresh) database of the restart part; a temporary SQLite file when neither URL is
    /// given.
    pub restart_database_url: Option<String>,
    pub incidents: usize,
    /// How long after the seeding starts the first level comes due.
    pub due_in: Duration,
}

/// Trigger deliveries seen by the receiver: dedup key → arrival times (ms since the epoch).
type Seen = super::receiver::Arrivals<String, i64>;

fn dedup_key(body: &Value) -> Option<String> {
    body["dedup_key"].as_str().map(str::to_owned)
}

fn now_ms() -> i64 {
    SystemClock.now().as_millis()
}

async fn start_receiver(seen: Seen) -> anyhow::Result<String> {
    super::receiver::start(seen, dedup_key, now_ms).await
}

/// The incidents are spread over this many services, each paging its own webhook notifier:
/// a notifier is rate limited to at most 1,000 pages/s (no paging API takes more), so one
/// notifier could not take 10,000 pages in a second whatever the engine did.
const SERVICES: usize = 20;

fn write_config(
    dir: &Path,
    database_url: &str,
    receiver: &str,
) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join("warroom.toml");
    let mut text = format!(
        "[database]\nurl = {}\n\n[escalation]\npage_lease = \"5m\"\n\n",
        toml::Value::String(database_url.to_owned()),
    );
    for n in 0..SERVICES {
        text.push_str(&format!(
            "[notifiers.hook{n}]\nkind = \"webhook\"\nurl = {}\nrate_per_second = 1000\nrate_burst = 1000\n\n[policies.bench{n}]\n[[policies.bench{n}.levels]]\nafter = \"0s\"\ntargets = [\"notifier:hook{n}\"]\n# Keeps the escalation active: what is measured is paging, not the audit that\n# follows a policy's last level.\n[[policies.bench{n}.levels]]\nafter = \"1h\"\ntargets = [\"notifier:hook{n}\"]\n\n[services.svc{n}]\nrto = \"15m\"\nrpo = \"0\"\npolicy = \"bench{n}\"\n\n",
            toml::Value::String(receiver.to_owned()),
        ));
    }
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Opens `count` incidents at the instant `at` (a manual clock), so their first level is due
/// at `at` for all of them. Returns the time it took.
async fn seed(config: &Config, count: usize, at: Timestamp) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let store = store::connect(&config.database).await?;
    let ops = Ops::new(
        store,
        Arc::new(config.clone()),
        Arc::new(ManualClock::new(at)),
    );
    let who = Principal::operator(crate::domain::Actor::cli("bench"));
    let mut tasks = tokio::task::JoinSet::new();
    let per_task = count.div_ceil(8);
    for task in 0..8 {
        let ops = ops.clone();
        let who = who.clone();
        tasks.spawn(async move {
            for n in (task * per_task)..((task + 1) * per_task).min(count) {
                ops.open(
                    &who,
                    Source::Cli,
                    OpenRequest {
                        title: format!("Escalation bench {n}"),
                        severity: "SEV2".to_owned(),
                        service: Some(format!("svc{}", n % SERVICES)),
                        ..Default::default()
                    },
                )
                .await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(started.elapsed())
}

fn spawn_run(config: &Path) -> anyhow::Result<(std::process::Child, String)> {
    let port = free_port()?;
    let child = Command::new(std::env::current_exe()?)
        .arg("--config")
        .arg(config)
        .arg("run")
        .env("WARROOM__HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("WARROOM_LOG", "warn")
        .env_remove("WARROOM_DISCORD_TOKEN")
        .stdout(Stdio::null())
        .spawn()?;
    Ok((child, format!("http://127.0.0.1:{port}/readyz")))
}

async fn wait_for(seen: &Seen, count: usize, limit: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    while seen.distinct() < count {
        if started.elapsed() > limit {
            bail!(
                "only {} of {count} pages arrived within {} s",
                seen.distinct(),
                limit.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

fn backend(url: &str) -> &'static str {
    if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    }
}

/// A fresh receiver and the configuration of a `warroom run` paging it, on `url`.
struct Setup {
    _dir: tempfile::TempDir,
    seen: Seen,
    config_path: std::path::PathBuf,
    config: Config,
}

async fn setup(url: &str) -> anyhow::Result<Setup> {
    let dir = tempfile::tempdir()?;
    let seen = Seen::default();
    let receiver = start_receiver(seen.clone()).await?;
    let config_path = write_config(dir.path(), url, &receiver)?;
    let config = Config::load(&config_path, &Environment::default())?;
    Ok(Setup {
        _dir: dir,
        seen,
        config_path,
        config,
    })
}

/// Starts `warroom run` and waits until it is ready.
async fn start(config_path: &Path) -> anyhow::Result<Running> {
    let (mut child, ready) = spawn_run(config_path)?;
    wait_ready(&ready, &mut child).await?;
    Ok(Running(child))
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    precision(&options).await?;
    let url = match (&options.database_url, &options.restart_database_url) {
        (_, Some(url)) => url.clone(),
        (None, None) => "sqlite://bench.db".to_owned(),
        (Some(_), None) => {
            println!(
                "restart: skipped; give --restart-database-url, a second fresh database, to measure it"
            );
            return Ok(());
        }
    };
    restart(&options, &url).await
}

/// Part 1: every incident's first level due at one instant, the engine waiting for it.
async fn precision(options: &Options) -> anyhow::Result<()> {
    let url = options
        .database_url
        .clone()
        .unwrap_or_else(|| "sqlite://bench.db".to_owned());
    let setup = setup(&url).await?;
    let due = SystemClock.now().plus(options.due_in);
    println!(
        "B3: {} incidents over {SERVICES} services (one webhook notifier each) whose first page is due at one instant ({}), database {}",
        options.incidents,
        due,
        backend(&url)
    );
    let seeding = seed(&setup.config, options.incidents, due).await?;
    println!("seeded in {:.1} s", seeding.as_secs_f64());
    let warroom = start(&setup.config_path).await?;
    if SystemClock.now() >= due {
        bail!(
            "seeding took longer than --due-in; raise it so the engine is idle when the pages come due"
        );
    }
    wait_for(&setup.seen, options.incidents, Duration::from_secs(600)).await?;
    let usage = Usage::of(warroom.0.id())?;
    drop(warroom);
    let arrivals = setup.seen.snapshot();
    let mut lateness: Vec<i64> = arrivals
        .values()
        .map(|times| times[0] - due.as_millis())
        .collect();
    lateness.sort_unstable();
    println!(
        "warroom run, from start to the last page: {}",
        usage.describe()
    );
    println!(
        "lateness of {} pages against their due time: p50 {} ms, p99 {} ms, max {} ms; pages received twice: {}",
        lateness.len(),
        percentile(&lateness, 0.50).unwrap_or(0),
        percentile(&lateness, 0.99).unwrap_or(0),
        percentile(&lateness, 1.0).unwrap_or(0),
        repeats(&arrivals),
    );
    Ok(())
}

fn repeats(arrivals: &BTreeMap<String, Vec<i64>>) -> usize {
    arrivals.values().map(|times| times.len() - 1).sum()
}

/// Part 2: overdue pages, a kill -9 while sending, a restart; on the fresh database `url`.
async fn restart(options: &Options, url: &str) -> anyhow::Result<()> {
    let setup = setup(url).await?;
    let seen = &setup.seen;
    seed(&setup.config, options.incidents, SystemClock.now()).await?;
    let mut killed = start(&setup.config_path).await?;
    wait_for(seen, options.incidents / 5, Duration::from_secs(600)).await?;
    killed.0.kill()?; // SIGKILL
    killed.0.wait()?;
    let before_restart = seen.distinct();
    let warroom = start(&setup.config_path).await?;
    let ready_at = SystemClock.now();
    wait_for(seen, options.incidents, Duration::from_secs(600)).await?;
    let last = seen
        .snapshot()
        .values()
        .map(|times| times[0])
        .max()
        .unwrap_or(ready_at.as_millis());
    // Any page still to be sent again would arrive now: the restarted process ended the
    // killed one's claims at start (page_lease is 5 minutes here, so nothing waits for it).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let usage = Usage::of(warroom.0.id())?;
    drop(warroom);
    println!(
        "restarted warroom run, from start to 2 s after the last page: {}",
        usage.describe()
    );
    println!(
        "restart: killed with SIGKILL after {before_restart} of {} overdue pages; after the restart, the last overdue page arrived {} ms after ready; pages received twice (in flight at the kill): {}",
        options.incidents,
        last - ready_at.as_millis(),
        repeats(&seen.snapshot()),
    );
    Ok(())
}
