//! The command line, through the real binary, against a fresh SQLite file and a fresh
//! PostgreSQL database.

use crate::on_both_backends;
use crate::support::{TestDb, repo_root, run, stderr, stdout, succeed};

on_both_backends!(
    a_whole_incident_from_the_command_line,
    errors_exit_nonzero_and_change_nothing
);

async fn a_whole_incident_from_the_command_line(db: TestDb) {
    let config = db.write_config("");
    let opened = succeed(
        &config,
        &[
            "incident",
            "open",
            "--title",
            "Checkout is down",
            "--severity",
            "SEV2",
            "--service",
            "api",
            "--json",
        ],
    );
    let opened: serde_json::Value = serde_json::from_str(&opened).expect("--json output parses");
    assert_eq!(opened["incident"]["id"], 1);
    assert_eq!(opened["incident"]["status"], "open");
    assert_eq!(
        opened["events"][0]["actor"]["id"], "cli:alice",
        "the CLI acts as cli:<login>"
    );

    succeed(
        &config,
        &["incident", "note", "INC-1", "error rate 40%, rolling back"],
    );
    let acked = succeed(&config, &["incident", "ack", "1"]);
    assert!(acked.contains("INC-1 acknowledged"), "{acked}");
    succeed(
        &config,
        &["incident", "mitigate", "1", "--note", "rolled back to v41"],
    );
    succeed(
        &config,
        &[
            "incident",
            "resolve",
            "1",
            "--summary",
            "bad deploy",
            "--force",
        ],
    );

    let listed: serde_json::Value = serde_json::from_str(&succeed(
        &config,
        &["incident", "list", "--status", "resolved", "--json"],
    ))
    .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["title"], "Checkout is down");
    let human = succeed(&config, &["incident", "list"]);
    assert!(
        human.contains("INC-1") && human.contains("resolved"),
        "{human}"
    );

    let shown: serde_json::Value =
        serde_json::from_str(&succeed(&config, &["incident", "show", "1", "--json"])).unwrap();
    let timeline = shown["timeline"].as_array().unwrap().clone();
    let kinds: Vec<&str> = timeline
        .iter()
        .map(|event| event["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "opened",
            "note",
            "acknowledged",
            "status_changed",
            "status_changed"
        ]
    );

    let markdown_path = db.dir.path().join("INC-1.md");
    succeed(
        &config,
        &[
            "export",
            "1",
            "--format",
            "markdown",
            "-o",
            markdown_path.to_str().unwrap(),
        ],
    );
    let markdown = std::fs::read_to_string(&markdown_path).unwrap();
    let mut position = 0;
    for event in &timeline {
        let at = warroom::domain::Timestamp::parse_rfc3339(event["at"].as_str().unwrap()).unwrap();
        let row = format!(
            "| {} | {} | {} |",
            event["seq"],
            at.to_human(),
            event["kind"].as_str().unwrap()
        );
        let found = markdown[position..]
            .find(&row)
            .unwrap_or_else(|| panic!("{row} missing or out of order"));
        position += found + row.len();
    }

    let json = succeed(&config, &["export", "INC-1", "--format", "json"]);
    let document: serde_json::Value = serde_json::from_str(&json).expect("the JSON export parses");
    assert_eq!(document["schema"], "warroom.postmortem/v1");
    let exported = document["timeline"].as_array().unwrap();
    assert_eq!(
        exported.len(),
        timeline.len() + 1,
        "plus the markdown export's `exported` event"
    );
    assert_eq!(
        &exported[..timeline.len()],
        &timeline[..],
        "the same events, field for field"
    );
    assert_eq!(exported[timeline.len()]["kind"], "exported");
    assert!(document["key_times"]["time_to_resolve_ms"].is_u64());
}

