//! `warroom bench`: reproducible measurements of SPEC §9's targets (figures go in
//! BENCHMARKS.md), the one home of every measurement, one file each: `interactions` (B1),
//! `alerts` (B2), `escalation` (B3), `export` (B4), `startup` (B5), `alert_to_page` (B6),
//! `roles` (B5 for the gateway holder and a standby), `failover` (B7), `propagation` (B8), `report` (B9) —
//! the last three on `cluster`, several `warroom run` processes on one database — and `burst`, the writer
//! the kill -9 test kills; `discord_env` points warroom at the Discord emulator. `cli::bench`
//! says which to run with what; `cargo bench --bench interactions` is B1 by another name.

pub mod alert_to_page;
pub mod alerts;
mod burst;
mod cluster;
pub mod discord_env;
pub mod escalation;
mod export;
pub mod failover;
pub mod interactions;
pub mod propagation;
mod receiver;
pub mod report;
pub mod roles;
mod startup;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

pub use burst::burst;
pub use export::export;
pub use startup::startup;

/// The value at `share` (0.5 for the median, 1.0 for the maximum) of sorted values: the
/// smallest with at least that share of the values at or below it. `None` when empty.
pub(crate) fn percentile<T: Copy>(sorted: &[T], share: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let index = ((sorted.len() as f64 * share).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some(sorted[index])
}

pub(crate) fn write_config(dir: &Path, database_url: &str) -> anyhow::Result<PathBuf> {
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

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(crate) fn proc_status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// What a child process used so far, read from `/proc` while it still runs: its peak
/// resident memory and its CPU time (user + system). CPU time barely moves when other work
/// shares the machine, so it is the steadier figure of the two.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Usage {
    pub peak_rss_kib: u64,
    pub cpu_ms: u64,
}

impl Usage {
    pub(crate) fn of(pid: u32) -> anyhow::Result<Usage> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // The fields after the command (which may hold spaces) in parentheses; utime and
        // stime are the 14th and 15th fields, in USER_HZ ticks (100 per second on Linux).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .with_context(|| format!("/proc/{pid}/stat is not what Linux writes"))?;
        let ticks = |index: usize| -> anyhow::Result<u64> {
            fields
                .get(index)
                .and_then(|field| field.parse().ok())
                .with_context(|| format!("no CPU time in /proc/{pid}/stat"))
        };
        // fields[0] is the state (field 3), so field n is fields[n - 3].
        let cpu_ticks = ticks(14 - 3)? + ticks(15 - 3)?;
        Ok(Usage {
            peak_rss_kib: proc_status_kib(pid, "VmHWM:")?,
            cpu_ms: cpu_ticks * 10,
        })
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "peak RSS {:.1} MiB, CPU {} ms",
            self.peak_rss_kib as f64 / 1024.0,
            self.cpu_ms
        )
    }
}

/// Runs `command` as this process's only child and prints its wall time, CPU time and peak
/// resident memory (from the kernel, via `getrusage` of the children).
/// Its standard output goes to `stdout` when given, else nowhere.
pub fn measure(command: &[String], stdout: Option<&Path>) -> anyhow::Result<()> {
    let (program, args) = command.split_first().context("nothing to measure")?;
    let output = match stdout {
        Some(path) => Stdio::from(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Stdio::null(),
    };
    let started = Instant::now();
    let status = Command::new(program).args(args).stdout(output).status()?;
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
