//! Configuration: every shipped file loads, defaults match the shipped file, every problem is
//! reported with its line, environment overrides apply, and secrets never show.

use std::path::Path;
use std::time::Duration;

use warroom::config::{Config, DatabaseUrl, Environment, Location, SeverityConfig};
use warroom::notify::{DeliveryPolicy, Endpoint, RateLimit};

use crate::support::repo_root;

#[test]
fn every_file_in_config_loads_and_validates() {
    let mut loaded = 0;
    for entry in std::fs::read_dir(repo_root().join("config")).unwrap() {
        let path = entry.unwrap().path();
        if path
            .extension()
            .is_some_and(|extension| extension == "toml")
        {
            Config::load(&path, &Environment::default())
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            loaded += 1;
        }
    }
    assert!(loaded >= 1, "config/ holds at least warroom.toml");
}

#[test]
fn the_shipped_file_states_the_same_defaults_as_the_code() {
    let path = repo_root().join("config/warroom.toml");
    let shipped = Config::load(&path, &Environment::default()).unwrap();
    let empty = Config::from_toml(&path, "", &Environment::default()).unwrap();
    // Severities' `policy` keys are examples (commented out: the shipped schedules name
    // made-up people, so nothing pages until they are edited); the rest are defaults.
    let without_policy = |config: &Config| -> Vec<SeverityConfig> {
        config
            .severities
            .iter()
            .cloned()
            .map(|severity| SeverityConfig {
                policy: None,
                ..severity
            })
            .collect()
    };
    assert_eq!(without_policy(&shipped), without_policy(&empty));
    assert_eq!(shipped.severity("SEV1").unwrap().policy, None);
    assert_eq!(shipped.escalation, empty.escalation);
    assert_eq!(empty.escalation.default_policy, None);
    assert!(empty.schedules.is_empty() && empty.policies.is_empty() && empty.notifiers.is_empty());
    // The pagerduty example spells out every delivery key with the code's default.
    let pagerduty = shipped
        .notifiers
        .iter()
        .find(|notifier| notifier.name == "pagerduty")
        .unwrap();
    assert_eq!(pagerduty.delivery, DeliveryPolicy::default());
    assert_eq!(pagerduty.rate_limit, RateLimit::default());
    assert!(
        matches!(&pagerduty.endpoint, Endpoint::Url(url) if url == warroom::notify::pagerduty::DEFAULT_URL)
    );
    assert!(
        shipped.warnings.is_empty(),
        "the shipped file has nothing to warn about: {:?}",
        shipped.warnings
    );
    assert_eq!(shipped.incident_roles, empty.incident_roles);
    assert_eq!(
        format!("{:?}", shipped.database),
        format!("{:?}", empty.database)
    );
    assert_eq!(shipped.http.listen, empty.http.listen);
    assert_eq!(
        format!("{:?}", shipped.commands),
        format!("{:?}", empty.commands),
        "[commands]: dir, redact patterns, output cap, file limit, kill grace, output dir"
    );
    assert_eq!(shipped.commands.dir, repo_root().join("config/commands"));
    assert_eq!(shipped.commands.kill_grace, Duration::from_secs(5));
    assert_eq!(shipped.commands.output_cap_bytes, 65_536);
    assert_eq!(
        shipped.commands.redact.len(),
        warroom::config::DEFAULT_REDACT_PATTERNS.len()
    );
    assert_eq!(
        format!("{:?}", shipped.discord),
        format!("{:?}", empty.discord)
    );
    let ack: Vec<Duration> = shipped
        .severities
        .iter()
        .map(|severity| severity.ack_within)
        .collect();
    let minutes = |m: u64| Duration::from_secs(m * 60);
    assert_eq!(
        ack,
        [minutes(15), minutes(60), minutes(240), minutes(1_440)]
    );
    let api = shipped.service("api").unwrap();
    assert_eq!((api.rto, api.rpo), (minutes(15), Duration::ZERO));
    let postgres = shipped.service("postgres").unwrap();
    assert_eq!((postgres.rto, postgres.rpo), (minutes(30), minutes(60)));
    assert_eq!(shipped.service("cache").unwrap().rto, minutes(15));
    assert_eq!(shipped.service("frontend").unwrap().rto, minutes(30));
}

