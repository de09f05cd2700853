//! On-call changes from chat, in Discord through the emulator with the real serenity client:
//! an override made with `/oncall override` by the person on call (handing over) changes
//! `/oncall show`, `warroom oncall` and who the engine pages; whoever comes on call gets one
//! DM per handoff, at the override's start and at its end (the durable timer
//! `handoff:<schedule>` and the DM outbox); bad input and people without the right are
//! refused with nothing stored. `/maintenance` works from Discord too.

use std::sync::Arc;
use std::time::Duration;

use discord_emulator::{Message, UserId};
use warroom::domain::{Clock, ManualClock, SystemClock, Timestamp};

use crate::on_both_backends;
use crate::support::discord::{Converse, Guild, Options, World};
use crate::support::{self, TestDb, WAIT};

on_both_backends!(
    an_override_made_in_discord_changes_who_is_paged_and_each_handoff_is_told_once,
    bad_overrides_are_refused_and_nothing_is_stored,
    maintenance_windows_from_discord,
    a_planned_window_is_announced_and_becomes_a_discord_scheduled_event,
);

/// warroom's frozen clock: Monday 2 March 2026, 10:00 UTC.
const START: &str = "2026-03-02T10:00:00Z";

fn start_at() -> Timestamp {
    Timestamp::parse_rfc3339(START).unwrap()
}

/// Dave and Erin take daily turns handing off at 09:00 UTC (Dave's began today); the policy
/// pages whoever is on call.
fn schedule(dave: UserId, erin: UserId) -> String {
    format!(
        r#"
[schedules.dba]
timezone = "UTC"
members = ["{dave}", "{erin}"]
period = "daily"
handoff = "09:00"
start = "2026-03-02"

[policies.dba]
[[policies.dba.levels]]
after = "0s"
targets = ["schedule:dba"]
"#
    )
}

async fn start(guild: Guild, db: TestDb, clock: Arc<ManualClock>, toml: String) -> World {
    World::start_in(
        guild,
        db,
        Options {
            clock: Some(clock),
            extra_toml: toml,
            extra_env: vec![(
                "WARROOM__ESCALATION__DEFAULT_POLICY".to_owned(),
                "dba".to_owned(),
            )],
            ..Options::default()
        },
    )
    .await
}

fn on_call_notice(message: &Message) -> bool {
    message
        .content
        .starts_with("📟 You are on call for **dba**")
}

fn notices(world: &World, user: UserId) -> Vec<String> {
    world
        .emu
        .dm_messages(user)
        .into_iter()
        .filter(|message| message.from_bot && on_call_notice(message))
        .map(|message| message.content)
        .collect()
}

