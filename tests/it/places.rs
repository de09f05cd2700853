//! Where incidents live and who sees them (issue 14, points 4–6), through the emulator with the
//! real serenity client: private incidents (overwrites, the announce channel, the REST API),
//! the modal and the message command, forum posts whose tags follow the incident, and
//! archiving after resolution in each of the three placements, with timeline capture in each.

use std::sync::Arc;
use std::time::Duration;

use discord_emulator::{CallbackKind, ChannelId, Interaction};
use serde_json::json;
use warroom::domain::{Clock as _, EventKind, IncidentId, ManualClock, Status, SystemClock};
use warroom::store::IncidentFilter;

use crate::http::{COMMANDER, RESPONDER, Server};
use crate::on_both_backends;
use crate::support::discord::{Converse, Guild, Options, World};
use crate::support::{TestDb, WAIT, eventually, operator, succeed};

on_both_backends!(
    a_private_incident_is_seen_only_by_the_allowed_roles_and_people_added,
    a_private_incident_is_404_to_tokens_without_access,
    the_modal_opens_an_incident_with_the_submitted_values_and_refuses_bad_titles,
    the_message_command_opens_an_incident_linked_to_its_message,
    forum_posts_carry_tags_that_follow_severity_and_status,
    a_channel_is_archived_after_resolution_and_unarchived_on_reopen,
    a_thread_is_archived_after_resolution_and_unarchived_on_reopen,
    a_forum_post_is_archived_after_resolution_and_unarchived_on_reopen,
    the_command_line_opens_private_incidents_and_lists_them_to_its_operator,
    a_private_incident_can_be_announced_by_a_line_without_detail,
);

const ID: IncidentId = IncidentId(1);

fn quoted(id: ChannelId) -> String {
    format!("\"{}\"", id.get())
}

