//! B6: alert to page, the delay on-call people feel. New alert groups are posted at a fixed
//! rate to `/v1/alerts/alertmanager` of a real `warroom run` (a child process); each opens an
//! incident whose policy's first level pages a webhook notifier at once, and a receiver in
//! this process notes when each page arrives. Reported: from each POST to its page, p50, p99
//! and max.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::alerts::{Running, wait_ready};
use super::free_port;
use super::{Usage, percentile};

/// The token the benchmark's sender uses (only inside the child's environment).
const TOKEN: &str = "bench-b6-0123456789abcdef0123456789abcdef";

/// The title of alert group `n`'s incident, which its page carries back.
const TITLE: &str = "B6 alert";

/// How long to wait for the last pages after the last alert was posted.
const DRAIN: Duration = Duration::from_secs(60);

/// Options of `warroom bench alert-to-page`.
#[derive(Clone, Debug)]
pub struct Options {
    /// A fresh database instead of a temporary SQLite file (e.g. postgres://...).
    pub database_url: Option<String>,
    /// New alert groups per second.
    pub rate: u32,
    pub seconds: u64,
}

/// When each alert group's page arrived, by group number.
type Arrivals = super::receiver::Arrivals<usize, Instant>;

/// The alert group a page is for, from its incident's title.
fn group_of(body: &Value) -> Option<usize> {
    body["incident"]["title"]
        .as_str()
        .and_then(|title| title.strip_prefix(TITLE))
        .and_then(|n| n.trim().parse().ok())
}

async fn start_receiver(arrivals: Arrivals) -> anyhow::Result<String> {
    super::receiver::start(arrivals, group_of, Instant::now).await
}

/// Every alert group goes by the default route to the default policy, whose first level
/// pages the receiver at once (a second, an hour later, keeps the escalation active so the
/// audit stays out of what is measured).
fn write_config(dir: &Path, database_url: &str, receiver: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join("warroom.toml");
    let text = format!(
        "[database]\nurl = {}\n\n\
         [api_tokens.bench]\ntoken_env = \"WARROOM_BENCH_TOKEN\"\nroles = [\"alert_sender\"]\n\n\
         [alerts]\n# Every alert group opens its incident; storm control is not what is measured.\n\
         max_new_incidents_per_minute = 100000\n\n\
         [escalation]\ndefault_policy = \"b6\"\n\n\
         [notifiers.hook]\nkind = \"webhook\"\nurl = {}\nrate_per_second = 1000\nrate_burst = 1000\n\n\
         [policies.b6]\n[[policies.b6.levels]]\nafter = \"0s\"\ntargets = [\"notifier:hook\"]\n\
         [[policies.b6.levels]]\nafter = \"1h\"\ntargets = [\"notifier:hook\"]\n",
        toml::Value::String(database_url.to_owned()),
        toml::Value::String(receiver.to_owned()),
    );
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Alertmanager's webhook for the first (firing) alert of group `n`.
fn webhook(n: usize) -> Value {
    let name = format!("B6Alert{n}");
    let summary = format!("{TITLE} {n}");
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{name}\"}}"),
        "status": "firing",
        "receiver": "warroom",
        "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name, "severity": "critical"},
        "commonAnnotations": {"summary": summary},
        "externalURL": "http://127.0.0.1:9093",
        "truncatedAlerts": 0,
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": name, "severity": "critical"},
            "annotations": {"summary": summary},
            "startsAt": chrono::Utc::now().to_rfc3339(),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://127.0.0.1:9090/graph",
            "fingerprint": format!("b6-{n}"),
        }],
    })
}

fn spawn_run(config: &Path) -> anyhow::Result<(Running, u16)> {
    let port = free_port()?;
    let child = Command::new(std::env::current_exe()?)
        .arg("--config")
        .arg(config)
        .arg("run")
        .env("WARROOM__HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("WARROOM_BENCH_TOKEN", TOKEN)
        .env("WARROOM_LOG", "warn")
        .env_remove("WARROOM_DISCORD_TOKEN")
        .stdout(Stdio::null())
        .spawn()?;
    Ok((Running(child), port))
}

/// Posts `total` new alert groups at `rate` per second, each without waiting for the ones
/// before; returns when each POST was sent, by group. Fails on any non-2xx answer.
async fn post_alerts(endpoint: &str, rate: u32, total: usize) -> anyhow::Result<Vec<Instant>> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut posts = Vec::with_capacity(total);
    for n in 0..total {
        ticker.tick().await;
        let body = serde_json::to_vec(&webhook(n))?;
        let request = client
            .post(endpoint)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body);
        let sent = Instant::now();
        posts.push(tokio::spawn(async move {
            let response = request.send().await?;
            let status = response.status();
            if !status.is_success() {
                bail!("alert {n}: answered {status}: {}", response.text().await?);
            }
            anyhow::Ok(sent)
        }));
    }
    let mut sent = Vec::with_capacity(total);
    for post in posts {
        sent.push(post.await??);
    }
    Ok(sent)
}

async fn wait_for(arrivals: &Arrivals, total: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    while arrivals.distinct() < total {
        if started.elapsed() > DRAIN {
            bail!(
                "only {} of {total} alerts were paged within {} s of the last POST",
                arrivals.distinct(),
                DRAIN.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = options
        .database_url
        .clone()
        .unwrap_or_else(|| "sqlite://bench.db".to_owned());
    let arrivals = Arrivals::default();
    let receiver = start_receiver(arrivals.clone()).await?;
    let config = write_config(dir.path(), &url, &receiver)?;
    let total = usize::try_from(u64::from(options.rate) * options.seconds)?;
    println!(
        "B6: {total} new alert groups at {}/s for {} s to /v1/alerts/alertmanager of warroom run, each paging a webhook at once; database {}",
        options.rate,
        options.seconds,
        if url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    let (mut warroom, port) = spawn_run(&config)?;
    wait_ready(&format!("http://127.0.0.1:{port}/readyz"), &mut warroom.0).await?;
    let endpoint = format!("http://127.0.0.1:{port}/v1/alerts/alertmanager");
    let sent = post_alerts(&endpoint, options.rate, total)
        .await
        .context("posting the alerts")?;
    wait_for(&arrivals, total).await?;
    let usage = Usage::of(warroom.0.id())?;
    drop(warroom);
    report(&sent, &arrivals.snapshot(), usage);
    Ok(())
}

fn report(sent: &[Instant], arrivals: &BTreeMap<usize, Vec<Instant>>, usage: Usage) {
    let mut delays: Vec<Duration> = arrivals
        .iter()
        .filter_map(|(&n, times)| Some(times.first()?.saturating_duration_since(*sent.get(n)?)))
        .collect();
    delays.sort();
    let repeats: usize = arrivals.values().map(|times| times.len() - 1).sum();
    let ms =
        |share: f64| percentile(&delays, share).map_or(0.0, |delay| delay.as_secs_f64() * 1000.0);
    println!("warroom run: {}", usage.describe());
    println!(
        "alert to page: {} of {} alerts paged (pages received twice: {repeats}); p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        delays.len(),
        sent.len(),
        ms(0.50),
        ms(0.99),
        ms(1.0)
    );
}
