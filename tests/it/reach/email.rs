//! The email notifier against a real SMTP server: the page arrives as plain text and HTML
//! with the incident, the level, who else it went to and a one-click link; the link, followed
//! by a real HTTP client, shows a confirmation page and its form acknowledges as the person
//! paged, which stops level 2; reused, tampered and expired links refuse and change nothing;
//! a refusing or unreachable SMTP server fails the page with its reason and level 2 is paged
//! at once; `warroom check` names whoever an email notifier could page without an address.

use warroom::domain::{EventKind, Status, Timestamp};

use super::{MINUTE, Rig, SmtpSink, link_after, wait_for_mail};
use crate::on_both_backends;
use crate::receiver::Receiver;
use crate::support::{self, TestDb};

const START: &str = "2026-03-02T10:00:00Z";
const ALICE: u64 = 200_000_000_000_000_001;

fn start() -> Timestamp {
    Timestamp::parse_rfc3339(START).unwrap()
}

/// Email to Alice (by her [people] address) and a team address at level 1; a webhook at 5m.
fn toml(smtp_port: u16, level_two: &str) -> String {
    format!(
        r#"
[people."{ALICE}"]
name = "Alice Example"
email = "alice@example.com"

[notifiers.mail]
kind = "email"
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "warroom <warroom@example.com>"
to = ["user:{ALICE}", "ops-team@example.com"]
timeout = "5s"
max_attempts = 2
rate_per_second = 1000
rate_burst = 1000

[notifiers.second]
kind = "webhook"
url = "{level_two}"

[policies.reach]
[[policies.reach.levels]]
after = "0s"
targets = ["notifier:mail"]

[[policies.reach.levels]]
after = "5m"
targets = ["notifier:second"]
"#
    )
}

async fn rig(db: TestDb, smtp_port: u16, second: &Receiver) -> Rig {
    Rig::start(
        db,
        &toml(smtp_port, &second.url()),
        &[("WARROOM__ESCALATION__DEFAULT_POLICY", "reach")],
        start(),
    )
    .await
}

fn triggers(receiver: &Receiver) -> usize {
    receiver
        .received()
        .iter()
        .filter(|request| request.json()["event"] == "trigger")
        .count()
}

