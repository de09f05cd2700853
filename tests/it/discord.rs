//! warroom in Discord, through the emulator with the real serenity client: the conversation
//! of an incident, registration, denials, gateway faults and a slow store.

use discord_emulator::CallbackKind;
use warroom::domain::{EventKind, IncidentId, Status};

use crate::on_both_backends;
use crate::support::TestDb;
use crate::support::discord::{WAIT, World};

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
        .run(
            world.general,
            r#"/incident open title:"Checkout is down" severity:SEV2 service:api"#,
        )
        .unwrap();
    let answer = open.wait_final_response().await.unwrap();
    assert!(!answer.ephemeral());
    assert!(
        answer.text().contains("Opened **INC-1** (SEV2)"),
        "{}",
        answer.text()
    );
    let channel = emu
        .wait_for_channel("inc-1-checkout-is-down", WAIT)
        .await
        .unwrap();
    assert_eq!(channel.parent_id, Some(world.category));
    // The answer came once the incident was stored; it links the channel once that exists.
    let link = format!("in <#{}>", channel.id.get());
    let answered_in = answer.message.as_ref().unwrap().id;
    emu.wait_for_message(
        world.general,
        |message| message.id == answered_in && message.content.contains(&link),
        WAIT,
    )
    .await
    .unwrap();
    let card = emu
        .wait_for_message(
            channel.id,
            |message| message.from_bot && message.text().contains("INC-1: Checkout is down"),
            WAIT,
        )
        .await
        .unwrap();
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
    emu.wait_for_message(
        world.announce,
        |message| message.content.contains("**INC-1** opened"),
        WAIT,
    )
    .await
    .unwrap();
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
    let ack = bob
        .run(channel.id, "/incident ack")
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(ack.text().contains("acknowledged by bob"), "{}", ack.text());
    let severity = carol
        .run(channel.id, "/incident severity level:SEV1")
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(
        severity.text().contains("Severity SEV2 → SEV1"),
        "{}",
        severity.text()
    );
    let assign = carol
        .run(
            channel.id,
            &format!("/incident assign role:commander user:{}", carol.mention()),
        )
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(
        assign.text().contains("carol is now commander"),
        "{}",
        assign.text()
    );
    let mitigate = alice
        .run(channel.id, r#"/incident mitigate note:"rolled back""#)
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(
        mitigate
            .text()
            .contains("acknowledged → mitigated: rolled back"),
        "{}",
        mitigate.text()
    );
    let resolve = carol
        .run(channel.id, r#"/incident resolve summary:"bad deploy""#)
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(resolve.text().contains("resolved"), "{}", resolve.text());

    // The card and the announce channel followed along.
    let card = emu
        .wait_for_message(
            channel.id,
            |message| message.id == card.id && message.text().contains("🟢 resolved"),
            WAIT,
        )
        .await
        .unwrap();
    assert!(card.text().contains("SEV1"), "{}", card.text());
    assert!(
        card.text().contains(&format!("<@{}>", carol.id().get())),
        "the card names the commander: {}",
        card.text()
    );
    emu.wait_for_message(
        world.announce,
        |message| message.content.contains("is now **resolved**"),
        WAIT,
    )
    .await
    .unwrap();

    // The export holds every one of those events, in order, the deletion marked and the edit
    // kept beside the original.
    let export = alice
        .run(channel.id, "/incident export format:markdown")
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
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
    let stored = world.store.get_incident(id).await.unwrap().unwrap();
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
    assert_eq!(open.response().await.unwrap().kind, CallbackKind::Message);
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
            "reopen", "note", "timeline", "export"
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
    assert_eq!(option("open", "title")["required"], true);
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
    let denied = dave
        .run(
            world.general,
            r#"/incident open title:"I lack the role" severity:SEV1"#,
        )
        .unwrap();
    let answer = denied.wait_final_response().await.unwrap();
    assert!(answer.ephemeral(), "a denial is shown only to the person");
    assert!(
        answer
            .text()
            .contains("you need the `responder` role to open an incident"),
        "{}",
        answer.text()
    );
    assert_eq!(world.db.snapshot().await, before);
    assert!(emu.channel_by_name("inc-1-i-lack-the-role").is_none());

    alice
        .run(
            world.general,
            r#"/incident open title:"Real outage" severity:SEV2"#,
        )
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    let channel = emu
        .wait_for_channel("inc-1-real-outage", WAIT)
        .await
        .unwrap();
    let card = emu
        .wait_for_message(
            channel.id,
            |m| m.from_bot && m.text().contains("INC-1: Real outage"),
            WAIT,
        )
        .await
        .unwrap();
    world.wait_for_room(IncidentId(1)).await;
    let before = world.db.snapshot().await;
    let resolve = alice
        .run(channel.id, "/incident resolve")
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(resolve.ephemeral());
    assert!(
        resolve
            .text()
            .contains("you need the `incident_commander` role to resolve an incident"),
        "{}",
        resolve.text()
    );
    let click = alice
        .click(card.id, "incident:resolve:1")
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(
        click.ephemeral() && click.text().contains("`incident_commander`"),
        "{}",
        click.text()
    );
    let severity = dave
        .run(channel.id, "/incident severity level:SEV1")
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(
        severity.text().contains("`incident_commander`"),
        "{}",
        severity.text()
    );
    let note = dave
        .run(channel.id, "/incident note text:hello")
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(
        note.text()
            .contains("`responder` role to add a timeline note"),
        "{}",
        note.text()
    );
    assert_eq!(
        world.db.snapshot().await,
        before,
        "a denied command changed the database"
    );

    // Outside an incident channel, commands that act on "this incident" say what to do.
    let lost = alice
        .run(world.general, "/incident note text:where")
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(
        lost.ephemeral() && lost.text().contains("not an incident channel"),
        "{}",
        lost.text()
    );
    world.stop().await;
}

/// Waits until the bot has connected again after a fault (a new identify or a resume).
async fn wait_back(world: &World, before: &discord_emulator::GatewayStats) {
    let started = std::time::Instant::now();
    loop {
        let now = world.emu.gateway_stats();
        if now.connected && now.identifies + now.resumes > before.identifies + before.resumes {
            return;
        }
        assert!(
            started.elapsed() < WAIT,
            "the bot did not come back: {now:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_every_gateway_fault_the_bot_is_back_and_missed_nothing() {
    let world = World::start(TestDb::sqlite()).await;
    let emu = &world.emu;
    let alice = emu.member("alice", &[world.responders]);
    alice
        .run(
            world.general,
            r#"/incident open title:"Flaky gateway" severity:SEV3"#,
        )
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    let channel = emu
        .wait_for_channel("inc-1-flaky-gateway", WAIT)
        .await
        .unwrap();
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
            .run(
                channel.id,
                &format!(r#"/incident note text:"after {name}""#),
            )
            .unwrap();
        let reply = note.wait_final_response().await.unwrap();
        assert!(
            reply.text().contains(&format!("after {name}")),
            "{}",
            reply.text()
        );
        answered.push(note);
    }
    // A redelivered interaction (as Discord may send after a resume) is not answered again.
    answered[0].redeliver().unwrap();
    alice
        .run(channel.id, "/incident status")
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
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

    let ready: serde_json::Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/readyz", world.http))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["discord"], "connected");
    world.stop().await;
}

/// A store that takes `delay` for every call, as a struggling database would.
#[derive(Debug)]
struct SlowStore {
    inner: std::sync::Arc<dyn warroom::store::Store>,
    delay: std::time::Duration,
}

#[async_trait::async_trait]
impl warroom::store::IncidentStore for SlowStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn migrate(&self) -> Result<(), warroom::store::StoreError> {
        self.inner.migrate().await
    }
    async fn ping(&self) -> Result<(), warroom::store::StoreError> {
        self.inner.ping().await
    }
    async fn create_incident(
        &self,
        incident: warroom::domain::NewIncident,
        events: Vec<warroom::domain::NewEvent>,
        escalation: warroom::store::EscalationEffect,
    ) -> Result<warroom::store::Written, warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner
            .create_incident(incident, events, escalation)
            .await
    }
    async fn update_incident(
        &self,
        id: IncidentId,
        decide: warroom::store::Decide<'_>,
    ) -> Result<warroom::store::Written, warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.update_incident(id, decide).await
    }
    async fn append_events(
        &self,
        id: IncidentId,
        events: Vec<warroom::domain::NewEvent>,
    ) -> Result<warroom::store::Written, warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.append_events(id, events).await
    }
    async fn get_incident(
        &self,
        id: IncidentId,
    ) -> Result<Option<warroom::domain::Incident>, warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.get_incident(id).await
    }
    async fn incident_by_channel(
        &self,
        channel_id: u64,
    ) -> Result<Option<warroom::domain::Incident>, warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.incident_by_channel(channel_id).await
    }
    async fn list_incidents(
        &self,
        filter: &warroom::store::IncidentFilter,
    ) -> Result<Vec<warroom::domain::Incident>, warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.list_incidents(filter).await
    }
    async fn timeline_histogram(
        &self,
        id: IncidentId,
        from: warroom::domain::Timestamp,
        to: warroom::domain::Timestamp,
        buckets: u32,
    ) -> Result<Vec<(warroom::domain::EventKind, usize, u32)>, warroom::store::StoreError> {
        self.inner.timeline_histogram(id, from, to, buckets).await
    }
    async fn timeline_page(
        &self,
        id: IncidentId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<warroom::domain::Event>, warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.timeline_page(id, after_seq, limit).await
    }
    async fn event_by_key(
        &self,
        id: IncidentId,
        key: &str,
    ) -> Result<Option<warroom::domain::Event>, warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.event_by_key(id, key).await
    }
    async fn last_numbered_key(
        &self,
        id: IncidentId,
        prefix: &str,
    ) -> Result<Option<String>, warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.last_numbered_key(id, prefix).await
    }
    async fn set_post(
        &self,
        id: IncidentId,
        kind: &str,
        post: warroom::store::Post,
    ) -> Result<(), warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.set_post(id, kind, post).await
    }
    async fn attach_room(
        &self,
        id: IncidentId,
        channel_id: u64,
        card: Option<warroom::store::Post>,
    ) -> Result<warroom::domain::Incident, warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.attach_room(id, channel_id, card).await
    }
    async fn post(
        &self,
        id: IncidentId,
        kind: &str,
    ) -> Result<Option<warroom::store::Post>, warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.post(id, kind).await
    }
}