const BAD: &str = r#"[database]
url = "sqlite://warroom.db"
pool = 3

[discord]
guild_id = "my server"

[severities.SEV1]
description = "Critical"
ack_within = "quarter of an hour"

[services.api]
description = "API"
rto = "15m"
rpo = "0"
default_severity = "P1"

[services.db]
rto = 30
rpo = "1h"

[telemetry]
level = "debug"
"#;

#[test]
fn every_problem_is_reported_at_once_with_file_line_and_key() {
    let error = Config::from_toml(Path::new("bad.toml"), BAD, &Environment::default()).unwrap_err();
    let found: Vec<String> = error.problems.iter().map(ToString::to_string).collect();
    let expected = [
        "bad.toml:3: database.pool: unknown key",
        "bad.toml:6: discord.guild_id: `my server` is not a Discord id",
        "bad.toml:10: severities.SEV1.ack_within: `quarter of an hour` is not a duration",
        "bad.toml:16: services.api.default_severity: `P1` is not a configured severity; use one of SEV1",
        "bad.toml:19: services.db.rto: invalid type: integer `30`, expected a string",
        "bad.toml:22: telemetry: unknown section or key",
    ];
    for expected in expected {
        assert!(
            found.iter().any(|problem| problem.starts_with(expected)),
            "missing {expected:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    let rendered = error.to_string();
    assert!(
        rendered.starts_with("the configuration bad.toml has 6 problems:"),
        "{rendered}"
    );
}

#[test]
fn command_settings_are_checked_with_their_line() {
    let text =
        "[commands]\nredact = ['(unclosed', 'x*']\noutput_cap_bytes = 10\nkill_grace = \"soon\"\n";
    let error = Config::from_toml(Path::new("c.toml"), text, &Environment::default()).unwrap_err();
    let found: Vec<String> = error.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        found,
        [
            "c.toml:2: commands.redact: pattern 1 is not a valid regular expression: error: unclosed group",
            "c.toml:2: commands.redact: pattern 2 matches the empty string, so it would redact nothing useful and everything around it; make it require at least one character",
            "c.toml:3: commands.output_cap_bytes: must be at least 1024, so the head and tail of an output still say something",
            "c.toml:4: commands.kill_grace: `soon` is not a duration; write it like \"90s\", \"15m\", \"4h\" or \"1h 30m\"",
        ]
    );
}

#[test]
fn invalid_toml_names_the_line() {
    let error = Config::from_toml(
        Path::new("x.toml"),
        "[http]\nlisten = \n",
        &Environment::default(),
    )
    .unwrap_err();
    assert_eq!(error.problems.len(), 1);
    assert!(
        matches!(error.problems[0].location, Location::Line { line: 2, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("not valid TOML"), "{error}");
}

#[test]
fn a_missing_file_says_how_to_make_one() {
    let error =
        Config::load(Path::new("/nowhere/warroom.toml"), &Environment::default()).unwrap_err();
    assert!(
        error.to_string().contains("warroom config default > FILE"),
        "{error}"
    );
}

#[test]
fn environment_overrides_apply_after_the_file_and_are_blamed_by_name() {
    let env = Environment::from_pairs([
        (
            "WARROOM__DATABASE__URL",
            "postgres://warroom:hunter2@db.internal/warroom",
        ),
        ("WARROOM__HTTP__LISTEN", "0.0.0.0:9090"),
        ("WARROOM__SEVERITIES__SEV2__ACK_WITHIN", "30m"),
        ("WARROOM__ROLES__RESPONDER", "[\"1111\", \"2222\"]"),
        ("WARROOM__DISCORD__GUILD_ID", "123456789012345678"),
        ("UNRELATED", "ignored"),
    ]);
    let config = Config::load(&repo_root().join("config/warroom.toml"), &env).unwrap();
    assert!(matches!(config.database.url, DatabaseUrl::Postgres(_)));
    assert_eq!(config.http.listen.to_string(), "0.0.0.0:9090");
    assert_eq!(
        config.severity("SEV2").unwrap().ack_within,
        Duration::from_secs(1_800)
    );
    assert_eq!(config.roles["responder"], [1111, 2222]);
    assert_eq!(config.discord.guild_id, Some(123_456_789_012_345_678));

    let env = Environment::from_pairs([("WARROOM__SERVICES__API__RTO", "a while")]);
    let error = Config::load(&repo_root().join("config/warroom.toml"), &env).unwrap_err();
    assert_eq!(error.problems.len(), 1, "{error}");
    assert_eq!(
        error.problems[0].location,
        Location::Env("WARROOM__SERVICES__API__RTO".into())
    );
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let env = Environment::from_pairs([
        ("WARROOM_DISCORD_TOKEN", "MTIzNDU2.discord-token-value"),
        (
            "WARROOM__DATABASE__URL",
            "postgres://warroom:hunter2@db.internal/warroom",
        ),
    ]);
    let config = Config::load(&repo_root().join("config/warroom.toml"), &env).unwrap();
    assert!(
        config.discord.token.is_some(),
        "the token is read from the named variable"
    );
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("discord-token-value"),
        "token leaked: {debug}"
    );
    assert!(!debug.contains("hunter2"), "password leaked: {debug}");
    assert!(debug.contains("postgres://warroom:[redacted]@db.internal/warroom"));
}

#[test]
fn a_token_in_the_file_is_refused() {
    let text = "[discord]\ntoken_env = \"MTIzNDU2.abc.def\"\n";
    let error = Config::from_toml(Path::new("t.toml"), text, &Environment::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("the token itself never goes in this file"),
        "{error}"
    );
    assert!(
        !error.to_string().contains("MTIzNDU2"),
        "the pasted token is not echoed: {error}"
    );
}

const BAD_ESCALATION: &str = r#"[roles]
responder = []

[severities.SEV1]
description = "Critical"
ack_within = "15m"
policy = "nonexistent"

[services.api]
rto = "15m"
rpo = "0"
policy = "also-missing"

[escalation]
default_policy = "ghost"
failures_before_next_level = 0

[schedules.primary]
timezone = "Mars/Olympus_Mons"
members = ["1", "2"]
period = "fortnightly"
handoff = "9am"
start = "2026-01-05"

[schedules.holes]
timezone = "UTC"
period = "daily"
[[schedules.holes.overrides]]
user = "5"
start = "2026-12-24T00:00:00Z"
end = "2026-12-23T00:00:00Z"
[[schedules.holes.overrides]]
user = "6"
start = "2026-12-26"
end = "2026-12-27"

[policies.empty]

[policies.bad]
repeat = 2
fallback = "pager:oncall"
[[policies.bad.levels]]
after = "10m"
targets = ["schedule:nope", "role:dba", "notifier:missing", "schedule:holes"]
[[policies.bad.levels]]
after = "10m"
targets = []
[[policies.bad.levels]]
after = "5m"
targets = ["user:42"]

[policies.typo]
[[policies.typo.levels]]
after = "0s"
targets = ["user:alice"]

[notifiers.mail]
kind = "sms"

[notifiers.pd]
kind = "pagerduty"
routing_key = "R0UT1NGKEY-pasted"
timeout = "5m"
max_attempts = 11
rate_per_second = 0

[notifiers.chat]
kind = "slack_webhook"
url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
"#;

#[test]
fn every_escalation_problem_is_reported_with_file_line_and_key() {
    let error = Config::from_toml(
        Path::new("bad.toml"),
        BAD_ESCALATION,
        &Environment::default(),
    )
    .unwrap_err();
    let found: Vec<String> = error.problems.iter().map(ToString::to_string).collect();
    let expected = [
        "bad.toml:7: severities.SEV1.policy: `nonexistent` is not a configured policy; use one of empty, bad, typo",
        "bad.toml:12: services.api.policy: `also-missing` is not a configured policy",
        "bad.toml:15: escalation.default_policy: `ghost` is not a configured policy",
        "bad.toml:16: escalation.failures_before_next_level: must be at least 1",
        "bad.toml:19: schedules.primary.timezone: `Mars/Olympus_Mons` is not an IANA time zone",
        "bad.toml:21: schedules.primary.period: `fortnightly` is not a rotation period",
        "bad.toml:22: schedules.primary.handoff: `9am` is not a time of day",
        "bad.toml:25: schedules.holes: has gaps: nobody is on call before 2026-12-26 00:00 UTC, from 2026-12-27 00:00 UTC on; policy bad pages it with no other fallback, so a page could reach nobody",
        "bad.toml:27: schedules.holes.period: belongs to a rotation, but the schedule has no members",
        "bad.toml:31: schedules.holes.overrides.1.end: must be after start (2026-12-24 00:00 UTC)",
        "bad.toml:37: policies.empty: has no levels, so it pages nobody",
        "bad.toml:40: policies.bad.repeat: say when the next round starts with repeat_after",
        "bad.toml:41: policies.bad.fallback: `pager:oncall` is not a target",
        "bad.toml:44: policies.bad.levels.1.targets: schedule:nope names no schedule; use one of primary, holes",
        "bad.toml:44: policies.bad.levels.1.targets: role:dba names no bot role in [roles]; use one of responder",
        "bad.toml:44: policies.bad.levels.1.targets: notifier:missing names no notifier; use one of pd, chat",
        "bad.toml:46: policies.bad.levels.2.after: level 2 can never fire after level 1: `after` counts from the incident's opening, and 10m is not later than level 1's 10m",
        "bad.toml:47: policies.bad.levels.2.targets: pages nobody",
        "bad.toml:49: policies.bad.levels.3.after: level 3 can never fire after level 2",
        "bad.toml:55: policies.typo.levels.1.targets: `alice` is not a Discord user id",
        "bad.toml:58: notifiers.mail.kind: `sms` is not a notifier kind warroom knows; use one of pagerduty, opsgenie, webhook, slack_webhook, discord_webhook, email",
        "bad.toml:60: notifiers.pd: needs routing_key_env",
        "bad.toml:62: notifiers.pd.routing_key: secrets never go in this file",
        "bad.toml:63: notifiers.pd.timeout: is at most 1m",
        "bad.toml:64: notifiers.pd.max_attempts: must be between 1 and 10",
        "bad.toml:65: notifiers.pd.rate_per_second: must be more than 0",
        "bad.toml:67: notifiers.chat: a slack_webhook notifier needs url_env",
        "bad.toml:69: notifiers.chat.url: a slack_webhook URL embeds its token, so it never goes in this file",
    ];
    for expected in expected {
        assert!(
            found.iter().any(|problem| problem.starts_with(expected)),
            "missing {expected:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    let rendered = error.to_string();
    assert!(
        !rendered.contains("R0UT1NGKEY"),
        "a pasted key is not echoed: {rendered}"
    );
    assert!(
        !rendered.contains("XXXXSECRET"),
        "a pasted URL is not echoed: {rendered}"
    );
}

#[test]
fn a_round_that_would_start_with_the_last_level_is_refused_and_softer_findings_are_warnings() {
    let text = r#"[policies.loop]
repeat = 1
repeat_after = "0s"
[[policies.loop.levels]]
after = "0s"
targets = ["user:1"]

[policies.late]
repeat_after = "5m"
[[policies.late.levels]]
after = "30m"
targets = ["user:1"]

[escalation]
default_policy = "late"
"#;
    let error =
        Config::from_toml(Path::new("loop.toml"), text, &Environment::default()).unwrap_err();
    assert_eq!(error.problems.len(), 1, "{error}");
    assert!(
        error.problems[0].to_string().starts_with(
            "loop.toml:3: policies.loop.repeat_after: is 0 and level 1 is due at 0, so each new round's level 1 would fire at the same moment as the last level"
        ),
        "{error}"
    );

    let config = Config::from_toml(
        Path::new("late.toml"),
        &text.replace("repeat_after = \"0s\"", "repeat_after = \"1m\""),
        &Environment::default(),
    )
    .unwrap();
    let warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings.iter().any(|warning| warning
            == "late.toml:9: policies.late.repeat_after: has no effect while repeat = 0"),
        "{warnings:#?}"
    );
    // SEV1 must be acknowledged within 15 minutes, but the default policy first pages at 30.
    assert!(
        warnings.iter().any(|warning| warning.starts_with(
            "late.toml: severities.SEV1.ack_within: its policy late first pages 30m after opening, when ack_within (15m) has already passed"
        )),
        "{warnings:#?}"
    );
}

#[test]
fn notifier_secrets_come_from_the_environment_and_never_show_in_debug_output() {
    let text = r#"[notifiers.pd]
kind = "pagerduty"
routing_key_env = "PD_ROUTING_KEY"

[notifiers.hooks]
kind = "webhook"
url_env = "HOOK_URL"
secret_env = "HOOK_SECRET"

[notifiers.chat]
kind = "discord_webhook"
url_env = "CHAT_URL"
"#;
    let missing = Config::from_toml(Path::new("n.toml"), text, &Environment::default()).unwrap();
    assert_eq!(
        missing.notifier_setup_gaps(),
        [
            "notifier pd: set the environment variable PD_ROUTING_KEY to the PagerDuty integration's routing key",
            "notifier hooks: set the environment variable HOOK_URL to the signed JSON webhook URL",
            "notifier hooks: set the environment variable HOOK_SECRET to the HMAC secret shared with the receiver",
            "notifier chat: set the environment variable CHAT_URL to the Discord incoming webhook cross-post URL",
        ],
        "unset variables make notifiers not ready, not the file invalid"
    );

    let env = Environment::from_pairs([
        ("PD_ROUTING_KEY", "pd-routing-key-value"),
        (
            "HOOK_URL",
            "https://hooks.example.com/in?token=hook-url-token",
        ),
        ("HOOK_SECRET", "hmac-secret-value"),
        (
            "CHAT_URL",
            "https://discord.com/api/webhooks/1/discord-webhook-token",
        ),
    ]);
    let config = Config::from_toml(Path::new("n.toml"), text, &env).unwrap();
    assert!(config.notifier_setup_gaps().is_empty());
    let debug = format!("{config:?}");
    for secret in [
        "pd-routing-key-value",
        "hook-url-token",
        "hmac-secret-value",
        "discord-webhook-token",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked: {debug}");
    }

    let env = Environment::from_pairs([("CHAT_URL", "not a url")]);
    let error = Config::from_toml(Path::new("n.toml"), text, &env).unwrap_err();
    assert_eq!(
        error.problems[0].to_string(),
        "n.toml:12: notifiers.chat.url_env: the environment variable CHAT_URL does not hold an http(s) URL"
    );
    let pasted = text.replace("\"PD_ROUTING_KEY\"", "\"u+abc123-pasted-key\"");
    let error =
        Config::from_toml(Path::new("n.toml"), &pasted, &Environment::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("n.toml:3: notifiers.pd.routing_key_env: must name an environment variable")
            && !error.to_string().contains("pasted-key"),
        "{error}"
    );
}
