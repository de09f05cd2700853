//! Scheduled checks and drills (issue 17) on both backends, on a controlled clock, with real
//! runs of real processes: a check runs at each of its times and not between, once whatever
//! the number of engines, once after a downtime of five slots; failures in a row open one
//! incident, later failures add to it, a success recovers and mitigates it; runs are audited
//! as `schedule:NAME`. A drill opens at its cron time in its zone across a DST change, once
//! with two engines. `warroom check` refuses bad schedules at their line; `warroom checks
//! next` prints their times; the real binary runs a shipped read-only command every 2 s.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use warroom::config::{Config, Environment};
use warroom::domain::{EventKind, Incident, ManualClock, RunId, Source, Status, Timestamp};
use warroom::ops::timers::{Timers, handlers};
use warroom::ops::{Commands, Ops};
use warroom::runner::{CatalogHandle, Runner, RunnerSettings};
use warroom::store::IncidentFilter;

use crate::on_both_backends;
use crate::runner::PYTHON;
use crate::support::{TestDb, WAIT, eventually, stderr, stdout};

on_both_backends!(
    a_check_runs_at_each_of_its_times_once_across_engines_and_once_after_downtime,
    a_failing_check_opens_one_incident_adds_to_it_and_recovers_it,
    a_drill_opens_at_its_local_time_across_a_dst_change_once_with_two_engines,
    the_real_binary_runs_a_shipped_check_every_two_seconds_and_a_failing_one_opens_its_incident,
);

/// A whole minute, so `every = "1m"` slots fall on START + n minutes.
const START: Timestamp = Timestamp::from_millis(1_800_000_000_000);

struct Setup {
    db: TestDb,
    config: Config,
    catalog: PathBuf,
    /// One line per run of `probe`.
    log: PathBuf,
    /// The exit code `probe` ends with.
    exit: PathBuf,
}

/// The test catalog: `probe` (read-only: appends to the log, prints, exits with the code in the
/// exit file), `wipe` (destructive), `echo` (a parameter), and the config with `extra`.
fn setup(db: TestDb, extra: &str) -> Setup {
    let catalog = db.dir.path().join("commands");
    std::fs::create_dir_all(&catalog).unwrap();
    let log = db.dir.path().join("probe.log");
    let exit = db.dir.path().join("probe.exit");
    std::fs::write(&exit, "0").unwrap();
    let code = format!(
        "import sys; open('{}', 'a').write('ran' + chr(10)); print('probe output line'); sys.exit(int(open('{}').read()))",
        log.display(),
        exit.display()
    );
    std::fs::write(
        catalog.join("probe.toml"),
        format!(
            r#"name = "probe"
description = "Checks something"
program = "{PYTHON}"
args = ["-c", "{code}"]
dry_run_args = ["-c", "print('dry run')"]
allowed_roles = ["responder"]
risk = "read_only"
timeout = "30s"
"#
        ),
    )
    .unwrap();
    std::fs::write(
        catalog.join("wipe.toml"),
        r#"name = "wipe"
description = "Wipes something"
program = "/usr/bin/true"
allowed_roles = ["admin"]
risk = "destructive"
approval = { approvers = 1, roles = ["incident_commander"], expires = "10m" }
timeout = "30s"
"#,
    )
    .unwrap();
    std::fs::write(
        catalog.join("echo.toml"),
        r#"name = "echo"
description = "Says a colour"
program = "/usr/bin/echo"
args = ["{colour}"]
allowed_roles = ["responder"]
risk = "read_only"
timeout = "30s"
[params.colour]
kind = "enum"
description = "A colour"
values = ["red", "green"]
"#,
    )
    .unwrap();
    let path = db.write_config(extra);
    let config = Config::load(&path, &env(&catalog)).expect("the test config is valid");
    Setup {
        db,
        config,
        catalog,
        log,
        exit,
    }
}

fn env(catalog: &Path) -> Environment {
    Environment::from_pairs([("WARROOM__COMMANDS__DIR", catalog.display().to_string())])
}

/// Use cases as one `warroom run` process has them, with its own store and runner.
async fn process(setup: &Setup, clock: &Arc<ManualClock>, name: &str) -> Ops {
    let handle = CatalogHandle::load(&setup.catalog, setup.config.bot_role_names()).unwrap();
    let commands = Commands {
        catalog: Arc::new(handle),
        runner: Arc::new(Runner::new(
            RunnerSettings::from_config(&setup.config.commands),
            Environment::default(),
        )),
        output_dir: setup.db.dir.path().join("output"),
        instance: name.to_owned(),
    };
    Ops::new(
        setup.db.store().await,
        Arc::new(setup.config.clone()),
        clock.clone(),
    )
    .with_commands(commands)
}

