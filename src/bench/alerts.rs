//! B2: Alertmanager webhook deliveries of 10 alerts each, 90 % of them duplicates, posted to
//! a real `warroom run` (a child process) by concurrent clients; and, side by side, the same
//! alerts posted to a local Alertmanager's API, as a reference for what users already run.

use super::free_port;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::domain::Timestamp;

/// The token the benchmark's sender uses (only inside the child's environment).
const TOKEN: &str = "bench-0123456789abcdef0123456789abcdef0123";

/// Options of `warroom bench alerts`.
#[derive(Clone, Debug)]
pub struct Options {
    pub database_url: Option<String>,
    pub deliveries: usize,
    pub alerts_per_delivery: usize,
    pub duplicate_ratio: f64,
    pub groups: usize,
    pub concurrency: usize,
    pub alertmanager: Option<String>,
}

/// One delivery as both formats need it.
struct Delivery {
    group: usize,
    alerts: Vec<(String, Timestamp)>,
}

/// The deliveries of the run: each group keeps a window of `alerts_per_delivery` current
/// alerts; each alert of a delivery is replaced by a new one with probability
/// `1 - duplicate_ratio`, so that share of the alerts sent is new and the rest repeats.
fn plan(options: &Options, start: Timestamp) -> (Vec<Delivery>, Vec<Delivery>, f64) {
    let mut rng = fastrand::Rng::with_seed(0x005e_edb2);
    let mut next = 0usize;
    let mut fresh = |group: usize| {
        next += 1;
        (
            format!("g{group}-a{next}"),
            start.plus(Duration::from_millis(next as u64)),
        )
    };
    let mut windows: Vec<Vec<(String, Timestamp)>> = (0..options.groups)
        .map(|group| {
            (0..options.alerts_per_delivery)
                .map(|_| fresh(group))
                .collect()
        })
        .collect();
    // Warm-up: every group's first delivery (all new; it opens the group's incident).
    let warmup = windows
        .iter()
        .enumerate()
        .map(|(group, alerts)| Delivery {
            group,
            alerts: alerts.clone(),
        })
        .collect();
    let mut timed = Vec::with_capacity(options.deliveries);
    let (mut sent, mut new) = (0usize, 0usize);
    for index in 0..options.deliveries {
        let group = index % options.groups;
        for alert in windows[group].iter_mut() {
            if rng.f64() >= options.duplicate_ratio {
                *alert = fresh(group);
                new += 1;
            }
            sent += 1;
        }
        timed.push(Delivery {
            group,
            alerts: windows[group].clone(),
        });
    }
    (warmup, timed, 1.0 - new as f64 / sent.max(1) as f64)
}

fn webhook(delivery: &Delivery) -> Value {
    let group = format!("{{}}:{{alertname=\"Bench{}\"}}", delivery.group);
    json!({
        "version": "4",
        "groupKey": group,
        "status": "firing",
        "receiver": "warroom",
        "groupLabels": {"alertname": format!("Bench{}", delivery.group)},
        "commonLabels": {"alertname": format!("Bench{}", delivery.group), "severity": "warning"},
        "commonAnnotations": {"summary": format!("Benchmark group {}", delivery.group)},
        "externalURL": "http://127.0.0.1:9093",
        "truncatedAlerts": 0,
        "alerts": delivery.alerts.iter().map(|(fingerprint, starts)| json!({
            "status": "firing",
            "labels": {"alertname": format!("Bench{}", delivery.group), "instance": fingerprint, "severity": "warning"},
            "annotations": {"summary": format!("Benchmark group {}", delivery.group)},
            "startsAt": starts.to_rfc3339(),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://127.0.0.1:9090/graph",
            "fingerprint": fingerprint,
        })).collect::<Vec<_>>(),
    })
}