/// Runs are not what this test slows; they pass straight through.
#[async_trait::async_trait]
impl warroom::store::RunStore for SlowStore {
    async fn create_run(
        &self,
        run: warroom::domain::Run,
        record: warroom::store::RunRecord<'_>,
    ) -> Result<warroom::store::RunWritten, warroom::store::StoreError> {
        self.inner.create_run(run, record).await
    }
    async fn update_run(
        &self,
        id: warroom::domain::RunId,
        decide: warroom::store::RunDecide<'_>,
    ) -> Result<warroom::store::RunWritten, warroom::store::StoreError> {
        self.inner.update_run(id, decide).await
    }
    async fn claim_run(
        &self,
        id: warroom::domain::RunId,
        by: &str,
        now: warroom::domain::Timestamp,
        lease_until: warroom::domain::Timestamp,
        event: warroom::domain::NewEvent,
    ) -> Result<warroom::store::RunClaim, warroom::store::StoreError> {
        self.inner.claim_run(id, by, now, lease_until, event).await
    }
    async fn get_run(
        &self,
        id: warroom::domain::RunId,
    ) -> Result<Option<warroom::domain::Run>, warroom::store::StoreError> {
        self.inner.get_run(id).await
    }
    async fn expired_runs(
        &self,
        now: warroom::domain::Timestamp,
    ) -> Result<Vec<warroom::domain::RunId>, warroom::store::StoreError> {
        self.inner.expired_runs(now).await
    }
    async fn abandoned_runs(
        &self,
        now: warroom::domain::Timestamp,
    ) -> Result<Vec<warroom::domain::RunId>, warroom::store::StoreError> {
        self.inner.abandoned_runs(now).await
    }
    async fn run_audit(
        &self,
        id: warroom::domain::RunId,
    ) -> Result<Vec<warroom::store::AuditEntry>, warroom::store::StoreError> {
        self.inner.run_audit(id).await
    }
}