async fn errors_exit_nonzero_and_change_nothing(db: TestDb) {
    let config = db.write_config("");
    succeed(
        &config,
        &[
            "incident",
            "open",
            "--title",
            "Real one",
            "--severity",
            "SEV3",
        ],
    );
    succeed(&config, &["incident", "resolve", "1"]);
    let before = db.snapshot().await;

    let cases: [(&[&str], &str); 9] = [
        (
            &["incident", "ack", "1"],
            "INC-1 is resolved, so it cannot be acknowledged; reopen it first",
        ),
        (
            &["incident", "mitigate", "1"],
            "INC-1 is resolved, so it cannot be mitigated",
        ),
        (&["incident", "reopen", "2"], "INC-2 does not exist"),
        (
            &["incident", "note", "42", "hello"],
            "INC-42 does not exist",
        ),
        (
            &["export", "42", "--format", "json"],
            "INC-42 does not exist",
        ),
        (
            &["incident", "open", "--title", "x", "--severity", "SEV9"],
            "`SEV9` is not a severity; use one of SEV1, SEV2, SEV3, SEV4",
        ),
        (
            &[
                "incident",
                "open",
                "--title",
                "x",
                "--severity",
                "SEV1",
                "--service",
                "mainframe",
            ],
            "`mainframe` is not a service; use one of api, postgres, cache, frontend",
        ),
        (
            &["incident", "ack", "twelve"],
            "`twelve` is not an incident id",
        ),
        (
            &["incident", "list", "--status", "pending"],
            "`pending` is not a status",
        ),
    ];
    for (args, expected) in cases {
        let output = run(&config, args);
        assert!(!output.status.success(), "{args:?} succeeded");
        let message = stderr(&output);
        assert!(
            message.contains(expected),
            "{args:?}: {message:?} should contain {expected:?}"
        );
    }

    let broken = db.dir.path().join("broken.toml");
    std::fs::write(&broken, format!("[database]\nurl = \"{}\"\n[severities.SEV1]\ndescription = \"x\"\nack_within = \"soon\"\n", db.url)).unwrap();
    let output = run(
        &broken,
        &["incident", "open", "--title", "x", "--severity", "SEV1"],
    );
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("broken.toml:5: severities.SEV1.ack_within: `soon` is not a duration"),
        "{message}"
    );

    let export_target = db.dir.path().join("never.md");
    let output = run(
        &config,
        &[
            "export",
            "42",
            "--format",
            "markdown",
            "-o",
            export_target.to_str().unwrap(),
        ],
    );
    assert!(!output.status.success());
    assert!(
        !export_target.exists(),
        "a failed export leaves no file behind"
    );
    assert!(!db.dir.path().join("never.md.partial").exists());

    assert_eq!(
        db.snapshot().await,
        before,
        "a failed command wrote to the database"
    );
}

#[test]
fn check_passes_on_the_shipped_config() {
    let config = repo_root().join("config/warroom.toml");
    let output = crate::support::warroom(&config)
        .arg("check")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("the configuration is valid (4 severities, 4 services"),
        "{text}"
    );
    assert!(
        text.contains("WARROOM_DISCORD_TOKEN"),
        "check says what Discord still lacks: {text}"
    );
}

#[test]
fn check_reports_every_problem_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[http]\nlisten = \"everywhere\"\nport = 8080\n").unwrap();
    let output = crate::support::warroom(&path)
        .arg("check")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("has 2 problems"), "{message}");
    assert!(
        message.contains("bad.toml:2: http.listen: `everywhere` is not an address"),
        "{message}"
    );
    assert!(
        message.contains("bad.toml:3: http.port: unknown key"),
        "{message}"
    );
}

#[test]
fn config_default_prints_the_shipped_file() {
    let output = crate::support::warroom(std::path::Path::new("/nonexistent.toml"))
        .args(["config", "default"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let shipped = std::fs::read_to_string(repo_root().join("config/warroom.toml")).unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), shipped);
}

/// Schedules, a policy and a notifier whose secret is not set: what `oncall`, `policy
/// simulate` and `check` read. No database is involved.
const ESCALATION_CONFIG: &str = r#"[roles]
incident_commander = ["4000"]

[schedules.primary]
timezone = "Europe/Berlin"
members = ["101", "102"]
period = "daily"
handoff = "09:00"
start = "2026-03-01"

[[schedules.primary.overrides]]
user = "103"
start = "2026-03-29T12:00"
end = "2026-03-29T18:00"

[schedules.holiday]
timezone = "UTC"
[[schedules.holiday.overrides]]
user = "105"
start = "2026-12-24T00:00:00Z"
end = "2026-12-26T00:00:00Z"

[notifiers.pagerduty]
kind = "pagerduty"
routing_key_env = "PD_KEY"

[policies.critical]
repeat = 1
repeat_after = "10m"
fallback = "role:incident_commander"

[[policies.critical.levels]]
after = "0s"
targets = ["schedule:primary", "notifier:pagerduty"]

[[policies.critical.levels]]
after = "5m"
targets = ["schedule:holiday", "user:42"]
"#;

fn escalation_config() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warroom.toml");
    std::fs::write(&path, ESCALATION_CONFIG).unwrap();
    (dir, path)
}

