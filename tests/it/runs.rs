//! Runs of approved commands through `ops`, with real processes, on both backends: two-person
//! approval, refusals that run nothing, expiry, at most one start across two processes, and
//! lock keys that keep runs on one target apart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use warroom::config::Environment;
use warroom::domain::{
    Actor, Clock, EventKind, IncidentId, ManualClock, RunId, RunState, Source, SystemClock,
    Timestamp,
};
use warroom::ops::{Commands, OpenRequest, Ops, OpsError, Principal, Requested, RunRequest};
use warroom::runner::{CatalogHandle, Runner, RunnerSettings};

use crate::on_both_backends;
use crate::runner::{PYTHON, print_argv_script};
use crate::support::TestDb;

on_both_backends!(
    a_destructive_run_needs_a_second_person_and_runs_once,
    refused_requests_run_nothing_and_record_only_the_refusal,
    an_expired_request_cannot_be_approved,
    two_processes_start_one_run_at_most_once,
    runs_with_one_lock_key_never_overlap,
    a_run_whose_process_died_is_recorded_as_lost,
);

/// The test catalog: `echo` (anyone responding, no approval), `restore` (dba, destructive,
/// one incident_commander approval, incidents only, locked), `pause` (sleeps, locked).
pub(crate) fn catalog(dir: &Path, log: &Path) -> PathBuf {
    let catalog = dir.join("commands");
    std::fs::create_dir_all(&catalog).unwrap();
    let script = print_argv_script();
    let script = script.display();
    let log = log.display();
    std::fs::write(
        catalog.join("echo.toml"),
        format!(
            r#"name = "echo"
description = "Prints its argument"
program = "{PYTHON}"
args = ["{script}", "{{text}}"]
allowed_roles = ["responder"]
risk = "read_only"
timeout = "30s"
env = {{ ARGV_LOG = "{log}" }}
[params.text]
kind = "string"
description = "Anything"
pattern = '^.{{1,1000}}$'
"#
        ),
    )
    .unwrap();
    std::fs::write(
        catalog.join("restore.toml"),
        format!(
            r#"name = "restore"
description = "Restores a backup (a stand-in that prints its argv)"
program = "{PYTHON}"
args = ["{script}", "restore", "{{backup}}"]
dry_run_args = ["{script}", "list", "{{backup}}"]
allowed_roles = ["dba"]
risk = "destructive"
approval = {{ approvers = 1, roles = ["incident_commander"], expires = "10m" }}
timeout = "30s"
lock = "db:app"
requires_incident = true
env = {{ ARGV_LOG = "{log}" }}
[params.backup]
kind = "string"
description = "The backup file"
pattern = '^[a-z0-9-]{{1,40}}\.dump$'
"#
        ),
    )
    .unwrap();
    std::fs::write(
        catalog.join("pause.toml"),
        r#"name = "pause"
description = "Sleeps a little, holding the lock"
program = "/usr/bin/sleep"
args = ["{seconds}"]
allowed_roles = ["responder"]
risk = "read_only"
timeout = "30s"
lock = "target:one"
[params.seconds]
kind = "int"
description = "How long"
min = 1
max = 5
"#,
    )
    .unwrap();
    catalog
}

struct Setup {
    log: PathBuf,
    catalog: PathBuf,
}

fn setup(db: &TestDb) -> Setup {
    let log = db.dir.path().join("argv.log");
    let catalog = catalog(db.dir.path(), &log);
    Setup { log, catalog }
}

/// Ops as one `warroom run` process has them: with its own store connection and runner.
async fn process(db: &TestDb, setup: &Setup, clock: Arc<dyn Clock>, name: &str) -> Ops {
    let config = db.config();
    let handle = CatalogHandle::load(&setup.catalog, config.bot_role_names())
        .expect("the test catalog loads");
    let runner = Runner::new(
        RunnerSettings::from_config(&config.commands),
        Environment::default(),
    );
    let commands = Commands {
        catalog: Arc::new(handle),
        runner: Arc::new(runner),
        output_dir: db.dir.path().join("output"),
        instance: name.to_owned(),
    };
    Ops::new(db.store().await, Arc::new(config), clock).with_commands(commands)
}

fn person(id: u64, name: &str, roles: &[&str]) -> Principal {
    Principal::new(
        Actor::discord(id, name),
        roles.iter().map(|role| (*role).to_owned()),
    )
}