fn runs(setup: &Setup) -> usize {
    std::fs::read_to_string(&setup.log)
        .unwrap_or_default()
        .lines()
        .count()
}

/// Ticks every engine at once at `at`: how many timers fired in all.
async fn tick(engines: &[Timers], clock: &ManualClock, at: Timestamp) -> usize {
    clock.set(at);
    futures::future::join_all(engines.iter().map(|engine| engine.tick(at)))
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum()
}

/// Waits until check `name` has counted `count` runs in all, and returns its last run.
async fn counted(ops: &Ops, name: &str, last_run_at_least: i64) -> warroom::store::CheckState {
    eventually("the check's run is counted", WAIT, async || {
        ops.store()
            .check_states()
            .await
            .unwrap()
            .into_iter()
            .find(|state| state.name == name && state.last_run_id >= last_run_at_least)
    })
    .await
}

fn minutes(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}

async fn a_check_runs_at_each_of_its_times_once_across_engines_and_once_after_downtime(db: TestDb) {
    let setup = setup(
        db,
        "[checks.probe]\ncommand = \"probe\"\nevery = \"1m\"\nservice = \"api\"\n",
    );
    let clock = Arc::new(ManualClock::new(START.plus(Duration::from_secs(5))));
    let a = process(&setup, &clock, "A").await;
    let b = process(&setup, &clock, "B").await;
    a.arm_schedules().await.unwrap();
    b.arm_schedules().await.unwrap();
    let engines = [
        Timers::new(a.clone(), handlers()),
        Timers::new(b.clone(), handlers()),
    ];

    let mut last = 0;
    for slot in 1..=3 {
        let due = START.plus(minutes(slot));
        assert_eq!(
            tick(&engines, &clock, due.minus(Duration::from_millis(1))).await,
            0,
            "not a millisecond early"
        );
        assert_eq!(
            tick(&engines, &clock, due).await,
            1,
            "one engine fires slot {slot}"
        );
        last = counted(&a, "probe", last + 1).await.last_run_id;
        let (run, _) = a.show_run(RunId(last)).await.unwrap();
        assert_eq!(runs(&setup), slot as usize, "one run per slot: {run:?}");
        assert_eq!(
            tick(&engines, &clock, due.plus(Duration::from_secs(30))).await,
            0,
            "nothing between slots"
        );
    }

    // Down for five slots: the overdue timer fires once, and the next is counted from now.
    let back = START.plus(minutes(9)).plus(Duration::from_secs(20));
    assert_eq!(tick(&engines, &clock, back).await, 1);
    last = counted(&a, "probe", last + 1).await.last_run_id;
    assert_eq!(tick(&engines, &clock, back).await, 0);
    assert_eq!(runs(&setup), 4, "five missed slots run once");
    let timer = a
        .store()
        .pending_timer("check", "probe")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(timer.due_at, START.plus(minutes(10)));

    // A restart arms nothing new: the timer already waits for its slot.
    assert!(a.arm_schedules().await.unwrap().set.is_empty());

    // `warroom checks run` makes it due now; it then keeps to its schedule.
    b.run_check_now("probe").await.unwrap();
    assert_eq!(tick(&engines, &clock, back).await, 1);
    last = counted(&a, "probe", last + 1).await.last_run_id;
    assert_eq!(runs(&setup), 5);
    let timer = a
        .store()
        .pending_timer("check", "probe")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(timer.due_at, START.plus(minutes(10)));
    assert!(b.run_check_now("nope").await.is_err());

    // Each run is a normal run, audited as the schedule.
    let (run, audit) = a.show_run(RunId(last)).await.unwrap();
    assert_eq!(run.requested_by.id, "schedule:probe");
    assert_eq!(run.state.as_str(), "succeeded");
    assert!(!audit.is_empty());
    assert!(
        audit
            .iter()
            .all(|entry| format!("{entry:?}").contains("schedule")),
        "{audit:?}"
    );
    let listed = a.checks_overview().await.unwrap();
    assert_eq!(listed[0].last_result.as_deref(), Some("succeeded"));
    assert_eq!(listed[0].next_run, Some(START.plus(minutes(10))));
    assert!(
        a.store()
            .list_incidents(&IncidentFilter::default())
            .await
            .unwrap()
            .is_empty(),
        "passing checks open nothing"
    );
}

