//! B9 report: seeds a fresh database with many incidents as real ones end up — opened,
//! acknowledged, mitigated and resolved across severities and services, drills among them,
//! each with a timeline of pages, messages, notes, status changes and updates, its pages in
//! the outbox, its review and action items — then times the real `warroom report --json`,
//! each run a fresh process measured for wall time, CPU time and peak RSS (`bench measure`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::percentile;
use crate::config::{Config, Environment};
use crate::domain::{
    Actor, EventKind, Incident, IncidentId, NewEvent, Source, Status, SystemClock, Timestamp,
};
use crate::store::{
    self, PageAction, PageRecipient, PageState, SeedIncident, SeedPage, SeedRest, Store,
};

pub struct Options {
    pub database_url: Option<String>,
    pub incidents: usize,
    /// Timeline events in all, spread evenly over the incidents.
    pub events: usize,
    pub runs: u32,
}

/// The services incidents are spread over, with their RTOs.
const SERVICES: &[(&str, &str)] = &[
    ("api", "15m"),
    ("checkout", "30m"),
    ("payments", "30m"),
    ("search", "2h"),
    ("auth", "15m"),
    ("storage", "4h"),
    ("queue", "1h"),
    ("web", "1h"),
];

/// Severities (the defaults) with their share of incidents and their typical times to
/// acknowledge, to mitigate after that, and to resolve after that, in seconds.
const SEVERITIES: &[(&str, f64, [f64; 3])] = &[
    ("SEV1", 0.05, [360.0, 1_800.0, 3_600.0]),
    ("SEV2", 0.20, [1_200.0, 3_600.0, 7_200.0]),
    ("SEV3", 0.45, [3_600.0, 7_200.0, 14_400.0]),
    ("SEV4", 0.30, [14_400.0, 14_400.0, 43_200.0]),
];

/// People who respond (and are paged).
const RESPONDERS: u64 = 40;

/// Incidents written per transaction while seeding; only seeding speed depends on it.
const SEED_BATCH: usize = 250;

/// How far back the seeded incidents were opened: inside the report's default 30 days.
const SPAN: Duration = Duration::from_secs(28 * 24 * 3600);

fn write_config(dir: &Path, database_url: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join("warroom.toml");
    let mut text = format!(
        "[database]\nurl = {}\n\n",
        toml::Value::String(database_url.to_owned())
    );
    for (name, rto) in SERVICES {
        text.push_str(&format!(
            "[services.{name}]\nrto = \"{rto}\"\nrpo = \"5m\"\n\n"
        ));
    }
    std::fs::write(&path, text)?;
    Ok(path)
}

fn responder(n: u64) -> (u64, Actor) {
    let id = 300_000_000_000_000_000 + n % RESPONDERS;
    (
        id,
        Actor::discord(id, format!("responder-{}", n % RESPONDERS)),
    )
}

/// A duration drawn around `mean` seconds (exponential), at least a few seconds.
fn around(rng: &mut fastrand::Rng, mean: f64) -> Duration {
    let draw = -(1.0 - rng.f64()).ln() * mean;
    Duration::from_secs_f64(draw.clamp(5.0, mean * 8.0))
}

/// What the seeding wrote, to check the report against.
#[derive(Default)]
struct Seeded {
    real: usize,
    drills: usize,
    events: usize,
    pages: usize,
}

