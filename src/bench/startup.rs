//! B5 footprint: `warroom run` on a fresh SQLite file, timed from start to `/readyz` answering
//! 200, then the resident memory of the idle process.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::bail;

use super::{free_port, proc_status_kib, write_config};

/// How often readiness is polled while timing start-up: fine enough not to add visible delay.
const READY_POLL: Duration = Duration::from_millis(2);

pub async fn startup(runs: u32, idle: Duration) -> anyhow::Result<()> {
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