async fn a_failing_check_opens_one_incident_adds_to_it_and_recovers_it(db: TestDb) {
    let setup = setup(
        db,
        "[checks.probe]\ncommand = \"probe\"\nevery = \"1m\"\nservice = \"api\"\nseverity = \"SEV2\"\nfailures_before_incident = 2\n",
    );
    std::fs::write(&setup.exit, "3").unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let ops = process(&setup, &clock, "A").await;
    ops.arm_schedules().await.unwrap();
    let engines = [Timers::new(ops.clone(), handlers())];
    let incidents = async || {
        ops.store()
            .list_incidents(&IncidentFilter::default())
            .await
            .unwrap()
    };

    tick(&engines, &clock, START.plus(minutes(1))).await;
    let state = counted(&ops, "probe", 1).await;
    assert_eq!(state.consecutive_failures, 1);
    assert!(
        incidents().await.is_empty(),
        "one failure is not yet an incident"
    );

    tick(&engines, &clock, START.plus(minutes(2))).await;
    let state = eventually(
        "the second failure in a row opens an incident",
        WAIT,
        async || {
            ops.store()
                .check_states()
                .await
                .unwrap()
                .into_iter()
                .find(|state| state.incident.is_some())
        },
    )
    .await;
    let opened = incidents().await;
    assert_eq!(opened.len(), 1, "the second failure in a row opens it");
    let incident: Incident = opened[0].clone();
    assert_eq!(incident.source, Source::Schedule);
    assert_eq!(incident.service.as_deref(), Some("api"));
    assert_eq!(incident.severity, "SEV2");
    assert_eq!(state.incident, Some(incident.id));

    tick(&engines, &clock, START.plus(minutes(3))).await;
    let state = counted(&ops, "probe", state.last_run_id + 1).await;
    let failed = eventually("the third failure adds to it", WAIT, async || {
        let failed = events(&ops, incident.id, EventKind::CheckFailed).await;
        (failed.len() == 2).then_some(failed)
    })
    .await;
    assert_eq!(incidents().await.len(), 1, "further failures add to it");
    assert_eq!(failed[1].data["exit_code"], 3);
    assert!(
        failed[1].data["output_tail"]
            .as_str()
            .unwrap()
            .contains("probe output line")
    );
    assert_eq!(failed[1].actor.id, "schedule:probe");

    std::fs::write(&setup.exit, "0").unwrap();
    tick(&engines, &clock, START.plus(minutes(4))).await;
    counted(&ops, "probe", state.last_run_id + 1).await;
    eventually("the incident is mitigated", WAIT, async || {
        let incident = ops.store().get_incident(incident.id).await.unwrap()?;
        (incident.status == Status::Mitigated).then_some(())
    })
    .await;
    assert_eq!(
        events(&ops, incident.id, EventKind::CheckRecovered)
            .await
            .len(),
        1
    );
    assert_eq!(incidents().await.len(), 1);
    let state = counted(&ops, "probe", 4).await;
    assert_eq!(
        state.incident, None,
        "recovered: the next failure opens a new one"
    );
}

async fn events(
    ops: &Ops,
    id: warroom::domain::IncidentId,
    kind: EventKind,
) -> Vec<warroom::domain::Event> {
    ops.store()
        .timeline_page(id, 0, 1_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|event| event.kind == kind)
        .collect()
}

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

async fn a_drill_opens_at_its_local_time_across_a_dst_change_once_with_two_engines(db: TestDb) {
    let setup = setup(
        db,
        r#"[drills.restore]
cron = "0 10 * * *"
timezone = "Europe/Berlin"
title = "Monthly restore drill"
severity = "SEV3"
service = "postgres"
commands = ["probe"]
"#,
    );
    // 2026-03-29 is the spring change in Berlin: 10:00 is 09:00Z the day before, 08:00Z on it.
    let clock = Arc::new(ManualClock::new(at("2026-03-28T00:00:00Z")));
    let a = process(&setup, &clock, "A").await;
    let b = process(&setup, &clock, "B").await;
    a.arm_schedules().await.unwrap();
    b.arm_schedules().await.unwrap();
    let engines = [
        Timers::new(a.clone(), handlers()),
        Timers::new(b.clone(), handlers()),
    ];
    let drills = async || {
        a.store()
            .list_incidents(&IncidentFilter::default())
            .await
            .unwrap()
    };
    // Counted by the drills opened: the engines also fire the drill incidents' own deadlines.
    let drills_at = async |when: &str| {
        tick(&engines, &clock, at(when)).await;
        drills().await.len()
    };
    assert_eq!(drills_at("2026-03-28T08:59:59.999Z").await, 0);
    assert_eq!(drills_at("2026-03-28T09:00:00Z").await, 1);
    // Not at 09:00Z the next day: 10:00 Berlin is 08:00Z after the change.
    assert_eq!(drills_at("2026-03-29T07:59:59.999Z").await, 1);
    assert_eq!(drills_at("2026-03-29T08:00:00Z").await, 2);
    assert_eq!(drills_at("2026-03-29T09:00:00Z").await, 2);
    let opened = drills().await;
    assert_eq!(opened.len(), 2, "once per slot with two engines");
    for incident in &opened {
        assert!(incident.drill);
        assert_eq!(incident.source, Source::Schedule);
        assert_eq!(incident.title, "Monthly restore drill");
        assert_eq!(incident.service.as_deref(), Some("postgres"));
        let timeline = a.store().timeline_page(incident.id, 0, 100).await.unwrap();
        assert!(
            timeline[0].text.starts_with("DRILL"),
            "{}",
            timeline[0].text
        );
        assert_eq!(timeline[0].actor.id, "schedule:restore");
        let requested = timeline
            .iter()
            .find(|event| event.kind == EventKind::CommandRequested)
            .expect("the drill's command is requested");
        assert_eq!(requested.data["dry_run"], true);
    }
    let mut opened_at: Vec<Timestamp> = opened.iter().map(|i| i.opened_at).collect();
    opened_at.sort();
    assert_eq!(
        opened_at,
        vec![at("2026-03-28T09:00:00Z"), at("2026-03-29T08:00:00Z")]
    );
}

