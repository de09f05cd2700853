//! Notifiers against real HTTP receivers on 127.0.0.1: the bodies PagerDuty, Opsgenie, the
//! webhook and the chats get; one dedup key across trigger, acknowledge and resolve; the
//! signature; and the delivery policy: 202 once, 400 never retried, 429 waits Retry-After,
//! 5xx retried with backoff, a hang timed out and given up, the rate limiter's spacing.
//!
//! Waits (backoff, Retry-After, rate limit) run on a `VirtualTimer`, so they are exact and
//! take no real time; per-attempt timeouts are real (and short where they matter).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hmac::{KeyInit, Mac};
use warroom::config::{Config, Environment};
use warroom::domain::{IncidentId, Timestamp};
use warroom::escalation::{Recipient, Target};
use warroom::notify::{
    self, Action, AttemptResult, Notifier, NotifierKind, Outcome, PageMessage, Priority,
    VirtualTimer,
};

use crate::receiver::{Receiver, Reply};
use crate::support::WAIT;

const START: &str = "2026-11-22T10:00:00Z";

fn start() -> Timestamp {
    Timestamp::parse_rfc3339(START).unwrap()
}

/// Builds the one notifier `toml` configures, on a virtual timer starting at [`START`].
fn notifier(toml: &str, env: &[(&str, &str)]) -> (Arc<dyn Notifier>, Arc<VirtualTimer>) {
    let env = Environment::from_pairs(env.iter().copied());
    let config = Config::from_toml(Path::new("notify.toml"), toml, &env)
        .unwrap_or_else(|error| panic!("{error}"));
    let timer = Arc::new(VirtualTimer::new(start()));
    let built = notify::build(&config.notifiers[0], &notify::http_client(), timer.clone())
        .unwrap_or_else(|error| panic!("{error}"));
    (built, timer)
}

/// A PagerDuty notifier at `url` with these extra keys (rate limit out of the way unless set).
fn pagerduty(url: &str, extra: &str) -> (Arc<dyn Notifier>, Arc<VirtualTimer>) {
    let rate = if extra.contains("rate_") {
        ""
    } else {
        "rate_per_second = 1000\nrate_burst = 1000\n"
    };
    notifier(
        &format!(
            "[notifiers.pd]\nkind = \"pagerduty\"\nurl = \"{url}\"\nrouting_key_env = \"PD_KEY\"\n{rate}{extra}"
        ),
        &[("PD_KEY", "routing-key-123")],
    )
}

fn page(target: &str, drill: bool) -> PageMessage {
    let target: Target = target.parse().unwrap();
    PageMessage {
        dedup_key: warroom::escalation::dedup_key(IncidentId(12), 1, 0, &target),
        incident_id: IncidentId(12),
        title: "Checkout is down <!channel> @everyone".to_owned(),
        severity: "SEV1".to_owned(),
        priority: Priority::P1,
        service: Some("api".to_owned()),
        level: 1,
        round: 0,
        recipient: Recipient::Notifier {
            name: "x".to_owned(),
            kind: NotifierKind::PagerDuty,
        },
        target,
        channel_id: Some(1_234_567_890_123_456_789),
        link: Some("https://discord.com/channels/1/1234567890123456789".to_owned()),
        drill,
        opened_at: start(),
        message: None,
    }
}

fn statuses(delivery: &notify::Delivery) -> Vec<String> {
    delivery
        .attempts
        .iter()
        .map(|attempt| match &attempt.result {
            AttemptResult::Status { status, .. } => status.to_string(),
            AttemptResult::TimedOut { .. } => "timeout".to_owned(),
            AttemptResult::Connect { .. } => "connect".to_owned(),
            AttemptResult::Error { .. } => "error".to_owned(),
        })
        .collect()
}

