//! B1 interaction latency (SPEC §9): `/incident open` interactions at a fixed rate through the
//! Discord emulator, timing each from the INTERACTION_CREATE dispatch to warroom's callback
//! (the incident is stored before the callback is sent). warroom runs in this process, on a
//! fresh SQLite file or the database given (`--database-url`, SQLite or PostgreSQL).

use std::time::{Duration, Instant};

use discord_emulator::{Emulator, EmulatorConfig};

use crate::app::{self, Overrides};
use crate::config::Config;

/// How long to wait for every answer after the last interaction was sent.
const DRAIN: Duration = Duration::from_secs(30);

/// What B1 sends.
#[derive(Clone, Debug)]
pub struct Options {
    /// Interactions per second.
    pub rate: u32,
    pub seconds: u64,
    /// A fresh database (e.g. postgres://...) instead of a temporary SQLite file.
    pub database_url: Option<String>,
}

/// Runs B1 and prints its figures; the last line gives the percentiles.
pub async fn run(options: Options) -> anyhow::Result<()> {
    let Options {
        rate,
        seconds,
        database_url,
    } = options;
    let setting = Setting::start(database_url.as_deref()).await?;
    let total = u64::from(rate) * seconds;
    let (sending, waits) = send(&setting, rate, total).await?;
    let mut latencies = Vec::with_capacity(waits.len());
    let mut failures = 0;
    let mut deferred = 0;
    for wait in waits {
        let (latency, kind) = wait.await?;
        match kind {
            Ok(discord_emulator::CallbackKind::Message) => latencies.push(latency),
            Ok(discord_emulator::CallbackKind::DeferredMessage) => {
                deferred += 1;
                latencies.push(latency);
            }
            _ => failures += 1,
        }
    }
    setting.app.stop().await?;
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let late = setting
        .emu
        .requests()
        .iter()
        .filter(|request| request.path.contains("/callback") && request.status >= 400)
        .count();
    println!(
        "B1 /incident open on {}: {total} interactions at {rate}/s over {:.1} s (achieved {:.0}/s); answered {}, deferred {deferred}, failed {failures}, callbacks refused by the emulator {late}",
        match database_url.as_deref() {
            Some(url) if url.starts_with("postgres") => "PostgreSQL",
            _ => "SQLite",
        },
        sending.as_secs_f64(),
        total as f64 / sending.as_secs_f64(),
        latencies.len()
    );
    println!(
        "dispatch → callback: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.50).as_secs_f64() * 1000.0,
        at(0.90).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
    );
    setting.emu.shutdown().await;
    Ok(())
}

/// The emulator's guild and warroom connected to it, in this process.
struct Setting {
    emu: Emulator,
    app: app::Running,
    alice: discord_emulator::Actor,
    general: discord_emulator::ChannelId,
    /// Keeps the config alive.
    _dir: tempfile::TempDir,
}

impl Setting {
    async fn start(database_url: Option<&str>) -> anyhow::Result<Setting> {
        let emu = Emulator::start(EmulatorConfig::default()).await;
        let responders = emu.add_role("responders");
        let category = emu.add_category("incidents");
        let announce = emu.add_text_channel("incident-announcements", None);
        let general = emu.add_text_channel("general", None);
        let dir = tempfile::tempdir()?;
        let config_path = dir.path().join("warroom.toml");
        std::fs::write(&config_path, crate::config::DEFAULT_CONFIG_TOML)?;
        let mut env = super::discord_env::environment(
            &emu,
            category,
            announce,
            &[("responder", responders)],
            &dir.path().join("no-commands"),
        );
        if let Some(url) = database_url {
            env = env.extended([("WARROOM__DATABASE__URL", url)]);
        }
        // The pool size is the one setting of the database B1 is run with by choice.
        if let Ok(size) = std::env::var("WARROOM__DATABASE__MAX_CONNECTIONS") {
            env = env.extended([("WARROOM__DATABASE__MAX_CONNECTIONS", size.as_str())]);
        }
        let config = Config::load(&config_path, &env)?;
        let app = app::spawn(config, "127.0.0.1:0".parse()?, Overrides::default()).await?;
        emu.wait_connected(Duration::from_secs(30)).await?;
        emu.wait_for_command("incident", Duration::from_secs(30))
            .await?;
        let alice = emu.member("alice", &[responders]);
        Ok(Setting {
            emu,
            app,
            alice,
            general,
            _dir: dir,
        })
    }
}

type Answer = (
    Duration,
    Result<discord_emulator::CallbackKind, discord_emulator::Error>,
);

/// Sends `total` interactions at `rate` per second: how long sending took, and a wait for
/// each answer.
async fn send(
    setting: &Setting,
    rate: u32,
    total: u64,
) -> anyhow::Result<(Duration, Vec<tokio::task::JoinHandle<Answer>>)> {
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut waits = Vec::with_capacity(total as usize);
    for n in 0..total {
        ticker.tick().await;
        let sent = Instant::now();
        let interaction = setting
            .alice
            .run(
                setting.general,
                &format!(r#"/incident open title:"bench {n}" severity:SEV3"#),
            )
            .map_err(|error| anyhow::anyhow!("{error:?}"))?;
        waits.push(tokio::spawn(async move {
            let response = interaction.response_within(DRAIN).await;
            (sent.elapsed(), response.map(|response| response.kind))
        }));
    }
    Ok((started.elapsed(), waits))
}
