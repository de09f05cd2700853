//! Status updates by email (issue 15 point 4), against a real SMTP server: an email notifier
//! with `status_updates = true` sends each recipient the update of a public incident through
//! the durable `status_update` timer — subject `[INC-1 mitigated] Title`, the title, status,
//! severity, service, text and time in plain text and in HTML (escaped), no acknowledgement
//! link, and one Message-ID per (incident, seq) on every copy; a second timer engine sends
//! nothing more; a private incident's update emails nobody. The config accepts the key on
//! email and still refuses it, saying where it goes, on notifiers that page through a service.

use warroom::config::{Config, Environment};
use warroom::domain::{Clock, EventKind, Timestamp};
use warroom::ops::timers::{Timers, handlers};
use warroom::ops::{OpenRequest, STATUS_UPDATE_TIMER};

use super::{Rig, SmtpSink, wait_for_mail};
use crate::on_both_backends;
use crate::support::{TestDb, operator};

on_both_backends!(a_status_update_reaches_every_email_recipient_once,);

const START: &str = "2026-03-02T10:00:00Z";
const ALICE: u64 = 200_000_000_000_000_001;

fn toml(smtp_port: u16) -> String {
    format!(
        r#"
[people."{ALICE}"]
name = "Alice Example"
email = "alice@example.com"

[notifiers.stakeholders]
kind = "email"
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "warroom <warroom@status.example.com>"
to = ["user:{ALICE}", "execs@example.com"]
timeout = "5s"
max_attempts = 2
status_updates = true
"#
    )
}

async fn a_status_update_reaches_every_email_recipient_once(db: TestDb) {
    let Some(sink) = SmtpSink::start(None).await else {
        return;
    };
    let start = Timestamp::parse_rfc3339(START).unwrap();
    let rig = Rig::start(db, &toml(sink.port), &[], start).await;
    let who = operator("alice");
    let open = |title: &str, private: bool| OpenRequest {
        title: title.to_owned(),
        severity: "SEV2".to_owned(),
        service: Some("api".to_owned()),
        private,
        ..OpenRequest::default()
    };
    let secret = rig
        .ops
        .open(
            &who,
            warroom::domain::Source::Cli,
            open("Vendor <secret>", true),
        )
        .await
        .unwrap()
        .incident
        .id;
    rig.ops
        .post_status_update(&who, secret, "nobody outside hears this")
        .await
        .unwrap();
    let id = rig
        .ops
        .open(
            &who,
            warroom::domain::Source::Cli,
            open("Checkout <b>down</b>", false),
        )
        .await
        .unwrap()
        .incident
        .id;
    rig.ops.mitigate(&who, id, None).await.unwrap();
    rig.advance(super::MINUTE).await;
    rig.ops
        .post_status_update(&who, id, "Rolled back <script>alert(1)</script>; watching")
        .await
        .unwrap();
    let update = rig
        .ops
        .store()
        .timeline_page(id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|event| event.kind == EventKind::StatusUpdate)
        .expect("the update is on the timeline");

    // Two timer engines (two processes) look; the update goes out once to each recipient.
    let now = rig.clock.now();
    let a = Timers::new(rig.ops.clone(), handlers());
    let b = Timers::new(rig.ops.clone(), handlers());
    a.tick(now).await.unwrap();
    b.tick(now).await.unwrap();
    let mail = wait_for_mail(&sink, 2).await;
    assert!(
        rig.ops
            .store()
            .pending_timers(STATUS_UPDATE_TIMER)
            .await
            .unwrap()
            .is_empty()
    );
    a.tick(now).await.unwrap();
    assert_eq!(
        sink.messages().len(),
        2,
        "one email per recipient: {mail:?}"
    );

    let expected_id = format!("<status.{}.{}@status.example.com>", id.0, update.seq);
    let mut recipients = Vec::new();
    for message in &mail {
        recipients.push(message["rcpt_tos"][0].as_str().unwrap().to_owned());
        assert_eq!(message["mail_from"], "warroom@status.example.com");
        assert_eq!(message["content_type"], "multipart/alternative");
        assert_eq!(
            message["subject"],
            format!("[{id} mitigated] Checkout <b>down</b>"),
            "{message}"
        );
        assert_eq!(message["message_id"], expected_id, "{message}");
        assert_eq!(
            message["references"],
            format!("<incident.{}@status.example.com>", id.0)
        );
        let text = message["text"].as_str().unwrap();
        for expected in [
            "Status update on INC-2 (mitigated): Checkout <b>down</b>",
            "Rolled back <script>alert(1)</script>; watching",
            "Incident: INC-2: Checkout <b>down</b>",
            "Status: mitigated",
            "Severity: SEV2",
            "Service: api",
            &format!("Posted: {}", update.at.to_human()),
        ] {
            assert!(text.contains(expected), "{expected:?} in {text}");
        }
        assert!(!text.contains("/ack/"), "no acknowledgement link: {text}");
        let html = message["html"].as_str().unwrap();
        assert!(
            html.contains("Rolled back &lt;script&gt;alert(1)&lt;/script&gt;; watching"),
            "{html}"
        );
        assert!(html.contains("Checkout &lt;b&gt;down&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<script") && !html.contains("<b>"), "{html}");
        let all = message.to_string();
        assert!(!all.contains("nobody outside") && !all.contains("Vendor"));
    }
    recipients.sort();
    assert_eq!(recipients, ["alice@example.com", "execs@example.com"]);
}

#[test]
fn status_updates_are_taken_by_email_and_refused_where_a_service_pages() {
    let db = TestDb::sqlite();
    let accepted = Config::load(&db.write_config(&toml(2525)), &Environment::default())
        .unwrap_or_else(|error| panic!("{error}"));
    let email = accepted
        .notifiers
        .iter()
        .find(|notifier| notifier.name == "stakeholders")
        .unwrap();
    assert!(email.status_updates);

    let refused = Config::load(
        &db.write_config(
            "[notifiers.pd-updates]\nkind = \"pagerduty\"\nrouting_key_env = \"PD_KEY\"\nstatus_updates = true\n",
        ),
        &Environment::default(),
    )
    .expect_err("status updates on PagerDuty are refused");
    let message = refused.to_string();
    assert!(
        message.contains("notifiers.pd-updates.status_updates")
            && message
                .contains("set it on a webhook, slack_webhook, discord_webhook or email notifier"),
        "{message}"
    );
}
