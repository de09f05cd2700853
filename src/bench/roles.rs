//! B5 for both roles (SPEC §8, §9): two idle `warroom run` processes on one database, the
//! emulator's guild seeded with many members and channels; the resident memory of the process
//! holding the gateway (its cache holds the guild) and of the standby.

use std::time::Duration;

use super::cluster::Cluster;

pub async fn run(
    database_url: Option<String>,
    members: usize,
    channels: usize,
    idle: Duration,
) -> anyhow::Result<()> {
    let mut cluster = Cluster::new(database_url.as_deref(), members, channels).await?;
    let processes = vec![cluster.start().await?, cluster.start().await?];
    let holder = cluster.holder(&processes).await?;
    tokio::time::sleep(idle).await;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let (holder_rss, holder_peak) = processes[holder].memory_kib()?;
    let (standby_rss, standby_peak) = processes[1 - holder].memory_kib()?;
    for process in processes {
        process.stop()?;
    }
    println!(
        "B5 roles on {}, guild of {members} members and {channels} channels, after {idle:?} idle: holder RSS {:.1} MiB (peak {:.1}), standby RSS {:.1} MiB (peak {:.1})",
        database_url
            .as_deref()
            .map_or("SQLite", |_| "the given database"),
        mib(holder_rss),
        mib(holder_peak),
        mib(standby_rss),
        mib(standby_peak)
    );
    cluster.emu.shutdown().await;
    Ok(())
}