async fn the_emailed_link_acknowledges_once_and_stops_level_two(db: TestDb) {
    let Some(sink) = SmtpSink::start(None).await else {
        return;
    };
    let second = Receiver::start(Vec::new()).await;
    let rig = rig(db, sink.port, &second).await;
    let id = rig.open("Checkout is down").await;
    rig.engine.tick().await.unwrap();

    let mail = wait_for_mail(&sink, 2).await;
    let to_alice = mail
        .iter()
        .find(|message| message["rcpt_tos"][0] == "alice@example.com")
        .expect("an email to Alice");
    let to_team = mail
        .iter()
        .find(|message| message["rcpt_tos"][0] == "ops-team@example.com")
        .expect("an email to the team");
    assert_eq!(to_alice["mail_from"], "warroom@example.com");
    assert_eq!(to_alice["content_type"], "multipart/alternative");
    assert_eq!(to_alice["to"], "Alice Example <alice@example.com>");
    let subject = to_alice["subject"].as_str().unwrap();
    assert!(
        subject.contains(&format!("{id} SEV2: Checkout is down"))
            && subject.contains("escalation level 1"),
        "{subject}"
    );
    let text = to_alice["text"].as_str().unwrap();
    for expected in [
        "Incident: INC-1: Checkout is down",
        "Paged: escalation level 1, round 1, as notifier:mail",
        "Also emailed: ops-team@example.com",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    assert!(
        to_team["text"]
            .as_str()
            .unwrap()
            .contains("Also emailed: Alice Example <alice@example.com>")
    );
    let link = link_after(text, "Acknowledge");
    assert!(link.starts_with(&rig.url("/ack/")), "{link}");
    let html = to_alice["html"].as_str().unwrap();
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
    assert!(!html.contains("<script"));
    let team_link = link_after(to_team["text"].as_str().unwrap(), "Acknowledge");
    assert_ne!(link, team_link, "each recipient's link names them");
    let sent = rig.texts_of(id, EventKind::PageSent).await;
    assert_eq!(sent, ["Paged notifier:mail (notifier mail)"]);

    // Following the link only shows what it is for.
    let shown = rig.client.get(&link).send().await.unwrap();
    assert_eq!(shown.status(), 200);
    assert_eq!(shown.headers()["content-type"], "text/html; charset=utf-8");
    let page = shown.text().await.unwrap();
    assert!(
        page.contains("Acknowledge INC-1 as Alice Example"),
        "{page}"
    );
    assert!(page.contains("Checkout is down") && page.contains("escalation level 1"));
    assert!(page.contains("<form method=\"post\">") && !page.contains("<script"));
    assert_eq!(
        rig.ops
            .store()
            .get_incident(id)
            .await
            .unwrap()
            .unwrap()
            .status,
        Status::Open
    );

    // Its form acknowledges, as Alice.
    let done = rig.client.post(&link).send().await.unwrap();
    assert_eq!(done.status(), 200);
    let page = done.text().await.unwrap();
    assert!(
        page.contains("INC-1 is acknowledged by Alice Example"),
        "{page}"
    );
    let incident = rig.ops.store().get_incident(id).await.unwrap().unwrap();
    assert_eq!(incident.status, Status::Acknowledged);
    assert_eq!(
        incident.acknowledged_by.unwrap().id,
        format!("discord:{ALICE}")
    );
    assert_eq!(
        rig.texts_of(id, EventKind::Acknowledged).await,
        ["Acknowledged by Alice Example: with the one-click link of the level 1 page"]
    );

    // Level 2 never comes.
    rig.advance(5 * MINUTE).await;
    rig.advance(30 * MINUTE).await;
    assert_eq!(
        triggers(&second),
        0,
        "level 2 was paged after the acknowledgement"
    );

    // Used, tampered with, or someone else's once the incident is acknowledged: refused,
    // and nothing changes.
    let before = rig.db.snapshot().await;
    let again = rig.client.post(&link).send().await.unwrap();
    assert_eq!(again.status(), 409);
    let page = again.text().await.unwrap();
    assert!(page.contains("This link was already used"), "{page}");
    assert!(page.contains("Alice Example"), "{page}");
    assert_eq!(rig.client.get(&link).send().await.unwrap().status(), 409);
    let tampered = link.replacen("/ack/1.1.", "/ack/1.2.", 1);
    assert_ne!(tampered, link);
    let forged = rig.client.post(&tampered).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    assert!(
        forged
            .text()
            .await
            .unwrap()
            .contains("was not made by this warroom")
    );
    let mangled = rig
        .client
        .post(rig.url("/ack/nonsense"))
        .send()
        .await
        .unwrap();
    assert_eq!(mangled.status(), 400);
    let late = rig.client.post(&team_link).send().await.unwrap();
    assert_eq!(late.status(), 409);
    assert!(
        late.text()
            .await
            .unwrap()
            .contains("already acknowledged by Alice Example")
    );
    assert_eq!(
        rig.db.snapshot().await,
        before,
        "a refused link changed something"
    );
}

async fn an_expired_link_refuses_and_changes_nothing(db: TestDb) {
    let Some(sink) = SmtpSink::start(None).await else {
        return;
    };
    let second = Receiver::start(Vec::new()).await;
    let rig = rig(db, sink.port, &second).await;
    let id = rig.open("Disk full").await;
    rig.engine.tick().await.unwrap();
    let mail = wait_for_mail(&sink, 2).await;
    let link = link_after(mail[0]["text"].as_str().unwrap(), "Acknowledge");
    // A day and a second later (level 2 has long been paged, nobody acknowledged).
    rig.advance(24 * 60 * MINUTE + std::time::Duration::from_secs(1))
        .await;
    let before = rig.db.snapshot().await;
    for response in [
        rig.client.get(&link).send().await.unwrap(),
        rig.client.post(&link).send().await.unwrap(),
    ] {
        assert_eq!(response.status(), 410);
        let page = response.text().await.unwrap();
        assert!(page.contains("This link has expired"), "{page}");
        assert!(page.contains("Nothing was changed"), "{page}");
    }
    assert_eq!(rig.db.snapshot().await, before);
    assert_eq!(
        rig.ops
            .store()
            .get_incident(id)
            .await
            .unwrap()
            .unwrap()
            .status,
        Status::Open
    );
}

async fn a_refusing_smtp_server_fails_the_page_and_level_two_is_paged_at_once(db: TestDb) {
    let Some(sink) = SmtpSink::start(Some("550 5.1.1 No such user here")).await else {
        return;
    };
    let second = Receiver::start(Vec::new()).await;
    let rig = rig(db, sink.port, &second).await;
    let id = rig.open("Payments fail").await;
    rig.engine.tick().await.unwrap();
    let failed = rig.texts_of(id, EventKind::PageFailed).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    let reason = &failed[0];
    assert!(
        reason.contains("refused it")
            && reason.contains("550")
            && reason.contains("No such user here"),
        "{reason}"
    );
    assert!(
        reason.contains("alice@example.com") && reason.contains("ops-team@example.com"),
        "{reason}"
    );
    assert!(reason.contains("not retried"), "{reason}");
    assert!(sink.messages().is_empty());
    // Without waiting for its five minutes: the failure made level 2 due now.
    rig.engine.tick().await.unwrap();
    assert_eq!(triggers(&second), 1);
}

async fn an_smtp_server_that_is_down_fails_the_page_after_its_retries(db: TestDb) {
    let second = Receiver::start(Vec::new()).await;
    // Nothing listens there.
    let rig = rig(db, support::free_port(), &second).await;
    let id = rig.open("Search is slow").await;
    rig.engine.tick().await.unwrap();
    let failed = rig.texts_of(id, EventKind::PageFailed).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].contains("cannot reach the SMTP server 127.0.0.1:")
            && failed[0].contains("(after 2 attempts)"),
        "{}",
        failed[0]
    );
    let data = rig
        .ops
        .store()
        .timeline_page(id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|event| event.kind == EventKind::PageFailed)
        .unwrap()
        .data;
    assert_eq!(
        data["delivery"]["attempts"].as_array().unwrap().len(),
        4,
        "{data}"
    );
    rig.engine.tick().await.unwrap();
    assert_eq!(triggers(&second), 1, "level 2 is paged at once");
}