#[tokio::test]
async fn pagerduty_triggers_acknowledges_and_resolves_under_one_dedup_key() {
    let receiver = Receiver::start(vec![]).await;
    let (pd, timer) = pagerduty(&receiver.url(), "");
    let page = page("notifier:pd", false);

    let delivered = pd.trigger(&page).await;
    assert_eq!(delivered.outcome, Outcome::Delivered { status: 202 });
    assert_eq!(delivered.attempts.len(), 1, "delivered once");
    assert!(pd.acknowledge(&page.dedup_key).await.is_delivered());
    assert!(pd.resolve(&page.dedup_key).await.is_delivered());
    assert!(timer.sleeps().is_empty(), "nothing waited");

    let received = receiver.received();
    assert_eq!(received.len(), 3);
    assert!(
        received
            .iter()
            .all(|request| request.method == "POST" && request.uri == "/v2/enqueue")
    );
    let trigger = received[0].json();
    assert_eq!(trigger["routing_key"], "routing-key-123");
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["dedup_key"], "warroom-INC-12-L1-R0-notifier:pd");
    assert_eq!(
        trigger["payload"]["summary"],
        "INC-12 SEV1: Checkout is down <!channel> @everyone (service api)"
    );
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["source"], "warroom");
    assert_eq!(trigger["payload"]["timestamp"], "2026-11-22T10:00:00.000Z");
    assert_eq!(trigger["payload"]["component"], "api");
    assert_eq!(trigger["payload"]["custom_details"]["level"], 1);
    assert_eq!(
        trigger["links"][0]["href"],
        "https://discord.com/channels/1/1234567890123456789"
    );
    for (request, action) in received[1..].iter().zip(["acknowledge", "resolve"]) {
        let body = request.json();
        assert_eq!(body["event_action"], action);
        assert_eq!(body["dedup_key"], trigger["dedup_key"], "the same key");
        assert_eq!(body["routing_key"], "routing-key-123");
    }
}

#[tokio::test]
async fn a_400_fails_at_once_and_is_never_retried() {
    let receiver = Receiver::start(vec![Reply::Status(
        400,
        r#"{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect"]}"#,
    )])
    .await;
    let (pd, timer) = pagerduty(&receiver.url(), "max_attempts = 4\n");
    let delivery = pd.trigger(&page("notifier:pd", false)).await;
    match &delivery.outcome {
        Outcome::FailedPermanently { status, body } => {
            assert_eq!(*status, 400);
            assert!(
                body.contains("Length of 'routing_key' is incorrect"),
                "{body}"
            );
        }
        other => panic!("expected a permanent failure, got {other:?}"),
    }
    assert!(delivery.is_failure());
    assert_eq!(receiver.received().len(), 1, "a 4xx is never retried");
    assert!(timer.sleeps().is_empty());
    assert!(
        delivery
            .describe()
            .starts_with("notifier pd: trigger refused with HTTP 400: "),
        "{}",
        delivery.describe()
    );
    // The attempt history is what a page_failed event records.
    let recorded = serde_json::to_value(&delivery).unwrap();
    assert_eq!(recorded["outcome"], "failed_permanently");
    assert_eq!(recorded["attempts"][0]["status"], 400);
}

#[tokio::test]
async fn a_429_waits_as_long_as_retry_after_says_then_delivers() {
    let in_30s = httpdate::fmt_http_date(
        SystemTime::UNIX_EPOCH + Duration::from_secs(start().as_unix_seconds() as u64 + 30),
    );
    let receiver = Receiver::start(vec![
        Reply::TooMany("7".to_owned()),
        Reply::TooMany(in_30s),
        Reply::Status(202, "{}"),
    ])
    .await;
    let (pd, timer) = pagerduty(&receiver.url(), "max_attempts = 4\n");
    let delivery = pd.trigger(&page("notifier:pd", false)).await;
    assert_eq!(delivery.outcome, Outcome::Delivered { status: 202 });
    assert_eq!(statuses(&delivery), ["429", "429", "202"]);
    // Seven seconds, then an HTTP date 30 s after the (virtual) time of the second answer.
    assert_eq!(
        timer.sleeps(),
        [Duration::from_secs(7), Duration::from_secs(23)]
    );
    assert_eq!(
        delivery
            .attempts
            .iter()
            .map(|attempt| attempt.at_ms)
            .collect::<Vec<_>>(),
        [0, 7_000, 30_000]
    );
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    assert!(
        received
            .iter()
            .all(|request| request.json()["dedup_key"] == "warroom-INC-12-L1-R0-notifier:pd"),
        "every delivery of one page carries the same key"
    );
}