fn ran(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn incident(ops: &Ops) -> IncidentId {
    let request = OpenRequest {
        title: "Database corrupted".into(),
        severity: "SEV1".into(),
        ..OpenRequest::default()
    };
    ops.open(&person(9, "ivy", &["responder"]), Source::Discord, request)
        .await
        .unwrap()
        .incident
        .id
}

fn request(command: &str, args: &str, incident: Option<IncidentId>) -> RunRequest {
    RunRequest {
        command: command.into(),
        args: args.into(),
        dry_run: false,
        incident,
        channel_id: None,
    }
}

async fn a_destructive_run_needs_a_second_person_and_runs_once(db: TestDb) {
    let setup = setup(&db);
    let ops = process(&db, &setup, Arc::new(SystemClock), "A").await;
    let id = incident(&ops).await;
    let dana = person(1, "dana", &["dba"]);
    let rita = person(2, "rita", &["responder"]);
    let carl = person(3, "carl", &["incident_commander"]);

    let no_incident = ops
        .request_run(&dana, request("restore", "backup=app-1.dump", None))
        .await
        .unwrap_err();
    assert!(
        no_incident
            .to_string()
            .contains("runs only for an incident"),
        "{no_incident}"
    );
    let Requested::AwaitingApproval(run) = ops
        .request_run(&dana, request("restore", "backup=app-1.dump", Some(id)))
        .await
        .unwrap()
    else {
        panic!("a destructive command waits for approval");
    };
    assert_eq!(
        run.argv,
        [
            print_argv_script().display().to_string(),
            "restore".into(),
            "app-1.dump".into()
        ]
    );
    assert_eq!(run.lock_key.as_deref(), Some("db:app"));

    let own = ops.approve_run(&dana, run.id).await.unwrap_err();
    assert!(
        own.to_string()
            .contains("you requested RUN-1, so you cannot approve it"),
        "{own}"
    );
    let outsider = ops.approve_run(&rita, run.id).await.unwrap_err();
    assert!(
        matches!(outsider, OpsError::Forbidden { .. }),
        "{outsider:?}"
    );
    let early = ops.execute_run(run.id, &mut |_| {}).await.unwrap_err();
    assert!(
        early
            .to_string()
            .contains("is requested, so it will not start"),
        "{early}"
    );
    assert!(ran(&setup.log).is_empty(), "nothing runs before approval");

    let approved = ops.approve_run(&carl, run.id).await.unwrap();
    assert_eq!(approved.state, RunState::Approved);
    let mut streamed = String::new();
    let finished = ops
        .execute_run(run.id, &mut |progress| {
            if let warroom::runner::Progress::Output { text, .. } = progress {
                streamed.push_str(&text);
            }
        })
        .await
        .unwrap();
    assert_eq!(finished.state, RunState::Succeeded);
    assert_eq!(finished.exit_code, Some(0));
    assert!(
        streamed.contains(r#"["restore", "app-1.dump"]"#),
        "{streamed}"
    );
    assert_eq!(ran(&setup.log), [r#"["restore", "app-1.dump"]"#]);

    let again = ops.execute_run(run.id, &mut |_| {}).await.unwrap_err();
    assert!(again.to_string().contains("is succeeded"), "{again}");
    assert_eq!(ran(&setup.log).len(), 1, "a run executes once");

    // The timeline and the audit hold request → approval → start → finish, with the output's hash.
    let timeline = ops.timeline_page(&rita, id, 0).await.unwrap();
    let kinds: Vec<EventKind> = timeline.iter().map(|event| event.kind).skip(1).collect();
    assert_eq!(
        kinds,
        [
            EventKind::CommandRequested,
            EventKind::CommandApproved,
            EventKind::CommandStarted,
            EventKind::CommandFinished
        ]
    );
    let finish = timeline.last().unwrap();
    let file = std::fs::read(finished.output_file.as_ref().unwrap()).unwrap();
    assert_eq!(
        finish.data["output_sha256"],
        hex::encode(Sha256::digest(&file))
    );
    assert_eq!(finish.data["values"]["backup"], "app-1.dump");
    assert_eq!(finish.data["requested_by"]["id"], "discord:1");
    assert_eq!(finish.data["approvals"][0]["by"]["id"], "discord:3");
    let mut markdown = Vec::new();
    ops.export(&rita, id, warroom::export::Format::Markdown, &mut markdown)
        .await
        .unwrap();
    let markdown = String::from_utf8(markdown).unwrap();
    assert!(
        markdown.contains("| RUN-1 | `restore` | dana | carl | exit 0 |"),
        "the post-mortem lists the run: {markdown}"
    );
    let (_, audit) = ops.show_run(run.id).await.unwrap();
    let audit_kinds: Vec<&str> = audit.iter().map(|entry| entry.kind.as_str()).collect();
    assert_eq!(
        audit_kinds,
        [
            "command_requested",
            "command_approved",
            "command_started",
            "command_finished"
        ]
    );
}

async fn refused_requests_run_nothing_and_record_only_the_refusal(db: TestDb) {
    let setup = setup(&db);
    let ops = process(&db, &setup, Arc::new(SystemClock), "A").await;
    let id = incident(&ops).await;
    let rita = person(2, "rita", &["responder"]);

    let before = db.snapshot().await;
    let Requested::Denied(denied) = ops
        .request_run(&rita, request("restore", "backup=app-1.dump", Some(id)))
        .await
        .unwrap()
    else {
        panic!("a responder may not restore");
    };
    assert!(
        denied
            .reason
            .as_deref()
            .unwrap()
            .contains("you need one of the roles `dba`"),
        "{:?}",
        denied.reason
    );
    let after = db.snapshot().await;
    let added: Vec<&str> = after
        .lines()
        .filter(|line| !before.contains(line))
        .collect();
    assert!(
        added.iter().any(|line| line.contains("command_denied")),
        "{added:?}"
    );
    assert!(
        added
            .iter()
            .all(|line| !line.contains("command_requested") && !line.contains("command_started")),
        "{added:?}"
    );

    let mut literal = 0;
    let mut refused = 0;
    for value in crate::runner::hostile::hostile_values() {
        let args = format!(
            "text=\"{}\"",
            value.replace('\\', "\\\\").replace('"', "\\\"")
        );
        let runs_before = ran(&setup.log).len();
        match ops
            .request_run(&rita, request("echo", &args, Some(id)))
            .await
            .unwrap()
        {
            Requested::Denied(run) => {
                refused += 1;
                let reason = run.reason.unwrap();
                assert!(!reason.is_empty(), "{value:?} was refused without a reason");
                assert_eq!(
                    ran(&setup.log).len(),
                    runs_before,
                    "{value:?} was refused but something ran"
                );
            }
            Requested::Ready(run) => {
                literal += 1;
                let finished = ops.execute_run(run.id, &mut |_| {}).await.unwrap();
                assert_eq!(finished.state, RunState::Succeeded, "{value:?}");
                let line = ran(&setup.log).last().cloned().unwrap();
                let argv: Vec<String> = serde_json::from_str(&line).unwrap();
                assert_eq!(
                    argv,
                    std::slice::from_ref(&value),
                    "{value:?} did not arrive as one literal element"
                );
            }
            Requested::AwaitingApproval(_) => panic!("echo needs no approval"),
        }
    }
    assert!(
        literal > 0 && refused > 0,
        "{literal} literal, {refused} refused"
    );
}

async fn an_expired_request_cannot_be_approved(db: TestDb) {
    let setup = setup(&db);
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_800_000_000_000)));
    let ops = process(&db, &setup, clock.clone(), "A").await;
    let id = incident(&ops).await;
    let Requested::AwaitingApproval(run) = ops
        .request_run(
            &person(1, "dana", &["dba"]),
            request("restore", "backup=app-1.dump", Some(id)),
        )
        .await
        .unwrap()
    else {
        panic!("waits for approval");
    };
    clock.advance(Duration::from_secs(10 * 60));
    let late = ops
        .approve_run(&person(3, "carl", &["incident_commander"]), run.id)
        .await
        .unwrap_err();
    assert!(
        late.to_string()
            .contains("RUN-1 expired before it was approved"),
        "{late}"
    );
    let (run, audit) = ops.show_run(run.id).await.unwrap();
    assert_eq!(run.state, RunState::Expired);
    assert_eq!(audit.last().unwrap().kind, "command_expired");
    assert!(ops.execute_run(run.id, &mut |_| {}).await.is_err());
    assert!(ran(&setup.log).is_empty());
    // The sweep finds nothing more to expire.
    assert!(ops.sweep_runs().await.unwrap().is_empty());
}

async fn two_processes_start_one_run_at_most_once(db: TestDb) {
    let setup = setup(&db);
    let first = process(&db, &setup, Arc::new(SystemClock), "A").await;
    let second = process(&db, &setup, Arc::new(SystemClock), "B").await;
    let rita = person(2, "rita", &["responder"]);
    for attempt in 0..5 {
        let Requested::Ready(run) = first
            .request_run(
                &rita,
                request("echo", &format!("text=attempt-{attempt}"), None),
            )
            .await
            .unwrap()
        else {
            panic!("echo is ready at once");
        };
        let (mut quiet_a, mut quiet_b) = (|_| {}, |_| {});
        let (a, b) = tokio::join!(
            first.execute_run(run.id, &mut quiet_a),
            second.execute_run(run.id, &mut quiet_b)
        );
        assert_eq!(
            usize::from(a.is_ok()) + usize::from(b.is_ok()),
            1,
            "exactly one process ran {}: {a:?} / {b:?}",
            run.id
        );
    }
    assert_eq!(ran(&setup.log).len(), 5, "five runs, five processes");
}

async fn runs_with_one_lock_key_never_overlap(db: TestDb) {
    let setup = setup(&db);
    let first = process(&db, &setup, Arc::new(SystemClock), "A").await;
    let second = process(&db, &setup, Arc::new(SystemClock), "B").await;
    let rita = person(2, "rita", &["responder"]);
    let mut ids: Vec<RunId> = Vec::new();
    for _ in 0..2 {
        let Requested::Ready(run) = first
            .request_run(&rita, request("pause", "seconds=1", None))
            .await
            .unwrap()
        else {
            panic!("pause is ready at once");
        };
        ids.push(run.id);
    }
    let (mut quiet_a, mut quiet_b) = (|_| {}, |_| {});
    let (a, b) = tokio::join!(
        first.execute_run(ids[0], &mut quiet_a),
        second.execute_run(ids[1], &mut quiet_b)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (a.state, b.state),
        (RunState::Succeeded, RunState::Succeeded)
    );
    let (earlier, later) = if a.started_at <= b.started_at {
        (a, b)
    } else {
        (b, a)
    };
    assert!(
        earlier.finished_at.unwrap() <= later.started_at.unwrap(),
        "runs on one lock overlapped: {earlier:?} {later:?}"
    );
}

async fn a_run_whose_process_died_is_recorded_as_lost(db: TestDb) {
    let setup = setup(&db);
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_800_000_000_000)));
    let ops = process(&db, &setup, clock.clone(), "A").await;
    let rita = person(2, "rita", &["responder"]);
    let Requested::Ready(run) = ops
        .request_run(&rita, request("pause", "seconds=1", None))
        .await
        .unwrap()
    else {
        panic!("pause is ready at once");
    };
    // A process claims it and dies before finishing (only the claim is written).
    let start = warroom::domain::NewEvent::new(
        clock.now(),
        EventKind::CommandStarted,
        Actor::system(),
        "started",
    );
    let claim = ops
        .store()
        .claim_run(
            run.id,
            "dead process",
            clock.now(),
            clock.now().plus(Duration::from_secs(90)),
            start,
        )
        .await
        .unwrap();
    assert!(matches!(claim, warroom::store::RunClaim::Claimed(_)));
    assert!(
        ops.sweep_runs().await.unwrap().is_empty(),
        "its claim still holds"
    );
    clock.advance(Duration::from_secs(91));
    let lost = ops.sweep_runs().await.unwrap();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].state, RunState::Failed);
    assert!(
        lost[0].reason.as_deref().unwrap().contains("dead process"),
        "{:?}",
        lost[0].reason
    );
    // Its lock is free again.
    let Requested::Ready(next) = ops
        .request_run(&rita, request("pause", "seconds=1", None))
        .await
        .unwrap()
    else {
        panic!()
    };
    let store = ops.store().clone();
    let start = warroom::domain::NewEvent::new(
        clock.now(),
        EventKind::CommandStarted,
        Actor::system(),
        "started",
    );
    assert!(matches!(
        store
            .claim_run(
                next.id,
                "B",
                clock.now(),
                clock.now().plus(Duration::from_secs(90)),
                start
            )
            .await
            .unwrap(),
        warroom::store::RunClaim::Claimed(_)
    ));
}