/// The same alerts as Alertmanager's own API takes them (`POST /api/v2/alerts`).
fn alertmanager_alerts(delivery: &Delivery) -> Value {
    Value::Array(
        delivery
            .alerts
            .iter()
            .map(|(fingerprint, starts)| {
                json!({
                    "labels": {"alertname": format!("Bench{}", delivery.group), "instance": fingerprint, "severity": "warning"},
                    "annotations": {"summary": format!("Benchmark group {}", delivery.group)},
                    "startsAt": starts.to_rfc3339(),
                    "generatorURL": "http://127.0.0.1:9090/graph",
                })
            })
            .collect(),
    )
}

struct Measured {
    alerts_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    wall: Duration,
}

/// Posts every body with `concurrency` clients; fails on any non-2xx answer.
async fn drive(
    url: &str,
    bearer: Option<&str>,
    bodies: Vec<Value>,
    alerts: usize,
    concurrency: usize,
) -> anyhow::Result<Measured> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        bodies
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<_, _>>()?,
    );
    let cursor = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, bodies, cursor) = (client.clone(), bodies.clone(), cursor.clone());
            let url = url.to_owned();
            let bearer = bearer.map(str::to_owned);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let index = cursor.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(index) else {
                        return Ok::<_, anyhow::Error>(latencies);
                    };
                    let mut request = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone());
                    if let Some(bearer) = &bearer {
                        request = request.bearer_auth(bearer);
                    }
                    let sent = Instant::now();
                    let response = request.send().await?;
                    let status = response.status();
                    let text = response.text().await?;
                    latencies.push(sent.elapsed());
                    if !status.is_success() {
                        bail!("{url} answered {status}: {text}");
                    }
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let wall = started.elapsed();
    latencies.sort();
    let at = |q: f64| {
        super::percentile(&latencies, q).map_or(0.0, |latency| latency.as_secs_f64() * 1000.0)
    };
    Ok(Measured {
        alerts_per_second: alerts as f64 / wall.as_secs_f64(),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: at(1.0),
        wall,
    })
}

/// Stops a child process when dropped.
pub(super) struct Running(pub(super) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(super) async fn wait_ready(url: &str, child: &mut Child) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("{url}: the process exited early with {status}");
        }
        if let Ok(response) = client.get(url).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("{url} was not ready after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn print(name: &str, measured: &Measured, requests: usize) {
    println!(
        "{name}: {:.0} alerts/s ({requests} requests in {:.2} s); latency per request p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        measured.alerts_per_second,
        measured.wall.as_secs_f64(),
        measured.p50_ms,
        measured.p99_ms,
        measured.max_ms
    );
}

/// Runs B2: warroom first, then, where installed, Alertmanager's own API as the reference.
pub async fn run(options: Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = options
        .database_url
        .clone()
        .unwrap_or_else(|| "sqlite://bench.db".to_owned());
    let config = write_bench_config(dir.path(), &url)?;
    let (warmup, timed, duplicates) = plan(&options, Timestamp::from_datetime(chrono::Utc::now()));
    println!(
        "B2: {} deliveries of {} alerts ({} alerts, {:.1} % duplicates) over {} groups, {} concurrent clients, database {}",
        options.deliveries,
        options.alerts_per_delivery,
        options.deliveries * options.alerts_per_delivery,
        duplicates * 100.0,
        options.groups,
        options.concurrency,
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );
    bench_warroom(&options, &config, &warmup, &timed).await?;
    let alertmanager = options.alertmanager.clone().or_else(|| {
        Path::new("/usr/bin/prometheus-alertmanager")
            .exists()
            .then(|| "/usr/bin/prometheus-alertmanager".to_owned())
    });
    let Some(alertmanager) = alertmanager else {
        println!(
            "reference: no prometheus-alertmanager found (apt-get install prometheus-alertmanager); skipped"
        );
        return Ok(());
    };
    bench_alertmanager(&options, &alertmanager, dir.path(), &warmup, &timed).await
}

