//! The post-mortem's recovery log (issue 15 point 5), on both backends and a controlled clock:
//! an incident with a recorded restore, approved commands that really ran and a partly
//! ticked checklist exports every one of those facts — the backup restored from, the window
//! of data lost against the RPO, each command with its (redacted) parameters, requester,
//! approver, exit code and duration, who verified which item when, the total duration and
//! the time to mitigate — in Markdown, JSON and HTML, with what people typed escaped and no
//! secret shown; an incident with nothing recorded shows a prompt for each fact instead.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use warroom::config::Environment;
use warroom::domain::{Actor, Clock, IncidentId, ManualClock, Source, Timestamp, format_duration};
use warroom::export::Format;
use warroom::ops::{
    Commands, OpenRequest, Ops, Principal, Requested, RpoRequest, RunRequest, rpo_at,
};
use warroom::runner::{CatalogHandle, Runner, RunnerSettings};

use crate::on_both_backends;
use crate::support::{TestDb, operator};

on_both_backends!(
    a_recorded_recovery_exports_its_log_in_every_format,
    an_incident_with_nothing_recorded_shows_a_prompt_for_each_fact,
);

const START: Timestamp = Timestamp::from_millis(1_800_000_000_000);
const MINUTE: Duration = Duration::from_secs(60);

fn at(minutes: u32) -> Timestamp {
    START.plus(MINUTE * minutes)
}

fn person(id: u64, name: &str, roles: &[&str]) -> Principal {
    Principal::new(
        Actor::discord(id, name),
        roles.iter().map(|role| (*role).to_owned()),
    )
}

/// Ops on a manual clock with the test catalog (`restore`, `echo`, ...) of `runs.rs`.
async fn ops_with_commands(db: &TestDb, clock: Arc<ManualClock>) -> Ops {
    let log = db.dir.path().join("argv.log");
    let catalog = crate::runs::catalog(db.dir.path(), &log);
    let config = db.config();
    let handle =
        CatalogHandle::load(&catalog, config.bot_role_names()).expect("the test catalog loads");
    let runner = Runner::new(
        RunnerSettings::from_config(&config.commands),
        Environment::default(),
    );
    let commands = Commands {
        catalog: Arc::new(handle),
        runner: Arc::new(runner),
        output_dir: db.dir.path().join("output"),
        instance: "recovery-test".to_owned(),
    };
    Ops::new(db.store().await, Arc::new(config), clock as Arc<dyn Clock>).with_commands(commands)
}

/// The three exports of `id`: Markdown, JSON (parsed) and HTML.
async fn exports(ops: &Ops, who: &Principal, id: IncidentId) -> (String, Value, String) {
    let mut out = Vec::new();
    for format in [Format::Markdown, Format::Json, Format::Html] {
        let mut bytes = Vec::new();
        ops.export(who, id, format, &mut bytes).await.unwrap();
        out.push(String::from_utf8(bytes).unwrap());
    }
    let json = serde_json::from_str(&out[1]).expect("the JSON export parses");
    (out[0].clone(), json, out[2].clone())
}

fn request(command: &str, args: &str, incident: IncidentId) -> RunRequest {
    RunRequest {
        command: command.into(),
        args: args.into(),
        dry_run: false,
        incident: Some(incident),
        channel_id: None,
    }
}

fn has(text: &str, expected: &str) {
    assert!(
        text.contains(expected),
        "{expected:?} is missing from:\n{text}"
    );
}

fn lacks(text: &str, unexpected: &str) {
    assert!(
        !text.contains(unexpected),
        "{unexpected:?} should not be in:\n{text}"
    );
}