/// One incident as it ended up, with its timeline (`events` of them, or the few more it
/// needs) and pages; `now` bounds every time.
fn incident(
    rng: &mut fastrand::Rng,
    config: &Config,
    opened_at: Timestamp,
    now: Timestamp,
    events: usize,
) -> SeedIncident {
    let mut pick = rng.f64();
    let (severity, _, means) = SEVERITIES
        .iter()
        .find(|(_, share, _)| {
            pick -= share;
            pick < 0.0
        })
        .unwrap_or(&SEVERITIES[SEVERITIES.len() - 1]);
    let service = (rng.f64() >= 0.05).then(|| SERVICES[rng.usize(..SERVICES.len())].0);
    let drill = rng.f64() < 0.05;
    let private = rng.f64() < 0.03;
    let source = match rng.u8(..10) {
        0..=5 => Source::Alert,
        6..=8 => Source::Discord,
        _ => Source::Cli,
    };
    let (_, opener) = responder(rng.u64(..));
    let (_, commander) = responder(rng.u64(..));
    let at = |time: Timestamp| (time <= now).then_some(time);
    let acknowledged_at = at(opened_at.plus(around(rng, means[0])));
    // A few stay acknowledged for long (a slow burn, a forgotten incident).
    let stuck = rng.f64() < 0.02;
    let mitigated_at = acknowledged_at
        .filter(|_| !stuck)
        .and_then(|ack| at(ack.plus(around(rng, means[1]))));
    let resolved_at = mitigated_at.and_then(|mitigated| at(mitigated.plus(around(rng, means[2]))));
    let status = match (acknowledged_at, mitigated_at, resolved_at) {
        (_, _, Some(_)) => Status::Resolved,
        (_, Some(_), None) => Status::Mitigated,
        (Some(_), None, None) => Status::Acknowledged,
        (None, None, None) => Status::Open,
    };
    let title = format!(
        "{} {} on {}",
        [
            "Elevated 5xx",
            "Latency spike",
            "Queue backlog",
            "Disk full",
            "Login failures"
        ][rng.usize(..5)],
        [
            "in eu-west-1",
            "after deploy",
            "for some users",
            "in the nightly batch"
        ][rng.usize(..4)],
        service.unwrap_or("several services"),
    );
    let mut incident = Incident {
        id: IncidentId(0),
        title: title.clone(),
        description: "Dashboards show it since the last deploy; customers report errors."
            .to_owned(),
        severity: (*severity).to_owned(),
        status,
        service: service.map(str::to_owned),
        source,
        drill,
        private,
        channel_id: Some(1_100_000_000_000_000_000 + rng.u64(..1u64 << 40)),
        opened_at,
        opened_by: opener.clone(),
        acknowledged_at,
        acknowledged_by: acknowledged_at.map(|_| commander.clone()),
        mitigated_at,
        resolved_at,
        roles: Default::default(),
        last_seq: 0,
    };
    incident
        .roles
        .insert(crate::domain::COMMANDER_ROLE.to_owned(), commander.clone());
    let opened = NewEvent::new(
        opened_at,
        EventKind::Opened,
        opener.clone(),
        format!("{severity} opened by {}: {title}", opener.name),
    )
    .with_data(json!({
        "title": title, "severity": severity, "service": service,
        "description": incident.description, "source": source.as_str(),
        "drill": drill, "private": private,
    }));
    let review_within = config
        .severity(severity)
        .map_or(Duration::from_secs(7 * 24 * 3600), |s| s.review_within);
    let seed = rng.u64(..);
    // The timeline is made once the store has given the incident its id.
    let snapshot = incident.clone();
    let rest: SeedRest = Box::new(move |id| {
        let incident = Incident { id, ..snapshot };
        let mut rng = fastrand::Rng::with_seed(seed);
        timeline(&mut rng, &incident, review_within, now, events)
    });
    SeedIncident {
        incident,
        opened,
        rest,
    }
}

