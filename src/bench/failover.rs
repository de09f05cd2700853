//! B7 failover (SPEC §9): two `warroom run` processes on one database; the gateway holder is
//! killed with SIGKILL, and the time is taken from the kill to the first slash command a
//! standby answers. The killed process is started again (as the new standby) before the next
//! round.

use std::time::{Duration, Instant};

use anyhow::bail;

use super::cluster::{Cluster, ms};
use super::percentile;

/// How often a slash command is sent until one is answered: each attempt is waited for on its
/// own, so a slow answer is not mistaken for none.
const ATTEMPT_EVERY: Duration = Duration::from_millis(50);

/// The longest a round may take before the bench gives up.
const ROUND_LIMIT: Duration = Duration::from_secs(60);

pub async fn run(database_url: Option<String>, kills: u32) -> anyhow::Result<()> {
    let mut cluster = Cluster::new(database_url.as_deref(), 0, 0).await?;
    let mut members = vec![cluster.start().await?, cluster.start().await?];
    let alice = cluster.emu.member("alice", &[cluster.responders]);
    let mut gaps = Vec::new();
    for round in 1..=kills {
        let holder = cluster.holder(&members).await?;
        // The kill falls anywhere in the standby's look cycle, not always at one phase of it.
        tokio::time::sleep(jitter()).await;
        let killed = members.remove(holder);
        let name = killed.name.clone();
        let mut killed = killed;
        let killed_at = Instant::now();
        killed.kill_9();
        let answered_after = first_answer(&alice, &cluster, killed_at, round).await?;
        gaps.push(answered_after);
        println!(
            "round {round}: killed {name}; first slash command answered {:.0} ms after the kill",
            ms(answered_after)
        );
        members.push(cluster.start().await?);
    }
    for member in members {
        member.stop()?;
    }
    gaps.sort();
    let median = percentile(&gaps, 0.5).unwrap_or_default();
    let max = percentile(&gaps, 1.0).unwrap_or_default();
    println!(
        "B7 failover on {} over {kills} kills: kill → first answer median {:.0} ms, max {:.0} ms",
        database_url
            .as_deref()
            .map_or("SQLite", |_| "the given database"),
        ms(median),
        ms(max)
    );
    cluster.emu.shutdown().await;
    Ok(())
}

/// Sends `/oncall` every [`ATTEMPT_EVERY`] until one is answered: the time from the kill to
/// the earliest answer. Attempts sent while no process holds the gateway go nowhere (Discord
/// has no session to deliver them to), or to the killed session, and are never answered.
async fn first_answer(
    alice: &discord_emulator::Actor,
    cluster: &Cluster,
    killed_at: Instant,
    round: u32,
) -> anyhow::Result<Duration> {
    let (answered, mut answers) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    loop {
        if let Ok(at) = answers.try_recv() {
            return Ok(at - killed_at);
        }
        if killed_at.elapsed() > ROUND_LIMIT {
            bail!("round {round}: no standby answered within {ROUND_LIMIT:?}");
        }
        if let Ok(interaction) = alice.run(cluster.general, "/oncall show") {
            let answered = answered.clone();
            tokio::spawn(async move {
                if interaction.response_within(ROUND_LIMIT).await.is_ok() {
                    let _ = answered.send(Instant::now());
                }
            });
        }
        tokio::time::sleep(ATTEMPT_EVERY).await;
    }
}

/// A pause of 0 to 2 s, different each round (taken from the clock's nanoseconds).
fn jitter() -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    Duration::from_millis(u64::from(nanos % 2000))
}