async fn a_recorded_recovery_exports_its_log_in_every_format(db: TestDb) {
    let clock = Arc::new(ManualClock::new(START));
    let ops = ops_with_commands(&db, clock.clone()).await;
    let dana = person(1, "dana", &["dba", "responder"]);
    let carl = person(3, "carl <i>ic</i>", &["incident_commander", "responder"]);
    let id = ops
        .open(
            &dana,
            Source::Discord,
            OpenRequest {
                title: "Primary <script>lost</script>".to_owned(),
                severity: "SEV1".to_owned(),
                service: Some("postgres".to_owned()),
                ..OpenRequest::default()
            },
        )
        .await
        .unwrap()
        .incident
        .id;

    // At +5m dana asks to restore a backup; carl approves at +6m; it runs.
    clock.set(at(5));
    let Requested::AwaitingApproval(restore) = ops
        .request_run(&dana, request("restore", "backup=app-1.dump", id))
        .await
        .unwrap()
    else {
        panic!("a destructive command waits for approval");
    };
    clock.set(at(6));
    ops.approve_run(&carl, restore.id).await.unwrap();
    let restored = ops.execute_run(restore.id, &mut |_| {}).await.unwrap();
    assert_eq!(restored.exit_code, Some(0));
    // Then two checks anyone may run: one with markup, one with a secret in its value.
    clock.set(at(8));
    for args in ["text=<b>rows</b>", "text=password=hunter2-hunter2"] {
        let requested = ops
            .request_run(&dana, request("echo", args, id))
            .await
            .unwrap();
        let Requested::Ready(run) = requested else {
            panic!("echo runs at once: {requested:?}");
        };
        ops.execute_run(run.id, &mut |_| {}).await.unwrap();
    }

    // The restore point: the backup of 45 minutes before the incident opened.
    clock.set(at(10));
    ops.record_rpo(
        &dana,
        id,
        RpoRequest {
            note: Some("nightly <b>app-1.dump</b> from s3".to_owned()),
            ..rpo_at(START.minus(45 * MINUTE))
        },
    )
    .await
    .unwrap();
    clock.set(at(20));
    ops.mitigate(&dana, id, None).await.unwrap();
    clock.set(at(25));
    ops.check_item(&dana, id, "pg_isready answers", false)
        .await
        .unwrap();
    clock.set(at(30));
    ops.check_item(&carl, id, "the API can read and write", false)
        .await
        .unwrap();
    clock.set(at(45));
    ops.resolve(&carl, id, None).await.unwrap();

    let (markdown, json, html) = exports(&ops, &operator("x"), id).await;
    let log = &json["recovery_log"];

    // JSON: every fact, as data.
    assert_eq!(
        log["restore"]["restored_from"],
        serde_json::json!(START.minus(45 * MINUTE))
    );
    assert_eq!(log["restore"]["no_data_lost"], false);
    assert_eq!(log["restore"]["note"], "nightly <b>app-1.dump</b> from s3");
    assert_eq!(log["restore"]["recorded_by"]["name"], "dana");
    assert_eq!(log["restore"]["recorded_at"], serde_json::json!(at(10)));
    assert_eq!(log["data_lost"]["none"], false);
    assert_eq!(log["data_lost"]["window_ms"], 45 * 60 * 1000);
    assert_eq!(log["data_lost"]["rpo_ms"], 3_600_000);
    assert_eq!(log["data_lost"]["result"], "met");
    assert_eq!(log["data_lost"]["to"], serde_json::json!(START));
    let commands = log["commands"].as_array().unwrap();
    assert_eq!(commands.len(), 3, "{log}");
    let first = &commands[0];
    assert_eq!(first["run"], 1);
    assert_eq!(first["command"], "restore");
    assert_eq!(first["params"]["backup"], "app-1.dump");
    assert_eq!(first["requested_by"]["name"], "dana");
    assert_eq!(first["approvers"][0]["name"], "carl <i>ic</i>");
    assert_eq!(first["exit_code"], 0);
    assert_eq!(first["result"], "exit 0");
    assert_eq!(first["finished_at"], serde_json::json!(at(6)));
    let took = first["duration_ms"].as_u64().expect("the run's duration");
    assert_eq!(commands[1]["params"]["text"], "<b>rows</b>");
    assert_eq!(commands[2]["params"]["text"], "password=[redacted]");
    assert_eq!(
        json["commands"][0]["params"]["backup"], "app-1.dump",
        "the commands list carries the parameters too"
    );
    let checklist = log["checklist"].as_array().unwrap();
    assert_eq!(checklist.len(), 4);
    assert_eq!(checklist[0]["item"], "pg_isready answers");
    assert_eq!(checklist[0]["verified"], true);
    assert_eq!(checklist[0]["by"]["name"], "dana");
    assert_eq!(checklist[0]["at"], serde_json::json!(at(25)));
    assert_eq!(checklist[1]["verified"], false);
    assert_eq!(checklist[1]["by"], Value::Null);
    assert_eq!(checklist[3]["by"]["name"], "carl <i>ic</i>");
    assert_eq!(log["duration"]["total_ms"], 45 * 60 * 1000);
    assert_eq!(log["duration"]["time_to_mitigate_ms"], 20 * 60 * 1000);
    let prompts: Vec<&String> = log["prompts"].as_object().unwrap().keys().collect();
    assert_eq!(
        prompts,
        ["checklist"],
        "only the unverified items are left to people: {log}"
    );

    // Markdown.
    has(&markdown, "## Recovery log");
    has(
        &markdown,
        &format!(
            "| Restored from | the backup of {} |",
            START.minus(45 * MINUTE).to_human()
        ),
    );
    has(
        &markdown,
        "| Note | nightly &lt;b&gt;app-1.dump&lt;/b&gt; from s3 |",
    );
    has(
        &markdown,
        &format!("| Recorded | by dana at {} |", at(10).to_human()),
    );
    has(
        &markdown,
        &format!(
            "45m 00s: what was written between {} (the backup restored) and {} (the incident opened), against the RPO of 1h 00m 00s: met.",
            START.minus(45 * MINUTE).to_human(),
            START.to_human()
        ),
    );
    has(
        &markdown,
        &format!(
            "| RUN-1 | `restore` | backup=app-1.dump | dana | carl &lt;i&gt;ic&lt;/i&gt; | exit 0 | {} | {} |",
            format_duration(Duration::from_millis(took)),
            at(6).to_human()
        ),
    );
    has(
        &markdown,
        "| RUN-2 | `echo` | text=&lt;b&gt;rows&lt;/b&gt; | dana | not needed | exit 0 |",
    );
    has(
        &markdown,
        "| RUN-3 | `echo` | text=password=[redacted] | dana |",
    );
    has(
        &markdown,
        &format!(
            "- [x] pg_isready answers (checked by dana at {})",
            at(25).to_human()
        ),
    );
    has(
        &markdown,
        "- [ ] replication lag under 1 minute — _not verified: note who checked it and when, or why not_",
    );
    has(
        &markdown,
        &format!(
            "- [x] the API can read and write (checked by carl &lt;i&gt;ic&lt;/i&gt; at {})",
            at(30).to_human()
        ),
    );
    has(
        &markdown,
        &format!(
            "| Total (opened → resolved) | 45m 00s (from {} to {}) |",
            START.to_human(),
            at(45).to_human()
        ),
    );
    has(&markdown, "| Time to mitigate | 20m 00s |");
    for prompt in [
        "No backup restore recorded",
        "Data lost not recorded",
        "No approved command ran",
        "Not resolved yet",
        "No mitigation recorded",
    ] {
        lacks(&markdown, prompt);
        lacks(&html, prompt);
    }

    // HTML: the same facts, every text people typed escaped.
    has(&html, "<h2>Recovery log</h2>");
    has(
        &html,
        &format!(
            "<tr><th>Restored from</th><td>the backup of {}</td></tr>",
            START.minus(45 * MINUTE).human()
        ),
    );
    has(
        &html,
        "<tr><th>Note</th><td class=text>nightly &lt;b&gt;app-1.dump&lt;/b&gt; from s3</td></tr>",
    );
    has(&html, "<p>45m 00s: what was written between ");
    has(&html, "against the RPO of 1h 00m 00s: met.</p>");
    has(
        &html,
        &format!(
            "<tr><td>RUN-1</td><td><code>restore</code></td><td class=text>backup=app-1.dump</td><td>dana</td><td>carl &lt;i&gt;ic&lt;/i&gt;</td><td>exit 0</td><td>{}</td><td class=t>{}</td>",
            format_duration(Duration::from_millis(took)),
            at(6).human()
        ),
    );
    has(&html, "<td class=text>text=&lt;b&gt;rows&lt;/b&gt;</td>");
    has(
        &html,
        &format!(
            "<li>☑ pg_isready answers <span class=todo>(checked by dana at {})</span></li>",
            at(25).human()
        ),
    );
    has(
        &html,
        "<li>☐ replication lag under 1 minute <span class=todo>— not verified: note who checked it and when, or why not</span></li>",
    );
    has(&html, "<tr><th>Time to mitigate</th><td>20m 00s</td></tr>");
    has(
        &html,
        &format!(
            "<tr><th>Total (opened → resolved)</th><td>45m 00s (from {} to {})</td></tr>",
            START.human(),
            at(45).human()
        ),
    );
    for text in [&html, &markdown] {
        lacks(text, "<script");
        lacks(text, "<b>");
        lacks(text, "<i>");
    }
    lacks(&html, "<b>rows");
    for text in [&markdown, &html, &json.to_string()] {
        lacks(text, "hunter2");
    }
}

