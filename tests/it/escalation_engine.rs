//! The escalation engine on a controlled clock, against real HTTP receivers on 127.0.0.1 and
//! the real database (both backends): levels fire at their delays and not before, an
//! acknowledgement stops the later levels and tells the paged notifiers, repeat rounds,
//! resolution stops everything, a reopen pages again under new keys, failed pages move on
//! at once, the auditor pages the fallback once, overdue steps fire at once after a restart,
//! two engines on one database send each page once, drills stay inside Discord, and the
//! notifiers' retries show on the timeline.
//!
//! Time never comes from sleeps: the test moves a `ManualClock` and calls `Engine::tick`,
//! which returns when everything due at that instant was fired and delivered.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use warroom::config::{Config, Environment};
use warroom::domain::{
    Actor, Clock, EventKind, IncidentId, ManualClock, Source, Status, Timestamp,
};
use warroom::escalation::{Engine, Pagers};
use warroom::notify::{self, VirtualTimer};
use warroom::ops::{OpenRequest, Ops, OpsError, Principal};
use warroom::store::{
    EscalationState, FireStep, NewPage, PageAction, PageClaim, PageDone, PageRecipient, PageState,
};

use crate::on_both_backends;
use crate::receiver::{Receiver, Reply};
use crate::support::{TestDb, operator};

const START: &str = "2026-03-02T10:00:00Z";

fn start() -> Timestamp {
    Timestamp::parse_rfc3339(START).unwrap()
}

/// A database, use cases on a manual clock, an engine, and one receiver per webhook notifier.
struct Rig {
    /// The test database, which lives as long as the rig.
    db: TestDb,
    ops: Ops,
    clock: Arc<ManualClock>,
    engine: Engine,
    receivers: BTreeMap<String, Receiver>,
    config: Config,
}

/// Webhook notifiers `a`, `b`, `c` and `fallback`, each with its own receiver (scripted by
/// `scripts`), and the policy `p` written in `policy` as the default.
async fn rig(db: TestDb, policy: &str, scripts: Vec<(&str, Vec<Reply>)>) -> Rig {
    rig_with(db, policy, scripts, &[]).await
}

