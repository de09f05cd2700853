//! Runs of approved commands through `ops`, with real processes, on both backends: two-person
//! approval, refusals that run nothing, expiry, at most one start across two processes, and
//! lock keys that keep runs on one target apart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use warroom::config::Environment;
use warroom::domain::{
    Actor, Clock, EventKind, IncidentId, ManualClock, RunId, RunRefusal, RunState, Source,
    SystemClock, Timestamp,
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
    an_expired_request_is_refused_alike_once_the_sweep_recorded_it,
    two_processes_start_one_run_at_most_once,
    runs_with_one_lock_key_never_overlap,
    a_run_whose_process_died_is_recorded_as_lost,
    a_duration_value_still_binds_when_the_approved_run_starts,
    a_catalog_change_after_the_request_refuses_the_start_and_says_what_changed,
    a_request_for_an_unknown_incident_is_not_found_and_writes_nothing,
    unknown_commands_and_missing_incidents_are_refusals_on_record,
    values_that_look_like_secrets_never_show_in_clear,
    a_shutdown_waits_for_runs_then_interrupts_and_records_the_rest,
);

/// The secret the `echo-token` command gets from warroom's environment.
const TOKEN: &str = "tok-5e3c7a91b2d4f6e8";

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
    more_commands(&catalog, &log);
    Setup { log, catalog }
}

/// Commands only these stories use (the Discord and HTTP stories share `catalog`):
/// `echo-token` (holds a secret from warroom's environment), `snooze` (a duration, one
/// incident_commander approval).
fn more_commands(catalog: &Path, log: &Path) {
    let script = print_argv_script();
    let script = script.display();
    let log = log.display();
    std::fs::write(
        catalog.join("echo-token.toml"),
        format!(
            r#"name = "echo-token"
description = "Prints its argument, holding a secret"
program = "{PYTHON}"
args = ["{script}", "{{text}}"]
allowed_roles = ["responder"]
risk = "read_only"
timeout = "30s"
env = {{ ARGV_LOG = "{log}", TOKEN = {{ from_env = "WARROOM_TEST_TOKEN" }} }}
[params.text]
kind = "string"
description = "Anything"
pattern = '^.{{1,1000}}$'
"#
        ),
    )
    .unwrap();
    std::fs::write(
        catalog.join("snooze.toml"),
        format!(
            r#"name = "snooze"
description = "Silences for a while (a stand-in that prints its argv)"
program = "{PYTHON}"
args = ["{script}", "--for={{window}}s"]
allowed_roles = ["responder"]
risk = "mutating"
approval = {{ approvers = 1, roles = ["incident_commander"], expires = "10m" }}
timeout = "30s"
env = {{ ARGV_LOG = "{log}" }}
[params.window]
kind = "duration"
description = "How long"
min = "1m"
max = "2h"
"#
        ),
    )
    .unwrap();
}

/// Ops as one `warroom run` process has them: with its own store connection and runner.
async fn process(db: &TestDb, setup: &Setup, clock: Arc<dyn Clock>, name: &str) -> Ops {
    process_with(db, setup, clock, name, |_| {}).await
}