#[tokio::test]
async fn a_429_that_asks_for_too_long_fails_now_so_the_policy_can_move_on() {
    let receiver = Receiver::start(vec![Reply::TooMany("3600".to_owned())]).await;
    let (pd, timer) = pagerduty(&receiver.url(), "max_attempts = 4\n");
    let delivery = pd.trigger(&page("notifier:pd", false)).await;
    match &delivery.outcome {
        Outcome::FailedAfterRetries { reason } => assert!(
            reason.contains(
                "asked to wait 3600s (Retry-After), longer than warroom holds a page (120s)"
            ),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(receiver.received().len(), 1);
    assert!(timer.sleeps().is_empty());
}

#[tokio::test]
async fn a_500_is_retried_with_exponential_backoff_and_full_jitter() {
    let receiver = Receiver::start(vec![
        Reply::Status(500, "oops"),
        Reply::Status(502, ""),
        Reply::Status(503, ""),
        Reply::Status(202, "{}"),
    ])
    .await;
    let (pd, timer) = pagerduty(
        &receiver.url(),
        "max_attempts = 4\nbackoff_base = \"1s\"\nbackoff_max = \"3s\"\n",
    );
    let delivery = pd.trigger(&page("notifier:pd", false)).await;
    assert_eq!(delivery.outcome, Outcome::Delivered { status: 202 });
    assert_eq!(statuses(&delivery), ["500", "502", "503", "202"]);
    let sleeps = timer.sleeps();
    assert_eq!(sleeps.len(), 3);
    // Full jitter: each wait is random below its ceiling, 1 s doubling, capped at 3 s.
    for (slept, ceiling) in sleeps.iter().zip([1, 2, 3].map(Duration::from_secs)) {
        assert!(*slept < ceiling, "{slept:?} not below {ceiling:?}");
    }
    assert_eq!(receiver.received().len(), 4);

    // With every attempt failing, the delivery gives up after max_attempts.
    let receiver = Receiver::start(vec![Reply::Status(500, "down"); 3]).await;
    let (pd, _timer) = pagerduty(&receiver.url(), "max_attempts = 3\n");
    let delivery = pd.trigger(&page("notifier:pd", false)).await;
    assert_eq!(
        delivery.outcome,
        Outcome::FailedAfterRetries {
            reason: "the last attempt got HTTP 500: down".to_owned()
        }
    );
    assert_eq!(receiver.received().len(), 3);
    assert_eq!(
        delivery.describe(),
        "notifier pd: trigger failed after 3 attempts: the last attempt got HTTP 500: down"
    );
}

/// Yields until `done` holds (a clock this test holds never ends a sleep, so no sleeping);
/// fails after [`WAIT`] of real time, which only turns a hang into a failure.
async fn until(what: &str, done: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_receiver_that_never_answers_is_timed_out_retried_and_given_up_on() {
    let receiver = Receiver::start(vec![Reply::Hang, Reply::Hang, Reply::Hang]).await;
    let timeout = Duration::from_millis(200);
    let (pd, timer) = pagerduty(&receiver.url(), "max_attempts = 3\ntimeout = \"200ms\"\n");
    // tokio's clock (which times reqwest's per-attempt timeout) moves only when this test
    // moves it: while a blocking task runs, a paused current-thread runtime does not advance
    // it on its own, so the sockets talk in real time and the timeouts fire on cue.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let hold = tokio::task::spawn_blocking(move || held.recv().ok());
    let began = tokio::time::Instant::now();
    let delivery = tokio::spawn(async move { pd.trigger(&page("notifier:pd", false)).await });
    for attempt in 1..=3 {
        until(&format!("attempt {attempt} to reach the receiver"), || {
            receiver.received().len() == attempt
        })
        .await;
        // A millisecond before its timeout the attempt still waits for an answer ...
        tokio::time::advance(timeout - Duration::from_millis(1)).await;
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            receiver.received().len(),
            attempt,
            "attempt {attempt} ended early"
        );
        assert!(!delivery.is_finished(), "attempt {attempt} ended early");
        // ... and its timeout ends it. The next attempt then starts with tokio's clock
        // standing still: the backoff between them ran on the virtual timer, not for real.
        tokio::time::advance(Duration::from_millis(1)).await;
    }
    until("the delivery to give up", || delivery.is_finished()).await;
    let delivery = delivery.await.unwrap();
    assert_eq!(
        began.elapsed(),
        3 * timeout,
        "three 200 ms timeouts and no other wait"
    );
    drop(release);
    hold.await.unwrap();
    assert_eq!(statuses(&delivery), ["timeout", "timeout", "timeout"]);
    assert!(matches!(
        delivery.outcome,
        Outcome::FailedAfterRetries { .. }
    ));
    assert_eq!(
        delivery.describe(),
        "notifier pd: trigger failed after 3 attempts: the last attempt got no answer within 200 ms"
    );
    assert_eq!(
        receiver.received().len(),
        3,
        "each attempt reached the receiver"
    );
    assert_eq!(timer.sleeps().len(), 2, "a backoff between attempts");
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_reported() {
    let port = crate::support::free_port();
    let (pd, timer) = pagerduty(&format!("http://127.0.0.1:{port}"), "max_attempts = 2\n");
    let delivery = pd.trigger(&page("notifier:pd", false)).await;
    assert_eq!(statuses(&delivery), ["connect", "connect"]);
    assert!(matches!(
        delivery.outcome,
        Outcome::FailedAfterRetries { .. }
    ));
    assert_eq!(timer.sleeps().len(), 1);
}

#[tokio::test]
async fn opsgenie_creates_acknowledges_and_closes_the_alert_by_its_alias() {
    let receiver = Receiver::start(vec![]).await;
    let (opsgenie, _timer) = notifier(
        &format!(
            "[notifiers.og]\nkind = \"opsgenie\"\nurl = \"{}\"\napi_key_env = \"OG_KEY\"\n",
            receiver.url()
        ),
        &[("OG_KEY", "genie-key-456")],
    );
    let page = page("notifier:og", true);
    assert!(opsgenie.trigger(&page).await.is_delivered());
    assert!(opsgenie.acknowledge(&page.dedup_key).await.is_delivered());
    assert!(opsgenie.resolve(&page.dedup_key).await.is_delivered());

    let received = receiver.received();
    assert_eq!(
        received
            .iter()
            .map(|request| request.uri.as_str())
            .collect::<Vec<_>>(),
        [
            "/v2/alerts",
            "/v2/alerts/warroom-INC-12-L1-R0-notifier:og/acknowledge?identifierType=alias",
            "/v2/alerts/warroom-INC-12-L1-R0-notifier:og/close?identifierType=alias",
        ]
    );
    assert!(
        received
            .iter()
            .all(|request| request.header("authorization") == Some("GenieKey genie-key-456"))
    );
    let create = received[0].json();
    assert_eq!(create["alias"], "warroom-INC-12-L1-R0-notifier:og");
    assert_eq!(create["priority"], "P1");
    assert_eq!(create["source"], "warroom");
    let message = create["message"].as_str().unwrap();
    assert!(message.starts_with("[DRILL] INC-12 SEV1: "), "{message}");
    assert!(message.chars().count() <= 130);
    assert!(
        create["tags"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("drill"))
    );
    assert_eq!(received[1].json()["source"], "warroom");
}

#[tokio::test]
async fn webhook_requests_are_signed_over_the_timestamp_and_the_body() {
    let receiver = Receiver::start(vec![Reply::Status(503, ""), Reply::Status(200, "")]).await;
    let (hook, timer) = notifier(
        &format!(
            "[notifiers.hook]\nkind = \"webhook\"\nurl = \"{}/hooks/warroom\"\nsecret_env = \"HOOK_SECRET\"\n",
            receiver.url()
        ),
        &[("HOOK_SECRET", "shared-secret")],
    );
    let page = page("notifier:hook", false);
    assert!(hook.trigger(&page).await.is_delivered());
    assert!(hook.acknowledge(&page.dedup_key).await.is_delivered());

    let received = receiver.received();
    assert_eq!(
        received.len(),
        3,
        "one retry after the 503, then the acknowledgement"
    );
    let slept = timer.sleeps()[0];
    for (index, request) in received.iter().enumerate() {
        assert_eq!(request.uri, "/hooks/warroom");
        let timestamp = request.header("x-warroom-timestamp").unwrap();
        // The retry is signed afresh, at the (virtual) time it was sent.
        let sent_at = if index == 0 {
            start()
        } else {
            start().plus(slept)
        };
        assert_eq!(timestamp, sent_at.as_unix_seconds().to_string());
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"shared-secret").unwrap();
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(&request.body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(
            request.header("x-warroom-signature"),
            Some(expected.as_str())
        );
        assert_eq!(
            warroom::notify::webhook::verify(
                b"shared-secret",
                Some(timestamp),
                request.header("x-warroom-signature"),
                &request.body,
                sent_at,
                warroom::notify::webhook::SIGNATURE_TOLERANCE,
            ),
            Ok(())
        );
    }
    let body = received[0].json();
    assert_eq!(body["schema"], "warroom.page/v1");
    assert_eq!(body["event"], "trigger");
    assert_eq!(body["dedup_key"], page.dedup_key);
    assert_eq!(body["incident"]["ref"], "INC-12");
    assert_eq!(body["incident"]["channel_id"], "1234567890123456789");
    assert_eq!(body["drill"], false);
    assert_eq!(
        received[2].json(),
        serde_json::json!({"schema": "warroom.page/v1", "event": "acknowledge", "dedup_key": page.dedup_key})
    );
}

#[tokio::test]
async fn cross_posts_to_slack_and_discord_ping_nobody_and_cannot_acknowledge() {
    let receiver = Receiver::start(vec![Reply::Status(200, "ok"), Reply::Status(204, "")]).await;
    let hook_url = format!("{}/services/T0/B0/slack-token", receiver.url());
    let (slack, _) = notifier(
        "[notifiers.slack]\nkind = \"slack_webhook\"\nurl_env = \"SLACK_URL\"\n",
        &[("SLACK_URL", &hook_url)],
    );
    let discord_url = format!("{}/api/webhooks/1/discord-token", receiver.url());
    let (discord, _) = notifier(
        "[notifiers.discord]\nkind = \"discord_webhook\"\nurl_env = \"DISCORD_URL\"\n",
        &[("DISCORD_URL", &discord_url)],
    );
    assert!(
        slack
            .trigger(&page("notifier:slack", false))
            .await
            .is_delivered()
    );
    assert!(
        discord
            .trigger(&page("notifier:discord", true))
            .await
            .is_delivered()
    );

    let received = receiver.received();
    assert_eq!(received[0].uri, "/services/T0/B0/slack-token");
    let text = received[0].json()["text"].as_str().unwrap().to_owned();
    assert!(
        text.starts_with("INC-12 SEV1 (P1): Checkout is down &lt;!channel&gt; @everyone"),
        "Slack's mention syntax is escaped: {text}"
    );
    assert!(text.contains("Escalation level 1, round 0, target notifier:slack, service api"));
    let discord_body = received[1].json();
    assert_eq!(received[1].uri, "/api/webhooks/1/discord-token");
    assert_eq!(
        discord_body["allowed_mentions"],
        serde_json::json!({"parse": []})
    );
    assert!(
        discord_body["content"]
            .as_str()
            .unwrap()
            .starts_with("[DRILL] INC-12 SEV1 (P1): "),
        "{discord_body}"
    );

    for chat in [&slack, &discord] {
        assert!(!chat.supports(Action::Acknowledge));
        let ack = chat
            .acknowledge("warroom-INC-12-L1-R0-notifier:slack")
            .await;
        assert!(matches!(ack.outcome, Outcome::Unsupported { .. }));
        assert!(!ack.is_failure());
        assert!(matches!(
            chat.resolve("k").await.outcome,
            Outcome::Unsupported { .. }
        ));
    }
    assert_eq!(receiver.received().len(), 2, "nothing sent for them");
}

#[tokio::test]
async fn the_rate_limiter_spaces_requests_to_one_receiver() {
    let receiver = Receiver::start(vec![]).await;
    let (pd, timer) = pagerduty(&receiver.url(), "rate_per_second = 2\nrate_burst = 1\n");
    let mut waited = Vec::new();
    for _ in 0..3 {
        let delivery = pd.trigger(&page("notifier:pd", false)).await;
        assert!(delivery.is_delivered());
        waited.push(delivery.attempts[0].waited_ms);
    }
    assert_eq!(waited, [0, 500, 500], "one every 500 ms after the first");
    assert_eq!(timer.elapsed(), Duration::from_secs(1));
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn built_notifiers_keep_their_secrets_out_of_debug_output() {
    let receiver = Receiver::start(vec![]).await;
    let (pd, _) = pagerduty(&receiver.url(), "");
    let debug = format!("{pd:?}");
    assert!(!debug.contains("routing-key-123"), "{debug}");
}
