//! One truth, many processes (SPEC §2, §8): real `warroom run` processes on one database,
//! all with the bot token, against the Discord emulator. Every effect is counted: one
//! interaction, one incident, one channel, one announcement, one event per message, one page.
//! Then the gateway holder is killed, the bot is stopped while people keep talking, the
//! database goes away, and warroom is stopped while it works.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use discord_emulator::{ChannelId, Emulator, Message, UserId};
use serde_json::json;
use warroom::config::Environment;
use warroom::domain::{Event, EventKind, IncidentId};
use warroom::store::Store;

use crate::support::discord::{Converse, Guild, WAIT};
use crate::support::process::{Process, Relay};
use crate::support::{Backend, TestDb, eventually};

/// The policy every incident escalates with: dave is paged at once.
fn config(dave: UserId) -> String {
    format!(
        r#"
[policies.now]
[[policies.now.levels]]
after = "0s"
targets = ["user:{dave}"]
"#
    )
}

/// A guild, a database and the environment every process of a test shares.
struct Cluster {
    guild: Guild,
    db: TestDb,
    config: PathBuf,
    env: Environment,
    store: std::sync::Arc<dyn Store>,
    dave: UserId,
}

impl Cluster {
    async fn new(db: TestDb) -> Cluster {
        Cluster::with(db, "", Vec::new()).await
    }

    async fn with(db: TestDb, extra_toml: &str, extra_env: Vec<(String, String)>) -> Cluster {
        let guild = Guild::new().await;
        let dave = guild.emu.member("dave", &[]).id();
        let catalog = db.dir.path().join("no-commands");
        let roles = [
            ("responder", guild.responders),
            ("incident_commander", guild.commanders),
            ("admin", guild.admins),
            ("dba", guild.dbas),
        ];
        let env = warroom::bench::discord_env::environment(
            &guild.emu,
            guild.category,
            guild.announce,
            &roles,
            &catalog,
        )
        .extended([("WARROOM__ESCALATION__DEFAULT_POLICY", "now")])
        .extended(extra_env);
        // The store first: opening it writes the plain test config, which this one replaces.
        let store = db.store().await;
        let config = db.write_config(&format!("{}\n{extra_toml}", config(dave)));
        Cluster {
            guild,
            db,
            config,
            env,
            store,
            dave,
        }
    }

    fn emu(&self) -> &Emulator {
        &self.guild.emu
    }

    async fn start(&self, name: &str) -> Process {
        let mut process = Process::spawn(name, &self.config, &self.env);
        process.wait_ready().await;
        process
    }

    /// Starts `n` processes and waits until one holds the gateway and registered /incident.
    async fn start_many(&self, n: usize) -> Vec<Process> {
        let mut processes = Vec::new();
        for index in 0..n {
            processes.push(self.start(&format!("warroom-{}", index + 1)).await);
        }
        self.emu()
            .wait_for_command("incident", WAIT)
            .await
            .expect("a process registers /incident");
        let holders = self.holders(&processes).await;
        assert_eq!(
            holders.len(),
            1,
            "one process holds the gateway: {holders:?}"
        );
        processes
    }

    /// The names of the processes that say they hold the gateway (and are connected).
    async fn holders(&self, processes: &[Process]) -> Vec<String> {
        eventually("one process to hold the gateway", WAIT, async || {
            let mut holders = Vec::new();
            for process in processes {
                if process.holds_gateway().await {
                    holders.push(process.name.clone());
                }
            }
            (!holders.is_empty()).then_some(holders)
        })
        .await
    }

    async fn timeline(&self, id: IncidentId) -> Vec<Event> {
        let mut events = Vec::new();
        let mut after = 0;
        loop {
            let page = self.store.timeline_page(id, after, 1_000).await.unwrap();
            let Some(last) = page.last() else {
                return events;
            };
            after = last.seq;
            events.extend(page);
        }
    }

    async fn count(&self, id: IncidentId, kind: EventKind) -> usize {
        self.timeline(id)
            .await
            .iter()
            .filter(|event| event.kind == kind)
            .count()
    }

