//! B4 export: one incident seeded with many timeline events, exported to Markdown, JSON and
//! HTML, each in a fresh process measured for wall time, CPU time and peak RSS.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use serde_json::json;

use super::write_config;
use crate::config::{Config, Environment};
use crate::domain::{Actor, EventKind, NewEvent, Source, SystemClock};
use crate::ops::{OpenRequest, Ops, Principal};
use crate::store;

/// Events appended per transaction while seeding; only seeding speed depends on it.
const SEED_BATCH: usize = 1_000;

pub async fn export(events: usize, database_url: Option<String>, runs: u32) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = database_url.unwrap_or_else(|| "sqlite://bench.db".to_owned());
    let config_path = write_config(dir.path(), &url)?;
    let config = Config::load(&config_path, &Environment::default())?;
    let store = store::connect(&config.database).await?;
    let ops = Ops::new(store.clone(), Arc::new(config), Arc::new(SystemClock));
    let who = Principal::operator(Actor::cli("bench"));
    let seeding = Instant::now();
    let opened = ops
        .open(
            &who,
            Source::Cli,
            OpenRequest {
                title: "Export benchmark".to_owned(),
                severity: "SEV2".to_owned(),
                service: Some("api".to_owned()).filter(|_| ops.config().service("api").is_some()),
                ..OpenRequest::default()
            },
        )
        .await?;
    let id = opened.incident.id;
    let speakers: Vec<Actor> = (0..12)
        .map(|n| Actor::discord(100_000_000_000_000_000 + n, format!("responder-{n}")))
        .collect();
    let mut appended = 1;
    while appended < events {
        let batch = SEED_BATCH.min(events - appended);
        let clock = ops.clock().now();
        let batch: Vec<NewEvent> = (0..batch)
            .map(|offset| {
                let n = appended + offset;
                NewEvent::new(
                    clock,
                    EventKind::Message,
                    speakers[n % speakers.len()].clone(),
                    format!("message {n}: checked the dashboards again, p99 latency still elevated on the checkout path | see runbook step {}", n % 17),
                )
                .with_data(json!({"message_id": (1_200_000_000_000_000_000u64 + n as u64).to_string(), "attachments": []}))
            })
            .collect();
        appended += batch.len();
        store.append_events(id, batch).await?;
    }
    println!(
        "seeded {id} with {events} events on {} in {:.1} s",
        store.backend(),
        seeding.elapsed().as_secs_f64()
    );
    let exe = std::env::current_exe()?;
    for format in ["markdown", "json", "html"] {
        for run in 1..=runs {
            let output = dir.path().join(format!("export-{run}.{format}"));
            let measured = Command::new(&exe)
                .args(["bench", "measure", "--"])
                .arg(&exe)
                .arg("--config")
                .arg(&config_path)
                .args(["export", &id.0.to_string(), "--format", format, "-o"])
                .arg(&output)
                .env("WARROOM_LOG", "warn")
                .stderr(Stdio::inherit())
                .output()?;
            if !measured.status.success() {
                bail!(
                    "the measured export failed: {}",
                    String::from_utf8_lossy(&measured.stdout)
                );
            }
            let size = std::fs::metadata(&output)?.len();
            println!(
                "{format} run {run}: {} ; file {:.1} MiB",
                String::from_utf8_lossy(&measured.stdout).trim(),
                size as f64 / (1024.0 * 1024.0)
            );
        }
    }
    Ok(())
}