/// [`rig`] with more `WARROOM__...` overrides.
async fn rig_with(
    db: TestDb,
    policy: &str,
    scripts: Vec<(&str, Vec<Reply>)>,
    overrides: &[(&str, &str)],
) -> Rig {
    let mut scripts: BTreeMap<&str, Vec<Reply>> = scripts.into_iter().collect();
    let mut receivers = BTreeMap::new();
    let mut toml = String::new();
    for name in ["a", "b", "c", "fallback"] {
        let receiver = Receiver::start(scripts.remove(name).unwrap_or_default()).await;
        toml.push_str(&format!(
            "[notifiers.{name}]\nkind = \"webhook\"\nurl = \"{}\"\ntimeout = \"2s\"\nmax_attempts = 3\nrate_per_second = 1000\nrate_burst = 1000\n\n",
            receiver.url()
        ));
        receivers.insert(name.to_owned(), receiver);
    }
    toml.push_str(policy);
    let config = Config::load(
        &db.write_config(&toml),
        &Environment::from_pairs(
            [("WARROOM__ESCALATION__DEFAULT_POLICY", "p")]
                .into_iter()
                .chain(overrides.iter().copied()),
        ),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let clock = Arc::new(ManualClock::new(start()));
    let store = warroom::store::connect(&config.database).await.unwrap();
    let ops = Ops::new(store, Arc::new(config.clone()), clock.clone());
    let engine = engine_for(&ops, &config);
    Rig {
        db,
        ops,
        clock,
        engine,
        receivers,
        config,
    }
}

/// An engine over `ops` with the configured notifiers; retry waits run on a virtual timer.
fn engine_for(ops: &Ops, config: &Config) -> Engine {
    let (notifiers, not_ready) = notify::build_all(
        &config.notifiers,
        &notify::http_client(),
        Arc::new(VirtualTimer::new(start())),
    );
    // The shipped examples (pagerduty, slack, ...) lack their secrets; the test's own are ready.
    for name in ["a", "b", "c", "fallback"] {
        assert!(notifiers.contains_key(name), "{name}: {not_ready:?}");
    }
    Engine::new(ops.clone(), Arc::new(Pagers::new(notifiers, not_ready)))
}

impl Rig {
    async fn open(&self, title: &str) -> IncidentId {
        self.open_with(title, false).await
    }

    async fn open_with(&self, title: &str, drill: bool) -> IncidentId {
        self.ops
            .open(
                &operator("alice"),
                Source::Cli,
                OpenRequest {
                    title: title.to_owned(),
                    severity: "SEV2".to_owned(),
                    drill,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .incident
            .id
    }

    async fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.engine.tick().await.unwrap();
    }

    /// The dedup keys of the trigger deliveries receiver `name` got, in arrival order.
    fn triggers(&self, name: &str) -> Vec<String> {
        self.deliveries(name, "trigger")
    }

    fn deliveries(&self, name: &str, event: &str) -> Vec<String> {
        self.receivers[name]
            .received()
            .iter()
            .map(|request| request.json())
            .filter(|body| body["event"] == event)
            .map(|body| body["dedup_key"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn kinds(&self, id: IncidentId) -> Vec<(EventKind, String)> {
        self.ops
            .timeline_page(&operator("alice"), id, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|event| (event.kind, event.text))
            .collect()
    }

    async fn count(&self, id: IncidentId, kind: EventKind) -> usize {
        self.kinds(id)
            .await
            .iter()
            .filter(|(seen, _)| *seen == kind)
            .count()
    }
}

const THREE_LEVELS: &str = r#"
[policies.p]
fallback = "notifier:fallback"
[[policies.p.levels]]
after = "0s"
targets = ["notifier:a"]
[[policies.p.levels]]
after = "5m"
targets = ["notifier:b"]
[[policies.p.levels]]
after = "10m"
targets = ["notifier:c"]
"#;

fn key(id: IncidentId, level: u32, round: u32, notifier: &str) -> String {
    format!("warroom-{id}-L{level}-R{round}-notifier:{notifier}")
}

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

async fn levels_fire_at_their_delays_and_not_before(db: TestDb) {
    let rig = rig(db, THREE_LEVELS, vec![]).await;
    let id = rig.open("Checkout is down").await;
    rig.engine.tick().await.unwrap();
    assert_eq!(rig.triggers("a"), [key(id, 1, 0, "a")]);
    assert!(rig.triggers("b").is_empty());

    rig.advance(5 * MINUTE - SECOND).await;
    assert!(rig.triggers("b").is_empty(), "level 2 fired a second early");
    rig.advance(SECOND).await;
    assert_eq!(rig.triggers("b"), [key(id, 2, 0, "b")]);

    rig.advance(5 * MINUTE - SECOND).await;
    assert!(rig.triggers("c").is_empty());
    rig.advance(SECOND).await;
    assert_eq!(rig.triggers("c"), [key(id, 3, 0, "c")]);
    // Each level once, and the lateness against the plan is zero on a controlled clock.
    assert_eq!(rig.triggers("a").len(), 1);
    assert_eq!(rig.triggers("b").len(), 1);
    let events = rig
        .ops
        .timeline_page(&operator("alice"), id, 0)
        .await
        .unwrap();
    let lateness: Vec<i64> = events
        .iter()
        .filter(|event| event.kind == EventKind::Escalated && event.data["level"].is_number())
        .map(|event| event.data["late_ms"].as_i64().unwrap())
        .collect();
    assert_eq!(lateness, [0, 0, 0]);
    assert_eq!(rig.count(id, EventKind::PageSent).await, 3);
    // The last level fired and nobody acknowledged: the auditor pages the fallback, once.
    rig.engine.tick().await.unwrap();
    assert_eq!(
        rig.triggers("fallback"),
        [format!("warroom-{id}-L0-R0-notifier:fallback")]
    );
    rig.advance(MINUTE).await;
    rig.advance(MINUTE).await;
    assert_eq!(rig.triggers("fallback").len(), 1);
    let audit = rig.kinds(id).await;
    assert!(
        audit
            .iter()
            .any(|(kind, text)| *kind == EventKind::Escalated
                && text.contains("still unacknowledged")
                && text.contains("fallback")),
        "{audit:#?}"
    );
    assert_eq!(
        rig.ops.store().escalation(id).await.unwrap().unwrap().state,
        EscalationState::Audited
    );
}

async fn an_acknowledgement_between_levels_stops_the_rest(db: TestDb) {
    let rig = rig(db, THREE_LEVELS, vec![]).await;
    let id = rig.open("Checkout is down").await;
    rig.engine.tick().await.unwrap();
    rig.advance(3 * MINUTE).await;
    rig.ops.acknowledge(&operator("bob"), id).await.unwrap();
    rig.engine.tick().await.unwrap();
    // The notifier that was paged hears of the acknowledgement under the same key.
    assert_eq!(rig.deliveries("a", "acknowledge"), [key(id, 1, 0, "a")]);
    rig.advance(10 * MINUTE).await;
    rig.advance(60 * MINUTE).await;
    assert!(
        rig.triggers("b").is_empty(),
        "level 2 was paged after the ack"
    );
    assert!(rig.triggers("c").is_empty());
    assert!(
        rig.triggers("fallback").is_empty(),
        "the auditor paged an acknowledged incident"
    );
    assert_eq!(rig.count(id, EventKind::Escalated).await, 1);
    let escalation = rig.ops.store().escalation(id).await.unwrap().unwrap();
    assert_eq!(escalation.state, EscalationState::Stopped);
    assert_eq!(escalation.due_at, None);
}

async fn repeat_rounds_page_again_under_new_keys(db: TestDb) {
    let policy = r#"
[policies.p]
repeat = 2
repeat_after = "5m"
[[policies.p.levels]]
after = "0s"
targets = ["notifier:a"]
[[policies.p.levels]]
after = "5m"
targets = ["notifier:b"]
"#;
    let rig = rig(db, policy, vec![]).await;
    let id = rig.open("Queue backlog").await;
    rig.engine.tick().await.unwrap();
    // Rounds are 10 minutes long: a at 0, 10m, 20m; b at 5m, 15m, 25m.
    for _ in 0..6 {
        rig.advance(5 * MINUTE).await;
    }
    assert_eq!(
        rig.triggers("a"),
        [key(id, 1, 0, "a"), key(id, 1, 1, "a"), key(id, 1, 2, "a")]
    );
    assert_eq!(
        rig.triggers("b"),
        [key(id, 2, 0, "b"), key(id, 2, 1, "b"), key(id, 2, 2, "b")]
    );
}

async fn resolution_stops_everything_and_a_reopen_pages_again(db: TestDb) {
    let rig = rig(db, THREE_LEVELS, vec![]).await;
    let id = rig.open("Checkout is down").await;
    rig.engine.tick().await.unwrap();
    rig.advance(5 * MINUTE).await;
    assert_eq!(rig.triggers("b").len(), 1);
    let commander = operator("carol");
    rig.ops
        .resolve(&commander, id, Some("rolled back"))
        .await
        .unwrap();
    rig.engine.tick().await.unwrap();
    let mut resolved = rig.deliveries("a", "resolve");
    resolved.extend(rig.deliveries("b", "resolve"));
    assert_eq!(resolved, [key(id, 1, 0, "a"), key(id, 2, 0, "b")]);
    rig.advance(30 * MINUTE).await;
    assert!(
        rig.triggers("c").is_empty(),
        "level 3 paged a resolved incident"
    );
    assert!(rig.triggers("fallback").is_empty());

    // Reopened: the policy starts over, in a new round, so no dedup key repeats.
    rig.ops
        .reopen(&commander, id, Some("it is back"))
        .await
        .unwrap();
    rig.engine.tick().await.unwrap();
    assert_eq!(rig.triggers("a"), [key(id, 1, 0, "a"), key(id, 1, 1, "a")]);
    rig.advance(5 * MINUTE).await;
    assert_eq!(rig.triggers("b"), [key(id, 2, 0, "b"), key(id, 2, 1, "b")]);
}

async fn a_failed_page_is_recorded_and_the_next_level_is_paged_at_once(db: TestDb) {
    let rig = rig(
        db,
        THREE_LEVELS,
        vec![("a", vec![Reply::Status(400, r#"{"error":"bad key"}"#)])],
    )
    .await;
    let id = rig.open("Checkout is down").await;
    rig.engine.tick().await.unwrap();
    // 400 is not retried.
    assert_eq!(rig.receivers["a"].received().len(), 1);
    let failed: Vec<String> = rig
        .kinds(id)
        .await
        .into_iter()
        .filter(|(kind, _)| *kind == EventKind::PageFailed)
        .map(|(_, text)| text)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("HTTP 400"), "{failed:?}");
    // Without waiting five minutes: the failure made level 2 due now.
    rig.engine.tick().await.unwrap();
    assert_eq!(rig.triggers("b"), [key(id, 2, 0, "b")]);
    // Level 3 keeps its own time.
    assert!(rig.triggers("c").is_empty());
    rig.advance(10 * MINUTE).await;
    assert_eq!(rig.triggers("c"), [key(id, 3, 0, "c")]);
    let pages = rig.ops.store().pages(id).await.unwrap();
    let first = pages.iter().find(|page| page.level == 1).unwrap();
    assert_eq!(first.state, PageState::Failed);
}

async fn retries_and_their_outcomes_reach_the_timeline(db: TestDb) {
    let rig = rig(
        db,
        THREE_LEVELS,
        vec![
            (
                "a",
                vec![
                    Reply::Status(500, "oops"),
                    Reply::TooMany("3".to_owned()),
                    Reply::Status(202, "{}"),
                ],
            ),
            ("b", vec![Reply::Hang, Reply::Hang, Reply::Hang]),
        ],
    )
    .await;
    let id = rig.open("Checkout is down").await;
    rig.engine.tick().await.unwrap();
    assert_eq!(
        rig.receivers["a"].received().len(),
        3,
        "500 and 429 are retried"
    );
    let events = rig
        .ops
        .timeline_page(&operator("alice"), id, 0)
        .await
        .unwrap();
    let sent = events
        .iter()
        .find(|event| event.kind == EventKind::PageSent)
        .expect("a page_sent event");
    let attempts = sent.data["delivery"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{:#}", sent.data);
    assert!(sent.text.contains("notifier:a"), "{}", sent.text);

    // b hangs on every attempt: each times out, and the page fails after three.
    rig.advance(5 * MINUTE).await;
    assert_eq!(rig.receivers["b"].received().len(), 3);
    let events = rig
        .ops
        .timeline_page(&operator("alice"), id, 0)
        .await
        .unwrap();
    let failed = events
        .iter()
        .find(|event| event.kind == EventKind::PageFailed)
        .expect("a page_failed event");
    assert!(
        failed.text.contains("failed after 3 attempts"),
        "{}",
        failed.text
    );
}

async fn overdue_steps_fire_at_once_after_a_restart(db: TestDb) {
    let rig = rig(db, THREE_LEVELS, vec![]).await;
    let id = rig.open("Checkout is down").await;
    // warroom is down for twelve minutes: nothing ticks.
    rig.clock.advance(12 * MINUTE);
    let restarted = engine_for(&rig.ops, &rig.config);
    let pass = restarted.tick().await.unwrap();
    assert_eq!(pass.steps_fired, 3);
    assert_eq!(rig.triggers("a"), [key(id, 1, 0, "a")]);
    assert_eq!(rig.triggers("b"), [key(id, 2, 0, "b")]);
    assert_eq!(rig.triggers("c"), [key(id, 3, 0, "c")]);
    let late: Vec<i64> = rig
        .ops
        .timeline_page(&operator("alice"), id, 0)
        .await
        .unwrap()
        .iter()
        .filter(|event| event.kind == EventKind::Escalated && event.data["level"].is_number())
        .map(|event| event.data["late_ms"].as_i64().unwrap())
        .collect();
    assert_eq!(late, [12 * 60_000, 7 * 60_000, 2 * 60_000]);
}

async fn two_engines_on_one_database_send_each_page_once(db: TestDb) {
    let rig = rig(db, THREE_LEVELS, vec![]).await;
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(rig.open(&format!("Incident {n}")).await);
    }
    let other = engine_for(&rig.ops, &rig.config);
    for step in 0..3 {
        if step > 0 {
            rig.clock.advance(5 * MINUTE);
        }
        let (one, two) = tokio::join!(rig.engine.tick(), other.tick());
        one.unwrap();
        two.unwrap();
    }
    // Both audit at once, then both send the fallback pages the audit wrote.
    let (one, two) = tokio::join!(rig.engine.tick(), other.tick());
    one.unwrap();
    two.unwrap();
    let fallback = |id: &IncidentId| format!("warroom-{id}-L0-R0-notifier:fallback");
    for (name, level) in [("a", 1), ("b", 2), ("c", 3), ("fallback", 0)] {
        let mut got = rig.triggers(name);
        got.sort();
        let mut expected: Vec<String> = ids
            .iter()
            .map(|id| {
                if level == 0 {
                    fallback(id)
                } else {
                    key(*id, level, 0, name)
                }
            })
            .collect();
        expected.sort();
        assert_eq!(got, expected, "receiver {name}");
    }
    for id in &ids {
        assert_eq!(rig.count(*id, EventKind::PageSent).await, 4);
        // Three levels and one audit notice.
        assert_eq!(rig.count(*id, EventKind::Escalated).await, 4);
    }
}

async fn drills_page_only_inside_discord(db: TestDb) {
    let rig = rig(db, THREE_LEVELS, vec![]).await;
    let id = rig.open_with("Game day", true).await;
    rig.engine.tick().await.unwrap();
    assert!(
        rig.receivers["a"].received().is_empty(),
        "a drill reached a notifier"
    );
    let pages = rig.ops.store().pages(id).await.unwrap();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].state, PageState::Skipped);
    let texts = rig.kinds(id).await;
    assert!(
        texts
            .iter()
            .any(|(kind, text)| *kind == EventKind::PageSent && text.starts_with("DRILL")),
        "{texts:#?}"
    );
}

async fn paging_by_hand_reaches_the_target_once(db: TestDb) {
    let rig = rig(db, THREE_LEVELS, vec![]).await;
    let id = rig.open("Checkout is down").await;
    rig.ops.acknowledge(&operator("bob"), id).await.unwrap();
    let paged = rig
        .ops
        .page(
            &operator("bob"),
            id,
            warroom::ops::PageRequest::parse("notifier:c").unwrap(),
            Some("need the DBA"),
        )
        .await
        .unwrap();
    assert!(paged.summary.contains("need the DBA"), "{}", paged.summary);
    rig.engine.tick().await.unwrap();
    let received = rig.receivers["c"].received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].json()["message"], "need the DBA");
    assert_eq!(
        received[0].json()["dedup_key"],
        format!("warroom-{id}-L0-R0-notifier:c")
    );
    // Nobody without the responder role may page.
    let stranger = Principal::new(Actor::discord(77, "stranger"), Vec::<String>::new());
    let refused = rig
        .ops
        .page(
            &stranger,
            id,
            warroom::ops::PageRequest::parse("notifier:c").unwrap(),
            None,
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("responder"), "{refused}");
    // A typo names what exists.
    let unknown = warroom::ops::PageRequest::parse("policy:nope").unwrap();
    let error = rig
        .ops
        .page(&operator("bob"), id, unknown, None)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("there is no policy `nope`"),
        "{error}"
    );
    // Acknowledged before the engine's first pass: level 1 never went out.
    assert!(rig.triggers("a").is_empty());
    let triggers: Vec<_> = rig
        .ops
        .store()
        .pages(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|page| page.action == PageAction::Trigger)
        .collect();
    assert_eq!(triggers.len(), 1);
}

async fn a_paged_discord_user_may_acknowledge_without_roles(db: TestDb) {
    let policy = r#"
[policies.p]
[[policies.p.levels]]
after = "0s"
targets = ["user:4242"]
"#;
    let rig = rig(db, policy, vec![]).await;
    let id = rig.open("Checkout is down").await;
    let stranger = Principal::new(Actor::discord(77, "stranger"), Vec::<String>::new());
    // Before the step fires nobody has been paged: a user without roles is refused.
    let refused = rig.ops.acknowledge(&stranger, id).await.unwrap_err();
    assert!(refused.to_string().contains("responder"), "{refused}");
    rig.engine.tick().await.unwrap();
    // Once 4242 was paged, a stranger still may not acknowledge the (still unacknowledged)
    // incident: being paged is what lets someone without roles do it, not being anyone.
    let incident = rig.ops.store().get_incident(id).await.unwrap().unwrap();
    assert_eq!(incident.status, Status::Open);
    let before = rig.db.snapshot().await;
    let refused = rig.ops.acknowledge(&stranger, id).await.unwrap_err();
    assert!(
        matches!(&refused, OpsError::Forbidden { role, .. } if role == "responder"),
        "{refused}"
    );
    assert_eq!(rig.db.snapshot().await, before, "a refusal changed nothing");
    // The page failed (no Discord here), but it was addressed to 4242, who may acknowledge.
    let paged = Principal::new(Actor::discord(4242, "dana"), Vec::<String>::new());
    rig.ops.acknowledge(&paged, id).await.unwrap();
}

async fn a_new_severity_switches_an_unacknowledged_incident_to_its_policy(db: TestDb) {
    let policies = format!(
        "{THREE_LEVELS}\n{}",
        r#"
[policies.urgent]
[[policies.urgent.levels]]
after = "0s"
targets = ["notifier:c"]
[[policies.urgent.levels]]
after = "2m"
targets = ["notifier:fallback"]
"#
    );
    let rig = rig_with(
        db,
        &policies,
        vec![],
        &[("WARROOM__SEVERITIES__SEV1__POLICY", "urgent")],
    )
    .await;
    let alice = operator("alice");
    let id = rig.open("Checkout is down").await;
    rig.engine.tick().await.unwrap();
    assert_eq!(rig.triggers("a"), [key(id, 1, 0, "a")]);

    rig.advance(MINUTE).await;
    let changed = rig.ops.change_severity(&alice, id, "SEV1").await.unwrap();
    assert!(
        changed.events[0]
            .text
            .contains("escalation restarts with policy urgent from level 1"),
        "{}",
        changed.events[0].text
    );
    rig.engine.tick().await.unwrap();
    // The urgent policy's first level at once, under a round of its own.
    assert_eq!(rig.triggers("c"), [key(id, 1, 1, "c")]);
    rig.advance(2 * MINUTE - SECOND).await;
    assert!(rig.triggers("fallback").is_empty(), "a second early");
    rig.advance(SECOND).await;
    assert_eq!(rig.triggers("fallback"), [key(id, 2, 1, "fallback")]);
    // The old policy's level 2 (due 5 minutes after opening) never comes.
    rig.advance(10 * MINUTE).await;
    assert!(rig.triggers("b").is_empty(), "the old policy kept paging");

    // Once acknowledged, a severity change pages nobody and says nothing of escalation.
    rig.ops.acknowledge(&alice, id).await.unwrap();
    let changed = rig.ops.change_severity(&alice, id, "SEV2").await.unwrap();
    assert!(
        !changed.events[0].text.contains("escalation"),
        "{}",
        changed.events[0].text
    );
    rig.advance(10 * MINUTE).await;
    assert_eq!(rig.triggers("a").len(), 1);
    let escalation = rig.ops.store().escalation(id).await.unwrap().unwrap();
    assert_eq!(escalation.state, EscalationState::Stopped);
    assert_eq!(escalation.policy, "urgent");
}

/// A page whose sender died (its claim ran out) and whose incident was acknowledged before it
/// could be sent again is not sent: nobody needs waking. The receiver, which may have got it
/// the first time, still hears of the acknowledgement.
async fn a_page_claimed_again_after_the_acknowledgement_is_not_sent(db: TestDb) {
    let single = r#"
[policies.p]
[[policies.p.levels]]
after = "0s"
targets = ["notifier:a"]
"#;
    let rig = rig(db, single, vec![]).await;
    let id = rig.open("Checkout is down").await;
    let now = rig.clock.now();
    // A process on another host fires the step, claims its page, and dies at once.
    let dedup = key(id, 1, 0, "a");
    let fired = rig
        .ops
        .store()
        .fire_steps(
            vec![FireStep {
                incident: id,
                level: 1,
                round: 0,
                next: None,
                pages: vec![NewPage {
                    dedup_key: dedup.clone(),
                    action: PageAction::Trigger,
                    level: 1,
                    round: 0,
                    target: "notifier:a".to_owned(),
                    recipient: PageRecipient::Notifier {
                        name: "a".to_owned(),
                    },
                    message: None,
                    send_after: now,
                }],
                events: Vec::new(),
                now,
            }],
            &PageClaim {
                by: "elsewhere/1/1/0".to_owned(),
                lease_until: now.plus(MINUTE),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        fired[0].as_ref().unwrap().pages[0].state,
        PageState::Sending
    );
    rig.clock.advance(SECOND);
    rig.ops.acknowledge(&operator("bob"), id).await.unwrap();
    // The claim runs out: the engine takes the page again, sees the acknowledgement, and
    // sends only the acknowledgement.
    rig.advance(MINUTE - SECOND).await;
    assert!(rig.triggers("a").is_empty(), "paged after the ack");
    assert_eq!(rig.deliveries("a", "acknowledge"), [dedup]);
    let pages = rig.ops.store().pages(id).await.unwrap();
    let trigger = pages
        .iter()
        .find(|page| page.action == PageAction::Trigger)
        .unwrap();
    assert_eq!(trigger.state, PageState::Cancelled, "{trigger:?}");
    assert_eq!(trigger.attempts, 2);
    let outcome = trigger.outcome.as_deref().unwrap();
    assert!(
        outcome.contains("acknowledged first") && outcome.contains("may have reached"),
        "{outcome}"
    );
}

/// A step for `id` paging notifier `a`, as the engine would fire it at `now`.
fn first_step(id: IncidentId, now: Timestamp) -> FireStep {
    FireStep {
        incident: id,
        level: 1,
        round: 0,
        next: None,
        pages: vec![NewPage {
            dedup_key: key(id, 1, 0, "a"),
            action: PageAction::Trigger,
            level: 1,
            round: 0,
            target: "notifier:a".to_owned(),
            recipient: PageRecipient::Notifier {
                name: "a".to_owned(),
            },
            message: None,
            send_after: now,
        }],
        events: vec![warroom::domain::NewEvent::new(
            now,
            EventKind::Escalated,
            Actor::system(),
            "step".to_owned(),
        )],
        now,
    }
}

/// The engine records outcomes in the transaction of the next steps it fires: each outcome
/// whose claim is current is recorded with its event, a stale one records nothing, and the
/// steps fire as they would alone (a step already taken is not taken twice).
async fn outcomes_and_the_next_steps_are_written_in_one_transaction(db: TestDb) {
    let single = r#"
[policies.p]
[[policies.p.levels]]
after = "0s"
targets = ["notifier:a"]
"#;
    let rig = rig(db, single, vec![]).await;
    let first = rig.open("Checkout is down").await;
    let second = rig.open("Search is down").await;
    let now = rig.clock.now();
    let claim = PageClaim {
        by: "here/1/1/0".to_owned(),
        lease_until: now.plus(MINUTE),
    };
    let store = rig.ops.store();
    let fired = store
        .fire_steps(vec![first_step(first, now)], &claim)
        .await
        .unwrap();
    let page = fired[0].as_ref().unwrap().pages[0].clone();
    let done = |claim: u32, text: &str| PageDone {
        page: page.id,
        incident: first,
        claim,
        state: PageState::Sent,
        outcome: text.to_owned(),
        event: Some(warroom::domain::NewEvent::new(
            now,
            EventKind::PageSent,
            Actor::system(),
            text.to_owned(),
        )),
        now,
        failures_before_next_level: None,
    };
    let events_before = rig.count(first, EventKind::PageSent).await;
    // A stale claim (attempt 2 of a page claimed once) and the current one, with the second
    // incident's step and the first's again (already taken).
    let written = store
        .finish_and_fire(
            vec![done(2, "stale"), done(1, "current")],
            vec![first_step(second, now), first_step(first, now)],
            &claim,
        )
        .await
        .unwrap();
    assert!(
        written.fired[0].is_some(),
        "the second incident's step fires"
    );
    assert!(written.fired[1].is_none(), "a step fires once");
    let second_pages = &written.fired[0].as_ref().unwrap().pages;
    assert_eq!(second_pages.len(), 1);
    assert_eq!(second_pages[0].state, PageState::Sending);
    // The first incident had no step taken: its outcome's event is in `appended`.
    assert_eq!(written.appended.len(), 1);
    assert_eq!(written.appended[0].0.id, first);
    let texts: Vec<&str> = written.appended[0]
        .1
        .iter()
        .map(|event| event.text.as_str())
        .collect();
    assert_eq!(texts, ["current"]);
    let pages = store.pages(first).await.unwrap();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].state, PageState::Sent);
    assert_eq!(pages[0].outcome.as_deref(), Some("current"));
    assert_eq!(
        rig.count(first, EventKind::PageSent).await,
        events_before + 1
    );
    assert_eq!(rig.count(second, EventKind::Escalated).await, 1);
    // Nothing is left to claim: the second incident's page is claimed by the write.
    let later = now.plus(SECOND);
    assert!(
        store
            .claim_pages(later, later.plus(MINUTE), 10, "other/1/1/0")
            .await
            .unwrap()
            .is_empty()
    );
}

on_both_backends!(
    outcomes_and_the_next_steps_are_written_in_one_transaction,
    a_page_claimed_again_after_the_acknowledgement_is_not_sent,
    a_new_severity_switches_an_unacknowledged_incident_to_its_policy,
    levels_fire_at_their_delays_and_not_before,
    an_acknowledgement_between_levels_stops_the_rest,
    repeat_rounds_page_again_under_new_keys,
    resolution_stops_everything_and_a_reopen_pages_again,
    a_failed_page_is_recorded_and_the_next_level_is_paged_at_once,
    retries_and_their_outcomes_reach_the_timeline,
    overdue_steps_fire_at_once_after_a_restart,
    two_engines_on_one_database_send_each_page_once,
    drills_page_only_inside_discord,
    paging_by_hand_reaches_the_target_once,
    a_paged_discord_user_may_acknowledge_without_roles,
);
