//! Several sessions of one bot, as when warroom runs twice with one token: real serenity
//! clients, each in its own runtime like a separate process, get every dispatch; the first
//! answer to an interaction wins; a killed client's session stops receiving, buffers, then
//! ends; faults hit one session only; lost and duplicated dispatches reach a real client as
//! scripted.

use std::time::Duration;

use discord_emulator::{
    ChannelId as EmuChannelId, DISCORD_SESSION_RESUME_WINDOW, Delivery, Emulator, EmulatorConfig,
    GuildCreateMembers, SessionState,
};
use serde_json::json;
use serenity::all::{
    Context, CreateInteractionResponse, CreateInteractionResponseMessage, EventHandler,
    GatewayIntents, Guild, Interaction, Message, Ready, ResumedEvent,
};
use serenity::async_trait;

use crate::support::{BotHttp, BotProcess, Seen, WAIT, discord_code, incident_command, start};

/// A bot that records what it sees and answers every slash command, like a naive second
/// process would.
struct Recorder {
    name: &'static str,
    seen: Seen,
}

#[async_trait]
impl EventHandler for Recorder {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        self.seen.push(format!("ready:{}", ready.session_id));
    }

    async fn guild_create(&self, _ctx: Context, guild: Guild, _new: Option<bool>) {
        self.seen.push(format!(
            "guild:{}:{}:{}",
            guild.channels.len(),
            guild.members.len(),
            guild.large
        ));
    }

    async fn message(&self, _ctx: Context, msg: Message) {
        if !msg.author.bot {
            self.seen.push(format!("message:{}", msg.content));
        }
    }

    async fn resume(&self, _ctx: Context, _: ResumedEvent) {
        self.seen.push("resumed");
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        if let Interaction::Command(cmd) = interaction {
            let msg = CreateInteractionResponseMessage::new()
                .content(format!("answered by {}", self.name));
            let outcome = match cmd
                .create_response(&ctx.http, CreateInteractionResponse::Message(msg))
                .await
            {
                Ok(()) => "ok".to_string(),
                Err(e) => discord_code(&e)
                    .map(|c| c.to_string())
                    .unwrap_or(e.to_string()),
            };
            self.seen.push(format!("answer:{outcome}"));
        }
    }
}

const INTENTS: GatewayIntents = GatewayIntents::GUILDS
    .union(GatewayIntents::GUILD_MESSAGES)
    .union(GatewayIntents::MESSAGE_CONTENT);

async fn bot(emu: &Emulator, name: &'static str) -> (BotProcess, Seen) {
    let seen = Seen::new();
    let process = BotProcess::start(
        emu,
        INTENTS,
        Recorder {
            name,
            seen: seen.clone(),
        },
    )
    .await;
    seen.wait_prefix("ready:").await;
    (process, seen)
}

