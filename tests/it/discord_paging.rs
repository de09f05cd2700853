//! Paging in Discord, through the emulator with the real serenity client and the real
//! escalation engine: a paged person gets a DM and a mention with Acknowledge and may
//! acknowledge from the DM without any role, which stops the next level; strangers cannot;
//! drills say DRILL and stay inside Discord; `/page` and `/oncall`; failed pages are said in
//! the incident channel.
//!
//! warroom runs on a `ManualClock`, so no level fires before the test moves the clock: a
//! level's time never races the test. A negative ("level 2 never fired") is read only after a
//! witness incident, opened at the same instant and left unacknowledged, had its level 2
//! fired: the engine fires every step due at an instant in the same pass.

use std::sync::Arc;
use std::time::Duration;

use discord_emulator::{Message, UserId};
use warroom::domain::{EventKind, IncidentId, ManualClock, Status, Timestamp};
use warroom::store::PageState;

use crate::on_both_backends;
use crate::receiver::{Receiver, Reply};
use crate::support::TestDb;
use crate::support::discord::{Converse, Guild, Options, World};

on_both_backends!(
    a_paged_user_acknowledges_from_the_dm_and_level_two_never_fires,
    someone_neither_paged_nor_a_responder_cannot_acknowledge,
    a_drill_pages_say_drill_and_stay_inside_discord,
    page_by_hand_reaches_a_person_and_a_role_and_needs_the_responder_role,
    oncall_names_who_is_on_call_now_and_next,
    failed_pages_are_said_in_the_incident_channel,
);

/// warroom's frozen clock: Monday 2 March 2026, 10:00 UTC.
const START: &str = "2026-03-02T10:00:00Z";

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp::parse_rfc3339(START).unwrap()))
}

/// Level 1 pages `user` at once, level 2 the `responder` bot role 3 s later.
fn pager_policy(user: UserId) -> String {
    format!(
        r#"
[policies.pager]
[[policies.pager.levels]]
after = "0s"
targets = ["user:{user}"]
[[policies.pager.levels]]
after = "3s"
targets = ["role:responder"]
"#
    )
}

fn default_policy(name: &str) -> Vec<(String, String)> {
    vec![(
        "WARROOM__ESCALATION__DEFAULT_POLICY".to_owned(),
        name.to_owned(),
    )]
}

/// A webhook notifier sending to `receiver`, tried once (its failures are the test's point).
/// warroom on `guild`'s emulator with the frozen `clock`, `extra_toml`, and `policy` as
/// `[escalation] default_policy` when given.
async fn start(
    guild: Guild,
    db: TestDb,
    clock: Arc<ManualClock>,
    extra_toml: String,
    policy: Option<&str>,
) -> World {
    World::start_in(
        guild,
        db,
        Options {
            clock: Some(clock),
            extra_toml,
            extra_env: policy.map(default_policy).unwrap_or_default(),
            ..Options::default()
        },
    )
    .await
}

fn webhook(name: &str, receiver: &Receiver) -> String {
    format!(
        "[notifiers.{name}]\nkind = \"webhook\"\nurl = \"{}\"\nmax_attempts = 1\n",
        receiver.url()
    )
}

fn ack(id: i64) -> String {
    format!("incident:ack:{id}")
}

async fn open(world: &World, who: &discord_emulator::Actor, line: &str) {
    who.runs(world.general, line).await.replied("Opened");
}