/// Alerts are slowed like incidents.
#[async_trait::async_trait]
impl warroom::store::AlertStore for SlowStore {
    async fn plan_group(
        &self,
        request: warroom::store::PlanRequest<'_>,
    ) -> Result<warroom::store::GroupPlan, warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.plan_group(request).await
    }
    async fn record_alerts(
        &self,
        request: warroom::store::RecordRequest<'_>,
    ) -> Result<warroom::store::Recorded, warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.record_alerts(request).await
    }
    async fn group_incident(
        &self,
        source: &str,
        group_key: &str,
    ) -> Result<Option<(IncidentId, String)>, warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.group_incident(source, group_key).await
    }
    async fn group_state(
        &self,
        source: &str,
        group_key: &str,
        alerts: &[warroom::store::AlertReport],
    ) -> Result<warroom::store::GroupState, warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.group_state(source, group_key, alerts).await
    }
    async fn incident_counts(
        &self,
    ) -> Result<Vec<warroom::store::IncidentCount>, warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.incident_counts().await
    }
    async fn open_for_claim(
        &self,
        claim: &warroom::store::Claim,
        incident: warroom::domain::NewIncident,
        events: Vec<warroom::domain::NewEvent>,
        escalation: warroom::store::EscalationEffect,
    ) -> Result<warroom::store::Written, warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner
            .open_for_claim(claim, incident, events, escalation)
            .await
    }
}

