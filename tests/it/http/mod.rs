//! The HTTP face through real requests: alert ingestion (idempotency, storm control, bad
//! input), the REST API, `/metrics` checked by promtool, and a real Alertmanager delivering
//! to warroom running against the Discord emulator.

mod alert_edges;
mod alertmanager;
mod alerts;
mod api;
mod edge;
mod metrics;
mod report;
mod report_html;
mod runs;
mod status;

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use warroom::config::{Config, Environment};
use warroom::domain::{ManualClock, Timestamp};

use crate::support::TestDb;
use crate::support::app::{App, Options};

/// Secrets of the test tokens (at least 32 characters, as warroom requires).
pub const ALERTS: &str = "alerts-0123456789abcdef0123456789abcdef";
pub const COMMANDER: &str = "commander-0123456789abcdef0123456789abcd";
pub const RESPONDER: &str = "responder-0123456789abcdef0123456789abcd";
pub const VIEWER: &str = "viewer-0123456789abcdef0123456789abcdef";

/// Tokens and routes as an operator writes them: the database route mitigates when its
/// alerts resolve; the default route opens SEV3 incidents.
pub const CONFIG: &str = r#"
[api_tokens.alertmanager]
token_env = "TEST_TOKEN_ALERTS"
roles = ["alert_sender"]

[api_tokens.oncall]
token_env = "TEST_TOKEN_COMMANDER"
roles = ["incident_commander"]

[api_tokens.responder]
token_env = "TEST_TOKEN_RESPONDER"
roles = ["responder"]

[api_tokens.dashboard]
token_env = "TEST_TOKEN_VIEWER"
roles = []

[alerts]
max_new_incidents_per_minute = 10

[alerts.default_route]
severity = "SEV3"

[[alerts.routes]]
name = "database"
matchers = ['service="postgres"']
service = "postgres"
severity = "SEV1"
mitigate_when_resolved = true
"#;

pub fn token_env() -> Vec<(String, String)> {
    [
        ("TEST_TOKEN_ALERTS", ALERTS),
        ("TEST_TOKEN_COMMANDER", COMMANDER),
        ("TEST_TOKEN_RESPONDER", RESPONDER),
        ("TEST_TOKEN_VIEWER", VIEWER),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

/// 2026-03-02 10:00:00 UTC: tests run on a manual clock from here.
pub const START: Timestamp = Timestamp::from_millis(1_772_445_600_000);

/// warroom serving HTTP in-process ([`App`], which this derefs to), without Discord, on a
/// manual clock.
pub struct Server {
    pub app: App,
    pub clock: Arc<ManualClock>,
}

impl Deref for Server {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

impl Server {
    pub async fn start(db: TestDb) -> Server {
        Server::start_with(db, CONFIG).await
    }

    pub async fn start_with(db: TestDb, extra: &str) -> Server {
        Server::start_with_env(db, extra, Vec::new()).await
    }

    /// Starts with `extra` TOML and `extra_env` besides the test tokens, and waits until it
    /// is ready.
    pub async fn start_with_env(
        db: TestDb,
        extra: &str,
        extra_env: Vec<(String, String)>,
    ) -> Server {
        let clock = Arc::new(ManualClock::new(START));
        let options = Options {
            toml: extra.to_owned(),
            env: Environment::from_pairs(token_env()).extended(extra_env),
            clock: Some(clock.clone()),
            slow_database: None,
        };
        let app = App::start(db, options).await;
        app.wait_ready().await;
        Server { app, clock }
    }

    /// POSTs `body` as JSON with `token`.
    pub async fn post(&self, path: &str, token: &str, body: &serde_json::Value) -> Reply {
        Reply::from(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .json(body)
                .send()
                .await
                .expect("warroom answers"),
        )
        .await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        Reply::from(
            self.client
                .get(self.url(path))
                .bearer_auth(token)
                .send()
                .await
                .expect("warroom answers"),
        )
        .await
    }

    /// Everything warroom stores about incidents and alerts, as text.
    pub async fn snapshot(&self) -> String {
        let mut text = self.db.snapshot().await;
        for query in [
            "SELECT source, group_key, route, COALESCE(CAST(incident_id AS TEXT), '-'), \
             COALESCE(claim, '-'), COALESCE(CAST(claimed_at AS TEXT), '-'), \
             CAST(overflow AS TEXT) FROM alert_groups ORDER BY source, group_key",
            "SELECT source, fingerprint, instance, group_key, CAST(incident_id AS TEXT), status, \
             summary, labels, COALESCE(CAST(starts_at AS TEXT), '-'), \
             COALESCE(CAST(ends_at AS TEXT), '-'), CAST(received_at AS TEXT) FROM alerts \
             ORDER BY source, fingerprint, instance",
            "SELECT route, CAST(opened_at AS TEXT), group_key FROM alert_route_opens \
             ORDER BY route, opened_at, group_key",
            "SELECT source, fingerprint, instance, group_key, COALESCE(CAST(ends_at AS TEXT), '-'), \
             CAST(received_at AS TEXT) FROM alert_early_resolves \
             ORDER BY source, fingerprint, instance",
        ] {
            for row in self.db.rows(query).await {
                text.push('\n');
                text.push_str(&row);
            }
        }
        text
    }

    pub async fn stop(self) {
        self.app.stop().await;
    }
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub text: String,
}

impl Reply {
    async fn from(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = response.text().await.unwrap_or_default();
        Reply {
            status,
            content_type,
            text,
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text))
    }

    /// The `error` of a refusal.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error field: {}", self.text))
            .to_owned()
    }
}

/// A program the test needs from a Debian package: its path, or `None` (said on stderr)
/// when it is missing outside CI. In CI a missing program fails the test: `.ci/run`
/// installs it.
pub fn program(path: &str, package: &str) -> Option<PathBuf> {
    if Path::new(path).exists() {
        return Some(PathBuf::from(path));
    }
    assert!(
        std::env::var("CI").is_err(),
        "{path} is missing; .ci/run installs the Debian package {package} so this test runs in CI"
    );
    eprintln!("{path} is missing (apt-get install {package}): skipping this test");
    None
}

#[test]
fn the_shipped_alert_defaults_match_the_code_and_secrets_stay_out_of_the_file() {
    use warroom::alerts::AlertsConfig;
    let shipped = Config::load(
        &crate::support::repo_root().join("config/warroom.toml"),
        &Environment::default(),
    )
    .unwrap();
    assert_eq!(
        shipped.alerts.default_route,
        AlertsConfig::default().default_route
    );
    assert_eq!(shipped.alerts.routes[0].max_new_incidents_per_minute, 10);
    assert!(shipped.api_tokens.iter().all(|token| !token.is_ready()));

    let db = TestDb::sqlite();
    let path = db.write_config(
        "[api_tokens.pasted]\ntoken_env = \"X\"\ntoken = \"hunter2hunter2\"\nroles = [\"wizard\"]\n\n[[alerts.routes]]\nname = \"bad\"\nmatchers = ['severity=~\"(\"']\nseverity = \"P1\"\n",
    );
    let error = Config::load(&path, &Environment::from_pairs([("X", "short")])).unwrap_err();
    let text = error.to_string();
    for expected in [
        "api_tokens.pasted.token: never put a token in this file",
        "api_tokens.pasted.roles: `wizard` is not a bot role",
        "api_tokens.pasted.token_env: the token in $X is shorter than 32 characters",
        "alerts.routes.1.matchers.1: `(` is not a regular expression (unclosed group)",
        "alerts.routes.1.severity: `P1` is not a configured severity",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    assert!(!text.contains("hunter2"), "{text}");
}