async fn a_private_incident_is_seen_only_by_the_allowed_roles_and_people_added(db: TestDb) {
    let world = World::start(db).await;
    let emu = &world.emu;
    let carol = emu.member("carol", &[world.commanders]);
    let alice = emu.member("alice", &[world.responders]);
    let root = emu.member("root", &[world.admins]);
    let dora = emu.member("dora", &[world.dbas]);

    // A responder may not ask for a private incident: a clear private error, nothing stored.
    alice
        .runs(
            world.general,
            r#"/incident open title:"Keys leaked" severity:SEV1 private:true"#,
        )
        .await
        .says_privately("you may not open a private incident")
        .says_privately("`incident_commander`, `admin`");
    let stored = world
        .store
        .list_incidents(&IncidentFilter::default())
        .await
        .unwrap();
    assert!(stored.is_empty(), "{stored:#?}");

    carol
        .runs(
            world.general,
            r#"/incident open title:"Keys leaked" severity:SEV1 private:true"#,
        )
        .await
        .says_privately("Opened **INC-1** (SEV1)");
    assert!(world.incident(ID).await.private);
    let channel = world.channel("inc-1-keys-leaked").await.id;
    // Commands in the room work once it is recorded (the channel exists a moment before).
    world.wait_for_room(ID).await;
    // Overwrites as Discord computes them: the commander and admin roles and the opener, not
    // responders or other roles.
    assert!(carol.can_view(channel) && root.can_view(channel));
    assert!(
        !alice.can_view(channel),
        "a responder sees the private channel"
    );
    assert!(!dora.can_view(channel), "a dba sees the private channel");

    // A person given an incident role is let in.
    let assign = format!("/incident assign role:scribe user:{}", alice.mention());
    carol
        .runs(channel, &assign)
        .await
        .replied("alice is now scribe");
    eventually("alice let into the private channel", WAIT, async || {
        alice.can_view(channel)
    })
    .await;
    assert!(!dora.can_view(channel));

    // Timeline capture works there, and the person added may act in it.
    alice
        .runs(channel, r#"/incident note text:"keys listed""#)
        .await
        .replied("keys listed");
    alice.say(channel, "rotating the keys now").unwrap();
    world
        .wait_for_event(ID, "alice's message", |e| {
            e.kind == EventKind::Message && e.text.contains("rotating")
        })
        .await;

    // Everything up to the assignment was shown, and the announce channel got nothing.
    let announced = emu.messages(world.announce);
    assert!(
        announced.is_empty(),
        "the announce channel got {announced:#?}"
    );
    // Autocomplete hides it from a role that may not see it.
    let offered = dora
        .autocomplete(world.general, "/incident status incident:", "")
        .await
        .unwrap();
    assert!(offered.is_empty(), "{offered:?}");
    dora.runs(world.general, "/incident status incident:1")
        .await
        .says_privately("INC-1 does not exist");
    world.stop().await;
}

async fn a_private_incident_is_404_to_tokens_without_access(db: TestDb) {
    let server = Server::start(db).await;
    let refused = server
        .post(
            "/v1/incidents",
            RESPONDER,
            &json!({"title": "Keys leaked", "severity": "SEV1", "private": true}),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert!(
        refused.text.contains("you may not open a private incident"),
        "{}",
        refused.text
    );
    let nothing = server
        .store
        .list_incidents(&IncidentFilter::default())
        .await
        .unwrap();
    assert!(nothing.is_empty());

    let opened = server
        .post(
            "/v1/incidents",
            COMMANDER,
            &json!({"title": "Keys leaked", "severity": "SEV1", "private": true}),
        )
        .await;
    assert_eq!(opened.status, 201, "{}", opened.text);
    server
        .post(
            "/v1/incidents",
            RESPONDER,
            &json!({"title": "Slow search", "severity": "SEV3"}),
        )
        .await;
    assert_eq!(server.get("/v1/incidents/1", COMMANDER).await.status, 200);
    let hidden = server.get("/v1/incidents/1", RESPONDER).await;
    assert_eq!(hidden.status, 404, "{}", hidden.text);
    for path in [
        "/v1/incidents/1/timeline",
        "/v1/incidents/1/export?format=json",
    ] {
        assert_eq!(server.get(path, RESPONDER).await.status, 404, "{path}");
    }
    let ack = server
        .post("/v1/incidents/1/ack", RESPONDER, &json!({}))
        .await;
    assert_eq!(ack.status, 404, "{}", ack.text);
    let listed = server.get("/v1/incidents", RESPONDER).await.text;
    assert!(
        listed.contains("Slow search") && !listed.contains("Keys leaked"),
        "{listed}"
    );
    let listed = server.get("/v1/incidents", COMMANDER).await.text;
    assert!(listed.contains("Keys leaked"), "{listed}");
    assert_eq!(server.incident(ID).await.status, Status::Open);
    server.app.stop().await;
}

/// The modal `interaction` was answered with.
async fn modal_of(interaction: &Interaction) -> discord_emulator::Modal {
    let response = interaction.response().await.expect("an answer");
    assert_eq!(response.kind, CallbackKind::Modal, "{:?}", response.data);
    response.modal.expect("a modal")
}

async fn the_modal_opens_an_incident_with_the_submitted_values_and_refuses_bad_titles(db: TestDb) {
    let world = World::start(db).await;
    let alice = world.emu.member("alice", &[world.responders]);

    // Bad titles: a clear private error each time, nothing stored.
    for (title, says) in [
        ("   ", "the title is empty"),
        (&"x".repeat(201)[..], "more than the 200 allowed"),
    ] {
        let open = alice.run(world.general, "/incident open").unwrap();
        let modal = modal_of(&open).await;
        assert_eq!(
            modal.field_ids(),
            ["title", "description", "severity", "service"]
        );
        let submitted = alice
            .submit_modal_unchecked(&open, &[("title", title), ("severity", "SEV2")])
            .await
            .unwrap();
        let answer = submitted.wait_final_response().await.unwrap();
        assert!(answer.ephemeral(), "{}", answer.text());
        assert!(answer.text().contains(says), "{}", answer.text());
    }
    let stored = world
        .store
        .list_incidents(&IncidentFilter::default())
        .await
        .unwrap();
    assert!(stored.is_empty(), "{stored:#?}");

    let open = alice.run(world.general, "/incident open").unwrap();
    modal_of(&open).await;
    let submitted = alice
        .submit_modal(
            &open,
            &[
                ("title", "Checkout is down"),
                ("description", "502 for everyone"),
                ("severity", "SEV2"),
                ("service", "api"),
            ],
        )
        .await
        .unwrap();
    let answer = submitted.wait_final_response().await.unwrap();
    assert!(
        answer.text().contains("Opened **INC-1** (SEV2)"),
        "{}",
        answer.text()
    );
    assert!(!answer.ephemeral());
    let incident = world.incident(ID).await;
    assert_eq!(
        (
            incident.title.as_str(),
            incident.description.as_str(),
            incident.severity.as_str(),
            incident.service.as_deref()
        ),
        ("Checkout is down", "502 for everyone", "SEV2", Some("api"))
    );
    world.channel("inc-1-checkout-is-down").await;

    // A title given but no severity: the form asks, seeded with the title.
    let open = alice
        .run(world.general, r#"/incident open title:"Search is slow""#)
        .unwrap();
    let modal = modal_of(&open).await;
    let seeded = serde_json::to_string(&modal.components).unwrap();
    assert!(seeded.contains("Search is slow"), "{seeded}");
    world.stop().await;
}

async fn the_message_command_opens_an_incident_linked_to_its_message(db: TestDb) {
    let world = World::start(db).await;
    let alice = world.emu.member("alice", &[world.responders]);
    let bob = world.emu.member("bob", &[]);
    world
        .emu
        .wait_for_command("Open incident from message", WAIT)
        .await
        .expect("the message command is registered");
    let said = bob
        .say(world.general, "checkout returns 502 since 10:02")
        .unwrap();
    let open = alice
        .use_message_command(said, "Open incident from message")
        .unwrap();
    let modal = modal_of(&open).await;
    let seeded = serde_json::to_string(&modal.components).unwrap();
    assert!(
        seeded.contains("checkout returns 502 since 10:02"),
        "{seeded}"
    );
    let submitted = alice
        .submit_modal(&open, &[("severity", "SEV2")])
        .await
        .unwrap();
    let answer = submitted.wait_final_response().await.unwrap();
    assert!(
        answer.text().contains("Opened **INC-1**"),
        "{}",
        answer.text()
    );
    assert_eq!(
        world.incident(ID).await.title,
        "checkout returns 502 since 10:02"
    );
    let timeline = world.timeline(ID).await;
    assert_eq!(timeline[0].kind, EventKind::Opened);
    let linked = &timeline[1];
    assert_eq!(linked.kind, EventKind::Message, "{timeline:#?}");
    assert_eq!(linked.actor.name, "bob");
    assert!(linked.text.contains("502 since 10:02"), "{}", linked.text);
    let link = linked.data["seeded_from"].as_str().unwrap();
    assert!(
        link.ends_with(&format!("/{}/{}", world.general.get(), said.get())),
        "{link}"
    );
    world.stop().await;
}

/// The names of the tags applied to `post`.
fn tags_of(world: &World, forum: ChannelId, post: ChannelId) -> Vec<String> {
    let forum = world.emu.channel(forum).unwrap();
    let post = world.emu.channel(post).unwrap();
    let mut names: Vec<String> = post
        .applied_tags
        .iter()
        .filter_map(|id| forum.available_tags.iter().find(|tag| tag.id == *id))
        .map(|tag| tag.name.clone())
        .collect();
    names.sort();
    names
}

async fn wait_for_tags(world: &World, forum: ChannelId, post: ChannelId, wanted: &[&str]) {
    eventually(format!("the post tagged {wanted:?}"), WAIT, async || {
        tags_of(world, forum, post) == wanted
    })
    .await;
}

async fn forum_posts_carry_tags_that_follow_severity_and_status(db: TestDb) {
    let guild = Guild::new().await;
    // A tag the forum already has keeps its id.
    let forum = guild.emu.add_forum("incidents-forum", None, &["SEV1"]);
    let sev1 = guild.emu.channel(forum).unwrap().available_tags[0].id;
    let options = Options {
        extra_env: vec![(
            "WARROOM__DISCORD__INCIDENT_FORUM_CHANNEL_ID".to_owned(),
            quoted(forum),
        )],
        ..Options::default()
    };
    let world = World::start_in(guild, db, options).await;
    let alice = world.emu.member("alice", &[world.responders]);
    let carol = world.emu.member("carol", &[world.commanders]);
    alice
        .runs(
            world.general,
            r#"/incident open title:"Checkout is down" severity:SEV2"#,
        )
        .await
        .replied("Opened **INC-1** (SEV2)");
    let post = world.channel("inc-1-checkout-is-down").await;
    world.wait_for_room(ID).await;
    assert_eq!(post.parent_id, Some(forum), "a post in the forum");
    let post = post.id;
    wait_for_tags(&world, forum, post, &["SEV2", "open"]).await;

    // Timeline capture in the post.
    alice.say(post, "502 on every checkout").unwrap();
    world
        .wait_for_event(ID, "the message in the post", |e| {
            e.kind == EventKind::Message && e.text.contains("502")
        })
        .await;

    alice
        .runs(post, "/incident ack")
        .await
        .replied("acknowledged");
    wait_for_tags(&world, forum, post, &["SEV2", "acknowledged"]).await;
    carol
        .runs(post, "/incident severity level:SEV1")
        .await
        .replied("SEV2 → SEV1");
    wait_for_tags(&world, forum, post, &["SEV1", "acknowledged"]).await;
    carol
        .runs(post, "/incident resolve")
        .await
        .replied("resolved");
    wait_for_tags(&world, forum, post, &["SEV1", "resolved"]).await;
    let tags = world.emu.channel(forum).unwrap().available_tags;
    assert!(
        tags.iter().any(|tag| tag.id == sev1 && tag.name == "SEV1"),
        "the existing tag kept its id: {tags:?}"
    );
    let names: Vec<&str> = tags.iter().map(|tag| tag.name.as_str()).collect();
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "no tag twice: {names:?}");
    world.stop().await;
}

/// The three placements.
#[derive(Clone, Copy, Debug)]
enum Placement {
    Channel,
    Thread,
    Forum,
}

/// Opens INC-1 in `placement`, talks in its room, resolves it, moves the clock past
/// `archive_after` and returns the world, the clock and the room.
async fn archived_story(
    db: TestDb,
    placement: Placement,
) -> (World, Arc<ManualClock>, ChannelId, Option<ChannelId>) {
    let guild = Guild::new().await;
    let archive = guild.emu.add_category("archive");
    let mut extra_env = vec![
        (
            "WARROOM__DISCORD__ARCHIVE_CATEGORY_ID".to_owned(),
            quoted(archive),
        ),
        (
            "WARROOM__DISCORD__ARCHIVE_AFTER".to_owned(),
            "2d".to_owned(),
        ),
    ];
    match placement {
        Placement::Channel => {}
        Placement::Thread => {
            let threads = guild.emu.add_text_channel("incident-threads", None);
            extra_env.push((
                "WARROOM__DISCORD__INCIDENT_CATEGORY_ID".to_owned(),
                "\"\"".to_owned(),
            ));
            extra_env.push((
                "WARROOM__DISCORD__INCIDENT_THREAD_CHANNEL_ID".to_owned(),
                quoted(threads),
            ));
        }
        Placement::Forum => {
            let forum = guild.emu.add_forum("incidents-forum", None, &[]);
            extra_env.push((
                "WARROOM__DISCORD__INCIDENT_FORUM_CHANNEL_ID".to_owned(),
                quoted(forum),
            ));
        }
    }
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let options = Options {
        clock: Some(clock.clone()),
        extra_env,
        ..Options::default()
    };
    let world = World::start_in(guild, db, options).await;
    let alice = world.emu.member("alice", &[world.responders]);
    let carol = world.emu.member("carol", &[world.commanders]);
    alice
        .runs(
            world.general,
            r#"/incident open title:"Checkout is down" severity:SEV2"#,
        )
        .await
        .replied("Opened **INC-1**");
    let room = world.channel("inc-1-checkout-is-down").await.id;
    world.wait_for_room(ID).await;
    alice.say(room, "checkout returns 502").unwrap();
    world
        .wait_for_event(ID, "the message in the room", |e| {
            e.kind == EventKind::Message && e.text.contains("502")
        })
        .await;
    carol
        .runs(room, "/incident resolve")
        .await
        .replied("resolved");
    clock.advance(Duration::from_secs(2 * 86_400 + 1));
    world
        .wait_for_event(ID, "the archive", |e| e.kind == EventKind::Archived)
        .await;
    let archive = match placement {
        Placement::Channel => Some(archive),
        _ => None,
    };
    (world, clock, room, archive)
}

/// Reopens INC-1 from outside Discord (the CLI's use case) and checks people can talk again
/// and it is recorded.
async fn reopened_and_heard(world: &World, room: ChannelId, from_discord: bool) {
    if from_discord {
        // From another channel: the archived room is locked.
        let carol = world.emu.member("carol2", &[world.commanders]);
        carol
            .runs(world.general, "/incident reopen incident:1 reason:back")
            .await
            .replied("reopened");
    } else {
        let ops = world.db.ops().await;
        ops.reopen(&operator("ops"), ID, Some("it is back"))
            .await
            .unwrap();
    }
    let alice = world.emu.member("alice2", &[world.responders]);
    eventually("the room open again", WAIT, async || {
        let channel = world.emu.channel(room).unwrap();
        !channel.archived && !channel.locked && alice.can_send(room)
    })
    .await;
    alice.say(room, "502 again after the reopen").unwrap();
    world
        .wait_for_event(ID, "a message after the reopen", |e| {
            e.kind == EventKind::Message && e.text.contains("after the reopen")
        })
        .await;
}

async fn a_channel_is_archived_after_resolution_and_unarchived_on_reopen(db: TestDb) {
    let (world, _clock, room, archive) = archived_story(db, Placement::Channel).await;
    let alice = world.emu.member("alice3", &[world.responders]);
    eventually("the channel archived and locked", WAIT, async || {
        let channel = world.emu.channel(room).unwrap();
        channel.parent_id == archive && !alice.can_send(room) && alice.can_view(room)
    })
    .await;
    world
        .bot_message(room, |m| m.text().contains("archived and locked"))
        .await;
    reopened_and_heard(&world, room, false).await;
    assert_eq!(
        world.emu.channel(room).unwrap().parent_id,
        Some(world.category)
    );
    world.stop().await;
}

async fn a_thread_is_archived_after_resolution_and_unarchived_on_reopen(db: TestDb) {
    let (world, _clock, room, _) = archived_story(db, Placement::Thread).await;
    eventually("the thread archived and locked", WAIT, async || {
        let thread = world.emu.channel(room).unwrap();
        thread.archived && thread.locked
    })
    .await;
    reopened_and_heard(&world, room, true).await;
    world.stop().await;
}

async fn a_forum_post_is_archived_after_resolution_and_unarchived_on_reopen(db: TestDb) {
    let (world, _clock, room, _) = archived_story(db, Placement::Forum).await;
    eventually("the post archived and locked", WAIT, async || {
        let post = world.emu.channel(room).unwrap();
        post.archived && post.locked
    })
    .await;
    reopened_and_heard(&world, room, false).await;
    world.stop().await;
}

#[test]
fn placement_and_privacy_settings_are_checked_with_their_line() {
    use std::path::Path;
    use warroom::config::{Config, Environment};
    let text = "[discord]\nincident_thread_channel_id = \"10\"\nincident_forum_channel_id = \"11\"\narchive_after = \"a week\"\nprivate_announcement = \"loud\"\n\n[incidents]\nprivate_roles = [\"nobody\"]\n";
    let error = Config::from_toml(Path::new("p.toml"), text, &Environment::default()).unwrap_err();
    let found: Vec<String> = error.problems.iter().map(ToString::to_string).collect();
    let expected = [
        "p.toml:3: discord.incident_forum_channel_id: set either incident_thread_channel_id",
        "p.toml:4: discord.archive_after: `a week` is not a duration",
        "p.toml:5: discord.private_announcement: `loud` is not a choice",
        "p.toml:8: incidents.private_roles: `nobody` is not a bot role",
    ];
    for expected in expected {
        assert!(
            found.iter().any(|problem| problem.starts_with(expected)),
            "missing {expected:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    let off = Config::from_toml(
        Path::new("o.toml"),
        "[discord]\narchive_after = \"off\"\n",
        &Environment::default(),
    )
    .unwrap();
    assert_eq!(off.discord.archive_after, None);
    let default = Config::from_toml(Path::new("d.toml"), "", &Environment::default()).unwrap();
    assert_eq!(
        default.discord.archive_after,
        Some(Duration::from_secs(7 * 86_400))
    );
    assert_eq!(default.private_roles, ["incident_commander", "admin"]);
}

async fn the_command_line_opens_private_incidents_and_lists_them_to_its_operator(db: TestDb) {
    let config = db.write_config("");
    let opened = succeed(
        &config,
        &[
            "incident",
            "open",
            "--title",
            "Keys leaked",
            "--severity",
            "SEV1",
            "--private",
            "--json",
        ],
    );
    let opened: serde_json::Value = serde_json::from_str(&opened).unwrap();
    assert_eq!(opened["incident"]["private"], true);
    assert_eq!(opened["events"][0]["data"]["private"], true);
    let listed = succeed(&config, &["incident", "list", "--json"]);
    assert!(listed.contains("Keys leaked"), "{listed}");
}

async fn a_private_incident_can_be_announced_by_a_line_without_detail(db: TestDb) {
    let options = Options {
        extra_env: vec![(
            "WARROOM__DISCORD__PRIVATE_ANNOUNCEMENT".to_owned(),
            "line".to_owned(),
        )],
        ..Options::default()
    };
    let world = World::start_with(db, options).await;
    let carol = world.emu.member("carol", &[world.commanders]);
    carol
        .runs(
            world.general,
            r#"/incident open title:"Keys leaked" severity:SEV1 private:true"#,
        )
        .await
        .says_privately("Opened **INC-1**");
    let channel = world.channel("inc-1-keys-leaked").await.id;
    // Commands in the room work once it is recorded (the channel exists a moment before).
    world.wait_for_room(ID).await;
    carol
        .runs(channel, r#"/incident update message:"keys rotated""#)
        .await
        .replied("keys rotated");
    // A public incident afterwards: its announcement comes after whatever INC-1 caused.
    carol
        .runs(
            world.general,
            r#"/incident open title:"Search is slow" severity:SEV3"#,
        )
        .await
        .replied("Opened **INC-2**");
    world
        .message(world.announce, |m| m.content.contains("**INC-2** opened"))
        .await;
    let announced: Vec<String> = world
        .emu
        .messages(world.announce)
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(announced.len(), 2, "{announced:#?}");
    assert_eq!(announced[0], "🔒 A private incident was opened.");
    world.stop().await;
}