#[test]
fn oncall_says_who_is_on_call_now_and_next_in_utc_and_in_the_schedules_zone() {
    let (_dir, config) = escalation_config();
    let out = succeed(&config, &["oncall", "--at", "2026-03-29T06:30:00Z"]);
    assert_eq!(
        out,
        "On call at 2026-03-29 06:30 UTC:

primary: daily rotation of 2 members, handoff 09:00 Europe/Berlin
  now   user 102, from 2026-03-28 08:00 UTC (2026-03-28 09:00 CET) until 2026-03-29 07:00 UTC (2026-03-29 09:00 CEST)
  next  user 101, from 2026-03-29 07:00 UTC (2026-03-29 09:00 CEST) until 2026-03-29 10:00 UTC (2026-03-29 12:00 CEST)

holiday: no rotation, 1 override only (UTC)
  now   nobody (a gap in the schedule), from the beginning until 2026-12-24 00:00 UTC
  next  user 105 (override), from 2026-12-24 00:00 UTC until 2026-12-26 00:00 UTC
"
    );
    let json: serde_json::Value = serde_json::from_str(&succeed(
        &config,
        &[
            "oncall",
            "primary",
            "--at",
            "2026-03-29T11:00:00+02:00",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(json["at"], "2026-03-29T09:00:00.000Z");
    let primary = &json["schedules"][0];
    assert_eq!(primary["now"]["user"], "101");
    assert_eq!(primary["now"]["until"], "2026-03-29T10:00:00.000Z");
    assert_eq!(primary["next"]["user"], "103");
    assert_eq!(primary["next"]["cover"]["by"], "override");

    let unknown = run(&config, &["oncall", "nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(
        stderr(&unknown),
        "error: there is no schedule `nope`; configured: primary, holiday\n"
    );
    let bad_time = run(&config, &["oncall", "--at", "tomorrow"]);
    assert_eq!(bad_time.status.code(), Some(2));
    assert!(
        stderr(&bad_time).contains(
            "`tomorrow` is not an RFC 3339 time; write it like 2026-03-29T09:00:00+02:00"
        ),
        "{}",
        stderr(&bad_time)
    );
}

#[test]
fn policy_simulate_shows_who_would_be_paged_when_and_how_without_paging() {
    let (_dir, config) = escalation_config();
    let out = succeed(
        &config,
        &[
            "policy",
            "simulate",
            "critical",
            "--at",
            "2026-03-29T06:58:00Z",
        ],
    );
    assert_eq!(
        out,
        "Simulation of policy critical for an incident opened at 2026-03-29 06:58 UTC. Nothing is sent: nobody is paged.
Each level is paged unless the incident is acknowledged first; `after` counts from the opening.

level 1, round 0: at 2026-03-29 06:58 UTC (+0s)
  schedule:primary → Discord user 102 (on call in primary): DM + mention in the incident channel
  notifier:pagerduty → notifier pagerduty (PagerDuty Events API v2) — NOT READY, would fail: notifier pagerduty: set the environment variable PD_KEY to the PagerDuty integration's routing key

level 2, round 0: at 2026-03-29 07:03 UTC (+5m 00s)
  schedule:holiday → reaches nobody (nobody is on call in schedule holiday at 2026-03-29 07:03 UTC: a gap in its overrides); fallback role:incident_commander instead: bot role incident_commander: mention of Discord role 4000 in the incident channel
  user:42 → Discord user 42: DM + mention in the incident channel

level 1, round 1: at 2026-03-29 07:13 UTC (+15m 00s)
  schedule:primary → Discord user 101 (on call in primary): DM + mention in the incident channel
  notifier:pagerduty → notifier pagerduty (PagerDuty Events API v2) — NOT READY, would fail: notifier pagerduty: set the environment variable PD_KEY to the PagerDuty integration's routing key

level 2, round 1: at 2026-03-29 07:18 UTC (+20m 00s)
  schedule:holiday → reaches nobody (nobody is on call in schedule holiday at 2026-03-29 07:18 UTC: a gap in its overrides); fallback role:incident_commander instead: bot role incident_commander: mention of Discord role 4000 in the incident channel
  user:42 → Discord user 42: DM + mention in the incident channel

fallback: role:incident_commander, paged in place of a target that reaches nobody, and after the last level's pages fail
after 1 failed page within a level, the next level is paged at once
"
    );
    let json: serde_json::Value = serde_json::from_str(&succeed(
        &config,
        &[
            "policy",
            "simulate",
            "critical",
            "--at",
            "2026-03-29T06:58:00Z",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(json["steps"].as_array().unwrap().len(), 4);
    assert_eq!(json["steps"][1]["after_seconds"], 300);
    assert_eq!(json["steps"][1]["pages"][0]["reach"], "fallback");
    assert_eq!(
        json["steps"][1]["pages"][0]["recipient"]["role_ids"][0],
        "4000"
    );

    let unknown = run(&config, &["policy", "simulate", "minor"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(
        stderr(&unknown),
        "error: there is no policy `minor`; configured: critical\n"
    );
}

#[test]
fn check_lists_escalation_warnings_and_notifiers_that_are_not_ready() {
    let (_dir, config) = escalation_config();
    let output = run(&config, &["check"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.contains("2 schedules, 1 policies, 1 notifiers"),
        "{out}"
    );
    assert!(out.contains(
        "warning: "
    ) && out.contains(
        "warroom.toml:16: schedules.holiday: has gaps: nobody is on call before 2026-12-24 00:00 UTC, from 2026-12-26 00:00 UTC on; pages to it then go to the policy's fallback"
    ), "{out}");
    assert!(
        out.contains("  - notifier pagerduty: set the environment variable PD_KEY"),
        "{out}"
    );
    // Without the fallback, the same gap is an error: a page could reach nobody.
    std::fs::write(
        &config,
        ESCALATION_CONFIG.replace("fallback = \"role:incident_commander\"\n", ""),
    )
    .unwrap();
    let output = run(&config, &["check"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("warroom.toml:16: schedules.holiday: has gaps: nobody is on call before 2026-12-24 00:00 UTC, from 2026-12-26 00:00 UTC on; policy critical pages it with no other fallback"),
        "{}",
        stderr(&output)
    );
}