    /// Waits until Discord has been shown every event of `id` (its projection cursor caught
    /// up): after that, no effect of them is still on its way.
    async fn shown(&self, id: IncidentId) {
        let query = format!(
            "SELECT CAST(shown_seq AS TEXT) || '/' || CAST(last_seq AS TEXT) FROM incidents WHERE id = {}",
            id.0
        );
        let query: &'static str = Box::leak(query.into_boxed_str());
        eventually(
            format!("Discord to be shown all of {id}"),
            WAIT,
            async || {
                let rows = self.db.rows(query).await;
                match rows.first().and_then(|row| row.split_once('/')) {
                    Some((shown, last)) if shown == last => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await;
    }

    fn channels_of(&self, id: IncidentId) -> usize {
        let prefix = format!("inc-{}-", id.0);
        self.emu()
            .channels()
            .iter()
            .filter(|channel| channel.name.starts_with(&prefix))
            .count()
    }

    fn announcements(&self, what: impl Fn(&Message) -> bool) -> usize {
        self.emu()
            .messages(self.guild.announce)
            .iter()
            .filter(|message| message.from_bot && what(message))
            .count()
    }
}

on_processes!(
    two_processes_on_postgres_do_everything_once: Backend::Postgres, 2;
    three_processes_on_postgres_do_everything_once: Backend::Postgres, 3;
    two_processes_on_sqlite_do_everything_once: Backend::Sqlite, 2;
);

/// Declares `name: backend, processes;` tests running [`everything_once`].
macro_rules! on_processes {
    ($($name:ident: $backend:expr, $n:expr;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let db = match $backend {
                    Backend::Sqlite => TestDb::sqlite(),
                    Backend::Postgres => match TestDb::postgres().await {
                        Some(db) => db,
                        None => return,
                    },
                };
                everything_once(db, $n).await;
            }
        )*
    };
}
use on_processes;

async fn everything_once(db: TestDb, n: usize) {
    let cluster = Cluster::new(db).await;
    let processes = cluster.start_many(n).await;
    let emu = cluster.emu();
    let alice = emu.member("alice", &[cluster.guild.responders]);
    // Every process names the same holder, in /readyz and in /metrics.
    let holder = cluster.holders(&processes).await.remove(0);
    let holder_instance = {
        let process = processes.iter().find(|p| p.name == holder).unwrap();
        process.readyz().await.unwrap().1["instance"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for process in &processes {
        let (status, ready) = process.readyz().await.unwrap();
        assert_eq!(status, 200, "{ready}");
        assert_eq!(
            ready["gateway_holder"],
            holder_instance.as_str(),
            "{}: {ready}",
            process.name
        );
        let state = if process.name == holder {
            "connected"
        } else {
            "standby"
        };
        assert_eq!(ready["discord"], state);
        let metrics = process
            .client
            .get(format!("{}/metrics", process.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains(&format!("warroom_discord_gateway{{state=\"{state}\"}} 1")),
            "{metrics}"
        );
        assert!(
            metrics.contains(&format!(
                "warroom_discord_gateway_holder{{holder=\"{holder_instance}\"}} 1"
            )),
            "{metrics}"
        );
    }

    let open = alice
        .runs(
            cluster.guild.general,
            r#"/incident open title:"Checkout is down" severity:SEV2"#,
        )
        .await;
    open.says("Opened **INC-1**");
    let id = IncidentId(1);
    let channel = emu
        .wait_for_channel("inc-1-checkout-is-down", WAIT)
        .await
        .expect("the incident's channel");
    // A redelivery of the same interaction (a resume that replays it) does nothing.
    open.interaction.redeliver().unwrap();

    for index in 0..100 {
        alice.say(channel.id, &format!("message {index}")).unwrap();
    }
    // A resume that replays what the session already had delivers those messages twice.
    let session = emu.current_session().expect("the holder's session");
    session.duplicate_on_resume(20).unwrap();
    session.drop_connection().unwrap();
    eventually("100 messages recorded", WAIT, async || {
        let texts: Vec<String> = cluster
            .timeline(id)
            .await
            .into_iter()
            .filter(|event| event.kind == EventKind::Message)
            .map(|event| event.text)
            .collect();
        if texts.len() >= 100 {
            return Ok(());
        }
        let missing: Vec<usize> = (0..100)
            .filter(|index| !texts.contains(&format!("message {index}")))
            .collect();
        Err(format!("{} recorded; missing {missing:?}", texts.len()))
    })
    .await;
    alice
        .runs(channel.id, "/incident note text:\"one note\"")
        .await
        .says("Note");
    eventually("dave paged", WAIT, async || {
        cluster.count(id, EventKind::PageSent).await >= 1
    })
    .await;
    cluster.shown(id).await;

    let incidents = cluster
        .db
        .rows("SELECT CAST(id AS TEXT) FROM incidents")
        .await;
    assert_eq!(incidents, ["1"], "one incident");
    assert_eq!(cluster.channels_of(id), 1, "one channel");
    assert_eq!(
        cluster.announcements(|m| m.text().contains("INC-1") && m.text().contains("opened")),
        1,
        "one announcement"
    );
    let callbacks = open.interaction.attempts();
    assert_eq!(
        callbacks
            .iter()
            .filter(|attempt| attempt.status == 204)
            .count(),
        1,
        "one answer: {callbacks:?}"
    );
    assert_eq!(cluster.count(id, EventKind::Message).await, 100);
    assert_eq!(cluster.count(id, EventKind::Note).await, 1);
    assert_eq!(cluster.count(id, EventKind::PageSent).await, 1);
    let dms: Vec<_> = emu
        .dm_messages(cluster.dave)
        .into_iter()
        .filter(|m| m.from_bot)
        .collect();
    assert_eq!(dms.len(), 1, "dave is paged once: {dms:?}");
    drop(processes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_gateway_holder_hands_discord_to_a_standby_and_loses_nothing() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let cluster = Cluster::new(db).await;
    let mut processes = cluster.start_many(2).await;
    let emu = cluster.emu();
    let alice = emu.member("alice", &[cluster.guild.responders]);
    alice
        .runs(
            cluster.guild.general,
            r#"/incident open title:"Failover" severity:SEV2"#,
        )
        .await
        .says("Opened **INC-1**");
    let id = IncidentId(1);
    let channel = emu.wait_for_channel("inc-1-failover", WAIT).await.unwrap();
    alice.say(channel.id, "before the kill").unwrap();
    eventually("the first message recorded", WAIT, async || {
        cluster.count(id, EventKind::Message).await == 1
    })
    .await;

    let holder = cluster.holders(&processes).await.remove(0);
    let index = processes.iter().position(|p| p.name == holder).unwrap();
    processes[index].kill_9();
    // Said while nobody holds the gateway.
    alice.say(channel.id, "during the gap 1").unwrap();
    alice.say(channel.id, "during the gap 2").unwrap();
    let standby = &processes[1 - index];
    eventually("the standby to take the gateway", WAIT, async || {
        standby.holds_gateway().await
    })
    .await;
    alice
        .runs(channel.id, "/incident note text:\"after the takeover\"")
        .await
        .says("Note");
    eventually("the gap's messages recorded", WAIT, async || {
        let count = cluster.count(id, EventKind::Message).await;
        if count == 3 {
            Ok(())
        } else {
            Err(count.to_string())
        }
    })
    .await;
    cluster.shown(id).await;
    assert_eq!(cluster.count(id, EventKind::Message).await, 3);
    assert_eq!(cluster.count(id, EventKind::Note).await, 1);
    assert_eq!(cluster.channels_of(id), 1);
    assert_eq!(
        cluster.announcements(|m| m.text().contains("INC-1") && m.text().contains("opened")),
        1
    );
}

/// The card's text: its embed's title, fields and footer.
fn card_text(message: &Message) -> String {
    message
        .embeds
        .iter()
        .map(|embed| embed.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_made_with_the_cli_and_the_api_reach_the_card_and_the_announce_channel() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let token = "commander-0123456789abcdef0123456789abcd";
    let cluster = Cluster::with(
        db,
        "[api_tokens.oncall]\ntoken_env = \"TEST_TOKEN_COMMANDER\"\nroles = [\"incident_commander\"]\n",
        vec![("TEST_TOKEN_COMMANDER".to_owned(), token.to_owned())],
    )
    .await;
    let processes = cluster.start_many(2).await;
    let emu = cluster.emu();
    let channel_of = |id: i64| {
        let prefix = format!("inc-{id}-");
        emu.channels()
            .into_iter()
            .find(|channel| channel.name.starts_with(&prefix))
            .map(|channel| channel.id)
    };
    // Opened with the CLI: it gets its channel, card and announcement all the same.
    let opened = crate::support::succeed(
        &cluster.config,
        &[
            "incident",
            "open",
            "--title",
            "Queue backlog",
            "--severity",
            "SEV3",
            "--json",
        ],
    );
    assert!(opened.contains("\"id\": 1"), "{opened}");
    let channel: ChannelId =
        eventually("the CLI incident's channel", WAIT, async || channel_of(1)).await;
    let card = |what: &'static str| {
        let emu = emu.clone();
        async move {
            eventually(format!("the card to say {what}"), WAIT, async || {
                emu.messages(channel)
                    .into_iter()
                    .find(|m| m.from_bot && m.embeds.len() == 1 && card_text(m).contains(what))
            })
            .await
        }
    };
    card("SEV3").await;

    crate::support::succeed(&cluster.config, &["incident", "ack", "1"]);
    card("Acknowledged").await;
    eventually("the acknowledgement announced", WAIT, async || {
        cluster.announcements(|m| m.text().contains("INC-1") && m.text().contains("acknowledged"))
            == 1
    })
    .await;

    // The same through the REST API of the process that does not hold the gateway.
    let holder = cluster.holders(&processes).await.remove(0);
    let standby = processes.iter().find(|p| p.name != holder).unwrap();
    let post = |path: &'static str, body: serde_json::Value| {
        let client = standby.client.clone();
        let url = format!("{}{path}", standby.base);
        async move {
            let status = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status();
            assert!(status.is_success(), "{path}: {status}");
        }
    };
    post("/v1/incidents/1/severity", json!({"severity": "SEV1"})).await;
    card("SEV1").await;
    post(
        "/v1/incidents/1/updates",
        json!({"text": "consumers restarted"}),
    )
    .await;
    eventually("the update announced", WAIT, async || {
        cluster.announcements(|m| m.text().contains("consumers restarted")) == 1
    })
    .await;
    post(
        "/v1/incidents/1/resolve",
        json!({"summary": "backlog drained"}),
    )
    .await;
    card("Resolved").await;
    eventually("the resolution announced", WAIT, async || {
        cluster.announcements(|m| m.text().contains("INC-1") && m.text().contains("resolved")) == 1
    })
    .await;
    cluster.shown(IncidentId(1)).await;
    assert_eq!(
        cluster.announcements(|m| m.text().contains("INC-1") && m.text().contains("opened")),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_was_said_edited_deleted_and_pinned_while_the_bot_was_down_is_recorded_in_order() {
    let cluster = Cluster::new(TestDb::sqlite()).await;
    let emu = cluster.emu();
    let alice = emu.member("alice", &[cluster.guild.responders]);
    let mut bot = cluster.start("warroom").await;
    emu.wait_for_command("incident", WAIT).await.unwrap();
    alice
        .runs(
            cluster.guild.general,
            r#"/incident open title:"Catch up" severity:SEV2"#,
        )
        .await
        .says("Opened **INC-1**");
    let id = IncidentId(1);
    let channel = emu.wait_for_channel("inc-1-catch-up", WAIT).await.unwrap();
    let first = alice.say(channel.id, "first").unwrap();
    let second = alice.say(channel.id, "second").unwrap();
    let third = alice.say(channel.id, "third").unwrap();
    eventually("three messages recorded", WAIT, async || {
        cluster.count(id, EventKind::Message).await == 3
    })
    .await;

    bot.sigterm();
    assert!(bot.exited().await.success());
    alice.say(channel.id, "said while away 1").unwrap();
    alice.say(channel.id, "said while away 2").unwrap();
    alice.edit(first, "first, corrected").unwrap();
    alice.delete(second).unwrap();
    alice.react(third, "📌").unwrap();

    let _bot = cluster.start("warroom-again").await;
    eventually("the catch-up", WAIT, async || {
        let timeline = cluster.timeline(id).await;
        let highlighted = timeline.iter().any(|e| e.kind == EventKind::Highlighted);
        if highlighted {
            Ok(())
        } else {
            Err(format!("{} events", timeline.len()))
        }
    })
    .await;
    let timeline = cluster.timeline(id).await;
    let after: Vec<(EventKind, &str)> = timeline
        .iter()
        .filter(|event| event.seq > 0)
        .filter(|event| {
            matches!(
                event.kind,
                EventKind::Message
                    | EventKind::MessageEdited
                    | EventKind::MessageDeleted
                    | EventKind::Highlighted
            )
        })
        .skip(3)
        .map(|event| (event.kind, event.text.as_str()))
        .collect();
    assert_eq!(after.len(), 5, "{after:?}");
    assert_eq!(after[0], (EventKind::Message, "said while away 1"));
    assert_eq!(after[1], (EventKind::Message, "said while away 2"));
    assert_eq!(after[2], (EventKind::MessageEdited, "first, corrected"));
    assert_eq!(after[3].0, EventKind::MessageDeleted);
    assert!(after[3].1.contains("second"), "{after:?}");
    assert_eq!(after[4].0, EventKind::Highlighted);
    assert!(after[4].1.contains("third"), "{after:?}");
    let by_kind: BTreeMap<&str, usize> = timeline.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(e.kind.as_str()).or_default() += 1;
        m
    });
    assert_eq!(by_kind.get("message"), Some(&5), "{by_kind:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_seconds_without_the_database_lose_no_message_and_answer_commands_in_time() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let relay = Relay::start("127.0.0.1:5432").await;
    // warroom reaches the database through the relay; the test reads it directly.
    let through_relay = db
        .url
        .replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", relay.port), 1);
    let cluster = Cluster::with(
        db,
        "",
        vec![("WARROOM__DATABASE__URL".to_owned(), through_relay)],
    )
    .await;
    let emu = cluster.emu();
    let alice = emu.member("alice", &[cluster.guild.responders]);
    let bot = cluster.start("warroom").await;
    emu.wait_for_command("incident", WAIT).await.unwrap();
    alice
        .runs(
            cluster.guild.general,
            r#"/incident open title:"Database outage" severity:SEV2"#,
        )
        .await
        .says("Opened **INC-1**");
    let id = IncidentId(1);
    let channel = emu
        .wait_for_channel("inc-1-database-outage", WAIT)
        .await
        .unwrap();

    relay.cut();
    let cut_at = std::time::Instant::now();
    eventually("/readyz to say 503", WAIT, async || {
        matches!(bot.readyz().await, Some((503, _)))
    })
    .await;
    let readyz_after = cut_at.elapsed();
    for index in 0..5 {
        alice
            .say(channel.id, &format!("said without a database {index}"))
            .unwrap();
    }
    // Once warroom's own health check has seen it (a few seconds), commands are told at once.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let refused = alice
        .runs(
            channel.id,
            "/incident note text:\"while the database is away\"",
        )
        .await;
    refused.says_privately("could not reach its database");
    let callbacks = refused.interaction.attempts();
    assert!(
        callbacks.iter().all(|attempt| attempt.status == 204),
        "answered within Discord's window: {callbacks:?}"
    );
    let elapsed = cut_at.elapsed();
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(elapsed)).await;
    relay.restore();
    eventually("/readyz to say 200 again", WAIT, async || {
        matches!(bot.readyz().await, Some((200, _)))
    })
    .await;
    eventually("every message said meanwhile recorded", WAIT, async || {
        let count = cluster.count(id, EventKind::Message).await;
        if count == 5 {
            Ok(())
        } else {
            Err(count.to_string())
        }
    })
    .await;
    assert_eq!(
        cluster.count(id, EventKind::Note).await,
        0,
        "the refused note wrote nothing"
    );
    alice
        .runs(channel.id, "/incident note text:\"back\"")
        .await
        .says("Note");
    eprintln!("/readyz said 503 {readyz_after:?} after the database went away");
}

/// A catalog with one command that sleeps `seconds`.
fn sleepy_catalog(dir: &Path) -> PathBuf {
    let catalog = dir.join("commands");
    std::fs::create_dir_all(&catalog).unwrap();
    std::fs::write(
        catalog.join("sleepy.toml"),
        r#"
name = "sleepy"
description = "Sleeps, to be interrupted"
program = "/usr/bin/sleep"
args = ["{seconds}"]
allowed_roles = ["responder"]
risk = "read_only"
timeout = "10m"
[params.seconds]
kind = "int"
min = 1
max = 100000
"#,
    )
    .unwrap();
    catalog
}

/// Processes whose command line is `sleep <seconds>`.
fn sleepers(seconds: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                let parts: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
                parts.len() >= 2 && parts[0].ends_with(b"sleep") && parts[1] == seconds.as_bytes()
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_while_a_command_runs_leaves_no_process_and_says_so() {
    let db = TestDb::sqlite();
    let catalog = sleepy_catalog(db.dir.path());
    let cluster = Cluster::with(
        db,
        "",
        vec![
            (
                "WARROOM__COMMANDS__DIR".to_owned(),
                catalog.display().to_string(),
            ),
            (
                "WARROOM__COMMANDS__SHUTDOWN_GRACE".to_owned(),
                "1s".to_owned(),
            ),
        ],
    )
    .await;
    let emu = cluster.emu();
    let alice = emu.member("alice", &[cluster.guild.responders]);
    let mut bot = cluster.start("warroom").await;
    emu.wait_for_command("run", WAIT).await.unwrap();
    alice
        .runs(
            cluster.guild.general,
            r#"/incident open title:"Interrupted" severity:SEV3"#,
        )
        .await
        .says("Opened **INC-1**");
    let channel = emu
        .wait_for_channel("inc-1-interrupted", WAIT)
        .await
        .unwrap();
    // A number no other test sleeps for, to find this run's process.
    let seconds = "7313";
    alice
        .runs(
            channel.id,
            &format!("/run command:sleepy args:\"seconds={seconds}\""),
        )
        .await
        .says("starting");
    eventually("the command to run", WAIT, async || {
        !sleepers(seconds).is_empty()
    })
    .await;

    bot.sigterm();
    assert!(bot.exited().await.success());
    assert_eq!(
        sleepers(seconds),
        Vec::<u32>::new(),
        "no process of the run survives"
    );
    let runs = cluster.db.rows("SELECT state FROM runs").await;
    assert_eq!(runs, ["interrupted"]);
    assert_eq!(
        cluster
            .count(IncidentId(1), EventKind::CommandFinished)
            .await,
        1,
        "the run's end is on the timeline"
    );
    let said = emu
        .messages(channel.id)
        .into_iter()
        .any(|m| m.from_bot && m.text().contains("RUN-1") && m.text().contains("interrupted"));
    assert!(said, "the channel says the run was interrupted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_while_an_interaction_waits_for_the_database_still_answers_it() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let relay = Relay::start("127.0.0.1:5432").await;
    let through_relay = db
        .url
        .replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", relay.port), 1);
    let cluster = Cluster::with(
        db,
        "",
        vec![("WARROOM__DATABASE__URL".to_owned(), through_relay)],
    )
    .await;
    let emu = cluster.emu();
    let alice = emu.member("alice", &[cluster.guild.responders]);
    let mut bot = cluster.start("warroom").await;
    emu.wait_for_command("incident", WAIT).await.unwrap();
    alice
        .runs(
            cluster.guild.general,
            r#"/incident open title:"Shutdown" severity:SEV3"#,
        )
        .await
        .says("Opened **INC-1**");
    let channel = emu.wait_for_channel("inc-1-shutdown", WAIT).await.unwrap();

    // The database stops answering for two seconds: the note waits on it.
    relay.hold();
    let note = alice
        .run(channel.id, "/incident note text:\"said at shutdown\"")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    bot.sigterm();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    relay.restore();
    // It arrived before the signal, so it is finished: the note, in the answer.
    let answer = note.wait_final_response().await.expect("an answer");
    assert!(answer.text().contains("Note"), "{answer:?}");
    assert!(bot.exited().await.success());
}