/// The timeline after `opened` (about `events` in all) and the pages of `incident`.
fn timeline(
    rng: &mut fastrand::Rng,
    incident: &Incident,
    review_within: Duration,
    now: Timestamp,
    events: usize,
) -> (Vec<NewEvent>, Vec<SeedPage>) {
    let id = incident.id;
    let system = Actor {
        id: "warroom".to_owned(),
        name: "warroom".to_owned(),
    };
    let commander = incident
        .commander()
        .cloned()
        .unwrap_or_else(|| incident.opened_by.clone());
    let opened = incident.opened_at;
    let end = incident.resolved_at.unwrap_or(now);
    let mut timed: Vec<NewEvent> = Vec::with_capacity(events + 8);
    let mut pages = Vec::new();
    // Escalation: level 1 pages the primary at once; if nobody acknowledges, level 2 the
    // secondary after 5 minutes, level 3 a second person and PagerDuty after 15, and round
    // 1 starts again after 30.
    let acked = incident.acknowledged_at.unwrap_or(now);
    let primary = rng.u64(..);
    let steps: &[(u32, u32, u64, Option<&str>)] = &[
        (1, 0, 0, None),
        (2, 0, 300, None),
        (3, 0, 900, None),
        (3, 0, 900, Some("pagerduty")),
        (1, 1, 1_800, None),
    ];
    for (n, (level, round, after, notifier)) in steps.iter().enumerate() {
        let at = opened.plus(Duration::from_secs(*after));
        if n > 0 && at > acked {
            break;
        }
        let (user_id, person) = responder(primary + n as u64);
        let (target, recipient) = match notifier {
            Some(name) => (
                format!("notifier:{name}"),
                PageRecipient::Notifier {
                    name: (*name).to_owned(),
                },
            ),
            None => (
                format!(
                    "schedule:{}",
                    if *level == 1 { "primary" } else { "secondary" }
                ),
                PageRecipient::DiscordUser {
                    user_id,
                    schedule: Some(if *level == 1 { "primary" } else { "secondary" }.to_owned()),
                    via_override: false,
                },
            ),
        };
        let dedup_key = format!("warroom-{id}-L{level}-R{round}-{target}");
        let failed = rng.f64() < 0.03;
        let sent_at = at.plus(Duration::from_millis(rng.u64(40..900)));
        let (state, kind, outcome) = if failed {
            (
                PageState::Failed,
                EventKind::PageFailed,
                "HTTP 503 from the receiver".to_owned(),
            )
        } else if notifier.is_some() {
            (
                PageState::Sent,
                EventKind::PageSent,
                "PagerDuty accepted the event".to_owned(),
            )
        } else {
            (
                PageState::Sent,
                EventKind::PageSent,
                format!("DM sent to {}", person.name),
            )
        };
        timed.push(
            NewEvent::new(
                sent_at,
                kind,
                system.clone(),
                format!("Paged {target}: {outcome}"),
            )
            .with_data(json!({
                "dedup_key": dedup_key, "action": "trigger", "level": level,
                "round": round, "target": target, "recipient": recipient,
                "state": state.as_str(), "attempt": 1,
            })),
        );
        pages.push(SeedPage {
            dedup_key: dedup_key.clone(),
            action: PageAction::Trigger,
            level: *level,
            round: *round,
            target: target.clone(),
            recipient: recipient.clone(),
            state,
            attempts: 1,
            created_at: at,
            finished_at: Some(sent_at),
            outcome: Some(outcome),
        });
        if notifier.is_some()
            && let Some(ack) = incident.acknowledged_at
        {
            pages.push(SeedPage {
                dedup_key,
                action: PageAction::Acknowledge,
                level: *level,
                round: *round,
                target,
                recipient,
                state: PageState::Sent,
                attempts: 1,
                created_at: ack,
                finished_at: Some(ack.plus(Duration::from_millis(120))),
                outcome: Some("PagerDuty accepted the event".to_owned()),
            });
        }
    }
    timed.push(
        NewEvent::new(
            opened.plus(Duration::from_secs(30)).min(end),
            EventKind::RoleAssigned,
            incident.opened_by.clone(),
            format!("{} is now commander", commander.name),
        )
        .with_data(json!({"role": "commander", "assignee": commander, "previous": null})),
    );
    let transition = |at: Timestamp, from: Status, to: Status, data: Value| {
        let (kind, text) = if to == Status::Acknowledged {
            (
                EventKind::Acknowledged,
                format!("Acknowledged by {}", commander.name),
            )
        } else {
            (EventKind::StatusChanged, format!("Status {from} → {to}"))
        };
        NewEvent::new(at, kind, commander.clone(), text).with_data(data)
    };
    let change =
        |from: Status, to: Status| json!({"from": from.as_str(), "to": to.as_str(), "text": null});
    if let Some(at) = incident.acknowledged_at {
        timed.push(transition(
            at,
            Status::Open,
            Status::Acknowledged,
            change(Status::Open, Status::Acknowledged),
        ));
    }
    if let Some(at) = incident.mitigated_at {
        timed.push(transition(
            at,
            Status::Acknowledged,
            Status::Mitigated,
            change(Status::Acknowledged, Status::Mitigated),
        ));
    }
    if let Some(resolved) = incident.resolved_at {
        let due = resolved.plus(review_within);
        let mut data = change(Status::Mitigated, Status::Resolved);
        data["review"] = json!({"owner": commander, "due_at": due.as_millis()});
        timed.push(transition(
            resolved,
            Status::Mitigated,
            Status::Resolved,
            data,
        ));
        let hours = |h: u64| Duration::from_secs(h * 3600);
        if !incident.drill {
            // The review meeting, and the review done (mostly on time).
            let meeting = resolved.plus(hours(20 + rng.u64(..24)));
            if rng.f64() < 0.5 && meeting <= now {
                timed.push(
                    NewEvent::new(
                        resolved.plus(hours(2)),
                        EventKind::ReviewScheduled,
                        commander.clone(),
                        format!("Review of {id} scheduled for {}", meeting.human()),
                    )
                    .with_data(json!({
                        "when": meeting.as_millis(),
                        "end": meeting.plus(hours(1)).as_millis(),
                        "owner": null,
                    })),
                );
            }
            let done = if rng.f64() < 0.8 {
                resolved.plus(Duration::from_secs(
                    rng.u64(3600..review_within.as_secs().max(3601)),
                ))
            } else {
                due.plus(hours(rng.u64(1..72)))
            };
            if rng.f64() < 0.75 && done <= now {
                timed.push(NewEvent::new(
                    done,
                    EventKind::ReviewDone,
                    commander.clone(),
                    format!("Review of {id} done"),
                ));
            }
            // Action items from the review, some done.
            for number in 1..=rng.u64(..4) {
                let added = resolved.plus(hours(3 + number));
                if added > now {
                    break;
                }
                let (_, owner) = responder(rng.u64(..));
                let due = added.plus(hours(24 * rng.u64(3..15)));
                let text = [
                    "Add an alert on queue depth",
                    "Write the runbook step for failover",
                    "Raise the connection pool limit",
                    "Test the restore of last night's backup",
                ][rng.usize(..4)];
                timed.push(
                    NewEvent::new(
                        added,
                        EventKind::ActionItemAdded,
                        commander.clone(),
                        format!("Action item {id}#{number} for {} due {}: {text}", owner.name, due.human()),
                    )
                    .with_data(json!({"number": number, "text": text, "owner": owner, "due_at": due.as_millis()}))
                    .with_key(format!("action-item:{number}")),
                );
                let done = added.plus(hours(rng.u64(2..24 * 20)));
                if rng.f64() < 0.6 && done <= now {
                    timed.push(
                        NewEvent::new(
                            done,
                            EventKind::ActionItemDone,
                            owner.clone(),
                            format!("Action item {id}#{number} done: {text}"),
                        )
                        .with_data(json!({"number": number}))
                        .with_key(format!("action-item-done:{number}")),
                    );
                }
            }
        }
    }
    // Status updates every few hours of the incident, then the room's conversation.
    let length = end.since(opened).max(Duration::from_secs(60));
    for n in 0..(length.as_secs() / 7_200).clamp(1, 4) {
        timed.push(NewEvent::new(
            opened.plus(Duration::from_secs(600 + n * 7_200)).min(end),
            EventKind::StatusUpdate,
            commander.clone(),
            "We are investigating elevated error rates; next update within the hour.",
        ));
    }
    let during = |rng: &mut fastrand::Rng| {
        opened.plus(Duration::from_millis(rng.u64(..length.as_millis() as u64)))
    };
    let mut message = 0u64;
    let channel = incident.channel_id.unwrap_or_default();
    while timed.len() + 1 < events {
        let (_, speaker) = responder(rng.u64(..8) + primary);
        let at = during(rng);
        if rng.f64() < 0.15 {
            timed.push(
                NewEvent::new(
                    at,
                    EventKind::Note,
                    speaker,
                    "Rolled back the canary; error rate falling but not yet at baseline.",
                )
                .with_data(json!({"source": "discord"})),
            );
        } else {
            message += 1;
            let message_id = 1_200_000_000_000_000_000 + id.0 as u64 * 10_000 + message;
            let content = format!(
                "checked the dashboards again, p99 latency still elevated on the checkout path | see runbook step {}",
                message % 17
            );
            timed.push(
                NewEvent::new(at, EventKind::Message, speaker, content.clone())
                    .with_data(json!({
                        "message_id": message_id.to_string(),
                        "channel_id": channel.to_string(),
                        "sent_at": at,
                        "content": content,
                        "attachments": [],
                        "reply_to": null,
                    }))
                    .with_key(format!("discord-message:{message_id}")),
            );
        }
    }
    // In the order things happened, as they would have been appended.
    timed.sort_by_key(|event| event.at);
    (timed, pages)
}

