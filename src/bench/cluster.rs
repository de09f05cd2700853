//! Several real `warroom run` processes on one database, connected to the project's Discord
//! emulator (in this process): the setting of B7 failover, B8 propagation and B5's two roles
//! (SPEC §8, §9). Each process is this binary's `run`, with its own HTTP port; `/readyz` says
//! which one holds the gateway.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use discord_emulator::{ChannelId, Emulator, EmulatorConfig, RoleId};
use serde_json::Value;

use super::free_port;
use crate::config::Environment;

/// The bearer token of the API token the cluster's config defines (an incident commander).
pub const API_TOKEN: &str = "bench-commander-0123456789abcdef012345";

/// How long a process may take to become ready, or a standby to take the gateway.
const PATIENCE: Duration = Duration::from_secs(60);

/// A guild in the emulator and the config every process of the cluster shares.
pub struct Cluster {
    pub emu: Emulator,
    pub responders: RoleId,
    pub general: ChannelId,
    /// Keeps the config (and the SQLite file, when there is no database URL) alive.
    dir: tempfile::TempDir,
    config: PathBuf,
    env: Environment,
    client: reqwest::Client,
    started: usize,
}

/// One `warroom run` of the cluster.
pub struct Member {
    pub name: String,
    child: Child,
    pub base: String,
}

impl Cluster {
    /// The emulator's guild (bigger when `members`/`channels` are given, for B5) and the
    /// config: `database_url` or a SQLite file in a temporary directory.
    pub async fn new(
        database_url: Option<&str>,
        members: usize,
        channels: usize,
    ) -> anyhow::Result<Cluster> {
        let emu = Emulator::start(EmulatorConfig::default()).await;
        if members > 0 || channels > 0 {
            emu.seed_large_guild(members, channels);
        }
        let responders = emu.add_role("responders");
        let commanders = emu.add_role("commanders");
        let category = emu.add_category("incidents");
        let announce = emu.add_text_channel("incident-announcements", None);
        let general = emu.add_text_channel("general", None);
        let dir = tempfile::tempdir()?;
        let url = database_url.map_or_else(
            || format!("sqlite://{}", dir.path().join("warroom.db").display()),
            str::to_owned,
        );
        let config = dir.path().join("warroom.toml");
        std::fs::write(
            &config,
            format!(
                "[database]\nurl = {}\n\n[api_tokens.bench]\ntoken_env = \"WARROOM_BENCH_TOKEN\"\nroles = [\"incident_commander\"]\n",
                toml::Value::String(url)
            ),
        )?;
        let env = super::discord_env::environment(
            &emu,
            category,
            announce,
            &[
                ("responder", responders),
                ("incident_commander", commanders),
            ],
            &dir.path().join("no-commands"),
        )
        .extended([("WARROOM_BENCH_TOKEN", API_TOKEN)]);
        Ok(Cluster {
            emu,
            responders,
            general,
            dir,
            config,
            env,
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(5))
                .build()?,
            started: 0,
        })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Starts one more `warroom run` and waits until it is ready.
    pub async fn start(&mut self) -> anyhow::Result<Member> {
        self.started += 1;
        let name = format!("warroom-{}", self.started);
        let port = free_port()?;
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg("--config")
            .arg(&self.config)
            .arg("run")
            .current_dir(self.dir.path())
            .env("WARROOM__HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .env("WARROOM_LOG", "warn")
            .stdout(Stdio::null());
        for (variable, value) in self.env.vars() {
            command.env(variable, value);
        }
        let mut member = Member {
            name,
            child: command.spawn().context("starting warroom run")?,
            base: format!("http://127.0.0.1:{port}"),
        };
        super::alerts::wait_ready(&format!("{}/readyz", member.base), &mut member.child)
            .await
            .with_context(|| format!("{} did not become ready", member.name))?;
        Ok(member)
    }

    /// Waits until exactly one of `members` holds the gateway (connected, /incident
    /// registered): its index.
    pub async fn holder(&self, members: &[Member]) -> anyhow::Result<usize> {
        let started = Instant::now();
        loop {
            let mut holders = Vec::new();
            for (index, member) in members.iter().enumerate() {
                if member.holds_gateway(&self.client).await {
                    holders.push(index);
                }
            }
            if let [one] = holders[..]
                && self.emu.is_connected()
            {
                return Ok(one);
            }
            if started.elapsed() > PATIENCE {
                bail!("no single gateway holder after {PATIENCE:?}: {holders:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Member {
    /// `/readyz`: its status and body, or `None` while nothing answers.
    pub async fn readyz(&self, client: &reqwest::Client) -> Option<(u16, Value)> {
        let response = client
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.json().await.unwrap_or(Value::Null)))
    }

    pub async fn holds_gateway(&self, client: &reqwest::Client) -> bool {
        matches!(self.readyz(client).await, Some((200, body)) if body["discord"] == "connected")
    }

    pub fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Resident memory now and at its peak, in KiB.
    pub fn memory_kib(&self) -> anyhow::Result<(u64, u64)> {
        Ok((
            super::proc_status_kib(self.child.id(), "VmRSS:")?,
            super::proc_status_kib(self.child.id(), "VmHWM:")?,
        ))
    }

    /// SIGTERM, then waits for the exit.
    pub fn stop(mut self) -> anyhow::Result<()> {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(self.child.id())?),
            nix::sys::signal::Signal::SIGTERM,
        )?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Milliseconds of a duration, for printing.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