async fn an_override_made_in_discord_changes_who_is_paged_and_each_handoff_is_told_once(
    db: TestDb,
) {
    let guild = Guild::new().await;
    let alice = guild.emu.member("alice", &[guild.responders]);
    let dave = guild.emu.member("dave", &[]);
    let erin = guild.emu.member("erin", &[]);
    let clock = Arc::new(ManualClock::new(start_at()));
    let world = start(guild, db, clock.clone(), schedule(dave.id(), erin.id())).await;

    // Dave is on call and hands the next four hours to Erin; he needs no role for that.
    let line = format!(
        "/oncall override schedule:dba user:{} from:now to:4h",
        erin.mention()
    );
    dave.runs(world.general, &line)
        .await
        .says(&format!("{} is on call for **dba**", erin.mention()))
        .says("(override by dave)");

    // Erin comes on call now and is told once, with the next handoff.
    let notice = world
        .emu
        .wait_for_dm(erin.id(), on_call_notice, WAIT)
        .await
        .expect("Erin is told she is on call");
    assert!(
        notice.content.contains(&format!(
            "until 2026-03-02 14:00 UTC (<t:1772460000:f>), when {} takes over",
            dave.mention()
        )),
        "{}",
        notice.content
    );

    // /oncall and warroom oncall show it, with who made it.
    alice
        .runs(world.general, "/oncall show schedule:dba")
        .await
        .says(&format!("now: {} (override)", erin.mention()))
        .says("(made by dave)");
    let config = world.db.dir.path().join("warroom.toml");
    let out = support::succeed(&config, &["oncall", "dba", "--at", "2026-03-02T10:01:00Z"]);
    assert!(
        out.contains(&format!("now   user {} (override)", erin.id()))
            && out.contains("[override made by dave]"),
        "{out}"
    );

    // The engine pages Erin, not Dave.
    alice
        .runs(
            world.general,
            r#"/incident open title:"Replication broken" severity:SEV2"#,
        )
        .await
        .replied("Opened");
    let page = world
        .emu
        .wait_for_dm(
            erin.id(),
            |message| message.content.contains("you are paged"),
            WAIT,
        )
        .await
        .expect("Erin is paged");
    assert!(
        page.content.contains("on call in dba by override"),
        "{}",
        page.content
    );
    assert!(
        !world
            .emu
            .dm_messages(dave.id())
            .iter()
            .any(|message| message.content.contains("you are paged")),
        "Dave handed over and is not paged"
    );

    // At 14:00 the override ends: Dave is back and told once.
    clock.set(Timestamp::parse_rfc3339("2026-03-02T14:00:00Z").unwrap());
    let back = world
        .emu
        .wait_for_dm(dave.id(), on_call_notice, WAIT)
        .await
        .expect("Dave is told he is back on call");
    assert!(
        back.content.contains("until 2026-03-03 09:00 UTC"),
        "{}",
        back.content
    );

    // The rotation's handoff the next morning is told to Erin: by then every earlier notice
    // went out, each once.
    clock.set(Timestamp::parse_rfc3339("2026-03-03T09:00:00Z").unwrap());
    world
        .emu
        .wait_for_dm(
            erin.id(),
            |message| on_call_notice(message) && message.content.contains("2026-03-04 09:00"),
            WAIT,
        )
        .await
        .expect("Erin is told of her turn");
    assert_eq!(
        notices(&world, dave.id()).len(),
        1,
        "{:?}",
        notices(&world, dave.id())
    );
    assert_eq!(
        notices(&world, erin.id()).len(),
        2,
        "{:?}",
        notices(&world, erin.id())
    );
    world.stop().await;
}

async fn bad_overrides_are_refused_and_nothing_is_stored(db: TestDb) {
    let guild = Guild::new().await;
    let alice = guild.emu.member("alice", &[guild.commanders]);
    let frank = guild.emu.member("frank", &[guild.responders]);
    let dave = guild.emu.member("dave", &[]);
    let erin = guild.emu.member("erin", &[]);
    let zed = guild.emu.add_user("zed");
    let clock = Arc::new(ManualClock::new(start_at()));
    let world = start(guild, db, clock, schedule(dave.id(), erin.id())).await;
    let try_override = async |who: &discord_emulator::Actor, user: String, from: &str, to: &str| {
        let line = format!("/oncall override schedule:dba user:{user} from:\"{from}\" to:\"{to}\"");
        who.runs(world.general, &line).await
    };
    try_override(
        &alice,
        erin.mention(),
        "2026-03-02 14:00",
        "2026-03-02 12:00",
    )
    .await
    .says_privately("ends (2026-03-02 12:00 UTC) before it starts (2026-03-02 14:00 UTC)");
    try_override(
        &alice,
        erin.mention(),
        "2026-03-01 08:00",
        "2026-03-01 12:00",
    )
    .await
    .says_privately("ends in the past");
    try_override(&alice, format!("<@{zed}>"), "now", "2h")
        .await
        .says_privately("is not a member of this server");
    try_override(&alice, erin.mention(), "tomorrow-ish", "2h")
        .await
        .says_privately("from: ");
    // Frank is a responder, not a commander, and not on call.
    try_override(&frank, erin.mention(), "now", "2h")
        .await
        .says_privately("incident_commander");
    let stored = world
        .store
        .overrides(Timestamp::from_millis(0))
        .await
        .unwrap();
    assert!(stored.is_empty(), "{stored:?}");
    // A commander may.
    try_override(
        &alice,
        erin.mention(),
        "2026-03-02 18:00",
        "2026-03-02 20:00",
    )
    .await
    .says("(override by alice)");

    // Dave swaps with Erin: the rest of his shift (until Alice's override puts Erin on at
    // 18:00) is hers, and her next one (that override's 18:00-20:00) his.
    dave.runs(
        world.general,
        &format!("/oncall swap schedule:dba with:{}", erin.mention()),
    )
    .await
    .says(&format!(
        "{} is on call for **dba** from <t:1772445600:f> until <t:1772474400:f> (override by dave)",
        erin.mention()
    ))
    .says(&format!(
        "{} is on call for **dba** from <t:1772474400:f> until <t:1772481600:f> (override by dave)",
        dave.mention()
    ));
    frank
        .runs(
            world.general,
            &format!("/oncall swap schedule:dba with:{}", erin.mention()),
        )
        .await
        .says_privately("you have no shift in dba within the next 8 weeks");
    let stored = world
        .store
        .overrides(Timestamp::from_millis(0))
        .await
        .unwrap();
    assert_eq!(stored.len(), 3, "{stored:?}");
    world.stop().await;
}

