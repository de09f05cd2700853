//! warroom in Discord, through the emulator with the real serenity client: the conversation
//! of an incident, registration, denials, gateway faults and a slow database.

use discord_emulator::CallbackKind;
use warroom::domain::{EventKind, IncidentId, Status};

use crate::on_both_backends;
use crate::support::discord::{Converse, Options, WAIT, World};
use crate::support::{TestDb, eventually};

on_both_backends!(
    a_whole_incident_in_discord,
    commands_are_registered_with_options_and_autocomplete_stays_within_25,
    denied_users_are_told_which_role_they_lack_and_nothing_changes,
);

async fn a_whole_incident_in_discord(db: TestDb) {
    let world = World::start(db).await;
    let emu = &world.emu;
    let alice = emu.member("alice", &[world.responders]);
    let bob = emu.member("bob", &[world.responders]);
    let carol = emu.member("carol", &[world.commanders]);

    // Open: a channel under the category, a card with a Resolve button, an announcement.
    let open = alice
        .runs(
            world.general,
            r#"/incident open title:"Checkout is down" severity:SEV2 service:api"#,
        )
        .await;
    let answer = &open.says("Opened **INC-1** (SEV2)").answer;
    assert!(!answer.ephemeral());
    let channel = world.channel("inc-1-checkout-is-down").await;
    assert_eq!(channel.parent_id, Some(world.category));
    // The answer came once the incident was stored; it links the channel once that exists.
    let link = format!("in <#{}>", channel.id.get());
    let answered_in = answer.message.as_ref().unwrap().id;
    world
        .message(world.general, |message| {
            message.id == answered_in && message.content.contains(&link)
        })
        .await;
    let card = world
        .bot_message(channel.id, |message| {
            message.text().contains("INC-1: Checkout is down")
        })
        .await;
    assert!(
        card.custom_ids().contains(&"incident:resolve:1".to_owned()),
        "{:?}",
        card.custom_ids()
    );
    assert!(
        card.text().contains("RTO 15m"),
        "the card shows the service's RTO: {}",
        card.text()
    );
    world
        .message(world.announce, |message| {
            message.content.contains("**INC-1** opened")
        })
        .await;
    let id = IncidentId(1);

    // Three people talk; one edits, one deletes, one pins, one reacts 📌.
    let m1 = alice
        .say(channel.id, "checkout returns 502 for everyone")
        .unwrap();
    world
        .wait_for_event(id, "alice's message", |e| {
            e.kind == EventKind::Message && e.text.contains("502")
        })
        .await;
    let m2 = bob
        .say(channel.id, "db cpu is at 100% <@everyone>")
        .unwrap();
    world
        .wait_for_event(id, "bob's message", |e| {
            e.kind == EventKind::Message && e.text.contains("cpu")
        })
        .await;
    let m3 = carol.say(channel.id, "rolling back to v41").unwrap();
    world
        .wait_for_event(id, "carol's message", |e| {
            e.kind == EventKind::Message && e.text.contains("v41")
        })
        .await;
    alice.edit(m1, "checkout returns 503 for everyone").unwrap();
    world
        .wait_for_event(id, "the edit", |e| e.kind == EventKind::MessageEdited)
        .await;
    bob.delete(m2).unwrap();
    world
        .wait_for_event(id, "the deletion", |e| e.kind == EventKind::MessageDeleted)
        .await;
    carol.pin(m3).unwrap();
    world
        .wait_for_event(id, "the pin", |e| {
            e.kind == EventKind::Highlighted && e.text.contains("v41")
        })
        .await;
    alice.react(m1, "📌").unwrap();
    world
        .wait_for_event(id, "the 📌", |e| {
            e.kind == EventKind::Highlighted && e.text.contains("502")
        })
        .await;

    // Ack, severity, commander, mitigate, resolve: each in the incident channel.
    let here = channel.id;
    bob.runs(here, "/incident ack")
        .await
        .replied("acknowledged by bob");
    carol
        .runs(here, "/incident severity level:SEV1")
        .await
        .replied("Severity SEV2 → SEV1");
    let assign = format!("/incident assign role:commander user:{}", carol.mention());
    carol
        .runs(here, &assign)
        .await
        .replied("carol is now commander");
    alice
        .runs(here, r#"/incident mitigate note:"rolled back""#)
        .await
        .replied("acknowledged → mitigated: rolled back");
    // The service's checklist is ticked before resolving (resolving asks otherwise).
    for item in [
        "health endpoint returns 200",
        "logins work",
        "orders can be placed",
        "background jobs run",
    ] {
        alice
            .runs(here, &format!(r#"/incident check item:"{item}""#))
            .await
            .says("ticked");
    }
    carol
        .runs(here, r#"/incident resolve summary:"bad deploy""#)
        .await
        .replied("resolved");

    // The card and the announce channel followed along.
    let card = world
        .message(here, |message| {
            message.id == card.id && message.text().contains("🟢 resolved")
        })
        .await;
    assert!(card.text().contains("SEV1"), "{}", card.text());
    assert!(
        card.text().contains(&format!("<@{}>", carol.id().get())),
        "the card names the commander: {}",
        card.text()
    );
    world
        .message(world.announce, |message| {
            message.content.contains("is now **resolved**")
        })
        .await;

    // The export holds every one of those events, in order, the deletion marked and the edit
    // kept beside the original.
    let export = alice
        .runs(here, "/incident export format:markdown")
        .await
        .answer;
    let file = export
        .attachments()
        .first()
        .expect("the export is attached");
    assert_eq!(file.filename, "inc-1-postmortem.md");
    let markdown = String::from_utf8(file.bytes.clone()).unwrap();
    let expected = [
        "| opened | alice",
        "| message | alice (discord:",
        "checkout returns 502 for everyone",
        "| message | bob (discord:",
        "db cpu is at 100%",
        "| message | carol (discord:",
        "rolling back to v41",
        "| message_edited | alice (discord:",
        "checkout returns 503 for everyone",
        "| message_deleted | warroom (system) | A message by bob was deleted (it is kept as #3): db cpu is at 100%",
        "| highlighted | carol (discord:",
        "| highlighted | alice (discord:",
        "| acknowledged | bob (discord:",
        "| severity_changed | carol (discord:",
        "| role_assigned | carol (discord:",
        "| status_changed | alice (discord:",
        "| status_changed | carol (discord:",
    ];
    let mut from = 0;
    for needle in expected {
        let found = markdown[from..]
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing or out of order in:\n{markdown}"));
        from += found + needle.len();
    }
    let stored = world.incident(id).await;
    assert_eq!(stored.status, Status::Resolved);
    assert_eq!(stored.commander().map(|c| c.name.as_str()), Some("carol"));
    // The bot's own messages (card, answers, announcements) are not recorded as messages.
    let timeline = world.timeline(id).await;
    let messages = timeline
        .iter()
        .filter(|e| e.kind == EventKind::Message)
        .count();
    assert_eq!(messages, 3, "{timeline:#?}");
    // User text is echoed with mentions disabled.
    assert_eq!(
        answer
            .allowed_mentions()
            .and_then(|m| m.get("parse"))
            .and_then(|p| p.as_array())
            .map(Vec::len),
        Some(0)
    );
    assert_eq!(
        open.interaction.response().await.unwrap().kind,
        CallbackKind::Message
    );
    world.stop().await;
}

async fn commands_are_registered_with_options_and_autocomplete_stays_within_25(db: TestDb) {
    let world = World::start(db).await;
    let emu = &world.emu;
    let registered = emu.registered_commands();
    let incident = registered
        .iter()
        .find(|command| command.name == "incident")
        .expect("/incident is registered");
    assert_eq!(
        incident.guild_id,
        Some(emu.guild_id()),
        "registered as a guild command"
    );
    let subcommands: Vec<&str> = incident.json["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|option| option["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        subcommands,
        [
            "open", "ack", "status", "update", "severity", "assign", "mitigate", "resolve",
            "reopen", "note", "timeline", "export", "check", "rpo", "review", "action"
        ]
    );
    let option = |sub: &str, name: &str| {
        incident.json["options"]
            .as_array()
            .unwrap()
            .iter()
            .find(|option| option["name"] == sub)
            .and_then(|sub| {
                sub["options"]
                    .as_array()?
                    .iter()
                    .find(|option| option["name"] == name)
                    .cloned()
            })
            .unwrap_or_else(|| panic!("/incident {sub} has no option {name}"))
    };
    let choice_values = |option: serde_json::Value| -> Vec<String> {
        option["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["value"].as_str().unwrap().to_owned())
            .collect()
    };
    let severities = choice_values(option("open", "severity"));
    assert_eq!(severities, ["SEV1", "SEV2", "SEV3", "SEV4"]);
    // Without a title (or a severity) a form asks for them (issue 14).
    assert_ne!(option("open", "title")["required"], true);
    assert_eq!(option("open", "private")["type"], 5, "a boolean option");
    assert_eq!(option("open", "service")["autocomplete"], true);
    assert_eq!(option("ack", "incident")["autocomplete"], true);
    assert_eq!(option("assign", "user")["type"], 6, "a user option");
    let formats = choice_values(option("export", "format"));
    assert_eq!(formats, ["markdown", "json", "html"]);

    // 30 incidents, the oldest three resolved: 25 choices at most, open ones first.
    let ops = world.db.ops().await;
    let who = crate::support::operator("setup");
    for n in 1..=30 {
        let request = warroom::ops::OpenRequest {
            title: format!("checkout problem {n}"),
            severity: "SEV3".into(),
            ..Default::default()
        };
        let id = ops
            .open(&who, warroom::domain::Source::Cli, request)
            .await
            .unwrap()
            .incident
            .id;
        if n <= 3 {
            ops.resolve(&who, id, None).await.unwrap();
        }
    }
    let alice = emu.member("alice", &[world.responders]);
    let choices = alice
        .autocomplete(world.general, "/incident ack incident:", "")
        .await
        .unwrap();
    assert_eq!(choices.len(), 25);
    assert!(
        choices
            .iter()
            .all(|choice| choice.name.contains("· open ·")),
        "open incidents come first"
    );
    let filtered = alice
        .autocomplete(world.general, "/incident status incident:", "problem 2")
        .await
        .unwrap();
    let names: Vec<&str> = filtered.iter().map(|choice| choice.name.as_str()).collect();
    assert!(
        names
            .iter()
            .any(|name| name.ends_with("checkout problem 2")),
        "{names:?}"
    );
    assert!(
        names.iter().all(|name| name.contains("problem 2")),
        "{names:?}"
    );
    let services = alice
        .autocomplete(world.general, "/incident open service:", "post")
        .await
        .unwrap();
    assert_eq!(
        services
            .iter()
            .map(|choice| choice.value.as_str().unwrap())
            .collect::<Vec<_>>(),
        ["postgres"]
    );
    let roles = alice
        .autocomplete(world.general, "/incident assign role:", "")
        .await
        .unwrap();
    assert_eq!(
        roles
            .iter()
            .map(|choice| choice.value.as_str().unwrap())
            .collect::<Vec<_>>(),
        ["commander", "communications", "dba", "scribe"]
    );
    world.stop().await;
}

async fn denied_users_are_told_which_role_they_lack_and_nothing_changes(db: TestDb) {
    let world = World::start(db).await;
    let emu = &world.emu;
    let dave = emu.member("dave", &[]);
    let alice = emu.member("alice", &[world.responders]);

    let before = world.db.snapshot().await;
    dave.runs(
        world.general,
        r#"/incident open title:"I lack the role" severity:SEV1"#,
    )
    .await
    .replied_privately("you need the `responder` role to open an incident");
    assert_eq!(world.db.snapshot().await, before);
    assert!(emu.channel_by_name("inc-1-i-lack-the-role").is_none());

    alice
        .runs(
            world.general,
            r#"/incident open title:"Real outage" severity:SEV2"#,
        )
        .await;
    let channel = world.channel("inc-1-real-outage").await.id;
    let card = world
        .bot_message(channel, |m| m.text().contains("INC-1: Real outage"))
        .await;
    world.wait_for_room(IncidentId(1)).await;
    let before = world.db.snapshot().await;
    alice
        .runs(channel, "/incident resolve")
        .await
        .replied_privately("you need the `incident_commander` role to resolve an incident");
    alice
        .clicks(card.id, "incident:resolve:1")
        .await
        .replied_privately("`incident_commander`");
    dave.runs(channel, "/incident severity level:SEV1")
        .await
        .replied("`incident_commander`");
    dave.runs(channel, "/incident note text:hello")
        .await
        .replied("`responder` role to add a timeline note");
    assert_eq!(
        world.db.snapshot().await,
        before,
        "a denied command changed the database"
    );

    // Outside an incident channel, commands that act on "this incident" say what to do.
    alice
        .runs(world.general, "/incident note text:where")
        .await
        .replied_privately("not an incident channel");
    world.stop().await;
}

/// Waits until the bot has connected again after a fault (a new identify or a resume).
async fn wait_back(world: &World, before: &discord_emulator::GatewayStats) {
    eventually("the bot to come back", WAIT, async || {
        let now = world.emu.gateway_stats();
        if now.connected && now.identifies + now.resumes > before.identifies + before.resumes {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_every_gateway_fault_the_bot_is_back_and_missed_nothing() {
    let world = World::start(TestDb::sqlite()).await;
    let emu = &world.emu;
    let alice = emu.member("alice", &[world.responders]);
    alice
        .runs(
            world.general,
            r#"/incident open title:"Flaky gateway" severity:SEV3"#,
        )
        .await;
    let channel = world.channel("inc-1-flaky-gateway").await;
    let id = IncidentId(1);
    type Fault = fn(&discord_emulator::Emulator);
    let faults: [(&str, Fault); 5] = [
        ("op 7 reconnect", |emu| emu.reconnect().unwrap()),
        ("op 9 resumable", |emu| emu.invalid_session(true).unwrap()),
        ("op 9 not resumable", |emu| {
            emu.invalid_session(false).unwrap()
        }),
        ("a dropped connection", |emu| emu.drop_connection().unwrap()),
        ("missed heartbeat ACKs", |emu| emu.drop_heartbeat_acks(2)),
    ];
    let mut answered = Vec::new();
    for (name, fault) in faults {
        let before = emu.gateway_stats();
        fault(emu);
        // Said while the bot is away (or reconnecting): replayed on resume, or fetched by the
        // catch-up after a new session.
        let said = format!("said during {name}");
        alice.say(channel.id, &said).unwrap();
        wait_back(&world, &before).await;
        world
            .wait_for_event(id, &said, |event| {
                event.kind == EventKind::Message && event.text == said
            })
            .await;
        let note = alice
            .runs(
                channel.id,
                &format!(r#"/incident note text:"after {name}""#),
            )
            .await;
        note.says(&format!("after {name}"));
        answered.push(note.interaction);
    }
    // A redelivered interaction (as Discord may send after a resume) is not answered again.
    answered[0].redeliver().unwrap();
    alice.runs(channel.id, "/incident status").await;
    for note in &answered {
        let attempts = note.attempts();
        assert_eq!(attempts.len(), 1, "answered exactly once: {attempts:?}");
        assert_eq!(attempts[0].status, 204);
    }
    let timeline = world.timeline(id).await;
    let messages: Vec<&str> = timeline
        .iter()
        .filter(|e| e.kind == EventKind::Message)
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(
        messages.len(),
        5,
        "each message recorded once: {messages:?}"
    );
    let notes = timeline
        .iter()
        .filter(|e| e.kind == EventKind::Note)
        .count();
    assert_eq!(notes, 5);

    let ready: serde_json::Value = world
        .client
        .get(world.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["discord"], "connected");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_database_still_gets_every_interaction_acknowledged_in_time() {
    // Every database connection warroom takes waits 2 s: an acknowledgement reads and then
    // writes (4 s), past Discord's 3-second window, so only a deferral keeps those
    // interactions alive.
    let options = Options {
        slow_database: Some(std::time::Duration::from_millis(2_000)),
        ..Options::default()
    };
    let world = World::start_with(TestDb::sqlite(), options).await;
    let emu = &world.emu;
    let alice = emu.member("alice", &[world.responders]);
    let carol = emu.member("carol", &[world.commanders]);
    let open = alice
        .runs(
            world.general,
            r#"/incident open title:"Slow database" severity:SEV2"#,
        )
        .await;
    assert_eq!(
        open.interaction.response().await.unwrap().kind,
        CallbackKind::DeferredMessage,
        "the slow answer was deferred"
    );
    open.says("Opened **INC-1**");
    let channel = world.channel("inc-1-slow-database").await;
    let card = world
        .bot_message(channel.id, |m| m.text().contains("INC-1"))
        .await;

    // An error found after the public defer (two slow calls in: the severity is already SEV2)
    // is still shown only to the person, in a follow-up.
    let denied = carol
        .run(channel.id, "/incident severity level:SEV2")
        .unwrap();
    assert_eq!(
        denied.response().await.unwrap().kind,
        CallbackKind::DeferredMessage
    );
    let followups = denied.wait_followups(1).await.unwrap();
    assert!(
        followups[0].ephemeral() && followups[0].text().contains("already has severity SEV2"),
        "{followups:?}"
    );

    let click = carol.clicks(card.id, "incident:ack:1").await;
    assert_eq!(
        click.interaction.response().await.unwrap().kind,
        CallbackKind::DeferredMessage
    );
    click.says_privately("You acknowledged **INC-1**");
    for interaction in [&open.interaction, &denied, &click.interaction] {
        let attempts = interaction.attempts();
        assert!(
            attempts.iter().all(|attempt| attempt.status == 204),
            "no late or double callback: {attempts:?}"
        );
    }
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_destructive_restore_in_discord_needs_a_second_person() {
    use std::sync::Arc;
    use warroom::domain::{Clock, ManualClock, SystemClock};

    let db = TestDb::sqlite();
    let log = db.dir.path().join("argv.log");
    let catalog = crate::runs::catalog(db.dir.path(), &log);
    // Expiry is shown by moving warroom's clock, not by waiting.
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let options = Options {
        catalog: Some(catalog),
        clock: Some(clock.clone()),
        ..Default::default()
    };
    let world = World::start_with(db, options).await;
    let emu = &world.emu;
    let dana = emu.member("dana", &[world.dbas]);
    let carl = emu.member("carl", &[world.commanders]);
    let rita = emu.member("rita", &[world.responders]);
    rita.runs(
        world.general,
        r#"/incident open title:"Database corrupted" severity:SEV1"#,
    )
    .await;
    let channel = world.channel("inc-1-database-corrupted").await.id;
    let ran = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };

    // Autocomplete offers only what the caller may run.
    let offered = |choices: Vec<discord_emulator::Choice>| -> Vec<String> {
        choices
            .iter()
            .map(|choice| choice.value.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        offered(
            dana.autocomplete(channel, "/run command:", "")
                .await
                .unwrap()
        ),
        ["restore"]
    );
    assert_eq!(
        offered(
            rita.autocomplete(channel, "/run command:", "")
                .await
                .unwrap()
        ),
        ["echo", "pause"]
    );

    // Without the role: refused, told why, nothing runs.
    let restore = r#"/run command:restore args:"backup=app-1.dump""#;
    rita.runs(channel, restore)
        .await
        .replied_privately("refused: you need one of the roles `dba`");

    // The dba asks; the card shows the exact argv and waits for a second person.
    dana.runs(channel, restore)
        .await
        .replied_privately("needs 1 approval(s) from `incident_commander`");
    let card = world
        .bot_message(channel, |m| m.text().contains("RUN-2 · restore"))
        .await;
    assert!(
        card.text().contains("restore app-1.dump")
            && card.text().contains("destructive")
            && card.text().contains("db:app"),
        "{}",
        card.text()
    );
    assert!(card.custom_ids().contains(&"run:approve:2".to_owned()));
    dana.clicks(card.id, "run:approve:2")
        .await
        .replied_privately("you requested RUN-2, so you cannot approve it");
    assert_eq!(ran(), 0);
    carl.clicks(card.id, "run:approve:2")
        .await
        .replied("You approved **RUN-2**; it is starting");

    // The output arrives in the channel, in one message edited as the run goes.
    let result = world
        .bot_message(channel, |m| {
            m.content.contains("✅ RUN-2 `restore` succeeded")
        })
        .await;
    assert!(
        result.content.contains(r#"["restore", "app-1.dump"]"#),
        "{}",
        result.content
    );
    assert!(
        result
            .revisions
            .iter()
            .any(|revision| format!("{revision:?}").contains("starting")),
        "{:?}",
        result.revisions
    );
    assert_eq!(ran(), 1);
    world
        .message(channel, |m| {
            m.id == card.id && m.text().contains("succeeded · exit 0")
        })
        .await;

    // An expired request cannot be approved.
    dana.runs(channel, r#"/run command:restore args:"backup=app-2.dump""#)
        .await;
    let late_card = world
        .bot_message(channel, |m| m.text().contains("RUN-3 · restore"))
        .await;
    clock.advance(std::time::Duration::from_secs(11 * 60));
    carl.clicks(late_card.id, "run:approve:3")
        .await
        .replied_privately("RUN-3 expired before it was approved");
    world
        .message(channel, |m| {
            m.id == late_card.id && m.text().contains("expired")
        })
        .await;
    assert_eq!(ran(), 1, "nothing but the approved run ran");

    // The timeline: the refusal, then request → approval → start → finish, then the expiry.
    let timeline = world.timeline(IncidentId(1)).await;
    let kinds: Vec<EventKind> = timeline
        .iter()
        .map(|event| event.kind)
        .filter(|kind| kind.as_str().starts_with("command_"))
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::CommandDenied,
            EventKind::CommandRequested,
            EventKind::CommandApproved,
            EventKind::CommandStarted,
            EventKind::CommandFinished,
            EventKind::CommandRequested,
            EventKind::CommandExpired,
        ]
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_reload_is_for_admins_and_keeps_the_catalog_when_the_new_one_is_invalid() {
    let db = TestDb::sqlite();
    let log = db.dir.path().join("argv.log");
    let catalog = crate::runs::catalog(db.dir.path(), &log);
    let options = Options {
        catalog: Some(catalog.clone()),
        ..Default::default()
    };
    let world = World::start_with(db, options).await;
    let emu = &world.emu;
    let ada = emu.member("ada", &[world.admins, world.responders]);
    let rita = emu.member("rita", &[world.responders]);
    let general = world.general;

    let listed = rita
        .runs(general, "/commands list")
        .await
        .replied_privately("`echo`");
    assert!(!listed.text().contains("`restore`"), "{}", listed.text());
    rita.runs(general, "/commands reload")
        .await
        .replied("you need the `admin` role to reload the command catalog");

    std::fs::write(catalog.join("shell.toml"), "name = \"shell\"\nprogram = \"/bin/sh\"\nargs = [\"-c\", \"{cmd}\"]\nallowed_roles = [\"admin\"]\nrisk = \"destructive\"\ntimeout = \"1m\"\n[params.cmd]\nkind = \"string\"\npattern = '^.*$'\n").unwrap();
    ada.runs(general, "/commands reload")
        .await
        .says("shell.toml:")
        .says("The catalog in use is unchanged");
    let still = ada.runs(general, "/commands list").await.replied("`echo`");
    assert!(!still.text().contains("`shell`"), "{}", still.text());

    std::fs::remove_file(catalog.join("shell.toml")).unwrap();
    std::fs::remove_file(catalog.join("pause.toml")).unwrap();
    ada.runs(general, "/commands reload")
        .await
        .says("reloaded the command catalog")
        .says("pause");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn long_output_is_attached_whole_and_the_message_keeps_its_tail() {
    let db = TestDb::sqlite();
    let catalog = db.dir.path().join("commands");
    std::fs::create_dir_all(&catalog).unwrap();
    std::fs::write(
        catalog.join("count.toml"),
        "name = \"count\"\ndescription = \"Counts up\"\nprogram = \"/usr/bin/seq\"\nargs = [\"{n}\"]\nallowed_roles = [\"responder\"]\nrisk = \"read_only\"\ntimeout = \"30s\"\n[params.n]\nkind = \"int\"\ndescription = \"How far\"\nmin = 1\nmax = 100000\n",
    )
    .unwrap();
    let options = Options {
        catalog: Some(catalog),
        ..Default::default()
    };
    let world = World::start_with(db, options).await;
    let rita = world.emu.member("rita", &[world.responders]);
    rita.runs(world.general, r#"/run command:count args:"n=20000""#)
        .await
        .replied("RUN-1 `count` is starting");
    let result = world
        .bot_message(world.general, |m| {
            m.content.contains("✅ RUN-1 `count` succeeded")
        })
        .await;
    assert!(result.content.chars().count() <= 2_000);
    assert!(
        result.content.contains("\n20000\n") && !result.content.contains("\n1\n2\n"),
        "the message keeps the tail: {}",
        result.content
    );
    assert!(
        result
            .content
            .contains("The whole output is attached below"),
        "{}",
        result.content
    );
    let attached = world
        .bot_message(world.general, |m| m.content.starts_with("Output of RUN-1"))
        .await;
    let file = &attached.attachments[0];
    assert_eq!(file.filename, "run-1.log");
    let expected: String = (1..=20_000).map(|n| format!("{n}\n")).collect();
    assert_eq!(
        String::from_utf8(file.bytes.clone()).unwrap(),
        expected,
        "the whole output, not the cut one"
    );
    world.stop().await;
}