fn allowed_roles(message: &Message) -> Vec<String> {
    message
        .allowed_mentions
        .as_ref()
        .and_then(|allowed| allowed.get("roles"))
        .and_then(|roles| roles.as_array())
        .map(|roles| {
            roles
                .iter()
                .map(|role| {
                    role.as_str()
                        .map_or_else(|| role.to_string(), str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn a_paged_user_acknowledges_from_the_dm_and_level_two_never_fires(db: TestDb) {
    let guild = Guild::new().await;
    let alice = guild.emu.member("alice", &[guild.responders]);
    // Carol holds no role at all: only the page lets her acknowledge.
    let carol = guild.emu.member("carol", &[]);
    let responders = guild.responders;
    let clock = clock();
    let world = start(
        guild,
        db,
        clock.clone(),
        pager_policy(carol.id()),
        Some("pager"),
    )
    .await;
    let emu = &world.emu;

    open(
        &world,
        &alice,
        r#"/incident open title:"Checkout is down" severity:SEV1"#,
    )
    .await;
    let channel = world.channel("inc-1-checkout-is-down").await;

    // Carol's DM: what is happening, why her, and the Acknowledge button.
    let dm = world.bot_dm(carol.id()).await;
    assert!(
        dm.content.starts_with(
            "🚨 **INC-1 SEV1: Checkout is down** — you are paged (level 1 of policy pager)"
        ),
        "{}",
        dm.content
    );
    assert_eq!(dm.custom_ids(), [ack(1)]);
    assert!(dm.mentions.is_empty(), "the DM pings nobody");

    // The mention in the incident channel pings carol and nobody else.
    let mention = world
        .bot_message(channel.id, |message| message.mentions.contains(&carol.id()))
        .await;
    assert_eq!(mention.mentions, [carol.id()]);
    assert!(mention.mention_roles.is_empty() && !mention.mention_everyone);
    assert!(
        mention.content.contains(&format!(
            "{}, you are paged (level 1 of policy pager)",
            carol.mention()
        )),
        "{}",
        mention.content
    );
    assert_eq!(mention.custom_ids(), [ack(1)]);

    // The channel says the level fired, naming carol without pinging her again.
    let line = world
        .bot_message(channel.id, |message| {
            message
                .content
                .starts_with("📟 Escalation level 1 of policy pager")
        })
        .await;
    assert!(line.content.contains(&carol.mention()), "{}", line.content);
    assert!(line.mentions.is_empty(), "the line pings nobody");
    world
        .wait_for_event(IncidentId(1), "carol's page sent", |event| {
            event.kind == EventKind::PageSent
        })
        .await;

    // Carol acknowledges from her DM, where she has no member and no role.
    carol
        .clicks(dm.id, &ack(1))
        .await
        .replied("You acknowledged **INC-1**");
    let incident = world.incident(IncidentId(1)).await;
    assert_eq!(incident.status, Status::Acknowledged);
    assert_eq!(
        incident.acknowledged_by.and_then(|by| by.discord_user_id()),
        Some(carol.id().get())
    );

    // A witness opened at the same instant and left alone has its level 2 fired ...
    open(
        &world,
        &alice,
        r#"/incident open title:"Witness" severity:SEV3"#,
    )
    .await;
    let witness = world.channel("inc-2-witness").await;
    world
        .wait_for_event(IncidentId(2), "the witness's level 1", |event| {
            event.kind == EventKind::Escalated && event.text.contains("level 1")
        })
        .await;
    clock.advance(Duration::from_secs(10));
    let level_two = world
        .bot_message(witness.id, |message| {
            message.mention_roles.contains(&responders)
        })
        .await;
    assert!(
        level_two.content.contains("level 2 of policy pager"),
        "{}",
        level_two.content
    );

    // ... in the same pass that would have fired INC-1's: it never did.
    let events = world.timeline(IncidentId(1)).await;
    assert!(
        !events
            .iter()
            .any(|event| event.kind == EventKind::Escalated && event.text.contains("level 2")),
        "{events:#?}"
    );
    let pages = world.store.pages(IncidentId(1)).await.unwrap();
    assert!(pages.iter().all(|page| page.level == 1), "{pages:#?}");
    assert!(
        emu.bot_messages(channel.id)
            .iter()
            .all(|message| message.mention_roles.is_empty()),
        "no role was mentioned in INC-1's channel"
    );
    world.stop().await;
}

async fn someone_neither_paged_nor_a_responder_cannot_acknowledge(db: TestDb) {
    let guild = Guild::new().await;
    let alice = guild.emu.member("alice", &[guild.responders]);
    let carol = guild.emu.member("carol", &[]);
    let erin = guild.emu.member("erin", &[]);
    let responders = guild.responders;
    let clock = clock();
    let world = start(
        guild,
        db,
        clock.clone(),
        pager_policy(carol.id()),
        Some("pager"),
    )
    .await;

    open(
        &world,
        &alice,
        r#"/incident open title:"Disk full" severity:SEV2"#,
    )
    .await;
    let channel = world.channel("inc-1-disk-full").await;
    let mention = world
        .bot_message(channel.id, |message| message.mentions.contains(&carol.id()))
        .await;
    world
        .wait_for_event(IncidentId(1), "carol's page sent", |event| {
            event.kind == EventKind::PageSent
        })
        .await;

    // Erin was not paged and holds no role: the button refuses her and nothing is written.
    let before = world.db.snapshot().await;
    erin.clicks(mention.id, &ack(1))
        .await
        .replied_privately("`responder` role to acknowledge");
    assert_eq!(
        before,
        world.db.snapshot().await,
        "a refusal changed nothing"
    );

    // Nobody acknowledged, so level 2 mentions the responders (and only them) at its time.
    clock.advance(Duration::from_secs(10));
    let level_two = world
        .bot_message(channel.id, |message| {
            message.mention_roles.contains(&responders)
        })
        .await;
    assert_eq!(level_two.mention_roles, [responders]);
    assert!(level_two.mentions.is_empty() && !level_two.mention_everyone);
    assert_eq!(allowed_roles(&level_two), [responders.get().to_string()]);
    assert_eq!(level_two.custom_ids(), [ack(1)]);
    world.stop().await;
}

async fn a_drill_pages_say_drill_and_stay_inside_discord(db: TestDb) {
    let receiver = Receiver::start(Vec::new()).await;
    let guild = Guild::new().await;
    let alice = guild.emu.member("alice", &[guild.responders]);
    let carol = guild.emu.member("carol", &[]);
    let policy = format!(
        "{}\n[policies.practice]\n[[policies.practice.levels]]\nafter = \"0s\"\ntargets = [\"user:{}\", \"notifier:hook\"]\n",
        webhook("hook", &receiver),
        carol.id()
    );
    let world = start(guild, db, clock(), policy, Some("practice")).await;

    open(
        &world,
        &alice,
        r#"/incident open title:"Failover practice" severity:SEV2 drill:true"#,
    )
    .await;
    let channel = world.channel("inc-1-failover-practice").await;
    let dm = world.bot_dm(carol.id()).await;
    assert!(dm.content.starts_with("🧪 DRILL — "), "{}", dm.content);
    let mention = world
        .bot_message(channel.id, |message| message.mentions.contains(&carol.id()))
        .await;
    assert!(
        mention.content.starts_with("🧪 DRILL — "),
        "{}",
        mention.content
    );

    // The webhook is not paged; the timeline and the channel say so.
    let skipped = world
        .wait_for_event(IncidentId(1), "the skipped webhook page", |event| {
            event.kind == EventKind::PageSent
                && event.text.contains("DRILL: notifier:hook not paged")
        })
        .await;
    assert_eq!(skipped.data["state"], "skipped");
    world
        .bot_message(channel.id, |message| {
            message
                .content
                .starts_with("📨 DRILL: notifier:hook not paged")
        })
        .await;
    assert!(
        receiver.received().is_empty(),
        "a drill reached the webhook: {:?}",
        receiver.received()
    );
    world.stop().await;
}

async fn page_by_hand_reaches_a_person_and_a_role_and_needs_the_responder_role(db: TestDb) {
    let guild = Guild::new().await;
    let alice = guild.emu.member("alice", &[guild.responders]);
    let bob = guild.emu.member("bob", &[]);
    let dave = guild.emu.member("dave", &[]);
    let dbas = guild.dbas;
    // No policy: nobody is paged unless someone pages by hand.
    let world = start(guild, db, clock(), String::new(), None).await;
    let emu = &world.emu;

    open(
        &world,
        &alice,
        r#"/incident open title:"Replica lag" severity:SEV2"#,
    )
    .await;
    let channel = world.channel("inc-1-replica-lag").await;
    world.wait_for_room(IncidentId(1)).await;

    let page_dave = format!(r#"/page user:{} message:"need a DBA""#, dave.mention());
    alice
        .runs(channel.id, &page_dave)
        .await
        .says_privately(&format!("alice paged user:{}", dave.id()))
        .says("need a DBA");
    let dm = world.bot_dm(dave.id()).await;
    assert!(
        dm.content.contains("you are paged (paged by hand)") && dm.content.contains("> need a DBA"),
        "{}",
        dm.content
    );
    assert!(
        dm.content.contains(&format!(
            "https://discord.com/channels/{}/{}",
            emu.guild_id().get(),
            channel.id.get()
        )),
        "the DM links the incident channel: {}",
        dm.content
    );
    world
        .bot_message(channel.id, |message| {
            message.content.starts_with("📟 alice paged user:") && message.mentions.is_empty()
        })
        .await;
    world
        .wait_for_event(IncidentId(1), "dave's page sent", |event| {
            event.kind == EventKind::PageSent
        })
        .await;

    // Bob holds no role: /page refuses him and nothing is written.
    let before = world.db.snapshot().await;
    bob.runs(channel.id, &format!("/page user:{}", dave.mention()))
        .await
        .replied_privately("`responder` role to page people");
    // Exactly one target, said clearly.
    alice
        .runs(channel.id, "/page")
        .await
        .replied("say whom to page");
    alice
        .runs(
            channel.id,
            &format!("/page user:{} role:dba", dave.mention()),
        )
        .await
        .replied("give only one");
    // Outside an incident channel, without `incident:`, it says what to do.
    alice
        .runs(world.general, "/page role:dba")
        .await
        .replied("not an incident channel");
    assert_eq!(
        before,
        world.db.snapshot().await,
        "refusals changed nothing"
    );

    // A role page from anywhere, naming the incident: the DBAs' role is mentioned there.
    alice
        .runs(world.general, "/page role:dba incident:1")
        .await
        .replied("paged role:dba");
    let role_page = world
        .bot_message(channel.id, |message| message.mention_roles.contains(&dbas))
        .await;
    assert_eq!(role_page.mention_roles, [dbas]);
    assert_eq!(allowed_roles(&role_page), [dbas.get().to_string()]);

    // Dave, paged by hand and holding no role, acknowledges from his DM.
    dave.clicks(dm.id, &ack(1))
        .await
        .replied("You acknowledged **INC-1**");
    world.stop().await;
}

async fn oncall_names_who_is_on_call_now_and_next(db: TestDb) {
    let guild = Guild::new().await;
    let dave = guild.emu.member("dave", &[]);
    let erin = guild.emu.member("erin", &[]);
    let frank = guild.emu.member("frank", &[]);
    let schedule = format!(
        r#"
[schedules.dba]
timezone = "UTC"
members = ["{}", "{}"]
period = "daily"
handoff = "09:00"
start = "2026-03-02"
"#,
        dave.id(),
        erin.id()
    );
    let world = start(guild, db, clock(), schedule, None).await;

    // Anyone may ask. Dave's turn began today at 09:00 UTC; Erin's begins tomorrow at 09:00.
    let answer = frank
        .runs(world.general, "/oncall show schedule:dba")
        .await
        .answer;
    let text = answer.text();
    assert!(
        text.contains(&format!(
            "now: {} since <t:1772442000:f>, hands off <t:1772528400:f>",
            dave.mention()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "next: {} from <t:1772528400:f> (<t:1772528400:R>) until <t:1772614800:f>",
            erin.mention()
        )),
        "{text}"
    );
    let message = answer.message.as_ref().unwrap();
    assert!(
        message.mentions.is_empty(),
        "/oncall pings nobody: {:?}",
        message.mentions
    );

    // Without a schedule: every schedule (the shipped examples and this one).
    frank
        .runs(world.general, "/oncall show")
        .await
        .says("**primary**")
        .says("**secondary**")
        .says("**dba**");
    world.stop().await;
}

async fn failed_pages_are_said_in_the_incident_channel(db: TestDb) {
    let broken = Receiver::start(vec![Reply::Status(
        400,
        r#"{"error":"unknown routing key"}"#,
    )])
    .await;
    let guild = Guild::new().await;
    let alice = guild.emu.member("alice", &[guild.responders]);
    let carol = guild.emu.member("carol", &[]);
    // Carol's privacy settings refuse DMs: her page still goes out as the channel mention.
    guild.emu.close_dms(carol.id());
    let policy = format!(
        "{}\n[policies.flaky]\n[[policies.flaky.levels]]\nafter = \"0s\"\ntargets = [\"notifier:broken\", \"user:{}\"]\n",
        webhook("broken", &broken),
        carol.id()
    );
    let world = start(guild, db, clock(), policy, Some("flaky")).await;
    let emu = &world.emu;

    open(
        &world,
        &alice,
        r#"/incident open title:"Queue stuck" severity:SEV2"#,
    )
    .await;
    let channel = world.channel("inc-1-queue-stuck").await;

    // The webhook's refusal is said in the channel, with its reason, pinging nobody.
    let failed = world
        .bot_message(channel.id, |message| {
            message
                .content
                .starts_with("⚠️ Page to notifier:broken failed")
        })
        .await;
    assert!(
        failed.content.contains("HTTP 400") && failed.content.contains("unknown routing key"),
        "{}",
        failed.content
    );
    assert!(failed.mentions.is_empty() && failed.mention_roles.is_empty());

    // Carol's DM was refused (50007), the mention went out and says so: the page counts as
    // sent, and its attempts name the refused DM.
    let mention = world
        .bot_message(channel.id, |message| message.mentions.contains(&carol.id()))
        .await;
    assert!(
        mention.content.contains("could not be sent")
            && mention.content.contains("Discord error 50007"),
        "{}",
        mention.content
    );
    assert!(emu.dm_messages(carol.id()).is_empty());
    let sent = world
        .wait_for_event(IncidentId(1), "carol's page", |event| {
            event.kind == EventKind::PageSent
                && event.data["target"] == format!("user:{}", carol.id())
        })
        .await;
    let attempts = sent.data["delivery"]["attempts"].to_string();
    assert!(attempts.contains("50007"), "{attempts}");
    let pages = world.store.pages(IncidentId(1)).await.unwrap();
    let carols = pages
        .iter()
        .find(|page| page.target == format!("user:{}", carol.id()))
        .unwrap();
    assert_eq!(carols.state, PageState::Sent);
    world.stop().await;
}