async fn maintenance_windows_from_discord(db: TestDb) {
    let guild = Guild::new().await;
    let alice = guild.emu.member("alice", &[guild.commanders]);
    let frank = guild.emu.member("frank", &[guild.responders]);
    let clock = Arc::new(ManualClock::new(start_at()));
    let policy =
        "[policies.dba]\n[[policies.dba.levels]]\nafter = \"0s\"\ntargets = [\"role:responder\"]\n";
    let world = start(guild, db, clock.clone(), policy.to_owned()).await;
    frank
        .runs(
            world.general,
            r#"/maintenance start service:postgres for:2h reason:"disk swap""#,
        )
        .await
        .says_privately("incident_commander");
    alice
        .runs(
            world.general,
            r#"/maintenance start service:postgres for:2h reason:"disk swap""#,
        )
        .await
        .says("Maintenance #1 of service postgres")
        .says("open no incident and page nobody");
    frank
        .runs(world.general, "/maintenance list")
        .await
        .says_privately("#1 🚧 service postgres since")
        .says("disk swap");
    alice
        .runs(world.general, "/maintenance end id:1")
        .await
        .says("Maintenance #1 of service postgres ended");
    clock.advance(Duration::from_secs(60));
    frank
        .runs(world.general, "/maintenance list")
        .await
        .says_privately("No maintenance window is running or planned");
    world.stop().await;
}

async fn a_planned_window_is_announced_and_becomes_a_discord_scheduled_event(db: TestDb) {
    let guild = Guild::new().await;
    let alice = guild.emu.member("alice", &[guild.commanders]);
    // The emulator's clock is the real one: so is warroom's here, so "later" is later for both.
    let policy =
        "[policies.dba]\n[[policies.dba.levels]]\nafter = \"0s\"\ntargets = [\"role:responder\"]\n";
    let world = World::start_in(
        guild,
        db,
        Options {
            extra_toml: policy.to_owned(),
            extra_env: vec![(
                "WARROOM__ESCALATION__DEFAULT_POLICY".to_owned(),
                "dba".to_owned(),
            )],
            ..Options::default()
        },
    )
    .await;
    let start = SystemClock.now().plus(Duration::from_secs(3600));
    let line = format!(
        r#"/maintenance start service:postgres for:2h reason:"disk swap" start_at:{}"#,
        start.to_rfc3339()
    );
    alice
        .runs(world.general, &line)
        .await
        .says("Maintenance #1 of service postgres");
    let event = world
        .emu
        .wait_for_scheduled_event(|event| event.name == "Maintenance: service postgres", WAIT)
        .await
        .expect("a scheduled event for the planned window");
    assert_eq!(event.entity_type, 3, "an external event");
    assert_eq!(event.location.as_deref(), Some("warroom maintenance #1"));
    assert_eq!(event.description.as_deref(), Some("disk swap"));
    assert_eq!(
        event.end.map(|end| end.timestamp_millis()),
        Some(start.plus(Duration::from_secs(7200)).as_millis())
    );
    world
        .bot_message(world.announce, |message| {
            message
                .content
                .starts_with("🚧 Maintenance #1 of service postgres")
        })
        .await;
    let stored = world
        .store
        .maintenance_windows(SystemClock.now())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    world.stop().await;
}
