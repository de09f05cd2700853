//! B8 propagation (SPEC §8, §9): with two `warroom run` processes on one database, a change
//! made through the REST API of the process that does NOT hold the gateway, timed from the
//! request until the incident's card in the emulator shows it. The changes alternate the
//! severity (SEV2, SEV3), one after another, each waited for.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use super::cluster::{API_TOKEN, Cluster, ms};
use super::percentile;
use discord_emulator::{ChannelId, Emulator, MessageId};

/// The longest one change may take to reach the card before the bench gives up.
const CHANGE_LIMIT: Duration = Duration::from_secs(30);

pub async fn run(database_url: Option<String>, changes: u32) -> anyhow::Result<()> {
    let mut cluster = Cluster::new(database_url.as_deref(), 0, 0).await?;
    let members = vec![cluster.start().await?, cluster.start().await?];
    let holder = cluster.holder(&members).await?;
    let standby = &members[1 - holder];
    let client = cluster.client().clone();
    let opened = client
        .post(format!("{}/v1/incidents", standby.base))
        .bearer_auth(API_TOKEN)
        .json(&json!({"title": "propagation", "severity": "SEV3"}))
        .send()
        .await?;
    if !opened.status().is_success() {
        bail!("opening the incident: {}", opened.status());
    }
    let card = wait_for_card(&cluster.emu, "**SEV3**").await?;
    let mut latencies = Vec::with_capacity(changes as usize);
    for n in 0..changes {
        let (new, old) = if n % 2 == 0 {
            ("SEV2", "SEV3")
        } else {
            ("SEV3", "SEV2")
        };
        let sent = Instant::now();
        let response = client
            .post(format!("{}/v1/incidents/1/severity", standby.base))
            .bearer_auth(API_TOKEN)
            .json(&json!({"severity": new}))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("change {n}: {}", response.status());
        }
        let (new, old) = (format!("**{new}**"), format!("**{old}**"));
        loop {
            let text = card_text(&cluster.emu, card.1);
            if text.contains(&new) && !text.contains(&old) {
                break;
            }
            if sent.elapsed() > CHANGE_LIMIT {
                bail!("change {n} did not reach the card within {CHANGE_LIMIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        latencies.push(sent.elapsed());
    }
    for member in members {
        member.stop()?;
    }
    latencies.sort();
    let at = |share| ms(percentile(&latencies, share).unwrap_or_default());
    println!(
        "B8 propagation on {}: {changes} severity changes through the standby's REST API, request → card edited: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        database_url
            .as_deref()
            .map_or("SQLite", |_| "the given database"),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    cluster.emu.shutdown().await;
    Ok(())
}

/// The card of the first incident (its channel and message) once it shows `showing`.
async fn wait_for_card(emu: &Emulator, showing: &str) -> anyhow::Result<(ChannelId, MessageId)> {
    let started = Instant::now();
    loop {
        let channel = emu
            .channels()
            .into_iter()
            .find(|channel| channel.name.starts_with("inc-1-"));
        if let Some(channel) = channel
            && let Some(card) = emu.messages(channel.id).into_iter().find(|message| {
                message.from_bot
                    && message.embeds.len() == 1
                    && message.embeds[0].to_string().contains(showing)
            })
        {
            return Ok((channel.id, card.id));
        }
        if started.elapsed() > CHANGE_LIMIT {
            return None.context("the incident's card never appeared");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn card_text(emu: &Emulator, card: MessageId) -> String {
    emu.message(card)
        .map(|message| {
            message
                .embeds
                .iter()
                .map(ToString::to_string)
                .collect::<String>()
        })
        .unwrap_or_default()
}