/// The config of the benchmarked warroom: the database, the sender's token, no storm cap.
fn write_bench_config(dir: &Path, url: &str) -> anyhow::Result<std::path::PathBuf> {
    let config = dir.join("warroom.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = {}\n\n[api_tokens.bench]\ntoken_env = \"WARROOM_BENCH_TOKEN\"\nroles = [\"alert_sender\"]\n\n[alerts]\n# Every group of the benchmark opens its incident; storm control is not what is measured.\nmax_new_incidents_per_minute = 100000\n",
            toml::Value::String(url.to_owned())
        ),
    )?;
    Ok(config)
}

/// Starts `warroom run`, warms it up, measures, and prints the result with the peak
/// resident memory the process reached (the kernel's high-water mark, `VmHWM`).
async fn bench_warroom(
    options: &Options,
    config: &Path,
    warmup: &[Delivery],
    timed: &[Delivery],
) -> anyhow::Result<()> {
    let port = free_port()?;
    let exe = std::env::current_exe()?;
    let mut child = Command::new(&exe)
        .arg("--config")
        .arg(config)
        .arg("run")
        .env("WARROOM__HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("WARROOM_BENCH_TOKEN", TOKEN)
        .env("WARROOM_LOG", "warn")
        .env_remove("WARROOM_DISCORD_TOKEN")
        .stdout(Stdio::null())
        .spawn()?;
    wait_ready(&format!("http://127.0.0.1:{port}/readyz"), &mut child).await?;
    let warroom = Running(child);
    let endpoint = format!("http://127.0.0.1:{port}/v1/alerts/alertmanager");
    drive(
        &endpoint,
        Some(TOKEN),
        warmup.iter().map(webhook).collect(),
        warmup.len() * options.alerts_per_delivery,
        options.concurrency,
    )
    .await
    .context("warm-up (each group's first delivery)")?;
    let measured = drive(
        &endpoint,
        Some(TOKEN),
        timed.iter().map(webhook).collect(),
        options.deliveries * options.alerts_per_delivery,
        options.concurrency,
    )
    .await?;
    print("warroom /v1/alerts/alertmanager", &measured, timed.len());
    let peak = super::proc_status_kib(warroom.0.id(), "VmHWM:")
        .context("read the peak resident memory of warroom run")?;
    println!("warroom run: peak RSS {:.1} MiB", peak as f64 / 1024.0);
    drop(warroom);
    Ok(())
}

/// The same alerts posted to a local Alertmanager's API, as the reference.
async fn bench_alertmanager(
    options: &Options,
    alertmanager: &str,
    dir: &Path,
    warmup: &[Delivery],
    timed: &[Delivery],
) -> anyhow::Result<()> {
    let am_config = dir.join("alertmanager.yml");
    std::fs::write(
        &am_config,
        "route:\n  receiver: 'null'\n  group_by: ['alertname']\nreceivers:\n  - name: 'null'\n",
    )?;
    let am_port = free_port()?;
    let mut child = Command::new(alertmanager)
        .arg(format!("--config.file={}", am_config.display()))
        .arg(format!("--storage.path={}", dir.join("am").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn")
        .env_clear()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("start {alertmanager}"))?;
    wait_ready(&format!("http://127.0.0.1:{am_port}/-/ready"), &mut child).await?;
    let _alertmanager = Running(child);
    let api = format!("http://127.0.0.1:{am_port}/api/v2/alerts");
    drive(
        &api,
        None,
        warmup.iter().map(alertmanager_alerts).collect(),
        warmup.len() * options.alerts_per_delivery,
        options.concurrency,
    )
    .await
    .context("Alertmanager warm-up")?;
    let reference = drive(
        &api,
        None,
        timed.iter().map(alertmanager_alerts).collect(),
        options.deliveries * options.alerts_per_delivery,
        options.concurrency,
    )
    .await?;
    print(
        "reference: Alertmanager 0.25 POST /api/v2/alerts",
        &reference,
        timed.len(),
    );
    Ok(())
}