on_both_backends!(
    the_emailed_link_acknowledges_once_and_stops_level_two,
    an_expired_link_refuses_and_changes_nothing,
    a_refusing_smtp_server_fails_the_page_and_level_two_is_paged_at_once,
    an_smtp_server_that_is_down_fails_the_page_after_its_retries,
);

#[test]
fn check_names_whoever_an_email_notifier_could_page_without_an_address() {
    let db = TestDb::sqlite();
    let config = db.write_config(&format!(
        r#"
[people."{ALICE}"]
email = "alice@example.com"

[schedules.rota]
timezone = "UTC"
members = ["{ALICE}", "200000000000000002"]
period = "daily"
handoff = "09:00"
start = "2026-03-02"

[notifiers.mail]
kind = "email"
host = "smtp.example.com"
from = "warroom@example.com"
to = ["schedule:rota", "user:200000000000000003"]

[policies.mailed]
[[policies.mailed.levels]]
after = "0s"
targets = ["notifier:mail"]
"#
    ));
    let out = support::succeed(&config, &["check"]);
    assert!(
        out.contains("Discord user 200000000000000002, on call in schedule rota, whom policy mailed can page by email through this notifier, has no address in [people]"),
        "{out}"
    );
    assert!(
        out.contains("Discord user 200000000000000003 whom policy mailed can page by email"),
        "{out}"
    );
    assert!(!out.contains(&format!("Discord user {ALICE}")), "{out}");
    // Without [http] public_url, the emails would carry no link: said too.
    assert!(
        out.contains("its emails carry no one-click acknowledgement link"),
        "{out}"
    );
}

#[test]
fn bad_email_settings_are_refused_with_their_line() {
    let db = TestDb::sqlite();
    let config = db.write_config(
        r#"
[notifiers.mail]
kind = "email"
host = "smtp.example.com"
tls = "none"
from = "not an address"
to = ["schedule:nope", "also not an address", "user:bob"]
password = "hunter2"
"#,
    );
    let output = support::run(&config, &["check"]);
    assert!(!output.status.success());
    let err = support::stderr(&output);
    for expected in [
        "notifiers.mail.tls: \"none\" sends pages and passwords unencrypted, so it is only for a relay on this host",
        "notifiers.mail.from: `not an address` is not a sender address",
        "notifiers.mail.to: schedule:nope names no schedule",
        "notifiers.mail.to: `also not an address` is not an email address",
        "notifiers.mail.to: `bob` is not a Discord user id",
        "notifiers.mail.password: secrets never go in this file",
    ] {
        assert!(err.contains(expected), "{expected:?} in {err}");
    }
    assert!(
        !err.contains("hunter2"),
        "a pasted password is not echoed: {err}"
    );
}