/// The line of the first line of `text` containing `needle`, counting from 1.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` is in the config"))
        + 1
}

#[test]
fn warroom_check_refuses_each_bad_schedule_at_its_line() {
    let db = TestDb::sqlite();
    let setup_config = |extra: &str| {
        let setup = setup(TestDb::sqlite(), "");
        let path = db.write_config(extra);
        (setup, path)
    };
    // Problems of the file itself: a bad cron, a zone that does not exist.
    let (setup, path) = setup_config(
        "[checks.badcron]\ncommand = \"probe\"\ncron = \"61 * * * *\"\n\n[drills.nowhere]\ncron = \"0 10 * * *\"\ntimezone = \"Mars/Olympus\"\ntitle = \"Drill\"\n",
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let output = crate::support::warroom(&path)
        .env("WARROOM__COMMANDS__DIR", &setup.catalog)
        .arg("check")
        .output()
        .unwrap();
    let said = stderr(&output);
    assert!(!output.status.success());
    let file = path.display().to_string();
    assert!(
        said.contains(&format!(
            "{file}:{}: checks.badcron.cron: `61 * * * *` is not a cron expression",
            line_of(&text, "61 * * * *")
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "{file}:{}: drills.nowhere.timezone: `Mars/Olympus` is not an IANA time zone",
            line_of(&text, "Mars/Olympus")
        )),
        "{said}"
    );

    // Problems against the catalog: unknown, not read-only, arguments refused.
    let (setup, path) = setup_config(
        "[checks.ghost]\ncommand = \"no-such\"\nevery = \"1m\"\n\n[checks.danger]\ncommand = \"wipe\"\nevery = \"1m\"\n\n[checks.colour]\ncommand = \"echo\"\nargs = \"colour=blue\"\nevery = \"1m\"\n",
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let output = crate::support::warroom(&path)
        .env("WARROOM__COMMANDS__DIR", &setup.catalog)
        .arg("check")
        .output()
        .unwrap();
    let said = stderr(&output);
    assert!(!output.status.success(), "{}", stdout(&output));
    for (line, key, what) in [
        (
            line_of(&text, "\"no-such\""),
            "checks.ghost.command",
            "`no-such` is not an approved command",
        ),
        (
            line_of(&text, "\"wipe\""),
            "checks.danger.command",
            "`wipe` is destructive; a scheduled check runs only read_only commands",
        ),
        (line_of(&text, "colour=blue"), "checks.colour.args", "blue"),
    ] {
        let expected = format!("{file}:{line}: {key}: ");
        let found = said
            .lines()
            .find(|l| l.contains(&expected))
            .unwrap_or_else(|| panic!("{expected} in {said}"));
        assert!(found.contains(what), "{found}");
    }

    // A good one passes.
    let (setup, path) = setup_config(
        "[checks.colour]\ncommand = \"echo\"\nargs = \"colour=red\"\ncron = \"*/30 * * * *\"\ntimezone = \"Europe/Berlin\"\n",
    );
    let output = crate::support::warroom(&path)
        .env("WARROOM__COMMANDS__DIR", &setup.catalog)
        .arg("check")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("Schedules: 1 checks and 0 drills"));
}

#[test]
fn warroom_checks_next_prints_the_expected_times() {
    let db = TestDb::sqlite();
    let path = db.write_config(
        "[checks.nightly]\ncommand = \"backup-verify\"\ncron = \"30 2 * * *\"\ntimezone = \"UTC\"\n\n[drills.restore]\ncron = \"0 10 * * TUE#1\"\ntimezone = \"Europe/Berlin\"\ntitle = \"Restore drill\"\n",
    );
    let said = crate::support::succeed(
        &path,
        &[
            "checks",
            "next",
            "--days",
            "7",
            "--at",
            "2026-03-30T00:00:00Z",
        ],
    );
    let lines: Vec<&str> = said.lines().filter(|line| line.starts_with("  ")).collect();
    let expected = [
        "  2026-03-30T02:30:00.000Z  check nightly",
        "  2026-03-31T02:30:00.000Z  check nightly",
        "  2026-04-01T02:30:00.000Z  check nightly",
        "  2026-04-02T02:30:00.000Z  check nightly",
        "  2026-04-03T02:30:00.000Z  check nightly",
        "  2026-04-04T02:30:00.000Z  check nightly",
        "  2026-04-05T02:30:00.000Z  check nightly",
    ];
    assert_eq!(lines.len(), expected.len(), "{said}");
    for (line, want) in lines.iter().zip(expected) {
        assert!(line.starts_with(want), "{line} / {want}");
    }
    // The first Tuesday of April, 10:00 in Berlin (summer time): 08:00Z.
    let said = crate::support::succeed(
        &path,
        &[
            "checks",
            "next",
            "--days",
            "14",
            "--at",
            "2026-03-30T00:00:00Z",
        ],
    );
    assert!(
        said.contains("  2026-04-07T08:00:00.000Z  drill restore  (2026-04-07 10:00:00 CEST)"),
        "{said}"
    );
}

async fn the_real_binary_runs_a_shipped_check_every_two_seconds_and_a_failing_one_opens_its_incident(
    db: TestDb,
) {
    // `disk-usage` (df) passes; `service-status` of a unit this host does not run (systemctl
    // fails without systemd, or for a unit that is not there) fails.
    let path = db.write_config(
        "[checks.disk]\ncommand = \"disk-usage\"\nevery = \"2s\"\n\n[checks.redis]\ncommand = \"service-status\"\nargs = \"unit=redis-server.service\"\nevery = \"2s\"\nservice = \"cache\"\nseverity = \"SEV3\"\n",
    );
    // Kept apart: `db.store()` rewrites the test's default config file.
    let path = {
        let kept = db.dir.path().join("checks.toml");
        std::fs::copy(&path, &kept).unwrap();
        kept
    };
    let commands = crate::support::repo_root().join("commands");
    let env = env(&commands);
    let mut warroom = crate::support::process::Process::spawn("A", &path, &env);
    warroom.wait_ready().await;
    let store = db.store().await;
    let disk = eventually("the disk check has run twice", WAIT, async || {
        store
            .check_states()
            .await
            .unwrap()
            .into_iter()
            .find(|state| {
                state.name == "disk" && state.last_state == "succeeded" && state.last_run_id >= 2
            })
    })
    .await;
    let (run, audit) = db
        .ops()
        .await
        .show_run(RunId(disk.last_run_id))
        .await
        .unwrap();
    assert_eq!(run.requested_by.id, "schedule:disk");
    assert_eq!(run.program, "/usr/bin/df");
    assert!(!audit.is_empty());
    let incident = eventually("the failing check opens its incident", WAIT, async || {
        store
            .list_incidents(&IncidentFilter::default())
            .await
            .unwrap()
            .into_iter()
            .find(|incident| incident.source == Source::Schedule)
    })
    .await;
    assert_eq!(incident.service.as_deref(), Some("cache"));
    assert!(incident.title.contains("redis"), "{}", incident.title);
    let listed = crate::support::warroom(&path)
        .env("WARROOM__COMMANDS__DIR", &commands)
        .args(["checks", "list", "--json"])
        .output()
        .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let redis = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["name"] == "redis")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(redis["incident"], incident.id.0);
    assert!(redis["next_run"].is_string());
    let metrics = warroom
        .client
        .get(format!("{}/metrics", warroom.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let disk_success = metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix("warroom_check_last_success_timestamp_seconds{check=\"disk\"} ")
        })
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(
        disk_success.parse::<f64>().unwrap() > 1.0e9,
        "{disk_success}"
    );
    assert!(
        metrics.contains("warroom_check_last_success_timestamp_seconds{check=\"redis\"} 0"),
        "{metrics}"
    );
    warroom.sigterm();
    assert!(warroom.exited().await.success());
}