async fn guild_with_command() -> (Emulator, discord_emulator::Actor, EmuChannelId) {
    let emu = start().await;
    let alice = emu.member("alice", &[]);
    let general = emu.add_text_channel("general", None);
    let path = format!(
        "/applications/{}/guilds/{}/commands",
        emu.config().application_id,
        emu.guild_id()
    );
    BotHttp::new(&emu)
        .ok("PUT", &path, Some(json!([incident_command()])))
        .await;
    (emu, alice, general)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dispatch_reaches_every_session_and_a_killed_one_stops_then_ends() {
    let (emu, alice, general) = guild_with_command().await;
    let (a, seen_a) = bot(&emu, "a").await;
    let (b, seen_b) = bot(&emu, "b").await;
    let live = emu.wait_live_sessions(2, WAIT).await.unwrap();
    let (sa, sb) = (live[0].clone(), live[1].clone());
    assert_ne!(sa.id(), sb.id());
    assert!(seen_a.all().contains(&format!("ready:{}", sa.id())));
    assert!(seen_b.all().contains(&format!("ready:{}", sb.id())));
    let stats = emu.gateway_stats();
    assert_eq!(
        (stats.sessions, stats.live_sessions, stats.identifies),
        (2, 2, 2)
    );
    assert!(stats.connected);

    // One message, both sessions, each under its own sequence numbers.
    alice.say(general, "hello both").unwrap();
    seen_a.wait_count("message:hello both", 1).await;
    seen_b.wait_count("message:hello both", 1).await;
    let (ia, ib) = (sa.info(), sb.info());
    assert_eq!(ia.seq, 3, "READY, GUILD_CREATE, MESSAGE_CREATE: {ia:?}");
    assert_eq!(ib.seq, 3, "the same three, numbered for b: {ib:?}");
    assert!(
        sb.dispatches()
            .iter()
            .all(|d| d.session_id.as_deref() == Some(sb.id()))
    );

    // Both answer one interaction: the first callback wins, the second gets 40060.
    let open = alice
        .run(general, "/incident open title:x severity:SEV1")
        .unwrap();
    let attempts = open.wait_attempts(2).await.unwrap();
    let mut statuses: Vec<(u16, Option<u64>)> =
        attempts.iter().map(|a| (a.status, a.error_code)).collect();
    statuses.sort();
    assert_eq!(statuses, vec![(204, None), (400, Some(40060))]);
    // Each bot records how its answer went once serenity returns.
    seen_a.wait_prefix("answer:").await;
    seen_b.wait_prefix("answer:").await;
    let answers: Vec<String> = seen_a
        .all()
        .into_iter()
        .chain(seen_b.all())
        .filter(|s| s.starts_with("answer:"))
        .collect();
    assert_eq!(answers.len(), 2);
    assert!(answers.contains(&"answer:ok".to_string()));
    assert!(answers.contains(&"answer:40060".to_string()));
    let winner = open.response().await.unwrap();
    assert!(winner.content().starts_with("answered by "));

    // kill -9 of a: its connection goes, its session buffers what b still receives live.
    a.kill();
    sa.wait_disconnected(WAIT).await.unwrap();
    alice.say(general, "after a died").unwrap();
    seen_b.wait_count("message:after a died", 1).await;
    let dead = sa.info();
    assert_eq!(dead.state, SessionState::Disconnected);
    assert_eq!(dead.buffered, 1, "{dead:?}");
    assert_eq!(seen_a.count("message:after a died"), 0);
    let second = alice
        .run(general, "/incident open title:y severity:SEV2")
        .unwrap();
    assert_eq!(second.response().await.unwrap().content(), "answered by b");
    let attempts = second.wait_attempts(1).await.unwrap();
    assert_eq!(attempts.len(), 1);

    // Not resumed within the resume window: the session is over, b carries on.
    emu.advance(DISCORD_SESSION_RESUME_WINDOW + Duration::from_secs(1));
    let ended = sa.wait_ended(WAIT).await.unwrap();
    assert!(
        ended
            .ended_because
            .as_deref()
            .unwrap()
            .contains("resume window"),
        "{ended:?}"
    );
    let records_before = sa.dispatches().len();
    alice.say(general, "only b now").unwrap();
    seen_b.wait_count("message:only b now", 1).await;
    assert_eq!(
        sa.dispatches().len(),
        records_before,
        "nothing more for an ended session"
    );
    assert!(sb.is_connected());
    assert_eq!(emu.gateway_stats().sessions, 1);

    // A graceful stop (serenity closes with 1000) ends the session at once.
    b.stop().await;
    let ended = sb.wait_ended(WAIT).await.unwrap();
    assert_eq!(ended.client_close_codes, vec![1000]);
    assert!(!emu.is_connected());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_hits_one_session_and_it_resumes_alone() {
    let (emu, alice, general) = guild_with_command().await;
    let (_a, seen_a) = bot(&emu, "a").await;
    let (_b, seen_b) = bot(&emu, "b").await;
    let live = emu.wait_live_sessions(2, WAIT).await.unwrap();
    let (sa, sb) = (live[0].clone(), live[1].clone());
    sa.reconnect().unwrap();
    alice.say(general, "during a's op 7").unwrap();
    seen_b.wait_count("message:during a's op 7", 1).await;
    seen_a.wait_count("message:during a's op 7", 1).await;
    seen_a.wait_count("resumed", 1).await;
    sa.wait_connected(WAIT).await.unwrap();
    let (ia, ib) = (sa.info(), sb.info());
    assert_eq!((ia.resumes, ib.resumes), (1, 0));
    // The message reached a once: replayed on its Resume, or (when serenity resumed before
    // the test could speak, on a loaded machine) sent live.
    assert!(ia.replayed <= 1, "{ia:?}");
    assert_eq!(seen_b.count("resumed"), 0);
    // a's RESUMED took a sequence number of a's only.
    assert_eq!((ia.seq, ib.seq), (4, 3));
    if ia.replayed == 1 {
        let replayed = sa
            .dispatches()
            .into_iter()
            .find(|d| d.delivery == Delivery::Replayed)
            .unwrap();
        assert!(replayed.frame.contains("during a's op 7"));
    }
    assert!(sb.dispatches().iter().all(|d| d.delivery == Delivery::Sent));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_dispatches_stay_lost_and_duplicates_reach_the_client_twice() {
    let (emu, alice, general) = guild_with_command().await;
    let (_bot, seen) = bot(&emu, "solo").await;
    let session = emu.wait_live_sessions(1, WAIT).await.unwrap().remove(0);

    // Lost for good while the client is away: not replayed on its resume.
    emu.reconnect().unwrap();
    session.drop_next("MESSAGE_CREATE", 1).unwrap();
    let lost = alice.say(general, "lost").unwrap();
    alice.say(general, "kept").unwrap();
    seen.wait_count("message:kept", 1).await;
    seen.wait_count("resumed", 1).await;
    assert_eq!(seen.count("message:lost"), 0, "{:?}", seen.all());
    assert!(
        emu.messages(general).iter().any(|m| m.id == lost),
        "the message is in the channel's history for a catch-up to find"
    );
    let info = session.info();
    assert_eq!((info.dropped, info.replayed), (1, 1), "{info:?}");
    let dropped = session
        .dispatches()
        .into_iter()
        .find(|d| d.delivery == Delivery::Dropped)
        .unwrap();
    assert!(dropped.seq.is_none() && dropped.frame.contains("\"lost\""));

    // Duplicates: the next resume sends the last received dispatch again.
    alice.say(general, "twice").unwrap();
    seen.wait_count("message:twice", 1).await;
    session.duplicate_on_resume(1).unwrap();
    session.reconnect().unwrap();
    seen.wait_count("resumed", 2).await;
    seen.wait_count("message:twice", 2).await;
    assert_eq!(session.info().duplicated, 1);
    let dup = session
        .dispatches()
        .into_iter()
        .find(|d| d.delivery == Delivery::Duplicated)
        .unwrap();
    let original = session
        .dispatches()
        .into_iter()
        .find(|d| d.delivery == Delivery::Sent && d.frame.contains("twice"))
        .unwrap();
    assert_eq!(
        dup.seq, original.seq,
        "a duplicate keeps its sequence number"
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_guild_arrives_in_guild_create() {
    let emu = start().await;
    let seeded = emu.seed_large_guild(1000, 200);
    assert_eq!((seeded.channels.len(), seeded.categories.len()), (200, 4));
    let (_bot, seen) = bot(&emu, "big").await;
    // 200 text channels and 4 categories; the owner, the bot and 1,000 members.
    let guild = seen.wait_prefix("guild:").await;
    assert_eq!(guild, "guild:204:1002:true");
    emu.shutdown().await;

    // Discord itself sends only the bot when the session lacks GUILD_PRESENCES.
    let emu = Emulator::start(EmulatorConfig {
        guild_create_members: GuildCreateMembers::AsDiscord,
        ..EmulatorConfig::for_tests()
    })
    .await;
    emu.seed_large_guild(1000, 200);
    let (_bot, seen) = bot(&emu, "big").await;
    assert_eq!(seen.wait_prefix("guild:").await, "guild:204:1:true");
    emu.shutdown().await;
}