/// The escalation engine works in the background, not inside interactions: its calls pass
/// straight through.
#[async_trait::async_trait]
impl warroom::store::EscalationStore for SlowStore {
    async fn escalation(
        &self,
        id: IncidentId,
    ) -> Result<Option<warroom::store::Escalation>, warroom::store::StoreError> {
        self.inner.escalation(id).await
    }
    async fn due_escalations(
        &self,
        now: warroom::domain::Timestamp,
        limit: u32,
    ) -> Result<Vec<warroom::store::Escalation>, warroom::store::StoreError> {
        self.inner.due_escalations(now, limit).await
    }
    async fn fire_steps(
        &self,
        steps: Vec<warroom::store::FireStep>,
        claim: &warroom::store::PageClaim,
    ) -> Result<Vec<Option<warroom::store::Fired>>, warroom::store::StoreError> {
        self.inner.fire_steps(steps, claim).await
    }
    async fn enqueue_pages(
        &self,
        id: IncidentId,
        pages: Vec<warroom::store::NewPage>,
        events: Vec<warroom::domain::NewEvent>,
    ) -> Result<(usize, warroom::store::Appended), warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.enqueue_pages(id, pages, events).await
    }
    async fn claim_pages(
        &self,
        now: warroom::domain::Timestamp,
        lease_until: warroom::domain::Timestamp,
        limit: u32,
        by: &str,
    ) -> Result<Vec<warroom::store::Page>, warroom::store::StoreError> {
        self.inner.claim_pages(now, lease_until, limit, by).await
    }
    async fn claimants(&self) -> Result<Vec<String>, warroom::store::StoreError> {
        self.inner.claimants().await
    }
    async fn release_claims(
        &self,
        by: &str,
        now: warroom::domain::Timestamp,
    ) -> Result<u64, warroom::store::StoreError> {
        self.inner.release_claims(by, now).await
    }
    async fn incidents_by_id(
        &self,
        ids: &[IncidentId],
    ) -> Result<Vec<warroom::domain::Incident>, warroom::store::StoreError> {
        self.inner.incidents_by_id(ids).await
    }
    async fn finish_pages(
        &self,
        done: Vec<warroom::store::PageDone>,
    ) -> Result<
        Vec<(warroom::domain::Incident, Vec<warroom::domain::Event>)>,
        warroom::store::StoreError,
    > {
        self.inner.finish_pages(done).await
    }
    async fn next_deadline(
        &self,
    ) -> Result<Option<warroom::domain::Timestamp>, warroom::store::StoreError> {
        self.inner.next_deadline().await
    }
    async fn unguarded_incidents(
        &self,
        limit: u32,
    ) -> Result<Vec<warroom::domain::Incident>, warroom::store::StoreError> {
        self.inner.unguarded_incidents(limit).await
    }
    async fn record_audit(
        &self,
        id: IncidentId,
        policy: &str,
        page: Option<warroom::store::NewPage>,
        event: warroom::domain::NewEvent,
        now: warroom::domain::Timestamp,
    ) -> Result<Option<warroom::store::Appended>, warroom::store::StoreError> {
        self.inner.record_audit(id, policy, page, event, now).await
    }
    async fn pages(
        &self,
        id: IncidentId,
    ) -> Result<Vec<warroom::store::Page>, warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.pages(id).await
    }
    async fn was_paged(
        &self,
        id: IncidentId,
        user_id: u64,
    ) -> Result<bool, warroom::store::StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.was_paged(id, user_id).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_store_still_gets_every_interaction_acknowledged_in_time() {
    // Every store call takes 2 s: an acknowledgement reads and then writes (4 s), past
    // Discord's 3-second window, so only a deferral keeps those interactions alive.
    let delay = std::time::Duration::from_millis(2_000);
    let world = World::start_with(TestDb::sqlite(), move |inner| {
        std::sync::Arc::new(SlowStore { inner, delay })
    })
    .await;
    let emu = &world.emu;
    let alice = emu.member("alice", &[world.responders]);
    let carol = emu.member("carol", &[world.commanders]);
    let open = alice
        .run(
            world.general,
            r#"/incident open title:"Slow database" severity:SEV2"#,
        )
        .unwrap();
    let first = open.response().await.unwrap();
    assert_eq!(
        first.kind,
        CallbackKind::DeferredMessage,
        "the slow answer was deferred"
    );
    let answer = open.wait_final_response().await.unwrap();
    assert!(
        answer.text().contains("Opened **INC-1**"),
        "{}",
        answer.text()
    );
    let channel = emu
        .wait_for_channel("inc-1-slow-database", WAIT)
        .await
        .unwrap();
    let card = emu
        .wait_for_message(
            channel.id,
            |m| m.from_bot && m.text().contains("INC-1"),
            WAIT,
        )
        .await
        .unwrap();

    // An error found after the public defer (two slow calls in: the severity is already SEV2)
    // is still shown only to the person.
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

    let click = carol.click(card.id, "incident:ack:1").unwrap();
    assert_eq!(
        click.response().await.unwrap().kind,
        CallbackKind::DeferredMessage
    );
    let clicked = click.wait_final_response().await.unwrap();
    assert!(
        clicked.ephemeral() && clicked.text().contains("You acknowledged **INC-1**"),
        "{}",
        clicked.text()
    );
    for interaction in [&open, &denied, &click] {
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
    let options = crate::support::discord::Options {
        catalog: Some(catalog),
        clock: Some(clock.clone()),
        ..Default::default()
    };
    let world = World::start_with_options(db, options).await;
    let emu = &world.emu;
    let dana = emu.member("dana", &[world.dbas]);
    let carl = emu.member("carl", &[world.commanders]);
    let rita = emu.member("rita", &[world.responders]);
    rita.run(
        world.general,
        r#"/incident open title:"Database corrupted" severity:SEV1"#,
    )
    .unwrap()
    .wait_final_response()
    .await
    .unwrap();
    let channel = emu
        .wait_for_channel("inc-1-database-corrupted", WAIT)
        .await
        .unwrap();
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
            dana.autocomplete(channel.id, "/run command:", "")
                .await
                .unwrap()
        ),
        ["restore"]
    );
    assert_eq!(
        offered(
            rita.autocomplete(channel.id, "/run command:", "")
                .await
                .unwrap()
        ),
        ["echo", "pause"]
    );

    // Without the role: refused, told why, nothing runs.
    let refused = rita
        .run(
            channel.id,
            r#"/run command:restore args:"backup=app-1.dump""#,
        )
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(
        refused.ephemeral()
            && refused
                .text()
                .contains("refused: you need one of the roles `dba`"),
        "{}",
        refused.text()
    );

    // The dba asks; the card shows the exact argv and waits for a second person.
    let asked = dana
        .run(
            channel.id,
            r#"/run command:restore args:"backup=app-1.dump""#,
        )
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(
        asked.ephemeral()
            && asked
                .text()
                .contains("needs 1 approval(s) from `incident_commander`"),
        "{}",
        asked.text()
    );
    let card = emu
        .wait_for_message(
            channel.id,
            |m| m.from_bot && m.text().contains("RUN-2 · restore"),
            WAIT,
        )
        .await
        .unwrap();
    assert!(
        card.text().contains("restore app-1.dump")
            && card.text().contains("destructive")
            && card.text().contains("db:app"),
        "{}",
        card.text()
    );
    assert!(card.custom_ids().contains(&"run:approve:2".to_owned()));
    let own = dana
        .click(card.id, "run:approve:2")
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(
        own.ephemeral()
            && own
                .text()
                .contains("you requested RUN-2, so you cannot approve it"),
        "{}",
        own.text()
    );
    assert_eq!(ran(), 0);
    let approved = carl
        .click(card.id, "run:approve:2")
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(
        approved
            .text()
            .contains("You approved **RUN-2**; it is starting"),
        "{}",
        approved.text()
    );

    // The output arrives in the channel, in one message edited as the run goes.
    let result = emu
        .wait_for_message(
            channel.id,
            |m| m.from_bot && m.content.contains("✅ RUN-2 `restore` succeeded"),
            WAIT,
        )
        .await
        .unwrap();
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
    emu.wait_for_message(
        channel.id,
        |m| m.id == card.id && m.text().contains("succeeded · exit 0"),
        WAIT,
    )
    .await
    .unwrap();

    // An expired request cannot be approved.
    dana.run(
        channel.id,
        r#"/run command:restore args:"backup=app-2.dump""#,
    )
    .unwrap()
    .wait_final_response()
    .await
    .unwrap();
    let late_card = emu
        .wait_for_message(
            channel.id,
            |m| m.from_bot && m.text().contains("RUN-3 · restore"),
            WAIT,
        )
        .await
        .unwrap();
    clock.advance(std::time::Duration::from_secs(11 * 60));
    let late = carl
        .click(late_card.id, "run:approve:3")
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(
        late.ephemeral() && late.text().contains("RUN-3 expired before it was approved"),
        "{}",
        late.text()
    );
    emu.wait_for_message(
        channel.id,
        |m| m.id == late_card.id && m.text().contains("expired"),
        WAIT,
    )
    .await
    .unwrap();
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
    let options = crate::support::discord::Options {
        catalog: Some(catalog.clone()),
        ..Default::default()
    };
    let world = World::start_with_options(db, options).await;
    let emu = &world.emu;
    let ada = emu.member("ada", &[world.admins, world.responders]);
    let rita = emu.member("rita", &[world.responders]);

    let listed = rita
        .run(world.general, "/commands list")
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(
        listed.ephemeral()
            && listed.text().contains("`echo`")
            && !listed.text().contains("`restore`"),
        "{}",
        listed.text()
    );
    let denied = rita
        .run(world.general, "/commands reload")
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(
        denied
            .text()
            .contains("you need the `admin` role to reload the command catalog"),
        "{}",
        denied.text()
    );

    std::fs::write(catalog.join("shell.toml"), "name = \"shell\"\nprogram = \"/bin/sh\"\nargs = [\"-c\", \"{cmd}\"]\nallowed_roles = [\"admin\"]\nrisk = \"destructive\"\ntimeout = \"1m\"\n[params.cmd]\nkind = \"string\"\npattern = '^.*$'\n").unwrap();
    let refused = ada
        .run(world.general, "/commands reload")
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(
        refused.text().contains("shell.toml:")
            && refused.text().contains("The catalog in use is unchanged"),
        "{}",
        refused.text()
    );
    let still = ada
        .run(world.general, "/commands list")
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(
        !still.text().contains("`shell`") && still.text().contains("`echo`"),
        "{}",
        still.text()
    );

    std::fs::remove_file(catalog.join("shell.toml")).unwrap();
    std::fs::remove_file(catalog.join("pause.toml")).unwrap();
    let reloaded = ada
        .run(world.general, "/commands reload")
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(
        reloaded.text().contains("reloaded the command catalog")
            && reloaded.text().contains("pause"),
        "{}",
        reloaded.text()
    );
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
    let options = crate::support::discord::Options {
        catalog: Some(catalog),
        ..Default::default()
    };
    let world = World::start_with_options(db, options).await;
    let emu = &world.emu;
    let rita = emu.member("rita", &[world.responders]);
    let started = rita
        .run(world.general, r#"/run command:count args:"n=20000""#)
        .unwrap()
        .wait_final_response()
        .await
        .unwrap();
    assert!(
        started.text().contains("RUN-1 `count` is starting"),
        "{}",
        started.text()
    );
    let result = emu
        .wait_for_message(
            world.general,
            |m| m.from_bot && m.content.contains("✅ RUN-1 `count` succeeded"),
            WAIT,
        )
        .await
        .unwrap();
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
    let attached = emu
        .wait_for_message(
            world.general,
            |m| m.from_bot && m.content.starts_with("Output of RUN-1"),
            WAIT,
        )
        .await
        .unwrap();
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

#[async_trait::async_trait]
impl warroom::store::DutyStore for SlowStore {
    async fn hold_lease(
        &self,
        name: &str,
        holder: &str,
        now: warroom::domain::Timestamp,
        until: warroom::domain::Timestamp,
    ) -> Result<bool, warroom::store::StoreError> {
        self.inner.hold_lease(name, holder, now, until).await
    }
    async fn release_lease(
        &self,
        name: &str,
        holder: &str,
    ) -> Result<(), warroom::store::StoreError> {
        self.inner.release_lease(name, holder).await
    }
    async fn lease(
        &self,
        name: &str,
    ) -> Result<Option<warroom::store::LeaseHolder>, warroom::store::StoreError> {
        self.inner.lease(name).await
    }
    async fn claim(
        &self,
        key: &str,
        holder: &str,
        at: warroom::domain::Timestamp,
    ) -> Result<bool, warroom::store::StoreError> {
        self.inner.claim(key, holder, at).await
    }
    async fn forget_claims(
        &self,
        before: warroom::domain::Timestamp,
    ) -> Result<u64, warroom::store::StoreError> {
        self.inner.forget_claims(before).await
    }
    async fn unshown(
        &self,
        limit: u32,
    ) -> Result<Vec<warroom::store::Unshown>, warroom::store::StoreError> {
        self.inner.unshown(limit).await
    }
    async fn mark_shown(&self, id: IncidentId, seq: i64) -> Result<(), warroom::store::StoreError> {
        self.inner.mark_shown(id, seq).await
    }
    fn change_feed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.change_feed()
    }
}