async fn an_incident_with_nothing_recorded_shows_a_prompt_for_each_fact(db: TestDb) {
    let clock = Arc::new(ManualClock::new(START));
    let ops = Ops::new(db.store().await, Arc::new(db.config()), clock.clone());
    let who = operator("alice");
    let open = |service: Option<&str>| OpenRequest {
        title: "Something is off".to_owned(),
        severity: "SEV3".to_owned(),
        service: service.map(str::to_owned),
        ..OpenRequest::default()
    };
    // Open, no service, nothing done.
    let bare = ops
        .open(&who, Source::Cli, open(None))
        .await
        .unwrap()
        .incident
        .id;
    clock.set(at(3));
    let (markdown, json, html) = exports(&ops, &who, bare).await;
    let log = &json["recovery_log"];
    assert_eq!(log["restore"], Value::Null);
    assert_eq!(log["data_lost"], Value::Null);
    assert_eq!(log["commands"], serde_json::json!([]));
    assert_eq!(log["checklist"], serde_json::json!([]));
    assert_eq!(log["duration"]["total_ms"], Value::Null);
    assert_eq!(log["duration"]["time_to_mitigate_ms"], Value::Null);
    let prompts = log["prompts"].as_object().unwrap();
    let parts: Vec<&String> = prompts.keys().collect();
    assert_eq!(
        parts,
        [
            "checklist",
            "commands",
            "data_lost",
            "restore",
            "time_to_mitigate",
            "total_duration"
        ]
    );
    assert!(prompts["restore"].as_str().unwrap().starts_with(
        "No backup restore recorded. If data was restored, note from where and the window lost"
    ));
    for prompt in [
        "_No backup restore recorded. If data was restored, note from where and the window lost (`/incident rpo restored_from:<time of the backup> note:<which backup>`); if none was lost, record `/incident rpo no_data_lost:true`._",
        "_Data lost not recorded. Say how much data was lost (written between which times), or that none was._",
        "_No approved command ran for this incident. If recovery steps were taken by hand, list each here: what was run, by whom, when, and its result._",
        "_No validation checklist is configured for this incident's service. Note here how recovery was verified, by whom and when._",
        "| Total (opened → resolved) | _Not resolved yet: the total duration is known once it is resolved._ |",
        "| Time to mitigate | _No mitigation recorded: note when the impact stopped._ |",
    ] {
        has(&markdown, prompt);
    }
    for prompt in [
        "<p class=todo>No backup restore recorded. If data was restored, note from where and the window lost (`/incident rpo restored_from:&lt;time of the backup&gt; note:&lt;which backup&gt;`)",
        "<p class=todo>Data lost not recorded.",
        "<p class=todo>No approved command ran for this incident.",
        "<p class=todo>No validation checklist is configured for this incident&#39;s service.",
        "<tr><th>Total (opened → resolved)</th><td class=todo>Not resolved yet",
        "<tr><th>Time to mitigate</th><td class=todo>No mitigation recorded",
    ] {
        has(&html, prompt);
    }

    // Resolved with "no data lost" recorded and no restore note: the loss is none, met.
    let quiet = ops
        .open(&who, Source::Cli, open(Some("postgres")))
        .await
        .unwrap()
        .incident
        .id;
    clock.set(at(4));
    ops.record_rpo(
        &who,
        quiet,
        RpoRequest {
            no_data_lost: true,
            ..RpoRequest::default()
        },
    )
    .await
    .unwrap();
    clock.set(at(13));
    ops.resolve(&who, quiet, None).await.unwrap();
    let (markdown, json, html) = exports(&ops, &who, quiet).await;
    let log = &json["recovery_log"];
    assert_eq!(log["restore"]["no_data_lost"], true);
    assert_eq!(log["data_lost"]["none"], true);
    assert_eq!(log["data_lost"]["window_ms"], 0);
    assert_eq!(log["data_lost"]["result"], "met");
    assert_eq!(log["duration"]["total_ms"], 10 * 60 * 1000);
    has(&markdown, "| Restored from | nothing: no data lost |");
    has(
        &markdown,
        "| Note | _which backup (file, snapshot) was not noted: add it here_ |",
    );
    has(
        &markdown,
        "None: no data lost (recorded by alice), against the RPO of 1h 00m 00s: met.",
    );
    has(&markdown, "| Total (opened → resolved) | 10m 00s (from ");
    has(
        &markdown,
        "- [ ] pg_isready answers — _not verified: note who checked it and when, or why not_",
    );
    lacks(&markdown, "No backup restore recorded");
    has(
        &html,
        "<p>None: no data lost (recorded by alice), against the RPO of 1h 00m 00s: met.</p>",
    );
}