/// `value` between `before` and `after` in a line `bench measure` printed.
fn figure(line: &str, before: &str, after: &str) -> anyhow::Result<f64> {
    line.split_once(before)
        .and_then(|(_, rest)| rest.split_once(after))
        .and_then(|(number, _)| number.trim().parse().ok())
        .with_context(|| format!("no `{before}…{after}` in `{line}`"))
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    if options.incidents == 0 {
        bail!("--incidents must be at least 1");
    }
    let dir = tempfile::tempdir()?;
    let url = options
        .database_url
        .unwrap_or_else(|| "sqlite://bench.db".to_owned());
    let config_path = write_config(dir.path(), &url)?;
    let config = Config::load(&config_path, &Environment::default())?;
    let store: std::sync::Arc<dyn Store> = store::connect(&config.database).await?;
    let seeding = Instant::now();
    let now = crate::domain::Clock::now(&SystemClock);
    let start = now.minus(SPAN);
    let step = SPAN.as_millis() as u64 / options.incidents as u64;
    let mut rng = fastrand::Rng::with_seed(9);
    let mut seeded = Seeded::default();
    let mut batch = Vec::with_capacity(SEED_BATCH);
    for n in 0..options.incidents {
        let opened_at = start.plus(Duration::from_millis(
            n as u64 * step + rng.u64(..step.max(1)),
        ));
        // Events of this incident: the total spread evenly (the first is `opened`).
        let events =
            options.events * (n + 1) / options.incidents - options.events * n / options.incidents;
        let seed = incident(&mut rng, &config, opened_at, now, events);
        if seed.incident.drill {
            seeded.drills += 1;
        } else {
            seeded.real += 1;
        }
        batch.push(seed);
        if batch.len() == SEED_BATCH || n + 1 == options.incidents {
            let ids = store.seed_incidents(std::mem::take(&mut batch)).await?;
            for id in ids {
                let incident = store
                    .get_incident(id)
                    .await?
                    .with_context(|| format!("{id} was not written"))?;
                seeded.events += incident.last_seq as usize;
            }
        }
    }
    store.refresh_statistics().await?;
    seeded.pages = store.user_pages_since(start).await?.len();
    let reviews = store.reviews_since(start).await?.len();
    println!(
        "seeded {} incidents ({} drills), {} events, {} pages to people, {reviews} reviews on {} in {:.1} s",
        seeded.real + seeded.drills,
        seeded.drills,
        seeded.events,
        seeded.pages,
        store.backend(),
        seeding.elapsed().as_secs_f64()
    );
    drop(store);
    let exe = std::env::current_exe()?;
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    let mut peak_mib: f64 = 0.0;
    for run in 1..=options.runs.max(1) {
        let output = dir.path().join(format!("report-{run}.json"));
        let measured = Command::new(&exe)
            .args(["bench", "measure", "--stdout"])
            .arg(&output)
            .arg("--")
            .arg(&exe)
            .arg("--config")
            .arg(&config_path)
            .args(["report", "--json"])
            .env("WARROOM_LOG", "warn")
            .stderr(Stdio::inherit())
            .output()?;
        let line = String::from_utf8_lossy(&measured.stdout).trim().to_owned();
        if !measured.status.success() {
            bail!("the measured report failed: {line}");
        }
        let report: Value = serde_json::from_slice(&std::fs::read(&output)?)
            .context("`warroom report --json` printed something that is not JSON")?;
        let (incidents, drills) = (&report["incidents"], &report["drills"]);
        if report["schema"] != crate::ops::REPORT_SCHEMA
            || incidents.as_u64() != Some(seeded.real as u64)
            || drills.as_u64() != Some(seeded.drills as u64)
        {
            bail!(
                "the report counts {incidents} incidents and {drills} drills, not the {} and {} seeded",
                seeded.real,
                seeded.drills
            );
        }
        walls.push(figure(&line, "wall ", " ms")?);
        cpus.push(figure(&line, "cpu ", " ms")?);
        peak_mib = peak_mib.max(figure(&line, "peak RSS ", " MiB")?);
        println!(
            "run {run}: {line}; {incidents} incidents, {} people paged, {} open action items",
            report["pages"]["per_person"]
                .as_object()
                .map_or(0, |people| people.len()),
            report["open_action_items"].as_array().map_or(0, Vec::len),
        );
    }
    walls.sort_by(f64::total_cmp);
    cpus.sort_by(f64::total_cmp);
    println!(
        "report: p50 {:.1} ms, max {:.1} ms, peak RSS {peak_mib:.1} MiB; cpu p50 {:.1} ms ({} runs)",
        percentile(&walls, 0.5).unwrap_or_default(),
        percentile(&walls, 1.0).unwrap_or_default(),
        percentile(&cpus, 0.5).unwrap_or_default(),
        walls.len(),
    );
    Ok(())
}