/// `process`, with runner settings changed by `adjust`.
async fn process_with(
    db: &TestDb,
    setup: &Setup,
    clock: Arc<dyn Clock>,
    name: &str,
    adjust: impl FnOnce(&mut RunnerSettings),
) -> Ops {
    let config = db.config();
    let handle = CatalogHandle::load(&setup.catalog, config.bot_role_names())
        .expect("the test catalog loads");
    let mut settings = RunnerSettings::from_config(&config.commands);
    adjust(&mut settings);
    let runner = Runner::new(
        settings,
        Environment::from_pairs([("WARROOM_TEST_TOKEN", TOKEN)]),
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

    let Requested::Denied(no_incident) = ops
        .request_run(&dana, request("restore", "backup=app-1.dump", None))
        .await
        .unwrap()
    else {
        panic!("a command for incidents is refused outside one");
    };
    assert_eq!(
        no_incident.reason.as_deref(),
        Some("`restore` runs only for an incident; run it in the incident's channel")
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
            .contains("you requested RUN-2, so you cannot approve it"),
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
        markdown.contains("| RUN-2 | `restore` | backup=app-1.dump | dana | carl | exit 0 |"),
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
    let carl = person(3, "carl", &["incident_commander"]);
    let late = ops.approve_run(&carl, run.id).await.unwrap_err();
    assert!(
        matches!(late, OpsError::RunRefused(RunRefusal::Expired { .. })),
        "{late:?}"
    );
    assert!(
        late.to_string()
            .starts_with("RUN-1 expired before it was approved (its approval window closed at "),
        "{late}"
    );
    // Asked again, now that the expiry is recorded: the same answer.
    let again = ops.approve_run(&carl, run.id).await.unwrap_err();
    assert_eq!(again.to_string(), late.to_string());
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

/// Fails on main, where it answered 422 ("expired before it was approved") before the sweep
/// and 409 ("is expired, so it cannot be approved") after: now both are the same 409.
async fn an_expired_request_is_refused_alike_once_the_sweep_recorded_it(db: TestDb) {
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
    let swept = ops.sweep_runs().await.unwrap();
    assert_eq!(swept.len(), 1);
    assert_eq!(swept[0].state, RunState::Expired);
    let late = ops
        .approve_run(&person(3, "carl", &["incident_commander"]), run.id)
        .await
        .unwrap_err();
    assert!(
        matches!(late, OpsError::RunRefused(RunRefusal::Expired { .. })),
        "{late:?}"
    );
    assert!(
        late.to_string()
            .starts_with("RUN-1 expired before it was approved (its approval window closed at "),
        "{late}"
    );
}

/// Fails on main: a duration was stored as bare seconds ("5400"), which is not a duration,
/// so the approved run failed at its start.
async fn a_duration_value_still_binds_when_the_approved_run_starts(db: TestDb) {
    let setup = setup(&db);
    let ops = process(&db, &setup, Arc::new(SystemClock), "A").await;
    let Requested::AwaitingApproval(run) = ops
        .request_run(
            &person(2, "rita", &["responder"]),
            request("snooze", "window=1h30m", None),
        )
        .await
        .unwrap()
    else {
        panic!("snooze waits for approval");
    };
    assert_eq!(run.values["window"], "5400s");
    let approved = ops
        .approve_run(&person(3, "carl", &["incident_commander"]), run.id)
        .await
        .unwrap();
    assert_eq!(approved.state, RunState::Approved);
    let finished = ops.execute_run(run.id, &mut |_| {}).await.unwrap();
    assert_eq!(finished.state, RunState::Succeeded, "{:?}", finished.reason);
    assert_eq!(ran(&setup.log), [r#"["--for=5400s"]"#]);
}

/// Fails on main, where only program and argv were compared: a reload changing the
/// environment, working directory or timeout, or dropping the lock, still ran.
async fn a_catalog_change_after_the_request_refuses_the_start_and_says_what_changed(db: TestDb) {
    let setup = setup(&db);
    let ops = process(&db, &setup, Arc::new(SystemClock), "A").await;
    let id = incident(&ops).await;
    let dana = person(1, "dana", &["dba"]);
    let carl = person(3, "carl", &["incident_commander"]);
    let admin = person(4, "ada", &["admin"]);
    let file = setup.catalog.join("restore.toml");
    let original = std::fs::read_to_string(&file).unwrap();
    let edits: [(&str, &str, &str); 4] = [
        (
            "env = { ARGV_LOG",
            "env = { PGHOST = \"db.production\", ARGV_LOG",
            "the environment was [\"ARGV_LOG=",
        ),
        (
            "timeout = \"30s\"",
            "timeout = \"45s\"",
            "the timeout was 30s, is now 45s",
        ),
        (
            "lock = \"db:app\"\n",
            "",
            "the lock was \"db:app\", is now none",
        ),
        (
            "timeout = \"30s\"",
            "timeout = \"30s\"\nworkdir = \"/tmp\"",
            "the working directory was \"/\", is now \"/tmp\"",
        ),
    ];
    for (from, to, said) in edits {
        std::fs::write(&file, &original).unwrap();
        ops.reload_catalog(&admin).await.unwrap();
        let Requested::AwaitingApproval(run) = ops
            .request_run(&dana, request("restore", "backup=app-1.dump", Some(id)))
            .await
            .unwrap()
        else {
            panic!("waits for approval");
        };
        assert!(original.contains(from), "{from}");
        std::fs::write(&file, original.replacen(from, to, 1)).unwrap();
        let report = ops.reload_catalog(&admin).await.unwrap();
        assert_eq!(report.changed, ["restore"]);
        ops.approve_run(&carl, run.id).await.unwrap();
        let refused = ops.execute_run(run.id, &mut |_| {}).await.unwrap();
        assert_eq!(refused.state, RunState::Failed);
        let reason = refused.reason.clone().unwrap();
        assert!(
            reason.starts_with("`restore` changed in the catalog since it was requested ("),
            "{reason}"
        );
        assert!(reason.contains(said), "{said}: {reason}");
        assert!(
            reason.ends_with("what runs must be exactly what was approved, so request it again"),
            "{reason}"
        );
        let (_, audit) = ops.show_run(run.id).await.unwrap();
        let last = audit.last().unwrap();
        assert_eq!(last.kind, "command_finished");
        assert!(last.text.contains("did not start"), "{}", last.text);
        assert_eq!(
            audit[1].data["approvals"][0]["fingerprint"], audit[0].data["fingerprint"],
            "the approval bound what was requested"
        );
    }
    assert!(ran(&setup.log).is_empty(), "nothing ran");
}

/// Fails on main, where the insert hit the foreign key: a 503 "FOREIGN KEY constraint
/// failed" on SQLite, which tells a sender to retry forever.
async fn a_request_for_an_unknown_incident_is_not_found_and_writes_nothing(db: TestDb) {
    let setup = setup(&db);
    let ops = process(&db, &setup, Arc::new(SystemClock), "A").await;
    let before = db.snapshot().await;
    let error = ops
        .request_run(
            &person(1, "dana", &["dba"]),
            request("restore", "backup=app-1.dump", Some(IncidentId(99))),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, OpsError::NotFound(IncidentId(99))),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "INC-99 does not exist; list incidents to find the right number"
    );
    assert_eq!(db.snapshot().await, before);
    assert!(ops.show_run(RunId(1)).await.is_err(), "no run was written");
}

/// Fails on main: an unknown command and a missing incident were errors there, with no
/// record of the refusal.
async fn unknown_commands_and_missing_incidents_are_refusals_on_record(db: TestDb) {
    let setup = setup(&db);
    let ops = process(&db, &setup, Arc::new(SystemClock), "A").await;
    let dana = person(1, "dana", &["dba"]);
    let cases = [
        (
            request("restor", "backup=app-1.dump", None),
            "`restor` is not an approved command; `/commands` lists the ones you may run",
        ),
        (
            request("restore", "backup=app-1.dump", None),
            "`restore` runs only for an incident; run it in the incident's channel",
        ),
    ];
    for (asked, reason) in cases {
        let Requested::Denied(run) = ops.request_run(&dana, asked).await.unwrap() else {
            panic!("refused");
        };
        assert_eq!(run.reason.as_deref(), Some(reason));
        let (stored, audit) = ops.show_run(run.id).await.unwrap();
        assert_eq!(stored.state, RunState::Denied);
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].kind, "command_denied");
        assert!(audit[0].text.ends_with(reason), "{}", audit[0].text);
    }
    assert!(ran(&setup.log).is_empty());
}

/// Fails on main: there a value typed as an argument was shown as typed on the timeline,
/// in the audit, in exports, in refusals and in the run itself.
async fn values_that_look_like_secrets_never_show_in_clear(db: TestDb) {
    let setup = setup(&db);
    let ops = process(&db, &setup, Arc::new(SystemClock), "A").await;
    let id = incident(&ops).await;
    let rita = person(2, "rita", &["responder"]);
    let dana = person(1, "dana", &["dba"]);
    let typed = [
        ("echo", "password=hunter2-hunter2"),
        ("echo", "AKIAIOSFODNN7EXAMPLE"),
        ("echo-token", TOKEN),
    ];
    let mut ids = Vec::new();
    for (command, value) in typed {
        let Requested::Ready(run) = ops
            .request_run(&rita, request(command, &format!("text={value}"), Some(id)))
            .await
            .unwrap()
        else {
            panic!("{command} runs at once");
        };
        assert!(
            run.argv.last().unwrap().contains("[redacted]"),
            "{:?}",
            run.argv
        );
        assert!(run.args_text.contains("[redacted]"), "{}", run.args_text);
        let finished = ops.execute_run(run.id, &mut |_| {}).await.unwrap();
        assert_eq!(finished.state, RunState::Succeeded, "{:?}", finished.reason);
        ids.push(run.id);
    }
    // The program got every value exactly.
    assert_eq!(
        ran(&setup.log),
        [
            r#"["password=hunter2-hunter2"]"#.to_owned(),
            r#"["AKIAIOSFODNN7EXAMPLE"]"#.to_owned(),
            format!(r#"["{TOKEN}"]"#),
        ]
    );
    // A refused value is repeated in its refusal, redacted too.
    let Requested::Denied(refused) = ops
        .request_run(
            &dana,
            request("restore", "backup=password=hunter2-hunter2", Some(id)),
        )
        .await
        .unwrap()
    else {
        panic!("the pattern refuses it");
    };
    ids.push(refused.id);
    let mut everything = String::new();
    for id in &ids {
        let (run, audit) = ops.show_run(*id).await.unwrap();
        everything.push_str(&serde_json::to_string(&run).unwrap());
        everything.push_str(&serde_json::to_string(&audit).unwrap());
    }
    for format in [
        warroom::export::Format::Markdown,
        warroom::export::Format::Json,
        warroom::export::Format::Html,
    ] {
        let mut out = Vec::new();
        ops.export(&rita, id, format, &mut out).await.unwrap();
        everything.push_str(&String::from_utf8(out).unwrap());
    }
    let timeline = ops.timeline_page(&rita, id, 0).await.unwrap();
    everything.push_str(&serde_json::to_string(&timeline).unwrap());
    for secret in ["hunter2", "AKIAIOSFODNN7EXAMPLE", TOKEN] {
        assert!(!everything.contains(secret), "{secret} shows in clear");
    }
    assert!(everything.contains("password=[redacted]"));
}

/// Writes a script that starts a grandchild in a session of its own (its pid into
/// `pid_file`), says `started`, then sleeps its argument's seconds.
fn lingering_script(dir: &Path, pid_file: &Path) -> PathBuf {
    let script = dir.join("linger.py");
    std::fs::write(
        &script,
        format!(
            "import os, sys, time\n\
             if os.fork() == 0:\n    \
                 os.setsid()\n    \
                 open('{pid}', 'w').write(str(os.getpid()))\n    \
                 time.sleep(600)\n    \
                 os._exit(0)\n\
             print('started', flush=True)\n\
             time.sleep(int(sys.argv[1]))\n",
            pid = pid_file.display()
        ),
    )
    .unwrap();
    script
}

/// With a real child process: a run that ends within the shutdown grace is recorded as it
/// ended; one that does not is stopped (with the grandchild that left its session) and
/// recorded `interrupted`; nothing starts afterwards.
async fn a_shutdown_waits_for_runs_then_interrupts_and_records_the_rest(db: TestDb) {
    let setup = setup(&db);
    let pid_file = db.dir.path().join("grandchild.pid");
    let script = lingering_script(db.dir.path(), &pid_file);
    std::fs::write(
        setup.catalog.join("linger.toml"),
        format!(
            r#"name = "linger"
description = "Runs long, with a grandchild"
program = "{PYTHON}"
args = ["{script}", "{{seconds}}"]
allowed_roles = ["responder"]
risk = "read_only"
timeout = "30m"
[params.seconds]
kind = "int"
description = "How long"
min = 1
max = 3600
"#,
            script = script.display()
        ),
    )
    .unwrap();
    let ops = process_with(&db, &setup, Arc::new(SystemClock), "A", |settings| {
        settings.shutdown_grace = Duration::from_secs(4);
        settings.kill_grace = Duration::from_millis(500);
    })
    .await;
    let id = incident(&ops).await;
    let rita = person(2, "rita", &["responder"]);
    let mut started = Vec::new();
    let mut pids = Vec::new();
    for (command, args) in [("linger", "seconds=3600"), ("pause", "seconds=1")] {
        let Requested::Ready(run) = ops
            .request_run(&rita, request(command, args, Some(id)))
            .await
            .unwrap()
        else {
            panic!("{command} runs at once");
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let executing = ops.clone();
        tokio::spawn(async move {
            let mut tx = Some(tx);
            let result = executing
                .execute_run(run.id, &mut |progress| {
                    if let warroom::runner::Progress::Started { pid, .. } = progress
                        && let Some(tx) = tx.take()
                    {
                        let _ = tx.send(pid);
                    }
                })
                .await;
            result.unwrap()
        });
        let pid = rx.await.expect("the run started");
        started.push(run.id);
        pids.push(pid as i32);
    }
    let grandchild = loop {
        if let Ok(text) = std::fs::read_to_string(&pid_file)
            && let Ok(pid) = text.trim().parse::<i32>()
        {
            break pid;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let report = ops.shutdown_runs().await.unwrap();
    assert_eq!(report.interrupted, [started[0]], "{report:?}");
    assert_eq!(report.finished, [started[1]], "{report:?}");
    assert!(report.unrecorded.is_empty(), "{report:?}");
    for pid in pids.iter().copied().chain([grandchild]) {
        // Times out (and fails) if a process of the run outlived the shutdown.
        crate::runner::gone_eventually(pid).await;
    }
    let (interrupted, audit) = ops.show_run(started[0]).await.unwrap();
    assert_eq!(interrupted.state, RunState::Interrupted);
    assert!(
        interrupted.reason.as_deref().unwrap().starts_with(
            "warroom shut down while it ran; it was stopped after the shutdown grace (4s)"
        ),
        "{:?}",
        interrupted.reason
    );
    let last = audit.last().unwrap();
    assert_eq!(last.kind, "command_finished");
    assert_eq!(last.data["state"], "interrupted");
    assert!(
        last.text.contains("interrupted by warroom's shutdown"),
        "{}",
        last.text
    );
    assert_eq!(
        interrupted.output.as_deref(),
        Some("started\n"),
        "the output so far is kept"
    );
    let timeline = ops.timeline_page(&rita, id, 0).await.unwrap();
    assert!(
        timeline
            .iter()
            .any(|event| event.kind == EventKind::CommandFinished
                && event.data["state"] == "interrupted"),
        "the timeline says so"
    );
    let (paused, _) = ops.show_run(started[1]).await.unwrap();
    assert_eq!(paused.state, RunState::Succeeded);

    // Nothing starts any more.
    let Requested::Ready(late) = ops
        .request_run(&rita, request("pause", "seconds=1", Some(id)))
        .await
        .unwrap()
    else {
        panic!("pause is ready at once");
    };
    let refused = ops.execute_run(late.id, &mut |_| {}).await.unwrap();
    assert_eq!(refused.state, RunState::Failed);
    assert!(
        refused
            .reason
            .as_deref()
            .unwrap()
            .starts_with("warroom is shutting down"),
        "{:?}",
        refused.reason
    );
}
